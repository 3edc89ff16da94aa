"""The web page in a real browser: headless Chromium driven by Selenium
against the real server (both runtimes), with a test SD root.

One browser serves the whole module; each test starts its own server.
Screenshots of every section at phone and desktop width land in
test-artifacts/www/ for a person to look at.
"""
import base64
import os
import shutil
import tempfile
import time

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from harness import REPO

CHROMIUM = '/usr/bin/chromium'
CHROMEDRIVER = '/usr/bin/chromedriver'
ARTIFACTS = os.path.join(REPO, 'test-artifacts', 'www')
WWW = os.path.join(REPO, 'www')
WWW_BUDGET = 60 * 1024         # html, css and js before compression (the bound)
SAMPLE_VIDEO = os.path.join(REPO, 'demo', 'sample.mp4')
SAMPLE_THUMB = os.path.join(REPO, 'demo', 'sample.jpg')
SAMPLE_SECONDS = 2.0           # demo/sample.mp4 lasts 2 s
WAIT = 20                      # seconds an outcome may take (camera settings are spaced 0.5 s)
PHONE = (390, 844)             # a common phone viewport
DESKTOP = (1280, 900)
SECTIONS = ('status', 'camera', 'events', 'snapshot', 'ptz', 'settings', 'mqtt', 'maintenance')

# IPC.md: the bytes the camera gets.
LED_OFF = bytes.fromhex('02000000080000007700010000000000')
PTZ_LEFT = bytes.fromhex('0100000008000000064006401800000003000000' '00000000')
PTZ_STOP = bytes.fromhex('01000000080000000740010000000000')

HOURS_MANY = 60                # more hour directories than the page draws at once
DIRS_PAGE = 48                 # app.js DIRS_PAGE
VIDEOS_PER_HOUR = 60           # one video a minute
HOURS = ('2021Y03M04D05H', '2021Y03M04D07H', '2021Y03M05D00H')
STEMS = ('00M00S60', '15M00S60', '30M10S45')


@pytest.fixture(scope='module')
def downloads():
    path = tempfile.mkdtemp(prefix='yihttpd-www-downloads-')
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope='module')
def browser(downloads):
    """Headless Chromium from Debian: no sandbox (root), no network, fresh profile."""
    profile = tempfile.mkdtemp(prefix='yihttpd-www-profile-')
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync',
                 '--disable-dev-shm-usage', '--hide-scrollbars',
                 '--user-data-dir=' + profile, '--window-size=%d,%d' % DESKTOP):
        options.add_argument(flag)
    options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    options.add_experimental_option('prefs', {'download.default_directory': downloads,
                                              'download.prompt_for_download': False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd('Browser.setDownloadBehavior', {'behavior': 'allow', 'downloadPath': downloads})
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def add_sample_videos(sd):
    with open(SAMPLE_VIDEO, 'rb') as f:
        video = f.read()
    with open(SAMPLE_THUMB, 'rb') as f:
        thumb = f.read()
    for hour in HOURS:
        for stem in STEMS:
            sd.add_video(hour, stem, video, thumb)
    # Not records: never listed.
    sd.write('record/notes.txt', 'x')
    sd.write('record/2021Y03M05D00H/holiday.mp4', video)


# The firmware's service script, as a stand-in that logs its calls: start and
# stop succeed and start nothing, so every service reads stopped.
SERVICE_SCRIPT = '#!/bin/sh\necho "$@" >> %s\nexit 0\n'
SERVICE_CALLS = 'service-calls.log'


# The firmware's frame grabber, as a stand-in that writes the sample JPEG.
GRABBER = '#!/bin/sh\nexec cat %s\n' % SAMPLE_THUMB
FAILING_GRABBER = '#!/bin/sh\nexit 1\n'


def add_program(sd, rel, text):
    path = sd.write(rel, text)
    os.chmod(path, 0o755)


@pytest.fixture
def page(browser, start_server, sd):
    """The page opened on a fresh server; the browser log starts empty."""
    add_sample_videos(sd)
    add_program(sd, 'yi-hack/script/service.sh', SERVICE_SCRIPT % sd.file(SERVICE_CALLS))
    add_program(sd, 'yi-hack/bin/imggrabber', GRABBER)
    browser.set_window_size(*DESKTOP)
    page = open_page(browser, start_server(), sd, 'status')
    browser.get_log('browser')
    return page


def open_page(browser, server, sd, section, address=None):
    """Load the page at a section and wait until it has settled."""
    browser.get((address or server.url) + '/#' + section)
    wait_settled(browser, section)
    return Page(browser, server, sd)


def wait_settled(driver, section):
    """Until no outcome in the section shows a spinner."""
    def settled(d):
        return d.execute_script(
            "const s = document.getElementById('section-' + arguments[0]);"
            "return !s.hidden && !s.querySelector('[data-state=busy]');", section)
    WebDriverWait(driver, WAIT).until(settled)


class Page:
    def __init__(self, driver, server, sd):
        self.driver = driver
        self.server = server
        self.sd = sd

    def open(self, section):
        self.driver.execute_script('location.hash = arguments[0]', section)
        wait_settled(self.driver, section)

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def texts(self, css, attribute):
        return [e.get_attribute(attribute) for e in self.driver.find_elements(By.CSS_SELECTOR, css)]

    def click(self, css, outcome_id):
        """Click what starts an action, after clearing the outcome a previous one left."""
        self.driver.execute_script(
            "document.getElementById(arguments[0]).removeAttribute('data-state')", outcome_id)
        self.find(css).click()

    def outcome(self, element_id, expected='ok'):
        """Wait for the action's outcome and check it is the expected one."""
        out = self.find('#' + element_id)
        WebDriverWait(self.driver, WAIT).until(lambda d: out.get_attribute('data-state') in ('ok', 'fail'))
        state = out.get_attribute('data-state')
        assert state == expected, '%s: %s\nserver log:\n%s' % (element_id, out.text, self.server.log()[-2000:])
        return out.text

    def confirm(self):
        WebDriverWait(self.driver, WAIT).until(lambda d: d.find_element(By.ID, 'confirm').is_displayed())
        self.find('#confirm-ok').click()

    def console_errors(self):
        return [e for e in self.driver.get_log('browser') if e['level'] == 'SEVERE']

    def failures(self, section):
        return [(e.get_attribute('id'), e.text) for e in self.driver.find_elements(
            By.CSS_SELECTOR, '#section-%s [data-state=fail]' % section)]

    def foreign_requests(self):
        """Resources the page fetched from anywhere but the camera."""
        urls = self.driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)")
        return [u for u in urls if not u.startswith(self.server.url + '/') and not u.startswith('blob:')]

    def ipc_bytes(self):
        try:
            with open(self.server.ipc_record, 'rb') as f:
                return f.read()
        except FileNotFoundError:
            return b''

    def screenshot(self, name):
        """A full-page PNG (beyond the viewport) under test-artifacts/www/."""
        os.makedirs(ARTIFACTS, exist_ok=True)
        shot = self.driver.execute_cdp_cmd('Page.captureScreenshot',
                                           {'format': 'png', 'captureBeyondViewport': True})
        with open(os.path.join(ARTIFACTS, name + '.png'), 'wb') as f:
            f.write(base64.b64decode(shot['data']))


def test_www_fits_the_budget():
    total = sum(os.path.getsize(os.path.join(WWW, name)) for name in os.listdir(WWW)
                if name.rpartition('.')[2] in ('html', 'css', 'js'))
    assert total <= WWW_BUDGET


def test_page_code_never_inserts_html():
    """Camera data goes in as text: the script has no HTML-parsing sink at all."""
    with open(os.path.join(WWW, 'app.js')) as f:
        script = f.read()
    for sink in ('innerHTML', 'outerHTML', 'insertAdjacentHTML', 'document.write', 'eval(', 'Function('):
        assert sink not in script


def newest_first(names):
    return sorted(names, reverse=True)


def open_hour(page, hour):
    page.find('#events-dirs li[data-dir="%s"] button' % hour).click()
    wait_settled(page.driver, 'events')


def play_video(page, hour, stem):
    """Click a video's play button; answers the video element once its metadata loaded."""
    page.click('#events-files li[data-file="%s.mp4"] button.play' % stem, 'events-files-out')
    page.outcome('events-files-out')
    video = page.find('#events-video')
    assert video.get_attribute('currentSrc') == page.server.url + '/record/%s/%s.mp4' % (hour, stem)
    assert int(video.get_attribute('readyState')) >= 1
    assert abs(float(video.get_attribute('duration')) - SAMPLE_SECONDS) < 0.5
    return video


# (name, window size, colour scheme) of each screenshot
VIEWS = (('phone', PHONE, 'light'), ('desktop', DESKTOP, 'light'), ('phone-dark', PHONE, 'dark'))


@pytest.mark.parametrize('section', SECTIONS)
def test_section_loads_without_console_errors_and_is_screenshot(page, section):
    for view, size, scheme in VIEWS:
        page.driver.set_window_size(*size)
        page.driver.execute_cdp_cmd('Emulation.setEmulatedMedia', {
            'features': [{'name': 'prefers-color-scheme', 'value': scheme}]})
        page.open(section)
        if section == 'events':
            page.find('#events-dirs li button').click()
            wait_settled(page.driver, section)
            WebDriverWait(page.driver, WAIT).until(lambda d: all(d.execute_script(
                'return [...document.querySelectorAll("#events-files img")].map(i => i.complete)')))
            page.click('#events-files button.play', 'events-files-out')
            page.outcome('events-files-out')
        assert page.failures(section) == []
        assert page.console_errors() == []
        assert page.foreign_requests() == []
        page.screenshot('%s-%s' % (section, view))
        page.open('status')
    page.driver.execute_cdp_cmd('Emulation.setEmulatedMedia', {'features': []})


def test_status_shows_the_camera_fields(page):
    status = page.server.get_json('/cgi-bin/status.json')[1]
    fields = page.texts('#status-fields dd', 'textContent')
    assert status['hostname'] in fields and status['mac_addr'] in fields
    assert page.find('#camera-name').text == status['hostname']


def test_camera_led_toggle_updates_conf_and_sends_ipc(page):
    page.open('camera')
    led = page.find('#camera-form [name=led]')
    assert led.is_selected()    # LED=yes in the payload's camera.conf
    page.click('#camera-form [name=led]', 'camera-out')
    page.outcome('camera-out')
    assert 'LED=no' in page.sd.read('yi-hack/etc/camera.conf').decode().split('\n')
    assert page.ipc_bytes().endswith(LED_OFF)
    assert not led.is_selected()


def test_events_lists_match_disk_and_a_video_plays_from_record(page):
    page.open('events')
    assert page.texts('#events-dirs li', 'data-dir') == newest_first(HOURS)
    open_hour(page, HOURS[0])
    assert page.texts('#events-files li', 'data-file') == newest_first(s + '.mp4' for s in STEMS)
    assert set(page.texts('#events-files img', 'loading')) == {'lazy'}
    play_video(page, HOURS[0], STEMS[1])


def test_long_lists_page_hours_and_load_thumbnails_lazily(browser, start_server, sd):
    """Two and a half days of hours and a full hour of videos stay light on a phone."""
    hours = ['2021Y04M%02dD%02dH' % (1 + i // 24, i % 24) for i in range(HOURS_MANY)]
    for hour in hours:
        sd.add_video(hour, '00M00S60', b'v', None)
    full = hours[-1]
    with open(SAMPLE_THUMB, 'rb') as f:
        thumb = f.read()
    for minute in range(VIDEOS_PER_HOUR):
        sd.add_video(full, '%02dM00S60' % minute, b'v', thumb)
    browser.set_window_size(*PHONE)
    page = open_page(browser, start_server(), sd, 'events')
    assert len(page.texts('#events-dirs li', 'data-dir')) == DIRS_PAGE
    page.click('#events-more', 'events-out')
    assert page.texts('#events-dirs li', 'data-dir') == newest_first(hours)
    assert not page.find('#events-more').is_displayed()
    open_hour(page, full)
    assert len(page.texts('#events-files li', 'data-file')) == VIDEOS_PER_HOUR
    # The thumbnails in view have loaded: a page that loaded every one would be fetching them all by now.
    WebDriverWait(browser, WAIT).until(lambda d: d.execute_script(
        'return [...document.querySelectorAll("#events-files img")].filter(i => '
        'i.getBoundingClientRect().top < innerHeight).every(i => i.complete && i.naturalWidth)'))
    fetched = browser.execute_script(
        "return performance.getEntriesByType('resource').filter(e => e.name.endsWith('.jpg')).length")
    assert 0 < fetched < VIDEOS_PER_HOUR
    browser.set_window_size(*DESKTOP)


def test_events_delete_file_removes_it_from_disk_and_list(page):
    page.open('events')
    open_hour(page, HOURS[2])
    page.click('#events-files li[data-file="%s.mp4"] button.danger' % STEMS[0], 'events-files-out')
    page.confirm()
    page.outcome('events-files-out')
    assert page.texts('#events-files li', 'data-file') == newest_first(s + '.mp4' for s in STEMS[1:])
    for ext in ('.mp4', '.jpg'):
        assert not os.path.exists(page.sd.file('record/%s/%s%s' % (HOURS[2], STEMS[0], ext)))
    assert os.path.exists(page.sd.file('record/%s/%s.mp4' % (HOURS[2], STEMS[1])))


def test_events_error_answer_is_shown_as_failure(page):
    """A video deleted behind the page's back: the server's 404 is a failure, not success."""
    page.open('events')
    open_hour(page, HOURS[1])
    for ext in ('.mp4', '.jpg'):
        os.remove(page.sd.file('record/%s/%s%s' % (HOURS[1], STEMS[2], ext)))
    page.click('#events-files li[data-file="%s.mp4"] button.danger' % STEMS[2], 'events-files-out')
    page.confirm()
    page.outcome('events-files-out', 'fail')
    assert page.find('#events-files li[data-file="%s.mp4"]' % STEMS[2])


def test_settings_change_is_saved_to_system_conf(page):
    page.sd.set_conf('system.conf', 'TIMEZONE', '<b id=injected>CET</b>')
    page.open('settings')
    timezone = page.find('#settings-form [name=TIMEZONE]')
    assert timezone.get_attribute('value') == '<b id=injected>CET</b>'
    assert page.driver.find_elements(By.ID, 'injected') == []
    ntp = page.find('#settings-form [name=NTP_SERVER]')
    ntp.clear()
    ntp.send_keys('time.example.org')
    page.click('#section-settings button[type=submit]', 'settings-out')
    page.outcome('settings-out')
    lines = page.sd.read('yi-hack/etc/system.conf').decode().split('\n')
    assert 'NTP_SERVER=time.example.org' in lines
    assert 'TIMEZONE=<b id=injected>CET</b>' in lines


def test_settings_invalid_port_is_refused_before_sending(page):
    before = page.sd.snapshot()
    page.open('settings')
    port = page.find('#settings-form [name=HTTPD_PORT]')
    port.clear()
    port.send_keys('70000')
    page.click('#section-settings button[type=submit]', 'settings-out')
    page.outcome('settings-out', 'fail')
    assert page.sd.snapshot() == before


def test_mqtt_form_saves_to_mqttv4_conf_and_shows_bridge_state(page):
    page.open('mqtt')
    assert page.find('#mqtt-state').text in ('started', 'stopped')
    broker = page.find('#mqtt-form [name=MQTT_IP]')
    broker.clear()
    broker.send_keys('192.168.1.20')
    page.click('#section-mqtt button[type=submit]', 'mqtt-out')
    page.outcome('mqtt-out')
    assert 'MQTT_IP=192.168.1.20' in page.sd.read('yi-hack/etc/mqttv4.conf').decode().split('\n')


def test_maintenance_save_downloads_an_archive_that_loads_back(page, downloads):
    for name in os.listdir(downloads):
        os.remove(os.path.join(downloads, name))
    page.open('maintenance')
    page.click('#archive-save', 'archive-save-out')
    saved_as = page.outcome('archive-save-out')
    name = saved_as.rpartition(' ')[2]
    path = os.path.join(downloads, name)
    WebDriverWait(page.driver, WAIT).until(lambda d: os.path.exists(path) and os.path.getsize(path) > 0)
    page.sd.set_conf('system.conf', 'NTP_SERVER', 'changed.example.org')
    page.find('#archive-file').send_keys(path)
    page.click('#archive-load', 'archive-load-out')
    page.confirm()
    page.outcome('archive-load-out')
    assert 'NTP_SERVER=pool.ntp.org' in page.sd.read('yi-hack/etc/system.conf').decode().split('\n')


def test_snapshot_shows_the_frame_and_says_when_it_is_a_stand_in(page):
    page.open('snapshot')
    image = page.find('#snapshot-image')
    assert image.get_attribute('src').startswith('blob:')
    assert int(image.get_attribute('naturalWidth')) > 0
    assert page.find('#snapshot-download').get_attribute('download').endswith('.jpg')
    add_program(page.sd, 'yi-hack/bin/imggrabber', FAILING_GRABBER)
    page.click('#snapshot-refresh', 'snapshot-out')
    assert 'no picture' in page.outcome('snapshot-out', 'fail')


def test_maintenance_service_start_sends_the_chosen_options(page):
    page.open('maintenance')
    row = '#services-rows tr[data-service=onvif] '
    assert page.find(row + 'td').text == 'stopped'
    Select(page.find(row + 'select')).select_by_value('low')
    page.driver.find_elements(By.CSS_SELECTOR, row + 'select')[1].send_keys('yes')
    page.click(row + 'button', 'service-onvif-out')
    page.outcome('service-onvif-out')
    assert page.sd.read(SERVICE_CALLS).decode() == 'onvif start low yes\n'


def test_ptz_click_sends_move_then_stop(page):
    page.open('ptz')
    time_input = page.find('#ptz-time')
    time_input.clear()
    time_input.send_keys('0.2')
    page.click('.pad button[data-dir=left]', 'ptz-out')
    page.outcome('ptz-out')
    assert page.ipc_bytes() == PTZ_LEFT + PTZ_STOP


def test_ptz_hold_repeats_moves_until_released(page):
    page.open('ptz')
    time_input = page.find('#ptz-time')
    time_input.clear()
    time_input.send_keys('0.2')
    arrow = page.find('.pad button[data-dir=left]')
    ActionChains(page.driver).click_and_hold(arrow).perform()
    WebDriverWait(page.driver, WAIT).until(lambda d: page.ipc_bytes().count(PTZ_STOP) >= 2)
    ActionChains(page.driver).release(arrow).perform()
    wait_settled(page.driver, 'ptz')
    sent = page.ipc_bytes()
    moves = sent.count(PTZ_LEFT)
    assert moves >= 2 and sent == (PTZ_LEFT + PTZ_STOP) * moves
    time.sleep(0.5)
    assert page.ipc_bytes() == sent    # released: no more moves


def test_page_works_behind_basic_auth(browser, start_server, sd):
    sd.set_conf('system.conf', 'USERNAME', 'admin')
    sd.set_conf('system.conf', 'PASSWORD', 'secret')
    add_sample_videos(sd)
    server = start_server()
    page = open_page(browser, server, sd, 'events', 'http://admin:secret@%s:%d' % (server.host, server.port))
    assert page.texts('#events-dirs li', 'data-dir') == newest_first(HOURS)
    open_hour(page, HOURS[0])
    WebDriverWait(browser, WAIT).until(lambda d: d.execute_script(
        'return [...document.querySelectorAll("#events-files img")].every(i => i.complete && i.naturalWidth)'))
    play_video(page, HOURS[0], STEMS[0])
    page.open('settings')
    assert page.failures('settings') == []


def test_reboot_asks_first_and_runs_only_when_confirmed(browser, start_server, sd, tmp_path):
    marker = tmp_path / 'rebooted'
    server = start_server('--reboot-cmd', 'touch %s' % marker)
    page = open_page(browser, server, sd, 'maintenance')
    page.find('#reboot').click()
    WebDriverWait(browser, WAIT).until(lambda d: d.find_element(By.ID, 'confirm').is_displayed())
    page.find('#confirm button[value=cancel]').click()
    time.sleep(0.5)
    assert not marker.exists() and page.find('#reboot-out').text == ''
    page.click('#reboot', 'reboot-out')
    page.confirm()
    assert 'rebooting' in page.outcome('reboot-out')
    WebDriverWait(browser, WAIT).until(lambda d: marker.exists())


def test_upgrade_shows_the_firmwares_sentence_when_it_cannot_go_ahead(browser, start_server, sd, tmp_path):
    server = start_server('--release-url', 'http://127.0.0.1:9/', '--tmp-dir', str(tmp_path))
    page = open_page(browser, server, sd, 'maintenance')
    page.click('#firmware-upgrade', 'firmware-out')
    page.confirm()
    assert page.outcome('firmware-out', 'fail') == 'Failed: Unable to download firmware file.'


def test_unreachable_camera_shows_failure_not_a_spinner(page):
    page.open('events')
    page.server.stop()
    started = time.time()
    page.click('#events-refresh', 'events-out')
    assert 'cannot be reached' in page.outcome('events-out', 'fail')
    assert time.time() - started < WAIT
    page.console_errors()   # the refused request is logged by the browser; expected here


def test_maintenance_says_whether_a_firmware_archive_waits_on_the_card(browser, start_server, sd, tmp_path):
    """fw_upgrade.sh?get=info's local_fw is a JSON boolean, as the firmware prints it."""
    def archive_shown(page):
        return page.driver.execute_script(
            'return [...document.querySelectorAll("#firmware-fields dd")].map(e => e.textContent)')[2]
    server = start_server('--release-url', 'http://127.0.0.1:9/', '--tmp-dir', str(tmp_path))
    sd.write('y211ga_x.x.x.tgz', b'a firmware archive')
    page = open_page(browser, server, sd, 'maintenance')
    assert archive_shown(page) == 'yes'
    os.remove(sd.file('y211ga_x.x.x.tgz'))
    page.open('settings')
    page.open('maintenance')
    assert archive_shown(page) == 'no'

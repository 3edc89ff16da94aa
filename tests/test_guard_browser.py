"""The guard against a real browser: headless Chromium opens a page served
on another origin that embeds the camera's change services as images, over
plain HTTP to a name that is not loopback (so, like a LAN address, the
browser sends no Fetch metadata and no Origin)."""
import os
import shutil
import tempfile

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from harness import SdRoot, wait_until

CHROMIUM = '/usr/bin/chromium'
CHROMEDRIVER = '/usr/bin/chromedriver'
CAMERA_NAME = 'cam.test'        # resolved to 127.0.0.1 by the browser; not a trustworthy origin
ATTACKER_NAME = 'evil.test'
WAIT = 15
HOUR = '2020Y01M01D01H'
STEMS = ('00M00S60', '01M00S60', '02M00S60')

ATTACK_PAGE = '''<!doctype html><title>cat pictures</title>
<img src="http://%(camera)s/cgi-bin/eventsfiledel.sh?file=%(hour)s/00M00S60.mp4">
<img referrerpolicy="no-referrer" src="http://%(camera)s/cgi-bin/eventsfiledel.sh?file=%(hour)s/01M00S60.mp4">
'''


@pytest.fixture(scope='module')
def browser():
    profile = tempfile.mkdtemp(prefix='yihttpd-guard-profile-')
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ('--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync',
                 '--disable-dev-shm-usage', '--user-data-dir=' + profile,
                 '--host-resolver-rules=MAP %s 127.0.0.1, MAP %s 127.0.0.1' % (CAMERA_NAME, ATTACKER_NAME)):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def wait_for_log(server, text, count):
    assert wait_until(lambda: server.log().count(text) >= count, WAIT), (
        '%d x %r not in the log:\n%s' % (count, text, server.log()))


def test_another_sites_images_cannot_delete_a_recording_but_the_cameras_page_can(
        browser, start_server, sd, tmp_path):
    for stem in STEMS:
        sd.add_video(HOUR, stem)
    camera = start_server('--allow-host', CAMERA_NAME)
    camera_at = '%s:%d' % (CAMERA_NAME, camera.port)
    attacker_sd = SdRoot(tmp_path / 'attacker')
    attacker_sd.write('yi-hack/www/index.html', ATTACK_PAGE % {'camera': camera_at, 'hour': HOUR})
    attacker = start_server(root=attacker_sd.path)
    before = sd.snapshot()

    browser.get('http://%s:%d/index.html' % (ATTACKER_NAME, attacker.port))
    wait_for_log(camera, 'GET /cgi-bin/eventsfiledel.sh 403', 2)
    assert sd.snapshot() == before

    # The camera's own page, in the same browser, may delete (so the images could have).
    browser.get('http://%s/index.html' % camera_at)
    status = browser.execute_async_script(
        'const done = arguments[arguments.length - 1];'
        'fetch("/cgi-bin/eventsfiledel.sh?file=%s/02M00S60.mp4").then(r => done(r.status));' % HOUR)
    assert status == 200
    assert not os.path.exists(sd.file('record/%s/02M00S60.mp4' % HOUR))
    assert os.path.exists(sd.file('record/%s/00M00S60.mp4' % HOUR))


SCRIPT_PAGE = '''<!doctype html><title>who are you</title>
<script src="http://%(camera)s/cgi-bin/hostname.js"></script>
<script>window.read = typeof hostname === 'string' ? hostname : null;</script>
'''
OWN_SCRIPT_PAGE = '''<!doctype html><title>the firmware page's way</title>
<script src="cgi-bin/hostname.js"></script>
'''


def test_another_sites_script_cannot_read_the_hostname_but_the_cameras_page_can(
        browser, start_server, sd, tmp_path):
    sd.write('yi-hack/etc/hostname', 'yi-cam\n')
    sd.write('yi-hack/www/index.html', OWN_SCRIPT_PAGE)
    camera = start_server('--allow-host', CAMERA_NAME)
    camera_at = '%s:%d' % (CAMERA_NAME, camera.port)
    attacker_sd = SdRoot(tmp_path / 'attacker')
    attacker_sd.write('yi-hack/www/index.html', SCRIPT_PAGE % {'camera': camera_at})
    attacker = start_server(root=attacker_sd.path)

    browser.get('http://%s:%d/index.html' % (ATTACKER_NAME, attacker.port))
    wait_for_log(camera, 'GET /cgi-bin/hostname.js 403', 1)
    assert browser.execute_script('return window.read') is None

    browser.get('http://%s/index.html' % camera_at)
    assert browser.execute_script('return hostname') == 'yi-cam'


def test_the_page_under_an_owners_name_works_once_its_settings_add_the_name(browser, start_server, sd):
    """A DNS name of the owner's (Home Assistant, a bookmark): Settings, Access adds it, at once."""
    from test_www_browser import open_page
    camera = start_server()
    by_name = 'http://%s:%d' % (CAMERA_NAME, camera.port)
    page = open_page(browser, camera, sd, 'settings', by_name)
    out = page.find('#settings-out')
    assert out.get_attribute('data-state') == 'fail' and 'HTTPD_ALLOW_HOST' in out.text
    page = open_page(browser, camera, sd, 'settings')   # by its address
    page.find('#settings-form [name=HTTPD_ALLOW_HOST]').send_keys(CAMERA_NAME)
    page.click('#section-settings button[type=submit]', 'settings-out')
    page.outcome('settings-out')
    assert 'HTTPD_ALLOW_HOST=%s' % CAMERA_NAME in sd.read('yi-hack/etc/system.conf').decode().split('\n')
    page = open_page(browser, camera, sd, 'settings', by_name)
    assert page.find('#settings-out').get_attribute('data-state') == 'ok'
    assert page.find('#settings-form [name=HTTPD_ALLOW_HOST]').get_attribute('value') == CAMERA_NAME

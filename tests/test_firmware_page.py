"""Today's firmware's own page, installed gzipped as the firmware installs it,
served by yihttpd to headless Chromium (both runtimes).

The page is yi-hack-Allwinner-v2's `src/www/httpd/htdocs` from the
firmware's web layer in ../shared/firmware. Its `compile.www` joins the CSS
and the JS, then gzips every file to `X.gz`; its busybox httpd serves
`X.gz` for `X`. Each of its pages must load with no failed request and no
error in the console, and a camera setting switched on its Camera
settings page must reach the camera's IPC bytes.
"""
import glob
import gzip
import os
import shutil
import tarfile
import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from harness import REPO, wait_until
from test_network import IWLIST_OUTPUT
from test_www_browser import browser, downloads  # noqa: F401 - the module's shared Chromium

FIRMWARE_WEB = os.path.join(os.path.dirname(REPO), 'shared', 'firmware',
                            'yi-hack-Allwinner-v2-web.tar.xz')
HTDOCS = 'src/www/httpd/htdocs'
FIRMWARE_ETC = 'src/static/static/yi-hack/etc'
WAIT = 20                    # seconds a page may take to settle (its calls answered)
SETTLE = 0.5                 # seconds with no call under way that count as settled
HOUR = '2021Y03M04D05H'
# A camera setting the page switches, and the IPC bytes it must send (docs/IPC.md).
LED_OFF = bytes.fromhex('02000000080000007700010000000000')


@pytest.fixture(scope='session')
def firmware_web(tmp_path_factory):
    """The firmware's web layer, unpacked once from its tarball."""
    into = str(tmp_path_factory.mktemp('firmware-web'))
    with tarfile.open(FIRMWARE_WEB) as tar:
        tar.extractall(into)
    return into


@pytest.fixture(scope='session')
def firmware_htdocs(firmware_web):
    return os.path.join(firmware_web, HTDOCS)


def install_like_the_firmware(htdocs, www):
    """compile.www without its minifiers: CSS and JS joined, every file gzipped to X.gz."""
    shutil.copytree(os.path.join(htdocs, 'img'), os.path.join(www, 'img'))
    shutil.copytree(os.path.join(htdocs, 'pages'), os.path.join(www, 'pages'))
    os.makedirs(os.path.join(www, 'css'))
    os.makedirs(os.path.join(www, 'js'))
    shutil.copy(os.path.join(htdocs, 'index.html'), www)
    shutil.copy(os.path.join(htdocs, 'js', 'jquery.min.js'), os.path.join(www, 'js'))
    join(os.path.join(www, 'css', 'all.css'),
         [os.path.join(htdocs, 'css', name) for name in ('normalize.min.css', 'skeleton.min.css',
                                                          'custom.css')])
    join(os.path.join(www, 'js', 'all.js'),
         [os.path.join(htdocs, 'js', 'utils.js'), os.path.join(htdocs, 'js', 'app.js')]
         + sorted(glob.glob(os.path.join(htdocs, 'js', 'modules', '*.js'))))
    for folder, _dirs, names in os.walk(www):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, 'rb') as f, gzip.open(path + '.gz', 'wb', 9) as out:
                out.write(f.read())
            os.remove(path)


def join(out_path, paths):
    with open(out_path, 'wb') as out:
        for path in paths:
            with open(path, 'rb') as f:
                out.write(f.read())


def page_names(htdocs):
    return sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(htdocs, 'pages', '*.html')))


@pytest.fixture
def firmware_card(sd, firmware_web, firmware_htdocs):
    install_like_the_firmware(firmware_htdocs, sd.file('yi-hack/www'))
    shutil.copy(os.path.join(firmware_web, FIRMWARE_ETC, 'fallback.jpg'), sd.etc)   # as the firmware has it
    # The camera's Wi-Fi scanner, where the firmware finds it (its page scans on the Wi-Fi page).
    os.chmod(sd.write('yi-hack/bin/iwlist', '#!/bin/sh\ncat <<"EOF"\n%sEOF\n' % IWLIST_OUTPUT), 0o755)
    sd.add_video(HOUR, '00M00S60')
    return sd


def settle(browser):
    """Wait until jQuery has no call under way for SETTLE seconds."""
    quiet_since = []

    def quiet_for_long():
        if browser.execute_script('return window.jQuery ? jQuery.active : 1'):
            del quiet_since[:]
        elif not quiet_since:
            quiet_since.append(time.time())
        return quiet_since and time.time() - quiet_since[0] >= SETTLE
    assert wait_until(quiet_for_long, WAIT), 'the page never settled'


def problems(browser):
    """Console lines that show a failed request or an error the page logged.

    Chromium asks for /favicon.ico on its own; the firmware ships none and
    its busybox answers 404 too, so that one is not the page's failure.
    """
    found = []
    for entry in browser.get_log('browser'):
        message = entry['message']
        if 'favicon.ico' in message:
            continue
        if entry['level'] == 'SEVERE' or "'error'" in message or '"error"' in message:
            found.append(message)
    return found


def open_page(browser, server, query):
    browser.get_log('browser')   # drop what earlier pages logged
    browser.get(server.url + '/' + query)
    WebDriverWait(browser, WAIT).until(
        lambda b: b.execute_script('return document.readyState') == 'complete')
    settle(browser)
    return problems(browser)


def test_every_page_of_the_firmware_loads_without_a_failed_request(firmware_card, firmware_htdocs,
                                                                  start_server, browser):
    server = start_server()
    failures = {}
    for name in page_names(firmware_htdocs):
        query = '?page=' + name + ('&dirname=' + HOUR if name == 'eventsfile' else '')
        found = open_page(browser, server, query)
        if found:
            failures[name] = found
        assert browser.find_element(By.ID, 'container').text.strip(), name
    assert not failures, failures


def test_a_setting_switched_on_the_firmware_page_reaches_the_camera(firmware_card, start_server,
                                                                    browser):
    server = start_server()
    assert open_page(browser, server, '?page=camera_settings') == []
    # The page's switches are styled checkboxes: set one as a click would, then Save.
    browser.execute_script("$('input[type=\"checkbox\"][data-key=\"LED\"]').prop('checked', false);"
                           "$('#button-save').click();")
    assert wait_until(lambda: LED_OFF in ipc_bytes(server), WAIT)
    settle(browser)
    assert browser.find_element(By.ID, 'save-status').text == 'Saved'
    assert problems(browser) == []
    assert 'LED=no' in firmware_card.read('yi-hack/etc/camera.conf').decode()


def ipc_bytes(server):
    try:
        with open(server.ipc_record, 'rb') as f:
            return f.read()
    except FileNotFoundError:
        return b''

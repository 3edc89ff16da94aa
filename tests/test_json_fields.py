"""Every JSON answer prints each field as today's firmware's cgi-bin does: a
string where its printf quotes the value, bare JSON (a boolean, an object)
where it does not. Its page tests them so (`if (data.local_fw)`)."""
import os
import re
import tarfile

import pytest

from harness import REPO
from test_network import Network

FIRMWARE_WEB = os.path.join(os.path.dirname(REPO), 'shared', 'firmware', 'yi-hack-Allwinner-v2-web.tar.xz')
CGI_BIN = './src/www/httpd/cgi-bin/'
# printf "\"%s\":%s\n" "KEY" ...: a field whose value the firmware prints bare
BARE_FIELD = re.compile(r'printf "\\"%s\\":%s[^"]*"\s+"(\w+)"')
HOUR = '2026Y12M04D17H'
# The firmware's JSON services as its page and Home Assistant ask them, on the test card.
ASKED = ['/cgi-bin/status.json', '/cgi-bin/eventsdir.sh', '/cgi-bin/eventsfile.sh?dirname=' + HOUR,
         '/cgi-bin/links.sh', '/cgi-bin/service.sh?name=rtsp&action=status',
         '/cgi-bin/fw_upgrade.sh?get=info', '/cgi-bin/timelapse.sh?action=list',
         '/cgi-bin/wifi.sh?action=scan', '/cgi-bin/proxy.sh?proxy=0', '/cgi-bin/eventsfile.sh?dirname=x'
         ] + ['/cgi-bin/get_configs.sh?conf=' + conf for conf in
              ('system', 'camera', 'mqtt', 'mqtt_advertise', 'proxychains', 'ptz_presets')]


@pytest.fixture(scope='module')
def bare_fields():
    """The fields some firmware cgi-bin script prints bare, read from the scripts."""
    found = set()
    with tarfile.open(FIRMWARE_WEB) as t:
        for member in t.getmembers():
            if member.name.startswith(CGI_BIN) and member.isfile():
                found.update(BARE_FIELD.findall(t.extractfile(member).read().decode()))
    assert found == {'local_fw', 'result'}   # fw_upgrade.sh's boolean, proxy.sh's ipinfo object
    return found


def leaves(value, key=None):
    """(field name, value) of every value that is not an object or a list."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from leaves(v, key)
    else:
        yield key, value


def test_fields_are_strings_where_the_firmware_quotes_them_and_bare_where_it_does_not(
        sd, tmp_path, start_server, bare_fields):
    sd.add_video(HOUR, '18M00S60')
    sd.write('record/timelapse/2026-12-04_17-18-00.avi', b'RIFF')
    net = Network(sd, tmp_path, start_server)
    for path in ASKED:
        status, body = net.server.get_json(path)
        assert status in (200, 400), (path, status)
        if 'result' in body:
            assert isinstance(body['result'], dict), path
        for key, value in leaves(body):
            if key == 'local_fw':
                assert isinstance(value, bool), (path, key, value)
            elif key not in bare_fields:
                assert isinstance(value, str), (path, key, value)
    assert net.server.get_json('/cgi-bin/fw_upgrade.sh?get=info')[1]['local_fw'] is False

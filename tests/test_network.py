"""wifi.sh and proxy.sh: the firmware's programs (stand-ins where the
firmware finds them, same arguments and output) and its answers."""
import json
import os

import pytest

from conftest import shared

pytestmark = pytest.mark.arch   # also on 32-bit ARM and MIPS (musl) under qemu

IWLIST_OUTPUT = r'''wlan0     Scan completed :
          Cell 01 - Address: 00:11:22:33:44:55
                    ESSID:"Home"
                    Quality=70/70  Signal level=-30 dBm
          Cell 02 - Address: 00:11:22:33:44:56
                    ESSID:""
          Cell 03 - Address: 00:11:22:33:44:57
                    ESSID:"Guest Net"
'''
IPINFO = '{"ip": "203.0.113.7", "city": "Rome", "org": "AS0 Example"}'


class Network:
    def __init__(self, sd, tmp_path, start_server):
        self.sd = sd
        self.log_path = str(tmp_path / 'programs.log')
        self.tmp_dir = str(tmp_path / 'tmp')
        os.mkdir(self.tmp_dir)
        self.stand_in('yi-hack/bin/iwlist', 'cat <<"EOF"\n%sEOF' % IWLIST_OUTPUT)
        self.stand_in('yi-hack/bin/proxychains4', 'exec "$@"')
        self.stand_in('yi-hack/script/configure_wifi.sh', 'cat %s/configure_wifi.cfg >> "$LOG"' % self.tmp_dir)
        wget = self.stand_in('../wget', "echo '%s'" % IPINFO)
        self.server = start_server('--tmp-dir', self.tmp_dir, '--wget', wget)

    def stand_in(self, rel, body):
        path = self.sd.write(rel, '#!/bin/sh\nLOG=%s\necho "$(basename "$0") $*" >> "$LOG"\n%s\n'
                             % (self.log_path, body))
        os.chmod(path, 0o755)
        return path

    def log(self):
        return open(self.log_path).read() if os.path.exists(self.log_path) else ''

    def post(self, path, body):
        status, _, data = self.server.request('POST', path, body)
        return status, json.loads(data)


@pytest.fixture
def net(request, runtime):
    return shared(request, Network)


def test_scan_lists_the_named_networks_then_the_empty_name(net):
    assert net.server.get_json('/cgi-bin/wifi.sh?action=scan') == (200, {'wifi': ['Home', 'Guest Net', '']})
    assert net.log() == 'iwlist wlan0 scan\n'


def test_save_hands_the_network_to_configure_wifi_and_removes_the_file(net):
    body = json.dumps({'WIFI_ESSID': 'Guest Net', 'WIFI_PASSWORD': 'pa$$ "word"', 'WIFI_PASSWORD2': 'pa$$ "word"'})
    assert net.post('/cgi-bin/wifi.sh?action=save', body) == (200, {'error': 'false'})
    assert net.log() == 'configure_wifi.sh \nwifi_ssid=Guest Net\nwifi_psk=pa$$ "word"\n'
    assert os.listdir(net.tmp_dir) == []


def test_passwords_that_differ_answer_error_true_as_the_firmware(net):
    body = json.dumps({'WIFI_ESSID': 'Home', 'WIFI_PASSWORD': 'password1', 'WIFI_PASSWORD2': 'password2'})
    assert net.post('/cgi-bin/wifi.sh?action=save', body) == (200, {'error': 'true'})
    assert net.log() == '' and os.listdir(net.tmp_dir) == []


@pytest.mark.table
@pytest.mark.parametrize('values', [
    {'WIFI_ESSID': 'Home\nwifi_psk=evil', 'WIFI_PASSWORD': 'password1'},
    {'WIFI_ESSID': '', 'WIFI_PASSWORD': 'password1'},
    {'WIFI_ESSID': 'x' * 33, 'WIFI_PASSWORD': 'password1'},
    {'WIFI_ESSID': 'Home', 'WIFI_PASSWORD': 'short'},
    {'WIFI_ESSID': 'Home', 'WIFI_PASSWORD': 'pass\nword1'},
    {'WIFI_ESSID': 'Home', 'WIFI_PASSWORD': 'p' * 64},
    {'WIFI_ESSID': 'Home', 'WIFI_PASSWORD': 12345678},
    {'WIFI_PASSWORD': 'password1'},
    'not an object', None,
])
def test_save_refuses_what_configure_wifi_must_not_get(net, sd, values):
    if isinstance(values, dict):
        values['WIFI_PASSWORD2'] = values.get('WIFI_PASSWORD')
    body = '{not json' if values is None else json.dumps(values)
    before = sd.snapshot()
    status, answer = net.post('/cgi-bin/wifi.sh?action=save', body)
    assert status == 400 and answer['error'] == 'true'
    assert net.log() == '' and os.listdir(net.tmp_dir) == [] and sd.snapshot() == before


def test_a_planted_link_at_the_cfg_name_is_replaced_not_written_through(net, tmp_path):
    target = tmp_path / 'victim'
    target.write_text('keep')
    os.symlink(str(target), os.path.join(net.tmp_dir, 'configure_wifi.cfg'))
    body = json.dumps({'WIFI_ESSID': 'Home', 'WIFI_PASSWORD': 'password1', 'WIFI_PASSWORD2': 'password1'})
    assert net.post('/cgi-bin/wifi.sh?action=save', body)[0] == 200
    assert target.read_text() == 'keep'


@pytest.mark.parametrize('query,log', [
    ('proxy=0', 'wget -O- -q http://ipinfo.io\n'),
    ('proxy=1', 'proxychains4 %s -O- -q http://ipinfo.io\nwget -O- -q http://ipinfo.io\n'),
])
def test_proxy_answers_what_ipinfo_says_with_or_without_the_proxy(net, sd, query, log):
    status, body = net.server.get_json('/cgi-bin/proxy.sh?' + query)
    assert (status, body) == (200, {'error': 'false', 'result': json.loads(IPINFO)})
    wget = sd.file('../wget')
    assert net.log() == (log % wget if '%s' in log else log)


@pytest.mark.table
@pytest.mark.parametrize('query', ['', 'proxy=2', 'proxy=1;reboot', 'proxy=yes'])
def test_proxy_and_wifi_refuse_other_values(net, query):
    assert net.server.get_json('/cgi-bin/proxy.sh?' + query)[0] == 400
    assert net.server.get_json('/cgi-bin/wifi.sh?' + query.replace('proxy', 'action'))[0] == 400
    assert net.log() == ''

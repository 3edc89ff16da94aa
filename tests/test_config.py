"""Configuration services: get_configs, set_configs, save.sh and load.sh (API.md)."""
import gzip
import http.client
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tarfile
import threading
import time

import pytest

from conftest import shared
from harness import REPO, wait_until

from yihttpd import ipc

pytestmark = pytest.mark.arch   # also on 32-bit ARM and MIPS (musl) under qemu

JSON_LIMIT = 16384
CONF_LIMIT = 65536    # a conf file read larger than this is refused
LOADED = 'Upload completed successfully, restart your camera\r\n'   # the firmware's load.sh answer
MEMBER_LIMIT = 65536
KILL_ROUNDS = 12           # server processes SIGKILLed while writing, per runtime
KILL_AFTER = (0.0, 0.3)    # seconds after the first write is answered before each kill
FIRMWARE_WEB = os.path.join(os.path.dirname(REPO), 'shared', 'firmware', 'yi-hack-Allwinner-v2-web.tar.xz')
FIRMWARE_LOAD_LIMIT = 10000   # the firmware's load.sh does nothing with a larger upload (CONTENT_LENGTH)
BROWSER_BOUNDARY = '----WebKitFormBoundary7MA4YWxkTrZu0gW'   # as long as Chromium's


def post_json(server, conf, obj, headers=None):
    body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return server.request('POST', '/cgi-bin/set_configs.sh?conf=' + conf, body,
                          dict({'Content-Type': 'application/json'}, **(headers or {})))


def multipart(parts, boundary='----yihttpd-test-boundary'):
    """A multipart/form-data body: parts are (field, filename or None, bytes)."""
    out = []
    for field, filename, data in parts:
        disposition = 'form-data; name="%s"' % field
        if filename is not None:
            disposition += '; filename="%s"' % filename
        out.append(('--%s\r\nContent-Disposition: %s\r\n' % (boundary, disposition)).encode())
        if filename is not None:
            out.append(b'Content-Type: application/octet-stream\r\n')
        out.append(b'\r\n' + data + b'\r\n')
    out.append(('--%s--\r\n' % boundary).encode())
    return b''.join(out), 'multipart/form-data; boundary=' + boundary


def upload(server, archive_bytes, field='file', filename='config.tar.gz', before=()):
    body, ctype = multipart(list(before) + [(field, filename, archive_bytes)])
    status, headers, answer = server.request('POST', '/cgi-bin/load.sh', body,
                                             {'Content-Type': ctype})
    if status == 200:   # the firmware's text; refusals are JSON saying why
        assert headers['content-type'] == 'text/html'
        return status, answer.decode()
    return status, json.loads(answer)


def make_tar(members, compression='gz'):
    """A tar built by Python's tarfile: members are (TarInfo fields dict, bytes or None)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode='w', format=tarfile.GNU_FORMAT) as tar:
        for fields, data in members:
            info = tarfile.TarInfo(fields.pop('name'))
            for key, value in fields.items():
                setattr(info, key, value)
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    data = raw.getvalue()
    if compression == 'gz':
        return gzip.compress(data)
    if compression == 'bz2':
        import bz2
        return bz2.compress(data)
    return data


def good_members(sd, **replace):
    """(fields, data) for every file a settings archive holds, from the SD root's etc/."""
    members = []
    for name in ('camera.conf', 'hostname', 'mqttv4.conf', 'system.conf'):
        data = replace.get(name.replace('.', '_'), sd.read('yi-hack/etc/' + name))
        members.append(({'name': name}, data))
    return members


# --- get_configs ---

def test_get_configs_answers_each_conf_file_as_flat_strings(server, sd):
    sd.set_conf('mqttv4.conf', 'MQTT_IP', '10.0.0.2')
    status, body = server.get_json('/cgi-bin/get_configs.sh?conf=mqtt')
    assert status == 200
    assert body['MQTT_IP'] == '10.0.0.2'
    status, body = server.get_json('/cgi-bin/get_configs.sh?conf=camera')
    assert isinstance(body.pop('HOMEVER'), str)
    assert body == {'SWITCH_ON': 'yes', 'SAVE_VIDEO_ON_MOTION': 'yes', 'SENSITIVITY': 'low',
                    'LED': 'yes', 'IR': 'yes', 'ROTATE': 'no'}
    status, body = server.get_json('/cgi-bin/get_configs.sh?conf=system')
    assert body['HTTPD_PORT'] == '8080'
    assert body['HOSTNAME'] == 'yi-hack'
    assert all(isinstance(v, str) for v in body.values())


@pytest.mark.parametrize('content, expected', [
    (b'12.0.51.08_202208101411\n', '12.0.51.08_202208101411'),
    (None, ''),
])
def test_camera_configs_carry_homever_as_the_firmware_does(start_server, tmp_path, content, expected):
    """The firmware adds HOMEVER (cat /home/homever; '' when missing): its page fails without it."""
    homever = tmp_path / 'homever'
    if content is not None:
        homever.write_bytes(content)
    server = start_server('--homever', str(homever))
    status, body = server.get_json('/cgi-bin/get_configs.sh?conf=camera')
    assert status == 200 and body['HOMEVER'] == expected
    status, body = server.get_json('/cgi-bin/status.json')
    assert status == 200 and body['home_version'] == (expected or 'N/A')
    assert 'HOMEVER' not in server.get_json('/cgi-bin/get_configs.sh?conf=system')[1]


@pytest.mark.table
@pytest.mark.parametrize('conf', ['', '../x', 'system.conf', 'SYSTEM', 'mqttv4', '..%2Fsystem'])
def test_get_configs_refuses_any_other_conf_name(server, conf):
    status, body = server.get_json('/cgi-bin/get_configs.sh?conf=' + conf)
    assert status == 400
    assert body['error'] == 'true'


# Every ?conf= the firmware's page asks for, its file, and a key it sets with a new value.
PAGE_CONFS = [
    ('system', 'system.conf', 'NTP_SERVER', 'pool.example'),
    ('camera', 'camera.conf', 'LED', 'no'),
    ('mqtt', 'mqttv4.conf', 'TOPIC_MOTION_IMAGE', 'image'),
    ('mqtt_advertise', 'mqtt_advertise.conf', 'HOMEASSISTANT_NAME', 'Garage cam'),
]
PAYLOAD_DEFAULTS = ['camera.conf', 'hostname', 'mqtt_advertise.conf', 'mqttv4.conf',
                    'proxychains.conf', 'ptz_presets.conf', 'system.conf']


@pytest.mark.parametrize('conf, filename, key, value', PAGE_CONFS, ids=[c[0] for c in PAGE_CONFS])
def test_each_conf_of_the_firmware_page_round_trips(server, sd, conf, filename, key, value):
    before = sd.read('yi-hack/etc/' + filename).decode()
    status, body = server.get_json('/cgi-bin/get_configs.sh?conf=' + conf)
    assert status == 200 and body[key] != value
    status, _h, answer = post_json(server, conf, {key: value})
    assert status == 200 and json.loads(answer) == {'error': 'false'}
    after = sd.read('yi-hack/etc/' + filename).decode()
    old_line = [line for line in before.split('\n') if line.startswith(key + '=')][0]
    assert after == before.replace(old_line + '\n', key + '=' + value + '\n')
    assert server.get_json('/cgi-bin/get_configs.sh?conf=' + conf)[1][key] == value


def test_ptz_presets_are_read_as_the_page_lists_them_and_not_set_here(server, sd):
    sd.set_conf('ptz_presets.conf', '1', 'door,120,45')
    status, body = server.get_json('/cgi-bin/get_configs.sh?conf=ptz_presets')
    assert status == 200
    assert body == {'0': '', '1': 'door,120,45', '2': '', '3': '', '4': '', '5': '', '6': '', '7': ''}
    before = sd.snapshot()
    status, _h, answer = post_json(server, 'ptz_presets', {'1': 'window,1,2'})
    assert status == 400 and 'preset.sh' in json.loads(answer)['message']
    assert sd.snapshot() == before


PROXY_HEAD = 'dynamic_chain\n\nchain_len = 1\n\ntcp_read_time_out 15000\ntcp_connect_time_out 8000\n\n[ProxyList]\n'


def test_proxychains_servers_round_trip_as_the_page_sends_them(server, sd):
    assert sd.read('yi-hack/etc/proxychains.conf').decode() == PROXY_HEAD
    assert server.get_json('/cgi-bin/get_configs.sh?conf=proxychains') == (
        200, {'PROXYCHAINS_SERVERS': ''})
    servers = 'socks4 1.2.3.4 4080; socks5 proxy.example 1080 user p@ss'
    status, _h, answer = post_json(server, 'proxychains', {'PROXYCHAINS_SERVERS': servers})
    assert status == 200 and json.loads(answer) == {'error': 'false'}
    assert sd.read('yi-hack/etc/proxychains.conf').decode() == (
        PROXY_HEAD + 'socks4 1.2.3.4 4080\nsocks5 proxy.example 1080 user p@ss\n')
    assert server.get_json('/cgi-bin/get_configs.sh?conf=proxychains') == (
        200, {'PROXYCHAINS_SERVERS': 'socks4 1.2.3.4 4080;socks5 proxy.example 1080 user p@ss'})
    assert post_json(server, 'proxychains', {'PROXYCHAINS_SERVERS': ''})[0] == 200
    assert sd.read('yi-hack/etc/proxychains.conf').decode() == PROXY_HEAD


@pytest.mark.table
@pytest.mark.parametrize('servers', [
    'socks4 1.2.3.4',                        # no port
    'socks6 1.2.3.4 1080',                   # no such type
    'socks4 1.2.3.4 70000',                  # port out of range
    'socks5 1.2.3.4 1080 user',              # a user without a password
    'socks4 1.2.3.4 4080\nhttp 5.6.7.8 80',   # a line break
    'socks4 $(reboot) 4080',                 # shell text
    'socks4 1.2.3.4 4080;http 5.6.7.8 80 a"b c',
])
def test_a_proxy_server_proxychains_cannot_read_is_refused(server, sd, servers):
    before = sd.snapshot()
    status, _h, answer = post_json(server, 'proxychains', {'PROXYCHAINS_SERVERS': servers})
    assert status == 400 and 'PROXYCHAINS_SERVERS' in json.loads(answer)['message']
    assert sd.snapshot() == before


@pytest.mark.table
@pytest.mark.parametrize('conf, key, value, stored', [
    ('system', 'TIMELAPSE_DT', '15', '15'),
    ('system', 'TIMELAPSE_DT', '1440+90', '1440+90'),
    ('mqtt', 'MOTION_IMAGE_DELAY', '1,5', '1.5'),
    ('mqtt', 'MOTION_IMAGE_DELAY', '5.0', '5.0'),
])
def test_keys_the_firmware_checks_are_stored_as_it_stores_them(server, sd, conf, key, value, stored):
    filename = PAGE_CONFS[[c[0] for c in PAGE_CONFS].index(conf)][1]
    status, _h, _b = post_json(server, conf, {key: value})
    assert status == 200
    assert '\n%s=%s\n' % (key, stored) in sd.read('yi-hack/etc/' + filename).decode()


@pytest.mark.table
@pytest.mark.parametrize('conf, key, value', [
    ('system', 'TIMELAPSE_DT', '7'),
    ('system', 'TIMELAPSE_DT', '1440+1441'),
    ('system', 'TIMELAPSE_DT', '1440+'),
    ('mqtt', 'MOTION_IMAGE_DELAY', '5.5'),
    ('mqtt', 'MOTION_IMAGE_DELAY', '10'),
    ('mqtt', 'MOTION_IMAGE_DELAY', '-1'),
    ('mqtt', 'MOTION_IMAGE_DELAY', ''),
])
def test_values_the_firmware_would_skip_are_refused_and_nothing_is_written(server, sd, conf, key, value):
    """The firmware skips them and says saved; here the page learns it was not saved."""
    before = sd.snapshot()
    status, _h, answer = post_json(server, conf, {'HTTPD_PORT': '8181', 'MQTT_PORT': '1884', key: value})
    assert status == 400 and key in json.loads(answer)['message']
    assert sd.snapshot() == before


@pytest.mark.table
@pytest.mark.parametrize('conf', ['', 'ptz', 'mqttv4', 'defaults', '../etc/system', 'proxychains.conf'])
def test_set_configs_refuses_any_other_conf_name_and_writes_nothing(server, sd, conf):
    sd.write('yi-hack/etc/defaults.conf', 'KEY=1\n')
    before = sd.snapshot()
    status, _h, answer = post_json(server, conf, {'KEY': '2', 'HTTPD': 'no'})
    assert status == 400 and json.loads(answer)['error'] == 'true'
    assert sd.snapshot() == before


def test_get_configs_escapes_quotes_backslashes_and_unicode(server, sd):
    tricky = 'say "hi" \\ back\\slash caf\u00e9 \u2603 </script>'
    sd.set_conf('system.conf', 'NTP_SERVER', tricky)
    status, body = server.get_json('/cgi-bin/get_configs.sh?conf=system')
    assert status == 200
    assert body['NTP_SERVER'] == tricky


def test_passwords_are_masked_and_the_mask_sent_back_keeps_them(server, sd):
    sd.set_conf('system.conf', 'PASSWORD', 'hunter2')
    sd.set_conf('system.conf', 'SSH_PASSWORD', '')
    sd.set_conf('mqttv4.conf', 'MQTT_PASSWORD', 'broker-secret')
    _, body = server.get_json('/cgi-bin/get_configs.sh?conf=system')
    assert body['PASSWORD'] == '********'
    assert body['SSH_PASSWORD'] == ''
    _, body = server.get_json('/cgi-bin/get_configs.sh?conf=mqtt')
    assert body['MQTT_PASSWORD'] == '********'
    assert b'broker-secret' not in json.dumps(body).encode()
    # The page sends everything back, mask included: the stored value stays.
    body['MQTT_IP'] = '10.1.1.1'
    status, _h, _b = post_json(server, 'mqtt', body)
    assert status == 200
    text = sd.read('yi-hack/etc/mqttv4.conf').decode()
    assert 'MQTT_PASSWORD=broker-secret\n' in text
    assert 'MQTT_IP=10.1.1.1\n' in text
    post_json(server, 'mqtt', {'MQTT_PASSWORD': 'new-secret'})
    assert 'MQTT_PASSWORD=new-secret\n' in sd.read('yi-hack/etc/mqttv4.conf').decode()


# --- set_configs ---

HAND_WRITTEN = (b'# written by hand\r\n'
                b'\n'
                b'FIRST=1\n'
                b'  # indented comment = not a key\n'
                b'lower=case stays\n'
                b'SECOND=two words \n'
                b'not a key line\n'
                b'THIRD=3\r\n'
                b'FIRST=duplicate later line\n'
                b'LAST=no newline at end')


def test_set_configs_changes_only_existing_keys_and_keeps_every_other_byte(server, sd):
    sd.write('yi-hack/etc/camera.conf', HAND_WRITTEN)
    status, _h, body = post_json(server, 'camera', {
        'FIRST': 'one', 'THIRD': 'three', 'LAST': 'end', 'NEWKEY': 'ignored'})
    assert status == 200 and json.loads(body) == {'error': 'false'}
    expected = (HAND_WRITTEN.replace(b'FIRST=1\n', b'FIRST=one\n')
                .replace(b'THIRD=3\r\n', b'THIRD=three\r\n')
                .replace(b'LAST=no newline at end', b'LAST=end'))
    assert sd.read('yi-hack/etc/camera.conf') == expected


BAD_BODIES = [
    b'not json',
    b'["SWITCH_ON", "no"]',
    b'"SWITCH_ON=no"',
    b'{"SWITCH_ON": "no\\rLED=no"}',
    b'{"SWITCH_ON": "no\\u0000"}',
    b'{"switch_on": "no"}',
    b'{"SWITCH-ON": "no"}',
    b'{"SWITCH_ON=LED": "no"}',
    b'{"": "no"}',
    b'{"SWITCH_ON": null}',
    b'{"SWITCH_ON": {"on": "no"}}',
    b'{"SWITCH_ON": 1e400}',
    b'{"SWITCH_ON": "no", "LED": ["no"]}',
    b'\xff\xfe{}',
    b'{"SWITCH_ON": "\xc0\xae"}',                 # an overlong '.', which MicroPython's decode takes
    '{"SWITCH_ON": "no"}'.encode('utf-16-le'),    # CPython's json.loads would take UTF-16 bytes
]


def test_set_configs_refuses_bad_bodies_and_changes_nothing(server, sd):
    before = sd.snapshot()
    for body in BAD_BODIES:
        status, _h, answer = post_json(server, 'camera', body)
        assert status == 400, body
        assert json.loads(answer)['error'] == 'true'
    assert sd.snapshot() == before


# Numbers and booleans as scripts send them; the firmware stores the text its jq prints.
NUMBERS = {'MQTT_PORT': 1883, 'MQTT_KEEPALIVE': 120.0, 'MQTT_QOS': 1e0, 'MQTT_RETAIN_MOTION': True,
           'MQTT_RETAIN_SOUND_DETECTION': False, 'MQTT_RETAIN_MOTION_IMAGE': -0.25,
           'MQTT_RETAIN_BIRTH_WILL': 1e-5, 'MQTT_TLS': 12345678901234567, 'MQTT_RETAIN_MOTION_FILES': 3e17}


def jq_stored(body):
    """{key: text} as the firmware's set_configs.sh has jq print each KEY=VALUE row."""
    rows = subprocess.run(['jq', '-r', '. | keys[] as $k | "\\($k)=\\(.[$k])"'], input=body,
                          stdout=subprocess.PIPE, check=True).stdout.decode().splitlines()
    return dict(row.split('=', 1) for row in rows)


def test_numbers_and_booleans_are_stored_as_the_firmware_stores_them(server, sd):
    body = json.dumps(NUMBERS).encode()
    expected = jq_stored(body)
    assert expected['MQTT_RETAIN_MOTION'] == 'true' and expected['MQTT_KEEPALIVE'] == '120'
    status, _h, answer = post_json(server, 'mqtt', body)
    assert (status, json.loads(answer)) == (200, {'error': 'false'})
    stored = dict(line.split('=', 1) for line in sd.read('yi-hack/etc/mqttv4.conf').decode().splitlines()
                  if '=' in line and not line.startswith('#'))
    assert {key: stored[key] for key in NUMBERS} == expected
    status, body = server.get_json('/cgi-bin/get_configs.sh?conf=mqtt')
    assert body['MQTT_PORT'] == '1883' and body['MQTT_RETAIN_SOUND_DETECTION'] == 'false'


def test_a_number_where_the_firmware_checks_the_value_is_checked_as_its_text(server, sd):
    sd.write('yi-hack/etc/camera.conf', sd.read('yi-hack/etc/camera.conf') + b'MOTION_IMAGE_DELAY=1\n')
    assert post_json(server, 'camera', {'MOTION_IMAGE_DELAY': 0.5})[0] == 200
    assert b'MOTION_IMAGE_DELAY=0.5\n' in sd.read('yi-hack/etc/camera.conf')
    assert post_json(server, 'system', {'TIMELAPSE_DT': 1440})[0] == 200
    assert b'TIMELAPSE_DT=1440\n' in sd.read('yi-hack/etc/system.conf')
    before = sd.snapshot()
    assert post_json(server, 'system', {'TIMELAPSE_DT': 7})[0] == 400
    assert post_json(server, 'camera', {'MOTION_IMAGE_DELAY': 5.5})[0] == 400
    assert sd.snapshot() == before


def with_crontab_key(sd):
    """system.conf as the firmware ships it, with its CRONTAB= line (the payload's has none)."""
    sd.write('yi-hack/etc/system.conf', sd.read('yi-hack/etc/system.conf') + b'CRONTAB=\n')


def test_what_the_firmware_page_saves_is_stored_as_the_firmware_stores_it(start_server, sd,
                                                                         hostname_recorder):
    """A multi-line CRONTAB is kept on one line with a literal \\n; a hostname may hold '_'."""
    with_crontab_key(sd)
    script, record = hostname_recorder
    server = start_server('--hostname-cmd', script)
    status, _h, body = post_json(server, 'system', {
        'HOSTNAME': 'yi_garage.cam', 'CRONTAB': '0 3 * * * reboot\n*/5 * * * * sync', 'HTTPD': 'yes'})
    assert status == 200 and json.loads(body) == {'error': 'false'}
    system = sd.read('yi-hack/etc/system.conf').decode()
    assert 'CRONTAB=0 3 * * * reboot\\n*/5 * * * * sync\n' in system
    assert sd.read('yi-hack/etc/hostname') == b'yi_garage.cam\n'
    assert record.read_text() == 'yi_garage.cam\n'
    _, body = server.get_json('/cgi-bin/get_configs.sh?conf=system')
    assert body['CRONTAB'] == '0 3 * * * reboot\\n*/5 * * * * sync'   # as the firmware answers it
    assert body['HOSTNAME'] == 'yi_garage.cam'
    status, _h, _b = post_json(server, 'system', {'CRONTAB': body['CRONTAB']})   # saved again unchanged
    assert status == 200 and sd.read('yi-hack/etc/system.conf').decode() == system


@pytest.mark.parametrize('value, why', [
    ('0 3 * * * reboot\r\n*/5 * * * * sync', 'carriage return (CR)'),
    ('0 3 * * * reboot\u0000', 'NUL'),
])
def test_a_value_a_conf_line_cannot_hold_is_refused_naming_the_key(server, sd, value, why):
    with_crontab_key(sd)
    before = sd.snapshot()
    status, _h, answer = post_json(server, 'system', {'HTTPD': 'no', 'CRONTAB': value})
    assert status == 400
    message = json.loads(answer)['message']
    assert 'CRONTAB' in message and why in message
    assert sd.snapshot() == before


def test_set_configs_refuses_a_body_over_64k(server, sd):
    before = sd.snapshot()
    body = json.dumps({'SWITCH_ON': 'x' * JSON_LIMIT}).encode()
    status, _h, _b = post_json(server, 'camera', body)
    assert status == 413
    assert sd.snapshot() == before


def test_set_configs_refuses_unknown_conf_and_other_sites(server, sd):
    before = sd.snapshot()
    status, _h, _b = post_json(server, 'system.conf', {'HTTPD': 'no'})
    assert status == 400
    status, _h, _b = post_json(server, 'system', {'HTTPD': 'no'},
                               {'Origin': 'http://evil.example'})
    assert status == 403
    assert sd.snapshot() == before


def test_set_configs_refuses_a_value_over_1k_and_the_server_keeps_answering(server, sd):
    # Before: two sets of 40000 characters made system.conf larger than the
    # 64 KiB it may be read at, and every request (auth reads it) went unanswered.
    before = sd.snapshot()
    for key in ('NTP_SERVER', 'TIMEZONE'):
        status, _h, answer = post_json(server, 'system', {key: 'y' * (JSON_LIMIT - 100)})
        assert status == 400
        assert 'longer than 1024' in json.loads(answer)['message']
    assert sd.snapshot() == before
    assert server.get('/cgi-bin/status.json')[0] == 200


def test_set_configs_that_would_grow_a_conf_past_64k_is_refused(server, sd):
    system = sd.read('yi-hack/etc/system.conf')
    padded = b'#' * (CONF_LIMIT - len(system) - 10) + b'\n' + system
    sd.write('yi-hack/etc/system.conf', padded)
    before = sd.snapshot()
    status, _h, answer = post_json(server, 'system', {'NTP_SERVER': 'n' * 1000})
    assert status == 400
    assert 'larger than 65536' in json.loads(answer)['message']
    assert sd.snapshot() == before
    assert server.get('/cgi-bin/status.json')[0] == 200


@pytest.mark.table
@pytest.mark.parametrize('escaped', ['\\ud800', 'a\\udfffb'])
def test_set_configs_refuses_a_lone_surrogate_escape(server, sd, escaped):
    # It has no UTF-8 form: writing it was a 500 (UnicodeEncodeError) on CPython.
    before = sd.snapshot()
    status, _h, answer = post_json(server, 'system', ('{"NTP_SERVER": "%s"}' % escaped).encode())
    assert status == 400
    assert 'surrogate' in json.loads(answer)['message']
    assert sd.snapshot() == before


def test_set_configs_writes_over_a_leftover_temp_link_without_following_it(server, sd, tmp_path):
    outside = tmp_path / 'outside.txt'
    outside.write_bytes(b'untouched\n')
    os.symlink(str(outside), sd.file('yi-hack/etc/system.conf.tmp'))
    status, _h, _b = post_json(server, 'system', {'NTP_SERVER': 'time.example'})
    assert status == 200
    assert outside.read_bytes() == b'untouched\n'
    assert b'NTP_SERVER=time.example' in sd.read('yi-hack/etc/system.conf')
    assert not os.path.lexists(sd.file('yi-hack/etc/system.conf.tmp'))


@pytest.mark.parametrize('planted', ['link', 'fifo'])
def test_a_hostname_file_that_is_not_a_plain_file_is_never_read(start_server, sd, tmp_path, planted):
    secret = tmp_path / 'secret.txt'
    secret.write_bytes(b'SECRET\n')
    os.remove(sd.file('yi-hack/etc/hostname'))
    if planted == 'link':
        os.symlink(str(secret), sd.file('yi-hack/etc/hostname'))
    else:
        os.mkfifo(sd.file('yi-hack/etc/hostname'))   # reading it would block the loop
    server = start_server()
    status, body = server.get_json('/cgi-bin/get_configs.sh?conf=system')
    assert status == 200 and body['HOSTNAME'] == ''
    status, _h, script = server.get('/cgi-bin/hostname.js')
    assert status == 200 and b'SECRET' not in script
    status, body = server.get_json('/cgi-bin/status.json')
    assert status == 200 and body['hostname'] != 'SECRET'


def make_hostname_recorder(folder):
    """A stand-in for `hostname`: it writes its argv, one per line, to a file."""
    script = folder / 'fake-hostname'
    record = folder / 'hostname-argv'
    script.write_text('#!/bin/sh\nprintf "%%s\\n" "$@" > %s\n' % record)
    script.chmod(0o755)
    return str(script), record


@pytest.fixture
def hostname_recorder(tmp_path):
    return make_hostname_recorder(tmp_path)


def server_with_hostname_recorder(sd, folder, start):
    """A server applying hostnames with the stand-in, and the stand-in's record."""
    script, record = make_hostname_recorder(folder)
    return start('--hostname-cmd', script), record


def test_hostname_is_written_and_applied_with_the_configured_command(start_server, sd,
                                                                     hostname_recorder):
    script, record = hostname_recorder
    server = start_server('--hostname-cmd', script + ' --set NAME')
    status, _h, _b = post_json(server, 'system', {'HOSTNAME': 'garage-cam', 'HTTPD': 'yes'})
    assert status == 200
    assert sd.read('yi-hack/etc/hostname') == b'garage-cam\n'
    assert record.read_text() == '--set\ngarage-cam\n'
    _, body = server.get_json('/cgi-bin/get_configs.sh?conf=system')
    assert body['HOSTNAME'] == 'garage-cam'
    assert 'HOSTNAME' not in sd.read('yi-hack/etc/system.conf').decode()


def test_empty_hostname_becomes_yi_and_the_last_mac_digits(start_server, sd, hostname_recorder):
    script, record = hostname_recorder
    server = start_server('--hostname-cmd', script)
    status, _h, _b = post_json(server, 'system', {'HOSTNAME': ''})
    assert status == 200
    name = sd.read('yi-hack/etc/hostname').decode().strip()
    assert re.match(r'^yi-[0-9a-f]{4}$', name)
    assert record.read_text() == name + '\n'


@pytest.mark.table
@pytest.mark.parametrize('name', ['a;reboot', '$(reboot)', '-rf', 'bad name', 'x' * 64, 'a/b', 'caf\u00e9'])
def test_hostname_that_is_not_a_label_is_refused_and_nothing_runs(request, runtime, sd, name):
    server, record = shared(request, server_with_hostname_recorder)
    before = sd.snapshot()
    status, _h, _b = post_json(server, 'system', {'HOSTNAME': name, 'HTTPD': 'no'})
    assert status == 400
    assert "HOSTNAME must be 1 to 63 letters, digits, '-', '_' or '.'" in json.loads(_b)['message']
    assert sd.snapshot() == before
    assert not record.exists()


def conf_with(text, key, value):
    return re.sub(r'(?m)^%s=.*$' % key, '%s=%s' % (key, value), text)


def test_a_killed_writer_leaves_the_old_or_the_new_file(start_server, sd):
    """SIGKILL the server at random moments while it serves many set_configs."""
    padding = ''.join('# padding line %05d so that a write takes a while\n' % i
                      for i in range(1000))
    original = padding + sd.read('yi-hack/etc/system.conf').decode()
    sd.write('yi-hack/etc/system.conf', original)
    variants = [{'RTSP_PORT': str(1000 + i), 'NTP_SERVER': 'ntp%d.example' % i} for i in range(2)]
    allowed = {original.encode()}
    for v in variants:
        text = original
        for key, value in v.items():
            text = conf_with(text, key, value)
        allowed.add(text.encode())
    rng = random.Random(4)
    for _round in range(KILL_ROUNDS):
        server = start_server()
        stop = threading.Event()
        counter = []

        def hammer():
            i = 0
            while not stop.is_set():
                try:
                    status, _h, _b = post_json(server, 'system', variants[i % 2])
                    if status == 200:
                        counter.append(1)
                except (OSError, http.client.HTTPException):
                    return
                i += 1

        writer = threading.Thread(target=hammer)
        writer.start()
        assert wait_until(lambda: counter, 30)   # writes are being served: the kill lands among them
        time.sleep(rng.uniform(*KILL_AFTER))     # at a random moment
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
        stop.set()
        writer.join(10)
        assert sd.read('yi-hack/etc/system.conf') in allowed


def test_scratch_files_of_a_killed_server_are_removed_at_the_next_start(start_server, tmp_path):
    """/tmp is RAM on the camera: what a killed load or upload left must not pile up."""
    tmp_dir = tmp_path / 'tmp'
    tmp_dir.mkdir()
    gone_pid = 99999999                       # above any pid_max: no such process
    (tmp_dir / ('yihttpd-load-%d' % gone_pid)).mkdir()
    (tmp_dir / ('yihttpd-load-%d' % gone_pid) / 'system.conf').write_text('half')
    (tmp_dir / ('yihttpd-upload-%d-7' % gone_pid)).write_bytes(b'x' * 1000)
    alive = 'yihttpd-upload-%d-1' % os.getpid()   # another server's, still running
    (tmp_dir / alive).write_bytes(b'y')
    (tmp_dir / 'someone-else').write_bytes(b'z')
    server = start_server('--tmp-dir', str(tmp_dir))
    assert sorted(os.listdir(str(tmp_dir))) == sorted([alive, 'someone-else'])
    assert 'removed 2 temp files left by an earlier run' in server.log()


# --- save.sh and load.sh ---

def extract_with_tar(archive_path, into):
    os.makedirs(into)
    subprocess.run(['tar', 'xf', archive_path, '-C', into], check=True)
    return sorted(os.listdir(into))


def test_save_answers_a_bzip2_attachment_that_tar_and_bzip2_read(server, sd, tmp_path):
    status, headers, body = server.get('/cgi-bin/save.sh')
    assert status == 200
    assert headers['content-disposition'] == 'attachment; filename="config.tar.bz2"'
    assert headers['content-type'] == 'application/x-bzip2' and body[:3] == b'BZh'
    path = tmp_path / 'config.tar.bz2'
    path.write_bytes(body)
    subprocess.run(['bzip2', '-t', str(path)], check=True)
    names = extract_with_tar(str(path), str(tmp_path / 'out'))
    assert names == PAYLOAD_DEFAULTS
    for name in names:
        assert (tmp_path / 'out' / name).read_bytes() == sd.read('yi-hack/etc/' + name)


def test_save_then_load_restores_the_settings(server, sd):
    _status, _headers, saved = server.get('/cgi-bin/save.sh')
    kept = sd.snapshot()
    post_json(server, 'camera', {'LED': 'no', 'IR': 'no'})
    sd.write('yi-hack/etc/hostname', 'changed\n')
    assert sd.snapshot() != kept
    status, body = upload(server, saved, field='files[]')
    assert (status, body) == (200, LOADED)
    assert sd.snapshot() == kept


def firmware_backup(sd, tmp_path, flag):
    """The firmware's own way: `tar cjf config.tar.bz2 *.conf hostname` in etc/."""
    name = 'config.tar.' + ('bz2' if flag == 'j' else 'gz')
    out = str(tmp_path / name)
    subprocess.run('tar c%sf %s *.conf hostname' % (flag, out), shell=True, cwd=sd.etc, check=True)
    return out


def test_backup_made_by_tar_cjf_loads_on_both_runtimes(server, sd, tmp_path):
    sd.set_conf('camera.conf', 'ROTATE', 'yes')
    sd.write('yi-hack/etc/hostname', 'from-backup\n')
    path = firmware_backup(sd, tmp_path, 'j')
    restored = sd.snapshot()
    sd.set_conf('camera.conf', 'ROTATE', 'no')
    sd.write('yi-hack/etc/hostname', 'other\n')
    with open(path, 'rb') as f:
        status, body = upload(server, f.read(), filename='config.tar.bz2')
    assert (status, body) == (200, LOADED)
    assert sd.snapshot() == restored


def firmware_script(tmp_path, name, sd):
    """Today's firmware's cgi-bin/NAME as a file, its fixed paths moved into the test:
    /tmp/sd to the test card, its scratch files under tmp_path."""
    with tarfile.open(FIRMWARE_WEB) as t:
        text = t.extractfile('./src/www/httpd/cgi-bin/' + name).read().decode()
    for fixed, moved in (('/tmp/sd/yi-hack', sd.path + '/yi-hack'),
                         ('/tmp/yi-temp-save', str(tmp_path / 'yi-temp-save')),
                         ('/tmp/config.tar.bz2.dl', str(tmp_path / 'config.tar.bz2.dl')),
                         ('/tmp/workdir.tmp', str(tmp_path / 'workdir.tmp'))):
        text = text.replace(fixed, moved)
    assert '/tmp/' not in text.replace(str(tmp_path), '').replace(sd.path, ''), 'a path left unmoved'
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def run_firmware_script(tmp_path, script, body=b'', env=None):
    """The script run as its busybox httpd runs a CGI (bash for its [[ ]]); its stdout.
    tar and bzip2 are busybox's, as on the camera; ipc_cmd is a stand-in that only
    records its arguments."""
    tools = tmp_path / 'firmware-tools'
    tools.mkdir(exist_ok=True)
    for name, body_text in (('ipc_cmd', 'echo "$@" >> %s' % (tools / 'ipc_cmd.log')),
                            ('tar', 'exec busybox tar "$@"'), ('bzip2', 'exec busybox bzip2 "$@"')):
        (tools / name).write_text('#!/bin/sh\n%s\n' % body_text)
        (tools / name).chmod(0o755)
    environ = dict(os.environ, PATH='%s:%s' % (tools, os.environ['PATH']), **(env or {}))
    done = subprocess.run(['bash', script], input=body, stdout=subprocess.PIPE, env=environ,
                          cwd=str(tmp_path), timeout=60)
    return done.stdout


def test_the_firmware_load_sh_takes_what_save_sh_answers_within_its_limit(server, sd, tmp_path):
    sd.set_conf('camera.conf', 'LED', 'no')
    sd.write('yi-hack/etc/hostname', 'yi-saved\n')
    status, _h, saved = server.get('/cgi-bin/save.sh')
    assert status == 200
    expected = sd.snapshot()
    sd.set_conf('camera.conf', 'LED', 'yes')
    sd.write('yi-hack/etc/hostname', 'other\n')
    body, ctype = multipart([('files[]', 'config.tar.bz2', saved)], BROWSER_BOUNDARY)
    assert len(body) <= FIRMWARE_LOAD_LIMIT, len(body)
    script = firmware_script(tmp_path, 'load.sh', sd)
    out = run_firmware_script(tmp_path, script, body, {
        'REQUEST_METHOD': 'POST', 'CONTENT_LENGTH': str(len(body)), 'CONTENT_TYPE': ctype})
    assert b'Upload completed successfully' in out, out
    assert sd.snapshot() == expected


def test_a_backup_made_by_the_firmware_save_sh_loads(server, sd, tmp_path):
    sd.set_conf('system.conf', 'RTSP', 'no')
    sd.write('yi-hack/etc/hostname', 'yi-firmware\n')
    out = run_firmware_script(tmp_path, firmware_script(tmp_path, 'save.sh', sd))
    head = b'Content-type: application/octet-stream\r\n\r\n'
    assert out.startswith(head + b'BZh'), out[:80]
    restored = sd.snapshot()
    sd.set_conf('system.conf', 'RTSP', 'yes')
    sd.write('yi-hack/etc/hostname', 'other\n')
    status, body = upload(server, out[len(head):], field='files[]', filename='config.tar.bz2')
    assert (status, body) == (200, LOADED)
    assert sd.snapshot() == restored


def test_a_backup_whose_hostname_has_an_underscore_loads_as_on_the_firmware(
        start_server, sd, tmp_path, hostname_recorder):
    script, record = hostname_recorder
    server = start_server('--hostname-cmd', script)
    sd.write('yi-hack/etc/hostname', 'yi_garage\n')
    path = firmware_backup(sd, tmp_path, 'z')
    restored = sd.snapshot()
    sd.write('yi-hack/etc/hostname', 'other\n')
    with open(path, 'rb') as f:
        status, body = upload(server, f.read())
    assert (status, body) == (200, LOADED)
    assert sd.snapshot() == restored
    assert record.read_text() == 'yi_garage\n'


def test_a_backup_whose_hostname_would_read_as_an_option_is_refused_saying_why(server, sd):
    before = sd.snapshot()
    status, body = upload(server, make_tar(good_members(sd, hostname=b'-f\n')))
    assert status == 400 and "hostname must hold 1 to 63 letters" in body['message']
    assert sd.snapshot() == before


def test_backup_made_by_tar_czf_loads_on_both_runtimes(server, sd, tmp_path):
    sd.set_conf('system.conf', 'RTSP', 'no')
    path = firmware_backup(sd, tmp_path, 'z')
    restored = sd.snapshot()
    sd.set_conf('system.conf', 'RTSP', 'yes')
    with open(path, 'rb') as f:
        status, body = upload(server, f.read())
    assert status == 200, body
    assert sd.snapshot() == restored


def test_gzip_archive_that_refers_far_back_loads(server, sd):
    """Two members sharing 10 KiB of text: deflate refers back further than 4 KiB."""
    rng = random.Random(7)
    shared = ''.join('# %s\n' % ''.join(rng.choice('abcdefghij') for _ in range(60))
                     for _ in range(160)).encode()
    members = good_members(sd, camera_conf=shared + b'LED=no\n', mqttv4_conf=shared + b'MQTT_IP=x\n')
    status, body = upload(server, make_tar(members))
    assert status == 200, body
    assert sd.read('yi-hack/etc/mqttv4.conf') == shared + b'MQTT_IP=x\n'


def test_curl_uploads_and_wget_downloads_by_the_attachment_name(server, sd, tmp_path):
    shutil.which('curl') and shutil.which('wget') or pytest.fail('curl and wget are needed')
    path = firmware_backup(sd, tmp_path, 'j')
    expected = sd.snapshot()
    sd.set_conf('camera.conf', 'LED', 'no')
    out = subprocess.run(['curl', '-sS', '-F', 'file=@' + path, server.url + '/cgi-bin/load.sh'],
                         capture_output=True, check=True, timeout=20).stdout
    assert out == LOADED.encode()
    assert sd.snapshot() == expected
    download = tmp_path / 'download'
    download.mkdir()
    subprocess.run(['wget', '-q', '--content-disposition', server.url + '/cgi-bin/save.sh'],
                   cwd=str(download), check=True, timeout=20)
    assert os.listdir(str(download)) == ['config.tar.bz2']


def test_load_takes_the_first_file_part_of_a_large_spooled_upload(server, sd):
    """A big text field first makes the body larger than 64 KiB, so it is spooled."""
    sd.set_conf('camera.conf', 'SENSITIVITY', 'high')
    archive = make_tar(good_members(sd))
    restored = sd.snapshot()
    sd.set_conf('camera.conf', 'SENSITIVITY', 'low')
    status, body = upload(server, archive, before=[('comment', None, b'x' * 100000)])
    assert status == 200, body
    assert sd.snapshot() == restored


def test_load_reapplies_camera_settings(runtime, camera, sd):
    sd.set_conf('camera.conf', 'SWITCH_ON', 'no')
    archive = make_tar(good_members(sd))
    camera.sent()
    status, body = upload(camera.server, archive)
    assert status == 200, body
    sent = []
    assert wait_until(lambda: sent.append(camera.sent()) or ipc.switch(False) in b''.join(sent))


def killed_load(sd, killed_mid_switch, point):
    """A load.sh of a backup whose every conf differs, killed at point of its switch:
    (the card's snapshot before, the old confs, the new, etc/ as the kill left
    them, the server started again)."""
    names = ('camera.conf', 'hostname', 'mqttv4.conf', 'system.conf')
    before = sd.snapshot()
    old = {name: sd.read('yi-hack/etc/' + name) for name in names}
    new = {'camera.conf': conf_with(old['camera.conf'].decode(), 'SWITCH_ON', 'no').encode(),
           'hostname': b'loaded\n',
           'mqttv4.conf': conf_with(old['mqttv4.conf'].decode(), 'MQTT_IP', '10.9.9.9').encode(),
           'system.conf': conf_with(old['system.conf'].decode(), 'NTP_SERVER', 'ntp.loaded').encode()}
    assert all(new[name] != old[name] for name in names)
    archive = make_tar([({'name': name}, new[name]) for name in names])

    def send(server):
        try:
            upload(server, archive)
        except (OSError, http.client.HTTPException):
            pass   # killed before it answered
    left, server = killed_mid_switch(point, send)
    return before, old, new, {name: left.get(name) for name in names}, server


def test_a_load_killed_before_its_switch_began_leaves_the_old_confs(sd, killed_mid_switch):
    before, old, _new, left, server = killed_load(sd, killed_mid_switch, 'staged')
    assert left == old   # every new conf was staged, none switched yet
    assert sd.snapshot() == before   # and the stage is gone
    assert 'the old set stays' in server.log()
    assert server.get_json('/cgi-bin/get_configs.sh?conf=system')[1]['NTP_SERVER'] != 'ntp.loaded'


def test_a_load_killed_half_way_through_its_switch_is_finished_at_the_next_start(sd, killed_mid_switch):
    _before, old, new, left, server = killed_load(sd, killed_mid_switch, 'switching')
    assert [name for name in sorted(left) if left[name] == new[name]] == ['camera.conf']
    assert [name for name in sorted(left) if left[name] == old[name]] == ['hostname', 'mqttv4.conf',
                                                                         'system.conf']
    assert {name: sd.read('yi-hack/etc/' + name) for name in new} == new
    assert '.yihttpd-switch' not in os.listdir(sd.etc)
    assert 'the new set is in place' in server.log()
    assert server.get_json('/cgi-bin/get_configs.sh?conf=system')[1]['NTP_SERVER'] == 'ntp.loaded'


def without_end(tar):
    """A tar cut right after its last member: the zero blocks that end it are gone."""
    while tar.endswith(bytes(512)):
        tar = tar[:-512]
    return tar


def stored_gzip_with_a_changed_byte(tar):
    """Gzip with stored blocks (as MicroPython's save.sh writes) and one content byte altered."""
    import zlib
    packer = zlib.compressobj(0, zlib.DEFLATED, 31)
    data = bytearray(packer.compress(tar) + packer.flush())
    at = data.index(b'HTTPD=yes') + 6
    data[at] ^= 1
    return bytes(data)


def hostile_archives(sd):
    """(what, archive bytes): each must be refused whole."""
    big = b'A=' + b'x' * MEMBER_LIMIT
    system = sd.read('yi-hack/etc/system.conf')
    link = tarfile.SYMTYPE
    cases = [
        ('member with a directory', good_members(sd) + [({'name': 'sub/x.conf'}, b'A=1\n')]),
        ('member with ..', good_members(sd) + [({'name': '../x.conf'}, b'A=1\n')]),
        ('absolute member', good_members(sd) + [({'name': '/tmp/x.conf'}, b'A=1\n')]),
        ('dot-slash member', [({'name': './system.conf'}, system)] + good_members(sd)[:2]),
        ('symlink', good_members(sd) + [({'name': 'x.conf', 'type': link, 'linkname': '/etc/passwd'}, None)]),
        ('hardlink', good_members(sd) + [({'name': 'x.conf', 'type': tarfile.LNKTYPE,
                                            'linkname': 'system.conf'}, None)]),
        ('char device', good_members(sd) + [({'name': 'x.conf', 'type': tarfile.CHRTYPE,
                                               'devmajor': 1, 'devminor': 3}, None)]),
        ('block device', good_members(sd) + [({'name': 'x.conf', 'type': tarfile.BLKTYPE,
                                                'devmajor': 8, 'devminor': 0}, None)]),
        ('fifo', good_members(sd) + [({'name': 'x.conf', 'type': tarfile.FIFOTYPE}, None)]),
        ('directory', good_members(sd) + [({'name': 'etc', 'type': tarfile.DIRTYPE}, None)]),
        ('wrong name', good_members(sd) + [({'name': 'evil.sh'}, b'#!/bin/sh\n')]),
        ('hidden name', good_members(sd) + [({'name': '.conf'}, b'A=1\n')]),
        ('member over 64 KiB', good_members(sd) + [({'name': 'big.conf'}, big)]),
        ('no system.conf', [m for m in good_members(sd) if m[0]['name'] != 'system.conf']),
        ('no camera.conf', [m for m in good_members(sd) if m[0]['name'] != 'camera.conf']),
        ('member twice', good_members(sd) + [({'name': 'system.conf'}, b'HTTPD=no\n')]),
        ('hostname that is not one', good_members(sd, hostname=b'a;reboot\n')),
        ('binary conf', good_members(sd, camera_conf=b'\xff\xfe\x00\x01')),
    ]
    archives = [(what, make_tar(members)) for what, members in cases]
    plain = make_tar(good_members(sd), None)
    whole = make_tar(good_members(sd))
    packed = make_tar(good_members(sd), 'bz2')
    archives += [
        ('not compressed', plain),
        ('not a tar', gzip.compress(b'just some text, no tar here\n' * 40)),
        ('not an archive at all', b'hello, this is a text file\n'),
        ('empty upload', b''),
        ('truncated gzip', whole[:len(whole) // 2]),
        ('gzip of a truncated tar', gzip.compress(plain[:1536 + 100])),
        ('tar without its end', gzip.compress(without_end(plain))),
        ('bad header checksum', gzip.compress(plain[:148] + b'0000000\0' + plain[156:])),
        ('gzip with a wrong CRC', whole[:-8] + bytes(4) + whole[-4:]),
        ('stored gzip with a changed byte', stored_gzip_with_a_changed_byte(plain)),
        ('bzip2 with a wrong block CRC', packed[:10] + bytes(b ^ 0xff for b in packed[10:14]) + packed[14:]),
        ('truncated bzip2', packed[:len(packed) // 2]),
        ('bzip2 without its end', packed[:-10]),
        ('bzip2 with garbage after it', packed + b'garbage'),
    ]
    return archives


def test_hostile_archives_are_refused_whole_and_etc_is_unchanged(server, sd):
    before = sd.snapshot()
    for what, archive in hostile_archives(sd):
        status, body = upload(server, archive)
        if status == 503 and 'memory' in body['message']:
            # Seen once in CI on MicroPython (512K heap): the answer for a heap
            # too broken up at that moment, with Retry-After. A client tries again.
            time.sleep(1)
            status, body = upload(server, archive)
        assert status == 400, (what, body)
        assert body['error'] == 'true', what
        assert sd.snapshot() == before, what
    # and the server still loads a good one afterwards
    status, body = upload(server, make_tar(good_members(sd)))
    assert status == 200, body


BOMB_MIB = 512     # what a ~0.5 MiB gzip of zeros inflates to
BOMB_SECONDS = 5   # a bomb is refused at its first header or end marker, not after inflating


def test_gzip_bombs_are_refused_in_bounded_time(server, sd, gzip_bomb):
    huge = tarfile.TarInfo('system.conf')
    huge.size = 1 << 30
    before = sd.snapshot()
    for head in (b'', huge.tobuf(format=tarfile.GNU_FORMAT)):
        bomb = gzip_bomb(head, BOMB_MIB)   # made once per session: not part of the time
        started = time.monotonic()
        status, body = upload(server, bomb)
        assert time.monotonic() - started < BOMB_SECONDS
        assert status == 400 and body['error'] == 'true'
        assert sd.snapshot() == before
    assert server.get('/cgi-bin/status.json')[0] == 200


BZIP2_BOMB_MIB = 64       # zeros behind a tar header, in 900k blocks (Debian's bzip2 -9)
SMALL_BLOCK_BOMB_MIB = 4  # zeros in blocks within the reader's bound (the package's writer)
MIB = 1 << 20


def packed_by_our_writer(head, mib):
    from yihttpd import bzip2_writer
    writer = bzip2_writer.Writer()
    return writer.compress(head) + b''.join(writer.compress(bytes(MIB)) for _ in range(mib)) + writer.flush()


@pytest.fixture(scope='module')
def bzip2_bombs():
    import bz2
    huge = tarfile.TarInfo('system.conf')
    huge.size = 1 << 30
    head = huge.tobuf(format=tarfile.GNU_FORMAT)
    packer = bz2.BZ2Compressor(9)
    big_blocks = packer.compress(head) + b''.join(
        packer.compress(bytes(MIB)) for _ in range(BZIP2_BOMB_MIB)) + packer.flush()
    return [('900k blocks behind a huge header', big_blocks),
            ('small blocks behind a huge header', packed_by_our_writer(head, SMALL_BLOCK_BOMB_MIB)),
            ('small blocks of zeros only', packed_by_our_writer(b'', SMALL_BLOCK_BOMB_MIB))]


def test_bzip2_bombs_are_refused_in_bounded_time(server, sd, bzip2_bombs):
    before = sd.snapshot()
    for what, bomb in bzip2_bombs:
        started = time.monotonic()
        status, body = upload(server, bomb, filename='config.tar.bz2')
        assert time.monotonic() - started < BOMB_SECONDS, what
        assert status == 400 and body['error'] == 'true', (what, body)
        assert sd.snapshot() == before
    assert server.get('/cgi-bin/status.json')[0] == 200


def test_load_without_a_file_part_or_multipart_is_refused(server, sd):
    before = sd.snapshot()
    body, ctype = multipart([('comment', None, b'no file here')])
    status, _h, _b = server.request('POST', '/cgi-bin/load.sh', body, {'Content-Type': ctype})
    assert status == 400
    status, _h, _b = server.request('POST', '/cgi-bin/load.sh', b'x' * 100,
                                    {'Content-Type': 'application/octet-stream'})
    assert status == 400
    body, ctype = multipart([('file', 'config.tar.gz', make_tar(good_members(sd)))])
    status, _h, _b = server.request('POST', '/cgi-bin/load.sh', body[:-40], {'Content-Type': ctype})
    assert status == 400
    assert sd.snapshot() == before


def test_load_from_another_site_is_refused(server, sd):
    before = sd.snapshot()
    body, ctype = multipart([('file', 'config.tar.gz', make_tar(good_members(sd)))])
    status, _h, _b = server.request('POST', '/cgi-bin/load.sh', body,
                                    {'Content-Type': ctype, 'Sec-Fetch-Site': 'cross-site'})
    assert status == 403
    assert sd.snapshot() == before


def test_multipart_scanner_finds_a_boundary_split_across_chunks():
    from yihttpd import multipart
    needle = b'\r\n--boundary'
    for at in range(multipart.MULTIPART_CHUNK - len(needle) - 2, multipart.MULTIPART_CHUNK + 3):
        data = b'a' * at + needle + b'b' * 50
        assert multipart.find_in_stream(io.BytesIO(data), needle, 0, len(data)) == at
        assert multipart.find_in_stream(io.BytesIO(data), needle, 0, at + len(needle) - 1) == -1

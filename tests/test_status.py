"""status.json and hostname.js, as Home Assistant and the page read them."""
import re

import pytest

pytestmark = pytest.mark.armhf   # also on 32-bit ARM (musl) under qemu-arm

FIELDS = ('name', 'hostname', 'fw_version', 'home_version', 'model_suffix', 'ptz', 'go2rtc',
          'serial_number', 'local_time', 'uptime', 'load_avg', 'total_memory', 'free_memory',
          'free_sd', 'local_ip', 'netmask', 'gateway', 'mac_addr', 'wlan_essid', 'wlan_strength')


def test_status_has_every_field_as_a_string_and_no_privacy(server):
    status, body = server.get_json('/cgi-bin/status.json')
    assert status == 200
    assert set(FIELDS) <= set(body)
    assert all(isinstance(body[key], str) for key in FIELDS)
    assert 'privacy' not in body


def test_status_values_come_from_the_card_and_the_host(sd, server):
    sd.write('yi-hack/etc/hostname', 'garden-cam\n')
    _, body = server.get_json('/cgi-bin/status.json')
    assert body['name'] == 'yi-hack-allwinner-v2'
    assert body['hostname'] == 'garden-cam'
    assert body['fw_version'] == '0.4.1'
    assert body['model_suffix'] == 'y211ga'
    assert body['ptz'] == 'no'       # not a PTZ model in today's firmware's list
    assert body['go2rtc'] == 'no'
    assert float(body['uptime']) > 0
    assert len(body['load_avg'].split()) == 3
    assert int(body['total_memory']) >= int(body['free_memory']) > 0
    assert re.fullmatch(r'\d{1,3}%', body['free_sd'])
    assert re.fullmatch(r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d', body['local_time'])
    assert body['mac_addr'] == 'N/A' or re.fullmatch(r'([0-9a-f]{2}:){5}[0-9a-f]{2}', body['mac_addr'])
    assert body['local_ip'] == 'N/A' or re.fullmatch(r'\d+\.\d+\.\d+\.\d+', body['local_ip'])


def test_ptz_follows_the_model_and_the_override(sd, start_server):
    sd.write('yi-hack/model_suffix', 'y20ga\n')
    assert start_server().get_json('/cgi-bin/status.json')[1]['ptz'] == 'no'
    assert start_server('--ptz', 'yes').get_json('/cgi-bin/status.json')[1]['ptz'] == 'yes'


def test_family_is_configurable(start_server):
    server = start_server('--family', 'yi-hack-mstar')
    assert server.get_json('/cgi-bin/status.json')[1]['name'] == 'yi-hack-mstar'


def test_missing_card_files_are_na(sd, start_server):
    import os
    os.remove(sd.file('yi-hack/version'))
    os.remove(sd.file('yi-hack/model_suffix'))
    _, body = start_server().get_json('/cgi-bin/status.json')
    assert body['fw_version'] == 'N/A' and body['model_suffix'] == 'N/A' and body['ptz'] == 'no'


def test_hostname_js_is_a_javascript_assignment(sd, server):
    sd.write('yi-hack/etc/hostname', 'cam "one"\n')
    status, headers, body = server.get('/cgi-bin/hostname.js')
    assert status == 200
    assert headers['content-type'] == 'text/javascript'
    assert body == b'hostname="cam \\"one\\"";'


@pytest.mark.table
@pytest.mark.parametrize('model,ptz', [
    ('r30gb', 'yes'), ('h51ga', 'yes'), ('h52ga', 'yes'), ('h60ga', 'yes'), ('q321br_lsx', 'yes'),
    ('qg311r', 'yes'), ('b091qp', 'yes'), ('r40ga', 'yes'), ('h30ga', 'no'), ('y211ga', 'no'),
    ('y291ga', 'no'), ('y21ga', 'no')])
def test_ptz_is_todays_firmware_model_list(sd, server, model, ptz):
    sd.write('yi-hack/model_suffix', model + '\n')
    assert server.get_json('/cgi-bin/status.json')[1]['ptz'] == ptz


def test_go2rtc_says_whether_it_is_installed(sd, server):
    sd.write('yi-hack/bin/go2rtc', 'binary')
    assert server.get_json('/cgi-bin/status.json')[1]['go2rtc'] == 'yes'

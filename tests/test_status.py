"""status.json and hostname.js, as Home Assistant and the page read them."""
import os
import re
import subprocess

import pytest

from harness import wait_until

# also on 32-bit ARM and MIPS (musl) under qemu; the foundation: the .mpy payload at 256K
pytestmark = [pytest.mark.arch, pytest.mark.small_heap]

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


@pytest.mark.parametrize('tz', ['UTC0', 'CET-1CEST,M3.5.0,M10.5.0/3', 'AKST9AKDT,M3.2.0,M11.1.0',
                                '<+0330>-3:30', 'GMT0'])
def test_local_time_is_what_date_prints_in_the_camera_time_zone(start_server, tz):
    """The firmware's status.json runs `date`: day, month, day of month padded to two
    places, time, the zone's name from TZ (the camera's TIMEZONE), year."""
    def date():
        return subprocess.run(['date'], env=dict(os.environ, TZ=tz, LC_ALL='C'),
                              stdout=subprocess.PIPE, check=True).stdout.decode().strip()
    server = start_server(env={'TZ': tz})
    before = date()
    _, body = server.get_json('/cgi-bin/status.json')
    after = date()
    assert body['local_time'] in (before, after), (body['local_time'], before, after)


IWCONFIG_OUTPUT = """wlan0     IEEE 802.11bgn  ESSID:"%s"  Nickname:"<WIFI@REALTEK>"
          Mode:Managed  Frequency:2.437 GHz  Access Point: 00:11:22:33:44:55
          Link Quality=70/100  Signal level=-50 dBm  Noise level=0 dBm
"""
NOT_ASSOCIATED = 'wlan0     unassociated  ESSID:off/any  Nickname:"<WIFI@REALTEK>"\n'


ESSID_WAIT = 10   # seconds a new ESSID may take to show (iwconfig runs beside the loop)


def essid_shown(server, expected):
    """Ask status.json until it names expected (it answers at once, with the name read last)."""
    essids = []
    wait_until(lambda: essids.append(server.get_json('/cgi-bin/status.json')[1]['wlan_essid'])
               or essids[-1] == expected, ESSID_WAIT)
    return essids[-1]


def test_wlan_essid_is_iwconfigs_read_again_only_when_the_link_reconnects(sd, tmp_path, start_server):
    runs = tmp_path / 'iwconfig-runs'
    output = tmp_path / 'iwconfig-output'
    carrier = tmp_path / 'carrier_changes'
    iwconfig = sd.write('yi-hack/bin/iwconfig', '#!/bin/sh\necho "$*" >> %s\ncat %s\n' % (runs, output))
    os.chmod(iwconfig, 0o755)
    output.write_text(IWCONFIG_OUTPUT % 'Home Net')
    carrier.write_text('3\n')
    server = start_server('--wlan-carrier', str(carrier))
    assert essid_shown(server, 'Home Net') == 'Home Net'
    for _ in range(5):
        assert server.get_json('/cgi-bin/status.json')[1]['wlan_essid'] == 'Home Net'
    assert runs.read_text() == 'wlan0\n'            # once, not once per request
    output.write_text(IWCONFIG_OUTPUT % 'Office')      # a reconnect, elsewhere
    assert server.get_json('/cgi-bin/status.json')[1]['wlan_essid'] == 'Home Net'
    carrier.write_text('5\n')
    assert essid_shown(server, 'Office') == 'Office'
    output.write_text(NOT_ASSOCIATED)
    carrier.write_text('6\n')
    assert essid_shown(server, 'N/A') == 'N/A'
    assert runs.read_text() == 'wlan0\n' * 3

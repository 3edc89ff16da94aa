"""reset.sh: etc/defaults.tar.bz2 replaces the settings, as the firmware's, but
only once the archive has been read and checked whole."""
import bz2
import io
import os
import tarfile

import pytest

from conftest import prepared

pytestmark = pytest.mark.arch   # also on 32-bit ARM and MIPS (musl) under qemu

DEFAULT_SYSTEM = b'HTTPD=yes\nHTTPD_PORT=8080\nRTSP=yes\n'
DEFAULT_CAMERA = b'SWITCH_ON=yes\nLED=no\n'


def archive(members, compress=True):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode='w', format=tarfile.USTAR_FORMAT) as t:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            if kind == 'link':
                info.type, info.linkname = tarfile.SYMTYPE, '/etc/passwd'
            else:
                info.size = len(data)
            t.addfile(info, io.BytesIO(data) if kind != 'link' else None)
    return bz2.compress(raw.getvalue()) if compress else raw.getvalue()


def good(*extra):
    return [('system.conf', DEFAULT_SYSTEM, 'file'), ('camera.conf', DEFAULT_CAMERA, 'file'),
            ('mqttv4.conf', b'MQTT_IP=\n', 'file')] + list(extra)


def settings(sd):
    sd.write('yi-hack/etc/hostname', 'garden\n')
    sd.write('yi-hack/etc/proxychains.conf', 'socks5 1.2.3.4 1080\n')
    sd.write('yi-hack/etc/ptz_presets.conf', '0=Door,1,2\n')
    sd.set_conf('system.conf', 'HTTPD_PORT', '8888')


def files_gone(path):
    if os.path.exists(path):
        os.remove(path)


@pytest.fixture
def card(request, sd):
    return prepared(request, sd, settings)


def test_reset_puts_the_defaults_back_and_removes_what_they_lack(server, card):
    card.write('yi-hack/etc/defaults.tar.bz2', archive(good()))
    assert server.get_json('/cgi-bin/reset.sh') == (200, {'error': 'false'})
    etc = card.file('yi-hack/etc/')
    assert card.read('yi-hack/etc/system.conf') == DEFAULT_SYSTEM
    assert card.read('yi-hack/etc/camera.conf') == DEFAULT_CAMERA
    assert not os.path.exists(etc + 'hostname') and not os.path.exists(etc + 'proxychains.conf')
    assert card.read('yi-hack/etc/ptz_presets.conf') == b'0=Door,1,2\n'   # not one the firmware resets
    assert [n for n in os.listdir('/tmp') if n.startswith('yihttpd-reset-%d' % server.proc.pid)] == []


@pytest.mark.table
@pytest.mark.parametrize('content', [
    None,                                                   # no defaults on the card
    b'not bzip2 at all',
    archive(good())[:-20],                                  # cut short
    archive(good(), compress=False),                        # a plain tar
    archive(good()[1:]),                                    # no system.conf
    archive(good(('../yi-hack/bin/evil', b'x', 'file'))),   # a path out of etc
    archive(good(('run.sh', b'#!/bin/sh\n', 'file'))),      # not a settings file
    archive(good(('hostname', b'', 'link'))),               # a link
    archive(good(('big.conf', b'A=' + b'x' * 70000, 'file'))),
    bz2.compress(bytes(50 << 20)),                          # a bomb of zeros
])
def test_a_missing_or_refused_archive_resets_nothing(server, card, content):
    if content is None:
        files_gone(card.file('yi-hack/etc/defaults.tar.bz2'))
    else:
        card.write('yi-hack/etc/defaults.tar.bz2', content)
    before = card.snapshot()
    status, body = server.get_json('/cgi-bin/reset.sh')
    assert status == 503 and body['error'] == 'true'
    assert 'nothing was reset' in body['message']
    assert card.snapshot() == before
    assert [n for n in os.listdir('/tmp') if n.startswith('yihttpd-reset-%d' % server.proc.pid)] == []


def test_a_link_in_place_of_the_archive_is_not_followed(server, card, tmp_path):
    target = tmp_path / 'elsewhere.tar.bz2'
    target.write_bytes(archive(good()))
    os.symlink(str(target), card.file('yi-hack/etc/defaults.tar.bz2'))
    before = card.snapshot()
    assert server.get_json('/cgi-bin/reset.sh')[0] == 503
    assert card.snapshot() == before


def killed_reset(killed_mid_switch, point):
    """reset.sh killed at point of its switch: (etc/ as the kill left it, the server started again)."""
    def send(server):
        try:
            server.get('/cgi-bin/reset.sh')
        except OSError:
            pass   # killed before it answered
    return killed_mid_switch(point, send)


def test_a_reset_killed_before_its_switch_began_leaves_the_old_settings(card, killed_mid_switch):
    card.write('yi-hack/etc/defaults.tar.bz2', archive(good()))
    before = card.snapshot()
    left, server = killed_reset(killed_mid_switch, 'staged')
    assert left['system.conf'] != DEFAULT_SYSTEM and 'hostname' in left
    assert card.snapshot() == before
    assert 'the old set stays' in server.log()


def test_a_reset_killed_half_way_through_its_switch_is_finished_at_the_next_start(card, killed_mid_switch):
    card.write('yi-hack/etc/defaults.tar.bz2', archive(good()))
    left, server = killed_reset(killed_mid_switch, 'switching')
    assert left['system.conf'] == DEFAULT_SYSTEM and left['camera.conf'] != DEFAULT_CAMERA   # mixed when killed
    assert 'hostname' in left and 'proxychains.conf' in left
    assert card.read('yi-hack/etc/system.conf') == DEFAULT_SYSTEM
    assert card.read('yi-hack/etc/camera.conf') == DEFAULT_CAMERA
    assert card.read('yi-hack/etc/mqttv4.conf') == b'MQTT_IP=\n'
    etc = os.listdir(card.etc)
    assert 'hostname' not in etc and 'proxychains.conf' not in etc and '.yihttpd-switch' not in etc
    assert card.read('yi-hack/etc/ptz_presets.conf') == b'0=Door,1,2\n'
    assert 'the new set is in place' in server.log()

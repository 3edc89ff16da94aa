"""reboot.sh and fw_upgrade.sh: answer first, then reboot; upgrade only from safe archives."""
import http.server
import io
import json
import os
import shlex
import tarfile
import threading
import time

import pytest

from harness import wait_until

NEW_VERSION = '0.4.2'
RELEASE_JSON = json.dumps({'url': 'https://example.invalid/releases/1', 'id': 1,
                           'author': {'login': 'someone', 'id': 2},
                           'tag_name': NEW_VERSION, 'name': 'release'}).encode()
LATEST_TIMEOUT = 5      # the bound for the release URL
MARGIN = 3              # seconds of slack for a busy 2-core machine
SLOW_RELEASE = 9        # seconds the stalled release URL takes to answer (beyond the bound)
QUICK_ANSWER = 1.0      # seconds within which another client must be answered meanwhile
LOCAL_ARCHIVE = 'y211ga_x.x.x.tgz'


class ReleaseServer:
    """A loopback HTTP server standing in for the firmware's release site."""

    def __init__(self):
        self.files = {}
        self.stall = {}
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                time.sleep(owner.stall.get(self.path, 0))
                data = owner.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.url = 'http://127.0.0.1:%d' % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def release():
    server = ReleaseServer()
    yield server
    server.close()


def tgz(members):
    """A gzip tar of members: (name, bytes) files, or (name, tarfile type, link target)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w:gz', format=tarfile.GNU_FORMAT) as tar:
        for member in members:
            info = tarfile.TarInfo(member[0])
            if len(member) == 2:
                info.size = len(member[1])
                tar.addfile(info, io.BytesIO(member[1]))
            else:
                info.type, info.linkname = member[1], member[2]
                tar.addfile(info)
    return out.getvalue()


FIRMWARE = (
    ('yi-hack/version', NEW_VERSION.encode() + b'\n'),
    ('yi-hack/etc/system.conf', b'HTTPD_PORT=8080\nFROM_ARCHIVE=yes\n'),
    ('yi-hack/bin/tool', b'\x7fELF' + bytes(200000)),
    ('./Factory/home.tar', b'factory'),
)


@pytest.fixture
def reboot_marker(tmp_path):
    """(marker path, --reboot-cmd args): the stand-in reboot appends the time to the marker."""
    marker = str(tmp_path / 'rebooted')
    script = tmp_path / 'reboot.sh'
    script.write_text('#!/bin/sh\ndate +%%s.%%N >>%s\n' % shlex.quote(marker))
    script.chmod(0o755)
    return marker, ('--reboot-cmd', shlex.quote(str(script)))


def rebooted_at(marker):
    """When the stand-in reboot ran: the time it wrote, once its whole line is there."""
    def line():
        text = open(marker).read() if os.path.exists(marker) else ''
        return text if text.endswith('\n') else None
    text = wait_until(line)
    assert text, 'the reboot command did not run'
    return float(text.split()[0])


def assert_not_rebooted(server, marker):
    """The reboot command was never started: a request answered after the last answer's
    after-sent step shows whether that step logged a reboot."""
    assert server.get('/cgi-bin/hostname.js')[0] == 200
    assert 'rebooting' not in server.log()
    assert not os.path.exists(marker)


def run(start_server, tmp_path, *args):
    return start_server('--tmp-dir', str(tmp_path), *args)


UPGRADING = 'Download completed, rebooting and upgrading.'   # the firmware's sentences
NO_NEW_FIRMWARE = 'No new firmware available.'
NO_SPACE = 'No space left on SD.'
NO_DOWNLOAD = 'Unable to download firmware file.'


def get_upgrade(server):
    """The firmware's page takes any get=upgrade answer as 200 text to show: (status, type, text)."""
    status, headers, body = server.get('/cgi-bin/fw_upgrade.sh?get=upgrade', timeout=30)
    return status, headers['content-type'], body.decode()


def test_reboot_answers_before_the_reboot_command_takes_the_server_down(start_server, tmp_path):
    """The stand-in kills the server like a reboot would: the client still has its whole answer."""
    marker = tmp_path / 'rebooted'
    pid_file = tmp_path / 'server.pid'
    script = tmp_path / 'reboot.sh'
    script.write_text('#!/bin/sh\necho rebooted >%s\nkill -9 "$(cat %s)"\n' % (
        shlex.quote(str(marker)), shlex.quote(str(pid_file))))
    script.chmod(0o755)
    server = run(start_server, tmp_path, '--reboot-cmd', shlex.quote(str(script)))
    pid_file.write_text(str(server.proc.pid))
    assert server.get_json('/cgi-bin/reboot.sh') == (200, {'error': 'false'})
    server.proc.wait(10)
    assert marker.read_text() == 'rebooted\n'


def test_reboot_from_another_site_is_refused_and_runs_nothing(start_server, tmp_path, reboot_marker):
    marker, args = reboot_marker
    server = run(start_server, tmp_path, *args)
    status, _ = server.get_json('/cgi-bin/reboot.sh', headers={'Origin': 'http://evil.example'})
    assert status == 403
    assert_not_rebooted(server, marker)


def test_fw_info_gives_installed_latest_and_local_firmware(start_server, tmp_path, sd, release):
    release.files['/latest'] = RELEASE_JSON
    server = run(start_server, tmp_path, '--release-url', release.url + '/latest')
    assert server.get_json('/cgi-bin/fw_upgrade.sh?get=info') == (200, {
        'error': 'false', 'fw_version': '0.4.1', 'latest_fw': NEW_VERSION, 'local_fw': False})
    sd.write(LOCAL_ARCHIVE, tgz(FIRMWARE))
    assert server.get_json('/cgi-bin/fw_upgrade.sh?get=info')[1]['local_fw'] is True


def test_fw_info_answers_without_latest_when_the_release_url_fails(start_server, tmp_path, release):
    server = run(start_server, tmp_path, '--release-url', release.url + '/missing')
    status, body = server.get_json('/cgi-bin/fw_upgrade.sh?get=info')
    assert status == 200 and body['latest_fw'] == '' and body['fw_version'] == '0.4.1'


def test_a_stalled_release_url_gives_empty_latest_in_5s_and_blocks_no_one(start_server, tmp_path, release,
                                                                          meanwhile):
    release.files['/latest'] = RELEASE_JSON
    release.stall['/latest'] = SLOW_RELEASE
    server = run(start_server, tmp_path, '--release-url', release.url + '/latest')
    answer, took, other = meanwhile(server, '/cgi-bin/fw_upgrade.sh?get=info')
    assert other < QUICK_ANSWER
    assert json.loads(answer[2])['latest_fw'] == ''
    assert LATEST_TIMEOUT - 0.5 <= took < LATEST_TIMEOUT + MARGIN


def assert_upgraded(sd, settings_before):
    assert sd.read('yi-hack/version') == NEW_VERSION.encode() + b'\n'
    assert sd.read('yi-hack/etc/system.conf') == settings_before
    assert len(sd.read('yi-hack/bin/tool')) == 200004
    assert sd.read('Factory/home.tar') == b'factory'
    assert sd.read('.fw_upgrade.old/yi-hack/version') == b'0.4.1\n'
    assert sd.read('record/2020Y01M01D01H/00M00S60.mp4') == b'video'
    assert not os.path.exists(sd.file('.fw_upgrade'))


def test_upgrade_from_the_local_archive_keeps_settings_then_reboots(start_server, tmp_path, sd,
                                                                    reboot_marker):
    marker, args = reboot_marker
    sd.set_conf('system.conf', 'HTTPD_PORT', '8181')
    sd.add_video('2020Y01M01D01H', '00M00S60')
    settings = sd.read('yi-hack/etc/system.conf')
    sd.write(LOCAL_ARCHIVE, tgz(FIRMWARE))
    server = run(start_server, tmp_path, *args)
    answer = get_upgrade(server)
    answered = time.time()
    assert answer == (200, 'text/html', UPGRADING)
    assert rebooted_at(marker) >= answered - 1
    assert_upgraded(sd, settings)
    assert not os.path.exists(sd.file(LOCAL_ARCHIVE))


OWNER_STARTUP = b'#!/bin/sh\n# the owner\'s own boot lines\necho started >/tmp/owner\n'
HOOK = b'sh /tmp/sd/yi-hack/script/yihttpd.sh start\n'   # README's install step 3
FIRMWARE_STARTUP = b'#!/bin/sh\n# startup.sh as a new firmware might ship it\n'
FIRMWARE_PAGE = (
    ('yi-hack/www/index.html', b'<html>the new firmware page</html>'),
    ('yi-hack/script/service.sh', b'#!/bin/sh\n# the new firmware\'s service script\n'),
)
KEPT = ('yi-hack/yihttpd/', 'yi-hack/yihttpd-defaults/', 'yi-hack/yihttpd-startup.sh',
        'yi-hack/yihttpd.sha256', 'yi-hack/script/yihttpd.sh')


def install_payload(sd):
    """The SD-card payload unpacked onto the card, as README's install says; its files."""
    import build_payload
    payload = dict(build_payload.payload_files(None))
    for path, data in payload.items():
        if not path.startswith('yi-hack/etc/'):
            sd.write(path, data)
    return payload


@pytest.mark.parametrize('startup_before, archive_startup, startup_after', [
    (OWNER_STARTUP + HOOK, None, OWNER_STARTUP + HOOK),               # the owner's file goes on
    (OWNER_STARTUP + HOOK, FIRMWARE_STARTUP, FIRMWARE_STARTUP + HOOK),  # the hook is added back
    (OWNER_STARTUP, FIRMWARE_STARTUP, FIRMWARE_STARTUP),             # no hook before: none after
], ids=['archive-without-startup', 'archive-with-startup', 'not-hooked'])
def test_an_upgrade_keeps_yihttpd_its_boot_hook_and_the_owner_confs(
        start_server, tmp_path, sd, reboot_marker, startup_before, archive_startup, startup_after):
    """Before: the new yi-hack/ replaced the old whole, yihttpd and its hook with it."""
    marker, args = reboot_marker
    payload = install_payload(sd)
    sd.write('yi-hack/startup.sh', startup_before)
    sd.set_conf('system.conf', 'HTTPD_PORT', '8181')
    sd.set_conf('mqtt_advertise.conf', 'HOMEASSISTANT_NAME', 'Porch')
    etc_before = {name: sd.read('yi-hack/etc/' + name) for name in os.listdir(sd.etc)}
    archive = list(FIRMWARE + FIRMWARE_PAGE)
    if archive_startup is not None:
        archive.append(('yi-hack/startup.sh', archive_startup))
    sd.write(LOCAL_ARCHIVE, tgz(archive))
    server = run(start_server, tmp_path, *args)
    assert get_upgrade(server) == (200, 'text/html', UPGRADING)
    assert rebooted_at(marker)
    kept = [path for path in payload if path.startswith(KEPT)]
    assert len(kept) > 20 and 'yi-hack/yihttpd/app.py' in kept
    for path in kept:
        assert sd.read(path) == payload[path], path
    assert sd.read('yi-hack/startup.sh') == startup_after
    assert {name: sd.read('yi-hack/etc/' + name) for name in os.listdir(sd.etc)} == etc_before
    for path, data in FIRMWARE_PAGE:
        assert sd.read(path) == data
    assert sd.read('yi-hack/version') == NEW_VERSION.encode() + b'\n'
    assert sd.read('.fw_upgrade.old/yi-hack/yihttpd/app.py') == payload['yi-hack/yihttpd/app.py']


def test_upgrade_downloads_the_latest_release(start_server, tmp_path, sd, release, reboot_marker):
    marker, args = reboot_marker
    sd.add_video('2020Y01M01D01H', '00M00S60')
    settings = sd.read('yi-hack/etc/system.conf')
    release.files['/latest'] = RELEASE_JSON
    release.files['/download/%s/y211ga_%s.tgz' % (NEW_VERSION, NEW_VERSION)] = tgz(FIRMWARE)
    server = run(start_server, tmp_path, '--release-url', release.url + '/latest',
                 '--download-url', release.url + '/download/{tag}/{model}_{tag}.tgz', *args)
    assert get_upgrade(server) == (200, 'text/html', UPGRADING)
    assert rebooted_at(marker)
    assert_upgraded(sd, settings)
    assert not os.path.exists(sd.file('.fw_upgrade.tgz'))


@pytest.mark.parametrize('missing', ['release info', 'archive'])
def test_an_upgrade_that_cannot_download_says_so_as_the_firmware_does(
        start_server, tmp_path, sd, release, reboot_marker, missing):
    """Before: 503 JSON, and the firmware's page stayed on "download in progress"."""
    marker, args = reboot_marker
    if missing == 'archive':
        release.files['/latest'] = RELEASE_JSON
    before = sd.snapshot()
    server = run(start_server, tmp_path, '--release-url', release.url + '/latest',
                 '--download-url', release.url + '/download/{tag}/{model}_{tag}.tgz', *args)
    assert get_upgrade(server) == (200, 'text/html', NO_DOWNLOAD)
    assert sd.snapshot() == before
    assert_not_rebooted(server, marker)


def test_upgrade_without_a_newer_release_changes_nothing(start_server, tmp_path, sd, release,
                                                         reboot_marker):
    marker, args = reboot_marker
    release.files['/latest'] = RELEASE_JSON
    sd.write('yi-hack/version', NEW_VERSION + '\n')
    before = sd.snapshot()
    server = run(start_server, tmp_path, '--release-url', release.url + '/latest', *args)
    assert get_upgrade(server) == (200, 'text/html', NO_NEW_FIRMWARE)
    assert sd.snapshot() == before
    assert_not_rebooted(server, marker)


def test_upgrade_is_refused_without_enough_free_space(start_server, tmp_path, sd, reboot_marker):
    marker, args = reboot_marker
    sd.write(LOCAL_ARCHIVE, tgz(FIRMWARE))
    before = sd.snapshot()
    server = run(start_server, tmp_path, '--upgrade-min-free-mb', '100000000', *args)
    assert get_upgrade(server) == (200, 'text/html', NO_SPACE)
    assert 'MB needed' in server.log()
    assert sd.snapshot() == before
    assert_not_rebooted(server, marker)


HOSTILE = (
    [('../escaped', b'x')],
    [('yi-hack/../../escaped', b'x')],
    [('/tmp/escaped-absolute', b'x')],
    [('yi-hack/version', b'0.4.2'), ('yi-hack/link', tarfile.SYMTYPE, '/etc')],
    [('yi-hack/link', tarfile.SYMTYPE, '..'), ('yi-hack/link/escaped', b'x')],
    [('yi-hack/hard', tarfile.LNKTYPE, '/etc/passwd')],
    [('yi-hack/dev', tarfile.CHRTYPE, '')],
    [('record/2020Y01M01D01H/00M00S60.mp4', b'replaced')],
    [('.fw_upgrade.old/x', b'x')],
)


def test_hostile_archives_are_refused_and_change_nothing(start_server, tmp_path, sd, reboot_marker):
    marker, args = reboot_marker
    sd.add_video('2020Y01M01D01H', '00M00S60')
    server = run(start_server, tmp_path, *args)
    good = tgz(FIRMWARE)
    cut_short = good[:len(good) // 2]
    bad_checksum = good[:-8] + bytes(8)
    for members in HOSTILE + (b'not a gzip archive', cut_short, bad_checksum):
        sd.write(LOCAL_ARCHIVE, tgz(members) if isinstance(members, list) else members)
        before = sd.snapshot()
        status, kind, text = get_upgrade(server)
        assert (status, kind) == (200, 'text/html'), members
        assert text.startswith('Firmware file refused: '), members
        assert sd.snapshot() == before, members
    assert not os.path.exists(str(tmp_path / 'escaped'))
    assert not os.path.exists('/tmp/escaped-absolute')
    assert_not_rebooted(server, marker)


BOMB_MIB = 300   # a member that inflates past the 256 MiB an upgrade unpacks at most


def test_an_archive_that_inflates_past_256_mib_is_refused_before_writing_it(
        start_server, tmp_path, sd, reboot_marker, gzip_bomb):
    # Before: any member up to 1 GiB, and 10000 of them, were written to the card.
    marker, args = reboot_marker
    header = tarfile.TarInfo('yi-hack/bin/huge')
    header.size = BOMB_MIB << 20
    sd.write(LOCAL_ARCHIVE, gzip_bomb(header.tobuf(format=tarfile.GNU_FORMAT), BOMB_MIB))
    server = run(start_server, tmp_path, *args)
    before = sd.snapshot()
    started = time.monotonic()
    status, _kind, text = get_upgrade(server)
    assert time.monotonic() - started < QUICK_ANSWER + MARGIN
    assert status == 200 and 'more than 256 MiB' in text
    assert sd.snapshot() == before
    assert_not_rebooted(server, marker)


def test_fw_upgrade_needs_a_known_get(start_server, tmp_path):
    server = run(start_server, tmp_path)
    assert server.get_json('/cgi-bin/fw_upgrade.sh?get=everything')[0] == 400

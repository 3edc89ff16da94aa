"""The SD-card payload: built reproducibly, unpacked onto a card, run by its start script.

The start script runs under busybox sh (the camera's shell) and dash, with
its paths pointed at a temporary SD root; a real busybox httpd stands in for
the firmware's web server that it must replace.
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile

import pytest

from harness import ARCH_RUNTIMES, REPO, free_port, listening, micropython_path, mpy_cross_path

BUILD_SCRIPT = os.path.join(REPO, 'build_payload.py')
START_SCRIPT = 'yi-hack/script/yihttpd.sh'
MANIFEST = 'yi-hack/yihttpd.sha256'
READY_TIMEOUT = 20.0    # s: stop the firmware httpd, boot the server, on a busy 2-core box
SCRIPT_TIMEOUT = 30.0   # s: one start/stop/status call (stop waits up to 5 s per process)
HOUR_DIR = '2024Y01M02D03H'
VIDEO = '04M05S60.mp4'
OWNER_SYSTEM_CONF = '# the owner\'s own settings\nHTTPD=yes\nHTTPD_PORT=%d\nRTSP=no\n'

# (package variant, runtime, shell): the camera's MicroPython 1.26.1 as its
# yi-hack/bin/python3, with both variants, and the 32-bit ARM build under
# qemu-arm; CPython once; busybox sh as on the camera, and dash once.
CASES = [('mpy', 'micropython', 'busybox'), ('source', 'micropython', 'busybox'),
         ('mpy', 'armhf', 'busybox'), ('source', 'cpython', 'dash')]


def build(out, mpy):
    argv = [sys.executable, BUILD_SCRIPT, '--out', str(out)] + (['--mpy'] if mpy else [])
    subprocess.run(argv, check=True, cwd=REPO, stdout=subprocess.PIPE)
    return str(out)


@pytest.fixture(scope='module')
def archives(tmp_path_factory):
    """{'source': path, 'mpy': path} of the .tar.gz of each variant, built once."""
    out = tmp_path_factory.mktemp('payload')
    return {variant: build(out / ('payload-%s.tar.gz' % variant), variant == 'mpy')
            for variant in ('source', 'mpy')}


def tar_contents(path):
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def zip_contents(path):
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def shell_argv(shell):
    return ['busybox', 'sh'] if shell == 'busybox' else [shell]


def http_get(port, path, timeout=5):
    """(status, body) of a GET on the loopback port."""
    try:
        with urllib.request.urlopen('http://127.0.0.1:%d%s' % (port, path), timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def alive(pid):
    """Running, not a zombie."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rpartition(')')[2].split()[0] != 'Z'
    except OSError:
        return False


class FakeFirmwareHttpd:
    """busybox httpd run as `httpd -p ADDR:PORT`, the way the firmware starts it."""

    def __init__(self, base, port):
        bindir = os.path.join(base, 'bin')
        os.makedirs(bindir, exist_ok=True)
        httpd = os.path.join(bindir, 'httpd')
        if not os.path.exists(httpd):
            os.symlink(shutil.which('busybox'), httpd)
        self.proc = subprocess.Popen([httpd, '-f', '-p', '127.0.0.1:%d' % port, '-h', base],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.port = port
        wait_until(lambda: listening(port), 5, 'busybox httpd did not start')

    def running(self):
        return self.proc.poll() is None

    def stop(self):
        if self.running():
            self.proc.kill()
        self.proc.wait()


def wait_until(check, timeout, message):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(message)


class Card:
    """A temporary SD root with the payload unpacked, and its start script."""

    def __init__(self, base, archive, runtime, shell):
        self.base = str(base)
        self.root = os.path.join(self.base, 'sd')
        self.run_dir = os.path.join(self.base, 'run')
        self.log_path = os.path.join(self.run_dir, 'yihttpd.log')
        self.port = free_port()
        self.shell = shell
        self.write('yi-hack/etc/system.conf', OWNER_SYSTEM_CONF % self.port)
        self.write('yi-hack/version', '0.4.1\n')
        self.write('yi-hack/model_suffix', 'y211ga\n')
        self.video = os.urandom(100000)
        self.write('record/%s/%s' % (HOUR_DIR, VIDEO), self.video)
        with tarfile.open(archive) as tar:
            tar.extractall(self.root)
        self.env = dict(os.environ, YIHTTPD_RUN_DIR=self.run_dir,
                        YIHTTPD_LOG=self.log_path, YIHTTPD_BACKOFF_MIN='1',
                        YIHTTPD_ARGS='--bind 127.0.0.1 --ipc record')
        if runtime == 'cpython':
            self.env['YIHTTPD_PYTHON'] = sys.executable
        else:   # as on the camera: found by the script, no micropython anywhere else
            self.install('yi-hack/bin/python3', micropython_path(runtime))
            os.makedirs(os.path.join(self.root, 'yi-hack', 'lib'))

    def install(self, rel, program):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copy(program, path)
        return path

    def write(self, rel, data):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(data.encode() if isinstance(data, str) else data)

    def read(self, rel):
        with open(os.path.join(self.root, rel), 'rb') as f:
            return f.read()

    def script(self, command):
        """Run the start script: (exit status, output)."""
        done = subprocess.run(shell_argv(self.shell) + [os.path.join(self.root, START_SCRIPT), command],
                              env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=SCRIPT_TIMEOUT)
        return done.returncode, done.stdout.decode()

    def pid(self, name):
        try:
            with open(os.path.join(self.run_dir, name)) as f:
                return int(f.read())
        except (OSError, ValueError):
            return None

    def server_pid(self):
        return self.pid('yihttpd.pid')

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ''

    def wait_serving(self, not_pid=None):
        """Wait for status.json from a server other than not_pid; its pid."""
        def serving():
            pid = self.server_pid()
            return pid and pid != not_pid and alive(pid) and listening(self.port) and \
                http_get(self.port, '/cgi-bin/status.json')[0] == 200
        wait_until(serving, READY_TIMEOUT, 'not serving; log:\n' + self.log())
        return self.server_pid()

    def clean_up(self):
        """Stop whatever the script left, by pid, even when a test failed half way."""
        self.script('stop')
        for name in ('yihttpd-watchdog.pid', 'yihttpd.pid'):
            pid = self.pid(name)
            if pid and alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(params=CASES, ids=['-'.join(case) for case in CASES])
def card(request, tmp_path, archives):
    variant, runtime, shell = request.param
    made = Card(tmp_path, archives[variant], runtime, shell)
    yield made
    made.clean_up()


@pytest.fixture
def firmware_httpds(card, tmp_path):
    """The firmware's httpd on the card's port, and another httpd that is not ours to stop."""
    ours = FakeFirmwareHttpd(str(tmp_path / 'www-firmware'), card.port)
    other = FakeFirmwareHttpd(str(tmp_path / 'www-other'), free_port())
    yield ours, other
    ours.stop()
    other.stop()


def test_start_replaces_firmware_httpd_and_serves_status_page_and_records(card, firmware_httpds):
    firmware, other = firmware_httpds
    status, output = card.script('start')
    assert status == 0, output
    card.wait_serving()
    assert not firmware.running()
    assert other.running()
    status, body = http_get(card.port, '/cgi-bin/status.json')
    assert status == 200 and 'hostname' in json.loads(body)
    status, body = http_get(card.port, '/')
    assert status == 200 and body == card.read('yi-hack/www/index.html')
    status, body = http_get(card.port, '/record/%s/%s' % (HOUR_DIR, VIDEO))
    assert status == 200 and body == card.video
    assert card.script('status')[0] == 0


def test_start_keeps_owner_confs_and_adds_only_missing_defaults(card):
    card.script('start')
    card.wait_serving()
    # the one key the page needs to show the allowed names, added to the owner's own file
    assert card.read('yi-hack/etc/system.conf') == (OWNER_SYSTEM_CONF % card.port).encode() + \
        b'HTTPD_ALLOW_HOST=\n'
    card.script('stop')
    card.script('start')   # once only
    card.wait_serving()
    assert card.read('yi-hack/etc/system.conf').count(b'HTTPD_ALLOW_HOST') == 1
    for name in ('camera.conf', 'mqttv4.conf', 'hostname'):
        assert card.read('yi-hack/etc/' + name) == card.read('yi-hack/yihttpd-defaults/' + name)


def test_watchdog_restarts_a_killed_server(card):
    card.script('start')
    first = card.wait_serving()
    os.kill(first, signal.SIGKILL)
    second = card.wait_serving(not_pid=first)
    assert second != first
    assert 'restarting in 1s' in card.log()


def test_stop_ends_server_and_watchdog(card):
    card.script('start')
    server = card.wait_serving()
    watchdog = card.pid('yihttpd-watchdog.pid')
    status, output = card.script('stop')
    assert status == 0, output
    assert not alive(server) and not alive(watchdog)
    assert not listening(card.port)
    assert card.script('status')[0] == 3


def test_start_twice_keeps_one_server(card):
    card.script('start')
    server = card.wait_serving()
    status, output = card.script('start')
    assert status == 0 and 'already running' in output
    time.sleep(0.5)
    assert card.server_pid() == server and alive(server)


def test_start_after_a_killed_watchdog_replaces_its_orphaned_server(card):
    card.script('start')
    orphan = card.wait_serving()
    os.kill(card.pid('yihttpd-watchdog.pid'), signal.SIGKILL)
    status, output = card.script('start')
    assert status == 0, output
    assert card.wait_serving(not_pid=orphan) != orphan
    assert not alive(orphan)


def test_httpd_off_in_system_conf_starts_nothing(tmp_path, archives):
    made = Card(tmp_path, archives['source'], 'cpython', 'busybox')
    made.write('yi-hack/etc/system.conf', 'HTTPD=no\nHTTPD_PORT=%d\n' % made.port)
    firmware = FakeFirmwareHttpd(str(tmp_path / 'www-firmware'), made.port)
    try:
        status, output = made.script('start')
        assert status == 0 and 'stays off' in output
        time.sleep(0.5)
        assert firmware.running() and made.server_pid() is None
    finally:
        firmware.stop()
        made.clean_up()


@pytest.mark.parametrize('interpreter', ('micropython',) + ARCH_RUNTIMES)
def test_the_cameras_python3_runs_the_server_with_yi_hack_lib_and_a_heap_cap(
        tmp_path, archives, interpreter):
    """yi-hack-Allwinner-v2 ships MicroPython 1.26.1 as yi-hack/bin/python3 and libffi.so in yi-hack/lib."""
    made = Card(tmp_path, archives['mpy'], interpreter, 'busybox')
    try:
        status, output = made.script('start')
        assert status == 0 and 'with %s/yi-hack/bin/python3' % made.root in output, output
        pid = made.wait_serving()
        with open('/proc/%d/environ' % pid, 'rb') as f:
            environ = f.read().split(b'\0')
        lib = ('LD_LIBRARY_PATH=%s/yi-hack/lib' % made.root).encode()
        assert [v for v in environ if v == lib or v.startswith(lib + b':')], environ
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            assert b'heapsize=512K' in f.read().split(b'\0')
    finally:
        made.clean_up()


def test_an_interpreter_that_does_not_run_is_reported(tmp_path, archives):
    made = Card(tmp_path, archives['mpy'], 'micropython', 'busybox')
    made.write('yi-hack/bin/python3', '#!/bin/sh\necho "libffi.so.8: not found" >&2\nexit 127\n')
    try:
        status, output = made.script('start')
        assert status == 1 and 'does not run: libffi.so.8: not found' in output, output
        assert made.pid('yihttpd-watchdog.pid') is None
    finally:
        made.clean_up()


def test_mpy_payload_refuses_cpython_with_a_reason(tmp_path, archives):
    made = Card(tmp_path, archives['mpy'], 'cpython', 'busybox')
    try:
        status, output = made.script('start')
        assert status == 1 and 'needs MicroPython' in output
        assert made.pid('yihttpd-watchdog.pid') is None
    finally:
        made.clean_up()


@pytest.mark.parametrize('variant', ['source', 'mpy'])
def test_manifest_checks_with_busybox_sha256sum_on_the_card(tmp_path, archives, variant):
    with tarfile.open(archives[variant]) as tar:
        tar.extractall(str(tmp_path))
    done = subprocess.run(['busybox', 'sha256sum', '-c', MANIFEST], cwd=str(tmp_path),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert done.returncode == 0, done.stdout.decode()


def test_mpy_files_are_what_the_cameras_mpy_cross_makes(archives, tmp_path):
    """The .mpy header (format and sub-version) is the one MicroPython 1.26.1 loads."""
    files = tar_contents(archives['mpy'])
    compiled = str(tmp_path / 'probe.mpy')
    subprocess.run([mpy_cross_path(), '-s', 'yihttpd/cli.py', '-o', compiled,
                    os.path.join(REPO, 'yihttpd', 'cli.py')], check=True)
    header = open(compiled, 'rb').read()[:2]
    modules = [data for name, data in files.items() if name.endswith('.mpy')]
    assert header == b'M\x06' and modules and all(data[:2] == header for data in modules)
    assert files['yi-hack/yihttpd/cli.mpy'] == open(compiled, 'rb').read()


@pytest.mark.parametrize('variant', ['source', 'mpy'])
def test_building_twice_gives_identical_archives(tmp_path, variant):
    first = build(tmp_path / 'a' / 'p.tar.gz', variant == 'mpy')
    second = build(tmp_path / 'b' / 'p.tar.gz', variant == 'mpy')
    for suffix in ('.tar.gz', '.zip'):
        a = first.replace('.tar.gz', suffix)
        b = second.replace('.tar.gz', suffix)
        assert open(a, 'rb').read() == open(b, 'rb').read(), suffix


@pytest.mark.parametrize('variant', ['source', 'mpy'])
def test_archive_lays_out_package_page_script_defaults_and_manifest(archives, variant):
    files = tar_contents(archives[variant])
    assert zip_contents(archives[variant].replace('.tar.gz', '.zip')) == files
    module = '.mpy' if variant == 'mpy' else '.py'
    assert 'yi-hack/yihttpd/__main__' + module in files
    assert 'yi-hack/yihttpd/handlers/static' + module in files
    assert all(name.endswith(module) for name in files if name.startswith('yi-hack/yihttpd/'))
    assert files['yi-hack/www/index.html'] == open(os.path.join(REPO, 'www', 'index.html'), 'rb').read()
    assert START_SCRIPT in files and 'yi-hack/yihttpd-startup.sh' in files
    assert not any(name.startswith(('yi-hack/etc/', 'tests/')) or '__pycache__' in name
                   for name in files), 'the archive must not overwrite confs or carry caches'
    listed = {}
    for line in files[MANIFEST].decode().splitlines():
        digest, _, name = line.partition('  ')
        listed[name] = digest
    assert listed == {name: hashlib.sha256(data).hexdigest()
                      for name, data in files.items() if name != MANIFEST}


def test_archive_modes_owners_and_times_are_fixed(archives):
    with tarfile.open(archives['source']) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert {(m.uid, m.gid, m.mtime) for m in members} == {(0, 0, members[0].mtime)}
    modes = {m.name: m.mode for m in members}
    assert modes[START_SCRIPT] == 0o755 and modes['yi-hack/www/index.html'] == 0o644
    with open(archives['source'], 'rb') as f:
        assert f.read(8)[4:8] == b'\0\0\0\0', 'gzip header time must be 0'

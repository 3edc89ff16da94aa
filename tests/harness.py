"""The test and benchmark harness: runtimes, SD roots, the real server process.

Plain Python (no pytest), so bench/ scripts use it too.
"""
import http.client
import os
import random
import shutil
import socket
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAYLOAD_ETC = os.path.join(REPO, 'sdcard_payload', 'yi-hack', 'etc')
MICROPYTHON_HEAP = '512K'
SMALL_HEAP = '256K'    # the heap the .mpy payload must also serve the foundation tests in
START_TIMEOUT = 10.0
READY_POLL = 0.01   # seconds between tries to connect to a server starting up
PORT_TRIES = 5      # a port taken between the check and the server's bind: another one


class PortTaken(Exception):
    """The port free_port found was taken before the server bound it."""


# The runtimes a server test runs on: CPython, and the camera's MicroPython
# 1.26.1 with ffi built by tools/build-micropython.sh (x86-64, and the 32-bit
# musl builds for ARM and little-endian MIPS under qemu), each the name of
# its binary in the build's bin/.
MICROPYTHONS = {'micropython': 'micropython', 'armhf': 'micropython-armhf',
                'mipsel': 'micropython-mipsel'}
ARCH_RUNTIMES = ('armhf', 'mipsel')   # the camera CPUs, emulated: where word size and byte order show
BUILD_SCRIPT = os.path.join(REPO, 'tools', 'build-micropython.sh')
_build = []


def micropython_build():
    """The bin/ folder of the MicroPython 1.26.1 build (built on first use, then cached)."""
    if not _build:
        done = subprocess.run([BUILD_SCRIPT], stdout=subprocess.PIPE, check=True)
        _build.append(os.path.join(done.stdout.decode().strip(), 'bin'))
    return _build[0]


def micropython_path(runtime='micropython'):
    return os.path.join(micropython_build(), MICROPYTHONS[runtime])


def mpy_cross_path():
    return os.path.join(micropython_build(), 'mpy-cross')


# The runtimes that load the package as the camera does: compiled to .mpy
# (build_payload.py --mpy), which also spares the emulator the compiling.
MPY_RUNTIMES = ARCH_RUNTIMES
# What the package finds beside itself (the page, the demo's files, the payload's defaults).
BESIDE_PACKAGE = ('www', 'demo', 'sdcard_payload')


def source_key():
    """A digest of the package's sources: a compiled tree is reused only for the same."""
    import hashlib
    digest = hashlib.sha256()
    for base, dirs, names in sorted(os.walk(os.path.join(REPO, 'yihttpd'))):
        dirs.sort()
        for name in sorted(names):
            if name.endswith('.py'):
                path = os.path.join(base, name)
                digest.update(os.path.relpath(path, REPO).encode() + b'\0')
                with open(path, 'rb') as f:
                    digest.update(f.read())
    return digest.hexdigest()[:16]


def mpy_tree():
    """A folder holding the package compiled with mpy-cross 1.26.1, built once per source
    state (any test process may build it: the first complete one is renamed into place)."""
    cache = os.environ.get('YIHTTPD_CACHE', os.path.expanduser('~/.cache/yihttpd'))
    tree = os.path.join(cache, 'mpy', source_key())
    if os.path.isdir(tree):
        return tree
    scratch = '%s.%d.%d' % (tree, os.getpid(), random.randrange(1 << 30))
    for base, _dirs, names in os.walk(os.path.join(REPO, 'yihttpd')):
        target = os.path.join(scratch, os.path.relpath(base, REPO))
        os.makedirs(target)
        for name in names:
            if name.endswith('.py'):
                subprocess.run([mpy_cross_path(), '-o', os.path.join(target, name[:-3] + '.mpy'),
                                os.path.join(base, name)], cwd=REPO, check=True)
    for name in BESIDE_PACKAGE:
        os.symlink(os.path.join(REPO, name), os.path.join(scratch, name))
    try:
        os.rename(scratch, tree)
    except OSError:   # another process put its tree there first
        shutil.rmtree(scratch)
    return tree


def package_root(runtime, precompiled=None):
    """Where a MicroPython runtime imports yihttpd from: the checkout, or the .mpy
    tree (by default under qemu)."""
    if precompiled is None:
        precompiled = runtime in MPY_RUNTIMES
    return mpy_tree() if precompiled else REPO


def runtime_command(runtime, module='yihttpd', heap=MICROPYTHON_HEAP):
    """The argv prefix that runs a module of yihttpd under a runtime (None: the bare interpreter)."""
    run_module = ['-m', module] if module else []
    if runtime == 'cpython':
        return [sys.executable] + run_module
    return [micropython_path(runtime), '-X', 'heapsize=' + heap] + run_module


def runtime_env(runtime, precompiled=None):
    env = dict(os.environ, TZ='UTC0')   # event times are shown in TZ: the same on every machine
    if runtime == 'cpython':
        env['PYTHONPATH'] = REPO
    else:
        env['MICROPYPATH'] = package_root(runtime, precompiled)
    return env


# Servers' ports are taken below Linux's ephemeral range (32768-60999), so a
# client's own port never holds one; each pytest-xdist worker has a block of
# its own, walked from a random start (other test runs may share the machine).
PORT_BASE = 12000
PORT_BLOCK = 2000
_ports = []


def worker_number():
    """0 for the main pytest process or xdist's gw0, n for gwN."""
    name = os.environ.get('PYTEST_XDIST_WORKER', 'gw0')
    return int(name[2:]) if name[2:].isdigit() else 0


def listening(port):
    """Whether something takes connections on the loopback port."""
    try:
        socket.create_connection(('127.0.0.1', port), timeout=1).close()
        return True
    except OSError:
        return False


def free_port():
    """A loopback port nothing listens on or holds now."""
    if not _ports:
        _ports.append(random.randrange(PORT_BLOCK))
    block = PORT_BASE + (worker_number() % 10) * PORT_BLOCK
    for _ in range(PORT_BLOCK):
        _ports[0] = (_ports[0] + 1) % PORT_BLOCK
        port = block + _ports[0]
        with socket.socket() as s:
            try:
                s.bind(('127.0.0.1', port))
            except OSError:
                continue
        return port
    raise RuntimeError('no free port in %d-%d' % (block, block + PORT_BLOCK))


def lost_port_race(log):
    """Whether a process's start-up log says its port was taken meanwhile."""
    return 'EADDRINUSE' in log or 'Address already in use' in log or 'Errno 98' in log


WAIT = 10.0          # seconds a test waits for a state before it fails
WAIT_STEP = 0.01     # seconds between looks at it


def wait_until(predicate, timeout=WAIT, step=WAIT_STEP):
    """Look at predicate() until it is true or the time is up; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def running(word):
    """Pids of the processes whose command line holds word (a program's path, say)."""
    found = []
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            try:
                with open('/proc/%s/cmdline' % pid, 'rb') as f:
                    if word.encode() in f.read():
                        found.append(int(pid))
            except OSError:
                pass   # ended meanwhile
    return found


def unread_by_server(sock):
    """Bytes sent on sock that the server process has not read yet (the kernel's receive
    queue of its end, from /proc/net/tcp); None while the server has not accepted it."""
    host, port = sock.getsockname()
    peer_host, peer_port = sock.getpeername()
    server_end = '%s %s' % (tcp_address(peer_host, peer_port), tcp_address(host, port))
    with open('/proc/net/tcp') as f:
        for line in f:
            fields = line.split()
            if ' '.join(fields[1:3]) == server_end:
                return int(fields[4].partition(':')[2], 16)
    return None


def tcp_address(host, port):
    """An IPv4 address as /proc/net/tcp writes it: the address's bytes reversed, in hex."""
    return '%s:%04X' % (''.join('%02X' % int(part) for part in reversed(host.split('.'))), port)


def read_by_server(sock):
    """Wait until the server process has read everything sent on sock so far."""
    return wait_until(lambda: unread_by_server(sock) == 0)


def read_until_closed(sock):
    """Everything a socket receives until the server closes it (or the socket times out)."""
    chunks = []
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except socket.timeout:
        pass
    return b''.join(chunks)


class SdRoot:
    """A temporary SD root laid out like the camera's /tmp/sd."""

    def __init__(self, path):
        self.path = str(path)
        self.etc = os.path.join(self.path, 'yi-hack', 'etc')
        self.record = os.path.join(self.path, 'record')
        os.makedirs(self.etc)
        os.makedirs(self.record)
        for name in os.listdir(PAYLOAD_ETC):
            shutil.copy(os.path.join(PAYLOAD_ETC, name), self.etc)
        self.write('yi-hack/version', '0.4.1\n')
        self.write('yi-hack/model_suffix', 'y211ga\n')

    def file(self, rel):
        return os.path.join(self.path, rel)

    def write(self, rel, data):
        path = self.file(rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(data.encode() if isinstance(data, str) else data)
        return path

    def read(self, rel):
        with open(self.file(rel), 'rb') as f:
            return f.read()

    def set_conf(self, name, key, value):
        """Set KEY=VALUE in an etc/ conf (test set-up, not the server's code)."""
        path = os.path.join(self.etc, name)
        lines = open(path).read().split('\n')
        lines = [key + '=' + value if line.startswith(key + '=') else line for line in lines]
        with open(path, 'w') as f:
            f.write('\n'.join(lines))

    def add_video(self, dirname, stem, data=b'video', thumb=b'jpeg'):
        self.write('record/%s/%s.mp4' % (dirname, stem), data)
        if thumb is not None:
            self.write('record/%s/%s.jpg' % (dirname, stem), thumb)

    def add_hours(self, hours, videos_per_hour, start=(2020, 1, 1)):
        """A recording tree: `hours` consecutive hour directories from start, each with
        videos_per_hour one-byte videos (MMM00S60.mp4) and one-byte thumbnails.
        Returns the hour directory names, oldest first."""
        import datetime
        first = datetime.datetime(*start)
        names = []
        for n in range(hours):
            t = first + datetime.timedelta(hours=n)
            name = '%04dY%02dM%02dD%02dH' % (t.year, t.month, t.day, t.hour)
            directory = os.path.join(self.record, name)
            os.mkdir(directory)
            for minute in range(videos_per_hour):
                stem = os.path.join(directory, '%02dM00S60' % minute)
                for ext, data in (('.mp4', b'v'), ('.jpg', b'j')):
                    with open(stem + ext, 'wb') as f:
                        f.write(data)
            names.append(name)
        return names

    def snapshot(self):
        """Every path under the root with its size and content hash, to prove nothing changed."""
        import hashlib
        seen = {}
        for base, dirs, files in os.walk(self.path):
            for name in dirs + files:
                full = os.path.join(base, name)
                rel = os.path.relpath(full, self.path)
                if os.path.islink(full):
                    seen[rel] = 'link:' + os.readlink(full)
                elif os.path.isdir(full):
                    seen[rel] = 'dir'
                else:
                    seen[rel] = hashlib.sha256(open(full, 'rb').read()).hexdigest()
        return seen


class ServerProcess:
    """The real yihttpd process on a free loopback port."""

    def __init__(self, runtime, root, args=(), heap=MICROPYTHON_HEAP, module='yihttpd', env=None,
                 precompiled=None):
        for _ in range(PORT_TRIES):
            try:
                self.start(runtime, root, args, heap, module, env, precompiled)
                return
            except PortTaken:
                self.log_file.close()
        raise RuntimeError('%d ports in a row were taken before the server bound them' % PORT_TRIES)

    def start(self, runtime, root, args, heap, module, env, precompiled):
        if precompiled is None and runtime != 'cpython' and heap != MICROPYTHON_HEAP:
            precompiled = True   # a camera short of heap runs the .mpy payload (compiling takes heap)
        self.runtime = runtime
        self.root = root
        self.port = free_port()
        self.host = '127.0.0.1'
        self.url = 'http://%s:%d' % (self.host, self.port)
        self.log_path = os.path.join(os.path.dirname(root.rstrip('/')),
                                     'server-%s-%d.log' % (runtime, self.port))
        args = list(args)
        # The camera's queue is not here: unless a test picks a transport,
        # camera commands are appended to this file (read it back to check).
        self.ipc_record = os.path.join(os.path.dirname(root.rstrip('/')),
                                       'ipc-%s-%d.bin' % (runtime, self.port))
        if module == 'yihttpd' and '--ipc' not in args:
            args += ['--ipc', 'record', '--ipc-record', self.ipc_record]
        # Nor is this machine the camera: a loaded hostname goes to `true`,
        # never to `hostname` (which renamed the test machine as root).
        if module == 'yihttpd' and '--hostname-cmd' not in args:
            args += ['--hostname-cmd', 'true']
        cmd = runtime_command(runtime, module, heap) + [
            '--root', root, '--port', str(self.port), '--bind', self.host] + args
        self.log_file = open(self.log_path, 'wb')
        # MicroPython looks in its working folder ('') before MICROPYPATH: started in
        # the checkout it would load the sources, not the .mpy tree.
        cwd = REPO if runtime == 'cpython' else package_root(runtime, precompiled)
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=dict(runtime_env(runtime, precompiled), **(env or {})),
                                     stdout=self.log_file, stderr=subprocess.STDOUT)
        self.wait_ready()

    def wait_ready(self):
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            if self.proc.poll() is not None:
                log = self.log()
                if lost_port_race(log):
                    raise PortTaken()
                raise RuntimeError('server exited at start:\n' + log)
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(READY_POLL)
        raise RuntimeError('server did not listen in time:\n' + self.log())

    def handled(self, sock):
        """Wait until the server has read all that was sent on sock and acted on it: one
        loop handles a read in the callback that made it, so a request answered after
        the read comes after all it did."""
        assert read_by_server(sock)
        return self.get('/cgi-bin/hostname.js')[0] == 200

    def fds(self):
        """The descriptors the server process holds, as their link targets."""
        path = '/proc/%d/fd' % self.proc.pid
        found = []
        for name in os.listdir(path):
            try:
                found.append(os.readlink(os.path.join(path, name)))
            except OSError:
                pass   # closed meanwhile
        return found

    def sockets(self):
        """How many sockets the server holds: its listening one and its clients."""
        return sum(1 for target in self.fds() if target.startswith('socket:'))

    def holds(self, clients):
        """Wait until the server holds exactly this many client connections."""
        return wait_until(lambda: self.sockets() == 1 + clients)

    def log(self):
        self.log_file.flush()
        with open(self.log_path, 'rb') as f:
            return f.read().decode(errors='replace')

    def request(self, method, path, body=None, headers=None, timeout=10):
        """One request on a new connection: (status, headers dict lower-cased, body bytes)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def get(self, path, headers=None, timeout=10):
        return self.request('GET', path, headers=headers, timeout=timeout)

    def get_json(self, path, headers=None, timeout=10):
        import json
        status, _headers, body = self.get(path, headers, timeout)
        return status, json.loads(body)

    def raw(self, data, timeout=5):
        """Send raw bytes, return everything the server sends back until it closes."""
        with socket.create_connection((self.host, self.port), timeout=timeout) as s:
            s.sendall(data)
            return read_until_closed(s)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()

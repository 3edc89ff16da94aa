"""Shared fixtures: an SD root builder, the real server process, HTTP clients.

Every test that takes `server` (or `start_server`, or `runtime`) runs on
CPython and on the camera's MicroPython 1.26.1 with ffi (x86-64, heap
capped at 512K); modules marked `pytest.mark.arch` run again on the 32-bit
musl builds for ARM (under qemu-arm) and little-endian MIPS (under
qemu-mipsel), from the precompiled .mpy payload as the camera runs it. In
modules marked `pytest.mark.small_heap` (the foundation: HTTP, files,
limits, auth, status) MicroPython x86-64 runs that payload at 256K, the
heap it must keep fitting. A runtime that is missing fails the run; it is
never skipped.
"""
import os
import sys
import threading
import time
import zlib

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import ARCH_RUNTIMES, MICROPYTHON_HEAP, SdRoot, ServerProcess  # noqa: E402
from mqtt_harness import MqttSetup  # noqa: E402


RUNTIMES = ('cpython', 'micropython')
RAM_DISK = '/dev/shm'   # test SD roots live in RAM, as the camera's /tmp does: no disk waits


def pytest_configure(config):
    """Put the tests' temp folders on the RAM disk when there is one (xdist's workers
    get their own folder below it from the controller)."""
    if config.option.basetemp is None and os.path.isdir(RAM_DISK) and os.access(RAM_DISK, os.W_OK):
        config.option.basetemp = os.path.join(RAM_DISK, 'yihttpd-tests-%d-%d' % (
            os.getuid(), zlib.crc32(os.path.dirname(os.path.abspath(__file__)).encode())))


def pytest_generate_tests(metafunc):
    # Module scope: a module's tests run runtime by runtime, so its tables share servers.
    if 'runtime' in metafunc.fixturenames:
        arch = ARCH_RUNTIMES if metafunc.definition.get_closest_marker('arch') else ()
        metafunc.parametrize('runtime', RUNTIMES + arch, scope='module')


def server_kind(runtime, node):
    """(heap, precompiled) of the servers a test or a module's table starts: the .mpy
    package at harness.SMALL_HEAP for MicroPython in modules marked small_heap
    (bench/payload_heap.py sets another), else the runtime's default."""
    if runtime == 'micropython' and node.get_closest_marker('small_heap') is not None:
        return harness.SMALL_HEAP, True
    return MICROPYTHON_HEAP, None


def is_table_row(request):
    """A row of a table (marker `table`): it shares the module's card and servers."""
    return request.node.get_closest_marker('table') is not None


def row_table(request):
    """The Table a row shares: the module's, or its own card when the marker names one
    (`table('auth')`: tables whose cards must differ, e.g. one with a password set)."""
    marker = request.node.get_closest_marker('table')
    name = marker.args[0] if marker.args else ''
    tables = request.getfixturevalue('tables')
    if name not in tables:
        tables[name] = Table(tables.runtime, tables.base / (name or 'table'), tables.kind)
    return tables[name]


class Table:
    """The SD root, server and camera link that the rows of a module's tables share,
    one set per runtime. Every row proves that it changed nothing on the card, so
    a row that did would show, and a later row starts from the same card."""

    def __init__(self, runtime, base, kind):
        self.runtime = runtime
        self.base = base
        self.kind = kind   # server_kind's (heap, precompiled)
        base.mkdir()
        self.sd = SdRoot(base / 'sd')
        self.servers = []
        self.plain = None
        self.link = None
        self.prepared = []
        self.made = {}

    def prepare(self, setup):
        """setup(sd) once for this card, however many rows ask."""
        if setup not in self.prepared:
            setup(self.sd)
            self.prepared.append(setup)

    def start(self, *args):
        server = ServerProcess(self.runtime, self.sd.path, args, self.kind[0], precompiled=self.kind[1])
        self.servers.append(server)
        return server

    def server(self):
        if self.plain is None:
            self.plain = self.start()
        return self.plain

    def camera(self):
        if self.link is None:
            self.link = CameraLink(self.runtime, self.start)
        self.link.sent()   # what an earlier row left is not this row's
        return self.link

    def close(self):
        for server in self.servers:
            server.stop()
        if self.link is not None:
            self.link.close()


class Tables(dict):
    """A module's tables for one runtime, by name."""

    def __init__(self, runtime, base, kind):
        super().__init__()
        self.runtime = runtime
        self.base = base
        self.kind = kind


@pytest.fixture(scope='module')
def tables(runtime, tmp_path_factory, request):
    shared = Tables(runtime, tmp_path_factory.mktemp('tables-' + runtime), server_kind(runtime, request.node))
    yield shared
    for table in shared.values():
        table.close()


def prepared(request, sd, setup):
    """sd with setup(sd) done: once per shared card for a table's rows, else now."""
    if is_table_row(request):
        row_table(request).prepare(setup)
    else:
        setup(sd)
    return sd


def shared(request, make):
    """make(sd, folder, start_server) for this test alone, or made once for a table's
    rows with the table's card, folder and server starter (a server with options)."""
    if not is_table_row(request):
        return make(*[request.getfixturevalue(name) for name in ('sd', 'tmp_path', 'start_server')])
    table = row_table(request)
    if make not in table.made:
        table.made[make] = make(table.sd, table.base, table.start)
    return table.made[make]


PROGRAMS_LOCK = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '.programs.lock')


@pytest.fixture
def machine_programs():
    """Held by tests that start stand-ins of the firmware's programs or ask service.sh
    whether one runs: the server looks for them in /proc, machine-wide as the firmware
    does, so two such tests on parallel workers would see each other's."""
    import fcntl
    with open(PROGRAMS_LOCK, 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
        fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture
def folder(request, tmp_path):
    """A folder for a test's own files: the table's for its rows, else tmp_path."""
    if is_table_row(request):
        return row_table(request).base
    return tmp_path


@pytest.fixture
def sd(request, tmp_path):
    if is_table_row(request):
        return row_table(request).sd
    return SdRoot(tmp_path / 'sd')


@pytest.fixture
def start_server(runtime, sd, request):
    """start_server(*args, root=None, heap=..., env=None) -> ServerProcess; stopped after the test."""
    started = []
    kind_heap, precompiled = server_kind(runtime, request.node)

    def start(*args, root=None, heap=None, module='yihttpd', env=None):
        server = ServerProcess(runtime, root or sd.path, args, heap or kind_heap, module, env, precompiled)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(request, start_server):
    if is_table_row(request):
        return row_table(request).server()
    return start_server()


SWITCH_HELD_WAIT = 60.0   # s for a server to reach its held conf switch (qemu on a busy machine)


@pytest.fixture
def killed_mid_switch(start_server, sd):
    """killed_mid_switch(point, send) -> (etc/'s files as the kill left them, the next server).

    Starts a server whose conf switch (load.sh, reset.sh) stops at point
    (--test-hold-switch: 'staged' or 'switching'), runs send(server) beside
    it, SIGKILLs it once its log says it holds there, then starts a server
    again on the same card.
    """
    def run(point, send):
        held = start_server('--test-hold-switch', point)
        thread = threading.Thread(target=send, args=(held,), daemon=True)
        thread.start()
        deadline = time.monotonic() + SWITCH_HELD_WAIT
        while 'conf switch held at ' + point not in held.log():
            assert time.monotonic() < deadline and held.proc.poll() is None, held.log()
            time.sleep(0.05)
        held.proc.kill()
        held.proc.wait()
        thread.join(SWITCH_HELD_WAIT)
        left = {name: sd.read('yi-hack/etc/' + name) for name in os.listdir(sd.etc)
                if os.path.isfile(os.path.join(sd.etc, name))}
        return left, start_server()
    return run


# --- camera commands read back (IPC) ---

import select  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from yihttpd import mqueue as yihttpd_mqueue  # noqa: E402

TEST_QUEUE_MAXMSG = 10   # the kernel's default msg_max for a queue we create
TEST_QUEUE_MSGSIZE = 512


class TestQueue:
    """A real POSIX queue with a test name, read the way the camera would."""
    __test__ = False

    def __init__(self, name, maxmsg=TEST_QUEUE_MAXMSG):
        self.name = name
        yihttpd_mqueue.MessageQueue.unlink(name)
        c = yihttpd_mqueue
        self.queue = c.MessageQueue(name, c.O_RDWR | c.O_CREAT | c.O_EXCL | c.O_NONBLOCK,
                                    0o600, maxmsg, TEST_QUEUE_MSGSIZE)
        self.buf = bytearray(TEST_QUEUE_MSGSIZE)

    def receive(self, timeout):
        """(monotonic time, bytes) of the next message, or None after timeout seconds."""
        poller = select.poll()
        poller.register(self.queue.fileno(), select.POLLIN)
        if not poller.poll(int(timeout * 1000)):
            return None
        n = self.queue.receive(self.buf)
        return time.monotonic(), bytes(self.buf[:n])

    def drain(self):
        messages = []
        while True:
            got = self.receive(0)
            if got is None:
                return messages
            messages.append(got[1])

    def close(self):
        self.queue.close()
        yihttpd_mqueue.MessageQueue.unlink(self.name)


class CameraLink:
    """A server whose camera commands go into a real POSIX queue with a test
    name (ctypes on CPython, ffi on MicroPython), read back as the camera would."""

    def __init__(self, runtime, start_server, extra_args=()):
        self.runtime = runtime
        self.queue = TestQueue('/yihttpd-test-%d-%d' % (os.getpid(), id(self)))
        self.server = start_server(*(list(extra_args) + ['--ipc', 'mqueue', '--ipc-queue', self.queue.name]))

    def sent(self):
        """Every command byte sent since the last call, concatenated."""
        return b''.join(self.queue.drain())

    def close(self):
        self.queue.close()


@pytest.fixture
def camera(request, runtime, start_server):
    if is_table_row(request):
        yield row_table(request).camera()
        return
    link = CameraLink(runtime, start_server)
    yield link
    link.close()


@pytest.fixture
def test_queue():
    """A fresh real POSIX queue named for this test (CPython side)."""
    made = []

    def make(maxmsg=TEST_QUEUE_MAXMSG):
        queue = TestQueue('/yihttpd-test-%d-q%d' % (os.getpid(), len(made)), maxmsg)
        made.append(queue)
        return queue

    yield make
    for queue in made:
        queue.close()


@pytest.fixture
def meanwhile():
    """meanwhile(server, slow_path) -> (slow answer, its seconds, status.json's seconds).

    Sends slow_path and, once the server has read and started it, asks for
    status.json from another client: proof that the loop serves others while
    a slow service waits. The slow answer is server.get's triple.
    """
    import http.client
    import threading
    import time

    def run(server, slow_path, timeout=30):
        result = {}
        slow = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
        began = time.monotonic()
        slow.request('GET', slow_path)

        def read():
            answer = slow.getresponse()
            result['answer'] = (answer.status, {k.lower(): v for k, v in answer.getheaders()},
                                answer.read())
            result['took'] = time.monotonic() - began
        thread = threading.Thread(target=read)
        thread.start()
        try:
            assert server.handled(slow.sock)   # the slow service is under way
            asked = time.monotonic()
            status = server.get('/cgi-bin/status.json')[0]
            other = time.monotonic() - asked
            thread.join(timeout)
        finally:
            slow.close()
        assert status == 200
        return result['answer'], result['took'], other
    return run


@pytest.fixture
def mqtt(runtime, sd, tmp_path, test_queue):
    """The firmware's confs on the card pointed at a real broker, the camera's queues
    (mqtt.events.send puts a camera message in them), subscribers and bridges; all stopped after."""
    setup = MqttSetup(runtime, sd, str(tmp_path), test_queue)
    yield setup
    setup.close()


BOMB_CHUNK = 1 << 20   # bytes of zeros fed to the compressor at a time


@pytest.fixture(scope='session')
def gzip_bomb():
    """gzip_bomb(head, mib): gzip of head then mib MiB of zeros (about 1 KiB per MiB), made once."""
    import zlib
    made = {}

    def make(head, mib):
        if (head, mib) not in made:
            packer = zlib.compressobj(6, zlib.DEFLATED, 31)
            parts = [packer.compress(head)]
            zeros = bytes(BOMB_CHUNK)
            parts += [packer.compress(zeros) for _ in range(mib)]
            made[head, mib] = b''.join(parts) + packer.flush()
        return made[head, mib]
    return make

"""Shared fixtures: an SD root builder, the real server process, HTTP clients.

Every test that takes `server` (or `start_server`, or `runtime`) runs on
CPython and on the camera's MicroPython 1.26.1 with ffi (x86-64, heap
capped at 512K); modules marked `pytest.mark.armhf` run a third time on
the 32-bit ARM musl build under qemu-arm. A runtime that is missing fails
the run; it is never skipped.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import MICROPYTHON_HEAP, SdRoot, ServerProcess  # noqa: E402
from mqtt_harness import MqttSetup  # noqa: E402


RUNTIMES = ('cpython', 'micropython')


def pytest_generate_tests(metafunc):
    if 'runtime' in metafunc.fixturenames:
        armhf = ('armhf',) if metafunc.definition.get_closest_marker('armhf') else ()
        metafunc.parametrize('runtime', RUNTIMES + armhf)


@pytest.fixture
def sd(tmp_path):
    return SdRoot(tmp_path / 'sd')


@pytest.fixture
def start_server(runtime, sd):
    """start_server(*args, root=None, heap=..., env=None) -> ServerProcess; stopped after the test."""
    started = []

    def start(*args, root=None, heap=MICROPYTHON_HEAP, module='yihttpd', env=None):
        server = ServerProcess(runtime, root or sd.path, args, heap, module, env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(start_server):
    return start_server()


# --- camera commands read back (IPC) ---

import select  # noqa: E402
import time  # noqa: E402

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
def camera(runtime, start_server):
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

    Sends slow_path from a thread and, once it is under way, asks for
    status.json from another client: proof that the loop serves others
    while a slow service waits. The answers are server.get's triples.
    """
    import threading
    import time

    def run(server, slow_path, under_way=0.5, timeout=30):
        result = {}

        def slow():
            began = time.monotonic()
            result['answer'] = server.get(slow_path, timeout=timeout)
            result['took'] = time.monotonic() - began
        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(under_way)
        began = time.monotonic()
        status = server.get('/cgi-bin/status.json')[0]
        other = time.monotonic() - began
        thread.join(timeout)
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

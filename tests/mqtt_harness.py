"""MQTT test parts: a real mosquitto, a real mosquitto_sub, an event source, the bridge.

Plain Python (no pytest), so both the bridge tests and the service.sh tests use them.
"""
import getpass
import os
import queue
import struct
import subprocess
import threading
import time

from harness import REPO, free_port, runtime_command, runtime_env

MOTION_START = bytes.fromhex('01000000020000007c007c0000000000')
MOTION_START_NEWER = bytes.fromhex('04000000020000000970097000000000')
MOTION_STOP = bytes.fromhex('01000000020000007d007d0000000000')
SOUND = bytes.fromhex('04000000020000000460046000000000')
BABY_CRYING = bytes.fromhex('04000000020000000260026000000000')
PTZ_STOP_COMMAND = bytes.fromhex('01000000080000000740010000000000')
WAIT = 10.0   # seconds any expected message or log line may take on a busy machine


def wait_until(predicate, timeout=WAIT, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


class Broker:
    """A real mosquitto on a free loopback port; restartable on the same port."""

    def __init__(self, directory, password_file=None):
        self.port = free_port()
        self.conf_path = os.path.join(directory, 'mosquitto-%d.conf' % self.port)
        self.log_path = os.path.join(directory, 'mosquitto-%d.log' % self.port)
        # `user`: a broker started as root keeps root, so it can read the test's files
        lines = ['listener %d 127.0.0.1' % self.port, 'log_type all', 'log_dest stderr',
                 'user ' + getpass.getuser()]
        if password_file:
            lines += ['allow_anonymous false', 'password_file ' + password_file]
        else:
            lines.append('allow_anonymous true')
        with open(self.conf_path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        self.proc = None
        self.starts = 0
        self.start()

    def start(self):
        self.log_file = open(self.log_path, 'ab')
        self.proc = subprocess.Popen(['mosquitto', '-c', self.conf_path],
                                     stdout=self.log_file, stderr=subprocess.STDOUT)
        self.starts += 1
        assert wait_until(lambda: self.log().count(' running') == self.starts), self.log()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        self.proc = None
        self.log_file.close()

    def log(self):
        with open(self.log_path, 'rb') as f:
            return f.read().decode(errors='replace')


class Subscriber:
    """mosquitto_sub on a topic filter, its lines collected by a thread."""

    def __init__(self, broker, topic='yicam/#', qos=1):
        self.lines = queue.Queue()
        self.proc = subprocess.Popen(
            ['mosquitto_sub', '-h', '127.0.0.1', '-p', str(broker.port), '-t', topic,
             '-q', str(qos), '-v', '-F', '%t %p %r %q', '-i', 'test-sub-%d' % id(self)],
            stdout=subprocess.PIPE)
        threading.Thread(target=self.collect, daemon=True).start()
        assert wait_until(lambda: 'test-sub-%d' % id(self) in broker.log()), broker.log()

    def collect(self):
        for line in self.proc.stdout:
            self.lines.put(line.decode().rstrip('\n'))

    def next(self, timeout=WAIT):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def expect(self, *wanted):
        got = [self.next() for _ in wanted]
        assert got == list(wanted)

    def nothing_more(self, timeout=0.5):
        assert self.next(timeout) is None

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class EventSource:
    """Where the test puts camera events: a real POSIX queue, or a FIFO where a test is about it."""

    def __init__(self, test_queue, directory, fifo=False):
        if not fifo:
            self.queue = test_queue()
            self.name = self.queue.name
            self.fd = None
        else:
            self.queue = None
            os.makedirs(directory, exist_ok=True)
            self.name = os.path.join(directory, 'events.fifo')
            os.mkfifo(self.name)
            self.fd = os.open(self.name, os.O_RDWR)

    def send(self, message):
        if self.queue is not None:
            self.queue.queue.send(message)
        else:
            os.write(self.fd, struct.pack('<H', len(message)) + message)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)


class Bridge:
    """The real bridge process: `<interpreter> -m yihttpd.mqtt --root ROOT ...`."""

    def __init__(self, runtime, root, args):
        self.log_path = os.path.join(os.path.dirname(root), 'bridge-%s-%d.log' % (runtime, id(self)))
        self.log_file = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(
            runtime_command(runtime, 'yihttpd.mqtt') + ['--root', root] + list(args),
            cwd=REPO, env=runtime_env(runtime), stdout=self.log_file, stderr=subprocess.STDOUT)

    def log(self):
        with open(self.log_path, 'rb') as f:
            return f.read().decode(errors='replace')

    def wait_log(self, text, count=1):
        assert wait_until(lambda: self.log().count(text) >= count), self.log()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log_file.close()

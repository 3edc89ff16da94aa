"""MQTT test parts, all real: mosquitto (plain, or TLS with a CA made here by
the openssl CLI), mosquitto_sub, the camera's copy queues laid out as the
firmware's multiplexer makes them with a stand-in mqttv4 blocked on the
first, the firmware's own default confs, and the bridge process.

Plain Python (no pytest), so the bridge tests, the service.sh tests and
bench/ use them.
"""
import getpass
import os
import queue
import subprocess
import sys
import tarfile
import threading
import time

from harness import MICROPYTHON_HEAP, REPO, free_port, runtime_command, runtime_env

MOTION_START = bytes.fromhex('01000000020000007c007c0000000000')
MOTION_START_NEWER = bytes.fromhex('04000000020000000970097000000000')
MOTION_STOP = bytes.fromhex('01000000020000007d007d0000000000')
AI_HUMAN = bytes.fromhex('0100000002000000ed00ed0000000000')
AI_HUMAN_NEWER = bytes.fromhex('04000000020000000670067000000000')
AI_VEHICLE = bytes.fromhex('04000000020000000770077000000000')
AI_ANIMAL = bytes.fromhex('04000000020000000870087000000000')
SOUND = bytes.fromhex('04000000020000000460046000000000')
BABY_CRYING = bytes.fromhex('04000000020000000260026000000000')
PTZ_STOP_COMMAND = bytes.fromhex('01000000080000000740010000000000')
WAIT = 10.0        # seconds any expected message or log line may take on a busy machine
COPY_QUEUES = 9    # /ipc_dispatch_1..9, as ipc_multiplex.c makes them

FIRMWARE = os.path.join(os.path.dirname(REPO), 'shared', 'firmware')
FIRMWARE_MQTT = os.path.join(FIRMWARE, 'yi-hack-mqtt.tar.xz')
FIRMWARE_WEB = os.path.join(FIRMWARE, 'yi-hack-Allwinner-v2-web.tar.xz')
MQTT_STATIC = 'yi-hack-Allwinner-v2/src/static/static/yi-hack/'
WEB_STATIC = 'src/static/static/yi-hack/'
# The firmware's default confs, from where its build takes them.
FIRMWARE_CONFS = ((FIRMWARE_MQTT, MQTT_STATIC + 'etc/mqttv4.conf'),
                  (FIRMWARE_MQTT, MQTT_STATIC + 'etc/mqtt_advertise.conf'),
                  (FIRMWARE_WEB, WEB_STATIC + 'etc/system.conf'),
                  (FIRMWARE_WEB, WEB_STATIC + 'etc/camera.conf'),
                  (FIRMWARE_WEB, WEB_STATIC + 'etc/ptz_presets.conf'))
_members = {}


def firmware_file(archive, rel):
    """The bytes of one file of a firmware archive in ../shared/firmware (read once)."""
    if (archive, rel) not in _members:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if member.isfile():
                    _members[archive, member.name.lstrip('./')] = tar.extractfile(member).read()
    return _members[archive, rel]


def install_firmware_confs(sd):
    """The card's etc/ as the firmware installs it."""
    for archive, rel in FIRMWARE_CONFS:
        sd.write('yi-hack/etc/' + rel.rpartition('/')[2], firmware_file(archive, rel))


def wait_until(predicate, timeout=WAIT, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def openssl(*args):
    subprocess.run(['openssl'] + list(args), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class CertificateAuthority:
    """A CA made for one test with the openssl CLI, and the certificates it signs."""

    def __init__(self, directory, name='test CA'):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self.key = os.path.join(directory, 'ca.key')
        self.cert = os.path.join(directory, 'ca.crt')
        openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', self.key, '-out', self.cert,
                '-days', '2', '-subj', '/CN=' + name)

    def issue(self, name, alt_names='IP:127.0.0.1,DNS:localhost'):
        """(certificate, key) paths for name, with those subject alternative names."""
        base = os.path.join(self.directory, name)
        openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', base + '.key', '-out', base + '.csr',
                '-subj', '/CN=' + name)
        with open(base + '.ext', 'w') as f:
            f.write('subjectAltName=%s\n' % alt_names)
        openssl('x509', '-req', '-in', base + '.csr', '-CA', self.cert, '-CAkey', self.key,
                '-CAcreateserial', '-out', base + '.crt', '-days', '2', '-extfile', base + '.ext')
        return base + '.crt', base + '.key'


class Broker:
    """A real mosquitto on a free loopback port; restartable on the same port.

    tls: (ca file, certificate, key[, require client certificates]) for a TLS listener.
    """

    def __init__(self, directory, password_file=None, tls=None):
        self.port = free_port()
        self.conf_path = os.path.join(directory, 'mosquitto-%d.conf' % self.port)
        self.log_path = os.path.join(directory, 'mosquitto-%d.log' % self.port)
        # `user`: a broker started as root keeps root, so it can read the test's files
        lines = ['listener %d 127.0.0.1' % self.port, 'log_type all', 'log_dest stderr',
                 'user ' + getpass.getuser()]
        if tls:
            lines += ['cafile ' + tls[0], 'certfile ' + tls[1], 'keyfile ' + tls[2]]
            if len(tls) > 3 and tls[3]:
                lines.append('require_certificate true')
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
    """mosquitto_sub on a topic filter; each message as 'topic payload retain qos'
    (payload as text), or as (topic, payload bytes, retain, qos) from next_raw()."""

    def __init__(self, broker, topic='yicam/#', qos=2, tls=None):
        self.lines = queue.Queue()
        self.broker = broker
        argv = ['mosquitto_sub', '-h', '127.0.0.1', '-p', str(broker.port), '-t', topic,
                '-q', str(qos), '-F', '%t %x %r %q', '-i', 'test-sub-%d' % id(self)]
        if tls:
            argv += ['--cafile', tls]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
        threading.Thread(target=self.collect, daemon=True).start()
        # subscribed once the broker has answered the SUBSCRIBE, not merely the CONNECT
        assert wait_until(lambda: 'Sending SUBACK to test-sub-%d' % id(self) in broker.log()), broker.log()

    def collect(self):
        for line in self.proc.stdout:
            topic, payload, retain, qos = line.decode().rstrip('\n').rsplit(' ', 3)
            self.lines.put((topic, bytes.fromhex(payload), int(retain), int(qos)))

    def next_raw(self, timeout=WAIT):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def next(self, timeout=WAIT):
        got = self.next_raw(timeout)
        return None if got is None else '%s %s %d %d' % (got[0], got[1].decode(errors='replace'), got[2], got[3])

    def expect(self, *wanted):
        got = [self.next() for _ in wanted]
        assert got == list(wanted), (got, self.broker.log()[-3000:])

    def until(self, topic, timeout=WAIT):
        """Messages up to and with the first on topic: [(topic, payload, retain, qos)]."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.next_raw(deadline - time.monotonic())
            if got is None:
                break
            seen.append(got)
            if got[0] == topic:
                return seen
        raise AssertionError('nothing on %s; got %r' % (topic, seen))

    def nothing_more(self, timeout=0.5):
        got = self.next(timeout)
        assert got is None, got

    def stop(self):
        self.proc.kill()
        self.proc.wait()


# A stand-in for the firmware's mqttv4: blocked in mq_receive on the first copy
# queue, as mqttv4's thread is, writing each message it takes as a hex line.
STAND_IN_MQTTV4 = '''
import sys
sys.path.insert(0, sys.argv[1])
from yihttpd import mqueue
queue = mqueue.MessageQueue(sys.argv[2], mqueue.O_RDONLY)
buf = bytearray(queue.msgsize)
while True:
    n = queue.receive(buf)
    with open(sys.argv[3], 'a') as f:
        f.write(bytes(buf[:n]).hex() + '\\n')
'''


class Dispatch:
    """The camera side: the command queue the bridge writes to, and the nine copy
    queues the multiplexer (ipc_multiplex.c) fills with every camera message, each
    read by one program; the firmware's mqttv4 stands on the first.

    The multiplexer's queues hold 64 messages; a test machine without
    CAP_SYS_RESOURCE gets the kernel's msg_max (10). A full copy queue drops
    the message, as the multiplexer's mq_send with EAGAIN does."""

    def __init__(self, test_queue, directory):
        self.copies = [test_queue() for _ in range(COPY_QUEUES)]
        self.commands = test_queue()
        self.mqttv4_log = os.path.join(directory, 'first-queue-reader.log')   # no 'mqttv4' in its command line
        open(self.mqttv4_log, 'w').close()
        self.mqttv4 = subprocess.Popen([sys.executable, '-c', STAND_IN_MQTTV4, REPO,
                                        self.copies[0].name, self.mqttv4_log])

    def queue_name(self, number):
        """The test's /ipc_dispatch_N."""
        return self.copies[number - 1].name

    def send(self, message):
        """A message the camera dispatched: a copy into each queue that has room."""
        for copy in self.copies:
            try:
                copy.queue.send(message)
            except OSError:
                pass

    def camera_takes_commands(self):
        """The commands the bridge sent, taken by the camera, whose multiplexer copies each
        into the nine queues (as it does every message on /ipc_dispatch); their bytes."""
        taken = self.commands.drain()
        for message in taken:
            self.send(message)
        return taken

    def mqttv4_took(self):
        with open(self.mqttv4_log) as f:
            return [bytes.fromhex(line.strip()) for line in f if line.strip()]

    def sent_commands(self):
        return self.commands.drain()

    def close(self):
        self.mqttv4.kill()
        self.mqttv4.wait()


class Bridge:
    """The real bridge process: `<interpreter> -m yihttpd.mqtt --root ROOT ...`."""

    def __init__(self, runtime, root, args, env=None, heap=MICROPYTHON_HEAP):
        self.log_path = os.path.join(os.path.dirname(root), 'bridge-%s-%d.log' % (runtime, id(self)))
        self.log_file = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(
            runtime_command(runtime, 'yihttpd.mqtt', heap) + ['--root', root] + list(args),
            cwd=REPO, env=dict(runtime_env(runtime), **(env or {})),
            stdout=self.log_file, stderr=subprocess.STDOUT)

    def log(self):
        with open(self.log_path, 'rb') as f:
            return f.read().decode(errors='replace')

    def wait_log(self, text, count=1, timeout=WAIT):
        assert wait_until(lambda: self.log().count(text) >= count, timeout), self.log()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log_file.close()


class MqttSetup:
    """A card with the firmware's confs pointed at a real broker, the camera's queues,
    subscribers and bridges; everything made is stopped by close()."""

    def __init__(self, runtime, sd, directory, test_queue, broker=None):
        self.runtime = runtime
        self.sd = sd
        self.directory = directory
        self.made = []
        install_firmware_confs(sd)
        self.broker = broker or Broker(directory)
        self.dispatch = Dispatch(test_queue, directory)
        self.events = self.dispatch   # send() puts a camera message in every copy queue
        self.events.name = self.dispatch.queue_name(COPY_QUEUES)
        sd.set_conf('system.conf', 'MQTT', 'yes')
        self.configure()

    def configure(self, **values):
        """mqttv4.conf pointed at the broker, and these keys set."""
        values = dict({'MQTT_IP': '127.0.0.1', 'MQTT_PORT': str(self.broker.port)}, **values)
        for key, value in values.items():
            self.sd.set_conf('mqttv4.conf', key, value)

    def subscribe(self, topic='yicam/#', qos=1):
        subscriber = Subscriber(self.broker, topic, qos)
        self.made.append(subscriber)
        return subscriber

    def publish(self, topic, payload, retain=False):
        """mosquitto_pub of one message (an empty payload with payload='')."""
        argv = ['mosquitto_pub', '-h', '127.0.0.1', '-p', str(self.broker.port), '-t', topic, '-q', '1']
        argv += ['-n'] if payload == '' else ['-m', payload]
        subprocess.run(argv + (['-r'] if retain else []), check=True)

    def start_bridge(self, *args, env=None, heap=MICROPYTHON_HEAP):
        """The bridge on this card: its own copy queue, the test's command queue and tmp dir."""
        base = ['--ipc-events', self.events.name, '--ipc-queue', self.dispatch.commands.name,
                '--tmp-dir', self.directory, '--homever', os.path.join(self.directory, 'homever')]
        bridge = Bridge(self.runtime, self.sd.path, base + list(args), env, heap)
        self.made.append(bridge)
        return bridge

    def close(self):
        for thing in self.made:
            thing.stop()
        self.broker.stop()
        self.dispatch.close()

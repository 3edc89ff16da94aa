"""The MQTT bridge beside the firmware programs it replaces, under a burst of events.

    .venv/bin/python bench/bench_mqtt.py [--events 1000] [--runtime micropython|cpython|both] [--heap 512K]

On a card with the firmware's default confs and a real mosquitto, the
camera's nine copy queues are filled as its multiplexer fills them (a full
queue drops the message; the bridge's own queue is waited on so that the
bridge sees every event). The firmware's mqttv4 and mqtt-config are built
here from ../shared/firmware (x86-64, mqtt-config in its libmosquitto
variant, paths and queue name pointed at the test card) and run beside the
bridge: mqttv4 on the first queue, the bridge (MicroPython with --stats, or
CPython) on the last. Prints each process's RSS (VmRSS and its high-water
mark VmHWM) idle and after the burst, the bridge's MicroPython heap
high-water mark, and how many of the events each publisher sent. The
mqtt_advertise side is measured by its pieces: the busybox sh and the
mosquitto_sub (for mqtt-sub) that mqtt_set_config.sh keeps running, and
the peak of one mosquitto_pub fork (for mqtt-pub). Figures, not pass/fail.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'tests'))
sys.path.insert(0, REPO)

from conftest import TestQueue  # noqa: E402
from harness import SdRoot  # noqa: E402
from mqtt_harness import (FIRMWARE_MQTT, MOTION_START, MOTION_STOP, SOUND, MqttSetup,  # noqa: E402
                          firmware_file, wait_until)

LIBMOSQUITTO = '/usr/lib/x86_64-linux-gnu/libmosquitto.so.1'
MQTT_CONFIG = 'yi-hack-Allwinner-v2/src/mqtt-config/mqtt-config/'
EVENTS = (MOTION_START, SOUND, MOTION_STOP)


def build_firmware(directory, etc, queue_name):
    """mqttv4 and mqtt-config (libmosquitto) built from the firmware's sources for this card."""
    src = os.path.join(directory, 'src')
    for rel in ('mqttv4/src/mqttv4.c', 'mqttv4/src/ipc.c', 'mqttv4/src/mqtt.c', 'mqttv4/src/config.c',
                'mqttv4/src/files.c', 'mqttv4/include/mqttv4.h', 'mqttv4/include/ipc.h', 'mqttv4/include/mqtt.h',
                'mqttv4/include/config.h', 'mqttv4/include/files.h', 'mqttv4/include/mosquitto.h'):
        data = firmware_file(FIRMWARE_MQTT, rel).decode()
        data = data.replace('/home/yi-hack/etc', etc).replace('"/ipc_dispatch_1"', '"%s"' % queue_name)
        data = data.replace('/home/yi-hack/bin/imggrabber', '/bin/false')
        write(os.path.join(src, 'mqttv4', rel.rpartition('/')[2]), data)
    for name in ('config.c', 'config.h', 'mqtt-config.c', 'mqtt-config.h', 'mqtt.h', 'mqtt_mosquitto.c',
                 'mqtt_wolf.c', 'validate.c', 'validate.h'):
        data = firmware_file(FIRMWARE_MQTT, MQTT_CONFIG + name).decode().replace('/tmp/sd/yi-hack/etc', etc)
        write(os.path.join(src, 'mqtt-config', name), data)
    shutil.copy(os.path.join(src, 'mqttv4', 'mosquitto.h'), os.path.join(src, 'mqtt-config'))
    programs = {}
    for name, flags in (('mqttv4', []), ('mqtt-config', ['-DUSE_MOSQUITTO'])):
        folder = os.path.join(src, name)
        programs[name] = os.path.join(directory, name)
        sources = [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.endswith('.c')]
        subprocess.run(['gcc', '-O2', '-w', '-I' + folder] + flags + ['-o', programs[name]] + sources +
                       [LIBMOSQUITTO, '-lpthread', '-lrt'], check=True, stderr=subprocess.DEVNULL)
    return programs


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def memory(pid):
    """(VmRSS, VmHWM) in kB."""
    with open('/proc/%d/status' % pid) as f:
        fields = dict(line.split(':', 1) for line in f)
    return int(fields['VmRSS'].split()[0]), int(fields['VmHWM'].split()[0])


def published_by(broker, client):
    return broker.log().count('Received PUBLISH from %s (' % client)


def run(runtime, count, heap):
    tmp = tempfile.mkdtemp(prefix='yihttpd-bench-mqtt-')
    made = []

    def queue():
        made.append(TestQueue('/yihttpd-bench-%d-q%d' % (os.getpid(), len(made))))
        return made[-1]
    sd = SdRoot(os.path.join(tmp, 'sd'))
    setup = MqttSetup(runtime, sd, tmp, queue)
    processes = []
    try:
        setup.configure(TOPIC_MOTION_IMAGE='EMPTY_TOPIC')   # no frame grabber here
        setup.dispatch.close()                               # the real mqttv4 reads the first queue
        programs = build_firmware(os.path.join(tmp, 'firmware'), sd.etc, setup.dispatch.queue_name(1))
        for name in ('mqttv4', 'mqtt-config'):
            processes.append((name, subprocess.Popen([programs[name]], stdout=subprocess.DEVNULL,
                                                     stderr=subprocess.DEVNULL)))
        bridge = setup.start_bridge('--stats', '--files-delay', '3600', heap=heap)
        bridge.wait_log('birth published')
        assert wait_until(lambda: published_by(setup.broker, 'yi-cam') >= 1), setup.broker.log()
        processes.append(('yihttpd.mqtt (%s)' % runtime, bridge.proc))
        idle = dict((name, memory(proc.pid)) for name, proc in processes)
        idle_peaks = [int(v) for v in re.findall(r'stats heap_peak=(\d+)', bridge.log())]
        before = dict((client, published_by(setup.broker, client)) for client in ('yi-cam', 'yi-cam_yihttpd'))
        began = time.monotonic()
        last = setup.dispatch.copies[-1]
        for n in range(count):
            message = EVENTS[n % len(EVENTS)]
            for copy in setup.dispatch.copies:
                while True:
                    try:
                        copy.queue.send(message)
                        break
                    except OSError:
                        if copy is not last:
                            break       # the multiplexer drops what a full queue cannot take
                        time.sleep(0.0005)
        assert wait_until(lambda: published_by(setup.broker, 'yi-cam_yihttpd') - before['yi-cam_yihttpd'] >= count,
                          120), bridge.log()[-2000:]
        took = time.monotonic() - began
        time.sleep(1.0)      # mqttv4 sleeps 10 ms after each message it reads
        after = dict((name, memory(proc.pid)) for name, proc in processes)
        peaks = [int(v) for v in re.findall(r'stats heap_peak=(\d+)', bridge.log())]
        heap_size = heap
        heap = 'idle %d bytes, burst %d bytes' % (max(idle_peaks), max(peaks)) if peaks else 'n/a (CPython)'
        print('%s bridge (heap %s): %d events in %.2f s (%.0f events/s), all published; MicroPython heap high-water: %s'
              % (runtime, heap_size, count, took, count / took, heap))
        print('  firmware mqttv4 (same burst, its queue dropped what it could not hold): published %d of %d'
              % (published_by(setup.broker, 'yi-cam') - before['yi-cam'], count))
        for name, _proc in processes:
            print('  %-28s idle RSS %6d kB (peak %6d kB)   after the burst RSS %6d kB (peak %6d kB)'
                  % ((name,) + idle[name] + after[name]))
    finally:
        for _name, proc in processes:
            proc.kill()
            proc.wait()
        setup.close()
        for q in made:
            q.close()
        shutil.rmtree(tmp, ignore_errors=True)


# One mosquitto_pub from a fresh process, so that the children's peak RSS is its own.
PUBLISH_PEAK = (
    'import resource, subprocess, sys\n'
    'subprocess.run(["mosquitto_pub", "-p", sys.argv[1], "-t", "yicam/telemetry", "-m", "{}"], check=True)\n'
    'print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n')


def advertise_pieces(tmp):
    """RSS of what mqtt_advertise keeps running and of one publish fork."""
    from mqtt_harness import Broker
    broker = Broker(tmp)
    loops = [subprocess.Popen(['busybox', 'sh', '-c', 'while :; do sleep 1; done']) for _ in range(2)]
    sub = subprocess.Popen(['mosquitto_sub', '-p', str(broker.port), '-t', 'yicam/camera_setting/+/set'],
                           stdout=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        resident = [memory(p.pid)[0] for p in loops + [sub]]
        fork_peak = int(subprocess.run([sys.executable, '-c', PUBLISH_PEAK, str(broker.port)],
                                       stdout=subprocess.PIPE, check=True).stdout)
        print('mqtt_advertise pieces (x86-64): mqtt_set_config.sh keeps 2 busybox sh (%d + %d kB) and an '
              'mqtt-sub (mosquitto_sub here: %d kB) running; each message forks sh + mqtt-pub '
              '(mosquitto_pub peak here: %d kB)' % (resident[0], resident[1], resident[2], fork_peak))
    finally:
        for p in loops + [sub]:
            p.kill()
            p.wait()
        broker.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--events', type=int, default=1000)
    parser.add_argument('--runtime', choices=('micropython', 'cpython', 'both'), default='both')
    parser.add_argument('--heap', default='512K', help="MicroPython's heap (-X heapsize)")
    args = parser.parse_args()
    for runtime in (('micropython', 'cpython') if args.runtime == 'both' else (args.runtime,)):
        run(runtime, args.events, args.heap)
    tmp = tempfile.mkdtemp(prefix='yihttpd-bench-adv-')
    try:
        advertise_pieces(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()

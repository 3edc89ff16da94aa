"""The MQTT bridge (python3 -m yihttpd.mqtt) as the firmware's mqttv4: camera
events, the motion image and files, stat feedback, the broker connection.

Each test runs the bridge under CPython and MicroPython 1.26.1, on a card
with the firmware's default confs, against a real mosquitto. Camera
messages go into nine real POSIX queues as the multiplexer fills them; a
stand-in mqttv4 reads the first, the bridge its own (the ninth). A real
mosquitto_sub prints every message as "topic payload retain qos".
"""
import calendar
import os
import select
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from harness import REPO
from mqtt_harness import (AI_ANIMAL, AI_HUMAN, AI_HUMAN_NEWER, AI_VEHICLE, BABY_CRYING, FIRMWARE_MQTT,
                          MOTION_START, MOTION_START_NEWER, MOTION_STOP, PTZ_STOP_COMMAND, SOUND, Broker,
                          firmware_file, wait_until)
from yihttpd import ipc

LIVE = 'yicam/+'     # the event topics (one level), not the stat/camera/KEY ones


def test_every_event_on_the_firmware_topics_from_the_bridges_own_queue(mqtt):
    live = mqtt.subscribe(LIVE)
    bridge = mqtt.start_bridge()
    live.expect('yicam/status online 0 1')
    sent = [MOTION_START, AI_HUMAN, AI_HUMAN_NEWER, AI_VEHICLE, AI_ANIMAL, BABY_CRYING, SOUND,
            MOTION_START_NEWER, MOTION_STOP]
    for message in sent:
        mqtt.events.send(message)
    live.expect('yicam/motion_detection motion_start 0 1', 'yicam/motion_detection human 0 1',
                'yicam/motion_detection human 0 1', 'yicam/motion_detection vehicle 0 1',
                'yicam/motion_detection animal 0 1', 'yicam/motion_detection crying 0 1',
                'yicam/sound_detection sound 0 1', 'yicam/motion_detection motion_start 0 1',
                'yicam/motion_detection motion_stop 0 1')
    # mqttv4 (standing in, on /ipc_dispatch_1) took every message too: nobody took it from the other
    assert wait_until(lambda: mqtt.dispatch.mqttv4_took() == sent), mqtt.dispatch.mqttv4_took()
    # Retained as mqttv4.conf says: the status is (MQTT_RETAIN_BIRTH_WILL=1), motion is not.
    late = mqtt.subscribe(LIVE)
    late.expect('yicam/status online 1 1')
    late.nothing_more()
    assert bridge.proc.poll() is None


def test_unknown_short_and_other_command_messages_are_ignored(mqtt):
    live = mqtt.subscribe(LIVE)
    bridge = mqtt.start_bridge()
    live.expect('yicam/status online 0 1')
    for junk in (b'', b'\x01\x00', b'\xff' * 16, PTZ_STOP_COMMAND, os.urandom(300)):
        mqtt.events.send(junk)
    mqtt.events.send(MOTION_STOP)
    live.expect('yicam/motion_detection motion_stop 0 1')
    live.nothing_more()
    assert 'Traceback' not in bridge.log()


def test_qos_retain_prefix_and_messages_follow_mqttv4_conf(mqtt):
    long_birth = 'up-' + 'x' * 300     # a packet over 127 bytes: a 2-byte remaining length
    mqtt.configure(MQTT_QOS='2', MQTT_RETAIN_MOTION='1', MQTT_PREFIX='cam1', TOPIC_MOTION='moves',
                   MOTION_STOP_MSG='still', BIRTH_MSG=long_birth)
    live = mqtt.subscribe('cam1/+', qos=2)
    mqtt.start_bridge()
    live.expect('cam1/status %s 0 2' % long_birth)
    mqtt.events.send(MOTION_STOP)
    live.expect('cam1/moves still 0 2')
    late = mqtt.subscribe('cam1/moves', qos=2)
    late.expect('cam1/moves still 1 2')


def test_qos_0(mqtt):
    mqtt.configure(MQTT_QOS='0')
    live = mqtt.subscribe(LIVE, qos=2)
    mqtt.start_bridge()
    live.expect('yicam/status online 0 0')
    mqtt.events.send(SOUND)
    live.expect('yicam/sound_detection sound 0 0')


def test_missing_keys_take_check_conf_values_and_empty_ones_mqttv4s(mqtt, sd):
    path = sd.file('yi-hack/etc/mqttv4.conf')
    lines = open(path).read().split('\n')
    with open(path, 'w') as f:
        f.write('\n'.join(line for line in lines if not line.startswith('TOPIC_SOUND_DETECTION=')))
    mqtt.configure(SOUND_DETECTION_MSG='', MOTION_STOP_MSG='', TOPIC_MOTION_IMAGE='EMPTY_TOPIC')
    live = mqtt.subscribe('yicam/#')
    bridge = mqtt.start_bridge()
    mqtt.events.send(SOUND)
    mqtt.events.send(MOTION_STOP)
    seen = live.until('yicam/motion_detection')
    assert ('yicam/sound_detection', b'sound', 0, 1) in seen   # check_conf.sh's topic, mqttv4's message
    assert seen[-1] == ('yicam/motion_detection', b'motion_stop', 0, 1)
    mqtt.events.send(MOTION_START)          # TOPIC_MOTION_IMAGE=EMPTY_TOPIC: no image asked
    assert live.until('yicam/motion_detection')[-1][1] == b'motion_start'
    live.nothing_more(1.0)
    assert 'motion image' not in bridge.log()


# --- the motion image ---

GRABBER = '''#!/bin/sh
echo "$@" > "$0.args"
cat "$0.jpg"
'''


def test_the_motion_image_is_the_grabbers_jpeg_after_the_delay(mqtt, sd, tmp_path):
    jpeg = b'\xff\xd8' + os.urandom(300000) + b'\xff\xd9'   # a 3-byte remaining length, sent in pieces
    grabber = sd.write('yi-hack/bin/imggrabber', GRABBER)
    os.chmod(grabber, 0o755)
    sd.write('yi-hack/bin/imggrabber.jpg', jpeg)
    mqtt.configure(MQTT_RETAIN_MOTION_IMAGE='1', MOTION_IMAGE_DELAY='0.5')
    live = mqtt.subscribe(LIVE)
    mqtt.start_bridge()
    live.expect('yicam/status online 0 1')
    mqtt.events.send(AI_VEHICLE)
    began = time.monotonic()
    assert live.next_raw() == ('yicam/motion_detection', b'vehicle', 0, 1)
    assert live.next_raw() == ('yicam/motion_detection_image', jpeg, 0, 1)
    assert time.monotonic() - began >= 0.4
    assert sd.read('yi-hack/bin/imggrabber.args') == b'-m y211ga -r high -w\n'
    late = mqtt.subscribe('yicam/motion_detection_image')
    assert late.next_raw() == ('yicam/motion_detection_image', jpeg, 1, 1)
    assert [name for name in os.listdir(str(tmp_path)) if 'motion-image' in name] == []


def test_a_missing_grabber_sends_no_image_and_says_so(mqtt):
    live = mqtt.subscribe(LIVE)
    bridge = mqtt.start_bridge()
    live.expect('yicam/status online 0 1')
    mqtt.events.send(BABY_CRYING)
    live.expect('yicam/motion_detection crying 0 1')
    bridge.wait_log('motion image: ')
    live.nothing_more()


# --- the motion files: compared with the firmware's own files.c, compiled here ---

FILES_MAIN = r'''
#include "files.h"
int main(int argc, char **argv) {
    char output[2048] = "";
    if (getMp4Files(output, atoi(argv[1]), 50, atol(argv[2]), atol(argv[3])) != 0) return 1;
    fputs(output, stdout);
    return 0;
}
'''


@pytest.fixture(scope='module')
def files_c(tmp_path_factory):
    """The firmware's getMp4Files (mqttv4 src/files.c) built with RECORD_PATH=./record."""
    base = str(tmp_path_factory.mktemp('files_c'))
    header = firmware_file(FIRMWARE_MQTT, 'mqttv4/include/files.h').replace(
        b'"/tmp/sd/record"', b'"./record"')
    for name, data in (('files.h', header), ('files.c', firmware_file(FIRMWARE_MQTT, 'mqttv4/src/files.c')),
                       ('main.c', FILES_MAIN.encode())):
        with open(os.path.join(base, name), 'wb') as f:
            f.write(data)
    program = os.path.join(base, 'files')
    subprocess.run(['gcc', '-w', '-I' + base, '-o', program, os.path.join(base, 'files.c'),
                    os.path.join(base, 'main.c')], check=True)
    return program


def iso_seconds(text):
    """Seconds of mqttv4's 2024-01-02T03:04:05+01:00."""
    t = time.strptime(text[:19], '%Y-%m-%dT%H:%M:%S')
    sign = -1 if text[19] == '-' else 1
    return calendar.timegm(t) - sign * (int(text[20:22]) * 3600 + int(text[23:25]) * 60)


def record_minutes(sd, now, tz, minutes):
    """A video (and its thumbnail) for each of the minutes before now, in UTC or (tz) local hour folders."""
    saved = os.environ.get('TZ')
    os.environ['TZ'] = tz or 'UTC0'
    time.tzset()
    try:
        for back in minutes:
            t = time.localtime(now - 60 * back)
            folder = '%dY%02dM%02dD%02dH' % t[:4]
            sd.add_video(folder, ('A1' if back == 1 else '') + '%02dM00S60' % t[4])
    finally:
        if saved is None:
            del os.environ['TZ']
        else:
            os.environ['TZ'] = saved
        time.tzset()


@pytest.mark.parametrize('homever,model,local', [('', 'y211ga', False), ('12.0.51.08', 'r30gb', True)])
def test_the_motion_files_are_listed_as_mqttv4_lists_them(mqtt, sd, files_c, homever, model, local):
    tz = 'CET-1CEST,M3.5.0,M10.5.0/3'
    sd.write(os.path.join(mqtt.directory, 'homever'), homever)
    sd.write('yi-hack/model_suffix', model + '\n')
    record_minutes(sd, time.time(), tz if local else None, [0, 1, 2, 3, 5])   # a gap at 4: the list stops there
    live = mqtt.subscribe(LIVE)
    mqtt.start_bridge('--files-delay', '0.5', env={'TZ': tz})
    live.expect('yicam/status online 0 1')
    mqtt.events.send(MOTION_START)
    mqtt.events.send(MOTION_STOP)
    payload = live.until('yicam/motion_files')[-1][1]
    lines = payload.decode().split('\n')
    start, end = iso_seconds(lines[1][9:-2]), iso_seconds(lines[2][7:-2])
    firmware = subprocess.run([files_c, '0' if local else '1', str(start), str(end)], cwd=sd.path,
                              env=dict(os.environ, TZ=tz), stdout=subprocess.PIPE, check=True).stdout
    assert payload == firmware
    assert payload.count(b'.mp4') >= 1


# --- stat feedback: every setting command of mqttv4's own table ---

def test_settings_seen_on_the_queue_update_camera_conf_and_stat_with_the_ai_rule(mqtt, sd):
    live = mqtt.subscribe('yicam/stat/camera/+')
    mqtt.start_bridge()
    for _ in range(15):          # camera.conf's values, as conf2mqtt.sh publishes them at start
        assert live.next() is not None
    mqtt.events.send(ipc.led(True))
    live.expect('yicam/stat/camera/led yes 0 1')
    mqtt.events.send(ipc.ai_motion(True))
    live.expect('yicam/stat/camera/motion_detection yes 0 1', 'yicam/stat/camera/ai_human_detection no 0 1',
                'yicam/stat/camera/ai_vehicle_detection no 0 1', 'yicam/stat/camera/ai_animal_detection no 0 1')
    mqtt.events.send(ipc.ai_vehicle(True))
    live.expect('yicam/stat/camera/ai_vehicle_detection yes 0 1', 'yicam/stat/camera/motion_detection no 0 1')
    mqtt.events.send(ipc.cruise_mode('360'))
    live.expect('yicam/stat/camera/cruise 360 0 1')
    conf = sd.read('yi-hack/etc/camera.conf').decode()
    for line in ('LED=yes', 'MOTION_DETECTION=no', 'AI_VEHICLE_DETECTION=yes', 'AI_HUMAN_DETECTION=no',
                 'CRUISE=360'):
        assert line in conf.split('\n'), conf
    late = mqtt.subscribe('yicam/stat/camera/led')
    late.expect('yicam/stat/camera/led yes 1 1')


def test_camera_conf_follows_the_camera_even_without_a_broker(mqtt, sd, runtime):
    sd.set_conf('system.conf', 'MQTT', 'no')
    bridge = mqtt.start_bridge()
    bridge.wait_log('MQTT is not yes in system.conf')
    mqtt.events.send(ipc.rotate(True))
    assert wait_until(lambda: 'ROTATE=yes' in sd.read('yi-hack/etc/camera.conf').decode().split('\n'))
    assert 'yi-cam_yihttpd' not in mqtt.broker.log()


# --- the broker connection ---

def test_reconnects_after_broker_restart_and_counts_what_it_dropped(mqtt):
    bridge = mqtt.start_bridge()
    bridge.wait_log('birth published')
    mqtt.broker.stop()
    bridge.wait_log('connection lost')
    mqtt.events.send(MOTION_START)          # nobody to send it to: dropped, counted, no crash
    bridge.wait_log('not connected: dropped a message for yicam/motion_detection (1 dropped so far)')
    mqtt.broker.start()                     # same port, no retained messages kept
    live = mqtt.subscribe(LIVE)
    # Live if the subscriber was first, retained (MQTT_RETAIN_BIRTH_WILL=1) if the bridge was.
    assert live.next() in ('yicam/status online 0 1', 'yicam/status online 1 1')
    bridge.wait_log('birth published', 2)
    mqtt.events.send(MOTION_STOP)
    live.expect('yicam/motion_detection motion_stop 0 1')
    assert bridge.proc.poll() is None


def test_a_broker_that_stops_answering_pings_is_dropped_and_found_again(mqtt):
    mqtt.configure(MQTT_KEEPALIVE='2')
    bridge = mqtt.start_bridge()
    bridge.wait_log('birth published')
    mqtt.broker.proc.send_signal(signal.SIGSTOP)   # connection open, nobody answering
    try:
        bridge.wait_log('no answer to the last ping')
    finally:
        mqtt.broker.proc.send_signal(signal.SIGCONT)
    bridge.wait_log('birth published', 2)
    assert bridge.proc.poll() is None


def test_a_stop_with_a_frozen_broker_is_still_quick(mqtt):
    bridge = mqtt.start_bridge()
    bridge.wait_log('birth published')
    mqtt.broker.proc.send_signal(signal.SIGSTOP)
    try:
        began = time.monotonic()
        bridge.proc.terminate()
        bridge.proc.wait(5)
        assert time.monotonic() - began < 4
    finally:
        mqtt.broker.proc.send_signal(signal.SIGCONT)


def test_broker_publishes_the_will_when_the_bridge_is_killed(mqtt):
    live = mqtt.subscribe(LIVE)
    bridge = mqtt.start_bridge()
    live.expect('yicam/status online 0 1')
    bridge.proc.send_signal(signal.SIGKILL)
    live.expect('yicam/status offline 0 1')
    late = mqtt.subscribe(LIVE)
    late.expect('yicam/status offline 1 1')


def test_sigterm_ends_the_bridge_and_status_goes_offline(mqtt, runtime):
    live = mqtt.subscribe(LIVE)
    bridge = mqtt.start_bridge()
    live.expect('yicam/status online 0 1')
    bridge.wait_log('birth published')
    bridge.proc.terminate()
    assert bridge.proc.wait(5) in (0, -signal.SIGTERM)
    live.expect('yicam/status offline 0 1')
    if runtime == 'cpython':   # published by the bridge itself, then DISCONNECT
        assert bridge.proc.returncode == 0
        assert wait_until(lambda: 'Client yi-cam_yihttpd disconnected.' in mqtt.broker.log())
    else:                      # no signal module: the broker published the will
        assert wait_until(lambda: 'Client yi-cam_yihttpd closed its connection.' in mqtt.broker.log())


def test_keepalive_pings_keep_the_session_open(mqtt):
    mqtt.configure(MQTT_KEEPALIVE='1')
    bridge = mqtt.start_bridge()
    bridge.wait_log('birth published')
    assert wait_until(lambda: mqtt.broker.log().count('Received PINGREQ from yi-cam_yihttpd') >= 3)
    assert 'exceeded timeout' not in mqtt.broker.log()
    assert bridge.log().count('birth published') == 1


class ScriptedBroker:
    """A one-connection MQTT broker in a thread that holds back its first PINGRESP.

    It answers the first PINGREQ only just before the PUBACK of the next
    PUBLISH, so the bridge reads that PINGRESP beside the acknowledgement.
    """

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.received = []           # packet types, in order
        self.closed_first = None     # after DISCONNECT: 'bridge' or 'broker'
        threading.Thread(target=self.serve, daemon=True).start()

    def read_packet(self, conn):
        first = conn.recv(1)
        if not first:
            return None, b''
        length, shift = 0, 0
        while True:
            digit = conn.recv(1)[0]
            length |= (digit & 0x7F) << shift
            shift += 7
            if not digit & 0x80:
                break
        body = b''
        while len(body) < length:
            body += conn.recv(length - len(body))
        return first[0] & 0xF0, body

    def serve(self):
        conn, _ = self.listener.accept()
        held_pong = None
        while True:
            kind, body = self.read_packet(conn)
            if kind is None:
                return
            self.received.append(kind)
            if kind == 0xE0:
                self.see_who_closes_first(conn)
                return
            if kind == 0x10:
                conn.sendall(b'\x20\x02\x00\x00')
            elif kind == 0x80:   # SUBSCRIBE (cmnd/#): granted QoS 1
                conn.sendall(b'\x90\x03' + body[:2] + b'\x01')
            elif kind == 0xC0:
                if held_pong is None:
                    held_pong = True
                else:
                    conn.sendall(b'\xd0\x00')
            elif kind == 0x30:
                topic_length = body[0] << 8 | body[1]
                pid = body[2 + topic_length:4 + topic_length]
                if held_pong:
                    conn.sendall(b'\xd0\x00')
                    held_pong = False
                conn.sendall(b'\x40\x02' + pid)

    def see_who_closes_first(self, conn):
        """A broker closes after DISCONNECT: a client that closes first, with an
        acknowledgement unread, resets the connection, and a broker that meets the
        reset before reading the DISCONNECT publishes the will."""
        closed = False
        if select.select([conn], [], [], 0.5)[0]:
            try:
                closed = not conn.recv(1)
            except ConnectionResetError:
                closed = True
        self.closed_first = 'bridge' if closed else 'broker'
        conn.close()

    def close(self):
        self.listener.close()


def test_a_clean_stop_leaves_closing_to_the_broker(mqtt, runtime):
    """A second 'offline' (the will) once followed the bridge's own after a stop."""
    if runtime != 'cpython':
        pytest.skip('no signal module: SIGTERM ends the bridge at once, the broker publishes the will')
    broker = ScriptedBroker()
    try:
        mqtt.configure(MQTT_PORT=str(broker.port))
        bridge = mqtt.start_bridge()
        bridge.wait_log('birth published')
        bridge.proc.terminate()
        assert bridge.proc.wait(5) == 0
        assert broker.received[-2:] == [0x30, 0xE0]   # the goodbye, then DISCONNECT
        assert wait_until(lambda: broker.closed_first is not None)
        assert broker.closed_first == 'broker'
    finally:
        broker.close()


def test_a_pingresp_read_beside_a_puback_counts_as_the_answer(mqtt):
    broker = ScriptedBroker()
    try:
        mqtt.configure(MQTT_PORT=str(broker.port), MQTT_KEEPALIVE='1')
        bridge = mqtt.start_bridge()
        assert wait_until(lambda: 0xC0 in broker.received), broker.received
        mqtt.events.send(MOTION_START)           # its PUBACK comes after the held PINGRESP
        assert wait_until(lambda: broker.received.count(0xC0) >= 3), (broker.received, bridge.log())
        assert broker.received.count(0x10) == 1
        assert 'connection lost' not in bridge.log()
    finally:
        broker.close()


def test_user_and_password_are_sent_and_a_refusal_is_retried(mqtt, tmp_path):
    password_file = str(tmp_path / 'passwords')
    subprocess.run(['mosquitto_passwd', '-b', '-c', password_file, 'cam', 's3cret'], check=True)
    os.chmod(password_file, 0o644)
    mqtt.broker.stop()
    mqtt.broker = Broker(str(tmp_path), password_file)
    mqtt.configure(MQTT_USER='cam', MQTT_PASSWORD='wrong')
    refused = mqtt.start_bridge()
    refused.wait_log('connection refused: not authorized', 2)
    assert 'connected to' not in refused.log()
    refused.stop()
    mqtt.configure(MQTT_USER='cam', MQTT_PASSWORD='s3cret')
    bridge = mqtt.start_bridge()
    bridge.wait_log('birth published')


# --- other event sources, and refusals at start ---

def test_a_fifo_of_frames_is_read_on_either_runtime(mqtt, tmp_path):
    fifo = str(tmp_path / 'events.fifo')
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDWR)
    try:
        live = mqtt.subscribe(LIVE)
        mqtt.start_bridge('--ipc-events', fifo)
        live.expect('yicam/status online 0 1')
        os.write(fd, struct.pack('<H', len(BABY_CRYING)) + BABY_CRYING)
        live.expect('yicam/motion_detection crying 0 1')
    finally:
        os.close(fd)


def test_a_regular_file_of_frames_is_read_and_followed(mqtt, tmp_path):
    path = str(tmp_path / 'events.bin')
    with open(path, 'wb') as f:
        f.write(struct.pack('<H', 16) + MOTION_START)
    live = mqtt.subscribe(LIVE)
    mqtt.start_bridge('--ipc-events', path)
    live.expect('yicam/status online 0 1', 'yicam/motion_detection motion_start 0 1')
    with open(path, 'ab') as f:
        f.write(struct.pack('<H', 16) + MOTION_STOP)
    live.expect('yicam/motion_detection motion_stop 0 1')


@pytest.mark.parametrize('key,value', [('MQTT_PORT', '1\u00b2'), ('MQTT_QOS', '3'), ('MQTT_TLS', 'yes'),
                                       ('MOTION_IMAGE_DELAY', '9')])
def test_a_conf_value_the_firmware_would_misread_stops_it_at_start_saying_so(mqtt, sd, key, value):
    sd.set_conf('mqttv4.conf', key, value)
    bridge = mqtt.start_bridge()
    assert bridge.proc.wait(5) == 2
    assert key in bridge.log() and 'expected' in bridge.log()


def test_a_missing_event_source_stops_it_at_start_saying_so(mqtt, tmp_path):
    bridge = mqtt.start_bridge('--ipc-events', str(tmp_path / 'nothing-here'))
    assert bridge.proc.wait(5) == 1
    assert 'cannot read events from' in bridge.log()


def test_the_bridge_imports_no_http_module(runtime):
    from harness import runtime_command, runtime_env
    code = ('import sys\nimport yihttpd.mqtt, yihttpd.mqtt_events, yihttpd.mqtt_settings, yihttpd.mqtt_advertise\n'
            'print(sorted(m for m in sys.modules if m.startswith("yihttpd")))')
    out = subprocess.run(runtime_command(runtime, None) + ['-c', code], cwd=REPO, env=runtime_env(runtime),
                         stdout=subprocess.PIPE, check=True).stdout.decode()
    for name in ('http', 'server', 'wire', 'app', 'sdcard', 'transports', 'handlers'):
        assert "'yihttpd.%s'" % name not in out, out

"""The MQTT motion-event bridge (python3 -m yihttpd.mqtt) against a real mosquitto.

Each test runs the bridge under CPython and under MicroPython 1.26.1. Events
go into a real POSIX queue (read through ctypes or ffi), or into a FIFO or
file of length-framed messages where a test is about those. A real
mosquitto_sub prints every message as "topic payload retain qos".
"""
import os
import signal
import socket
import struct
import subprocess
import threading
import time

from mqtt_harness import (BABY_CRYING, MOTION_START, MOTION_START_NEWER, MOTION_STOP,
                          PTZ_STOP_COMMAND, SOUND, Broker, EventSource, wait_until)


def test_birth_then_motion_and_sound_events_on_their_topics_with_qos_1(mqtt):
    live = mqtt.subscribe()
    bridge = mqtt.start_bridge()
    live.expect('yicam/status online 0 1')
    for message in (MOTION_START, MOTION_STOP, SOUND, BABY_CRYING, MOTION_START_NEWER):
        mqtt.events.send(message)
    live.expect('yicam/motion_detection motion_start 0 1',
                'yicam/motion_detection motion_stop 0 1',
                'yicam/sound_detection sound_detected 0 1',
                'yicam/baby_crying crying 0 1',
                'yicam/motion_detection motion_start 0 1')
    # Retained as configured: the status is (MQTT_RETAIN_BIRTH_WILL=1), motion is not.
    late = mqtt.subscribe()
    late.expect('yicam/status online 1 1')
    late.nothing_more()
    assert bridge.proc.poll() is None


def test_retain_qos_0_prefix_topics_and_messages_follow_mqttv4_conf(mqtt):
    long_birth = 'up-' + 'x' * 300     # a packet over 127 bytes: a 2-byte remaining length
    mqtt.configure(MQTT_QOS='0', MQTT_RETAIN_MOTION='1', MQTT_PREFIX='cam1',
                   TOPIC_MOTION='moves', MOTION_STOP_MSG='still', BIRTH_MSG=long_birth)
    live = mqtt.subscribe('cam1/#')
    mqtt.start_bridge()
    live.expect('cam1/status %s 0 0' % long_birth)
    mqtt.events.send(MOTION_STOP)
    live.expect('cam1/moves still 0 0')
    late = mqtt.subscribe('cam1/moves')
    late.expect('cam1/moves still 1 0')


def test_unknown_short_and_command_messages_are_ignored(mqtt):
    live = mqtt.subscribe()
    bridge = mqtt.start_bridge()
    live.expect('yicam/status online 0 1')
    for junk in (b'', b'\x01\x00', b'\xff' * 16, PTZ_STOP_COMMAND, os.urandom(300)):
        mqtt.events.send(junk)
    mqtt.events.send(MOTION_START)
    live.expect('yicam/motion_detection motion_start 0 1')
    live.nothing_more()
    assert bridge.proc.poll() is None
    assert 'Traceback' not in bridge.log()


def test_reconnects_after_broker_restart_and_publishes_birth_again(mqtt):
    bridge = mqtt.start_bridge()
    bridge.wait_log('birth published')
    mqtt.broker.stop()
    bridge.wait_log('connection lost')
    mqtt.events.send(MOTION_START)          # nobody to send it to: dropped, no crash
    bridge.wait_log('not connected: dropped motion_start')
    mqtt.broker.start()                     # same port, no retained messages kept
    live = mqtt.subscribe()
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
    live = mqtt.subscribe()
    bridge = mqtt.start_bridge()
    live.expect('yicam/status online 0 1')
    bridge.proc.send_signal(signal.SIGKILL)
    live.expect('yicam/status offline 0 1')
    late = mqtt.subscribe()
    late.expect('yicam/status offline 1 1')


def test_sigterm_ends_the_bridge_and_status_goes_offline(mqtt, runtime):
    live = mqtt.subscribe()
    bridge = mqtt.start_bridge()
    live.expect('yicam/status online 0 1')
    bridge.proc.terminate()
    assert bridge.proc.wait(5) in (0, -signal.SIGTERM)
    live.expect('yicam/status offline 0 1')
    if runtime == 'cpython':   # published by the bridge itself, then DISCONNECT
        assert bridge.proc.returncode == 0
        assert 'Client yi-cam disconnected.' in mqtt.broker.log()
    else:                      # no signal module: the broker published the will
        assert 'Client yi-cam closed its connection.' in mqtt.broker.log()


def test_keepalive_pings_keep_the_session_open(mqtt):
    mqtt.configure(MQTT_KEEPALIVE='1')
    bridge = mqtt.start_bridge()
    bridge.wait_log('birth published')
    assert wait_until(lambda: mqtt.broker.log().count('Received PINGREQ from yi-cam') >= 3)
    assert 'exceeded timeout' not in mqtt.broker.log()
    assert bridge.log().count('birth published') == 1


class ScriptedBroker:
    """A one-connection MQTT broker in a thread that holds back its first PINGRESP.

    It answers the first PINGREQ only just before the PUBACK of the next
    PUBLISH, so the bridge reads that PINGRESP inside its publish call.
    """

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.received = []           # packet types, in order
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
            if kind == 0x10:
                conn.sendall(b'\x20\x02\x00\x00')
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

    def close(self):
        self.listener.close()


def test_a_pingresp_read_while_waiting_for_a_puback_counts_as_the_answer(mqtt):
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
    refused.wait_log('unreachable', 2)
    assert 'connected to' not in refused.log()
    refused.stop()
    mqtt.configure(MQTT_USER='cam', MQTT_PASSWORD='s3cret')
    bridge = mqtt.start_bridge()
    bridge.wait_log('birth published')


def test_a_fifo_of_frames_is_read_on_either_runtime(mqtt, runtime, test_queue, tmp_path):
    fifo = EventSource(test_queue, str(tmp_path / 'fifo'), fifo=True)
    try:
        live = mqtt.subscribe()
        mqtt.start_bridge('--ipc-events', fifo.name)
        live.expect('yicam/status online 0 1')
        fifo.send(BABY_CRYING)
        live.expect('yicam/baby_crying crying 0 1')
    finally:
        fifo.close()


def test_a_regular_file_of_frames_is_read_and_followed(mqtt, tmp_path):
    path = str(tmp_path / 'events.bin')
    with open(path, 'wb') as f:
        f.write(struct.pack('<H', 16) + MOTION_START)
    live = mqtt.subscribe()
    mqtt.start_bridge('--ipc-events', path)
    live.expect('yicam/status online 0 1', 'yicam/motion_detection motion_start 0 1')
    with open(path, 'ab') as f:
        f.write(struct.pack('<H', 16) + MOTION_STOP)
    live.expect('yicam/motion_detection motion_stop 0 1')


def test_without_a_broker_address_it_stops_at_start_saying_so(mqtt, sd):
    sd.set_conf('mqttv4.conf', 'MQTT_IP', '')
    bridge = mqtt.start_bridge()
    assert bridge.proc.wait(5) == 2
    assert 'MQTT_IP is empty' in bridge.log()


def test_a_missing_event_source_stops_it_at_start_saying_so(mqtt, tmp_path):
    bridge = mqtt.start_bridge('--ipc-events', str(tmp_path / 'nothing-here'))
    assert bridge.proc.wait(5) == 1
    assert 'cannot read events from' in bridge.log()

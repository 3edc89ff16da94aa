"""camera_settings.sh, ptz.sh and preset.sh: what reaches the camera, when, and what is refused.

The `camera` fixture reads the commands back: on CPython from a real POSIX
queue with a test name (--ipc mqueue), on MicroPython from the record
transport's file.
"""
import json
import socket
import time

import pytest

from client import TestClient
from harness import read_until_closed

from yihttpd import ipc

pytestmark = pytest.mark.arch   # also on 32-bit ARM and MIPS (musl) under qemu

ALL_SETTINGS = ('switch_on=no&save_video_on_motion=yes&sensitivity=medium'
                '&led=no&ir=yes&rotate=yes')
# switch_on=no: the camera goes off, then 1 s later its motion event is ended (ipc_cmd -T)
ALL_SETTINGS_BYTES = (ipc.switch(False) + ipc.motion_stop_event() + ipc.save_on_motion(True)
                      + ipc.sensitivity('medium') + ipc.led(False) + ipc.ir(True) + ipc.rotate(True))
SPACING = 0.5
TIMING_MARGIN = 0.1   # the bound for when the PTZ stop and a setting arrive
MEANWHILE = 1.0       # seconds another client's answer takes at most while a move runs (a quiet
                      # machine: milliseconds; a server that waited for the move: its whole time)


def start_request(server, path):
    """Send a GET without waiting for its answer; finish_request reads it."""
    sock = socket.create_connection((server.host, server.port), timeout=15)
    sock.sendall(('GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n'
                  % (path, server.host)).encode())
    return sock


def finish_request(sock):
    data = read_until_closed(sock)
    sock.close()
    head, _, body = data.partition(b'\r\n\r\n')
    return int(head.split(b' ')[1]), json.loads(body)


def camera_conf(sd):
    values = {}
    for line in sd.read('yi-hack/etc/camera.conf').decode().split('\n'):
        key, eq, value = line.partition('=')
        if eq:
            values[key] = value
    return values


# --- camera_settings.sh ---

def test_settings_are_saved_then_sent_in_order_and_answered_after_the_last(camera, sd):
    started = time.monotonic()
    status, body = camera.server.get_json('/cgi-bin/camera_settings.sh?' + ALL_SETTINGS)
    took = time.monotonic() - started
    assert status == 200 and body['error'] == 'false'
    assert took >= 1 + 5 * SPACING - TIMING_MARGIN
    assert camera.sent() == ALL_SETTINGS_BYTES
    values = camera_conf(sd)
    assert (values['SWITCH_ON'], values['SAVE_VIDEO_ON_MOTION'], values['SENSITIVITY'],
            values['LED'], values['IR'], values['ROTATE']) == ('no', 'yes', 'medium', 'no', 'yes', 'yes')


MAX_SENDING = 4   # setting sequences the server has under way at once


def test_a_flood_of_settings_runs_at_most_4_sequences_and_refuses_the_rest(camera, sd):
    # Before: every request queued its six timed commands, even from clients
    # that left at once; on MicroPython's heap a flood of them ran it out of memory.
    before = sd.read('yi-hack/etc/camera.conf')
    clients = [start_request(camera.server, '/cgi-bin/camera_settings.sh?led=no&ir=no')
               for _ in range(MAX_SENDING + 3)]   # 2 commands each: 8 fit the test queue
    answers = [finish_request(sock) for sock in clients]
    assert sorted(status for status, _ in answers) == [200] * MAX_SENDING + [503] * 3
    assert all('busy' in body['message'] for status, body in answers if status == 503)
    assert camera.sent() == (ipc.led(False) * MAX_SENDING) + (ipc.ir(False) * MAX_SENDING)
    assert sd.read('yi-hack/etc/camera.conf') != before
    assert camera.server.get_json('/cgi-bin/camera_settings.sh?led=yes')[0] == 200


def test_a_subset_sends_only_its_commands_in_the_query_order(camera, sd):
    before = camera_conf(sd)
    status, _ = camera.server.get_json('/cgi-bin/camera_settings.sh?led=yes&sensitivity=low')
    assert status == 200
    assert camera.sent() == ipc.led(True) + ipc.sensitivity('low')
    after = camera_conf(sd)
    assert after['LED'] == 'yes' and after['SENSITIVITY'] == 'low'
    assert after['IR'] == before['IR'] and after['ROTATE'] == before['ROTATE']


def test_a_key_missing_from_camera_conf_is_added(camera, sd):
    text = sd.read('yi-hack/etc/camera.conf').decode()
    sd.write('yi-hack/etc/camera.conf', '\n'.join(
        line for line in text.split('\n') if not line.startswith('ROTATE=')))
    assert camera.server.get_json('/cgi-bin/camera_settings.sh?rotate=yes')[0] == 200
    assert camera_conf(sd)['ROTATE'] == 'yes'
    assert camera.sent() == ipc.rotate(True)


def test_settings_are_spaced_half_a_second_on_the_queue(camera):
    sock = start_request(camera.server, '/cgi-bin/camera_settings.sh?led=yes&ir=no&rotate=no')
    times = []
    for _ in range(3):
        got = camera.queue.receive(5)
        assert got is not None
        times.append(got[0])
    assert finish_request(sock)[0] == 200
    for earlier, later in zip(times, times[1:]):
        assert abs(later - earlier - SPACING) <= TIMING_MARGIN


BAD_SETTINGS = [
    'switch_on=maybe', 'switch_on=YES', 'switch_on=', 'save_video_on_motion=1',
    'sensitivity=max', 'sensitivity=Low', 'led=on', 'ir=off', 'rotate=180',
    'led=yes&ir=bad',          # one bad value spoils the whole request
    'rotate=no%0Aother=1', 'motion_detection=on', 'ai_human_detection=1', 'face_detection=',
    'sound_sensitivity=55', 'sound_sensitivity=100', 'cruise=yes', 'cruise=360%20',
    'led=no&cruise=presets&sound_detection=maybe',
]


@pytest.mark.table
@pytest.mark.parametrize('query', BAD_SETTINGS)
def test_an_invalid_setting_is_refused_with_nothing_saved_or_sent(camera, sd, query):
    before = sd.snapshot()
    status, body = camera.server.get_json('/cgi-bin/camera_settings.sh?' + query)
    assert status == 400 and body['error'] == 'true'
    assert sd.snapshot() == before
    assert camera.sent() == b''


# --- ptz.sh ---

def test_ptz_stop_arrives_time_seconds_after_the_move(camera):
    sock = start_request(camera.server, '/cgi-bin/ptz.sh?dir=left&time=1.5')
    move = camera.queue.receive(5)
    stop = camera.queue.receive(5)
    answered = finish_request(sock)
    assert move[1] == ipc.ptz_move('left') and stop[1] == ipc.ptz_stop()
    assert abs(stop[0] - move[0] - 1.5) <= TIMING_MARGIN
    assert answered == (200, {'error': 'false'})


def test_ptz_moves_then_stops_after_the_default_time(camera):
    started = time.monotonic()
    status, body = camera.server.get_json('/cgi-bin/ptz.sh?dir=down')
    took = time.monotonic() - started
    assert status == 200 and body['error'] == 'false'
    assert 0.3 - TIMING_MARGIN <= took <= 0.3 + 1
    assert camera.sent() == ipc.ptz_move('down') + ipc.ptz_stop()


def test_status_is_answered_at_once_while_ptz_moves(camera):
    sock = start_request(camera.server, '/cgi-bin/ptz.sh?dir=left&time=2')
    assert camera.queue.receive(5)[1] == ipc.ptz_move('left')   # the move is under way
    started = time.monotonic()
    status, _ = camera.server.get_json('/cgi-bin/status.json')
    assert status == 200
    assert time.monotonic() - started < MEANWHILE
    assert camera.sent() == b''
    assert finish_request(sock)[0] == 200
    assert camera.sent() == ipc.ptz_stop()


def test_a_new_move_stops_the_running_one_first(camera):
    first = start_request(camera.server, '/cgi-bin/ptz.sh?dir=left&time=5')
    assert camera.queue.receive(5)[1] == ipc.ptz_move('left')   # the first move is under way
    started = time.monotonic()
    status, body = camera.server.get_json('/cgi-bin/ptz.sh?dir=right&time=0.2')
    assert status == 200
    assert finish_request(first) == (200, {'error': 'false', 'interrupted': 'true'})
    assert time.monotonic() - started < 2
    assert camera.sent() == ipc.ptz_stop() + ipc.ptz_move('right') + ipc.ptz_stop()


@pytest.mark.table
@pytest.mark.parametrize('query', [
    '', 'dir=', 'dir=north', 'dir=LEFT', 'dir=left&time=0', 'dir=left&time=10.5',
    'dir=left&time=11', 'dir=left&time=-1', 'dir=left&time=abc', 'dir=left&time=1e1',
    'dir=left&time=nan', 'dir=left&time=1.2.3', 'dir=left&time=.', 'dir=left&time=',
    'dir=left&time=0000000001',
])
def test_ptz_refuses_invalid_values_and_sends_nothing(camera, sd, query):
    before = sd.snapshot()
    status, body = camera.server.get_json('/cgi-bin/ptz.sh?' + query)
    assert status == 400 and body['error'] == 'true'
    assert camera.sent() == b''
    assert sd.snapshot() == before


def test_ptz_accepts_a_fraction_without_leading_zero(camera):
    assert camera.server.get_json('/cgi-bin/ptz.sh?dir=up&time=.1')[0] == 200
    assert camera.sent() == ipc.ptz_move('up') + ipc.ptz_stop()


@pytest.mark.parametrize('text,seconds', [('10', 10.0), ('10.0', 10.0), ('0.3', 0.3), ('2', 2.0)])
def test_ptz_time_reaches_ten_seconds(text, seconds):
    from yihttpd.handlers.ptz import parse_seconds
    assert parse_seconds(text) == seconds


# --- preset.sh ---

@pytest.mark.table
@pytest.mark.parametrize('query,number', [
    ('num=0', 0), ('num=15', 15), ('action=go_preset&num=7', 7), ('num=03', 3)])
def test_preset_sends_go_to_preset(camera, query, number):
    status, body = camera.server.get_json('/cgi-bin/preset.sh?' + query)
    assert status == 200 and body['error'] == 'false'
    assert camera.sent() == ipc.go_preset(number)


@pytest.mark.table
@pytest.mark.parametrize('query', [
    '', 'num=', 'num=16', 'num=-1', 'num=abc', 'num=1.5', 'num=%201', 'num=100',
    'action=remove_preset&num=1', 'action=&num=1'])
def test_preset_refuses_invalid_values_and_sends_nothing(camera, sd, query):
    before = sd.snapshot()
    status, body = camera.server.get_json('/cgi-bin/preset.sh?' + query)
    assert status == 400 and body['error'] == 'true'
    assert camera.sent() == b''
    assert sd.snapshot() == before


# --- apply_camera_settings (load.sh calls it after a load) ---

def test_apply_camera_settings_resends_what_camera_conf_holds(sd, tmp_path):
    from yihttpd import camera_rules
    client = TestClient(sd.path, '--homever', sd.file('homever'), tmp_dir=tmp_path)   # not an AI version
    sent = []
    client.app.ipc.send = lambda message: sent.append((time.monotonic(), message))
    for key, value in (('SWITCH_ON', 'yes'), ('SAVE_VIDEO_ON_MOTION', 'no'), ('SENSITIVITY', 'high'),
                       ('LED', 'yes'), ('IR', 'no'), ('ROTATE', 'bogus')):
        sd.set_conf('camera.conf', key, value)
    for key in ('MOTION_DETECTION', 'FACE_DETECTION', 'MOTION_TRACKING', 'SOUND_DETECTION',
                'SOUND_SENSITIVITY', 'CRUISE', 'AI_HUMAN_DETECTION'):
        sd.set_conf('camera.conf', key, 'bogus')
    finished = []
    assert camera_rules.apply_camera_settings(client.app, sd.file('yi-hack/etc/camera.conf'), '',
                                              finished.append) == 6
    client.run_until(lambda: finished, 'the settings sent again')
    assert finished == [None]
    # the firmware page's order (switch_on last), then the AI rule ('bogus' is not 'no': on)
    assert [message for _, message in sent] == [
        ipc.save_on_motion(False), ipc.sensitivity('high'), ipc.led(True), ipc.ir(False),
        ipc.switch(True), ipc.ai_human(True)]
    times = [at for at, _ in sent]
    for earlier, later in zip(times, times[1:]):
        assert abs(later - earlier - SPACING) <= TIMING_MARGIN


# --- the keys the firmware's page sends besides the first six (bytes from ipc_cmd.h) ---

def header(target, code, flag=1, length=4):
    return bytes([target, 0, 0, 0, 8, 0, 0, 0, code & 0xff, code >> 8, flag & 0xff, flag >> 8,
                  length, 0, 0, 0])


@pytest.mark.table
@pytest.mark.parametrize('query,sent', [
    ('face_detection=yes', header(1, 0x103d) + b'\x01\0\0\0'),
    ('face_detection=no', header(1, 0x103d) + b'\0\0\0\0'),
    ('motion_tracking=yes', header(1, 0x400b) + b'\x01\0\0\0'),
    ('sound_detection=yes', header(2, 0x103a) + b'\x02\0\0\0'),
    ('sound_detection=no', header(2, 0x103a) + b'\x01\0\0\0'),
    ('sound_sensitivity=35', header(2, 0x103b) + b'\x23\0\0\0'),
    ('sound_sensitivity=90', header(2, 0x103b) + b'\x5a\0\0\0'),
    ('cruise=no', header(1, 0x4005, length=0)),
])
def test_each_further_key_sends_the_ipc_cmd_bytes(camera, query, sent):
    assert camera.server.get_json('/cgi-bin/camera_settings.sh?' + query) == (200, {'error': 'false'})
    assert camera.sent() == sent


def test_cruise_presets_turns_cruise_on_then_picks_the_mode(camera, sd):
    started = time.monotonic()
    assert camera.server.get_json('/cgi-bin/camera_settings.sh?cruise=presets')[0] == 200
    assert time.monotonic() - started >= 0.6 - TIMING_MARGIN
    on = header(1, 0x4004, length=0)
    assert camera.sent() == on + on + header(1, 0x4003, length=8) + bytes(8)
    assert camera_conf(sd)['CRUISE'] == 'presets'


AI_HUMAN_ON = header(1, 0x103c) + b'\x01\0\0\0'
AI_HUMAN_OFF = header(1, 0x103c) + b'\0\0\0\0'
AI_MOTION = header(1, 0x1041)
AI_VEHICLE = header(1, 0x1040)
AI_ANIMAL = header(1, 0x103f)
ON, OFF = b'\x01\0\0\0', b'\0\0\0\0'


@pytest.mark.parametrize('homever,query,sent', [
    (None, 'ai_human_detection=no', AI_HUMAN_OFF),
    ('10.2.3', 'motion_detection=no&ai_human_detection=yes', AI_HUMAN_ON),
    ('11.0.1', 'motion_detection=yes&ai_human_detection=no', AI_MOTION + ON),
    ('12.9', 'motion_detection=no&ai_human_detection=yes&ai_vehicle_detection=no&ai_animal_detection=yes',
     AI_MOTION + OFF + AI_HUMAN_ON + AI_VEHICLE + OFF + AI_ANIMAL + ON),
])
def test_ai_keys_follow_the_home_version_rules(runtime, start_server, sd, homever, query, sent):
    from conftest import CameraLink
    path = sd.file('homever')
    if homever is not None:
        sd.write('homever', homever + '\n')
    link = CameraLink(runtime, start_server, ['--homever', path])
    try:
        assert link.server.get_json('/cgi-bin/camera_settings.sh?' + query)[0] == 200
        assert link.sent() == sent
        assert camera_conf(sd)['AI_HUMAN_DETECTION'] == ('no' if 'human_detection=no' in query else 'yes')
    finally:
        link.close()


def test_the_firmware_pages_fifteen_keys_are_all_saved_and_sent(camera, sd):
    query = ('save_video_on_motion=no&motion_detection=yes&sensitivity=high&ai_human_detection=no'
             '&ai_vehicle_detection=no&ai_animal_detection=no&face_detection=no&motion_tracking=no'
             '&sound_detection=yes&sound_sensitivity=50&led=yes&ir=yes&rotate=no&cruise=no&switch_on=yes')
    sock = start_request(camera.server, '/cgi-bin/camera_settings.sh?' + query)
    got = [camera.queue.receive(5) for _ in range(12)]   # read as sent: more than the test queue holds
    assert finish_request(sock)[0] == 200
    assert b''.join(message for _, message in got) == (ipc.save_on_motion(False) + ipc.sensitivity('high') + ipc.face_detection(False)
                             + ipc.motion_tracking(False) + ipc.sound_detection(True)
                             + ipc.sound_sensitivity('50') + ipc.led(True) + ipc.ir(True)
                             + ipc.rotate(False) + ipc.cruise(False) + ipc.switch(True) + AI_HUMAN_OFF)
    values = camera_conf(sd)
    assert (values['MOTION_DETECTION'], values['SOUND_SENSITIVITY'], values['CRUISE']) == ('yes', '50', 'no')

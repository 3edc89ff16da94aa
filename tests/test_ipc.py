"""IPC (docs/IPC.md): the command catalogue byte for byte, events, queues, transports.

The queue tests run on every runtime: ctypes on CPython, ffi on MicroPython.
"""
import os
import time

import pytest

from harness import wait_until
from yihttpd import compat, ipc, mqueue

pytestmark = pytest.mark.arch   # also on 32-bit ARM and MIPS (musl) under qemu


def h(text):
    return bytes.fromhex(text.replace(' ', ''))


# every row of IPC.md's command table, copied from the spec
CATALOGUE = [
    (ipc.switch(True), '02 00 00 00 08 00 00 00 74 00 01 00 00 00 00 00'),
    (ipc.switch(False), '02 00 00 00 08 00 00 00 75 00 01 00 00 00 00 00'),
    (ipc.save_on_motion(False), '02 00 00 00 08 00 00 00 79 00 01 00 00 00 00 00'),
    (ipc.save_on_motion(True), '02 00 00 00 08 00 00 00 78 00 01 00 00 00 00 00'),
    (ipc.sensitivity('high'), '01 00 00 00 08 00 00 00 27 10 01 00 04 00 00 00 00 00 00 00'),
    (ipc.sensitivity('medium'), '01 00 00 00 08 00 00 00 27 10 01 00 04 00 00 00 01 00 00 00'),
    (ipc.sensitivity('low'), '01 00 00 00 08 00 00 00 27 10 01 00 04 00 00 00 02 00 00 00'),
    (ipc.led(True), '02 00 00 00 08 00 00 00 76 00 01 00 00 00 00 00'),
    (ipc.led(False), '02 00 00 00 08 00 00 00 77 00 01 00 00 00 00 00'),
    (ipc.ir(True), '02 00 00 00 08 00 00 00 24 10 01 00 04 00 00 00 01 00 00 00'),
    (ipc.ir(False), '02 00 00 00 08 00 00 00 24 10 01 00 04 00 00 00 02 00 00 00'),
    (ipc.rotate(True), '02 00 00 00 08 00 00 00 7a 00 01 00 00 00 00 00'),
    (ipc.rotate(False), '02 00 00 00 08 00 00 00 7b 00 01 00 00 00 00 00'),
    (ipc.ptz_move('up'), '01 00 00 00 08 00 00 00 06 40 06 40 18 00 00 00 01 00 00 00 00 00 00 00'),
    (ipc.ptz_move('down'), '01 00 00 00 08 00 00 00 06 40 06 40 18 00 00 00 02 00 00 00 00 00 00 00'),
    (ipc.ptz_move('left'), '01 00 00 00 08 00 00 00 06 40 06 40 18 00 00 00 03 00 00 00 00 00 00 00'),
    (ipc.ptz_move('right'), '01 00 00 00 08 00 00 00 06 40 06 40 18 00 00 00 04 00 00 00 00 00 00 00'),
    (ipc.ptz_stop(), '01 00 00 00 08 00 00 00 07 40 01 00 00 00 00 00'),
    (ipc.go_preset(0), '01 00 00 00 08 00 00 00 02 40 01 00 04 00 00 00 00 00 00 00'),
    (ipc.go_preset(7), '01 00 00 00 08 00 00 00 02 40 01 00 04 00 00 00 07 00 00 00'),
    (ipc.go_preset(15), '01 00 00 00 08 00 00 00 02 40 01 00 04 00 00 00 0f 00 00 00'),
    (ipc.add_preset(), '01 00 00 00 08 00 00 00 00 40 01 00 00 00 00 00'),
    (ipc.remove_preset(3), '01 00 00 00 08 00 00 00 01 40 01 00 04 00 00 00 03 00 00 00'),
    (ipc.cruise(False), '01 00 00 00 08 00 00 00 05 40 01 00 00 00 00 00'),
    (ipc.cruise(True), '01 00 00 00 08 00 00 00 04 40 01 00 00 00 00 00'),
]


@pytest.mark.parametrize('built,expected', CATALOGUE, ids=[e for _b, e in CATALOGUE])
def test_catalogue_builds_each_command_byte_for_byte(built, expected):
    assert built == h(expected)


EVENTS = [
    ('01 00 00 00 02 00 00 00 7c 00 7c 00 00 00 00 00', 'motion_start'),
    ('04 00 00 00 02 00 00 00 09 70 09 70 00 00 00 00', 'motion_start'),
    ('01 00 00 00 02 00 00 00 7d 00 7d 00 00 00 00 00', 'motion_stop'),
    ('01 00 00 00 02 00 00 00 ed 00 ed 00 00 00 00 00', 'ai_human_detected'),
    ('04 00 00 00 02 00 00 00 02 60 02 60 00 00 00 00', 'baby_crying'),
    ('04 00 00 00 02 00 00 00 04 60 04 60 00 00 00 00', 'sound_detected'),
]


@pytest.mark.parametrize('header,name', EVENTS)
def test_events_are_recognised_by_their_first_16_bytes(header, name):
    assert ipc.event_name(h(header)) == name
    assert ipc.event_name(h(header) + b'\x99' * 40) == name
    assert ipc.event_name(bytearray(h(header))) == name
    assert ipc.event_name(memoryview(h(header) + b'\0\0')) == name


@pytest.mark.parametrize('junk', [
    b'', b'\x01', h('01 00 00 00 02 00 00 00 7c 00 7c 00 00 00 00'),   # one byte short
    h('01 00 00 00 02 00 00 00 7c 00 7d 00 00 00 00 00'), b'\xff' * 512,
    ipc.ptz_stop(), None, 42, 'text that is long enough to be a header'])
def test_anything_else_is_no_event_and_never_raises(junk):
    assert ipc.event_name(junk) is None


def test_message_queue_binding_sends_receives_and_reports_full_and_empty(test_queue):
    queue = test_queue(maxmsg=2)
    writer = mqueue.MessageQueue(queue.name, mqueue.O_RDWR | mqueue.O_NONBLOCK)
    assert writer.msgsize == 512 and writer.maxmsg == 2
    writer.send(b'one')
    writer.send(ipc.ptz_stop())
    with pytest.raises(OSError) as full:
        writer.send(b'three')
    assert compat.errno_of(full.value) == compat.EAGAIN
    assert queue.drain() == [b'one', ipc.ptz_stop()]
    with pytest.raises(OSError) as empty:
        writer.receive(bytearray(512))
    assert compat.errno_of(empty.value) == compat.EAGAIN
    writer.close()


def test_message_queue_that_does_not_exist_is_enoent():
    with pytest.raises(OSError) as missing:
        mqueue.MessageQueue('/yihttpd-test-%d-none' % os.getpid(), mqueue.O_RDWR | mqueue.O_NONBLOCK)
    assert compat.errno_of(missing.value) == compat.ENOENT


def test_message_queue_descriptor_polls_readable_when_a_message_waits(test_queue):
    queue = test_queue()
    assert queue.receive(0) is None
    writer = mqueue.MessageQueue(queue.name, mqueue.O_WRONLY | mqueue.O_NONBLOCK)
    writer.send(b'x' * 512)
    got = queue.receive(1)
    assert got is not None and got[1] == b'x' * 512
    writer.close()


# --- transports through the real server ---

def test_full_queue_is_a_503_at_once_not_a_hang(start_server, test_queue):
    queue = test_queue(maxmsg=1)
    server = start_server('--ipc', 'mqueue', '--ipc-queue', queue.name)
    status, body = server.get_json('/cgi-bin/preset.sh?num=1')
    assert status == 200 and queue.drain() == [ipc.go_preset(1)]
    filler = mqueue.MessageQueue(queue.name, mqueue.O_WRONLY | mqueue.O_NONBLOCK)
    filler.send(b'fill')
    started = time.monotonic()
    status, body = server.get_json('/cgi-bin/preset.sh?num=2')
    assert time.monotonic() - started < 1
    assert status == 503 and body['error'] == 'true' and 'full' in body['message']
    assert queue.drain() == [b'fill']
    status, body = server.get_json('/cgi-bin/preset.sh?num=3')
    assert status == 200 and queue.drain() == [ipc.go_preset(3)]
    filler.close()


def test_missing_queue_is_a_503_and_found_once_it_exists(start_server, test_queue):
    name = '/yihttpd-test-%d-q0' % os.getpid()
    mqueue.MessageQueue.unlink(name)
    server = start_server('--ipc', 'mqueue', '--ipc-queue', name)
    status, body = server.get_json('/cgi-bin/preset.sh?num=1')
    assert status == 503 and name in body['message']
    queue = test_queue()
    assert queue.name == name
    status, body = server.get_json('/cgi-bin/preset.sh?num=1')
    assert status == 200 and queue.drain() == [ipc.go_preset(1)]


def test_auto_picks_the_queue_when_it_opens(start_server, test_queue):
    queue = test_queue()
    server = start_server('--ipc', 'auto', '--ipc-queue', queue.name)
    assert 'camera commands via mqueue' in server.log()
    assert server.get_json('/cgi-bin/preset.sh?num=4')[0] == 200
    assert queue.drain() == [ipc.go_preset(4)]


def stand_in_ipc_cmd(sd, out_path):
    """A stand-in for the firmware's ipc_cmd: `-f FILE` appends FILE's bytes to out_path."""
    path = sd.write('yi-hack/bin/ipc_cmd',
                    '#!/bin/sh\n[ "$1" = "-f" ] || exit 2\ncat "$2" >> %s\n' % out_path)
    os.chmod(path, 0o755)
    return path


def wait_for_bytes(path, count):
    """What the stand-in ipc_cmd wrote, once it holds count bytes (what it has after the wait)."""
    def written():
        return open(path, 'rb').read() if os.path.exists(path) else b''
    wait_until(lambda: len(written()) >= count)
    return written()


def test_auto_falls_back_to_ipc_cmd_with_the_message_in_a_file(start_server, sd, tmp_path):
    out = str(tmp_path / 'ipc_cmd-got.bin')
    stand_in_ipc_cmd(sd, out)
    server = start_server('--ipc', 'auto', '--ipc-queue', '/yihttpd-test-%d-none' % os.getpid(),
                          '--tmp-dir', str(tmp_path))
    assert 'camera commands via ipc_cmd' in server.log()
    assert server.get_json('/cgi-bin/preset.sh?num=5')[0] == 200
    assert server.get_json('/cgi-bin/ptz.sh?dir=up&time=0.1')[0] == 200
    expected = ipc.go_preset(5) + ipc.ptz_move('up') + ipc.ptz_stop()
    assert wait_for_bytes(out, len(expected)) == expected
    assert wait_until(lambda: not [n for n in os.listdir(str(tmp_path)) if n.startswith('yihttpd-ipc-')])


def test_without_queue_or_ipc_cmd_the_server_serves_the_rest_and_camera_services_say_why(
        start_server, sd, test_queue):
    """A card booted on another model, or a queue not made yet: no crash, a clear 503."""
    name = '/yihttpd-test-%d-q0' % os.getpid()
    mqueue.MessageQueue.unlink(name)
    sd.add_video('2024Y01M02D03H', '04M05S60', data=b'v' * 100)
    server = start_server('--ipc', 'auto', '--ipc-queue', name)
    assert server.get_json('/cgi-bin/status.json')[0] == 200
    assert server.get('/record/2024Y01M02D03H/04M05S60.mp4')[2] == b'v' * 100
    for _ in range(3):
        status, body = server.get_json('/cgi-bin/ptz.sh?dir=left&time=0.1')
        assert status == 503 and body['error'] == 'true'
        assert name in body['message']
        assert 'No such file' in body['message'] or 'ENOENT' in body['message']
    assert server.proc.poll() is None
    assert server.log().count('no way to reach the camera yet') == 1
    assert 'ipc_cmd is missing' in server.log()
    queue = test_queue()   # the camera makes its queue later: commands reach it
    assert queue.name == name
    assert server.get_json('/cgi-bin/preset.sh?num=2')[0] == 200
    assert queue.drain() == [ipc.go_preset(2)]


def test_demo_logs_the_bytes_it_would_have_sent(start_server, tmp_path):
    server = start_server('--demo', '--ipc', 'auto', root=str(tmp_path / 'demo'))
    assert server.get_json('/cgi-bin/camera_settings.sh?led=no')[0] == 200
    assert 'ipc (recorded, not sent): 02 00 00 00 08 00 00 00 77 00 01 00 00 00 00 00' in server.log()


TOOL_BACKLOG = 16   # transports.py: commands waiting for ipc_cmd at most


def test_a_flood_of_commands_through_ipc_cmd_is_bounded(start_server, sd, tmp_path):
    # Before: every command queued a temp file and an ipc_cmd run (4000 ptz requests, 6000 files).
    out = str(tmp_path / 'ipc_cmd-got.bin')
    tool = stand_in_ipc_cmd(sd, out)
    release = tmp_path / 'release'
    with open(tool, 'a') as f:   # a camera that takes no command until the test lets it
        f.write('while [ ! -e %s ]; do sleep 0.05; done\n' % release)
    tmp_dir = tmp_path / 'tmp'
    tmp_dir.mkdir()
    server = start_server('--ipc', 'ipc_cmd', '--tmp-dir', str(tmp_dir))
    statuses = [server.get('/cgi-bin/preset.sh?num=1')[0] for _ in range(TOOL_BACKLOG + 8)]
    # One ipc_cmd runs, TOOL_BACKLOG commands wait for it, the rest are refused.
    assert statuses.count(200) == TOOL_BACKLOG + 1 and statuses.count(503) == 7
    assert len([n for n in os.listdir(str(tmp_dir)) if n.startswith('yihttpd-ipc-')]) <= TOOL_BACKLOG + 1
    assert server.get('/cgi-bin/status.json')[0] == 200
    release.write_text('go')
    assert wait_for_bytes(out, (TOOL_BACKLOG + 1) * len(ipc.go_preset(1))) == ipc.go_preset(1) * (TOOL_BACKLOG + 1)


def test_a_ptz_stop_the_camera_cannot_take_is_sent_again(start_server, sd, tmp_path):
    # Before: a stop whose send failed was never sent again; the camera kept moving.
    out = str(tmp_path / 'ipc_cmd-got.bin')
    tool = stand_in_ipc_cmd(sd, out)
    server = start_server('--ipc', 'ipc_cmd', '--tmp-dir', str(tmp_path))
    import threading
    answer = []
    thread = threading.Thread(target=lambda: answer.append(server.get('/cgi-bin/ptz.sh?dir=left&time=0.5')))
    thread.start()
    assert wait_for_bytes(out, len(ipc.ptz_move('left'))) == ipc.ptz_move('left')
    os.rename(tool, tool + '.away')   # the tool is gone when the stop is due
    thread.join(5)
    assert answer[0][0] == 503
    os.rename(tool + '.away', tool)
    expected = ipc.ptz_move('left') + ipc.ptz_stop()
    assert wait_for_bytes(out, len(expected)) == expected

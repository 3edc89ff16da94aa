"""record.sh (a motion event on demand) and timelapse.sh (record/timelapse), as the firmware's."""
import os
import time

import pytest

from conftest import prepared

pytestmark = pytest.mark.arch   # also on 32-bit ARM and MIPS (musl) under qemu

# ipc_cmd.h's IPC_MOTION_START and IPC_MOTION_STOP
MOTION_START = b'\x01\x00\x00\x00\x02\x00\x00\x00\x7c\x00\x7c\x00\x00\x00\x00\x00'
MOTION_STOP = b'\x01\x00\x00\x00\x02\x00\x00\x00\x7d\x00\x7d\x00\x00\x00\x00\x00'
MARGIN = 0.2


def test_record_starts_a_motion_event_and_ends_it_after_time(camera):
    started = time.monotonic()
    assert camera.server.get_json('/cgi-bin/record.sh?time=1') == (200, {'error': 'false'})
    assert time.monotonic() - started < 0.5   # answered at once
    start = camera.queue.receive(1)
    stop = camera.queue.receive(3)
    assert start[1] == MOTION_START and stop[1] == MOTION_STOP
    assert abs(stop[0] - start[0] - 1) <= MARGIN


def test_a_second_record_moves_the_end(camera):
    assert camera.server.get_json('/cgi-bin/record.sh?time=1')[0] == 200
    time.sleep(0.5)
    assert camera.server.get_json('/cgi-bin/record.sh?time=1')[0] == 200
    first, second = camera.queue.receive(1), camera.queue.receive(1)
    stop = camera.queue.receive(3)
    assert first[1] == second[1] == MOTION_START and stop[1] == MOTION_STOP
    assert abs(stop[0] - second[0] - 1) <= MARGIN
    assert camera.queue.receive(1) is None   # one stop only


@pytest.mark.table
@pytest.mark.parametrize('query', ['time=0', 'time=301', 'time=1.5', 'time=abc', 'time=', 'time=-1'])
def test_record_refuses_what_ipc_cmd_would_not_take(camera, sd, query):
    before = sd.snapshot()
    status, body = camera.server.get_json('/cgi-bin/record.sh?' + query)
    assert status == 400 and body['error'] == 'true'
    assert camera.sent() == b'' and sd.snapshot() == before


NAMES = ['2024-01-31_23-59-00.avi', '2024-02-01_00-00-05.avi', '2023-12-31_12-30-45.avi']


def add_timelapses(sd):
    for name in NAMES:
        sd.write('record/timelapse/' + name, b'RIFF' + name.encode())
    sd.write('record/timelapse/notes.txt', 'x')
    sd.write('record/timelapse/2024-1-31_23-59-00.avi', 'bad')   # 22 characters
    os.symlink('/etc/passwd', sd.file('record/timelapse/2024-03-01_00-00-00.avi'))


@pytest.fixture
def timelapses(request, sd):
    return prepared(request, sd, add_timelapses)


def test_list_is_newest_first_with_the_firmware_fields(server, timelapses):
    status, body = server.get_json('/cgi-bin/timelapse.sh?action=list')
    assert status == 200
    assert body == {'error': 'false', 'records': [
        {'date': 'Date: 2024-02-01', 'time': 'Time: 00:00:05', 'filename': '2024-02-01_00-00-05.avi'},
        {'date': 'Date: 2024-01-31', 'time': 'Time: 23:59:00', 'filename': '2024-01-31_23-59-00.avi'},
        {'date': 'Date: 2023-12-31', 'time': 'Time: 12:30:45', 'filename': '2023-12-31_12-30-45.avi'},
    ]}


def test_list_without_the_folder_is_empty(server):
    assert server.get_json('/cgi-bin/timelapse.sh?action=list') == (200, {'error': 'false', 'records': []})


def test_a_video_is_served_and_deleted(server, timelapses):
    status, headers, body = server.get('/record/timelapse/' + NAMES[0])
    assert status == 200 and body == b'RIFF' + NAMES[0].encode()
    assert headers['content-type'] == 'video/x-msvideo'
    assert server.get_json('/cgi-bin/timelapse.sh?action=delete&file=' + NAMES[0]) == (200, {'error': 'false'})
    assert not os.path.exists(timelapses.file('record/timelapse/' + NAMES[0]))
    assert server.get('/record/timelapse/' + NAMES[0])[0] == 404


@pytest.mark.table
@pytest.mark.parametrize('query', [
    'action=delete', 'action=delete&file=../2020Y01M01D01H', 'action=delete&file=notes.txt',
    'action=delete&file=2024-03-01_00-00-00.avi', 'action=delete&file=2024-01-31_23-59-00.avi%00',
    'action=delete&file=..%2F..%2Fyi-hack%2Fetc%2Fsystem.co', 'action=purge',
    'action=delete&file=2024-01-31_23-59-00.avi&x=1', 'action=list&dir=..',
])
def test_refusals_delete_nothing(server, timelapses, query):
    before = timelapses.snapshot()
    status, body = server.get_json('/cgi-bin/timelapse.sh?' + query)
    assert status == 400 and body['error'] == 'true'
    assert timelapses.snapshot() == before


@pytest.mark.table
@pytest.mark.parametrize('path', ['/record/timelapse/2024-03-01_00-00-00.avi', '/record/timelapse/notes.txt',
                                  '/record/timelapse/..%2F..%2Fyi-hack%2Fetc%2Fsystem.conf'])
def test_only_plain_timelapse_videos_are_served(server, timelapses, path):
    assert server.get(path)[0] == 400

"""snapshot.sh: the grabber's JPEG, or the fallback image that says so.

Stand-in grabbers (shell scripts) play imggrabber: one that works, one that
fails, one that prints no JPEG and one that never answers.
"""
import os
import socket
import time

import pytest

from conftest import prepared, shared

from harness import REPO, running, wait_until

FRAME = bytes.fromhex('ffd8ffe000104a46494600') + b'frame' * 100 + bytes.fromhex('ffd9')
FALLBACK = open(os.path.join(REPO, 'www', 'snapshot-fallback.jpg'), 'rb').read()
GRABBER = 'yi-hack/bin/imggrabber'
GRABBER_TIMEOUT = 5.0
MEANWHILE = 1.0   # seconds another client's answer takes at most while a grabber runs (quiet: ms)


def install_grabber(sd, body, rel=GRABBER):
    path = sd.write(rel, '#!/bin/sh\n' + body)
    os.chmod(path, 0o755)
    return path


def good_grabber(sd, tmp_path, rel=GRABBER):
    """Writes its arguments to args.txt and the sample frame to stdout."""
    frame = sd.write('frame.bin', FRAME)
    args = tmp_path / 'args.txt'
    install_grabber(sd, 'echo "$@" > %s\ncat %s\n' % (args, frame), rel)
    return args


@pytest.fixture
def tmp_dir(tmp_path):
    path = tmp_path / 'tmp'
    path.mkdir()
    return path


def server_with_tmp_dir(sd, folder, start):
    """A server whose temp files go to a folder of their own, and that folder."""
    tmp_dir = folder / 'tmp'
    tmp_dir.mkdir()
    return start('--tmp-dir', str(tmp_dir)), tmp_dir


def snapshot_files(tmp_dir):
    return [n for n in os.listdir(str(tmp_dir)) if n.startswith('yihttpd-snapshot')]


def test_snapshot_streams_the_grabbers_jpeg(start_server, sd, tmp_path, tmp_dir):
    args = good_grabber(sd, tmp_path)
    server = start_server('--tmp-dir', str(tmp_dir))
    status, headers, body = server.get('/cgi-bin/snapshot.sh')
    assert status == 200 and headers['content-type'] == 'image/jpeg'
    assert body == FRAME and int(headers['content-length']) == len(FRAME)
    assert 'x-snapshot' not in headers
    assert args.read_text().split() == ['-r', 'high', '-m', 'y211ga']
    assert snapshot_files(tmp_dir) == []


def test_snapshot_passes_resolution_and_watermark(start_server, sd, tmp_path):
    args = good_grabber(sd, tmp_path)
    server = start_server()
    status, _headers, body = server.get('/cgi-bin/snapshot.sh?res=low&watermark=yes')
    assert status == 200 and body == FRAME
    assert args.read_text().split() == ['-r', 'low', '-w', '-m', 'y211ga']


def test_grabber_path_is_configurable(start_server, sd, tmp_path):
    args = good_grabber(sd, tmp_path, 'tools/grab')
    server = start_server('--grabber', sd.file('tools/grab'))
    status, _headers, body = server.get('/cgi-bin/snapshot.sh')
    assert status == 200 and body == FRAME and args.exists()


def assert_fallback(response):
    status, headers, body = response
    assert status == 200 and headers['content-type'] == 'image/jpeg'
    assert headers['x-snapshot'] == 'fallback'
    assert body == FALLBACK and int(headers['content-length']) == len(FALLBACK)


def test_missing_grabber_gives_the_fallback(server):
    assert_fallback(server.get('/cgi-bin/snapshot.sh'))
    assert 'imggrabber is missing' in server.log()


@pytest.mark.table
@pytest.mark.parametrize('grabber', [
    'echo half > /dev/null\nexit 1\n',               # fails
    'printf "\\377\\330partial"\nexit 3\n',          # fails after part of a frame
    'echo "not an image"\n',                         # succeeds without a JPEG
    'exit 0\n',                                       # succeeds with nothing
])
def test_failing_grabber_gives_the_fallback(request, runtime, sd, grabber):
    install_grabber(sd, grabber)
    server, tmp_dir = shared(request, server_with_tmp_dir)
    assert_fallback(server.get('/cgi-bin/snapshot.sh'))
    assert snapshot_files(tmp_dir) == []


def test_silent_grabber_gives_the_fallback_after_5_s_while_others_are_served(start_server, sd):
    mark = sd.file('grabbing')
    install_grabber(sd, 'echo started > %s\nsleep 8\n' % mark)
    server = start_server()
    import threading
    result = {}

    def grab():
        started = time.monotonic()
        result['response'] = server.get('/cgi-bin/snapshot.sh', timeout=15)
        result['took'] = time.monotonic() - started

    thread = threading.Thread(target=grab)
    thread.start()
    assert wait_until(lambda: os.path.exists(mark) and open(mark).read() == 'started\n')
    started = time.monotonic()
    assert server.get('/cgi-bin/status.json')[0] == 200
    assert time.monotonic() - started < MEANWHILE
    thread.join(15)
    assert_fallback(result['response'])
    assert GRABBER_TIMEOUT - 0.2 <= result['took'] <= GRABBER_TIMEOUT + 2
    assert 'silent' in server.log()


@pytest.mark.table
@pytest.mark.parametrize('query', [
    'res=medium', 'res=HIGH', 'res=', 'watermark=1', 'watermark=on', 'res=low&watermark=',
    'res=low%3Brm'])
def test_snapshot_refuses_invalid_values(server, sd, folder, query):
    args = good_grabber(sd, folder)
    status, headers, _body = server.get('/cgi-bin/snapshot.sh?' + query)
    assert status == 400 and headers['content-type'] == 'application/json'
    assert not args.exists()


def test_clients_that_leave_at_once_leave_no_grabber_running_nor_files(start_server, sd, tmp_dir,
                                                                       tmp_path):
    # Before (MicroPython): a client gone before the grabber's pid was known left it
    # running uncounted: 100 such clients, 99 grabbers and 101 status files.
    runs = tmp_path / 'runs.log'
    install_grabber(sd, 'echo start >> %s\nsleep 2\necho end >> %s\n' % (runs, runs))
    server = start_server('--tmp-dir', str(tmp_dir))
    for _ in range(40):
        with socket.create_connection((server.host, server.port)) as s:
            s.sendall(b'GET /cgi-bin/snapshot.sh HTTP/1.1\r\nHost: x\r\n\r\n')
    assert server.holds(0)   # every request was taken and its client is gone
    assert wait_until(lambda: runs.exists() and 'start' in runs.read_text())
    # Every grabber stopped: one left running would have written 'end' before it ended.
    assert wait_until(lambda: not running(sd.file(GRABBER)))
    assert 'end' not in runs.read_text()
    assert wait_until(lambda: os.listdir(str(tmp_dir)) == [])
    assert server.get('/cgi-bin/status.json')[0] == 200


# --- base64=yes (the firmware page's previews) and file= ---

def busybox_base64(data):
    """What `imggrabber | base64` gives on the camera: busybox's base64, 76 characters a line."""
    import subprocess
    return subprocess.run(['busybox', 'base64'], input=data, stdout=subprocess.PIPE, check=True).stdout


@pytest.mark.parametrize('size', [len(FRAME), 57 * 3, 57 * 64 * 2 + 5])
def test_base64_is_busybox_base64_of_the_jpeg(start_server, sd, tmp_path, size):
    frame = (FRAME * (size // len(FRAME) + 1))[:size]
    sd.write('frame.bin', frame)
    install_grabber(sd, 'cat %s\n' % sd.file('frame.bin'))
    status, headers, body = start_server().get('/cgi-bin/snapshot.sh?res=low&base64=yes')
    assert status == 200 and headers['content-type'] == 'image/jpeg;base64'
    assert body == busybox_base64(frame)
    assert int(headers['content-length']) == len(body)


def test_base64_of_the_fallback_when_the_grabber_is_missing(server):
    status, headers, body = server.get('/cgi-bin/snapshot.sh?base64=yes')
    assert status == 200 and headers['x-snapshot'] == 'fallback'
    assert body == busybox_base64(FALLBACK)


@pytest.mark.parametrize('query,content', [
    ('file=front.jpg', FRAME), ('file=front.b64&base64=yes', None)])
def test_file_saves_the_snapshot_in_the_record_folder(start_server, sd, tmp_path, query, content):
    good_grabber(sd, tmp_path)
    server = start_server()
    assert server.get_json('/cgi-bin/snapshot.sh?' + query) == (200, {'error': 'false'})
    name = query.split('&')[0][5:]
    assert sd.read('record/' + name) == (content or busybox_base64(FRAME))
    assert [n for n in os.listdir(sd.record) if n.endswith('.tmp')] == []


def planted(sd):
    os.symlink('/etc/passwd', sd.file('record/link.jpg'))
    os.mkdir(sd.file('record/2020Y01M01D01H'))


@pytest.mark.table
@pytest.mark.parametrize('name', ['../yi-hack/etc/system.conf', '.hidden', 'a/b.jpg', '', 'tmp.mp4.tmp',
                                  'x.tmp', 'link.jpg', '2020Y01M01D01H', 'a%0Ab'])
def test_file_refuses_names_that_leave_or_spoof_the_record_folder(request, server, sd, folder, name):
    args = good_grabber(sd, folder)
    prepared(request, sd, planted)
    before = sd.snapshot()
    status, body = server.get_json('/cgi-bin/snapshot.sh?file=' + name)
    assert status == 400 and body['error'] == 'true'
    assert sd.snapshot() == before and not args.exists()


def test_file_without_a_grabber_saves_nothing(server, sd):
    before = sd.snapshot()
    status, body = server.get_json('/cgi-bin/snapshot.sh?file=front.jpg')
    assert status == 503 and body['error'] == 'true'
    assert sd.snapshot() == before

"""When memory runs out at the worst places, only that request fails, and cleanly.

On the camera's MicroPython at 256K, reading a CGI program's answer,
starting a program, or reading a request head fail now and then, as the
heap's layout decides. tests/memory_fault.py makes one of these places
raise MemoryError every time; the server runs at 256K on MicroPython.
Then the answer is a 503, nothing is left behind (no pipe, fd or body
file: a body may hold an ONVIF password), the loop does not spin, and the
log, in the camera's RAM, gets one traceback, not one per failure.
"""
import os
import socket

from harness import REPO, read_until_closed
from mqtt_harness import wait_until
from test_cgi import card, post_soap  # noqa: F401 - card is a fixture

HEAP = '256K'
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REQUESTS = 30


def faulty_server(start_server, tmp_path, place, *args, while_file=None):
    """The server at HEAP with PLACE always out of memory (or while while_file exists),
    its temp files in tmp_path/tmp."""
    tmp = tmp_path / 'tmp'
    tmp.mkdir()
    path = REPO + ':' + TESTS_DIR
    env = {'YIHTTPD_MEMORY_FAULT': place, 'MICROPYPATH': path, 'PYTHONPATH': path}
    if while_file is not None:
        env['YIHTTPD_MEMORY_FAULT_WHILE'] = while_file
    server = start_server('--tmp-dir', str(tmp), '--ipc', 'record', '--ipc-record', str(tmp_path / 'ipc.bin'),
                          *args, heap=HEAP, module='memory_fault', env=env)
    server.tmp = str(tmp)
    return server


def open_files(server):
    """What the server process holds open, sockets aside: the targets of its fds."""
    fd_dir = '/proc/%d/fd' % server.proc.pid
    found = []
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue   # closed meanwhile
        if not target.startswith('socket:'):   # a client's, closed once the server sees it leave
            found.append(target)
    return found


def tracebacks(server):
    return server.log().count('Traceback (most recent call last)')


def test_an_answer_pipe_that_cannot_be_read_ends_its_run(card, start_server, tmp_path):
    """The run ended at once (503), its pipe closed: not polled again, readable, on every
    loop turn with a traceback each time (5 MB of log in 2 s) until the time limit's 504."""
    server = faulty_server(start_server, tmp_path, 'cgi-read', '--cgi-timeout', '20')
    status, headers, body = post_soap(server)
    assert status == 503 and headers['retry-after'] == '1', body
    assert b'short of memory' in body
    assert not [name for name in open_files(server) if 'yihttpd-cgi' in name]
    assert wait_until(lambda: os.listdir(server.tmp) == []), os.listdir(server.tmp)
    assert tracebacks(server) == 1, server.log()[-2000:]
    assert server.get('/cgi-bin/status.json')[0] == 200


def test_a_program_that_cannot_be_started_leaves_nothing_behind(card, start_server, tmp_path):
    """Its named pipe (name and fd) and its body file in --tmp-dir are gone; each of
    these runs leaked them (fds 6 -> 20 in 14 of 20 requests at 256K)."""
    server = faulty_server(start_server, tmp_path, 'cgi-start')
    assert post_soap(server)[0] == 503   # the first run loads the gateway's modules
    held = len(open_files(server))
    for _ in range(5):
        status, headers, body = post_soap(server)
        assert status == 503 and headers['retry-after'] == '1', body
        assert os.listdir(server.tmp) == []
    assert len(open_files(server)) == held
    assert not [name for name in open_files(server) if 'yihttpd-cgi' in name]
    assert server.get('/cgi-bin/status.json')[0] == 200


def test_a_failure_on_every_connection_writes_one_traceback(start_server, tmp_path):
    """Not one per connection (31 KB/s into the camera's RAM, even with --quiet)."""
    server = faulty_server(start_server, tmp_path, 'request', '--quiet')
    for _ in range(REQUESTS):
        with socket.create_connection((server.host, server.port), timeout=10) as s:
            s.sendall(b'GET /cgi-bin/status.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
            assert read_until_closed(s).startswith(b'HTTP/1.1 503 ')
    assert tracebacks(server) == 1, server.log()[-2000:]


def test_a_conf_that_cannot_be_read_again_keeps_what_was_read(sd, start_server, tmp_path):
    """system.conf is read again at each request while younger than FAT's 2 s tick: with
    no block for it (32 clients at 256K did that), auth answered 503. The values read
    before stand; never read, nothing stands for them (no password is not none set)."""
    sd.set_conf('system.conf', 'USERNAME', 'admin')
    sd.set_conf('system.conf', 'PASSWORD', 'pw')
    flag = str(tmp_path / 'no-memory')
    server = faulty_server(start_server, tmp_path, 'conf-read', while_file=flag)
    credentials = {'Authorization': 'Basic YWRtaW46cHc='}   # admin:pw
    assert server.get('/cgi-bin/status.json', headers=credentials)[0] == 200
    open(flag, 'w').close()
    sd.set_conf('system.conf', 'PASSWORD', 'pw')   # the same, written again: young, read each time
    assert server.get('/cgi-bin/status.json', headers=credentials)[0] == 200
    assert server.get('/cgi-bin/status.json')[0] == 401
    assert 'MemoryError' not in server.log()
    (tmp_path / 'second').mkdir()
    fresh = faulty_server(start_server, tmp_path / 'second', 'conf-read', while_file=flag)
    assert fresh.get('/cgi-bin/status.json')[0] == 503   # never read: refused, not let through


def test_status_json_answers_when_iwconfig_cannot_be_started(start_server, tmp_path):
    """The Wi-Fi name is read by iwconfig beside the loop; with no heap to start it,
    status.json answered 503. It answers, with the name read before (N/A at first)."""
    server = faulty_server(start_server, tmp_path, 'program-start')
    for _ in range(3):
        status, body = server.get_json('/cgi-bin/status.json')
        assert status == 200 and body['wlan_essid'] == 'N/A'
    assert 'MemoryError' not in server.log()

"""The HTTP layer: keep-alive, HEAD, bounds, timeouts, pipelining, errors."""
import json
import socket
import subprocess
import time

import pytest

from harness import REPO, read_until_closed, runtime_command, runtime_env, wait_until

# also on 32-bit ARM and MIPS (musl) under qemu; the foundation: the .mpy payload at 256K
pytestmark = [pytest.mark.arch, pytest.mark.small_heap]


def read_response(sock):
    """Read one response (head + Content-Length body) from a blocking socket."""
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError('closed before a response head: %r' % data)
        data += chunk
    head, _, rest = data.partition(b'\r\n\r\n')
    lines = head.decode().split('\r\n')
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(':')
        headers[name.strip().lower()] = value.strip()
    length = int(headers['content-length'])
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError('closed inside a body')
        rest += chunk
    return int(lines[0].split()[1]), headers, rest[:length], rest[length:]


def is_closed(sock, wait=2.0):
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b''
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def connect(server):
    return socket.create_connection((server.host, server.port), timeout=5)


def test_http11_keeps_the_connection_for_several_requests(server):
    with connect(server) as s:
        for _ in range(3):
            s.sendall(b'GET /cgi-bin/hostname.js HTTP/1.1\r\nHost: x\r\n\r\n')
            status, headers, body, _ = read_response(s)
            assert status == 200
            assert body == b'hostname="yi-hack";'
            assert 'close' not in headers.get('connection', '')


def test_http10_closes_unless_keep_alive_is_asked(server):
    with connect(server) as s:
        s.sendall(b'GET /cgi-bin/hostname.js HTTP/1.0\r\n\r\n')
        status, headers, _, _ = read_response(s)
        assert status == 200 and headers['connection'] == 'close'
        assert is_closed(s)
    with connect(server) as s:
        for _ in range(2):
            s.sendall(b'GET /cgi-bin/hostname.js HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')
            status, headers, _, _ = read_response(s)
            assert status == 200 and headers['connection'] == 'keep-alive'


def test_connection_close_is_honoured(server):
    with connect(server) as s:
        s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        status, _, _, _ = read_response(s)
        assert status == 200
        assert is_closed(s)


def test_head_sends_the_headers_of_get_without_a_body(server):
    _, get_headers, get_body = server.get('/cgi-bin/hostname.js')
    with connect(server) as s:
        s.sendall(b'HEAD /cgi-bin/hostname.js HTTP/1.1\r\nHost: x\r\n\r\n'
                  b'GET /cgi-bin/hostname.js HTTP/1.1\r\nHost: x\r\n\r\n')
        data = b''
        deadline = time.time() + 3
        while data.count(b'HTTP/1.1 200') < 2 and time.time() < deadline:
            data += s.recv(4096)
    first, second = data.split(b'HTTP/1.1 200')[1:3]
    assert ('Content-Length: %d' % len(get_body)).encode() in first
    assert first.endswith(b'\r\n\r\n'), 'HEAD answer carried a body'
    assert second.endswith(get_body)


def test_pipelined_requests_are_answered_in_order(server):
    with connect(server) as s:
        s.sendall(b'GET /cgi-bin/hostname.js HTTP/1.1\r\nHost: x\r\n\r\n'
                  b'GET /nope.html HTTP/1.1\r\nHost: x\r\n\r\n'
                  b'GET /cgi-bin/hostname.js HTTP/1.1\r\nHost: x\r\n\r\n')
        statuses = []
        leftover = b''
        for _ in range(3):
            if leftover:
                # the rest of the pipeline may already be in hand
                s2 = _Prebuffered(s, leftover)
                status, _, _, leftover = read_response(s2)
            else:
                status, _, _, leftover = read_response(s)
            statuses.append(status)
    assert statuses == [200, 404, 200]


PIPELINE_BURST = 200   # tiny requests in one send: more than one recv's worth


def test_a_burst_of_pipelined_requests_is_answered_in_full(server):
    """Answered one loop turn at a time: by recursion, MicroPython's stack ran out near 128."""
    one = b'GET /cgi-bin/hostname.js HTTP/1.1\r\nHost: x\r\n\r\n'
    with connect(server) as s:
        s.sendall(one * PIPELINE_BURST + b'GET /nope.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        answers = read_until_closed(s)
    assert answers.count(b'HTTP/1.1 200 OK\r\n') == PIPELINE_BURST
    assert answers.count(b'HTTP/1.1 404 Not Found\r\n') == 1
    assert 'Traceback' not in server.log()


BEHIND_LONG_POLL = 500   # tiny requests, 24 KB: more than the head's worth read while an answer waits


def test_requests_pipelined_behind_a_long_poll_are_all_answered_after_it(sd, start_server):
    # Before: what arrived past a head's worth while the long-poll waited was dropped.
    sd.write('record/tmp.mp4.tmp', b'recording')
    sd.add_video('2020Y01M01D01H', '00M00S60')
    server = start_server('--longpoll-timeout', '1')
    one = b'GET /cgi-bin/hostname.js HTTP/1.1\r\nHost: x\r\n\r\n'
    with connect(server) as s:
        s.sendall(b'GET /cgi-bin/getlastrecordedvideo.sh?oldness=-1 HTTP/1.1\r\nHost: x\r\n\r\n')
        assert server.handled(s)   # it waits now
        s.sendall(one * BEHIND_LONG_POLL + b'GET /nope.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        answers = read_until_closed(s)
    assert answers.startswith(b'HTTP/1.1 200 OK\r\n')
    assert b'2020Y01M01D01H/00M00S60.mp4' in answers
    assert answers.count(b'HTTP/1.1 200 OK\r\n') == BEHIND_LONG_POLL + 1
    assert answers.count(b'HTTP/1.1 404 Not Found\r\n') == 1


class _Prebuffered:
    """A socket whose first recv returns bytes already read."""

    def __init__(self, sock, data):
        self.sock = sock
        self.data = data

    def recv(self, n):
        if self.data:
            data, self.data = self.data, b''
            return data
        return self.sock.recv(n)


def test_every_answer_carries_content_length(server):
    for path in ('/', '/cgi-bin/status.json', '/cgi-bin/nothing.sh', '/missing.css',
                 '/record/2020Y01M01D01H/00M00S60.mp4'):
        status, headers, body = server.get(path)
        assert 'content-length' in headers, path
        assert int(headers['content-length']) == len(body), path


def test_unknown_service_is_a_json_404(server):
    status, headers, body = server.get('/cgi-bin/nothing.sh')
    assert status == 404
    assert headers['content-type'] == 'application/json'
    assert json.loads(body)['error'] == 'true'


def test_request_line_over_2k_is_414_and_closes(server):
    reply = server.raw(b'GET /' + b'a' * 2100 + b' HTTP/1.1\r\nHost: x\r\n\r\n')
    assert reply.startswith(b'HTTP/1.1 414 ')
    assert b'Connection: close' in reply


def test_request_line_over_2k_is_refused_before_it_ends(server):
    reply = server.raw(b'GET /' + b'a' * 3000)
    assert reply.startswith(b'HTTP/1.1 414 ')


def test_headers_over_8k_are_431_and_close(server):
    headers = b''.join(b'X-Filler-%d: %s\r\n' % (i, b'v' * 100) for i in range(90))
    reply = server.raw(b'GET / HTTP/1.1\r\nHost: x\r\n' + headers + b'\r\n')
    assert reply.startswith(b'HTTP/1.1 431 ')
    assert b'Connection: close' in reply


def test_body_over_the_route_limit_is_413_without_reading_it(server):
    reply = server.raw(b'POST /cgi-bin/status.json HTTP/1.1\r\nHost: x\r\n'
                       b'Content-Length: 100000000\r\n\r\n')
    assert reply.startswith(b'HTTP/1.1 413 ')
    assert b'Connection: close' in reply


def test_chunked_request_body_asks_for_a_length(server):
    reply = server.raw(b'POST /cgi-bin/status.json HTTP/1.1\r\nHost: x\r\n'
                       b'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n')
    assert reply.startswith(b'HTTP/1.1 411 ')


def test_malformed_requests_are_400(server):
    for raw in (b'GARBAGE\r\n\r\n', b'GET noslash HTTP/1.1\r\n\r\n',
                b'GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n',
                b'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n',
                b'GET /\xff HTTP/1.1\r\n\r\n'):
        reply = server.raw(raw)
        assert reply.startswith(b'HTTP/1.1 400 '), raw


def test_unsupported_version_is_505(server):
    assert server.raw(b'GET / HTTP/2.0\r\n\r\n').startswith(b'HTTP/1.1 505 ')


def test_other_methods_are_405(server):
    for method in (b'PUT', b'DELETE'):
        assert server.raw(method + b' /cgi-bin/status.json HTTP/1.1\r\nHost: x\r\n\r\n').startswith(b'HTTP/1.1 405 ')
    assert server.raw(b'POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n').startswith(
        b'HTTP/1.1 405 ')


def test_a_405_says_in_allow_which_methods_the_path_takes(server):
    def allow(request):
        reply = server.raw(request)
        assert reply.startswith(b'HTTP/1.1 405 '), reply
        return [line for line in reply.split(b'\r\n') if line.lower().startswith(b'allow:')]
    assert allow(b'DELETE /cgi-bin/status.json HTTP/1.1\r\nHost: x\r\n\r\n') == [b'Allow: GET, HEAD, POST']
    assert allow(b'HEAD /cgi-bin/reboot.sh HTTP/1.1\r\nHost: x\r\n\r\n') == [b'Allow: GET, POST']
    assert allow(b'PUT /index.html HTTP/1.1\r\nHost: x\r\n\r\n') == [b'Allow: GET, HEAD']


def test_content_length_in_other_than_ascii_digits_is_400_never_500(server):
    for value in ('\u00b2', '\u0663', '\uff11', '1_0', '+1', ' 1_0'):
        reply = server.raw(('POST /cgi-bin/set_configs.sh?conf=system HTTP/1.1\r\nHost: x\r\n'
                            'Content-Length: %s\r\n\r\n' % value).encode())
        assert reply.startswith(b'HTTP/1.1 400 '), (value, reply)


def test_range_numbers_in_other_than_ascii_digits_are_refused(server, sd):
    sd.write('record/2020Y01M01D01H/01M00S60.mp4', b'v' * 100)
    for spec in ('bytes=\u00b2-3', 'bytes=0-\u0663', 'bytes=1_0-20', 'bytes=+1-2'):
        reply = server.raw(('GET /record/2020Y01M01D01H/01M00S60.mp4 HTTP/1.1\r\nHost: x\r\n'
                            'Range: %s\r\nConnection: close\r\n\r\n' % spec).encode())
        assert reply.startswith(b'HTTP/1.1 416 '), (spec, reply)


def test_http11_without_host_is_400_and_http10_without_it_is_answered(server):
    assert server.raw(b'GET /cgi-bin/hostname.js HTTP/1.1\r\n\r\n').startswith(b'HTTP/1.1 400 ')
    assert server.raw(b'GET /cgi-bin/hostname.js HTTP/1.0\r\n\r\n').startswith(b'HTTP/1.1 200 ')


def test_bad_percent_escape_in_a_parameter_is_400(server):
    status, body = server.get_json('/cgi-bin/status.json?x=%zz')
    # status.json takes no parameters: unknown ones are ignored, never parsed
    assert status == 200
    status, _, _ = server.get('/record/2020Y01M01D01H/%zz.mp4')
    assert status == 400


def test_expect_100_continue_gets_an_interim_answer(server):
    with connect(server) as s:
        s.sendall(b'POST /cgi-bin/status.json HTTP/1.1\r\nHost: x\r\n'
                  b'Content-Length: 100000000\r\nExpect: 100-continue\r\n\r\n')
        reply = s.recv(4096)
    # over the limit: refused at once, no 100 Continue
    assert reply.startswith(b'HTTP/1.1 413 ')


def test_incomplete_head_is_dropped_after_the_header_timeout(start_server):
    server = start_server('--header-timeout', '1')
    with connect(server) as s:
        s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n')
        started = time.time()
        assert is_closed(s, wait=5)
        assert 0.8 < time.time() - started < 3


def test_idle_keep_alive_is_closed_after_the_idle_timeout(start_server):
    server = start_server('--idle-timeout', '1')
    with connect(server) as s:
        s.sendall(b'GET /cgi-bin/hostname.js HTTP/1.1\r\nHost: x\r\n\r\n')
        read_response(s)
        started = time.time()
        assert is_closed(s, wait=5)
        assert 0.8 < time.time() - started < 3


def test_request_log_line_has_method_path_status_bytes_and_ms(server):
    server.get('/cgi-bin/hostname.js')
    assert wait_until(lambda: 'GET /cgi-bin/hostname.js' in server.log()), server.log()
    lines = [line for line in server.log().splitlines() if 'GET /cgi-bin/hostname.js' in line]
    parts = lines[-1].split()
    assert parts[-3] == '200' and int(parts[-2]) > 0 and parts[-1].endswith('ms')


def test_quiet_logs_no_request_lines(start_server):
    server = start_server('--quiet')
    server.get('/cgi-bin/hostname.js')
    server.get('/cgi-bin/status.json')   # answered after the first one's log line would be out
    assert 'hostname.js' not in server.log()


def test_two_host_or_length_headers_are_400(server):
    for extra in (b'Host: cam\r\nHost: evil.example\r\n',
                  b'Host: cam\r\nContent-Length: 0\r\nContent-Length: 5\r\n'):
        reply = server.raw(b'GET /cgi-bin/hostname.js HTTP/1.1\r\n' + extra + b'\r\n')
        assert reply.startswith(b'HTTP/1.1 400 '), extra


def test_a_folded_header_line_is_400(server):
    """Obsolete line folding (RFC 9112 5.2): the folded line was read as a header of its own."""
    for fold in (b' ', b'\t'):
        reply = server.raw(b'GET /cgi-bin/hostname.js HTTP/1.1\r\nHost: cam\r\nX-Note: a\r\n' + fold +
                           b'Host: evil.example\r\n\r\n')
        assert reply.startswith(b'HTTP/1.1 400 ') and b'folding' in reply, reply


def test_a_parameter_or_path_that_is_not_utf8_is_400(server):
    # %c0%ae is an overlong '.', which a lax decoder turns into a dot
    for path in ('/cgi-bin/eventsfile.sh?dirname=%c0%ae%c0%ae', '/record/%c0%ae%c0%ae/x.mp4',
                 '/cgi-bin/eventsfile.sh?dirname=%ed%a0%80', '/cgi-bin/eventsfile.sh?dirname=%f4%90%80%80'):
        status, _, body = server.get(path)
        assert status == 400, path
        assert json.loads(body)['message'] == 'parameter is not UTF-8', path
    reply = server.raw(b'GET /\xe0\x80\xaf HTTP/1.1\r\nHost: x\r\n\r\n')
    assert reply.startswith(b'HTTP/1.1 400 ')


def test_a_refused_upload_still_gets_its_answer_while_it_is_sending(server):
    body = bytes(1 << 20)
    with connect(server) as s:
        s.sendall(b'POST /cgi-bin/status.json HTTP/1.1\r\nHost: x\r\n'
                  b'Content-Length: %d\r\n\r\n' % len(body))
        assert wait_until(lambda: s.recv(1, socket.MSG_PEEK))   # refused at the head: the 413 is out
        s.sendall(body)    # a client that sends on regardless, as curl and browsers do
        status, headers, _, _ = read_response(s)
    assert status == 413 and headers['connection'] == 'close'


TIMER_CHAIN = """
from yihttpd.loop import Loop
loop = Loop()
turns = []
def again():
    turns.append(1)
    if len(turns) < 100:
        loop.call_later(0, again)
loop.call_later(0, again)
loop.run_timers()
print(len(turns))
"""


def test_a_chain_of_immediate_timers_lets_poll_run_between_links(runtime):
    out = subprocess.run(runtime_command(runtime, module=None) + ['-c', TIMER_CHAIN], cwd=REPO,
                         env=runtime_env(runtime), capture_output=True, timeout=30)
    assert out.stdout.split() == [b'1'], out.stderr


@pytest.mark.table
@pytest.mark.parametrize('target', [b'/x\nyihttpd:10.9.8.7_GET_/cgi-bin/reboot.sh_200\nz', b'/x\ny',
                                    b'/x\ry', b'/x\ty', b'/x\x7fy', b'/x\x00y'])
def test_control_characters_in_the_request_line_are_400_and_never_logged(server, target):
    # Before: a bare LF in the target wrote a line of the attacker's choice into the log.
    reply = server.raw(b'GET ' + target + b' HTTP/1.1\r\nHost: x\r\n\r\n')
    assert reply.startswith(b'HTTP/1.1 400 ')   # logged before the connection was closed
    assert '10.9.8.7' not in server.log()
    for line in server.log().splitlines():
        assert line.startswith('yihttpd: ') or line.startswith(' ') or line.startswith('Traceback'), line

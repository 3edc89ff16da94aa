"""The CGI gateway: ONVIF and the firmware's cgi-bin scripts, run as busybox httpd runs them.

Stand-ins sit where the firmware puts the real programs: www/onvif/
onvif_simple_server (a shell script echoing its CGI environment and stdin
in a SOAP-ish answer) behind device_service and media_service, which are
`#!.../onvif_simple_server` files as the firmware installs them; and
scripts in www/cgi-bin/. Every stand-in leaves a marker file when it runs.
"""
import base64
import os
import socket
import threading
import time

import pytest

from harness import listening, read_until_closed, running, wait_until
from yihttpd.cgi import CGI_PER_PEER, MAX_CGI_RUNS

pytestmark = pytest.mark.arch   # also on 32-bit ARM and MIPS (musl) under qemu

ONVIF = 'yi-hack/www/onvif'
CGI_BIN = 'yi-hack/www/cgi-bin'
ENV_NAMES = ('REQUEST_METHOD', 'QUERY_STRING', 'CONTENT_LENGTH', 'CONTENT_TYPE', 'REMOTE_ADDR',
             'REMOTE_PORT', 'SERVER_PROTOCOL', 'SCRIPT_NAME', 'REQUEST_URI', 'PATH_INFO',
             'HTTP_SOAPACTION', 'HTTP_HOST', 'HTTP_USER_AGENT', 'GATEWAY_INTERFACE', 'HTTP_PROXY',
             'HTTP_AUTHORIZATION')

# onvif_simple_server's stand-in: the service is the name of the file the kernel
# started it for ($1, from the #! line), the answer lists the CGI variables and
# stdin, with the header lines the real one sends (utils.c output_http_headers).
ONVIF_STAND_IN = r'''#!/bin/sh
touch "%(marker)s"
body=$(cat)
case "$1" in *events_service) sleep 2 ;; esac   # PullMessages waits for an event
answer=$(
printf '<Envelope><Service>%%s</Service><Cwd>%%s</Cwd>\n' "$(basename "$1")" "$(pwd)"
for name in %(names)s; do
    eval "set=\${$name+x} value=\${$name}"
    [ -n "$set" ] && printf '<Env name="%%s">%%s</Env>\n' "$name" "$value"
done
printf '<Body>%%s</Body></Envelope>' "$body"
)
printf 'Content-type: application/soap+xml\r\nContent-Length: %%d\r\nConnection: close\r\n\r\n%%s' \
    "${#answer}" "$answer"
'''
SOAP = '<?xml version="1.0"?><Envelope><Body><GetDeviceInformation/></Body></Envelope>'


def script(sd, rel, text, mode=0o755):
    path = sd.write(rel, text)
    os.chmod(path, mode)
    return path


def marker(sd, name='ran'):
    return sd.file('marker-' + name)


@pytest.fixture
def card(sd):
    """An SD root with the firmware's ONVIF install and two cgi-bin scripts (stand-ins)."""
    server_path = script(sd, ONVIF + '/onvif_simple_server', ONVIF_STAND_IN % {
        'marker': marker(sd, 'onvif'), 'names': ' '.join(ENV_NAMES)})
    for service in ('device_service', 'media_service', 'events_service'):
        script(sd, '%s/%s' % (ONVIF, service), '#!%s\n' % server_path)
    sd.write(ONVIF + '/generic_files/Empty.xml', '<Empty/>')
    script(sd, CGI_BIN + '/newservice.sh',
           '#!/bin/sh\ntouch "%s"\nprintf "Content-type: application/json\\r\\n\\r\\n"\n'
           'printf \'{"error":"false","query":"%%s"}\' "$QUERY_STRING"\n' % marker(sd, 'new'))
    script(sd, CGI_BIN + '/ptz.sh', '#!/bin/sh\ntouch "%s"\n' % marker(sd, 'ptz'))
    return sd


def answer_env(body):
    """The CGI variables the stand-in echoed."""
    found = {}
    for line in body.decode().split('\n'):
        if line.startswith('<Env name="'):
            name, _, rest = line[len('<Env name="'):].partition('">')
            found[name] = rest[:-len('</Env>')]
    return found


def post_soap(server, path='/onvif/device_service', headers=None):
    all_headers = {'Content-Type': 'application/soap+xml; charset=utf-8',
                   'SOAPAction': '"http://www.onvif.org/ver10/device/wsdl/GetDeviceInformation"'}
    all_headers.update(headers or {})
    return server.request('POST', path, SOAP, all_headers)


def test_soap_post_reaches_onvif_simple_server_with_the_cgi_environment(card, start_server):
    server = start_server()
    status, headers, body = post_soap(server, '/onvif/device_service?x=1',
                                      {'Proxy': 'http://evil:1/', 'Authorization': 'Basic eDp5'})
    assert status == 200
    assert headers['content-type'] == 'application/soap+xml'
    assert int(headers['content-length']) == len(body) and 'connection' not in headers
    text = body.decode()
    assert '<Service>device_service</Service>' in text
    assert '<Cwd>%s</Cwd>' % card.file(ONVIF) in text
    assert '<Body>%s</Body>' % SOAP in text
    env = answer_env(body)
    assert env['REQUEST_METHOD'] == 'POST'
    assert env['CONTENT_LENGTH'] == str(len(SOAP))
    assert env['CONTENT_TYPE'] == 'application/soap+xml; charset=utf-8'
    assert env['QUERY_STRING'] == 'x=1'
    assert env['REQUEST_URI'] == '/onvif/device_service?x=1'
    assert env['SCRIPT_NAME'] == '/onvif/device_service'
    assert env['PATH_INFO'] == ''
    assert env['REMOTE_ADDR'] == '127.0.0.1'
    assert 0 < int(env['REMOTE_PORT']) < 65536
    assert env['SERVER_PROTOCOL'] == 'HTTP/1.1'
    assert env['GATEWAY_INTERFACE'] == 'CGI/1.1'
    assert env['HTTP_SOAPACTION'] == '"http://www.onvif.org/ver10/device/wsdl/GetDeviceInformation"'
    assert env['HTTP_HOST'] == '127.0.0.1:%d' % server.port
    assert 'HTTP_PROXY' not in env and 'HTTP_AUTHORIZATION' not in env   # httpoxy; credentials
    status, _, body = post_soap(server, '/onvif/media_service')
    assert status == 200 and b'<Service>media_service</Service>' in body


def test_a_hundred_onvif_calls_in_a_row_fit_the_camera_heap(card, start_server):
    """Each run lets go of its memory when its answer is out (MicroPython at 512K: the
    first version held 4 KiB a run for the whole time limit and failed near 30 calls)."""
    server = start_server()
    for n in range(100):
        status, _, body = post_soap(server)
        assert status == 200 and b'<Service>device_service</Service>' in body, n


ENV_SCRIPT = '''#!/bin/sh
body=$(cat)
printf 'Content-type: text/plain\\r\\n\\r\\n'
env | grep -E '^(GATEWAY_INTERFACE|SERVER_PROTOCOL|REQUEST_|QUERY_STRING|SCRIPT_|PATH_INFO|REMOTE_ADDR|CONTENT_|HTTP_)' | sort
printf 'BODY=%s\\n' "$body"
'''


def test_the_cgi_environment_is_busybox_httpds(card, start_server):
    """The same script behind real busybox httpd and behind yihttpd sees the same variables."""
    import subprocess
    from harness import free_port
    script(card, CGI_BIN + '/env.sh', ENV_SCRIPT)
    server = start_server()
    port = free_port()
    busybox = subprocess.Popen(['busybox', 'httpd', '-f', '-p', '127.0.0.1:%d' % port,
                                '-h', card.file('yi-hack/www')])
    try:
        headers = 'Content-Type: application/soap+xml\r\nSOAPAction: "urn:x"\r\nCookie: a=b\r\n' \
                  'X-Custom-Thing: y\r\nUser-Agent: t\r\nContent-Length: 5\r\nConnection: close\r\n'
        answers = []   # HTTP/1.0: both answers end by closing, without chunks
        for at in (port, server.port):
            request = ('POST /cgi-bin/env.sh/extra/more?q=1%%202&r HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n%s\r\nhello'
                       % (8080, headers)).encode()
            assert wait_until(lambda: listening(at))   # busybox is up
            with socket.create_connection(('127.0.0.1', at), timeout=5) as s:
                s.sendall(request)
                answers.append(read_until_closed(s))
    finally:
        busybox.kill()
        busybox.wait()
    theirs, ours = (set(a.partition(b'\r\n\r\n')[2].decode().split('\n')) for a in answers)
    assert 'BODY=hello' in ours and 'SCRIPT_FILENAME=%s' % card.file(CGI_BIN + '/env.sh') in ours
    # busybox always says HTTP/1.1; yihttpd says what the client spoke (RFC 3875 4.1.16)
    assert theirs ^ ours == {'SERVER_PROTOCOL=HTTP/1.1', 'SERVER_PROTOCOL=HTTP/1.0'}, sorted(theirs ^ ours)
    assert 'SERVER_PROTOCOL=HTTP/1.0' in ours


def test_onvif_is_outside_basic_auth_and_everything_else_is_not(card, start_server):
    card.set_conf('system.conf', 'USERNAME', 'admin')
    card.set_conf('system.conf', 'PASSWORD', 'secret')
    server = start_server()
    status, _, body = post_soap(server)
    assert status == 200 and b'<Service>device_service</Service>' in body
    assert server.get('/cgi-bin/newservice.sh')[0] == 401
    assert not os.path.exists(marker(card, 'new'))
    auth = {'Authorization': 'Basic ' + base64.b64encode(b'admin:secret').decode()}
    assert server.get('/cgi-bin/newservice.sh', auth)[0] == 200
    for path in ('/onvifx/device_service', '/onvif', '/%6fnvif/device_service'):
        assert server.get(path)[0] == 401, path


def test_the_firmware_script_answers_a_service_yihttpd_does_not_have(card, start_server):
    server = start_server()
    status, headers, body = server.get('/cgi-bin/newservice.sh?a=1&b=two')
    assert status == 200
    assert headers['content-type'] == 'application/json'
    assert body == b'{"error":"false","query":"a=1&b=two"}'


def test_a_native_service_never_runs_the_firmware_script(card, start_server):
    server = start_server()
    for path in ('/cgi-bin/pt%7a.sh', '/cgi-bin/ptz.sh/more', '/cgi-bin/status.json/x.sh'):
        assert server.get(path)[0] == 404, path
    assert not os.path.exists(marker(card, 'ptz'))


def test_the_fallback_switched_off_answers_404_and_runs_nothing(card, start_server):
    server = start_server('--no-cgi-fallback')
    status, _, _ = server.get('/cgi-bin/newservice.sh')
    assert status == 404
    assert not os.path.exists(marker(card, 'new'))
    assert post_soap(server)[0] == 200   # ONVIF is not a fallback


@pytest.mark.parametrize('path', [
    '/cgi-bin/../www/cgi-bin/newservice.sh', '/cgi-bin/%2e%2e/outside.sh', '/cgi-bin/..%2foutside.sh',
    '/cgi-bin/%2E%2E%2F%2E%2E%2Foutside.sh', '/onvif/..%2f..%2foutside.sh', '/onvif/../cgi-bin/newservice.sh',
    '/cgi-bin/.hidden.sh', '/cgi-bin/plain.sh', '/cgi-bin/link.sh', '/cgi-bin/a%00.sh',
    '/cgi-bin/newservice.sh%00', '/onvif/generic_files', '/onvif/generic_files/Empty.xml',
    '/onvif/', '/onvif/..', '/cgi-bin/', '/cgi-bin/new service.sh',
])
def test_bad_program_names_run_nothing(card, start_server, path):
    outside = script(card, 'outside.sh', '#!/bin/sh\ntouch "%s"\necho\n' % marker(card, 'outside'))
    script(card, CGI_BIN + '/.hidden.sh', '#!/bin/sh\ntouch "%s"\n' % marker(card, 'hidden'))
    script(card, CGI_BIN + '/plain.sh', '#!/bin/sh\ntouch "%s"\n' % marker(card, 'plain'), 0o644)
    os.symlink(outside, card.file(CGI_BIN + '/link.sh'))
    server = start_server()
    before = card.snapshot()
    for method in ('GET', 'POST'):
        reply = server.raw(('%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'
                            % (method, path)).encode())
        assert reply.split(b' ')[1] in (b'400', b'403', b'404'), (method, path, reply[:80])
    assert card.snapshot() == before   # no marker: nothing ran


STATUS_SCRIPT = r'''#!/bin/sh
printf 'Status: 404 Not Found\r\nContent-type: text/plain\r\nX-Service: answered\r\nConnection: keep-alive\r\n\r\n'
printf 'no such preset'
'''


def test_the_programs_status_and_headers_are_honoured(card, start_server):
    script(card, CGI_BIN + '/status.sh', STATUS_SCRIPT)
    script(card, CGI_BIN + '/moved.sh', '#!/bin/sh\nprintf "Location: /index.html\\n\\n"\n')
    server = start_server()
    status, headers, body = server.get('/cgi-bin/status.sh')
    assert (status, body) == (404, b'no such preset')
    assert headers['content-type'] == 'text/plain'
    assert headers['x-service'] == 'answered'
    assert 'status' not in headers and headers.get('connection') != 'keep-alive'
    status, headers, _ = server.get('/cgi-bin/moved.sh')
    assert status == 302 and headers['location'] == '/index.html'


def test_a_program_content_length_keeps_the_connection_alive(card, start_server):
    script(card, CGI_BIN + '/sized.sh',
           '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\nContent-Length: 5\\r\\n\\r\\nhello and more"\n')
    server = start_server()
    request = b'GET /cgi-bin/sized.sh HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
    with socket.create_connection((server.host, server.port), timeout=5) as s:
        for _ in range(2):
            s.sendall(request)
            reply = b''
            while not reply.endswith(b'hello'):
                chunk = s.recv(4096)
                assert chunk, reply
                reply += chunk
            assert reply.startswith(b'HTTP/1.1 200 ') and b'Content-Length: 5\r\n' in reply


def test_an_http10_client_gets_the_answer_ended_by_closing(card, start_server):
    server = start_server()
    reply = server.raw(b'GET /cgi-bin/newservice.sh?v=1 HTTP/1.0\r\n\r\n')
    head, _, body = reply.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 200 ') and b'Connection: close' in head
    assert b'Transfer-Encoding' not in head and b'Content-Length' not in head
    assert body == b'{"error":"false","query":"v=1"}'


def test_the_answer_is_streamed_as_the_program_writes_it(card, start_server):
    script(card, CGI_BIN + '/stream.sh', '#!/bin/sh\nprintf "Content-type: text/plain\\r\\n\\r\\nfirst "\n'
           'sleep 2\nprintf "second"\n')
    server = start_server()
    with socket.create_connection((server.host, server.port), timeout=5) as s:
        began = time.monotonic()
        s.sendall(b'GET /cgi-bin/stream.sh HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
        got = b''
        while b'first' not in got:
            got += s.recv(4096)
        assert time.monotonic() - began < 1.5 and b'second' not in got
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    assert got.endswith(b'6\r\nsecond\r\n0\r\n\r\n')


def test_a_program_holds_none_of_the_servers_sockets(card, start_server):
    """Else a long ONVIF call would keep clients' connections (and the port) open after
    the server closed them (MicroPython's sockets are inherited unless marked)."""
    script(card, CGI_BIN + '/fds.sh', '#!/bin/sh\nprintf "Content-type: text/plain\\r\\n\\r\\n"\n'
           'for fd in /proc/$$/fd/*; do readlink "$fd"; done\n')
    server = start_server()
    status, _, body = server.get('/cgi-bin/fds.sh')
    assert status == 200 and b'/yihttpd-cgi-out-' in body, body   # its stdout: the named pipe
    assert b'socket:' not in body, body


def test_a_program_without_a_header_block_is_502(card, start_server):
    script(card, CGI_BIN + '/silent.sh', '#!/bin/sh\nexit 0\n')
    script(card, CGI_BIN + '/garbled.sh', '#!/bin/sh\nprintf "not a header\\n\\nbody"\n')
    server = start_server()
    assert server.get('/cgi-bin/silent.sh')[0] == 502
    assert server.get('/cgi-bin/garbled.sh')[0] == 502


def slow_script(card, name, seconds, before=''):
    """A script that records its pid (in the file returned) and its child's (that file
    + .child), the child a sleep it waits for, then sends its answer; before: shell
    lines run first."""
    pid_file = card.file('pid-' + name)
    script(card, '%s/%s' % (CGI_BIN, name),
           '#!/bin/sh\necho $$ >"%s"\n%ssleep %s &\necho $! >"%s.child"\nwait\n'
           'printf "Content-type: text/plain\\r\\n\\r\\nlate"\n' % (pid_file, before, seconds, pid_file))
    return pid_file


def family_gone(pid_file):
    """Whether a slow_script and the child it waits for have both ended."""
    return process_gone(pid_file) and process_gone(pid_file + '.child')


def wait_for_family(pid_file):
    """Wait until the slow script's child has written its pid (its whole line)."""
    assert wait_until(lambda: os.path.exists(pid_file + '.child') and
                      open(pid_file + '.child').read().endswith('\n'))


def process_gone(pid_file):
    """Whether the process whose pid is in pid_file has ended (a zombie counts as ended)."""
    with open(pid_file) as f:
        return process_gone_pid(int(f.read()))


def process_gone_pid(pid, within=3.0):
    """Whether the process has ended within that time (a zombie counts as ended)."""
    def gone():
        try:
            with open('/proc/%d/stat' % pid) as f:
                return f.read().rpartition(')')[2].split()[0] == 'Z'
        except OSError:
            return True
    return wait_until(gone, within)


def test_other_clients_are_served_while_a_cgi_program_is_slow(card, start_server, meanwhile):
    slow_script(card, 'slow.sh', 2)
    server = start_server()
    (status, _, body), took, other = meanwhile(server, '/cgi-bin/slow.sh')
    assert (status, body) == (200, b'late')
    assert took >= 2 and other < 0.5


def test_other_clients_are_served_while_onvif_waits_for_an_event(card, start_server):
    server = start_server()
    result = {}

    def pull():
        began = time.monotonic()
        result['answer'] = post_soap(server, '/onvif/events_service')
        result['took'] = time.monotonic() - began
    thread = threading.Thread(target=pull)
    thread.start()
    assert wait_until(lambda: running(card.file(ONVIF + '/events_service')))   # PullMessages waits
    began = time.monotonic()
    assert server.get('/cgi-bin/status.json')[0] == 200
    assert post_soap(server)[0] == 200
    other = time.monotonic() - began
    thread.join(10)
    status, _, body = result['answer']
    assert status == 200 and b'<Service>events_service</Service>' in body
    assert result['took'] >= 2 and other < 1.0


def test_the_time_limit_answers_504_and_kills_the_program(card, start_server):
    pid_file = slow_script(card, 'stuck.sh', 30)
    server = start_server('--cgi-timeout', '1')
    began = time.monotonic()
    status, _, _ = server.get('/cgi-bin/stuck.sh')
    assert status == 504 and time.monotonic() - began < 5
    assert family_gone(pid_file)   # its whole process group: the sleep it waits for too


def test_the_time_limit_ends_a_child_left_holding_the_answer(card, start_server):
    """The program has ended, but what it started in the background still holds its output."""
    pid_file = card.file('pid-orphan')
    script(card, CGI_BIN + '/orphan.sh', '#!/bin/sh\necho $$ >"%s"\n'
           'printf "Content-type: text/plain\\r\\n\\r\\nfirst"\nsleep 30 &\necho $! >"%s.child"\n'
           % (pid_file, pid_file))
    server = start_server('--cgi-timeout', '2')
    reply = server.raw(b'GET /cgi-bin/orphan.sh HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', timeout=10)
    assert reply.startswith(b'HTTP/1.1 200 ') and reply.endswith(b'first\r\n')   # cut: no last chunk
    assert family_gone(pid_file)


def test_a_client_that_leaves_ends_the_program(card, start_server):
    pid_file = slow_script(card, 'left.sh', 30)
    server = start_server()
    with socket.create_connection((server.host, server.port), timeout=5) as s:
        s.sendall(b'GET /cgi-bin/left.sh HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
        wait_for_family(pid_file)
    assert family_gone(pid_file)
    assert server.get('/cgi-bin/newservice.sh')[0] == 200


def test_a_client_that_leaves_mid_answer_ends_the_program(card, start_server):
    pid_file = slow_script(card, 'midway.sh', 30, 'printf "Content-type: text/plain\\r\\n\\r\\nfirst"\n')
    server = start_server()
    with socket.create_connection((server.host, server.port), timeout=5) as s:
        s.sendall(b'GET /cgi-bin/midway.sh HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
        got = b''
        while b'first' not in got:
            got += s.recv(4096)
        wait_for_family(pid_file)
    assert family_gone(pid_file)
    assert server.get('/cgi-bin/newservice.sh')[0] == 200


def held_script(card, rel, seconds):
    """A program that adds its pid to a file (returned), then answers after seconds."""
    pids = card.file('held-' + rel.rpartition('/')[2])
    script(card, rel, '#!/bin/sh\necho $$ >>"%s"\nsleep %s &\nwait\n'
           'printf "Content-type: text/plain\\r\\n\\r\\nlate"\n' % (pids, seconds))
    return pids


def programs_started(pids, count):
    """Wait until count programs have written their pid into pids."""
    assert wait_until(lambda: os.path.exists(pids) and len(open(pids).read().split()) >= count)


def connect_from(server, address):
    """A connection to the server from a client address (every 127.x.y.z reaches loopback)."""
    s = socket.socket()
    s.settimeout(10)
    s.bind((address, 0))
    s.connect((server.host, server.port))
    return s


def get_from(server, address, path, headers=''):
    """(status, whole reply) of a GET from a client address."""
    with connect_from(server, address) as s:
        s.sendall(('GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s\r\n'
                   % (path, headers)).encode())
        reply = read_until_closed(s)
    return int(reply.split(b' ', 2)[1]), reply


def test_at_most_8_programs_run_at_once(card, start_server):
    assert (MAX_CGI_RUNS, CGI_PER_PEER) == (8, 4)
    pids = held_script(card, CGI_BIN + '/held.sh', 3)
    server = start_server()
    answers = []
    threads = [threading.Thread(target=lambda a=address: answers.append(get_from(server, a, '/cgi-bin/held.sh')[0]))
               for address in ('127.0.0.2', '127.0.0.3') for _ in range(CGI_PER_PEER)]
    for thread in threads:
        thread.start()
    programs_started(pids, MAX_CGI_RUNS)
    status, reply = get_from(server, '127.0.0.4', '/cgi-bin/newservice.sh')
    assert status == 503 and b'\r\nRetry-After: 1\r\n' in reply
    for thread in threads:
        thread.join(10)
    assert answers == [200] * MAX_CGI_RUNS
    assert server.get('/cgi-bin/newservice.sh')[0] == 200


def test_one_address_gets_4_programs_and_the_owner_still_gets_in(card, start_server):
    """ONVIF needs no login: clients at one address that never read their answers hold
    4 runs at most, and the owner's own cgi-bin services keep working."""
    card.set_conf('system.conf', 'USERNAME', 'admin')
    card.set_conf('system.conf', 'PASSWORD', 'secret')
    pids = held_script(card, ONVIF + '/held_service', 30)
    server = start_server()
    request = ('POST /onvif/held_service HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n%s'
               % (len(SOAP), SOAP)).encode()
    holders = [connect_from(server, '127.0.0.2') for _ in range(CGI_PER_PEER)]
    try:
        for s in holders:
            s.sendall(request)
        programs_started(pids, CGI_PER_PEER)
        with connect_from(server, '127.0.0.2') as s:
            s.sendall(request)
            assert s.recv(4096).startswith(b'HTTP/1.1 503 ')
        auth = 'Authorization: Basic %s\r\n' % base64.b64encode(b'admin:secret').decode()
        status, reply = get_from(server, '127.0.0.1', '/cgi-bin/newservice.sh', auth)
        assert status == 200 and reply.endswith(b'"query":""}\r\n0\r\n\r\n')
    finally:
        for s in holders:
            s.close()
    assert all(process_gone_pid(int(pid)) for pid in open(pids).read().split())
    assert len(open(pids).read().split()) == CGI_PER_PEER   # the refused one never ran


def test_an_answer_over_the_output_cap_is_cut(card, start_server):
    script(card, CGI_BIN + '/huge.sh', '#!/bin/sh\nprintf "Content-type: application/octet-stream\\r\\n\\r\\n"\n'
           'head -c 6000000 /dev/zero\n')
    script(card, CGI_BIN + '/huge-sized.sh', '#!/bin/sh\nprintf "Content-Length: 6000000\\r\\n\\r\\n"\n'
           'head -c 6000000 /dev/zero\n')
    server = start_server()
    reply = server.raw(b'GET /cgi-bin/huge.sh HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', timeout=20)
    head, _, body = reply.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 200 ') and b'Transfer-Encoding: chunked' in head
    assert not body.endswith(b'0\r\n\r\n')   # no last chunk: the client sees the answer is cut
    assert 3 * 1048576 < len(body) < 6000000
    assert server.get('/cgi-bin/huge-sized.sh')[0] == 502
    assert server.get('/cgi-bin/newservice.sh')[0] == 200


LEAVING_CLIENTS = 200


def test_clients_that_leave_as_the_program_ends_leave_no_temp_file(card, start_server, tmp_path):
    """The kill meets the program's own end: nothing of the run stays in --tmp-dir (on
    MicroPython 2 to 24 of 200 such clients left a status file and a cancel mark)."""
    script(card, CGI_BIN + '/quick.sh', '#!/bin/sh\nprintf "Content-type: text/plain\\r\\n\\r\\nfirst"\n')
    tmp = tmp_path / 'tmp'
    tmp.mkdir()
    server = start_server('--tmp-dir', str(tmp))
    for _ in range(LEAVING_CLIENTS):
        with socket.create_connection((server.host, server.port), timeout=5) as s:
            s.sendall(b'GET /cgi-bin/quick.sh HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
            got = b''
            while b'first' not in got:
                got += s.recv(4096)
    assert wait_until(lambda: os.listdir(str(tmp)) == [])
    assert server.get('/cgi-bin/newservice.sh')[0] == 200

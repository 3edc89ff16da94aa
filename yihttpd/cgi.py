"""A CGI/1.1 gateway on the loop, as busybox httpd runs the firmware's programs.

The program gets the CGI environment (RFC 3875, with busybox's
REQUEST_URI and REMOTE_PORT), the request body on stdin (from a file) and
writes into a named pipe (fifo.py) the loop polls: its header block is
parsed (Content-type, Status, Location, Content-Length; others passed
on), the rest streamed to the client as it comes, in chunks when its
size is unknown. Nothing waits: while the program is silent the answer
waits (wire.WAIT), and the program waits on its full pipe while the
client reads slowly.

Bounded: MAX_CGI_RUNS at once (503 beyond), an answer of at most
OUTPUT_MAX bytes, a run of at most the timeout (then the program is
killed: 504 if its header had not come, else the connection is cut).
A client that leaves ends the run. argv only: never a shell string.
"""
from . import checks, compat, files
from .child import Background
from .fifo import FifoReader
from .http import Deferred, HttpError, Response, error_response, failure_response
from .loop import POLLIN, log_exception
from .wire import WAIT

MAX_CGI_RUNS = 8          # answers at once: each is a process in the camera's small RAM, and an
                          # ONVIF client's PullMessages holds one for up to a minute
CGI_PER_PEER = 4          # of them for one client address: /onvif/ needs no login, and clients
                          # that never read their answers must leave room for everyone else
CGI_TIMEOUT = 70.0        # seconds a program may run: onvif_simple_server's PullMessages waits
                          # up to 60 s for an event (below server.DEFERRED_TIMEOUT)
OUTPUT_MAX = 4 * 1048576  # bytes of answer body at most: a CGI service answers JSON or SOAP
HEAD_MAX = 8192           # bytes of the program's header block at most
READ_SIZE = 4096          # bytes read from the pipe at a time (one piece waits for the client)
CHILD_CHECK = 0.1         # seconds between checks whether the program has ended

# Response headers the server itself sets: a program's own are dropped.
OWN_HEADERS = ('connection', 'keep-alive', 'transfer-encoding', 'content-length', 'status',
               'content-type')
TOKEN_CHARS = checks.LETTERS + checks.DIGITS + "!#$%&'*+-.^_`|~"
# Request headers not passed as HTTP_*: the credentials (RFC 3875 4.1.18), the
# body's (CONTENT_*), and Proxy, which would become HTTP_PROXY: the proxy many
# programs and libraries take from their environment ("httpoxy").
NOT_PASSED = ('authorization', 'proxy', 'content-length', 'content-type')
ENV_NAME_CHARS = checks.LETTERS + checks.DIGITS + '-'
MAX_HEADER_NAME = 64


def printable(text):
    """No control characters: a value becomes an environment variable or a header."""
    for c in text:
        if c < ' ' or c == '\x7f':
            return False
    return True


def environment(req, script_name, script_path, path_info):
    """The CGI variables for a request (values checked: no control characters)."""
    env = {
        'GATEWAY_INTERFACE': 'CGI/1.1',
        'SERVER_SOFTWARE': 'yihttpd',
        'SERVER_PROTOCOL': req.version,
        'REQUEST_METHOD': req.method,
        'REQUEST_URI': req.target,
        'QUERY_STRING': req.query_string,
        'SCRIPT_NAME': script_name,
        'SCRIPT_FILENAME': script_path,
        'PATH_INFO': path_info,
        'REMOTE_ADDR': req.peer or '',
        'REMOTE_PORT': str(req.peer_port),
    }
    length = len(req.body) if req.body_path is None else files.stat_size(files.stat(req.body_path))
    if length:
        env['CONTENT_LENGTH'] = str(length)
    if 'content-type' in req.headers:
        env['CONTENT_TYPE'] = req.headers['content-type']
    if req.sent_host is not None:
        env['HTTP_HOST'] = req.host()
    for name, value in req.headers.items():
        if name not in NOT_PASSED and checks.only(name, ENV_NAME_CHARS, MAX_HEADER_NAME):
            env['HTTP_' + name.upper().replace('-', '_')] = value
    for value in env.values():
        if not printable(value):
            raise HttpError(400, 'control characters in the request')
    return env


def parse_status(value):
    """The code of 'NNN reason', or None."""
    code = checks.number(value[:3], 100, 599)
    return code if code is not None and value[3:4] in ('', ' ') else None


def parse_head(block):
    """(status, content type, length or None, headers) of a program's header block.

    Lines end with LF or CRLF; a first line 'HTTP/1.x NNN reason' (a
    non-parsed-header program) gives the status as Status does. Raises
    ValueError on anything malformed.
    """
    status = None
    ctype = None
    length = None
    headers = []
    lines = block.split(b'\n')
    if lines[0].startswith(b'HTTP/'):
        status = parse_status(lines.pop(0).rstrip(b'\r').partition(b' ')[2].decode())
        if status is None:
            raise ValueError('bad status line')
    for raw in lines:
        if raw.endswith(b'\r'):
            raw = raw[:-1]
        for byte in raw:
            if byte > 126:
                raise ValueError('header is not ASCII')
        line = raw.decode()
        name, sep, value = line.partition(':')
        value = value.strip()
        lower = name.lower()
        if not sep or not checks.only(name, TOKEN_CHARS, MAX_HEADER_NAME) or not printable(value):
            raise ValueError('bad header line')
        if lower == 'status':
            status = parse_status(value)
            if status is None:
                raise ValueError('bad Status')
        elif lower == 'content-type':
            ctype = value
        elif lower == 'content-length':
            length = checks.number(value, 0, OUTPUT_MAX)
            if length is None:
                raise ValueError('Content-Length missing or above %d' % OUTPUT_MAX)
        elif lower not in OWN_HEADERS:
            headers.append((name, value))
            if lower == 'location' and status is None:
                status = 302
    return status or 200, ctype, length, headers


def head_end(buf):
    """(end of the header block, start of the body) in buf, or None while incomplete."""
    ends = [(at, at + n) for at, n in ((buf.find(b'\n\n'), 2), (buf.find(b'\n\r\n'), 3)) if at >= 0]
    if buf.startswith(b'\r\n') or buf.startswith(b'\n'):
        return None   # no header at all: malformed, reported as such once the program ends
    return min(ends) if ends else None


_read_buffer = []


def read_buffer():
    """The one buffer every run reads its pipe into (copied out at once: the loop is one thread)."""
    if not _read_buffer:
        _read_buffer.append(bytearray(READ_SIZE))
    return _read_buffer[0]


def runs(app):
    """What the gateway keeps: the client address of each CGI answer under way."""
    return app.state(__name__, lambda _app: [])


class CgiRun:
    """One program run for one request; also the iterator of its answer body."""

    def __init__(self, req, argv, cwd, env, timeout=CGI_TIMEOUT):
        app = req.app
        if len(runs(app)) >= MAX_CGI_RUNS:
            raise HttpError(503, 'busy: %d CGI programs already run, try again' % MAX_CGI_RUNS,
                            [('Retry-After', '1')])
        if runs(app).count(req.peer) >= CGI_PER_PEER:
            raise HttpError(503, 'busy: %d CGI programs already run for %s, try again' % (
                CGI_PER_PEER, req.peer), [('Retry-After', '1')])
        self.app = app
        self.loop = app.loop
        self.timeout = timeout
        self.http10 = req.version == 'HTTP/1.0'
        self.peer = req.peer
        self.head = b''           # the header block while it arrives
        self.pending = None       # a body piece read, not yet taken by the writer
        self.response = None      # set once the header block is parsed
        self.chunked = False
        self.left = None          # body bytes still due by the program's Content-Length
        self.taken = 0            # body bytes read from the program
        self.ended = False        # the program closed its output
        self.writer_waiting = False
        self.failure = None       # why the answer was cut short
        self.counted = False      # in runs(app) until the answer is over
        self.fifo = None
        self.stdin_path = None    # the body written out for the program's stdin
        self.run = None
        self.timer = None
        self.deferred = Deferred(req, on_cancel=self.close)
        try:
            self.start(req, argv, cwd, env)
        except BaseException:
            # Out of memory too (MicroPython): no pipe, fd or body file may stay behind.
            self.close()
            raise

    def start(self, req, argv, cwd, env):
        app = self.app
        read_buffer()   # taken now: a run that cannot have it fails here, before anything starts
        key = files.unique_key()   # one for the run's pipe and its stdin file
        try:
            self.fifo = FifoReader(files.temp_path(app.tmp_dir, 'cgi-out', key))
        except (OSError, ImportError) as exc:   # a --tmp-dir on FAT (no named pipes), no ffi or libc
            raise HttpError(503, 'no named pipe for the program: %s' % exc)
        try:
            stdin = req.body_path
            if stdin is None and req.body:
                stdin = self.stdin_path = files.temp_path(app.tmp_dir, 'cgi-in', key)
                with files.create_new(stdin) as f:
                    f.write(req.body)
            self.run = Background(self.loop, argv, self.timeout, self.exited, app.tmp_dir,
                                  self.fifo.path, CHILD_CHECK, stdin_path=stdin, env=env, cwd=cwd,
                                  output_fifo=True)
        except OSError as exc:   # CPython: the program cannot be started (MicroPython: no output)
            raise HttpError(502, 'the program could not start: %s' % exc)
        runs(app).append(self.peer)
        self.counted = True
        self.names_left = True    # the pipe's and the stdin file's names are still there
        self.loop.register(self.fifo.fd, POLLIN, self.readable)
        self.timer = self.loop.call_later(self.timeout, self.expired)

    # -- the program's side ------------------------------------------------

    def readable(self, _events):
        try:
            self.read_some()
        except Exception as exc:
            # Out of memory, mostly: the pipe is still readable, and the loop would call
            # back at once, again and again. The run ends instead.
            log_exception('reading a CGI answer', exc)
            if self.response is None:
                self.close()
                self.deferred.resolve(failure_response(exc))
            else:
                self.cut('%s while reading the program' % exc.__class__.__name__)

    def read_some(self):
        if self.names_left:
            # The pipe is readable only once the program opened it, and its stdin before:
            # the names go now, so that a server killed mid-run leaves nothing in --tmp-dir.
            self.names_left = False
            files.remove_if_there(self.fifo.path)
            self.remove_stdin()
        buf = read_buffer()
        n = self.fifo.read_into(buf)
        if n is None:
            return
        if n == 0:
            self.output_ended()
            return
        data = bytes(buf[:n])
        if self.response is None:
            self.head += data
            self.take_head()
            return
        self.take_body(data)

    def take_head(self):
        span = head_end(self.head)
        if span is None:
            if len(self.head) > HEAD_MAX:
                self.fail_head(502, 'the program sent a header block over %d bytes' % HEAD_MAX)
            return
        try:
            status, ctype, length, headers = parse_head(self.head[:span[0]])
        except ValueError as exc:
            self.fail_head(502, 'the program sent a bad header block: %s' % exc)
            return
        rest = self.head[span[1]:]
        self.head = b''
        response = Response(b'', status, ctype, headers)
        response.body = self
        response.length = length
        if length is not None:
            self.left = length
        elif self.http10:
            response.close_connection = True   # the end of the body is the end of the connection
        else:
            self.chunked = True
            response.headers.append(('Transfer-Encoding', 'chunked'))
        self.response = response
        self.deferred.resolve(response)
        if rest or self.left == 0:
            self.take_body(rest)

    def take_body(self, data):
        if self.left is not None:
            data = data[:self.left]
            self.left -= len(data)
        self.taken += len(data)
        if self.taken > OUTPUT_MAX:
            self.cut('the answer passed %d bytes' % OUTPUT_MAX)
            return
        if data:
            self.pending = data
            self.loop.unregister(self.fifo.fd)   # the program waits until the client took it
            self.wake_writer()
        if self.left == 0:
            self.output_ended()

    def output_ended(self):
        """The program closed its output (or sent all it announced)."""
        if self.ended:
            return
        self.ended = True
        if self.fifo.fd is not None:
            self.loop.unregister(self.fifo.fd)
        if self.response is None:
            self.fail_head(502, 'the program ended without a header block')
            return
        self.wake_writer()

    def exited(self, code):
        """Background: the program ended (code), or ran past the time limit (None, killed)."""
        if code is None:
            self.run = None
            self.expired()

    def stop_program(self):
        """Its whole process group is killed, the program itself ended or not: a
        child it left holding the pipe goes too."""
        if self.run is not None:
            self.run.cancel()
            self.run = None

    def expired(self):
        """The time limit: the program is killed; an answer not complete ends."""
        self.stop_program()
        if self.ended:
            return
        if self.response is None:
            self.fail_head(504, 'the program gave no answer in %g s' % self.timeout)
        else:
            self.cut('the program ran past its time limit')

    def fail_head(self, status, message):
        """No header yet: answer with an error, end the run."""
        self.close()
        self.deferred.resolve(error_response(status, message))

    def cut(self, why):
        """Mid-answer: the client's connection is closed once what was sent is out."""
        self.failure = why
        self.close()
        self.wake_writer()

    # -- the client's side: the answer body ---------------------------------

    def wake_writer(self):
        if self.writer_waiting:
            self.writer_waiting = False
            connection = self.deferred.connection
            if connection is not None:
                connection.resume_writing()

    def __iter__(self):
        return self

    def __next__(self):
        if self.failure is not None:
            if self.app.log:
                self.app.log('CGI answer cut: %s' % self.failure)
            raise OSError(compat.EPIPE, self.failure)
        piece = self.pending
        if piece is not None:
            self.pending = None
            if not self.ended:
                self.loop.register(self.fifo.fd, POLLIN, self.readable)
            if self.chunked:
                return b'%x\r\n' % len(piece) + piece + b'\r\n'
            return piece
        if self.ended:
            if self.left:
                self.failure = 'the program sent less than its Content-Length'
                return self.__next__()
            if self.chunked:
                self.chunked = False
                return b'0\r\n\r\n'
            raise StopIteration
        self.writer_waiting = True
        return WAIT

    def close(self):
        """The answer is over or the client left: drop the pipe and the input file.

        A program that is still running is killed unless its answer came out
        whole (it may finish its work then; Background still holds it to
        the time limit). MAX_CGI_RUNS counts answers under way.
        """
        if self.fifo is not None and self.fifo.fd is not None:
            self.loop.unregister(self.fifo.fd)   # first: should what follows fail, no spinning
        if self.timer is not None:
            self.timer.cancel()
        if not self.ended or self.failure is not None:
            self.stop_program()
        if self.counted:
            self.counted = False
            runs(self.app).remove(self.peer)
        if self.fifo is not None:
            self.fifo.close()
        self.ended = True
        self.remove_stdin()
        self.head = b''
        self.pending = None
        self.response = None   # it holds this run as its body: no cycle kept alive

    def remove_stdin(self):
        if self.stdin_path is not None:
            files.remove_if_there(self.stdin_path)
            self.stdin_path = None

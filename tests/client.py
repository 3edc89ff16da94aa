"""A test client in this process: a request through the app, no socket, no server process.

As microdot's TestClient: the request head is built and parsed by the
server's own parser, admitted (auth, guard, limits) and handled by the
real App; a Deferred answer is waited for by running the real loop, and the
body is read as the connection would send it. Handler logic and tables of
refused inputs run here in milliseconds; what needs a socket, a process or
a runtime other than CPython is tested against the real server.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from yihttpd import http, options, transports, wire  # noqa: E402
from yihttpd.app import App  # noqa: E402
from yihttpd.loop import Loop  # noqa: E402

DEFERRED_WAIT = 30.0   # seconds a test waits for a deferred answer before it fails
TICK_MS = 10           # milliseconds a turn of the loop waits at most


class Answer:
    """What a client reads: status, headers (lower-cased names) and body bytes."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return '<Answer %d %r>' % (self.status, self.body[:200])


class Collector:
    """Stands where the connection would: takes the answer a Deferred resolves with,
    and hears when a streamed body has more."""

    def __init__(self):
        self.response = None
        self.woken = False

    def respond(self, response):
        self.response = response

    def resume_writing(self):
        self.woken = True


class TestClient:
    """requests through one App on root, with the server's own options (args)."""
    __test__ = False

    def __init__(self, root, *args, tmp_dir=None):
        self.log_lines = []
        self.loop = Loop()
        argv = ['--root', str(root)] + list(args)
        if '--ipc' not in argv:
            argv += ['--ipc', 'record', '--ipc-record', os.path.join(str(root), '..', 'ipc-sent.bin')]
        if tmp_dir is not None:
            argv += ['--tmp-dir', str(tmp_dir)]
        self.options = options.parse(argv)
        self.app = App(self.options, self.loop, self.log_lines.append)
        self.app.ipc = transports.choose_transport(self.options, self.loop, self.log_lines.append)

    def request(self, method, target, body=b'', headers=None, peer='127.0.0.1'):
        lines = ['%s %s HTTP/1.1' % (method, target), 'Host: 127.0.0.1']
        for name, value in (headers or {}).items():
            lines.append('%s: %s' % (name, value))
        if body:
            lines.append('Content-Length: %d' % len(body))
        head = '\r\n'.join(lines).encode()
        try:
            req = http.parse_head(head)
            req.peer = peer
            req.app = self.app
            if self.app.admit(req):
                req.body = bytearray(body)
        except http.HttpError as err:
            return self.read(err.response(), method)
        result = self.app.handle(req)
        collector = Collector()
        if isinstance(result, http.Deferred):
            result.bind(collector)
            self.run_until(lambda: collector.response is not None, method + ' ' + target)
            result = collector.response
        return self.read(result, method, collector)

    def get(self, target, headers=None):
        return self.request('GET', target, headers=headers)

    def get_json(self, target, headers=None):
        answer = self.get(target, headers)
        return answer.status, answer.json()

    def run_until(self, done, what, timeout=DEFERRED_WAIT):
        """Turn the loop (timers, child programs, pipes) until done() or the time is up.

        Each turn waits TICK at most: with nothing else due the loop would
        otherwise poll for ever (a server always has its sockets).
        """
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError('no answer to %s in %g s' % (what, timeout))
            self.loop.run_once(TICK_MS)

    def read(self, response, method, collector=None):
        """The status, headers and body a client reads, sent as wire.AnswerWriter would."""
        head = response.head('HTTP/1.1', False).decode()
        headers = {}
        for line in head.split('\r\n')[1:]:
            name, sep, value = line.partition(': ')
            if sep:
                headers[name.lower()] = value
        pieces = []
        if method != 'HEAD':
            if response.file is not None:
                response.file.seek(response.offset)
                pieces.append(response.file.read(response.length))
            elif isinstance(response.body, (bytes, bytearray)):
                pieces.append(bytes(response.body))
            else:
                pieces.extend(self.stream(response.body, collector))
        response.close()
        if response.after_sent is not None:
            response.after_sent()
        return Answer(response.status, headers, b''.join(pieces))

    def stream(self, body, collector):
        """An iterator body's pieces, turning the loop while it waits for more (wire.WAIT)."""
        for piece in body:
            if piece is wire.WAIT:
                self.run_until(lambda: collector.woken, 'the rest of a streamed body')
                collector.woken = False
            else:
                yield bytes(piece)

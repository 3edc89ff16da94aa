"""HTTP/1.x messages: parsing a request head, queries, ranges, and responses.

Pure functions and small classes; the socket work is in loop.py.
"""
import json

from . import checks, routes
from .loop import log_exception

# Bounds of a request head (RFC 9112 lets a server choose them).
MAX_REQUEST_LINE = 2048   # longer: 414
MAX_HEADERS = 8192        # header block after the request line; longer: 431
MAX_HEAD = MAX_REQUEST_LINE + MAX_HEADERS
MAX_CONTENT_LENGTH = 10 ** 12 - 1   # beyond any route's limit: a longer number is malformed


# Only these request headers are kept, unless the route keeps all (a CGI program
# gets them as HTTP_*, as busybox httpd passes them; bounded by MAX_HEADERS).
# A name as sent (lower-cased) -> the same str every time. Host is kept apart, as
# sent (Request.sent_host).
KEPT_HEADERS = {name.encode(): name for name in (
    'content-length', 'content-type', 'connection', 'authorization', 'range',
    'if-none-match', 'if-modified-since', 'transfer-encoding', 'expect', 'accept-encoding',
    'origin', 'referer', 'sec-fetch-site', 'sec-fetch-dest', 'user-agent')}   # the last four: guard.py
# The methods and versions requests use, their str made once.
KNOWN_WORDS = {b'GET': 'GET', b'POST': 'POST', b'HEAD': 'HEAD', b'HTTP/1.1': 'HTTP/1.1',
               b'HTTP/1.0': 'HTTP/1.0'}

# Headers that frame or address the request: two of them are ambiguous
# (request smuggling, a forged Host in a link), so they are refused.
SINGLE_HEADERS = ('content-length', 'transfer-encoding')   # and Host (Request.sent_host)

REASONS = {
    100: 'Continue', 200: 'OK', 206: 'Partial Content', 304: 'Not Modified',
    400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
    405: 'Method Not Allowed', 408: 'Request Timeout', 411: 'Length Required',
    413: 'Content Too Large', 414: 'URI Too Long', 416: 'Range Not Satisfiable',
    431: 'Request Header Fields Too Large', 500: 'Internal Server Error',
    501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable',
    504: 'Gateway Timeout', 505: 'HTTP Version Not Supported',
}


class HttpError(Exception):
    """An answer other than success: status and a message for the client."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers

    def response(self):
        """The JSON error answer: {"error":"true","message":...} with the status."""
        return error_response(self.status, self.message, self.headers)


class Request:
    """What a handler sees of a request.

    What most requests leave as it is stays a class attribute until set (on
    MicroPython each attribute set in __init__ costs every request).
    """
    query = None       # the parsed query string, made on first use
    body = b''
    body_path = None   # set instead of body for a large spooled upload
    peer = None
    peer_port = 0
    app = None
    route = None       # its record of routes.py, matched once from the request line
    waited = False     # a long-poll has already waited once for this request
    sent_host = None   # the Host header's bytes as sent (None: no Host); host() makes its str
    host_text = None

    def __init__(self, method, target, version):
        self.method = method
        self.target = target
        self.version = version
        self.path, _, self.query_string = target.partition('?')
        self.headers = {}

    @property
    def keep_alive(self):
        connection = self.headers.get('connection')
        if connection is None:
            return self.version == 'HTTP/1.1'
        connection = connection.lower()
        if self.version == 'HTTP/1.1':
            return 'close' not in connection
        return 'keep-alive' in connection

    def content_length(self):
        if 'transfer-encoding' in self.headers:
            raise HttpError(411, 'chunked request bodies are not supported: send Content-Length')
        value = self.headers.get('content-length')
        if value is None:
            return 0
        length = checks.number(value, 0, MAX_CONTENT_LENGTH)
        if length is None:
            raise HttpError(400, 'bad Content-Length')
        return length

    def announces_body(self):
        """Whether the head says a body follows."""
        headers = self.headers
        return 'transfer-encoding' in headers or headers.get('content-length', '0') not in ('', '0')

    def param(self, name, default=None):
        """A query parameter, percent-decoded; the first one given wins."""
        if self.query is None:
            self.query = parse_query(self.query_string)
        return self.query.get(name, default)

    def choice(self, name, allowed, default=None):
        """A query parameter that must be one of allowed; anything else is 400."""
        value = self.param(name, default)
        if value not in allowed:
            raise HttpError(400, '%s must be %s' % (name, ' or '.join(allowed)))
        return value

    def number(self, name, lo, hi, default=None):
        """A query parameter of ASCII digits from lo to hi; anything else is 400."""
        text = self.param(name, default)
        value = None if text is None else checks.number(text, lo, hi)
        if value is None:
            raise HttpError(400, '%s must be a whole number from %d to %d' % (name, lo, hi))
        return value

    def host(self):
        """The Host header the client used (the address it reached), '' without one.
        Made a str only when asked: most requests never ask, and on MicroPython each
        new str is looked up among every name the loaded code holds."""
        if self.host_text is None:
            self.host_text = '' if self.sent_host is None else self.sent_host.decode()
        return self.host_text


def check_partial_head(buf):
    """Refuse a head that is already too long before it is complete."""
    line_end = buf.find(b'\r\n')
    if line_end < 0 and len(buf) > MAX_REQUEST_LINE:
        raise HttpError(414, 'request line longer than %d bytes' % MAX_REQUEST_LINE)
    if len(buf) > MAX_HEAD:
        raise HttpError(431, 'request headers longer than %d bytes' % MAX_HEADERS)


def parse_head(head):
    """Parse the bytes before the blank line into a Request, with its route.

    The head is taken apart as bytes and only what is kept becomes text: on
    MicroPython every new str is looked up among all the names the loaded
    code holds (its qstr pools), which cost a request more than the rest.
    """
    line_end = head.find(b'\r\n')
    if line_end < 0:
        line_end = len(head)
    if line_end > MAX_REQUEST_LINE:
        raise HttpError(414, 'request line longer than %d bytes' % MAX_REQUEST_LINE)
    if len(head) - line_end > MAX_HEADERS:
        raise HttpError(431, 'request headers longer than %d bytes' % MAX_HEADERS)
    if not checks.is_utf8(head):
        raise HttpError(400, 'request head is not UTF-8')
    request_line = head[:line_end]
    # A control character (a bare LF would forge a log line); min() runs in C, faster
    # than a regular expression on MicroPython.
    if request_line and (min(request_line) < 0x20 or b'\x7f' in request_line):
        raise HttpError(400, 'control character in the request line')
    parts = request_line.split(b' ')
    if len(parts) != 3 or not parts[1].startswith(b'/'):
        raise HttpError(400, 'malformed request line')
    version = KNOWN_WORDS.get(parts[2])
    if version not in ('HTTP/1.0', 'HTTP/1.1'):
        raise HttpError(505, 'only HTTP/1.0 and HTTP/1.1 are spoken')
    service = routes.EXACT_SENT.get(parts[1])
    req = Request(KNOWN_WORDS.get(parts[0]) or parts[0].decode(),
                  parts[1].decode() if service is None else service.path, version)
    req.route = routes.match(req.path) if service is None else service
    keep_all = req.route.all_headers
    headers = req.headers
    for line in head[line_end + 2:].split(b'\r\n') if line_end < len(head) else ():
        if line[:1] in (b' ', b'\t'):   # RFC 9112 5.2: else it would be read as a header of its own
            raise HttpError(400, 'obsolete line folding (a header line starting with a space or tab)')
        colon = line.find(b':')
        if colon < 0:
            raise HttpError(400, 'malformed header line')
        raw = line[:colon].strip().lower()
        if raw == b'host':
            if req.sent_host is not None:
                raise HttpError(400, 'more than one host header')
            req.sent_host = line[colon + 1:].strip()
            continue
        name = KEPT_HEADERS.get(raw)
        if name is None and keep_all:
            name = raw.decode()
        if name is not None:
            if name not in headers:
                headers[name] = line[colon + 1:].strip().decode()
            elif name in SINGLE_HEADERS:
                raise HttpError(400, 'more than one %s header' % name)
    if version == 'HTTP/1.1' and req.sent_host is None:
        raise HttpError(400, 'an HTTP/1.1 request needs a Host header')
    return req


_HEX = b'0123456789abcdefABCDEF'


def unquote(text):
    """Percent-decode (and '+' as space) into a str; bad escapes or UTF-8: 400."""
    if '%' not in text and '+' not in text:
        return text
    out = bytearray()
    raw = text.encode()
    i = 0
    n = len(raw)
    while i < n:
        c = raw[i]
        if c == 0x25:  # '%'
            digits = raw[i + 1:i + 3]
            if len(digits) != 2 or digits[0] not in _HEX or digits[1] not in _HEX:
                raise HttpError(400, 'bad percent escape')
            out.append(int(digits.decode(), 16))
            i += 3
        else:
            out.append(0x20 if c == 0x2b else c)
            i += 1
    try:
        return checks.decode_utf8(bytes(out))
    except UnicodeError:
        raise HttpError(400, 'parameter is not UTF-8')


def unquote_path(text):
    """Percent-decode a URL path ('+' stays '+')."""
    if '%' not in text:
        return text
    return unquote(text.replace('+', '%2B'))


def parse_query(query_string):
    """Query parameters as a dict; a name given twice keeps its first value."""
    params = {}
    if not query_string:
        return params
    for pair in query_string.split('&'):
        if not pair:
            continue
        name, _, value = pair.partition('=')
        name = unquote(name)
        if name not in params:
            params[name] = unquote(value)
    return params


def parse_range(header, size):
    """(start, length) for a single 'bytes=' range, None to send it whole.

    A range that cannot be satisfied raises 416; several ranges are
    answered whole, which RFC 9110 allows.
    """
    if not header:
        return None
    unit, _, spec = header.partition('=')
    if unit.strip() != 'bytes' or ',' in spec:
        return None
    first, dash, last = spec.strip().partition('-')
    first = first.strip()
    last = last.strip()
    start = end = None
    if dash and not first:
        suffix = checks.number(last, 1, checks.LARGEST)
        if suffix is not None:
            start = max(size - suffix, 0)
            end = size - 1
    elif dash:
        start = checks.number(first, 0, checks.LARGEST)
        end = checks.number(last, 0, checks.LARGEST) if last else size - 1
    if start is None or end is None or end < start or start >= size:
        raise HttpError(416, 'range not satisfiable', [('Content-Range', 'bytes */%d' % size)])
    return start, min(end, size - 1) - start + 1


def unchanged(req, etag, last_modified=None):
    """The client already holds this version (If-None-Match, else If-Modified-Since): a 304."""
    if_none_match = req.headers.get('if-none-match')
    if if_none_match is not None:
        return if_none_match.strip() == '*' or etag in [tag.strip() for tag in if_none_match.split(',')]
    return last_modified is not None and req.headers.get('if-modified-since') == last_modified


class Response:
    """Status, headers and a body: bytes, an open file part, or an iterable of bytes.

    length is the body's size, known before it is sent: every answer carries
    Content-Length, except a CGI program's whose size is not known (None:
    chunked or ended by closing, see cgi.py).
    """

    file = None               # an open file to send from (file_part)
    offset = 0
    close_connection = False
    after_sent = None         # called once the whole answer is out

    def __init__(self, body=b'', status=200, content_type='application/json',
                 headers=None, length=None):
        self.status = status
        self.content_type = content_type
        self.headers = () if headers is None else headers
        self.body = body
        self.length = len(body) if length is None else length

    @classmethod
    def file_part(cls, f, offset, length, status=200, content_type='application/octet-stream',
                  headers=None):
        """A response that streams length bytes of the open file f from offset."""
        response = cls(None, status, content_type, headers, length)
        response.file = f
        response.offset = offset
        return response

    def head(self, version, keep_alive):
        """The head's bytes (made as bytes: on MicroPython a new str costs a look through
        every name the loaded code holds)."""
        lines = [b'HTTP/1.1 %d %s\r\n' % (self.status, REASONS.get(self.status, 'Unknown').encode())]
        if self.content_type:
            lines.append(b'Content-Type: %s\r\n' % self.content_type.encode())
        if self.length is not None:
            lines.append(b'Content-Length: %d\r\n' % self.length)
        for name, value in self.headers:
            lines.append(b'%s: %s\r\n' % (name.encode(), value.encode()))
        if keep_alive:
            if version == 'HTTP/1.0':
                lines.append(b'Connection: keep-alive\r\n')
        else:
            lines.append(b'Connection: close\r\n')
        lines.append(b'\r\n')
        return b''.join(lines)

    def close(self):
        """Give back the open file, or what a streamed body holds (its close())."""
        if self.file is not None:
            self.file.close()
            self.file = None
        closer = getattr(self.body, 'close', None)
        if closer is not None:
            self.body = None
            closer()


class Deferred:
    """A response that a timer, a child program or an event completes later.

    The handler returns it; whoever completes the work calls resolve().
    Every later step runs through step() or later(): whatever it raises
    meets the same mapping as a handler's error (error_answer), so the
    client is answered whatever happens; on_fail, if set, runs first to let
    go of what the work holds. on_cancel, if set, runs when the client goes
    away first.
    """

    def __init__(self, req, on_cancel=None, on_fail=None):
        self.req = req
        self.on_cancel = on_cancel
        self.on_fail = on_fail
        self.connection = None
        self.result = None
        self.done = False

    def bind(self, connection):
        self.connection = connection
        if self.result is not None:
            connection.respond(self.result)

    def resolve(self, response):
        if self.done:
            response.close()   # the client left first: an open file must not leak
            return
        self.done = True
        if self.connection is not None:
            self.connection.respond(response)
        else:
            self.result = response

    def fail(self, exc):
        """Answer with what exc maps to (error_answer), once on_fail has let go."""
        if self.on_fail is not None:
            try:
                self.on_fail()
            except Exception as cleanup_exc:
                log_exception('cleaning up after ' + self.req.path, cleanup_exc)
        self.resolve(error_answer(exc, self.req))

    def step(self, fn):
        """fn as a callback of a timer or a child program, its errors answered."""
        def run(*args):
            try:
                fn(*args)
            except Exception as exc:
                self.fail(exc)
        return run

    def later(self, delay, fn, *args):
        """Run fn(*args) on the loop after delay seconds, its errors answered."""
        return self.req.app.loop.call_later(delay, self.step(fn), *args)

    def report(self):
        """on_done(error or None, interrupted=False) for work a shared rule does (camera_rules,
        ptz_rules): ok ({"interrupted":"true"} for a move cut short), else the error's answer."""
        def done(err, interrupted=False):
            if err is not None:
                raise err
            self.resolve(ok({'interrupted': 'true'} if interrupted else None))
        return self.step(done)

    def cancel(self):
        if self.done:
            return
        self.done = True
        if self.on_cancel is not None:
            self.on_cancel()


def json_response(obj, status=200, headers=None):
    return Response(json.dumps(obj).encode(), status, 'application/json', headers)


def ok(fields=None):
    """{"error":"false"} plus the service's fields."""
    body = {'error': 'false'}
    if fields:
        body.update(fields)
    return json_response(body)


def error_response(status, message, headers=None):
    """{"error":"true","message":...} with the status."""
    return json_response({'error': 'true', 'message': message}, status, headers)


def failure_response(exc):
    """The answer to an exception no handler expected: 503 when memory ran out
    (the heap is shared by every client: a retry soon may well succeed), else 500."""
    if isinstance(exc, MemoryError):
        return error_response(503, 'server short of memory: try again', [('Retry-After', '1')])
    return error_response(500, 'internal error: %s' % exc.__class__.__name__)


def error_answer(exc, req):
    """The one mapping of an error to an answer, for a handler and for any later step
    of its work: an HttpError is its own answer; anything else is logged with its
    traceback and answered 500 (503 when memory ran out)."""
    if isinstance(exc, HttpError):
        return exc.response()
    if isinstance(exc, checks.Refused):   # a shared rule's refusal, with its status
        retry = exc.retry_after
        return error_response(exc.status, exc.message,
                              None if retry is None else [('Retry-After', str(retry))])
    log_exception(req.method + ' ' + req.path, exc)
    return failure_response(exc)


def text_response(text, content_type='text/plain'):
    return Response(text.encode(), 200, content_type)

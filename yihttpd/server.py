"""The HTTP server on the loop: the listening socket and its connections.

A connection never blocks: it reads what has arrived, writes what the
socket takes, and waits on poll for the rest.
"""
import socket

from . import compat, http
from .loop import POLLHUP_ERR, POLLIN, POLLOUT, log_exception
from .wire import AnswerWriter, Drain, RequestBody, send_continue

# Bounds, each small enough for the camera's MicroPython heap.
RECV_SIZE = 2048          # bytes read from a socket at a time
SEND_BUFFER_SIZE = 8192   # shared buffer for copying files where there is no sendfile
ACCEPT_BATCH = 16         # connections accepted per poll wake-up, so others get a turn
MAX_CONNECTIONS = 32      # open connections; the stalest reader is dropped past this
HEADER_TIMEOUT = 10.0     # seconds a client gets to send a whole request head
IDLE_TIMEOUT = 30.0       # seconds an idle keep-alive or non-reading client is kept
SWEEP_INTERVAL = 0.5      # seconds between timeout checks
DEFERRED_TIMEOUT = 120.0  # a deferred answer never takes longer (long-poll is 80 s): a safety net
MEMORY_BODY_MAX = 16384   # bodies up to this are kept in memory, larger ones spooled to a file
MEMORY_BODIES_MAX = 16384   # in-memory bodies at once: one of the largest (one block, and parsing
                          # it costs twice more), or small ones beside each other: on a 256K heap
                          # two at once found no second 16 KiB block in 3 runs of 8
STALLED = 2.0             # seconds without taking a byte of its answer after which a client
                          # may be dropped to make room for a new one
SPOOLED_MAX = 2 * 1048576   # bytes of spooled bodies at once (two of the largest uploads): the
                          # temp dir is RAM on the camera
ACCEPT_PAUSE = 0.1        # seconds the listening socket is not polled when no fd is free

# Sent as is to a client that finds every connection busy with an answer under way.
BUSY_BODY = b'{"error": "true", "message": "every connection is busy: try again"}'
BUSY_ANSWER = (b'HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n'
               b'Content-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n'
               % len(BUSY_BODY)) + BUSY_BODY


def refuse_busy(sock):
    """Tell a client there is no room (a fresh socket's buffer takes the answer whole), then close."""
    try:
        sock.setblocking(False)
        sock.send(BUSY_ANSWER)
    except OSError:
        pass
    sock.close()


# Connection states
READ_HEAD = 0
READ_BODY = 1
WAIT = 2        # a deferred response is pending
WRITE = 3
CLOSED = 4
LINGER = 5      # answered and closing: the rest of what the client sends is read and dropped
WAITING_FOR_REQUEST = (READ_HEAD, READ_BODY, LINGER)   # the ones the connection cap may drop


class Server:
    """The listening socket and its connections."""

    def __init__(self, loop, app, bind='0.0.0.0', port=8080,
                 max_connections=MAX_CONNECTIONS, log=None, stats_log=None,
                 header_timeout=HEADER_TIMEOUT, idle_timeout=IDLE_TIMEOUT):
        self.loop = loop
        self.app = app
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        self.log = log
        self.stats_log = stats_log     # where heap high-water lines go (--stats)
        self.heap_peak = 0
        self.body_memory = 0           # bytes reserved by bodies being read into memory
        self.body_spooled = 0          # bytes announced by bodies being spooled to files
        self.accepted = 0
        self.connections = {}
        self.send_buffer = None if compat.HAS_SENDFILE else bytearray(SEND_BUFFER_SIZE)
        self.recv_view = memoryview(bytearray(RECV_SIZE))   # every socket read lands here first
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(compat.resolve_bind(bind, port))
        self.sock.listen(128)
        self.sock.setblocking(False)
        compat.close_on_exec(self.sock.fileno())
        loop.register(self.sock.fileno(), POLLIN, self.on_accept)
        loop.call_later(SWEEP_INTERVAL, self.sweep)

    def on_accept(self, _events):
        for _ in range(ACCEPT_BATCH):
            try:
                sock, addr = self.sock.accept()
            except OSError as exc:
                if compat.errno_of(exc) in compat.OUT_OF_SOCKETS:
                    self.out_of_sockets()
                return
            if len(self.connections) >= self.max_connections and not self.evict_stalest():
                refuse_busy(sock)
                continue
            self.accepted += 1
            try:
                sock.setblocking(False)
                compat.close_on_exec(sock.fileno())
                # A head sent before its body must not wait for the client's delayed ACK (~40 ms).
                sock.setsockopt(compat.IPPROTO_TCP, compat.TCP_NODELAY, 1)
                conn = Connection(self, sock, compat.sockaddr_host(addr), self.accepted)
                conn.peer_port = compat.sockaddr_port(addr)
            except Exception as exc:
                log_exception('accept', exc)
                sock.close()
                continue
            self.connections[conn.fd] = conn

    def out_of_sockets(self):
        """accept() found no free fd: drop the stalest waiting client, else pause a while.

        The client still queued keeps the listening socket readable, so
        polling it on at once would spin the CPU until an fd frees up.
        """
        if self.evict_stalest():
            return
        fd = self.sock.fileno()
        self.loop.modify(fd, 0)
        self.loop.call_later(ACCEPT_PAUSE, self.loop.modify, fd, POLLIN)

    def evict_stalest(self):
        """Close the connection idle longest: waiting for a request to complete,
        or not reading its answer for STALLED seconds."""
        stalled = compat.monotonic() - STALLED
        waiting = [((conn.waiting_since, conn.number), conn) for conn in self.connections.values()
                   if conn.state in WAITING_FOR_REQUEST
                   or (conn.state == WRITE and conn.waiting_since < stalled)]
        if not waiting:
            return False
        min(waiting, key=lambda pair: pair[0])[1].close()   # number breaks ties of the clock
        return True

    def sweep(self):
        # Scheduled first: a sweep that raises must not end all future timeouts.
        self.loop.call_later(SWEEP_INTERVAL, self.sweep)
        now = compat.monotonic()
        for conn in list(self.connections.values()):
            if now > conn.deadline:
                if conn.state == WAIT and self.log is not None:
                    self.log('%s %s gave no answer in %d s: closed' % (
                        conn.request.method, conn.request.path, DEFERRED_TIMEOUT))
                conn.close()
        self.sample_heap()

    def sample_heap(self):
        """With --stats, log each new high-water mark of live heap (MicroPython only).

        Collected first, so the figure is what the server holds, not garbage
        waiting for the collector; sampled on the sweep timer, mid-transfer.
        """
        if self.stats_log is None:
            return
        compat.gc_collect()
        used = compat.heap_used()
        if used is not None and used > self.heap_peak:
            self.heap_peak = used
            self.stats_log('stats heap_peak=%d' % used)

    def forget(self, conn):
        self.connections.pop(conn.fd, None)

    def log_request(self, conn):
        """peer method path status bytes milliseconds, once an answer is out."""
        if self.log is None or conn.request is None:
            return
        req = conn.request
        ms = int((compat.monotonic() - conn.started) * 1000)
        status = conn.response.status if conn.response else 0
        self.log('%s %s %s %d %d %dms' % (conn.peer, req.method, req.path, status, conn.writer.sent, ms))

    def open_body(self, req, length, key):
        """Where a body of length bytes goes: a spool file if large, else memory
        while there is room (the heap is shared by every client)."""
        spooled = length > MEMORY_BODY_MAX
        if (self.body_spooled + length > SPOOLED_MAX) if spooled \
                else (self.body_memory + length > MEMORY_BODIES_MAX):
            raise http.HttpError(503, 'busy reading other request bodies: try again',
                                 [('Retry-After', '1')])
        if spooled:
            body = RequestBody(req, length, 0, self.app.spool_path(key))
            self.body_spooled += length
            return body
        try:
            body = RequestBody(req, length, length)
        except MemoryError:
            # The heap has room in total but no block this long: the client may try again
            # once other answers have let go of theirs; a trace would only fill the log.
            raise http.HttpError(503, 'no memory for a body of this length now: try again',
                                 [('Retry-After', '1')])
        self.body_memory += length
        return body

    def release_body(self, body):
        body.drop()
        self.body_memory -= body.reserved
        if not body.reserved:   # spooled
            self.body_spooled -= body.length
        body.remove_spool()


class Connection:
    """One client socket: read a request, answer it, keep alive or close."""

    def __init__(self, server, sock, peer, number):
        self.server = server
        self.number = number     # accept order: breaks ties of the millisecond clock
        self.loop = server.loop
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.peer_port = 0       # set by the server once accepted (a CGI program's REMOTE_PORT)
        self.inbuf = b''
        self.request = None
        self.body = None         # the request's RequestBody, if it has one
        self.deferred = None
        self.response = None
        self.writer = None       # an AnswerWriter while an answer goes out
        self.started = 0
        self.keep_alive = True
        self.linger_after = False   # refused with its body unread: drain it before closing
        self.drain = None        # a Drain once lingering
        self.state = READ_HEAD
        self.waiting_since = self.loop.now
        self.deadline = self.waiting_since + self.server.header_timeout
        self.events = POLLIN     # what poll watches the socket for now
        self.loop.register(self.fd, POLLIN, self.on_event)

    def on_event(self, events):
        if self.state == WRITE:
            if events & POLLOUT:
                self.guarded(self.write_some)
            elif events & POLLIN and self.writer.waiting:
                self.guarded(self.read_some)   # the client's end of stream, or pipelined bytes
            else:
                self.close()   # POLLHUP/POLLERR alone: the peer is gone
        elif events & (POLLIN | POLLHUP_ERR):
            self.guarded(self.read_some)

    def guarded(self, step, *args):
        """Run a step of this connection; an error nobody caught ends only this request."""
        try:
            step(*args)
        except Exception as exc:
            self.crashed(exc)

    def crashed(self, exc):
        """An unexpected error (out of memory, mostly): a 503/500 if no answer has started, then close."""
        log_exception('connection from %s' % self.peer, exc)
        if self.state in (WRITE, CLOSED):
            self.close()
            return
        self.release()
        try:
            self.fail(http.failure_response(exc))
        except Exception:
            self.close()

    def read_some(self):
        if self.state == READ_HEAD and b'\r\n\r\n' in self.inbuf:
            # A pipelined request is whole in hand: answer it before reading
            # more, so what is kept stays one read past a head.
            self.process_input()
            return
        view = self.server.recv_view
        try:
            count = compat.recv_into(self.sock, view)
        except OSError:
            count = 0   # reset by the peer: as gone
        if count is None:
            return
        if not count:
            self.close()
            return
        data = bytes(view[:count])
        if self.state == LINGER:
            self.deadline = self.drain.dropped(len(data))
            if self.deadline is None:
                self.close()
            return
        if self.state in (WAIT, WRITE):
            # Pipelined requests while an answer is pending: kept for after it
            # up to a read's worth (memory: 32 connections may wait at once);
            # the rest waits in the kernel (not read, not lost).
            self.inbuf += data
            if len(self.inbuf) >= RECV_SIZE:
                self.watch(0)
            return
        now = self.loop.now
        if not self.inbuf:
            if self.state == READ_HEAD:
                # First byte of a request: the head must now be complete in time.
                self.deadline = min(self.deadline, now + self.server.header_timeout)
            self.inbuf = data   # most requests come in one read: no joining
        else:
            self.inbuf += data
        if self.state == READ_BODY:
            self.deadline = now + self.server.idle_timeout
        self.process_input()

    def process_input(self):
        if self.state == READ_HEAD:
            self.parse_head()
        if self.state == READ_BODY:
            self.inbuf = self.body.take(self.inbuf)
            if not self.body.left:
                self.dispatch()

    def parse_head(self):
        end = self.inbuf.find(b'\r\n\r\n')
        try:
            if end < 0:
                http.check_partial_head(self.inbuf)
                return
            head = self.inbuf[:end]
            self.inbuf = self.inbuf[end + 4:]
            self.started = self.loop.now
            req = self.request = http.parse_head(head)
            req.peer = self.peer
            req.peer_port = self.peer_port
            req.app = self.server.app
            self.keep_alive = req.keep_alive
            length = self.server.app.admit(req)
            if length:
                self.body = self.server.open_body(req, length, self.fd)
        except http.HttpError as err:
            self.fail(err.response())
            return
        if self.body is None:
            self.dispatch()
            return
        if req.headers.get('expect', '').lower() == '100-continue':
            send_continue(self.sock)
        self.state = READ_BODY

    def dispatch(self):
        self.state = WAIT
        self.deadline = self.loop.now + DEFERRED_TIMEOUT
        result = self.server.app.handle(self.request)
        if isinstance(result, http.Deferred):
            self.deferred = result
            result.bind(self)
        else:
            self.start_answer(result)   # already inside this connection's guarded step

    def fail(self, response):
        """Answer a request that could not be read or run, then close."""
        self.keep_alive = False
        # The client may still be sending a body this server will not read.
        self.linger_after = self.state == READ_BODY or (
            self.request is not None and self.request.announces_body())
        if self.request is None:
            self.request = http.Request('GET', '-', 'HTTP/1.0')
            self.started = self.loop.now
        self.start_answer(response)

    def respond(self, response):
        """Start sending a Response (called at once or by a Deferred)."""
        self.guarded(self.start_answer, response)

    def start_answer(self, response):
        if self.state == CLOSED:
            response.close()
            return
        self.deferred = None
        req = self.request
        self.response = response
        if response.close_connection:
            self.keep_alive = False
        self.writer = AnswerWriter(response.head(req.version, self.keep_alive), response,
                                   req.method != 'HEAD')
        self.state = WRITE
        self.waiting_since = self.loop.now   # for a writer: when it last took a byte
        self.deadline = self.waiting_since + self.server.idle_timeout
        self.write_some()

    def watch(self, events):
        """Have poll watch the socket for events (most answers go out whole at once:
        then poll is never asked to watch for room to write)."""
        if events != self.events:
            self.events = events
            self.loop.modify(self.fd, events)

    def write_some(self):
        sent = self.writer.sent
        try:
            done = self.writer.write(self.sock, self.server.send_buffer)
        except OSError as exc:
            if compat.errno_of(exc) != compat.EAGAIN:
                self.close()
                return
            done = False
        if done:
            self.finish()
            return
        # The rest when the socket takes more; while the body waits for its source,
        # a client that leaves meanwhile ends it.
        self.watch(POLLIN if self.writer.waiting else POLLOUT)
        if self.writer.sent > sent:
            self.waiting_since = self.loop.now
            self.deadline = self.waiting_since + self.server.idle_timeout

    def resume_writing(self):
        """The body that yielded WAIT has more: write again when the socket takes it."""
        if self.state == WRITE and self.writer.waiting:
            self.writer.waiting = False
            self.deadline = self.loop.now + self.server.idle_timeout
            self.watch(POLLOUT)

    def finish(self):
        """The whole response is out: log it, then keep alive or close."""
        self.server.log_request(self)
        response = self.response
        self.release()
        if response is not None and response.after_sent is not None:
            try:
                response.after_sent()
            except Exception as exc:
                log_exception('after response', exc)
        if not self.keep_alive:
            if self.linger_after:
                self.linger()
            else:
                self.close()
            return
        self.request = None
        self.state = READ_HEAD
        self.waiting_since = self.loop.now
        self.deadline = self.waiting_since + self.server.idle_timeout
        self.watch(POLLIN)
        if self.inbuf:
            self.deadline = self.waiting_since + self.server.header_timeout
            # On the next loop turn, not from here: answering a burst of
            # pipelined requests by recursion overflows MicroPython's stack.
            self.loop.call_later(0, self.guarded, self.process_input)

    def linger(self):
        """Close a refused request's connection once the client stopped sending: what
        still arrives (an upload refused with 413) is dropped for a bounded time, so
        the kernel does not reset the connection before the client read its answer."""
        self.state = LINGER
        self.inbuf = b''
        compat.shutdown_write(self.sock)   # a client reading to the end stops waiting now
        self.drain = Drain()
        self.deadline = self.drain.dropped(0)
        self.watch(POLLIN)

    def release(self):
        """Give back what the request and its answer hold: body memory, spool file,
        a deferred answer still awaited, an open file."""
        if self.body is not None:
            self.server.release_body(self.body)
            self.body = None
        if self.deferred is not None:
            self.deferred.cancel()
            self.deferred = None
        if self.response is not None:
            self.response.close()
        self.response = None
        self.writer = None

    def close(self):
        if self.state == CLOSED:
            return
        self.state = CLOSED
        self.release()
        self.loop.unregister(self.fd)
        self.server.forget(self)
        try:
            self.sock.close()
        except OSError:
            pass

"""What crosses a connection's socket after the head: the request body coming
in, and the answer going out.

AnswerWriter is the one place that turns any answer (bytes, an open file
part, an iterator of bytes) into what the socket takes, as microdot's
Response.body_iter does; the connection only says when to write.
"""
from . import compat, files

SMALL_BODY = 4096         # a body below this goes out in the same send as its head
WRITE_TURN = 65536        # bytes of one answer sent per loop turn at most, so that a body made
                          # as it goes (a page file inflated) never holds the loop from others
LINGER_TIME = 2.0         # seconds a refused request's unread body is drained before closing,
LINGER_MAX = 2 * 1048576  # or this many bytes: closing on unread data would reset the
                          # connection and the client could lose the answer (RFC 9112 9.6)
LINGER_IDLE = 0.5         # seconds of silence that show the client has stopped sending

# A body iterator yields WAIT when its next piece has not come yet (a CGI
# program's output): the writer stops, and the connection waits until the
# body's source calls Connection.resume_writing.
WAIT = object()


def send_continue(sock):
    """The interim 100 Continue a client that sent Expect waits for before its body."""
    try:   # small: a socket's buffer always takes it
        sock.send(b'HTTP/1.1 100 Continue\r\n\r\n')
    except OSError:
        pass


class RequestBody:
    """A body of a known length arriving in pieces: joined in memory, or
    written to a spool file (spool_path) when it is too large for the heap."""

    def __init__(self, req, length, reserved, spool_path=None):
        self.req = req
        self.length = length
        self.left = length
        self.reserved = reserved   # bytes of the server's body memory it holds
        self.data = None
        self.filled = 0
        self.file = None
        if spool_path is not None:
            req.body_path = spool_path
            self.file = files.create_new(spool_path)
        else:
            # One block taken while the heap is least broken up, filled in
            # place: joining pieces would need the body twice over.
            self.data = bytearray(length)

    def take(self, data):
        """Keep the body's part of data; returns the rest (a pipelined request's bytes)."""
        n = min(len(data), self.left)
        chunk = data if n == len(data) else data[:n]
        self.left -= n
        if self.file is not None:
            self.file.write(chunk)
        else:
            self.data[self.filled:self.filled + n] = chunk
            self.filled += n
        if not self.left:
            if self.file is not None:
                self.drop()
            else:
                self.req.body = self.data
                self.data = None
        return data[n:]

    def drop(self):
        """Stop taking the body (complete, or the client went away)."""
        if self.file is not None:
            self.file.close()
            self.file = None
        self.data = None

    def remove_spool(self):
        """The spooled upload is of no more use once its answer is out."""
        if self.req.body_path is not None:
            files.remove_if_there(self.req.body_path)
            self.req.body_path = None


class Drain:
    """What a refused client still sends, read and dropped for a bounded time and size."""

    def __init__(self):
        self.left = LINGER_MAX
        self.end = compat.monotonic() + LINGER_TIME

    def dropped(self, n):
        """n more bytes dropped: the new deadline, or None when it is time to close."""
        self.left -= n
        if self.left <= 0:
            return None
        return min(self.end, compat.monotonic() + LINGER_IDLE)


class AnswerWriter:
    """One answer on its way out: the head, then the body, as the socket takes them."""
    file = None        # what is sent after the head: a file part,
    offset = 0
    left = 0
    pieces = None      # or the body's pieces (an iterator)
    waiting = False    # the body iterator yielded WAIT

    def __init__(self, head, response, with_body):
        self.sent = 0
        if not with_body:
            response.close()   # a HEAD answer: its file is of no more use
            self.out = memoryview(head)
            return
        body = response.body
        if response.file is not None:
            self.file = response.file
            self.offset = response.offset
            self.left = response.length
        elif isinstance(body, (bytes, bytearray)):
            if len(body) < SMALL_BODY:
                head += body   # in the same send
            else:
                self.pieces = iter((body,))
        else:
            self.pieces = iter(body)
        self.out = memoryview(head)

    def write(self, sock, buffer):
        """Send until the socket is full; True once the whole answer is out.

        buffer is the shared copy buffer for runtimes without sendfile.
        Raises OSError (EAGAIN: the socket takes nothing more now). After
        WRITE_TURN bytes it returns False with the socket still writable: the
        loop comes back to it once the others had their turn.
        """
        turn_end = self.sent + WRITE_TURN
        while self.sent < turn_end:
            if self.out is not None:
                n = sock.send(self.out)
                self.sent += n
                if n < len(self.out):
                    self.out = self.out[n:]
                    return False
                self.out = None
            elif self.file is not None and self.left > 0:
                n = compat.send_file_part(sock, self.file, self.offset, self.left, buffer)
                if not n:
                    raise OSError(compat.EPIPE, 'file shrank while sent')
                self.offset += n
                self.left -= n
                self.sent += n
            else:
                piece = None if self.pieces is None else next(self.pieces, None)
                if piece is None:
                    return True
                if piece is WAIT:
                    self.waiting = True
                    return False
                if piece:
                    self.out = memoryview(piece)
        return False

"""Where the MQTT bridge reads the camera's event messages from.

`--ipc-events NAME` picks the source by the shape of NAME:
- `/name` (one leading slash, no other): a POSIX message queue, the
  firmware's `/ipc_dispatch_N` copy of every dispatched message (docs/IPC.md),
  opened O_RDONLY|O_NONBLOCK and registered in the loop's poll. Needs
  mqueue.MessageQueue: CPython (ctypes) or a MicroPython built with ffi.
- any other path: a FIFO or a regular file of framed messages, for tests,
  the demo and runtimes without queue support. A frame is a 2-byte
  little-endian length N (at most MAX_MESSAGE) followed by the N bytes of
  one message. A writer must put a whole frame in a single write() (a pipe
  keeps writes up to 4096 bytes whole), because MicroPython can only read
  a FIFO blocking. A FIFO is watched by poll; a regular file is read to its
  end and then followed like `tail -f` on a timer.

Each message is handed to on_message(bytes) as read; deciding what it means
is ipc.event_name's job.
"""
from . import compat, files, mqueue
from .ipc import MAX_MESSAGE
from .loop import POLLIN

QUEUE_DRAIN_BATCH = 16     # messages taken per wake-up, so the broker socket gets a turn
FILE_POLL_INTERVAL = 0.2   # seconds between looks at a followed regular file
FRAME_HEAD = 2             # bytes of the length in front of each framed message


def is_queue_name(name):
    """POSIX queue names are '/' plus a name without further slashes."""
    return len(name) > 1 and name[0] == '/' and '/' not in name[1:]


def open_source(name, loop, on_message):
    """The source NAME describes, already watched by the loop; raises OSError if it cannot open."""
    if is_queue_name(name):
        return QueueSource(name, loop, on_message)
    st = files.stat(name)
    if st is None:
        raise OSError(compat.ENOENT, 'no such event queue, FIFO or file: ' + name)
    if st[0] & files.S_IFMT == files.S_IFIFO:
        return FifoSource(name, loop, on_message)
    return FileSource(name, loop, on_message)


class QueueSource:
    """A POSIX message queue opened read-only and non-blocking."""

    def __init__(self, name, loop, on_message):
        self.loop = loop
        self.on_message = on_message
        self.queue = mqueue.MessageQueue(name, mqueue.O_RDONLY | mqueue.O_NONBLOCK)
        self.buf = bytearray(self.queue.msgsize)   # mq_receive refuses a smaller buffer
        self.fd = self.queue.fileno()
        loop.register(self.fd, POLLIN, self.on_ready)

    def on_ready(self, _events):
        for _ in range(QUEUE_DRAIN_BATCH):
            try:
                n = self.queue.receive(self.buf)
            except OSError as exc:
                if compat.errno_of(exc) == compat.EAGAIN:
                    return
                raise
            self.on_message(bytes(self.buf[:n]))

    def close(self):
        self.loop.unregister(self.fd)
        self.queue.close()


class FramedReader:
    """Length-prefixed messages from an unbuffered file object."""

    def __init__(self, path, mode):
        self.path = path
        self.file = open(path, mode, buffering=0)

    def read_frame(self):
        """The next message, or None when no whole frame is there (yet)."""
        head = self.file.read(FRAME_HEAD)
        if not head or len(head) < FRAME_HEAD:
            return None
        length = head[0] | head[1] << 8
        if length > MAX_MESSAGE:
            raise ValueError('%s: frame of %d bytes (at most %d): not a framed event file'
                             % (self.path, length, MAX_MESSAGE))
        body = self.file.read(length) if length else b''
        if body is None or len(body) < length:
            return None
        return body

    def close(self):
        self.file.close()


class FifoSource(FramedReader):
    """A FIFO, opened read-write so that it never blocks at open and never sees EOF."""

    def __init__(self, path, loop, on_message):
        FramedReader.__init__(self, path, 'r+b')
        self.loop = loop
        self.on_message = on_message
        self.fd = self.file.fileno()
        loop.register(self.fd, POLLIN, self.on_ready)

    def on_ready(self, _events):
        message = self.read_frame()
        if message is not None:
            self.on_message(message)

    def close(self):
        self.loop.unregister(self.fd)
        FramedReader.close(self)


class FileSource(FramedReader):
    """A regular file of frames: read what is there, then look again on a timer."""

    def __init__(self, path, loop, on_message):
        FramedReader.__init__(self, path, 'rb')
        self.loop = loop
        self.on_message = on_message
        self.offset = 0
        self.timer = loop.call_later(0, self.follow)

    def follow(self):
        while True:
            self.file.seek(self.offset)
            message = self.read_frame()
            if message is None:
                break
            self.offset += FRAME_HEAD + len(message)
            self.on_message(message)
        self.timer = self.loop.call_later(FILE_POLL_INTERVAL, self.follow)

    def close(self):
        self.timer.cancel()
        FramedReader.close(self)

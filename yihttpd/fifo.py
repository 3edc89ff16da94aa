"""A named pipe's read end that never blocks: how a child's output reaches the loop.

A child started through child.py writes into the pipe by its path (on
MicroPython a shell redirect, which only that child's shell opens, so no
other program holds the write end). The read end is opened first with
O_NONBLOCK, so opening succeeds before any writer exists and the child's
open for writing never waits.

CPython has os.mkfifo, os.open and os.read. MicroPython's os has none of
them: libc's are called through ffi (compat.libc_function; the camera's
1.26.1 has ffi).
"""
import os

from .compat import libc_function
from .files import remove_if_there
from .openflags import open_flag

O_RDONLY = getattr(os, 'O_RDONLY', 0)
O_NONBLOCK = open_flag('O_NONBLOCK')
O_CLOEXEC = 0o2000000     # for ffi's open (CPython's os.open never lets a child inherit)
FIFO_MODE = 0o600

if hasattr(os, 'mkfifo'):
    _mkfifo = os.mkfifo
    _open = os.open
    _close = os.close

    def _read_into(fd, buf):
        """Bytes read into buf, 0 at the end, None when nothing has come yet."""
        try:
            return os.readv(fd, [buf])
        except BlockingIOError:
            return None
else:
    def _checked(value, what):
        if value < 0:
            raise OSError('%s failed' % what)
        return value

    def _mkfifo(path, mode):
        _checked(libc_function('mkfifo', 'i', 'si')(path, mode), 'mkfifo ' + path)

    def _open(path, flags):
        return _checked(libc_function('open', 'i', 'si')(path, flags | O_CLOEXEC), 'open ' + path)

    def _close(fd):
        libc_function('close', 'i', 'i')(fd)

    def _read_into(fd, buf):
        """Bytes read into buf, 0 at the end; -1 (only after poll said readable: an
        error) is taken as the end too, so a broken pipe cannot spin the loop."""
        n = libc_function('read', 'i', 'ipi')(fd, buf, len(buf))
        return n if n > 0 else 0


class FifoReader:
    """A named pipe at path, created and opened for reading without blocking."""

    def __init__(self, path):
        self.path = path
        remove_if_there(path)
        _mkfifo(path, FIFO_MODE)
        try:
            self.fd = _open(path, O_RDONLY | O_NONBLOCK)
        except BaseException:   # MemoryError too: the name must not stay behind
            remove_if_there(path)
            raise

    def fileno(self):
        return self.fd

    def read_into(self, buf):
        """Bytes read into buf: 0 once every writer has closed, None if nothing is there yet.

        Call it when poll() said the pipe is readable: before a writer has
        opened it, an empty pipe also reads as 0.
        """
        return _read_into(self.fd, buf)

    def close(self):
        """Close the read end and remove the name (a writer still there gets SIGPIPE)."""
        if self.fd is not None:
            _close(self.fd)
            self.fd = None
            remove_if_there(self.path)

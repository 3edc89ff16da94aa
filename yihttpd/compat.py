"""Thin runtime shims that many modules share (clock, errno, sockets, process).

Each difference is a feature check, not a version test. Differences that
belong to one subject sit at the top of the module about it:
- files.py: no os.lstat/realpath/fsync on MicroPython (links seen through
  os.ilistdir's entry types; atomic writes rename without forcing to the card);
- child.py: no subprocess (a background shell started by posix_spawn through
  ffi, exit status in a file);
- mqueue.py: POSIX queues through ctypes (CPython) or ffi (MicroPython), none
  in builds without ffi;
- compress.py: no bz2, zlib or gzip (gzip read through `deflate`; bzip2 is
  the package's own on both runtimes);
- checks.py: MicroPython's decode takes overlong and surrogate UTF-8.

Here: no os.sendfile (files are copied through one shared buffer), no
socket.recv_into (readinto instead), no socket.getsockname (--port 0
cannot report the chosen port), no EPIPE in errno (Linux's number is
defined here), no signal module (SIGTERM ends the MQTT bridge at once;
the broker then publishes its will itself), and under `-m` no SIGINT
handler (interrupt_on_sigint sets it up). No O_* open flags in os either:
openflags.py has the kernel's numbers for the CPU.
"""
import errno
import os
import socket
import time

# errno numbers as the errno module has them: the CPU's own (MIPS numbers
# ECONNRESET, ENOBUFS and others apart from ARM and x86). The few that
# MicroPython's module lacks have the same number on every Linux CPU.
ENOENT = errno.ENOENT
EAGAIN = errno.EAGAIN
ENOMEM = errno.ENOMEM
ENFILE = getattr(errno, 'ENFILE', 23)
EMFILE = getattr(errno, 'EMFILE', 24)
EPIPE = getattr(errno, 'EPIPE', 32)
ECONNRESET = errno.ECONNRESET
ENOBUFS = errno.ENOBUFS
# accept() errors that mean "no room for another socket now" (out of fds or kernel memory).
OUT_OF_SOCKETS = (EMFILE, ENFILE, ENOBUFS, ENOMEM)

# Linux socket option numbers (MicroPython's socket module does not name them).
IPPROTO_TCP = 6
TCP_NODELAY = 1

if hasattr(time, 'monotonic'):
    def monotonic():
        """Seconds from a clock that never jumps with the wall time."""
        return time.monotonic()
else:
    _ticks_last = time.ticks_ms()
    _ticks_total = 0

    def monotonic():
        """Seconds from a clock that never jumps with the wall time.

        MicroPython's ticks_ms wraps after about 12 days; summing the
        differences keeps the count growing for as long as the camera runs.
        """
        global _ticks_last, _ticks_total
        now = time.ticks_ms()
        _ticks_total += time.ticks_diff(now, _ticks_last)
        _ticks_last = now
        return _ticks_total / 1000


def errno_of(exc):
    """The errno of an OSError on both runtimes (MicroPython puts it in args[0])."""
    code = getattr(exc, 'errno', None)
    if code is None and exc.args:
        code = exc.args[0]
    return code


HAS_SENDFILE = hasattr(os, 'sendfile')
HAS_RECV_INTO = hasattr(socket.socket, 'recv_into')   # else readinto (MicroPython)


# A 32-bit MicroPython's seek takes a machine word (below 2 GiB), but a
# video on the FAT32 card may reach 4 GiB: farther offsets go in steps.
SEEK_STEP = 1 << 30


def seek(f, offset):
    """f.seek(offset) that reaches past 2 GiB on every runtime."""
    if offset < SEEK_STEP:
        f.seek(offset)
        return
    f.seek(0)
    while offset > 0:
        step = min(offset, SEEK_STEP)
        f.seek(step, 1)
        offset -= step


def send_file_part(sock, f, offset, count, buf):
    """Send up to count bytes of f from offset; returns the number sent.

    CPython hands the copy to the kernel (sendfile). MicroPython reads into
    the shared buffer and sends what the socket takes; the next call reads
    again from the new offset, so no per-connection copy is ever kept.
    """
    if HAS_SENDFILE:
        return os.sendfile(sock.fileno(), f.fileno(), offset, count)
    seek(f, offset)
    n = f.readinto(buf)
    if not n:
        return 0
    if n > count:
        n = count
    return sock.send(memoryview(buf)[:n])


def recv_into(sock, view):
    """Read what the peer sent into view: the count (0: the end of the stream), or
    None when nothing has come. Into one buffer the server keeps: MicroPython's
    recv(n) takes a fresh block of n bytes at every call."""
    if HAS_RECV_INTO:
        try:
            return sock.recv_into(view)
        except OSError as exc:
            if errno_of(exc) == EAGAIN:
                return None
            raise
    return sock.readinto(view)   # a non-blocking socket's: None when nothing has come


def shutdown_write(sock):
    """Send the peer an end of stream but keep reading (MicroPython's sockets cannot)."""
    if hasattr(sock, 'shutdown'):
        try:
            sock.shutdown(1)   # SHUT_WR
        except OSError:
            pass


def sockaddr_host(addr):
    """The printable host of an accepted peer address."""
    if isinstance(addr, tuple):
        return addr[0]
    try:
        import socket
        family, raw, _port = socket.sockaddr(addr)[:3]
        return socket.inet_ntop(family, raw)
    except Exception:
        return '?'


def sockaddr_port(addr):
    """The port of an accepted peer address (0 if unknown)."""
    if isinstance(addr, tuple):
        return addr[1]
    try:
        import socket
        return socket.sockaddr(addr)[2]
    except Exception:
        return 0


LIBC_NAMES = ('libc.so.6', 'libc.so.0', 'libc.so')   # glibc, uClibc, musl
_libc = {}


def libc():
    """libc through ffi (MicroPython), opened once.

    Raises ImportError without ffi, OSError without a libc.
    """
    if 'lib' not in _libc:
        import ffi
        for library in LIBC_NAMES:
            try:
                _libc['lib'] = ffi.open(library)
                break
            except OSError:
                continue
        else:
            raise OSError('no libc')
    return _libc['lib']


def libc_function(name, result, args):
    """libc's function through ffi (MicroPython), with ffi's type letters; looked up once."""
    key = name + args
    if key not in _libc:
        _libc[key] = libc().func(result, name, args)
    return _libc[key]


F_SETFD = 2
FD_CLOEXEC = 1


def close_on_exec(fd):
    """Keep fd out of the programs the server starts.

    CPython's descriptors are never inherited (PEP 446). MicroPython's
    sockets are, by every child program: a CGI program or a daemon a
    service script starts would hold the listening socket and clients'
    connections open after the server closed them. Without ffi nothing
    can be done.
    """
    if hasattr(os, 'set_inheritable'):
        return
    try:
        libc_function('fcntl', 'i', 'iii')(fd, F_SETFD, FD_CLOEXEC)
    except (ImportError, OSError):
        pass


def resolve_bind(host, port):
    import socket
    return socket.getaddrinfo(host, port)[0][-1]


try:
    import signal
except ImportError:
    signal = None


def _raise_exit(_signum, _frame):
    raise SystemExit(0)


def exit_on_sigterm():
    """SIGTERM raises SystemExit so that `finally` and `except SystemExit` run.

    Where the runtime has no signal module (MicroPython), SIGTERM keeps its
    default action and ends the process at once.
    """
    if signal is not None:
        signal.signal(signal.SIGTERM, _raise_exit)


CTRL_C = 3


def interrupt_on_sigint():
    """SIGINT (Ctrl-C) raises KeyboardInterrupt, so that cleanup code runs.

    CPython does unless SIGINT came ignored from the parent (a program started
    in the background by a non-interactive shell): its handler is set again.
    MicroPython's unix port sets its handler up for `-c` and scripts but not
    for `-m`, and kbd_intr sets it up.
    """
    if signal is not None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        return
    try:
        import micropython
    except ImportError:
        return
    if hasattr(micropython, 'kbd_intr'):
        micropython.kbd_intr(CTRL_C)


def getpid():
    """The process id (MicroPython's os has none: read it from /proc)."""
    if hasattr(os, 'getpid'):
        return os.getpid()
    try:
        return int(os.readlink('/proc/self'))
    except Exception:
        with open('/proc/self/stat') as f:
            return int(f.read().split(' ', 1)[0])


def gc_collect():
    import gc
    gc.collect()


def heap_used():
    """Bytes of heap in use: MicroPython's gc.mem_alloc, None on CPython."""
    import gc
    if hasattr(gc, 'mem_alloc'):
        return gc.mem_alloc()
    return None

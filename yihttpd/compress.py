"""gzip and bzip2 streams for the settings and firmware archives.

bzip2, the firmware's format for settings, is this package's own on both
runtimes (bzip2.py reads, bzip2_writer.py writes): MicroPython has no bz2,
and one code path behaves the same everywhere. A settings archive in gzip
is read by inflate.py on both (its window a scratch file: no 32 KiB block
of heap, which a used heap may not have); a firmware archive, tens of MB,
by CPython's zlib and gzip, and by `deflate` in C on MicroPython
(GzipInflater).
"""
import binascii

GZIP_MAGIC = b'\x1f\x8b'
BZIP2_MAGIC = b'BZh'

try:
    import zlib
except ImportError:
    zlib = None

# What a decompressor raises on data that is not what it claims to be.
DECOMPRESS_ERRORS = (OSError, EOFError, ValueError) + ((zlib.error,) if zlib else ())


def write_bzip2(path, write):
    """Make the file path (new, at a temp name) and write(packer) a bzip2 stream into it:
    packer takes compress(bytes) and flush(). Out of memory, it starts again with
    smaller blocks (bzip2_writer.BLOCK_SIZES): a used heap may have no larger block free."""
    from .bzip2_writer import BLOCK_SIZES, Writer
    from .files import create_new
    for block_size in BLOCK_SIZES:
        try:
            with create_new(path) as out:
                write(out, Writer(block_size))
            return
        except MemoryError:
            if block_size == BLOCK_SIZES[-1]:
                raise


def bz2_reader(f):
    """A reader of the bzip2 stream in f (Bzip2Error, a ValueError, when it is corrupt)."""
    from .bzip2 import Reader
    return Reader(f)


SMALL_GZIP_CHUNK = 1024   # bytes a read of a settings gzip gives at most


class SmallGzip:
    """read(n) of the gzip stream in f, by inflate.py with its window a scratch file in
    tmp_dir; close() gives the file back."""

    def __init__(self, f, tmp_dir):
        from .inflate import Inflater
        self.inflater = Inflater(SMALL_GZIP_CHUNK, tmp_dir)
        self.inflater.start(f)

    def read(self, n):
        return bytes(self.inflater.read(min(n, SMALL_GZIP_CHUNK)))

    def close(self):
        self.inflater.release()


def gzip_reader(f, size):
    """A reader of the gzip stream that fills the seekable f (size bytes): a firmware archive.

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

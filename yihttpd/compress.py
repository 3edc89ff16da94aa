"""gzip and bzip2 streams for the settings and firmware archives.

CPython has zlib, gzip and bz2. MicroPython has only `deflate`, which always
decompresses gzip but compresses only in builds made with
MICROPY_PY_DEFLATE_COMPRESS (the unix port used here has no
DeflateIO.write); where nothing can compress, gzip is written with stored
(uncompressed) blocks (StoredGzip). bzip2 exists only where bz2 does.
"""
import binascii

GZIP_MAGIC = b'\x1f\x8b'
BZIP2_MAGIC = b'BZh'
STORED_BLOCK_MAX = 65535   # largest stored deflate block (16-bit length)

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


class StoredGzip:
    """A gzip writer with the compressobj interface that does not compress.

    For runtimes with no deflate compressor: the stream is valid gzip (stored
    blocks, CRC-32 and length trailer), which every gunzip reads.
    """

    def __init__(self):
        self.started = False
        self.crc = 0
        self.size = 0

    def compress(self, data):
        out = []
        if not self.started:
            self.started = True
            # magic, deflate, no flags, no mtime, no extra flags, OS unknown
            out.append(GZIP_MAGIC + b'\x08\x00\x00\x00\x00\x00\x00\xff')
        self.crc = binascii.crc32(data, self.crc)
        self.size += len(data)
        for at in range(0, len(data), STORED_BLOCK_MAX):
            part = data[at:at + STORED_BLOCK_MAX]
            out.append(self._stored_block(part, False))
        return b''.join(out)

    def flush(self):
        head = self.compress(b'') if not self.started else b''
        trailer = le32(self.crc) + le32(self.size)
        return head + self._stored_block(b'', True) + trailer

    @staticmethod
    def _stored_block(data, final):
        n = len(data)
        return bytes((1 if final else 0, n & 255, n >> 8, ~n & 255, (~n >> 8) & 255)) + data


def compressor(kind):
    """The compressor for 'bz2' or 'gz'."""
    if kind == 'bz2':
        return bz2_compressor()
    return gzip_compressor() or StoredGzip()


def preferred_kind():
    """bz2 where the runtime has it (the firmware's format), else gz."""
    return 'bz2' if HAS_BZ2 else 'gz'

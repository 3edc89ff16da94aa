"""multipart/form-data uploads (load.sh, speaker.sh).

The body is scanned through a seekable stream (body_stream: the in-memory
body or its spool file) a chunk at a time, and the file is handed on as a
Section of that stream, never copied.
"""
import io

from . import files
from .http import HttpError

MULTIPART_CHUNK = 2048   # bytes scanned at a time while looking for a boundary
MAX_PART_HEAD = 1024     # headers of one form part; longer: 400
MAX_BOUNDARY = 70        # RFC 2046's limit on a boundary's length


class Section(io.IOBase):
    """A read-only window of a seekable stream (io.IOBase: a stream to both runtimes' C code)."""

    def __init__(self, f, start, length):
        self.f = f
        self.start = start
        self.length = length
        self.seek(0)

    def seek(self, offset):
        self.f.seek(self.start + offset)
        self.left = self.length - offset

    def readable(self):
        return True

    def read(self, n=-1):
        if n < 0 or n > self.left:
            n = self.left
        data = self.f.read(n)
        self.left -= len(data)
        return data

    def readinto(self, buf):
        n = min(len(buf), self.left)
        if n <= 0:
            return 0
        got = self.f.readinto(memoryview(buf)[:n])
        self.left -= got
        return got


class BlockReader(io.IOBase):
    """A seekable read-only stream over an in-memory body. io.BytesIO would copy
    it, and a second block of its size is often not to be had on a small heap."""

    def __init__(self, block):
        self.view = memoryview(block)
        self.pos = 0

    def readable(self):
        return True

    def seek(self, offset, whence=0):
        self.pos = offset + (0, self.pos, len(self.view))[whence]
        return self.pos

    def tell(self):
        return self.pos

    def read(self, n=-1):
        end = len(self.view) if n is None or n < 0 else min(len(self.view), self.pos + n)
        data = bytes(self.view[self.pos:end])
        self.pos = max(self.pos, end)
        return data

    def readinto(self, buf):
        n = max(0, min(len(buf), len(self.view) - self.pos))
        buf[:n] = self.view[self.pos:self.pos + n]
        self.pos += n
        return n

    def close(self):
        self.view = memoryview(b'')


def body_stream(req):
    """(seekable stream, size) of a request's body: its spool file, or the block in memory."""
    if req.body_path:
        return open(req.body_path, 'rb'), files.stat_size(files.stat(req.body_path))
    return BlockReader(req.body), len(req.body)


def multipart_boundary(content_type):
    kind, _, params = content_type.partition(';')
    if kind.strip().lower() != 'multipart/form-data':
        raise HttpError(400, 'expected a multipart/form-data upload')
    for param in params.split(';'):
        name, _, value = param.strip().partition('=')
        value = value.strip()
        if len(value) > 1 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        if name.strip().lower() == 'boundary' and 0 < len(value) <= MAX_BOUNDARY:
            return value.encode()
    raise HttpError(400, 'multipart upload without a valid boundary')


def find_in_stream(f, needle, start, end):
    """Offset of needle in f[start:end], or -1; reads MULTIPART_CHUNK bytes at a time."""
    f.seek(start)
    pos = start
    tail = b''
    while pos < end:
        chunk = f.read(min(MULTIPART_CHUNK, end - pos))
        if not chunk:
            break
        window = tail + chunk
        at = window.find(needle)
        if at >= 0:
            return pos - len(tail) + at
        pos += len(chunk)
        tail = window[len(window) - len(needle) + 1:]
    return -1


def is_file_part(head):
    """A form part whose Content-Disposition names a file."""
    for line in head.split(b'\r\n'):
        name, _, value = line.partition(b':')
        if name.strip().lower() == b'content-disposition' and b'filename=' in value.lower():
            return True
    return False


def multipart_file(f, size, content_type):
    """The first file part of a multipart/form-data body of size bytes in f, as a Section.

    The field's name does not matter (the firmware's page says files[], curl
    users say file). No file part, or a body cut short: 400.
    """
    delimiter = b'--' + multipart_boundary(content_type)
    at = find_in_stream(f, delimiter, 0, size)   # the first one may open the body
    while at >= 0:
        head_start = at + len(delimiter)
        f.seek(head_start)
        if f.read(2) != b'\r\n':
            break   # '--': the closing delimiter
        head_end = find_in_stream(f, b'\r\n\r\n', head_start, min(size, head_start + MAX_PART_HEAD))
        if head_end < 0:
            raise HttpError(400, 'form part head missing or longer than %d bytes' % MAX_PART_HEAD)
        f.seek(head_start + 2)
        head = f.read(head_end - head_start - 2) if head_end > head_start else b''
        content_start = head_end + 4
        next_at = find_in_stream(f, b'\r\n' + delimiter, content_start, size)
        if next_at < 0:
            raise HttpError(400, 'upload cut short: form part not closed')
        if is_file_part(head):
            return Section(f, content_start, next_at - content_start)
        at = next_at + 2
    raise HttpError(400, 'no file in the upload')

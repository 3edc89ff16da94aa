"""The firmware's page as the firmware installs it: each file X only as X.gz.

Its busybox (gzdef.patch) answers a request for X with X.gz. Here X.gz
goes out as it is, with Content-Encoding: gzip, to a client whose
Accept-Encoding takes gzip, and is inflated on the fly for one that does
not (busybox has no answer for it); either way with X's Content-Type.
As every www file (static.py), it is sent whole: a Range header gets the
whole 200 answer, never a part of the compressed or of the inflated bytes.
"""
from .. import compat, compress
from . import static

INFLATE_CHUNK = 4096   # inflated bytes sent at a time
GZIP_TRAILER = 8       # CRC-32, then the inflated size modulo 2**32


def refuses(params):
    """Whether an Accept-Encoding item's parameters say q=0."""
    for param in params.split(';'):
        name, _, value = param.partition('=')
        if name.strip().lower() == 'q':
            value = value.strip()
            return value[:1] == '0' and value.strip('0.') == ''
    return False


def accepts_gzip(header):
    """Whether an Accept-Encoding header takes gzip: named (or x-gzip) or '*', without q=0."""
    star = False
    for item in header.split(','):
        coding, _, params = item.partition(';')
        coding = coding.strip().lower()
        if coding in ('gzip', 'x-gzip'):
            return not refuses(params)
        if coding == '*':
            star = not refuses(params)
    return star


def inflated_size(f, size):
    """The size the gzip trailer gives (the page's files are far below 4 GiB)."""
    f.seek(max(size - GZIP_TRAILER, 0))
    tail = f.read(GZIP_TRAILER)
    f.seek(0)
    return tail[4] | tail[5] << 8 | tail[6] << 16 | tail[7] << 24 if len(tail) == GZIP_TRAILER else 0


class Inflated:
    """The inflated bytes of an open gzip file, as an answer body (exactly length of them)."""

    def __init__(self, f, size, length):
        self.f = f
        self.left = length
        self.reader = compress.gzip_reader(f, size)

    def __iter__(self):
        return self

    def __next__(self):
        if not self.left:
            raise StopIteration
        data = self.reader.read(min(INFLATE_CHUNK, self.left))
        if not data:
            raise OSError(compat.EPIPE, 'gzip file shorter than its trailer says')
        self.left -= len(data)
        return data

    def close(self):
        if self.f is not None:
            self.f.close()
            self.f = None
            self.reader = None


def serve(req, gz_path, name):
    """X.gz for a request of X (name: X's last segment, for its Content-Type)."""
    gzip_ok = accepts_gzip(req.headers.get('accept-encoding', ''))
    headers = [('Cache-Control', 'no-cache'), ('Vary', 'Accept-Encoding')]
    if gzip_ok:
        headers.append(('Content-Encoding', 'gzip'))
    response = static.file_response(req, gz_path, headers, False, '' if gzip_ok else '-inflated')
    if response.status != 200:
        return response
    response.content_type = static.content_type(name)
    if not gzip_ok:
        f = response.file
        response.file = None
        length = inflated_size(f, response.length)
        response.body = Inflated(f, response.length, length)
        response.length = length
    return response

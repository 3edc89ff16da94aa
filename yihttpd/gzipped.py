"""The firmware's page as the firmware installs it: each file X only as X.gz.

Its busybox (gzdef.patch) answers a request for X with X.gz. Here X.gz
goes out as it is, with Content-Encoding: gzip, to a client whose
Accept-Encoding takes gzip, and is inflated on the fly for one that does
not (busybox has no answer for it); either way with X's Content-Type.
As every www file (handlers/static.py), it is sent whole: a Range header gets the
whole 200 answer, never a part of the compressed or of the inflated bytes.

Inflating is one shared inflate.Inflater (kept with App.state): its small buffers
are made at the first page-file request, while the heap still has room,
and kept, and its 32 KiB window is a scratch file, so a length once
promised is delivered even on a small, long-used heap, where no fresh
32 KiB block is to be had. It inflates one answer at a time; another client
without gzip meanwhile (or, should it never have been made, any) gets 503
with Retry-After before anything of its answer is sent.
"""
from . import compat, inflate
from .fileanswers import content_type, file_response
from .http import HttpError

INFLATE_CHUNK = 1024   # inflated bytes sent at a time
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


class SharedInflater:
    """What the page files keep: the one inflater, made at the first request for one
    (None while there was no room for it: tried again at the next)."""

    def __init__(self, _app):
        self.inflater = None


def shared_inflater(app):
    """The shared inflater, made now if it is not yet; None when there is no room for it."""
    kept = app.state(__name__, SharedInflater)
    if kept.inflater is None:
        try:
            kept.inflater = inflate.Inflater(INFLATE_CHUNK, app.tmp_dir)
        except MemoryError:
            pass
    return kept.inflater


class Inflated:
    """The inflated bytes of an open gzip file, as an answer body (exactly length of
    them), through the shared inflater, which it holds until it is closed (answer
    sent, client gone). Each piece is a view of the inflater's buffer, sent before
    the next is made."""

    def __init__(self, inflater, f, length):
        self.f = f
        self.left = length
        self.reader = inflater
        inflater.start(f)

    def __iter__(self):
        return self

    def __next__(self):
        if not self.left:
            raise StopIteration
        try:
            data = self.reader.read(min(INFLATE_CHUNK, self.left))
        except inflate.InflateError as err:   # the file changed or broke since its trailer was read
            raise OSError(compat.EPIPE, 'gzip file corrupt: %s' % err)
        if not data:
            raise OSError(compat.EPIPE, 'gzip file shorter than its trailer says')
        self.left -= len(data)
        return data

    def close(self):
        if self.f is not None:
            self.f.close()
            self.f = None
            self.reader.release()
            self.reader = None


def serve(req, gz_path, name):
    """X.gz for a request of X (name: X's last segment, for its Content-Type)."""
    inflater = shared_inflater(req.app)
    gzip_ok = accepts_gzip(req.headers.get('accept-encoding', ''))
    headers = [('Cache-Control', 'no-cache'), ('Vary', 'Accept-Encoding')]
    if gzip_ok:
        headers.append(('Content-Encoding', 'gzip'))
    response = file_response(req, gz_path, headers, False, '' if gzip_ok else '-inflated')
    if response.status != 200:
        return response
    response.content_type = content_type(name)
    if not gzip_ok:
        if inflater is None or inflater.busy():
            response.close()
            raise HttpError(503, 'a page file is being inflated for another client: try again',
                            [('Retry-After', '1')])
        f = response.file
        response.file = None
        length = inflated_size(f, response.length)
        try:
            response.body = Inflated(inflater, f, length)
        except OSError:      # no file to spare for the window now (EMFILE, a full /tmp)
            f.close()
            raise HttpError(503, 'no room to inflate a page file now: try again', [('Retry-After', '1')])
        response.length = length
    return response

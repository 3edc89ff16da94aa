"""Static files: the web page under www/, and file_response for recordings too.

file_response is the one place for a file's ETag, Last-Modified, 304 and
Range. Files are opened here and streamed by the loop in chunks.
"""
import time

from .. import checks, files
from ..http import HttpError, Response, parse_range, unchanged, unquote_path

CONTENT_TYPES = {
    'html': 'text/html; charset=utf-8',
    'css': 'text/css; charset=utf-8',
    'js': 'text/javascript; charset=utf-8',
    'json': 'application/json',
    'svg': 'image/svg+xml',
    'png': 'image/png',
    'gif': 'image/gif',
    'jpg': 'image/jpeg',
    'ico': 'image/x-icon',
    'mp4': 'video/mp4',
    'avi': 'video/x-msvideo',
    'txt': 'text/plain; charset=utf-8',
}

MAX_WWW_DEPTH = 4   # www/ has few folders; deeper paths are not ours
WWW_NAME_CHARS = checks.NAME_CHARS + '.'
MAX_WWW_NAME = 64          # a path segment under www/ longer than this is no file of the page


_DAYS = ('Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun')
_MONTHS = ('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec')


def http_date(seconds):
    """IMF-fixdate, e.g. 'Wed, 01 Jan 2020 01:00:00 GMT'."""
    t = time.gmtime(seconds)
    return '%s, %02d %s %04d %02d:%02d:%02d GMT' % (
        _DAYS[t[6]], t[2], _MONTHS[t[1] - 1], t[0], t[3], t[4], t[5])


def content_type(name):
    return CONTENT_TYPES.get(name.rpartition('.')[2].lower(), 'application/octet-stream')


def file_response(req, path, headers=None, ranges=True, variant=''):
    """Answer a plain file with validators, 304 and single-range support.

    variant tells apart the ETags of answers made from the same file (gzipped.py).
    """
    st = files.stat(path)
    if st is None:
        raise HttpError(404, 'not found')
    size = files.stat_size(st)
    mtime = files.stat_mtime(st)
    etag = '"%x-%x%s"' % (mtime, size, variant)
    last_modified = http_date(mtime)
    headers = list(headers or ())
    headers.append(('ETag', etag))
    headers.append(('Last-Modified', last_modified))
    if ranges:
        headers.append(('Accept-Ranges', 'bytes'))
    ctype = content_type(path)
    if unchanged(req, etag, last_modified):
        return Response(b'', 304, None, headers)
    span = parse_range(req.headers.get('range'), size) if ranges else None
    status = 200
    offset, length = 0, size
    if span is not None:
        offset, length = span
        status = 206
        headers.append(('Content-Range', 'bytes %d-%d/%d' % (offset, offset + length - 1, size)))
    f = open(path, 'rb')
    return Response.file_part(f, offset, length, status, ctype, headers)


def is_www_segment(segment):
    return checks.only(segment, WWW_NAME_CHARS, MAX_WWW_NAME) and segment[0] != '.'


def serve_www(req):
    """/ is index.html; other names are plain files under the www root, or
    their NAME.gz as the firmware installs its page (gzipped.py)."""
    path = unquote_path(req.path)
    if path == '/':
        path = '/index.html'
    segments = path[1:].split('/')
    if len(segments) > MAX_WWW_DEPTH or not all(is_www_segment(s) for s in segments):
        raise HttpError(400, 'bad path')
    full = req.app.www
    last = len(segments) - 1
    for i, segment in enumerate(segments):
        full += '/' + segment
        kind = files.entry_kind(full)
        if kind is None and i == last and files.entry_kind(full + '.gz') == 'file':
            from . import gzipped
            return gzipped.serve(req, full + '.gz', segment)
        if kind is None:
            raise HttpError(404, 'not found')
        if kind == 'link':
            raise HttpError(400, 'links are not served')
    if files.entry_kind(full) != 'file':
        raise HttpError(404, 'not found')
    return file_response(req, full, [('Cache-Control', 'no-cache')], ranges=False)

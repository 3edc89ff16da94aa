"""A file as an answer: its type, ETag, Last-Modified, 304 and a single Range, in one place.

The file is opened here and streamed by the connection in chunks; the page
(handlers/static.py), recordings (handlers/records.py) and the firmware's
gzipped page files (gzipped.py) are all answered through file_response.
"""
from . import files
from .dates import http_date
from .http import HttpError, Response, parse_range, unchanged

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

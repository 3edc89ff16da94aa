"""The web page under www/ (index.html for /), or a page file the firmware installed
as X.gz (gzipped.py), answered by fileanswers.file_response."""
from .. import checks, files
from ..fileanswers import file_response
from ..http import HttpError, unquote_path

MAX_WWW_DEPTH = 4   # www/ has few folders; deeper paths are not ours
WWW_NAME_CHARS = checks.NAME_CHARS + '.'
MAX_WWW_NAME = 64          # a path segment under www/ longer than this is no file of the page


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
            from .. import gzipped   # the firmware's page only: its inflater costs no heap otherwise
            return gzipped.serve(req, full + '.gz', segment)
        if kind is None:
            raise HttpError(404, 'not found')
        if kind == 'link':
            raise HttpError(400, 'links are not served')
    if files.entry_kind(full) != 'file':
        raise HttpError(404, 'not found')
    return file_response(req, full, [('Cache-Control', 'no-cache')], ranges=False)

"""snapshot.sh: the camera's current frame from the firmware's grabber.

The grabber (imggrabber) writes a JPEG to its stdout, redirected into a
temp file; it runs beside the loop (child.Background: a subprocess on
CPython, a background shell on MicroPython), so other clients are served
meanwhile, and one silent for too long is killed. Missing, failing or
silent grabbers give the fallback image with X-Snapshot: fallback, never
an empty 200.
"""
import binascii
import os

from .. import checks, files
from ..child import Background
from ..http import Deferred, HttpError, Response, ok
from ..sdcard import RECORDING_NAME

GRABBER_TIMEOUT = 5.0      # seconds a grabber may take before the fallback is sent
GRABBER_POLL = 0.05        # how often a running grabber is checked
MAX_GRABBERS = 2           # grabbers at once: each holds a frame in the camera's RAM
JPEG_START = b'\xff\xd8'
FALLBACK_NAME = 'snapshot-fallback.jpg'
FIRMWARE_FALLBACK = 'fallback.jpg'   # in yi-hack/etc, where the firmware keeps its own
RESOLUTIONS = ('high', 'low')
BASE64_LINE = 57           # bytes a base64 line of 76 characters holds (busybox's width)
BASE64_LINES_AT_ONCE = 64  # lines encoded per piece sent
COPY_CHUNK = 4096          # bytes copied at a time into a file= snapshot
FILE_NAME_CHARS = checks.NAME_CHARS + '.'
FILE_NAME_MAX = 64


def grabber_argv(app, res, watermark):
    grabber = app.options.grabber or app.sd.yi_hack + '/bin/imggrabber'
    argv = [grabber, '-r', res]
    if watermark:
        argv.append('-w')
    model = app.sd.model_suffix()
    if model is not None:
        argv += ['-m', model]
    return argv


def jpeg_response(f, size, headers=None):
    return Response.file_part(f, 0, size, 200, 'image/jpeg',
                              [('Cache-Control', 'no-store')] + (headers or []))


def fallback_image(app, reason):
    """The fallback image as (open file, size), saying why in the log."""
    if app.log:
        app.log('snapshot: fallback image (%s)' % reason)
    # Ours beside the page; with the firmware's page in www/, the firmware's own.
    for path in (app.www + '/' + FALLBACK_NAME, app.sd.conf_path(FIRMWARE_FALLBACK)):
        st = files.stat(path)
        if st is not None:
            return open(path, 'rb'), files.stat_size(st)
    raise HttpError(503, 'no snapshot: %s, and no fallback image in %s' % (reason, app.www))


def base64_lines(f, size):
    """f's bytes in base64, 76 characters a line, as busybox's base64 writes them; closes f."""
    try:
        while True:
            chunk = f.read(BASE64_LINE * BASE64_LINES_AT_ONCE)
            if not chunk:
                return
            yield b''.join(binascii.b2a_base64(chunk[i:i + BASE64_LINE])
                           for i in range(0, len(chunk), BASE64_LINE))
    finally:
        f.close()


def base64_length(size):
    lines, rest = divmod(size, BASE64_LINE)
    return lines * (BASE64_LINE * 4 // 3 + 1) + ((rest + 2) // 3 * 4 + 1 if rest else 0)


def save_image(app, image, name, encode):
    """Write the image (base64 text when encode) to ROOT/record/NAME: a temp file renamed into place."""
    path = app.sd.record + '/' + name
    tmp = path + '.tmp'
    f, size = image
    try:
        files.remove_if_there(tmp)
        with open(tmp, 'wb') as out:
            if encode:
                for piece in base64_lines(f, size):
                    out.write(piece)
            else:
                piece = f.read(COPY_CHUNK)
                while piece:
                    out.write(piece)
                    piece = f.read(COPY_CHUNK)
        os.rename(tmp, path)
    except OSError as err:
        files.remove_if_there(tmp)
        raise HttpError(500, 'snapshot not saved: %s' % err)
    finally:
        f.close()


def answer_for(app, encode, name):
    """answer(image or None, why none): the image as JPEG or base64 text, or saved under name."""
    def answer(image, reason):
        headers = []
        if image is None:
            if name is not None:
                raise HttpError(503, 'no snapshot saved: ' + reason)
            image = fallback_image(app, reason)
            headers = [('X-Snapshot', 'fallback')]
        image[0].seek(0)   # open_jpeg has read the first bytes
        if name is not None:
            save_image(app, image, name, encode)
            return ok()
        if encode:
            return Response(base64_lines(image[0], image[1]), 200, 'image/jpeg;base64',
                            [('Cache-Control', 'no-store')] + headers, base64_length(image[1]))
        return jpeg_response(image[0], image[1], headers)
    return answer


def open_jpeg(path):
    """The grabbed image as (open file, size), or None if it is not a JPEG.

    The temp file is removed at once: the open file keeps its data until sent.
    """
    st = files.stat(path)
    if st is None or files.stat_size(st) < len(JPEG_START):
        return None
    f = open(path, 'rb')
    os.remove(path)
    if f.read(len(JPEG_START)) != JPEG_START:
        f.close()
        return None
    return f, files.stat_size(st)


class Grabbers:
    """What snapshot.sh keeps: how many grabbers run now (MAX_GRABBERS at most)."""

    def __init__(self, _app):
        self.running = 0


def grabbers(app):
    return app.state(__name__, Grabbers)


class Grab:
    """One run of the grabber into a temp file, beside the loop."""

    def __init__(self, req, argv, answer):
        app = self.app = req.app
        self.answer = answer
        grabbers(app).running += 1
        self.path = files.unique_temp_path(app.tmp_dir, 'snapshot', '.jpg')
        self.deferred = Deferred(req, on_cancel=self.finish)
        self.run = Background(app.loop, argv, GRABBER_TIMEOUT, self.deferred.step(self.ended), app.tmp_dir,
                              self.path, GRABBER_POLL)

    def ended(self, status):
        image = None
        try:
            if status is None:
                reason = 'grabber silent for %d s' % GRABBER_TIMEOUT
            elif status != 0:
                reason = 'grabber failed with status %d' % status
            else:
                image = open_jpeg(self.path)
                reason = 'grabber wrote no JPEG'
        finally:
            self.finish()
        self.deferred.resolve(self.answer(image, reason))

    def finish(self):
        """Done, or the client went away: stop the grabber, drop its file."""
        self.run.cancel()
        grabbers(self.app).running -= 1
        files.remove_if_there(self.path)


def file_name(req):
    """file=NAME: a plain name for ROOT/record/NAME (not the recording's, not a link), or None."""
    name = req.param('file')
    if name is None:
        return None
    if name.startswith('.') or not checks.only(name, FILE_NAME_CHARS, FILE_NAME_MAX) or \
            name == RECORDING_NAME or name.endswith('.tmp'):
        raise HttpError(400, 'file must be 1 to %d letters, digits, _, - or . (not first)' % FILE_NAME_MAX)
    if files.entry_kind(req.app.sd.record + '/' + name) not in (None, 'file'):
        raise HttpError(400, 'record/%s is not a plain file' % name)
    return name


def snapshot(req):
    """GET snapshot.sh?res=high|low&watermark=yes|no&base64=yes|no&file=NAME"""
    res = req.choice('res', RESOLUTIONS, 'high')
    watermark = req.choice('watermark', ('yes', 'no'), 'no')
    encode = req.choice('base64', ('yes', 'no'), 'no') == 'yes'
    app = req.app
    answer = answer_for(app, encode, file_name(req))
    argv = grabber_argv(app, res, watermark == 'yes')
    if files.stat(argv[0]) is None:
        return answer(None, argv[0] + ' is missing')
    if grabbers(app).running >= MAX_GRABBERS:
        return answer(None, '%d grabbers already running' % MAX_GRABBERS)
    return Grab(req, argv, answer).deferred

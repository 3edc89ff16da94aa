"""snapshot.sh: the camera's current frame from the firmware's grabber.

The grabber (imggrabber) writes a JPEG to its stdout, redirected into a
temp file; it runs beside the loop (child.Background: a subprocess on
CPython, a background shell on MicroPython), so other clients are served
meanwhile, and one silent for too long is killed. Missing, failing or
silent grabbers give the fallback image with X-Snapshot: fallback, never
an empty 200.
"""
import os

from .. import files
from ..child import Background
from ..http import Deferred, HttpError, Response

GRABBER_TIMEOUT = 5.0      # seconds a grabber may take before the fallback is sent
GRABBER_POLL = 0.05        # how often a running grabber is checked
MAX_GRABBERS = 2           # grabbers at once: each holds a frame in the camera's RAM
JPEG_START = b'\xff\xd8'
FALLBACK_NAME = 'snapshot-fallback.jpg'
RESOLUTIONS = ('high', 'low')


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


def fallback(app, reason):
    """The fallback image, saying why in the log and in X-Snapshot."""
    if app.log:
        app.log('snapshot: fallback image (%s)' % reason)
    path = app.www + '/' + FALLBACK_NAME
    st = files.stat(path)
    if st is None:
        raise HttpError(503, 'no snapshot: %s, and %s is missing' % (reason, path))
    return jpeg_response(open(path, 'rb'), files.stat_size(st), [('X-Snapshot', 'fallback')])


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


class Grab:
    """One run of the grabber into a temp file, beside the loop."""

    def __init__(self, app, argv):
        self.app = app
        app.grabbers += 1
        app.grab_count += 1
        self.path = files.temp_path(app.tmp_dir, 'snapshot', '%d.jpg' % app.grab_count)
        self.deferred = Deferred(on_cancel=self.finish)
        self.run = Background(app.loop, argv, GRABBER_TIMEOUT, self.ended, app.tmp_dir,
                              self.path, GRABBER_POLL)

    def ended(self, status):
        image = None
        if status is None:
            reason = 'grabber silent for %d s' % GRABBER_TIMEOUT
        elif status != 0:
            reason = 'grabber failed with status %d' % status
        else:
            image = open_jpeg(self.path)
            reason = 'grabber wrote no JPEG'
        self.finish()
        if image is None:
            self.deferred.resolve(fallback(self.app, reason))
        else:
            self.deferred.resolve(jpeg_response(image[0], image[1]))

    def finish(self):
        """Done, or the client went away: stop the grabber, drop its file."""
        self.run.cancel()
        self.app.grabbers -= 1
        files.remove_if_there(self.path)


def snapshot(req):
    """GET snapshot.sh?res=high|low&watermark=yes|no"""
    res = req.choice('res', RESOLUTIONS, 'high')
    watermark = req.choice('watermark', ('yes', 'no'), 'no')
    app = req.app
    argv = grabber_argv(app, res, watermark == 'yes')
    if files.stat(argv[0]) is None:
        return fallback(app, argv[0] + ' is missing')
    if app.grabbers >= MAX_GRABBERS:
        return fallback(app, '%d grabbers already running' % MAX_GRABBERS)
    return Grab(app, argv).deferred

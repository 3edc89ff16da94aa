"""Motion events and recorded videos: list, delete, fetch, wait for the next one.

eventsdir.sh, eventsfile.sh, eventsdirdel.sh, eventsfiledel.sh,
getlastrecordedvideo.sh and /record/DIR/FILE of docs/API.md; listings
come from listings.py, kept until the card changes. Only names that follow the record
rules of sdcard.py are listed, deleted or served; listing reads directory
entries, never file contents. Long work (deleting thousands of files,
waiting for the next video) runs on loop timers, so other clients are
answered meanwhile.
"""
import binascii
import os
import time

from .. import checks, compat, files
from ..fileanswers import file_response
from ..http import (Deferred, HttpError, Response, ok, text_response, unchanged,
                    unquote_path)
from ..sdcard import (TIMELAPSE_DIR, hour_dir_date, hour_dir_hour, hour_dir_utc_seconds, is_video, shown,
                      thumbnail_name, video_minute)

DIR_ENTRIES_PER_PIECE = 32   # eventsdir entries sent per piece (~2 KiB): few sends, small buffers
REMOVALS_PER_TURN = 64       # files deleted per loop turn, so a big delete never stalls other clients
LONGPOLL_INTERVAL = 0.5      # seconds between checks for the next video (the spec's wait is coarse)
LONGPOLL_TIMEOUT = 80.0      # seconds a client waits at most for the next video (the firmware's cap)
LONGPOLL_MAX = 8             # clients waiting at once: a quarter of the connections, the rest stay free
LONGPOLL_PER_PEER = 4        # of them from one address
MAX_OLDNESS = 999999999      # a larger oldness is not a number a client means
MAX_HOST_LENGTH = 255        # a DNS name with a port fits; longer Host headers are refused
HOST_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]'
VIDEO_TYPES = ('1', '2', '3', '4')
DISPOSITIONS = {'3': 'inline', '4': 'attachment'}

DIR_ENTRY = '{"datetime":"Date: %s Time: %s:00","dirname":"%s"}'
FILE_ENTRY = '{"time":"Time: %s:%s","filename":"%s","thumbfilename":"%s"}'
EVENTS_DIR_HEAD = b'{"records":['
EVENTS_DIR_TAIL = b']}'


def required(req, name):
    value = req.param(name)
    if not value:
        raise HttpError(400, 'missing parameter: ' + name)
    return value


# -- listing ---------------------------------------------------------------

def events_time(req):
    """EVENTS_TIME of system.conf: 'local' when the camera names hours in local time."""
    return req.app.system_conf.current().get('EVENTS_TIME', 'autodetect')


def shown_time(dirname, minute, mode):
    """(YYYY-MM-DD, HH, MM) the page shows for a minute of an hour directory.

    As the firmware's scripts: with EVENTS_TIME=local the name is local
    time and shown as it is; otherwise (gmt, autodetect) it is UTC and shown
    in the camera's time zone (TZ, from system.conf's TIMEZONE).
    """
    if mode == 'local':
        return hour_dir_date(dirname), hour_dir_hour(dirname), minute
    t = time.localtime(hour_dir_utc_seconds(dirname) + 60 * int(minute))
    return '%04d-%02d-%02d' % (t[0], t[1], t[2]), '%02d' % t[3], '%02d' % t[4]


def dir_entry(dirname, mode):
    day, hour, _ = shown_time(dirname, '00', mode)
    return DIR_ENTRY % (day, hour, dirname)


# Every hour directory name has the same length, so every entry has too.
DIR_ENTRY_LENGTH = len(dir_entry('2020Y01M01D01H', 'local'))


def listing_answer(req, body, length, etag):
    """A listing with its ETag: 304 when the client has it, else 200 (revalidated each time)."""
    headers = [('ETag', etag), ('Cache-Control', 'no-cache')]
    if unchanged(req, etag):
        return Response(b'', 304, None, headers)
    return Response(body, headers=headers, length=length)


def events_dir(req):
    """eventsdir.sh: every hour directory, newest first, streamed piece by piece.

    Only the compact name list is held (HourDirs); the JSON text is
    made a piece at a time while the socket takes it, its length known up
    front since every entry has the same length.
    """
    dirs = req.app.listings.hours()
    mode = events_time(req)
    if dirs.answer is None or dirs.answer[0] != mode:
        dirs.answer = (mode, content_etag(repr(dirs.months) + repr(dirs.keys) + mode))
    length = len(EVENTS_DIR_HEAD) + len(EVENTS_DIR_TAIL)
    if dirs:
        length += len(dirs) * (DIR_ENTRY_LENGTH + 1) - 1
    return listing_answer(req, events_dir_pieces(dirs, mode), length, dirs.answer[1])


def events_dir_pieces(dirs, mode):
    yield EVENTS_DIR_HEAD
    for start in range(0, len(dirs), DIR_ENTRIES_PER_PIECE):
        end = min(start + DIR_ENTRIES_PER_PIECE, len(dirs))
        piece = ','.join([dir_entry(dirs.name(i), mode) for i in range(start, end)])
        yield (',' + piece if start else piece).encode()
    yield EVENTS_DIR_TAIL


def events_file(req):
    """eventsfile.sh?dirname=DIR: the videos of one hour directory, newest first."""
    dirname = required(req, 'dirname')
    contents = req.app.listings.hour(existing_hour_dir(req, dirname))
    mode = events_time(req)
    if contents.answer is None or contents.answer[0] != mode:
        body = events_file_body(dirname, contents, mode)
        contents.answer = (mode, body, content_etag(body))
    body = contents.answer[1]
    return listing_answer(req, body, len(body), contents.answer[2])


# Kept listings are looked in first: on MicroPython, without lstat, telling
# a plain file or directory from a link otherwise lists its whole directory.

def existing_hour_dir(req, dirname):
    """The path of a plain hour directory (400 for a name that is not one, 404 if absent)."""
    path = req.app.sd.hour_dir(dirname)
    if dirname in req.app.listings.hours():
        return path
    return req.app.sd.existing_hour_dir(dirname)


def existing_record_file(req, dirname, filename):
    """The path of a plain video or thumbnail (400 for names that are not, 404 if absent)."""
    path = req.app.sd.record_file(dirname, filename)
    listings = req.app.listings
    if dirname in listings.hours():
        contents = listings.hour(req.app.sd.record + '/' + dirname)
        if filename in contents.thumbs or filename in contents.videos:
            return path
    return req.app.sd.existing_record_file(dirname, filename)


def serve_record(req):
    """/record/DIR/FILE and /record/timelapse/FILE, only names that follow their rules, no links."""
    parts = unquote_path(req.path[len(req.route.path):]).split('/')
    if len(parts) != 2:
        raise HttpError(400, 'a record is /record/DIR/FILE')
    if parts[0] == TIMELAPSE_DIR:
        return file_response(req, req.app.sd.timelapse_file(parts[1]))
    return file_response(req, existing_record_file(req, parts[0], parts[1]))


def events_file_body(dirname, contents, mode):
    entries = []
    for video in contents.videos:
        thumb = thumbnail_name(video)
        _, hour, minute = shown_time(dirname, video_minute(video), mode)
        entries.append(FILE_ENTRY % (hour, minute, video, thumb if thumb in contents.thumbs else ''))
    day = shown_time(dirname, '00', mode)[0]
    return ('{"error":"false","date":"%s","records":[%s]}' % (day, ','.join(entries))).encode()


def content_etag(content):
    """A strong validator from the answer's own text (crc32: cheap on both runtimes)."""
    if isinstance(content, str):
        content = content.encode()
    return '"%x-%x"' % (binascii.crc32(content) & 0xffffffff, len(content))


# -- deleting --------------------------------------------------------------

def events_dir_delete(req):
    """eventsdirdel.sh?dir=all|DIR: remove every hour directory, or one."""
    value = required(req, 'dir')
    sd = req.app.sd
    if value == 'all':
        paths = (sd.record + '/' + name for name in req.app.listings.hours())
        req.app.listings.forget()
    else:
        paths = iter([sd.existing_hour_dir(value)])
    return Removal(req, paths).start()


def events_file_delete(req):
    """eventsfiledel.sh?file=DIR/VIDEO.mp4: remove the video and its thumbnail."""
    dirname, _, filename = required(req, 'file').partition('/')
    if not is_video(filename):
        raise HttpError(400, 'not a video name: ' + shown(filename))
    sd = req.app.sd
    path = sd.existing_record_file(dirname, filename)
    thumb = sd.record_file(dirname, thumbnail_name(filename))
    req.app.listings.forget(sd.record + '/' + dirname)
    os.remove(path)
    if files.entry_kind(thumb) == 'file':
        os.remove(thumb)
    return ok()


def removal_steps(path):
    """Delete a directory one entry per step; links inside are removed, never followed.

    An entry that is already gone (another delete got there first) is fine,
    the directory itself included.
    """
    try:
        entries = list(files.list_entries(path))
    except OSError as exc:
        if compat.errno_of(exc) != compat.ENOENT:
            raise
        return
    for name, kind in entries:
        child = path + '/' + name
        try:
            if kind == 'dir':
                files.remove_tree(child)
            else:
                os.remove(child)
        except OSError as exc:
            if compat.errno_of(exc) != compat.ENOENT:
                raise
        yield
    try:
        os.rmdir(path)
    except OSError as exc:
        if compat.errno_of(exc) != compat.ENOENT:
            raise


class Removal:
    """Deletes directories (an iterator of paths) a batch of files per loop turn, then answers."""

    def __init__(self, req, paths):
        self.req = req
        self.paths = paths
        self.steps = None
        self.deferred = None

    def start(self):
        """The answer right away when the work is small, else a Deferred."""
        result = self.run_batch()
        if result is not None:
            return result
        self.deferred = Deferred(self.req)
        self.deferred.later(0, self.next_turn)
        return self.deferred

    def next_turn(self):
        result = self.run_batch()
        if result is None:
            self.deferred.later(0, self.next_turn)
        else:
            self.deferred.resolve(result)

    def run_batch(self):
        """Up to REMOVALS_PER_TURN steps; the answer once all is done, else None."""
        try:
            for _ in range(REMOVALS_PER_TURN):
                if self.steps is None:
                    path = next(self.paths, None)
                    if path is None:
                        return ok()
                    self.steps = removal_steps(path)
                if next(self.steps, StopIteration) is StopIteration:
                    self.steps = None
        except OSError as exc:
            raise HttpError(500, 'could not delete: %s' % exc)
        return None


# -- the last recorded video -------------------------------------------------

def last_recorded_video(req):
    """getlastrecordedvideo.sh?oldness=N&type=T (docs/API.md)."""
    oldness = parse_oldness(req.param('oldness', '0'))
    kind = req.choice('type', VIDEO_TYPES, '1')
    host = checked_host(req) if kind == '2' else None
    sd = req.app.sd
    if oldness < 0 and not req.waited and sd.is_recording():
        return next_video_watch(req).wait(req)
    found = newest_videos(req.app)
    if found is None:
        raise HttpError(404, 'no recorded video')
    dirname, videos = found
    video = videos[min(max(oldness, 1), len(videos)) - 1]
    # Types 1 and 2 end with a line break, as the firmware's echo does: `read` needs it.
    if kind == '1':
        return text_response('%s/%s\n' % (dirname, video))
    if kind == '2':
        return text_response('http://%s/record/%s/%s\n' % (host, dirname, video))
    disposition = '%s; filename="%s"' % (DISPOSITIONS[kind], video)
    path = sd.record + '/' + dirname + '/' + video
    return file_response(req, path, [('Content-Disposition', disposition)])


def parse_oldness(text):
    """oldness=N, a whole number; negative asks for the next video (long-poll)."""
    negative = text.startswith('-')
    value = checks.number(text[1:] if negative else text, 0, MAX_OLDNESS)
    if value is None:
        raise HttpError(400, 'oldness must be a whole number')
    return -value if negative else value


def checked_host(req):
    """The Host header the client used, if it is a plain host[:port]."""
    host = req.host()
    if not checks.only(host, HOST_CHARS, MAX_HOST_LENGTH):
        raise HttpError(400, 'type=2 needs the Host header the client used')
    return host


def newest_videos(app):
    """(hour directory, its videos newest first) for the newest one holding a video, or None."""
    for dirname in app.listings.hours():
        videos = app.listings.hour(app.sd.record + '/' + dirname).videos
        if videos:
            return dirname, videos
    return None


def newest_state(app):
    """What the long-poll compares: the newest hour directory and its newest video."""
    dirs = app.listings.hours()
    if not dirs:
        return None, None
    newest = dirs.name(0)
    videos = app.listings.hour(app.sd.record + '/' + newest).videos
    return newest, videos[0] if videos else None


def next_video_watch(req):
    """The one watch that all long-poll waiters share."""
    return req.app.state(__name__, NextVideoWatch)


class Waiter:
    """One client waiting for the next video."""

    def __init__(self, req, deadline):
        self.req = req
        self.deadline = deadline
        self.deferred = Deferred(req)


class NextVideoWatch:
    """Clients waiting for the next video (oldness < 0): one timer checks for all.

    The wait ends at a new video in the newest hour directory, a new hour
    directory, or the timeout; each waiter is then answered as for
    oldness=0 by running its request again through the app (so errors are
    mapped in the one usual place). A client that leaves is just dropped.
    """

    def __init__(self, app):
        self.app = app
        self.loop = app.loop
        self.timeout = app.options.longpoll_timeout or LONGPOLL_TIMEOUT
        self.waiters = []
        self.baseline = None
        self.timer = None

    def wait(self, req):
        mine = [w for w in self.waiters if w.req.peer == req.peer]
        if len(self.waiters) >= LONGPOLL_MAX or len(mine) >= LONGPOLL_PER_PEER:
            raise HttpError(503, 'too many clients wait for the next video: try again later',
                            [('Retry-After', '10')])
        state = newest_state(self.app)
        if self.waiters and state != self.baseline:
            self.release(list(self.waiters))
        if not self.waiters:
            self.baseline = state
            self.timer = self.loop.call_later(LONGPOLL_INTERVAL, self.check)
        waiter = Waiter(req, compat.monotonic() + self.timeout)
        waiter.deferred.on_cancel = lambda: self.drop(waiter)
        self.waiters.append(waiter)
        return waiter.deferred

    def check(self):
        self.timer = None
        try:
            changed = newest_state(self.app) != self.baseline
        except Exception as exc:   # every waiter is answered with what it maps to
            waiters, self.waiters = self.waiters, []
            for waiter in waiters:
                waiter.deferred.fail(exc)
            return
        if changed:
            due = list(self.waiters)
        else:
            now = compat.monotonic()
            due = [w for w in self.waiters if w.deadline <= now]
        self.release(due)
        if self.waiters:
            self.timer = self.loop.call_later(LONGPOLL_INTERVAL, self.check)

    def release(self, waiters):
        for waiter in waiters:
            self.waiters.remove(waiter)
            waiter.req.waited = True
            waiter.deferred.resolve(self.app.handle(waiter.req))
        self.stop_if_idle()

    def drop(self, waiter):
        if waiter in self.waiters:
            self.waiters.remove(waiter)
        self.stop_if_idle()

    def stop_if_idle(self):
        if not self.waiters and self.timer is not None:
            self.timer.cancel()
            self.timer = None

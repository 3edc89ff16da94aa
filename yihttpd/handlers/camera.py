"""Camera control: camera_settings.sh, ptz.sh, preset.sh (docs/API.md, docs/IPC.md).

Every command goes through req.app.ipc (a transport of yihttpd.transports). Waits
between commands are timers on the loop, so other clients are served while
the camera moves or takes its settings.
"""
from .. import checks, conf, ipc
from ..http import Deferred, HttpError, failure_response, ok
from ..transports import IpcUnavailable

# The firmware's own camera_settings.sh spaces its commands about 0.5 s;
# the vendor program is known to take them at that pace.
SETTING_SPACING = 0.5
PTZ_DEFAULT_TIME = '0.3'
PTZ_MAX_TIME = 10.0        # seconds of movement at most (API.md)
PTZ_STOP_RETRY = 0.5       # seconds between tries of a stop the camera could not take,
PTZ_STOP_TRIES = 20        # for this many tries (10 s)
TIME_TEXT_MAX = 8          # characters of a TIME value, e.g. "10.00000"
PRESET_COUNT = 16          # presets 0-15
MAX_SENDING = 4            # setting sequences under way at once: a flood of requests (each may
                           # leave at once) must not pile timers on a small heap nor flood the camera
CAMERA_CONF = 'camera.conf'

YES_NO = ('yes', 'no')

# query name, camera.conf key, accepted values, message builder; in the
# order the commands are sent.
SETTINGS = (
    ('switch_on', 'SWITCH_ON', YES_NO, lambda v: ipc.switch(v == 'yes')),
    ('save_video_on_motion', 'SAVE_VIDEO_ON_MOTION', YES_NO, lambda v: ipc.save_on_motion(v == 'yes')),
    ('sensitivity', 'SENSITIVITY', ('low', 'medium', 'high'), ipc.sensitivity),
    ('led', 'LED', YES_NO, lambda v: ipc.led(v == 'yes')),
    ('ir', 'IR', YES_NO, lambda v: ipc.ir(v == 'yes')),
    ('rotate', 'ROTATE', YES_NO, lambda v: ipc.rotate(v == 'yes')),
)


def check_not_busy(app):
    """503 while MAX_SENDING setting sequences are under way (checked before anything changes)."""
    if app.settings_sending >= MAX_SENDING:
        raise HttpError(503, 'busy: %d camera setting changes under way, try again' % MAX_SENDING,
                        [('Retry-After', '2')])


def send_spaced(app, messages, spacing, on_done):
    """Send messages in order, spacing seconds apart on the loop's timer.

    on_done(None) once the last is sent, or on_done(IpcUnavailable) at the
    first one the camera does not take (the rest are dropped). Counted in
    app.settings_sending until then.
    """
    messages = list(messages)
    app.settings_sending += 1

    def finish(err):
        app.settings_sending -= 1
        on_done(err)

    def step():
        try:
            app.ipc.send(messages.pop(0))
        except IpcUnavailable as err:
            finish(err)
            return
        if messages:
            app.loop.call_later(spacing, step)
        else:
            finish(None)

    if messages:
        step()
    else:
        finish(None)


def answer_when_sent(app, messages):
    """A Deferred that answers ok once every setting is sent, 503 if one is refused."""
    deferred = Deferred()

    def done(err):
        deferred.resolve(err.response() if err else ok())

    send_spaced(app, messages, SETTING_SPACING, done)
    return deferred


def chosen_settings(req):
    """[(SETTINGS row, value)] of the given settings; HttpError 400 if any is invalid."""
    chosen = []
    for row in SETTINGS:
        if req.param(row[0]) is not None:
            chosen.append((row, req.choice(row[0], row[2])))
    return chosen


def save_settings(path, changes):
    """Write the settings to camera.conf atomically.

    Keys the file lacks are appended first (one more atomic write), then
    conf.update_conf sets the others in place.
    """
    present = conf.read_conf(path)
    missing = [key for key in changes if key not in present]
    if missing:
        try:
            lines = conf.read_lines(path)
        except OSError:
            lines = []
        if lines and lines[-1] == '':
            lines.pop()
        lines += [key + '=' + changes[key] for key in missing] + ['']
        conf.atomic_write(path, '\n'.join(lines).encode())
    conf.update_conf(path, changes)


def camera_settings(req):
    """GET camera_settings.sh?switch_on=yes&...: save in camera.conf, then send."""
    chosen = chosen_settings(req)
    if not chosen:
        return ok()
    check_not_busy(req.app)
    path = req.app.sd.conf_path(CAMERA_CONF)
    try:
        save_settings(path, dict((row[1], value) for row, value in chosen))
    except OSError as err:
        raise HttpError(500, 'cannot save %s: %s' % (CAMERA_CONF, err))
    return answer_when_sent(req.app, [row[3](value) for row, value in chosen])


def apply_camera_settings(app, on_done=None):
    """Send the settings camera.conf holds (after load.sh replaced the confs).

    Values that are not valid are skipped. on_done(None or IpcUnavailable)
    runs when the last command is sent; returns the number of commands.
    """
    values = conf.read_conf(app.sd.conf_path(CAMERA_CONF))
    messages = [row[3](values[row[1]]) for row in SETTINGS if values.get(row[1]) in row[2]]

    def done(err):
        if err is not None and app.log:
            app.log('camera settings not applied: %s' % err.message)
        if on_done is not None:
            on_done(err)

    send_spaced(app, messages, SETTING_SPACING, done)
    return len(messages)


def parse_seconds(text):
    """TIME as a float: digits with at most one '.', more than 0, at most PTZ_MAX_TIME."""
    whole, dot, fraction = text.partition('.')
    if len(text) > TIME_TEXT_MAX or not checks.only(whole + fraction, checks.DIGITS, TIME_TEXT_MAX):
        return None
    seconds = float(text if whole else '0' + text)
    if seconds <= 0 or seconds > PTZ_MAX_TIME:
        return None
    return seconds


class PtzMove:
    """One manual move: the move command now, the stop command after TIME.

    The answer waits for the stop. A client that goes away does not cancel
    the stop: the camera must never be left moving.
    """

    def __init__(self, app, direction, seconds):
        self.app = app
        self.direction = direction
        self.seconds = seconds
        self.deferred = Deferred()
        self.timer = None

    def start(self):
        self.app.ipc.send(ipc.ptz_move(self.direction))
        self.app.ptz_move = self
        self.timer = self.app.loop.call_later(self.seconds, self.stop)
        return self.deferred

    def stop(self, interrupted=False):
        """Send the stop (now, if a newer move interrupts this one) and answer."""
        self.timer.cancel()
        if self.app.ptz_move is self:
            self.app.ptz_move = None
        self.send_stop(interrupted, PTZ_STOP_TRIES)

    def send_stop(self, interrupted, tries):
        """A stop the camera cannot take now is sent again until it goes (the
        client is told at once): the camera must never be left moving.
        A newer move sends its own stop, so a retry then is dropped."""
        if tries < PTZ_STOP_TRIES and self.app.ptz_move is not None:
            return
        try:
            self.app.ipc.send(ipc.ptz_stop())
        except Exception as err:
            if tries > 1:
                self.app.loop.call_later(PTZ_STOP_RETRY, self.send_stop, interrupted, tries - 1)
            elif self.app.log is not None:
                self.app.log('ptz: the stop could not be sent: %r' % err)
            self.deferred.resolve(err.response() if isinstance(err, HttpError) else failure_response(err))
            return
        self.deferred.resolve(ok({'interrupted': 'true'} if interrupted else None))


def ptz(req):
    """GET ptz.sh?dir=left&time=0.3"""
    direction = req.choice('dir', ipc.PTZ_DIRECTIONS)
    seconds = parse_seconds(req.param('time', PTZ_DEFAULT_TIME))
    if seconds is None:
        raise HttpError(400, 'time must be a number of seconds, more than 0, at most %d' % PTZ_MAX_TIME)
    running = req.app.ptz_move
    if running is not None:
        running.stop(interrupted=True)
    return PtzMove(req.app, direction, seconds).start()


def preset(req):
    """GET preset.sh?num=N (action=go_preset, which existing clients send, is the only action)."""
    req.choice('action', ('go_preset',), 'go_preset')
    number = req.number('num', 0, PRESET_COUNT - 1)
    req.app.ipc.send(ipc.go_preset(number))
    return ok()

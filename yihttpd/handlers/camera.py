"""Camera settings: camera_settings.sh (docs/API.md, docs/IPC.md).

Every command goes through req.app.ipc (a transport of yihttpd.transports). Waits
between commands are timers on the loop, so other clients are served while
the camera moves or takes its settings.
"""
from .. import checks, conf, ipc
from ..http import Deferred, HttpError, ok
from ..transports import IpcUnavailable

# The firmware's own camera_settings.sh spaces its commands about 0.5 s;
# the vendor program is known to take them at that pace.
SETTING_SPACING = 0.5
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

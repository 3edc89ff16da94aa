"""Camera settings: camera_settings.sh (docs/API.md, docs/IPC.md).

The 15 keys of the firmware's camera_settings.sh, with the bytes its
ipc_cmd sends for each and the AI rules it applies by home version. Every
command goes through req.app.ipc (a transport of yihttpd.transports); waits
between commands are timers on the loop, so other clients are served while
the camera takes its settings.
"""
from .. import conf, ipc
from ..device import homever
from ..http import Deferred, HttpError, unquote, ok

# The firmware's own camera_settings.sh spaces its keys 0.5 s;
# the vendor program is known to take them at that pace.
SETTING_SPACING = 0.5
SWITCH_OFF_WAIT = 1.0      # camera off, then 1 s, then the motion event is ended (ipc_cmd -t off; -T)
CRUISE_ON_WAIT = 0.5       # cruise on, then 0.5 s, then ipc_cmd -C MODE (on again, 0.1 s, the mode)
CRUISE_MODE_WAIT = 0.1
MAX_SENDING = 4            # setting sequences under way at once: a flood of requests (each may
                           # leave at once) must not pile timers on a small heap nor flood the camera
CAMERA_CONF = 'camera.conf'
AI_HOME_VERSIONS = ('11', '12')   # home versions whose motion detection is one AI switch

YES_NO = ('yes', 'no')
CRUISE = ('no', 'presets', '360')


def one(message):
    return [(0, message)]


def yes_no(builder):
    return lambda value: one(builder(value == 'yes'))


def switch_steps(value):
    if value == 'yes':
        return one(ipc.switch(True))
    return [(0, ipc.switch(False)), (SWITCH_OFF_WAIT, ipc.motion_stop_event())]


def cruise_steps(value):
    if value == 'no':
        return one(ipc.cruise(False))
    return [(0, ipc.cruise(True)), (CRUISE_ON_WAIT, ipc.cruise(True)),
            (CRUISE_MODE_WAIT, ipc.cruise_mode(value))]


def no_message(value):
    """Keys the AI rules send after the others (ai_messages)."""
    return []


# query name: (camera.conf key, accepted values, [(seconds to wait first, message)] for a value)
SETTINGS = {
    'switch_on': ('SWITCH_ON', YES_NO, switch_steps),
    'save_video_on_motion': ('SAVE_VIDEO_ON_MOTION', YES_NO, yes_no(ipc.save_on_motion)),
    'motion_detection': ('MOTION_DETECTION', YES_NO, no_message),
    'sensitivity': ('SENSITIVITY', ('low', 'medium', 'high'), lambda v: one(ipc.sensitivity(v))),
    'ai_human_detection': ('AI_HUMAN_DETECTION', YES_NO, no_message),
    'ai_vehicle_detection': ('AI_VEHICLE_DETECTION', YES_NO, no_message),
    'ai_animal_detection': ('AI_ANIMAL_DETECTION', YES_NO, no_message),
    'face_detection': ('FACE_DETECTION', YES_NO, yes_no(ipc.face_detection)),
    'motion_tracking': ('MOTION_TRACKING', YES_NO, yes_no(ipc.motion_tracking)),
    'sound_detection': ('SOUND_DETECTION', YES_NO, yes_no(ipc.sound_detection)),
    'sound_sensitivity': ('SOUND_SENSITIVITY', ipc.SOUND_LEVELS, lambda v: one(ipc.sound_sensitivity(v))),
    'led': ('LED', YES_NO, yes_no(ipc.led)),
    'ir': ('IR', YES_NO, yes_no(ipc.ir)),
    'rotate': ('ROTATE', YES_NO, yes_no(ipc.rotate)),
    'cruise': ('CRUISE', CRUISE, cruise_steps),
}
# The order load.sh's re-apply sends them in (the firmware page's order, switch_on last).
ORDER = ('save_video_on_motion', 'motion_detection', 'sensitivity', 'ai_human_detection',
         'ai_vehicle_detection', 'ai_animal_detection', 'face_detection', 'motion_tracking',
         'sound_detection', 'sound_sensitivity', 'led', 'ir', 'rotate', 'cruise', 'switch_on')
AI_KEYS = ('motion_detection', 'ai_human_detection', 'ai_vehicle_detection', 'ai_animal_detection')


def check_not_busy(app):
    """503 while MAX_SENDING setting sequences are under way (checked before anything changes)."""
    if app.settings_sending >= MAX_SENDING:
        raise HttpError(503, 'busy: %d camera setting changes under way, try again' % MAX_SENDING,
                        [('Retry-After', '2')])


def send_timed(app, steps, on_done):
    """Send [(seconds to wait first, message)] in order on the loop's timer.

    on_done(None) once the last is sent, or on_done(error) at the first one
    that fails (IpcUnavailable: the camera does not take it; anything else
    the transport raised); the rest are dropped. Counted in
    app.settings_sending until then, whatever on_done does.
    """
    steps = list(steps)
    app.settings_sending += 1

    def step():
        err = None
        try:
            while steps:
                app.ipc.send(steps.pop(0)[1])
                if steps and steps[0][0] > 0:
                    app.loop.call_later(steps[0][0], step)
                    return
        except Exception as exc:
            err = exc
        app.settings_sending -= 1
        on_done(err)

    if steps and steps[0][0] > 0:
        app.loop.call_later(steps[0][0], step)
    else:
        step()


def home_version(app):
    """The first two characters of the vendor firmware's version (/home/homever), '' if none."""
    return homever(app.options.homever)[:2]


def ai_messages(hv, values):
    """The firmware's closing AI rules, from camera.conf's values (anything but 'no' is on)."""
    on = lambda key: values.get(key) != 'no'
    if hv not in AI_HOME_VERSIONS:
        return [ipc.ai_human(on('AI_HUMAN_DETECTION'))]
    if on('MOTION_DETECTION'):
        return [ipc.ai_motion(True)]
    return [ipc.ai_motion(False), ipc.ai_human(on('AI_HUMAN_DETECTION')),
            ipc.ai_vehicle(on('AI_VEHICLE_DETECTION')), ipc.ai_animal(on('AI_ANIMAL_DETECTION'))]


def timed_steps(chosen, tail):
    """Each key's steps, SETTING_SPACING after the previous key that sent something, then tail."""
    steps = []
    wait = 0
    for name, value in chosen:
        for delay, message in SETTINGS[name][2](value):
            steps.append((wait + delay, message))
            wait = 0
        if steps:
            wait = SETTING_SPACING
    for message in tail:
        steps.append((wait, message))
        wait = 0
    return steps


def answer_when_sent(req, steps):
    """A Deferred that answers ok once every setting is sent, 503 if one is refused."""
    deferred = Deferred(req)

    def sent(err):
        if err is not None:
            raise err
        deferred.resolve(ok())

    send_timed(req.app, steps, deferred.step(sent))
    return deferred


def chosen_settings(req):
    """[(query name, value)] in the order the query names them, as the firmware
    takes them; HttpError 400 if any is invalid. A name given twice: the first."""
    chosen = []
    for pair in req.query_string.split('&'):
        name = unquote(pair.partition('=')[0])
        if name in SETTINGS and name not in [n for n, _ in chosen]:
            chosen.append((name, req.choice(name, SETTINGS[name][1])))
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
    """GET camera_settings.sh?switch_on=yes&...: save in camera.conf, then send.

    The AI rules close the sequence when the query names one of AI_KEYS.
    """
    app = req.app
    chosen = chosen_settings(req)
    if not chosen:
        return ok()
    check_not_busy(app)
    path = app.sd.conf_path(CAMERA_CONF)
    try:
        save_settings(path, dict((SETTINGS[name][0], value) for name, value in chosen))
    except OSError as err:
        raise HttpError(500, 'cannot save %s: %s' % (CAMERA_CONF, err))
    tail = []
    if [name for name, _ in chosen if name in AI_KEYS]:
        tail = ai_messages(home_version(app), conf.read_conf(path))
    return answer_when_sent(req, timed_steps(chosen, tail))


def apply_camera_settings(app, on_done=None):
    """Send the settings camera.conf holds (after load.sh replaced the confs), then the AI rules.

    Values that are not valid are skipped. on_done(None or the error)
    runs when the last command is sent; returns the number of commands.
    """
    values = conf.read_conf(app.sd.conf_path(CAMERA_CONF))
    chosen = [(name, values[SETTINGS[name][0]]) for name in ORDER
              if values.get(SETTINGS[name][0]) in SETTINGS[name][1]]
    steps = timed_steps(chosen, ai_messages(home_version(app), values))

    def done(err):
        if err is not None and app.log:
            app.log('camera settings not applied: %s' % err)
        if on_done is not None:
            on_done(err)

    send_timed(app, steps, done)
    return len(steps)

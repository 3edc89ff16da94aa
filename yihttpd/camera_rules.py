"""The camera settings of the firmware's camera_settings.sh: each key's
values, the commands ipc_cmd sends for it, and the AI rules by home version.

camera_settings.sh (handlers/camera.py) and settings over MQTT
(mqtt_settings.py) both change settings through change_settings, so one
rule holds for both. `ctx` is what sends: .ipc (a transport with send()),
.loop (timers), .settings_sending (sequences under way) and .log; the web
server's App and the bridge's camera link both have them.
"""
from . import checks, conf, ipc

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
# Settings mqtt-config takes and camera_settings.sh does not (ipc_cmd -B).
MQTT_ONLY = {
    'baby_crying_detect': ('BABY_CRYING_DETECT', YES_NO, yes_no(ipc.baby_crying_detection)),
}
# The order load.sh's re-apply sends them in (the firmware page's order, switch_on last).
ORDER = ('save_video_on_motion', 'motion_detection', 'sensitivity', 'ai_human_detection',
         'ai_vehicle_detection', 'ai_animal_detection', 'face_detection', 'motion_tracking',
         'sound_detection', 'sound_sensitivity', 'led', 'ir', 'rotate', 'cruise', 'switch_on')
AI_KEYS = ('motion_detection', 'ai_human_detection', 'ai_vehicle_detection', 'ai_animal_detection')


def row(name):
    """(camera.conf key, accepted values, steps) of a setting, or None."""
    return SETTINGS.get(name) or MQTT_ONLY.get(name)


class Busy(checks.Refused):
    """MAX_SENDING setting sequences are under way: a new one must wait."""
    status = 503
    retry_after = 2


def is_busy(ctx):
    """MAX_SENDING setting sequences are under way: a new one must wait."""
    return ctx.settings_sending >= MAX_SENDING


def check_not_busy(ctx):
    """Busy while MAX_SENDING setting sequences are under way (checked before anything changes)."""
    if is_busy(ctx):
        raise Busy('busy: %d camera setting changes under way, try again' % MAX_SENDING)


def send_timed(ctx, steps, on_done):
    """Send [(seconds to wait first, message)] in order on the loop's timer.

    on_done(None) once the last is sent, or on_done(error) at the first one
    that fails (the transport's error: the camera does not take it); the
    rest are dropped. Counted in ctx.settings_sending until then, whatever
    on_done does.
    """
    steps = list(steps)
    ctx.settings_sending += 1

    def step():
        err = None
        try:
            while steps:
                ctx.ipc.send(steps.pop(0)[1])
                if steps and steps[0][0] > 0:
                    ctx.loop.call_later(steps[0][0], step)
                    return
        except Exception as exc:   # the transport's own error, whichever runs
            err = exc
        ctx.settings_sending -= 1
        on_done(err)

    if steps and steps[0][0] > 0:
        ctx.loop.call_later(steps[0][0], step)
    else:
        step()


def send_spaced(ctx, messages, spacing, on_done):
    """Send messages in order, spacing seconds apart (send_timed)."""
    send_timed(ctx, [(spacing if i else 0, m) for i, m in enumerate(messages)], on_done)


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
        for delay, message in row(name)[2](value):
            steps.append((wait + delay, message))
            wait = 0
        if steps:
            wait = SETTING_SPACING
    for message in tail:
        steps.append((wait, message))
        wait = 0
    return steps


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


def change_settings(ctx, path, chosen, hv, on_done):
    """Save [(name, value)] (values already checked against row()) in camera.conf, then send
    their commands, closed by the AI rules when one of AI_KEYS is named; on_done(error or None).

    Raises OSError, before anything is sent, when camera.conf cannot be written.
    """
    save_settings(path, dict((row(name)[0], value) for name, value in chosen))
    tail = []
    if [name for name, _ in chosen if name in AI_KEYS]:
        tail = ai_messages(hv, conf.read_conf(path))
    send_timed(ctx, timed_steps(chosen, tail), on_done)


def apply_camera_settings(ctx, path, hv, on_done=None):
    """Send the settings camera.conf holds (after load.sh replaced the confs), then the AI rules.

    Values that are not valid are skipped. on_done(None or an error) runs
    when the last command is sent; returns the number of commands.
    """
    values = conf.read_conf(path)
    chosen = [(name, values[SETTINGS[name][0]]) for name in ORDER
              if values.get(SETTINGS[name][0]) in SETTINGS[name][1]]
    steps = timed_steps(chosen, ai_messages(hv, values))

    def done(err):
        if err is not None and ctx.log:
            ctx.log('camera settings not applied: %s' % getattr(err, 'message', err))
        if on_done is not None:
            on_done(err)

    send_timed(ctx, steps, done)
    return len(steps)

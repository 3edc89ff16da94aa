"""ptz.sh and preset.sh as the firmware's (docs/API.md, docs/IPC.md).

Moves are sent as the picture should move: ipc.ptz_move turns them for the
models whose motors are mounted the other way, as the firmware's ipc_cmd
does. Waits are timers on the loop; what needs the camera's position (its
motor driver, /dev/ssp) asks the firmware's ipc_cmd, run beside the loop
with fixed arguments. Moves and presets are ptz_rules.py's (shared with
PTZ over MQTT).
"""
from .. import checks, files, ipc, ptz_rules
from ..http import Deferred, HttpError, json_response, ok
from ..ptz_rules import PRESET_SLOTS, PRESETS_CONF, parse_degrees, read_presets, stop_running_move
from ..sdcard import shown

PTZ_DEFAULT_TIME = '0.3'
PTZ_MAX_TIME = 10.0        # seconds of movement at most (API.md)
TIME_TEXT_MAX = 8          # characters of a TIME value, e.g. "10.00000"
GO_PRESET_COUNT = 16       # presets the camera can go to: 0-15

DIAGONALS = {'up_left': ('up', 'left'), 'up_right': ('up', 'right'),
             'down_left': ('down', 'left'), 'down_right': ('down', 'right')}
STEP_DIRECTIONS = tuple(ipc.PTZ_DIRECTIONS) + tuple(DIAGONALS)
CONT_DIRECTIONS = tuple(ipc.PTZ_DIRECTIONS) + ('stop',)
# action: (x range, y range) of the degrees it takes
JUMPS = {'abs': ((0, 360), (0, 180)), 'rel': ((-360, 360), (-180, 180))}


def parse_seconds(text):
    """TIME as a float: digits with at most one '.', more than 0, at most PTZ_MAX_TIME."""
    whole, dot, fraction = text.partition('.')
    if len(text) > TIME_TEXT_MAX or not checks.only(whole + fraction, checks.DIGITS, TIME_TEXT_MAX):
        return None
    seconds = float(text if whole else '0' + text)
    if seconds <= 0 or seconds > PTZ_MAX_TIME:
        return None
    return seconds


def ipc_tool_path(app):
    return app.options.ipc_cmd or app.sd.yi_hack + '/bin/ipc_cmd'


def answer_when_ended(req, args):
    """Run ipc_cmd ARGS; answer ok when it ends well, 503 otherwise."""
    deferred = Deferred(req)

    def ended(status):
        if status != 0:
            raise HttpError(503, 'ipc_cmd %s failed' % args[0])
        deferred.resolve(ok())
    ptz_rules.run_tool(req.app, ipc_tool_path(req.app), args, deferred.step(ended))
    return deferred


def ptz(req):
    """GET ptz.sh?dir=left&time=0.3 (action=step), action=cont&dir=..., action=abs|rel&x=..&y=.."""
    app = req.app
    action = req.choice('action', ('step', 'cont') + tuple(JUMPS), 'step')
    model = app.sd.model_suffix()
    if action in JUMPS:
        xs, ys = JUMPS[action]
        x = parse_degrees(req.param('x'), xs)
        y = parse_degrees(req.param('y'), ys)
        if x is None or y is None:
            raise HttpError(400, 'x must be degrees from %d to %d and y from %d to %d'
                            % (xs[0], xs[1], ys[0], ys[1]))
        stop_running_move(app)
        if action == 'abs':   # needs the position the motor driver reports: ipc_cmd reads it
            return answer_when_ended(req, ['-j', '%s,%s' % (req.param('x'), req.param('y'))])
        app.ipc.send(ipc.ptz_jump_relative(x, y, model))
        return ok()
    if action == 'cont':
        direction = req.choice('dir', CONT_DIRECTIONS)
        stop_running_move(app)
        app.ipc.send(ipc.ptz_stop() if direction == 'stop' else ipc.ptz_move(direction, model))
        return ok()
    direction = req.choice('dir', STEP_DIRECTIONS)
    seconds = parse_seconds(req.param('time', PTZ_DEFAULT_TIME))
    if seconds is None:
        raise HttpError(400, 'time must be a number of seconds, more than 0, at most %d' % PTZ_MAX_TIME)
    deferred = Deferred(req)
    ptz_rules.PtzMove(app, DIAGONALS.get(direction, (direction,)), seconds, model, deferred.report()).start()
    return deferred


# --- presets ---


def add_preset(req, path):
    """Ask ipc_cmd -g where the camera points, name that position in the conf, add it on the camera."""
    app = req.app
    number = req.number('num', 0, PRESET_SLOTS - 1) if req.param('num') is not None else -1
    deferred = Deferred(req)
    ptz_rules.add_preset(app, path, req.param('name', ''), number, ipc_tool_path(app), deferred.report())
    return deferred


def del_preset(req, path):
    which = req.param('num')
    numbers = range(PRESET_SLOTS) if which == 'all' else [req.number('num', 0, PRESET_SLOTS - 1)]
    ptz_rules.del_presets(req.app, path, numbers)
    return ok()


def set_home_position(req, path):
    """Preset 0 becomes where the camera points: the conf names it Home, the camera re-adds it."""
    deferred = Deferred(req)
    ptz_rules.set_home_position(req.app, path, deferred.report())
    return deferred


def preset(req):
    """GET preset.sh?action=go_preset|add_preset|del_preset|set_home_position|get_presets&num=N&name=NAME"""
    action = req.choice('action', ('go_preset', 'add_preset', 'del_preset', 'set_home_position',
                                   'get_presets'), 'go_preset')
    path = req.app.sd.conf_path(PRESETS_CONF)
    if action == 'go_preset':
        number = req.number('num', 0, GO_PRESET_COUNT - 1)
        req.app.ipc.send(ipc.go_preset(number))
        return ok()
    if action == 'get_presets':
        return json_response(dict((str(n), v) for n, v in enumerate(read_presets(path))))
    if files.entry_kind(path) not in ('file', None):
        raise HttpError(400, 'not a plain file: %s' % shown(PRESETS_CONF))
    if action == 'add_preset':
        return add_preset(req, path)
    if action == 'del_preset':
        return del_preset(req, path)
    return set_home_position(req, path)

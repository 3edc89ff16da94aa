"""ptz.sh and preset.sh as the firmware's (docs/API.md, docs/IPC.md).

Moves are sent as the picture should move: ipc.ptz_move turns them for the
models whose motors are mounted the other way, as the firmware's ipc_cmd
does. Waits are timers on the loop; what needs the camera's position (its
motor driver, /dev/ssp) asks the firmware's ipc_cmd, run beside the loop
with fixed arguments.
"""
from .. import checks, conf, files, ipc
from ..child import Background
from ..http import Deferred, HttpError, json_response, ok
from ..sdcard import shown
from ..transports import IpcUnavailable
from .camera import answer_when_sent

PTZ_DEFAULT_TIME = '0.3'
PTZ_MAX_TIME = 10.0        # seconds of movement at most (API.md)
PTZ_STOP_RETRY = 0.5       # seconds between tries of a stop the camera could not take,
PTZ_STOP_TRIES = 20        # for this many tries (10 s)
TIME_TEXT_MAX = 8          # characters of a TIME value, e.g. "10.00000"
DEGREES_TEXT_MAX = 12      # characters of an x or y value, e.g. "-359.123456"
GO_PRESET_COUNT = 16       # presets the camera can go to: 0-15
PRESET_SLOTS = 8           # named presets in ptz_presets.conf: 0-7, as the firmware keeps them
PRESET_NAME_CHARS = checks.NAME_CHARS + ' '
PRESET_NAME_MAX = 32
PRESETS_CONF = 'ptz_presets.conf'
TOOL_TIMEOUT = 5.0         # ipc_cmd asks the motor driver and ends in milliseconds
POSITION_MAX = 64          # bytes of ipc_cmd -g's answer, "123.4,56.7"
HOME_SPACING = 1.0         # ipc_cmd -H waits 1 s between removing preset 0 and adding it

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


def parse_degrees(text, bounds):
    """An x or y value: [-]digits[.digits] within bounds (lo, hi), else None."""
    if text is None or len(text) > DEGREES_TEXT_MAX:
        return None
    whole, dot, fraction = (text[1:] if text.startswith('-') else text).partition('.')
    if not checks.only(whole, checks.DIGITS, DEGREES_TEXT_MAX) or \
            (dot and not checks.only(fraction, checks.DIGITS, DEGREES_TEXT_MAX)):
        return None
    value = float(text)
    return value if bounds[0] <= value <= bounds[1] else None


def ipc_tool(app, args, on_exit, stdout_path=None):
    """Run the firmware's ipc_cmd with fixed arguments beside the loop; 503 when it is missing."""
    tool = app.options.ipc_cmd or app.sd.yi_hack + '/bin/ipc_cmd'
    if files.entry_kind(tool) != 'file':
        raise IpcUnavailable('%s is missing' % tool)
    return Background(app.loop, [tool] + args, TOOL_TIMEOUT, on_exit, app.tmp_dir, stdout_path)


class PtzMove:
    """One manual move (step): each direction for TIME, then the stop; a
    diagonal is its two directions one after the other, as the firmware's.

    The answer waits for the last stop. A client that goes away does not
    cancel the stop: the camera must never be left moving.
    """

    def __init__(self, req, directions, seconds, model):
        self.app = req.app
        self.left = list(directions)
        self.seconds = seconds
        self.model = model
        self.deferred = Deferred(req)
        self.timer = None

    def start(self):
        self.app.ptz_move = self
        self.next_move()
        return self.deferred

    def next_move(self):
        try:
            self.app.ipc.send(ipc.ptz_move(self.left.pop(0), self.model))
        except Exception as err:
            self.finish(err)
            return
        self.timer = self.deferred.later(self.seconds, self.stop)

    def stop(self, interrupted=False):
        """Send the stop (now, if a newer move interrupts this one), then the next direction."""
        self.timer.cancel()
        try:
            self.app.ipc.send(ipc.ptz_stop())
        except Exception as err:
            self.finish(err)
            self.app.loop.call_later(PTZ_STOP_RETRY, self.send_stop_again, PTZ_STOP_TRIES - 1)
            return
        if self.left and not interrupted:
            self.next_move()
        else:
            self.finish(ok({'interrupted': 'true'} if interrupted else None))

    def send_stop_again(self, tries):
        """A stop the camera could not take is sent again until it goes (the
        client was told at once): the camera must never be left moving. A
        newer move sends its own stop, so a retry then is dropped."""
        if self.app.ptz_move is not None:
            return
        try:
            self.app.ipc.send(ipc.ptz_stop())
        except Exception as err:
            if tries > 1:
                self.app.loop.call_later(PTZ_STOP_RETRY, self.send_stop_again, tries - 1)
            elif self.app.log is not None:
                self.app.log('ptz: the stop could not be sent: %r' % err)

    def finish(self, outcome):
        """The move is over: answer with outcome, a Response or the error that ended it."""
        if self.app.ptz_move is self:
            self.app.ptz_move = None
        if isinstance(outcome, Exception):
            self.deferred.fail(outcome)
        else:
            self.deferred.resolve(outcome)


def stop_running_move(app):
    running = app.ptz_move
    if running is not None:
        running.stop(interrupted=True)


def answer_when_ended(req, args):
    """Run ipc_cmd ARGS; answer ok when it ends well, 503 otherwise."""
    deferred = Deferred(req)

    def ended(status):
        if status != 0:
            raise HttpError(503, 'ipc_cmd %s failed' % args[0])
        deferred.resolve(ok())
    ipc_tool(req.app, args, deferred.step(ended))
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
    stop_running_move(app)
    return PtzMove(req, DIAGONALS.get(direction, (direction,)), seconds, model).start()


# --- presets ---

def read_presets(path):
    """The PRESET_SLOTS values of ptz_presets.conf ('name,x,y' or '')."""
    values = conf.read_conf(path)
    return [values.get(str(n), '') for n in range(PRESET_SLOTS)]


def write_presets(path, slots):
    """Rewrite ptz_presets.conf as the firmware's ptz_presets.sh writes it: N=VALUE, 0 to 7."""
    conf.atomic_write(path, ''.join('%d=%s\n' % (n, v) for n, v in enumerate(slots)).encode())


def preset_name(req):
    name = req.param('name', '')
    if not checks.only(name, PRESET_NAME_CHARS, PRESET_NAME_MAX):
        raise HttpError(400, 'name must be 1 to %d letters, digits, spaces, _ or -' % PRESET_NAME_MAX)
    return name


def place_preset(slots, number, name, position):
    """Put name,x,y in slot number, or the first free one (-1); the firmware's messages when it cannot."""
    if number < 0:
        if any(value.partition(',')[0] == name for value in slots):
            raise HttpError(400, 'Preset already exists')
        free = [n for n, value in enumerate(slots) if not value]
        if not free:
            raise HttpError(400, 'No free preset available')
        number = free[0]
    slots[number] = '%s,%s' % (name, position)


def parse_position(text):
    """ipc_cmd -g's 'x,y' in degrees, or None."""
    x, comma, y = text.strip().partition(',')
    if parse_degrees(x, (-360, 360)) is None or parse_degrees(y, (-180, 180)) is None:
        return None
    return x + ',' + y


def add_preset(req, path):
    """Ask ipc_cmd -g where the camera points, name that position in the conf, add it on the camera."""
    app = req.app
    name = preset_name(req)
    number = req.number('num', 0, PRESET_SLOTS - 1) if req.param('num') is not None else -1
    place_preset(read_presets(path), number, name, '0,0')   # refuse early what cannot fit
    app.position_asks += 1
    out = files.temp_path(app.tmp_dir, 'position', app.position_asks)
    deferred = Deferred(req)

    def ended(status):
        try:
            text = conf.read_small(out, POSITION_MAX).decode() if status == 0 else ''
        except (OSError, ValueError):
            text = ''
        files.remove_if_there(out)
        position = parse_position(text)
        if position is None:
            raise HttpError(503, 'Error getting PTZ position')
        slots = read_presets(path)
        place_preset(slots, number, name, position)
        write_presets(path, slots)
        app.ipc.send(ipc.add_preset())
        deferred.resolve(ok())
    ipc_tool(app, ['-g'], deferred.step(ended), out)
    return deferred


def del_preset(req, path):
    which = req.param('num')
    numbers = range(PRESET_SLOTS) if which == 'all' else [req.number('num', 0, PRESET_SLOTS - 1)]
    slots = read_presets(path)
    for n in numbers:
        req.app.ipc.send(ipc.remove_preset(n))
        slots[n] = ''
        write_presets(path, slots)
    return ok()


def set_home_position(req, path):
    """Preset 0 becomes where the camera points: the conf names it Home, the camera re-adds it."""
    slots = read_presets(path)
    slots[0] = ''
    try:
        place_preset(slots, -1, 'Home', ',')
    except HttpError:
        pass   # a Home preset is already named (the firmware leaves it too)
    write_presets(path, slots)
    return answer_when_sent(req, [(0, ipc.remove_preset(0)), (HOME_SPACING, ipc.add_preset())])


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

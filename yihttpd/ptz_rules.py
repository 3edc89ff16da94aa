"""PTZ moves and presets as the firmware's ptz.sh and ptz_presets.sh do them.

ptz.sh/preset.sh (handlers/ptz.py) and PTZ over MQTT (mqtt_settings.py)
both go through here, so one rule holds for both. `ctx` is what sends and
waits: .ipc, .loop, .ptz_move (the move under way), .tmp_dir and .log,
which the web server's App and the bridge's camera link both have.
Refusals are checks.Refused (status 400) or
camera_queue.Unavailable (503); results come back through on_done(error).
"""
from . import checks, conf, files, ipc
from .camera_queue import Unavailable
from .camera_rules import send_spaced
from .checks import Refused
from .child import Background

PTZ_DEFAULT_TIME = 0.3     # seconds of a step, as ptz.sh's default TIME
PTZ_STOP_RETRY = 0.5       # seconds between tries of a stop the camera could not take,
PTZ_STOP_TRIES = 20        # for this many tries (10 s)
DEGREES_TEXT_MAX = 12      # characters of an x or y value, e.g. "-359.123456"
PRESET_SLOTS = 8           # named presets in ptz_presets.conf: 0-7, as the firmware keeps them
PRESET_NAME_CHARS = checks.NAME_CHARS + ' '
PRESET_NAME_MAX = 32
PRESETS_CONF = 'ptz_presets.conf'
TOOL_TIMEOUT = 5.0         # ipc_cmd asks the motor driver and ends in milliseconds
POSITION_MAX = 64          # bytes of ipc_cmd -g's answer, "123.4,56.7"
HOME_SPACING = 1.0         # ipc_cmd -H waits 1 s between removing preset 0 and adding it


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


def run_tool(ctx, tool, args, on_exit, stdout_path=None):
    """Run the firmware's ipc_cmd with fixed arguments beside the loop; Unavailable when it is missing."""
    if files.entry_kind(tool) != 'file':
        raise Unavailable('%s is missing' % tool)
    return Background(ctx.loop, [tool] + args, TOOL_TIMEOUT, on_exit, ctx.tmp_dir, stdout_path)


class PtzMove:
    """One manual move (step): each direction for seconds, then the stop; a
    diagonal is its two directions one after the other, as the firmware's.

    on_done(error or None, interrupted) once the last stop is sent. Nothing
    cancels the stop: the camera must never be left moving.
    """

    def __init__(self, ctx, directions, seconds, model, on_done):
        self.ctx = ctx
        self.left = list(directions)
        self.seconds = seconds
        self.model = model
        self.on_done = on_done
        self.timer = None

    def start(self):
        stop_running_move(self.ctx)
        self.ctx.ptz_move = self
        self.next_move()

    def next_move(self):
        try:
            self.ctx.ipc.send(ipc.ptz_move(self.left.pop(0), self.model))
        except Exception as err:
            self.finish(err)
            return
        self.timer = self.ctx.loop.call_later(self.seconds, self.stop)

    def stop(self, interrupted=False):
        """Send the stop (now, if a newer move interrupts this one), then the next direction."""
        self.timer.cancel()
        try:
            self.ctx.ipc.send(ipc.ptz_stop())
        except Exception as err:
            self.finish(err)
            self.ctx.loop.call_later(PTZ_STOP_RETRY, self.send_stop_again, PTZ_STOP_TRIES - 1)
            return
        if self.left and not interrupted:
            self.next_move()
        else:
            self.finish(None, interrupted)

    def send_stop_again(self, tries):
        """A stop the camera could not take is sent again until it goes (the
        caller was told at once): the camera must never be left moving. A
        newer move sends its own stop, so a retry then is dropped."""
        if self.ctx.ptz_move is not None:
            return
        try:
            self.ctx.ipc.send(ipc.ptz_stop())
        except Exception as err:
            if tries > 1:
                self.ctx.loop.call_later(PTZ_STOP_RETRY, self.send_stop_again, tries - 1)
            elif self.ctx.log is not None:
                self.ctx.log('ptz: the stop could not be sent: %r' % err)

    def finish(self, err, interrupted=False):
        if self.ctx.ptz_move is self:
            self.ctx.ptz_move = None
        self.on_done(err, interrupted)


def stop_running_move(ctx):
    running = ctx.ptz_move
    if running is not None:
        running.stop(interrupted=True)


# --- presets ---

def read_presets(path):
    """The PRESET_SLOTS values of ptz_presets.conf ('name,x,y' or '')."""
    values = conf.read_conf(path)
    return [values.get(str(n), '') for n in range(PRESET_SLOTS)]


def write_presets(path, slots):
    """Rewrite ptz_presets.conf as the firmware's ptz_presets.sh writes it: N=VALUE, 0 to 7."""
    conf.atomic_write(path, ''.join('%d=%s\n' % (n, v) for n, v in enumerate(slots)).encode())


def check_preset_name(name):
    if not checks.only(name, PRESET_NAME_CHARS, PRESET_NAME_MAX):
        raise Refused('name must be 1 to %d letters, digits, spaces, _ or -' % PRESET_NAME_MAX)
    return name


def place_preset(slots, number, name, position):
    """Put name,x,y in slot number, or the first free one (-1); the firmware's messages when it cannot."""
    if number < 0:
        if any(value.partition(',')[0] == name for value in slots):
            raise Refused('Preset already exists')
        free = [n for n, value in enumerate(slots) if not value]
        if not free:
            raise Refused('No free preset available')
        number = free[0]
    slots[number] = '%s,%s' % (name, position)


def parse_position(text):
    """ipc_cmd -g's 'x,y' in degrees, or None."""
    x, comma, y = text.strip().partition(',')
    if parse_degrees(x, (-360, 360)) is None or parse_degrees(y, (-180, 180)) is None:
        return None
    return x + ',' + y


def add_preset(ctx, path, name, number, tool, on_done):
    """Ask ipc_cmd -g where the camera points, name that position in slot number (-1: the
    first free one), add it on the camera; on_done(error or None). Refused at once what cannot fit."""
    check_preset_name(name)
    place_preset(read_presets(path), number, name, '0,0')
    out = files.unique_temp_path(ctx.tmp_dir, 'position')

    def ended(status):
        try:
            text = conf.read_small(out, POSITION_MAX).decode() if status == 0 else ''
        except (OSError, ValueError):
            text = ''
        files.remove_if_there(out)
        position = parse_position(text)
        if position is None:
            on_done(Unavailable('Error getting PTZ position'))
            return
        try:
            slots = read_presets(path)
            place_preset(slots, number, name, position)
            write_presets(path, slots)
            ctx.ipc.send(ipc.add_preset())
        except Exception as err:
            on_done(err)
            return
        on_done(None)
    run_tool(ctx, tool, ['-g'], ended, out)


def del_presets(ctx, path, numbers):
    """Remove presets on the camera and clear their slots, one at a time."""
    slots = read_presets(path)
    for n in numbers:
        ctx.ipc.send(ipc.remove_preset(n))
        slots[n] = ''
        write_presets(path, slots)


def set_home_position(ctx, path, on_done):
    """Preset 0 becomes where the camera points: the conf names it Home, the camera re-adds it."""
    slots = read_presets(path)
    slots[0] = ''
    try:
        place_preset(slots, -1, 'Home', ',')
    except Refused:
        pass   # a Home preset is already named (the firmware leaves it too)
    write_presets(path, slots)
    send_spaced(ctx, [ipc.remove_preset(0), ipc.add_preset()], HOME_SPACING, on_done)

"""The camera's IPC catalogue (docs/IPC.md): the bytes of each command, and
the events recognised in what the camera dispatches.

Pure functions: transports.py hands the commands to the camera.
"""
import struct

# A message is recognised by its first 16 bytes (its header); it may be longer.
HEADER_SIZE = 16
# The firmware's queues take messages of at most 512 bytes.
MAX_MESSAGE = 512

# --- commands (bytes written to /ipc_dispatch) ---

# The header: a target word (1 or 2, as the firmware uses), the sender 8,
# the command code, a flag word and the length of what follows.
HEADER = '<IIHHI'


def _message(target, code, argument=None, flag=1, length=None):
    payload = b'' if argument is None else argument
    if length is None:
        length = len(payload)
    return struct.pack(HEADER, target, 8, code, flag, length) + payload


def _word(value):
    return struct.pack('<I', value)


def switch(on):
    """Camera (video) on or off."""
    return _message(2, 0x74 if on else 0x75)


def save_on_motion(on_motion):
    """Save video only on motion (detect), or always."""
    return _message(2, 0x78 if on_motion else 0x79)


SENSITIVITY = {'high': 0, 'medium': 1, 'low': 2}


def sensitivity(level):
    """Motion sensitivity 'low', 'medium' or 'high'."""
    return _message(1, 0x1027, _word(SENSITIVITY[level]))


def led(on):
    return _message(2, 0x76 if on else 0x77)


def ir(on):
    """IR night vision."""
    return _message(2, 0x1024, _word(1 if on else 2))


def rotate(on):
    return _message(2, 0x7a if on else 0x7b)


def face_detection(on):
    return _message(1, 0x103d, _word(1 if on else 0))


def motion_tracking(on):
    return _message(1, 0x400b, _word(1 if on else 0))


def sound_detection(on):
    return _message(2, 0x103a, _word(2 if on else 1))


SOUND_LEVELS = ('30', '35', '40', '45', '50', '60', '70', '80', '90')


def sound_sensitivity(level):
    """Sound detection threshold: one of SOUND_LEVELS (dB)."""
    return _message(2, 0x103b, _word(int(level)))


def ai_human(on):
    """AI human detection."""
    return _message(1, 0x103c, _word(1 if on else 0))


def ai_vehicle(on):
    return _message(1, 0x1040, _word(1 if on else 0))


def ai_animal(on):
    return _message(1, 0x103f, _word(1 if on else 0))


def baby_crying_detection(on):
    """Baby crying detection (ipc_cmd -B)."""
    return _message(2, 0x1029, _word(2 if on else 1))


def ai_motion(on):
    """AI motion detection as a whole (home versions 11 and 12)."""
    return _message(1, 0x1041, _word(1 if on else 0))


def motion_start_event():
    """Starts a motion event (and so a recording), as ipc_cmd -S (the camera's own event message)."""
    return struct.pack(HEADER, 1, 2, 0x7c, 0x7c, 0)


def motion_stop_event():
    """Ends the motion event under way, as ipc_cmd -T (the camera's own event message)."""
    return struct.pack(HEADER, 1, 2, 0x7d, 0x7d, 0)


PTZ_DIRECTIONS = {'up': 1, 'down': 2, 'left': 3, 'right': 4}
# The firmware's move message announces 0x18 bytes but carries 8.
PTZ_MOVE_LENGTH = 0x18


# Models whose motors turn the other way, as the firmware's ipc_cmd (ptz.c)
# knows them: every axis, or only left and right.
PTZ_INVERTED = ('r30gb', 'r35gb', 'r37gb', 'r40ga', 'q321br_lsx', 'qg311r', 'b091qp')
PTZ_INVERTED_PAN = ('h30ga', 'h51ga', 'h52ga', 'h60ga')
OPPOSITE = {'up': 'down', 'down': 'up', 'left': 'right', 'right': 'left'}


def camera_direction(direction, model):
    """The direction to send so that the picture moves `direction` on this model."""
    if model in PTZ_INVERTED or (model in PTZ_INVERTED_PAN and direction in ('left', 'right')):
        return OPPOSITE[direction]
    return direction


def ptz_move(direction, model=None):
    """Start moving 'up', 'down', 'left' or 'right' (until ptz_stop), as seen on this model."""
    code = 0x4006
    turn = camera_direction(direction, model)
    return _message(1, code, _word(PTZ_DIRECTIONS[turn]) + _word(0), code, PTZ_MOVE_LENGTH)


# The motors' range in steps, and the step scale of a jump, as ipc_cmd has them.
PTZ_STEPS_X = 4100         # 360 degrees
PTZ_STEPS_Y = 1250         # 180 degrees
JUMP_SCALE_X = 911
JUMP_SCALE_Y = 694


def c_round(value):
    """C's round(): halves away from zero (Python's round takes them to even)."""
    return int(value + 0.5) if value >= 0 else -int(-value + 0.5)


def ptz_jump_relative(x, y, model=None):
    """Move by x degrees (-360..360) and y degrees (-180..180) from where the camera is."""
    if model in PTZ_INVERTED_PAN:
        y = -y
    steps_x = c_round(c_round(x * PTZ_STEPS_X / 360.0) * 100.0 / JUMP_SCALE_X + 50.0)
    steps_y = c_round(c_round(y * PTZ_STEPS_Y / 180.0) * 100.0 / JUMP_SCALE_Y + 50.0)
    code = 0x4009
    return _message(1, code, struct.pack('<ii', steps_x, steps_y), code, PTZ_MOVE_LENGTH)


def ptz_stop():
    return _message(1, 0x4007)


def go_preset(number):
    return _message(1, 0x4002, _word(number & 0xff))


def add_preset():
    """Save the current position as a preset."""
    return _message(1, 0x4000)


def remove_preset(number):
    return _message(1, 0x4001, _word(number & 0xff))


def cruise(on):
    return _message(1, 0x4004 if on else 0x4005)


CRUISE_MODES = {'presets': 0, '360': 1}


def cruise_mode(mode):
    """Cruise between the presets or all around ('presets' or '360'), once cruise is on."""
    return _message(1, 0x4003, _word(CRUISE_MODES[mode]) + _word(0))


# --- events (bytes read from /ipc_dispatch_N) ---

# first 16 bytes of a message -> event name
EVENTS = {
    b'\x01\x00\x00\x00\x02\x00\x00\x00\x7c\x00\x7c\x00\x00\x00\x00\x00': 'motion_start',
    b'\x04\x00\x00\x00\x02\x00\x00\x00\x09\x70\x09\x70\x00\x00\x00\x00': 'motion_start',
    b'\x01\x00\x00\x00\x02\x00\x00\x00\x7d\x00\x7d\x00\x00\x00\x00\x00': 'motion_stop',
    b'\x01\x00\x00\x00\x02\x00\x00\x00\xed\x00\xed\x00\x00\x00\x00\x00': 'ai_human_detected',
    b'\x04\x00\x00\x00\x02\x00\x00\x00\x06\x70\x06\x70\x00\x00\x00\x00': 'ai_human_detected',
    b'\x04\x00\x00\x00\x02\x00\x00\x00\x07\x70\x07\x70\x00\x00\x00\x00': 'ai_vehicle_detected',
    b'\x04\x00\x00\x00\x02\x00\x00\x00\x08\x70\x08\x70\x00\x00\x00\x00': 'ai_animal_detected',
    b'\x04\x00\x00\x00\x02\x00\x00\x00\x02\x60\x02\x60\x00\x00\x00\x00': 'baby_crying',
    b'\x04\x00\x00\x00\x02\x00\x00\x00\x04\x60\x04\x60\x00\x00\x00\x00': 'sound_detected',
}


def event_name(message):
    """The event a message read from an /ipc_dispatch_N queue announces, or None.

    Takes bytes, a bytearray or a memoryview of any length; anything that is
    not one of the known headers (short, junk, other commands) is None.
    """
    try:
        if len(message) < HEADER_SIZE:
            return None
        return EVENTS.get(bytes(message[:HEADER_SIZE]))
    except (TypeError, ValueError):
        return None


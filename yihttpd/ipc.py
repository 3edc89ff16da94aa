"""The camera's IPC (spec/IPC.md): the command catalogue, events, and transports.

A transport has one method, send(message): it hands the bytes of one
command to the camera or raises IpcUnavailable (answered as 503). It never
waits for the camera: a full queue is an error, not a pause.
"""
import os
import struct

from . import compat, files, mqueue
from .http import HttpError
from .child import Background

# A message is recognised by its first 16 bytes (its header); it may be longer.
HEADER_SIZE = 16
# The firmware's queues take messages of at most 512 bytes.
MAX_MESSAGE = 512
DEFAULT_QUEUE = '/ipc_dispatch'
# ipc_cmd normally ends in milliseconds; one that hangs (full queue) is killed.
TOOL_TIMEOUT = 5.0
# How often a running ipc_cmd is checked for its end.
TOOL_POLL = 0.02

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


PTZ_DIRECTIONS = {'up': 1, 'down': 2, 'left': 3, 'right': 4}
# The firmware's move message announces 0x18 bytes but carries 8.
PTZ_MOVE_LENGTH = 0x18


def ptz_move(direction):
    """Start moving 'up', 'down', 'left' or 'right' (until ptz_stop)."""
    code = 0x4006
    return _message(1, code, _word(PTZ_DIRECTIONS[direction]) + _word(0), code, PTZ_MOVE_LENGTH)


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


# --- events (bytes read from /ipc_dispatch_N) ---

# first 16 bytes of a message -> event name
EVENTS = {
    b'\x01\x00\x00\x00\x02\x00\x00\x00\x7c\x00\x7c\x00\x00\x00\x00\x00': 'motion_start',
    b'\x04\x00\x00\x00\x02\x00\x00\x00\x09\x70\x09\x70\x00\x00\x00\x00': 'motion_start',
    b'\x01\x00\x00\x00\x02\x00\x00\x00\x7d\x00\x7d\x00\x00\x00\x00\x00': 'motion_stop',
    b'\x01\x00\x00\x00\x02\x00\x00\x00\xed\x00\xed\x00\x00\x00\x00\x00': 'ai_human_detected',
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


# --- transports ---

class IpcUnavailable(HttpError):
    """The camera cannot take a command now (queue missing or full, tool failed)."""

    def __init__(self, message):
        super().__init__(503, message)


def hex_bytes(message):
    return ' '.join('%02x' % b for b in message)


class QueueTransport:
    """Writes straight into the camera's POSIX queue, never waiting on it."""
    name = 'mqueue'

    def __init__(self, queue_name):
        self.queue_name = queue_name
        self.queue = None

    def open(self):
        if self.queue is None:
            self.queue = mqueue.MessageQueue(self.queue_name, mqueue.O_RDWR | mqueue.O_NONBLOCK)
        return self.queue

    def send(self, message):
        try:
            self.open().send(message)
        except OSError as err:
            code = compat.errno_of(err)
            if code == compat.EAGAIN:
                raise IpcUnavailable('camera queue %s is full, try again' % self.queue_name)
            self.close()
            raise IpcUnavailable('camera queue %s: %s' % (self.queue_name, err))

    def close(self):
        if self.queue is not None:
            self.queue.close()
            self.queue = None


class ToolTransport:
    """Runs the firmware's ipc_cmd with fixed arguments: `ipc_cmd -f FILE`.

    The message goes through a temp file (no client text on a command line).
    One ipc_cmd runs at a time so that commands keep their order; the loop's
    timer watches it, so the server never waits for it.
    """
    name = 'ipc_cmd'

    def __init__(self, tool, tmp_dir, loop, log):
        self.tool = tool
        self.tmp_dir = tmp_dir
        self.loop = loop
        self.log = log
        self.waiting = []
        self.child = None
        self.child_file = None
        self.count = 0

    def send(self, message):
        if files.stat(self.tool) is None:
            raise IpcUnavailable('%s is missing' % self.tool)
        self.count += 1
        path = '%s/yihttpd-ipc-%d-%d.bin' % (self.tmp_dir, compat.getpid(), self.count)
        try:
            with open(path, 'wb') as f:
                f.write(message)
        except OSError as err:
            raise IpcUnavailable('cannot write %s: %s' % (path, err))
        self.waiting.append(path)
        if self.child is None:
            self.run_next()

    def run_next(self):
        if not self.waiting:
            return
        self.child_file = self.waiting.pop(0)
        self.child = Background(self.loop, [self.tool, '-f', self.child_file], TOOL_TIMEOUT,
                                self.ended, self.tmp_dir, None, TOOL_POLL)

    def ended(self, status):
        if status is None:
            self.log('ipc: %s did not end in %d s, killed' % (self.tool, TOOL_TIMEOUT))
        elif status != 0:
            self.log('ipc: %s failed with status %d' % (self.tool, status))
        try:
            os.remove(self.child_file)
        except OSError:
            pass
        self.child = None
        self.run_next()


class RecordTransport:
    """Appends each message to a file and logs it (--demo, tests without queues)."""
    name = 'record'

    def __init__(self, path, log):
        self.path = path
        self.log = log

    def send(self, message):
        try:
            with open(self.path, 'ab') as f:
                f.write(message)
        except OSError as err:
            raise IpcUnavailable('cannot record to %s: %s' % (self.path, err))
        self.log('ipc (recorded, not sent): ' + hex_bytes(message))


# CLI rows for __main__.OPTIONS
OPTIONS = (
    ('--ipc', str, 'auto', 'camera commands: auto, mqueue, ipc_cmd or record'),
    ('--ipc-queue', str, DEFAULT_QUEUE, 'the camera command queue (--ipc mqueue)'),
    ('--ipc-cmd', str, None, 'the firmware ipc_cmd tool (default ROOT/yi-hack/bin/ipc_cmd)'),
    ('--ipc-record', str, None, 'file the record transport appends to (default TMP-DIR/yihttpd-ipc.bin)'),
)


class IpcSetupError(Exception):
    pass


def choose_transport(options, loop, log):
    """The transport --ipc asks for; IpcSetupError says why there is none."""
    kind = options.ipc
    tool = options.ipc_cmd or options.root + '/yi-hack/bin/ipc_cmd'
    if kind == 'record':
        return RecordTransport(options.ipc_record or options.tmp_dir + '/yihttpd-ipc.bin', log)
    if kind == 'ipc_cmd':
        return ToolTransport(tool, options.tmp_dir, loop, log)
    if kind == 'mqueue':
        if not mqueue.has_mqueue():
            raise IpcSetupError('--ipc mqueue: this runtime cannot reach POSIX message queues '
                                '(no ctypes, no ffi); use --ipc ipc_cmd')
        return QueueTransport(options.ipc_queue)
    if kind != 'auto':
        raise IpcSetupError('--ipc must be auto, mqueue, ipc_cmd or record, not %r' % kind)
    if mqueue.has_mqueue():
        transport = QueueTransport(options.ipc_queue)
        try:
            transport.open()
            return transport
        except OSError as err:
            reason = 'queue %s: %s' % (options.ipc_queue, err)
    else:
        reason = 'no POSIX message queues in this runtime (no ctypes, no ffi)'
    if files.stat(tool) is not None:
        return ToolTransport(tool, options.tmp_dir, loop, log)
    raise IpcSetupError('no way to reach the camera: %s, and %s is missing '
                        '(--ipc record to only log commands)' % (reason, tool))


def transport_or_exit(options, loop, log):
    """choose_transport for __main__: a clear message and exit status 2 when none works."""
    try:
        transport = choose_transport(options, loop, log)
    except IpcSetupError as err:
        log(str(err))
        raise SystemExit(2)
    log('camera commands via %s' % transport.name)
    return transport

"""How camera commands reach the camera: its POSIX queue, the firmware's
ipc_cmd tool, or a file that only records them (--demo).

A transport has one method, send(message): it hands the bytes of one
command to the camera or raises IpcUnavailable or camera_queue.Unavailable
(answered as 503). It never waits for the camera: a full queue is an
error, not a pause. The queue's writer is camera_queue.CommandQueue, the
MQTT bridge's too; it is imported only when the queue is used.
"""
from . import files, mqueue
from .http import HttpError

# ipc_cmd normally ends in milliseconds; one that hangs (full queue) is killed.
TOOL_TIMEOUT = 5.0
# How often a running ipc_cmd is checked for its end.
TOOL_POLL = 0.02
# Commands waiting for their ipc_cmd run at most (each is a temp file): a flood gets 503.
TOOL_BACKLOG = 16

class IpcUnavailable(HttpError):
    """The camera cannot take a command now (queue missing or full, tool failed)."""

    def __init__(self, message):
        super().__init__(503, message)


def hex_bytes(message):
    return ' '.join('%02x' % b for b in message)


def queue_transport(name):
    """The camera's POSIX queue written straight into (camera_queue.CommandQueue), never waited
    on; its camera_queue.Unavailable is answered 503 as IpcUnavailable is (http.error_answer)."""
    from .camera_queue import CommandQueue
    return CommandQueue(name)


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
        if len(self.waiting) >= TOOL_BACKLOG:
            raise IpcUnavailable('%d camera commands wait for %s: try again' % (TOOL_BACKLOG, self.tool))
        self.count += 1
        path = files.temp_path(self.tmp_dir, 'ipc', '%d.bin' % self.count)
        try:
            with files.create_new(path) as f:
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
        from .child import Background   # only here: a camera with its queue never loads it
        self.child = Background(self.loop, [self.tool, '-f', self.child_file], TOOL_TIMEOUT,
                                self.ended, self.tmp_dir, None, TOOL_POLL)

    def ended(self, status):
        if status is None:
            self.log('ipc: %s did not end in %d s, killed' % (self.tool, TOOL_TIMEOUT))
        elif status != 0:
            self.log('ipc: %s failed with status %d' % (self.tool, status))
        files.remove_if_there(self.child_file)
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


# CLI rows of options.OPTIONS
OPTIONS = (
    ('--ipc', str, 'auto', 'camera commands: auto, mqueue, ipc_cmd or record'),
    ('--ipc-queue', str, '/ipc_dispatch', 'the camera command queue (--ipc mqueue)'),   # camera_queue's DEFAULT_QUEUE
    ('--ipc-cmd', str, None, 'the firmware ipc_cmd tool (default ROOT/yi-hack/bin/ipc_cmd)'),
    ('--ipc-record', str, None, 'file the record transport appends to (default TMP-DIR/yihttpd-ipc.bin)'),
)


class NoTransport:
    """No way to reach the camera on this runtime: every command is a 503 saying why."""
    name = 'none'

    def __init__(self, reason):
        self.reason = reason

    def send(self, message):
        raise IpcUnavailable('no way to reach the camera: ' + self.reason)


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
        return queue_transport(options.ipc_queue)
    if kind != 'auto':
        raise IpcSetupError('--ipc must be auto, mqueue, ipc_cmd or record, not %r' % kind)
    queue = queue_transport(options.ipc_queue) if mqueue.has_mqueue() else None
    if queue is not None:
        try:
            queue.open()
            return queue
        except OSError as err:
            reason = 'queue %s: %s' % (options.ipc_queue, err)
    else:
        reason = 'no POSIX message queues in this runtime (no ctypes, no ffi)'
    if files.stat(tool) is not None:
        return ToolTransport(tool, options.tmp_dir, loop, log)
    # Serve everything else: the queue may appear later (each send tries it
    # again); until then camera services answer 503 with the reason.
    log('no way to reach the camera yet: %s, and %s is missing; camera services '
        'answer 503 until it exists' % (reason, tool))
    return queue or NoTransport(reason + ', and %s is missing' % tool)


def transport_or_exit(options, loop, log):
    """choose_transport for __main__: a clear message and exit status 2 when none works."""
    try:
        transport = choose_transport(options, loop, log)
    except IpcSetupError as err:
        log(str(err))
        raise SystemExit(2)
    log('camera commands via %s' % transport.name)
    return transport

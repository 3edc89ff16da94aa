"""The camera's command queue, /ipc_dispatch (docs/IPC.md): a command is
written straight into it, never waiting on the camera.

The web server (transports.QueueTransport) and the MQTT bridge both send
through CommandQueue; nothing here knows about HTTP.
"""
from . import compat, mqueue
from .checks import Refused

DEFAULT_QUEUE = '/ipc_dispatch'


class Unavailable(Refused):
    """The camera cannot take a command now (its queue is missing or full)."""
    status = 503


class CommandQueue:
    """The camera's POSIX queue, opened on first use and again after an error."""
    name = 'mqueue'

    def __init__(self, queue_name):
        self.queue_name = queue_name
        self.queue = None

    def open(self):
        if self.queue is None:
            self.queue = mqueue.MessageQueue(self.queue_name, mqueue.O_RDWR | mqueue.O_NONBLOCK)
        return self.queue

    def send(self, message):
        """Queue one command; Unavailable when the queue is full (a full queue is not waited on)."""
        try:
            self.open().send(message)
        except OSError as err:
            if compat.errno_of(err) == compat.EAGAIN:
                raise Unavailable('camera queue %s is full, try again' % self.queue_name)
            self.close()
            raise Unavailable('camera queue %s: %s' % (self.queue_name, err))

    def close(self):
        if self.queue is not None:
            self.queue.close()
            self.queue = None

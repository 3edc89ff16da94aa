"""The event loop: one select.poll() and a heap of timers, in one thread.

Whoever owns a file descriptor registers a callback for it; waits that a
service needs (PTZ stop, long-poll, child programs, MQTT pings) are timers.
The HTTP server (server.py) and the MQTT bridge both run on it. What a
callback or a timer raises is logged (log_exception, at a bounded rate)
and the loop goes on.
"""
import heapq
import select
import sys

from .compat import monotonic

POLLIN = select.POLLIN
POLLOUT = select.POLLOUT
POLLHUP_ERR = select.POLLHUP | select.POLLERR


class Timer:
    """A scheduled call; cancel() makes it a no-op."""
    __slots__ = ('fn', 'args', 'cancelled')

    def __init__(self, fn, args):
        self.fn = fn
        self.args = args
        self.cancelled = False

    def cancel(self):
        """It stays in the heap until its time: what it would call is let go now."""
        self.cancelled = True
        self.fn = None
        self.args = ()


class Loop:
    """poll() over file descriptors plus a heap of timers."""

    def __init__(self):
        self.poller = select.poll()
        self.callbacks = {}
        self.timers = []
        self.timer_seq = 0
        self.running = False
        # The time of this turn (seconds, monotonic), which callbacks take as now: a
        # clock read costs MicroPython a float and several lookups each time.
        self.now = monotonic()

    def register(self, fd, events, callback):
        """callback(events) is called when fd is ready for events."""
        self.callbacks[fd] = callback
        self.poller.register(fd, events)

    def modify(self, fd, events):
        self.poller.modify(fd, events)

    def unregister(self, fd):
        if self.callbacks.pop(fd, None) is not None:
            self.poller.unregister(fd)

    def call_later(self, delay, fn, *args):
        """Run fn(*args) after delay seconds; returns a Timer to cancel it."""
        timer = Timer(fn, args)
        self.timer_seq += 1
        heapq.heappush(self.timers, (monotonic() + delay, self.timer_seq, timer))
        return timer

    def run_timers(self):
        """Run the timers due when this pass began; the milliseconds until the next, or -1.

        A timer a callback adds waits for the next pass, so a chain of
        call_later(0) still lets poll() run between its links.
        """
        last_seq = self.timer_seq
        while self.timers:
            when, seq, timer = self.timers[0]
            if seq > last_seq:
                return 0
            wait = when - monotonic()
            if wait > 0:
                return int(wait * 1000) + 1
            heapq.heappop(self.timers)
            if not timer.cancelled:
                try:
                    timer.fn(*timer.args)
                except Exception as exc:
                    log_exception('timer', exc)
        return -1

    def run_once(self, longest=-1):
        """Run the due timers, then wait for a descriptor (at most longest ms, if given)."""
        self.now = monotonic()
        timeout = self.run_timers()
        if longest >= 0 and (timeout < 0 or timeout > longest):
            timeout = longest
        ready = self.poller.poll(timeout)
        self.now = monotonic()
        for entry in ready:
            callback = self.callbacks.get(entry[0])
            if callback is not None:
                try:
                    callback(entry[1])
                except Exception as exc:
                    log_exception('poll callback', exc)

    def run(self):
        """Poll until stop(); nothing a request or a timer raises ends the process."""
        self.running = True
        while self.running:
            try:
                self.run_once()
            except Exception as exc:   # e.g. MemoryError while logging a callback's error
                log_exception('loop', exc)

    def stop(self):
        self.running = False


LOG_WINDOW = 10.0   # seconds: an error (place and type) is written in full at most once in each
LOG_KINDS = 4       # different errors written in full per window; the log sits in the camera's
                    # RAM, and a heap that runs short fails every connection alike


class ErrorLimit:
    """Which errors are written in full: the first of each kind (place, type) in a
    window of LOG_WINDOW seconds, LOG_KINDS kinds at most; the others are counted,
    and the count is told with the next error written."""

    def __init__(self):
        self.window_end = None
        self.kinds = []
        self.held = 0

    def admit(self, kind, now):
        """None to hold this error back, else how many were held back before it."""
        if self.window_end is None or now >= self.window_end:
            self.window_end = now + LOG_WINDOW
            self.kinds = []
        if kind in self.kinds or len(self.kinds) >= LOG_KINDS:
            self.held += 1
            return None
        self.kinds.append(kind)
        held = self.held
        self.held = 0
        return held


_errors = ErrorLimit()


def log_exception(where, exc):
    """The error and its traceback on stderr, unless ErrorLimit holds it back; never
    raises (the heap may be exhausted)."""
    try:
        held = _errors.admit((where, type(exc)), monotonic())
        if held is None:
            return
        sys.stderr.write('yihttpd: error in %s: %r\n' % (where, exc))
        if held:
            sys.stderr.write('yihttpd: (%d more errors before it not written: the same ones again, '
                             'or too many kinds at once)\n' % held)
        if hasattr(sys, 'print_exception'):
            sys.print_exception(exc, sys.stderr)
        else:
            import traceback
            traceback.print_exception(type(exc), exc, exc.__traceback__)
    except Exception:
        pass

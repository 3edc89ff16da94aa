"""The camera's IPC (spec/IPC.md): the command catalogue, events, and transports."""

# A message is recognised by its first 16 bytes (its header); it may be longer.
HEADER_SIZE = 16

# first 16 bytes of a message read from /ipc_dispatch_N -> event name
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

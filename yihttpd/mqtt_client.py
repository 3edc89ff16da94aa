"""The bridge's MQTT 3.1.1 client: publish at QoS 0, 1 and 2, subscribe,
take the broker's messages at any QoS, ping; plain TCP or TLS.

Made for a poll loop: the owner registers fileno() and calls
process_input() when it is readable; acknowledgements are handled there,
and the broker's messages wait in `messages` for the owner to take.
Nothing waits on the broker except, bounded by `timeout` each time, the
CONNACK, a SUBACK, and room for a publish when MAX_IN_FLIGHT messages
await their acknowledgement. Every read and write has the socket's
timeout (SO_RCVTIMEO/SO_SNDTIMEO on MicroPython, for a TLS socket too), so
a broker that stops answering raises OSError instead of hanging the loop.
"""
import socket

from . import compat

DEFAULT_PORT = 1883
SOCKET_TIMEOUT = 10.0        # seconds any single wait on the broker may take
MAX_PACKET = 4096            # bytes of a broker's packet kept: a setting's message is far shorter
HEAD_KEPT = 512              # bytes kept of a longer one, enough for its topic (then skipped)
MAX_IN_FLIGHT = 16           # QoS 1/2 messages sent and not yet acknowledged before a publish waits
MAX_WAITING = 32             # broker's messages kept until the owner takes them; more are dropped
MAX_REMEMBERED = 64          # QoS 2 packet ids kept until their PUBREL (so one is taken once)
READ_CHUNK = 2048            # bytes asked of the socket per read
FILE_CHUNK = 4096            # bytes of a file payload sent per write
MAX_KEEPALIVE = 65535        # the CONNECT field is 16 bits

# Fixed-header packet types (high nibble)
CONNECT, CONNACK, PUBLISH, PUBACK = 0x10, 0x20, 0x30, 0x40
PUBREC, PUBREL, PUBCOMP = 0x50, 0x60, 0x70
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 0x80, 0x90, 0xC0, 0xD0, 0xE0
PUBREL_FLAGS = 0x02          # PUBREL and SUBSCRIBE carry these fixed flags
SUBSCRIBE_FLAGS = 0x02

# CONNECT flag bits
FLAG_USER, FLAG_PASSWORD, FLAG_WILL_RETAIN, FLAG_WILL, FLAG_CLEAN_SESSION = 0x80, 0x40, 0x20, 0x04, 0x02

CONNACK_REASONS = {
    1: 'unacceptable protocol version',
    2: 'client identifier rejected',
    3: 'server unavailable',
    4: 'bad user name or password',
    5: 'not authorized',
}


class MQTTException(Exception):
    """The broker refused or broke the protocol."""

    def __init__(self, message):
        super().__init__(message)


def as_bytes(value):
    return value if isinstance(value, (bytes, bytearray)) else str(value).encode()


def encode_string(value):
    """An MQTT UTF-8 string: 2-byte big-endian length, then the bytes."""
    data = as_bytes(value)
    return bytes((len(data) >> 8, len(data) & 0xFF)) + data


def encode_remaining_length(n):
    out = bytearray()
    while True:
        digit = n & 0x7F
        n >>= 7
        out.append(digit | 0x80 if n else digit)
        if not n:
            return bytes(out)


def packet(first_byte, body=b''):
    return bytes((first_byte,)) + encode_remaining_length(len(body)) + body


def id_packet(first_byte, pid):
    return bytes((first_byte, 2, pid >> 8, pid & 0xFF))


def split_header(data):
    """(first byte, remaining length, header size) of the packet data starts with, or None if cut short."""
    length = 0
    for i in range(1, min(len(data), 5)):
        length |= (data[i] & 0x7F) << (7 * (i - 1))
        if not data[i] & 0x80:
            return data[0], length, i + 1
    if len(data) >= 5:
        raise MQTTException('malformed remaining length')
    return None


class MQTTClient:
    """One connection to a broker."""

    def __init__(self, client_id, server, port=0, user=None, password=None, keepalive=0,
                 tls=None, timeout=SOCKET_TIMEOUT):
        if not 0 <= keepalive <= MAX_KEEPALIVE:
            raise ValueError('keepalive must be 0..%d' % MAX_KEEPALIVE)
        self.client_id = client_id
        self.server = server
        self.port = port or DEFAULT_PORT
        self.user = user
        self.pswd = password
        self.keepalive = keepalive
        self.tls = tls               # (mqtt_tls module, SSL context) or None
        self.timeout = timeout
        self.will = None
        self.sock = None
        self.raw = None
        self.pid = 0
        self.in_flight = {}          # packet id -> the acknowledgement awaited (PUBACK, PUBREC, PUBCOMP)
        self.remembered = []         # QoS 2 packet ids received, until their PUBREL
        self.suback = {}             # packet id -> the broker's return codes
        self.messages = []           # (topic, payload or None if too long, retain) for the owner
        self.dropped = 0             # broker's messages dropped: more than MAX_WAITING waited
        self.inbox = bytearray()
        self.skip = 0                # bytes still to skip of a packet longer than MAX_PACKET
        self.heard = False           # a packet came since the owner last cleared it (the broker lives)

    def set_last_will(self, topic, msg, retain=False, qos=0):
        """The message the broker publishes if this client vanishes without DISCONNECT."""
        self.will = (topic, msg, retain, qos)

    def fileno(self):
        """The socket's descriptor (CPython's TLS socket holds it; MicroPython's wraps the raw one)."""
        return (self.sock if hasattr(self.sock, 'fileno') else self.raw).fileno()

    # -- the socket ------------------------------------------------------------

    def connect(self, clean_session=True):
        """TCP (and TLS) then CONNECT, and the CONNACK; raises OSError, TlsError or MQTTException."""
        family, kind, proto, _name, address = socket.getaddrinfo(
            self.server, self.port, 0, socket.SOCK_STREAM)[0]
        self.raw = self.sock = socket.socket(family, kind, proto)
        self.raw.settimeout(self.timeout)
        try:
            self.raw.connect(address)
            if self.tls is not None:
                tls_module, context = self.tls
                self.sock = tls_module.wrap(context, self.raw, self.server)
            self._send(self.connect_packet(clean_session))
            kind, body = self._next_packet()
        except BaseException:
            self.close()
            raise
        if kind != CONNACK or len(body) != 2:
            self.close()
            raise MQTTException('expected CONNACK, got packet type 0x%02x' % kind)
        if body[1]:
            self.close()
            raise MQTTException('connection refused: %s' % CONNACK_REASONS.get(body[1], body[1]))
        return bool(body[0] & 1)

    def connect_packet(self, clean_session):
        flags = FLAG_CLEAN_SESSION if clean_session else 0
        payload = encode_string(self.client_id)
        if self.will is not None:
            topic, msg, retain, qos = self.will
            flags |= FLAG_WILL | qos << 3 | (FLAG_WILL_RETAIN if retain else 0)
            payload += encode_string(topic) + encode_string(msg)
        if self.user:
            flags |= FLAG_USER
            payload += encode_string(self.user)
            if self.pswd:
                flags |= FLAG_PASSWORD
                payload += encode_string(self.pswd)
        header = encode_string('MQTT') + bytes((4, flags, self.keepalive >> 8, self.keepalive & 0xFF))
        return packet(CONNECT, header + payload)

    def _send(self, data):
        sendall = getattr(self.sock, 'sendall', None)
        if sendall is not None:
            sendall(data)
            return
        view = memoryview(data)
        while view:
            sent = self.sock.write(view)
            if not sent:
                raise OSError(compat.ECONNRESET, 'the broker closed the connection')
            view = view[sent:]

    def _set_blocking(self, blocking):
        """Timeout mode (blocking, bounded) or non-blocking; MicroPython's TLS socket has no settimeout."""
        if blocking:
            (self.sock if hasattr(self.sock, 'settimeout') else self.raw).settimeout(self.timeout)
        else:
            self.sock.setblocking(False)

    def set_timeout(self, seconds):
        """Bound every later wait on the broker by seconds (a stop waits less)."""
        self.timeout = seconds
        self._set_blocking(True)

    def _would_block(self, exc):
        if compat.errno_of(exc) == compat.EAGAIN:
            return True
        return self.tls is not None and self.tls[0].would_block(exc)

    def _read(self, size):
        """Up to size bytes; None when none has come (non-blocking); OSError at the end of the stream."""
        recv = getattr(self.sock, 'recv', None) or self.sock.read
        try:
            data = recv(size)
        except OSError as exc:
            if self._would_block(exc):
                return None
            raise
        if data is not None and not data:
            raise OSError(compat.ECONNRESET, 'the broker closed the connection')
        return data

    # -- incoming packets ------------------------------------------------------

    def process_input(self):
        """Take what the broker sent (without waiting) and handle every whole packet."""
        chunks = []
        self._set_blocking(False)
        try:
            while True:
                data = self._read(READ_CHUNK)
                if data is None:
                    break
                chunks.append(data)
        finally:
            self._set_blocking(True)
        for data in chunks:
            self._take(data)
        self._handle_packets()

    def _next_packet(self):
        """Wait (bounded) for the next whole packet: (type, body). For the CONNACK."""
        while True:
            found = self._cut_packet()
            if found is not None:
                return found[0] & 0xF0, found[1]
            self._take(self._read(READ_CHUNK))

    def _wait_until(self, done, what):
        """Read and handle packets until done(); each read bounded by the timeout, and all of it."""
        deadline = compat.monotonic() + self.timeout
        self._handle_packets()
        while not done():
            if compat.monotonic() > deadline:
                raise OSError(compat.ETIMEDOUT, 'no %s from the broker in %d s' % (what, self.timeout))
            self._take(self._read(READ_CHUNK))
            self._handle_packets()

    def _take(self, data):
        if self.skip:
            skipped = min(self.skip, len(data))
            self.skip -= skipped
            data = data[skipped:]
        self.inbox += data

    def _cut_packet(self):
        """(first byte, body, whole) of the first packet in the inbox, or None; a packet past
        MAX_PACKET gives its first HEAD_KEPT bytes (whole=False) and the rest is skipped."""
        header = split_header(self.inbox)
        if header is None:
            return None
        first, length, size = header
        kept = length if length <= MAX_PACKET else HEAD_KEPT
        if len(self.inbox) < size + kept:
            return None
        body = bytes(self.inbox[size:size + kept])
        available = len(self.inbox) - size
        self.inbox = self.inbox[size + min(length, available):]
        self.skip = length - min(length, available)
        return first, body, kept == length

    def _handle_packets(self):
        while True:
            found = self._cut_packet()
            if found is None:
                return
            self.heard = True
            first, body, whole = found
            kind = first & 0xF0
            pid = body[0] << 8 | body[1] if len(body) >= 2 else 0
            if kind == PUBLISH:
                self._received(first, body, whole)
            elif kind in (PUBACK, PUBCOMP):
                self.in_flight.pop(pid, None)
            elif kind == PUBREC:
                self.in_flight[pid] = PUBCOMP
                self._send(id_packet(PUBREL | PUBREL_FLAGS, pid))
            elif kind == PUBREL:
                if pid in self.remembered:
                    self.remembered.remove(pid)
                self._send(id_packet(PUBCOMP, pid))
            elif kind == SUBACK:
                self.suback[pid] = body[2:]

    def _received(self, first, body, whole):
        """A PUBLISH from the broker: acknowledged at its QoS, kept once for the owner."""
        qos = first >> 1 & 3
        size = body[0] << 8 | body[1]
        topic = body[2:2 + size]
        at = 2 + size
        pid = body[at] << 8 | body[at + 1] if qos else 0
        payload = body[at + 2 if qos else at:] if whole else None
        new = True
        if qos == 2:
            new = pid not in self.remembered
            if new:
                self.remembered.append(pid)
                del self.remembered[:-MAX_REMEMBERED]
        if new:
            if len(self.messages) < MAX_WAITING:
                self.messages.append((topic.decode('latin-1'), payload, bool(first & 1)))
            else:
                self.dropped += 1
        if qos == 1:
            self._send(id_packet(PUBACK, pid))
        elif qos == 2:
            self._send(id_packet(PUBREC, pid))

    # -- outgoing --------------------------------------------------------------

    def _next_pid(self):
        while True:
            self.pid = self.pid % 0xFFFF + 1
            if self.pid not in self.in_flight and self.pid not in self.suback:
                return self.pid

    def _publish_head(self, topic, size, retain, qos):
        """The PUBLISH header for a payload of size bytes, counting it in flight at QoS 1 and 2."""
        if qos not in (0, 1, 2):
            raise ValueError('QoS must be 0, 1 or 2')
        if qos and len(self.in_flight) >= MAX_IN_FLIGHT:
            self._wait_until(lambda: len(self.in_flight) < MAX_IN_FLIGHT, 'acknowledgement')
        body = encode_string(topic)
        if qos:
            pid = self._next_pid()
            body += bytes((pid >> 8, pid & 0xFF))
            self.in_flight[pid] = PUBACK if qos == 1 else PUBREC
        first = PUBLISH | qos << 1 | (1 if retain else 0)
        return bytes((first,)) + encode_remaining_length(len(body) + size) + body

    def publish(self, topic, msg, retain=False, qos=0):
        """Send one message; a QoS 1 or 2 one is acknowledged later (process_input)."""
        msg = as_bytes(msg)
        self._send(self._publish_head(topic, len(msg), retain, qos) + msg)

    def publish_file(self, topic, f, size, retain=False, qos=0):
        """Send size bytes of an open file as one message, FILE_CHUNK at a time (an image)."""
        self._send(self._publish_head(topic, size, retain, qos))
        buf = bytearray(FILE_CHUNK)
        left = size
        while left:
            n = f.readinto(buf)
            if not n:
                raise OSError(compat.EIO, 'the file ended %d bytes early' % left)
            n = min(n, left)
            self._send(memoryview(buf)[:n])
            left -= n

    def subscribe(self, filters):
        """SUBSCRIBE [(topic filter, QoS)], waiting (bounded) for the SUBACK; the granted QoS list."""
        pid = self._next_pid()
        body = bytes((pid >> 8, pid & 0xFF))
        for topic, qos in filters:
            body += encode_string(topic) + bytes((qos,))
        self._send(packet(SUBSCRIBE | SUBSCRIBE_FLAGS, body))
        self._wait_until(lambda: pid in self.suback, 'SUBACK')
        return list(self.suback.pop(pid))

    def ping(self):
        self._send(packet(PINGREQ))

    def disconnect(self):
        """Say goodbye (the broker then drops the will), and close once the broker has.

        Closing first, with an acknowledgement of ours unread, would reset the
        connection, and a broker that meets the reset before reading the
        DISCONNECT publishes the will after our own goodbye.
        """
        try:
            self._send(packet(DISCONNECT))
            deadline = compat.monotonic() + self.timeout
            while compat.monotonic() < deadline:
                self._read(READ_CHUNK)   # dropped; OSError at the broker's close, or on timeout
        except OSError:
            pass
        finally:
            self.close()

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = self.raw = None

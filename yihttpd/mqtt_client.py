"""A small MQTT 3.1.1 client with umqtt.simple's API, for runtimes without it.

The bridge (mqtt.py) uses `umqtt.simple` when the camera's micropython-lib
has it and this module otherwise; both are driven through the same calls:
MQTTClient(client_id, server, port, user, password, keepalive),
set_last_will, connect, publish (QoS 0, or 1 waiting for the PUBACK), ping,
check_msg, disconnect and the `sock` attribute. Only what a publisher needs
is here: no subscriptions, no QoS 2, no TLS.

Calls block like umqtt.simple's, but every socket wait is bounded by
SOCKET_TIMEOUT, so a broker that stops answering raises OSError instead
of hanging the bridge.
"""
import socket

from . import compat

DEFAULT_PORT = 1883
SOCKET_TIMEOUT = 10.0      # seconds any single wait on the broker may take
MAX_REMAINING_LENGTH = 4096  # bytes of an incoming packet body; a publisher only gets small acks
MAX_KEEPALIVE = 65535      # the CONNECT field is 16 bits

# Fixed-header packet types (high nibble)
CONNECT = 0x10
CONNACK = 0x20
PUBLISH = 0x30
PUBACK = 0x40
PINGREQ = 0xC0
PINGRESP = 0xD0
DISCONNECT = 0xE0

# CONNECT flag bits
FLAG_USER = 0x80
FLAG_PASSWORD = 0x40
FLAG_WILL_RETAIN = 0x20
FLAG_WILL = 0x04
FLAG_CLEAN_SESSION = 0x02

CONNACK_REASONS = {
    1: 'unacceptable protocol version',
    2: 'client identifier rejected',
    3: 'server unavailable',
    4: 'bad user name or password',
    5: 'not authorized',
}


class MQTTException(Exception):
    """The broker refused or broke the protocol (umqtt.simple's name)."""

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


class MQTTClient:
    """One connection to a broker, umqtt.simple style."""

    def __init__(self, client_id, server, port=0, user=None, password=None, keepalive=0):
        if not 0 <= keepalive <= MAX_KEEPALIVE:
            raise ValueError('keepalive must be 0..%d' % MAX_KEEPALIVE)
        self.client_id = client_id
        self.server = server
        self.port = port or DEFAULT_PORT
        self.user = user
        self.pswd = password
        self.keepalive = keepalive
        self.sock = None
        self.pid = 0
        self.lw_topic = None
        self.lw_msg = None
        self.lw_qos = 0
        self.lw_retain = False

    def set_last_will(self, topic, msg, retain=False, qos=0):
        """The message the broker publishes if this client vanishes without DISCONNECT."""
        if not topic:
            raise ValueError('the will needs a topic')
        if qos not in (0, 1, 2):
            raise ValueError('bad will QoS')
        self.lw_topic = topic
        self.lw_msg = msg
        self.lw_qos = qos
        self.lw_retain = retain

    # -- socket helpers ------------------------------------------------------

    def _send(self, data):
        view = memoryview(data)
        while view:
            sent = self.sock.send(view)
            view = view[sent:]

    def _recv_exact(self, n):
        data = b''
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise OSError(compat.ECONNRESET, 'the broker closed the connection')
            data += chunk
        return data

    def _read_packet_rest(self, first_byte):
        """The body of a packet whose first byte was read; (type, body)."""
        length = 0
        shift = 0
        while True:
            digit = self._recv_exact(1)[0]
            length |= (digit & 0x7F) << shift
            if not digit & 0x80:
                break
            shift += 7
            if shift > 21:
                raise MQTTException('malformed remaining length')
        if length > MAX_REMAINING_LENGTH:
            raise MQTTException('packet of %d bytes from the broker' % length)
        return first_byte & 0xF0, self._recv_exact(length) if length else b''

    # -- the umqtt.simple API -----------------------------------------------

    def connect(self, clean_session=True):
        """Open the TCP connection and send CONNECT; True if the broker kept a session."""
        family, kind, proto, _name, address = socket.getaddrinfo(
            self.server, self.port, 0, socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.settimeout(SOCKET_TIMEOUT)
        self.sock = sock
        try:
            sock.connect(address)
            self._send(self.connect_packet(clean_session))
            kind, body = self._read_packet_rest(self._recv_exact(1)[0])
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
        if self.lw_topic:
            flags |= FLAG_WILL | self.lw_qos << 3 | (FLAG_WILL_RETAIN if self.lw_retain else 0)
            payload += encode_string(self.lw_topic) + encode_string(self.lw_msg)
        if self.user:
            flags |= FLAG_USER
            payload += encode_string(self.user)
            if self.pswd:
                flags |= FLAG_PASSWORD
                payload += encode_string(self.pswd)
        header = encode_string('MQTT') + bytes((4, flags, self.keepalive >> 8, self.keepalive & 0xFF))
        return packet(CONNECT, header + payload)

    def publish(self, topic, msg, retain=False, qos=0):
        """Send one message; with qos=1 wait (bounded) for the broker's PUBACK."""
        if qos not in (0, 1):
            raise ValueError('only QoS 0 and 1 are supported')
        body = encode_string(topic)
        if qos:
            self.pid = self.pid % 0xFFFF + 1
            body += bytes((self.pid >> 8, self.pid & 0xFF))
        body += as_bytes(msg)
        self._send(packet(PUBLISH | qos << 1 | (1 if retain else 0), body))
        if qos:
            self.wait_for_puback(self.pid)

    def wait_for_puback(self, pid):
        while True:
            kind, body = self._read_packet_rest(self._recv_exact(1)[0])
            if kind == PUBACK and len(body) == 2 and (body[0] << 8 | body[1]) == pid:
                return

    def ping(self):
        self._send(packet(PINGREQ))

    def wait_msg(self):
        """Read one packet (blocking, bounded); its type, or None for a PINGRESP."""
        return self._packet_kind(self._recv_exact(1)[0])

    def _packet_kind(self, first_byte):
        kind, _body = self._read_packet_rest(first_byte)
        return None if kind == PINGRESP else kind

    def check_msg(self):
        """Like wait_msg, but None at once when nothing has arrived."""
        self.sock.setblocking(False)
        try:
            first = self.sock.recv(1)
        except OSError as exc:
            if compat.errno_of(exc) == compat.EAGAIN:
                return None
            raise
        finally:
            self.sock.settimeout(SOCKET_TIMEOUT)
        if not first:
            raise OSError(compat.ECONNRESET, 'the broker closed the connection')
        return self._packet_kind(first[0])

    def disconnect(self):
        """Say goodbye (the broker then drops the will) and close the socket."""
        try:
            self._send(packet(DISCONNECT))
        finally:
            self.close()

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

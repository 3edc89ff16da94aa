"""TLS to the broker (MQTT_TLS=1), on both runtimes: CPython's ssl (OpenSSL)
and MicroPython 1.26.1's (mbedtls).

As the firmware's mqttv4 and mqtt-config: the broker's certificate must
verify against etc/mqtt/ca.crt, and etc/mqtt/client.crt with client.key
are shown to the broker when both are there. The certificate must also
name MQTT_IP (as mosquitto_pub, which the firmware's scripts use, checks
it; mbedtls checks the name whenever it verifies). The handshake is done
before a byte of MQTT is sent, so a broker that fails it never sees the
CONNECT and its user name and password.

The camera's mbedtls is built without PEM parsing: certificates and keys
are turned from PEM into DER here (the bytes between the BEGIN and END
lines are base64 DER).
"""
import binascii

try:
    import tls as ssl    # MicroPython's own TLS module (its frozen ssl.py, a thin wrapper, is not
    OPENSSL = False      # on the path when MICROPYPATH is set, as the start script sets it)
except ImportError:
    try:
        import ssl
        OPENSSL = True
    except ImportError:  # a MicroPython built without TLS
        ssl = None
        OPENSSL = False

CA_CERT = '/yi-hack/etc/mqtt/ca.crt'        # under the SD root, as the firmware's
CLIENT_CERT = '/yi-hack/etc/mqtt/client.crt'
CLIENT_KEY = '/yi-hack/etc/mqtt/client.key'
MAX_PEM = 65536          # bytes of a certificate or key file: a chain of a few certificates is far less
PEM_BEGIN = '-----BEGIN '
PEM_END = '-----END '
WOULD_BLOCK = tuple(getattr(ssl, name) for name in ('SSLWantReadError', 'SSLWantWriteError')
                    if hasattr(ssl, name))


class TlsError(Exception):
    """No TLS connection: the files, the certificate or the handshake, and why."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def read_file(path):
    from .conf import read_small
    try:
        return read_small(path, MAX_PEM)
    except (OSError, ValueError) as err:
        raise TlsError('cannot read %s: %s' % (path, err))


def der_blocks(path):
    """The DER bytes of each PEM block of a file (a CA file may hold several certificates)."""
    blocks = []
    inside = None
    for line in read_file(path).decode('latin-1').split('\n'):
        line = line.strip()
        if line.startswith(PEM_BEGIN):
            inside = []
        elif line.startswith(PEM_END) and inside is not None:
            try:
                blocks.append(binascii.a2b_base64(''.join(inside)))
            except ValueError:
                raise TlsError('%s: a PEM block is not base64' % path)
            inside = None
        elif inside is not None:
            inside.append(line)
    if not blocks:
        raise TlsError('%s holds no PEM certificate or key' % path)
    return blocks


def present(path):
    try:
        open(path, 'rb').close()
        return True
    except OSError:
        return False


def make_context(root):
    """An SSL context for the broker, from the card's etc/mqtt files; TlsError when they do not do."""
    if ssl is None:
        raise TlsError('this runtime has no TLS (no ssl or tls module)')
    ca, cert, key = root + CA_CERT, root + CLIENT_CERT, root + CLIENT_KEY
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.verify_mode = ssl.CERT_REQUIRED
    try:
        for der in der_blocks(ca):
            if OPENSSL:
                context.load_verify_locations(cadata=der)
            else:   # tls takes the DER bytes as its one argument
                context.load_verify_locations(der)
        if present(cert) and present(key):
            if OPENSSL:   # OpenSSL reads the PEM files itself
                context.load_cert_chain(cert, key)
            else:
                context.load_cert_chain(der_blocks(cert)[0], der_blocks(key)[0])
    except (ValueError, OSError) as err:   # ssl.SSLError is an OSError
        raise TlsError('%s or the client certificate: %s' % (ca, err))
    return context


def wrap(context, sock, host):
    """sock (connected, with its timeout) after a verified handshake; TlsError saying why not."""
    try:
        return context.wrap_socket(sock, server_hostname=host)
    except (ValueError, OSError) as err:
        reason = str(err).strip() or repr(err)
        raise TlsError('TLS handshake with %s failed: %s' % (host, reason))


def would_block(exc):
    """Whether a read or write on a non-blocking TLS socket just has nothing to do yet."""
    return isinstance(exc, WOULD_BLOCK)

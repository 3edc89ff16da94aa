"""python3 -m yihttpd.mqtt --root DIR: the motion-event bridge to an MQTT broker.

Runs as its own process (like the firmware's mqttv4), so a broker that
hangs never freezes the web server; service.sh?name=mqtt starts and stops
it, and mqttv4.conf is read once at start. Also runs as
`micropython -m yihttpd.mqtt` with MICROPYPATH at the checkout.

One thread, one poll: the event source (events.py) and the broker socket
are watched by the loop; pings and reconnect waits are the loop's timers.
After connecting (with the will WILL_MSG on PREFIX/TOPIC_BIRTH_WILL) it
publishes BIRTH_MSG there; each camera event read from the IPC copy queue
becomes one message on its topic; unknown messages are ignored. When the
broker goes away it reconnects with a growing wait and publishes the birth
again. Events read while no broker is connected are dropped (and logged):
they describe a moment that has passed. On SIGTERM (where the runtime
has signals) it publishes the will itself and disconnects.
"""
import sys

from . import checks, cli, compat, conf, events, ipc
from .loop import POLLIN, Loop

try:
    from umqtt.simple import MQTTClient
except ImportError:   # no micropython-lib umqtt here: the project's own client
    from .mqtt_client import MQTTClient

DEFAULT_ROOT = '/tmp/sd'
DEFAULT_EVENTS = '/ipc_dispatch_1'
BACKOFF_MIN = 1.0      # seconds before the first reconnect attempt
BACKOFF_MAX = 30.0     # seconds between attempts at most, so a returning broker is found soon
DEFAULT_PORT = 1883
DEFAULT_KEEPALIVE = 120
MAX_KEEPALIVE = 65535  # the CONNECT field is 16 bits
GOODBYE_TIMEOUT = 2.0  # seconds a stopping bridge waits on the broker, so a stop is never slow

OPTIONS = (
    ('--root', str, DEFAULT_ROOT, 'SD card root; the settings are ROOT/yi-hack/etc/mqttv4.conf'),
    ('--ipc-events', str, DEFAULT_EVENTS,
     'event source: a POSIX queue (/name) or a FIFO/file of length-framed messages'),
)

# ipc.event_name -> (topic key, message key, retain key) in mqttv4.conf
EVENT_KEYS = {
    'motion_start': ('TOPIC_MOTION', 'MOTION_START_MSG', 'MQTT_RETAIN_MOTION'),
    'motion_stop': ('TOPIC_MOTION', 'MOTION_STOP_MSG', 'MQTT_RETAIN_MOTION'),
    'ai_human_detected': ('TOPIC_AI_HUMAN_DETECTION', 'AI_HUMAN_DETECTION_MSG', 'MQTT_RETAIN_AI_HUMAN_DETECTION'),
    'sound_detected': ('TOPIC_SOUND_DETECTION', 'SOUND_DETECTION_MSG', 'MQTT_RETAIN_SOUND_DETECTION'),
    'baby_crying': ('TOPIC_BABY_CRYING', 'BABY_CRYING_MSG', 'MQTT_RETAIN_BABY_CRYING'),
}


def log(line):
    sys.stderr.write('yihttpd.mqtt: %s\n' % line)


class ConfigError(Exception):
    def __init__(self, message):
        super().__init__(message)


def conf_int(values, key, default, low, high):
    raw = values.get(key, '').strip()
    if not raw:
        return default
    value = checks.number(raw, low, high)
    if value is None:
        raise ConfigError('%s=%s: expected a number from %d to %d' % (key, raw, low, high))
    return value


class Settings:
    """What the bridge needs from mqttv4.conf, checked once at start."""

    def __init__(self, values):
        self.host = values.get('MQTT_IP', '').strip()
        if self.host in ('', '0.0.0.0'):
            raise ConfigError('no broker configured (MQTT_IP is empty)')
        self.port = conf_int(values, 'MQTT_PORT', DEFAULT_PORT, 1, 65535)
        self.keepalive = conf_int(values, 'MQTT_KEEPALIVE', DEFAULT_KEEPALIVE, 0, MAX_KEEPALIVE)
        self.qos = conf_int(values, 'MQTT_QOS', 1, 0, 2)
        if self.qos == 2:
            log('MQTT_QOS=2 is not supported: using 1 (at least once)')
            self.qos = 1
        self.client_id = values.get('MQTT_CLIENT_ID', '') or 'yi-cam'
        self.user = values.get('MQTT_USER', '') or None
        self.password = values.get('MQTT_PASSWORD', '') or None
        self.prefix = values.get('MQTT_PREFIX', '')
        self.status_topic = self.topic(values.get('TOPIC_BIRTH_WILL', '') or 'status')
        self.birth = values.get('BIRTH_MSG', 'online')
        self.will = values.get('WILL_MSG', 'offline')
        self.retain_status = values.get('MQTT_RETAIN_BIRTH_WILL', '0') == '1'
        self.routes = {}   # event name -> (topic, message, retain)
        for name, (topic_key, message_key, retain_key) in EVENT_KEYS.items():
            topic = values.get(topic_key, '')
            if topic and message_key in values:
                self.routes[name] = (self.topic(topic), values[message_key].encode(),
                                     values.get(retain_key, '0') == '1')

    def topic(self, name):
        return (self.prefix + '/' + name if self.prefix else name).encode()


class Bridge:
    """Keeps one broker connection up and turns camera events into messages."""

    def __init__(self, settings, loop):
        self.settings = settings
        self.loop = loop
        self.client = None
        self.backoff = BACKOFF_MIN
        self.ping_timer = None
        self.awaiting_pong = False

    def connect(self):
        s = self.settings
        client = MQTTClient(s.client_id, s.host, s.port, s.user, s.password, s.keepalive)
        client.set_last_will(s.status_topic, s.will.encode(), s.retain_status, s.qos)
        try:
            client.connect()
            client.publish(s.status_topic, s.birth.encode(), s.retain_status, s.qos)
        except Exception as exc:
            close_quietly(client)
            log('broker %s:%d unreachable (%s); next try in %d s' % (s.host, s.port, exc, self.backoff))
            self.retry_later()
            return
        log('connected to %s:%d as %s, birth published' % (s.host, s.port, s.client_id))
        self.client = client
        self.backoff = BACKOFF_MIN
        self.awaiting_pong = False
        self.loop.register(client.sock.fileno(), POLLIN, self.on_broker)
        if s.keepalive:
            self.schedule_ping()

    def retry_later(self):
        """Connect again after the backoff wait, which doubles up to BACKOFF_MAX."""
        self.loop.call_later(self.backoff, self.connect)
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)

    def lost(self, reason):
        """Drop the connection and try again after the backoff wait."""
        log('connection lost (%s); reconnecting in %d s' % (reason, self.backoff))
        self.close_connection()
        self.retry_later()

    def close_connection(self):
        if self.ping_timer is not None:
            self.ping_timer.cancel()
            self.ping_timer = None
        if self.client is not None:
            self.loop.unregister(self.client.sock.fileno())
            close_quietly(self.client)
            self.client = None

    def on_broker(self, _events):
        """Something (a PINGRESP, or the end of the connection) came from the broker."""
        try:
            self.client.check_msg()
        except Exception as exc:
            self.lost(exc)
            return
        self.awaiting_pong = False

    def ping(self):
        """Keep the session alive; a ping left unanswered for keepalive/2 means the broker is gone."""
        self.ping_timer = None
        if self.awaiting_pong:
            self.lost('no answer to the last ping')
            return
        try:
            self.client.ping()
        except Exception as exc:
            self.lost(exc)
            return
        self.awaiting_pong = True
        self.schedule_ping()

    def schedule_ping(self):
        self.ping_timer = self.loop.call_later(self.settings.keepalive / 2, self.ping)

    def on_message(self, message):
        """One message from the event source: publish it if it is a known event."""
        name = ipc.event_name(message)
        route = self.settings.routes.get(name)
        if route is None:
            return
        topic, payload, retain = route
        if self.client is None:
            log('not connected: dropped %s' % name)
            return
        try:
            self.client.publish(topic, payload, retain, self.settings.qos)
        except Exception as exc:
            self.lost(exc)
            return
        if self.settings.qos:
            # The PUBACK proves the broker alive, and a PINGRESP that came
            # before it was consumed by the publish's own wait.
            self.awaiting_pong = False
        log('published %s %s' % (topic.decode(), payload.decode()))

    def say_goodbye(self):
        """A clean stop: publish the will ourselves (DISCONNECT cancels it), then disconnect."""
        client = self.client
        if client is None:
            return
        s = self.settings
        try:
            client.sock.settimeout(GOODBYE_TIMEOUT)
            client.publish(s.status_topic, s.will.encode(), s.retain_status, s.qos)
            client.disconnect()
        except Exception:
            close_quietly(client)
        self.client = None


def close_quietly(client):
    """Close a client's socket whatever state it is in (umqtt.simple has no close())."""
    sock = client.sock
    if sock is not None:
        try:
            sock.close()
        except OSError:
            pass


def main(argv):
    options = cli.parse(argv, OPTIONS, 'yihttpd.mqtt')
    conf_path = options.root + '/yi-hack/etc/mqttv4.conf'
    try:
        settings = Settings(conf.read_conf(conf_path))
    except ConfigError as err:
        log('%s: %s' % (conf_path, err))
        sys.exit(2)
    loop = Loop()
    bridge = Bridge(settings, loop)
    try:
        source = events.open_source(options.ipc_events, loop, bridge.on_message)
    except (OSError, ValueError) as exc:
        log('cannot read events from %s: %s' % (options.ipc_events, exc))
        sys.exit(1)
    log('reading events from %s' % options.ipc_events)
    compat.exit_on_sigterm()
    try:
        bridge.connect()
        loop.run()
    except (KeyboardInterrupt, SystemExit):
        log('stopping')
    finally:
        bridge.say_goodbye()
        source.close()


if __name__ == '__main__':
    main(sys.argv[1:])

"""python3 -m yihttpd.mqtt --root DIR: all that the firmware's MQTT programs
do, in one process (mqttv4, mqtt-config, the mqtt_advertise scripts).

Runs as its own process, so a broker that hangs never freezes the web
server; the start script (or service.sh?name=mqtt) runs it. The confs are
read once at start (mqtt_conf.py). One thread, one poll: the camera's
copy queue and the broker socket are watched by the loop; pings,
reconnect waits, the motion image and files, and the advertise schedule
are the loop's timers. What each part does:
- mqtt_events.py: camera events and settings seen on the queue -> messages
  (mqttv4), camera.conf kept in step;
- mqtt_settings.py: PREFIX/cmnd/FILE/PARAM and camera_setting/+/set ->
  the web server's own rules (mqtt-config, mqtt_set_config.sh);
- mqtt_advertise.py: Home Assistant discovery, telemetry, info, links,
  camera settings, the conf dumps (mqtt_advertise, conf2mqtt.sh).
This module keeps the broker connection: CONNECT with the will, the birth,
pings, reconnects with a growing wait (events read meanwhile are dropped
and counted: they describe a moment that has passed), and on SIGTERM
(where the runtime has signals) the will published by the bridge itself.
With MQTT other than yes in system.conf there is no broker, as with the
firmware's mqttv4: camera.conf is still kept in step with the camera.
"""
import sys

from . import cli, compat, events
from .loop import POLLIN, Loop
from .mqtt_client import MQTTClient
from .mqtt_conf import ConfigError, MqttConf

DEFAULT_ROOT = '/tmp/sd'
# The multiplexer copies every camera message to /ipc_dispatch_1..9, one reader each:
# mqttv4 reads 1, ipc2file (ONVIF events) 2; the bridge reads the last (docs/IPC.md).
DEFAULT_EVENTS = '/ipc_dispatch_9'
BACKOFF_MIN = 1.0      # seconds before the first reconnect attempt
BACKOFF_MAX = 30.0     # seconds between attempts at most, so a returning broker is found soon
GOODBYE_TIMEOUT = 2.0  # seconds a stopping bridge waits on the broker, so a stop is never slow
STATS_INTERVAL = 0.5   # seconds between heap samples with --stats

OPTIONS = (
    ('--root', str, DEFAULT_ROOT, 'SD card root; the confs are ROOT/yi-hack/etc/*.conf'),
    ('--ipc-events', str, DEFAULT_EVENTS,
     'camera messages: a POSIX queue (/name) or a FIFO/file of length-framed messages'),
    ('--ipc-queue', str, '/ipc_dispatch', 'the camera command queue'),
    ('--ipc-cmd', str, None, 'the firmware ipc_cmd tool (default ROOT/yi-hack/bin/ipc_cmd)'),
    ('--grabber', str, None, 'the frame grabber (default ROOT/yi-hack/bin/imggrabber)'),
    ('--homever', str, '/home/homever', 'the vendor firmware version file (AI rules, files time)'),
    ('--tmp-dir', str, '/tmp', 'where the motion image and other scratch files go'),
    ('--files-delay', float, 70.0, 'seconds after a motion stop before its files are listed'),
    ('--stats', cli.FLAG, False, 'log the heap high-water mark (MicroPython; for bench/)'),
)


def log(line):
    sys.stderr.write('yihttpd.mqtt: %s\n' % line)


class Bridge:
    """Keeps one broker connection up; the other parts publish through it."""

    def __init__(self, settings, loop, root):
        self.settings = settings
        self.loop = loop
        self.root = root
        self.client = None
        self.backoff = BACKOFF_MIN
        self.ping_timer = None
        self.awaiting_pong = False
        self.connects = 0
        self.dropped = 0
        self.status_topic = settings.topic('TOPIC_BIRTH_WILL')
        self.subscriptions = []     # (topic filter, QoS) asked at each connect
        self.on_connected = []      # fn(first) after each connect, once subscribed
        self.on_message = None      # fn(topic, payload or None, retain) for the broker's messages

    def start(self):
        s = self.settings
        if not s.enabled:
            log('MQTT is not yes in system.conf: no broker; camera.conf is still kept in step')
            return
        self.connect()

    def connect(self):
        s = self.settings
        tls = None
        if s.tls:
            from . import mqtt_tls
            try:
                tls = (mqtt_tls, mqtt_tls.make_context(self.root))
            except mqtt_tls.TlsError as err:
                self.failed('TLS not set up (%s)' % err.message)
                return
        client = MQTTClient(s.client_id, s.host, s.port, s.user, s.password, s.keepalive, tls)
        if self.status_topic:
            client.set_last_will(self.status_topic, s.program('WILL_MSG'), s.retain('MQTT_RETAIN_BIRTH_WILL'), s.qos)
        try:
            client.connect()
            self.client = client   # from now on a stop says goodbye on it
            if self.status_topic:
                client.publish(self.status_topic, s.program('BIRTH_MSG'), s.retain('MQTT_RETAIN_BIRTH_WILL'), s.qos)
            if self.subscriptions:
                granted = client.subscribe(self.subscriptions)
                if 0x80 in granted:
                    log('the broker refused a subscription: %s' % self.subscriptions)
        except Exception as exc:
            self.client = None
            client.close()
            self.failed(str(exc) or repr(exc))
            return
        self.connects += 1
        self.backoff = BACKOFF_MIN
        self.awaiting_pong = False
        log('connected to %s:%d%s as %s, birth published' % (s.host, s.port, ' (TLS)' if tls else '', s.client_id))
        self.loop.register(client.fileno(), POLLIN, self.on_broker)
        if s.keepalive:
            self.schedule_ping()
        for hook in self.on_connected:
            hook(self.connects == 1)
        self.take_messages()   # retained commands that came with the SUBACK

    def failed(self, reason):
        s = self.settings
        log('broker %s:%d: %s; next try in %d s' % (s.host, s.port, reason, self.backoff))
        self.retry_later()

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
            self.loop.unregister(self.client.fileno())
            self.client.close()
            self.client = None

    def on_broker(self, _events):
        """Packets (or the end of the connection) came from the broker."""
        client = self.client
        try:
            client.process_input()
        except Exception as exc:
            self.lost(exc)
            return
        self.take_messages()

    def take_messages(self):
        client = self.client
        while client is not None and client.messages:
            topic, payload, retain = client.messages.pop(0)
            if self.on_message is not None:
                self.on_message(topic, payload, retain)

    def ping(self):
        """Keep the session alive: no packet since the last ping (keepalive/2 ago) means the broker is gone."""
        self.ping_timer = None
        client = self.client
        if self.awaiting_pong and not client.heard:
            self.lost('no answer to the last ping')
            return
        client.heard = False
        try:
            client.ping()
        except Exception as exc:
            self.lost(exc)
            return
        self.awaiting_pong = True
        self.schedule_ping()

    def schedule_ping(self):
        self.ping_timer = self.loop.call_later(self.settings.keepalive / 2, self.ping)

    def publish(self, topic, payload, retain, qos=None, size=None):
        """Publish bytes or text (or an open file of size bytes) at the conf's QoS unless told;
        False when not connected (dropped and counted) or the topic is EMPTY_TOPIC."""
        if topic is None:
            return False
        client = self.client
        if client is None:
            self.dropped += 1
            if self.settings.enabled:
                log('not connected: dropped a message for %s (%d dropped so far)' % (topic, self.dropped))
            return False
        qos = self.settings.qos if qos is None else qos
        try:
            if size is None:
                client.publish(topic, payload, retain, qos)
            else:
                client.publish_file(topic, payload, size, retain, qos)
        except Exception as exc:
            self.lost(exc)
            return False
        self.take_messages()   # the broker's messages read while waiting for room
        return True

    def say_goodbye(self):
        """A clean stop: publish the will ourselves (DISCONNECT cancels it), then disconnect."""
        client = self.client
        if client is None:
            return
        s = self.settings
        try:
            client.set_timeout(GOODBYE_TIMEOUT)
            if self.status_topic:
                client.publish(self.status_topic, s.program('WILL_MSG'), s.retain('MQTT_RETAIN_BIRTH_WILL'), s.qos)
            client.disconnect()
        except Exception:
            client.close()
        self.client = None


class HeapStats:
    """--stats: each new high-water mark of live heap, sampled after a collection (MicroPython)."""

    def __init__(self, loop):
        self.loop = loop
        self.peak = 0
        self.sample()

    def sample(self):
        compat.gc_collect()
        used = compat.heap_used()
        if used is not None and used > self.peak:
            self.peak = used
            log('stats heap_peak=%d' % used)
        self.loop.call_later(STATS_INTERVAL, self.sample)


def main(argv):
    options = cli.parse(argv, OPTIONS, 'yihttpd.mqtt')
    try:
        settings = MqttConf(options.root + '/yi-hack/etc')
    except ConfigError as err:
        log('%s/yi-hack/etc: %s' % (options.root, err.message))
        sys.exit(2)
    from .mqtt_advertise import Advertiser
    from .mqtt_events import EventPublisher
    from .mqtt_settings import CameraLink, SettingsCommands
    loop = Loop()
    bridge = Bridge(settings, loop, options.root)
    camera = CameraLink(loop, options, log)
    advertiser = Advertiser(bridge, settings, options, log)
    publisher = EventPublisher(bridge, settings, camera, options, log)
    SettingsCommands(bridge, settings, camera, advertiser, options, log)
    try:
        source = events.open_source(options.ipc_events, loop, publisher.on_message)
    except (OSError, ValueError) as exc:
        log('cannot read events from %s: %s' % (options.ipc_events, exc))
        sys.exit(1)
    log('reading camera messages from %s' % options.ipc_events)
    if options.stats:
        HeapStats(loop)
    compat.exit_on_sigterm()
    try:
        bridge.start()
        loop.run()
    except (KeyboardInterrupt, SystemExit):
        log('stopping')
    finally:
        bridge.say_goodbye()
        source.close()


if __name__ == '__main__':
    main(sys.argv[1:])

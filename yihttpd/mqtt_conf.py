"""What the MQTT bridge does, read from the firmware's own confs as its
programs read them: mqttv4.conf (mqttv4, mqtt-config), mqtt_advertise.conf
(the mqtt_advertise scripts) and system.conf (MQTT=yes gates the broker).

Defaults, as a camera has them:
- a key missing from a file takes the value the firmware's check_conf.sh
  scripts add at boot (CHECK_CONF, ADVERTISE_CHECK_CONF), since on a
  camera they run before any MQTT program starts;
- a key present but empty takes mqttv4's built-in default (PROGRAM) where
  mqttv4 reads it (its parser skips an empty value), and stays empty
  where only the shell scripts read it (they `grep` the line);
- a topic ending in EMPTY_TOPIC (mqttv4's word for "none") is never
  published to.
"""
from . import checks, conf
from .conf_rules import MOST_IMAGE_DELAY, is_image_delay

EMPTY_TOPIC = 'EMPTY_TOPIC'
MAX_KEEPALIVE = 65535      # the CONNECT field is 16 bits
CLIENT_ID_SUFFIX = '_yihttpd'   # the firmware's mqttv4 keeps MQTT_CLIENT_ID (mqtt-config adds _c):
                                # a different id, so that neither ever drops the other's session

# check_conf.sh's PARMS3: what a camera's mqttv4.conf holds for a key it lacked at boot.
CHECK_CONF = {
    'MQTT_IP': '0.0.0.0', 'MQTT_PORT': '1883', 'MQTT_TLS': '0', 'MQTT_CLIENT_ID': 'yi-cam',
    'MQTT_USER': '', 'MQTT_PASSWORD': '', 'MQTT_PREFIX': 'yicam', 'TOPIC_BIRTH_WILL': 'status',
    'TOPIC_MOTION': 'motion_detection', 'TOPIC_MOTION_IMAGE': 'motion_detection_image',
    'MOTION_IMAGE_DELAY': '0.5', 'TOPIC_MOTION_FILES': 'motion_files',
    'TOPIC_SOUND_DETECTION': 'sound_detection', 'BIRTH_MSG': 'online', 'WILL_MSG': 'offline',
    'MOTION_START_MSG': 'motion_start', 'MOTION_STOP_MSG': 'motion_stop',
    'AI_HUMAN_DETECTION_MSG': 'human', 'AI_VEHICLE_DETECTION_MSG': 'vehicle',
    'AI_ANIMAL_DETECTION_MSG': 'animal', 'BABY_CRYING_MSG': 'crying',
    'SOUND_DETECTION_MSG': 'sound_detected', 'MQTT_KEEPALIVE': '120', 'MQTT_QOS': '1',
    'MQTT_RETAIN_BIRTH_WILL': '1', 'MQTT_RETAIN_MOTION': '0', 'MQTT_RETAIN_MOTION_IMAGE': '0',
    'MQTT_RETAIN_MOTION_FILES': '0', 'MQTT_RETAIN_SOUND_DETECTION': '0',
}
# mqttv4's own defaults (init_mqttv4_config, mqtt_init_conf), for an empty value: these differ
# from check_conf.sh's, and it has none for the topics (EMPTY_TOPIC), the user and the password.
PROGRAM = dict(CHECK_CONF, MQTT_IP='127.0.0.1', SOUND_DETECTION_MSG='sound', MQTT_RETAIN_MOTION='1',
               MQTT_RETAIN_MOTION_IMAGE='1', MQTT_RETAIN_MOTION_FILES='1', MQTT_RETAIN_SOUND_DETECTION='1')
for key in ('TOPIC_BIRTH_WILL', 'TOPIC_MOTION', 'TOPIC_MOTION_IMAGE', 'TOPIC_MOTION_FILES',
            'TOPIC_SOUND_DETECTION', 'MQTT_USER', 'MQTT_PASSWORD'):
    del PROGRAM[key]
# mqtt_advertise/check_conf.sh's PARMS1, by group: (ENABLE, BOOT, CRON, CRONTAB, TOPIC, RETAIN, QOS).
ADVERTISE_GROUPS = {
    'MQTT_ADV_LINK': ('no', 'no', 'no', '', 'links', '1', '0'),
    'MQTT_ADV_INFO_GLOBAL': ('no', 'no', 'no', '', 'info_global', '1', '0'),
    'MQTT_ADV_CAMERA_SETTING': ('no', 'no', 'no', '', 'camera_setting', '1', '0'),
    'MQTT_ADV_TELEMETRY': ('no', 'no', 'no', '', 'telemetry', '1', '0'),
}
GROUP_FIELDS = ('ENABLE', 'BOOT', 'CRON', 'CRONTAB', 'TOPIC', 'RETAIN', 'QOS')
ADVERTISE_CHECK_CONF = {
    'HOMEASSISTANT_ENABLE': 'no', 'HOMEASSISTANT_BOOT': 'no', 'HOMEASSISTANT_CRON': 'no',
    'HOMEASSISTANT_CRONTAB': '', 'HOMEASSISTANT_MQTT_PREFIX': 'homeassistant',
    'HOMEASSISTANT_NAME': '', 'HOMEASSISTANT_IDENTIFIERS': 'yi-cam', 'HOMEASSISTANT_MANUFACTURER': 'YI',
    'HOMEASSISTANT_MODEL': '', 'HOMEASSISTANT_RETAIN': '1', 'HOMEASSISTANT_QOS': '0',
}
for group, values in ADVERTISE_GROUPS.items():
    for field, value in zip(GROUP_FIELDS, values):
        ADVERTISE_CHECK_CONF[group + '_' + field] = value


class ConfigError(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


def script_qos(text):
    """A script's -q: 0, 1 or 2 as written, else none given (mosquitto_pub's 0)."""
    return int(text) if text in ('0', '1', '2') else 0


class MqttConf:
    """The three confs, read once at start, and what the bridge takes from them."""

    def __init__(self, etc):
        self.mqtt = conf.read_conf(etc + '/mqttv4.conf')
        self.advertise = conf.read_conf(etc + '/mqtt_advertise.conf')
        self.system = conf.read_conf(etc + '/system.conf')
        self.enabled = self.system.get('MQTT', 'no').lower() == 'yes'
        self.host = self.program('MQTT_IP')
        self.port = self.number('MQTT_PORT', 1, 65535)
        self.tls = self.number('MQTT_TLS', 0, 1) == 1
        self.keepalive = self.number('MQTT_KEEPALIVE', 0, MAX_KEEPALIVE)
        self.qos = self.number('MQTT_QOS', 0, 2)
        self.client_id = self.program('MQTT_CLIENT_ID') + CLIENT_ID_SUFFIX
        self.user = self.raw('MQTT_USER') or None
        self.password = self.raw('MQTT_PASSWORD') or None
        self.prefix = self.program('MQTT_PREFIX')
        self.image_delay = self.seconds('MOTION_IMAGE_DELAY')

    def raw(self, key):
        """A mqttv4.conf value as the firmware's scripts read it (check_conf.sh's when missing)."""
        return self.mqtt.get(key, CHECK_CONF.get(key, ''))

    def program(self, key):
        """A mqttv4.conf value as mqttv4 reads it: its own default for an empty one."""
        return self.raw(key) or PROGRAM.get(key, '')

    def number(self, key, low, high):
        text = self.program(key)
        value = checks.number(text, low, high)
        if value is None:
            raise ConfigError('%s=%s: expected a number from %d to %d' % (key, text, low, high))
        return value

    def seconds(self, key):
        """Seconds as set_configs takes them (conf_rules.is_image_delay)."""
        text = self.program(key)
        if not is_image_delay(text):
            raise ConfigError('%s=%s: expected seconds from 0 to %d' % (key, text, MOST_IMAGE_DELAY))
        return float(text.replace(',', '.'))

    def retain(self, key):
        return self.number(key, 0, 1) == 1

    def topic(self, key):
        """PREFIX/TOPIC for a topic key, or None when it names EMPTY_TOPIC (not published)."""
        return self.full_topic(self.program(key) or EMPTY_TOPIC)

    def full_topic(self, name):
        topic = self.prefix + '/' + name
        return None if topic.endswith(EMPTY_TOPIC) else topic

    def stat_topic(self, conf_name, key):
        """mqttv4's PREFIX/stat/FILE/KEY (key in lower case)."""
        return '%s/stat/%s/%s' % (self.prefix, conf_name, key.lower())

    def adv(self, key):
        """A mqtt_advertise.conf value as its scripts read it (check_conf.sh's when missing)."""
        return self.advertise.get(key, ADVERTISE_CHECK_CONF.get(key, ''))

    def group(self, name):
        """{field: value} of an advertise group (MQTT_ADV_LINK, ...)."""
        return dict((field, self.adv(name + '_' + field)) for field in GROUP_FIELDS)

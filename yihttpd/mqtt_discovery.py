"""Home Assistant MQTT discovery: every entity the firmware's
mqtt_adv_homeassistant.sh publishes, field for field, in its order.

messages(values) gives [(topic, JSON text)] for one run of the script:
the info and telemetry sensors (or, when their group is off, empty
payloads that remove them), the motion, AI, sound and image entities, and
the camera settings' switches, select and number (or the script's
removals). Its quirks are kept, since Home Assistant setups depend on
them: binary sensors carry "qos" as a string, the telemetry sensors take
their QoS from MQTT_ADV_TELEMETRY_RETAIN, and only five camera switches
are removed when the settings group is off.
"""
import json

INFO = (('hostname', 'Hostname', 'network'), ('local_ip', 'Local IP', 'ip'),
        ('netmask', 'Netmask', 'ip'), ('gateway', 'Gateway', 'ip'),
        ('wlan_essid', 'WiFi ESSID', 'wifi'), ('mac_addr', 'Mac Address', 'network'),
        ('home_version', 'Home Version', 'memory'), ('fw_version', 'Firmware Version', 'network'),
        ('model_suffix', 'Model Suffix', 'network'), ('serial_number', 'Serial Number', 'webcam'))
TELEMETRY = ('total_memory', 'free_memory', 'free_sd', 'load_avg', 'uptime', 'wlan_strength')
FREE_SD_TEMPLATE = '{{ value_json.free_sd|regex_replace(find="%", replace="", ignorecase=False) }}'
UPTIME_TEMPLATE = '{{ (as_timestamp(now())-(value_json.uptime|int))|timestamp_local }}'
WLAN_TEMPLATE = '{{ ((value_json.wlan_strength|int) * 100 / 70 )|int }}'
# binary sensor: (item, name, device class, topic key, payload_on key); off is MOTION_STOP_MSG
BINARY = (('motion_detection', 'Movement', 'motion', 'TOPIC_MOTION', 'MOTION_START_MSG'),
          ('ai_human_detection', 'Human Detection', 'motion', 'TOPIC_MOTION', 'AI_HUMAN_DETECTION_MSG'),
          ('ai_vehicle_detection', 'Vehicle Detection', 'motion', 'TOPIC_MOTION', 'AI_VEHICLE_DETECTION_MSG'),
          ('ai_animal_detection', 'Animal Detection', 'motion', 'TOPIC_MOTION', 'AI_ANIMAL_DETECTION_MSG'))
SOUND_OFF_DELAY = 60        # seconds Home Assistant shows sound as detected
# camera settings: (kind, key, name, icon, extra fields)
SETTINGS = (
    ('switch', 'SWITCH_ON', 'Switch Status', 'video', ()),
    ('switch', 'SAVE_VIDEO_ON_MOTION', 'Save video on motion', 'content-save', ()),
    ('switch', 'MOTION_DETECTION', 'Motion Detection', 'motion-sensor', ()),
    ('select', 'SENSITIVITY', 'Detection sensitivity', 'knob', (('options', ['low', 'medium', 'high']),)),
    ('switch', 'AI_HUMAN_DETECTION', 'AI Human Detection', 'human-greeting-variant', ()),
    ('switch', 'AI_VEHICLE_DETECTION', 'AI Vehicle Detection', 'car', ()),
    ('switch', 'AI_ANIMAL_DETECTION', 'AI Animal Detection', 'dog-side', ()),
    ('switch', 'FACE_DETECTION', 'Face Detection', 'face-recognition', ()),
    ('switch', 'MOTION_TRACKING', 'Motion Tracking sensor', 'motion', ()),
    ('switch', 'SOUND_DETECTION', 'Sound Detection', 'music-note', ()),
    ('number', 'SOUND_SENSITIVITY', 'Sound Detection sensitivity', 'account-voice',
     (('min', 30), ('max', 90), ('step', 5), ('mode', 'slider'))),
    ('switch', 'LED', 'Status Led', 'led-on', ()),
    ('switch', 'IR', 'IR Led', 'led-outline', ()),
    ('switch', 'ROTATE', 'Rotate', 'rotate-right', ()),
)
REMOVED_SWITCHES = ('SWITCH_ON', 'SOUND_DETECTION', 'LED', 'IR', 'ROTATE')


def text(value):
    """JSON text of a value; [(key, value)] pairs are an object, kept in order."""
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        return '{' + ','.join('%s:%s' % (json.dumps(k), text(v)) for k, v in value) + '}'
    if isinstance(value, list):
        return '[' + ','.join(text(item) for item in value) + ']'
    return json.dumps(value)


class Discovery:
    """The script's variables, read once per run: `raw` reads mqttv4.conf and `adv`
    mqtt_advertise.conf as the script's grep does; `device` is the camera's."""

    def __init__(self, raw, adv, device):
        self.raw = raw
        self.adv = adv
        self.ident = adv('HOMEASSISTANT_IDENTIFIERS')
        self.ha_prefix = adv('HOMEASSISTANT_MQTT_PREFIX')
        self.prefix = raw('MQTT_PREFIX')
        self.device = device
        self.out = []

    def topic(self, kind, item):
        return '%s/%s/%s/%s/config' % (self.ha_prefix, kind, self.ident, item)

    def common(self, qos, retain):
        """The fields every entity starts with: availability, the device, then qos and retain if any."""
        pairs = [('availability_topic', self.prefix + '/' + self.raw('TOPIC_BIRTH_WILL')),
                 ('payload_available', self.raw('BIRTH_MSG')),
                 ('payload_not_available', self.raw('WILL_MSG')), ('device', self.device)]
        if qos is not None:
            pairs.append(('qos', qos))
        if retain:
            pairs.append(('retain', True))
        return pairs

    def add(self, kind, item, pairs):
        self.out.append((self.topic(kind, item), text(pairs)))

    def remove(self, kind, items):
        for item in items:
            self.out.append((self.topic(kind, item), ''))

    def sensor(self, item, name, icon, state, qos, template=None, unit='', device_class=None):
        pairs = self.common(qos, False)
        if device_class:
            pairs.append(('device_class', device_class))
        pairs += [('icon', 'mdi:' + icon), ('state_topic', self.prefix + '/' + state), ('name', name),
                  ('unique_id', self.ident + '-' + item),
                  ('value_template', template or '{{ value_json.%s }}' % item), ('platform', 'mqtt')]
        if unit:
            pairs.append(('unit_of_measurement', unit))
        self.add('sensor', item, pairs + [('entity_category', 'diagnostic')])

    def group_qos(self, key):
        """A group's "qos" field: its value when 1 or 2, none otherwise (the script's QOS)."""
        value = self.adv(key)
        return int(value) if value in ('1', '2') else None

    def messages(self):
        adv = self.adv
        if adv('MQTT_ADV_INFO_GLOBAL_ENABLE') == 'yes':
            qos = self.group_qos('MQTT_ADV_INFO_GLOBAL_QOS')
            for item, name, icon in INFO:
                self.sensor(item, name, icon, adv('MQTT_ADV_INFO_GLOBAL_TOPIC'), qos)
        else:
            self.remove('sensor', [item for item, _name, _icon in INFO])
        if adv('MQTT_ADV_TELEMETRY_ENABLE') == 'yes':
            self.telemetry(adv('MQTT_ADV_TELEMETRY_TOPIC'), self.group_qos('MQTT_ADV_TELEMETRY_RETAIN'))
        else:
            self.remove('sensor', TELEMETRY)
        self.detections()
        if adv('MQTT_ADV_CAMERA_SETTING_ENABLE') == 'yes':
            self.camera_settings(adv('MQTT_ADV_CAMERA_SETTING_TOPIC'), self.group_qos('MQTT_ADV_CAMERA_SETTING_QOS'),
                                 adv('MQTT_ADV_CAMERA_SETTING_RETAIN') == '1')
        else:
            self.remove('switch', REMOVED_SWITCHES)
        return self.out

    def telemetry(self, state, qos):
        self.sensor('total_memory', 'Total Memory', 'memory', state, qos, unit='KB')
        self.sensor('free_memory', 'Free Memory', 'memory', state, qos, unit='KB')
        self.sensor('free_sd', 'Free SD', 'micro-sd', state, qos, FREE_SD_TEMPLATE, '%')
        self.sensor('load_avg', 'Load AVG', 'network', state, qos)
        self.sensor('uptime', 'Uptime', 'timer-outline', state, qos, UPTIME_TEMPLATE, device_class='timestamp')
        self.sensor('wlan_strength', 'Wlan Strengh', 'wifi', state, qos, WLAN_TEMPLATE, '%')

    def detections(self):
        raw = self.raw
        qos = raw('MQTT_QOS')   # a string here, as the script writes it
        for item, name, device_class, topic, on in BINARY:
            self.add('binary_sensor', item, self.common(qos, False) + [
                ('device_class', device_class), ('state_topic', self.prefix + '/' + raw(topic)),
                ('name', name), ('unique_id', self.ident + '-' + item), ('payload_on', raw(on)),
                ('payload_off', raw('MOTION_STOP_MSG')), ('platform', 'mqtt')])
        self.add('binary_sensor', 'sound_detection', self.common(qos, False) + [
            ('device_class', 'sound'), ('state_topic', self.prefix + '/' + raw('TOPIC_SOUND_DETECTION')),
            ('name', 'Sound Detection'), ('unique_id', self.ident + '-sound_detection'),
            ('payload_on', raw('SOUND_DETECTION_MSG')), ('off_delay', SOUND_OFF_DELAY), ('platform', 'mqtt')])
        self.add('camera', 'motion_detection_image', self.common(qos, False) + [
            ('topic', self.prefix + '/' + raw('TOPIC_MOTION_IMAGE')), ('name', 'Motion Detection Image'),
            ('unique_id', self.ident + '-motion_detection_image'), ('platform', 'mqtt')])

    def camera_settings(self, state, qos, retain):
        for kind, key, name, icon, extra in SETTINGS:
            state_topic = self.prefix + '/' + state
            template = '{{ value_json.%s | int }}' if kind == 'number' else '{{ value_json.%s }}'
            pairs = self.common(qos, retain) + [
                ('icon', 'mdi:' + icon), ('state_topic', state_topic), ('name', name),
                ('unique_id', self.ident + '-' + key), ('value_template', template % key),
                ('platform', 'mqtt'), ('command_topic', '%s/%s/set' % (state_topic, key))]
            if kind == 'switch':
                pairs += [('payload_on', 'yes'), ('payload_off', 'no')]
            self.add(kind, key, pairs + list(extra) + [('entity_category', 'config')])

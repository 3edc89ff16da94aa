"""What the firmware's mqtt_advertise scripts and conf2mqtt.sh publish, from
the bridge's own connection on the loop's timers (no crond, no forks):

- links, info_global, camera_setting, telemetry: each group of
  mqtt_advertise.conf, when ENABLE=yes, at start (BOOT=yes) and on its
  CRONTAB (CRON=yes), on PREFIX/TOPIC with its RETAIN and QOS;
- Home Assistant discovery (mqtt_discovery.py) the same way;
- camera.conf's values on PREFIX/stat/camera/KEY at start (conf2mqtt.sh,
  which system.sh runs when MQTT=yes), and any conf's on
  PREFIX/stat/FILE/KEY when asked (mqtt_settings.py); never a password.
"At start" is the first connection to the broker. The payloads are the
scripts' own JSON texts; a value the camera cannot tell is empty, as the
scripts' shell commands leave it. What a group needs is imported at its
first run (the camera's heap is small).
"""
import json
import os

from . import conf, device
from .conf_rules import CONF_FILES, is_secret
from .mqtt_conf import script_qos

KERNEL_HOSTNAME = '/proc/sys/kernel/hostname'


def known(value):
    """A value as the scripts' commands leave it: empty when the camera cannot tell."""
    return '' if value in (None, device.NA) else value


def script_json(pairs):
    """The scripts' JSON: { "key":"value",... } with their own spacing."""
    return '{ ' + ','.join('%s:%s' % (json.dumps(k), json.dumps(v)) for k, v in pairs) + ' }'


def free_sd_percent(root):
    """100 minus df's Use% (rounded up), as mqtt_adv_telemetry.sh computes it; None if unknown."""
    try:
        st = os.statvfs(root)
    except OSError:
        return None
    used = st[2] - st[3]
    if used + st[4] <= 0:
        return None
    return '%d%%' % (100 - (used * 100 + used + st[4] - 1) // (used + st[4]))


class Advertiser:
    def __init__(self, bridge, settings, options, log):
        self.bridge = bridge
        self.settings = settings
        self.root = options.root
        self.etc = options.root + '/yi-hack/etc'
        self.homever = options.homever
        self.log = log
        self.at_start = []
        self.schedule = None
        for group, publish in (('MQTT_ADV_LINK', self.links), ('MQTT_ADV_INFO_GLOBAL', self.info),
                               ('MQTT_ADV_CAMERA_SETTING', self.camera_settings),
                               ('MQTT_ADV_TELEMETRY', self.telemetry),
                               ('HOMEASSISTANT', self.discovery)):
            adv = settings.adv
            if adv(group + '_ENABLE') != 'yes':
                continue
            if adv(group + '_BOOT') == 'yes':
                self.at_start.append(publish)
            if adv(group + '_CRON') == 'yes':
                if self.schedule is None:
                    from .mqtt_schedule import Schedule
                    self.schedule = Schedule(bridge.loop, log)
                self.schedule.add(adv(group + '_CRONTAB'), publish, group)
        bridge.on_connected.append(self.connected)

    def connected(self, first):
        if not first:
            return
        if self.settings.enabled:
            self.publish_conf('camera')
        for publish in self.at_start:
            publish()

    def group_publish(self, group, payload):
        g = self.settings.group(group)
        topic = self.settings.raw('MQTT_PREFIX') + '/' + g['TOPIC']
        self.bridge.publish(topic, payload, g['RETAIN'] == '1', script_qos(g['QOS']))

    def links(self):
        from .stream_links import links_text
        ip = known(device.network_info()['local_ip'])
        system = conf.read_conf(self.etc + '/system.conf')
        self.group_publish('MQTT_ADV_LINK', links_text(system, ip).replace('\n', ''))

    def info(self):
        net = device.network_info()
        yi_hack = self.root + '/yi-hack'
        pairs = [('hostname', device.read_first_line(KERNEL_HOSTNAME)),
                 ('fw_version', device.read_first_line(yi_hack + '/version')),
                 ('home_version', device.read_first_line(device.APP_VERSION)),
                 ('model_suffix', device.read_first_line(yi_hack + '/model_suffix')),
                 ('serial_number', device.serial_number())]
        net['mac_addr'] = net['mac_addr'].upper()   # as the script's ifconfig shows it
        pairs += [(key, net[key]) for key in ('local_ip', 'netmask', 'gateway', 'mac_addr', 'wlan_essid')]
        self.group_publish('MQTT_ADV_INFO_GLOBAL', script_json([(k, known(v)) for k, v in pairs]))

    def telemetry(self):
        uptime = device.read_first_line('/proc/uptime') or ''
        load = device.read_first_line('/proc/loadavg') or ''
        memory = device.read_head('/proc/meminfo', device.MEMINFO_HEAD) or b''
        pairs = [('uptime', uptime.split(' ')[0]), ('load_avg', ' '.join(load.split(' ')[:3]))]
        free_sd = free_sd_percent(self.root)
        if free_sd is not None:
            pairs.append(('free_sd', free_sd))
        kb = lambda name: '%d' % device.meminfo_kb(memory, name) if device.meminfo_kb(memory, name) is not None else ''
        pairs += [('total_memory', kb(b'MemTotal')), ('free_memory', kb(b'MemAvailable')),
                  ('wlan_strength', known(device.network_info()['wlan_strength']))]
        self.group_publish('MQTT_ADV_TELEMETRY', script_json(pairs))

    def camera_settings(self):
        """get_configs.sh?conf=camera's JSON: camera.conf, HOMEVER, and its closing "NULL" pair."""
        pairs = list(conf.read_conf(self.etc + '/camera.conf').items())
        pairs += [('HOMEVER', device.homever(self.homever)), ('NULL', 'NULL')]
        from .mqtt_discovery import text
        self.group_publish('MQTT_ADV_CAMERA_SETTING', text(pairs))

    def discovery(self):
        from .mqtt_discovery import Discovery
        s = self.settings
        net = device.network_info()
        ip = known(net['local_ip'])
        port = conf.read_conf(self.etc + '/system.conf').get('HTTPD_PORT', '')
        details = [('identifiers', [s.adv('HOMEASSISTANT_IDENTIFIERS')]),
                  ('connections', [['mac', known(net['mac_addr'])]]),
                  ('manufacturer', s.adv('HOMEASSISTANT_MANUFACTURER')),
                  ('model', s.adv('HOMEASSISTANT_MODEL')), ('name', s.adv('HOMEASSISTANT_NAME')),
                  ('sw_version', device.read_first_line(self.root + '/yi-hack/version') or ''),
                  ('configuration_url', 'http://%s:%s' % (ip, port))]
        retain = s.adv('HOMEASSISTANT_RETAIN') == '1'
        qos = script_qos(s.adv('HOMEASSISTANT_QOS'))
        for topic, payload in Discovery(s.raw, s.adv, details).messages():
            self.bridge.publish(topic, payload, retain, qos)

    def publish_conf(self, name):
        """A conf's values on PREFIX/stat/NAME/key, retained, QoS 0 (conf2mqtt.sh); never a password."""
        filename = CONF_FILES.get(name)
        if filename is None or name == 'proxychains':
            self.log('no conf %r to publish' % name)
            return
        for key, value in conf.read_conf(self.etc + '/' + filename).items():
            if not is_secret(key):
                self.bridge.publish(self.settings.stat_topic(name, key), value, True, 0)

"""What the firmware's mqtt_advertise scripts publish, published by the bridge
instead: Home Assistant discovery compared field by field with the real
mqtt_adv_homeassistant.sh (and links and camera settings with the real
links.sh and get_configs.sh), run under busybox sh with a stand-in
mqtt-pub that records its arguments; telemetry and info in the scripts'
form; camera.conf on stat/camera at start (conf2mqtt.sh).

The scripts run from a copy whose /tmp/sd/yi-hack is the test card's and
whose network interface is the test machine's; a stand-in ifconfig
prints that interface as busybox's ifconfig does.
"""
import json
import os
import re
import subprocess

import pytest

from mqtt_harness import FIRMWARE_MQTT, FIRMWARE_WEB, MQTT_STATIC, firmware_file, wait_until

BUSYBOX = subprocess.run(['which', 'busybox'], stdout=subprocess.PIPE).stdout.decode().strip()
SCRIPTS = MQTT_STATIC + 'script/mqtt_advertise/'
MQTT_PUB = '''#!%s
import json, sys
with open(sys.argv[0] + '.calls', 'a') as f:
    f.write(json.dumps(sys.argv[1:]) + '\\n')
'''
IFCONFIG = '''#!/bin/sh
[ "$1" = "%s" ] || exit 1
echo "$1      Link encap:Ethernet  HWaddr %s"
echo "          inet addr:%s  Bcast:0.0.0.0  Mask:%s"
'''


def default_interface():
    """(name, IPv4 address, netmask, MAC) of the default route's interface, as `ip` tells them."""
    with open('/proc/net/route') as f:
        name = [row.split()[0] for row in f.readlines()[1:] if row.split()[1] == '00000000'][0]
    out = subprocess.run(['ip', '-o', '-4', 'addr', 'show', 'dev', name], stdout=subprocess.PIPE,
                         check=True).stdout.decode()
    address, bits = re.search(r'inet (\S+)/(\d+)', out).groups()
    mask = (0xffffffff << (32 - int(bits))) & 0xffffffff
    netmask = '.'.join(str(mask >> shift & 255) for shift in (24, 16, 8, 0))
    with open('/sys/class/net/%s/address' % name) as f:
        return name, address, netmask, f.read().strip()


class FirmwareScripts:
    """The firmware's scripts on the test card, run as the camera runs them."""

    def __init__(self, sd, directory):
        self.sd = sd
        self.bin = os.path.join(directory, 'stand-ins')
        os.makedirs(self.bin)
        self.iface = default_interface()
        name, address, netmask, mac = self.iface
        self.install(os.path.join(self.bin, 'ifconfig'), IFCONFIG % (name, mac.upper(), address, netmask))
        self.pub = sd.file('yi-hack/bin/mqtt-pub')
        self.install(self.pub, MQTT_PUB % subprocess.run(['which', 'python3'], stdout=subprocess.PIPE).stdout.decode().strip())
        for archive, rel, target in (
                (FIRMWARE_WEB, 'src/www/httpd/cgi-bin/links.sh', 'yi-hack/www/cgi-bin/links.sh'),
                (FIRMWARE_WEB, 'src/www/httpd/cgi-bin/get_configs.sh', 'yi-hack/www/cgi-bin/get_configs.sh'),
                (FIRMWARE_WEB, 'src/www/httpd/cgi-bin/validate.sh', 'yi-hack/www/cgi-bin/validate.sh')):
            self.install(sd.file(target), self.localised(firmware_file(archive, rel)))

    def localised(self, data):
        """The script for this card and machine, run by busybox sh (the camera's /bin/sh)."""
        text = data.decode().replace('#!/bin/sh', '#!%s sh' % BUSYBOX, 1)
        text = text.replace('/tmp/sd/yi-hack', self.sd.path + '/yi-hack')
        return text.replace('get_network_addr eth0', 'get_network_addr ' + self.iface[0]) \
                   .replace('ifconfig eth0', 'ifconfig ' + self.iface[0]) \
                   .replace('cat /home/homever', 'cat ' + self.sd.file('homever'))

    @staticmethod
    def install(path, text):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)
        os.chmod(path, 0o755)

    def run(self, name):
        """[(topic, payload, qos, retain)] of each mqtt-pub call the script makes."""
        script = self.sd.file('run-' + name)
        self.install(script, self.localised(firmware_file(FIRMWARE_MQTT, SCRIPTS + name)))
        if os.path.exists(self.pub + '.calls'):
            os.remove(self.pub + '.calls')
        env = dict(os.environ, PATH=self.bin + ':' + os.environ['PATH'])
        subprocess.run(['busybox', 'sh', script], env=env, check=True, stdout=subprocess.DEVNULL)
        calls = []
        with open(self.pub + '.calls') as f:
            for line in f:
                args = json.loads(line)
                qos = int(args[args.index('-q') + 1]) if '-q' in args else 0
                calls.append((args[args.index('-n') + 1], args[args.index('-m') + 1].encode(), qos, '-r' in args))
        return calls


@pytest.fixture
def ha(mqtt, sd, tmp_path):
    sd.write('homever', '12.0.51.08_202208101411\n')
    mqtt.scripts = FirmwareScripts(sd, str(tmp_path))
    return mqtt


def same_fields(ours, theirs, topic):
    """Two payloads the same: both empty, or JSON with the same fields and values (and types)."""
    if not theirs.strip():
        assert ours == b'', topic
        return
    a, b = json.loads(ours), json.loads(theirs)
    assert sorted(a) == sorted(b), topic
    for key in b:
        assert (key, a[key], type(a[key])) == (key, b[key], type(b[key])), topic


def advertised(ha, topic_filter, count):
    live = ha.subscribe(topic_filter, qos=2)
    bridge = ha.start_bridge('--homever', ha.sd.file('homever'))
    got = [live.next_raw() for _ in range(count)]
    assert None not in got, (got, bridge.log())
    return got


def compare(ours, theirs):
    assert [topic for topic, _p, _r, _q in ours] == [topic for topic, _p, _q, _r in theirs]
    for (topic, payload, _live_retain, qos), (_topic, script_payload, script_qos, _retain) in zip(ours, theirs):
        same_fields(payload, script_payload, topic)
        assert qos == script_qos, topic


@pytest.mark.parametrize('groups', ['all', 'none'])
def test_home_assistant_discovery_is_the_firmware_scripts_field_by_field(ha, sd, groups):
    adv = {'HOMEASSISTANT_ENABLE': 'yes', 'HOMEASSISTANT_BOOT': 'yes', 'HOMEASSISTANT_NAME': 'Porch',
           'HOMEASSISTANT_MODEL': 'Y211GA', 'HOMEASSISTANT_QOS': '2' if groups == 'all' else '1'}
    if groups == 'all':
        for group in ('INFO_GLOBAL', 'TELEMETRY', 'CAMERA_SETTING'):
            adv['MQTT_ADV_%s_ENABLE' % group] = 'yes'
        adv.update(MQTT_ADV_INFO_GLOBAL_QOS='1', MQTT_ADV_CAMERA_SETTING_QOS='2')
    for key, value in adv.items():
        sd.set_conf('mqtt_advertise.conf', key, value)
    sd.set_conf('system.conf', 'HTTPD_PORT', '8080')
    theirs = ha.scripts.run('mqtt_adv_homeassistant.sh')
    ours = advertised(ha, 'homeassistant/#', len(theirs))
    compare(ours, theirs)
    assert len(theirs) == (36 if groups == 'all' else 27)
    # Retained as HOMEASSISTANT_RETAIN=1 says: what Home Assistant finds when it starts.
    late = ha.subscribe('homeassistant/#', qos=2)
    kept = [late.next_raw() for topic, payload, _q, _r in theirs if payload]
    assert all(got is not None and got[2] == 1 for got in kept), kept


def test_links_and_camera_settings_are_the_firmware_scripts(ha, sd):
    for group in ('LINK', 'CAMERA_SETTING'):
        for field in ('ENABLE', 'BOOT'):
            sd.set_conf('mqtt_advertise.conf', 'MQTT_ADV_%s_%s' % (group, field), 'yes')
    sd.set_conf('mqtt_advertise.conf', 'MQTT_ADV_LINK_QOS', '1')
    sd.set_conf('system.conf', 'RTSP_STREAM', 'both')
    theirs = ha.scripts.run('mqtt_adv_links.sh') + ha.scripts.run('mqtt_adv_config.sh')
    ours = advertised(ha, 'yicam/+', 1 + len(theirs))[1:]    # after the birth
    compare(ours, theirs)
    assert json.loads(ours[0][1])['low_res_stream'].startswith('rtsp://' + ha.scripts.iface[1])


def test_telemetry_and_info_in_the_scripts_form(ha, sd):
    for group in ('TELEMETRY', 'INFO_GLOBAL'):
        for field in ('ENABLE', 'BOOT'):
            sd.set_conf('mqtt_advertise.conf', 'MQTT_ADV_%s_%s' % (group, field), 'yes')
    info, telemetry = [payload for _t, payload, _r, _q in advertised(ha, 'yicam/+', 3)[1:]]   # startup.sh's order
    assert re.match(rb'^\{ "uptime":"[0-9.]+","load_avg":"[0-9.]+ [0-9.]+ [0-9.]+","free_sd":"[0-9]+%",'
                    rb'"total_memory":"[0-9]+","free_memory":"[0-9]+","wlan_strength":"[^"]*" \}$', telemetry), telemetry
    fields = json.loads(info)
    assert list(fields) == ['hostname', 'fw_version', 'home_version', 'model_suffix', 'serial_number',
                            'local_ip', 'netmask', 'gateway', 'mac_addr', 'wlan_essid']
    assert (fields['fw_version'], fields['model_suffix']) == ('0.4.1', 'y211ga')
    name, address, netmask, mac = ha.scripts.iface
    assert (fields['local_ip'], fields['netmask'], fields['mac_addr']) == (address, netmask, mac.upper())   # as ifconfig
    assert info.startswith(b'{ "hostname":') and info.endswith(b'" }')


def test_nothing_is_advertised_unless_asked_but_camera_conf_is_at_start(mqtt, sd):
    live = mqtt.subscribe('#', qos=2)
    bridge = mqtt.start_bridge()
    seen = [live.next_raw() for _ in range(16)]
    assert seen[0][0] == 'yicam/status'
    values = dict(line.split('=', 1) for line in sd.read('yi-hack/etc/camera.conf').decode().split('\n') if line)
    assert sorted((t, p, q) for t, p, _r, q in seen[1:]) == sorted(
        ('yicam/stat/camera/' + key.lower(), value.encode(), 0) for key, value in values.items())
    live.nothing_more(1.0)
    assert 'schedule' not in bridge.log()


def test_a_schedule_that_is_not_a_crontab_time_is_said_and_never_runs(mqtt, sd):
    sd.set_conf('mqtt_advertise.conf', 'MQTT_ADV_TELEMETRY_ENABLE', 'yes')
    sd.set_conf('mqtt_advertise.conf', 'MQTT_ADV_TELEMETRY_CRON', 'yes')
    sd.set_conf('mqtt_advertise.conf', 'MQTT_ADV_TELEMETRY_CRONTAB', '*/99 * * * *')
    bridge = mqtt.start_bridge()
    bridge.wait_log("MQTT_ADV_TELEMETRY: schedule '*/99 * * * *' is not a crontab time: never run")
    assert wait_until(lambda: bridge.proc.poll() is None)

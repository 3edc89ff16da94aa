"""The start script's switch between the firmware's MQTT and yihttpd's bridge,
both ways, on a card laid out like the camera's.

The card boots the firmware's MQTT as system.sh does: service.sh starts
mqttv4 and mqtt-config (stand-ins with those names, in yi-hack/bin), and
the firmware's own mqtt_advertise/startup.sh adds its lines to crond's
table and starts mqtt_set_config.sh (which runs a stand-in mqtt-sub).
Then yihttpd.sh runs under busybox sh with the camera's MicroPython as
yi-hack/bin/python3, and the choice is made in the page's way, through
set_configs.sh.
"""
import json
import os
import shutil
import subprocess
import sys
import urllib.request

import pytest

from mqtt_harness import (FIRMWARE_MQTT, MQTT_STATIC, Broker, Subscriber, firmware_file,
                          install_firmware_confs, wait_until)
from test_payload import Card, alive, build, http_get

# service.sh's status looks for programs machine-wide: one such test at a time (conftest)
pytestmark = pytest.mark.usefixtures('machine_programs')

ADVERTISE = 'yi-hack/script/mqtt_advertise/'
STAND_IN = '#!%s\nimport time\nwhile True:\n    time.sleep(1)\n' % sys.executable
SERVICE_SH = '''#!/bin/sh
# stand-in for the firmware's service.sh: mqtt and mqtt-config start as its own start them
BIN=$(dirname "$0")/../bin
case "$1 $2" in
    "mqtt start") "$BIN/mqttv4" > /dev/null 2>&1 & ;;
    "mqtt-config start") "$BIN/mqtt-config" > /dev/null 2>&1 & ;;
esac
'''
OTHER_CRON_LINE = '* * * * * /tmp/sd/yi-hack/script/thumb.sh cron'
# The firmware's MQTT daemons (mqtt_set_config.sh's pipeline may start its subshells again meanwhile)
DAEMONS = (b'mqttv4', b'mqtt-config')


@pytest.fixture(scope='module')
def archive(tmp_path_factory):
    return build(tmp_path_factory.mktemp('payload') / 'payload.tar.gz', False)


@pytest.fixture
def camera(tmp_path, archive, test_queue):
    card = Card(tmp_path, archive, 'micropython', 'busybox')
    sd = card.root
    install_firmware_confs(card)
    card.write('yi-hack/etc/system.conf', card.read('yi-hack/etc/system.conf').decode()
               .replace('HTTPD_PORT=80', 'HTTPD_PORT=%d' % card.port).replace('MQTT=no', 'MQTT=yes'))
    card.broker = Broker(str(tmp_path))
    conf = card.read('yi-hack/etc/mqttv4.conf').decode()
    card.write('yi-hack/etc/mqttv4.conf', conf.replace('MQTT_IP=0.0.0.0', 'MQTT_IP=127.0.0.1')
               .replace('MQTT_PORT=1883', 'MQTT_PORT=%d' % card.broker.port))
    advertise = card.read('yi-hack/etc/mqtt_advertise.conf').decode()
    for key in ('HOMEASSISTANT_ENABLE', 'HOMEASSISTANT_CRON', 'MQTT_ADV_CAMERA_SETTING_ENABLE'):
        advertise = advertise.replace(key + '=no', key + '=yes')
    card.write('yi-hack/etc/mqtt_advertise.conf', advertise)
    for name in ('mqttv4', 'mqtt-config', 'mqtt-sub'):
        card.write('yi-hack/bin/' + name, STAND_IN)
        os.chmod(os.path.join(sd, 'yi-hack/bin', name), 0o755)
    card.write('yi-hack/script/service.sh', SERVICE_SH.replace('#!/bin/sh', '#!%s sh' % shutil.which('busybox')))
    os.chmod(os.path.join(sd, 'yi-hack/script/service.sh'), 0o755)
    card.crontab = os.path.join(card.run_dir, 'crontabs', 'root')
    for name in ('startup.sh', 'check_conf.sh', 'mqtt_set_config.sh'):
        text = firmware_file(FIRMWARE_MQTT, MQTT_STATIC + 'script/mqtt_advertise/' + name).decode()
        text = text.replace('#!/bin/sh', '#!%s sh' % shutil.which('busybox'), 1)   # the camera's /bin/sh
        card.write(ADVERTISE + name, text.replace('/tmp/sd/yi-hack', sd + '/yi-hack')
                   .replace('/var/spool/cron/crontabs/root', card.crontab))
        os.chmod(os.path.join(sd, ADVERTISE + name), 0o755)
    os.makedirs(os.path.dirname(card.crontab))
    with open(card.crontab, 'w') as f:
        f.write(OTHER_CRON_LINE + '\n')
    events, commands = test_queue(), test_queue()
    card.env.update(YIHTTPD_CRONTAB=card.crontab, YIHTTPD_MQTT_LOG=os.path.join(card.run_dir, 'mqtt.log'),
                    YIHTTPD_MQTT_ARGS='--ipc-events %s --ipc-queue %s' % (events.name, commands.name))
    yield card
    card.clean_up()
    for name in ('yihttpd-mqtt-watchdog.pid', 'yihttpd-mqtt.pid'):
        pid = card.pid(name)
        if pid and alive(pid):
            os.kill(pid, 9)
    for pid in firmware_pids(card):
        os.kill(pid, 9)
    card.broker.stop()


def boot_firmware_mqtt(card):
    """What system.sh does at boot: service.sh mqtt start, mqtt-config start, mqtt_advertise/startup.sh."""
    service = os.path.join(card.root, 'yi-hack/script/service.sh')
    for name in ('mqtt', 'mqtt-config'):
        subprocess.run(['busybox', 'sh', service, name, 'start'], check=True)
    subprocess.run(['busybox', 'sh', os.path.join(card.root, ADVERTISE + 'startup.sh')], check=True,
                   stdout=subprocess.DEVNULL)
    assert wait_until(lambda: len(firmware_pids(card)) == 5), firmware_pids(card)


def firmware_pids(card, names=(b'mqttv4', b'mqtt-config', b'mqtt_set_config.sh', b'mqtt-sub')):
    """Live pids of the card's mqttv4, mqtt-config, mqtt_set_config.sh (its shell and its
    pipeline's) and its mqtt-sub (or of the programs names names)."""
    found = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                words = f.read().split(b'\0')
        except OSError:
            continue
        if any(word.startswith(card.root.encode()) and word.rpartition(b'/')[2] in names
               for word in words) and alive(int(pid)):
            found.append(int(pid))
    return found


def choose(card, value):
    """The page's way: set_configs.sh?conf=mqtt with YIHTTPD_MQTT."""
    request = urllib.request.Request('http://127.0.0.1:%d/cgi-bin/set_configs.sh?conf=mqtt' % card.port,
                                     json.dumps({'YIHTTPD_MQTT': value}).encode(), method='POST')
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert json.loads(answer.read()) == {'error': 'false'}


def mqtt_status(card):
    status, body = http_get(card.port, '/cgi-bin/service.sh?name=mqtt&action=status')
    assert status == 200
    return json.loads(body)


def crontab(card):
    with open(card.crontab) as f:
        return f.read().split('\n')


def restart(card):
    status, output = card.script('restart')
    assert status == 0, output
    card.wait_serving()
    return output


def test_the_start_script_switches_to_the_bridge_and_back(camera):
    card = camera
    boot_firmware_mqtt(card)
    firmware = firmware_pids(card)
    daemons = firmware_pids(card, DAEMONS)
    advertise_lines = [line for line in crontab(card) if '/script/mqtt_advertise/' in line]
    assert advertise_lines and OTHER_CRON_LINE in crontab(card)
    status, output = card.script('start')
    assert status == 0, output
    card.wait_serving()
    # No choice on the card yet: the key is added as the firmware's check_conf.sh adds its own, and
    # the firmware keeps MQTT.
    assert 'YIHTTPD_MQTT=no' in card.read('yi-hack/etc/mqttv4.conf').decode().split('\n')
    assert sorted(firmware_pids(card, DAEMONS)) == sorted(daemons)   # the same processes run on
    assert mqtt_status(card) == {'status': 'started', 'program': 'mqttv4'}
    assert "MQTT: the firmware's mqttv4" in card.script('status')[1]

    # yihttpd's bridge chosen: the firmware's programs stop (by pid), its cron lines go, the bridge runs.
    choose(card, 'yes')
    live = Subscriber(card.broker, 'yicam/status')
    output = restart(card)
    assert "MQTT served by yihttpd's bridge" in output, output
    assert not [pid for pid in firmware if alive(pid)] and firmware_pids(card) == []
    assert [line for line in crontab(card) if '/script/mqtt_advertise/' in line] == []
    assert OTHER_CRON_LINE in crontab(card)
    with open(os.path.join(os.path.dirname(card.crontab), 'cron.update')) as f:
        assert f.read().split() == ['root']
    assert live.next() == 'yicam/status online 0 1'
    bridge = card.pid('yihttpd-mqtt.pid')
    assert alive(bridge) and mqtt_status(card) == {'status': 'started', 'program': 'yihttpd.mqtt'}
    assert "MQTT: yihttpd's bridge" in card.script('status')[1]
    os.kill(bridge, 9)                          # the watchdog runs it again
    assert wait_until(lambda: card.pid('yihttpd-mqtt.pid') not in (None, bridge) and
                      alive(card.pid('yihttpd-mqtt.pid')), 15)
    assert firmware_pids(card) == []
    live.stop()

    # The firmware's chosen again: the bridge stops, and the firmware's own scripts start theirs again.
    choose(card, 'no')
    output = restart(card)
    assert "giving MQTT back to the firmware's programs" in output, output
    assert wait_until(lambda: len(firmware_pids(card)) == 5), firmware_pids(card)
    assert [line for line in crontab(card) if '/script/mqtt_advertise/' in line] == advertise_lines
    assert card.pid('yihttpd-mqtt.pid') is None
    assert mqtt_status(card) == {'status': 'started', 'program': 'mqttv4'}


def test_service_sh_stops_the_bridge_and_its_watchdog(camera):
    card = camera
    card.write('yi-hack/etc/mqttv4.conf', card.read('yi-hack/etc/mqttv4.conf') + b'\nYIHTTPD_MQTT=yes\n')
    status, output = card.script('start')
    assert status == 0, output
    card.wait_serving()
    assert wait_until(lambda: card.pid('yihttpd-mqtt.pid') and alive(card.pid('yihttpd-mqtt.pid')))
    bridge, watchdog = card.pid('yihttpd-mqtt.pid'), card.pid('yihttpd-mqtt-watchdog.pid')
    assert http_get(card.port, '/cgi-bin/service.sh?name=mqtt&action=stop')[0] == 200
    assert not alive(bridge) and wait_until(lambda: not alive(watchdog))
    assert mqtt_status(card).get('program') != 'yihttpd.mqtt'   # (another test's mqttv4 may run)

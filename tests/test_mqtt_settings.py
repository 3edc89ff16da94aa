"""Settings over MQTT, as the firmware's mqtt-config (PREFIX/cmnd/FILE/PARAM,
validate.c's table) and mqtt_set_config.sh (camera_setting/KEY/set) take
them, through the web server's own rules: each rule taken and refused, a
refusal changing nothing on the card.

The camera side is real: the bridge's commands go into a POSIX queue that
stands for /ipc_dispatch, and the multiplexer's copies come back on the
bridge's own copy queue, so a command's stat/camera echo is seen too.
"""
import os

import pytest

from mqtt_harness import wait_until
from yihttpd import ipc

IPC_CMD = '''#!/bin/sh
echo "$@" >> "$0.args"
[ "$1" = -g ] && echo 12.5,40.25
exit 0
'''


@pytest.fixture
def cam(mqtt, sd):
    """The bridge taking settings, a stand-in ipc_cmd (it answers -g), and the commands read back."""
    tool = sd.write('yi-hack/bin/ipc_cmd', IPC_CMD)
    os.chmod(tool, 0o755)
    mqtt.configure()
    sd.set_conf('mqtt_advertise.conf', 'MQTT_ADV_CAMERA_SETTING_ENABLE', 'yes')
    mqtt.bridge = mqtt.start_bridge('--ipc-cmd', tool)
    mqtt.bridge.wait_log('birth published')
    mqtt.taken = []

    def commands_until(*wanted):
        """The commands sent, once these have come (in this order, after any before)."""
        def arrived():
            mqtt.taken += mqtt.dispatch.camera_takes_commands()
            return b''.join(mqtt.taken).endswith(b''.join(wanted))
        assert wait_until(arrived), (mqtt.taken, mqtt.bridge.log())
        return mqtt.taken
    mqtt.commands_until = commands_until
    return mqtt


def conf_lines(sd, name):
    return sd.read('yi-hack/etc/' + name).decode().split('\n')


def refused(cam, sd, cases):
    """Each (topic, payload) is refused, logged, and nothing on the card changes."""
    before = sd.snapshot()
    for n, (topic, payload) in enumerate(cases, 1):
        cam.publish(topic, payload)
        cam.bridge.wait_log('refused ', n)
    assert sd.snapshot() == before
    assert cam.dispatch.commands.drain() == []
    return cam.bridge.log()


def test_system_settings_follow_validate_c_and_set_configs_rules(cam, sd):
    for topic, payload, line in (
            ('yicam/cmnd/system/TELNETD', 'yes', 'TELNETD=yes'),
            ('yicam/cmnd/system/ftpd', 'on', 'FTPD=yes'),             # any case; on/off stored yes/no
            ('yicam/cmnd/system/RTSP_STREAM', 'both', 'RTSP_STREAM=both'),
            ('yicam/cmnd/system/SWAP_SWAPPINESS', '30', 'SWAP_SWAPPINESS=30'),
            ('yicam/cmnd/system/NTP_SERVER', 'time.example.org', 'NTP_SERVER=time.example.org'),
            ('yicam/cmnd/system/TIMELAPSE_DT', '1440+30', 'TIMELAPSE_DT=1440+30'),
            ('yicam/cmnd/SYSTEM/HTTPD_PORT', '8081', 'HTTPD_PORT=8081')):
        cam.publish(topic, payload)
        assert wait_until(lambda: line in conf_lines(sd, 'system.conf')), (line, cam.bridge.log())


def test_system_settings_refused_change_nothing(cam, sd):
    log = refused(cam, sd, [
        ('yicam/cmnd/system/TELNETD', 'maybe'),
        ('yicam/cmnd/system/RTSP_STREAM', 'ultra'),
        ('yicam/cmnd/system/SWAP_SWAPPINESS', '101'),
        ('yicam/cmnd/system/RTSP_PORT', '1\u00b2'),
        ('yicam/cmnd/system/NTP_SERVER', 'x' * 128),
        ('yicam/cmnd/system/TIMELAPSE_DT', '7'),                 # set_configs.sh's rule
        ('yicam/cmnd/system/NOPE', 'yes'),
        ('yicam/cmnd/camera/HTTPD', 'yes'),                      # a key of another file
        ('yicam/cmnd/system/RTSP_AUDIO_NR_LEVEL', '10'),         # validate.c's, not in this system.conf
        ('yicam/cmnd/system/CRONTAB', 'a\rb'),
        ('yicam/cmnd/system/TELNETD', ''),
    ])
    assert 'TIMELAPSE_DT must be one of' in log and 'system.conf has no RTSP_AUDIO_NR_LEVEL' in log


def test_camera_settings_are_saved_sent_and_echoed(cam, sd):
    live = cam.subscribe('yicam/stat/camera/+')
    cam.publish('yicam/cmnd/camera/LED', 'off')
    cam.commands_until(ipc.led(False))
    assert 'LED=no' in conf_lines(sd, 'camera.conf')
    seen = live.until('yicam/stat/camera/led')       # the camera's copy, seen as mqttv4 sees it
    assert seen[-1][1] == b'no'
    cam.publish('yicam/cmnd/camera/SENSITIVITY', 'high')
    cam.publish('yicam/cmnd/camera/SOUND_SENSITIVITY', '35')
    cam.publish('yicam/cmnd/camera/BABY_CRYING_DETECT', 'yes')   # mqtt-config's, not the page's
    cam.commands_until(ipc.sensitivity('high'), ipc.sound_sensitivity('35'), ipc.baby_crying_detection(True))
    for line in ('SENSITIVITY=high', 'SOUND_SENSITIVITY=35', 'BABY_CRYING_DETECT=yes'):
        assert line in conf_lines(sd, 'camera.conf')


def test_camera_ai_settings_close_with_the_ai_rules_and_the_echo_keeps_them_exclusive(cam, sd):
    sd.set_conf('camera.conf', 'AI_HUMAN_DETECTION', 'yes')
    cam.publish('yicam/cmnd/camera/MOTION_DETECTION', 'yes')
    cam.commands_until(ipc.ai_human(True))           # no home version: the AI human switch as it is
    # The camera's copy of "AI human on" makes mqttv4's rule turn motion detection off.
    assert wait_until(lambda: 'MOTION_DETECTION=no' in conf_lines(sd, 'camera.conf'))
    sd.write(os.path.join(cam.directory, 'homever'), '12.0.51.08_202208101411\n')
    cam.publish('yicam/cmnd/camera/AI_VEHICLE_DETECTION', 'yes')
    cam.commands_until(ipc.ai_motion(False), ipc.ai_human(True), ipc.ai_vehicle(True), ipc.ai_animal(False))
    cam.publish('yicam/cmnd/camera/MOTION_DETECTION', 'on')
    cam.commands_until(ipc.ai_motion(True))          # 11 and 12: motion detection is one AI switch
    # ... whose copy turns the three AI detections off in camera.conf
    assert wait_until(lambda: 'AI_VEHICLE_DETECTION=no' in conf_lines(sd, 'camera.conf'))
    cam.publish('yicam/cmnd/camera/CRUISE', 'presets')
    cam.commands_until(ipc.cruise(True), ipc.cruise(True), ipc.cruise_mode('presets'))
    # saved, then echoed as mqttv4 reads the copies: cruise on (yes), on, then the mode
    assert wait_until(lambda: 'CRUISE=presets' in conf_lines(sd, 'camera.conf'))


def test_camera_settings_refused_change_nothing(cam, sd):
    refused(cam, sd, [
        ('yicam/cmnd/camera/LED', 'blue'),
        ('yicam/cmnd/camera/SENSITIVITY', 'max'),
        ('yicam/cmnd/camera/SOUND_SENSITIVITY', '95'),    # validate.c: 30..90
        ('yicam/cmnd/camera/SOUND_SENSITIVITY', '33'),    # camera_settings.sh: its nine levels
        ('yicam/cmnd/camera/CRUISE', 'yes'),
        ('yicam/cmnd/camera/RTSP', 'yes'),
        ('yicam/cmnd/camera/LED', 'y' * 200),
        ('yicam/camera_setting/LED/set', 'maybe'),
    ])


def test_ptz_moves_and_presets_go_the_way_ptz_sh_and_its_presets_go(cam, sd):
    cam.publish('yicam/cmnd/ptz/MOVE', 'left')
    cam.commands_until(ipc.ptz_move('left'), ipc.ptz_stop())
    cam.publish('yicam/cmnd/ptz/MOVE', 'stop')
    cam.publish('yicam/cmnd/ptz/GOTO_PRESET', '3')
    cam.commands_until(ipc.ptz_stop(), ipc.go_preset(3))
    cam.publish('yicam/cmnd/ptz/ADD_PRESET', 'Front door')
    cam.commands_until(ipc.add_preset())
    assert '0=Front door,12.5,40.25' in conf_lines(sd, 'ptz_presets.conf')
    assert sd.read('yi-hack/bin/ipc_cmd.args') == b'-g\n'
    cam.publish('yicam/cmnd/ptz/REMOVE_PRESET', '0')
    cam.commands_until(ipc.remove_preset(0))
    assert wait_until(lambda: '0=' in conf_lines(sd, 'ptz_presets.conf'))
    cam.publish('yicam/cmnd/ptz/SET_HOME_POSITION', 'now')
    cam.commands_until(ipc.remove_preset(0), ipc.add_preset())
    assert '0=Home,,' in conf_lines(sd, 'ptz_presets.conf')   # written before the first command


def test_ptz_refused_change_nothing(cam, sd):
    refused(cam, sd, [
        ('yicam/cmnd/ptz/MOVE', 'up_left'),
        ('yicam/cmnd/ptz/GOTO_PRESET', '8'),
        ('yicam/cmnd/ptz/REMOVE_PRESET', '-1'),
        ('yicam/cmnd/ptz/ADD_PRESET', 'a/b'),
        ('yicam/cmnd/ptz/ZOOM', '1'),
    ])


def test_an_empty_command_publishes_that_conf_never_a_password(cam, sd):
    sd.set_conf('system.conf', 'PASSWORD', 'hunter2')
    sd.set_conf('system.conf', 'USERNAME', 'admin')
    live = cam.subscribe('yicam/stat/system/+')
    cam.publish('yicam/cmnd/system', '')
    seen = {}
    while len(seen) < 60:
        got = live.next_raw()
        assert got is not None, seen
        seen[got[0].rpartition('/')[2]] = got
    assert seen['username'] == ('yicam/stat/system/username', b'admin', 0, 0)
    assert not [key for key in seen if key.endswith('password')]
    assert b'hunter2' not in b''.join(payload for _topic, payload, _r, _q in seen.values())


def test_home_assistants_set_topics_change_camera_settings_then_republish_them(cam, sd):
    live = cam.subscribe('yicam/camera_setting')
    cam.publish('yicam/camera_setting/IR/set', 'no')
    cam.commands_until(ipc.ir(False))
    assert 'IR=no' in conf_lines(sd, 'camera.conf')
    import json
    assert json.loads(live.next_raw()[1])['IR'] == 'no'


def test_a_retained_command_is_taken_at_connect_as_mqtt_config_takes_it(mqtt, sd):
    mqtt.publish('yicam/cmnd/system/SSHD', 'no', retain=True)
    bridge = mqtt.start_bridge()
    assert wait_until(lambda: 'SSHD=no' in conf_lines(sd, 'system.conf')), bridge.log()

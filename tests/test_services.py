"""service.sh: the spec table's names, actions and params, run beside the loop."""
import json
import os
import socket
import subprocess
import sys

import pytest

from harness import wait_until

from mqtt_harness import MOTION_START

# service.sh's status looks for programs machine-wide: one such test at a time (conftest)
pytestmark = pytest.mark.usefixtures('machine_programs')

# Stands in for the firmware's yi-hack/script/service.sh: records each call
# in `calls` beside itself, fails with 3 when `fail` exists, sleeps `delay`
# seconds on start when that file exists, then starts the service's program
# (a stand-in that runs until killed) from where the firmware keeps it, and
# kills it on stop. It never answers status: the server looks at processes.
STAND_IN_SCRIPT = '''#!/bin/sh
dir=$(dirname "$0")
root=$(cd "$dir/../.." && pwd)
echo "$*" >>"$dir/calls"
[ -f "$dir/fail" ] && exit 3
case "$1" in
  rtsp|all) program=yi-hack/bin/rRTSPServer ;;
  onvif) program=yi-hack/bin/onvif_notify_server ;;
  wsdd) program=yi-hack/bin/wsd_simple_server ;;
  ftpd) program=yi-hack/bin/pure-ftpd ;;
  mqtt-config) program=yi-hack/bin/mqtt-config ;;
  mp4record) program=home/app/mp4record ;;
esac
case "$2" in
  start) [ -f "$dir/delay" ] && sleep "$(cat "$dir/delay")"
         "$root/$program" </dev/null >/dev/null 2>&1 &
         echo $! >>"$dir/$1.pids" ;;
  stop) [ -f "$dir/$1.pids" ] && kill $(cat "$dir/$1.pids"); rm -f "$dir/$1.pids" ;;
esac
'''
# A daemon of the firmware, as a stand-in: runs until killed, its command line
# naming it as the real one's does. It closes the descriptors it inherited: on
# MicroPython (no subprocess) children inherit the server's sockets, and a
# client reading to the end would wait for the daemon too.
STAND_IN_DAEMON = '#!%s\nimport os, time\nos.closerange(3, 65536)\nwhile True:\n    time.sleep(1)\n' % (
    sys.executable)
# service name: where the firmware keeps the program whose process means "started"
PROGRAMS = {
    'rtsp': 'yi-hack/bin/rRTSPServer',
    'onvif': 'yi-hack/bin/onvif_notify_server',
    'wsdd': 'yi-hack/bin/wsd_simple_server',
    'ftpd': 'yi-hack/bin/pure-ftpd',
    'mqtt-config': 'yi-hack/bin/mqtt-config',
    'mp4record': 'home/app/mp4record',
    'all': 'yi-hack/bin/rRTSPServer',
}
SCRIPT = 'yi-hack/script/service.sh'
SLOW_START = 3          # seconds the stand-in takes to start a service (the figure)
QUICK_ANSWER = 1.0      # seconds within which another client must be answered meanwhile


def add_program(sd, rel, text):
    path = sd.write(rel, text)
    os.chmod(path, 0o755)
    return path


@pytest.fixture
def script(sd):
    for rel in set(PROGRAMS.values()):
        add_program(sd, rel, STAND_IN_DAEMON)
    return add_program(sd, SCRIPT, STAND_IN_SCRIPT)


def processes_under(root):
    """Pids of the processes whose command line names a file under root."""
    pids = []
    for pid in os.listdir('/proc'):
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                if root.encode() in f.read():
                    pids.append(int(pid))
        except (OSError, ValueError):
            pass
    return pids


@pytest.fixture(autouse=True)
def no_stand_in_left(sd):
    """Stand-in daemons (and anything else run from the SD root) end with the test."""
    yield
    for pid in processes_under(sd.path):
        try:
            os.kill(pid, 9)
        except OSError:
            pass


def state_of(server, name):
    answer = server.get_json('/cgi-bin/service.sh?name=%s&action=status' % name)
    assert answer[0] == 200
    return answer[1]


def calls(sd):
    path = sd.file('yi-hack/script/calls')
    if not os.path.exists(path):
        return []
    return open(path).read().splitlines()


def start(start_server, tmp_path, *args):
    return start_server('--tmp-dir', str(tmp_path), *args)


def test_start_and_stop_pass_name_action_and_params_as_arguments(start_server, tmp_path, sd, script):
    server = start(start_server, tmp_path)
    assert server.get_json('/cgi-bin/service.sh?name=rtsp&action=start&param1=high') == (
        200, {'error': 'false'})
    assert server.get_json('/cgi-bin/service.sh?name=rtsp&action=stop')[0] == 200
    assert server.get_json('/cgi-bin/service.sh?name=onvif&action=start&param1=both&param2=no')[0] == 200
    for name in ('mp4record', 'wsdd', 'mqtt-config', 'all'):
        for action in ('start', 'stop'):
            assert server.get_json('/cgi-bin/service.sh?name=%s&action=%s' % (name, action)) == (
                200, {'error': 'false'})
    assert calls(sd) == ['rtsp start high', 'rtsp stop', 'onvif start both no',
                         'mp4record start', 'mp4record stop', 'wsdd start', 'wsdd stop',
                         'mqtt-config start', 'mqtt-config stop', 'all start', 'all stop']


def wait_status(server, name, wanted):
    assert wait_until(lambda: state_of(server, name) == {'status': wanted}), '%s never %s' % (name, wanted)


def started(process, word):
    """Whether a process started with Popen runs its program now (its command line holds word)."""
    try:
        with open('/proc/%d/cmdline' % process.pid, 'rb') as f:
            return word.encode() in f.read()
    except OSError:
        return False


@pytest.mark.parametrize('name', sorted(PROGRAMS))
def test_status_is_whether_the_service_program_runs_as_the_firmware_checks(start_server, tmp_path, sd,
                                                                          script, name):
    """started while a process of the firmware's program runs (its ps | grep), not an exit code."""
    server = start(start_server, tmp_path)
    assert state_of(server, name) == {'status': 'stopped'}
    assert server.get_json('/cgi-bin/service.sh?name=%s&action=start' % name)[0] == 200
    wait_status(server, name, 'started')
    assert server.get_json('/cgi-bin/service.sh?name=%s&action=stop' % name)[0] == 200
    wait_status(server, name, 'stopped')
    assert calls(sd) == [name + ' start', name + ' stop']   # the script is never asked


def test_status_leaves_out_grep_and_the_service_script_asking(start_server, tmp_path, sd):
    """The firmware's `service.sh ftpd status` matched its own command line: always started."""
    asking = add_program(sd, SCRIPT, '#!/bin/sh\nsleep 30\n')
    server = start(start_server, tmp_path)
    others = [subprocess.Popen([asking, 'ftpd', 'status']),
              subprocess.Popen(['grep', 'ftpd'], stdin=subprocess.PIPE)]
    try:
        assert wait_until(lambda: all(started(p, 'ftpd') for p in others))
        assert state_of(server, 'ftpd') == {'status': 'stopped'}
        daemon = subprocess.Popen([add_program(sd, PROGRAMS['ftpd'], STAND_IN_DAEMON)])
        others.append(daemon)
        wait_status(server, 'ftpd', 'started')
        daemon.kill()
        daemon.wait()
        assert state_of(server, 'ftpd') == {'status': 'stopped'}
    finally:
        for other in others:
            other.kill()
            other.wait()


def test_service_script_path_is_configurable(start_server, tmp_path, sd):
    other = sd.write('elsewhere/service.sh', STAND_IN_SCRIPT)
    os.chmod(other, 0o755)
    server = start(start_server, tmp_path, '--service-script', other)
    assert server.get_json('/cgi-bin/service.sh?name=ftpd&action=start&param1=pure-ftpd')[0] == 200
    assert open(sd.file('elsewhere/calls')).read() == 'ftpd start pure-ftpd\n'


BAD_QUERIES = (
    '',                                                   # no name
    'name=rtsp',                                          # no action
    'name=telnet&action=start',                           # unknown service
    'name=RTSP&action=start',                             # names are exact
    'name=rtsp&action=restart',                           # unknown action
    'name=rtsp&action=start&param1=ultra',                # bad resolution
    'name=rtsp&action=start&param1=high%3Breboot',        # shell text
    'name=rtsp&action=start&param1=high&param2=yes',      # rtsp has no param2
    'name=onvif&action=start&param1=low&param2=maybe',    # bad watermark
    'name=ftpd&action=start&param1=low',                  # not an ftp daemon
    'name=mqtt&action=start&param1=high',                 # mqtt takes no params
    'name=mp4record&action=stop&param2=no',               # neither does mp4record
    'name=wsdd&action=start&param1=low',                  # nor wsdd
    'name=mqtt-config&action=start&param1=high',          # nor mqtt-config
    'name=all&action=start&param1=both',                  # nor all
    'name=mqtt_config&action=start',                      # names are exact
    'name=rtsp%00&action=start',                          # NUL
    'name=..%2Fservice.sh&action=start',                  # a path
    'name=%c0%ae%c0%ae%2F&action=start',                  # overlong UTF-8 (MicroPython decodes it)
    'name=rtsp&action=%ef%bc%8e%ef%bc%8e',                # fullwidth dots
    'name=rtsp&action=start&param1=%c0%ae%ff',            # not UTF-8: still a plain JSON answer
)


def test_bad_inputs_answer_400_and_run_nothing(start_server, tmp_path, sd, script):
    server = start(start_server, tmp_path)
    before = sd.snapshot()
    for query in BAD_QUERIES:
        status, body = server.get_json('/cgi-bin/service.sh?' + query)
        assert status == 400, query
        assert body['error'] == 'true' and body['message'], query
    status, _ = server.get_json('/cgi-bin/service.sh?name=rtsp&action=start',
                                headers={'Sec-Fetch-Site': 'cross-site'})
    assert status == 403   # answered at once: a script started would have been waited for
    assert calls(sd) == []
    assert sd.snapshot() == before


def test_other_clients_are_answered_while_a_service_takes_3s_to_start(start_server, tmp_path, sd, script,
                                                                     meanwhile):
    sd.write('yi-hack/script/delay', str(SLOW_START))
    server = start(start_server, tmp_path)
    answer, took, other = meanwhile(server, '/cgi-bin/service.sh?name=rtsp&action=start&param1=low')
    assert other < QUICK_ANSWER
    assert (answer[0], json.loads(answer[2])) == (200, {'error': 'false'})
    assert took >= SLOW_START - 0.5


MAX_SCRIPT_RUNS = 8   # service scripts the server runs at once


def test_a_flood_of_service_requests_runs_at_most_8_scripts_at_once(start_server, tmp_path, sd,
                                                                     script):
    # Before: every request forked a script, even from clients that left at once.
    sd.write('yi-hack/script/delay', '2')
    server = start(start_server, tmp_path)
    clients = []
    for _ in range(MAX_SCRIPT_RUNS + 4):
        client = socket.create_connection((server.host, server.port), timeout=10)
        client.sendall(b'GET /cgi-bin/service.sh?name=rtsp&action=start HTTP/1.1\r\n'
                       b'Host: 127.0.0.1\r\nConnection: close\r\n\r\n')
        clients.append(client)
    answers = []
    for client in clients:
        with client, client.makefile('rb') as answer:
            answers.append(answer.read().split(b' ', 2)[1])
    assert answers.count(b'503') == 4 and answers.count(b'200') == MAX_SCRIPT_RUNS
    assert len(calls(sd)) == MAX_SCRIPT_RUNS
    assert state_of(server, 'rtsp') == {'status': 'started'}


def test_a_missing_service_script_is_reported(start_server, tmp_path):
    server = start(start_server, tmp_path)
    status, body = server.get_json('/cgi-bin/service.sh?name=rtsp&action=start')
    assert status == 503 and 'no service script' in body['message']


def test_a_failing_service_script_is_reported(start_server, tmp_path, sd, script):
    sd.write('yi-hack/script/fail', '')
    server = start(start_server, tmp_path)
    status, body = server.get_json('/cgi-bin/service.sh?name=rtsp&action=start')
    assert status == 500
    assert 'exit 3' in body['message']
    assert state_of(server, 'rtsp') == {'status': 'stopped'}


@pytest.fixture(autouse=True)
def no_bridge_left(tmp_path):
    """A bridge that a failed test left running is killed."""
    yield
    try:
        pid = bridge_pid(tmp_path)
    except (OSError, ValueError):
        return
    if is_alive(pid):
        os.kill(pid, 9)


def bridge_pid(tmp_path):
    text = open(os.path.join(str(tmp_path), 'yihttpd-mqtt.pid')).read().strip()
    return int(text)


def is_alive(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return b'yihttpd.mqtt' in f.read()
    except OSError:
        return False


def mqtt_service(server, action):
    return server.get_json('/cgi-bin/service.sh?name=mqtt&action=' + action)


def no_bridge(server):
    """Status says the bridge does not run (the firmware's mqttv4 may: another test's stand-in,
    seen machine-wide in /proc as the firmware's service.sh sees it)."""
    status, body = mqtt_service(server, 'status')
    return status == 200 and body.get('program') != 'yihttpd.mqtt' and body['status'] in ('started', 'stopped')


def test_mqtt_starts_and_stops_the_bridge_process(start_server, tmp_path, mqtt):
    server = start(start_server, tmp_path, '--mqtt-events', mqtt.events.name)
    assert no_bridge(server)
    assert mqtt_service(server, 'start') == (200, {'error': 'false'})
    pid = bridge_pid(tmp_path)
    assert is_alive(pid)
    assert mqtt_service(server, 'status') == (200, {'status': 'started', 'program': 'yihttpd.mqtt'})
    # A second start keeps the one bridge.
    assert mqtt_service(server, 'start')[0] == 200
    assert bridge_pid(tmp_path) == pid
    assert mqtt_service(server, 'stop') == (200, {'error': 'false'})
    assert not is_alive(pid)
    assert no_bridge(server)


def test_mqtt_settings_take_effect_on_stop_then_start(start_server, tmp_path, sd, mqtt):
    live = mqtt.subscribe('+/+')   # the status and events, not stat/camera/KEY
    server = start(start_server, tmp_path, '--mqtt-events', mqtt.events.name)
    assert mqtt_service(server, 'start')[0] == 200
    live.expect('yicam/status online 0 1')
    mqtt.events.send(MOTION_START)
    live.expect('yicam/motion_detection motion_start 0 1')
    sd.set_conf('mqttv4.conf', 'MQTT_PREFIX', 'garden')
    assert mqtt_service(server, 'stop')[0] == 200
    live.expect('yicam/status offline 0 1')      # a clean stop says goodbye itself
    assert mqtt_service(server, 'start')[0] == 200
    live.expect('garden/status online 0 1')
    mqtt.events.send(MOTION_START)
    live.expect('garden/motion_detection motion_start 0 1')


def test_a_bridge_that_cannot_start_is_reported(start_server, tmp_path, sd, mqtt):
    sd.set_conf('mqttv4.conf', 'MQTT_QOS', '3')
    server = start(start_server, tmp_path, '--mqtt-events', mqtt.events.name)
    status, body = mqtt_service(server, 'start')
    assert status == 500 and 'exited at start' in body['message']
    assert no_bridge(server)


def test_a_bridge_with_a_port_in_other_digits_stops_at_start_saying_so(mqtt, sd):
    # '1²'.isdigit() is True on CPython but int() refuses it: a traceback before.
    sd.set_conf('mqttv4.conf', 'MQTT_PORT', '1\u00b2')
    bridge = mqtt.start_bridge()
    assert bridge.proc.wait(5) == 2
    assert 'MQTT_PORT' in bridge.log() and 'expected a number' in bridge.log()


def test_a_restarted_server_still_stops_its_bridge(start_server, tmp_path, mqtt):
    first = start(start_server, tmp_path, '--mqtt-events', mqtt.events.name)
    assert mqtt_service(first, 'start')[0] == 200
    pid = bridge_pid(tmp_path)
    first.stop()
    second = start(start_server, tmp_path)
    assert mqtt_service(second, 'status') == (200, {'status': 'started', 'program': 'yihttpd.mqtt'})
    assert mqtt_service(second, 'stop')[0] == 200
    assert not is_alive(pid)

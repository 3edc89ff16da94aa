"""The MQTT bridge's pure parts (mqtt_units.py) on CPython here and under
MicroPython 1.26.1, x86-64 and 32-bit ARM under qemu-arm: among them the
IPC parsing, checked against every message the firmware's mqttv4 tells
apart, read from its own sources (include/ipc.h and src/ipc.c)."""
import json
import os
import re
import subprocess

import pytest

import mqtt_units
from harness import REPO, micropython_path
from mqtt_harness import FIRMWARE_MQTT, firmware_file
from mqtt_units import *  # noqa: F401,F403 - pytest collects the test_* functions on CPython

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
# mqttv4's handlers and the bridge's event names
HANDLERS = {'motion_start': 'motion_start', 'motion_stop': 'motion_stop',
            'ai_human_detection': 'ai_human_detected', 'ai_vehicle_detection': 'ai_vehicle_detected',
            'ai_animal_detection': 'ai_animal_detected', 'baby_crying': 'baby_crying',
            'sound_detection': 'sound_detected'}


def firmware_ipc_table():
    """[(hex, 'event' or 'setting', name or key, value)] as mqttv4's parse_message reads messages."""
    header = firmware_file(FIRMWARE_MQTT, 'mqttv4/include/ipc.h').decode()
    source = firmware_file(FIRMWARE_MQTT, 'mqttv4/src/ipc.c').decode()
    defines = dict((name, bytes(int(h, 16) for h in re.findall(r'\\x([0-9a-f]{2})', text)))
                   for name, text in re.findall(r'#define (IPC_\w+)\s+"([^"]*)"', header))
    block = header[:header.index('} IPC_COMMAND_TYPE')]
    commands = re.findall(r'(IPC_CMD_\w+)\s*,', block[block.rindex('{'):])
    params = re.findall(r'\{ "(\w*)",\s*"(\w*)"\s*\}', source)
    settings = dict(zip(commands, params))
    table = []
    for name, call in re.findall(r'memcmp\(msg, (IPC_\w+)\s*,.*?\n\s*\{?\s*handle_ipc_(\w+\([^)]*\))', source):
        kind, arg = call.rstrip(')').split('(')
        if kind == 'command':
            key, value = settings[arg]
            table.append((defines[name].hex(), 'setting', key, value))
        else:
            table.append((defines[name].hex(), 'event', HANDLERS[kind], None))
    return table


@pytest.fixture(scope='module')
def ipc_table(tmp_path_factory):
    table = firmware_ipc_table()
    assert len(table) == 51       # 9 events and 42 commands, as mqttv4's parse_message has them
    path = str(tmp_path_factory.mktemp('ipc') / 'ipc_table.json')
    with open(path, 'w') as f:
        json.dump(table, f)
    return path


def test_every_message_mqttv4_tells_apart_is_read_the_same(ipc_table):
    mqtt_units.check_ipc_table(ipc_table)


@pytest.mark.parametrize('interpreter', ['micropython', 'armhf'])
def test_the_same_unit_tests_pass_on_micropython(interpreter, ipc_table):
    count = len([name for name in dir(mqtt_units) if name.startswith('test_')]) + 1
    env = dict(os.environ, MICROPYPATH=REPO + ':' + TESTS_DIR)
    done = subprocess.run([micropython_path(interpreter), '-X', 'heapsize=512K',
                           os.path.join(TESTS_DIR, 'mqtt_units.py'), ipc_table],
                          cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    out = done.stdout.decode()
    assert done.returncode == 0 and out.strip().endswith('%d passed, 0 failed' % count), out

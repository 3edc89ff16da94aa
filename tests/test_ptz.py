"""ptz.sh and preset.sh as the firmware's: per-model inversion, diagonals,
cont/abs/rel, presets in ptz_presets.conf. The bytes are read back from a
real POSIX queue; the expected ones are ipc_cmd.h's, written out here."""
import os
import struct

import pytest

pytestmark = pytest.mark.arch   # also on 32-bit ARM and MIPS (musl) under qemu

# ipc_cmd.h, byte for byte
MOVE = b'\x01\x00\x00\x00\x08\x00\x00\x00\x06\x40\x06\x40\x18\x00\x00\x00%c\x00\x00\x00\x00\x00\x00\x00'
UP, DOWN, LEFT, RIGHT = (MOVE % n for n in (1, 2, 3, 4))
STOP = b'\x01\x00\x00\x00\x08\x00\x00\x00\x07\x40\x01\x00\x00\x00\x00\x00'
JUMP = b'\x01\x00\x00\x00\x08\x00\x00\x00\x09\x40\x09\x40\x18\x00\x00\x00'
ADD_PRESET = b'\x01\x00\x00\x00\x08\x00\x00\x00\x00\x40\x01\x00\x00\x00\x00\x00'
REMOVE_PRESET = b'\x01\x00\x00\x00\x08\x00\x00\x00\x01\x40\x01\x00\x04\x00\x00\x00%c\x00\x00\x00'

# A stand-in for the firmware's ipc_cmd where the firmware puts it: it logs
# its arguments and answers -g as the real one does ("x,y" in degrees).
STAND_IN = '''#!/bin/sh
echo "$@" >> "$(dirname "$0")/ipc_cmd.args"
[ "$1" = -g ] && echo 12.3,45.6
exit 0
'''


def stand_in_ipc_cmd(sd):
    path = sd.write('yi-hack/bin/ipc_cmd', STAND_IN)
    os.chmod(path, 0o755)
    return lambda: sd.read('yi-hack/bin/ipc_cmd.args').decode() if os.path.exists(
        sd.file('yi-hack/bin/ipc_cmd.args')) else ''


@pytest.mark.table
@pytest.mark.parametrize('model,direction,sent', [
    ('r30gb', 'left', RIGHT), ('r30gb', 'up', DOWN), ('b091qp', 'down', UP), ('q321br_lsx', 'right', LEFT),
    ('h51ga', 'left', RIGHT), ('h51ga', 'right', LEFT), ('h51ga', 'up', UP), ('h60ga', 'down', DOWN),
    ('y211ga', 'left', LEFT), ('y211ga', 'up', UP),
])
def test_a_move_is_turned_for_models_mounted_the_other_way(camera, sd, model, direction, sent):
    sd.write('yi-hack/model_suffix', model + '\n')
    status, body = camera.server.get_json('/cgi-bin/ptz.sh?dir=%s&time=0.1' % direction)
    assert (status, body) == (200, {'error': 'false'})
    assert camera.sent() == sent + STOP


def test_a_diagonal_moves_one_axis_then_the_other(camera, sd):
    sd.write('yi-hack/model_suffix', 'h51ga\n')
    assert camera.server.get_json('/cgi-bin/ptz.sh?dir=up_left&time=0.1')[0] == 200
    assert camera.sent() == UP + STOP + RIGHT + STOP


def test_cont_moves_until_stop(camera, sd):
    sd.write('yi-hack/model_suffix', 'r30gb\n')
    assert camera.server.get_json('/cgi-bin/ptz.sh?action=cont&dir=up') == (200, {'error': 'false'})
    assert camera.sent() == DOWN
    assert camera.server.get_json('/cgi-bin/ptz.sh?action=cont&dir=stop')[0] == 200
    assert camera.sent() == STOP


@pytest.mark.table
@pytest.mark.parametrize('model,x,y,steps', [
    ('y211ga', '10', '-5', (63, 45)),      # round(round(10*4100/360)*100/911+50), likewise y
    ('h51ga', '10', '-5', (63, 55)),       # these models' tilt is turned
    ('r30gb', '-360', '180', (-400, 230)),
])
def test_rel_sends_the_jump_ipc_cmd_would(camera, sd, model, x, y, steps):
    sd.write('yi-hack/model_suffix', model + '\n')
    assert camera.server.get_json('/cgi-bin/ptz.sh?action=rel&x=%s&y=%s' % (x, y))[0] == 200
    assert camera.sent() == JUMP + struct.pack('<ii', *steps)


def test_abs_asks_ipc_cmd_which_reads_the_position(camera, sd):
    args = stand_in_ipc_cmd(sd)
    assert camera.server.get_json('/cgi-bin/ptz.sh?action=abs&x=90&y=45.5') == (200, {'error': 'false'})
    assert args() == '-j 90,45.5\n'


@pytest.mark.table
@pytest.mark.parametrize('query', [
    'action=step&dir=up_up', 'dir=left_up', 'action=cont&dir=up_left', 'action=cont',
    'action=jump&dir=up', 'action=abs&x=361&y=0', 'action=abs&x=-1&y=0', 'action=abs&x=10',
    'action=abs&x=1;reboot&y=1', 'action=rel&x=1e3&y=0', 'action=rel&x=10&y=-181',
    'action=rel&x=--1&y=0', 'action=rel&x=1.&y=0', 'action=abs&x=1,2&y=3',
])
def test_ptz_refuses_what_ipc_cmd_would_not_take(camera, sd, query):
    args = stand_in_ipc_cmd(sd)
    before = sd.snapshot()
    status, body = camera.server.get_json('/cgi-bin/ptz.sh?' + query)
    assert status == 400 and body['error'] == 'true'
    assert camera.sent() == b'' and args() == ''
    assert sd.snapshot() == before


# --- presets ---

def presets(sd):
    return sd.read('yi-hack/etc/ptz_presets.conf').decode()


EMPTY = ''.join('%d=\n' % n for n in range(8))


@pytest.fixture
def preset_card(sd):
    sd.write('yi-hack/etc/ptz_presets.conf', EMPTY)
    return stand_in_ipc_cmd(sd)


def test_add_preset_names_the_current_position_in_the_first_free_slot(camera, sd, preset_card):
    status, body = camera.server.get_json('/cgi-bin/preset.sh?action=add_preset&name=Front%20door')
    assert (status, body) == (200, {'error': 'false'})
    assert presets(sd) == '0=Front door,12.3,45.6\n' + EMPTY[3:]
    assert camera.sent() == ADD_PRESET
    assert preset_card() == '-g\n'
    assert camera.server.get_json('/cgi-bin/preset.sh?action=add_preset&name=Gate&num=5')[0] == 200
    assert presets(sd).split('\n')[5] == '5=Gate,12.3,45.6'
    listed = camera.server.get_json('/cgi-bin/preset.sh?action=get_presets')[1]
    assert listed['0'] == 'Front door,12.3,45.6' and listed['1'] == '' and len(listed) == 8


def test_a_name_already_there_is_refused_with_the_firmware_message(camera, sd, preset_card):
    assert camera.server.get_json('/cgi-bin/preset.sh?action=add_preset&name=Gate')[0] == 200
    camera.sent()
    before = sd.snapshot()
    status, body = camera.server.get_json('/cgi-bin/preset.sh?action=add_preset&name=Gate')
    assert status == 400 and body == {'error': 'true', 'message': 'Preset already exists'}
    assert sd.snapshot() == before and camera.sent() == b''


def test_del_preset_clears_the_slot_and_removes_it_on_the_camera(camera, sd, preset_card):
    sd.write('yi-hack/etc/ptz_presets.conf', '0=A,1.0,2.0\n1=B,3.0,4.0\n' + EMPTY[6:])
    assert camera.server.get_json('/cgi-bin/preset.sh?action=del_preset&num=1')[0] == 200
    assert presets(sd) == '0=A,1.0,2.0\n' + EMPTY[3:]
    assert camera.sent() == REMOVE_PRESET % 1
    assert camera.server.get_json('/cgi-bin/preset.sh?action=del_preset&num=all')[0] == 200
    assert presets(sd) == EMPTY
    assert camera.sent() == b''.join(REMOVE_PRESET % n for n in range(8))


@pytest.mark.table
@pytest.mark.parametrize('query', [
    'action=add_preset', 'action=add_preset&name=', 'action=add_preset&name=a%2Cb',
    'action=add_preset&name=a%3Db', 'action=add_preset&name=a%0Ab', 'action=add_preset&name=$(reboot)',
    'action=add_preset&name=ok&num=8', 'action=del_preset', 'action=del_preset&num=8',
    'action=del_preset&num=-1', 'action=edit_preset&num=1',
])
def test_preset_refusals_change_nothing(camera, sd, preset_card, query):
    before = sd.snapshot()
    status, body = camera.server.get_json('/cgi-bin/preset.sh?' + query)
    assert status == 400 and body['error'] == 'true'
    assert sd.snapshot() == before and camera.sent() == b'' and preset_card() == ''

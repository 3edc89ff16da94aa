"""One error path: whatever a later step of a service raises is answered at once.

Each handler family that answers later (a timer, a child program, a batch on
the loop) gets a failure injected into that later step, through the
in-process test client: the client must get the answer the error maps to
(500 for an unexpected one, its own for an HttpError) promptly, not the
server's 120 s safety net, and what the service holds is let go.
"""
import bz2
import io
import os
import tarfile
import threading
import time

import pytest

from client import TestClient
from yihttpd.handlers import (audio, defaults, network, ptz, records, services, snapshot,
                              system)

PROMPT = 5.0   # seconds: an answer by then is prompt (the safety net is 120 s)


class Injected(Exception):
    """The failure a test puts into a later step."""


def fail(*_args, **_kwargs):
    raise Injected('injected')


def executable(sd, rel, body):
    path = sd.write(rel, '#!/bin/sh\n' + body + '\n')
    os.chmod(path, 0o755)
    return path


@pytest.fixture
def tmp_dir(tmp_path):
    path = tmp_path / 'tmp'
    path.mkdir()
    return str(path)


@pytest.fixture
def client(sd, tmp_dir):
    return TestClient(sd.path, tmp_dir=tmp_dir)


def answered_promptly(client, target, method='GET', body=b''):
    began = time.monotonic()
    answer = client.request(method, target, body)
    assert time.monotonic() - began < PROMPT, target
    return answer


def assert_internal_error(answer):
    assert answer.status == 500, answer
    assert answer.json() == {'error': 'true', 'message': 'internal error: Injected'}


def test_a_camera_setting_that_fails_while_sent_is_answered_and_counted_out(client, monkeypatch):
    sent = []

    def second_fails(message):
        sent.append(message)
        if len(sent) == 2:
            raise Injected('injected')
    monkeypatch.setattr(client.app.ipc, 'send', second_fails)
    assert_internal_error(answered_promptly(client, '/cgi-bin/camera_settings.sh?led=yes&ir=yes'))
    assert len(sent) == 2 and client.app.settings_sending == 0


def test_a_ptz_stop_that_fails_is_answered_and_the_move_let_go(client, monkeypatch):
    monkeypatch.setattr(ptz.ipc, 'ptz_stop', fail)
    assert_internal_error(answered_promptly(client, '/cgi-bin/ptz.sh?dir=left&time=0.1'))
    assert client.app.ptz_move is None


def test_a_preset_that_cannot_be_written_is_answered(client, sd, monkeypatch):
    tool = executable(sd, 'yi-hack/bin/ipc_cmd', 'echo 12.5,40.0')
    client.options.ipc_cmd = tool
    before = sd.read('yi-hack/etc/ptz_presets.conf')
    monkeypatch.setattr(ptz.ptz_rules, 'write_presets', fail)   # the presets' rule (ptz_rules.py)
    assert_internal_error(answered_promptly(client, '/cgi-bin/preset.sh?action=add_preset&name=Door'))
    assert sd.read('yi-hack/etc/ptz_presets.conf') == before


def test_a_deletion_that_fails_between_batches_is_answered(client, sd, monkeypatch):
    sd.add_hours(3, 60)
    steps = records.removal_steps
    taken = []

    def fails_after_two_batches(path):
        for step in steps(path):
            taken.append(path)
            if len(taken) == 2 * records.REMOVALS_PER_TURN:
                raise Injected('injected')
            yield step
    monkeypatch.setattr(records, 'removal_steps', fails_after_two_batches)
    assert_internal_error(answered_promptly(client, '/cgi-bin/eventsdirdel.sh?dir=all'))
    assert len(taken) == 2 * records.REMOVALS_PER_TURN   # the first turn answered nothing


def test_a_long_poll_check_that_fails_answers_every_waiter(client, sd, monkeypatch):
    sd.add_video('2020Y01M01D01H', '00M00S60')
    sd.write('record/tmp.mp4.tmp', b'being recorded')
    monkeypatch.setattr(records, 'newest_state', fail)
    assert_internal_error(answered_promptly(client, '/cgi-bin/getlastrecordedvideo.sh?oldness=-1'))
    assert client.app.state(records.__name__, records.NextVideoWatch).waiters == []


def test_a_snapshot_whose_image_cannot_be_read_is_answered_and_its_grabber_let_go(
        client, sd, tmp_dir, monkeypatch):
    executable(sd, 'yi-hack/bin/imggrabber', 'printf "\\377\\330\\377frame"')
    monkeypatch.setattr(snapshot, 'open_jpeg', fail)
    assert_internal_error(answered_promptly(client, '/cgi-bin/snapshot.sh'))
    assert snapshot.grabbers(client.app).running == 0
    assert [n for n in os.listdir(tmp_dir) if n.startswith('yihttpd-snapshot')] == []


def test_a_service_script_whose_end_cannot_be_answered_is_answered(client, sd, monkeypatch):
    client.options.service_script = executable(sd, 'yi-hack/script/service.sh', 'exit 0')
    monkeypatch.setattr(services, 'ok', fail)
    assert_internal_error(answered_promptly(client, '/cgi-bin/service.sh?name=ftpd&action=start'))
    assert services.services(client.app).scripts == 0


def test_a_release_check_that_fails_is_answered(client, sd, monkeypatch):
    client.options.wget = executable(sd, 'wget-stand-in', 'exit 0')
    monkeypatch.setattr(system, 'tag_from_release', fail)
    assert_internal_error(answered_promptly(client, '/cgi-bin/fw_upgrade.sh?get=info'))


def tgz(members):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode='w:gz') as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def test_an_upgrade_that_fails_while_installed_is_answered_and_another_may_start(
        client, sd, monkeypatch):
    sd.write('y211ga_x.x.x.tgz', tgz({'yi-hack/version': b'0.5.0\n'}))
    client.options.upgrade_min_free_mb = 0
    client.options.reboot_cmd = 'true'
    monkeypatch.setattr(system, 'keep_settings', fail)
    assert_internal_error(answered_promptly(client, '/cgi-bin/fw_upgrade.sh?get=upgrade'))
    assert not client.app.state(system.__name__, system.Upgrading).running
    assert not os.path.exists(sd.file(system.STAGING))
    assert sd.read('yi-hack/version') == b'0.4.1\n'


def test_a_wifi_scan_that_cannot_be_read_is_answered(client, sd, monkeypatch):
    executable(sd, 'yi-hack/bin/iwlist', 'echo \'ESSID:"home"\'')
    monkeypatch.setattr(network, 'essids', fail)
    assert_internal_error(answered_promptly(client, '/cgi-bin/wifi.sh?action=scan'))


def test_a_sound_whose_end_cannot_be_answered_is_answered_and_the_speaker_let_go(
        client, sd, tmp_path, monkeypatch):
    executable(sd, 'yi-hack/bin/pcmvol', 'cat > /dev/null')
    sd.write(audio.AUDIO_DIR + '/door.pcm', b'\0' * 64)
    fifo = str(tmp_path / 'audio_in_fifo')
    os.mkfifo(fifo)
    threading.Thread(target=lambda: open(fifo, 'rb').read(), daemon=True).start()   # the camera
    client.options.audio_fifo = fifo
    answer = audio.answer
    monkeypatch.setattr(audio, 'answer', lambda error, *args: fail() if not error else answer(error, *args))
    assert_internal_error(answered_promptly(client, '/cgi-bin/speaker_file.sh', 'POST', b'door.pcm'))
    assert not audio.speaker_state(client.app).playing


def test_a_reset_that_fails_while_restoring_is_answered_and_changes_nothing(client, sd, monkeypatch):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode='w', format=tarfile.USTAR_FORMAT) as archive:
        for name, data in (('system.conf', b'HTTPD=yes\n'), ('camera.conf', b'LED=no\n')):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    sd.write('yi-hack/etc/defaults.tar.bz2', bz2.compress(raw.getvalue()))
    before = sd.snapshot()
    monkeypatch.setattr(defaults, 'install', fail)
    assert_internal_error(answered_promptly(client, '/cgi-bin/reset.sh'))
    assert sd.snapshot() == before

"""speak.sh, speaker.sh, speaker_file.sh: the firmware's programs (stand-ins
where the firmware puts them, same arguments) and its FIFO, read back here."""
import json
import os
import threading

import pytest

from conftest import prepared, shared
from harness import wait_until

pytestmark = pytest.mark.arch   # also on 32-bit ARM and MIPS (musl) under qemu

# Stand-ins: each logs its arguments; nanotts turns its text into "PCM<text>",
# pcmvol copies its input to its output (the FIFO), as the real ones stream.
STAND_INS = {
    'nanotts': 'echo "nanotts $*" >> "$LOG"; printf "PCM<"; cat; printf ">"',
    'pcmvol': 'echo "pcmvol $*" >> "$LOG"; cat',
    'speaker': 'echo "speaker $*" >> "$LOG"',
}


class Audio:
    def __init__(self, sd, tmp_path, start_server, fifo=True):
        self.sd = sd
        self.log_path = str(tmp_path / 'audio.log')
        for name, body in STAND_INS.items():
            path = sd.write('yi-hack/bin/' + name, '#!/bin/sh\nLOG=%s\n%s\n' % (self.log_path, body))
            os.chmod(path, 0o755)
        self.fifo = str(tmp_path / 'audio_in_fifo')
        if fifo:
            os.mkfifo(self.fifo)
        self.server = start_server('--audio-fifo', self.fifo)
        self.heard = None

    def listen(self):
        """Read the FIFO in a thread, as the camera's audio input does; heard() waits for the end."""
        got = {}

        def read():
            with open(self.fifo, 'rb') as f:
                got['data'] = f.read()
        thread = threading.Thread(target=read, daemon=True)
        thread.start()

        def heard():
            thread.join(10)
            return got.get('data')
        self.heard = heard

    def post(self, path, body=b'', headers=None):
        status, _headers, data = self.server.request('POST', path, body, headers or {})
        return status, json.loads(data)

    def log(self, wait_for=None):
        """What the stand-ins logged (once it holds wait_for, if given)."""
        def text():
            return open(self.log_path).read() if os.path.exists(self.log_path) else ''
        if wait_for is not None:
            wait_until(lambda: wait_for in text())
        return text()


@pytest.fixture
def audio(request, runtime):
    return shared(request, Audio)


def test_speak_runs_nanotts_then_pcmvol_into_the_fifo(audio, sd):
    before = sd.snapshot()
    audio.listen()
    status, body = audio.post('/cgi-bin/speak.sh?lang=it-IT&voldb=5', b'Ciao, mondo!\nsecond line')
    assert (status, body) == (200, {'error': 'false', 'description': 'Ciao, mondo!'})
    assert audio.heard() == b'PCM<Ciao, mondo!\n>'
    assert audio.log() == ('speaker on\nnanotts -l %s/yi-hack/usr/share/pico/lang -v it-IT -c\n'
                           'pcmvol -G 5\nspeaker off\n' % sd.path)
    assert sd.snapshot() == before   # its text and PCM files are gone


def test_speak_takes_vol_as_a_factor(audio):
    audio.listen()
    assert audio.post('/cgi-bin/speak.sh?vol=0.5', b'hi')[0] == 200
    assert audio.heard() == b'PCM<hi\n>'
    assert 'pcmvol -g 0.5\n' in audio.log() and '-v en-US' in audio.log()


def form(data, name='wav.wav'):
    boundary = 'xYzBoundary'
    body = ('--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
            'Content-Type: audio/wav\r\n\r\n' % (boundary, name)).encode() + data + \
        ('\r\n--%s--\r\n' % boundary).encode()
    return body, {'Content-Type': 'multipart/form-data; boundary=' + boundary}


def test_speaker_plays_a_form_upload_and_answers_at_once(audio, sd):
    before = sd.snapshot()
    sound = b'RIFF' + bytes(range(256)) * 300
    body, headers = form(sound)
    status, answer = audio.post('/cgi-bin/speaker.sh?voldb=-3', body, headers)
    assert (status, answer) == (200, {'error': 'false', 'description': ''})
    audio.listen()
    assert audio.heard() == sound[4:]   # the firmware drops the 4 bytes 'RIFF'
    assert audio.log('speaker off') == 'speaker on\npcmvol -G -3\nspeaker off\n'
    assert wait_until(lambda: sd.snapshot() == before)


def test_speaker_plays_a_raw_body_with_the_default_volume(audio):
    status, _ = audio.post('/cgi-bin/speaker.sh', b'\x01\x02\x03\x04\x05')
    assert status == 200
    audio.listen()
    assert audio.heard() == b'\x01\x02\x03\x04\x05'
    assert 'pcmvol -g 1\n' in audio.log('speaker off')


def test_speaker_file_plays_a_file_of_the_audio_folder(audio, sd):
    sd.write('audio/door-bell.pcm', b'ding dong')
    audio.listen()
    status, body = audio.post('/cgi-bin/speaker_file.sh?voldb=2', b'door-bell.pcm\n')
    assert (status, body) == (200, {'error': 'false', 'description': 'door-bell.pcm'})
    assert audio.heard() == b'ding dong'
    assert audio.log() == 'speaker on\npcmvol -G 2\nspeaker off\n'


def test_one_sound_at_a_time_and_others_are_served_meanwhile(audio, sd):
    sd.write('audio/a.pcm', b'aaaa')
    results = []
    thread = threading.Thread(target=lambda: results.append(
        audio.post('/cgi-bin/speaker_file.sh', b'a.pcm')))
    thread.start()
    audio.log('speaker on')   # playing: the FIFO waits for its reader
    status, body = audio.post('/cgi-bin/speak.sh', b'hello')
    assert (status, body) == (503, {'error': 'true', 'description': 'Speaker busy'})
    assert audio.server.get('/cgi-bin/status.json')[0] == 200
    audio.listen()
    assert audio.heard() == b'aaaa'
    thread.join(10)
    assert results == [(200, {'error': 'false', 'description': 'a.pcm'})]
    audio.listen()
    assert audio.post('/cgi-bin/speak.sh', b'hello')[0] == 200   # free again
    assert audio.heard() == b'PCM<hello\n>'


def add_sounds(sd):
    sd.write('audio/a.pcm', b'a')
    os.symlink('/etc/passwd', sd.file('audio/outside.pcm'))


@pytest.mark.table
@pytest.mark.parametrize('path,body,status,description', [
    ('speaker_file.sh', b'../yi-hack/etc/system.conf', 400, None),
    ('speaker_file.sh', b'.hidden', 400, None),
    ('speaker_file.sh', b'a/b.pcm', 400, None),
    ('speaker_file.sh', b'', 400, None),
    ('speaker_file.sh', b'missing.pcm', 404, 'File not found'),
    ('speaker_file.sh', b'outside.pcm', 404, 'File not found'),   # a link out of the folder
    ('speaker_file.sh?voldb=1;reboot', b'a.pcm', 400, 'Invalid volume (dB)'),
    ('speak.sh?lang=en_US', b'hi', 400, 'Invalid language'),
    ('speak.sh?lang=en-US-x', b'hi', 400, 'Invalid language'),
    ('speak.sh?vol=$(reboot)', b'hi', 400, 'Invalid volume'),
    ('speak.sh?voldb=1e3', b'hi', 400, 'Invalid volume (dB)'),
    ('speak.sh', b'', 400, None),
    ('speak.sh', b'\xff\xfe', 400, None),
    ('speaker.sh', b'', 400, None),
    ('speaker.sh?vol=--1', b'abc', 400, 'Invalid volume'),
])
def test_refusals_play_nothing_and_change_nothing(request, audio, sd, path, body, status, description):
    prepared(request, sd, add_sounds)
    before = sd.snapshot()
    got, answer = audio.post('/cgi-bin/' + path, body)
    assert got == status and answer['error'] == 'true'
    if description:
        assert answer['description'] == description
    assert audio.log() == '' and sd.snapshot() == before


def test_without_the_fifo_or_nanotts_the_firmware_messages(sd, tmp_path, start_server):
    audio = Audio(sd, tmp_path, start_server, fifo=False)
    assert audio.post('/cgi-bin/speak.sh', b'hi') == (503, {'error': 'true', 'description': 'Audio input disabled'})
    os.remove(sd.file('yi-hack/bin/nanotts'))
    assert audio.post('/cgi-bin/speak.sh', b'hi') == (503, {'error': 'true', 'description': 'TTS engine not found'})
    assert audio.log() == ''


def test_a_body_over_the_bound_is_refused_before_it_is_read(audio):
    status, _, _ = audio.server.request('POST', '/cgi-bin/speaker.sh', b'x' * 1048577)
    assert status == 413
    assert audio.log() == ''

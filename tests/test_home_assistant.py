"""Every call Home Assistant's yi_hack integration (roleoroleo/yi-hack_ha_integration
0.5.4) makes, as it makes them, and the JSON keys it reads from each answer.

The integration is Python `requests` with Basic auth to the camera's IP:
config_flow and __init__ read status.json, get_configs system and mqtt;
camera.py reads links.sh (its stream source), the high snapshot, and sends
ptz.sh, preset.sh, speak.sh (POSTed text) and reboot.sh; media_player.py
POSTs PCM to speaker.sh; media_source.py POSTs eventsdir.sh and
eventsfile.sh and fetches /record/ files. Run on both runtimes.
"""
import base64
import json
import os
import shlex
import threading

import pytest

from harness import wait_until
from test_audio import STAND_INS

USER, PASSWORD = 'ha', 's3cret'
HOUR = '2021Y03M04D05H'
VIDEO = '00M00S60.mp4'
JPEG = b'\xff\xd8\xff\xe0 a frame \xff\xd9'
PCM = b'\x01\x00\x02\x00' * 4000            # 16 kHz 16-bit mono, a quarter second
# The keys __init__.py takes from get_configs.sh?conf=mqtt (KeyError otherwise).
MQTT_KEYS = ('MQTT_PREFIX', 'TOPIC_BIRTH_WILL', 'TOPIC_MOTION', 'MOTION_START_MSG', 'MOTION_STOP_MSG',
             'BIRTH_MSG', 'WILL_MSG', 'TOPIC_MOTION_IMAGE', 'TOPIC_SOUND_DETECTION',
             'SOUND_DETECTION_MSG', 'BABY_CRYING_MSG', 'AI_HUMAN_DETECTION_MSG',
             'AI_VEHICLE_DETECTION_MSG', 'AI_ANIMAL_DETECTION_MSG')
HEADERS = {'User-Agent': 'python-requests/2.32.3', 'Accept': '*/*', 'Accept-Encoding': 'gzip, deflate',
           'Authorization': 'Basic ' + base64.b64encode(('%s:%s' % (USER, PASSWORD)).encode()).decode()}


@pytest.fixture
def camera(sd, tmp_path, start_server):
    """A card with a password, a recording, the firmware's programs as stand-ins, and the server."""
    sd.set_conf('system.conf', 'USERNAME', USER)
    sd.set_conf('system.conf', 'PASSWORD', PASSWORD)
    sd.add_video(HOUR, VIDEO[:-4], data=b'video bytes', thumb=JPEG)
    log = str(tmp_path / 'programs.log')
    for name, body in STAND_INS.items():
        os.chmod(sd.write('yi-hack/bin/' + name, '#!/bin/sh\nLOG=%s\n%s\n' % (log, body)), 0o755)
    frame = sd.write('frame.bin', JPEG)
    os.chmod(sd.write('yi-hack/bin/imggrabber', '#!/bin/sh\ncat %s\n' % frame), 0o755)
    fifo = str(tmp_path / 'audio_in_fifo')
    os.mkfifo(fifo)
    threading.Thread(target=drain_fifo, args=(fifo,), daemon=True).start()
    reboot = tmp_path / 'reboot.sh'
    reboot.write_text('#!/bin/sh\necho rebooted >> %s\n' % shlex.quote(str(tmp_path / 'rebooted')))
    reboot.chmod(0o755)
    server = start_server('--audio-fifo', fifo, '--reboot-cmd', shlex.quote(str(reboot)))
    server.log_of_programs = log
    server.rebooted = str(tmp_path / 'rebooted')
    return server


def drain_fifo(path):
    """The camera's audio input: reads every sound written to its FIFO."""
    while True:
        with open(path, 'rb') as f:
            while f.read(65536):
                pass


def call(server, method, path, body=None, headers=None):
    """What requests.get/post sends: (status, content-type, body)."""
    status, answer_headers, data = server.request(method, path, body, dict(HEADERS, **(headers or {})))
    return status, answer_headers.get('content-type', ''), data


def call_json(server, method, path, body=None, headers=None):
    status, _ctype, data = call(server, method, path, body, headers)
    assert status < 300, (path, status, data)
    return json.loads(data)


def test_config_flow_and_setup_read_what_they_need(camera):
    status = call_json(camera, 'GET', '/cgi-bin/status.json')
    for key in ('serial_number', 'mac_addr', 'ptz', 'name'):
        assert isinstance(status[key], str), key
    assert 'privacy' not in status    # the integration refuses a camera whose status has it
    system = call_json(camera, 'GET', '/cgi-bin/get_configs.sh?conf=system')
    assert system['RTSP_PORT'].isdigit()
    mqtt = call_json(camera, 'GET', '/cgi-bin/get_configs.sh?conf=mqtt')
    assert [key for key in MQTT_KEYS if not isinstance(mqtt.get(key), str)] == []


def test_set_up_with_a_dns_name_of_the_owners_once_the_page_adds_it(camera):
    """The integration's "Unable to get configuration": get_configs.sh refused to a Host
    the camera does not know, until the owner's settings (HTTPD_ALLOW_HOST) name it."""
    name = {'Host': 'cam.example.org:%d' % camera.port}
    status, _ctype, data = call(camera, 'GET', '/cgi-bin/get_configs.sh?conf=system', headers=name)
    assert status == 403 and b'HTTPD_ALLOW_HOST' in data
    assert call_json(camera, 'POST', '/cgi-bin/set_configs.sh?conf=system',
                     b'{"HTTPD_ALLOW_HOST":"cam.example.org"}')['error'] == 'false'
    system = call_json(camera, 'GET', '/cgi-bin/get_configs.sh?conf=system', headers=name)
    assert system['HTTPD_ALLOW_HOST'] == 'cam.example.org' and system['RTSP_PORT'].isdigit()
    assert call_json(camera, 'GET', '/cgi-bin/ptz.sh?dir=left&time=0.3', headers=name)['error'] == 'false'


def test_the_camera_entity_gets_its_stream_and_snapshot_and_moves(camera):
    links = call_json(camera, 'GET', '/cgi-bin/links.sh')
    stream = links.get('high_res_stream') or links.get('low_res_stream')
    assert stream.startswith('rtsp://'), links
    status, ctype, data = call(camera, 'GET', '/cgi-bin/snapshot.sh?res=high&watermark=yes')
    assert (status, ctype, data) == (200, 'image/jpeg', JPEG)
    assert call_json(camera, 'GET', '/cgi-bin/ptz.sh?dir=left&time=0.3')['error'] == 'false'
    assert call_json(camera, 'GET', '/cgi-bin/preset.sh?action=go_preset&num=1')['error'] == 'false'


def test_speak_and_the_media_player_play_through_the_camera(camera):
    answer = call_json(camera, 'POST', '/cgi-bin/speak.sh?lang=en-US&vol=4', b'Someone is at the door')
    assert answer['error'] == 'false', answer.get('description')
    assert wait_until(lambda: 'speaker off' in read(camera.log_of_programs))
    answer = call_json(camera, 'POST', '/cgi-bin/speaker.sh?vol=3', PCM,
                       {'Content-Type': 'application/octet-stream'})
    assert answer['error'] == 'false', answer.get('description')
    programs = read(camera.log_of_programs)
    assert 'nanotts' in programs and 'pcmvol' in programs


def test_the_media_source_browses_and_plays_recordings(camera):
    hours = call_json(camera, 'POST', '/cgi-bin/eventsdir.sh')['records']
    assert [(h['dirname'], h['datetime'].replace('Date: ', '').replace('Time: ', '')) for h in hours] == [
        (HOUR, '2021-03-04 05:00')]
    files = call_json(camera, 'POST', '/cgi-bin/eventsfile.sh?dirname=' + HOUR)['records']
    assert [(f['filename'], f['thumbfilename'], f['time']) for f in files] == [
        (VIDEO, VIDEO[:-4] + '.jpg', 'Time: 05:00')]
    assert call(camera, 'GET', '/record/%s/%s' % (HOUR, VIDEO))[::2] == (200, b'video bytes')
    assert call(camera, 'GET', '/record/%s/%s' % (HOUR, files[0]['thumbfilename']))[::2] == (200, JPEG)


def test_reboot_from_home_assistant(camera):
    assert call_json(camera, 'GET', '/cgi-bin/reboot.sh')['error'] == 'false'
    assert wait_until(lambda: os.path.exists(camera.rebooted) and read(camera.rebooted) == 'rebooted\n')


def test_without_the_password_every_call_is_refused(camera):
    for method, path in (('GET', '/cgi-bin/status.json'), ('GET', '/cgi-bin/links.sh'),
                         ('POST', '/cgi-bin/eventsdir.sh'), ('GET', '/cgi-bin/reboot.sh')):
        status, _headers, _data = camera.request(method, path, None, {'User-Agent': HEADERS['User-Agent']})
        assert status == 401, path
    assert not os.path.exists(camera.rebooted)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ''

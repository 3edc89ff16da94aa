"""links.sh: the addresses Home Assistant's yi_hack integration uses as its stream source."""
import json

import pytest

pytestmark = pytest.mark.arch   # also on 32-bit ARM and MIPS (musl) under qemu


def answer(server):
    status, headers, body = server.get('/cgi-bin/links.sh')
    assert status == 200
    assert headers['content-type'] == 'application/json'
    links = json.loads(body)
    ip = server.get_json('/cgi-bin/status.json')[1]['local_ip']
    return links, '' if ip == 'N/A' else ip


def test_default_card_gives_the_high_stream_and_both_snapshots(sd, server):
    sd.set_conf('system.conf', 'HTTPD_PORT', '8080')
    links, ip = answer(server)
    assert links == {
        'high_res_stream': 'rtsp://%s/ch0_0.h264' % ip,
        'low_res_snapshot': 'http://%s:8080/cgi-bin/snapshot.sh?res=low&watermark=yes' % ip,
        'high_res_snapshot': 'http://%s:8080/cgi-bin/snapshot.sh?res=high&watermark=yes' % ip,
    }


def test_both_streams_audio_and_ports_come_from_system_conf(sd, server):
    sd.set_conf('system.conf', 'RTSP_STREAM', 'both')
    sd.set_conf('system.conf', 'RTSP_AUDIO', 'aac')
    sd.set_conf('system.conf', 'RTSP_PORT', '8554')
    sd.set_conf('system.conf', 'HTTPD_PORT', '80')
    status, _, body = server.get('/cgi-bin/links.sh')
    text = body.decode()
    # the firmware's key order: low, high, audio, then the snapshots
    order = [text.index(key) for key in ('low_res_stream', 'high_res_stream', 'audio_stream',
                                        'low_res_snapshot', 'high_res_snapshot')]
    assert order == sorted(order)
    links, ip = answer(server)
    assert links['low_res_stream'] == 'rtsp://%s:8554/ch0_1.h264' % ip
    assert links['high_res_stream'] == 'rtsp://%s:8554/ch0_0.h264' % ip
    assert links['audio_stream'] == 'rtsp://%s:8554/ch0_2.h264' % ip
    assert links['high_res_snapshot'] == 'http://%s/cgi-bin/snapshot.sh?res=high&watermark=yes' % ip


def test_rtsp_off_leaves_only_snapshots_and_bad_ports_fall_back(sd, server):
    sd.set_conf('system.conf', 'RTSP', 'no')
    sd.set_conf('system.conf', 'HTTPD_PORT', '80"x')
    links, ip = answer(server)
    assert sorted(links) == ['high_res_snapshot', 'low_res_snapshot']
    assert links['low_res_snapshot'] == 'http://%s:8080/cgi-bin/snapshot.sh?res=low&watermark=yes' % ip


def test_low_stream_without_audio(sd, server):
    sd.set_conf('system.conf', 'RTSP_STREAM', 'low')
    sd.set_conf('system.conf', 'RTSP_AUDIO', 'none')
    links, ip = answer(server)
    assert 'high_res_stream' not in links and 'audio_stream' not in links
    assert links['low_res_stream'] == 'rtsp://%s/ch0_1.h264' % ip

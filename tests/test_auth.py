"""Basic auth from system.conf, and the cross-site guard on services that change things."""
import base64
import json
import os

import pytest

from conftest import prepared

# also on 32-bit ARM and MIPS (musl) under qemu; the foundation: the .mpy payload at 256K
pytestmark = [pytest.mark.arch, pytest.mark.small_heap]


def basic(user, password):
    return {'Authorization': 'Basic ' + base64.b64encode(('%s:%s' % (user, password)).encode()).decode()}


def protect(sd):
    sd.set_conf('system.conf', 'USERNAME', 'admin')
    sd.set_conf('system.conf', 'PASSWORD', 's3cret:with colon')
    sd.add_video('2020Y01M01D01H', '00M00S60')


@pytest.fixture
def protected(request, sd):
    return prepared(request, sd, protect)


PATHS = ('/', '/cgi-bin/status.json', '/record/2020Y01M01D01H/00M00S60.mp4', '/cgi-bin/nothing.sh')


def test_without_credentials_in_config_everything_is_open(sd, server):
    assert server.get('/cgi-bin/status.json')[0] == 200


def test_every_request_needs_credentials_when_configured(protected, server):
    for path in PATHS:
        status, headers, body = server.get(path)
        assert status == 401, path
        assert headers['www-authenticate'] == 'Basic realm="yi-hack"'
        assert json.loads(body)['error'] == 'true'


def test_right_credentials_pass(protected, server):
    for path in PATHS[:3]:
        assert server.get(path, basic('admin', 's3cret:with colon'))[0] == 200, path


@pytest.mark.table('protected')
@pytest.mark.parametrize('headers', [
    basic('admin', 'wrong'), basic('Admin', 's3cret:with colon'), basic('admin', 's3cret'),
    {'Authorization': 'Basic !!!notbase64'}, {'Authorization': 'Bearer abc'},
    {'Authorization': 'Basic ' + base64.b64encode(b'\xff\xfe').decode()},
])
def test_wrong_credentials_are_refused(protected, server, headers):
    assert server.get('/cgi-bin/status.json', headers)[0] == 401


def test_credentials_are_reread_when_system_conf_changes(protected, server):
    good = basic('admin', 's3cret:with colon')
    assert server.get('/cgi-bin/status.json', good)[0] == 200
    protected.set_conf('system.conf', 'PASSWORD', 's3cret:with-colon')   # in place, as long, same tick
    assert server.get('/cgi-bin/status.json', good)[0] == 401
    assert server.get('/cgi-bin/status.json', basic('admin', 's3cret:with-colon'))[0] == 200
    protected.set_conf('system.conf', 'PASSWORD', '')
    assert server.get('/cgi-bin/status.json')[0] == 200


def test_a_refused_upload_is_not_read(protected, server):
    reply = server.raw(b'POST /cgi-bin/status.json HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello')
    assert reply.startswith(b'HTTP/1.1 401 ')


CHANGE = '/cgi-bin/eventsfiledel.sh?file=2020Y01M01D01H/00M00S60.mp4'


@pytest.mark.table
@pytest.mark.parametrize('headers', [
    {'Sec-Fetch-Site': 'cross-site'},
    {'Origin': 'http://evil.example'},
    {'Origin': 'null'},
    {'Origin': 'http://127.0.0.1:1'},
])
def test_cross_site_changes_are_refused_and_change_nothing(sd, server, headers):
    sd.add_video('2020Y01M01D01H', '00M00S60')
    before = sd.snapshot()
    status, _, body = server.get(CHANGE, headers)
    assert status == 403
    assert json.loads(body)['error'] == 'true'
    assert sd.snapshot() == before


def test_same_site_page_and_command_line_clients_may_change(sd, server):
    host = '%s:%d' % (server.host, server.port)
    for headers in ({}, {'Origin': 'http://' + host, 'Sec-Fetch-Site': 'same-origin'}):
        sd.add_video('2020Y01M01D01H', '00M00S60')
        status, _, _ = server.get(CHANGE, headers)
        assert status == 200, headers
        assert not os.path.exists(sd.file('record/2020Y01M01D01H/00M00S60.mp4'))


def test_cross_site_reads_are_answered(server):
    assert server.get('/cgi-bin/status.json', {'Sec-Fetch-Site': 'cross-site'})[0] == 200


def test_head_never_runs_a_service_that_changes_things(sd, server):
    sd.add_video('2020Y01M01D01H', '00M00S60')
    before = sd.snapshot()
    status, _, _ = server.request('HEAD', CHANGE)
    assert status == 405
    assert sd.snapshot() == before

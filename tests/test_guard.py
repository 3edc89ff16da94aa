"""The guard (guard.py): other sites' pages may not run changes, and changes
and secrets are served only to requests that name the camera in Host."""
import json
import os
import socket

import pytest

from harness import read_until_closed

VIDEO = 'record/2020Y01M01D01H/00M00S60.mp4'
CHANGE = '/cgi-bin/eventsfiledel.sh?file=2020Y01M01D01H/00M00S60.mp4'
CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120 Safari/537.36'
HOSTNAME = 'yi-cam'


def own(server):
    return '%s:%d' % (server.host, server.port)


# What a browser sends when another site's page asks for CHANGE.
FOREIGN = {
    # <img src> on a plain-HTTP page to a LAN address: no Sec-Fetch-*, no Origin.
    'img': {'User-Agent': CHROME, 'Referer': 'http://evil.example/page.html', 'Accept': 'image/webp,*/*'},
    # the same with referrerpolicy="no-referrer": nothing tells where it came from.
    'img-no-referrer': {'User-Agent': CHROME, 'Accept': 'image/webp,*/*'},
    # to a secure or loopback address the browser adds Fetch metadata.
    'same-site-img': {'User-Agent': CHROME, 'Sec-Fetch-Site': 'same-site', 'Sec-Fetch-Mode': 'no-cors',
                      'Sec-Fetch-Dest': 'image', 'Referer': 'http://127.0.0.2/'},
    'own-page-script': {'User-Agent': CHROME, 'Sec-Fetch-Site': 'same-origin', 'Sec-Fetch-Dest': 'script'},
    'cross-site': {'Sec-Fetch-Site': 'cross-site'},
    'origin': {'Origin': 'http://evil.example'},
    'null-origin': {'Origin': 'null'},
    'other-port': {'Origin': 'http://127.0.0.1:1'},
    'referer-other-port': {'Referer': 'http://127.0.0.1:1/'},
}


@pytest.mark.table
@pytest.mark.parametrize('kind', sorted(FOREIGN))
def test_a_change_from_another_sites_page_is_refused_and_changes_nothing(sd, server, kind):
    sd.add_video('2020Y01M01D01H', '00M00S60')
    before = sd.snapshot()
    status, _, body = server.get(CHANGE, FOREIGN[kind])
    assert status == 403
    assert json.loads(body)['error'] == 'true'
    assert sd.snapshot() == before


def allowed(server):
    """Who may change things: the camera's own pages, programs, typed URLs where marked."""
    page = 'http://%s/index.html' % own(server)
    return {
        'curl': {'User-Agent': 'curl/8.5.0'},
        'home-assistant': {'User-Agent': 'HomeAssistant/2024.1 aiohttp/3.9.1 Python/3.12',
                           'Accept': '*/*'},
        'no-headers': {},
        'own-page-over-http': {'User-Agent': CHROME, 'Referer': page},
        'own-page-post-like': {'User-Agent': CHROME, 'Origin': 'http://' + own(server), 'Referer': page},
        'own-page-fetch-metadata': {'User-Agent': CHROME, 'Sec-Fetch-Site': 'same-origin',
                                    'Sec-Fetch-Mode': 'cors', 'Sec-Fetch-Dest': 'empty', 'Referer': page},
        'typed-into-address-bar': {'User-Agent': CHROME, 'Sec-Fetch-Site': 'none',
                                   'Sec-Fetch-Dest': 'document'},
    }


def test_the_cameras_own_pages_and_programs_may_change(sd, server):
    for kind, headers in sorted(allowed(server).items()):
        sd.add_video('2020Y01M01D01H', '00M00S60')
        status, _, _ = server.get(CHANGE, headers)
        assert status == 200, kind
        assert not os.path.exists(sd.file(VIDEO)), kind


def test_reads_from_other_sites_are_answered(server):
    for headers in FOREIGN.values():
        assert server.get('/cgi-bin/status.json', headers)[0] == 200


def test_hostname_js_is_read_by_the_cameras_own_page_only(named, server):
    """The firmware page's <script src>; another site's page could read it the same way."""
    page = 'http://%s/index.html' % own(server)
    own_page = [{'User-Agent': CHROME, 'Referer': page},
                {'User-Agent': CHROME, 'Referer': page, 'Sec-Fetch-Site': 'same-origin',
                 'Sec-Fetch-Mode': 'no-cors', 'Sec-Fetch-Dest': 'script'},
                {'User-Agent': 'curl/8.5.0'}, {},
                {'User-Agent': CHROME}]   # a browser set to send no Referer: the page must work
    for headers in own_page:
        status, _, body = server.get('/cgi-bin/hostname.js', headers)
        assert (status, body) == (200, b'hostname="%s";' % HOSTNAME.encode()), headers
    other_sites = [dict(FOREIGN[kind], **{'Sec-Fetch-Dest': 'script'}) for kind in sorted(FOREIGN)
                   if kind not in ('own-page-script', 'img-no-referrer')]
    for headers in other_sites:
        status, _, body = server.get('/cgi-bin/hostname.js', headers)
        assert status == 403 and HOSTNAME.encode() not in body, headers


# --- Host: DNS rebinding ---

@pytest.fixture
def named(sd):
    sd.write('yi-hack/etc/hostname', HOSTNAME + '\n')
    return sd


def host_get(server, path, host):
    """GET with exactly this Host header (None: an HTTP/1.0 request without one)."""
    head = 'GET %s HTTP/1.0\r\n' % path if host is None else \
        'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n' % (path, host)
    with socket.create_connection((server.host, server.port), timeout=10) as s:
        s.sendall(head.encode() + b'\r\n')
        reply = read_until_closed(s)
    return int(reply.split(b' ', 2)[1]), reply.partition(b'\r\n\r\n')[2]


OWN_HOSTS = ['127.0.0.1', '127.0.0.1:8080', '192.168.1.20', '[::1]:8080', '[fe80::1]', 'localhost:80',
             'LOCALHOST', HOSTNAME, HOSTNAME + ':8080', HOSTNAME + '.local', HOSTNAME + '.local.',
             HOSTNAME.upper() + '.Home.Arpa:8080', HOSTNAME + '.internal', None]
# Suffixes someone outside the home network can own (.box is a public top-level domain;
# .lan, .home and .localdomain are in no reserved list): not the camera's names unless added.
UNRESERVED_SUFFIXES = ['.fritz.box', '.lan', '.home', '.localdomain']
FOREIGN_HOSTS = ['evil.example', 'evil.example:8080', HOSTNAME + '.evil.example', '127.0.0.1.nip.io',
                 '1.2.3.4.5', 'localhost.evil.example', '[::1', '127.0.0.1:x', HOSTNAME + '.local.evil.example',
                 'evil.local'] + [HOSTNAME + suffix for suffix in UNRESERVED_SUFFIXES]


@pytest.mark.parametrize('path', [CHANGE, '/cgi-bin/save.sh', '/cgi-bin/get_configs.sh?conf=system'])
def test_changes_and_secrets_need_a_host_that_names_the_camera(named, server, path):
    named.add_video('2020Y01M01D01H', '00M00S60')
    before = named.snapshot()
    for host in FOREIGN_HOSTS:
        status, body = host_get(server, path, host)
        assert status in (400, 403), host
        if status == 403:
            assert b'not a name of this camera' in body or b'port' in body, host
    assert named.snapshot() == before
    for host in OWN_HOSTS:
        named.add_video('2020Y01M01D01H', '00M00S60')
        assert host_get(server, path, host)[0] == 200, host


def test_any_host_may_read_what_holds_no_secret(named, server):
    assert host_get(server, '/cgi-bin/status.json', 'evil.example')[0] == 200
    assert host_get(server, '/index.html', 'evil.example')[0] == 200


def test_allow_host_adds_names(named, start_server):
    server = start_server('--allow-host', 'cam.example.org,Proxy.Example')
    for host in ('cam.example.org', 'proxy.example:443', HOSTNAME):
        assert host_get(server, '/cgi-bin/save.sh', host)[0] == 200, host
    assert host_get(server, '/cgi-bin/save.sh', 'evil.example')[0] == 403
    anyone = start_server('--allow-host', '*')
    assert host_get(anyone, '/cgi-bin/save.sh', 'evil.example')[0] == 200


def test_names_added_in_system_conf_count_at_once(named, server):
    """HTTPD_ALLOW_HOST, the page's setting: no restart, no command-line option."""
    name = HOSTNAME + '.fritz.box'
    assert host_get(server, '/cgi-bin/get_configs.sh?conf=system', name)[0] == 403
    named.set_conf('system.conf', 'HTTPD_ALLOW_HOST', ' %s , cam.example.org.' % name.upper())
    for host in (name, 'cam.example.org:443', HOSTNAME):
        assert host_get(server, '/cgi-bin/get_configs.sh?conf=system', host)[0] == 200, host
    assert host_get(server, '/cgi-bin/get_configs.sh?conf=system', 'evil.example')[0] == 403
    named.set_conf('system.conf', 'HTTPD_ALLOW_HOST', '*')
    assert host_get(server, '/cgi-bin/get_configs.sh?conf=system', 'evil.example')[0] == 200
    named.set_conf('system.conf', 'HTTPD_ALLOW_HOST', '')
    status, body = host_get(server, '/cgi-bin/get_configs.sh?conf=system', name)
    assert status == 403 and b'HTTPD_ALLOW_HOST' in body   # the refusal says where to add it


def test_the_machines_own_hostname_names_the_camera(sd, start_server):
    """The kernel's hostname (/proc/sys/kernel/hostname: a file whose size reads as 0)."""
    kernel = socket.gethostname().lower()
    sd.write('yi-hack/etc/hostname', 'not-' + kernel + '\n')   # only the kernel's name can match
    server = start_server()
    for _ in range(2):   # and again, once what was read could be kept
        assert host_get(server, '/cgi-bin/save.sh', kernel)[0] == 200, kernel
        assert host_get(server, '/cgi-bin/save.sh', kernel + '.local')[0] == 200, kernel


def test_a_new_hostname_is_taken_at_once(named, server):
    assert host_get(server, '/cgi-bin/save.sh', 'renamed.local')[0] == 403
    named.write('yi-hack/etc/hostname', 'renamed\n')
    assert host_get(server, '/cgi-bin/save.sh', 'renamed.local')[0] == 200

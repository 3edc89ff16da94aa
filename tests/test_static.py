"""Static files: the page under www/ and the read-only /record/ tree."""
import hashlib
import os
import time

import pytest

from conftest import prepared
from harness import REPO, wait_until

# also on 32-bit ARM and MIPS (musl) under qemu; the foundation: the .mpy payload at 256K
pytestmark = [pytest.mark.arch, pytest.mark.small_heap]

VIDEO = bytes(range(256)) * 40          # 10,240 bytes with a recognisable pattern
SECRET = b'root:SECRET-OUTSIDE-THE-ROOT'


def add_records(sd):
    sd.add_video('2020Y01M01D01H', '00M00S60', VIDEO, b'thumb-bytes')
    sd.add_video('2020Y01M01D01H', 'ab01M00S60', b'prefixed video', None)
    sd.write('secret.txt', SECRET)
    sd.write('yi-hack/etc/passwd', SECRET)


@pytest.fixture
def records(request, sd):
    return prepared(request, sd, add_records)


def test_root_serves_the_index_page(server):
    status, headers, body = server.get('/')
    assert status == 200
    assert headers['content-type'].startswith('text/html')
    assert body == open(os.path.join(REPO, 'www', 'index.html'), 'rb').read()
    assert headers['etag'] and headers['last-modified']


def test_unchanged_page_is_304_by_etag_and_by_date(server):
    _, headers, _ = server.get('/')
    status, _, body = server.get('/', {'If-None-Match': headers['etag']})
    assert status == 304 and body == b''
    status, _, body = server.get('/', {'If-Modified-Since': headers['last-modified']})
    assert status == 304 and body == b''
    status, _, _ = server.get('/', {'If-None-Match': '"other"'})
    assert status == 200


def test_www_on_the_card_wins_over_the_repo_page(sd, start_server):
    sd.write('yi-hack/www/index.html', '<p>card page</p>')
    sd.write('yi-hack/www/js/app.js', 'var x = 1;')
    server = start_server()
    assert server.get('/')[2] == b'<p>card page</p>'
    status, headers, body = server.get('/js/app.js')
    assert status == 200 and headers['content-type'].startswith('text/javascript')


# Every kind of file the firmware's page (htdocs/) ships, with the type its busybox httpd gives.
FIRMWARE_PAGE_TYPES = [
    ('index.html', 'text/html'), ('css/all.css', 'text/css'), ('js/app.js', 'text/javascript'),
    ('img/home.png', 'image/png'), ('img/loading.gif', 'image/gif'),
]


def add_firmware_page(sd):
    for name, _type in FIRMWARE_PAGE_TYPES:
        sd.write('yi-hack/www/' + name, b'GIF89a\x01\x00\x01\x00' if name.endswith('.gif') else b'x')


@pytest.mark.table('firmware page')   # a card of its own: its www/ is there before its server starts
@pytest.mark.parametrize('name, expected', FIRMWARE_PAGE_TYPES)
def test_each_kind_of_file_of_the_firmware_page_has_its_content_type(request, runtime, sd, name, expected):
    prepared(request, sd, add_firmware_page)   # before the server starts: it picks the card's www/
    server = request.getfixturevalue('server')
    status, headers, _ = server.get('/' + name)
    assert status == 200 and headers['content-type'].split(';')[0] == expected


@pytest.mark.table
@pytest.mark.parametrize('path', [
    '/../yi-hack/etc/system.conf', '/%2e%2e/%2e%2e/etc/passwd', '/.hidden',
    '/a/../../x', '/%00', '/a%5c..%5cb', '/a//b', '/a/b/c/d/e/f.html',
])
def test_www_refuses_traversal_and_odd_names(server, path):
    reply = server.raw(('GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' % path).encode())
    assert reply.split(b' ')[1] in (b'400', b'404'), path


def test_missing_asset_is_404(server):
    assert server.get('/nothing-here.css')[0] == 404


def test_a_record_is_served_whole_with_its_type(records, server):
    status, headers, body = server.get('/record/2020Y01M01D01H/00M00S60.mp4')
    assert status == 200 and body == VIDEO
    assert headers['content-type'] == 'video/mp4'
    assert headers['accept-ranges'] == 'bytes'
    status, headers, body = server.get('/record/2020Y01M01D01H/00M00S60.jpg')
    assert status == 200 and body == b'thumb-bytes' and headers['content-type'] == 'image/jpeg'
    assert server.get('/record/2020Y01M01D01H/ab01M00S60.mp4')[2] == b'prefixed video'


@pytest.mark.table
@pytest.mark.parametrize('header,start,end', [
    ('bytes=0-99', 0, 99), ('bytes=100-', 100, len(VIDEO) - 1),
    ('bytes=-10', len(VIDEO) - 10, len(VIDEO) - 1), ('bytes=10000-99999', 10000, len(VIDEO) - 1),
])
def test_single_range_is_206_with_content_range(records, server, header, start, end):
    status, headers, body = server.get('/record/2020Y01M01D01H/00M00S60.mp4', {'Range': header})
    assert status == 206
    assert headers['content-range'] == 'bytes %d-%d/%d' % (start, end, len(VIDEO))
    assert body == VIDEO[start:end + 1]


@pytest.mark.table
@pytest.mark.parametrize('header', ['bytes=20000-', 'bytes=50-10', 'bytes=-0', 'bytes=x-y',
                                    'bytes=1_0-20', 'bytes=+1-2', 'bytes=0-1_0', 'bytes=-+5'])
def test_unsatisfiable_range_is_416(records, server, header):
    status, headers, _ = server.get('/record/2020Y01M01D01H/00M00S60.mp4', {'Range': header})
    assert status == 416
    assert headers['content-range'] == 'bytes */%d' % len(VIDEO)


def test_several_ranges_are_answered_whole(records, server):
    status, _, body = server.get('/record/2020Y01M01D01H/00M00S60.mp4', {'Range': 'bytes=0-1,5-6'})
    assert status == 200 and body == VIDEO


FAR = 3 << 30   # 3 GiB: past a 32-bit signed offset (FAT32 videos reach 4 GiB)
FAR_TAIL = b'the last bytes of a long recording'


def test_a_range_at_the_end_of_a_3_gib_record_is_right(sd, server):
    """Offsets past 2 GiB: a 32-bit MicroPython seeks only a machine word at a time."""
    path = os.path.join(sd.record, '2020Y01M01D01H', '00M00S60.mp4')
    os.makedirs(os.path.dirname(path))
    with open(path, 'wb') as f:    # sparse: takes no room on disk
        f.seek(FAR - len(FAR_TAIL))
        f.write(FAR_TAIL)
    url = '/record/2020Y01M01D01H/00M00S60.mp4'
    status, headers, body = server.get(url, {'Range': 'bytes=-%d' % len(FAR_TAIL)})
    assert status == 206 and body == FAR_TAIL
    assert headers['content-range'] == 'bytes %d-%d/%d' % (FAR - len(FAR_TAIL), FAR - 1, FAR)
    status, headers, body = server.get(url, {'Range': 'bytes=%d-%d' % (FAR - 40, FAR - 30)})
    assert status == 206 and body == bytes(6) + FAR_TAIL[:5]
    status, headers, _ = server.request('HEAD', url)
    assert status == 200 and headers['content-length'] == str(FAR)


TRAVERSALS = [
    '/record/../secret.txt',
    '/record/%2e%2e/secret.txt',
    '/record/%2E%2E/yi-hack/etc/passwd',
    '/record/2020Y01M01D01H/../../secret.txt',
    '/record/2020Y01M01D01H/..%2f..%2fsecret.txt',
    '/record/2020Y01M01D01H/%2e%2e%2f%2e%2e%2fsecret.txt',
    '/record//secret.txt',
    '/record/2020Y01M01D01H//00M00S60.mp4',
    '/record/2020Y01M01D01H/00M00S60.mp4%00.txt',
    '/record/2020Y01M01D01H%5c..%5c..%5csecret.txt',
    '/record/2020Y01M01D01H/..%5csecret.txt',
    '/record/%2fetc%2fpasswd',
    '/record//etc/passwd',
    '/record/2020Y01M01D01H/00M00S60.mp4/..',
    '/record/2020Y01M01D01H',
    '/record/',
    '/record/escape/00M00S60.mp4',
    '/record/2020Y01M01D01H/escape.mp4',
]


@pytest.mark.table
@pytest.mark.parametrize('path', TRAVERSALS)
def test_record_traversal_is_refused(records, server, path):
    before = records.snapshot()
    reply = server.raw(('GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' % path).encode())
    assert reply.split(b' ')[1] in (b'400', b'404'), path
    assert SECRET not in reply
    assert records.snapshot() == before


def test_links_out_of_the_record_root_are_refused(records, server):
    outside = os.path.join(records.path, 'outside')
    os.makedirs(outside)
    with open(os.path.join(outside, '00M00S60.mp4'), 'wb') as f:
        f.write(SECRET)
    os.symlink(outside, os.path.join(records.record, '2021Y01M01D01H'))
    os.symlink(os.path.join(records.path, 'secret.txt'),
               os.path.join(records.record, '2020Y01M01D01H', '59M00S60.mp4'))
    for path in ('/record/2021Y01M01D01H/00M00S60.mp4', '/record/2020Y01M01D01H/59M00S60.mp4'):
        status, _, body = server.get(path)
        assert status == 400, path
        assert SECRET not in body


def test_missing_record_is_404(records, server):
    assert server.get('/record/2020Y01M01D01H/59M59S60.mp4')[0] == 404
    assert server.get('/record/2030Y01M01D01H/00M00S60.mp4')[0] == 404


def test_records_are_read_only(records, server):
    status, _, _ = server.request('POST', '/record/2020Y01M01D01H/00M00S60.mp4', body=b'x')
    assert status == 405
    assert records.read('record/2020Y01M01D01H/00M00S60.mp4') == VIDEO


LARGE = 20 * 1024 * 1024


@pytest.fixture(scope='module')
def large_video(tmp_path_factory):
    data = os.urandom(LARGE)
    path = tmp_path_factory.mktemp('large') / 'video.mp4'
    path.write_bytes(data)
    return str(path), hashlib.sha256(data).hexdigest()


def test_20mib_record_downloads_intact(sd, large_video, start_server):
    os.makedirs(os.path.join(sd.record, '2020Y01M01D01H'))
    os.link(large_video[0], os.path.join(sd.record, '2020Y01M01D01H', '00M00S60.mp4'))
    server = start_server()
    status, headers, body = server.get('/record/2020Y01M01D01H/00M00S60.mp4', timeout=60)
    assert status == 200 and int(headers['content-length']) == LARGE
    assert hashlib.sha256(body).hexdigest() == large_video[1]


def rss_kb(pid, field):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])


def heap_peaks(server):
    return [int(line.rsplit('=', 1)[1]) for line in server.log().splitlines()
            if 'stats heap_peak=' in line]


def slow_download(server, path, seconds):
    """Read a record in pieces over about `seconds`, so the server is sampled mid-transfer."""
    import socket
    with socket.create_connection((server.host, server.port), timeout=30) as s:
        s.sendall(('GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' % path).encode())
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        total = 0
        digest = hashlib.sha256()
        started = time.time()
        head = b''
        while True:
            chunk = s.recv(262144)
            if not chunk:
                break
            if not head:
                head, _, chunk = chunk.partition(b'\r\n\r\n')
            digest.update(chunk)
            total += len(chunk)
            if time.time() - started < seconds:
                time.sleep(0.01)
        return total, digest.hexdigest()


def test_memory_does_not_grow_with_file_size(sd, large_video, start_server):
    directory = os.path.join(sd.record, '2020Y01M01D01H')
    os.makedirs(directory)
    os.link(large_video[0], os.path.join(directory, '00M00S60.mp4'))
    with open(os.path.join(directory, '01M00S60.mp4'), 'wb') as f:
        f.write(os.urandom(65536))
    medium = os.urandom(2 * 1048576)
    with open(os.path.join(directory, '02M00S60.mp4'), 'wb') as f:
        f.write(medium)
    server = start_server('--stats')
    for _ in range(5):
        server.get('/record/2020Y01M01D01H/01M00S60.mp4')
    # A file ten times smaller first, sent the same way (many turns, waits for the
    # socket): what the interpreter (and qemu's translated code) needs for that path
    # is then in place, and only what grows with the size is left to see.
    assert slow_download(server, '/record/2020Y01M01D01H/02M00S60.mp4', 0.5) == (
        len(medium), hashlib.sha256(medium).hexdigest())
    if server.runtime != 'cpython':
        assert wait_until(lambda: heap_peaks(server))   # the sweep sampled the live heap
    rss_small = rss_kb(server.proc.pid, 'VmRSS')
    heap_small = heap_peaks(server)
    total, digest = slow_download(server, '/record/2020Y01M01D01H/00M00S60.mp4', 2.0)
    assert (total, digest) == (LARGE, large_video[1])
    rss_peak = rss_kb(server.proc.pid, 'VmHWM')
    assert rss_peak - rss_small < 1024, 'RSS grew by %d kB for a 20 MiB file' % (rss_peak - rss_small)
    if server.runtime != 'cpython':
        heap_large = heap_peaks(server)
        assert heap_small and heap_large
        assert max(heap_large) - max(heap_small) < 16384, (heap_small, heap_large)


PAGE_LOADS = 300     # enough for ~100 fds to pile up when each lookup left one open
FD_MARGIN = 8        # fds a busy server may hold besides its idle ones


def open_fds(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


def test_serving_the_page_again_and_again_leaves_no_directory_open(server):
    """MicroPython's name lookup stopped its ilistdir at the match: one fd left open per call."""
    import http.client
    idle = open_fds(server.proc.pid)
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    most = idle
    for n in range(PAGE_LOADS):
        conn.request('GET', '/')
        assert conn.getresponse().read()
        if n % 10 == 0:
            most = max(most, open_fds(server.proc.pid))
    conn.close()
    assert most <= idle + FD_MARGIN

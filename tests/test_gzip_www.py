"""The firmware's own page installed as the firmware installs it: every file X as X.gz.

The page files come from today's yi-hack-Allwinner-v2 (src/www/httpd/htdocs
in ../shared/firmware), each gzipped -9 into the test card's yi-hack/www/
as the firmware's compile.www does.
"""
import gzip
import os
import socket
import subprocess
import tarfile

import pytest

from conftest import prepared

from harness import REPO, wait_until

pytestmark = pytest.mark.arch   # also on 32-bit ARM and MIPS (musl) under qemu

FIRMWARE_WEB = os.path.join(os.path.dirname(REPO), 'shared', 'firmware',
                            'yi-hack-Allwinner-v2-web.tar.xz')
HTDOCS = 'src/www/httpd/htdocs/'
TYPES = {'html': 'text/html', 'css': 'text/css', 'js': 'text/javascript', 'png': 'image/png'}


@pytest.fixture(scope='session')
def page_files():
    """{relative path: bytes} of every file of the firmware's page."""
    found = {}
    with tarfile.open(FIRMWARE_WEB) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.lstrip('./').startswith(HTDOCS):
                found[member.name.lstrip('./')[len(HTDOCS):]] = tar.extractfile(member).read()
    assert 'index.html' in found and 'js/modules/status.js' in found
    return found


@pytest.fixture(scope='session')
def page_gz(page_files):
    """The page's files gzipped as the firmware installs them, compressed once."""
    return {rel: gzip.compress(data, 9) for rel, data in page_files.items()}


@pytest.fixture
def gz_card(request, sd, page_gz):
    def install(card):
        for rel, data in page_gz.items():
            card.write('yi-hack/www/%s.gz' % rel, data)
    return prepared(request, sd, install)


def test_every_page_file_is_served_from_its_gz_decoded_or_not(gz_card, start_server, page_files):
    server = start_server()
    for rel, data in sorted(page_files.items()):
        status, headers, body = server.get('/' + rel, {'Accept-Encoding': 'gzip, deflate'})
        assert status == 200, rel
        assert headers['content-encoding'] == 'gzip'
        assert headers['vary'] == 'Accept-Encoding'
        assert gzip.decompress(body) == data, rel
        assert int(headers['content-length']) == len(body)
        expected = TYPES.get(rel.rpartition('.')[2])
        if expected:
            assert headers['content-type'].startswith(expected), rel
        status, plain_headers, plain = server.get('/' + rel)
        assert status == 200 and plain == data, rel
        assert 'content-encoding' not in plain_headers
        assert plain_headers['content-type'] == headers['content-type']
        assert int(plain_headers['content-length']) == len(data)


def test_the_type_is_the_one_of_the_file_served_plain(gz_card, start_server, page_files, tmp_path):
    """X.gz is typed as X: the same type the server gives X installed plain."""
    from harness import SdRoot
    plain = SdRoot(tmp_path / 'plain')
    for rel, data in page_files.items():
        plain.write('yi-hack/www/' + rel, data)
    gz_server = start_server()
    plain_server = start_server(root=plain.path)
    for rel in page_files:
        assert gz_server.get('/' + rel)[1]['content-type'] == \
            plain_server.get('/' + rel)[1]['content-type'], rel


def test_the_root_is_index_html_gz(gz_card, start_server, page_files):
    server = start_server()
    status, headers, body = server.get('/')
    assert status == 200 and body == page_files['index.html']
    assert headers['content-type'].startswith('text/html')


@pytest.mark.table
@pytest.mark.parametrize('accept', ['identity', 'gzip;q=0', 'gzip; q=0.000, *', '*;q=0', 'br'])
def test_a_client_that_refuses_gzip_gets_it_inflated(gz_card, server, page_files, accept):
    status, headers, body = server.get('/js/app.js', {'Accept-Encoding': accept})
    assert status == 200 and body == page_files['js/app.js']
    assert 'content-encoding' not in headers


@pytest.mark.table
@pytest.mark.parametrize('accept', ['GZIP', 'x-gzip', '*', 'br;q=1.0, gzip;q=0.5'])
def test_gzip_named_or_starred_is_accepted(gz_card, server, page_files, accept):
    _, headers, body = server.get('/js/app.js', {'Accept-Encoding': accept})
    assert headers['content-encoding'] == 'gzip'
    assert gzip.decompress(body) == page_files['js/app.js']


def test_head_gives_each_variants_length_and_no_body(gz_card, start_server, page_files):
    server = start_server()
    gz_size = os.path.getsize(gz_card.file('yi-hack/www/js/jquery.min.js.gz'))
    status, headers, body = server.request('HEAD', '/js/jquery.min.js', headers={'Accept-Encoding': 'gzip'})
    assert (status, body) == (200, b'') and int(headers['content-length']) == gz_size
    status, headers, body = server.request('HEAD', '/js/jquery.min.js')
    assert (status, body) == (200, b'')
    assert int(headers['content-length']) == len(page_files['js/jquery.min.js'])
    # the server is still fine after HEADs that opened and closed the gzip file
    assert server.get('/js/jquery.min.js')[2] == page_files['js/jquery.min.js']


def test_a_range_on_a_gzipped_file_gets_the_whole_file(gz_card, start_server, page_files):
    server = start_server()
    for accept in ({'Accept-Encoding': 'gzip'}, {}):
        headers = dict(accept, Range='bytes=0-99')
        status, got, body = server.get('/css/custom.css', headers)
        assert status == 200 and 'content-range' not in got
        data = gzip.decompress(body) if accept else body
        assert data == page_files['css/custom.css']


def test_each_variant_has_its_own_etag_and_304(gz_card, start_server):
    server = start_server()
    _, zipped, _ = server.get('/index.html', {'Accept-Encoding': 'gzip'})
    _, inflated, _ = server.get('/index.html')
    assert zipped['etag'] != inflated['etag']
    assert server.get('/index.html', {'Accept-Encoding': 'gzip', 'If-None-Match': zipped['etag']})[0] == 304
    assert server.get('/index.html', {'If-None-Match': inflated['etag']})[0] == 304
    assert server.get('/index.html', {'If-None-Match': zipped['etag']})[0] == 200


def test_a_plain_file_wins_over_its_gz(gz_card, start_server):
    gz_card.write('yi-hack/www/index.html', '<p>plain</p>')
    server = start_server()
    status, headers, body = server.get('/', {'Accept-Encoding': 'gzip'})
    assert (status, body) == (200, b'<p>plain</p>') and 'content-encoding' not in headers


def test_a_gz_that_is_a_link_or_a_folder_is_not_served(gz_card, start_server, tmp_path):
    secret = tmp_path / 'secret.gz'
    secret.write_bytes(gzip.compress(b'secret'))
    os.symlink(str(secret), gz_card.file('yi-hack/www/leak.txt.gz'))
    os.makedirs(gz_card.file('yi-hack/www/dir.gz'))
    server = start_server()
    assert server.get('/leak.txt')[0] == 404
    assert server.get('/dir')[0] == 404


SMALL_HEAP = '256K'
CLIENT_ROUNDS = 3   # each client fetches the page's files this many times


def test_clients_without_gzip_get_every_promised_byte_on_a_small_heap(gz_card, start_server,
                                                                       page_files, tmp_path):
    """The page's joined all.js refers back further than 4 KiB. On MicroPython at
    256K, after ordinary requests, no 32 KiB block is free for a fresh inflate
    window: an answer must still come whole (or be refused before its head)."""
    modules = sorted(rel for rel in page_files if rel.startswith('js/modules/'))
    all_js = b''.join(page_files[rel] for rel in modules)
    gz_card.write('yi-hack/www/js/all.js.gz', gzip.compress(all_js, 9))
    server = start_server(heap=SMALL_HEAP)
    for rel in sorted(page_files):                 # the page loaded by a browser
        assert server.get('/' + rel, {'Accept-Encoding': 'gzip'})[0] == 200
    for n in range(CLIENT_ROUNDS):
        for client in (['wget', '-q', '--tries=1', '-O'], ['curl', '-sS', '--fail', '-o']):
            out = tmp_path / ('%s-%d.js' % (client[0], n))
            done = subprocess.run(client + [str(out), server.url + '/js/all.js'], timeout=30,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            assert done.returncode == 0, (client[0], n, done.stdout, server.log()[-2000:])
            assert out.read_bytes() == all_js, (client[0], n)
        for rel in ('js/jquery.min.js', 'index.html'):
            status, _h, body = server.get('/' + rel)
            assert status == 200 and body == page_files[rel], rel


BIG_PAGE = 64 << 20         # bytes inflated: far more than loopback's socket buffers hold
RETRY_WAIT = 10             # seconds the inflater may take to come back after a client left
# Seconds another client may wait meanwhile: the loop inflates for the first one
# until the server's socket buffer is full (over 1 MiB on loopback; seconds under qemu-arm).
LOOP_BUSY = 60


def head_of_answer(sock):
    """Read up to the end of an answer's head; the head."""
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = sock.recv(1)
        assert chunk, data
        data += chunk
    return data


def test_one_client_without_gzip_at_a_time_others_are_told_to_retry_before_the_head(
        gz_card, start_server, page_files):
    gz_card.write('yi-hack/www/js/big.js.gz', gzip.compress(bytes(BIG_PAGE), 9))
    server = start_server()
    holding = socket.socket()
    holding.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    holding.settimeout(10)
    holding.connect((server.host, server.port))
    holding.sendall(b'GET /js/big.js HTTP/1.1\r\nHost: camera\r\n\r\n')
    assert head_of_answer(holding).startswith(b'HTTP/1.1 200')
    status, headers, body = server.get('/js/app.js', timeout=LOOP_BUSY)   # the inflater is held
    assert status == 503 and headers['retry-after'] == '1' and b'another client' in body
    status, headers, body = server.get('/js/app.js', {'Accept-Encoding': 'gzip'})
    assert status == 200 and gzip.decompress(body) == page_files['js/app.js']
    holding.close()                                            # it leaves mid-answer
    answer = wait_until(lambda: server.get('/js/app.js')[::2] == (200, page_files['js/app.js']), RETRY_WAIT)
    assert answer, 'the inflater was never free again'   # 503 + Retry-After until the server saw it leave

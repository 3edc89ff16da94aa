"""The firmware's own page installed as the firmware installs it: every file X as X.gz.

The page files come from today's yi-hack-Allwinner-v2 (src/www/httpd/htdocs
in ../shared/firmware), each gzipped -9 into the test card's yi-hack/www/
as the firmware's compile.www does.
"""
import gzip
import os
import tarfile

import pytest

from conftest import prepared

from harness import REPO

pytestmark = pytest.mark.armhf

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

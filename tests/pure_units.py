"""Unit tests of the pure functions, in plain Python so that both runtimes run them.

CPython: pytest collects them through test_units.py. MicroPython (no
pytest there): `micropython tests/pure_units.py` with MICROPYPATH at the
checkout runs every test_* function here and prints 'N passed, M failed';
test_units.py runs that and checks it.
"""
import io

from yihttpd import (bzip2, bzip2_writer, cgi, checks, files, http, inflate, loop, multipart, routes,
                     stream_links, tar, wire)
from yihttpd.app import same_secret
from yihttpd.gzipped import accepts_gzip
from yihttpd.sdcard import days_since_1970, hour_dir_date, hour_dir_hour, hour_dir_utc_seconds, is_hour_dir, is_video


def refused(status, fn, *args):
    """fn(*args) raises HttpError with this status."""
    try:
        fn(*args)
    except http.HttpError as err:
        assert err.status == status, (err.status, err.message)
        return
    raise AssertionError('not refused: %r' % (args,))


def head_of(*lines):
    return '\r\n'.join(lines).encode()


# -- checks ------------------------------------------------------------------

def test_number_takes_ascii_digits_in_bounds_only():
    assert checks.number('0', 0, 9) == 0
    assert checks.number('0042', 0, 100) == 42
    for text in ('', '-1', '+1', ' 1', '1 ', '1_0', '1.0', '0x1', '\u00b2', '\u0663', '1' * 19):
        assert checks.number(text, 0, checks.LARGEST) is None, text
    assert checks.number('10', 0, 9) is None
    assert checks.number('4', 5, 9) is None


def test_only_bounds_length_and_characters():
    assert checks.only('abc', 'abc', 3)
    assert not checks.only('', 'abc', 3)
    assert not checks.only('abca', 'abc', 3)
    assert not checks.only('abd', 'abc', 3)


def test_strict_utf8_refuses_overlong_surrogates_and_past_unicode():
    assert checks.decode_utf8(b'plain') == 'plain'
    assert checks.decode_utf8('h\u00e9\u20ac\U0001f600'.encode()) == 'h\u00e9\u20ac\U0001f600'
    for bad in (b'\xc0\xae', b'\xe0\x80\xae', b'\xed\xa0\x80', b'\xf4\x90\x80\x80', b'\xe2\x82',
    b'\x80', b'\xff'):
        try:
            checks.decode_utf8(bad)
        except UnicodeError:
            continue
        raise AssertionError('taken: %r' % bad)


# -- request head ----------------------------------------------------------------

def test_head_parses_method_target_and_kept_headers():
    req = http.parse_head(head_of('GET /record/x.mp4?a=1 HTTP/1.1', 'Host: cam:8080',
                                  'X-Unused: dropped', 'Range: bytes=0-1'))
    assert (req.method, req.path, req.query_string, req.version) == (
        'GET', '/record/x.mp4', 'a=1', 'HTTP/1.1')
    assert req.headers == {'range': 'bytes=0-1'}
    assert req.sent_host == b'cam:8080' and req.host() == 'cam:8080'
    assert req.keep_alive


def test_head_keep_alive_follows_version_and_connection():
    assert not http.parse_head(head_of('GET / HTTP/1.0')).keep_alive
    assert http.parse_head(head_of('GET / HTTP/1.0', 'Connection: keep-alive')).keep_alive
    assert not http.parse_head(head_of('GET / HTTP/1.1', 'Host: x', 'Connection: close')).keep_alive


def test_head_refusals():
    refused(400, http.parse_head, head_of('GET /'))
    refused(400, http.parse_head, head_of('GET x HTTP/1.1', 'Host: x'))
    refused(505, http.parse_head, head_of('GET / HTTP/2.0'))
    refused(400, http.parse_head, head_of('GET / HTTP/1.1'))
    refused(400, http.parse_head, head_of('GET / HTTP/1.1', 'Host: a', 'Host: b'))
    refused(400, http.parse_head, head_of('GET / HTTP/1.1', 'Host: a', 'no colon'))
    for fold in (' ', '\t'):   # obsolete line folding, which would be taken as a header of its own
        refused(400, http.parse_head, head_of('GET / HTTP/1.1', 'Host: a', 'X: 1', fold + 'Range: bytes=0-1'))
        refused(400, http.parse_head, head_of('GET / HTTP/1.1', fold + 'Host: a'))
    refused(400, http.parse_head, b'GET /\xc0\xae HTTP/1.0')
    refused(414, http.parse_head, b'GET /' + b'a' * http.MAX_REQUEST_LINE + b' HTTP/1.0')
    refused(431, http.parse_head, head_of('GET / HTTP/1.0', 'X: ' + 'a' * http.MAX_HEADERS))
    refused(414, http.check_partial_head, b'GET /' + b'a' * http.MAX_REQUEST_LINE)
    http.check_partial_head(b'GET / HTTP/1.1\r\nHost')


def test_content_length_is_ascii_digits_only():
    def length(value):
        return http.parse_head(head_of('POST / HTTP/1.0', 'Content-Length: ' + value)).content_length()
    assert length('0') == 0 and length('65536') == 65536
    for bad in ('\u00b2', '\u0663', '+1', '1_0', '-1', '', '1 1', '9' * 13):
        refused(400, length, bad)
    req = http.parse_head(head_of('POST / HTTP/1.0', 'Transfer-Encoding: chunked'))
    refused(411, req.content_length)


def test_typed_parameters():
    req = http.parse_head(head_of('GET /?n=7&c=b&big=99&sup=%C2%B2 HTTP/1.0'))
    assert req.number('n', 0, 9) == 7 and req.choice('c', ('a', 'b')) == 'b'
    assert req.number('none', 0, 9, '3') == 3 and req.choice('none', ('a',), 'a') == 'a'
    refused(400, req.number, 'big', 0, 9)
    refused(400, req.number, 'sup', 0, 9)
    refused(400, req.number, 'none', 0, 9)
    refused(400, req.choice, 'n', ('a', 'b'))


# -- unquote and queries ----------------------------------------------------------

def test_unquote():
    assert http.unquote('a+b%20c%2Fd') == 'a b c/d'
    assert http.unquote('%C3%A9') == '\u00e9'
    assert http.unquote_path('/a+b%20c') == '/a+b c'
    for bad in ('%', '%2', '%zz', '%C0%AE', '%ED%A0%80'):
        refused(400, http.unquote, bad)


def test_query_keeps_the_first_of_a_name():
    assert http.parse_query('a=1&b=&a=2&&c') == {'a': '1', 'b': '', 'c': ''}
    assert http.parse_query('') == {}


# -- Range --------------------------------------------------------------------------

def test_range():
    assert http.parse_range('', 100) is None
    assert http.parse_range('bytes=0-9', 100) == (0, 10)
    assert http.parse_range('bytes=90-', 100) == (90, 10)
    assert http.parse_range('bytes=-10', 100) == (90, 10)
    assert http.parse_range('bytes=-500', 100) == (0, 100)
    assert http.parse_range('bytes=50-500', 100) == (50, 50)
    assert http.parse_range('bytes=0-1,5-6', 100) is None
    assert http.parse_range('items=0-1', 100) is None


def test_range_refusals_are_416_with_the_size():
    for spec in ('bytes=100-', 'bytes=5-4', 'bytes=-0', 'bytes=-', 'bytes=5', 'bytes=+1-2',
                 'bytes=1_0-20', 'bytes=\u00b2-3', 'bytes=0-\u0663', 'bytes=a-b'):
        try:
            http.parse_range(spec, 100)
        except http.HttpError as err:
            assert err.status == 416 and err.headers == [('Content-Range', 'bytes */100')], spec
            continue
        raise AssertionError('taken: ' + spec)


# -- multipart ----------------------------------------------------------------------

def form(parts, boundary='XyZ'):
    body = b''
    for head, content in parts:
        body += b'--' + boundary.encode() + b'\r\n' + head + b'\r\n\r\n' + content + b'\r\n'
    return body + b'--' + boundary.encode() + b'--\r\n'


CONTENT_TYPE = 'multipart/form-data; boundary="XyZ"'


def test_multipart_finds_the_first_file_part():
    body = form([(b'Content-Disposition: form-data; name="a"', b'field'),
                 (b'Content-Disposition: form-data; name="f"; filename="x.tgz"', b'\x00data\r\n--X')])
    section = multipart.multipart_file(io.BytesIO(body), len(body), CONTENT_TYPE)
    assert section.read() == b'\x00data\r\n--X'
    section.seek(1)
    assert section.read(4) == b'data'


def test_multipart_refusals():
    body = form([(b'Content-Disposition: form-data; name="a"', b'field')])
    refused(400, multipart.multipart_file, io.BytesIO(body), len(body), CONTENT_TYPE)
    cut = form([(b'Content-Disposition: form-data; name="f"; filename="x"', b'data')])[:-12]
    refused(400, multipart.multipart_file, io.BytesIO(cut), len(cut), CONTENT_TYPE)
    refused(400, multipart.multipart_boundary, 'text/plain')
    refused(400, multipart.multipart_boundary, 'multipart/form-data')
    refused(400, multipart.multipart_boundary, 'multipart/form-data; boundary=' + 'b' * 71)
    assert multipart.multipart_boundary('Multipart/Form-Data; boundary=abc') == b'abc'


# -- tar headers ----------------------------------------------------------------------

def test_tar_header_reads_back():
    block = tar.tar_header('system.conf', 1234, 1600000000)
    assert len(block) == tar.BLOCK
    assert tar.read_member_header(io.BytesIO(block), 65536) == (ord('0'), 'system.conf', 1234)
    assert tar.read_member_header(io.BytesIO(tar.ZERO_BLOCK), 65536) is None


def test_tar_header_refusals():
    block = bytearray(tar.tar_header('a.conf', 10, 0))
    for broken, limit in ((bytes(block[:100]) + b'x' + bytes(block[101:]), 65536),   # checksum
                          (bytes(block), 9),                                           # too large
                          (bytes(block[:200]), 65536)):                                # cut short
        try:
            tar.read_member_header(io.BytesIO(broken), limit)
        except tar.ArchiveError:
            continue
        raise AssertionError('taken')
    try:
        tar.octal_number(b'12\xd9\xa3\0')
    except tar.ArchiveError:
        pass
    else:
        raise AssertionError('taken')
    assert tar.octal_number(b' 0000644\0') == 0o644


def test_settings_and_firmware_names():
    assert tar.settings_path('system.conf') == 'system.conf'
    assert tar.firmware_path('./yi-hack/bin/') == 'yi-hack/bin'
    for name in ('a/b.conf', '..', 'x.txt', '.conf'):
        try:
            tar.settings_path(name)
        except tar.ArchiveError:
            continue
        raise AssertionError('taken: ' + name)
    for name in ('../x', '/etc/passwd', 'a//b', 'record/x', '.fw_upgrade/x', 'a\\b'):
        try:
            tar.firmware_path(name)
        except tar.ArchiveError:
            continue
        raise AssertionError('taken: ' + name)


# -- record names ------------------------------------------------------------------------

def test_hour_directory_names():
    assert is_hour_dir('2020Y01M02D03H')
    assert (hour_dir_date('2020Y01M02D03H'), hour_dir_hour('2020Y01M02D03H')) == ('2020-01-02', '03')
    for name in ('2020Y01M02D03', '2020Y01M02D0\u00b2H', '2020y01M02D03H', '20-0Y01M02D03H', ''):
        assert not is_hour_dir(name), name


def test_hour_directory_names_read_as_utc():
    assert days_since_1970(1970, 1, 1) == 0
    assert days_since_1970(2000, 3, 1) == 11017
    assert days_since_1970(2024, 2, 29) == 19782          # a leap day
    assert days_since_1970(2100, 3, 1) == 47541          # 2100 is no leap year
    assert hour_dir_utc_seconds('2023Y11M14D22H') == 1699999200


def test_same_secret_compares_whole_strings():
    assert same_secret('admin:pass', 'admin:pass')
    for other in ('admin:pas', 'admin:passs', 'admin:pasS', '', 'x' * 100):
        assert not same_secret(other, 'admin:pass'), other
    assert not same_secret('a', '') and same_secret('', '')


def test_unchanged_by_etag_then_by_date():
    def req(**headers):
        r = http.Request('GET', '/', 'HTTP/1.1')
        r.headers = headers
        return r
    assert http.unchanged(req(**{'if-none-match': '"a", "b"'}), '"b"')
    assert http.unchanged(req(**{'if-none-match': '*'}), '"b"')
    assert not http.unchanged(req(**{'if-none-match': '"ab"'}), '"b"')
    assert not http.unchanged(req(**{'if-none-match': '"a"', 'if-modified-since': 'D'}), '"b"', 'D')
    assert http.unchanged(req(**{'if-modified-since': 'D'}), '"b"', 'D')
    assert not http.unchanged(req(), '"b"', 'D')


def test_video_names():
    assert is_video('12M34S60.mp4') and is_video('ab12M34S60.mp4')
    for name in ('12M34S60.jpg', '1M34S60.mp4', '\u00b22M34S60.mp4', 'a-12M34S60.mp4'):
        assert not is_video(name), name


# -- the answer writer and the request body ----------------------------------------------

class SlowSocket:
    """Takes at most `most` bytes a send, like a socket whose buffer is nearly full."""

    def __init__(self, most):
        self.most = most
        self.got = bytearray()

    def send(self, data):
        n = min(len(data), self.most)
        self.got += bytes(data[:n])
        return n

    def fileno(self):
        raise OSError('no fd: sendfile does not apply')


def write_all(writer, sock):
    turns = 0
    while not writer.write(sock, bytearray(8)):
        turns += 1
    return turns


def test_answer_writer_sends_head_then_each_kind_of_body():
    big = b'b' * (wire.SMALL_BODY + 10)
    for body, expected in ((b'small', b'small'), (big, big), (iter([b'a', b'', b'bc']), b'abc')):
        sock = SlowSocket(2)
        writer = wire.AnswerWriter(b'HEAD\r\n', http.Response(body, length=len(expected)), True)
        assert write_all(writer, sock) > 0   # the socket took it in several turns
        assert bytes(sock.got) == b'HEAD\r\n' + expected and writer.sent == len(sock.got)


def test_answer_writer_sends_a_file_part_and_nothing_for_head():
    part = http.Response.file_part(io.BytesIO(b'0123456789'), 2, 5)
    if not hasattr(__import__('os'), 'sendfile'):   # the copy path (MicroPython); sendfile needs a real fd
        sock = SlowSocket(3)
        write_all(wire.AnswerWriter(b'H:', part, True), sock)
        assert bytes(sock.got) == b'H:23456'
    sock = SlowSocket(100)
    write_all(wire.AnswerWriter(b'H:', http.Response(b'body'), False), sock)
    assert bytes(sock.got) == b'H:'


def test_request_body_keeps_its_length_and_hands_back_the_rest():
    req = http.Request('POST', '/', 'HTTP/1.1')
    body = wire.RequestBody(req, 5, 5)
    assert body.take(b'abc') == b'' and body.left == 2
    assert body.take(b'deGET /') == b'GET /' and body.left == 0
    assert req.body == b'abcde'


def test_answer_writer_stops_while_the_body_waits_and_goes_on_after():
    pieces = iter([b'ab', wire.WAIT, b'cd'])
    sock = SlowSocket(100)
    writer = wire.AnswerWriter(b'H:', http.Response(pieces, length=4), True)
    assert not writer.write(sock, bytearray(8)) and writer.waiting
    assert bytes(sock.got) == b'H:ab'
    writer.waiting = False
    assert writer.write(sock, bytearray(8)) and bytes(sock.got) == b'H:abcd'


# -- CGI ---------------------------------------------------------------------

def test_cgi_header_block_ends_at_an_empty_line_of_lf_or_crlf():
    assert cgi.head_end(b'A: b\r\n\r\nbody') == (5, 8)   # the block keeps its last CR
    assert cgi.head_end(b'A: b\n\nbody') == (4, 6)
    assert cgi.head_end(b'A: b\r\nC: d\r\n') is None
    assert cgi.head_end(b'\r\n\r\nbody') is None   # no header at all


def test_cgi_header_block_gives_status_type_length_and_the_rest():
    status, ctype, length, headers = cgi.parse_head(
        b'Content-type: application/soap+xml\r\nStatus: 500 Internal Server Error\r\n'
        b'Content-Length: 12\r\nConnection: close\r\nX-A:  b ')
    assert (status, ctype, length, headers) == (500, 'application/soap+xml', 12, [('X-A', 'b')])
    assert cgi.parse_head(b'Location: /x')[0] == 302
    assert cgi.parse_head(b'Status: 404\nLocation: /x')[0] == 404
    assert cgi.parse_head(b'HTTP/1.0 403 Forbidden\r\nContent-Type: text/plain')[:2] == (403, 'text/plain')
    assert cgi.parse_head(b'Content-Type: text/plain') == (200, 'text/plain', None, [])


def test_cgi_header_block_that_is_malformed_is_refused():
    for block in (b'no colon', b'Status: 2000 x', b'Status: abc', b'Status: 200x',
                  b'Bad Name: x', b'X: caf\xc3\xa9', b'X: a\x01b', b'Content-Length: 1e3',
                  b'Content-Length: %d' % (cgi.OUTPUT_MAX + 1), b'HTTP/1.1 OK'):
        try:
            cgi.parse_head(block)
        except ValueError:
            continue
        raise AssertionError('taken: %r' % block)


def test_headers_for_cgi_programs_are_kept_only_on_their_paths():
    for target, kept in (('/onvif/device_service', True), ('/cgi-bin/x.sh', True), ('/index.html', False)):
        req = http.parse_head(head_of('POST %s HTTP/1.1' % target, 'Host: h', 'SOAPAction: "a"',
                                      'User-Agent: u', 'X-Other: o'))
        assert ('soapaction' in req.headers and 'x-other' in req.headers) == kept, target


def test_accept_encoding_takes_gzip_named_or_starred_without_q_0():
    for header in ('gzip', 'GZIP', 'x-gzip', 'deflate, gzip;q=0.5', '*', 'br, *;q=0.1', 'gzip;q=1'):
        assert accepts_gzip(header), header
    for header in ('', 'identity', 'br', 'gzip;q=0', 'gzip; q=0.000, *', '*;q=0', 'gzip;q=0.', 'deflate'):
        assert not accepts_gzip(header), header


# -- the error log ---------------------------------------------------------------

def test_error_limit_writes_each_kind_once_a_window_and_counts_the_rest():
    limit = loop.ErrorLimit()
    dropped = ('connection from 10.0.0.2', MemoryError)
    assert limit.admit(dropped, 100.0) == 0
    for n in range(50):   # the same failure, connection after connection
        assert limit.admit(dropped, 100.0 + n * 0.1) is None
    assert limit.admit(('timer', ValueError), 105.0) == 50   # another kind: written, with the count
    for n in range(loop.LOG_KINDS - 2):
        assert limit.admit(('place %d' % n, KeyError), 105.0) == 0
    assert limit.admit(('one kind too many', KeyError), 105.0) is None
    assert limit.admit(dropped, 100.0 + loop.LOG_WINDOW) == 1   # a new window


# -- temp files ------------------------------------------------------------------

def test_a_temp_names_owner_is_found_whatever_its_purpose():
    assert files.temp_owner('yihttpd-upload-123-7') == 123
    assert files.temp_owner('yihttpd-cgi-in-123-4') == 123
    assert files.temp_owner('yihttpd-cgi-out-123-4') == 123
    assert files.temp_owner('yihttpd-child-123-9.tmp') == 123
    assert files.temp_owner('yihttpd-save-123') == 123
    for other in ('yihttpd.pid', 'yihttpd-watchdog.pid', 'yihttpd-mqtt.pid', 'yihttpd-cgi-in',
                  'someone-else-123', 'yihttpd-123'):
        assert files.temp_owner(other) is None, other


# -- bzip2 and gzip by hand ----------------------------------------------------------

SAMPLE = b'the camera says hello; ' * 20 + bytes(600) + b'end'
# SAMPLE as Debian's bzip2 -9 and gzip -9 write it, and as deflate with fixed codes
SAMPLE_BZ2 = (b"BZh91AY&SY\xb3\xddD\xec\x00\x00\xe3\xdb\x80\xc0\x00@\x00\x00\x08\x01\x00.G"
              b"\x9c \x00\x08 \x00pSL\x8cLL@\xa5T\xf4\x9a41\xa2v\xc6#M\x89\x92{&\x94rMrO\xa4\xf4M"
              b"\x89\x9e\x04\xdf$\xe8\x9a\x93\x82tNI\x8c\x13\xc1;'\x9a\x8e\xf5'/\xe2\xeeH\xa7\n\x12"
              b"\x16{\xa8\x9d\x80")
SAMPLE_GZ = (b"\x1f\x8b\x08\x002\x0c\x13k\x02\xff+\xc9HUHN\xccM-JT(N\xac,V\xc8H\xcd\xc9\xc9\xb7V("
             b"\x19\x15\x1ez\xc2\x0c\xa3`\x14\xd0\x00\xa4\xe6\xa5\x00\x00\xdbg\x1d\xb0'\x04\x00\x00")
SETTINGS_TEXT = b''.join(b'KEY%d=value %d\n' % (n, n * 7) for n in range(60))
SETTINGS_GZ = (  # gzip -9 of SETTINGS_TEXT: one block with its own (dynamic) codes
    b'\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03=\xd3\xa9q\x040\x10DQ\xbeQ8\x04\xcd\xa5\x03\x18.'
    b'\xda\x08\x16\x1a\x98\x99\xda\xf1\xbb\xd4R7\xfcH\xaffF\xaf\xe7\xbb}\xfe}\xfd\xfc~\x7f\xb4'
    b'\xc7\xeb\xf9\xb6\x1bc\x87\xdf\xb0\xdc\x15\xb7\xdcv%k\xee\xaa[Q\xbb\xfa\xad\xf4]\x83\xb5v'
    b'\xcd[\xd5w\xad[=\xf08)\xe3X\x84\x81\xc6\xc8\x99\xe0\x18=\x0b\x1e#h\x01d\x14Y\x03\xc9h2'
    b'\x03\xca\x86\x1a,\xa3\xcb\x1c0\xa3\xcc\x024o\x9a\x05ln\xea3*\xcd\xaa\xa0s\xea\xac\x83'
    b'\xe7\xa9\x86\xcf\xe5\x1b\xf0\xb9|\x13>\x97o\xc2\xe7\xf2-\xf8\x9c>o\xf0E\xd3v\xe0\x0bS'
    b'\xc3\x17\xf4\xb9\x9fej\x9b\x01_h\x9f\x01_\xd0\xe7\t_\xd0\xe7\x05_\x0c5|A\x9fw\xf8B\xbe'
    b'\x01_\xca7\xe1K\xf9&|)\xdf\x82/\xe9\x8bv\xce-\xd5\xf0\xa5.\xce\xe0K\xfa\xc2\xe1\xcb\xa1'
    b'\x86/\xe9\x8b\x80/\xe9\x8b\x84\xaf\x9a.\x18\xbe25|E_t\xf8J\xbe\x01_\xc97\xce\x87\x90o'
    b'\xc2W\xf2-\xf8J\xbe\x05_\xd1\x97\r\xbe\xa2/-\x1e\xff*\x96\x83\x9d\xa5\x03\x00\x00')


def read_through(reader, size):
    out = bytearray()
    while True:
        chunk = reader.read(size)
        if not chunk:
            return bytes(out)
        out += chunk


def bzip2_packed(data, block_size=bzip2_writer.BLOCK_SIZES[0]):
    writer = bzip2_writer.Writer(block_size)
    return writer.compress(data[:100]) + writer.compress(data[100:]) + writer.flush()


def test_bzip2_reads_debian_bzip2_and_what_it_writes_itself():
    assert read_through(bzip2.Reader(io.BytesIO(SAMPLE_BZ2)), 100) == SAMPLE
    for data in (b'', b'a', SAMPLE, SETTINGS_TEXT * 3 + b'x' * 700, bytes(range(256)) * 9):
        packed = bzip2_packed(data, 2048)          # several blocks, runs across their ends
        assert packed[:4] == b'BZh1', packed[:4]
        for size in (1, 4096):
            assert read_through(bzip2.Reader(io.BytesIO(packed)), size) == data


def test_bzip2_refuses_damage_with_bzip2error():
    damaged = [SAMPLE_BZ2[:10] + b'\0\0\0\0' + SAMPLE_BZ2[14:],      # block CRC
               SAMPLE_BZ2[:len(SAMPLE_BZ2) - 5],                       # cut short
               b'BZh0' + SAMPLE_BZ2[4:], b'', SAMPLE_BZ2 + b'more']
    for data in damaged:
        try:
            read_through(bzip2.Reader(io.BytesIO(data)), 4096)
        except bzip2.Bzip2Error:
            continue
        raise AssertionError('taken: %r' % data[:20])


HOLE = 2560   # bytes of each free block left in a heap broken up on purpose (the output
              # of a few small blocks, ~1.8 KiB, comes out in one piece)


def break_up_heap():
    """MicroPython: fill the heap with HOLE-byte blocks and free every other one, so
    no free block is larger than HOLE while the list returned is kept. CPython's heap
    cannot be filled this way: an empty list."""
    import sys
    held = []
    if sys.implementation.name == 'micropython':
        try:
            while True:
                held.append(bytearray(HOLE))
        except MemoryError:
            pass
        for i in range(0, len(held), 2):
            held[i] = None
    return held


def test_bzip2_is_written_with_smaller_blocks_where_the_heap_has_no_large_one():
    """MicroPython: with every free block smaller than 3 KiB, the 4 KiB blocks' sort
    cannot have its arrays (8 KiB); the archive comes in smaller blocks, whole."""
    from yihttpd import compress
    from yihttpd.compat import getpid   # each runtime's run a file of its own
    path = '/tmp/unit-bzip2-%d' % getpid()   # not a server's temp name: a starting one removes those
    data = SETTINGS_TEXT * 6
    held = break_up_heap()
    try:
        compress.write_bzip2(path, lambda out, packer: out.write(packer.compress(data) + packer.flush()))
    finally:
        del held
    with open(path, 'rb') as f:
        assert read_through(bzip2.Reader(f), 4096) == data
    import os
    os.remove(path)


def test_inflater_reads_gzip_in_any_piece_size_one_stream_after_another():
    inflater = inflate.Inflater(1024, '/tmp')
    for data, expected, size in ((SAMPLE_GZ, SAMPLE, 1024), (SETTINGS_GZ, SETTINGS_TEXT, 7),
                                 (SAMPLE_GZ, SAMPLE, 1), (SETTINGS_GZ, SETTINGS_TEXT, 1024)):
        inflater.start(io.BytesIO(data))
        assert read_through(inflater, size) == expected
        inflater.release()
    for bad in (SAMPLE_GZ[:-8] + b'\0\0\0\0' + SAMPLE_GZ[-4:], SAMPLE_GZ[:30], b'not gzip at all'):
        inflater.start(io.BytesIO(bad))
        try:
            read_through(inflater, 1024)
        except inflate.InflateError:
            inflater.release()
            continue
        raise AssertionError('taken: %r' % bad[:20])


def test_a_settings_archive_is_read_where_the_heap_has_no_large_block():
    """MicroPython: with every free block smaller than HOLE, load.sh's unpack must not
    ask for a block of 4 KiB (a browser's load.sh at 512K met one MemoryError so)."""
    import os
    from yihttpd.compat import getpid
    base = '/tmp/unit-untar-%d' % getpid()
    os.mkdir(base)
    source = base + '/system.conf'
    with open(source, 'wb') as f:
        f.write(SETTINGS_TEXT * 3)
    tar.write_archive(base + '/settings.tar.bz2', [('system.conf', source)])
    os.mkdir(base + '/out')
    held = []
    try:
        with open(base + '/settings.tar.bz2', 'rb') as f:
            stream = tar.open_compressed(f, base)
            held = break_up_heap()
            for _ in tar.unpack(stream, base + '/out', tar.SETTINGS, []):
                pass
            stream.close()
        held.clear()   # the holes filled again
        with open(base + '/out/system.conf', 'rb') as f:
            assert f.read() == SETTINGS_TEXT * 3
    finally:
        held.clear()
        for name in ('out/system.conf', 'system.conf', 'settings.tar.bz2'):
            files.remove_if_there(base + '/' + name)
        os.rmdir(base + '/out')
        os.rmdir(base)


def test_the_snapshot_links_handed_out_are_paths_of_the_route_table():
    """stream_links spells the snapshot URL for the MQTT bridge too, which loads no
    route table (13 KB of its heap): this keeps it one of the table's paths."""
    found = stream_links.links({}, '10.0.0.2')
    assert [key for key, _url in found] == ['low_res_snapshot', 'high_res_snapshot']
    for _key, url in found:
        path = url.split('10.0.0.2:8080', 1)[1].partition('?')[0]
        assert path in routes.EXACT and routes.EXACT[path].handler == 'snapshot.snapshot', url


def run_all():
    """Run every test_* function here; print the count; exit status 1 if any failed."""
    import sys
    tests = [(name, fn) for name, fn in sorted(globals().items()) if name.startswith('test_')]
    failed = 0
    for name, fn in tests:
        try:
            fn()
        except Exception as exc:
            failed += 1
            print('FAILED %s: %r' % (name, exc))
    print('%d passed, %d failed' % (len(tests) - failed, failed))
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    run_all()

"""Property-based fuzz of the request parser: any bytes give a request or a
refusal with a 4xx status (505 for an HTTP version it does not speak),
never another exception.

FUZZ_CASES (environment, default 10,000) sets how many cases hypothesis
draws; half are raw bytes, half are heads built from request-shaped pieces
so that the header, query and Range code is reached too.
"""
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yihttpd import http

FUZZ_CASES = int(os.environ.get('FUZZ_CASES', '10000'))
FILE_SIZE = 1000   # the size Range headers are read against

pieces = st.one_of(st.binary(max_size=24), st.text(max_size=24).map(lambda t: t.encode()),
                   st.sampled_from([b'GET', b'POST', b'HEAD', b'/', b'/cgi-bin/x.sh?a=%C3%A9&b=+',
                                    b'HTTP/1.1', b'HTTP/1.0', b' ', b':', b'%', b'%zz', b'\r\n',
                                    b'Host: x', b'Content-Length: ', b'Range: bytes=', b'-', b',',
                                    b'Transfer-Encoding: chunked', b'Connection: close',
                                    '\u00b2'.encode(), b'\xc0\xae', b'\xed\xa0\x80', b'0', b'9' * 20]))
request_shaped = st.lists(pieces, max_size=16).map(b''.join)


def read_everything(head):
    """What the server does with a head before a handler runs, plus the parameter and Range parsers."""
    http.check_partial_head(head)
    req = http.parse_head(head)
    req.content_length()
    http.unquote_path(req.path)
    req.param('a')
    http.parse_range(req.headers.get('range'), FILE_SIZE)
    return req


@settings(max_examples=FUZZ_CASES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.one_of(st.binary(max_size=512), request_shaped))
def test_any_bytes_give_a_request_or_a_4xx(head):
    try:
        req = read_everything(head)
    except http.HttpError as err:
        assert 400 <= err.status < 500 or err.status == 505, (err.status, err.message)
        return
    assert isinstance(req, http.Request)

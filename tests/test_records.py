"""Recordings: eventsdir, eventsfile, eventsdirdel, eventsfiledel, getlastrecordedvideo."""
import json
import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import prepared
from harness import SdRoot, read_until_closed, wait_until

pytestmark = pytest.mark.arch   # also on 32-bit ARM and MIPS (musl) under qemu

DIR = '2020Y01M01D01H'
OLDER = '2020Y01M01D00H'
NEWER = '2020Y01M02D13H'
MONTH_DAYS = 30          # 30 days x 24 hours = 720 hour directories
VIDEOS_PER_HOUR = 60
FAST_ANSWER = 1.0        # seconds: another client's answer while long-polls wait; a server that
                         # waited with them would take the whole wait (80 s); on a quiet machine 1-30 ms
SHORT_LONGPOLL = '1.5'   # seconds: the long-poll cap the timeout test runs with
DELETE_WAIT = 60         # seconds a delete of three days may take (qemu on a loaded machine: ~10)


def hour_name(day, hour):
    return '2020Y01M%02dD%02dH' % (day, hour)


@pytest.fixture(scope='session')
def month(tmp_path_factory):
    """A month of recordings (720 hour directories, 60 videos + 60 thumbnails each), built once."""
    sd = SdRoot(tmp_path_factory.mktemp('month') / 'sd')
    sd.add_hours(MONTH_DAYS * 24, VIDEOS_PER_HOUR)
    return sd


def build_tree(sd):
    """Three hour directories plus things in the record root that are not records."""
    sd.add_video(OLDER, '59M00S60')
    sd.add_video(DIR, '00M00S60', data=b'first')
    sd.add_video(DIR, '10M30S60', data=b'second', thumb=b'')      # empty thumbnail
    sd.add_video(DIR, '20M15S45', data=b'third', thumb=None)      # no thumbnail
    sd.add_video(DIR, 'AB05M00S60', data=b'prefixed')             # 14-character form
    sd.write('record/%s/notes.txt' % DIR, 'not a record')
    sd.write('record/%s/5M00S60.mp4' % DIR, 'wrong length')
    sd.add_video(NEWER, '02M00S60', data=b'newest-a')
    sd.add_video(NEWER, '01M00S60', data=b'newest-b')
    sd.add_video(NEWER, '03M00S60', data=b'newest-c')
    sd.write('record/tmp.mp4.tmp', 'being written')
    sd.write('record/2020Y01M03D01X/00M00S60.mp4', 'not an hour directory')
    sd.write('record/2020Y01M04D01H', 'a file named like an hour directory')
    sd.write('record/lost+found/x', 'x')
    os.symlink(sd.etc, os.path.join(sd.record, '2020Y01M05D01H'))


@pytest.fixture
def tree(request, sd):
    return prepared(request, sd, build_tree)


def assert_refused_and_unchanged(sd, server, path, expected=400):
    """The service answers the JSON error with that status and nothing on the card changed."""
    before = sd.snapshot()
    status, body = server.get_json(path)
    assert status == expected and body['error'] == 'true'
    assert sd.snapshot() == before


def get_text(server, path, headers=None):
    status, _headers, body = server.get(path, headers)
    return status, body.decode()


# -- eventsdir.sh ------------------------------------------------------------

def test_eventsdir_lists_hour_directories_newest_first_and_nothing_else(tree, server):
    status, body = server.get_json('/cgi-bin/eventsdir.sh')
    assert status == 200
    assert body == {'records': [
        {'datetime': 'Date: 2020-01-02 Time: 13:00', 'dirname': NEWER},
        {'datetime': 'Date: 2020-01-01 Time: 01:00', 'dirname': DIR},
        {'datetime': 'Date: 2020-01-01 Time: 00:00', 'dirname': OLDER},
    ]}


def test_eventsdir_of_an_empty_record_root_is_an_empty_list(server):
    status, headers, body = server.get('/cgi-bin/eventsdir.sh')
    assert status == 200 and headers['content-type'] == 'application/json'
    assert json.loads(body) == {'records': []}


def test_eventsdir_head_has_the_length_of_the_body(tree, server):
    _, get_headers, body = server.get('/cgi-bin/eventsdir.sh')
    status, headers, head_body = server.request('HEAD', '/cgi-bin/eventsdir.sh')
    assert status == 200 and head_body == b''
    assert int(headers['content-length']) == len(body) == int(get_headers['content-length'])


# -- eventsfile.sh -----------------------------------------------------------

def test_eventsfile_lists_videos_newest_first_with_their_thumbnails(tree, server):
    status, body = server.get_json('/cgi-bin/eventsfile.sh?dirname=' + DIR)
    assert status == 200
    assert body == {'error': 'false', 'date': '2020-01-01', 'records': [
        {'time': 'Time: 01:20', 'filename': '20M15S45.mp4', 'thumbfilename': ''},
        {'time': 'Time: 01:10', 'filename': '10M30S60.mp4', 'thumbfilename': ''},
        {'time': 'Time: 01:05', 'filename': 'AB05M00S60.mp4', 'thumbfilename': 'AB05M00S60.jpg'},
        {'time': 'Time: 01:00', 'filename': '00M00S60.mp4', 'thumbfilename': '00M00S60.jpg'},
    ]}


def test_eventsfile_of_an_empty_hour_directory_is_an_empty_list(sd, server):
    os.mkdir(os.path.join(sd.record, DIR))
    status, body = server.get_json('/cgi-bin/eventsfile.sh?dirname=' + DIR)
    assert status == 200 and body == {'error': 'false', 'date': '2020-01-01', 'records': []}


@pytest.mark.table
@pytest.mark.parametrize('query, expected', [
    ('', 400),
    ('dirname=', 400),
    ('dirname=..', 400),
    ('dirname=../yi-hack', 400),
    ('dirname=2020Y01M01D01', 400),
    ('dirname=2020Y01M01D01Hx', 400),
    ('dirname=2020X01M01D01H', 400),
    ('dirname=%2E%2E%2Fyi-hack', 400),
    ('dirname=2020Y01M04D01H', 400),     # a file, not a directory
    ('dirname=2020Y01M05D01H', 400),     # a link
    ('dirname=2021Y01M01D01H', 404),     # follows the rule, does not exist
])
def test_eventsfile_refuses_names_that_are_not_hour_directories(tree, server, query, expected):
    status, body = server.get_json('/cgi-bin/eventsfile.sh?' + query)
    assert status == expected and body['error'] == 'true'


# -- eventsdirdel.sh ---------------------------------------------------------

def test_eventsdirdel_removes_one_hour_directory_and_nothing_else(tree, server):
    before = tree.snapshot()
    status, body = server.get_json('/cgi-bin/eventsdirdel.sh?dir=' + DIR)
    assert status == 200 and body == {'error': 'false'}
    after = tree.snapshot()
    assert {k for k in before if k not in after} == {k for k in before if k.startswith('record/' + DIR)}
    assert all(after[k] == before[k] for k in after)


def test_eventsdirdel_all_removes_every_hour_directory_and_nothing_else(tree, server):
    before = tree.snapshot()
    status, body = server.get_json('/cgi-bin/eventsdirdel.sh?dir=all')
    assert status == 200 and body == {'error': 'false'}
    after = tree.snapshot()
    gone = {k for k in before if k not in after}
    assert gone == {k for k in before if k.split('/')[1:2] in ([DIR], [OLDER], [NEWER])}
    assert all(after[k] == before[k] for k in after)
    assert 'record/2020Y01M05D01H' in after and os.listdir(tree.etc)   # the link and its target stay


def test_eventsdirdel_all_of_three_days_answers_others_while_it_deletes(tmp_path, start_server):
    sd = SdRoot(tmp_path / 'big')
    sd.add_hours(72, 60)
    server = start_server(root=sd.path)
    results = {}
    deleter = threading.Thread(target=lambda: results.update(
        delete=server.get_json('/cgi-bin/eventsdirdel.sh?dir=all', timeout=DELETE_WAIT)))
    deleter.start()
    status_codes = []
    while deleter.is_alive():
        status_codes.append(server.get('/cgi-bin/status.json')[0])
    deleter.join()
    assert results['delete'] == (200, {'error': 'false'})
    assert status_codes and set(status_codes) == {200}
    assert os.listdir(sd.record) == []


def test_eventsdirdel_all_lets_another_delete_in_between_its_batches(tmp_path, start_server):
    # Before: each batch was a timer due at once, and the loop ran such timers
    # back to back without polling, so the second client waited for the whole
    # delete, and a directory removed under it by another delete was a 500.
    sd = SdRoot(tmp_path / 'big')
    oldest = sd.add_hours(72, 60)[0]
    server = start_server(root=sd.path)
    results = {}
    deleter = threading.Thread(target=lambda: results.update(
        all=server.get_json('/cgi-bin/eventsdirdel.sh?dir=all', timeout=DELETE_WAIT)))
    deleter.start()
    wait_until(lambda: len(os.listdir(sd.record)) < 72, step=0.001)   # the delete is under way
    one = server.get_json('/cgi-bin/eventsdirdel.sh?dir=' + oldest)   # the last one 'all' reaches
    left_then = len(os.listdir(sd.record))
    deleter.join()
    assert one == (200, {'error': 'false'})
    assert left_then > 0, 'the single delete was answered only after the whole delete'
    assert results['all'] == (200, {'error': 'false'})
    assert os.listdir(sd.record) == []


@pytest.mark.table
@pytest.mark.parametrize('value', [
    '', '*', '..', '../yi-hack', '%2E%2E%2Fyi-hack', '%252E%252E', '/tmp', '/' + DIR,
    DIR + '/', DIR + '/..', '2020Y01M01D1H', '2020Y01M01D01h', '2020Y01M01D001H', 'ALL',
    '2020Y01M05D01H',     # a link named like an hour directory
    '2020Y01M04D01H',     # a file named like one
])
def test_eventsdirdel_refuses_what_is_not_an_hour_directory_and_changes_nothing(tree, server, value):
    assert_refused_and_unchanged(tree, server, '/cgi-bin/eventsdirdel.sh?dir=' + value)


def test_eventsdirdel_of_a_missing_directory_is_404(tree, server):
    assert_refused_and_unchanged(tree, server, '/cgi-bin/eventsdirdel.sh?dir=2021Y01M01D01H', 404)


def test_deletes_from_another_site_are_refused(tree, server):
    before = tree.snapshot()
    for path in ('/cgi-bin/eventsdirdel.sh?dir=all', '/cgi-bin/eventsfiledel.sh?file=%s/00M00S60.mp4' % DIR):
        status, _, _ = server.get(path, {'Sec-Fetch-Site': 'cross-site'})
        assert status == 403
        status, _, _ = server.get(path, {'Origin': 'http://evil.example'})
        assert status == 403
    assert tree.snapshot() == before


# -- eventsfiledel.sh --------------------------------------------------------

def test_eventsfiledel_removes_the_video_and_its_thumbnail_only(tree, server):
    before = tree.snapshot()
    status, body = server.get_json('/cgi-bin/eventsfiledel.sh?file=%s/00M00S60.mp4' % DIR)
    assert status == 200 and body == {'error': 'false'}
    after = tree.snapshot()
    assert {k for k in before if k not in after} == {
        'record/%s/00M00S60.mp4' % DIR, 'record/%s/00M00S60.jpg' % DIR}
    assert all(after[k] == before[k] for k in after)


def test_eventsfiledel_of_a_video_without_thumbnail(tree, server):
    status, _ = server.get_json('/cgi-bin/eventsfiledel.sh?file=%s/20M15S45.mp4' % DIR)
    assert status == 200
    assert not os.path.exists(os.path.join(tree.record, DIR, '20M15S45.mp4'))


@pytest.mark.table
@pytest.mark.parametrize('value', [
    '', DIR, DIR + '/', DIR + '/../../x', DIR + '/../../yi-hack/etc/system.conf',
    DIR + '%2F..%2F..%2Fx', DIR + '%252F..%252Fx', '../yi-hack/etc/system.conf',
    '/' + DIR + '/00M00S60.mp4', '/tmp/sd/record/%s/00M00S60.mp4' % DIR,
    DIR + '/00M00S60.jpg', DIR + '/notes.txt', DIR + '/5M00S60.mp4', DIR + '/00M00S6.mp4',
    DIR + '/00X00S60.mp4', DIR + '/*.mp4', DIR + '/00M00S60.mp4/x', '*/00M00S60.mp4',
    '2020Y01M01D1H/00M00S60.mp4', DIR + '/00M00S60.mp4%00', DIR + '//00M00S60.mp4',
])
def test_eventsfiledel_refuses_what_is_not_a_video_name_and_changes_nothing(tree, server, value):
    assert_refused_and_unchanged(tree, server, '/cgi-bin/eventsfiledel.sh?file=' + value)


def test_eventsfiledel_through_a_linked_directory_is_refused(tree, server):
    assert_refused_and_unchanged(tree, server, '/cgi-bin/eventsfiledel.sh?file=2020Y01M05D01H/00M00S60.mp4')


def test_eventsfiledel_of_a_missing_video_is_404(tree, server):
    assert_refused_and_unchanged(tree, server, '/cgi-bin/eventsfiledel.sh?file=%s/33M00S60.mp4' % DIR, 404)


# -- getlastrecordedvideo.sh -------------------------------------------------

@pytest.mark.table
@pytest.mark.parametrize('query, expected', [
    ('', NEWER + '/03M00S60.mp4'),
    ('oldness=0', NEWER + '/03M00S60.mp4'),
    ('oldness=1', NEWER + '/03M00S60.mp4'),
    ('oldness=2', NEWER + '/02M00S60.mp4'),
    ('oldness=3', NEWER + '/01M00S60.mp4'),
    ('oldness=4', NEWER + '/01M00S60.mp4'),           # past the end: the oldest there
    ('oldness=999999999&type=1', NEWER + '/01M00S60.mp4'),
    ('type=1&oldness=2', NEWER + '/02M00S60.mp4'),
])
def test_getlastrecordedvideo_oldness_picks_in_the_newest_hour_directory(tree, server, query, expected):
    status, headers, body = server.get('/cgi-bin/getlastrecordedvideo.sh?' + query)
    assert status == 200 and headers['content-type'].startswith('text/plain')
    assert body.decode() == expected + '\n'


def test_getlastrecordedvideo_skips_an_hour_directory_without_videos(tree, server):
    os.mkdir(os.path.join(tree.record, '2020Y01M03D00H'))
    assert get_text(server, '/cgi-bin/getlastrecordedvideo.sh') == (200, NEWER + '/03M00S60.mp4\n')


def test_getlastrecordedvideo_type2_is_the_url_the_client_reached(tree, server):
    status, body = get_text(server, '/cgi-bin/getlastrecordedvideo.sh?type=2&oldness=2',
                            {'Host': 'camera.example:8080'})
    assert (status, body) == (200, 'http://camera.example:8080/record/%s/02M00S60.mp4\n' % NEWER)
    status, body = get_text(server, '/cgi-bin/getlastrecordedvideo.sh?type=2')
    assert body == '%s/record/%s/03M00S60.mp4\n' % (server.url, NEWER)
    status, body = server.get_json('/cgi-bin/getlastrecordedvideo.sh?type=2', {'Host': 'a"b<c>'})
    assert status == 400


@pytest.mark.table
@pytest.mark.parametrize('kind, disposition', [('3', 'inline'), ('4', 'attachment')])
def test_getlastrecordedvideo_type3_and_4_send_the_video(tree, server, kind, disposition):
    status, headers, body = server.get('/cgi-bin/getlastrecordedvideo.sh?oldness=3&type=' + kind)
    assert status == 200 and body == b'newest-b'
    assert headers['content-type'] == 'video/mp4'
    assert headers['content-length'] == str(len(body))
    assert headers['content-disposition'] == '%s; filename="01M00S60.mp4"' % disposition


def test_wget_content_disposition_saves_the_video_under_its_name(tree, server, tmp_path):
    out = tmp_path / 'wget'
    out.mkdir()
    subprocess.run(['wget', '-q', '--content-disposition', '-P', str(out),
                    server.url + '/cgi-bin/getlastrecordedvideo.sh?type=4'], check=True, timeout=30)
    assert os.listdir(out) == ['03M00S60.mp4']
    assert (out / '03M00S60.mp4').read_bytes() == b'newest-c'


def test_curl_remote_header_name_saves_the_video_under_its_name(tree, server, tmp_path):
    out = tmp_path / 'curl'
    out.mkdir()
    subprocess.run(['curl', '-sS', '-f', '-O', '-J',
                    server.url + '/cgi-bin/getlastrecordedvideo.sh?type=3&oldness=2'],
                   check=True, cwd=str(out), timeout=30)
    assert os.listdir(out) == ['02M00S60.mp4']
    assert (out / '02M00S60.mp4').read_bytes() == b'newest-a'


@pytest.mark.parametrize('kind', ['1', '2'])
def test_wget_piped_into_a_read_loop_gets_the_name_as_on_the_firmware(tree, server, kind):
    """`wget -qO- URL | while read f; ...` runs its body only when the answer ends with a line break."""
    url = server.url + '/cgi-bin/getlastrecordedvideo.sh?oldness=2&type=' + kind
    done = subprocess.run(['sh', '-c', 'wget -qO- "$1" | while read f; do echo "got $f"; done',
                           'sh', url], stdout=subprocess.PIPE, check=True, timeout=30)
    name = NEWER + '/02M00S60.mp4'
    expected = name if kind == '1' else '%s/record/%s' % (server.url, name)
    assert done.stdout.decode() == 'got %s\n' % expected


def test_getlastrecordedvideo_without_any_video_is_404(sd, server):
    os.mkdir(os.path.join(sd.record, DIR))
    for query in ('', 'type=3', 'oldness=-1'):
        status, body = server.get_json('/cgi-bin/getlastrecordedvideo.sh?' + query)
        assert status == 404 and body['error'] == 'true'


@pytest.mark.table
@pytest.mark.parametrize('query', [
    'type=0', 'type=5', 'type=x', 'type=', 'oldness=x', 'oldness=1.5', 'oldness=--1',
    'oldness=', 'oldness=-', 'oldness=1e3', 'oldness=1234567890', 'oldness=%C2%B2',
])
def test_getlastrecordedvideo_refuses_bad_parameters(tree, server, query):
    status, body = server.get_json('/cgi-bin/getlastrecordedvideo.sh?' + query)
    assert status == 400 and body['error'] == 'true'


def test_oldness_minus_one_answers_at_once_when_nothing_is_being_recorded(tree, server):
    os.remove(os.path.join(tree.record, 'tmp.mp4.tmp'))
    started = time.monotonic()
    assert get_text(server, '/cgi-bin/getlastrecordedvideo.sh?oldness=-1') == (200, NEWER + '/03M00S60.mp4\n')
    assert time.monotonic() - started < 5


class Waiting:
    """A client waiting for the next video; the server has read its request (so the
    wait is registered) when this returns."""

    def __init__(self, server, query='oldness=-1'):
        self.result = None
        self.sock = socket.create_connection((server.host, server.port), timeout=30)
        self.sock.sendall(('GET /cgi-bin/getlastrecordedvideo.sh?%s HTTP/1.1\r\nHost: %s:%d\r\n'
                           'Connection: close\r\n\r\n' % (query, server.host, server.port)).encode())
        assert server.handled(self.sock)
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        head, _, body = read_until_closed(self.sock).partition(b'\r\n\r\n')
        self.sock.close()
        self.result = (int(head.split(b' ')[1]), body.decode())
        self.done_at = time.monotonic()

    def join(self):
        self.thread.join(30)
        return self.result


def timed_get(server, path):
    started = time.monotonic()
    status, _, _ = server.get(path)
    return status, time.monotonic() - started


def test_oldness_minus_one_waits_for_the_next_video_while_others_are_answered(tree, server):
    waiters = [Waiting(server), Waiting(server, 'oldness=-1&type=2'), Waiting(server, 'oldness=-1&type=4')]
    assert all(w.result is None for w in waiters)
    for path in ('/cgi-bin/status.json', '/cgi-bin/eventsfile.sh?dirname=' + DIR):
        for _ in range(5):
            status, took = timed_get(server, path)
            assert status == 200 and took < FAST_ANSWER, (path, took)
    assert all(w.result is None for w in waiters)
    tree.add_video(NEWER, '04M00S60', data=b'the new one')
    first, second, third = [w.join() for w in waiters]
    assert first == (200, NEWER + '/04M00S60.mp4\n')
    assert second == (200, '%s/record/%s/04M00S60.mp4\n' % (server.url, NEWER))
    assert third == (200, 'the new one')


def test_oldness_minus_one_ends_when_a_new_hour_directory_appears(tree, server):
    waiter = Waiting(server)
    assert waiter.result is None
    tree.add_video('2020Y01M02D14H', '00M00S60')
    assert waiter.join() == (200, '2020Y01M02D14H/00M00S60.mp4\n')


def test_oldness_minus_one_gives_up_after_the_timeout(tree, start_server):
    server = start_server('--longpoll-timeout', SHORT_LONGPOLL)
    started = time.monotonic()
    waiter = Waiting(server)
    assert waiter.join() == (200, NEWER + '/03M00S60.mp4\n')
    waited = waiter.done_at - started
    assert float(SHORT_LONGPOLL) <= waited < float(SHORT_LONGPOLL) + 3


def test_a_client_that_leaves_while_waiting_is_dropped_cleanly(tree, server):
    leaving = socket.create_connection((server.host, server.port), timeout=5)
    leaving.sendall(b'GET /cgi-bin/getlastrecordedvideo.sh?oldness=-1 HTTP/1.1\r\nHost: x\r\n\r\n')
    assert server.handled(leaving)
    staying = Waiting(server)
    leaving.close()
    assert server.holds(1)   # the one staying
    assert server.get('/cgi-bin/status.json')[0] == 200
    tree.add_video(NEWER, '04M00S60')
    assert staying.join() == (200, NEWER + '/04M00S60.mp4\n')
    log = server.log()
    assert 'Traceback' not in log and 'error in' not in log


# -- a month of recordings -----------------------------------------------------

def test_a_month_of_recordings_lists_fetches_and_finds_the_last_video(month, start_server):
    server = start_server('--quiet', root=month.path)
    status, headers, raw = server.get('/cgi-bin/eventsdir.sh', timeout=30)
    assert status == 200 and int(headers['content-length']) == len(raw)
    names = [entry['dirname'] for entry in json.loads(raw)['records']]
    assert len(names) == MONTH_DAYS * 24
    assert names == sorted(names, reverse=True) and names[0] == hour_name(MONTH_DAYS, 23)
    status, body = server.get_json('/cgi-bin/eventsfile.sh?dirname=' + hour_name(15, 7))
    assert status == 200 and len(body['records']) == VIDEOS_PER_HOUR
    assert body['records'][0] == {'time': 'Time: 07:59', 'filename': '59M00S60.mp4',
                                  'thumbfilename': '59M00S60.jpg'}
    assert get_text(server, '/cgi-bin/getlastrecordedvideo.sh?oldness=5') == (
        200, '%s/55M00S60.mp4\n' % hour_name(MONTH_DAYS, 23))
    assert server.proc.poll() is None
    assert 'MemoryError' not in server.log()

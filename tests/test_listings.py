"""Listings kept until their directory changes, their ETags, and EVENTS_TIME.

eventsfile.sh and eventsdir.sh answers are read from the card once and kept
while the directory's mtime stays the same (yihttpd/listings.py). The tests
age a directory's mtime past FAT's 2-second tick, so that its listing is
kept, then change the directory the ways the camera and clients do.
"""
import json
import os
import time

import pytest

DIR = '2020Y01M01D01H'
LATER = '2020Y01M01D02H'
SETTLED = 100       # seconds: a directory mtime this far back is settled, its listing kept
LISTING = '/cgi-bin/eventsfile.sh?dirname=' + DIR


def age(sd, dirname=None):
    """Set a directory's mtime SETTLED seconds back (the record root when dirname is None)."""
    path = sd.record if dirname is None else os.path.join(sd.record, dirname)
    then = time.time() - SETTLED
    os.utime(path, (then, then))
    return then


def listed(server, path=LISTING, headers=None):
    status, answer_headers, body = server.get(path, headers)
    assert status == 200, body
    return json.loads(body), answer_headers.get('etag')


def filenames(listing):
    return [record['filename'] for record in listing['records']]


def test_an_unchanged_listing_answers_304_to_its_etag(sd, server):
    sd.add_video(DIR, '00M00S60')
    age(sd, DIR)
    first, etag = listed(server)
    assert etag and filenames(first) == ['00M00S60.mp4']
    status, headers, body = server.get(LISTING, {'If-None-Match': etag})
    assert (status, body, headers.get('etag')) == (304, b'', etag)
    status, _, body = server.get(LISTING, {'If-None-Match': '"other", ' + etag})
    assert (status, body) == (304, b'')
    status, _, body = server.get(LISTING, {'If-None-Match': '"other"'})
    assert status == 200 and json.loads(body) == first


def test_a_new_video_in_a_kept_listing_shows_in_the_next_answer_with_a_new_etag(sd, server):
    sd.add_video(DIR, '00M00S60')
    age(sd, DIR)
    _, etag = listed(server)
    sd.add_video(DIR, '01M00S60')            # the camera adds a video: the mtime moves
    status, _, body = server.get(LISTING, {'If-None-Match': etag})
    assert status == 200
    assert filenames(json.loads(body)) == ['01M00S60.mp4', '00M00S60.mp4']


def test_the_hour_being_recorded_shows_every_new_video_at_once(sd, server):
    for minute in range(5):                  # all within FAT's 2-second tick
        sd.add_video(DIR, '%02dM00S60' % minute)
        listing, _ = listed(server)
        assert filenames(listing)[0] == '%02dM00S60.mp4' % minute


def test_a_kept_listing_is_reused_until_its_directory_changes(sd, server):
    sd.add_video(DIR, '00M00S60')
    then = age(sd, DIR)
    listed(server)
    # A file slipped in without moving the mtime (as within one FAT tick):
    # the kept listing is what answers, until the directory changes.
    sd.add_video(DIR, '01M00S60')
    os.utime(os.path.join(sd.record, DIR), (then, then))
    assert filenames(listed(server)[0]) == ['00M00S60.mp4']
    os.utime(os.path.join(sd.record, DIR), (then + 1, then + 1))
    assert filenames(listed(server)[0]) == ['01M00S60.mp4', '00M00S60.mp4']


def test_a_thumbnail_still_being_written_shows_once_it_has_bytes(sd, server):
    sd.add_video(DIR, '00M00S60', thumb=b'')
    then = age(sd, DIR)
    assert listed(server)[0]['records'][0]['thumbfilename'] == ''
    sd.write('record/%s/00M00S60.jpg' % DIR, b'jpeg')   # written in place: the mtime stays
    os.utime(os.path.join(sd.record, DIR), (then, then))
    assert listed(server)[0]['records'][0]['thumbfilename'] == '00M00S60.jpg'


def test_a_video_deleted_through_the_server_leaves_the_kept_listing(sd, server):
    sd.add_video(DIR, '00M00S60')
    sd.add_video(DIR, '01M00S60')
    then = age(sd, DIR)
    listed(server)
    status, body = server.get_json('/cgi-bin/eventsfiledel.sh?file=%s/01M00S60.mp4' % DIR)
    assert status == 200, body
    os.utime(os.path.join(sd.record, DIR), (then, then))
    assert filenames(listed(server)[0]) == ['00M00S60.mp4']


def test_eventsdir_answers_304_until_a_new_hour_directory_appears(sd, server):
    sd.add_video(DIR, '00M00S60')
    age(sd)
    first, etag = listed(server, '/cgi-bin/eventsdir.sh')
    assert [r['dirname'] for r in first['records']] == [DIR]
    status, _, body = server.get('/cgi-bin/eventsdir.sh', {'If-None-Match': etag})
    assert (status, body) == (304, b'')
    sd.add_video(LATER, '00M00S60')
    status, _, body = server.get('/cgi-bin/eventsdir.sh', {'If-None-Match': etag})
    assert status == 200
    assert [r['dirname'] for r in json.loads(body)['records']] == [LATER, DIR]


# -- EVENTS_TIME: which clock the camera named its hour directories in --------

@pytest.mark.parametrize('events_time, timezone, day, dir_hour, video_time', [
    ('local', 'CET-1', '2020-01-01', '23', '23:40'),       # named in local time: shown as named
    ('gmt', 'CET-1', '2020-01-02', '00', '00:40'),         # named in UTC: shown in the camera's zone
    ('autodetect', 'CET-1', '2020-01-02', '00', '00:40'),  # the firmware reads autodetect as UTC
    ('gmt', 'UTC0', '2020-01-01', '23', '23:40'),
    ('gmt', 'EST5', '2020-01-01', '18', '18:40'),
    ('gmt', 'IST-5:30', '2020-01-02', '04', '05:10'),      # half-hour zones move the minute too
])
def test_events_time_shows_hours_in_the_cameras_zone(sd, start_server, events_time, timezone,
                                                     day, dir_hour, video_time):
    dirname = '2020Y01M01D23H'
    sd.add_video(dirname, '40M00S60')
    sd.set_conf('system.conf', 'EVENTS_TIME', events_time)
    server = start_server(env={'TZ': timezone})
    listing, _ = listed(server, '/cgi-bin/eventsfile.sh?dirname=' + dirname)
    assert listing['date'] == day
    assert listing['records'][0]['time'] == 'Time: ' + video_time
    hours, _ = listed(server, '/cgi-bin/eventsdir.sh')
    assert hours['records'] == [{'datetime': 'Date: %s Time: %s:00' % (day, dir_hour),
                                 'dirname': dirname}]


def test_a_changed_events_time_changes_the_kept_answer(sd, start_server):
    sd.add_video(DIR, '40M00S60')
    age(sd, DIR)
    server = start_server(env={'TZ': 'CET-1'})
    before, etag = listed(server)
    sd.set_conf('system.conf', 'EVENTS_TIME', 'local')
    after, new_etag = listed(server)
    assert (before['records'][0]['time'], after['records'][0]['time']) == ('Time: 02:40', 'Time: 01:40')
    assert new_etag != etag


def test_a_video_replaced_by_a_link_after_its_listing_was_kept_is_refused(sd, server, tmp_path):
    sd.add_video(DIR, '00M00S60', data=b'video')
    age(sd)
    age(sd, DIR)
    listed(server)
    assert server.get('/record/%s/00M00S60.mp4' % DIR)[0] == 200
    secret = tmp_path / 'secret'
    secret.write_bytes(b'not a record')
    video = os.path.join(sd.record, DIR, '00M00S60.mp4')
    os.remove(video)
    os.symlink(str(secret), video)
    status, _, body = server.get('/record/%s/00M00S60.mp4' % DIR)
    assert status == 400 and b'not a record' not in body

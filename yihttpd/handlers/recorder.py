"""record.sh and timelapse.sh as the firmware's (docs/API.md): a recording
on demand, and the time-lapse videos of record/timelapse.
"""
import json

from .. import files
from ..http import HttpError, Response, ok
from ..sdcard import ascii_digits, shown

RECORD_DEFAULT = '60'
RECORD_MAX = 300            # seconds: ipc_cmd -S takes 1 to 300
TIMELAPSE_DIR = 'timelapse'
TIMELAPSE_NAME_LEN = 23     # YYYY-MM-DD_HH-MM-SS.avi
TIMELAPSE_MAX = 10000       # videos listed at most (one a day for 27 years)


def record(req):
    """GET record.sh?time=N: a motion event now and its end N seconds later (ipc_cmd -S N).

    A new call while one runs ends that one at the new time instead.
    """
    from .. import ipc
    app = req.app
    seconds = req.number('time', 1, RECORD_MAX, RECORD_DEFAULT)
    app.ipc.send(ipc.motion_start_event())
    if app.record_stop is not None:
        app.record_stop.cancel()

    def stop():
        app.record_stop = None
        try:
            app.ipc.send(ipc.motion_stop_event())
        except HttpError as err:
            if app.log:
                app.log('record.sh: motion stop not sent: %s' % err.message)
    app.record_stop = app.loop.call_later(seconds, stop)
    return ok()


def is_timelapse_name(name):
    """YYYY-MM-DD_HH-MM-SS.avi with digits where the digits go."""
    if len(name) != TIMELAPSE_NAME_LEN or not name.endswith('.avi'):
        return False
    for at, mark in ((4, '-'), (7, '-'), (10, '_'), (13, '-'), (16, '-')):
        if name[at] != mark:
            return False
    return all(ascii_digits(name[a:b]) for a, b in ((0, 4), (5, 7), (8, 10), (11, 13), (14, 16), (17, 19)))


def timelapse_dir(sd):
    return sd.record + '/' + TIMELAPSE_DIR


def timelapse_file(sd, name):
    """The path of an existing time-lapse video: 400 for another name or a link, 404 if missing."""
    if not is_timelapse_name(name):
        raise HttpError(400, 'not a time-lapse file name: ' + shown(name))
    if files.entry_kind(timelapse_dir(sd)) != 'dir':
        raise HttpError(404, 'no time-lapse folder')
    path = timelapse_dir(sd) + '/' + name
    kind = files.entry_kind(path)
    if kind is None:
        raise HttpError(404, 'no such time-lapse video')
    if kind != 'file':
        raise HttpError(400, 'not a plain time-lapse video')
    return path


def timelapse_list(sd):
    """{"error":"false","records":[{"date","time","filename"}]}, newest first, as the firmware lists them."""
    names = []
    if files.entry_kind(timelapse_dir(sd)) == 'dir':
        for name, kind in files.list_entries(timelapse_dir(sd)):
            if kind == 'file' and is_timelapse_name(name) and len(names) < TIMELAPSE_MAX:
                names.append(name)
    names.sort(reverse=True)
    records = [{'date': 'Date: ' + n[0:10], 'time': 'Time: %s:%s:%s' % (n[11:13], n[14:16], n[17:19]),
                'filename': n} for n in names]
    return Response(json.dumps({'error': 'false', 'records': records}).encode())


def timelapse(req):
    """GET timelapse.sh?action=list, or action=delete&file=YYYY-MM-DD_HH-MM-SS.avi."""
    for pair in req.query_string.split('&'):
        if pair and pair.partition('=')[0] not in ('action', 'file'):
            raise HttpError(400, 'timelapse.sh takes action and file only')
    action = req.choice('action', ('list', 'delete'))
    if action == 'list':
        return timelapse_list(req.app.sd)
    path = timelapse_file(req.app.sd, req.param('file', ''))
    files.remove_if_there(path)
    return ok()

"""record.sh and timelapse.sh as the firmware's (docs/API.md): a recording
on demand, and the time-lapse videos of record/timelapse.
"""
import json

from .. import files
from ..http import HttpError, Response, ok
from ..sdcard import is_timelapse_name

RECORD_DEFAULT = '60'
RECORD_MAX = 300            # seconds: ipc_cmd -S takes 1 to 300
TIMELAPSE_MAX = 10000       # videos listed at most (one a day for 27 years)


class Recording:
    """What record.sh keeps: the timer that ends its motion event (a new call moves it)."""

    def __init__(self, _app):
        self.stop = None


def record(req):
    """GET record.sh?time=N: a motion event now and its end N seconds later (ipc_cmd -S N).

    A new call while one runs ends that one at the new time instead.
    """
    from .. import ipc
    app = req.app
    seconds = req.number('time', 1, RECORD_MAX, RECORD_DEFAULT)
    app.ipc.send(ipc.motion_start_event())
    recording = app.state(__name__, Recording)
    if recording.stop is not None:
        recording.stop.cancel()

    def stop():
        recording.stop = None
        try:
            app.ipc.send(ipc.motion_stop_event())
        except HttpError as err:
            if app.log:
                app.log('record.sh: motion stop not sent: %s' % err.message)
    recording.stop = app.loop.call_later(seconds, stop)
    return ok()


def timelapse_list(sd):
    """{"error":"false","records":[{"date","time","filename"}]}, newest first, as the firmware lists them."""
    names = []
    if files.entry_kind(sd.timelapse_dir) == 'dir':
        for name, kind in files.list_entries(sd.timelapse_dir):
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
    path = req.app.sd.timelapse_file(req.param('file', ''))
    files.remove_if_there(path)
    return ok()

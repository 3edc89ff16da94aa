"""Camera settings: camera_settings.sh (docs/API.md, docs/IPC.md).

The 15 keys of the firmware's camera_settings.sh, with the bytes its
ipc_cmd sends for each and the AI rules it applies by home version, are
camera_rules.py's (shared with settings over MQTT). Every command goes
through req.app.ipc (a transport of yihttpd.transports); waits between
commands are timers on the loop, so other clients are served while the
camera takes its settings.
"""
from .. import camera_rules
from ..camera_rules import CAMERA_CONF, SETTINGS
from ..device import homever
from ..http import Deferred, HttpError, unquote, ok


def home_version(app):
    """The first two characters of the vendor firmware's version (/home/homever), '' if none."""
    return homever(app.options.homever)[:2]


def chosen_settings(req):
    """[(query name, value)] in the order the query names them, as the firmware
    takes them; HttpError 400 if any is invalid. A name given twice: the first."""
    chosen = []
    for pair in req.query_string.split('&'):
        name = unquote(pair.partition('=')[0])
        if name in SETTINGS and name not in [n for n, _ in chosen]:
            chosen.append((name, req.choice(name, SETTINGS[name][1])))
    return chosen


def camera_settings(req):
    """GET camera_settings.sh?switch_on=yes&...: save in camera.conf, then send; answer
    once every command is sent (503 if the camera refuses one)."""
    app = req.app
    chosen = chosen_settings(req)
    if not chosen:
        return ok()
    camera_rules.check_not_busy(app)
    deferred = Deferred(req)
    try:
        camera_rules.change_settings(app, app.sd.conf_path(CAMERA_CONF), chosen, home_version(app),
                                     deferred.report())
    except OSError as err:
        raise HttpError(500, 'cannot save %s: %s' % (CAMERA_CONF, err))
    return deferred

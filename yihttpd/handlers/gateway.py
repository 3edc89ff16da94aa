"""The firmware's own programs on the card, run as CGI (cgi.py) where busybox ran them.

- /onvif/NAME: the firmware's busybox (its onvif.patch) runs every file of
  www/onvif/ as a CGI; there device_service, media_service, ptz_service
  and events_service are scripts whose #! line names onvif_simple_server,
  which picks the service by that name and does its own WS-Security auth
  (so these paths are outside Basic auth, as the firmware's httpd.conf has
  them: routes.py).
- /cgi-bin/NAME.sh that yihttpd does not answer itself: the script of
  that name in the firmware's www/cgi-bin/, so a service a new firmware
  adds works at once (--no-cgi-fallback turns this off).

NAME is one path segment of letters, digits, '_', '-' and '.', not
starting with '.', without '..'; it must be a regular executable file
(no link) in that folder. Nothing outside the two folders ever runs, and
the program is run by its path, with no shell.
"""
from .. import cgi, checks, files, routes
from ..http import HttpError, unquote_path

PROGRAM_CHARS = checks.NAME_CHARS + '.'
MAX_PROGRAM_NAME = 64      # longer than any program name the firmware ships
EXECUTABLE = 0o111


def program_name(req):
    """(NAME, PATH_INFO) of a request path under its route's prefix, percent-decoded as busybox does."""
    rest = unquote_path(req.path)[len(req.route.path):]
    name, slash, info = rest.partition('/')
    return name, slash + info


def is_program_name(name):
    return checks.only(name, PROGRAM_CHARS, MAX_PROGRAM_NAME) and name[0] != '.' and '..' not in name


def run(req, directory, name, path_info):
    """Run directory/NAME for req; 404 unless it is a regular executable file there."""
    if not is_program_name(name):
        raise HttpError(404, 'no such program')
    path = directory + '/' + name
    st = files.stat(path)
    if files.entry_kind(path) != 'file' or st is None or not st[0] & EXECUTABLE:
        raise HttpError(404, 'no such program')
    env = cgi.environment(req, req.route.path + name, path, path_info)
    timeout = req.app.options.cgi_timeout or cgi.CGI_TIMEOUT
    return cgi.CgiRun(req, [path], directory, env, timeout).deferred


def onvif(req):
    """POST /onvif/device_service (and the other services): onvif_simple_server."""
    name, path_info = program_name(req)
    if not name:
        raise HttpError(403, 'no listing of %s' % req.route.path)
    return run(req, req.app.sd.yi_hack + '/www/onvif', name, path_info)


def cgi_bin(req):
    """/cgi-bin/NAME.sh that has no native answer: the firmware's script, unless switched off."""
    name, path_info = program_name(req)
    # A service answered natively is never run as a script, however it is spelled.
    if req.app.options.no_cgi_fallback or not name.endswith('.sh') or \
            routes.answers_natively(req.route.path + name):
        raise HttpError(404, 'no such service')
    return run(req, req.app.sd.yi_hack + '/www/cgi-bin', name, path_info)

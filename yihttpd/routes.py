"""The route table: every path the server answers, and every rule of each, in one place.

A request is matched once, as soon as its request line is read (http.parse_head
keeps the route on the request); auth, the guard, the body limit and the
handler are then read off that one record. Handler modules are named, not
imported: app.py imports one on first use, so a rare service costs no heap
until someone calls it.
"""
from collections import namedtuple

# The methods a request may use, by what it does (a 405 lists them in Allow).
READS = ('GET', 'HEAD', 'POST')   # reads only: HEAD too, and POST as Home Assistant sends it
CHANGES = ('GET', 'POST')         # changes something: no HEAD, refused from other sites' pages
STATIC = ('GET', 'HEAD')          # files under www/ and record/

# The largest body each kind of service takes (413 past it).
NO_BODY = 0
JSON_BODY = 16384       # a JSON body (set_configs): the firmware page's largest is ~2 KiB; parsing
                        # costs 3x its size in heap, and the camera's heap may be 256K
UPLOAD_BODY = 1048576   # an uploaded settings archive is at most 1 MiB
TEXT_BODY = 4096        # speak.sh's text, speaker_file.sh's file name, wifi.sh's JSON
SOUND_BODY = 1048576    # speaker.sh: 32 s of 16 kHz 16-bit PCM (the firmware takes 16 s off the card)
CGI_BODY = 16384        # a CGI program's stdin: ONVIF's SOAP requests are a few KiB


def unless(name, *reading):
    """A service that changes something unless parameter name is one of reading."""
    return lambda req: req.param(name) not in reading


def given(name):
    """A service that changes something when parameter name is given."""
    return lambda req: req.param(name) is not None


# One path (or, in PREFIXES, every path below it) and the rules of its service.
# handler: 'module.function' in yihttpd.handlers.
# changes: False, True, or a function of the request, decided from its query
#   before its body is read: a change takes no HEAD, and is refused from other
#   sites' pages and through names that are not the camera's (guard.py).
# body: the largest body it takes. secret: hands out what only the camera's own
#   names may read (guard.py). auth: behind Basic auth (ONVIF clients authenticate
#   in their messages). all_headers: every request header kept (a CGI program gets
#   them as HTTP_*), else only http.KEPT_HEADERS. static: files, GET and HEAD only.
# A tuple with names: a class instance would cost MicroPython's heap three times more.
Route = namedtuple('Route', ('path', 'handler', 'changes', 'body', 'secret', 'auth',
                             'all_headers', 'static'))


def route(path, handler, changes=False, body=NO_BODY, secret=False, auth=True, all_headers=False,
          static=False):
    """A Route with the usual rules unless told otherwise."""
    return Route(path, handler, changes, body, secret, auth, all_headers, static)


def changes(entry, req):
    """Whether this request to its route (entry) changes something."""
    return entry.changes(req) if callable(entry.changes) else entry.changes


def methods(entry, changing):
    """The methods a request to its route (entry) may use, given whether it changes something."""
    if entry.static:
        return STATIC
    return CHANGES if changing else READS


SERVICES = (
    route('/cgi-bin/status.json', 'status.status_json'),
    route('/cgi-bin/hostname.js', 'status.hostname_js'),
    route('/cgi-bin/get_configs.sh', 'config.get_configs', secret=True),
    route('/cgi-bin/set_configs.sh', 'config.set_configs', changes=True, body=JSON_BODY),
    route('/cgi-bin/save.sh', 'config.save', secret=True),
    route('/cgi-bin/load.sh', 'config.load', changes=True, body=UPLOAD_BODY),
    route('/cgi-bin/camera_settings.sh', 'camera.camera_settings', changes=True),
    route('/cgi-bin/ptz.sh', 'ptz.ptz', changes=True),
    route('/cgi-bin/preset.sh', 'ptz.preset', changes=True),
    route('/cgi-bin/snapshot.sh', 'snapshot.snapshot', changes=given('file')),
    route('/cgi-bin/eventsdir.sh', 'records.events_dir'),
    route('/cgi-bin/eventsfile.sh', 'records.events_file'),
    route('/cgi-bin/eventsdirdel.sh', 'records.events_dir_delete', changes=True),
    route('/cgi-bin/eventsfiledel.sh', 'records.events_file_delete', changes=True),
    route('/cgi-bin/getlastrecordedvideo.sh', 'records.last_recorded_video'),
    route('/cgi-bin/service.sh', 'services.service_sh', changes=unless('action', 'status')),
    route('/cgi-bin/reboot.sh', 'system.reboot_sh', changes=True),
    route('/cgi-bin/fw_upgrade.sh', 'system.fw_upgrade_sh', changes=unless('get', 'info')),
    route('/cgi-bin/links.sh', 'links.links_sh'),
    route('/cgi-bin/speak.sh', 'audio.speak', changes=True, body=TEXT_BODY),
    route('/cgi-bin/speaker.sh', 'audio.speaker', changes=True, body=SOUND_BODY),
    route('/cgi-bin/speaker_file.sh', 'audio.speaker_file', changes=True, body=TEXT_BODY),
    route('/cgi-bin/record.sh', 'recorder.record', changes=True),
    route('/cgi-bin/timelapse.sh', 'recorder.timelapse', changes=unless('action', 'list')),
    route('/cgi-bin/wifi.sh', 'network.wifi', changes=unless('action', 'scan'), body=TEXT_BODY),
    route('/cgi-bin/proxy.sh', 'network.proxy'),
    route('/cgi-bin/reset.sh', 'defaults.reset', changes=True),
)

# Checked in order after the exact paths. The firmware's own programs run
# through the CGI gateway: ONVIF outside Basic auth, as the firmware's
# httpd.conf has it ("/onvif::", WS-Security inside the SOAP message), and
# the cgi-bin scripts SERVICES does not answer.
PREFIXES = (
    route('/onvif/', 'gateway.onvif', changes=True, body=CGI_BODY, auth=False, all_headers=True),
    route('/cgi-bin/', 'gateway.cgi_bin', changes=True, body=CGI_BODY, all_headers=True),
    route('/record/', 'records.serve_record', static=True),
)
PAGE = route('/', 'static.serve_www', static=True)   # everything else: www/

EXACT = {entry.path: entry for entry in SERVICES}
# The same by the path's bytes as sent: a request to a service without a query
# takes its path's str from here, not from a decode (on MicroPython each new str
# is looked up among every name the loaded code holds).
EXACT_SENT = {entry.path.encode(): entry for entry in SERVICES}


def match(path):
    """The route of a request path (as sent, before percent-decoding)."""
    entry = EXACT.get(path)
    if entry is not None:
        return entry
    for entry in PREFIXES:
        if path.startswith(entry.path):
            return entry
    return PAGE


def answers_natively(path):
    """Whether a path has a service of its own (the gateway never runs a script for it)."""
    return path in EXACT

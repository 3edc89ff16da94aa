"""The route table: every path the server answers, and every rule of each, in one place.

A request is matched once, as soon as its request line is read (http.parse_head
keeps the route on the request); auth, the guard, the body limit and the
handler are then read off that one record. Handler modules are named, not
imported: app.py imports one on first use, so a rare service costs no heap
until someone calls it.
"""

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


class Route:
    """One path (or, with prefix, every path below it) and the rules of its service.

    handler: 'module.function' in yihttpd.handlers.
    changes: False, True, or a function of the request, decided before its
      body is read from its query: a change takes no HEAD, and is refused
      from other sites' pages and through names that are not the camera's
      (guard.py).
    secret: hands out what only the camera's own names may read (guard.py).
    auth: behind Basic auth (ONVIF clients authenticate in their messages).
    all_headers: every request header kept (a CGI program gets them as HTTP_*),
      else only http.KEPT_HEADERS.
    """
    __slots__ = ('path', 'prefix', 'module', 'function', 'changes', 'body', 'secret', 'auth',
                 'all_headers', 'static')

    def __init__(self, path, handler, changes=False, body=NO_BODY, secret=False, auth=True,
                 all_headers=False, prefix=False, static=False):
        self.path = path
        self.prefix = prefix
        self.module, _, self.function = handler.partition('.')
        self.changes = changes
        self.body = body
        self.secret = secret
        self.auth = auth
        self.all_headers = all_headers
        self.static = static

    def changes_for(self, req):
        """Whether this request changes something."""
        return self.changes(req) if callable(self.changes) else self.changes

    def methods(self, changes):
        """The methods a request may use, given whether it changes something."""
        if self.static:
            return STATIC
        return CHANGES if changes else READS


SERVICES = (
    Route('/cgi-bin/status.json', 'status.status_json'),
    Route('/cgi-bin/hostname.js', 'status.hostname_js'),
    Route('/cgi-bin/get_configs.sh', 'config.get_configs', secret=True),
    Route('/cgi-bin/set_configs.sh', 'config.set_configs', changes=True, body=JSON_BODY),
    Route('/cgi-bin/save.sh', 'config.save', secret=True),
    Route('/cgi-bin/load.sh', 'config.load', changes=True, body=UPLOAD_BODY),
    Route('/cgi-bin/camera_settings.sh', 'camera.camera_settings', changes=True),
    Route('/cgi-bin/ptz.sh', 'ptz.ptz', changes=True),
    Route('/cgi-bin/preset.sh', 'ptz.preset', changes=True),
    Route('/cgi-bin/snapshot.sh', 'snapshot.snapshot', changes=given('file')),
    Route('/cgi-bin/eventsdir.sh', 'records.events_dir'),
    Route('/cgi-bin/eventsfile.sh', 'records.events_file'),
    Route('/cgi-bin/eventsdirdel.sh', 'records.events_dir_delete', changes=True),
    Route('/cgi-bin/eventsfiledel.sh', 'records.events_file_delete', changes=True),
    Route('/cgi-bin/getlastrecordedvideo.sh', 'records.last_recorded_video'),
    Route('/cgi-bin/service.sh', 'services.service_sh', changes=unless('action', 'status')),
    Route('/cgi-bin/reboot.sh', 'system.reboot_sh', changes=True),
    Route('/cgi-bin/fw_upgrade.sh', 'system.fw_upgrade_sh', changes=unless('get', 'info')),
    Route('/cgi-bin/links.sh', 'links.links_sh'),
    Route('/cgi-bin/speak.sh', 'audio.speak', changes=True, body=TEXT_BODY),
    Route('/cgi-bin/speaker.sh', 'audio.speaker', changes=True, body=SOUND_BODY),
    Route('/cgi-bin/speaker_file.sh', 'audio.speaker_file', changes=True, body=TEXT_BODY),
    Route('/cgi-bin/record.sh', 'recorder.record', changes=True),
    Route('/cgi-bin/timelapse.sh', 'recorder.timelapse', changes=unless('action', 'list')),
    Route('/cgi-bin/wifi.sh', 'network.wifi', changes=unless('action', 'scan'), body=TEXT_BODY),
    Route('/cgi-bin/proxy.sh', 'network.proxy'),
    Route('/cgi-bin/reset.sh', 'defaults.reset', changes=True),
)

# Checked in order after the exact paths. The firmware's own programs run
# through the CGI gateway: ONVIF outside Basic auth, as the firmware's
# httpd.conf has it ("/onvif::", WS-Security inside the SOAP message), and
# the cgi-bin scripts SERVICES does not answer.
PREFIXES = (
    Route('/onvif/', 'gateway.onvif', changes=True, body=CGI_BODY, auth=False, all_headers=True,
          prefix=True),
    Route('/cgi-bin/', 'gateway.cgi_bin', changes=True, body=CGI_BODY, all_headers=True,
          prefix=True),
    Route('/record/', 'records.serve_record', prefix=True, static=True),
)
PAGE = Route('/', 'static.serve_www', prefix=True, static=True)   # everything else: www/

EXACT = {route.path: route for route in SERVICES}


def match(path):
    """The route of a request path (as sent, before percent-decoding)."""
    route = EXACT.get(path)
    if route is not None:
        return route
    for route in PREFIXES:
        if path.startswith(route.path):
            return route
    return PAGE


def answers_natively(path):
    """Whether a path has a service of its own (the gateway never runs a script for it)."""
    return path in EXACT

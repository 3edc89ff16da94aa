"""The routing table, auth, the cross-site guard, and errors mapped to answers."""
import binascii
import sys

from . import conf, files, guard
from .http import HttpError, failure_response
from .listings import Listings
from .sdcard import SdCard

# The methods a path takes, by what its service does (a 405 lists them in Allow).
READS = ('GET', 'HEAD', 'POST')   # a service that only reads
CHANGES = ('GET', 'POST')         # changes something: no HEAD, refused from other sites' pages
STATIC = ('GET', 'HEAD')          # files under www/ and record/

JSON_BODY = 16384       # a JSON body (set_configs): the firmware page's largest is ~2 KiB; parsing
                        # costs 3x its size in heap, and the camera's heap may be 256K
UPLOAD_BODY = 1048576   # an uploaded settings archive is at most 1 MiB
TEXT_BODY = 4096        # speak.sh's text, speaker_file.sh's file name, wifi.sh's JSON
SOUND_BODY = 1048576    # speaker.sh: 32 s of 16 kHz 16-bit PCM (the firmware takes 16 s off the card)

# path: (module in yihttpd.handlers, function, READS or CHANGES, largest body)
# Handler modules are imported on first use, so a rare service costs no
# heap until someone calls it.
ROUTES = {
    '/cgi-bin/status.json': ('status', 'status_json', READS, 0),
    '/cgi-bin/hostname.js': ('status', 'hostname_js', READS, 0),
    '/cgi-bin/get_configs.sh': ('config', 'get_configs', READS, 0),
    '/cgi-bin/set_configs.sh': ('config', 'set_configs', CHANGES, JSON_BODY),
    '/cgi-bin/save.sh': ('config', 'save', READS, 0),
    '/cgi-bin/load.sh': ('config', 'load', CHANGES, UPLOAD_BODY),
    '/cgi-bin/camera_settings.sh': ('camera', 'camera_settings', CHANGES, 0),
    '/cgi-bin/ptz.sh': ('ptz', 'ptz', CHANGES, 0),
    '/cgi-bin/preset.sh': ('ptz', 'preset', CHANGES, 0),
    '/cgi-bin/snapshot.sh': ('snapshot', 'snapshot', READS, 0),
    '/cgi-bin/eventsdir.sh': ('records', 'events_dir', READS, 0),
    '/cgi-bin/eventsfile.sh': ('records', 'events_file', READS, 0),
    '/cgi-bin/eventsdirdel.sh': ('records', 'events_dir_delete', CHANGES, 0),
    '/cgi-bin/eventsfiledel.sh': ('records', 'events_file_delete', CHANGES, 0),
    '/cgi-bin/getlastrecordedvideo.sh': ('records', 'last_recorded_video', READS, 0),
    '/cgi-bin/service.sh': ('services', 'service_sh', CHANGES, 0),
    '/cgi-bin/reboot.sh': ('system', 'reboot_sh', CHANGES, 0),
    '/cgi-bin/fw_upgrade.sh': ('system', 'fw_upgrade_sh', CHANGES, 0),
    '/cgi-bin/links.sh': ('links', 'links_sh', READS, 0),
    '/cgi-bin/speak.sh': ('audio', 'speak', CHANGES, TEXT_BODY),
    '/cgi-bin/speaker.sh': ('audio', 'speaker', CHANGES, SOUND_BODY),
    '/cgi-bin/speaker_file.sh': ('audio', 'speaker_file', CHANGES, TEXT_BODY),
    '/cgi-bin/record.sh': ('recorder', 'record', CHANGES, 0),
    '/cgi-bin/timelapse.sh': ('recorder', 'timelapse', CHANGES, 0),
    '/cgi-bin/wifi.sh': ('network', 'wifi', CHANGES, TEXT_BODY),
    '/cgi-bin/proxy.sh': ('network', 'proxy', CHANGES, 0),
    '/cgi-bin/reset.sh': ('defaults', 'reset', CHANGES, 0),
}

# Services that hand out the settings (save.sh: passwords in clear): like changes, only
# through the camera's own names (guard.py).
SECRETS = ('/cgi-bin/save.sh', '/cgi-bin/get_configs.sh')

# The firmware's own programs, run through the CGI gateway (handlers/gateway.py):
# ONVIF, and the cgi-bin scripts ROUTES does not answer.
# Their prefixes are http.CGI_PATHS (request headers kept for the programs).
GATEWAY = (
    ('/onvif/', ('gateway', 'onvif', CHANGES, JSON_BODY)),
    ('/cgi-bin/', ('gateway', 'cgi_bin', CHANGES, JSON_BODY)),
)
# Paths outside Basic auth, as the firmware's httpd.conf has them ("/onvif::"):
# ONVIF clients authenticate inside the SOAP message (WS-Security). Only the
# gateway's paths: nothing but www/onvif's programs answers there.
NO_AUTH_PREFIX = '/onvif/'

REALM = 'yi-hack'


def route_entry(path):
    """ROUTES' entry for path, else the gateway's for its prefix, else None (a static file)."""
    entry = ROUTES.get(path)
    if entry is None:
        for prefix, gateway in GATEWAY:
            if path.startswith(prefix):
                return gateway
    return entry


def needs_auth(path):
    return not path.startswith(NO_AUTH_PREFIX)


def same_secret(given, expected):
    """Compare two strings in time that depends only on the given one's length.

    Neither where they differ nor the expected length shows. (No hashlib:
    on CPython it loads OpenSSL, 4 MB of RSS for one comparison.)
    """
    a = given.encode()
    b = expected.encode()
    diff = len(a) ^ len(b)
    for i in range(len(a)):
        diff |= a[i] ^ b[i % len(b)] if b else 1
    return diff == 0


class Auth:
    """HTTP Basic auth from USERNAME/PASSWORD in system.conf, read again when it changes."""

    def __init__(self, system_conf):
        self.system_conf = system_conf
        self.values = None
        self.credentials = None

    def refresh(self):
        values = self.system_conf.current()
        if values is not self.values:
            self.values = values
            user = values.get('USERNAME', '')
            password = values.get('PASSWORD', '')
            self.credentials = user + ':' + password if user and password else None

    def check(self, req):
        self.refresh()
        if self.credentials is None:
            return
        scheme, _, token = req.headers.get('authorization', '').partition(' ')
        given = ''
        if scheme.lower() == 'basic':
            try:
                given = binascii.a2b_base64(token.strip()).decode()
            except (ValueError, UnicodeError):
                given = ''
        if not same_secret(given, self.credentials):
            raise HttpError(401, 'authentication required',
                            [('WWW-Authenticate', 'Basic realm="%s"' % REALM)])


class App:
    """Everything the handlers share: the SD card, options, the loop, the camera."""

    def __init__(self, options, loop, log=None):
        self.options = options
        self.loop = loop
        self.log = log
        self.sd = SdCard(options.root)
        self.system_conf = conf.ConfFile(self.sd.conf_path('system.conf'))
        self.auth = Auth(self.system_conf)
        self.listings = Listings(self.sd.record)
        self.host_check = guard.HostCheck(self.sd, (options.allow_host or '').split(','))
        self.www = self.sd.yi_hack + '/www'
        if not files.is_dir(self.www):
            package_dir = __file__.rpartition('/')[0] or '.'
            self.www = (package_dir.rpartition('/')[0] or '.') + '/www'
        self.tmp_dir = options.tmp_dir or '/tmp'
        stale = files.remove_stale_temp(self.tmp_dir)
        if stale and log is not None:
            log('removed %d temp files left by an earlier run that was killed' % stale)
        self.ipc = None   # the camera transport (transports.py), set by __main__
        # What services have under way: each is changed by one handler module.
        self.ptz_move = None        # the PTZ move running (ptz)
        self.position_asks = 0      # camera positions asked of ipc_cmd, for unique temp names (ptz)
        self.playing = False        # a sound plays on the speaker: one at a time (audio)
        self.record_stop = None     # the timer that ends record.sh's motion event (recorder)
        self.outputs_read = 0       # program outputs read back, for unique temp names (network)
        self.inflater = None        # the page files' shared inflater, made at the first (gzipped)
        self.essid_watch = None     # the Wi-Fi name, read again when the link reconnects (status)
        self.settings_sending = 0   # camera setting sequences being sent (camera)
        self.grabbers = 0           # snapshot grabbers running (snapshot)
        self.grab_count = 0         # snapshots taken, for unique temp names (snapshot)
        self.script_runs = 0        # service scripts running (services)
        self.bridge = None          # the MQTT bridge Child this server started (services)
        self.upgrading = False      # a firmware upgrade runs: one at a time (system)
        self.fetch_count = 0        # release checks made, for unique temp names (system)
        self.video_watch = None     # the long-poll's watch for a new recording (records)
        self.cgi_runs = 0           # CGI answers under way (cgi)
        self.cgi_count = 0          # CGI runs started, for unique temp names (cgi)

    def admit(self, req):
        """Checks made as soon as the head is read, before any body is taken.

        Returns the length of the body to read (0: none).
        """
        if needs_auth(req.path):
            self.auth.check(req)
        entry = route_entry(req.path)
        methods = STATIC if entry is None else entry[2]
        if req.method not in methods:
            message = 'HEAD would run this service: use GET' if req.method == 'HEAD' and entry \
                else 'method not allowed'
            raise HttpError(405, message, [('Allow', ', '.join(methods))])
        length = req.content_length()
        if methods == CHANGES or req.path in SECRETS:
            reason = self.host_check.reason(req)
            if reason is None and methods == CHANGES:
                reason = guard.foreign_reason(req)
            if reason is not None:
                raise HttpError(403, 'refused: ' + reason)
        limit = 0 if entry is None else entry[3]
        if length > limit:
            raise HttpError(413, 'body larger than %d bytes' % limit)
        return length

    def handle(self, req):
        """The one place that turns an admitted request into a Response or Deferred."""
        try:
            return self.route(req)
        except HttpError as err:
            return err.response()
        except Exception as exc:
            from .loop import log_exception
            log_exception(req.method + ' ' + req.path, exc)
            return failure_response(exc)

    def route(self, req):
        path = req.path
        entry = route_entry(path)
        if entry is not None:
            return self.handler(entry[0], entry[1])(req)
        if path.startswith('/record/'):
            return self.handler('records', 'serve_record')(req)
        return self.handler('static', 'serve_www')(req)

    def handler(self, module, function):
        name = 'yihttpd.handlers.' + module
        if name not in sys.modules:
            __import__(name)
        return getattr(sys.modules[name], function)

    def spool_path(self, key):
        """Where a large upload body is written while it arrives."""
        return files.temp_path(self.tmp_dir, 'upload', key)

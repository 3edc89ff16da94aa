"""The application: auth, the guard and the body limit applied from a request's route,
its handler run, and errors mapped to answers."""
import binascii
import sys

from . import conf, files, guard, routes
from .http import HttpError, error_answer
from .listings import Listings
from .sdcard import SdCard

REALM = 'yi-hack'


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
        self.host_check = guard.HostCheck(self.sd, options.allow_host or '', self.system_conf)
        self.www = self.sd.yi_hack + '/www'
        if not files.is_dir(self.www):
            package_dir = __file__.rpartition('/')[0] or '.'
            self.www = (package_dir.rpartition('/')[0] or '.') + '/www'
        self.tmp_dir = options.tmp_dir or '/tmp'
        stale = files.remove_stale_temp(self.tmp_dir)
        if stale and log is not None:
            log('removed %d temp files left by an earlier run that was killed' % stale)
        self.ipc = None   # the camera transport (transports.py), set by __main__
        self.kept = {}    # what each service keeps between requests, by its module (state)
        self.handlers = {}   # the handler functions found so far, by route (handler())
        # The context the camera rules shared with the MQTT bridge keep their state on
        # (camera_rules.py, ptz_rules.py; the bridge's context has the same two):
        self.ptz_move = None        # the PTZ move running
        self.settings_sending = 0   # camera setting sequences being sent

    def state(self, owner, make):
        """What the service of module owner keeps between requests: make(app), its own
        class, made at its first request and kept (the App knows nothing of it)."""
        kept = self.kept.get(owner)
        if kept is None:
            kept = self.kept[owner] = make(self)
        return kept

    def admit(self, req):
        """Checks made as soon as the head is read, before any body is taken.

        Every rule comes from the request's route (routes.py). Returns the
        length of the body to read (0: none).
        """
        route = req.route
        if route.auth:
            self.auth.check(req)
        changes = routes.changes(route, req)
        methods = routes.methods(route, changes)
        if req.method not in methods:
            message = 'HEAD would run this service: use GET' if req.method == 'HEAD' \
                and not route.static else 'method not allowed'
            raise HttpError(405, message, [('Allow', ', '.join(methods))])
        length = req.content_length()
        if changes or route.secret:
            reason = self.host_check.reason(req)
            if reason is None and changes:
                reason = guard.foreign_reason(req)
            if reason is not None:
                raise HttpError(403, 'refused: ' + reason)
        if length > route.body:
            raise HttpError(413, 'body larger than %d bytes' % route.body)
        return length

    def handle(self, req):
        """The one place that turns an admitted request into a Response or Deferred."""
        try:
            return self.handler(req.route.handler)(req)
        except Exception as exc:
            return error_answer(exc, req)

    def handler(self, handler):
        """A route's handler ('module.function'); its module imported on first use."""
        found = self.handlers.get(handler)
        if found is None:
            module, _, function = handler.partition('.')
            name = 'yihttpd.handlers.' + module
            if name not in sys.modules:
                __import__(name)
            found = self.handlers[handler] = getattr(sys.modules[name], function)
        return found

    def spool_path(self, key):
        """Where a large upload body is written while it arrives."""
        return files.temp_path(self.tmp_dir, 'upload', key)

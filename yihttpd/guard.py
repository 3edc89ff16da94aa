"""Who may reach the services that change things or hand out secrets.

A browser on the camera's network carries its user's access to the camera
to any page it opens. Two ways such a page could use it are refused here:
- a request it makes to the camera (an <img>, a form, a fetch) that runs a
  change, or a <script> that reads hostname.js: told apart by the headers
  browsers add (README "Security");
- DNS rebinding: its own name pointed at the camera, so its requests are
  same-origin; their Host header then names the page's site, not the camera.
Programs that send none of these headers (curl, wget, Home Assistant) pass.
"""
from . import checks
from .sdcard import shown

# Sec-Fetch-Site values of a request that did not come from another site's page.
OWN_SITE = ('same-origin', 'none')
# Sec-Fetch-Dest values of a fetch or a navigation; an <img>, <script>, <iframe>... is refused.
OWN_DESTS = ('empty', 'document')
BROWSER_MARK = 'mozilla/'   # every browser's User-Agent starts with it; curl, wget, HA's do not
# Suffixes of the camera's hostname that name it: only those nobody outside the home can
# ever own, else whoever does could point HOSTNAME.SUFFIX at the camera (DNS rebinding).
# .local: mDNS, never asked of a DNS server (RFC 6762); .home.arpa: the special-use
# domain for home networks (RFC 8375); .internal: reserved for private use by ICANN
# (2024). Not the routers' .lan, .home, .localdomain (in no reserved list: they may be
# delegated one day) nor .fritz.box (.box is a public top-level domain): an owner who
# uses such a name adds it (ALLOW_KEY, --allow-host).
LOCAL_SUFFIXES = ('.local', '.home.arpa', '.internal')
ALLOW_KEY = 'HTTPD_ALLOW_HOST'   # system.conf: more names, as --allow-host takes them
ANY_HOST = '*'
IPV6_CHARS = checks.HEX_DIGITS + 'ABCDEF:.'
MAX_NAME = 255              # a DNS name: longer Host names are not the camera's


def authority(url):
    """host[:port] of an absolute URL, lower-cased ('' for 'null' or a relative one)."""
    scheme, sep, rest = url.partition('://')
    if not sep:
        return ''
    for stop in '/?#':
        rest = rest.partition(stop)[0]
    return rest.rpartition('@')[2].lower()


def foreign_reason(req):
    """Why a request to a service that changes things may come from another site's page
    (or is not a fetch or a navigation), or None."""
    headers = req.headers
    dest = headers.get('sec-fetch-dest')
    if dest is not None and dest.lower() not in OWN_DESTS:
        return 'a page may not run this service as a %s' % dest.lower()
    reason = other_site_reason(req)
    if reason is None and 'sec-fetch-site' not in headers and 'origin' not in headers \
            and 'referer' not in headers \
            and headers.get('user-agent', '').lower().startswith(BROWSER_MARK):
        reason = 'a browser must show the page it came from (Referer or Origin)'
    return reason


def other_site_reason(req):
    """Why a request came from another site's page, by what the browser says, or None."""
    headers = req.headers
    site = headers.get('sec-fetch-site')
    if site is not None and site.lower() not in OWN_SITE:
        return 'request came from another site (Sec-Fetch-Site: %s)' % site.lower()
    for name, shown_name in (('origin', 'Origin'), ('referer', 'Referer')):
        value = headers.get(name)
        if value is not None and authority(value) != req.host().lower():
            return 'request came from another site (%s)' % shown_name
    return None


def split_host(host):
    """(name, port text) of a Host header value; an IPv6 literal keeps its brackets."""
    if host.startswith('['):
        end = host.find(']')
        return (host[:end + 1], host[end + 2:]) if end > 0 else (host, '')
    name, _, port = host.partition(':')
    return name, port


def is_ip_literal(name):
    """An IPv4 address in dotted decimal, or an IPv6 one in brackets."""
    if name.startswith('[') and name.endswith(']'):
        return checks.only(name[1:-1], IPV6_CHARS, 45) and ':' in name
    parts = name.split('.')
    return len(parts) == 4 and all(checks.number(p, 0, 255) is not None for p in parts)


def names_in(text):
    """The names of a comma-separated list, as Host is compared to them."""
    return [name.strip().lower().rstrip('.') for name in text.split(',') if name.strip()]


class HostCheck:
    """The names this camera answers to: IP literals, localhost, its hostnames
    (etc/hostname alone or with a LOCAL_SUFFIXES suffix, and the kernel's),
    and the names of --allow-host and of system.conf's ALLOW_KEY, read again
    when the file changes, so the page's setting counts at once ('*': any)."""

    def __init__(self, sd, allowed, system_conf):
        self.sd = sd
        self.allowed = names_in(allowed)
        self.system_conf = system_conf

    def allowed_names(self):
        return self.allowed + names_in(self.system_conf.current().get(ALLOW_KEY, ''))

    def own_names(self, allowed):
        names = ['localhost'] + allowed
        for path in (self.sd.hostname_path, '/proc/sys/kernel/hostname'):
            hostname = (self.sd.read_text(path, '') or '').lower()
            if hostname:
                names.append(hostname)
                names.extend(hostname + suffix for suffix in LOCAL_SUFFIXES)
        return names

    def reason(self, req):
        """Why the Host header does not name this camera, or None."""
        allowed = self.allowed_names()
        if req.sent_host is None or ANY_HOST in allowed:
            return None
        name, port = split_host(req.host().lower())
        name = name.rstrip('.')
        if port and checks.number(port, 1, 65535) is None:
            return 'bad port in Host'
        if is_ip_literal(name) or (len(name) <= MAX_NAME and name in self.own_names(allowed)):
            return None
        return ('Host %s is not a name of this camera (use its address, or add the name to '
                '%s in system.conf: Settings, Access)' % (shown(name), ALLOW_KEY))

"""wifi.sh and proxy.sh as the firmware's (docs/API.md): scan for networks,
hand a new network to the firmware's configure_wifi.sh, test the proxy.

The programs (iwlist, configure_wifi.sh, wget, proxychains4) run beside the
loop with argument lists; what the client sends is checked, then written
only into the fixed file configure_wifi.sh reads.
"""
import json

from .. import checks, conf, files
from ..child import Background
from ..http import Deferred, HttpError, Response, ok

SCAN_TIMEOUT = 15.0         # seconds iwlist may scan
CONFIGURE_TIMEOUT = 30.0    # configure_wifi.sh backs up and writes a flash partition
PROXY_TIMEOUT = 20.0        # seconds the proxy test's fetch may take
OUTPUT_MAX = 65536          # bytes of a program's output read back
IPINFO_URL = 'http://ipinfo.io'
WIFI_CFG = 'configure_wifi.cfg'   # in --tmp-dir (/tmp): where configure_wifi.sh reads it
SSID_MAX = 32               # bytes of an SSID (IEEE 802.11)
PSK_MIN = 8                 # WPA passphrase: 8 to 63 printable ASCII characters
PSK_MAX = 63
PRINTABLE = ''.join(chr(c) for c in range(32, 127))


def run_for_output(app, argv, timeout, on_output):
    """Run argv beside the loop; on_output(stdout text, or None when it failed or ran too long)."""
    out = files.unique_temp_path(app.tmp_dir, 'output')

    def ended(status):
        try:
            text = conf.read_small(out, OUTPUT_MAX).decode() if status == 0 else None
        except (OSError, ValueError, UnicodeError):
            text = None
        files.remove_if_there(out)
        on_output(text)
    Background(app.loop, argv, timeout, ended, app.tmp_dir, out)


def essids(text):
    """The network names of `iwlist wlan0 scan`, hidden (empty) ones left out."""
    found = []
    for line in text.split('\n'):
        name = line.strip()
        if name.startswith('ESSID:'):
            name = name[6:]
            if len(name) > 1 and name[0] == '"' and name[-1] == '"':
                name = name[1:-1]
            if name.strip():
                found.append(name)
    return found


def scan(req):
    """{"wifi":["NET1","NET2",""]}: the firmware's list, closed by an empty name."""
    app = req.app
    deferred = Deferred(req)

    def done(text):
        if text is None:
            raise HttpError(503, 'iwlist wlan0 scan failed')
        deferred.resolve(Response(json.dumps({'wifi': essids(text) + ['']}).encode()))
    run_for_output(app, ['env', 'PATH=' + app.sd.firmware_path(), 'iwlist', 'wlan0', 'scan'],
                   SCAN_TIMEOUT, deferred.step(done))
    return deferred


def wifi_values(body):
    """(ssid, psk) from the page's JSON; 400 for what configure_wifi.sh must not be given."""
    try:
        values = json.loads(checks.decode_utf8(body))
    except (ValueError, UnicodeError):
        raise HttpError(400, 'the body must be JSON')
    if not isinstance(values, dict):
        raise HttpError(400, 'the body must be a JSON object')
    ssid = values.get('WIFI_ESSID')
    psk = values.get('WIFI_PASSWORD')
    if not isinstance(ssid, str) or not ssid or len(ssid.encode()) > SSID_MAX or \
            [c for c in ssid if ord(c) < 32 or ord(c) == 127]:
        raise HttpError(400, 'WIFI_ESSID must be 1 to %d bytes without control characters' % SSID_MAX)
    if not isinstance(psk, str) or not checks.only(psk, PRINTABLE, PSK_MAX) or len(psk) < PSK_MIN:
        raise HttpError(400, 'WIFI_PASSWORD must be %d to %d printable ASCII characters' % (PSK_MIN, PSK_MAX))
    return ssid, psk, values.get('WIFI_PASSWORD2')


def save(req):
    """Write configure_wifi.cfg, run configure_wifi.sh (used on the next boot), remove the file."""
    app = req.app
    ssid, psk, again = wifi_values(req.body)
    if psk != again:
        return Response(json.dumps({'error': 'true'}).encode())   # the page: passwords don't match
    script = app.sd.yi_hack + '/script/configure_wifi.sh'
    if files.entry_kind(script) != 'file':
        raise HttpError(503, '%s is missing' % script)
    cfg = app.tmp_dir + '/' + WIFI_CFG
    conf.atomic_write(cfg, ('wifi_ssid=%s\nwifi_psk=%s\n' % (ssid, psk)).encode())
    deferred = Deferred(req)

    def ended(status):
        files.remove_if_there(cfg)
        if status != 0:
            raise HttpError(503, 'configure_wifi.sh failed')
        deferred.resolve(ok())
    Background(app.loop, [script], CONFIGURE_TIMEOUT, deferred.step(ended), app.tmp_dir)
    return deferred


def wifi(req):
    """GET wifi.sh?action=scan; POST wifi.sh?action=save with {"WIFI_ESSID","WIFI_PASSWORD","WIFI_PASSWORD2"}."""
    if req.choice('action', ('scan', 'save')) == 'scan':
        return scan(req)
    return save(req)


def proxy(req):
    """GET proxy.sh?proxy=1|0: {"error":"false","result":<what ipinfo.io says of us>},
    fetched through proxychains4 or directly."""
    app = req.app
    fetch = [app.options.wget, '-O-', '-q', IPINFO_URL]
    if req.choice('proxy', ('0', '1')) == '1':
        fetch = ['env', 'PATH=' + app.sd.firmware_path(), 'proxychains4'] + fetch
    deferred = Deferred(req)

    def done(text):
        try:
            result = json.loads(text) if text else None
        except ValueError:
            result = None
        if result is None:
            raise HttpError(503, 'no answer from %s' % IPINFO_URL)
        deferred.resolve(Response(json.dumps({'error': 'false', 'result': result}).encode()))
    run_for_output(app, fetch, PROXY_TIMEOUT, deferred.step(done))
    return deferred

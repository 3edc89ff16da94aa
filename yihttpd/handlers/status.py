"""status.json and hostname.js: what the camera is and how it is doing.

Values come from /proc, /sys and the SD card; anything the host does not
have is "N/A", so the answer always carries every field (Home Assistant
needs mac_addr and serial_number to be present). What changes only when
the link does (its addresses, and the Wi-Fi network's name, iwconfig's as
the firmware reads it) is read again only when the link went down or up
since, or after a while (LinkWatch), not once per request; no answer waits
for iwconfig.
"""
import json

from .. import conf, dates, device, files, guard
from ..compat import monotonic
from ..device import NA, free_sd, memory_info, read_first_line, serial_number
from ..http import HttpError, Response

DEFAULT_FAMILY = 'yi-hack-allwinner-v2'
# Models (yi-hack/model_suffix) whose camera can pan and tilt: today's
# yi-hack-Allwinner-v2 status.json list, then the other families' PTZ models
# (ipc_cmd's ptz.c); their suffixes do not overlap.
PTZ_MODELS = ('r30gb', 'r35gb', 'r37gb', 'r40ga', 'h51ga', 'h52ga', 'h60ga', 'q321br_lsx', 'qg311r',
              'b091qp', 'h201c', 'h305r', 'h307', 'y30', 'y30qa')
GO2RTC = '/bin/go2rtc'      # under yi-hack/: the firmware says go2rtc yes when it is installed
IWCONFIG = ('iwconfig', 'wlan0')   # what the firmware's status.json reads the ESSID from
ESSID_TIMEOUT = 3.0         # seconds iwconfig may take
ESSID_MAX_AGE = 60.0        # seconds an ESSID is kept where the kernel counts no carrier changes
ADDRESSES_MAX_AGE = 10.0    # seconds the addresses are kept between reconnects (a new DHCP lease
                            # shows within them): reading them took most of status.json's time
ESSID_OUTPUT_MAX = 4096     # bytes of iwconfig's output read


class LinkWatch:
    """What status.json says of the network link, not read whole at each request: the
    addresses, gateway and MAC are read again when the link went down or up since (the
    kernel's carrier_changes count, --wlan-carrier, moved) or after ADDRESSES_MAX_AGE;
    the ESSID, which `iwconfig wlan0` gives, is read beside the loop on such a change
    (or after ESSID_MAX_AGE where the kernel counts no carrier changes). No answer waits
    for iwconfig: until a read has ended, answers give the name before (N/A at start)."""

    def __init__(self, app):
        self.app = app
        self.essid = NA
        self.seen = None        # the carrier count (or age slot) the ESSID was read at
        self.reading = False
        self.addresses = None   # device.addresses() as last read
        self.addresses_seen = None

    def current(self):
        """(addresses, interface, ESSID): the ESSID last read; new reads start when the link changed."""
        carrier = read_first_line(self.app.options.wlan_carrier)
        now = monotonic()
        mark = (carrier, int(now // ADDRESSES_MAX_AGE))
        if mark != self.addresses_seen:
            self.addresses = device.addresses()
            self.addresses_seen = mark
        mark = carrier if carrier is not None else int(now // ESSID_MAX_AGE)
        if mark != self.seen and not self.reading:
            self.read(mark)
        return self.addresses[0], self.addresses[1], self.essid

    def read(self, mark):
        app = self.app
        out = files.temp_path(app.tmp_dir, 'essid')
        self.reading = True

        def ended(status):
            try:
                text = conf.read_small(out, ESSID_OUTPUT_MAX).decode() if status == 0 else ''
            except (OSError, ValueError, UnicodeError):
                text = ''
            files.remove_if_there(out)
            self.essid = essid_of(text)
            self.seen = mark
            self.reading = False
        try:
            from ..child import Background   # only here: status.json itself runs no program
            Background(app.loop, ['env', 'PATH=' + app.sd.firmware_path()] + list(IWCONFIG),
                       ESSID_TIMEOUT, ended, app.tmp_dir, out)
        except (OSError, MemoryError):
            # No file, process or heap to spare now (EMFILE; 256K crowded by clients): the
            # answer gives the name before, and the next request tries again.
            files.remove_if_there(out)
            self.reading = False


def essid_of(text):
    """The quoted name after iwconfig's ESSID: (the firmware: grep ESSID | cut -d'"' -f2);
    N/A when not associated (ESSID:off/any, where the firmware's cut takes the Nickname)."""
    at = text.find('ESSID:"')
    if at < 0:
        return NA
    return text[at + 7:].partition('"')[0]


def hostname(sd):
    return sd.read_text(sd.hostname_path) or read_first_line('/proc/sys/kernel/hostname') or NA


def has_ptz(app, model):
    override = app.options.ptz
    if override in ('yes', 'no'):
        return override
    return 'yes' if model in PTZ_MODELS else 'no'


def status_json(req):
    app = req.app
    addresses, iface, essid = app.state(__name__, LinkWatch).current()
    sd = app.sd
    model = sd.model_suffix() or NA
    uptime = read_first_line('/proc/uptime')
    load = read_first_line('/proc/loadavg')
    total_memory, free_memory = memory_info()
    status = {
        'name': app.options.family or DEFAULT_FAMILY,
        'hostname': hostname(sd),
        'fw_version': sd.read_text(sd.yi_hack + '/version') or NA,
        'home_version': device.home_version(app.options.homever),
        'model_suffix': model,
        'ptz': has_ptz(app, model),
        'go2rtc': 'yes' if files.entry_kind(sd.yi_hack + GO2RTC) == 'file' else 'no',
        'serial_number': serial_number(),
        'local_time': dates.date_text(),
        'uptime': uptime.split()[0] if uptime else NA,
        'load_avg': ' '.join(load.split()[:3]) if load else NA,
        'total_memory': total_memory,
        'free_memory': free_memory,
        'free_sd': free_sd(sd.root),
    }
    status.update(addresses)
    status['wlan_essid'] = essid
    status['wlan_strength'] = device.wlan_strength(iface) if iface else NA
    return Response(json.dumps(status).encode())


HOSTNAME_JS = __name__ + '.js'   # hostname.js's state: the last name and its answer


def new_answer_kept(_app):
    return [None, None]


def hostname_js(req):
    """The firmware page's <script src>: refused to a request that says it came from
    another site's page, which could read it the same way (a name that tells this
    camera apart; the default ends with its MAC's). A browser that says nothing is
    answered: one set to send no Referer would break the firmware's page."""
    reason = guard.other_site_reason(req)
    if reason is not None:
        raise HttpError(403, 'refused: ' + reason)
    name = hostname(req.app.sd)
    kept = req.app.state(HOSTNAME_JS, new_answer_kept)
    if kept[0] != name:
        kept[:] = [name, b'hostname=%s;' % json.dumps(name).encode()]
    return Response(kept[1], 200, 'text/javascript')

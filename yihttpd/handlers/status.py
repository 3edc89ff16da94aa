"""status.json and hostname.js: what the camera is and how it is doing.

Values come from /proc, /sys and the SD card; anything the host does not
have is "N/A", so the answer always carries every field (Home Assistant
needs mac_addr and serial_number to be present).
"""
import json
import time

from .. import files
from ..http import Response
from ..sysinfo import APP_VERSION, NA, free_sd, memory_info, network_info, read_first_line, serial_number

DEFAULT_FAMILY = 'yi-hack-allwinner-v2'
# Models (yi-hack/model_suffix) whose camera can pan and tilt: today's
# yi-hack-Allwinner-v2 status.json list, then the other families' PTZ models
# (ipc_cmd's ptz.c); their suffixes do not overlap.
PTZ_MODELS = ('r30gb', 'r35gb', 'r37gb', 'r40ga', 'h51ga', 'h52ga', 'h60ga', 'q321br_lsx', 'qg311r',
              'b091qp', 'h201c', 'h305r', 'h307', 'y30', 'y30qa')
GO2RTC = '/bin/go2rtc'      # under yi-hack/: the firmware says go2rtc yes when it is installed


def local_time():
    t = time.localtime()
    return '%04d-%02d-%02d %02d:%02d:%02d' % t[:6]


def hostname(sd):
    return sd.read_text(sd.hostname_path) or read_first_line('/proc/sys/kernel/hostname') or NA


def homever(app):
    """The vendor firmware's version, /home/homever (--homever; e.g. 12.0.51.08_202208101411), or ''.

    Read like /proc: the file is the camera's, not the SD card's, and on
    MicroPython a link check lists the whole directory on each request.
    """
    return read_first_line(app.options.homever) or ''


def home_version(app):
    """status.json's home_version: the firmware's reads /home/app/.appver; else homever."""
    return read_first_line(APP_VERSION) or homever(app) or NA


def has_ptz(app, model):
    override = app.options.ptz
    if override in ('yes', 'no'):
        return override
    return 'yes' if model in PTZ_MODELS else 'no'


def status_json(req):
    app = req.app
    sd = app.sd
    model = sd.model_suffix() or NA
    uptime = read_first_line('/proc/uptime')
    load = read_first_line('/proc/loadavg')
    total_memory, free_memory = memory_info()
    status = {
        'name': app.options.family or DEFAULT_FAMILY,
        'hostname': hostname(sd),
        'fw_version': sd.read_text(sd.yi_hack + '/version') or NA,
        'home_version': home_version(app),
        'model_suffix': model,
        'ptz': has_ptz(app, model),
        'go2rtc': 'yes' if files.entry_kind(sd.yi_hack + GO2RTC) == 'file' else 'no',
        'serial_number': serial_number(),
        'local_time': local_time(),
        'uptime': uptime.split()[0] if uptime else NA,
        'load_avg': ' '.join(load.split()[:3]) if load else NA,
        'total_memory': total_memory,
        'free_memory': free_memory,
        'free_sd': free_sd(sd.root),
    }
    status.update(network_info())
    return Response(json.dumps(status).encode())


def hostname_js(req):
    body = 'hostname=%s;' % json.dumps(hostname(req.app.sd))
    return Response(body.encode(), 200, 'text/javascript')

"""Configuration services: get_configs, set_configs, save and load.

The conf files are only ever changed through conf.update_conf and
conf.atomic_write, so a power cut or a kill leaves each file whole, old or
new. A load unpacks the archive into a scratch directory first and touches
etc/ only once every member has passed every rule, then switches the whole
set in one step (confset.py): a kill leaves all old or all new confs.

get/set take the conf names the firmware's page uses. Keys with a rule in
the firmware's set_configs.sh (HOSTNAME, MOTION_IMAGE_DELAY, TIMELAPSE_DT,
PROXYCHAINS_SERVERS) follow it, except that a value it would silently skip
is refused with 400 and nothing is written.
"""
import json
import os

from .. import checks, child, conf, files, settings_archive, tar
from ..conf_rules import (CONF_FILES, MASK, PROXIES_KEY, PROXY_SEPARATOR, checked_changes,
                          is_secret, proxy_entries, write_changes)
from ..device import homever, network_info, read_first_line
from ..http import HttpError, Response, ok, text_response
from ..multipart import body_stream, multipart_file
from ..sdcard import shown

READ_ONLY = ('ptz_presets',)   # preset.sh changes it, telling the camera in the same step
HOSTNAME_KEY = 'HOSTNAME'    # system's pseudo-key, kept in etc/hostname
HOMEVER_KEY = 'HOMEVER'      # camera's pseudo-key: the camera's own firmware version
EXACT_INTEGER = 1 << 53      # integers up to this are exact in jq's doubles
DOUBLE_DIGITS = 17           # significant digits that tell any two doubles apart
NAME_WORD = 'NAME'           # replaced by the new hostname in --hostname-cmd
WLAN_MAC_PATH = '/sys/class/net/wlan0/address'   # the default hostname comes from this MAC
LOADED = 'Upload completed successfully, restart your camera\r\n'   # the firmware's load.sh text, as its page shows it
ARCHIVE_NAME = 'config.tar.bz2'              # what the firmware's page saves the answer as
ARCHIVE_TYPE = 'application/x-bzip2'

# proxychains.conf: its servers follow the [ProxyList] line, one a line (conf_rules has their rule)
PROXY_LIST = '[ProxyList]'


def conf_path(req):
    """The file for ?conf=; a name not in CONF_FILES: 400."""
    name = CONF_FILES[req.choice('conf', CONF_FILES, '')]
    path = req.app.sd.conf_path(name)
    if files.entry_kind(path) != 'file':
        raise HttpError(404, 'no such config file: %s' % name)
    return path


def get_configs(req):
    path = conf_path(req)
    if req.param('conf') == 'proxychains':
        return Response(json.dumps({PROXIES_KEY: proxy_servers(path)}).encode())
    values = conf.read_conf(path)
    for key in values:
        if is_secret(key) and values[key]:
            values[key] = MASK
    if req.param('conf') == 'system':
        values[HOSTNAME_KEY] = req.app.sd.read_text(req.app.sd.hostname_path, '')
    elif req.param('conf') == 'camera':
        # The firmware's page reads HOMEVER to pick the camera rows; it fails without it.
        values[HOMEVER_KEY] = homever(req.app.options.homever)
    return Response(json.dumps(values).encode())


def parse_changes(body):
    """The JSON object of a set: keys [A-Z0-9_]+, values as stored (conf_rules); else 400 saying why."""
    # Parsed from the bytes once checked: a decoded copy would need a second block of
    # the body's size, which a broken-up heap may lack. No NUL: CPython would take the
    # bytes for UTF-16 or UTF-32, and JSON text never holds one.
    if b'\0' in body or not checks.is_utf8(body):
        raise HttpError(400, 'body is not a JSON object')
    try:
        changes = json.loads(body)
    except (ValueError, UnicodeError, RuntimeError, MemoryError):
        # RuntimeError (CPython's RecursionError) and MemoryError (MicroPython's
        # parse stack): deep nesting, which no flat object has.
        raise HttpError(400, 'body is not a JSON object')
    if not isinstance(changes, dict):
        raise HttpError(400, 'body must be a JSON object')
    for key in changes:
        value = changes[key]
        if not conf.is_key(key):
            raise HttpError(400, 'not a config key: ' + shown(key))
        changes[key] = value_text(key, value)
    return checked_changes(changes)   # a value refused: checks.Refused, answered 400


def value_text(key, value):
    """A value's text as the firmware's set_configs.sh stores it (jq prints it): a
    string as it is, true or false, a number as jq writes it; 400 for null, lists and
    objects, which no setting holds."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (int, float)):
        text = jq_number(value)
        if text is not None:
            return text
        raise HttpError(400, 'value of %s is a number beyond what a double holds' % key)
    raise HttpError(400, 'value of %s must be a string, a number, true or false' % key)


def jq_number(number):
    """number as jq prints it (jq holds numbers as doubles): the shortest digits that
    read back as the same double, with an exponent below 1e-4 or past 15 places more
    than the digits (its jvp_dtoa_fmt). None for what no double holds."""
    if isinstance(number, int) and -EXACT_INTEGER <= number <= EXACT_INTEGER:
        return str(number)
    try:
        f = float(number)
    except OverflowError:
        return None
    if f - f != 0:          # infinite or not a number
        return None
    if f == 0:
        return '-0' if str(f)[0] == '-' else '0'
    sign = '-' if f < 0 else ''
    f = abs(f)
    for precision in range(1, DOUBLE_DIGITS + 1):
        text = '%.*e' % (precision - 1, f)
        if float(text) == f:
            break
    mantissa, _, exponent = text.partition('e')
    digits = mantissa.replace('.', '').rstrip('0')
    point = int(exponent) + 1      # where the decimal point goes after the first digit
    if point <= -4 or point > len(digits) + 15:
        rest = '.' + digits[1:] if len(digits) > 1 else ''
        return '%s%s%se%s%02d' % (sign, digits[0], rest, '+' if point > 0 else '-', abs(point - 1))
    if point <= 0:
        return sign + '0.' + '0' * -point + digits
    if point >= len(digits):
        return sign + digits + '0' * (point - len(digits))
    return sign + digits[:point] + '.' + digits[point:]


def set_configs(req):
    path = conf_path(req)
    if req.param('conf') in READ_ONLY:
        raise HttpError(400, '%s is changed by preset.sh, not set_configs.sh' % req.param('conf'))
    changes = parse_changes(req.body)
    if req.param('conf') == 'proxychains':
        if PROXIES_KEY in changes:
            set_proxy_servers(path, changes[PROXIES_KEY])
        return ok()
    hostname = None
    if req.param('conf') == 'system' and HOSTNAME_KEY in changes:
        hostname = checked_hostname(changes.pop(HOSTNAME_KEY) or default_hostname())
    write_changes(path, changes)
    if hostname is not None:
        conf.atomic_write(req.app.sd.hostname_path, (hostname + '\n').encode())
        apply_hostname(req.app, hostname)
    return ok()


# proxychains.conf

def proxy_lines(path):
    """(lines up to and with [ProxyList], the server lines after it)."""
    lines = conf.read_lines(path)
    for i, line in enumerate(lines):
        if line.strip() == PROXY_LIST:
            return lines[:i + 1], lines[i + 1:]
    return lines, None


def proxy_servers(path):
    """PROXYCHAINS_SERVERS as the firmware's get_configs.sh answers it."""
    _head, servers = proxy_lines(path)
    servers = [line.strip() for line in servers or ()]
    return PROXY_SEPARATOR.join(line for line in servers if line and not line.startswith('#'))


def set_proxy_servers(path, value):
    """The file's lines up to [ProxyList] kept, the servers after it replaced."""
    head, servers = proxy_lines(path)
    while head and not head[-1].strip():
        head.pop()
    if servers is None:
        head.append(PROXY_LIST)
    data = '\n'.join(head + proxy_entries(value)) + '\n'
    if len(data) > conf.MAX_CONF_SIZE:
        raise HttpError(400, 'refused: proxychains.conf would be larger than %d bytes' % conf.MAX_CONF_SIZE)
    conf.atomic_write(path, data.encode())


# Hostname

def checked_hostname(name):
    if not checks.is_hostname(name):
        raise HttpError(400, 'value of %s must be %s' % (HOSTNAME_KEY, checks.HOSTNAME_RULE))
    return name


def default_hostname():
    """yi- and the last 4 hex digits of the wlan MAC (the default route's MAC off the camera)."""
    mac = read_first_line(WLAN_MAC_PATH) or network_info()['mac_addr']
    digits = mac.replace(':', '').lower()
    if len(digits) != 12 or not checks.only(digits, checks.HEX_DIGITS, 12):
        raise HttpError(500, 'no wlan MAC address to make the default hostname from')
    return 'yi-' + digits[-4:]


def apply_hostname(app, name):
    """Run --hostname-cmd with NAME replaced (an argument list, never a shell string)."""
    argv = app.options.hostname_cmd.split()
    if NAME_WORD in argv:
        argv = [name if word == NAME_WORD else word for word in argv]
    else:
        argv.append(name)
    try:
        status = child.run(argv)
    except OSError as exc:
        status = exc
    if status != 0:
        app.log('hostname command %s failed: %s' % (argv[0], status))


# Save and load

def settings_files(sd):
    """(name, path) of every plain *.conf in etc and hostname, sorted by name."""
    names = [name for name, kind in files.list_entries(sd.etc)
             if kind == 'file' and tar.is_settings_name(name)]
    names.sort()
    return [(name, sd.etc + '/' + name) for name in names]


def save(req):
    """The settings archive (tar.bz2, as the firmware's) as an attachment,
    built in a temp file and streamed."""
    app = req.app
    path = files.temp_path(app.tmp_dir, 'save')
    try:
        tar.write_archive(path, settings_files(app.sd))
        size = files.stat_size(files.stat(path))
        f = open(path, 'rb')
    finally:
        files.remove_if_there(path)   # the open file stays readable until it is closed
    return Response.file_part(f, 0, size, 200, ARCHIVE_TYPE, [
        ('Content-Disposition', 'attachment; filename="%s"' % ARCHIVE_NAME),
        ('Cache-Control', 'no-store')])


def load(req):
    app = req.app
    from .. import camera_rules   # imported only here: it pulls in the IPC code
    camera_rules.check_not_busy(app)   # its settings are sent after the load
    stream, size = body_stream(req)
    scratch = files.temp_path(app.tmp_dir, 'load')
    files.remove_entry(scratch)   # left by a killed load; a link is only removed
    os.mkdir(scratch)
    try:
        section = multipart_file(stream, size, req.headers.get('content-type', ''))
        names = unpack_checked(section, scratch, app.tmp_dir)
        hostname = settings_archive.install(app.sd, scratch, names)
    finally:
        stream.close()
        files.remove_tree(scratch)
    if hostname is not None:
        apply_hostname(app, hostname)
    reapply_camera_settings(app)
    return text_response(LOADED, 'text/html')


def unpack_checked(section, scratch, tmp_dir):
    """Unpack an uploaded archive into scratch and check it whole; 400 at the first thing refused."""
    stream = None
    try:
        stream = tar.open_compressed(section, tmp_dir)
        return settings_archive.unpack(stream, scratch)
    except tar.ArchiveError as err:
        raise HttpError(400, 'settings archive refused: ' + err.message)
    finally:
        if stream is not None:
            stream.close()


def reapply_camera_settings(app):
    """After a load, camera.conf's settings are sent to the camera again."""
    from .. import camera_rules
    camera_rules.apply_camera_settings(app, app.sd.conf_path(camera_rules.CAMERA_CONF),
                                       homever(app.options.homever)[:2])

"""Configuration services: get_configs, set_configs, save and load.

The conf files are only ever changed through conf.update_conf and
conf.atomic_write, so a power cut or a kill leaves each file whole, old or
new. A load unpacks the archive into a scratch directory first and touches
etc/ only once every member has passed every rule.
"""
import io
import json
import os

from .. import checks, child, compress, conf, files, tar
from ..http import HttpError, Response, ok, text_response
from ..multipart import multipart_file
from ..sdcard import shown

# ?conf= names and their files in yi-hack/etc
CONF_FILES = {'system': 'system.conf', 'mqtt': 'mqttv4.conf', 'camera': 'camera.conf'}
REQUIRED_IN_ARCHIVE = ('system.conf', 'camera.conf')
SECRET_SUFFIX = 'PASSWORD'   # keys ending so are never sent back in clear
MASK = '********'            # what a secret is answered as; sent back, it keeps the stored value
HOSTNAME_KEY = 'HOSTNAME'    # system's pseudo-key, kept in etc/hostname
HOMEVER_KEY = 'HOMEVER'      # camera's pseudo-key: the camera's own firmware version
MAX_VALUE = 1024             # longest value stored: the firmware's URLs, passwords and cron lines are far shorter
STORED_LINE_BREAK = '\\n'    # a value's line break is stored as these two characters, as the firmware does
NAME_WORD = 'NAME'           # replaced by the new hostname in --hostname-cmd
WLAN_MAC_PATH = '/sys/class/net/wlan0/address'   # the default hostname comes from this MAC
LOADED = 'Upload completed successfully, restart your camera\r\n'   # the firmware's load.sh text, as its page shows it
ARCHIVE_TYPES = {'bz2': 'application/x-bzip2', 'gz': 'application/gzip'}


def conf_path(req):
    """The file for ?conf=; anything but system, mqtt or camera: 400."""
    name = CONF_FILES[req.choice('conf', CONF_FILES, '')]
    path = req.app.sd.conf_path(name)
    if files.entry_kind(path) != 'file':
        raise HttpError(404, 'no such config file: %s' % name)
    return path


def is_secret(key):
    return key.endswith(SECRET_SUFFIX)


def get_configs(req):
    path = conf_path(req)
    values = conf.read_conf(path)
    for key in values:
        if is_secret(key) and values[key]:
            values[key] = MASK
    if req.param('conf') == 'system':
        values[HOSTNAME_KEY] = req.app.sd.read_text(req.app.sd.hostname_path, '')
    elif req.param('conf') == 'camera':
        # The firmware's page reads HOMEVER to pick the camera rows; it fails without it.
        from .status import home_version
        values[HOMEVER_KEY] = home_version(req.app)
    return Response(json.dumps(values).encode())


def parse_changes(body):
    """The JSON object of a set: keys [A-Z0-9_]+, string values as stored; else 400 saying why."""
    try:
        changes = json.loads(body.decode())
    except (ValueError, UnicodeError, RuntimeError, MemoryError):
        # RuntimeError (CPython's RecursionError) and MemoryError (MicroPython's
        # parse stack): deep nesting, which no flat object has.
        raise HttpError(400, 'body is not a JSON object of strings')
    if not isinstance(changes, dict):
        raise HttpError(400, 'body must be a JSON object')
    for key in changes:
        value = changes[key]
        if not conf.is_key(key):
            raise HttpError(400, 'not a config key: ' + shown(key))
        if not isinstance(value, str):
            raise HttpError(400, 'value of %s must be a string' % key)
        changes[key] = stored_value(key, value)
    return changes


def stored_value(key, value):
    """value as one KEY=VALUE line holds it: a line break (a multi-line CRONTAB) becomes a
    literal \\n, as the firmware's set_configs.sh stores it; 400 for what a line cannot hold."""
    if '\r' in value:
        raise HttpError(400, 'value of %s has a carriage return (CR): a conf line cannot hold it' % key)
    if '\0' in value:
        raise HttpError(400, 'value of %s has a NUL character: a conf line cannot hold it' % key)
    if any('\ud800' <= c <= '\udfff' for c in value):
        # No UTF-8 form. CPython's json joins an escaped pair into one character;
        # MicroPython's keeps the two halves, so there a \uD83D\uDE00 pair is refused too.
        raise HttpError(400, 'value of %s holds a UTF-16 surrogate escape' % key)
    value = value.replace('\n', STORED_LINE_BREAK)
    if len(value) > MAX_VALUE:
        raise HttpError(400, 'value of %s is longer than %d characters' % (key, MAX_VALUE))
    return value


def set_configs(req):
    path = conf_path(req)
    changes = parse_changes(req.body)
    hostname = None
    if req.param('conf') == 'system' and HOSTNAME_KEY in changes:
        hostname = checked_hostname(changes.pop(HOSTNAME_KEY) or default_hostname())
    for key in list(changes):
        if is_secret(key) and changes[key] == MASK:
            del changes[key]
    try:
        conf.update_conf(path, changes)
    except conf.ConfTooLarge as err:
        raise HttpError(400, 'refused: ' + err.message)
    if hostname is not None:
        conf.atomic_write(req.app.sd.hostname_path, (hostname + '\n').encode())
        apply_hostname(req.app, hostname)
    return ok()


# Hostname

def checked_hostname(name):
    if not checks.is_hostname(name):
        raise HttpError(400, 'value of %s must be %s' % (HOSTNAME_KEY, checks.HOSTNAME_RULE))
    return name


def default_hostname():
    """yi- and the last 4 hex digits of the wlan MAC (the default route's MAC off the camera)."""
    from .status import network_info, read_first_line
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
    """The settings archive as an attachment, built in a temp file and streamed."""
    app = req.app
    kind = compress.preferred_kind()
    path = files.temp_path(app.tmp_dir, 'save')
    try:
        with open(path, 'wb') as out:
            tar.write_archive(out, settings_files(app.sd), kind)
        size = files.stat_size(files.stat(path))
        f = open(path, 'rb')
    finally:
        files.remove_if_there(path)   # the open file stays readable until it is closed
    filename = 'config.tar.' + kind
    return Response.file_part(f, 0, size, 200, ARCHIVE_TYPES[kind], [
        ('Content-Disposition', 'attachment; filename="%s"' % filename),
        ('Cache-Control', 'no-store')])


def upload_stream(req):
    """(stream, size) of the request body, in memory or spooled to a file."""
    if req.body_path:
        return open(req.body_path, 'rb'), files.stat_size(files.stat(req.body_path))
    return io.BytesIO(req.body), len(req.body)


def load(req):
    app = req.app
    camera_control().check_not_busy(app)   # its settings are sent after the load
    stream, size = upload_stream(req)
    scratch = files.temp_path(app.tmp_dir, 'load')
    if files.entry_kind(scratch) == 'dir':   # left by a killed load; a link is only removed
        files.remove_tree(scratch)
    else:
        files.remove_if_there(scratch)
    os.mkdir(scratch)
    try:
        section = multipart_file(stream, size, req.headers.get('content-type', ''))
        names = unpack_checked(section, scratch)
        hostname = install(app.sd, scratch, names)
    finally:
        stream.close()
        files.remove_tree(scratch)
    if hostname is not None:
        apply_hostname(app, hostname)
    reapply_camera_settings(app)
    return text_response(LOADED, 'text/html')


def unpack_checked(section, scratch):
    """Unpack into scratch and check the whole archive; 400 at the first thing refused."""
    try:
        names = []
        for _ in tar.unpack(tar.open_compressed(section), scratch, tar.SETTINGS, names):
            pass
        for required in REQUIRED_IN_ARCHIVE:
            if required not in names:
                raise tar.ArchiveError('the archive has no %s' % required)
        for name in names:
            check_member_text(scratch, name)
    except tar.ArchiveError as err:
        raise HttpError(400, 'settings archive refused: ' + err.message)
    return names


def check_member_text(scratch, name):
    """A conf is UTF-8 text without NUL; hostname holds one valid hostname or nothing."""
    data = conf.read_small(scratch + '/' + name, tar.SETTINGS.member_size)
    try:
        text = data.decode()
    except UnicodeError:
        raise tar.ArchiveError('%s is not UTF-8 text' % name)
    if '\0' in text:
        raise tar.ArchiveError('%s holds a NUL byte' % name)
    if name == tar.HOSTNAME and text.strip() and not checks.is_hostname(text.strip()):
        raise tar.ArchiveError('hostname must hold %s' % checks.HOSTNAME_RULE)


def install(sd, scratch, names):
    """Write each checked member over etc/ (one atomic write each); the new hostname or None."""
    hostname = None
    for name in names:
        data = conf.read_small(scratch + '/' + name, tar.SETTINGS.member_size)
        conf.atomic_write(sd.etc + '/' + name, data)
        if name == tar.HOSTNAME:
            hostname = data.decode().strip() or None
    return hostname


def camera_control():
    """handlers.camera, imported when first needed (it pulls in the IPC code)."""
    from . import camera
    return camera


def reapply_camera_settings(app):
    """After a load, the camera-control code sends camera.conf's settings (IPC)."""
    camera_control().apply_camera_settings(app)

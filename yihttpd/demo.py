"""--demo: a throw-away SD root with sample configs and recordings.

A new user sees every service work without a camera: the configs are the
payload's defaults, the recordings are small sample files, and one
recording is "in progress" (tmp.mp4.tmp) so the long-poll can be tried.
"""
import os
import time

from . import child, files

DEMO_DAYS = 2          # days of sample recordings
DEMO_HOURS_STEP = 4    # one hour directory every so many hours
VIDEOS_PER_HOUR = 3

# The demo's stand-in for the firmware's service script: it remembers what runs.
SERVICE_SCRIPT = """#!/bin/sh
# yihttpd --demo: stands in for the firmware's service script
state="$(dirname "$0")/$1.running"
echo "$*" >>"$(dirname "$0")/service-calls.log"
case "$2" in
  start) : >"$state" ;;
  stop) rm -f "$state" ;;
  status) [ -e "$state" ] ;;
esac
"""
NO_RELEASE_URL = 'http://127.0.0.1:9/'   # the discard port: refused at once, latest_fw ""
WATCH_INTERVAL = 1     # seconds between the cleaner's checks that the server still runs


def apply_defaults(options):
    """What --demo changes: a sample root, commands recorded, nothing rebooted or fetched."""
    options.root = options.root or demo_root_path()
    if options.ipc == 'auto':
        options.ipc = 'record'
        options.ipc_record = options.ipc_record or options.root + '/ipc-sent.bin'
    options.reboot_cmd = options.reboot_cmd or 'true'
    options.release_url = options.release_url or NO_RELEASE_URL


def remove_when_gone(root, pid):
    """A background shell removes root once process pid has ended, however it ended:
    Ctrl-C lets the server remove it itself, but a SIGTERM (kill, systemd, a
    terminal closed) ends MicroPython at once, since its unix port has no signal
    module, and CPython the same by default."""
    watch = 'while kill -0 %d 2>/dev/null; do sleep %d; done; rm -rf %s' % (
        pid, WATCH_INTERVAL, child.shell_quote(root))
    os.system('sh -c %s </dev/null >/dev/null 2>&1 &' % child.shell_quote(watch))


def repo_dir():
    package = __file__.rpartition('/')[0] or '.'
    return package.rpartition('/')[0] or '.'


def read_bytes(path, default):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError:
        return default


def write_bytes(path, data):
    with open(path, 'wb') as f:
        f.write(data)


def makedirs(path):
    parts = path.split('/')
    for i in range(2, len(parts) + 1):
        sub = '/'.join(parts[:i])
        if sub and not files.is_dir(sub):
            os.mkdir(sub)


def hour_dir_name(t):
    return '%04dY%02dM%02dD%02dH' % (t[0], t[1], t[2], t[3])


def build_demo_root(root, now=None):
    """Lay out a sample SD root at root (created; must not exist yet)."""
    repo = repo_dir()
    etc = root + '/yi-hack/etc'
    makedirs(etc)
    makedirs(root + '/record')
    defaults = repo + '/sdcard_payload/yi-hack/etc/'
    for name in ('system.conf', 'camera.conf', 'mqttv4.conf', 'hostname'):
        write_bytes(etc + '/' + name, read_bytes(defaults + name, b''))
    write_bytes(root + '/yi-hack/version', b'0.4.1-demo\n')
    write_bytes(root + '/yi-hack/model_suffix', b'y211ga\n')
    makedirs(root + '/yi-hack/script')
    script = root + '/yi-hack/script/service.sh'
    write_bytes(script, SERVICE_SCRIPT.encode())
    child.run(['chmod', '755', script])
    video = read_bytes(repo + '/demo/sample.mp4', b'\0' * 1024)
    thumb = read_bytes(repo + '/demo/sample.jpg', b'')
    now = int(time.time()) if now is None else now
    start = now - DEMO_DAYS * 86400
    for hour in range(0, DEMO_DAYS * 24, DEMO_HOURS_STEP):
        t = time.localtime(start + hour * 3600)
        directory = root + '/record/' + hour_dir_name(t)
        os.mkdir(directory)
        for i in range(VIDEOS_PER_HOUR):
            stem = '%02dM00S60' % (i * 15)
            write_bytes(directory + '/' + stem + '.mp4', video)
            write_bytes(directory + '/' + stem + '.jpg', thumb)
    write_bytes(root + '/record/tmp.mp4.tmp', video[:512])
    return root


def demo_root_path():
    return files.temp_path('/tmp', 'demo')

"""service.sh: start, stop and ask about the camera's services.

rtsp, onvif, wsdd, ftpd, mqtt-config, mp4record and all belong to the
firmware: they go to its service script (`service.sh NAME ACTION P1 P2`) as
an argument list and run beside the loop, so other clients are served while
a service starts. mqtt is yihttpd's own bridge process (`-m yihttpd.mqtt
--root ROOT`).

How status is known:
- firmware services: as the firmware's service.sh decides it, by whether a
  process runs whose command line holds the service's program
  (`ps | grep PROGRAM | grep -v grep`), read from /proc here without a
  child. Its own asking process is left out: the firmware's
  `service.sh ftpd status` found itself, so ftpd, mqtt-config and
  mp4record always read "started" there;
- mqtt: the bridge's pid file (written by the shell that execs it, or by
  yihttpd.sh's watchdog) names a live process whose command line is the
  bridge's; else the firmware's mqttv4, found as above. The answer's
  "program" says which runs. The pid files live in --tmp-dir, so a
  restarted server still finds and stops its bridge (and yihttpd.sh's
  watchdog for it, which would start it again).
"""
import sys

from .. import checks, child, compat, files
from ..child import Background
from ..http import Deferred, HttpError, json_response, ok

# name: (values of param1, values of param2, the program whose process means "started");
# None = the service takes no such param. 'all' reads as rtsp, as in the firmware's script.
SERVICES = {
    'rtsp': (('low', 'high', 'both'), None, 'rRTSPServer'),
    'onvif': (('low', 'high', 'both'), ('yes', 'no'), 'onvif_notify_server'),
    'wsdd': (None, None, 'wsd_simple_server'),
    'ftpd': (('busybox', 'pure-ftpd'), None, 'ftpd'),
    'mqtt': (None, None, None),
    'mqtt-config': (None, None, 'mqtt-config'),
    'mp4record': (None, None, 'mp4record'),
    'all': (None, None, 'rRTSPServer'),
}
ACTIONS = ('start', 'stop', 'status')
PROC = '/proc'
MAX_PROCESSES = 4096      # /proc entries looked at per status (a camera runs about 100)
CMDLINE_HEAD = 512        # bytes of a command line read: more than ps shows of it
LEFT_OUT = (b'grep', b'service.sh')   # programs whose command line names a service but runs none

POLL_INTERVAL = 0.1       # seconds between checks whether a background program has ended
SCRIPT_TIMEOUT = 30       # seconds a service script may take to start or stop a service
MAX_SCRIPT_RUNS = 8       # service scripts at once: a flood of starts (each client may leave at
                          # once) must not fork without end
MQTT_START_CHECK = 1.0    # seconds after which a bridge that has not died is taken as started
MQTT_STOP_TIMEOUT = 5.0   # seconds the bridge gets to leave after SIGTERM before SIGKILL
MQTT_MODULE = 'yihttpd.mqtt'
FIRMWARE_MQTT = 'mqttv4'  # the firmware's program the bridge replaces
WATCHDOG_WORD = b'yihttpd.sh'   # in the command line of yihttpd.sh's watchdog for the bridge
MAX_PID = 4194304         # Linux's largest pid (pid_max)
# The shell records its own pid, then becomes the bridge (exec keeps the pid).
# A constant: the pid file and the bridge's argv come in as positional arguments.
PID_THEN_EXEC = 'echo $$ >"$0" && exec "$@" 2>&1'


def run_beside(req, argv, timeout, on_exit, stdout_path=None):
    """Background for a request's app: status files go to its --tmp-dir."""
    return Background(req.app.loop, argv, timeout, on_exit, req.app.tmp_dir, stdout_path, POLL_INTERVAL)


def checked_param(req, service, name, allowed):
    """A param1/param2 value, '' when absent; 400 when the service does not take it."""
    value = req.param(name, '')
    if value == '':
        return value
    if allowed is None:
        raise HttpError(400, '%s takes no %s' % (service, name))
    return req.choice(name, allowed)


def service_sh(req):
    """Every value is checked before anything runs."""
    name = req.choice('name', SERVICES, '')
    action = req.choice('action', ACTIONS, '')
    values1, values2, program = SERVICES[name]
    param1 = checked_param(req, name, 'param1', values1)
    param2 = checked_param(req, name, 'param2', values2)
    if name == 'mqtt':
        return mqtt_action(req, action)
    if action == 'status':
        return json_response({'status': 'started' if program_runs(program) else 'stopped'})
    return script_action(req, name, action, param1, param2)


def program_runs(program):
    """Whether a process's command line holds program, leaving out grep, the service
    script and this server, as the firmware's `ps | grep` means to. Only grep's own
    process is left out: its `grep -v grep` also dropped any folder named so."""
    own = str(compat.getpid())
    wanted = program.encode()
    looked = 0
    for pid, kind in files.list_entries(PROC):
        if kind != 'dir' or pid == own or not checks.only(pid, checks.DIGITS, 10):
            continue
        looked += 1
        if looked > MAX_PROCESSES:
            break
        words = command_words(pid)
        if words and any(wanted in word for word in words) and \
                not any(word.rpartition(b'/')[2] in LEFT_OUT for word in words[:2]):
            return True
    return False


def command_words(pid):
    """The first CMDLINE_HEAD bytes of a process's argv, split; [] for a gone or kernel process."""
    try:
        with open('%s/%s/cmdline' % (PROC, pid), 'rb') as f:
            head = f.read(CMDLINE_HEAD)
    except OSError:
        return []
    return [word for word in head.split(b'\0') if word]


def service_script(app):
    return app.options.service_script or app.sd.yi_hack + '/script/service.sh'


class Services:
    """What service.sh keeps: the scripts running (MAX_SCRIPT_RUNS at most), and the MQTT
    bridge this server started (a Child, reaped once it has ended)."""

    def __init__(self, _app):
        self.scripts = 0
        self.bridge = None


def services(app):
    return app.state(__name__, Services)


def run_script(req, argv, timeout, on_exit):
    """run_beside, at most MAX_SCRIPT_RUNS at once (503 beyond: nothing runs)."""
    kept = services(req.app)
    if kept.scripts >= MAX_SCRIPT_RUNS:
        raise HttpError(503, 'busy: %d service scripts already run, try again' % MAX_SCRIPT_RUNS,
                        [('Retry-After', '1')])

    def ended(code):
        kept.scripts -= 1
        on_exit(code)
    background = run_beside(req, argv, timeout, ended)   # counted once it has started
    kept.scripts += 1
    return background


def script_action(req, name, action, param1, param2):
    """Run the firmware's script; parameters are passed on start only (param2: onvif start)."""
    script = service_script(req.app)
    if files.stat(script) is None:
        raise HttpError(503, 'no service script at %s' % script)
    argv = [script, name, action]
    if action == 'start':
        argv += [param1, param2]
        while argv[-1] == '':
            argv.pop()
    deferred = Deferred(req)

    def on_done(code):
        if code is None:
            raise HttpError(503, '%s %s: the service script still runs after %ds' % (
                name, action, SCRIPT_TIMEOUT))
        if code != 0:
            raise HttpError(500, '%s %s: the service script failed (exit %d)' % (name, action, code))
        deferred.resolve(ok())
    run_script(req, argv, SCRIPT_TIMEOUT, deferred.step(on_done))
    return deferred


# -- the MQTT bridge ---------------------------------------------------------

def bridge_pid_path(app):
    return app.tmp_dir + '/yihttpd-mqtt.pid'


def bridge_log_path(app):
    return app.tmp_dir + '/yihttpd-mqtt.log'


def is_bridge(pid, root):
    """Whether pid is a live (not zombie) bridge process serving root."""
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            cmdline = f.read()
    except OSError:
        return False
    return MQTT_MODULE.encode() in cmdline and root.encode() in cmdline


def bridge_pid(app):
    """The pid of the running bridge, or None."""
    bridge = services(app).bridge
    if bridge is not None:
        bridge.poll()   # reaps it once it has ended
    pid = checks.number(app.sd.read_text(bridge_pid_path(app), ''), 1, MAX_PID)
    return pid if pid is not None and is_bridge(pid, app.sd.root) else None


def bridge_module_present():
    package = __file__.rpartition('/')[0].rpartition('/')[0] or '.'
    return any(files.stat(package + '/mqtt' + ext) is not None for ext in ('.py', '.mpy'))


def mqtt_action(req, action):
    app = req.app
    pid = bridge_pid(app)
    if action == 'status':
        if pid is not None:
            return json_response({'status': 'started', 'program': MQTT_MODULE})
        if program_runs(FIRMWARE_MQTT):
            return json_response({'status': 'started', 'program': FIRMWARE_MQTT})
        return json_response({'status': 'stopped'})
    if action == 'start':
        return ok() if pid is not None else start_bridge(req)
    return ok() if pid is None else stop_bridge(req, pid)


def start_bridge(req):
    app = req.app
    if not bridge_module_present():
        raise HttpError(503, 'the MQTT bridge (yihttpd/mqtt.py) is not installed')
    argv = ['/bin/sh', '-c', PID_THEN_EXEC, bridge_pid_path(app),
            sys.executable, '-m', MQTT_MODULE, '--root', app.sd.root]
    if app.options.mqtt_events:
        argv += ['--ipc-events', app.options.mqtt_events]
    files.remove_if_there(bridge_pid_path(app))   # the shell's > would write through a planted link
    services(app).bridge = child.Child(argv, bridge_log_path(app), app.tmp_dir)
    deferred = Deferred(req)

    def check_started():
        if bridge_pid(app) is None:
            raise HttpError(500, 'the MQTT bridge exited at start: see %s' % bridge_log_path(app))
        deferred.resolve(ok())
    deferred.later(MQTT_START_CHECK, check_started)
    return deferred


def stop_bridge(req, pid):
    """SIGTERM, wait up to MQTT_STOP_TIMEOUT for it to leave, then SIGKILL; answer when gone.
    yihttpd.sh's watchdog for the bridge, if one runs, is stopped first."""
    app = req.app
    watchdog = checks.number(app.sd.read_text(app.tmp_dir + '/yihttpd-mqtt-watchdog.pid', ''), 1, MAX_PID)
    if watchdog is not None and WATCHDOG_WORD in b' '.join(command_words(str(watchdog))):
        child.run(['kill', '-TERM', str(watchdog)])
    child.run(['kill', '-TERM', str(pid)])
    deferred = Deferred(req)
    deadline = compat.monotonic() + MQTT_STOP_TIMEOUT

    def check_gone():
        if bridge_pid(app) is not None:
            if compat.monotonic() < deadline:
                deferred.later(POLL_INTERVAL, check_gone)
                return
            child.run(['kill', '-KILL', str(pid)])
        files.remove_if_there(bridge_pid_path(app))
        deferred.resolve(ok())
    deferred.later(POLL_INTERVAL, check_gone)
    return deferred

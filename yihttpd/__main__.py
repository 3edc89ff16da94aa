"""python3 -m yihttpd [--root DIR] [--port N] [--bind ADDR] [--demo] [--quiet]

Also runs as `micropython -m yihttpd ...` with MICROPYPATH at the checkout.
"""
import sys

from . import checks, cli, compat, conf, files, transports
from .app import App
from .loop import Loop
from .server import HEADER_TIMEOUT, IDLE_TIMEOUT, MAX_CONNECTIONS, Server

DEFAULT_ROOT = '/tmp/sd'
DEFAULT_PORT = 8080
MAX_PORT = 65535


OPTIONS = (
    ('--root', str, None, 'SD card root (default %s)' % DEFAULT_ROOT),
    ('--port', int, None, 'port (default: HTTPD_PORT of system.conf, else %d)' % DEFAULT_PORT),
    ('--bind', str, '0.0.0.0', 'address to listen on'),
    ('--demo', cli.FLAG, False, 'serve a throw-away sample SD root'),
    ('--quiet', cli.FLAG, False, 'no log line per request'),
    ('--max-connections', int, MAX_CONNECTIONS, 'open connections at most'),
    ('--header-timeout', float, HEADER_TIMEOUT, 'seconds to send a request head'),
    ('--idle-timeout', float, IDLE_TIMEOUT, 'seconds an idle or non-reading client is kept'),
    ('--allow-host', str, None, 'more names the camera is reached by, comma-separated (*: any)'),
    ('--family', str, None, 'firmware family reported by status.json'),
    ('--ptz', str, None, 'yes or no: override the PTZ detection by model'),
    ('--tmp-dir', str, '/tmp', 'where uploads and temporary files go'),
    ('--hostname-cmd', str, 'hostname NAME', 'applies a new hostname (NAME: the name; run without a shell)'),
    ('--longpoll-timeout', float, None, 'seconds getlastrecordedvideo.sh waits for a video (default 80)'),
    ('--service-script', str, None, 'firmware service script (default ROOT/yi-hack/script/service.sh)'),
    ('--mqtt-events', str, None, "event source for the MQTT bridge (default: the bridge's own)"),
    ('--reboot-cmd', str, None, 'shell command run after reboot.sh answers (default: sync; reboot)'),
    ('--release-url', str, None, 'JSON with the latest firmware tag_name (default: GitHub releases)'),
    ('--download-url', str, None, 'firmware archive URL, {tag} and {model} replaced (default: GitHub)'),
    ('--wget', str, 'wget', 'program that fetches the release info and the archive'),
    ('--upgrade-min-free-mb', int, None, 'free SD space an upgrade needs (default 100)'),
    ('--stats', cli.FLAG, False, 'log the heap high-water mark (MicroPython; for bench/)'),
    ('--grabber', str, None, 'snapshot tool (default ROOT/yi-hack/bin/imggrabber)'),
    ('--homever', str, '/home/homever', 'the vendor firmware version file (camera_settings.sh AI rules)'),
    ('--audio-fifo', str, '/tmp/audio_in_fifo', 'the FIFO the camera plays sound from (speak.sh)'),
    ('--no-cgi-fallback', cli.FLAG, False, "never run the firmware's cgi-bin scripts"),
    ('--cgi-timeout', float, None, 'seconds a CGI program may run (default 70)'),
    ('--test-hold-switch', str, None, 'tests only: a conf switch waits to be killed there (staged, switching)'),
) + transports.OPTIONS


def log(line):
    sys.stderr.write('yihttpd: %s\n' % line)


def main(argv):
    options = cli.parse(argv, OPTIONS, 'yihttpd')
    if options.demo:
        from . import demo
        demo.apply_defaults(options)
        demo.build_demo_root(options.root)
        log('demo SD root at %s' % options.root)
    options.root = options.root or DEFAULT_ROOT
    # Before anything reads a conf: a load or reset a kill cut short is finished
    # or undone (confset.py, imported only then: its heap is not held for nothing).
    etc = options.root + '/yi-hack/etc'
    if files.entry_kind(etc + '/' + conf.SWITCH_STAGE) is not None:
        from . import confset
        confset.finish_cut_short(etc, log)
    if options.test_hold_switch is not None:
        from . import confset
        if options.test_hold_switch not in confset.HOLD_POINTS:
            cli.fail('yihttpd', OPTIONS, '--test-hold-switch takes %s' % ', '.join(confset.HOLD_POINTS))
        confset.hold_at(options.test_hold_switch, log)
    port = options.port
    if port is None:
        configured = conf.read_conf(options.root + '/yi-hack/etc/system.conf').get('HTTPD_PORT', '')
        port = checks.number(configured, 0, MAX_PORT)
        port = DEFAULT_PORT if port is None else port
    loop = Loop()
    app = App(options, loop, log)
    app.ipc = transports.transport_or_exit(options, loop, log)
    server = Server(loop, app, options.bind, port, options.max_connections,
                    None if options.quiet else log, log if options.stats else None,
                    options.header_timeout, options.idle_timeout)
    host = '127.0.0.1' if options.bind in ('0.0.0.0', '') else options.bind
    log('serving %s on http://%s:%d/' % (options.root, host, port))
    compat.interrupt_on_sigint()   # Ctrl-C stops it cleanly (the --demo root is removed)
    try:
        loop.run()
    except KeyboardInterrupt:
        log('stopped')
    server.sock.close()
    if options.demo:
        files.remove_tree(options.root)


main(sys.argv[1:])

"""python3 -m yihttpd [--root DIR] [--port N] [--bind ADDR] [--demo] [--quiet]

Also runs as `micropython -m yihttpd ...` with MICROPYPATH at the checkout.
"""
import sys

from . import checks, cli, compat, conf, files, transports
from .app import App
from .loop import Loop
from .options import DEFAULT_PORT, DEFAULT_ROOT, MAX_PORT, OPTIONS, parse
from .server import Server


def log(line):
    sys.stderr.write('yihttpd: %s\n' % line)


def main(argv):
    options = parse(argv)
    if options.demo:
        from . import demo
        demo.apply_defaults(options)
        demo.build_demo_root(options.root)
        demo.remove_when_gone(options.root, compat.getpid())
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

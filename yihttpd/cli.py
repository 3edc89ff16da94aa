"""A small command-line parser that both runtimes have.

MicroPython's argparse is a frozen module that disappears when MICROPYPATH
is set, so the entry points use this instead.
"""
import sys

FLAG = 'flag'   # an option that takes no value


class Options:
    """The parsed options as attributes."""


def usage(prog, spec):
    lines = ['usage: %s [options]' % prog]
    for name, kind, default, text in spec:
        value = '' if kind == FLAG else ' ' + name[2:].upper()
        shown = '' if default in (None, False) else ' (default %s)' % default
        lines.append('  %s%s  %s%s' % (name, value, text, shown))
    return '\n'.join(lines)


def parse(argv, spec, prog):
    """spec: (--name, FLAG or a converter like int or str, default, help).

    Exits with the usage text on --help or a bad option.
    """
    options = Options()
    kinds = {}
    for name, kind, default, _text in spec:
        setattr(options, name[2:].replace('-', '_'), default)
        kinds[name] = kind
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, inline = arg.partition('=')
        kind = kinds.get(name)
        if arg in ('-h', '--help'):
            print(usage(prog, spec))
            sys.exit(0)
        if kind is None:
            fail(prog, spec, 'unknown option ' + arg)
        attr = name[2:].replace('-', '_')
        if kind == FLAG:
            setattr(options, attr, True)
        else:
            if eq:
                raw = inline
            elif i + 1 < len(argv):
                i += 1
                raw = argv[i]
            else:
                fail(prog, spec, name + ' needs a value')
            try:
                setattr(options, attr, kind(raw))
            except ValueError:
                fail(prog, spec, 'bad value for %s: %s' % (name, raw))
        i += 1
    return options


def fail(prog, spec, message):
    sys.stderr.write('%s: %s\n%s\n' % (prog, message, usage(prog, spec)))
    sys.exit(2)

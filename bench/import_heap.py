"""What importing the server and the MQTT bridge costs before they do anything.

    .venv/bin/python bench/import_heap.py [--heap 512K]

Prints, for `import yihttpd.app` (the web server's core) and `import
yihttpd.mqtt` (the bridge and all it imports):
- on MicroPython, the live heap those imports hold after a collection, from
  the checkout's .py sources and from .mpy bytecode made by mpy-cross;
- on CPython, the process RSS after the import.
Figures, not a pass/fail test.
"""
import argparse
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from build_payload import PACKAGE, mpy_compile, walk_files  # noqa: E402

MODULES = ('yihttpd.app', 'yihttpd.mqtt')

# Heap held by one import: collected before and after, so garbage is not counted.
MICROPYTHON_PROBE = (
    'import gc\n'
    'gc.collect()\n'
    'before = gc.mem_alloc()\n'
    'import {module}\n'
    'gc.collect()\n'
    'print(gc.mem_alloc() - before)\n')

CPYTHON_PROBE = (
    'import {module}\n'
    'with open("/proc/self/status") as f:\n'
    '    print([line.split()[1] for line in f if line.startswith("VmRSS:")][0])\n')


def compiled_package(tmp):
    """The package as .mpy files under tmp; the folder to put on MICROPYPATH."""
    top = os.path.join(REPO, PACKAGE)
    for rel in walk_files(top):
        if not rel.endswith('.py'):
            continue
        target = os.path.join(tmp, PACKAGE, rel[:-3] + '.mpy')
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, 'wb') as f:
            f.write(mpy_compile(os.path.join(top, rel), PACKAGE + '/' + rel))
    return tmp


def probe(argv, path, code):
    env = dict(os.environ, MICROPYPATH=path, PYTHONPATH=path)
    out = subprocess.run(argv + ['-c', code], env=env, cwd=path, check=True,
                         stdout=subprocess.PIPE).stdout
    return int(out.split()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--heap', default='512K', help='MicroPython heap size (-X heapsize)')
    parser.add_argument('--micropython', default='micropython', help='the MicroPython to measure')
    args = parser.parse_args()
    micropython = [args.micropython, '-X', 'heapsize=' + args.heap]
    with tempfile.TemporaryDirectory() as tmp:
        mpy_path = compiled_package(tmp)
        for module in MODULES:
            source = probe(micropython, REPO, MICROPYTHON_PROBE.format(module=module))
            bytecode = probe(micropython, mpy_path, MICROPYTHON_PROBE.format(module=module))
            print('micropython import %-13s heap %6d bytes (.py)  %6d bytes (.mpy)'
                  % (module, source, bytecode))
    for module in MODULES:
        rss = probe([sys.executable], REPO, CPYTHON_PROBE.format(module=module))
        print('cpython     import %-13s RSS  %6d kB' % (module, rss))


if __name__ == '__main__':
    main()

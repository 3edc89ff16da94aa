"""How long the hand-written codecs take on each runtime (figures, not a test).

    .venv/bin/python bench/bench_codecs.py [--heap 256K] [--rounds 3]

On CPython, MicroPython 1.26.1 (x86-64) and MicroPython 1.26.1 for 32-bit
ARM under qemu-arm (an upper bound for the camera's 1 GHz ARM core), each
at the given heap, prints the best of the rounds for:
- save.sh's work: the payload's settings tar packed by bzip2_writer.py;
- load.sh's work: that tar as Debian's `bzip2 -9` packs it, read by bzip2.py;
- a page file for a client without gzip: jQuery's size of text, gzip -9,
  inflated by inflate.py in 1 KiB reads.
"""
import argparse
import gzip
import io
import os
import subprocess
import sys
import tarfile
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'tests'))

from harness import PAYLOAD_ETC, runtime_command, runtime_env  # noqa: E402

PAGE_SIZE = 89501        # jquery.min.js of the firmware's page
PROBE = '''
import sys, time
from yihttpd import bzip2, bzip2_writer, inflate
try:
    now, since = time.ticks_ms, time.ticks_diff
except AttributeError:
    now, since = (lambda: time.monotonic() * 1000), (lambda a, b: a - b)
folder, rounds = sys.argv[1], int(sys.argv[2])

def best(work):
    times = []
    for _ in range(rounds):
        began = now()
        size = work()
        times.append(since(now(), began))
    return '%6d ms (%d bytes)' % (min(times), size)

def pack():
    writer = bzip2_writer.Writer()
    size = 0
    with open(folder + '/settings.tar', 'rb') as f:
        while True:
            data = f.read(4096)
            if not data:
                return size + len(writer.flush())
            size += len(writer.compress(data))

def drain(reader, size):
    total = 0
    while True:
        data = reader.read(size)
        if not data:
            return total
        total += len(data)

def unpack():
    with open(folder + '/settings.tar.bz2', 'rb') as f:
        return drain(bzip2.Reader(f), 4096)

inflater = inflate.Inflater(1024, folder)

def inflate_page():
    with open(folder + '/page.js.gz', 'rb') as f:
        inflater.start(f)
        total = drain(inflater, 1024)
        inflater.release()
        return total

print('  pack settings (save.sh)        ' + best(pack))
print('  read bzip2 -9 backup (load.sh) ' + best(unpack))
print('  inflate a page file            ' + best(inflate_page))
'''


def inputs(folder):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode='w', format=tarfile.GNU_FORMAT) as t:
        for name in sorted(os.listdir(PAYLOAD_ETC)):
            t.add(os.path.join(PAYLOAD_ETC, name), name)
    with open(os.path.join(folder, 'settings.tar'), 'wb') as f:
        f.write(raw.getvalue())
    subprocess.run(['bzip2', '-9', '-k', os.path.join(folder, 'settings.tar')], check=True)
    readme = open(os.path.join(REPO, 'README.md'), 'rb').read()
    page = (readme * (PAGE_SIZE // len(readme) + 1))[:PAGE_SIZE]
    with open(os.path.join(folder, 'page.js.gz'), 'wb') as f:
        f.write(gzip.compress(page, 9))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--heap', default='256K')
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        inputs(folder)
        probe = os.path.join(folder, 'probe.py')
        with open(probe, 'w') as f:
            f.write(PROBE)
        for runtime in ('cpython', 'micropython', 'armhf'):
            print('%s%s' % (runtime, '' if runtime == 'cpython' else ' at ' + args.heap))
            sys.stdout.flush()
            subprocess.run(runtime_command(runtime, None, args.heap) + [probe, folder, str(args.rounds)],
                           cwd=REPO, env=runtime_env(runtime), check=True)


if __name__ == '__main__':
    main()

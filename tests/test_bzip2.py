"""yihttpd's own bzip2 (bzip2.py, bzip2_writer.py) against Debian's bzip2, both
ways, on every runtime at a 256K heap; and what it refuses."""
import io
import os
import random
import subprocess
import tarfile
import time

import pytest

from harness import PAYLOAD_ETC, REPO, runtime_command, runtime_env
from pure_units import read_through
from yihttpd import bzip2, bzip2_writer

pytestmark = pytest.mark.arch   # also on 32-bit ARM and MIPS (musl) under qemu

TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'bzip2_tool.py')
HEAP = '256K'
REFUSE_SECONDS = 20    # a refusal comes once the bound is passed, not after decoding everything
FUZZ_CASES = 400


def settings_tar():
    """The payload's settings as the firmware's save.sh tars them."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode='w', format=tarfile.GNU_FORMAT) as t:
        for name in sorted(os.listdir(PAYLOAD_ETC)):
            t.add(os.path.join(PAYLOAD_ETC, name), name)
    return raw.getvalue()


def samples():
    rng = random.Random(25)
    text = open(os.path.join(REPO, 'README.md'), 'rb').read()[:40000]
    return {
        'settings.tar': settings_tar(),
        'empty': b'',
        'one-byte': b'x',
        'zeros': bytes(300000),
        'random': bytes(rng.getrandbits(8) for _ in range(20000)),
        'periodic': b'ab' * 6000,
        'every-byte': bytes(range(256)) * 40,
        'text-in-blocks': text,
        'runs-across-blocks': (b'y' * 300 + text[:997]) * 12,
    }


def run_tool(runtime, mode, pairs):
    """The tool's line per (in, out) pair, run under runtime at HEAP."""
    args = [a for pair in pairs for a in pair]
    done = subprocess.run(runtime_command(runtime, None, HEAP) + [TOOL, mode] + args, cwd=REPO,
                          env=runtime_env(runtime), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=300)
    out = done.stdout.decode()
    assert done.returncode == 0, out
    return out.splitlines()


def write_all(tmp_path, named, suffix=''):
    paths = {}
    for name, data in named.items():
        path = tmp_path / (name + suffix)
        path.write_bytes(data)
        paths[name] = str(path)
    return paths


def test_what_it_writes_debian_bzip2_reads(runtime, tmp_path):
    named = samples()
    plain = write_all(tmp_path, named)
    pairs = [(plain[name], plain[name] + '.bz2') for name in named]
    assert run_tool(runtime, 'pack', pairs) == ['ok'] * len(pairs)
    for name, data in named.items():
        packed = plain[name] + '.bz2'
        subprocess.run(['bzip2', '-t', packed], check=True)
        assert subprocess.run(['bzip2', '-dc', packed], stdout=subprocess.PIPE, check=True).stdout == data, name
    ours = os.path.getsize(plain['settings.tar'] + '.bz2')
    debian = len(subprocess.run(['bzip2', '-9c', plain['settings.tar']], stdout=subprocess.PIPE).stdout)
    assert ours <= debian * 1.1, (ours, debian)   # small blocks cost the settings next to nothing


@pytest.mark.parametrize('level', ['-1', '-9'])
def test_what_debian_bzip2_writes_it_reads(runtime, tmp_path, level):
    named = samples()
    plain = write_all(tmp_path, named)
    pairs = []
    for name in named:
        subprocess.run(['bzip2', level, '-k', plain[name]], check=True)
        pairs.append((plain[name] + '.bz2', plain[name] + '.out'))
    with open(str(tmp_path / 'two.bz2'), 'wb') as f:    # two streams one after the other
        f.write(open(plain['settings.tar'] + '.bz2', 'rb').read() + open(plain['text-in-blocks'] + '.bz2', 'rb').read())
    pairs.append((str(tmp_path / 'two.bz2'), str(tmp_path / 'two.out')))
    assert run_tool(runtime, 'unpack', pairs) == ['ok'] * len(pairs)
    for name, data in named.items():
        assert open(plain[name] + '.out', 'rb').read() == data, name
    assert open(str(tmp_path / 'two.out'), 'rb').read() == named['settings.tar'] + named['text-in-blocks']


def debian_bzip2(data, level='-9'):
    return subprocess.run(['bzip2', level, '-c'], input=data, stdout=subprocess.PIPE, check=True).stdout


def with_wrong_stream_crc(data):
    writer = bzip2_writer.Writer()
    head = writer.compress(data)
    writer.stream_crc ^= 1
    return head + writer.flush()


def hostile_streams():
    """(what, stream, why it is refused): none of them may be read as data."""
    text = open(os.path.join(REPO, 'README.md'), 'rb').read()[:20000]
    good = debian_bzip2(text)
    rng = random.Random(7)
    big_block = bytes(rng.choice(b'abcdefghijklmnopqrstuvwxyz \n') for _ in range(200000))
    return [
        ('block CRC changed', good[:10] + bytes(b ^ 0xff for b in good[10:14]) + good[14:], 'block CRC'),
        ('stream CRC changed', with_wrong_stream_crc(text), 'stream CRC'),
        ('cut short', good[:len(good) // 2], 'cut short'),
        ('cut before its end marker', good[:-6], 'cut short'),
        ('a level of 0', b'BZh0' + good[4:], 'not a bzip2'),
        ('not bzip2', b'hello, this is not bzip2 at all', 'not a bzip2'),
        ('randomised block', good[:14] + bytes((good[14] | 0x80,)) + good[15:], 'randomised'),
        ('trailing garbage', good + b'garbage', 'not a bzip2'),
        ('a block over the bound', debian_bzip2(big_block), 'longer than'),
        ('a bomb of zeros', debian_bzip2(bytes(50 << 20)), 'longer than'),
    ]


def test_corrupt_and_oversized_streams_are_refused_in_bounded_memory_and_time(runtime, tmp_path):
    cases = hostile_streams()
    pairs = []
    for n, (_what, data, _why) in enumerate(cases):
        path = tmp_path / ('case%d.bz2' % n)
        path.write_bytes(data)
        pairs.append((str(path), str(path) + '.out'))
    started = time.monotonic()
    lines = run_tool(runtime, 'unpack', pairs)
    assert time.monotonic() - started < REFUSE_SECONDS * len(cases)
    for (what, _data, why), line in zip(cases, lines):
        assert line.startswith('refused: ') and why in line, (what, line)


def test_damaged_streams_are_refused_or_read_exactly_never_otherwise():
    """Random bit flips anywhere: Bzip2Error, or (a flip in padding) the same bytes."""
    data = settings_tar()
    packed = debian_bzip2(data)
    rng = random.Random(3)
    refused = 0
    for _ in range(FUZZ_CASES):
        damaged = bytearray(packed)
        for _ in range(rng.choice((1, 2, 8))):
            damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        try:
            assert read_through(bzip2.Reader(io.BytesIO(bytes(damaged))), 4096) == data
        except bzip2.Bzip2Error:
            refused += 1
    assert refused > FUZZ_CASES * 0.9

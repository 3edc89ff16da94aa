"""How little heap the --mpy SD-card payload needs under MicroPython.

    .venv/bin/python bench/payload_heap.py [--heap 256K] [--runs N] [--skip-tests] [TEST FILE ...]

Builds the --mpy payload and unpacks it in a temporary folder, then:
1. runs the foundation's HTTP tests (their MicroPython 1.26.1 half) --runs
   times with every server started from that unpacked bytecode package at
   --heap instead of the checkout's sources at 512K, and prints each
   pytest summary and how many runs passed;
2. finds the smallest heap, to a HEAP_STEP, at which that package serves
   status.json and a 20 MiB record intact (checksum), and prints it.
Figures, not a pass/fail test.
"""
import argparse
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'tests'))

import harness  # noqa: E402

FOUNDATION_TESTS = ['tests/test_http.py', 'tests/test_static.py', 'tests/test_limits.py',
                    'tests/test_auth.py', 'tests/test_status.py']
RECORD_SIZE = 20 * 1024 * 1024   # the foundation's large-download case
HEAP_STEP = 8                    # KiB between probed heap sizes
HEAP_LOW, HEAP_HIGH = 16, 512    # KiB: the search range


def unpack_mpy_payload(tmp):
    """Build the --mpy payload into tmp; the folder that holds its yihttpd package."""
    archive = os.path.join(tmp, 'payload.tar.gz')
    subprocess.run([sys.executable, os.path.join(REPO, 'build_payload.py'), '--mpy', '--out', archive],
                   check=True, stdout=subprocess.DEVNULL)
    root = os.path.join(tmp, 'card')
    with tarfile.open(archive) as tar:
        tar.extractall(root)
    return os.path.join(root, 'yi-hack')


HARNESS_COMMAND = harness.runtime_command


def serve_from(package_parent, heap=None):
    """Servers started through the harness run the unpacked package (at heap, if given).

    harness.REPO is the working directory and MICROPYPATH of every server; the
    unpacked folder holds no .py sources, so only the bytecode can load.
    """
    harness.REPO = package_parent

    def command(runtime, module='yihttpd', asked=harness.MICROPYTHON_HEAP):
        return HARNESS_COMMAND(runtime, module, heap or asked)
    harness.runtime_command = command


def run_tests(files):
    import pytest
    return pytest.main(['-q', '-p', 'no:cacheprovider', '-k', 'micropython', '--rootdir', REPO] + files)


def serves_large_record(tmp, heap_kib):
    """True when a server at this heap answers status.json and a 20 MiB record intact."""
    sd = harness.SdRoot(tempfile.mkdtemp(dir=tmp))
    data = os.urandom(RECORD_SIZE)
    sd.add_video('2024Y01M01D00H', '00M00S60', data=data, thumb=None)
    try:
        server = harness.ServerProcess('micropython', sd.path, ['--quiet', '--ipc', 'record'],
                                       '%dK' % heap_kib)
    except RuntimeError:
        return False
    try:
        status, _headers, _body = server.get('/cgi-bin/status.json')
        if status != 200:
            return False
        status, _headers, body = server.get('/record/2024Y01M01D00H/00M00S60.mp4', timeout=60)
        return status == 200 and hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
    except OSError:
        return False
    finally:
        server.stop()


def smallest_heap(tmp):
    """Bisect HEAP_LOW..HEAP_HIGH KiB for the smallest heap that serves."""
    low, high = HEAP_LOW, HEAP_HIGH
    if not serves_large_record(tmp, high):
        return None
    while high - low > HEAP_STEP:
        middle = (low + high) // 2 // HEAP_STEP * HEAP_STEP
        if serves_large_record(tmp, middle):
            high = middle
        else:
            low = middle
    return high


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--heap', default='256K', help='heap for the test run (default 256K)')
    parser.add_argument('--runs', type=int, default=1, help='times to run the tests (default 1)')
    parser.add_argument('--skip-tests', action='store_true', help='only search the smallest heap')
    parser.add_argument('tests', nargs='*', default=FOUNDATION_TESTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        package_parent = unpack_mpy_payload(tmp)
        if not args.skip_tests:
            serve_from(package_parent, args.heap)
            passed = 0
            for run in range(1, args.runs + 1):
                code = run_tests(args.tests)
                passed += code == 0
                print('run %d: foundation HTTP tests, --mpy payload at heap %s: pytest exit %d'
                      % (run, args.heap, code), flush=True)
            print('runs passed at heap %s: %d of %d' % (args.heap, passed, args.runs), flush=True)
        serve_from(package_parent)
        found = smallest_heap(tmp)
        print('smallest heap serving status.json and a 20 MiB record: %s'
              % ('none up to %dK' % HEAP_HIGH if found is None else '%dK' % found), flush=True)


if __name__ == '__main__':
    main()

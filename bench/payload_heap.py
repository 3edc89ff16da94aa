"""How little heap the --mpy SD-card payload needs under MicroPython.

    .venv/bin/python bench/payload_heap.py [--heap 256K] [--runs N] [--skip-tests] [TEST FILE ...]

1. Runs the foundation's tests (modules marked small_heap: HTTP, files,
   limits, auth, status; their MicroPython 1.26.1 x86-64 half) --runs
   times, every server started from the --mpy payload (the harness's
   precompiled package) at --heap, and prints each pytest summary and how
   many runs passed. The suite itself runs them once at 256K.
2. Finds the smallest heap, to a HEAP_STEP, at which that package serves
   status.json and a 20 MiB record intact (checksum), and prints it.
Figures, not a pass/fail test.
"""
import argparse
import hashlib
import os
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'tests'))

import harness  # noqa: E402

RECORD_SIZE = 20 * 1024 * 1024   # the foundation's large-download case
HEAP_STEP = 8                    # KiB between probed heap sizes
HEAP_LOW, HEAP_HIGH = 16, 512    # KiB: the search range


def run_tests(heap, files):
    import pytest
    harness.SMALL_HEAP = heap
    return pytest.main(['-q', '-p', 'no:cacheprovider', '-m', 'small_heap', '-k', 'micropython',
                        '--rootdir', REPO] + (files or [os.path.join(REPO, 'tests')]))


def serves_large_record(tmp, heap_kib):
    """True when a server at this heap answers status.json and a 20 MiB record intact."""
    sd = harness.SdRoot(tempfile.mkdtemp(dir=tmp))
    data = os.urandom(RECORD_SIZE)
    sd.add_video('2024Y01M01D00H', '00M00S60', data=data, thumb=None)
    try:
        server = harness.ServerProcess('micropython', sd.path, ['--quiet', '--ipc', 'record'],
                                       '%dK' % heap_kib, precompiled=True)
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
    parser.add_argument('tests', nargs='*', help='test files (default: the small_heap modules)')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_tests:
            passed = 0
            for run in range(1, args.runs + 1):
                code = run_tests(args.heap, args.tests)
                passed += code == 0
                print('run %d: foundation tests, --mpy payload at heap %s: pytest exit %d'
                      % (run, args.heap, code), flush=True)
            print('runs passed at heap %s: %d of %d' % (args.heap, passed, args.runs), flush=True)
        found = smallest_heap(tmp)
        print('smallest heap serving status.json and a 20 MiB record: %s'
              % ('none up to %dK' % HEAP_HIGH if found is None else '%dK' % found), flush=True)


if __name__ == '__main__':
    main()

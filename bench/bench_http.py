"""Foundation benchmark: status.json, a 64 KiB and a 20 MiB record, 1/8/32 clients.

    .venv/bin/python bench/bench_http.py [--seconds S] [--runtime cpython|micropython]

Prints requests/s, p50/p99 latency and the server's peak memory (RSS high-
water; on MicroPython also the heap high-water mark) for each runtime.
"""
import os
import shutil
import tempfile

from load import bench_server, parse_bench_args

from harness import SdRoot

CLIENT_COUNTS = (1, 8, 32)
SMALL_RECORD = 64 * 1024
LARGE_RECORD = 20 * 1024 * 1024


def build_root(base):
    sd = SdRoot(os.path.join(base, 'sd'))
    sd.write('record/2020Y01M01D01H/00M00S60.mp4', os.urandom(SMALL_RECORD))
    sd.write('record/2020Y01M01D01H/01M00S60.mp4', os.urandom(LARGE_RECORD))
    return sd


TARGETS = (
    ('status.json', '/cgi-bin/status.json'),
    ('record 64 KiB', '/record/2020Y01M01D01H/00M00S60.mp4'),
    ('record 20 MiB', '/record/2020Y01M01D01H/01M00S60.mp4'),
)


def main():
    args = parse_bench_args()
    base = tempfile.mkdtemp(prefix='yihttpd-bench-')
    try:
        sd = build_root(base)
        for runtime in args.runtimes:
            bench_server(runtime, sd.path, runtime, TARGETS, CLIENT_COUNTS, args.seconds)
    finally:
        shutil.rmtree(base)


if __name__ == '__main__':
    main()

"""Foundation benchmark: status.json, a 64 KiB and a 20 MiB record, 1/8/32 clients.

    .venv/bin/python bench/bench_http.py [--seconds S] [--runtime cpython|micropython]

Prints requests/s, p50/p99 latency and the server's peak memory (RSS high-
water; on MicroPython also the heap high-water mark) for each runtime.
"""
import argparse
import os
import shutil
import tempfile

from load import ServerProcess, format_row, run_load, server_memory

from harness import SdRoot

CLIENT_COUNTS = (1, 8, 32)
SMALL_RECORD = 64 * 1024
LARGE_RECORD = 20 * 1024 * 1024


def build_root(base):
    sd = SdRoot(os.path.join(base, 'sd'))
    sd.write('record/2020Y01M01D01H/00M00S60.mp4', os.urandom(SMALL_RECORD))
    sd.write('record/2020Y01M01D01H/01M00S60.mp4', os.urandom(LARGE_RECORD))
    return sd


def bench_runtime(runtime, sd, seconds):
    server = ServerProcess(runtime, sd.path, ['--quiet', '--stats'])
    try:
        targets = (
            ('status.json', '/cgi-bin/status.json'),
            ('record 64 KiB', '/record/2020Y01M01D01H/00M00S60.mp4'),
            ('record 20 MiB', '/record/2020Y01M01D01H/01M00S60.mp4'),
        )
        for label, path in targets:
            for clients in CLIENT_COUNTS:
                result = run_load(server.host, server.port, path, clients, seconds)
                print(format_row('%s %s' % (runtime, label), clients, result), flush=True)
        rss_kb, heap_peak = server_memory(server)
        heap = '' if heap_peak is None else ', heap high-water %d bytes' % heap_peak
        print('%s peak RSS %d kB%s' % (runtime, rss_kb, heap), flush=True)
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--seconds', type=float, default=3.0, help='per measurement')
    parser.add_argument('--runtime', choices=('cpython', 'micropython'), action='append')
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix='yihttpd-bench-')
    try:
        sd = build_root(base)
        for runtime in args.runtime or ('cpython', 'micropython'):
            bench_runtime(runtime, sd, args.seconds)
    finally:
        shutil.rmtree(base)


if __name__ == '__main__':
    main()

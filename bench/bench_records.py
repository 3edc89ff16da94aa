"""Recordings benchmark: eventsdir.sh and eventsfile.sh on a 48-hour and a month tree.

    .venv/bin/python bench/bench_records.py [--seconds S] [--runtime cpython|micropython]

Trees: 48 hour directories and 720 (a month), each with 60 videos and 60
thumbnails. Prints requests/s and p50/p99 latency at 1 and 8 concurrent
keep-alive clients, and the server's peak memory, for each runtime.
"""
import argparse
import os
import shutil
import tempfile

from load import ServerProcess, format_row, run_load, server_memory

from harness import SdRoot

CLIENT_COUNTS = (1, 8)
VIDEOS_PER_HOUR = 60
TREES = (('48 hours', 48), ('month', 720))


def bench_tree(runtime, label, sd, newest_dir, seconds):
    server = ServerProcess(runtime, sd.path, ['--quiet', '--stats'])
    try:
        targets = (
            ('eventsdir', '/cgi-bin/eventsdir.sh'),
            ('eventsfile', '/cgi-bin/eventsfile.sh?dirname=' + newest_dir),
        )
        for service, path in targets:
            for clients in CLIENT_COUNTS:
                result = run_load(server.host, server.port, path, clients, seconds)
                print(format_row('%s %s %s' % (runtime, label, service), clients, result), flush=True)
        rss_kb, heap_peak = server_memory(server)
        heap = '' if heap_peak is None else ', heap high-water %d bytes' % heap_peak
        print('%s %s peak RSS %d kB%s' % (runtime, label, rss_kb, heap), flush=True)
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--seconds', type=float, default=3.0, help='per measurement')
    parser.add_argument('--runtime', choices=('cpython', 'micropython'), action='append')
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix='yihttpd-bench-records-')
    try:
        for label, hours in TREES:
            sd = SdRoot(os.path.join(base, label.replace(' ', '-')))
            newest_dir = sd.add_hours(hours, VIDEOS_PER_HOUR)[-1]
            for runtime in args.runtime or ('cpython', 'micropython'):
                bench_tree(runtime, label, sd, newest_dir, args.seconds)
    finally:
        shutil.rmtree(base)


if __name__ == '__main__':
    main()

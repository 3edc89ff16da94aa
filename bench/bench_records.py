"""Recordings benchmark: eventsdir.sh and eventsfile.sh on a 48-hour and a month tree.

    .venv/bin/python bench/bench_records.py [--seconds S] [--runtime cpython|micropython]

Trees: 48 hour directories and 720 (a month), each with 60 videos and 60
thumbnails. Prints requests/s and p50/p99 latency at 1 and 8 concurrent
keep-alive clients, and the server's peak memory, for each runtime.
"""
import os
import shutil
import tempfile

from load import bench_server, parse_bench_args

from harness import SdRoot

CLIENT_COUNTS = (1, 8)
VIDEOS_PER_HOUR = 60
TREES = (('48 hours', 48), ('month', 720))


def main():
    args = parse_bench_args()
    base = tempfile.mkdtemp(prefix='yihttpd-bench-records-')
    try:
        for label, hours in TREES:
            sd = SdRoot(os.path.join(base, label.replace(' ', '-')))
            newest_dir = sd.add_hours(hours, VIDEOS_PER_HOUR)[-1]
            targets = (
                ('eventsdir', '/cgi-bin/eventsdir.sh'),
                ('eventsfile', '/cgi-bin/eventsfile.sh?dirname=' + newest_dir),
            )
            for runtime in args.runtimes:
                bench_server(runtime, sd.path, '%s %s' % (runtime, label), targets,
                             CLIENT_COUNTS, args.seconds)
    finally:
        shutil.rmtree(base)


if __name__ == '__main__':
    main()

"""Load from wrk and the figures benchmarks print.

run_load() has wrk (Debian's) drive N keep-alive clients for a fixed time
and returns requests/s and latency percentiles: a Python client saturates
before the server does. server_memory() reads what the server process used.
Benchmarks print figures; nothing here passes or fails.
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'tests'))

from harness import ServerProcess  # noqa: E402

WRK_THREADS = 2   # wrk's threads: the machine has 2 cores, as the issue measured with -t2


def run_load(host, port, path, clients, seconds):
    """{'requests', 'rps', 'p50_ms', 'p99_ms', 'errors'} of wrk driving N keep-alive
    clients at host:port/path for seconds (a Python client saturates before the server)."""
    done = subprocess.run(['wrk', '-t%d' % min(WRK_THREADS, clients), '-c%d' % clients,
                           '-d%gs' % seconds, '--latency', 'http://%s:%d%s' % (host, port, path)],
                          stdout=subprocess.PIPE, check=True, timeout=seconds + 30)
    return parse_wrk(done.stdout.decode())


def parse_wrk(text):
    """The figures of wrk --latency's report."""
    result = {'requests': 0, 'rps': 0.0, 'p50_ms': float('nan'), 'p99_ms': float('nan'), 'errors': 0}
    for line in text.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] in ('50%', '99%'):
            result['p%s_ms' % words[0][:2]] = duration_ms(words[1])
        elif 'requests in' in line:
            result['requests'] = int(words[0])
        elif line.startswith('Requests/sec:'):
            result['rps'] = float(words[1])
        elif line.startswith('Non-2xx or 3xx responses:'):
            result['errors'] += int(words[-1])
        elif line.strip().startswith('Socket errors:'):
            result['errors'] += sum(int(part.split()[-1]) for part in line.split(':', 1)[1].split(','))
    return result


def duration_ms(text):
    """wrk's 812.00us, 1.23ms or 2.01s in milliseconds."""
    for unit, scale in (('us', 0.001), ('ms', 1.0), ('s', 1000.0)):
        if text.endswith(unit):
            return float(text[:-len(unit)]) * scale
    return float(text)


def server_memory(server):
    """Peak memory of the server: RSS high-water (kB) and, on MicroPython, heap peak."""
    peak_rss_kb = None
    with open('/proc/%d/status' % server.proc.pid) as f:
        for line in f:
            if line.startswith('VmHWM:'):
                peak_rss_kb = int(line.split()[1])
    heap_peak = None
    for line in server.log().splitlines():
        if 'stats heap_peak=' in line:
            heap_peak = int(line.rsplit('=', 1)[1])
    return peak_rss_kb, heap_peak


def bench_server(runtime, root, label, targets, client_counts, seconds):
    """Start a server on root, print a row per (target, clients) and its peak memory."""
    server = ServerProcess(runtime, root, ['--quiet', '--stats'])
    try:
        for name, path in targets:
            for clients in client_counts:
                result = run_load(server.host, server.port, path, clients, seconds)
                print(format_row('%s %s' % (label, name), clients, result), flush=True)
        rss_kb, heap_peak = server_memory(server)
        heap = '' if heap_peak is None else ', heap high-water %d bytes' % heap_peak
        print('%s peak RSS %d kB%s' % (label, rss_kb, heap), flush=True)
    finally:
        server.stop()


def parse_bench_args():
    parser = argparse.ArgumentParser()
    parser.add_argument('--seconds', type=float, default=3.0, help='per measurement')
    parser.add_argument('--runtime', choices=('cpython', 'micropython'), action='append')
    args = parser.parse_args()
    args.runtimes = args.runtime or ('cpython', 'micropython')
    return args


def format_row(label, clients, result):
    return '%-34s %3d clients %8.1f req/s  p50 %7.2f ms  p99 %7.2f ms  (%d requests, %d errors)' % (
        label, clients, result['rps'], result['p50_ms'], result['p99_ms'],
        result['requests'], result['errors'])

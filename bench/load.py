"""A small HTTP load generator and the figures benchmarks print.

run_load() drives N concurrent keep-alive clients from one thread (a
selector over non-blocking sockets, so the client costs little CPU next
to the server) for a fixed time and returns requests/s and latency
percentiles. server_memory() reads what the server process used.
Benchmarks print figures; nothing here passes or fails.
"""
import argparse
import os
import selectors
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'tests'))

from harness import ServerProcess  # noqa: E402

RECV_SIZE = 262144


class Client:
    """One keep-alive connection sending the same GET again and again."""

    def __init__(self, host, port, path):
        self.request = ('GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n' % (path, host, port)).encode()
        self.sock = socket.create_connection((host, port))
        self.sock.setblocking(False)
        self.start_request()

    def start_request(self):
        self.sent_at = time.perf_counter()
        self.sock.sendall(self.request)
        self.head = b''
        self.body_left = None
        self.status = None

    def on_readable(self):
        """Read what arrived; returns (status, latency) when a response completed."""
        data = self.sock.recv(RECV_SIZE)
        if not data:
            raise ConnectionError('server closed the connection')
        if self.body_left is None:
            self.head += data
            end = self.head.find(b'\r\n\r\n')
            if end < 0:
                return None
            head, data = self.head[:end], self.head[end + 4:]
            self.status = int(head.split(b' ', 2)[1])
            length = 0
            for line in head.split(b'\r\n')[1:]:
                name, _, value = line.partition(b':')
                if name.strip().lower() == b'content-length':
                    length = int(value)
            self.body_left = length
        self.body_left -= len(data)
        if self.body_left > 0:
            return None
        done = (self.status, time.perf_counter() - self.sent_at)
        self.start_request()
        return done


def percentile(sorted_values, fraction):
    if not sorted_values:
        return float('nan')
    index = min(len(sorted_values) - 1, int(round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def run_load(host, port, path, clients, seconds):
    """{'requests', 'rps', 'p50_ms', 'p99_ms', 'errors'} for N clients over seconds."""
    selector = selectors.DefaultSelector()
    conns = [Client(host, port, path) for _ in range(clients)]
    for conn in conns:
        selector.register(conn.sock, selectors.EVENT_READ, conn)
    latencies = []
    errors = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for key, _ in selector.select(timeout=1.0):
            done = key.data.on_readable()
            if done is not None:
                status, latency = done
                if status >= 400:
                    errors += 1
                latencies.append(latency)
    elapsed = time.perf_counter() - started
    for conn in conns:
        selector.unregister(conn.sock)
        conn.sock.close()
    latencies.sort()
    return {
        'requests': len(latencies),
        'rps': len(latencies) / elapsed,
        'p50_ms': percentile(latencies, 0.50) * 1000,
        'p99_ms': percentile(latencies, 0.99) * 1000,
        'errors': errors,
    }


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

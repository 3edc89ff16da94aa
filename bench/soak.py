"""Soak: N mixed requests against the real server, resources before and after.

Every kind of request the server meets in months of use: keep-alive and
not, HEAD, pipelined, errors (400/404/413/416), clients that vanish
mid-response, mid-upload and during a deferred answer (long-poll, PTZ, a
slow snapshot grabber), spooled uploads. Prints, per runtime, the server's
open file descriptors, RSS, MicroPython's live-heap high-water (--stats)
and the temp files left in --tmp-dir, at the start, after the first
quarter (warm: every module imported) and at the end.

    .venv/bin/python bench/soak.py [--requests 20000] [--runtime micropython]
    .venv/bin/python bench/soak.py --minutes 30 --attack     # the soak under attack

--minutes drives for that long instead of a count of requests. --attack
runs attackers beside the traffic the whole time: slowloris clients that
hold connections with a header byte now and then, a fuzzer sending random
bytes as requests, and clients streaming oversize bodies.

Prints figures; a growing fd count, temp files left, an RSS/heap that
keeps climbing after the warm-up, 5xx answers to well-formed requests or a
growing status.json p99 are what to look for.
"""
import argparse
import os
import random
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'tests'))

from harness import SdRoot, ServerProcess  # noqa: E402

BIG_VIDEO = 20 * 1024 * 1024      # a recording, as the camera writes them
SPOOLED_UPLOAD = 100 * 1024       # over the server's 16 KiB in-memory body limit
WORKERS = 8                       # concurrent clients
SETTLE = 3.0                      # seconds for vanished clients' deferred answers to end
HOUR = '2020Y01M01D01H'
BIG = '/record/%s/00M00S60.mp4' % HOUR
CLIENT_TIMEOUT = 15


def connect(server):
    s = socket.create_connection((server.host, server.port), timeout=CLIENT_TIMEOUT)
    return s


def read_all(s):
    chunks = []
    while True:
        data = s.recv(65536)
        if not data:
            return b''.join(chunks)
        chunks.append(data)


def exchange(server, data):
    """Send data on a new connection, read until the server closes."""
    with connect(server) as s:
        s.sendall(data)
        return read_all(s)


def req(path, method='GET', extra='', close=True):
    return ('%s %s HTTP/1.1\r\nHost: x\r\n%s%s\r\n' % (
        method, path, extra, 'Connection: close\r\n' if close else '')).encode()


def keep_alive_series(server):
    with connect(server) as s:
        for path in ('/cgi-bin/status.json', '/', '/cgi-bin/eventsdir.sh', '/nope.html'):
            s.sendall(req(path, close=False))
        s.sendall(req('/cgi-bin/hostname.js'))
        read_all(s)


def vanish_mid_response(server):
    with connect(server) as s:
        s.sendall(req(BIG))
        s.recv(16384)


def vanish_mid_upload(server):
    with connect(server) as s:
        s.sendall(req('/cgi-bin/load.sh', 'POST', 'Content-Length: %d\r\n'
                      'Content-Type: multipart/form-data; boundary=b\r\n' % SPOOLED_UPLOAD))
        s.sendall(b'x' * (SPOOLED_UPLOAD // 2))
        time.sleep(0.01)


def spooled_upload(server):
    body = b'--b\r\nContent-Disposition: form-data; name="f"; filename="a.tgz"\r\n\r\n'
    body += b'y' * SPOOLED_UPLOAD + b'\r\n--b--\r\n'
    exchange(server, req('/cgi-bin/load.sh', 'POST', 'Content-Length: %d\r\n'
                         'Content-Type: multipart/form-data; boundary=b\r\n' % len(body)) + body)


def vanish_during(path, wait=0.1):
    def run(server):
        with connect(server) as s:
            s.sendall(req(path))
            time.sleep(wait)
    return run


def pipelined_after_deferred(server):
    exchange(server, req('/cgi-bin/snapshot.sh', close=False) + req('/cgi-bin/status.json'))


def get(path, method='GET', extra=''):
    return lambda server: exchange(server, req(path, method, extra))


def set_configs(server):
    body = b'{"NTP_SERVER": "pool.ntp.org"}'
    return exchange(server, req('/cgi-bin/set_configs.sh?conf=system', 'POST',
                                'Content-Length: %d\r\n' % len(body)) + body)


def raw(data):
    return lambda server: exchange(server, data)


MIX = (
    ('keep-alive series', keep_alive_series),
    ('status.json', get('/cgi-bin/status.json')),
    ('HEAD video', get(BIG, 'HEAD')),
    ('range 1 KiB', get(BIG, extra='Range: bytes=0-1023\r\n')),
    ('400', raw(b'BOGUS\r\n\r\n')),
    ('404', get('/cgi-bin/nothing.sh')),
    ('413', get('/cgi-bin/set_configs.sh?conf=system', 'POST', 'Content-Length: 99999999\r\n')),
    ('416', get(BIG, extra='Range: bytes=999999999-\r\n')),
    ('eventsdir', get('/cgi-bin/eventsdir.sh')),
    ('vanish mid-response', vanish_mid_response),
    ('vanish mid-upload', vanish_mid_upload),
    ('spooled upload', spooled_upload),
    ('vanish long-poll', vanish_during('/cgi-bin/getlastrecordedvideo.sh?oldness=-1')),
    ('vanish ptz', vanish_during('/cgi-bin/ptz.sh?dir=left&time=2')),
    ('vanish snapshot', vanish_during('/cgi-bin/snapshot.sh')),
    ('snapshot', get('/cgi-bin/snapshot.sh?res=low')),
    ('pipelined after deferred', pipelined_after_deferred),
    ('set_configs', set_configs),
    ('eventsfile', get('/cgi-bin/eventsfile.sh?dirname=' + HOUR)),
    ('long-poll', get('/cgi-bin/getlastrecordedvideo.sh?oldness=-1')),
)
WEIGHTS = (10, 20, 5, 5, 5, 5, 3, 3, 5, 2, 2, 1, 2, 1, 1, 1, 2, 3, 5, 1)
# Well-formed requests whose answer must never be a 5xx. Some are told 503
# by design: a third snapshot grabber at once, and a fifth long-poll from one
# address (all the workers here share 127.0.0.1); those are not counted.
NO_5XX = ('status.json', 'HEAD video', 'range 1 KiB', 'eventsdir', 'eventsfile',
          'set_configs', 'spooled upload')


def status_of(answer):
    return int(answer[9:12]) if answer[:5] == b'HTTP/' and answer[9:12].isdigit() else None


# -- attackers: run beside the traffic until stopped ---------------------------

SLOWLORIS = 20         # connections each holding the server with a byte every few seconds
FUZZ_BYTES = 300       # largest random request


def slowloris(server, stop, rng):
    socks = []
    while not stop.is_set():
        while len(socks) < SLOWLORIS:
            try:
                s = socket.create_connection((server.host, server.port), timeout=2)
                s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n')
                socks.append(s)
            except OSError:
                break
        for s in list(socks):
            try:
                s.sendall(b'X-%d: y\r\n' % rng.randrange(1000))
            except OSError:
                s.close()
                socks.remove(s)
        stop.wait(rng.uniform(1, 4))
    for s in socks:
        s.close()


def fuzzer(server, stop, rng):
    heads = (b'GET / HTTP/1.1\r\n', b'POST /cgi-bin/set_configs.sh?conf=system HTTP/1.1\r\n', b'')
    while not stop.is_set():
        data = rng.choice(heads) + bytes(rng.randrange(256) for _ in range(rng.randrange(FUZZ_BYTES)))
        try:
            exchange(server, data + b'\r\n\r\n')
        except OSError:
            pass
        stop.wait(0.01)


def oversize(server, stop, rng):
    paths = ('/cgi-bin/load.sh', '/cgi-bin/set_configs.sh?conf=system', '/cgi-bin/status.json')
    while not stop.is_set():
        try:
            with connect(server) as s:
                s.sendall(req(rng.choice(paths), 'POST', 'Content-Length: %d\r\n' % (100 << 20)))
                for _ in range(64):
                    s.sendall(b'z' * 16384)
        except OSError:
            pass
        stop.wait(0.2)


ATTACKERS = (slowloris, fuzzer, oversize)


def build_root(base):
    sd = SdRoot(os.path.join(base, 'sd'))
    os.makedirs(os.path.join(sd.record, HOUR))
    with open(os.path.join(sd.record, HOUR, '00M00S60.mp4'), 'wb') as f:
        f.truncate(BIG_VIDEO)
    sd.write('record/tmp.mp4.tmp', b'')   # the camera is recording: the long-poll waits
    grabber = sd.write('yi-hack/bin/imggrabber',
                       '#!/bin/sh\nsleep 0.3\nprintf "\\377\\330jpeg"\n')
    os.chmod(grabber, 0o755)
    return sd


def fd_count(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


def rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def heap_peak(server):
    peak = None
    for line in server.log().splitlines():
        if 'stats heap_peak=' in line:
            peak = int(line.rsplit('=', 1)[1])
    return peak


def figures(label, server, tmp_dir):
    pid = server.proc.pid
    left = sorted(os.listdir(tmp_dir))
    print('%-10s fds %3d  RSS %6d kB  heap high-water %s  temp files %d %s' % (
        label, fd_count(pid), rss_kb(pid), heap_peak(server), len(left), left[:4]), flush=True)


def sample_fds(pid, stop, most):
    """The most fds the server held while driven (--stats' collections hide lazily closed ones)."""
    while not stop.wait(0.2):
        most[0] = max(most[0], fd_count(pid))


def drive(server, count, seed, deadline=None, latencies=None):
    """count requests of the mix (or until the deadline), WORKERS at a time;
    {kind: count} of client errors and of 5xx answers to well-formed requests."""
    rng = random.Random(seed)
    kinds = [kind for kind, weight in zip(MIX, WEIGHTS) for _ in range(weight)]
    errors = {}
    done = [0]
    lock = threading.Lock()

    def worker(n):
        while (done[0] < count) if deadline is None else (time.time() < deadline):
            name, run = rng.choice(kinds)
            started = time.time()
            try:
                answer = run(server)
            except OSError as exc:
                answer = None
                with lock:
                    key = name + ': ' + exc.__class__.__name__
                    errors[key] = errors.get(key, 0) + 1
            status = status_of(answer) if isinstance(answer, bytes) else None
            with lock:
                done[0] += 1
                if name in NO_5XX and status is not None and status >= 500:
                    key = '%s: %d' % (name, status)
                    errors[key] = errors.get(key, 0) + 1
                if name == 'status.json' and latencies is not None and status == 200:
                    latencies.append(time.time() - started)

    stop = threading.Event()
    most = [0]
    sampler = threading.Thread(target=sample_fds, args=(server.proc.pid, stop, most))
    sampler.start()
    threads = [threading.Thread(target=worker, args=(count,)) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    sampler.join()
    print('           most fds while driven: %d' % most[0], flush=True)
    return errors, done[0]


def merged(a, b):
    return dict((key, a.get(key, 0) + b.get(key, 0)) for key in set(a) | set(b))


def percentile_ms(values, fraction):
    if not values:
        return float('nan')
    values = sorted(values)
    return 1000 * values[min(len(values) - 1, int(fraction * len(values)))]


def soak(runtime, requests, minutes, attack):
    base = tempfile.mkdtemp(prefix='yihttpd-soak-')
    sd = build_root(base)
    tmp_dir = os.path.join(base, 'tmp')
    os.mkdir(tmp_dir)
    server = ServerProcess(runtime, sd.path, ['--quiet', '--stats', '--tmp-dir', tmp_dir,
                                              '--ptz', 'yes', '--longpoll-timeout', '2'])
    stop = threading.Event()
    attackers = [threading.Thread(target=attacker, args=(server, stop, random.Random(10 + i)))
                 for i, attacker in enumerate(ATTACKERS if attack else ())]
    try:
        time.sleep(1.0)
        figures('start', server, tmp_dir)
        for t in attackers:
            t.start()
        started = time.time()
        end = started + 60 * minutes if minutes else None
        warm_end = started + 15 * minutes if minutes else None
        early, latencies = [], []
        errors, done = drive(server, requests // 4, 1, warm_end, early)
        time.sleep(SETTLE)
        figures('warm', server, tmp_dir)
        more, more_done = drive(server, requests - done, 2, end, latencies)
        errors, done = merged(errors, more), done + more_done
        elapsed = time.time() - started
        stop.set()
        for t in attackers:
            t.join()
        time.sleep(SETTLE)
        figures('end', server, tmp_dir)
        alive = server.proc.poll() is None
        memory_errors = server.log().count('MemoryError')
        tracebacks = server.log().count('Traceback')
        print('%s: %d requests in %.0f s%s, server alive: %s, MemoryError in log: %d, '
              'tracebacks: %d, client errors and 5xx: %s' % (
                  runtime, done, elapsed, ' under attack' if attack else '', alive, memory_errors,
                  tracebacks, errors or 'none'), flush=True)
        print('%s: status.json p50 %.1f ms, p99 %.1f ms after the warm-up (p99 %.1f ms during it)' % (
            runtime, percentile_ms(latencies, 0.5), percentile_ms(latencies, 0.99),
            percentile_ms(early, 0.99)), flush=True)
    finally:
        stop.set()
        server.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--requests', type=int, default=20000)
    parser.add_argument('--minutes', type=float, default=0, help='drive this long instead of --requests')
    parser.add_argument('--attack', action='store_true', help='slowloris, fuzzer and oversize bodies beside')
    parser.add_argument('--runtime', choices=('cpython', 'micropython'), action='append')
    args = parser.parse_args()
    for runtime in args.runtime or ('cpython', 'micropython'):
        soak(runtime, args.requests, args.minutes, args.attack)


if __name__ == '__main__':
    main()

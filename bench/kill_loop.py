"""kill -9 at random moments while the server writes: is every file old or new, never torn?

    .venv/bin/python bench/kill_loop.py [--kills 400] [--runtime cpython|micropython]

Each round starts a server on one SD root, sends one writing request
(set_configs.sh, load.sh of a settings archive, or eventsdirdel.sh of an
hour directory), kills the server with SIGKILL after a random delay
within the time that kind of request takes unkilled (timed first, once
per kind), starts it again (it finishes or undoes a conf switch the kill cut
short, before it listens) and then checks the card: system.conf and
camera.conf are byte for byte the old or the new text, and both from the
same set (a load.sh changes both: one old and one new is a mixed set);
every video left is whole. Then the card is put back for the next round.
Prints the rounds of each kind, the outcomes seen (old, new, partly
deleted...), torn files and mixed sets found and leftovers in the temp
folder. Figures, not a pass/fail test.
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'tests'))

from harness import SdRoot, ServerProcess  # noqa: E402

HOUR = '2020Y01M01D01H'
VIDEOS = 40                  # in the hour directory a delete removes
VIDEO_BYTES = 4096
CONFS = ('system.conf', 'camera.conf')


def send(server, data):
    """Send a request and read what comes until the server closes or dies."""
    try:
        with socket.create_connection((server.host, server.port), timeout=5) as s:
            s.sendall(data)
            while s.recv(65536):
                pass
    except OSError:
        pass


def request(method, path, body=b'', ctype='application/json'):
    return ('%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: %s\r\n'
            'Content-Length: %d\r\n\r\n' % (method, path, ctype, len(body))).encode() + body


def multipart(archive):
    boundary = 'kill-loop-boundary'
    body = ('--%s\r\nContent-Disposition: form-data; name="file"; filename="config.tar.gz"\r\n'
            'Content-Type: application/gzip\r\n\r\n' % boundary).encode()
    body += archive + ('\r\n--%s--\r\n' % boundary).encode()
    return body, 'multipart/form-data; boundary=' + boundary


class Card:
    """The SD root, and the old and new texts each conf may hold."""

    def __init__(self, base, runtime):
        self.runtime = runtime
        self.sd = SdRoot(os.path.join(base, 'sd'))
        self.tmp_dir = os.path.join(base, 'tmp')
        os.mkdir(self.tmp_dir)
        self.old = {name: self.sd.read('yi-hack/etc/' + name) for name in CONFS}
        self.video = os.urandom(VIDEO_BYTES)
        server = self.start()
        try:
            send(server, request('POST', '/cgi-bin/set_configs.sh?conf=system',
                                 json.dumps({'NTP_SERVER': 'new.example', 'FREE_SPACE': '9'}).encode()))
            send(server, request('POST', '/cgi-bin/set_configs.sh?conf=camera',
                                 json.dumps({'SWITCH_ON': 'no'}).encode()))
            self.archive = server.get('/cgi-bin/save.sh')[2]
        finally:
            server.stop()
        self.new = {name: self.sd.read('yi-hack/etc/' + name) for name in CONFS}
        assert self.new != self.old, 'the settings did not change'

    def start(self):
        return ServerProcess(self.runtime, self.sd.path, ['--quiet', '--tmp-dir', self.tmp_dir])

    def reset(self):
        for name in CONFS:
            self.sd.write('yi-hack/etc/' + name, self.old[name])
        shutil.rmtree(os.path.join(self.sd.record, HOUR), ignore_errors=True)
        for n in range(VIDEOS):
            self.sd.add_video(HOUR, '%02dM00S60' % n, data=self.video, thumb=None)

    def outcome(self):
        """What each conf holds ('old', 'new' or 'torn') and what the delete left."""
        seen = []
        for name in CONFS:
            text = self.sd.read('yi-hack/etc/' + name)
            seen.append(name + ' ' + ('old' if text == self.old[name] else
                                      'new' if text == self.new[name] else 'torn'))
        folder = os.path.join(self.sd.record, HOUR)
        left = os.listdir(folder) if os.path.isdir(folder) else []
        torn = [f for f in left if self.sd.read('record/%s/%s' % (HOUR, f)) != self.video]
        seen.append('videos %s' % ('all' if len(left) == VIDEOS else 'none' if not left else 'some'))
        return seen, len(torn)


def writers(card):
    body, ctype = multipart(card.archive)
    return {
        'set_configs': request('POST', '/cgi-bin/set_configs.sh?conf=system',
                               json.dumps({'NTP_SERVER': 'new.example', 'FREE_SPACE': '9'}).encode()),
        'load.sh': request('POST', '/cgi-bin/load.sh', body, ctype),
        'eventsdirdel': request('GET', '/cgi-bin/eventsdirdel.sh?dir=' + HOUR),
    }


def duration(card, data):
    """Seconds a request takes, unkilled, on a server just started (the card is put back first)."""
    card.reset()
    server = card.start()
    began = time.monotonic()
    send(server, data)
    took = time.monotonic() - began
    server.stop()
    return took


def kill_loop(runtime, kills, seed):
    base = tempfile.mkdtemp(prefix='yihttpd-kill-')
    rng = random.Random(seed)
    try:
        card = Card(base, runtime)
        kinds = writers(card)
        spans = {kind: duration(card, data) for kind, data in kinds.items()}
        counts = {}
        torn_total = 0
        cut_short = {'finished': 0, 'removed': 0}   # conf switches the restart completed or undid
        for _ in range(kills):
            card.reset()
            kind = rng.choice(sorted(kinds))
            server = card.start()
            sender = threading.Thread(target=send, args=(server, kinds[kind]))
            sender.start()
            time.sleep(rng.uniform(0, spans[kind]))
            os.kill(server.proc.pid, signal.SIGKILL)
            server.proc.wait()
            sender.join()
            server.stop()
            again = card.start()   # the next start, as on the camera: it listens once etc/ is settled
            for outcome in cut_short:
                cut_short[outcome] += ('%s a conf switch' % outcome) in again.log()
            again.stop()
            seen, torn = card.outcome()
            torn_total += torn
            key = '%-12s %s' % (kind, ', '.join(s for s in seen if 'torn' in s or kind != 'eventsdirdel'
                                                 or s.startswith('videos')))
            counts[key] = counts.get(key, 0) + 1
        print('%s: %d kills, each within the time its request takes (%s)' % (
            runtime, kills, ', '.join('%s %.0f ms' % (kind, spans[kind] * 1000) for kind in sorted(spans))))
        for key in sorted(counts):
            print('  %4d  %s' % (counts[key], key))
        torn_confs = sum(n for key, n in counts.items() if 'torn' in key)
        mixed = sum(n for key, n in counts.items()
                    if key.startswith('load.sh') and 'old' in key and 'new' in key)
        print('  torn confs: %d, mixed sets: %d (conf switches cut short: %d finished, %d removed at the '
              'next start), torn videos: %d, left in the temp folder: %d %s' % (
                  torn_confs, mixed, cut_short['finished'], cut_short['removed'], torn_total,
                  len(os.listdir(card.tmp_dir)), sorted(os.listdir(card.tmp_dir))[:4]), flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--kills', type=int, default=400)
    parser.add_argument('--runtime', choices=('cpython', 'micropython'), action='append')
    args = parser.parse_args()
    for runtime in args.runtime or ('cpython', 'micropython'):
        kill_loop(runtime, args.kills, 1)


if __name__ == '__main__':
    main()

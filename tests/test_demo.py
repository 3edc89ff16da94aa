"""--demo: the first thing a new user runs."""
import json
import os
import re
import signal
import subprocess
import time
import urllib.request

import pytest

from harness import REPO, free_port, runtime_command, runtime_env, wait_until


def fetch(url):
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.read()


CLEANUP_WAIT = 10   # seconds the throw-away root may outlive a server ended by a signal


@pytest.mark.parametrize('stop', [signal.SIGINT, signal.SIGTERM])
def test_demo_serves_a_sample_card_and_cleans_up(runtime, stop, tmp_path):
    """Stopped with Ctrl-C or SIGTERM, it leaves nothing. The card is put under
    tmp_path: in /tmp, where it goes by default, the next yihttpd to start
    removes a dead server's scratch names, which would hide a card left behind."""
    port = free_port()
    card = str(tmp_path / 'demo-card')
    # Started as a non-interactive shell starts a program in the background: with SIGINT
    # ignored, which CPython keeps unless told otherwise (a CI run had hung on Ctrl-C).
    proc = subprocess.Popen(runtime_command(runtime) + ['--demo', '--port', str(port), '--root', card],
                            cwd=REPO, env=runtime_env(runtime),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        lines = []
        deadline = time.time() + 10
        while time.time() < deadline:
            line = proc.stdout.readline().decode()
            lines.append(line)
            if 'serving' in line:
                break
        url = re.search(r'http://\S+/', ''.join(lines)).group(0)
        root = re.search(r'demo SD root at (\S+)', ''.join(lines)).group(1)
        assert url.endswith(':%d/' % port) and root == card
        status, body = fetch(url + 'cgi-bin/status.json')
        assert status == 200 and json.loads(body)['fw_version']
        status, page = fetch(url)
        assert status == 200 and b'<html' in page.lower()
        hours = sorted(os.listdir(os.path.join(root, 'record')))
        assert 'tmp.mp4.tmp' in hours
        hour = [h for h in hours if h.endswith('H')][0]
        video = sorted(n for n in os.listdir(os.path.join(root, 'record', hour)) if n.endswith('.mp4'))[0]
        status, data = fetch('%srecord/%s/%s' % (url, hour, video))
        assert status == 200 and data == open(os.path.join(REPO, 'demo', 'sample.mp4'), 'rb').read()
    finally:
        proc.send_signal(stop)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()   # a failing run leaves no server behind
            proc.wait()
            raise
    assert wait_until(lambda: not os.path.exists(root), CLEANUP_WAIT), 'the throw-away SD root was left behind'

"""The request path's cost: hostname.js and status.json on yihttpd beside a bare poll loop.

    .venv/bin/python bench/bench_request_path.py [--seconds S] [--runtime cpython|micropython]

For each runtime, in one run, with wrk's keep-alive clients (wrk -t2 -cN):
requests/s of a fixed tiny answer from bench/bare_loop.py (no parsing at
all: the ceiling), of yihttpd's /cgi-bin/hostname.js and of its
/cgi-bin/status.json, and hostname.js's share of the ceiling.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time

from load import ServerProcess, format_row, parse_bench_args, run_load

from harness import REPO, SdRoot, free_port, runtime_command, runtime_env

CLIENT_COUNTS = (1, 8)
BARE_LOOP = os.path.join(REPO, 'bench', 'bare_loop.py')


def start_bare_loop(runtime):
    port = free_port()
    proc = subprocess.Popen(runtime_command(runtime, module=None) + [BARE_LOOP, str(port)],
                            env=runtime_env(runtime))
    for _ in range(100):
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError('bare loop did not listen')


def main():
    args = parse_bench_args()
    base = tempfile.mkdtemp(prefix='yihttpd-bench-path-')
    try:
        sd = SdRoot(os.path.join(base, 'sd'))
        for runtime in args.runtimes:
            bare, port = start_bare_loop(runtime)
            server = ServerProcess(runtime, sd.path, ['--quiet'])
            try:
                for clients in CLIENT_COUNTS:
                    ceiling = run_load('127.0.0.1', port, '/', clients, args.seconds)
                    ours = run_load(server.host, server.port, '/cgi-bin/hostname.js', clients,
                                    args.seconds)
                    status = run_load(server.host, server.port, '/cgi-bin/status.json', clients,
                                      args.seconds)
                    print(format_row('%s bare poll loop' % runtime, clients, ceiling))
                    print(format_row('%s hostname.js' % runtime, clients, ours))
                    print(format_row('%s status.json' % runtime, clients, status))
                    print('%s %d clients: hostname.js at %.0f%% of the bare loop' % (
                        runtime, clients, 100.0 * ours['rps'] / ceiling['rps']), flush=True)
            finally:
                server.stop()
                bare.kill()
                bare.wait()
    finally:
        shutil.rmtree(base)


if __name__ == '__main__':
    main()

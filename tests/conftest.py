"""Shared fixtures: an SD root builder, the real server process, HTTP clients.

Every test that takes `server` (or `start_server`) runs twice: once with the
server under CPython and once under MicroPython with its heap capped at
512K. A runtime that is missing fails the run; it is never skipped.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import MICROPYTHON_HEAP, SdRoot, ServerProcess  # noqa: E402


@pytest.fixture(params=['cpython', 'micropython'])
def runtime(request):
    return request.param


@pytest.fixture
def sd(tmp_path):
    return SdRoot(tmp_path / 'sd')


@pytest.fixture
def start_server(runtime, sd):
    """start_server(*args, root=None, heap=...) -> ServerProcess; stopped after the test."""
    started = []

    def start(*args, root=None, heap=MICROPYTHON_HEAP, module='yihttpd'):
        server = ServerProcess(runtime, root or sd.path, args, heap, module)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(start_server):
    return start_server()

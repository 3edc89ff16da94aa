"""The pure functions' unit tests (pure_units.py), on CPython here and under
MicroPython 1.26.1 (x86-64, and 32-bit ARM and MIPS under qemu)."""
import os
import subprocess

import pytest

from harness import ARCH_RUNTIMES, REPO, micropython_path
from pure_units import *  # noqa: F401,F403 - pytest collects the test_* functions on CPython
import pure_units

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.parametrize('interpreter', ('micropython',) + ARCH_RUNTIMES)
def test_the_same_unit_tests_pass_on_micropython(interpreter):
    count = len([name for name in dir(pure_units) if name.startswith('test_')])
    env = dict(os.environ, MICROPYPATH=REPO + ':' + TESTS_DIR)
    done = subprocess.run([micropython_path(interpreter), '-X', 'heapsize=512K', os.path.join(TESTS_DIR, 'pure_units.py')],
                          cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    out = done.stdout.decode()
    assert done.returncode == 0 and out.strip().endswith('%d passed, 0 failed' % count), out

"""Programs run beside the server: argument lists, never a shell string built from input.

MicroPython's unix port has no subprocess and no fork: there a program runs
through os.system in a background subshell that records its pid and exit
status in files.
"""
import os

try:
    import subprocess
except ImportError:
    subprocess = None

from .compat import monotonic
from .files import create_new, remove_if_there, temp_path

CHILD_POLL = 0.1          # seconds between checks whether a background program has ended
# MicroPython's inner shell: record its pid ($0 names the file), then become the
# program unless kill() left its cancel mark; the second one first enters the
# folder given as $1. Files are created with noclobber (set -C).
INNER_EXEC = 'set -C; echo $$ >"$0"; [ -e "$0.cancel" ] || exec "$@"; exit 137'
INNER_CD_EXEC = 'set -C; echo $$ >"$0"; cd "$1" || exit 127; shift; [ -e "$0.cancel" ] || exec "$@"; exit 137'


def shell_quote(arg):
    """Quote one argument for /bin/sh so that it is taken literally."""
    return "'" + str(arg).replace("'", "'\\''") + "'"


class Child:
    """A program run in the background; poll() is None until it has ended.

    CPython: subprocess.Popen with an argument list. MicroPython: os.system
    runs the quoted argument list in a background subshell that records the
    program's pid and exit status in files, since the unix port has no fork
    or subprocess; kill() uses the pid. Either way no shell string is ever
    built from unquoted input.
    """

    started = 0   # children started by this process: unique status file names

    def __init__(self, argv, stdout_path=None, status_dir='/tmp', stdin_path=None, env=None,
                 cwd=None, output_fifo=False):
        """env: variables added to this process's environment; cwd: where the program
        runs; output_fifo: stdout_path is a named pipe this process made (cgi.py),
        written into as it is; any other output file is made new."""
        self.argv = list(argv)
        self.stdout_path = stdout_path
        self.returncode = None
        self._popen = None
        self._status_path = None
        self._pid_path = None
        if subprocess is not None:
            if not stdout_path:
                out = subprocess.DEVNULL
            else:
                out = open(stdout_path, 'wb') if output_fifo else create_new(stdout_path)
            into = open(stdin_path, 'rb') if stdin_path else subprocess.DEVNULL
            full_env = None
            if env:
                full_env = dict(os.environ)
                full_env.update(env)
            try:
                self._popen = subprocess.Popen(
                    self.argv, stdin=into, stdout=out, stderr=subprocess.DEVNULL,
                    start_new_session=True, env=full_env, cwd=cwd)
            finally:
                for f in (out, into):
                    if f is not subprocess.DEVNULL:
                        f.close()
        else:
            Child.started += 1
            self._status_path = temp_path(status_dir, 'child', Child.started)
            self._pid_path = self._status_path + '.pid'
            self._cancel_path = self._pid_path + '.cancel'
            status = shell_quote(self._status_path)
            pid = shell_quote(self._pid_path)
            cancel = shell_quote(self._cancel_path)
            # env(1) adds the variables: the values stay quoted arguments, never shell code.
            argv = self.argv
            if env:
                argv = ['env'] + ['%s=%s' % (k, v) for k, v in env.items()] + argv
            inner = INNER_EXEC
            if cwd:
                inner = INNER_CD_EXEC
                argv = [cwd] + argv
            command = ' '.join(shell_quote(a) for a in argv)
            # The inner sh writes its pid ($0 names the file), then becomes the
            # program unless kill() has already asked it not to ($0.cancel): kill()
            # leaves that mark before it reads the pid file, so one of the two
            # always sees the other. A cancelled run leaves no status file, nor
            # an empty output file created after its owner removed it.
            # Every file is new: what is at a name is removed, and the shells
            # create files with noclobber (set -C), so none is written through a link.
            # stdin is opened before stdout, as Popen does: once the program's output
            # is there, both files are open (cgi.py then removes their names).
            for path in (None if output_fifo else stdout_path, self._status_path,
                         self._pid_path, self._cancel_path, self._status_path + '.tmp'):
                if path:
                    remove_if_there(path)
            out = shell_quote(stdout_path or '/dev/null')
            source = shell_quote(stdin_path or '/dev/null')
            os.system("""(set -C; sh -c '%s' %s %s <%s >%s 2>/dev/null; rc=$?; """
                      """if [ -e %s ]; then rm -f %s %s; [ -f %s ] && [ ! -s %s ] && rm -f %s; """
                      """else echo $rc >%s.tmp; mv %s.tmp %s; rm -f %s; fi) &""" % (
                          inner, pid, command, source, out, cancel, pid, cancel, out, out, out,
                          status, status, status, pid))

    def poll(self):
        if self.returncode is not None:
            return self.returncode
        if self._popen is not None:
            self.returncode = self._popen.poll()
        else:
            try:
                with open(self._status_path) as f:
                    self.returncode = int(f.read().strip() or '1')
            except (OSError, ValueError):
                return None
            remove_if_there(self._status_path)
        return self.returncode

    def kill(self):
        """End the program if it still runs."""
        if self._popen is not None:
            if self._popen.poll() is None:
                try:
                    self._popen.kill()
                    self._popen.wait()
                except OSError:
                    pass
            return
        if self.poll() is not None:
            return
        try:
            create_new(self._cancel_path).close()
            with open(self._pid_path) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return   # not started yet: it sees the mark and never runs the program
        os.system('kill -9 %d 2>/dev/null' % pid)


def run(argv):
    """Run a program to its end with an argument list; its exit status."""
    if subprocess is not None:
        return subprocess.call(argv, stdin=subprocess.DEVNULL)
    return os.system(' '.join(shell_quote(a) for a in argv)) >> 8


class Background:
    """A program run beside the loop: on_exit(exit status) once it ends, or
    on_exit(None) when it runs past timeout (it is killed then).

    The loop checks it every interval seconds, which also reaps it; nothing
    waits on it, so other clients are served while it runs.
    """

    def __init__(self, loop, argv, timeout, on_exit, status_dir='/tmp', stdout_path=None,
                 interval=CHILD_POLL, **how):
        """how: stdin_path, env, cwd and output_fifo, as Child takes them."""
        self.loop = loop
        self.on_exit = on_exit
        self.interval = interval
        self.deadline = monotonic() + timeout
        self.child = Child(argv, stdout_path, status_dir, **how)
        self.timer = loop.call_later(interval, self.check)

    def check(self):
        code = self.child.poll()
        if code is None and monotonic() < self.deadline:
            self.timer = self.loop.call_later(self.interval, self.check)
            return
        if code is None:
            self.child.kill()
        self.on_exit(code)

    def cancel(self):
        """Stop waiting and stop the program."""
        self.timer.cancel()
        self.child.kill()

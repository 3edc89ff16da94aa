"""Programs run beside the server: argument lists, never a shell string built from input.

Each program leads a process group of its own, and kill() ends the whole
group: what the program started (a script's sleep, a hung tool) ends with
it, so the limits on programs bound their children too.

MicroPython's unix port has no subprocess and no fork: there a background
subshell runs the program and records its exit status in a file. It is
started by libc's posix_spawn through ffi, as a new process group, which
os.system cannot make (without ffi os.system starts it, and a program
then cannot be ended before its own end, nor its status file removed).
"""
import os

try:
    import subprocess
except ImportError:
    subprocess = None

from .compat import libc, libc_function, monotonic
from .files import S_IFMT, S_IFREG, create_new, remove_if_there, stat, stat_size, temp_path

CHILD_POLL = 0.1          # seconds between checks whether a background program has ended
TIDY_DELAY = 0.5          # seconds from a kill to removing what the killed group left: SIGKILL
                          # lets a process end only the system call it is in
SIGKILL = 9
POSIX_SPAWN_SETPGROUP = 2   # Linux's flag (glibc and musl): the spawned process leads a new group
SPAWN_ATTR_SIZE = 512     # bytes held for a posix_spawnattr_t (336 on glibc and musl)


def shell_quote(arg):
    """Quote one argument for /bin/sh so that it is taken literally."""
    return "'" + str(arg).replace("'", "'\\''") + "'"


_spawn_attr = []   # the posix_spawnattr_t every program is started with


def spawn_group(script):
    """Run `sh -c script` (which puts its work in the background) as the leader of
    a new process group and wait for that shell; the group's id, or None without ffi."""
    try:
        import uctypes
        from array import array
        lib = libc()
    except ImportError:
        os.system(script)
        return None
    if not _spawn_attr:   # made once: a 512-byte block per program would fragment a small heap
        attr = bytearray(SPAWN_ATTR_SIZE)
        libc_function('posix_spawnattr_init', 'i', 'p')(attr)   # the group to join: 0, a new one
        libc_function('posix_spawnattr_setflags', 'i', 'ph')(attr, POSIX_SPAWN_SETPGROUP)
        _spawn_attr.append(attr)
    attr = _spawn_attr[0]
    args = (b'sh\0', b'-c\0', script.encode() + b'\0')
    argv = array('P', [uctypes.addressof(arg) for arg in args] + [0])
    pid = array('i', [0])   # a pid_t, and then the shell's exit status
    failed = libc_function('posix_spawn', 'i', 'pspppP')(
        pid, '/bin/sh', None, attr, argv, lib.var('P', 'environ').get())
    if failed:
        raise OSError(failed, 'posix_spawn /bin/sh')
    group = pid[0]
    libc_function('waitpid', 'i', 'ipi')(group, pid, 0)
    return group


class Child:
    """A program run in the background, leading its own process group; poll() is
    None until it has ended.

    CPython: subprocess.Popen with an argument list. MicroPython: a background
    subshell (spawn_group) runs the quoted argument list and records the
    program's exit status in a file, since the unix port has no fork or
    subprocess. Either way no shell string is ever built from unquoted input.
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
        self._output = None       # MicroPython: an output file the subshell creates
        self._group = None
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
            if not output_fifo:
                self._output = stdout_path
            # env(1) adds the variables: the values stay quoted arguments, never shell code.
            argv = self.argv
            if env:
                argv = ['env'] + ['%s=%s' % (k, v) for k, v in env.items()] + argv
            command = 'exec ' + ' '.join(shell_quote(a) for a in argv)
            if cwd:
                command = 'cd %s || exit 127; %s' % (shell_quote(cwd), command)
            # Every file is new: what is at a name is removed, and the shell creates
            # files with noclobber (set -C), so none is written through a link.
            # stdin is opened before stdout, as Popen does: once the program's output
            # is there, both files are open (cgi.py then removes their names).
            for path in (self._output, self._status_path, self._status_path + '.tmp'):
                if path:
                    remove_if_there(path)
            status = shell_quote(self._status_path)
            self._group = spawn_group(
                '(set -C; (%s) <%s >%s 2>/dev/null; echo $? >%s.tmp; mv %s.tmp %s) &' % (
                    command, shell_quote(stdin_path or '/dev/null'),
                    shell_quote(stdout_path or '/dev/null'), status, status, status))

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
        """End the program's whole process group, the program itself ended or not (what
        it left running, a child holding its output open, goes too)."""
        if self._popen is not None:
            try:
                os.killpg(self._popen.pid, SIGKILL)
            except OSError:
                pass   # the group has already left
            self._popen.wait()
        elif self._group is not None:
            libc_function('kill', 'i', 'ii')(-self._group, SIGKILL)

    def stop(self, loop):
        """kill(), then, TIDY_DELAY later, remove what the killed subshell may have left
        (MicroPython): its status file or that file's .tmp, and an empty output file
        (the program had not started). Only these names wait on the loop."""
        self.kill()
        if self._status_path is not None:
            loop.call_later(TIDY_DELAY, remove_leftovers, self._status_path, self._output)


def remove_leftovers(status_path, output):
    """A killed subshell's status file, that file's .tmp, and its output file if empty."""
    for path in (status_path, status_path + '.tmp'):
        remove_if_there(path)
    st = stat(output) if output else None
    if st is not None and st[0] & S_IFMT == S_IFREG and stat_size(st) == 0:
        remove_if_there(output)


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
            self.child.stop(self.loop)
        self.on_exit(code)

    def cancel(self):
        """Stop waiting and end the program's group (whether or not the program has ended)."""
        self.timer.cancel()
        self.child.stop(self.loop)


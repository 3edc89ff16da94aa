"""The hack's KEY=VALUE config files: read, update in place, write atomically.

A file is kept as its lines so that an update changes only the values it
names; comments, blank lines, order and unknown lines stay byte for byte.
"""
import os

from . import checks, files

MAX_CONF_SIZE = 65536   # a config file larger than this is not one of ours
KEY_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ_' + checks.DIGITS
MAX_KEY = 128           # longest key taken: the firmware's are far shorter
SWITCH_STAGE = '.yihttpd-switch'   # in etc/: a whole set of confs being switched in (confset.py)


class ConfTooLarge(ValueError):
    """A config file is, or would become, larger than MAX_CONF_SIZE."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def is_key(key):
    """Keys are [A-Z0-9_]+, as in the firmware's files."""
    return checks.only(key, KEY_CHARS, MAX_KEY)


def split_line(line):
    """(key, value) of a KEY=VALUE line, or None for comments, blanks and others."""
    stripped = line.strip()
    if not stripped or stripped.startswith('#'):
        return None
    key, sep, value = stripped.partition('=')
    key = key.strip()
    if not sep or not is_key(key):
        return None
    return key, value


def read_small(path, limit=MAX_CONF_SIZE):
    """A whole file of at most limit bytes (larger: ConfTooLarge).

    The size is asked first, so no limit-sized buffer is allocated for a
    small file (MicroPython's read(n) reserves n bytes up front).
    """
    with open(path, 'rb') as f:
        size = f.seek(0, 2)
        if size > limit:
            raise ConfTooLarge('%s is larger than %d bytes' % (path, limit))
        f.seek(0)
        return f.read(size)


def read_lines(path):
    return read_small(path).decode().split('\n')


def read_conf(path):
    """Every KEY=VALUE of a file as a dict of strings (missing file: empty)."""
    values = {}
    try:
        lines = read_lines(path)
    except OSError:
        return values
    for line in lines:
        pair = split_line(line)
        if pair is not None and pair[0] not in values:
            values[pair[0]] = pair[1]
    return values


class ConfFile:
    """A config file's values, read again only when the file is replaced or changed.

    For files read on every request (system.conf: auth, EVENTS_TIME); the
    server writes confs by renaming a new file in, which changes the inode,
    and a file changed in place within FAT's 2 s tick is read again until
    that tick is past (files.settled_stamp).
    """

    def __init__(self, path):
        self.path = path
        self.stamp = None
        self.values = None   # until first read

    def current(self):
        st = files.stat(self.path)
        stamp = None if st is None else files.settled_stamp(st)
        if stamp is None or stamp != self.stamp:
            try:
                values = read_conf(self.path)
            except MemoryError:
                # No block for the file now (a 256K heap crowded by clients, while the
                # file is too young to trust its stamp): what was read before stands
                # until a later request reads it again. Never read: nothing stands
                # for it (no password must not pass for none set).
                if self.values is None:
                    raise
                return self.values
            self.stamp = stamp
            self.values = values
        return self.values


def update_conf(path, changes):
    """Set the values of keys that already exist; other keys are ignored.

    Returns the keys that were in the file. Writes only when a value changed.
    A result larger than MAX_CONF_SIZE is refused (ConfTooLarge) and the file
    kept: it could not be read back, and system.conf is read on every request.
    """
    lines = read_lines(path)
    found = []
    changed = False
    for i, line in enumerate(lines):
        pair = split_line(line)
        if pair is None or pair[0] not in changes or pair[0] in found:
            continue
        key = pair[0]
        found.append(key)
        new_value = changes[key]
        if pair[1] != new_value:
            lines[i] = line[:line.index('=') + 1] + new_value
            if line.endswith('\r'):
                lines[i] += '\r'
            changed = True
    if changed:
        # Characters first: a file that cannot fit is refused before it is
        # joined (twice its size in heap), and UTF-8 is never shorter.
        too_large = sum(len(line) + 1 for line in lines) - 1 > MAX_CONF_SIZE
        data = None if too_large else '\n'.join(lines).encode()
        if too_large or len(data) > MAX_CONF_SIZE:
            raise ConfTooLarge('%s would be larger than %d bytes' % (
                path.rpartition('/')[2], MAX_CONF_SIZE))
        atomic_write(path, data)
    return found


def atomic_write(path, data):
    """Replace a file so that a power cut leaves the old or the new content.

    Temp file in the same directory, flushed and synced, renamed over the
    old one, then the directory synced (where the runtime can fsync).
    A leftover temp entry is removed first, so that a link planted under
    its name is never written through.
    """
    directory = path.rpartition('/')[0] or '.'
    tmp = path + '.tmp'   # one fixed name: a write cut short is replaced by the next one
    try:
        files.remove_if_there(tmp)
        with open(tmp, 'wb') as f:
            f.write(data)
            files.fsync_file(f)
        os.rename(tmp, path)
    except BaseException:
        files.remove_if_there(tmp)
        raise
    files.fsync_dir(directory)

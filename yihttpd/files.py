"""Files and directories on the SD card and in the temp folder.

MicroPython's os has no lstat, realpath or fsync: links are seen through
os.ilistdir's entry types, and an atomic write still renames a complete
temp file but cannot force it to the card first (HAS_FSYNC is False).
Its open has no 'x' mode (O_EXCL): a new temp file is made by removing
what is at the name, then creating it.
"""
import os
import sys
import time

from .compat import getpid

S_IFMT = 0o170000
S_IFDIR = 0o040000
S_IFREG = 0o100000
S_IFLNK = 0o120000
S_IFIFO = 0o010000

# MicroPython makes a new str of a str path at each call into the filesystem and
# looks it up among every name the loaded code holds (two stats were a tenth of a
# hostname.js request); of a bytes path it makes bytes, which costs no lookup.
PATHS_AS_BYTES = sys.implementation.name == 'micropython'


def stat(path):
    """os.stat as a tuple, or None when the path does not exist."""
    try:
        return tuple(os.stat(path.encode() if PATHS_AS_BYTES else path))
    except OSError:
        return None


def stat_size(st):
    return st[6]


def stat_mtime(st):
    return int(st[8])


MTIME_GRAIN = 2   # seconds of mtime resolution on FAT, the SD card's file system


def settled_stamp(st):
    """(inode, mtime, size) of a stat, or None while it is younger than MTIME_GRAIN,
    or when its size is 0 (an empty file, or a /proc file, which changes unseen).

    Equal stamps mean an unchanged file only once its mtime is older than
    FAT's tick: a write within the same tick leaves the mtime as it was. A
    directory's size is left out: what it means differs by filesystem (FAT:
    whole clusters, tmpfs: its entries), its mtime is what tells a change.
    """
    mtime = stat_mtime(st)
    if st[0] & S_IFMT == S_IFDIR:
        return None if time.time() - mtime < MTIME_GRAIN else (st[1], mtime)
    if time.time() - mtime < MTIME_GRAIN or stat_size(st) == 0:
        return None
    return st[1], mtime, stat_size(st)


if hasattr(os, 'scandir'):
    def list_entries(path):
        """(name, kind) of each entry, kind 'dir', 'file', 'link' or 'other', links not followed."""
        with os.scandir(path) as it:
            for entry in it:
                if entry.is_symlink():
                    yield entry.name, 'link'
                elif entry.is_dir(follow_symlinks=False):
                    yield entry.name, 'dir'
                elif entry.is_file(follow_symlinks=False):
                    yield entry.name, 'file'
                else:
                    yield entry.name, 'other'
else:
    def list_entries(path):
        """(name, kind) of each entry, kind 'dir', 'file', 'link' or 'other', links not followed."""
        for entry in os.ilistdir(path):
            mode = entry[1] & S_IFMT
            if mode == S_IFDIR:
                kind = 'dir'
            elif mode == S_IFREG:
                kind = 'file'
            elif mode == S_IFLNK:
                kind = 'link'
            else:
                kind = 'other'
            yield entry[0], kind

if hasattr(os, 'lstat'):
    def entry_kind(path):
        """'dir', 'file', 'link', 'other' or None for a path, without following a last link."""
        try:
            mode = os.lstat(path).st_mode & S_IFMT
        except OSError:
            return None
        return {S_IFDIR: 'dir', S_IFREG: 'file', S_IFLNK: 'link'}.get(mode, 'other')
else:
    def entry_kind(path):
        """'dir', 'file', 'link', 'other' or None for a path, without following a last link.

        The listing is read to its end: ilistdir closes its directory fd
        only then (or when the collector finds it), so stopping at the match
        left an fd open per call, over a hundred on a quiet server.
        """
        parent, _, name = path.rpartition('/')
        found = None
        try:
            for entry_name, kind in list_entries(parent or '/'):
                if entry_name == name:
                    found = kind
        except OSError:
            pass
        return found


def is_dir(path):
    st = stat(path)
    return st is not None and st[0] & S_IFMT == S_IFDIR


def makedirs(path):
    """Create path and its missing parents."""
    if is_dir(path):
        return
    makedirs(path.rpartition('/')[0])
    os.mkdir(path)


def remove_tree(path):
    """Delete a directory and what it holds, never following a link out of it."""
    for name, kind in list(list_entries(path)):
        child = path + '/' + name
        if kind == 'dir':
            remove_tree(child)
        else:
            os.remove(child)
    os.rmdir(path)


def remove_entry(path):
    """Remove what is at path, if anything: a directory with all it holds, a
    file, or a link (never what the link points to)."""
    if entry_kind(path) == 'dir':
        remove_tree(path)
    else:
        remove_if_there(path)


HAS_FSYNC = hasattr(os, 'fsync')


def fsync_file(f):
    """Push a written file to the storage where the runtime can."""
    f.flush()
    if HAS_FSYNC:
        os.fsync(f.fileno())


def fsync_dir(path):
    """Make a rename in this directory durable (CPython on Linux only)."""
    if not HAS_FSYNC:
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except (OSError, AttributeError):
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


TEMP_PREFIX = 'yihttpd-'


_made = [0]   # the last unique_key given


def temp_path(directory, purpose, key=None):
    """A file name in directory that no other process or purpose uses:
    yihttpd-PURPOSE-PID (then -KEY when one process needs several)."""
    path = '%s/%s%s-%d' % (directory, TEMP_PREFIX, purpose, getpid())
    return path if key is None else '%s-%s' % (path, key)


def unique_key():
    """A number no earlier call in this process gave: a key for temp_path."""
    _made[0] += 1
    return _made[0]


def unique_temp_path(directory, purpose, suffix=''):
    """temp_path with a key no other name of this process had (yihttpd-PURPOSE-PID-N)."""
    return temp_path(directory, purpose, '%d%s' % (unique_key(), suffix))


def temp_owner(name):
    """The process id in a temp_path name (its PURPOSE may hold '-': cgi-in), or None."""
    parts = name.split('-')
    if parts[0] + '-' != TEMP_PREFIX:
        return None
    for part in parts[2:]:   # the PURPOSE takes parts[1] at least
        if part.isdigit():
            return int(part)
    return None


def remove_stale_temp(directory, proc='/proc'):
    """Remove what temp_path named for a process that is no longer running.

    A server killed while it wrote (power cut, kill -9, MemoryError) leaves
    its scratch files, and /tmp on the camera is RAM. Returns how many went.
    """
    if not is_dir(proc + '/self'):
        return 0
    removed = 0
    own = getpid()
    try:
        # Only ours are kept: the camera's /tmp holds many other files, and a list of
        # them all would break up MicroPython's heap before the first request.
        entries = [(name, kind) for name, kind in list_entries(directory)
                   if name.startswith(TEMP_PREFIX)]
    except OSError:
        return 0
    for name, kind in entries:
        pid = temp_owner(name)
        if pid is None or pid == own or is_dir('%s/%d' % (proc, pid)):
            continue
        try:
            if kind == 'dir':
                remove_tree(directory + '/' + name)
            else:
                os.remove(directory + '/' + name)
        except OSError:
            continue
        removed += 1
    return removed


# open's mode for a file that must be new: 'x' fails if anything (a planted link
# too) is at the name; MicroPython (whose os has no open either) lacks it.
NEW_FILE_MODE = 'xb' if hasattr(os, 'open') else 'wb'


def create_new(path, readable=False):
    """Open a new file to write (and read back, if readable) at a predictable temp name,
    never through a link or into a file someone else placed there: what is at the name
    is removed first."""
    remove_if_there(path)
    return open(path, NEW_FILE_MODE + ('+' if readable else ''))


def remove_if_there(path):
    """Remove a file; one already gone is not an error."""
    try:
        os.remove(path)
    except OSError:
        pass

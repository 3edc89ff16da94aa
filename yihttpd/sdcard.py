"""The SD card: where things live under the root, and the record naming rules.

Every name that comes from a client passes through the checks here before
it becomes a path; a path is only ever built from names that passed.
"""
from . import compat
from .http import HttpError

HOUR_DIR_LEN = 14        # YYYYYMMMDDDHHH, e.g. 2020Y01M01D01H
RECORDING_NAME = 'tmp.mp4.tmp'   # the video the firmware is writing now


def _digits(text):
    return len(text) > 0 and all('0' <= c <= '9' for c in text)


def is_hour_dir(name):
    """YYYYYMMMDDDHHH: 4 digits Y, 2 digits M, 2 digits D, 2 digits H."""
    return (len(name) == HOUR_DIR_LEN and _digits(name[0:4]) and name[4] == 'Y'
            and _digits(name[5:7]) and name[7] == 'M' and _digits(name[8:10])
            and name[10] == 'D' and _digits(name[11:13]) and name[13] == 'H')


def record_stem_minute(stem):
    """The minute offset of an 8- or 10-character record stem, or -1 if not one.

    MMMSSSDD (minute, second, duration) or the same with a 2-character prefix.
    """
    if len(stem) == 8:
        at = 0
    elif len(stem) == 10:
        at = 2
        prefix = stem[0:2]
        if not all('A' <= c <= 'Z' or 'a' <= c <= 'z' or '0' <= c <= '9' for c in prefix):
            return -1
    else:
        return -1
    core = stem[at:]
    if (_digits(core[0:2]) and core[2] == 'M' and _digits(core[3:5])
            and core[5] == 'S' and _digits(core[6:8])):
        return at
    return -1


def is_video(name):
    return name.endswith('.mp4') and record_stem_minute(name[:-4]) >= 0


def is_thumbnail(name):
    return name.endswith('.jpg') and record_stem_minute(name[:-4]) >= 0


def is_record_file(name):
    return is_video(name) or is_thumbnail(name)


class SdCard:
    """Paths under the SD root (the camera's /tmp/sd)."""

    def __init__(self, root):
        self.root = root.rstrip('/') or '/'
        self.yi_hack = self.root + '/yi-hack'
        self.etc = self.yi_hack + '/etc'
        self.record = self.root + '/record'
        self.hostname_path = self.etc + '/hostname'

    def conf_path(self, filename):
        return self.etc + '/' + filename

    def hour_dir(self, dirname):
        """The path of an hour directory, after checking the name; 400 if not one."""
        if not is_hour_dir(dirname):
            raise HttpError(400, 'not a record directory name: %r' % dirname[:40])
        return self.record + '/' + dirname

    def record_file(self, dirname, filename):
        """The path of a video or thumbnail inside an hour directory; 400 if not one."""
        directory = self.hour_dir(dirname)
        if not is_record_file(filename):
            raise HttpError(400, 'not a record file name: %r' % filename[:40])
        return directory + '/' + filename

    def existing_record_file(self, dirname, filename):
        """A record file that exists as a plain file under a plain hour directory.

        A link at either level would lead outside the record root: 400.
        Missing: 404.
        """
        path = self.record_file(dirname, filename)
        for at, kind in ((self.record + '/' + dirname, 'dir'), (path, 'file')):
            found = compat.entry_kind(at)
            if found is None:
                raise HttpError(404, 'no such record')
            if found != kind:
                raise HttpError(400, 'not a plain record %s' % kind)
        return path

    def hour_dirs(self):
        """Names of the hour directories (plain directories only), unsorted."""
        try:
            return [name for name, kind in compat.list_entries(self.record)
                    if kind == 'dir' and is_hour_dir(name)]
        except OSError:
            return []

    def is_recording(self):
        return compat.stat(self.record + '/' + RECORDING_NAME) is not None

    def read_text(self, path, default=None):
        """A small text file's content stripped, or default when it cannot be read."""
        try:
            with open(path) as f:
                return f.read().strip()
        except (OSError, UnicodeError):
            return default

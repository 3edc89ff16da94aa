"""The SD card: where things live under the root, and the record naming rules.

Every name that comes from a client passes through the checks here before
it becomes a path; a path is only ever built from names that passed.
"""
from . import checks, files
from .checks import shown  # noqa: F401 (where handlers take it from)
from .http import HttpError

HOUR_DIR_LEN = 14        # YYYYYMMMDDDHHH, e.g. 2020Y01M01D01H
RECORDING_NAME = 'tmp.mp4.tmp'   # the video the firmware is writing now
PSEUDO_FILE_READ = 256   # bytes read of a file whose size reads as 0 (/proc: a hostname, a pid)
SMALL_TEXT_MAX = 4096    # the small text files read whole (hostname, version, a pid) are far shorter
TIMELAPSE_DIR = 'timelapse'     # record/timelapse: the time-lapse videos
TIMELAPSE_NAME_LEN = 23     # YYYY-MM-DD_HH-MM-SS.avi
MODEL_MAX = 32           # characters of a model name (yi-hack/model_suffix)


def ascii_digits(text):
    """A fixed-width field of a record name: ASCII digits only."""
    return checks.only(text, checks.DIGITS, len(text))


def is_hour_dir(name):
    """YYYYYMMMDDDHHH: 4 digits Y, 2 digits M, 2 digits D, 2 digits H."""
    return (len(name) == HOUR_DIR_LEN and ascii_digits(name[0:4]) and name[4] == 'Y'
            and ascii_digits(name[5:7]) and name[7] == 'M' and ascii_digits(name[8:10])
            and name[10] == 'D' and ascii_digits(name[11:13]) and name[13] == 'H')


def record_stem_minute(stem):
    """The minute offset of an 8- or 10-character record stem, or -1 if not one.

    MMMSSSDD (minute, second, duration) or the same with a 2-character prefix.
    """
    if len(stem) == 8:
        at = 0
    elif len(stem) == 10:
        at = 2
        prefix = stem[0:2]
        if not checks.only(prefix, checks.LETTERS + checks.DIGITS, 2):
            return -1
    else:
        return -1
    core = stem[at:]
    if (ascii_digits(core[0:2]) and core[2] == 'M' and ascii_digits(core[3:5])
            and core[5] == 'S' and ascii_digits(core[6:8])):
        return at
    return -1


def is_video(name):
    return name.endswith('.mp4') and record_stem_minute(name[:-4]) >= 0


def is_thumbnail(name):
    return name.endswith('.jpg') and record_stem_minute(name[:-4]) >= 0


def is_record_file(name):
    return is_video(name) or is_thumbnail(name)


def video_minute(name):
    """The MM of a video or thumbnail name (the minute it started)."""
    at = record_stem_minute(name[:-4])
    return name[at:at + 2]


def record_order_key(name):
    """Sorts record names by start time (minute, second), whatever the prefix."""
    return name[record_stem_minute(name[:-4]):]


def thumbnail_name(video):
    """The thumbnail that sits beside a video: same stem, .jpg."""
    return video[:-4] + '.jpg'


def hour_dir_date(name):
    """'YYYY-MM-DD' of an hour directory name."""
    return '%s-%s-%s' % (name[0:4], name[5:7], name[8:10])


def hour_dir_hour(name):
    return name[11:13]


def days_since_1970(year, month, day):
    """Days from 1970-01-01 to a date of the Gregorian calendar (no time zone involved)."""
    if month <= 2:
        year -= 1
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + 9 if month <= 2 else month - 3) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def hour_dir_utc_seconds(name):
    """Seconds since 1970 of an hour directory's start, its name read as UTC."""
    days = days_since_1970(int(name[0:4]), int(name[5:7]), int(name[8:10]))
    return days * 86400 + int(name[11:13]) * 3600


def is_timelapse_name(name):
    """YYYY-MM-DD_HH-MM-SS.avi with digits where the digits go."""
    if len(name) != TIMELAPSE_NAME_LEN or not name.endswith('.avi'):
        return False
    for at, mark in ((4, '-'), (7, '-'), (10, '_'), (13, '-'), (16, '-')):
        if name[at] != mark:
            return False
    return all(ascii_digits(name[a:b]) for a, b in ((0, 4), (5, 7), (8, 10), (11, 13), (14, 16), (17, 19)))


def _check_kind(path, kind):
    """404 when path is missing, 400 when it is not a plain kind ('dir' or 'file'), e.g. a link."""
    found = files.entry_kind(path)
    if found is None:
        raise HttpError(404, 'no such record')
    if found != kind:
        raise HttpError(400, 'not a plain record %s' % kind)


# The PATH the firmware's scripts set: its programs (speaker, pcmvol, iwlist,
# proxychains4) are found there, the card's folders last.
SYSTEM_PATH = '/usr/bin:/usr/sbin:/bin:/sbin:/home/base/tools:/home/app/localbin:/home/base'
CARD_PATH = ('/yi-hack/bin', '/yi-hack/sbin', '/yi-hack/usr/bin', '/yi-hack/usr/sbin')


class SdCard:
    """Paths under the SD root (the camera's /tmp/sd)."""

    def __init__(self, root):
        self.root = root.rstrip('/') or '/'
        self.yi_hack = self.root + '/yi-hack'
        self.etc = self.yi_hack + '/etc'
        self.record = self.root + '/record'
        self.hostname_path = self.etc + '/hostname'
        self.timelapse_dir = self.record + '/' + TIMELAPSE_DIR
        self.texts = {}   # path -> (settled stamp, text) of the small files read_text read

    def firmware_path(self):
        """The firmware scripts' PATH with this root's card folders."""
        return SYSTEM_PATH + ''.join(':' + self.root + d for d in CARD_PATH)

    def conf_path(self, filename):
        return self.etc + '/' + filename

    def hour_dir(self, dirname):
        """The path of an hour directory, after checking the name; 400 if not one."""
        if not is_hour_dir(dirname):
            raise HttpError(400, 'not a record directory name: ' + shown(dirname))
        return self.record + '/' + dirname

    def record_file(self, dirname, filename):
        """The path of a video or thumbnail inside an hour directory; 400 if not one."""
        directory = self.hour_dir(dirname)
        if not is_record_file(filename):
            raise HttpError(400, 'not a record file name: ' + shown(filename))
        return directory + '/' + filename

    def existing_record_file(self, dirname, filename):
        """A record file that exists as a plain file under a plain hour directory.

        A link at either level would lead outside the record root: 400.
        Missing: 404.
        """
        path = self.record_file(dirname, filename)
        self.existing_hour_dir(dirname)
        _check_kind(path, 'file')
        return path

    def existing_hour_dir(self, dirname):
        """An hour directory that exists as a plain directory: its path (400/404 otherwise)."""
        path = self.hour_dir(dirname)
        _check_kind(path, 'dir')
        return path

    def timelapse_file(self, name):
        """The path of an existing time-lapse video: 400 for another name or a link, 404 if missing."""
        if not is_timelapse_name(name):
            raise HttpError(400, 'not a time-lapse file name: ' + shown(name))
        if files.entry_kind(self.timelapse_dir) != 'dir':
            raise HttpError(404, 'no time-lapse folder')
        path = self.timelapse_dir + '/' + name
        kind = files.entry_kind(path)
        if kind is None:
            raise HttpError(404, 'no such time-lapse video')
        if kind != 'file':
            raise HttpError(400, 'not a plain time-lapse video')
        return path

    def is_recording(self):
        return files.stat(self.record + '/' + RECORDING_NAME) is not None

    def model_suffix(self):
        """yi-hack/model_suffix (e.g. y211ga) when it is a plain model name, else None."""
        model = self.read_text(self.yi_hack + '/model_suffix', '')
        return model if checks.only(model, checks.NAME_CHARS, MODEL_MAX) else None

    def read_text(self, path, default=None):
        """A small plain file's text stripped (its first SMALL_TEXT_MAX bytes), else default.

        A link or anything but a plain file gives default: a link planted in
        etc/ must not make a service answer another file's content, nor a
        FIFO or a device hang or flood the loop. What was read is kept until
        the file changes (files.settled_stamp): hostname.js and status.json
        read the same few files on every request, and on MicroPython telling
        a file from a link lists its whole directory.
        """
        st = files.stat(path)
        if st is None:
            return default
        kept = self.texts.get(path)
        stamp = files.settled_stamp(st)
        if kept is not None and kept[0] == stamp and stamp is not None:
            return kept[1]
        if files.entry_kind(path) != 'file':
            return default
        try:
            with open(path, 'rb') as f:
                # Only the file's size: MicroPython's read(n) takes n bytes of
                # heap up front, and a crowded 256K heap may lack 4 KiB in one piece.
                # A /proc file's size reads as 0: a short read, as its texts are.
                size = files.stat_size(st) or PSEUDO_FILE_READ
                text = f.read(min(size, SMALL_TEXT_MAX)).decode().strip()
        except (OSError, UnicodeError):
            return default
        self.texts[path] = (stamp, text)
        return text

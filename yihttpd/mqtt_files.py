"""The motion files message: the videos recorded during a motion event, as
the firmware's mqttv4 lists them (files.c, getMp4Files) and words them.

From the minute the event stopped, back one minute at a time, the first
video of each minute's hour folder whose name starts with that minute
(MMM, after a 2-character prefix when there is one); the search ends at
the first minute without one, at MAX_FILES, or a minute before the event
started. The camera names its hour folders in UTC, or in local time when
the firmware runs mqttv4 with `-t local` (service.sh: home versions 11
and 12 except on LOCAL_EXCEPT models). The start and end are local time
with their UTC offset, e.g. 2024-01-02T03:04:05+01:00.
"""
import time

from . import files

MAX_FILES = 50                     # mqttv4's files_max_events
LOCAL_HOME_VERSIONS = ('11', '12')
LOCAL_EXCEPT = ('y291ga', 'y211ga', 'y623')   # service.sh starts mqttv4 without -t local on these
PREFIXED_NAME = 14                 # XXMMMSSSDD.mp4: the minute after a 2-character prefix
DAYS_BEFORE_MONTH = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)


def local_folders(home_version, model):
    """Whether the camera names its hour folders in local time (mqttv4 -t local)."""
    return home_version[:2] in LOCAL_HOME_VERSIONS and model not in LOCAL_EXCEPT


def utc_seconds(t):
    """Seconds since 1970 of a (year, month, day, hour, minute, second, ...) read as UTC."""
    year, month = t[0], t[1]
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = (year - 1970) * 365 + (year - 1969) // 4 - (year - 1901) // 100 + (year - 1601) // 400
    days += DAYS_BEFORE_MONTH[month - 1] + (1 if leap and month > 2 else 0) + t[2] - 1
    return days * 86400 + t[3] * 3600 + t[4] * 60 + t[5]


def iso_local(seconds):
    """2024-01-02T03:04:05+01:00: local time and its offset from UTC, as strftime %FT%T%z."""
    t = time.localtime(int(seconds))
    offset = (utc_seconds(t) - int(seconds)) // 60
    sign = '-' if offset < 0 else '+'
    offset = abs(offset)
    return '%04d-%02d-%02dT%02d:%02d:%02d%s%02d:%02d' % (t[:6] + (sign, offset // 60, offset % 60))


def first_video(record, folder, minute):
    """The first .mp4 (directory order) of record/folder starting with minute (MMM), after
    a 2-character prefix in a 14-character name, or None."""
    try:
        for name, kind in files.list_entries(record + '/' + folder):
            at = 2 if len(name) == PREFIXED_NAME else 0
            if kind != 'dir' and name.endswith('.mp4') and name[at:at + len(minute)] == minute:
                return name
    except OSError:   # no such hour folder
        pass
    return None


def videos(record, start, stop, local):
    """['YYYYYMMMDDDHHH/NAME.mp4', ...] from the stop minute back, as mqttv4 finds them."""
    found = []
    at = int(stop)
    while len(found) < MAX_FILES:
        t = time.localtime(at) if local else time.gmtime(at)
        folder = '%dY%02dM%02dD%02dH' % t[:4]
        name = first_video(record, folder, '%02dM' % t[4])
        if name is None:
            break
        found.append(folder + '/' + name)
        at -= 60
        if at < start - 60:
            break
    return found


def files_message(record, start, stop, local):
    """mqttv4's JSON text, byte for byte (its own spacing and line breaks)."""
    names = videos(record, start, stop, local)
    listed = ', '.join('"%s"' % name for name in names)
    return '{\n"start":"%s",\n"end":"%s",\n"files":[ %s%s]\n}\n' % (
        iso_local(start), iso_local(stop), listed, ' ' if names else '')

"""The record tree's listings, read from the card once and kept until it changes.

The page and Home Assistant ask for the same hour's listing again and
again, and the long-poll looks at the newest hour twice a second; each
read lists, filters and sorts a directory on a slow SD card. A listing is
kept until its directory's mtime changes, which is when a video, a
thumbnail or an hour directory is added, renamed or removed.

FAT keeps mtimes to 2 seconds: a file added in the same tick as the change
a listing saw would not move the mtime again. So a listing is kept only
when it was read at least files.MTIME_GRAIN seconds after its directory
last changed; the hour being recorded into is read afresh until it settles.
"""
from . import files
from .sdcard import is_hour_dir, is_video, record_order_key

MOST_LISTINGS = 8        # listings kept at once (the hours a page has open)
MOST_BYTES = 65536       # their estimated heap, all together
BYTES_PER_VIDEO = 160    # estimated heap per video: its name, thumbnail and answer text
BYTES_PER_HOUR = 8       # estimated heap per hour directory in HourDirs
MONTH_SLOT = 10000       # an HourDirs key is month rank * MONTH_SLOT + DDHH (DDHH <= 9999)


class HourDirs:
    """Hour directory names under a record root, newest first, held compactly.

    A name is kept as one small int, (rank of its YYYYMM) * MONTH_SLOT + DDHH,
    and rebuilt when asked for. Holding a month's 720 names as strings
    scatters small survivors over MicroPython's heap while the listing
    churns through it, until no 8 KiB block is left (seen at 512K); small
    ints take no heap at all.
    """

    def __init__(self, record_root):
        months = {}      # YYYYMM -> its index in the order first seen
        keys = []
        try:
            for name, kind in files.list_entries(record_root):
                if kind == 'dir' and is_hour_dir(name):
                    month = int(name[0:4]) * 100 + int(name[5:7])
                    index = months.get(month)
                    if index is None:
                        index = months[month] = len(months)
                    keys.append(index * MONTH_SLOT + int(name[8:10]) * 100 + int(name[11:13]))
        except OSError:
            pass
        self.months = sorted(months)
        rank = [0] * len(months)
        for at, month in enumerate(self.months):
            rank[months[month]] = at
        for i in range(len(keys)):
            keys[i] = rank[keys[i] // MONTH_SLOT] * MONTH_SLOT + keys[i] % MONTH_SLOT
        keys.sort(reverse=True)
        self.keys = keys
        self.answer = None   # what eventsdir.sh made of it: kept with it (records.py)

    def __len__(self):
        return len(self.keys)

    def name(self, i):
        """The i-th newest name."""
        month = self.months[self.keys[i] // MONTH_SLOT]
        day_hour = self.keys[i] % MONTH_SLOT
        return '%04dY%02dM%02dD%02dH' % (month // 100, month % 100, day_hour // 100, day_hour % 100)

    def __iter__(self):
        for i in range(len(self.keys)):
            yield self.name(i)

    def __contains__(self, name):
        """Whether an hour directory name (already checked as one) is a directory here."""
        month = int(name[0:4]) * 100 + int(name[5:7])
        if month not in self.months:
            return False
        key = self.months.index(month) * MONTH_SLOT + int(name[8:10]) * 100 + int(name[11:13])
        return key in self.keys


class HourContents:
    """The videos of one hour directory, newest first, and which have a thumbnail.

    A thumbnail counts only once it has bytes; one seen empty (still being
    written, which does not move the directory's mtime) keeps the listing
    from being cached.
    """

    def __init__(self, path):
        keyed = []
        thumbs = set()
        for name, kind in files.list_entries(path):
            if kind != 'file':
                continue
            if is_video(name):
                keyed.append((record_order_key(name), name))
            elif name.endswith('.jpg'):
                thumbs.add(name)
        # Keys made once each: MicroPython's sort calls a key function per comparison.
        keyed.sort(reverse=True)
        self.videos = [name for _, name in keyed]
        self.settled = True
        self.thumbs = set()
        for video in self.videos:
            thumb = video[:-4] + '.jpg'
            if thumb in thumbs:
                st = files.stat(path + '/' + thumb)
                if st is not None and files.stat_size(st) > 0:
                    self.thumbs.add(thumb)
                else:
                    self.settled = False
        self.answer = None   # what eventsfile.sh made of it: kept with it (records.py)


class Listings:
    """The last few listings read, least recently used dropped first.

    Bounded by count and by estimated heap, since the camera's MicroPython
    has a few hundred KiB for everything.
    """

    def __init__(self, record_root):
        self.record_root = record_root
        self.kept = {}      # path -> (settled stamp, listing, estimated bytes)
        self.recent = []    # paths, least recently used first
        self.bytes = 0

    def hours(self):
        """The HourDirs of the record root."""
        return self.listing(self.record_root, HourDirs, lambda dirs: (True, BYTES_PER_HOUR * len(dirs)))

    def hour(self, path):
        """The HourContents of an hour directory (it must exist)."""
        return self.listing(path, HourContents,
                            lambda contents: (contents.settled, BYTES_PER_VIDEO * len(contents.videos)))

    def forget(self, path=None):
        """Drop one kept listing, or all (path None): the server changed the tree."""
        for kept in ([path] if path is not None else list(self.recent)):
            if kept in self.kept:
                self.bytes -= self.kept.pop(kept)[2]
                self.recent.remove(kept)

    def listing(self, path, read, judge):
        st = files.stat(path)
        stamp = None if st is None else files.settled_stamp(st)
        hit = self.kept.get(path)
        if hit is not None:
            if stamp is not None and hit[0] == stamp:
                self.recent.remove(path)
                self.recent.append(path)
                return hit[1]
            self.forget(path)
        listing = read(path)
        settled, size = judge(listing)
        if settled and stamp is not None:
            self.keep(path, stamp, listing, size)
        return listing

    def keep(self, path, stamp, listing, size):
        if size > MOST_BYTES:
            return
        while self.recent and (len(self.recent) >= MOST_LISTINGS or self.bytes + size > MOST_BYTES):
            self.forget(self.recent[0])
        self.kept[path] = (stamp, listing, size)
        self.recent.append(path)
        self.bytes += size

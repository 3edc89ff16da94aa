"""Tar archives, written and read here by hand so that MicroPython (no tarfile) can too.

The reader trusts nothing. What an archive may hold is a Policy, one table
per use: SETTINGS for the settings backup (load.sh), FIRMWARE for an
upgrade (fw_upgrade.sh). Each member is checked against it at its header,
before any of it is written, and the first member that breaks a rule
refuses the whole archive.
"""
from . import checks, compress, files
from .conf import read_small
from .sdcard import shown

BLOCK = 512                # tar's unit: headers and padded contents
COPY_CHUNK = 1024          # bytes moved at a time between streams: a 512K heap that has
                           # served the page may have no 4 KiB block free (bzip2 reads
                           # each piece twice over)
TAR_RECORD = 10240         # tar pads its end to a record; read that far so trailers are checked
MAX_PATH = 255             # longest member path (ustar's limit)
ZERO_BLOCK = bytes(BLOCK)
FILE_TYPES = (ord('0'), 0)   # '0' and old tars' NUL both mean a regular file
DIR_TYPE = ord('5')
LONG_NAME_TYPE = ord('L')    # GNU tar: the next member's long name as content
TYPE_NAMES = {ord('1'): 'a hard link', ord('2'): 'a symbolic link', ord('3'): 'a device',
              ord('4'): 'a device', ord('5'): 'a directory', ord('6'): 'a FIFO',
              ord('x'): 'a pax header (not supported)', ord('g'): 'a pax header (not supported)'}

HOSTNAME = 'hostname'
CONF_SUFFIX = '.conf'
MAX_SETTINGS_NAME = 64     # longest settings member name taken

# The firmware upgrade's own names at the SD root, which no archive may bring.
STAGING = '.fw_upgrade'      # unpacked here, then moved into place
REPLACED = '.fw_upgrade.old' # what the upgrade replaced (removed at the next upgrade)
DOWNLOADED = '.fw_upgrade.tgz'
PROTECTED = ('record', STAGING, REPLACED, DOWNLOADED)


class ArchiveError(Exception):
    """The archive is not one this policy takes; the message says why."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def is_settings_name(name):
    """hostname, or NAME.conf with NAME of letters, digits, '_' and '-'."""
    if name == HOSTNAME:
        return True
    stem = name[:-len(CONF_SUFFIX)]
    return name.endswith(CONF_SUFFIX) and checks.only(
        stem, checks.NAME_CHARS, MAX_SETTINGS_NAME - len(CONF_SUFFIX))


# Writing

def _octal(value, width):
    """A numeric tar field: zero-padded octal and a NUL."""
    return ('%0*o\0' % (width - 1, value)).encode()


def tar_header(name, size, mtime):
    """A ustar header block for a regular file owned by root, mode 0644."""
    block = bytearray(BLOCK)

    def put(offset, data):
        block[offset:offset + len(data)] = data

    put(0, name.encode())
    put(100, _octal(0o644, 8))
    put(108, _octal(0, 8))
    put(116, _octal(0, 8))
    put(124, _octal(size, 12))
    put(136, _octal(mtime, 12))
    put(148, b' ' * 8)          # the checksum counts its own field as spaces
    block[156] = ord('0')
    put(257, b'ustar\x0000')
    put(265, b'root')
    put(297, b'root')
    put(148, ('%06o\0 ' % sum(block)).encode())
    return bytes(block)


def write_archive(path, members):
    """Write a bzip2 tar of members, a list of (name, path), to a new file at path.

    Each file is read whole (they are at most SETTINGS.member_size bytes).
    """
    compress.write_bzip2(path, lambda out, packer: _write_members(out, packer, members))


def _write_members(out, packer, members):
    for name, path in members:
        data = read_small(path, SETTINGS.member_size)
        st = files.stat(path)
        out.write(packer.compress(tar_header(name, len(data), files.stat_mtime(st))))
        out.write(packer.compress(data))
        out.write(packer.compress(bytes(-len(data) % BLOCK)))
    out.write(packer.compress(ZERO_BLOCK + ZERO_BLOCK))
    out.write(packer.flush())


# Reading

def open_compressed(section, tmp_dir):
    """A reader of the (small) tar inside section, a bzip2 or gzip stream (by its magic
    bytes), with read(n) and close(); a gzip's window goes in a scratch file in tmp_dir."""
    magic = section.read(len(compress.BZIP2_MAGIC))
    section.seek(0)
    if magic.startswith(compress.GZIP_MAGIC):
        return compress.SmallGzip(section, tmp_dir)
    if magic == compress.BZIP2_MAGIC:
        return compress.bz2_reader(section)
    raise ArchiveError('not a bzip2 or gzip archive')


def _read_some(stream, n):
    """Up to n bytes of a decompressing stream; what a decompressor raises becomes ArchiveError."""
    try:
        return stream.read(n)
    except compress.DECOMPRESS_ERRORS:
        raise ArchiveError('the compressed data is corrupt or cut short')


def read_exact(stream, n):
    """n bytes from a decompressing stream; less means the archive was cut short."""
    chunks = []
    left = n
    while left:
        chunk = _read_some(stream, left)
        if not chunk:
            raise ArchiveError('the archive is cut short')
        chunks.append(chunk)
        left -= len(chunk)
    return b''.join(chunks)


def drain(stream, limit):
    """Read on to the end (at most limit bytes), so that gzip and bzip2 check their trailer."""
    while limit > 0:
        chunk = _read_some(stream, min(limit, COPY_CHUNK))
        if not chunk:
            return
        limit -= len(chunk)


def octal_number(field):
    """An octal tar number field (base-256 sizes are far beyond any limit here)."""
    digits = field.replace(b'\0', b' ').strip()
    if not digits or any(c < 0x30 or c > 0x37 for c in digits):
        raise ArchiveError('not a tar archive (bad number in a header)')
    return int(digits.decode(), 8)


def field_text(field):
    """A NUL-terminated text field of a tar header."""
    try:
        return field.split(b'\0')[0].decode()
    except UnicodeError:
        raise ArchiveError('a member name is not UTF-8')


def read_member_header(stream, max_size):
    """(type byte, name, size) of the next tar header; None at the end marker.

    The checksum is checked and the POSIX prefix joined to the name; what a
    member may be is the caller's policy. A size over max_size refuses it.
    """
    block = read_exact(stream, BLOCK)
    if block == ZERO_BLOCK:
        return None
    if octal_number(block[148:156]) != sum(block[:148]) + 8 * 32 + sum(block[156:]):
        raise ArchiveError('not a tar archive (header checksum does not match)')
    name = field_text(block[0:100])
    if block[257:263] == b'ustar\x00' and block[345:500].strip(b'\0'):
        name = field_text(block[345:500]) + '/' + name   # POSIX prefix: a path
    if block[124] >= 0x80 or octal_number(block[124:136]) > max_size:
        raise ArchiveError('member %s is larger than %d bytes' % (shown(name), max_size))
    return block[156], name, octal_number(block[124:136])


def copy_member(stream, f, size):
    """Copy a member's content to f and skip its padding; yields the bytes of each chunk.

    A generator, so that a caller can pause between chunks on the loop.
    """
    left = size
    while left:
        chunk = read_exact(stream, min(left, COPY_CHUNK))
        f.write(chunk)
        left -= len(chunk)
        yield len(chunk)
    read_exact(stream, -size % BLOCK)


# What an archive may hold

def settings_path(name):
    """A settings member: a plain *.conf file or hostname, no path."""
    if '/' in name or name in ('.', '..'):
        raise ArchiveError('member %s has a path' % shown(name))
    if not is_settings_name(name):
        raise ArchiveError('member %s is not a *.conf file or hostname' % shown(name))
    return name


def firmware_path(name):
    """A firmware member: a relative path inside the staging folder ('' for the folder itself)."""
    while name.startswith('./'):
        name = name[2:]
    name = name.rstrip('/')
    if not name or name == '.':
        return ''
    if len(name) > MAX_PATH or '\0' in name or '\\' in name or name.startswith('/'):
        raise ArchiveError('member %s is not a plain relative path' % shown(name))
    parts = name.split('/')
    for part in parts:
        if part in ('', '.', '..'):
            raise ArchiveError('member %s leaves the staging folder' % shown(name))
    if parts[0] in PROTECTED:
        raise ArchiveError('member %s would replace %s on the SD card' % (shown(name), parts[0]))
    return name


class Policy:
    """What one kind of archive may hold; path(name) checks a member's name."""

    def __init__(self, path, member_size, members, total, folders, unique, pause_every):
        self.path = path
        self.member_size = member_size   # a larger member refuses the archive
        self.members = members           # more headers than this refuse it
        self.total = total               # more content bytes in all refuse it
        self.folders = folders           # directories (and GNU long names) are taken
        self.unique = unique             # a name given twice refuses it; names are kept
        self.pause_every = pause_every   # bytes unpacked between pauses on the loop


SETTINGS = Policy(settings_path, member_size=65536, members=32, total=32 * 65536,
                  folders=False, unique=True, pause_every=1 << 30)
# A firmware holds a few hundred files and unpacks to some tens of MiB: more
# is a bomb filling the card. 64 KiB at a time, so other clients get theirs.
FIRMWARE = Policy(firmware_path, member_size=1 << 30, members=10000, total=256 << 20,
                  folders=True, unique=False, pause_every=65536)


def unpack(stream, directory, policy, names):
    """Unpack a tar stream under directory as policy allows; a generator that
    pauses after each policy.pause_every bytes. With policy.unique, names gets
    each member's name.

    Only directories and regular files are made, each at a checked path, so
    no member can reach out. The stream is read to its end, so a corrupt
    gzip or bzip2 trailer refuses it too. The caller throws the directory
    away on ArchiveError, so nothing of a refused archive is used.
    """
    long_name = None
    members = 0
    unpacked = 0
    budget = policy.pause_every
    while True:
        header = read_member_header(stream, policy.member_size)
        if header is None:
            drain(stream, TAR_RECORD)
            return
        kind, name, size = header
        members += 1
        if members > policy.members:
            raise ArchiveError('more than %d members' % policy.members)
        if kind == LONG_NAME_TYPE and policy.folders:
            if size > MAX_PATH + 1:
                raise ArchiveError('a member name is longer than %d bytes' % MAX_PATH)
            long_name = field_text(read_exact(stream, size + (-size % BLOCK)))
            continue
        if long_name is not None:
            name, long_name = long_name, None
        folder = kind == DIR_TYPE and policy.folders
        if not folder and kind not in FILE_TYPES:
            raise ArchiveError('member %s is %s' % (shown(name), TYPE_NAMES.get(kind, 'of an unknown type')))
        path = policy.path(name)
        if folder:
            if path:
                files.makedirs(directory + '/' + path)
            continue
        if not path:
            raise ArchiveError('a file member has no name')
        if policy.unique:
            if path in names:
                raise ArchiveError('member %s appears twice' % shown(name))
            names.append(path)
        unpacked += size
        if unpacked > policy.total:
            raise ArchiveError('the archive unpacks to more than %d MiB' % (policy.total >> 20))
        files.makedirs((directory + '/' + path).rpartition('/')[0])
        with open(directory + '/' + path, 'wb') as f:
            for copied in copy_member(stream, f, size):
                budget -= copied
                if budget <= 0:
                    budget = policy.pause_every
                    yield

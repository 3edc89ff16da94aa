"""The settings archive: a tar of etc/*.conf and hostname, bzip2 or gzip.

Tar is written and read here by hand, so it works where the runtime has no
tarfile (MicroPython). The reader trusts nothing: it takes only regular
files with plain settings names and bounded sizes, and refuses the whole
archive at the first member that is anything else.
"""
from . import checks, compress, files
from .conf import read_small
from .sdcard import shown

BLOCK = 512                # tar's unit: headers and padded contents
MAX_MEMBER_SIZE = 65536    # a settings file is small; a larger member refuses the archive
MAX_MEMBERS = 32           # the firmware's etc/ holds about five files
MAX_NAME = 64              # longest member name taken
COPY_CHUNK = 4096          # bytes moved at a time between streams
TAR_RECORD = 10240         # tar pads its end to a record; read that far so trailers are checked

HOSTNAME = 'hostname'
CONF_SUFFIX = '.conf'
ZERO_BLOCK = bytes(BLOCK)
REGULAR_TYPES = (ord('0'), 0)   # '0' and old tars' NUL both mean a regular file


class ArchiveError(Exception):
    """The upload is not a settings archive we accept; the message says why."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def is_member_name(name):
    """hostname, or NAME.conf with NAME of letters, digits, '_' and '-'."""
    if name == HOSTNAME:
        return True
    stem = name[:-len(CONF_SUFFIX)]
    return name.endswith(CONF_SUFFIX) and checks.only(stem, checks.NAME_CHARS, MAX_NAME - len(CONF_SUFFIX))


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


def write_archive(out, members, kind):
    """Write a compressed tar of members, a list of (name, path), to the stream out.

    Each file is read whole (they are at most MAX_MEMBER_SIZE bytes).
    """
    packer = compress.compressor(kind)
    for name, path in members:
        data = read_small(path, MAX_MEMBER_SIZE)
        st = files.stat(path)
        out.write(packer.compress(tar_header(name, len(data), files.stat_mtime(st))))
        out.write(packer.compress(data))
        out.write(packer.compress(bytes(-len(data) % BLOCK)))
    out.write(packer.compress(ZERO_BLOCK + ZERO_BLOCK))
    out.write(packer.flush())


# Reading

def open_compressed(section):
    """A reader of the tar inside section, a bzip2 or gzip stream (by its magic bytes)."""
    magic = section.read(len(compress.BZIP2_MAGIC))
    section.seek(0)
    if magic.startswith(compress.GZIP_MAGIC):
        return compress.gzip_reader(section, section.length)
    if magic == compress.BZIP2_MAGIC:
        if not compress.HAS_BZ2:
            raise ArchiveError('this runtime cannot read bzip2: upload a gzip archive')
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


def check_settings_member(kind, name):
    """A settings archive holds plain *.conf files and hostname, nothing else."""
    if '/' in name or name in ('.', '..'):
        raise ArchiveError('member %s has a path' % shown(name))
    if kind not in REGULAR_TYPES:
        raise ArchiveError('member %s is not a regular file (links, devices and '
                           'directories are refused)' % shown(name))
    if not is_member_name(name):
        raise ArchiveError('member %s is not a *.conf file or hostname' % shown(name))


def extract(stream, directory):
    """Unpack a tar stream into an empty directory; the member names.

    Raises ArchiveError at the first member that breaks a rule; the caller
    throws the directory away then, so nothing of a refused archive is used.
    """
    names = []
    while True:
        header = read_member_header(stream, MAX_MEMBER_SIZE)
        if header is None:
            drain(stream, TAR_RECORD)
            return names
        kind, name, size = header
        check_settings_member(kind, name)
        if name in names:
            raise ArchiveError('member %s appears twice' % shown(name))
        if len(names) == MAX_MEMBERS:
            raise ArchiveError('more than %d members' % MAX_MEMBERS)
        names.append(name)
        with open(directory + '/' + name, 'wb') as f:
            for _ in copy_member(stream, f, size):
                pass

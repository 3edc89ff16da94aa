#!/usr/bin/env python3
"""Build the SD-card payload: what a camera owner unpacks onto the card's root.

    python3 build_payload.py [--mpy [--mpy-cross PATH]] [--out FILE.tar.gz]

Writes FILE.tar.gz and, beside it, FILE.zip (for owners who prepare the card
on Windows), both laid out relative to the SD root (the camera's /tmp/sd):

    yi-hack/yihttpd/            the server package (.py, or .mpy with --mpy)
    yi-hack/www/                the web page
    yi-hack/script/yihttpd.sh   start|stop|status|restart, with a watchdog
    yi-hack/yihttpd-defaults/   default confs; the start script copies one into
                                yi-hack/etc/ only when the card has none, so
                                unpacking never overwrites an owner's settings
    yi-hack/yihttpd-startup.sh  the line to add to yi-hack/startup.sh
    yi-hack/yihttpd.sha256      sha256 of every other file, for `sha256sum -c`

The same sources give the same bytes: entries are sorted, and mtimes, owners
and modes are fixed (the tar's gzip header carries no time or name either).
Dev-time only: runs on CPython. --mpy compiles with mpy-cross 1.26.1, the
compiler of the camera's MicroPython, which tools/build-micropython.sh
builds from MicroPython's v1.26.1 source (or give --mpy-cross PATH).
"""
import argparse
import gzip
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile

REPO = os.path.dirname(os.path.abspath(__file__))
PAYLOAD_DIR = os.path.join(REPO, 'sdcard_payload')
DEFAULT_OUT = os.path.join(REPO, 'dist', 'yihttpd-sdcard.tar.gz')

PACKAGE = 'yihttpd'
PACKAGE_DEST = 'yi-hack/yihttpd'
WWW_DEST = 'yi-hack/www'
DEFAULTS_SOURCE = 'yi-hack/etc'          # under sdcard_payload/: the default confs
DEFAULTS_DEST = 'yi-hack/yihttpd-defaults'
MANIFEST_DEST = 'yi-hack/yihttpd.sha256'

# 2024-01-01 00:00:00 UTC: a fixed time for every entry (FAT cannot store
# dates before 1980, so not 0). SOURCE_DATE_EPOCH overrides it.
FIXED_MTIME = int(os.environ.get('SOURCE_DATE_EPOCH', '1704067200'))
FILE_MODE = 0o644
EXEC_MODE = 0o755        # shell scripts and directories
GZIP_LEVEL = 9           # the archive is built once and copied often: smallest wins
SKIPPED_DIRS = ('__pycache__', 'tests')   # caches and tests never go to the card


def walk_files(top):
    """Relative paths of the files under top, sorted, minus caches and hidden files."""
    found = []
    for base, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.startswith('.')]
        for name in files:
            if not name.startswith('.') and not name.endswith('.pyc'):
                found.append(os.path.relpath(os.path.join(base, name), top).replace(os.sep, '/'))
    return sorted(found)


def read_bytes(path):
    with open(path, 'rb') as f:
        return f.read()


def mpy_compile(mpy_cross, source_path, shown_name):
    """Bytecode of one module from mpy-cross; shown_name is what tracebacks print."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, 'module.mpy')
        argv = [mpy_cross, '-s', shown_name, '-o', out, source_path]
        try:
            subprocess.run(argv, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except subprocess.CalledProcessError as e:
            sys.exit('mpy-cross failed on %s:\n%s' % (source_path, e.stderr.decode(errors='replace')))
        return read_bytes(out)


def package_files(mpy_cross):
    """(archive path, bytes) of the server package; only its .py modules ship,
    compiled by the mpy_cross binary unless that is None.

    MicroPython loads a package's __main__.mpy for `-m` as it does any module,
    so --mpy compiles every module, __main__ included.
    """
    top = os.path.join(REPO, PACKAGE)
    for rel in walk_files(top):
        if not rel.endswith('.py'):
            continue
        path = os.path.join(top, rel)
        if mpy_cross:
            yield (PACKAGE_DEST + '/' + rel[:-3] + '.mpy',
                   mpy_compile(mpy_cross, path, PACKAGE + '/' + rel))
        else:
            yield PACKAGE_DEST + '/' + rel, read_bytes(path)


def tree_files(source, dest):
    for rel in walk_files(source):
        yield dest + '/' + rel, read_bytes(os.path.join(source, rel))


def payload_files(mpy_cross):
    """Every file of the payload as a sorted list of (archive path, bytes), manifest last."""
    files = list(package_files(mpy_cross))
    files += tree_files(os.path.join(REPO, 'www'), WWW_DEST)
    for rel in walk_files(PAYLOAD_DIR):
        if not rel.startswith(DEFAULTS_SOURCE + '/'):
            files.append((rel, read_bytes(os.path.join(PAYLOAD_DIR, rel))))
    files += tree_files(os.path.join(PAYLOAD_DIR, DEFAULTS_SOURCE), DEFAULTS_DEST)
    files.sort()
    manifest = ''.join('%s  %s\n' % (hashlib.sha256(data).hexdigest(), path) for path, data in files)
    files.append((MANIFEST_DEST, manifest.encode()))
    return files


def mode_of(path):
    return EXEC_MODE if path.endswith('.sh') else FILE_MODE


def parent_dirs(files):
    """Every directory the files sit in, parents first, sorted."""
    dirs = set()
    for path, _data in files:
        parts = path.split('/')[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add('/'.join(parts[:i]))
    return sorted(dirs)


def tar_gz_bytes(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode='w', format=tarfile.USTAR_FORMAT) as tar:
        entries = [(d, None) for d in parent_dirs(files)] + list(files)
        for path, data in sorted(entries, key=lambda entry: entry[0]):
            info = tarfile.TarInfo(path)
            info.mtime = FIXED_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = 'root'
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = EXEC_MODE
                tar.addfile(info)
            else:
                info.size = len(data)
                info.mode = mode_of(path)
                tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename='', mode='wb', fileobj=out, mtime=0,
                       compresslevel=GZIP_LEVEL) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def zip_bytes(files):
    out = io.BytesIO()
    stamp = tuple(time.gmtime(FIXED_MTIME)[:6])
    with zipfile.ZipFile(out, 'w') as archive:
        for path, data in files:
            info = zipfile.ZipInfo(path, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3      # unix, so the modes below apply
            info.external_attr = (0o100000 | mode_of(path)) << 16
            archive.writestr(info, data, compresslevel=GZIP_LEVEL)
    return out.getvalue()


def zip_path_for(tar_path):
    base = tar_path[:-len('.tar.gz')] if tar_path.endswith('.tar.gz') else tar_path
    return base + '.zip'


def built_mpy_cross():
    """mpy-cross 1.26.1 from tools/build-micropython.sh (built once, then cached)."""
    script = os.path.join(REPO, 'tools', 'build-micropython.sh')
    try:
        done = subprocess.run([script], check=True, stdout=subprocess.PIPE)
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit('--mpy needs mpy-cross 1.26.1: %s failed (%s); give --mpy-cross PATH' % (script, e))
    return os.path.join(done.stdout.decode().strip(), 'bin', 'mpy-cross')


def build(out, mpy_cross=None):
    """Write out (.tar.gz) and its .zip twin, compiled by mpy_cross if given; both paths."""
    files = payload_files(mpy_cross)
    zip_out = zip_path_for(out)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    for path, data in ((out, tar_gz_bytes(files)), (zip_out, zip_bytes(files))):
        with open(path, 'wb') as f:
            f.write(data)
    return out, zip_out


def main(argv):
    parser = argparse.ArgumentParser(description='Build the yihttpd SD-card payload.')
    parser.add_argument('--mpy', action='store_true',
                        help='precompile the package with mpy-cross (MicroPython only)')
    parser.add_argument('--mpy-cross', help='the mpy-cross 1.26.1 binary to use '
                        '(default: the one tools/build-micropython.sh builds)')
    parser.add_argument('--out', help='the .tar.gz to write; the .zip goes beside it '
                        '(default dist/yihttpd-sdcard[-mpy].tar.gz)')
    args = parser.parse_args(argv)
    out = args.out or (DEFAULT_OUT.replace('.tar.gz', '-mpy.tar.gz') if args.mpy else DEFAULT_OUT)
    mpy_cross = (args.mpy_cross or built_mpy_cross()) if args.mpy else None
    for path in build(out, mpy_cross):
        print(path)


if __name__ == '__main__':
    main(sys.argv[1:])

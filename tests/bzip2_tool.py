"""yihttpd's own bzip2 on whichever runtime runs this file (tests/test_bzip2.py).

    bzip2_tool.py pack|unpack IN OUT [IN OUT ...]

prints one line per pair: 'ok', or 'refused: <why>' when the reader refuses
the stream (Bzip2Error); any other exception ends the run with a traceback.
"""
import sys

from yihttpd import bzip2, compress

CHUNK = 4096


def pack(src_path, dst_path):
    """As save.sh writes its archive: compress.write_bzip2, smaller blocks when the heap is short."""
    def write(out, packer):
        with open(src_path, 'rb') as src:
            while True:
                data = src.read(CHUNK)
                if not data:
                    break
                out.write(packer.compress(data))
        out.write(packer.flush())
    compress.write_bzip2(dst_path, write)


def unpack(src_path, dst_path):
    with open(src_path, 'rb') as src:
        with open(dst_path, 'wb') as dst:
            reader = bzip2.Reader(src)
            while True:
                data = reader.read(CHUNK)
                if not data:
                    break
                dst.write(data)


def main(argv):
    work = pack if argv[1] == 'pack' else unpack
    for at in range(2, len(argv), 2):
        try:
            work(argv[at], argv[at + 1])
        except bzip2.Bzip2Error as err:
            print('refused: %s' % err)
            continue
        print('ok')


main(sys.argv)

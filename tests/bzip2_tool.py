"""yihttpd's own bzip2 on whichever runtime runs this file (tests/test_bzip2.py).

    bzip2_tool.py pack|unpack IN OUT [IN OUT ...]

prints one line per pair: 'ok', or 'refused: <why>' when the reader refuses
the stream (Bzip2Error); any other exception ends the run with a traceback.
"""
import sys

from yihttpd import bzip2, bzip2_writer

CHUNK = 4096


def pack(src, dst):
    writer = bzip2_writer.Writer()
    while True:
        data = src.read(CHUNK)
        if not data:
            break
        dst.write(writer.compress(data))
    dst.write(writer.flush())


def unpack(src, dst):
    reader = bzip2.Reader(src)
    while True:
        data = reader.read(CHUNK)
        if not data:
            break
        dst.write(data)


def main(argv):
    work = pack if argv[1] == 'pack' else unpack
    for at in range(2, len(argv), 2):
        with open(argv[at], 'rb') as src:
            with open(argv[at + 1], 'wb') as dst:
                try:
                    work(src, dst)
                except bzip2.Bzip2Error as err:
                    print('refused: %s' % err)
                    continue
        print('ok')


main(sys.argv)

"""bzip2 streams read by hand: MicroPython has no bz2, and the firmware's settings
backups (its save.sh, etc/defaults.tar.bz2) are bzip2. bzip2_writer.py writes them.

Made for settings archives, a few tens of KB, not for bzip2 at large. A block
may hold at most BLOCK_MAX symbols before its first run-length stage is undone
(a settings tar takes about its text's size, 10-60 KB); whatever level 1-9 the
header declares, a larger block is refused as soon as it passes that bound.
A block costs 2 bytes a symbol, held in 1 KiB pieces (no large contiguous
allocation, which a long-running small heap may not have), and its
output is produced as it is read, so memory stays bounded whatever the input
expands to. Every block CRC and the stream CRC are checked: read raises
Bzip2Error (a ValueError) for a corrupt stream, at the latest when it
reaches the end, so a reader that reads to b'' has taken nothing corrupt.
"""
import array
import binascii

STREAM_MAGIC = b'BZh'
LEVELS = b'123456789'
BLOCK_MAGIC = (0x314159, 0x265359)   # the 48-bit block and end markers, as 24-bit halves
END_MAGIC = (0x177245, 0x385090)
BLOCK_MAX = 65536        # symbols of one block: room for settings; indexes fit 16 bits
PIECE_BITS = 9           # a block is held in pieces of 512 entries (1 KiB)
PIECE = 1 << PIECE_BITS
PIECE_MASK = PIECE - 1
COARSE_BITS = 6          # one byte per 64 places of the sorted column says where to look
GROUP_SIZE = 50          # symbols coded with one Huffman table before the next selector
MIN_TABLES = 2
MAX_TABLES = 6
MAX_CODE_LENGTH = 20
FAST_BITS = 10           # codes up to this long are found with one table look-up
SELECTORS_MAX = BLOCK_MAX // GROUP_SIZE + 2   # a block of BLOCK_MAX symbols needs no more
RUNA = 0                 # the two symbols that spell a run of the front byte in base 2
RUNB = 1
INPUT_CHUNK = 1024       # compressed bytes read at a time, into one buffer
RUN_LENGTH = 4           # equal bytes after which the next byte counts more of them

# Each byte's bits reversed: bzip2's CRC is CRC-32 taken most significant bit
# first, which is binascii.crc32 (C) of the bytes with their bits reversed.
REVERSED = bytes(sum(((i >> b) & 1) << (7 - b) for b in range(8)) for i in range(256))


class Bzip2Error(ValueError):
    """The data is not a bzip2 stream this reader takes, or it is corrupt."""


def reverse32(n):
    """The 32 bits of n in reverse order."""
    r = REVERSED
    return r[n & 255] << 24 | r[n >> 8 & 255] << 16 | r[n >> 16 & 255] << 8 | r[n >> 24 & 255]


def combine(stream_crc, crc):
    """The stream CRC after one more block (rotated left one bit, then xor)."""
    return ((stream_crc << 1 | stream_crc >> 31) & 0xffffffff) ^ crc


class HuffmanTable:
    """Decoding of one canonical Huffman code, given each symbol's code length.

    fast[FAST_BITS-bit prefix] is symbol << 5 | length for codes up to
    FAST_BITS long, 0 otherwise; longer codes are found by length in
    first (first code), ends (first code past) and offset (into ordered).
    """

    def __init__(self, lengths):
        counts = [0] * (MAX_CODE_LENGTH + 1)
        for n in lengths:
            counts[n] += 1
        space = 1 << MAX_CODE_LENGTH
        for n in range(1, MAX_CODE_LENGTH + 1):
            space -= counts[n] << (MAX_CODE_LENGTH - n)
        if space < 0:
            raise Bzip2Error('a Huffman table has more codes than bits allow')
        self.ordered = []
        self.first = [0] * (MAX_CODE_LENGTH + 1)
        self.ends = [0] * (MAX_CODE_LENGTH + 1)
        self.offset = [0] * (MAX_CODE_LENGTH + 1)
        self.fast = array.array('H', bytes(2 << FAST_BITS))
        code = 0
        for n in range(1, MAX_CODE_LENGTH + 1):
            self.first[n] = code
            self.offset[n] = len(self.ordered)
            for symbol in range(len(lengths)):
                if lengths[symbol] == n:
                    self.ordered.append(symbol)
                    if n <= FAST_BITS:
                        spread = FAST_BITS - n
                        start = code << spread
                        for at in range(start, start + (1 << spread)):
                            self.fast[at] = symbol << 5 | n
                    code += 1
            self.ends[n] = code
            code <<= 1

    def slow(self, peek):
        """(symbol, length) of a code longer than FAST_BITS; peek holds the next 20 bits."""
        for n in range(FAST_BITS + 1, MAX_CODE_LENGTH + 1):
            code = peek >> (MAX_CODE_LENGTH - n)
            if code < self.ends[n]:
                return self.ordered[self.offset[n] + code - self.first[n]], n
        raise Bzip2Error('a Huffman code that the table does not have')


class Reader:
    """read(n) of the bytes a bzip2 stream in the file f holds (concatenated streams too)."""

    def __init__(self, f):
        self.f = f
        self.data = bytearray(INPUT_CHUNK)   # compressed bytes read: size of them, the next at
        self.size = 0
        self.at = 0
        self.bits = 0       # bits taken from data and not used yet: their value and count
        self.count = 0
        self.stream_crc = 0
        self.started = False
        self.ended = False
        self.left = 0       # block bytes still to walk
        self.repeat = 0     # copies of last still owed by a run count
        self.block = None   # the block being walked

    # bits in

    def _read_input(self):
        """Read more compressed bytes; False at the end of the input."""
        self.size = self.f.readinto(self.data) or 0
        self.at = 0
        return self.size > 0

    def _byte(self):
        if self.at == self.size and not self._read_input():
            raise Bzip2Error('the bzip2 stream is cut short')
        self.at += 1
        return self.data[self.at - 1]

    def _bits(self, n):
        """The next n bits (n at most 16) as a number."""
        count = self.count
        bits = self.bits
        while count < n:
            bits = bits << 8 | self._byte()
            count += 8
        count -= n
        self.count = count
        self.bits = bits & ((1 << count) - 1)
        return bits >> count

    def _bits24(self):
        return self._bits(12) << 12 | self._bits(12)

    def _bits32(self):
        return self._bits(16) << 16 | self._bits(16)

    def _at_end_of_input(self):
        if self.count:
            return False
        return self.at == self.size and not self._read_input()

    # stream and blocks

    def _start_stream(self):
        head = bytes(self._bits(8) for _ in range(4))
        if head[:3] != STREAM_MAGIC or head[3] not in LEVELS:
            raise Bzip2Error('not a bzip2 stream')
        self.stream_crc = 0

    def _next_block(self):
        """Read up to the next block's data; False after the last stream's end."""
        if not self.started:
            self.started = True
            self._start_stream()
        marker = (self._bits24(), self._bits24())
        if marker == BLOCK_MAGIC:
            self._read_block()
            return True
        if marker != END_MAGIC:
            raise Bzip2Error('a bzip2 block does not start where one should')
        if self._bits32() != self.stream_crc:
            raise Bzip2Error('the bzip2 stream CRC does not match')
        self._bits(self.count % 8)   # padding to the byte
        if self._at_end_of_input():
            return False
        self._start_stream()           # another stream follows (pbzip2, cat a.bz2 b.bz2)
        return self._next_block()

    def _read_block(self):
        self.expected_crc = self._bits32()
        if self._bits(1):
            raise Bzip2Error('randomised bzip2 blocks (bzip2 0.9.0) are not taken')
        origin = self._bits24()
        alphabet = self._symbol_map()
        tables = self._huffman_tables(len(alphabet) + 2)
        counts, length, block = self._symbols(alphabet, tables)
        if origin >= length:
            raise Bzip2Error('the bzip2 block origin is past its end')
        self._unsort(counts, length, block, origin)

    def _symbol_map(self):
        """The bytes the block uses, in order."""
        used = bytearray()
        groups = self._bits(16)
        for high in range(16):
            if groups & (0x8000 >> high):
                bits = self._bits(16)
                for low in range(16):
                    if bits & (0x8000 >> low):
                        used.append(high << 4 | low)
        if not used:
            raise Bzip2Error('a bzip2 block uses no byte')
        return used

    def _huffman_tables(self, size):
        """(tables, selectors): the block's Huffman tables and which codes each group of symbols."""
        count = self._bits(3)
        if not MIN_TABLES <= count <= MAX_TABLES:
            raise Bzip2Error('a bzip2 block has %d Huffman tables' % count)
        selectors = self._bits(15)
        if not selectors:
            raise Bzip2Error('a bzip2 block has no selector')
        if selectors > SELECTORS_MAX:
            raise Bzip2Error('a bzip2 block longer than %d bytes (%d selectors)' % (BLOCK_MAX, selectors))
        order = bytearray(range(count))
        chosen = bytearray(selectors)
        for s in range(selectors):
            j = 0
            while self._bits(1):
                j += 1
                if j == count:
                    raise Bzip2Error('a bzip2 selector names no table')
            table = order[j]
            order[1:j + 1] = order[0:j]
            order[0] = table
            chosen[s] = table
        tables = []
        for _ in range(count):
            lengths = bytearray(size)
            length = self._bits(5)
            for symbol in range(size):
                while True:
                    if not 1 <= length <= MAX_CODE_LENGTH:
                        raise Bzip2Error('a bzip2 code length out of range')
                    if not self._bits(1):
                        break
                    length += -1 if self._bits(1) else 1
                lengths[symbol] = length
            tables.append(HuffmanTable(lengths))
        return [tables[t] for t in chosen]

    def _symbols(self, front, groups):
        """Decode the block's symbols (Huffman, then runs and move-to-front) into
        pieces of bytes; (count of each byte, the block's length, the pieces)."""
        block = []
        counts = [0] * 256
        n = 0
        end = len(front) + 1         # the end-of-block symbol
        most = BLOCK_MAX
        run = 0                      # a run of the front byte being spelled, and its next digit
        digit = 1
        data = self.data
        size = self.size
        at = self.at
        bits = self.bits
        count = self.count
        group = -1
        left = 0
        while True:
            if not left:
                group += 1
                if group == len(groups):
                    raise Bzip2Error('a bzip2 block runs past its selectors')
                table = groups[group]
                fast = table.fast
                left = GROUP_SIZE
            left -= 1
            while count < MAX_CODE_LENGTH:
                if at == size:
                    if not self._read_input():
                        raise Bzip2Error('the bzip2 stream is cut short')
                    size = self.size
                    at = 0
                bits = (bits & ((1 << count) - 1)) << 8 | data[at]
                at += 1
                count += 8
            entry = fast[(bits >> (count - FAST_BITS)) & ((1 << FAST_BITS) - 1)]
            if entry:
                symbol = entry >> 5
                count -= entry & 31
            else:
                symbol, length = table.slow((bits >> (count - MAX_CODE_LENGTH)) & ((1 << MAX_CODE_LENGTH) - 1))
                count -= length
            if symbol <= RUNB:
                run += digit << symbol
                digit <<= 1
                if n + run > most:
                    raise Bzip2Error('a bzip2 block longer than %d bytes' % most)
                continue
            if run:
                n = self._fill(block, n, front[0], run)
                counts[front[0]] += run
                run = 0
                digit = 1
            if symbol == end:
                break
            if n == most:
                raise Bzip2Error('a bzip2 block longer than %d bytes' % most)
            j = symbol - 1
            if j >= len(front):
                raise Bzip2Error('a bzip2 symbol past the block\'s bytes')
            c = front[j]
            front[1:j + 1] = front[0:j]
            front[0] = c
            if not n & PIECE_MASK:
                block.append(array.array('H', bytes(2 * PIECE)))
            block[-1][n & PIECE_MASK] = c
            counts[c] += 1
            n += 1
        self.at = at
        self.count = count
        self.bits = bits & ((1 << count) - 1)
        return counts, n, block

    @staticmethod
    def _fill(block, n, c, run):
        """Put run copies of byte c at n in the pieces (doubling copies); the new length."""
        while run:
            if not n & PIECE_MASK:
                block.append(array.array('H', bytes(2 * PIECE)))
            piece = block[-1]
            at = n & PIECE_MASK
            m = min(run, PIECE - at)
            piece[at] = c
            done = 1
            while done < m:
                more = min(done, m - done)
                piece[at + done:at + done + more] = piece[at:at + more]
                done += more
            n += m
            run -= m
        return n

    def _unsort(self, counts, length, block, origin):
        """Undo the Burrows-Wheeler sort in place, as bzip2 -s does (2 bytes a
        symbol): each entry becomes where its byte goes in the sorted column,
        then the cycle from origin is turned round so that it leads from each
        byte to the next. A byte is then told by its place in the sorted
        column: coarse[p >> COARSE_BITS] and ends."""
        ends = [0] * 256
        total = 0
        for c in range(256):
            ends[c] = total
            total += counts[c]
        i = 0
        for piece in block:
            for x in range(min(PIECE, length - i)):
                c = piece[x]
                piece[x] = ends[c]
                ends[c] += 1
            i += PIECE
        # ends[c] is now where the bytes after c start in the sorted column
        i = origin
        j = block[i >> PIECE_BITS][i & PIECE_MASK]
        while True:
            following = block[j >> PIECE_BITS][j & PIECE_MASK]
            block[j >> PIECE_BITS][j & PIECE_MASK] = i
            i = j
            j = following
            if i == origin:
                break
        coarse = bytearray(((length - 1) >> COARSE_BITS) + 1)
        c = 0
        for b in range(len(coarse)):
            while ends[c] <= b << COARSE_BITS:
                c += 1
            coarse[b] = c
        self.block = block
        self.ends = ends
        self.coarse = coarse
        self.where = origin
        self.left = length
        self.last = -1
        self.same = 0
        self.crc = 0

    def _walk(self, size):
        """Up to size bytes of the block, in order, with the first run-length stage undone."""
        block = self.block
        ends = self.ends
        coarse = self.coarse
        p = self.where
        left = self.left
        last = self.last
        same = self.same
        out = bytearray(size)
        flipped = bytearray(size)
        k = 0
        while k < size:
            if self.repeat:
                m = min(self.repeat, size - k)
                out[k:k + m] = bytes((last,)) * m
                flipped[k:k + m] = bytes((REVERSED[last],)) * m
                k += m
                self.repeat -= m
                continue
            if not left:
                break
            c = coarse[p >> COARSE_BITS]
            while ends[c] <= p:
                c += 1
            p = block[p >> PIECE_BITS][p & PIECE_MASK]
            left -= 1
            if same == RUN_LENGTH:
                same = 0
                self.repeat = c
                continue
            if c == last:
                same += 1
            else:
                last = c
                same = 1
            out[k] = c
            flipped[k] = REVERSED[c]
            k += 1
        self.where = p
        self.left = left
        self.last = last
        self.same = same
        if k < size:
            out = out[:k]
            flipped = flipped[:k]
        self.crc = binascii.crc32(flipped, self.crc)
        return out

    def read(self, size):
        """Up to size bytes (fewer only at the end); b'' once the stream has ended, checked."""
        out = []
        got = 0
        while got < size and not self.ended:
            if not self.left and not self.repeat:
                if self.block is not None:
                    self._end_block()
                if not self._next_block():
                    self.ended = True
                    break
            chunk = self._walk(size - got)
            out.append(chunk)
            got += len(chunk)
        return b''.join(out)

    def close(self):
        """Let go of the block held (the input file is the caller's)."""
        self.block = None
        self.ends = None
        self.coarse = None

    def _end_block(self):
        if reverse32(self.crc) != self.expected_crc:
            raise Bzip2Error('a bzip2 block CRC does not match')
        self.stream_crc = combine(self.stream_crc, self.expected_crc)
        self.close()

"""gzip inflated by hand with its window in a file, for page files sent to a
client that does not take gzip.

MicroPython's deflate.DeflateIO takes a fresh 32 KiB window from the heap
for every stream. On a small heap no such block is free (at 256K, none
right after start; after a page load the largest free block measured 896
bytes), and an answer whose length was already promised was cut; even a
32 KiB window kept for good leaves a 256K heap too little to serve the
page. Here the window is a scratch file in --tmp-dir (RAM on the camera,
but not the heap), written as the output goes and read back for each copy
from further back than the output buffer. An Inflater holds its small
buffers and code tables for good and inflates one stream after another in
them: a read allocates nothing larger than a few words. Pure Python, one
code path on both runtimes; the firmware's page files are small (the
largest, jQuery, 87 KB). The gzip trailer (CRC-32 and length) is checked.
"""
import array
import binascii

from . import files

WINDOW = 32768             # deflate refers back at most this far: the window file's size
MAX_BITS = 15              # deflate's longest code
FAST_BITS = 9              # codes up to this long are found with one table look-up
INPUT_CHUNK = 512          # compressed bytes read at a time
LONGEST_MATCH = 258        # a copy may run this far past what a read asked for
END_OF_BLOCK = 256
LITERAL_CODES = 288
DISTANCE_CODES = 32
LENGTH_CODES = 19          # the code that codes the code lengths
LENGTH_BASE = (3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83,
               99, 115, 131, 163, 195, 227, 258)
LENGTH_EXTRA = (0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0)
DISTANCE_BASE = (1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025,
                 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577)
DISTANCE_EXTRA = (0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11,
                  12, 12, 13, 13)
LENGTHS_ORDER = (16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15)
FIXED_LITERALS = (8,) * 144 + (9,) * 112 + (7,) * 24 + (8,) * 8
FIXED_DISTANCES = (5,) * DISTANCE_CODES
GZIP_HEAD = b'\x1f\x8b\x08'   # magic, then the deflate method
FHCRC, FEXTRA, FNAME, FCOMMENT = 2, 4, 8, 16


class InflateError(ValueError):
    """The data is not gzip, or it is corrupt."""


class Code:
    """A canonical Huffman code read least significant bit first, as deflate sends it,
    in tables made once and filled again for each block (build).

    fast[next FAST_BITS bits] is symbol << 4 | length for short codes, 0
    otherwise; longer codes are walked one bit at a time (counts, symbols).
    """

    def __init__(self, size):
        self.counts = array.array('H', bytes(2 * (MAX_BITS + 1)))
        self.starts = array.array('H', bytes(2 * (MAX_BITS + 2)))
        self.symbols = array.array('H', bytes(2 * size))
        self.fast = array.array('H', bytes(2 << FAST_BITS))

    def build(self, lengths, size):
        """The code whose first size symbols have these lengths (0: no code)."""
        counts = self.counts
        starts = self.starts
        for n in range(MAX_BITS + 1):
            counts[n] = 0
        for s in range(size):
            counts[lengths[s]] += 1
        counts[0] = 0
        left = 1
        for n in range(1, MAX_BITS + 1):
            left = (left << 1) - counts[n]
            if left < 0:
                raise InflateError('a Huffman code with more codes than bits allow')
        starts[1] = 0
        for n in range(1, MAX_BITS + 1):
            starts[n + 1] = starts[n] + counts[n]
        for s in range(size):
            n = lengths[s]
            if n:
                self.symbols[starts[n]] = s
                starts[n] += 1
        fast = self.fast
        for entry in range(1 << FAST_BITS):
            fast[entry] = 0
        code = 0
        at = 0
        for n in range(1, FAST_BITS + 1):
            for _ in range(counts[n]):
                reversed_code = 0
                for b in range(n):
                    reversed_code |= ((code >> b) & 1) << (n - 1 - b)
                for entry in range(reversed_code, 1 << FAST_BITS, 1 << n):
                    fast[entry] = self.symbols[at] << 4 | n
                code += 1
                at += 1
            code <<= 1

    def slow(self, peek):
        """(symbol, length) of the code at the start of peek (MAX_BITS bits), one bit at a time."""
        code = first = index = 0
        for n in range(1, MAX_BITS + 1):
            code |= peek & 1
            peek >>= 1
            count = self.counts[n]
            if code - first < count:
                return self.symbols[index + code - first], n
            index += count
            first = (first + count) << 1
            code <<= 1
        raise InflateError('a Huffman code the block does not have')


class Inflater:
    """Inflates one gzip file at a time (start, then read, then release) in buffers it
    holds for good, with the stream's window in a scratch file of tmp_dir."""

    def __init__(self, chunk, tmp_dir):
        """chunk: the most a read gives."""
        self.tmp_dir = tmp_dir
        self.window = None
        self.input = bytearray(INPUT_CHUNK)
        self.input_view = memoryview(self.input)
        self.output = bytearray(chunk + LONGEST_MATCH)
        self.output_view = memoryview(self.output)
        self.lengths = bytearray(LITERAL_CODES + DISTANCE_CODES)
        self.literals = Code(LITERAL_CODES)
        self.distances = Code(DISTANCE_CODES)
        self.length_code = Code(LENGTH_CODES)
        self.fixed = False       # whether literals and distances hold the fixed codes
        self.f = None

    def start(self, f):
        """Inflate the gzip file f from here on."""
        path = files.temp_path(self.tmp_dir, 'inflate')
        self.window = files.create_new(path, True)
        files.remove_if_there(path)   # open, it stays usable; nothing is left behind
        self.f = f
        self.size = 0            # input bytes held, and the next one
        self.at = 0
        self.bits = 0
        self.count = 0
        self.total = 0           # bytes out so far (their last WINDOW are in the window)
        self.crc = 0
        self.state = 'head'      # head, block (a block header next), codes, stored, trailer, done
        self.last = False        # the block under way is the last
        self.stored = 0          # bytes left in a stored block
        self.surplus = 0         # bytes made past what the last read asked for
        self.asked = 0

    def busy(self):
        """Whether a stream is under way (from start until release)."""
        return self.f is not None

    def release(self):
        self.f = None
        if self.window is not None:
            self.window.close()
            self.window = None

    # bits in

    def _byte(self):
        if self.at == self.size:
            self.size = self.f.readinto(self.input)
            self.at = 0
            if not self.size:
                raise InflateError('the gzip stream is cut short')
        self.at += 1
        return self.input[self.at - 1]

    def _bits(self, n):
        """The next n bits (n at most 16), least significant first."""
        while self.count < n:
            self.bits |= self._byte() << self.count
            self.count += 8
        value = self.bits & ((1 << n) - 1)
        self.bits >>= n
        self.count -= n
        return value

    def _align(self):
        self._bits(self.count & 7)

    # gzip

    def _head(self):
        for expected in GZIP_HEAD:
            if self._bits(8) != expected:
                raise InflateError('not a gzip stream')
        flags = self._bits(8)
        for _ in range(6):       # time, extra flags, system
            self._bits(8)
        if flags & FEXTRA:
            for _ in range(self._bits(16)):
                self._bits(8)
        for flag in (FNAME, FCOMMENT):
            if flags & flag:
                while self._bits(8):
                    pass
        if flags & FHCRC:
            self._bits(16)

    def _trailer(self):
        self._align()
        crc = self._bits(16) | self._bits(16) << 16
        size = self._bits(16) | self._bits(16) << 16
        if crc != self.crc & 0xffffffff or size != self.total & 0xffffffff:
            raise InflateError('the gzip trailer does not match the data')

    # deflate

    def _block_head(self):
        self.last = self._bits(1)
        kind = self._bits(2)
        if kind == 0:
            self._align()
            size = self._bits(16)
            if self._bits(16) != size ^ 0xffff:
                raise InflateError('a stored block length does not match its complement')
            self.stored = size
            return 'stored'
        if kind == 1:
            if not self.fixed:
                self.literals.build(FIXED_LITERALS, LITERAL_CODES)
                self.distances.build(FIXED_DISTANCES, DISTANCE_CODES)
                self.fixed = True
        elif kind == 2:
            self._dynamic_codes()
        else:
            raise InflateError('a deflate block of reserved type 3')
        return 'codes'

    def _dynamic_codes(self):
        self.fixed = False
        literals = self._bits(5) + 257
        distances = self._bits(5) + 1
        count = self._bits(4) + 4
        lengths = self.lengths
        for i in range(LENGTH_CODES):
            lengths[i] = 0
        for i in range(count):
            lengths[LENGTHS_ORDER[i]] = self._bits(3)
        self.length_code.build(lengths, LENGTH_CODES)
        total = literals + distances
        i = 0
        while i < total:
            symbol = self._symbol(self.length_code)
            if symbol < 16:
                lengths[i] = symbol
                i += 1
                continue
            if symbol == 16:
                if not i:
                    raise InflateError('a repeated code length with none before it')
                value, repeat = lengths[i - 1], 3 + self._bits(2)
            elif symbol == 17:
                value, repeat = 0, 3 + self._bits(3)
            else:
                value, repeat = 0, 11 + self._bits(7)
            if i + repeat > total:
                raise InflateError('code lengths run past their count')
            for _ in range(repeat):
                lengths[i] = value
                i += 1
        if not lengths[END_OF_BLOCK]:
            raise InflateError('a block with no end-of-block code')
        self.literals.build(lengths, literals)
        self.distances.build(memoryview(lengths)[literals:total], distances)

    def _symbol(self, code):
        while self.count < MAX_BITS:
            self.bits |= self._byte() << self.count
            self.count += 8
        entry = code.fast[self.bits & ((1 << FAST_BITS) - 1)]
        if entry:
            symbol, n = entry >> 4, entry & 15
        else:
            symbol, n = code.slow(self.bits)
        self.bits >>= n
        self.count -= n
        return symbol

    def _codes(self, k, want):
        """Decode the block's symbols into output from k until it holds want bytes;
        (k, whether the block ended)."""
        out = self.output
        fast = self.literals.fast
        mask = (1 << FAST_BITS) - 1
        while k < want:
            while self.count < MAX_BITS:
                self.bits |= self._byte() << self.count
                self.count += 8
            entry = fast[self.bits & mask]
            if entry:
                symbol, n = entry >> 4, entry & 15
            else:
                symbol, n = self.literals.slow(self.bits)
            self.bits >>= n
            self.count -= n
            if symbol < END_OF_BLOCK:
                out[k] = symbol
                k += 1
                continue
            if symbol == END_OF_BLOCK:
                return k, True
            symbol -= 257
            if symbol >= len(LENGTH_BASE):
                raise InflateError('a length code past 285')
            length = LENGTH_BASE[symbol] + self._bits(LENGTH_EXTRA[symbol])
            symbol = self._symbol(self.distances)
            if symbol >= len(DISTANCE_BASE):
                raise InflateError('a distance code past 29')
            distance = DISTANCE_BASE[symbol] + self._bits(DISTANCE_EXTRA[symbol])
            if distance > self.total + k:
                raise InflateError('a distance back past the start')
            k = self._copy(k, distance, length)
        return k, False

    def _copy(self, k, distance, length):
        """length bytes from distance back (in the window, in the output, or both) to
        output at k; the new k. A copy that overlaps itself takes twice as much each time."""
        view = self.output_view
        source = self.total + k - distance
        while length:
            if source >= self.total:
                at = source - self.total
                n = min(length, k - at)
                view[k:k + n] = view[at:at + n]
            else:
                at = source % WINDOW
                n = min(length, self.total - source, WINDOW - at)
                self.window.seek(at)
                if self.window.readinto(view[k:k + n]) != n:
                    raise OSError('the inflate window file is short')
            k += n
            source += n
            length -= n
        return k

    def _stored(self, k, want):
        out = self.output
        while self.stored and k < want:
            if self.count:
                out[k] = self._bits(8)
                k += 1
                self.stored -= 1
                continue
            if self.at == self.size:
                self.size = self.f.readinto(self.input)
                self.at = 0
                if not self.size:
                    raise InflateError('the gzip stream is cut short')
            n = min(self.stored, self.size - self.at, want - k)
            self.output_view[k:k + n] = self.input_view[self.at:self.at + n]
            self.at += n
            k += n
            self.stored -= n
        return k, not self.stored

    def _remember(self, k):
        """output[:k] joins the window and the checks (CRC-32, length)."""
        made = self.output_view[:k]
        self.crc = binascii.crc32(made, self.crc)
        done = 0
        while done < k:
            at = self.total % WINDOW
            n = min(WINDOW - at, k - done)
            self.window.seek(at)
            self.window.write(made[done:done + n])
            done += n
            self.total += n

    def read(self, size):
        """Up to size bytes (at most the chunk given when made), as a view of the output
        buffer valid until the next read; empty only once the stream and its trailer are read."""
        if self.surplus:         # made last time, already in the window: moved to the front
            n = self.surplus
            view = self.output_view
            for at in range(0, n, self.asked):    # pieces that do not overlap their source
                step = min(self.asked, n - at)
                view[at:at + step] = view[self.asked + at:self.asked + at + step]
            self.surplus = 0
            return view[:n]
        k = 0
        while k < size and self.state not in ('trailer', 'done'):
            if self.state == 'head':
                self._head()
                self.state = 'block'
            elif self.state == 'block':
                self.state = self._block_head()
            else:
                k, ended = self._codes(k, size) if self.state == 'codes' else self._stored(k, size)
                if ended:
                    self.state = 'trailer' if self.last else 'block'
        self._remember(k)
        if self.state == 'trailer':
            self._trailer()
            self.state = 'done'
        if k > size:
            self.surplus = k - size
            self.asked = size
            k = size
        return self.output_view[:k]

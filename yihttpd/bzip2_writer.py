"""bzip2 streams written by hand, for the settings backup (save.sh) on both runtimes.

The full bzip2 pipeline, kept small: the first run-length stage, the
Burrows-Wheeler sort of blocks of at most BLOCK_SIZES bytes, move-to-front
with runs of the front byte spelled in base 2, then two to six Huffman
tables, as bzip2 itself chooses them. Every bzip2 reads the result (tested
against Debian's bzip2 -d and the firmware's busybox tar). Small blocks keep
the sort quick and small on the camera; a settings tar of 10-60 KB packs
to a few KB.
"""
import array
import binascii

from .bzip2 import (BLOCK_MAGIC, END_MAGIC, GROUP_SIZE, MAX_TABLES, REVERSED, RUN_LENGTH, RUNA,
                    RUNB, STREAM_MAGIC, combine, reverse32)

# Bytes of one block after the first run-length stage, largest first: the
# sort's arrays take 2 bytes a byte, each contiguous, and a long-used heap
# (512K too) may not have an 8 KiB block free; a MemoryError is met with the
# next size (compress.write_bzip2). The payload's settings pack to 2.27 KB
# in 4 KiB blocks, 2.66 in 2 KiB, 3.13 in 1 KiB, 3.80 in 512 B blocks
# (Debian's bzip2 -9: 2.06 KB): all far within the firmware's 10,000 bytes.
BLOCK_SIZES = (4096, 2048, 1024, 512)
LEVEL = b'1'            # the header's block size class: 100k, which every block here is below
LONGEST_RUN = 255       # bytes one run of the first stage holds (4 written, then a count)
CODE_LENGTH_LIMIT = 17  # longest code written (bzip2's own limit)
TABLE_PASSES = 4        # rounds of choosing a table per group, then fitting tables to groups
FAR_WEIGHT = 15         # cost of a symbol outside a table's first range, before the passes
GOLDEN = 0.618          # the order a group is sorted in is spread by this step (see _spread)


def huffman_lengths(freqs, limit):
    """Code lengths, at most limit long, for symbols with these counts (each at least 1 bit)."""
    import heapq
    weights = [max(f, 1) for f in freqs]
    size = len(weights)
    while True:
        # heap entries: weight << 10 | node; nodes below size are symbols
        heap = [w << 10 | i for i, w in enumerate(weights)]
        heapq.heapify(heap)
        parent = [0] * (2 * size)
        node = size
        while len(heap) > 1:
            a = heapq.heappop(heap)
            b = heapq.heappop(heap)
            parent[a & 1023] = node
            parent[b & 1023] = node
            heapq.heappush(heap, ((a >> 10) + (b >> 10)) << 10 | node)
            node += 1
        root = node - 1
        depth = [0] * (2 * size)
        for n in range(root - 1, -1, -1):
            depth[n] = depth[parent[n]] + 1
        lengths = depth[:size]
        if max(lengths) <= limit:
            return lengths
        weights = [1 + (w >> 1) for w in weights]


def canonical_codes(lengths):
    """The code of each symbol: by length, then by symbol, as bzip2 assigns them."""
    codes = [0] * len(lengths)
    code = 0
    for n in range(min(lengths), max(lengths) + 1):
        for symbol, length in enumerate(lengths):
            if length == n:
                codes[symbol] = code
                code += 1
        code <<= 1
    return codes


def _spread(n):
    """A step coprime with n near n times the golden ratio's part: visiting
    i * step % n orders a sorted list so that MicroPython's quicksort, which
    picks the last item as its pivot, takes n log n and not n squared."""
    step = max(1, int(n * GOLDEN))
    while _gcd(step, n) != 1:
        step += 1
    return step


def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def rotation_order(block):
    """Positions of the block's rotations in sorted order (prefix doubling:
    ranks of the first h bytes, then of 2h, re-sorting only groups still tied).
    Rotations that are wholly equal stay tied; any order of them is right."""
    n = len(block)
    order = _by_first_two(block)
    rank = array.array('H', bytes(2 * n))
    groups = array.array('H')    # (start, count) of each group still tied
    first = 0
    key = -1
    for x in range(n):
        i = order[x]
        k = block[i] << 8 | block[i + 1 - n]
        if k != key:
            if x - first > 1:
                groups.extend((first, x - first))
            first = x
            key = k
        rank[i] = first
    if n - first > 1:
        groups.extend((first, n - first))
    h = 2
    while groups and h < n:
        tied = array.array('H')
        for g in range(0, len(groups), 2):
            start = groups[g]
            count = groups[g + 1]
            if count == 2:          # the most common tie, settled without a sort
                _settle_pair(order, rank, start, h, n, tied)
                continue
            packed = []
            step = _spread(count)
            x = 0
            for _ in range(count):
                i = order[start + x]
                j = i + h
                packed.append(rank[j - n if j >= n else j] * n + i)
                x += step
                if x >= count:
                    x -= count
            packed.sort()
            _regroup(packed, order, rank, start, n, tied)
        groups = tied
        h <<= 1
    return order


def _settle_pair(order, rank, start, h, n, tied):
    """Re-sort a group of two rotations by their next h bytes' ranks."""
    a = order[start]
    b = order[start + 1]
    ka = rank[a + h - n if a + h >= n else a + h]
    kb = rank[b + h - n if b + h >= n else b + h]
    if ka == kb:
        tied.extend((start, 2))
        return
    if kb < ka:
        a, b = b, a
        order[start] = a
        order[start + 1] = b
    rank[a] = start
    rank[b] = start + 1


def _by_first_two(block):
    """Rotation positions sorted by their first two bytes (two counting sorts)."""
    n = len(block)
    by_second = _counting_sort(range(n), block[1:] + block[:1], n)
    return _counting_sort(by_second, block, n)


def _counting_sort(positions, byte_at, n):
    """positions, stably sorted by byte_at[position]."""
    starts = [0] * 256
    for c in byte_at:
        starts[c] += 1
    total = 0
    for c in range(256):
        starts[c], total = total, total + starts[c]
    out = array.array('H', bytes(2 * n))
    for i in positions:
        c = byte_at[i]
        out[starts[c]] = i
        starts[c] += 1
    return out


def _regroup(packed, order, rank, start, n, tied):
    """Write sorted packed keys (key * n + position) back to order from start.
    A position's rank becomes where its group of equal keys starts: still
    within its old group, so groups re-sorted later in the same round stay
    in order (Larsson and Sadakane). Groups of more than one go to tied."""
    first = 0
    key = -1
    for x in range(len(packed)):
        v = packed[x]
        i = v % n
        order[start + x] = i
        if v // n != key:
            if x - first > 1:
                tied.extend((start + first, x - first))
            first = x
            key = v // n
        rank[i] = start + first
    if len(packed) - first > 1:
        tied.extend((start + first, len(packed) - first))


class Writer:
    """compress(bytes) and flush() (zlib's compressobj interface) writing one bzip2 stream."""

    def __init__(self, block_size=BLOCK_SIZES[0]):
        self.block_size = block_size
        self.out = bytearray()
        self.acc = 0            # bits not yet written out, and their count
        self.count = 0
        self.block = bytearray()
        self.flipped = bytearray()   # the block's input, bits reversed, not yet in crc
        self.crc = 0
        self.stream_crc = 0
        self.run_byte = -1
        self.run = 0
        self.out.extend(STREAM_MAGIC + LEVEL)

    def compress(self, data):
        last = self.run_byte
        run = self.run
        block = self.block
        full = self.block_size - RUN_LENGTH - 1
        for c in data:
            if c == last and run < LONGEST_RUN:
                run += 1
                continue
            if run == 1 and len(block) < full:    # a lone byte, the most common case
                block.append(last)
                self.flipped.append(REVERSED[last])
            elif run:
                self.run_byte = last
                self.run = run
                self._end_run()
                block = self.block
            last = c
            run = 1
        self.run_byte = last
        self.run = run
        return self._taken()

    def flush(self):
        self._end_run()
        if self.block:
            self._write_block()
        self._put24(END_MAGIC[0])
        self._put24(END_MAGIC[1])
        self._put32(self.stream_crc)
        if self.count:
            self._put(8 - self.count, 0)
        return self._taken()

    def _taken(self):
        out = bytes(self.out)
        self.out = bytearray()
        return out

    def _end_run(self):
        """The run held goes into the block (4 bytes and a count past 4); a full block is written."""
        if not self.run:
            return
        c = self.run_byte
        self.block.extend(bytes((c,)) * min(self.run, RUN_LENGTH))
        if self.run >= RUN_LENGTH:
            self.block.append(self.run - RUN_LENGTH)
        self.flipped.extend(bytes((REVERSED[c],)) * self.run)
        if len(self.flipped) >= self.block_size:
            self.crc = binascii.crc32(self.flipped, self.crc)
            self.flipped = bytearray()
        self.run = 0
        self.run_byte = -1
        if len(self.block) > self.block_size - RUN_LENGTH - 1:
            self._write_block()

    # bits out

    def _put(self, n, value):
        """n bits (at most 20) of value."""
        acc = self.acc << n | value
        count = self.count + n
        while count >= 8:
            count -= 8
            self.out.append(acc >> count & 255)
        self.acc = acc & ((1 << count) - 1)
        self.count = count

    def _put24(self, value):
        self._put(12, value >> 12)
        self._put(12, value & 0xfff)

    def _put32(self, value):
        self._put(16, value >> 16)
        self._put(16, value & 0xffff)

    # a block

    def _write_block(self):
        block = self.block
        crc = reverse32(binascii.crc32(self.flipped, self.crc))
        self.block = bytearray()
        self.flipped = bytearray()
        self.crc = 0
        self.stream_crc = combine(self.stream_crc, crc)
        order = rotation_order(block)
        n = len(block)
        origin = 0
        last = bytearray(n)
        for x in range(n):
            i = order[x]
            if not i:
                origin = x
            last[x] = block[i - 1]
        del block, order
        used = sorted(set(last))
        symbols, freqs = self._move_to_front(last, used)
        del last
        self._put24(BLOCK_MAGIC[0])
        self._put24(BLOCK_MAGIC[1])
        self._put32(crc)
        self._put(1, 0)                  # not randomised
        self._put24(origin)
        self._put_symbol_map(used)
        self._put_coded(symbols, freqs)

    @staticmethod
    def _move_to_front(last, used):
        """The block's symbols after move-to-front (indexes into used) with runs
        of the front one spelled in RUNA/RUNB; and each symbol's count."""
        index = [0] * 256
        for j, c in enumerate(used):
            index[c] = j
        front = list(range(len(used)))
        end = len(used) + 1
        symbols = array.array('H')
        freqs = [0] * (end + 1)
        run = 0
        for c in last:
            j = index[c]
            if front[0] == j:
                run += 1
                continue
            if run:
                Writer._spell_run(run, symbols, freqs)
                run = 0
            k = front.index(j)
            front[1:k + 1] = front[0:k]
            front[0] = j
            symbols.append(k + 1)
            freqs[k + 1] += 1
        if run:
            Writer._spell_run(run, symbols, freqs)
        symbols.append(end)
        freqs[end] += 1
        return symbols, freqs

    @staticmethod
    def _spell_run(run, symbols, freqs):
        """A run of the front symbol in bijective base 2: RUNA is 1, RUNB 2, at each digit's weight."""
        run -= 1
        while True:
            digit = RUNB if run & 1 else RUNA
            symbols.append(digit)
            freqs[digit] += 1
            if run < 2:
                return
            run = (run - 2) >> 1

    def _put_symbol_map(self, used):
        groups = 0
        for c in used:
            groups |= 0x8000 >> (c >> 4)
        self._put(16, groups)
        for high in range(16):
            if groups & (0x8000 >> high):
                bits = 0
                for c in used:
                    if c >> 4 == high:
                        bits |= 0x8000 >> (c & 15)
                self._put(16, bits)

    def _put_coded(self, symbols, freqs):
        """Choose the tables, then write them, the selectors and the coded symbols."""
        size = len(freqs)
        groups = (len(symbols) + GROUP_SIZE - 1) // GROUP_SIZE
        tables = self._first_tables(freqs, len(symbols))
        for _ in range(TABLE_PASSES):
            chosen = bytearray(groups)
            counts = [[0] * size for _ in tables]
            for g in range(groups):
                part = symbols[g * GROUP_SIZE:(g + 1) * GROUP_SIZE]
                best = 0
                best_cost = -1
                for t, lengths in enumerate(tables):
                    cost = 0
                    for s in part:
                        cost += lengths[s]
                    if best_cost < 0 or cost < best_cost:
                        best = t
                        best_cost = cost
                chosen[g] = best
                for s in part:
                    counts[best][s] += 1
            tables = [huffman_lengths(c, CODE_LENGTH_LIMIT) for c in counts]
        self._put(3, len(tables))
        self._put(15, groups)
        order = bytearray(range(len(tables)))
        for t in chosen:
            j = order.find(bytes((t,)))
            self._put(j + 1, (1 << (j + 1)) - 2)    # j ones, then a zero
            order[1:j + 1] = order[0:j]
            order[0] = t
        for lengths in tables:
            self._put_lengths(lengths)
        codes = [canonical_codes(lengths) for lengths in tables]
        for g in range(groups):
            lengths = tables[chosen[g]]
            code = codes[chosen[g]]
            for s in symbols[g * GROUP_SIZE:(g + 1) * GROUP_SIZE]:
                self._put(lengths[s], code[s])

    @staticmethod
    def _first_tables(freqs, total):
        """bzip2's start: each table cheap for one range of symbols holding an equal share."""
        if total < 200:
            count = 2
        elif total < 600:
            count = 3
        elif total < 1200:
            count = 4
        elif total < 2400:
            count = 5
        else:
            count = MAX_TABLES
        tables = []
        low = 0
        left = total
        for t in range(count, 0, -1):
            share = left // t
            high = low
            taken = 0
            while taken < share and high < len(freqs):
                taken += freqs[high]
                high += 1
            lengths = [FAR_WEIGHT] * len(freqs)
            for s in range(low, high):
                lengths[s] = 0
            tables.append(lengths)
            low = high
            left -= taken
        return tables

    def _put_lengths(self, lengths):
        """Code lengths as bzip2 writes them: a start, then steps of one up or down per symbol."""
        length = lengths[0]
        self._put(5, length)
        for n in lengths:
            while length < n:
                self._put(2, 2)
                length += 1
            while length > n:
                self._put(2, 3)
                length -= 1
            self._put(1, 0)

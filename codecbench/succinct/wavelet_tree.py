"""Level-wise wavelet trees over prefix codes: ``wt_huff`` (canonical Huffman shape) and a
``wt_int``-like balanced tree (fixed-width codes), in numpy + numba.

Every symbol ``c`` has a prefix code of ``len[c]`` bits (MSB first). Level ``l`` holds one bit
per element whose code is longer than ``l``: bit ``l`` of its code. Elements appear on level
``l`` grouped by their ``l``-bit code prefix (a tree node), nodes in numeric prefix order,
elements in sequence order within a node. All levels are concatenated into one bit vector
with one rank/select directory (:mod:`codecbench.succinct.bit_vector`).

Why canonical codes: at every depth the codes that end there are numerically smaller than
every longer code's prefix, so the elements leaving the tree at depth ``d`` are exactly the
first ``E[d]`` elements of the depth-``d`` node order. A node's children therefore start at
``start - E[d]`` and ``start + zeros - E[d]`` on the next level, and the internal nodes of a
depth are the contiguous code range above its leaves. No pointers: a node is (depth, code).
The balanced shape is the same machinery with every code ``ceil(log2 sigma)`` bits long and
``code == symbol``.

Per query level we need rank at the node's start and end and at the query position. A small
*node rank table* (rank at every internal node's start, built at load time, 8 bytes per
internal node, only when there are at most ``NODE_TABLE_LIMIT`` of them) answers the first
two, so a level costs one bit-vector rank: one cache line of bits (the 512-bit block) plus
two small, usually cached directory entries. The levels form a chain of dependent cache
misses; ``access`` and ``rank`` prefetch the next level's candidate lines (the directory
bounds where the position can go) so that two levels share one memory latency.

``extract(start, stop)`` does not walk root-to-leaf per symbol: it moves the whole range down
level by level. At each level the range's elements form a few runs (one per node it meets);
each run's bits are read a word at a time and its elements stably split into the child runs
by iterating over the set bits (``tzcnt``), so memory access is sequential and no step
branches on a bit. Elements that reach a leaf are written to the output right away.
``access_many`` radix-sorts its positions and moves them down level by level the same way;
``rank_many`` sorts them and follows the one path of its symbol's code.

Serialized form (``build`` / ``load``; ``specs/wavelet-tree.md``): a 64-byte header
and 64-byte-aligned sections. ``load`` validates the buffer and returns one int64 *layout*
array (offsets, per-depth tables, per-level records, node rank table) that also holds the
buffer's address: kernels view the sections there (:mod:`codecbench.succinct.memory`, no
reference counting), so the caller must keep the buffer alive as long as the layout. The
single queries have entry points taking the layout's address (``access_at``, ``rank_at``):
from Python, integers are the cheapest arguments.
"""

from __future__ import annotations

import numba
import numpy as np

from codecbench.errors import CorruptDataError
from codecbench.succinct import bit_vector as bv
from codecbench.succinct import memory as mem
from codecbench.succinct.container import Header, pack_sections, read_sections, section_offsets
from codecbench.succinct.huffman_code import canonical, code_lengths, depth_tables

BALANCED, HUFFMAN = 0, 1
EXTRACT_BLOCK = 32768
NODE_TABLE_LIMIT = 1 << 20
MAX_SYMBOLS = 1 << 40
#: after the magic and version: shape, n, sigma, levels, select sample, n_bits, n_ones, n_present
HEADER = Header("wavelet-tree", b"CBWTREE\0", 1, "IQQIIQQQ")
ALIGN = 64
_BAD = -2  # kernels return this when bits contradict the tree's shape (corrupt input)

# layout array: scalars, section byte offsets/counts, then per-depth tables of stride L + 2
N, LEVELS, SHAPE, ONLY, NBITS, HAS_TABLE = 0, 1, 2, 3, 4, 5
O_BITS, O_SB, O_BLK, O_S1, O_S0, O_SYM = 6, 7, 8, 9, 10, 11
C_BITS, C_SB, C_BLK, C_S1, C_S0, C_SYM = 12, 13, 14, 15, 16, 17
ADDR, SIZE, SIGMA = 18, 19, 20  # the buffer's address (kernels view its sections there), len(layout)
LEVEL_RECORDS, NODE_TABLE = 21, 22  # where the per-level records and the node rank table start
CODE_TABLE = 23  # where symbol -> code * 64 + length starts (-1: no code); 0 if not built
CODE_TABLE_LIMIT = 1 << 12  # alphabets up to this size get the table; larger ones search
D0 = 24
T_LOFF, T_BASE1, T_ENDS, T_FCODE, T_COUNT, T_FIDX, T_TBASE = range(7)
N_TABLES = 7
# per-level record (one cache line) for the single queries: level lvl's offset and global rank
# at its start, where its nodes' ranks are (node table index = NODE + code), and about depth
# lvl + 1: codes below LEAVES are leaves, leaf symbol index = SYMBOL + code, the drop E[lvl + 1],
# the level's size and offset
R_OFF, R_BASE1, R_NODE, R_LEAVES, R_SYMBOL, R_DROP, R_NEXT_SIZE, R_NEXT_OFF = range(8)
RECORD = 8


# -- building ------------------------------------------------------------------------------
def build(symbols: np.ndarray, sigma: int, shape: int, max_code_length: int = 24) -> bytes:
    """Serialized wavelet tree of uint32 ``symbols`` over ``[0, sigma)``."""
    symbols = np.ascontiguousarray(symbols, dtype=np.uint32)
    n = symbols.size
    if shape == BALANCED:
        width = (sigma - 1).bit_length()
        codes = lengths = np.zeros(0, dtype=np.int64)
        level_sizes = np.full(width, n, dtype=np.int64)
        count = np.zeros(width + 1, dtype=np.uint64)  # implied by the shape; not stored
        sorted_symbols = np.zeros(0, dtype=np.uint32)
    else:
        present, freqs = np.unique(symbols, return_counts=True)
        if present.size > 1:
            max_code_length = max(max_code_length, int(present.size - 1).bit_length())
        lengths_present = code_lengths(freqs, max_code_length)
        code = canonical(lengths_present)
        # canonical() numbers the present symbols 0..p-1; map back to the real symbol values
        sorted_symbols = present[code.sorted_symbols].astype(np.uint32)
        count = code.count
        if present.size == 1:  # one leaf and no levels: "n times this symbol"
            sorted_symbols, count = present.astype(np.uint32), np.ones(1, dtype=np.uint64)
        width = code.max_length
        codes, lengths = code.codes.astype(np.int64), code.lengths.astype(np.int64)
        level_sizes = np.array([int(freqs[lengths_present > lvl].sum()) for lvl in range(width)], dtype=np.int64)
        symbols = _present_index(symbols, present)
    level_off = np.zeros(width + 1, dtype=np.uint64)
    level_off[1:] = np.cumsum(level_sizes)
    n_bits = int(level_off[-1])
    bits = np.zeros((n_bits + 63) // 64, dtype=np.uint64)
    if width:
        _build_levels(symbols, shape == BALANCED, codes, lengths, width, level_off.astype(np.int64), bits)
    sb_abs, blk_rel = bv.build_rank(bits, n_bits)
    samples1, samples0 = bv.build_select(bits, n_bits, sb_abs, blk_rel)
    arrays = {
        "level_off": level_off, "count": count, "bits": bits, "sb_abs": sb_abs, "blk_rel": blk_rel,
        "samples1": samples1, "samples0": samples0, "sorted_symbols": sorted_symbols,
    }  # fmt: skip
    header = HEADER.pack(shape, n, sigma, width, int(samples1[0]), n_bits, int(sb_abs[-1]), sorted_symbols.size)
    parts = []
    for name, dtype, size in sections(shape, width, n_bits, int(sb_abs[-1]), int(samples1[0]), sorted_symbols.size):
        arr = np.ascontiguousarray(arrays[name], dtype=dtype)
        assert arr.size == size, (name, arr.size, size)
        parts.append(arr.tobytes())
    return pack_sections(header, parts, ALIGN)


def _present_index(symbols: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Each symbol's index among the sorted ``present`` symbols (a lookup table when the
    largest symbol is small, which is faster than a binary search per symbol)."""
    top = int(present[-1]) if present.size else 0
    if top < 1 << 24:
        table = np.zeros(top + 1, dtype=np.uint32)
        table[present] = np.arange(present.size, dtype=np.uint32)
        return table[symbols]
    return np.searchsorted(present, symbols).astype(np.uint32)


def sections(
    shape: int, levels: int, n_bits: int, n_ones: int, sample: int, n_present: int
) -> list[tuple[str, str, int]]:
    """``(name, dtype, count)`` of every section, in order; all sizes follow from the header."""
    out = [("level_off", "<u8", levels + 1)]
    if shape == HUFFMAN:
        out.append(("count", "<u8", levels + 1))
    out += [
        ("bits", "<u8", (n_bits + 63) // 64),
        ("sb_abs", "<u8", (n_bits + bv.SUPERBLOCK_BITS - 1) // bv.SUPERBLOCK_BITS + 1),
        ("blk_rel", "<u2", (n_bits + bv.BLOCK_BITS - 1) // bv.BLOCK_BITS + 1),
        ("samples1", "<u8", (n_ones + sample - 1) // sample + 2),
        ("samples0", "<u8", (n_bits - n_ones + sample - 1) // sample + 2),
    ]
    if shape == HUFFMAN:
        out.append(("sorted_symbols", "<u4", n_present))
    return out


@numba.njit(forceinline=True)
def _left_aligned_code(c, balanced, codes, lengths, width):
    """Symbol ``c``'s code, shifted to fill ``width`` bits, and its length."""
    if balanced:
        return np.uint64(c), np.int64(width)
    length = lengths[c]
    return np.uint64(codes[c]) << np.uint64(width - length), np.int64(length)


@numba.njit(cache=True, nogil=True)
def _build_levels(symbols, balanced, codes, lengths, width, level_off, bits):
    """Set the level bits of the tree in ``bits``. ``symbols`` index ``codes``/``lengths``
    (Huffman shape) or are the codes themselves (balanced, ``width`` bits each). The sequence
    of a level is the previous one stably partitioned per node by the previous level's bit,
    less the symbols whose code ended there. Per level two sequential passes: the first
    writes the bits and counts per node the zeros and ones that go on; the second scatters
    them (per node, zeros then ones). No branch depends on a bit (they are data, and
    unpredictable): bits are OR-ed in, leaf symbols are written to a sink slot."""
    m = symbols.shape[0]
    cur = np.empty(m + 1, dtype=symbols.dtype)
    cur[:m] = symbols
    nxt = np.empty(m + 1, dtype=symbols.dtype)
    sink = m
    kept = np.empty((m + 1) * 2, dtype=np.int64)  # per node: zeros, ones kept for the next level
    one = np.uint64(1)
    for lvl in range(width):
        off = level_off[lvl]
        bit_shift = np.uint64(width - 1 - lvl)
        node_shift = np.uint64(width - lvl) if lvl else np.uint64(63)
        node = -1
        prev = np.uint64(0)
        zc = 0
        oc = 0
        acc = np.uint64(0)
        for j in range(m):
            c = cur[j]
            key, length = _left_aligned_code(c, balanced, codes, lengths, width)
            prefix = key >> node_shift if lvl else np.uint64(0)
            if node < 0 or prefix != prev:
                if node >= 0:
                    kept[2 * node] = zc
                    kept[2 * node + 1] = oc
                node += 1
                zc = 0
                oc = 0
                prev = prefix
            b = (key >> bit_shift) & one
            pos = off + j
            acc |= b << np.uint64(pos & 63)  # no branch on the bit: the bits are data
            if (pos & 63) == 63:
                bits[pos >> 6] |= acc
                acc = np.uint64(0)
            keep = np.int64(length > lvl + 1)
            oc += keep * np.int64(b)
            zc += keep * (1 - np.int64(b))
        if m:
            bits[(off + m - 1) >> 6] |= acc
            kept[2 * node] = zc
            kept[2 * node + 1] = oc
        node = -1
        w = 0
        z = 0
        o = 0
        for j in range(m):
            c = cur[j]
            key, length = _left_aligned_code(c, balanced, codes, lengths, width)
            prefix = key >> node_shift if lvl else np.uint64(0)
            if node < 0 or prefix != prev:
                node += 1
                prev = prefix
                z = w
                o = w + kept[2 * node]
                w = o + kept[2 * node + 1]
            b = np.int64((key >> bit_shift) & one)
            keep = np.int64(length > lvl + 1)
            target = z + b * (o - z)
            nxt[sink + keep * (target - sink)] = c  # a symbol whose code ends here goes to the sink
            z += keep * (1 - b)
            o += keep * b
        cur, nxt = nxt, cur
        m = w


# -- loading and validation ------------------------------------------------------------------
def _bad(message: str) -> CorruptDataError:
    return CorruptDataError(f"wavelet-tree: {message}")


def load(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate a serialized tree; returns ``(data, layout)`` for the query kernels.

    ``data`` must be a uint8 array whose first byte is 8-aligned. Every size is checked
    against the buffer, the code table for consistency, and the rank/select directories are
    recomputed and compared (a hostile directory would send the kernels out of bounds).
    The layout refers to ``data`` by address: keep ``data`` alive while it is used.
    """
    shape, n, sigma, levels, sample, n_bits, n_ones, n_present = HEADER.unpack(data)
    if shape not in (BALANCED, HUFFMAN):
        raise _bad(f"unknown shape {shape}")
    if not 1 <= sigma <= 2**32 or n > MAX_SYMBOLS or levels > 32:
        raise _bad(f"header out of range (n={n}, sigma={sigma}, levels={levels})")
    if sample < 64 or sample & (sample - 1) or n_ones > n_bits or n_bits > n * levels:
        raise _bad(f"inconsistent sizes (sample={sample}, n_bits={n_bits}, n_ones={n_ones})")
    if shape == BALANCED and (levels != (sigma - 1).bit_length() or n_present):
        raise _bad(f"a balanced tree over {sigma} symbols has {(sigma - 1).bit_length()} levels, not {levels}")
    if shape == HUFFMAN and n_present > min(sigma, n):
        raise _bad(f"{n_present} coded symbols for n={n}, sigma={sigma}")
    layout_sections = sections(shape, levels, n_bits, n_ones, sample, n_present)
    sizes = [(name, size * np.dtype(dtype).itemsize) for name, dtype, size in layout_sections]
    raw = read_sections(data, HEADER.size, sizes, _bad, ALIGN)
    offsets, _ = section_offsets(HEADER.size, sizes, ALIGN)
    found = {name: (offsets[name], size) for name, _, size in layout_sections}  # (offset, elements)

    def view(name: str, dtype: str) -> np.ndarray:
        return raw[name].view(dtype)

    raw_off = view("level_off", "<u8")
    raw_count = view("count", "<u8") if shape == HUFFMAN else np.zeros(levels + 1, np.uint64)
    # check in unsigned arithmetic first: values >= 2**63 would turn negative as int64
    if int(raw_off.max()) > n_bits or (raw_count.size and int(raw_count.max()) > n_present):
        raise _bad("level offsets or code counts exceed the header's totals")
    level_off = raw_off.astype(np.int64)
    count = raw_count.astype(np.int64)
    symbols = view("sorted_symbols", "<u4") if shape == HUFFMAN else np.zeros(0, np.uint32)
    _check_levels(level_off, shape, n, n_bits)
    if shape == HUFFMAN:
        _check_code(count, symbols, levels, sigma, n)
    bits, sb_abs, blk_rel = view("bits", "<u8"), view("sb_abs", "<u8"), view("blk_rel", "<u2")
    samples1, samples0 = view("samples1", "<u8"), view("samples0", "<u8")
    if n_bits % 64 and int(bits[-1]) >> (n_bits % 64):
        raise _bad("padding bits after the last level are not zero")
    sb2, blk2 = bv.build_rank(bits, n_bits)
    if int(sb2[-1]) != n_ones or not (np.array_equal(sb2, sb_abs) and np.array_equal(blk2, blk_rel)):
        raise _bad("rank directory does not match the bits")
    s1, s0 = bv.build_select(bits, n_bits, sb2, blk2, sample)
    if not (np.array_equal(s1, samples1) and np.array_equal(s0, samples0)):
        raise _bad("select samples do not match the bits")

    first_code, count_d, first_index = _depth_tables(count, levels, shape)
    sizes = np.diff(level_off)
    padded = np.concatenate([[n], sizes, [0]])
    ends = np.zeros(levels + 2, dtype=np.int64)
    ends[: levels + 1] = padded[:-1] - padded[1:]
    base1 = np.array([bv.rank1(bits, sb_abs, blk_rel, int(o)) for o in level_off], dtype=np.int64)
    only = int(symbols[0]) if levels == 0 and symbols.size else 0
    stride = levels + 2
    internal = [(1 << d) - int(first_code[d] + count_d[d]) for d in range(levels)]
    table_size = sum(internal) + levels
    has_table = levels > 0 and table_size <= NODE_TABLE_LIMIT
    records = D0 + N_TABLES * stride
    node_table = records + RECORD * levels
    code_table = node_table + (table_size if has_table else 0)
    codes = _code_table(count_d, symbols, first_code, first_index, sigma) if shape == HUFFMAN else None
    lay = np.zeros(code_table + (sigma if codes is not None else 0), dtype=np.int64)
    lay[[N, LEVELS, SHAPE, ONLY, NBITS, HAS_TABLE]] = [n, levels, shape, only, n_bits, int(has_table)]
    lay[ADDR], lay[SIZE], lay[SIGMA] = data.ctypes.data, lay.size, sigma
    lay[LEVEL_RECORDS], lay[NODE_TABLE] = records, node_table
    if codes is not None:
        lay[CODE_TABLE] = code_table
        lay[code_table:] = codes
    slots = ((O_BITS, "bits"), (O_SB, "sb_abs"), (O_BLK, "blk_rel"), (O_S1, "samples1"), (O_S0, "samples0"),
             (O_SYM, "sorted_symbols"))  # fmt: skip
    for slot, name in slots:
        offset, size = found.get(name, (0, 0))
        lay[slot] = offset
        lay[slot + (C_BITS - O_BITS)] = size
    for t, values in ((T_LOFF, level_off), (T_BASE1, base1), (T_ENDS, ends), (T_FCODE, first_code),
                      (T_COUNT, count_d), (T_FIDX, first_index)):  # fmt: skip
        lay[D0 + t * stride : D0 + t * stride + values.size] = values
    if has_table:
        tbase = np.zeros(levels + 1, dtype=np.int64)
        tbase[1:] = np.cumsum(np.array(internal, dtype=np.int64) + 1)
        lay[D0 + T_TBASE * stride : D0 + T_TBASE * stride + levels + 1] = tbase
        if _fill_node_table(lay) != 0:
            raise _bad("bits contradict the tree's shape")
    _fill_level_records(lay, levels, level_off, base1, ends, first_code, count_d, first_index)
    return data, lay


def _code_table(
    count: np.ndarray, symbols: np.ndarray, first_code: np.ndarray, first_index: np.ndarray, sigma: int
) -> np.ndarray | None:
    """symbol -> code * 64 + length (-1 if absent) for small alphabets, so rank and select
    find a code with one load instead of a binary search per code length."""
    if sigma > CODE_TABLE_LIMIT:
        return None
    length = np.repeat(np.arange(count.size, dtype=np.int64), count)
    code = first_code[length] + np.arange(symbols.size, dtype=np.int64) - first_index[length]
    table = np.full(sigma, -1, dtype=np.int64)
    # a symbol listed twice (possible in a hostile table) keeps its shortest code, as the search does
    present, first = np.unique(symbols.astype(np.int64), return_index=True)
    table[present] = code[first] * 64 + length[first]
    return table


def _fill_level_records(lay: np.ndarray, levels: int, level_off: np.ndarray, base1: np.ndarray, ends: np.ndarray,
                        first_code: np.ndarray, count: np.ndarray, first_index: np.ndarray) -> None:  # fmt: skip
    stride = levels + 2
    for lvl in range(levels):
        at = lay[LEVEL_RECORDS] + RECORD * lvl
        first_internal = first_code[lvl] + count[lvl]
        node = lay[NODE_TABLE] + lay[D0 + T_TBASE * stride + lvl] - first_internal
        depth = lvl + 1
        next_size = level_off[depth + 1] - level_off[depth] if depth < levels else 0
        lay[at : at + RECORD] = [level_off[lvl], base1[lvl], node, first_code[depth] + count[depth],
                                 first_index[depth] - first_code[depth], ends[depth], next_size, level_off[depth]]  # fmt: skip


def _depth_tables(count: np.ndarray, levels: int, shape: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per depth: first canonical code, number of codes, index of the first in sorted_symbols.
    For the balanced shape every code is ``levels`` bits long and equals its symbol."""
    if shape == BALANCED:
        count = np.zeros(levels + 1, dtype=np.int64)
        count[levels] = 1 << levels
    count = count.astype(np.int64)
    first_code, first_index = depth_tables(count)
    return first_code, count, first_index


def _check_levels(level_off: np.ndarray, shape: int, n: int, n_bits: int) -> None:
    sizes = np.diff(level_off)
    if level_off[0] != 0 or level_off[-1] != n_bits or np.any(sizes < 0):
        raise _bad("level offsets are not ascending from 0 to n_bits")
    if shape == BALANCED and np.any(sizes != n):
        raise _bad("a balanced tree has n bits on every level")
    if shape == HUFFMAN and sizes.size and (sizes[0] != n or np.any(np.diff(sizes) > 0)):
        raise _bad("Huffman levels must start with n bits and never grow")


def _check_code(count: np.ndarray, symbols: np.ndarray, levels: int, sigma: int, n: int) -> None:
    if int(count.sum()) != symbols.size:
        raise _bad("code table counts do not add up to its symbols")
    if levels == 0:
        if symbols.size != min(n, 1) or (symbols.size and count[0] != 1):
            raise _bad("a tree without levels codes exactly one symbol")
    else:
        if count[0] != 0 or count[levels] == 0:
            raise _bad("code lengths out of range")
        kraft = sum(int(c) << (levels - d) for d, c in enumerate(count.tolist()))
        if kraft != 1 << levels:
            raise _bad("code table is not a complete prefix code")
    if symbols.size and int(symbols.max()) >= sigma:
        raise _bad("code table names a symbol outside the alphabet")
    start = 0
    for c in count.tolist():
        block = symbols[start : start + c].astype(np.int64)
        if block.size > 1 and np.any(np.diff(block) <= 0):
            raise _bad("code table symbols are not ascending within a length")
        start += c


# -- kernel helpers --------------------------------------------------------------------------
# Kernels view the buffer's sections at lay[ADDR] (memory.array_at: no reference counting, see
# codecbench.succinct.memory); whoever holds the layout keeps the buffer alive.
# Helpers are inlined by LLVM (forceinline), not by numba's IR inliner (inline="always"), which
# retypes every inlined body at every call site: opening a sequence (it compiles access_at and
# rank_at) took 18.0 s with the IR inliner and 13.3 s now. Query speed measured the same (access,
# rank, select, extract), except the balanced shape's access_many, about 12 % lower (10.3/9.9 ->
# 8.4/8.9 M/s in two A/B runs of bench.codecs, gaussian256, 4M symbols).
@numba.njit(forceinline=True)
def _section(lay, slot, dtype):
    return mem.array_at(lay[ADDR] + lay[slot], lay[slot + (C_BITS - O_BITS)], dtype)


@numba.njit(forceinline=True)
def _arrays(lay):
    return _section(lay, O_BITS, np.uint64), _section(lay, O_SB, np.uint64), _section(lay, O_BLK, np.uint16)


@numba.njit(forceinline=True)
def _layout_at(address):
    """The layout array at ``address`` (its length is stored in its SIZE slot)."""
    return mem.array_at(address, mem.array_at(address + 8 * SIZE, 1, np.int64)[0], np.int64)


@numba.njit(forceinline=True)
def _t(lay, table, depth):
    return lay[D0 + table * (lay[LEVELS] + 2) + depth]


@numba.njit(forceinline=True)
def _r1(bits, sb, blk, lay, lvl, p):
    """Ones among the first p bits of level lvl."""
    return bv.rank1(bits, sb, blk, _t(lay, T_LOFF, lvl) + p) - _t(lay, T_BASE1, lvl)


@numba.njit(forceinline=True)
def _rank_fwd(bits, sb, blk, g0, r0, g):
    """Global rank1(g) given r0 = rank1(g0) and g >= g0: popcount the words between when they
    are few (ascending queries then read memory sequentially), else ask the directory."""
    if g - g0 > 1024:
        return bv.rank1(bits, sb, blk, g)
    w0 = g0 >> 6
    w1 = g >> 6
    if w0 == w1:
        if g == g0:
            return r0
        x = bits[w0] >> np.uint64(g0 & 63)
        return r0 + bv.popcount64(x & ((np.uint64(1) << np.uint64(g - g0)) - np.uint64(1)))
    r = r0 + bv.popcount64(bits[w0] >> np.uint64(g0 & 63))
    for w in range(w0 + 1, w1):
        r += bv.popcount64(bits[w])
    if g & 63:
        r += bv.popcount64(bits[w1] & ((np.uint64(1) << np.uint64(g & 63)) - np.uint64(1)))
    return r


@numba.njit(forceinline=True)
def _node_r1(bits, sb, blk, lay, lvl, code, s, e):
    """Level ranks at a node's start and end: from the node table, else two rank queries."""
    if lay[HAS_TABLE]:
        i = lay[NODE_TABLE] + _t(lay, T_TBASE, lvl) + code - (_t(lay, T_FCODE, lvl) + _t(lay, T_COUNT, lvl))
        return lay[i], lay[i + 1]
    return _r1(bits, sb, blk, lay, lvl, s), _r1(bits, sb, blk, lay, lvl, e)


@numba.njit(forceinline=True)
def _is_leaf(lay, code, depth):
    return code < _t(lay, T_FCODE, depth) + _t(lay, T_COUNT, depth)


@numba.njit(forceinline=True)
def _leaf_symbol(lay, code, depth):
    if lay[SHAPE] == 0:
        return code
    j = _t(lay, T_FIDX, depth) + code - _t(lay, T_FCODE, depth)
    return np.int64(_section(lay, O_SYM, np.uint32)[j])


@numba.njit(forceinline=True)
def _level_size(lay, depth):
    if depth >= lay[LEVELS]:
        return np.int64(0)
    return _t(lay, T_LOFF, depth + 1) - _t(lay, T_LOFF, depth)


@numba.njit(forceinline=True)
def _child(s, e, p, r1s, r1e, r1p, b):
    """(start, end, position) of the child b of node [s, e) and of position p, before the
    ended codes are dropped. Positions are on the same level's coordinates."""
    r0s = s - r1s
    z = (e - s) - (r1e - r1s)
    if b == 0:
        return s, s + z, s + (p - r1p) - r0s
    return s + z, e, s + z + (r1p - r1s)


@numba.njit(cache=True, nogil=True)
def _fill_node_table(lay):
    """Rank at every internal node's start (plus a sentinel per depth), depth by depth."""
    bits, sb, blk = _arrays(lay)
    levels = lay[LEVELS]
    tab = lay[NODE_TABLE]
    starts = np.zeros(1, dtype=np.int64)
    for d in range(levels):
        first_internal = _t(lay, T_FCODE, d) + _t(lay, T_COUNT, d)
        count = starts.shape[0]
        base = tab + _t(lay, T_TBASE, d)
        size = _level_size(lay, d)
        for j in range(count):
            if starts[j] < 0 or starts[j] > size:
                return _BAD
            lay[base + j] = _r1(bits, sb, blk, lay, d, starts[j])
        lay[base + count] = _r1(bits, sb, blk, lay, d, size)
        if d + 1 == levels:
            break
        next_first = _t(lay, T_FCODE, d + 1) + _t(lay, T_COUNT, d + 1)
        next_count = (np.int64(1) << (d + 1)) - next_first
        nxt = np.zeros(next_count, dtype=np.int64)
        drop = _t(lay, T_ENDS, d + 1)
        for j in range(count):
            s = starts[j]
            e = starts[j + 1] if j + 1 < count else size
            code = first_internal + j
            for b in range(2):
                child = code * 2 + b
                if child >= next_first:
                    cs, _, _ = _child(s, e, s, lay[base + j], lay[base + j + 1], lay[base + j], b)
                    nxt[child - next_first] = cs - drop
        starts = nxt
    return 0


@numba.njit(cache=True, nogil=True)
def _lookup(lay, c):
    """(code, length) of symbol c; length -1 if c has no code (absent from the sequence).
    Canonical order sorts symbols within each length, so one binary search per length."""
    levels = lay[LEVELS]
    if lay[SHAPE] == 0:
        return np.int64(c), levels
    if lay[CODE_TABLE]:
        entry = lay[lay[CODE_TABLE] + c]
        return (entry >> 6, entry & 63) if entry >= 0 else (np.int64(0), np.int64(-1))
    symbols = _section(lay, O_SYM, np.uint32)
    for depth in range(levels + 1):
        lo = _t(lay, T_FIDX, depth)
        hi = lo + _t(lay, T_COUNT, depth)
        if hi == lo:
            continue
        j = lo + np.searchsorted(symbols[lo:hi], np.uint32(c))
        if j < hi and symbols[j] == c:
            return _t(lay, T_FCODE, depth) + (j - lo), np.int64(depth)
    return np.int64(0), np.int64(-1)


# -- single queries --------------------------------------------------------------------------
# The single queries read the per-level records and index with unsigned integers, so each
# level compiles to a few dozen instructions around its one cache miss.
@numba.njit(forceinline=True)
def _rank1(bits, sb, blk, pos):
    """Global rank1(pos), without a branch: the directory entries plus the masked popcounts
    of the whole 512-bit block, which is one cache line. Words past pos (even past the bits)
    are masked out; they are in the buffer, since other sections follow the bits."""
    u = np.uint64(pos)
    r = np.int64(sb[u >> np.uint64(bv.SUPERBLOCK_SHIFT)]) + np.int64(blk[u >> np.uint64(bv.BLOCK_SHIFT)])
    first = (u >> np.uint64(bv.BLOCK_SHIFT)) << np.uint64(3)
    at = (u >> np.uint64(6)) & np.uint64(7)
    partial = (np.uint64(1) << (u & np.uint64(63))) - np.uint64(1)
    for k in range(8):
        word = bits[first + np.uint64(k)]
        mask = ~np.uint64(0) if np.uint64(k) < at else (partial if np.uint64(k) == at else np.uint64(0))
        r += bv.popcount64(word & mask)
    return r


@numba.njit(forceinline=True)
def _rank_bounds(sb, blk, lay, rec, lo, hi):
    """Bounds on r1 (level-relative) at any position in [lo, hi] of the record's level from
    the directory alone (small, usually cached): at least the ones before lo's block, at
    most those before hi's block plus hi's offset in it."""
    glo = np.uint64(lay[rec + R_OFF] + lo)
    ghi = np.uint64(lay[rec + R_OFF] + hi)
    base1 = lay[rec + R_BASE1]
    least = np.int64(sb[glo >> np.uint64(bv.SUPERBLOCK_SHIFT)]) + np.int64(blk[glo >> np.uint64(bv.BLOCK_SHIFT)])
    most = np.int64(sb[ghi >> np.uint64(bv.SUPERBLOCK_SHIFT)]) + np.int64(blk[ghi >> np.uint64(bv.BLOCK_SHIFT)])
    return least - base1, most + np.int64(ghi & np.uint64(bv.BLOCK_BITS - 1)) - base1


@numba.njit(forceinline=True)
def _child_range(lo, hi, least, most, s, z, r1s, b):
    """Where positions [lo, hi] of node [s, ...) (z zeros, r1s ones before it) can go in
    child b, given r1 bounds: node coordinates on the next level, before the drop."""
    if b:
        return s + z + least - r1s, s + z + most - r1s
    return lo - most + r1s, hi - least + r1s


@numba.njit(forceinline=True)
def _prefetch_range(lay, rec, lo, hi):
    """Start loading the next level's bit lines for positions [lo, hi] (before the drop: a
    child's window spans at most two lines, a grandchild's three) and the rank block entry.
    A hint: a wrong guess costs bandwidth, never correctness."""
    g = lay[rec + R_NEXT_OFF] + lo - lay[rec + R_DROP]
    last = g + (hi - lo)
    bits_at = lay[ADDR] + lay[O_BITS]
    mem.prefetch(bits_at + (g >> 3))
    mem.prefetch(bits_at + (last >> 3))
    if last - g > bv.BLOCK_BITS:
        mem.prefetch(bits_at + ((g + bv.BLOCK_BITS) >> 3))
    mem.prefetch(lay[ADDR] + lay[O_BLK] + ((g >> bv.BLOCK_SHIFT) << 1))


@numba.njit(forceinline=True)
def _prefetch(sb, blk, lay, rec, code, s, e, z, r1s, p, both, path):
    """Prefetch the next level before this level's bits arrive: both children for access,
    the code's path for rank (path: its next two bits). The rank the position depends on
    is bounded by the directory (small, usually cached), so a child's position lies in a
    window of at most a block: the next level's miss overlaps this one, about two levels
    per memory latency. Rank, whose path is known, also prefetches its grandchild (a
    window of about two blocks), about three levels per latency; for access the four
    grandchildren cost more than they save (measured)."""
    least, most = _rank_bounds(sb, blk, lay, rec, p, p)
    nxt = rec + RECORD
    deep = not both and lay[HAS_TABLE] != 0 and lay[nxt + R_NEXT_SIZE] != 0
    drop = lay[rec + R_DROP]
    for b in range(2):
        child = code * 2 + b
        if not (both or b == path >> 1) or child < lay[rec + R_LEAVES]:
            continue
        lo, hi = _child_range(p, p, least, most, s, z, r1s, b)
        _prefetch_range(lay, rec, lo, hi)
        if not deep or child * 2 + (path & 1) < lay[nxt + R_LEAVES]:
            continue
        at = np.uint64(lay[nxt + R_NODE] + child)  # the child's node ranks on the next level
        r1s2, r1e2 = lay[at], lay[at + np.uint64(1)]
        cs = (s if b == 0 else s + z) - drop
        ce = (s + z if b == 0 else e) - drop
        least2, most2 = _rank_bounds(sb, blk, lay, nxt, lo - drop, hi - drop)
        z2 = (ce - cs) - (r1e2 - r1s2)
        lo2, hi2 = _child_range(lo - drop, hi - drop, least2, most2, cs, z2, r1s2, path & 1)
        _prefetch_range(lay, nxt, lo2, hi2)


@numba.njit(forceinline=True)
def _node_ranks(bits, sb, blk, lay, rec, code, s, e):
    """Level ranks at a node's start and end: from the node table, else two rank queries."""
    if lay[HAS_TABLE]:
        at = np.uint64(lay[rec + R_NODE] + code)
        return lay[at], lay[at + np.uint64(1)]
    at = lay[rec + R_OFF]
    base1 = lay[rec + R_BASE1]
    return _rank1(bits, sb, blk, at + s) - base1, _rank1(bits, sb, blk, at + e) - base1


@numba.njit(forceinline=True)
def _descend(bits, sb, blk, lay, rec, code, s, e, p, path, both):
    """One level of a single query: (s, e, p) of node code's child and the bit taken: the
    bit at p (both), else path >> 1 (path: the code's next two bits). Coordinates before
    the drop."""
    r1s, r1e = _node_ranks(bits, sb, blk, lay, rec, code, s, e)
    z = (e - s) - (r1e - r1s)
    pos = lay[rec + R_OFF] + p
    if lay[rec + R_NEXT_SIZE]:
        _prefetch(sb, blk, lay, rec, code, s, e, z, r1s, p, both, path)
    r1p = _rank1(bits, sb, blk, pos) - lay[rec + R_BASE1]
    b = path >> 1
    if both:
        u = np.uint64(pos)
        b = np.int64((bits[u >> np.uint64(6)] >> (u & np.uint64(63))) & np.uint64(1))
    # select rather than branch: the bit is a coin flip to the predictor
    one = b != 0
    child_s = s + z if one else s
    child_e = e if one else s + z
    child_p = s + z + (r1p - r1s) if one else p - r1p + r1s
    return child_s, child_e, child_p, b


@numba.njit(forceinline=True)
def _leaf(lay, rec, code):
    """Symbol of the leaf code at the record's next depth."""
    if lay[SHAPE] == 0:
        return code
    return np.int64(_section(lay, O_SYM, np.uint32)[np.uint64(lay[rec + R_SYMBOL] + code)])


@numba.njit(cache=True, nogil=True)
def access(lay, i):
    """Symbol at position i (0 <= i < n), or a negative value for a corrupt tree.

    Each level's bits depend on the previous level's rank, so a query is a chain of cache
    misses. Before reading a level's line, both children's candidate lines are prefetched
    (:func:`_prefetch`), so the next level's miss overlaps this one."""
    levels = lay[LEVELS]
    if levels == 0:
        return lay[ONLY]
    bits, sb, blk = _arrays(lay)
    s = np.int64(0)
    e = lay[N]
    p = np.int64(i)
    code = np.int64(0)
    rec = lay[LEVEL_RECORDS]
    for _ in range(levels):
        s, e, p, b = _descend(bits, sb, blk, lay, rec, code, s, e, p, 0, True)
        code = code * 2 + b
        if code < lay[rec + R_LEAVES]:
            return _leaf(lay, rec, code)
        drop = lay[rec + R_DROP]
        s -= drop
        e -= drop
        p -= drop
        if s < 0 or e > lay[rec + R_NEXT_SIZE] or not s <= p < e:
            return _BAD
        rec += RECORD
    return _BAD


@numba.njit(cache=True, nogil=True)
def rank(lay, c, i):
    """Occurrences of c in [0, i), or a negative value for a corrupt tree. Prefetches like
    :func:`access`, along the code's path only."""
    code, length = _lookup(lay, c)
    if length < 0:
        return np.int64(0)
    if length == 0:
        return np.int64(i)
    bits, sb, blk = _arrays(lay)
    s = np.int64(0)
    e = lay[N]
    p = np.int64(i)
    rec = lay[LEVEL_RECORDS]
    for lvl in range(length):
        path = ((code << 1) >> (length - 1 - lvl)) & 3  # this level's bit and the next one
        s, e, p, _ = _descend(bits, sb, blk, lay, rec, code >> (length - lvl), s, e, p, path, False)
        if lvl + 1 == length:
            return p - s
        drop = lay[rec + R_DROP]
        s -= drop
        e -= drop
        p -= drop
        if s < 0 or e > lay[rec + R_NEXT_SIZE] or not s <= p <= e:
            return _BAD
        rec += RECORD
    return _BAD


@numba.njit(cache=True)  # keeps the GIL: releasing it costs more than a query
def access_at(lay_address, i):
    """:func:`access` for the codec's single calls, -1 if i is not in [0, n). The layout
    comes by address: integers are the cheapest arguments to pass from Python."""
    lay = _layout_at(lay_address)
    if not 0 <= i < lay[N]:
        return np.int64(-1)
    return access(lay, i)


@numba.njit(cache=True)  # keeps the GIL: releasing it costs more than a query
def rank_at(lay_address, c, i):
    """:func:`rank` for the codec's single calls, -1 unless 0 <= c < sigma and 0 <= i <= n."""
    lay = _layout_at(lay_address)
    if not (0 <= c < lay[SIGMA] and 0 <= i <= lay[N]):
        return np.int64(-1)
    return rank(lay, c, i)


@numba.njit(cache=True, nogil=True)
def select(lay, c, k):
    """Position of the k-th c (k >= 1), -1 if c occurs fewer than k times, or _BAD."""
    code, length = _lookup(lay, c)
    if length < 0:
        return np.int64(-1)
    if length == 0:
        return k - 1 if k <= lay[N] else np.int64(-1)
    bits, sb, blk = _arrays(lay)
    starts = np.empty(length, dtype=np.int64)
    s = np.int64(0)
    e = lay[N]
    for lvl in range(length):
        starts[lvl] = s
        b = (code >> (length - 1 - lvl)) & 1
        r1s, r1e = _node_r1(bits, sb, blk, lay, lvl, code >> (length - lvl), s, e)
        s, e, _ = _child(s, e, s, r1s, r1e, r1s, b)
        if lvl + 1 < length:
            drop = _t(lay, T_ENDS, lvl + 1)
            s -= drop
            e -= drop
            if s < 0 or e > _level_size(lay, lvl + 1) or s > e:
                return _BAD
    if k > e - s:
        return np.int64(-1)
    # bottom-up: the j-th element of a child is the (j+1)-th b-bit inside its parent node
    samples1 = _section(lay, O_S1, np.uint64)
    samples0 = _section(lay, O_S0, np.uint64)
    j = k - 1
    for lvl in range(length - 1, -1, -1):
        at = _t(lay, T_LOFF, lvl) + starts[lvl]
        if (code >> (length - 1 - lvl)) & 1:
            pos = bv.select1(bits, sb, blk, samples1, lay[NBITS], bv.rank1(bits, sb, blk, at) + j + 1)
        else:
            pos = bv.select0(bits, sb, blk, samples0, lay[NBITS], at - bv.rank1(bits, sb, blk, at) + j + 1)
        j = pos - at
    return j


# -- bulk queries ----------------------------------------------------------------------------
@numba.njit(forceinline=True)
def _element(src, t, root):
    """Index (in the output block) of the t-th element of a level's order. At the root the
    order is the range's own, so nothing is loaded."""
    return np.uint32(t) if root else src[t]


# The split loops index with unsigned integers: numba then emits no negative-index fixups.
@numba.njit(cache=True, nogil=True)
def _append(word, src, t0, root, dst, at):
    """dst[at], dst[at + 1], ... = the elements t0 + j for the set bits j of word, ascending;
    returns the next free slot. One step per element, no branch on the bit values."""
    while word:
        dst[at] = _element(src, t0 + np.uint64(bv.trailing_zeros(word)), root)
        at += np.uint64(1)
        word &= word - np.uint64(1)
    return at


@numba.njit(cache=True, nogil=True)
def _emit(word, src, t0, root, out, base, symbol):
    """out[base + element] = symbol for the elements t0 + j of the set bits j of word: the
    elements that reach a leaf go straight to the output."""
    while word:
        out[base + np.uint64(_element(src, t0 + np.uint64(bv.trailing_zeros(word)), root))] = symbol
        word &= word - np.uint64(1)


@numba.njit(cache=True, nogil=True)
def _split_run(bits, g, cnt, src, seg, root, dst, at0, at1, sym0, sym1, out, base):
    """Stable split of one node's run (elements seg..seg+cnt of src, bits g..g+cnt) into its
    children, a word at a time: zeros to dst[at0:] and ones to dst[at1:], or straight to the
    output when that child is a leaf (its symbol sym0/sym1 >= 0, else -1)."""
    pos = np.uint64(g)
    end = pos + np.uint64(cnt)
    t = np.uint64(seg)
    at0 = np.uint64(at0)
    at1 = np.uint64(at1)
    base = np.uint64(base)
    all_ones = ~np.uint64(0)
    while pos < end:
        shift = pos & np.uint64(63)
        take = min(np.uint64(64) - shift, end - pos)
        word = bits[pos >> np.uint64(6)] >> shift
        valid = all_ones >> (np.uint64(64) - take)
        if sym0 >= 0:
            _emit(~word & valid, src, t, root, out, base, np.uint32(sym0))
        else:
            at0 = _append(~word & valid, src, t, root, dst, at0)
        if sym1 >= 0:
            _emit(word & valid, src, t, root, out, base, np.uint32(sym1))
        else:
            at1 = _append(word & valid, src, t, root, dst, at1)
        pos += take
        t += take


@numba.njit(forceinline=True)
def _prefetch_rank(lay, depth, p):
    """Start loading what the rank at position p of level depth reads (its bit line and its
    block's directory entry): short ranges split into many runs, each needing one rank on
    the next level, and prefetching them all when they are made overlaps those misses."""
    g = _t(lay, T_LOFF, depth) + p
    mem.prefetch(lay[ADDR] + lay[O_BITS] + (g >> 3))
    mem.prefetch(lay[ADDR] + lay[O_BLK] + ((g >> bv.BLOCK_SHIFT) << 1))


@numba.njit(forceinline=True)
def _leaf_or_none(lay, child, depth):
    return _leaf_symbol(lay, child, depth) if _is_leaf(lay, child, depth) else np.int64(-1)


@numba.njit(cache=True, nogil=True)
def extract(lay, start, stop, out):
    """out[:] = s[start:stop); returns 0, or _BAD for a corrupt tree.

    Blocks of up to EXTRACT_BLOCK positions move down the tree together. On each level the
    block's elements form one run per node; a run's bits are read a word at a time and its
    elements split stably into the child runs (:func:`_split_run`), or written out once
    they reach a leaf. The runs hold element indices (into the block), not symbols."""
    levels = lay[LEVELS]
    if levels == 0:
        out[:] = lay[ONLY]
        return 0
    bits, sb, blk = _arrays(lay)
    block = min(EXTRACT_BLOCK, max(stop - start, 1))  # short ranges allocate little
    idx = np.empty(block, dtype=np.uint32)
    idx2 = np.empty(block, dtype=np.uint32)
    # runs: node start, node end, first position, element count, code prefix (double-buffered)
    # a level holds at most one run per node: with a node table that bounds the runs by the
    # table's size, which keeps this scratch small (each worker allocates it per group)
    runs = np.empty((min(block, lay[SIZE] if lay[HAS_TABLE] else NODE_TABLE_LIMIT), 5), dtype=np.int64)
    runs2 = np.empty_like(runs)
    for a in range(start, stop, block):
        m = min(stop, a + block) - a
        base = a - start
        runs[0, 0], runs[0, 1], runs[0, 2], runs[0, 3], runs[0, 4] = 0, lay[N], a, m, 0
        n_runs = 1
        for lvl in range(levels):
            if n_runs == 0:
                break
            off = _t(lay, T_LOFF, lvl)
            base1 = _t(lay, T_BASE1, lvl)
            depth = lvl + 1
            drop = _t(lay, T_ENDS, depth)
            next_size = _level_size(lay, depth)
            new_runs = 0
            w = 0  # next free slot of idx2
            seg = 0  # this run's first element in idx
            for r in range(n_runs):
                s, e, p, cnt, code = runs[r, 0], runs[r, 1], runs[r, 2], runs[r, 3], runs[r, 4]
                r1s, r1e = _node_r1(bits, sb, blk, lay, lvl, code, s, e)
                r1p = _r1(bits, sb, blk, lay, lvl, p)
                ones = _rank_fwd(bits, sb, blk, off + p, r1p + base1, off + p + cnt) - base1 - r1p
                counts = (cnt - ones, ones)
                sym0 = _leaf_or_none(lay, code * 2, depth)
                sym1 = _leaf_or_none(lay, code * 2 + 1, depth)
                at0 = w
                at1 = w + (counts[0] if sym0 < 0 else 0)
                _split_run(bits, off + p, cnt, idx, seg, lvl == 0, idx2, at0, at1, sym0, sym1, out, base)
                seg += cnt
                for want in range(2):
                    got = counts[want]
                    if got == 0 or (sym0 if want == 0 else sym1) >= 0:
                        continue
                    cs, ce, cp = _child(s, e, p, r1s, r1e, r1p, want)
                    cs -= drop
                    ce -= drop
                    cp -= drop
                    if cs < 0 or ce > next_size or cp < cs or cp + got > ce:
                        return _BAD
                    runs2[new_runs, 0], runs2[new_runs, 1], runs2[new_runs, 2] = cs, ce, cp
                    runs2[new_runs, 3], runs2[new_runs, 4] = got, code * 2 + want
                    new_runs += 1
                    w += got
                    _prefetch_rank(lay, depth, cp)
            idx, idx2 = idx2, idx
            runs, runs2 = runs2, runs
            n_runs = new_runs
        if n_runs:
            return _BAD  # paths that never reached a leaf: the code table and bits disagree
    return 0


# Batch keys: (position << INDEX_BITS) | index in the batch. Positions are < 2**40, so a
# batch holds at most 2**24 queries and a key fits 64 bits.
INDEX_BITS = 24
MAX_BATCH = 1 << INDEX_BITS
_RADIX_BITS = 11  # at most 2048 buckets per pass: the counts stay in L1


@numba.njit(cache=True, nogil=True)
def _radix_sort(keys, tmp, lo_bit, n_bits):
    """Sort uint64 keys by their bits [lo_bit, lo_bit + n_bits), stably (LSD radix, as few
    passes as digits of at most _RADIX_BITS allow); returns (sorted keys, the other buffer)."""
    m = np.uint64(keys.shape[0])
    passes = max(1, (n_bits + _RADIX_BITS - 1) // _RADIX_BITS)
    width = (n_bits + passes - 1) // passes
    mask = np.uint64((1 << width) - 1)
    count = np.empty((1 << width) + 1, dtype=np.int64)
    for k in range(passes):
        shift = np.uint64(lo_bit + k * width)
        count[:] = 0
        for j in range(m):
            count[((keys[j] >> shift) & mask) + np.uint64(1)] += 1
        for d in range(1 << width):
            count[d + 1] += count[d]
        for j in range(m):
            key = keys[j]
            d = (key >> shift) & mask
            tmp[count[d]] = key
            count[d] += 1
        keys, tmp = tmp, keys
    return keys, tmp


@numba.njit(cache=True, nogil=True)
def _split_keys(bits, sb, blk, src, dst, seg, cnt, off, base1, s, r1s, z, drop):
    """Move one node's keys (ascending positions, src[seg:seg+cnt]) to its children with
    their child positions (after the drop): zeros to dst[seg:] in order, ones to
    dst[..seg+cnt) from the end backwards. Returns the number of zeros.

    The rank at each key's bit comes from the previous key's word: the same word, one
    popcount for the next, else the directory (keys ascend, so memory is read in order).
    The loop calls no helper that takes an array (numba would reference-count it per key)."""
    shift = np.uint64(INDEX_BITS)
    low = np.uint64(MAX_BATCH - 1)
    one = np.uint64(1)
    lo = np.uint64(seg)
    hi = np.uint64(seg + cnt)
    w_at = (off + np.int64(src[lo] >> shift)) >> 6 if cnt else np.int64(0)
    r_at = _rank1(bits, sb, blk, w_at << 6)  # ones before word w_at
    # the child rule with r1p = r - base1 (r: global rank at the key's bit), minus the drop
    start1 = s + z - r1s - base1 - drop  # child 1 position = start1 + r
    start0 = r1s + base1 - drop  # child 0 position = start0 + p - r
    for t in range(np.uint64(seg), np.uint64(seg + cnt)):
        key = src[t]
        p = np.int64(key >> shift)
        g = off + p
        w = g >> 6
        step = w - w_at
        if step <= 1:  # dense keys: the same word or the next, counted without a branch
            r_at += bv.popcount64(bits[np.uint64(w_at)] & (np.uint64(0) - np.uint64(step)))
        else:
            r_at = bv.rank1(bits, sb, blk, w << 6)
        w_at = w
        word = bits[np.uint64(w)]
        below = np.uint64(g & 63)
        r = r_at + bv.popcount64(word & ((one << below) - one))
        b = (word >> below) & one
        child_p = start1 + r if b else start0 + p - r
        hi -= b
        dst[hi if b else lo] = (np.uint64(child_p) << shift) | (key & low)
        lo += one - b
    return np.int64(lo) - seg


@numba.njit(cache=True, nogil=True)
def _emit_keys(bits, src, seg, cnt, off, out, sym0, sym1):
    """The keys src[seg:seg+cnt] of a node whose children are both leaves: each key's bit
    picks its symbol, written straight to the output (no ranks needed)."""
    shift = np.uint64(INDEX_BITS)
    low = np.uint64(MAX_BATCH - 1)
    symbols = (np.uint32(sym0), np.uint32(sym1))
    for t in range(np.uint64(seg), np.uint64(seg + cnt)):
        key = src[t]
        g = np.uint64(off) + (key >> shift)
        b = (bits[g >> np.uint64(6)] >> (g & np.uint64(63))) & np.uint64(1)
        out[key & low] = symbols[b]


@numba.njit(forceinline=True)
def _reverse(a, lo, hi):
    i = np.uint64(lo)
    j = np.uint64(hi)
    while i + np.uint64(1) < j:
        j -= np.uint64(1)
        a[i], a[j] = a[j], a[i]
        i += np.uint64(1)


@numba.njit(cache=True, nogil=True)
def access_many(lay, positions, out):
    """out[j] = s[positions[j]] for a batch of at most MAX_BATCH positions in [0, n), any
    order. Returns 0 or _BAD.

    The keys (position, index) are radix-sorted, then moved down the tree level by level
    like :func:`extract`'s runs: within every node the positions stay ascending, so each
    level's bits are read in order and a rank costs a popcount or two."""
    m = positions.shape[0]
    levels = lay[LEVELS]
    if levels == 0 or m == 0:
        out[:] = lay[ONLY]
        return 0
    keys = np.empty(m, dtype=np.uint64)
    spare = np.empty(m, dtype=np.uint64)
    for j in range(m):
        keys[j] = (np.uint64(positions[j]) << np.uint64(INDEX_BITS)) | np.uint64(j)
    position_bits = 1
    while (np.int64(1) << position_bits) < lay[N]:
        position_bits += 1
    keys, spare = _radix_sort(keys, spare, INDEX_BITS, position_bits)
    return _access_sorted(lay, keys, spare, out)


@numba.njit(cache=True, nogil=True)
def _access_sorted(lay, src, dst, out):
    """:func:`access_many` after the sort: src holds the sorted keys, dst as many (scratch)."""
    bits, sb, blk = _arrays(lay)
    low = np.uint64(MAX_BATCH - 1)
    m = src.shape[0]
    # runs: node start, node end, key count, code prefix, first key (double-buffered)
    n_runs_max = min(m, lay[SIZE]) if lay[HAS_TABLE] else m
    runs = np.empty((n_runs_max, 5), dtype=np.int64)
    runs2 = np.empty_like(runs)
    runs[0, 0], runs[0, 1], runs[0, 2], runs[0, 3], runs[0, 4] = 0, lay[N], m, 0, 0
    n_runs = 1
    for lvl in range(lay[LEVELS]):
        if n_runs == 0:
            break
        off = _t(lay, T_LOFF, lvl)
        base1 = _t(lay, T_BASE1, lvl)
        depth = lvl + 1
        drop = _t(lay, T_ENDS, depth)
        next_size = _level_size(lay, depth)
        new_runs = 0
        for r in range(n_runs):
            s, e, cnt, code, seg = runs[r, 0], runs[r, 1], runs[r, 2], runs[r, 3], runs[r, 4]
            if _is_leaf(lay, code * 2 + 1, depth):  # both children are leaves (canonical order)
                sym0 = _leaf_symbol(lay, code * 2, depth)
                _emit_keys(bits, src, seg, cnt, off, out, sym0, _leaf_symbol(lay, code * 2 + 1, depth))
                continue
            r1s, r1e = _node_r1(bits, sb, blk, lay, lvl, code, s, e)
            z = (e - s) - (r1e - r1s)
            zeros = _split_keys(bits, sb, blk, src, dst, seg, cnt, off, base1, s, r1s, z, drop)
            for want in range(2):
                first = seg if want == 0 else seg + zeros
                got = zeros if want == 0 else cnt - zeros
                if got == 0:
                    continue
                child = code * 2 + want
                if _is_leaf(lay, child, depth):
                    symbol = np.uint32(_leaf_symbol(lay, child, depth))
                    for t in range(np.uint64(first), np.uint64(first + got)):
                        out[dst[t] & low] = symbol
                    continue
                cs, ce, _ = _child(s, e, s, r1s, r1e, r1s, want)
                if cs - drop < 0 or ce - drop > next_size:
                    return _BAD
                if want == 1:  # the ones were written backwards
                    _reverse(dst, first, first + got)
                runs2[new_runs, 0], runs2[new_runs, 1], runs2[new_runs, 2] = cs - drop, ce - drop, got
                runs2[new_runs, 3], runs2[new_runs, 4] = child, first
                new_runs += 1
        src, dst = dst, src
        runs, runs2 = runs2, runs
        n_runs = new_runs
    return _BAD if n_runs else 0


@numba.njit(cache=True, nogil=True)
def rank_sorted(lay, c, pos, out):
    """out[j] = rank(c, pos[j]) for ascending positions, level-synchronous. Returns 0 or _BAD."""
    code, length = _lookup(lay, c)
    m = pos.shape[0]
    if length <= 0:
        for j in range(m):
            out[j] = pos[j] if length == 0 else 0
        return 0
    bits, sb, blk = _arrays(lay)
    for j in range(m):
        out[j] = pos[j]
    s = np.int64(0)
    e = lay[N]
    for lvl in range(length):
        b = (code >> (length - 1 - lvl)) & 1
        r1s, r1e = _node_r1(bits, sb, blk, lay, lvl, code >> (length - lvl), s, e)
        cs, ce, _ = _child(s, e, s, r1s, r1e, r1s, b)
        last = lvl + 1 == length
        drop = 0 if last else _t(lay, T_ENDS, lvl + 1)
        off = _t(lay, T_LOFF, lvl)
        base1 = _t(lay, T_BASE1, lvl)
        g_prev = off + s
        r_prev = r1s + base1
        for j in range(m):
            g = off + out[j]
            r_prev = _rank_fwd(bits, sb, blk, g_prev, r_prev, g)
            g_prev = g
            _, _, p = _child(s, e, out[j], r1s, r1e, r_prev - base1, b)
            out[j] = p - cs if last else p - drop
        s, e = cs - drop, ce - drop
        if not last and (s < 0 or e > _level_size(lay, lvl + 1) or s > e):
            return _BAD
    return 0

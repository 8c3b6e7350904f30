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
two, so a level costs one bit-vector rank.

``extract(start, stop)`` does not walk root-to-leaf per symbol: it moves the whole range down
level by level. At each level the range's elements form a few runs (one per node it meets);
each run's bits are read a word at a time and its elements stably partitioned into the child
runs, so memory access is sequential. The batch forms (``access_many``, ``rank_many``) sort
their positions first and move them down level by level the same way.

Serialized form (``build`` / ``load``; ``specs/wavelet-tree.md``): a 64-byte header
and 64-byte-aligned sections. Kernels take the byte buffer itself plus one int64 *layout*
array (offsets and per-depth tables), so a query from Python pays for two arguments.
"""

from __future__ import annotations

import struct

import numba
import numpy as np

from codecbench.errors import CorruptDataError
from codecbench.succinct import bit_vector as bv
from codecbench.succinct.huffman_code import canonical, code_lengths, depth_tables

BALANCED, HUFFMAN = 0, 1
EXTRACT_BLOCK = 32768
NODE_TABLE_LIMIT = 1 << 20
MAX_SYMBOLS = 1 << 40
MAGIC = b"CBWTREE\0"
VERSION = 1
HEADER = struct.Struct("<8sIIQQIIQQQ")
ALIGN = 64
_BAD = -2  # kernels return this when bits contradict the tree's shape (corrupt input)

# layout array: scalars, section byte offsets/counts, then per-depth tables of stride L + 2
N, LEVELS, SHAPE, ONLY, NBITS, HAS_TABLE = 0, 1, 2, 3, 4, 5
O_BITS, O_SB, O_BLK, O_S1, O_S0, O_SYM = 6, 7, 8, 9, 10, 11
C_BITS, C_SB, C_BLK, C_S1, C_S0, C_SYM = 12, 13, 14, 15, 16, 17
D0 = 24
T_LOFF, T_BASE1, T_ENDS, T_FCODE, T_COUNT, T_FIDX, T_TBASE = range(7)
N_TABLES = 7


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
        symbols = np.searchsorted(present, symbols).astype(np.uint32)  # index among present symbols
    level_off = np.zeros(width + 1, dtype=np.uint64)
    level_off[1:] = np.cumsum(level_sizes)
    n_bits = int(level_off[-1])
    bits = np.zeros((n_bits + 63) // 64, dtype=np.uint64)
    if width:
        _build_levels(symbols, shape, codes, lengths, width, level_off.astype(np.int64), bits)
    sb_abs, blk_rel = bv.build_rank(bits, n_bits)
    samples1, samples0 = bv.build_select(bits, n_bits, sb_abs, blk_rel)
    arrays = {
        "level_off": level_off, "count": count, "bits": bits, "sb_abs": sb_abs, "blk_rel": blk_rel,
        "samples1": samples1, "samples0": samples0, "sorted_symbols": sorted_symbols,
    }  # fmt: skip
    header = HEADER.pack(MAGIC, VERSION, shape, n, sigma, width, int(samples1[0]), n_bits, int(sb_abs[-1]),
                         sorted_symbols.size)  # fmt: skip
    parts = [header, b"\0" * (ALIGN - len(header))]
    position = ALIGN
    for name, dtype, size in sections(shape, width, n_bits, int(sb_abs[-1]), int(samples1[0]), sorted_symbols.size):
        arr = np.ascontiguousarray(arrays[name], dtype=dtype)
        assert arr.size == size, (name, arr.size, size)
        pad = _align(position) - position
        parts += [b"\0" * pad, arr.tobytes()]
        position += pad + arr.nbytes
    return b"".join(parts)


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


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@numba.njit(cache=True, nogil=True)
def _code_of(shape, codes, lengths, width, c):
    if shape == 0:
        return np.int64(c), np.int64(width)
    return codes[c], lengths[c]


@numba.njit(cache=True, nogil=True)
def _build_levels(symbols, shape, codes, lengths, width, level_off, bits):
    cur = symbols.copy()
    m = cur.shape[0]
    nxt = np.empty_like(cur)
    for lvl in range(width):
        off = level_off[lvl]
        for j in range(m):
            code, length = _code_of(shape, codes, lengths, width, cur[j])
            if (code >> (length - 1 - lvl)) & 1:
                pos = off + j
                bits[pos >> 6] |= np.uint64(1) << np.uint64(pos & 63)
        # next level: per node (equal lvl-bit prefix, contiguous), zeros then ones, minus ended codes
        w = 0
        j = 0
        while j < m:
            code, length = _code_of(shape, codes, lengths, width, cur[j])
            prefix = code >> (length - lvl)
            g = j + 1
            while g < m:
                code2, length2 = _code_of(shape, codes, lengths, width, cur[g])
                if code2 >> (length2 - lvl) != prefix:
                    break
                g += 1
            for want in range(2):
                for t in range(j, g):
                    code, length = _code_of(shape, codes, lengths, width, cur[t])
                    if length > lvl + 1 and ((code >> (length - 1 - lvl)) & 1) == want:
                        nxt[w] = cur[t]
                        w += 1
            j = g
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
    """
    if data.size < HEADER.size:
        raise _bad(f"{data.size} bytes is shorter than the {HEADER.size}-byte header")
    magic, version, shape, n, sigma, levels, sample, n_bits, n_ones, n_present = HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise _bad("bad magic (not a wavelet-tree payload)")
    if version != VERSION:
        raise _bad(f"unsupported layout version {version} (this build reads {VERSION})")
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
    found: dict[str, tuple[int, int]] = {}
    position = ALIGN
    for name, dtype, size in layout_sections:
        position = _align(position)
        found[name] = (position, size)
        position += size * np.dtype(dtype).itemsize
    if data.size != position:
        raise _bad(f"header implies {position} bytes, buffer has {data.size}")

    def view(name: str, dtype: str) -> np.ndarray:
        offset, size = found[name]
        return data[offset : offset + size * np.dtype(dtype).itemsize].view(dtype)

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
    lay = np.zeros(D0 + N_TABLES * stride + (table_size if has_table else 0), dtype=np.int64)
    lay[[N, LEVELS, SHAPE, ONLY, NBITS, HAS_TABLE]] = [n, levels, shape, only, n_bits, int(has_table)]
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
        if _fill_node_table(data, lay) != 0:
            raise _bad("bits contradict the tree's shape")
    return data, lay


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
@numba.njit(inline="always")
def _arrays(data, lay):
    bits = data[lay[O_BITS] : lay[O_BITS] + 8 * lay[C_BITS]].view(np.uint64)
    sb = data[lay[O_SB] : lay[O_SB] + 8 * lay[C_SB]].view(np.uint64)
    blk = data[lay[O_BLK] : lay[O_BLK] + 2 * lay[C_BLK]].view(np.uint16)
    return bits, sb, blk


@numba.njit(inline="always")
def _t(lay, table, depth):
    return lay[D0 + table * (lay[LEVELS] + 2) + depth]


@numba.njit(inline="always")
def _r1(bits, sb, blk, lay, lvl, p):
    """Ones among the first p bits of level lvl."""
    return bv.rank1(bits, sb, blk, _t(lay, T_LOFF, lvl) + p) - _t(lay, T_BASE1, lvl)


@numba.njit(inline="always")
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


@numba.njit(inline="always")
def _node_r1(bits, sb, blk, lay, lvl, code, s, e):
    """Level ranks at a node's start and end: from the node table, else two rank queries."""
    if lay[HAS_TABLE]:
        stride = lay[LEVELS] + 2
        i = D0 + N_TABLES * stride + _t(lay, T_TBASE, lvl) + code - (_t(lay, T_FCODE, lvl) + _t(lay, T_COUNT, lvl))
        return lay[i], lay[i + 1]
    return _r1(bits, sb, blk, lay, lvl, s), _r1(bits, sb, blk, lay, lvl, e)


@numba.njit(inline="always")
def _is_leaf(lay, code, depth):
    return code < _t(lay, T_FCODE, depth) + _t(lay, T_COUNT, depth)


@numba.njit(inline="always")
def _leaf_symbol(data, lay, code, depth):
    if lay[SHAPE] == 0:
        return code
    j = _t(lay, T_FIDX, depth) + code - _t(lay, T_FCODE, depth)
    return np.int64(data[lay[O_SYM] : lay[O_SYM] + 4 * lay[C_SYM]].view(np.uint32)[j])


@numba.njit(inline="always")
def _level_size(lay, depth):
    if depth >= lay[LEVELS]:
        return np.int64(0)
    return _t(lay, T_LOFF, depth + 1) - _t(lay, T_LOFF, depth)


@numba.njit(inline="always")
def _child(s, e, p, r1s, r1e, r1p, b):
    """(start, end, position) of the child b of node [s, e) and of position p, before the
    ended codes are dropped. Positions are on the same level's coordinates."""
    r0s = s - r1s
    z = (e - s) - (r1e - r1s)
    if b == 0:
        return s, s + z, s + (p - r1p) - r0s
    return s + z, e, s + z + (r1p - r1s)


@numba.njit(cache=True, nogil=True)
def _fill_node_table(data, lay):
    """Rank at every internal node's start (plus a sentinel per depth), depth by depth."""
    bits, sb, blk = _arrays(data, lay)
    levels = lay[LEVELS]
    stride = levels + 2
    tab = D0 + N_TABLES * stride
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
def _lookup(data, lay, c):
    """(code, length) of symbol c; length -1 if c has no code (absent from the sequence).
    Canonical order sorts symbols within each length, so one binary search per length."""
    levels = lay[LEVELS]
    if lay[SHAPE] == 0:
        return np.int64(c), levels
    symbols = data[lay[O_SYM] : lay[O_SYM] + 4 * lay[C_SYM]].view(np.uint32)
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
@numba.njit(cache=True, nogil=True)
def access(data, lay, i):
    """Symbol at position i (0 <= i < n), or a negative value for a corrupt tree."""
    levels = lay[LEVELS]
    if levels == 0:
        return lay[ONLY]
    bits, sb, blk = _arrays(data, lay)
    s = np.int64(0)
    e = lay[N]
    p = np.int64(i)
    code = np.int64(0)
    for lvl in range(levels):
        pos = _t(lay, T_LOFF, lvl) + p
        b = np.int64((bits[pos >> 6] >> np.uint64(pos & 63)) & np.uint64(1))
        r1s, r1e = _node_r1(bits, sb, blk, lay, lvl, code, s, e)
        s, e, p = _child(s, e, p, r1s, r1e, _r1(bits, sb, blk, lay, lvl, p), b)
        code = code * 2 + b
        depth = lvl + 1
        if _is_leaf(lay, code, depth):
            return _leaf_symbol(data, lay, code, depth)
        drop = _t(lay, T_ENDS, depth)
        s -= drop
        e -= drop
        p -= drop
        if s < 0 or e > _level_size(lay, depth) or not s <= p < e:
            return _BAD
    return _BAD


@numba.njit(cache=True, nogil=True)
def rank(data, lay, c, i):
    """Occurrences of c in [0, i), or a negative value for a corrupt tree."""
    code, length = _lookup(data, lay, c)
    if length < 0:
        return np.int64(0)
    if length == 0:
        return np.int64(i)
    bits, sb, blk = _arrays(data, lay)
    s = np.int64(0)
    e = lay[N]
    p = np.int64(i)
    for lvl in range(length):
        b = (code >> (length - 1 - lvl)) & 1
        r1s, r1e = _node_r1(bits, sb, blk, lay, lvl, code >> (length - lvl), s, e)
        s, e, p = _child(s, e, p, r1s, r1e, _r1(bits, sb, blk, lay, lvl, p), b)
        if lvl + 1 == length:
            return p - s
        drop = _t(lay, T_ENDS, lvl + 1)
        s -= drop
        e -= drop
        p -= drop
        if s < 0 or e > _level_size(lay, lvl + 1) or not s <= p <= e:
            return _BAD
    return _BAD


@numba.njit(cache=True, nogil=True)
def select(data, lay, c, k):
    """Position of the k-th c (k >= 1), -1 if c occurs fewer than k times, or _BAD."""
    code, length = _lookup(data, lay, c)
    if length < 0:
        return np.int64(-1)
    if length == 0:
        return k - 1 if k <= lay[N] else np.int64(-1)
    bits, sb, blk = _arrays(data, lay)
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
    samples1 = data[lay[O_S1] : lay[O_S1] + 8 * lay[C_S1]].view(np.uint64)
    samples0 = data[lay[O_S0] : lay[O_S0] + 8 * lay[C_S0]].view(np.uint64)
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
@numba.njit(inline="always")
def _partition(bits, g, cnt, idx, src, idx2, zero_at, one_at):
    """Stable split of idx[src:src+cnt] by the bits at g..g+cnt: zeros to idx2[zero_at:],
    ones to idx2[one_at:]. Unsigned counters: no negative-index wraparound checks, no branch."""
    wz = np.uint64(zero_at)
    wo = np.uint64(one_at)
    t = np.uint64(src)
    pos = np.uint64(g)
    end = pos + np.uint64(cnt)
    one = np.uint64(1)
    while pos < end:
        shift = pos & np.uint64(63)
        word = bits[pos >> np.uint64(6)] >> shift
        avail = min(np.uint64(64) - shift, end - pos)
        for _ in range(avail):
            b = word & one
            word >>= one
            idx2[wo if b else wz] = idx[t]
            wz += one - b
            wo += b
            t += one
        pos += avail


@numba.njit(inline="always")
def _partition_first(bits, g, cnt, idx2, one_at):
    """_partition of the identity order 0..cnt-1 (the root level of a range)."""
    wz = np.uint64(0)
    wo = np.uint64(one_at)
    pos = np.uint64(g)
    end = pos + np.uint64(cnt)
    one = np.uint64(1)
    t = np.uint32(0)
    while pos < end:
        shift = pos & np.uint64(63)
        word = bits[pos >> np.uint64(6)] >> shift
        avail = min(np.uint64(64) - shift, end - pos)
        for _ in range(avail):
            b = word & one
            word >>= one
            idx2[wo if b else wz] = t
            wz += one - b
            wo += b
            t += np.uint32(1)
        pos += avail


@numba.njit(inline="always")
def _fill(out, base, idx, lo, count, symbol):
    """out[base + idx[t]] = symbol for t in [lo, lo + count), with unsigned indexing."""
    b = np.uint64(base)
    value = np.uint32(symbol)
    for t in range(np.uint64(lo), np.uint64(lo) + np.uint64(count)):
        out[b + np.uint64(idx[t])] = value


@numba.njit(cache=True, nogil=True)
def extract(data, lay, start, stop, out):
    """out[:] = s[start:stop); returns 0, or _BAD for a corrupt tree."""
    levels = lay[LEVELS]
    if levels == 0:
        out[:] = lay[ONLY]
        return 0
    bits, sb, blk = _arrays(data, lay)
    block = min(EXTRACT_BLOCK, max(stop - start, 1))  # short ranges allocate little
    idx = np.empty(block, dtype=np.uint32)
    idx2 = np.empty(block, dtype=np.uint32)
    # runs: node start, node end, first position, element count, code prefix (double-buffered)
    runs = np.empty((block, 5), dtype=np.int64)
    runs2 = np.empty((block, 5), dtype=np.int64)
    for a in range(start, stop, block):
        m = min(stop, a + block) - a
        base = a - start
        runs[0, 0], runs[0, 1], runs[0, 2], runs[0, 3], runs[0, 4] = 0, lay[N], a, m, 0
        n_runs = 1
        for lvl in range(levels):
            if n_runs == 0:
                break
            off = _t(lay, T_LOFF, lvl)
            depth = lvl + 1
            drop = _t(lay, T_ENDS, depth)
            next_size = _level_size(lay, depth)
            new_runs = 0
            w = 0
            seg = 0
            for r in range(n_runs):
                s, e, p, cnt, code = runs[r, 0], runs[r, 1], runs[r, 2], runs[r, 3], runs[r, 4]
                r1s, r1e = _node_r1(bits, sb, blk, lay, lvl, code, s, e)
                r1p = _r1(bits, sb, blk, lay, lvl, p)
                base1 = _t(lay, T_BASE1, lvl)
                ones = _rank_fwd(bits, sb, blk, off + p, r1p + base1, off + p + cnt) - base1 - r1p
                zeros = cnt - ones
                # one branch-free pass, a word at a time: zeros to [w, w+zeros), ones after, stable
                if lvl == 0:  # the elements are still in range order: no index to load
                    _partition_first(bits, off + p, cnt, idx2, w + zeros)
                else:
                    _partition(bits, off + p, cnt, idx, seg, idx2, w, w + zeros)
                seg += cnt
                keep = w
                for want in range(2):
                    lo = w if want == 0 else w + zeros
                    got = zeros if want == 0 else cnt - zeros
                    if got == 0:
                        continue
                    child = code * 2 + want
                    if _is_leaf(lay, child, depth):
                        _fill(out, base, idx2, lo, got, _leaf_symbol(data, lay, child, depth))
                        continue
                    cs, ce, cp = _child(s, e, p, r1s, r1e, r1p, want)
                    cs -= drop
                    ce -= drop
                    cp -= drop
                    if cs < 0 or ce > next_size or cp < cs or cp + got > ce:
                        return _BAD
                    if lo != keep:  # close the gap a finished leaf left
                        for t in range(np.uint64(got)):
                            idx2[np.uint64(keep) + t] = idx2[np.uint64(lo) + t]
                    runs2[new_runs, 0], runs2[new_runs, 1], runs2[new_runs, 2] = cs, ce, cp
                    runs2[new_runs, 3], runs2[new_runs, 4] = got, child
                    new_runs += 1
                    keep += got
                w = keep
            idx, idx2 = idx2, idx
            runs, runs2 = runs2, runs
            n_runs = new_runs
        if n_runs:
            return _BAD  # paths that never reached a leaf: the code table and bits disagree
    return 0


@numba.njit(cache=True, nogil=True)
def access_sorted(data, lay, pos, dest, out):
    """out[dest[j]] = s[pos[j]] for ascending positions; level-synchronous, so every level's
    bits and directory are read in ascending order. Returns 0 or _BAD."""
    m = pos.shape[0]
    levels = lay[LEVELS]
    if levels == 0:
        out[:] = lay[ONLY]
        return 0
    bits, sb, blk = _arrays(data, lay)
    cur = pos.astype(np.int64)  # positions and idx move down together; idx indexes dest
    nxt = np.empty(m, dtype=np.int64)
    idx = np.arange(m).astype(np.int64)
    idx2 = np.empty(m, dtype=np.int64)
    bit = np.empty(m, dtype=np.int64)
    runs = np.empty((m, 4), dtype=np.int64)  # node start, node end, element count, code
    runs2 = np.empty((m, 4), dtype=np.int64)
    runs[0, 0], runs[0, 1], runs[0, 2], runs[0, 3] = 0, lay[N], m, 0
    n_runs = 1 if m else 0
    for lvl in range(levels):
        if n_runs == 0:
            break
        off = _t(lay, T_LOFF, lvl)
        depth = lvl + 1
        drop = _t(lay, T_ENDS, depth)
        next_size = _level_size(lay, depth)
        new_runs = 0
        seg = 0
        w = 0
        for r in range(n_runs):
            s, e, cnt, code = runs[r, 0], runs[r, 1], runs[r, 2], runs[r, 3]
            r1s, r1e = _node_r1(bits, sb, blk, lay, lvl, code, s, e)
            base1 = _t(lay, T_BASE1, lvl)
            g_prev = off + s
            r_prev = r1s + base1
            zeros = 0
            for t in range(seg, seg + cnt):
                p = cur[t]
                g = off + p
                b = np.int64((bits[g >> 6] >> np.uint64(g & 63)) & np.uint64(1))
                r_prev = _rank_fwd(bits, sb, blk, g_prev, r_prev, g)
                g_prev = g
                _, _, cur[t] = _child(s, e, p, r1s, r1e, r_prev - base1, b)
                bit[t] = b
                zeros += 1 - b
            # branch-free stable partition: zeros to [w, w + zeros), ones after
            wz = w
            wo = w + zeros
            for t in range(seg, seg + cnt):
                dst = wo if bit[t] else wz
                nxt[dst] = cur[t] - drop
                idx2[dst] = idx[t]
                wz += 1 - bit[t]
                wo += bit[t]
            keep = w
            for want in range(2):
                lo = w if want == 0 else w + zeros
                got = zeros if want == 0 else cnt - zeros
                if got == 0:
                    continue
                child = code * 2 + want
                if _is_leaf(lay, child, depth):
                    sym = _leaf_symbol(data, lay, child, depth)
                    for t in range(lo, lo + got):
                        out[dest[idx2[t]]] = sym
                    continue
                cs, ce, _ = _child(s, e, s, r1s, r1e, r1s, want)
                cs -= drop
                ce -= drop
                if cs < 0 or ce > next_size:
                    return _BAD
                if lo != keep:  # close the gap a finished leaf left
                    for t in range(got):
                        nxt[keep + t] = nxt[lo + t]
                        idx2[keep + t] = idx2[lo + t]
                runs2[new_runs, 0], runs2[new_runs, 1], runs2[new_runs, 2], runs2[new_runs, 3] = cs, ce, got, child
                new_runs += 1
                keep += got
            w = keep
            seg += cnt
        cur, nxt = nxt, cur
        idx, idx2 = idx2, idx
        runs, runs2 = runs2, runs
        n_runs = new_runs
    return _BAD if n_runs else 0


@numba.njit(cache=True, nogil=True)
def rank_sorted(data, lay, c, pos, out):
    """out[j] = rank(c, pos[j]) for ascending positions, level-synchronous. Returns 0 or _BAD."""
    code, length = _lookup(data, lay, c)
    m = pos.shape[0]
    if length <= 0:
        for j in range(m):
            out[j] = pos[j] if length == 0 else 0
        return 0
    bits, sb, blk = _arrays(data, lay)
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

"""``huffman-fast``: canonical, length-limited Huffman codes in one bit stream, table-driven decoding.

The honest fast Huffman baseline: about ``n * H0`` bits plus a small index, decoded by numba kernels
that peek ``table_bits`` bits, look up (symbol, length) once and shift. ``specs/codec-huffman-fast.md``
is normative; in short (little-endian throughout)::

    0   8  magic b"CBHUFFF\\0"           40  8  u64 total_bits (sum of code lengths)
    8   4  u32 layout version (1)         48  4  u32 sync_shift  (K = 2**sync_shift)
    12  4  u32 L (longest code, 0..32)    52  4  u32 count_shift (C = 2**count_shift)
    16  8  u64 n                          56  8  u64 reserved (0)
    24  8  u64 sigma
    32  8  u64 p (distinct symbols coded)
    sections, each at the next multiple of 8:
      count u32[L+1] | symbols u32[p] | sync u64[ceil(n/K)+1] | counts u32[(ceil(n/C)-1) * p]
      | bits u64[total_bits // 64 + 2]
    (with L = 0, i.e. at most one distinct symbol, sync, counts and bits are empty)

Bits are LSB-first (stream bit b is bit b % 64 of word b // 64); each code is written first bit
first (the code's most significant bit at the lowest stream position), as in DEFLATE.
``sync[j]`` is the bit offset of symbol ``j * K``; ``counts`` row ``j`` holds, for every coded symbol
in canonical order, its occurrences in ``s[0 : (j + 1) * C)``.

Parameters: ``max_code_length`` (default 12, raised to ``bit_length(p - 1)`` when needed, at most 32),
``sync_every`` (default 4096, a power of two in ``[1, 2**30]``), ``count_every`` (default ``"auto"``:
``next_pow2(max(2**16, sync_every, 256 * p))``; else a power of two in ``[sync_every, 2**32]``).
At most ``2**32 - 1`` symbols per sequence.

Besides the Sequence contract, the opened sequence has ``access_many(positions)`` and
``rank_many(c, positions)`` (positions sorted once, then answered by one forward pass per block).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from codecbench.codecs.base import Codec, Sequence, aligned_copy, as_byte_array, as_positions, check_symbols
from codecbench.errors import CorruptDataError
from codecbench.hookspecs import hookimpl
from codecbench.succinct.container import Header, read_sections, section_offsets
from codecbench.succinct.huffman_code import canonical, code_lengths, depth_tables

#: after the magic and version: L, n, sigma, p, total_bits, sync_shift, count_shift, reserved
HEADER = Header("huffman-fast", b"CBHUFFF\0", 1, "IQQQQIIQ")
assert HEADER.size == 64
MAX_CODE_LENGTH = 32  # hard cap: the decoder handles every length up to it
MAX_SYMBOLS = 2**32 - 1  # counts are u32
MAX_SYNC_SHIFT = 30
MAX_COUNT_SHIFT = 32
TABLE_BITS = 12  # primary decode table: 2**min(L, TABLE_BITS) u32 entries (16 KiB), reader memory only
MAX_TABLE_BITS = 18  # ... grown up to this when long codes carry much of the Kraft sum (see _table_bits)
LONG_CODE_SHARE = 1 / 32
AUTO_COUNT_MIN_SHIFT = 16
AUTO_COUNT_PER_SYMBOL = 256
_DENSE_LIMIT = 1 << 22  # symbols below this are counted with bincount, others with np.unique

_ONE = np.uint64(1)
_63 = np.uint64(63)
_M32 = np.uint64(0xFFFFFFFF)
_K1 = np.uint64(0x55555555)
_K2 = np.uint64(0x33333333)
_K4 = np.uint64(0x0F0F0F0F)
_K8 = np.uint64(0x00FF00FF)
_K16 = np.uint64(0x0000FFFF)
# meta[] slots (int64), the scalars every kernel needs
M_N, M_L, M_TB, M_KS, M_CS, M_GROUP, M_P, M_NSB = range(8)


# --------------------------------------------------------------------------- bit helpers


@numba.njit(cache=True, nogil=True, inline="always")
def _rev32(x):
    """Reverse the low 32 bits of ``x`` (a uint64 below 2**32)."""
    x = ((x >> np.uint64(1)) & _K1) | ((x & _K1) << np.uint64(1))
    x = ((x >> np.uint64(2)) & _K2) | ((x & _K2) << np.uint64(2))
    x = ((x >> np.uint64(4)) & _K4) | ((x & _K4) << np.uint64(4))
    x = ((x >> np.uint64(8)) & _K8) | ((x & _K8) << np.uint64(8))
    return ((x >> np.uint64(16)) & _K16) | ((x & _K16) << np.uint64(16))


@numba.njit(cache=True, nogil=True, inline="always")
def _window(words, pos):
    """The 64 stream bits starting at bit ``pos`` (stream bit ``pos`` lowest); reads words ``pos >> 6`` and the next."""
    wi = pos >> 6
    sh = np.uint64(pos & 63)
    return (words[wi] >> sh) | ((words[wi + 1] << _ONE) << (_63 - sh))


@numba.njit(cache=True, nogil=True, inline="always")
def _slow(w, canon, tb, L):
    """(canonical index, length) of a code longer than ``tb`` bits at the bottom of window ``w``."""
    r = np.int64(_rev32(w & _M32) >> np.uint64(32 - L))  # the next L stream bits, first bit highest
    for d in range(tb + 1, L + 1):
        v = r >> (L - d)
        if canon[0, d] <= v < canon[1, d]:  # the lower bound always holds for a complete code
            return canon[2, d] + v - canon[0, d], d
    return np.int64(0), L  # unreachable with a complete code (validated on open)


@numba.njit(cache=True, nogil=True, inline="always")
def _one(w, table, tmask, canon, tb, L):
    e = np.int64(table[w & tmask])
    ln = e & 31
    if ln == 0:
        return _slow(w, canon, tb, L)
    return e >> 5, ln


@numba.njit(cache=True, nogil=True, inline="always")
def _decode_run(words, table, syms, canon, meta, pos, end, cnt, out, o):
    """Decode ``cnt`` symbols from bit ``pos`` into ``out[o:]``; bit position after them, -1 if the
    stream runs past ``end`` (the block's end: the bit reader never reads a word beyond it + 1)."""
    tb, L, m = meta[M_TB], meta[M_L], meta[M_GROUP]
    tmask = np.uint64((1 << tb) - 1)
    k = 0
    while k < cnt:
        if pos > end:
            return -1
        w = _window(words, pos)
        g = min(m, cnt - k)
        for _ in range(g):
            e = np.int64(table[w & tmask])
            ln = e & 31
            if ln == 0:
                idx, ln = _slow(w, canon, tb, L)
            else:
                idx = e >> 5
            out[o + k] = syms[idx]
            k += 1
            w >>= np.uint64(ln)
            pos += ln
    return pos


@numba.njit(cache=True, nogil=True, inline="always")
def _count_run(words, table, canon, meta, pos, end, cnt, cidx):
    """Decode ``cnt`` symbols from bit ``pos`` without output: (bit position after them or -1,
    occurrences of canonical index ``cidx`` among them)."""
    tb, L, m = meta[M_TB], meta[M_L], meta[M_GROUP]
    tmask = np.uint64((1 << tb) - 1)
    k = 0
    occ = 0
    while k < cnt:
        if pos > end:
            return -1, occ
        w = _window(words, pos)
        g = min(m, cnt - k)
        for _ in range(g):
            e = np.int64(table[w & tmask])
            ln = e & 31
            if ln == 0:
                idx, ln = _slow(w, canon, tb, L)
            else:
                idx = e >> 5
            occ += idx == cidx
            w >>= np.uint64(ln)
            pos += ln
        k += g
    return pos, occ


@numba.njit(cache=True, nogil=True, inline="always")
def _decode_pair(words, table, syms, canon, meta, pa, ea, pb, eb, cnt, out, oa, ob):
    """``_decode_run`` on two streams at once (two sync blocks of ``cnt`` symbols each): two
    independent dependency chains keep the core busy. (pa, pb) after them, -1 on overrun."""
    tb, L, m = meta[M_TB], meta[M_L], meta[M_GROUP]
    tmask = np.uint64((1 << tb) - 1)
    k = 0
    while k < cnt:
        if pa > ea or pb > eb:
            return np.int64(-1), np.int64(-1)
        wa = _window(words, pa)
        wb = _window(words, pb)
        for _ in range(min(m, cnt - k)):
            ia, la = _one(wa, table, tmask, canon, tb, L)
            ib, lb = _one(wb, table, tmask, canon, tb, L)
            out[oa + k] = syms[ia]
            out[ob + k] = syms[ib]
            k += 1
            wa >>= np.uint64(la)
            wb >>= np.uint64(lb)
            pa += la
            pb += lb
    return pa, pb


@numba.njit(cache=True, nogil=True, inline="always")
def _count_pair(words, table, canon, meta, pa, ea, pb, eb, cnt, cidx):
    """``_count_run`` on two streams at once: (pa, pb, occurrences in both), -1 positions on overrun."""
    tb, L, m = meta[M_TB], meta[M_L], meta[M_GROUP]
    tmask = np.uint64((1 << tb) - 1)
    k = 0
    occ = 0
    while k < cnt:
        if pa > ea or pb > eb:
            return np.int64(-1), np.int64(-1), occ
        wa = _window(words, pa)
        wb = _window(words, pb)
        g = min(m, cnt - k)
        for _ in range(g):
            ia, la = _one(wa, table, tmask, canon, tb, L)
            ib, lb = _one(wb, table, tmask, canon, tb, L)
            occ += (ia == cidx) + (ib == cidx)
            wa >>= np.uint64(la)
            wb >>= np.uint64(lb)
            pa += la
            pb += lb
        k += g
    return pa, pb, occ


@numba.njit(cache=True, nogil=True, inline="always")
def _advance(words, table, canon, sync, meta, i, pos, t, cidx):
    """From symbol ``i`` at bit ``pos`` to symbol ``t >= i``, block by block, counting ``cidx``:
    (t, bit position or -1 on corruption, occurrences)."""
    n, ks = meta[M_N], meta[M_KS]
    occ = 0
    while i < t:
        b = i >> ks
        if i == b << ks and (b + 2) << ks <= t:  # two whole blocks ahead: count them together
            ea, eb = np.int64(sync[b + 1]), np.int64(sync[b + 2])
            pa, pb, o = _count_pair(words, table, canon, meta, pos, ea, ea, eb, 1 << ks, cidx)
            if pa != ea or pb != eb:
                return i, np.int64(-1), occ
            occ += o
            i = (b + 2) << ks
            pos = eb
            continue
        bend = min((b + 1) << ks, n)
        end = np.int64(sync[b + 1])
        stop = min(t, bend)
        pos, o = _count_run(words, table, canon, meta, pos, end, stop - i, cidx)
        if pos < 0:
            return i, np.int64(-1), occ
        occ += o
        i = stop
        if i == bend and pos != end:
            return i, np.int64(-1), occ
    return i, pos, occ


# --------------------------------------------------------------------------- query kernels


@numba.njit(cache=True, nogil=True)
def _extract(words, table, syms, canon, sync, meta, start, stop, out):
    """``out[:] = s[start:stop)``; 0, or -1 if the bits contradict the sync offsets."""
    n, ks = meta[M_N], meta[M_KS]
    K = 1 << ks
    b = start >> ks
    i = start
    o = 0
    while i < stop:
        bstart = b << ks
        end = np.int64(sync[b + 1])
        if i == bstart and bstart + 2 * K <= stop:  # two whole blocks: decode them together
            eb = np.int64(sync[b + 2])
            pa, pb = _decode_pair(words, table, syms, canon, meta, np.int64(sync[b]), end, end, eb, K, out, o, o + K)
            if pa != end or pb != eb:
                return -1
            o += 2 * K
            i += 2 * K
            b += 2
            continue
        pos = np.int64(sync[b])
        if i > bstart:  # first block: skip to start
            pos, _ = _count_run(words, table, canon, meta, pos, end, i - bstart, -1)
            if pos < 0:
                return -1
        bend = min(bstart + K, n)
        stop_here = min(stop, bend)
        pos = _decode_run(words, table, syms, canon, meta, pos, end, stop_here - i, out, o)
        if pos < 0 or (stop_here == bend and pos != end):
            return -1
        o += stop_here - i
        i = bend
        b += 1
    return 0


@numba.njit(cache=True, nogil=True)
def _access(words, table, syms, canon, sync, meta, i):
    """``s[i]``, or -1 on corruption."""
    ks, tb, L = meta[M_KS], meta[M_TB], meta[M_L]
    b = i >> ks
    end = np.int64(sync[b + 1])
    pos, _ = _count_run(words, table, canon, meta, np.int64(sync[b]), end, i - (b << ks), -1)
    if pos < 0 or pos > end:
        return -1
    idx, ln = _one(_window(words, pos), table, np.uint64((1 << tb) - 1), canon, tb, L)
    if pos + ln > end:
        return -1
    return np.int64(syms[idx])


@numba.njit(cache=True, nogil=True)
def _access_sorted(words, table, syms, canon, sync, meta, positions, order, out):
    """``out[order[t]] = s[positions[t]]`` for ascending ``positions``; 0 or -1 on corruption."""
    n, ks, tb, L = meta[M_N], meta[M_KS], meta[M_TB], meta[M_L]
    tmask = np.uint64((1 << tb) - 1)
    cur_b = -1
    i = 0
    pos = np.int64(0)
    last_q = -1
    last = np.uint32(0)
    for t in range(positions.size):
        q = positions[t]
        if q == last_q:
            out[order[t]] = last
            continue
        b = q >> ks
        if b != cur_b or q < i:
            cur_b = b
            i = b << ks
            pos = np.int64(sync[b])
        end = np.int64(sync[b + 1])
        if q > i:
            pos, _ = _count_run(words, table, canon, meta, pos, end, q - i, -1)
            if pos < 0 or pos > end:
                return -1
        idx, ln = _one(_window(words, pos), table, tmask, canon, tb, L)
        pos += ln
        i = q + 1
        if pos > end or (i == min((b + 1) << ks, n) and pos != end):
            return -1
        last_q = q
        last = syms[idx]
        out[order[t]] = last
    return 0


@numba.njit(cache=True, nogil=True)
def _rank_sorted(words, table, canon, sync, rows, meta, cidx, positions, out):
    """``out[t] = rank(c, positions[t])`` for ascending ``positions`` (c = canonical index cidx)."""
    cs, ks, nsb = meta[M_CS], meta[M_KS], meta[M_NSB]
    cur_j = -1
    i = 0
    pos = np.int64(0)
    cnt = 0
    for t in range(positions.size):
        q = positions[t]
        j = min(q >> cs, nsb - 1)
        if j != cur_j or q < i:
            cur_j = j
            i = j << cs
            pos = np.int64(sync[i >> ks])
            cnt = 0 if j == 0 else np.int64(rows[j - 1, cidx])
        i, pos, occ = _advance(words, table, canon, sync, meta, i, pos, q, cidx)
        if pos < 0:
            return -1
        cnt += occ
        out[t] = cnt
    return 0


@numba.njit(cache=True, nogil=True, inline="always")
def _find_run(words, table, canon, meta, pos, end, cnt, cidx, need):
    """Decode up to ``cnt`` symbols from bit ``pos``, stopping right after the ``need``-th occurrence
    of ``cidx``: (bit position or -1 on overrun, symbols decoded, occurrences still needed)."""
    tb, L, m = meta[M_TB], meta[M_L], meta[M_GROUP]
    tmask = np.uint64((1 << tb) - 1)
    k = 0
    while k < cnt:
        if pos > end:
            return np.int64(-1), k, need
        w = _window(words, pos)
        for _ in range(min(m, cnt - k)):
            idx, ln = _one(w, table, tmask, canon, tb, L)
            w >>= np.uint64(ln)
            pos += ln
            k += 1
            if idx == cidx:
                need -= 1
                if need == 0:
                    return pos, k, need
    return pos, k, need


@numba.njit(cache=True, nogil=True)
def _find(words, table, canon, sync, meta, i, pos, need, limit, cidx):
    """The ``need``-th (>= 1) occurrence of ``cidx`` at or after symbol ``i`` (bit ``pos``), before
    ``limit``: (position or -1 if none, next symbol, its bit position or -1 on corruption)."""
    n, ks = meta[M_N], meta[M_KS]
    while i < limit:
        b = i >> ks
        if i == b << ks and (b + 2) << ks <= limit:  # two whole blocks: skip them together if they can
            ea, eb = np.int64(sync[b + 1]), np.int64(sync[b + 2])
            pa, pb, occ = _count_pair(words, table, canon, meta, pos, ea, ea, eb, 1 << ks, cidx)
            if pa != ea or pb != eb:
                return -1, i, np.int64(-1)
            if occ < need:
                need -= occ
                i = (b + 2) << ks
                pos = eb
                continue
        bend = min((b + 1) << ks, n)
        end = np.int64(sync[b + 1])
        stop = min(limit, bend)
        pos, k, need = _find_run(words, table, canon, meta, pos, end, stop - i, cidx, need)
        i += k
        if pos < 0 or (i == bend and pos != end):
            return -1, i, np.int64(-1)
        if need == 0:
            return i - 1, i, pos
    return -1, i, pos


@numba.njit(cache=True, nogil=True)
def _select_sorted(words, table, canon, sync, rows, meta, cidx, ks_sorted, out):
    """``out[t] = select(c, ks_sorted[t])`` for ascending ``ks >= 1``: 0; -1 when some k exceeds the
    occurrences (``out`` filled up to it); -2 on corruption."""
    n, cs, ks, nsb = meta[M_N], meta[M_CS], meta[M_KS], meta[M_NSB]
    cur_j = -1
    i = 0
    pos = np.int64(0)
    cnt = 0
    last_k = -1
    last = -1
    for t in range(ks_sorted.size):
        k = ks_sorted[t]
        if k == last_k:
            out[t] = last
            continue
        lo = 0  # superblock: the last j with (occurrences before j * C) < k
        hi = nsb - 1
        while lo < hi:
            mid = (lo + hi + 1) >> 1
            if np.int64(rows[mid - 1, cidx]) < k:
                lo = mid
            else:
                hi = mid - 1
        if lo != cur_j or cnt >= k:
            cur_j = lo
            i = lo << cs
            pos = np.int64(sync[i >> ks])
            cnt = 0 if lo == 0 else np.int64(rows[lo - 1, cidx])
        limit = min((cur_j + 1) << cs, n)
        q, i, pos = _find(words, table, canon, sync, meta, i, pos, k - cnt, limit, cidx)
        if pos < 0:
            return -2
        if q < 0:
            return -2 if limit < n else -1
        cnt = k
        last_k = k
        last = q
        out[t] = q
    return 0


# --------------------------------------------------------------------------- building


@numba.njit(cache=True, nogil=True)
def _decode_table(count, L, tb):
    """Primary table: entry for the next ``tb`` stream bits = (canonical index << 5) | length, or 0
    when the code there is longer than ``tb`` bits."""
    table = np.zeros(1 << tb, dtype=np.uint32)
    code = 0
    idx = 0
    for d in range(1, L + 1):
        c = np.int64(count[d])
        if d <= tb:
            for _ in range(c):
                r = 0
                for bit in range(d):  # reverse the d-bit code: its first bit goes lowest
                    r |= ((code >> (d - 1 - bit)) & 1) << bit
                entry = np.uint32((idx << 5) | d)
                for f in range(1 << (tb - d)):
                    table[r | (f << d)] = entry
                code += 1
                idx += 1
        else:
            code += c
            idx += c
        code <<= 1
    return table


@numba.njit(cache=True, nogil=True)
def _reversed_codes(codes, lengths):
    out = np.empty(codes.size, dtype=np.uint64)
    for j in range(codes.size):
        d = np.int64(lengths[j])
        out[j] = _rev32(np.uint64(codes[j])) >> np.uint64(32 - d)
    return out


@numba.njit(cache=True, nogil=True)
def _encode(keys, lut, rcode, clen, ks, cs, words, sync, rows):
    """Write the bit stream, the sync offsets and the count rows; returns the number of bits."""
    n = keys.size
    p = rcode.size
    kmask = (1 << ks) - 1
    cmask = (1 << cs) - 1
    track = rows.shape[0] > 0
    running = np.zeros(p if track else 0, dtype=np.uint32)
    acc = np.uint64(0)
    nacc = 0
    wpos = 0
    bitpos = 0
    for i in range(n):
        if i & kmask == 0:
            sync[i >> ks] = bitpos
        x = lut[keys[i]]
        if track:
            if i & cmask == 0 and i > 0:
                rows[(i >> cs) - 1, :] = running
            running[x] += 1
        ln = np.int64(clen[x])
        code = rcode[x]
        acc |= code << np.uint64(nacc)
        nacc += ln
        bitpos += ln
        if nacc >= 64:
            words[wpos] = acc
            wpos += 1
            nacc -= 64
            acc = code >> np.uint64(ln - nacc)  # ln - nacc < ln <= 32, so this never shifts by 64
    if nacc > 0:
        words[wpos] = acc
    sync[sync.size - 1] = bitpos
    return bitpos


def _n_blocks(n: int, shift: int) -> int:
    return (n + (1 << shift) - 1) >> shift


def sections(L: int, n: int, p: int, total_bits: int, ks: int, cs: int) -> list[tuple[str, str, int]]:
    """``(name, dtype, count)`` of every section in order (each at the next multiple of 8)."""
    coded = L >= 1
    return [
        ("count", "<u4", L + 1),
        ("symbols", "<u4", p),
        ("sync", "<u8", _n_blocks(n, ks) + 1 if coded else 0),
        ("counts", "<u4", (_n_blocks(n, cs) - 1) * p if coded else 0),
        ("bits", "<u8", total_bits // 64 + 2 if coded else 0),
    ]


def _sizes(layout: list[tuple[str, str, int]]) -> list[tuple[str, int]]:
    return [(name, count * np.dtype(dtype).itemsize) for name, dtype, count in layout]


def auto_count_every(p: int, sync_every: int) -> int:
    """The ``"auto"`` superblock size: ``min(next_pow2(max(2**16, sync_every, 256 * p)), 2**32)``
    (capped at what ``open`` accepts: past 2**24 distinct symbols the product overflows it)."""
    want = max(1 << AUTO_COUNT_MIN_SHIFT, sync_every, AUTO_COUNT_PER_SYMBOL * p)
    return min(1 << (want - 1).bit_length(), 1 << MAX_COUNT_SHIFT)


def _frequencies(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(present symbols ascending, their frequencies, keys, key -> ascending index) with
    ``key_to_index[keys[i]]`` the index of ``values[i]`` among the present symbols."""
    top = int(values.max())
    if top < _DENSE_LIMIT:
        freq_all = np.bincount(values, minlength=top + 1)
        present = np.flatnonzero(freq_all).astype(np.uint32)
        lut = np.zeros(top + 1, dtype=np.uint32)
        lut[present] = np.arange(present.size, dtype=np.uint32)
        return present, freq_all[present], values, lut
    present, inverse, freqs = np.unique(values, return_inverse=True, return_counts=True)
    lut = np.arange(present.size, dtype=np.uint32)
    return present.astype(np.uint32), freqs, inverse.astype(np.uint32).ravel(), lut


# --------------------------------------------------------------------------- the Sequence


class HuffmanFastSequence(Sequence):
    """Queries over the bytes of a ``huffman-fast`` payload (see the module docstring)."""

    def __init__(self, data: np.ndarray, fields: dict[str, int], views: dict[str, np.ndarray]) -> None:
        self._data = data
        self._n = fields["n"]
        self.alphabet_size = fields["sigma"]
        self._L = fields["L"]
        self._p = fields["p"]
        self._ks = fields["sync_shift"]
        self._cs = fields["count_shift"]
        self._total_bits = fields["total_bits"]
        self._syms = views["symbols"]
        count = views["count"].astype(np.int64)
        self._count = count
        L = self._L
        if L >= 1:
            tb = _table_bits(count, L)
            first_code, first_index = depth_tables(count)
            self._canon = np.stack([first_code, first_code + count, first_index])
            self._table = _decode_table(count, L, tb)
            self._words = views["bits"]
            self._sync = views["sync"]
            nsb = _n_blocks(self._n, self._cs)
            self._rows = views["counts"].reshape(nsb - 1, self._p)
            self._meta = np.array([self._n, L, tb, self._ks, self._cs, 64 // L, self._p, nsb], dtype=np.int64)
            # the leading kernel arguments: for decoding symbols, and for counting (rank, select)
            self._decoding = (self._words, self._table, self._syms, self._canon, self._sync, self._meta)
            self._counting = (self._words, self._table, self._canon, self._sync, self._rows, self._meta)
        # symbol -> canonical index, by binary search over the symbols in ascending order
        self._asc_order = np.argsort(self._syms, kind="stable")
        self._asc_syms = self._syms[self._asc_order]

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        return int(self._data.size)

    @property
    def max_code_length(self) -> int:
        """The longest code in the table (0 when at most one distinct symbol)."""
        return self._L

    @property
    def sync_every(self) -> int:
        return 1 << self._ks

    @property
    def count_every(self) -> int:
        return 1 << self._cs

    @property
    def payload_bits(self) -> int:
        """Bits of the Huffman-coded symbols (the sum of their code lengths)."""
        return self._total_bits

    @property
    def payload_nbytes(self) -> int:
        """The bitstream alone, in whole bytes (what benchmarks compare with dahuffman's)."""
        return (self._total_bits + 7) // 8

    @property
    def index_nbytes(self) -> int:
        """Everything else: header, code table, sync points, count index, word padding."""
        return self.nbytes - self.payload_nbytes

    def _index_of(self, c: int) -> int:
        """Canonical index of symbol ``c``, -1 if it has no code."""
        j = int(np.searchsorted(self._asc_syms, c))
        if j < self._asc_syms.size and int(self._asc_syms[j]) == c:
            return int(self._asc_order[j])
        return -1

    def access(self, i: int) -> int:
        i = int(i)
        if not 0 <= i < self._n:
            raise IndexError(f"position {i} out of range [0, {self._n})")
        if self._L == 0:
            return int(self._syms[0])
        return _ok(_access(*self._decoding, i))

    def rank(self, c: int, i: int) -> int:
        c, i = int(c), int(i)
        if not (0 <= c < self.alphabet_size and 0 <= i <= self._n):
            self._check_rank_args(c, i)  # raises the documented error
        return int(self._rank_sorted(c, np.array([i], dtype=np.int64))[0])

    def _rank_sorted(self, c: int, positions: np.ndarray) -> np.ndarray:
        out = np.zeros(positions.size, dtype=np.int64)
        cidx = self._index_of(c)
        if cidx < 0 or positions.size == 0:
            return out
        if self._L == 0:
            return positions.astype(np.int64, copy=True)
        _ok(_rank_sorted(*self._counting, cidx, positions, out))
        return out

    def rank_many(self, c: int, positions: Any) -> np.ndarray:
        """``rank(c, i)`` for every ``i`` in ``positions`` (each in ``[0, n]``), as int64."""
        c = self._check_symbol(c)
        positions = _positions(positions, self._n + 1)
        order, ordered = _sorted(positions)
        out = np.empty(positions.size, dtype=np.int64)
        out[order] = self._rank_sorted(c, ordered)
        return out

    def select(self, c: int, k: int) -> int:
        c = self._check_symbol(c)
        k = int(k)
        if not 1 <= k <= self._n:
            raise self._select_error(c, k)
        return int(self._select_sorted(c, np.array([k], dtype=np.int64), [k])[0])

    def select_many(self, c: int, ks: Any) -> np.ndarray:
        c, ks = self._check_select_batch(c, ks)
        if ks.size == 0:
            return np.empty(0, dtype=np.int64)
        if int(ks.max()) > self._n:  # more than n occurrences: name the first k beyond the count
            total = self.rank(c, self._n)
            raise self._select_error(c, int(ks[ks > total][0]))
        order = np.argsort(ks, kind="stable")
        out = np.empty(ks.size, dtype=np.int64)
        out[order] = self._select_sorted(c, ks[order], ks)
        return out

    def _select_sorted(self, c: int, ks_sorted: np.ndarray, ks_input: Any) -> np.ndarray:
        """Answers for ascending ``ks`` in ``[1, n]``; IndexError naming the first bad k of ``ks_input``."""
        out = np.empty(ks_sorted.size, dtype=np.int64)
        cidx = self._index_of(c)
        if cidx < 0:
            status = -1
        elif self._L == 0:
            out[:] = ks_sorted - 1
            status = 0
        else:
            status = _select_sorted(*self._counting, cidx, ks_sorted, out)
        if status == -2:
            raise _corrupt()
        if status == -1:
            total = self.rank(c, self._n)
            bad = next((int(k) for k in np.asarray(ks_input, dtype=np.int64).ravel() if int(k) > total), None)
            if bad is None:  # the kernels disagree with each other: only damaged bits do that
                raise _corrupt()
            raise self._select_error(c, bad)
        return out

    def extract(self, start: int, stop: int) -> np.ndarray:
        start, stop = self._check_range(start, stop)
        if self._L == 0:
            return np.full(stop - start, self._syms[0] if self._p else 0, dtype=np.uint32)
        out = np.empty(stop - start, dtype=np.uint32)
        _ok(_extract(*self._decoding, start, stop, out))
        return out

    def access_many(self, positions: Any) -> np.ndarray:
        """``s[positions]`` as uint32, in the order given."""
        positions = _positions(positions, self._n)
        if self._L == 0:
            return np.full(positions.size, self._syms[0] if self._p else 0, dtype=np.uint32)
        order, ordered = _sorted(positions)
        out = np.empty(positions.size, dtype=np.uint32)
        _ok(_access_sorted(*self._decoding, ordered, order, out))
        return out


def _table_bits(count: np.ndarray, L: int) -> int:
    """Bits the primary decode table is indexed by: ``min(L, 12)``, grown (up to 18) while codes
    longer than it hold more than 1/32 of the Kraft sum (about that share of the symbols decoded:
    Huffman lengths track -log2 of the frequency), so that the slow path stays rare."""
    tb = min(L, TABLE_BITS)
    while tb < min(L, MAX_TABLE_BITS):
        longer = sum(int(c) << (L - d) for d, c in enumerate(count.tolist()) if d > tb)
        if longer <= (1 << L) * LONG_CODE_SHARE:
            break
        tb += 1
    return tb


def _corrupt() -> CorruptDataError:
    return CorruptDataError("huffman-fast: the bit stream contradicts its sync offsets")


def _ok(value: int) -> int:
    if value < 0:
        raise _corrupt()
    return int(value)


def _positions(positions: Any, bound: int) -> np.ndarray:
    arr = as_positions(positions)
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= bound):
        raise IndexError(f"positions must lie in [0, {bound})")
    return arr


def _sorted(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(original index, position) in ascending position order (positions < 2**32)."""
    if positions.size >= 1 << 32:  # pragma: no cover - beyond any realistic batch
        order = np.argsort(positions, kind="stable")
        return order, positions[order]
    keys = np.sort((positions.astype(np.uint64) << np.uint64(32)) | np.arange(positions.size, dtype=np.uint64))
    return (keys & np.uint64(0xFFFFFFFF)).astype(np.int64), (keys >> np.uint64(32)).astype(np.int64)


# --------------------------------------------------------------------------- the codec


def _bad(message: str) -> CorruptDataError:
    return CorruptDataError(f"huffman-fast: {message}")


def _is_int(x: Any) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool | np.bool_)


def _power_of_two(x: int) -> bool:
    return x >= 1 and x & (x - 1) == 0


class HuffmanFastCodec(Codec):
    """Canonical length-limited Huffman codes, sync points and a symbol-count index."""

    name = "huffman-fast"
    params: dict[str, Any] = {"max_code_length": 12, "sync_every": 4096, "count_every": "auto"}

    def _effective(self, params: dict[str, Any]) -> tuple[int, int, int | None]:
        p = self._check_params(params)
        length, sync_every, count_every = p["max_code_length"], p["sync_every"], p["count_every"]
        if not _is_int(length) or not 1 <= length <= MAX_CODE_LENGTH:
            raise ValueError(
                f"huffman-fast: parameter 'max_code_length' must be an integer in [1, {MAX_CODE_LENGTH}], not {length!r}"
            )
        if not _is_int(sync_every) or not _power_of_two(int(sync_every)) or sync_every > 1 << MAX_SYNC_SHIFT:
            raise ValueError(
                f"huffman-fast: parameter 'sync_every' must be a power of two in [1, 2**{MAX_SYNC_SHIFT}], "
                f"not {sync_every!r}"
            )
        auto = isinstance(count_every, str) and count_every == "auto"
        if not auto and (
            not _is_int(count_every)
            or not _power_of_two(int(count_every))
            or not sync_every <= count_every <= 1 << MAX_COUNT_SHIFT
        ):
            raise ValueError(
                f"huffman-fast: parameter 'count_every' must be 'auto' or a power of two in "
                f"[sync_every = {sync_every}, 2**{MAX_COUNT_SHIFT}], not {count_every!r}"
            )
        return int(length), int(sync_every), None if auto else int(count_every)

    def encode(self, symbols: np.ndarray, alphabet_size: int, **params: Any) -> bytes:
        max_length, sync_every, count_every = self._effective(params)
        values = check_symbols(symbols, alphabet_size)
        n = values.size
        if n > MAX_SYMBOLS:
            raise ValueError(f"huffman-fast: at most {MAX_SYMBOLS} symbols per sequence, got {n}")
        if n:
            present, freqs, keys, lut = _frequencies(values)
        else:
            present = np.zeros(0, dtype=np.uint32)
            freqs = np.zeros(0, dtype=np.int64)
        p = present.size
        ks = sync_every.bit_length() - 1
        cs = (count_every if count_every is not None else auto_count_every(p, sync_every)).bit_length() - 1
        if p >= 2:
            lengths = code_lengths(freqs, max(max_length, (p - 1).bit_length()))
            code = canonical(lengths)
            L = code.max_length
            syms = present[code.sorted_symbols]
            count = code.count.astype(np.uint32)
            clen = lengths[code.sorted_symbols].astype(np.uint8)
            rcode = _reversed_codes(code.codes[code.sorted_symbols], clen)
            to_canonical = np.empty(p, dtype=np.uint32)
            to_canonical[code.sorted_symbols] = np.arange(p, dtype=np.uint32)
            lut = to_canonical[lut]
            total_bits = int((freqs * lengths.astype(np.int64)).sum())
        else:
            L, syms, count, total_bits = 0, present, np.array([p], dtype=np.uint32), 0
        layout = sections(L, n, p, total_bits, ks, cs)
        offsets, end = section_offsets(HEADER.size, _sizes(layout))
        out = np.zeros(end, dtype=np.uint8)
        HEADER.pack_into(out, 0, L, n, int(alphabet_size), p, total_bits, ks, cs, 0)
        views = {
            name: out[offsets[name] : offsets[name] + cnt * np.dtype(dt).itemsize].view(dt) for name, dt, cnt in layout
        }
        views["count"][:] = count
        views["symbols"][:] = syms
        if L >= 1:
            rows = views["counts"].reshape(-1, p)
            written = _encode(keys, lut, rcode, clen, ks, cs, views["bits"], views["sync"], rows)
            assert written == total_bits
        return out.tobytes()

    def open(self, buffer: Any) -> HuffmanFastSequence:
        data = as_byte_array(buffer)
        if data.ctypes.data % 8:  # numba wants aligned words: one copy
            data = aligned_copy(data, 8)
        fields, views = load(data)
        return HuffmanFastSequence(data, fields, views)


def load(data: np.ndarray) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """Validate a payload (``data``: uint8, 8-byte aligned); (header fields, section views)."""
    L, n, sigma, p, total_bits, ks, cs, reserved = HEADER.unpack(data)
    if reserved != 0:
        raise _bad("reserved header field is not zero")
    if not 1 <= sigma <= 2**32:
        raise _bad(f"alphabet size {sigma} out of range [1, 2**32]")
    if n > MAX_SYMBOLS:
        raise _bad(f"n = {n} exceeds {MAX_SYMBOLS}")
    if L > MAX_CODE_LENGTH:
        raise _bad(f"longest code length {L} exceeds {MAX_CODE_LENGTH}")
    if ks > MAX_SYNC_SHIFT or not ks <= cs <= MAX_COUNT_SHIFT:
        raise _bad(f"sync_shift {ks} / count_shift {cs} out of range")
    if p > min(sigma, n):
        raise _bad(f"{p} coded symbols but n = {n}, sigma = {sigma}")
    if L == 0:
        if p != min(n, 1) or total_bits != 0:
            raise _bad(f"no code bits (L = 0) but p = {p}, n = {n}, total_bits = {total_bits}")
    elif p < 2 or not n <= total_bits <= n * L:
        raise _bad(f"L = {L} with p = {p}, n = {n}, total_bits = {total_bits}")
    layout = sections(L, n, p, total_bits, ks, cs)
    views = {}
    for (name, dt, _), (_, raw) in zip(
        layout, read_sections(data, HEADER.size, _sizes(layout), _bad).items(), strict=True
    ):
        view = raw.view(dt)
        view.flags.writeable = False  # one numba type for every buffer flavour; never written
        views[name] = view
    fields = {"L": L, "n": n, "sigma": sigma, "p": p, "total_bits": total_bits, "sync_shift": ks, "count_shift": cs}
    count = views["count"].astype(np.int64)
    syms = views["symbols"]
    _check_code(count, syms, L, p, sigma)
    if L >= 1:
        lengths = np.repeat(np.arange(L + 1, dtype=np.int64), count)  # length per canonical index
        _check_sync(views["sync"], n, ks, total_bits, int(lengths[0]), L)
        _check_counts(views["counts"], views["sync"], lengths, n, ks, cs, p)
        bits = views["bits"]
        tail = total_bits & 63
        if (tail and int(bits[total_bits >> 6]) >> tail) or int(bits[-1]) or (not tail and int(bits[-2])):
            raise _bad("padding bits after the last code are not zero")
    return fields, views


def _check_code(count: np.ndarray, syms: np.ndarray, L: int, p: int, sigma: int) -> None:
    if int(count.sum()) != p:
        raise _bad(f"code table counts sum to {int(count.sum())}, expected {p} symbols")
    if L >= 1:
        if count[0] != 0 or count[L] == 0:
            raise _bad("code table: count[0] must be 0 and count[L] non-zero")
        kraft = sum(int(c) << (L - d) for d, c in enumerate(count.tolist()))
        if kraft != 1 << L:
            raise _bad("code table is not a complete prefix code (Kraft sum != 1)")
    if p:
        if int(syms.max()) >= sigma:
            raise _bad(f"coded symbol {int(syms.max())} outside the alphabet [0, {sigma})")
        if p >= 2:
            starts = np.cumsum(count)[:-1]  # index where each length's run ends / the next begins
            step = np.diff(syms.astype(np.int64))
            boundary = np.zeros(p - 1, dtype=bool)
            inner = starts[(starts >= 1) & (starts <= p - 1)] - 1
            boundary[inner] = True
            if np.any(step[~boundary] <= 0):
                raise _bad("code table symbols are not strictly ascending within a length")
            if np.unique(syms).size != p:
                raise _bad("code table lists a symbol twice")


def _check_sync(sync: np.ndarray, n: int, ks: int, total_bits: int, min_len: int, L: int) -> None:
    offsets = sync.astype(np.int64)  # u64 values above 2**63 wrap negative: caught below
    if int(offsets[0]) != 0 or int(sync[-1]) != total_bits:
        raise _bad("sync offsets must start at 0 and end at total_bits")
    per_block = np.full(offsets.size - 1, 1 << ks, dtype=np.int64)
    per_block[-1] = n - ((offsets.size - 2) << ks)
    bits = np.diff(offsets)
    if np.any(bits < per_block * min_len) or np.any(bits > per_block * L):
        raise _bad("sync offsets inconsistent with the code lengths (a block's bits out of range)")


def _check_counts(counts: np.ndarray, sync: np.ndarray, lengths: np.ndarray, n: int, ks: int, cs: int, p: int) -> None:
    if counts.size == 0:
        return
    rows = counts.reshape(-1, p).astype(np.int64)
    expected = (np.arange(rows.shape[0], dtype=np.int64) + 1) << cs
    if np.any(rows.sum(axis=1) != expected):
        raise _bad("count index rows do not sum to the symbols before each superblock")
    if np.any(np.diff(rows, axis=0) < 0):
        raise _bad("count index is not monotone")
    bits_before = rows @ lengths
    if np.any(bits_before != sync.astype(np.int64)[expected >> ks]):
        raise _bad("count index disagrees with the sync offsets (bits before a superblock)")


@hookimpl
def codecbench_codecs() -> list[type[Codec]]:
    return [HuffmanFastCodec]

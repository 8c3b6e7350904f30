"""``huffman-fast``: canonical, length-limited Huffman codes in four interleaved bit streams per
block, table-driven decoding.

The honest fast Huffman baseline: about ``n * H0`` bits plus a small index, decoded by numba kernels
that peek the next stream bits, look up (symbol, length) once and shift. ``specs/codec-huffman-fast.md``
is normative. ``encode`` writes layout version 2; ``open`` reads versions 2 and 1 (the layout of
earlier releases: one stream, see the spec). Version 2, in short (little-endian throughout)::

    0   8  magic b"CBHUFFF\\0"           40  8  u64 total_bits (sum of code lengths)
    8   4  u32 layout version (2)         48  4  u32 sync_shift  (K = 2**sync_shift, 2..24)
    12  4  u32 L (longest code, 0..32)    52  4  u32 count_shift (C = 2**count_shift, sync_shift..32)
    16  8  u64 n                          56  4  u32 streams (4)
    24  8  u64 sigma                      60  4  u32 reserved (0)
    32  8  u64 p (distinct symbols coded)
    sections, each at the next multiple of 8 (B = ceil(n/K) blocks, R = max(ceil(n/C) - 1, 0)):
      count u32[L+1] | symbols u32[p] | sync u64[B+1] | seglen u16/u32[3B] | counts u16/u32[R*p]
      | groups u32[(R >> 6) * p] | bits u64[total_bits // 64 + 2]
    (with L = 0, i.e. at most one distinct symbol, sections 3 to 7 are empty)

Symbol ``j*K + 4*k + s`` is the ``k``-th code of stream ``s`` (0..3) of block ``j``; the four streams
of a block follow each other from bit ``sync[j]``, ``seglen`` holds the bit lengths of streams 0-2.
Bits are LSB-first, each code first bit first (the code's most significant bit at the lowest
stream position), as in DEFLATE. ``counts`` row ``t`` holds every coded symbol's occurrences in
sample ``t`` alone (symbols ``[t*C, (t+1)*C)``; ``u16`` when ``C <= 2**16``, a count of 65536 stored as
65535), ``groups`` row ``w`` the cumulative counts before sample ``64*(w+1)``.

Parameters: ``max_code_length`` (default 11, raised to ``bit_length(p - 1)`` when needed, at most 32),
``sync_every`` (default 4096, a power of two in ``[4, 2**24]``), ``count_every`` (default ``"auto"``:
``next_pow2(max(2**16, sync_every, 256 * p))``; else a power of two in ``[sync_every, 2**32]``).
At most ``2**32 - 1`` symbols per sequence.

Besides the Sequence contract, the opened sequence has ``access_many(positions)`` and
``rank_many(c, positions)`` (positions sorted once, then answered by one forward pass), and the
fused-decode hook: :meth:`HuffmanFastSequence.kernel_state` (a tuple a numba kernel can take, ``None``
for a version-1 payload), :attr:`HuffmanFastSequence.block_size` and the module-level
:func:`extract_into` (``@njit``: symbols ``s[start:stop)`` into a uint8/uint16/uint32 array).

Kernels are module-level ``@numba.njit(cache=True)`` entry points (a fresh process loads them from
numba's disk cache); what varies per payload (codes per refill, the slow path for codes longer
than the table) is a runtime value or a constant argument of a ``forceinline`` helper, and what a
decoded symbol becomes (stored, counted) is chosen by the type of the destination (:func:`_emit`).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from codecbench.codecs.base import Codec, Sequence, aligned_copy, as_byte_array, as_positions, check_symbols
from codecbench.errors import CorruptDataError
from codecbench.hookspecs import hookimpl
from codecbench.succinct.container import Header, read_sections, section_offsets
from codecbench.succinct.huffman_code import canonical, code_lengths, depth_tables

#: after the magic and version: L, n, sigma, p, total_bits, sync_shift, count_shift, then version 2's
#: streams and reserved u32s (version 1: one reserved u64, i.e. both zero)
HEADER = Header("huffman-fast", b"CBHUFFF\0", 2, "IQQQQIIII", readable=(1,))
assert HEADER.size == 64
VERSION = 2
STREAMS = 4
MAX_CODE_LENGTH = 32  # hard cap: the decoder handles every length up to it
DEFAULT_MAX_CODE_LENGTH = 11
MAX_SYMBOLS = 2**32 - 1  # counts are u32
MIN_SYNC_SHIFT = 2  # version 2: at least one code per stream in a whole block
MAX_SYNC_SHIFT = 24
MAX_COUNT_SHIFT = 32
GROUP_SHIFT = 6  # a cumulative count row every 2**6 samples
FAST_TABLE_BITS = 12  # L <= this: a table of 2**L entries decodes every code in one lookup
TABLE_BITS = 12  # longer codes: the table starts at this many bits ...
MAX_TABLE_BITS = 16  # ... grown up to this while long codes carry much of the Kraft sum
LONG_CODE_SHARE = 1 / 32
MAX_GROUP = 8  # codes decoded per 64-bit refill, at most
REFILL_BITS = 56  # a refill leaves at least this many unread stream bits
AUTO_COUNT_MIN_SHIFT = 16
AUTO_COUNT_PER_SYMBOL = 256
_DENSE_LIMIT = 1 << 22  # symbols below this are counted with bincount, others with np.unique

_TOP = np.uint64(1 << 63)
_ONE = np.uint64(1)
_63 = np.uint64(63)
_EIGHT = np.uint64(8)
_STRIDE = np.uint64(STREAMS)
_M32 = np.uint64(0xFFFFFFFF)
_K1 = np.uint64(0x55555555)
_K2 = np.uint64(0x33333333)
_K4 = np.uint64(0x0F0F0F0F)
_K8 = np.uint64(0x00FF00FF)
_K16 = np.uint64(0x0000FFFF)

# The version-2 kernel state (HuffmanFastSequence.kernel_state), in this order:
#   bb     uint8[:]   the bits section as bytes (read with unaligned 8-byte loads)
#   table  u16/u32/u64[2**tb]  entry for the next tb stream bits: (symbol << 8) | code length, 0 if longer
#   syms   u32[p]     symbols in canonical order
#   canon  int64[3, L+1]  first code, first code + count, first canonical index, per length
#   sync   u64[B+1]   bit offset of each block
#   seg    uint8[:]   the seglen section as bytes: bit lengths of streams 0, 1, 2 of each block
#   n, L, tb, ks (sync_shift), G (codes per refill), long (1 if some code is longer than tb),
#   seg_wide (1 if seglen is u32, 0 if u16)
S_N, S_L, S_TB, S_KS, S_G, S_LONG, S_SEG_WIDE = 6, 7, 8, 9, 10, 11, 12


# --------------------------------------------------------------------------- version 2: primitives


def _unaligned_load(bits: int) -> Any:
    """An intrinsic ``load(arr, i)``: the little-endian ``bits``-bit unsigned integer at byte ``i`` of the
    uint8 array ``arr``, one unaligned load, no bounds check (callers index validated sections)."""
    result = getattr(types, f"uint{bits}")

    @intrinsic
    def load(typingctx, arr, idx):
        if not (isinstance(arr, types.Array) and arr.dtype == types.uint8 and isinstance(idx, types.Integer)):
            return None

        def codegen(context, builder, signature, args):
            ary = context.make_array(signature.args[0])(context, builder, args[0])
            ptr = builder.gep(ary.data, [args[1]])
            return builder.load(builder.bitcast(ptr, ir.IntType(bits).as_pointer()), align=1)

        return result(arr, types.int64), codegen

    return load


_load_u16 = _unaligned_load(16)
_load_u32 = _unaligned_load(32)
_load_u64 = _unaligned_load(64)


@intrinsic
def _lzcnt(typingctx, x):
    """Leading zero bits of a non-zero 64-bit ``x`` (``llvm.ctlz``, zero undefined: one ``lzcnt``)."""
    if not (isinstance(x, types.Integer) and x.bitwidth == 64):
        return None

    def codegen(context, builder, signature, args):
        return builder.ctlz(args[0], ir.Constant(ir.IntType(1), 1))

    return types.int64(x), codegen


def _emit(dst, i, sym):  # pragma: no cover - only the compiled overload below runs
    """What a decoded symbol becomes, by the type of ``dst``: an array stores it (``dst[i] = sym``,
    returns 0); an integer counts it (returns ``sym == dst``). The kernels sum the returns."""
    raise NotImplementedError


@overload(_emit, inline="always")
def _emit_impl(dst, i, sym):
    if isinstance(dst, types.Array):

        def store(dst, i, sym):
            dst[i] = sym
            return np.int64(0)

        return store
    if isinstance(dst, types.Integer):

        def count(dst, i, sym):
            return np.int64(sym == dst)

        return count
    return None


@numba.njit(forceinline=True)
def _narrow(raw, i, wide):
    """Element ``i`` of a little-endian u16 (``wide`` = 0) or u32 (``wide`` = 1) array given as its
    bytes: one kernel signature for both widths of ``seglen`` and ``counts``."""
    if wide:
        return np.int64(_load_u32(raw, 4 * i))
    return np.int64(_load_u16(raw, 2 * i))


@numba.njit(forceinline=True)
def _rev32(x):
    """Reverse the low 32 bits of ``x`` (a uint64 below 2**32)."""
    x = ((x >> np.uint64(1)) & _K1) | ((x & _K1) << np.uint64(1))
    x = ((x >> np.uint64(2)) & _K2) | ((x & _K2) << np.uint64(2))
    x = ((x >> np.uint64(4)) & _K4) | ((x & _K4) << np.uint64(4))
    x = ((x >> np.uint64(8)) & _K8) | ((x & _K8) << np.uint64(8))
    return ((x >> np.uint64(16)) & _K16) | ((x & _K16) << np.uint64(16))


@numba.njit(forceinline=True)
def _slow(b, syms, canon, tb, L):
    """``(symbol << 8) | length`` of the code longer than ``tb`` bits at the bottom of ``b`` (canonical
    search; a complete code, checked on open, always finds one)."""
    r = np.int64(_rev32(b & _M32) >> np.uint64(32 - L))  # the next L stream bits, first bit highest
    for d in range(tb + 1, L + 1):
        v = r >> (L - d)
        if v < canon[1, d]:  # not a longer code's prefix: a code of length d (v >= first code: canonical)
            return (np.uint64(syms[canon[2, d] + v - canon[0, d]]) << _EIGHT) | np.uint64(d)
    return np.uint64(L)  # unreachable with a complete code


@numba.njit(forceinline=True)
def _look(table, syms, canon, b, tmask, tb, L, long_):
    """Table entry for the code at the bottom of ``b``; with ``long_`` (a constant where it matters)
    codes longer than the table go through :func:`_slow`."""
    e = np.uint64(table[b & tmask])
    if long_:
        if e == 0:
            e = _slow(b, syms, canon, tb, L)
    return e


@numba.njit(forceinline=True)
def _refill(bb, pos, lim):
    """(byte loaded from, bits): the stream bits from ``pos`` with a sentinel 1 above them. The load
    offset is clamped to ``lim`` (= bytes - 8), so even corrupt positions stay inside ``bb``."""
    y = min(pos >> 3, lim)
    return y, (_load_u64(bb, y) | _TOP) >> np.uint64(pos & 7)


@numba.njit(forceinline=True)
def _skip(state, lim, pos, count):
    """Bit position ``count`` codes after ``pos`` in one stream."""
    bb, table, syms, canon, _, _, _, L, tb, _, G, long_, _ = state
    tmask = np.uint64((1 << tb) - 1)
    k = 0
    while k < count:
        y, b = _refill(bb, pos, lim)
        g = min(G, count - k)
        for _ in range(g):
            b >>= _look(table, syms, canon, b, tmask, tb, L, long_) & _63
        k += g
        pos = (y << 3) + _lzcnt(b)  # the sentinel's distance from the top: bits consumed + pos & 7
    return pos


@numba.njit(nogil=True)
def _run(state, lim, pos, skip, count, dst, o):
    """One stream from bit ``pos``: skip ``skip`` codes, then decode ``count`` codes to destination
    positions ``o, o + 4, o + 8, ...``. (bit position after them, sum of the :func:`_emit` returns)."""
    bb, table, syms, canon, _, _, _, L, tb, _, G, long_, _ = state
    tmask = np.uint64((1 << tb) - 1)
    pos = _skip(state, lim, pos, skip)
    acc = np.int64(0)
    i = np.uint64(o)
    k = 0
    while k < count:
        y, b = _refill(bb, pos, lim)
        g = min(G, count - k)
        for _ in range(g):
            e = _look(table, syms, canon, b, tmask, tb, L, long_)
            b >>= e & _63
            acc += _emit(dst, i, e >> _EIGHT)
            i += _STRIDE
        k += g
        pos = (y << 3) + _lzcnt(b)
    return pos, acc


@numba.njit(forceinline=True)
def _x1(bb, table, tmask, G, p0, p1, p2, p3, rounds, dst, o):
    """The 4-stream loop: ``rounds`` times, refill the four streams, then ``G`` rounds of four lookups
    whose symbols go to destination positions ``o, o + 1, o + 2, o + 3`` (``o`` += 4). Only for
    payloads whose codes all fit the table, on blocks whose every load the caller proved to stay
    below ``lim``: no clamp, no slow path. The rest (long codes, the blocks at the end of the
    buffer) takes :func:`_run`, so each kernel compiles one copy of this loop instead of three
    (measured with a fresh cache: ``extract_into`` 11.7 -> 8.5 s, ``rank_many`` 12.9 -> 7.3 s)."""
    acc = np.int64(0)
    for _ in range(rounds):
        y0 = p0 >> 3
        y1 = p1 >> 3
        y2 = p2 >> 3
        y3 = p3 >> 3
        b0 = (_load_u64(bb, y0) | _TOP) >> np.uint64(p0 & 7)
        b1 = (_load_u64(bb, y1) | _TOP) >> np.uint64(p1 & 7)
        b2 = (_load_u64(bb, y2) | _TOP) >> np.uint64(p2 & 7)
        b3 = (_load_u64(bb, y3) | _TOP) >> np.uint64(p3 & 7)
        for _ in range(G):
            e0 = np.uint64(table[b0 & tmask])
            e1 = np.uint64(table[b1 & tmask])
            e2 = np.uint64(table[b2 & tmask])
            e3 = np.uint64(table[b3 & tmask])
            b0 >>= e0 & _63
            b1 >>= e1 & _63
            b2 >>= e2 & _63
            b3 >>= e3 & _63
            acc += _emit(dst, o, e0 >> _EIGHT)
            acc += _emit(dst, o + np.uint64(1), e1 >> _EIGHT)
            acc += _emit(dst, o + np.uint64(2), e2 >> _EIGHT)
            acc += _emit(dst, o + np.uint64(3), e3 >> _EIGHT)
            o += _STRIDE
        p0 = (y0 << 3) + _lzcnt(b0)
        p1 = (y1 << 3) + _lzcnt(b1)
        p2 = (y2 << 3) + _lzcnt(b2)
        p3 = (y3 << 3) + _lzcnt(b3)
    return p0, p1, p2, p3, acc


@numba.njit(nogil=True)
def _blocks(state, j0, j1, dst, obase):
    """Whole blocks ``[j0, j1)`` (the last may be the short final block) to destination positions
    ``j*K + local - obase``. (0, or -1 if a stream does not end where the next begins; sum)."""
    bb, table, _, _, sync, seg, n, L, tb, ks, G, long_, wide = state
    K = np.int64(1) << ks
    tmask = np.uint64((1 << tb) - 1)
    lim = bb.size - 8
    acc = np.int64(0)
    for j in range(j0, j1):
        st = np.int64(sync[j])
        s1 = st + _narrow(seg, 3 * j, wide)
        s2 = s1 + _narrow(seg, 3 * j + 1, wide)
        s3 = s2 + _narrow(seg, 3 * j + 2, wide)
        en = np.int64(sync[j + 1])
        m = min(K, n - j * K)
        rounds = (m >> 2) // G  # stream 3 holds the fewest codes, floor(m / 4)
        base = j * K - obase
        p0, p1, p2, p3 = st, s1, s2, s3
        done = 0  # codes per stream decoded by the 4-stream loop
        # no code is longer than L bits, even in corrupt data: if the last-starting stream cannot
        # reach lim with its most codes, no load of this block can
        if rounds > 0 and not long_ and (s3 + ((m + 3) >> 2) * L) >> 3 <= lim:
            p0, p1, p2, p3, a = _x1(bb, table, tmask, G, p0, p1, p2, p3, rounds, dst, np.uint64(base))
            acc += a
            done = rounds * G
        o = base + 4 * done
        p0, a0 = _run(state, lim, p0, 0, ((m + 3) >> 2) - done, dst, o)
        p1, a1 = _run(state, lim, p1, 0, ((m + 2) >> 2) - done, dst, o + 1)
        p2, a2 = _run(state, lim, p2, 0, ((m + 1) >> 2) - done, dst, o + 2)
        p3, a3 = _run(state, lim, p3, 0, (m >> 2) - done, dst, o + 3)
        acc += a0 + a1 + a2 + a3
        if p0 != s1 or p1 != s2 or p2 != s3 or p3 != en:
            return np.int64(-1), acc
    return np.int64(0), acc


@numba.njit(nogil=True)
def _partial(state, j, la, lb, dst, obase):
    """Local positions ``[la, lb)`` of block ``j`` to destination positions ``j*K + local - obase``,
    stream by stream (each skips the codes before ``la``). (0 or -1, sum)."""
    bb, _, _, _, sync, seg, n, _, _, ks, _, _, wide = state
    K = np.int64(1) << ks
    lim = bb.size - 8
    m = min(K, n - j * K)
    start = np.int64(sync[j])
    acc = np.int64(0)
    for s in range(STREAMS):
        end = start + _narrow(seg, 3 * j + s, wide) if s < STREAMS - 1 else np.int64(sync[j + 1])
        k0 = (la - s + 3) >> 2  # stream s holds local positions s, s + 4, ...
        k1 = (lb - s + 3) >> 2
        if k1 > k0:
            pos, a = _run(state, lim, start, k0, k1 - k0, dst, j * K + 4 * k0 + s - obase)
            acc += a
            if pos > end or (k1 == (m - s + 3) >> 2 and pos != end):
                return np.int64(-1), acc
        start = end
    return np.int64(0), acc


@numba.njit(nogil=True)
def _extract(state, a, b, dst):
    """Symbols ``[a, b)`` to destination positions ``0 .. b - a``: partial first and last blocks
    stream by stream, whole blocks in between with the 4-stream loop. (0 or -1, sum)."""
    n, ks = state[S_N], state[S_KS]
    acc = np.int64(0)
    if a >= b:
        return np.int64(0), acc
    K = np.int64(1) << ks
    j = a >> ks
    jl = (b - 1) >> ks
    if a != j * K or b < min((j + 1) * K, n):  # the first block, partially
        st, r = _partial(state, j, a - j * K, min(b - j * K, K), dst, a)
        acc += r
        if st < 0:
            return st, acc
        j += 1
    if j > jl:
        return np.int64(0), acc
    whole_end = jl + 1 if b == min((jl + 1) * K, n) else jl
    if whole_end > j:
        st, r = _blocks(state, j, whole_end, dst, a)
        acc += r
        if st < 0:
            return st, acc
    if whole_end == jl:  # the last block, partially
        st, r = _partial(state, jl, 0, b - jl * K, dst, a)
        acc += r
        if st < 0:
            return st, acc
    return np.int64(0), acc


# --------------------------------------------------------------------------- version 2: entry points


@numba.njit(cache=True, nogil=True)
def extract_into(state, start, stop, out):
    """Symbols ``s[start:stop)`` of a version-2 payload into ``out[0 : stop - start)``.

    ``state``: :meth:`HuffmanFastSequence.kernel_state`; ``out``: a 1-D C-contiguous uint8, uint16 or
    uint32 array of at least ``stop - start`` elements, of a dtype that holds every symbol (the caller
    picks it). Returns 0; -1 when the bits contradict the payload (corrupt input: nothing is read or
    written out of bounds, ``out`` holds garbage); -2 (nothing done) unless
    ``0 <= start <= stop <= n`` and ``out`` is long enough. Fast for ranges of whole blocks
    (multiples of :attr:`HuffmanFastSequence.block_size`), correct for any range."""
    n, L = state[S_N], state[S_L]
    if not 0 <= start <= stop <= n or out.size < stop - start:
        return -2
    if L == 0:  # at most one distinct symbol: no bits
        syms = state[2]
        if stop > start:
            v = syms[0]
            for i in range(stop - start):
                out[i] = v
        return 0
    st, _ = _extract(state, start, stop, out)
    return st


@numba.njit(cache=True, nogil=True)
def _access(state, i):
    """``s[i]`` (0 <= i < n, L >= 1): only stream ``(i mod K) mod 4`` of block ``i // K`` is decoded.
    -1 on corruption."""
    bb, table, syms, canon, sync, seg, n, L, tb, ks, G, long_, wide = state
    j = i >> ks
    loc = i - (j << ks)
    s = loc & 3
    start = np.int64(sync[j])
    for t in range(s):
        start += _narrow(seg, 3 * j + t, wide)
    end = start + _narrow(seg, 3 * j + s, wide) if s < STREAMS - 1 else np.int64(sync[j + 1])
    lim = bb.size - 8
    pos = _skip(state, lim, start, loc >> 2)
    _, b = _refill(bb, pos, lim)
    e = _look(table, syms, canon, b, np.uint64((1 << tb) - 1), tb, L, True)
    if pos + np.int64(e & _63) > end:
        return np.int64(-1)
    return np.int64(e >> _EIGHT)


@numba.njit(cache=True, nogil=True)
def _access_sorted(state, positions, order, out):
    """``out[order[t]] = s[positions[t]]`` for ascending ``positions`` in ``[0, n)``: each stream of a
    block is decoded once, continuing from the previous position in it. 0 or -1 on corruption."""
    bb, table, syms, canon, sync, seg, n, L, tb, ks, G, long_, wide = state
    K = np.int64(1) << ks
    lim = bb.size - 8
    tmask = np.uint64((1 << tb) - 1)
    bounds = np.zeros(STREAMS + 1, dtype=np.int64)  # stream starts of the current block, and its end
    cpos = np.zeros(STREAMS, dtype=np.int64)  # per stream: bit position of code ck[s]
    ck = np.zeros(STREAMS, dtype=np.int64)
    cur = -1
    last_q = -1
    last = np.uint64(0)
    for t in range(positions.size):
        q = positions[t]
        if q == last_q:
            out[order[t]] = last
            continue
        j = q >> ks
        if j != cur:
            cur = j
            bounds[0] = np.int64(sync[j])
            for s in range(STREAMS - 1):
                bounds[s + 1] = bounds[s] + _narrow(seg, 3 * j + s, wide)
            bounds[STREAMS] = np.int64(sync[j + 1])
            for s in range(STREAMS):
                cpos[s] = bounds[s]
                ck[s] = 0
        loc = q - j * K
        s = loc & 3
        k = loc >> 2
        if k < ck[s]:  # not ascending: start the stream over
            cpos[s] = bounds[s]
            ck[s] = 0
        pos = _skip(state, lim, cpos[s], k - ck[s])
        _, b = _refill(bb, pos, lim)
        e = _look(table, syms, canon, b, tmask, tb, L, True)
        pos += np.int64(e & _63)
        codes = (min(K, n - j * K) - s + 3) >> 2
        if pos > bounds[s + 1] or (k + 1 == codes and pos != bounds[s + 1]):
            return -1
        cpos[s] = pos
        ck[s] = k + 1
        last_q = q
        last = e >> _EIGHT
        out[order[t]] = last
    return 0


@numba.njit(forceinline=True)
def _sample_count(index, t, x):
    """Occurrences of canonical index ``x`` in sample ``t``: the stored count, except that with
    ``C = 2**16`` a stored 65535 in a row summing to 65535 means 65536 (u16 saturation)."""
    counts, wide, _, p, cs = index
    v = _narrow(counts, t * p + x, wide)
    if cs == 16 and v == 0xFFFF:
        total = np.int64(0)
        for y in range(p):
            total += _narrow(counts, t * p + y, wide)
        if total == 0xFFFF:
            v += 1
    return v


@numba.njit(forceinline=True)
def _before_sample(index, x, t):
    """Occurrences of canonical index ``x`` before sample ``t``: a group row, then <= 63 sample rows."""
    groups = index[2]
    u = t >> GROUP_SHIFT
    cnt = np.int64(groups[u - 1, x]) if u > 0 else np.int64(0)
    for q in range(u << GROUP_SHIFT, t):
        cnt += _sample_count(index, q, x)
    return cnt


@numba.njit(cache=True, nogil=True)
def _rank_sorted(state, index, x, c, positions, out):
    """``out[t] = rank(c, positions[t])`` for ascending positions in ``[0, n]`` (``c``: a coded symbol,
    ``x`` its canonical index): the count before the position's block (count index, then whole blocks
    counted by the 4-stream loop), plus a scan of that block, decoded once. ``index``: the count
    index, ``(counts as bytes, 1 if u32, groups u32[W, p], p, count_shift)``. 0 or -1 on corruption."""
    n, ks, cs = state[S_N], state[S_KS], index[4]
    K = np.int64(1) << ks
    B = (n + K - 1) >> ks
    cu = np.uint64(c)
    buf = np.empty(min(K, n), dtype=np.uint32)
    cur = -1  # block whose start count is `base`
    base = np.int64(0)
    decoded = False  # block cur is in buf
    li = 0  # buf[0:li) holds lcnt occurrences
    lcnt = np.int64(0)
    for t in range(positions.size):
        q = positions[t]
        if not 0 <= q <= n:
            return -1
        j = min(q >> ks, B - 1)
        if j != cur:
            sj = (j << ks) >> cs  # the sample holding block j
            if cur >= 0 and j > cur and (cur << ks) >> cs == sj:  # forward within the sample
                first = cur
                if decoded:
                    for r in range(li, min(K, n - cur * K)):
                        lcnt += buf[r] == cu
                    base += lcnt
                    first = cur + 1
            else:
                base = _before_sample(index, x, sj)
                first = (sj << cs) >> ks
            if j > first:
                st, v = _blocks(state, first, j, cu, 0)
                if st < 0:
                    return -1
                base += v
            cur = j
            decoded = False
            li = 0
            lcnt = np.int64(0)
        loc = q - j * K
        if loc > li:
            if not decoded:
                st, _ = _blocks(state, j, j + 1, buf, j * K)
                if st < 0:
                    return -1
                decoded = True
            for r in range(li, loc):
                lcnt += buf[r] == cu
            li = loc
        out[t] = base + lcnt
    return 0


@numba.njit(cache=True, nogil=True)
def _select_sorted(state, index, x, c, ks_sorted, out):
    """``out[t] = select(c, ks_sorted[t])`` for ascending ``k >= 1``: the sample from the count index
    (binary search over the group rows, then <= 64 sample rows), its blocks counted one by one with
    the 4-stream loop, the block holding the k-th occurrence decoded and scanned. 0; -1 when some
    k exceeds the occurrences (``out`` filled up to it); -2 on corruption."""
    n, ks, groups, cs = state[S_N], state[S_KS], index[2], index[4]
    K = np.int64(1) << ks
    B = (n + K - 1) >> ks
    T = (n + (np.int64(1) << cs) - 1) >> cs
    W = groups.shape[0]
    cu = np.uint64(c)
    buf = np.empty(min(K, n), dtype=np.uint32)
    cur = -1  # block in buf: it holds occurrences base + 1 .. base + tot
    base = np.int64(0)
    tot = np.int64(0)
    li = 0  # buf[0:li) holds lcnt occurrences, the last at li - 1
    lcnt = np.int64(0)
    last_k = np.int64(-1)
    last = np.int64(-1)
    for t in range(ks_sorted.size):
        k = ks_sorted[t]
        if k == last_k:
            out[t] = last
            continue
        if cur < 0 or not base < k <= base + tot:
            lo = 0  # the last group u whose starting count is < k
            hi = W
            while lo < hi:
                mid = (lo + hi + 1) >> 1
                if np.int64(groups[mid - 1, x]) < k:
                    lo = mid
                else:
                    hi = mid - 1
            cnt = np.int64(groups[lo - 1, x]) if lo > 0 else np.int64(0)
            smp = lo << GROUP_SHIFT
            while smp < T - 1:
                v = _sample_count(index, smp, x)
                if cnt + v >= k:
                    break
                cnt += v
                smp += 1
            j = (smp << cs) >> ks
            if cur >= 0 and k > base + tot and (cur << ks) >> cs == smp:  # forward within the sample
                j = cur + 1
                cnt = base + tot
            jend = min(((smp + 1) << cs) >> ks, B)
            v = np.int64(0)
            while j < jend:
                st, v = _blocks(state, j, j + 1, cu, 0)
                if st < 0:
                    return -2
                if cnt + v >= k:
                    break
                cnt += v
                j += 1
            if j >= jend:  # the sample ends first: beyond the count if it is the last, else corrupt
                return -1 if smp >= T - 1 else -2
            st, _ = _blocks(state, j, j + 1, buf, j * K)
            if st < 0:
                return -2
            cur = j
            base = cnt
            tot = v
            li = 0
            lcnt = np.int64(0)
        need = k - base
        m = min(K, n - cur * K)
        r = li
        while r < m:
            if buf[r] == cu:
                lcnt += 1
                if lcnt == need:
                    break
            r += 1
        if r >= m:  # the counting and the decoding disagree: damaged bits
            return -2
        li = r + 1
        last_k = k
        last = cur * K + r
        out[t] = last
    return 0


# --------------------------------------------------------------------------- version 2: building


@numba.njit(cache=True, nogil=True)
def _fill_table(table, syms, count, L, tb):
    """Entry for the next ``tb`` stream bits (first bit lowest): ``(symbol << 8) | length`` of the code
    there, or 0 when it is longer than ``tb`` bits."""
    code = 0
    idx = 0
    for d in range(1, L + 1):
        c = count[d]
        if d <= tb:
            for _ in range(c):
                r = 0
                for bit in range(d):  # reverse the d-bit code: its first bit goes lowest
                    r |= ((code >> (d - 1 - bit)) & 1) << bit
                e = (np.uint64(syms[idx]) << _EIGHT) | np.uint64(d)
                for f in range(1 << (tb - d)):
                    table[r | (f << d)] = e
                code += 1
                idx += 1
        else:
            code += c
            idx += c
        code <<= 1


@numba.njit(cache=True, nogil=True)
def _encode(keys, lut, rcode, clen, n, ks, cs, words, sync, seg, counts, groups):
    """Write the bits (four symbol-interleaved streams per block), the sync offsets, the stream
    lengths and the count rows; ``lut[keys[i]]`` is the canonical index of symbol ``i``. Returns the
    number of bits."""
    K = 1 << ks
    C = 1 << cs
    p = rcode.size
    nb = (n + K - 1) >> ks
    nrows = counts.shape[0]
    sat = 0xFFFF if cs <= 16 else 0xFFFFFFFF
    cur = np.zeros(p, dtype=np.int64)
    cum = np.zeros(p, dtype=np.int64)
    acc = np.uint64(0)
    nacc = 0
    wpos = 0
    bitpos = 0
    for j in range(nb):
        bs = j << ks
        be = min(bs + K, n)
        sync[j] = bitpos
        for s in range(STREAMS):
            s0 = bitpos
            for i in range(bs + s, be, STREAMS):
                x = lut[keys[i]]
                cur[x] += 1
                ln = np.int64(clen[x])
                code = rcode[x]
                acc |= code << np.uint64(nacc)
                nacc += ln
                bitpos += ln
                if nacc >= 64:
                    words[wpos] = acc
                    wpos += 1
                    nacc -= 64
                    acc = code >> np.uint64(ln - nacc)  # ln - nacc in [1, 32]: never a 64-bit shift
            if s < STREAMS - 1:
                seg[3 * j + s] = bitpos - s0
        if be & (C - 1) == 0 and be < n:  # the end of a sample that is not the last one
            t = (be >> cs) - 1
            if t < nrows:
                for x in range(p):
                    counts[t, x] = min(cur[x], sat)
                    cum[x] += cur[x]
                    cur[x] = 0
                if (t + 1) & ((1 << GROUP_SHIFT) - 1) == 0:
                    u = ((t + 1) >> GROUP_SHIFT) - 1
                    for x in range(p):
                        groups[u, x] = cum[x]
    if nacc > 0:
        words[wpos] = acc
    sync[nb] = bitpos
    return bitpos


@numba.njit(cache=True, nogil=True)
def _reversed_codes(codes, lengths):
    out = np.empty(codes.size, dtype=np.uint64)
    for j in range(codes.size):
        d = np.int64(lengths[j])
        out[j] = _rev32(np.uint64(codes[j])) >> np.uint64(32 - d)
    return out


def table_bits(count: np.ndarray, L: int) -> int:
    """Bits the version-2 decode table is indexed by: ``L`` when ``L <= 12`` (one lookup per code, no
    slow path); else 12, grown up to 16 while codes longer than it hold more than 1/32 of the Kraft
    sum (about that share of the decoded symbols)."""
    if L <= FAST_TABLE_BITS:
        return L
    tb = TABLE_BITS
    while tb < min(L, MAX_TABLE_BITS):
        longer = sum(int(c) << (L - d) for d, c in enumerate(count.tolist()) if d > tb)
        if longer <= (1 << L) * LONG_CODE_SHARE:
            break
        tb += 1
    return tb


def group_size(L: int) -> int:
    """Codes decoded per 64-bit refill: ``G * L <= 56`` (a refill leaves >= 56 unread bits), G <= 8."""
    return max(1, min(MAX_GROUP, REFILL_BITS // max(L, 1)))


def entry_dtype(max_symbol: int) -> type:
    """The narrowest table entry holding ``(symbol << 8) | length``."""
    if max_symbol < 1 << 8:
        return np.uint16
    if max_symbol < 1 << 24:
        return np.uint32
    return np.uint64


# --------------------------------------------------------------------------- version 1 (read only): kernels
#
# One bit stream per block, decoded by a 64-bit window over aligned words; kept as it was when
# version 1 was written (stores on users' disks and the committed fixtures hold it).

# meta[] slots (int64), the scalars every version-1 kernel needs
M_N, M_L, M_TB, M_KS, M_CS, M_GROUP, M_P, M_NSB = range(8)


# version-1 helpers are inlined by LLVM (forceinline), not numba's IR inliner: the v1 tests compile
# in 54 s instead of 70 s, and v1 extract runs as fast (295 -> 300 Msym/s)
@numba.njit(forceinline=True)
def _v1_rev32(x):
    """Reverse the low 32 bits of ``x`` (a uint64 below 2**32)."""
    x = ((x >> np.uint64(1)) & _K1) | ((x & _K1) << np.uint64(1))
    x = ((x >> np.uint64(2)) & _K2) | ((x & _K2) << np.uint64(2))
    x = ((x >> np.uint64(4)) & _K4) | ((x & _K4) << np.uint64(4))
    x = ((x >> np.uint64(8)) & _K8) | ((x & _K8) << np.uint64(8))
    return ((x >> np.uint64(16)) & _K16) | ((x & _K16) << np.uint64(16))


@numba.njit(forceinline=True)
def _v1_window(words, pos):
    """The 64 stream bits starting at bit ``pos`` (stream bit ``pos`` lowest); reads words ``pos >> 6`` and the next."""
    wi = pos >> 6
    sh = np.uint64(pos & 63)
    return (words[wi] >> sh) | ((words[wi + 1] << _ONE) << (_63 - sh))


@numba.njit(forceinline=True)
def _v1_slow(w, canon, tb, L):
    """(canonical index, length) of a code longer than ``tb`` bits at the bottom of window ``w``."""
    r = np.int64(_v1_rev32(w & _M32) >> np.uint64(32 - L))  # the next L stream bits, first bit highest
    for d in range(tb + 1, L + 1):
        v = r >> (L - d)
        if canon[0, d] <= v < canon[1, d]:  # the lower bound always holds for a complete code
            return canon[2, d] + v - canon[0, d], d
    return np.int64(0), L  # unreachable with a complete code (validated on open)


@numba.njit(forceinline=True)
def _v1_one(w, table, tmask, canon, tb, L):
    e = np.int64(table[w & tmask])
    ln = e & 31
    if ln == 0:
        return _v1_slow(w, canon, tb, L)
    return e >> 5, ln


@numba.njit(forceinline=True)
def _v1_decode_run(words, table, syms, canon, meta, pos, end, cnt, out, o):
    """Decode ``cnt`` symbols from bit ``pos`` into ``out[o:]``; bit position after them, -1 if the
    stream runs past ``end`` (the block's end: the bit reader never reads a word beyond it + 1)."""
    tb, L, m = meta[M_TB], meta[M_L], meta[M_GROUP]
    tmask = np.uint64((1 << tb) - 1)
    k = 0
    while k < cnt:
        if pos > end:
            return -1
        w = _v1_window(words, pos)
        g = min(m, cnt - k)
        for _ in range(g):
            e = np.int64(table[w & tmask])
            ln = e & 31
            if ln == 0:
                idx, ln = _v1_slow(w, canon, tb, L)
            else:
                idx = e >> 5
            out[o + k] = syms[idx]
            k += 1
            w >>= np.uint64(ln)
            pos += ln
    return pos


@numba.njit(forceinline=True)
def _v1_count_run(words, table, canon, meta, pos, end, cnt, cidx):
    """Decode ``cnt`` symbols from bit ``pos`` without output: (bit position after them or -1,
    occurrences of canonical index ``cidx`` among them)."""
    tb, L, m = meta[M_TB], meta[M_L], meta[M_GROUP]
    tmask = np.uint64((1 << tb) - 1)
    k = 0
    occ = 0
    while k < cnt:
        if pos > end:
            return -1, occ
        w = _v1_window(words, pos)
        g = min(m, cnt - k)
        for _ in range(g):
            e = np.int64(table[w & tmask])
            ln = e & 31
            if ln == 0:
                idx, ln = _v1_slow(w, canon, tb, L)
            else:
                idx = e >> 5
            occ += idx == cidx
            w >>= np.uint64(ln)
            pos += ln
        k += g
    return pos, occ


@numba.njit(forceinline=True)
def _v1_decode_pair(words, table, syms, canon, meta, pa, ea, pb, eb, cnt, out, oa, ob):
    """``_decode_run`` on two streams at once (two sync blocks of ``cnt`` symbols each): two
    independent dependency chains keep the core busy. (pa, pb) after them, -1 on overrun."""
    tb, L, m = meta[M_TB], meta[M_L], meta[M_GROUP]
    tmask = np.uint64((1 << tb) - 1)
    k = 0
    while k < cnt:
        if pa > ea or pb > eb:
            return np.int64(-1), np.int64(-1)
        wa = _v1_window(words, pa)
        wb = _v1_window(words, pb)
        for _ in range(min(m, cnt - k)):
            ia, la = _v1_one(wa, table, tmask, canon, tb, L)
            ib, lb = _v1_one(wb, table, tmask, canon, tb, L)
            out[oa + k] = syms[ia]
            out[ob + k] = syms[ib]
            k += 1
            wa >>= np.uint64(la)
            wb >>= np.uint64(lb)
            pa += la
            pb += lb
    return pa, pb


@numba.njit(forceinline=True)
def _v1_count_pair(words, table, canon, meta, pa, ea, pb, eb, cnt, cidx):
    """``_count_run`` on two streams at once: (pa, pb, occurrences in both), -1 positions on overrun."""
    tb, L, m = meta[M_TB], meta[M_L], meta[M_GROUP]
    tmask = np.uint64((1 << tb) - 1)
    k = 0
    occ = 0
    while k < cnt:
        if pa > ea or pb > eb:
            return np.int64(-1), np.int64(-1), occ
        wa = _v1_window(words, pa)
        wb = _v1_window(words, pb)
        g = min(m, cnt - k)
        for _ in range(g):
            ia, la = _v1_one(wa, table, tmask, canon, tb, L)
            ib, lb = _v1_one(wb, table, tmask, canon, tb, L)
            occ += (ia == cidx) + (ib == cidx)
            wa >>= np.uint64(la)
            wb >>= np.uint64(lb)
            pa += la
            pb += lb
        k += g
    return pa, pb, occ


@numba.njit(forceinline=True)
def _v1_advance(words, table, canon, sync, meta, i, pos, t, cidx):
    """From symbol ``i`` at bit ``pos`` to symbol ``t >= i``, block by block, counting ``cidx``:
    (t, bit position or -1 on corruption, occurrences)."""
    n, ks = meta[M_N], meta[M_KS]
    occ = 0
    while i < t:
        b = i >> ks
        if i == b << ks and (b + 2) << ks <= t:  # two whole blocks ahead: count them together
            ea, eb = np.int64(sync[b + 1]), np.int64(sync[b + 2])
            pa, pb, o = _v1_count_pair(words, table, canon, meta, pos, ea, ea, eb, 1 << ks, cidx)
            if pa != ea or pb != eb:
                return i, np.int64(-1), occ
            occ += o
            i = (b + 2) << ks
            pos = eb
            continue
        bend = min((b + 1) << ks, n)
        end = np.int64(sync[b + 1])
        stop = min(t, bend)
        pos, o = _v1_count_run(words, table, canon, meta, pos, end, stop - i, cidx)
        if pos < 0:
            return i, np.int64(-1), occ
        occ += o
        i = stop
        if i == bend and pos != end:
            return i, np.int64(-1), occ
    return i, pos, occ


# ---- version 1: query kernels


@numba.njit(cache=True, nogil=True)
def _v1_extract(words, table, syms, canon, sync, meta, start, stop, out):
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
            pa, pb = _v1_decode_pair(words, table, syms, canon, meta, np.int64(sync[b]), end, end, eb, K, out, o, o + K)
            if pa != end or pb != eb:
                return -1
            o += 2 * K
            i += 2 * K
            b += 2
            continue
        pos = np.int64(sync[b])
        if i > bstart:  # first block: skip to start
            pos, _ = _v1_count_run(words, table, canon, meta, pos, end, i - bstart, -1)
            if pos < 0:
                return -1
        bend = min(bstart + K, n)
        stop_here = min(stop, bend)
        pos = _v1_decode_run(words, table, syms, canon, meta, pos, end, stop_here - i, out, o)
        if pos < 0 or (stop_here == bend and pos != end):
            return -1
        o += stop_here - i
        i = bend
        b += 1
    return 0


@numba.njit(cache=True, nogil=True)
def _v1_access(words, table, syms, canon, sync, meta, i):
    """``s[i]``, or -1 on corruption."""
    ks, tb, L = meta[M_KS], meta[M_TB], meta[M_L]
    b = i >> ks
    end = np.int64(sync[b + 1])
    pos, _ = _v1_count_run(words, table, canon, meta, np.int64(sync[b]), end, i - (b << ks), -1)
    if pos < 0 or pos > end:
        return -1
    idx, ln = _v1_one(_v1_window(words, pos), table, np.uint64((1 << tb) - 1), canon, tb, L)
    if pos + ln > end:
        return -1
    return np.int64(syms[idx])


@numba.njit(cache=True, nogil=True)
def _v1_access_sorted(words, table, syms, canon, sync, meta, positions, order, out):
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
            pos, _ = _v1_count_run(words, table, canon, meta, pos, end, q - i, -1)
            if pos < 0 or pos > end:
                return -1
        idx, ln = _v1_one(_v1_window(words, pos), table, tmask, canon, tb, L)
        pos += ln
        i = q + 1
        if pos > end or (i == min((b + 1) << ks, n) and pos != end):
            return -1
        last_q = q
        last = syms[idx]
        out[order[t]] = last
    return 0


@numba.njit(cache=True, nogil=True)
def _v1_rank_sorted(words, table, canon, sync, rows, meta, cidx, positions, out):
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
        i, pos, occ = _v1_advance(words, table, canon, sync, meta, i, pos, q, cidx)
        if pos < 0:
            return -1
        cnt += occ
        out[t] = cnt
    return 0


@numba.njit(forceinline=True)
def _v1_find_run(words, table, canon, meta, pos, end, cnt, cidx, need):
    """Decode up to ``cnt`` symbols from bit ``pos``, stopping right after the ``need``-th occurrence
    of ``cidx``: (bit position or -1 on overrun, symbols decoded, occurrences still needed)."""
    tb, L, m = meta[M_TB], meta[M_L], meta[M_GROUP]
    tmask = np.uint64((1 << tb) - 1)
    k = 0
    while k < cnt:
        if pos > end:
            return np.int64(-1), k, need
        w = _v1_window(words, pos)
        for _ in range(min(m, cnt - k)):
            idx, ln = _v1_one(w, table, tmask, canon, tb, L)
            w >>= np.uint64(ln)
            pos += ln
            k += 1
            if idx == cidx:
                need -= 1
                if need == 0:
                    return pos, k, need
    return pos, k, need


@numba.njit(cache=True, nogil=True)
def _v1_find(words, table, canon, sync, meta, i, pos, need, limit, cidx):
    """The ``need``-th (>= 1) occurrence of ``cidx`` at or after symbol ``i`` (bit ``pos``), before
    ``limit``: (position or -1 if none, next symbol, its bit position or -1 on corruption)."""
    n, ks = meta[M_N], meta[M_KS]
    while i < limit:
        b = i >> ks
        if i == b << ks and (b + 2) << ks <= limit:  # two whole blocks: skip them together if they can
            ea, eb = np.int64(sync[b + 1]), np.int64(sync[b + 2])
            pa, pb, occ = _v1_count_pair(words, table, canon, meta, pos, ea, ea, eb, 1 << ks, cidx)
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
        pos, k, need = _v1_find_run(words, table, canon, meta, pos, end, stop - i, cidx, need)
        i += k
        if pos < 0 or (i == bend and pos != end):
            return -1, i, np.int64(-1)
        if need == 0:
            return i - 1, i, pos
    return -1, i, pos


@numba.njit(cache=True, nogil=True)
def _v1_select_sorted(words, table, canon, sync, rows, meta, cidx, ks_sorted, out):
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
        q, i, pos = _v1_find(words, table, canon, sync, meta, i, pos, k - cnt, limit, cidx)
        if pos < 0:
            return -2
        if q < 0:
            return -2 if limit < n else -1
        cnt = k
        last_k = k
        last = q
        out[t] = q
    return 0


@numba.njit(cache=True, nogil=True)
def _v1_decode_table(count, L, tb):
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


# --------------------------------------------------------------------------- layout


def _n_blocks(n: int, shift: int) -> int:
    return (n + (1 << shift) - 1) >> shift


def sections(L: int, n: int, p: int, total_bits: int, ks: int, cs: int) -> list[tuple[str, str, int]]:
    """``(name, dtype, count)`` of every version-2 section in order (each at the next multiple of 8)."""
    coded = L >= 1
    blocks = _n_blocks(n, ks)
    rows = max(_n_blocks(n, cs) - 1, 0)
    return [
        ("count", "<u4", L + 1),
        ("symbols", "<u4", p),
        ("sync", "<u8", blocks + 1 if coded else 0),
        ("seglen", "<u2" if (1 << ks) // STREAMS * L <= 0xFFFF else "<u4", 3 * blocks if coded else 0),
        ("counts", "<u2" if cs <= 16 else "<u4", rows * p if coded else 0),
        ("groups", "<u4", (rows >> GROUP_SHIFT) * p if coded else 0),
        ("bits", "<u8", total_bits // 64 + 2 if coded else 0),
    ]


def sections_v1(L: int, n: int, p: int, total_bits: int, ks: int, cs: int) -> list[tuple[str, str, int]]:
    """``(name, dtype, count)`` of every version-1 section in order (each at the next multiple of 8)."""
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
    """The ``"auto"`` sample size: ``min(next_pow2(max(2**16, sync_every, 256 * p)), 2**32)``
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


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


class HuffmanFastSequence(Sequence):
    """Queries over the bytes of a ``huffman-fast`` payload (see the module docstring). ``open``
    returns this class for version 2 and its subclass :class:`HuffmanFastV1Sequence` for version 1."""

    version = VERSION

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
        # symbol -> canonical index, by binary search over the symbols in ascending order
        self._asc_order = np.argsort(self._syms, kind="stable")
        self._asc_syms = self._syms[self._asc_order]
        self._setup(views)

    def _setup(self, views: dict[str, np.ndarray]) -> None:
        L, p = self._L, self._p
        if L == 0:  # no bits: placeholders of the usual types (one compiled kernel for every payload)
            self._state = (
                _readonly(np.zeros(16, dtype=np.uint8)), np.zeros(1, dtype=np.uint16), self._syms,
                np.zeros((3, 1), dtype=np.int64), _readonly(np.zeros(1, dtype=np.uint64)),
                _readonly(np.zeros(0, dtype=np.uint8)), self._n, 0, 0, self._ks, 1, 0, 0,
            )  # fmt: skip
            return
        count = views["count"].astype(np.int64)
        tb = table_bits(count, L)
        first_code, first_index = depth_tables(count)
        canon = np.stack([first_code, first_code + count, first_index])
        table = np.zeros(1 << tb, dtype=entry_dtype(int(self._syms.max())))
        _fill_table(table, self._syms, count, L, tb)
        seglen, counts = views["seglen"], views["counts"]
        self._state = (
            views["bits"].view(np.uint8), table, self._syms, canon, views["sync"], seglen.view(np.uint8), self._n, L,
            tb, self._ks, group_size(L), int(tb < L), int(seglen.itemsize == 4),
        )  # fmt: skip
        self._index = (counts.view(np.uint8), int(counts.itemsize == 4), views["groups"].reshape(-1, p), p, self._cs)

    # ---- the fused-decode hook

    def kernel_state(self) -> tuple | None:
        """The arguments :func:`extract_into` takes, as one tuple of numpy arrays and ints (a numba
        kernel may take it as it is); ``None`` for a version-1 payload."""
        return self._state

    @property
    def block_size(self) -> int:
        """``K``, the symbols per sync block: decode in chunks of ``K`` starting at multiples of ``K``
        (whole blocks take the 4-stream path of :func:`extract_into`)."""
        return 1 << self._ks

    # ---- sizes and parameters

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
        """The bit streams alone, in whole bytes (what benchmarks compare with dahuffman's)."""
        return (self._total_bits + 7) // 8

    @property
    def index_nbytes(self) -> int:
        """Everything else: header, code table, sync offsets, stream lengths, count index, padding."""
        return self.nbytes - self.payload_nbytes

    def _index_of(self, c: int) -> int:
        """Canonical index of symbol ``c``, -1 if it has no code."""
        j = int(np.searchsorted(self._asc_syms, c))
        if j < self._asc_syms.size and int(self._asc_syms[j]) == c:
            return int(self._asc_order[j])
        return -1

    def _fill(self, size: int) -> np.ndarray:
        return np.full(size, self._syms[0] if self._p else 0, dtype=np.uint32)

    # ---- queries (argument checks and the L = 0 case here, the kernels per version below)

    def access(self, i: int) -> int:
        i = int(i)
        if not 0 <= i < self._n:
            raise IndexError(f"position {i} out of range [0, {self._n})")
        if self._L == 0:
            return int(self._syms[0])
        return _ok(self._k_access(i))

    def extract(self, start: int, stop: int) -> np.ndarray:
        start, stop = self._check_range(start, stop)
        if self._L == 0:
            return self._fill(stop - start)
        out = np.empty(stop - start, dtype=np.uint32)
        _ok(self._k_extract(start, stop, out))
        return out

    def extract_into(self, start: int, stop: int, out: np.ndarray) -> np.ndarray:
        start, stop = self._check_range(start, stop)
        view = self._check_out(out, stop - start)
        if self._L == 0:
            view[:] = self._syms[0] if self._p else 0
        else:
            _ok(self._k_extract(start, stop, view))
        return view

    def access_many(self, positions: Any) -> np.ndarray:
        """``s[positions]`` as uint32, in the order given."""
        positions = _positions(positions, self._n)
        if self._L == 0:
            return self._fill(positions.size)
        order, ordered = _sorted(positions)
        out = np.empty(positions.size, dtype=np.uint32)
        _ok(self._k_access_sorted(ordered, order, out))
        return out

    def rank(self, c: int, i: int) -> int:
        c, i = int(c), int(i)
        if not (0 <= c < self.alphabet_size and 0 <= i <= self._n):
            self._check_rank_args(c, i)  # raises the documented error
        return int(self._rank_sorted(c, np.array([i], dtype=np.int64))[0])

    def rank_many(self, c: int, positions: Any) -> np.ndarray:
        """``rank(c, i)`` for every ``i`` in ``positions`` (each in ``[0, n]``), as int64."""
        c = self._check_symbol(c)
        positions = _positions(positions, self._n + 1)
        order, ordered = _sorted(positions)
        out = np.empty(positions.size, dtype=np.int64)
        out[order] = self._rank_sorted(c, ordered)
        return out

    def _rank_sorted(self, c: int, positions: np.ndarray) -> np.ndarray:
        out = np.zeros(positions.size, dtype=np.int64)
        cidx = self._index_of(c)
        if cidx < 0 or positions.size == 0:
            return out
        if self._L == 0:
            return positions.astype(np.int64, copy=True)
        _ok(self._k_rank_sorted(cidx, c, positions, out))
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
            status = self._k_select_sorted(cidx, c, ks_sorted, out)
        if status == -2:
            raise _corrupt()
        if status == -1:
            total = self.rank(c, self._n)
            bad = next((int(k) for k in np.asarray(ks_input, dtype=np.int64).ravel() if int(k) > total), None)
            if bad is None:  # the kernels disagree with each other: only damaged bits do that
                raise _corrupt()
            raise self._select_error(c, bad)
        return out

    # ---- version 2 kernels (L >= 1)

    def _k_access(self, i: int) -> int:
        return _access(self._state, i)

    def _k_extract(self, start: int, stop: int, out: np.ndarray) -> int:
        return extract_into(self._state, start, stop, out)

    def _k_access_sorted(self, ordered: np.ndarray, order: np.ndarray, out: np.ndarray) -> int:
        return _access_sorted(self._state, ordered, order, out)

    def _k_rank_sorted(self, cidx: int, c: int, positions: np.ndarray, out: np.ndarray) -> int:
        return _rank_sorted(self._state, self._index, cidx, c, positions, out)

    def _k_select_sorted(self, cidx: int, c: int, ks_sorted: np.ndarray, out: np.ndarray) -> int:
        return _select_sorted(self._state, self._index, cidx, c, ks_sorted, out)


class HuffmanFastV1Sequence(HuffmanFastSequence):
    """A version-1 payload (one bit stream; still read, no longer written). No kernel state."""

    version = 1

    def _setup(self, views: dict[str, np.ndarray]) -> None:
        self._state = None
        L = self._L
        if L >= 1:
            count = views["count"].astype(np.int64)
            tb = _v1_table_bits(count, L)
            first_code, first_index = depth_tables(count)
            self._canon = np.stack([first_code, first_code + count, first_index])
            self._table = _v1_decode_table(count, L, tb)
            self._words = views["bits"]
            self._sync = views["sync"]
            nsb = _n_blocks(self._n, self._cs)
            self._rows = views["counts"].reshape(nsb - 1, self._p)
            self._meta = np.array([self._n, L, tb, self._ks, self._cs, 64 // L, self._p, nsb], dtype=np.int64)
            # the leading kernel arguments: for decoding symbols, and for counting (rank, select)
            self._decoding = (self._words, self._table, self._syms, self._canon, self._sync, self._meta)
            self._counting = (self._words, self._table, self._canon, self._sync, self._rows, self._meta)

    def _k_access(self, i: int) -> int:
        return _v1_access(*self._decoding, i)

    def _k_extract(self, start: int, stop: int, out: np.ndarray) -> int:
        return _v1_extract(*self._decoding, start, stop, out)

    def _k_access_sorted(self, ordered: np.ndarray, order: np.ndarray, out: np.ndarray) -> int:
        return _v1_access_sorted(*self._decoding, ordered, order, out)

    def _k_rank_sorted(self, cidx: int, c: int, positions: np.ndarray, out: np.ndarray) -> int:
        return _v1_rank_sorted(*self._counting, cidx, positions, out)

    def _k_select_sorted(self, cidx: int, c: int, ks_sorted: np.ndarray, out: np.ndarray) -> int:
        return _v1_select_sorted(*self._counting, cidx, ks_sorted, out)


def _v1_table_bits(count: np.ndarray, L: int) -> int:
    """Version 1's table bits: ``min(L, 12)``, grown (up to 18) while codes longer than it hold more
    than 1/32 of the Kraft sum (about that share of the symbols decoded: Huffman lengths track
    -log2 of the frequency), so that the slow path stays rare."""
    tb = min(L, 12)
    while tb < min(L, 18):
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
    """Canonical length-limited Huffman codes in four streams per block, sync points and a
    symbol-count index."""

    name = "huffman-fast"
    params: dict[str, Any] = {"max_code_length": DEFAULT_MAX_CODE_LENGTH, "sync_every": 4096, "count_every": "auto"}

    def _effective(self, params: dict[str, Any]) -> tuple[int, int, int | None]:
        p = self._check_params(params)
        length, sync_every, count_every = p["max_code_length"], p["sync_every"], p["count_every"]
        if not _is_int(length) or not 1 <= length <= MAX_CODE_LENGTH:
            raise ValueError(
                f"huffman-fast: parameter 'max_code_length' must be an integer in [1, {MAX_CODE_LENGTH}], not {length!r}"
            )
        if (
            not _is_int(sync_every)
            or not _power_of_two(int(sync_every))
            or not 1 << MIN_SYNC_SHIFT <= sync_every <= 1 << MAX_SYNC_SHIFT
        ):
            raise ValueError(
                f"huffman-fast: parameter 'sync_every' must be a power of two in "
                f"[2**{MIN_SYNC_SHIFT}, 2**{MAX_SYNC_SHIFT}], not {sync_every!r}"
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
        HEADER.pack_into(out, 0, L, n, int(alphabet_size), p, total_bits, ks, cs, STREAMS, 0)
        views = {
            name: out[offsets[name] : offsets[name] + cnt * np.dtype(dt).itemsize].view(dt) for name, dt, cnt in layout
        }
        views["count"][:] = count
        views["symbols"][:] = syms
        if L >= 1:
            written = _encode(
                keys, lut, rcode, clen, n, ks, cs, views["bits"], views["sync"], views["seglen"],
                views["counts"].reshape(-1, p), views["groups"].reshape(-1, p),
            )  # fmt: skip
            assert written == total_bits
        return out.tobytes()

    def open(self, buffer: Any) -> HuffmanFastSequence:
        data = as_byte_array(buffer)
        if data.ctypes.data % 8:  # numba wants aligned words: one copy
            data = aligned_copy(data, 8)
        version, fields, views = load(data)
        return (HuffmanFastSequence if version == VERSION else HuffmanFastV1Sequence)(data, fields, views)


# --------------------------------------------------------------------------- validation on open


def load(data: np.ndarray) -> tuple[int, dict[str, int], dict[str, np.ndarray]]:
    """Validate a payload of either version (``data``: uint8, 8-byte aligned): (version, header
    fields, section views). Raises CorruptDataError, in the order the spec lists the checks."""
    L, n, sigma, p, total_bits, ks, cs, streams, reserved = HEADER.unpack(data)
    version = HEADER.version_of(data)
    if reserved != 0 or (version == 1 and streams != 0):  # version 1: one u64 reserved field
        raise _bad("reserved header field is not zero")
    if version == VERSION and streams != STREAMS:
        raise _bad(f"{streams} streams per block (this layout has {STREAMS})")
    if not 1 <= sigma <= 2**32:
        raise _bad(f"alphabet size {sigma} out of range [1, 2**32]")
    if n > MAX_SYMBOLS:
        raise _bad(f"n = {n} exceeds {MAX_SYMBOLS}")
    if L > MAX_CODE_LENGTH:
        raise _bad(f"longest code length {L} exceeds {MAX_CODE_LENGTH}")
    low, high = (MIN_SYNC_SHIFT, MAX_SYNC_SHIFT) if version == VERSION else (0, 30)
    if not low <= ks <= high or not ks <= cs <= MAX_COUNT_SHIFT:
        raise _bad(f"sync_shift {ks} / count_shift {cs} out of range")
    if p > min(sigma, n):
        raise _bad(f"{p} coded symbols but n = {n}, sigma = {sigma}")
    if L == 0:
        if p != min(n, 1) or total_bits != 0:
            raise _bad(f"no code bits (L = 0) but p = {p}, n = {n}, total_bits = {total_bits}")
    elif p < 2 or not n <= total_bits <= n * L:
        raise _bad(f"L = {L} with p = {p}, n = {n}, total_bits = {total_bits}")
    layout = (sections if version == VERSION else sections_v1)(L, n, p, total_bits, ks, cs)
    views = {}
    for (name, dt, _), (_, raw) in zip(
        layout, read_sections(data, HEADER.size, _sizes(layout), _bad).items(), strict=True
    ):
        views[name] = _readonly(raw.view(dt))  # one numba type for every buffer flavour; never written
    fields = {"L": L, "n": n, "sigma": sigma, "p": p, "total_bits": total_bits, "sync_shift": ks, "count_shift": cs}
    count = views["count"].astype(np.int64)
    _check_code(count, views["symbols"], L, p, sigma)
    if L >= 1:
        lengths = np.repeat(np.arange(L + 1, dtype=np.int64), count)  # length per canonical index
        if version == VERSION:
            _check_streams(views["sync"], views["seglen"], n, ks, total_bits, int(lengths[0]), L)
            _check_samples(views["counts"], views["groups"], views["sync"], lengths, ks, cs, p)
        else:
            _check_sync_v1(views["sync"], n, ks, total_bits, int(lengths[0]), L)
            _check_counts_v1(views["counts"], views["sync"], lengths, ks, cs, p)
        bits = views["bits"]
        tail = total_bits & 63
        if (tail and int(bits[total_bits >> 6]) >> tail) or int(bits[-1]) or (not tail and int(bits[-2])):
            raise _bad("padding bits after the last code are not zero")
    return version, fields, views


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


def _check_streams(
    sync: np.ndarray, seglen: np.ndarray, n: int, ks: int, total_bits: int, min_len: int, L: int
) -> None:
    """Version 2: every stream of every block holds between ``codes * min_len`` and ``codes * L``
    bits (so the offsets ascend and lie within the bits), from ``sync[0] = 0`` to ``total_bits``."""
    if int(sync[0]) != 0 or int(sync[-1]) != total_bits or int(sync.max()) > total_bits:
        raise _bad("sync offsets must start at 0, end at total_bits and stay within it")
    offsets = sync.astype(np.int64)  # below total_bits < 2**38: exact
    blocks = offsets.size - 1
    per_block = np.full(blocks, 1 << ks, dtype=np.int64)
    per_block[-1] = n - ((blocks - 1) << ks)
    lengths = np.empty((blocks, STREAMS), dtype=np.int64)
    lengths[:, :3] = seglen.astype(np.int64).reshape(blocks, 3)
    lengths[:, 3] = np.diff(offsets) - lengths[:, :3].sum(axis=1)
    codes = np.stack([(per_block - s + 3) >> 2 for s in range(STREAMS)], axis=1)
    if np.any(lengths < codes * min_len) or np.any(lengths > codes * L):
        raise _bad("stream lengths inconsistent with the code lengths (a stream's bits out of range)")


def _check_samples(
    counts: np.ndarray, groups: np.ndarray, sync: np.ndarray, lengths: np.ndarray, ks: int, cs: int, p: int
) -> None:
    """Version 2: every count row sums to ``C`` (after undoing the u16 saturation), the rows'
    cumulative bits match the sync offsets at the sample ends, the group rows are the running sums."""
    if counts.size == 0:
        return
    C = 1 << cs
    rows = counts.reshape(-1, p).astype(np.int64)
    sums = rows.sum(axis=1)
    if C == 1 << 16:  # one symbol filling a sample is stored as 65535: its row sums to C - 1
        full = sums == C - 1
        if np.any(full):
            hit = rows[full] == 0xFFFF
            if np.any(hit.sum(axis=1) != 1):
                raise _bad("count index rows do not sum to the sample size")
            fixed = rows[full]
            fixed[hit] += 1
            rows[full] = fixed
            sums = rows.sum(axis=1)
    if np.any(sums != C):
        raise _bad("count index rows do not sum to the sample size")
    cumulative = np.cumsum(rows, axis=0)
    ends = (np.arange(rows.shape[0], dtype=np.int64) + 1) << cs
    if np.any(cumulative @ lengths != sync.astype(np.int64)[ends >> ks]):
        raise _bad("count index disagrees with the sync offsets (bits before a sample)")
    g = groups.reshape(-1, p).astype(np.int64)
    if g.shape[0] and np.any(g != cumulative[((np.arange(g.shape[0]) + 1) << GROUP_SHIFT) - 1]):
        raise _bad("count index group rows are not the running sums of the sample rows")


def _check_sync_v1(sync: np.ndarray, n: int, ks: int, total_bits: int, min_len: int, L: int) -> None:
    offsets = sync.astype(np.int64)  # u64 values above 2**63 wrap negative: caught below
    if int(offsets[0]) != 0 or int(sync[-1]) != total_bits:
        raise _bad("sync offsets must start at 0 and end at total_bits")
    per_block = np.full(offsets.size - 1, 1 << ks, dtype=np.int64)
    per_block[-1] = n - ((offsets.size - 2) << ks)
    bits = np.diff(offsets)
    if np.any(bits < per_block * min_len) or np.any(bits > per_block * L):
        raise _bad("sync offsets inconsistent with the code lengths (a block's bits out of range)")


def _check_counts_v1(counts: np.ndarray, sync: np.ndarray, lengths: np.ndarray, ks: int, cs: int, p: int) -> None:
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

"""``bit_vector``: a plain bit vector with rank and select directories, as numba kernels.

After sdsl-lite's ``bit_vector`` with ``rank_support_v``-style counts and ``select_support_mcl``-style
sampling, kept as separate flat numpy arrays so that other ``@numba.njit`` code (the wavelet tree) can
call the kernels directly.

Bits. ``bits`` is a ``uint64`` array, LSB-first: bit ``i`` is ``(bits[i >> 6] >> (i & 63)) & 1``; it holds
at least ``ceil(n_bits / 64)`` words. Bits at positions ``>= n_bits`` should be zero; the builders
ignore them and the queries never look at them, so a dirty tail only matters to ``get_bit`` past the end.

Rank directory (``build_rank``), counting ones:

* ``sb_abs: uint64[n_super + 1]``, ``n_super = ceil(n_bits / SUPERBLOCK_BITS)``: ``sb_abs[s]`` = ones in
  ``[0, s * SUPERBLOCK_BITS)``; the last entry is the total number of ones.
* ``blk_rel: uint16[n_blocks + 1]``, ``n_blocks = ceil(n_bits / BLOCK_BITS)``: ``blk_rel[b]`` = ones in
  ``[s * SUPERBLOCK_BITS, b * BLOCK_BITS)`` with ``s`` the superblock holding bit ``b * BLOCK_BITS``
  (at most 32768 - 512, so it fits 16 bits). The extra entries make ``i = n_bits`` a valid query.

``rank1(i) = sb_abs[i >> 15] + blk_rel[i >> 9]`` + popcounts of at most 7 whole words + one masked word.
Overhead: 64 bits per 32768 + 16 bits per 512 = 0.195% + 3.125% = **3.32%** of the bit array (plus two
entries).

Select samples (``build_select``), one array for ones and one for zeros, ``uint64``:

* ``samples[0]`` = the sample rate ``s`` (a power of two, ``SELECT_SAMPLE`` by default), so that
  ``select1``/``select0`` need no extra argument;
* ``samples[1 + j]`` = the *position* of the ``(j * s + 1)``-th one (zero), ``j < ceil(count / s)``;
* ``samples[-1]`` = ``n_bits``, a sentinel, so the ``k``-th one lies in ``[samples[1+j], samples[2+j])``.

Both arrays together hold ``ceil(n1 / s) + ceil(n0 / s) + 4 <= n_bits / s + 6`` words: 64 bits per
4096 bits = **1.5625%** of the bit array plus 48 bytes, whatever the density (worst case, s = 4096).

``select`` takes the sample's interval, binary searches ``sb_abs`` over the superblocks it spans (a
sparse vector may put many between two samples), then ``blk_rel`` over at most 64 blocks, then scans at
most 8 words and finishes with a broadword ``select_in_word``. Everything is int64/uint64, so
``n_bits`` up to 2^40 (and beyond) works.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

SUPERBLOCK_BITS = 32768
BLOCK_BITS = 512
SELECT_SAMPLE = 4096

SUPERBLOCK_SHIFT = 15  # log2(SUPERBLOCK_BITS)
BLOCK_SHIFT = 9  # log2(BLOCK_BITS)
_BLK_PER_SB_SHIFT = SUPERBLOCK_SHIFT - BLOCK_SHIFT  # 64 blocks per superblock
_WORDS_PER_BLOCK = BLOCK_BITS // 64

_L8 = np.uint64(0x0101010101010101)
_H8 = np.uint64(0x8080808080808080)


def _byte_select_table() -> np.ndarray:
    """``t[(r << 8) | byte]`` = position of the ``r``-th (0-based) set bit of ``byte`` (8 if none)."""
    t = np.full(8 * 256, 8, dtype=np.uint8)
    for byte in range(256):
        ones = [p for p in range(8) if byte >> p & 1]
        for r, p in enumerate(ones):
            t[(r << 8) | byte] = p
    return t


_SELECT_IN_BYTE = _byte_select_table()


@intrinsic
def _ctpop(typingctx, x):
    """``llvm.ctpop.i64``: one ``popcnt`` instruction on x86-64 with POPCNT."""
    if isinstance(x, types.Integer) and x.bitwidth == 64:

        def codegen(context, builder, signature, args):
            return builder.ctpop(args[0])

        return types.int64(x), codegen
    return None


@intrinsic
def _cttz(typingctx, x):
    """``llvm.cttz.i64`` (defined for 0, giving 64): ``tzcnt``/``bsf``."""
    if isinstance(x, types.Integer) and x.bitwidth == 64:

        def codegen(context, builder, signature, args):
            return builder.cttz(args[0], ir.Constant(ir.IntType(1), 0))

        return types.int64(x), codegen
    return None


@numba.njit(cache=True, nogil=True)
def popcount64(x) -> int:
    """Set bits in the 64-bit word ``x`` (hardware popcnt)."""
    return _ctpop(np.uint64(x))


@numba.njit(inline="always")
def trailing_zeros(x) -> int:
    """Index of the lowest set bit of the 64-bit word ``x`` (64 if none): one ``tzcnt``."""
    return _cttz(np.uint64(x))


@numba.njit(cache=True, nogil=True)
def select_in_word(x, r) -> int:
    """Position of the ``r``-th (0-based) set bit of ``x``; requires ``0 <= r < popcount64(x)``.

    sdsl-lite's ``bits::sel``: byte-wise prefix popcounts by SWAR, the byte found by a broadword
    compare and ``tzcnt``, the bit inside the byte by a 2 KiB table.
    """
    w = np.uint64(x)
    i = np.uint64(r) + np.uint64(1)
    s = w - ((w >> np.uint64(1)) & np.uint64(0x5555555555555555))
    s = (s & np.uint64(0x3333333333333333)) + ((s >> np.uint64(2)) & np.uint64(0x3333333333333333))
    s = (s + (s >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    s = s * _L8  # byte j = ones in bytes 0..j
    # byte j of (s + (128 - i) * L8) has its top bit set iff ones in bytes 0..j >= i (no carries: <= 191)
    b = (s + (np.uint64(128) - i) * _L8) & _H8
    shift = np.uint64(_cttz(b)) & np.uint64(56)  # 8 * first such byte
    before = ((s << np.uint64(8)) >> shift) & np.uint64(0xFF)  # ones in earlier bytes
    byte = (w >> shift) & np.uint64(0xFF)
    return int(shift) + int(_SELECT_IN_BYTE[((i - before - np.uint64(1)) << np.uint64(8)) | byte])


@numba.njit(cache=True, nogil=True)
def get_bit(bits: np.ndarray, i) -> int:
    p = np.int64(i)
    return int((bits[p >> 6] >> np.uint64(p & 63)) & np.uint64(1))


@numba.njit(cache=True, nogil=True)
def build_rank(bits: np.ndarray, n_bits) -> tuple[np.ndarray, np.ndarray]:
    """``(sb_abs: uint64[n_super + 1], blk_rel: uint16[n_blocks + 1])``, the rank directory of ones."""
    n = np.int64(n_bits)
    n_words = (n + 63) >> 6
    n_blocks = (n + BLOCK_BITS - 1) >> BLOCK_SHIFT
    n_super = (n + SUPERBLOCK_BITS - 1) >> SUPERBLOCK_SHIFT
    sb_abs = np.zeros(n_super + 1, dtype=np.uint64)
    blk_rel = np.zeros(n_blocks + 1, dtype=np.uint16)
    tail = n & 63
    last_mask = (np.uint64(1) << np.uint64(tail)) - np.uint64(1) if tail else ~np.uint64(0)
    total = 0
    rel = 0
    for b in range(n_blocks + 1):
        if (b & ((1 << _BLK_PER_SB_SHIFT) - 1)) == 0:
            sb_abs[b >> _BLK_PER_SB_SHIFT] = total
            rel = 0
        blk_rel[b] = rel
        if b < n_blocks:
            c = 0
            for w in range(b * _WORDS_PER_BLOCK, min(b * _WORDS_PER_BLOCK + _WORDS_PER_BLOCK, n_words)):
                x = bits[w]
                if w == n_words - 1:
                    x &= last_mask
                c += _ctpop(x)
            total += c
            rel += c
    sb_abs[n_super] = total
    return sb_abs, blk_rel


@numba.njit(cache=True, nogil=True)
def build_select(bits: np.ndarray, n_bits, sb_abs: np.ndarray, blk_rel: np.ndarray, sample=SELECT_SAMPLE):
    """``(samples1, samples0)``: positions of every ``sample``-th one and zero (layout in the module doc).

    ``sample`` must be a power of two; one pass over the words.
    """
    s = np.int64(sample)
    if s < 1 or (s & (s - 1)) != 0:
        raise ValueError("select sample rate must be a power of two")
    n = np.int64(n_bits)
    n_words = (n + 63) >> 6
    n1 = np.int64(sb_abs[sb_abs.shape[0] - 1])
    n0 = n - n1
    m1 = (n1 + s - 1) // s
    m0 = (n0 + s - 1) // s
    samples1 = np.empty(m1 + 2, dtype=np.uint64)
    samples0 = np.empty(m0 + 2, dtype=np.uint64)
    samples1[0] = s
    samples0[0] = s
    samples1[m1 + 1] = n
    samples0[m0 + 1] = n
    tail = n & 63
    last_mask = (np.uint64(1) << np.uint64(tail)) - np.uint64(1) if tail else ~np.uint64(0)
    j1 = 0
    j0 = 0
    next1 = 1  # 1-based rank of the next one to sample
    next0 = 1
    c1 = 0  # ones before word w
    c0 = 0
    for w in range(n_words):
        x = bits[w]
        y = ~x
        if w == n_words - 1:
            x &= last_mask
            y &= last_mask
        p1 = _ctpop(x)
        p0 = _ctpop(y)
        while j1 < m1 and c1 + p1 >= next1:
            samples1[1 + j1] = (w << 6) + select_in_word(x, next1 - c1 - 1)
            j1 += 1
            next1 += s
        while j0 < m0 and c0 + p0 >= next0:
            samples0[1 + j0] = (w << 6) + select_in_word(y, next0 - c0 - 1)
            j0 += 1
            next0 += s
        c1 += p1
        c0 += p0
    return samples1, samples0


@numba.njit(cache=True, nogil=True)
def rank1(bits: np.ndarray, sb_abs: np.ndarray, blk_rel: np.ndarray, i) -> int:
    """Ones in ``[0, i)``, ``0 <= i <= n_bits``."""
    p = np.int64(i)
    w = p >> 6
    r = np.int64(sb_abs[p >> SUPERBLOCK_SHIFT]) + np.int64(blk_rel[p >> BLOCK_SHIFT])
    for j in range((p >> BLOCK_SHIFT) * _WORDS_PER_BLOCK, w):
        r += _ctpop(bits[j])
    off = p & 63
    if off:
        r += _ctpop(bits[w] & ((np.uint64(1) << np.uint64(off)) - np.uint64(1)))
    return r


@numba.njit(cache=True, nogil=True)
def rank0(bits: np.ndarray, sb_abs: np.ndarray, blk_rel: np.ndarray, i) -> int:
    """Zeros in ``[0, i)``, ``0 <= i <= n_bits``."""
    return np.int64(i) - rank1(bits, sb_abs, blk_rel, i)


@numba.njit(inline="always")
def _select(bits, sb_abs, blk_rel, samples, k, ones):
    """Position of the ``k``-th one (``ones``) or zero; ``1 <= k <= count``."""
    kk = np.int64(k)
    shift = np.uint64(_cttz(samples[0]))
    j = np.int64(np.uint64(kk - 1) >> shift)
    lo = np.int64(samples[1 + j])
    if ((kk - 1) & ((np.int64(1) << np.int64(shift)) - 1)) == 0:
        return lo  # a sampled one (zero)
    hi = np.int64(samples[2 + j])  # the k-th one (zero) is in (lo, hi)

    # superblock: last s in [lo >> 15, (hi - 1) >> 15] with count before s < k
    sb_lo = lo >> SUPERBLOCK_SHIFT
    sb_hi = (hi - 1) >> SUPERBLOCK_SHIFT
    while sb_lo < sb_hi:
        mid = (sb_lo + sb_hi + 1) >> 1
        c = np.int64(sb_abs[mid])
        if not ones:
            c = (mid << SUPERBLOCK_SHIFT) - c
        if c < kk:
            sb_lo = mid
        else:
            sb_hi = mid - 1
    c = np.int64(sb_abs[sb_lo])
    if not ones:
        c = (sb_lo << SUPERBLOCK_SHIFT) - c
    r = kk - c  # rank inside the superblock, >= 1

    # block: last b in that superblock's part of the interval with count before b (relative) < r
    first = sb_lo << _BLK_PER_SB_SHIFT
    b_lo = max(lo >> BLOCK_SHIFT, first)
    b_hi = min((hi - 1) >> BLOCK_SHIFT, first + (1 << _BLK_PER_SB_SHIFT) - 1)
    while b_lo < b_hi:
        mid = (b_lo + b_hi + 1) >> 1
        c = np.int64(blk_rel[mid])
        if not ones:
            c = ((mid - first) << BLOCK_SHIFT) - c
        if c < r:
            b_lo = mid
        else:
            b_hi = mid - 1
    c = np.int64(blk_rel[b_lo])
    if not ones:
        c = ((b_lo - first) << BLOCK_SHIFT) - c
    r -= c

    # words of the block
    w = b_lo * _WORDS_PER_BLOCK
    while True:
        x = bits[w]
        if not ones:
            x = ~x
        pc = _ctpop(x)
        if pc >= r:
            return (w << 6) + select_in_word(x, r - 1)
        r -= pc
        w += 1


@numba.njit(cache=True, nogil=True)
def select1(bits: np.ndarray, sb_abs: np.ndarray, blk_rel: np.ndarray, samples1: np.ndarray, n_bits, k) -> int:
    """Position of the ``k``-th one; the caller guarantees ``1 <= k <= rank1(n_bits)``."""
    return _select(bits, sb_abs, blk_rel, samples1, k, True)


@numba.njit(cache=True, nogil=True)
def select0(bits: np.ndarray, sb_abs: np.ndarray, blk_rel: np.ndarray, samples0: np.ndarray, n_bits, k) -> int:
    """Position of the ``k``-th zero; the caller guarantees ``1 <= k <= rank0(n_bits)``."""
    return _select(bits, sb_abs, blk_rel, samples0, k, False)


class BitVector:
    """Python-side wrapper (tests, benchmarks): the words, both directories, checked queries.

    ``BitVector(bool_array)`` packs a boolean (or 0/1) array; ``BitVector.from_words(bits, n_bits)``
    takes packed words as they are (copying only to clear a dirty tail).
    """

    def __init__(self, values: np.ndarray, *, sample: int = SELECT_SAMPLE) -> None:
        arr = np.asarray(values).astype(bool, copy=False).ravel()
        n = arr.shape[0]
        packed = np.packbits(arr, bitorder="little")
        words = np.zeros((n + 63) // 64, dtype=np.uint64)
        words.view(np.uint8)[: packed.shape[0]] = packed  # little-endian words, LSB-first bytes
        if not np.little_endian:  # pragma: no cover - the bytes were written in little-endian order
            words = words.byteswap()
        self._init(words, n, sample)

    @classmethod
    def from_words(cls, bits: np.ndarray, n_bits: int, *, sample: int = SELECT_SAMPLE) -> BitVector:
        n_bits = int(n_bits)
        if n_bits < 0:
            raise ValueError("n_bits must be >= 0")
        bits = np.asarray(bits)
        if bits.dtype != np.uint64 or bits.ndim != 1:
            raise TypeError("bits must be a 1-d uint64 array")
        n_words = (n_bits + 63) // 64
        if bits.shape[0] < n_words:
            raise ValueError(f"{bits.shape[0]} words cannot hold {n_bits} bits")
        words = np.ascontiguousarray(bits[:n_words])
        tail = n_bits & 63
        if tail and words[-1] >> np.uint64(tail):
            words = words.copy()
            words[-1] &= np.uint64((1 << tail) - 1)
        self = cls.__new__(cls)
        self._init(words, n_bits, sample)
        return self

    def _init(self, words: np.ndarray, n_bits: int, sample: int) -> None:
        self.bits = words
        self.n_bits = n_bits
        self.sb_abs, self.blk_rel = build_rank(words, n_bits)
        self.samples1, self.samples0 = build_select(words, n_bits, self.sb_abs, self.blk_rel, sample)
        self.n_ones = int(self.sb_abs[-1])

    def __len__(self) -> int:
        return self.n_bits

    def _check_pos(self, i: int, end: int) -> int:
        i = int(i)
        if not 0 <= i <= end:
            raise IndexError(f"position {i} out of range [0, {end}]")
        return i

    def access(self, i: int) -> int:
        return get_bit(self.bits, self._check_pos(i, self.n_bits - 1))

    def rank1(self, i: int) -> int:
        return rank1(self.bits, self.sb_abs, self.blk_rel, self._check_pos(i, self.n_bits))

    def rank0(self, i: int) -> int:
        return rank0(self.bits, self.sb_abs, self.blk_rel, self._check_pos(i, self.n_bits))

    def select1(self, k: int) -> int:
        k = int(k)
        if not 1 <= k <= self.n_ones:
            raise IndexError(f"select1({k}): only {self.n_ones} ones")
        return select1(self.bits, self.sb_abs, self.blk_rel, self.samples1, self.n_bits, k)

    def select0(self, k: int) -> int:
        k = int(k)
        n_zeros = self.n_bits - self.n_ones
        if not 1 <= k <= n_zeros:
            raise IndexError(f"select0({k}): only {n_zeros} zeros")
        return select0(self.bits, self.sb_abs, self.blk_rel, self.samples0, self.n_bits, k)

    @property
    def directory_nbytes(self) -> int:
        return self.sb_abs.nbytes + self.blk_rel.nbytes + self.samples1.nbytes + self.samples0.nbytes

    @property
    def nbytes(self) -> int:
        """Bits plus rank and select directories."""
        return self.bits.nbytes + self.directory_nbytes

    @property
    def overhead(self) -> float:
        """Directory bytes (rank + select) / bit-array bytes; ``inf`` for an empty vector."""
        return self.directory_nbytes / self.bits.nbytes if self.bits.nbytes else math.inf

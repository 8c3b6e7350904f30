"""codecbench.succinct.bit_vector: rank/select kernels against numpy (cumsum, flatnonzero) and Python references."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codecbench.succinct.bit_vector import (
    BLOCK_BITS,
    SELECT_SAMPLE,
    SUPERBLOCK_BITS,
    BitVector,
    build_rank,
    build_select,
    get_bit,
    popcount64,
    rank0,
    rank1,
    select0,
    select1,
    select_in_word,
)

ALL = (1 << 64) - 1


@numba.njit
def ranks_at(bits, sb_abs, blk_rel, positions):
    out = np.empty((2, positions.shape[0]), dtype=np.int64)
    for j in range(positions.shape[0]):
        out[0, j] = rank1(bits, sb_abs, blk_rel, positions[j])
        out[1, j] = rank0(bits, sb_abs, blk_rel, positions[j])
    return out


@numba.njit
def all_selects(bits, sb_abs, blk_rel, samples, n_bits, count, ones):
    out = np.empty(count, dtype=np.int64)
    for k in range(1, count + 1):
        if ones:
            out[k - 1] = select1(bits, sb_abs, blk_rel, samples, n_bits, k)
        else:
            out[k - 1] = select0(bits, sb_abs, blk_rel, samples, n_bits, k)
    return out


@numba.njit
def all_bits(bits, n_bits):
    out = np.empty(n_bits, dtype=np.bool_)
    for i in range(n_bits):
        out[i] = get_bit(bits, i) == 1
    return out


@numba.njit
def build_and_query(bits, n_bits):
    """What the wavelet tree does: build and query from inside numba, default sample omitted."""
    sb_abs, blk_rel = build_rank(bits, n_bits)
    samples1, samples0 = build_select(bits, n_bits, sb_abs, blk_rel)
    n1 = rank1(bits, sb_abs, blk_rel, n_bits)
    first1 = select1(bits, sb_abs, blk_rel, samples1, n_bits, 1) if n1 > 0 else -1
    last0 = select0(bits, sb_abs, blk_rel, samples0, n_bits, n_bits - n1) if n1 < n_bits else -1
    return n1, first1, last0


def pack(a: np.ndarray) -> np.ndarray:
    packed = np.packbits(a, bitorder="little")
    words = np.zeros((a.shape[0] + 63) // 64, dtype=np.uint64)
    words.view(np.uint8)[: packed.shape[0]] = packed
    return words


def boundaries(n: int) -> np.ndarray:
    """All block and superblock boundaries (and their neighbours) in [0, n], plus 0, n, and n - 1."""
    edges = np.arange(0, n + 1, BLOCK_BITS)
    pos = np.concatenate([edges - 1, edges, edges + 1, np.arange(0, n + 1, 64), [0, n - 1, n]])
    return np.unique(pos[(pos >= 0) & (pos <= n)]).astype(np.int64)


def check_vector(a: np.ndarray, sample: int = SELECT_SAMPLE, positions: np.ndarray | None = None) -> BitVector:
    """Every select for ones and zeros, get_bit everywhere, rank at ``positions`` (default: all)."""
    n = a.shape[0]
    v = BitVector(a, sample=sample)
    assert len(v) == n and v.bits.dtype == np.uint64 and v.bits.shape == ((n + 63) // 64,)
    ones, zeros = np.flatnonzero(a), np.flatnonzero(~a)
    n1 = ones.shape[0]

    # directory shapes and layout
    n_super, n_blocks = -(-n // SUPERBLOCK_BITS), -(-n // BLOCK_BITS)
    assert v.sb_abs.dtype == np.uint64 and v.sb_abs.shape == (n_super + 1,)
    assert v.blk_rel.dtype == np.uint16 and v.blk_rel.shape == (n_blocks + 1,)
    assert v.n_ones == n1 == int(v.sb_abs[-1])
    for samples, where in ((v.samples1, ones), (v.samples0, zeros)):
        assert samples.dtype == np.uint64
        assert samples[0] == sample and samples[-1] == n
        np.testing.assert_array_equal(samples[1:-1], where[::sample])

    cum = np.concatenate([[0], np.cumsum(a, dtype=np.int64)])
    pos = np.arange(n + 1, dtype=np.int64) if positions is None else positions
    got = ranks_at(v.bits, v.sb_abs, v.blk_rel, pos)
    np.testing.assert_array_equal(got[0], cum[pos])
    np.testing.assert_array_equal(got[1], pos - cum[pos])
    np.testing.assert_array_equal(all_selects(v.bits, v.sb_abs, v.blk_rel, v.samples1, n, n1, True), ones)
    np.testing.assert_array_equal(all_selects(v.bits, v.sb_abs, v.blk_rel, v.samples0, n, n - n1, False), zeros)
    np.testing.assert_array_equal(all_bits(v.bits, n), a)
    return v


# --- word primitives ---------------------------------------------------------------------------------

EDGE_WORDS = (
    [0, ALL, 1, 1 << 63, (1 << 63) | 1, ALL >> 1, ALL - 1, 0x5555555555555555, 0xAAAAAAAAAAAAAAAA]
    + [1 << p for p in range(64)]
    + [ALL ^ (1 << p) for p in range(64)]
    + [0xFF << (8 * j) for j in range(8)]
    + [int(x) for x in np.random.default_rng(7).integers(0, 2**64, 40, dtype=np.uint64)]
)


def test_popcount64_edges() -> None:
    for x in EDGE_WORDS:
        assert popcount64(np.uint64(x)) == bin(x).count("1"), hex(x)
    assert popcount64(5) == 2 and popcount64(np.int64(-1)) == 64 and popcount64(np.int64(-(2**63))) == 1


def test_select_in_word_edges() -> None:
    for x in EDGE_WORDS:
        ref = [p for p in range(64) if x >> p & 1]
        got = [select_in_word(np.uint64(x), r) for r in range(len(ref))]
        assert got == ref, hex(x)


# --- differential on random vectors ----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(0, 5000),
    density=st.sampled_from([0.0, 0.002, 0.5, 0.998, 1.0]),
    sample=st.sampled_from([SELECT_SAMPLE, 64, 2, 1]),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_vectors(n: int, density: float, sample: int, seed: int) -> None:
    a = np.random.default_rng(seed).random(n) < density
    v = check_vector(a, sample)
    # the Python wrapper agrees with the kernels, and checks its bounds
    rng = np.random.default_rng(seed + 1)
    cum = np.concatenate([[0], np.cumsum(a, dtype=np.int64)])
    for i in rng.integers(0, n + 1, 5):
        assert v.rank1(i) == cum[i] and v.rank0(i) == i - cum[i]
    if n:
        i = int(rng.integers(0, n))
        assert v.access(i) == a[i]
    if v.n_ones:
        assert v.select1(v.n_ones) == np.flatnonzero(a)[-1]
    if v.n_ones < n:
        assert v.select0(n - v.n_ones) == np.flatnonzero(~a)[-1]
    for bad in (lambda: v.rank1(n + 1), lambda: v.rank0(-1), lambda: v.access(n)):
        with pytest.raises(IndexError):
            bad()
    for bad in (lambda: v.select1(0), lambda: v.select1(v.n_ones + 1), lambda: v.select0(n - v.n_ones + 1)):
        with pytest.raises(IndexError):
            bad()


# --- large vectors across several superblocks -------------------------------------------------------------


def large_positions(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.unique(np.concatenate([boundaries(n), rng.integers(0, n + 1, 20_000)]))


def test_mixed_density_regions() -> None:
    """200k bits: a sparse stretch, a dense one, all-zeros and all-ones stretches, a random tail."""
    rng = np.random.default_rng(3)
    parts = [
        rng.random(70_000) < 0.0005,
        rng.random(50_000) < 0.97,
        np.zeros(33_000, dtype=bool),
        np.ones(33_000, dtype=bool),
        rng.random(14_000 + 37) < 0.5,
    ]
    a = np.concatenate(parts)
    for sample in (SELECT_SAMPLE, 256):
        check_vector(a, sample, large_positions(a.shape[0], rng))


def test_ones_only_at_the_end() -> None:
    n = 200_003
    a = np.zeros(n, dtype=bool)
    a[-5:] = True
    v = check_vector(a, positions=large_positions(n, np.random.default_rng(4)))
    assert v.select1(1) == n - 5 and v.rank1(n - 5) == 0 and v.rank1(n) == 5
    check_vector(~a, positions=large_positions(n, np.random.default_rng(5)))


def test_sparse_samples_far_apart() -> None:
    """Consecutive samples ~100 superblocks apart: the superblock binary search does the work."""
    rng = np.random.default_rng(6)
    n = 3 * 2**20 + 11
    a = np.zeros(n, dtype=bool)
    a[rng.choice(n, 3000, replace=False)] = True
    a[n - 1] = True
    check_vector(a, SELECT_SAMPLE, large_positions(n, rng))
    check_vector(a, 512, large_positions(n, rng))


def test_all_zeros_and_all_ones_large() -> None:
    for value in (False, True):
        a = np.full(SUPERBLOCK_BITS * 3 + 100, value)
        check_vector(a, positions=large_positions(a.shape[0], np.random.default_rng(8)))


def test_beyond_32_bit_positions() -> None:
    """2^32 + 77 bits (a stride-0 view, no memory): positions and counts past 32 bits, checked by formula."""
    n = 2**32 + 77
    ones_at, zeros_at = [0, 5, 63], [p for p in range(64) if p not in (0, 5, 63)]
    word = np.uint64(sum(1 << p for p in ones_at))
    bits = np.broadcast_to(word, ((n + 63) // 64,))
    sb_abs, blk_rel = build_rank(bits, n)
    samples1, samples0 = build_select(bits, n, sb_abs, blk_rel)

    def ref_rank1(i: int) -> int:
        return 3 * (i // 64) + sum(p < i % 64 for p in ones_at)

    n1 = ref_rank1(n)
    assert int(sb_abs[-1]) == n1
    positions = np.array([n, n - 1, n - 64, 2**32, 2**32 - 1, 2**31 + 3, n - SUPERBLOCK_BITS - 1], dtype=np.int64)
    got = ranks_at(bits, sb_abs, blk_rel, positions)
    assert got[0].tolist() == [ref_rank1(int(i)) for i in positions]
    assert got[1].tolist() == [int(i) - ref_rank1(int(i)) for i in positions]
    for k in (1, 2, 3, 4, n1 // 2 + 1, n1 - 1, n1):
        assert select1(bits, sb_abs, blk_rel, samples1, n, k) == 64 * ((k - 1) // 3) + ones_at[(k - 1) % 3]
    n0 = n - n1
    for k in (1, 61, 62, n0 // 3, n0 - 1, n0):
        assert select0(bits, sb_abs, blk_rel, samples0, n, k) == 64 * ((k - 1) // 61) + zeros_at[(k - 1) % 61]


# --- edge cases and the wrapper -------------------------------------------------------------------------


def test_empty() -> None:
    v = BitVector(np.zeros(0, dtype=bool))
    assert len(v) == 0 and v.rank1(0) == 0 and v.rank0(0) == 0 and v.n_ones == 0
    assert v.sb_abs.tolist() == [0] and v.blk_rel.tolist() == [0]
    assert v.samples1.tolist() == [SELECT_SAMPLE, 0] and v.samples0.tolist() == [SELECT_SAMPLE, 0]
    for bad in (v.select1, v.select0):
        with pytest.raises(IndexError):
            bad(1)
    with pytest.raises(IndexError):
        v.access(0)
    assert build_and_query(np.zeros(0, dtype=np.uint64), 0) == (0, -1, -1)


def test_dirty_tail_is_ignored() -> None:
    """Garbage past n_bits in the last word changes neither the directories nor any answer."""
    rng = np.random.default_rng(9)
    for n in (1, 63, 65, 1000, SUPERBLOCK_BITS + 1):
        a = rng.random(n) < 0.5
        clean = pack(a)
        dirty = clean.copy()
        dirty[-1] |= ~np.uint64(0) << np.uint64(n % 64) if n % 64 else np.uint64(0)
        dirty = np.concatenate([dirty, np.full(3, ~np.uint64(0))])  # extra words too
        sb_c, blk_c = build_rank(clean, n)
        sb_d, blk_d = build_rank(dirty, n)
        np.testing.assert_array_equal(sb_c, sb_d)
        np.testing.assert_array_equal(blk_c, blk_d)
        s_c, s_d = build_select(clean, n, sb_c, blk_c), build_select(dirty, n, sb_d, blk_d)
        for x, y in zip(s_c, s_d, strict=True):
            np.testing.assert_array_equal(x, y)
        before = dirty.copy()
        v = BitVector.from_words(dirty, n)
        assert v.bits.shape == clean.shape and (v.bits == clean).all() and (dirty == before).all()
        n1 = int(a.sum())
        assert rank1(dirty, sb_d, blk_d, n) == n1
        np.testing.assert_array_equal(all_selects(dirty, sb_d, blk_d, s_d[1], n, n - n1, False), np.flatnonzero(~a))


def test_build_inside_numba() -> None:
    a = np.zeros(70_000, dtype=bool)
    a[[12, 40_000]] = True
    assert build_and_query(pack(a), a.shape[0]) == (2, 12, 69_999)
    assert build_and_query(pack(np.ones(130, dtype=bool)), 130) == (130, 0, -1)


def test_from_words_validation() -> None:
    with pytest.raises(ValueError):
        BitVector.from_words(np.zeros(1, dtype=np.uint64), 65)
    with pytest.raises(TypeError):
        BitVector.from_words(np.zeros(2, dtype=np.int64), 65)
    with pytest.raises(ValueError):
        BitVector.from_words(np.zeros(2, dtype=np.uint64), -1)
    with pytest.raises(ValueError):
        BitVector(np.ones(10, dtype=bool), sample=3)
    v = BitVector.from_words(np.array([0b1011], dtype=np.uint64), 4)
    assert [v.access(i) for i in range(4)] == [1, 1, 0, 1] and v.select0(1) == 2


def test_space() -> None:
    n = 10**6
    v = BitVector(np.random.default_rng(10).random(n) < 0.5)
    rank_bytes = v.sb_abs.nbytes + v.blk_rel.nbytes
    select_bytes = v.samples1.nbytes + v.samples0.nbytes
    assert rank_bytes / v.bits.nbytes == pytest.approx(64 / SUPERBLOCK_BITS + 16 / BLOCK_BITS, rel=0.01)  # 3.32%
    assert select_bytes <= 8 * (n // SELECT_SAMPLE + 6)  # 1.5625% + 48 bytes
    assert v.nbytes == v.bits.nbytes + rank_bytes + select_bytes
    assert v.overhead == pytest.approx((rank_bytes + select_bytes) / v.bits.nbytes) and v.overhead < 0.05

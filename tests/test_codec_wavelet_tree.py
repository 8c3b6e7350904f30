"""The ``wavelet-tree`` codec beyond the conformance suite, for both shapes: the batch
methods, sizes against H0, ``max_code_length``, hostile and targeted corruptions, the byte layout
checked bit by bit against an independent reference, and the store/executor end to end.

Targeted corruptions need the section layout. It is written out below (``layout()``) from the
documented byte layout, not imported from the implementation (whose private helpers move as the
kernels are optimized); ``test_byte_layout`` checks that reading against real payloads.
"""

from __future__ import annotations

import gc
import json
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tinynet import TinyNet

import codecbench
from codecbench.cli import main
from codecbench.codecs.wavelet_tree import WaveletTreeCodec
from codecbench.compression import compress_state_dict
from codecbench.errors import CorruptDataError
from codecbench.executor.runner import same_bits
from codecbench.store.config import StoreConfig
from codecbench.succinct import bit_vector as bv
from codecbench.succinct.huffman_code import canonical, code_lengths
from codecbench.testing import (
    QUERY_ERRORS,
    check_codec_roundtrip,
    check_hostile_buffers,
    check_sequence_against,
    naive_rank,
    naive_select,
)

SHAPES = ("huffman", "balanced")
CODEC = WaveletTreeCodec()

# --------------------------------------------------------------------------- the documented layout
#
# Little-endian. A 64-byte header, then 64-byte-aligned sections whose sizes follow from it:
#
#     0   8  magic b"CBWTREE\0"                  36  4  u32 select sample rate s
#     8   4  u32 layout version (1)               40  8  u64 n_bits (all levels)
#     12  4  u32 shape (0 balanced, 1 huffman)    48  8  u64 n_ones
#     16  8  u64 n                                56  8  u64 n_present (Huffman table length)
#     24  8  u64 sigma
#     32  4  u32 levels L
#     sections: level_off u64[L+1] | count u64[L+1] (huffman only) | bits u64[ceil(n_bits/64)]
#               | sb_abs u64[ceil(n_bits/32768)+1] | blk_rel u16[ceil(n_bits/512)+1]
#               | samples1 u64[ceil(n_ones/s)+2] | samples0 u64[ceil(n_zeros/s)+2]
#               | sorted_symbols u32[n_present] (huffman only)
#
# The payload ends with its last section (no trailing padding).

HEADER = struct.Struct("<8sIIQQIIQQQ")
FIELDS = ("magic", "version", "shape", "n", "sigma", "levels", "sample", "n_bits", "n_ones", "n_present")
OFFSET = {"shape": 12, "n": 16, "sigma": 24, "levels": 32, "sample": 36, "n_bits": 40, "n_ones": 48, "n_present": 56}
BALANCED, HUFFMAN = 0, 1


def header(data: bytes) -> dict[str, Any]:
    return dict(zip(FIELDS, HEADER.unpack_from(data, 0), strict=True))


def layout(data: bytes) -> dict[str, tuple[int, np.dtype, int]]:
    """Section name -> (byte offset, dtype, count), from the header, as laid out above."""
    h = header(data)
    levels, n_bits, n_ones, sample = h["levels"], h["n_bits"], h["n_ones"], h["sample"]
    huffman = h["shape"] == HUFFMAN
    sections = [("level_off", "<u8", levels + 1)]
    if huffman:
        sections.append(("count", "<u8", levels + 1))
    sections += [
        ("bits", "<u8", math.ceil(n_bits / 64)),
        ("sb_abs", "<u8", math.ceil(n_bits / 32768) + 1),
        ("blk_rel", "<u2", math.ceil(n_bits / 512) + 1),
        ("samples1", "<u8", math.ceil(n_ones / sample) + 2),
        ("samples0", "<u8", math.ceil((n_bits - n_ones) / sample) + 2),
    ]
    if huffman:
        sections.append(("sorted_symbols", "<u4", h["n_present"]))
    out = {}
    position = 64
    for name, dtype, count in sections:
        position = (position + 63) // 64 * 64
        out[name] = (position, np.dtype(dtype), count)
        position += count * np.dtype(dtype).itemsize
    out["end"] = (position, np.dtype("u1"), 0)
    return out


def section(buf: bytes | bytearray, name: str) -> np.ndarray:
    """The named section as a numpy view (writable when ``buf`` is a bytearray)."""
    offset, dtype, count = layout(bytes(buf))[name]
    return np.frombuffer(buf, dtype=dtype, count=count, offset=offset)


def set_header(buf: bytearray, name: str, value: int) -> None:
    fmt = "<I" if name in ("shape", "levels", "sample") else "<Q"
    struct.pack_into(fmt, buf, OFFSET[name], value)


def rewrite_directories(buf: bytearray) -> None:
    """Recompute the rank/select directories from the (possibly altered) bits, in place.

    Only valid when the number of ones is unchanged (the sample sections keep their sizes)."""
    h = header(bytes(buf))
    bits = section(buf, "bits").copy()
    sb_abs, blk_rel = bv.build_rank(bits, h["n_bits"])
    assert int(sb_abs[-1]) == h["n_ones"]
    samples1, samples0 = bv.build_select(bits, h["n_bits"], sb_abs, blk_rel, h["sample"])
    for name, values in (("sb_abs", sb_abs), ("blk_rel", blk_rel), ("samples1", samples1), ("samples0", samples0)):
        target = section(buf, name)
        assert target.shape == values.shape, name
        target[:] = values


# --------------------------------------------------------------------------- symbol generators


def palette_for(rng: np.random.Generator, sigma: int, size: int) -> np.ndarray:
    """``size`` distinct symbols of [0, sigma) in random order, including both ends of the alphabet."""
    size = min(size, sigma)
    picks = {0, sigma - 1} if size >= 2 else {sigma - 1}
    while len(picks) < size:
        picks.add(int(rng.integers(0, sigma)))
    return rng.permutation(np.array(sorted(picks), dtype=np.int64))


def make_symbols(rng: np.random.Generator, n: int, sigma: int, dist: str) -> np.ndarray:
    if dist == "uniform":
        s = rng.integers(0, sigma, size=n, dtype=np.int64)
        if n >= 2:
            s[rng.integers(0, n)] = sigma - 1
            s[rng.integers(0, n)] = 0
    elif dist == "geometric":  # ranks ~ Geometric(0.4): Huffman codes 1, 2, 3, ... bits long
        palette = palette_for(rng, sigma, 64)
        s = palette[np.minimum(rng.geometric(0.4, size=n) - 1, palette.size - 1)]
    elif dist == "dominant":  # one symbol ~95%, the rest uniform over the alphabet
        s = np.full(n, int(rng.integers(0, sigma)), dtype=np.int64)
        other = rng.random(n) < 0.05
        s[other] = rng.integers(0, sigma, size=int(other.sum()))
    else:  # pragma: no cover
        raise AssertionError(dist)
    return s.astype(np.uint32)


def entropy(symbols: np.ndarray) -> float:
    _, freqs = np.unique(symbols, return_counts=True)
    p = freqs / freqs.sum()
    return float(-(p * np.log2(p)).sum())


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dist", ["uniform", "geometric"])
@pytest.mark.parametrize("sigma", [2, 3, 255, 256, 257, 2**16 + 1])
def test_alphabet_sizes(shape: str, sigma: int, dist: str) -> None:
    rng = np.random.default_rng(sigma * 10 + len(dist))
    symbols = make_symbols(rng, 2000, sigma, dist)
    check_codec_roundtrip(CODEC, symbols, sigma, rng, shape=shape)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("sigma", [2**20, 2**32])
def test_huge_alphabet_few_symbols(shape: str, sigma: int) -> None:
    rng = np.random.default_rng(7)
    palette = np.array([0, sigma - 1, sigma // 2, 12345, sigma - 2, 99999], dtype=np.int64)
    symbols = palette[rng.integers(0, palette.size, size=3000)].astype(np.uint32)
    data = check_codec_roundtrip(CODEC, symbols, sigma, rng, shape=shape)
    h = header(data)
    if shape == "balanced":
        assert h["levels"] == (sigma - 1).bit_length()
    else:  # six present symbols: codes of 2 or 3 bits whatever sigma is
        assert h["levels"] == 3 and h["n_present"] == 6


@pytest.mark.parametrize("shape", SHAPES)
def test_absent_symbol_k_beyond_count_and_ends(shape: str) -> None:
    s = np.array([4, 0, 4, 2, 4, 4, 0, 9, 4, 2], dtype=np.uint32)
    n, sigma = s.size, 12
    seq = CODEC.open(CODEC.encode(s, sigma, shape=shape))
    for c in (1, 3, 5, 10, 11):  # absent but inside the alphabet
        assert [seq.rank(c, i) for i in range(n + 1)] == [0] * (n + 1)
        with pytest.raises(IndexError, match="0 times"):
            seq.select(c, 1)
        assert seq.select_many(c, []).size == 0
        np.testing.assert_array_equal(seq.rank_many(c, np.arange(n + 1)), np.zeros(n + 1, dtype=np.int64))
    for c in (0, 2, 4, 9):
        total = int(np.count_nonzero(s == c))
        assert seq.rank(c, n) == total  # i = n
        assert seq.select(c, total) == naive_select(s, c, total)
        with pytest.raises(IndexError, match=f"{total} times"):
            seq.select(c, total + 1)
        with pytest.raises(IndexError):
            seq.select(c, n + 1)
    assert seq.access(0) == 4 and seq.access(n - 1) == 2
    assert seq.extract(0, 1).tolist() == [4] and seq.extract(n - 1, n).tolist() == [2]
    assert seq.extract(n, n).size == 0 and seq.extract(0, 0).size == 0
    assert seq.extract(0, n).tolist() == s.tolist()
    with pytest.raises(IndexError):
        seq.access(n)
    with pytest.raises(IndexError):
        seq.rank(0, n + 1)


def test_single_symbol_huffman_tree_has_no_levels() -> None:
    s = np.full(1000, 137, dtype=np.uint32)
    huff = CODEC.encode(s, 300)
    h = header(huff)
    assert (h["shape"], h["levels"], h["n_bits"], h["n_present"]) == (HUFFMAN, 0, 0, 1)
    assert section(huff, "sorted_symbols").tolist() == [137]
    assert len(huff) < 512  # no per-symbol bits at all
    balanced = CODEC.encode(s, 300, shape="balanced")
    assert header(balanced)["levels"] == 9 and header(balanced)["n_bits"] == 9000
    for data in (huff, balanced):
        seq = CODEC.open(data)
        assert seq.rank(137, 1000) == 1000 and seq.rank(136, 1000) == 0
        assert seq.select(137, 1000) == 999
        assert seq.extract(10, 20).tolist() == [137] * 10


# --------------------------------------------------------------------------- batch methods


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("sigma", "dist"), [(300, "geometric"), (2**16 + 1, "uniform"), (1, "uniform")])
def test_access_many(shape: str, sigma: int, dist: str) -> None:
    rng = np.random.default_rng(11)
    n = 5000
    s = make_symbols(rng, n, sigma, dist)
    seq = CODEC.open(CODEC.encode(s, sigma, shape=shape))
    cases = [
        rng.integers(0, n, size=3000),  # unsorted, with duplicates
        np.arange(n)[::-1],
        np.array([n - 1, 0, n - 1, 0, 7, 7]),
        np.arange(n),
        np.array([], dtype=np.int64),
        [],
        [n - 1],
        rng.integers(0, n, size=50).astype(np.int32),
        rng.integers(0, n, size=50).astype(np.uint16),
    ]
    for positions in cases:
        got = seq.access_many(positions)
        assert isinstance(got, np.ndarray) and got.dtype == np.uint32
        np.testing.assert_array_equal(got, s[np.asarray(positions, dtype=np.int64)])
    for bad in ([-1], [n], [0, n], [n + 1000, 0], [2**63], [2**64], [-(2**64)]):
        with pytest.raises(IndexError):
            seq.access_many(bad)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("sigma", "dist"), [(300, "geometric"), (2**16 + 1, "uniform"), (1, "uniform")])
def test_rank_many(shape: str, sigma: int, dist: str) -> None:
    rng = np.random.default_rng(12)
    n = 5000
    s = make_symbols(rng, n, sigma, dist)
    seq = CODEC.open(CODEC.encode(s, sigma, shape=shape))
    present = np.unique(s)
    absent = [c for c in {0, 1, sigma // 2, sigma - 1} if c < sigma and c not in set(present.tolist())]
    positions = np.concatenate([rng.integers(0, n + 1, size=2000), [n, 0, n, n - 1, 0]])
    for c in [*rng.choice(present, size=min(5, present.size), replace=False).tolist(), *absent]:
        cumulative = np.concatenate([[0], np.cumsum(s == c)])
        for pos in (positions, np.arange(n + 1), np.array([n]), np.array([], dtype=np.int64), []):
            got = seq.rank_many(c, pos)
            assert isinstance(got, np.ndarray) and got.dtype == np.int64
            np.testing.assert_array_equal(got, cumulative[np.asarray(pos, dtype=np.int64)], err_msg=f"c={c}")
        assert seq.rank_many(c, [n])[0] == naive_rank(s, c, n)
    for bad in ([-1], [n + 1], [0, n + 1], [2**63], [2**64]):
        with pytest.raises(IndexError):
            seq.rank_many(int(s[0]), bad)
    for c in (-1, sigma, sigma + 1, 2**64):
        with pytest.raises(ValueError):
            seq.rank_many(c, [0, 1])
        with pytest.raises(ValueError):
            seq.rank_many(c, [])


@pytest.mark.parametrize("shape", SHAPES)
def test_batch_methods_on_degenerate_trees(shape: str) -> None:
    empty = CODEC.open(CODEC.encode(np.array([], dtype=np.uint32), 5, shape=shape))
    assert empty.access_many([]).size == 0
    np.testing.assert_array_equal(empty.rank_many(3, [0, 0]), [0, 0])
    with pytest.raises(IndexError):
        empty.access_many([0])
    with pytest.raises(IndexError):
        empty.rank_many(3, [1])
    one = CODEC.open(CODEC.encode(np.full(64, 3, dtype=np.uint32), 5, shape=shape))
    np.testing.assert_array_equal(one.access_many([63, 0, 5]), [3, 3, 3])
    np.testing.assert_array_equal(one.rank_many(3, [64, 0, 10]), [64, 0, 10])
    np.testing.assert_array_equal(one.rank_many(4, [64, 0, 10]), [0, 0, 0])


def test_batches_split_into_several_kernel_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(13)
    n = 3000
    s = make_symbols(rng, n, 300, "geometric")
    seq = CODEC.open(CODEC.encode(s, 300))
    monkeypatch.setattr("codecbench.codecs.wavelet_tree._BATCH", 700)
    positions = rng.integers(0, n, size=2500)
    np.testing.assert_array_equal(seq.access_many(positions), s[positions])
    c = int(s[0])
    ranks = rng.integers(0, n + 1, size=2500)
    np.testing.assert_array_equal(seq.rank_many(c, ranks), np.concatenate([[0], np.cumsum(s == c)])[ranks])


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("n", [511, 512, 513, 32768, 32769, 65536])
def test_queries_at_rank_block_ends(shape: str, n: int) -> None:
    """The single queries read a position's whole 512-bit block (one cache line), also
    past the last bit: bit counts that end on or next to block and superblock ends."""
    rng = np.random.default_rng(n)
    s = rng.integers(0, 2, size=n).astype(np.uint32)  # one level: n_bits = n
    seq = CODEC.open(CODEC.encode(s, 2, shape=shape))
    cumulative = np.concatenate([[0], np.cumsum(s == 1)])
    for i in sorted({0, 1, 63, 64, 511, 512, 513, n - 1, n} & set(range(n + 1))):
        assert seq.rank(1, i) == cumulative[i], i
        assert seq.rank(0, i) == i - cumulative[i], i
        if i < n:
            assert seq.access(i) == s[i], i


def test_single_query_methods_keep_the_buffer_alive() -> None:
    """The kernels read the buffer by address: a bound method must keep it alive on its own."""
    rng = np.random.default_rng(14)
    s = make_symbols(rng, 4000, 300, "geometric")
    payload = bytearray(CODEC.encode(s, 300))
    seq = CODEC.open(np.frombuffer(payload, dtype=np.uint8))
    access, rank = seq.access, seq.rank
    del seq, payload
    gc.collect()
    garbage = [np.full(4096, 0xFF, dtype=np.uint8) for _ in range(64)]  # reuse freed memory
    assert [access(i) for i in range(0, 4000, 97)] == s[::97].tolist()
    assert rank(int(s[0]), 4000) == int(np.sum(s == s[0]))
    del garbage


# --------------------------------------------------------------------------- property test


@pytest.mark.parametrize("shape", SHAPES)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_property_matches_naive(shape: str, data: st.DataObject) -> None:
    sigma = data.draw(st.one_of(st.integers(1, 8), st.integers(1, 300), st.integers(1, 2**16)), label="sigma")
    n = data.draw(st.one_of(st.integers(0, 40), st.integers(0, 3000)), label="n")
    dist = data.draw(st.sampled_from(["uniform", "geometric", "dominant"]), label="dist")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    s = make_symbols(rng, n, sigma, dist)
    seq = CODEC.open(CODEC.encode(s, sigma, shape=shape))

    assert len(seq) == n and seq.alphabet_size == sigma
    np.testing.assert_array_equal(seq.extract(0, n), s)
    np.testing.assert_array_equal(seq.access_many(np.arange(n)), s)
    for i in rng.integers(0, n, size=min(n, 60)).tolist():
        assert seq.access(i) == int(s[i])
    for _ in range(20):
        a, b = sorted(rng.integers(0, n + 1, size=2).tolist())
        np.testing.assert_array_equal(seq.extract(a, b), s[a:b], err_msg=f"extract({a}, {b})")

    present = np.unique(s)
    probe = set(rng.choice(present, size=min(6, present.size), replace=False).tolist()) if n else set()
    probe |= {int(c) for c in rng.integers(0, sigma, size=3)} | {0, sigma - 1}
    every_position = np.arange(n + 1)
    for c in sorted(probe):
        cumulative = np.concatenate([[0], np.cumsum(s == c)])
        np.testing.assert_array_equal(seq.rank_many(c, every_position), cumulative, err_msg=f"rank_many({c})")
        for i in {0, n, n // 2, int(rng.integers(0, n + 1))}:
            assert seq.rank(c, i) == cumulative[i], f"rank({c}, {i})"
        positions = np.flatnonzero(s == c)
        total = positions.size
        np.testing.assert_array_equal(seq.select_many(c, np.arange(1, total + 1)), positions, err_msg=f"select {c}")
        if total:
            k = int(rng.integers(1, total + 1))
            assert seq.select(c, k) == naive_select(s, c, k)
        with pytest.raises(IndexError):
            seq.select(c, total + 1)


# --------------------------------------------------------------------------- sizes

# Everything in a payload whose size does not grow with n, for 256 symbols: header 64 B,
# up to 63 B of alignment padding before each of 7 sections, level_off and count (at most
# 33 u64 each), sorted_symbols (at most 256 u32), and the sentinel/rounding entries of the
# directories (sb_abs +2, blk_rel +2, samples +3 each, bits +1 word).
FIXED_BYTES_256 = 64 + 7 * 63 + 2 * 33 * 8 + 256 * 4 + (2 * 8 + 2 * 2 + 6 * 8 + 8)


def gaussian256(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(rng.normal(127.5, 12.0, size=n)), 0, 255).astype(np.uint32)


def test_huffman_size_close_to_entropy() -> None:
    """Huffman shape: n*H0 bits plus directories of about 5% (rank 3.32% + select 1.56%).

    With 200k symbols the fixed part (FIXED_BYTES_256, about 2.1 kB) adds at most
    0.085 bits/symbol; 1.10 * H0 leaves ~0.27 bits/symbol for directories and Huffman redundancy,
    which for this smooth distribution is ~0.02 bits/symbol (checked exactly below)."""
    n = 200_000
    s = gaussian256(n)
    h0 = entropy(s)
    assert 5.3 < h0 < 5.8
    data = CODEC.encode(s, 256)
    allowance = FIXED_BYTES_256 * 8 / n
    bits_per_symbol = len(data) * 8 / n
    assert bits_per_symbol <= 1.10 * h0 + allowance, (bits_per_symbol, h0)
    # the tree's bits are exactly the Huffman cost of the symbol frequencies
    _, freqs = np.unique(s, return_counts=True)
    huffman_bits = int((freqs * code_lengths(freqs).astype(np.int64)).sum())
    h = header(data)
    assert h["n_bits"] == huffman_bits
    assert h0 <= huffman_bits / n < h0 + 0.05
    assert CODEC.open(data).nbytes == len(data)


def test_balanced_size_is_fixed_width() -> None:
    n = 200_000
    s = gaussian256(n)
    data = CODEC.encode(s, 256, shape="balanced")
    assert header(data)["n_bits"] == 8 * n
    bits_per_symbol = len(data) * 8 / n
    assert 8 < bits_per_symbol <= math.ceil(math.log2(256)) * 1.06, bits_per_symbol
    assert CODEC.open(data).nbytes == len(data)


def test_huffman_beats_balanced_on_skewed_data() -> None:
    s = make_symbols(np.random.default_rng(3), 50_000, 2**16 + 1, "geometric")
    huff, balanced = CODEC.encode(s, 2**16 + 1), CODEC.encode(s, 2**16 + 1, shape="balanced")
    assert len(huff) * 5 < len(balanced)


# --------------------------------------------------------------------------- parameters


def skewed_300(seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """All 300 symbols present with frequencies 2**14, 2**13, ..., 1, 1, ...: an unrestricted
    Huffman code is more than 12 bits deep. Returns (symbols, frequency per symbol)."""
    rng = np.random.default_rng(seed)
    freqs = np.array([1 << max(14 - k, 0) for k in range(300)], dtype=np.int64)
    freqs = freqs[rng.permutation(300)]  # the frequent symbols are not 0, 1, 2, ...
    s = rng.permutation(np.repeat(np.arange(300), freqs)).astype(np.uint32)
    return s, freqs


def test_max_code_length_is_honoured() -> None:
    s, freqs = skewed_300()
    assert int(code_lengths(freqs).max()) > 12
    limited = code_lengths(freqs, 12)
    assert int(limited.max()) == 12
    data = check_codec_roundtrip(CODEC, s, 300, np.random.default_rng(2), max_code_length=12)
    h = header(data)
    assert h["levels"] == 12
    assert h["n_bits"] == int((freqs * limited.astype(np.int64)).sum())
    # the default limit (24) does not bind here: an optimal code, deeper than 12 bits
    default = header(CODEC.encode(s, 300))
    assert default["levels"] == int(code_lengths(freqs).max()) > 12
    assert default["n_bits"] < h["n_bits"]


def test_max_code_length_on_geometric_distribution() -> None:
    rng = np.random.default_rng(9)
    s = np.minimum(rng.geometric(0.5, size=100_000) - 1, 299).astype(np.uint32)
    _, freqs = np.unique(s, return_counts=True)
    assert int(code_lengths(freqs).max()) > 12
    data = check_codec_roundtrip(CODEC, s, 300, rng, max_code_length=12)
    assert header(data)["levels"] == 12


def test_max_code_length_below_need_is_raised() -> None:
    """300 distinct symbols need 9 bits; a smaller limit is raised to 9 (codec docstring)."""
    s, _ = skewed_300()
    for limit in (1, 4, 8, 9):
        data = check_codec_roundtrip(CODEC, s, 300, np.random.default_rng(limit), max_code_length=limit)
        assert header(data)["levels"] == 9


def test_max_code_length_ignored_by_balanced_shape() -> None:
    s, _ = skewed_300()
    data = CODEC.encode(s, 300, shape="balanced", max_code_length=12)
    assert data == CODEC.encode(s, 300, shape="balanced")
    assert header(data)["levels"] == 9


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"shape": "round"}, "shape"),
        ({"shape": "HUFFMAN"}, "shape"),
        ({"shape": 1}, "shape"),
        ({"max_code_length": 0}, "max_code_length"),
        ({"max_code_length": 40}, "max_code_length"),
        ({"max_code_length": 33}, "max_code_length"),
        ({"max_code_length": -1}, "max_code_length"),
        ({"max_code_length": "x"}, "max_code_length"),
        ({"max_code_length": 12.0}, "max_code_length"),
        ({"max_code_length": None}, "max_code_length"),
        ({"block_size": 64}, "block_size"),
        ({"shape": "huffman", "levels": 3}, "levels"),
    ],
)
def test_invalid_params_are_named(params: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        CODEC.encode(np.array([0, 1, 2], dtype=np.uint32), 3, **params)


@pytest.mark.parametrize(
    ("symbols", "sigma"),
    [([0, 3], 3), ([-1], 3), ([0, 1], 0), ([0], 2**32 + 1), ([[0, 1]], 2), ([0.5], 2)],
)
def test_encode_rejects_bad_symbols(symbols: list[Any], sigma: int) -> None:
    with pytest.raises(ValueError):
        CODEC.encode(np.array(symbols), sigma)


# --------------------------------------------------------------------------- byte layout


def reference_levels(s: np.ndarray, codes: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    """Level l: bit l of every element whose code is longer than l, grouped by l-bit prefix (in numeric
    order), sequence order within a prefix. ``codes``/``lengths`` are indexed by symbol."""
    code, length = codes[s].astype(np.int64), lengths[s].astype(np.int64)
    out = []
    for lvl in range(int(lengths.max(initial=0))):
        alive = np.flatnonzero(length > lvl)
        prefix = code[alive] >> (length[alive] - lvl)
        order = alive[np.argsort(prefix, kind="stable")]
        out.append(((code[order] >> (length[order] - 1 - lvl)) & 1).astype(np.uint8))
    return out


def unpack_bits(words: np.ndarray, start: int, stop: int) -> np.ndarray:
    every = np.unpackbits(words.view(np.uint8), bitorder="little")
    return every[start:stop]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    ("sigma", "dist", "n"),
    [(300, "geometric", 3000), (5, "uniform", 1000), (2**16 + 1, "uniform", 700), (300, "uniform", 20_000)],
)
def test_byte_layout(shape: str, sigma: int, dist: str, n: int) -> None:
    s = make_symbols(np.random.default_rng(sigma), n, sigma, dist)
    data = CODEC.encode(s, sigma, shape=shape)
    h = header(data)
    where = layout(data)
    assert h["magic"] == b"CBWTREE\0" and h["version"] == 1
    assert h["shape"] == (HUFFMAN if shape == "huffman" else BALANCED)
    assert (h["n"], h["sigma"]) == (n, sigma)
    assert len(data) == where["end"][0], "payload ends right after its last section"
    # padding between sections is zero
    ends = sorted((off, off + dt.itemsize * cnt) for name, (off, dt, cnt) in where.items() if name != "end")
    for (_, end), (nxt, _) in zip(ends, ends[1:], strict=False):
        assert data[end:nxt] == b"\0" * (nxt - end)

    level_off = section(data, "level_off")
    bits = section(data, "bits")
    assert level_off[0] == 0 and level_off[-1] == h["n_bits"]
    sb_abs, blk_rel = bv.build_rank(bits.copy(), h["n_bits"])
    np.testing.assert_array_equal(section(data, "sb_abs"), sb_abs)
    np.testing.assert_array_equal(section(data, "blk_rel"), blk_rel)
    assert int(sb_abs[-1]) == h["n_ones"]
    samples1, samples0 = bv.build_select(bits.copy(), h["n_bits"], sb_abs, blk_rel, h["sample"])
    np.testing.assert_array_equal(section(data, "samples1"), samples1)
    np.testing.assert_array_equal(section(data, "samples0"), samples0)
    assert int(samples1[0]) == h["sample"] and int(samples1[-1]) == h["n_bits"]
    assert unpack_bits(bits, h["n_bits"], 64 * bits.size).sum() == 0, "padding bits must be zero"

    if shape == "balanced":
        width = (sigma - 1).bit_length()
        assert h["levels"] == width and h["n_present"] == 0
        codes, lengths = np.arange(sigma, dtype=np.int64), np.full(sigma, width)
    else:
        present, freqs = np.unique(s, return_counts=True)
        code = canonical(code_lengths(freqs, 24))
        assert h["levels"] == code.max_length and h["n_present"] == present.size
        np.testing.assert_array_equal(section(data, "count"), code.count)
        np.testing.assert_array_equal(section(data, "sorted_symbols"), present[code.sorted_symbols])
        codes = np.zeros(sigma, dtype=np.int64)
        lengths = np.zeros(sigma, dtype=np.int64)
        codes[present], lengths[present] = code.codes, code.lengths
    expected = reference_levels(s, codes, lengths)
    assert len(expected) == h["levels"]
    for lvl, want in enumerate(expected):
        got = unpack_bits(bits, int(level_off[lvl]), int(level_off[lvl + 1]))
        np.testing.assert_array_equal(got, want, err_msg=f"level {lvl}")


# --------------------------------------------------------------------------- hostile bytes

HOSTILE = {
    "empty-a1": (np.array([], dtype=np.uint32), 1),
    "empty-a300": (np.array([], dtype=np.uint32), 300),
    "zeros-a1": (np.zeros(100, dtype=np.uint32), 1),
    "one-symbol-a300": (np.full(200, 137, dtype=np.uint32), 300),
    "geometric-a300": (make_symbols(np.random.default_rng(1), 2000, 300, "geometric"), 300),
    "uniform-a65537": (make_symbols(np.random.default_rng(2), 700, 2**16 + 1, "uniform"), 2**16 + 1),
    "few-a2**32": (np.array([2**32 - 1, 0, 7, 2**31] * 12, dtype=np.uint32), 2**32),
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_buffers(shape: str, name: str) -> None:
    symbols, sigma = HOSTILE[name]
    good = CODEC.encode(symbols, sigma, shape=shape)
    assert header(good)["n"] == symbols.size
    check_hostile_buffers(CODEC, good, header_size=64, strict_length=True)


def exercise_all(seq: Any, sigma: int) -> None:
    """Every query kind over the whole (corrupt but openable) sequence: only documented errors."""
    n = len(seq)
    calls = [
        lambda: seq.extract(0, n),
        lambda: seq.extract(n // 3, n),
        lambda: seq.access_many(np.arange(n)),
        lambda: [seq.access(i) for i in range(0, n, max(1, n // 50))],
    ]
    for c in sorted({0, 1 % sigma, sigma - 1, *range(min(sigma, 6))}):
        calls += [
            lambda c=c: seq.rank_many(c, np.arange(n + 1)),
            lambda c=c: [seq.rank(c, i) for i in (0, n // 2, n)],
            lambda c=c: seq.select_many(c, np.arange(1, min(seq.rank(c, n), 2000) + 1)),
            lambda c=c: seq.select(c, 1),
        ]
    for call in calls:
        try:
            got = call()
        except QUERY_ERRORS:
            continue
        if isinstance(got, np.ndarray):
            assert got.dtype in (np.uint32, np.int64)


def open_or_reject(buf: bytes | bytearray, sigma: int) -> bool:
    """Open: CorruptDataError, or a sequence whose queries never crash. True if it opened."""
    try:
        seq = CODEC.open(bytes(buf))
    except CorruptDataError:
        return False
    exercise_all(seq, sigma)
    return True


def must_reject(buf: bytes | bytearray) -> None:
    with pytest.raises(CorruptDataError):
        CODEC.open(bytes(buf))


@pytest.fixture(scope="module")
def payloads() -> dict[tuple[str, str], tuple[bytes, np.ndarray, int]]:
    rng = np.random.default_rng(21)
    out = {}
    for shape in SHAPES:
        for label, sigma, dist, n in (
            ("geo", 300, "geometric", 6000),
            ("uni", 37, "uniform", 3000),
            ("big", 1000, "uniform", 12_000),  # several superblocks and select samples
        ):
            s = make_symbols(rng, n, sigma, dist)
            out[shape, label] = (CODEC.encode(s, sigma, shape=shape), s, sigma)
    return out


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("label", ["geo", "uni", "big"])
def test_single_bit_flip_in_bits_is_detected(payloads: dict, shape: str, label: str) -> None:
    """One flipped bit changes a popcount: the recomputed directories cannot match the stored ones."""
    good, _, _ = payloads[shape, label]
    h = header(good)
    offset = layout(good)["bits"][0]
    rng = np.random.default_rng(3)
    bits_to_flip = {0, h["n_bits"] - 1, *rng.integers(0, h["n_bits"], size=40).tolist()}
    if h["n_bits"] % 64:
        bits_to_flip.add(h["n_bits"])  # a padding bit of the last word
    for bit in sorted(bits_to_flip):
        buf = bytearray(good)
        buf[offset + bit // 8] ^= 1 << (bit % 8)
        must_reject(buf)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("label", ["geo", "uni", "big"])
def test_wrong_bits_with_consistent_directories(payloads: dict, shape: str, label: str) -> None:
    """Swap a one and a zero in the bits and rebuild the directories to match: open cannot tell
    from the directories; it may reject the buffer, or answer (wrongly) without crashing."""
    good, s, sigma = payloads[shape, label]
    h = header(good)
    rng = np.random.default_rng(4)
    opened = 0
    for trial in range(25):
        buf = bytearray(good)
        bits = section(buf, "bits")
        flat = np.unpackbits(bits.view(np.uint8), bitorder="little")[: h["n_bits"]]
        ones, zeros = np.flatnonzero(flat), np.flatnonzero(flat == 0)
        for _ in range(1 + trial % 3):
            for pos in (int(rng.choice(ones)), int(rng.choice(zeros))):
                bits[pos >> 6] ^= np.uint64(1) << np.uint64(pos & 63)
        rewrite_directories(buf)
        opened += open_or_reject(buf, sigma)
    assert opened > 0, "no swapped-bits payload opened: the test exercised nothing"


@pytest.mark.parametrize("shape", SHAPES)
def test_shape_field(payloads: dict, shape: str) -> None:
    good, _, _ = payloads[shape, "geo"]
    for value in (BALANCED if shape == "huffman" else HUFFMAN, 2, 3, 255, 2**31, 2**32 - 1):
        buf = bytearray(good)
        set_header(buf, "shape", value)
        must_reject(buf)


@pytest.mark.parametrize("shape", SHAPES)
def test_level_offsets_must_be_ascending_and_consistent(payloads: dict, shape: str) -> None:
    good, _, _ = payloads[shape, "geo"]
    h = header(good)
    levels, n_bits = h["levels"], h["n_bits"]
    assert levels >= 3
    original = section(good, "level_off").astype(np.int64)
    edits = [
        {1: original[2] + 1},  # non-monotone
        {2: original[1] - 1},  # non-monotone
        {1: original[2], 2: original[1]},  # swapped
        {0: 1},  # does not start at 0
        {0: 2**64 - 1},
        {levels: n_bits - 1},  # does not end at n_bits
        {levels: n_bits + 64},
        {1: 2**63},
        {1: original[1] - 1},  # first level is not n bits long
    ]
    if shape == "balanced":
        edits.append({2: original[2] + 1})  # monotone, but a level of n + 1 bits
    else:
        size = np.diff(original)
        grow = next(lvl for lvl in range(1, levels) if size[lvl] < size[lvl - 1])
        # monotone, but level `grow` larger than the one above it
        edits.append({grow: original[grow] - (size[grow - 1] - size[grow]) - 1})
    for edit in edits:
        buf = bytearray(good)
        level_off = section(buf, "level_off")
        for index, value in edit.items():
            level_off[index] = value
        must_reject(buf)


def test_level_sizes_disagreeing_with_code_table(payloads: dict) -> None:
    """Monotone, well-formed level offsets that contradict the code table: reject or never crash."""
    good, _, sigma = payloads["huffman", "geo"]
    original = section(good, "level_off").astype(np.int64)
    levels = original.size - 1
    tried = 0
    for lvl in range(1, levels):
        for delta in (-1, 1, -64, 64):
            buf = bytearray(good)
            level_off = section(buf, "level_off")
            level_off[lvl] = original[lvl] + delta
            size = np.diff(level_off.astype(np.int64))
            if size[0] != header(good)["n"] or np.any(size < 0) or np.any(np.diff(size) > 0):
                continue
            tried += 1
            open_or_reject(buf, sigma)
    assert tried > 0


def code_table(buf: bytes | bytearray) -> tuple[np.ndarray, list[list[int]]]:
    """(count per length, symbols of each length) of a Huffman payload."""
    count = section(buf, "count").astype(np.int64)
    symbols = section(buf, "sorted_symbols").tolist()
    blocks, start = [], 0
    for c in count.tolist():
        blocks.append(symbols[start : start + c])
        start += c
    return count, blocks


def write_code_table(buf: bytearray, count: list[int], blocks: list[list[int]]) -> None:
    section(buf, "count")[:] = count
    flat = [x for block in blocks for x in block]
    target = section(buf, "sorted_symbols")
    assert len(flat) == target.size
    target[:] = flat


def _corrupt_tables(good: bytes, sigma: int) -> dict[str, tuple[list[int], list[list[int]]]]:
    """Code tables each broken in exactly one way (everything else as open expects)."""
    count, blocks = code_table(good)
    levels = count.size - 1
    deepest = levels
    multi = next(d for d in range(levels + 1) if len(blocks[d]) >= 2)
    mid = next(d for d in range(1, levels) if count[d] >= 1)  # a length with a longer one below it
    out: dict[str, tuple[list[int], list[list[int]]]] = {}

    c = count.tolist()
    c[deepest] += 1
    out["count sum too large"] = (c, blocks)
    c = count.tolist()
    c[mid] -= 1
    out["count sum too small"] = (c, blocks)
    c = count.tolist()
    c[0] = 2**63
    out["huge count"] = (c, blocks)

    b = [list(x) for x in blocks]
    b[multi][0], b[multi][1] = b[multi][1], b[multi][0]
    out["symbols descending within a length"] = (count.tolist(), b)
    b = [list(x) for x in blocks]
    b[multi][1] = b[multi][0]
    out["duplicate symbol within a length"] = (count.tolist(), b)
    b = [list(x) for x in blocks]
    b[deepest][-1] = sigma
    out["symbol == sigma"] = (count.tolist(), b)
    b = [list(x) for x in blocks]
    b[deepest][-1] = 2**32 - 1
    out["symbol 2**32 - 1"] = (count.tolist(), b)

    # move one code from length `mid` to `mid + 1`: Kraft sum < 1 (incomplete)
    c = count.tolist()
    b = [list(x) for x in blocks]
    moved = b[mid].pop()
    b[mid + 1] = sorted([*b[mid + 1], moved])
    c[mid] -= 1
    c[mid + 1] += 1
    out["incomplete prefix code"] = (c, b)
    # move one code from length `deepest` to `deepest - 1`: Kraft sum > 1 (not a prefix code)
    c = count.tolist()
    b = [list(x) for x in blocks]
    moved = b[deepest].pop(0)
    b[deepest - 1] = sorted([*b[deepest - 1], moved])
    c[deepest] -= 1
    c[deepest - 1] += 1
    out["over-full prefix code"] = (c, b)
    # a symbol of length 0 in a tree with levels
    c = count.tolist()
    b = [list(x) for x in blocks]
    b[0] = [b[deepest].pop()]
    c[0] += 1
    c[deepest] -= 1
    out["length-0 code"] = (c, b)
    return out


@pytest.mark.parametrize(
    "case",
    [
        "count sum too large",
        "count sum too small",
        "huge count",
        "symbols descending within a length",
        "duplicate symbol within a length",
        "symbol == sigma",
        "symbol 2**32 - 1",
        "incomplete prefix code",
        "over-full prefix code",
        "length-0 code",
    ],
)
def test_broken_code_table_is_rejected(payloads: dict, case: str) -> None:
    good, _, sigma = payloads["huffman", "geo"]
    count, blocks = _corrupt_tables(good, sigma)[case]
    buf = bytearray(good)
    write_code_table(buf, count, blocks)
    assert bytes(buf) != good
    must_reject(buf)


def test_zero_level_code_table_is_checked() -> None:
    good = CODEC.encode(np.full(50, 7, dtype=np.uint32), 10)
    assert header(good)["levels"] == 0
    for count, symbol in (([1], 10), ([1], 2**32 - 1), ([0], 7), ([2], 7)):
        buf = bytearray(good)
        section(buf, "count")[:] = count
        section(buf, "sorted_symbols")[:] = symbol
        must_reject(buf)
    buf = bytearray(good)  # a zero-level tree with zero coded symbols but n > 0
    set_header(buf, "n_present", 0)
    must_reject(buf[: layout(bytes(buf))["end"][0]])


def test_header_fields_out_of_range() -> None:
    good = CODEC.encode(make_symbols(np.random.default_rng(0), 500, 40, "geometric"), 40)
    for name, value in (
        ("n", 0),
        ("n", 2**64 - 1),
        ("sigma", 0),
        ("sigma", 2**32 + 1),
        ("sigma", 3),  # fewer symbols than the table names
        ("levels", 33),
        ("levels", 2**32 - 1),
        ("sample", 0),
        ("sample", 63),
        ("sample", 4095),
        ("n_bits", 2**64 - 1),
        ("n_ones", 2**64 - 1),
        ("n_present", 2**64 - 1),
    ):
        buf = bytearray(good)
        set_header(buf, name, value)
        must_reject(buf)


# --------------------------------------------------------------------------- end to end


def _special_values() -> torch.Tensor:
    values = [0.0, -0.0, float("nan"), float("inf"), -float("inf"), 1e-45, -1e-45, 3.4e38, 1.0, -1.0]
    return torch.tensor(values * 4, dtype=torch.float32).reshape(5, 8)


@pytest.mark.parametrize("shape", SHAPES)
def test_store_round_trip_is_byte_identical(tmp_path: Path, shape: str) -> None:
    gen = torch.Generator().manual_seed(0)
    state = {
        "dense": torch.randn(64, 33, generator=gen),
        "conv": torch.randn(8, 3, 3, 3, generator=gen),
        "quantized": torch.round(torch.randn(40, 50, generator=gen) * 4) / 4,
        "special": _special_values(),
        "constant": torch.full((10, 10), 0.5),
        "half": torch.randn(16, 16, generator=gen).half(),
        "double": torch.randn(5, 7, generator=gen).double(),
        "bias": torch.randn(10, generator=gen),
    }
    if shape == "huffman":
        config = StoreConfig.simple("element", "wavelet-tree")
    else:
        config = StoreConfig.from_dict(
            {"default": {"formulation": "element", "codec": "wavelet-tree", "codec_params": {"shape": shape}}}
        )
    path = compress_state_dict(state, tmp_path / "t.zarr", config, progress=False)
    store = codecbench.open(path)
    for name, tensor in state.items():
        expected = tensor.numpy()
        got = store.tensor(name)
        assert got.dtype == expected.dtype and got.shape == expected.shape, name
        assert got.tobytes() == expected.tobytes(), name
        if tensor.ndim >= 2:
            info = store.info(name)
            assert info["codec"] == "wavelet-tree", info
            seq = store.sequence(name)
            assert seq.shape == shape


def test_model_runs_bit_exact_from_wavelet_tree_store(tmp_path: Path, tiny_net: TinyNet) -> None:
    path = compress_state_dict(
        tiny_net.state_dict(), tmp_path / "tiny.zarr", StoreConfig.simple("element", "wavelet-tree"), progress=False
    )
    x = torch.randn(2, 3, 20, 20, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        expected = tiny_net(x)
    model = codecbench.open(path).load_model(TinyNet(), group_weights=1)
    with torch.inference_mode():
        got = model(x)
    assert same_bits(got, expected)


def test_plugins_lists_wavelet_tree(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert ("codec", "wavelet-tree") in {(e["kind"], e["name"]) for e in entries}


def test_open_from_offset_numpy_slice() -> None:
    """The checkers on a sequence opened from a slice of a larger buffer, at an odd address."""
    s = make_symbols(np.random.default_rng(8), 4000, 1000, "geometric")
    data = CODEC.encode(s, 1000)
    big = np.zeros(len(data) + 128, dtype=np.uint8)
    big[13 : 13 + len(data)] = np.frombuffer(data, dtype=np.uint8)
    check_sequence_against(CODEC.open(big[13 : 13 + len(data)]), s, 1000, np.random.default_rng(9))


def fibonacci_symbols(count: int, sigma: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Symbols with Fibonacci frequencies 1, 1, 2, 3, 5, ...: the deepest Huffman trees for their n."""
    rng = np.random.default_rng(seed)
    freqs = [1, 1]
    while len(freqs) < count:
        freqs.append(freqs[-1] + freqs[-2])
    palette = palette_for(rng, sigma, count)
    s = rng.permutation(np.repeat(palette, freqs)).astype(np.uint32)
    return s, np.array(freqs, dtype=np.int64)


def test_deep_huffman_codes() -> None:
    """26 Fibonacci frequencies (n = 317810) want a 25-level tree: the default limit (24) binds,
    max_code_length=32 does not."""
    s, freqs = fibonacci_symbols(26, 2**16 + 1, seed=4)
    assert int(code_lengths(freqs).max()) == 25
    rng = np.random.default_rng(5)
    limited = check_codec_roundtrip(CODEC, s, 2**16 + 1, rng)
    assert header(limited)["levels"] == 24
    full = check_codec_roundtrip(CODEC, s, 2**16 + 1, rng, max_code_length=32)
    assert header(full)["levels"] == 25
    assert header(full)["n_bits"] == int((freqs * code_lengths(freqs).astype(np.int64)).sum())


def test_huffman_tree_with_more_than_2_20_internal_nodes() -> None:
    """More than 2**20 internal nodes: no node rank table (codecbench.succinct.wavelet_tree docstring), plain rank queries."""
    rng = np.random.default_rng(6)
    sigma, n = 2**21, 2**20 + 5000
    distinct = rng.choice(sigma, size=2**20 + 2, replace=False)
    s = rng.permutation(np.concatenate([distinct, rng.choice(distinct[:10], size=n - distinct.size)]))
    s = s.astype(np.uint32)
    seq = CODEC.open(CODEC.encode(s, sigma))
    assert len(seq) == n and seq.levels >= 21
    np.testing.assert_array_equal(seq.extract(0, n), s)
    positions = rng.integers(0, n, size=5000)
    np.testing.assert_array_equal(seq.access_many(positions), s[positions])
    for i in positions[:200].tolist():
        assert seq.access(i) == s[i]
    for c in [*distinct[:3].tolist(), int(distinct[-1])]:
        where = np.flatnonzero(s == c)
        np.testing.assert_array_equal(seq.select_many(c, np.arange(1, where.size + 1)), where)
        cumulative = np.concatenate([[0], np.cumsum(s == c)])
        probe = np.concatenate([positions, [0, n]])
        np.testing.assert_array_equal(seq.rank_many(c, probe), cumulative[probe])
        assert seq.rank(c, n) == where.size
    absent = int(np.setdiff1d(np.arange(100), distinct)[0])
    assert seq.rank(absent, n) == 0


@pytest.mark.parametrize("top", [2**24 - 1, 2**24, 2**32 - 1])
def test_symbols_either_side_of_the_build_lookup_table(top: int) -> None:
    """Building maps each symbol to its index among the present ones through a lookup table
    below 2**24 and a binary search above: both give the same tree."""
    rng = np.random.default_rng(top % 1000)
    palette = np.array([0, 7, top // 3, top - 1, top], dtype=np.uint32)
    s = rng.choice(palette, size=3000, p=[0.5, 0.2, 0.15, 0.1, 0.05]).astype(np.uint32)
    seq = CODEC.open(CODEC.encode(s, top + 1))
    np.testing.assert_array_equal(seq.extract(0, s.size), s)
    assert seq.rank(top, s.size) == int((s == top).sum())

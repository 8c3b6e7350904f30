"""The ``huffman-fast`` codec beyond the conformance suite: batch methods, a hypothesis
differential test against naive answers, sync-point behaviour, sizes, parameters, the byte layout
compared byte for byte with an independent writer, and hostile and targeted corruptions.

The layout is written out below from specs/codec-huffman-fast.md, not imported from the
implementation; ``reference_payload`` is a second, deliberately simple writer of the same bytes.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import codecbench.codecs.huffman_fast as huffman_fast_module
from codecbench.codecs.huffman_fast import HuffmanFastCodec
from codecbench.errors import CorruptDataError
from codecbench.succinct.huffman_code import code_lengths
from codecbench.testing import (
    QUERY_ERRORS,
    check_codec_roundtrip,
    check_hostile_buffers,
    check_sequence_against,
    naive_select,
)

CODEC = HuffmanFastCodec()

# --------------------------------------------------------------------------- the documented layout
#
# Little-endian. A 64-byte header, then five sections, each at the next multiple of 8:
#
#     0   8  magic b"CBHUFFF\0"          40  8  u64 total_bits
#     8   4  u32 version (1)              48  4  u32 sync_shift  (K = 2**sync_shift)
#     12  4  u32 L (longest code)         52  4  u32 count_shift (C = 2**count_shift)
#     16  8  u64 n                        56  8  u64 reserved (0)
#     24  8  u64 sigma
#     32  8  u64 p (coded symbols)
#     count u32[L+1] | symbols u32[p] | sync u64[ceil(n/K)+1] | counts u32[(ceil(n/C)-1)*p]
#     | bits u64[total_bits//64 + 2]          (sync, counts and bits are empty when L = 0)

HEADER = struct.Struct("<8sIIQQQQIIQ")
MAGIC = b"CBHUFFF\0"
FIELDS = ("magic", "version", "L", "n", "sigma", "p", "total_bits", "sync_shift", "count_shift", "reserved")
OFFSET = dict(zip(FIELDS, (0, 8, 12, 16, 24, 32, 40, 48, 52, 56), strict=True))
U32_FIELDS = {"version", "L", "sync_shift", "count_shift"}


def header(data: bytes | bytearray) -> dict[str, Any]:
    return dict(zip(FIELDS, HEADER.unpack_from(bytes(data[:64]), 0), strict=True))


def layout(data: bytes | bytearray) -> dict[str, tuple[int, np.dtype, int]]:
    h = header(data)
    L, n, p = h["L"], h["n"], h["p"]
    coded = L >= 1
    spec = [
        ("count", "<u4", L + 1),
        ("symbols", "<u4", p),
        ("sync", "<u8", math.ceil(n / 2 ** h["sync_shift"]) + 1 if coded else 0),
        ("counts", "<u4", (math.ceil(n / 2 ** h["count_shift"]) - 1) * p if coded else 0),
        ("bits", "<u8", h["total_bits"] // 64 + 2 if coded else 0),
    ]
    out, position = {}, 64
    for name, dtype, count in spec:
        position = (position + 7) // 8 * 8
        out[name] = (position, np.dtype(dtype), count)
        position += count * np.dtype(dtype).itemsize
    out["end"] = (position, np.dtype("u1"), 0)
    return out


def section(buf: bytes | bytearray, name: str) -> np.ndarray:
    """The named section as a numpy view (writable when ``buf`` is a bytearray)."""
    offset, dtype, count = layout(buf)[name]
    return np.frombuffer(buf, dtype=dtype, count=count, offset=offset)


def set_header(buf: bytearray, name: str, value: int) -> None:
    struct.pack_into("<I" if name in U32_FIELDS else "<Q", buf, OFFSET[name], value)


def auto_count_every(p: int, sync_every: int = 4096) -> int:
    return min(1 << (max(2**16, sync_every, 256 * p) - 1).bit_length(), 2**32)


def reference_payload(
    s: np.ndarray,
    sigma: int,
    max_code_length: int = 12,
    sync_every: int = 4096,
    count_every: int | str = "auto",
    lengths: dict[int, int] | None = None,
) -> bytes:
    """The payload as the spec describes it, written plainly. ``lengths`` (symbol -> code length, a
    complete code) overrides the reference code-length procedure."""
    s = np.asarray(s, dtype=np.int64)
    n = s.size
    present, freqs = np.unique(s, return_counts=True)
    p = present.size
    C = auto_count_every(p, sync_every) if count_every == "auto" else count_every
    if lengths is None and p >= 2:
        limit = max(max_code_length, (p - 1).bit_length())
        lengths = dict(zip(present.tolist(), code_lengths(freqs, limit).tolist(), strict=True))
    if p < 2:
        L, count, symbols, sync, rows, words, total_bits = 0, [p], present.tolist(), [], [], [], 0
    else:
        order = sorted(lengths, key=lambda x: (lengths[x], x))  # canonical order
        L = max(lengths.values())
        count = [sum(1 for x in order if lengths[x] == d) for d in range(L + 1)]
        code_of, code = {}, 0
        for d in range(1, L + 1):
            for x in order:
                if lengths[x] == d:
                    code_of[x] = code
                    code += 1
            code <<= 1
        symbols = order
        ln = np.array([lengths[x] for x in s.tolist()], dtype=np.int64)
        cd = np.array([code_of[x] for x in s.tolist()], dtype=np.int64)
        start = np.concatenate([[0], np.cumsum(ln)])
        total_bits = int(start[-1])
        stream = np.zeros(total_bits + 128, dtype=np.uint8)
        for j in range(L):  # bit j of each code (first bit = most significant) at start + j
            live = ln > j
            stream[start[:-1][live] + j] = (cd[live] >> (ln[live] - 1 - j)) & 1
        n_words = total_bits // 64 + 2
        words = np.packbits(stream[: 64 * n_words], bitorder="little").view("<u8").tolist()
        sync = [int(start[j]) for j in range(0, n, sync_every)] + [total_bits]
        index = {x: r for r, x in enumerate(order)}
        canonical_index = np.array([index[x] for x in s.tolist()], dtype=np.int64)
        rows = []
        for j in range(1, math.ceil(n / C)):
            rows += np.bincount(canonical_index[: j * C], minlength=p).tolist()
    parts = [
        HEADER.pack(MAGIC, 1, L, n, sigma, p, total_bits, sync_every.bit_length() - 1, C.bit_length() - 1, 0),
    ]
    for values, fmt in ((count, "<u4"), (symbols, "<u4"), (sync, "<u8"), (rows, "<u4"), (words, "<u8")):
        position = sum(len(x) for x in parts)
        parts.append(b"\0" * ((-position) % 8))
        parts.append(np.array(values, dtype=fmt).tobytes())
    return b"".join(parts)


# --------------------------------------------------------------------------- symbol generators


def palette_for(rng: np.random.Generator, sigma: int, size: int) -> np.ndarray:
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
    elif dist == "geometric":  # Huffman codes 1, 2, 3, ... bits long
        palette = palette_for(rng, sigma, 64)
        s = palette[np.minimum(rng.geometric(0.4, size=n) - 1, palette.size - 1)]
    elif dist == "dominant":  # one symbol ~95%, the rest uniform over the alphabet
        s = np.full(n, int(rng.integers(0, sigma)), dtype=np.int64)
        other = rng.random(n) < 0.05
        s[other] = rng.integers(0, sigma, size=int(other.sum()))
    else:  # pragma: no cover
        raise AssertionError(dist)
    return s.astype(np.uint32)


def gaussian256(n: int, seed: int = 0, scale: float = 10.2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(rng.normal(128, scale, size=n)), 0, 255).astype(np.uint32)


def fibonacci_symbols(count: int, seed: int = 0) -> np.ndarray:
    """Symbol k occurs F(k+1) times: a maximally skewed Huffman tree, ``count - 1`` levels deep."""
    fib = [1, 1]
    while len(fib) < count:
        fib.append(fib[-1] + fib[-2])
    s = np.repeat(np.arange(count, dtype=np.uint32), fib)
    return np.random.default_rng(seed).permutation(s)


SMALL_BLOCKS = {"sync_every": 16, "count_every": 64}


@pytest.mark.parametrize("dist", ["uniform", "geometric", "dominant"])
@pytest.mark.parametrize("sigma", [2, 3, 255, 256, 257, 2**16 + 1])
def test_alphabet_sizes(sigma: int, dist: str) -> None:
    rng = np.random.default_rng(sigma * 10 + len(dist))
    symbols = make_symbols(rng, 2000, sigma, dist)
    check_codec_roundtrip(CODEC, symbols, sigma, rng)
    check_codec_roundtrip(CODEC, symbols, sigma, rng, sync_every=64, count_every=256)


@pytest.mark.parametrize("sigma", [2**20, 2**32])
def test_huge_alphabet_few_symbols(sigma: int) -> None:
    rng = np.random.default_rng(7)
    palette = np.array([0, sigma - 1, sigma // 2, 12345, sigma - 2, 99999], dtype=np.int64)
    symbols = palette[rng.integers(0, palette.size, size=3000)].astype(np.uint32)
    data = check_codec_roundtrip(CODEC, symbols, sigma, rng, sync_every=256)
    h = header(data)
    assert (h["L"], h["p"], h["sigma"]) == (3, 6, sigma)  # six symbols: codes of 2 or 3 bits


def test_many_distinct_symbols() -> None:
    """10^5 distinct symbols in 2 * 10^5: the 12-bit limit is raised to bit_length(p - 1) = 17, and
    most codes are longer than the 12-bit primary table."""
    rng = np.random.default_rng(5)
    s = rng.permutation(np.concatenate([np.arange(100_000), rng.integers(0, 100_000, size=100_000)]))
    s = s.astype(np.uint32) * 7 + 3  # spread over a larger alphabet
    sigma = 700_004
    data = check_codec_roundtrip(CODEC, s, sigma, rng)
    h = header(data)
    assert h["L"] == 17 and h["p"] == 100_000
    assert h["count_shift"] == 25  # auto: next_pow2(256 * p) > n, so no count rows at all
    assert layout(data)["counts"][2] == 0
    finer = check_codec_roundtrip(CODEC, s, sigma, rng, count_every=2**16)
    assert layout(finer)["counts"][2] == 3 * 100_000


def test_deep_codes_from_the_encoder() -> None:
    """Fibonacci frequencies: an unrestricted Huffman code 25 levels deep (max_code_length = 32)."""
    s = fibonacci_symbols(26)
    data = CODEC.encode(s, 40, max_code_length=32, sync_every=1024)
    assert header(data)["L"] == 25
    seq = CODEC.open(data)
    np.testing.assert_array_equal(seq.extract(0, s.size), s)
    rng = np.random.default_rng(3)
    positions = rng.integers(0, s.size, size=2000)
    np.testing.assert_array_equal(seq.access_many(positions), s[positions])
    for c in (0, 1, 12, 24, 25):
        where = np.flatnonzero(s == c)
        np.testing.assert_array_equal(seq.select_many(c, np.arange(1, where.size + 1)), where)
        cumulative = np.concatenate([[0], np.cumsum(s == c)])
        np.testing.assert_array_equal(seq.rank_many(c, positions), cumulative[positions])
    assert data == reference_payload(s, 40, max_code_length=32, sync_every=1024)
    # the default limit (12) gives a shorter, slightly worse code
    limited = CODEC.encode(s, 40)
    assert header(limited)["L"] == 12 and header(limited)["total_bits"] > header(data)["total_bits"]
    np.testing.assert_array_equal(CODEC.open(limited).extract(0, s.size), s)


@pytest.mark.parametrize("deepest", [13, 24, 32])
def test_codes_up_to_the_cap(deepest: int) -> None:
    """A hand-built payload (the reference writer) with codes 1, 2, ..., deepest, deepest bits long:
    the reader decodes every length up to the cap of 32, through the table and its slow path."""
    alphabet = list(range(deepest + 1))
    lengths = {x: min(x + 1, deepest) for x in alphabet}
    rng = np.random.default_rng(deepest)
    s = rng.permutation(np.repeat(np.array(alphabet), 3 + rng.integers(0, 5, size=len(alphabet)))).astype(np.uint32)
    for sync_every, count_every in ((4096, "auto"), (4, 16)):
        data = reference_payload(s, deepest + 5, sync_every=sync_every, count_every=count_every, lengths=lengths)
        assert header(data)["L"] == deepest
        seq = CODEC.open(data)
        check_sequence_against(seq, s, deepest + 5, rng)
        np.testing.assert_array_equal(seq.access_many(np.arange(s.size)), s)


def test_absent_symbol_k_beyond_count_and_ends() -> None:
    s = np.array([4, 0, 4, 2, 4, 4, 0, 9, 4, 2], dtype=np.uint32)
    n, sigma = s.size, 12
    for params in ({}, {"sync_every": 2, "count_every": 4}):
        seq = CODEC.open(CODEC.encode(s, sigma, **params))
        for c in (1, 3, 5, 10, 11):
            assert [seq.rank(c, i) for i in range(n + 1)] == [0] * (n + 1)
            with pytest.raises(IndexError, match="0 times"):
                seq.select(c, 1)
            assert seq.select_many(c, []).size == 0
            np.testing.assert_array_equal(seq.rank_many(c, np.arange(n + 1)), np.zeros(n + 1, dtype=np.int64))
        for c in (0, 2, 4, 9):
            total = int(np.count_nonzero(s == c))
            assert seq.rank(c, n) == total
            assert seq.select(c, total) == naive_select(s, c, total)
            with pytest.raises(IndexError, match=f"{total} times"):
                seq.select(c, total + 1)
            with pytest.raises(IndexError, match=f"{total} times"):
                seq.select_many(c, [1, total + 1, total + 2])
            with pytest.raises(IndexError):
                seq.select(c, n + 1)
        assert seq.extract(0, n).tolist() == s.tolist()


def test_single_symbol_stores_no_bits() -> None:
    s = np.full(100_000, 137, dtype=np.uint32)
    data = CODEC.encode(s, 300)
    h = header(data)
    assert (h["L"], h["p"], h["total_bits"]) == (0, 1, 0)
    where = layout(data)
    assert [where[x][2] for x in ("count", "symbols", "sync", "counts", "bits")] == [1, 1, 0, 0, 0]
    assert len(data) == 80 and section(data, "symbols").tolist() == [137]  # 64 + 4 + 4 (pad) + 4 + 4 (pad)
    seq = CODEC.open(data)
    assert seq.access(99_999) == 137 and seq.rank(137, 500) == 500 and seq.rank(136, 500) == 0
    assert seq.select(137, 100_000) == 99_999
    np.testing.assert_array_equal(seq.select_many(137, [5, 1]), [4, 0])
    assert seq.extract(10, 20).tolist() == [137] * 10
    np.testing.assert_array_equal(seq.access_many([3, 0]), [137, 137])
    np.testing.assert_array_equal(seq.rank_many(137, [3, 0, 100_000]), [3, 0, 100_000])
    empty = CODEC.encode(np.array([], dtype=np.uint32), 5)
    assert len(empty) == 72 and header(empty)["p"] == 0


# --------------------------------------------------------------------------- sync points


def test_extract_around_sync_points() -> None:
    rng = np.random.default_rng(8)
    s = make_symbols(rng, 3000, 300, "geometric")
    K = 64
    seq = CODEC.open(CODEC.encode(s, 300, sync_every=K, count_every=256))
    n = s.size
    ranges = []
    for j in range(0, n // K + 1):
        b = j * K
        ranges += [(b, min(b + 1, n)), (b, min(b + K, n)), (max(b - 1, 0), min(b + 1, n)), (b, min(b + 2 * K, n))]
        ranges += [(max(b - 3, 0), min(b + 3 * K + 5, n)), (b, n), (max(b - 1, 0), n), (0, b)]
    for a, b in ranges:
        np.testing.assert_array_equal(seq.extract(a, b), s[a:b], err_msg=f"extract({a}, {b})")
    np.testing.assert_array_equal(seq.access_many(np.arange(n)), s)


def test_decode_never_reads_before_its_sync_point() -> None:
    """Garble every bit before block b's sync offset: everything from block b on still decodes."""
    rng = np.random.default_rng(9)
    s = make_symbols(rng, 2000, 300, "geometric")
    K = 128
    good = CODEC.encode(s, 300, sync_every=K, count_every=K)
    sync = section(good, "sync").astype(np.int64)
    for b in (1, 4, 9, len(sync) - 2):
        buf = bytearray(good)
        bits = section(buf, "bits")
        first = int(sync[b])
        flat = np.unpackbits(bits.view(np.uint8), bitorder="little")
        flat[:first] ^= 1  # flip every earlier bit
        bits[:] = np.packbits(flat, bitorder="little").view("<u8")
        seq = CODEC.open(bytes(buf))
        start = b * K
        np.testing.assert_array_equal(seq.extract(start, s.size), s[start:])
        np.testing.assert_array_equal(seq.access_many(np.arange(start, s.size)), s[start:])
        for i in (start, start + 1, s.size - 1):
            assert seq.access(i) == s[i]
        c = int(s[start])
        assert seq.rank(c, s.size) - seq.rank(c, start) == np.count_nonzero(s[start:] == c)


# --------------------------------------------------------------------------- batch methods


@pytest.mark.parametrize(("sigma", "dist"), [(300, "geometric"), (2**16 + 1, "uniform"), (1, "uniform")])
def test_access_many(sigma: int, dist: str) -> None:
    rng = np.random.default_rng(11)
    n = 5000
    s = make_symbols(rng, n, sigma, dist)
    seq = CODEC.open(CODEC.encode(s, sigma, sync_every=128))
    cases = [
        rng.integers(0, n, size=3000),
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


@pytest.mark.parametrize(("sigma", "dist"), [(300, "geometric"), (2**16 + 1, "uniform"), (1, "uniform")])
def test_rank_many(sigma: int, dist: str) -> None:
    rng = np.random.default_rng(12)
    n = 5000
    s = make_symbols(rng, n, sigma, dist)
    seq = CODEC.open(CODEC.encode(s, sigma, sync_every=64, count_every=1024))
    present = np.unique(s)
    absent = [c for c in {0, 1, sigma // 2, sigma - 1} if c < sigma and c not in set(present.tolist())]
    positions = np.concatenate([rng.integers(0, n + 1, size=2000), [n, 0, n, n - 1, 0, 1024, 1023, 4096]])
    for c in [*rng.choice(present, size=min(5, present.size), replace=False).tolist(), *absent]:
        cumulative = np.concatenate([[0], np.cumsum(s == c)])
        for pos in (positions, np.arange(n + 1), np.array([n]), np.array([], dtype=np.int64), []):
            got = seq.rank_many(c, pos)
            assert isinstance(got, np.ndarray) and got.dtype == np.int64
            np.testing.assert_array_equal(got, cumulative[np.asarray(pos, dtype=np.int64)], err_msg=f"c={c}")
    for bad in ([-1], [n + 1], [0, n + 1], [2**63], [2**64]):
        with pytest.raises(IndexError):
            seq.rank_many(int(s[0]), bad)
    for c in (-1, sigma, sigma + 1, 2**64):
        with pytest.raises(ValueError):
            seq.rank_many(c, [0, 1])
        with pytest.raises(ValueError):
            seq.rank_many(c, [])


def test_batch_methods_on_degenerate_sequences() -> None:
    empty = CODEC.open(CODEC.encode(np.array([], dtype=np.uint32), 5))
    assert empty.access_many([]).size == 0
    np.testing.assert_array_equal(empty.rank_many(3, [0, 0]), [0, 0])
    with pytest.raises(IndexError):
        empty.access_many([0])
    with pytest.raises(IndexError):
        empty.rank_many(3, [1])
    one = CODEC.open(CODEC.encode(np.full(64, 3, dtype=np.uint32), 5))
    np.testing.assert_array_equal(one.access_many([63, 0, 5]), [3, 3, 3])
    np.testing.assert_array_equal(one.rank_many(3, [64, 0, 10]), [64, 0, 10])
    np.testing.assert_array_equal(one.rank_many(4, [64, 0, 10]), [0, 0, 0])


# --------------------------------------------------------------------------- property test


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_property_matches_naive(data: st.DataObject) -> None:
    sigma = data.draw(
        st.one_of(st.integers(1, 8), st.integers(1, 300), st.integers(1, 2**16), st.just(2**32)), label="sigma"
    )
    n = data.draw(st.one_of(st.integers(0, 40), st.integers(0, 3000)), label="n")
    dist = data.draw(st.sampled_from(["uniform", "geometric", "dominant"]), label="dist")
    sync_shift = data.draw(st.sampled_from([0, 1, 3, 6, 12]), label="sync_shift")
    count_shift = data.draw(st.one_of(st.none(), st.integers(sync_shift, sync_shift + 4)), label="count_shift")
    max_code_length = data.draw(st.sampled_from([1, 3, 12, 32]), label="max_code_length")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    s = make_symbols(rng, n, sigma, dist)
    params = {"sync_every": 2**sync_shift, "max_code_length": max_code_length}
    if count_shift is not None:
        params["count_every"] = 2**count_shift
    encoded = CODEC.encode(s, sigma, **params)
    seq = CODEC.open(encoded)
    K = 2**sync_shift

    assert len(seq) == n and seq.alphabet_size == sigma and seq.nbytes == len(encoded)
    np.testing.assert_array_equal(seq.extract(0, n), s)
    np.testing.assert_array_equal(seq.access_many(np.arange(n)), s)
    shuffled = rng.permutation(n)
    np.testing.assert_array_equal(seq.access_many(shuffled), s[shuffled])
    for i in rng.integers(0, n, size=min(n, 40)).tolist():
        assert seq.access(i) == int(s[i])
    ranges = [tuple(sorted(rng.integers(0, n + 1, size=2).tolist())) for _ in range(15)]
    for b in rng.integers(0, n // K + 1, size=5).tolist():  # at and around sync points
        ranges += [(min(b * K, n), min(b * K + K + 1, n)), (max(b * K - 1, 0), min(b * K + 1, n))]
    for a, b in ranges:
        np.testing.assert_array_equal(seq.extract(a, b), s[a:b], err_msg=f"extract({a}, {b})")

    present = np.unique(s)
    probe = set(rng.choice(present, size=min(5, present.size), replace=False).tolist()) if n else set()
    probe |= {int(c) for c in rng.integers(0, sigma, size=2)} | {0, sigma - 1}
    every_position = np.arange(n + 1)
    for c in sorted(probe):
        cumulative = np.concatenate([[0], np.cumsum(s == c)])
        np.testing.assert_array_equal(seq.rank_many(c, every_position), cumulative, err_msg=f"rank_many({c})")
        np.testing.assert_array_equal(seq.rank_many(c, every_position[::-1]), cumulative[::-1])
        for i in {0, n, n // 2, int(rng.integers(0, n + 1))}:
            assert seq.rank(c, i) == cumulative[i], f"rank({c}, {i})"
        positions = np.flatnonzero(s == c)
        total = positions.size
        ks = np.arange(1, total + 1)
        np.testing.assert_array_equal(seq.select_many(c, ks), positions, err_msg=f"select_many({c})")
        mixed = rng.permutation(np.concatenate([ks, ks[: total // 3]]))
        np.testing.assert_array_equal(seq.select_many(c, mixed), positions[mixed - 1])
        if total:
            k = int(rng.integers(1, total + 1))
            assert seq.select(c, k) == naive_select(s, c, k)
        with pytest.raises(IndexError):
            seq.select(c, total + 1)
        with pytest.raises(IndexError):
            seq.select_many(c, [*ks[:2].tolist(), total + 1])


# --------------------------------------------------------------------------- sizes


def test_sizes_on_gaussian_256() -> None:
    """Payload bits within 1% of the optimal (unlimited) Huffman cost at the default 12-bit limit;
    everything else (header, code table, sync offsets, count index, padding) <= 2% of the payload."""
    n = 200_000
    s = gaussian256(n)
    _, freqs = np.unique(s, return_counts=True)
    optimal = int((freqs * code_lengths(freqs, 32).astype(np.int64)).sum())
    assert int(code_lengths(freqs, 32).max()) > 12  # the limit binds
    p = freqs / n
    h0 = float(-(p * np.log2(p)).sum())
    assert 5.3 < h0 < 5.5
    data = CODEC.encode(s, 256)
    h = header(data)
    assert h["L"] == 12
    limited = int((freqs * code_lengths(freqs, 12).astype(np.int64)).sum())
    assert h["total_bits"] == limited
    assert optimal <= limited <= 1.01 * optimal, limited / optimal
    payload_bytes = h["total_bits"] / 8
    overhead = (len(data) - payload_bytes) / payload_bytes
    assert overhead <= 0.02, overhead
    assert CODEC.open(data).nbytes == len(data)


@pytest.mark.parametrize(
    ("n", "sigma", "params"),
    [
        (0, 1, {}),
        (1, 7, {}),
        (1000, 3, {"sync_every": 1}),
        (4096, 256, {}),
        (4097, 256, {}),
        (70_000, 300, {}),
        (65_536 * 2, 300, {"count_every": 65_536}),
        (5000, 2**32, {"sync_every": 256, "count_every": 1024}),
    ],
)
def test_exact_byte_size(n: int, sigma: int, params: dict[str, int]) -> None:
    s = make_symbols(np.random.default_rng(n), n, sigma, "geometric") if n else np.zeros(0, dtype=np.uint32)
    data = CODEC.encode(s, sigma, **params)
    where = layout(data)
    h = header(data)
    assert len(data) == where["end"][0]
    K = params.get("sync_every", 4096)
    assert h["sync_shift"] == K.bit_length() - 1
    assert 2 ** h["count_shift"] == params.get("count_every", auto_count_every(h["p"], K))
    if h["L"]:
        assert where["sync"][2] == math.ceil(n / K) + 1
        assert where["bits"][2] == h["total_bits"] // 64 + 2


@pytest.mark.parametrize(
    ("p", "shift"),
    [(2, 16), (256, 16), (257, 17), (1000, 18), (100_000, 25), (2**24, 32), (2**24 + 1, 32), (2**31, 32)],
)
def test_auto_count_every(p: int, shift: int) -> None:
    assert auto_count_every(p) == 2**shift
    assert huffman_fast_module.auto_count_every(p, 4096) == 2**shift
    assert huffman_fast_module.auto_count_every(p, 2**20) == max(2**shift, 2**20)


# --------------------------------------------------------------------------- parameters


def skewed_300(seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    freqs = np.array([1 << max(14 - k, 0) for k in range(300)], dtype=np.int64)
    freqs = freqs[rng.permutation(300)]
    s = rng.permutation(np.repeat(np.arange(300), freqs)).astype(np.uint32)
    return s, freqs


def test_max_code_length_is_honoured_and_raised() -> None:
    s, freqs = skewed_300()
    assert int(code_lengths(freqs).max()) > 12
    data = CODEC.encode(s, 300)  # default 12
    assert header(data)["L"] == 12
    assert header(data)["total_bits"] == int((freqs * code_lengths(freqs, 12).astype(np.int64)).sum())
    deep = CODEC.encode(s, 300, max_code_length=32)
    assert header(deep)["L"] == int(code_lengths(freqs).max()) > 12
    assert header(deep)["total_bits"] < header(data)["total_bits"]
    for limit in (1, 4, 8, 9):  # 300 distinct symbols need 9 bits
        assert header(CODEC.encode(s, 300, max_code_length=limit))["L"] == 9
    np.testing.assert_array_equal(CODEC.open(CODEC.encode(s, 300, max_code_length=1)).extract(0, s.size), s)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"max_code_length": 0}, "max_code_length"),
        ({"max_code_length": 33}, "max_code_length"),
        ({"max_code_length": -1}, "max_code_length"),
        ({"max_code_length": "x"}, "max_code_length"),
        ({"max_code_length": 12.0}, "max_code_length"),
        ({"max_code_length": True}, "max_code_length"),
        ({"max_code_length": None}, "max_code_length"),
        ({"sync_every": 0}, "sync_every"),
        ({"sync_every": 100}, "sync_every"),
        ({"sync_every": -4}, "sync_every"),
        ({"sync_every": 2**31}, "sync_every"),
        ({"sync_every": 4096.0}, "sync_every"),
        ({"sync_every": None}, "sync_every"),
        ({"count_every": 0}, "count_every"),
        ({"count_every": 3 * 2**16}, "count_every"),
        ({"count_every": 2048}, "count_every"),  # below sync_every
        ({"sync_every": 64, "count_every": 32}, "count_every"),
        ({"count_every": 2**33}, "count_every"),
        ({"count_every": "AUTO"}, "count_every"),
        ({"count_every": None}, "count_every"),
        ({"count_every": False}, "count_every"),
        ({"block_size": 64}, "block_size"),
        ({"max_code_length": 12, "levels": 3}, "levels"),
    ],
)
def test_invalid_params_are_named(params: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        CODEC.encode(np.array([0, 1, 2], dtype=np.uint32), 3, **params)


def test_valid_param_extremes() -> None:
    s = make_symbols(np.random.default_rng(4), 300, 50, "geometric")
    for params in ({"sync_every": 1, "count_every": 1}, {"sync_every": 2**30, "count_every": 2**32}):
        check_codec_roundtrip(CODEC, s, 50, np.random.default_rng(0), **params)
    assert CODEC.encode(s, 50, count_every="auto") == CODEC.encode(s, 50)
    assert HuffmanFastCodec.params == {"max_code_length": 12, "sync_every": 4096, "count_every": "auto"}
    assert CODEC.encode(s, 50, sync_every=np.int64(64)) == CODEC.encode(s, 50, sync_every=64)


@pytest.mark.parametrize(
    ("symbols", "sigma"),
    [([0, 3], 3), ([-1], 3), ([0, 1], 0), ([0], 2**32 + 1), ([[0, 1]], 2), ([0.5], 2)],
)
def test_encode_rejects_bad_symbols(symbols: list[Any], sigma: int) -> None:
    with pytest.raises(ValueError):
        CODEC.encode(np.array(symbols), sigma)


def test_registry_finds_the_codec() -> None:
    from codecbench.registry import BUILTIN_PLUGINS, Registry

    extra = [] if huffman_fast_module.__name__ in BUILTIN_PLUGINS else [huffman_fast_module]
    codec = Registry.load(entry_points=False, extra_plugins=extra).codec("huffman-fast")
    assert isinstance(codec, HuffmanFastCodec)


# --------------------------------------------------------------------------- byte layout


@pytest.mark.parametrize(
    ("n", "sigma", "dist", "params"),
    [
        (0, 1, "uniform", {}),
        (0, 300, "uniform", {}),
        (1, 300, "uniform", {}),
        (50, 1, "uniform", {}),
        (3000, 300, "geometric", {}),
        (3000, 300, "geometric", {"sync_every": 64, "count_every": 256}),
        (1000, 5, "uniform", {"sync_every": 1, "count_every": 2}),
        (700, 2**16 + 1, "uniform", {"sync_every": 32, "count_every": 64}),
        (2000, 2**32, "dominant", {"sync_every": 128, "count_every": 512}),
        (20_000, 300, "uniform", {"max_code_length": 8}),
    ],
)
def test_byte_layout_matches_reference_writer(n: int, sigma: int, dist: str, params: dict[str, int]) -> None:
    s = make_symbols(np.random.default_rng(sigma + n), n, sigma, dist)
    data = CODEC.encode(s, sigma, **params)
    assert data == reference_payload(s, sigma, **params)
    h = header(data)
    assert (h["magic"], h["version"], h["n"], h["sigma"], h["reserved"]) == (MAGIC, 1, n, sigma, 0)


def test_worked_example() -> None:
    """The worked example of the spec, byte for byte."""
    s = np.array([2, 0, 1, 2, 2, 0], dtype=np.uint32)
    data = CODEC.encode(s, 3)
    expected = bytes.fromhex(
        "4342485546464600" "01000000" "02000000" "0600000000000000" "0300000000000000"
        "0300000000000000" "0900000000000000" "0c000000" "10000000" "0000000000000000"
        "000000000100000002000000" "00000000"  # count = [0, 1, 2]; padding
        "020000000000000001000000" "00000000"  # symbols = [2, 0, 1]; padding
        "0000000000000000" "0900000000000000"  # sync = [0, 9]
        "9a00000000000000" "0000000000000000"  # bits: 0 | 10 | 11 | 0 | 0 | 10, LSB first
    )  # fmt: skip
    assert data == expected
    assert CODEC.open(expected).extract(0, 6).tolist() == s.tolist()


# --------------------------------------------------------------------------- hostile bytes

HOSTILE = {
    "empty-a1": (np.array([], dtype=np.uint32), 1, {}),
    "empty-a300": (np.array([], dtype=np.uint32), 300, {}),
    "zeros-a1": (np.zeros(100, dtype=np.uint32), 1, {}),
    "one-symbol-a300": (np.full(200, 137, dtype=np.uint32), 300, {}),
    "geometric-a300": (make_symbols(np.random.default_rng(1), 2000, 300, "geometric"), 300, SMALL_BLOCKS),
    "uniform-a65537": (make_symbols(np.random.default_rng(2), 700, 2**16 + 1, "uniform"), 2**16 + 1, {}),
    "few-a2**32": (np.array([2**32 - 1, 0, 7, 2**31] * 12, dtype=np.uint32), 2**32, {"sync_every": 8}),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_buffers(name: str) -> None:
    symbols, sigma, params = HOSTILE[name]
    good = CODEC.encode(symbols, sigma, **params)
    check_hostile_buffers(CODEC, good, header_size=64, strict_length=True, body_flips=64)


def exercise_all(seq: Any) -> None:
    """Every query kind over a (damaged but openable) sequence: only documented errors."""
    n, sigma = len(seq), seq.alphabet_size
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


def must_reject(buf: bytes | bytearray) -> None:
    with pytest.raises(CorruptDataError):
        CODEC.open(bytes(buf))


@pytest.fixture(scope="module")
def payload() -> tuple[bytes, np.ndarray]:
    """Geometric over 300 symbols, 6000 symbols in blocks of 64 and superblocks of 512."""
    s = make_symbols(np.random.default_rng(21), 6000, 300, "geometric")
    return CODEC.encode(s, 300, sync_every=64, count_every=512), s


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("magic", int.from_bytes(b"CBHUFFG\0", "little")),
        ("version", 0),
        ("version", 2),
        ("L", 33),
        ("L", 2**32 - 1),
        ("L", 0),
        ("n", 0),
        ("n", 2**32),
        ("n", 2**64 - 1),
        ("sigma", 0),
        ("sigma", 2**32 + 1),
        ("sigma", 5),  # below the largest coded symbol
        ("p", 0),
        ("p", 1),
        ("p", 2**40),
        ("total_bits", 0),
        ("total_bits", 2**63),
        ("sync_shift", 31),
        ("sync_shift", 10),  # above count_shift (9)
        ("count_shift", 5),  # below sync_shift (6)
        ("count_shift", 33),
        ("reserved", 1),
    ],
)
def test_corrupt_header_fields(payload: tuple[bytes, np.ndarray], field: str, value: int) -> None:
    good, _ = payload
    buf = bytearray(good)
    if field == "magic":
        buf[:8] = value.to_bytes(8, "little")
    else:
        set_header(buf, field, value)
    must_reject(buf)


def test_header_fields_that_keep_the_size(payload: tuple[bytes, np.ndarray]) -> None:
    """Changes that leave every section size alone: rejected by the table/sync checks, or (n alone,
    the last block's symbol count) caught by the kernels as the stream overruns its block."""
    good, s = payload
    h = header(good)
    for field, value in (("total_bits", h["total_bits"] + 1), ("total_bits", h["total_bits"] - 1)):
        buf = bytearray(good)
        set_header(buf, field, value)
        must_reject(buf)
    for n in (h["n"] + 1, h["n"] - 1):
        buf = bytearray(good)
        set_header(buf, "n", n)
        try:
            seq = CODEC.open(bytes(buf))
        except CorruptDataError:
            continue
        exercise_all(seq)
        with pytest.raises(CorruptDataError):
            seq.extract(0, n)


def _table_edits(good: bytes) -> dict[str, tuple[list[int], list[int]]]:
    count = section(good, "count").astype(np.int64).tolist()
    symbols = section(good, "symbols").astype(np.int64).tolist()
    L = len(count) - 1
    runs, start = [], 0
    for c in count:
        runs.append((start, start + c))
        start += c
    a, _ = runs[L]  # a complete code has at least two codes of the longest length
    short = next(d for d in range(1, L) if count[d] >= 1)
    out = {}
    c = list(count)
    c[L] += 1
    out["count sum too large"] = (c, symbols)
    c = list(count)
    c[L] -= 1
    c[L - 1] += 1  # same sum, Kraft sum too large
    out["Kraft sum above 1"] = (c, symbols)
    c = list(count)
    c[short] -= 1
    c[short + 1] += 1  # same sum, Kraft sum below 1
    out["Kraft sum below 1"] = (c, symbols)
    c = list(count)
    c[0], c[L] = 1, c[L] - 1
    out["count[0] non-zero"] = (c, symbols)
    c = list(count)
    c[1] = 2**32 - 1
    out["huge count"] = (c, symbols)
    y = list(symbols)
    y[a], y[a + 1] = y[a + 1], y[a]
    out["descending within a length"] = (count, y)
    y = list(symbols)
    y[a + 1] = y[a]
    out["duplicate within a length"] = (count, y)
    y = list(symbols)
    y[-1] = y[0]
    out["duplicate across lengths"] = (count, y)
    y = list(symbols)
    y[-1] = 300
    out["symbol == sigma"] = (count, y)
    y = list(symbols)
    y[-1] = 2**32 - 1
    out["symbol 2**32 - 1"] = (count, y)
    return out


def test_corrupt_code_table(payload: tuple[bytes, np.ndarray]) -> None:
    good, _ = payload
    edits = _table_edits(good)
    assert len(edits) == 10
    for what, (count, symbols) in edits.items():
        buf = bytearray(good)
        section(buf, "count")[:] = count
        section(buf, "symbols")[:] = symbols
        try:
            CODEC.open(bytes(buf))
        except CorruptDataError:
            continue
        pytest.fail(f"code table with {what} was accepted")


def test_corrupt_sync_offsets(payload: tuple[bytes, np.ndarray]) -> None:
    good, _ = payload
    original = section(good, "sync").astype(np.int64)
    last = original.size - 1
    edits = [
        {0: 1},
        {last: original[last] - 1},
        {last: original[last] + 1},
        {1: original[2], 2: original[1]},  # swapped
        {1: 2**64 - 1},
        {1: 2**63},
        {3: original[2] + 63},  # block 2 shorter than 64 one-bit codes
        {3: original[2] + 64 * 13 + 1},  # longer than 64 codes of the longest length
        {5: original[4]},
    ]
    for edit in edits:
        buf = bytearray(good)
        sync = section(buf, "sync")
        for index, value in edit.items():
            sync[index] = value
        must_reject(buf)


def test_shifted_sync_offset_is_caught(payload: tuple[bytes, np.ndarray]) -> None:
    """A sync offset moved by one bit but still plausible: open may accept it (it cannot tell without
    decoding); the kernels then see a block that does not end where the next begins."""
    good, s = payload
    for b in (1, 7, 8, 40):
        for delta in (-1, 1):
            buf = bytearray(good)
            sync = section(buf, "sync")
            sync[b] = int(sync[b]) + delta
            try:
                seq = CODEC.open(bytes(buf))
            except CorruptDataError:
                assert b % 8 == 0  # superblock starts: the count index pins their offsets
                continue
            exercise_all(seq)
            with pytest.raises(CorruptDataError):
                seq.extract(0, s.size)
            with pytest.raises(CorruptDataError):
                seq.access_many(np.arange(s.size))


def test_corrupt_count_index(payload: tuple[bytes, np.ndarray]) -> None:
    good, _ = payload
    h = header(good)
    p = h["p"]
    rows = section(good, "counts").reshape(-1, p).astype(np.int64)
    lengths = np.repeat(np.arange(h["L"] + 1), section(good, "count").astype(np.int64))
    short, long_ = int(np.argmin(lengths)), int(np.argmax(lengths))
    assert rows.shape[0] >= 3 and rows[0, short] >= 1 and rows[1, long_] >= 1
    edits = [
        [(0, short, rows[0, short] + 1)],  # a row no longer sums to (j + 1) * C
        [(0, short, rows[0, short] - 1), (0, long_, rows[0, long_] + 1)],  # sum ok, bits disagree
        [(1, short, rows[0, short] - 1), (1, long_, rows[1, long_] + rows[1, short] - rows[0, short] + 1)],
        [(2, short, 2**32 - 1)],
    ]
    for edit in edits:
        buf = bytearray(good)
        view = section(buf, "counts").reshape(-1, p)
        for r, col, value in edit:
            view[r, col] = value
        must_reject(buf)


def test_counts_swapped_between_equal_lengths(payload: tuple[bytes, np.ndarray]) -> None:
    """Counts moved between two symbols of the same length keep every checkable sum: open accepts
    them, and rank/select answer from them without ever failing in undocumented ways."""
    good, _ = payload
    h = header(good)
    lengths = np.repeat(np.arange(h["L"] + 1), section(good, "count").astype(np.int64))
    d = next(x for x in range(1, h["L"] + 1) if np.count_nonzero(lengths == x) >= 2)
    a, b = np.flatnonzero(lengths == d)[:2]
    buf = bytearray(good)
    view = section(buf, "counts").reshape(-1, h["p"])
    view[:, [a, b]] = view[:, [b, a]].copy()
    exercise_all(CODEC.open(bytes(buf)))


def test_padding_must_be_zero(payload: tuple[bytes, np.ndarray]) -> None:
    good, _ = payload
    h = header(good)
    offset = layout(good)["bits"][0]
    for bit in (h["total_bits"], 64 * (h["total_bits"] // 64 + 2) - 1, 64 * (h["total_bits"] // 64 + 1)):
        buf = bytearray(good)
        buf[offset + bit // 8] ^= 1 << (bit % 8)
        must_reject(buf)
    where = layout(good)
    spans = sorted((off, off + dt.itemsize * cnt) for name, (off, dt, cnt) in where.items() if name != "end")
    gaps = [x for (_, end), (nxt, _) in zip(spans, spans[1:], strict=False) for x in range(end, nxt)]
    assert gaps, "this payload has padding between sections"
    for x in gaps:
        assert good[x] == 0
        buf = bytearray(good)
        buf[x] = 1
        must_reject(buf)


def test_bit_flips_in_the_stream(payload: tuple[bytes, np.ndarray]) -> None:
    """Single flipped code bits: open accepts them (it does not decode); queries either answer or
    raise CorruptDataError, and a flip that changes a code's length is caught by a full extract."""
    good, s = payload
    h = header(good)
    offset = layout(good)["bits"][0]
    rng = np.random.default_rng(6)
    caught = 0
    for bit in sorted({0, h["total_bits"] - 1, *rng.integers(0, h["total_bits"], size=40).tolist()}):
        buf = bytearray(good)
        buf[offset + bit // 8] ^= 1 << (bit % 8)
        seq = CODEC.open(bytes(buf))
        exercise_all(seq)
        try:
            seq.extract(0, s.size)
        except CorruptDataError:
            caught += 1
    assert caught >= 10


def test_garbage_bits_with_valid_tables() -> None:
    """Random bit streams under a valid header, table, sync and count index: no crash, no hang."""
    s = make_symbols(np.random.default_rng(30), 3000, 40, "uniform")
    good = CODEC.encode(s, 40, sync_every=64, count_every=256)
    rng = np.random.default_rng(31)
    for _ in range(10):
        buf = bytearray(good)
        bits = section(buf, "bits")
        total = header(good)["total_bits"]
        flat = np.zeros(64 * bits.size, dtype=np.uint8)
        flat[:total] = rng.integers(0, 2, size=total)
        bits[:] = np.packbits(flat, bitorder="little").view("<u8")
        try:
            seq = CODEC.open(bytes(buf))
        except CorruptDataError:
            continue
        exercise_all(seq)


# --------------------------------------------------------------------------- buffers


def test_aligned_numpy_buffer_is_not_copied() -> None:
    s = make_symbols(np.random.default_rng(1), 1000, 20, "geometric")
    data = CODEC.encode(s, 20)
    big = np.zeros(len(data) + 64, dtype=np.uint8)
    start = (-big.ctypes.data) % 64
    buf = big[start : start + len(data)]
    buf[:] = np.frombuffer(data, dtype=np.uint8)
    seq = CODEC.open(buf)
    assert np.shares_memory(seq._words, buf) and np.shares_memory(seq._sync, buf)
    np.testing.assert_array_equal(seq.extract(0, s.size), s)
    unaligned = np.zeros(len(data) + 8, dtype=np.uint8)[3 : 3 + len(data)]
    unaligned[:] = buf
    np.testing.assert_array_equal(CODEC.open(unaligned).extract(0, s.size), s)


def test_auto_count_every_caps_where_open_reads_it() -> None:
    """Past 2**24 distinct symbols, 256 * p overflows the largest count spacing a reader
    accepts; "auto" caps it, and what encode writes, open reads (found on unquantized AlexNet)."""
    assert huffman_fast_module.auto_count_every(37_000_000, 4096) == 2**32
    codec = HuffmanFastCodec()
    symbols = np.arange(3000, dtype=np.uint32)
    blob = codec.encode(symbols, 3000, count_every=2**32)
    assert np.array_equal(codec.open(blob).extract(0, 3000), symbols)

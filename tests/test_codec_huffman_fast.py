"""The ``huffman-fast`` codec beyond the conformance suite: the byte layout of version 2 compared byte
for byte with an independent writer (and the codec's payloads read back by an independent reader),
version-1 payloads still read, partial decodes around blocks and streams, the fused-decode hook
(``extract_into`` for every output dtype), batch methods, sizes, parameters, hostile and targeted
corruptions of both versions, the count index's u16 saturation, large alphabets and long codes, and
that the kernels load from numba's disk cache in a fresh process.

The layouts are written out below from specs/codec-huffman-fast.md, not imported from the
implementation: ``reference_payload`` (version 2) and ``reference_payload_v1`` are deliberately
simple writers of the same bytes, ``reference_decode`` a bit-by-bit reader of version 2.
"""

from __future__ import annotations

import math
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import codecbench.codecs.huffman_fast as huffman_fast_module
from codecbench.codecs.huffman_fast import HuffmanFastCodec, HuffmanFastSequence, HuffmanFastV1Sequence, extract_into
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
REPO = Path(__file__).resolve().parents[1]

# --------------------------------------------------------------------------- the documented layouts
#
# Little-endian. A 64-byte header, then sections, each at the next multiple of 8.
#
# Version 2:
#     0   8  magic b"CBHUFFF\0"          40  8  u64 total_bits
#     8   4  u32 version (2)              48  4  u32 sync_shift  (K = 2**sync_shift)
#     12  4  u32 L (longest code)         52  4  u32 count_shift (C = 2**count_shift)
#     16  8  u64 n                        56  4  u32 streams (4)
#     24  8  u64 sigma                    60  4  u32 reserved (0)
#     32  8  u64 p (coded symbols)
#     count u32[L+1] | symbols u32[p] | sync u64[B+1] | seglen (u16 if (K//4)*L <= 65535 else u32)[3B]
#     | counts (u16 if C <= 2**16 else u32)[R*p] | groups u32[(R//64)*p] | bits u64[total_bits//64 + 2]
#     B = ceil(n/K), R = max(ceil(n/C) - 1, 0); everything after symbols is empty when L = 0.
#     Block j's stream s holds the codes of symbols j*K + s + 4k; streams stored one after the other.
#
# Version 1 (still read): the same up to offset 56, then a u64 reserved (0);
#     count u32[L+1] | symbols u32[p] | sync u64[ceil(n/K)+1] | counts u32[(ceil(n/C)-1)*p] (cumulative)
#     | bits u64[total_bits//64 + 2]; one stream.

MAGIC = b"CBHUFFF\0"
HEADERS = {2: struct.Struct("<8sIIQQQQIIII"), 1: struct.Struct("<8sIIQQQQIIQ")}
COMMON = ("magic", "version", "L", "n", "sigma", "p", "total_bits", "sync_shift", "count_shift")
FIELDS = {2: (*COMMON, "streams", "reserved"), 1: (*COMMON, "reserved")}
OFFSETS = {
    2: dict(zip(FIELDS[2], (0, 8, 12, 16, 24, 32, 40, 48, 52, 56, 60), strict=True)),
    1: dict(zip(FIELDS[1], (0, 8, 12, 16, 24, 32, 40, 48, 52, 56), strict=True)),
}
U64_FIELDS = {"n", "sigma", "p", "total_bits"}


def version_of(data: bytes | bytearray) -> int:
    return struct.unpack_from("<I", bytes(data[:12]), 8)[0]


def header(data: bytes | bytearray) -> dict[str, Any]:
    v = version_of(data)
    return dict(zip(FIELDS[v], HEADERS[v].unpack_from(bytes(data[:64]), 0), strict=True))


def layout(data: bytes | bytearray) -> dict[str, tuple[int, np.dtype, int]]:
    """``name -> (offset, dtype, count)`` of every section, and ``"end"``."""
    h = header(data)
    L, n, p, K, C = h["L"], h["n"], h["p"], 2 ** h["sync_shift"], 2 ** h["count_shift"]
    coded = L >= 1
    if h["version"] == 2:
        B, R = math.ceil(n / K), max(math.ceil(n / C) - 1, 0)
        spec = [
            ("count", "<u4", L + 1),
            ("symbols", "<u4", p),
            ("sync", "<u8", B + 1 if coded else 0),
            ("seglen", "<u2" if K // 4 * L <= 65535 else "<u4", 3 * B if coded else 0),
            ("counts", "<u2" if C <= 2**16 else "<u4", R * p if coded else 0),
            ("groups", "<u4", R // 64 * p if coded else 0),
            ("bits", "<u8", h["total_bits"] // 64 + 2 if coded else 0),
        ]
    else:
        spec = [
            ("count", "<u4", L + 1),
            ("symbols", "<u4", p),
            ("sync", "<u8", math.ceil(n / K) + 1 if coded else 0),
            ("counts", "<u4", (math.ceil(n / C) - 1) * p if coded else 0),
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
    wide = name in U64_FIELDS or (name == "reserved" and version_of(buf) == 1)
    struct.pack_into("<Q" if wide else "<I", buf, OFFSETS[version_of(buf)][name], value)


def auto_count_every(p: int, sync_every: int = 4096) -> int:
    return min(1 << (max(2**16, sync_every, 256 * p) - 1).bit_length(), 2**32)


def canonical(s: np.ndarray, max_code_length: int, lengths: dict[int, int] | None) -> dict[str, Any]:
    """The spec's canonical code for ``s``: symbols by (length, symbol), consecutive code values."""
    present, freqs = np.unique(s, return_counts=True)
    if lengths is None:
        limit = max(max_code_length, (present.size - 1).bit_length())
        lengths = dict(zip(present.tolist(), code_lengths(freqs, limit).tolist(), strict=True))
    order = sorted(lengths, key=lambda x: (lengths[x], x))
    L = max(lengths.values())
    code_of, code = {}, 0
    for d in range(1, L + 1):
        for x in order:
            if lengths[x] == d:
                code_of[x] = code
                code += 1
        code <<= 1
    count = [sum(1 for x in order if lengths[x] == d) for d in range(L + 1)]
    return {"order": order, "L": L, "count": count, "code": code_of, "length": lengths}


def pack_bits(s: np.ndarray, code: dict[str, Any]) -> tuple[np.ndarray, list[int], int]:
    """The codes of ``s`` in order, first code bit first: (start bit of each code, words, total bits)."""
    ln = np.array([code["length"][x] for x in s.tolist()], dtype=np.int64)
    cd = np.array([code["code"][x] for x in s.tolist()], dtype=np.int64)
    start = np.concatenate([[0], np.cumsum(ln)])
    total_bits = int(start[-1])
    stream = np.zeros(total_bits + 128, dtype=np.uint8)
    for j in range(code["L"]):  # bit j of each code (first bit = most significant) at start + j
        live = ln > j
        stream[start[:-1][live] + j] = (cd[live] >> (ln[live] - 1 - j)) & 1
    n_words = total_bits // 64 + 2
    words = np.packbits(stream[: 64 * n_words], bitorder="little").view("<u8").tolist()
    return start, words, total_bits


def assemble(head: bytes, parts: list[tuple[list[int] | np.ndarray, str]]) -> bytes:
    out = [head]
    for values, fmt in parts:
        position = sum(len(x) for x in out)
        out.append(b"\0" * ((-position) % 8))
        out.append(np.asarray(values, dtype=fmt).tobytes())
    return b"".join(out)


def reference_payload(
    s: np.ndarray,
    sigma: int,
    max_code_length: int = 11,
    sync_every: int = 4096,
    count_every: int | str = "auto",
    lengths: dict[int, int] | None = None,
) -> bytes:
    """A version-2 payload as the spec describes it, written plainly. ``lengths`` (symbol -> code
    length, a complete code) overrides the reference code-length procedure."""
    s = np.asarray(s, dtype=np.int64)
    n, K = s.size, sync_every
    present = np.unique(s)
    p = present.size
    C = auto_count_every(p, K) if count_every == "auto" else count_every
    B, R = math.ceil(n / K), max(math.ceil(n / C) - 1, 0)
    if p < 2:  # no bits: the five sections after symbols are empty (but still placed at align8)
        L, total_bits, parts = 0, 0, [([p], "<u4"), (present.tolist(), "<u4")] + [([], "<u8")] * 5
    else:
        code = canonical(s, max_code_length, lengths)
        L = code["L"]
        # the symbols in stored order: block by block, stream by stream, s[j*K + st + 4k]
        stored = np.concatenate(
            [np.arange(j * K + st, min((j + 1) * K, n), 4) for j in range(B) for st in range(4)]
        ).astype(np.int64)
        start, words, total_bits = pack_bits(s[stored], code)
        stream_start = start[:-1].tolist() + [total_bits]
        sync, seglen, k = [], [], 0
        for j in range(B):
            sync.append(stream_start[k])
            bounds = []
            for st in range(4):
                bounds.append(stream_start[k])
                k += len(range(j * K + st, min((j + 1) * K, n), 4))
            bounds.append(stream_start[k])
            seglen += [bounds[1] - bounds[0], bounds[2] - bounds[1], bounds[3] - bounds[2]]
        sync.append(total_bits)
        index = {x: r for r, x in enumerate(code["order"])}
        canon = np.array([index[x] for x in s.tolist()], dtype=np.int64)
        rows = [np.bincount(canon[t * C : (t + 1) * C], minlength=p) for t in range(R)]
        counts = [min(int(v), 65535) if C == 2**16 else int(v) for row in rows for v in row]
        groups = [int(v) for w in range(R // 64) for v in np.bincount(canon[: 64 * (w + 1) * C], minlength=p)]
        parts = [
            (code["count"], "<u4"),
            (code["order"], "<u4"),
            (sync, "<u8"),
            (seglen, "<u2" if K // 4 * L <= 65535 else "<u4"),
            (counts, "<u2" if C <= 2**16 else "<u4"),
            (groups, "<u4"),
            (words, "<u8"),
        ]
    head = HEADERS[2].pack(MAGIC, 2, L, n, sigma, p, total_bits, K.bit_length() - 1, C.bit_length() - 1, 4, 0)
    return assemble(head, parts)


def reference_payload_v1(
    s: np.ndarray,
    sigma: int,
    max_code_length: int = 12,
    sync_every: int = 4096,
    count_every: int | str = "auto",
    lengths: dict[int, int] | None = None,
) -> bytes:
    """A version-1 payload (the layout earlier releases wrote, default limit 12), written plainly."""
    s = np.asarray(s, dtype=np.int64)
    n = s.size
    present = np.unique(s)
    p = present.size
    C = auto_count_every(p, sync_every) if count_every == "auto" else count_every
    if p < 2:
        L, total_bits, parts = 0, 0, [([p], "<u4"), (present.tolist(), "<u4")] + [([], "<u8")] * 3
    else:
        code = canonical(s, max_code_length, lengths)
        L = code["L"]
        start, words, total_bits = pack_bits(s, code)
        sync = [int(start[j]) for j in range(0, n, sync_every)] + [total_bits]
        index = {x: r for r, x in enumerate(code["order"])}
        canon = np.array([index[x] for x in s.tolist()], dtype=np.int64)
        rows = [v for j in range(1, math.ceil(n / C)) for v in np.bincount(canon[: j * C], minlength=p).tolist()]
        parts = [(code["count"], "<u4"), (code["order"], "<u4"), (sync, "<u8"), (rows, "<u4"), (words, "<u8")]
    head = HEADERS[1].pack(MAGIC, 1, L, n, sigma, p, total_bits, sync_every.bit_length() - 1, C.bit_length() - 1, 0)
    return assemble(head, parts)


def reference_decode(data: bytes) -> np.ndarray:
    """Read a version-2 payload bit by bit, as the spec describes it; asserts what the spec says about
    the streams and the count index. Returns the symbols."""
    h = header(data)
    assert (h["magic"], h["version"], h["streams"], h["reserved"]) == (MAGIC, 2, 4, 0)
    L, n, p, K, C = h["L"], h["n"], h["p"], 2 ** h["sync_shift"], 2 ** h["count_shift"]
    assert len(data) == layout(data)["end"][0]
    symbols = section(data, "symbols").astype(np.int64)
    if L == 0:
        return np.full(n, symbols[0] if p else 0, dtype=np.int64)
    count = section(data, "count").astype(np.int64).tolist()
    first_code, first_index, code = [0] * (L + 1), [0] * (L + 1), 0
    for d in range(1, L + 1):
        first_code[d], first_index[d] = code, sum(count[:d])
        code = (code + count[d]) << 1
    bits = np.unpackbits(section(data, "bits").view(np.uint8), bitorder="little")
    sync, seglen = section(data, "sync").astype(np.int64), section(data, "seglen").astype(np.int64)
    out = np.full(n, -1, dtype=np.int64)
    for j in range(math.ceil(n / K)):
        m, pos = min(K, n - j * K), int(sync[j])
        for s in range(4):
            end = pos + int(seglen[3 * j + s]) if s < 3 else int(sync[j + 1])
            for local in range(s, m, 4):
                v, d = 0, 0
                while True:
                    v, d = 2 * v + int(bits[pos]), d + 1
                    pos += 1
                    if v - first_code[d] < count[d]:
                        break
                out[j * K + local] = symbols[first_index[d] + v - first_code[d]]
            assert pos == end, (j, s)
    assert not bits[h["total_bits"] :].any()
    rows = section(data, "counts").astype(np.int64).reshape(-1, p)
    index = {int(x): r for r, x in enumerate(symbols.tolist())}
    canon = np.array([index[int(x)] for x in out], dtype=np.int64)
    for t in range(rows.shape[0]):
        expected = np.bincount(canon[t * C : (t + 1) * C], minlength=p)
        np.testing.assert_array_equal(rows[t], np.minimum(expected, 65535) if C == 2**16 else expected)
    groups = section(data, "groups").astype(np.int64).reshape(-1, p)
    for w in range(groups.shape[0]):
        np.testing.assert_array_equal(groups[w], np.bincount(canon[: 64 * (w + 1) * C], minlength=p))
    return out


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


# --------------------------------------------------------------------------- byte layout (version 2)


LAYOUT_CASES = [
    (0, 1, "uniform", {}),
    (0, 300, "uniform", {}),
    (1, 300, "uniform", {}),
    (50, 1, "uniform", {}),
    (3, 300, "geometric", {"sync_every": 4, "count_every": 4}),  # a block shorter than 4: empty streams
    (3000, 300, "geometric", {}),
    (3001, 300, "geometric", {"sync_every": 64, "count_every": 256}),
    (1000, 5, "uniform", {"sync_every": 4, "count_every": 8}),  # 124 count rows: one group row
    (700, 2**16 + 1, "uniform", {"sync_every": 32, "count_every": 64}),
    (2000, 2**32, "dominant", {"sync_every": 128, "count_every": 512}),
    (20_000, 300, "uniform", {"max_code_length": 8}),
    (70_000, 300, "geometric", {"sync_every": 2**16, "count_every": 2**16}),  # u32 seglen
    (5000, 40, "geometric", {"sync_every": 1024, "count_every": 2**17}),  # u32 counts (no rows: n < C)
]


@pytest.mark.parametrize(("n", "sigma", "dist", "params"), LAYOUT_CASES)
def test_byte_layout_matches_reference_writer(n: int, sigma: int, dist: str, params: dict[str, int]) -> None:
    s = make_symbols(np.random.default_rng(sigma + n), n, sigma, dist)
    data = CODEC.encode(s, sigma, **params)
    assert data == reference_payload(s, sigma, **params)
    h = header(data)
    assert (h["magic"], h["version"], h["n"], h["sigma"], h["streams"], h["reserved"]) == (MAGIC, 2, n, sigma, 4, 0)
    np.testing.assert_array_equal(reference_decode(data), s)


def test_wide_sections_and_group_rows() -> None:
    """u32 seglen (K/4 * L > 65535), u32 count rows (C > 2**16) and group rows, from the writer."""
    s = make_symbols(np.random.default_rng(3), 70_000, 300, "geometric")
    data = CODEC.encode(s, 300, sync_every=2**16, count_every=2**16)
    assert layout(data)["seglen"][1] == np.dtype("<u4")
    s = make_symbols(np.random.default_rng(4), 1000, 5, "uniform")
    data = CODEC.encode(s, 5, sync_every=4, count_every=8)
    assert layout(data)["groups"][2] == (124 // 64) * header(data)["p"] > 0
    seq = CODEC.open(data)
    check_sequence_against(seq, s, 5, np.random.default_rng(0))
    s = make_symbols(np.random.default_rng(5), 3 * 2**17 + 5, 40, "geometric")
    data = CODEC.encode(s, 40, count_every=2**17)
    assert layout(data)["counts"][1] == np.dtype("<u4") and layout(data)["counts"][2] == 3 * header(data)["p"]
    assert data == reference_payload(s, 40, count_every=2**17)


def test_worked_example() -> None:
    """The version-2 worked example of the spec, byte for byte, and its queries."""
    s = np.array([2, 0, 1, 2, 2, 0], dtype=np.uint32)
    data = CODEC.encode(s, 3)
    expected = bytes.fromhex(
        "4342485546464600" "02000000" "02000000" "0600000000000000" "0300000000000000"
        "0300000000000000" "0900000000000000" "0c000000" "10000000" "04000000" "00000000"
        "000000000100000002000000" "00000000"  # count = [0, 1, 2]; padding
        "020000000000000001000000" "00000000"  # symbols = [2, 0, 1]; padding
        "0000000000000000" "0900000000000000"  # sync = [0, 9]
        "020004000200" "0000"  # seglen = [2, 4, 2]; padding
        "d400000000000000" "0000000000000000"  # bits: 0 0 | 10 10 | 11 | 0, LSB first
    )  # fmt: skip
    assert len(expected) == 136
    assert data == expected == reference_payload(s, 3)
    seq = CODEC.open(expected)
    assert seq.extract(0, 6).tolist() == s.tolist()
    assert (seq.access(5), seq.access(3)) == (0, 2)  # the spec's access examples
    assert section(expected, "seglen").tolist() == [2, 4, 2]


def test_worked_example_v1_still_read() -> None:
    """The version-1 worked example of the spec: written by the reference v1 writer, read by the codec."""
    s = np.array([2, 0, 1, 2, 2, 0], dtype=np.uint32)
    expected = bytes.fromhex(
        "4342485546464600" "01000000" "02000000" "0600000000000000" "0300000000000000"
        "0300000000000000" "0900000000000000" "0c000000" "10000000" "0000000000000000"
        "000000000100000002000000" "00000000"  # count = [0, 1, 2]; padding
        "020000000000000001000000" "00000000"  # symbols = [2, 0, 1]; padding
        "0000000000000000" "0900000000000000"  # sync = [0, 9]
        "9a00000000000000" "0000000000000000"  # bits: 0 | 10 | 11 | 0 | 0 | 10, LSB first
    )  # fmt: skip
    assert reference_payload_v1(s, 3) == expected
    seq = CODEC.open(expected)
    assert isinstance(seq, HuffmanFastV1Sequence) and seq.version == 1 and seq.kernel_state() is None
    assert seq.extract(0, 6).tolist() == s.tolist() and seq.access(3) == 2
    assert [seq.rank(0, i) for i in range(7)] == [0, 0, 1, 1, 1, 1, 2]


@pytest.mark.parametrize(
    ("n", "sigma", "params"),
    [(0, 1, {}), (1, 7, {}), (1000, 3, {"sync_every": 4}), (4096, 256, {}), (4097, 256, {}), (70_000, 300, {}),
     (65_536 * 2, 300, {"count_every": 65_536}), (5000, 2**32, {"sync_every": 256, "count_every": 1024})],
)  # fmt: skip
def test_exact_byte_size(n: int, sigma: int, params: dict[str, int]) -> None:
    s = make_symbols(np.random.default_rng(n), n, sigma, "geometric") if n else np.zeros(0, dtype=np.uint32)
    data = CODEC.encode(s, sigma, **params)
    where, h = layout(data), header(data)
    assert len(data) == where["end"][0]
    K = params.get("sync_every", 4096)
    C = params.get("count_every", auto_count_every(h["p"], K))
    assert (2 ** h["sync_shift"], 2 ** h["count_shift"]) == (K, C)
    if h["L"]:
        B, R = math.ceil(n / K), max(math.ceil(n / C) - 1, 0)
        assert (where["sync"][2], where["seglen"][2], where["counts"][2]) == (B + 1, 3 * B, R * h["p"])
        assert where["bits"][2] == h["total_bits"] // 64 + 2


# --------------------------------------------------------------------------- version 1 still read

V1_CASES = {
    "geometric-a300": (make_symbols(np.random.default_rng(1), 3000, 300, "geometric"), 300, {}),
    "blocks-of-1": (make_symbols(np.random.default_rng(2), 500, 5, "uniform"), 5, {"sync_every": 1, "count_every": 2}),
    "small-blocks": (make_symbols(np.random.default_rng(3), 6000, 300, "geometric"), 300, SMALL_BLOCKS),
    "a65537": (make_symbols(np.random.default_rng(4), 700, 2**16 + 1, "uniform"), 2**16 + 1, {}),
    "a2**32": (np.array([2**32 - 1, 0, 7, 2**31] * 12, dtype=np.uint32), 2**32, {"sync_every": 8}),
    "one-symbol": (np.full(200, 137, dtype=np.uint32), 300, {}),
    "empty": (np.zeros(0, dtype=np.uint32), 4, {}),
}


@pytest.mark.parametrize("name", sorted(V1_CASES))
def test_v1_payloads_answer_like_before(name: str) -> None:
    """Version-1 bytes (the reference v1 writer) open as version 1 and answer every query."""
    s, sigma, params = V1_CASES[name]
    data = reference_payload_v1(s, sigma, **params)
    seq = CODEC.open(data)
    assert type(seq) is HuffmanFastV1Sequence and seq.version == 1 and seq.kernel_state() is None
    assert seq.block_size == params.get("sync_every", 4096) and seq.nbytes == len(data)
    rng = np.random.default_rng(7)
    check_sequence_against(seq, s, sigma, rng)
    n = s.size
    order = rng.permutation(n)
    np.testing.assert_array_equal(seq.access_many(order), s[order])
    for c in np.unique(s)[:3].tolist():
        cumulative = np.concatenate([[0], np.cumsum(s == c)])
        np.testing.assert_array_equal(seq.rank_many(c, np.arange(n + 1)), cumulative)
        where = np.flatnonzero(s == c)
        np.testing.assert_array_equal(seq.select_many(c, np.arange(1, where.size + 1)), where)
    if n:  # the same sequence written as version 2 answers the same
        v2 = CODEC.open(CODEC.encode(s, sigma, **{k: max(v, 4) for k, v in params.items()}))
        np.testing.assert_array_equal(v2.extract(0, n), seq.extract(0, n))


@pytest.mark.parametrize("deepest", [13, 24, 32])
@pytest.mark.parametrize("version", [2, 1])
def test_codes_up_to_the_cap(deepest: int, version: int) -> None:
    """Hand-built payloads (the reference writers) with codes 1, 2, ..., deepest, deepest bits long:
    the readers decode every length up to the cap of 32, through the table and its slow path."""
    alphabet = list(range(deepest + 1))
    lengths = {x: min(x + 1, deepest) for x in alphabet}
    rng = np.random.default_rng(deepest)
    s = rng.permutation(np.repeat(np.array(alphabet), 3 + rng.integers(0, 5, size=len(alphabet)))).astype(np.uint32)
    writer = reference_payload if version == 2 else reference_payload_v1
    for sync_every, count_every in ((4096, "auto"), (4, 16)):
        data = writer(s, deepest + 5, sync_every=sync_every, count_every=count_every, lengths=lengths)
        assert header(data)["L"] == deepest and version_of(data) == version
        seq = CODEC.open(data)
        assert seq.version == version
        check_sequence_against(seq, s, deepest + 5, rng)
        np.testing.assert_array_equal(seq.access_many(np.arange(s.size)), s)
        if version == 2:
            assert seq.kernel_state()[huffman_fast_module.S_LONG] == 1  # codes longer than the table
            np.testing.assert_array_equal(reference_decode(data), s)


# --------------------------------------------------------------------------- blocks, streams, extract_into


def _ranges_around_blocks(n: int, K: int) -> list[tuple[int, int]]:
    """Ranges starting and ending at and around every block boundary and in every stream."""
    ranges = {(0, n), (n, n), (0, 0)}
    for j in range(n // K + 1):
        b = j * K
        for d1 in range(-5, 6):
            for length in (0, 1, 2, 3, 4, 5, 7, 9, K - 1, K, K + 1, 2 * K + 3):
                a = b + d1
                if 0 <= a <= a + length <= n:
                    ranges.add((a, a + length))
        ranges.update({(b, n), (max(b - 1, 0), n), (0, min(b, n)), (0, min(b + 1, n))})
    return sorted(ranges)


@pytest.mark.parametrize(("n", "K"), [(200, 4), (700, 16), (3 * 4096 + 5, 4096)])
def test_partial_extracts_around_blocks_and_streams(n: int, K: int) -> None:
    s = make_symbols(np.random.default_rng(n), n, 300, "geometric")
    seq = CODEC.open(CODEC.encode(s, 300, sync_every=K, count_every=max(K, 64)))
    assert seq.block_size == K
    ranges = _ranges_around_blocks(n, K) if K < 4096 else _ranges_around_blocks(n, K)[::7]
    for a, b in ranges:
        np.testing.assert_array_equal(seq.extract(a, b), s[a:b], err_msg=f"extract({a}, {b})")
    for i in sorted({*range(0, min(n, 3 * K + 9)), *range(max(0, n - K - 9), n)}):
        assert seq.access(i) == s[i], i


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32])
def test_extract_into_every_dtype(dtype: type) -> None:
    """The fused-decode hook: every output dtype, ranges aligned to blocks and not, into a larger
    buffer (only ``stop - start`` elements written), and its argument guard."""
    rng = np.random.default_rng(11)
    top = min(np.iinfo(dtype).max + 1, 2**20)
    n = 5000
    s = make_symbols(rng, n, top, "geometric")
    seq = CODEC.open(CODEC.encode(s, top, sync_every=64, count_every=256))
    state, K = seq.kernel_state(), seq.block_size
    assert isinstance(state, tuple) and K == 64
    cases = [(0, n), (0, K), (K, 5 * K), (3 * K, n), (1, n - 1), (K - 3, 2 * K + 5), (5, 6), (n, n), (17, 17)]
    cases += [tuple(sorted(rng.integers(0, n + 1, size=2).tolist())) for _ in range(30)]
    for a, b in cases:
        out = np.full(b - a + 3, 0xAB, dtype=dtype)
        assert extract_into(state, a, b, out) == 0
        np.testing.assert_array_equal(out[: b - a], s[a:b].astype(dtype), err_msg=f"[{a}, {b})")
        assert (out[b - a :] == dtype(0xAB)).all()
    for j in range(0, n, K):  # the engine's pattern: chunks of K at multiples of K
        out = np.empty(K, dtype=dtype)
        assert extract_into(state, j, min(j + K, n), out) == 0
        np.testing.assert_array_equal(out[: min(K, n - j)], s[j : j + K].astype(dtype))
    out = np.zeros(10, dtype=dtype)
    for a, b in ((-1, 5), (5, 4), (0, n + 1), (0, 11)):  # out of range, or longer than out
        assert extract_into(state, a, b, out) == -2
    assert not out.any()


def test_kernel_state_and_block_size() -> None:
    s = make_symbols(np.random.default_rng(2), 3000, 40, "geometric")
    seq = CODEC.open(CODEC.encode(s, 40))
    state = seq.kernel_state()
    assert isinstance(seq, HuffmanFastSequence) and seq.version == 2 and seq.block_size == 4096
    assert all(isinstance(x, np.ndarray | int) for x in state)
    n = s.size
    assert (state[huffman_fast_module.S_N], state[huffman_fast_module.S_L]) == (n, header(CODEC.encode(s, 40))["L"])
    for data, size in ((CODEC.encode(np.full(50, 3, dtype=np.uint32), 9), 50), (CODEC.encode(s[:0], 9), 0)):
        one = CODEC.open(data)  # L = 0: a state of the same types, filled from the one symbol
        out = np.full(size, 7, dtype=np.uint8)
        assert extract_into(one.kernel_state(), 0, size, out) == 0 and (out == (3 if size else 7)).all()
        assert [type(x) for x in one.kernel_state()] == [type(x) for x in state]


def test_count_index_saturation() -> None:
    """A sample of 65536 copies of one symbol with count_every = 2**16: the u16 count is stored as
    65535 (its row sums to 65535), read back as 65536 by open's check and by rank/select."""
    rng = np.random.default_rng(13)
    s = np.concatenate(  # samples 0 and 2 mixed, sample 1 all 2s, then a short last sample
        [rng.integers(0, 5, size=2**16), np.full(2**16, 2), rng.integers(0, 5, size=2**16 + 100)]
    ).astype(np.uint32)
    data = CODEC.encode(s, 5, count_every=2**16)
    assert data == reference_payload(s, 5, count_every=2**16)
    rows = section(data, "counts").reshape(-1, header(data)["p"])
    x = section(data, "symbols").tolist().index(2)
    assert rows[1, x] == 65535 and int(rows[1].sum()) == 65535 and int(rows[0].sum()) == 2**16
    seq = CODEC.open(data)
    cumulative = np.concatenate([[0], np.cumsum(s == 2)])
    probes = np.array([0, 2**16, 2**16 + 1, 2**17 - 1, 2**17, 2**17 + 1, 2**17 + 4096, s.size])
    np.testing.assert_array_equal(seq.rank_many(2, probes), cumulative[probes])
    where = np.flatnonzero(s == 2)
    ks = np.array([1, cumulative[2**16], cumulative[2**16] + 1, cumulative[2**17], cumulative[2**17] + 1, where.size])
    np.testing.assert_array_equal(seq.select_many(2, ks), where[ks - 1])
    for c in (0, 4):
        np.testing.assert_array_equal(seq.rank_many(c, probes), np.concatenate([[0], np.cumsum(s == c)])[probes])
    buf = bytearray(data)  # 65535 meant as itself in a row summing to 65535: rejected
    view = section(buf, "counts").reshape(-1, header(data)["p"])
    view[1, x], view[1, (x + 1) % view.shape[1]] = 65534, 1
    must_reject(buf)


@pytest.mark.parametrize("sigma", [2**20, 2**32])
def test_large_alphabets(sigma: int) -> None:
    """Symbols spread over 2**20 (u32 table entries) and 2**32 (u64 entries beyond 2**24)."""
    rng = np.random.default_rng(7)
    palette = np.array([0, sigma - 1, sigma // 2, 12345, sigma - 2, 99999], dtype=np.int64)
    symbols = palette[rng.integers(0, palette.size, size=3000)].astype(np.uint32)
    data = check_codec_roundtrip(CODEC, symbols, sigma, rng, sync_every=256)
    h = header(data)
    assert (h["L"], h["p"], h["sigma"]) == (3, 6, sigma)  # six symbols: codes of 2 or 3 bits
    table = CODEC.open(data).kernel_state()[1]
    assert table.dtype == (np.uint32 if sigma == 2**20 else np.uint64)
    s = rng.integers(0, 2**20, size=20_000).astype(np.uint32)
    seq = CODEC.open(CODEC.encode(s, 2**20, sync_every=64))
    np.testing.assert_array_equal(seq.extract(0, s.size), s)
    np.testing.assert_array_equal(seq.extract(100, 7000), s[100:7000])


def test_many_distinct_symbols_take_the_slow_path() -> None:
    """10^5 distinct symbols in 2 * 10^5: the 11-bit limit is raised to bit_length(p - 1) = 17, the
    table stops at 16 bits and the longest codes are decoded by the canonical search."""
    rng = np.random.default_rng(5)
    s = rng.permutation(np.concatenate([np.arange(100_000), rng.integers(0, 100_000, size=100_000)]))
    s = s.astype(np.uint32) * 7 + 3  # spread over a larger alphabet
    sigma = 700_004
    data = CODEC.encode(s, sigma)
    h = header(data)
    assert h["L"] == 17 and h["p"] == 100_000
    assert h["count_shift"] == 25  # auto: next_pow2(256 * p) > n, so no count rows at all
    assert layout(data)["counts"][2] == 0
    seq = CODEC.open(data)
    state = seq.kernel_state()
    assert state[huffman_fast_module.S_TB] < 17 and state[huffman_fast_module.S_LONG] == 1
    check_sequence_against(seq, s, sigma, rng)
    np.testing.assert_array_equal(seq.extract(0, s.size), s)
    finer = CODEC.encode(s, sigma, count_every=2**16)
    assert layout(finer)["counts"][2] == 3 * 100_000  # u16 rows for samples 0, 1 and 2
    seq = CODEC.open(finer)
    for c in (3, int(s[12345]), int(s[-1])):
        where = np.flatnonzero(s == c)
        assert seq.rank(c, s.size) == where.size and seq.select(c, where.size) == where[-1]


def test_deep_codes_from_the_encoder() -> None:
    """Fibonacci frequencies: an unrestricted Huffman code 25 levels deep (max_code_length = 32)."""
    s = fibonacci_symbols(26)
    data = CODEC.encode(s, 40, max_code_length=32, sync_every=1024)
    assert header(data)["L"] == 25
    assert data == reference_payload(s, 40, max_code_length=32, sync_every=1024)
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
    limited = CODEC.encode(s, 40)  # the default limit (11) gives a shorter, slightly worse code
    assert header(limited)["L"] == 11 and header(limited)["total_bits"] > header(data)["total_bits"]
    np.testing.assert_array_equal(CODEC.open(limited).extract(0, s.size), s)


@pytest.mark.parametrize("dist", ["uniform", "geometric", "dominant"])
@pytest.mark.parametrize("sigma", [2, 3, 255, 256, 257, 2**16 + 1])
def test_alphabet_sizes(sigma: int, dist: str) -> None:
    rng = np.random.default_rng(sigma * 10 + len(dist))
    symbols = make_symbols(rng, 2000, sigma, dist)
    check_codec_roundtrip(CODEC, symbols, sigma, rng)
    check_codec_roundtrip(CODEC, symbols, sigma, rng, sync_every=64, count_every=256)


def test_absent_symbol_k_beyond_count_and_ends() -> None:
    s = np.array([4, 0, 4, 2, 4, 4, 0, 9, 4, 2], dtype=np.uint32)
    n, sigma = s.size, 12
    for params in ({}, {"sync_every": 4, "count_every": 4}):
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
    assert [where[x][2] for x in ("count", "symbols", "sync", "seglen", "counts", "groups", "bits")] == [1, 1] + [0] * 5
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


def test_decode_never_reads_before_its_stream() -> None:
    """Garble every bit before block b's sync offset: everything from block b on still decodes; and
    garbling stream 1 of a block leaves the symbols of streams 0, 2 and 3 readable by access."""
    rng = np.random.default_rng(9)
    s = make_symbols(rng, 2000, 300, "geometric")
    K = 128
    good = CODEC.encode(s, 300, sync_every=K, count_every=K)
    sync = section(good, "sync").astype(np.int64)
    for b in (1, 4, 9, len(sync) - 2):
        buf = bytearray(good)
        bits = section(buf, "bits")
        flat = np.unpackbits(bits.view(np.uint8), bitorder="little")
        flat[: int(sync[b])] ^= 1  # flip every earlier bit
        bits[:] = np.packbits(flat, bitorder="little").view("<u8")
        seq = CODEC.open(bytes(buf))
        start = b * K
        np.testing.assert_array_equal(seq.extract(start, s.size), s[start:])
        np.testing.assert_array_equal(seq.access_many(np.arange(start, s.size)), s[start:])
        for i in (start, start + 1, s.size - 1):
            assert seq.access(i) == s[i]
        c = int(s[start])
        assert seq.rank(c, s.size) - seq.rank(c, start) == np.count_nonzero(s[start:] == c)
    buf = bytearray(good)
    seglen = section(good, "seglen").astype(np.int64)
    first, length = int(sync[3]) + int(seglen[9]), int(seglen[10])  # block 3, stream 1
    bits = section(buf, "bits")
    flat = np.unpackbits(bits.view(np.uint8), bitorder="little")
    flat[first : first + length] = rng.integers(0, 2, size=length)
    bits[:] = np.packbits(flat, bitorder="little").view("<u8")
    seq = CODEC.open(bytes(buf))
    for local in range(K):
        if local % 4 != 1:
            assert seq.access(3 * K + local) == s[3 * K + local]


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
    sync_shift = data.draw(st.sampled_from([2, 3, 4, 6, 12]), label="sync_shift")
    count_shift = data.draw(st.one_of(st.none(), st.integers(sync_shift, sync_shift + 4)), label="count_shift")
    max_code_length = data.draw(st.sampled_from([1, 3, 11, 12, 32]), label="max_code_length")
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
    state = seq.kernel_state()
    for a, b in ranges:
        np.testing.assert_array_equal(seq.extract(a, b), s[a:b], err_msg=f"extract({a}, {b})")
        if sigma <= 256:
            out = np.empty(b - a, dtype=np.uint8)
            assert extract_into(state, a, b, out) == 0
            np.testing.assert_array_equal(out, s[a:b])

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


# --------------------------------------------------------------------------- sizes and parameters


def test_sizes_on_gaussian_256() -> None:
    """At the default 11-bit limit: payload bits within 1% of the optimal (unlimited) Huffman cost,
    everything else (header, code table, sync offsets, stream lengths, count index, padding) within
    1.5% of the payload, the whole within 3% of n * H0 / 8."""
    n = 200_000
    s = gaussian256(n)
    _, freqs = np.unique(s, return_counts=True)
    optimal = int((freqs * code_lengths(freqs, 32).astype(np.int64)).sum())
    assert int(code_lengths(freqs, 32).max()) > 11  # the limit binds
    p = freqs / n
    h0 = float(-(p * np.log2(p)).sum())
    assert 5.3 < h0 < 5.5
    data = CODEC.encode(s, 256)
    h = header(data)
    assert h["L"] == 11
    limited = int((freqs * code_lengths(freqs, 11).astype(np.int64)).sum())
    assert h["total_bits"] == limited
    assert optimal <= limited <= 1.01 * optimal, limited / optimal
    payload_bytes = h["total_bits"] / 8
    assert (len(data) - payload_bytes) / payload_bytes <= 0.015
    assert len(data) <= 1.03 * n * h0 / 8
    seq = CODEC.open(data)
    assert seq.nbytes == len(data) and seq.payload_nbytes == -(-h["total_bits"] // 8)
    assert seq.index_nbytes == len(data) - seq.payload_nbytes


@pytest.mark.parametrize(
    ("p", "shift"),
    [(2, 16), (256, 16), (257, 17), (1000, 18), (100_000, 25), (2**24, 32), (2**24 + 1, 32), (2**31, 32)],
)
def test_auto_count_every(p: int, shift: int) -> None:
    assert auto_count_every(p) == 2**shift
    assert huffman_fast_module.auto_count_every(p, 4096) == 2**shift
    assert huffman_fast_module.auto_count_every(p, 2**20) == max(2**shift, 2**20)


def skewed_300(seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    freqs = np.array([1 << max(14 - k, 0) for k in range(300)], dtype=np.int64)
    freqs = freqs[rng.permutation(300)]
    s = rng.permutation(np.repeat(np.arange(300), freqs)).astype(np.uint32)
    return s, freqs


def test_max_code_length_is_honoured_and_raised() -> None:
    s, freqs = skewed_300()
    assert int(code_lengths(freqs).max()) > 11
    data = CODEC.encode(s, 300)  # default 11
    assert header(data)["L"] == 11
    assert header(data)["total_bits"] == int((freqs * code_lengths(freqs, 11).astype(np.int64)).sum())
    deep = CODEC.encode(s, 300, max_code_length=32)
    assert header(deep)["L"] == int(code_lengths(freqs).max()) > 11
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
        ({"sync_every": 1}, "sync_every"),  # version 1 allowed blocks of 1 and 2; version 2 needs 4
        ({"sync_every": 2}, "sync_every"),
        ({"sync_every": 100}, "sync_every"),
        ({"sync_every": -4}, "sync_every"),
        ({"sync_every": 2**25}, "sync_every"),
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
        ({"max_code_length": 11, "levels": 3}, "levels"),
    ],
)
def test_invalid_params_are_named(params: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        CODEC.encode(np.array([0, 1, 2], dtype=np.uint32), 3, **params)


def test_valid_param_extremes() -> None:
    s = make_symbols(np.random.default_rng(4), 300, 50, "geometric")
    for params in ({"sync_every": 4, "count_every": 4}, {"sync_every": 2**24, "count_every": 2**32}):
        check_codec_roundtrip(CODEC, s, 50, np.random.default_rng(0), **params)
    assert CODEC.encode(s, 50, count_every="auto") == CODEC.encode(s, 50)
    assert HuffmanFastCodec.params == {"max_code_length": 11, "sync_every": 4096, "count_every": "auto"}
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


def test_auto_count_every_caps_where_open_reads_it() -> None:
    """Past 2**24 distinct symbols, 256 * p overflows the largest sample size a reader accepts;
    "auto" caps it, and what encode writes, open reads (found on unquantized AlexNet)."""
    assert huffman_fast_module.auto_count_every(37_000_000, 4096) == 2**32
    symbols = np.arange(3000, dtype=np.uint32)
    blob = CODEC.encode(symbols, 3000, count_every=2**32)
    assert np.array_equal(CODEC.open(blob).extract(0, 3000), symbols)


# --------------------------------------------------------------------------- buffers and caching


@pytest.mark.parametrize("version", [2, 1])
def test_aligned_numpy_buffer_is_not_copied(version: int) -> None:
    s = make_symbols(np.random.default_rng(1), 1000, 20, "geometric")
    data = CODEC.encode(s, 20) if version == 2 else reference_payload_v1(s, 20)
    big = np.zeros(len(data) + 64, dtype=np.uint8)
    start = (-big.ctypes.data) % 64
    buf = big[start : start + len(data)]
    buf[:] = np.frombuffer(data, dtype=np.uint8)
    seq = CODEC.open(buf)
    assert np.shares_memory(seq._data, buf)
    if version == 2:
        assert all(np.shares_memory(seq.kernel_state()[k], buf) for k in (0, 2, 4))  # bits, symbols, sync
    np.testing.assert_array_equal(seq.extract(0, s.size), s)
    unaligned = np.zeros(len(data) + 8, dtype=np.uint8)[3 : 3 + len(data)]
    unaligned[:] = buf
    np.testing.assert_array_equal(CODEC.open(unaligned).extract(0, s.size), s)


CACHE_PROBE = textwrap.dedent(
    """
    import json, sys, numpy as np
    import codecbench.codecs.huffman_fast as m
    rng = np.random.default_rng(0)
    s = np.minimum(rng.geometric(0.1, 9000), 200).astype(np.uint32)
    seq = m.HuffmanFastCodec().open(m.HuffmanFastCodec().encode(s, 256, sync_every=1024, count_every=2048))
    assert np.array_equal(seq.extract(0, s.size), s) and seq.access(5) == s[5]
    out = np.empty(s.size, dtype=np.uint8)
    assert m.extract_into(seq.kernel_state(), 0, s.size, out) == 0
    seq.access_many([3, 1]); seq.rank(int(s[0]), 5000); seq.rank_many(int(s[0]), [1, 2])
    seq.select(int(s[0]), 3); seq.select_many(int(s[0]), [1, 2])
    kernels = [m.extract_into, m._access, m._access_sorted, m._rank_sorted, m._select_sorted, m._encode, m._fill_table]
    print(json.dumps({k.py_func.__name__: [sum(k.stats.cache_hits.values()), sum(k.stats.cache_misses.values())]
                      for k in kernels}))
    """
)


def test_kernels_load_from_the_disk_cache() -> None:
    """Every entry point is a module-level cached kernel: a second fresh process loads all of them
    from numba's disk cache (no compilation; the first may compile them, on a cold cache)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    for attempt in range(2):
        done = subprocess.run(
            [sys.executable, "-c", CACHE_PROBE], env=env, capture_output=True, text=True, timeout=600, check=True
        )
        stats = __import__("json").loads(done.stdout.strip().splitlines()[-1])
        if attempt == 1 or all(hits and not misses for hits, misses in stats.values()):
            break
    assert all(hits >= 1 and misses == 0 for hits, misses in stats.values()), stats
    assert "Cannot cache" not in done.stderr, done.stderr


# --------------------------------------------------------------------------- hostile bytes

HOSTILE = {
    "empty-a1": (np.array([], dtype=np.uint32), 1, {}),
    "empty-a300": (np.array([], dtype=np.uint32), 300, {}),
    "zeros-a1": (np.zeros(100, dtype=np.uint32), 1, {}),
    "one-symbol-a300": (np.full(200, 137, dtype=np.uint32), 300, {}),
    "geometric-a300": (make_symbols(np.random.default_rng(1), 2000, 300, "geometric"), 300, SMALL_BLOCKS),
    "tiny-blocks-a40": (make_symbols(np.random.default_rng(6), 1500, 40, "geometric"), 40, {"sync_every": 4}),
    "uniform-a65537": (make_symbols(np.random.default_rng(2), 700, 2**16 + 1, "uniform"), 2**16 + 1, {}),
    "few-a2**32": (np.array([2**32 - 1, 0, 7, 2**31] * 12, dtype=np.uint32), 2**32, {"sync_every": 8}),
}


@pytest.mark.parametrize("version", [2, 1])
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_buffers(name: str, version: int) -> None:
    symbols, sigma, params = HOSTILE[name]
    good = CODEC.encode(symbols, sigma, **params) if version == 2 else reference_payload_v1(symbols, sigma, **params)
    assert version_of(good) == version
    check_hostile_buffers(CODEC, good, header_size=64, strict_length=True, body_flips=64)


def exercise_all(seq: Any) -> None:
    """Every query kind over a (damaged but openable) sequence: only documented errors, and answers
    of the documented types (possibly different from the undamaged sequence's)."""
    n, sigma = len(seq), seq.alphabet_size
    calls = [
        lambda: seq.extract(0, n),
        lambda: seq.extract(n // 3, n),
        lambda: seq.extract(n // 3 + 1, n - 5) if n > 10 else None,
        lambda: seq.access_many(np.arange(n)),
        lambda: [seq.access(i) for i in range(0, n, max(1, n // 50))],
    ]
    state = seq.kernel_state()
    if state is not None:
        calls += [lambda: extract_into(state, 0, n, np.empty(n, dtype=np.uint32))]
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


PAYLOAD_SYMBOLS = make_symbols(np.random.default_rng(21), 6000, 300, "geometric")


@pytest.fixture(scope="module", params=[2, 1], ids=["v2", "v1"])
def payload(request: pytest.FixtureRequest) -> tuple[bytes, np.ndarray]:
    """Geometric over 300 symbols, 6000 symbols. Version 2: blocks of 16, samples of 32 (187 count
    rows, 2 group rows); version 1: blocks of 64, superblocks of 512."""
    s = PAYLOAD_SYMBOLS
    if request.param == 2:
        return CODEC.encode(s, 300, sync_every=16, count_every=32), s
    return reference_payload_v1(s, 300, sync_every=64, count_every=512), s


def test_payload_fixture_shapes(payload: tuple[bytes, np.ndarray]) -> None:
    good, s = payload
    if version_of(good) == 2:
        assert layout(good)["groups"][2] == 2 * header(good)["p"]
    np.testing.assert_array_equal(CODEC.open(good).extract(0, s.size), s)


def header_edits(h: dict[str, Any]) -> list[tuple[str, int]]:
    edits = [
        ("magic", int.from_bytes(b"CBHUFFG\0", "little")),
        ("version", 0),
        ("version", 3),
        ("version", 1 if h["version"] == 2 else 2),
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
        ("sync_shift", h["count_shift"] + 1),  # above count_shift
        ("count_shift", h["sync_shift"] - 1),
        ("count_shift", 33),
        ("reserved", 1),
    ]
    if h["version"] == 2:
        edits += [("sync_shift", 1), ("sync_shift", 0), ("sync_shift", 25), ("streams", 0), ("streams", 3)]
        edits += [("streams", 8), ("reserved", 2**31)]
    else:
        edits += [("sync_shift", 31), ("reserved", 2**32), ("reserved", 2**63)]
    return edits


def test_corrupt_header_fields(payload: tuple[bytes, np.ndarray]) -> None:
    good, _ = payload
    for field, value in header_edits(header(good)):
        buf = bytearray(good)
        if field == "magic":
            buf[:8] = value.to_bytes(8, "little")
        else:
            set_header(buf, field, value)
        try:
            CODEC.open(bytes(buf))
        except CorruptDataError:
            continue
        pytest.fail(f"header {field} = {value} was accepted")


def test_header_fields_that_keep_the_size(payload: tuple[bytes, np.ndarray]) -> None:
    """Changes that leave every section size alone: rejected by the table/stream checks, or (n alone,
    the last block's symbol count) caught by the kernels as a stream overruns its end."""
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
    K = 2 ** header(good)["sync_shift"]
    L = header(good)["L"]
    edits = [
        {0: 1},
        {last: original[last] - 1},
        {last: original[last] + 1},
        {1: original[2], 2: original[1]},  # swapped
        {1: 2**64 - 1},
        {1: 2**63},
        {3: original[2] + K - 1},  # block 2 shorter than K one-bit codes
        {3: original[2] + K * L + 1},  # longer than K codes of the longest length
        {5: original[4]},
        {7: original[last] + 5},  # beyond the stream
    ]
    for edit in edits:
        buf = bytearray(good)
        sync = section(buf, "sync")
        for index, value in edit.items():
            sync[index] = value
        must_reject(buf)


def test_corrupt_stream_lengths() -> None:
    """Version 2's seglen: a stream shorter than its codes at the shortest length or longer than
    at the longest is rejected on open; bits moved between two streams of a block (lengths still
    plausible) pass open and are caught by the kernels, which never read outside the payload."""
    s = PAYLOAD_SYMBOLS
    good = CODEC.encode(s, 300, sync_every=16, count_every=32)
    seglen = section(good, "seglen").astype(np.int64)
    L = header(good)["L"]
    for index, value in ((0, 3), (4, 4 * L + 1), (5, 0), (7, 2**16 - 1)):  # 4 codes per stream
        buf = bytearray(good)
        section(buf, "seglen")[index] = value
        must_reject(buf)
    caught = 0
    for j in (0, 1, 7, 100, len(seglen) // 3 - 1):
        for a, b, delta in ((0, 1, 1), (1, 2, -1), (0, 2, 2)):
            buf = bytearray(good)
            view = section(buf, "seglen")
            view[3 * j + a] = int(seglen[3 * j + a]) + delta
            view[3 * j + b] = int(seglen[3 * j + b]) - delta
            try:
                seq = CODEC.open(bytes(buf))
            except CorruptDataError:
                continue
            exercise_all(seq)
            with pytest.raises(CorruptDataError):
                seq.extract(0, s.size)
            out = np.empty(16, dtype=np.uint16)
            assert extract_into(seq.kernel_state(), 16 * j, 16 * j + 16, out) == -1
            caught += 1
    assert caught >= 10


def test_shifted_sync_offset_is_caught(payload: tuple[bytes, np.ndarray]) -> None:
    """A sync offset moved by one bit but still plausible: open may accept it (it cannot tell without
    decoding); the kernels then see a stream that does not end where the next begins."""
    good, s = payload
    h = header(good)
    per_sample = 2 ** (h["count_shift"] - h["sync_shift"])
    accepted = 0
    for b in (1, 3, 7, 8, 40, 41):
        for delta in (-1, 1):
            buf = bytearray(good)
            sync = section(buf, "sync")
            sync[b] = int(sync[b]) + delta
            try:
                seq = CODEC.open(bytes(buf))
            except CorruptDataError:  # sample starts (the count index pins them), or a stream out of range
                continue
            assert b % per_sample  # a sample start moved is always rejected
            accepted += 1
            exercise_all(seq)
            with pytest.raises(CorruptDataError):
                seq.extract(0, s.size)
            with pytest.raises(CorruptDataError):
                seq.access_many(np.arange(s.size))
    assert accepted >= 4


def test_corrupt_count_index(payload: tuple[bytes, np.ndarray]) -> None:
    good, _ = payload
    h = header(good)
    p = h["p"]
    rows = section(good, "counts").reshape(-1, p).astype(np.int64)
    lengths = np.repeat(np.arange(h["L"] + 1), section(good, "count").astype(np.int64))
    short = int(np.argmax(rows[0] * (lengths == lengths.min())))  # a shortest code present in rows 0 and 1
    long_ = next(int(x) for x in np.argsort(-lengths, kind="stable") if rows[1, x] >= 1 and lengths[x] > lengths[short])
    assert rows.shape[0] >= 3 and rows[0, short] >= 1 and rows[1, long_] >= 1
    top = int(np.iinfo(section(good, "counts").dtype).max)
    edits = [
        [(0, short, rows[0, short] + 1)],  # a row no longer sums to what it must
        [(0, short, rows[0, short] - 1), (0, long_, rows[0, long_] + 1)],  # sum ok, bits disagree
        [(2, short, top)],
    ]
    if h["version"] == 1:  # cumulative rows: not monotone, yet summing right
        edits.append([(1, short, rows[0, short] - 1), (1, long_, rows[1, long_] + rows[1, short] - rows[0, short] + 1)])
    else:  # per-sample rows: bits moved between samples keep each row's sum, not the running bits
        edits.append([(0, short, rows[0, short] - 1), (0, long_, rows[0, long_] + 1),
                      (1, short, rows[1, short] + 1), (1, long_, rows[1, long_] - 1)])  # fmt: skip
    for edit in edits:
        buf = bytearray(good)
        view = section(buf, "counts").reshape(-1, p)
        for r, col, value in edit:
            view[r, col] = value
        must_reject(buf)
    if h["version"] == 2:  # group rows must be the running sums of the sample rows
        for w, col, delta in ((0, short, 1), (1, long_, -1), (0, 0, 2**31)):
            buf = bytearray(good)
            view = section(buf, "groups").reshape(-1, p)
            view[w, col] = int(view[w, col]) + delta
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
    for name in ("counts", "groups") if h["version"] == 2 else ("counts",):
        view = section(buf, name).reshape(-1, h["p"])
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
    """Random bit streams under a valid header, table, sync offsets and count index: no crash, no
    hang, whichever version."""
    s = make_symbols(np.random.default_rng(30), 3000, 40, "uniform")
    rng = np.random.default_rng(31)
    for good in (
        CODEC.encode(s, 40, sync_every=64, count_every=256),
        reference_payload_v1(s, 40, sync_every=64, count_every=256),
    ):
        for _ in range(8):
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

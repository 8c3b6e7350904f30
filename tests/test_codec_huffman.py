"""The ``huffman`` codec (dahuffman baseline) beyond the conformance suite: byte layout
against an independent decoder, optimal code cost, targeted corruptions and no pickle.

The codec decodes from the start of the stream for every query (about 1 M symbols/s), so the
sequences here stay small (n <= 5000)."""

from __future__ import annotations

import heapq
import math
import pickle
import struct

import dahuffman
import numpy as np
import pytest

import codecbench.codecs.huffman as huffman_module
from codecbench import registry
from codecbench.codecs.huffman import HuffmanCodec
from codecbench.errors import CorruptDataError

HEADER = struct.Struct("<8sIIQQQQII")
MAGIC = b"CBHUFFD\0"


@pytest.fixture
def codec() -> HuffmanCodec:
    return HuffmanCodec()


def gaussian(rng: np.random.Generator, n: int, std: float = 10.2) -> np.ndarray:
    return np.clip(np.round(rng.normal(128, std, n)), 0, 255).astype(np.uint32)


# --------------------------------------------------------------------------- independent reader


def parse(data: bytes) -> dict:
    """Read the layout as specs/codec-huffman.md describes it, without the codec."""
    magic, version, max_length, n, sigma, n_present, payload_bytes, eof_length, reserved = HEADER.unpack_from(data)
    offset = HEADER.size
    counts = list(struct.unpack_from(f"<{max_length}I", data, offset))
    offset += 4 * max_length
    symbols = list(struct.unpack_from(f"<{n_present}I", data, offset))
    offset += 4 * n_present
    return {
        "magic": magic,
        "version": version,
        "L": max_length,
        "n": n,
        "sigma": sigma,
        "n_present": n_present,
        "payload_bytes": payload_bytes,
        "eof_length": eof_length,
        "reserved": reserved,
        "counts": counts,
        "symbols": symbols,
        "payload": data[offset:],
    }


def spec_code_table(fields: dict) -> dict:
    """(length, code value) -> symbol, with "EOF" for EOF: canonical codes as the spec assigns them."""
    entries = []  # (length, symbol key) with EOF as sigma
    it = iter(fields["symbols"])
    for length, count in enumerate(fields["counts"], 1):
        real = count - (length == fields["eof_length"])
        group = [next(it) for _ in range(real)]
        entries += [(length, s) for s in group]
        if length == fields["eof_length"]:
            entries.append((length, "EOF"))
    table = {}
    code = 0
    previous = 1
    for length, symbol in entries:
        code <<= length - previous
        previous = length
        table[length, code] = symbol
        code += 1
    return table


def spec_decode(data: bytes) -> list[int]:
    """Decode ``n`` symbols reading bits MSB first from each byte (specs/codec-huffman.md)."""
    fields = parse(data)
    table = spec_code_table(fields)
    out: list[int] = []
    length = value = 0
    for byte in fields["payload"]:
        for shift in range(7, -1, -1):
            value = (value << 1) | ((byte >> shift) & 1)
            length += 1
            if (length, value) in table:
                symbol = table[length, value]
                if symbol == "EOF" or len(out) == fields["n"]:
                    return out
                out.append(symbol)
                length = value = 0
    return out


def huffman_cost(weights: list[int]) -> int:
    """Optimal prefix-code cost sum(w * len): the sum of the weights of the merged nodes."""
    heap = list(weights)
    heapq.heapify(heap)
    cost = 0
    while len(heap) > 1:
        merged = heapq.heappop(heap) + heapq.heappop(heap)
        cost += merged
        heapq.heappush(heap, merged)
    return cost


# --------------------------------------------------------------------------- the spec's reader

CASES = {
    "empty": (np.array([], dtype=np.uint32), 1),
    "empty, big alphabet": (np.array([], dtype=np.uint32), 2**32),
    "single symbol": (np.array([3], dtype=np.uint32), 4),
    "sigma 1": (np.zeros(100, dtype=np.uint32), 1),
    "one distinct, 8 symbols (byte aligned, no EOF)": (np.full(8, 7, dtype=np.uint32), 9),
    "one distinct of 2**32": (np.full(333, 2**32 - 1, dtype=np.uint32), 2**32),
    "two distinct": (np.array([0, 1] * 50 + [1] * 7, dtype=np.uint32), 2),
    "few of 2**32": (np.array([2**32 - 1, 0, 7, 2**31, 7, 7] * 50, dtype=np.uint32), 2**32),
    "gaussian 5000": (gaussian(np.random.default_rng(5), 5000), 256),
    "skewed 3000": (np.random.default_rng(6).geometric(0.3, 3000).astype(np.uint32) - 1, 64),
    "all distinct 700": (np.random.default_rng(7).permutation(700).astype(np.uint32), 1000),
    "uniform 2**17": (np.random.default_rng(8).integers(0, 2**17, 2000).astype(np.uint32), 2**17),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixed_sequences_decode_by_the_spec(codec: HuffmanCodec, name: str) -> None:
    """The bytes decode by specs/codec-huffman.md's reference reader (the queries themselves are
    the conformance suite's business)."""
    symbols, alphabet_size = CASES[name]
    data = codec.encode(symbols, alphabet_size)
    seq = codec.open(data)
    assert seq.nbytes == len(data) and seq.extract(0, len(seq)).tolist() == symbols.tolist()
    assert spec_decode(data) == symbols.tolist()


def test_registered() -> None:
    if "codecbench.codecs.huffman" in registry.BUILTIN_PLUGINS:
        reg = registry.Registry.load(entry_points=False)
    else:
        reg = registry.Registry.load(entry_points=False, extra_plugins=[huffman_module])
    assert isinstance(reg.codec("huffman"), HuffmanCodec)


# --------------------------------------------------------------------------- layout and size


def test_byte_layout(codec: HuffmanCodec) -> None:
    symbols = np.array([1, 2, 3, 1, 1, 2], dtype=np.uint32)
    data = codec.encode(symbols, 4)
    f = parse(data)
    assert (f["magic"], f["version"], f["n"], f["sigma"], f["reserved"]) == (MAGIC, 1, 6, 4, 0)
    # frequencies 1:3, 2:2, 3:1, EOF:1 -> lengths 1, 2, 3, 3; codes 0, 10, 110, EOF 111
    assert (f["L"], f["n_present"], f["eof_length"]) == (3, 3, 3)
    assert f["counts"] == [1, 1, 2]
    assert f["symbols"] == [1, 2, 3]
    # 0 10 110 0 0 10 | 111 (EOF) 000 (padding) = 0101 1000 1011 1000
    assert f["payload"] == bytes([0b01011000, 0b10111000])
    assert f["payload_bytes"] == 2 and len(data) == HEADER.size + 4 * 3 + 4 * 3 + 2
    assert codec.open(data).code_table == {1: (1, 0), 2: (2, 2), 3: (3, 6), dahuffman.huffmancodec._EOF: (3, 7)}


def test_eof_truncated_at_byte_end(codec: HuffmanCodec) -> None:
    """EOF's code is cut at the end of the last byte; nothing is added when the bits fill it."""
    # frequencies 0:6, 1:1, EOF:1 -> 0 = "0", 1 = "10", EOF = "11"
    data = codec.encode(np.array([0, 0, 0, 0, 0, 0, 1], dtype=np.uint32), 2)
    f = parse(data)
    assert f["eof_length"] == 2 and f["counts"] == [1, 2]
    assert f["payload"] == bytes([0b00000010])  # 8 data bits: no EOF at all
    data = codec.encode(np.array([0, 0, 0, 0, 0, 0, 0, 1], dtype=np.uint32), 2)
    assert parse(data)["payload"] == bytes([0b00000001, 0b01100000])  # last data bit, EOF "11", padding
    data = codec.encode(np.array([0, 0, 0, 0, 0, 1, 0], dtype=np.uint32), 2)
    assert parse(data)["payload"] == bytes([0b00000100])
    data = codec.encode(np.array([1, 0, 0, 0, 0, 0, 0, 0, 0], dtype=np.uint32), 2)
    assert parse(data)["payload"] == bytes([0b10000000, 0b00110000])  # 10 data bits, EOF "11", padding
    assert codec.open(data).extract(0, 9).tolist() == [1] + [0] * 8
    # 7 data bits: only EOF's first bit fits, its second is cut off
    plain = [0, 0, 0, 0, 0, 1]
    data = codec.encode(np.array(plain, dtype=np.uint32), 2)
    assert parse(data)["payload"] == bytes([0b00000101])
    assert codec.open(data).extract(0, 6).tolist() == plain
    assert spec_decode(data) == plain


def test_empty_layout(codec: HuffmanCodec) -> None:
    data = codec.encode(np.array([], dtype=np.uint32), 77)
    assert data == HEADER.pack(MAGIC, 1, 0, 0, 77, 0, 0, 0, 0)
    seq = codec.open(data)
    assert len(seq) == 0 and seq.nbytes == 56 and seq.code_table == {}
    assert seq.rank(76, 0) == 0 and seq.extract(0, 0).size == 0


def test_gaussian_payload_is_optimal_huffman(codec: HuffmanCodec) -> None:
    """Payload bits = the optimal Huffman code over the symbols plus EOF (weight 1), byte padded."""
    symbols = gaussian(np.random.default_rng(2024), 20_000)
    data = codec.encode(symbols, 256)
    seq = codec.open(data)
    table = seq.code_table
    present, freqs = np.unique(symbols, return_counts=True)
    data_bits = sum(int(f) * table[int(s)][0] for s, f in zip(present, freqs, strict=True))
    eof_length = table[dahuffman.huffmancodec._EOF][0]
    assert data_bits + eof_length == huffman_cost([*freqs.tolist(), 1])
    payload_bytes = parse(data)["payload_bytes"]
    assert payload_bytes == math.ceil(data_bits / 8)
    # dahuffman's own table (from_frequencies, the paper's baseline) costs exactly as much
    own = dahuffman.HuffmanCodec.from_frequencies(dict(zip(present.tolist(), freqs.tolist(), strict=True)))
    own_bits = sum(int(f) * own.get_code_table()[int(s)][0] for s, f in zip(present, freqs, strict=True))
    assert own_bits + own.get_code_table()[dahuffman.huffmancodec._EOF][0] == data_bits + eof_length
    # within a hair of the optimal code without EOF, and of H0
    bits_per_symbol = 8 * payload_bytes / symbols.size
    optimal = huffman_cost(freqs.tolist()) / symbols.size
    p = freqs / freqs.sum()
    h0 = float(-(p * np.log2(p)).sum())
    assert optimal <= bits_per_symbol < optimal + 0.005
    assert h0 <= bits_per_symbol < h0 + 0.1
    assert seq.nbytes == len(data) == HEADER.size + 4 * parse(data)["L"] + 4 * present.size + payload_bytes


def test_payload_is_dahuffman_output(codec: HuffmanCodec) -> None:
    symbols = np.random.default_rng(3).geometric(0.2, 1000).astype(np.uint32)
    data = codec.encode(symbols, int(symbols.max()) + 1)
    seq = codec.open(data)
    assert parse(data)["payload"] == dahuffman.HuffmanCodec(seq.code_table).encode(symbols.tolist())


# --------------------------------------------------------------------------- corruption


def _rebuild(fields: dict, **changes: object) -> bytes:
    f = {**fields, **changes}
    header = HEADER.pack(
        f["magic"],
        f["version"],
        f["L"],
        f["n"],
        f["sigma"],
        f["n_present"],
        f["payload_bytes"],
        f["eof_length"],
        f["reserved"],
    )
    counts = struct.pack(f"<{len(f['counts'])}I", *f["counts"])
    symbols = struct.pack(f"<{len(f['symbols'])}I", *f["symbols"])
    return header + counts + symbols + f["payload"]


@pytest.fixture
def sample(codec: HuffmanCodec) -> dict:
    # lengths: 0 -> 1, 1 -> 2, 2 -> 4, 3 -> 4, 4 -> 4, EOF -> 4 (counts [1, 1, 0, 4]); 128 bits
    symbols = np.array([0] * 40 + [1] * 20 + [2] * 4 + [3] * 4 + [4] * 4, dtype=np.uint32)
    symbols = np.random.default_rng(0).permutation(symbols)
    fields = parse(codec.encode(symbols, 6))
    assert fields["counts"] == [1, 1, 0, 4] and fields["eof_length"] == 4
    assert fields["symbols"] == [0, 1, 2, 3, 4]
    fields["plain"] = symbols.tolist()
    return fields


@pytest.mark.parametrize(
    "changes",
    [
        {"magic": b"CBHUFFD\1"},
        {"version": 0},
        {"version": 2},
        {"sigma": 0},
        {"sigma": 2**32 + 1},
        {"sigma": 4},  # symbol 4 is outside [0, 4)
        {"reserved": 1},
        {"L": 33},
        {"L": 0},
        {"n": 0},
        {"n": 2**64 - 1},  # far beyond what the payload can hold
        {"n": 2},  # more payload than 2 symbols can take
        {"n_present": 0},
        {"n_present": 7},
        {"eof_length": 0},
        {"eof_length": 3},  # no code of length 3
        {"eof_length": 5},
        {"payload_bytes": 0},
        {"counts": [1, 1, 0, 3], "symbols": [0, 1, 2, 3], "n_present": 4},  # Kraft sum < 1
        {"counts": [1, 1, 1, 4], "symbols": [0, 1, 5, 2, 3, 4], "n_present": 6},  # Kraft sum > 1
        {"counts": [1, 1, 0, 5]},  # counts say 7 codes, 6 stored
        {"counts": [1, 1, 4, 0], "L": 4},  # longest length has no code
        {"symbols": [0, 1, 3, 2, 4]},  # not canonical order
        {"symbols": [0, 1, 2, 2, 4]},  # duplicate
        {"symbols": [0, 1, 2, 4, 3]},  # not increasing within length 4
        {"symbols": [0, 1, 2, 3, 4, 5]},  # extra symbol: buffer size mismatch
        {"payload": b""},
    ],
)
def test_open_rejects_bad_tables(codec: HuffmanCodec, sample: dict, changes: dict) -> None:
    with pytest.raises(CorruptDataError):
        codec.open(_rebuild(sample, **changes))


def test_stream_shorter_than_n(codec: HuffmanCodec, sample: dict) -> None:
    """n raised within the payload's bounds: prefixes decode, reaching past the stream does not."""
    seq = codec.open(_rebuild(sample, n=sample["n"] + 1))
    n = len(sample["plain"])
    assert seq.extract(0, n).tolist() == sample["plain"]
    assert seq.access(n - 1) == sample["plain"][-1]
    for query in (lambda: seq.access(n), lambda: seq.extract(0, n + 1), lambda: seq.rank(0, n + 1)):
        with pytest.raises(CorruptDataError, match="bitstream ends"):
            query()
    with pytest.raises(CorruptDataError):
        seq.select(0, sample["plain"].count(0) + 1)


def test_stream_longer_than_n(codec: HuffmanCodec, sample: dict) -> None:
    """n lowered: prefix queries answer, a full decode notices the extra symbol."""
    n = len(sample["plain"]) - 1
    seq = codec.open(_rebuild(sample, n=n))
    assert seq.access(n - 2) == sample["plain"][n - 2]
    assert seq.extract(n, n).size == 0
    assert seq.extract(0, n - 1).tolist() == sample["plain"][: n - 1]
    with pytest.raises(CorruptDataError, match="more than"):
        seq.extract(0, n)
    with pytest.raises(CorruptDataError, match="more than"):
        seq.rank(0, n)
    with pytest.raises(CorruptDataError, match="more than"):
        seq.access(n - 1)


def test_every_payload_bit_flip(codec: HuffmanCodec, sample: dict) -> None:
    """A flipped payload bit raises CorruptDataError or decodes to symbols of the code table."""
    good = _rebuild(sample)
    start = len(good) - sample["payload_bytes"]
    detected = 0
    for bit in range(8 * start, 8 * len(good)):
        flipped = bytearray(good)
        flipped[bit // 8] ^= 1 << (bit % 8)
        seq = codec.open(bytes(flipped))
        n = len(seq)
        try:
            got = seq.extract(0, n).tolist()
        except CorruptDataError:
            detected += 1
            continue
        assert set(got) <= set(sample["symbols"])
        assert seq.rank(0, n) == got.count(0)
        assert seq.access(n - 1) == got[-1]
        if 1 in got:
            assert seq.select(1, 1) == got.index(1)
    assert detected > 0


def test_dahuffman_errors_become_corrupt_data(codec: HuffmanCodec, sample: dict) -> None:
    seq = codec.open(_rebuild(sample))

    def broken(data: object) -> object:
        yield 0
        raise KeyError((3, 5))

    seq._codec.decode_streaming = broken  # type: ignore[union-attr]
    with pytest.raises(CorruptDataError, match="KeyError"):
        seq.extract(0, 5)
    with pytest.raises(CorruptDataError):
        seq.select(0, 3)


def test_no_pickle(codec: HuffmanCodec, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pickle must not be used")

    for name in ("dumps", "loads", "dump", "load", "Pickler", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    assert dahuffman.huffmancodec.pickle is pickle
    symbols = gaussian(np.random.default_rng(9), 3000)
    data = codec.encode(symbols, 256)
    seq = codec.open(data)
    assert seq.extract(0, len(symbols)).tolist() == symbols.tolist()
    c = int(symbols[10])
    assert seq.select(c, 1) == int(np.flatnonzero(symbols == c)[0])
    assert seq.rank(c, 3000) == int(np.count_nonzero(symbols == c))
    assert seq.access(2999) == symbols[2999]


# --------------------------------------------------------------------------- encode validation

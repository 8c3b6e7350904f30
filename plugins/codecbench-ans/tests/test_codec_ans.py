"""The ``ans`` plugin: the codecbench conformance suite, plus what is particular to this codec."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from codecbench_ans import AnsCodec, Model

from codecbench.errors import CorruptDataError
from codecbench.testing import CodecConformance


class TestAnsConformance(CodecConformance):
    codec_name = "ans"
    distribution = "codecbench-ans"
    # small blocks and samples cross many boundaries; a 3-symbol model forces escapes
    extra_params = [{"block_size": 7, "count_every": 21}, {"block_size": 50, "model_size": 3}]


# --------------------------------------------------------------------------- codec-specific

CODEC = AnsCodec()


def h0_bytes(s: np.ndarray) -> float:
    counts = np.bincount(s)
    p = counts[counts > 0] / s.size
    return s.size * float(-(p * np.log2(p)).sum()) / 8


def gaussian(n: int, seed: int = 0, scale: float = 12.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(rng.normal(128, scale, size=n)), 0, 255).astype(np.uint32)


def test_reaches_order0_entropy() -> None:
    s = gaussian(400_000, 1)
    seq = CODEC.open(CODEC.encode(s, 256))
    assert seq.payload_nbytes < 1.003 * h0_bytes(s)  # the coded blocks: within 0.3% of n * H0
    assert seq.nbytes < 1.03 * h0_bytes(s)  # with the count index and block tables


def test_escapes_code_rare_symbols_raw() -> None:
    s = gaussian(20_000, 2, scale=40.0)  # ~200 distinct symbols
    data = CODEC.encode(s, 256, model_size=16)
    seq = CODEC.open(data)
    assert seq._model.escape == 15 and seq._model.modelled.size == 15
    np.testing.assert_array_equal(seq.extract(0, s.size), s)
    # the 15 most frequent symbols are modelled; everything else went through the escape
    symbols, counts = np.unique(s, return_counts=True)
    top = symbols[np.lexsort((symbols, -counts))[:15]]
    np.testing.assert_array_equal(seq._model.modelled, np.sort(top))
    assert seq.payload_nbytes > CODEC.open(CODEC.encode(s, 256)).payload_nbytes


def test_model_is_rebuilt_from_the_count_index() -> None:
    s = gaussian(10_000, 3)
    data = bytearray(CODEC.encode(s, 256, block_size=1000))
    seq = CODEC.open(bytes(data))
    np.testing.assert_array_equal(seq._model.table, np.unique(s))
    model = Model(*seq._index.totals(), 4096)
    assert model.table.tolist() == seq._model.table.tolist()


def test_single_symbol_sequences_store_no_coded_bytes() -> None:
    seq = CODEC.open(CODEC.encode(np.full(10_000, 7, dtype=np.uint32), 9))
    assert seq.payload_nbytes == 0
    assert seq.access(9_999) == 7 and seq.rank(7, 5000) == 5000 and seq.select(7, 10_000) == 9_999


def test_queries_decode_only_the_blocks_they_need() -> None:
    s = gaussian(60_000, 4)
    seq = CODEC.open(CODEC.encode(s, 256, block_size=1000, count_every=10_000))
    seen: list[int] = []
    original = seq._decode_block
    seq._decode_block = lambda b: (seen.append(b), original(b))[1]
    assert seq.access(33_333) == s[33_333] and seen == [33]
    seen.clear()
    np.testing.assert_array_equal(seq.extract(4_999, 6_001), s[4_999:6_001])
    assert seen == [4, 5, 6]
    seen.clear()
    assert seq.rank(128, 60_000) == np.count_nonzero(s == 128) and seen == []
    assert seq.rank(128, 52_000) == np.count_nonzero(s[:52_000] == 128) and seen == [50, 51]


def test_left_over_words_are_corruption() -> None:
    s = gaussian(2000, 5)
    data = bytearray(CODEC.encode(s, 256, block_size=1000))
    seq = CODEC.open(bytes(data))
    # append a word to block 0 (offsets, word count and P patched): decodes, but words are left over
    blocks_at = len(data) - seq.payload_nbytes
    offsets = [int(x) for x in seq._offsets]
    words0 = int(seq._words[0])
    block0 = bytes(data[blocks_at : blocks_at + offsets[1]])
    extra = block0[: 4 * words0] + struct.pack("<I", 12345) + block0[4 * words0 :]
    head = bytearray(data[:blocks_at])
    struct.pack_into("<QQQ", head, 64, 0, offsets[1] + 4, offsets[2] + 4)
    struct.pack_into("<I", head, 64 + 24, words0 + 1)
    struct.pack_into("<Q", head, 56, offsets[2] + 4)
    tampered = CODEC.open(bytes(head) + extra + bytes(data[blocks_at + offsets[1] :]))
    np.testing.assert_array_equal(tampered.extract(1000, 2000), s[1000:])
    with pytest.raises(CorruptDataError, match="block 0"):
        tampered.access(0)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"block_size": 0}, "block_size"),
        ({"block_size": 2**24 + 1}, "block_size"),
        ({"model_size": 1}, "model_size"),
        ({"model_size": 2**16 + 1}, "model_size"),
        ({"block_size": 100, "count_every": 250}, "count_every"),
        ({"level": 1}, "level"),
    ],
)
def test_bad_parameters_are_named(params: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        CODEC.encode(np.arange(10, dtype=np.uint32), 10, **params)


@pytest.mark.parametrize(
    ("offset", "fmt", "value"), [(8, "<I", 9), (12, "<I", 4), (52, "<I", 1), (52, "<I", 2**16 + 1)]
)
def test_header_fields_are_checked(offset: int, fmt: str, value: int) -> None:
    data = bytearray(CODEC.encode(gaussian(3000), 256, block_size=1000))
    struct.pack_into(fmt, data, offset, value)
    with pytest.raises(CorruptDataError):
        CODEC.open(bytes(data))

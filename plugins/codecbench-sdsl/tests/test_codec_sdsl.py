"""The ``sdsl`` plugin: the codecbench conformance suite on every variant, plus its own checks.

Skipped, with the reason, when the plugin is not installed (it needs sdsl-lite and a C++ compiler
at install time; ``.ci/run`` installs it only where ``libsdsl-dev`` is present).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

pytest.importorskip(
    "codecbench_sdsl",
    reason="codecbench-sdsl is not installed (it needs libsdsl-dev and a C++ compiler: see plugins/codecbench-sdsl/README.md)",
)

from codecbench_sdsl import CRC_AT, HEADER, VARIANTS, SdslCodec  # noqa: E402

from codecbench.errors import CorruptDataError  # noqa: E402
from codecbench.testing import CodecConformance, make_symbols  # noqa: E402


class TestSdslConformance(CodecConformance):
    codec_name = "sdsl"
    distribution = "codecbench-sdsl"
    # the default is wt_huff_rrr63; the other three variants run every check too
    extra_params = [{"variant": v} for v in VARIANTS if v != "wt_huff_rrr63"]
    # AlexNet with 16 weight levels: half the tree levels of 256, half of sdsl's build and decode
    alexnet_levels = 16
    # The payload records its own length and a CRC-32 over everything but the CRC field, checked
    # before sdsl's load() sees a byte, so the suite's hostile-buffer checks run at their defaults
    # (strict lengths, every header bit, random body bits): all of them must raise. What the CRC
    # cannot catch, a forged payload with a valid CRC, is trusted to sdsl (see SPEC.md).


# --------------------------------------------------------------------------- codec-specific

CODEC = SdslCodec()


def gaussian(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(rng.normal(128, 12, size=n)), 0, 255).astype(np.uint32)


def recrc(data: bytearray) -> bytes:
    """``data`` with its CRC-32 recomputed: a forged payload that passes the checksum."""
    struct.pack_into("<I", data, CRC_AT, 0)
    body = zlib.crc32(bytes(data[HEADER.size :]), zlib.crc32(bytes(data[:CRC_AT])))
    struct.pack_into("<I", data, CRC_AT, body)
    return bytes(data)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_bit_flip_is_caught_by_the_checksum(variant: str) -> None:
    data = CODEC.encode(make_symbols(300, 40, "skewed", 1), 40, variant=variant)
    rng = np.random.default_rng(0)
    for bit in rng.choice(8 * len(data), size=200, replace=False).tolist():
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(CorruptDataError):
            CODEC.open(bytes(flipped))


@pytest.mark.parametrize(
    ("offset", "fmt", "value", "message"),
    [
        (8, "<I", 2, "version"),
        (12, "<I", 9, "variant"),
        (16, "<Q", 10**6, "n"),
        (24, "<Q", 2**32 + 1, "alphabet"),
        (32, "<Q", 301, "distinct"),
        (40, "<I", 2, "flags"),
        (44, "<I", 1, "reserved"),
        (48, "<Q", 12, "describes"),
        (60, "<I", 1, "reserved"),
    ],
)
def test_header_fields_are_checked_even_with_a_valid_checksum(offset: int, fmt: str, value: int, message: str) -> None:
    data = bytearray(CODEC.encode(gaussian(300), 256))
    struct.pack_into(fmt, data, offset, value)
    with pytest.raises(CorruptDataError):
        CODEC.open(recrc(data))


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_forged_counts_are_caught_after_load(variant: str) -> None:
    """n and the distinct count are in the header and in sdsl's bytes: a forged header with a valid
    CRC still fails the comparison after load()."""
    s = gaussian(500, 2)
    good = CODEC.encode(s, 256, variant=variant)
    for offset, delta in ((16, -1), (16, 1), (32, -1)):
        data = bytearray(good)
        (value,) = struct.unpack_from("<Q", data, offset)
        struct.pack_into("<Q", data, offset, value + delta)
        with pytest.raises(CorruptDataError, match="sdsl"):
            CODEC.open(recrc(data))
    # a valid checksum over sdsl bytes cut short: load() runs out of bytes
    data = bytearray(good[:-8])
    struct.pack_into("<Q", data, 48, struct.unpack_from("<Q", data, 48)[0] - 8)
    with pytest.raises(CorruptDataError):
        CODEC.open(recrc(data))


def test_a_variant_swap_is_caught() -> None:
    """The variant id is under the CRC: sdsl never loads one variant's bytes as another's."""
    data = bytearray(CODEC.encode(gaussian(300), 256, variant="wt_huff_rrr63"))
    struct.pack_into("<I", data, 12, VARIANTS["wt_huff_bv"][0])
    with pytest.raises(CorruptDataError, match="checksum"):
        CODEC.open(bytes(data))


def test_dictionary_for_sparse_symbols() -> None:
    """wt_huff over symbols that are not 0..d-1 keeps a dictionary; wt_int stores the values."""
    s = np.array([7, 2**32 - 1, 7, 12, 2**31, 7], dtype=np.uint32)
    for variant in VARIANTS:
        data = CODEC.encode(s, 2**32, variant=variant)
        flags = HEADER.unpack(np.frombuffer(data, np.uint8))[4]
        assert flags == (1 if variant.startswith("wt_huff") else 0)
        seq = CODEC.open(data)
        np.testing.assert_array_equal(seq.extract(0, s.size), s)
        assert seq.rank(7, 6) == 3 and seq.rank(8, 6) == 0 and seq.select(2**31, 1) == 4
    dense = CODEC.encode(np.array([0, 2, 1, 2], dtype=np.uint32), 3)
    assert HEADER.unpack(np.frombuffer(dense, np.uint8))[4] == 0  # already 0..d-1: no dictionary


def test_forged_dictionary_is_rejected() -> None:
    s = np.array([5, 9, 5, 100], dtype=np.uint32)
    good = CODEC.encode(s, 200)
    for value in (9, 200, 2):  # not ascending, outside the alphabet, not ascending
        data = bytearray(good)
        struct.pack_into("<I", data, HEADER.size + 8, value)  # the third entry (100)
        with pytest.raises(CorruptDataError, match="dictionary"):
            CODEC.open(recrc(data))


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_long_extract_matches_access(variant: str) -> None:
    s = gaussian(200_000, 3)
    seq = CODEC.open(CODEC.encode(s, 256, variant=variant))
    np.testing.assert_array_equal(seq.extract(0, s.size), s)
    rng = np.random.default_rng(4)
    for length in (1, 2, 3, 63, 64, 65, 4097, 50_000):
        a = int(rng.integers(0, s.size - length))
        np.testing.assert_array_equal(seq.extract(a, a + length), s[a : a + length])
    assert 0 < seq.sdsl_size_in_bytes <= seq.nbytes


def test_sizes_follow_the_variants() -> None:
    """Huffman-shaped rrr63 near H0; plain bit vectors and balanced trees larger."""
    s = gaussian(400_000, 1)
    counts = np.bincount(s)
    p = counts[counts > 0] / s.size
    h0 = float(-(p * np.log2(p)).sum())
    bits = {v: 8 * len(CODEC.encode(s, 256, variant=v)) / s.size for v in VARIANTS}
    assert bits["wt_huff_rrr63"] < 1.15 * h0
    assert bits["wt_huff_rrr63"] < bits["wt_huff_bv"]
    assert bits["wt_int_rrr63"] < bits["wt_int_bv"]
    assert bits["wt_huff_bv"] < bits["wt_int_bv"]


@pytest.mark.parametrize("variant", [None, "wt_huff", "rrr63", 3, ""])
def test_bad_variant_is_named(variant: object) -> None:
    with pytest.raises(ValueError, match="variant"):
        CODEC.encode(np.arange(10, dtype=np.uint32), 10, variant=variant)


def test_queries_reject_floats_and_huge_arguments() -> None:
    seq = CODEC.open(CODEC.encode(np.array([0, 1, 1, 0], dtype=np.uint32), 2))
    with pytest.raises(TypeError):
        seq.access(1.5)
    assert seq.access(np.uint64(3)) == 0 and seq.rank(np.int8(1), np.int64(4)) == 2
    with pytest.raises(IndexError, match="out of range"):
        seq.access(-(2**70))
    with pytest.raises(ValueError, match="alphabet"):
        seq.select(2**70, 1)

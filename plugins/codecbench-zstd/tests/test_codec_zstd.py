"""The ``zstd`` plugin: the codecbench conformance suite, plus what is particular to this codec."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from codecbench_zstd import HEADER, ZstdCodec, frame_content_size
from numcodecs import zstd as numcodecs_zstd

from codecbench.errors import CorruptDataError
from codecbench.testing import CodecConformance


class TestZstdConformance(CodecConformance):
    codec_name = "zstd"
    distribution = "codecbench-zstd"
    # small blocks and samples: short generated sequences cross many block and sample boundaries
    extra_params = [{"block_size": 7, "count_every": 21}, {"block_size": 64, "level": 5}]


# --------------------------------------------------------------------------- codec-specific

CODEC = ZstdCodec()


def gaussian(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(rng.normal(128, 12, size=n)), 0, 255).astype(np.uint32)


def counting(seq):
    """Wrap ``seq._decode_block`` to record which blocks get decoded."""
    seen: list[int] = []
    original = seq._decode_block

    def decode(b: int):
        seen.append(b)
        return original(b)

    seq._decode_block = decode
    return seen


def test_queries_decode_only_the_blocks_they_need() -> None:
    s = gaussian(100_000)
    seq = CODEC.open(CODEC.encode(s, 256, block_size=1000, count_every=10_000))
    seen = counting(seq)
    assert seq.access(54_321) == s[54_321] and seen == [54]
    seen.clear()
    np.testing.assert_array_equal(seq.extract(12_500, 15_200), s[12_500:15_200])
    assert seen == [12, 13, 14, 15]
    seen.clear()
    assert seq.rank(128, 100_000) == np.count_nonzero(s == 128) and seen == []  # the index alone
    assert seq.rank(128, 30_000) == np.count_nonzero(s[:30_000] == 128) and seen == []  # a sample start
    assert seq.rank(128, 31_500) == np.count_nonzero(s[:31_500] == 128)
    assert seen == [30, 31]  # only the blocks of sample 3 before the position
    seen.clear()
    positions = np.flatnonzero(s == 150)
    k = int(np.searchsorted(positions, 77_000)) + 1
    assert seq.select(150, k) == positions[k - 1]
    assert seen and all(70 <= b < 80 for b in seen)  # one sample's blocks


def test_absent_symbol_in_sample_needs_no_decode() -> None:
    s = np.zeros(50_000, dtype=np.uint32)
    s[45_000] = 3
    seq = CODEC.open(CODEC.encode(s, 4, block_size=1000, count_every=10_000))
    seen = counting(seq)
    assert seq.rank(3, 20_500) == 0 and seq.rank(3, 50_000) == 1
    assert seen == []  # 3 does not occur in sample 2; rank at n is the index total
    assert seq.select(3, 1) == 45_000 and seen == list(range(40, 46))  # sample 4, in order


def test_size_close_to_entropy() -> None:
    s = gaussian(400_000, 1)
    counts = np.bincount(s, minlength=256)
    p = counts[counts > 0] / s.size
    h0_bytes = s.size * float(-(p * np.log2(p)).sum()) / 8
    seq = CODEC.open(CODEC.encode(s, 256))
    assert seq.payload_nbytes < 1.05 * h0_bytes
    assert seq.nbytes < 1.08 * h0_bytes


def test_frame_with_a_lying_content_size_is_rejected() -> None:
    s = gaussian(3000)
    data = CODEC.encode(s, 256, block_size=1000)
    seq = CODEC.open(data)
    blocks_at = len(data) - seq.payload_nbytes
    offsets = [int(x) for x in seq._offsets]
    frames = [data[blocks_at + offsets[b] : blocks_at + offsets[b + 1]] for b in range(3)]
    assert frame_content_size(np.frombuffer(frames[1], dtype=np.uint8)) == 1000
    # block 1 replaced by a valid frame of 999 bytes; offsets and P patched to match
    frames[1] = numcodecs_zstd.compress(s[1000:1999].astype(np.uint8), 1, True)
    new_offsets = np.cumsum([0, *map(len, frames)]).astype("<u8")
    head = bytearray(data[:blocks_at])
    head[64 : 64 + 32] = new_offsets.tobytes()
    struct.pack_into("<Q", head, 56, int(new_offsets[-1]))
    tampered = CODEC.open(bytes(head) + b"".join(frames))
    np.testing.assert_array_equal(tampered.extract(2000, 3000), s[2000:3000])
    with pytest.raises(CorruptDataError, match="block 1 holds 999 bytes"):
        tampered.access(1500)
    with pytest.raises(CorruptDataError):
        frame_content_size(np.frombuffer(frames[0][:5], dtype=np.uint8))
    with pytest.raises(CorruptDataError):
        frame_content_size(np.zeros(16, dtype=np.uint8))


def test_corrupt_frame_raises_on_query() -> None:
    s = gaussian(3000)
    data = bytearray(CODEC.encode(s, 256, block_size=1000))
    seq = CODEC.open(bytes(data))
    middle = len(data) - seq.payload_nbytes + int(seq._offsets[1]) + 20
    data[middle] ^= 0x40
    broken = CODEC.open(bytes(data))
    np.testing.assert_array_equal(broken.extract(0, 1000), s[:1000])  # other blocks unaffected
    with pytest.raises(CorruptDataError):
        broken.extract(0, 2000)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"level": 23}, "level"),
        ({"level": 1.0}, "level"),
        ({"block_size": 0}, "block_size"),
        ({"block_size": 2**24 + 1}, "block_size"),
        ({"block_size": 100, "count_every": 150}, "count_every"),
        ({"count_every": "sometimes"}, "count_every"),
        ({"compression": 3}, "compression"),
    ],
)
def test_bad_parameters_are_named(params: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        CODEC.encode(np.arange(10, dtype=np.uint32), 10, **params)


def test_levels_change_bytes_not_symbols() -> None:
    s = gaussian(20_000, 3)
    fast, small = CODEC.encode(s, 256, level=1), CODEC.encode(s, 256, level=19)
    assert fast != small
    for data in (fast, small):
        np.testing.assert_array_equal(CODEC.open(data).extract(0, s.size), s)


def test_symbol_widths() -> None:
    for sigma, width in ((1, 1), (256, 1), (257, 2), (2**16, 2), (2**16 + 1, 4), (2**32, 4)):
        data = CODEC.encode(np.array([sigma - 1, 0], dtype=np.uint32), sigma)
        assert struct.unpack_from("<I", data, 12)[0] == width


@pytest.mark.parametrize(
    ("offset", "fmt", "value"),
    [(8, "<I", 2), (12, "<I", 2), (32, "<I", 0), (36, "<I", 0), (48, "<I", 1), (52, "<I", 1), (40, "<Q", 10**6)],
)
def test_header_fields_are_checked(offset: int, fmt: str, value: int) -> None:
    data = bytearray(CODEC.encode(gaussian(5000), 256, block_size=1000))
    struct.pack_into(fmt, data, offset, value)
    with pytest.raises(CorruptDataError):
        CODEC.open(bytes(data))
    assert HEADER.size == 64

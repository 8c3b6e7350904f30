"""The ``raw`` codec beyond the conformance suite (tests/test_conformance_builtin.py): every width,
symbols straddling words, exact sizes, the byte layout, zero-copy opening and hand-built headers."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from codecbench.codecs.raw import RawCodec
from codecbench.errors import CorruptDataError
from codecbench.testing import check_codec_roundtrip

HEADER = struct.Struct("<8sIIQQ")
MAGIC = b"CBRAW\0\0\0"


def expected_width(alphabet_size: int) -> int:
    w = 1
    while 2**w < alphabet_size:
        w += 1
    return w


def expected_size(n: int, alphabet_size: int) -> int:
    return 32 + 8 * math.ceil(n * expected_width(alphabet_size) / 64)


def random_symbols(rng: np.random.Generator, n: int, alphabet_size: int) -> np.ndarray:
    s = rng.integers(0, alphabet_size, size=n, dtype=np.uint64)
    if n >= 2:  # always include both ends of the alphabet
        s[rng.integers(0, n)] = alphabet_size - 1
        s[rng.integers(0, n)] = 0
    return s.astype(np.uint32)


@pytest.fixture
def codec() -> RawCodec:
    return RawCodec()


# --------------------------------------------------------------------------- widths


@pytest.mark.parametrize("alphabet_size", [1, 2, 3, 4, 5, 255, 256, 257, 1000, 2**16, 2**16 + 1, 2**31 + 7, 2**32])
@pytest.mark.parametrize("n", [1, 2, 63, 64, 65, 1000])
def test_alphabet_sizes(codec: RawCodec, alphabet_size: int, n: int) -> None:
    rng = np.random.default_rng(alphabet_size * 1000 + n)
    symbols = random_symbols(rng, n, alphabet_size)
    data = check_codec_roundtrip(codec, symbols, alphabet_size, rng)
    assert len(data) == expected_size(n, alphabet_size)
    assert codec.open(data).width == expected_width(alphabet_size)


@pytest.mark.parametrize("width", [3, 5, 6, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 30, 31, 32])
def test_widths_straddling_words(codec: RawCodec, width: int) -> None:
    """Widths that do not divide 64 put symbols across word boundaries."""
    rng = np.random.default_rng(width)
    alphabet_size = 2**width
    n = 3 * 64 + 5
    symbols = random_symbols(rng, n, alphabet_size)
    symbols[::5] = alphabet_size - 1  # all-ones patterns across boundaries
    symbols[1::7] = 0
    seq = codec.open(check_codec_roundtrip(codec, symbols, alphabet_size, rng))
    assert seq.width == width
    # every symbol whose bits straddle a word boundary
    straddling = [i for i in range(n) if (i * width) // 64 != ((i + 1) * width - 1) // 64]
    assert bool(straddling) == bool(64 % width)
    for i in straddling:
        assert seq.access(i) == int(symbols[i])
        np.testing.assert_array_equal(seq.extract(i, i + 1), symbols[i : i + 1])


# --------------------------------------------------------------------------- layout and sizes


@pytest.mark.parametrize("alphabet_size", [1, 2, 3, 255, 256, 257, 2**16 + 1, 2**32])
@pytest.mark.parametrize("n", [0, 1, 7, 63, 64, 65, 129, 1000])
def test_exact_byte_size(codec: RawCodec, n: int, alphabet_size: int) -> None:
    symbols = random_symbols(np.random.default_rng(n), n, alphabet_size)
    data = codec.encode(symbols, alphabet_size)
    w = expected_width(alphabet_size)
    assert len(data) == 32 + 8 * math.ceil(n * w / 64)
    assert codec.open(data).nbytes == len(data)


@pytest.mark.parametrize("alphabet_size", [1, 2, 5, 256, 1000, 2**20 + 3, 2**32])
def test_byte_layout(codec: RawCodec, alphabet_size: int) -> None:
    """Header fields and bit positions as the module docstring (specs/codec-raw.md) lays them out."""
    rng = np.random.default_rng(alphabet_size)
    n = 150
    symbols = random_symbols(rng, n, alphabet_size)
    data = codec.encode(symbols, alphabet_size)
    magic, version, width, count, sigma = HEADER.unpack_from(data, 0)
    assert (magic, version, width, count, sigma) == (MAGIC, 1, expected_width(alphabet_size), n, alphabet_size)
    body = int.from_bytes(data[32:], "little")
    mask = (1 << width) - 1
    assert [(body >> (i * width)) & mask for i in range(n)] == symbols.tolist()
    assert body >> (n * width) == 0, "padding bits must be zero"


def test_aligned_numpy_buffer_is_not_copied(codec: RawCodec) -> None:
    data = codec.encode(np.arange(100, dtype=np.uint32) % 7, 7)
    big = np.zeros(len(data) + 64, dtype=np.uint8)
    start = (-big.ctypes.data) % 64
    buf = big[start : start + len(data)]
    buf[:] = np.frombuffer(data, dtype=np.uint8)
    seq = codec.open(buf)
    assert np.shares_memory(seq._words, buf)
    assert seq.extract(0, 100).tolist() == (np.arange(100) % 7).tolist()


def test_open_other_numpy_dtypes(codec: RawCodec) -> None:
    """A buffer of another numpy dtype is read as its bytes."""
    data = codec.encode(np.arange(64, dtype=np.uint32) % 5, 5)
    words = np.frombuffer(data, dtype=np.uint64).copy()
    seq = codec.open(words)
    assert seq.extract(0, 64).tolist() == (np.arange(64) % 5).tolist()


# --------------------------------------------------------------------------- hand-built headers


def _packed(width: int, n: int, sigma: int, version: int = 1, magic: bytes = MAGIC, words: int | None = None) -> bytes:
    words = math.ceil(n * width / 64) if words is None else words
    return HEADER.pack(magic, version, width, n, sigma) + b"\0" * (8 * words)


@pytest.mark.parametrize(
    "buf",
    [
        _packed(2, 10, 3, magic=b"CBRAW\0\0\1"),
        _packed(2, 10, 3, version=0),
        _packed(2, 10, 3, version=2),
        _packed(2, 10, 0),  # sigma 0
        _packed(32, 10, 2**32 + 1),  # sigma beyond 2**32
        _packed(33, 10, 2**33),
        _packed(3, 10, 3),  # width does not match sigma
        _packed(1, 10, 3),
        _packed(0, 10, 1),
        _packed(2, 10, 3, words=0),
        _packed(2, 10, 3, words=2),
        _packed(2, 2**64 - 1, 3, words=1),  # n far beyond the buffer
        _packed(32, 2**61, 2**32, words=1),
        b"",
        MAGIC,
    ],
)
def test_open_rejects_bad_headers(codec: RawCodec, buf: bytes) -> None:
    with pytest.raises(CorruptDataError):
        codec.open(buf)

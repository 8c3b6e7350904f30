"""Check functions for the codec contract (``codecbench.codecs.base``), in the spirit of numcodecs'
``tests/common.py``. :class:`codecbench.testing.CodecConformance` runs them; codec test modules may
call them directly too.

- :func:`naive_rank`, :func:`naive_select`: reference answers computed from the plain symbols.
- :func:`check_sequence_against`: one opened Sequence against the symbols it should hold.
- :func:`check_oversized_arguments`: arguments far beyond any sequence (``2**64``) still raise
  the documented ``IndexError``/``ValueError``.
- :func:`check_codec_roundtrip`: encode, then open from bytes, memoryview, numpy and an
  unaligned copy; all must agree with the symbols.
- :func:`check_hostile_buffers`: truncations, bit flips and appended bytes raise
  ``CorruptDataError`` or parse into something whose queries fail only in documented ways.

Failures are plain ``assert`` failures (or ``pytest.raises`` failures) naming the query.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from codecbench.errors import CorruptDataError

# exceptions a Sequence opened from damaged bytes may raise from its queries
QUERY_ERRORS = (IndexError, ValueError, CorruptDataError)
# each hostile case should be answered well within this (it is a hang guard, not a benchmark)
CASE_SECONDS = 2.0


# --------------------------------------------------------------------------- references


def naive_rank(s: Any, c: int, i: int) -> int:
    """Occurrences of ``c`` in ``s[0:i)``."""
    s = np.asarray(s)
    return int(np.count_nonzero(s[:i] == c))


def naive_select(s: Any, c: int, k: int) -> int:
    """Position of the ``k``-th (1-based) occurrence of ``c`` in ``s``; ``IndexError`` if none."""
    positions = np.flatnonzero(np.asarray(s) == c)
    if not 1 <= k <= positions.size:
        raise IndexError(f"symbol {c} occurs {positions.size} times, no occurrence {k}")
    return int(positions[k - 1])


# --------------------------------------------------------------------------- one sequence


def _edge_positions(n: int, rng: np.random.Generator, count: int = 40) -> list[int]:
    fixed = {0, 1, 2, n // 2, n - 3, n - 2, n - 1}
    # positions around 64-bit word boundaries for common widths
    for w in (1, 2, 3, 7, 8, 9, 16, 17, 31, 32):
        b = 64 // w if w else 0
        fixed.update({b - 1, b, b + 1})
    fixed = {p for p in fixed if 0 <= p < n}
    randoms = rng.integers(0, n, size=min(count, n)).tolist() if n else []
    return sorted(fixed | set(randoms))


def _symbols_to_probe(symbols: np.ndarray, alphabet_size: int, rng: np.random.Generator) -> tuple[list, list]:
    """(present symbols to probe, absent-but-valid symbols to probe)."""
    present = np.unique(symbols)
    if present.size > 12:
        picks = {int(present[0]), int(present[-1])}
        picks.update(int(x) for x in rng.choice(present, size=10, replace=False))
        present_list = sorted(picks)
    else:
        present_list = [int(x) for x in present]
    candidates = {0, 1, alphabet_size - 1, alphabet_size // 2, alphabet_size - 2}
    candidates.update(int(x) for x in rng.integers(0, alphabet_size, size=8))
    absent = [c for c in sorted(candidates) if 0 <= c < alphabet_size and not np.any(symbols == c)]
    return present_list, absent


def check_sequence_against(seq: Any, symbols: Any, alphabet_size: int, rng: np.random.Generator) -> None:
    """Check every query of ``seq`` against the plain ``symbols`` (and every documented error)."""
    symbols = np.asarray(symbols).astype(np.uint64).ravel()
    n = int(symbols.size)

    assert len(seq) == n
    assert isinstance(len(seq), int)
    assert seq.alphabet_size == alphabet_size
    assert isinstance(seq.nbytes, int | np.integer) and int(seq.nbytes) > 0

    # access
    for i in _edge_positions(n, rng):
        got = seq.access(i)
        assert int(got) == int(symbols[i]), f"access({i})"
    if n:
        assert int(seq.access(np.int64(n - 1))) == int(symbols[n - 1])
        assert int(seq.access(np.uint32(0))) == int(symbols[0])

    # extract: empty, full, random and edge ranges
    full = seq.extract(0, n)
    assert isinstance(full, np.ndarray) and full.dtype == np.uint32 and full.shape == (n,)
    np.testing.assert_array_equal(full.astype(np.uint64), symbols)
    for a in (0, n // 2, n):
        empty = seq.extract(a, a)
        assert empty.dtype == np.uint32 and empty.shape == (0,)
    ranges = [(0, min(n, 1)), (max(n - 1, 0), n), (0, min(n, 65)), (max(n - 65, 0), n)]
    for _ in range(10):
        a, b = sorted(rng.integers(0, n + 1, size=2).tolist())
        ranges.append((a, b))
    for a, b in ranges:
        got = seq.extract(a, b)
        assert got.dtype == np.uint32
        np.testing.assert_array_equal(got.astype(np.uint64), symbols[a:b], err_msg=f"extract({a}, {b})")
    check_extract_into(seq, symbols, ranges)
    if n:
        # extract returns a new array: writing to it must not change the sequence
        again = seq.extract(0, n)
        again[:] = 0 if symbols[0] else 1
        assert int(seq.access(0)) == int(symbols[0])

    # rank, for present and absent symbols, at random positions including 0 and n
    present, absent = _symbols_to_probe(symbols, alphabet_size, rng)
    rank_positions = sorted({0, n, n // 2, *rng.integers(0, n + 1, size=6).tolist()})
    for c in present + absent:
        is_c = symbols == c
        cumulative = np.concatenate([[0], np.cumsum(is_c)])
        for i in rank_positions:
            got = seq.rank(c, i)
            assert int(got) == int(cumulative[i]), f"rank({c}, {i})"
    for c in absent:
        assert seq.rank(c, n) == 0

    # select: every k of a few symbols (batched), single selects at the ends and a sample
    for c in present[:4] + absent[:2]:
        positions = np.flatnonzero(symbols == c)
        total = positions.size
        assert seq.rank(c, n) == total
        ks = np.arange(1, total + 1, dtype=np.int64)
        if total:
            got = seq.select_many(c, ks)
            assert isinstance(got, np.ndarray) and got.dtype == np.int64
            np.testing.assert_array_equal(got, positions, err_msg=f"select_many({c}, 1..{total})")
            shuffled = rng.permutation(ks)
            np.testing.assert_array_equal(seq.select_many(c, shuffled), positions[shuffled - 1])
            repeated = np.array([total, 1, total, 1], dtype=np.int64)
            np.testing.assert_array_equal(seq.select_many(c, repeated), positions[repeated - 1])
            singles = {1, total, (total + 1) // 2, *rng.integers(1, total + 1, size=min(total, 20)).tolist()}
            if total <= 200:
                singles.update(range(1, total + 1))
            for k in sorted(singles):
                got_k = seq.select(c, k)
                assert int(got_k) == int(positions[k - 1]), f"select({c}, {k})"
                assert int(seq.access(got_k)) == c
                assert seq.rank(c, got_k) == k - 1
        empty = seq.select_many(c, np.empty(0, dtype=np.int64))
        assert np.asarray(empty).size == 0
        # k = 0 and k > count
        with pytest.raises(IndexError):
            seq.select(c, 0)
        with pytest.raises(IndexError):
            seq.select(c, -1)
        with pytest.raises(IndexError) as excinfo:
            seq.select(c, total + 1)
        assert str(total) in str(excinfo.value), "the select error should say how often the symbol occurs"
        with pytest.raises(IndexError):
            seq.select_many(c, [1, 0] if total else [0])
        with pytest.raises(IndexError):
            seq.select_many(c, [total + 1, 1] if total else [1])

    # documented argument errors
    for i in (-1, n, n + 1, n + 1000):
        with pytest.raises(IndexError):
            seq.access(i)
    for i in (-1, n + 1):
        with pytest.raises(IndexError):
            seq.rank(0, i)
    for c in (-1, alphabet_size, alphabet_size + 1):
        with pytest.raises(ValueError):
            seq.rank(c, 0)
        with pytest.raises(ValueError):
            seq.select(c, 1)
        with pytest.raises(ValueError):
            seq.select_many(c, [1])
    for a, b in ((-1, 0), (0, n + 1), (n, n + 1), (-1, n)):
        with pytest.raises(IndexError):
            seq.extract(a, b)
    if n >= 2:
        with pytest.raises(IndexError):
            seq.extract(n, n - 1)
        with pytest.raises(IndexError):
            seq.extract(1, 0)


def check_extract_into(seq: Any, symbols: np.ndarray, ranges: list[tuple[int, int]]) -> None:
    """``extract_into`` into every dtype that holds the alphabet: the range's symbols, written
    into ``out``'s front only (a canary behind), the view returned; and its documented errors."""
    n, sigma = symbols.size, seq.alphabet_size
    fitting = [d for d in (np.uint8, np.uint16, np.uint32) if sigma - 1 <= np.iinfo(d).max]
    for dtype in fitting:
        for a, b in [(0, n), *ranges[:4]]:
            out = np.full(b - a + 2, np.iinfo(dtype).max, dtype=dtype)
            got = seq.extract_into(a, b, out)
            assert got.dtype == dtype and got.shape == (b - a,), (dtype, a, b)
            assert b == a or np.shares_memory(got, out), f"extract_into({a}, {b}) returned a copy"
            np.testing.assert_array_equal(got.astype(np.uint64), symbols[a:b], err_msg=f"extract_into({a}, {b})")
            assert out[-1] == np.iinfo(dtype).max, f"extract_into({a}, {b}) wrote past the range"
    bad_outs = [(np.empty(n, dtype=np.int32), "uint8, uint16 or uint32")]
    if n:
        bad_outs.append((np.empty(n - 1, dtype=np.uint32), "holds"))
    if n > 1:  # one element is contiguous at any stride
        bad_outs.append((np.empty(2 * n, dtype=np.uint32)[::2], "C-contiguous"))
    for bad, why in bad_outs:
        with pytest.raises(ValueError, match=why):
            seq.extract_into(0, n, bad)
    if sigma > 256:
        with pytest.raises(ValueError, match="cannot hold"):
            seq.extract_into(0, n, np.empty(n, dtype=np.uint8))
    with pytest.raises(IndexError):
        seq.extract_into(0, n + 1, np.empty(n + 1, dtype=np.uint32))


def check_oversized_arguments(seq: Any) -> None:
    """Arguments beyond any int64 still raise the documented errors (not OverflowError)."""
    n, sigma = len(seq), seq.alphabet_size
    huge = 2**64
    with pytest.raises(IndexError):
        seq.access(huge)
    with pytest.raises(IndexError):
        seq.access(-huge)
    with pytest.raises(IndexError):
        seq.rank(0, huge)
    with pytest.raises(ValueError):
        seq.rank(huge, 0)
    with pytest.raises(ValueError):
        seq.select(huge, 1)
    with pytest.raises(IndexError):
        seq.extract(0, huge)
    with pytest.raises(IndexError):
        seq.extract(-huge, n)
    assert sigma >= 1
    with pytest.raises(IndexError):
        seq.select(0, huge)
    with pytest.raises(IndexError):
        seq.select(0, 2**63)
    with pytest.raises(IndexError):
        seq.select(0, -huge)
    with pytest.raises(IndexError):
        seq.select_many(0, [1, huge])


# --------------------------------------------------------------------------- round trip


def _unaligned_copy(data: bytes, offset: int = 1) -> memoryview:
    """``data`` copied into a bigger buffer at ``offset``, as a memoryview slice."""
    big = bytearray(len(data) + offset + 7)
    big[offset : offset + len(data)] = data
    return memoryview(big)[offset : offset + len(data)]


def _unaligned_array(data: bytes, offset: int = 3) -> np.ndarray:
    """``data`` in a uint8 numpy array whose address is ``offset`` past an 8-byte boundary."""
    assert offset % 8
    big = np.zeros(len(data) + 16, dtype=np.uint8)
    start = (-big.ctypes.data) % 8 + offset
    view = big[start : start + len(data)]
    view[:] = np.frombuffer(data, dtype=np.uint8)
    return view


def check_codec_roundtrip(
    codec: Any, symbols: Any, alphabet_size: int, rng: np.random.Generator | None = None, **params: Any
) -> bytes:
    """Encode ``symbols`` and open the bytes in every buffer flavour; all must agree. Returns the bytes."""
    rng = rng if rng is not None else np.random.default_rng(0)
    symbols = np.asarray(symbols)
    data = codec.encode(symbols, alphabet_size, **params)
    assert isinstance(data, bytes)
    assert codec.encode(symbols, alphabet_size, **params) == data, "encode is not deterministic"
    pristine = bytes(data)

    buffers = {
        "bytes": data,
        "bytearray": bytearray(data),
        "memoryview": memoryview(data),
        "numpy uint8": np.frombuffer(data, dtype=np.uint8),
        "writable numpy uint8": np.frombuffer(bytearray(data), dtype=np.uint8),
        "unaligned memoryview": _unaligned_copy(data, 1),
        "unaligned numpy uint8": _unaligned_array(data, 3),
    }
    expected = symbols.astype(np.uint64).ravel()
    reference = None
    for label, buf in buffers.items():
        before = bytes(buf)
        seq = codec.open(buf)
        if reference is None:
            check_sequence_against(seq, symbols, alphabet_size, rng)
            reference = seq
        else:
            assert len(seq) == len(reference), label
            assert seq.alphabet_size == reference.alphabet_size, label
            assert seq.nbytes == reference.nbytes, label
            np.testing.assert_array_equal(seq.extract(0, len(seq)).astype(np.uint64), expected, err_msg=label)
            n = len(seq)
            for i in _edge_positions(n, rng, count=5):
                assert int(seq.access(i)) == int(expected[i]), f"{label}: access({i})"
            if n:
                c = int(expected[n // 2])
                assert seq.rank(c, n) == reference.rank(c, n), label
                k = seq.rank(c, n)
                assert seq.select(c, k) == reference.select(c, k), label
        assert bytes(buf) == before, f"{label}: opening or querying mutated the buffer"
    assert data == pristine
    return data


# --------------------------------------------------------------------------- hostile bytes


def _exercise(seq: Any) -> None:
    """Run a bounded set of queries; only documented exceptions may escape."""
    n = len(seq)
    sigma = seq.alphabet_size
    assert isinstance(n, int) and n >= 0
    assert isinstance(sigma, int) and sigma >= 1
    _ = seq.nbytes
    window = 4096
    calls = [
        lambda: seq.access(0),
        lambda: seq.access(n - 1),
        lambda: seq.access(n // 2),
        lambda: seq.extract(0, min(n, window)),
        lambda: seq.extract(max(0, n - window), n),
    ]
    for c in sorted({0, sigma - 1, min(1, sigma - 1)}):
        calls += [
            lambda c=c: seq.rank(c, min(n, window)),
            lambda c=c: seq.rank(c, n),
            lambda c=c: seq.select(c, 1),
            lambda c=c: seq.select_many(c, [2, 1]),
        ]
    for call in calls:
        try:
            call()
        except QUERY_ERRORS:
            pass


def _must_reject(codec: Any, buf: bytes, what: str) -> None:
    start = time.perf_counter()
    with pytest.raises(CorruptDataError):
        codec.open(buf)
    assert time.perf_counter() - start < CASE_SECONDS, f"{what}: took too long"


def _may_parse(codec: Any, buf: bytes, what: str) -> bool:
    """Open ``buf``: CorruptDataError, or a Sequence whose queries fail only in documented ways."""
    start = time.perf_counter()
    try:
        seq = codec.open(buf)
    except CorruptDataError:
        return False
    try:
        _exercise(seq)
    except Exception as exc:  # pragma: no cover - reported as a failure with the case named
        raise AssertionError(f"{what}: query raised {type(exc).__name__}: {exc}") from exc
    assert time.perf_counter() - start < CASE_SECONDS, f"{what}: took too long"
    return True


def check_hostile_buffers(
    codec: Any,
    good_bytes: bytes,
    header_size: int = 64,
    strict_length: bool = True,
    rng: np.random.Generator | None = None,
    body_flips: int = 32,
) -> dict[str, int]:
    """Damage ``good_bytes`` in many ways; the codec must never crash or hang.

    Truncations (every length within the header, several within the body) and appended bytes
    must raise ``CorruptDataError`` when ``strict_length`` (the payload records its own length);
    single bit flips in the header and a few in the body either raise it or parse into a
    Sequence whose queries raise nothing but ``IndexError``/``ValueError``/``CorruptDataError``.
    Returns how many flipped buffers still parsed, per region.
    """
    rng = rng if rng is not None else np.random.default_rng(12345)
    good_bytes = bytes(good_bytes)
    size = len(good_bytes)
    header_size = min(header_size, size)
    codec.open(good_bytes)  # the undamaged bytes must parse

    check = _must_reject if strict_length else _may_parse

    truncations = set(range(header_size))
    body = size - header_size
    if body > 0:
        truncations.update({header_size, header_size + 1, size - 1, size - 8, (header_size + size) // 2})
        truncations.update(int(x) for x in rng.integers(header_size, size, size=4))
    for length in sorted(t for t in truncations if 0 <= t < size):
        check(codec, good_bytes[:length], f"truncated to {length} of {size} bytes")

    for extra in (b"\0", b"\0" * 7, b"\0" * 8, b"\xff" * 8, b"\0" * 64):
        check(codec, good_bytes + extra, f"{len(extra)} bytes appended")

    parsed = {"header": 0, "body": 0}
    for bit in range(8 * header_size):
        flipped = bytearray(good_bytes)
        flipped[bit // 8] ^= 1 << (bit % 8)
        parsed["header"] += _may_parse(codec, bytes(flipped), f"header bit {bit} flipped")
    if body > 0:
        for bit in rng.integers(8 * header_size, 8 * size, size=body_flips).tolist():
            flipped = bytearray(good_bytes)
            flipped[bit // 8] ^= 1 << (bit % 8)
            parsed["body"] += _may_parse(codec, bytes(flipped), f"body bit {bit} flipped")
    # random garbage of the same length
    garbage = rng.integers(0, 256, size=size, dtype=np.uint8).tobytes()
    _may_parse(codec, garbage, "random bytes")
    assert bytes(good_bytes) == good_bytes
    return parsed

"""codecbench.succinct.huffman_code: optimal, complete, length-limited code lengths and canonical codes.

References: a textbook ``heapq`` Huffman construction (its cost, the sum of the merged weights,
is the optimum ``sum(f * len)``), and Kraft sums computed exactly with Python integers.
"""

from __future__ import annotations

import heapq

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codecbench.succinct.huffman_code import MAX_CODE_LENGTH, canonical, code_lengths

# --------------------------------------------------------------------------- references


def heapq_huffman(freqs: list[int]) -> tuple[int, int]:
    """(optimal cost sum(f * len), depth of the deepest leaf) of an unrestricted Huffman code
    over the positive frequencies; (0, 0) when fewer than two are positive."""
    heap = [(f, 0) for f in freqs if f > 0]
    if len(heap) < 2:
        return 0, 0
    heapq.heapify(heap)
    cost = 0
    while len(heap) > 1:
        fa, da = heapq.heappop(heap)
        fb, db = heapq.heappop(heap)
        cost += fa + fb
        heapq.heappush(heap, (fa + fb, max(da, db) + 1))
    return cost, heap[0][1]


def kraft_numerator(lengths: np.ndarray) -> tuple[int, int]:
    """Kraft sum of the present codes as the exact fraction ``num / 2**L``: (num, 2**L)."""
    present = [int(x) for x in lengths if x > 0]
    top = max(present, default=0)
    return sum(1 << (top - length) for length in present), 1 << top


def check_lengths(freqs: list[int], lengths: np.ndarray, max_length: int) -> None:
    """Invariants every result of code_lengths must satisfy (optimality aside)."""
    f = np.asarray(freqs, dtype=np.int64)
    assert isinstance(lengths, np.ndarray) and lengths.dtype == np.uint8 and lengths.shape == f.shape
    present = f > 0
    assert np.all(lengths[~present] == 0), "absent symbols must get length 0"
    if np.count_nonzero(present) <= 1:
        assert np.all(lengths == 0), "a lone present symbol needs no bits"
        return
    assert np.all(lengths[present] >= 1)
    assert int(lengths.max()) <= max_length, f"length limit {max_length} exceeded"
    num, den = kraft_numerator(lengths)
    assert num == den, f"Kraft sum {num}/{den} != 1: the code is not complete"
    # a more frequent symbol never gets a longer code
    order = np.argsort(f[present], kind="stable")
    by_freq = lengths[present][order].astype(np.int64)
    freqs_sorted = f[present][order]
    for j in range(by_freq.size - 1):
        if freqs_sorted[j] < freqs_sorted[j + 1]:
            assert by_freq[j] >= by_freq[j + 1], "a more frequent symbol got a longer code"


def cost(freqs: list[int], lengths: np.ndarray) -> int:
    return sum(int(f) * int(x) for f, x in zip(freqs, lengths.tolist(), strict=True))


# frequency vectors: plain random, with many zeros, and exponentially skewed (deep, Fibonacci-like trees)
freq_vectors = st.one_of(
    st.lists(st.integers(0, 10**6), max_size=300),
    st.lists(st.integers(0, 3), max_size=300),
    st.lists(st.integers(0, 40).map(lambda e: 1 << e), min_size=2, max_size=120),
    st.lists(st.sampled_from([0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 10**9]), max_size=200),
)


# --------------------------------------------------------------------------- code_lengths


@settings(max_examples=300, deadline=None)
@given(freqs=freq_vectors)
def test_code_lengths_optimal_and_complete(freqs: list[int]) -> None:
    lengths = code_lengths(np.array(freqs, dtype=np.int64))
    check_lengths(freqs, lengths, MAX_CODE_LENGTH)
    optimum, depth = heapq_huffman(freqs)
    if depth <= MAX_CODE_LENGTH:  # the default limit does not bind: the code must be optimal
        assert cost(freqs, lengths) == optimum
    else:
        assert cost(freqs, lengths) > optimum


@settings(max_examples=300, deadline=None)
@given(freqs=freq_vectors, data=st.data())
def test_code_lengths_with_limit(freqs: list[int], data: st.DataObject) -> None:
    present = sum(1 for f in freqs if f > 0)
    need = max(1, (present - 1).bit_length())
    limit = data.draw(st.integers(need, MAX_CODE_LENGTH), label="max_length")
    lengths = code_lengths(np.array(freqs, dtype=np.int64), limit)
    check_lengths(freqs, lengths, limit)
    optimum, depth = heapq_huffman(freqs)
    if depth <= limit:  # the limit does not bind: nothing to repair, the code stays optimal
        assert cost(freqs, lengths) == optimum
    else:
        assert cost(freqs, lengths) > optimum


@pytest.mark.parametrize("limit", [9, 10, 12, 16, 20, 32])
def test_limit_on_geometric_frequencies(limit: int) -> None:
    """Frequencies 2**k make an unrestricted code as deep as the symbol count: the limit must bind."""
    freqs = [1 << min(k, 40) for k in range(300)] + [0, 0]
    unrestricted_cost, depth = heapq_huffman(freqs)
    assert depth > limit
    lengths = code_lengths(np.array(freqs, dtype=np.int64), limit)
    check_lengths(freqs, lengths, limit)
    assert int(lengths.max()) == limit
    assert cost(freqs, lengths) > unrestricted_cost


def test_zero_frequencies_get_no_code() -> None:
    lengths = code_lengths(np.array([0, 5, 0, 0, 3, 1, 0], dtype=np.int64))
    assert lengths[[0, 2, 3, 6]].tolist() == [0, 0, 0, 0]
    assert lengths[[1, 4, 5]].tolist() == [1, 2, 2]


@pytest.mark.parametrize("freqs", [[], [0], [0, 0, 0], [7], [0, 0, 123456789, 0], [2**62]])
def test_at_most_one_present_symbol_gets_length_zero(freqs: list[int]) -> None:
    lengths = code_lengths(np.array(freqs, dtype=np.int64))
    assert lengths.dtype == np.uint8 and lengths.shape == (len(freqs),)
    assert np.all(lengths == 0)
    # no limit applies: there is nothing to code
    assert np.all(code_lengths(np.array(freqs, dtype=np.int64), 1) == 0)


def test_two_symbols_get_one_bit_each() -> None:
    assert code_lengths(np.array([0, 1, 10**12, 0])).tolist() == [0, 1, 1, 0]
    assert code_lengths(np.array([3, 3]), 1).tolist() == [1, 1]


def test_equal_frequencies_give_a_balanced_code() -> None:
    for p in (2, 3, 4, 5, 255, 256, 257):
        lengths = code_lengths(np.ones(p, dtype=np.int64))
        width = (p - 1).bit_length()
        assert set(lengths.tolist()) <= {width - 1, width}
        assert kraft_numerator(lengths)[0] == kraft_numerator(lengths)[1]


@pytest.mark.parametrize(
    ("present", "limit"),
    [(2, 0), (3, 1), (5, 2), (257, 8), (300, 8), (2**16 + 1, 16), (2, 33), (2, 40), (2, -1)],
)
def test_impossible_limit_raises(present: int, limit: int) -> None:
    freqs = np.ones(present, dtype=np.int64)
    with pytest.raises(ValueError):
        code_lengths(freqs, limit)


def test_tight_limit_is_possible() -> None:
    """The smallest feasible limit, ceil(log2 present), gives (nearly) fixed-width codes."""
    for present in (2, 3, 4, 5, 256, 257, 300):
        need = (present - 1).bit_length()
        freqs = np.array([1 << min(k, 50) for k in range(present)], dtype=np.int64)
        lengths = code_lengths(freqs, need)
        check_lengths(freqs.tolist(), lengths, need)


def test_input_is_not_modified() -> None:
    freqs = np.array([5, 0, 1, 9, 2, 2], dtype=np.int64)
    before = freqs.copy()
    code_lengths(freqs, 3)
    np.testing.assert_array_equal(freqs, before)


# --------------------------------------------------------------------------- canonical


def check_canonical(lengths: np.ndarray) -> None:
    lengths = np.asarray(lengths, dtype=np.uint8)
    code = canonical(lengths)
    present = np.flatnonzero(lengths)
    max_length = int(lengths.max()) if lengths.size else 0

    assert code.max_length == max_length
    assert code.lengths.dtype == np.uint8 and code.lengths.tolist() == lengths.tolist()
    assert code.codes.dtype == np.uint64 and code.codes.shape == lengths.shape
    assert code.sorted_symbols.dtype == np.uint32
    for table in (code.first_code, code.count, code.first_index):
        assert table.dtype == np.uint64 and table.shape == (max_length + 1,)

    # sorted_symbols: present symbols by (length, symbol)
    expected_order = sorted(present.tolist(), key=lambda s: (int(lengths[s]), s))
    assert code.sorted_symbols.tolist() == expected_order
    assert np.all(code.codes[lengths == 0] == 0)

    # count / first_index / first_code agree with the symbols
    assert int(code.count[0]) == 0
    for depth in range(1, max_length + 1):
        of_depth = [s for s in expected_order if lengths[s] == depth]
        assert int(code.count[depth]) == len(of_depth)
        assert int(code.first_index[depth]) == sum(1 for s in expected_order if lengths[s] < depth)
        # consecutive code values within a length, in symbol order, starting at first_code
        values = [int(code.codes[s]) for s in of_depth]
        assert values == list(range(int(code.first_code[depth]), int(code.first_code[depth]) + len(of_depth)))
        if of_depth:
            start = int(code.first_index[depth])
            assert code.sorted_symbols[start : start + len(of_depth)].tolist() == of_depth
    assert int(code.count.sum()) == present.size

    # every code fits its length, and no code is a prefix of another
    words = {}
    for s in present.tolist():
        length, value = int(lengths[s]), int(code.codes[s])
        assert 0 <= value < 1 << length
        words[s] = format(value, f"0{length}b")
    as_sorted = sorted(words.values())
    for a, b in zip(as_sorted, as_sorted[1:], strict=False):
        assert not b.startswith(a), f"{a} is a prefix of {b}"
    assert len(set(words.values())) == len(words)

    # leaves left of internal nodes: at every depth, codes ending there are numerically smaller
    # than the depth-bit prefix of every longer code
    for depth in range(1, max_length + 1):
        ending = [int(code.codes[s]) for s in present if lengths[s] == depth]
        prefixes = [int(code.codes[s]) >> (int(lengths[s]) - depth) for s in present if lengths[s] > depth]
        if ending and prefixes:
            assert max(ending) < min(prefixes)

    # a complete code ends with the all-ones code of the maximum length
    num, den = kraft_numerator(lengths)
    if present.size >= 2 and num == den:
        assert int(code.codes[code.sorted_symbols[-1]]) == (1 << max_length) - 1


@settings(max_examples=300, deadline=None)
@given(freqs=freq_vectors, data=st.data())
def test_canonical_of_huffman_lengths(freqs: list[int], data: st.DataObject) -> None:
    present = sum(1 for f in freqs if f > 0)
    limit = data.draw(st.integers(max(1, (present - 1).bit_length()), MAX_CODE_LENGTH), label="max_length")
    check_canonical(code_lengths(np.array(freqs, dtype=np.int64), limit))


@settings(max_examples=200, deadline=None)
@given(lengths=st.lists(st.integers(0, 12), max_size=200))
def test_canonical_of_any_kraft_valid_lengths(lengths: list[int]) -> None:
    """canonical() also handles incomplete codes (Kraft sum < 1), as long as they exist."""
    num, den = kraft_numerator(np.array(lengths, dtype=np.uint8))
    if num > den:
        return
    check_canonical(np.array(lengths, dtype=np.uint8))


@pytest.mark.parametrize(
    "lengths",
    [
        [],
        [0],
        [0, 0, 0],
        [1, 1],
        [0, 1, 0, 1],
        [2, 1, 2],
        [3, 3, 2, 1],
        [2, 2, 2, 2],
        [32, 32] + list(range(31, 0, -1)),
    ],
)
def test_canonical_small_cases(lengths: list[int]) -> None:
    check_canonical(np.array(lengths, dtype=np.uint8))


def test_canonical_known_codes() -> None:
    code = canonical(np.array([2, 1, 3, 3, 0], dtype=np.uint8))
    assert code.codes.tolist() == [0b10, 0b0, 0b110, 0b111, 0]
    assert code.sorted_symbols.tolist() == [1, 0, 2, 3]
    assert code.count.tolist() == [0, 1, 1, 2]
    assert code.first_code.tolist() == [0, 0, 0b10, 0b110]
    assert code.first_index.tolist() == [0, 0, 1, 2]

"""The ``element`` formulation: bit-exact round trips, dictionary order, unit ranges, corrupt input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codecbench.codecs.raw import RawCodec
from codecbench.errors import CorruptDataError
from codecbench.formulations.base import RAS, group_spans
from codecbench.formulations.element import UNIQUE_SEARCH_LIMIT, ElementFormulation, count_distinct, unique_inverse

UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}

# bit patterns of special values, per float width: -0.0, NaNs with different payloads and signs
# (quiet and signalling), +/-inf, subnormals, extremes
# fmt: off
SPECIAL_BITS = {
    np.float16: [0x8000, 0x0000, 0x7E00, 0x7E01, 0xFE00, 0x7C01, 0xFDFF,
                 0x7C00, 0xFC00, 0x0001, 0x8001, 0x03FF, 0x7BFF, 0xFBFF],
    np.float32: [0x80000000, 0x00000000, 0x7FC00000, 0x7FC00001, 0xFFC00000, 0x7F800001, 0xFFBFFFFF,
                 0x7F800000, 0xFF800000, 0x00000001, 0x80000001, 0x007FFFFF, 0x7F7FFFFF, 0xFF7FFFFF],
    np.float64: [0x8000000000000000, 0x0000000000000000, 0x7FF8000000000000, 0x7FF8000000000001,
                 0xFFF8000000000000, 0x7FF0000000000001, 0xFFF7FFFFFFFFFFFF, 0x7FF0000000000000,
                 0xFFF0000000000000, 0x0000000000000001, 0x8000000000000001, 0x000FFFFFFFFFFFFF,
                 0x7FEFFFFFFFFFFFFF, 0xFFEFFFFFFFFFFFFF],
}
# fmt: on

SHAPES = [(7,), (5, 3), (3, 2, 4), (2, 3, 2, 2), (1,), (1, 1, 1, 1), (4, 1), (1, 9)]
DTYPES = [np.float32, np.float64, np.float16, np.int8, np.int32, np.uint8, np.bool_]


def total_order_key(value: np.generic) -> int:
    """IEEE 754 totalOrder as an int: -NaN < -inf < ... < -0 < +0 < ... < +inf < +NaN (independent of codecbench)."""
    dtype = np.dtype(type(value))
    bits = int(np.array([value]).view(UINT[dtype.itemsize])[0])
    sign = 1 << (8 * dtype.itemsize - 1)
    return -(bits & ~sign) - 1 if bits & sign else bits


def make_tensor(dtype: type, shape: tuple[int, ...], rng: np.random.Generator, special: bool = True) -> np.ndarray:
    size = int(np.prod(shape))
    if dtype is np.bool_:
        return rng.integers(0, 2, size=size).astype(np.bool_).reshape(shape)
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        values = rng.integers(info.min, int(info.max) + 1, size=size, dtype=np.int64)
        values[: min(size, 2)] = [info.min, info.max][: min(size, 2)]
        return values.astype(dtype).reshape(shape)
    flat = rng.integers(-4, 5, size=size).astype(dtype) * dtype(0.5)
    if special:
        bits = np.array(SPECIAL_BITS[dtype], dtype=UINT[np.dtype(dtype).itemsize]).view(dtype)
        k = min(size, bits.size)
        flat[:k] = rng.permutation(bits)[:k]
    return flat.reshape(shape)


def unit_slice(ras: RAS, k0: int, k1: int) -> tuple[int, int]:
    """Where units [k0, k1) sit in the RAS, computed from the layout (unit, D, unit, D, ...)."""
    u = ras.unit_size
    if k0 == k1:
        return (k0 * (u + 1), k0 * (u + 1)) if k0 < ras.n_units else (len(ras.symbols), len(ras.symbols))
    return k0 * (u + 1), (k1 - 1) * (u + 1) + u


def same_bits(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype
    assert a.shape == b.shape
    assert a.tobytes() == b.tobytes()


@pytest.fixture
def element() -> ElementFormulation:
    return ElementFormulation()


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_round_trip_bit_exact(element: ElementFormulation, dtype: type, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(len(shape) * 100 + np.dtype(dtype).num)
    tensor = make_tensor(dtype, shape, rng)
    ras = element.encode(tensor)

    values = ras.arrays["values"]
    unique_bits = np.unique(np.ascontiguousarray(tensor).reshape(-1).view(UINT.get(tensor.itemsize, np.uint8)))
    assert values.dtype == tensor.dtype
    assert values.size == unique_bits.size, "one dictionary entry per distinct bit pattern"
    assert ras.alphabet_size == values.size + 1
    assert ras.delimiter == values.size
    assert ras.n_units == shape[0]
    assert ras.shape == shape
    assert ras.dtype == np.dtype(dtype).name
    assert ras.symbols.dtype == np.uint32
    n, u = shape[0], int(np.prod(shape[1:]))
    assert ras.symbols.size == n * (u + 1) - 1
    assert ras.unit_size == u

    decoded = element.decode_units(ras, ras.symbols, 0, ras.n_units)
    same_bits(decoded, tensor)

    # through the raw codec and Formulation.decode
    codec = RawCodec()
    seq = codec.open(codec.encode(ras.symbols, ras.alphabet_size))
    same_bits(element.decode(ras, seq), tensor)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_special_values_are_distinct_and_exact(element: ElementFormulation, dtype: type) -> None:
    uint = UINT[np.dtype(dtype).itemsize]
    bits = np.array(SPECIAL_BITS[dtype], dtype=uint)
    tensor = np.concatenate([bits, bits[::-1], bits[:3]]).view(dtype).reshape(-1, 1)
    ras = element.encode(tensor)
    # -0.0 and 0.0, and every NaN payload, get their own dictionary entry
    assert ras.arrays["values"].size == bits.size
    assert set(ras.arrays["values"].view(uint).tolist()) == set(bits.tolist())
    same_bits(element.decode_units(ras, ras.symbols, 0, ras.n_units), tensor)
    # symbols of -0.0 and +0.0 differ
    zero_symbols = {int(ras.symbols[2 * i]) for i in (0, 1)}
    assert len(zero_symbols) == 2


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_dictionary_in_total_order(element: ElementFormulation, dtype: type) -> None:
    rng = np.random.default_rng(7)
    uint = UINT[np.dtype(dtype).itemsize]
    special = np.array(SPECIAL_BITS[dtype], dtype=uint).view(dtype)
    ordinary = (rng.standard_normal(200) * 100).astype(dtype)
    tensor = rng.permutation(np.concatenate([special, ordinary, special])).reshape(-1, 2)
    values = element.encode(tensor).arrays["values"]
    keys = [total_order_key(v) for v in values]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    # ordinary (non-NaN) values are numerically ascending, with -0.0 right before +0.0
    finite = values[~np.isnan(values)]
    assert np.all(np.diff(finite.astype(np.float64)) >= 0)
    zeros = np.flatnonzero(finite == 0)
    assert np.signbit(finite[zeros[0]]) and not np.signbit(finite[zeros[1]])
    # the symbols of quantized weights are monotonic in value
    ras = element.encode(np.array([[3.0, -1.0, 2.0], [-1.0, 0.5, 3.0]], dtype=dtype))
    assert ras.arrays["values"].tolist() == [-1.0, 0.5, 2.0, 3.0]
    assert ras.symbols.tolist() == [3, 0, 2, 4, 0, 1, 3]


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.uint8, np.bool_])
def test_integer_dictionary_in_numeric_order(element: ElementFormulation, dtype: type) -> None:
    tensor = make_tensor(dtype, (6, 10), np.random.default_rng(3))
    values = element.encode(tensor).arrays["values"]
    assert values.tolist() == sorted(set(tensor.reshape(-1).tolist()))


def test_big_endian_tensor_round_trips_by_value(element: ElementFormulation) -> None:
    """A big-endian tensor decodes to the same *values* (in native order) with a sorted dictionary,
    or is refused with ValueError as the contract allows; silently changed values are a bug."""
    for dtype in (">f4", ">f8", ">i4", ">i2"):
        tensor = np.array([[3, -1, 2], [-1, 0, 7]], dtype=dtype)
        try:
            ras = element.encode(tensor)
        except ValueError:
            continue
        decoded = element.decode_units(ras, ras.symbols, 0, ras.n_units)
        native = tensor.astype(tensor.dtype.newbyteorder("="))
        assert decoded.tobytes() == native.tobytes(), dtype
        assert ras.arrays["values"].tolist() == [-1, 0, 2, 3, 7], dtype


def test_empty_tensors(element: ElementFormulation) -> None:
    codec = RawCodec()
    for shape in [(0,), (0, 3), (3, 0), (2, 0, 4)]:
        tensor = np.zeros(shape, dtype=np.float32)
        ras = element.encode(tensor)
        assert ras.n_units == shape[0]
        decoded = element.decode_units(ras, ras.symbols, 0, ras.n_units)
        same_bits(decoded, tensor)
        seq = codec.open(codec.encode(ras.symbols, ras.alphabet_size))
        same_bits(element.decode(ras, seq), tensor)


@pytest.mark.parametrize(
    "tensor",
    [np.float32(1.0), np.array(1.0), np.array([1 + 2j]), np.array(["a", "b"]), np.array([object(), None])],
    ids=["0d-scalar", "0d-array", "complex", "str", "object"],
)
def test_encode_rejects_unrepresentable(element: ElementFormulation, tensor: np.ndarray) -> None:
    with pytest.raises(ValueError):
        element.encode(tensor)


def test_encode_unknown_param_is_named(element: ElementFormulation) -> None:
    with pytest.raises(ValueError, match="bits"):
        element.encode(np.zeros(3, dtype=np.float32), bits=4)


# --------------------------------------------------------------------------- unit ranges


def test_decode_every_unit_range(element: ElementFormulation) -> None:
    tensor = make_tensor(np.float32, (5, 2, 3), np.random.default_rng(11))
    ras = element.encode(tensor)
    codec = RawCodec()
    seq = codec.open(codec.encode(ras.symbols, ras.alphabet_size))
    for k0 in range(ras.n_units + 1):
        for k1 in range(k0, ras.n_units + 1):
            start, stop = unit_slice(ras, k0, k1)
            got = element.decode_units(ras, ras.symbols[start:stop], k0, k1)
            same_bits(got, tensor[k0:k1])
            # the same span through the codec and group_spans
            (span,) = group_spans(seq, ras, [k0, k1]) if k0 < k1 else [(start, stop)]
            assert tuple(int(x) for x in span) == (start, stop), (k0, k1)
            same_bits(element.decode_units(ras, seq.extract(*span), k0, k1), tensor[k0:k1])


@pytest.mark.parametrize("shape", [(1,), (1, 4), (6,), (6, 1), (6, 5), (4, 2, 2)], ids=str)
def test_group_spans(element: ElementFormulation, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(sum(shape))
    tensor = make_tensor(np.float64, shape, rng)
    ras = element.encode(tensor)
    codec = RawCodec()
    seq = codec.open(codec.encode(ras.symbols, ras.alphabet_size))
    n = ras.n_units
    cut_lists = [[0, n]]
    for r in range(1, n):
        cut_lists.extend([0, *inner, n] for inner in itertools.combinations(range(1, n), r))
    cut_lists.append(list(range(n + 1)))
    cut_lists.extend([[0, k] for k in range(1, n + 1)])
    cut_lists.extend([[k, n] for k in range(n)])
    for cuts in cut_lists:
        spans = group_spans(seq, ras, cuts)
        assert spans.dtype == np.int64 and spans.shape == (len(cuts) - 1, 2)
        for (k0, k1), (start, stop) in zip(itertools.pairwise(cuts), spans.tolist(), strict=True):
            assert (start, stop) == unit_slice(ras, k0, k1), (cuts, k0, k1)
            same_bits(element.decode_units(ras, seq.extract(start, stop), k0, k1), tensor[k0:k1])


def test_group_spans_rejects_bad_cuts(element: ElementFormulation) -> None:
    ras = element.encode(np.arange(12, dtype=np.float32).reshape(4, 3))
    codec = RawCodec()
    seq = codec.open(codec.encode(ras.symbols, ras.alphabet_size))
    for cuts in ([], [0], [-1, 2], [0, 5], [3, 1], [0, 3, 2, 4]):
        with pytest.raises(IndexError):
            group_spans(seq, ras, cuts)


def test_group_spans_empty_inner_group(element: ElementFormulation) -> None:
    """Equal inner cuts pass the ascending check; they must give an empty span (or be refused with
    IndexError), never a CorruptDataError about an intact sequence."""
    tensor = np.arange(12, dtype=np.float32).reshape(4, 3)
    ras = element.encode(tensor)
    codec = RawCodec()
    seq = codec.open(codec.encode(ras.symbols, ras.alphabet_size))
    try:
        spans = group_spans(seq, ras, [0, 2, 2, 4])
    except IndexError:
        return
    assert spans[1, 0] == spans[1, 1]
    assert spans[0].tolist() == list(unit_slice(ras, 0, 2))
    assert spans[2].tolist() == list(unit_slice(ras, 2, 4))


# --------------------------------------------------------------------------- corrupt input


@pytest.fixture
def small_ras(element: ElementFormulation) -> RAS:
    return element.encode(np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [0.5, 0.5, 0.5], [2.0, 2.0, 1.0]], np.float32))


def test_decode_units_wrong_length(element: ElementFormulation, small_ras: RAS) -> None:
    s = small_ras.symbols
    for symbols, k0, k1 in [
        (s[:-1], 0, 4),
        (np.append(s, 0), 0, 4),
        (np.append(s, small_ras.delimiter), 0, 4),
        (s[:4], 0, 1),
        (s[:2], 0, 1),
        (s[:6], 0, 2),
        (s[:8], 0, 2),
        (np.empty(0, np.uint32), 0, 1),
        (s, 1, 4),
    ]:
        with pytest.raises(CorruptDataError):
            element.decode_units(small_ras, np.ascontiguousarray(symbols), k0, k1)


def test_decode_units_delimiter_missing(element: ElementFormulation, small_ras: RAS) -> None:
    for position in (3, 7, 11):
        symbols = small_ras.symbols.copy()
        assert symbols[position] == small_ras.delimiter
        symbols[position] = 0
        with pytest.raises(CorruptDataError):
            element.decode_units(small_ras, symbols, 0, 4)
    # a delimiter moved inside a unit (so the length is still right)
    symbols = small_ras.symbols.copy()
    symbols[3], symbols[2] = symbols[2], symbols[3]
    with pytest.raises(CorruptDataError):
        element.decode_units(small_ras, symbols, 0, 4)


def test_decode_units_symbol_outside_dictionary(element: ElementFormulation, small_ras: RAS) -> None:
    for bad in (small_ras.delimiter, small_ras.delimiter + 1, 2**32 - 1):
        symbols = small_ras.symbols.copy()
        symbols[5] = bad
        with pytest.raises(CorruptDataError):
            element.decode_units(small_ras, symbols, 0, 4)
        unit = symbols[4:7]
        with pytest.raises(CorruptDataError):
            element.decode_units(small_ras, unit, 1, 2)


def test_decode_units_zero_width_units_check_delimiters(element: ElementFormulation) -> None:
    """Units of zero weights are just delimiters; anything else there is corrupt."""
    ras = element.encode(np.zeros((3, 0), dtype=np.float32))
    assert ras.symbols.tolist() == [ras.delimiter, ras.delimiter]
    for bad in ([ras.delimiter, 5], [7, ras.delimiter], [1, 1]):
        with pytest.raises(CorruptDataError):
            element.decode_units(ras, np.array(bad, dtype=np.uint32), 0, 3)


@pytest.mark.parametrize(("k0", "k1"), [(-1, 1), (0, 5), (3, 2), (5, 5), (-2, -1), (4, 6)])
def test_decode_units_out_of_range(element: ElementFormulation, small_ras: RAS, k0: int, k1: int) -> None:
    with pytest.raises(IndexError):
        element.decode_units(small_ras, small_ras.symbols, k0, k1)


def test_decode_units_empty_range(element: ElementFormulation, small_ras: RAS) -> None:
    for k in range(5):
        got = element.decode_units(small_ras, np.empty(0, np.uint32), k, k)
        assert got.shape == (0, 3) and got.dtype == np.float32


# --------------------------------------------------------------------------- property test

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


@settings(max_examples=100, deadline=None)
@given(
    shape=shapes,
    dtype=st.sampled_from([np.float16, np.float32, np.float64]),
    data=st.data(),
)
def test_property_integer_valued_floats(shape: tuple[int, ...], dtype: type, data: st.DataObject) -> None:
    size = int(np.prod(shape))
    values = data.draw(st.lists(st.integers(-3, 3), min_size=size, max_size=size), label="values")
    negative_zero = data.draw(st.lists(st.booleans(), min_size=size, max_size=size), label="negative zero")
    tensor = np.array(values, dtype=dtype)
    tensor[np.array(negative_zero) & (tensor == 0)] = dtype(-0.0)
    tensor = tensor.reshape(shape)
    element = ElementFormulation()
    ras = element.encode(tensor)
    uint = UINT[np.dtype(dtype).itemsize]
    assert ras.arrays["values"].size == np.unique(tensor.reshape(-1).view(uint)).size
    keys = [total_order_key(v) for v in ras.arrays["values"]]
    assert keys == sorted(keys)
    codec = RawCodec()
    seq = codec.open(codec.encode(ras.symbols, ras.alphabet_size))
    same_bits(element.decode(ras, seq), tensor)
    k0 = data.draw(st.integers(0, shape[0]), label="k0")
    k1 = data.draw(st.integers(k0, shape[0]), label="k1")
    if k0 < k1:
        ((start, stop),) = group_spans(seq, ras, [k0, k1])
    else:
        start, stop = unit_slice(ras, k0, k1)
    same_bits(element.decode_units(ras, seq.extract(start, stop), k0, k1), tensor[k0:k1])


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([np.uint8, np.uint16, np.uint32, np.uint64]),
    st.integers(0, 3000),
    st.sampled_from([1, 7, 300, UNIQUE_SEARCH_LIMIT * 2]),
    st.integers(0, 2**32),
)
def test_unique_inverse_is_numpys(dtype: type, n: int, distinct: int, seed: int) -> None:
    """Both routes (binary search over few distinct keys, ``np.unique`` for many) give
    ``np.unique(keys, return_inverse=True)`` exactly: values, indices and dtypes."""
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, np.iinfo(dtype).max, size=distinct, dtype=dtype, endpoint=True)
    keys = pool[rng.integers(0, distinct, size=n)] if n else np.array([], dtype=dtype)
    expected, got = np.unique(keys, return_inverse=True), unique_inverse(keys)
    for e, g in zip(expected, got, strict=True):
        assert e.dtype == g.dtype and e.shape == g.shape and np.array_equal(e, g)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64])
@pytest.mark.parametrize("layout", ["many-distinct", "sample-misses-them"])
def test_unique_inverse_many_distinct_routes(dtype: type, layout: str) -> None:
    """Many distinct keys: sorted with their positions packed in one uint64 (keys of up to 4
    bytes) or ``np.unique`` (8-byte keys); also when the sample sees few of them (a long run of
    one key first, then many distinct ones)."""
    rng = np.random.default_rng(0)
    n = 3 * UNIQUE_SEARCH_LIMIT
    keys = rng.integers(0, np.iinfo(dtype).max, size=n, dtype=dtype, endpoint=True)
    if layout == "sample-misses-them":
        keys = np.concatenate([np.full(40 * n, 7, dtype=dtype), keys])
    for e, g in zip(np.unique(keys, return_inverse=True), unique_inverse(keys), strict=True):
        assert e.dtype == g.dtype and e.shape == g.shape and np.array_equal(e, g)


@pytest.mark.parametrize("n, pool", [(0, 1), (1, 1), (1000, 3), (5000, 2**32)])
def test_count_distinct_is_numpys(n: int, pool: int) -> None:
    keys = np.random.default_rng(n).integers(0, pool, size=n, dtype=np.uint64).astype(np.uint32)
    assert count_distinct(keys) == np.unique(keys).size

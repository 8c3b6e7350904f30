"""``block``, ``pq-element``, ``pq-block`` and ``float-split``: the exact symbol grammar of
``specs/ras.md`` against naive references, bit-exact round trips through every registered
codec, unit ranges, and corrupt input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_formulation_element import SPECIAL_BITS, UINT

from codecbench.dtypes import BFLOAT16, is_float
from codecbench.errors import CorruptDataError
from codecbench.formulations.base import RAS, group_spans
from codecbench.formulations.element import order_keys
from codecbench.registry import get_registry

NEW = ["block", "pq-element", "pq-block", "float-split"]
FLOATS = [np.float16, np.float32, np.float64, BFLOAT16]
# bfloat16: -0.0, +0.0, NaNs (quiet, payload, negative), signalling NaN, +/-inf, subnormals, extremes
BF16_SPECIAL = [
    0x8000,
    0x0000,
    0x7FC0,
    0x7FC1,
    0xFFC0,
    0x7F81,
    0x7F80,
    0xFF80,
    0x0001,
    0x8001,
    0x007F,
    0x7F7F,
    0xFF7F,
    0x3F80,
]
DTYPES = [*FLOATS, np.int8, np.int32, np.uint16, np.bool_]


def formulation(name: str):
    return get_registry().formulation(name)


def bits_of(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).reshape(-1).view(UINT.get(a.dtype.itemsize, np.uint8))


def same_bits(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


def sparse_tensor(rng: np.random.Generator, dtype: type, shape: tuple[int, ...], density: float) -> np.ndarray:
    """Few distinct values (quantized-like), pruned to ``density``, with an all-zero unit and a
    fully dense unit when there are enough units, and -0.0 among the floats."""
    size = int(np.prod(shape))
    if np.dtype(dtype) == np.bool_:
        flat = rng.random(size) < density
    else:
        flat = (rng.integers(1, 6, size=size) * rng.choice([-1, 1], size=size)).astype(dtype)
        flat[rng.random(size) >= density] = 0
    t = flat.reshape(shape)
    if shape[0] >= 3 and size:
        t[0] = 0
        t[1] = 1
    if is_float(np.dtype(dtype)) and size:
        t.reshape(-1)[-1] = -0.0
    return t


# -- the grammar, against naive references ------------------------------------------------------
def reference_blocks(t: np.ndarray, block: int) -> list[list[tuple[int, ...]]]:
    """Per unit, its blocks as tuples of bit patterns, the last one zero-padded."""
    units = []
    for unit in t.reshape(t.shape[0], -1):
        b = [int(x) for x in bits_of(unit)]
        b += [0] * (-len(b) % block)
        units.append([tuple(b[i : i + block]) for i in range(0, len(b), block)])
    return units


def reference_dictionary(blocks: list[tuple[int, ...]], dtype: np.dtype) -> list[tuple[int, ...]]:
    """Distinct blocks in lexicographic order of their values' total order."""

    def key(bits: int) -> int:
        return int(order_keys(np.array([bits], dtype=UINT.get(dtype.itemsize, np.uint8)).view(dtype))[0][0])

    return sorted(set(blocks), key=lambda b: tuple(key(x) for x in b))


def dictionary_blocks(ras: RAS) -> list[tuple[int, ...]]:
    values = bits_of(ras.arrays["values"])
    if "blocks" not in ras.arrays:
        return [(int(v),) for v in values]
    return [tuple(int(values[i]) for i in row) for row in ras.arrays["blocks"]]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, block", [((4, 3, 3, 3), "auto"), ((5, 10), "auto"), ((5, 10), 3), ((3, 7), 1)])
def test_block_grammar_matches_reference(dtype: type, shape: tuple[int, ...], block) -> None:
    t = sparse_tensor(np.random.default_rng(1), dtype, shape, 0.5)
    ras = formulation("block").encode(t, block_size=block)
    b = ras.meta["block_size"]
    assert b == (9 if len(shape) == 4 else 4 if block == "auto" else block)
    units = reference_blocks(t, b)
    dictionary = reference_dictionary([x for unit in units for x in unit], t.dtype)
    assert dictionary_blocks(ras) == dictionary
    index = {blk: i for i, blk in enumerate(dictionary)}
    expected = []
    for j, unit in enumerate(units):
        expected += [index[x] for x in unit] + ([len(dictionary)] if j + 1 < len(units) else [])
    assert ras.symbols.tolist() == expected
    assert ras.delimiter == len(dictionary) and ras.alphabet_size == len(dictionary) + 1


def reference_tuples(units: list[list[tuple[int, ...]]], g: int) -> list[list[tuple[int, tuple[int, ...] | None]]]:
    """Deep Compression's coding: (gap, block) per nonzero block; a gap >= g becomes filler
    tuples (g - 1, zero block) of g positions each."""
    out = []
    for unit in units:
        tuples, pos = [], 0
        for t, blk in enumerate(unit):
            if not any(blk):
                continue
            gap = t - pos
            while gap >= g:
                tuples.append((g - 1, None))
                gap -= g
            tuples.append((gap, blk))
            pos = t + 1
        out.append(tuples)
    return out


@pytest.mark.parametrize("name", ["pq-element", "pq-block"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("gap_bits", ["auto", 1, 2])
def test_pq_grammar_matches_reference(name: str, dtype: type, gap_bits) -> None:
    t = sparse_tensor(np.random.default_rng(2), dtype, (5, 2, 3, 3), 0.15)
    params = {"gap_bits": gap_bits} if name == "pq-element" else {"gap_bits": gap_bits, "block_size": 2}
    ras = formulation(name).encode(t, **params)
    block = 1 if name == "pq-element" else 2
    g = 1 << ras.meta["gap_bits"]
    assert ras.meta == {"block_size": block, "gap_bits": 8 if gap_bits == "auto" else gap_bits}
    units = reference_tuples(reference_blocks(t, block), g)
    zero = (0,) * block
    dictionary = reference_dictionary([blk or zero for u in units for _, blk in u], t.dtype)
    assert dictionary_blocks(ras) == dictionary
    index = {blk: i for i, blk in enumerate(dictionary)}
    delimiter = g + len(dictionary)
    expected = []
    for j, unit in enumerate(units):
        for gap, blk in unit:
            expected += [gap, g + index[blk or zero]]
        if j + 1 < len(units):
            expected.append(delimiter)
    assert ras.symbols.tolist() == expected
    assert (ras.delimiter, ras.alphabet_size) == (delimiter, delimiter + 1)


def test_pq_gap_defaults_per_layer_kind() -> None:
    pq = formulation("pq-element")
    assert pq.encode(np.ones((2, 3, 1, 1), np.float32)).meta["gap_bits"] == 8
    assert pq.encode(np.ones((2, 3), np.float32)).meta["gap_bits"] == 5


def test_pq_filler_positions_are_exact() -> None:
    """A unit with nonzeros at 0 and 9 and gap_bits=2 (g=4): gap 8 = two fillers + gap 0."""
    t = np.zeros((1, 12), np.float32)
    t[0, 0], t[0, 9] = 1.5, -2.0
    ras = formulation("pq-element").encode(t, gap_bits=2)
    values = ras.arrays["values"].tolist()
    assert values == [-2.0, 0.0, 1.5]
    # (0, 1.5) (3, 0.0) (3, 0.0) (0, -2.0): fillers sit at positions 4 and 8
    assert ras.symbols.tolist() == [0, 4 + 2, 3, 4 + 1, 3, 4 + 1, 0, 4 + 0]


def test_float_split_grammar() -> None:
    t = np.array([[1.0, -2.0, 0.5], [np.inf, -0.0, 3.0]], np.float32)
    ras = formulation("float-split").encode(t)
    bits = bits_of(t)
    high = sorted({int(b) >> 23 for b in bits})
    assert ras.arrays["high"].tolist() == high and ras.meta == {"high_bits": 9}
    assert ras.symbols.tolist() == [high.index(int(b) >> 23) for b in bits[:3]] + [len(high)] + [
        high.index(int(b) >> 23) for b in bits[3:]
    ]
    mantissa = ras.arrays["mantissa"].view(np.uint64)
    stream = int.from_bytes(mantissa.tobytes(), "little")
    for i, b in enumerate(bits):
        assert (stream >> (23 * i)) & ((1 << 23) - 1) == int(b) & ((1 << 23) - 1)
    assert mantissa.size == (6 * 23 + 63) // 64


# -- round trips through every codec --------------------------------------------------------------
def codecs_present() -> list[tuple[str, dict]]:
    names = get_registry().names("codec")
    out = [(n, {}) for n in names]
    if "wavelet-tree" in names:
        out.append(("wavelet-tree", {"shape": "balanced"}))
    return out


def roundtrip(name: str, t: np.ndarray, codec: str, codec_params: dict, **params) -> RAS:
    f = formulation(name)
    ras = f.encode(t, **params)
    c = get_registry().codec(codec)
    seq = c.open(c.encode(ras.symbols, ras.alphabet_size, **codec_params))
    f.check_ras(ras)
    same_bits(f.decode(ras, seq), t)
    n = t.shape[0]
    cuts = sorted({0, n // 3, (2 * n) // 3, n})
    for (start, stop), k0, k1 in zip(group_spans(seq, ras, cuts).tolist(), cuts[:-1], cuts[1:], strict=True):
        same_bits(f.decode_units(ras, seq.extract(start, stop), k0, k1), t[k0:k1])
    return ras


@pytest.mark.parametrize("codec, codec_params", codecs_present(), ids=lambda x: str(x) if x else "")
@pytest.mark.parametrize("name", NEW)
def test_roundtrip_every_codec(name: str, codec: str, codec_params: dict) -> None:
    rng = np.random.default_rng(3)
    for dtype, shape, density in [
        (np.float32, (6, 4, 3, 3), 0.3),
        (np.float16, (5, 13), 1.0),
        (np.float64, (4, 9), 0.05),
        (BFLOAT16, (5, 2, 3, 3), 0.4),
        (np.int8, (3, 2, 2, 2), 0.5),
        (np.bool_, (4, 6), 0.5),
    ]:
        if name == "float-split" and not is_float(np.dtype(dtype)):
            continue
        roundtrip(name, sparse_tensor(rng, dtype, shape, density), codec, codec_params)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(NEW),
    dtype=st.sampled_from(DTYPES),
    shape=st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple),
    density=st.sampled_from([0.0, 0.05, 0.3, 1.0]),
    block=st.sampled_from(["auto", 1, 2, 5]),
    gap_bits=st.sampled_from(["auto", 1, 3]),
    seed=st.integers(0, 2**16),
    codec=st.sampled_from(["raw", "wavelet-tree", "huffman-fast"]),
)
def test_roundtrip_property(name, dtype, shape, density, block, gap_bits, seed, codec) -> None:
    if name == "float-split" and not is_float(np.dtype(dtype)):
        return
    t = sparse_tensor(np.random.default_rng(seed), dtype, shape, density)
    params = {
        "block": {"block_size": block},
        "pq-element": {"gap_bits": gap_bits},
        "pq-block": {"block_size": block, "gap_bits": gap_bits},
        "float-split": {},
    }[name]
    roundtrip(name, t, codec, {}, **params)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", NEW)
def test_special_floats_roundtrip(name: str, dtype: type) -> None:
    special = BF16_SPECIAL if np.dtype(dtype) == BFLOAT16 else SPECIAL_BITS[dtype]
    bits = np.array(special, dtype=UINT[np.dtype(dtype).itemsize])
    t = np.concatenate([bits, bits[::-1]]).view(dtype).reshape(4, -1)
    roundtrip(name, t, "raw", {})


@pytest.mark.parametrize(
    ("dtype", "high_bits"),
    [(np.float32, h) for h in (1, 5, 9, 16, 31, 32)] + [(np.float64, h) for h in (1, 5, 6, 7, 8, 12, 40, 64)],
)
def test_float_split_any_high_bits(dtype: type, high_bits: int) -> None:
    """Every low-part width, with units long enough for the eight-at-a-time merge and unit
    starts at every phase of 8 (low parts of 58-63 bits take the two-word reader)."""
    width = np.dtype(dtype).itemsize
    bits = np.array(SPECIAL_BITS[dtype], dtype=UINT[width])
    noise = np.random.default_rng(4).integers(0, 2**63, 5 * 37 - bits.size, dtype=np.uint64).astype(UINT[width])
    t = np.concatenate([bits, noise]).view(dtype).reshape(5, 37)
    roundtrip("float-split", t, "raw", {}, high_bits=high_bits)


def test_float_split_compresses_unquantized_floats() -> None:
    t = (np.random.default_rng(5).standard_normal((64, 256)) * 0.02).astype(np.float32)
    ras = formulation("float-split").encode(t)
    _, counts = np.unique(ras.symbols, return_counts=True)
    p = counts / counts.sum()
    h0 = float(-(p * np.log2(p)).sum())
    assert h0 < 4  # the sign+exponent byte of Gaussian weights carries a few bits, not 9
    assert ras.arrays["mantissa"].nbytes * 8 == pytest.approx(t.size * 23, abs=64)


# -- bad parameters, bad input, corrupt data -----------------------------------------------------
@pytest.mark.parametrize(
    "name, params, message",
    [
        ("block", {"block_size": 0}, "block_size"),
        ("block", {"block_size": "big"}, "block_size"),
        ("pq-block", {"gap_bits": 17}, "gap_bits"),
        ("pq-element", {"gap_bits": True}, "gap_bits"),
        ("pq-element", {"block_size": 2}, "unknown parameter 'block_size'"),
        ("float-split", {"high_bits": 33}, "high_bits"),
        ("float-split", {"bits": 3}, "unknown parameter 'bits'"),
    ],
)
def test_bad_params_name_the_parameter(name: str, params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        formulation(name).encode(np.ones((2, 4), np.float32), **params)


def test_float_split_refuses_integers() -> None:
    with pytest.raises(ValueError, match="float-split: needs a float tensor"):
        formulation("float-split").encode(np.ones((2, 2), np.int32))


@pytest.mark.parametrize("name", NEW)
def test_zero_d_tensor_refused(name: str) -> None:
    with pytest.raises(ValueError, match="0-d"):
        formulation(name).encode(np.float32(1.0))


@pytest.mark.parametrize("name", NEW)
def test_corrupt_symbols_raise(name: str) -> None:
    t = sparse_tensor(np.random.default_rng(6), np.float32, (4, 2, 3, 3), 0.4)
    f = formulation(name)
    ras = f.encode(t)
    good = ras.symbols
    bad_cases = [good[:-1], np.append(good, good[-1]), np.where(good == ras.delimiter, 0, good)]
    out_of_range = good.copy()
    out_of_range[np.flatnonzero(good != ras.delimiter)[-1]] = ras.delimiter + 1
    bad_cases.append(out_of_range)
    for bad in bad_cases:
        with pytest.raises(CorruptDataError):
            f.decode_units(ras, bad, 0, ras.n_units)


def test_pq_rejects_tuples_past_the_unit() -> None:
    f = formulation("pq-element")
    ras = f.encode(np.ones((2, 3), np.float32), gap_bits=2)
    g = 4
    with pytest.raises(CorruptDataError, match="past the end"):
        f.decode_units(ras, np.array([3, g], np.uint32), 0, 1)  # gap 3 in a 3-weight unit
    with pytest.raises(CorruptDataError, match="gap symbol"):
        f.decode_units(ras, np.array([g, g], np.uint32), 0, 1)
    with pytest.raises(CorruptDataError, match="cut short"):
        f.decode_units(ras, np.array([0], np.uint32), 0, 1)


@pytest.mark.parametrize("name", NEW)
def test_check_ras_rejects_altered_headers(name: str) -> None:
    f = formulation(name)
    ras = f.encode(sparse_tensor(np.random.default_rng(7), np.float32, (4, 6), 0.5))
    f.check_ras(ras)

    def altered(**changes) -> RAS:
        return RAS(**{**ras.__dict__, "symbols": None, **changes})

    first = next(iter(ras.arrays))
    cases = [
        altered(delimiter=ras.delimiter + 1),
        altered(alphabet_size=ras.alphabet_size + 1),
        altered(arrays={k: v for k, v in ras.arrays.items() if k != first}),
        altered(arrays={**ras.arrays, "extra": np.zeros(1, np.uint8)}),
        altered(meta={}),
        altered(arrays={k: (v[:-1] if k == first else v) for k, v in ras.arrays.items()}),
    ]
    if name != "float-split":
        cases.append(altered(arrays={**ras.arrays, "values": ras.arrays["values"].astype(np.float64)}))
    if "blocks" in ras.arrays:
        wild = ras.arrays["blocks"].copy()
        wild[0, 0] = ras.arrays["values"].size
        cases.append(altered(arrays={**ras.arrays, "blocks": wild}))
    if name == "float-split":
        cases.append(altered(meta={"high_bits": 1}))  # patterns wider than 1 bit
        cases.append(altered(dtype="int32"))
    for case in cases:
        with pytest.raises(CorruptDataError):
            f.check_ras(case)


@pytest.mark.parametrize("name", NEW)
def test_unit_range_errors(name: str) -> None:
    f = formulation(name)
    ras = f.encode(np.ones((3, 4), np.float32))
    with pytest.raises(IndexError):
        f.decode_units(ras, ras.symbols, 0, 4)
    empty = f.decode_units(ras, np.empty(0, np.uint32), 2, 2)
    assert empty.shape == (0, 4) and empty.dtype == np.float32


def test_spec_worked_examples() -> None:
    """The worked examples of specs/ras.md, symbol for symbol."""
    t = np.array([[0.5, 0.5, -1.0, 0.5, 0.5], [-1.0, 0.5, 0.5, 0.5, 0.5]], np.float32)
    ras = formulation("block").encode(t, block_size=2)
    assert ras.symbols.tolist() == [2, 0, 1, 3, 0, 2, 1]
    assert ras.arrays["values"].tolist() == [-1.0, 0.0, 0.5]
    assert ras.arrays["blocks"].tolist() == [[0, 2], [2, 1], [2, 2]] and ras.arrays["blocks"].dtype == np.uint8

    t = np.zeros((3, 11), np.float32)
    t[0, 2], t[0, 10], t[2, :2] = 1.5, -0.5, 1.5
    ras = formulation("pq-element").encode(t, gap_bits=2)
    assert ras.symbols.tolist() == [2, 6, 3, 5, 3, 4, 7, 7, 0, 6, 0, 6]
    assert (ras.delimiter, ras.alphabet_size, set(ras.arrays)) == (7, 8, {"values"})
    ras = formulation("pq-block").encode(t, gap_bits=2, block_size=2)
    assert ras.symbols.tolist() == [1, 5, 3, 4, 7, 7, 0, 6]
    assert ras.arrays["blocks"].tolist() == [[0, 1], [2, 1], [2, 2]]

    t = np.array([[1.0, -2.0], [0.75, -0.0]], np.float16)
    ras = formulation("float-split").encode(t)
    assert ras.arrays["high"].tolist() == [14, 15, 32, 48]
    assert ras.symbols.tolist() == [1, 3, 4, 0, 2]
    assert ras.arrays["mantissa"].tolist() == [0x20000000]


def test_float_split_bfloat16_splits_sign_and_exponent() -> None:
    t = np.array([[1.0, -2.0, 0.5], [3.0, -0.0, 1e-40]], np.float32).astype(BFLOAT16)
    ras = formulation("float-split").encode(t)
    assert ras.dtype == "bfloat16" and ras.meta == {"high_bits": 9}
    bits = bits_of(t)
    assert ras.arrays["high"].tolist() == sorted({int(b) >> 7 for b in bits})
    assert ras.arrays["mantissa"].size == (6 * 7 + 63) // 64


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    density=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
    mutations=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 5)), max_size=3),
    cut=st.integers(0, 3),
)
def test_pq_element_fast_path_matches_the_block_loop(density, seed, mutations, cut) -> None:
    """``pq-element``'s own decode loop (``_place_elements``) against the general block loop
    run with one-weight identity blocks: the same status code for valid and corrupted
    symbols, and the same weights when valid."""
    from codecbench.formulations.pq import _decode, _n_entries

    rng = np.random.default_rng(seed)
    ras = formulation("pq-element").encode(sparse_tensor(rng, np.float32, (5, 70), density), gap_bits=3)
    n_entries, g, u, m = _n_entries(ras), 1 << ras.meta["gap_bits"], ras.unit_size, ras.n_units
    # each mutation puts a symbol at a grammar boundary: gaps, entries, delimiter, beyond
    edges = [0, g - 1, g, g + n_entries - 1, ras.delimiter, ras.delimiter + 1]
    symbols = ras.symbols.copy()
    for at, kind in mutations:
        if symbols.size:
            symbols[at % symbols.size] = edges[kind]
    symbols = symbols[: max(0, symbols.size - cut)]
    values = ras.arrays["values"].view("<u4")
    identity_blocks = np.arange(n_entries, dtype=np.int64).reshape(-1, 1)
    fast, slow = np.full(m * u, 7, np.uint32), np.full(m * u, 9, np.uint32)
    got = _decode(symbols, values, identity_blocks, True, g, n_entries, ras.delimiter, u, 1, m, fast)
    want = _decode(symbols, values, identity_blocks, False, g, n_entries, ras.delimiter, u, 1, m, slow)
    assert got == want
    if want == 0:
        assert fast.tobytes() == slow.tobytes()

"""``pq-joint``: pq-element's tuples, one symbol each (specs/ras.md). The contract is checked by
the conformance suite (tests/test_conformance_builtin.py); here, the spec's example, the
tuples against pq-element's own, and the limits of the joint symbol."""

from __future__ import annotations

import numpy as np
import pytest

from codecbench.errors import CorruptDataError
from codecbench.registry import get_registry


def formulation(name: str):  # noqa: ANN201
    return get_registry().formulation(name)


def test_spec_example() -> None:
    t = np.zeros((3, 11), np.float32)
    t[0, 2], t[0, 10], t[2, 0], t[2, 1] = 1.5, -0.5, 1.5, 1.5
    ras = formulation("pq-joint").encode(t, gap_bits=2)
    assert ras.symbols.tolist() == [10, 13, 12, 16, 16, 2, 2]
    assert (ras.delimiter, ras.alphabet_size) == (16, 17)
    assert ras.meta == {"block_size": 1, "gap_bits": 2, "entry_bits": 2}
    assert ras.arrays["values"].tolist() == [-0.5, 0.0, 1.5]


@pytest.mark.parametrize("seed", range(4))
def test_the_tuples_are_pq_elements(seed: int) -> None:
    """Split each joint symbol into (gap, entry): pq-element's symbols with the same gap width."""
    rng = np.random.default_rng(seed)
    t = rng.choice(np.float32([-2, -1, -0.0, 0.5, 3]), size=(9, 300)) * (rng.random((9, 300)) < 0.1)
    t[4] = 0
    joint = formulation("pq-joint").encode(t, gap_bits=3)
    split = formulation("pq-element").encode(t, gap_bits=3)
    assert joint.arrays["values"].tobytes() == split.arrays["values"].tobytes()
    e, g = joint.meta["entry_bits"], 1 << 3
    expanded = []
    for s in joint.symbols.tolist():
        expanded += [split.delimiter] if s == joint.delimiter else [s >> e, g + (s & ((1 << e) - 1))]
    assert expanded == split.symbols.tolist()


def test_auto_gap_bits_narrow_to_fit_16_bits() -> None:
    t = np.arange(1, 301, dtype=np.float32).reshape(3, 10, 10)  # 300 values: 9 entry bits
    ras = formulation("pq-joint").encode(t)
    assert ras.meta == {"block_size": 1, "gap_bits": 6, "entry_bits": 9}  # conv default 8, capped at 15 - 9
    assert ras.alphabet_size == 2**15 + 1
    assert formulation("pq-joint").encode(np.zeros((2, 5), np.float32)).meta["entry_bits"] == 0


def test_limits_are_one_line_errors() -> None:
    many = np.arange(1, 2**14 + 1, dtype=np.float32).reshape(16, -1)
    with pytest.raises(ValueError, match="pq-joint: 16384 distinct nonzero values need 15 entry bits.*use pq-element"):
        formulation("pq-joint").encode(many)
    few = np.arange(1, 9, dtype=np.float32).reshape(2, 4)  # 8 values: 4 entry bits
    with pytest.raises(ValueError, match=r"gap_bits must be 'auto' or an integer in \[1, 11\]"):
        formulation("pq-joint").encode(few, gap_bits=12)


def test_a_symbol_beyond_the_delimiter_is_corrupt() -> None:
    f = formulation("pq-joint")
    t = np.zeros((2, 6), np.float32)
    t[0, 1] = 1.0
    ras = f.encode(t, gap_bits=2)
    out = np.empty(12, np.float32)
    bad = ras.symbols.copy()
    bad[0] = ras.delimiter + 1
    with pytest.raises(CorruptDataError, match="pq-joint: a symbol lies outside the alphabet"):
        f.decode_units_into(ras, bad, 0, 2, out)
    gap3 = 3 << ras.meta["entry_bits"]  # (3, values[0]) twice: positions 3, then 7 of a 6-weight unit
    bad = np.array([gap3, gap3, ras.delimiter], np.uint32)
    with pytest.raises(CorruptDataError, match="pq-joint: a tuple places a weight past the end of its unit"):
        f.decode_units_into(ras, bad, 0, 2, out)

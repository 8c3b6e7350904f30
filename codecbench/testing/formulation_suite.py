"""``FormulationConformance``: the tests every formulation, built-in or plugin, runs against its contract.

Subclass it in a test module::

    from codecbench.testing import FormulationConformance

    class TestBlock(FormulationConformance):
        formulation_name = "block"
        shapes = [(6, 3, 3, 3), (5, 40)]          # or override make_tensors()

What is checked, on every tensor of :meth:`make_tensors` (and on hypothesis-drawn ones from
:meth:`random_tensor`):

- the registry knows the formulation; unknown parameters raise ``ValueError`` naming them;
  what :meth:`rejected_tensors` lists raises ``ValueError``;
- the RAS is well formed: uint32 symbols below ``alphabet_size``, exactly ``n_units - 1``
  delimiters, ``shape``/``dtype``/``n_units`` those of the tensor, arrays of storable dtypes,
  JSON-only ``meta``;
- ``decode_units`` over unit ranges (every range for small tensors, a sample otherwise, empty
  ranges included) is bit-exact (bytes compared), with spans found by a naive delimiter scan;
  so is the whole tensor through a codec and :func:`~codecbench.formulations.base.group_spans`;
- a store chunk round trip, and ``check_ras`` accepting what was stored but rejecting altered
  headers (:meth:`ras_alterations`);
- ``decode_units`` errors: ``IndexError`` for bad unit ranges; ``CorruptDataError`` for symbols
  that cannot be the units (outside the alphabet, a delimiter missing or extra, and, when
  :attr:`fixed_unit_length`, a symbol missing or extra).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, ClassVar

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codecbench.dtypes import dtype_of, is_float
from codecbench.errors import CorruptDataError
from codecbench.store.chunk import ALLOWED_DTYPES

# a dtype of the same width, to reinterpret an array as something a formulation never writes
_OTHER_DTYPE = {
    "float16": "int16",
    "float32": "int32",
    "float64": "int64",
    "int8": "uint8",
    "int16": "float16",
    "int32": "float32",
    "int64": "float64",
    "uint8": "int8",
    "uint16": "int16",
    "uint32": "int32",
    "uint64": "int64",
    "bool": "uint8",
}


def unit_spans_naive(ras: Any) -> list[tuple[int, int]]:
    """``[start, stop)`` of every unit's symbols, by scanning for the delimiter (no codec, no select)."""
    symbols = np.asarray(ras.symbols)
    delimiters = np.flatnonzero(symbols == ras.delimiter)
    bounds = [-1, *delimiters.tolist(), symbols.size]
    return [(bounds[k] + 1, bounds[k + 1]) for k in range(len(bounds) - 1)]


class FormulationConformance:
    """Base class of a formulation's conformance tests. Set :attr:`formulation_name`."""

    #: the registered name of the formulation under test (required)
    formulation_name: ClassVar[str] = ""
    #: the distribution that must have registered it; None: any
    distribution: ClassVar[str | None] = None
    #: encode parameters every check uses
    params: ClassVar[dict[str, Any]] = {}
    #: the default :meth:`make_tensors` crosses these dtypes and shapes
    dtypes: ClassVar[list[str]] = ["float32", "float16", "float64", "int8", "uint8"]
    shapes: ClassVar[list[tuple[int, ...]]] = [(7,), (5, 3), (4, 3, 3, 3), (1, 1), (1, 9), (9, 1)]
    #: distinct values per tensor in the default generators (a weight-shared tensor's levels)
    levels: ClassVar[int] = 12
    #: codec used to store RAS symbols in the sequence and chunk checks
    codec_name: ClassVar[str] = "raw"
    #: every unit has a length fixed by the header, so a symbol missing or extra is detectable
    fixed_unit_length: ClassVar[bool] = True
    #: hypothesis examples of :meth:`random_tensor`
    max_examples: ClassVar[int] = 15

    # ------------------------------------------------------------------ hooks

    def registry(self) -> Any:
        from codecbench.registry import get_registry

        return get_registry()

    def formulation(self) -> Any:
        if not self.formulation_name:
            raise TypeError(f"{type(self).__name__} must set formulation_name")
        return self.registry().formulation(self.formulation_name)

    def random_tensor(self, rng: np.random.Generator, shape: tuple[int, ...] | None = None, dtype: str | None = None):
        """A tensor this formulation must represent: ``levels`` distinct values (with ``-0.0`` for
        floats). Override for formulations with other needs (pruned tensors, raw floats, ...)."""
        if shape is None:
            ndim = int(rng.integers(1, 5))
            shape = tuple(int(d) for d in rng.integers(1, 6, size=ndim))
        dtype = dtype_of(dtype or self.dtypes[int(rng.integers(0, len(self.dtypes)))])
        size = int(np.prod(shape))
        if is_float(dtype):
            levels = (rng.integers(-self.levels // 2, self.levels // 2 + 1, size=self.levels) * 0.0625).astype(dtype)
            flat = levels[rng.integers(0, levels.size, size=size)]
            if size > 2:
                flat[int(rng.integers(0, size))] = -0.0
        elif dtype.kind == "b":
            flat = rng.integers(0, 2, size=size).astype(dtype)
        else:
            info = np.iinfo(dtype)
            levels = rng.integers(int(info.min), int(info.max) + 1, size=self.levels, dtype=np.int64)
            flat = levels[rng.integers(0, levels.size, size=size)].astype(dtype)
        return flat.reshape(shape)

    def make_tensors(self) -> dict[str, np.ndarray]:
        """Named tensors every check runs on. Default: :attr:`dtypes` x :attr:`shapes`."""
        rng = np.random.default_rng(2024)
        return {
            f"{dtype}-{'x'.join(map(str, shape))}": self.random_tensor(rng, shape, dtype)
            for dtype in self.dtypes
            for shape in self.shapes
        }

    def rejected_tensors(self) -> dict[str, np.ndarray]:
        """Tensors ``encode`` must refuse with ``ValueError``. Default: a 0-d tensor."""
        return {"0-d": np.array(1.5, dtype=np.float32)}

    def ras_alterations(self, ras: Any) -> dict[str, Any]:
        """Headers (RAS without symbols) this formulation could not have written; ``check_ras``
        must reject each with ``CorruptDataError``. Override to add or drop cases."""
        cases: dict[str, Any] = {"alphabet_size+1": dataclasses.replace(ras, alphabet_size=ras.alphabet_size + 1)}
        if ras.alphabet_size > 1:
            moved = (ras.delimiter + 1) % ras.alphabet_size
            cases["delimiter-moved"] = dataclasses.replace(ras, delimiter=moved)
        other = _OTHER_DTYPE.get(ras.dtype)
        if other:
            cases[f"dtype-{other}"] = dataclasses.replace(ras, dtype=other)
        cases["array-added"] = dataclasses.replace(
            ras, arrays={**ras.arrays, "zz_not_written_by_anyone": np.zeros(3, dtype=np.uint8)}
        )
        for name, arr in ras.arrays.items():
            rest = {k: v for k, v in ras.arrays.items() if k != name}
            cases[f"array-removed:{name}"] = dataclasses.replace(ras, arrays=rest)
            if arr.size:
                empty = np.empty((0, *arr.shape[1:]), dtype=arr.dtype)
                cases[f"array-emptied:{name}"] = dataclasses.replace(ras, arrays={**ras.arrays, name: empty})
            swapped = _OTHER_DTYPE.get(arr.dtype.name)
            if swapped:
                view = np.ascontiguousarray(arr).view(swapped)
                cases[f"array-dtype:{name}"] = dataclasses.replace(ras, arrays={**ras.arrays, name: view})
        return cases

    # ------------------------------------------------------------------ checks

    def encode(self, tensor: np.ndarray) -> Any:
        return self.formulation().encode(tensor, **self.params)

    def check_tensor(self, label: str, tensor: np.ndarray) -> None:
        """The RAS of ``tensor`` is well formed and every checked unit range decodes bit-exactly."""
        formulation = self.formulation()
        ras = formulation.encode(tensor, **self.params)
        self.check_ras_shape(label, tensor, ras)
        spans = unit_spans_naive(ras)
        n = ras.n_units
        ranges = {(0, n), (0, 0), (n, n)}
        if n <= 6:
            ranges.update((a, b) for a in range(n + 1) for b in range(a, n + 1))
        else:
            rng = np.random.default_rng(n)
            ranges.update({(0, 1), (n - 1, n), (1, n - 1), (n // 2, n // 2 + 1)})
            ranges.update(tuple(sorted(rng.integers(0, n + 1, size=2).tolist())) for _ in range(8))
        for k0, k1 in sorted(ranges):
            start = spans[k0][0] if k0 < n else ras.symbols.size
            stop = spans[k1 - 1][1] if k1 > k0 else start
            got = formulation.decode_units(ras, ras.symbols[start:stop], k0, k1)
            want = tensor[k0:k1]
            assert got.shape == want.shape, f"{label}: units [{k0}, {k1}) shape {got.shape} != {want.shape}"
            assert got.dtype == want.dtype, f"{label}: units [{k0}, {k1}) dtype {got.dtype} != {want.dtype}"
            assert got.tobytes() == want.tobytes(), f"{label}: units [{k0}, {k1}) differ"

    def check_ras_shape(self, label: str, tensor: np.ndarray, ras: Any) -> None:
        symbols = ras.symbols
        assert isinstance(symbols, np.ndarray) and symbols.dtype == np.uint32 and symbols.ndim == 1, label
        assert tuple(ras.shape) == tensor.shape, f"{label}: RAS shape {ras.shape}"
        assert ras.dtype == tensor.dtype.name, f"{label}: RAS dtype {ras.dtype}"
        assert ras.n_units == tensor.shape[0], f"{label}: n_units {ras.n_units}"
        assert 1 <= ras.alphabet_size <= 2**32 and 0 <= ras.delimiter < ras.alphabet_size, label
        if symbols.size:
            assert int(symbols.max()) < ras.alphabet_size, f"{label}: a symbol is outside the alphabet"
        delimiters = int(np.count_nonzero(symbols == ras.delimiter))
        assert delimiters == max(ras.n_units - 1, 0), f"{label}: {delimiters} delimiters for {ras.n_units} units"
        for name, arr in ras.arrays.items():
            assert isinstance(name, str) and isinstance(arr, np.ndarray), f"{label}: array {name!r}"
            assert arr.dtype.name in ALLOWED_DTYPES, f"{label}: array {name!r} has dtype {arr.dtype} (not storable)"
        json.dumps(ras.meta, allow_nan=False)  # JSON scalars only: a store holds nothing else

    def test_registered(self) -> None:
        """The registry knows the formulation by its name (from the declared distribution)."""
        registry = self.registry()
        assert self.formulation_name in registry.names("formulation")
        entry = registry.entry("formulation", self.formulation_name)
        if self.distribution is not None:
            assert entry.distribution == self.distribution, f"registered by {entry.source}"
        assert self.formulation().name == self.formulation_name

    def test_unknown_parameter_is_named(self) -> None:
        tensor = next(iter(self.make_tensors().values()))
        with pytest.raises(ValueError, match="no_such_parameter_xyz"):
            self.formulation().encode(tensor, **self.params, no_such_parameter_xyz=1)

    def test_rejects_unrepresentable_tensors(self) -> None:
        for label, tensor in self.rejected_tensors().items():
            with pytest.raises(ValueError):
                self.encode(tensor)
            assert label

    def test_units_round_trip(self) -> None:
        """Every tensor of :meth:`make_tensors`: unit ranges decode bit-exactly."""
        tensors = self.make_tensors()
        assert tensors, "make_tensors() returned nothing"
        for label, tensor in tensors.items():
            self.check_tensor(label, tensor)

    def test_random_tensors(self) -> None:
        """Hypothesis-seeded tensors from :meth:`random_tensor` decode bit-exactly."""

        @settings(
            max_examples=self.max_examples,
            deadline=None,
            database=None,
            report_multiple_bugs=False,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(seed=st.integers(0, 2**32 - 1))
        def run(seed: int) -> None:
            tensor = self.random_tensor(np.random.default_rng(seed))
            self.check_tensor(f"seed {seed}", tensor)

        run()

    def test_through_codec_and_group_spans(self) -> None:
        """Symbols stored by :attr:`codec_name`; groups found by ``group_spans`` decode bit-exactly,
        and so does ``Formulation.decode`` of the whole tensor."""
        from codecbench.formulations.base import group_spans

        codec = self.registry().codec(self.codec_name)
        formulation = self.formulation()
        for label, tensor in self.make_tensors().items():
            ras = formulation.encode(tensor, **self.params)
            seq = codec.open(codec.encode(ras.symbols, ras.alphabet_size))
            whole = formulation.decode(ras, seq)
            assert whole.tobytes() == tensor.tobytes() and whole.shape == tensor.shape, label
            n = ras.n_units
            cuts = sorted({0, n, n // 3, (2 * n) // 3, 1 if n > 1 else n})
            spans = group_spans(seq, ras, cuts)
            for (k0, k1), (start, stop) in zip(zip(cuts[:-1], cuts[1:], strict=True), spans.tolist(), strict=True):
                got = formulation.decode_units(ras, seq.extract(start, stop), k0, k1)
                assert got.tobytes() == tensor[k0:k1].tobytes(), f"{label}: group [{k0}, {k1})"

    def test_store_chunk_and_check_ras(self) -> None:
        """A store chunk round trip is bit-exact; ``check_ras`` accepts the stored header and
        rejects every alteration of :meth:`ras_alterations`."""
        from codecbench.store.chunk import decode_chunk, encode_chunk, parse_chunk

        formulation = self.formulation()
        for label, tensor in self.make_tensors().items():
            blob = encode_chunk(tensor, self.formulation_name, self.codec_name, formulation_params=self.params)
            decoded = decode_chunk(blob)
            assert decoded.tobytes() == tensor.tobytes() and decoded.shape == tensor.shape, label
            parsed = parse_chunk(blob)
            formulation.check_ras(parsed.ras)
            for what, altered in self.ras_alterations(parsed.ras).items():
                with pytest.raises(CorruptDataError):
                    formulation.check_ras(altered)
                    raise AssertionError(f"{label}: check_ras accepted the altered header {what!r}")

    def test_decode_units_errors(self) -> None:
        """Bad unit ranges raise IndexError; symbols that cannot be the units raise CorruptDataError."""
        formulation = self.formulation()
        for label, tensor in self.make_tensors().items():
            ras = formulation.encode(tensor, **self.params)
            n, symbols = ras.n_units, ras.symbols
            for k0, k1 in ((-1, 0), (0, n + 1), (1, 0), (n, n + 1), (n + 1, n + 1)):
                with pytest.raises(IndexError):
                    formulation.decode_units(ras, symbols, k0, k1)
            for what, bad in self.corrupt_symbols(ras).items():
                with pytest.raises(CorruptDataError):
                    formulation.decode_units(ras, bad, 0, n)
                    raise AssertionError(f"{label}: decode_units accepted symbols with {what}")

    def corrupt_symbols(self, ras: Any) -> dict[str, np.ndarray]:
        """Symbol sequences of all ``n_units`` units that no tensor can have."""
        symbols = np.asarray(ras.symbols, dtype=np.uint32)
        cases: dict[str, np.ndarray] = {}
        inner = np.flatnonzero(symbols != ras.delimiter)
        if inner.size:
            for value in (ras.alphabet_size, 2**32 - 1):
                if value < 2**32:
                    bad = symbols.copy()
                    bad[inner[0]] = value
                    cases[f"symbol {value} outside the alphabet"] = bad
        delimiters = np.flatnonzero(symbols == ras.delimiter)
        if delimiters.size and inner.size:
            bad = symbols.copy()
            bad[delimiters[0]] = symbols[inner[0]]
            cases["a delimiter replaced by a unit symbol"] = bad
        if ras.n_units >= 1 and symbols.size:
            cases["an extra delimiter"] = np.insert(symbols, 0, ras.delimiter).astype(np.uint32)
        if self.fixed_unit_length:
            if symbols.size:
                cases["the last symbol missing"] = symbols[:-1].copy()
            if inner.size:
                cases["an extra symbol"] = np.append(symbols, symbols[inner[-1]]).astype(np.uint32)
        return cases

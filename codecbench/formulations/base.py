"""The formulation contract.

A **formulation** turns one weight tensor into a *Runtime-Accessible Sequence* (RAS) and
turns the symbols of a range of units back into weights.

A *unit* is one slice along axis 0: an output filter of a conv, an output row of a linear
layer. The RAS is ``unit_0 D unit_1 D ... D unit_{n-1}``: the symbols of each unit with one
delimiter symbol ``D`` *between* units (``n - 1`` delimiters). Hence, with ``select`` on
``D``, unit ``k`` starts at ``0`` if ``k == 0`` else ``select(D, k) + 1`` and ends at
``select(D, k + 1)`` if ``k + 1 < n`` else ``len``. :func:`group_spans` does this for a
batch of unit ranges; formulations only define what a unit's symbols mean.

``Formulation`` (stateless):

- ``name``: unique string; ``params``: accepted parameters with their defaults.
- ``encode(tensor, **params) -> RAS``: ``tensor`` is a numpy array with ``ndim >= 1``. A
  tensor the formulation cannot represent raises ``ValueError`` saying why; unknown
  ``params`` raise ``ValueError`` naming the parameter.
- ``decode_units(ras, symbols, k0, k1) -> ndarray``: ``symbols`` is exactly the RAS slice
  from the start of unit ``k0`` to the end of unit ``k1 - 1`` (inner delimiters included);
  returns the weights of units ``[k0, k1)`` as an array of shape
  ``(k1 - k0, *ras.shape[1:])`` and dtype ``ras.dtype``, bit-exact. ``IndexError`` unless
  ``0 <= k0 <= k1 <= ras.n_units``; symbols that cannot be these units (wrong length,
  delimiter out of place, symbol outside the dictionary) raise
  :class:`codecbench.errors.CorruptDataError`.

- ``check_ras(ras)``: raise :class:`codecbench.errors.CorruptDataError` unless a RAS read
  back from a store (header and arrays, no symbols) is one this formulation could have
  written; called once per opened tensor, so ``decode_units`` can trust the header.

``RAS.arrays`` holds the named numpy arrays a formulation needs besides the symbols
(dictionaries, raw side bits); ``RAS.meta`` holds JSON-safe scalars. Both are stored in
the chunk beside the codec payload (``specs/store-format.md``).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from codecbench.errors import CorruptDataError


@dataclass
class RAS:
    """A tensor as symbols plus what turns symbols back into values."""

    symbols: np.ndarray | None  # uint32; None when only the header was read
    alphabet_size: int
    delimiter: int
    n_units: int
    shape: tuple[int, ...]
    dtype: str
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def unit_size(self) -> int:
        return int(np.prod(self.shape[1:], dtype=np.int64))


class Formulation(abc.ABC):
    """Tensor -> RAS and back. See the module docstring."""

    name: ClassVar[str]
    params: ClassVar[dict[str, Any]] = {}

    @abc.abstractmethod
    def encode(self, tensor: np.ndarray, **params: Any) -> RAS: ...

    @abc.abstractmethod
    def decode_units(self, ras: RAS, symbols: np.ndarray, k0: int, k1: int) -> np.ndarray: ...

    def check_ras(self, ras: RAS) -> None:
        """Raise CorruptDataError unless ``ras`` (read back from a store, no symbols) is one
        this formulation could have written. Called once when a tensor is opened."""
        return None  # formulations without header invariants accept any RAS

    def decode(self, ras: RAS, seq: Any) -> np.ndarray:
        """The whole tensor from an opened Sequence."""
        return self.decode_units(ras, seq.extract(0, len(seq)), 0, ras.n_units).reshape(ras.shape)

    def _check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            allowed = ", ".join(sorted(self.params)) or "none"
            raise ValueError(f"formulation {self.name!r}: unknown parameter {unknown[0]!r} (allowed: {allowed})")
        return {**self.params, **params}


def check_unit_range(ras: RAS, k0: int, k1: int) -> tuple[int, int]:
    k0, k1 = int(k0), int(k1)
    if not 0 <= k0 <= k1 <= ras.n_units:
        raise IndexError(f"unit range [{k0}, {k1}) not within [0, {ras.n_units}]")
    return k0, k1


def group_spans(seq: Any, ras: RAS, cuts: Any) -> np.ndarray:
    """Symbol spans of consecutive unit groups, found with one batched ``select`` on ``D``.

    ``cuts`` is strictly ascending unit indices ``[k_0, ..., k_m]``; returns an int64 array of shape
    ``(m, 2)`` with ``[start, stop)`` of the symbols of units ``[k_j, k_{j+1})``.
    """
    cuts = np.asarray(cuts, dtype=np.int64)
    n = ras.n_units
    if cuts.size < 2 or cuts[0] < 0 or cuts[-1] > n or np.any(np.diff(cuts) <= 0):
        raise IndexError(f"unit cuts {cuts.tolist()} not strictly ascending within [0, {n}]")
    inner = cuts[(cuts > 0) & (cuts < n)]
    found = seq.select_many(ras.delimiter, inner) if inner.size else np.empty(0, np.int64)
    pos = dict(zip(inner.tolist(), found.tolist(), strict=True))
    starts = [0 if k == 0 else (len(seq) if k == n else pos[k] + 1) for k in cuts[:-1].tolist()]
    stops = [len(seq) if k == n else (0 if k == 0 else pos[k]) for k in cuts[1:].tolist()]
    spans = np.array([starts, stops], dtype=np.int64).T
    if np.any(spans[:, 1] < spans[:, 0]):
        raise CorruptDataError("delimiters out of order in the symbol sequence")
    return spans

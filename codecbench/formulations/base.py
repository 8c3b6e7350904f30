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
- ``decode_units_into(ras, symbols, k0, k1, out)`` (the executor's hot path): ``symbols``
  is exactly the RAS slice from the start of unit ``k0`` to the end of unit ``k1 - 1`` (inner
  delimiters included); writes the weights of units ``[k0, k1)``, bit-exact, into ``out``, a
  writable C-contiguous 1-D array of ``(k1 - k0) * unit_size`` elements whose itemsize is that
  of ``ras.dtype`` (any dtype of that width: the bit patterns are what is written), so a
  caller can reuse one buffer per group instead of allocating (and page-faulting) a fresh
  array each time. ``IndexError`` unless ``0 <= k0 <= k1 <= ras.n_units``; ``ValueError`` for
  an ``out`` of the wrong size or kind; symbols that cannot be these units (wrong length,
  delimiter out of place, symbol outside the dictionary) raise
  :class:`codecbench.errors.CorruptDataError`, having written nothing outside ``out``.
- ``decode_units(ras, symbols, k0, k1) -> ndarray``: the same weights as a new array of
  shape ``(k1 - k0, *ras.shape[1:])`` and dtype ``ras.dtype``. A formulation implements
  either method; the base class derives the other (a class that implements neither is
  refused when it registers).

- ``check_ras(ras)``: raise :class:`codecbench.errors.CorruptDataError` unless a RAS read
  back from a store (header and arrays, no symbols) is one this formulation could have
  written; called once per opened tensor, so ``decode_units`` can trust the header.
- ``check_symbol_count(ras, n_symbols)`` (after ``check_ras``): raise ``CorruptDataError``
  unless a RAS with this header can have ``n_symbols`` symbols. Called when a tensor is
  opened, before anything is decoded, so a header claiming a huge tensor over a short
  symbol sequence (or the reverse) is rejected before any allocation. The default accepts
  any count; formulations whose symbol count follows from the shape override it.

**Capabilities** (optional; the defaults say "no"):

- ``can_sparse_linear(ras) -> bool`` and ``sparse_linear(ras, symbols, k0, k1, xt, out)``:
  compute ``out[j, b] = sum_c W[k0 + j, c] * xt[c, b]`` for the units ``[k0, k1)`` of a 2-D
  tensor straight from its symbols, without building dense rows (``xt`` is the layer input
  transposed, ``(unit_size, batch)`` float32; ``out`` is ``(k1 - k0, batch)`` float32). The
  executor's opt-in sparse compute uses it; it need not be bit-identical to a dense matmul.
  Errors as for ``decode_units_into``.

``RAS.arrays`` holds the named numpy arrays a formulation needs besides the symbols
(dictionaries, raw side bits); ``RAS.meta`` holds JSON-safe scalars. Both are stored in
the chunk beside the codec payload (``specs/store-format.md``).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from codecbench.dtypes import dtype_of
from codecbench.errors import CorruptDataError, PluginError


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

    def decode_units_into(self, ras: RAS, symbols: np.ndarray, k0: int, k1: int, out: np.ndarray) -> None:
        """Decode units ``[k0, k1)`` into ``out`` (see the module docstring). This default, for
        formulations that implement only :meth:`decode_units`, decodes into a new array and
        copies."""
        weights = self.decode_units(ras, symbols, k0, k1)
        check_out(ras, k0, k1, out)
        out[:] = np.ascontiguousarray(weights).reshape(-1).view(out.dtype)

    def decode_units(self, ras: RAS, symbols: np.ndarray, k0: int, k1: int) -> np.ndarray:
        """Units ``[k0, k1)`` as a new array (see the module docstring). This default, for
        formulations that implement only :meth:`decode_units_into`, allocates and decodes into it."""
        k0, k1 = check_unit_range(ras, k0, k1)
        out = np.empty((k1 - k0) * ras.unit_size, dtype=dtype_of(ras.dtype))
        self.decode_units_into(ras, symbols, k0, k1, out)
        return out.reshape(k1 - k0, *ras.shape[1:])

    def can_sparse_linear(self, ras: RAS) -> bool:
        """Whether :meth:`sparse_linear` computes this tensor (see the module docstring)."""
        return False

    def sparse_linear(self, ras: RAS, symbols: np.ndarray, k0: int, k1: int, xt: np.ndarray, out: np.ndarray) -> None:
        """Rows ``[k0, k1)`` of ``W @ xt`` from the symbols (see the module docstring)."""
        raise NotImplementedError(f"formulation {self.name!r} has no sparse compute")

    def check_ras(self, ras: RAS) -> None:
        """Raise CorruptDataError unless ``ras`` (read back from a store, no symbols) is one
        this formulation could have written. Called once when a tensor is opened."""
        return None  # formulations without header invariants accept any RAS

    def check_symbol_count(self, ras: RAS, n_symbols: int) -> None:
        """Raise CorruptDataError unless a RAS with this (checked) header can have ``n_symbols``
        symbols. Called once when a tensor is opened, before anything is decoded."""
        return None  # formulations that cannot tell accept any count

    def decode(self, ras: RAS, seq: Any) -> np.ndarray:
        """The whole tensor from an opened Sequence."""
        return self.decode_units(ras, seq.extract(0, len(seq)), 0, ras.n_units).reshape(ras.shape)

    def _check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            allowed = ", ".join(sorted(self.params)) or "none"
            raise ValueError(f"formulation {self.name!r}: unknown parameter {unknown[0]!r} (allowed: {allowed})")
        return {**self.params, **params}


def check_formulation_class(cls: type, where: str) -> None:
    """Raise :class:`~codecbench.errors.PluginError` (one line naming the formulation and the
    member) unless ``cls`` has what the contract needs: a string ``name``, callable ``encode``,
    a dict ``params``, and ``decode_units_into`` or ``decode_units`` of its own."""
    label = f"formulation {getattr(cls, 'name', None)!r} ({where})"
    if not callable(getattr(cls, "encode", None)):
        raise PluginError(f"{label}: has no method 'encode'")
    if getattr(cls, "__abstractmethods__", None):
        raise PluginError(f"{label}: does not implement {', '.join(sorted(cls.__abstractmethods__))}")
    if not isinstance(getattr(cls, "params", {}), dict):
        raise PluginError(f"{label}: 'params' must be a dict of parameter defaults")
    if isinstance(cls, type) and issubclass(cls, Formulation):
        own = (
            cls.decode_units_into is not Formulation.decode_units_into
            or cls.decode_units is not Formulation.decode_units
        )
    else:
        own = callable(getattr(cls, "decode_units_into", None)) or callable(getattr(cls, "decode_units", None))
    if not own:
        raise PluginError(f"{label}: implements neither 'decode_units_into' nor 'decode_units'")


def check_exact_count(ras: RAS, n_symbols: int, per_unit: int, name: str) -> None:
    """``n_symbols`` must be ``n * (per_unit + 1) - 1``: ``per_unit`` symbols per unit, delimiters between."""
    expected = max(ras.n_units * (per_unit + 1) - 1, 0)
    if n_symbols != expected:
        raise CorruptDataError(
            f"{name}: {ras.n_units} units of {per_unit} symbols need {expected} symbols, header says {n_symbols}"
        )


def frame_units(unit_symbols: np.ndarray, delimiter: int) -> np.ndarray:
    """The RAS of fixed-length units: ``(n, k)`` symbols per unit joined by one ``delimiter``
    between units (``unit_0 D unit_1 ... D unit_{n-1}``), as a contiguous uint32 array."""
    n, k = unit_symbols.shape
    framed = np.full((n, k + 1), delimiter, dtype=np.uint32)
    framed[:, :k] = unit_symbols
    return np.ascontiguousarray(framed.reshape(-1)[: max(n * (k + 1) - 1, 0)])


def check_unit_range(ras: RAS, k0: int, k1: int) -> tuple[int, int]:
    k0, k1 = int(k0), int(k1)
    if not 0 <= k0 <= k1 <= ras.n_units:
        raise IndexError(f"unit range [{k0}, {k1}) not within [0, {ras.n_units}]")
    return k0, k1


def check_out(ras: RAS, k0: int, k1: int, out: np.ndarray) -> np.ndarray:
    """``out`` as ``decode_units_into`` needs it, else ValueError."""
    need = (k1 - k0) * ras.unit_size
    itemsize = dtype_of(ras.dtype).itemsize
    if (
        not isinstance(out, np.ndarray)
        or out.ndim != 1
        or out.size != need
        or not out.flags.c_contiguous
        or not out.flags.writeable
        or out.dtype.itemsize != itemsize
    ):
        raise ValueError(
            f"out must be a writable C-contiguous 1-D array of {need} elements of {itemsize} "
            f"bytes, got {getattr(out, 'shape', None)} {getattr(out, 'dtype', None)}"
        )
    return out


#: weights per unit group when a caller names no size (4M: 16 MiB of float32)
DEFAULT_GROUP_WEIGHTS = 1 << 22
#: units per group are a multiple of this: torch may reduce a very small output slice in a
#: different order than the whole layer (see :mod:`codecbench.executor.modules`)
UNIT_ALIGN = 64


def unit_groups(
    n_units: int,
    unit_size: int,
    group_weights: int = DEFAULT_GROUP_WEIGHTS,
    unit_align: int = UNIT_ALIGN,
    multiple: int = 1,
) -> list[int]:
    """Cut points ``[0, ..., n_units]`` of unit groups of about ``group_weights`` weights.

    Each group is a multiple of ``unit_align`` units (and of ``multiple``, for grouped convs)
    except that a layer smaller than one aligned group is one group, and a short tail is
    merged into the previous group. A group may exceed ``group_weights`` when ``unit_align``
    units alone do.
    """
    if group_weights < 1 or unit_align < 1:
        raise ValueError("group_weights and unit_align must be >= 1")
    step_unit = unit_align * multiple // np.gcd(unit_align, multiple)
    per_group = max(step_unit, group_weights // max(unit_size, 1) // step_unit * step_unit)
    cuts = list(range(0, n_units, per_group)) + [n_units]
    if len(cuts) > 2 and cuts[-1] - cuts[-2] < unit_align:
        del cuts[-2]
    return cuts


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
    try:
        found = seq.select_many(ras.delimiter, inner) if inner.size else np.empty(0, np.int64)
    except IndexError as exc:  # the cuts are valid, so the sequence lacks delimiters
        raise CorruptDataError(f"fewer delimiters than units in the symbol sequence ({exc})") from None
    pos = dict(zip(inner.tolist(), found.tolist(), strict=True))
    starts = [0 if k == 0 else (len(seq) if k == n else pos[k] + 1) for k in cuts[:-1].tolist()]
    stops = [len(seq) if k == n else (0 if k == 0 else pos[k]) for k in cuts[1:].tolist()]
    spans = np.array([starts, stops], dtype=np.int64).T
    if np.any(spans[:, 1] < spans[:, 0]):
        raise CorruptDataError("delimiters out of order in the symbol sequence")
    return spans

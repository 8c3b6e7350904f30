"""The codec contract.

A **codec** stores a sequence of integer symbols ``s[0..n)`` over the alphabet
``[0, alphabet_size)`` and answers queries directly on its compressed bytes.

``Codec`` (stateless; one instance per use is fine):

- ``name``: unique string; stores and configs refer to the codec by it.
- ``encode(symbols, alphabet_size, **params) -> bytes``: ``symbols`` is a 1-D array of
  unsigned integers, each ``< alphabet_size``; ``alphabet_size >= 1`` and ``<= 2**32``.
  Unknown ``params`` raise ``ValueError`` naming the parameter. The bytes are
  self-describing: ``open`` needs nothing else.
- ``open(buffer) -> Sequence``: ``buffer`` is any object exposing the buffer protocol
  (bytes, memoryview, uint8 numpy array). Zero-copy where possible: the Sequence may keep
  numpy views on ``buffer``, so the caller must not mutate it. Every length and count in
  the bytes is checked against the buffer before use; bytes that do not parse raise
  :class:`codecbench.errors.CorruptDataError`.

``Sequence`` (what ``open`` returns), with ``n = len(seq)`` and ``sigma = seq.alphabet_size``:

- ``access(i)``: ``s[i]``; ``IndexError`` unless ``0 <= i < n``.
- ``rank(c, i)``: occurrences of ``c`` in ``s[0:i)``; ``IndexError`` unless ``0 <= i <= n``;
  ``ValueError`` unless ``0 <= c < sigma``.
- ``select(c, k)``: position of the k-th occurrence of ``c`` (``k >= 1``, as in
  sdsl-lite); ``ValueError`` unless ``0 <= c < sigma``; ``IndexError`` unless
  ``1 <= k <= rank(c, n)`` (the message says how often ``c`` occurs).
- ``select_many(c, ks)``: ``select`` for many ``k`` at once, as an int64 array; the same
  errors. Codecs override it when one pass beats many calls.
- ``extract(start, stop)``: ``s[start:stop)`` as a new uint32 numpy array; ``IndexError``
  unless ``0 <= start <= stop <= n``. This is the executor's hot path.
- ``extract_into(start, stop, out)``: ``s[start:stop)`` written into ``out[:stop - start]``
  (a 1-D C-contiguous writeable uint8, uint16 or uint32 array whose type holds every symbol
  of the alphabet), returned as that view: a whole stream decoded into a narrow buffer the
  caller owns, as a library's ``decompress(..., out=)``. ``ValueError`` naming the problem
  when ``out`` is too short, too narrow for the alphabet, or not such an array; the same
  ``IndexError`` as ``extract``. The default copies ``extract``'s result; codecs override it
  to decode in place (``has_native(seq, "extract_into")``).
- ``nbytes``: bytes of the encoded form the Sequence answers from (payload plus every
  directory), i.e. what it costs to keep this sequence in memory.

- ``access_many(positions)`` / ``rank_many(c, positions)``: the batch forms of ``access`` and
  ``rank`` (any order, repeats allowed), as uint32 / int64 arrays with the single forms'
  errors. The defaults loop over the single calls; codecs override them when one pass beats
  many calls (``has_native(seq, "access_many")`` tells which).

- ``kernel_state()`` (optional; default None): for fused decoding
  (:mod:`codecbench.fused`), the numba-typable tuple the codec module's ``extract_into(state,
  start, stop, out)`` kernel takes to write symbols into a narrow array inside another kernel;
  None when this payload has no such kernel.

Positions and counts are Python ints (or int64 arrays for the batch forms); symbols come
back as uint32. A Sequence that lacks a member of this contract is refused when it is opened
(:func:`open_sequence`), with one line naming the codec and the member.

**Capabilities.** What the core and the benchmark treat differently per codec is declared by
the codec class, never inferred from its name (defaults in brackets):

- ``variants`` [``({},)``]: parameter sets worth measuring as separate columns: the benchmark
  and ``compress --auto`` measure each (``wavelet-tree`` declares both shapes);
- ``decodes_from_start`` [False]: the bytes have no directory and every query decodes from the
  start of the stream (the paper's ``huffman``); the benchmark decodes such a codec's layers
  whole, in one pass, and ``--auto`` leaves it out unless it is named;
- ``slow`` [False]: it runs at pure-Python speed (about 1M symbols/s); the benchmark still
  encodes every layer with it for its size, but times it only on layers up to its
  ``--slow-max-symbols``;
- ``practical_alphabet`` [2**32]: the largest alphabet it handles at a useful speed; the
  benchmark and ``--auto`` skip larger ones, saying why (``encode`` still takes up to 2**32).

:func:`check_codec_class` checks these when a codec registers.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import numpy as np

from codecbench.errors import PluginError

MAX_ALPHABET = 2**32
#: the dtypes ``extract_into`` writes
NARROW_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.uint32))


class Sequence(abc.ABC):
    """A queryable symbol sequence over compressed bytes. See the module docstring."""

    alphabet_size: int

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @property
    @abc.abstractmethod
    def nbytes(self) -> int: ...

    @abc.abstractmethod
    def access(self, i: int) -> int: ...

    @abc.abstractmethod
    def rank(self, c: int, i: int) -> int: ...

    @abc.abstractmethod
    def select(self, c: int, k: int) -> int: ...

    @abc.abstractmethod
    def extract(self, start: int, stop: int) -> np.ndarray: ...

    def select_many(self, c: int, ks: Any) -> np.ndarray:
        return np.array([self.select(c, int(k)) for k in as_positions(ks)], dtype=np.int64)

    def kernel_state(self) -> Any:
        return None

    def extract_into(self, start: int, stop: int, out: np.ndarray) -> np.ndarray:
        start, stop = self._check_range(start, stop)
        view = self._check_out(out, stop - start)
        np.copyto(view, self.extract(start, stop), casting="unsafe")  # _check_out: every symbol fits
        return view

    def access_many(self, positions: Any) -> np.ndarray:
        return np.array([self.access(int(i)) for i in as_positions(positions)], dtype=np.uint32)

    def rank_many(self, c: int, positions: Any) -> np.ndarray:
        return np.array([self.rank(c, int(i)) for i in as_positions(positions)], dtype=np.int64)

    def _check_select_batch(self, c: int, ks: Any) -> tuple[int, np.ndarray]:
        """``select_many`` arguments: (symbol, int64 ks); raises the documented errors for
        a symbol outside the alphabet or any ``k < 1`` (ks beyond the count are the caller's)."""
        c = self._check_symbol(c)
        ks = as_positions(ks)
        if ks.size and int(ks.min()) < 1:
            raise IndexError(f"select({c}, {int(ks.min())}): k must be >= 1")
        return c, ks

    # Argument checks shared by implementations, so every codec raises the same errors.
    def _check_index(self, i: int) -> int:
        i = int(i)
        if not 0 <= i < len(self):
            raise IndexError(f"position {i} out of range [0, {len(self)})")
        return i

    def _check_rank_args(self, c: int, i: int) -> tuple[int, int]:
        c, i = self._check_symbol(c), int(i)
        if not 0 <= i <= len(self):
            raise IndexError(f"rank position {i} out of range [0, {len(self)}]")
        return c, i

    def _check_symbol(self, c: int) -> int:
        c = int(c)
        if not 0 <= c < self.alphabet_size:
            raise ValueError(f"symbol {c} out of alphabet [0, {self.alphabet_size})")
        return c

    def _check_range(self, start: int, stop: int) -> tuple[int, int]:
        start, stop = int(start), int(stop)
        if not 0 <= start <= stop <= len(self):
            raise IndexError(f"extract range [{start}, {stop}) not within [0, {len(self)}]")
        return start, stop

    def _check_out(self, out: Any, size: int) -> np.ndarray:
        """``out[:size]`` once ``out`` is an array ``extract_into`` may write (see the docstring)."""
        if not isinstance(out, np.ndarray) or out.ndim != 1 or out.dtype not in NARROW_DTYPES:
            raise ValueError("extract_into: out must be a 1-D uint8, uint16 or uint32 numpy array")
        if not (out.flags.c_contiguous and out.flags.writeable):
            raise ValueError("extract_into: out must be C-contiguous and writeable")
        if self.alphabet_size - 1 > np.iinfo(out.dtype).max:
            raise ValueError(f"extract_into: {out.dtype} cannot hold the alphabet [0, {self.alphabet_size})")
        if out.size < size:
            raise ValueError(f"extract_into: out holds {out.size} symbols, the range has {size}")
        return out[:size]

    def _select_error(self, c: int, k: int) -> IndexError:
        total = self.rank(c, len(self))
        return IndexError(f"select({c}, {k}): symbol {c} occurs {total} times (k must be in [1, {total}])")


class Codec(abc.ABC):
    """Encodes symbol sequences to bytes and opens bytes as a :class:`Sequence`."""

    name: ClassVar[str]
    #: parameter name -> default; ``encode`` rejects anything else
    params: ClassVar[dict[str, Any]] = {}
    #: capabilities (see the module docstring)
    variants: ClassVar[tuple[dict[str, Any], ...]] = ({},)
    decodes_from_start: ClassVar[bool] = False
    slow: ClassVar[bool] = False
    practical_alphabet: ClassVar[int] = MAX_ALPHABET

    @abc.abstractmethod
    def encode(self, symbols: np.ndarray, alphabet_size: int, **params: Any) -> bytes: ...

    @abc.abstractmethod
    def open(self, buffer: Any) -> Sequence: ...

    def _check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            allowed = ", ".join(sorted(self.params)) or "none"
            raise ValueError(f"codec {self.name!r}: unknown parameter {unknown[0]!r} (allowed: {allowed})")
        return {**self.params, **params}


def check_symbols(symbols: Any, alphabet_size: int) -> np.ndarray:
    """Validate ``encode`` input; returns a contiguous uint32 array."""
    alphabet_size = int(alphabet_size)
    if not 1 <= alphabet_size <= MAX_ALPHABET:
        raise ValueError(f"alphabet_size {alphabet_size} out of range [1, 2**32]")
    arr = np.asarray(symbols)
    if arr.ndim != 1:
        raise ValueError(f"symbols must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"symbols must be integers, got {arr.dtype}")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= alphabet_size:
            raise ValueError(f"symbols span [{lo}, {hi}], outside alphabet [0, {alphabet_size})")
    return np.ascontiguousarray(arr, dtype=np.uint32)


def as_byte_array(buffer: Any) -> np.ndarray:
    """A uint8 view on ``buffer``: no copy unless it is a non-contiguous numpy array."""
    if not isinstance(buffer, np.ndarray):
        return np.frombuffer(buffer, dtype=np.uint8)
    return np.ascontiguousarray(buffer).reshape(-1).view(np.uint8)


def aligned_empty(size: int, align: int = 64) -> np.ndarray:
    """An uninitialised uint8 buffer of ``size`` bytes whose first byte is ``align``-aligned."""
    base = np.empty(size + align, dtype=np.uint8)
    start = (-base.ctypes.data) % align
    return base[start : start + size]


def aligned_copy(data: np.ndarray, align: int = 64) -> np.ndarray:
    """``data`` (uint8) copied into a buffer whose first byte is ``align``-aligned: numba
    kernels read aligned words, and 64 puts 512-bit rank blocks on cache lines."""
    out = aligned_empty(data.size, align)
    out[...] = data
    return out


def as_positions(ks: Any) -> np.ndarray:
    """``ks`` as a 1-D int64 array; values beyond int64 raise IndexError like any bad k."""
    try:
        return np.asarray(ks, dtype=np.int64).ravel()
    except OverflowError:
        raise IndexError("k out of range (beyond int64)") from None


#: what a Sequence must have, beyond being one: checked when a codec's ``open`` returns
SEQUENCE_MEMBERS = ("__len__", "alphabet_size", "nbytes", "access", "rank", "select", "select_many", "extract")
#: capability attributes of a codec class and the types they must have
_CAPABILITIES: dict[str, type | tuple[type, ...]] = {
    "variants": tuple,
    "decodes_from_start": bool,
    "slow": bool,
    "practical_alphabet": int,
}


def check_codec_class(cls: type, where: str) -> None:
    """Raise :class:`~codecbench.errors.PluginError` (one line naming the codec and the member) unless ``cls`` has what
    the codec contract needs: a string ``name``, callable ``encode`` and ``open``, a dict
    ``params`` and well-formed capabilities (every variant a dict over ``params``)."""
    name = getattr(cls, "name", None)
    label = f"codec {name!r} ({where})"
    for member in ("encode", "open"):
        if not callable(getattr(cls, member, None)):
            raise PluginError(f"{label}: has no method {member!r}")
    if getattr(cls, "__abstractmethods__", None):
        raise PluginError(f"{label}: does not implement {', '.join(sorted(cls.__abstractmethods__))}")
    params = getattr(cls, "params", {})
    if not isinstance(params, dict):
        raise PluginError(f"{label}: 'params' must be a dict of parameter defaults")
    for attr, kind in _CAPABILITIES.items():
        value = getattr(cls, attr, None)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise PluginError(f"{label}: capability {attr!r} must be a {kind.__name__}, not {value!r}")
    if not cls.variants or any(not isinstance(v, dict) or set(v) - set(params) for v in cls.variants):
        raise PluginError(f"{label}: 'variants' must be a non-empty tuple of dicts over its params {sorted(params)}")


def check_sequence(seq: Any, codec: str) -> Any:
    """``seq`` if it has every member of the Sequence contract, else ``PluginError`` naming the
    codec and the first missing member (so a plugin's gap fails where it is, not later inside
    a model's forward)."""
    for member in SEQUENCE_MEMBERS:
        try:
            getattr(seq, member)
        except AttributeError:
            raise PluginError(
                f"codec {codec!r}: its open() returned a {type(seq).__name__} without {member!r} "
                "(the Sequence contract, codecbench.codecs.base)"
            ) from None
    return seq


def open_sequence(codec: Codec, buffer: Any) -> Sequence:
    """``codec.open(buffer)``, checked against the Sequence contract (:func:`check_sequence`)."""
    return check_sequence(codec.open(buffer), codec.name)


def has_native(seq: Any, method: str) -> bool:
    """Whether ``seq``'s class overrides ``method`` of :class:`Sequence` (a batch form answered
    in one pass rather than by the default loop over single calls)."""
    own = getattr(type(seq), method, None)
    return own is not None and own is not getattr(Sequence, method, None)

"""Fused decoding: a (formulation, codec) pair's symbols straight into a group's weights.

The plain path is two passes over memory: the codec's ``extract`` writes a uint32 array of the
group's symbols, then the formulation's ``decode_units_into`` reads it back. A fused decoder
runs one numba kernel per group instead: the codec's ``extract_into`` writes a chunk of symbols
(a few thousand, aligned to the codec's blocks) into a small uint16 buffer that stays in L1,
and the formulation's chunk kernel places them at once, its position carried from chunk to
chunk. Nothing the size of the group is written but the weights.

**Contract.** A :class:`FusedDecoder` subclass names its ``formulation`` and ``codec`` and
implements :meth:`~FusedDecoder.applies` (whether this opened tensor can take the fused path:
e.g. the payload has a ``kernel_state``, the alphabet fits uint16) and
:meth:`~FusedDecoder.decode` (the kernel: 0 when the units are decoded, nonzero on any
corruption). Registered through the hook ``codecbench_fused_decoders`` like codecs and
formulations. Results are bit-identical to the plain path; on corruption :func:`decode_span`
redoes the group the plain way, so the error raised is exactly the plain path's (same class,
same message), and nothing is written outside ``out`` either way.

A fused decoder may also compute a linear layer's rows for fast mode: ``computes_linear =
True`` and :meth:`~FusedDecoder.linear` (the rows of ``x @ W.T`` accumulated from the symbols
as the formulation's ``sparse_linear`` does, bit-identical to it; nonzero on any corruption,
and the executor then redoes the group the plain way to raise the plain path's error).

A pair without a fused decoder, and every third-party codec, takes the plain path unchanged.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numba
import numpy as np

from codecbench.errors import PluginError

#: symbols decoded per chunk: one huffman-fast block, 8 KiB of uint16
CHUNK = 4096


class FusedDecoder:
    """Decodes one (formulation, codec) pair's symbols straight into weights."""

    formulation: ClassVar[str]
    codec: ClassVar[str]
    #: the registry's name for it, "formulation/codec" (set for every subclass naming both)
    name: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if isinstance(getattr(cls, "formulation", None), str) and isinstance(getattr(cls, "codec", None), str):
            cls.name = f"{cls.formulation}/{cls.codec}"

    def applies(self, ras: Any, sequence: Any) -> bool:
        """Whether this tensor can take the fused path (else it takes the plain one)."""
        return ras.alphabet_size <= 2**16 and sequence.kernel_state() is not None

    def decode(self, ras: Any, sequence: Any, start: int, stop: int, k0: int, k1: int, out: np.ndarray) -> int:
        """Units ``[k0, k1)``, whose symbols are ``[start, stop)`` of ``sequence``, into ``out``
        (as ``decode_units_into`` takes it); 0, or nonzero when anything is corrupt."""
        raise NotImplementedError

    #: whether :meth:`linear` is implemented (fast mode's fused path)
    computes_linear: ClassVar[bool] = False

    def linear(
        self, ras: Any, sequence: Any, start: int, stop: int, k0: int, k1: int, xt: np.ndarray, out: np.ndarray
    ) -> int:
        """Rows ``[k0, k1)`` of ``x @ W.T`` (``xt``: x transposed, ``(in_features, batch)``
        float32; ``out``: float32 ``(k1 - k0, batch)``) as the formulation's ``sparse_linear``
        computes them from the symbols ``[start, stop)``; 0, or nonzero when anything is corrupt."""
        raise NotImplementedError


def check_fused_class(cls: type, where: str) -> None:
    """Raise PluginError unless ``cls`` names its pair and has ``applies`` and ``decode``."""
    label = f"fused decoder {getattr(cls, 'name', None)!r} ({where})"
    for attr in ("formulation", "codec"):
        if not isinstance(getattr(cls, attr, None), str):
            raise PluginError(f"{label}: needs a string {attr!r}")
    for member in ("applies", "decode"):
        if not callable(getattr(cls, member, None)):
            raise PluginError(f"{label}: has no method {member!r}")


def decode_span(
    ras: Any,
    sequence: Any,
    formulation: Any,
    fused: FusedDecoder | None,
    start: int,
    stop: int,
    k0: int,
    k1: int,
    out: np.ndarray,
    symbols: np.ndarray | None = None,
) -> None:
    """Units ``[k0, k1)``, whose symbols are ``[start, stop)`` of ``sequence``, into ``out``:
    fused when ``fused`` is given, else (and to raise the plain path's own error when the fused
    kernel meets a corruption) ``extract`` (or the ``symbols`` given) then ``decode_units_into``."""
    if fused is not None and fused.decode(ras, sequence, start, stop, k0, k1, out) == 0:
        return
    if symbols is None:
        symbols = sequence.extract(start, stop)
    formulation.decode_units_into(ras, symbols, k0, k1, out)
    if fused is not None:  # the fused kernel saw a corruption the plain path did not: a bug
        raise PluginError(f"fused decoder {fused.name} disagrees with the plain path")


@numba.njit(cache=True, nogil=True, inline="always")
def drive(extract, codec_state, start, stop, scratch, place, place_state) -> int:
    """The fused loop: chunks of ``[start, stop)`` aligned to multiples of ``len(scratch)``, each
    extracted into ``scratch`` and placed (``place(place_state, chunk, offset in the span)``).
    Returns 0, -1 when the codec finds its bits corrupt, or the placement's error code."""
    size = scratch.shape[0]
    a = start
    while a < stop:
        b = min(stop, (a // size + 1) * size)
        if extract(codec_state, a, b, scratch) != 0:
            return -1
        status = place(place_state, scratch[: b - a], a - start)
        if status:
            return status
        a = b
    return 0


def scratch(sequence: Any = None) -> np.ndarray:
    """The L1 buffer for one chunk: ``CHUNK`` symbols, or the sequence's ``block_size`` when that
    is larger (up to 64 Ki), so chunks start on the codec's blocks and take its fast path."""
    size = max(CHUNK, min(getattr(sequence, "block_size", CHUNK), 2**16))
    return np.empty(size, dtype=np.uint16)

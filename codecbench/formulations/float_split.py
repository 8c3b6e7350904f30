"""``float-split``: the high bits of each float (sign and exponent by default) become the
symbol stream; the remaining low (mantissa) bits are stored packed beside it.

Whole float32 values as symbols are nearly all distinct, so element-wise coding inflates
them; their sign+exponent byte carries only a few bits of entropy, and the mantissa is close
to random. Splitting codes what is compressible and stores the rest raw, bit-exactly (NaN
payloads, infinities, ``-0.0`` and subnormals are bit patterns like any other).

RAS: the symbol of a weight is the index of its high bits in ``high`` (the distinct high-bit
patterns, ascending); ``alphabet_size = m + 1``, delimiter ``m``, framing as in ``element``.
``mantissa`` (uint64 words) holds each weight's low ``w - h`` bits in C order, LSB-first.
``specs/ras.md`` is normative.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from codecbench.dtypes import is_float
from codecbench.errors import CorruptDataError
from codecbench.formulations.base import (
    RAS,
    Formulation,
    check_exact_count,
    check_out,
    check_unit_range,
    frame_units,
)
from codecbench.formulations.blocks import native_tensor
from codecbench.hookspecs import hookimpl
from codecbench.succinct.bits import load_u64

#: sign + exponent bits per float dtype
SIGN_EXPONENT_BITS = {"float16": 6, "bfloat16": 9, "float32": 9, "float64": 12}


class FloatSplitFormulation(Formulation):
    name = "float-split"
    params: dict[str, Any] = {"high_bits": "auto"}

    def encode(self, tensor: np.ndarray, **params: Any) -> RAS:
        params = self._check_params(params)
        tensor = native_tensor(tensor, self.name)
        if not is_float(tensor.dtype):
            raise ValueError(f"float-split: needs a float tensor (float16/32/64, bfloat16), got {tensor.dtype}")
        width = 8 * tensor.dtype.itemsize
        high_bits = _resolve_high_bits(tensor.dtype, params["high_bits"])
        low_bits = width - high_bits
        bits = np.ascontiguousarray(tensor).reshape(-1).view(f"<u{tensor.dtype.itemsize}")
        high, inverse = _distinct(bits >> bits.dtype.type(low_bits), high_bits)
        n = tensor.shape[0]
        u = int(np.prod(tensor.shape[1:], dtype=np.int64))
        delimiter = int(high.size)
        mantissa = np.zeros(_words(bits.size, low_bits), dtype=np.uint64)
        if low_bits:
            _pack(bits.astype(np.uint64), low_bits, mantissa)
        return RAS(
            symbols=frame_units(inverse.reshape(n, u), delimiter),
            alphabet_size=delimiter + 1,
            delimiter=delimiter,
            n_units=n,
            shape=tuple(int(d) for d in tensor.shape),
            dtype=tensor.dtype.newbyteorder("=").name,
            arrays={"high": high, "mantissa": mantissa},
            meta={"high_bits": high_bits},
        )

    def check_ras(self, ras: RAS) -> None:
        width = 8 * np.dtype(ras.dtype).itemsize
        if not is_float(np.dtype(ras.dtype)):
            raise CorruptDataError(f"float-split: tensor dtype {ras.dtype} is not a float")
        high_bits = ras.meta.get("high_bits")
        if type(high_bits) is not int or not 1 <= high_bits <= width:
            raise CorruptDataError(f"float-split: meta high_bits {high_bits!r} is not an integer in [1, {width}]")
        if set(ras.arrays) != {"high", "mantissa"}:
            raise CorruptDataError(f"float-split: expects arrays ['high', 'mantissa'], chunk has {sorted(ras.arrays)}")
        high, mantissa = ras.arrays["high"], ras.arrays["mantissa"]
        if high.ndim != 1 or high.dtype != np.dtype(f"<u{width // 8}"):
            raise CorruptDataError(f"float-split: 'high' must be 1-D uint{width}")
        if high.size and int(high.max()) >> high_bits:
            raise CorruptDataError(f"float-split: a 'high' pattern has more than {high_bits} bits")
        n_weights = int(np.prod(ras.shape, dtype=np.int64))
        if mantissa.ndim != 1 or mantissa.dtype != np.uint64 or mantissa.size != _words(n_weights, width - high_bits):
            raise CorruptDataError(
                f"float-split: 'mantissa' must be {_words(n_weights, width - high_bits)} uint64 words "
                f"for {n_weights} weights of {width - high_bits} bits"
            )
        if ras.delimiter != high.size or ras.alphabet_size != high.size + 1:
            raise CorruptDataError(
                f"float-split: {high.size} patterns need delimiter {high.size} and alphabet {high.size + 1}, "
                f"header says {ras.delimiter} and {ras.alphabet_size}"
            )
        if high.size == 0 and n_weights:
            raise CorruptDataError("float-split: a tensor with weights needs a non-empty 'high' dictionary")

    def check_symbol_count(self, ras: RAS, n_symbols: int) -> None:
        check_exact_count(ras, n_symbols, ras.unit_size, self.name)

    def decode_units_into(self, ras: RAS, symbols: np.ndarray, k0: int, k1: int, out: np.ndarray) -> None:
        k0, k1 = check_unit_range(ras, k0, k1)
        check_out(ras, k0, k1, out)
        m, u = k1 - k0, ras.unit_size
        high = ras.arrays["high"]
        if m and symbols.size != m * (u + 1) - 1:
            raise CorruptDataError(
                f"float-split: {m} units of {u} weights need {m * (u + 1) - 1} symbols, got {symbols.size}"
            )
        if m:
            high_shifted, mantissa, low_bits = kernel_args(ras)
            status = place_chunk(
                np.ascontiguousarray(symbols),
                0,
                high_shifted,
                mantissa,
                low_bits,
                ras.delimiter,
                u,
                k0 * u,
                out.view(high.dtype),
            )
            self._raise_for(status, high.size)

    def _raise_for(self, status: int, n_high: int) -> None:
        if status == 1:
            raise CorruptDataError("float-split: delimiter missing between units")
        if status == 2:
            raise CorruptDataError(f"float-split: a symbol lies outside the {n_high}-pattern dictionary")


def kernel_args(ras: RAS) -> tuple[np.ndarray, np.ndarray, int]:
    """What :func:`place_chunk` takes from a RAS: the patterns already shifted into place (as
    the weights' unsigned type), the mantissa words and the low bits per weight."""
    high = ras.arrays["high"]
    low_bits = 8 * high.dtype.itemsize - ras.meta["high_bits"]
    return high << high.dtype.type(low_bits), ras.arrays["mantissa"], low_bits


def _resolve_high_bits(dtype: np.dtype, requested: Any) -> int:
    width = 8 * dtype.itemsize
    if requested == "auto":
        return SIGN_EXPONENT_BITS[dtype.name]
    if type(requested) is not int or not 1 <= requested <= width:
        raise ValueError(f"float-split: high_bits must be 'auto' or an integer in [1, {width}], not {requested!r}")
    return requested


def _distinct(patterns: np.ndarray, high_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct patterns and each one's index: a counting pass when the patterns are
    narrow (the usual sign+exponent case, O(n) instead of a sort), ``np.unique`` otherwise."""
    if high_bits > 16:
        return np.unique(patterns, return_inverse=True)
    present = np.bincount(patterns, minlength=1 << high_bits) > 0
    index = np.cumsum(present, dtype=np.int64) - 1
    return np.flatnonzero(present).astype(patterns.dtype), index[patterns].astype(np.uint32)


def _words(count: int, bits: int) -> int:
    return (count * bits + 63) // 64


@numba.njit(cache=True, nogil=True)
def _pack(bits, width, out):
    """The low ``width`` bits of each value, LSB-first, into ``out`` (zeroed uint64 words)."""
    mask = (np.uint64(1) << np.uint64(width)) - np.uint64(1)  # width < 64: high_bits >= 1
    for i in range(bits.shape[0]):
        value = bits[i] & mask
        at = i * width
        word, shift = at >> 6, np.uint64(at & 63)
        out[word] |= value << shift
        if shift and at % 64 + width > 64:
            out[word + 1] |= value >> (np.uint64(64) - shift)


@numba.njit(cache=True, nogil=True)
def place_chunk(symbols, t0, high_shifted, mantissa, low_bits, delimiter, u, first_weight, out) -> int:
    """Decode a chunk of a span's symbols, the first being symbol ``t0`` of the span (whose
    first unit's first weight is weight ``first_weight`` of the tensor): every unit symbol ``s``
    becomes ``high_shifted[s] | its weight's low bits`` in ``out`` (the span's units, as the
    weights' unsigned type), every ``u + 1``-th symbol must be the delimiter. Returns 0, 1 for a
    misplaced delimiter, 2 for a symbol outside the dictionary. The caller checks the span's
    length; a fused decode calls this once per chunk a codec decodes, the plain decode once.

    The low bits are read as a stream: weight ``k``'s start at bit ``(first_weight + k) *
    low_bits`` of the mantissa section, read with one unaligned 8-byte load (clamped to the
    section's last 8 bytes, where the shift then grows to match); ``low_bits <= 56`` so the 8
    bytes always hold them (float64's 52 included)."""
    top = high_shifted.shape[0] - 1
    mbytes = mantissa.view(np.uint8)
    last = np.uint64(max(mbytes.shape[0] - 8, 0))
    mask = (np.uint64(1) << np.uint64(low_bits)) - np.uint64(1)  # low_bits < 64: high_bits >= 1
    step = np.uint64(low_bits)
    n = symbols.shape[0]
    j, pos = t0 // (u + 1), t0 % (u + 1)
    i = 0
    while i < n:
        if pos == u:  # between units
            if symbols[i] != delimiter:
                return 1
            j += 1
            pos = 0
            i += 1
            continue
        run = min(u - pos, n - i)  # the rest of this unit in this chunk: no branch inside
        k = j * u + pos
        source, target = symbols[i : i + run], out[k : k + run]
        worst = 0  # the largest symbol: checked once per run, so the loop has no branch
        if low_bits:
            at = np.uint64((first_weight + k) * low_bits)
            for r in range(run):
                s = source[r]
                worst = max(worst, s)
                byte = min(at >> np.uint64(3), last)
                low = (load_u64(mbytes, np.int64(byte)) >> (at - np.uint64(8) * byte)) & mask
                target[r] = high_shifted[min(s, top)] | low
                at += step
        else:  # every bit is in the symbol (high_bits = the width): no mantissa section to read
            for r in range(run):
                s = source[r]
                worst = max(worst, s)
                target[r] = high_shifted[min(s, top)]
        if worst > top:
            return 2
        i += run
        pos += run
    return 0


@hookimpl
def codecbench_formulations() -> list[type[Formulation]]:
    return [FloatSplitFormulation]

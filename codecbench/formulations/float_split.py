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

from codecbench.dtypes import dtype_of, is_float
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
from codecbench.succinct.int_vector import groups_of_eight, in_group

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
        dtype = dtype_of(ras.dtype)
        width = 8 * dtype.itemsize
        if not is_float(dtype):
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
    low_bits`` of the mantissa section. Eight weights in a row starting at a multiple of 8 span
    exactly ``low_bits`` bytes, so inside a unit the weights go eight at a time: each one's byte
    offset and shift within its group are the same for every group (hoisted out of the loop),
    one unaligned 8-byte load per weight and no clamp (when ``low_bits <= 57``: 8 bytes from the
    weight's first byte then hold them, float64's 52 included). A unit's first and last few
    weights, and groups within 8 bytes of the section's end, take the clamped one-at-a-time path;
    wider low parts (float64 with ``high_bits < 7``) are read from two words, one at a time.

    Each run's symbols are checked against the dictionary before any of its weights is written,
    so the loops need no clamp, and the common widths (23 low bits: float32; 7: bfloat16) are
    passed as constants so the compiler folds each weight's offset and shift. Measured on AlexNet
    fc6 (37.7M weights, one thread, same process): 91 ms with a clamp and a running maximum in
    the loop, 52 ms checked up front, 42 ms with the width a constant."""
    top = high_shifted.shape[0] - 1
    mbytes = mantissa.view(np.uint8)
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
        if _largest(source) > top:  # checked before anything is written, so the loops index freely
            return 2
        if low_bits > 57:
            _merge_wide_low_bits(source, target, first_weight + k, high_shifted, mantissa, low_bits)
        elif low_bits == 23:  # float32 and bfloat16 with the default split: the widths as constants
            _merge_low_bits(source, target, first_weight + k, high_shifted, mbytes, 23)
        elif low_bits == 7:
            _merge_low_bits(source, target, first_weight + k, high_shifted, mbytes, 7)
        elif low_bits:
            _merge_low_bits(source, target, first_weight + k, high_shifted, mbytes, low_bits)
        else:  # every bit is in the symbol (high_bits = the width): no mantissa section to read
            for r in range(run):
                target[r] = high_shifted[source[r]]
        i += run
        pos += run
    return 0


@numba.njit(cache=True, nogil=True, inline="always")
def _largest(source):
    """The largest symbol of a run (0 if empty): one vectorized pass over a chunk in L1, so the
    merge loops need neither a clamp nor a running maximum (together they doubled its time)."""
    worst = source.dtype.type(0)
    for r in range(source.shape[0]):
        worst = max(worst, source[r])
    return worst


@numba.njit(cache=True, nogil=True, inline="always")
def _merge_low_bits(source, target, w0, high_shifted, mbytes, low_bits):
    """``target[r] = high_shifted[source[r]] | low bits of weight w0 + r``, every symbol already
    checked to index ``high_shifted``."""
    mask = (np.uint64(1) << np.uint64(low_bits)) - np.uint64(1)  # low_bits < 64: high_bits >= 1
    step = np.uint64(low_bits)
    run = source.shape[0]
    head, groups, base = groups_of_eight(w0, run, low_bits, mbytes.shape[0])
    for r in range(head):
        target[r] = high_shifted[source[r]] | _low(mbytes, np.uint64((w0 + r) * low_bits), mask)
    for g in range(groups):
        b = base + g * low_bits
        r0 = head + 8 * g
        for q in range(8):
            target[r0 + q] = high_shifted[source[r0 + q]] | in_group(mbytes, b, q, step, mask)
    body = head + 8 * groups
    for r in range(body, run):
        target[r] = high_shifted[source[r]] | _low(mbytes, np.uint64((w0 + r) * low_bits), mask)


@numba.njit(cache=True, nogil=True)
def _merge_wide_low_bits(source, target, w0, high_shifted, mantissa, low_bits):
    """:func:`_merge_low_bits` for low parts of 58-63 bits, which may span three bytes more than
    8: each read from the two words it touches."""
    mask = (np.uint64(1) << np.uint64(low_bits)) - np.uint64(1)
    for r in range(source.shape[0]):
        at = (w0 + r) * low_bits
        word, shift = at >> 6, np.uint64(at & 63)
        low = mantissa[word] >> shift
        if shift and (at & 63) + low_bits > 64:
            low |= mantissa[word + 1] << (np.uint64(64) - shift)
        target[r] = high_shifted[source[r]] | (low & mask)


@numba.njit(cache=True, nogil=True, inline="always")
def _low(mbytes, at, mask):
    """The low bits starting at bit ``at`` of the section, clamped to its last 8 bytes."""
    last = np.uint64(max(mbytes.shape[0] - 8, 0))
    byte = min(at >> np.uint64(3), last)
    return (load_u64(mbytes, np.int64(byte)) >> (at - np.uint64(8) * byte)) & mask


@hookimpl
def codecbench_formulations() -> list[type[Formulation]]:
    return [FloatSplitFormulation]

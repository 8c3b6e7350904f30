"""``float-split`` fused with ``raw`` and ``huffman-fast``: each chunk of sign+exponent symbols extracted into a small
buffer and merged with the mantissa stream into the weights (:mod:`codecbench.fused`)."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from codecbench.codecs import huffman_fast, raw
from codecbench.formulations import float_split
from codecbench.fused import FusedDecoder, drive, scratch
from codecbench.hookspecs import hookimpl


@numba.njit(cache=True, nogil=True, inline="always")
def _place(state, chunk, offset) -> int:
    high_shifted, mantissa, low_bits, delimiter, u, first_weight, out = state
    return float_split.place_chunk(chunk, offset, high_shifted, mantissa, low_bits, delimiter, u, first_weight, out)


@numba.njit(cache=True, nogil=True)
def _with_raw(codec_state, start, stop, buffer, place_state) -> int:
    return drive(raw.extract_into, codec_state, start, stop, buffer, _place, place_state)


@numba.njit(cache=True, nogil=True)
def _with_huffman_fast(codec_state, start, stop, buffer, place_state) -> int:
    return drive(huffman_fast.extract_into, codec_state, start, stop, buffer, _place, place_state)


class FloatSplitFused(FusedDecoder):
    """Shared by every codec with an ``extract_into``: the subclass names the codec's kernel."""

    formulation = "float-split"
    kernel: Any

    def decode(self, ras: Any, sequence: Any, start: int, stop: int, k0: int, k1: int, out: np.ndarray) -> int:
        m, u = k1 - k0, ras.unit_size
        if m == 0 or stop - start != m * (u + 1) - 1:  # the plain path says why
            return 1
        high_shifted, mantissa, low_bits = float_split.kernel_args(ras)
        view = out.view(high_shifted.dtype)
        state = (high_shifted, mantissa, low_bits, ras.delimiter, u, k0 * u, view)
        return type(self).kernel(sequence.kernel_state(), start, stop, scratch(sequence), state)


class FloatSplitRaw(FloatSplitFused):
    codec = "raw"
    kernel = _with_raw


class FloatSplitHuffmanFast(FloatSplitFused):
    codec = "huffman-fast"
    kernel = _with_huffman_fast


@hookimpl
def codecbench_fused_decoders() -> list[type[FusedDecoder]]:
    return [FloatSplitRaw, FloatSplitHuffmanFast]

"""``pq-element``, ``pq-block`` and ``pq-joint`` fused with ``raw`` and ``huffman-fast``: each chunk of (gap, entry) symbols
extracted into a small buffer and walked at once, the walk's position carried from chunk to
chunk (:mod:`codecbench.fused`)."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from codecbench.codecs import huffman_fast, raw
from codecbench.formulations import pq, pq_joint
from codecbench.fused import FusedDecoder, drive, scratch
from codecbench.hookspecs import hookimpl


@numba.njit(cache=True, nogil=True, inline="always")
def _place(state, chunk, offset) -> int:
    walk, values, blocks, identity, g, n_entries, delimiter, u, block, m, out = state
    return pq.place_chunk(chunk, walk, values, blocks, identity, g, n_entries, delimiter, u, block, m, out)


@numba.njit(cache=True, nogil=True, inline="always")
def _run(extract, codec_state, start, stop, buffer, state) -> int:
    walk, u, m, out = state[0], state[7], state[9], state[10]
    pq.zero_first(out, u, m)
    status = drive(extract, codec_state, start, stop, buffer, _place, state)
    return status if status else pq.end_place(walk, m)


@numba.njit(cache=True, nogil=True)
def _with_raw(codec_state, start, stop, buffer, state) -> int:
    return _run(raw.extract_into, codec_state, start, stop, buffer, state)


@numba.njit(cache=True, nogil=True)
def _with_huffman_fast(codec_state, start, stop, buffer, state) -> int:
    return _run(huffman_fast.extract_into, codec_state, start, stop, buffer, state)


@numba.njit(cache=True, nogil=True, inline="always")
def _add(state, chunk, offset) -> int:
    walk, values, blocks, identity, g, n_entries, delimiter, u, block, m, acc, xt, out = state
    return pq.sparse_chunk(chunk, walk, values, blocks, identity, g, n_entries, delimiter, u, block, m, acc, xt, out)


@numba.njit(cache=True, nogil=True, inline="always")
def _run_linear(extract, codec_state, start, stop, buffer, state) -> int:
    walk, values, blocks, identity, g, n_entries, delimiter, u, block, m, acc, xt, out = state
    acc[:] = 0
    status = drive(extract, codec_state, start, stop, buffer, _add, state)
    return status if status else pq.end_sparse(walk, m, values, blocks, u, block, acc, xt, out)


@numba.njit(cache=True, nogil=True)
def _linear_with_raw(codec_state, start, stop, buffer, state) -> int:
    return _run_linear(raw.extract_into, codec_state, start, stop, buffer, state)


@numba.njit(cache=True, nogil=True)
def _linear_with_huffman_fast(codec_state, start, stop, buffer, state) -> int:
    return _run_linear(huffman_fast.extract_into, codec_state, start, stop, buffer, state)


@numba.njit(cache=True, nogil=True, inline="always")
def _place_joint(state, chunk, offset) -> int:
    walk, values, eb, n_entries, delimiter, u, m, out = state
    return pq_joint.place_chunk(chunk, walk, values, eb, n_entries, delimiter, u, m, out)


@numba.njit(cache=True, nogil=True, inline="always")
def _run_joint(extract, codec_state, start, stop, buffer, state) -> int:
    walk, values, eb, n_entries, delimiter, u, m, out = state
    pq.zero_first(out, u, m)
    status = drive(extract, codec_state, start, stop, buffer, _place_joint, state)
    return status if status else pq_joint.end_place(walk, m)


@numba.njit(cache=True, nogil=True, inline="always")
def _add_joint(state, chunk, offset) -> int:
    walk, values, eb, n_entries, delimiter, u, m, acc, xt, out = state
    return pq_joint.sparse_chunk(chunk, walk, values, eb, n_entries, delimiter, u, m, acc, xt, out)


@numba.njit(cache=True, nogil=True, inline="always")
def _run_joint_linear(extract, codec_state, start, stop, buffer, state) -> int:
    walk, values, eb, n_entries, delimiter, u, m, acc, xt, out = state
    acc[:] = 0
    status = drive(extract, codec_state, start, stop, buffer, _add_joint, state)
    return status if status else pq_joint.end_sparse(walk, m, values, u, acc, xt, out)


@numba.njit(cache=True, nogil=True)
def _joint_with_raw(codec_state, start, stop, buffer, state) -> int:
    return _run_joint(raw.extract_into, codec_state, start, stop, buffer, state)


@numba.njit(cache=True, nogil=True)
def _joint_with_huffman_fast(codec_state, start, stop, buffer, state) -> int:
    return _run_joint(huffman_fast.extract_into, codec_state, start, stop, buffer, state)


@numba.njit(cache=True, nogil=True)
def _joint_linear_with_raw(codec_state, start, stop, buffer, state) -> int:
    return _run_joint_linear(raw.extract_into, codec_state, start, stop, buffer, state)


@numba.njit(cache=True, nogil=True)
def _joint_linear_with_huffman_fast(codec_state, start, stop, buffer, state) -> int:
    return _run_joint_linear(huffman_fast.extract_into, codec_state, start, stop, buffer, state)


class PQFused(FusedDecoder):
    """Shared by both pq formulations and every codec with an ``extract_into``; the kernels
    take the walk's position, then :meth:`grammar`, then the units and their output."""

    kernel: Any
    linear_kernel: Any
    computes_linear = True

    @staticmethod
    def grammar(ras: Any) -> tuple[Any, ...]:
        """What the walk takes from the RAS, value bits first (``pq.walk_args``)."""
        return pq.walk_args(ras)

    def decode(self, ras: Any, sequence: Any, start: int, stop: int, k0: int, k1: int, out: np.ndarray) -> int:
        m = k1 - k0
        if m == 0:
            return 1  # nothing to place: the plain path checks the span is empty
        values, *grammar = self.grammar(ras)
        state = (pq.new_walk(), values, *grammar, m, out.view(values.dtype))
        return type(self).kernel(sequence.kernel_state(), start, stop, scratch(sequence), state)

    def linear(
        self, ras: Any, sequence: Any, start: int, stop: int, k0: int, k1: int, xt: np.ndarray, out: np.ndarray
    ) -> int:
        m = k1 - k0
        if m == 0 or ras.dtype != "float32":
            return 1
        values, *grammar = self.grammar(ras)
        acc = np.empty(xt.shape[1], dtype=np.float32)
        state = (pq.new_walk(), values.view(np.float32), *grammar, m, acc, xt, out)
        return type(self).linear_kernel(sequence.kernel_state(), start, stop, scratch(sequence), state)


class PQElementRaw(PQFused):
    formulation, codec, kernel = "pq-element", "raw", _with_raw
    linear_kernel = _linear_with_raw


class PQBlockRaw(PQFused):
    formulation, codec, kernel = "pq-block", "raw", _with_raw
    linear_kernel = _linear_with_raw


class PQElementHuffmanFast(PQFused):
    formulation, codec, kernel = "pq-element", "huffman-fast", _with_huffman_fast
    linear_kernel = _linear_with_huffman_fast


class PQBlockHuffmanFast(PQFused):
    formulation, codec, kernel = "pq-block", "huffman-fast", _with_huffman_fast
    linear_kernel = _linear_with_huffman_fast


class PQJointFused(PQFused):
    """``pq-joint``: one symbol per tuple, its own walk."""

    @staticmethod
    def grammar(ras: Any) -> tuple[Any, ...]:
        return pq_joint.walk_args(ras)


class PQJointRaw(PQJointFused):
    formulation, codec, kernel = "pq-joint", "raw", _joint_with_raw
    linear_kernel = _joint_linear_with_raw


class PQJointHuffmanFast(PQJointFused):
    formulation, codec, kernel = "pq-joint", "huffman-fast", _joint_with_huffman_fast
    linear_kernel = _joint_linear_with_huffman_fast


@hookimpl
def codecbench_fused_decoders() -> list[type[FusedDecoder]]:
    return [PQElementRaw, PQBlockRaw, PQElementHuffmanFast, PQBlockHuffmanFast, PQJointRaw, PQJointHuffmanFast]

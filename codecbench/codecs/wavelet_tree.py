"""``wavelet-tree``: a level-wise wavelet tree queried in place on its bytes.

Parameters: ``shape`` = ``"huffman"`` (default; canonical Huffman-shaped, about n*H0 bits plus
directories, like sdsl-lite's ``wt_huff``) or ``"balanced"`` (n*ceil(log2 sigma) bits plus
directories, the paper's WT-B, like ``wt_int``); ``max_code_length`` (Huffman shape only,
default 24, raised automatically when the number of distinct symbols needs more).

The byte layout is :mod:`codecbench.succinct.wavelet_tree`'s serialized form, specified in
``specs/wavelet-tree.md``. ``open`` validates it completely (sizes, code table,
directories) before any query runs. Besides the Sequence contract, the opened sequence has
``access_many(positions)`` and ``rank_many(c, positions)``: batch forms that sort the
positions and answer them level by level.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numba
import numpy as np

from codecbench.codecs.base import Codec, Sequence, aligned_copy, as_byte_array, as_positions, check_symbols
from codecbench.errors import CorruptDataError
from codecbench.hookspecs import hookimpl
from codecbench.succinct import wavelet_tree as wt

SHAPES = {"balanced": wt.BALANCED, "huffman": wt.HUFFMAN}
_BATCH = wt.MAX_BATCH  # positions per kernel call: keys pack (position << 24 | index)


class WaveletTreeSequence(Sequence):
    def __init__(self, data: np.ndarray, lay: np.ndarray, sigma: int) -> None:
        self._data = data  # the kernels read it by address (lay[wt.ADDR]): keep it alive
        self._lay = lay
        self._n = int(lay[wt.N])
        self.alphabet_size = sigma
        self._access_at = _BoundKernel.of(wt.access_at, lay, data)
        self._rank_at = _BoundKernel.of(wt.rank_at, lay, data)

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        return int(self._data.size)

    @property
    def shape(self) -> str:
        return "huffman" if self._lay[wt.SHAPE] == wt.HUFFMAN else "balanced"

    @property
    def levels(self) -> int:
        return int(self._lay[wt.LEVELS])

    # access and rank are the latency-critical calls: the kernels check the arguments and
    # answer -1 for a bad one; the documented error is raised here only then.
    def access(self, i: int) -> int:
        try:
            value = self._access_at(i)
        except OverflowError:  # beyond int64: out of range like any other bad position
            value = -1
        if value < 0:
            if value == -1:
                self._check_index(i)  # raises the documented IndexError
            _ok(value)
        return value

    def rank(self, c: int, i: int) -> int:
        try:
            value = self._rank_at(c, i)
        except OverflowError:
            value = -1
        if value < 0:
            if value == -1:
                self._check_rank_args(c, i)  # raises the documented ValueError or IndexError
            _ok(value)
        return value

    def select(self, c: int, k: int) -> int:
        c = self._check_symbol(c)
        k = int(k)
        found = wt.select(self._lay, c, k) if 1 <= k <= len(self) else -1
        if found == -1:
            raise self._select_error(c, k)
        return _ok(found)

    def extract(self, start: int, stop: int) -> np.ndarray:
        start, stop = self._check_range(start, stop)
        out = np.empty(stop - start, dtype=np.uint32)
        _ok(wt.extract(self._lay, start, stop, out))
        return out

    def access_many(self, positions: Any) -> np.ndarray:
        """``s[positions]`` as uint32, in the order given."""
        positions = _positions(positions, len(self))
        out = np.empty(positions.size, dtype=np.uint32)
        for lo in range(0, positions.size, _BATCH):
            _ok(wt.access_many(self._lay, positions[lo : lo + _BATCH], out[lo : lo + _BATCH]))
        return out

    def rank_many(self, c: int, positions: Any) -> np.ndarray:
        """``rank(c, i)`` for every ``i`` in ``positions`` (each in ``[0, n]``), as int64."""
        c = self._check_symbol(c)
        positions = _positions(positions, len(self) + 1)
        out = np.empty(positions.size, dtype=np.int64)
        for lo in range(0, positions.size, _BATCH):
            order, ordered = _sorted(positions[lo : lo + _BATCH])
            got = np.empty(ordered.size, dtype=np.int64)
            _ok(wt.rank_sorted(self._lay, c, ordered, got))
            out[lo + order] = got
        return out


def _sorted(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(original index, position) in ascending position order; one np.sort of packed keys."""
    shift = np.uint64(wt.INDEX_BITS)
    keys = np.sort((positions.astype(np.uint64) << shift) | np.arange(positions.size, dtype=np.uint64))
    return (keys & np.uint64(wt.MAX_BATCH - 1)).astype(np.int64), (keys >> shift).astype(np.int64)


class _BoundKernel(partial):
    """A single-query kernel's compiled entry point with the layout's address bound first.

    Why: numba's dispatcher (argument typing, array unboxing, releasing the GIL) costs more
    than a query; the entry point of the all-int64 signature skips all that, and integers
    are the cheapest arguments to convert. The kernel reads the layout and the buffer by
    address, so the bound call keeps both arrays alive itself (``owners``)."""

    owners: tuple[np.ndarray, ...]

    @classmethod
    def of(cls, kernel: Any, lay: np.ndarray, data: np.ndarray) -> _BoundKernel:
        n_args = kernel.py_func.__code__.co_argcount
        bound = cls(kernel.compile((numba.int64,) * n_args), lay.ctypes.data)
        bound.owners = (lay, data)
        return bound


def _ok(value: int) -> int:
    if value < 0:
        raise CorruptDataError("wavelet-tree: bits contradict the tree's shape")
    return int(value)


def _positions(positions: Any, bound: int) -> np.ndarray:
    arr = as_positions(positions)
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= bound):
        raise IndexError(f"positions must lie in [0, {bound})")
    return arr


class WaveletTreeCodec(Codec):
    name = "wavelet-tree"
    params: dict[str, Any] = {"shape": "huffman", "max_code_length": 24}
    variants = ({"shape": "huffman"}, {"shape": "balanced"})  # WT-H, and the paper's WT-B

    def encode(self, symbols: np.ndarray, alphabet_size: int, **params: Any) -> bytes:
        p = self._check_params(params)
        if not isinstance(p["shape"], str) or p["shape"] not in SHAPES:
            raise ValueError(f"wavelet-tree: parameter 'shape' must be 'huffman' or 'balanced', not {p['shape']!r}")
        length = p["max_code_length"]
        if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= 32:
            raise ValueError(f"wavelet-tree: parameter 'max_code_length' must be an integer in [1, 32], not {length!r}")
        values = check_symbols(symbols, alphabet_size)
        if values.size > wt.MAX_SYMBOLS:
            raise ValueError(f"wavelet-tree: at most {wt.MAX_SYMBOLS} symbols per sequence, got {values.size}")
        return wt.build(values, int(alphabet_size), SHAPES[p["shape"]], length)

    def open(self, buffer: Any) -> WaveletTreeSequence:
        data = as_byte_array(buffer)
        if data.ctypes.data % 64:  # one copy, so every 512-bit rank block is one cache line
            data = aligned_copy(data)
        data, lay = wt.load(data)
        sigma = int(wt.HEADER.unpack(data)[2])
        return WaveletTreeSequence(data, lay, sigma)


@hookimpl
def codecbench_codecs() -> list[type[Codec]]:
    return [WaveletTreeCodec]

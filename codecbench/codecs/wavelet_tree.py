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

from typing import Any

import numpy as np

from codecbench.codecs.base import Codec, Sequence, aligned_copy, as_byte_array, as_positions, check_symbols
from codecbench.errors import CorruptDataError
from codecbench.hookspecs import hookimpl
from codecbench.succinct import wavelet_tree as wt

SHAPES = {"balanced": wt.BALANCED, "huffman": wt.HUFFMAN}
_BATCH = 1 << 24  # positions sorted per batch as (position << 24 | index) keys


class WaveletTreeSequence(Sequence):
    def __init__(self, data: np.ndarray, lay: np.ndarray, sigma: int) -> None:
        self._data = data
        self._lay = lay
        self._n = int(lay[wt.N])
        self.alphabet_size = sigma

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

    # access and rank check their arguments inline: they are the latency-critical calls
    def access(self, i: int) -> int:
        i = int(i)
        if not 0 <= i < self._n:
            raise IndexError(f"position {i} out of range [0, {self._n})")
        value = wt.access(self._data, self._lay, i)
        return value if value >= 0 else _ok(value)

    def rank(self, c: int, i: int) -> int:
        c, i = int(c), int(i)
        if not (0 <= c < self.alphabet_size and 0 <= i <= self._n):
            self._check_rank_args(c, i)  # raises the documented error
        value = wt.rank(self._data, self._lay, c, i)
        return value if value >= 0 else _ok(value)

    def select(self, c: int, k: int) -> int:
        c = self._check_symbol(c)
        k = int(k)
        found = wt.select(self._data, self._lay, c, k) if 1 <= k <= len(self) else -1
        if found == -1:
            raise self._select_error(c, k)
        return _ok(found)

    def extract(self, start: int, stop: int) -> np.ndarray:
        start, stop = self._check_range(start, stop)
        out = np.empty(stop - start, dtype=np.uint32)
        _ok(wt.extract(self._data, self._lay, start, stop, out))
        return out

    def access_many(self, positions: Any) -> np.ndarray:
        """``s[positions]`` as uint32, in the order given."""
        positions = _positions(positions, len(self))
        out = np.empty(positions.size, dtype=np.uint32)
        for lo in range(0, positions.size, _BATCH):
            order, ordered = _sorted(positions[lo : lo + _BATCH])
            _ok(wt.access_sorted(self._data, self._lay, ordered, order, out[lo : lo + _BATCH]))
        return out

    def rank_many(self, c: int, positions: Any) -> np.ndarray:
        """``rank(c, i)`` for every ``i`` in ``positions`` (each in ``[0, n]``), as int64."""
        c = self._check_symbol(c)
        positions = _positions(positions, len(self) + 1)
        out = np.empty(positions.size, dtype=np.int64)
        for lo in range(0, positions.size, _BATCH):
            order, ordered = _sorted(positions[lo : lo + _BATCH])
            got = np.empty(ordered.size, dtype=np.int64)
            _ok(wt.rank_sorted(self._data, self._lay, c, ordered, got))
            out[lo + order] = got
        return out


def _sorted(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(original index, position) in ascending position order; one np.sort of packed keys."""
    keys = np.sort((positions.astype(np.uint64) << np.uint64(24)) | np.arange(positions.size, dtype=np.uint64))
    return (keys & np.uint64(_BATCH - 1)).astype(np.int64), (keys >> np.uint64(24)).astype(np.int64)


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
        sigma = int(wt.HEADER.unpack_from(data, 0)[4])
        return WaveletTreeSequence(data, lay, sigma)


@hookimpl
def codecbench_codecs() -> list[type[Codec]]:
    return [WaveletTreeCodec]

"""``raw``: symbols bit-packed at ``ceil(log2 alphabet_size)`` bits, the uncompressed reference.

Byte layout (all little-endian; ``specs/codec-raw.md`` is normative)::

    0   8  magic b"CBRAW\\0\\0\\0"
    8   4  u32 layout version (1)
    12  4  u32 width w (bits per symbol, 1..32, equal to max(1, ceil(log2 sigma)))
    16  8  u64 n (number of symbols)
    24  8  u64 sigma (alphabet size)
    32  .  ceil(n*w/64) u64 words, symbol i in bits [i*w, (i+1)*w)

No directories: ``rank`` and ``select`` scan the packed words (one numba pass; ``select_many``
answers a whole batch in one pass).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from codecbench.codecs.base import Codec, Sequence, aligned_copy, as_byte_array, check_symbols
from codecbench.hookspecs import hookimpl
from codecbench.succinct import int_vector
from codecbench.succinct.container import Header

#: width, n, sigma after the magic and version
HEADER = Header("raw", b"CBRAW\0\0\0", 1, "IQQ")


class RawSequence(Sequence):
    """Queries over a packed ``int_vector``."""

    def __init__(self, words: np.ndarray, width: int, n: int, alphabet_size: int, nbytes: int) -> None:
        self._words = words
        self._width = width
        self._n = n
        self.alphabet_size = alphabet_size
        self._nbytes = nbytes

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        return self._nbytes

    @property
    def width(self) -> int:
        return self._width

    def access(self, i: int) -> int:
        return int_vector.get(self._words, self._width, self._check_index(i))

    def rank(self, c: int, i: int) -> int:
        c, i = self._check_rank_args(c, i)
        return int_vector.count(self._words, self._width, c, 0, i)

    def select(self, c: int, k: int) -> int:
        return int(self.select_many(c, [k])[0])

    def select_many(self, c: int, ks: Any) -> np.ndarray:
        c, ks = self._check_select_batch(c, ks)
        if ks.size == 0:
            return np.empty(0, dtype=np.int64)
        order = np.argsort(ks, kind="stable")
        found = int_vector.select_sorted(self._words, self._width, self._n, c, ks[order])
        if found[-1] < 0:
            raise self._select_error(c, int(ks[order][found < 0][0]))
        out = np.empty_like(found)
        out[order] = found
        return out

    def extract(self, start: int, stop: int) -> np.ndarray:
        start, stop = self._check_range(start, stop)
        return int_vector.unpack(self._words, self._width, start, stop)

    def extract_into(self, start: int, stop: int, out: np.ndarray) -> np.ndarray:
        start, stop = self._check_range(start, stop)
        view = self._check_out(out, stop - start)
        int_vector.unpack_into(self._words, self._width, start, stop, view)
        return view

    def kernel_state(self) -> tuple[np.ndarray, int]:
        """What :func:`extract_into` takes (the fused-decode capability)."""
        return self._words, self._width


@numba.njit(cache=True, nogil=True, inline="always")
def extract_into(state, start, stop, out) -> int:
    """Symbols ``[start, stop)`` into ``out`` (a narrow unsigned array); 0 (raw bytes cannot
    contradict themselves once opened)."""
    words, width = state
    return int_vector.unpack_into(words, width, start, stop, out)


class RawCodec(Codec):
    """Bit-packed symbols; sizes here are the 'uncompressed' reference in every table."""

    name = "raw"
    params: dict[str, Any] = {}

    def encode(self, symbols: np.ndarray, alphabet_size: int, **params: Any) -> bytes:
        self._check_params(params)
        values = check_symbols(symbols, alphabet_size)
        width = int_vector.width_for(alphabet_size)
        words = int_vector.pack(values, width)
        return HEADER.pack(width, values.size, int(alphabet_size)) + words.astype("<u8", copy=False).tobytes()

    def open(self, buffer: Any) -> RawSequence:
        data = as_byte_array(buffer)
        width, n, sigma = HEADER.unpack(data)
        if not 1 <= sigma <= 2**32 or width != int_vector.width_for(sigma):
            raise HEADER.bad(f"width {width} does not match alphabet size {sigma}")
        expected = HEADER.size + 8 * int_vector.n_words(n, width)
        if data.size != expected:
            raise HEADER.bad(f"{n} symbols of {width} bits need {expected} bytes, buffer has {data.size}")
        words = _aligned_words(data[HEADER.size :])
        return RawSequence(words, width, n, sigma, data.size)


def _aligned_words(data: np.ndarray) -> np.ndarray:
    # numba kernels want aligned words; a view when the buffer allows, one copy otherwise
    return (data if data.ctypes.data % 8 == 0 else aligned_copy(data, 8)).view("<u8")


@hookimpl
def codecbench_codecs() -> list[type[Codec]]:
    return [RawCodec]

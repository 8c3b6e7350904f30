"""``int_vector``: fixed-width integers packed into little-endian uint64 words.

Element ``i`` of width ``w`` occupies bits ``[i*w, (i+1)*w)`` of the word array, counting
from bit 0 of word 0 (as sdsl-lite's ``int_vector<0>``). Widths are 1..32. The kernels scan
packed words directly, so rank/select on a plain packed vector cost one pass and no copy.
"""

from __future__ import annotations

import numba
import numpy as np

from codecbench.succinct.bits import load_u64

MAX_WIDTH = 32


def width_for(alphabet_size: int) -> int:
    """Bits per element needed for values in ``[0, alphabet_size)`` (at least 1)."""
    return max(1, (int(alphabet_size) - 1).bit_length())


def n_words(n: int, width: int) -> int:
    return (n * width + 63) // 64


@numba.njit(cache=True, nogil=True)
def pack(values: np.ndarray, width: int) -> np.ndarray:
    n = values.shape[0]
    out = np.zeros((n * width + 63) // 64, dtype=np.uint64)
    w = np.uint64(width)
    for i in range(n):
        bit = np.uint64(i) * w
        word = bit >> np.uint64(6)
        off = bit & np.uint64(63)
        v = np.uint64(values[i])
        out[word] |= v << off
        if off + w > np.uint64(64):
            out[word + np.uint64(1)] |= v >> (np.uint64(64) - off)
    return out


@numba.njit(inline="always")
def _get(words: np.ndarray, width: np.uint64, mask: np.uint64, i: int) -> np.uint64:
    bit = np.uint64(i) * width
    word = bit >> np.uint64(6)
    off = bit & np.uint64(63)
    v = words[word] >> off
    if off + width > np.uint64(64):
        v |= words[word + np.uint64(1)] << (np.uint64(64) - off)
    return v & mask


@numba.njit(cache=True, nogil=True)
def unpack(words: np.ndarray, width: int, start: int, stop: int) -> np.ndarray:
    """Symbols [start, stop) as a new uint32 array (:func:`unpack_into`)."""
    out = np.empty(max(stop - start, 0), dtype=np.uint32)
    unpack_into(words, width, start, stop, out)
    return out


@numba.njit(cache=True, nogil=True)
def unpack_into(words: np.ndarray, width: int, start: int, stop: int, out: np.ndarray) -> int:
    """Symbols [start, stop) into ``out`` (any unsigned dtype that holds them; at least
    ``stop - start`` long); returns 0.

    Eight elements starting at a multiple of 8 span exactly ``width`` bytes, so the body goes
    eight at a time: each element's byte offset and shift within its group are the same in
    every group (hoisted), one unaligned 8-byte load each (``width <= 32``: the load from an
    element's first byte holds it) and no branch. The first few elements, and groups within 8
    bytes of the end, read their word and the next (clamped to the last word), also without a
    branch: a test for a straddling element mispredicted often enough to make that loop 5x
    slower (161 against 786 M symbols/s, 7-bit width). 37.7M 6-bit symbols into uint16 on one
    thread took 72 ms one at a time and 26 ms in groups of eight."""
    n = stop - start
    if n <= 0:
        return 0
    w = np.uint64(width)
    mask = (np.uint64(1) << w) - np.uint64(1)
    head, groups, base = groups_of_eight(start, n, width, 8 * words.shape[0])
    for i in range(head):
        out[i] = _get_clamped(words, w, mask, start + i)
    wbytes = words.view(np.uint8)
    for g in range(groups):
        b = base + g * width
        i0 = head + 8 * g
        for q in range(8):
            out[i0 + q] = in_group(wbytes, b, q, w, mask)
    body = head + 8 * groups
    for i in range(body, n):
        out[i] = _get_clamped(words, w, mask, start + i)
    return 0


@numba.njit(cache=True, nogil=True, inline="always")
def groups_of_eight(first: int, n: int, width: int, nbytes: int) -> tuple[int, int, int]:
    """How elements ``[first, first + n)`` of ``width`` bits, packed LSB-first in ``nbytes``
    bytes, split for eight-at-a-time reads: ``(head, groups, base)``. The ``head`` elements before
    the first multiple of 8 and the elements after ``head + 8 * groups`` take a careful path; group
    ``g`` starts at byte ``base + g * width`` (eight elements span exactly ``width`` bytes), and
    each of its :func:`in_group` loads stays inside the ``nbytes`` (``width <= 57``)."""
    head = min(n, (8 - first % 8) % 8)
    base = ((first + head) * width) // 8  # a byte boundary: first + head is a multiple of 8
    # group g's last load reads bytes up to base + g * width + (7 * width) // 8 + 7
    fits = max(0, (nbytes - 8 - base - (7 * width) // 8) // width + 1)
    return head, min((n - head) // 8, fits), base


@numba.njit(cache=True, nogil=True, inline="always")
def in_group(data, b: int, q: int, width: np.uint64, mask: np.uint64) -> np.uint64:
    """Element ``q`` (0..7) of the group starting at byte ``b`` of ``data`` (uint8): one unaligned
    8-byte load; offset and shift depend on ``q`` and the width alone, so callers hoist them (and
    fold them when the width is a constant)."""
    bit = np.uint64(q) * width
    return (load_u64(data, b + np.int64(bit >> np.uint64(3))) >> (bit & np.uint64(7))) & mask


@numba.njit(inline="always")
def _get_clamped(words: np.ndarray, width: np.uint64, mask: np.uint64, i: int) -> np.uint64:
    """Element ``i`` without a branch: its word and the next (clamped to the last word)."""
    bit = np.uint64(i) * width
    word = bit >> np.uint64(6)
    off = bit & np.uint64(63)
    last = np.uint64(words.shape[0] - 1)
    high = words[min(word + np.uint64(1), last)] << (np.uint64(63) - off) << np.uint64(1)  # off = 0: none
    return ((words[word] >> off) | high) & mask


@numba.njit(cache=True, nogil=True)
def get(words: np.ndarray, width: int, i: int) -> int:
    w = np.uint64(width)
    mask = (np.uint64(1) << w) - np.uint64(1)
    return int(_get(words, w, mask, i))


@numba.njit(cache=True, nogil=True)
def count(words: np.ndarray, width: int, c: int, start: int, stop: int) -> int:
    """Occurrences of ``c`` in elements ``[start, stop)``."""
    w = np.uint64(width)
    mask = (np.uint64(1) << w) - np.uint64(1)
    target = np.uint64(c)
    total = 0
    for i in range(start, stop):
        if _get(words, w, mask, i) == target:
            total += 1
    return total


@numba.njit(cache=True, nogil=True)
def select_sorted(words: np.ndarray, width: int, n: int, c: int, ks: np.ndarray) -> np.ndarray:
    """Positions of the ``ks[j]``-th occurrences of ``c``; ``ks`` ascending, all >= 1.

    Entries whose occurrence does not exist are left at -1 (the caller raises).
    """
    out = np.full(ks.shape[0], -1, dtype=np.int64)
    w = np.uint64(width)
    mask = (np.uint64(1) << w) - np.uint64(1)
    target = np.uint64(c)
    j = 0
    seen = 0
    m = ks.shape[0]
    for i in range(n):
        if j >= m:
            break
        if _get(words, w, mask, i) == target:
            seen += 1
            while j < m and ks[j] == seen:
                out[j] = i
                j += 1
    return out

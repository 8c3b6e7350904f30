"""Canonical, length-limited Huffman codes (shared by the Huffman-shaped wavelet tree and the
Huffman codecs).

``code_lengths(freqs, max_length)`` gives optimal code lengths (Moffat & Katajainen's in-place
algorithm, O(sigma) after a sort), then repairs the Kraft sum if some length exceeds
``max_length`` by lengthening the least frequent codes that still can grow. Symbols with
frequency 0 get length 0 (no code). A lone present symbol gets length 0 too: a tree with a
single leaf needs no bits.

``canonical(lengths)`` assigns canonical codes: symbols sorted by (length, symbol) get
consecutive code values, so at every depth the codes that end there are numerically smaller
than every longer code's prefix of that depth (leaves sit left of internal nodes: the
property the level-wise wavelet tree relies on).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

MAX_CODE_LENGTH = 32


@numba.njit(cache=True)
def _minimum_redundancy(a: np.ndarray) -> None:
    """In place: weights ascending -> code lengths (Moffat & Katajainen 1995). len(a) >= 2."""
    n = a.shape[0]
    a[0] += a[1]
    root = 0
    leaf = 2
    for nxt in range(1, n - 1):
        if leaf >= n or a[root] < a[leaf]:
            a[nxt] = a[root]
            a[root] = nxt
            root += 1
        else:
            a[nxt] = a[leaf]
            leaf += 1
        if leaf >= n or (root < nxt and a[root] < a[leaf]):
            a[nxt] += a[root]
            a[root] = nxt
            root += 1
        else:
            a[nxt] += a[leaf]
            leaf += 1
    a[n - 2] = 0
    for nxt in range(n - 3, -1, -1):
        a[nxt] = a[a[nxt]] + 1
    avail = 1
    used = 0
    depth = 0
    root = n - 2
    nxt = n - 1
    while avail > 0:
        while root >= 0 and a[root] == depth:
            used += 1
            root -= 1
        while avail > used:
            a[nxt] = depth
            nxt -= 1
            avail -= 1
        avail = 2 * used
        depth += 1
        used = 0


@numba.njit(cache=True)
def _limit(lengths: np.ndarray, max_length: int) -> None:
    """In place, lengths of symbols in ascending frequency order (so non-increasing):
    clamp to max_length and restore Kraft's inequality sum 2^-l <= 1."""
    n = lengths.shape[0]
    budget = np.int64(1) << max_length
    kraft = np.int64(0)
    for i in range(n):
        if lengths[i] > max_length:
            lengths[i] = max_length
        kraft += np.int64(1) << (max_length - lengths[i])
    i = 0
    while kraft > budget:
        while lengths[i] >= max_length:
            i += 1
        lengths[i] += 1
        kraft -= np.int64(1) << (max_length - lengths[i])
    # spend leftover slack on the most frequent symbols (shortening them), if any
    for j in range(n - 1, -1, -1):
        while lengths[j] > 1 and kraft + (np.int64(1) << (max_length - lengths[j])) <= budget:
            kraft += np.int64(1) << (max_length - lengths[j])
            lengths[j] -= 1


def code_lengths(freqs: np.ndarray, max_length: int = MAX_CODE_LENGTH) -> np.ndarray:
    """Code length per symbol (uint8; 0 = symbol absent or the only one present)."""
    freqs = np.asarray(freqs, dtype=np.int64)
    present = np.flatnonzero(freqs)
    lengths = np.zeros(freqs.size, dtype=np.uint8)
    if present.size <= 1:
        return lengths
    need = int(present.size - 1).bit_length()
    if not need <= max_length <= MAX_CODE_LENGTH:
        raise ValueError(
            f"max code length {max_length} cannot code {present.size} symbols (needs {need}..{MAX_CODE_LENGTH})"
        )
    order = present[np.argsort(freqs[present], kind="stable")]
    work = freqs[order].copy()
    _minimum_redundancy(work)
    _limit(work, max_length)
    lengths[order] = work
    return lengths


@dataclass(frozen=True)
class CanonicalCode:
    """Canonical code tables. Depth-indexed arrays have ``max_length + 1`` entries."""

    lengths: np.ndarray  # uint8[sigma]
    codes: np.ndarray  # uint64[sigma], code value (MSB first), 0 where absent
    sorted_symbols: np.ndarray  # uint32[present]: symbols by (length, symbol)
    first_code: np.ndarray  # uint64[L+1]: code of the first symbol of each length
    count: np.ndarray  # uint64[L+1]: symbols of each length
    first_index: np.ndarray  # uint64[L+1]: index in sorted_symbols of the first of each length

    @property
    def max_length(self) -> int:
        return self.first_code.size - 1


def depth_tables(count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """From ``count[d]`` (codes of each length d): the first canonical code of each length,
    and the index in canonical order of the first symbol of each length (int64)."""
    count = np.asarray(count, dtype=np.int64)
    first_code = np.zeros(count.size, dtype=np.int64)
    code = 0
    for depth in range(1, count.size):
        first_code[depth] = code
        code = (code + int(count[depth])) << 1
    first_index = np.zeros(count.size, dtype=np.int64)
    first_index[1:] = np.cumsum(count)[:-1]
    return first_code, first_index


def canonical(lengths: np.ndarray) -> CanonicalCode:
    lengths = np.asarray(lengths, dtype=np.uint8)
    max_length = int(lengths.max()) if lengths.size else 0
    present = np.flatnonzero(lengths)
    order = present[np.lexsort((present, lengths[present]))].astype(np.uint32)
    count = np.bincount(lengths[present], minlength=max_length + 1).astype(np.uint64)
    count[0] = 0
    first_code, first_index = (t.astype(np.uint64) for t in depth_tables(count))
    codes = np.zeros(lengths.size, dtype=np.uint64)
    if order.size:
        sorted_lengths = lengths[order]
        offset_in_length = np.arange(order.size, dtype=np.uint64) - first_index[sorted_lengths]
        codes[order] = first_code[sorted_lengths] + offset_in_length
    return CanonicalCode(lengths, codes, order, first_code, count, first_index)

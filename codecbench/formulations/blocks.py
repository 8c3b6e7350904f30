"""Shared machinery of the block-based formulations (``block``, ``pq-element``, ``pq-block``).

A unit's ``u`` weights (C order) are cut into ``nb = ceil(u / B)`` blocks of ``B`` weights;
the last block of a unit is padded with zero bit patterns, which decoding drops. The
dictionary is two-level, so a block costs ``B`` small indices rather than ``B`` full values:

- ``values``: the distinct values of the weights in the dictionary's blocks (by bit
  pattern, in the total order of :mod:`codecbench.formulations.element`);
- ``blocks``: one row of ``B`` indices into ``values`` per distinct block, rows sorted
  lexicographically (so, for ``B == 1``, block ``i`` is ``values[i]``).

``specs/ras.md`` is normative.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from codecbench.dtypes import is_float
from codecbench.errors import CorruptDataError
from codecbench.formulations.base import RAS
from codecbench.formulations.element import keys_to_values, order_keys, unique_inverse

#: default block size of 2-D (linear) weights, as in the paper's fc block-wise formulation
LINEAR_BLOCK = 4
MAX_BLOCK = 2**16


def native_tensor(tensor: Any, name: str) -> np.ndarray:
    """``tensor`` as a little-endian array with ``ndim >= 1``, or ValueError."""
    tensor = np.asarray(tensor)
    if tensor.dtype.byteorder == ">":
        tensor = tensor.astype(tensor.dtype.newbyteorder("<"))
    if tensor.ndim < 1:
        raise ValueError(f"{name}: a 0-d tensor has no units")
    if not (is_float(tensor.dtype) or tensor.dtype.kind in "iub"):
        raise ValueError(f"{name}: dtype {tensor.dtype} is not a number type")
    return tensor


def unit_bits(tensor: np.ndarray) -> np.ndarray:
    """The tensor's bit patterns as an ``(n_units, u)`` unsigned array (no copy when C-ordered)."""
    flat = np.ascontiguousarray(tensor).reshape(tensor.shape[0], -1)
    return flat.view(f"<u{tensor.dtype.itemsize}")


def resolve_block_size(shape: tuple[int, ...], requested: Any, name: str) -> int:
    """``"auto"``: one kernel slice (``prod(shape[2:])``) for ndim >= 3, else ``LINEAR_BLOCK``."""
    if requested == "auto":
        size = int(np.prod(shape[2:], dtype=np.int64)) if len(shape) >= 3 else LINEAR_BLOCK
        return max(1, min(size, MAX_BLOCK))
    if type(requested) is not int or not 1 <= requested <= MAX_BLOCK:
        raise ValueError(f"{name}: block_size must be 'auto' or an integer in [1, {MAX_BLOCK}], not {requested!r}")
    return requested


def padded_blocks(bits: np.ndarray, block: int) -> np.ndarray:
    """``(n, u)`` bit patterns as ``(n, nb, B)`` blocks, the last block of each unit zero-padded."""
    n, u = bits.shape
    nb = -(-u // block)
    if nb * block == u:
        return bits.reshape(n, nb, block)
    out = np.zeros((n, nb * block), dtype=bits.dtype)
    out[:, :u] = bits
    return out.reshape(n, nb, block)


def narrow_uint(limit: int) -> np.dtype:
    """The narrowest unsigned dtype holding every value below ``limit``."""
    for dt in (np.uint8, np.uint16, np.uint32):
        if limit <= np.iinfo(dt).max + 1:
            return np.dtype(dt)
    return np.dtype(np.uint64)


def block_dictionary(rows: np.ndarray, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct blocks of ``rows`` (``(N, B)`` bit patterns of ``dtype``).

    Returns ``(values, blocks, inverse)``: ``values`` the distinct weight values in total
    order, ``blocks`` the distinct rows as indices into ``values`` (lexicographic order),
    and ``inverse`` (uint32) with ``rows[i] == values[blocks[inverse[i]]]`` bitwise.
    """
    n_rows, width = rows.shape
    keys, _ = order_keys(rows.reshape(-1).view(dtype))
    unique_keys, element_index = unique_inverse(keys)
    values = keys_to_values(unique_keys, dtype)
    if width == 1:  # single weights: the element ranks are already the block ranks
        blocks = np.arange(values.size, dtype=narrow_uint(values.size)).reshape(-1, 1)
        return values, blocks, element_index.reshape(-1).astype(np.uint32)
    index = element_index.reshape(n_rows, width).astype(np.uint64, copy=False)
    inverse, first = _rank_rows(index, max(1, values.size))
    blocks = index[first].astype(narrow_uint(values.size))
    return values, blocks.reshape(-1, width), inverse.astype(np.uint32)


def _rank_rows(index: np.ndarray, radix: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense lexicographic ranks of the rows of ``index`` (entries < ``radix``) and the
    position of one row per rank. Columns are packed into 64-bit keys while they fit, and
    the key is re-ranked (so it stays below 2**32) whenever the next column would overflow."""
    n_rows, width = index.shape
    col_bits = max(1, int(radix - 1).bit_length())
    key = np.zeros(n_rows, dtype=np.uint64)
    key_bits = 0
    for c in range(width):
        if key_bits + col_bits > 64:
            distinct, key = np.unique(key, return_inverse=True)
            key = key.reshape(-1).astype(np.uint64)
            key_bits = max(1, int(distinct.size - 1).bit_length())
        key = (key << np.uint64(col_bits)) | index[:, c]
        key_bits += col_bits
    _, first, ranks = np.unique(key, return_index=True, return_inverse=True)
    return ranks.reshape(-1), first


def check_dictionary(ras: RAS, name: str, n_entries_expected: int | None, with_blocks: bool) -> int:
    """Validate ``values`` (and ``blocks``) of a block-based RAS; returns the block size."""
    expected = {"values", "blocks"} if with_blocks else {"values"}
    if set(ras.arrays) != expected:
        raise CorruptDataError(f"{name}: expects arrays {sorted(expected)}, chunk has {sorted(ras.arrays)}")
    values = ras.arrays["values"]
    if values.ndim != 1 or values.dtype.name != ras.dtype:
        raise CorruptDataError(f"{name}: 'values' must be 1-D of the tensor dtype {ras.dtype}")
    block = ras.meta.get("block_size")
    if type(block) is not int or not 1 <= block <= MAX_BLOCK:
        raise CorruptDataError(f"{name}: meta block_size {block!r} is not an integer in [1, {MAX_BLOCK}]")
    if not with_blocks:
        if block != 1:
            raise CorruptDataError(f"{name}: block_size must be 1, header says {block}")
        return block
    blocks = ras.arrays["blocks"]
    if blocks.ndim != 2 or blocks.shape[1] != block or blocks.dtype.kind != "u":
        raise CorruptDataError(f"{name}: 'blocks' must be an unsigned (entries, {block}) array")
    if blocks.size and int(blocks.max()) >= values.size:
        raise CorruptDataError(f"{name}: a block refers past the {values.size}-value dictionary")
    if n_entries_expected is not None and blocks.shape[0] != n_entries_expected:
        raise CorruptDataError(f"{name}: {blocks.shape[0]} blocks, header implies {n_entries_expected}")
    return block


def dictionary_arrays(ras: RAS) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(value bits, blocks, identity)`` as the numba kernels take them; ``identity`` when
    entries index ``values`` directly (``pq-element``)."""
    values = ras.arrays["values"]
    bits = values.view(f"<u{values.dtype.itemsize}")
    blocks = ras.arrays.get("blocks")
    if blocks is None:
        return bits, np.zeros((1, 1), dtype=np.uint8), True
    return bits, blocks, False


@numba.njit(cache=True, nogil=True, inline="always")
def entry_value(values, blocks, identity, entry, r):
    return values[entry] if identity else values[blocks[entry, r]]

"""``block``: one symbol per block of weights that one kernel consumes.

A conv filter ``(in, kh, kw)`` is cut into its ``in`` kernel slices of ``kh * kw`` weights;
a linear row into runs of ``block_size`` weights (default 4). The symbol is the block's
index in the tensor's dictionary of distinct blocks (:mod:`codecbench.formulations.blocks`).
RAS: ``alphabet_size = k + 1`` for ``k`` distinct blocks, delimiter ``k``; each unit is its
``ceil(u / B)`` block symbols. ``specs/ras.md`` is normative.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from codecbench.errors import CorruptDataError
from codecbench.formulations.base import (
    RAS,
    Formulation,
    check_exact_count,
    check_out,
    check_unit_range,
    frame_units,
)
from codecbench.formulations.blocks import (
    block_dictionary,
    check_dictionary,
    dictionary_arrays,
    native_tensor,
    padded_blocks,
    resolve_block_size,
    unit_bits,
)
from codecbench.hookspecs import hookimpl


class BlockFormulation(Formulation):
    name = "block"
    params: dict[str, Any] = {"block_size": "auto"}

    def encode(self, tensor: np.ndarray, **params: Any) -> RAS:
        params = self._check_params(params)
        tensor = native_tensor(tensor, self.name)
        block = resolve_block_size(tensor.shape, params["block_size"], self.name)
        blocks3 = padded_blocks(unit_bits(tensor), block)
        n, nb = blocks3.shape[:2]
        dtype = tensor.dtype.newbyteorder("=")
        values, blocks, inverse = block_dictionary(blocks3.reshape(-1, block), dtype)
        delimiter = blocks.shape[0]
        symbols = frame_units(inverse.reshape(n, nb), delimiter)
        return RAS(
            symbols=symbols,
            alphabet_size=delimiter + 1,
            delimiter=delimiter,
            n_units=n,
            shape=tuple(int(d) for d in tensor.shape),
            dtype=dtype.name,
            arrays={"values": values, "blocks": blocks},
            meta={"block_size": block},
        )

    def check_ras(self, ras: RAS) -> None:
        check_dictionary(ras, self.name, ras.delimiter, with_blocks=True)
        if ras.alphabet_size != ras.delimiter + 1:
            raise CorruptDataError(
                f"block: delimiter {ras.delimiter} needs alphabet {ras.delimiter + 1}, header says {ras.alphabet_size}"
            )
        if ras.delimiter == 0 and ras.unit_size and ras.n_units:
            raise CorruptDataError("block: a tensor with weights needs a non-empty block dictionary")

    def check_symbol_count(self, ras: RAS, n_symbols: int) -> None:
        check_exact_count(ras, n_symbols, -(-ras.unit_size // ras.meta["block_size"]), self.name)

    def decode_units_into(self, ras: RAS, symbols: np.ndarray, k0: int, k1: int, out: np.ndarray) -> None:
        k0, k1 = check_unit_range(ras, k0, k1)
        check_out(ras, k0, k1, out)
        m, u = k1 - k0, ras.unit_size
        block = ras.meta["block_size"]
        nb = -(-u // block)
        values, blocks, _ = dictionary_arrays(ras)
        if m and symbols.size != m * (nb + 1) - 1:
            raise CorruptDataError(
                f"block: {m} units of {nb} blocks need {m * (nb + 1) - 1} symbols, got {symbols.size}"
            )
        if m:
            status = _decode(
                np.ascontiguousarray(symbols, dtype=np.uint32),
                values,
                blocks,
                ras.delimiter,
                u,
                nb,
                out.view(values.dtype),
            )
            if status == 1:
                raise CorruptDataError("block: delimiter missing between units")
            if status == 2:
                raise CorruptDataError(f"block: a symbol lies outside the {blocks.shape[0]}-block dictionary")


@numba.njit(cache=True, nogil=True)
def _decode(symbols, values, blocks, delimiter, u, nb, out) -> int:
    """Each unit's ``nb`` block symbols through the two-level dictionary; the padding of a
    unit's last block is dropped. Returns 0, 1 for a misplaced delimiter, 2 for a symbol
    outside the dictionary."""
    block = blocks.shape[1]
    m = out.shape[0] // u if u else symbols.shape[0] + 1
    for j in range(m):
        base = j * (nb + 1)
        for t in range(nb):
            s = symbols[base + t]
            if s >= delimiter:
                return 2
            first = t * block
            for r in range(min(block, u - first)):
                out[j * u + first + r] = values[blocks[s, r]]
        if j + 1 < m and symbols[base + nb] != delimiter:
            return 1
    return 0


@hookimpl
def codecbench_formulations() -> list[type[Formulation]]:
    return [BlockFormulation]

"""``ans``: near-entropy coding with ``constriction``'s ANS coder and one categorical model, in blocks.

A codecbench codec plugin (entry point group ``codecbench``). One order-0 model (the symbol
histogram, as a ``constriction.stream.model.Categorical``) codes blocks of ``block_size``
symbols, each with a fresh ANS coder, so every block decodes on its own. The model is not
stored: it is rebuilt from the count index, which ``rank``/``select`` need anyway. With more
than ``model_size`` distinct symbols, the ``model_size - 1`` most frequent are modelled and the
rest coded as an escape symbol followed (after the block's ANS words) by their raw values.
``SPEC.md`` beside this package is the byte layout.

Parameters: ``block_size`` (symbols per block, default 4096, 1..2**24), ``count_every``
(symbols per count sample: ``"auto"`` or a multiple of ``block_size``; as in ``zstd``),
``model_size`` (most symbols in the model, escape included; default 4096, 2..65536).
"""

from __future__ import annotations

from typing import Any

import constriction
import numpy as np

from codecbench import hookimpl
from codecbench.codecs.base import Codec, as_byte_array, check_symbols
from codecbench.codecs.blocked import (
    BLOCKED_FIELDS,
    MAX_BLOCK,
    MAX_N,
    BlockedSequence,
    CountIndex,
    blocks_per_sample,
    build_count_index,
    distinct_count,
    pack_blocked,
    parse_blocked,
    symbol_width,
)
from codecbench.errors import CorruptDataError
from codecbench.succinct.container import Header

__all__ = ["AnsCodec", "AnsSequence", "codecbench_codecs"]
__version__ = "0.1.0"

#: codecbench's blocked container (SPEC.md); the codec's own header field is the model size limit
HEADER = Header("ans", b"CBANS\0\0\0", 1, BLOCKED_FIELDS)
assert HEADER.size == 64
MAX_MODEL = 2**16
_CONSTRICTION_ERRORS = (ValueError, KeyError, RuntimeError, OverflowError, TypeError)


class Model:
    """The categorical model of a sequence, derived from its symbol totals.

    ``table[j]`` is the symbol of model index ``j``; ``escape`` is the escape's index (or -1).
    ``categorical`` is None when the model has a single symbol (nothing to code)."""

    def __init__(self, symbols: np.ndarray, totals: np.ndarray, limit: int) -> None:
        if symbols.size > limit:
            keep = np.lexsort((symbols, -totals))[: limit - 1]  # most frequent first, ties by symbol
            kept = np.zeros(symbols.size, dtype=bool)
            kept[keep] = True
            self.table = np.append(symbols[kept], 0).astype(np.uint32)
            weights = np.append(totals[kept], totals[~kept].sum()).astype(np.float64)
            self.escape = int(self.table.size - 1)
        else:
            self.table = symbols.astype(np.uint32)
            weights = totals.astype(np.float64)
            self.escape = -1
        self.modelled = self.table[: self.escape] if self.escape >= 0 else self.table
        self.categorical = (
            constriction.stream.model.Categorical(weights, perfect=False) if self.table.size > 1 else None
        )

    def indices(self, values: np.ndarray) -> np.ndarray:
        """Model index of every value (the escape for values outside the model), as int32."""
        ms = self.modelled
        if ms.size == 0:
            return np.full(values.size, self.escape, dtype=np.int32)
        pos = np.minimum(np.searchsorted(ms, values), ms.size - 1)
        return np.where(ms[pos] == values, pos, self.escape).astype(np.int32)


class AnsSequence(BlockedSequence):
    codec_name = "ans"

    def __init__(self, blocks: np.ndarray, offsets: np.ndarray, words: np.ndarray, width: int, limit: int, **kw: Any):
        super().__init__(**kw)
        self._blocks = blocks
        self._offsets = offsets
        self._words = words
        self._width = width
        self._model = Model(*self._index.totals(), limit)
        if self._model.categorical is None and self._blocks.size:
            raise CorruptDataError("ans: a single-symbol sequence has no coded bytes")

    @property
    def payload_nbytes(self) -> int:
        """Bytes of the coded blocks alone (ANS words and escaped values)."""
        return int(self._blocks.size)

    @property
    def index_nbytes(self) -> int:
        """Bytes of everything but the coded blocks: header, block table and count index."""
        return self._nbytes - int(self._blocks.size)

    def _decode_block(self, b: int) -> np.ndarray:
        length = self._block_length(b)
        model = self._model
        if model.categorical is None:
            return np.full(length, model.table[0], dtype=np.uint32)
        start, stop = int(self._offsets[b]), int(self._offsets[b + 1])
        n_words = int(self._words[b])
        words = np.array(self._blocks[start : start + 4 * n_words].view("<u4"), dtype=np.uint32)
        try:
            coder = constriction.stream.stack.AnsCoder(words)
            indices = coder.decode(model.categorical, length)
            exhausted = coder.is_empty()
        except _CONSTRICTION_ERRORS as exc:
            raise CorruptDataError(f"ans: block {b}: {exc}") from None
        if not exhausted:
            raise CorruptDataError(f"ans: block {b} has coded words left over after {length} symbols")
        indices = np.asarray(indices)
        if indices.size != length or (
            indices.size and not 0 <= int(indices.min()) <= int(indices.max()) < model.table.size
        ):
            raise CorruptDataError(f"ans: block {b} decodes outside the model")
        out = model.table[indices]
        escaped = self._blocks[start + 4 * n_words : stop].view(f"<u{self._width}")
        if model.escape >= 0:
            where = np.flatnonzero(indices == model.escape)
            if where.size != escaped.size:
                raise CorruptDataError(f"ans: block {b} codes {where.size} escapes but stores {escaped.size} values")
            out[where] = escaped
            if escaped.size and int(escaped.max()) >= self.alphabet_size:
                raise CorruptDataError(f"ans: block {b} escapes a symbol outside the alphabet")
        elif escaped.size:
            raise CorruptDataError(f"ans: block {b} stores escaped values but the model has no escape")
        return out


class AnsCodec(Codec):
    """Blocks of ANS-coded symbols under one categorical model (see the module docstring)."""

    name = "ans"
    params: dict[str, Any] = {"block_size": 4096, "count_every": "auto", "model_size": 4096}

    def _effective(self, params: dict[str, Any]) -> tuple[int, Any, int]:
        p = self._check_params(params)
        block, every, limit = p["block_size"], p["count_every"], p["model_size"]
        if type(block) is not int or not 1 <= block <= MAX_BLOCK:
            raise ValueError(f"codec 'ans': block_size must be an integer in [1, {MAX_BLOCK}], got {block!r}")
        if type(limit) is not int or not 2 <= limit <= MAX_MODEL:
            raise ValueError(f"codec 'ans': model_size must be an integer in [2, {MAX_MODEL}], got {limit!r}")
        blocks_per_sample(every, block, 1, self.name)
        return block, every, limit

    def encode(self, symbols: np.ndarray, alphabet_size: int, **params: Any) -> bytes:
        block, every, limit = self._effective(params)
        values = check_symbols(symbols, alphabet_size)
        n, sigma = int(values.size), int(alphabet_size)
        if n > MAX_N:
            raise ValueError(f"codec 'ans': at most {MAX_N} symbols, got {n}")
        width = symbol_width(sigma)
        per_sample = blocks_per_sample(every, block, distinct_count(values, sigma) if every == "auto" else 1, self.name)
        sample = per_sample * block
        ptr, entry_symbols, entry_counts = build_count_index(values, sigma, sample)
        index = CountIndex(ptr, entry_symbols, entry_counts - 1, n, sample, sigma, self.name)
        model = Model(*index.totals(), limit)
        blocks: list[bytes] = []
        n_words: list[int] = []
        if model.categorical is None:
            n_words = [0] * (-(-n // block))
            blocks = [b""] * len(n_words)
        else:
            indices = model.indices(values)
            for a in range(0, n, block):
                coder = constriction.stream.stack.AnsCoder()
                coder.encode_reverse(indices[a : a + block], model.categorical)
                words = coder.get_compressed().astype("<u4")
                escaped = values[a : a + block][indices[a : a + block] == model.escape] if model.escape >= 0 else []
                n_words.append(int(words.size))
                blocks.append(words.tobytes() + np.asarray(escaped, dtype=f"<u{width}").tobytes())
        words_section = np.asarray(n_words, dtype="<u4").tobytes()
        count_index = (ptr, entry_symbols, entry_counts)
        return pack_blocked(HEADER, n, sigma, block, per_sample, count_index, blocks, own=limit, extra=[words_section])

    def open(self, buffer: Any) -> AnsSequence:
        parsed = parse_blocked(HEADER, as_byte_array(buffer), extra=[("block_words", 4)])
        limit, width = parsed.own, parsed.width
        if not 2 <= limit <= MAX_MODEL:
            raise HEADER.bad(f"model size {limit} out of range [2, {MAX_MODEL}]")
        words = parsed.extra["block_words"].view("<u4")
        escaped = np.diff(parsed.offsets.astype(np.int64)) - 4 * words.astype(np.int64)
        if np.any(escaped < 0) or np.any(escaped % width):
            raise HEADER.bad("a block's ANS words and escaped values do not fill it")
        return AnsSequence(parsed.blocks, parsed.offsets, words, width, limit, **parsed.sequence_args())


@hookimpl
def codecbench_codecs() -> list[type[Codec]]:
    return [AnsCodec]

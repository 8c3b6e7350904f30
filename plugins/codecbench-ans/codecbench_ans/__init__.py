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

import struct
from typing import Any

import constriction
import numpy as np

from codecbench import hookimpl
from codecbench.codecs.base import Codec, as_byte_array, check_symbols
from codecbench.codecs.blocked import (
    BlockedSequence,
    CountIndex,
    blocks_per_sample,
    build_count_index,
    count_width,
    distinct_count,
    symbol_width,
)
from codecbench.errors import CorruptDataError

__all__ = ["AnsCodec", "AnsSequence", "codecbench_codecs"]
__version__ = "0.1.0"

MAGIC = b"CBANS\0\0\0"
VERSION = 1
#: magic, version, symbol width, n, sigma, block size, blocks per sample, entries, count width,
#: model size limit, coded bytes
HEADER = struct.Struct("<8sIIQQIIQIIQ")
assert HEADER.size == 64
MAX_BLOCK = 2**24
MAX_N = 2**48
MAX_MODEL = 2**16
_CONSTRICTION_ERRORS = (ValueError, KeyError, RuntimeError, OverflowError, TypeError)


def _pad8(n: int) -> int:
    return -n % 8


def _layout(n: int, width: int, block: int, per_sample: int, entries: int, cwidth: int) -> list[tuple[str, int]]:
    n_blocks = -(-n // block)
    n_samples = -(-n_blocks // per_sample)
    return [
        ("block_offsets", 8 * (n_blocks + 1)),
        ("block_words", 4 * n_blocks),
        ("sample_ptr", 8 * (n_samples + 1)),
        ("entry_symbols", width * entries),
        ("entry_counts", cwidth * entries),
    ]


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
        cwidth = count_width(sample)
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
        offsets = np.zeros(len(blocks) + 1, dtype="<u8")
        offsets[1:] = np.cumsum([len(x) for x in blocks])
        coded = int(offsets[-1])
        header = HEADER.pack(
            MAGIC, VERSION, width, n, sigma, block, per_sample, entry_symbols.size, cwidth, limit, coded
        )
        sections = {
            "block_offsets": offsets.tobytes(),
            "block_words": np.asarray(n_words, dtype="<u4").tobytes(),
            "sample_ptr": ptr.astype("<u8").tobytes(),
            "entry_symbols": entry_symbols.astype(f"<u{width}").tobytes(),
            "entry_counts": (entry_counts - 1).astype(f"<u{cwidth}").tobytes(),
        }
        parts = [header]
        for name, _ in _layout(n, width, block, per_sample, entry_symbols.size, cwidth):
            parts += [sections[name], b"\0" * _pad8(len(sections[name]))]
        parts += blocks
        return b"".join(parts)

    def open(self, buffer: Any) -> AnsSequence:
        data = as_byte_array(buffer)
        if data.size < HEADER.size:
            raise CorruptDataError(f"ans: {data.size} bytes is shorter than the {HEADER.size}-byte header")
        magic, version, width, n, sigma, block, per_sample, entries, cwidth, limit, coded = HEADER.unpack_from(data, 0)
        if magic != MAGIC:
            raise CorruptDataError("ans: bad magic (not an ans codec payload)")
        if version != VERSION:
            raise CorruptDataError(f"ans: unsupported layout version {version} (this build reads {VERSION})")
        if not 1 <= sigma <= 2**32 or width != symbol_width(sigma):
            raise CorruptDataError(f"ans: symbol width {width} does not match alphabet size {sigma}")
        if n > MAX_N or not 1 <= block <= MAX_BLOCK or per_sample < 1 or per_sample * block > 2**32:
            raise CorruptDataError(f"ans: header figures out of range (n {n}, block {block}, per sample {per_sample})")
        if cwidth != count_width(per_sample * block) or not 2 <= limit <= MAX_MODEL or entries > n:
            raise CorruptDataError("ans: header count-index or model figures are inconsistent")
        at = HEADER.size
        views: dict[str, np.ndarray] = {}
        for name, size in _layout(n, width, block, per_sample, entries, cwidth):
            if at + size > data.size:
                raise CorruptDataError(f"ans: section {name} needs {size} bytes at {at}, buffer has {data.size}")
            views[name] = data[at : at + size]
            if np.any(data[at + size : at + size + _pad8(size)]):
                raise CorruptDataError(f"ans: padding after section {name} is not zero")
            at += size + _pad8(size)
        if at + coded != data.size:
            raise CorruptDataError(f"ans: {coded} coded bytes expected after offset {at}, buffer has {data.size}")
        offsets = views["block_offsets"].view("<u8")
        words = views["block_words"].view("<u4")
        spans = np.diff(offsets.astype(np.int64))
        if offsets[0] != 0 or offsets[-1] != coded or np.any(spans < 0):
            raise CorruptDataError("ans: block offsets are not ascending from 0 to the coded size")
        escaped = spans - 4 * words.astype(np.int64)
        if np.any(escaped < 0) or np.any(escaped % width):
            raise CorruptDataError("ans: a block's ANS words and escaped values do not fill it")
        index = CountIndex(
            views["sample_ptr"].view("<u8"),
            views["entry_symbols"].view(f"<u{width}"),
            views["entry_counts"].view(f"<u{cwidth}"),
            n,
            per_sample * block,
            sigma,
            self.name,
        )
        return AnsSequence(
            data[at:],
            offsets,
            words,
            width,
            limit,
            n=n,
            alphabet_size=sigma,
            block_size=block,
            per_sample=per_sample,
            index=index,
            nbytes=int(data.size),
        )


@hookimpl
def codecbench_codecs() -> list[type[Codec]]:
    return [AnsCodec]

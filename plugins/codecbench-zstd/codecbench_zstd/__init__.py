"""``zstd``: symbols in independently compressed Zstandard blocks, with a block index and a count index.

A codecbench codec plugin (entry point group ``codecbench``). Symbols are stored in the narrowest
unsigned integer type that holds the alphabet (1, 2 or 4 bytes, little-endian), cut into blocks of
``block_size`` symbols, each compressed on its own by numcodecs' Zstd (content size and checksum
in every frame). ``access``/``extract`` decode only the blocks they touch; ``rank``/``select``
consult a count index (per sample of ``count_every`` symbols: which symbols occur, how often)
and decode only the blocks of one sample. ``SPEC.md`` beside this package is the byte layout.

Parameters: ``level`` (Zstd level, default 1; -7..22), ``block_size`` (symbols per block, default
65536, 1..2**24), ``count_every`` (symbols per count sample: ``"auto"`` (default) = the smallest
multiple of ``block_size`` >= max(2**16, 256 * distinct symbols), or a multiple of ``block_size``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numcodecs import zstd as _zstd

from codecbench import hookimpl
from codecbench.codecs.base import Codec, as_byte_array, check_symbols
from codecbench.codecs.blocked import (
    BLOCKED_FIELDS,
    MAX_BLOCK,
    MAX_N,
    BlockedSequence,
    blocks_per_sample,
    build_count_index,
    distinct_count,
    pack_blocked,
    parse_blocked,
    symbol_width,
)
from codecbench.errors import CorruptDataError
from codecbench.succinct.container import Header

__all__ = ["ZstdCodec", "ZstdSequence", "codecbench_codecs"]
__version__ = "0.1.0"

#: codecbench's blocked container (SPEC.md); the codec's own header field is reserved (0)
HEADER = Header("zstd", b"CBZSTD\0\0", 1, BLOCKED_FIELDS)
assert HEADER.size == 64
LEVELS = range(-7, 23)
_FRAME_MAGIC = b"\x28\xb5\x2f\xfd"


def frame_content_size(frame: np.ndarray) -> int | None:
    """The Frame_Content_Size field of a Zstandard frame header (RFC 8878, 3.1.1), or None if absent.
    Raises CorruptDataError unless ``frame`` starts with a well-formed frame header."""
    if frame.size < 6 or frame[:4].tobytes() != _FRAME_MAGIC:
        raise CorruptDataError("zstd: block is not a Zstandard frame")
    descriptor = int(frame[4])
    fcs_flag, single_segment, dict_flag = descriptor >> 6, (descriptor >> 5) & 1, descriptor & 3
    if descriptor & 0x08:  # reserved bit
        raise CorruptDataError("zstd: frame header sets a reserved bit")
    at = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[dict_flag]
    size = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    if size == 0:
        return None
    if frame.size < at + size:
        raise CorruptDataError("zstd: frame header is truncated")
    value = int.from_bytes(frame[at : at + size].tobytes(), "little")
    return value + 256 if size == 2 else value


class ZstdSequence(BlockedSequence):
    codec_name = "zstd"

    def __init__(self, blocks: np.ndarray, offsets: np.ndarray, width: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._blocks = blocks
        self._offsets = offsets
        self._width = width

    @property
    def payload_nbytes(self) -> int:
        """Bytes of the compressed blocks alone (the rest is header, block index and count index)."""
        return int(self._blocks.size)

    @property
    def index_nbytes(self) -> int:
        """Bytes of everything but the compressed blocks: header, block table and count index."""
        return self._nbytes - int(self._blocks.size)

    def _decode_block(self, b: int) -> np.ndarray:
        frame = self._blocks[int(self._offsets[b]) : int(self._offsets[b + 1])]
        expected = self._block_length(b) * self._width
        size = frame_content_size(frame)
        if size != expected:
            raise CorruptDataError(f"zstd: block {b} holds {size} bytes, {expected} expected")
        out = np.empty(expected, dtype=np.uint8)
        try:
            _zstd.decompress(frame, out)
        except (RuntimeError, ValueError) as exc:
            raise CorruptDataError(f"zstd: block {b}: {exc}") from None
        symbols = out.view(f"<u{self._width}").astype(np.uint32)
        if self.alphabet_size < 1 << (8 * self._width):
            if symbols.size and int(symbols.max()) >= self.alphabet_size:
                raise CorruptDataError(f"zstd: block {b} holds a symbol outside the alphabet [0, {self.alphabet_size})")
        return symbols


class ZstdCodec(Codec):
    """Zstandard blocks with a block index and a count index (see the module docstring)."""

    name = "zstd"
    params: dict[str, Any] = {"level": 1, "block_size": 65536, "count_every": "auto"}

    def _effective(self, params: dict[str, Any]) -> tuple[int, int, Any]:
        p = self._check_params(params)
        level, block, every = p["level"], p["block_size"], p["count_every"]
        if type(level) is not int or level not in LEVELS:
            raise ValueError(f"codec 'zstd': level must be an integer in [{LEVELS[0]}, {LEVELS[-1]}], got {level!r}")
        if type(block) is not int or not 1 <= block <= MAX_BLOCK:
            raise ValueError(f"codec 'zstd': block_size must be an integer in [1, {MAX_BLOCK}], got {block!r}")
        blocks_per_sample(every, block, 1, self.name)  # validates count_every early
        return level, block, every

    def encode(self, symbols: np.ndarray, alphabet_size: int, **params: Any) -> bytes:
        level, block, every = self._effective(params)
        values = check_symbols(symbols, alphabet_size)
        n, sigma = int(values.size), int(alphabet_size)
        if n > MAX_N:
            raise ValueError(f"codec 'zstd': at most {MAX_N} symbols, got {n}")
        distinct = distinct_count(values, sigma) if every == "auto" else 1
        per_sample = blocks_per_sample(every, block, distinct, self.name)
        stored = values.astype(f"<u{symbol_width(sigma)}")
        frames = [_zstd.compress(stored[a : a + block], level, True) for a in range(0, n, block)]
        index = build_count_index(values, sigma, per_sample * block)
        return pack_blocked(HEADER, n, sigma, block, per_sample, index, frames)

    def open(self, buffer: Any) -> ZstdSequence:
        parsed = parse_blocked(HEADER, as_byte_array(buffer), min_block=6)  # a frame is >= 6 bytes
        if parsed.own != 0:
            raise HEADER.bad("reserved header field is not zero")
        return ZstdSequence(parsed.blocks, parsed.offsets, parsed.width, **parsed.sequence_args())


@hookimpl
def codecbench_codecs() -> list[type[Codec]]:
    return [ZstdCodec]

"""``huffman``: the paper's baseline, a plain Huffman bitstream written and read by ``dahuffman``.

The symbols are Huffman-coded with ``dahuffman`` (pure Python). There is no directory: every
query decodes the stream **from its start** with ``dahuffman``'s ``decode_streaming``, as the
paper's baseline does, and stops as soon as it has what it needs (``access(i)`` decodes
``i + 1`` symbols, ``rank(c, i)`` decodes ``i`` and counts, ``select(c, k)`` decodes up to the
k-th ``c``, ``extract(a, b)`` decodes ``b`` and slices). It is meant to be slow: about 1 M
symbols/s.

The code is canonical (:mod:`codecbench.succinct.huffman_code`) over the distinct symbols plus
``dahuffman``'s end-of-file symbol ``_EOF`` (frequency 1, ordered after every real symbol), so
the table serializes as counts per length plus symbols in canonical order: no pickle. The
table is handed to ``dahuffman.HuffmanCodec(code_table)``, which appends EOF (truncated at the
byte end) when the bits do not fill the last byte.

Byte layout (all little-endian; ``specs/codec-huffman.md`` is normative)::

    0   8  magic b"CBHUFFD\\0"
    8   4  u32 layout version (1)
    12  4  u32 L, the longest code length (0 iff n == 0)
    16  8  u64 n (number of symbols)
    24  8  u64 sigma (alphabet size)
    32  8  u64 n_present (distinct symbols; 0 iff n == 0)
    40  8  u64 payload_bytes
    48  4  u32 eof_length (length of EOF's code; 0 iff n == 0)
    52  4  u32 reserved (0)
    56  .  u32 count[l] for l = 1..L: codes of length l, EOF included
    .   .  u32 symbols[n_present]: by (length, symbol), EOF left out (it is last of its length)
    .   .  payload_bytes bytes: the dahuffman bitstream (MSB first)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import dahuffman
import numpy as np
from dahuffman.huffmancodec import _EOF

from codecbench.codecs.base import Codec, Sequence, as_byte_array, check_symbols
from codecbench.errors import CorruptDataError
from codecbench.hookspecs import hookimpl
from codecbench.succinct.container import Header
from codecbench.succinct.huffman_code import MAX_CODE_LENGTH, canonical, code_lengths

#: after the magic and version: L, n, sigma, n_present, payload_bytes, eof_length, reserved
HEADER = Header("huffman", b"CBHUFFD\0", 1, "IQQQQII")
HEADER_SIZE = HEADER.size  # 56
# what dahuffman (or a damaged stream) may raise while decoding; reported as CorruptDataError
_DECODE_ERRORS = (KeyError, ValueError, IndexError, TypeError, OverflowError)


class HuffmanSequence(Sequence):
    """Queries answered by decoding the dahuffman stream from its start."""

    def __init__(self, codec: dahuffman.HuffmanCodec | None, payload: memoryview, n: int, sigma: int, nbytes: int):
        self._codec = codec
        self._payload = payload
        self._n = n
        self.alphabet_size = sigma
        self._nbytes = nbytes

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        return self._nbytes

    @property
    def payload_nbytes(self) -> int:
        """The dahuffman bitstream alone."""
        return len(self._payload)

    @property
    def index_nbytes(self) -> int:
        """Header and code table."""
        return self._nbytes - len(self._payload)

    @property
    def code_table(self) -> dict:
        """dahuffman's table: symbol (int, or dahuffman's ``_EOF``) -> (bit length, code value)."""
        return {} if self._codec is None else dict(self._codec.get_code_table())

    # ------------------------------------------------------------------ decoding

    def _stream(self) -> Iterator[int]:
        """The decoded symbols, lazily, from the start of the stream.

        Raises CorruptDataError when the stream ends before ``n`` symbols or dahuffman fails; a
        consumer that asks for more than ``n`` symbols gets the check that the stream holds no more.
        """
        if self._codec is None:
            return
        n = self._n
        count = 0
        try:
            for symbol in self._codec.decode_streaming(self._payload):
                if count == n:
                    raise CorruptDataError(f"huffman: bitstream holds more than the {n} symbols the header says")
                count += 1
                yield symbol
        except _DECODE_ERRORS as exc:
            raise CorruptDataError(f"huffman: bitstream does not decode ({type(exc).__name__}: {exc})") from exc
        if count < n:
            raise CorruptDataError(f"huffman: bitstream ends after {count} symbols, header says {n}")

    def _decode(self, start: int, stop: int) -> list[int]:
        """``s[start:stop)``, decoding from the start of the stream (symbols before ``start`` are
        decoded and dropped); decoding up to ``n`` also checks that no symbol follows."""
        if start == stop:
            return []
        decoded = self._codec.decode_streaming(self._payload)
        extra = None
        try:
            out = list(itertools.islice(decoded, start, stop))
            if len(out) == stop - start and stop == self._n:
                extra = next(decoded, None)
        except _DECODE_ERRORS as exc:
            raise CorruptDataError(f"huffman: bitstream does not decode ({type(exc).__name__}: {exc})") from exc
        if len(out) < stop - start:
            raise CorruptDataError(f"huffman: bitstream ends before symbol {stop}, header says {self._n} symbols")
        if extra is not None:
            raise CorruptDataError(f"huffman: bitstream holds more than the {self._n} symbols the header says")
        return out

    # ------------------------------------------------------------------ queries

    def access(self, i: int) -> int:
        i = self._check_index(i)
        return int(self._decode(i, i + 1)[0])

    def rank(self, c: int, i: int) -> int:
        c, i = self._check_rank_args(c, i)
        return self._decode(0, i).count(c)

    def select(self, c: int, k: int) -> int:
        return int(self.select_many(c, [k])[0])

    def select_many(self, c: int, ks: Any) -> np.ndarray:
        """One decoding pass from the start up to the largest ``k``."""
        c, ks = self._check_select_batch(c, ks)
        if ks.size == 0:
            return np.empty(0, dtype=np.int64)
        last = int(ks.max())
        positions: list[int] = []
        for position, symbol in enumerate(self._stream()):
            if symbol == c:
                positions.append(position)
                if len(positions) == last:
                    break
        if len(positions) < last:
            total = len(positions)
            raise IndexError(f"select({c}, {last}): symbol {c} occurs {total} times (k must be in [1, {total}])")
        return np.asarray(positions, dtype=np.int64)[ks - 1]

    def extract(self, start: int, stop: int) -> np.ndarray:
        start, stop = self._check_range(start, stop)
        return np.array(self._decode(start, stop), dtype=np.uint32)


class HuffmanCodec(Codec):
    """Huffman baseline: dahuffman bitstream, canonical code table, no directory."""

    name = "huffman"
    params: dict[str, Any] = {}
    decodes_from_start = True  # no directory: the paper's baseline as the paper had it
    slow = True  # dahuffman: pure Python, about 1-2.5 M symbols/s
    practical_alphabet = 2**16  # dahuffman builds its tables in Python, one entry per symbol

    def encode(self, symbols: np.ndarray, alphabet_size: int, **params: Any) -> bytes:
        self._check_params(params)
        values = check_symbols(symbols, alphabet_size)
        sigma = int(alphabet_size)
        n = int(values.size)
        if n == 0:
            return HEADER.pack(0, 0, sigma, 0, 0, 0, 0)
        present, freqs = np.unique(values, return_counts=True)
        # EOF takes the last index: frequency 1, and it sorts after every symbol of its length
        lengths = code_lengths(np.append(freqs, 1), MAX_CODE_LENGTH)
        code = canonical(lengths)
        table = _code_table(present.tolist(), lengths.tolist(), code.codes.tolist())
        payload = dahuffman.HuffmanCodec(table, concat=list, eof=_EOF).encode(values.tolist())
        bits = int(np.dot(freqs.astype(np.int64), lengths[:-1].astype(np.int64)))
        if len(payload) != -(-bits // 8):  # pragma: no cover - dahuffman changed its framing
            raise RuntimeError(f"huffman: dahuffman wrote {len(payload)} bytes for {bits} bits")
        max_length = code.max_length
        header = HEADER.pack(max_length, n, sigma, present.size, len(payload), int(lengths[-1]), 0)
        counts = code.count[1:].astype("<u4").tobytes()
        order = code.sorted_symbols.astype(np.int64)
        canonical_symbols = present[order[order < present.size]].astype("<u4").tobytes()
        return header + counts + canonical_symbols + payload

    def open(self, buffer: Any) -> HuffmanSequence:
        data = as_byte_array(buffer)
        size = int(data.size)
        max_length, n, sigma, n_present, payload_bytes, eof_length, reserved = HEADER.unpack(data)
        if not 1 <= sigma <= 2**32:
            raise CorruptDataError(f"huffman: alphabet size {sigma} out of range [1, 2**32]")
        if reserved != 0:
            raise CorruptDataError(f"huffman: reserved header field is {reserved}, must be 0")
        if n == 0:
            if (max_length, n_present, payload_bytes, eof_length) != (0, 0, 0, 0) or size != HEADER_SIZE:
                raise CorruptDataError("huffman: an empty sequence has no code table and no payload")
            return HuffmanSequence(None, memoryview(b""), 0, sigma, size)
        if not 1 <= max_length <= MAX_CODE_LENGTH:
            raise CorruptDataError(f"huffman: longest code length {max_length} out of range [1, {MAX_CODE_LENGTH}]")
        if not 1 <= n_present <= min(n, sigma):
            raise CorruptDataError(f"huffman: {n_present} distinct symbols, but n = {n} and sigma = {sigma}")
        if not 1 <= eof_length <= max_length:
            raise CorruptDataError(f"huffman: EOF code length {eof_length} out of range [1, {max_length}]")
        expected = HEADER_SIZE + 4 * max_length + 4 * n_present + payload_bytes
        if size != expected:
            raise CorruptDataError(
                f"huffman: code table of {max_length} lengths and {n_present} symbols plus {payload_bytes} "
                f"payload bytes need {expected} bytes, buffer has {size}"
            )
        offset = HEADER_SIZE
        counts = [0] + data[offset : offset + 4 * max_length].view("<u4").tolist()
        offset += 4 * max_length
        symbols = data[offset : offset + 4 * n_present].view("<u4").astype(np.int64)
        offset += 4 * n_present
        lengths = _validate_table(counts, symbols, eof_length, n_present, sigma)
        data_lengths = np.unique(lengths)
        low, high = int(data_lengths[0]), int(data_lengths[-1])
        if not -(-n * low // 8) <= payload_bytes <= -(-n * high // 8):
            raise CorruptDataError(
                f"huffman: {n} symbols of {low}..{high} bits cannot take {payload_bytes} payload bytes"
            )
        # canonical() wants lengths indexed by symbol order; EOF is the largest "symbol"
        by_symbol = np.argsort(symbols, kind="stable")
        compact = np.append(lengths[by_symbol], eof_length).astype(np.uint8)
        code = canonical(compact)
        table = _code_table(symbols[by_symbol].tolist(), compact.tolist(), code.codes.tolist())
        payload = memoryview(data[offset:]).cast("B")
        return HuffmanSequence(dahuffman.HuffmanCodec(table, concat=list, eof=_EOF), payload, n, sigma, size)


def _code_table(symbols: list[int], lengths: list[int], codes: list[int]) -> dict:
    """dahuffman's code table {symbol: (bitsize, value)}; the last entry of lengths/codes is EOF."""
    table: dict = {s: (length, value) for s, length, value in zip(symbols, lengths, codes, strict=False)}
    table[_EOF] = (lengths[len(symbols)], codes[len(symbols)])
    return table


def _validate_table(counts: list[int], symbols: np.ndarray, eof_length: int, n_present: int, sigma: int) -> np.ndarray:
    """Check the canonical code table; returns each stored symbol's code length."""
    max_length = len(counts) - 1
    if sum(counts) != n_present + 1:
        raise CorruptDataError(f"huffman: {sum(counts)} codes in the table, expected {n_present} symbols plus EOF")
    if counts[max_length] == 0:
        raise CorruptDataError(f"huffman: no code has the longest length {max_length}")
    if counts[eof_length] == 0:
        raise CorruptDataError(f"huffman: no code of length {eof_length} is left for EOF")
    kraft = sum(count << (max_length - length) for length, count in enumerate(counts) if length)
    if kraft != 1 << max_length:
        raise CorruptDataError("huffman: code lengths do not form a complete prefix code (Kraft sum != 1)")
    if symbols.size and int(symbols.max()) >= sigma:
        raise CorruptDataError(f"huffman: code table symbol {int(symbols.max())} outside alphabet [0, {sigma})")
    # EOF is stored implicitly as the last code of its length
    per_length = np.array(counts[1:], dtype=np.int64)
    per_length[eof_length - 1] -= 1
    lengths = np.repeat(np.arange(1, max_length + 1, dtype=np.int64), per_length)
    keys = lengths * 2**33 + symbols
    if lengths.size > 1 and not bool(np.all(keys[1:] > keys[:-1])):
        raise CorruptDataError("huffman: code table symbols are not in canonical (length, symbol) order")
    if np.unique(symbols).size != symbols.size:
        raise CorruptDataError("huffman: a symbol appears twice in the code table")
    return lengths


@hookimpl
def codecbench_codecs() -> list[type[Codec]]:
    return [HuffmanCodec]

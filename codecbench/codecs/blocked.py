"""Independently decodable blocks plus a count index: query machinery for codecs that compress
a sequence in blocks with a general-purpose coder (the ``zstd`` and ``ans`` plugins use it;
a third-party codec may too).

A sequence of ``n`` symbols is cut into blocks of ``B`` symbols (the last one shorter). Every
``R`` consecutive blocks form a *sample* of ``L = R * B`` symbols; the count index lists, per
sample, each symbol occurring in it with its count (sparse rows, symbols ascending). From the
index alone:

- ``rank(c, n)`` and the cumulative count of ``c`` before every sample (computed once per
  symbol, ``O(entries)``, and cached);
- which sample holds the k-th ``c``, so ``select`` decodes only that sample's blocks, and
  ``rank`` only the blocks between a sample start and the position.

``access`` and ``extract`` decode only the blocks they touch. Subclasses supply
``_decode_block(b)``: the symbols of block ``b`` as a uint32 array.

The container (header, block and count indexes, coded blocks) is shared too:
:func:`pack_blocked` writes it and :func:`parse_blocked` checks and reads it, so a blocked
codec is its block coder and little else.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from typing import Any

import numpy as np

from codecbench.codecs.base import Sequence
from codecbench.errors import CorruptDataError
from codecbench.succinct.container import Header, pack_sections, read_sections

#: decoded blocks kept per sequence (a group's select and its extract touch the same blocks)
CACHED_BLOCKS = 4
#: per-symbol cumulative count arrays kept per sequence
CACHED_SYMBOLS = 64
#: ``count_every = "auto"`` aims at max(AUTO_MIN, AUTO_PER_SYMBOL * distinct symbols) per sample
AUTO_MIN = 2**16
AUTO_PER_SYMBOL = 256


def symbol_width(alphabet_size: int) -> int:
    """Bytes of the narrowest unsigned integer holding every symbol ``< alphabet_size``."""
    top = int(alphabet_size) - 1
    return 1 if top < 2**8 else 2 if top < 2**16 else 4


def count_width(sample: int) -> int:
    """Bytes of the narrowest unsigned integer holding ``count - 1`` for counts up to ``sample``."""
    return symbol_width(sample)


def blocks_per_sample(count_every: Any, block_size: int, distinct: int, codec: str) -> int:
    """``R`` from the ``count_every`` parameter: ``"auto"`` or a positive multiple of ``block_size``."""
    if count_every == "auto":
        target = max(AUTO_MIN, AUTO_PER_SYMBOL * distinct)
        r = -(-target // block_size)
    else:
        if type(count_every) is not int or count_every < block_size or count_every % block_size:
            raise ValueError(
                f"codec {codec!r}: count_every must be 'auto' or a multiple of block_size {block_size}, "
                f"got {count_every!r}"
            )
        r = count_every // block_size
    return max(1, min(r, 2**32 // block_size))


def distinct_count(symbols: np.ndarray, alphabet_size: int) -> int:
    """How many distinct symbols ``symbols`` holds."""
    if symbols.size == 0:
        return 0
    if alphabet_size <= max(4 * symbols.size, 2**20):
        return int(np.count_nonzero(np.bincount(symbols, minlength=alphabet_size)))
    return int(np.unique(symbols).size)


def build_count_index(
    symbols: np.ndarray, alphabet_size: int, sample: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ptr u64[S+1], symbols u32[E], counts u64[E])``: per sample of ``sample`` symbols, the
    symbols occurring in it (ascending) and how often."""
    n = symbols.size
    n_samples = -(-n // sample)
    if n == 0:
        return np.zeros(1, np.uint64), np.empty(0, np.uint32), np.empty(0, np.uint64)
    sample_of = np.arange(n, dtype=np.uint64) // np.uint64(sample)
    if n_samples * alphabet_size <= max(4 * n, 2**20):  # dense histogram
        table = np.bincount(sample_of * np.uint64(alphabet_size) + symbols, minlength=n_samples * alphabet_size)
        keys = np.flatnonzero(table).astype(np.uint64)
        counts = table[keys].astype(np.uint64)
    else:
        keys, counts = np.unique(sample_of * np.uint64(alphabet_size) + symbols, return_counts=True)
        counts = counts.astype(np.uint64)
    rows = keys // np.uint64(alphabet_size)
    ptr = np.zeros(n_samples + 1, dtype=np.uint64)
    ptr[1:] = np.cumsum(np.bincount(rows.astype(np.int64), minlength=n_samples))
    return ptr, (keys % np.uint64(alphabet_size)).astype(np.uint32), counts


class CountIndex:
    """The per-sample counts of a sequence, validated against ``n`` and the sample length."""

    def __init__(
        self,
        ptr: np.ndarray,
        symbols: np.ndarray,
        counts_minus_1: np.ndarray,
        n: int,
        sample: int,
        sigma: int,
        codec: str,
    ) -> None:
        n_samples = -(-n // sample)
        if ptr.size != n_samples + 1:
            raise CorruptDataError(f"{codec}: count index has {ptr.size - 1} samples, {n} symbols need {n_samples}")
        ptr = ptr.astype(np.int64)
        if ptr[0] != 0 or ptr[-1] != symbols.size or (n_samples and np.any(np.diff(ptr) < 1)):
            raise CorruptDataError(f"{codec}: count index row pointers are not ascending from 0 to {symbols.size}")
        syms = symbols.astype(np.int64)
        if syms.size and int(syms.max()) >= sigma:
            raise CorruptDataError(f"{codec}: count index names a symbol outside the alphabet [0, {sigma})")
        steps = np.diff(syms)
        row_starts = np.zeros(max(syms.size - 1, 0), dtype=bool)
        row_starts[ptr[1:-1] - 1] = True
        if np.any((steps <= 0) & ~row_starts):
            raise CorruptDataError(f"{codec}: count index symbols are not ascending within a sample")
        counts = counts_minus_1.astype(np.int64) + 1
        lengths = np.full(n_samples, sample, dtype=np.int64)
        if n_samples:
            lengths[-1] = n - (n_samples - 1) * sample
            if not np.array_equal(np.add.reduceat(counts, ptr[:-1]), lengths):
                raise CorruptDataError(f"{codec}: count index counts do not add up to the sample lengths")
        self.ptr, self.symbols, self.counts = ptr, syms, counts
        self._cumulative: OrderedDict[int, np.ndarray] = OrderedDict()

    def cumulative(self, c: int) -> np.ndarray:
        """int64 ``[S + 1]``: occurrences of ``c`` before each sample (the last entry: in all)."""
        found = self._cumulative.get(c)
        if found is None:
            hits = np.flatnonzero(self.symbols == c)
            per_sample = np.zeros(self.ptr.size, dtype=np.int64)
            rows = np.searchsorted(self.ptr, hits, side="right") - 1
            per_sample[rows + 1] = self.counts[hits]
            found = np.cumsum(per_sample)
            self._cumulative[c] = found
            if len(self._cumulative) > CACHED_SYMBOLS:
                self._cumulative.popitem(last=False)
        return found

    def in_sample(self, j: int, c: int) -> int:
        lo, hi = int(self.ptr[j]), int(self.ptr[j + 1])
        at = lo + int(np.searchsorted(self.symbols[lo:hi], c))
        return int(self.counts[at]) if at < hi and self.symbols[at] == c else 0

    def totals(self) -> tuple[np.ndarray, np.ndarray]:
        """(distinct symbols ascending, their total counts)."""
        symbols, inverse = np.unique(self.symbols, return_inverse=True)
        return symbols, np.bincount(inverse, weights=self.counts, minlength=symbols.size).astype(np.int64)


class BlockedSequence(Sequence):
    """Queries over independently decodable blocks and a :class:`CountIndex`."""

    codec_name = "blocked"

    def __init__(self, n: int, alphabet_size: int, block_size: int, per_sample: int, index: CountIndex, nbytes: int):
        self._n = n
        self.alphabet_size = alphabet_size
        self._block = block_size
        self._per_sample = per_sample
        self._sample = block_size * per_sample
        self._n_blocks = -(-n // block_size)
        self._index = index
        self._nbytes = nbytes
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    # -- subclass hook -------------------------------------------------------------

    def _decode_block(self, b: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- helpers -------------------------------------------------------------------

    def _block_length(self, b: int) -> int:
        return min(self._block, self._n - b * self._block)

    def _block_symbols(self, b: int) -> np.ndarray:
        """Block ``b`` decoded (cached); the caller must not modify it."""
        found = self._cache.get(b)
        if found is None:
            found = self._decode_block(b)
            if found.shape != (self._block_length(b),):
                raise CorruptDataError(f"{self.codec_name}: block {b} decodes to {found.size} symbols")
            found.flags.writeable = False
            self._cache[b] = found
            while len(self._cache) > CACHED_BLOCKS:
                try:
                    self._cache.popitem(last=False)
                except KeyError:
                    break
        else:
            try:
                self._cache.move_to_end(b)
            except KeyError:  # evicted meanwhile by another thread: harmless, the block is in hand
                pass
        return found

    def _sample_blocks(self, j: int) -> range:
        return range(j * self._per_sample, min((j + 1) * self._per_sample, self._n_blocks))

    def _inconsistent(self, c: int, j: int) -> CorruptDataError:
        return CorruptDataError(
            f"{self.codec_name}: the count index and the blocks disagree about symbol {c} in sample {j}"
        )

    # -- the Sequence contract -------------------------------------------------------

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        return self._nbytes

    def access(self, i: int) -> int:
        i = self._check_index(i)
        b = i // self._block
        return int(self._block_symbols(b)[i - b * self._block])

    def extract(self, start: int, stop: int) -> np.ndarray:
        start, stop = self._check_range(start, stop)
        out = np.empty(stop - start, dtype=np.uint32)
        at = start
        while at < stop:
            b = at // self._block
            first = b * self._block
            take = min(stop, first + self._block_length(b)) - at
            out[at - start : at - start + take] = self._block_symbols(b)[at - first : at - first + take]
            at += take
        return out

    def rank(self, c: int, i: int) -> int:
        c, i = self._check_rank_args(c, i)
        if i == self._n:
            return int(self._index.cumulative(c)[-1])
        j = i // self._sample
        base = int(self._index.cumulative(c)[j])
        if i == j * self._sample or self._index.in_sample(j, c) == 0:
            return base
        for b in self._sample_blocks(j):
            first = b * self._block
            if first >= i:
                break
            base += int(np.count_nonzero(self._block_symbols(b)[: i - first] == c))
        return base

    def select(self, c: int, k: int) -> int:
        return int(self.select_many(c, [k])[0])

    def select_many(self, c: int, ks: Any) -> np.ndarray:
        c, ks = self._check_select_batch(c, ks)
        if ks.size == 0:
            return np.empty(0, dtype=np.int64)
        cumulative = self._index.cumulative(c)
        if int(ks.max()) > int(cumulative[-1]):
            raise self._select_error(c, int(ks.max()))
        out = np.empty(ks.size, dtype=np.int64)
        samples = np.searchsorted(cumulative, ks, side="left") - 1
        for j in np.unique(samples).tolist():
            which = np.flatnonzero(samples == j)
            wanted = ks[which] - cumulative[j]  # 1-based occurrence within sample j
            need = int(wanted.max())
            hits: list[np.ndarray] = []
            found = 0
            for b in self._sample_blocks(j):
                positions = np.flatnonzero(self._block_symbols(b) == c)
                hits.append(positions + b * self._block)
                found += positions.size
                if found >= need:
                    break
            if found < need:
                raise self._inconsistent(c, j)
            out[which] = np.concatenate(hits)[wanted - 1]
        return out

    def _select_error(self, c: int, k: int) -> IndexError:
        total = int(self._index.cumulative(c)[-1])
        return IndexError(f"select({c}, {k}): symbol {c} occurs {total} times (k must be in [1, {total}])")


# --------------------------------------------------------------------------- the container
#
# The byte layout both plugins share (their SPEC.md files are normative): the 64-byte header of
# ``BLOCKED_FIELDS``, then sections at multiples of 8 bytes with zero padding: ``block_offsets``
# u64[nb + 1], the codec's own per-block sections (``extra``), ``sample_ptr`` u64[ns + 1],
# ``entry_symbols`` uw[E], ``entry_counts`` ucw[E] (counts - 1), then the coded blocks, to the end.

#: after the magic and version: symbol width w, n, sigma, block size B, blocks per sample R,
#: count-index entries E, count width cw, the codec's own u32 (e.g. a model size; 0 if unused),
#: coded bytes P
BLOCKED_FIELDS = "IQQIIQIIQ"
MAX_BLOCK = 2**24
MAX_N = 2**48


@dataclass(frozen=True)
class BlockedPayload:
    """A parsed blocked container: its figures, the coded blocks and the views on its sections."""

    n: int
    sigma: int
    width: int
    block: int
    per_sample: int
    own: int  # the codec's own header field
    offsets: np.ndarray  # u64[nb + 1], into ``blocks``
    extra: dict[str, np.ndarray]  # the codec's own sections (uint8 views)
    blocks: np.ndarray  # uint8: every coded block
    index: CountIndex
    nbytes: int

    def sequence_args(self) -> dict[str, Any]:
        """The keyword arguments :class:`BlockedSequence` takes."""
        return {
            "n": self.n,
            "alphabet_size": self.sigma,
            "block_size": self.block,
            "per_sample": self.per_sample,
            "index": self.index,
            "nbytes": self.nbytes,
        }


def pack_blocked(
    header: Header,
    n: int,
    sigma: int,
    block: int,
    per_sample: int,
    count_index: tuple[np.ndarray, np.ndarray, np.ndarray],
    blocks: list[bytes],
    own: int = 0,
    extra: Seq[bytes] = (),
) -> bytes:
    """The container of ``n`` symbols over ``sigma`` cut into coded ``blocks`` of ``block`` symbols,
    with ``count_index`` from :func:`build_count_index` over samples of ``per_sample`` blocks and
    the codec's own per-block sections ``extra`` (in the order its parser names them)."""
    width, cwidth = symbol_width(sigma), count_width(per_sample * block)
    ptr, entry_symbols, entry_counts = count_index
    offsets = np.zeros(len(blocks) + 1, dtype="<u8")
    offsets[1:] = np.cumsum([len(b) for b in blocks])
    head = header.pack(width, n, sigma, block, per_sample, entry_symbols.size, cwidth, own, int(offsets[-1]))
    sections = [
        offsets.tobytes(),
        *extra,
        ptr.astype("<u8").tobytes(),
        entry_symbols.astype(f"<u{width}").tobytes(),
        (entry_counts - 1).astype(f"<u{cwidth}").tobytes(),
        b"".join(blocks),
    ]
    return pack_sections(head, sections)


def parse_blocked(
    header: Header, data: np.ndarray, extra: Seq[tuple[str, int]] = (), min_block: int = 0
) -> BlockedPayload:
    """Check and parse a container: the header's figures, every section inside the buffer with
    zero padding, block offsets ascending from 0 to the coded size by at least ``min_block``
    bytes, and the count index (:class:`CountIndex`). ``extra``: the codec's own sections, as
    ``(name, bytes per block)``."""
    width, n, sigma, block, per_sample, entries, cwidth, own, coded = header.unpack(data)
    if not 1 <= sigma <= 2**32 or width != symbol_width(sigma):
        raise header.bad(f"symbol width {width} does not match alphabet size {sigma}")
    if n > MAX_N or not 1 <= block <= MAX_BLOCK or per_sample < 1 or per_sample * block > 2**32:
        raise header.bad(f"header figures out of range (n {n}, block {block}, per sample {per_sample})")
    if cwidth != count_width(per_sample * block) or entries > n:
        raise header.bad("header count-index figures are inconsistent")
    n_blocks = -(-n // block)
    n_samples = -(-n_blocks // per_sample)
    sizes = [
        ("block_offsets", 8 * (n_blocks + 1)),
        *((name, per_block * n_blocks) for name, per_block in extra),
        ("sample_ptr", 8 * (n_samples + 1)),
        ("entry_symbols", width * entries),
        ("entry_counts", cwidth * entries),
        ("blocks", coded),
    ]
    views = read_sections(data, header.size, sizes, header.bad)
    offsets = views["block_offsets"].view("<u8")
    if offsets[0] != 0 or offsets[-1] != coded or np.any(np.diff(offsets.astype(np.int64)) < min_block):
        raise header.bad(f"block offsets are not ascending from 0 to the coded size (by at least {min_block})")
    index = CountIndex(
        views["sample_ptr"].view("<u8"),
        views["entry_symbols"].view(f"<u{width}"),
        views["entry_counts"].view(f"<u{cwidth}"),
        n,
        per_sample * block,
        sigma,
        header.codec,
    )
    return BlockedPayload(
        n,
        sigma,
        width,
        block,
        per_sample,
        own,
        offsets,
        {name: views[name] for name, _ in extra},
        views["blocks"],
        index,
        int(data.size),
    )

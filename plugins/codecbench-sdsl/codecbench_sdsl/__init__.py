"""``sdsl``: sdsl-lite's wavelet trees, the field's reference implementation, as a codecbench codec.

A codecbench codec plugin (entry-point group ``codecbench``) over a small pybind11 extension
(``codecbench_sdsl._sdsl``) built at install time against the system's sdsl-lite 2.1.1
(Debian's ``libsdsl-dev``). It is GPL-3.0-or-later because it links sdsl-lite.

Parameter ``variant`` (default ``"wt_huff_rrr63"``):

- ``wt_huff_rrr63``: ``wt_huff<rrr_vector<63>>`` (Huffman-shaped, compressed bit vectors);
- ``wt_huff_bv``: ``wt_huff<bit_vector>`` (Huffman-shaped, plain bit vectors);
- ``wt_int_rrr63``: ``wt_int<rrr_vector<63>>`` (balanced over the symbol values' bits);
- ``wt_int_bv``: ``wt_int<bit_vector>``.

``wt_huff`` uses sdsl's integer-alphabet tree strategy (``int_tree``), whose tables have one
entry per value up to the largest symbol; when the symbols present are not exactly ``0..d-1``
the payload keeps a dictionary (the ``d`` distinct symbols, ascending) and the tree holds their
indices. ``wt_int`` stores the symbols themselves.

The payload (``SPEC.md`` beside this file is normative) is a 64-byte header (magic, version,
variant, n, alphabet size, distinct symbols, flags, sdsl byte count, CRC-32), the optional
dictionary, then the tree exactly as sdsl's ``serialize()`` writes it. ``open`` checks every
header field and the CRC-32 (over the header and everything after it) *before* sdsl's ``load()``
sees a byte, and afterwards that ``load()`` read exactly the recorded bytes and that the tree's
size, leaf count and depth match the header. A forged payload with a valid CRC is trusted to
sdsl, whose loader does not validate its input: do not open payloads from untrusted sources
(the CRC catches corruption, not an attacker). ``open`` copies the tree into sdsl's own
structures (not zero-copy); ``nbytes`` is the payload's length.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np

from codecbench import hookimpl
from codecbench.codecs.base import Codec, Sequence, as_byte_array, check_symbols
from codecbench.errors import CorruptDataError
from codecbench.succinct.container import Header, pack_sections, read_sections

try:
    from codecbench_sdsl import _sdsl
except ImportError as exc:  # pragma: no cover - a broken build; the registry reports the import error
    raise ImportError(f"codecbench-sdsl: the compiled extension does not load ({exc}); reinstall the plugin") from exc

__all__ = ["HEADER", "VARIANTS", "SdslCodec", "SdslSequence", "codecbench_codecs"]
__version__ = "0.1.0"

#: after the magic and version: variant, n, alphabet size, distinct symbols, flags, reserved,
#: sdsl bytes, CRC-32 (of the header's first 56 bytes, the dictionary and the sdsl bytes), reserved
HEADER = Header("sdsl", b"CBSDSL\0\0", 1, "IQQQIIQII")
assert HEADER.size == 64
CRC_AT = 56
FLAG_DICT = 1
#: at most this many symbols per sequence (extract indexes a range with 32-bit slots)
MAX_N = 2**32 - 1

#: variant name -> (id in the header, extension class)
VARIANTS: dict[str, tuple[int, Any]] = {
    "wt_huff_rrr63": (1, _sdsl.WtHuffRrr63),
    "wt_huff_bv": (2, _sdsl.WtHuffBv),
    "wt_int_rrr63": (3, _sdsl.WtIntRrr63),
    "wt_int_bv": (4, _sdsl.WtIntBv),
}
_BY_ID = {vid: (name, cls) for name, (vid, cls) in VARIANTS.items()}


def _max_level(alphabet_size: int) -> int:
    """Levels of a wt_int over symbols < alphabet_size (sdsl builds at least one)."""
    return max(1, (alphabet_size - 1).bit_length())


def _distinct(values: np.ndarray, alphabet_size: int) -> np.ndarray:
    """The distinct symbols of ``values``, ascending, as uint32."""
    if values.size == 0:
        return np.empty(0, dtype=np.uint32)
    if alphabet_size <= max(4 * values.size, 2**20):
        return np.flatnonzero(np.bincount(values, minlength=alphabet_size)).astype(np.uint32)
    return np.unique(values)


class SdslSequence(Sequence):
    """A sequence answered by an sdsl wavelet tree. ``access``, ``rank``, ``select`` and
    ``extract`` are the extension's methods themselves (they raise the documented errors)."""

    def __init__(self, tree: Any, n: int, alphabet_size: int, variant: str, nbytes: int) -> None:
        self._tree = tree
        self._n = n
        self.alphabet_size = alphabet_size
        self.variant = variant
        self._nbytes = nbytes
        # the compiled methods straight on the instance: no Python frame per query
        self.access = tree.access
        self.rank = tree.rank
        self.select = tree.select
        self.extract = tree.extract

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        return self._nbytes

    @property
    def sdsl_size_in_bytes(self) -> int:
        """sdsl's own ``size_in_bytes`` of the loaded tree (without our header and dictionary)."""
        return int(self._tree.size_in_bytes)

    # the class-level methods (the instance attributes above shadow them) keep the ABC satisfied
    def access(self, i: int) -> int:  # pragma: no cover - shadowed
        return self._tree.access(i)

    def rank(self, c: int, i: int) -> int:  # pragma: no cover - shadowed
        return self._tree.rank(c, i)

    def select(self, c: int, k: int) -> int:  # pragma: no cover - shadowed
        return self._tree.select(c, k)

    def extract(self, start: int, stop: int) -> np.ndarray:  # pragma: no cover - shadowed
        return self._tree.extract(start, stop)

    def select_many(self, c: int, ks: Any) -> np.ndarray:
        c, ks = self._check_select_batch(c, ks)
        if ks.size == 0:
            return np.empty(0, dtype=np.int64)
        total = self._tree.rank(c, self._n)
        if int(ks.max()) > total:
            raise self._select_error(c, int(ks.max()))
        return self._tree.select_many(c, ks)


class SdslCodec(Codec):
    """sdsl-lite's wt_huff / wt_int (see the module docstring)."""

    name = "sdsl"
    params: dict[str, Any] = {"variant": "wt_huff_rrr63"}
    #: each variant is its own column in the benchmarks and its own --auto candidate
    variants = tuple({"variant": v} for v in VARIANTS)

    def encode(self, symbols: np.ndarray, alphabet_size: int, **params: Any) -> bytes:
        p = self._check_params(params)
        variant = p["variant"]
        if not isinstance(variant, str) or variant not in VARIANTS:
            raise ValueError(f"codec 'sdsl': parameter 'variant' must be one of {', '.join(VARIANTS)}; got {variant!r}")
        vid, cls = VARIANTS[variant]
        values = check_symbols(symbols, alphabet_size)
        n, sigma = int(values.size), int(alphabet_size)
        if n > MAX_N:
            raise ValueError(f"codec 'sdsl': at most {MAX_N} symbols per sequence, got {n}")
        present = _distinct(values, sigma)
        distinct = int(present.size)
        dictionary = b""
        flags = 0
        codes = values
        if variant.startswith("wt_huff") and distinct and int(present[-1]) != distinct - 1:
            # not dense: the tree holds indices into the ascending distinct symbols
            flags |= FLAG_DICT
            dictionary = present.astype("<u4").tobytes()
            codes = np.searchsorted(present, values).astype(np.uint32)
        blob = cls.build(codes)
        head = HEADER.pack(vid, n, sigma, distinct, flags, 0, len(blob), 0, 0)
        packed = bytearray(pack_sections(head, [dictionary, blob]))
        crc = zlib.crc32(bytes(packed[CRC_AT + 8 :]), zlib.crc32(head[:CRC_AT]))  # header, dictionary, tree
        struct.pack_into("<I", packed, CRC_AT, crc)
        return bytes(packed)

    def open(self, buffer: Any) -> SdslSequence:
        data = as_byte_array(buffer)
        vid, n, sigma, distinct, flags, reserved, blob_len, crc, reserved2 = HEADER.unpack(data)
        if vid not in _BY_ID:
            raise CorruptDataError(f"sdsl: unknown variant id {vid}")
        variant, cls = _BY_ID[vid]
        if not 1 <= sigma <= 2**32:
            raise CorruptDataError(f"sdsl: alphabet size {sigma} out of range [1, 2**32]")
        if n > MAX_N or distinct > min(n, sigma) or (n > 0) != (distinct > 0):
            raise CorruptDataError(f"sdsl: header figures out of range (n {n}, distinct symbols {distinct})")
        if flags & ~FLAG_DICT or reserved or reserved2:
            raise CorruptDataError("sdsl: header sets unknown flags or reserved fields")
        has_dict = bool(flags & FLAG_DICT)
        if has_dict and not variant.startswith("wt_huff"):
            raise CorruptDataError(f"sdsl: variant {variant} does not take a dictionary")
        dict_len = 4 * distinct if has_dict else 0
        views = read_sections(data, HEADER.size, [("dictionary", dict_len), ("tree", blob_len)], HEADER.bad)
        if (n == 0) != (blob_len == 0):
            raise HEADER.bad(f"{blob_len} sdsl bytes for {n} symbols")
        got = zlib.crc32(data[HEADER.size :], zlib.crc32(data[:CRC_AT]))
        if got != crc:
            raise HEADER.bad(f"checksum mismatch (CRC-32 {got:#010x}, header says {crc:#010x})")
        if has_dict:
            dictionary = views["dictionary"].view("<u4").astype(np.uint32)
            if np.any(np.diff(dictionary.astype(np.int64)) <= 0) or int(dictionary[-1]) >= sigma:
                raise CorruptDataError("sdsl: dictionary symbols are not ascending within the alphabet")
        else:
            dictionary = np.empty(0, dtype=np.uint32)
            if variant.startswith("wt_huff") and distinct > sigma:
                raise CorruptDataError("sdsl: more tree symbols than the alphabet holds")
        try:
            tree = cls.load(views["tree"], n, sigma, distinct, _max_level(sigma), dictionary)
        except (ValueError, RuntimeError, MemoryError, IndexError) as exc:
            raise CorruptDataError(f"sdsl: {exc}") from None
        return SdslSequence(tree, int(n), int(sigma), variant, int(data.size))


@hookimpl
def codecbench_codecs() -> list[type[Codec]]:
    return [SdslCodec]

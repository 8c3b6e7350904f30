"""The frame every serialized structure here shares: an 8-byte magic, a u32 layout version, the
structure's own fixed fields (one little-endian struct), then sections, each starting at the
next multiple of an alignment, zero padding between them.

One implementation of the checks every codec used to write out itself: the buffer is long
enough for the header, the magic and version are the codec's, every section lies inside the
buffer, padding is zero, and the buffer ends where the last section does. Failures are one-line
:class:`~codecbench.errors.CorruptDataError` s naming the codec. Third-party codecs use it too
(the ``zstd``, ``ans`` and ``sdsl`` plugins)::

    HEADER = Header("mycodec", b"MYCODEC\\0", 1, "QQ")          # magic, version, then n, sigma
    blob = HEADER.pack(n, sigma) + ...
    n, sigma = HEADER.unpack(data)                             # checks length, magic, version
    views = read_sections(data, HEADER.size, [("index", 8 * k), ("bits", m)], HEADER.bad)
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from codecbench.errors import CorruptDataError


class Header:
    """A payload's fixed header: ``magic`` (8 bytes), u32 version, then ``fields`` (a struct
    format without byte order: little-endian is implied). ``readable`` versions are accepted by
    :meth:`unpack` (default: ``version`` only); :meth:`pack` writes ``version``."""

    def __init__(self, codec: str, magic: bytes, version: int, fields: str, readable: Sequence[int] = ()) -> None:
        if len(magic) != 8:
            raise ValueError("a magic is 8 bytes")
        self.codec, self.magic, self.version = codec, magic, version
        self.readable = frozenset({version, *readable})
        self._struct = struct.Struct("<8sI" + fields)
        self.size = self._struct.size

    def pack(self, *fields: Any, version: int | None = None) -> bytes:
        return self._struct.pack(self.magic, self.version if version is None else version, *fields)

    def pack_into(self, buffer: Any, offset: int, *fields: Any) -> None:
        self._struct.pack_into(buffer, offset, self.magic, self.version, *fields)

    def unpack(self, data: np.ndarray) -> tuple[Any, ...]:
        """The fields after the version; raises unless ``data`` holds a header of this codec in a
        readable version (:meth:`version_of` tells which)."""
        if data.size < self.size:
            raise self.bad(f"{data.size} bytes is shorter than the {self.size}-byte header")
        magic, version, *fields = self._struct.unpack_from(data, 0)
        if magic != self.magic:
            raise self.bad(f"bad magic (not a {self.codec} payload)")
        if version not in self.readable:
            readable = ", ".join(map(str, sorted(self.readable)))
            raise self.bad(f"unsupported layout version {version} (this build reads {readable})")
        return tuple(fields)

    def version_of(self, data: np.ndarray) -> int:
        """The layout version of a header :meth:`unpack` accepted."""
        return int(self._struct.unpack_from(data, 0)[1])

    def bad(self, message: str) -> CorruptDataError:
        return CorruptDataError(f"{self.codec}: {message}")


def align_up(n: int, align: int) -> int:
    return -(-n // align) * align


def section_offsets(start: int, sizes: Sequence[tuple[str, int]], align: int = 8) -> tuple[dict[str, int], int]:
    """Where each ``(name, nbytes)`` section starts when each begins at the next multiple of
    ``align`` from ``start``, and where the last one ends."""
    offsets, position = {}, start
    for name, nbytes in sizes:
        position = align_up(position, align)
        offsets[name] = position
        position += nbytes
    return offsets, position


def pack_sections(head: bytes, sections: Sequence[bytes], align: int = 8) -> bytes:
    """``head``, then each section at the next multiple of ``align``, zero padding between."""
    parts, position = [head], len(head)
    for section in sections:
        pad = align_up(position, align) - position
        parts += [b"\0" * pad, section]
        position += pad + len(section)
    return b"".join(parts)


def read_sections(
    data: np.ndarray,
    start: int,
    sizes: Sequence[tuple[str, int]],
    bad: Callable[[str], Exception],
    align: int = 8,
    exact: bool = True,
) -> dict[str, np.ndarray]:
    """Views (uint8) on the sections laid out as :func:`section_offsets` says, after checking that
    each lies inside ``data``, the padding before it is zero and, with ``exact``, that ``data``
    ends where the last section does (else it may go on: the caller reads the rest)."""
    offsets, end = section_offsets(start, sizes, align)
    if end > data.size or (exact and end != data.size):
        raise bad(f"the header describes {end} bytes, the buffer has {data.size}")
    views, position = {}, start
    for name, nbytes in sizes:
        at = offsets[name]
        if np.any(data[position:at]):
            raise bad(f"padding before section {name!r} is not zero")
        views[name] = data[at : at + nbytes]
        position = at + nbytes
    return views

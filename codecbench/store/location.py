"""Where a store lives: a local directory, a local ``.zip`` file, or an fsspec URL.

All I/O goes through zarr's own stores: :class:`zarr.storage.LocalStore` for directories,
:class:`zarr.storage.ZipStore` for ``.zip`` files, :class:`zarr.storage.FsspecStore` for URLs
(``s3://bucket/model.zarr`` needs the optional ``s3fs``; ``memory://name.zarr``, ``gcs://``,
``abfs://`` ... work with their fsspec packages). ``storage_options`` are handed to fsspec
(e.g. ``{"endpoint_url": ..., "key": ..., "secret": ...}`` for S3); credentials otherwise come
from the usual places (``AWS_*`` environment variables, ``~/.aws``).

The write protocol for each kind is in ``specs/store-format.md`` §8 and
:mod:`codecbench.store.writer`.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

import zarr
from zarr.core.sync import sync

from codecbench.errors import StoreError

LOCAL, ZIP, FSSPEC = "local", "zip", "fsspec"
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*(::[^:]*)?://")
#: fsspec protocols and the optional package (our extra) they need
_EXTRAS = {"s3": "s3", "s3a": "s3"}


@dataclass(frozen=True)
class Location:
    """A parsed store location: ``kind`` is ``local``, ``zip`` or ``fsspec``; ``target`` the
    local path or the URL."""

    kind: str
    target: str
    storage_options: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.target


def is_url(text: str) -> bool:
    return bool(_URL.match(text))


def parse_location(where: str | os.PathLike[str], storage_options: dict[str, Any] | None = None) -> Location:
    """Classify ``where``: a URL (``proto://...``; ``file://`` is a local path), a ``.zip``
    file, or a local directory."""
    text = os.fspath(where)
    options = dict(storage_options or {})
    if is_url(text):
        if text.startswith("file://"):
            text = text[len("file://") :]
        else:
            if text.lower().rstrip("/").endswith(".zip"):
                raise StoreError(f"{text}: .zip stores must be local files (write a directory-style store to URLs)")
            return Location(FSSPEC, text, options)
    if text.lower().endswith(".zip"):
        return Location(ZIP, text, options)
    return Location(LOCAL, text, options)


def fsspec_store(location: Location, *, read_only: bool) -> zarr.storage.FsspecStore:
    """zarr's FsspecStore for a URL; a missing fsspec implementation or a malformed URL is a
    one-line StoreError naming the URL."""
    url = location.target
    protocol = url.split("://", 1)[0].split("::")[-1].lower()
    try:
        return zarr.storage.FsspecStore.from_url(url, storage_options=location.storage_options, read_only=read_only)
    except ImportError as exc:
        extra = _EXTRAS.get(protocol)
        hint = f"pip install 'codecbench[{extra}]'" if extra else f"install the fsspec package for {protocol}://"
        raise StoreError(f"{url}: cannot open {protocol}:// URLs ({_first_line(exc)}; {hint})") from None
    except Exception as exc:  # unknown protocol (ValueError), bad storage options (TypeError), ...
        raise StoreError(f"{url}: cannot open ({type(exc).__name__}: {_first_line(exc)})") from None


def open_read_store(location: Location) -> Any:
    """A read-only zarr store for ``location``; StoreError if there is no store there."""
    if location.kind == LOCAL:
        if not os.path.isdir(location.target):
            raise StoreError(f"{location.target}: no such store (not a directory)")
        return zarr.storage.LocalStore(location.target, read_only=True)
    if location.kind == ZIP:
        if not os.path.isfile(location.target):
            raise StoreError(f"{location.target}: no such store (not a file)")
        if not zipfile.is_zipfile(location.target):
            raise StoreError(f"{location.target}: not a zip store (not a zip file)")
        try:
            return zarr.storage.ZipStore(location.target, mode="r", read_only=True)
        except Exception as exc:  # zipfile.BadZipFile, OSError
            raise StoreError(f"{location.target}: not a zip store ({type(exc).__name__}: {_first_line(exc)})") from None
    store = fsspec_store(location, read_only=True)
    try:
        found = sync(store.exists("zarr.json"))
    except Exception as exc:  # no credentials, no such bucket, endpoint down: one line naming the URL
        raise StoreError(f"{location.target}: cannot read ({type(exc).__name__}: {_first_line(exc)})") from None
    if not found:
        raise StoreError(f"{location.target}: no such store (no zarr.json there)")
    return store


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__

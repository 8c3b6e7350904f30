"""Lazy store reader in the spirit of safetensors' ``safe_open``.

Opening reads the consolidated metadata only. A tensor's chunk is fetched from the store the
first time it is needed and kept *compressed* (its Sequence and dictionary arrays); nothing
is decoded until asked for. ``prefetch(name)`` starts that fetch on a background thread (the
executor's read-ahead: the next layer's chunk downloads while the current layer computes);
``open_tensor`` then waits for it instead of fetching again.

Stores are opened from local directories, ``.zip`` files or fsspec URLs
(:mod:`codecbench.store.location`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import google_crc32c
import numpy as np
import zarr
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

from codecbench import dtypes
from codecbench.codecs.base import Sequence, aligned_copy, aligned_empty, open_sequence
from codecbench.errors import CodecbenchError, ConfigError, CorruptDataError, PluginError, StoreError
from codecbench.formulations.base import RAS, Formulation
from codecbench.registry import get_registry
from codecbench.store import chunk
from codecbench.store.location import open_read_store, parse_location
from codecbench.store.writer import FORMAT_VERSION, PLAIN, check_name


@dataclass(frozen=True)
class OpenedTensor:
    """A tensor kept compressed: its RAS (dictionaries, no symbols) and queryable Sequence."""

    name: str
    ras: RAS
    sequence: Sequence
    formulation: Formulation
    nbytes: int
    codec: str = "?"
    label: str = ""  # the store's
    #: the pair's fused decoder when it applies to this tensor, else None (codecbench.fused)
    fused: Any = None

    def failure(self, exc: Exception) -> CodecbenchError:
        """``exc``, raised while decoding this tensor, as one line naming it (:func:`failure`)."""
        return failure(self.label, self.name, f"{self.formulation.name}/{self.codec}", exc)


def failure(label: str, name: str, pair: str, exc: Exception) -> CodecbenchError:
    """``exc``, raised while tensor ``name`` of store ``label`` (coded as ``pair``,
    "formulation/codec") was opened or decoded, as one line naming the store, the tensor, the
    pair and the cause. A :class:`CodecbenchError` that names the tensor already comes back as
    it is; anything else (a plugin raising what its contract does not allow, a bug) becomes a
    :class:`PluginError`, whose ``__cause__`` the caller chains (``--debug`` shows it)."""
    where = f"{label}: tensor {name!r}" if label else f"tensor {name!r}"
    if isinstance(exc, CodecbenchError):
        return exc if repr(name) in str(exc) else type(exc)(f"{where} ({pair}): {exc}")
    return PluginError(f"{where} ({pair}): {type(exc).__name__}: {_line(exc) or 'no message'}")


class StoreReader:
    """Read access to a codecbench store. Use :func:`open_store` (or ``codecbench.open``)."""

    def __init__(self, store: Any, label: str) -> None:
        self.label = label
        self._store = store
        try:
            self._group = zarr.open_group(store, mode="r", zarr_format=3, use_consolidated=True)
        except (FileNotFoundError, ValueError, KeyError, zarr.errors.BaseZarrError) as exc:
            raise StoreError(f"{label}: not a codecbench store ({type(exc).__name__}: {_line(exc)})") from None
        except Exception as exc:  # remote stores: network, permissions, credentials
            raise StoreError(f"{label}: cannot read store metadata ({type(exc).__name__}: {_line(exc)})") from None
        attrs = self._group.attrs.asdict().get("codecbench")
        if not isinstance(attrs, dict) or not isinstance(attrs.get("tensors"), list):
            raise StoreError(f"{label}: zarr group has no codecbench attributes (not a codecbench store)")
        version = attrs.get("format_version")
        if type(version) is not int or not 1 <= version <= FORMAT_VERSION:
            raise StoreError(
                f"{label}: store format version {version!r} is not readable (this build reads 1..{FORMAT_VERSION})"
            )
        self.attrs: dict[str, Any] = attrs
        self._names: list[str] = [str(n) for n in attrs["tensors"]]
        self._opening: dict[str, Future[OpenedTensor]] = {}  # fetched (or being fetched), kept compressed
        self._lock = threading.Lock()
        self._readahead: ThreadPoolExecutor | None = None
        self._consolidated: dict[str, Any] | None = None

    # -- metadata only ---------------------------------------------------------------
    def keys(self) -> list[str]:
        return list(self._names)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def info(self, name: str) -> dict[str, Any]:
        """The tensor's JSON record: storage, formulation, codec, params, shape, dtype, sizes, sha256."""
        try:
            attributes = self._array(name).attrs.asdict()
        except (TypeError, ValueError):  # attributes that are not a JSON object
            attributes = {}
        record = attributes.get("codecbench")
        if not isinstance(record, dict) or record.get("storage") not in (PLAIN, "codecbench"):
            raise StoreError(f"{self.label}: tensor {name!r} has no valid codecbench record")
        shape = record.get("shape")
        if (
            not isinstance(shape, list)
            or not all(type(d) is int and 0 <= d <= 2**40 for d in shape)
            or math.prod(shape) > 2**40
            or not isinstance(record.get("dtype"), str)
            or record["dtype"] not in chunk.ALLOWED_DTYPES
        ):
            raise CorruptDataError(
                f"{self.label}: tensor {name!r}: record shape {shape!r} / dtype {record.get('dtype')!r} is not valid"
            )
        return dict(record)

    @property
    def model(self) -> str | None:
        return self.attrs.get("model")

    # -- reads -----------------------------------------------------------------------
    def tensor(self, name: str) -> np.ndarray:
        """The tensor decoded to a dense numpy array, bit-exact."""
        if self.info(name)["storage"] == PLAIN:
            return self._read_plain(name)
        opened = self.open_tensor(name)
        ras = opened.ras
        self._check_memory(name, math.prod(ras.shape) * dtypes.dtype_of(ras.dtype).itemsize + 4 * len(opened.sequence))
        try:
            return opened.formulation.decode(ras, opened.sequence)
        except (CorruptDataError, ValueError, IndexError) as exc:
            raise CorruptDataError(f"{self.label}: tensor {name!r}: {exc}") from None
        except MemoryError:
            raise StoreError(f"{self.label}: tensor {name!r}: out of memory decoding it") from None
        except Exception as exc:
            raise self.failure(name, exc) from exc

    def sequence(self, name: str) -> Sequence:
        """The tensor's opened, queryable symbol Sequence (compressed)."""
        return self.open_tensor(name).sequence

    def open_tensor(self, name: str) -> OpenedTensor:
        """Fetch the chunk (once), parse it and open its Sequence; kept compressed. If a
        :meth:`prefetch` of it is under way, wait for that instead of fetching again."""
        with self._lock:
            future = self._opening.get(name)
            owner = future is None
            if owner:
                future = self._opening[name] = Future()
        if owner:
            try:
                future.set_result(self._open(name))
            except BaseException as exc:
                with self._lock:  # a failed fetch is not remembered: the next call tries again
                    del self._opening[name]
                future.set_exception(exc)
        return future.result()

    def prefetch(self, name: str) -> None:
        """Start fetching and opening ``name`` on a background thread, if not yet started.
        Errors are not raised here: the next :meth:`open_tensor` of it fetches again and raises."""
        with self._lock:
            if name in self._opening:
                return
            if self._readahead is None:
                self._readahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="codecbench-readahead")
            pool = self._readahead
        pool.submit(self._prefetch, name)

    def _prefetch(self, name: str) -> None:
        try:
            self.open_tensor(name)
        except BaseException:  # reported by the caller's own open_tensor
            pass

    def is_fetched(self, name: str) -> bool:
        """Whether ``name``'s chunk has been fetched (or is being fetched)."""
        with self._lock:
            return name in self._opening

    def verify(self, name: str) -> None:
        """Decode the tensor and check its sha256; raises CorruptDataError on mismatch."""
        record = self.info(name)
        data = np.asarray(self.tensor(name), order="C")
        digest = hashlib.sha256(memoryview(data.reshape(-1).view(np.uint8))).hexdigest()
        if digest != record.get("sha256") or list(data.shape) != record.get("shape"):
            raise CorruptDataError(
                f"{self.label}: tensor {name!r}: sha256 mismatch (decoded bytes differ from the original)"
            )

    def check_metadata(self, name: str) -> None:
        """Raise CorruptDataError unless the array's own ``zarr.json`` (what plain
        ``zarr.open_array`` reads) says exactly what the consolidated copy in the root
        ``zarr.json`` says (what codecbench reads); the message names the first field that differs."""
        self._array(name)  # listed, present, an array
        consolidated = self._consolidated_json().get(name)
        key = f"{name}/zarr.json"
        own = self._raw_json(key)
        if own == consolidated:
            return
        if not isinstance(own, dict) or not isinstance(consolidated, dict):
            raise CorruptDataError(
                f"{self.label}: tensor {name!r}: {key} is not a JSON object like its consolidated copy"
            )
        field = next(k for k in sorted(set(own) | set(consolidated)) if own.get(k) != consolidated.get(k))
        raise CorruptDataError(
            f"{self.label}: tensor {name!r}: {key} differs from the consolidated metadata in {field!r}"
        )

    def verify_all(self) -> list[dict[str, Any]]:
        """:meth:`check_metadata` and :meth:`verify` for every tensor: ``{"name", "ok"[, "error"]}``
        per tensor, in store order (``codecbench verify``)."""
        results = []
        for name in self.keys():
            try:
                self.check_metadata(name)
                self.verify(name)
                results.append({"name": name, "ok": True})
            except CodecbenchError as exc:
                results.append({"name": name, "ok": False, "error": str(exc)})
        return results

    def summary(self) -> dict[str, Any]:
        """The store at a glance (``codecbench info --json``): attributes, totals, and per tensor
        its storage, pair, shape, dtype, original and stored bytes, ratio and ``--auto`` record."""
        rows = []
        for name in self.keys():
            rec = self.info(name)
            stored = rec.get("stored_nbytes", 0)
            rows.append(
                {
                    "name": name,
                    "storage": rec["storage"],
                    "formulation": rec["formulation"],
                    "codec": rec["codec"],
                    "shape": rec["shape"],
                    "dtype": rec["dtype"],
                    "original_bytes": rec["original_nbytes"],
                    "stored_bytes": stored,
                    "ratio": rec["original_nbytes"] / stored if stored else None,
                    "auto": rec.get("auto"),
                }
            )
        original = sum(r["original_bytes"] for r in rows)
        stored = sum(r["stored_bytes"] for r in rows)
        return {
            "store": self.label,
            "model": self.model,
            "weights": self.attrs.get("weights"),
            "prune": self.attrs.get("prune"),
            "auto": self.attrs.get("auto"),
            "format_version": self.attrs.get("format_version"),
            "original_bytes": original,
            "stored_bytes": stored,
            "ratio": original / stored if stored else None,
            "tensors": rows,
        }

    # -- internals -------------------------------------------------------------------
    def _array(self, name: str) -> zarr.Array:
        if name not in self._names:
            raise StoreError(f"{self.label}: no tensor {name!r} in store")
        try:
            check_name(name)
            array = self._group[name]
        except (KeyError, ConfigError):
            raise StoreError(f"{self.label}: tensor {name!r} is listed but missing") from None
        except Exception as exc:  # zarr parsing hostile array metadata
            raise StoreError(
                f"{self.label}: tensor {name!r}: bad array metadata ({type(exc).__name__}: {_line(exc)})"
            ) from None
        if not isinstance(array, zarr.Array):
            raise StoreError(f"{self.label}: tensor {name!r} is not an array")
        return array

    def _raw_json(self, key: str) -> Any:
        """The JSON document stored under ``key`` as it is (None when missing or not JSON)."""
        try:
            buf = sync(self._group.store.get(key, prototype=default_buffer_prototype()))
        except Exception as exc:  # remote stores: network, permissions
            raise StoreError(f"{self.label}: cannot read {key} ({type(exc).__name__}: {_line(exc)})") from None
        if buf is None:
            return None
        try:
            return json.loads(buf.to_bytes())
        except (ValueError, RecursionError):
            return None

    def _consolidated_json(self) -> dict[str, Any]:
        """Per array, its metadata as the root ``zarr.json`` holds it (read once)."""
        if self._consolidated is None:
            root = self._raw_json("zarr.json")
            found = root.get("consolidated_metadata", {}).get("metadata") if isinstance(root, dict) else None
            self._consolidated = found if isinstance(found, dict) else {}
        return self._consolidated

    def _check_memory(self, name: str, nbytes: int) -> None:
        """Refuse to decode what cannot fit in this machine's memory (or the address-space limit):
        a one-line error instead of a MemoryError, or an overcommitted allocation the OOM killer ends."""
        limit = _memory_limit()
        if nbytes > limit:
            raise StoreError(
                f"{self.label}: tensor {name!r}: decoding needs {nbytes:,} bytes, more than the {limit:,} available"
            )

    def _read_plain(self, name: str) -> np.ndarray:
        # zarr reads (and allocates) by the array metadata: check it against the record and the
        # stored chunk's size first, so a forged shape cannot make us allocate
        record = self.info(name)
        array = self._array(name)
        dtype = dtypes.dtype_of(record["dtype"])
        shape = record["shape"]
        stored = np.dtype(np.uint16) if dtypes.is_bfloat16(dtype) else dtype
        if list(array.shape) != shape or np.dtype(array.dtype) != stored:
            raise CorruptDataError(
                f"{self.label}: tensor {name!r}: array is {list(array.shape)} {array.dtype}, record says {shape} {dtype}"
            )
        if math.prod(shape):
            if list(array.chunks) != shape:
                raise CorruptDataError(f"{self.label}: tensor {name!r}: a plain tensor is one chunk of its shape")
            key = f"{array.path}/{array.metadata.encode_chunk_key((0,) * array.ndim)}"
            try:
                size = sync(self._group.store.getsize(key))
            except FileNotFoundError:
                raise CorruptDataError(f"{self.label}: tensor {name!r}: chunk {key} is missing") from None
            except Exception as exc:
                raise StoreError(
                    f"{self.label}: tensor {name!r}: cannot stat chunk {key} ({type(exc).__name__}: {_line(exc)})"
                ) from None
            if size != math.prod(shape) * dtype.itemsize + 4:
                raise CorruptDataError(
                    f"{self.label}: tensor {name!r}: chunk is {size} bytes, {shape} {dtype} needs "
                    f"{math.prod(shape) * dtype.itemsize + 4}"
                )
        try:
            data = dtypes.from_storage(np.asarray(self._array(name)[...]), self.info(name)["dtype"])
        except CodecbenchError:
            raise
        except Exception as exc:  # zarr raises ValueError for bad checksums, and others
            raise CorruptDataError(f"{self.label}: tensor {name!r}: {exc}") from None
        return data

    def _chunk_bytes(self, name: str) -> np.ndarray:
        array = self._array(name)
        key = f"{array.path}/{array.metadata.encode_chunk_key((0,) * array.ndim)}"
        store = self._group.store
        try:
            if isinstance(store, zarr.storage.LocalStore):
                raw = _read_aligned(os.path.join(str(store.root), key))
            else:
                buf = sync(store.get(key, prototype=default_buffer_prototype()))
                raw = None if buf is None else buf.as_numpy_array()
        except Exception as exc:  # remote stores: network, permissions
            raise StoreError(
                f"{self.label}: tensor {name!r}: cannot fetch chunk {key} ({type(exc).__name__}: {_line(exc)})"
            ) from None
        if raw is None:
            raise CorruptDataError(f"{self.label}: tensor {name!r}: chunk {key} is missing")
        if raw.size < 4 or np.uint32(google_crc32c.value(raw[:-4])).tobytes() != raw[-4:].tobytes():
            raise CorruptDataError(f"{self.label}: tensor {name!r}: chunk checksum mismatch (corrupted chunk)")
        data = raw[:-4]
        # sections are 64-aligned within the chunk: a 64-aligned start puts every codec's words
        # on cache-line boundaries (the wavelet tree's rank blocks are one line each)
        return data if data.ctypes.data % 64 == 0 else aligned_copy(data)

    def _open(self, name: str) -> OpenedTensor:
        record = self.info(name)
        if record.get("storage") == PLAIN:
            raise StoreError(f"{self.label}: tensor {name!r} is stored plain; it has no symbol sequence")
        data = self._chunk_bytes(name)
        registry = get_registry()
        try:
            parsed = chunk.parse_chunk(data)
            held = [parsed.header[k] for k in ("formulation", "codec", "formulation_params", "codec_params")]
            said = [record.get(k) for k in ("formulation", "codec", "formulation_params", "codec_params")]
            if held != said:
                raise CorruptDataError(
                    f"chunk holds {held[0]}/{held[1]} {held[2:]}, metadata says {said[0]}/{said[1]} {said[2:]}"
                )
            if list(parsed.ras.shape) != record.get("shape") or parsed.ras.dtype != record.get("dtype"):
                raise CorruptDataError("chunk shape or dtype differs from the metadata")
            formulation = registry.formulation(parsed.formulation)
            formulation.check_ras(parsed.ras)
            formulation.check_symbol_count(parsed.ras, parsed.header["n_symbols"])
            sequence = open_sequence(registry.codec(parsed.codec), parsed.payload)
            chunk.check_sequence(parsed, sequence)
            fused = registry.fused(parsed.formulation, parsed.codec)
            if fused is not None and not fused.applies(parsed.ras, sequence):
                fused = None
        except CodecbenchError as exc:
            raise type(exc)(f"{self.label}: tensor {name!r}: {exc}") from None
        except Exception as exc:
            raise self.failure(name, exc) from exc
        return OpenedTensor(name, parsed.ras, sequence, formulation, int(data.size), parsed.codec, self.label, fused)

    def failure(self, name: str, exc: Exception) -> CodecbenchError:
        """``exc``, raised while ``name`` was opened or decoded, as one line (:func:`failure`)."""
        try:
            record = self.info(name)
            pair = f"{record.get('formulation')}/{record.get('codec')}"
        except CodecbenchError:
            pair = "?/?"
        return failure(self.label, name, pair, exc)


def _read_aligned(path: str) -> np.ndarray | None:
    """A local chunk file read straight into a 64-aligned buffer (None if it does not exist).
    zarr's own read returns a ``bytes`` whose data is never 64-aligned, so every chunk was
    copied once more, and the copy of a large chunk was a transient of its whole size."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return None
    with f:
        size = os.fstat(f.fileno()).st_size
        out = aligned_empty(size)
        view, got = memoryview(out), 0
        while got < size:
            n = f.readinto(view[got:])
            if not n:  # the file shrank under us: what was read is checked (and fails) as usual
                return out[:got]
            got += n
        return out


def open_store(
    path_or_store: Any, cls: type[StoreReader] = StoreReader, *, storage_options: dict[str, Any] | None = None
) -> Any:
    """Open a store lazily, as a ``cls``, from a local directory, a local ``.zip`` file, an
    fsspec URL (``s3://bucket/model.zarr``, ``memory://m.zarr``; ``storage_options`` go to
    fsspec) or a zarr ``Store`` object. Reads the consolidated metadata only."""
    if isinstance(path_or_store, (str, os.PathLike)):
        location = parse_location(path_or_store, storage_options)
        return cls(open_read_store(location), location.target)
    return cls(path_or_store, repr(path_or_store))


def _memory_limit() -> int:
    """Bytes one decode may claim: physical memory, or the soft address-space limit if lower."""
    try:
        limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not on this platform
        limit = 2**63
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            limit = min(limit, soft)
    except (ImportError, OSError, ValueError):
        pass
    return limit


def _line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""

"""Writes a store atomically: nothing is visible at the destination until it is complete.

Where the store goes decides how (``specs/store-format.md`` §8):

- a local directory: built in a hidden sibling directory, renamed into place when complete;
- a local ``.zip`` file: built as a directory as above, packed into a hidden sibling zip file
  through zarr's ZipStore, then renamed into place;
- an fsspec URL (``s3://``, ``memory://``, ...), which has no rename: every object is written
  straight to the destination except the root ``zarr.json``, written last; a store *is* its
  root ``zarr.json`` (it holds the consolidated metadata), and one object PUT is atomic, so
  the store appears complete or not at all. A failed write deletes what it wrote. Replacing
  an existing store first builds the new one under a hidden sibling prefix the same way, then
  deletes the old root ``zarr.json`` (the old store is gone from that instant), the old
  objects, copies the new objects over (root ``zarr.json`` last) and deletes the sibling.

In every case the root ``zarr.json`` is held back in memory until every other object is
written (:class:`RootLast`). ``encoder`` (``codecbench compress --dask``) encodes the chunks
elsewhere; the client writes the returned bytes, so the store is byte-identical.

Layout and attributes are specified in ``specs/store-format.md``.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import zarr
from zarr.abc.store import ByteRequest
from zarr.codecs import BytesCodec, Crc32cCodec
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import WrapperStore

from codecbench import dtypes
from codecbench.errors import CodecbenchError, ConfigError, StoreError
from codecbench.registry import get_registry
from codecbench.store import chunk
from codecbench.store.location import FSSPEC, LOCAL, ZIP, Location, fsspec_store, parse_location
from codecbench.store.zarr_codec import CodecbenchZarrCodec

#: the newest format this code writes and reads; bump when a store written now would read
#: differently under an older reader. A store is written with the lowest version that
#: describes it (``format_version_for``), so stores without bfloat16 stay readable by version-1 readers.
FORMAT_VERSION = 2
PLAIN = "plain"


@dataclass(frozen=True)
class TensorPlan:
    """How one tensor is stored: ``storage`` is ``"codecbench"`` or ``"plain"`` (as-is)."""

    storage: str = "codecbench"
    formulation: str | None = "element"
    codec: str | None = "raw"
    formulation_params: dict[str, Any] = field(default_factory=dict)
    codec_params: dict[str, Any] = field(default_factory=dict)
    #: how ``compress --auto`` chose this plan (recorded as the record's ``auto``), else None
    auto: dict[str, Any] | None = None

    @classmethod
    def plain(cls) -> TensorPlan:
        return cls(storage=PLAIN, formulation=None, codec=None)


def tensor_record(tensor: np.ndarray, plan: TensorPlan) -> dict[str, Any]:
    flat = np.ascontiguousarray(tensor).reshape(-1)
    return {
        "storage": plan.storage,
        "formulation": plan.formulation,
        "codec": plan.codec,
        "formulation_params": dict(plan.formulation_params),
        "codec_params": dict(plan.codec_params),
        "shape": list(tensor.shape),
        "dtype": tensor.dtype.name,
        "original_nbytes": int(flat.nbytes),
        "sha256": hashlib.sha256(memoryview(flat.view(np.uint8))).hexdigest(),
        **({"auto": plan.auto} if plan.auto is not None else {}),
    }


def native(tensor: np.ndarray) -> np.ndarray:
    """C-ordered, little-endian (the byte order sha256 and every layout assume); keeps 0-d as 0-d."""
    tensor = np.asarray(tensor, order="C")
    if tensor.dtype.byteorder == ">":
        tensor = tensor.astype(tensor.dtype.newbyteorder("<"))
    return tensor


def effective_plan(plan: TensorPlan, registry) -> TensorPlan:
    """The plan with every default parameter written out, so records survive changed defaults."""
    if plan.storage == PLAIN:
        return plan
    formulation = registry.entry("formulation", plan.formulation).cls
    codec = registry.entry("codec", plan.codec).cls
    return TensorPlan(
        formulation=plan.formulation,
        codec=plan.codec,
        formulation_params={**formulation.params, **plan.formulation_params},
        codec_params={**codec.params, **plan.codec_params},
        auto=plan.auto,
    )


def check_name(name: str) -> None:
    if not name or "/" in name or name.startswith("__") or name in (".", ".."):
        raise ConfigError(f"tensor name {name!r} cannot be a store key (no '/', not empty, not starting with '__')")


class ChunkEncoder(Protocol):
    """Encodes chunk objects elsewhere (e.g. on a Dask cluster). ``submit`` is called for every
    codecbench tensor before writing starts; ``result`` returns the chunk object's bytes
    (codecbench chunk followed by its CRC-32C, u32 LE), exactly what zarr's pipeline writes."""

    def submit(self, name: str, tensor: np.ndarray, plan: TensorPlan) -> Any: ...

    def result(self, handle: Any) -> bytes: ...


class PrecomputedChunks:
    """A ChunkEncoder handing over chunk objects already encoded and checked, by tensor name
    (``compress --auto`` and ``codecbench bench`` measured them: no second encode)."""

    def __init__(self, blobs: Mapping[str, bytes]) -> None:
        self.blobs = blobs

    def submit(self, name: str, tensor: np.ndarray, plan: TensorPlan) -> str:
        return name

    def result(self, handle: str) -> bytes:
        return self.blobs[handle]


class RootLast(WrapperStore):
    """A zarr store that holds the root ``zarr.json`` in memory until :meth:`commit`, so it is
    the last object written: the store is invisible (not a zarr group) until then."""

    ROOT = "zarr.json"

    def __init__(self, store: Any) -> None:
        super().__init__(store)
        self.root: bytes | None = None

    def _with_store(self, store: Any) -> RootLast:
        raise NotImplementedError("RootLast cannot be rewrapped")

    async def set(self, key: str, value: Buffer) -> None:
        if key == self.ROOT:
            self.root = value.to_bytes()
        else:
            await self._store.set(key, value)

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        if key == self.ROOT:
            if self.root is None:
                self.root = value.to_bytes()
        else:
            await self._store.set_if_not_exists(key, value)

    async def get(self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None) -> Buffer | None:
        if key != self.ROOT:
            return await self._store.get(key, prototype, byte_range)
        if self.root is None:
            return None
        if byte_range is not None:
            raise NotImplementedError("partial read of the held-back root zarr.json")
        return prototype.buffer.from_bytes(self.root)

    async def exists(self, key: str) -> bool:
        return self.root is not None if key == self.ROOT else await self._store.exists(key)

    async def delete(self, key: str) -> None:
        if key == self.ROOT:
            self.root = None
        else:
            await self._store.delete(key)

    def commit(self) -> None:
        """Write the root ``zarr.json``: publishes the store."""
        if self.root is None:
            raise StoreError("internal error: no root zarr.json to write")
        sync(self._store.set(self.ROOT, default_buffer_prototype().buffer.from_bytes(self.root)))


def write_store(
    path: str | os.PathLike[str],
    tensors: Mapping[str, np.ndarray],
    plans: Mapping[str, TensorPlan],
    attrs: Mapping[str, Any],
    *,
    overwrite: bool = False,
    progress: bool = True,
    storage_options: dict[str, Any] | None = None,
    encoder: ChunkEncoder | None = None,
) -> Path | str:
    """Write ``tensors`` (in order) to a new store at ``path`` (a local directory, a local
    ``.zip`` file, or an fsspec URL with ``storage_options``); returns the local path as a
    ``Path``, or the URL."""
    location = parse_location(path, storage_options)
    registry = get_registry()
    missing = [name for name in tensors if name not in plans]
    if missing:
        raise ConfigError(f"no storage plan for tensor {missing[0]!r}")
    plans = {name: effective_plan(plans[name], registry) for name in tensors}
    for name in plans:
        check_name(name)

    def build(store: RootLast) -> None:
        _write(store, tensors, plans, attrs, progress, encoder)
        store.commit()  # last: the root zarr.json (consolidated metadata) makes it a store

    if location.kind == FSSPEC:
        return _write_fsspec(location, build, overwrite)
    dest = Path(location.target)
    if (dest.exists() or dest.is_symlink()) and not overwrite:
        raise StoreError(f"{dest}: already exists (pass --force / overwrite=True to replace it)")
    if not dest.parent.is_dir():
        raise StoreError(f"{dest}: parent directory does not exist")
    if location.kind == ZIP and dest.is_dir():
        raise StoreError(f"{dest}: is a directory; a .zip store replaces only a file")
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        if location.kind == LOCAL:
            build(RootLast(zarr.storage.LocalStore(tmp)))
            _replace(tmp, dest)
        else:
            build(RootLast(zarr.storage.LocalStore(tmp / "store")))
            _pack_zip(tmp / "store", tmp / "store.zip")
            os.replace(tmp / "store.zip", dest)  # atomic, also over an existing zip
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _pack_zip(src: Path, dest: Path) -> None:
    """Copy a finished directory store into a new zip through zarr's ZipStore (stored, not
    deflated: chunks are compressed already), root zarr.json last."""
    source = zarr.storage.LocalStore(src, read_only=True)
    keys = sorted(_all_keys(source), key=lambda k: (k == RootLast.ROOT, k))
    target = zarr.storage.ZipStore(dest, mode="w")
    try:
        _copy_keys(source, target, keys)
    finally:
        target.close()


def _all_keys(store: Any) -> list[str]:
    async def collect() -> list[str]:
        return [key async for key in store.list()]

    return sync(collect())


def _copy_keys(source: Any, target: Any, keys: list[str]) -> None:
    prototype = default_buffer_prototype()
    for key in keys:
        value = sync(source.get(key, prototype=prototype))
        if value is None:
            raise StoreError(f"internal error: {key} vanished while copying")
        sync(target.set(key, value))


def _write_fsspec(location: Location, build: Callable[[RootLast], None], overwrite: bool) -> str:
    url = location.target
    store = fsspec_store(location, read_only=False)
    try:
        occupied = not sync(store.is_empty(""))
    except Exception as exc:  # no credentials, no such bucket, endpoint down
        raise StoreError(f"{url}: cannot write ({type(exc).__name__}: {_line(exc)})") from None
    if occupied and not overwrite:
        raise StoreError(f"{url}: already exists (pass --force / overwrite=True to replace it)")
    if not occupied:
        _build_remote(url, store, build)
        return url
    base = url.rstrip("/")
    scheme, rest = base.split("://", 1)
    parent, slash, name = rest.rpartition("/")
    if not slash or not name or not parent.strip("/"):
        raise StoreError(f"{url}: cannot replace a store at the root of a bucket or file system; delete it first")
    staging_url = f"{scheme}://{parent}/.{name}.tmp-{secrets.token_hex(4)}"
    staging = fsspec_store(Location(FSSPEC, staging_url, location.storage_options), read_only=False)
    _build_remote(url, staging, build)
    try:  # publish: unpublish the old store, delete it, copy the new one over (root last)
        keys = sorted(_all_keys(staging), key=lambda k: (k == RootLast.ROOT, k))
        sync(store.delete(RootLast.ROOT))
        sync(store.delete_dir(""))
        _copy_keys(staging, store, keys)
    except Exception as exc:
        _remove(store)
        raise StoreError(f"{url}: replacing the store failed ({type(exc).__name__}: {_line(exc)})") from None
    finally:
        _remove(staging)
    return url


def _build_remote(url: str, store: Any, build: Callable[[RootLast], None]) -> None:
    held = RootLast(store)
    try:
        build(held)
    except CodecbenchError:
        _remove(store)
        raise
    except BaseException as exc:
        _remove(store)
        if isinstance(exc, Exception):
            raise StoreError(f"{url}: writing failed ({type(exc).__name__}: {_line(exc)})") from None
        raise


def _remove(store: Any) -> None:
    try:
        sync(store.delete_dir(""))
    except Exception:  # best effort: the root zarr.json was never written (or is deleted first)
        pass


def _line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""


def _write(
    store: RootLast,
    tensors: Mapping[str, np.ndarray],
    plans: Mapping[str, TensorPlan],
    attrs: Mapping[str, Any],
    progress: bool,
    encoder: ChunkEncoder | None = None,
) -> None:
    from tqdm import tqdm

    group = zarr.create_group(store, zarr_format=3, overwrite=True)
    names = list(tensors)
    version = format_version_for(tensors.values())
    group.attrs["codecbench"] = {**attrs, "format_version": version, "tensors": names}
    handles: dict[str, Any] = {}
    if encoder is not None:  # every encode task goes out first; results are written in order
        for name in names:
            tensor, plan = native(tensors[name]), plans[name]
            if plan.storage != PLAIN and _encodable(tensor):
                handles[name] = encoder.submit(name, tensor, plan)
    bar = tqdm(names, desc="compress", unit="tensor", disable=not progress, leave=False)
    for name in bar:
        bar.set_postfix_str(name)
        tensor = native(tensors[name])
        plan = plans[name]
        try:
            encoded = (lambda h=handles[name]: encoder.result(h)) if name in handles else None
            _write_tensor(group, store, name, tensor, plan, encoded)
        except CodecbenchError as exc:
            raise type(exc)(f"tensor {name!r}: {exc}") from exc
        except ValueError as exc:  # a formulation or codec refused this tensor or its params
            raise ConfigError(f"tensor {name!r}: {exc}") from exc
    with warnings.catch_warnings():  # consolidated metadata is a zarr-python extension; we rely on it knowingly
        warnings.simplefilter("ignore", category=UserWarning)
        zarr.consolidate_metadata(store)  # the root zarr.json, held back by RootLast until commit


def _encodable(tensor: np.ndarray) -> bool:
    return tensor.dtype.name in chunk.ALLOWED_DTYPES and tensor.ndim > 0 and tensor.size > 0


def format_version_for(tensors: Any) -> int:
    """Version 2 added bfloat16 tensors (uint16 zarr arrays of bit patterns); anything else is version 1."""
    return 2 if any(dtypes.is_bfloat16(np.asarray(t).dtype) for t in tensors) else 1


def _write_tensor(
    group: zarr.Group,
    store: Any,
    name: str,
    tensor: np.ndarray,
    plan: TensorPlan,
    encoded: Callable[[], bytes] | None = None,
) -> None:
    if tensor.dtype.name not in chunk.ALLOWED_DTYPES:
        raise ConfigError(f"dtype {tensor.dtype} is not supported")
    if plan.storage != PLAIN and (tensor.ndim == 0 or tensor.size == 0):
        raise ConfigError(f"a tensor of shape {tensor.shape} has no units or no elements; store it plain")
    record = tensor_record(tensor, plan)
    stored = dtypes.storage_view(tensor)  # zarr has no bfloat16: its bit patterns as uint16
    logical = "bfloat16" if stored.dtype != tensor.dtype else None
    serializer = (
        BytesCodec()
        if plan.storage == PLAIN
        else CodecbenchZarrCodec(
            plan.formulation, plan.codec, dict(plan.formulation_params), dict(plan.codec_params), dtype=logical
        )
    )
    array = group.create_array(
        name,
        shape=tensor.shape,
        chunks=tuple(max(1, d) for d in tensor.shape),
        dtype=stored.dtype,
        serializer=serializer,
        compressors=[Crc32cCodec()],
        fill_value=0,
        attributes={"codecbench": record},
        config={"write_empty_chunks": True},
    )
    key = f"{name}/{array.metadata.encode_chunk_key((0,) * tensor.ndim)}"
    if encoded is None:
        array[...] = stored
        record["stored_nbytes"] = int(sync(store.getsize(key))) if tensor.size else 0  # zarr writes no chunk then
    else:  # encoded elsewhere: the same bytes zarr's pipeline (codecbench codec + crc32c) writes
        blob = encoded()
        sync(store.set(key, default_buffer_prototype().buffer.from_bytes(blob)))
        record["stored_nbytes"] = len(blob)
    array.attrs["codecbench"] = record


def _replace(tmp: Path, dest: Path) -> None:
    if not dest.exists():
        os.rename(tmp, dest)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
    os.rename(dest, old / "store")
    os.rename(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)

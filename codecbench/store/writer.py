"""Writes a store atomically: built in a hidden sibling directory, renamed into place when
complete, so an interrupted compress leaves nothing at the destination.

Layout and attributes are specified in ``specs/store-format.md``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import BytesCodec, Crc32cCodec
from zarr.core.sync import sync

from codecbench.errors import CodecbenchError, ConfigError, StoreError
from codecbench.registry import get_registry
from codecbench.store import chunk
from codecbench.store.zarr_codec import CodecbenchZarrCodec

#: bump when a store written now would read differently under an older reader
FORMAT_VERSION = 1
PLAIN = "plain"


@dataclass(frozen=True)
class TensorPlan:
    """How one tensor is stored: ``storage`` is ``"codecbench"`` or ``"plain"`` (as-is)."""

    storage: str = "codecbench"
    formulation: str | None = "element"
    codec: str | None = "raw"
    formulation_params: dict[str, Any] = field(default_factory=dict)
    codec_params: dict[str, Any] = field(default_factory=dict)

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
    )


def check_name(name: str) -> None:
    if not name or "/" in name or name.startswith("__") or name in (".", ".."):
        raise ConfigError(f"tensor name {name!r} cannot be a store key (no '/', not empty, not starting with '__')")


def write_store(
    path: str | os.PathLike[str],
    tensors: Mapping[str, np.ndarray],
    plans: Mapping[str, TensorPlan],
    attrs: Mapping[str, Any],
    *,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write ``tensors`` (in order) to a new store at ``path``; returns the path."""
    dest = Path(path)
    if dest.exists() and not overwrite:
        raise StoreError(f"{dest}: already exists (pass --force / overwrite=True to replace it)")
    if not dest.parent.is_dir():
        raise StoreError(f"{dest}: parent directory does not exist")
    registry = get_registry()
    missing = [name for name in tensors if name not in plans]
    if missing:
        raise ConfigError(f"no storage plan for tensor {missing[0]!r}")
    plans = {name: effective_plan(plans[name], registry) for name in tensors}
    for name in plans:
        check_name(name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        _write(tmp, tensors, plans, attrs, progress)
        _replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _write(
    tmp: Path,
    tensors: Mapping[str, np.ndarray],
    plans: Mapping[str, TensorPlan],
    attrs: Mapping[str, Any],
    progress: bool,
) -> None:
    from tqdm import tqdm

    store = zarr.storage.LocalStore(tmp)
    group = zarr.create_group(store, zarr_format=3, overwrite=True)
    names = list(tensors)
    group.attrs["codecbench"] = {**attrs, "format_version": FORMAT_VERSION, "tensors": names}
    bar = tqdm(names, desc="compress", unit="tensor", disable=not progress, leave=False)
    for name in bar:
        bar.set_postfix_str(name)
        tensor = native(tensors[name])
        plan = plans[name]
        try:
            _write_tensor(group, store, name, tensor, plan)
        except CodecbenchError as exc:
            raise type(exc)(f"tensor {name!r}: {exc}") from exc
        except ValueError as exc:  # a formulation or codec refused this tensor or its params
            raise ConfigError(f"tensor {name!r}: {exc}") from exc
    with warnings.catch_warnings():  # consolidated metadata is a zarr-python extension; we rely on it knowingly
        warnings.simplefilter("ignore", category=UserWarning)
        zarr.consolidate_metadata(store)


def _write_tensor(group: zarr.Group, store: Any, name: str, tensor: np.ndarray, plan: TensorPlan) -> None:
    if tensor.dtype.name not in chunk.ALLOWED_DTYPES:
        raise ConfigError(f"dtype {tensor.dtype} is not supported")
    if plan.storage != PLAIN and (tensor.ndim == 0 or tensor.size == 0):
        raise ConfigError(f"a tensor of shape {tensor.shape} has no units or no elements; store it plain")
    record = tensor_record(tensor, plan)
    serializer = (
        BytesCodec()
        if plan.storage == PLAIN
        else CodecbenchZarrCodec(plan.formulation, plan.codec, dict(plan.formulation_params), dict(plan.codec_params))
    )
    array = group.create_array(
        name,
        shape=tensor.shape,
        chunks=tuple(max(1, d) for d in tensor.shape),
        dtype=tensor.dtype,
        serializer=serializer,
        compressors=[Crc32cCodec()],
        fill_value=0,
        attributes={"codecbench": record},
        config={"write_empty_chunks": True},
    )
    array[...] = tensor
    key = f"{name}/{array.metadata.encode_chunk_key((0,) * tensor.ndim)}"
    record["stored_nbytes"] = int(sync(store.getsize(key))) if tensor.size else 0  # zarr writes no chunk then
    array.attrs["codecbench"] = record


def _replace(tmp: Path, dest: Path) -> None:
    if not dest.exists():
        os.rename(tmp, dest)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
    os.rename(dest, old / "store")
    os.rename(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)

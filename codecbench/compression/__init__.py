"""Compress a model (built-in architecture + weight source, or any state_dict) into a store.

Below the CLI and the benchmark, above the store: it resolves plans (a config, or ``--auto``'s
measurements in :mod:`codecbench.compression.auto`), optionally prunes and quantizes first,
and writes the store."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from codecbench import dtypes
from codecbench.compression.auto import auto_plans
from codecbench.errors import ConfigError
from codecbench.models import describe_source, load_weights, model_skeleton
from codecbench.models.prune import PruneConfig, prune_quantize
from codecbench.store.config import StoreConfig
from codecbench.store.writer import PrecomputedChunks, write_store
from codecbench.version import __version__


def to_numpy(name: str, tensor: torch.Tensor) -> np.ndarray:
    try:
        return dtypes.to_numpy(tensor)
    except (TypeError, RuntimeError) as exc:  # dtypes numpy cannot hold (complex32, float8, ...)
        raise ConfigError(f"tensor {name!r}: dtype {tensor.dtype} cannot be stored ({exc})") from None


def compress_state_dict(
    state: Mapping[str, torch.Tensor | np.ndarray],
    out: str | os.PathLike[str],
    config: StoreConfig,
    *,
    model: str | None = None,
    weights: dict[str, Any] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    prune: PruneConfig | None = None,
    storage_options: dict[str, Any] | None = None,
    dask: str | None = None,
    auto: str | None = None,
    auto_codecs: list[str] | None = None,
) -> os.PathLike[str] | str:
    """Write ``state`` to a new store at ``out`` (a local directory or ``.zip``, or an fsspec
    URL with ``storage_options``) with the per-tensor plans of ``config``; with ``prune``, the
    weights are first pruned and quantized (lossy) and the store records how (attribute
    ``prune``). With ``dask`` (a scheduler address, or ``local[:N]``) the chunks are encoded
    on a Dask cluster; the store is byte-identical to a serial one."""
    tensors = {k: (to_numpy(k, v) if isinstance(v, torch.Tensor) else np.asarray(v)) for k, v in state.items()}
    attrs: dict[str, Any] = {"model": model, "weights": weights or {}, "created_by": f"codecbench {__version__}"}
    if prune is not None:
        tensors, attrs["prune"] = prune_quantize(tensors, prune)
    plans = config.plans(tensors)
    if auto is not None:
        if dask is not None:
            raise ConfigError("--auto measures every candidate locally; it cannot be combined with --dask")
        plans, blobs = auto_plans(tensors, plans, auto, codecs=auto_codecs, progress=progress)
        attrs["auto"] = {"objective": auto}
        return write_store(
            out,
            tensors,
            plans,
            attrs,
            overwrite=overwrite,
            progress=progress,
            storage_options=storage_options,
            encoder=PrecomputedChunks(blobs),
        )
    if dask is None:
        return write_store(
            out, tensors, plans, attrs, overwrite=overwrite, progress=progress, storage_options=storage_options
        )
    from codecbench.store.parallel import DaskEncoder, parse_dask_spec  # dask is an optional extra

    parse_dask_spec(dask)  # a malformed spec fails before a cluster starts
    with DaskEncoder(dask) as encoder:
        return write_store(
            out,
            tensors,
            plans,
            attrs,
            overwrite=overwrite,
            progress=progress,
            storage_options=storage_options,
            encoder=encoder,
        )


def compress_model(
    model: str,
    weights: str,
    out: str | os.PathLike[str],
    config: StoreConfig,
    *,
    overwrite: bool = False,
    progress: bool = True,
    prune: PruneConfig | None = None,
    storage_options: dict[str, Any] | None = None,
    dask: str | None = None,
    auto: str | None = None,
    auto_codecs: list[str] | None = None,
) -> os.PathLike[str] | str:
    """Built-in ``model`` with weights from ``weights`` (``init:SEED``, ``laplace:SEED``, a file);
    ``out``, ``storage_options`` and ``dask`` as for :func:`compress_state_dict`."""
    expected = build_model_keys(model)
    state = load_weights(weights, model)
    missing = [k for k in expected if k not in state]
    if missing:
        raise ConfigError(f"weight source {weights!r}: missing key {missing[0]!r} for model {model!r}")
    extra = [k for k in state if k not in expected]
    if extra:
        raise ConfigError(f"weight source {weights!r}: unexpected key {extra[0]!r} for model {model!r}")
    for key, shape in expected.items():
        if tuple(state[key].shape) != shape:
            raise ConfigError(
                f"weight source {weights!r}: {key!r} has shape {tuple(state[key].shape)}, {model!r} expects {shape}"
            )
    ordered = {k: state[k] for k in expected}
    return compress_state_dict(
        ordered,
        out,
        config,
        model=model,
        weights=describe_source(weights),
        overwrite=overwrite,
        progress=progress,
        prune=prune,
        storage_options=storage_options,
        dask=dask,
        auto=auto,
        auto_codecs=auto_codecs,
    )


def build_model_keys(model: str) -> dict[str, tuple[int, ...]]:
    skeleton = model_skeleton(model)
    return {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}

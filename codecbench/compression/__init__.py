"""Compress a model (built-in architecture + weight source, a checkpoint file, or any
state_dict) into a store.

Below the CLI and the benchmark, above the store: it resolves plans (a config, the defaults of
:func:`default_plan`, or ``--auto``'s measurements in :mod:`codecbench.compression.auto`),
optionally prunes and quantizes first, and writes the store."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from codecbench import dtypes
from codecbench.compression.auto import auto_plans
from codecbench.errors import ConfigError
from codecbench.formulations import pq_joint
from codecbench.models import describe_source, load_weights, model_skeleton
from codecbench.models.prune import PruneConfig, prune_quantize
from codecbench.models.sources import CHECKPOINT_EXTS, SAFETENSORS_EXTS, load_file
from codecbench.registry import get_registry
from codecbench.store.config import StoreConfig
from codecbench.store.writer import PrecomputedChunks, TensorPlan, write_store
from codecbench.version import __version__

#: what a store uses when no formulation, codec or config is named (measured on AlexNet, see
#: README "Compress a model"): float-split keeps unquantized floats lossless at about the
#: entropy of their sign+exponent bits, pq-joint stores pruned and shared tensors as (gap,
#: value) tuples of one symbol each (pruned AlexNet init:0 with huffman-fast: 8.84 MB against
#: pq-element's 10.50 MB, and faster in both modes), pq-element those with too many values for
#: a joint symbol; huffman-fast is the fastest near-entropy codec built in
DEFAULT_CODEC = "huffman-fast"
DEFAULT_FLOAT_FORMULATION = "float-split"
DEFAULT_PRUNED_FORMULATION = "pq-joint"
DEFAULT_PRUNED_UNSHARED_FORMULATION = "pq-element"


def default_plan(tensor: np.ndarray, pruned: bool, codec: str = DEFAULT_CODEC, shared_values: int = 0) -> TensorPlan:
    """The plan for ``tensor`` when the caller names no formulation: weight-shaped floats (two
    or more dimensions) are coded with ``codec``: if pruned, as pq-joint tuples when weight
    sharing left ``shared_values`` (1 to 16383) distinct values, else as pq-element tuples;
    unpruned, float-split. Anything else (biases, norms, integer and boolean tensors) is
    stored plain."""
    if np.ndim(tensor) < 2 or not np.size(tensor) or not dtypes.is_float(np.asarray(tensor).dtype):
        return TensorPlan.plain()
    if not pruned:
        return TensorPlan(formulation=DEFAULT_FLOAT_FORMULATION, codec=codec)
    if 0 < shared_values <= pq_joint.MAX_VALUES:
        return TensorPlan(formulation=DEFAULT_PRUNED_FORMULATION, codec=codec)
    return TensorPlan(formulation=DEFAULT_PRUNED_UNSHARED_FORMULATION, codec=codec)


def default_config(formulation: str | None, codec: str | None) -> StoreConfig | None:
    """The config of a ``--formulation``/``--codec`` pair, either may be missing: ``None`` (the
    per-tensor :func:`default_plan`) when no formulation is named."""
    if codec is not None and codec not in get_registry().names("codec"):
        raise ConfigError(f"unknown codec {codec!r} (registered: {', '.join(get_registry().names('codec'))})")
    if formulation is None:
        return None
    return StoreConfig.simple(formulation, codec or DEFAULT_CODEC)


def is_checkpoint(path: str) -> bool:
    """Whether ``path`` names a checkpoint file (by its extension) rather than a built-in model."""
    return str(path).lower().endswith(CHECKPOINT_EXTS + SAFETENSORS_EXTS)


def to_numpy(name: str, tensor: torch.Tensor, source: str | None = None) -> np.ndarray:
    """``tensor`` as numpy; a dtype numpy cannot hold is one line naming the tensor (and the
    ``source`` file it came from, if any)."""
    try:
        return dtypes.to_numpy(tensor)
    except (TypeError, RuntimeError) as exc:  # dtypes numpy cannot hold (complex32, float8, ...)
        where = f"weight file {source!r}: " if source else ""
        raise ConfigError(f"{where}tensor {name!r}: dtype {tensor.dtype} cannot be stored ({exc})") from None


def compress_state_dict(
    state: Mapping[str, torch.Tensor | np.ndarray],
    out: str | os.PathLike[str],
    config: StoreConfig | None = None,
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
    codec: str = DEFAULT_CODEC,
) -> os.PathLike[str] | str:
    """Write ``state`` to a new store at ``out`` (a local directory or ``.zip``, or an fsspec
    URL with ``storage_options``) with the per-tensor plans of ``config`` (``None``: each
    tensor's :func:`default_plan` with ``codec``); with ``prune``, the
    weights are first pruned and quantized (lossy) and the store records how (attribute
    ``prune``). With ``dask`` (a scheduler address, or ``local[:N]``) the chunks are encoded
    on a Dask cluster; the store is byte-identical to a serial one."""
    tensors = {k: (to_numpy(k, v) if isinstance(v, torch.Tensor) else np.asarray(v)) for k, v in state.items()}
    attrs: dict[str, Any] = {"model": model, "weights": weights or {}, "created_by": f"codecbench {__version__}"}
    pruned: set[str] = set()
    if prune is not None:
        tensors, attrs["prune"] = prune_quantize(tensors, prune)
        pruned = set(attrs["prune"]["tensors"])
    if config is None:
        shared = {name: record["centroids"] for name, record in attrs.get("prune", {}).get("tensors", {}).items()}
        plans = {name: default_plan(t, name in pruned, codec, shared.get(name, 0)) for name, t in tensors.items()}
    else:
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


def compress_checkpoint(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    config: StoreConfig | None = None,
    **options: Any,
) -> os.PathLike[str] | str:
    """Every tensor of the checkpoint at ``path`` (``.pth``/``.pt`` through
    ``torch.load(weights_only=True)``, or ``.safetensors``), keys kept verbatim, no architecture
    needed: the store records no model (``run`` then needs one, see ``run --model``).
    ``options`` as for :func:`compress_state_dict`."""
    path = os.fspath(path)
    tensors = {name: to_numpy(name, tensor, path) for name, tensor in load_file(path).items()}
    return compress_state_dict(tensors, out, config, model=None, weights=describe_source(path), **options)


def compress_model(
    model: str,
    weights: str,
    out: str | os.PathLike[str],
    config: StoreConfig | None = None,
    *,
    overwrite: bool = False,
    progress: bool = True,
    prune: PruneConfig | None = None,
    storage_options: dict[str, Any] | None = None,
    dask: str | None = None,
    auto: str | None = None,
    auto_codecs: list[str] | None = None,
    codec: str = DEFAULT_CODEC,
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
        codec=codec,
    )


def build_model_keys(model: str) -> dict[str, tuple[int, ...]]:
    skeleton = model_skeleton(model)
    return {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}

"""Compress a model (built-in architecture + weight source, or any state_dict) into a store."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from codecbench import __version__
from codecbench.errors import ConfigError
from codecbench.models import build_model, describe_source, load_weights
from codecbench.store.config import StoreConfig
from codecbench.store.writer import write_store


def to_numpy(name: str, tensor: torch.Tensor) -> np.ndarray:
    if tensor.dtype == torch.bfloat16:
        raise ConfigError(f"tensor {name!r}: bfloat16 is not supported by this version (store it as float32)")
    return tensor.detach().cpu().contiguous().numpy()


def compress_state_dict(
    state: Mapping[str, torch.Tensor | np.ndarray],
    out: str | os.PathLike[str],
    config: StoreConfig,
    *,
    model: str | None = None,
    weights: dict[str, Any] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> os.PathLike[str]:
    """Write ``state`` to a new store at ``out`` with the per-tensor plans of ``config``."""
    tensors = {k: (to_numpy(k, v) if isinstance(v, torch.Tensor) else np.asarray(v)) for k, v in state.items()}
    attrs = {"model": model, "weights": weights or {}, "created_by": f"codecbench {__version__}"}
    return write_store(out, tensors, config.plans(tensors), attrs, overwrite=overwrite, progress=progress)


def compress_model(
    model: str,
    weights: str,
    out: str | os.PathLike[str],
    config: StoreConfig,
    *,
    overwrite: bool = False,
    progress: bool = True,
) -> os.PathLike[str]:
    """Built-in ``model`` with weights from ``weights`` (``init:SEED``, ``laplace:SEED``, a file)."""
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
        ordered, out, config, model=model, weights=describe_source(weights), overwrite=overwrite, progress=progress
    )


def build_model_keys(model: str) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        skeleton = build_model(model)
    return {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}

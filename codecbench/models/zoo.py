"""The built-in architectures by name: ``build_model(name)`` initialised, ``model_skeleton(name)``
on the meta device."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import nn

from codecbench.errors import ConfigError
from codecbench.models.alexnet import alexnet
from codecbench.models.vgg import vgg16

MODELS: dict[str, Callable[..., nn.Module]] = {"alexnet": alexnet, "vgg16": vgg16}


def build_model(name: str) -> nn.Module:
    """Construct model ``name`` (initialised from torch's current RNG state)."""
    return _constructor(name)()


def model_skeleton(name: str) -> nn.Module:
    """Model ``name`` on the meta device (shapes only, no memory), without its own init step.

    The init is skipped because its values are never used and it is not free on the meta
    device: VGG-16's ``normal_`` runs through torch's Python meta kernels, whose first use
    imports sympy and about 800 other modules (measured: +68 MB of RSS in every process that
    built a VGG-16 skeleton, compressed runs included)."""
    ctor = _constructor(name)
    takes_flag = "init_weights" in inspect.signature(ctor).parameters
    with torch.device("meta"):
        return ctor(init_weights=False) if takes_flag else ctor()


def _constructor(name: str) -> Callable[..., nn.Module]:
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown model {name!r} (known: {', '.join(MODELS)})") from None

"""Reference models (torchvision-compatible AlexNet and VGG-16) and their weights.

``build_model(name)`` gives a freshly initialised model; ``load_weights(source, name)``
resolves a weight source string (see :mod:`codecbench.models.sources`);
``model_with_weights(name, source)`` combines both, strictly.
"""

from __future__ import annotations

from torch import nn

from codecbench.errors import ConfigError
from codecbench.models.alexnet import AlexNet, alexnet
from codecbench.models.sources import describe_source, load_weights
from codecbench.models.vgg import VGG, vgg16
from codecbench.models.zoo import MODELS, build_model, model_skeleton


def model_with_weights(name: str, source: str) -> nn.Module:
    """Model ``name`` in eval mode with the weights of ``source`` loaded strictly."""
    model = build_model(name)
    state = load_weights(source, name)
    expected = model.state_dict()
    for key, ref in expected.items():
        if key not in state:
            raise ConfigError(f"weight source {source!r}: missing key {key!r} for model {name!r}")
        if tuple(state[key].shape) != tuple(ref.shape):
            raise ConfigError(
                f"weight source {source!r}: key {key!r} has shape {tuple(state[key].shape)}, "
                f"model {name!r} expects {tuple(ref.shape)}"
            )
    for key in state:
        if key not in expected:
            raise ConfigError(f"weight source {source!r}: unexpected key {key!r} for model {name!r}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), "")
        raise ConfigError(f"weight source {source!r}: cannot load into {name!r} ({first})") from None
    return model.eval()


__all__ = [
    "MODELS",
    "AlexNet",
    "VGG",
    "alexnet",
    "vgg16",
    "build_model",
    "describe_source",
    "load_weights",
    "model_skeleton",
    "model_with_weights",
]

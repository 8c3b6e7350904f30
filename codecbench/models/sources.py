"""Weight sources: where a model's state_dict comes from, written as one string.

``init:SEED``
    The model built under ``torch.manual_seed(SEED)`` (its own init: torch's default
    for AlexNet, torchvision's for VGG-16).  Deterministic.
``laplace:SEED``
    Heavy-tailed synthetic weights.  Every tensor with ndim >= 2 is replaced by
    Laplace(0, b) samples whose std equals that layer's *init distribution* std, taken
    from the closed-form formula (``Model.init_std``: 1/sqrt(3*fan_in) for torch's
    default init, sqrt(2/fan_out) / 0.01 for VGG), not measured from the init tensor.
    Samples come from a numpy Generator seeded with (SEED, sha256(tensor key)), so a
    tensor's values depend only on SEED and its key.  Other tensors (biases) keep
    their ``init:SEED`` values (zero for VGG).
a path
    A ``.pth``/``.pt`` checkpoint (``torch.load(..., weights_only=True)``; a dict with a
    ``"state_dict"`` entry is unwrapped) or a ``.safetensors`` file.

Everything returned is a contiguous CPU tensor.  Every failure is a one-line
:class:`~codecbench.errors.ConfigError` naming the source.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from typing import Any

import numpy as np
import torch

from codecbench.errors import ConfigError
from codecbench.models.zoo import build_model

SEEDED_KINDS = ("init", "laplace")
CHECKPOINT_EXTS = (".pth", ".pt")
SAFETENSORS_EXTS = (".safetensors",)
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):(.*)$", re.S)
_SEED_RE = re.compile(r"^[0-9]+$")
_CHUNK = 1 << 22


def _one_line(text: object) -> str:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return lines[0] if lines else ""


def _load_error(e: Exception) -> str:
    """Short one-line reason for a failed checkpoint load."""
    text = str(e)
    if text.startswith("Weights only load failed"):
        # torch's message is a multi-line essay; keep the unpickler's actual complaint.
        detail = text.split("WeightsUnpickler error:", 1)[-1] if "WeightsUnpickler error:" in text else ""
        reason = _one_line(detail)
        return "not a weights-only torch checkpoint" + (f": {reason}" if reason else "")
    reason = _one_line(text)
    return type(e).__name__ + (f": {reason}" if reason else "")


def parse_source(source: str) -> tuple[str, Any]:
    """Split ``source`` into ("init"|"laplace", seed) or ("file", path)."""
    if not isinstance(source, str) or not source:
        raise ConfigError(f"weight source {source!r}: must be a non-empty string")
    m = _SCHEME_RE.match(source)
    if m and m.group(1) in SEEDED_KINDS:
        kind, arg = m.group(1), m.group(2)
        if not _SEED_RE.match(arg) or int(arg) >= 2**63:
            raise ConfigError(f"weight source {source!r}: SEED must be an integer in [0, 2**63), got {arg!r}")
        return kind, int(arg)
    if m and not os.path.exists(source):
        raise ConfigError(
            f"weight source {source!r}: unknown scheme {m.group(1)!r} "
            f"(known: {', '.join(SEEDED_KINDS)}, or a file path)"
        )
    return "file", source


def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise ConfigError(f"weight file {path!r}: no such file")
    if not os.path.isfile(path):
        raise ConfigError(f"weight file {path!r}: not a regular file")
    if not path.lower().endswith(CHECKPOINT_EXTS + SAFETENSORS_EXTS):
        raise ConfigError(
            f"weight file {path!r}: unsupported extension (expected {', '.join(CHECKPOINT_EXTS + SAFETENSORS_EXTS)})"
        )


def load_file(path: str) -> dict[str, torch.Tensor]:
    """Load a ``.pth``/``.pt``/``.safetensors`` state_dict from ``path``."""
    _check_file(path)
    try:
        if path.lower().endswith(SAFETENSORS_EXTS):
            from safetensors.torch import load_file as st_load

            obj: Any = st_load(path, device="cpu")
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any parse failure is the file's fault
        raise ConfigError(f"weight file {path!r}: cannot read ({_load_error(e)})") from None
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ConfigError(f"weight file {path!r}: expected a dict of tensors, got {type(obj).__name__}")
    out: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise ConfigError(f"weight file {path!r}: key {key!r} is not a string")
        if not isinstance(value, torch.Tensor):
            raise ConfigError(f"weight file {path!r}: entry {key!r} is a {type(value).__name__}, not a tensor")
        out[key] = value.detach().to("cpu").contiguous()
    return out


def init_weights(model_name: str, seed: int) -> dict[str, torch.Tensor]:
    """State_dict of ``model_name`` built under ``torch.manual_seed(seed)``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(model_name)
    return {k: v.detach().contiguous() for k, v in model.state_dict().items()}


def _tensor_rng(seed: int, key: str) -> np.random.Generator:
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return np.random.default_rng(np.random.SeedSequence([seed, int.from_bytes(digest[:16], "little")]))


def laplace_tensor(seed: int, key: str, shape: tuple[int, ...], std: float) -> torch.Tensor:
    """float32 Laplace(0, b = std/sqrt(2)) samples for tensor ``key``, deterministic.

    Drawn as b * Exp(1) (float32 ziggurat) times a random sign taken from raw bytes,
    in fixed chunks, which is exactly Laplace-distributed and ~2x faster than
    ``Generator.laplace``.
    """
    rng = _tensor_rng(seed, key)
    scale = np.float32(std / math.sqrt(2.0))
    n = math.prod(shape)
    out = np.empty(n, dtype=np.float32)
    for start in range(0, n, _CHUNK):
        chunk = out[start : min(n, start + _CHUNK)]
        m = chunk.size
        rng.standard_exponential(m, dtype=np.float32, out=chunk)
        bits = np.unpackbits(np.frombuffer(rng.bytes((m + 7) // 8), np.uint8), count=m)
        chunk *= (np.float32(1.0) - np.float32(2.0) * bits.astype(np.float32)) * scale
    return torch.from_numpy(out).reshape(shape)


def laplace_weights(model_name: str, seed: int) -> dict[str, torch.Tensor]:
    """``init:seed`` weights with every ndim >= 2 tensor replaced by Laplace samples."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(model_name)
    init_std = getattr(model, "init_std", None)
    if init_std is None:
        raise ConfigError(f"weight source 'laplace:{seed}': model {model_name!r} has no init_std")
    out: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        if value.ndim >= 2:
            shape = tuple(value.shape)
            out[key] = laplace_tensor(seed, key, shape, init_std(key, shape))
        else:
            out[key] = value.detach().contiguous()
    return out


def load_weights(source: str, model_name: str | None) -> dict[str, torch.Tensor]:
    """Resolve ``source`` to a state_dict (contiguous CPU tensors)."""
    kind, arg = parse_source(source)
    if kind == "file":
        return load_file(arg)
    if model_name is None:
        raise ConfigError(f"weight source {source!r}: needs a model name")
    if kind == "init":
        return init_weights(model_name, arg)
    return laplace_weights(model_name, arg)


def describe_source(source: str) -> dict[str, Any]:
    """JSON-safe record of ``source`` (a file is identified by its sha256)."""
    kind, arg = parse_source(source)
    if kind != "file":
        return {"source": source, "kind": kind, "seed": arg}
    _check_file(arg)
    h = hashlib.sha256()
    try:
        with open(arg, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as e:
        raise ConfigError(f"weight file {arg!r}: cannot read ({_one_line(e)})") from None
    return {"source": source, "kind": "file", "sha256": h.hexdigest()}

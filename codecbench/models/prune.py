"""Deep Compression's lossy front end: per-layer magnitude pruning, then 1-D k-means weight
sharing, with zeros kept exactly zero.

Everything after this step is lossless *with respect to the pruned and quantized weights*:
the store records the settings, and ``run --check`` compares against the dense model with
those weights.

A config (TOML) sets defaults per layer kind and overrides per tensor-name pattern (fnmatch,
first match wins)::

    [defaults]
    conv_keep = 0.4       # fraction of weights kept in conv weights (ndim >= 3)
    conv_bits = 8         # 2**8 = 256 shared values
    fc_keep = 0.1         # linear weights (ndim == 2)
    fc_bits = 5           # 32 shared values
    sample = 65536        # kept weights the k-means is fitted on
    seed = 0

    [[rules]]
    match = "features.0.weight"
    keep = 0.85           # either key may be left out: the kind's default applies
    bits = 8              # 0 = prune only, no weight sharing

Only float tensors with ``ndim >= 2`` are touched; biases and other 1-D tensors pass through.
Fitting: centroids start evenly spaced between the smallest and largest kept weight (Deep
Compression's linear initialisation, skipping the band pruning emptied); Lloyd iterations
run on a seeded sample of the kept weights, sorted once, so each iteration is a
``searchsorted`` of the centroid midpoints and prefix sums; every kept weight is then
assigned with one ``searchsorted`` on the midpoints.
"""

from __future__ import annotations

import fnmatch
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from codecbench.configfile import read_toml
from codecbench.dtypes import is_float
from codecbench.errors import ConfigError

MAX_BITS = 16
MAX_ITERATIONS = 50


@dataclass(frozen=True)
class PruneRule:
    match: str
    keep: float | None = None
    bits: int | None = None


@dataclass(frozen=True)
class PruneConfig:
    conv_keep: float = 0.4
    conv_bits: int = 8
    fc_keep: float = 0.1
    fc_bits: int = 5
    sample: int = 65536
    seed: int = 0
    rules: tuple[PruneRule, ...] = field(default_factory=tuple)

    @classmethod
    def from_toml(cls, path: str | Path) -> PruneConfig:
        return cls.from_dict(read_toml(path, "prune config"), str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "prune config") -> PruneConfig:
        unknown = set(data) - {"defaults", "rules"}
        if unknown:
            raise ConfigError(f"{where}: unknown top-level key {sorted(unknown)[0]!r} (expected 'defaults', 'rules')")
        defaults = data.get("defaults", {})
        if not isinstance(defaults, dict):
            raise ConfigError(f"{where}: [defaults] must be a table")
        allowed = {"conv_keep", "conv_bits", "fc_keep", "fc_bits", "sample", "seed"}
        bad = set(defaults) - allowed
        if bad:
            raise ConfigError(
                f"{where} [defaults]: unknown key {sorted(bad)[0]!r} (allowed: {', '.join(sorted(allowed))})"
            )
        config = cls(**{k: defaults[k] for k in defaults})
        rules_data = data.get("rules", [])
        if not isinstance(rules_data, list):
            raise ConfigError(f"{where}: 'rules' must be an array of tables ([[rules]])")
        rules = []
        for i, rule in enumerate(rules_data):
            label = f"{where} rules[{i}]"
            if not isinstance(rule, dict) or not isinstance(rule.get("match"), str) or not rule["match"]:
                raise ConfigError(f"{label}: needs a non-empty string 'match'")
            bad = set(rule) - {"match", "keep", "bits"}
            if bad:
                raise ConfigError(f"{label}: unknown key {sorted(bad)[0]!r} (allowed: match, keep, bits)")
            rules.append(PruneRule(rule["match"], rule.get("keep"), rule.get("bits")))
        config = replace(config, rules=tuple(rules))
        config.validate(where)
        return config

    def validate(self, where: str = "prune config") -> None:
        for key in ("conv_keep", "fc_keep"):
            _check_keep(getattr(self, key), f"{where}: {key}")
        for key in ("conv_bits", "fc_bits"):
            _check_bits(getattr(self, key), f"{where}: {key}")
        if type(self.sample) is not int or self.sample < 1:
            raise ConfigError(f"{where}: sample must be a positive integer, not {self.sample!r}")
        if type(self.seed) is not int or self.seed < 0:
            raise ConfigError(f"{where}: seed must be a non-negative integer, not {self.seed!r}")
        for i, rule in enumerate(self.rules):
            if rule.keep is not None:
                _check_keep(rule.keep, f"{where} rules[{i}]: keep")
            if rule.bits is not None:
                _check_bits(rule.bits, f"{where} rules[{i}]: bits")

    def settings_for(self, name: str, tensor: np.ndarray) -> tuple[float, int] | None:
        """``(keep, bits)`` for tensor ``name``, or None when it is left alone."""
        rule = next((r for r in self.rules if fnmatch.fnmatchcase(name, r.match)), None)
        if tensor.ndim < 2 or tensor.size == 0:
            if rule is not None:
                raise ConfigError(
                    f"tensor {name!r}: prune rule {rule.match!r} matches a tensor of shape {tensor.shape}"
                )
            return None
        if not is_float(tensor.dtype):
            if rule is not None:
                raise ConfigError(f"tensor {name!r}: prune rule {rule.match!r} matches a {tensor.dtype} tensor")
            return None
        conv = tensor.ndim >= 3
        keep = self.conv_keep if conv else self.fc_keep
        bits = self.conv_bits if conv else self.fc_bits
        if rule is not None:
            keep = keep if rule.keep is None else rule.keep
            bits = bits if rule.bits is None else rule.bits
        return float(keep), int(bits)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rules"] = [{k: v for k, v in asdict(r).items() if v is not None} for r in self.rules]
        return data


def _check_keep(value: Any, label: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"{label} must be a number in [0, 1], not {value!r}")


def _check_bits(value: Any, label: str) -> None:
    if type(value) is not int or not 0 <= value <= MAX_BITS:
        raise ConfigError(f"{label} must be an integer in [0, {MAX_BITS}] (0 = no weight sharing), not {value!r}")


def prune_quantize(
    state: Mapping[str, np.ndarray], config: PruneConfig | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Pruned and quantized copies of the tensors ``config`` selects (others are passed
    through); returns ``(state, record)``, the record being what the store keeps."""
    config = config or PruneConfig()
    config.validate()
    out: dict[str, np.ndarray] = {}
    tensors: dict[str, Any] = {}
    for name, tensor in state.items():
        tensor = np.asarray(tensor)
        settings = config.settings_for(name, tensor)
        if settings is None:
            out[name] = tensor
            continue
        keep, bits = settings
        if not np.all(np.isfinite(tensor)):
            raise ConfigError(f"tensor {name!r}: holds NaN or infinite weights; magnitude pruning is undefined")
        pruned, kept = magnitude_prune(tensor, keep)
        centroids = 0
        if bits:
            pruned, centroids = share_weights(pruned, bits, config.sample, _seed(config.seed, name))
        out[name] = pruned
        tensors[name] = {"keep": keep, "bits": bits, "kept": kept, "total": int(tensor.size), "centroids": centroids}
    return out, {"config": config.as_dict(), "tensors": tensors}


def magnitude_prune(tensor: np.ndarray, keep: float) -> tuple[np.ndarray, int]:
    """A copy with all but the ``round(keep * size)`` largest-magnitude weights set to +0.0."""
    flat = np.ascontiguousarray(tensor).reshape(-1)
    n_keep = int(round(keep * flat.size))
    out = np.zeros_like(flat)
    if n_keep:
        top = np.argpartition(np.abs(flat), flat.size - n_keep)[flat.size - n_keep :]
        out[top] = flat[top]
    return out.reshape(tensor.shape), n_keep


def share_weights(tensor: np.ndarray, bits: int, sample: int, seed: int) -> tuple[np.ndarray, int]:
    """Nonzero weights replaced by the nearest of ``2**bits`` k-means centroids; zeros stay
    +0.0 bit-exactly. Returns the tensor and the number of distinct centroids used."""
    flat = np.ascontiguousarray(tensor).reshape(-1)
    nonzero = np.flatnonzero(flat.view(f"u{flat.dtype.itemsize}"))
    if nonzero.size == 0:
        return tensor.copy(), 0
    kept = flat[nonzero].astype(np.float64)
    distinct = np.unique(flat[nonzero])
    if distinct.size <= 1 << bits:  # already no more values than centroids: nothing to share
        return tensor.copy(), int(distinct.size)
    rng = np.random.default_rng(seed)
    fit_on = kept if kept.size <= sample else kept[rng.choice(kept.size, sample, replace=False)]
    centroids = kmeans_1d(np.sort(fit_on), 1 << bits)
    mids = (centroids[1:] + centroids[:-1]) / 2
    assigned = centroids[np.searchsorted(mids, kept)]
    out = flat.copy()
    out[nonzero] = assigned.astype(flat.dtype)
    return out.reshape(tensor.shape), int(np.unique(assigned).size)


def kmeans_1d(sorted_sample: np.ndarray, k: int) -> np.ndarray:
    """Lloyd's algorithm in 1-D from a linear initialisation; ``sorted_sample`` ascending.
    Returns ascending centroids (an empty cluster keeps its previous centroid)."""
    centroids = linear_init(sorted_sample, k)
    prefix = np.concatenate([[0.0], np.cumsum(sorted_sample)])
    for _ in range(MAX_ITERATIONS):
        mids = (centroids[1:] + centroids[:-1]) / 2
        bounds = np.concatenate([[0], np.searchsorted(sorted_sample, mids), [sorted_sample.size]])
        counts = np.diff(bounds)
        sums = prefix[bounds[1:]] - prefix[bounds[:-1]]
        # an emptied cluster keeps its centroid; sorting keeps the midpoints ascending
        updated = np.sort(np.where(counts > 0, sums / np.maximum(counts, 1), centroids))
        if np.array_equal(updated, centroids):
            break
        centroids = updated
    return centroids


def linear_init(sorted_sample: np.ndarray, k: int) -> np.ndarray:
    """``k`` centroids evenly spaced from the smallest to the largest kept weight, skipping the
    band ``(-g, g)`` that pruning emptied (``g`` = the smallest kept magnitude): spaced over the
    band itself, centroids would start in a gap no weight can reach and stay unused."""
    gap = float(np.min(np.abs(sorted_sample)))
    closed = np.where(sorted_sample >= 0, sorted_sample - gap, sorted_sample + gap)
    lo, hi = float(closed[0]), float(closed[-1])
    spaced = np.linspace(lo, hi, k) if k > 1 else np.array([(lo + hi) / 2])
    return np.where(spaced >= 0, spaced + gap, spaced - gap)


def _seed(seed: int, name: str) -> int:
    """A per-tensor seed, so one tensor's sample does not depend on the others'."""
    return seed * 1_000_003 + zlib.crc32(name.encode("utf-8"))

"""Per-tensor storage plans from a TOML config: glob patterns of tensor names, first match wins.

::

    [default]                      # weight tensors (ndim >= 2) no rule matches
    formulation = "element"
    codec = "raw"

    [[rules]]
    match = "classifier.*"         # fnmatch pattern on the state_dict key
    storage = "plain"              # stored as-is (plain zarr), run dense

    [[rules]]
    match = "features.*.weight"
    formulation = "element"
    codec = "raw"
    formulation_params = {}
    codec_params = {}

Tensors that no rule matches and that have fewer than 2 dimensions (biases, norms) or no
elements are stored plain. Every key is checked; mistakes name the file and the key.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from codecbench.configfile import read_toml
from codecbench.errors import ConfigError
from codecbench.registry import get_registry
from codecbench.store.writer import PLAIN, TensorPlan

_ENTRY_KEYS = {"storage", "formulation", "codec", "formulation_params", "codec_params"}


@dataclass(frozen=True)
class StoreConfig:
    default: TensorPlan
    rules: list[tuple[str, TensorPlan]] = field(default_factory=list)

    @classmethod
    def simple(cls, formulation: str = "element", codec: str = "raw") -> StoreConfig:
        return cls(_plan({"formulation": formulation, "codec": codec}, "command line"))

    @classmethod
    def from_toml(cls, path: str | Path) -> StoreConfig:
        return cls.from_dict(read_toml(path, "config"), str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "config") -> StoreConfig:
        unknown = set(data) - {"default", "rules"}
        if unknown:
            raise ConfigError(f"{where}: unknown top-level key {sorted(unknown)[0]!r} (expected 'default', 'rules')")
        default = _plan(data.get("default", {"formulation": "element", "codec": "raw"}), f"{where} [default]")
        rules_data = data.get("rules", [])
        if not isinstance(rules_data, list):
            raise ConfigError(f"{where}: 'rules' must be an array of tables ([[rules]])")
        rules = []
        for i, rule in enumerate(rules_data):
            label = f"{where} rules[{i}]"
            if not isinstance(rule, dict) or not isinstance(rule.get("match"), str) or not rule["match"]:
                raise ConfigError(f"{label}: needs a non-empty string 'match'")
            entry = {k: v for k, v in rule.items() if k != "match"}
            rules.append((rule["match"], _plan(entry, label)))
        return cls(default, rules)

    def plan_for(self, name: str, tensor: np.ndarray) -> TensorPlan:
        for pattern, plan in self.rules:
            if fnmatch.fnmatchcase(name, pattern):
                return plan
        return self.default if np.ndim(tensor) >= 2 and np.size(tensor) else TensorPlan.plain()

    def plans(self, tensors: Mapping[str, np.ndarray]) -> dict[str, TensorPlan]:
        return {name: self.plan_for(name, t) for name, t in tensors.items()}


def _plan(entry: Any, label: str) -> TensorPlan:
    if not isinstance(entry, dict):
        raise ConfigError(f"{label}: must be a table")
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        raise ConfigError(f"{label}: unknown key {sorted(unknown)[0]!r} (allowed: {', '.join(sorted(_ENTRY_KEYS))})")
    storage = entry.get("storage", "codecbench")
    if storage == PLAIN:
        if set(entry) - {"storage"}:
            raise ConfigError(f"{label}: storage = 'plain' takes no formulation, codec or params")
        return TensorPlan.plain()
    if storage != "codecbench":
        raise ConfigError(f"{label}: storage must be 'codecbench' or 'plain', not {storage!r}")
    registry = get_registry()
    values = {}
    for key in ("formulation", "codec"):
        value = entry.get(key)
        if not isinstance(value, str):
            raise ConfigError(f"{label}: '{key}' must be a string naming a registered {key}")
        if value not in registry.names(key):
            raise ConfigError(f"{label}: unknown {key} {value!r} (registered: {', '.join(registry.names(key))})")
        values[key] = value
    for key in ("formulation_params", "codec_params"):
        if not isinstance(entry.get(key, {}), dict):
            raise ConfigError(f"{label}: '{key}' must be a table")
    return TensorPlan(
        formulation=values["formulation"],
        codec=values["codec"],
        formulation_params=dict(entry.get("formulation_params", {})),
        codec_params=dict(entry.get("codec_params", {})),
    )

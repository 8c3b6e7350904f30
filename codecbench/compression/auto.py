"""``compress --auto size|speed|balanced``: per layer, measure every candidate (formulation,
codec) pair and keep the best by the objective.

- ``size``: the smallest stored chunk;
- ``speed``: the fastest executor path (select + extract + decode of the whole layer);
- ``balanced``: the smallest chunk among candidates at most :data:`BALANCED_SLACK` times
  slower than the fastest one.

Candidates are every registered formulation that accepts the tensor, crossed with every
registered codec in each of its declared ``variants`` (the wavelet tree in both shapes),
except codecs that declare themselves ``decodes_from_start`` or ``slow`` (the paper's
``huffman`` baseline, which decodes from the start of its stream for every query): name them
in ``codecs`` to include them.
Each candidate is encoded and decoded once, bit-exact; the chosen chunk is what the store
holds, and the tensor's record keeps the choice and every candidate's figures (``auto``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from codecbench.compression.measure import Pair, codec_variants, measure_pair
from codecbench.errors import ConfigError
from codecbench.registry import get_registry
from codecbench.store.writer import TensorPlan

OBJECTIVES = ("size", "speed", "balanced")
BALANCED_SLACK = 1.5


def candidates(codecs: list[str] | None = None) -> list[Pair]:
    registry = get_registry()
    if codecs is None:
        codecs = [c for c in registry.names("codec") if not _left_out(registry.entry("codec", c).cls)]
    for name in codecs:
        if name not in registry.names("codec"):
            raise ConfigError(
                f"--auto-codecs: unknown codec {name!r} (registered: {', '.join(registry.names('codec'))})"
            )
    return [Pair(f, c, params) for f in registry.names("formulation") for c, params in codec_variants(codecs)]


def _left_out(codec: type) -> bool:
    """Codecs --auto measures only when named: a group-by-group run of them decodes quadratically
    (``decodes_from_start``) or at pure-Python speed (``slow``)."""
    return codec.decodes_from_start or codec.slow


def choose(results: list[tuple[Pair, dict[str, Any]]], objective: str) -> Pair:
    measured = [(p, r) for p, r in results if r["stored_bytes"] is not None]
    if not measured:
        raise ConfigError("no candidate (formulation, codec) pair could encode this tensor")
    if objective == "size":
        return min(measured, key=lambda pr: (pr[1]["stored_bytes"], pr[1]["decode_s"]))[0]
    if objective == "speed":
        return min(measured, key=lambda pr: (pr[1]["decode_s"], pr[1]["stored_bytes"]))[0]
    fastest = min(r["decode_s"] for _, r in measured)
    within = [(p, r) for p, r in measured if r["decode_s"] <= BALANCED_SLACK * fastest]
    return min(within, key=lambda pr: (pr[1]["stored_bytes"], pr[1]["decode_s"]))[0]


def auto_plans(
    tensors: Mapping[str, np.ndarray],
    plans: Mapping[str, TensorPlan],
    objective: str,
    *,
    codecs: list[str] | None = None,
    progress: bool = True,
) -> tuple[dict[str, TensorPlan], dict[str, bytes]]:
    """Replace every codecbench plan in ``plans`` by the measured best for ``objective``;
    returns the plans and the chosen stored chunk objects (chunk + CRC), by tensor name."""
    from tqdm import tqdm

    if objective not in OBJECTIVES:
        raise ConfigError(f"--auto must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
    pairs = candidates(codecs)
    chosen_plans = dict(plans)
    blobs: dict[str, bytes] = {}
    names = [n for n, plan in plans.items() if plan.storage != "plain"]
    with tqdm(total=len(names) * len(pairs), desc="auto", unit="candidate", disable=not progress, leave=False) as bar:
        for name in names:
            results, chunks = [], {}
            encoded: dict[Any, Any] = {}  # one formulation encode per tensor, shared by the codecs
            for pair in pairs:
                bar.set_postfix_str(f"{name} {pair.label}"[:60])
                result, blob = measure_pair(tensors[name], pair, encoded, reps=1)
                results.append((pair, result.as_dict()))
                if blob is not None:
                    chunks[pair.label] = blob
                bar.update(1)
            best = choose(results, objective)
            blobs[name] = chunks[best.label]
            record = {
                "objective": objective,
                "chosen": best.label,
                "balanced_slack": BALANCED_SLACK if objective == "balanced" else None,
                "candidates": [
                    {"pair": p.label, **{k: r[k] for k in ("stored_bytes", "decode_s", "skipped")}} for p, r in results
                ],
            }
            chosen_plans[name] = TensorPlan(**best.plan_fields(), auto=record)
    return chosen_plans, blobs

"""``codecbench bench``: every registered (formulation, codec) pair on AlexNet / VGG-16, with
and without Deep Compression's prune + quantize, against the entropy bound and the dense model,
in one run. Regenerates the paper's Tables 1-4 (sizes per layer) and Figures 3-4 (speedup
against compression rate and against layer size) with measured numbers.

Per model and setting (``no``: the weights as they are; ``yes``: pruned and quantized with the
default :class:`~codecbench.models.prune.PruneConfig`):

- per layer and pair: original and stored bytes (the whole stored chunk: header, dictionaries,
  directories, payload, CRC), CR, the stream's H0 bound (``n * H0 / 8`` + side arrays), bits
  per weight, the executor's extract + decode time of the layer (select, extract, decode per
  unit group; checked bit-exact), and the layer's dense compute time at batch 1;
- per pair with every layer measured: totals over conv, fc and all layers;
- inference: for the setting's main formulation (``float-split`` without PQ, ``pq-element``
  with PQ) and every codec, a store is written from the measured chunks and ``codecbench run``
  times it at each batch size in a process of its own (median of repeats after a warm-up,
  peak RSS), beside the dense model in the same run; speedups against ``huffman`` and
  ``huffman-fast``. A codec that decodes from the start (the paper's ``huffman``) decodes each
  layer whole (see :mod:`codecbench.compression.measure`).

Pairs that cannot be coded usefully are recorded as skipped with the reason: alphabets beyond
:data:`~codecbench.compression.measure.MAX_ALPHABET` (element-wise coding of unquantized floats,
where nearly every value is distinct) or beyond a codec's declared ``practical_alphabet``. A
``slow`` codec (the pure-Python ``huffman`` baseline) is encoded on every layer, so whole-model
sizes have its column, but timed only on layers of up to ``slow_max_symbols`` symbols (the
others are marked ``untimed``); its inference runs only when every layer was timed. Outputs in ``-o DIR``:
``results.json``, ``summary.md``, ``tables.md``, ``layers.csv`` and, with matplotlib (extra
``plot``), ``fig3_speedup_vs_cr.png`` and ``fig4_speedup_vs_size.png``.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from codecbench.bench.harness import machine_info, run_in_process
from codecbench.bench.report import MAIN_FORMULATION, write_reports
from codecbench.compression.measure import (
    MAX_ALPHABET,
    SLOW_MAX_SYMBOLS,
    LayerResult,
    Pair,
    codec_variants,
    measure_pair,
)
from codecbench.dtypes import to_numpy
from codecbench.errors import ConfigError
from codecbench.executor.run import RunOptions
from codecbench.executor.runner import seeded_input
from codecbench.formulations.element import count_distinct
from codecbench.models import MODELS, build_model, load_weights, model_skeleton
from codecbench.models.prune import PruneConfig, prune_quantize
from codecbench.registry import get_registry
from codecbench.store.writer import PrecomputedChunks, TensorPlan, write_store

QUICK_COMPRESSED = ("features.", "classifier.6.")  # --quick: convs and the last fc; fc6/fc7 stay plain
QUICK_INFERENCE = ("wavelet-tree", "huffman-fast", "huffman")  # --quick: stores run beside dense


def _quick_inference(pair: Pair) -> bool:
    """--quick runs the stores of these codecs, each in its first declared variant only."""
    first = get_registry().entry("codec", pair.codec).cls.variants[0]
    return pair.codec in QUICK_INFERENCE and dict(pair.codec_params) == first


@dataclass
class BenchConfig:
    models: list[str] = field(default_factory=lambda: ["alexnet", "vgg16"])
    weights: str = "laplace:0"
    pq: list[str] = field(default_factory=lambda: ["no", "yes"])
    codecs: list[str] | None = None
    formulations: list[str] | None = None
    batches: list[int] = field(default_factory=lambda: [1, 8])
    quick: bool = False
    out: Path = Path("bench-out")
    reps: int = 3
    progress: bool = True
    #: layers above this many symbols are coded for their size only with a ``slow`` codec (not timed)
    slow_max_symbols: int = SLOW_MAX_SYMBOLS


def pairs_for(setting: str, cfg: BenchConfig) -> list[Pair]:
    registry = get_registry()
    formulations = [f for f in registry.names("formulation") if cfg.formulations is None or f in cfg.formulations]
    if setting == "no":  # (gap, value) tuples of a dense tensor: every weight is "nonzero"
        formulations = [f for f in formulations if not f.startswith("pq-")]
    registry = get_registry()

    def start_decoder(codec: str) -> bool:
        return registry.entry("codec", codec).cls.decodes_from_start

    return [
        Pair(f, codec, params)
        for f in formulations
        for codec, params in codec_variants(cfg.codecs)
        # a codec that decodes from the start where the paper has it (HF = element) and on the main formulation
        if not start_decoder(codec) or f in ("element", MAIN_FORMULATION[setting])
    ]


def layer_inputs(model: nn.Module, reps: int) -> dict[str, dict[str, Any]]:
    """Per Conv2d/Linear: its input at batch 1 (captured from a dense forward) and the median
    time of its own op on that input: the layer's dense compute time."""
    captured: dict[str, torch.Tensor] = {}
    hooks = [
        m.register_forward_pre_hook(lambda mod, args, name=name: captured.__setitem__(name, args[0]))
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    with torch.inference_mode():
        model(seeded_input(1))
    for h in hooks:
        h.remove()
    out = {}
    with torch.inference_mode():
        for name, x in captured.items():
            module = model.get_submodule(name)
            module(x)
            times = []
            for _ in range(reps):
                start = time.perf_counter()
                module(x)
                times.append(time.perf_counter() - start)
            out[f"{name}.weight"] = {"compute_s": statistics.median(times)}
    return out


def run_store(
    path: Path, batch: int, reps: int, dense: bool = False, warmup: int = 1, group_weights: int | None = None
) -> dict[str, Any]:
    """``codecbench run`` of ``path`` in a fresh process (:func:`~codecbench.bench.harness.run_in_process`):
    median forward time after ``warmup`` untimed passes, peak RSS, top-1."""
    options = RunOptions(
        store=str(path), batch=batch, repeat=reps, warmup=warmup, dense=dense, group_weights=group_weights
    )
    data = run_in_process(options)
    return {"seconds": data["seconds"], "peak_rss_mb": data["peak_rss_mb"], "top1": data.get("top1")}


def bench_model(model_name: str, cfg: BenchConfig, bar: Any) -> dict[str, Any]:
    state = {k: to_numpy(v) for k, v in load_weights(cfg.weights, model_name).items()}
    weights = [k for k, v in state.items() if v.ndim >= 2]
    if cfg.quick:
        weights = [k for k in weights if k.startswith(QUICK_COMPRESSED)]
    out: dict[str, Any] = {"model": model_name, "weights": cfg.weights, "settings": {}}
    for setting in cfg.pq:
        tensors = state if setting == "no" else prune_quantize(state, PruneConfig())[0]
        dense = build_model(model_name).eval()
        dense.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()})
        compute = layer_inputs(dense, cfg.reps)
        pairs = pairs_for(setting, cfg)
        layers: dict[str, dict[str, Any]] = {}
        main_blobs: dict[str, dict[str, bytes]] = {}
        for name in weights:
            t = tensors[name]
            distinct = count_distinct(t.reshape(-1).view(f"u{t.dtype.itemsize}"))
            row: dict[str, Any] = {
                "kind": "conv" if t.ndim >= 3 else "fc",
                "shape": list(t.shape),
                "original_bytes": int(t.nbytes),
                "distinct_values": distinct,
                "compute_s": compute.get(name, {}).get("compute_s"),
                "pairs": {},
            }
            encoded: dict[Any, Any] = {}  # one formulation encode per layer, shared by the codecs
            for pair in pairs:
                bar.set_postfix_str(f"{model_name} pq={setting} {name} {pair.label}"[:70])
                if distinct > MAX_ALPHABET and pair.formulation in ("element", "block", "pq-element", "pq-block"):
                    result = LayerResult(
                        skipped=f"{distinct} distinct values > {MAX_ALPHABET}: nearly every value distinct"
                    )
                    blob = None
                else:
                    result, blob = measure_pair(t, pair, encoded, reps=cfg.reps, slow_max_symbols=cfg.slow_max_symbols)
                row["pairs"][pair.label] = result.as_dict()
                if blob is not None and result.untimed is None and pair.formulation == MAIN_FORMULATION[setting]:
                    main_blobs.setdefault(pair.label, {})[name] = blob
                bar.update(1)
            layers[name] = row
        totals = _totals(layers, pairs)
        inference = _inference(model_name, tensors, weights, main_blobs, cfg, setting)
        out["settings"][setting] = {"layers": layers, "totals": totals, "inference": inference}
    return out


def _totals(layers: dict[str, dict[str, Any]], pairs: list[Pair]) -> dict[str, dict[str, Any]]:
    totals: dict[str, dict[str, Any]] = {}
    for group in ("conv", "fc", "all"):
        rows = [r for r in layers.values() if group == "all" or r["kind"] == group]
        original = sum(r["original_bytes"] for r in rows)
        entry: dict[str, Any] = {"original_bytes": original, "pairs": {}}
        for pair in pairs:
            results = [r["pairs"][pair.label] for r in rows]
            if not rows or any(x["stored_bytes"] is None for x in results):
                continue
            stored = sum(x["stored_bytes"] for x in results)
            bound = sum(x["n_symbols"] * x["h0_bits"] / 8 + x["side_bytes"] for x in results)
            times = [x["decode_s"] for x in results]
            decode = None if None in times else sum(times)  # a slow codec's long layers: size only
            entry["pairs"][pair.label] = {
                "stored_bytes": stored,
                "cr": original / stored,
                "bound_bytes": bound,
                "stored_over_bound": stored / bound if bound else None,
                "decode_s": decode,
            }
        totals[group] = entry
    return totals


def _inference(
    model_name: str,
    tensors: dict[str, np.ndarray],
    weights: list[str],
    main_blobs: dict[str, dict[str, bytes]],
    cfg: BenchConfig,
    setting: str,
) -> dict[str, Any]:
    """Dense and one store per codec of the main formulation, run in subprocesses."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="codecbench-bench-") as tmp:
        dense_path = Path(tmp) / "dense.zarr"
        plain = {k: TensorPlan.plain() for k in tensors}
        write_store(dense_path, tensors, plain, {"model": model_name}, progress=False)
        results["dense"] = {str(b): run_store(dense_path, b, cfg.reps, dense=True) for b in cfg.batches}
        for pair in pairs_for(setting, cfg):
            if pair.formulation != MAIN_FORMULATION[setting] or (cfg.quick and not _quick_inference(pair)):
                continue
            blobs = main_blobs.get(pair.label, {})
            missing = [w for w in weights if w not in blobs]
            if missing:
                results[pair.label] = {"skipped": f"{len(missing)} layer(s) not coded or not timed, e.g. {missing[0]}"}
                continue
            plans = {k: (TensorPlan(**pair.plan_fields()) if k in blobs else TensorPlan.plain()) for k in tensors}
            path = Path(tmp) / f"{len(results)}.zarr"
            write_store(path, tensors, plans, {"model": model_name}, progress=False, encoder=PrecomputedChunks(blobs))
            stored = sum(len(b) for b in blobs.values())
            results[pair.label] = {"stored_weight_bytes": stored}
            for b in cfg.batches:
                if get_registry().entry("codec", pair.codec).cls.decodes_from_start:  # as it runs: each layer whole
                    results[pair.label][str(b)] = run_store(path, b, 1, warmup=0, group_weights=2**62)
                else:
                    results[pair.label][str(b)] = run_store(path, b, cfg.reps)
            _rm(path)
    timed = {label: entry for label, entry in results.items() if "skipped" not in entry}
    for entry in timed.values():
        for b in map(str, cfg.batches):
            base = entry[b]["seconds"]
            entry[b]["vs_dense"] = base / results["dense"][b]["seconds"]
            for ref in ("huffman", "huffman-fast"):
                ref_label = f"{MAIN_FORMULATION[setting]}/{ref}"
                if ref_label in timed:
                    entry[b][f"speedup_vs_{ref}"] = timed[ref_label][b]["seconds"] / base
    return results


def _rm(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def run_bench(cfg: BenchConfig) -> dict[str, Any]:
    from tqdm import tqdm

    unknown = [m for m in cfg.models if m not in MODELS]
    if unknown:
        raise ConfigError(f"--models: unknown model {unknown[0]!r} (known: {', '.join(MODELS)})")
    registry = get_registry()
    for kind, chosen in (("codec", cfg.codecs), ("formulation", cfg.formulations)):
        for name in chosen or []:
            if name not in registry.names(kind):
                raise ConfigError(f"--{kind}s: unknown {kind} {name!r} (registered: {', '.join(registry.names(kind))})")
    total = 0
    for model_name in cfg.models:
        skeleton = model_skeleton(model_name)
        n_weights = sum(
            1
            for k, v in skeleton.state_dict().items()
            if v.ndim >= 2 and (not cfg.quick or k.startswith(QUICK_COMPRESSED))
        )
        total += n_weights * sum(len(pairs_for(s, cfg)) for s in cfg.pq)
    results: dict[str, Any] = {
        "machine": machine_info(),
        "config": {
            "models": cfg.models,
            "weights": cfg.weights,
            "pq": cfg.pq,
            "batches": cfg.batches,
            "quick": cfg.quick,
            "reps": cfg.reps,
            "max_alphabet": MAX_ALPHABET,
            "slow_max_symbols": cfg.slow_max_symbols,
            "prune": PruneConfig().as_dict(),
        },
        "plugins": [e.as_dict() for e in registry.entries()],
        "models": {},
    }
    start = time.perf_counter()
    with tqdm(total=total, desc="bench", unit="layer x pair", disable=not cfg.progress) as bar:
        for model_name in cfg.models:
            results["models"][model_name] = bench_model(model_name, cfg, bar)
    results["seconds"] = time.perf_counter() - start
    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / "results.json").write_text(json.dumps(results, indent=1))
    results["outputs"] = write_reports(results, cfg.out)
    (cfg.out / "results.json").write_text(json.dumps(results, indent=1))
    return results

"""Fast mode against exact mode and the dense model: pruned AlexNet and VGG-16, per codec.

Usage::

    python -m codecbench.bench.fast [--models alexnet,vgg16] [--formulations pq-joint,pq-element]
                                    [--codecs huffman-fast,raw,wavelet-tree] [--batches 1,8]
                                    [--repeat 5] [--weights init:0] [--workdir DIR] [--json out.json]

Per model: ``compress MODEL --prune`` (Deep Compression defaults: conv keep 0.4 / 8 bits, fc
keep 0.1 / 5 bits) into one store per formulation and codec. Per store and batch, in fresh
processes (:func:`codecbench.bench.harness.run_in_process`, ``codecbench run``'s own function),
the median of ``--repeat`` forwards after one warm-up, of: the dense model, exact mode, fast
mode; dense and compressed runs alternate so machine noise hits both. Printed as ratios to
the dense forward of the same run.

Fully connected layers alone: fast mode's fc layers (their ``wall`` in ``run --profile``, one
more fast run) against the dense model's fc layers (forward hooks in a fresh process: the
same layers timed the same way, summed), median over the passes.

Check: ``run --mode fast --check`` once per store at batch 1, i.e. each fast layer's largest
observed fraction of the forward error bound, and top-1 against the dense model over 64
seeded inputs; a failed check is printed as such and makes the script exit 1.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from codecbench.bench.harness import machine_info, run_in_process
from codecbench.executor.run import RunOptions, stored_bytes
from codecbench.executor.runner import open_model_store

DEFAULT_CODECS = ("huffman-fast", "raw", "wavelet-tree")
DEFAULT_FORMULATIONS = ("pq-joint", "pq-element")


def build_store(model: str, formulation: str, codec: str, weights: str, workdir: Path) -> Path:
    from codecbench.compression import compress_model
    from codecbench.models.prune import PruneConfig
    from codecbench.store.config import StoreConfig

    path = workdir / f"{model}-{formulation}-{codec}.zarr"
    if not path.exists():
        config = StoreConfig.simple(formulation, codec)
        compress_model(model, weights, path, config, progress=False, prune=PruneConfig())
    return path


def dense_fc_seconds(store: Path, batch: int, repeat: int) -> float:
    """The dense model's Linear layers, summed per forward (median of ``repeat`` after one
    warm-up), timed by forward hooks in a fresh process."""
    argv = [sys.executable, "-m", "codecbench.bench.fast", "--child-dense-fc", str(store), str(batch), str(repeat)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
    if proc.returncode:
        raise RuntimeError(f"dense fc timing failed: {proc.stderr.strip().splitlines()[-1:]}")
    return float(proc.stdout.strip().splitlines()[-1])


def _child_dense_fc(store: str, batch: int, repeat: int) -> float:
    import torch

    from codecbench.executor.runner import open_model_store, seeded_input

    model = open_model_store(store).dense_model()
    spent: list[float] = []
    started: dict[int, float] = {}

    def pre(module: Any, _inputs: Any) -> None:
        started[id(module)] = time.perf_counter()

    def post(module: Any, _inputs: Any, _output: Any) -> None:
        spent.append(time.perf_counter() - started[id(module)])

    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.register_forward_pre_hook(pre)
            module.register_forward_hook(post)
    x = seeded_input(batch)
    per_pass = []
    with torch.inference_mode():
        for i in range(repeat + 1):
            spent.clear()
            model(x)
            if i:  # the first pass warms up
                per_pass.append(sum(spent))
    return statistics.median(per_pass)


def fast_fc_seconds(result: dict[str, Any]) -> float:
    """Fast mode's fc layers per forward from a ``run --profile`` record (their wall time)."""
    layers = result["profile"]["layers"]
    passes = result["profile"]["passes"]
    return sum(layer["wall"] for layer in layers if layer["path"].startswith("fast")) / passes


def bench(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"machine": machine_info(), "weights": args.weights, "repeat": args.repeat, "models": {}}
    for model in args.models:
        rows: dict[str, Any] = {}
        for formulation, codec in [(f, c) for f in args.formulations for c in args.codecs]:
            pair = f"{formulation}/{codec}"
            t0 = time.perf_counter()
            store = build_store(model, formulation, codec, args.weights, workdir)
            print(f"[{model}] {pair}: store built in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            row: dict[str, Any] = {"stored_bytes": stored_bytes(open_model_store(store)), "batches": {}}
            for batch in args.batches:
                common = {"store": str(store), "batch": batch, "repeat": args.repeat, "warmup": 1}
                dense = run_in_process(RunOptions(**common, dense=True))["seconds"]
                exact = run_in_process(RunOptions(**common))["seconds"]
                fast = run_in_process(RunOptions(**common, compute="fast"))["seconds"]
                profiled = run_in_process(RunOptions(**common, compute="fast", profile=True))
                fc_fast = fast_fc_seconds(profiled)
                fc_dense = dense_fc_seconds(store, batch, args.repeat)
                row["batches"][str(batch)] = {
                    "dense_s": dense,
                    "exact_s": exact,
                    "fast_s": fast,
                    "exact_vs_dense": exact / dense,
                    "fast_vs_dense": fast / dense,
                    "fc_dense_s": fc_dense,
                    "fc_fast_s": fc_fast,
                    "fc_fast_vs_dense": fc_fast / fc_dense,
                    "paths": {layer["name"]: layer["path"] for layer in profiled["profile"]["layers"]},
                }
                print(
                    f"[{model}] {pair} batch {batch}: dense {dense * 1e3:.1f} ms, exact {exact / dense:.2f}x, "
                    f"fast {fast / dense:.2f}x; fc layers fast {fc_fast * 1e3:.1f} ms = {fc_fast / fc_dense:.2f}x "
                    f"their dense {fc_dense * 1e3:.1f} ms",
                    file=sys.stderr,
                )
            check = run_in_process(RunOptions(store=str(store), batch=1, compute="fast", check=True))
            row["check"] = {
                "passed": check["passed"],
                "bound": {r["name"]: r["max_fraction"] for r in check["bound"]["layers"]},
                "top1_agreement": check["top1_agreement"],
            }
            fractions = ", ".join(f"{k} {v:.2e}" for k, v in row["check"]["bound"].items())
            top1 = check["top1_agreement"]
            verdict = "passed" if check["passed"] else "FAILED"
            print(
                f"[{model}] {pair} check {verdict}: {fractions}; top-1 {top1['agree']}/{top1['inputs']}",
                file=sys.stderr,
            )
            rows[pair] = row
        out["models"][model] = rows
    return out


def report(results: dict[str, Any]) -> str:
    lines = [f"weights {results['weights']}, median of {results['repeat']} forwards after one warm-up, fresh processes"]
    lines.append("")
    lines.append(
        "| model | pair | stored MB | batch | dense ms | exact / dense | fast / dense | fc layers: fast / dense |"
    )
    lines.append("|---|---|---|---|---|---|---|---|")
    for model, rows in results["models"].items():
        for pair, row in rows.items():
            for batch, r in row["batches"].items():
                lines.append(
                    f"| {model} | {pair} | {row['stored_bytes'] / 1e6:.2f} | {batch} | {r['dense_s'] * 1e3:.1f} | "
                    f"{r['exact_vs_dense']:.2f}x | {r['fast_vs_dense']:.2f}x | {r['fc_fast_vs_dense']:.2f}x "
                    f"({r['fc_fast_s'] * 1e3:.1f} / {r['fc_dense_s'] * 1e3:.1f} ms) |"
                )
    lines.append("")
    lines.append("check (`run --mode fast --check`, batch 1): largest fraction of the error bound per fast layer")
    for model, rows in results["models"].items():
        for pair, row in rows.items():
            c = row["check"]
            fractions = ", ".join(f"{k} {v:.2e}" for k, v in c["bound"].items())
            top1 = c["top1_agreement"]
            verdict = "passed" if c["passed"] else "FAILED"
            lines.append(f"- {model} {pair}: {verdict}; {fractions}; top-1 {top1['agree']}/{top1['inputs']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child-dense-fc"]:
        print(_child_dense_fc(argv[1], int(argv[2]), int(argv[3])))
        return 0
    p = argparse.ArgumentParser(prog="python -m codecbench.bench.fast", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=lambda s: s.split(","), default=["alexnet", "vgg16"])
    p.add_argument("--formulations", type=lambda s: s.split(","), default=list(DEFAULT_FORMULATIONS))
    p.add_argument("--codecs", type=lambda s: s.split(","), default=list(DEFAULT_CODECS))
    p.add_argument("--batches", type=lambda s: [int(b) for b in s.split(",")], default=[1, 8])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--weights", default="init:0")
    p.add_argument("--workdir", type=Path, default=None, help="keep the stores here (default: a temporary directory)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        results = bench(args, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="codecbench-fast-") as tmp:
            results = bench(args, Path(tmp))
    print(report(results))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))
    passed = all(row["check"]["passed"] for rows in results["models"].values() for row in rows.values())
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())

"""Decode benchmark: one layer's weights from its compressed bytes into a dense buffer, on one
thread, against ``np.copyto`` of the same bytes measured in the same run.

Usage::

    python -m codecbench.bench.decode [--model alexnet] [--layer classifier.1.weight] [--weights init:0]
                                      [--codecs raw,huffman-fast,wavelet-tree] [--formulations float-split,pq-element,pq-joint]
                                      [--reps 7] [--json OUT]

The layer is coded with ``float-split`` (its weights as they are) and with ``pq-element`` and
``pq-joint`` (after the default prune + quantize), with each codec. Per (formulation, codec): the stored bytes, and
the median time of decoding the whole layer into one preallocated buffer (the executor's
hot path on one group spanning the layer: ``decode_span``) by the pair's fused kernel where it
has one and by the plain path (``extract`` into uint32, then ``decode_units_into``), each
checked bit-exact, as a ratio to ``np.copyto`` of the layer's bytes into that buffer (the
memory-speed reference). Calls alternate, so machine noise hits every figure alike. Numba runs
the kernels on the calling thread: one core.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

import numpy as np

from codecbench.bench.harness import machine_info
from codecbench.codecs.base import open_sequence
from codecbench.fused import decode_span
from codecbench.models import load_weights
from codecbench.models.prune import PruneConfig, prune_quantize
from codecbench.registry import get_registry

#: float-split codes the layer as it is; the pq formulations code it pruned and quantized
FORMULATIONS = ("float-split", "pq-element", "pq-joint")


def _case(tensor: np.ndarray, formulation: str, codec: str) -> dict[str, Any]:
    registry = get_registry()
    ras = registry.formulation(formulation).encode(tensor)
    payload = registry.codec(codec).encode(ras.symbols, ras.alphabet_size)
    seq = open_sequence(registry.codec(codec), payload)
    fused = registry.fused(formulation, codec)
    fused = fused if fused is not None and fused.applies(ras, seq) else None
    side = sum(a.nbytes for a in ras.arrays.values())
    return {
        "ras": ras,
        "seq": seq,
        "form": registry.formulation(formulation),
        "fused": fused,
        "bytes": len(payload) + side,
    }


def measure(tensor: np.ndarray, formulation: str, codec: str, reps: int) -> dict[str, Any]:
    case = _case(tensor, formulation, codec)
    ras, seq, form, fused = case["ras"], case["seq"], case["form"], case["fused"]
    bits = tensor.reshape(-1).view(f"u{tensor.dtype.itemsize}")
    out = np.empty_like(bits)
    n = len(seq)
    paths = {"plain": None} | ({"fused": fused} if fused is not None else {})
    times: dict[str, list[float]] = {"copy": [], **{p: [] for p in paths}}
    for _ in range(reps + 1):  # the first round warms up (compiles) and is not counted
        for name, decoder in paths.items():
            out[:] = 0
            t0 = time.perf_counter()
            decode_span(ras, seq, form, decoder, 0, n, 0, ras.n_units, out)
            times[name].append(time.perf_counter() - t0)
            if out.tobytes() != bits.tobytes():
                raise SystemExit(f"WRONG ANSWER: {formulation}/{codec} {name}")
        t0 = time.perf_counter()
        np.copyto(out, bits)
        times["copy"].append(time.perf_counter() - t0)
    median = {k: statistics.median(v[1:]) for k, v in times.items()}
    return {
        "formulation": formulation,
        "codec": codec,
        "stored_bytes": case["bytes"],
        "ratio_stored": bits.nbytes / case["bytes"],
        "copy_ms": median["copy"] * 1e3,
        **{f"{p}_ms": median[p] * 1e3 for p in paths},
        **{f"{p}_vs_copy": median[p] / median["copy"] for p in paths},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m codecbench.bench.decode", description=__doc__.splitlines()[0])
    p.add_argument("--model", default="alexnet")
    p.add_argument("--layer", default="classifier.1.weight")
    p.add_argument("--weights", default="init:0")
    p.add_argument("--codecs", default="raw,huffman-fast,wavelet-tree")
    p.add_argument("--formulations", default="float-split,pq-element,pq-joint")
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--json", help="write the figures to this file")
    args = p.parse_args(argv)
    state = load_weights(args.weights, args.model)
    if args.layer not in state:
        p.error(f"--layer: {args.model} has no tensor {args.layer!r}")
    dense = state[args.layer].numpy()
    pruned = prune_quantize({args.layer: dense}, PruneConfig())[0][args.layer]
    codecs = [c.strip() for c in args.codecs.split(",") if c.strip()]
    formulations = [f.strip() for f in args.formulations.split(",") if f.strip()]
    if not set(formulations) <= set(FORMULATIONS):
        p.error(f"--formulations: choose from {', '.join(FORMULATIONS)}")
    unknown = set(codecs) - set(get_registry().names("codec"))
    if unknown:
        p.error(f"--codecs: not registered: {', '.join(sorted(unknown))}")
    print(
        f"{args.model} {args.layer} {tuple(dense.shape)} ({dense.nbytes / 1e6:.1f} MB), weights {args.weights}; one thread"
    )
    rows = []
    head = f"{'pair':<28}{'stored MB':>10}{'ratio':>7}{'copy ms':>9}{'plain ms':>10}{'fused ms':>10}{'plain/copy':>12}{'fused/copy':>12}"
    print(head + "\n" + "-" * len(head))
    for formulation in formulations:
        tensor = dense if formulation == "float-split" else pruned
        for codec in codecs:
            r = measure(tensor, formulation, codec, args.reps)
            rows.append(r)
            fused = f"{r['fused_ms']:>10.1f}" if "fused_ms" in r else f"{'-':>10}"
            fused_ratio = f"{r['fused_vs_copy']:>12.2f}" if "fused_ms" in r else f"{'-':>12}"
            print(
                f"{formulation + '/' + codec:<28}{r['stored_bytes'] / 1e6:>10.2f}{r['ratio_stored']:>7.2f}"
                f"{r['copy_ms']:>9.1f}{r['plain_ms']:>10.1f}{fused}{r['plain_vs_copy']:>12.2f}{fused_ratio}",
                flush=True,
            )
    print("\ntargets: fused float-split and pq-* <= 3x the copy (issue 18), best codec per formulation:")
    for formulation in formulations:
        best = min(
            (r for r in rows if r["formulation"] == formulation),
            key=lambda r: r.get("fused_vs_copy", r["plain_vs_copy"]),
        )
        value = best.get("fused_vs_copy", best["plain_vs_copy"])
        print(f"  {formulation:<12} {best['codec']:<14} {value:6.2f}x copy  {'PASS' if value <= 3 else 'MISS'}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"machine": machine_info(), "config": vars(args), "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

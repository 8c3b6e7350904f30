"""Formulations benchmark: a model's weight tensors through every (formulation, codec) pair,
with and without Deep Compression's prune + quantize, and the time prune + quantize takes.

Usage::

    python -m codecbench.bench.formulations [--model alexnet] [--weights laplace:0]
        [--formulations ...] [--codecs ...] [--quick] [--json OUT]

Columns: every registered codec (plugins included) in each of its declared ``variants`` (the
wavelet tree in both shapes).

Per setting (no-PQ: the weights as they are; PQ: pruned and quantized with the default
:class:`~codecbench.models.prune.PruneConfig`) and per formulation: the symbol stream's
length, alphabet and order-0 entropy H0; the side arrays (dictionaries, packed mantissas) in
bytes; the H0 bound (``n * H0 / 8`` + side arrays: what no order-0 coder of this stream can
beat); and per codec the stored bytes of every weight chunk (header, arrays, payload: what the
store holds) with the ratio original / stored and stored / bound. Pairs a codec refuses (an
alphabet beyond its limit) are reported as refused with the reason, not skipped silently;
a codec runs only on alphabets up to its declared ``practical_alphabet`` (the paper's
``huffman``, pure Python: 2**16).
Every encoding is decoded and compared with the tensor bit for bit before it is counted.

The prune + quantize time is printed against the issue's budget (10 s for AlexNet) and against
fitting k-means on every kept weight instead of a sample (the reference, same run).
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
from codecbench.compression.measure import codec_variants
from codecbench.models import load_weights
from codecbench.models.prune import PruneConfig, prune_quantize
from codecbench.registry import get_registry
from codecbench.store import chunk
from codecbench.succinct.entropy import h0

NO_PQ = ("element", "block", "float-split")
PQ = ("pq-element", "pq-block", "pq-joint")
PRUNE_BUDGET_S = 10.0


def all_codecs() -> list[tuple[str, str, dict]]:
    """``(label, codec, params)`` for every registered codec in each declared variant."""
    out = []
    for name, params in codec_variants():
        label = name + (f"[{','.join(f'{k}={v}' for k, v in params)}]" if params else "")
        out.append((label, name, dict(params)))
    return out


def weight_tensors(model: str, weights: str) -> dict[str, np.ndarray]:
    state = load_weights(weights, model)
    return {k: v.numpy() for k, v in state.items() if v.ndim >= 2}


def measure_pair(tensors: dict[str, np.ndarray], formulation: str, codecs: list[tuple[str, str, dict]]) -> dict:
    registry = get_registry()
    f = registry.formulation(formulation)
    row: dict[str, Any] = {"formulation": formulation, "symbols": 0, "bound_bytes": 0.0, "side_bytes": 0, "codecs": {}}
    encoded = {}
    for name, tensor in tensors.items():
        try:
            ras = f.encode(tensor)
        except ValueError as exc:
            row["refused"] = f"{name}: {exc}"
            return row
        encoded[name] = ras
        side = sum(a.nbytes for a in ras.arrays.values())
        row["symbols"] += int(ras.symbols.size)
        row["side_bytes"] += side
        row["bound_bytes"] += ras.symbols.size * h0(ras.symbols) / 8 + side
        row.setdefault("alphabet_max", 0)
        row["alphabet_max"] = max(row["alphabet_max"], ras.alphabet_size)
    for label, codec, params in codecs:
        stored, seconds = 0, 0.0
        limit = registry.entry("codec", codec).cls.practical_alphabet
        if row["alphabet_max"] > limit:
            row["codecs"][label] = {"refused": f"skipped: alphabet {row['alphabet_max']} > {limit} for this baseline"}
            continue
        try:
            for name, ras in encoded.items():
                start = time.perf_counter()
                payload = registry.codec(codec).encode(ras.symbols, ras.alphabet_size, **params)
                seconds += time.perf_counter() - start
                blob = chunk.pack_chunk(ras, payload, formulation, codec, {}, params)
                parsed = chunk.parse_chunk(np.frombuffer(blob, np.uint8))
                decoded = chunk.decode_parsed(parsed, registry)
                if decoded.tobytes() != tensors[name].tobytes():
                    raise SystemExit(f"WRONG ANSWER: {formulation}/{label} does not round-trip {name}")
                stored += len(blob)
        except ValueError as exc:
            row["codecs"][label] = {"refused": str(exc)}
            continue
        row["codecs"][label] = {"stored_bytes": stored, "encode_s": round(seconds, 3)}
    return row


def time_prune(tensors: dict[str, np.ndarray], reps: int = 3) -> dict[str, float]:
    """Median seconds of prune + quantize (sampled fit, the default) and of the same with the
    k-means fitted on every kept weight, alternating so both see the same machine load."""
    sampled, full = [], []
    for _ in range(reps):
        start = time.perf_counter()
        prune_quantize(tensors, PruneConfig())
        sampled.append(time.perf_counter() - start)
        start = time.perf_counter()
        prune_quantize(tensors, PruneConfig(sample=2**62))
        full.append(time.perf_counter() - start)
    return {"prune_quantize_s": statistics.median(sampled), "full_fit_s": statistics.median(full)}


def report(setting: str, original: int, rows: list[dict], out=sys.stdout) -> None:
    print(f"\n{setting}: original weights {original / 1e6:.2f} MB", file=out)
    labels = list(dict.fromkeys(label for row in rows for label in row.get("codecs", {})))
    print(f"{'formulation':<12} {'H0 bound MB':>12} " + " ".join(f"{lb:>22}" for lb in labels), file=out)
    for row in rows:
        if "refused" in row:
            print(f"{row['formulation']:<12} refused: {row['refused']}", file=out)
            continue
        cells = []
        for label in labels:
            c = row["codecs"].get(label, {"refused": "not run"})
            if "refused" in c:
                cells.append(f"{c['refused'].split(':')[0] if c['refused'].startswith('skipped') else 'refused':>22}")
            else:
                mb = c["stored_bytes"] / 1e6
                cells.append(
                    f"{mb:>8.2f} x{original / c['stored_bytes']:>5.2f} b{c['stored_bytes'] / row['bound_bytes']:>5.3f}"
                )
        print(f"{row['formulation']:<12} {row['bound_bytes'] / 1e6:>12.2f} " + " ".join(cells), file=out)
    print("cells: stored MB, xRATIO original/stored, bSTORED/H0-bound", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codecbench.bench.formulations", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="alexnet")
    parser.add_argument("--weights", default="laplace:0")
    parser.add_argument("--formulations", help="comma-separated subset (default: all built-in ones)")
    parser.add_argument(
        "--codecs", help="comma-separated labels (default: all): " + ",".join(c[0] for c in all_codecs())
    )
    parser.add_argument("--quick", action="store_true", help="only the first 3 weight tensors (for CI)")
    parser.add_argument("--json", help="also write all figures to this file")
    args = parser.parse_args(argv)
    chosen = set(args.formulations.split(",")) if args.formulations else set(NO_PQ + PQ)
    codecs = [c for c in all_codecs() if not args.codecs or c[0] in args.codecs.split(",")]
    tensors = weight_tensors(args.model, args.weights)
    if args.quick:
        tensors = dict(list(tensors.items())[:3])
    results: dict[str, Any] = {"machine": machine_info(), "model": args.model, "weights": args.weights}
    results["prune"] = time_prune(tensors)
    pruned, _ = prune_quantize(tensors, PruneConfig())
    original = sum(t.nbytes for t in tensors.values())
    for setting, names, data in (("no-PQ", NO_PQ, tensors), ("PQ", PQ, pruned)):
        rows = []
        for formulation in [n for n in names if n in chosen]:
            print(f"[{setting}] {formulation} ...", file=sys.stderr, flush=True)
            rows.append(measure_pair(data, formulation, codecs))
        results[setting] = {"original_bytes": original, "rows": rows}
        report(f"{args.model} {args.weights} {setting}", original, rows)
    p = results["prune"]
    print(
        f"\nprune + quantize {len(tensors)} tensors: {p['prune_quantize_s']:.2f} s "
        f"(budget {PRUNE_BUDGET_S:.0f} s: ratio {p['prune_quantize_s'] / PRUNE_BUDGET_S:.2f}); "
        f"k-means fitted on every kept weight instead: {p['full_fit_s']:.2f} s "
        f"(sampled / full = {p['prune_quantize_s'] / p['full_fit_s']:.2f})"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

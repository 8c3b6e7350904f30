"""Executor benchmark: dense torch vs compressed inference, AlexNet and VGG-16, PQ and no-PQ,
batch 1 and 8, every codec present, in one run; peak RSS of each run from its own subprocess.

Usage::

    python benchmarks/executor.py [--models alexnet,vgg16] [--batches 1,8] [--repeat 5]
                                  [--workdir DIR] [--codecs ...] [--vgg-codecs ...] [--json out.json]

Weights: ``--weights init:0`` (torch's default init, seed 0; state it when quoting numbers).
PQ = ``compress --prune`` (conv keep 0.4 / 8 bits, fc keep 0.1 / 5 bits) with ``pq-element``
(every codec) and ``pq-block`` (wavelet-tree, huffman-fast); no-PQ = ``float-split`` (the
only lossless formulation worth running on unquantized floats). The paper's ``huffman``
codec decodes from the start of the sequence for every query (O(n) per group): it is left
out unless ``--paper-huffman`` (AlexNet PQ only, where it is merely slow).

Every timing is the median of ``--repeat`` forwards after one warm-up, measured with
``codecbench run --json`` in a fresh subprocess; dense and compressed runs of one model and
batch alternate, so machine noise (other processes) hits both alike. Ratios are
compressed / dense and wavelet-tree / huffman-fast on the same formulation. Peak RSS
breakdown (MB): stored = the store's chunk bytes; budget = cache budget + peak group working
set; act = largest activation in+out; base = RSS after importing torch and codecbench.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

MB = 1 << 20
CLI = [sys.executable, "-c", "from codecbench.cli import main; raise SystemExit(main())"]


def sh(args: list[str], timeout: float = 3600) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=timeout).stdout


def codecs_present() -> list[str]:
    out = json.loads(sh([*CLI, "plugins", "--json"]))
    return [e["name"] for e in out if e["kind"] == "codec"]


def build(workdir: Path, model: str, formulation: str, codec: str, weights: str, prune: bool) -> Path:
    path = workdir / f"{model}-{formulation}-{codec}.zarr"
    if not (path / "zarr.json").exists():
        args = [*CLI, "compress", model, "--weights", weights, "-o", str(path)]
        args += ["--formulation", formulation, "--codec", codec, "--quiet", "--force"]
        if prune:
            args.append("--prune")
        t = time.perf_counter()
        sh(args)
        print(f"  built {path.name} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    return path


def run(store: Path, batch: int, repeat: int, dense: bool = False, extra: tuple[str, ...] = ()) -> dict:
    args = [*CLI, "run", str(store), "--batch", str(batch), "--repeat", str(repeat)]
    args += ["--warmup", "1", "--json", *extra]
    if dense:
        args.append("--dense")
    return json.loads(sh(args))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="alexnet,vgg16")
    p.add_argument("--batches", default="1,8")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--vgg-repeat", type=int, default=3)
    p.add_argument("--weights", default="init:0")
    p.add_argument("--workdir", default="bench-executor")
    p.add_argument("--codecs", default=None, help="PQ codecs (default: every registered codec except huffman)")
    p.add_argument("--vgg-codecs", default="wavelet-tree,huffman-fast,raw", help="VGG-16 PQ codecs")
    p.add_argument("--nopq-codecs", default="wavelet-tree,huffman-fast")
    p.add_argument("--paper-huffman", action="store_true")
    p.add_argument("--json", help="write all results here")
    args = p.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    present = codecs_present()
    pq_codecs = args.codecs.split(",") if args.codecs else [c for c in present if c != "huffman"]
    if args.paper_huffman and "huffman" in present:
        pq_codecs.append("huffman")
    print(f"codecs present: {present}; weights {args.weights}", file=sys.stderr)
    rows, results = [], []
    for model in args.models.split(","):
        codecs = pq_codecs if model == "alexnet" else [c for c in args.vgg_codecs.split(",") if c in present]
        configs = [("pq-element", c, True) for c in codecs if c in present]
        configs += [("pq-block", c, True) for c in ("wavelet-tree", "huffman-fast")]
        configs += [("float-split", c, False) for c in args.nopq_codecs.split(",")]
        if model != "alexnet":
            configs = [cfg for cfg in configs if cfg[1] != "huffman"]
        stores = {cfg: build(workdir, model, *cfg[:2], args.weights, cfg[2]) for cfg in configs}
        repeat = args.repeat if model == "alexnet" else args.vgg_repeat
        for batch in map(int, args.batches.split(",")):
            for cfg, store in stores.items():
                d = run(store, batch, repeat, dense=True)  # a dense run beside every compressed run
                c = run(store, batch, repeat)
                ratio = c["seconds"] / d["seconds"]
                budget = c["cache"]["budget_bytes"] + c["workset_peak_bytes"]
                bound = c["stored_bytes"] / MB + budget / MB + c["activation_bytes"] / MB + c["baseline_rss_mb"]
                row = {
                    "model": model,
                    "batch": batch,
                    "formulation": cfg[0],
                    "codec": cfg[1],
                    "dense_ms": d["seconds"] * 1e3,
                    "compressed_ms": c["seconds"] * 1e3,
                    "ratio": ratio,
                    "dense_rss_mb": d["peak_rss_mb"],
                    "rss_mb": c["peak_rss_mb"],
                    "stored_mb": c["stored_bytes"] / MB,
                    "budget_mb": budget / MB,
                    "act_mb": c["activation_bytes"] / MB,
                    "base_mb": c["baseline_rss_mb"],
                    "bound_mb": bound,
                }
                rows.append(row)
                results.append({"config": row, "dense": d, "compressed": c})
                print(
                    f"{model:8s} b{batch} {cfg[0]:11s} {cfg[1]:13s} dense {row['dense_ms']:8.1f} ms  compressed "
                    f"{row['compressed_ms']:8.1f} ms  ratio {ratio:5.2f}  RSS {row['rss_mb']:6.0f} MB "
                    f"(bound {bound:6.0f} = stored {row['stored_mb']:.0f} + budget {row['budget_mb']:.0f} "
                    f"+ act {row['act_mb']:.0f} + base {row['base_mb']:.0f}; dense RSS {row['dense_rss_mb']:.0f})",
                    flush=True,
                )
    print("\nwavelet-tree / huffman-fast (same formulation, model, batch):")
    for r in rows:
        if r["codec"] != "wavelet-tree":
            continue
        hf = [
            q
            for q in rows
            if q["codec"] == "huffman-fast" and all(q[k] == r[k] for k in ("model", "batch", "formulation"))
        ]
        if hf:
            print(
                f"  {r['model']:8s} b{r['batch']} {r['formulation']:11s} {r['compressed_ms'] / hf[0]['compressed_ms']:5.2f}"
                f"  (compressed/dense: wt {r['ratio']:.2f}, hf {hf[0]['ratio']:.2f})"
            )
    print("\nevery compressed run within its RSS bound:", all(r["rss_mb"] <= r["bound_mb"] for r in rows))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

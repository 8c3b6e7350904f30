"""Tables (markdown, CSV) and plots from ``codecbench bench`` results.

``tables.md`` has one table per model x PQ setting laid out like the paper's Tables 1-4: one
row per layer plus conv / fc / all totals; columns origin MB, the H0 bound, the paper's HF,
WT-E and WT-B, then every other measured (formulation, codec) pair; each cell ``MB (CR)``.
Then the inference table of the run. Plots need matplotlib (``pip install "codecbench[plot]"``).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from codecbench.bench.compare import PAPER_COLUMNS

MB = 1e6


def _labels(setting: dict[str, Any]) -> list[str]:
    first = next(iter(setting["layers"].values()))
    measured = list(first["pairs"])
    paper = [PAPER_COLUMNS[c] for c in PAPER_COLUMNS if PAPER_COLUMNS[c] in measured]
    return paper + [label for label in measured if label not in paper]


def _header_name(label: str) -> str:
    for short, full in PAPER_COLUMNS.items():
        if full == label:
            return f"{short} ({label})"
    return label


def _cell(pair: dict[str, Any] | None, original: int) -> str:
    if not pair or pair.get("stored_bytes") is None:
        return "skipped" if pair and pair.get("skipped") else "-"
    return f"{pair['stored_bytes'] / MB:.2f} ({original / pair['stored_bytes']:.2f}x)"


def layer_table(model: str, pq: str, setting: dict[str, Any]) -> str:
    labels = _labels(setting)
    head = ["layer", "origin MB", "H0 bound MB (best)"] + [_header_name(x) for x in labels]
    lines = [
        f"### {model}, {'pruned + quantized' if pq == 'yes' else 'no pruning/quantization'}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for name, row in setting["layers"].items():
        bounds = [
            p["n_symbols"] * p["h0_bits"] / 8 + p["side_bytes"] for p in row["pairs"].values() if p["stored_bytes"]
        ]
        bound = f"{min(bounds) / MB:.2f}" if bounds else "-"
        cells = [_cell(row["pairs"].get(x), row["original_bytes"]) for x in labels]
        lines.append(f"| {name} | {row['original_bytes'] / MB:.2f} | {bound} | " + " | ".join(cells) + " |")
    for group in ("conv", "fc", "all"):
        total = setting["totals"][group]
        pairs = total["pairs"]
        bounds = [p["bound_bytes"] for p in pairs.values()]
        bound = f"{min(bounds) / MB:.2f}" if bounds else "-"
        cells = [_cell(pairs.get(x), total["original_bytes"]) for x in labels]
        lines.append(
            f"| **{group} total** | {total['original_bytes'] / MB:.2f} | {bound} | " + " | ".join(cells) + " |"
        )
    lines += ["", "Cells: stored MB (compression rate); `skipped`: see results.json for the reason.", ""]
    return "\n".join(lines)


def inference_table(model: str, pq: str, setting: dict[str, Any]) -> str:
    inference = setting["inference"]
    batches = [b for b in inference["dense"]]
    head = ["store", *(f"batch {b} ms" for b in batches), *(f"vs dense b{b}" for b in batches)]
    head += [f"vs huffman b{b}" for b in batches] + [f"vs huffman-fast b{b}" for b in batches] + ["peak RSS MB"]
    lines = [f"#### {model}, PQ {pq}: inference (median forward, subprocess per store)", ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, entry in inference.items():
        cells = [f"{entry[b]['seconds'] * 1e3:.1f}" for b in batches]
        cells += [f"{entry[b]['vs_dense']:.2f}x" for b in batches]
        for ref in ("huffman", "huffman-fast"):
            cells += [
                f"{entry[b][f'speedup_vs_{ref}']:.2f}x" if f"speedup_vs_{ref}" in entry[b] else "-" for b in batches
            ]
        cells.append(f"{max(entry[b]['peak_rss_mb'] for b in batches):.0f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "`vs dense`: time / dense time (lower is better); `vs huffman*`: speedup (higher is better).", ""]
    return "\n".join(lines)


def write_tables(results: dict[str, Any], out: Path) -> Path:
    machine = results["machine"]
    parts = [
        "# codecbench bench",
        "",
        f"Weights `{results['config']['weights']}`; {machine['processor']}, {machine['cpu_count']} CPUs, "
        f"torch {machine['torch']} ({machine['torch_threads']} threads); {machine['date']}; "
        f"{'--quick' if results['config']['quick'] else 'full run'} in {results.get('seconds', 0):.0f} s.",
        "",
    ]
    for model, data in results["models"].items():
        for pq, setting in data["settings"].items():
            parts += [layer_table(model, pq, setting), inference_table(model, pq, setting)]
    path = out / "tables.md"
    path.write_text("\n".join(parts))
    return path


def write_csv(results: dict[str, Any], out: Path) -> Path:
    path = out / "layers.csv"
    fields = [
        "model", "pq", "layer", "kind", "original_bytes", "pair", "stored_bytes", "cr", "n_symbols", "alphabet",
        "h0_bits", "bound_bytes", "bits_per_weight", "decode_s", "compute_s", "skipped",
    ]  # fmt: skip
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for model, data in results["models"].items():
            for pq, setting in data["settings"].items():
                for name, row in setting["layers"].items():
                    n_weights = int(np.prod(row["shape"]))
                    for label, p in row["pairs"].items():
                        stored = p["stored_bytes"]
                        writer.writerow(
                            {
                                "model": model,
                                "pq": pq,
                                "layer": name,
                                "kind": row["kind"],
                                "original_bytes": row["original_bytes"],
                                "pair": label,
                                "stored_bytes": stored,
                                "cr": row["original_bytes"] / stored if stored else None,
                                "n_symbols": p["n_symbols"],
                                "alphabet": p["alphabet"],
                                "h0_bits": p["h0_bits"],
                                "bound_bytes": p["n_symbols"] * p["h0_bits"] / 8 + p["side_bytes"],
                                "bits_per_weight": 8 * stored / n_weights if stored and n_weights else None,
                                "decode_s": p["decode_s"],
                                "compute_s": row["compute_s"],
                                "skipped": p["skipped"],
                            }
                        )
    return path


def _reference(pairs: dict[str, Any]) -> dict[str, Any] | None:
    """The layer's speed reference: the paper's huffman where measured, else huffman-fast
    (both element-wise where present, as the paper's HF)."""
    for suffix in ("/huffman", "/huffman-fast"):
        found = [p for label, p in pairs.items() if label.endswith(suffix) and p["decode_s"]]
        element = [p for label, p in pairs.items() if label == "element" + suffix and p["decode_s"]]
        if element or found:
            return (element or found)[0]
    return None


def _points(results: dict[str, Any], kinds: tuple[str, ...]) -> dict[str, list[tuple[float, float, float]]]:
    """Per pair: (CR, speedup vs the paper's huffman, layer weights) of every measured layer;
    speedup = (huffman extract+decode + compute) / (pair's extract+decode + compute)."""
    points: dict[str, list[tuple[float, float, float]]] = {}
    for data in results["models"].values():
        for setting in data["settings"].values():
            for row in setting["layers"].values():
                if row["kind"] not in kinds or not row["compute_s"]:
                    continue
                ref = _reference(row["pairs"])
                if ref is None:
                    continue
                for label, p in row["pairs"].items():
                    if not p["decode_s"]:
                        continue
                    speedup = (ref["decode_s"] + row["compute_s"]) / (p["decode_s"] + row["compute_s"])
                    cr = row["original_bytes"] / p["stored_bytes"]
                    points.setdefault(label, []).append((cr, speedup, float(np.prod(row["shape"]))))
    return points


def write_plots(results: dict[str, Any], out: Path) -> list[str] | str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return 'skipped: matplotlib is not installed (pip install "codecbench[plot]")'
    written = []
    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    for ax, (title, kinds) in zip(
        axes, (("all layers", ("conv", "fc")), ("conv", ("conv",)), ("fc", ("fc",))), strict=True
    ):
        for label, pts in sorted(_points(results, kinds).items()):
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=14, label=label)
        ax.set(xscale="log", yscale="log", xlabel="compression rate (original / stored)", title=title)
        ax.set_ylabel("speedup vs element/huffman (extract+decode+compute)")
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize=6, loc="best")
    fig.suptitle("Fig. 3 analog: speedup against compression rate, per layer")
    fig.tight_layout()
    path = out / "fig3_speedup_vs_cr.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path.name)
    fig, ax = plt.subplots(figsize=(8, 5))
    for label, pts in sorted(_points(results, ("conv", "fc")).items()):
        ax.scatter([p[2] for p in pts], [p[1] for p in pts], s=14, label=label)
    ax.set(xscale="log", yscale="log", xlabel="layer size (weights)", ylabel="speedup vs huffman")
    ax.set_title("Fig. 4 analog: speedup against layer size")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6)
    fig.tight_layout()
    path = out / "fig4_speedup_vs_size.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path.name)
    return written


def write_reports(results: dict[str, Any], out: Path) -> dict[str, Any]:
    return {
        "tables": write_tables(results, out).name,
        "csv": write_csv(results, out).name,
        "plots": write_plots(results, out),
    }

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

MB = 1e6
#: per setting (``no``: weights as they are; ``yes``: pruned + quantized) the formulation whose
#: stores run in inference: the only lossless one worth running on unquantized floats, and
#: Deep Compression's tuples
MAIN_FORMULATION = {"no": "float-split", "yes": "pq-element"}
#: paper columns: HF = element + Huffman, WT-E / WT-B = element / block + balanced wavelet tree
PAPER_COLUMNS = {
    "HF": "element/huffman",
    "WT-E": "element/wavelet-tree[shape=balanced]",
    "WT-B": "block/wavelet-tree[shape=balanced]",
}


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
    lines = [f"#### {model}, PQ {pq}: inference (median forward, a process per run)", ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, entry in inference.items():
        if "skipped" in entry:
            lines.append(f"| {label} | skipped: {entry['skipped']} |" + " |" * (len(head) - 2))
            continue
        cells = [f"{entry[b]['seconds'] * 1e3:.1f}" for b in batches]
        cells += [f"{entry[b]['vs_dense']:.2f}x" for b in batches]
        for ref in ("huffman", "huffman-fast"):
            cells += [
                f"{entry[b][f'speedup_vs_{ref}']:.2f}x" if f"speedup_vs_{ref}" in entry[b] else "-" for b in batches
            ]
        cells.append(f"{max(entry[b]['peak_rss_mb'] for b in batches):.0f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "`vs dense`: time / dense time (lower is better); `vs huffman*`: speedup (higher is better). "
        "Median of `--repeat` forwards after one warm-up pass; `huffman` decodes each layer whole in "
        "one pass (one timed forward, no warm-up). Peak RSS: of the "
        "run's process, forked from a server with torch and codecbench imported; library pages the run "
        "never touches are not counted, so it reads about 75 MB below a fresh `codecbench run`.",
        "",
    ]
    return "\n".join(lines)


def write_tables(results: dict[str, Any], out: Path) -> Path:
    machine = results["machine"]
    parts = [
        "# codecbench bench",
        "",
        f"Weights `{results['config']['weights']}`; {machine['cpu']}, {machine['cpu_count']} CPUs, "
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
        "h0_bits", "bound_bytes", "bits_per_weight", "encode_s", "decode_s", "compute_s", "skipped",
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
                                "encode_s": p.get("encode_s"),
                                "decode_s": p["decode_s"],
                                "compute_s": row["compute_s"],
                                "skipped": p["skipped"],
                            }
                        )
    return path


def _reference(pairs: dict[str, Any], codec: str, main: str) -> dict[str, Any] | None:
    """A layer's speed reference for ``codec``: element-wise where measured (the paper's HF
    is element + Huffman), else the setting's main formulation (``float-split`` on
    unquantized floats, where element-wise alphabets are skipped)."""
    for formulation in ("element", main):
        p = pairs.get(f"{formulation}/{codec}")
        if p and p["decode_s"]:
            return p
    return None


def _points(results: dict[str, Any], kinds: tuple[str, ...], codec: str) -> dict[str, list[tuple[float, float, float]]]:
    """Per pair: (CR, speedup vs ``codec``, layer weights) of every layer where the reference
    was measured; speedup = (reference extract+decode + compute) / (pair's extract+decode +
    compute), the layer's compute being the dense op's time at batch 1."""
    points: dict[str, list[tuple[float, float, float]]] = {}
    for data in results["models"].values():
        for pq, setting in data["settings"].items():
            for row in setting["layers"].values():
                if row["kind"] not in kinds or not row["compute_s"]:
                    continue
                ref = _reference(row["pairs"], codec, MAIN_FORMULATION[pq])
                if ref is None:
                    continue
                for label, p in row["pairs"].items():
                    if not p["decode_s"]:
                        continue
                    speedup = (ref["decode_s"] + row["compute_s"]) / (p["decode_s"] + row["compute_s"])
                    cr = row["original_bytes"] / p["stored_bytes"]
                    points.setdefault(label, []).append((cr, speedup, float(np.prod(row["shape"]))))
    return points


def _inference_points(setting: dict[str, Any], batch: str) -> tuple[float, list[tuple[str, float, float]]]:
    """Dense ms at ``batch``, and per inference store of the setting: (codec label, whole-model
    stored MB of its pair, ms at ``batch``)."""
    inference, totals = setting["inference"], setting["totals"]["all"]["pairs"]
    points = []
    for label, entry in inference.items():
        if label == "dense" or "skipped" in entry or batch not in entry or label not in totals:
            continue
        points.append((label.split("/", 1)[1], totals[label]["stored_bytes"] / MB, entry[batch]["seconds"] * 1e3))
    return inference["dense"][batch]["seconds"] * 1e3, points


def write_plots(results: dict[str, Any], out: Path) -> list[str] | str:
    """Three figures: fig1 at a glance (per model and setting, whole-model stored MB against
    the median forward of each inference store, one labelled point per codec, dense as
    reference lines); fig3 / fig4, the paper's per-layer speedup against compression rate /
    layer size, one panel per formulation (codecs by colour, conv / fc by marker) and per
    reference codec (huffman, huffman-fast)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return 'skipped: matplotlib is not installed (pip install "codecbench[plot]")'
    from matplotlib.lines import Line2D
    from matplotlib.ticker import LogFormatter, LogLocator

    written: list[str] = []
    settings = [(m, pq, st) for m, data in results["models"].items() for pq, st in data["settings"].items()]
    batch = str(results["config"]["batches"][0])
    fig, axes = plt.subplots(1, len(settings), figsize=(6.5 * len(settings), 5.5), squeeze=False)
    for ax, (model, pq, setting) in zip(axes[0], settings, strict=True):
        dense_ms, points = _inference_points(setting, batch)
        original = setting["totals"]["all"]["original_bytes"] / MB
        ax.axvline(dense_ms, color="0.4", ls="--", lw=1)
        ax.axhline(original, color="0.4", ls=":", lw=1)
        ax.annotate(f"dense {dense_ms:.0f} ms", (dense_ms, original), textcoords="offset points", xytext=(4, -12),
                    fontsize=8, color="0.3")  # fmt: skip
        for i, (codec, mb, ms) in enumerate(sorted(points)):
            ax.scatter(
                [ms],
                [mb],
                s=40,
                color=f"C{i % 10}",
                marker="os^Dvp<>"[i % 8],
                label=f"{codec}: {mb:.1f} MB, {ms / dense_ms:.1f}x dense",
            )
        ax.legend(fontsize=8, loc="center right")
        ax.set(xscale="log", xlabel=f"median forward at batch {batch}, ms (log)", ylabel="stored MB (whole model)")
        ax.set_title(f"{model}, {'pruned + quantized' if pq == 'yes' else 'no pruning'}: {MAIN_FORMULATION[pq]}")
        ax.set_ylim(0, original * 1.08)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("At a glance: size against speed of each inference store; dotted: original size, dashed: dense time")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(out / "fig1_size_vs_time.png", dpi=100)
    plt.close(fig)
    written.append("fig1_size_vs_time.png")

    refs = ("huffman", "huffman-fast")
    every = {label for codec in refs for label in _points(results, ("conv", "fc"), codec)}
    codecs = sorted({label.split("/", 1)[1] for label in every})
    formulations = sorted({label.split("/", 1)[0] for label in every})
    if not formulations:
        return written
    palette = plt.get_cmap("tab10" if len(codecs) <= 10 else "tab20")
    colors = {c: palette(i % palette.N) for i, c in enumerate(codecs)}
    kind_marker = {"conv": "o", "fc": "^"}

    def draw(name: str, x: int, xlabel: str, title: str) -> None:
        fig, axes = plt.subplots(len(refs), len(formulations), figsize=(4.6 * len(formulations), 4.2 * len(refs)),
                                 squeeze=False)  # fmt: skip
        for row, ref in enumerate(refs):
            for col, formulation in enumerate(formulations):
                ax = axes[row][col]
                for kind, marker in kind_marker.items():
                    for label, pts in sorted(_points(results, (kind,), ref).items()):
                        f, codec = label.split("/", 1)
                        if f == formulation:
                            ax.scatter([p[x] for p in pts], [p[1] for p in pts], s=18, alpha=0.8,
                                       color=colors[codec], marker=marker, linewidths=0)  # fmt: skip
                ax.set(xscale="log", yscale="log", xlabel=xlabel, title=f"{formulation}, vs {ref}")
                for axis in (ax.xaxis, ax.yaxis):
                    # minor ticks at 2 and 5 only: matplotlib's default 2..9 made the six log-log
                    # panels most of the plotting time (10.5 s -> 6.6 s for the --quick figures), and
                    # in a range narrower than a decade these (or matplotlib's fallback) label the axis
                    axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
                    axis.set_minor_formatter(LogFormatter(labelOnlyBase=False))  # "1.15", not "1.15x10^0"
                ax.axhline(1.0, color="0.5", lw=0.8)
                ax.grid(True, which="major", alpha=0.3)
            axes[row][0].set_ylabel(f"speedup vs {ref} (extract+decode+compute)")
        handles = [Line2D([], [], ls="", marker="s", color=colors[c], label=c) for c in codecs]
        handles += [Line2D([], [], ls="", marker=m, color="0.3", label=k) for k, m in kind_marker.items()]
        fig.suptitle(title, fontsize=10)
        fig.tight_layout(rect=(0, 0, 0.86, 0.96))
        fig.legend(handles=handles, loc="center right", fontsize=8, title="codec, layer kind")
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        written.append(name)

    draw(
        "fig3_speedup_vs_cr.png",
        0,
        "compression rate (original / stored)",
        "Fig. 3 analog: per-layer speedup against compression rate; reference: element/<codec> where measured, "
        "else the main formulation (layers without the reference are left out)",
    )
    draw("fig4_speedup_vs_size.png", 2, "layer size (weights)", "Fig. 4 analog: per-layer speedup against layer size")
    return written


def summary(results: dict[str, Any]) -> str:
    """Two short tables over every model and setting: whole-model sizes (the paper's columns,
    the main formulation with the Huffman-shaped wavelet tree and with huffman-fast, and the
    smallest pair), and inference of those stores beside dense and the paper's huffman."""
    size_head = ["model", "PQ", "origin MB", "H0 bound MB", "HF", "WT-E", "WT-B", "main / WT", "main / huffman-fast"]
    sizes = ["| " + " | ".join([*size_head, "smallest pair"]) + " |", "|" + "---|" * (len(size_head) + 1)]
    batches = [str(b) for b in results["config"]["batches"]]
    speed_head = ["model", "PQ"] + [f"{what} b{b}" for b in batches for what in ("dense ms", "WT ms", "WT / dense")]
    speed_head += [f"WT vs {ref} b{b}" for b in batches for ref in ("huffman", "huffman-fast")]
    speed = ["| " + " | ".join(speed_head) + " |", "|" + "---|" * len(speed_head)]
    for model, data in results["models"].items():
        for pq, setting in data["settings"].items():
            main = MAIN_FORMULATION[pq]
            total = setting["totals"]["all"]
            pairs, original = total["pairs"], total["original_bytes"]
            bound = min((p["bound_bytes"] for p in pairs.values()), default=None)
            labels = [*PAPER_COLUMNS.values(), f"{main}/wavelet-tree[shape=huffman]", f"{main}/huffman-fast"]
            cells = [_cell(pairs.get(label), original) for label in labels]
            best = min(pairs, key=lambda label: pairs[label]["stored_bytes"], default=None)
            best_cell = f"{best}: {_cell(pairs[best], original)}" if best else "-"
            bound_cell = f"{bound / MB:.2f}" if bound else "-"
            sizes.append(
                f"| {model} | {pq} | {original / MB:.2f} | {bound_cell} | " + " | ".join(cells) + f" | {best_cell} |"
            )
            inference = setting["inference"]
            wt = inference.get(f"{main}/wavelet-tree[shape=huffman]", {})
            row = [model, pq]
            for b in batches:
                dense_s = inference["dense"][b]["seconds"]
                wt_b = wt.get(b)
                row += [f"{dense_s * 1e3:.1f}", f"{wt_b['seconds'] * 1e3:.1f}" if wt_b else "-"]
                row.append(f"{wt_b['vs_dense']:.2f}x" if wt_b else "-")
            for b in batches:
                for ref in ("huffman", "huffman-fast"):
                    value = (wt.get(b) or {}).get(f"speedup_vs_{ref}")
                    row.append(f"{value:.2f}x" if value else "-")
            speed.append("| " + " | ".join(row) + " |")
    return "\n".join(
        [
            "Whole-model stored MB (compression rate). HF = element/huffman, WT-E / WT-B = element / "
            "block with the balanced wavelet tree; main = float-split without PQ, pq-element with PQ; "
            "WT = the Huffman-shaped wavelet tree; `-`: some layer not coded (see tables.md).",
            "",
            *sizes,
            "",
            "Inference of the main formulation's WT store: median forward; `WT vs huffman*`: speedup "
            "(`-`: that store was not run, see tables.md).",
            "",
            *speed,
            "",
        ]
    )


def write_reports(results: dict[str, Any], out: Path) -> dict[str, Any]:
    (out / "summary.md").write_text(summary(results))
    return {
        "summary": "summary.md",
        "tables": write_tables(results, out).name,
        "csv": write_csv(results, out).name,
        "plots": write_plots(results, out),
    }

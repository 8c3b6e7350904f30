"""Codec benchmark: every registered codec on seeded symbol streams, sizes against H0 and speed
against a library call, in one run.

Usage::

    python -m codecbench.bench.codecs [--n 10000000] [--quick] [--codecs wavelet-tree,huffman-fast]
                                      [--datasets gaussian256,kmeans32] [--json OUT]

Data: the three streams of :mod:`codecbench.bench.datasets` (``gaussian256``, H0 ~ 5.4 bits,
the issues' skewed 8-bit stream; ``kmeans32``; ``uniform256``). Rows: every registered codec
in each of its declared ``variants`` (``wavelet-tree[shape=huffman]``, ``sdsl[variant=...]``;
``--codecs NAME[k=v]`` picks one), plus the reference row ``zstd-call``: numcodecs'
``Zstd(level=1)`` compressing the symbols as bytes (uint8/uint16) in one call, decompressed in
one call (its literals are Huff0-coded: the speed a library reaches on this machine). Codecs
that declare ``decodes_from_start`` (the paper's ``huffman``) are measured only when named.

Per data set and row:

- size: total bits/symbol (everything the codec writes) against H0 and the optimal Huffman
  code, and the payload/index split where the Sequence reports ``payload_nbytes`` and
  ``index_nbytes``;
- encode (one call, after a small warm-up encode so no compile is timed) and whole-stream
  decode, M symbols/s, medians: ``decode`` is ``extract_into(0, n, out)`` into a buffer
  allocated once, of the narrowest dtype that holds the alphabet (on the terms of the
  reference row, which decompresses into such a buffer); ``new u32`` is ``extract(0, n)``,
  which allocates and fills a new uint32 array each call (4 bytes a symbol, fresh pages);
- ``extract`` of ranges of 27, 576, 4608, 25088 and 1,000,000 symbols at random starts: ranges
  are timed in a loop, the batch grows until one batch takes ~0.2 s, median of several batches;
- single-call ``access``/``rank``/``select`` latency in ns from Python (``perf_counter_ns``
  around a loop, nothing subtracted; ``c`` drawn by frequency, ``k`` uniform in its range),
  capped by a time budget for codecs whose queries scan (``raw``), and the ``access_many`` /
  ``rank_many`` throughput (M queries/s; "loop" marks the contract's default, a loop of single calls).

A ``slow`` or ``decodes_from_start`` codec gets one timed call per figure, the 1M range only,
and no latencies (each query decodes from the start of its stream). Every Sequence is checked
against its source (a range, a few queries of each kind) before it is timed; a wrong answer
exits with status 1. The targets section prints each goal as a ratio against its reference row
measured in this run. As in ``timeit``, the garbage collector is off while a row is measured.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from codecbench.bench.datasets import DATASETS, Dataset, h0, huffman_bits, make_dataset
from codecbench.bench.harness import machine_info, median_time
from codecbench.codecs.base import has_native, open_sequence
from codecbench.formulations.blocks import narrow_uint
from codecbench.registry import get_registry

EXTRACT_LENGTHS = (27, 576, 4608, 25088, 1_000_000)
RANK_MANY_GROUPS = 8  # rank_many takes one symbol; the batch is split over this many symbols
REFERENCE = "zstd-call"
DEFAULT_N = 10_000_000
QUICK_N = 1_000_000


@dataclass(frozen=True)
class Settings:
    """How long each measurement runs."""

    reps: int  # timed repetitions of encode and whole decode (median)
    extract_batch_s: float  # one timed batch of ranges lasts at least this long
    extract_batches: int  # timed batches per range length (median reported)
    latency_calls: int  # single calls per operation, at most
    latency_batches: int  # the calls are split into this many timed loops (median reported)
    latency_budget_s: float  # per operation; fewer calls when the codec is slow (raw rank scans)
    batch_queries: int  # positions per access_many / rank_many measurement


FULL = Settings(5, 0.2, 5, 20_000, 20, 2.0, 1_000_000)
QUICK = Settings(2, 0.02, 3, 2_000, 10, 0.25, 250_000)


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class Row:
    """One table row: a registered codec with encode parameters (or the library reference)."""

    label: str
    codec: str
    params: dict[str, Any]
    slow: bool = False  # one timed call per figure, no latencies


def resolve_rows(spec: str | None) -> tuple[list[Row], list[str]]:
    """Rows to measure and the requested names that are not registered. By default: every
    registered codec that does not decode from the start, in each declared variant."""
    registry = get_registry()
    registered = registry.names("codec")
    if spec is None:
        names = [n for n in registered if not registry.entry("codec", n).cls.decodes_from_start]
    else:
        names = [s.strip() for s in spec.split(",") if s.strip()]
    rows: list[Row] = []
    missing: list[str] = []
    for name in names:
        base, bracket, rest = name.partition("[")
        if base not in registered:
            missing.append(name)
            continue
        cls = registry.entry("codec", base).cls
        variants = list(cls.variants)
        if bracket:  # NAME[k=v]: one variant, given by its parameters
            wanted = dict(item.split("=", 1) for item in rest.removesuffix("]").split(",") if "=" in item)
            variants = [v for v in variants if {k: str(x) for k, x in v.items()} == wanted] or [wanted]
        for params in variants:
            label = base + (f"[{','.join(f'{k}={v}' for k, v in params.items())}]" if len(cls.variants) > 1 else "")
            rows.append(Row(label, base, dict(params), cls.slow or cls.decodes_from_start))
    return list({r.label: r for r in rows}.values()), missing


# --------------------------------------------------------------------------- measurements


class WrongAnswer(Exception):
    pass


def verify(seq: Any, data: np.ndarray, rng: np.random.Generator, label: str, slow: bool) -> None:
    """Cheap correctness checks; raises WrongAnswer on the first wrong answer."""
    n = data.size
    if len(seq) != n:
        raise WrongAnswer(f"{label}: len = {len(seq)}, expected {n}")
    length = min(4608, n)
    start = int(rng.integers(0, n - length + 1))
    if not np.array_equal(np.asarray(seq.extract(start, start + length)), data[start : start + length]):
        raise WrongAnswer(f"{label}: extract({start}, {start + length}) differs from the source")
    if slow:
        return
    for i in rng.integers(0, n, size=16).tolist():
        if seq.access(i) != data[i]:
            raise WrongAnswer(f"{label}: access({i}) = {seq.access(i)}, expected {int(data[i])}")
    c = int(data[int(rng.integers(0, n))])
    occ = np.flatnonzero(data == c)
    for i in [0, n, *rng.integers(0, n + 1, size=4).tolist()]:
        if seq.rank(c, i) != int(np.searchsorted(occ, i)):
            raise WrongAnswer(f"{label}: rank({c}, {i}) = {seq.rank(c, i)}, expected {int(np.searchsorted(occ, i))}")
    for k in sorted({1, occ.size, int(rng.integers(1, occ.size + 1))}):
        if seq.select(c, k) != occ[k - 1]:
            raise WrongAnswer(f"{label}: select({c}, {k}) = {seq.select(c, k)}, expected {int(occ[k - 1])}")
    pos = rng.integers(0, n, size=min(1000, n)).astype(np.int64)
    if not np.array_equal(np.asarray(seq.access_many(pos)), data[pos]):
        raise WrongAnswer(f"{label}: access_many differs from the source")
    pos = rng.integers(0, n + 1, size=min(1000, n)).astype(np.int64)
    if not np.array_equal(np.asarray(seq.rank_many(c, pos)), np.searchsorted(occ, pos)):
        raise WrongAnswer(f"{label}: rank_many({c}, ...) differs from numpy")


def measure_extract(seq: Any, n: int, length: int, rng: np.random.Generator, s: Settings, slow: bool) -> float | None:
    """M symbols/s extracting ranges of ``length`` at random starts; None if ``length > n``."""
    if length > n:
        return None

    def batch(k: int) -> float:
        starts = rng.integers(0, n - length + 1, size=k).tolist()
        t0 = time.perf_counter_ns()
        for start in starts:
            seq.extract(start, start + length)
        return (time.perf_counter_ns() - t0) / 1e9

    if slow:
        return length / batch(1) / 1e6
    k = 1
    while (t := batch(k)) < s.extract_batch_s:  # calibrate: grow until one batch is long enough
        k = max(k + 1, int(k * min(10.0, 1.2 * s.extract_batch_s / max(t, 1e-9))))
    return k * length / statistics.median(batch(k) for _ in range(s.extract_batches)) / 1e6


def measure_latency(seq: Any, op: str, items: list[Any], s: Settings) -> dict[str, Any]:
    """ns per call of ``seq.<op>(*item)``: perf_counter_ns around loops, median over batches."""
    call = getattr(seq, op)

    def loop(chunk: list[Any]) -> None:
        for args in chunk:
            call(*args)

    t0 = time.perf_counter_ns()
    loop(items[:5])
    per_call_s = max((time.perf_counter_ns() - t0) / 1e9 / 5, 1e-9)
    calls = min(len(items), s.latency_calls, max(s.latency_batches, int(s.latency_budget_s / per_call_s)))
    batches = min(s.latency_batches, calls)
    size = calls // batches
    per_batch = []
    for b in range(batches):
        chunk = items[b * size : (b + 1) * size]
        t0 = time.perf_counter_ns()
        loop(chunk)
        per_batch.append((time.perf_counter_ns() - t0) / len(chunk))
    return {"ns": statistics.median(per_batch), "calls": batches * size, "budget_limited": calls < s.latency_calls}


def measure_row(row: Row, ds: Dataset, seed: int, s: Settings, bar: Any) -> dict[str, Any]:
    data, n = ds.symbols, ds.symbols.size
    rng = np.random.default_rng([seed, 100, DATASETS.index(ds.name), sum(row.label.encode())])
    codec = get_registry().codec(row.codec)
    reps = 1 if row.slow else s.reps

    bar.set_postfix_str(f"{row.label}: encode")
    open_sequence(codec, codec.encode(data[: min(n, 1000)], ds.alphabet_size, **row.params)).extract(0, 1)
    encode_s, encoded = median_time(lambda: codec.encode(data, ds.alphabet_size, **row.params), reps)
    seq = open_sequence(codec, encoded)
    verify(seq, data, rng, row.label, row.slow)
    narrow = np.empty(n, dtype=narrow_uint(ds.alphabet_size))
    decode_s, decoded = median_time(lambda: seq.extract_into(0, n, narrow), reps)
    if not np.array_equal(decoded, data):
        raise WrongAnswer(f"{row.label}: extract_into(0, n) differs from the source")
    extract_s = None
    if not row.slow:  # a slow codec's whole stream is decoded once, above
        extract_s, extracted = median_time(lambda: seq.extract(0, n), reps)
        if not np.array_equal(extracted, data):
            raise WrongAnswer(f"{row.label}: extract(0, n) differs from the source")
    bar.update()
    out: dict[str, Any] = {
        "codec": row.codec,
        "params": row.params,
        "bytes": len(encoded),
        "bits_per_symbol": len(encoded) * 8 / n,
        "payload_bytes": getattr(seq, "payload_nbytes", None),
        "index_bytes": getattr(seq, "index_nbytes", None),
        "encode_msym_s": n / encode_s / 1e6,
        "decode_msym_s": n / decode_s / 1e6,
        "new_u32_msym_s": None if extract_s is None else n / extract_s / 1e6,
        "extract_msym_s": {},
        "latency": {},
        "batch_mq_s": {},
    }
    for length in EXTRACT_LENGTHS:
        bar.set_postfix_str(f"{row.label}: extract {length}")
        if row.slow and length != EXTRACT_LENGTHS[-1]:
            continue
        out["extract_msym_s"][str(length)] = measure_extract(seq, n, length, rng, s, row.slow)
    bar.update()
    if row.slow:
        return out
    calls = s.latency_calls
    counts = np.bincount(data, minlength=ds.alphabet_size)
    sel_c = data[rng.integers(0, n, size=calls)]
    rank_c, rank_i = data[rng.integers(0, n, size=calls)], rng.integers(0, n + 1, size=calls)
    sel_k = (rng.random(calls) * counts[sel_c]).astype(np.int64) + 1
    items = {
        "access": [(i,) for i in rng.integers(0, n, size=calls).tolist()],
        "rank": list(zip(rank_c.tolist(), rank_i.tolist(), strict=True)),
        "select": list(zip(sel_c.tolist(), sel_k.tolist(), strict=True)),
    }
    for op, args in items.items():
        bar.set_postfix_str(f"{row.label}: {op} latency")
        out["latency"][op] = measure_latency(seq, op, args, s)
    q = s.batch_queries
    positions = rng.integers(0, n, size=q).astype(np.int64)
    groups = list(
        zip(
            data[rng.integers(0, n, size=RANK_MANY_GROUPS)].tolist(),
            np.array_split(rng.integers(0, n + 1, size=q).astype(np.int64), RANK_MANY_GROUPS),
            strict=True,
        )
    )
    for method, single, call in (
        ("access_many", "access", lambda: seq.access_many(positions)),
        ("rank_many", "rank", lambda: [seq.rank_many(c, p) for c, p in groups]),
    ):
        bar.set_postfix_str(f"{row.label}: {method}")
        if has_native(seq, method):
            seconds, _ = median_time(call, 3)
            out["batch_mq_s"][method] = {"mq_s": q / seconds / 1e6, "native": True}
        else:  # the contract's default is a loop of single calls: time those, within the budget
            ns = measure_latency(seq, single, items[single], s)["ns"]
            out["batch_mq_s"][method] = {"mq_s": 1e3 / ns, "native": False}
    bar.update()
    return out


def measure_reference(ds: Dataset, s: Settings) -> dict[str, Any]:
    """numcodecs ``Zstd(level=1)`` on the symbols as their narrowest bytes: one call each way."""
    from numcodecs import Zstd

    data, n = ds.symbols, ds.symbols.size
    raw = data.astype(narrow_uint(ds.alphabet_size))
    zstd = Zstd(level=1)
    zstd.decode(zstd.encode(raw[:1000]))
    encode_s, encoded = median_time(lambda: zstd.encode(raw), s.reps)
    out_buf = np.empty_like(raw)
    decode_s, _ = median_time(lambda: zstd.decode(encoded, out=out_buf), s.reps)
    if not np.array_equal(out_buf, raw):
        raise WrongAnswer(f"{REFERENCE}: does not round-trip")
    return {
        "codec": REFERENCE,
        "params": {"level": 1, "bytes_per_symbol": raw.itemsize},
        "bytes": len(encoded),
        "bits_per_symbol": len(encoded) * 8 / n,
        "payload_bytes": None,
        "index_bytes": None,
        "encode_msym_s": n / encode_s / 1e6,
        "decode_msym_s": n / decode_s / 1e6,
        "new_u32_msym_s": None,
        "extract_msym_s": {},
        "latency": {},
        "batch_mq_s": {},
    }


# --------------------------------------------------------------------------- targets

#: (goal, data set, row, figure, op, target, reference row or None): a reference turns the
#: figure into a ratio against that row's same figure, measured in the same run
TARGETS: list[tuple[str, str, str, str, str, float, str | None]] = [
    ("huffman-fast decode vs Zstd", "gaussian256", "huffman-fast", "decode_msym_s", ">=", 0.6, REFERENCE),
    ("huffman-fast size / H0", "gaussian256", "huffman-fast", "vs_h0", "<=", 1.03, None),
    ("wavelet tree size / H0", "gaussian256", "wavelet-tree[shape=huffman]", "vs_h0", "<=", 1.10, None),
    ("wavelet tree size / H0", "kmeans32", "wavelet-tree[shape=huffman]", "vs_h0", "<=", 1.10, None),
    (
        "wavelet tree extract 1M vs huffman-fast",
        "gaussian256",
        "wavelet-tree[shape=huffman]",
        "extract_1m",
        ">=",
        0.5,
        "huffman-fast",
    ),  # fmt: skip
]


def _figure(row: dict[str, Any], figure: str) -> float | None:
    if figure == "extract_1m":
        return row["extract_msym_s"].get(str(EXTRACT_LENGTHS[-1]))
    return row.get(figure)


def compute_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for goal, ds, label, figure, op, target, ref in TARGETS:
        rows = results.get(ds, {}).get("codecs", {})
        if label not in rows or (ref is not None and ref not in rows):
            continue
        value = _figure(rows[label], figure)
        if ref is not None and value is not None:
            base = _figure(rows[ref], figure)
            value = value / base if base else None
        ok = None if value is None else (value >= target if op == ">=" else value <= target)
        out.append({"goal": goal, "dataset": ds, "row": label, "reference": ref, "value": value, "op": op,
                    "target": target, "status": "n/a" if ok is None else ("PASS" if ok else "MISS")})  # fmt: skip
    return out


# --------------------------------------------------------------------------- output


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def print_dataset(name: str, res: dict[str, Any]) -> None:
    print(f"\n== {name}: {res['description']}")
    print(
        f"   n = {res['n']:,}, alphabet {res['alphabet_size']}, H0 = {res['h0']:.4f} bits/symbol, "
        f"Huffman = {res['huffman_bits']:.4f} bits/symbol (longest code {res['huffman_max_len']})"
    )
    rows = res["codecs"]
    w = max(24, *(len(label) for label in rows)) + 2
    head = (
        f"{'codec':<{w}}{'bits/sym':>9}{'/H0':>8}{'/Huff':>8}{'index %':>9}{'encode M/s':>11}{'decode M/s':>11}"
        f"{'new u32':>9}{'access ns':>13}{'rank ns':>13}{'select ns':>13}{'access_many':>13}{'rank_many':>11}"
    )
    print("\n" + head)
    print("-" * len(head))
    for label, r in rows.items():
        lat = {op: r["latency"].get(op, {}).get("ns") for op in ("access", "rank", "select")}
        index = 100 * r["index_bytes"] / r["bytes"] if r["index_bytes"] is not None else None
        many = []
        for method in ("access_many", "rank_many"):
            entry = r["batch_mq_s"].get(method) or {}
            value = entry.get("mq_s")
            many.append("n/a" if value is None else f"{value:.2f}" + ("" if entry["native"] else " loop"))
        print(
            f"{label:<{w}}{r['bits_per_symbol']:>9.4f}{_fmt(r['vs_h0'], '.4f'):>8}{_fmt(r['vs_huffman'], '.4f'):>8}"
            f"{_fmt(index, '.2f'):>9}{r['encode_msym_s']:>11.2f}{r['decode_msym_s']:>11.1f}"
            f"{_fmt(r['new_u32_msym_s'], '.1f'):>9}"
            f"{_fmt(lat['access'], ',.0f'):>13}{_fmt(lat['rank'], ',.0f'):>13}{_fmt(lat['select'], ',.0f'):>13}"
            f"{many[0]:>13}{many[1]:>11}"
        )
    head = f"{'extract M symbols/s':<{w}}" + "".join(f"{f'len {length:,}':>14}" for length in EXTRACT_LENGTHS)
    print("\n" + head)
    print("-" * len(head))
    for label, r in rows.items():
        if r["extract_msym_s"]:
            ex = r["extract_msym_s"]
            print(f"{label:<{w}}" + "".join(f"{_fmt(ex.get(str(length)), ',.1f'):>14}" for length in EXTRACT_LENGTHS))


def print_targets(targets: list[dict[str, Any]]) -> None:
    print("\n== targets (ratios against the reference row of this run)")
    head = f"{'goal':<42}{'data set':<13}{'value':>10}  {'target':<9}{'status':<6}"
    print(head)
    print("-" * len(head))
    for t in targets:
        print(
            f"{t['goal']:<42}{t['dataset']:<13}{_fmt(t['value'], '.3f'):>10}  {t['op']} {t['target']:<6g}{t['status']}"
        )


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m codecbench.bench.codecs", description=__doc__.splitlines()[0])
    p.add_argument(
        "--n", type=int, default=None, help=f"symbols per data set (default {DEFAULT_N:,}; --quick {QUICK_N:,})"
    )
    p.add_argument("--quick", action="store_true", help="n = 1M unless --n is given, and fewer repetitions")
    p.add_argument(
        "--codecs",
        default=None,
        help="comma-separated codec names, NAME[k=v] for one variant (default: every registered codec in each "
        "declared variant, except those that decode from the start)",
    )
    p.add_argument("--datasets", default=",".join(DATASETS), help=f"comma-separated, of {', '.join(DATASETS)}")
    p.add_argument("--no-reference", action="store_true", help=f"leave out the {REFERENCE} row")
    p.add_argument("--json", metavar="OUT", default=None, help="write every figure to this JSON file")
    p.add_argument("--seed", type=int, default=0, help="seed of the data sets and query positions (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    args = p.parse_args(argv)
    args.n = args.n or (QUICK_N if args.quick else DEFAULT_N)
    if args.n < 100:
        p.error("--n must be at least 100")
    args.datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    if not args.datasets or set(args.datasets) - set(DATASETS):
        p.error(f"--datasets must name some of {', '.join(DATASETS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = QUICK if args.quick else FULL
    rows, missing = resolve_rows(args.codecs)
    machine = machine_info()
    print("codecbench codec benchmark")
    for key, value in machine.items():
        print(f"  {key:<14}{value}")
    print(f"  {'n':<14}{args.n:,}{'  (quick)' if args.quick else ''}")
    print(f"  {'rows':<14}{', '.join(r.label for r in rows) or '(none)'}")
    if missing:
        print(f"  {'skipped':<14}{', '.join(missing)} (not registered)")
    if not rows:
        print("codecs bench: no requested codec is registered", file=sys.stderr)
        return 2
    sys.stdout.flush()
    results: dict[str, Any] = {}
    for name in args.datasets:
        with tqdm(
            total=1 + 3 * len(rows), desc=name, file=sys.stderr, leave=False, disable=args.no_progress or None
        ) as bar:
            ds = make_dataset(name, args.n, args.seed)
            bits, huff, longest = h0(ds.symbols), *huffman_bits(ds.symbols, ds.alphabet_size)
            res = results[name] = {
                "description": ds.description,
                "params": ds.params,
                "n": args.n,
                "alphabet_size": ds.alphabet_size,
                "h0": bits,
                "huffman_bits": huff,
                "huffman_max_len": longest,
                "codecs": {},
            }
            measured: list[tuple[str, Callable[[], dict[str, Any]]]] = [
                (row.label, lambda row=row, ds=ds: measure_row(row, ds, args.seed, settings, bar)) for row in rows
            ]
            if not args.no_reference:
                measured.append((REFERENCE, lambda ds=ds: measure_reference(ds, settings)))
            bar.update()
            for label, measure in measured:
                gc.collect()
                gc.disable()  # as timeit does: no collector pauses inside timed loops
                try:
                    r = measure()
                except WrongAnswer as exc:
                    bar.close()
                    print(f"\ncodecs bench: WRONG ANSWER on {name}: {exc}", file=sys.stderr)
                    return 1
                finally:
                    gc.enable()
                r["vs_h0"] = r["bits_per_symbol"] / bits if bits else None
                r["vs_huffman"] = r["bits_per_symbol"] / huff if huff else None
                res["codecs"][label] = r
        print_dataset(name, res)
        sys.stdout.flush()
    targets = compute_targets(results)
    print_targets(targets)
    if args.json:
        report = {
            "machine": machine,
            "config": {"n": args.n, "quick": args.quick, "seed": args.seed, "rows": [asdict(r) for r in rows],
                       "skipped": missing, "settings": asdict(settings), "extract_lengths": list(EXTRACT_LENGTHS)},
            "datasets": results,
            "targets": targets,
        }  # fmt: skip
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

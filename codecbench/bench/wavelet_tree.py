"""Wavelet-tree benchmark: size against H0 and Huffman, extract throughput, query latency.

Usage::

    python -m codecbench.bench.wavelet_tree [--n 10000000] [--quick] [--codecs wavelet-tree,raw] [--json OUT]

One run builds three seeded data sets of ``n`` symbols (``gaussian256``: round(N(128, sigma))
clipped to [0, 255] with sigma solved for H0 ~ 5.4 bits; ``kmeans32``: 32 levels with
probabilities proportional to a Gaussian density at the centroids, width solved for H0 ~ 3.9
bits; ``uniform256``: H0 ~ 8 bits), and for every requested codec that is registered
(``wavelet-tree`` as two rows, one per ``shape``; a codec whose class declares
``bench_variants = (param, values)``, like the ``sdsl`` plugin, as one row per value, e.g.
``sdsl[wt_int_bv]``; ``--codecs NAME[value]`` picks one) measures:

- encode time (one call, after a small warm-up encode so no JIT compile is timed), total size in
  bits/symbol (``len(encoded bytes) * 8 / n``, headers and directories included) and its
  ratio to the empirical H0 and to the optimal Huffman code length of the same data;
- contiguous ``extract`` throughput (M symbols/s) for range lengths 27, 576, 4608, 25088 and
  1,000,000 at random starts: ranges are timed in a loop, the batch size grows until one
  batch takes at least ~0.2 s, and the median of several such batches is reported;
- single-call ``access(i)``, ``rank(c, i)``, ``select(c, k)`` latency in ns from Python:
  ``time.perf_counter_ns`` around a loop of calls (nothing subtracted), median over batches;
  ``c`` is the symbol at a random position (frequency-weighted), ``k`` uniform in
  ``[1, occurrences of c]``. Codecs whose queries scan (``raw``) get fewer calls, capped by a
  time budget; the call count is reported;
- ``access_many`` / ``rank_many`` throughput (M queries/s) on 1M random unsorted positions when
  the Sequence has them ("n/a" otherwise; a Python loop over single calls on the same
  positions is measured instead as a fallback figure, printed below the table).

Each Sequence is warmed up (one small call of each operation) and checked cheaply before
timing: one random range of ``extract`` must equal the source slice, plus a few access, rank,
select and batch answers against numpy. Any mismatch exits with status 1.

The "targets" section prints the wavelet-tree[huffman] figures against the goals, with the
same figure for ``raw`` from this run as the reference. Nothing here asserts on speed. As in
``timeit``, the cyclic garbage collector is off while a codec is measured.
``--quick`` uses n = 1M (unless ``--n`` is given) and fewer repetitions.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numba
import numpy as np
from tqdm import tqdm

import codecbench
from codecbench.registry import get_registry

WT = "wavelet-tree"
WT_SHAPES = ("huffman", "balanced")
TARGET_ROW = f"{WT}[huffman]"
REFERENCE_ROW = "raw"
DECODE_FROM_START = frozenset({"huffman"})
EXTRACT_LENGTHS = (27, 576, 4608, 25088, 1_000_000)
RANK_MANY_GROUPS = 8  # rank_many takes one symbol; the batch is split over this many symbols

DEFAULT_N = 10_000_000
QUICK_N = 1_000_000


@dataclass(frozen=True)
class Settings:
    """How long each measurement runs."""

    extract_batch_s: float  # one timed batch of ranges lasts at least this long
    extract_batches: int  # timed batches per range length (median reported)
    latency_calls: int  # single calls per operation, at most
    latency_batches: int  # the calls are split into this many timed loops (median reported)
    latency_budget_s: float  # per operation; fewer calls when the codec is slow (raw rank scans)
    batch_queries: int  # positions per access_many / rank_many measurement
    batch_reps: int  # timed repetitions of the batch call (median reported)
    fallback_budget_s: float  # Python-loop fallback when a batch method is missing


FULL = Settings(0.2, 5, 20_000, 20, 2.0, 1_000_000, 3, 0.5)
QUICK = Settings(0.02, 3, 2_000, 10, 0.25, 250_000, 2, 0.1)


# --------------------------------------------------------------------------- data sets


@dataclass
class Dataset:
    name: str
    alphabet_size: int
    symbols: np.ndarray  # uint32
    description: str
    params: dict[str, float] = field(default_factory=dict)


def entropy_bits(p: np.ndarray) -> float:
    """Shannon entropy (bits) of a probability vector."""
    p = np.asarray(p, dtype=np.float64)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def h0_bits(symbols: np.ndarray, alphabet_size: int) -> tuple[float, np.ndarray]:
    """Order-0 empirical entropy (bits/symbol) and the symbol counts."""
    counts = np.bincount(symbols, minlength=alphabet_size)
    return entropy_bits(counts / max(1, symbols.size)), counts


def huffman_code_lengths(counts: np.ndarray) -> np.ndarray:
    """Code length (bits) of each symbol in an optimal Huffman code for ``counts`` (0 if absent)."""
    lengths = np.zeros(len(counts), dtype=np.int64)
    present = [int(s) for s in np.flatnonzero(counts)]
    if len(present) == 1:
        lengths[present[0]] = 1  # a lone symbol still needs one bit per occurrence
        return lengths
    heap = [(int(counts[s]), tie, [s]) for tie, s in enumerate(present)]
    heapq.heapify(heap)
    tie = len(heap)
    while len(heap) > 1:
        w1, _, a = heapq.heappop(heap)
        w2, _, b = heapq.heappop(heap)
        merged = a + b
        lengths[merged] += 1  # every symbol under the new node sinks one level
        heapq.heappush(heap, (w1 + w2, tie, merged))
        tie += 1
    return lengths


def _solve_increasing(f: Callable[[float], float], target: float, lo: float, hi: float) -> float:
    """x in [lo, hi] with f(x) == target, for f increasing (bisection)."""
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if f(mid) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def gaussian_pmf(sigma: float, mean: float = 128.0, size: int = 256) -> np.ndarray:
    """P(clip(round(N(mean, sigma)), 0, size-1) == k): bin k is [k-0.5, k+0.5), ends take the tails."""
    edges = np.arange(size + 1, dtype=np.float64) - 0.5
    cdf = np.array([0.5 * (1.0 + math.erf((e - mean) / (sigma * math.sqrt(2.0)))) for e in edges])
    cdf[0], cdf[-1] = 0.0, 1.0
    return np.diff(cdf)


def kmeans_pmf(width: float, levels: int = 32) -> np.ndarray:
    """Cluster masses proportional to a Gaussian density at ``levels`` evenly spaced centroids."""
    k = np.arange(levels, dtype=np.float64)
    d = np.exp(-0.5 * ((k - (levels - 1) / 2) / width) ** 2)
    return d / d.sum()


def make_dataset(name: str, n: int, seed: int) -> Dataset:
    if name == "gaussian256":
        sigma = _solve_increasing(lambda s: entropy_bits(gaussian_pmf(s)), 5.4, 0.5, 64.0)
        rng = np.random.default_rng([seed, 0])
        symbols = np.clip(np.rint(rng.normal(128.0, sigma, n)), 0, 255).astype(np.uint32)
        return Dataset(name, 256, symbols, f"round(N(128, {sigma:.3f})) clipped to [0, 255]", {"sigma": sigma})
    if name == "kmeans32":
        width = _solve_increasing(lambda w: entropy_bits(kmeans_pmf(w)), 3.9, 0.3, 32.0)
        rng = np.random.default_rng([seed, 1])
        symbols = rng.choice(32, size=n, p=kmeans_pmf(width)).astype(np.uint32)
        return Dataset(
            name, 32, symbols, f"32 levels, p ~ Gaussian density (width {width:.3f} levels)", {"width": width}
        )
    if name == "uniform256":
        rng = np.random.default_rng([seed, 2])
        return Dataset(name, 256, rng.integers(0, 256, size=n, dtype=np.uint32), "uniform over [0, 256)")
    raise ValueError(f"unknown data set {name!r}")


DATASETS = ("gaussian256", "kmeans32", "uniform256")


# --------------------------------------------------------------------------- codec rows


@dataclass(frozen=True)
class Row:
    """One table row: a registered codec with its encode params."""

    label: str
    codec: str
    params: dict[str, Any]


def bench_variants(name: str) -> tuple[str, tuple[str, ...]] | None:
    """``(parameter, values)`` when codec ``name`` declares ``bench_variants`` (one row per value,
    as ``wavelet-tree`` gets one per shape; e.g. the ``sdsl`` plugin's ``variant``), else None."""
    declared = getattr(get_registry().entry("codec", name).cls, "bench_variants", None)
    if declared is None:
        return None
    param, values = declared
    return str(param), tuple(str(v) for v in values)


def resolve_rows(spec: str | None, registered: list[str]) -> tuple[list[Row], list[str]]:
    """Rows to measure and the requested names that are not registered.

    By default every registered codec except those in ``DECODE_FROM_START``: they answer each
    query by decoding from the start (the paper's dahuffman baseline), which would take hours
    here; ``python -m codecbench.bench.huffman`` measures them. Name them to include them.
    """
    if spec is None:
        names = [name for name in registered if name not in DECODE_FROM_START]
    else:
        names = [s.strip() for s in spec.split(",") if s.strip()]
    rows: list[Row] = []
    skipped: list[str] = []
    for name in names:
        base, bracket, variant = name.partition("[")
        variant = variant.removesuffix("]")
        if base not in registered:
            skipped.append(name)
        elif base == WT:
            for shape in [variant] if bracket else list(WT_SHAPES):
                rows.append(Row(f"{WT}[{shape}]", WT, {"shape": shape}))
        elif (declared := bench_variants(base)) is not None:
            param, values = declared
            if bracket and variant not in values:
                raise SystemExit(f"wavelet_tree bench: {base} variants are {', '.join(values)}; got {name!r}")
            for value in [variant] if bracket else values:
                rows.append(Row(f"{base}[{value}]", base, {param: value}))
        elif bracket:
            raise SystemExit(
                f"wavelet_tree bench: {name!r}: only {WT} and codecs declaring bench_variants take a [variant]"
            )
        else:
            rows.append(Row(base, base, {}))
    unique = list({row.label: row for row in rows}.values())
    return unique, skipped


# --------------------------------------------------------------------------- measurements


class VerificationError(Exception):
    pass


def _has(seq: Any, method: str) -> bool:
    return callable(getattr(seq, method, None))


def warm_up(seq: Any, data: np.ndarray) -> None:
    """One small call of each operation, so no JIT compile lands in a timed loop."""
    n = data.size
    c = int(data[0])
    seq.extract(0, min(n, 27))
    seq.access(0)
    seq.rank(c, 1)
    seq.select(c, 1)
    small = np.arange(min(n, 8), dtype=np.int64)
    if _has(seq, "access_many"):
        seq.access_many(small)
    if _has(seq, "rank_many"):
        seq.rank_many(c, small)


def verify(seq: Any, data: np.ndarray, rng: np.random.Generator, label: str) -> None:
    """Cheap correctness checks; raises VerificationError on the first wrong answer."""
    n = data.size

    def fail(what: str) -> VerificationError:
        return VerificationError(f"{label}: {what}")

    if len(seq) != n:
        raise fail(f"len(seq) = {len(seq)}, expected {n}")
    length = min(4608, n)
    start = int(rng.integers(0, n - length + 1))
    got = np.asarray(seq.extract(start, start + length))
    if not np.array_equal(got, data[start : start + length]):
        bad = int(np.flatnonzero(got != data[start : start + length])[0]) if got.shape == (length,) else 0
        raise fail(f"extract({start}, {start + length}) differs from the source (first at offset {bad})")
    for i in rng.integers(0, n, size=16).tolist():
        if seq.access(i) != data[i]:
            raise fail(f"access({i}) = {seq.access(i)}, expected {int(data[i])}")
    c = int(data[int(rng.integers(0, n))])
    occ = np.flatnonzero(data == c)
    for i in [0, n, *rng.integers(0, n + 1, size=4).tolist()]:
        expected = int(np.searchsorted(occ, i))
        if seq.rank(c, i) != expected:
            raise fail(f"rank({c}, {i}) = {seq.rank(c, i)}, expected {expected}")
    for k in sorted({1, occ.size, int(rng.integers(1, occ.size + 1))}):
        if seq.select(c, k) != occ[k - 1]:
            raise fail(f"select({c}, {k}) = {seq.select(c, k)}, expected {int(occ[k - 1])}")
    pos = rng.integers(0, n, size=min(1000, n)).astype(np.int64)
    if _has(seq, "access_many") and not np.array_equal(np.asarray(seq.access_many(pos)), data[pos]):
        raise fail("access_many differs from the source")
    pos = rng.integers(0, n + 1, size=min(1000, n)).astype(np.int64)
    if _has(seq, "rank_many") and not np.array_equal(np.asarray(seq.rank_many(c, pos)), np.searchsorted(occ, pos)):
        raise fail(f"rank_many({c}, ...) differs from numpy")


def measure_extract(seq: Any, n: int, length: int, rng: np.random.Generator, s: Settings) -> float | None:
    """M symbols/s extracting ranges of ``length`` at random starts; None if ``length > n``."""
    if length > n:
        return None

    def batch(k: int) -> float:
        starts = rng.integers(0, n - length + 1, size=k).tolist()
        t0 = time.perf_counter_ns()
        for start in starts:
            seq.extract(start, start + length)
        return (time.perf_counter_ns() - t0) / 1e9

    k = 1
    while (t := batch(k)) < s.extract_batch_s:  # calibrate: grow until one batch is long enough
        k = max(k + 1, int(k * min(10.0, 1.2 * s.extract_batch_s / max(t, 1e-9))))
    seconds = statistics.median(batch(k) for _ in range(s.extract_batches))
    return k * length / seconds / 1e6


def _loop_access(seq: Any, items: list[Any]) -> None:
    for i in items:
        seq.access(i)


def _loop_rank(seq: Any, items: list[Any]) -> None:
    for c, i in items:
        seq.rank(c, i)


def _loop_select(seq: Any, items: list[Any]) -> None:
    for c, k in items:
        seq.select(c, k)


def measure_latency(
    seq: Any, loop: Callable[[Any, list[Any]], None], items: list[Any], s: Settings, budget_s: float
) -> dict[str, Any]:
    """ns per call: perf_counter_ns around loops of calls, median over batches (nothing subtracted)."""
    probe = items[:5]
    t0 = time.perf_counter_ns()
    loop(seq, probe)
    per_call_s = max((time.perf_counter_ns() - t0) / 1e9 / len(probe), 1e-9)
    calls = min(len(items), s.latency_calls, max(s.latency_batches, int(budget_s / per_call_s)))
    batches = min(s.latency_batches, calls)
    size = calls // batches
    per_batch = []
    for b in range(batches):
        chunk = items[b * size : (b + 1) * size]
        t0 = time.perf_counter_ns()
        loop(seq, chunk)
        per_batch.append((time.perf_counter_ns() - t0) / len(chunk))
    return {"ns": statistics.median(per_batch), "calls": batches * size, "budget_limited": calls < s.latency_calls}


def measure_batch(call: Callable[[], Any], queries: int, reps: int) -> float:
    """M queries/s: median over ``reps`` timed calls answering ``queries`` queries in total."""
    times = []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        call()
        times.append((time.perf_counter_ns() - t0) / 1e9)
    return queries / statistics.median(times) / 1e6


def steps_per_row() -> int:
    return 2 + len(EXTRACT_LENGTHS) + 3 + 2  # encode, verify, extracts, 3 latencies, 2 batches


def measure_row(row: Row, ds: Dataset, h0: float, huff: float, seed: int, s: Settings, bar: tqdm) -> dict[str, Any]:
    data = ds.symbols
    n = data.size
    rng = np.random.default_rng([seed, 100, DATASETS.index(ds.name), sum(row.label.encode())])
    codec = get_registry().codec(row.codec)

    bar.set_postfix_str(f"{row.label}: encode")
    codec.open(codec.encode(data[: min(n, 1000)], ds.alphabet_size, **row.params))  # JIT warm-up
    t0 = time.perf_counter()
    encoded = codec.encode(data, ds.alphabet_size, **row.params)
    encode_s = time.perf_counter() - t0
    seq = codec.open(encoded)
    bar.update()

    bar.set_postfix_str(f"{row.label}: verify")
    warm_up(seq, data)
    verify(seq, data, rng, row.label)
    bar.update()

    bits = len(encoded) * 8 / n
    out: dict[str, Any] = {
        "codec": row.codec,
        "params": row.params,
        "encode_s": encode_s,
        "bytes": len(encoded),
        "seq_nbytes": int(seq.nbytes),
        "bits_per_symbol": bits,
        "ratio_h0": bits / h0 if h0 > 0 else None,
        "ratio_huffman": bits / huff if huff > 0 else None,
        "extract_msym_s": {},
    }
    for length in EXTRACT_LENGTHS:
        bar.set_postfix_str(f"{row.label}: extract {length}")
        out["extract_msym_s"][str(length)] = measure_extract(seq, n, length, rng, s)
        bar.update()

    calls = s.latency_calls
    c_at = data[rng.integers(0, n, size=calls)]  # symbols drawn by frequency
    counts = np.bincount(data, minlength=ds.alphabet_size)
    pos = rng.integers(0, n, size=calls).tolist()
    rank_args = list(zip(c_at.tolist(), rng.integers(0, n + 1, size=calls).tolist(), strict=True))
    sel_c = data[rng.integers(0, n, size=calls)]
    sel_k = (rng.random(calls) * counts[sel_c]).astype(np.int64) + 1
    select_args = list(zip(sel_c.tolist(), sel_k.tolist(), strict=True))
    out["latency"] = {}
    for op, loop, items in (
        ("access", _loop_access, pos),
        ("rank", _loop_rank, rank_args),
        ("select", _loop_select, select_args),
    ):
        bar.set_postfix_str(f"{row.label}: {op} latency")
        out["latency"][op] = measure_latency(seq, loop, items, s, s.latency_budget_s)
        bar.update()

    q = s.batch_queries
    positions = rng.integers(0, n, size=q).astype(np.int64)
    group_c = data[rng.integers(0, n, size=RANK_MANY_GROUPS)].tolist()
    rank_pos = rng.integers(0, n + 1, size=q).astype(np.int64)
    groups = list(zip(group_c, np.array_split(rank_pos, RANK_MANY_GROUPS), strict=True))
    out["batch_mq_s"] = {}
    out["loop_fallback_mq_s"] = {}
    for method, single, loop, make_items in (
        ("access_many", "access", _loop_access, positions.tolist),
        ("rank_many", "rank", _loop_rank, lambda: [(c, i) for c, p in groups for i in p.tolist()]),
    ):
        bar.set_postfix_str(f"{row.label}: {method}")
        if _has(seq, method):
            if method == "access_many":
                call = lambda: seq.access_many(positions)  # noqa: E731
            else:
                call = lambda: [seq.rank_many(c, p) for c, p in groups]  # noqa: E731
            out["batch_mq_s"][method] = measure_batch(call, q, s.batch_reps)
        else:
            out["batch_mq_s"][method] = None
            lat = measure_latency(seq, loop, make_items(), s, s.fallback_budget_s)
            out["loop_fallback_mq_s"][method] = {"mq_s": 1e3 / lat["ns"], "calls": lat["calls"], "single": single}
        bar.update()
    return out


# --------------------------------------------------------------------------- output


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def print_dataset(name: str, res: dict[str, Any]) -> None:
    print(f"\n== {name}: {res['description']}")
    print(
        f"   n = {res['n']:,}, alphabet {res['alphabet_size']}, H0 = {res['h0']:.4f} bits/symbol, "
        f"Huffman = {res['huffman_bits']:.4f} bits/symbol (max code length {res['huffman_max_len']})"
    )
    rows = res["codecs"]
    if not rows:
        print("   (no codec measured)")
        return
    w = max(24, *(len(label) for label in rows)) + 2
    head = (
        f"{'codec':<{w}}{'encode s':>9}{'bits/sym':>10}{'/H0':>8}{'/Huff':>8}"
        f"{'access ns':>11}{'rank ns':>11}{'select ns':>11}{'access_many M/s':>17}{'rank_many M/s':>15}"
    )
    print("\n" + head)
    print("-" * len(head))
    for label, r in rows.items():
        lat = r["latency"]
        print(
            f"{label:<{w}}{r['encode_s']:>9.3f}{r['bits_per_symbol']:>10.4f}{_fmt(r['ratio_h0'], '.4f'):>8}"
            f"{_fmt(r['ratio_huffman'], '.4f'):>8}{lat['access']['ns']:>11,.0f}{lat['rank']['ns']:>11,.0f}"
            f"{lat['select']['ns']:>11,.0f}{_fmt(r['batch_mq_s']['access_many'], '.2f'):>17}"
            f"{_fmt(r['batch_mq_s']['rank_many'], '.2f'):>15}"
        )
    notes = []
    for label, r in rows.items():
        limited = [f"{op} {v['calls']:,}" for op, v in r["latency"].items() if v["budget_limited"]]
        if limited:
            notes.append(f"{label}: latency over fewer calls (time budget): {', '.join(limited)}")
        for method, fb in r["loop_fallback_mq_s"].items():
            notes.append(
                f"{label}: no {method}; Python loop of {fb['single']}() on the same positions: "
                f"{fb['mq_s']:.4g} M/s ({fb['calls']:,} calls)"
            )
    for note in notes:
        print(f"  * {note}")

    head = f"{'extract M symbols/s':<{w}}" + "".join(f"{f'len {length:,}':>14}" for length in EXTRACT_LENGTHS)
    print("\n" + head)
    print("-" * len(head))
    for label, r in rows.items():
        ex = r["extract_msym_s"]
        print(f"{label:<{w}}" + "".join(f"{_fmt(ex[str(length)], ',.1f'):>14}" for length in EXTRACT_LENGTHS))


def compute_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = []

    def row(ds: str, label: str) -> dict[str, Any] | None:
        return results.get(ds, {}).get("codecs", {}).get(label)

    def add(
        goal: str, ds: str, pick: Callable[[dict[str, Any]], float | None], op: str, target: float, unit: str
    ) -> None:
        wt, raw = row(ds, TARGET_ROW), row(ds, REFERENCE_ROW)
        value = pick(wt) if wt else None
        ref = pick(raw) if raw else None
        if value is None:
            status = "n/a"
        else:
            status = "PASS" if (value <= target if op == "<=" else value >= target) else "MISS"
        targets.append(
            {
                "goal": goal,
                "dataset": ds,
                "value": value,
                "unit": unit,
                "op": op,
                "target": target,
                "status": status,
                "raw": ref,
                "vs_raw": value / ref if value is not None and ref else None,
            }
        )

    def batch_access(r: dict[str, Any]) -> float | None:
        if r["batch_mq_s"]["access_many"] is not None:
            return r["batch_mq_s"]["access_many"]
        fb = r["loop_fallback_mq_s"].get("access_many")  # raw's reference: a Python loop of access()
        return fb["mq_s"] if fb else None

    for ds in ("gaussian256", "kmeans32"):
        add("(1) size / (n*H0)", ds, lambda r: r["ratio_h0"], "<=", 1.10, "x")
    add("(2) extract len 1M", "gaussian256", lambda r: r["extract_msym_s"]["1000000"], ">=", 150.0, "M sym/s")
    for ds in DATASETS:
        add("(3) access latency", ds, lambda r: r["latency"]["access"]["ns"], "<=", 1000.0, "ns")
        add("(3) rank latency", ds, lambda r: r["latency"]["rank"]["ns"], "<=", 1000.0, "ns")
    for ds in DATASETS:
        add("(4) access_many", ds, batch_access, ">=", 20.0, "M q/s")
    return [t for t in targets if t["dataset"] in results]


def print_targets(targets: list[dict[str, Any]], results: dict[str, Any], measured: bool) -> None:
    print(f"\n== targets: {TARGET_ROW}, with {REFERENCE_ROW} from this run as the reference")
    if not measured:
        print(f"   ({TARGET_ROW} was not measured: not registered or not requested)")
    head = (
        f"{'goal':<22}{'data set':<13}{'value':>12}  {'unit':<9}{'target':>12}  {'status':<6}{'raw':>12}{'vs raw':>10}"
    )
    print(head)
    print("-" * len(head))
    for t in targets:
        spec = {"x": ".4f", "ns": ",.0f"}.get(t["unit"], ",.2f")
        print(
            f"{t['goal']:<22}{t['dataset']:<13}{_fmt(t['value'], spec):>12}  {t['unit']:<9}"
            f"{t['op'] + ' ' + format(t['target'], 'g'):>12}  {t['status']:<6}{_fmt(t['raw'], spec):>12}"
            f"{_fmt(t['vs_raw'], '.3f'):>10}"
        )
    if any(t["goal"].startswith("(4)") and t["raw"] is not None for t in targets) and not any(
        r["codecs"].get(REFERENCE_ROW, {}).get("batch_mq_s", {}).get("access_many") for r in results.values()
    ):
        print(
            f"   (4) {REFERENCE_ROW} has no access_many: its figure is a Python loop of access() on the same positions."
        )


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "codecbench": codecbench.__version__,
    }


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m codecbench.bench.wavelet_tree", description=__doc__.splitlines()[0])
    p.add_argument(
        "--n", type=int, default=None, help=f"symbols per data set (default {DEFAULT_N:,}; --quick: {QUICK_N:,})"
    )
    p.add_argument("--quick", action="store_true", help="n = 1M unless --n is given, and fewer repetitions")
    p.add_argument(
        "--codecs",
        default=None,
        help=f"comma-separated codec names (default: every registered codec); {WT} gives one row per shape, "
        f"{WT}[balanced] just one; likewise codecs declaring bench_variants (sdsl, sdsl[wt_int_bv])",
    )
    p.add_argument("--json", metavar="OUT", default=None, help="write every raw figure to this JSON file")
    p.add_argument("--seed", type=int, default=0, help="seed of the data sets and query positions (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    args = p.parse_args(argv)
    if args.n is None:
        args.n = QUICK_N if args.quick else DEFAULT_N
    if args.n < 100:
        p.error("--n must be at least 100")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = QUICK if args.quick else FULL
    registry = get_registry()
    rows, skipped = resolve_rows(args.codecs, registry.names("codec"))

    machine = machine_info()
    print("codecbench wavelet-tree benchmark")
    for key, value in machine.items():
        print(f"  {key:<14}{value}")
    print(f"  {'n':<14}{args.n:,}{'  (quick)' if args.quick else ''}")
    print(f"  {'seed':<14}{args.seed}")
    print(f"  {'rows':<14}{', '.join(r.label for r in rows) or '(none)'}")
    if skipped:
        print(f"  {'skipped':<14}{', '.join(skipped)} (not registered)")
    if not rows:
        print("wavelet_tree bench: no requested codec is registered", file=sys.stderr)
        return 2
    sys.stdout.flush()

    results: dict[str, Any] = {}
    for name in DATASETS:
        with tqdm(
            total=1 + steps_per_row() * len(rows),
            desc=name,
            file=sys.stderr,
            leave=False,
            disable=args.no_progress or None,
        ) as bar:
            bar.set_postfix_str("generate")
            ds = make_dataset(name, args.n, args.seed)
            h0, counts = h0_bits(ds.symbols, ds.alphabet_size)
            lengths = huffman_code_lengths(counts)
            huff = float((lengths * counts).sum() / args.n)
            bar.update()
            res = {
                "description": ds.description,
                "params": ds.params,
                "n": args.n,
                "alphabet_size": ds.alphabet_size,
                "distinct_symbols": int(np.count_nonzero(counts)),
                "h0": h0,
                "huffman_bits": huff,
                "huffman_max_len": int(lengths.max()),
                "codecs": {},
            }
            results[name] = res
            for row in rows:
                gc.collect()
                gc.disable()  # as timeit does: no collector pauses inside timed loops
                try:
                    res["codecs"][row.label] = measure_row(row, ds, h0, huff, args.seed, settings, bar)
                except VerificationError as exc:
                    bar.close()
                    print(f"\nwavelet_tree bench: WRONG ANSWER on {name}: {exc}", file=sys.stderr)
                    return 1
                finally:
                    gc.enable()
        print_dataset(name, res)
        sys.stdout.flush()

    targets = compute_targets(results)
    print_targets(targets, results, measured=any(r.label == TARGET_ROW for r in rows))

    if args.json:
        report = {
            "machine": machine,
            "config": {
                "n": args.n,
                "quick": args.quick,
                "seed": args.seed,
                "rows": [asdict(r) for r in rows],
                "skipped": skipped,
                "settings": asdict(settings),
                "extract_lengths": list(EXTRACT_LENGTHS),
            },
            "datasets": results,
            "targets": targets,
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The plugin codecs (``zstd``, ``ans``) against ``n * H0`` and the built-in ``huffman-fast``, in one run.

Usage (from the project root, with both plugins installed)::

    python benchmarks/plugins.py [--n 10000000] [--seed 0] [--codecs zstd,ans,huffman-fast] [--json OUT]

Data: the wavelet-tree benchmark's seeded 10M-symbol streams, a discretized Gaussian over 256
values and a 32-level k-means-like distribution (``codecbench.bench.wavelet_tree.make_dataset``).
Per codec: total size against ``n * H0`` (and the coded payload alone, where the sequence reports
``payload_nbytes``), encode, a full ``extract(0, n)``, ``extract`` of 1M-symbol ranges at random
starts (M symbols/s), and random single ``access`` and ``rank`` latencies (microseconds, mean of
a loop over seeded random positions). Every sequence is checked against its source first.
Timings on a shared 2-core machine are noisy: compare figures from one run only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

import numpy as np

from codecbench.bench.wavelet_tree import h0_bits, make_dataset
from codecbench.registry import get_registry

DATASETS = ("gaussian256", "kmeans32")
DEFAULT_CODECS = ("zstd", "ans", "huffman-fast")
RANGE = 1_000_000


def _median_time(call: Any, reps: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(reps):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def measure(name: str, symbols: np.ndarray, sigma: int, h0: float, reps: int, seed: int) -> dict[str, Any]:
    codec = get_registry().codec(name)
    n = symbols.size
    small = codec.open(codec.encode(symbols[:5000], sigma))  # compile / warm up every timed query
    small.extract(0, 5000), small.access(4999), small.rank(int(symbols[0]), 4000)
    encode_s, blob = _median_time(lambda: codec.encode(symbols, sigma), reps)
    seq = codec.open(blob)
    decode_s, decoded = _median_time(lambda: seq.extract(0, n), reps)
    if not np.array_equal(decoded, symbols):
        raise SystemExit(f"WRONG ANSWER: {name} does not decode its own encoding")
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, max(1, n - RANGE), 5).tolist()
    times = []
    for a in starts:
        t0 = time.perf_counter()
        got = seq.extract(a, a + RANGE)
        times.append(time.perf_counter() - t0)
        if not np.array_equal(got, symbols[a : a + RANGE]):
            raise SystemExit(f"WRONG ANSWER: {name} extract({a}, {a + RANGE})")
    positions = rng.integers(0, n, 2000).tolist()
    t0 = time.perf_counter()
    for i in positions:
        seq.access(i)
    access_us = (time.perf_counter() - t0) / len(positions) * 1e6
    if [seq.access(i) for i in positions[:50]] != symbols[positions[:50]].tolist():
        raise SystemExit(f"WRONG ANSWER: {name} access")
    c = int(np.bincount(symbols).argmax())
    t0 = time.perf_counter()
    for i in positions[:500]:
        seq.rank(c, i)
    rank_us = (time.perf_counter() - t0) / 500 * 1e6
    payload = getattr(seq, "payload_nbytes", None)
    h0_bytes = n * h0 / 8
    return {
        "codec": name,
        "bytes": len(blob),
        "bits_per_symbol": len(blob) * 8 / n,
        "vs_nH0": len(blob) / h0_bytes,
        "payload_vs_nH0": payload / h0_bytes if payload is not None else None,
        "encode_msym_s": n / encode_s / 1e6,
        "decode_msym_s": n / decode_s / 1e6,
        "extract_1m_msym_s": RANGE / statistics.median(times) / 1e6,
        "access_us": access_us,
        "rank_us": rank_us,
    }


def run(n: int, codecs: list[str], reps: int, seed: int) -> dict[str, Any]:
    results: dict[str, Any] = {"n": n, "seed": seed, "datasets": {}}
    registry = get_registry()
    for name in codecs:
        entry = registry.entry("codec", name)
        print(f"{name}: {entry.source}")
    for ds_name in DATASETS:
        ds = make_dataset(ds_name, n, seed)
        h0, _ = h0_bits(ds.symbols, ds.alphabet_size)
        print(f"\n== {ds_name}: {ds.description}; n = {n:,}, H0 = {h0:.4f} bits/symbol, n*H0 = {n * h0 / 8:,.0f} bytes")
        rows = []
        for name in codecs:
            print(f"   measuring {name} ...", file=sys.stderr, flush=True)
            rows.append(measure(name, ds.symbols, ds.alphabet_size, h0, reps, seed))
        results["datasets"][ds_name] = {"h0": h0, "rows": rows}
        head = (
            f"{'codec':<13} {'bytes':>11} {'bits/sym':>9} {'/nH0':>7} {'payload/nH0':>12} {'enc M/s':>8} "
            f"{'dec M/s':>8} {'extract 1M M/s':>15} {'access us':>10} {'rank us':>8}"
        )
        print(head)
        print("-" * len(head))
        for r in rows:
            payload = f"{r['payload_vs_nH0']:.4f}" if r["payload_vs_nH0"] is not None else "n/a"
            print(
                f"{r['codec']:<13} {r['bytes']:>11,} {r['bits_per_symbol']:>9.4f} {r['vs_nH0']:>7.4f} {payload:>12} "
                f"{r['encode_msym_s']:>8.1f} {r['decode_msym_s']:>8.1f} {r['extract_1m_msym_s']:>15.1f} "
                f"{r['access_us']:>10.1f} {r['rank_us']:>8.1f}"
            )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reps", type=int, default=3, help="repetitions of encode and full decode (median)")
    parser.add_argument("--codecs", default=",".join(DEFAULT_CODECS))
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    if args.n < RANGE + 1 or args.reps < 1:
        parser.error(f"--n must exceed {RANGE} and --reps be >= 1")
    codecs = [c for c in args.codecs.split(",") if c]
    known = get_registry().names("codec")
    missing = [c for c in codecs if c not in known]
    if missing:
        parser.error(
            f"codec(s) {', '.join(missing)} not registered (registered: {', '.join(known)}); "
            "install the plugins: pip install ./plugins/codecbench-zstd ./plugins/codecbench-ans"
        )
    results = run(args.n, codecs, args.reps, args.seed)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

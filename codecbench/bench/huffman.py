"""Huffman baselines benchmark: ``huffman`` (dahuffman, the paper's), ``huffman-fast`` and the
wavelet tree, on the wavelet-tree benchmark's three data sets, in one run.

Usage::

    python -m codecbench.bench.huffman [--n 10000000] [--quick] [--codecs ...] [--json OUT]

Per data set and codec: total bits/symbol (everything included) against H0 and against the
optimal Huffman cost of the same data; the bitstream alone and its index (sync points and
counts) where the sequence reports them (``payload_nbytes``, ``index_nbytes``); encode and full
decode (``extract(0, n)``) in M symbols/s; ``extract`` of 1M-symbol ranges at random starts.
``huffman`` decodes from the start of its stream for every query, as the paper's baseline does,
so its figures come from a single timed call each.

Targets printed as ratios measured in this run: ``huffman-fast`` payload / ``huffman`` payload
<= 1.01, ``huffman-fast`` index / payload <= 2%, ``huffman-fast`` decode >= 250 M symbols/s.
Every sequence is checked (one extract equals the source) before it is timed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

import numpy as np

from codecbench.bench.wavelet_tree import DATASETS, h0_bits, huffman_code_lengths, machine_info, make_dataset
from codecbench.registry import get_registry

ROWS = ("huffman", "huffman-fast", "wavelet-tree")
SLOW = {"huffman"}  # decodes from the start on every query: time single calls only
RANGE = 1_000_000


def _timed(call: Any, reps: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(reps):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def measure(codec_name: str, symbols: np.ndarray, sigma: int, reps: int, seed: int) -> dict[str, Any]:
    codec = get_registry().codec(codec_name)
    n = symbols.size
    codec.encode(symbols[:1000], sigma)  # compile / warm up
    slow = codec_name in SLOW
    encode_s, blob = _timed(lambda: codec.encode(symbols, sigma), 1 if slow else reps)
    seq = codec.open(blob)
    seq.extract(0, min(n, 1000))
    decode_s, decoded = _timed(lambda: seq.extract(0, n), 1 if slow else reps)
    if not np.array_equal(decoded, symbols):
        raise SystemExit(f"WRONG ANSWER: {codec_name} does not decode its own encoding")
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, max(1, n - RANGE), 1 if slow else 5).tolist()
    length = min(RANGE, n)
    extract_times = []
    for a in starts:
        t0 = time.perf_counter()
        got = seq.extract(a, a + length)
        extract_times.append(time.perf_counter() - t0)
    if not np.array_equal(got, symbols[starts[-1] : starts[-1] + length]):
        raise SystemExit(f"WRONG ANSWER: {codec_name} extract")
    payload = getattr(seq, "payload_nbytes", None)
    index = getattr(seq, "index_nbytes", None)
    return {
        "codec": codec_name,
        "bytes": len(blob),
        "bits_per_symbol": len(blob) * 8 / n,
        "payload_bytes": payload,
        "index_bytes": index,
        "encode_msym_s": n / encode_s / 1e6,
        "decode_msym_s": n / decode_s / 1e6,
        "extract_1m_msym_s": length / statistics.median(extract_times) / 1e6,
    }


def run(n: int, rows: list[str], reps: int, seed: int) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine_info(), "n": n, "datasets": {}}
    for name in DATASETS:
        ds = make_dataset(name, n, seed)
        h0, counts = h0_bits(ds.symbols, ds.alphabet_size)
        huff = float((huffman_code_lengths(counts) * counts).sum() / n)
        print(f"\n== {name}: {ds.description}; n = {n:,}, H0 = {h0:.4f}, Huffman = {huff:.4f} bits/symbol", flush=True)
        rows_out = []
        for row in rows:
            print(f"   measuring {row} ...", file=sys.stderr, flush=True)
            rows_out.append(measure(row, ds.symbols, ds.alphabet_size, reps, seed))
        for r in rows_out:
            r["vs_h0"] = r["bits_per_symbol"] / h0 if h0 else None
            r["vs_huffman"] = r["bits_per_symbol"] / huff if huff else None
        results["datasets"][name] = {"h0": h0, "huffman_bits": huff, "rows": rows_out}
        _print_table(rows_out)
    return results


def _print_table(rows: list[dict[str, Any]]) -> None:
    head = f"{'codec':<14} {'bits/sym':>9} {'/H0':>7} {'/Huff':>7} {'payload B':>12} {'index B':>10} " \
           f"{'encode M/s':>11} {'decode M/s':>11} {'extract 1M M/s':>15}"  # fmt: skip
    print(head)
    print("-" * len(head))
    for r in rows:
        payload = f"{r['payload_bytes']:,}" if r["payload_bytes"] is not None else "n/a"
        index = f"{r['index_bytes']:,}" if r["index_bytes"] is not None else "n/a"
        print(f"{r['codec']:<14} {r['bits_per_symbol']:>9.4f} {r['vs_h0']:>7.4f} {r['vs_huffman']:>7.4f} "
              f"{payload:>12} {index:>10} {r['encode_msym_s']:>11.2f} {r['decode_msym_s']:>11.2f} "
              f"{r['extract_1m_msym_s']:>15.2f}")  # fmt: skip


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, ds in results["datasets"].items():
        by = {r["codec"]: r for r in ds["rows"]}
        fast, slow = by.get("huffman-fast"), by.get("huffman")
        if fast and slow and fast["payload_bytes"] and slow["payload_bytes"]:
            ratio = fast["payload_bytes"] / slow["payload_bytes"]
            out.append({"goal": "payload / dahuffman payload", "dataset": name, "value": ratio, "target": "<= 1.01",
                        "ok": ratio <= 1.01})  # fmt: skip
        if fast and fast["payload_bytes"] and fast["index_bytes"] is not None:
            share = fast["index_bytes"] / fast["payload_bytes"]
            out.append({"goal": "index / payload", "dataset": name, "value": share, "target": "<= 0.02",
                        "ok": share <= 0.02})  # fmt: skip
        if fast:
            speed = fast["decode_msym_s"]
            out.append(
                {"goal": "decode M sym/s", "dataset": name, "value": speed, "target": ">= 250", "ok": speed >= 250}
            )
            if slow:
                out.append({"goal": "decode speed vs dahuffman", "dataset": name,
                            "value": speed / slow["decode_msym_s"], "target": "(ratio)", "ok": None})  # fmt: skip
        wt = by.get("wavelet-tree")
        if fast and wt:
            out.append({"goal": "wavelet-tree extract 1M / huffman-fast", "dataset": name,
                        "value": wt["extract_1m_msym_s"] / fast["extract_1m_msym_s"], "target": "(ratio)", "ok": None})  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codecbench.bench.huffman", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None, help="symbols per data set (default 10M; --quick 1M)")
    parser.add_argument("--quick", action="store_true", help="1M symbols, fewer repetitions")
    parser.add_argument("--codecs", default=",".join(ROWS), help="comma-separated codec names")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args(argv)
    n = args.n or (1_000_000 if args.quick else 10_000_000)
    registered = set(get_registry().names("codec"))
    rows = [r for r in args.codecs.split(",") if r in registered]
    skipped = [r for r in args.codecs.split(",") if r not in registered]
    if not rows:
        print(f"nothing to measure: none of {args.codecs} is registered", file=sys.stderr)
        return 2
    print("codecbench Huffman baselines benchmark")
    for key, value in machine_info().items():
        print(f"  {key:<14}{value}")
    if skipped:
        print(f"  skipped (not registered): {', '.join(skipped)}")
    results = run(n, rows, 2 if args.quick else 5, args.seed)
    results["targets"] = targets(results)
    print("\n== targets (measured in this run)")
    for t in results["targets"]:
        status = "" if t["ok"] is None else ("PASS" if t["ok"] else "MISS")
        print(f"  {t['goal']:<40} {t['dataset']:<12} {t['value']:>10.4f}  {t['target']:<8} {status}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

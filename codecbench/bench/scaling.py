"""Scaling out, measured in one run: compress serially vs on Dask, and run from S3 vs local.

Usage (from the project root, with the ``test`` extra, or ``s3`` + ``dask`` + ``moto[server]``)::

    python -m codecbench.bench.scaling [--model vgg16] [--weights init:0] [--formulation float-split]
                                 [--codec huffman-fast] [--workers 2] [--batch 1] [--json OUT]

1. Compress: the model's weights are generated once, then written to a local store serially
   and through ``--dask local:N`` (a LocalCluster of N worker processes, as the CLI starts it;
   the time includes starting and stopping the cluster, and is also given without it), and
   through a LocalCluster of N threads in this process. The stores are compared file by file
   (they must be byte-identical).
2. Run: the same store is written to S3 (moto's server in its own process on 127.0.0.1, a
   free port: a real S3 API over loopback, no network) and read back. ``run`` time = open +
   load_model + the first forward pass, which fetches every chunk (cold), from the local store
   and from S3, the latter with the default read-ahead and without it (best of 2 each,
   alternating, after one warm-up run); then a second (warm) forward pass, whose chunks are
   all fetched already. Outputs are checked bit-identical to the local store's.

A shared 2-core machine is noisy: compare figures from one run only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from codecbench.bench.harness import machine_info
from codecbench.compression import to_numpy
from codecbench.executor.runner import DEFAULT_READAHEAD, open_model_store, same_bits, seeded_input
from codecbench.models import describe_source
from codecbench.models.sources import load_weights
from codecbench.store import write_store
from codecbench.store.config import StoreConfig
from codecbench.store.parallel import DaskEncoder
from codecbench.version import __version__


def _files(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def _start_moto() -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """moto's S3 server as its own process (as a real endpoint is: not in this process's GIL)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.2)
    options = {"endpoint_url": f"http://127.0.0.1:{port}", "key": "bench", "secret": "bench"}
    return server, options


def _timed_run(
    where: str, batch: int, options: dict[str, Any] | None, readahead: int = DEFAULT_READAHEAD
) -> dict[str, Any]:
    start = time.perf_counter()
    store = open_model_store(where, options)
    model = store.load_model(readahead=readahead)
    x = seeded_input(batch).to(store.input_dtype())
    opened = time.perf_counter()
    with torch.inference_mode():
        y = model(x)
        cold = time.perf_counter()
        model(x)
        warm = time.perf_counter()
    return {"open_s": opened - start, "cold_s": cold - start, "warm_forward_s": warm - cold, "y": y}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vgg16")
    parser.add_argument("--weights", default="init:0")
    parser.add_argument("--formulation", default="float-split")
    parser.add_argument("--codec", default="huffman-fast")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)

    config = StoreConfig.simple(args.formulation, args.codec)
    state = load_weights(args.weights, args.model)
    tensors = {k: to_numpy(k, v) for k, v in state.items()}
    del state
    attrs = {"model": args.model, "weights": describe_source(args.weights), "created_by": f"codecbench {__version__}"}
    plans = config.plans(tensors)
    n_weights = sum(t.size for t in tensors.values())
    print(
        f"{args.model} ({n_weights / 1e6:.1f} M weights, {args.weights}), {args.formulation} + {args.codec}, "
        f"torch threads {torch.get_num_threads()}",
        flush=True,
    )
    tmp = Path(tempfile.mkdtemp(prefix="codecbench-scaling-"))
    results: dict[str, Any] = {"machine": machine_info(), "model": args.model, "weights": args.weights}
    results["formulation"] = args.formulation
    results["codec"] = args.codec
    server = None
    try:
        # 1. compress: serial vs Dask
        start = time.perf_counter()
        write_store(tmp / "serial.zarr", tensors, plans, attrs, progress=False)
        serial_s = time.perf_counter() - start
        start = time.perf_counter()
        with DaskEncoder(f"local:{args.workers}") as encoder:
            up = time.perf_counter()
            write_store(tmp / "dask.zarr", tensors, plans, attrs, progress=False, encoder=encoder)
            written = time.perf_counter()
        dask_s = time.perf_counter() - start
        threads_start = time.perf_counter()
        with DaskEncoder(f"local:{args.workers}", processes=False) as encoder:
            threads_up = time.perf_counter()
            write_store(tmp / "threads.zarr", tensors, plans, attrs, progress=False, encoder=encoder)
            threads_written = time.perf_counter()
        threads_s = time.perf_counter() - threads_start
        serial_files = _files(tmp / "serial.zarr")
        identical = True
        for other in ("dask.zarr", "threads.zarr"):
            files = _files(tmp / other)
            identical &= serial_files.keys() == files.keys() and all(files[k] == v for k, v in serial_files.items())
            del files
            shutil.rmtree(tmp / other)
        stored = sum(len(v) for v in serial_files.values())
        del serial_files
        results["compress"] = {
            "serial_s": serial_s,
            "dask_s": dask_s,
            "dask_write_s": written - up,
            "dask_cluster_start_s": up - start,
            "workers": args.workers,
            "speedup": serial_s / dask_s,
            "speedup_without_cluster_start": serial_s / (written - up),
            "dask_threads_s": threads_s,
            "dask_threads_write_s": threads_written - threads_up,
            "byte_identical": identical,
            "store_bytes": stored,
        }
        c = results["compress"]
        print(
            f"compress  serial {serial_s:6.2f} s | dask local:{args.workers} {dask_s:6.2f} s "
            f"(cluster start {c['dask_cluster_start_s']:.2f} s, encode+write {c['dask_write_s']:.2f} s) | "
            f"serial/dask {c['speedup']:.2f}x ({c['speedup_without_cluster_start']:.2f}x without cluster start) | "
            f"stores byte-identical: {identical} ({stored / 1e6:.0f} MB)",
            flush=True,
        )
        print(
            f"compress  dask LocalCluster of {args.workers} threads (processes=False) {threads_s:6.2f} s "
            f"(encode+write {c['dask_threads_write_s']:.2f} s) | serial/threads {serial_s / threads_s:.2f}x",
            flush=True,
        )

        # 2. run: moto S3 vs local
        server, options = _start_moto()
        import fsspec

        fsspec.filesystem("s3", skip_instance_cache=True, **options).mkdir("bench")
        url = "s3://bench/model.zarr"
        start = time.perf_counter()
        write_store(url, tensors, plans, attrs, progress=False, storage_options=options)
        upload_s = time.perf_counter() - start
        del tensors
        _timed_run(str(tmp / "serial.zarr"), args.batch, None)  # warm-up: imports, numba caches, torch
        runs: dict[str, list[dict[str, Any]]] = {"local": [], "s3": [], "s3_no_readahead": []}
        for _ in range(2):
            runs["local"].append(_timed_run(str(tmp / "serial.zarr"), args.batch, None))
            runs["s3"].append(_timed_run(url, args.batch, options))
            runs["s3_no_readahead"].append(_timed_run(url, args.batch, options, readahead=0))
        local, remote, remote_no_ra = (min(runs[k], key=lambda r: r["cold_s"]) for k in runs)
        exact = all(same_bits(local["y"], r["y"]) for rows in runs.values() for r in rows)
        results["run"] = {
            "batch": args.batch,
            "readahead": DEFAULT_READAHEAD,
            "s3_compress_s": upload_s,
            "local": {k: v for k, v in local.items() if k != "y"},
            "s3": {k: v for k, v in remote.items() if k != "y"},
            "s3_no_readahead": {k: v for k, v in remote_no_ra.items() if k != "y"},
            "s3_over_local_cold": remote["cold_s"] / local["cold_s"],
            "readahead_gain": remote_no_ra["cold_s"] / remote["cold_s"],
            "bit_identical": exact,
        }
        r = results["run"]
        print(f"compress  serial to moto S3 {upload_s:6.2f} s", flush=True)
        rows = (
            ("local", local),
            (f"moto S3, read-ahead {DEFAULT_READAHEAD}", remote),
            ("moto S3, no read-ahead", remote_no_ra),
        )
        for label, row in rows:
            print(
                f"run       {label:<24} open {row['open_s'] * 1e3:7.1f} ms | cold (open + first forward) "
                f"{row['cold_s']:6.2f} s | warm forward {row['warm_forward_s']:6.2f} s"
            )
        print(
            f"run       S3/local cold {r['s3_over_local_cold']:.2f}x | read-ahead gain on S3 {r['readahead_gain']:.2f}x "
            f"| outputs bit-identical: {exact}",
            flush=True,
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
    return 0 if results["compress"]["byte_identical"] and results["run"]["bit_identical"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Compile the built-in numba kernels before they are needed: ``codecbench warmup``.

codecbench's kernels are numba functions cached on disk (``cache=True``). The first process to
call one with a new argument type compiles it, and every later process loads the compiled code
in milliseconds. Compiling is not cheap: huffman-fast's extract takes about 8.5 s per table width
on a 2-core machine, so a user's first ``run`` of a fresh install can spend half a minute in the
compiler, and two processes that start at once compile the same kernels twice.

:func:`warm` calls each built-in codec (every query, on small data, once per table width) and
each built-in (formulation, codec) pair (a tiny model compressed, then run from the store and
decoded whole, so the plain and fused paths both compile; pq-* pairs also in fast mode) in
``jobs`` processes at once. A task is a name (:func:`task_names`): ``codec:NAME:ALPHABET`` or
``pair:FORMULATION:CODEC:DTYPE``. Third-party codecs are not warmed: their kernels, if any, are
theirs.

The test suite does not run it: measured on 2 cores, the 130 s it takes before the workers
start cost more than the compiling it saved them (the workers share numba's disk cache as they
go): `.ci/run` took 10:41 with it and 9:20 without, on otherwise the same code.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from codecbench.errors import CodecbenchError, ConfigError

#: codec name -> params of each variant warmed ({} = defaults)
CODECS: dict[str, list[dict[str, Any]]] = {
    "raw": [{}],
    "huffman-fast": [{}],
    "wavelet-tree": [{"shape": "huffman"}, {"shape": "balanced"}],
}
#: one alphabet per table width huffman-fast builds (entries of 16, 32 and 64 bits)
ALPHABETS = (2, 257, 2**32)
FORMULATIONS = ("element", "block", "pq-element", "pq-block", "pq-joint", "float-split")
#: float-split keeps every float dtype; the others are warmed on float32
FLOAT_SPLIT_DTYPES = ("bfloat16", "float16", "float64")
#: tasks that compile the most (huffman-fast's kernels) first, so jobs finish together
_FAMILY_ORDER = ("huffman-fast", "wavelet-tree", "raw")


def task_names() -> list[str]:
    """Every task :func:`warm` runs by default, in the order it schedules them."""
    tasks: list[str] = []
    for codec in _FAMILY_ORDER:
        tasks += [f"codec:{codec}:{a}" for a in ALPHABETS]
        tasks += [f"pair:{f}:{codec}:float32" for f in FORMULATIONS]
        if codec != "wavelet-tree":
            tasks += [f"pair:float-split:{codec}:{d}" for d in FLOAT_SPLIT_DTYPES]
    return tasks


def warm(tasks: list[str] | None = None, jobs: int = 2) -> dict[str, Any]:
    """Run ``tasks`` (default :func:`task_names`) in ``jobs`` fresh processes; returns
    ``{"tasks", "jobs", "seconds"}``. Raises :class:`CodecbenchError` naming the first task that
    failed."""
    tasks = task_names() if tasks is None else list(tasks)
    unknown = [t for t in tasks if t not in task_names()]
    if unknown:
        raise ConfigError(f"warmup: unknown task {unknown[0]!r} (see codecbench warmup --list)")
    if jobs < 1:
        raise ConfigError(f"warmup: --jobs must be >= 1, not {jobs}")
    start = time.perf_counter()
    procs = []
    for share in _split(tasks, jobs):
        cmd = [
            sys.executable,
            "-c",
            "import sys; from codecbench.executor.warmup import run_tasks; run_tasks(sys.argv[1:])",
        ]
        procs.append(subprocess.Popen([*cmd, *share], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    errors = [p.communicate()[1] for p in procs]
    for proc, err in zip(procs, errors, strict=True):
        if proc.returncode != 0:
            lines = [line for line in err.strip().splitlines() if line.strip()]
            raise CodecbenchError(f"warmup failed: {lines[-1] if lines else f'exit code {proc.returncode}'}")
    return {"tasks": tasks, "jobs": len(procs), "seconds": time.perf_counter() - start}


def _split(tasks: list[str], jobs: int) -> list[list[str]]:
    """Round robin in the given order (the costliest compiles come first in :func:`task_names`).
    Two processes may still compile a kernel both need at once; measured on 2 cores, this split
    beats keeping a codec's tasks together (one process then compiles most of the time)."""
    return [tasks[i::jobs] for i in range(min(jobs, len(tasks)))]


def run_tasks(tasks: list[str]) -> None:
    """Run each task in this process (the body of one warm-up job)."""
    for task in tasks:
        try:
            kind, *fields = task.split(":")
            if kind == "codec":
                _warm_codec(fields[0], int(fields[1]))
            else:
                _warm_pair(*fields)
        except Exception as exc:
            raise SystemExit(f"task {task}: {type(exc).__name__}: {exc}") from None


def _warm_codec(name: str, alphabet: int) -> None:
    from codecbench.formulations.blocks import narrow_uint
    from codecbench.registry import get_registry

    cls = get_registry().entry("codec", name).cls
    if alphabet > cls.practical_alphabet:
        return
    rng = np.random.default_rng(0)
    symbols = np.minimum(rng.geometric(0.3, 6000) - 1, alphabet - 1).astype(np.uint32)
    symbols[::97] = alphabet - 1  # the largest symbol sets huffman-fast's table width
    positions = np.array([5, 1, 4000], dtype=np.int64)
    for params in CODECS[name]:
        codec = cls()
        seq = codec.open(codec.encode(symbols, alphabet, **params))
        n, c = len(seq), int(symbols[0])
        seq.extract(0, n)
        seq.extract(3, n - 5)
        seq.extract_into(0, n, np.empty(n, dtype=narrow_uint(alphabet)))
        seq.access(7)
        seq.access_many(positions)
        seq.rank(c, n // 2)
        seq.rank_many(c, positions)
        seq.select(c, 1)
        seq.select_many(c, np.array([1, 2], dtype=np.int64))


def _warm_pair(formulation: str, codec: str, dtype: str) -> None:
    import torch
    from torch import nn

    from codecbench.dtypes import to_numpy
    from codecbench.executor.runner import open_model_store
    from codecbench.store.config import StoreConfig
    from codecbench.store.writer import write_store

    torch.manual_seed(0)
    torch_dtype = getattr(torch, dtype)

    def model() -> nn.Module:  # load_model swaps layers in place: a fresh module per use
        return nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 6 * 6, 10)).to(torch_dtype)

    state = {k: to_numpy(_weights_for(formulation, v).to(torch_dtype)) for k, v in model().state_dict().items()}
    x = torch.zeros(1, 3, 8, 8, dtype=torch_dtype)
    variants = CODECS[codec] if formulation == "float-split" else CODECS[codec][:1]
    with tempfile.TemporaryDirectory(prefix="codecbench-warmup-") as tmp:
        for i, params in enumerate(variants):
            path = Path(tmp) / f"{i}.zarr"
            plan = {"formulation": formulation, "codec": codec, "codec_params": params}
            plans = StoreConfig.from_dict({"default": plan}, "warmup").plans(state)
            write_store(path, state, plans, {"model": None}, progress=False)
            store = open_model_store(path)
            with torch.inference_mode():
                store.load_model(model()).eval()(x)
                store.dense_model(model()).eval()(x)
                if formulation.startswith("pq-") and dtype == "float32":  # fast mode's kernels, batch 1 and 2
                    fast = store.load_model(model(), mode="fast").eval()
                    fast(x)
                    fast(torch.cat([x, x]))


def _weights_for(formulation: str, tensor: Any) -> Any:
    """A tensor the formulation takes as it would a real one: pruned and quantized for ``pq-*``,
    a few levels for element/block (an unquantized float has nearly as many values as weights)."""
    if tensor.ndim < 2 or formulation == "float-split":
        return tensor
    levels = (tensor * 8).round() / 8
    if formulation.startswith("pq-"):
        levels[tensor.abs() < tensor.abs().quantile(0.8)] = 0
    return levels

"""What every benchmark shares: the machine record, the timing rules, and runs of a store's
model in a fresh process.

Timing. Every figure is a median over repetitions (``median_time``); anything compiled on
first use is warmed up first; ratios are taken against a reference measured in the same run,
because this machine's timings drift by tens of percent between runs.

Runs. :func:`run_in_process` runs :func:`codecbench.executor.run.run_model` (what
``codecbench run`` does) in a fresh Python process and returns its record, so each run has a
peak RSS of its own and shares no state (allocator, torch's thread pool, numba's caches in
memory) with the benchmark or with the previous run. The benchmark of every comparison goes
through this one function: dense and compressed runs are measured alike.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from codecbench.executor.run import RunOptions
from codecbench.version import __version__


def machine_info() -> dict[str, Any]:
    """The machine and software a benchmark ran on (recorded beside every result)."""
    import numba
    import numpy as np
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "codecbench": __version__,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def median_time(call: Callable[[], Any], reps: int) -> tuple[float, Any]:
    """Median seconds of ``reps`` calls (at least one) and the last call's result."""
    times, result = [], None
    for _ in range(max(1, reps)):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def run_in_process(options: RunOptions, env: dict[str, str] | None = None, timeout: float = 3600) -> dict[str, Any]:
    """``run_model(options)`` in a fresh process (``env`` added to the environment); its record.
    A failed run raises RuntimeError with the child's last line of error output."""
    argv = [sys.executable, "-m", "codecbench.bench.harness", json.dumps(asdict(options))]
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=None if env is None else {**os.environ, **env}
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no error output)"])[-1]
        raise RuntimeError(f"run of {options.store} (batch {options.batch}) failed: {last}")
    return json.loads(proc.stdout)


def _child(argv: list[str]) -> int:
    from codecbench.errors import CodecbenchError
    from codecbench.executor.run import run_model

    try:
        record = run_model(RunOptions(**json.loads(argv[0])))
    except CodecbenchError as exc:
        print(f"codecbench: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1:]))

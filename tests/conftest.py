"""Shared fixtures: stores built once per session, small models for fast executor tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from filelock import FileLock
from hypothesis import settings
from tinynet import TinyNet


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """A whole-suite run under pytest-xdist (``python -m pytest``, the README's command) first runs
    ``codecbench warmup`` on as many processes as there will be workers, before they start: each
    worker then loads the numba kernels instead of compiling them (measured on a clean clone, each
    of two workers spent about 280 s of its run compiling, much of it the same kernels at the same
    time). Runs of chosen files skip it; ``CODECBENCH_TEST_WARMUP=0`` turns it off."""
    config = session.config
    workers = getattr(config.option, "numprocesses", None)
    if (
        hasattr(config, "workerinput")
        or not isinstance(workers, int)
        or workers < 2
        or config.args_source != pytest.Config.ArgsSource.TESTPATHS
        or os.environ.get("CODECBENCH_TEST_WARMUP") == "0"
    ):
        return
    from codecbench.executor.warmup import warm

    record = warm(jobs=workers)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"codecbench warmup: {len(record['tasks'])} tasks on {workers} processes in {record['seconds']:.0f} s"
        )


# ``--hypothesis-profile fuzz``: tests/test_fuzz.py's long, random run (as CODECBENCH_FUZZ=long)
settings.register_profile("fuzz", deadline=None)


@pytest.fixture(scope="session")
def alexnet_example(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``examples/compress_and_run.py`` run as a user runs it (AlexNet init:0, element + raw,
    compressed, then run beside the dense model): its store and its output. One AlexNet
    compress per session serves the example's test and every test that needs an AlexNet store;
    under pytest-xdist the workers share it (the first builds it under a file lock)."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # every worker's base is a sibling under the run's own directory
        shared = shared.parent
    path, output = shared / "stores" / "alexnet.zarr", shared / "stores" / "alexnet.out"
    with FileLock(str(shared / "stores.lock")):
        if not output.exists():
            path.parent.mkdir(exist_ok=True)
            script = Path(__file__).parent.parent / "examples" / "compress_and_run.py"
            proc = subprocess.run(
                [sys.executable, str(script), str(path)], capture_output=True, text=True, cwd=path.parent
            )
            assert proc.returncode == 0, proc.stderr[-2000:]
            output.write_text(proc.stdout)
    return path, output.read_text()


@pytest.fixture(scope="session")
def alexnet_store(alexnet_example: tuple[Path, str]) -> Path:
    """AlexNet init:0, element + raw: the issue's reference store."""
    return alexnet_example[0]


@pytest.fixture
def tiny_net() -> TinyNet:
    torch.manual_seed(1)
    return TinyNet().eval()

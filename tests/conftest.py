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

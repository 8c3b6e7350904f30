"""Shared fixtures: stores built once per session, small models for fast executor tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import settings
from tinynet import TinyNet

# ``--hypothesis-profile fuzz``: tests/test_fuzz.py's long, random run (as CODECBENCH_FUZZ=long)
settings.register_profile("fuzz", deadline=None)


@pytest.fixture(scope="session")
def alexnet_example(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``examples/compress_and_run.py`` run as a user runs it (AlexNet init:0, element + raw,
    compressed, then run beside the dense model): its store and its output. One AlexNet
    compress per session serves the example's test and every test that needs an AlexNet store."""
    path = tmp_path_factory.mktemp("stores") / "alexnet.zarr"
    script = Path(__file__).parent.parent / "examples" / "compress_and_run.py"
    proc = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True, cwd=path.parent)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return path, proc.stdout


@pytest.fixture(scope="session")
def alexnet_store(alexnet_example: tuple[Path, str]) -> Path:
    """AlexNet init:0, element + raw: the issue's reference store."""
    return alexnet_example[0]


@pytest.fixture
def tiny_net() -> TinyNet:
    torch.manual_seed(1)
    return TinyNet().eval()

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


#: fixtures whose tests share one xdist group (below)
ALEXNET_FIXTURES = frozenset({"alexnet_store", "alexnet_example"})


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Groups for pytest-xdist's ``--dist loadgroup`` (pyproject's addopts): a test runs in its
    file's group, so a module's fixtures run once, except the tests that use the session's
    AlexNet store, which form one group on one worker: no worker sits idle while the other
    builds the store. Runs before xdist reads the marks (tryfirst)."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            shared = ALEXNET_FIXTURES & set(getattr(item, "fixturenames", ()))
            item.add_marker(pytest.mark.xdist_group("alexnet-store" if shared else item.nodeid.split("::")[0]))


@pytest.fixture(scope="session")
def alexnet_example(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``examples/compress_and_run.py`` run as a user runs it (AlexNet init:0, element + raw,
    compressed, then run beside the dense model): its store and its output. One AlexNet
    compress per session serves the example's test and every test that needs an AlexNet store;
    those tests run on one xdist worker, and the file lock keeps a second builder (e.g. under
    ``--dist load``) waiting for the first instead of compressing again."""
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

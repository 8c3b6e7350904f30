"""Shared fixtures: stores built once per session, small models for fast executor tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import settings
from tinynet import TinyNet

from codecbench.compression import compress_model
from codecbench.store.config import StoreConfig

# ``--hypothesis-profile fuzz``: tests/test_fuzz.py's long, random run (as CODECBENCH_FUZZ=long)
settings.register_profile("fuzz", deadline=None)


@pytest.fixture(scope="session")
def alexnet_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """AlexNet init:0, element + raw: the issue's reference store (about 15 s to build)."""
    path = tmp_path_factory.mktemp("stores") / "alexnet.zarr"
    compress_model("alexnet", "init:0", path, StoreConfig.simple("element", "raw"), progress=False)
    return path


@pytest.fixture
def tiny_net() -> TinyNet:
    torch.manual_seed(1)
    return TinyNet().eval()

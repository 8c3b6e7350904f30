"""End to end: AlexNet and VGG-16 pruned + quantized (``compress --prune``), stored with each
pq formulation, run ``--check`` bit-exact against the dense model with the pruned weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import codecbench
from codecbench.cli import main


def _compress(path: Path, model: str, *extra: str) -> None:
    argv = ["compress", model, "--weights", "init:0", "--prune", "-o", str(path), "--quiet", *extra]
    assert main(argv) == 0


def _check(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> None:
    capsys.readouterr()
    assert main(["run", str(path), "--check", "--json", *extra]) == 0
    assert json.loads(capsys.readouterr().out)["bit_identical"] is True


def _mixed_config(path: Path, conv: str, fc: str) -> Path:
    path.write_text(
        f'[default]\nformulation = "{conv}"\ncodec = "wavelet-tree"\n\n'
        f'[[rules]]\nmatch = "classifier.*.weight"\nformulation = "{fc}"\ncodec = "wavelet-tree"\n'
    )
    return path


EXAMPLE_PRUNE = Path(__file__).parent.parent / "examples" / "prune-alexnet.toml"


@pytest.mark.slow
@pytest.mark.parametrize(
    "formulation, codec, prune_config",
    [("pq-element", "wavelet-tree", None), ("pq-block", "huffman-fast", EXAMPLE_PRUNE)],
)
def test_alexnet_pruned_bit_exact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], formulation: str, codec: str, prune_config: Path | None
) -> None:
    store = tmp_path / "alexnet-pq.zarr"
    extra = ["--prune-config", str(prune_config)] if prune_config else []
    _compress(store, "alexnet", "--formulation", formulation, "--codec", codec, *extra)
    opened = codecbench.open(store)
    prune = opened.attrs["prune"]
    assert prune["tensors"]["classifier.1.weight"]["keep"] == (0.09 if prune_config else 0.1)
    assert prune["tensors"]["features.0.weight"]["keep"] == (0.84 if prune_config else 0.4)
    assert prune["tensors"]["features.3.weight"]["bits"] == 8
    fc = opened.tensor("classifier.1.weight")
    assert np.count_nonzero(fc) == prune["tensors"]["classifier.1.weight"]["kept"]
    assert np.unique(fc[fc != 0]).size <= 32
    assert opened.info("features.0.weight")["formulation"] == formulation
    assert main(["verify", str(store)]) == 0
    _check(store, capsys, "--batch", "2")


@pytest.mark.slow
def test_vgg16_pruned_both_pq_formulations_bit_exact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Convs as pq-block (3x3 kernel slices) and fcs as pq-element in one store."""
    store = tmp_path / "vgg16-pq.zarr"
    _compress(store, "vgg16", "--config", str(_mixed_config(tmp_path / "pq.toml", "pq-block", "pq-element")))
    opened = codecbench.open(store)
    assert opened.info("features.0.weight")["formulation"] == "pq-block"
    assert opened.info("classifier.0.weight")["formulation"] == "pq-element"
    _check(store, capsys)

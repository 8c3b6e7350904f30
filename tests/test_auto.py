"""``compress --auto``: the per-layer choice by objective, recorded in the store, and the
AlexNet PQ store no larger than the best single (formulation, codec) pair for all layers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import codecbench
from codecbench.cli import main
from codecbench.compression import compress_state_dict
from codecbench.compression.auto import BALANCED_SLACK, choose
from codecbench.compression.measure import Pair
from codecbench.store.config import StoreConfig


def _result(size: int, seconds: float) -> dict:
    return {"stored_bytes": size, "decode_s": seconds, "skipped": None}


def test_choose_by_objective() -> None:
    a, b, c = Pair("element", "raw"), Pair("element", "wavelet-tree"), Pair("block", "raw")
    results = [
        (a, _result(100, 1.0)),
        (b, _result(80, 1.4)),
        (c, _result(60, 3.0)),
        (Pair("x", "y"), {"stored_bytes": None}),
    ]
    assert choose(results, "size") == c
    assert choose(results, "speed") == a
    assert choose(results, "balanced") == b  # smallest within 1.5x of the fastest
    assert BALANCED_SLACK == 1.5


def test_auto_records_candidates_and_round_trips(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(0)
    state = {
        "conv.weight": (torch.randint(-3, 4, (8, 4, 3, 3), generator=g) * 0.5).float(),
        "conv.bias": torch.zeros(8),
        "fc.weight": torch.randn(16, 32, generator=g),
    }
    path = compress_state_dict(
        state,
        tmp_path / "a.zarr",
        StoreConfig.simple(),
        progress=False,
        auto="size",
        auto_codecs=["raw", "huffman-fast"],
    )
    store = codecbench.open(path)
    assert store.attrs["auto"] == {"objective": "size"}
    for name in ("conv.weight", "fc.weight"):
        record = store.info(name)["auto"]
        measured = {c["pair"]: c["stored_bytes"] for c in record["candidates"] if c["stored_bytes"] is not None}
        assert record["chosen"] == min(measured, key=measured.get)
        assert store.info(name)["stored_nbytes"] == measured[record["chosen"]]  # the measured chunk is the stored one
        assert f"{store.info(name)['formulation']}/{store.info(name)['codec']}" == record["chosen"]
        store.verify(name)
    assert "auto" not in store.info("conv.bias")
    # float-split wins the unquantized fc weight; a 7-level conv weight goes element-wise or block-wise
    assert store.info("fc.weight")["formulation"] == "float-split"


def test_auto_option_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "s.zarr")
    assert main(["compress", "alexnet", "--auto", "size", "--codec", "raw", "-o", out]) == 2
    assert "--auto chooses" in capsys.readouterr().err
    assert main(["compress", "alexnet", "--auto-codecs", "raw", "-o", out]) == 2
    assert "--auto-codecs needs --auto" in capsys.readouterr().err
    assert main(["compress", "alexnet", "--auto", "size", "--auto-codecs", "nope", "-o", out, "--quiet"]) == 2
    assert "unknown codec 'nope'" in capsys.readouterr().err
    assert not Path(out).exists()


@pytest.mark.slow
def test_alexnet_pq_auto_size_beats_every_single_pair(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "auto.zarr"
    argv = ["compress", "alexnet", "--prune", "--auto", "size", "--auto-codecs", "huffman-fast"]
    assert main([*argv, "-o", str(store), "--quiet"]) == 0
    opened = codecbench.open(store)
    weights = [n for n in opened.keys() if opened.info(n).get("auto")]
    assert len(weights) == 8
    auto_total = sum(opened.info(n)["stored_nbytes"] for n in weights)
    per_pair: dict[str, list[int]] = {}
    for n in weights:
        for c in opened.info(n)["auto"]["candidates"]:
            if c["stored_bytes"] is not None:
                per_pair.setdefault(c["pair"], []).append(c["stored_bytes"])
    uniform = {pair: sum(sizes) for pair, sizes in per_pair.items() if len(sizes) == len(weights)}
    best_pair = min(uniform, key=uniform.get)
    assert auto_total <= uniform[best_pair]
    for n in weights:  # every recorded size is a measured chunk: the chosen one is what the store holds
        record = opened.info(n)["auto"]
        chosen = {c["pair"]: c["stored_bytes"] for c in record["candidates"]}[record["chosen"]]
        assert chosen == opened.info(n)["stored_nbytes"], n
    capsys.readouterr()
    assert main(["info", str(store)]) == 0
    assert "--auto size" in capsys.readouterr().out
    assert main(["run", str(store), "--check", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bit_identical"] is True
    assert np.all([opened.info(n)["auto"]["objective"] == "size" for n in weights])

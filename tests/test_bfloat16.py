"""bfloat16 end to end: formulations see ml_dtypes arrays, the store keeps uint16 bit patterns
(format version 2), plain zarr reads those bits, codecbench reads bfloat16 back, and a bfloat16
model runs from the store bit-identical to the dense one."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from tinynet import TinyNet

import codecbench
from codecbench.cli import main
from codecbench.compression import compress_state_dict
from codecbench.dtypes import BFLOAT16, to_numpy
from codecbench.executor.runner import same_bits
from codecbench.store.config import StoreConfig

FORMULATIONS = ["element", "block", "pq-element", "pq-block", "float-split"]


def bf16_state() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    conv = torch.randn(8, 3, 3, 3, generator=g).bfloat16()
    conv.view(-1)[:4] = torch.tensor([float("nan"), float("-inf"), -0.0, 1e-40]).bfloat16()
    return {
        "conv.weight": conv,
        "conv.bias": torch.randn(8, generator=g).bfloat16(),
        "fc.weight": torch.randn(5, 12, generator=g).bfloat16(),
        "other.weight": torch.randn(4, 4, generator=g),  # float32 beside bfloat16
    }


@pytest.mark.parametrize("formulation", FORMULATIONS)
def test_bfloat16_store_round_trip(tmp_path: Path, formulation: str) -> None:
    state = bf16_state()
    path = compress_state_dict(
        state, tmp_path / "s.zarr", StoreConfig.simple(formulation, "wavelet-tree"), progress=False
    )
    store = codecbench.open(path)
    assert store.attrs["format_version"] == 2
    for name, tensor in state.items():
        got = store.tensor(name)
        expected = to_numpy(tensor)
        assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes(), name
        store.verify(name)
    assert store.info("conv.weight")["dtype"] == "bfloat16"
    meta = json.loads((path / "conv.weight" / "zarr.json").read_text())
    assert meta["data_type"] == "uint16"
    assert meta["codecs"][0]["configuration"]["dtype"] == "bfloat16"
    assert "dtype" not in json.loads((path / "other.weight" / "zarr.json").read_text())["codecs"][0]["configuration"]


def test_plain_zarr_reads_bfloat16_bit_patterns_importing_ml_dtypes_only_then(tmp_path: Path) -> None:
    state = bf16_state()
    path = compress_state_dict(state, tmp_path / "s.zarr", StoreConfig.simple("float-split", "raw"), progress=False)
    script = textwrap.dedent(
        f"""
        import sys, zarr  # a fresh process: zarr finds the codecbench codec by its entry point
        import codecbench.executor.run
        group = zarr.open_group({str(path)!r}, mode="r")
        group["other.weight"][...]
        # ml_dtypes (1.4 s to import at 0.7) is imported only once a bfloat16 is met
        assert "ml_dtypes" not in sys.modules, "imported before any bfloat16"
        for name in ("conv.weight", "conv.bias"):
            array = group[name][...]
            sys.stdout.write(name + " " + str(array.dtype) + " " + array.tobytes().hex() + "\\n")
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        name, dtype, hexbytes = line.split()
        assert dtype == "uint16"
        assert bytes.fromhex(hexbytes) == to_numpy(state[name]).tobytes()


def test_stores_without_bfloat16_stay_version_1(tmp_path: Path) -> None:
    state = {"w": torch.randn(3, 3)}
    path = compress_state_dict(state, tmp_path / "s.zarr", StoreConfig.simple(), progress=False)
    assert codecbench.open(path).attrs["format_version"] == 1
    meta = json.loads((path / "w" / "zarr.json").read_text())
    assert set(meta["codecs"][0]["configuration"]) == {"formulation", "codec", "formulation_params", "codec_params"}


def test_bfloat16_model_runs_bit_exact(tmp_path: Path) -> None:
    torch.manual_seed(2)
    net = TinyNet().eval().to(torch.bfloat16)
    path = compress_state_dict(net.state_dict(), tmp_path / "t.zarr", StoreConfig.simple("float-split", "wavelet-tree"))
    store = codecbench.open(path)
    assert store.input_dtype() == torch.bfloat16
    x = torch.randn(2, 3, 20, 20, generator=torch.Generator().manual_seed(0)).bfloat16()
    with torch.inference_mode():
        expected = net(x)
        got = store.load_model(TinyNet(), group_weights=5000)(x)
        dense = store.dense_model(TinyNet())(x)
    assert got.dtype == torch.bfloat16
    assert same_bits(got, expected) and same_bits(dense, expected)


def test_bfloat16_prune_quantize_keeps_dtype() -> None:
    from codecbench.models.prune import prune_quantize

    w = to_numpy(torch.randn(64, 100).bfloat16())
    out, record = prune_quantize({"fc.weight": w})
    assert out["fc.weight"].dtype == BFLOAT16
    nonzero = out["fc.weight"].view(np.uint16) != 0
    assert int(nonzero.sum()) == record["tensors"]["fc.weight"]["kept"] == 640
    assert np.unique(out["fc.weight"][nonzero]).size <= 32


@pytest.mark.slow
def test_alexnet_bfloat16_float_split_bit_exact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from safetensors.torch import save_file

    from codecbench.models import load_weights

    weights = tmp_path / "alexnet-bf16.safetensors"
    save_file({k: v.bfloat16().contiguous() for k, v in load_weights("laplace:0", "alexnet").items()}, str(weights))
    store = tmp_path / "bf16.zarr"
    argv = ["compress", "alexnet", "--weights", str(weights), "--formulation", "float-split"]
    assert main([*argv, "--codec", "wavelet-tree", "-o", str(store), "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    # sign+exponent coded near H0, 7 mantissa bits raw: well under the 16 raw bits
    assert summary["ratio"] > 1.3
    assert main(["run", str(store), "--check", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bit_identical"] is True

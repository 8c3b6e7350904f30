"""Any checkpoint from the command line, the defaults that compress, ``run --model``, and the
public ``codecbench.compress``: keys kept verbatim, every tensor back bit-exact through plain
zarr, one-line errors naming the file and nothing left on disk for bad checkpoints."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr
from safetensors.torch import save_file
from torch import nn

import codecbench
from codecbench.cli import main
from codecbench.compression import default_plan
from codecbench.dtypes import to_numpy
from codecbench.errors import ConfigError, StoreError

HF_KEYS = ("model.layers.0.self_attn.q_proj.weight", "model.embed_tokens.weight")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("codecbench: error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def checkpoint_state() -> dict[str, torch.Tensor]:
    """Hugging Face-style dotted keys, three float dtypes, an integer buffer, a 1-D norm."""
    g = torch.Generator().manual_seed(0)
    return {
        HF_KEYS[0]: (torch.randn(256, 128, generator=g) * 0.02).bfloat16(),
        HF_KEYS[1]: torch.randn(500, 64, generator=g) * 0.02,
        "model.layers.0.mlp.up_proj.weight": (torch.randn(256, 128, generator=g) * 0.02).half(),
        "model.norm.weight": torch.ones(128),
        "model.position_ids": torch.arange(64).reshape(1, 64),
    }


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_checkpoint_compressed_from_the_cli_reads_back_with_plain_zarr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    state = checkpoint_state()
    path = tmp_path / f"model{suffix}"
    if suffix == ".pth":
        torch.save({"state_dict": state}, path)  # the wrapped form training scripts write
    else:
        save_file(state, str(path))
    store = tmp_path / "s.zarr"
    code, out, err = _run(capsys, "compress", str(path), "-o", str(store), "--quiet", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["stored_bytes"] < summary["original_bytes"]
    opened = codecbench.open(store)
    assert sorted(opened.keys()) == sorted(state) and opened.model is None  # safetensors sorts its keys
    for name in (HF_KEYS[0], "model.layers.0.mlp.up_proj.weight", HF_KEYS[1]):
        assert (opened.info(name)["formulation"], opened.info(name)["codec"]) == ("float-split", "huffman-fast")
    assert opened.info("model.position_ids")["storage"] == "plain"  # integers stay plain
    group = zarr.open_group(str(store), mode="r")
    for name, tensor in state.items():
        expected = to_numpy(tensor)
        bits = expected.view(np.uint16) if tensor.dtype == torch.bfloat16 else expected
        assert group[name][...].tobytes() == bits.tobytes(), name  # bfloat16: its bit patterns
        assert opened.tensor(name).tobytes() == expected.tobytes(), name
    assert _run(capsys, "verify", str(store))[0] == 0
    code, out, _ = _run(capsys, "info", str(store))
    header, *table = out.splitlines()
    assert code == 0 and "model (none recorded)" in header
    assert len({len(line) for line in table}) == 1  # columns aligned, long dotted keys included


def test_bad_checkpoints_are_one_line_and_leave_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 3)  # shorter than the 8-byte header length
    truncated = tmp_path / "truncated.safetensors"
    save_file({"w": torch.zeros(4, 4)}, str(truncated))
    truncated.write_bytes(truncated.read_bytes()[:20])
    pickled = tmp_path / "pickled.pth"
    torch.save({"w": torch.zeros(2, 2), "opt": torch.optim.SGD}, pickled)  # a class: weights_only refuses
    wrong = tmp_path / "wrong.pth"
    wrong.write_bytes(b"PK\x03\x04 not really a zip")
    float8 = tmp_path / "float8.safetensors"
    save_file({"w": torch.zeros(4, 4).to(torch.float8_e4m3fn)}, str(float8))
    for bad, needle in ((junk, "cannot read"), (truncated, "cannot read"), (pickled, "cannot read")):
        code, _, err = _run(capsys, "compress", str(bad), "-o", str(tmp_path / "out.zarr"))
        _one_line_error(code, err, bad.name, needle)
    code, _, err = _run(capsys, "compress", str(wrong), "-o", str(tmp_path / "out.zarr"))
    _one_line_error(code, err, wrong.name)
    code, _, err = _run(capsys, "compress", str(float8), "-o", str(tmp_path / "out.zarr"))
    _one_line_error(code, err, float8.name, "'w'", "float8_e4m3fn")
    code, _, err = _run(capsys, "compress", str(junk), "--weights", "init:0", "-o", str(tmp_path / "out.zarr"))
    _one_line_error(code, err, "--weights", "checkpoint")
    assert not (tmp_path / "out.zarr").exists()


def test_default_plans() -> None:
    w = np.ones((4, 4), np.float32)
    assert (default_plan(w, False).formulation, default_plan(w, False).codec) == ("float-split", "huffman-fast")
    assert default_plan(w, True, shared_values=256).formulation == "pq-joint"
    assert default_plan(w, True, shared_values=2**14).formulation == "pq-element"  # too many for a joint symbol
    assert default_plan(w, True).formulation == "pq-element"  # pruned, not shared
    assert default_plan(w, False, "wavelet-tree").codec == "wavelet-tree"
    for plain in (np.ones(4, np.float32), np.ones((4, 4), np.int64), np.ones((4, 4), bool), np.ones((0, 4))):
        assert default_plan(plain, False).storage == "plain"


def _factory_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> str:
    name = f"cb_models_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text("import torch\nfrom torch import nn\n\n" + body)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


MLP = """
def build():
    torch.manual_seed(1)  # other weights than the store's: the run must load the store's
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))


def not_a_module():
    return 42


def broken():
    raise ValueError("no GPU here")
"""


def test_run_a_checkpoint_store_with_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _factory_module(tmp_path, monkeypatch, MLP)
    torch.manual_seed(0)
    trained = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    torch.save(trained.state_dict(), tmp_path / "mlp.pt")
    store = str(tmp_path / "mlp.zarr")
    assert main(["compress", str(tmp_path / "mlp.pt"), "-o", store, "--codec", "wavelet-tree", "--quiet"]) == 0
    assert codecbench.open(store).info("0.weight")["codec"] == "wavelet-tree"  # --codec alone: default formulation
    code, _, err = _run(capsys, "run", store)
    _one_line_error(code, err, "records no built-in model", "--model package.module:factory")
    code, out, err = _run(
        capsys, "run", store, "--model", f"{module}:build", "--input-shape", "16", "--check", "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["bit_identical"] is True
    x = torch.randn(1, 16, generator=torch.Generator().manual_seed(0))
    assert result["top1"] == trained(x).argmax(dim=1).tolist()  # the store's weights, not build()'s
    for spec, needle in (
        ("no_colon", "expected package.module:factory"),
        ("no_such_module_xyz:build", "cannot import"),
        (f"{module}:absent", "no callable 'absent'"),
        (f"{module}:not_a_module", "returned a int"),
        (f"{module}:broken", "no GPU here"),
    ):
        code, _, err = _run(capsys, "run", store, "--model", spec, "--input-shape", "16")
        _one_line_error(code, err, spec, needle)
    code, _, err = _run(capsys, "run", store, "--model", f"{module}:build", "--input-shape", "16,x")
    _one_line_error(code, err, "--input-shape")


def test_keys_that_do_not_match_name_the_first_missing_and_unexpected(tmp_path: Path) -> None:
    torch.manual_seed(0)
    state = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2)).state_dict()
    state["extra.weight"] = torch.zeros(2, 2)
    del state["1.bias"]
    path = codecbench.compress(state, tmp_path / "s.zarr")
    store = codecbench.open(path)
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    for build in (store.load_model, store.dense_model):
        with pytest.raises(StoreError) as info:
            build(model)
        message = str(info.value)
        assert "lacks tensor '1.bias'" in message and "holds tensor 'extra.weight'" in message
        assert "\n" not in message


def test_public_compress(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 5)).eval()
    x = torch.randn(2, 3, 8, 8)
    path = codecbench.compress(model, tmp_path / "m.zarr")
    store = codecbench.open(path)
    assert store.info("0.weight")["formulation"] == "float-split" and store.info("0.bias")["storage"] == "plain"
    twin = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 5))
    with torch.inference_mode():
        assert store.load_model(twin)(x).numpy().tobytes() == model(x).numpy().tobytes()
    path = codecbench.compress(model.state_dict(), tmp_path / "e.zarr", formulation="element", codec="raw")
    assert codecbench.open(path).info("3.weight")["codec"] == "raw"
    pruned = codecbench.open(codecbench.compress(model, tmp_path / "p.zarr", prune=True, codec="wavelet-tree"))
    assert (pruned.info("3.weight")["formulation"], pruned.info("3.weight")["codec"]) == ("pq-joint", "wavelet-tree")
    with pytest.raises(ConfigError, match="config cannot be combined"):
        codecbench.compress(model, tmp_path / "x.zarr", config={}, codec="raw")
    with pytest.raises(ConfigError, match="unknown codec 'zip'"):
        codecbench.compress(model, tmp_path / "x.zarr", codec="zip")
    assert not (tmp_path / "x.zarr").exists()

"""The command line: outputs, --json, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from codecbench.cli import main
from codecbench.compression import compress_state_dict
from codecbench.store.config import StoreConfig


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def small_store(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    state = {"a.weight": rng.integers(-8, 8, (64, 9)).astype(np.float32), "a.bias": np.zeros(64, np.float32)}
    return Path(compress_state_dict(state, tmp_path / "small.zarr", StoreConfig.simple(), progress=False))


def _one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("codecbench: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_info_and_verify(capsys: pytest.CaptureFixture[str], small_store: Path) -> None:
    code, out, _ = _run(capsys, "info", str(small_store), "--json")
    assert code == 0
    info = json.loads(out)
    assert [t["name"] for t in info["tensors"]] == ["a.weight", "a.bias"]
    weight = info["tensors"][0]
    assert weight["formulation"] == "element" and weight["codec"] == "raw"
    assert weight["original_bytes"] == 64 * 9 * 4 and weight["stored_bytes"] > 0
    assert info["format_version"] == 1
    code, out, _ = _run(capsys, "info", str(small_store))
    assert code == 0 and "a.weight" in out and "total" in out
    code, out, _ = _run(capsys, "verify", str(small_store))
    assert code == 0 and "all 2 tensors verified" in out


def test_plugins_lists_builtins(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "plugins", "--json")
    entries = json.loads(out)
    assert code == 0
    assert {(e["kind"], e["name"]) for e in entries} >= {("codec", "raw"), ("formulation", "element")}
    assert all(e["distribution"] and e["version"] for e in entries)


def test_unknown_model(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, "compress", "resnet", "-o", str(tmp_path / "x.zarr"))
    _one_line_error(code, err, "unknown model 'resnet'", "alexnet")
    assert not (tmp_path / "x.zarr").exists()


def test_unknown_codec(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, "compress", "alexnet", "--codec", "zip", "-o", str(tmp_path / "x.zarr"))
    _one_line_error(code, err, "unknown codec 'zip'", "raw")
    assert list(tmp_path.iterdir()) == []


def test_malformed_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[default]\nformulation = \n")
    code, _, err = _run(capsys, "compress", "alexnet", "--config", str(config), "-o", str(tmp_path / "x.zarr"))
    _one_line_error(code, err, str(config), "malformed TOML")


def test_config_and_codec_exclusive(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, "compress", "alexnet", "--config", "x.toml", "--codec", "raw", "-o", "y")
    _one_line_error(code, err, "--config")


def test_bad_weight_source(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, "compress", "alexnet", "--weights", str(tmp_path / "no.pth"), "-o", str(tmp_path / "x"))
    _one_line_error(code, err, "no.pth")


def test_missing_store(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for command in ("info", "run", "verify"):
        code, _, err = _run(capsys, command, str(tmp_path / "absent.zarr"))
        _one_line_error(code, err, "absent.zarr", "no such store")


def test_corrupted_chunk(capsys: pytest.CaptureFixture[str], small_store: Path) -> None:
    chunk = small_store / "a.weight" / "c" / "0" / "0"
    data = bytearray(chunk.read_bytes())
    data[100] ^= 0xFF
    chunk.write_bytes(bytes(data))
    code, _, err = _run(capsys, "verify", str(small_store))
    _one_line_error(code, err, "a.weight", "checksum")


def test_run_needs_a_builtin_model(capsys: pytest.CaptureFixture[str], small_store: Path) -> None:
    code, _, err = _run(capsys, "run", str(small_store))
    _one_line_error(code, err, "records no built-in model")


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "frobnicate")
    _one_line_error(code, err, "invalid choice")
    code, _, err = _run(capsys, "run", "x.zarr", "--batch", "many")
    _one_line_error(code, err, "--batch")


def test_real_process_exit_code_and_debug(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "codecbench.cli", "info", str(tmp_path / "absent.zarr")]
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    proc = subprocess.run([*argv[:3], "--debug", *argv[3:]], capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


ARRAY_METADATA_EDITS = {
    "shape": lambda m: m.update(shape=[65, 9]),
    "codec params": lambda m: m["codecs"][0]["configuration"]["codec_params"].update(extra=1),
    "codec": lambda m: m["codecs"][0]["configuration"].update(codec="wavelet-tree"),
    "record sha256": lambda m: m["attributes"]["codecbench"].update(sha256="0" * 64),
    "fill value": lambda m: m.update(fill_value=1.0),
    "dropped key": lambda m: m.pop("chunk_key_encoding"),
}


@pytest.mark.parametrize("edit", sorted(ARRAY_METADATA_EDITS))
def test_verify_catches_an_array_zarr_json_that_differs_from_the_consolidated_copy(
    capsys: pytest.CaptureFixture[str], small_store: Path, edit: str
) -> None:
    """Plain zarr reads an array's own zarr.json, codecbench the consolidated copy in the root:
    verify compares them and names the array and the first field that differs."""
    own = small_store / "a.weight" / "zarr.json"
    metadata = json.loads(own.read_text())
    ARRAY_METADATA_EDITS[edit](metadata)
    own.write_text(json.dumps(metadata))
    code, _, err = _run(capsys, "verify", str(small_store))
    _one_line_error(code, err, "1 of 2 tensors failed", "tensor 'a.weight'", "differs from the consolidated metadata")


def test_a_closed_pipe_ends_quietly() -> None:
    """``codecbench plugins --json | head -1``: the reader goes away; no traceback, exit 141."""
    import os

    read, write = os.pipe()
    os.close(read)  # nobody reads: the first write meets EPIPE
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "codecbench.cli", "plugins", "--json"], stdout=write, stderr=subprocess.PIPE
        )
    finally:
        os.close(write)
    assert proc.returncode == 141 and proc.stderr == b""

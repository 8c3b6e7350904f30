"""Every example runs as a user would run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"


def _run(*args: str, cwd: Path) -> str:
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_custom_model(tmp_path: Path) -> None:
    out = _run(str(EXAMPLES / "custom_model.py"), str(tmp_path / "custom.zarr"), cwd=tmp_path)
    assert "bit-identical: True" in out


def test_lazy_open(tmp_path: Path, alexnet_store: Path) -> None:
    out = _run(str(EXAMPLES / "lazy_open.py"), str(alexnet_store), cwd=tmp_path)
    assert "features.0.weight: element/raw" in out and "equals the dense slice: True" in out


def test_compress_and_run(alexnet_example: tuple[Path, str]) -> None:
    """The example runs in the session fixture (its store is every AlexNet test's store)."""
    assert "bit-identical to the dense model: True" in alexnet_example[1]


@pytest.mark.slow
def test_mixed_config(tmp_path: Path) -> None:
    out = _run(str(EXAMPLES / "mixed_config.py"), str(tmp_path / "m.zarr"), cwd=tmp_path)
    assert "bit-identical" in out and "plain" in out


def test_gpt2_float_split(tmp_path: Path) -> None:
    argv = [str(EXAMPLES / "gpt2_float_split.py"), str(tmp_path), "--layers", "2", "--width", "64", "--vocab", "512"]
    lines = _run(*argv, cwd=tmp_path).splitlines()
    assert len(lines) == 2 and all(line.endswith(("bit-identical", "LLMs")) for line in lines)
    assert "torch.bfloat16" in lines[0] and "; bit-identical;" in lines[0] and "DFloat11" in lines[0]
    assert "torch.float32" in lines[1] and lines[1].endswith("; bit-identical")

"""The wavelet-tree benchmark script runs end to end (tiny n, raw only) and writes its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

H0_RANGES = {"gaussian256": (5.2, 5.6), "kmeans32": (3.7, 4.1), "uniform256": (7.9, 8.0)}
RAW_WIDTH = {"gaussian256": 8, "kmeans32": 5, "uniform256": 8}


def test_quick_run_with_raw(tmp_path: Path) -> None:
    out = tmp_path / "tmp.json"
    cmd = [sys.executable, "-m", "codecbench.bench.wavelet_tree", "--n", "20000", "--quick", "--codecs", "raw"]
    proc = subprocess.run([*cmd, "--json", str(out)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "targets" in proc.stdout

    report = json.loads(out.read_text())
    assert report["config"]["n"] == 20000
    assert set(report["datasets"]) == set(H0_RANGES)
    for name, (lo, hi) in H0_RANGES.items():
        ds = report["datasets"][name]
        assert lo <= ds["h0"] <= hi, (name, ds["h0"])
        assert ds["h0"] <= ds["huffman_bits"] < ds["h0"] + 1, (name, ds["huffman_bits"])
        raw = ds["codecs"]["raw"]
        # raw packs ceil(log2 sigma) bits per symbol plus a 32-byte header
        assert RAW_WIDTH[name] < raw["bits_per_symbol"] < RAW_WIDTH[name] + 0.1, (name, raw["bits_per_symbol"])
        assert raw["batch_mq_s"] == {"access_many": None, "rank_many": None}

"""The codec benchmark runs end to end (tiny n: raw, the wavelet tree in its declared variants,
and the paper's huffman, named) and writes its JSON; the library reference row is there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

H0_RANGES = {"gaussian256": (5.2, 5.6), "kmeans32": (3.7, 4.1)}
RAW_WIDTH = {"gaussian256": 8, "kmeans32": 5}


def test_quick_run(tmp_path: Path) -> None:
    out = tmp_path / "tmp.json"
    cmd = [sys.executable, "-m", "codecbench.bench.codecs", "--n", "20000", "--quick", "--no-progress"]
    cmd += ["--codecs", "raw,wavelet-tree,huffman", "--datasets", "gaussian256,kmeans32", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "targets" in proc.stdout
    report = json.loads(out.read_text())
    assert report["config"]["n"] == 20000 and set(report["datasets"]) == set(H0_RANGES)
    for name, (lo, hi) in H0_RANGES.items():
        ds = report["datasets"][name]
        assert lo <= ds["h0"] <= hi and ds["h0"] <= ds["huffman_bits"] < ds["h0"] + 1, name
        rows = ds["codecs"]
        # variants come from the codec's declaration; the reference row is measured beside them
        assert set(rows) == {
            "raw",
            "wavelet-tree[shape=huffman]",
            "wavelet-tree[shape=balanced]",
            "huffman",
            "zstd-call",
        }
        raw = rows["raw"]
        # raw packs ceil(log2 sigma) bits per symbol plus a 32-byte header
        assert RAW_WIDTH[name] < raw["bits_per_symbol"] < RAW_WIDTH[name] + 0.1, (name, raw["bits_per_symbol"])
        assert raw["batch_mq_s"]["access_many"]["native"] is False  # the contract's default loop
        assert rows["wavelet-tree[shape=huffman]"]["batch_mq_s"]["access_many"]["native"] is True
        # a codec that decodes from the start gets no latencies (each would decode the stream)
        assert rows["huffman"]["latency"] == {} and rows["huffman"]["decode_msym_s"] > 0
        # whole-stream decode into a narrow buffer, and (not for a slow codec) a new uint32 array
        assert rows["huffman"]["new_u32_msym_s"] is None and raw["new_u32_msym_s"] > 0
        assert rows["zstd-call"]["vs_h0"] < 1.2

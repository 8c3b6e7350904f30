"""The formulations benchmark runs end to end (three AlexNet tensors, raw codec) and its JSON
holds consistent figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_quick_run_with_raw(tmp_path: Path) -> None:
    out = tmp_path / "f.json"
    cmd = [sys.executable, "-m", "codecbench.bench.formulations", "--quick", "--codecs", "raw", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "prune + quantize 3 tensors" in proc.stdout
    report = json.loads(out.read_text())
    original = report["no-PQ"]["original_bytes"]
    assert original == (64 * 3 * 11 * 11 + 192 * 64 * 5 * 5 + 384 * 192 * 3 * 3) * 4
    rows = {r["formulation"]: r for r in report["no-PQ"]["rows"] + report["PQ"]["rows"]}
    assert set(rows) == {"element", "block", "float-split", "pq-element", "pq-block", "pq-joint"}
    for row in rows.values():
        stored = row["codecs"]["raw"]["stored_bytes"]
        assert stored >= row["side_bytes"] and row["bound_bytes"] > 0
    # float-split stores the 23 mantissa bits raw: it cannot go below 23/32 of the original
    assert rows["float-split"]["side_bytes"] >= original * 23 / 32
    # after 90%/60% pruning the pq streams are far smaller than the dense ones
    assert rows["pq-element"]["codecs"]["raw"]["stored_bytes"] < original / 3

"""``codecbench bench --quick``: runs end to end through the CLI, and its JSON is internally
consistent (sizes add up, ratios match sizes, every chunk checked, inference beside dense).

One run serves every test: with ``--slow-max-symbols 1000000`` the paper's huffman (a ``slow``
codec) is timed on every pruned layer, so its PQ store runs beside dense, while the unpruned
setting's largest float-split layer (4.1M symbols) is sized only, so that setting shows the limit."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from codecbench.cli import main

CODECS = "wavelet-tree,huffman-fast,huffman"
SLOW_MAX = 1_000_000


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("bench")
    argv = ["bench", "--quick", "--codecs", CODECS, "--formulations", "element,pq-element,float-split"]
    argv += ["--slow-max-symbols", str(SLOW_MAX)]
    assert main([*argv, "--batch", "1", "--repeat", "1", "-o", str(out), "--quiet"]) == 0
    return json.loads((out / "results.json").read_text()), out


def test_outputs_written(quick: tuple[dict, Path]) -> None:
    results, out = quick
    assert (out / "tables.md").read_text().count("\n### alexnet") == 2
    assert (out / "layers.csv").read_text().splitlines()[0].startswith("model,pq,layer")
    summary = (out / "summary.md").read_text()
    assert "| alexnet | no | 26.26 |" in summary and "| alexnet | yes | 26.26 |" in summary  # quick: 6 layers
    plots = results["outputs"]["plots"]
    assert isinstance(plots, str) or all((out / p).stat().st_size > 1000 for p in plots)


def test_sizes_add_up_and_ratios_match(quick: tuple[dict, Path]) -> None:
    results, _ = quick
    setting_names = set()
    for setting_name, setting in results["models"]["alexnet"]["settings"].items():
        setting_names.add(setting_name)
        layers = setting["layers"]
        assert set(layers) == {f"features.{i}.weight" for i in (0, 3, 6, 8, 10)} | {"classifier.6.weight"}
        for row in layers.values():
            for label, p in row["pairs"].items():
                assert (p["stored_bytes"] is None) == (p["skipped"] is not None), label
                if p["stored_bytes"] is not None:
                    assert (p["decode_s"] is None) == (p["untimed"] is not None), label
                    assert p["n_symbols"] > 0 and (p["decode_s"] is None or p["decode_s"] > 0)
                    bound = p["n_symbols"] * p["h0_bits"] / 8 + p["side_bytes"]
                    assert p["stored_bytes"] >= p["side_bytes"] and bound > 0
        totals = setting["totals"]
        for label, total in totals["all"]["pairs"].items():
            parts = [totals[g]["pairs"][label]["stored_bytes"] for g in ("conv", "fc")]
            assert (
                total["stored_bytes"] == sum(parts) == sum(r["pairs"][label]["stored_bytes"] for r in layers.values())
            )
            assert math.isclose(total["cr"], totals["all"]["original_bytes"] / total["stored_bytes"])
        assert totals["all"]["original_bytes"] == sum(r["original_bytes"] for r in layers.values())
    assert setting_names == {"no", "yes"}
    # the no-PQ element column is skipped on unquantized floats (nearly every value distinct)
    skipped = results["models"]["alexnet"]["settings"]["no"]["layers"]["classifier.6.weight"]["pairs"]
    assert skipped["element/huffman-fast"]["skipped"]


def test_inference_beside_dense(quick: tuple[dict, Path]) -> None:
    results, _ = quick
    inference = results["models"]["alexnet"]["settings"]["yes"]["inference"]
    assert set(inference) == {
        "dense",
        "pq-element/huffman-fast",
        "pq-element/huffman",
        "pq-element/wavelet-tree[shape=huffman]",
    }
    for label in set(inference) - {"dense"}:
        entry = inference[label]["1"]
        assert math.isclose(entry["vs_dense"], entry["seconds"] / inference["dense"]["1"]["seconds"])
        assert math.isclose(
            entry["speedup_vs_huffman"], inference["pq-element/huffman"]["1"]["seconds"] / entry["seconds"]
        )
        assert entry["top1"] == inference["dense"]["1"]["top1"]  # same weights, same answer
        assert entry["peak_rss_mb"] > 0
    unpruned = results["models"]["alexnet"]["settings"]["no"]["inference"]
    assert unpruned["float-split/huffman-fast"]["1"]["top1"] == unpruned["dense"]["1"]["top1"]


def test_bad_options_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for argv in (
        ["--pq", "maybe"],
        ["--batch", "x"],
        ["--models", "resnet"],
        ["--codecs", "nope"],
        ["--slow-max-symbols", "-1"],
    ):
        assert main(["bench", *argv, "-o", str(tmp_path / "b"), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("codecbench: error:") and "\n" not in err


def test_slow_codec_sized_everywhere_timed_up_to_its_limit(quick: tuple[dict, Path]) -> None:
    """A ``slow`` codec (the paper's huffman) is encoded on every layer, so the whole-model
    totals have its column, but timed only on layers up to --slow-max-symbols (the others are
    marked untimed); then no fully timed huffman store exists, so its inference is skipped, not
    half-measured. The huffman-fast column is unaffected, and huffman (it decodes from the
    start) runs only on element and the main formulation."""
    results, out = quick
    assert results["config"]["slow_max_symbols"] == SLOW_MAX
    setting = results["models"]["alexnet"]["settings"]["no"]
    long_layers = 0
    for row in results["models"]["alexnet"]["settings"]["yes"]["layers"].values():
        # pruned: the main formulation is pq-element; float-split is measured, but not with huffman
        assert "float-split/huffman-fast" in row["pairs"] and "float-split/huffman" not in row["pairs"]
    for name, row in setting["layers"].items():
        hf = row["pairs"]["float-split/huffman"]
        assert row["pairs"]["float-split/huffman-fast"]["decode_s"] > 0, name
        assert hf["stored_bytes"] is not None and hf["skipped"] is None, name
        if hf["n_symbols"] > SLOW_MAX:
            long_layers += 1
            assert hf["decode_s"] is None and f"symbols > {SLOW_MAX}" in hf["untimed"], name
        else:
            assert hf["decode_s"] > 0 and hf["untimed"] is None, name
    assert long_layers == 1  # classifier.6
    total = setting["totals"]["all"]["pairs"]["float-split/huffman"]
    assert total["stored_bytes"] > 0 and total["decode_s"] is None
    inference = setting["inference"]
    assert "not coded or not timed" in inference["float-split/huffman"]["skipped"]
    assert "speedup_vs_huffman" not in inference["float-split/huffman-fast"]["1"]
    assert "skipped: " in (out / "tables.md").read_text()

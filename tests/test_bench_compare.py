"""``codecbench bench --quick``: runs end to end through the CLI, and its JSON is internally
consistent (sizes add up, ratios match sizes, every chunk checked, inference beside dense)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from codecbench.cli import main

CODECS = "wavelet-tree,huffman-fast,huffman"


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("bench")
    argv = ["bench", "--quick", "--codecs", CODECS, "--formulations", "element,pq-element,float-split"]
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
                    assert p["decode_s"] > 0 and p["n_symbols"] > 0
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
    for setting_name, main_formulation in (("no", "float-split"), ("yes", "pq-element")):
        inference = results["models"]["alexnet"]["settings"][setting_name]["inference"]
        assert "dense" in inference
        stores = [k for k in inference if k != "dense"]
        assert f"{main_formulation}/huffman-fast" in stores and f"{main_formulation}/huffman" in stores
        for label in stores:
            entry = inference[label]["1"]
            assert math.isclose(entry["vs_dense"], entry["seconds"] / inference["dense"]["1"]["seconds"])
            assert math.isclose(
                entry["speedup_vs_huffman"], inference[f"{main_formulation}/huffman"]["1"]["seconds"] / entry["seconds"]
            )
            assert entry["top1"] == inference["dense"]["1"]["top1"]  # same weights, same answer
            assert entry["peak_rss_mb"] > 0


def test_bad_options_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for argv in (
        ["--pq", "maybe"],
        ["--batch", "x"],
        ["--models", "resnet"],
        ["--codecs", "nope"],
        ["--huffman-max-symbols", "-1"],
    ):
        assert main(["bench", *argv, "-o", str(tmp_path / "b"), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("codecbench: error:") and "\n" not in err


def test_paper_huffman_limits_are_recorded(tmp_path: Path) -> None:
    """Layers over --huffman-max-symbols are skipped for the paper's huffman with the reason;
    then no complete huffman store exists, so its inference is skipped, not half-measured.
    The huffman-fast column is unaffected, and huffman runs only on element and the main
    formulation."""
    out = tmp_path / "b"
    argv = ["bench", "--quick", "--pq", "yes", "--codecs", "huffman,huffman-fast"]
    argv += ["--formulations", "pq-element,pq-block", "--huffman-max-symbols", "200000"]
    assert main([*argv, "-o", str(out), "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["huffman_max_symbols"] == 200000
    setting = results["models"]["alexnet"]["settings"]["yes"]
    for name, row in setting["layers"].items():
        assert "pq-block/huffman" not in row["pairs"]  # not where the paper has it
        hf = row["pairs"]["pq-element/huffman"]
        fast = row["pairs"]["pq-element/huffman-fast"]
        assert fast["stored_bytes"] is not None, name
        if hf["n_symbols"] > 200000:
            assert hf["stored_bytes"] is None and "symbols > 200000" in hf["skipped"], name
        else:
            assert hf["stored_bytes"] is not None and hf["decode_s"] > 0, name
    assert "pq-element/huffman" not in setting["totals"]["all"]["pairs"]
    inference = setting["inference"]
    assert "layer(s) not coded" in inference["pq-element/huffman"]["skipped"]
    assert "speedup_vs_huffman" not in inference["pq-element/huffman-fast"]["1"]
    assert "skipped: " in (out / "tables.md").read_text()

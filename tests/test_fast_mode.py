"""Fast mode: ``pq-*`` linear layers computed straight from their (gap, entry) tuples, checked
element by element against the forward error bound of a dot product (codecbench.executor.bound).

Speed is the benchmark's business (``python -m codecbench.bench.fast``), not asserted here.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tinynet import TinyNet, pruned_tinynet, store_of

import codecbench
from codecbench.cli import main
from codecbench.errors import CodecbenchError, ConfigError
from codecbench.executor.bound import bound_fraction, check_layers, gamma
from codecbench.executor.engine import _fast_group
from codecbench.executor.run import fast_layers
from codecbench.executor.runner import same_bits
from codecbench.formulations.base import group_spans
from codecbench.formulations.pq import PQFormulation
from codecbench.fused import decode_span
from codecbench.fused.pq import PQFused
from codecbench.registry import get_registry

X = torch.randn(2, 3, 20, 20, generator=torch.Generator().manual_seed(3))
TINY = ["--model", "tinynet:TinyNet", "--input-shape", "3,20,20"]


@pytest.fixture(scope="module")
def pruned() -> TinyNet:
    return pruned_tinynet()


@pytest.mark.parametrize(
    ("formulation", "codec"),
    [
        ("pq-element", "huffman-fast"),
        ("pq-block", "huffman-fast"),
        ("pq-joint", "huffman-fast"),
        ("pq-element", "wavelet-tree"),
    ],
)
def test_fast_layers_within_the_bound_exact_mode_unchanged(
    tmp_path: Path, pruned: TinyNet, formulation: str, codec: str
) -> None:
    store = codecbench.open(store_of(tmp_path, pruned, formulation, codec))
    fast = store.load_model(TinyNet(), mode="fast", group_weights=640 * 64)  # head.0 in 5 groups
    assert fast_layers(fast) == ["head.0", "head.2"]
    reports = check_layers(fast, X)
    assert [(r["name"], r["fan_in"], r["elements"]) for r in reports] == [("head.0", 640, 600), ("head.2", 300, 20)]
    assert all(r["violations"] == 0 and 0 <= r["max_fraction"] < 1 for r in reports)
    exact = store.load_model(TinyNet())
    assert fast_layers(exact) == []
    with torch.inference_mode():
        assert same_bits(exact(X), pruned(X))


def test_bound_fraction_against_a_hand_computed_case() -> None:
    """K = 2, u = 2**-24: the bound is gamma_3 (|W||x| + |b|); an error of exactly half of it
    reads 0.5, one twice as large is a violation, and a NaN where the exact result is finite is one too."""
    w64 = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    x = torch.tensor([[3.0, 1.0]])
    bias = torch.tensor([0.5])
    bound = gamma(3, 2.0**-24) * (3.0 + 2.0 + 0.5)
    exact = 3.0 - 2.0 + 0.5
    fraction, violations = bound_fraction(x, torch.tensor([[exact + bound / 2]]).float(), w64, bias)
    assert violations == 0 and fraction == pytest.approx(abs(float(np.float32(exact + bound / 2)) - exact) / bound)
    assert bound_fraction(x, torch.tensor([[exact + 8 * bound]]), w64, bias)[1] == 1
    assert bound_fraction(x, torch.tensor([[float("nan")]]), w64, bias) == (float("inf"), 1)
    assert bound_fraction(x, torch.tensor([[exact]]), w64, bias) == (0.0, 0)


def _pruned_matrix(seed: int, shape: tuple[int, int], density: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    levels = rng.standard_normal(12).astype(np.float32)
    w = levels[rng.integers(0, 12, size=shape)]
    w[rng.random(shape) >= density] = 0
    w[0, :] = 0  # an empty unit
    w[1, -1] = levels[0]  # a nonzero in the last column
    return w


@pytest.mark.parametrize("formulation", ["pq-element", "pq-block", "pq-joint"])
@pytest.mark.parametrize("codec", ["raw", "huffman-fast"])
@pytest.mark.parametrize("batch", [1, 3])
def test_fused_linear_is_the_plain_sparse_linear_bit_for_bit(formulation: str, codec: str, batch: int) -> None:
    """Spans of ~30k symbols cross the fused kernel's 4096-symbol chunks (tuples cut in two
    included); gap_bits=3 forces filler tuples. Same bits as extract + sparse_linear, and
    within the bound of the float64 product."""
    registry = get_registry()
    w = _pruned_matrix(batch, (64, 2000), 0.12)
    form = registry.formulation(formulation)
    ras = form.encode(w, gap_bits=3)  # pq-joint: 3 gap + 4 entry bits
    coder = registry.codec(codec)
    seq = coder.open(coder.encode(ras.symbols, ras.alphabet_size))
    fused = registry.fused(formulation, codec)
    assert fused.computes_linear and fused.applies(ras, seq)
    xt = np.ascontiguousarray(np.random.default_rng(7).standard_normal((2000, batch)).astype(np.float32))
    cuts = [0, 1, 2, 17, 40, 64]
    spans = group_spans(seq, ras, cuts).tolist()
    for (k0, k1), (start, stop) in zip(zip(cuts[:-1], cuts[1:], strict=True), spans, strict=True):
        got = np.full((k1 - k0, batch), np.nan, dtype=np.float32)
        want = np.full((k1 - k0, batch), np.nan, dtype=np.float32)
        assert fused.linear(ras, seq, start, stop, k0, k1, xt, got) == 0
        form.sparse_linear(ras, seq.extract(start, stop), k0, k1, xt, want)
        assert got.tobytes() == want.tobytes(), f"units [{k0}, {k1})"
        fraction, violations = bound_fraction(
            torch.from_numpy(xt.T.copy()), torch.from_numpy(got.T.copy()), torch.from_numpy(w[k0:k1]).double(), None
        )
        assert violations == 0 and fraction < 1


def test_an_off_by_one_accumulation_fails_the_check(
    tmp_path: Path, pruned: TinyNet, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run --mode fast --check`` passes on the real kernel, with the bound fraction of each
    fast layer and top-1 over 64 seeded inputs; with every weight read one column off (an
    off-by-one gap) it exits 1 and names the layers outside the bound."""
    store = str(store_of(tmp_path, pruned, "pq-element", "huffman-fast"))
    argv = ["run", store, *TINY, "--mode", "fast", "--check"]
    assert main([*argv, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["compute"] == "fast" and result["fast_layers"] == ["head.0", "head.2"]
    assert result["bound"]["within"] and result["passed"]
    assert [r["name"] for r in result["bound"]["layers"]] == ["head.0", "head.2"]
    assert result["top1_agreement"] == {"inputs": 64, "agree": 64, "first_disagreement": None}
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "of the bound: within" in text and "top-1 equal to the dense model on 64/64" in text

    original = PQFormulation.sparse_linear

    def one_column_off(self, ras, symbols, k0, k1, xt, out):  # noqa: ANN001, ANN202
        shifted = np.zeros_like(xt)
        shifted[:-1] = xt[1:]  # each weight meets the input of the column after its own
        original(self, ras, symbols, k0, k1, shifted, out)

    monkeypatch.setattr(PQFormulation, "sparse_linear", one_column_off)
    monkeypatch.setattr(PQFused, "computes_linear", False)  # the plain path, which calls sparse_linear
    assert main([*argv, "--json"]) == 1
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert not result["bound"]["within"] and not result["passed"]
    assert all(r["violations"] > 0 and r["max_fraction"] > 1 for r in result["bound"]["layers"])
    assert (
        captured.err.strip()
        == "codecbench: error: compressed and dense outputs outside the error bound or top-1 differs"
    )


def test_fast_mode_on_a_store_without_pq_layers_runs_exactly(
    tmp_path: Path, tiny_net: TinyNet, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(store_of(tmp_path, tiny_net, "element", "raw"))
    assert main(["run", store, *TINY, "--mode", "fast", "--check"]) == 0
    out = capsys.readouterr().out
    assert "no pq-* linear layer that fast mode computes; every layer ran exactly" in out
    assert "outputs bit-identical" in out
    # the flag's earlier name still selects fast mode
    assert main(["run", store, *TINY, "--sparse-compute", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["compute"] == "fast" and result["fast_layers"] == []


def test_mode_errors_are_one_line(tmp_path: Path, tiny_net: TinyNet, capsys: pytest.CaptureFixture[str]) -> None:
    store = store_of(tmp_path, tiny_net, "element", "raw")
    assert main(["run", str(store), *TINY, "--dense", "--mode", "fast"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "codecbench: error: --dense runs the plain torch model: no --mode fast, --profile or --cache-mb"
    with pytest.raises(ConfigError, match="mode must be one of exact, fast, not 'quick'"):
        codecbench.open(store).load_model(TinyNet(), mode="quick")


@pytest.mark.parametrize(
    ("formulation", "codec"), [("pq-element", "raw"), ("pq-element", "huffman-fast"), ("pq-joint", "huffman-fast")]
)
def test_corrupted_payloads_fail_alike_in_both_modes(
    tmp_path: Path, pruned: TinyNet, formulation: str, codec: str
) -> None:
    """Random byte flips in a layer's payload: fast mode (the fused kernel, then the plain path
    on a corruption) raises exactly the error exact mode raises, naming the tensor, or both
    succeed; the walk's checks keep every read of the input and every write of the output
    inside the unit (a gap past the unit, an entry past the dictionary are errors)."""
    store = codecbench.open(store_of(tmp_path, pruned, formulation, codec))
    opened = store.open_tensor("head.0.weight")
    coder = get_registry().codec(codec)
    ras, n = opened.ras, opened.ras.n_units
    xt = np.ascontiguousarray(X.reshape(2, -1)[:, :640].numpy().T)
    rng = np.random.default_rng(5)
    compared = failed = 0
    base = coder.encode(opened.sequence.extract(0, len(opened.sequence)), ras.alphabet_size)
    for _ in range(60):
        body = bytearray(base)
        for _ in range(int(rng.integers(1, 4))):
            i = int(rng.integers(len(body) // 4, len(body)))
            body[i] ^= int(rng.integers(1, 256))
        try:
            seq = coder.open(bytes(body))
            spans = group_spans(seq, ras, [0, n]).tolist()
        except CodecbenchError:
            continue  # refused before any layer runs, in either mode
        corrupted = dataclasses.replace(opened, sequence=seq)
        if corrupted.fused is not None and not corrupted.fused.applies(ras, seq):
            corrupted = dataclasses.replace(corrupted, fused=None)
        ((start, stop),) = spans
        exact_error = fast_error = None
        try:
            decode_span(ras, seq, opened.formulation, corrupted.fused, start, stop, 0, n, np.empty(n * 640, np.float32))
        except CodecbenchError as exc:
            exact_error = str(opened.failure(exc))
        try:
            _fast_group(corrupted, start, stop, 0, n, xt, np.empty((n, 2), np.float32))
        except CodecbenchError as exc:
            fast_error = str(exc)
        assert fast_error == exact_error
        compared += 1
        failed += exact_error is not None
    assert compared >= 30 and failed >= 5, (compared, failed)
    assert "tensor 'head.0.weight'" in str(opened.failure(CodecbenchError("x")))

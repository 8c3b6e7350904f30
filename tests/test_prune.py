"""Deep Compression's prune + quantize: exact keep counts, zeros kept +0.0, at most 2**bits
shared values, seeded determinism, config parsing, and the CLI path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codecbench.cli import main
from codecbench.errors import ConfigError
from codecbench.models.prune import PruneConfig, kmeans_1d, magnitude_prune, prune_quantize, share_weights


def weights(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).laplace(0, 0.05, size=shape).astype(np.float32)


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, 500), keep=st.floats(0, 1), seed=st.integers(0, 1000))
def test_magnitude_prune_keeps_exactly_the_largest(size: int, keep: float, seed: int) -> None:
    w = weights(seed, (size,))
    pruned, kept = magnitude_prune(w, keep)
    assert kept == round(keep * size)
    nonzero = pruned != 0
    assert int(nonzero.sum()) == kept  # laplace samples are never exactly zero
    assert np.array_equal(pruned[nonzero], w[nonzero])
    assert not np.any(np.signbit(pruned[~nonzero]))  # pruned weights are +0.0, bit for bit
    if 0 < kept < size:
        assert np.abs(w[nonzero]).min() >= np.abs(w[~nonzero]).max()


@pytest.mark.parametrize("bits", [1, 3, 5, 8])
def test_share_weights_uses_at_most_2_to_bits_values_and_keeps_zeros(bits: int) -> None:
    w, _ = magnitude_prune(weights(1, (64, 300)), 0.3)
    q, used = share_weights(w, bits, 4096, seed=0)
    assert q.dtype == w.dtype and q.shape == w.shape
    zeros = w.view(np.uint32) == 0
    assert np.array_equal(q.view(np.uint32)[zeros], w.view(np.uint32)[zeros])
    distinct = np.unique(q[~zeros])
    assert distinct.size == used <= 1 << bits
    # each kept weight maps to its nearest centroid
    centroids = distinct.astype(np.float64)
    nearest = centroids[np.abs(w[~zeros][:, None].astype(np.float64) - centroids[None, :]).argmin(axis=1)]
    assert np.allclose(q[~zeros], nearest, rtol=0, atol=1e-7)


def test_kmeans_1d_finds_separated_clusters() -> None:
    data = np.sort(np.concatenate([np.full(50, -1.0), np.full(30, 0.2), np.full(20, 3.0)]))
    assert np.allclose(kmeans_1d(data, 3), [-1.0, 0.2, 3.0])


def test_linear_init_uses_every_level_despite_the_pruned_band() -> None:
    """Centroids spread over the kept range, not over the empty band pruning leaves around zero."""
    w = np.random.default_rng(2).uniform(-1, 1, (100, 1000)).astype(np.float32)
    q, used = share_weights(magnitude_prune(w, 0.1)[0], 5, 65536, seed=0)
    assert used == 32


def test_prune_quantize_defaults_and_passthrough() -> None:
    state = {"conv.weight": weights(3, (8, 4, 3, 3)), "conv.bias": weights(4, (8,)), "fc.weight": weights(5, (10, 50))}
    out, record = prune_quantize(state)
    assert out["conv.bias"] is state["conv.bias"]
    assert record["tensors"]["conv.weight"] == {"keep": 0.4, "bits": 8, "kept": 115, "total": 288, "centroids": 115}
    assert record["tensors"]["fc.weight"]["keep"] == 0.1 and record["tensors"]["fc.weight"]["bits"] == 5
    assert record["tensors"]["fc.weight"]["kept"] == 50
    assert np.unique(out["fc.weight"][out["fc.weight"] != 0]).size <= 32
    assert "conv.bias" not in record["tensors"]
    json.dumps(record)  # the store keeps it as JSON


def test_prune_quantize_is_deterministic() -> None:
    state = {"fc.weight": weights(6, (300, 400))}
    config = PruneConfig(sample=1000)
    a, _ = prune_quantize(state, config)
    b, _ = prune_quantize(state, config)
    assert a["fc.weight"].tobytes() == b["fc.weight"].tobytes()
    c, _ = prune_quantize(state, PruneConfig(sample=1000, seed=1))
    assert c["fc.weight"].tobytes() != a["fc.weight"].tobytes()


def test_rules_override_per_pattern(tmp_path: Path) -> None:
    path = tmp_path / "prune.toml"
    path.write_text(
        '[defaults]\nfc_keep = 0.5\n\n[[rules]]\nmatch = "first.*"\nkeep = 1.0\nbits = 0\n\n'
        '[[rules]]\nmatch = "*.weight"\nbits = 2\n'
    )
    config = PruneConfig.from_toml(path)
    state = {"first.weight": weights(7, (4, 6)), "second.weight": weights(8, (4, 6))}
    out, record = prune_quantize(state, config)
    assert out["first.weight"].tobytes() == state["first.weight"].tobytes()  # keep 1.0, no sharing
    assert record["tensors"]["second.weight"]["keep"] == 0.5
    assert np.unique(out["second.weight"][out["second.weight"] != 0]).size <= 4
    assert record["config"]["rules"] == [{"match": "first.*", "keep": 1.0, "bits": 0}, {"match": "*.weight", "bits": 2}]


@pytest.mark.parametrize(
    "text, message",
    [
        ("[defaults]\nfc_keep = 1.5\n", "fc_keep must be a number in"),
        ("[defaults]\nconv_bits = 17\n", "conv_bits must be an integer"),
        ("[defaults]\nkeep = 0.1\n", "unknown key 'keep'"),
        ("[other]\n", "unknown top-level key 'other'"),
        ("[[rules]]\nkeep = 0.1\n", "needs a non-empty string 'match'"),
        ('[[rules]]\nmatch = "x"\nratio = 0.1\n', "unknown key 'ratio'"),
        ('[[rules]]\nmatch = "x"\nbits = "8"\n', "bits must be an integer"),
        ("[defaults\n", "malformed TOML"),
    ],
)
def test_bad_prune_config_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        PruneConfig.from_toml(path)
    assert str(path) in str(info.value)


def test_rule_matching_a_bias_or_integer_tensor_is_an_error() -> None:
    config = PruneConfig.from_dict({"rules": [{"match": "*", "keep": 0.5}]})
    with pytest.raises(ConfigError, match="'b'.*shape"):
        prune_quantize({"b": np.ones(3, np.float32)}, config)
    with pytest.raises(ConfigError, match="'i'.*int32"):
        prune_quantize({"i": np.ones((3, 3), np.int32)}, config)


def test_nan_weights_cannot_be_pruned() -> None:
    w = weights(9, (4, 4))
    w[1, 1] = np.nan
    with pytest.raises(ConfigError, match="'fc.weight'.*NaN"):
        prune_quantize({"fc.weight": w})


def test_cli_prune_config_needs_prune(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "p.toml").write_text("")
    code = main(["compress", "alexnet", "--prune-config", str(tmp_path / "p.toml"), "-o", str(tmp_path / "s.zarr")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--prune-config needs --prune" in err
    assert not (tmp_path / "s.zarr").exists()


def test_cli_bad_prune_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "p.toml").write_text("[defaults]\nfc_bits = -1\n")
    args = ["compress", "alexnet", "--prune", "--prune-config", str(tmp_path / "p.toml"), "-o", str(tmp_path / "s")]
    assert main(args) == 2
    assert "fc_bits" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_example_prune_config_parses_and_applies() -> None:
    config = PruneConfig.from_toml(Path(__file__).parent.parent / "examples" / "prune-alexnet.toml")
    conv, fc = np.zeros((4, 3, 3, 3), np.float32), np.zeros((4, 4), np.float32)
    assert config.settings_for("features.0.weight", conv) == (0.84, 8)
    assert config.settings_for("features.8.weight", conv) == (0.37, 8)
    assert config.settings_for("classifier.1.weight", fc) == (0.09, 5)
    assert config.settings_for("classifier.6.weight", fc) == (0.25, 5)
    assert config.settings_for("classifier.6.bias", np.zeros(4, np.float32)) is None

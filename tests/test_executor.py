"""The executor: unit grouping, and outputs bit-identical to the dense model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tinynet import TinyNet

import codecbench
from codecbench.cli import main
from codecbench.compression import compress_model, compress_state_dict
from codecbench.executor import CompressedConv2d, CompressedLinear, unit_groups
from codecbench.executor.runner import same_bits, seeded_input
from codecbench.store.config import StoreConfig
from codecbench.testing.models import quantized_alexnet_weights


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(0, 5000),
    unit_size=st.integers(1, 5000),
    budget=st.integers(1, 1 << 20),
    multiple=st.sampled_from([1, 2, 3, 96]),
)
def test_unit_groups_cover_layer_in_aligned_groups(n: int, unit_size: int, budget: int, multiple: int) -> None:
    n = n // multiple * multiple
    cuts = unit_groups(n, unit_size, budget, 64, multiple)
    assert cuts[0] == 0 and cuts[-1] == n
    sizes = np.diff(cuts)
    assert np.all(sizes > 0) or n == 0
    assert all(c % multiple == 0 for c in cuts)
    if len(sizes) > 1:  # every group of a split layer is at least unit_align units: bit-exact
        assert sizes.min() >= 64
        assert all(c % 64 == 0 for c in cuts[:-1])


def _tiny_store(tmp_path: Path, net: torch.nn.Module) -> Path:
    return compress_state_dict(net.state_dict(), tmp_path / "tiny.zarr", StoreConfig.simple(), progress=False)


@pytest.mark.parametrize("group_weights", [1, 5000, 1 << 22])
@pytest.mark.parametrize("batch", [1, 3])
def test_any_conv_linear_model_runs_bit_exact(
    tmp_path: Path, tiny_net: TinyNet, group_weights: int, batch: int
) -> None:
    path = _tiny_store(tmp_path, tiny_net)
    x = torch.randn(batch, 3, 20, 20, generator=torch.Generator().manual_seed(batch))
    with torch.inference_mode():
        expected = tiny_net(x)
    compressed = codecbench.open(path).load_model(TinyNet(), group_weights=group_weights)
    kinds = [type(m) for m in compressed.modules()]
    assert kinds.count(CompressedConv2d) == 4 and kinds.count(CompressedLinear) == 2
    with torch.inference_mode():
        got = compressed(x)
    assert same_bits(got, expected)


def test_groups_are_bounded(tmp_path: Path, tiny_net: TinyNet) -> None:
    model = codecbench.open(_tiny_store(tmp_path, tiny_net)).load_model(TinyNet(), group_weights=5000)
    assert model.features[0].cuts == [0, 128]  # 128 units x 27 weights fit the budget
    assert model.head[0].cuts == [0, 64, 128, 192, 300]  # 640 weights per unit: the floor is 64; tail merged
    (tmp_path / "b").mkdir()
    model = codecbench.open(_tiny_store(tmp_path / "b", tiny_net)).load_model(TinyNet(), group_weights=1)
    conv = model.features[0]
    assert conv.cuts == [0, 64, 128]  # the alignment floor, not the budget
    seen = []
    for k0, k1, w in conv.weight_groups():
        seen.append((k0, k1))
        assert w.shape == (k1 - k0, 3, 3, 3)
    assert seen == [(0, 64), (64, 128)]
    assert model.features[2].cuts == [0, 64, 128]  # depthwise conv split at conv-group boundaries
    assert model.features[3].cuts == [0, 192]  # two conv groups of 96: lcm(64, 96) = 192 units


def test_compressed_layers_hold_no_dense_weight(tmp_path: Path, tiny_net: TinyNet) -> None:
    model = codecbench.open(_tiny_store(tmp_path, tiny_net)).load_model(TinyNet())
    assert [name for name, _ in model.named_parameters() if name.endswith("weight")] == []


def test_builtin_model_skeleton_is_never_dense(alexnet_store: Path) -> None:
    model = codecbench.open(alexnet_store).load_model()
    assert all(p.device.type == "cpu" for p in model.parameters())
    weights = [n for n, _ in model.named_parameters() if n.endswith("weight")]
    assert weights == []  # every Conv2d/Linear weight stays compressed


@pytest.mark.slow
@pytest.mark.parametrize("batch", [1, 8])
def test_alexnet_bit_exact(alexnet_store: Path, batch: int) -> None:
    store = codecbench.open(alexnet_store)
    x = seeded_input(batch)
    with torch.inference_mode():
        got = store.load_model()(x)
        expected = store.dense_model()(x)
    assert same_bits(got, expected)


@pytest.mark.slow
def test_alexnet_mixed_config_bit_exact(tmp_path: Path) -> None:
    config_path = Path(__file__).parent.parent / "examples" / "mixed.toml"
    path = compress_model(
        "alexnet", "init:0", tmp_path / "mixed.zarr", StoreConfig.from_toml(config_path), progress=False
    )
    store = codecbench.open(path)
    assert store.info("classifier.1.weight")["storage"] == "plain"
    assert store.info("features.0.weight")["formulation"] == "element"
    model = store.load_model()
    assert isinstance(model.features[0], CompressedConv2d)
    assert isinstance(model.classifier[1], torch.nn.Linear)  # stored plain: runs dense
    assert main(["run", str(path), "--check", "--batch", "2"]) == 0


@pytest.mark.slow
def test_alexnet_wavelet_tree_bit_exact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = quantized_alexnet_weights(256)
    config = tmp_path / "wt.toml"
    config.write_text(
        '[default]\nformulation = "element"\ncodec = "wavelet-tree"\n\n'
        '[[rules]]\nmatch = "classifier.*.weight"\nformulation = "element"\ncodec = "wavelet-tree"\n'
        'codec_params = { shape = "balanced" }\n'
    )
    store = tmp_path / "alexnet-wt.zarr"
    assert (
        main(["compress", "alexnet", "--weights", str(weights), "--config", str(config), "-o", str(store), "--quiet"])
        == 0
    )
    opened = codecbench.open(store)
    assert opened.info("features.0.weight")["codec_params"] == {"shape": "huffman", "max_code_length": 24}
    assert opened.info("classifier.1.weight")["codec_params"]["shape"] == "balanced"
    assert opened.sequence("classifier.1.weight").shape == "balanced"
    assert main(["run", str(store), "--check", "--batch", "2", "--json"]) == 0
    assert '"bit_identical": true' in capsys.readouterr().out


@pytest.mark.slow
def test_alexnet_huffman_fast_bit_exact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "alexnet-huffman-fast.zarr"
    argv = [
        "compress",
        "alexnet",
        "--weights",
        str(quantized_alexnet_weights(256)),
        "--codec",
        "huffman-fast",
        "-o",
        str(store),
    ]
    assert main([*argv, "--quiet"]) == 0
    assert codecbench.open(store).info("classifier.1.weight")["codec"] == "huffman-fast"
    assert main(["run", str(store), "--check", "--json"]) == 0
    assert '"bit_identical": true' in capsys.readouterr().out

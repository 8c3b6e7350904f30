"""Tests for codecbench.models: torchvision-compatible layouts and weight sources."""

from __future__ import annotations

import hashlib
import json
import math

import pytest
import torch
from safetensors.torch import save_file

from codecbench.errors import ConfigError
from codecbench.models import (
    MODELS,
    build_model,
    describe_source,
    load_weights,
    model_skeleton,
    model_with_weights,
)
from codecbench.models.sources import laplace_tensor

# (key, shape) exactly as torchvision.models.alexnet() / vgg16() report them.
# fmt: off
ALEXNET_KEYS = [
    ("features.0.weight", (64, 3, 11, 11)), ("features.0.bias", (64,)),
    ("features.3.weight", (192, 64, 5, 5)), ("features.3.bias", (192,)),
    ("features.6.weight", (384, 192, 3, 3)), ("features.6.bias", (384,)),
    ("features.8.weight", (256, 384, 3, 3)), ("features.8.bias", (256,)),
    ("features.10.weight", (256, 256, 3, 3)), ("features.10.bias", (256,)),
    ("classifier.1.weight", (4096, 9216)), ("classifier.1.bias", (4096,)),
    ("classifier.4.weight", (4096, 4096)), ("classifier.4.bias", (4096,)),
    ("classifier.6.weight", (1000, 4096)), ("classifier.6.bias", (1000,)),
]
VGG16_KEYS = [
    ("features.0.weight", (64, 3, 3, 3)), ("features.0.bias", (64,)),
    ("features.2.weight", (64, 64, 3, 3)), ("features.2.bias", (64,)),
    ("features.5.weight", (128, 64, 3, 3)), ("features.5.bias", (128,)),
    ("features.7.weight", (128, 128, 3, 3)), ("features.7.bias", (128,)),
    ("features.10.weight", (256, 128, 3, 3)), ("features.10.bias", (256,)),
    ("features.12.weight", (256, 256, 3, 3)), ("features.12.bias", (256,)),
    ("features.14.weight", (256, 256, 3, 3)), ("features.14.bias", (256,)),
    ("features.17.weight", (512, 256, 3, 3)), ("features.17.bias", (512,)),
    ("features.19.weight", (512, 512, 3, 3)), ("features.19.bias", (512,)),
    ("features.21.weight", (512, 512, 3, 3)), ("features.21.bias", (512,)),
    ("features.24.weight", (512, 512, 3, 3)), ("features.24.bias", (512,)),
    ("features.26.weight", (512, 512, 3, 3)), ("features.26.bias", (512,)),
    ("features.28.weight", (512, 512, 3, 3)), ("features.28.bias", (512,)),
    ("classifier.0.weight", (4096, 25088)), ("classifier.0.bias", (4096,)),
    ("classifier.3.weight", (4096, 4096)), ("classifier.3.bias", (4096,)),
    ("classifier.6.weight", (1000, 4096)), ("classifier.6.bias", (1000,)),
]
# fmt: on


def same_bytes(a: torch.Tensor, b: torch.Tensor) -> bool:
    """dtype, shape and raw bytes equal (bitwise, so -0.0 != 0.0 and NaNs compare)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return torch.equal(a.contiguous().view(torch.uint8), b.contiguous().view(torch.uint8))


def same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], ordered: bool = False) -> bool:
    """Same keys (in the same order if ``ordered``) and byte-identical tensors."""
    keys_ok = list(a) == list(b) if ordered else sorted(a) == sorted(b)
    return keys_ok and all(same_bytes(a[k], b[k]) for k in a)


def kurtosis(t: torch.Tensor, n: int = 1 << 21) -> float:
    x = t.flatten()[:n].double()
    x = x - x.mean()
    return float((x**4).mean() / (x**2).mean() ** 2)


@pytest.fixture(scope="module")
def alex_init0() -> dict[str, torch.Tensor]:
    return load_weights("init:0", "alexnet")


@pytest.fixture(scope="module")
def alex_laplace0() -> dict[str, torch.Tensor]:
    return load_weights("laplace:0", "alexnet")


# ---------------------------------------------------------------- architectures


@pytest.mark.parametrize(
    ("name", "keys", "n_params"),
    [("alexnet", ALEXNET_KEYS, 61_100_840), ("vgg16", VGG16_KEYS, 138_357_544)],
)
def test_state_dict_layout_matches_torchvision(name, keys, n_params) -> None:
    with torch.device("meta"):
        model = build_model(name)
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == keys
    assert sum(p.numel() for p in model.parameters()) == n_params


@pytest.mark.parametrize("name", ["alexnet", "vgg16"])
def test_skeleton_is_meta_shaped_and_skips_init(name) -> None:
    """``model_skeleton`` has the model's state_dict shapes on the meta device, and does not
    run VGG-16's init (on meta tensors ``normal_`` imports sympy and ~800 modules, +68 MB of
    RSS in every run): checked in a fresh interpreter, where nothing else imported sympy."""
    import subprocess
    import sys

    code = (
        "import sys, torch; from codecbench.models import model_skeleton; "
        f"s = model_skeleton({name!r}); "
        "assert all(t.is_meta for t in s.state_dict().values()); "
        "print('sympy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "False"
    with torch.device("meta"):
        built = build_model(name).state_dict()
    skeleton = model_skeleton(name).state_dict()
    assert {k: v.shape for k, v in skeleton.items()} == {k: v.shape for k, v in built.items()}


def test_models_registry_and_unknown_name() -> None:
    assert sorted(MODELS) == ["alexnet", "vgg16"]
    with pytest.raises(ConfigError, match=r"unknown model 'foo' \(known: alexnet, vgg16\)"):
        build_model("foo")
    with pytest.raises(ConfigError, match="unknown model"):
        model_with_weights("foo", "init:0")


def test_alexnet_forward(alex_init0) -> None:
    model = model_with_weights("alexnet", "init:0")
    assert not model.training
    with torch.no_grad():
        out = model(torch.randn(1, 3, 224, 224))
    assert out.shape == (1, 1000)
    assert same_state(model.state_dict(), alex_init0, ordered=True)


def test_vgg16_init_and_forward() -> None:
    torch.manual_seed(0)
    model = build_model("vgg16").eval()
    sd = model.state_dict()
    for key, value in sd.items():
        if key.endswith("bias"):
            assert not value.any(), key
    conv = sd["features.28.weight"]
    assert conv.std().item() == pytest.approx(math.sqrt(2 / (512 * 9)), rel=0.02)
    assert sd["classifier.0.weight"].std().item() == pytest.approx(0.01, rel=0.01)
    with torch.no_grad():
        out = model(torch.randn(1, 3, 32, 32))  # adaptive pool: small input is enough
    assert out.shape == (1, 1000)


# ---------------------------------------------------------------- seeded sources


def test_init_deterministic(alex_init0) -> None:
    state = torch.random.get_rng_state()
    again = load_weights("init:0", "alexnet")
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    assert same_state(alex_init0, again, ordered=True)
    other = load_weights("init:1", "alexnet")
    assert list(other) == list(alex_init0)
    assert not same_bytes(other["features.0.weight"], alex_init0["features.0.weight"])
    assert all(v.is_contiguous() and v.device.type == "cpu" for v in again.values())


def test_laplace_deterministic_and_heavy_tailed(alex_init0, alex_laplace0) -> None:
    assert same_state(alex_laplace0, load_weights("laplace:0", "alexnet"), ordered=True)
    assert [(k, tuple(v.shape)) for k, v in alex_laplace0.items()] == ALEXNET_KEYS
    w, w0 = alex_laplace0["classifier.1.weight"], alex_init0["classifier.1.weight"]
    assert w.dtype == torch.float32 and w.is_contiguous()
    assert kurtosis(w) > 4 > kurtosis(w0)  # Laplace: 6, uniform init: 1.8
    assert w.std().item() == pytest.approx(1 / math.sqrt(3 * 9216), rel=0.01)
    assert w.std().item() == pytest.approx(w0.std().item(), rel=0.01)
    for key, value in alex_laplace0.items():
        if value.ndim == 1:  # biases keep their init:0 values
            assert same_bytes(value, alex_init0[key]), key
        else:
            assert not same_bytes(value, alex_init0[key]), key


def test_laplace_per_tensor_independent_of_order(alex_laplace0) -> None:
    key, shape = "features.3.weight", (192, 64, 5, 5)
    alone = laplace_tensor(0, key, shape, 1 / math.sqrt(3 * 64 * 25))
    assert same_bytes(alone, alex_laplace0[key])
    assert not same_bytes(laplace_tensor(1, key, shape, 1.0), laplace_tensor(0, key, shape, 1.0))


# ---------------------------------------------------------------- file sources


SMALL = {
    "conv.weight": torch.randn(4, 3, 3, 3),
    "half": torch.randn(5, 7).half(),
    "bf16": torch.randn(6).bfloat16(),
    "count": torch.arange(10, dtype=torch.int64),
}


@pytest.mark.parametrize("ext", [".pth", ".pt", ".safetensors"])
def test_file_round_trip(tmp_path, ext) -> None:
    path = tmp_path / f"w{ext}"
    if ext == ".safetensors":
        save_file(SMALL, str(path))
    else:
        torch.save(SMALL, path)
    loaded = load_weights(str(path), None)
    assert same_state(loaded, SMALL)
    assert all(v.is_contiguous() and v.device.type == "cpu" for v in loaded.values())
    record = describe_source(str(path))
    assert record == {
        "source": str(path),
        "kind": "file",
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    json.dumps(record)


def test_model_from_safetensors_file(tmp_path, alex_init0) -> None:
    path = tmp_path / "alexnet.safetensors"
    save_file(alex_init0, str(path))
    model = model_with_weights("alexnet", str(path))
    assert not model.training
    assert same_state(model.state_dict(), alex_init0, ordered=True)


def test_pth_state_dict_wrapper_and_noncontiguous(tmp_path) -> None:
    t = torch.arange(12, dtype=torch.float32).reshape(3, 4).t()  # non-contiguous
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": {"a": t}, "epoch": 3}, path)
    loaded = load_weights(str(path), "alexnet")
    assert list(loaded) == ["a"] and loaded["a"].is_contiguous()
    assert same_bytes(loaded["a"], t.contiguous())


def test_describe_seeded() -> None:
    assert describe_source("init:0") == {"source": "init:0", "kind": "init", "seed": 0}
    assert describe_source("laplace:7") == {"source": "laplace:7", "kind": "laplace", "seed": 7}


# ---------------------------------------------------------------- errors


def _error_cases(tmp_path) -> list[tuple[str, str | None, str]]:
    garbage_pth = tmp_path / "garbage.pth"
    garbage_pth.write_bytes(b"not a checkpoint at all")
    garbage_st = tmp_path / "garbage.safetensors"
    garbage_st.write_bytes(b"\xff" * 64)
    txt = tmp_path / "weights.txt"
    txt.write_text("hello")
    nontensor = tmp_path / "nontensor.pth"
    torch.save({"a": torch.zeros(2), "b": 3}, nontensor)
    notdict = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], notdict)
    return [
        ("init:abc", "alexnet", "SEED"),
        ("init:-1", "alexnet", "SEED"),
        ("laplace:", "alexnet", "SEED"),
        ("laplace:1.5", "alexnet", "SEED"),
        ("init:0", None, "needs a model name"),
        ("init:0", "resnet50", "unknown model"),
        ("gauss:0", "alexnet", "unknown scheme"),
        (str(tmp_path / "missing.pth"), None, "no such file"),
        (str(tmp_path), None, "not a regular file"),
        (str(txt), None, "unsupported extension"),
        (str(garbage_pth), None, "cannot read"),
        (str(garbage_st), None, "cannot read"),
        (str(nontensor), None, "'b' is a int, not a tensor"),
        (str(notdict), None, "expected a dict"),
    ]


def test_error_cases(tmp_path) -> None:
    for source, model_name, fragment in _error_cases(tmp_path):
        with pytest.raises(ConfigError) as info:
            load_weights(source, model_name)
        msg = str(info.value)
        assert fragment in msg, (source, msg)
        assert "\n" not in msg, (source, msg)
        if model_name != "resnet50":
            assert source in msg, (source, msg)


def test_describe_errors(tmp_path) -> None:
    for source in ["init:x", "gauss:0", str(tmp_path / "missing.pt")]:
        with pytest.raises(ConfigError):
            describe_source(source)


def test_mismatch_names_source_and_key(tmp_path, alex_init0) -> None:
    # The first offending key in model order is reported, so partial files suffice.
    p1 = tmp_path / "shape.safetensors"
    save_file({"features.0.weight": torch.zeros(64, 3, 5, 5)}, str(p1))
    with pytest.raises(ConfigError, match=r"shape\.safetensors.*'features\.0\.weight'.*\(64, 3, 5, 5\)"):
        model_with_weights("alexnet", str(p1))

    partial = {k: alex_init0[k] for k in ["features.0.weight", "features.0.bias"]}
    p2 = tmp_path / "missing.pth"
    torch.save(partial, p2)
    with pytest.raises(ConfigError, match=r"missing\.pth.*missing key 'features\.3\.weight'"):
        model_with_weights("alexnet", str(p2))

    p3 = tmp_path / "extra.safetensors"
    save_file(dict(alex_init0, extra=torch.zeros(1)), str(p3))
    with pytest.raises(ConfigError, match=r"extra\.safetensors.*unexpected key 'extra'"):
        model_with_weights("alexnet", str(p3))

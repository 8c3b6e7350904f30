"""The executor engine: pipelined decode, decoded-unit cache, profile (fast mode: tests/test_fast_mode.py).

Bit-exactness with every registered codec (cache on and off, threads on and off) on small
stores; performance is the benchmark's business (benchmarks/executor.py), not asserted here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tinynet import TinyNet, pruned_tinynet, store_of

import codecbench
from codecbench.cli import main
from codecbench.errors import CorruptDataError, PluginError
from codecbench.executor import CompressedConv2d, CompressedLinear
from codecbench.executor.engine import GroupCache
from codecbench.executor.runner import model_engine, same_bits
from codecbench.registry import get_registry

X = torch.randn(2, 3, 20, 20, generator=torch.Generator().manual_seed(3))


@pytest.fixture(scope="module")
def pruned_net() -> TinyNet:
    return pruned_tinynet()


def _groups_per_pass(model: torch.nn.Module) -> int:
    return sum(len(m.cuts) - 1 for m in model.modules() if isinstance(m, (CompressedConv2d, CompressedLinear)))


@pytest.mark.parametrize("codec", get_registry().names("codec"))
def test_every_codec_bit_exact_cache_on_and_off(tmp_path: Path, pruned_net: TinyNet, codec: str) -> None:
    with torch.inference_mode():
        expected = pruned_net(X)
    path = store_of(tmp_path, pruned_net, "pq-element", codec)
    for options in (
        {"cache_bytes": 0},
        {"cache_bytes": 1 << 30},  # everything cached: the second pass is all hits
        {"cache_bytes": 40_000, "workers": 1},  # part cached
        {"cache_bytes": 0, "workers": 0},  # no threads: decode inline, in order
    ):
        model = codecbench.open(path).load_model(TinyNet(), group_weights=5000, **options)
        with torch.inference_mode():
            outputs = [model(X) for _ in range(2)]
        assert all(same_bits(got, expected) for got in outputs), (codec, options)


@pytest.mark.parametrize(("formulation", "codec"), [("float-split", "wavelet-tree"), ("pq-block", "huffman-fast")])
def test_other_formulations_bit_exact(tmp_path: Path, pruned_net: TinyNet, formulation: str, codec: str) -> None:
    with torch.inference_mode():
        expected = pruned_net(X)
    model = codecbench.open(store_of(tmp_path, pruned_net, formulation, codec)).load_model(
        TinyNet(), group_weights=5000, cache_bytes=1 << 20
    )
    with torch.inference_mode():
        assert same_bits(model(X), expected) and same_bits(model(X), expected)


def test_cache_counts_hits_and_misses(tmp_path: Path, pruned_net: TinyNet) -> None:
    path = store_of(tmp_path, pruned_net, "pq-element", "wavelet-tree")
    model = codecbench.open(path).load_model(TinyNet(), group_weights=5000, cache_bytes=1 << 30, profile=True)
    engine = model_engine(model)
    n = _groups_per_pass(model)
    with torch.inference_mode():
        model(X)
        assert (engine.cache.hits, engine.cache.misses, len(engine.cache)) == (0, n, n)
        model(X)
    stats = engine.cache.stats()
    assert (stats["hits"], stats["misses"], stats["evictions"]) == (n, n, 0)
    assert stats["bytes"] == sum(p.numel() * 4 for name, p in pruned_net.named_parameters() if name.endswith("weight"))
    assert sum(s.cache_hits for s in engine.stats.values()) == n

    off = codecbench.open(path).load_model(TinyNet(), group_weights=5000)
    with torch.inference_mode():
        off(X)
        off(X)
    assert model_engine(off).cache.stats()["hits"] == model_engine(off).cache.stats()["misses"] == 0
    assert len(model_engine(off).cache) == 0  # the default keeps nothing


def test_small_cache_stays_in_budget_and_still_hits(tmp_path: Path, pruned_net: TinyNet) -> None:
    """A budget below the model: plain LRU on a cyclic pass would never hit; ours keeps what it
    admitted this pass, so the second pass hits about the budget's share."""
    path = store_of(tmp_path, pruned_net, "pq-element", "huffman-fast")
    budget = 60_000
    model = codecbench.open(path).load_model(TinyNet(), group_weights=5000, cache_bytes=budget)
    engine = model_engine(model)
    n = _groups_per_pass(model)
    with torch.inference_mode():
        for _ in range(3):
            model(X)
    stats = engine.cache.stats()
    assert stats["peak_bytes"] <= budget and stats["bytes"] <= budget
    assert 0 < stats["hits"] < 2 * n and stats["hits"] + stats["misses"] == 3 * n
    assert stats["refused"] > 0


def test_lru_evicts_groups_of_earlier_passes_first() -> None:
    cache = GroupCache(300)
    t = {k: torch.zeros(25) for k in "abcd"}  # 100 bytes each
    assert cache.put("a", t["a"], 1) and cache.put("b", t["b"], 1) and cache.put("c", t["c"], 1)
    assert not cache.put("d", t["d"], 1)  # all used this pass: refused
    assert cache.get("b", 2) is t["b"]  # pass 2 uses b: a is now the least recently used
    assert cache.put("d", t["d"], 2)
    assert cache.get("a", 2) is None and cache.get("c", 2) is t["c"]
    assert cache.stats() | {} == {
        "budget_bytes": 300,
        "bytes": 300,
        "peak_bytes": 300,
        "groups": 3,
        "hits": 2,
        "misses": 1,
        "evictions": 1,
        "refused": 1,
    }


def test_profile_splits_each_layer(tmp_path: Path, pruned_net: TinyNet) -> None:
    path = store_of(tmp_path, pruned_net, "pq-element", "wavelet-tree")
    model = codecbench.open(path).load_model(TinyNet(), group_weights=5000, profile=True)
    with torch.inference_mode():
        model(X)
        model(X)
    stats = model_engine(model).stats
    names = [n for n, m in model.named_modules() if isinstance(m, (CompressedConv2d, CompressedLinear))]
    assert list(stats) == names
    for name, s in stats.items():
        layer = model.get_submodule(name)
        assert s.calls == 2 and s.groups == 2 * (len(layer.cuts) - 1)
        assert s.symbols == 2 * (len(layer.fetch().sequence) - (len(layer.cuts) - 2))  # less the cut delimiters
        assert min(s.extract, s.decode, s.compute, s.wall) > 0 and s.wait >= 0
        assert s.wall >= s.compute


def test_abandoned_group_iteration_returns_buffers(tmp_path: Path, pruned_net: TinyNet) -> None:
    path = store_of(tmp_path, pruned_net, "pq-element", "raw")
    model = codecbench.open(path).load_model(TinyNet(), group_weights=1)
    layer = model.head[0]
    for k0, k1, w in layer.weight_groups():
        assert w.shape == (k1 - k0, 640)
        break  # in-flight groups are waited for and their buffers returned
    assert model_engine(model).workset == 0
    with torch.inference_mode():
        assert same_bits(model(X), pruned_net(X))


def test_cli_run_profile_and_cache_report(alexnet_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(alexnet_store)
    assert main(["run", store, "--profile", "--cache-mb", "64", "--repeat", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    profile = result["profile"]
    assert profile["passes"] == 2
    layers = [layer["name"] for layer in profile["layers"]]
    assert layers == ["features.0", "features.3", "features.6", "features.8", "features.10"] + [
        "classifier.1",
        "classifier.4",
        "classifier.6",
    ]
    for layer in profile["layers"]:
        assert set(layer) >= {"select", "extract", "decode", "compute", "wait", "wall", "groups", "cache_hits"}
    cache = result["cache"]
    assert cache["budget_bytes"] == 64 << 20 and cache["hits"] + cache["misses"] == profile["total"]["groups"]
    assert cache["hits"] > 0 and cache["bytes"] <= cache["budget_bytes"]
    assert result["stored_bytes"] > 0 and result["activation_bytes"] > 0 and result["baseline_rss_mb"] > 0
    if sys.platform.startswith("linux"):  # the passes' own peak, within the process's peak
        assert 0 <= result["forward_rss_mb"] <= result["peak_rss_mb"]

    assert main(["run", store, "--profile"]) == 0
    text = capsys.readouterr().out
    assert "extract" in text and "decode" in text and "compute" in text and "classifier.1" in text


def test_decode_error_in_a_worker_names_the_tensor(tmp_path: Path, pruned_net: TinyNet) -> None:
    path = store_of(tmp_path, pruned_net, "pq-element", "raw")
    model = codecbench.open(path).load_model(TinyNet(), group_weights=1)
    layer = model.head[0]
    object.__setattr__(layer.fetch(), "fused", None)  # the plain path (tests/test_fused.py: fused = plain)
    only_delimiters = np.full(8, layer.fetch().ras.delimiter, dtype=np.uint32)
    layer.fetch().sequence.extract = lambda start, stop: only_delimiters  # wrong unit count
    expected = f"tensor '{layer.source.name}' \\(pq-element/raw\\): pq-element: the symbols do not hold"
    with pytest.raises(CorruptDataError, match=expected):
        with torch.inference_mode():
            model(X)
    assert model_engine(model).workset == 0  # every buffer came back


def test_any_exception_while_decoding_is_one_line_naming_tensor_and_codec(tmp_path: Path, pruned_net: TinyNet) -> None:
    """A codec raising what its contract does not allow (here a TypeError from extract, on a
    worker thread) surfaces as a PluginError naming the store, the tensor, the pair and the
    cause, with the original chained for --debug."""
    path = store_of(tmp_path, pruned_net, "pq-element", "raw")
    model = codecbench.open(path).load_model(TinyNet(), group_weights=1)
    layer = model.head[0]

    def broken(start: int, stop: int) -> np.ndarray:
        raise TypeError("unsupported operand")

    object.__setattr__(layer.fetch(), "fused", None)  # the plain path calls extract
    layer.fetch().sequence.extract = broken
    with pytest.raises(PluginError) as info, torch.inference_mode():
        model(X)
    assert str(info.value) == f"{path}: tensor 'head.0.weight' (pq-element/raw): TypeError: unsupported operand"
    assert isinstance(info.value.__cause__, TypeError)
    assert model_engine(model).workset == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux's")
def test_peak_rss_is_the_process_own_not_its_parents() -> None:
    """A run started by a large process (a benchmark that built stores in-process) reports its
    own peak: ``ru_maxrss`` would carry the parent's size across ``execve``."""
    import subprocess
    import textwrap

    parent = textwrap.dedent(
        """
        import subprocess, sys
        import numpy as np
        ballast = np.ones(1536 << 20, dtype=np.uint8)  # 1.5 GiB resident in the parent
        child = "from codecbench.executor.run import peak_rss_mb; print(peak_rss_mb())"
        print(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True).stdout)
        """
    )
    out = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True, check=True).stdout
    assert 0 < float(out) < 1024, out

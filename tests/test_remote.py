"""Stores beyond a local directory (fsspec URLs, .zip files, a real S3 API on loopback) and
compression on a Dask cluster.

S3 is moto's server, started here on 127.0.0.1 (a free port), reached through s3fs with
dummy credentials and ``endpoint_url`` in ``storage_options``: no network beyond loopback.
Dask is a ``LocalCluster`` of 2 worker processes (``--dask local:2``).
"""

from __future__ import annotations

import json
import logging
import socket
import uuid
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pytest
import torch
import zarr
from tinynet import TinyNet

import codecbench
from codecbench.cli import main
from codecbench.compression import compress_state_dict
from codecbench.errors import ConfigError, StoreError
from codecbench.executor import CompressedConv2d, CompressedLinear
from codecbench.executor.runner import same_bits
from codecbench.store import TensorPlan, write_store
from codecbench.store.config import StoreConfig
from codecbench.store.writer import RootLast

# --- helpers -------------------------------------------------------------------------------


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("codecbench: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def _memory_url(name: str = "s.zarr") -> str:
    return f"memory://{uuid.uuid4().hex}/{name}"


def _memory_files(url: str) -> dict[str, bytes]:
    fs, root = fsspec.core.url_to_fs(url)
    if not fs.exists(root):
        return {}
    return {path[len(root) + 1 :]: fs.cat_file(path) for path in fs.find(root)}


def _local_files(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def _state() -> dict[str, np.ndarray]:
    """Several tensors, several formulations/codecs (see _config), a plain one, a bfloat16 one."""
    rng = np.random.default_rng(3)
    from codecbench import dtypes

    return {
        "conv.weight": rng.integers(-8, 8, (64, 3, 3, 3)).astype(np.float32),
        "conv.bias": rng.standard_normal(64).astype(np.float32),
        "fc.weight": rng.standard_normal((96, 40)).astype(np.float32),
        "fc.bias": np.zeros(96, np.float32),
        "half.weight": rng.standard_normal((32, 16)).astype(np.float16),
        "bf.weight": rng.standard_normal((16, 8)).astype(np.float32).astype(dtypes.BFLOAT16),
        "empty.weight": np.zeros((0, 4), np.float32),
    }


def _config() -> StoreConfig:
    return StoreConfig.from_dict(
        {
            "default": {"formulation": "element", "codec": "raw"},
            "rules": [
                {"match": "empty.*", "storage": "plain"},
                {"match": "conv.weight", "formulation": "element", "codec": "wavelet-tree"},
                {"match": "fc.weight", "formulation": "float-split", "codec": "huffman-fast"},
                {"match": "half.weight", "formulation": "float-split", "codec": "raw"},
            ],
        }
    )


# --- memory:// and .zip --------------------------------------------------------------------


def test_memory_url_round_trip(capsys: pytest.CaptureFixture[str]) -> None:
    url = _memory_url()
    state = _state()
    assert compress_state_dict(state, url, _config(), progress=False) == url
    store = codecbench.open(url)
    assert store.keys() == list(state)
    for name, tensor in state.items():
        assert store.tensor(name).tobytes() == tensor.tobytes(), name
        store.verify(name)
    assert store.info("fc.weight")["codec"] == "huffman-fast"
    # plain zarr reads it through its own FsspecStore
    group = zarr.open_group(zarr.storage.FsspecStore.from_url(url, read_only=True), mode="r")
    assert np.asarray(group["conv.weight"][...]).tobytes() == state["conv.weight"].tobytes()
    code, out, _ = _run(capsys, "verify", url)
    assert code == 0 and "all 7 tensors verified" in out
    code, out, _ = _run(capsys, "info", url, "--json")
    assert code == 0 and json.loads(out)["store"] == url


def test_zip_round_trip_and_atomic_replace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.zip"
    state = _state()
    assert compress_state_dict(state, path, _config(), progress=False) == path
    assert [p.name for p in tmp_path.iterdir()] == ["s.zip"]  # no temporary sibling left
    store = codecbench.open(path)
    for name, tensor in state.items():
        assert store.tensor(name).tobytes() == tensor.tobytes(), name
    group = zarr.open_group(zarr.storage.ZipStore(path, mode="r"), mode="r")  # plain zarr
    assert np.asarray(group["fc.weight"][...]).tobytes() == state["fc.weight"].tobytes()
    code, out, _ = _run(capsys, "verify", str(path))
    assert code == 0 and "verified" in out
    with pytest.raises(StoreError, match="already exists"):
        compress_state_dict(state, path, _config(), progress=False)
    small = {"only.weight": np.ones((2, 2), np.float32)}
    bad = StoreConfig.simple().plans(small)
    bad["only.weight"] = TensorPlan(codec_params={"no_such_param": 1})
    with pytest.raises(ConfigError, match="no_such_param"):  # a failed replace keeps the old zip
        write_store(path, small, bad, {}, overwrite=True, progress=False)
    assert codecbench.open(path).keys() == list(state)
    compress_state_dict(small, path, StoreConfig.simple(), progress=False, overwrite=True)
    assert codecbench.open(path).keys() == ["only.weight"]
    assert [p.name for p in tmp_path.iterdir()] == ["s.zip"]


def test_url_write_is_root_last_and_failed_write_leaves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    url = _memory_url()
    seen: dict[str, Any] = {}
    commit = RootLast.commit

    def spying_commit(self: RootLast) -> None:
        seen["before"] = sorted(_memory_files(url))
        commit(self)

    monkeypatch.setattr(RootLast, "commit", spying_commit)
    compress_state_dict(_state(), url, _config(), progress=False)
    assert "zarr.json" not in seen["before"]  # every other object is written first
    assert "conv.weight/c/0/0/0/0" in seen["before"] and "empty.weight/zarr.json" in seen["before"]
    assert sorted(_memory_files(url)) == sorted([*seen["before"], "zarr.json"])

    failing = _memory_url()
    tensors = _state()
    plans = _config().plans(tensors)
    plans["half.weight"] = TensorPlan(codec_params={"no_such_param": 1})  # fails after conv/fc are written
    with pytest.raises(ConfigError, match="half.weight.*no_such_param"):
        write_store(failing, tensors, plans, {}, progress=False)
    assert _memory_files(failing) == {}


def test_url_overwrite_replaces_store(capsys: pytest.CaptureFixture[str]) -> None:
    url = _memory_url()
    compress_state_dict(_state(), url, _config(), progress=False)
    with pytest.raises(StoreError, match="already exists"):
        compress_state_dict(_state(), url, _config(), progress=False)
    small = {"only.weight": np.ones((2, 2), np.float32)}
    bad = StoreConfig.simple().plans(small)
    bad["only.weight"] = TensorPlan(codec_params={"no_such_param": 1})
    with pytest.raises(ConfigError):  # a failed replace leaves the old store as it was
        write_store(url, small, bad, {}, overwrite=True, progress=False)
    assert codecbench.open(url).keys() == list(_state())
    compress_state_dict(small, url, StoreConfig.simple(), progress=False, overwrite=True)
    assert codecbench.open(url).keys() == ["only.weight"]
    assert sorted(_memory_files(url)) == ["only.weight/c/0/0", "only.weight/zarr.json", "zarr.json"]
    parent = url.rsplit("/", 1)[0]
    fs, root = fsspec.core.url_to_fs(parent)
    assert [p.rsplit("/", 1)[1] for p in fs.ls(root, detail=False)] == ["s.zarr"]  # the staging prefix is gone


# --- lazy remote reads and read-ahead ------------------------------------------------------


@pytest.fixture
def tiny_url(tiny_net: TinyNet) -> str:
    url = _memory_url("tiny.zarr")
    compress_state_dict(tiny_net.state_dict(), url, StoreConfig.simple(), progress=False)
    return url


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    get = zarr.storage.FsspecStore.get

    async def counting_get(self: Any, key: str, prototype: Any, byte_range: Any = None) -> Any:
        reads.append(key)
        return await get(self, key, prototype, byte_range)

    monkeypatch.setattr(zarr.storage.FsspecStore, "get", counting_get)
    return reads


def test_url_open_reads_metadata_only_and_run_fetches_on_demand(
    monkeypatch: pytest.MonkeyPatch, tiny_net: TinyNet, tiny_url: str
) -> None:
    reads = _count_reads(monkeypatch)
    store = codecbench.open(tiny_url)
    for name in store.keys():
        store.info(name)
    assert reads == ["zarr.json"]  # the consolidated metadata, nothing else
    model = store.load_model(TinyNet())
    weights = [f"{n}.weight" for n, m in model.named_modules() if isinstance(m, (CompressedConv2d, CompressedLinear))]
    assert len(weights) == 6
    assert not any(store.is_fetched(w) for w in weights)  # biases only, no weight chunk yet
    assert not any(r.endswith(".weight/c/0/0/0/0") or r.endswith(".weight/c/0/0") for r in reads)
    x = torch.randn(2, 3, 20, 20, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        got, expected = model(x), tiny_net(x)
    assert same_bits(got, expected)
    assert all(store.is_fetched(w) for w in weights)
    chunk_reads = [r for r in reads if r.split("/")[0] in weights and not r.endswith("zarr.json")]
    assert sorted(chunk_reads) == sorted({*chunk_reads}) and len(chunk_reads) == 6  # each chunk fetched once


def test_readahead_prefetches_the_next_layers(
    monkeypatch: pytest.MonkeyPatch, tiny_net: TinyNet, tiny_url: str
) -> None:
    store = codecbench.open(tiny_url)
    prefetched: list[str] = []
    prefetch = store.prefetch
    monkeypatch.setattr(store, "prefetch", lambda name: (prefetched.append(name), prefetch(name)))
    model = store.load_model(TinyNet(), group_weights=5000, readahead=2)  # several groups per layer
    layers = [m for m in model.modules() if isinstance(m, (CompressedConv2d, CompressedLinear))]
    names = [layer.source.name for layer in layers]
    assert [[s.name for s in layer.ahead] for layer in layers] == [names[i + 1 : i + 3] for i in range(len(names))]
    x = torch.randn(1, 3, 20, 20, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        got, expected = model(x), tiny_net(x)
        again = model(x)
    assert same_bits(got, expected) and same_bits(again, expected)
    assert list(dict.fromkeys(prefetched)) == names[1:]  # in execution order, ahead of each layer
    off = store.load_model(TinyNet(), readahead=0)
    assert all(m.ahead == () for m in off.modules() if isinstance(m, (CompressedConv2d, CompressedLinear)))
    with torch.inference_mode():
        assert same_bits(off(x), expected)


def test_failed_prefetch_is_reported_by_the_layer(tiny_net: TinyNet, tiny_url: str) -> None:
    fs, root = fsspec.core.url_to_fs(tiny_url)
    fs.rm(f"{root}/head.2.weight", recursive=True)  # the last layer's chunk vanishes after opening
    store = codecbench.open(tiny_url)
    model = store.load_model(TinyNet())
    with pytest.raises(StoreError, match="head.2.weight.*missing"), torch.inference_mode():
        model(torch.zeros(1, 3, 20, 20))


# --- bad input -----------------------------------------------------------------------------


def test_bad_urls_and_options_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, "info", "foo://bucket/m.zarr")
    _one_line_error(code, err, "foo://bucket/m.zarr", "Protocol not known")
    for command in ("info", "run", "verify"):
        code, _, err = _run(capsys, command, "memory://absent/m.zarr")
        _one_line_error(code, err, "memory://absent/m.zarr", "no such store")
    code, _, err = _run(capsys, "verify", str(tmp_path / "absent.zip"))
    _one_line_error(code, err, "absent.zip", "no such store")
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    code, _, err = _run(capsys, "info", str(tmp_path / "junk.zip"))
    _one_line_error(code, err, "junk.zip", "not a zip store")
    code, _, err = _run(capsys, "compress", "alexnet", "-o", "memory://b/m.zip")
    _one_line_error(code, err, "memory://b/m.zip", ".zip stores must be local")
    code, _, err = _run(capsys, "info", "memory://x/m.zarr", "--storage-options", "{not json")
    _one_line_error(code, err, "--storage-options", "JSON")
    code, _, err = _run(capsys, "info", "memory://x/m.zarr", "--storage-options", "[1]")
    _one_line_error(code, err, "--storage-options", "JSON object")
    code, _, err = _run(capsys, "compress", "alexnet", "-o", str(tmp_path / "x.zarr"), "--dask", "local:none")
    _one_line_error(code, err, "--dask", "local:none")
    assert list(tmp_path.iterdir()) == [tmp_path / "junk.zip"]


def test_missing_optional_dependencies_are_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    code, _, err = _run(capsys, "compress", "alexnet", "-o", str(tmp_path / "x.zarr"), "--dask", "local:2")
    _one_line_error(code, err, "--dask local:2", "codecbench[dask]")
    monkeypatch.setitem(sys.modules, "s3fs", None)
    monkeypatch.delitem(
        sys.modules["fsspec.registry"]._registry, "s3", raising=False
    )  # forget an s3fs imported earlier
    code, _, err = _run(capsys, "info", "s3://bucket/m.zarr")
    _one_line_error(code, err, "s3://bucket/m.zarr", "codecbench[s3]")
    assert list(tmp_path.iterdir()) == []


# --- S3 (moto's server on loopback) --------------------------------------------------------


@pytest.fixture(scope="module")
def s3() -> Any:
    """moto's S3 server on 127.0.0.1, a bucket, and the storage_options reaching it."""
    pytest.importorskip("s3fs")
    server_mod = pytest.importorskip("moto.server")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log on stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    options = {
        "endpoint_url": f"http://127.0.0.1:{port}",
        "key": "testing",
        "secret": "testing",
    }
    fs = fsspec.filesystem("s3", skip_instance_cache=True, **options)
    fs.mkdir("codecbench-test")
    try:
        yield {"options": options, "json": json.dumps(options), "fs": fs, "bucket": "codecbench-test"}
    finally:
        server.stop()


def test_s3_round_trip_and_errors(s3: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"s3://{s3['bucket']}/small/s.zarr"
    state = _state()
    compress_state_dict(state, url, _config(), progress=False, storage_options=s3["options"])
    reads = _count_reads(monkeypatch)
    store = codecbench.open(url, storage_options=s3["options"])
    assert store.keys() == list(state)
    assert reads == ["zarr.json"]  # opening from S3 reads the consolidated metadata only
    for name, tensor in state.items():
        assert store.tensor(name).tobytes() == tensor.tobytes(), name
    code, out, _ = _run(capsys, "verify", url, "--storage-options", s3["json"])
    assert code == 0 and "all 7 tensors verified" in out
    code, _, err = _run(capsys, "compress", "alexnet", "-o", url, "--storage-options", s3["json"])
    _one_line_error(code, err, url, "already exists")
    code, _, err = _run(capsys, "info", "s3://no-such-bucket/m.zarr", "--storage-options", s3["json"])
    _one_line_error(code, err, "s3://no-such-bucket/m.zarr")
    code, _, err = _run(
        capsys, "compress", "alexnet", "-o", "s3://no-such-bucket/m.zarr", "--storage-options", s3["json"]
    )
    _one_line_error(code, err, "s3://no-such-bucket/m.zarr", "bucket does not exist")


# --- Dask -----------------------------------------------------------------------------------


def test_dask_store_is_byte_identical_to_serial(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    state = _state()
    serial = compress_state_dict(state, tmp_path / "serial.zarr", _config(), progress=False)
    parallel = compress_state_dict(state, tmp_path / "dask.zarr", _config(), progress=False, dask="local:2")
    serial_files, dask_files = _local_files(Path(serial)), _local_files(Path(parallel))
    assert sorted(serial_files) == sorted(dask_files) and len(serial_files) == 14
    for name, data in serial_files.items():
        assert dask_files[name] == data, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dask.zarr", "serial.zarr"]


@pytest.mark.slow
def test_alexnet_dask_into_s3_then_run_check(
    s3: Any, alexnet_store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("distributed")
    # credentials and endpoint from the environment this time (as a user with ~/.aws or AWS_* would)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3["options"]["endpoint_url"])
    url = f"s3://{s3['bucket']}/alexnet.zarr"
    code, out, err = _run(
        capsys, "compress", "alexnet", "--weights", "init:0", "--formulation", "element", "--codec", "raw",
        "--dask", "local:2", "-o", url, "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["store"] == url
    # the same bytes as the serial local store of the same input, object for object
    serial = _local_files(alexnet_store)
    fs, root = s3["fs"], f"{s3['bucket']}/alexnet.zarr"
    remote = sorted(p[len(root) + 1 :] for p in fs.find(root))
    assert remote == sorted(serial)
    for name in remote:
        assert fs.cat_file(f"{root}/{name}") == serial[name], name
    code, out, err = _run(capsys, "run", url, "--check", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["bit_identical"] is True and result["store"] == url

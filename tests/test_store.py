"""Store writing and lazy reading: round trips, laziness, plain-zarr compatibility, atomicity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import zarr
from zarr.storage import LocalStore, WrapperStore

import codecbench
from codecbench.errors import ConfigError, CorruptDataError, RegistryError, StoreError
from codecbench.store import TensorPlan, open_store, write_store
from codecbench.store.config import StoreConfig


def _tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    signed_zero = np.array([[0.0, -0.0], [np.nan, -np.inf]], dtype=np.float32)
    return {
        "conv.weight": rng.standard_normal((8, 3, 3, 3)).astype(np.float32),
        "conv.bias": rng.standard_normal(8).astype(np.float32),
        "fc.weight": rng.integers(-4, 4, (5, 7)).astype(np.int8),
        "half.weight": rng.standard_normal((4, 6)).astype(np.float16),
        "odd.weight": signed_zero,
        "scalar": np.array(3.5, dtype=np.float64),
    }


def _write(path: Path, tensors: dict[str, np.ndarray], config: StoreConfig | None = None) -> Path:
    config = config or StoreConfig.simple()
    return write_store(path, tensors, config.plans(tensors), {"model": None}, progress=False)


def test_round_trip_bit_exact(tmp_path: Path) -> None:
    tensors = _tensors()
    store = open_store(_write(tmp_path / "s.zarr", tensors))
    assert store.keys() == list(tensors)
    for name, tensor in tensors.items():
        got = store.tensor(name)
        assert got.dtype == tensor.dtype and got.shape == tensor.shape
        assert got.tobytes() == tensor.tobytes(), name
        store.verify(name)
    assert store.info("conv.weight")["storage"] == "codecbench"
    assert store.info("conv.bias")["storage"] == "plain"  # 1-D tensors default to plain
    assert store.info("scalar")["storage"] == "plain"


def test_big_endian_and_empty_tensors(tmp_path: Path) -> None:
    big = np.arange(12, dtype=">f4").reshape(3, 4) - 5.5
    tensors = {"big.weight": big, "empty.weight": np.zeros((0, 5), np.float32)}
    store = open_store(_write(tmp_path / "s.zarr", tensors))
    assert store.tensor("big.weight").tobytes() == big.astype("<f4").tobytes()
    assert store.info("empty.weight")["storage"] == "plain"
    assert store.tensor("empty.weight").shape == (0, 5)
    for name in tensors:
        store.verify(name)


def test_records_hold_effective_params(tmp_path: Path) -> None:
    store = open_store(_write(tmp_path / "s.zarr", {"w": np.ones((2, 2), np.float32)}))
    record = store.info("w")
    assert record["formulation_params"] == {} and record["codec_params"] == {}  # element/raw take none


def test_sequence_is_queryable(tmp_path: Path) -> None:
    tensors = _tensors()
    store = open_store(_write(tmp_path / "s.zarr", tensors))
    seq = store.sequence("conv.weight")
    ras = store.open_tensor("conv.weight").ras
    assert len(seq) == 8 * 27 + 7
    assert seq.rank(ras.delimiter, len(seq)) == 7
    assert seq.select(ras.delimiter, 1) == 27
    with pytest.raises(StoreError, match="stored plain"):
        store.sequence("conv.bias")


class CountingStore(WrapperStore):
    """Records every key read, to show what opening costs."""

    def __init__(self, store) -> None:
        super().__init__(store)
        self.reads: list[str] = []

    async def get(self, key, prototype, byte_range=None):
        self.reads.append(key)
        return await self._store.get(key, prototype, byte_range)

    async def get_partial_values(self, prototype, key_ranges):
        key_ranges = list(key_ranges)
        self.reads.extend(k for k, _ in key_ranges)
        return await self._store.get_partial_values(prototype, key_ranges)


def test_open_reads_metadata_only(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.zarr", _tensors())
    counting = CountingStore(LocalStore(path, read_only=True))
    store = open_store(counting)
    for name in store.keys():
        store.info(name)
    assert counting.reads and all(key.endswith("zarr.json") for key in counting.reads), counting.reads
    before = len(counting.reads)
    store.sequence("conv.weight")
    store.sequence("conv.weight")  # opened once, kept compressed
    chunk_reads = [k for k in counting.reads[before:] if not k.endswith("zarr.json")]
    assert chunk_reads == ["conv.weight/c/0/0/0/0"]


def test_plain_zarr_reads_every_tensor_in_fresh_process(alexnet_store: Path) -> None:
    script = textwrap.dedent(
        """
        import hashlib, json, sys
        import numpy as np, zarr
        imported_first = "codecbench" in sys.modules  # zarr pulls it in through its entry point
        group = zarr.open_group(sys.argv[1], mode="r")
        names = group.attrs["codecbench"]["tensors"]
        out = {}
        for name in names:
            data = np.ascontiguousarray(group[name][...])
            out[name] = hashlib.sha256(data.tobytes()).hexdigest() == group[name].attrs["codecbench"]["sha256"]
        print(json.dumps({"imported_before_read": imported_first, "ok": out}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(alexnet_store)], capture_output=True, text=True, check=True
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["imported_before_read"] is False
    assert len(result["ok"]) == 16 and all(result["ok"].values()), result


def test_numcodecs_codec_round_trip() -> None:
    import numcodecs

    codec = numcodecs.get_codec({"id": "codecbench", "formulation": "element", "codec": "raw"})
    tensor = np.arange(24, dtype=np.float32).reshape(4, 6)
    blob = codec.encode(tensor)
    assert codec.decode(blob).tobytes() == tensor.tobytes()
    out = np.empty_like(tensor)
    codec.decode(blob, out=out)
    assert out.tobytes() == tensor.tobytes()
    assert numcodecs.get_codec(codec.get_config()).get_config() == codec.get_config()


def test_existing_destination_and_overwrite(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.zarr", _tensors())
    with pytest.raises(StoreError, match="already exists"):
        _write(path, _tensors())
    tensors = {"only.weight": np.ones((2, 2), np.float32)}
    write_store(path, tensors, StoreConfig.simple().plans(tensors), {"model": None}, overwrite=True, progress=False)
    assert open_store(path).keys() == ["only.weight"]
    assert [p.name for p in tmp_path.iterdir()] == ["s.zarr"]


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    tensors = _tensors()
    plans = StoreConfig.simple().plans(tensors)
    plans["half.weight"] = TensorPlan(codec_params={"no_such_param": 1})  # fails mid-way
    with pytest.raises(ConfigError, match="half.weight.*no_such_param"):
        write_store(tmp_path / "s.zarr", tensors, plans, {"model": None}, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_unknown_codec_rejected_before_writing(tmp_path: Path) -> None:
    tensors = {"w": np.ones((2, 2), np.float32)}
    with pytest.raises(RegistryError, match="unknown codec 'nope'"):
        write_store(tmp_path / "s.zarr", tensors, {"w": TensorPlan(codec="nope")}, {}, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_missing_and_foreign_stores(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no such store"):
        codecbench.open(tmp_path / "absent.zarr")
    zarr.create_group(LocalStore(tmp_path / "foreign.zarr"), zarr_format=3)
    with pytest.raises(StoreError, match="not a codecbench store"):
        codecbench.open(tmp_path / "foreign.zarr")
    os.makedirs(tmp_path / "empty")
    with pytest.raises(StoreError, match="not a codecbench store"):
        codecbench.open(tmp_path / "empty")


def test_future_format_version_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.zarr", {"w": np.ones((2, 2), np.float32)})
    meta_path = path / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["attributes"]["codecbench"]["format_version"] = 99
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="format version 99"):
        open_store(path)


def test_corrupted_chunk_is_detected(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.zarr", _tensors())
    chunk = path / "conv.weight" / "c" / "0" / "0" / "0" / "0"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0x10
    chunk.write_bytes(bytes(data))
    store = open_store(path)
    with pytest.raises(CorruptDataError, match="conv.weight.*checksum"):
        store.tensor("conv.weight")
    store.verify("fc.weight")  # other tensors still read


def test_local_chunks_are_read_aligned_and_whole(tmp_path: Path) -> None:
    """Local chunk files are read straight into a 64-aligned buffer (no second copy): the
    bytes are the file's, less its CRC; a missing or truncated file still fails by name."""
    path = _write(tmp_path / "s.zarr", _tensors())
    chunk = path / "conv.weight" / "c" / "0" / "0" / "0" / "0"
    store = open_store(path)
    data = store._chunk_bytes("conv.weight")
    assert data.ctypes.data % 64 == 0 and data.tobytes() == chunk.read_bytes()[:-4]
    whole = chunk.read_bytes()
    chunk.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(CorruptDataError, match="conv.weight.*checksum"):
        open_store(path).tensor("conv.weight")
    chunk.unlink()
    with pytest.raises(CorruptDataError, match="conv.weight.*missing"):
        open_store(path).tensor("conv.weight")


def test_config_rules_first_match_wins(tmp_path: Path) -> None:
    config = StoreConfig.from_dict(
        {
            "default": {"formulation": "element", "codec": "raw"},
            "rules": [
                {"match": "fc.*", "storage": "plain"},
                {"match": "*.weight", "formulation": "element", "codec": "raw"},
                {"match": "conv.bias", "formulation": "element", "codec": "raw"},
            ],
        }
    )
    tensors = _tensors()
    store = open_store(_write(tmp_path / "s.zarr", tensors, config))
    assert store.info("fc.weight")["storage"] == "plain"
    assert store.info("conv.weight")["formulation"] == "element"
    assert store.info("conv.bias")["storage"] == "codecbench"
    for name, tensor in tensors.items():
        assert store.tensor(name).tobytes() == tensor.tobytes()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[default\nformulation=1", "malformed TOML"),
        ("[default]\nformulation='element'\ncodec='nope'", "unknown codec 'nope'"),
        ("[default]\nformulation='nope'\ncodec='raw'", "unknown formulation 'nope'"),
        ("[default]\nformulation='element'\ncodec='raw'\ncolour='red'", "unknown key 'colour'"),
        ("[[rules]]\nformulation='element'\ncodec='raw'", "needs a non-empty string 'match'"),
        ("[[rules]]\nmatch='*'\nstorage='plain'\ncodec='raw'", "takes no formulation"),
        ("[[rules]]\nmatch='*'\nstorage='zip'", "storage must be"),
        ("[defaults]\nformulation='element'", "unknown top-level key 'defaults'"),
        ("rules = 3", "array of tables"),
    ],
)
def test_bad_config_names_file_and_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        StoreConfig.from_toml(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)

"""Format fixtures: stores written by earlier code must read the same forever.

``tests/fixtures/stores/`` holds small committed stores, one per (formulation, codec) pair of
the built-ins, a ``bfloat16`` store (format version 2) and a mixed format-version-1 store
(plain tensors of several dtypes, a 0-d and an empty tensor, the optional attributes).
``tests/fixtures/manifest.json`` records the sha256 of every file and of every tensor's
decoded bytes. ``tests/fixtures/make_fixtures.py`` wrote them once; it is not run here, and
fixtures are never regenerated (``specs/store-format.md``, "Format fixtures").
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import zarr

import codecbench
from codecbench.dtypes import BFLOAT16
from codecbench.formulations.base import group_spans

FIXTURES = Path(__file__).parent / "fixtures"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
STORES = MANIFEST["stores"]

BUILTIN_FORMULATIONS = ["element", "block", "pq-element", "pq-block", "float-split", "pq-joint"]
BUILTIN_CODECS = [
    ("raw", {}),
    ("wavelet-tree", {"shape": "huffman"}),
    ("wavelet-tree", {"shape": "balanced"}),
    ("huffman", {}),
    ("huffman-fast", {}),
]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_every_builtin_pair_has_a_fixture() -> None:
    """Every (formulation, codec) pair of the built-ins, a bfloat16 store and a version-1 store."""
    found = set()
    for name in STORES:
        store = codecbench.open(FIXTURES / "stores" / name)
        for tensor in store.keys():
            info = store.info(tensor)
            if info["storage"] == "codecbench":
                shape = info["codec_params"].get("shape") if info["codec"] == "wavelet-tree" else None
                found.add((info["formulation"], info["codec"], shape))
    for formulation, (codec, params) in itertools.product(BUILTIN_FORMULATIONS, BUILTIN_CODECS):
        assert (formulation, codec, params.get("shape")) in found, (formulation, codec, params)
    versions = {entry["format_version"] for entry in STORES.values()}
    assert versions == {1, 2}


@pytest.mark.parametrize("name", sorted(STORES))
def test_fixture_files_unchanged(name: str) -> None:
    """The committed bytes are the ones the manifest recorded: fixtures are never regenerated."""
    root = FIXTURES / "stores" / name
    files = {p.relative_to(root).as_posix(): sha256(p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()}
    assert files == STORES[name]["files"]


@pytest.mark.parametrize("name", sorted(STORES))
def test_fixture_reads_bit_exact(name: str) -> None:
    """Today's reader: format version, every tensor's record, sha256 (verify) and decoded bytes,
    the executor's group-wise reads, and plain zarr without codecbench's reader."""
    expected = STORES[name]
    path = FIXTURES / "stores" / name
    store = codecbench.open(path)
    assert store.attrs["format_version"] == expected["format_version"]
    assert store.keys() == expected["keys"]
    assert sorted(expected["keys"]) == sorted(expected["tensors"])
    plain = zarr.open_group(path, mode="r")
    for tensor, want in expected["tensors"].items():
        info = store.info(tensor)
        assert (info["shape"], info["dtype"]) == (want["shape"], want["dtype"])
        store.verify(tensor)
        data = np.asarray(store.tensor(tensor), order="C")
        assert sha256(data.reshape(-1).view(np.uint8).tobytes()) == want["sha256"], tensor
        assert info["sha256"] == want["sha256"]
        # plain zarr (the codecbench zarr codec via its entry point): bfloat16 as uint16 bit patterns
        raw = np.asarray(plain[tensor][...], order="C")
        assert raw.tobytes() == data.tobytes(), tensor
        if info["storage"] == "codecbench":
            opened = store.open_tensor(tensor)
            n = opened.ras.n_units
            cuts = sorted({0, 1, n // 2, n})
            spans = group_spans(opened.sequence, opened.ras, cuts)
            parts = [
                opened.formulation.decode_units(opened.ras, opened.sequence.extract(a, b), k0, k1)
                for (k0, k1), (a, b) in zip(itertools.pairwise(cuts), spans.tolist(), strict=True)
            ]
            assert np.concatenate(parts).tobytes() == data.tobytes(), tensor
        if want["dtype"] == "bfloat16":
            assert data.dtype == BFLOAT16

"""Fuzzing: hostile bytes and metadata must end in a codecbench error or a ``verify`` failure.

Four layers, each a hypothesis property:

- **codecs**: every registered codec's ``open`` (built-ins and installed plugins) on damaged
  payloads (bit flips, header integers set to edge values, truncations, appended bytes,
  overwritten ranges), then a bounded set of queries. ``open`` raises ``CorruptDataError`` or
  returns a Sequence whose queries raise only ``IndexError``/``ValueError``/``CorruptDataError``.
- **formulations**: every formulation's ``check_ras`` + ``check_symbol_count`` +
  ``decode_units`` on altered RAS headers, dictionaries and symbol streams: ``CorruptDataError``,
  or an array of exactly the claimed shape and dtype.
- **chunks in stores**: whole (in-memory) stores with damaged chunks: raw bit flips and
  truncations (caught by the CRC-32C), the same *with the CRC recomputed* (so the chunk parser,
  codecs and formulations see the damage), chunks swapped between tensors, chunk-header JSON
  fields set to hostile values (re-laid-out so the damage is not just a misaligned section),
  codec-header integers and section bytes overwritten.
- **metadata**: hostile JSON in the root ``zarr.json`` (group attributes, consolidated
  metadata) and the arrays' ``zarr.json``: wrong types, huge shapes, negative sizes, unknown
  codec/formulation names, garbage and deeply nested JSON, deleted objects.

The store oracle (:func:`check_store`): opening raises a one-line ``CodecbenchError`` naming the
store, or per tensor ``verify`` raises a one-line ``CodecbenchError`` naming the tensor, or
``verify`` passes and the tensor (whole, and group by group through ``group_spans`` +
``decode_units`` as the executor reads it) is bit-identical to the original. Any other
exception, a hang, or a wrong tensor that verifies is a failure.

Profiles: the default (CI) runs a little over 2,000 cases, derandomized (same cases every
run). ``CODECBENCH_FUZZ=long`` (or ``--hypothesis-profile fuzz``) multiplies every test's
examples by ``CODECBENCH_FUZZ_SCALE`` (default 6) with random seeds; set
``CODECBENCH_FUZZ_REPORT=path.json`` to write the case counts and outcomes.
"""

from __future__ import annotations

import collections
import copy
import faulthandler
import json
import math
import os
import struct
from pathlib import Path
from typing import Any

import google_crc32c
import numpy as np
import pytest
import zarr
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from zarr.core.buffer import cpu

from codecbench.dtypes import BFLOAT16
from codecbench.errors import CodecbenchError, CorruptDataError
from codecbench.formulations.base import RAS, group_spans
from codecbench.registry import get_registry
from codecbench.store import chunk as chunkmod
from codecbench.store.reader import StoreReader
from codecbench.store.writer import TensorPlan, write_store
from codecbench.testing.checks import _exercise

LONG = os.environ.get("CODECBENCH_FUZZ") == "long" or settings.get_current_profile_name() == "fuzz"
SCALE = int(os.environ.get("CODECBENCH_FUZZ_SCALE", "6")) if LONG else 1
#: the CI profile must run at least this many cases in all (checked by the last test)
CI_MINIMUM = 2000

OUTCOMES: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        database=None,
        derandomize=not LONG,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
    )


def record(test: str, outcome: str) -> None:
    OUTCOMES[test][outcome] += 1


@pytest.fixture(autouse=True)
def _hang_guard():
    """A hung native kernel cannot be interrupted: dump every thread's stack and exit instead
    (a hang guard, not a benchmark: a whole test gets minutes)."""
    faulthandler.dump_traceback_later(600 * SCALE, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


# --------------------------------------------------------------------------- hostile values

INTERESTING_INTS = [
    0, 1, 2, 3, 7, 8, 15, 16, 31, 32, 33, 63, 64, 65, 255, 256, 4095, 4096, 2**16 - 1, 2**16,
    2**24, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**40, 2**42, 2**62, 2**63 - 1, 2**63, 2**64 - 1,
]  # fmt: skip
HOSTILE_JSON: list[Any] = [
    None, True, False, 0, 1, -1, 2, 3, 7, 64, 2**31, 2**32, 2**40, 2**42, 2**63, 2**64, -(2**63), 1.0, 1.5, -0.5,
    float("nan"), float("inf"), "", "x", "raw", "element", "wavelet-tree", "huffman", "block", "pq-block",
    "float-split", "no-such-codec", "bfloat16", "uint16", "float64", "int8", "bool", "object", "<f4", "../x", "a/b",
    [], [0], [1], [-1], [2**40], [2**40, 2**40], [2**20, 2**20], [3, 0], [1, 2, 3], [1.5], ["a"], [None],
    {}, {"a": 1}, {"shape": "huffman"}, {"block_size": 0}, {"gap_bits": 99},
]  # fmt: skip


def hostile_json() -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(HOSTILE_JSON), st.integers(-(2**65), 2**65), st.text(max_size=8))


def crc(blob: bytes) -> bytes:
    return struct.pack("<I", google_crc32c.value(blob))


# --------------------------------------------------------------------------- codecs

CODEC_PARAM_SETS: dict[str, list[dict[str, Any]]] = {
    "wavelet-tree": [{"shape": "huffman"}, {"shape": "balanced"}, {"shape": "huffman", "max_code_length": 4}],
    "huffman-fast": [{}, {"sync_every": 64, "count_every": 256}],
}


def codec_configs() -> list[tuple[str, dict[str, Any]]]:
    """Every registered codec (built-in or plugin) with its parameter sets."""
    names = get_registry().names("codec")
    return [(name, params) for name in names for params in CODEC_PARAM_SETS.get(name, [{}])]


_PAYLOADS: dict[tuple, tuple[bytes, int, int]] = {}


def good_payload(config: int, n: int, sigma: int, kind: str, seed: int) -> tuple[bytes, int, int]:
    from codecbench.testing.strategies import make_symbols

    key = (config, n, sigma, kind, seed)
    if key not in _PAYLOADS:
        name, params = codec_configs()[config]
        symbols = make_symbols(n, sigma, kind, seed)
        _PAYLOADS[key] = (get_registry().codec(name).encode(symbols, sigma, **params), n, sigma)
    return _PAYLOADS[key]


@st.composite
def byte_mutation(draw: Any, size: int, n: int, header: int = 64) -> tuple:
    kind = draw(st.sampled_from(["flip", "flip", "flip-header", "int", "int", "truncate", "append", "overwrite"]))
    if kind in ("flip", "flip-header"):
        limit = min(size, header) if kind == "flip-header" else size
        return ("flip", draw(st.integers(0, max(8 * limit - 1, 0))))
    if kind == "int":
        width = draw(st.sampled_from([4, 8]))
        offset = draw(st.integers(0, max(min(size, header) // 4 - 1, 0))) * 4
        value = draw(st.one_of(st.sampled_from(INTERESTING_INTS + [n, n + 1, max(n - 1, 0), size, size + 8])))
        return ("int", offset, width, value % (1 << (8 * width)))
    if kind == "truncate":
        return ("truncate", draw(st.integers(0, max(size - 1, 0))))
    if kind == "append":
        return ("append", draw(st.sampled_from([b"\0", b"\0" * 8, b"\xff" * 8, b"\0" * 64, bytes(range(13))])))
    start = draw(st.integers(0, max(size - 1, 0)))
    return ("overwrite", start, draw(st.binary(min_size=1, max_size=16)))


def apply_byte_mutation(data: bytearray, mutation: tuple) -> bytearray:
    kind = mutation[0]
    if kind == "flip":
        if data:
            bit = mutation[1] % (8 * len(data))
            data[bit // 8] ^= 1 << (bit % 8)
    elif kind == "int":
        _, offset, width, value = mutation
        if offset + width <= len(data):
            data[offset : offset + width] = value.to_bytes(width, "little")
    elif kind == "truncate":
        del data[mutation[1] :]
    elif kind == "append":
        data += mutation[1]
    else:
        _, start, blob = mutation
        data[start : start + len(blob)] = blob
    return data


@st.composite
def damaged_payloads(draw: Any) -> tuple[str, bytes, list]:
    config = draw(st.integers(0, len(codec_configs()) - 1))
    n = draw(st.sampled_from([0, 1, 2, 5, 64, 65, 300, 1000]))
    sigma = draw(st.sampled_from([1, 2, 3, 5, 17, 256, 257, 2**16 + 1, 2**32]))
    kind = draw(st.sampled_from(["uniform", "skewed", "few-values", "delimited", "single"]))
    payload, n, sigma = good_payload(config, n, sigma, kind, draw(st.integers(0, 3)))
    mutations = draw(st.lists(byte_mutation(len(payload), n), min_size=1, max_size=3))
    data = bytearray(payload)
    for mutation in mutations:
        data = apply_byte_mutation(data, mutation)
    return codec_configs()[config][0], bytes(data), mutations


@fuzz_settings(700)
@given(case=damaged_payloads())
def test_fuzz_codec_open(case: tuple[str, bytes, list]) -> None:
    """Damaged payloads of every codec: CorruptDataError from ``open`` or documented query errors."""
    name, data, _ = case
    codec = get_registry().codec(name)
    try:
        seq = codec.open(data)
    except CorruptDataError as exc:
        assert "\n" not in str(exc)
        record("codec-open", f"{name}: rejected")
        return
    _exercise(seq)  # only IndexError/ValueError/CorruptDataError may escape a query
    record("codec-open", f"{name}: parsed (valid-but-different or undamaged)")


# --------------------------------------------------------------------------- formulations

FORMULATION_DTYPES = {
    "element": ["float32", "float16", "int8", "bfloat16"],
    "block": ["float32", "bfloat16", "int8"],
    "pq-element": ["float32", "float16"],
    "pq-block": ["float32", "int8"],
    "pq-joint": ["float32", "bfloat16"],
    "float-split": ["float32", "float16", "bfloat16", "float64"],
}
FORMULATION_PARAMS = {
    "block": [{}, {"block_size": 3}],
    "pq-element": [{}, {"gap_bits": 1}],
    "pq-block": [{}, {"block_size": 2, "gap_bits": 1}],
    "pq-joint": [{}, {"gap_bits": 1}],
    "float-split": [{}, {"high_bits": 3}],
}


def make_tensor(formulation: str, shape: tuple[int, ...], dtype: str, seed: int) -> np.ndarray:
    """A tensor the formulation represents well: quantized levels, pruned for pq, raw floats for float-split."""
    rng = np.random.default_rng(seed)
    dt = BFLOAT16 if dtype == "bfloat16" else np.dtype(dtype)
    if formulation == "float-split":
        return (rng.standard_normal(shape) * 0.1).astype(dt)
    if dt.kind == "i":
        values = rng.integers(-8, 8, size=shape)
    else:
        values = rng.integers(-6, 7, size=shape) * 0.125
    if formulation.startswith("pq"):
        values = np.where(rng.random(shape) < 0.7, 0, values)
    return np.asarray(values).astype(dt)


def formulation_names() -> list[str]:
    return get_registry().names("formulation")


_RAS: dict[tuple, RAS] = {}


def good_ras(name: str, params_index: int, shape: tuple[int, ...], dtype: str, seed: int) -> RAS:
    key = (name, params_index, shape, dtype, seed)
    if key not in _RAS:
        params = FORMULATION_PARAMS.get(name, [{}])[params_index % len(FORMULATION_PARAMS.get(name, [{}]))]
        _RAS[key] = get_registry().formulation(name).encode(make_tensor(name, shape, dtype, seed), **params)
    return _RAS[key]


def _alter_array(arr: np.ndarray, how: str, amount: int) -> np.ndarray | None:
    if how == "drop":
        return None
    if how == "truncate":
        return arr.reshape(-1)[: max(arr.size - 1 - amount % 3, 0)].copy()
    if how == "extend":
        return np.concatenate([arr.reshape(-1), arr.reshape(-1)[: 1 + amount % 3]]).astype(arr.dtype)
    if how == "2d":
        return arr.reshape(1, -1).copy() if arr.ndim == 1 else arr.reshape(-1).copy()
    if how == "bump":  # entries past the dictionary / wider than their bits
        out = arr.copy()
        if out.size and out.dtype.kind in "ui":
            flat = out.reshape(-1)
            flat[amount % flat.size] = np.iinfo(out.dtype).max - amount % 2
        elif out.size:
            out.reshape(-1).view(np.uint8)[amount % out.nbytes] ^= 0x40
        return out
    if how == "reverse":  # a dictionary out of order
        return arr[::-1].copy()
    width_map = {1: ["uint8", "int8", "bool"], 2: ["uint16", "float16", "int16"], 4: ["uint32", "float32", "int32"]}
    width_map[8] = ["uint64", "float64", "int64"]
    choices = width_map.get(arr.dtype.itemsize, ["uint8"])
    return arr.view(choices[amount % len(choices)]) if arr.size else arr.astype(choices[amount % len(choices)])


@st.composite
def ras_mutation(draw: Any, ras: RAS) -> tuple:
    kind = draw(
        st.sampled_from(["meta", "array", "array", "alphabet", "delimiter", "shape", "dtype", "symbols", "symbols"])
    )
    if kind == "meta":
        key = draw(st.sampled_from(sorted(ras.meta) + ["block_size", "gap_bits", "high_bits", "extra"]))
        return ("meta", key, draw(st.one_of(st.sampled_from(["__delete__"]), hostile_json())))
    if kind == "array":
        name = draw(st.sampled_from(sorted(ras.arrays) + ["extra"]))
        how = draw(st.sampled_from(["drop", "truncate", "extend", "2d", "bump", "bump", "reverse", "retype"]))
        return ("array", name, how, draw(st.integers(0, 7)))
    if kind in ("alphabet", "delimiter"):
        return (kind, draw(st.integers(-3, 3)))
    if kind == "shape":
        return ("shape", draw(st.integers(0, len(ras.shape) - 1)), draw(st.integers(0, 6)))
    if kind == "dtype":
        return ("dtype", draw(st.sampled_from(sorted(chunkmod.ALLOWED_DTYPES))))
    how = draw(st.sampled_from(["set", "set", "insert", "delete", "delimiter", "swap"]))
    return ("symbols", how, draw(st.integers(0, 2**31)), draw(st.integers(0, 2**32 - 1)))


def apply_ras_mutation(ras: RAS, symbols: np.ndarray, mutation: tuple) -> tuple[RAS, np.ndarray]:
    arrays = dict(ras.arrays)
    meta = dict(ras.meta)
    kind = mutation[0]
    if kind == "meta":
        _, key, value = mutation
        if value == "__delete__":
            meta.pop(key, None)
        else:
            meta[key] = value
        return RAS(None, ras.alphabet_size, ras.delimiter, ras.n_units, ras.shape, ras.dtype, arrays, meta), symbols
    if kind == "array":
        _, name, how, amount = mutation
        base = arrays.get(name, np.arange(3, dtype=np.uint8))
        altered = _alter_array(base, how, amount)
        if altered is None:
            arrays.pop(name, None)
        else:
            arrays[name] = altered
        return RAS(None, ras.alphabet_size, ras.delimiter, ras.n_units, ras.shape, ras.dtype, arrays, meta), symbols
    if kind == "alphabet":
        alphabet = max(1, ras.alphabet_size + mutation[1])
        return RAS(None, alphabet, min(ras.delimiter, alphabet - 1), ras.n_units, ras.shape, ras.dtype, arrays, meta), (
            symbols
        )
    if kind == "delimiter":
        delimiter = min(max(0, ras.delimiter + mutation[1]), ras.alphabet_size - 1)
        return RAS(None, ras.alphabet_size, delimiter, ras.n_units, ras.shape, ras.dtype, arrays, meta), symbols
    if kind == "shape":
        _, axis, value = mutation
        shape = list(ras.shape)
        shape[axis] = value
        if axis == 0:
            shape[0] = max(shape[0], 0)
        return RAS(None, ras.alphabet_size, ras.delimiter, shape[0], tuple(shape), ras.dtype, arrays, meta), symbols
    if kind == "dtype":
        return RAS(None, ras.alphabet_size, ras.delimiter, ras.n_units, ras.shape, mutation[1], arrays, meta), symbols
    _, how, where, value = mutation
    out = symbols.copy()
    if how in ("set", "delimiter", "swap") and out.size:
        i = where % out.size
        if how == "set":
            out[i] = value % (ras.alphabet_size + 2)
        elif how == "delimiter":
            out[i] = ras.delimiter
        else:
            j = value % out.size
            out[i], out[j] = out[j], out[i]
    elif how == "insert":
        out = np.insert(out, where % (out.size + 1), value % (ras.alphabet_size + 1)).astype(np.uint32)
    elif how == "delete" and out.size:
        out = np.delete(out, where % out.size)
    return RAS(None, ras.alphabet_size, ras.delimiter, ras.n_units, ras.shape, ras.dtype, arrays, meta), out


SHAPES = [(6, 2, 3, 3), (5, 12), (7,), (3, 1), (1, 9), (4, 2, 2)]


@st.composite
def altered_ras(draw: Any) -> tuple[str, RAS, np.ndarray]:
    name = draw(st.sampled_from(formulation_names()))
    dtype = draw(st.sampled_from(FORMULATION_DTYPES.get(name, ["float32"])))
    ras = good_ras(name, draw(st.integers(0, 1)), draw(st.sampled_from(SHAPES)), dtype, draw(st.integers(0, 3)))
    symbols = ras.symbols
    ras = RAS(None, ras.alphabet_size, ras.delimiter, ras.n_units, ras.shape, ras.dtype, ras.arrays, ras.meta)
    for mutation in draw(st.lists(ras_mutation(ras), min_size=1, max_size=3)):
        ras, symbols = apply_ras_mutation(ras, symbols, mutation)
    return name, ras, symbols


def header_valid(ras: RAS) -> bool:
    """What the chunk parser guarantees before a formulation sees a RAS (``_check_header``)."""
    return (
        ras.dtype in chunkmod.ALLOWED_DTYPES
        and all(a.dtype.name in chunkmod.ALLOWED_DTYPES for a in ras.arrays.values())
        and len(ras.shape) >= 1
        and ras.n_units == ras.shape[0]
        and 1 <= ras.alphabet_size <= 2**32
        and 0 <= ras.delimiter < ras.alphabet_size
        and math.prod(ras.shape) <= 2**40
    )


@fuzz_settings(450)
@given(case=altered_ras())
def test_fuzz_formulation_decode(case: tuple[str, RAS, np.ndarray]) -> None:
    """Altered headers, dictionaries and symbols: ``check_ras``/``check_symbol_count``/``decode_units``
    raise CorruptDataError, or the output has exactly the claimed shape and dtype."""
    name, ras, symbols = case
    assume(header_valid(ras))
    formulation = get_registry().formulation(name)
    try:
        formulation.check_ras(ras)
        formulation.check_symbol_count(ras, int(symbols.size))
    except CorruptDataError as exc:
        assert "\n" not in str(exc)
        record("formulation-decode", f"{name}: rejected by check_ras/check_symbol_count")
        return
    expected_dtype = BFLOAT16 if ras.dtype == "bfloat16" else np.dtype(ras.dtype)
    spans = [(0, ras.n_units, 0, symbols.size)]
    delimiters = np.flatnonzero(symbols == ras.delimiter)
    if ras.n_units >= 2 and delimiters.size:  # a sub-range by a naive delimiter scan
        spans.append((1, ras.n_units, int(delimiters[0]) + 1, symbols.size))
    outcome = "decoded"
    for k0, k1, start, stop in spans:
        try:
            out = formulation.decode_units(ras, symbols[start:stop], k0, k1)
        except CorruptDataError as exc:
            assert "\n" not in str(exc)
            outcome = "rejected by decode_units"
            continue
        assert out.shape == (k1 - k0, *ras.shape[1:]) and out.dtype == expected_dtype
    record("formulation-decode", f"{name}: {outcome}")


# --------------------------------------------------------------------------- stores

#: (formulation, codec, codec_params) of the fuzzed stores: every formulation, every codec
STORE_PLANS = [
    ("element", "raw", {}),
    ("element", "wavelet-tree", {"shape": "huffman"}),
    ("block", "wavelet-tree", {"shape": "balanced"}),
    ("block", "huffman", {}),
    ("pq-element", "huffman-fast", {"sync_every": 64, "count_every": 256}),
    ("pq-block", "raw", {}),
    ("pq-block", "wavelet-tree", {"shape": "huffman"}),
    ("pq-joint", "huffman-fast", {}),
    ("float-split", "huffman-fast", {}),
    ("float-split", "wavelet-tree", {"shape": "balanced"}),
]
LABEL = "fuzzstore"


def _store_plans() -> list[tuple[str, str, dict[str, Any]]]:
    plans = list(STORE_PLANS)
    for i, codec in enumerate(c for c in get_registry().names("codec") if c not in {p[1] for p in STORE_PLANS}):
        plans.append((formulation_names()[i % len(formulation_names())], codec, {}))  # plugins
    return plans


class _Stores(list):
    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing case
        return f"<{len(self)} fuzz stores>"


@pytest.fixture(scope="module")
def fuzz_stores(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[dict[str, bytes], dict[str, np.ndarray]]]:
    """Small stores (conv + linear weights, a plain bias, one bfloat16 store), as key -> bytes."""
    stores = _Stores()
    root = tmp_path_factory.mktemp("fuzz-stores")
    for i, (formulation, codec, params) in enumerate(_store_plans()):
        conv_dtype = "bfloat16" if i == 1 else "float32"
        tensors = {
            "conv.weight": make_tensor(formulation, (6, 2, 3, 3), conv_dtype, i),
            "fc.weight": make_tensor(formulation, (5, 12), "float32", 100 + i),
            "fc.bias": make_tensor("float-split", (5,), "float32", 200 + i),
        }
        plan = TensorPlan(formulation=formulation, codec=codec, codec_params=params)
        plans = {"conv.weight": plan, "fc.weight": plan, "fc.bias": TensorPlan.plain()}
        path = root / f"s{i}.zarr"
        write_store(path, tensors, plans, {"model": None}, progress=False)
        objects = {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
        originals = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
        stores.append((objects, originals))
    return stores


def chunk_keys(objects: dict[str, bytes]) -> list[str]:
    return sorted(k for k in objects if "/c/" in k or k.endswith("/c"))


def codecbench_chunk_keys(objects: dict[str, bytes]) -> list[str]:
    return [k for k in chunk_keys(objects) if objects[k][:8] == chunkmod.MAGIC]


def split_chunk(blob: bytes) -> tuple[dict[str, Any], list[bytes], bytes]:
    """A well-formed chunk's header, array sections and payload."""
    header_len = struct.unpack_from("<I", blob, 12)[0]
    header = json.loads(blob[16 : 16 + header_len])
    sections = [blob[r["offset"] : r["offset"] + r["nbytes"]] for r in header["arrays"]]
    payload = blob[header["payload"]["offset"] : header["payload"]["offset"] + header["payload"]["nbytes"]]
    return header, sections, payload


def relayout(header: Any, sections: list[bytes], payload: bytes, keep_offsets: bool = False) -> bytes:
    """The chunk for a (possibly hostile) header, with sections placed where the header's own
    length puts them (as a writer would), so a changed field is not caught as a misaligned section."""
    header = copy.deepcopy(header)
    records = header.get("arrays") if isinstance(header, dict) else None
    records = records if isinstance(records, list) else []
    pay = header.get("payload") if isinstance(header, dict) else None
    for _ in range(4):
        blob = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
        position = chunkmod._align(16 + len(blob))
        offsets = []
        for section in sections:
            offsets.append(position)
            position = chunkmod._align(position + len(section))
        if not keep_offsets:
            for record_, offset in zip(records, offsets, strict=False):
                if isinstance(record_, dict):
                    record_["offset"] = offset
            if isinstance(pay, dict):
                pay["offset"] = position
    blob = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    out = bytearray(struct.pack("<8sII", chunkmod.MAGIC, 1, len(blob)) + blob)
    for section in [*sections, payload]:
        out += b"\0" * (chunkmod._align(len(out)) - len(out)) + section
    return bytes(out)


HEADER_PATHS = [
    ("formulation",), ("codec",), ("dtype",), ("shape",), ("shape", 0), ("shape", -1), ("n_units",),
    ("alphabet_size",), ("delimiter",), ("n_symbols",), ("meta",), ("meta", "block_size"), ("meta", "gap_bits"),
    ("meta", "high_bits"), ("arrays",), ("arrays", 0), ("arrays", 0, "name"), ("arrays", 0, "dtype"),
    ("arrays", 0, "shape"), ("arrays", 0, "shape", 0), ("arrays", 0, "offset"), ("arrays", 0, "nbytes"),
    ("arrays", -1, "shape"), ("arrays", -1, "dtype"), ("arrays", -1, "nbytes"), ("payload",), ("payload", "offset"),
    ("payload", "nbytes"), ("formulation_params",), ("formulation_params", "block_size"), ("codec_params",),
    ("codec_params", "shape"),
]  # fmt: skip


def set_path(doc: Any, path: tuple, value: Any) -> bool:
    """Set ``doc[path]`` (creating dict keys); False if the path does not exist."""
    target = doc
    for step in path[:-1]:
        try:
            target = target[step]
        except (KeyError, IndexError, TypeError):
            return False
    last = path[-1]
    if value == "__delete__" and isinstance(target, dict) and last not in target:
        return False
    if isinstance(target, dict) or (
        isinstance(target, list) and isinstance(last, int) and -len(target) <= last < len(target)
    ):
        if value == "__delete__":
            del target[last]
        else:
            target[last] = value
        return True
    return False


@st.composite
def chunk_mutation(draw: Any, objects: dict[str, bytes]) -> tuple:
    keys = chunk_keys(objects)
    cb_keys = codecbench_chunk_keys(objects)
    kind = draw(
        st.sampled_from(
            [
                "flip",
                "flip-crc",
                "flip-crc",
                "truncate",
                "truncate-crc",
                "append-crc",
                "swap",
                "header",
                "header",
                "header",
                "payload-int",
                "payload-int",
                "section",
                "section",
                "delete",
            ]  # fmt: skip
        )
    )
    if kind in ("flip", "flip-crc"):
        return (kind, draw(st.sampled_from(keys)), draw(st.integers(0, 2**40)))
    if kind in ("truncate", "truncate-crc"):
        return (kind, draw(st.sampled_from(keys)), draw(st.integers(0, 2**20)))
    if kind == "append-crc":
        return (kind, draw(st.sampled_from(keys)), draw(st.sampled_from([b"\0", b"\0" * 64, b"\xff" * 3])))
    if kind == "swap":
        a, b = draw(st.lists(st.sampled_from(keys), min_size=2, max_size=2, unique=True))
        return (kind, a, b)
    if kind == "delete":
        return (kind, draw(st.sampled_from(keys + [k for k in objects if k.endswith("zarr.json") and "/" in k])))
    key = draw(st.sampled_from(cb_keys))
    if kind == "header":
        path = draw(st.sampled_from(HEADER_PATHS))
        value = draw(st.one_of(st.just("__delete__"), hostile_json()))
        return (kind, key, path, value, draw(st.booleans()))
    if kind == "payload-int":
        width = draw(st.sampled_from([4, 8]))
        return (kind, key, draw(st.integers(0, 15)) * 4, width, draw(st.sampled_from(INTERESTING_INTS)))
    return (kind, key, draw(st.integers(0, 2**31)), draw(st.binary(min_size=1, max_size=8)), draw(st.booleans()))


def apply_chunk_mutation(objects: dict[str, bytes], mutation: tuple) -> None:
    kind, key = mutation[0], mutation[1]
    if key not in objects:
        return
    blob = objects[key]
    if kind in ("flip", "flip-crc"):
        data = bytearray(blob[:-4] if kind == "flip-crc" else blob)
        if data:
            bit = mutation[2] % (8 * len(data))
            data[bit // 8] ^= 1 << (bit % 8)
        objects[key] = bytes(data) + crc(bytes(data)) if kind == "flip-crc" else bytes(data)
    elif kind == "truncate":
        objects[key] = blob[: mutation[2] % max(len(blob), 1)]
    elif kind == "truncate-crc":
        body = blob[:-4][: mutation[2] % max(len(blob) - 4, 1)]
        objects[key] = body + crc(body)
    elif kind == "append-crc":
        body = blob[:-4] + mutation[2]
        objects[key] = body + crc(body)
    elif kind == "swap":
        other = mutation[2]
        if other in objects:
            objects[key], objects[other] = objects[other], objects[key]
    elif kind == "delete":
        del objects[key]
    elif blob[:8] == chunkmod.MAGIC:
        try:
            header, sections, payload = split_chunk(blob[:-4])
        except (ValueError, KeyError, TypeError, IndexError, struct.error):
            return  # an earlier mutation broke it already
        if kind == "header":
            _, _, path, value, keep = mutation
            if not set_path(header, path, value):
                return
            body = relayout(header, sections, payload, keep_offsets=keep or path[-1] in ("offset", "nbytes"))
        elif kind == "payload-int":
            _, _, offset, width, value = mutation
            data = bytearray(payload)
            if offset + width <= len(data):
                data[offset : offset + width] = (value % (1 << (8 * width))).to_bytes(width, "little")
            body = relayout(header, sections, bytes(data))
        else:  # overwrite bytes inside an array section or the payload
            _, _, where, patch, in_payload = mutation
            parts = [bytearray(s) for s in sections] + [bytearray(payload)]
            target = parts[-1] if in_payload or not sections else parts[where % len(sections)]
            if target:
                at = where % len(target)
                target[at : at + len(patch)] = patch[: len(target) - at]
            body = relayout(header, [bytes(p) for p in parts[:-1]], bytes(parts[-1]))
        objects[key] = body + crc(body)


def check_message(exc: BaseException, *names: str) -> None:
    text = str(exc)
    assert "\n" not in text, f"error is not one line: {text!r}"
    assert any(name in text for name in names), f"error does not name {names}: {text!r}"


def check_store(objects: dict[str, bytes], originals: dict[str, np.ndarray], test: str) -> None:
    """The store oracle (see the module docstring); records one outcome per case."""
    store = zarr.storage.MemoryStore({k: cpu.Buffer.from_bytes(v) for k, v in objects.items()})
    try:
        reader = StoreReader(store, LABEL)
        names = reader.keys()
    except CodecbenchError as exc:
        check_message(exc, LABEL)
        record(test, "store rejected at open")
        return
    outcomes = set()
    for name in names:
        try:
            reader.verify(name)
        except CodecbenchError as exc:
            check_message(exc, repr(name))
            outcomes.add("verify failed (sha256 mismatch)" if "sha256" in str(exc) else "tensor rejected")
            _executor_path(reader, name, None)
            continue
        data = reader.tensor(name)
        assert name in originals, f"tensor {name!r} verified but was never written"
        expected = originals[name]
        assert data.dtype == expected.dtype and data.shape == expected.shape, name
        assert data.tobytes() == expected.tobytes(), f"tensor {name!r} verified but differs (wrong tensor)"
        _executor_path(reader, name, expected)
    for outcome in ("tensor rejected", "verify failed (sha256 mismatch)"):
        if outcome in outcomes:
            record(test, outcome)
            break
    else:
        record(test, "every tensor verified, bit-exact (damage without effect)")


def _executor_path(reader: StoreReader, name: str, expected: np.ndarray | None) -> None:
    """The executor's reads: open, ``group_spans`` over unit groups, ``decode_units`` per group.
    Damage either raises a CodecbenchError or (caught by verify) decodes to other values."""
    try:
        if reader.info(name)["storage"] == "plain":
            return
        opened = reader.open_tensor(name)
    except CodecbenchError as exc:
        check_message(exc, repr(name))
        return
    n = opened.ras.n_units
    cuts = sorted({0, 1, n // 2, n} if n > 1 else {0, n})
    if len(cuts) < 2:
        return
    try:
        spans = group_spans(opened.sequence, opened.ras, cuts)
        parts = []
        for (k0, k1), (a, b) in zip(zip(cuts[:-1], cuts[1:], strict=True), spans.tolist(), strict=True):
            symbols = opened.sequence.extract(a, b)
            parts.append(opened.formulation.decode_units(opened.ras, symbols, k0, k1))
    except CodecbenchError:
        assert expected is None, f"{name}: a verified tensor failed in the executor's path"
        return
    if expected is not None:
        assert np.concatenate(parts).tobytes() == expected.tobytes(), f"{name}: executor path differs"


@fuzz_settings(550)
@given(data=st.data())
def test_fuzz_store_chunks(fuzz_stores: list, data: st.DataObject) -> None:
    """Damaged chunks (raw, with the CRC recomputed, swapped, re-laid-out hostile headers)."""
    objects, originals = fuzz_stores[data.draw(st.integers(0, len(fuzz_stores) - 1), label="store")]
    objects = dict(objects)
    for mutation in data.draw(st.lists(chunk_mutation(objects), min_size=1, max_size=3), label="mutations"):
        apply_chunk_mutation(objects, mutation)
    check_store(objects, originals, "store-chunks")


ARRAY_PATHS = [
    ("shape",), ("shape", 0), ("shape", -1), ("data_type",), ("chunk_grid", "configuration", "chunk_shape"),
    ("chunk_grid", "configuration", "chunk_shape", 0), ("chunk_grid", "name"), ("chunk_key_encoding",),
    ("chunk_key_encoding", "configuration", "separator"), ("fill_value",), ("node_type",), ("zarr_format",),
    ("codecs",), ("codecs", 0), ("codecs", 0, "name"), ("codecs", 0, "configuration"),
    ("codecs", 0, "configuration", "formulation"), ("codecs", 0, "configuration", "codec"),
    ("codecs", 0, "configuration", "codec_params"), ("codecs", 0, "configuration", "dtype"), ("codecs", -1),
    ("codecs", -1, "name"), ("attributes",), ("attributes", "codecbench"), ("attributes", "codecbench", "storage"),
    ("attributes", "codecbench", "formulation"), ("attributes", "codecbench", "codec"),
    ("attributes", "codecbench", "formulation_params"), ("attributes", "codecbench", "codec_params"),
    ("attributes", "codecbench", "shape"), ("attributes", "codecbench", "shape", 0),
    ("attributes", "codecbench", "dtype"), ("attributes", "codecbench", "sha256"),
    ("attributes", "codecbench", "stored_nbytes"), ("attributes", "codecbench", "original_nbytes"),
    ("storage_transformers",), ("dimension_names",),
]  # fmt: skip
ROOT_PATHS = [
    ("attributes",), ("attributes", "codecbench"), ("attributes", "codecbench", "format_version"),
    ("attributes", "codecbench", "tensors"), ("attributes", "codecbench", "tensors", 0),
    ("attributes", "codecbench", "tensors", -1), ("attributes", "codecbench", "model"), ("consolidated_metadata",),
    ("consolidated_metadata", "metadata"), ("consolidated_metadata", "kind"), ("node_type",), ("zarr_format",),
]  # fmt: skip
TENSOR_NAMES = ["conv.weight", "fc.weight", "fc.bias", "", ".", "..", "x", "c", "conv.weight/c", "zarr.json", "__x"]


@st.composite
def metadata_mutation(draw: Any) -> tuple:
    kind = draw(st.sampled_from(["array", "array", "array", "root", "root", "tensors", "raw", "delete"]))
    if kind == "array":
        name = draw(st.sampled_from(["conv.weight", "fc.weight", "fc.bias"]))
        path = draw(st.sampled_from(ARRAY_PATHS))
        where = draw(st.sampled_from(["consolidated", "consolidated", "array", "both"]))
        return (kind, name, path, draw(st.one_of(st.just("__delete__"), hostile_json())), where)
    if kind == "root":
        return (kind, draw(st.sampled_from(ROOT_PATHS)), draw(st.one_of(st.just("__delete__"), hostile_json())))
    if kind == "tensors":
        names = draw(st.lists(st.one_of(st.sampled_from(TENSOR_NAMES), hostile_json()), max_size=4))
        return (kind, names)
    if kind == "raw":
        target = draw(st.sampled_from(["zarr.json", "conv.weight/zarr.json", "fc.bias/zarr.json"]))
        text = draw(
            st.sampled_from([b"", b"{", b"null", b"[]", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 5000])
        )
        return (kind, target, text)
    return (kind, draw(st.sampled_from(["zarr.json", "conv.weight/zarr.json", "fc.weight/zarr.json"])))


def apply_metadata_mutation(objects: dict[str, bytes], mutation: tuple) -> None:
    kind = mutation[0]
    if kind == "raw":
        objects[mutation[1]] = mutation[2]
        return
    if kind == "delete":
        objects.pop(mutation[1], None)
        return
    try:
        root = json.loads(objects["zarr.json"])
    except (KeyError, ValueError, RecursionError):
        return
    if kind == "root":
        set_path(root, mutation[1], mutation[2])
    elif kind == "tensors":
        set_path(root, ("attributes", "codecbench", "tensors"), mutation[1])
    else:
        _, name, path, value, where = mutation
        if where in ("consolidated", "both"):
            set_path(root, ("consolidated_metadata", "metadata", name, *path), value)
        if where in ("array", "both") and f"{name}/zarr.json" in objects:
            try:
                doc = json.loads(objects[f"{name}/zarr.json"])
            except (ValueError, RecursionError):  # replaced by garbage already
                doc = None
            if doc is not None:
                set_path(doc, path, value)
                objects[f"{name}/zarr.json"] = json.dumps(doc).encode()
    objects["zarr.json"] = json.dumps(root).encode()


@fuzz_settings(400)
@given(data=st.data())
def test_fuzz_store_metadata(fuzz_stores: list, data: st.DataObject) -> None:
    """Hostile JSON in the root and array ``zarr.json`` (and the consolidated copy readers use)."""
    objects, originals = fuzz_stores[data.draw(st.integers(0, len(fuzz_stores) - 1), label="store")]
    objects = dict(objects)
    mutations = data.draw(st.lists(metadata_mutation(), min_size=1, max_size=3), label="mutations")
    for mutation in mutations:
        apply_metadata_mutation(objects, mutation)
    if data.draw(st.booleans(), label="also damage a chunk"):
        apply_chunk_mutation(objects, data.draw(chunk_mutation(objects), label="chunk mutation"))
    check_store(objects, originals, "store-metadata")


def test_fuzz_undamaged_stores_verify(fuzz_stores: list) -> None:
    """The oracle's baseline: every undamaged store verifies and decodes bit-exactly."""
    for objects, originals in fuzz_stores:
        check_store(dict(objects), originals, "baseline")
    assert OUTCOMES["baseline"] == {"every tensor verified, bit-exact (damage without effect)": len(fuzz_stores)}


def test_fuzz_case_count() -> None:
    """At least 2,000 fuzz cases ran (when the whole module ran); writes the report if asked."""
    fuzz_tests = ["codec-open", "formulation-decode", "store-chunks", "store-metadata"]
    total = sum(sum(OUTCOMES[t].values()) for t in fuzz_tests)
    report = os.environ.get("CODECBENCH_FUZZ_REPORT")
    if report:
        summary = {t: dict(sorted(OUTCOMES[t].items())) for t in fuzz_tests}
        cases = {t: sum(OUTCOMES[t].values()) for t in fuzz_tests}
        Path(report).write_text(
            json.dumps({"long": LONG, "total": total, "cases": cases, "outcomes": summary}, indent=2)
        )
    if not all(OUTCOMES[t] for t in fuzz_tests):
        pytest.skip("only part of the fuzz module ran")
    assert total >= CI_MINIMUM, f"only {total} fuzz cases ran"


# --------------------------------------------------------------------------- regressions
# Bugs the fuzzing found (or made evident), each as the smallest failing input.


def _chunk_blob(tensor: np.ndarray, formulation: str = "element", codec: str = "raw") -> bytes:
    return chunkmod.encode_chunk(tensor, formulation, codec)


@pytest.mark.parametrize("field", ["name", "dtype"])
def test_regression_unhashable_array_record_field(field: str) -> None:
    """An array record ``name``/``dtype`` that is a JSON array raised TypeError (unhashable)."""
    header, sections, payload = split_chunk(_chunk_blob(np.ones((2, 3), np.float32)))
    header["arrays"][0][field] = []
    with pytest.raises(CorruptDataError):
        chunkmod.parse_chunk(relayout(header, sections, payload))


def _store_objects(tmp_path: Path, tensors: dict[str, np.ndarray], plans: dict[str, TensorPlan]) -> dict[str, bytes]:
    path = tmp_path / "s.zarr"
    write_store(path, tensors, plans, {"model": None}, progress=False)
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def _reader(objects: dict[str, bytes]) -> StoreReader:
    return StoreReader(zarr.storage.MemoryStore({k: cpu.Buffer.from_bytes(v) for k, v in objects.items()}), LABEL)


def test_regression_array_attributes_not_an_object(tmp_path: Path) -> None:
    """Array ``attributes`` = ``true`` in the consolidated metadata raised TypeError from zarr."""
    plan = TensorPlan(formulation="element", codec="raw")
    objects = _store_objects(tmp_path, {"w": np.ones((2, 3), np.float32)}, {"w": plan})
    apply_metadata_mutation(objects, ("array", "w", ("attributes",), True, "consolidated"))
    with pytest.raises(CodecbenchError, match="'w'"):
        _reader(objects).verify("w")


def test_regression_missing_delimiter_in_executor_path(tmp_path: Path) -> None:
    """A CRC-consistent chunk whose delimiter became a value symbol (same count): the executor's
    ``group_spans`` raised IndexError from ``select``; now CorruptDataError."""
    plan = TensorPlan(formulation="element", codec="raw")
    objects = _store_objects(tmp_path, {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, {"w": plan})
    key = codecbench_chunk_keys(objects)[0]
    header, sections, payload = split_chunk(objects[key][:-4])
    seq = get_registry().codec("raw").open(payload)
    symbols = seq.extract(0, len(seq))
    assert symbols[3] == header["delimiter"]
    symbols[3] = 0
    body = relayout(header, sections, get_registry().codec("raw").encode(symbols, header["alphabet_size"]))
    objects[key] = body + crc(body)
    reader = _reader(objects)
    with pytest.raises(CodecbenchError, match="'w'"):
        reader.verify("w")
    opened = reader.open_tensor("w")
    with pytest.raises(CorruptDataError):
        group_spans(opened.sequence, opened.ras, [0, 1, 2])


def test_regression_forged_constant_tensor_is_refused_before_decoding(tmp_path: Path) -> None:
    """A consistent chunk claiming 2**40 - 1 symbols in a zero-bit wavelet tree (a few hundred
    bytes) made ``verify`` raise a bare MemoryError (or start a 4 TiB allocation)."""
    plan = TensorPlan(formulation="element", codec="wavelet-tree")
    objects = _store_objects(tmp_path, {"c": np.full((1, 64), 0.25, np.float32)}, {"c": plan})
    key = codecbench_chunk_keys(objects)[0]
    header, sections, payload = split_chunk(objects[key][:-4])
    payload = bytearray(payload)
    payload[16:24] = struct.pack("<Q", 2**40 - 1)
    header.update(shape=[1, 2**40 - 1], n_symbols=2**40 - 1)
    body = relayout(header, sections, bytes(payload))
    objects[key] = body + crc(body)
    for path in ("c/zarr.json",):
        apply_metadata_mutation(objects, ("array", "c", ("attributes", "codecbench", "shape"), [1, 2**40 - 1], "both"))
        apply_metadata_mutation(objects, ("array", "c", ("shape",), [1, 2**40 - 1], "both"))
        assert path in objects
    with pytest.raises(CodecbenchError, match="'c'.*decoding needs"):
        _reader(objects).verify("c")


def test_regression_plain_tensor_absurd_shape(tmp_path: Path) -> None:
    """A plain tensor whose metadata claims 2**40 elements: zarr was asked to allocate 4 TiB."""
    objects = _store_objects(tmp_path, {"b": np.ones(5, np.float32)}, {"b": TensorPlan.plain()})
    for path in [("shape",), ("chunk_grid", "configuration", "chunk_shape"), ("attributes", "codecbench", "shape")]:
        apply_metadata_mutation(objects, ("array", "b", path, [2**40], "both"))
    with pytest.raises(CorruptDataError, match="'b'.*chunk is 24 bytes"):
        _reader(objects).verify("b")

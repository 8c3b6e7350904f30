"""The chunk format (codecbench.store.chunk): round trips, zero-copy parsing, and hostile headers."""

from __future__ import annotations

import copy
import json
import struct
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from codecbench.errors import CorruptDataError, RegistryError
from codecbench.store.chunk import (
    ALIGN,
    CHUNK_VERSION,
    MAGIC,
    MAX_HEADER,
    decode_chunk,
    encode_chunk,
    parse_chunk,
)

PREFIX = struct.Struct("<8sII")


def same_bits(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


def aligned_copy(data: bytes, alignment: int = ALIGN, offset: int = 0) -> np.ndarray:
    """``data`` in a uint8 array starting ``offset`` bytes past an ``alignment`` boundary."""
    big = np.zeros(len(data) + 2 * alignment, dtype=np.uint8)
    start = (-big.ctypes.data) % alignment + offset
    view = big[start : start + len(data)]
    view[:] = np.frombuffer(data, dtype=np.uint8)
    return view


def split_chunk(data: bytes) -> tuple[dict[str, Any], dict[str, bytes], bytes]:
    """(header, array sections by name, payload) of a good chunk."""
    magic, version, header_len = PREFIX.unpack_from(data, 0)
    header = json.loads(data[PREFIX.size : PREFIX.size + header_len])
    sections = {r["name"]: data[r["offset"] : r["offset"] + r["nbytes"]] for r in header["arrays"]}
    payload = header["payload"]
    return header, sections, data[payload["offset"] : payload["offset"] + payload["nbytes"]]


def repack(
    header: dict[str, Any] | bytes | str,
    sections: dict[str, bytes],
    payload: bytes,
    *,
    relayout: bool = True,
    magic: bytes = MAGIC,
    version: int = CHUNK_VERSION,
    header_len: int | None = None,
    trailing: bytes = b"",
    max_size: int = 2**16,
) -> bytes:
    """Build a chunk from a (possibly hostile) header and the original sections.

    With ``relayout`` the array and payload offsets are recomputed (as pack_chunk does) so that
    only the deliberately damaged field is wrong; otherwise they are used as written, and each
    section is placed at its recorded offset where that is possible (after what precedes it, and
    ending before ``max_size``: a section recorded past that is simply left out).
    """
    if isinstance(header, dict):
        header = copy.deepcopy(header)
        if relayout:
            records = [r for r in header.get("arrays", []) if isinstance(r, dict)]
            guess = -1
            while True:
                blob = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
                offset = _align(PREFIX.size + len(blob))
                if offset == guess:
                    break
                guess = offset
                for record in records:
                    record["offset"] = offset
                    offset = _align(offset + len(sections.get(record.get("name"), b"")))
                if isinstance(header.get("payload"), dict):
                    header["payload"]["offset"] = offset
        blob = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    else:
        blob = header.encode() if isinstance(header, str) else header
        header = None
    out = bytearray(PREFIX.pack(magic, version, len(blob) if header_len is None else header_len) + blob)
    if header is not None:
        placements = [
            (r.get("offset"), sections.get(r.get("name"), b"")) for r in header.get("arrays", []) if isinstance(r, dict)
        ]
        if isinstance(header.get("payload"), dict):
            placements.append((header["payload"].get("offset"), payload))
        for offset, section in placements:
            if type(offset) is int and len(out) <= offset and offset + len(section) <= max_size:
                out.extend(b"\0" * (offset - len(out)))
                out.extend(section)
    return bytes(out) + trailing


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@pytest.fixture(scope="module")
def tensor() -> np.ndarray:
    rng = np.random.default_rng(5)
    return (rng.integers(-8, 8, size=(6, 3, 2)) * 0.25).astype(np.float32)


@pytest.fixture(scope="module")
def good(tensor: np.ndarray) -> bytes:
    return encode_chunk(tensor, "element", "raw")


@pytest.fixture
def parts(good: bytes) -> tuple[dict[str, Any], dict[str, bytes], bytes]:
    return split_chunk(good)


# --------------------------------------------------------------------------- round trip

TENSORS = {
    "float32-4d": np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2) - 5,
    "float64-1d": np.array([1.5, -0.0, 0.0, np.inf, -np.inf, np.nan]),
    "float16-2d": (np.arange(12, dtype=np.float16) / 3).reshape(4, 3),
    "int8": np.array([[-128, 127, 0], [1, -1, 5]], dtype=np.int8),
    "int32": np.array([2**31 - 1, -(2**31), 0], dtype=np.int32),
    "uint8": np.arange(256, dtype=np.uint8).reshape(16, 16),
    "bool": np.array([[True, False], [False, False]]),
    "int64": np.array([2**62, -5, 7], dtype=np.int64),
    "uint16": np.array([[65535, 0], [1, 2]], dtype=np.uint16),
    "one-unit": np.array([[1.0, 2.0, 3.0]], dtype=np.float32),
    "single": np.array([42.0], dtype=np.float32),
    "empty-units": np.zeros((3, 0), dtype=np.float32),
    "no-units": np.zeros((0, 4), dtype=np.float32),
}


@pytest.mark.parametrize("name", sorted(TENSORS))
def test_round_trip(name: str) -> None:
    tensor = TENSORS[name]
    data = encode_chunk(tensor, "element", "raw")
    assert data[:8] == MAGIC
    same_bits(decode_chunk(data), tensor)
    same_bits(decode_chunk(memoryview(data)), tensor)
    same_bits(decode_chunk(aligned_copy(data)), tensor)
    same_bits(decode_chunk(aligned_copy(data, offset=1)), tensor)
    parsed = parse_chunk(data)
    assert parsed.formulation == "element" and parsed.codec == "raw"
    assert parsed.ras.shape == tensor.shape
    assert parsed.ras.dtype == tensor.dtype.name
    assert parsed.ras.n_units == tensor.shape[0]
    assert parsed.ras.symbols is None
    assert parsed.header["payload"]["offset"] + parsed.header["payload"]["nbytes"] == len(data)


def test_nan_payloads_survive() -> None:
    bits = np.array([0x7FC00000, 0x7FC00001, 0xFFC00000, 0x7F800001, 0x80000000, 0x00000001], dtype=np.uint32)
    tensor = bits.view(np.float32).reshape(3, 2)
    same_bits(decode_chunk(encode_chunk(tensor, "element", "raw")), tensor)


def test_layout(good: bytes, parts: tuple[dict[str, Any], dict[str, bytes], bytes]) -> None:
    header, sections, payload = parts
    magic, version, header_len = PREFIX.unpack_from(good, 0)
    assert (magic, version) == (MAGIC, CHUNK_VERSION)
    assert header_len <= MAX_HEADER
    offsets = [r["offset"] for r in header["arrays"]] + [header["payload"]["offset"]]
    assert all(o % ALIGN == 0 for o in offsets)
    assert offsets == sorted(offsets) and offsets[0] >= PREFIX.size + header_len
    assert set(good[PREFIX.size + header_len : offsets[0]]) <= {0}
    assert repack(header, sections, payload) == good, "the test's repack helper must reproduce pack_chunk"


def test_encode_chunk_rejects_object_dtype() -> None:
    with pytest.raises(ValueError):
        encode_chunk(np.array([object()], dtype=object), "element", "raw")


def test_encode_chunk_unknown_names() -> None:
    with pytest.raises(RegistryError):
        encode_chunk(np.zeros(3, np.float32), "element", "nope")
    with pytest.raises(RegistryError):
        encode_chunk(np.zeros(3, np.float32), "nope", "raw")


# --------------------------------------------------------------------------- zero copy


def test_parse_aligned_buffer_is_zero_copy(good: bytes) -> None:
    buf = aligned_copy(good)
    parsed = parse_chunk(buf)
    assert parsed.ras.arrays
    for name, arr in parsed.ras.arrays.items():
        assert np.shares_memory(arr, buf), name
    assert np.shares_memory(parsed.payload, buf)
    values = parsed.ras.arrays["values"]
    header, sections, _ = split_chunk(good)
    assert values.tobytes() == sections["values"]
    assert values.dtype == np.dtype(header["arrays"][0]["dtype"])


def test_parse_unaligned_buffer_gives_correct_arrays(good: bytes) -> None:
    buf = aligned_copy(good, offset=3)
    parsed = parse_chunk(buf)
    reference = parse_chunk(aligned_copy(good))
    for name, arr in reference.ras.arrays.items():
        same_bits(parsed.ras.arrays[name], arr)
    assert parsed.payload.tobytes() == reference.payload.tobytes()


# --------------------------------------------------------------------------- hostile prefixes


PREFIX_CASES: dict[str, Callable[[bytes, tuple[dict[str, Any], dict[str, bytes], bytes]], bytes]] = {
    "empty": lambda good, parts: b"",
    "short": lambda good, parts: good[:15],
    "bad magic": lambda good, parts: b"CBCHUNK\1" + good[8:],
    "zero magic": lambda good, parts: b"\0" * 8 + good[8:],
    "version 0": lambda good, parts: repack(*parts, version=0),
    "version 2": lambda good, parts: repack(*parts, version=2),
    "header past buffer": lambda good, parts: repack(*parts, header_len=len(good)),
    "header beyond max": lambda good, parts: repack(*parts, header_len=MAX_HEADER + 1),
    "header length 2**32-1": lambda good, parts: repack(*parts, header_len=2**32 - 1),
    "header length 0": lambda good, parts: repack(*parts, header_len=0),
}


@pytest.mark.parametrize("what", sorted(PREFIX_CASES))
def test_short_and_bad_prefix(what: str, good: bytes, parts: tuple[dict[str, Any], dict[str, bytes], bytes]) -> None:
    buf = PREFIX_CASES[what](good, parts)
    with pytest.raises(CorruptDataError):
        parse_chunk(buf)
    with pytest.raises(CorruptDataError):
        decode_chunk(buf)


@pytest.mark.parametrize(
    "blob",
    [
        b"not json",
        b"{",
        b"\xff\xfe{}",
        b"[]",
        b'"a string"',
        b"42",
        b"null",
        b"{}",
        b"\0" * 16,
        b"[" * 100_000,
        b'{"a":' * 50_000,
    ],
    ids=lambda b: repr(b[:12]),
)
def test_header_not_a_json_object(blob: bytes) -> None:
    with pytest.raises(CorruptDataError):
        parse_chunk(PREFIX.pack(MAGIC, CHUNK_VERSION, len(blob)) + blob)


# --------------------------------------------------------------------------- hostile headers


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(h: dict[str, Any]) -> None:
        target = h
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        last = keys[-1]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return edit


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def edit(h: dict[str, Any]) -> None:
        target = h
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        del target[keys[-1]]

    return edit


HEADER_EDITS: dict[str, Callable[[dict[str, Any]], None]] = {
    # wrong types
    "shape as string": _set("shape", "6,3,2"),
    "shape as dict": _set("shape", {"0": 6}),
    "shape empty": _set("shape", []),
    "shape float dim": _set("shape", [6.0, 3, 2]),
    "shape bool dim": _set("shape", [True, 3, 2]),
    "shape string dim": _set("shape", ["6", 3, 2]),
    "shape null dim": _set("shape", [6, None, 2]),
    "negative dim": _set("shape", [6, -3, 2]),
    "huge dim": _set("shape", [6, 2**41, 2]),
    "huge product": _set("shape", [6, 2**30, 2**30]),
    "dim beyond int64": _set("shape", [6, 2**70, 2]),
    "dtype object": _set("dtype", "object"),
    "dtype O": _set("dtype", "O"),
    "dtype unicode": _set("dtype", "<U4"),
    "dtype not a string": _set("dtype", 4),
    "dtype missing": _delete("dtype"),
    "formulation not a string": _set("formulation", ["element"]),
    "codec missing": _delete("codec"),
    "codec_params not a dict": _set("codec_params", []),
    "formulation_params null": _set("formulation_params", None),
    "meta not a dict": _set("meta", "x"),
    "arrays not a list": _set("arrays", {}),
    "payload not a dict": _set("payload", [0, 0]),
    "n_units missing": _delete("n_units"),
    "n_units wrong": _set("n_units", 5),
    "n_units float": _set("n_units", 6.0),
    "alphabet_size 0": _set("alphabet_size", 0),
    "alphabet_size huge": _set("alphabet_size", 2**32 + 1),
    "alphabet_size string": _set("alphabet_size", "9"),
    "delimiter negative": _set("delimiter", -1),
    "delimiter beyond alphabet": _set("delimiter", 10**6),
    "n_symbols negative": _set("n_symbols", -1),
    "n_symbols huge": _set("n_symbols", 2**43),
    "n_symbols null": _set("n_symbols", None),
    # array records
    "array record not a dict": _set("arrays.0", "values"),
    "array name missing": _delete("arrays.0.name"),
    "array name not a string": _set("arrays.0.name", 1),
    "array dtype object": _set("arrays.0.dtype", "object"),
    "array dtype O": _set("arrays.0.dtype", "O"),
    "array dtype void": _set("arrays.0.dtype", "V8"),
    "array dtype missing": _delete("arrays.0.dtype"),
    "array shape string": _set("arrays.0.shape", "4"),
    "array shape negative": _set("arrays.0.shape", [-4]),
    "array shape huge": _set("arrays.0.shape", [2**41]),
    "array shape float": _set("arrays.0.shape", [4.0]),
    "array nbytes too small": lambda h: h["arrays"][0].update(nbytes=h["arrays"][0]["nbytes"] - 1),
    "array nbytes too large": lambda h: h["arrays"][0].update(nbytes=h["arrays"][0]["nbytes"] + 4),
    "array nbytes negative": _set("arrays.0.nbytes", -4),
    "array nbytes missing": _delete("arrays.0.nbytes"),
    "array shape does not match nbytes": lambda h: h["arrays"][0].update(shape=[h["arrays"][0]["shape"][0] + 1]),
    "array dtype does not match nbytes": _set("arrays.0.dtype", "float64"),
    # offsets (relayout leaves these alone: see NO_RELAYOUT)
    "array offset misaligned": lambda h: h["arrays"][0].update(offset=h["arrays"][0]["offset"] + 4),
    "array offset past end": lambda h: h["arrays"][0].update(offset=10**9),
    "array offset inside header": _set("arrays.0.offset", 0),
    "array offset negative": _set("arrays.0.offset", -64),
    "array offset float": lambda h: h["arrays"][0].update(offset=float(h["arrays"][0]["offset"])),
    "array offset missing": _delete("arrays.0.offset"),
    "payload offset misaligned": lambda h: h["payload"].update(offset=h["payload"]["offset"] + 8),
    "payload offset past end": lambda h: h["payload"].update(offset=h["payload"]["offset"] + 10**6),
    "payload offset before arrays end": lambda h: h["payload"].update(offset=h["arrays"][0]["offset"]),
    "payload offset inside header": _set("payload.offset", 0),
    "payload offset missing": _delete("payload.offset"),
    "payload offset string": _set("payload.offset", "128"),
    "payload nbytes too large": lambda h: h["payload"].update(nbytes=h["payload"]["nbytes"] + 1),
    "payload nbytes too small": lambda h: h["payload"].update(nbytes=h["payload"]["nbytes"] - 8),
    "payload nbytes negative": _set("payload.nbytes", -1),
    "payload nbytes huge": _set("payload.nbytes", 2**63),
    "payload nbytes missing": _delete("payload.nbytes"),
}
NO_RELAYOUT = {name for name in HEADER_EDITS if "offset" in name or name.startswith("payload nbytes")}


@pytest.mark.parametrize("what", sorted(HEADER_EDITS))
def test_hostile_header(what: str, parts: tuple[dict[str, Any], dict[str, bytes], bytes]) -> None:
    header, sections, payload = parts
    edited = copy.deepcopy(header)
    HEADER_EDITS[what](edited)
    buf = repack(edited, sections, payload, relayout=what not in NO_RELAYOUT)
    with pytest.raises(CorruptDataError):
        parse_chunk(buf)
    with pytest.raises(CorruptDataError):
        decode_chunk(buf)


@pytest.mark.parametrize("extra", [b"\0", b"\0" * 63, b"\0" * 64, b"x" * 100])
def test_trailing_bytes(good: bytes, extra: bytes) -> None:
    with pytest.raises(CorruptDataError):
        parse_chunk(good + extra)


@pytest.mark.parametrize("cut", [1, 8, 63, 64])
def test_truncated_chunk(good: bytes, cut: int) -> None:
    with pytest.raises(CorruptDataError):
        parse_chunk(good[:-cut])


def test_every_truncation_is_rejected(good: bytes) -> None:
    for length in range(len(good)):
        with pytest.raises(CorruptDataError):
            parse_chunk(good[:length])


# --------------------------------------------------------------------------- headers that parse but lie


def _drop_values(h: dict[str, Any]) -> None:
    h["arrays"] = []


def _values_as(dtype: str, itemsize_ratio: int) -> Callable[[dict[str, Any]], None]:
    def edit(h: dict[str, Any]) -> None:
        record = h["arrays"][0]
        record["dtype"] = dtype
        record["shape"] = [record["shape"][0] * itemsize_ratio]

    return edit


def _values_2d(h: dict[str, Any]) -> None:
    record = h["arrays"][0]
    record["shape"] = [1, record["shape"][0]]


LYING_HEADERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "values array missing": _drop_values,
    "values as int32": _values_as("int32", 1),
    "values as uint8": _values_as("uint8", 4),
    "values as float16": _values_as("float16", 2),
    "values 2-d": _values_2d,
    "header dtype float64": _set("dtype", "float64"),
    "header dtype int32": _set("dtype", "int32"),
    "shape transposed": lambda h: h.update(shape=[h["shape"][1], h["shape"][0], h["shape"][2]], n_units=h["shape"][1]),
    "shape regrouped": lambda h: h.update(shape=[h["shape"][0], h["shape"][2], h["shape"][1]]),
    "n_symbols off by one": lambda h: h.update(n_symbols=h["n_symbols"] + 1),
    "alphabet_size larger": lambda h: h.update(alphabet_size=h["alphabet_size"] + 1),
    "delimiter 0": _set("delimiter", 0),
    "formulation unknown": _set("formulation", "nonexistent"),
    "codec unknown": _set("codec", "nonexistent"),
}


@pytest.mark.parametrize("what", sorted(LYING_HEADERS))
def test_decode_chunk_with_lying_header(
    what: str, tensor: np.ndarray, parts: tuple[dict[str, Any], dict[str, bytes], bytes]
) -> None:
    """A header that parses but disagrees with the sections: decode_chunk raises CorruptDataError
    (RegistryError for a name nobody registered) or returns exactly the header's shape and dtype."""
    header, sections, payload = parts
    edited = copy.deepcopy(header)
    LYING_HEADERS[what](edited)
    buf = repack(edited, sections, payload)
    parse_chunk(buf)  # these edits are all well-formed
    try:
        out = decode_chunk(buf)
    except (CorruptDataError, RegistryError):
        return
    assert out.shape == tuple(edited["shape"]), what
    assert out.dtype == np.dtype(edited["dtype"]), what


def test_header_bit_flips(good: bytes, tensor: np.ndarray) -> None:
    """Every single bit flip in the prefix and header: CorruptDataError (or RegistryError for a
    changed codec/formulation name), or a chunk that decodes to the header's shape and dtype."""
    header_end = PREFIX.size + PREFIX.unpack_from(good, 0)[2]
    decoded = 0
    for bit in range(8 * header_end):
        flipped = bytearray(good)
        flipped[bit // 8] ^= 1 << (bit % 8)
        buf = bytes(flipped)
        try:
            parsed = parse_chunk(buf)
        except CorruptDataError:
            continue
        try:
            out = decode_chunk(buf)
        except (CorruptDataError, RegistryError):
            continue
        except Exception as exc:
            raise AssertionError(
                f"bit {bit} (byte {buf[bit // 8 : bit // 8 + 1]!r}): {type(exc).__name__}: {exc}"
            ) from exc
        decoded += 1
        assert out.shape == tuple(parsed.header["shape"]), bit
        assert out.dtype == np.dtype(parsed.header["dtype"]), bit
    assert decoded < 8 * header_end

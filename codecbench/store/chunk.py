"""The codecbench chunk: one tensor's RAS, encoded by a codec, as one self-describing blob.

Layout (``specs/store-format.md`` is normative; little-endian)::

    0   8  magic b"CBCHUNK\\0"
    8   4  u32 chunk layout version (1)
    12  4  u32 header length H (<= 16 MiB)
    16  H  header: UTF-8 JSON object (see below)
    ..     zero padding; then sections, each starting at a multiple of 64 bytes from the
           chunk start: formulation arrays in header order, then the codec payload.
           The chunk ends exactly where the payload ends.

The header names the formulation and codec (with their parameters), the tensor's shape and
dtype, the RAS figures (``n_units``, ``alphabet_size``, ``delimiter``, ``n_symbols``), the
formulation's ``meta`` and one ``{name, dtype, shape, offset, nbytes}`` record per array,
and ``payload: {offset, nbytes}``. Parsing checks every field's type and every section
against the buffer before anything is allocated from it.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from codecbench import dtypes
from codecbench.codecs.base import as_byte_array, open_sequence
from codecbench.errors import CorruptDataError
from codecbench.formulations.base import RAS
from codecbench.registry import Registry, get_registry

MAGIC = b"CBCHUNK\0"
CHUNK_VERSION = 1
ALIGN = 64
#: a chunk whose first byte is this aligned gives zero-copy views of every section (8 = the widest dtype)
VIEW_ALIGN = 8
MAX_HEADER = 16 * 2**20
# dtypes a tensor or formulation array may have; nothing that can hold Python objects
ALLOWED_DTYPES = {
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "bfloat16",  # numpy dtype from ml_dtypes (codecbench.dtypes)
}
_PREFIX = struct.Struct("<8sII")


@dataclass
class ParsedChunk:
    """A chunk's header and RAS (arrays are views on the buffer) plus its codec payload."""

    header: dict[str, Any]
    ras: RAS
    payload: np.ndarray

    @property
    def formulation(self) -> str:
        return self.header["formulation"]

    @property
    def codec(self) -> str:
        return self.header["codec"]


def encode_chunk(
    tensor: np.ndarray,
    formulation: str,
    codec: str,
    formulation_params: dict[str, Any] | None = None,
    codec_params: dict[str, Any] | None = None,
    registry: Registry | None = None,
) -> bytes:
    registry = registry or get_registry()
    formulation_params = dict(formulation_params or {})
    codec_params = dict(codec_params or {})
    tensor = np.asarray(tensor)
    if tensor.dtype.name not in ALLOWED_DTYPES:
        raise ValueError(f"dtype {tensor.dtype} cannot be stored (allowed: {', '.join(sorted(ALLOWED_DTYPES))})")
    ras = registry.formulation(formulation).encode(tensor, **formulation_params)
    payload = registry.codec(codec).encode(ras.symbols, ras.alphabet_size, **codec_params)
    return pack_chunk(ras, payload, formulation, codec, formulation_params, codec_params)


def pack_chunk(
    ras: RAS,
    payload: bytes,
    formulation: str,
    codec: str,
    formulation_params: dict[str, Any],
    codec_params: dict[str, Any],
) -> bytes:
    arrays = {name: np.asarray(arr, order="C") for name, arr in ras.arrays.items()}
    records = [
        {"name": name, "dtype": arr.dtype.name, "shape": list(arr.shape), "nbytes": arr.nbytes}
        for name, arr in arrays.items()
    ]
    header: dict[str, Any] = {
        "formulation": formulation,
        "formulation_params": formulation_params,
        "codec": codec,
        "codec_params": codec_params,
        "shape": list(ras.shape),
        "dtype": ras.dtype,
        "n_units": ras.n_units,
        "alphabet_size": ras.alphabet_size,
        "delimiter": ras.delimiter,
        "n_symbols": int(ras.symbols.size) if ras.symbols is not None else 0,
        "meta": ras.meta,
        "arrays": records,
        "payload": {"nbytes": len(payload)},
    }
    # offsets depend on the header length, which depends on the offsets' digits: iterate
    offset_guess = 0
    while True:
        blob = _header_bytes(header)
        offset = _align(_PREFIX.size + len(blob))
        if offset == offset_guess:
            break
        offset_guess = offset
        for record in records:
            record["offset"] = offset
            offset = _align(offset + record["nbytes"])
        header["payload"]["offset"] = offset
    parts = [_PREFIX.pack(MAGIC, CHUNK_VERSION, len(blob)), blob]
    position = _PREFIX.size + len(blob)
    for record in records:
        parts.append(b"\0" * (record["offset"] - position))
        parts.append(arrays[record["name"]].astype(arrays[record["name"]].dtype.newbyteorder("<")).tobytes())
        position = record["offset"] + record["nbytes"]
    parts.append(b"\0" * (header["payload"]["offset"] - position))
    parts.append(bytes(payload))
    return b"".join(parts)


def parse_chunk(buffer: Any) -> ParsedChunk:
    """Parse and validate a chunk; arrays and payload are zero-copy views on ``buffer``."""
    data = as_byte_array(buffer)
    if data.size < _PREFIX.size:
        raise CorruptDataError(f"chunk of {data.size} bytes is shorter than its {_PREFIX.size}-byte prefix")
    magic, version, header_len = _PREFIX.unpack_from(data, 0)
    if magic != MAGIC:
        raise CorruptDataError("chunk has a bad magic number (not a codecbench chunk)")
    if version != CHUNK_VERSION:
        raise CorruptDataError(f"chunk layout version {version} is not supported (this build reads {CHUNK_VERSION})")
    if header_len > MAX_HEADER or _PREFIX.size + header_len > data.size:
        raise CorruptDataError(f"chunk header length {header_len} exceeds the {data.size}-byte chunk")
    try:
        header = json.loads(bytes(data[_PREFIX.size : _PREFIX.size + header_len]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # deep nesting is hostile input too
        raise CorruptDataError(f"chunk header is not valid JSON: {exc}") from None
    _check_header(header)
    end_of_header = _PREFIX.size + header_len
    arrays: dict[str, np.ndarray] = {}
    last_end = end_of_header
    for record in header["arrays"]:
        arrays[record["name"]] = _section_array(data, record, last_end)
        last_end = record["offset"] + record["nbytes"]
    payload_rec = header["payload"]
    _check_section(data, payload_rec, last_end, "payload")
    if payload_rec["offset"] + payload_rec["nbytes"] != data.size:
        raise CorruptDataError(
            f"chunk has {data.size - payload_rec['offset'] - payload_rec['nbytes']} bytes after its payload"
        )
    payload = data[payload_rec["offset"] : payload_rec["offset"] + payload_rec["nbytes"]]
    ras = RAS(
        symbols=None,
        alphabet_size=header["alphabet_size"],
        delimiter=header["delimiter"],
        n_units=header["n_units"],
        shape=tuple(header["shape"]),
        dtype=header["dtype"],
        arrays=arrays,
        meta=header["meta"],
    )
    return ParsedChunk(header, ras, payload)


def decode_chunk(buffer: Any, registry: Registry | None = None) -> np.ndarray:
    """The whole tensor a chunk holds, bit-exact."""
    return decode_parsed(parse_chunk(buffer), registry)


def decode_parsed(parsed: ParsedChunk, registry: Registry | None = None) -> np.ndarray:
    """The whole tensor of an already parsed chunk."""
    registry = registry or get_registry()
    formulation = registry.formulation(parsed.formulation)
    formulation.check_ras(parsed.ras)
    formulation.check_symbol_count(parsed.ras, parsed.header["n_symbols"])
    seq = open_sequence(registry.codec(parsed.codec), parsed.payload)
    check_sequence(parsed, seq)
    return formulation.decode(parsed.ras, seq)


def check_sequence(parsed: ParsedChunk, seq: Any) -> None:
    """The opened payload must agree with the header about length and alphabet."""
    if len(seq) != parsed.header["n_symbols"] or seq.alphabet_size != parsed.ras.alphabet_size:
        raise CorruptDataError(
            f"codec payload holds {len(seq)} symbols over {seq.alphabet_size}, header says "
            f"{parsed.header['n_symbols']} over {parsed.ras.alphabet_size}"
        )


def _header_bytes(header: dict[str, Any]) -> bytes:
    return json.dumps(header, separators=(",", ":"), sort_keys=True, allow_nan=False).encode("utf-8")


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _int(value: Any, what: str, lo: int = 0, hi: int = 2**63 - 1) -> int:
    if type(value) is not int or not lo <= value <= hi:
        raise CorruptDataError(f"chunk header field {what} = {value!r} is not an integer in [{lo}, {hi}]")
    return value


def _check_header(h: Any) -> None:
    if not isinstance(h, dict):
        raise CorruptDataError("chunk header is not a JSON object")
    for key, kind in (
        ("formulation", str),
        ("codec", str),
        ("dtype", str),
        ("formulation_params", dict),
        ("codec_params", dict),
        ("meta", dict),
        ("shape", list),
        ("arrays", list),
        ("payload", dict),
    ):
        if not isinstance(h.get(key), kind):
            raise CorruptDataError(f"chunk header field {key} is missing or not a {kind.__name__}")
    if h["dtype"] not in ALLOWED_DTYPES:
        raise CorruptDataError(f"chunk header dtype {h['dtype']!r} is not allowed")
    if not h["shape"]:
        raise CorruptDataError("chunk header shape is empty (a 0-d tensor has no units)")
    for d in h["shape"]:
        _int(d, "shape", 0, 2**40)
    if math.prod(h["shape"]) > 2**40:
        raise CorruptDataError(f"chunk header shape {h['shape']} is absurdly large")
    _int(h.get("n_units"), "n_units", h["shape"][0], h["shape"][0])
    _int(h.get("alphabet_size"), "alphabet_size", 1, 2**32)
    _int(h.get("delimiter"), "delimiter", 0, h["alphabet_size"] - 1)
    _int(h.get("n_symbols"), "n_symbols", 0, 2**42)
    for record in h["arrays"]:
        if not isinstance(record, dict) or not isinstance(record.get("name"), str):
            raise CorruptDataError("chunk header array record is malformed")
    names = [record["name"] for record in h["arrays"]]
    if len(set(names)) != len(names):
        raise CorruptDataError("chunk header names an array twice")
    for record in h["arrays"]:
        dtype = record.get("dtype")
        if not isinstance(dtype, str) or dtype not in ALLOWED_DTYPES or not isinstance(record.get("shape"), list):
            raise CorruptDataError(f"chunk array {record['name']!r} has a bad dtype or shape")
        for d in record["shape"]:
            _int(d, f"arrays.{record['name']}.shape", 0, 2**40)


def _check_section(data: np.ndarray, record: dict[str, Any], not_before: int, what: str) -> None:
    offset = _int(record.get("offset"), f"{what}.offset", not_before, data.size)
    nbytes = _int(record.get("nbytes"), f"{what}.nbytes", 0, data.size)
    if offset % ALIGN or offset + nbytes > data.size:
        raise CorruptDataError(
            f"chunk section {what} [{offset}, {offset + nbytes}) is misaligned or past the {data.size}-byte chunk"
        )


def _section_array(data: np.ndarray, record: dict[str, Any], not_before: int) -> np.ndarray:
    _check_section(data, record, not_before, f"arrays.{record['name']}")
    dtype = dtypes.dtype_of(record["dtype"]).newbyteorder("<")
    count = math.prod(record["shape"])
    if count * dtype.itemsize != record["nbytes"]:
        raise CorruptDataError(
            f"chunk array {record['name']!r}: shape {record['shape']} of {record['dtype']} is not {record['nbytes']} bytes"
        )
    view = data[record["offset"] : record["offset"] + record["nbytes"]]
    arr = view.view(dtype) if data.ctypes.data % VIEW_ALIGN == 0 else np.frombuffer(view.tobytes(), dtype=dtype)
    return arr.reshape(record["shape"])

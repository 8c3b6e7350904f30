"""The ``codecbench`` zarr v3 array->bytes codec, registered under entry-point group ``zarr.codecs``.

It turns a chunk (a whole tensor) into a codecbench chunk and back, so plain
``zarr.open_group(path)`` reads every tensor without importing codecbench by hand. Its
configuration names what the chunk holds::

    {"name": "codecbench", "configuration": {"formulation": "element", "codec": "raw",
      "formulation_params": {}, "codec_params": {}}}

A bfloat16 tensor (which zarr has no data type for) is a ``uint16`` zarr array of its bit
patterns, and the configuration then also holds ``"dtype": "bfloat16"``: the codec reads the
array as bfloat16 to encode and hands zarr the bit patterns when decoding. The key is absent
for every other dtype.

Decoding checks that the chunk's own header agrees with this configuration.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from zarr.abc.codec import ArrayBytesCodec
from zarr.core.array_spec import ArraySpec
from zarr.core.buffer import Buffer, NDBuffer

from codecbench import dtypes
from codecbench.errors import CorruptDataError
from codecbench.store import chunk

CODEC_NAME = "codecbench"


@dataclass(frozen=True)
class CodecbenchZarrCodec(ArrayBytesCodec):
    formulation: str = "element"
    codec: str = "raw"
    formulation_params: dict[str, Any] = field(default_factory=dict)
    codec_params: dict[str, Any] = field(default_factory=dict)
    dtype: str | None = None  # "bfloat16" for a uint16 array holding bfloat16 bit patterns
    is_fixed_size = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CodecbenchZarrCodec:
        if data.get("name") != CODEC_NAME:
            raise ValueError(f"expected codec name {CODEC_NAME!r}, got {data.get('name')!r}")
        config = data.get("configuration") or {}
        unknown = set(config) - {"formulation", "codec", "formulation_params", "codec_params", "dtype"}
        if unknown:
            raise ValueError(f"codecbench codec: unknown configuration key {sorted(unknown)[0]!r}")
        if config.get("dtype", "bfloat16") != "bfloat16":
            raise ValueError(
                f"codecbench codec: configuration dtype must be 'bfloat16' if given, not {config['dtype']!r}"
            )
        return cls(**config)

    def to_dict(self) -> dict[str, Any]:
        config = {
            "formulation": self.formulation,
            "codec": self.codec,
            "formulation_params": dict(self.formulation_params),
            "codec_params": dict(self.codec_params),
        }
        if self.dtype is not None:
            config["dtype"] = self.dtype
        return {"name": CODEC_NAME, "configuration": config}

    def __hash__(self) -> int:  # dict fields are not hashable; zarr hashes codecs
        return hash(
            (
                self.formulation,
                self.codec,
                repr(sorted(self.formulation_params.items())),
                repr(sorted(self.codec_params.items())),
                self.dtype,
            )
        )

    def compute_encoded_size(self, input_byte_length: int, chunk_spec: ArraySpec) -> int:
        raise NotImplementedError("codecbench chunks are variable-size")

    async def _decode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        raw = chunk_bytes.as_numpy_array()
        parsed = chunk.parse_chunk(raw)
        if (parsed.formulation, parsed.codec) != (self.formulation, self.codec):
            raise CorruptDataError(
                f"chunk holds {parsed.formulation}/{parsed.codec}, array metadata says {self.formulation}/{self.codec}"
            )
        if (parsed.ras.dtype == "bfloat16") != (self.dtype == "bfloat16"):
            raise CorruptDataError(f"chunk holds {parsed.ras.dtype}, array metadata says dtype {self.dtype}")
        tensor = dtypes.storage_view(await asyncio.to_thread(chunk.decode_parsed, parsed))
        if tensor.shape != tuple(chunk_spec.shape):
            raise CorruptDataError(f"chunk decodes to shape {tensor.shape}, array expects {tuple(chunk_spec.shape)}")
        return chunk_spec.prototype.nd_buffer.from_ndarray_like(tensor)

    async def _encode_single(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
        tensor = np.asarray(chunk_array.as_ndarray_like())
        if self.dtype is not None:
            tensor = dtypes.from_storage(tensor, self.dtype)
        blob = await asyncio.to_thread(
            chunk.encode_chunk, tensor, self.formulation, self.codec, self.formulation_params, self.codec_params
        )
        return chunk_spec.prototype.buffer.from_bytes(blob)

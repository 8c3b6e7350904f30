"""The ``codecbench`` zarr v3 array->bytes codec, registered under entry-point group ``zarr.codecs``.

It turns a chunk (a whole tensor) into a codecbench chunk and back, so plain
``zarr.open_group(path)`` reads every tensor without importing codecbench by hand. Its
configuration names what the chunk holds::

    {"name": "codecbench", "configuration": {"formulation": "element", "codec": "raw",
      "formulation_params": {}, "codec_params": {}}}

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

from codecbench.errors import CorruptDataError
from codecbench.store import chunk

CODEC_NAME = "codecbench"


@dataclass(frozen=True)
class CodecbenchZarrCodec(ArrayBytesCodec):
    formulation: str = "element"
    codec: str = "raw"
    formulation_params: dict[str, Any] = field(default_factory=dict)
    codec_params: dict[str, Any] = field(default_factory=dict)
    is_fixed_size = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CodecbenchZarrCodec:
        if data.get("name") != CODEC_NAME:
            raise ValueError(f"expected codec name {CODEC_NAME!r}, got {data.get('name')!r}")
        config = data.get("configuration") or {}
        unknown = set(config) - {"formulation", "codec", "formulation_params", "codec_params"}
        if unknown:
            raise ValueError(f"codecbench codec: unknown configuration key {sorted(unknown)[0]!r}")
        return cls(**config)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": CODEC_NAME,
            "configuration": {
                "formulation": self.formulation,
                "codec": self.codec,
                "formulation_params": dict(self.formulation_params),
                "codec_params": dict(self.codec_params),
            },
        }

    def __hash__(self) -> int:  # dict fields are not hashable; zarr hashes codecs
        return hash(
            (
                self.formulation,
                self.codec,
                repr(sorted(self.formulation_params.items())),
                repr(sorted(self.codec_params.items())),
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
        tensor = await asyncio.to_thread(chunk.decode_parsed, parsed)
        if tensor.shape != tuple(chunk_spec.shape):
            raise CorruptDataError(f"chunk decodes to shape {tensor.shape}, array expects {tuple(chunk_spec.shape)}")
        return chunk_spec.prototype.nd_buffer.from_ndarray_like(tensor)

    async def _encode_single(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
        tensor = np.asarray(chunk_array.as_ndarray_like())
        blob = await asyncio.to_thread(
            chunk.encode_chunk, tensor, self.formulation, self.codec, self.formulation_params, self.codec_params
        )
        return chunk_spec.prototype.buffer.from_bytes(blob)

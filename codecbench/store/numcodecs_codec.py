"""The ``codecbench`` numcodecs codec (entry-point group ``numcodecs.codecs``).

``encode(ndarray) -> bytes`` writes one codecbench chunk; ``decode(buf, out=None)`` returns
the tensor with the shape and dtype recorded in the chunk (copied into ``out`` if given).
Config: ``formulation``, ``codec``, ``formulation_params``, ``codec_params``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numcodecs.abc import Codec as NumcodecsCodec
from numcodecs.compat import ensure_contiguous_ndarray, ndarray_copy

from codecbench.store import chunk


class CodecbenchNumcodec(NumcodecsCodec):
    codec_id = "codecbench"

    def __init__(
        self,
        formulation: str = "element",
        codec: str = "raw",
        formulation_params: dict[str, Any] | None = None,
        codec_params: dict[str, Any] | None = None,
    ) -> None:
        self.formulation = formulation
        self.codec = codec
        self.formulation_params = dict(formulation_params or {})
        self.codec_params = dict(codec_params or {})

    def encode(self, buf: Any) -> bytes:
        tensor = np.asarray(buf)
        if tensor.ndim == 0:
            tensor = tensor.reshape(1)
        return chunk.encode_chunk(tensor, self.formulation, self.codec, self.formulation_params, self.codec_params)

    def decode(self, buf: Any, out: Any = None) -> np.ndarray:
        tensor = chunk.decode_chunk(ensure_contiguous_ndarray(buf).view(np.uint8))
        return tensor if out is None else ndarray_copy(tensor, out)

    def get_config(self) -> dict[str, Any]:
        return {
            "id": self.codec_id,
            "formulation": self.formulation,
            "codec": self.codec,
            "formulation_params": self.formulation_params,
            "codec_params": self.codec_params,
        }

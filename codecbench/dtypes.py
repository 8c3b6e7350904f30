"""The dtypes codecbench stores, and the one that numpy and zarr lack: bfloat16.

numpy has no bfloat16; ``ml_dtypes`` adds it as a numpy dtype (named ``"bfloat16"`` once
imported, kind ``"V"``), so formulations see bfloat16 tensors as ordinary arrays of 2-byte
bit patterns. zarr v3 has no bfloat16 data type, so a store keeps bfloat16 tensors as
``uint16`` arrays of their bit patterns (``specs/store-format.md``); torch has bfloat16 but
``torch.from_numpy`` does not accept ml_dtypes arrays. The converters here bridge the three.

``ml_dtypes`` is imported on first need (``BFLOAT16``, or a bfloat16 to convert): ml_dtypes 0.7
takes about 1.4 s to import on this project's reference machine (0.6: 0.13 s), and every fresh
process that runs a float32 model would pay it. A bfloat16 array can only exist once ml_dtypes is
imported, so telling one apart needs no import (:func:`is_bfloat16`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported only by the converters: the store layer must not pay for it
    import torch


@functools.cache
def bfloat16() -> np.dtype:
    """ml_dtypes' bfloat16 as a numpy dtype (imports ml_dtypes, once)."""
    import ml_dtypes

    return np.dtype(ml_dtypes.bfloat16)


def __getattr__(name: str) -> np.dtype:  # ``BFLOAT16``, imported lazily (PEP 562)
    if name == "BFLOAT16":
        return bfloat16()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_bfloat16(dtype: np.dtype) -> bool:
    """ml_dtypes' bfloat16, without importing ml_dtypes (numpy has no other dtype of that name)."""
    return dtype.kind == "V" and dtype.name == "bfloat16"


def is_float(dtype: np.dtype) -> bool:
    """IEEE-style binary floats: numpy's, and bfloat16."""
    return dtype.kind == "f" or is_bfloat16(dtype)


def dtype_of(name: str) -> np.dtype:
    """The numpy dtype of a recorded dtype name (``"bfloat16"`` through ml_dtypes)."""
    return bfloat16() if name == "bfloat16" else np.dtype(name)


def storage_view(array: np.ndarray) -> np.ndarray:
    """What zarr stores for ``array``: bfloat16 as its uint16 bit patterns, others unchanged."""
    return array.view(np.uint16) if is_bfloat16(array.dtype) else array


def from_storage(array: np.ndarray, dtype_name: str) -> np.ndarray:
    """Inverse of :func:`storage_view`, given the tensor's recorded dtype name."""
    return array.view(bfloat16()) if dtype_name == "bfloat16" else array


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A CPU torch tensor as numpy, bfloat16 included (shares memory where torch allows)."""
    import torch

    tensor = tensor.detach().cpu().contiguous()
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().view(bfloat16())
    return tensor.numpy()


def to_torch(array: np.ndarray) -> torch.Tensor:
    """A numpy array as a torch tensor, bfloat16 included (shares memory; needs a writable array)."""
    import torch

    if is_bfloat16(array.dtype):
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)

"""The dtypes codecbench stores, and the one that numpy and zarr lack: bfloat16.

numpy has no bfloat16; ``ml_dtypes`` adds it as a numpy dtype (named ``"bfloat16"`` once
imported, kind ``"V"``), so formulations see bfloat16 tensors as ordinary arrays of 2-byte
bit patterns. zarr v3 has no bfloat16 data type, so a store keeps bfloat16 tensors as
``uint16`` arrays of their bit patterns (``specs/store-format.md``); torch has bfloat16 but
``torch.from_numpy`` does not accept ml_dtypes arrays. The converters here bridge the three.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ml_dtypes
import numpy as np

if TYPE_CHECKING:  # torch is imported only by the converters: the store layer must not pay for it
    import torch

BFLOAT16 = np.dtype(ml_dtypes.bfloat16)


def is_float(dtype: np.dtype) -> bool:
    """IEEE-style binary floats: numpy's, and bfloat16."""
    return dtype.kind == "f" or dtype == BFLOAT16


def storage_view(array: np.ndarray) -> np.ndarray:
    """What zarr stores for ``array``: bfloat16 as its uint16 bit patterns, others unchanged."""
    return array.view(np.uint16) if array.dtype == BFLOAT16 else array


def from_storage(array: np.ndarray, dtype_name: str) -> np.ndarray:
    """Inverse of :func:`storage_view`, given the tensor's recorded dtype name."""
    return array.view(BFLOAT16) if dtype_name == "bfloat16" else array


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A CPU torch tensor as numpy, bfloat16 included (shares memory where torch allows)."""
    import torch

    tensor = tensor.detach().cpu().contiguous()
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().view(BFLOAT16)
    return tensor.numpy()


def to_torch(array: np.ndarray) -> torch.Tensor:
    """A numpy array as a torch tensor, bfloat16 included (shares memory; needs a writable array)."""
    import torch

    if array.dtype == BFLOAT16:
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)

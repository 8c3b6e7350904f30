"""Weights for the end-to-end conformance cases: AlexNet ``init:0`` snapped to a few levels per tensor.

Weight-shared (quantized) tensors are what entropy codecs are for, and small alphabets keep every
codec's end-to-end case quick. The file is written once per process and shared by every suite.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path


@functools.lru_cache(maxsize=4)
def quantized_alexnet_weights(levels: int = 256) -> Path:
    """A ``.safetensors`` file: AlexNet ``init:0`` with every weight tensor (``ndim >= 2``) snapped to
    ``levels`` evenly spaced values between its minimum and maximum. Deleted at interpreter exit."""
    import torch
    from safetensors.torch import save_file

    from codecbench.models import load_weights

    if levels < 2:
        raise ValueError(f"levels must be >= 2, got {levels}")
    state = load_weights("init:0", "alexnet")
    for key, tensor in state.items():
        if tensor.ndim >= 2:
            lo, hi = tensor.min(), tensor.max()
            step = (hi - lo) / (levels - 1)
            state[key] = (torch.round((tensor - lo) / step) * step + lo).contiguous()
    directory = Path(tempfile.mkdtemp(prefix="codecbench-conformance-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    path = directory / f"alexnet-init0-q{levels}.safetensors"
    save_file(state, str(path))
    return path

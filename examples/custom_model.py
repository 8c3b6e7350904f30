"""Any torch model whose heavy layers are Conv2d/Linear runs from a store, not only the built-ins.

python examples/custom_model.py [STORE]
"""

from __future__ import annotations

import sys

import torch
from torch import nn

import codecbench
from codecbench.compression import compress_state_dict
from codecbench.executor.runner import same_bits
from codecbench.store.config import StoreConfig


def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 96, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(96, 128, 3, groups=32),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(128 * 10 * 10, 256),
        nn.ReLU(),
        nn.Linear(256, 10),
    ).eval()


torch.manual_seed(0)
model = make_model()
store_path = sys.argv[1] if len(sys.argv) > 1 else "custom.zarr"
compress_state_dict(model.state_dict(), store_path, StoreConfig.simple(), overwrite=True, progress=False)

compressed = codecbench.open(store_path).load_model(make_model(), group_weights=100_000)
x = torch.randn(4, 1, 28, 28)
with torch.inference_mode():
    print("bit-identical:", same_bits(compressed(x), model(x)))

"""A small Conv2d/Linear model for executor tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from codecbench.compression import compress_state_dict
from codecbench.store.config import StoreConfig


class TinyNet(nn.Module):
    """Conv2d/Linear mix covering the executor's cases: grouped conv, reflect padding,
    stride/dilation, a layer larger than one unit group, a layer smaller than one."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 128, 3, padding=1, padding_mode="reflect"),
            nn.ReLU(),
            nn.Conv2d(128, 128, 3, padding=1, groups=128),  # depthwise: cut every 64 conv groups
            nn.Conv2d(128, 192, 3, stride=2, padding=2, dilation=2, groups=2),
            nn.ReLU(),
            nn.Conv2d(192, 40, 1, bias=False),
        )
        self.pool = nn.AdaptiveAvgPool2d((4, 4))
        self.head = nn.Sequential(nn.Linear(40 * 16, 300), nn.ReLU(), nn.Linear(300, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.pool(self.features(x)), 1))


def pruned_tinynet() -> TinyNet:
    """TinyNet (seed 1) with its weights 70% zeroed and the rest on 16 levels: what the pq-*
    formulations code."""
    torch.manual_seed(1)
    net = TinyNet().eval()
    state = {}
    for name, t in net.state_dict().items():
        if name.endswith("weight"):
            a = t.numpy().copy()
            cut = np.quantile(np.abs(a), 0.7)
            levels = np.linspace(-np.abs(a).max(), np.abs(a).max(), 16).astype(np.float32)
            q = levels[np.abs(a[..., None] - levels).argmin(-1)]
            t = torch.from_numpy(np.where(np.abs(a) > cut, q, np.float32(0)).astype(np.float32))
        state[name] = t
    net.load_state_dict(state)
    return net


def store_of(tmp_path: Path, net: nn.Module, formulation: str, codec: str) -> Path:
    """``net``'s weights compressed into ``tmp_path`` with one formulation and codec."""
    path = tmp_path / f"{formulation}-{codec}.zarr"
    return compress_state_dict(net.state_dict(), path, StoreConfig.simple(formulation, codec), progress=False)

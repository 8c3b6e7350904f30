"""VGG-16 (configuration "D", no batch norm) with torchvision's exact layout.

Module structure, state_dict keys and initialisation follow ``torchvision.models.vgg16``:
conv weights ``kaiming_normal_(mode="fan_out", nonlinearity="relu")``, linear weights
N(0, 0.01), all biases zero.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# fmt: off
CFG_D: list[int | str] = [
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
]
# fmt: on


def make_layers(cfg: list[int | str]) -> nn.Sequential:
    """Conv(k3, p1) + ReLU for each int in ``cfg``, MaxPool(2, 2) for each "M"."""
    layers: list[nn.Module] = []
    in_channels = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            assert isinstance(v, int)
            layers += [nn.Conv2d(in_channels, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """torchvision's ``VGG`` class (without the batch-norm variants)."""

    def __init__(
        self,
        features: nn.Sequential,
        num_classes: int = 1000,
        init_weights: bool = True,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)

    @staticmethod
    def init_std(key: str, shape: tuple[int, ...]) -> float:
        """Standard deviation of the init distribution of weight ``key`` (ndim >= 2).

        Conv: sqrt(2 / fan_out) with fan_out = out_channels * kh * kw; Linear: 0.01.
        """
        if len(shape) == 4:
            return math.sqrt(2.0 / (shape[0] * math.prod(shape[2:])))
        return 0.01


def vgg16(num_classes: int = 1000, init_weights: bool = True) -> VGG:
    """Build VGG-16 (config D) with torchvision's (unseeded) initialisation."""
    return VGG(make_layers(CFG_D), num_classes=num_classes, init_weights=init_weights)

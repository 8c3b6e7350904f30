"""AlexNet with exactly torchvision's module structure and state_dict layout.

``torchvision.models.alexnet`` is mirrored module for module, so its checkpoints load
with ``strict=True``.  Parameters keep torch's default initialisation.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class AlexNet(nn.Module):
    """AlexNet (the one-GPU variant torchvision ships): 61,100,840 parameters."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)

    @staticmethod
    def init_std(key: str, shape: tuple[int, ...]) -> float:
        """Standard deviation of the init distribution of weight ``key`` (ndim >= 2).

        torch's default Conv/Linear init is ``kaiming_uniform_(a=sqrt(5))``, i.e.
        U(-b, b) with b = 1/sqrt(fan_in), whose std is 1/sqrt(3 * fan_in).
        """
        fan_in = math.prod(shape[1:])
        return 1.0 / math.sqrt(3.0 * fan_in)


def alexnet(num_classes: int = 1000) -> AlexNet:
    """Build an AlexNet with torch's default (unseeded) initialisation."""
    return AlexNet(num_classes=num_classes)

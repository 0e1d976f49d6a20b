"""The challenge benchmark CNN."""

from __future__ import annotations

import torch
from torch import nn

from corroseg.errors import CorrosegUserError
from corroseg.models.blocks import checked_channels
from corroseg.models.registry import register


@register("baseline_cnn")
class BaselineCNN(nn.Module):
    """Challenge benchmark: five unpadded 3x3 convs (8-128 ch), dense 100, dense 1296 -> 36x36.

    The dense layers tie it to 36x36 inputs. Returns logits.
    """

    accepts_taller_inputs = False

    def __init__(self, channels: tuple[int, ...] = (8, 16, 32, 64, 128), hidden: int = 100, size: int = 36):
        super().__init__()
        channels = checked_channels("baseline_cnn", "channels", channels)
        (hidden,) = checked_channels("baseline_cnn", "hidden", (hidden,))
        if isinstance(size, bool) or not isinstance(size, int) or size <= 2 * len(channels):
            raise CorrosegUserError(
                f"baseline_cnn: size must be an integer above {2 * len(channels)} "
                f"(each of the {len(channels)} unpadded convs trims 2 px), got {size!r}"
            )
        layers, previous = [], 1
        for c in channels:
            layers += [nn.Conv2d(previous, c, 3), nn.ReLU(inplace=True)]
            previous = c
        self.features = nn.Sequential(*layers)
        reduced = size - 2 * len(channels)
        self.size = size
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(previous * reduced * reduced, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, size * size),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.size, self.size):
            raise ValueError(f"baseline_cnn takes {self.size}x{self.size} patches, got {tuple(x.shape[-2:])}")
        return self.head(self.features(x)).view(-1, 1, self.size, self.size)

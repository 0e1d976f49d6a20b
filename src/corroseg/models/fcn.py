"""Fully convolutional networks without skips: encode to 1/4 resolution, upsample back."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from corroseg.models.blocks import checked_channels, checked_flag, double_conv
from corroseg.models.registry import register


class _FCN(nn.Module):
    accepts_taller_inputs = True

    def __init__(self, channels: tuple[int, int, int] = (32, 64, 128), batch_norm: bool = True):
        super().__init__()
        model = getattr(self, "registry_name", type(self).__name__)
        channels = checked_channels(model, "channels", channels, 3)
        batch_norm = checked_flag(model, "batch_norm", batch_norm)
        c1, c2, c3 = channels
        self.encoder = nn.Sequential(
            double_conv(1, c1, batch_norm), nn.MaxPool2d(2),
            double_conv(c1, c2, batch_norm), nn.MaxPool2d(2),
            double_conv(c2, c3, batch_norm),
        )
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.encoder(x)
        logits = self.upsample(features)
        if logits.shape[-2:] != x.shape[-2:]:  # odd sizes: pooling floored, so pad back
            logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return logits


@register("fcn_transpose")
class FCNTranspose(_FCN):
    """FCN upsampled by two learnt 2x2 stride-2 transposed convolutions (1/4 -> 1)."""

    def __init__(self, channels=(32, 64, 128), batch_norm: bool = True):
        super().__init__(channels, batch_norm)
        c1, c2, c3 = self.channels
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(c3, c2, 2, stride=2), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(c2, c1, 2, stride=2), nn.ReLU(inplace=True),
            nn.Conv2d(c1, 1, 1),
        )


@register("fcn_bilinear")
class FCNBilinear(_FCN):
    """FCN scored at 1/4 resolution by a 1x1 conv, upsampled 4x bilinearly."""

    def __init__(self, channels=(32, 64, 128), batch_norm: bool = True):
        super().__init__(channels, batch_norm)
        self.upsample = nn.Sequential(
            nn.Conv2d(self.channels[2], 1, 1),
            nn.Upsample(scale_factor=4, mode="bilinear", align_corners=False),
        )

"""Small building blocks shared by the architectures."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn_relu(in_channels: int, out_channels: int, batch_norm: bool = True) -> nn.Sequential:
    """3x3 padded convolution, optional batch-norm, ReLU."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def double_conv(in_channels: int, out_channels: int, batch_norm: bool = True, dropout: float = 0.0) -> nn.Sequential:
    """Two 3x3 conv(+BN)+ReLU; ``Dropout2d`` between them when ``dropout`` > 0."""
    layers = [conv_bn_relu(in_channels, out_channels, batch_norm)]
    if dropout:
        layers.append(nn.Dropout2d(dropout))
    layers.append(conv_bn_relu(out_channels, out_channels, batch_norm))
    return nn.Sequential(*layers)


def resize_to(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Bilinear resize of ``x`` to the spatial size of ``reference`` (no-op if equal)."""
    if x.shape[-2:] == reference.shape[-2:]:
        return x
    return F.interpolate(x, size=reference.shape[-2:], mode="bilinear", align_corners=False)

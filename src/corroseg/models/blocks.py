"""Small building blocks shared by the architectures."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from corroseg.errors import CorrosegUserError


def checked_channels(model: str, option: str, value, count: int | None = None) -> tuple[int, ...]:
    """``value`` as a tuple of positive channel counts (``count`` of them when given).

    A bad value (a user's option) raises :class:`~corroseg.errors.CorrosegUserError`
    naming the model and the option.
    """
    try:
        channels = tuple(value)
    except TypeError:
        channels = None
    if (channels is None or not channels or (count is not None and len(channels) != count)
            or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in channels)):
        size = f"{count} " if count is not None else ""
        raise CorrosegUserError(f"{model}: {option} must be {size}positive integers, got {value!r}")
    return channels


def checked_flag(model: str, option: str, value) -> bool:
    """``value`` if it is a bool (not a truthy string such as ``"no"``), else a CorrosegUserError."""
    if not isinstance(value, bool):
        raise CorrosegUserError(f"{model}: {option} must be true or false, got {value!r}")
    return value


def checked_rates(model: str, option: str, value, count: int) -> tuple[float, ...]:
    """``value`` as a tuple of ``count`` dropout rates in [0, 1), or a CorrosegUserError."""
    try:
        rates = tuple(float(r) for r in value)
    except (TypeError, ValueError):
        rates = None
    if rates is None or len(rates) != count or not all(0.0 <= r < 1.0 for r in rates):
        raise CorrosegUserError(f"{model}: {option} must be {count} rates in [0, 1), got {value!r}")
    return rates


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

"""The paper's two hand-made U-Nets: SAdd-UNet and XSCat-UNet."""

from __future__ import annotations

import torch
from torch import nn

from corroseg.errors import CorrosegUserError
from corroseg.models.blocks import checked_channels, checked_rates, conv_bn_relu, resize_to
from corroseg.models.registry import register


@register("sadd_unet")
class SAddUNet(nn.Module):
    """U-Net with additive skips, faithful to the paper's code: costly by construction.

    Five conv+BN+ReLU blocks (64, 128, 256, 512, 1024 channels) all run at full
    36x36 resolution (no pooling); four 2x transposed convolutions then *enlarge*
    the map 36 -> 72 -> 144 -> 288 -> 576, each followed by the matching encoder
    feature resized bilinearly and added, and a conv block; a final 1x1 convolution
    with stride 16 samples the 576x576 map back to 36x36. The decoder's last blocks
    run on 288x288 and 576x576 maps, so one patch costs about 136 GFLOPs forward,
    a hundred times the ResNet-50 U-Net (1.3). ``width`` (64 in the paper) scales
    every channel count to make it affordable. Returns logits.
    """

    accepts_taller_inputs = True

    def __init__(self, width: int = 64):
        super().__init__()
        if isinstance(width, bool) or not isinstance(width, int) or width <= 0:
            raise CorrosegUserError(f"sadd_unet: width must be a positive integer, got {width!r}")
        channels = [width * 2**i for i in range(5)]
        encoder, previous = [], 1
        for c in channels:
            encoder.append(conv_bn_relu(previous, c))
            previous = c
        self.encoder = nn.ModuleList(encoder)
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(channels[i + 1], channels[i], 2, stride=2) for i in reversed(range(4))
        )
        self.decoder = nn.ModuleList(conv_bn_relu(channels[i], channels[i]) for i in reversed(range(4)))
        self.head = nn.Conv2d(channels[0], 1, 1, stride=16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
        for up, block, skip in zip(self.up, self.decoder, reversed(skips[:-1])):
            x = up(x)
            x = block(x + resize_to(skip, x))
        return self.head(x)


@register("xscat_unet")
class XSCatUNet(nn.Module):
    """Small U-Net with concatenated skips (16/32/64 ch, 36 -> 18 -> 9), as in the paper.

    Two 3x3 convs per level with ``Dropout2d`` between them (0.1, 0.1, 0.2 down;
    0.1 up), max-pooling down, 2x2 transposed convolutions up, a 3x3 output conv.
    Heights and widths must be multiples of 4 (36 and 360 are). Returns logits.
    """

    accepts_taller_inputs = True

    def __init__(self, channels: tuple[int, int, int] = (16, 32, 64), dropout: tuple[float, float, float] = (0.1, 0.1, 0.2)):
        super().__init__()
        c1, c2, c3 = checked_channels("xscat_unet", "channels", channels, 3)
        dropout = checked_rates("xscat_unet", "dropout", dropout, 3)
        self.down1 = self._level(1, c1, dropout[0])
        self.down2 = self._level(c1, c2, dropout[1])
        self.bottom = self._level(c2, c3, dropout[2])
        self.pool = nn.MaxPool2d(2)
        self.up2 = nn.ConvTranspose2d(c3, c2, 2, stride=2)
        self.dec2 = self._level(2 * c2, c2, dropout[0])
        self.up1 = nn.ConvTranspose2d(c2, c1, 2, stride=2)
        self.dec1 = self._level(2 * c1, c1, dropout[0])
        self.head = nn.Conv2d(c1, 1, 3, padding=1)

    @staticmethod
    def _level(in_channels: int, out_channels: int, dropout: float) -> nn.Sequential:
        return nn.Sequential(
            conv_bn_relu(in_channels, out_channels, batch_norm=False),
            nn.Dropout2d(dropout),
            conv_bn_relu(out_channels, out_channels, batch_norm=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % 4 or x.shape[-1] % 4:
            raise ValueError(f"xscat_unet needs sizes divisible by 4, got {tuple(x.shape[-2:])}")
        s1 = self.down1(x)
        s2 = self.down2(self.pool(s1))
        bottom = self.bottom(self.pool(s2))
        x = self.dec2(torch.cat([self.up2(bottom), s2], dim=1))
        x = self.dec1(torch.cat([self.up1(x), s1], dim=1))
        return self.head(x)

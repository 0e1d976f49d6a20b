"""CorroSeg: a U-Net whose encoder is ResNet-50."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from corroseg.errors import CorrosegUserError
from corroseg.models.blocks import checked_flag, double_conv, resize_to
from corroseg.models.registry import register
from corroseg.models.resnet import ResNet50, load_pretrained

DROPOUT_POLICIES = {"none": (0.0, 0.0), "low": (0.1, 0.2), "high": (0.2, 0.3)}
"""(outer, middle) Dropout2d rates of the paper's policies."""


class DecoderStep(nn.Module):
    """2x2 stride-2 transposed conv, resize to the skip, add or concatenate, two 3x3 convs."""

    def __init__(self, in_channels: int, skip_channels: int, skip: str, batch_norm: bool, dropout: float):
        super().__init__()
        self.skip = skip
        self.up = nn.ConvTranspose2d(in_channels, skip_channels, 2, stride=2)
        merged = skip_channels * (2 if skip == "cat" else 1)
        self.convs = double_conv(merged, skip_channels, batch_norm, dropout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = resize_to(self.up(x), skip)
        x = torch.cat([x, skip], dim=1) if self.skip == "cat" else x + skip
        return self.convs(x)


@register("corroseg")
class CorroSegUNet(nn.Module):
    """U-Net with a ResNet-50 encoder (the paper's CorroSeg); returns logits.

    On a 36x36 patch the encoder gives 18x18x64, 9x9x256, 5x5x512, 3x3x1024 and
    2x2x2048; four decoder steps climb back to 18x18, a 1x1 conv scores it and a
    bilinear upsampling returns 36x36.

    Parameters
    ----------
    skip : {"add", "cat"}
        Additive or concatenated long skips.
    decoder_bn : bool
        Batch-norm after every decoder convolution.
    dropout : {"none", "low", "high"}
        The paper's policies: Dropout2d 0.1 outer / 0.2 middle (low) or 0.2 / 0.3
        (high) inside decoder steps; "middle" are the two deepest steps.
    pretrained : path, optional
        A torchvision-layout ResNet-50 checkpoint file for the encoder.
    freeze_encoder : bool
        Start with the encoder frozen (see :meth:`unfreeze_blocks`).
    """

    accepts_taller_inputs = True

    def __init__(
        self,
        skip: str = "add",
        decoder_bn: bool = True,
        dropout: str = "none",
        pretrained: str | Path | None = None,
        freeze_encoder: bool = False,
    ):
        super().__init__()
        if skip not in ("add", "cat"):
            raise CorrosegUserError(f"corroseg: skip must be 'add' or 'cat', got {skip!r}")
        if not isinstance(dropout, str) or dropout not in DROPOUT_POLICIES:
            raise CorrosegUserError(f"corroseg: dropout must be one of {list(DROPOUT_POLICIES)}, got {dropout!r}")
        decoder_bn = checked_flag("corroseg", "decoder_bn", decoder_bn)
        freeze_encoder = checked_flag("corroseg", "freeze_encoder", freeze_encoder)
        self.encoder = ResNet50(in_channels=1)
        if pretrained is not None:
            load_pretrained(self.encoder, pretrained)
        outer, middle = DROPOUT_POLICIES[dropout]
        c = ResNet50.stage_channels
        self.decoder = nn.ModuleList(
            [
                DecoderStep(c[4], c[3], skip, decoder_bn, middle),
                DecoderStep(c[3], c[2], skip, decoder_bn, middle),
                DecoderStep(c[2], c[1], skip, decoder_bn, outer),
                DecoderStep(c[1], c[0], skip, decoder_bn, outer),
            ]
        )
        self.head = nn.Conv2d(c[0], 1, 1)
        if freeze_encoder:
            self.freeze_encoder()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stages = self.encoder.features(x)
        y = stages[-1]
        for step, skip in zip(self.decoder, reversed(stages[:-1])):
            y = step(y, skip)
        return F.interpolate(self.head(y), size=x.shape[-2:], mode="bilinear", align_corners=False)

    def freeze_encoder(self) -> None:
        """Stop gradients to every encoder weight."""
        self.encoder.requires_grad_(False)

    def unfreeze_blocks(self, n: int) -> None:
        """Make the ``n`` deepest encoder blocks trainable (layer4 first, stem last)."""
        for block in self.encoder.blocks()[:n]:
            block.requires_grad_(True)

    def encoder_blocks_trainable(self) -> list[bool]:
        """Whether each block, deepest first, is trainable."""
        return [all(p.requires_grad for p in b.parameters()) for b in self.encoder.blocks()]


def blocks_to_unfreeze(epoch: int, every: int, total: int = 5) -> int:
    """Gradual unfreezing: one more encoder block every ``every`` epochs, from epoch 0."""
    if every <= 0:
        return total
    return min(total, epoch // every)

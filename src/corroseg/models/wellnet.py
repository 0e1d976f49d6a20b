"""WellNet: our own model, a small U-Net for whole-well windows on a laptop CPU."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from corroseg.errors import CorrosegUserError
from corroseg.models.blocks import checked_channels, checked_rates
from corroseg.models.registry import register


PADDINGS = ("circular", "zeros")


class WrapConv(nn.Module):
    """3x3 convolution padded circularly along azimuth (last axis), with zeros along depth.

    The casing is a closed ring: column 0 touches the last column. Zero padding would
    invent an edge there, and a groove crossing it would be cut in two. ``padding="zeros"``
    pads azimuth with zeros too (for comparison only).
    """

    def __init__(self, in_channels: int, out_channels: int, padding: str = "circular"):
        super().__init__()
        self.mode = "circular" if padding == "circular" else "constant"
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=(1, 0), bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (1, 1, 0, 0), mode=self.mode))


def wrap_block(in_channels: int, out_channels: int, dropout: float = 0.0, padding: str = "circular") -> nn.Sequential:
    """Two wrap-padded 3x3 convolutions with batch-norm and ReLU."""
    layers: list[nn.Module] = [WrapConv(in_channels, out_channels, padding), nn.BatchNorm2d(out_channels),
                               nn.ReLU(inplace=True)]
    if dropout:
        layers.append(nn.Dropout2d(dropout))
    layers += [WrapConv(out_channels, out_channels, padding), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class AttentionGate(nn.Module):
    """Additive attention gate (Oktay et al. 2018) on a skip, gated by the upsampled deeper features.

    ``skip * sigmoid(psi(relu(theta(skip) + phi(gate))))``: one weight in [0, 1] per pixel,
    so the decoder can ignore joint texture the deeper level has recognised as such.
    """

    def __init__(self, channels: int):
        super().__init__()
        inner = max(channels // 2, 1)
        self.theta = nn.Conv2d(channels, inner, 1, bias=False)
        self.phi = nn.Conv2d(channels, inner, 1, bias=True)
        self.psi = nn.Conv2d(inner, 1, 1, bias=True)

    def forward(self, skip: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        return skip * torch.sigmoid(self.psi(F.relu(self.theta(skip) + self.phi(gate))))


class DepthContext(nn.Module):
    """Features averaged along depth over tall windows, at full resolution.

    ``CHANNELS_PER_WINDOW`` 1x1 features of the first level, each averaged over ``rows``
    rows centred on the pixel (rows past the window's ends are not counted), per height.
    With ``slopes`` (azimuth px per row), each feature is averaged along lines of every
    slope instead and the largest mean kept: a slanted groove is integrated along itself;
    with ``beside`` as well, the slanted maxima are features of their own beside the
    vertical means.
    """

    CHANNELS_PER_WINDOW = 4
    SLANT_STEP = 8
    """Rows pooled before slanted means (WellNet pads its input to a multiple of it)."""

    def __init__(self, in_channels: int, heights: tuple[int, ...] | list[int] = (),
                 slopes: tuple[float, ...] | list[float] = (), beside: bool = False):
        super().__init__()
        whole_numbers = isinstance(heights, (list, tuple)) and all(
            isinstance(h, int) and not isinstance(h, bool) for h in heights)
        if not whole_numbers:
            raise CorrosegUserError(f"wellnet: depth_context must be a list of odd row counts, got {heights!r}")
        if any(h < 3 or h % 2 == 0 for h in heights):
            raise CorrosegUserError(f"wellnet: depth_context heights must be odd and at least 3 rows, got {list(heights)}")
        numbers = isinstance(slopes, (list, tuple)) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) <= 1 for v in slopes)
        if not numbers or (slopes and not heights):
            raise CorrosegUserError("wellnet: context_slopes must be a list of slopes in [-1, 1] azimuth px per row, "
                                    f"with a depth_context to average over; got {slopes!r}")
        if not isinstance(beside, bool) or (beside and not slopes):
            raise CorrosegUserError(f"wellnet: context_beside must be true or false, with context_slopes; got {beside!r}")
        self.heights = tuple(heights)
        self.slopes = tuple(float(v) for v in slopes)
        self.beside = beside
        self.channels = self.CHANNELS_PER_WINDOW * len(self.heights) * (2 if beside else 1)
        self.features = nn.Conv2d(in_channels, self.channels, 1) if self.heights else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.features(x)
        if self.beside:
            vertical, slanted = features.split(self.channels // 2, dim=1)
        else:
            vertical, slanted = (None, features) if self.slopes else (features, None)
        means = []
        if vertical is not None:
            means += [running_mean(g, h) for g, h in zip(vertical.split(self.CHANNELS_PER_WINDOW, dim=1), self.heights)]
        if slanted is not None:
            means.append(self.slanted_maxima(slanted))
        return torch.cat(means, dim=1)

    def slanted_maxima(self, features: torch.Tensor) -> torch.Tensor:
        """Per height, each feature's largest mean along the slopes, at every row."""
        # slanted means are taken on rows pooled by SLANT_STEP (a mean over 145 rows is smooth along depth;
        # shearing every row cost 4x the whole training step), then repeated back to every row
        pooled = F.avg_pool2d(features, (self.SLANT_STEP, 1))
        means = [torch.stack([slanted_mean(g, (h // self.SLANT_STEP) | 1, s * self.SLANT_STEP)
                              for s in self.slopes]).amax(dim=0)
                 for g, h in zip(pooled.split(self.CHANNELS_PER_WINDOW, dim=1), self.heights)]
        return torch.cat(means, dim=1).repeat_interleave(self.SLANT_STEP, dim=-2)


def slanted_mean(x: torch.Tensor, rows: int, slope: float) -> torch.Tensor:
    """:func:`running_mean` along lines of ``slope`` azimuth px per row (azimuth wraps).

    The rows are sheared so that such a line stands vertical (each row rolled by its
    rounded offset), averaged along depth, and sheared back.
    """
    height, width = x.shape[-2:]
    shift = torch.round(torch.arange(height, device=x.device, dtype=torch.float32) * slope).long()
    columns = torch.arange(width, device=x.device)
    sheared = (columns[None, :] + shift[:, None]) % width
    restored = (columns[None, :] - shift[:, None]) % width
    mean = running_mean(x.gather(-1, sheared.expand_as(x)), rows)
    return mean.gather(-1, restored.expand_as(x))


def running_mean(x: torch.Tensor, rows: int) -> torch.Tensor:
    """Mean over ``rows`` (odd) rows centred on each row; rows past the ends are not counted.

    What ``avg_pool2d(x, (rows, 1), 1, padding=(rows // 2, 0), count_include_pad=False)`` gives, from
    cumulative sums: two subtractions a row whatever ``rows`` is, where pooling adds ``rows``
    values (575-row windows made training 4x slower). Works at any height, in ONNX too.
    """
    half = rows // 2

    def window_sums(values: torch.Tensor) -> torch.Tensor:
        total = F.pad(values, (0, 0, half + 1, half)).cumsum(dim=-2)
        return total[..., rows:, :] - total[..., :-rows, :]

    counts = window_sums(torch.ones_like(x[:1, :1, :, :1]))
    return window_sums(x) / counts


@register("wellnet")
class WellNet(nn.Module):
    """Small circular U-Net for whole-well windows (our default); returns logits.

    Why this shape (see ``docs/training.md``):

    * grooves are 1-4 px wide: the first level keeps full resolution and the skip
      from it carries every pixel to the output;
    * grooves run along depth over many patches: it reads tall windows (576 rows in
      the default recipe) and its deepest level pools depth only, so its receptive
      field is long in depth and the 9 px azimuth grid is not blurred away; the
      default recipe adds ``depth_context`` (evidence averaged along 145 and 575 rows);
    * azimuth wraps around: every convolution pads circularly along azimuth, so a
      36 or 72 px wide window is seen as the closed ring it is, and there is no seam;
    * a CPU budget: 0.028 GFLOPs per 36x36 patch, 117k parameters (8/16/32/64
      channels; 118k with the default recipe's depth context); wider levels
      (16/32/64/96: 379k, 0.10 GFLOPs) train 2.3x slower here for no better score
      within the same time.

    Any height works (padded to a multiple of 8 inside); widths must be multiples of 4.

    Parameters
    ----------
    channels : tuple of int
        Channels of the four levels (full, 1/2, 1/4 resolution, 1/8 along depth only).
    dropout : float
        ``Dropout2d`` inside the two deepest blocks.
    padding : {"circular", "zeros"}
        Along azimuth: ``circular`` (the ring it is) or ``zeros`` (an ablation).
    attention : bool
        Attention gates on the three skips (the challenge's first place used them).
    depth_context : tuple of int
        Evidence along depth: for each odd height (rows), a few full-resolution features
        averaged over that many rows at each azimuth are fed to the last decoder block.
        A faint groove barely deeper than the texture stands out when averaged along
        itself (a 145-row mean cuts the texture's spread about 3x on real well 4).
        Empty (the constructor's default): off; the ``default`` training recipe
        uses (145, 575).
    context_slopes : tuple of float
        Average the depth context along lines of these slopes (azimuth px per row, e.g.
        -0.1 to 0.1) and keep the largest mean: evidence along slanted grooves too. Empty
        (the default): along depth only.
    context_beside : bool
        With ``context_slopes``: the slanted maxima as features of their own, beside the
        vertical means (twice the context's channels), instead of in their place.
    """

    accepts_taller_inputs = True
    row_multiple = 8
    """Heights are padded to a multiple of this inside (an ONNX export pads in front instead)."""

    def __init__(self, channels: tuple[int, ...] = (8, 16, 32, 64), dropout: float = 0.0, padding: str = "circular",
                 attention: bool = False, depth_context: tuple[int, ...] = (),
                 context_slopes: tuple[float, ...] = (), context_beside: bool = False):
        super().__init__()
        channels = checked_channels("wellnet", "channels", channels, count=4)
        dropout = checked_rates("wellnet", "dropout", [dropout], count=1)[0]
        if padding not in PADDINGS:
            raise CorrosegUserError(f"wellnet: padding must be one of {', '.join(PADDINGS)}, got {padding!r}")
        c1, c2, c3, c4 = channels
        self.pools = [(2, 2), (2, 2), (2, 1)]
        block = functools.partial(wrap_block, padding=padding)
        self.down = nn.ModuleList([block(1, c1), block(c1, c2), block(c2, c3, dropout)])
        self.bottom = block(c3, c4, dropout)
        self.up = nn.ModuleList(
            [nn.ConvTranspose2d(c4, c3, (2, 1), stride=(2, 1)), nn.ConvTranspose2d(c3, c2, 2, stride=2),
             nn.ConvTranspose2d(c2, c1, 2, stride=2)]
        )
        self.context = DepthContext(c1, depth_context, context_slopes, context_beside)
        self.merge = nn.ModuleList([block(2 * c3, c3), block(2 * c2, c2), block(2 * c1 + self.context.channels, c1)])
        self.head = nn.Conv2d(c1, 1, 1)
        if not isinstance(attention, bool):
            raise CorrosegUserError(f"wellnet: attention must be true or false, got {attention!r}")
        self.gates = nn.ModuleList([AttentionGate(c) for c in (c3, c2, c1)]) if attention else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows, width = x.shape[-2:]
        if width % 4:
            raise ValueError(f"wellnet needs a width divisible by 4, got {width}")
        pad = (-rows) % self.row_multiple
        if pad:
            x = F.pad(x, (0, 0, 0, pad), mode="replicate")
        skips = []
        for block, pool in zip(self.down, self.pools):
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, pool)
        x = self.bottom(x)
        for level, (up, merge, skip) in enumerate(zip(self.up, self.merge, reversed(skips))):
            x = up(x)
            if self.gates is not None:
                skip = self.gates[level](skip, x)
            extra = [self.context(skips[0])] if level == len(self.up) - 1 and self.context.channels else []
            x = merge(torch.cat([x, skip, *extra], dim=1))
        return self.head(x)[..., :rows, :]

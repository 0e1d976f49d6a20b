"""ResNet-50 (bottleneck blocks 3-4-6-3) with torchvision's ``state_dict`` keys.

Written here because torchvision cannot be installed beside our torch; the module
names (``conv1``, ``bn1``, ``layer1.0.downsample.0`` ..., ``fc``) match torchvision's
``resnet50`` exactly, so common ResNet-50 checkpoints load with
:func:`load_pretrained`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from corroseg.errors import CorrosegInputError


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (stride here, as in torchvision's v1.5), 1x1 expand; residual add."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1):
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50(nn.Module):
    """ResNet-50 backbone; ``features`` returns the five stages a U-Net uses as skips.

    On a 36x36 input the stages are 18x18x64 (stem, before max-pooling),
    9x9x256, 5x5x512, 3x3x1024 and 2x2x2048.

    Parameters
    ----------
    in_channels : int
        1 for thickness images; 3 to mirror an ImageNet checkpoint.
    num_classes : int or None
        Size of the ``fc`` classifier; None leaves it out (an encoder).
    """

    stage_channels = (64, 256, 512, 1024, 2048)

    def __init__(self, in_channels: int = 1, num_classes: int | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = 64
        for index, (blocks, width, stride) in enumerate(((3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2)), 1):
            layer = []
            for b in range(blocks):
                layer.append(Bottleneck(channels, width, stride if b == 0 else 1))
                channels = width * Bottleneck.expansion
            setattr(self, f"layer{index}", nn.Sequential(*layer))
        self.fc = None
        if num_classes is not None:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn1(self.conv1(x)))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five stages, shallow to deep."""
        stem = self.stem(x)
        c1 = self.layer1(self.maxpool(stem))
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        return [stem, c1, c2, c3, self.layer4(c3)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        deepest = self.features(x)[-1]
        if self.fc is None:
            return deepest
        return self.fc(torch.flatten(self.avgpool(deepest), 1))

    def blocks(self) -> list[nn.Module]:
        """Encoder blocks from deepest to shallowest, the order of gradual unfreezing."""
        return [self.layer4, self.layer3, self.layer2, self.layer1, nn.ModuleList([self.conv1, self.bn1])]


def _unwrap(checkpoint: object) -> dict[str, torch.Tensor] | None:
    """The tensor dict of a checkpoint that may be wrapped (``state_dict``, ``model``)."""
    if isinstance(checkpoint, dict):
        for key in ("state_dict", "model"):
            if isinstance(checkpoint.get(key), dict):
                return _unwrap(checkpoint[key])
        if checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
            prefixes = ("module.", "encoder.", "backbone.")
            cleaned = {}
            for k, v in checkpoint.items():
                for prefix in prefixes:
                    if k.startswith(prefix):
                        k = k[len(prefix):]
                cleaned[k] = v
            return cleaned
    return None


def load_pretrained(model: ResNet50, path: str | Path) -> ResNet50:
    """Load a torchvision-layout ResNet-50 checkpoint file into ``model``.

    The first convolution's input channels are summed when the checkpoint has 3 and
    the model 1 (a grey image seen as R = G = B gives the same response); ``fc`` is
    dropped when the model has none. Anything else that does not fit names the file.
    """
    path = Path(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CorrosegInputError(path, "no such checkpoint file") from None
    except Exception as exc:  # torch raises many kinds for foreign files
        raise CorrosegInputError(path, f"not a readable PyTorch checkpoint ({type(exc).__name__})") from None
    state = _unwrap(checkpoint)
    if state is None:
        raise CorrosegInputError(path, "no state_dict of tensors in the checkpoint")
    if model.fc is None:
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    conv = state.get("conv1.weight")
    target = model.conv1.weight
    if conv is not None and conv.ndim == 4 and conv.shape[1] != target.shape[1]:
        if target.shape[1] != 1:
            raise CorrosegInputError(path, f"conv1 has {conv.shape[1]} input channels, model {target.shape[1]}")
        state["conv1.weight"] = conv.sum(dim=1, keepdim=True)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise CorrosegInputError(path, f"not a ResNet-50 checkpoint in torchvision layout ({detail})")
    wrong = [k for k, v in state.items() if v.shape != expected[k].shape]
    if wrong:
        raise CorrosegInputError(
            path, f"shape of {wrong[0]} is {tuple(state[wrong[0]].shape)}, expected {tuple(expected[wrong[0]].shape)}"
        )
    model.load_state_dict(state)
    return model

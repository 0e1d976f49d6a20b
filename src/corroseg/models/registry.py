"""A registry of architectures: ``create("corroseg", skip="cat")`` builds one by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register(name: str) -> Callable:
    """Class decorator adding an architecture to the registry under ``name``."""

    def add(cls):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = cls
        cls.registry_name = name
        return cls

    return add


def available() -> list[str]:
    """Registered names, in registration order."""
    return list(_REGISTRY)


def create(name: str, **options) -> nn.Module:
    """Build a registered architecture; unknown names and options raise ValueError."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(_REGISTRY)}")
    try:
        return _REGISTRY[name](**options)
    except TypeError as exc:
        raise ValueError(f"{name}: {exc}") from None


@dataclass
class ModelCard:
    """What ``corroseg models`` lists for one architecture."""

    name: str
    parameters: int
    flops_per_patch: int
    taller_inputs: bool
    summary: str


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def forward_flops(model: nn.Module, height: int = 36, width: int = 36) -> int:
    """Forward FLOPs for one ``1 x height x width`` patch (a multiply-add counts 2).

    Counted by torch's ``FlopCounterMode`` (convolutions, transposed convolutions and
    matrix products; element-wise work is not counted).
    """
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 1, height, width, device=device))
    return int(counter.get_total_flops())


def describe(name: str, **options) -> ModelCard:
    """Parameters, FLOPs per 36x36 patch and capabilities of one architecture."""
    with torch.device("meta"):  # shapes only: counting costs no arithmetic
        model = create(name, **options)
    doc = (type(model).__doc__ or "").strip().splitlines()
    return ModelCard(
        name=name,
        parameters=count_parameters(model),
        flops_per_patch=forward_flops(model),
        taller_inputs=bool(getattr(model, "accepts_taller_inputs", False)),
        summary=doc[0] if doc else "",
    )

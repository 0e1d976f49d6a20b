"""A registry of architectures: ``create("corroseg", skip="cat")`` builds one by name."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from corroseg.errors import CorrosegUserError

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


def did_you_mean(unknown: list[str], known) -> str:
    """`` (did you mean 'skip'?)`` for the close matches of ``unknown`` among ``known``, or ''."""
    known = list(known)
    matches = {key: hit[0] for key in unknown if (hit := difflib.get_close_matches(key, known, n=1))}
    if not matches:
        return ""
    if len(unknown) == 1:
        return f" (did you mean {matches[unknown[0]]!r}?)"
    return " (did you mean " + ", ".join(f"{match!r} for {key!r}" for key, match in matches.items()) + "?)"


def _constructor(name: str) -> Callable[..., nn.Module]:
    if name not in _REGISTRY:
        raise CorrosegUserError(f"unknown model {name!r}{did_you_mean([name], _REGISTRY)}; choose from {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def _option_names(constructor: Callable) -> tuple[list[str], bool]:
    """Named keyword options of a constructor and whether it takes ``**kwargs`` too."""
    names, open_ended = [], False
    for parameter in inspect.signature(constructor).parameters.values():
        if parameter.kind is parameter.VAR_KEYWORD:
            open_ended = True
        elif parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            names.append(parameter.name)
    return names, open_ended


def accepted_options(name: str) -> list[str]:
    """Option names ``create(name, ...)`` accepts, in the constructor's order.

    Unknown names raise :class:`~corroseg.errors.CorrosegUserError`.
    """
    return _option_names(_constructor(name))[0]


def create(name: str, **options) -> nn.Module:
    """Build a registered architecture by name.

    Option names are checked against the constructor's signature before anything is
    built: an unknown model or option raises :class:`~corroseg.errors.CorrosegUserError`
    (with the accepted names and a close match when there is one), as do option values
    the constructors reject on purpose (e.g. ``skip="sum"``). Any other exception raised
    while building is a bug and propagates unchanged.
    """
    constructor = _constructor(name)
    accepted, open_ended = _option_names(constructor)
    unknown = [key for key in options if key not in accepted]
    if unknown and not open_ended:
        listed = ", ".join(repr(key) for key in unknown)
        raise CorrosegUserError(
            f"{name}: unknown option{'s' if len(unknown) > 1 else ''} {listed}{did_you_mean(unknown, accepted)}; "
            f"accepted: {', '.join(accepted) if accepted else 'none'}"
        )
    return constructor(**options)


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

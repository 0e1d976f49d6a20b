"""Memory a model needs, measured on the ``meta`` device before anything is allocated.

A config such as ``model_options.channels=[100000,...]`` or ``batch_size=100000`` would
otherwise try to allocate hundreds of gigabytes and die in the kernel's OOM killer or a
traceback; :func:`check_memory` refuses it in one line first.
"""

from __future__ import annotations

import os

import torch

from corroseg.errors import CorrosegUserError
from corroseg.models.registry import count_parameters, create

BYTES_PER_VALUE = 4
"""float32."""

TRAINING_COPIES = 4
"""Weights, gradients and Adam's two moments: four values per parameter while training."""

SHARE_OF_MEMORY = 0.8
"""A model may plan on at most this share of the machine's physical memory."""


def physical_memory_bytes() -> int | None:
    """The machine's physical memory in bytes (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def memory_needed(name: str, options: dict, batch: int, height: int, width: int,
                  training: bool = True) -> tuple[int, int]:
    """(parameter bytes, activation bytes) of one step on a ``batch x 1 x height x width`` input.

    Parameters count :data:`TRAINING_COPIES` times when ``training``. Activations are
    the outputs of every leaf module of one forward pass (twice when training: kept for
    the backward pass, and their gradients). Both are counted on the ``meta`` device:
    nothing is allocated. An architecture whose forward the meta device cannot run
    counts its parameters only.
    """
    options = {k: v for k, v in options.items() if k != "pretrained"}  # a path: not read for counting
    with torch.device("meta"):
        model = create(name, **options)
    parameters = count_parameters(model) * BYTES_PER_VALUE * (TRAINING_COPIES if training else 1)
    total = [0]

    def count(_module, _inputs, output) -> None:
        if isinstance(output, torch.Tensor):
            total[0] += output.numel() * output.element_size()

    hooks = [m.register_forward_hook(count) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model(torch.zeros(batch, 1, height, width, device="meta"))
    except (RuntimeError, NotImplementedError, TypeError, ValueError):
        total[0] = 0
    finally:
        for hook in hooks:
            hook.remove()
    return parameters, total[0] * (2 if training else 1)


def check_memory(name: str, options: dict, batch: int, height: int, width: int, training: bool = True,
                 what: str = "config") -> None:
    """Refuse (one line) a model or batch that needs more than :data:`SHARE_OF_MEMORY` of this machine's memory."""
    available = physical_memory_bytes()
    if available is None:
        return
    limit = SHARE_OF_MEMORY * available
    parameters, activations = memory_needed(name, options, batch, height, width, training)
    gib = 2.0 ** 30
    if parameters > limit:
        raise CorrosegUserError(f"{what}: model {name} with {options} needs {parameters / gib:,.1f} GiB for its "
                                f"parameters{' while training' if training else ''}; this machine has "
                                f"{available / gib:,.1f} GiB (make model_options smaller)")
    if parameters + activations > limit:
        raise CorrosegUserError(f"{what}: one batch of {batch} windows of {height} x {width} needs about "
                                f"{(parameters + activations) / gib:,.1f} GiB with model {name}; this machine has "
                                f"{available / gib:,.1f} GiB (lower batch_size or the window size)")

"""Segmentation losses on logits, each accepting a validity mask.

Every loss is an ``nn.Module`` called as ``loss(logits, target, valid=None)`` with
tensors of the same shape, ``(N, 1, H, W)`` or ``(N, H, W)``; ``valid`` is a boolean
mask of real readings (corrupted pixels are False and contribute nothing).
"""

from __future__ import annotations

import inspect
import math
import re

import torch
import torch.nn.functional as F
from torch import nn

from corroseg.errors import CorrosegUserError
from corroseg.models.registry import did_you_mean


def _number(loss: str, option: str, value, low: float, high: float = math.inf, *, open_low: bool = False) -> float:
    """``value`` as a float in ``[low, high]`` (``(low, high]`` with ``open_low``), else a CorrosegUserError."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if open_low else value >= low) and value <= high
    if not ok:
        bracket = "(" if open_low else "["
        upper = "inf)" if high == math.inf else f"{high:g}]"
        raise CorrosegUserError(f"{loss} loss: {option} must be a number in {bracket}{low:g}, {upper}, got {value!r}")
    return float(value)


def _flag(loss: str, option: str, value) -> bool:
    if not isinstance(value, bool):
        raise CorrosegUserError(f"{loss} loss: {option} must be true or false, got {value!r}")
    return value


def _flat(logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None):
    """``(N, P)`` logits, float target and float validity."""
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ")
    n = logits.shape[0]
    weight = torch.ones_like(logits) if valid is None else valid.to(logits.dtype)
    if weight.shape != logits.shape:
        raise ValueError(f"valid {tuple(weight.shape)} and logits {tuple(logits.shape)} differ")
    return logits.reshape(n, -1), target.to(logits.dtype).reshape(n, -1), weight.reshape(n, -1)


def _masked_mean(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return (values * weight).sum() / weight.sum().clamp_min(1.0)


class BCELoss(nn.Module):
    """Binary cross-entropy on logits, averaged over valid pixels.

    Parameters
    ----------
    pos_weight : float, optional
        Weight of the positive class (as in ``BCEWithLogitsLoss``).
    """

    def __init__(self, pos_weight: float | None = None):
        super().__init__()
        self.pos_weight = None if pos_weight is None else _number("bce", "pos_weight", pos_weight, 0.0, open_low=True)

    def forward(self, logits, target, valid=None):
        x, y, w = _flat(logits, target, valid)
        pos_weight = None if self.pos_weight is None else torch.tensor(self.pos_weight, dtype=x.dtype)
        per_pixel = F.binary_cross_entropy_with_logits(x, y, reduction="none", pos_weight=pos_weight)
        return _masked_mean(per_pixel, w)


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017): ``-alpha_t (1 - p_t)^gamma log p_t``, stable on logits.

    Parameters
    ----------
    alpha : float in [0, 1] or None
        Weight of positives (negatives get ``1 - alpha``); None weighs both 1.
    gamma : float >= 0
        Focusing strength; 0 gives (alpha-weighted) BCE.
    """

    def __init__(self, alpha: float | None = 0.25, gamma: float = 2.0):
        super().__init__()
        self.alpha = None if alpha is None else _number("focal", "alpha", alpha, 0.0, 1.0)
        self.gamma = _number("focal", "gamma", gamma, 0.0)

    def forward(self, logits, target, valid=None):
        x, y, w = _flat(logits, target, valid)
        log_p, log_not_p = F.logsigmoid(x), F.logsigmoid(-x)
        log_pt = y * log_p + (1 - y) * log_not_p
        # (1 - p_t)^gamma as exp(gamma * log(1 - p_t)): smooth even where p_t -> 1
        log_one_minus_pt = y * log_not_p + (1 - y) * log_p
        per_pixel = -torch.exp(self.gamma * log_one_minus_pt) * log_pt
        if self.alpha is not None:
            per_pixel = per_pixel * (y * self.alpha + (1 - y) * (1 - self.alpha))
        return _masked_mean(per_pixel, w)


class _Overlap(nn.Module):
    loss_name = "overlap"

    def __init__(self, smooth: float = 1.0, per_image: bool = False):
        super().__init__()
        self.smooth = _number(self.loss_name, "smooth", smooth, 0.0)
        self.per_image = _flag(self.loss_name, "per_image", per_image)

    def _sums(self, logits, target, valid):
        x, y, w = _flat(logits, target, valid)
        p, y = torch.sigmoid(x) * w, y * w
        dims = 1 if self.per_image else (0, 1)
        return (p * y).sum(dims), p.sum(dims), y.sum(dims)


class SoftIoULoss(_Overlap):
    """Smooth IoU (Jaccard) loss ``1 - (I + s) / (U + s)`` on probabilities.

    ``per_image=False`` pools the whole batch, as in the paper; ``True`` averages
    per-image losses, closer to the challenge metric.
    """

    def forward(self, logits, target, valid=None):
        inter, p, y = self._sums(logits, target, valid)
        union = p + y - inter
        return (1 - (inter + self.smooth) / (union + self.smooth)).mean()


class DiceLoss(_Overlap):
    """Soft Dice loss ``1 - (2I + s) / (|P| + |Y| + s)``, batch-pooled or per image."""

    loss_name = "dice"

    def forward(self, logits, target, valid=None):
        inter, p, y = self._sums(logits, target, valid)
        return (1 - (2 * inter + self.smooth) / (p + y + self.smooth)).mean()


def _lovasz_gradient(sorted_truth: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovasz extension of the Jaccard loss w.r.t. sorted errors."""
    positives = sorted_truth.sum()
    intersection = positives - sorted_truth.cumsum(0)
    union = positives + (1 - sorted_truth).cumsum(0)
    jaccard = 1 - intersection / union
    jaccard[1:] = jaccard[1:] - jaccard[:-1].clone()
    return jaccard


class LovaszHingeLoss(nn.Module):
    """Lovasz hinge (Berman et al. 2018), a convex surrogate of the IoU, on logits.

    ``per_image=True`` (default) averages per-image losses; False treats the batch
    as one image.
    """

    def __init__(self, per_image: bool = True):
        super().__init__()
        self.per_image = _flag("lovasz", "per_image", per_image)

    @staticmethod
    def _one(logits: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
        if logits.numel() == 0:
            return logits.sum() * 0.0
        signs = 2 * truth - 1
        errors = 1 - logits * signs
        errors_sorted, order = torch.sort(errors, descending=True)
        return torch.dot(F.relu(errors_sorted), _lovasz_gradient(truth[order]))

    def forward(self, logits, target, valid=None):
        x, y, w = _flat(logits, target, valid)
        keep = w > 0
        if not self.per_image:
            return self._one(x[keep], y[keep])
        return torch.stack([self._one(xi[k], yi[k]) for xi, yi, k in zip(x, y, keep)]).mean()


class WeightedSum(nn.Module):
    """``sum_i weight_i * loss_i``."""

    def __init__(self, terms: list[tuple[float, nn.Module]]):
        super().__init__()
        if not terms:
            raise ValueError("a weighted sum needs at least one loss")
        self.weights = [float(w) for w, _ in terms]
        self.losses = nn.ModuleList(loss for _, loss in terms)

    def forward(self, logits, target, valid=None):
        return sum(w * loss(logits, target, valid) for w, loss in zip(self.weights, self.losses))


LOSSES = {
    "bce": BCELoss,
    "focal": FocalLoss,
    "iou": SoftIoULoss,
    "dice": DiceLoss,
    "lovasz": LovaszHingeLoss,
}

_TERM = re.compile(r"^\s*(?:(\d+(?:\.\d*)?|\.\d+)\s*\*\s*)?([a-z_]+)\s*$")


def loss_options(name: str) -> list[str]:
    """Option names the loss term ``name`` accepts, in its constructor's order."""
    if name not in LOSSES:
        raise CorrosegUserError(f"unknown loss {name!r}; terms: {', '.join(LOSSES)}")
    return list(inspect.signature(LOSSES[name]).parameters)


def _parse(spec: str) -> list[tuple[float, str]]:
    """``"bce + 0.5*iou"`` -> ``[(1.0, "bce"), (0.5, "iou")]``."""
    if not isinstance(spec, str):
        raise CorrosegUserError(f"a loss spec is a string such as 'bce + 0.5*iou', got {spec!r}")
    terms = []
    for part in spec.split("+"):
        match = _TERM.match(part)
        if match is None or match.group(2) not in LOSSES:
            word = match.group(2) if match else part.strip()
            raise CorrosegUserError(
                f"bad loss term {part.strip()!r} in {spec!r}{did_you_mean([word], LOSSES)}; terms: {', '.join(LOSSES)}"
            )
        terms.append((float(match.group(1) or 1.0), match.group(2)))
    return terms


def create_loss(spec: str, **options) -> nn.Module:
    """Build a loss from a spec such as ``"bce"``, ``"focal"`` or ``"bce + 0.5*iou"``.

    ``options`` go to every term that accepts them (e.g. ``smooth=1.0`` to both
    ``iou`` and ``dice``). An option no term of the spec accepts, an unknown term and
    an option value a loss rejects raise :class:`~corroseg.errors.CorrosegUserError`.
    """
    terms = _parse(spec)
    accepted = {name: loss_options(name) for _, name in terms}
    known = [option for names in accepted.values() for option in names]
    unknown = [key for key in options if key not in known]
    if unknown:
        known = list(dict.fromkeys(known))
        listed = ", ".join(repr(key) for key in unknown)
        per_term = "; ".join(f"{name}: {', '.join(names) or 'no options'}" for name, names in accepted.items())
        raise CorrosegUserError(
            f"loss {spec!r}: no term accepts option{'s' if len(unknown) > 1 else ''} {listed}{did_you_mean(unknown, known)}; "
            f"accepted: {per_term}"
        )
    built = [
        (weight, LOSSES[name](**{k: v for k, v in options.items() if k in accepted[name]}))
        for weight, name in terms
    ]
    return built[0][1] if len(built) == 1 and built[0][0] == 1.0 else WeightedSum(built)

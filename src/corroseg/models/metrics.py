"""The challenge metric and the pixel statistics around it (numpy, any 0/1 arrays).

Arrays are stacks of patches ``(N, H, W)`` (or ``(N, 1, H, W)``); ``valid`` marks the
pixels that count (None = all). The challenge metric is the mean over patches of the
per-patch IoU, with IoU = 1 when truth and prediction are both empty.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _stack(pred, truth=None, valid=None):
    pred = np.asarray(pred).astype(bool)
    n = len(pred)
    pred = pred.reshape(n, -1)
    truth = None if truth is None else np.asarray(truth).astype(bool).reshape(n, -1)
    if truth is not None and truth.shape != pred.shape:
        raise ValueError(f"prediction {pred.shape} and truth {truth.shape} differ")
    valid = np.ones_like(pred) if valid is None else np.asarray(valid).astype(bool).reshape(n, -1)
    return pred & valid, (None if truth is None else truth & valid), valid


def per_patch_iou(pred, truth, valid=None) -> np.ndarray:
    """IoU of every patch; 1.0 where both are empty."""
    p, t, _ = _stack(pred, truth, valid)
    inter = (p & t).sum(axis=1)
    union = (p | t).sum(axis=1)
    return np.where(union == 0, 1.0, inter / np.maximum(union, 1))


def challenge_iou(pred, truth, valid=None) -> float:
    """The challenge metric: mean per-patch IoU (empty vs empty = 1)."""
    return float(per_patch_iou(pred, truth, valid).mean()) if len(pred) else float("nan")


def confusion(pred, truth, valid=None) -> dict[str, int]:
    """Pixel counts ``tp``, ``fp``, ``fn``, ``tn`` over valid pixels."""
    p, t, v = _stack(pred, truth, valid)
    tp = int((p & t).sum())
    fp = int((p & ~t).sum())
    fn = int((~p & t).sum())
    return {"tp": tp, "fp": fp, "fn": fn, "tn": int(v.sum()) - tp - fp - fn}


def _ratio(num: int, den: int, zero_division: float) -> float:
    return num / den if den else zero_division


def global_iou(pred, truth, valid=None, zero_division: float = 1.0) -> float:
    """IoU of all pixels pooled (``tp / (tp + fp + fn)``)."""
    c = confusion(pred, truth, valid)
    return _ratio(c["tp"], c["tp"] + c["fp"] + c["fn"], zero_division)


def precision(pred, truth, valid=None, zero_division: float = 0.0) -> float:
    c = confusion(pred, truth, valid)
    return _ratio(c["tp"], c["tp"] + c["fp"], zero_division)


def recall(pred, truth, valid=None, zero_division: float = 0.0) -> float:
    c = confusion(pred, truth, valid)
    return _ratio(c["tp"], c["tp"] + c["fn"], zero_division)


def f1(pred, truth, valid=None, zero_division: float = 0.0) -> float:
    c = confusion(pred, truth, valid)
    return _ratio(2 * c["tp"], 2 * c["tp"] + c["fp"] + c["fn"], zero_division)


def false_alarm_rate(pred, truth=None, valid=None) -> float:
    """Share of truly clean valid pixels predicted as corrosion.

    Without ``truth`` every pixel is taken as clean: the share of pixels predicted
    as corrosion, the figure reported for wells known to be free of corrosion.
    """
    p, t, v = _stack(pred, truth, valid)
    clean = v if t is None else v & ~t
    return _ratio(int((p & clean).sum()), int(clean.sum()), 0.0)


def summary(pred, truth, valid=None, undefined: float = 0.0) -> dict[str, float]:
    """Every metric of this module for one set of patches.

    ``undefined`` is what precision, recall and F1 are when their denominator is zero
    (nothing predicted, nothing to find): 0 as scikit-learn says, or NaN (n/a) for reports.
    """
    return {
        "patches": int(len(pred)),
        "challenge_iou": challenge_iou(pred, truth, valid),
        "global_iou": global_iou(pred, truth, valid),
        "precision": precision(pred, truth, valid, undefined),
        "recall": recall(pred, truth, valid, undefined),
        "f1": f1(pred, truth, valid, undefined),
        "false_alarm_rate": false_alarm_rate(pred, truth, valid),
    }


def per_well(pred, truth, wells: Sequence[int], valid=None) -> dict[int, dict[str, float]]:
    """:func:`summary` for each well id."""
    wells = np.asarray(wells)
    pred, truth = np.asarray(pred), np.asarray(truth)
    valid = None if valid is None else np.asarray(valid)
    return {
        int(w): summary(pred[wells == w], truth[wells == w], None if valid is None else valid[wells == w])
        for w in np.unique(wells)
    }

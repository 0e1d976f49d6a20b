"""The decision threshold tuned for the challenge metric on held-out training wells.

A run's threshold is tuned on the wells it never trained on: its validation wells
(``corroseg train``) or every well's out-of-fold prediction (``corroseg train
--folds K``); never on test wells. The result is ``RUN/threshold.json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from corroseg.atomic import write_json
from corroseg.data.labelled import LabelledWell, corrupted_patch_pixels
from corroseg.data.wells import cut
from corroseg.errors import CorrosegInputError
from corroseg.train.rundir import THRESHOLD_FILE

GRID = tuple(np.round(np.arange(0.05, 0.951, 0.025), 3))
"""Thresholds tried: 0.05 to 0.95 in steps of 0.025."""


def patch_scoring_arrays(well: LabelledWell, probability: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and truths ``(n, 36, 36)`` of a well's patches, in the challenge convention.

    Patches holding a corrupted pixel get probability 0: predictions are blanked
    there, as the challenge's labels are.
    """
    rows = well.rows - well.rows % 36  # whole patches only
    probability = np.nan_to_num(np.asarray(probability, dtype=np.float32), nan=0.0)
    probability = np.where(corrupted_patch_pixels(well.image), 0.0, probability)
    return cut(probability[:rows]), cut(well.score_truth[:rows]).astype(bool)


def threshold_curve(probability: np.ndarray, truth: np.ndarray, grid: Iterable[float] = GRID) -> dict[float, float]:
    """The challenge metric (mean per-patch IoU) of ``probability >= t`` for each ``t``.

    Parameters
    ----------
    probability, truth : ndarray (N, 36, 36)
    """
    p = probability.reshape(len(probability), -1)
    t = truth.reshape(len(truth), -1).astype(bool)
    curve = {}
    for threshold in grid:
        pred = p >= threshold
        inter = (pred & t).sum(axis=1)
        union = (pred | t).sum(axis=1)
        curve[float(threshold)] = float(np.where(union == 0, 1.0, inter / np.maximum(union, 1)).mean())
    return curve


def tune_threshold(probability: np.ndarray, truth: np.ndarray, source: str, wells: Iterable[int],
                   grid: Iterable[float] = GRID) -> dict:
    """The threshold that maximises the challenge metric, with its curve and the metric at 0.5.

    Ties go to the threshold nearest 0.5 (the untuned choice), so a flat curve changes nothing.
    """
    curve = threshold_curve(probability, truth, grid)
    top = max(curve.values())
    best = min((t for t, v in curve.items() if v >= top - 1e-12), key=lambda t: abs(t - 0.5))
    return {
        "threshold": best,
        "iou": top,
        "iou_at_0.5": float(threshold_curve(probability, truth, [0.5])[0.5]),
        "source": source,
        "wells": sorted(int(w) for w in wells),
        "patches": int(len(probability)),
        "curve": {f"{t:.3f}": v for t, v in curve.items()},
    }


def write_threshold(run: str | Path, tuned: dict) -> Path:
    """Write ``RUN/threshold.json`` atomically."""
    return write_json(Path(run) / THRESHOLD_FILE, tuned)


def read_threshold(run: str | Path) -> float:
    """The tuned threshold of a run; a clear error when it has none."""
    path = Path(run) / THRESHOLD_FILE
    if not path.is_file():
        raise CorrosegInputError(path, "missing: this run has no tuned threshold (retrain it with this version, "
                                       "or pass --threshold 0.5)")
    try:
        value = float(json.loads(path.read_text())["threshold"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CorrosegInputError(path, f"unreadable tuned threshold ({exc})") from None
    if not 0.0 < value < 1.0:
        raise CorrosegInputError(path, f"threshold {value} is not in (0, 1)")
    return value

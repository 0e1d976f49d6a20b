"""What the report draws of a well: its image, probability, mask and truth (handed in, never predicted here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from corroseg.infer.evaluate import ScoredSplit, false_alarm_figures

SECTION_ROWS = 1000
"""Rows of a well pictured at full resolution (a whole real well has up to 70,740)."""


@dataclass
class WellView:
    """A whole well, its prediction and (optionally) its truth, ready to picture."""

    title: str
    image: np.ndarray
    probability: np.ndarray
    mask: np.ndarray
    truth: np.ndarray | None = None
    well: int | None = None
    false_alarm_well: bool = False
    split: str | None = None  # "train" or "test" (x_train, x_test) when the well comes from a split

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.probability)

    @property
    def flagged(self) -> float:
        """Share of valid pixels flagged (the false-alarm rate on a corrosion-free well)."""
        valid = self.valid
        return float(self.mask[valid].sum() / max(int(valid.sum()), 1))


def best_and_worst_wells(scored: ScoredSplit) -> list[tuple[str, int]]:
    """[("best", well), ("worst", well)] by the challenge metric (the best among wells with corrosion).

    One entry when the best well is also the worst.
    """
    per_well = scored.figures["per_well"]
    labelled_wells = scored.images.wells[scored.labelled_rows]
    truth_any = scored.truth.reshape(len(scored.truth), -1).any(axis=1)
    corroded = [int(w) for w in per_well if truth_any[labelled_wells == int(w)].any()] or [int(w) for w in per_well]
    best = max(corroded, key=lambda w: per_well[str(w)]["iou"])
    worst = min((int(w) for w in per_well), key=lambda w: per_well[str(w)]["iou"])
    return [("best", best)] if best == worst else [("best", best), ("worst", worst)]


def false_alarm_counts(views: Sequence[WellView]) -> dict[int, tuple[int, int]]:
    """(valid pixels, flagged pixels) of each false-alarm well among ``views``."""
    return {v.well: (int(v.valid.sum()), int(v.mask[v.valid].sum())) for v in views if v.false_alarm_well}


def real_false_alarms(views: Sequence[WellView], source: str = "real x_train") -> dict | None:
    """The false-alarm figures (:func:`corroseg.infer.evaluate.false_alarm_figures`) of the views; None without any."""
    counts = false_alarm_counts(views)
    return false_alarm_figures(source, counts) if counts else None

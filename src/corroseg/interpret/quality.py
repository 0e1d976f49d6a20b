"""Depth intervals where the image cannot be trusted: low coverage, abnormal spread, tool artefacts.

The image is read in windows of :data:`WINDOW_ROWS` rows (a patch's height). A window is
low-confidence when

* fewer than :data:`MIN_VALID_SHARE` of its pixels are real readings (dropouts, placeholders);
* its typical row spread (median over its rows of each row's standard deviation, so a
  collar's few rows do not count) is more than :data:`SPREAD_FACTOR` times the well's
  typical window: the tool lost centring or coupling (the bottom of real test well 5:
  34-45 % valid pixels and about 7 times the usual spread);
* its typical row-to-row step (median absolute difference between consecutive rows) is more
  than :data:`STEP_FACTOR` times the well's: a saw-tooth of alternating rows, as at the end
  of real train well 10.

Adjacent windows join into one zone. The thresholds were set by looking at the real
train and test wells (wells 9 and 10 included, as examples of artefacts, not to tune a
model); they flag the cases above and few windows elsewhere (docs/interpret.md).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from corroseg.data.corruption import valid_pixels

WINDOW_ROWS = 36
MIN_VALID_SHARE = 0.8
SPREAD_FACTOR = 4.0
STEP_FACTOR = 4.0


@dataclass(frozen=True)
class Zone:
    """Rows ``top_row .. bottom_row`` (inclusive) flagged as low-confidence, and why."""

    top_row: int
    bottom_row: int
    reasons: tuple[str, ...]
    valid_share: float
    spread_ratio: float
    step_ratio: float

    def to_dict(self, depth_start: float = 0.0, depth_step: float = 1.0, depth_unit: str = "row") -> dict:
        return {"top_depth": depth_start + depth_step * self.top_row,
                "bottom_depth": depth_start + depth_step * (self.bottom_row + 1), "depth_unit": depth_unit,
                "rows": self.bottom_row - self.top_row + 1, "reasons": ", ".join(self.reasons),
                "valid_share": round(self.valid_share, 3), "spread_ratio": round(self.spread_ratio, 2),
                "step_ratio": round(self.step_ratio, 2)}


def low_confidence_zones(image: np.ndarray, window_rows: int = WINDOW_ROWS) -> list[Zone]:
    """The low-confidence zones of a well image ``(rows, width)`` (deviation, in), top first."""
    image = np.asarray(image)
    rows = image.shape[0]
    valid = valid_pixels(image)
    values = np.where(valid, image, np.nan).astype(np.float64)
    starts = np.arange(0, rows, window_rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows or windows with no reading give NaN
        row_spread = np.nanstd(values, axis=1)
        row_step = np.append(np.nanmedian(np.abs(np.diff(values, axis=0)), axis=1), np.nan)
        share = np.add.reduceat(valid.sum(axis=1), starts) / (np.diff(np.append(starts, rows)) * image.shape[1])
        spread = np.array([np.nanmedian(row_spread[s:s + window_rows]) for s in starts])
        step = np.array([np.nanmedian(row_step[s:s + window_rows]) for s in starts])
        spread_ratio = spread / np.nanmedian(spread)
        step_ratio = step / np.nanmedian(step)
    reasons = [tuple(reason for reason, hit in (
        ("low coverage", share[i] < MIN_VALID_SHARE),
        ("abnormal spread", spread_ratio[i] > SPREAD_FACTOR),
        ("row-to-row artefact", step_ratio[i] > STEP_FACTOR)) if hit) for i in range(len(starts))]
    zones: list[Zone] = []
    i = 0
    while i < len(starts):
        if not reasons[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(starts) and reasons[j + 1]:
            j += 1
        part = slice(i, j + 1)
        why = tuple(r for r in ("low coverage", "abnormal spread", "row-to-row artefact")
                    if any(r in reasons[k] for k in range(i, j + 1)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a zone with no reading has no ratio
            zones.append(Zone(int(starts[i]), int(min(starts[j] + window_rows, rows) - 1), why,
                              float(np.mean(share[part])), float(np.nanmax(spread_ratio[part])),
                              float(np.nanmax(step_ratio[part]))))
        i = j + 1
    return zones


def zone_rows(zones: list[Zone], rows: int) -> np.ndarray:
    """Boolean ``(rows,)``: True inside a zone."""
    inside = np.zeros(rows, bool)
    for zone in zones:
        inside[zone.top_row:zone.bottom_row + 1] = True
    return inside

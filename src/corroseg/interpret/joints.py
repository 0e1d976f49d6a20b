"""Collars and the joint tally: where each casing joint starts, and how corroded it is.

Collars are found in the image (:func:`find_collars`) unless the log has a collar-locator
channel (:attr:`corroseg.data.wells.Well.collars`). A collar is a band of a few rows of
strong alternating readings across the whole circumference (0.1-0.47 in in the challenge's
images), far beyond the pipe's own texture: rows whose typical reading (the median of
absolute deviations, so a spike in a few pixels is no collar) is more than
:data:`COLLAR_CONTRAST` times the typical spread around them (a running median over
:data:`BASELINE_FT`, so a rough joint does not hide its collars and a smooth one does
not invent them). Candidate rows closer than a few rows form one band; a collar row is
the band's first row, as the synthetic generator records it. Bands closer than
:data:`MIN_JOINT_FT` are one collar (the challenge's shortest joints are 160 rows, 16 ft
at the assumed 0.1 ft a row). Lengths are set in feet and turned into rows by the well's
spacing.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from corroseg.data.corruption import valid_pixels
from corroseg.interpret.defects import Casing, Defect, depth_step_in, joint_bounds, metal_loss_in
from corroseg.interpret.strength import api_burst_psi, grade
from corroseg.interpret.tables import write_table_csv

COLLAR_CONTRAST = 4.0
ROW_FT = 0.1
"""Row spacing the lengths below were set at (the challenge's, as assumed; docs/interpret.md)."""
BASELINE_FT = 15.1
MIN_JOINT_FT = 10.0
BAND_GAP_FT = 0.3
COLLAR_BAND_FT = (0.2, 1.2)
"""Before and after a collar row, what belongs to the collar (its band is 5-11 rows at 0.1 ft), not the pipe body."""


def _rows(length_ft: float, row_ft: float | None) -> int:
    """Rows covering ``length_ft`` at ``row_ft`` a row (the challenge's assumed spacing when unknown), at least 1."""
    return max(1, int(round(length_ft / (row_ft or ROW_FT))))


def collar_rows(collars: np.ndarray, rows: int, row_ft: float | None = None) -> np.ndarray:
    """Boolean ``(rows,)``: True on collar bands (their readings are the coupling, not the pipe wall)."""
    before, after = (_rows(length, row_ft) for length in COLLAR_BAND_FT)
    inside = np.zeros(rows, bool)
    for row in np.asarray(collars, np.int64):
        inside[max(0, row - before):row + after] = True
    return inside


def find_collars(image: np.ndarray, row_ft: float | None = None) -> np.ndarray:
    """Collar rows of a well image ``(rows, width)``, top first (see the module docstring).

    ``row_ft``: feet between rows, so that lengths (baseline, shortest joint) hold at any
    spacing; unknown, the challenge's assumed 0.1 ft.
    """
    image = np.asarray(image)
    valid = valid_pixels(image)
    values = np.where(valid, image, np.nan).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        spread = np.nanmedian(np.abs(values), axis=1)  # robust: a spike in a few pixels is no collar
    enough = valid.mean(axis=1) >= 0.5
    spread = np.where(enough & np.isfinite(spread), spread, 0.0)
    if not spread.any():
        return np.zeros(0, np.int64)
    typical = np.median(spread[enough]) if enough.any() else 0.0
    baseline = ndimage.median_filter(np.where(enough, spread, typical), size=_rows(BASELINE_FT, row_ft) | 1,
                                     mode="nearest")
    strong = (spread > COLLAR_CONTRAST * np.maximum(baseline, 1e-6)) & enough
    bands, _ = ndimage.label(ndimage.binary_closing(strong, np.ones(_rows(BAND_GAP_FT, row_ft), bool)) | strong)
    collars: list[tuple[int, float]] = []
    for found in ndimage.find_objects(bands):
        rows = np.arange(found[0].start, found[0].stop)
        first, peak = int(rows[strong[rows]][0]), float(spread[rows].max())
        if collars and first - collars[-1][0] < _rows(MIN_JOINT_FT, row_ft):
            if peak > collars[-1][1]:  # the stronger band is the collar
                collars[-1] = (first, peak)
            continue
        collars.append((first, peak))
    return np.asarray([row for row, _ in collars], np.int64)


@dataclass
class Joint:
    """One row of the joint tally (the columns of ``joints.csv``; units in the names)."""

    joint: int
    top_depth: float
    bottom_depth: float
    depth_unit: str
    length_ft: float | None
    min_wall_in: float | None
    max_loss_pct: float
    corroded_area_pct: float
    defects: int
    worst_class: str
    intact_burst_psi: float | None
    lowest_failure_psi: float | None
    derated_burst_psi: float | None
    low_confidence_pct: float
    uniform_loss_pct: float | None


def joint_tally(mask: np.ndarray, image: np.ndarray, casing: Casing, defects: list[Defect], collars: np.ndarray,
                depth_start: float = 0.0, depth_step: float = 1.0, depth_unit: str = "ft",
                thickness: np.ndarray | None = None, low_confidence: np.ndarray | None = None) -> list[Joint]:
    """One :class:`Joint` per joint between collars; the worst joints are those with the lowest burst figure.

    Parameters
    ----------
    mask, image : ndarray (rows, width)
        Predicted corrosion and wall-thickness deviation, in. The joint's minimum wall is
        read over its pipe body (collar bands left out); its maximum loss is its deepest defect's.
    casing : Casing
        Nominal sizes (and grade, for burst figures).
    defects : list of Defect
        The defect list of the well (:func:`corroseg.interpret.defects.find_defects` with ``collars``).
    collars : ndarray of int
        Collar rows; joint 1 is above the first collar.
    thickness : ndarray (rows, width), optional
        Absolute wall thickness, in (a log's): gives the minimum wall and the uniform loss.
    low_confidence : ndarray (rows,) of bool, optional
        Rows in a low-confidence zone.
    """
    rows = mask.shape[0]
    row_ft = depth_step_in(depth_step, depth_unit) / 12.0 if depth_unit != "row" else None
    bounds = np.concatenate([[0], joint_bounds(collars, rows), [rows]])
    valid = valid_pixels(image) & ~collar_rows(collars, rows, row_ft)[:, None]
    loss = np.where(valid, metal_loss_in(image, casing.wall_in, thickness), 0.0)
    intact = api_burst_psi(casing.od_in, casing.wall_in, grade(casing.grade).smys_psi) if casing.grade else None
    tally = []
    for number, (top, stop) in enumerate(zip(bounds[:-1], bounds[1:]), start=1):
        members = [d for d in defects if d.joint == number]
        part_valid = valid[top:stop]
        corroded = float((mask[top:stop].astype(bool) & part_valid).sum() / max(part_valid.sum(), 1))
        if thickness is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                wall = np.where(part_valid, thickness[top:stop], np.nan)
                min_wall = float(np.nanmin(wall)) if np.isfinite(wall).any() else None
                row_mean = np.nanmean(wall, axis=1)
            uniform = float(np.clip(100 * (1 - np.nanmin(row_mean) / casing.wall_in), 0, None)) \
                if np.isfinite(row_mean).any() else None
        else:
            min_wall = casing.wall_in - float(loss[top:stop].max(initial=0.0))
            uniform = None
        failures = [d.lowest_failure_psi for d in members if d.lowest_failure_psi is not None]
        derated = [d.derated_burst_psi for d in members if d.derated_burst_psi is not None]
        tally.append(Joint(
            joint=number, top_depth=depth_start + depth_step * top, bottom_depth=depth_start + depth_step * stop,
            depth_unit=depth_unit, length_ft=None if row_ft is None else (stop - top) * row_ft,
            min_wall_in=min_wall, max_loss_pct=max((d.max_loss_pct for d in members), default=0.0),
            corroded_area_pct=100 * corroded, defects=len(members),
            worst_class=_worst_class(members), intact_burst_psi=intact,
            lowest_failure_psi=min(failures) if failures else None,
            derated_burst_psi=min(derated) if derated else intact,
            low_confidence_pct=0.0 if low_confidence is None else 100 * float(low_confidence[top:stop].mean()),
            uniform_loss_pct=uniform))
    return tally


def _worst_class(defects: list[Defect]) -> str:
    """The class of the deepest defect of a joint ("none" without defects)."""
    if not defects:
        return "none"
    return max(defects, key=lambda d: d.max_loss_in).pof_class


def worst_first(tally: list[Joint]) -> list[Joint]:
    """The tally ordered worst joint first: lowest derated burst, then deepest loss."""
    return sorted(tally, key=lambda j: (j.derated_burst_psi if j.derated_burst_psi is not None else np.inf,
                                        -j.max_loss_pct, j.joint))


def write_joints_csv(path, tally: list[Joint]) -> None:
    """``joints.csv``: one row per joint, units in the header (the caller writes to a temp path)."""
    write_table_csv(path, Joint, tally)

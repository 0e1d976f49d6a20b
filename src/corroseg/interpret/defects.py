"""A defect list from a predicted corrosion mask: connected defects, their sizes, POF class and burst rating.

Flagged pixels are grouped into defects by 8-connectivity, across the azimuth seam (the
first and last columns touch) and across gaps of up to ``interaction_spacing`` (default 3
nominal walls, along depth and around: the flaw interaction spacing ASME B31G recommends
for in-line inspection metal loss), so that one groove broken by a few missed pixels is one
defect, as a labeller or an inspector would size it.

Conventions: azimuth column ``c`` of ``width`` sits at ``360 (c + 0.5) / width`` degrees,
and clock positions put column 0 at 12 o'clock, turning clockwise (the tool's reference
azimuth; a log's own reference is not known here). Metal loss is read from the image: in
the challenge convention it is the deviation below each full row's mean, so a loss uniform
around the whole circumference does not show (see the row-mean curve of a log).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from corroseg.interpret.pof import pof_class
from corroseg.interpret.strength import rate_defect
from corroseg.interpret.tables import write_table_csv

from corroseg.data.logs import DEPTH_UNITS_IN, MM_PER_IN, UNIT_SPELLINGS

INTERACTION_WALLS = 3.0
"""Defects closer than this many nominal walls (along depth and around) are one defect (B31G's ILI spacing)."""


@dataclass(frozen=True)
class Casing:
    """Nominal sizes of a casing string: outside diameter and wall, in; an API 5CT grade for burst ratings."""

    od_in: float
    wall_in: float
    grade: str | None = None

    def __post_init__(self):
        if not (self.od_in > 0 and 0 < self.wall_in < self.od_in / 2):
            raise ValueError(f"casing od_in={self.od_in}, wall_in={self.wall_in}: need 0 < wall < od/2")


@dataclass
class Defect:
    """One defect of the list (the columns of ``defects.csv``; units in the names)."""

    id: int
    joint: int | None
    top_depth: float
    bottom_depth: float
    depth_unit: str
    length_in: float
    width_deg: float
    width_in: float
    clock: str
    max_loss_in: float
    max_loss_pct: float
    mean_loss_in: float
    mean_loss_pct: float
    min_remaining_wall_in: float
    area_in2: float
    pixels: int
    mean_probability: float
    pof_class: str
    intact_burst_psi: float | None = None
    lowest_failure_psi: float | None = None
    derated_burst_psi: float | None = None
    burst_method_note: str | None = None
    low_confidence: bool = False


def depth_step_in(step: float, unit: str) -> float:
    """Inches between rows for a depth step in ``unit`` (one line naming the unit when it is unknown)."""
    key = " ".join(unit.strip().lower().split())
    if key not in UNIT_SPELLINGS:
        raise ValueError(f"depth unit {unit!r} has no length (known: {', '.join(DEPTH_UNITS_IN)}); sizes need one")
    return abs(step) * DEPTH_UNITS_IN[UNIT_SPELLINGS[key]]


def label_defects(mask: np.ndarray, gap_rows: int = 0, gap_cols: int = 0) -> tuple[np.ndarray, int]:
    """Label each defect of a 0/1 mask ``(rows, width)``: 8-connected, across the seam and gaps.

    Pixels closer than ``gap_rows`` rows and ``gap_cols`` columns share a label. Returns
    ``(labels, count)`` with 0 off the mask.
    """
    mask = np.asarray(mask).astype(bool)
    rows, width = mask.shape
    pad = min(gap_cols + 1, width)  # wrap around: the seam's neighbours are across it
    wrapped = np.concatenate([mask[:, -pad:], mask, mask[:, :pad]], axis=1)
    grown = ndimage.binary_dilation(wrapped, np.ones((2 * gap_rows + 1, 2 * gap_cols + 1), bool)) if (
        gap_rows or gap_cols) else wrapped
    labels, _ = ndimage.label(grown, structure=np.ones((3, 3), bool))
    # a component seen on both sides of the seam: the padded columns hold the same pixels twice
    parent: dict[int, int] = {}

    def root(a: int) -> int:
        while parent.get(a, a) != a:
            a = parent[a]
        return a

    for left, right in ((labels[:, :pad], labels[:, width:width + pad]),
                        (labels[:, pad:2 * pad], labels[:, width + pad:])):
        for a, b in zip(left.ravel(), right.ravel()):
            if a and b and root(a) != root(b):
                parent[root(a)] = root(b)
    roots = np.arange(int(labels.max()) + 1)
    for label in parent:
        roots[label] = root(label)
    merged = np.where(mask, roots[labels[:, pad:pad + width]], 0)
    ids = np.unique(merged[merged > 0])
    relabel = np.zeros(int(merged.max()) + 1, np.int64)
    relabel[ids] = np.arange(1, len(ids) + 1)
    return relabel[merged], len(ids)


def _arc_columns(columns: np.ndarray, width: int) -> tuple[int, int]:
    """(first column, count) of the shortest arc around the casing covering ``columns``."""
    empty = np.ones(width, bool)
    empty[columns] = False
    if not empty.any():
        return 0, width
    # the longest run of empty columns, read circularly (twice round), is what the arc leaves out
    runs = np.zeros(2 * width, np.int64)
    for i, gap in enumerate(np.concatenate([empty, empty])):
        runs[i] = runs[i - 1] + 1 if gap and i else int(gap)
    end = int(np.argmax(runs))
    left_out = min(int(runs[end]), width)
    return (end + 1) % width, width - left_out


def clock_position(column: float, width: int) -> str:
    """``H:MM`` of an azimuth column, column 0 at 12 o'clock, clockwise."""
    minutes = round(((column + 0.5) / width * 720.0)) % 720
    hours, minutes = divmod(minutes, 60)
    return f"{hours or 12}:{minutes:02d}"


def metal_loss_in(image: np.ndarray, wall_in: float, thickness: np.ndarray | None = None) -> np.ndarray:
    """Metal loss of every pixel, in (0 where no reading).

    With the absolute thickness of a log, loss is the nominal wall minus the thickness: a loss
    wide enough to pull its row's mean down is sized in full. Without it (challenge and
    synthetic wells), loss is the dip below the row's mean.
    """
    image = np.asarray(image, np.float64)
    no_reading = ~np.isfinite(image) | (np.abs(np.nan_to_num(image)) > wall_in)  # placeholders, outliers
    below = -image if thickness is None else wall_in - np.asarray(thickness, np.float64)
    loss = np.clip(np.nan_to_num(below, nan=0.0, posinf=0.0, neginf=0.0), 0.0, None)
    loss[no_reading] = 0.0
    return loss


def joint_bounds(collars: np.ndarray, rows: int) -> np.ndarray:
    """The rows where joints 2, 3, ... start: the collars inside the well, each once.

    Joint ``searchsorted(bounds, row, "right") + 1`` holds ``row``; a collar on the first or
    last row starts no joint (the defect list and the tally number joints alike).
    """
    bounds = np.unique(np.asarray(collars, np.int64))
    return bounds[(bounds > 0) & (bounds < rows)]


def _labels_per_joint(mask: np.ndarray, bounds: np.ndarray | None, gap_rows: int, gap_cols: int) -> np.ndarray:
    """Defect labels of a mask, never joined across a collar: a feature is reported in its joint, as a tally
    row is, so corrosion on both sides of a coupling makes two defects."""
    rows = mask.shape[0]
    edges = [0, *(bounds if bounds is not None else []), rows]
    labels = np.zeros(mask.shape, np.int64)
    offset = 0
    for top, stop in zip(edges[:-1], edges[1:]):
        part, count = label_defects(mask[top:stop], gap_rows=gap_rows, gap_cols=gap_cols)
        labels[top:stop] = np.where(part > 0, part + offset, 0)
        offset += count
    return labels


def find_defects(mask: np.ndarray, image: np.ndarray, probability: np.ndarray, casing: Casing,
                 depth_start: float = 0.0, depth_step: float = 1.0, depth_unit: str = "ft",
                 collars: np.ndarray | None = None, interaction_walls: float = INTERACTION_WALLS,
                 thickness: np.ndarray | None = None, low_confidence: np.ndarray | None = None) -> list[Defect]:
    """The defect list of one well, deepest first.

    Parameters
    ----------
    mask : ndarray (rows, width) of 0/1
        Predicted corrosion.
    image : ndarray (rows, width)
        Wall-thickness deviation, in (negative = metal loss); non-finite where no reading.
    probability : ndarray (rows, width)
        The model's probability (NaN where no reading).
    casing : Casing
        Nominal outside diameter and wall (and grade, for burst ratings).
    depth_start, depth_step, depth_unit :
        Depth of the first row and between rows, in a length unit (:data:`corroseg.data.logs.DEPTH_UNITS_IN`).
    collars : ndarray of int, optional
        Rows of the collars (joint boundaries); joint 1 is above the first collar. A defect never
        spans a collar: corrosion on both sides makes one defect in each joint.
    interaction_walls : float
        Defects closer than this many nominal walls are one.
    thickness : ndarray (rows, width), optional
        Absolute wall thickness, in (a log's): the minimum remaining wall is read from it.
    low_confidence : ndarray (rows,) of bool, optional
        Rows of low-confidence zones (:mod:`corroseg.interpret.quality`): a defect touching one is marked.
    """
    rows, width = mask.shape
    row_in = depth_step_in(depth_step, depth_unit)
    column_in = np.pi * casing.od_in / width
    spacing_in = interaction_walls * casing.wall_in
    bounds = joint_bounds(collars, rows) if collars is not None else None
    labels = _labels_per_joint(mask, bounds, int(spacing_in // row_in), int(spacing_in // column_in))
    loss = metal_loss_in(image, casing.wall_in, thickness)
    wall_mm = casing.wall_in * MM_PER_IN
    defects = []
    for index, found in enumerate(ndimage.find_objects(labels), start=1):
        if found is None:
            continue
        part = labels[found] == index
        top, bottom = found[0].start, found[0].stop - 1
        cells = np.argwhere(part)
        first, span = _arc_columns(np.unique(cells[:, 1] + found[1].start), width)
        losses = loss[found][part]
        deepest = cells[int(np.argmax(losses))] + (top, found[1].start)
        length_in = (bottom - top + 1) * row_in
        width_in = span * column_in
        max_loss = float(losses.max())
        defect = Defect(
            id=0, joint=None if bounds is None else int(np.searchsorted(bounds, top, side="right")) + 1,
            top_depth=depth_start + depth_step * top, bottom_depth=depth_start + depth_step * (bottom + 1),
            depth_unit=depth_unit, length_in=length_in, width_deg=360.0 * span / width, width_in=width_in,
            clock=clock_position(deepest[1], width), max_loss_in=max_loss,
            max_loss_pct=100 * max_loss / casing.wall_in, mean_loss_in=float(losses.mean()),
            mean_loss_pct=100 * float(losses.mean()) / casing.wall_in,
            min_remaining_wall_in=_min_wall(thickness, found, part, casing.wall_in - max_loss), area_in2=float(part.sum()) * row_in * column_in,
            pixels=int(part.sum()), mean_probability=float(np.nanmean(np.asarray(probability)[found][part])),
            pof_class=pof_class(length_in * MM_PER_IN, width_in * MM_PER_IN, wall_mm))
        if casing.grade is not None and 0 < max_loss < casing.wall_in:
            rating = rate_defect(casing.od_in, casing.wall_in, max_loss, length_in, casing.grade)
            defect.intact_burst_psi = rating.intact_burst_psi
            defect.lowest_failure_psi = rating.lowest_failure_psi
            defect.derated_burst_psi = rating.derated_burst_psi
            defect.burst_method_note = "; ".join(rating.warnings) or None
        defect.low_confidence = bool(low_confidence is not None and low_confidence[top:bottom + 1].any())
        defects.append(defect)
    defects.sort(key=lambda d: (-d.max_loss_in, d.top_depth))
    for number, defect in enumerate(defects, start=1):
        defect.id = number
    return defects


def _min_wall(thickness: np.ndarray | None, found: tuple, part: np.ndarray, fallback: float) -> float:
    """The thinnest absolute wall over a defect's pixels, in (``fallback`` without a thickness image)."""
    if thickness is None:
        return fallback
    walls = np.asarray(thickness)[found][part]
    walls = walls[np.isfinite(walls)]
    return float(walls.min()) if walls.size else fallback


def write_defects_csv(path, defects: list[Defect]) -> None:
    """``defects.csv``: one row per defect, units in the header; written by the caller atomically (a temp path)."""
    write_table_csv(path, Defect, defects)

"""A casing-inspection log's thickness image, as read from the file, and its conversion to a :class:`Well`.

The readers (:mod:`corroseg.data.log_readers`) return a :class:`LogImage`: the depth
index and the thickness channel exactly as logged (order, units, absent values), plus
the nominal sizes the file states. :func:`log_to_well` turns it into a well:

* depth increasing (logs are often recorded bottom-up), strictly monotonic, one step;
* absent values (-999.25, -999, the file's own NULL, NaN) become NaN, a corrupted pixel;
* thickness in inches: absolute, or thickness minus nominal plus the nominal wall;
* azimuth counts other than 36 or 72 resampled circularly (:func:`resample_azimuths`);
* the image is the deviation from each full row's mean (the challenge's convention, the
  model's input), the row mean kept as its own curve (``Well.row_mean_in``).

The challenge's row spacing is not published. Its collars come every 160-670 rows,
median about 340; at 0.1 ft (1.2 in) a row, the median joint is 34 ft, the length of
a range-2/3 casing joint. That is the spacing we assume for synthetic logs; a log's own
spacing is kept as logged, and ``--depth-step`` resamples it when asked.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from corroseg.data.corruption import PLACEHOLDERS
from corroseg.data.wells import WIDTHS, Well
from corroseg.errors import CorrosegInputError

MM_PER_IN = 25.4
DEPTH_UNITS_IN = {"in": 1.0, "0.1 in": 0.1, "ft": 12.0, "m": 1000 / MM_PER_IN, "cm": 10 / MM_PER_IN,
                  "mm": 1 / MM_PER_IN}
"""Inches per depth unit, for the units casing logs use (canonical spellings)."""

UNIT_SPELLINGS = {
    "in": "in", "inch": "in", "inches": "in", "0.1 in": "0.1 in", "0.1in": "0.1 in", ".1in": "0.1 in",
    ".1 in": "0.1 in", "ft": "ft", "f": "ft", "feet": "ft", "foot": "ft", "m": "m", "meter": "m", "meters": "m",
    "metre": "m", "metres": "m", "cm": "cm", "mm": "mm",
}
"""How files spell the units of :data:`DEPTH_UNITS_IN` (case-insensitive)."""

STEP_TOLERANCE = 0.01
"""Depth steps may vary by this fraction of the median step (rounding of a logged index)."""

MINUS_NOMINAL_SHARE = 0.5
"""Thickness values whose median is below this share of the nominal wall are thickness minus nominal."""


def canonical_unit(unit: str, source: str | Path, what: str = "depth") -> str:
    """The canonical spelling of a length unit, or one line naming the file and the unit."""
    key = " ".join(str(unit).strip().lower().split())
    if key not in UNIT_SPELLINGS:
        raise CorrosegInputError(source, f"unknown {what} unit {unit!r} (known: {', '.join(DEPTH_UNITS_IN)})")
    return UNIT_SPELLINGS[key]


@dataclass
class LogImage:
    """A thickness image as logged: depth index, one value per azimuth, nominal sizes stated."""

    source: Path
    channel: str
    depth: np.ndarray
    """Index values in file order, ``depth_unit``."""
    depth_unit: str
    values: np.ndarray
    """``(rows, azimuths)`` thickness or thickness minus nominal, ``value_unit``."""
    value_unit: str
    absent: tuple[float, ...] = PLACEHOLDERS
    well_name: str = ""
    od_in: float | None = None
    nominal_wall_in: float | None = None
    grade: str | None = None
    collar_locator: np.ndarray | None = None
    """A collar-locator curve, one value per row, when the log has one."""
    mask: np.ndarray | None = None
    """A corrosion mask channel (synthetic logs record their truth), one value per pixel."""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ImportOptions:
    """What the user may tell the importer (``corroseg import`` options)."""

    channel: str | None = None
    nominal_wall_in: float | None = None
    od_in: float | None = None
    grade: str | None = None
    thickness: str = "auto"
    """``auto``, ``absolute`` or ``minus-nominal``."""
    depth_step: float | None = None
    """Resample rows to this step, in the well's depth unit (the log's; ft for an index in 0.1 in)."""


def log_to_well(log: LogImage, options: ImportOptions = ImportOptions()) -> tuple[Well, list[str]]:
    """The well of a log (see the module docstring) and notes on what was done to it."""
    notes = list(log.notes)
    depth, values, mask, ccl = _depth_checked(log)
    if depth[-1] < depth[0]:
        depth, values = depth[::-1], values[::-1]
        mask = None if mask is None else mask[::-1]
        ccl = None if ccl is None else ccl[::-1]
        notes.append("logged bottom-up: rows reversed so depth increases")
    depth_unit = canonical_unit(log.depth_unit, log.source)
    if depth_unit == "0.1 in":  # USIT's index unit; engineers read depths in feet (12 tenths of an inch = 0.1 ft)
        depth, depth_unit = depth / 120.0, "ft"
        notes.append("depth index in 0.1 in, given in ft")
    od, wall, grade = _nominal(log, options, notes)
    thickness, absolute = _thickness_in(log, values, wall, options, notes)
    if options.depth_step is not None:
        depth, thickness, mask, ccl = _resample_rows(depth, thickness, mask, ccl, options.depth_step, log.source)
        notes.append(f"rows resampled to {options.depth_step:g} {depth_unit}")
    step = _uniform_step(depth, log.source)
    logged = thickness.shape[1]
    if logged not in WIDTHS:
        width = min(WIDTHS, key=lambda w: (abs(np.log(logged / w)), -w))
        thickness = resample_azimuths(thickness, width)
        mask = None if mask is None else (resample_azimuths(mask.astype(np.float64), width) >= 0.5)
        notes.append(f"{logged} azimuths resampled circularly to {width} for the model (outputs mapped back)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a row with no reading has no mean: NaN
        row_mean = np.nanmean(thickness, axis=1)
    image = (thickness - row_mean[:, None]).astype(np.float32)
    well = Well(image=image, mask=None if mask is None else np.nan_to_num(mask).astype(np.uint8) > 0,
                depth_start=float(depth[0]), depth_step=step, depth_unit=depth_unit,
                name=log.well_name or log.source.stem, od_in=od, nominal_wall_in=wall, grade=grade,
                row_mean_in=row_mean if absolute else None,
                collars=None if ccl is None else collars_from_locator(ccl, _rows_in(LOCATOR_MERGE_FT * 12, step,
                                                                                       depth_unit)),
                logged_azimuths=logged if logged not in WIDTHS else None)
    return well, notes


def _depth_checked(log: LogImage):
    """Depth and values as float64, absent values as NaN; refuses empty, unordered or repeated depths."""
    depth = np.asarray(log.depth, np.float64)
    values = np.array(log.values, np.float64)
    if values.ndim != 2 or values.shape[0] != depth.shape[0]:
        raise CorrosegInputError(log.source, f"channel {log.channel} has shape {values.shape} for "
                                             f"{depth.shape[0]} depths: mixed azimuth counts or a broken frame")
    if not depth.size or not values.shape[1]:
        raise CorrosegInputError(log.source, f"channel {log.channel}: the frame is empty")
    if depth.size < 2:
        raise CorrosegInputError(log.source, f"channel {log.channel} has one row: a well needs a depth step")
    if not np.isfinite(depth).all():
        raise CorrosegInputError(log.source, "the depth index has absent or non-finite values")
    steps = np.diff(depth)
    if depth.size > 1 and not ((steps > 0).all() or (steps < 0).all()):
        kind = "repeated" if (steps == 0).any() else "not monotonic"
        where = int(np.flatnonzero(steps == 0)[0] if kind == "repeated" else np.flatnonzero(
            np.sign(steps) != np.sign(steps[0]))[0])
        raise CorrosegInputError(log.source, f"depth is {kind} (at {depth[where]:g} {log.depth_unit}, "
                                             f"row {where + 1}): one thickness row per depth is needed")
    absent = np.isin(values, np.asarray(log.absent, np.float64)) | ~np.isfinite(values)
    values[absent] = np.nan
    if absent.all():
        raise CorrosegInputError(log.source, f"channel {log.channel} holds only absent values")
    mask = None if log.mask is None else np.asarray(log.mask, np.float64)
    ccl = None if log.collar_locator is None else np.asarray(log.collar_locator, np.float64)
    return depth, values, mask, ccl


def _nominal(log: LogImage, options: ImportOptions, notes: list[str]):
    """OD, wall and grade: the file's parameters, overridden by the options (with a note)."""
    chosen = []
    for name, label in (("od_in", "--od"), ("nominal_wall_in", "--nominal-wall"), ("grade", "--grade")):
        given, stated = getattr(options, name), getattr(log, name)
        if given is not None and stated is not None and given != stated:
            notes.append(f"{label} {given} overrides the file's {stated}")
        chosen.append(given if given is not None else stated)
    od, wall, grade = chosen
    for name, value in (("outside diameter", od), ("nominal wall", wall)):
        if value is not None and not (np.isfinite(value) and value > 0):
            raise CorrosegInputError(log.source, f"{name} {value} in is not a positive size")
    if od is not None and wall is not None and wall >= od / 2:
        raise CorrosegInputError(log.source, f"nominal wall {wall} in is not less than half the OD {od} in")
    return od, wall, grade


def _minus_nominal(log: LogImage, values: np.ndarray, wall: float | None, options: ImportOptions) -> bool:
    if options.thickness != "auto":
        return options.thickness == "minus-nominal"
    median = float(np.nanmedian(values)) * _thickness_scale(log)
    reference = wall if wall is not None else 0.1  # no casing wall is thinner than 0.1 in
    return median <= 0 or median < MINUS_NOMINAL_SHARE * reference  # no wall is thinner than nothing


def _thickness_scale(log: LogImage) -> float:
    """Inches per unit of the thickness channel (an empty unit is read as inches)."""
    if not str(log.value_unit).strip():
        return 1.0
    return DEPTH_UNITS_IN[canonical_unit(log.value_unit, log.source, "thickness")]


def _thickness_in(log: LogImage, values: np.ndarray, wall: float | None, options: ImportOptions,
                  notes: list[str]) -> tuple[np.ndarray, bool]:
    """Thickness in inches and whether it is absolute (not when it is minus a nominal wall nobody stated)."""
    if options.thickness not in ("auto", "absolute", "minus-nominal"):
        raise CorrosegInputError(options.thickness, "thickness must be auto, absolute or minus-nominal")
    if not str(log.value_unit).strip():
        notes.append(f"channel {log.channel} states no unit: read as inches")
    values = values * _thickness_scale(log)
    if not _minus_nominal(log, values / _thickness_scale(log), wall, options):
        notes.append(f"channel {log.channel} read as absolute thickness")
        return values, True
    if wall is None:
        notes.append(f"channel {log.channel} read as thickness minus nominal; no nominal wall is known, "
                     "so sizes in % of wall need --nominal-wall")
        return values, False
    notes.append(f"channel {log.channel} read as thickness minus nominal (+ {wall:g} in)")
    return values + wall, True


def _uniform_step(depth: np.ndarray, source: Path) -> float:
    """The one depth step of the rows; steps varying beyond :data:`STEP_TOLERANCE` are refused."""
    if depth.size < 2:
        return 1.0
    steps = np.diff(depth)
    median = float(np.median(steps))
    spread = float(np.max(np.abs(steps - median)))
    if spread > STEP_TOLERANCE * abs(median):
        raise CorrosegInputError(source, f"depth steps vary from {steps.min():g} to {steps.max():g}: "
                                         "resample the rows to one step with corroseg import --depth-step")
    return float((depth[-1] - depth[0]) / (depth.size - 1))


def _resample_rows(depth, thickness, mask, ccl, step: float, source: Path):
    """Rows linearly interpolated onto a uniform grid of ``step``; NaN next to any absent reading."""
    if not (np.isfinite(step) and step > 0):
        raise CorrosegInputError(source, f"--depth-step must be positive, got {step:g}")
    grid = np.arange(depth[0], depth[-1] + step * 1e-9, step)
    position = np.interp(grid, depth, np.arange(depth.size))
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, depth.size - 1)
    weight = (position - below)[:, None]

    def interpolate(a):
        if a is None:
            return None
        a = a if a.ndim == 2 else a[:, None]
        out = a[below] * (1 - weight) + a[above] * weight  # NaN spreads: no reading is invented
        return out if out.shape[1] > 1 or a is thickness else out[:, 0]

    return grid, interpolate(thickness), interpolate(mask), interpolate(ccl)


def resample_azimuths(image: np.ndarray, width: int) -> np.ndarray:
    """Resample ``(rows, n)`` circularly to ``(rows, width)`` by the arcs each output pixel covers.

    Each sample stands for its arc of the circumference (``360/n`` degrees); an output
    pixel is the mean of the input over its own arc, so up- and down-sampling keep the
    mean and a narrow groove keeps its metal loss. An output pixel less than half covered
    by valid readings is NaN.
    """
    image = np.asarray(image, np.float64)
    weights = arc_weights(image.shape[1], width)
    valid = np.isfinite(image)
    total = np.where(valid, image, 0.0) @ weights.T
    covered = valid.astype(np.float64) @ weights.T
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(covered >= 0.5, total / covered, np.nan)


def arc_weights(n_in: int, n_out: int) -> np.ndarray:
    """``(n_out, n_in)``: the share of output pixel ``i``'s arc that input pixel ``j`` covers."""
    edges_in = np.arange(n_in + 1) / n_in
    edges_out = np.arange(n_out + 1) / n_out
    low = np.maximum(edges_out[:-1, None], edges_in[None, :-1])
    high = np.minimum(edges_out[1:, None], edges_in[None, 1:])
    return np.clip(high - low, 0.0, None) * n_out


LOCATOR_MERGE_FT = 4.0
"""Collar-locator peaks closer than this are one collar (its two flanks are within about 1 ft); pup joints
shorter than 4 ft, which exist (2 ft), would be merged with a neighbour."""


def _rows_in(length_in: float, step: float, unit: str) -> int:
    """Rows covering ``length_in`` inches at ``step`` (``unit``), at least 1."""
    return max(1, int(round(length_in / (abs(step) * DEPTH_UNITS_IN[unit]))))


def collars_from_locator(ccl: np.ndarray, min_separation_rows: int = 100) -> np.ndarray:
    """Collar rows from a collar-locator curve: the peaks of its deflection, one per collar.

    A collar shows as a spike of the curve far beyond its usual wander: more than 6 robust
    standard deviations (1.4826 MAD) from the median. Peaks closer than
    ``min_separation_rows`` are one collar (its two flanks).
    """
    ccl = np.asarray(ccl, np.float64)
    finite = np.isfinite(ccl)
    if not finite.any():
        return np.zeros(0, np.int64)
    centre = np.median(ccl[finite])
    spread = 1.4826 * np.median(np.abs(ccl[finite] - centre)) or np.std(ccl[finite]) or 1.0
    deflection = np.where(finite, np.abs(ccl - centre), 0.0)
    candidates = np.flatnonzero(deflection > 6 * spread)
    collars: list[int] = []
    for row in candidates[np.argsort(-deflection[candidates], kind="stable")]:
        if all(abs(row - c) >= min_separation_rows for c in collars):
            collars.append(int(row))
    return np.sort(np.asarray(collars, np.int64))

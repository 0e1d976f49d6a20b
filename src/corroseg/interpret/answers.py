"""One well's engineering answer: defect list, joint tally, low-confidence zones and per-depth curves.

:func:`answer_well` is the single place that turns a predicted well (image, probability,
mask) and its casing into the answers; the outputs (CSV, spreadsheet, LAS, report) only
write what it returns. Sizes come from the well (:class:`corroseg.data.wells.Well`): its
nominal outside diameter, wall and grade, its depth axis and, for a log, its absolute
thickness; options given on the command line fill what the well does not state.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from corroseg.data.wells import Well
from corroseg.interpret.defects import Casing, Defect, depth_step_in, find_defects, metal_loss_in
from corroseg.interpret.joints import Joint, collar_rows, find_collars, joint_tally
from corroseg.interpret.quality import Zone, low_confidence_zones, zone_rows
from corroseg.interpret.strength import grade as api_grade
from corroseg.errors import CorrosegUserError

SCREENING = ("Burst figures are a SCREENING estimate (API 5C3 intact burst; ASME B31G original and modified, "
             "DNV-RP-F101 single defect): pipeline methods for internal pressure only, no collapse, no tension, "
             "no connections; rank joints with them, never certify a pressure.")


@dataclass
class WellAnswer:
    """What :func:`answer_well` finds in one well."""

    casing: Casing
    defects: list[Defect]
    joints: list[Joint]
    zones: list[Zone]
    collars: np.ndarray
    collar_source: str
    depth_start: float
    depth_step: float
    depth_unit: str
    curves: dict[str, np.ndarray] = field(default_factory=dict)
    """Per-depth curves (:func:`depth_curves`), for the LAS export and the picture."""
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """A JSON-ready summary (counts, worst figures, zones, the screening label)."""
        failures = [d.lowest_failure_psi for d in self.defects if d.lowest_failure_psi is not None]
        return {"casing": {"od_in": self.casing.od_in, "nominal_wall_in": self.casing.wall_in,
                           "grade": self.casing.grade},
                "defects": len(self.defects), "joints": len(self.joints), "collars_from": self.collar_source,
                "deepest_loss_pct": max((d.max_loss_pct for d in self.defects), default=0.0),
                "lowest_failure_psi": min(failures) if failures else None,
                "low_confidence_zones": [z.to_dict(self.depth_start, self.depth_step, self.depth_unit)
                                         for z in self.zones],
                "burst": SCREENING, "notes": self.notes}


def casing_of(well: Well, od_in: float | None = None, wall_in: float | None = None,
              grade: str | None = None) -> tuple[Casing | None, str | None]:
    """The casing of a well and a note: its own sizes (else the options), or None and why not.

    An explicit ``grade`` overrides the well's; a grade the API 5CT table does not know is
    dropped with a note (no burst figures) rather than failing after the prediction.
    """
    od = well.od_in if well.od_in is not None else od_in
    wall = well.nominal_wall_in if well.nominal_wall_in is not None else wall_in
    missing = [name for name, value in (("--od", od), ("--nominal-wall", wall)) if value is None]
    if missing:
        return None, f"no defect list or tally: the well states no casing size; pass {' and '.join(missing)}"
    try:
        depth_step_in(well.depth_step, well.depth_unit)
    except ValueError:
        return None, (f"no defect list or tally: depth is in {well.depth_unit}s, with no length "
                      "(import a log, or give the well a depth step in ft, m or in)")
    chosen, note = grade if grade is not None else well.grade, None
    if chosen is not None:
        try:
            chosen = api_grade(chosen).name
        except CorrosegUserError:
            chosen, note = None, f"grade {chosen!r} is not an API 5CT grade: no burst figures (pass --grade)"
    try:
        return Casing(od, wall, chosen), note
    except ValueError as exc:
        return None, f"no defect list or tally: {exc}"


def row_feet(well: Well) -> float | None:
    """Feet between rows, or None for a depth in rows."""
    try:
        return depth_step_in(well.depth_step, well.depth_unit) / 12.0
    except ValueError:
        return None


def measured_image(well: Well) -> tuple[np.ndarray, np.ndarray | None]:
    """The deviation image sizes are read from, and its absolute thickness (in) when known.

    A median over 3 rows along depth: a reading spiking in one row (sensor noise; real
    residuals are heavy-tailed) is not metal loss, while a groove or a pit, which
    continue over rows, keep their depth. No reading counts as nominal wall (0).
    """
    image = np.where(well.valid, well.image, 0.0).astype(np.float32)
    measured = ndimage.median_filter(image, size=(3, 1), mode="nearest")
    measured[~well.valid] = np.nan
    thickness = None if well.row_mean_in is None else measured + well.row_mean_in[:, None]
    return measured, thickness


def answer_well(well: Well, probability: np.ndarray, mask: np.ndarray, casing: Casing,
                notes: tuple[str, ...] = ()) -> WellAnswer:
    """Defects, joints, zones of one predicted well (mask and probability at the well's width)."""
    zones = low_confidence_zones(well.image)
    low = zone_rows(zones, well.image.shape[0])
    if well.collars is not None and len(well.collars):
        collars, source = np.asarray(well.collars), "collar locator"
    else:
        collars, source = find_collars(well.image, row_feet(well)), "image"
    measured, thickness = measured_image(well)
    common = {"depth_start": well.depth_start, "depth_step": well.depth_step, "depth_unit": well.depth_unit}
    defects = find_defects(mask, measured, probability, casing, collars=collars, thickness=thickness,
                           low_confidence=low, **common)
    joints = joint_tally(mask, measured, casing, defects, collars, thickness=thickness, low_confidence=low,
                         **common)
    curves = depth_curves(well, probability, mask, casing, collars, (measured, thickness))
    notes = [*notes, *([] if casing.grade else ["no grade: no burst figures (pass --grade)"])]
    return WellAnswer(casing, defects, joints, zones, collars, source, curves=curves, notes=notes, **common)


def depth_curves(well: Well, probability: np.ndarray, mask: np.ndarray, casing: Casing,
                 collars: np.ndarray | None = None, measured: tuple | None = None) -> dict[str, np.ndarray]:
    """Per-depth curves: minimum wall (in), maximum loss where corrosion is flagged (% of nominal), corroded
    fraction (0-1); sizes from :func:`measured_image`. Rows of collar bands (``collars``) have no wall
    figures: their readings are the coupling's, not the pipe's. ``measured`` passes :func:`measured_image`
    already computed."""
    valid = np.isfinite(probability) & well.valid
    if collars is not None:
        valid = valid & ~collar_rows(collars, valid.shape[0], row_feet(well))[:, None]
    measured, thickness = measured if measured is not None else measured_image(well)
    loss = np.where(valid & mask.astype(bool), metal_loss_in(measured, casing.wall_in, thickness), 0.0)
    loss[~valid] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows with no reading give NaN
        max_loss = np.nanmax(loss, axis=1)
        min_wall = (np.nanmin(np.where(valid, thickness, np.nan), axis=1) if thickness is not None
                    else casing.wall_in - max_loss)
        corroded = np.where(valid.any(axis=1), (mask.astype(bool) & valid).sum(axis=1) / valid.sum(axis=1), np.nan)
    return {"min_wall_in": min_wall, "max_loss_pct": 100 * max_loss / casing.wall_in, "corroded_fraction": corroded}

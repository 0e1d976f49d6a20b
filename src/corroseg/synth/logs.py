"""Synthetic wells written as casing-inspection logs (DLIS or LAS), to prove the log path end to end.

A synthetic well has no physical casing, depth or absolute thickness of its own; its log
gets the documented assumptions below. Its image is already the deviation from each row's
mean, so the logged thickness is the nominal wall plus the image: importing the log gives
the image back (to float rounding, about 1e-8 in), with the same valid pixels, depths and mask.

* DLIS, as a USIT file is laid out: frame ``60B`` indexed by ``TDEP`` in "0.1 in", logged
  bottom-up; ``T2BK`` thickness minus nominal, one value per azimuth; parameters ``THNO``
  (nominal wall), ``CSIZ`` (outside diameter), ``NWPD`` (azimuths per depth), ``GRADE``.
* LAS 2.0: ``DEPT`` in ft, top-down; absolute thickness as ``THK[0]..THK[N-1]``; the same
  parameters in ``~Parameter``.

Both carry the synthetic truth as a ``CMSK`` image (1 = corrosion) and absent values
(-999.25) where the well has no reading.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from corroseg.data.log_writers import Curve, Parameter, write_dlis, write_las
from corroseg.data.wells import Well

SYNTH_CASING = {"od_in": 7.0, "nominal_wall_in": 0.362, "grade": "N80"}
"""7 in 26 lb/ft N-80 casing: the sizes a synthetic log states (a common production string)."""

ROW_STEP_FT = 0.1
"""Depth between rows of a synthetic log (see :mod:`corroseg.data.logs` for why)."""

TOP_DEPTH_FT = 5000.0
"""Depth of a synthetic log's first row."""

LOG_FORMATS = ("dlis", "las")


def as_logged(well: Well, top_depth_ft: float = TOP_DEPTH_FT, row_step_ft: float = ROW_STEP_FT) -> Well:
    """``well`` with the casing, depth and row means its synthetic log states (what importing the log gives)."""
    wall = SYNTH_CASING["nominal_wall_in"]
    return Well(well.image, well.mask, depth_start=top_depth_ft, depth_step=row_step_ft, depth_unit="ft",
                name=well.name, od_in=SYNTH_CASING["od_in"], nominal_wall_in=wall, grade=SYNTH_CASING["grade"],
                row_mean_in=np.full(well.image.shape[0], wall, np.float32))


ASSUMED = (f"Sizes assumed, as synthetic logs state them: {SYNTH_CASING['od_in']:g} in OD, "
           f"{SYNTH_CASING['nominal_wall_in']:g} in wall, {SYNTH_CASING['grade']}, {ROW_STEP_FT:g} ft a row "
           "(the challenge's images state no casing or depth).")


def write_well_log(well: Well, path: str | Path, fmt: str | None = None, top_depth_ft: float = TOP_DEPTH_FT,
                   row_step_ft: float = ROW_STEP_FT) -> Path:
    """Write ``well`` as a DLIS or LAS log (``fmt``, else from the suffix of ``path``)."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {LOG_FORMATS}, got {fmt!r}")
    casing = {**SYNTH_CASING, **{k: getattr(well, k) for k in SYNTH_CASING if getattr(well, k) is not None}}
    wall = casing["nominal_wall_in"]
    valid = well.valid
    minus_nominal = np.where(valid, well.image.astype(np.float64), np.nan)
    if well.row_mean_in is not None:
        minus_nominal += well.row_mean_in[:, None].astype(np.float64) - wall
    rows, width = well.image.shape
    depth_ft = top_depth_ft + row_step_ft * np.arange(rows)
    parameters = [Parameter("THNO", wall, "in", "nominal wall thickness"),
                  Parameter("CSIZ", casing["od_in"], "in", "casing outside diameter"),
                  Parameter("NWPD", width, "", "azimuths per depth"),
                  Parameter("GRADE", casing["grade"], "", "API 5CT grade")]
    mask = [] if well.mask is None else [Curve("CMSK", well.mask.astype(np.float32), "", "corrosion mask (truth)")]
    if fmt == "dlis":
        tenths = np.round(depth_ft * 120.0)  # 0.1 in per unit: whole numbers, exact
        t2bk = Curve("T2BK", minus_nominal.astype(np.float32), "in", "thickness minus nominal")
        return write_dlis(path, tenths[::-1], "0.1 in", [Curve(c.name, c.values[::-1], c.unit, c.description)
                                                         for c in [t2bk, *mask]],
                          parameters, well_name=well.name)
    thickness = Curve("THK", minus_nominal + wall, "in", "wall thickness")
    return write_las(path, depth_ft, "ft", [thickness, *mask], parameters, well_name=well.name)

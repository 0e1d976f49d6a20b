"""Files engineers load: the defect list and joint tally as a spreadsheet, the derived curves as LAS 2.0.

* ``.xlsx`` (openpyxl): sheets ``joints`` (worst joint first), ``defects`` (deepest first),
  ``zones`` (low-confidence intervals) and ``about`` (casing, units, the screening label);
  every header names its unit.
* ``.las``: per depth, the minimum wall (``MINWALL``, in), maximum loss (``MAXLOSS``, % of
  nominal wall), corroded fraction (``CORFRAC``), the row-mean wall against nominal
  (``ROWMEAN``, in, a log's only) and the probability image ``PROB[0]..PROB[N-1]``
  at the log's own azimuth count.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path

import numpy as np

from corroseg.data.log_writers import Curve, Parameter, write_las
from corroseg.data.logs import resample_azimuths
from corroseg.data.wells import Well
from corroseg.interpret.answers import SCREENING, WellAnswer
from corroseg.interpret.defects import Defect
from corroseg.interpret.joints import Joint, worst_first
from corroseg.interpret.tables import cell, column

UNIT_SUFFIXES = {"_in2": "in²", "_in": "in", "_ft": "ft", "_psi": "psi", "_pct": "%", "_deg": "deg"}


def header(name: str, depth_unit: str) -> str:
    """A column title with its unit: ``max_loss_pct`` -> ``max loss (%)``; burst figures say "screening"."""
    name = column(name)
    for suffix, unit in UNIT_SUFFIXES.items():
        if name.endswith(suffix):
            return f"{name[: -len(suffix)].replace('_', ' ')} ({unit})"
    if name.endswith("_depth"):
        return f"{name.replace('_', ' ')} ({depth_unit})"
    return name.replace("_", " ")


def write_xlsx(path: str | Path, answer: WellAnswer, well_name: str) -> None:
    """The answer as a workbook (the caller passes a temporary path)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    about = book.active
    about.title = "about"
    casing = answer.casing
    for row in (("well", well_name), ("outside diameter (in)", casing.od_in),
                ("nominal wall (in)", casing.wall_in), ("grade", casing.grade or "not given"),
                ("depth unit", answer.depth_unit), ("collars from", answer.collar_source),
                ("burst figures", SCREENING), *(("note", note) for note in answer.notes)):
        about.append(list(row))
    tables = (("joints", Joint, [asdict(j) for j in worst_first(answer.joints)]),
              ("defects", Defect, [asdict(d) for d in answer.defects]))
    for title, kind, rows in tables:
        sheet = book.create_sheet(title)
        names = [f.name for f in fields(kind) if f.name != "depth_unit"]
        sheet.append([header(n, answer.depth_unit) for n in names])
        for title_cell in sheet[1]:
            title_cell.font = Font(bold=True)
        for row in rows:
            sheet.append([cell(row[n]) for n in names])
        sheet.freeze_panes = "A2"
    zones = book.create_sheet("zones")
    zone_rows = [z.to_dict(answer.depth_start, answer.depth_step, answer.depth_unit) for z in answer.zones]
    names = ["top_depth", "bottom_depth", "rows", "reasons", "valid_share", "spread_ratio", "step_ratio"]
    zones.append([header(n, answer.depth_unit) for n in names])
    for row in zone_rows:
        zones.append([row[n] for n in names])
    book.save(path)


def write_curves_las(path: str | Path, well: Well, probability: np.ndarray, mask: np.ndarray,
                     answer: WellAnswer) -> None:
    """The derived curves and the probability image as LAS 2.0 (the caller passes a temporary path)."""
    curves = answer.curves
    listed = [Curve("MINWALL", curves["min_wall_in"], "in", "minimum wall thickness"),
              Curve("MAXLOSS", curves["max_loss_pct"], "%", "maximum metal loss, % of nominal wall"),
              Curve("CORFRAC", curves["corroded_fraction"], "", "corroded fraction of the circumference")]
    if well.row_mean_in is not None:
        listed.append(Curve("ROWMEAN", well.row_mean_in - answer.casing.wall_in, "in",
                            "row-mean wall minus nominal (uniform loss shows here)"))
    image = probability if well.logged_azimuths is None else resample_azimuths(probability, well.logged_azimuths)
    listed.append(Curve("PROB", image.astype(np.float32), "", "probability of corrosion"))
    depth = well.depths()
    parameters = [Parameter("THNO", answer.casing.wall_in, "in", "nominal wall thickness"),
                  Parameter("CSIZ", answer.casing.od_in, "in", "casing outside diameter")]
    write_las(path, depth, well.depth_unit, listed, parameters, well_name=well.name)

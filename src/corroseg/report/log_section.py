"""The report's log-style view of one well: the picture, then the joint tally (worst first) and the defects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from corroseg.data.wells import Well
from corroseg.interpret.answers import SCREENING, WellAnswer
from corroseg.interpret.joints import worst_first
from corroseg.report.log_view import log_view_figure
from corroseg.report.markup import Section, _esc, _img, _missing, _table

TABLE_ROWS = 15


@dataclass
class LogView:
    """A predicted well and its answer, with how its casing and depth were chosen."""

    well: Well
    probability: np.ndarray
    mask: np.ndarray
    answer: WellAnswer
    assumed: str = ""


def _number(value, spec: str = ",.0f") -> str:
    return "-" if value is None or (isinstance(value, float) and not np.isfinite(value)) else format(value, spec)


def log_section(view: LogView | str) -> Section:
    """The section, or the one line saying why it is absent."""
    if isinstance(view, str):
        return Section("log-view", "As a casing log", _missing(view))
    answer, unit = view.answer, view.answer.depth_unit
    picture = _img(log_view_figure(view.well, view.probability, view.mask, answer),
                   f"{view.well.name} as a casing log",
                   "Thickness, predicted corrosion, minimum wall and corroded fraction along depth; collars and "
                   "joint numbers; hatched: low-confidence zones.")
    joints = [[j.joint, _number(j.top_depth, ".1f"), _number(j.length_ft, ".1f"), _number(j.min_wall_in, ".3f"),
               _number(j.max_loss_pct, ".0f"), _number(j.corroded_area_pct, ".1f"), j.defects, j.worst_class,
               _number(j.lowest_failure_psi), _number(j.derated_burst_psi)]
              for j in worst_first(answer.joints)[:TABLE_ROWS]]
    defects = [[d.id, d.joint, _number(d.top_depth, ".1f"), _number(d.length_in, ".1f"), _number(d.width_deg, ".0f"),
                d.clock, _number(d.max_loss_pct, ".0f"), _number(d.min_remaining_wall_in, ".3f"), d.pof_class,
                _number(d.lowest_failure_psi), "yes" if d.low_confidence else ""] for d in answer.defects[:TABLE_ROWS]]
    intro = (f"<p>{_esc(view.assumed)} {len(answer.defects)} defects in {len(answer.joints)} joints (collars from the "
             f"{_esc(answer.collar_source)}), {len(answer.zones)} low-confidence zones. "
             f"<strong>{_esc(SCREENING)}</strong></p>")
    tally = _table(["joint", f"top ({unit})", "length (ft)", "min wall (in)", "max loss (%)", "corroded (%)",
                    "defects", "worst class", "lowest failure (psi)", "derated burst (psi)"], joints)
    listed = _table(["id", "joint", f"top ({unit})", "length (in)", "width (deg)", "clock", "max loss (%)",
                     "remaining wall (in)", "POF class", "lowest failure (psi)", "low confidence"], defects) \
        if defects else _missing("no defects found")
    more = f" (the first {TABLE_ROWS})" if len(answer.joints) > TABLE_ROWS else ""
    return Section("log-view", "As a casing log", intro + picture + f"<h3>Joint tally, worst first{more}</h3>"
                   + tally + "<h3>Deepest defects</h3>" + listed)

"""The report's "Faint grooves" section: how faint a groove the model finds on the scored wells."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from corroseg.infer.evaluate import ScoredSplit
from corroseg.infer.sensitivity import describe
from corroseg.report.markup import Section, _esc, _fmt, _img, _pct, _table


def _bin_name(row: dict) -> str:
    low, high = row["contrast_from"], row["contrast_to"]
    if low is None:
        return f"under {high:g}"
    return f"{low:g} and over" if high is None else f"{low:g} to {high:g}"


def found_by_contrast_figure(sensitivity: dict) -> Figure:
    """Share of grooves found, and of their pixels flagged, per contrast bin (bars)."""
    table = sensitivity["table"]
    fig = Figure(figsize=(6.4, 3.0))
    ax = fig.add_subplot()
    x = np.arange(len(table))
    ax.bar(x - 0.2, [100 * r["found"] for r in table], 0.4, label="grooves found (half their pixels or more)")
    ax.bar(x + 0.2, [100 * r["pixels_flagged"] for r in table], 0.4, label="their pixels flagged")
    ax.set_xticks(x, [f"{_bin_name(r)}\n({r['grooves']})" for r in table], fontsize=8)
    ax.set_xlabel("groove depth / casing texture (grooves)")
    ax.set_ylabel("%")
    ax.set_ylim(0, 130)
    ax.set_yticks(range(0, 101, 20))
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def sensitivity_section(scored: ScoredSplit, measured: dict | None) -> Section:
    """Grooves of the scored wells found by contrast (table and bars); the run's own measurement beside it."""
    sensitivity = scored.sensitivity
    text = (f"<p>Faint grooves on {_esc(scored.description)}: {_esc(describe(sensitivity))}. "
            "A groove's contrast is its depth (the casing around it minus the groove, median) over its "
            "well's texture (robust standard deviation of the deviations, in). Predicting a well, "
            "<code>corroseg predict</code> turns the run's own figure into inches for that well's texture.</p>"
            f"<p>The run's own figure ({'sensitivity.json' if measured else 'none for these options'}): "
            f"{_esc(describe(measured))}.</p>")
    if not sensitivity["table"]:
        return Section("faint-grooves", "Faint grooves", text + "<p>No groove on these wells.</p>")
    rows = [(_bin_name(r), r["grooves"], _pct(r["found"], 0), _pct(r["pixels_flagged"], 0),
             _fmt(r["median_depth_in"], ".4f")) for r in sensitivity["table"]]
    table = _table(["contrast (depth / texture)", "grooves", "found", "pixels flagged", "median depth (in)"],
                   rows, "num")
    figure = _img(found_by_contrast_figure(sensitivity), "grooves found by contrast",
                  "Grooves found by contrast: the model's faint-groove limit on these wells.")
    return Section("faint-grooves", "Faint grooves", text + table + figure)

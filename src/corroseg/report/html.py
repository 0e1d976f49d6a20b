"""The run report: one self-contained HTML file (figures embedded as PNG data URIs, inline CSS, no script).

What goes in, section by section: the run's configuration and learning curves (from
the run folder), the scores and pictures of a labelled split, and predictions on real
wells (the false-alarm wells 9 and 10, and wells with visible grooves). This module only
draws what it is handed: the predicting is done once by
:func:`corroseg.workflows.report.write_report`. A section whose inputs are absent says
so in one line; nothing missing stops the report.
"""

from __future__ import annotations

import datetime
import time
from pathlib import Path

from corroseg import __version__
from corroseg.infer.bundle import WellPredictor
from corroseg.infer.evaluate import ScoredSplit
from corroseg.report.log_section import LogView, log_section
from corroseg.report.markup import _missing, Section, render, _guarded
from corroseg.report.run_info import RunInfo
from corroseg.report.sections import (
    config_section, curves_section, HOW_TO_READ, per_well_section, pr_section, real_section, reliability_section,
    strips_section, summary_section, worst_patches_section)
from corroseg.report.sensitivity_section import sensitivity_section
from corroseg.report.views import WellView

def render_report(run: Path, info: RunInfo, predictor: WellPredictor | None, scored: ScoredSplit | str,
                  strips: list[tuple[str, WellView]] | str, real: tuple[list[WellView], list[str]] | str,
                  data: Path | None, real_path, started: float, say=lambda _message: None,
                  log_view: LogView | str = "no well shown as a log") -> str:
    """The report's HTML document.

    ``scored``, ``strips`` and ``real`` are what to draw, or the one line saying why it is absent;
    ``predictor`` gives the threshold and how masks are made (it is not called).
    """
    sections = build_sections(info, predictor, scored, strips, real, say, log_view)
    subtitle = [f"run {run.resolve()}",
                f"data {data if data is not None else 'none'}; real data {real_path if real_path else 'none'}"]
    footer = (f"corroseg {__version__}; written {datetime.datetime.now():%Y-%m-%d %H:%M} in "
              f"{time.perf_counter() - started:.0f} s; self-contained: no external files or scripts")
    return render(f"corroseg report: {run.name}", subtitle, sections, footer)


def build_sections(info: RunInfo, predictor: WellPredictor | None, scored: ScoredSplit | str,
                   strips: list[tuple[str, WellView]] | str, real: tuple[list[WellView], list[str]] | str,
                   say, log_view: LogView | str = "no well shown as a log") -> list[Section]:
    """Every section in order; one that lacks its input says so in one line."""
    sections = [summary_section(info, predictor, scored, real),
                Section("how-to-read", "How to read this report", HOW_TO_READ),
                _guarded("config", "Run configuration", lambda: config_section(info)),
                _guarded("learning-curves", "Learning curves", lambda: curves_section(info))]
    labelled = [("per-well", "Per-well scores", per_well_section),
                ("well-strips", "Best and worst wells", lambda s: strips_section(s, strips)),
                ("worst-patches", "Worst patches", worst_patches_section),
                ("faint-grooves", "Faint grooves",
                 lambda s: sensitivity_section(s, getattr(predictor, "sensitivity", None))),
                ("reliability", "Reliability of the probabilities",
                 lambda s: reliability_section(s, predictor.threshold)),
                ("precision-recall", "Precision-recall", lambda s: pr_section(s, predictor.threshold))]
    for name, title, build in labelled:
        say(f"drawing: {title.lower()}")
        sections.append(_guarded(name, title, lambda: build(scored)) if isinstance(scored, ScoredSplit)
                        else Section(name, title, _missing(scored)))
    say("drawing: a well as a casing log")
    sections.append(_guarded("log-view", "As a casing log", lambda: log_section(log_view)))
    say("drawing: real wells")
    sections.append(real_section(*real) if isinstance(real, tuple) else Section("real-wells", "Real wells",
                                                                                   _missing(real)))
    return sections

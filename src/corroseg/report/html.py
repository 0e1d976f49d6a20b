"""The run report: one self-contained HTML file (figures embedded as PNG data URIs, inline CSS, no script).

>>> write_report("runs/demo", data="data/synthetic", real="../shared/data/challenge")
PosixPath('runs/demo/report.html')

What goes in, section by section: the run's configuration and learning curves (from
the run folder), the scores and pictures of a labelled split of DATA (the test split,
or the run's validation wells when DATA has no test labels), and predictions on real
wells (the false-alarm wells 9 and 10, and wells with visible grooves). Every well is
predicted once; masks, scores and figures are derived from that one prediction. A
section whose inputs are absent says so in one line; nothing missing stops the report.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Sequence
from pathlib import Path

from corroseg import __version__
from corroseg.atomic import atomic_path
from corroseg.errors import CorrosegInputError
from corroseg.guard import RUN_INPUTS, output_lock, refuse_overwriting_inputs
from corroseg.infer.bundle import WellPredictor
from corroseg.infer.ensemble import load_predictor
from corroseg.train.rundir import REPORT_FILE
from corroseg.report.markup import _Missing, _missing, Section, render, _guarded
from corroseg.report.run_info import RunInfo
from corroseg.report.scoring import SECTION_ROWS, Progress, Scored, score_split, WellView, predict_real, REAL_WELLS
from corroseg.report.sections import (
    config_section, curves_section, HOW_TO_READ, per_well_section, pr_section, real_section, reliability_section,
    strips_section, summary_section, worst_patches_section)

__all__ = ["REAL_WELLS", "REPORT_NAME", "SECTION_ROWS", "write_report"]

REPORT_NAME = REPORT_FILE


def write_report(run: str | Path, out: str | Path | None = None, data: str | Path | None = None,
                 real: str | Path | None = None, predictor: WellPredictor | None = None,
                 progress: Progress | None = None, real_wells: Sequence[tuple[str, int]] = REAL_WELLS,
                 force: bool = True) -> Path:
    """Write the HTML report of a run; returns its path.

    Parameters
    ----------
    run : path
        A run folder (``corroseg train``), or a cross-validation run (``fold_*`` folders).
    out : path, optional
        Default ``RUN/report.html``. Written atomically.
    data : path, optional
        A labelled dataset to score; default the dataset named in the run's ``data.json``.
    real : path, optional
        Real challenge data (``x_train/``, ``x_test/``): false alarms and real wells.
    predictor : WellPredictor, optional
        Default ``load_predictor(run)``: the run's model, or the ensemble of its folds.
    progress : callable(str), optional
        Receives a message before each long step.
    real_wells : sequence of (split, well)
        Real wells pictured; x_train wells 9 and 10 count as false-alarm wells.
    force : bool
        Overwrite an existing ``out``; otherwise refuse.
    """
    started = time.perf_counter()
    say = progress or (lambda _message: None)
    run = Path(run)
    if not run.is_dir():
        raise CorrosegInputError(run, "no such run folder")
    out = Path(out) if out is not None else run / REPORT_NAME
    refuse_overwriting_inputs([out], runs=[run], datasets=[d for d in (data, real) if d is not None],
                              run_reads=RUN_INPUTS + ("model.onnx",))
    if out.exists() and not force:
        raise CorrosegInputError(out, "already exists; pass --force to overwrite it")
    with output_lock(out):
        return _write_report(run, out, data, real, predictor, say, real_wells, started)


def _write_report(run: Path, out: Path, data, real, predictor: WellPredictor | None, say: Progress,
                  real_wells: Sequence[tuple[str, int]], started: float) -> Path:
    say("reading the run")
    info = RunInfo.read(run)
    predictor, problem = _predictor(run, info, predictor)
    data_path = Path(data) if data is not None else _named_data(info)
    scored = problem or _score_or_why(predictor, info, data_path, data is None, say)
    real_result = problem or _real_or_why(predictor, real, real_wells, say)
    sections = build_sections(info, predictor, scored, real_result, say)
    subtitle = [f"run {run.resolve()}",
                f"data {data_path if data_path is not None else 'none'}; real data {real if real else 'none'}"]
    footer = (f"corroseg {__version__}; written {datetime.datetime.now():%Y-%m-%d %H:%M} in "
              f"{time.perf_counter() - started:.0f} s; self-contained: no external files or scripts")
    document = render(f"corroseg report: {run.name}", subtitle, sections, footer)
    with atomic_path(out) as tmp:
        tmp.write_text(document, encoding="utf-8")
    return out


def _predictor(run: Path, info: RunInfo, given: WellPredictor | None) -> tuple[WellPredictor | None, str | None]:
    """The predictor (given, else loaded) and, for a cross-validation run that cannot load, why not."""
    if given is not None:
        return given, None
    try:
        return load_predictor(run), None
    except CorrosegInputError as exc:
        if not info.folds:
            raise
        return None, f"no model to predict with: {exc}"


def _named_data(info: RunInfo) -> Path | None:
    named = (info.folds_info or {}).get("data") or (info.data or {}).get("data")
    return Path(named) if named else None


def _score_or_why(predictor: WellPredictor, info: RunInfo, data: Path | None, named: bool,
                  say: Progress) -> Scored | str:
    """The scored split, or the one line saying why there is none."""
    if data is None:
        return "no labelled data: pass --data DATA (the run names no dataset)"
    # an ensemble of folds has seen every training well: only a test split is held out
    val_wells = None if info.folds else (info.data or {}).get("val_wells")
    try:
        return score_split(predictor, data, val_wells, say)
    except (_Missing, CorrosegInputError) as exc:
        return f"{exc} (the dataset the run names; pass --data)" if named else str(exc)


def _real_or_why(predictor: WellPredictor, real, wells: Sequence[tuple[str, int]],
                 say: Progress) -> tuple[list[WellView], list[str]] | str:
    """The predicted real wells and notes, or the one line saying why there are none."""
    if real is None:
        return "no real data given (pass --real, e.g. ../shared/data/challenge)"
    if not Path(real).is_dir():
        return f"real data {real} not found"
    return predict_real(predictor, Path(real), wells, say)


def build_sections(info: RunInfo, predictor: WellPredictor | None, scored: Scored | str,
                   real: tuple[list[WellView], list[str]] | str, say: Progress) -> list[Section]:
    """Every section in order; one that lacks its input says so in one line."""
    sections = [summary_section(info, predictor, scored, real),
                Section("how-to-read", "How to read this report", HOW_TO_READ),
                _guarded("config", "Run configuration", lambda: config_section(info)),
                _guarded("learning-curves", "Learning curves", lambda: curves_section(info))]
    labelled = [("per-well", "Per-well scores", per_well_section),
                ("well-strips", "Best and worst wells", lambda s: strips_section(predictor, s)),
                ("worst-patches", "Worst patches", worst_patches_section),
                ("reliability", "Reliability of the probabilities",
                 lambda s: reliability_section(s, predictor.threshold)),
                ("precision-recall", "Precision-recall", lambda s: pr_section(s, predictor.threshold))]
    for name, title, build in labelled:
        say(f"drawing: {title.lower()}")
        sections.append(_guarded(name, title, lambda: build(scored)) if isinstance(scored, Scored)
                        else Section(name, title, _missing(scored)))
    say("drawing: real wells")
    sections.append(real_section(*real) if isinstance(real, tuple) else Section("real-wells", "Real wells",
                                                                                   _missing(real)))
    return sections

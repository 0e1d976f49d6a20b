"""The ``report`` workflow: predict what the report shows (once), then hand it to ``corroseg.report``.

>>> write_report("runs/demo", data="data/synthetic", real="../shared/data/challenge")
PosixPath('runs/demo/report.html')

A labelled split of DATA is predicted once (:func:`corroseg.infer.evaluate.score_split`,
as ``corroseg evaluate`` scores it): the test split, or the run's validation wells when
DATA has no test labels. The best and worst of its wells are rebuilt from that one
prediction; real wells are predicted whole once. ``corroseg.report`` only draws.
A caller that already scored the split or predicted the real wells (the demo) hands them in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from corroseg.atomic import atomic_path
from corroseg.data.challenge import FALSE_ALARM_WELLS, PatchImages, find_label_file, read_images
from corroseg.data.wells import Well, assemble, load_well, well_from_patches
from corroseg.errors import CorrosegInputError
from corroseg.guard import RUN_INPUTS, output_lock, refuse_overwriting_inputs
from corroseg.infer.bundle import WellPredictor
from corroseg.infer.ensemble import load_predictor
from corroseg.infer.evaluate import ScoredSplit, score_split
from corroseg.interpret.answers import answer_well, casing_of
from corroseg.report.html import render_report
from corroseg.report.log_section import LogView
from corroseg.report.markup import _Missing
from corroseg.report.run_info import RunInfo
from corroseg.report.views import WellView, best_and_worst_wells
from corroseg.synth.logs import ASSUMED, as_logged
from corroseg.train.rundir import REPORT_FILE

Progress = Callable[[str], None]

REAL_WELLS: tuple[tuple[str, int], ...] = (("train", 9), ("train", 10), ("train", 4), ("train", 5), ("train", 8),
                                           ("train", 14), ("train", 15), ("test", 5))
"""Real wells pictured: x_train 9 and 10 (no corrosion: false alarms); 4, 5 and 8, faint grooves barely deeper
than the texture (the hardest to see; 5,292 rows together); then wells with visible grooves."""

RealWells = tuple[list[WellView], list[str]]
"""Predicted real wells and a note for each one that could not be shown."""


def write_report(run: str | Path, out: str | Path | None = None, data: str | Path | None = None,
                 real: str | Path | None = None, predictor: WellPredictor | None = None,
                 progress: Progress | None = None, real_wells: Sequence[tuple[str, int]] = REAL_WELLS,
                 force: bool = True, scored: ScoredSplit | None = None, real_views: RealWells | None = None) -> Path:
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
    scored, real_views : optional
        The split already scored by ``predictor`` (:func:`score_split`) and the real wells
        already predicted (:func:`predict_real`), so that nothing is predicted twice.
    """
    started = time.perf_counter()
    say = progress or (lambda _message: None)
    run = Path(run)
    if not run.is_dir():
        raise CorrosegInputError(run, "no such run folder")
    out = Path(out) if out is not None else run / REPORT_FILE
    refuse_overwriting_inputs([out], runs=[run], datasets=[d for d in (data, real) if d is not None],
                              run_reads=RUN_INPUTS + ("model.onnx",))
    if out.exists() and not force:
        raise CorrosegInputError(out, "already exists; pass --force to overwrite it")
    with output_lock(out):
        say("reading the run")
        info = RunInfo.read(run)
        predictor, problem = _predictor(run, info, predictor)
        data_path = Path(data) if data is not None else _named_data(info)
        if problem is None and scored is None:
            scored = _score_or_why(predictor, info, data_path, data is None, say)
        strips = problem or (scored_well_views(predictor, scored) if isinstance(scored, ScoredSplit) else scored)
        if problem is None and real_views is None:
            real_views = _real_or_why(predictor, real, real_wells, say)
        document = render_report(run, info, predictor, problem or scored, strips, problem or real_views,
                                 data_path, real, started, say, log_view=log_view_of(strips))
        with atomic_path(out) as tmp:
            tmp.write_text(document, encoding="utf-8")
    return out


def log_view_of(strips: list[tuple[str, WellView]] | str) -> LogView | str:
    """The best well of the report as a casing log, with its answer (sizes as synthetic logs state them)."""
    if isinstance(strips, str):
        return strips
    if not strips:
        return "no well to show"
    _, view = strips[0]
    well = as_logged(Well(view.image, name=view.title))
    casing, _ = casing_of(well)
    answer = answer_well(well, view.probability, view.mask, casing)
    return LogView(well, view.probability, view.mask, answer, ASSUMED)


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


def _has_split(data: Path, split: str) -> bool:
    return (data / f"x_{split}").exists() or (data / f"x_{split}.zip").exists()


def choose_split(data: Path, val_wells: Sequence[int] | None) -> tuple[str, list[int] | None]:
    """(split, wells or None for all) of the labelled patches the report scores."""
    if _has_split(data, "test") and find_label_file(data, "test") is not None:
        return "test", None
    if val_wells and _has_split(data, "train") and find_label_file(data, "train") is not None:
        return "train", sorted(int(w) for w in val_wells)
    raise _Missing(f"{data} has no labelled test split (x_test/ and y_test*.csv) and the run names no "
                   "validation wells: nothing to score")


def _score_or_why(predictor: WellPredictor, info: RunInfo, data: Path | None, named: bool,
                  say: Progress) -> ScoredSplit | str:
    """The scored split, or the one line saying why there is none."""
    if data is None:
        return "no labelled data: pass --data DATA (the run names no dataset)"
    # an ensemble of folds has seen every training well: only a test split is held out
    val_wells = None if info.folds else (info.data or {}).get("val_wells")
    try:
        if not data.is_dir():
            raise _Missing(f"dataset {data} not found")
        split, wells = choose_split(data, val_wells)
        say(f"predicting the {split} wells of {data}")
        return score_split(predictor, data, split, wells)
    except (_Missing, CorrosegInputError) as exc:
        return f"{exc} (the dataset the run names; pass --data)" if named else str(exc)


def scored_well_views(predictor: WellPredictor, scored: ScoredSplit) -> list[tuple[str, WellView]]:
    """The best and worst wells of a scored split, rebuilt from its one prediction."""
    return [(label, scored_well_view(predictor, scored, well)) for label, well in best_and_worst_wells(scored)]


def scored_well_view(predictor: WellPredictor, scored: ScoredSplit, well: int) -> WellView:
    """A scored well rebuilt from its patches and their one prediction; the exact mask when the dataset has it."""
    rebuilt = well_from_patches(scored.images, well)
    rows, image = rebuilt.rows, rebuilt.image
    probability = rebuilt.assemble(scored.probability)
    mask = predictor.segment_well(image, probability)
    truth = _well_truth(scored, well, rows, image)
    kind = (scored.kinds or {}).get(well)
    title = f"{scored.split} well {well}" + (f" ({kind.replace('_', ' ')})" if kind else "")
    return WellView(title, image, probability, mask, truth, well=well, split=scored.split)


def _well_truth(scored: ScoredSplit, well: int, rows: np.ndarray, image: np.ndarray) -> np.ndarray | None:
    """The physical mask of a synthetic well (``wells/*.npz``), else the label masks put together."""
    path = scored.data / "wells" / f"{scored.split}_well_{well}.npz"
    if path.is_file():
        try:
            exact = load_well(path).mask
        except CorrosegInputError:
            exact = None
        if exact is not None and exact.shape == image.shape:
            return exact
    labels = np.zeros((len(scored.images),) + scored.truth.shape[1:], np.uint8)
    labels[scored.labelled_rows] = scored.truth
    return assemble(labels[rows], image.shape[1])


def _real_or_why(predictor: WellPredictor, real, wells: Sequence[tuple[str, int]], say: Progress) -> RealWells | str:
    """The predicted real wells and notes, or the one line saying why there are none."""
    if real is None:
        return "no real data given (pass --real, e.g. ../shared/data/challenge)"
    if not Path(real).is_dir():
        return f"real data {real} not found"
    return predict_real(predictor, Path(real), wells, say)


def _real_split(real: Path, split: str, notes: list[str]) -> PatchImages | None:
    """The images of ``real/x_{split}``, or None with a note saying why not."""
    if not _has_split(real, split):  # a bare image folder would pass its wells off as this split's
        notes.append(f"{real}: no x_{split}/ folder (its real wells are not shown)")
        return None
    try:
        return read_images(real, split)
    except CorrosegInputError as exc:
        notes.append(str(exc))
        return None


def predict_real(predictor: WellPredictor, real: Path, wells: Sequence[tuple[str, int]] = REAL_WELLS,
                 say: Progress = lambda _message: None) -> RealWells:
    """Predict real wells whole; returns the views and a note for each well that is absent."""
    views: list[WellView] = []
    notes: list[str] = []
    splits: dict[str, PatchImages | None] = {}
    for split, number in wells:
        if split not in splits:
            splits[split] = _real_split(real, split, notes)
        if splits[split] is None:
            continue
        if number not in splits[split].well_ids():
            notes.append(f"{real}: x_{split} has no well {number}")
            continue
        image = well_from_patches(splits[split], number).image
        say(f"predicting real {split} well {number} ({image.shape[0]:,} rows)")
        probability = predictor.predict_well(image)
        mask = predictor.segment_well(image, probability)
        false_alarm = split == "train" and number in FALSE_ALARM_WELLS
        title = f"real x_{split} well {number}"
        if false_alarm:
            title += " (no corrosion: every flag is a false alarm)"
        views.append(WellView(title, image, probability, mask, well=number, false_alarm_well=false_alarm,
                               split=split))
    return views, notes

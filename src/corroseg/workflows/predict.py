"""Prediction outputs: a submission CSV for challenge patches, ``.npz`` + PNG strips for whole wells.

``predict_path`` decides by the output's name:

* ``OUT.csv``: INPUT is a challenge image folder, dataset directory or ``.zip``; every
  patch gets a row, in the challenge layout.
* ``OUT.npz``: INPUT is one well (a ``.npz``, or a folder of one well's patches);
  ``OUT.npz`` holds ``probability`` (float16, NaN = no data), ``mask`` (uint8 0/1,
  never 1 on no-data) and ``valid`` (uint8), and ``OUT.png`` shows it.
* anything else is a folder: one ``.npz`` + ``.png`` per well of INPUT (a folder of
  well ``.npz`` files or of challenge patches).

INPUT may also be a casing log (DLIS or LAS), imported as ``corroseg import`` would with
``--od``, ``--nominal-wall`` and ``--grade`` (other import options need ``corroseg import``).
A well whose casing sizes and depth step are known (a log's, or ``--od`` and
``--nominal-wall``) also gets the engineer's answer beside its ``.npz``
(:func:`answer_outputs`): the defect list (``.defects.csv``), the joint tally
(``.joints.csv``), both in a workbook (``.xlsx``), the derived curves as LAS
(``.curves.las``) and a log-style picture (``.log.png``).

Beside every output, ``OUT.json`` records how it was predicted: the runs and the
resolved prediction options (:class:`corroseg.infer.options.PredictOptions`), plus
the well's summary.
"""

from __future__ import annotations

import contextlib
import functools
import json
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress

from corroseg import __version__
from corroseg.atomic import atomic_path, json_safe, remove_temps, write_json
from corroseg.data.challenge import read_images, write_submission
from corroseg.data.log_import import import_log
from corroseg.data.log_readers import is_log
from corroseg.data.logs import ImportOptions
from corroseg.data.wells import Well, WidthOverride, check_width_wells, load_well, well_from_patches
from corroseg.errors import CorrosegInputError
from corroseg.guard import RUN_INPUTS, output_lock, refuse_overwriting_inputs
from corroseg.infer.bundle import WellPredictor
from corroseg.infer.sensitivity import describe_well, faintest_found, texture_std_in
from corroseg.infer.tiles import ROWS_DONE
from corroseg.interpret.answers import WellAnswer, answer_well, casing_of
from corroseg.interpret.defects import write_defects_csv
from corroseg.interpret.exports import write_curves_las, write_xlsx
from corroseg.interpret.joints import worst_first, write_joints_csv
from corroseg.report.log_view import log_view_figure
from corroseg.report.strips import DPI, well_strip_figure


def _refuse_overwrite(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise CorrosegInputError(path, "already exists; pass --force to overwrite it")


def _savez_prediction(file: Path, probability: np.ndarray, mask: np.ndarray, well: Well) -> None:
    valid = np.isfinite(probability)
    savez_reproducible(
        file, probability=probability.astype(np.float16), mask=(mask * valid).astype(np.uint8),
        valid=valid.astype(np.uint8), depth_start=np.float64(well.depth_start),
        depth_step=np.float64(well.depth_step), depth_unit=np.str_(well.depth_unit), name=np.str_(well.name),
    )


def savez_reproducible(file: str | Path, **arrays: np.ndarray) -> None:
    """``np.savez_compressed`` without the write time in the zip: the same arrays give the same bytes.

    (numpy stamps every member with the current time, so two runs of the same prediction,
    or one machine and a cluster, would differ by their timestamps alone.)
    """
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            member = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            member.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(member, "w", force_zip64=True) as stream:
                np.lib.format.write_array(stream, np.asanyarray(array), allow_pickle=False)


def outputs_of(out: str | Path) -> tuple[Path, Path, Path]:
    """The ``.npz``, ``.png`` and ``.json`` (how it was predicted) a whole-well prediction writes for ``out``."""
    out = Path(out)
    return out, out.with_suffix(".png"), out.with_suffix(".json")


ANSWER_SUFFIXES = {"defects_csv": ".defects.csv", "joints_csv": ".joints.csv", "xlsx": ".xlsx", "las": ".curves.las",
                   "log_png": ".log.png"}


def answer_outputs(out: str | Path) -> dict[str, Path]:
    """The files of the engineer's answer written beside ``out`` (a well's ``.npz``)."""
    out = Path(out)
    return {key: out.with_suffix(suffix) for key, suffix in ANSWER_SUFFIXES.items()}


def prediction_record(predictor: WellPredictor, runs: Sequence[str | Path] = ()) -> dict:
    """How outputs were predicted, written as JSON beside each: the runs and the resolved options."""
    options = getattr(predictor, "options", None)
    config = getattr(predictor, "config", None)
    return {"corroseg": __version__, "runs": [str(r) for r in runs], "threshold": float(predictor.threshold),
            "options": options.record(config) if options is not None else None}


def predict_one_well(predictor: WellPredictor, well: Well, out: str | Path, force: bool = False,
                     record: dict | None = None, probability: np.ndarray | None = None,
                     casing: CasingOptions | None = None) -> dict:
    """Predict a whole well; write ``out`` (.npz), the PNG strip and the JSON record beside it. Returns a summary.

    ``record`` (default :func:`prediction_record` of ``predictor``) says how it was
    predicted; the JSON adds the well's summary. The files are written to temporary
    files and renamed at the end, the ``.npz`` last: an interrupted well leaves no
    ``.npz`` (or, between the renames, the others only). ``probability`` (from
    ``predictor.predict_well(well.image)``) saves predicting the well again. ``casing``
    fills the sizes a well does not state; with sizes and a depth step, the answer's
    files (:func:`answer_outputs`) are written too.
    """
    out, png, note = outputs_of(out)
    sizes, why_not = casing_of(well, **asdict(casing or CasingOptions()))
    extra = answer_outputs(out) if sizes is not None else {}
    for path in (out, png, note, *extra.values()):
        _refuse_overwrite(path, force)
    stale = _stale_answer_files(note, extra) if force else []
    remove_temps(out.parent, tuple(p.name for p in (out, png, note, *answer_outputs(out).values())))  # a killed run's
    if probability is None:
        probability = predictor.predict_well(well.image)
    mask = predictor.segment_well(well.image, probability)
    valid = np.isfinite(probability)
    figure = well_strip_figure(well.image, probability, mask, truth=well.mask, valid=valid,
                               depth_start=well.depth_start, depth_step=well.depth_step,
                               depth_unit=well.depth_unit, title=well.name or out.stem)
    summary = {"well": well.name, "rows": int(well.image.shape[0]), "width": well.width, "npz": str(out),
               "png": str(png), "json": str(note),
               "corroded_fraction": float(mask[valid].mean()) if valid.any() else 0.0,
               "sensitivity": faintest_found(predictor.sensitivity, texture_std_in(well.image, valid & (mask == 0)))}
    notes = (*((why_not,) if why_not else ()), describe_well(summary["sensitivity"]))  # the answer's limits, beside it
    answer = None if sizes is None else answer_well(well, probability, mask, sizes, notes)
    summary["answer"] = {"skipped": why_not} if answer is None else {
        **answer.summary(), **{key: str(path) for key, path in extra.items()}}
    with contextlib.ExitStack() as stack:
        npz_tmp, png_tmp, note_tmp = (stack.enter_context(atomic_path(p)) for p in (out, png, note))
        if answer is not None:  # renamed before the .npz (the exit stack unwinds in reverse)
            temps = {key: stack.enter_context(atomic_path(path)) for key, path in extra.items()}
            write_answer(temps, well, probability, mask, answer)
        _savez_prediction(npz_tmp, probability, mask, well)
        figure.savefig(png_tmp, dpi=DPI, format="png")
        beside = {**summary, "npz": out.name, "png": png.name, "json": note.name}  # names: the folder may move
        if answer is not None:  # the JSON carries the lists too
            beside["answer"] = {**summary["answer"], **{key: path.name for key, path in extra.items()},
                                "defect_list": [asdict(d) for d in answer.defects],
                                "joint_list": [asdict(j) for j in worst_first(answer.joints)]}
        note_tmp.write_text(json.dumps(json_safe({**(record or prediction_record(predictor)), **beside}),
                                       indent=2, allow_nan=False, default=_jsonable))
        for path in stale:  # answer files of an earlier prediction that this one does not replace
            path.unlink(missing_ok=True)
    return summary


def _stale_answer_files(note: Path, written: dict[str, Path]) -> list[Path]:
    """Answer files beside ``note`` that its earlier record says predict wrote, and this run will not rewrite.

    Only files a corroseg record names are removed (``--force`` replaces a prediction whole:
    an old defect list must not sit beside a new mask); anything else is left alone.
    """
    try:
        earlier = json.loads(note.read_text()).get("answer", {})
    except (OSError, ValueError, AttributeError):
        return []
    if not isinstance(earlier, dict):
        return []
    keep = {path.name for path in written.values()}
    named = {earlier.get(key) for key in ANSWER_SUFFIXES} - {None} - keep
    return [note.parent / name for name in sorted(named) if isinstance(name, str) and "/" not in name
            and (note.parent / name).is_file()]


@dataclass(frozen=True)
class CasingOptions:
    """Casing sizes for wells that do not state them (``predict --od --nominal-wall --grade``)."""

    od_in: float | None = None
    wall_in: float | None = None
    grade: str | None = None


def write_answer(temps: dict[str, Path], well: Well, probability: np.ndarray, mask: np.ndarray,
                 answer: WellAnswer) -> None:
    """The answer's files named in ``temps`` (keys of :data:`ANSWER_SUFFIXES`), each to its path."""
    writers = {
        "defects_csv": lambda path: write_defects_csv(path, answer.defects),
        "joints_csv": lambda path: write_joints_csv(path, worst_first(answer.joints)),
        "xlsx": lambda path: write_xlsx(path, answer, well.name),
        "las": lambda path: write_curves_las(path, well, probability, mask, answer),
        "log_png": lambda path: log_view_figure(well, probability, mask, answer).savefig(path, dpi=DPI, format="png"),
    }
    for key, path in temps.items():
        writers[key](path)


def _jsonable(value):
    """numpy scalars and arrays in the JSON record (a NaN is null: strict JSON)."""
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


WellSource = tuple[str, Callable[[], Well]]
"""A well's output name and a function that loads it (wells are loaded one at a time)."""


def well_sources(path: Path, widths: WidthOverride | None, split: str = "test",
                 casing: CasingOptions | None = None) -> list[WellSource]:
    """(name, loader) of every well in a ``.npz``, a folder of ``.npz`` or a folder of patches.

    Nothing is loaded yet for ``.npz`` files: each well is read when its loader is
    called, so a folder of many wells is predicted one well at a time. Challenge
    patches are read once (they are the dataset) and assembled well by well.
    """
    if path.suffix == ".npz":
        return [(path.stem, functools.partial(load_well, path))]
    if path.is_file() and is_log(path):  # imported with the sizes given, as `corroseg import` would
        sizes = casing or CasingOptions()
        options = ImportOptions(od_in=sizes.od_in, nominal_wall_in=sizes.wall_in, grade=sizes.grade)
        return [(path.stem, functools.partial(import_log, path, options))]
    files = sorted(p for p in path.glob("*.npz") if not p.name.startswith(".") and p.is_file()) if path.is_dir() else []
    if files:
        return [(file.stem, functools.partial(load_well, file)) for file in files]
    images = read_images(path, split)
    check_width_wells(widths, images.well_ids(), path)

    def assembled(number: int) -> Well:
        return Well(well_from_patches(images, number, widths).image, name=f"{path.name} well {number}")

    return [(f"well_{number}", functools.partial(assembled, number)) for number in images.well_ids()]


def predict_path(
    predictor: WellPredictor,
    source: str | Path,
    out: str | Path,
    split: str = "test",
    blank_corrupted: bool = True,
    widths: WidthOverride | None = None,
    force: bool = False,
    progress: bool = False,
    runs: Sequence[str | Path] = (),
    casing: CasingOptions | None = None,
) -> dict:
    """Predict INPUT into OUT (see the module docstring for what each OUT means).

    ``runs`` are the run folders behind ``predictor``: no output may be one of their files.
    ``casing`` gives the sizes of wells that do not state them (for the defect list and tally).
    """
    source, out = Path(source), Path(out)
    if not source.exists():
        raise CorrosegInputError(source, "no such file or folder")
    record = prediction_record(predictor, runs)

    def refuse_inputs(outputs) -> None:
        refuse_overwriting_inputs(outputs, files=[source] if source.is_file() else [],
                                  datasets=[source] if source.is_dir() else [], runs=runs,
                                  run_reads=RUN_INPUTS + ("model.onnx",))

    if out.suffix == ".csv":
        if source.suffix == ".npz":
            raise CorrosegInputError(out, "a submission CSV needs challenge patches as input, not a well .npz")
        note = out.with_suffix(".json")
        refuse_inputs([out, note])
        _refuse_overwrite(out, force)
        _refuse_overwrite(note, force)
        images = read_images(source, split)
        check_width_wells(widths, images.well_ids(), source)
        with output_lock(out):
            masks = predictor.patch_masks(images, blank_corrupted=blank_corrupted, widths=widths)
            write_json(note, {**record, "input": str(source), "patches": len(images)})
            write_submission(out, images.names, masks)
        blanked = int((masks.reshape(len(masks), -1).sum(1) == 0).sum())
        return {"kind": "submission", "csv": str(out), "json": str(note), "patches": len(images), "empty_masks": blanked,
                "patches_with_corrosion": len(images) - blanked, "source": str(images.source)}
    if out.suffix not in ("", ".npz"):
        raise CorrosegInputError(out, "OUT must end in .csv (submission), .npz (one well) or be a folder")
    wells = well_sources(source, widths, split, casing)
    if out.suffix == ".npz":
        if len(wells) > 1:
            raise CorrosegInputError(source, "holds several wells; give a folder as OUT to predict them all")
        refuse_inputs([*outputs_of(out), *answer_outputs(out).values()])
        with output_lock(out), _bar(progress) as bar:
            well = wells[0][1]()
            with rows_progress(bar, f"predicting {wells[0][0]}", well.image.shape[0], _passes(predictor)):
                return {"kind": "well", **predict_one_well(predictor, well, out, force, record, casing=casing)}
    planned = [path for name, _ in wells for path in (*outputs_of(out / f"{name}.npz"),
                                                      *answer_outputs(out / f"{name}.npz").values())]
    refuse_inputs(planned)
    for name, load in wells:  # refuse before predicting anything, not at the first existing well
        answered = casing_of(load(), **asdict(casing or CasingOptions()))[0] is not None  # a broken file: refused
        written = outputs_of(out / f"{name}.npz") + (tuple(answer_outputs(out / f"{name}.npz").values())
                                                     if answered else ())
        for path in written:
            _refuse_overwrite(path, force)
    results = []
    with output_lock(out), _bar(progress) as bar:
        task = bar.add_task("wells", total=len(wells))
        for name, load in wells:
            well = load()
            with rows_progress(bar, f"predicting {name}", well.image.shape[0], _passes(predictor)):
                results.append(predict_one_well(predictor, well, out / f"{name}.npz", force, record, casing=casing))
            bar.advance(task)
    return {"kind": "wells", "folder": str(out), "wells": results}


def _bar(progress: bool) -> Progress:
    """The bar of ``predict`` on stderr (percentage, count, time left); silent unless ``progress``."""
    return Progress(*Progress.get_default_columns(), MofNCompleteColumn(), console=Console(stderr=True),
                    disable=not progress)


def _passes(predictor: WellPredictor) -> int:
    """How many times a well is run through a network: once per ensemble member."""
    return len(getattr(predictor, "members", [predictor]))


@contextlib.contextmanager
def rows_progress(bar: Progress, description: str, rows: int, passes: int = 1):
    """A task of ``bar`` counting the rows of one well predicted (``passes`` times over, for an ensemble)."""
    task = bar.add_task(description, total=rows * passes)
    state = {"pass": 0, "last": 0}

    def report(done: int, total_rows: int) -> None:
        if done <= state["last"]:  # the next member starts again (within one pass, reports only rise)
            state["pass"] += 1
        state["last"] = done
        completed = min(state["pass"] * rows + min(done, rows), rows * passes)
        finished = completed == rows * passes
        bar.update(task, completed=completed,
                   description=f"{description}: masks and pictures" if finished else description)

    token = ROWS_DONE.set(report)
    try:
        yield task
    finally:
        ROWS_DONE.reset(token)
        bar.update(task, completed=rows * passes)
        bar.remove_task(task)

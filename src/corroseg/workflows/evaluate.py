"""The ``evaluate`` workflow: a run, an ensemble or a cross-validation run scored on a labelled split.

A cross-validation run is scored as the ensemble of its folds and, with the same
resolved prediction options (threshold, TTA, engine, post-processing), each fold alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from corroseg.atomic import refuse_existing, write_json
from corroseg.data.wells import WidthOverride
from corroseg.guard import output_lock, refuse_overwriting_inputs
from corroseg.infer.ensemble import load_predictor
from corroseg.infer.evaluate import evaluate, false_alarms
from corroseg.infer.options import PredictOptions
from corroseg.train.rundir import RunDir


def evaluate_runs(runs: Sequence[str | Path], data: str | Path, split: str = "test",
                  options: PredictOptions | None = None, widths: WidthOverride | None = None,
                  blank_corrupted: bool = True, false_alarm: str | Path | None = None,
                  status=None, out: str | Path | None = None, force: bool = False) -> dict:
    """Score ``runs`` (one predictor: a run, an ensemble, or a folds run's folds) on ``split`` of ``data``.

    Returns :func:`corroseg.infer.evaluate.evaluate`'s figures plus ``runs``, ``options``
    (as resolved), ``folds`` (each fold alone, for a single folds run) and
    ``false_alarm`` (when ``false_alarm`` names corrosion-free wells).
    ``status`` (optional) is a context manager factory taking a message, for progress.
    ``out`` (optional): the figures are also written there as JSON (checked before any work:
    never over an input, and over an existing file only with ``force``).
    """
    import contextlib

    say = status or (lambda message: contextlib.nullcontext())
    if out is not None:
        refuse_overwriting_inputs([out], runs=runs, datasets=[d for d in (data, false_alarm) if d is not None])
        refuse_existing([out], force)
    predictor = load_predictor(runs, options)
    with say(f"predicting the {split} wells"):
        result = evaluate(predictor, data, split, widths=widths, blank_corrupted=blank_corrupted)
    result["runs"] = [str(r) for r in runs]
    result["threshold"] = predictor.threshold
    result["options"] = predictor.options.record(predictor.config)
    if len(runs) == 1 and RunDir(runs[0]).is_folds:
        with say(f"predicting the {split} wells with each fold"):
            result["folds"] = evaluate_folds(runs[0], data, split, predictor.options, widths=widths,
                                             blank_corrupted=blank_corrupted)
    if false_alarm is not None:
        with say("predicting the false-alarm wells"):
            result["false_alarm"] = false_alarms(predictor, false_alarm, widths=widths)
    if out is not None:
        with output_lock(out):
            write_json(out, result)
    return result


def evaluate_folds(run: str | Path, data: str | Path, split: str = "test", options: PredictOptions | None = None,
                   **evaluate_options) -> dict:
    """Each fold of a cross-validation run scored alone on ``split``: per-fold figures, mean and spread.

    ``options`` are resolved once for the whole run (as its ensemble is) and load every
    fold; ``evaluate_options`` go to :func:`corroseg.infer.evaluate.evaluate`.
    """
    options = (options or PredictOptions()).resolve([run])
    figures = []
    for k, fold in enumerate(RunDir(run).fold_dirs()):
        predictor = load_predictor([fold.path], options)
        result = evaluate(predictor, data, split, **evaluate_options)
        figures.append({"fold": k, "iou": result["iou"], "iou_nonempty": result["iou_nonempty"]})
    summary: dict = {"per_fold": figures, "options": options.record(predictor.config)}
    for key in ("iou", "iou_nonempty"):
        values = np.array([f[key] for f in figures], dtype=float)
        summary[key] = {"mean": float(np.nanmean(values)), "std": float(np.nanstd(values)),
                        "min": float(np.nanmin(values)), "max": float(np.nanmax(values))}
    return summary

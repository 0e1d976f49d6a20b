"""The ``train`` workflow: one run tuned on its validation wells, or K well-grouped folds with held-out predictions.

``train(data, out, cfg)`` trains one run (``train.fit``) and tunes its threshold on
its validation wells. ``train(..., folds=K)`` trains K runs, each holding out one
group of wells (no well in two groups), keeps every well's out-of-fold (OOF)
probabilities, and tunes the threshold on all of them::

    RUN/folds.json           the folds (wells), per-fold OOF figures, the config
    RUN/config.yaml          the base config (each fold adds its val_wells)
    RUN/fold_0 ... fold_K-1  complete runs, each a predictor of its own
    RUN/oof/well_N.npz       out-of-fold probability of every training well
    RUN/threshold.json       threshold tuned on the OOF predictions
    RUN/sensitivity.json     how faint a groove it finds, measured on the OOF predictions

A single run's ``sensitivity.json`` is measured on its validation wells
(:mod:`corroseg.infer.sensitivity`) with the masks ``predict`` makes by default (the
config's threshold, not the tuned one unless the config says so; TTA and walker as configured).

A folds run predicts as the ensemble of its folds (``infer.ensemble.load_predictor``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from corroseg.atomic import atomic_path, write_json
from corroseg.data.labelled import (LabelledWell, default_excluded_wells, is_synthetic, load_labelled_wells,
                                   require_learnable)
from corroseg.errors import CorrosegInputError, CorrosegUserError
from corroseg.guard import output_lock, refuse_overwriting_inputs
from corroseg.infer.bundle import Predictor, WellPredictor
from corroseg.infer.ensemble import load_predictor
from corroseg.infer.evaluate import iou_nonempty
from corroseg.infer.sensitivity import defect_records, mask_options, merge_records, summarise, write_sensitivity
from corroseg.infer.threshold import patch_scoring_arrays, tune_threshold, write_threshold
from corroseg.models.metrics import challenge_iou
from corroseg.train.config import (CONFIG, DATA, METRICS, WEIGHTS, TrainConfig, load_config, parse_override,
                                   read_config, save_config)
from corroseg.data.splits import well_folds
from corroseg.train.fit import RESUMABLE_KEYS, fit, launched_rank, prepare_run_dir
from corroseg.train.rundir import RunDir

FOLDS_FORMAT = "corroseg-folds/1"

Progress = Callable[[str], None] | None


def held_out_wells(data: str | Path, cfg: TrainConfig, wells: Sequence[int]) -> list[LabelledWell]:
    """The labelled training wells ``wells`` of ``data``, loaded as training loads them."""
    wanted = set(int(w) for w in wells)
    return [w for w in load_labelled_wells(data, "train", cfg.labels) if w.well in wanted]


def predict_held_out(predictor: Predictor, wells: Sequence[LabelledWell]) -> dict[int, np.ndarray]:
    """Probability of every pixel of each well, predicted whole."""
    return {w.well: predictor.predict_well(w.image) for w in wells}


def _patches(wells: Sequence[LabelledWell], probabilities: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    pairs = [patch_scoring_arrays(w, probabilities[w.well]) for w in wells]
    return np.concatenate([p for p, _ in pairs]), np.concatenate([t for _, t in pairs])


def tune_run(run: str | Path, data: str | Path | None = None) -> dict:
    """Tune a trained run's threshold on its validation wells; write ``RUN/threshold.json``.

    Then measure how faint a groove it finds there with the masks ``predict`` makes by
    default (``RUN/sensitivity.json``).
    """
    run = Path(run)
    facts = json.loads((run / DATA).read_text())
    cfg = read_config(run / CONFIG)
    data = data or facts["data"]
    wells = held_out_wells(data, cfg, facts["val_wells"])
    predictor = Predictor.from_run(run)  # default options: predict's, whose threshold is the config's
    probabilities = predict_held_out(predictor, wells)
    probability, truth = _patches(wells, probabilities)
    tuned = tune_threshold(probability, truth, "validation", facts["val_wells"])
    write_threshold(run, tuned)
    measure_sensitivity(run, predictor, wells, probabilities, "the validation wells", is_synthetic(data))
    return tuned


def measure_sensitivity(run: str | Path, predictor: WellPredictor, wells: Sequence[LabelledWell],
                        probabilities: dict[int, np.ndarray], source: str, synthetic: bool) -> dict:
    """:func:`held_out_sensitivity`, written to ``RUN/sensitivity.json``."""
    sensitivity = held_out_sensitivity(predictor, wells, probabilities, source, synthetic)
    write_sensitivity(run, sensitivity)
    return sensitivity


def held_out_sensitivity(predictor: WellPredictor, wells: Sequence[LabelledWell],
                         probabilities: dict[int, np.ndarray], source: str, synthetic: bool) -> dict:
    """How faint a groove ``predictor``'s masks find on held-out ``wells`` (their probabilities given).

    ``predictor`` (loaded with resolved options) makes the masks from the probabilities as
    ``corroseg predict`` would with those options, which the result records; ``synthetic``
    says whether the wells' grooves are synthetic (``corroseg synth``) or labelled by people.
    """
    records = [defect_records(w.image, w.mask, predictor.segment_well(w.image, probabilities[w.well]), w.learn)
               for w in wells]
    options = predictor.options
    return {**summarise(merge_records(records), source), "wells": sorted(int(w.well) for w in wells),
            "synthetic": bool(synthetic),
            "mask_options": mask_options(options.threshold, options.tta, options.random_walker)}


def train(
    data: str | Path,
    out: str | Path,
    cfg: TrainConfig | None = None,
    folds: int | None = None,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    overrides: Sequence[str] = (),
    status: Progress = None,
) -> Path:
    """Train one run (``folds=None``) or a K-fold cross-validation run; tune the threshold on held-out wells.

    ``status`` (optional) receives a line for each step of a cross-validation.
    """
    refuse_overwriting_inputs([out], datasets=[data])
    extra_rank = launched_rank() > 0
    # DDP relaunches this command for the other ranks: only the first one holds the run's lock
    with contextlib.nullcontext() if extra_rank else output_lock(out):
        if folds is None:
            if Path(out).is_dir() and RunDir(out).is_folds:
                raise CorrosegInputError(out, "is a cross-validation run: pass --folds to continue or replace it")
            run = fit(data, out, cfg, resume=resume, force=force, progress=progress, overrides=overrides)
            if not extra_rank and (run / WEIGHTS).is_file():  # DDP's other ranks leave it to the first
                tune_run(run, data)
            return run
        return cross_validate(data, out, cfg, folds, resume=resume, force=force, progress=progress,
                              overrides=overrides, status=status)


def _prepare_folds_dir(out: Path, resume: bool, force: bool) -> None:
    """As for one run (marked as a cross-validation run), but resume needs folds.json."""
    if resume and not RunDir(out).is_folds:
        raise CorrosegInputError(out, "nothing to resume: no folds.json here")
    if not resume:
        prepare_run_dir(out, resume=False, force=force, kind="folds")


def _save_oof(out: Path, probabilities: dict[int, np.ndarray]) -> None:
    for well, probability in probabilities.items():
        with atomic_path(RunDir(out).oof_file(well)) as tmp:
            np.savez_compressed(tmp, probability=probability.astype(np.float16))


def read_oof(run: str | Path, well: int) -> np.ndarray:
    """The out-of-fold probability of one training well of a folds run (float32, NaN on no-data)."""
    path = RunDir(run).oof_file(well)
    if not path.is_file():
        raise CorrosegInputError(path, "missing: no out-of-fold prediction for this well")
    with np.load(path) as z:
        return z["probability"].astype(np.float32)


def _fold_figures(fold: int, wells: Sequence[LabelledWell], probabilities: dict[int, np.ndarray]) -> dict:
    probability, truth = _patches(wells, probabilities)
    pred = probability >= 0.5
    return {"fold": fold, "wells": [w.well for w in wells], "patches": int(len(pred)),
            "iou": challenge_iou(pred, truth), "iou_nonempty": iou_nonempty(pred, truth)}


def cross_validate(
    data: str | Path,
    out: str | Path,
    cfg: TrainConfig | None = None,
    folds: int = 5,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    overrides: Sequence[str] = (),
    status: Progress = None,
) -> Path:
    """Train ``folds`` runs on well-grouped folds into ``out/fold_k``; keep OOF probabilities; tune the threshold.

    With ``resume``, finished folds are kept, an interrupted one continues from its
    last checkpoint and the others start; the folds and config are the saved ones.
    """
    out = Path(out)
    say = status or (lambda message: None)
    if resume:
        _prepare_folds_dir(out, resume, force)
        saved = json.loads(RunDir(out).folds_file.read_text())
        if saved["folds"] != folds:
            raise CorrosegUserError(f"--folds {folds}: this run was started with --folds {saved['folds']}")
        frozen = [o for o in overrides if parse_override(o)[0].partition(".")[0] not in RESUMABLE_KEYS]
        if frozen:
            raise CorrosegUserError(f"cannot change {', '.join(frozen)} when resuming (only "
                                    f"{', '.join(RESUMABLE_KEYS)}); start a new run instead")
        cfg = load_config(out / CONFIG, list(overrides))
        assignment = saved["assignment"]
    else:
        cfg = cfg or load_config("default")
        if cfg.val_wells is not None:
            raise CorrosegUserError("config val_wells cannot be set with --folds (each fold validates on its own wells)")
        excluded = default_excluded_wells(data) if cfg.exclude_wells == "auto" else tuple(cfg.exclude_wells)
        labelled = [w for w in load_labelled_wells(data, "train", cfg.labels) if w.well not in excluded]
        require_learnable(data, labelled)
        assignment = well_folds([w.well for w in labelled], folds, cfg.seed)
        _prepare_folds_dir(out, resume, force)  # only once the data is known to be usable
        save_config(cfg, out / CONFIG)
        write_json(RunDir(out).folds_file, {"format": FOLDS_FORMAT, "folds": folds, "data": str(Path(data).resolve()),
                                      "seed": cfg.seed, "assignment": assignment, "per_fold": []})
    per_fold = []
    for k, held_out in enumerate(assignment):
        fold_dir = out / f"fold_{k}"
        if (fold_dir / METRICS).is_file() and (fold_dir / WEIGHTS).is_file():
            say(f"fold {k + 1}/{folds}: already trained")
        else:
            interrupted = RunDir(fold_dir).last_checkpoint.is_file()
            doing = "resuming from its last checkpoint" if resume and interrupted else "training"
            say(f"fold {k + 1}/{folds}: {doing}, validating on wells {held_out}")
            fit(data, fold_dir, cfg.replace(val_wells=tuple(held_out)), resume=resume and interrupted,
                force=True, progress=progress, overrides=overrides if resume and interrupted else ())
        say(f"fold {k + 1}/{folds}: predicting held-out wells {held_out}")
        wells = held_out_wells(data, cfg, held_out)
        probabilities = predict_held_out(Predictor.from_run(fold_dir), wells)
        _save_oof(out, probabilities)
        per_fold.append(_fold_figures(k, wells, probabilities))
    say("tuning the threshold on the out-of-fold predictions")
    every = held_out_wells(data, cfg, [w for group in assignment for w in group])
    oof = {w.well: read_oof(out, w.well) for w in every}
    probability, truth = _patches(every, oof)
    write_threshold(out, tune_threshold(probability, truth, "out-of-fold", [w.well for w in every]))
    # each well's probability is its own fold's (out-of-fold), masked as the folds' ensemble masks
    measure_sensitivity(out, load_predictor([out]), every, oof, "the out-of-fold predictions (each fold alone)",
                        is_synthetic(data))
    summary = json.loads(RunDir(out).folds_file.read_text())
    ious = [f["iou"] for f in per_fold]
    summary.update(per_fold=per_fold, oof_iou_mean=float(np.mean(ious)), oof_iou_std=float(np.std(ious)))
    write_json(RunDir(out).folds_file, summary)
    return out

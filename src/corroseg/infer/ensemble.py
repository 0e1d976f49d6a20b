"""Several trained runs (seeds, or the folds of a cross-validation run) as one predictor.

>>> predictor = load_predictor(["runs/seed0", "runs/seed1"])   # mean of probabilities
>>> predictor = load_predictor(["runs/cv5"])                    # the 5 folds of a --folds run

Members average probabilities of whole wells, so each keeps its own scaler and window
size; the prediction options (:class:`corroseg.infer.options.PredictOptions`) are resolved
once and are the same for every member.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from corroseg.data.corruption import CorruptionPolicy
from corroseg.errors import CorrosegUserError
from corroseg.infer.bundle import Predictor, WellPredictor
from corroseg.infer.postprocess import RandomWalker
from corroseg.infer.options import PredictOptions
from corroseg.infer.sensitivity import applies, mask_options, read_sensitivity
from corroseg.train.rundir import RunDir


class Ensemble(WellPredictor):
    """The mean probability of several predictors.

    Parameters
    ----------
    members : sequence of WellPredictor
    threshold : float
    postprocess : callable, optional
        As :attr:`WellPredictor.postprocess`.
    """

    def __init__(self, members: Sequence[WellPredictor], threshold: float = 0.5,
                 postprocess: Callable[[np.ndarray, np.ndarray, float], np.ndarray] | None = None):
        if not members:
            raise CorrosegUserError("an ensemble needs at least one run")
        self.members = list(members)
        self.threshold = threshold
        self.postprocess = postprocess
        self.policy: CorruptionPolicy = self.members[0].policy
        self.options: PredictOptions | None = None

    @property
    def config(self):
        """The first member's run config (its walker settings are the ensemble's)."""
        return getattr(self.members[0], "config", None)

    def predict_well(self, image: np.ndarray) -> np.ndarray:
        """Mean probability of the members ``(rows, width)``; NaN where there is no reading."""
        total = None
        for member in self.members:
            probability = member.predict_well(image)
            total = probability.astype(np.float64) if total is None else total + probability
        return (total / len(self.members)).astype(np.float32)


def member_runs(runs: Sequence[str | Path]) -> list[Path]:
    """Every single run behind ``runs``: a cross-validation run stands for its folds."""
    out: list[Path] = []
    for run in map(Path, runs):
        out.extend(member.path for member in RunDir(run).members())
    return out


def ensemble_threshold(runs: Sequence[str | Path], threshold: float | str | None) -> float:
    """The threshold of an ensemble (see :class:`PredictOptions`): a number; ``"tuned"``: the mean of
    each run's tuned one (a folds run's is tuned on its out-of-fold predictions); None: the first run's config."""
    return PredictOptions(threshold=threshold).resolve(runs).threshold


def load_predictor(runs: str | Path | Sequence[str | Path], options: PredictOptions | None = None,
                   **fields) -> WellPredictor:
    """The predictor of one run, a cross-validation run (its folds) or several runs (mean probability).

    The only loader of runs. ``options`` (or its fields as keywords) are resolved once
    against the first run's config (:meth:`PredictOptions.resolve`) and the same resolved
    options load every member; the random walker, when on, is the first run's.
    """
    runs = [runs] if isinstance(runs, str | Path) else list(runs)
    options = replace(options or PredictOptions(), **fields).resolve(runs)
    members = member_runs(runs)
    if len(members) == 1 and len(runs) == 1 and not RunDir(runs[0]).is_folds:
        predictor = Predictor.from_run(members[0], options)
    else:
        loaded = [Predictor.from_run(m, options) for m in members]
        predictor = Ensemble(loaded, options.threshold,
                             RandomWalker.from_config(loaded[0].config) if options.random_walker else None)
        predictor.options = options
    if len(runs) == 1:  # a run's (or a folds run's) own measurement; an ensemble of runs has none
        measured = read_sensitivity(runs[0])
        if applies(measured, mask_options(options.threshold, options.tta, options.random_walker)):
            predictor.sensitivity = measured
    return predictor

"""Several trained runs (seeds, or the folds of a cross-validation run) as one predictor.

>>> predictor = load_predictor(["runs/seed0", "runs/seed1"])   # mean of probabilities
>>> predictor = load_predictor(["runs/cv5"])                    # the 5 folds of a --folds run

Members average probabilities of whole wells, so each keeps its own scaler, window
size and test-time augmentation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from corroseg.data.corruption import CorruptionPolicy
from corroseg.errors import CorrosegUserError
from corroseg.infer.bundle import Predictor, WellPredictor
from corroseg.infer.crossval import fold_dirs, is_folds_run
from corroseg.infer.postprocess import RandomWalker
from corroseg.infer.threshold import read_threshold
from corroseg.train.config import CONFIG, TrainConfig, read_config


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

    def predict_well(self, image: np.ndarray) -> np.ndarray:
        """Mean probability of the members ``(rows, width)``; NaN where there is no reading."""
        total = None
        for member in self.members:
            probability = member.predict_well(image)
            total = probability.astype(np.float64) if total is None else total + probability
        return (total / len(self.members)).astype(np.float32)


def configured_postprocess(config: TrainConfig, enabled: bool | None = None):
    """The random walker of a config (``walker_*`` keys) if ``enabled`` (None: the config's ``postprocess``)."""
    if enabled is None:
        enabled = config.postprocess == "random_walker"
    return RandomWalker(config.walker_low, config.walker_high, config.walker_beta) if enabled else None


def member_runs(runs: Sequence[str | Path]) -> list[Path]:
    """Every single run behind ``runs``: a cross-validation run stands for its folds."""
    out: list[Path] = []
    for run in map(Path, runs):
        out.extend(fold_dirs(run) if run.is_dir() and is_folds_run(run) else [run])
    return out


def ensemble_threshold(runs: Sequence[str | Path], threshold: float | str | None) -> float:
    """The threshold of an ensemble: a number; ``"tuned"``: the mean of each run's tuned one
    (a folds run's is tuned on its out-of-fold predictions); None: the first run's config."""
    if threshold is None:
        return read_config(member_runs(runs[:1])[0] / CONFIG).threshold
    if threshold == "tuned":
        return float(np.mean([read_threshold(run) for run in runs]))
    value = float(threshold)
    if not 0.0 < value < 1.0:
        raise CorrosegUserError(f"threshold {value}: must be in (0, 1) or 'tuned'")
    return value


def load_predictor(runs: str | Path | Sequence[str | Path], threshold: float | str | None = None,
                   tta: bool | None = None, threads: int | None = None, bf16: bool = False, engine: str = "auto",
                   postprocess: Callable[[np.ndarray, np.ndarray, float], np.ndarray] | bool | None = None
                   ) -> WellPredictor:
    """The predictor of one run, a cross-validation run (its folds) or several runs (mean probability).

    Parameters
    ----------
    runs : path or sequence of paths
    threshold : float, "tuned" or None
        See :func:`ensemble_threshold`.
    tta : bool, optional
        Test-time augmentation for every member (default: each run's config).
    engine : {"auto", "torch", "onnx"}
        What runs the networks (see :meth:`Predictor.from_run`).
    postprocess : callable or bool, optional
        Turns a well's image and probability into its mask instead of the threshold;
        True: the random walker with the first run's ``walker_*`` settings; False: the
        threshold; None: as the first run's config says (``postprocess``).
    """
    runs = [runs] if isinstance(runs, str | Path) else list(runs)
    members = member_runs(runs)
    if len(members) == 1 and len(runs) == 1 and not is_folds_run(runs[0]):
        predictor = Predictor.from_run(members[0], threads=threads, bf16=bf16, tta=tta, threshold=threshold,
                                       engine=engine)
        loaded = [predictor]
    else:
        loaded = [Predictor.from_run(m, threads=threads, bf16=bf16, tta=tta, engine=engine) for m in members]
        predictor = Ensemble(loaded, ensemble_threshold(runs, threshold))
    if postprocess is None or isinstance(postprocess, bool):
        postprocess = configured_postprocess(loaded[0].config, postprocess)
    predictor.postprocess = postprocess
    return predictor

"""How a run predicts: threshold, test-time augmentation, engine, post-processing, threads.

Every prediction option is validated here and resolved here, once, against the first
run's config; the resolved options are then passed as they are to every member of an
ensemble and to each fold scored alone, and written beside every output
(``PredictOptions.record``), as nnU-Net records its prediction arguments.

>>> options = PredictOptions(threshold="tuned", random_walker=False)
>>> resolved = options.resolve(["runs/cv5"])   # concrete values: a float threshold, bools
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from corroseg.errors import CorrosegInputError, CorrosegUserError
from corroseg.infer.threshold import read_threshold
from corroseg.train.config import TrainConfig, read_config
from corroseg.train.rundir import RunDir

ENGINES = ("auto", "torch", "onnx")


@dataclass(frozen=True)
class PredictOptions:
    """Prediction options; None means "as the (first) run's config says".

    Attributes
    ----------
    threshold : float, "tuned" or None
        A number in (0, 1); ``"tuned"``: the mean of the runs' tuned thresholds
        (``threshold.json``, tuned on held-out training wells); None: the config's.
    tta : bool or None
        Test-time augmentation (flips and a half-turn roll).
    engine : {"auto", "torch", "onnx"}
        What runs the networks; auto: ONNX Runtime where a run has a fresh ``model.onnx``.
    random_walker : bool or None
        The paper's random-walker post-processing (with the run's ``walker_*`` settings)
        instead of the plain threshold.
    threads : int or None
        Torch / ONNX Runtime threads (None: their default).
    bf16 : bool
        bfloat16 autocast (torch engine only).
    device : str
        Where the torch engine runs: ``cpu`` (default), ``cuda``, ``cuda:N``, or ``auto``
        (a CUDA device when torch sees one). ONNX Runtime runs on the CPU.
    threshold_source : str
        Where the threshold came from: "given", "config" or "tuned" (set when resolved).
    """

    threshold: float | str | None = None
    tta: bool | None = None
    engine: str = "auto"
    random_walker: bool | None = None
    threads: int | None = None
    bf16: bool = False
    device: str = "cpu"
    threshold_source: str = ""

    def __post_init__(self):
        threshold = self.threshold
        if isinstance(threshold, str) and threshold != "tuned":
            try:
                threshold = float(threshold)
            except ValueError:
                raise CorrosegUserError(f"--threshold {threshold!r}: expected a number in (0, 1) or 'tuned'") from None
        if threshold is not None and threshold != "tuned":
            threshold = float(threshold)
            if not 0.0 < threshold < 1.0:
                raise CorrosegUserError(f"threshold {threshold:g}: must be in (0, 1) or 'tuned'")
        object.__setattr__(self, "threshold", threshold)
        if isinstance(threshold, float) and not self.threshold_source:
            object.__setattr__(self, "threshold_source", "given")
        if self.engine not in ENGINES:
            raise CorrosegUserError(f"engine {self.engine!r}: choose from {', '.join(ENGINES)}")
        if self.bf16 and self.engine == "onnx":
            raise CorrosegUserError("bf16 is a torch option; the onnx engine runs fp32")
        if not re.fullmatch(r"cpu|auto|cuda(:\d+)?", str(self.device)):
            raise CorrosegUserError(f"device {self.device!r}: choose cpu, cuda, cuda:N or auto")
        if self.engine == "onnx" and self.device.startswith("cuda"):
            raise CorrosegUserError(f"device {self.device}: the onnx engine runs on the CPU; use --engine torch")
        if self.threads is not None and self.threads < 1:
            raise CorrosegUserError(f"threads {self.threads}: must be at least 1")

    @property
    def resolved(self) -> bool:
        return isinstance(self.threshold, float) and self.tta is not None and self.random_walker is not None

    def resolve(self, runs: str | Path | Sequence[str | Path]) -> PredictOptions:
        """Concrete options for ``runs``: a float threshold and a yes or no for TTA and the walker.

        Options that are already concrete are returned as they are (no run file is read again).
        """
        if self.resolved:
            return self
        runs = [runs] if isinstance(runs, str | Path) else list(runs)
        if not runs:
            raise CorrosegUserError("prediction needs at least one run")
        first = first_config(runs)
        threshold, source = self.threshold, self.threshold_source
        if threshold is None:
            threshold, source = first.threshold, "config"
        elif threshold == "tuned":
            threshold, source = float(np.mean([read_threshold(run) for run in runs])), "tuned"
        return replace(self, threshold=float(threshold), threshold_source=source, tta=first.tta if self.tta is None else self.tta,
                       random_walker=(first.postprocess == "random_walker" if self.random_walker is None
                                      else self.random_walker))

    def record(self, config: TrainConfig | None = None) -> dict:
        """The options as JSON (with the walker's settings when it is on)."""
        record = asdict(self)
        if self.random_walker and config is not None:
            record["walker"] = {"low": config.walker_low, "high": config.walker_high, "beta": config.walker_beta}
        return record


def describe_threshold(options: PredictOptions | None, tuned: float | None = None) -> str:
    """Where a predictor's threshold came from, in words; ``tuned`` is the run's ``threshold.json`` value."""
    if options is None:
        return "set by hand"
    if options.threshold_source == "tuned":
        return "the mean of the runs' thresholds tuned on held-out wells (threshold.json)"
    if options.threshold_source == "config":
        words = "the run's config value, the default"
        if tuned is not None:
            words += (f"; the tuned {tuned:.3f} in threshold.json is kept but not used by default (tuned on a "
                      "few validation wells it helped one seed and hurt others); --threshold tuned uses it")
        return words
    return "given (--threshold)"


def first_config(runs: Sequence[str | Path]) -> TrainConfig:
    """The config of the first single run behind ``runs`` (a folds run's first fold)."""
    first = RunDir(runs[0])
    if not first.path.is_dir():
        raise CorrosegInputError(first.path, "no such run folder")
    return read_config((first.members()[0] if first.path.is_dir() and first.is_folds else first).config)

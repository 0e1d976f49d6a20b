"""The one place that names the files of a run folder.

A run written by ``corroseg train``::

    RUN/.corroseg.json       marker: a corroseg run (see corroseg.guard)
    RUN/config.yaml          the resolved TrainConfig
    RUN/scaler.json          the RobustScaler fitted on the training wells
    RUN/model.safetensors    the best weights
    RUN/metrics.json         best validation figures, epochs, time, throughput
    RUN/data.json            which wells trained, validated, were left out; widths
    RUN/threshold.json       the threshold tuned on held-out training wells
    RUN/logs/                learning curves
    RUN/checkpoints/         best.ckpt and last.ckpt (Lightning)
    RUN/model.onnx           written by ``corroseg export``
    RUN/report.html          written by ``corroseg report``

A cross-validation run (``--folds K``) holds ``folds.json``, ``config.yaml``,
``threshold.json``, ``oof/well_N.npz`` and ``fold_0 ... fold_K-1``, each a run.

The names live here, below both ``train`` (which writes them) and ``infer`` (which
reads them), and this module imports neither Lightning nor torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from corroseg.errors import CorrosegInputError

CONFIG, SCALER, WEIGHTS, METRICS, DATA = "config.yaml", "scaler.json", "model.safetensors", "metrics.json", "data.json"
THRESHOLD_FILE = "threshold.json"
SENSITIVITY_FILE = "sensitivity.json"
ONNX_FILE = "model.onnx"
REPORT_FILE = "report.html"
FOLDS_FILE = "folds.json"
OOF_DIR = "oof"
CHECKPOINTS = "checkpoints"
LOGS = "logs"


@dataclass(frozen=True)
class RunDir:
    """A run folder and the paths of its files.

    >>> run = RunDir("runs/demo")
    >>> run.weights, run.is_folds
    """

    path: Path

    def __init__(self, path: str | Path):
        object.__setattr__(self, "path", Path(path))

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __fspath__(self) -> str:
        return str(self.path)

    config = property(lambda self: self.path / CONFIG)
    scaler = property(lambda self: self.path / SCALER)
    weights = property(lambda self: self.path / WEIGHTS)
    metrics = property(lambda self: self.path / METRICS)
    data = property(lambda self: self.path / DATA)
    threshold = property(lambda self: self.path / THRESHOLD_FILE)
    sensitivity = property(lambda self: self.path / SENSITIVITY_FILE)
    onnx = property(lambda self: self.path / ONNX_FILE)
    report = property(lambda self: self.path / REPORT_FILE)
    folds_file = property(lambda self: self.path / FOLDS_FILE)
    oof = property(lambda self: self.path / OOF_DIR)
    checkpoints = property(lambda self: self.path / CHECKPOINTS)
    last_checkpoint = property(lambda self: self.path / CHECKPOINTS / "last.ckpt")
    logs = property(lambda self: self.path / LOGS)

    def oof_file(self, well: int) -> Path:
        """The out-of-fold probability of one training well (a cross-validation run)."""
        return self.oof / f"well_{well}.npz"

    def fold(self, k: int) -> RunDir:
        return RunDir(self.path / f"fold_{k}")

    @property
    def is_folds(self) -> bool:
        """True for a cross-validation run (it holds ``folds.json``)."""
        return self.folds_file.is_file()

    @property
    def has_fresh_onnx(self) -> bool:
        """True when ``model.onnx`` exists and is not older than the weights."""
        return self.onnx.is_file() and (not self.weights.exists()
                                        or self.onnx.stat().st_mtime >= self.weights.stat().st_mtime)

    def fold_dirs(self) -> list[RunDir]:
        """The fold runs of a cross-validation run, in order; one line if one is unfinished."""
        try:
            count = int(json.loads(self.folds_file.read_text())["folds"])
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise CorrosegInputError(self.folds_file, f"unreadable folds file ({exc})") from None
        dirs = [self.fold(k) for k in range(count)]
        for fold in dirs:
            if not fold.weights.is_file():
                raise CorrosegInputError(fold.path, "unfinished fold: continue it with corroseg train DATA --out RUN "
                                                    "--folds K --resume")
        return dirs

    def members(self) -> list[RunDir]:
        """The single runs this run stands for: its folds, or itself."""
        return self.fold_dirs() if self.path.is_dir() and self.is_folds else [self]

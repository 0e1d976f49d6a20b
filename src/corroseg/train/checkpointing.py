"""What a killed training run leaves behind: checkpoints and logs written atomically.

Lightning (2.6) writes a local checkpoint through an fsspec transaction: a temporary
file in the system temp folder, moved onto the checkpoint. Across filesystems that
move is a copy into the checkpoint's own path, and nothing is flushed to disk, so a
kill or a power cut can leave a truncated ``last.ckpt`` and nothing to resume from.
Its CSV logger appends to ``metrics.csv`` in place and rewrites the whole file when a
new column appears, so a kill can tear or empty the learning curves that
``metrics.json`` is computed from. Both are written here through
:func:`corroseg.atomic.atomic_path` (temporary file, fsync, rename). And its checkpoint
callback keeps absolute paths, which :class:`RunCheckpoint` re-roots when a run has moved.
"""

from __future__ import annotations

import csv
import errno
import shutil
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.plugins import TorchCheckpointIO

from corroseg.atomic import atomic_path


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose ``save_checkpoint`` writes a temporary file, fsyncs and renames."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options (local files only)")
        with atomic_path(Path(path)) as tmp:
            try:
                torch.save(checkpoint, tmp)
            except RuntimeError as exc:  # torch reports a full disk or a failed write as a bare iostream error
                raise write_failure(path, exc) from None


def write_failure(path, exc: Exception) -> OSError:
    """An ``OSError`` naming ``path`` for a write that a library reported as another kind of error.

    The CLI prints it as one line; a full disk (the usual cause) is said as such.
    """
    folder = Path(path).parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    reason = " ".join(str(exc).split())[:160] or type(exc).__name__
    if free is not None and free < 1 << 20:
        return OSError(errno.ENOSPC, f"no space left on the device ({free:,} bytes free; {reason})", str(path))
    return OSError(errno.EIO, f"could not write the file ({reason})", str(path))


class RunCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose saved paths follow the run folder when it is moved.

    Lightning stores absolute paths in its state. A run copied or moved elsewhere and
    resumed would forget its best score (a worse epoch could then replace ``best.ckpt``)
    and keep reading ``best.ckpt`` from the old place. Every saved path is re-rooted
    in this run's ``checkpoints/`` (all of ours live there), so nothing outside the run
    folder is ever read.
    """

    @property
    def state_key(self) -> str:
        # ModelCheckpoint's key: checkpoints written before or after this class resume alike
        return "ModelCheckpoint" + super().state_key.removeprefix(type(self).__qualname__)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self.dirpath and state_dict.get("dirpath") not in (None, self.dirpath):
            state_dict = self._rerooted(state_dict)
        super().load_state_dict(state_dict)

    def _rerooted(self, state: dict[str, Any]) -> dict[str, Any]:
        def here(path):
            return str(Path(self.dirpath) / Path(path).name) if path else path

        state = dict(state, dirpath=self.dirpath)
        for key in ("best_model_path", "kth_best_model_path", "last_model_path"):
            state[key] = here(state.get(key))
        state["best_k_models"] = {here(path): score for path, score in state.get("best_k_models", {}).items()}
        return state


class _AtomicMetricsWriter(ExperimentWriter):
    """Lightning's CSV writer, but every save rewrites the whole file atomically."""

    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir=log_dir)
        self.rows: list[dict[str, float]] = []

    def save(self) -> None:
        if not self.metrics:
            return
        self._record_new_keys()
        self.rows.extend(self.metrics)
        self.metrics = []
        with atomic_path(self.metrics_file_path) as tmp, open(tmp, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=self.metrics_keys)
            writer.writeheader()
            writer.writerows(self.rows)


class AtomicCSVLogger(CSVLogger):
    """``CSVLogger`` whose ``metrics.csv`` is never torn by a kill (see the module docstring)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> _AtomicMetricsWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AtomicMetricsWriter(log_dir=self.log_dir)
        return self._experiment

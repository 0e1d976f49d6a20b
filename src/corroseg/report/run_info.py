"""What a run folder says about itself, read for the report (config, metrics, data, folds, curves)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from corroseg.train.rundir import THRESHOLD_FILE
from corroseg.train.config import CONFIG, DATA, METRICS


def _read_json(path: Path) -> dict | None:
    """A JSON object from ``path``; None when absent or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_yaml(path: Path) -> dict | None:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def _fold_number(path: Path) -> int:
    tail = path.name.removeprefix("fold_")
    return int(tail) if tail.isdigit() else 10**6


@dataclass


class RunInfo:
    """What a run folder says about itself; a cross-validation run's folds in ``folds``."""

    path: Path
    config: dict | None = None
    config_source: Path | None = None
    metrics: dict | None = None
    data: dict | None = None
    folds: list[Path] = field(default_factory=list)
    folds_info: dict | None = None
    threshold: dict | None = None

    @classmethod
    def read(cls, run: Path) -> RunInfo:
        folds = sorted((p for p in run.glob("fold_*") if p.is_dir()), key=_fold_number)
        info = cls(run, folds=folds, folds_info=_read_json(run / "folds.json"))
        for source in [run, *folds[:1]]:  # the run's own files, else the first fold's
            if info.config is None and (config := _read_yaml(source / CONFIG)) is not None:
                info.config, info.config_source = config, source / CONFIG
            info.data = info.data or _read_json(source / DATA)
        info.metrics = _read_json(run / METRICS)
        info.threshold = _read_json(run / THRESHOLD_FILE)
        return info

    def curves(self) -> dict:
        """Learning curves: the run's own, else one per fold (empty tables left out)."""
        from corroseg.train.fit import read_curves  # here: fit imports Lightning, which imports pyplot

        own = read_curves(self.path)
        if len(own):
            return {"run": own}
        tables = {fold.name: read_curves(fold) for fold in self.folds}
        return {name: table for name, table in tables.items() if len(table)}

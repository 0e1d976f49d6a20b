"""Evaluate a run on a labelled split: the challenge metric, its companions, per well; false alarms."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from corroseg.data.challenge import FALSE_ALARM_WELLS, find_label_file, pair, read_images, read_labels
from corroseg.data.corruption import corrupted_pixels
from corroseg.data.labelled import is_synthetic
from corroseg.data.wells import WidthOverride, check_width_wells, well_from_patches
from corroseg.errors import CorrosegInputError
from corroseg.infer.bundle import WellPredictor
from corroseg.models import metrics


def iou_nonempty(pred: np.ndarray, truth: np.ndarray) -> float:
    """The challenge metric over patches whose truth is not empty (empty ones score 1 for free)."""
    nonempty = truth.reshape(len(truth), -1).any(axis=1) if len(truth) else np.zeros(0, bool)
    return metrics.challenge_iou(pred[nonempty], truth[nonempty]) if nonempty.any() else float("nan")


def score(pred: np.ndarray, truth: np.ndarray, wells: np.ndarray, clean: np.ndarray | None = None) -> dict:
    """Every figure of ``corroseg evaluate`` for challenge-format masks ``(N, 36, 36)``.

    ``clean`` (boolean per patch: no corrupted pixel) adds ``clean_patches``: the
    challenge metric and ``iou_nonempty`` over those patches only, where the black-mask
    rule for corrupted patches changes nothing (fair across labelling conventions).
    """
    summary = metrics.summary(pred, truth, undefined=float("nan"))  # a model that flags nothing has no precision
    result = {
        "patches": summary["patches"],
        "iou": summary["challenge_iou"],
        "iou_nonempty": iou_nonempty(pred, truth),
        "global_iou": summary["global_iou"],
        "precision": summary["precision"],
        "recall": summary["recall"],
        "f1": summary["f1"],
        "false_alarm_rate": summary["false_alarm_rate"],
        "patches_with_corrosion": int(truth.reshape(len(truth), -1).any(axis=1).sum()),
        "per_well": {},
    }
    if clean is not None:
        result["clean_patches"] = {
            "patches": int(clean.sum()),
            "iou": metrics.challenge_iou(pred[clean], truth[clean]),
            "iou_nonempty": iou_nonempty(pred[clean], truth[clean]),
        }
    for well in np.unique(wells):
        rows = wells == well
        one = metrics.summary(pred[rows], truth[rows], undefined=float("nan"))
        result["per_well"][str(int(well))] = {
            "patches": one["patches"],
            "iou": one["challenge_iou"],
            "iou_nonempty": iou_nonempty(pred[rows], truth[rows]),
            "precision": one["precision"],
            "recall": one["recall"],
            "false_alarm_rate": one["false_alarm_rate"],
        }
    return result


def evaluate(predictor: WellPredictor, data: str | Path, split: str = "test",
             widths: WidthOverride | None = None, blank_corrupted: bool = True) -> dict:
    """Predict a labelled split (each patch inside its whole well) and score the labelled patches.

    Every image is predicted, labelled or not, so each well is whole and every patch
    sees its true neighbours; only the labelled patches are scored.
    """
    images = read_images(data, split)  # read once: every image is predicted, the labelled ones scored
    check_width_wells(widths, images.well_ids(), data)
    label_file = find_label_file(data, split) if Path(data).is_dir() else None
    if label_file is None:
        raise CorrosegInputError(data, f"no y_{split}*.csv labels to evaluate against")
    labels = read_labels(label_file)
    labelled, masks, _ = pair(images, labels)
    everything = predictor.patch_masks(images, blank_corrupted=blank_corrupted, widths=widths)
    row = {name: i for i, name in enumerate(images.names)}
    pred = everything[[row[name] for name in labelled.names]]
    clean = ~corrupted_pixels(labelled.images).reshape(len(pred), -1).any(axis=1)
    result = score(pred, masks, labelled.wells, clean)
    result["split"] = split
    result["labels"] = str(label_file)
    result["threshold"] = predictor.threshold
    return result


def synthetic_clean_wells(path: Path) -> list[int] | None:
    """The defect-free wells of a corroseg synthetic dataset (from ``synth.json``); None if not synthetic.

    ``path`` is the dataset folder (its ``x_train``) or one of its image folders.
    """
    root = path if is_synthetic(path) else path.parent if is_synthetic(path.parent) else None
    if root is None:
        return None
    split = "test" if path.name == "x_test" else "train"
    manifest = json.loads((root / "synth.json").read_text())
    clean = [int(key.split("_")[1]) for key, well in manifest.get("wells", {}).items()
             if key.startswith(f"{split}_") and well.get("kind") == "none"]
    if not clean:
        raise CorrosegInputError(path, f"this synthetic {split} split has no corrosion-free well to count false alarms on")
    return clean


def false_alarms(predictor: WellPredictor, path: str | Path, wells: Sequence[int] | None = None,
                 widths: WidthOverride | None = None) -> dict:
    """Share of valid pixels predicted as corrosion on wells known to be free of it.

    Parameters
    ----------
    path : path
        A folder of unlabelled patches (or a dataset directory: its ``x_train``).
    wells : sequence of int, optional
        Which wells; default: the real false-alarm wells 9 and 10 when the folder
        has them, the defect-free wells of a corroseg synthetic dataset, else every
        well in it.

    Each well is predicted whole; no-data pixels count neither way, and no patch is
    blanked (this is the physical figure, not the challenge convention).
    """
    images = read_images(path, "train")
    present = images.well_ids()
    if wells is None:
        synthetic = synthetic_clean_wells(Path(path))
        wells = synthetic if synthetic is not None else [w for w in FALSE_ALARM_WELLS if w in present] or present
    missing = sorted(set(wells) - set(present))
    if missing:
        raise CorrosegInputError(path, f"no patches of wells {missing}")
    per_well, flagged, valid_total = {}, 0, 0
    for well in wells:
        image = well_from_patches(images, well, widths).image
        probability = predictor.predict_well(image)
        valid = np.isfinite(probability)
        hits = int(predictor.segment_well(image, probability)[valid].sum())
        per_well[str(well)] = {"valid_pixels": int(valid.sum()), "flagged_pixels": hits,
                               "rate": hits / max(int(valid.sum()), 1)}
        flagged += hits
        valid_total += int(valid.sum())
    return {"source": str(path), "wells": list(map(int, wells)), "rate": flagged / max(valid_total, 1),
            "flagged_pixels": flagged, "valid_pixels": valid_total, "per_well": per_well}

"""Evaluate a run on a labelled split: the challenge metric, its companions, per well; false alarms.

:func:`score_split` predicts a split once and keeps everything derived from that one
prediction (:class:`ScoredSplit`): the figures ``corroseg evaluate`` prints, and the
probabilities and masks the report draws.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from corroseg.data.challenge import FALSE_ALARM_WELLS, PatchImages, find_label_file, pair, read_images, read_labels
from corroseg.data.corruption import corrupted_pixels
from corroseg.data.labelled import corrupted_patch_pixels, is_synthetic, load_labelled_wells
from corroseg.data.wells import WidthOverride, check_width_wells, well_from_patches
from corroseg.errors import CorrosegInputError
from corroseg.infer.bundle import WellPredictor
from corroseg.infer.sensitivity import defect_records, merge_records, summarise
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


@dataclass
class ScoredSplit:
    """One prediction of a labelled split and everything derived from it."""

    data: Path
    split: str
    images: PatchImages  # every image of the scored wells, labelled or not
    probability: np.ndarray  # (N, 36, 36) of ``images``
    masks: np.ndarray  # challenge-convention masks of ``images``
    labelled_rows: np.ndarray  # index into ``images`` of the labelled patches
    truth: np.ndarray  # label masks of the labelled patches
    figures: dict  # :func:`score` of the labelled patches, plus split, labels and threshold
    wells: list[int] | None = None  # the wells scored when not the whole split
    kinds: dict[int, str] | None = None  # synthetic defect kind of each well (:func:`synthetic_kinds`)
    widths: WidthOverride | None = None  # the width overrides the wells were rebuilt with

    @cached_property
    def sensitivity(self) -> dict:
        """:func:`split_sensitivity` of this prediction, measured once (``evaluate``, the demo, the report)."""
        return split_sensitivity(self)

    @property
    def description(self) -> str:
        """What was scored, in words (e.g. "the synthetic test split of data/synthetic")."""
        kind = "synthetic " if is_synthetic(self.data) else ""
        if self.wells is None:
            return f"the {kind}{self.split} split of {self.data}"
        return f"the wells {', '.join(map(str, self.wells))} of the {kind}{self.split} split of {self.data}"

    @property
    def labelled_images(self) -> np.ndarray:
        return self.images.images[self.labelled_rows]

    @property
    def labelled_masks(self) -> np.ndarray:
        return self.masks[self.labelled_rows]

    def clean(self) -> np.ndarray:
        """Labelled patches without a corrupted pixel: their labels are physical, not blanked by convention."""
        return ~corrupted_pixels(self.labelled_images).reshape(len(self.truth), -1).any(axis=1)


def score_split(predictor: WellPredictor, data: str | Path, split: str = "test", wells: Sequence[int] | None = None,
                widths: WidthOverride | None = None, blank_corrupted: bool = True) -> ScoredSplit:
    """Predict a labelled split once (each patch inside its whole well) and score the labelled patches.

    Every image is predicted, labelled or not, so each well is whole and every patch
    sees its true neighbours; only the labelled patches are scored. ``wells`` limits
    the split to those wells (e.g. a run's validation wells).
    """
    images = read_images(data, split)  # read once: every image is predicted, the labelled ones scored
    if wells is not None:
        images = images.subset(np.isin(images.wells, list(wells)))
        if not len(images):
            raise CorrosegInputError(data, f"has none of the wells {sorted(wells)} in its {split} split")
    check_width_wells(widths, images.well_ids(), data)
    label_file = find_label_file(data, split) if Path(data).is_dir() else None
    if label_file is None:
        raise CorrosegInputError(data, f"no y_{split}*.csv labels to evaluate against")
    labelled, truth, _ = pair(images, read_labels(label_file))
    if not len(labelled):
        raise CorrosegInputError(label_file, f"labels none of the {split} images of {data}")
    probability = predictor.predict_patches(images, widths=widths)
    masks = predictor.patch_masks(images, probability=probability, blank_corrupted=blank_corrupted, widths=widths)
    row = {name: i for i, name in enumerate(images.names)}
    rows = np.array([row[name] for name in labelled.names], dtype=np.int64)
    clean = ~corrupted_pixels(labelled.images).reshape(len(rows), -1).any(axis=1)
    figures = score(masks[rows], truth, labelled.wells, clean)
    figures.update(split=split, labels=str(label_file), threshold=predictor.threshold)
    return ScoredSplit(Path(data), split, images, probability, masks, rows, truth, figures,
                       None if wells is None else sorted(int(w) for w in wells), synthetic_kinds(data, split), widths)


def evaluate(predictor: WellPredictor, data: str | Path, split: str = "test",
             widths: WidthOverride | None = None, blank_corrupted: bool = True) -> dict:
    """The figures of :func:`score_split` (what ``corroseg evaluate`` prints), with its sensitivity."""
    scored = score_split(predictor, data, split, widths=widths, blank_corrupted=blank_corrupted)
    return {**scored.figures, "sensitivity": scored.sensitivity}


def split_sensitivity(scored: ScoredSplit) -> dict:
    """How faint a groove the model found on a scored split (:mod:`corroseg.infer.sensitivity`).

    The truth is the split's labelled wells as training loads them: the physical masks of a
    synthetic dataset's ``wells/`` where it has them (a groove under a dropout stays one
    groove), else the label CSV. Pixels of patches holding a corrupted pixel (empty masks by
    the challenge convention) and of unlabelled patches count neither way.
    """
    wells = [w for w in load_labelled_wells(scored.data, scored.split, widths=scored.widths)
             if scored.wells is None or w.well in scored.wells]
    records = []
    for well in wells:
        mask = well_from_patches(scored.images, well.well, scored.widths).assemble(scored.masks)
        records.append(defect_records(well.image, well.mask, mask, well.learn & ~corrupted_patch_pixels(well.image)))
    return summarise(merge_records(records), f"the {scored.split} wells")


def synthetic_kinds(data: str | Path, split: str) -> dict[int, str]:
    """Defect kind of each well of a split of a corroseg synthetic dataset (empty when not synthetic)."""
    manifest = Path(data) / "synth.json"
    try:
        wells = json.loads(manifest.read_text()).get("wells", {}) if manifest.is_file() else {}
    except (OSError, ValueError, AttributeError):
        return {}
    return {int(key.split("_")[1]): str(info.get("kind", "")) for key, info in wells.items()
            if key.startswith(f"{split}_") and isinstance(info, dict)}


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
    counts = {}
    for well in wells:
        image = well_from_patches(images, well, widths).image
        probability = predictor.predict_well(image)
        valid = np.isfinite(probability)
        counts[int(well)] = (int(valid.sum()), int(predictor.segment_well(image, probability)[valid].sum()))
    return false_alarm_figures(path, counts)


def false_alarm_figures(source: str | Path, counts: dict[int, tuple[int, int]]) -> dict:
    """The false-alarm figures of :func:`false_alarms` from each well's (valid pixels, flagged pixels)."""
    per_well = {str(well): {"valid_pixels": valid, "flagged_pixels": hits, "rate": hits / max(valid, 1)}
                for well, (valid, hits) in counts.items()}
    flagged = sum(hits for _, hits in counts.values())
    valid_total = sum(valid for valid, _ in counts.values())
    return {"source": str(source), "wells": list(counts), "rate": flagged / max(valid_total, 1),
            "flagged_pixels": flagged, "valid_pixels": valid_total, "per_well": per_well}

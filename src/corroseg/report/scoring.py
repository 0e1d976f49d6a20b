"""The predictions the report draws: a labelled split scored once, and real wells predicted once.

The report still predicts here; the next step moves this into ``workflows`` (``evaluate`` returning
what the report needs), so that ``report`` only draws what it is handed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corroseg.data.challenge import FALSE_ALARM_WELLS, PatchImages, find_label_file, pair, read_images, read_labels
from corroseg.data.corruption import corrupted_pixels
from corroseg.data.labelled import is_synthetic
from corroseg.data.wells import assemble, load_well, well_from_patches
from corroseg.errors import CorrosegInputError
from corroseg.infer.bundle import WellPredictor
from corroseg.infer.evaluate import score
from corroseg.report.markup import _Missing
from corroseg.report.run_info import _read_json


REAL_WELLS: tuple[tuple[str, int], ...] = (("train", 9), ("train", 10), ("train", 14), ("train", 15), ("test", 5))
"""Real wells pictured: x_train 9 and 10 (no corrosion: false alarms), then wells with visible grooves."""


SECTION_ROWS = 1000
"""Rows of a well pictured at full resolution (a whole real well has up to 70,740)."""


Progress = Callable[[str], None]


@dataclass


class Scored:
    """One prediction of a labelled split and everything derived from it."""

    data: Path
    split: str
    description: str
    images: PatchImages  # every image of the scored wells
    probability: np.ndarray  # (N, 36, 36) of ``images``
    masks: np.ndarray  # challenge-convention masks of ``images``
    labelled_rows: np.ndarray  # index into ``images`` of the labelled patches
    truth: np.ndarray  # masks of the labelled patches
    result: dict  # corroseg.infer.evaluate.score
    kinds: dict[int, str]  # synthetic defect kind of each well

    @property
    def labelled_images(self) -> np.ndarray:
        return self.images.images[self.labelled_rows]

    @property
    def labelled_masks(self) -> np.ndarray:
        return self.masks[self.labelled_rows]

    def clean(self) -> np.ndarray:
        """Labelled patches without a corrupted pixel: their labels are physical, not blanked by convention."""
        return ~corrupted_pixels(self.labelled_images).reshape(len(self.truth), -1).any(axis=1)


def _has_split(data: Path, split: str) -> bool:
    return (data / f"x_{split}").exists() or (data / f"x_{split}.zip").exists()


def _choose_split(data: Path, val_wells: Sequence[int] | None) -> tuple[str, list[int] | None, str]:
    """(split, wells or None for all, description) of the labelled patches to score."""
    kind = "synthetic " if is_synthetic(data) else ""
    if _has_split(data, "test") and find_label_file(data, "test") is not None:
        return "test", None, f"the {kind}test split of {data}"
    if val_wells and _has_split(data, "train") and find_label_file(data, "train") is not None:
        wells = sorted(int(w) for w in val_wells)
        return "train", wells, f"the validation wells {', '.join(map(str, wells))} of the {kind}train split of {data}"
    raise _Missing(f"{data} has no labelled test split (x_test/ and y_test*.csv) and the run names no "
                   "validation wells: nothing to score")


def _kinds(data: Path, split: str) -> dict[int, str]:
    manifest = _read_json(data / "synth.json") or {}
    wells = manifest.get("wells", {})
    return {int(key.split("_")[1]): str(info.get("kind", "")) for key, info in wells.items()
            if key.startswith(f"{split}_") and isinstance(info, dict)}


def score_split(predictor: WellPredictor, data: Path, val_wells: Sequence[int] | None, say: Progress) -> Scored:
    """Predict a labelled split once and score it as ``corroseg evaluate`` does."""
    if not data.is_dir():
        raise _Missing(f"dataset {data} not found")
    split, wells, description = _choose_split(data, val_wells)
    images = read_images(data, split)
    if wells is not None:
        images = images.subset(np.isin(images.wells, wells))
        if not len(images):
            raise _Missing(f"{data} has none of the validation wells {wells}")
    labelled, truth, _ = pair(images, read_labels(find_label_file(data, split)))
    if not len(labelled):
        raise _Missing(f"no image of the {split} split of {data} has a label")
    say(f"predicting {len(images.well_ids())} {split} wells ({len(images)} patches) of {data}")
    probability = predictor.predict_patches(images)
    masks = predictor.patch_masks(images, probability=probability)
    row = {name: i for i, name in enumerate(images.names)}
    rows = np.array([row[name] for name in labelled.names], dtype=np.int64)
    clean = ~corrupted_pixels(labelled.images).reshape(len(rows), -1).any(axis=1)
    result = score(masks[rows], truth, labelled.wells, clean)
    return Scored(data, split, description, images, probability, masks, rows, truth, result, _kinds(data, split))


@dataclass


class WellView:
    """A whole well, its prediction and (optionally) its truth, ready to picture."""

    title: str
    image: np.ndarray
    probability: np.ndarray
    mask: np.ndarray
    truth: np.ndarray | None = None
    well: int | None = None
    false_alarm_well: bool = False

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.probability)

    @property
    def flagged(self) -> float:
        """Share of valid pixels flagged (the false-alarm rate on a corrosion-free well)."""
        valid = self.valid
        return float(self.mask[valid].sum() / max(int(valid.sum()), 1))


def _scored_well(predictor: WellPredictor, scored: Scored, well: int) -> WellView:
    """A scored well rebuilt from its patches and their one prediction; the exact mask when the dataset has it."""
    rebuilt = well_from_patches(scored.images, well)
    rows, image = rebuilt.rows, rebuilt.image
    probability = rebuilt.assemble(scored.probability)
    mask = predictor.segment_well(image, probability)
    truth = _well_truth(scored, well, rows, image)
    kind = scored.kinds.get(well)
    title = f"{scored.split} well {well}" + (f" ({kind.replace('_', ' ')})" if kind else "")
    return WellView(title, image, probability, mask, truth, well=well)


def _well_truth(scored: Scored, well: int, rows: np.ndarray, image: np.ndarray) -> np.ndarray | None:
    """The physical mask of a synthetic well (``wells/*.npz``), else the label masks put together."""
    path = scored.data / "wells" / f"{scored.split}_well_{well}.npz"
    if path.is_file():
        try:
            exact = load_well(path).mask
        except CorrosegInputError:
            exact = None
        if exact is not None and exact.shape == image.shape:
            return exact
    labels = np.zeros((len(scored.images),) + scored.truth.shape[1:], np.uint8)
    labels[scored.labelled_rows] = scored.truth
    return assemble(labels[rows], image.shape[1])


def _real_split(real: Path, split: str, notes: list[str]) -> PatchImages | None:
    """The images of ``real/x_{split}``, or None with a note saying why not."""
    if not _has_split(real, split):  # a bare image folder would pass its wells off as this split's
        notes.append(f"{real}: no x_{split}/ folder (its real wells are not shown)")
        return None
    try:
        return read_images(real, split)
    except CorrosegInputError as exc:
        notes.append(str(exc))
        return None


def predict_real(predictor: WellPredictor, real: Path, wells: Sequence[tuple[str, int]],
                 say: Progress) -> tuple[list[WellView], list[str]]:
    """Predict real wells whole; returns the views and a note for each well that is absent."""
    views: list[WellView] = []
    notes: list[str] = []
    splits: dict[str, PatchImages | None] = {}
    for split, number in wells:
        if split not in splits:
            splits[split] = _real_split(real, split, notes)
        if splits[split] is None:
            continue
        if number not in splits[split].well_ids():
            notes.append(f"{real}: x_{split} has no well {number}")
            continue
        image = well_from_patches(splits[split], number).image
        say(f"predicting real {split} well {number} ({image.shape[0]:,} rows)")
        probability = predictor.predict_well(image)
        mask = predictor.segment_well(image, probability)
        false_alarm = split == "train" and number in FALSE_ALARM_WELLS
        title = f"real x_{split} well {number}"
        if false_alarm:
            title += " (no corrosion: every flag is a false alarm)"
        views.append(WellView(title, image, probability, mask, well=number, false_alarm_well=false_alarm))
    return views, notes


def false_alarm_rate(views: Sequence[WellView]) -> tuple[float, list[int]]:
    """Pooled share of valid pixels flagged on the false-alarm wells (as ``false_alarms`` counts it)."""
    fa = [v for v in views if v.false_alarm_well]
    flagged = sum(int(v.mask[v.valid].sum()) for v in fa)
    valid = sum(int(v.valid.sum()) for v in fa)
    wells = [v.well for v in fa]
    return (flagged / valid if valid else float("nan")), wells

"""Integrity and statistics of a dataset, an image folder or a whole-well file."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from corroseg.data.challenge import SPLITS, PatchImages, Split, find_image_source, load_split
from corroseg.data.corruption import PLACEHOLDERS, OUTLIER_LIMIT, corrupted_pixels
from corroseg.data.wells import WidthOverride, check_width_wells, layout_scores, load_well, resolve_width
from corroseg.errors import CorrosegInputError

EXAMPLES = 5



BLOCK = 4096
"""Patches (or well rows) summarised at a time: temporaries stay small for 100,000 patches."""


def _blocks(values: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, len(values), BLOCK):
        yield values[start:start + BLOCK]


def _pixel_kinds(values: np.ndarray) -> dict[str, int]:
    placeholders = {f"{value:g}" if value != int(value) else f"{value:.1f}": value for value in PLACEHOLDERS}
    kinds = dict.fromkeys((*placeholders, "nan", "inf", "corrupted"), 0)
    with np.errstate(invalid="ignore"):
        for block in _blocks(values):
            for name, value in placeholders.items():
                kinds[name] += int(np.count_nonzero(block == value))
            kinds["nan"] += int(np.count_nonzero(np.isnan(block)))
            kinds["inf"] += int(np.count_nonzero(np.isinf(block)))
            kinds["corrupted"] += int(np.count_nonzero(corrupted_pixels(block)))
    kinds["other_outliers"] = kinds.pop("corrupted") - sum(kinds.values())
    kinds["total"] = sum(kinds.values())
    return kinds


def _value_stats(patches: np.ndarray) -> dict[str, float]:
    """Per-patch std percentiles and value range over patches free of corruption."""
    stds, lows, highs = [], [], []
    for block in _blocks(patches):  # no copy of every clean patch at once
        clean = block[~corrupted_pixels(block).reshape(len(block), -1).any(axis=1)]
        if len(clean):
            stds.append(clean.reshape(len(clean), -1).std(axis=1))
            lows.append(clean.min())
            highs.append(clean.max())
    if not stds:
        return {}
    std = np.concatenate(stds)
    return {
        "patch_std_p5": float(np.percentile(std, 5)),
        "patch_std_median": float(np.median(std)),
        "patch_std_p95": float(np.percentile(std, 95)),
        "min": float(min(lows)),
        "max": float(max(highs)),
    }


def _touched_and_full(patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per patch: holds a corrupted pixel; is corrupted throughout."""
    touched, full = [np.zeros(0, bool)], [np.zeros(0, bool)]
    for block in _blocks(patches):
        bad = corrupted_pixels(block).reshape(len(block), -1)
        touched.append(bad.any(axis=1))
        full.append(bad.all(axis=1))
    return np.concatenate(touched), np.concatenate(full)


def summarize_images(images: PatchImages, widths: WidthOverride | None = None) -> dict:
    """Patches, wells, widths and corruption of one image folder."""
    touched, full = _touched_and_full(images.images)
    wells = {}
    for well in images.well_ids():
        rows = images.wells == well
        patches = images.images[rows]
        scores = layout_scores(patches)
        width, forced = resolve_width(well, patches, widths, scores)
        wells[str(well)] = {
            "patches": int(rows.sum()),
            "width": width,
            "width_source": "override" if forced else "inferred",
            "width_scores": {str(k): round(v, 3) for k, v in scores.items()},
            "rows": int(rows.sum()) * 36 * 36 // width,
            "corrupted_patches": int(touched[rows].sum()),
            "fully_corrupted_patches": int(full[rows].sum()),
        }
    return {
        "source": str(images.source),
        "patches": len(images),
        "wells": wells,
        "corrupted_patches": int(touched.sum()),
        "fully_corrupted_patches": int(full.sum()),
        "corrupted_patch_names": [n for n, t in zip(images.names, touched) if t][:EXAMPLES],
        "corrupted_pixels": _pixel_kinds(images.images),
        "values": _value_stats(images.images),
    }


def summarize_split(split: Split, widths: WidthOverride | None = None) -> dict:
    """Image summary plus label coverage and corrosion statistics where labels exist."""
    summary = summarize_images(split.images, widths)
    if split.masks is None:
        summary["labels"] = None
        return summary
    pairing = split.pairing
    masks = split.masks
    summary["labels"] = {
        "file": str(split.labels_source),
        "legacy_fixed": split.legacy_fixed,
        "paired": len(masks),
        "images_without_masks": len(pairing.images_without_masks),
        "masks_without_images": len(pairing.masks_without_images),
        "images_without_masks_examples": pairing.images_without_masks[:EXAMPLES],
        "masks_without_images_examples": pairing.masks_without_images[:EXAMPLES],
        "patches_with_corrosion": float(masks.reshape(len(masks), -1).any(axis=1).mean()) if len(masks) else 0.0,
        "corroded_pixel_fraction": float(masks.mean()) if len(masks) else 0.0,
    }
    return summary


def summarize_well_file(path: str | Path) -> dict:
    """Size, corruption and mask coverage of a whole-well ``.npz``."""
    well = load_well(path)
    bad = corrupted_pixels(well.image)
    rows_bad = bad.all(axis=1)
    return {
        "kind": "well",
        "source": str(path),
        "name": well.name,
        "rows": int(well.image.shape[0]),
        "width": well.width,
        "depth": {"start": well.depth_start, "step": well.depth_step, "unit": well.depth_unit},
        "corrupted_pixels": _pixel_kinds(well.image),
        "fully_corrupted_rows": int(rows_bad.sum()),
        "mask": None if well.mask is None else {"corroded_pixel_fraction": float(well.mask.mean())},
    }


def inspect_path(path: str | Path, widths: WidthOverride | None = None) -> dict:
    """Summary of a dataset directory, an image folder or zip, or a well ``.npz``.

    For a dataset directory the top-level keys describe the training split
    (the test split if there is no training split) and ``splits`` holds every
    split found.
    """
    path = Path(path)
    if path.suffix == ".npz":
        return summarize_well_file(path)
    if not path.exists():
        raise CorrosegInputError(path, "no such file or folder")
    found = {}
    if path.is_dir():
        for split in SPLITS:
            try:
                source = find_image_source(path, split)
            except CorrosegInputError:
                continue
            if source != path:  # an x_{split} folder or zip inside, not the folder itself
                found[split] = source
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        if found:
            splits = {f"x_{s}": summarize_split(load_split(path, s), widths) for s in found}
            summary = dict(next(iter(splits.values())))
            summary["splits"] = splits
        else:
            summary = summarize_split(load_split(path), widths)
        caught = [str(w.message) for w in record]
    every = summary.get("splits", {"": summary}).values()
    check_width_wells(widths, [int(w) for split in every for w in split["wells"]], path)
    summary = {"kind": "dataset" if found else "images", "path": str(path), **summary}
    summary["warnings"] = caught
    summary["outlier_limit"] = OUTLIER_LIMIT
    return summary

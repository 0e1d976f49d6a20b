"""How much a model flags on the real challenge wells, against the little that is published of their labels.

The real labels are not available. What is published: about 80.078% of the train patches
hold corrosion and about 7% of the pixels (the seed paper, over the 15 train wells), and
the kind of defect of each well (a public report). Wells 9 and 10 have none: every flag
there is a false alarm. The figures here are a proxy, not a score: a model can flag the
right share of patches in the wrong places. Flags are counted as the challenge counts
labels: on patch masks, with every patch holding a corrupted pixel left empty.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from corroseg.data.challenge import FALSE_ALARM_WELLS, PATCH_PIXELS, read_images
from corroseg.data.corruption import corrupted_pixels
from corroseg.data.wells import cut, well_from_patches
from corroseg.infer.bundle import WellPredictor
from corroseg.infer.evaluate import false_alarm_figures

LABELLED_PATCH_SHARE = 0.80078
"""Share of the real train patches whose label holds corrosion (the seed paper)."""

LABELLED_PIXEL_SHARE = 0.07
"""Share of the real train pixels labelled as corrosion (about; the seed paper)."""

DEFECT_KINDS: dict[int, str] = {
    1: "vertical groove", 4: "vertical groove", 5: "vertical groove", 12: "vertical groove",
    2: "discontinuous vertical groove", 3: "discontinuous vertical groove", 13: "discontinuous vertical groove",
    6: "diagonal", 8: "diagonal", 14: "diagonal", 15: "diagonal",
    7: "vertical and diagonal", 11: "vertical and diagonal",
    9: "none", 10: "none",
}
"""Defect kind of each real train well (a public report)."""

PEAK_THRESHOLDS = (0.1, 0.3, 0.5, 0.9)
"""Probabilities at which :func:`real_well_figures` counts the patches whose highest probability reaches them."""


def real_well_figures(predictor: WellPredictor, real: str | Path,
                      say: Callable[[str], None] = lambda _message: None) -> dict:
    """Per real train well: patches and pixels flagged (challenge convention) and the false-alarm rate.

    Each well's ``peak_shares`` also give, for every probability in ``PEAK_THRESHOLDS``, the share
    of its clean patches (no corrupted pixel) whose highest probability reaches it: how the model
    ranks the wells' patches, whatever threshold or walker makes its masks; ``deviation_std_in`` and
    ``deviation_p1_in`` say how loud its casing is (standard deviation and 1st percentile of its
    valid pixels' deviations, in).

    Returns ``{"per_well": {well: {...}}, "corroded_wells": {...}, "all_wells": {...},
    "false_alarm": {...}, "published": {...}}``; ``corroded_wells`` pools every well but 9
    and 10, ``all_wells`` pools all 15 (the population of the published shares).
    """
    images = read_images(real, "train")
    corrupted = corrupted_pixels(images.images).reshape(len(images), -1).any(axis=1)
    per_well: dict[str, dict] = {}
    for well in images.well_ids():
        rebuilt = well_from_patches(images, well)
        say(f"predicting real train well {well} ({rebuilt.image.shape[0]:,} rows)")
        probability = predictor.predict_well(rebuilt.image)
        mask = predictor.segment_well(rebuilt.image, probability)
        valid = np.isfinite(probability)
        patches = cut(mask).astype(bool)
        blank = corrupted[rebuilt.rows]
        patches[blank] = False  # the challenge's labels are empty there
        flagged = patches.reshape(len(patches), -1).any(axis=1)
        peaks = cut(np.nan_to_num(probability, nan=0.0)).reshape(len(patches), -1).max(axis=1)[~blank]
        per_well[str(well)] = {"kind": DEFECT_KINDS.get(well, "unknown"), "patches": int(len(patches)),
                               "patches_flagged": int(flagged.sum()), "pixels": int(patches.size),
                               "pixels_flagged": int(patches.sum()), "valid_pixels": int(valid.sum()),
                               "valid_pixels_flagged": int(mask[valid].sum()),
                               "peak_shares": {str(t): float((peaks >= t).mean()) if len(peaks) else 0.0
                                               for t in PEAK_THRESHOLDS},
                               **_texture_figures(rebuilt.image[valid])}
    for row in per_well.values():
        row["patch_share"] = row["patches_flagged"] / max(row["patches"], 1)
        row["pixel_share"] = row["pixels_flagged"] / max(row["pixels"], 1)
    counts = {w: (per_well[str(w)]["valid_pixels"], per_well[str(w)]["valid_pixels_flagged"])
              for w in FALSE_ALARM_WELLS if str(w) in per_well}
    corroded = [row for key, row in per_well.items() if int(key) not in FALSE_ALARM_WELLS]
    return {"per_well": per_well, "corroded_wells": _pooled(corroded), "all_wells": _pooled(per_well.values()),
            "false_alarm": false_alarm_figures(real, counts),
            "published": {"patch_share": LABELLED_PATCH_SHARE, "pixel_share": LABELLED_PIXEL_SHARE}}


def flipped_casing_alarms(predictor: WellPredictor, real: str | Path, split: str = "test",
                          say: Callable[[str], None] = lambda _message: None) -> dict:
    """Flags on real wells turned upside down: a false-alarm figure that needs no label and not wells 9 and 10.

    Metal loss is negative, so a real well with its deviations' sign flipped holds no corrosion:
    its real corrosion becomes ridges and its faint dips are the casing's own ridges turned over.
    Every pixel flagged there is a false alarm on real casing. Corrupted readings are left as
    they are (they are not deviations). ``split`` ``test`` takes the five x_test wells, which no
    recipe draws its training textures from; wells 9 and 10 never enter (``train``: wells 1-8, 11-15).

    Returns ``{"split", "per_well": {well: {"valid_pixels", "valid_pixels_flagged", "rate",
    "patch_share"}}, "rate"}`` (``rate``: flagged valid pixels over valid pixels, pooled).
    """
    images = read_images(real, split)
    per_well: dict[str, dict] = {}
    for well in images.well_ids():
        if split == "train" and well in FALSE_ALARM_WELLS:
            continue
        image = well_from_patches(images, well).image
        flipped = np.where(corrupted_pixels(image), image, -image).astype(np.float32)
        say(f"predicting real {split} well {well} upside down ({image.shape[0]:,} rows)")
        probability = predictor.predict_well(flipped)
        mask = predictor.segment_well(flipped, probability).astype(bool)
        valid = np.isfinite(probability)
        flagged = cut(mask & valid).reshape(-1, PATCH_PIXELS).any(axis=1)
        counted, hits = int(valid.sum()), int(mask[valid].sum())
        per_well[str(well)] = {"valid_pixels": counted, "valid_pixels_flagged": hits, "rate": hits / max(counted, 1),
                               "patch_share": float(flagged.mean()) if len(flagged) else 0.0}
    valid = sum(r["valid_pixels"] for r in per_well.values())
    return {"split": split, "per_well": per_well,
            "rate": sum(r["valid_pixels_flagged"] for r in per_well.values()) / max(valid, 1)}


def _texture_figures(values: np.ndarray) -> dict:
    """How loud a well's casing is: the spread and the 1st percentile of its valid deviations (in)."""
    if values.size == 0:
        return {"deviation_std_in": float("nan"), "deviation_p1_in": float("nan")}
    return {"deviation_std_in": float(np.std(values)), "deviation_p1_in": float(np.percentile(values, 1))}


def _pooled(rows) -> dict:
    rows = list(rows)
    patches = sum(r["patches"] for r in rows)
    pixels = sum(r["pixels"] for r in rows)
    shares = [r["patch_share"] for r in rows]
    return {"patch_share": sum(r["patches_flagged"] for r in rows) / max(patches, 1),
            "pixel_share": sum(r["pixels_flagged"] for r in rows) / max(pixels, 1),
            "lowest_patch_share": min(shares) if shares else float("nan")}

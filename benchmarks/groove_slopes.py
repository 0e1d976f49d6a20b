"""How steep the real wells' grooves run: the slope along which each well's narrow dips add up best.

Usage::

    python benchmarks/groove_slopes.py --real ../shared/data/challenge [--rows 145]

For each real train well but 9 and 10 (never used to choose), rebuilt whole from its patches:
a narrow-dip image (the mean of the pixels 2-3 px to either side, minus the pixel, in),
averaged over ``--rows`` rows along lines of every slope from -0.2 to 0.2 azimuth px per row
(WellNet's ``slanted_mean``); a slope scores the median over rows of the strongest line's
mean. A vertical groove scores best at 0; a helical wear groove at its own drift. It measures
the image, not a label: the slope of a well's most persistent narrow dips.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from corroseg.data.challenge import FALSE_ALARM_WELLS, read_images
from corroseg.data.corruption import valid_pixels
from corroseg.data.wells import well_from_patches
from corroseg.models.wellnet import slanted_mean

SLOPES = np.round(np.arange(-0.2, 0.2001, 0.01), 3)
"""Slopes tried, azimuth px per row."""
CLIP_IN = 0.1
"""Deviations beyond this (collar spikes, placeholders) are clipped before looking for dips (in)."""


def narrow_dips(image: np.ndarray) -> np.ndarray:
    """How far each pixel lies below the pixels 2-3 px to either side (in; azimuth wraps)."""
    image = np.clip(np.nan_to_num(image, nan=0.0), -CLIP_IN, CLIP_IN)
    sides = sum(np.roll(image, shift, axis=1) for shift in (2, -2, 3, -3)) / 4
    return (sides - image).astype(np.float32)


def slope_scores(image: np.ndarray, rows: int = 145) -> np.ndarray:
    """Per slope of ``SLOPES``: the median over rows of the strongest line's mean narrow dip (in)."""
    dips = torch.from_numpy(narrow_dips(image))[None, None]
    with torch.no_grad():
        return np.array([np.median(slanted_mean(dips, rows, float(s))[0, 0].amax(dim=-1).numpy()) for s in SLOPES])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=Path("../shared/data/challenge"))
    parser.add_argument("--rows", type=int, default=145, help="rows averaged along each line (odd)")
    args = parser.parse_args(argv)
    images = read_images(args.real, "train")
    print("| well | rows x width | best slope (px/row) | its score (1e-3 in) | vertical's score (1e-3 in) |")
    print("|---|---|---:|---:|---:|")
    for well in images.well_ids():
        if well in FALSE_ALARM_WELLS:
            continue
        image = well_from_patches(images, well).image
        image = np.where(valid_pixels(image), image, 0.0)
        scores = slope_scores(image, args.rows)
        best = int(scores.argmax())
        vertical = scores[list(SLOPES).index(0.0)]
        print(f"| {well} | {image.shape[0]} x {image.shape[1]} | {SLOPES[best]:+.2f} | {scores[best] * 1e3:.2f} | "
              f"{vertical * 1e3:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

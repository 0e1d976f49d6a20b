"""Telemetry faults as in the real data: placeholder rows, pixel runs, blank stretches, NaN.

Faults are placed patch by patch so that a chosen share of patches is touched
(about 3.5% in train and 7% in test, as in the challenge data); about a tenth of
touched train patches are blanked completely (34 of 342 in the real x_train).
"""

from __future__ import annotations

import numpy as np

from corroseg.data.challenge import PATCH_SIZE


def patch_slices(rows: int, width: int) -> list[tuple[slice, slice]]:
    """Row and column slices of every patch, in challenge order."""
    slices = []
    for block in range(rows // PATCH_SIZE):
        for half in range(width // PATCH_SIZE):
            slices.append((slice(block * PATCH_SIZE, (block + 1) * PATCH_SIZE),
                           slice(half * PATCH_SIZE, (half + 1) * PATCH_SIZE)))
    return slices


def add_faults(
    rng: np.random.Generator,
    image: np.ndarray,
    rate: float,
    full_share: float = 0.08,
    placeholder: float = -999.25,
    nan_probability: float = 0.01,
) -> np.ndarray:
    """Write faults into ``image`` in place; return the indices of touched patches.

    Parameters
    ----------
    rate : float
        Share of patches touched (the count is rounded up or down at random).
    full_share : float
        Share of touched patches that are blank (all placeholder).
    placeholder : float
        The placeholder value of this well (-999.25, or -999.0 for some tools).
    nan_probability : float
        Chance that a touched patch gets NaN instead (rare in the real data).
    """
    rows, width = image.shape
    slices = patch_slices(rows, width)
    # an exact count (rounded at random) keeps the share stable from seed to seed
    count = int(np.floor(rate * len(slices) + rng.random()))
    touched = np.sort(rng.choice(len(slices), size=min(count, len(slices)), replace=False))
    blank = np.zeros(len(touched), dtype=bool)
    blank[: int(np.floor(full_share * len(touched) + rng.random()))] = True
    for index, is_blank in zip(touched, rng.permutation(blank)):
        rs, cs = slices[index]
        patch = image[rs, cs]
        value = np.nan if rng.random() < nan_probability else placeholder
        kind = rng.random()
        if is_blank:
            patch[:] = value
        elif kind < 0.45:  # a few whole rows (a dropped sweep)
            start = int(rng.integers(0, PATCH_SIZE))
            patch[start : start + int(rng.integers(1, 4))] = value
        elif kind < 0.75:  # a run of pixels along a row
            r = int(rng.integers(0, PATCH_SIZE))
            start = int(rng.integers(0, PATCH_SIZE))
            patch[r, start : start + int(rng.integers(2, 30))] = value
        else:  # a partly blank stretch: the top or bottom rows of the patch
            n = int(rng.integers(4, PATCH_SIZE - 4))
            if rng.random() < 0.5:
                patch[:n] = value
            else:
                patch[-n:] = value
    return touched

"""Splits by well, so that no well contributes to both sides of a split.

Patches of one well are strongly correlated (a groove runs across many of them),
so a random patch split would leak and overstate quality.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import GroupShuffleSplit

from corroseg.errors import CorrosegUserError


def well_folds(wells: Sequence[int], folds: int, seed: int) -> list[list[int]]:
    """Split well ids into ``folds`` groups of near-equal size, shuffled by ``seed`` (no well in two)."""
    wells = sorted(set(int(w) for w in wells))
    if not 2 <= folds <= len(wells):
        raise CorrosegUserError(f"--folds {folds}: needs 2 to {len(wells)} folds (one well at least in each)")
    order = np.random.default_rng(seed).permutation(wells)
    return [sorted(int(w) for w in group) for group in np.array_split(order, folds)]


def well_train_val_split(
    well_ids: np.ndarray,
    val_wells: Sequence[int] | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(train_index, val_index)``: the given validation wells, or a random share of wells.

    Parameters
    ----------
    well_ids : ndarray of int
        Well id of every sample.
    val_wells : sequence of int, optional
        Wells for validation; if None, ``val_fraction`` of the wells (at least
        one) are drawn at random with ``seed``.
    """
    well_ids = np.asarray(well_ids)
    if val_wells is not None:
        unknown = set(val_wells) - set(np.unique(well_ids).tolist())
        if unknown:
            raise ValueError(f"validation wells not in the data: {sorted(unknown)}")
        is_val = np.isin(well_ids, list(val_wells))
        return np.flatnonzero(~is_val), np.flatnonzero(is_val)
    if len(np.unique(well_ids)) < 2:
        raise ValueError("a train/validation split by well needs at least two wells")
    splitter = GroupShuffleSplit(n_splits=1, test_size=val_fraction, random_state=seed)
    train, val = next(splitter.split(well_ids, groups=well_ids))
    return np.sort(train), np.sort(val)

"""Splits by well, so that no well contributes to both sides of a split.

Patches of one well are strongly correlated (a groove runs across many of them),
so a random patch split would leak and overstate quality.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from sklearn.model_selection import GroupKFold, GroupShuffleSplit


def well_kfold(well_ids: np.ndarray, n_splits: int = 5) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(train_index, val_index)`` for k folds grouped by well id."""
    well_ids = np.asarray(well_ids)
    n_wells = len(np.unique(well_ids))
    if n_splits < 2 or n_splits > n_wells:
        raise ValueError(f"n_splits must be in 2..{n_wells} (number of wells), got {n_splits}")
    yield from GroupKFold(n_splits=n_splits).split(well_ids, groups=well_ids)


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

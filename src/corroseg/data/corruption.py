"""Corrupted telemetry: placeholder values, NaN and inf, and the policy for handling them.

The imager writes placeholder values (-999.25, sometimes -999.0) where it has no
reading. A wall-thickness deviation is physically a fraction of an inch, so any
value whose magnitude exceeds ``OUTLIER_LIMIT`` is treated as corrupted too.

Why this policy (see ``docs/data.md``):

* Patches that are mostly corrupted carry no information but a label, so they are
  left out of training (``max_corrupted_fraction``).
* The remaining corrupted pixels are filled with ``fill_value = 0.0``: zero
  deviation from the row mean is nominal wall thickness, the one value that never
  looks like metal loss (corrosion is negative). A placeholder left as -999 would
  look like the deepest corrosion ever seen.
* Filled pixels are marked invalid so losses and metrics can ignore them.
* At prediction time a fully corrupted patch gets an empty mask: there is nothing
  to see, and an empty prediction is never a false alarm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PLACEHOLDERS = (-999.25, -999.0)
OUTLIER_LIMIT = 50.0


def corrupted_pixels(images: np.ndarray) -> np.ndarray:
    """Boolean array, True where a pixel is NaN, inf, a placeholder or an outlier."""
    return ~valid_pixels(images)


def valid_pixels(images: np.ndarray) -> np.ndarray:
    """Boolean array, True where a pixel is a real reading."""
    images = np.asarray(images)
    # comparisons with NaN are False, so this excludes NaN, inf and outliers with no float temporary
    with np.errstate(invalid="ignore"):
        valid = images >= -OUTLIER_LIMIT
        valid &= images <= OUTLIER_LIMIT
    return valid


def corrupted_fraction(patches: np.ndarray) -> np.ndarray:
    """Fraction of corrupted pixels of each patch of an ``(N, H, W)`` stack."""
    return corrupted_pixels(patches).reshape(len(patches), -1).mean(axis=1)


@dataclass(frozen=True)
class CorruptionPolicy:
    """How corrupted pixels are handled in training and prediction.

    Parameters
    ----------
    max_corrupted_fraction : float
        Patches with a larger fraction of corrupted pixels are left out of training.
    fill_value : float
        Raw value (inches) written into corrupted pixels; 0.0 is nominal thickness.
    """

    max_corrupted_fraction: float = 0.1
    fill_value: float = 0.0

    def __post_init__(self):
        if not 0.0 <= self.max_corrupted_fraction <= 1.0:
            raise ValueError("max_corrupted_fraction must be in [0, 1]")
        if not np.isfinite(self.fill_value) or abs(self.fill_value) > OUTLIER_LIMIT:
            raise ValueError("fill_value must be a finite, plausible thickness deviation")

    def keep_for_training(self, patches: np.ndarray) -> np.ndarray:
        """Boolean per patch: True if it may be used for training."""
        return corrupted_fraction(patches) <= self.max_corrupted_fraction

    def clean(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Filled copy of ``images`` and the validity mask (True = real reading)."""
        valid = valid_pixels(images)
        filled = np.where(valid, images, np.float32(self.fill_value)).astype(np.float32, copy=False)
        return filled, valid

    @staticmethod
    def blank_fully_corrupted(masks: np.ndarray, images: np.ndarray) -> np.ndarray:
        """Predicted masks with every fully corrupted patch emptied."""
        full = corrupted_pixels(images).reshape(len(images), -1).all(axis=1)
        masks = masks.copy()
        masks[full] = 0
        return masks

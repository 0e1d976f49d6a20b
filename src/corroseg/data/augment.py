"""The paper's augmentations, applied to an image, its mask and its validity mask together.

Every transform takes and returns ``(image, mask, valid)`` arrays of shape
``(..., H, W)`` (``mask``/``valid`` may be None), so masks move with images exactly.
Axis -1 is azimuth, axis -2 is depth.

Deterministic transforms (``HorizontalFlip``, ``VerticalFlip``, ``RollTransform``,
``ComposedFlips``) are used by :func:`expand` for the paper's "n transforms" dataset
expansion; the ``Random*`` versions draw per sample for on-the-fly augmentation.
``RollTransform`` is a circular shift along azimuth: exact for 36 px wide wells
(one patch covers the circumference), an approximation for 72 px wide ones, as in
the paper.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Arrays = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]


def _apply(fn, image, mask, valid) -> Arrays:
    return fn(image), None if mask is None else fn(mask), None if valid is None else fn(valid)


class HorizontalFlip:
    """Mirror along azimuth (left-right)."""

    def __call__(self, image, mask=None, valid=None) -> Arrays:
        return _apply(lambda a: np.flip(a, axis=-1).copy(), image, mask, valid)


class VerticalFlip:
    """Mirror along depth (up-down)."""

    def __call__(self, image, mask=None, valid=None) -> Arrays:
        return _apply(lambda a: np.flip(a, axis=-2).copy(), image, mask, valid)


class RollTransform:
    """Circular shift by ``shift`` pixels along azimuth."""

    def __init__(self, shift: int = 18):
        self.shift = int(shift)

    def __call__(self, image, mask=None, valid=None) -> Arrays:
        return _apply(lambda a: np.roll(a, self.shift, axis=-1), image, mask, valid)


class ComposedFlips:
    """Horizontal then vertical flip (a 180 degree rotation)."""

    def __call__(self, image, mask=None, valid=None) -> Arrays:
        return VerticalFlip()(*HorizontalFlip()(image, mask, valid))


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence):
        self.transforms = list(transforms)

    def __call__(self, image, mask=None, valid=None) -> Arrays:
        for transform in self.transforms:
            image, mask, valid = transform(image, mask, valid)
        return image, mask, valid


class _Random:
    def __init__(self, p: float = 0.5, seed: int | None = None):
        if not 0.0 <= p <= 1.0:
            raise ValueError("p must be in [0, 1]")
        self.p = p
        self.rng = np.random.default_rng(seed)


class RandomHorizontalFlip(_Random):
    """HorizontalFlip with probability ``p``."""

    def __call__(self, image, mask=None, valid=None) -> Arrays:
        return HorizontalFlip()(image, mask, valid) if self.rng.random() < self.p else (image, mask, valid)


class RandomVerticalFlip(_Random):
    """VerticalFlip with probability ``p``."""

    def __call__(self, image, mask=None, valid=None) -> Arrays:
        return VerticalFlip()(image, mask, valid) if self.rng.random() < self.p else (image, mask, valid)


class RandomRoll(_Random):
    """With probability ``p``, a circular azimuth shift drawn uniformly from 1..width-1."""

    def __call__(self, image, mask=None, valid=None) -> Arrays:
        if self.rng.random() >= self.p:
            return image, mask, valid
        shift = int(self.rng.integers(1, image.shape[-1]))
        return RollTransform(shift)(image, mask, valid)


def default_augmentation(seed: int | None = None) -> Compose:
    """Random horizontal flip, vertical flip and roll, each with probability 0.5."""
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, 2**31, size=3)
    return Compose(
        [RandomHorizontalFlip(seed=int(seeds[0])), RandomVerticalFlip(seed=int(seeds[1])), RandomRoll(seed=int(seeds[2]))]
    )


PAPER_TRANSFORMS = (HorizontalFlip(), VerticalFlip(), RollTransform(18), ComposedFlips())


def expand(
    images: np.ndarray,
    masks: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    n_transforms: int = len(PAPER_TRANSFORMS),
    transforms: Sequence = PAPER_TRANSFORMS,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray]:
    """The paper's dataset expansion: the originals plus ``n_transforms`` transformed copies.

    Returns
    -------
    images, masks, valid : ndarray
        ``(N * (n_transforms + 1), H, W)``; masks/valid None where not given.
    source : ndarray of int
        Index of the original sample of every row (to carry well ids along).
    """
    if not 0 <= n_transforms <= len(transforms):
        raise ValueError(f"n_transforms must be in 0..{len(transforms)}")
    parts = [(images, masks, valid)]
    parts += [t(images, masks, valid) for t in transforms[:n_transforms]]
    stack = lambda i: None if parts[0][i] is None else np.concatenate([p[i] for p in parts])  # noqa: E731
    source = np.tile(np.arange(len(images)), n_transforms + 1)
    return stack(0), stack(1), stack(2), source

"""Random-walker post-processing of a well's probability map (the CorroSeg paper's).

Pixels the model is confident about become markers (``probability >= high``:
corrosion, ``<= low``: background); scikit-image's random walker labels the rest
by diffusing over the well image, so uncertain edges follow the image's edges.
No-data pixels (NaN probability) are inactive: the walk goes around them and they
are never corrosion. A whole well is walked in blocks of rows with context rows, and
only the clusters of unknown pixels with both kinds of marker beside them (and those
markers) enter scikit-image's linear system, so the cost follows the uncertain area.

>>> predictor.postprocess = RandomWalker()              # then segment_well / patch_masks use it
>>> mask = random_walker_mask(filled_image, probability)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import random_walker

from corroseg.errors import CorrosegUserError

UNKNOWN, BACKGROUND, CORROSION, INACTIVE = 0, 1, 2, -1
MODES = ("cg", "cg_j", "bf")  # 'cg_mg' needs pyamg, which corroseg does not depend on


def _check(low: float, high: float, beta: float, block_rows: int, margin: int, mode: str, wrap: int) -> None:
    if not 0 < low < high < 1:
        raise CorrosegUserError(f"random walker: need 0 < low < high < 1, got low={low}, high={high}")
    if not beta > 0:
        raise CorrosegUserError(f"random walker: beta must be > 0, got {beta}")
    if int(block_rows) != block_rows or block_rows < 1:
        raise CorrosegUserError(f"random walker: block_rows must be a positive integer, got {block_rows}")
    if int(margin) != margin or margin < 0:
        raise CorrosegUserError(f"random walker: margin must be an integer >= 0, got {margin}")
    if int(wrap) != wrap or wrap < 0:
        raise CorrosegUserError(f"random walker: wrap must be an integer >= 0, got {wrap}")
    if mode not in MODES:
        raise CorrosegUserError(f"random walker: mode must be one of {', '.join(MODES)}, got {mode!r}")


def markers(probability: np.ndarray, low: float, high: float) -> np.ndarray:
    """Walker labels of a probability map: 2 corrosion, 1 background, 0 unknown, -1 no data."""
    labels = np.full(probability.shape, UNKNOWN, np.int8)
    with np.errstate(invalid="ignore"):
        labels[probability <= low] = BACKGROUND
        labels[probability >= high] = CORROSION
    labels[~np.isfinite(probability)] = INACTIVE
    return labels


def robust_scale(image: np.ndarray) -> float:
    """A well-level spread of the image (scaled MAD, std as fallback, 1 if constant)."""
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        return 1.0
    # in place, on the one copy: a long well's image is the largest array here
    centre = np.median(finite, overwrite_input=True)
    finite -= centre
    np.abs(finite, out=finite)
    scale = 1.4826 * float(np.median(finite, overwrite_input=True))
    if scale <= 0:
        scale = float(image[np.isfinite(image)].std())
    return scale if scale > 0 else 1.0


def _pad(a: np.ndarray, wrap: int) -> np.ndarray:
    return np.pad(a, ((0, 0), (wrap, wrap)), mode="wrap") if wrap else a


def _walk(data: np.ndarray, labels: np.ndarray, beta: float, mode: str) -> np.ndarray:
    """scikit-image's walker labels (1 or 2) of the unknown pixels of ``labels``."""
    spread = float(data.std())
    # skimage weights edges by exp(-beta / (10 * std(data)) * gradient**2) with the block's std;
    # rescaling beta by it makes the weight exp(-beta / 10 * gradient**2) in units of the well's
    # scale, so every block of the well is walked alike.
    effective = beta * spread if spread > 0 else beta
    with warnings.catch_warnings():
        # overshoots of [0, 1] within the solver's tolerance do not change the argmax we use
        warnings.filterwarnings("ignore", "The probability range is outside", UserWarning)
        return random_walker(data, labels.astype(np.int32), beta=effective, mode=mode, tol=1e-3)


def _neighbour_pairs(shape: tuple[int, int]):
    """Slice pairs (pixel, its 4-neighbour) over a 2-D array, one per direction."""
    whole, head, tail = slice(None), slice(None, -1), slice(1, None)
    for a, b in ((head, tail), (tail, head)):
        yield (a, whole), (b, whole)
        yield (whole, a), (whole, b)


def _touches(clusters: np.ndarray, count: int, labels: np.ndarray, kind: int) -> np.ndarray:
    """Per unknown cluster (index 0 unused): does it have a 4-neighbour marker of ``kind``?"""
    touched = np.zeros(count + 1, bool)
    for here, there in _neighbour_pairs(labels.shape):
        touched[clusters[here][labels[there] == kind]] = True
    touched[0] = False
    return touched


def _next_to(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` and their 4-neighbours."""
    grown = pixels.copy()
    for here, there in _neighbour_pairs(pixels.shape):
        grown[here] |= pixels[there]
    return grown


def _decide(labels: np.ndarray, by_threshold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mask decided without walking, and the unknown pixels left to the walk.

    Each cluster of unknown pixels depends only on the markers beside it: with
    corrosion and background markers it is walked; with corrosion markers only, the
    walk would flood it, so it follows the threshold; with no corrosion marker
    (background only, or walled in by no-data pixels) it is background.
    """
    clusters, count = ndi.label(labels == UNKNOWN)
    background = _touches(clusters, count, labels, BACKGROUND)
    corrosion = _touches(clusters, count, labels, CORROSION)
    mask = (labels == CORROSION).astype(np.uint8)
    follow = (corrosion & ~background)[clusters]
    mask[follow] = by_threshold[follow]
    return mask, (corrosion & background)[clusters]


def _walk_compact(data: np.ndarray, labels: np.ndarray, walk: np.ndarray, beta: float, mode: str) -> np.ndarray:
    """Corrosion (True) among the ``walk`` pixels, walking only the rows that hold them.

    The solution of a cluster depends only on it and the markers beside it, so the
    other pixels are made inactive and the rows holding none of these are dropped,
    keeping one inactive row between separated runs so they stay apart.
    """
    active = _next_to(walk) & (walk | (labels != UNKNOWN)) & (labels != INACTIVE)
    busy = active.any(axis=1)
    keep = busy | np.r_[False, busy[:-1]]  # a busy run and the one row after it (all inactive)
    compact = np.where(active, labels, INACTIVE)[keep]
    walked = _walk(data[keep], compact, beta, mode)
    corrosion = np.zeros(labels.shape, bool)
    corrosion[keep] = walked == CORROSION
    return corrosion & walk


def _walk_block(data: np.ndarray, labels: np.ndarray, probability: np.ndarray, threshold: float,
                beta: float, mode: str, wrap: int) -> np.ndarray:
    """0/1 mask of one block's labels (context rows included)."""
    if not (labels == UNKNOWN).any() or not (labels == CORROSION).any():
        return (labels == CORROSION).astype(np.uint8)  # nothing to decide, or nothing to spread
    width = labels.shape[1]
    wrap = min(wrap, width)  # the azimuth is circular: walk across the seam, then crop
    data, labels = _pad(data, wrap), _pad(labels, wrap)
    by_threshold = _pad(np.nan_to_num(probability, nan=0.0) >= threshold, wrap)
    mask, walk = _decide(labels, by_threshold)
    if walk.any():
        mask[walk] = _walk_compact(data, labels, walk, beta, mode)[walk]
    return mask[:, wrap:wrap + width]


def random_walker_mask(image: np.ndarray, probability: np.ndarray, low: float = 0.1, high: float = 0.9,
                       beta: float = 130.0, block_rows: int = 2048, margin: int = 64, mode: str = "cg_j",
                       threshold: float = 0.5, wrap: int = 4) -> np.ndarray:
    """Corrosion mask of a well by the random walker seeded with the confident pixels.

    Parameters
    ----------
    image : ndarray (rows, width)
        The well image, finite everywhere (corrupted pixels filled, e.g. by
        ``CorruptionPolicy.clean``).
    probability : ndarray (rows, width)
        Corrosion probability in [0, 1]; NaN on no-data pixels.
    low, high : float
        Background markers are ``probability <= low``, corrosion markers ``>= high``.
    beta : float
        Edge penalty: an edge between neighbours differing by ``g`` has weight
        ``exp(-beta / 10 * (g / s)**2)``, ``s`` the well's robust spread (scaled MAD).
    block_rows, margin : int
        The well is walked ``block_rows`` rows at a time, each block with ``margin``
        rows of context above and below that are walked but not kept.
    mode : {'cg_j', 'cg', 'bf'}
        scikit-image's solver.
    threshold : float
        Decides the clusters of unknown pixels that touch corrosion markers but no
        background marker (the walk would flood them with corrosion).
    wrap : int
        Columns wrapped around each side, so the walk crosses the azimuth seam.

    Returns
    -------
    ndarray (rows, width) uint8
        1 = corrosion, 0 elsewhere and on every no-data pixel. Corrosion only grows
        from corrosion markers: a cluster of unknown pixels touching none (e.g.
        walled in by no-data pixels) is background.
    """
    _check(low, high, beta, block_rows, margin, mode, wrap)
    image = np.asarray(image, dtype=np.float32)
    probability = np.asarray(probability, dtype=np.float32)
    if image.ndim != 2 or image.shape != probability.shape:
        raise CorrosegUserError(f"random walker: image {image.shape} and probability {probability.shape} "
                                "must be the same (rows, width)")
    if not np.isfinite(image).all():
        raise CorrosegUserError("random walker: the image must be finite (fill corrupted pixels first)")
    labels = markers(probability, low, high)
    scale = np.float32(robust_scale(image))
    rows = image.shape[0]
    mask = np.zeros(image.shape, np.uint8)
    for start in range(0, rows, block_rows):
        stop = min(start + block_rows, rows)
        top, bottom = max(start - margin, 0), min(stop + margin, rows)
        part = slice(top, bottom)
        walked = _walk_block(image[part] / scale, labels[part], probability[part], threshold, beta, mode, wrap)
        mask[start:stop] = walked[start - top:stop - top]
    mask[labels == INACTIVE] = 0
    return mask


@dataclass(frozen=True)
class RandomWalker:
    """Random-walker post-processing as a ``WellPredictor.postprocess`` callable.

    A predictor built with it (``PredictOptions(random_walker=True)``) takes every whole-well mask (and so
    challenge patches, evaluation and false alarms) come from :func:`random_walker_mask`.
    The run's decision threshold is passed on as its fallback ``threshold``.
    """

    low: float = 0.1
    high: float = 0.9
    beta: float = 130.0
    block_rows: int = 2048
    margin: int = 64

    def __post_init__(self) -> None:
        _check(self.low, self.high, self.beta, self.block_rows, self.margin, "cg_j", 0)

    @classmethod
    def from_config(cls, config) -> RandomWalker:
        """The walker of a run's config (its ``walker_low``, ``walker_high``, ``walker_beta``)."""
        return cls(config.walker_low, config.walker_high, config.walker_beta)

    def __call__(self, image: np.ndarray, probability: np.ndarray, threshold: float) -> np.ndarray:
        return random_walker_mask(image, probability, self.low, self.high, self.beta,
                                  self.block_rows, self.margin, threshold=threshold)

"""Prediction tiles: overlapping tiles of ``predict_rows`` rows along a whole well, blended, streamed in batches.

The names keep three ideas apart: a training *window* (``window_rows``, train/datamodule.py),
a prediction *tile* (``predict_rows``, here) and a random-walker *block* (``block_rows``,
infer/postprocess.py).

A *predictor* is any callable ``(N, 1, H, W) float32 array -> (N, 1, H, W) logits``;
this module never cares whether it is a torch model, an ensemble or ONNX Runtime.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextvars import ContextVar

import numpy as np

from corroseg.data.challenge import PATCH_SIZE

LogitsFn = Callable[[np.ndarray], np.ndarray]

ROWS_DONE: ContextVar[Callable[[int, int], None] | None] = ContextVar("rows_done", default=None)
"""Set by a caller that shows progress: called with (rows predicted so far, rows of the well) after each batch."""


def tile_starts(rows: int, tile: int, overlap: int) -> list[int]:
    """First rows of tiles of ``tile`` rows covering ``rows``, ``overlap`` rows shared.

    The last tile ends flush with the well (it may overlap its neighbour more).
    """
    if rows <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, rows - tile + 1, step))
    if starts[-1] + tile < rows:
        starts.append(rows - tile)
    return starts


def blend_weights(tile: int, overlap: int) -> np.ndarray:
    """Per-row weights of a tile: 1 in the middle, ramping down over the overlap.

    Rows near a tile's edge see less context, so where tiles overlap the one
    seeing a row from further inside counts more. Weights never reach zero, so the
    well's first and last rows (covered by one tile) are still defined.
    """
    weights = np.ones(tile, dtype=np.float32)
    if overlap:
        ramp = np.linspace(0.05, 1.0, overlap + 2, dtype=np.float32)[1:-1]
        weights[:overlap] = ramp
        weights[-overlap:] = ramp[::-1]
    return weights


def _column_blocks(width: int, patch_columns: bool) -> list[slice]:
    if patch_columns:
        return [slice(c, c + PATCH_SIZE) for c in range(0, width, PATCH_SIZE)]
    return [slice(0, width)]


def iter_tiles(image: np.ndarray, tile: int, overlap: int, patch_columns: bool = False) -> Iterator[tuple[int, slice]]:
    """(first row, column slice) of every tile of a well image."""
    for start in tile_starts(image.shape[0], tile, overlap):
        for columns in _column_blocks(image.shape[1], patch_columns):
            yield start, columns


def predict_well(
    predictor: LogitsFn,
    image: np.ndarray,
    tile: int = 576,
    overlap: int = 72,
    batch_size: int = 16,
    patch_columns: bool = False,
) -> np.ndarray:
    """Probability of corrosion for every pixel of a scaled, filled well image.

    Parameters
    ----------
    predictor : callable
        ``(N, 1, H, W) -> logits``.
    image : ndarray (rows, width), float32
        Scaled, with corrupted pixels filled (finite everywhere).
    tile, overlap : int
        Tile height and rows shared by neighbouring tiles (blended).
    batch_size : int
        Windows per predictor call: memory is bounded by one batch, whatever the
        well's length.
    patch_columns : bool
        Cut 36 px wide columns (for models trained on challenge patches) instead of
        the whole circumference.

    Returns
    -------
    ndarray (rows, width), float32 in [0, 1]
    """
    image = np.asarray(image, dtype=np.float32)
    rows, width = image.shape
    if rows < tile:  # a short well: pad with nominal thickness, crop the answer
        padded = np.zeros((tile, width), np.float32)
        padded[:rows] = image
        return predict_well(predictor, padded, tile, 0, batch_size, patch_columns)[:rows]
    weights = blend_weights(tile, overlap)[:, None]
    total = np.zeros((rows, width), np.float32)
    norm = np.zeros((rows, 1), np.float32)
    pending: list[tuple[int, slice]] = []

    report = ROWS_DONE.get()

    def flush() -> None:
        batch = np.stack([image[s : s + tile, c] for s, c in pending])[:, None]
        logits = np.asarray(predictor(batch), dtype=np.float32)[:, 0]
        probability = 1.0 / (1.0 + np.exp(-logits))
        for (s, c), p in zip(pending, probability):
            total[s : s + tile, c] += weights * p
        if report is not None:
            report(pending[-1][0] + tile, rows)
        pending.clear()

    for start, columns in iter_tiles(image, tile, overlap, patch_columns):
        if columns.start == 0:
            norm[start : start + tile] += weights
        pending.append((start, columns))
        if len(pending) == batch_size:
            flush()
    if pending:
        flush()
    total /= norm  # in place: no second whole-well array
    return total

"""Metal-loss defects with exact masks.

Every defect renders a *loss* map (inches of metal lost, >= 0) that is subtracted
from the background, and a mask by one labelling rule:

    a pixel is corrosion when the defect removes at least half of its local peak
    depth there, and at least ``MIN_LABELLED_LOSS`` (0.01 in).

"Local peak" is the groove's depth at that row, or the pit's or patch's deepest
point. So a groove of width w px is labelled about w px wide (its soft edges are
not), and a groove that fades out stops being labelled where it is shallower than
0.01 in, about the size of the background texture.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter, gaussian_filter1d

MIN_LABELLED_LOSS = 0.01
LABEL_FRACTION = 0.5

WELL_KINDS = ("vertical", "vertical_discontinuous", "diagonal", "vertical_and_diagonal", "pitting", "none")


@dataclass(frozen=True)
class DefectStyle:
    """How many grooves a well's circumference holds, how wide and how deep.

    ``grooves_per_half``: choices for the number of grooves per 36 px of
    circumference; ``groove_width``: range of widths at half depth (px);
    ``groove_depth``: median of the log-normal typical depth (in), also used by
    pits and localized loss; ``diagonal_slope``: range of a slanted groove's drift
    (azimuth px per row).
    """

    grooves_per_half: tuple[int, ...] = (1, 1, 2)
    groove_width: tuple[float, float] = (1.8, 4.2)
    groove_depth: float = 0.034
    shallow_share: float = 0.0
    """Share of grooves drawn around ``shallow_depth`` instead: faint grooves, about as deep as the texture."""
    shallow_depth: float = 0.014
    min_labelled_loss: float = MIN_LABELLED_LOSS
    """The shallowest loss labelled as corrosion (in)."""
    diagonal_slope: tuple[float, float] = (0.03, 0.4)


@dataclass
class DefectMap:
    """Loss and mask of a whole well, filled defect by defect."""

    rows: int
    width: int
    min_labelled_loss: float = MIN_LABELLED_LOSS
    loss: np.ndarray = field(init=False)
    mask: np.ndarray = field(init=False)
    defects: list[dict] = field(default_factory=list)

    def __post_init__(self):
        self.loss = np.zeros((self.rows, self.width))
        self.mask = np.zeros((self.rows, self.width), dtype=bool)

    def add(self, y0: int, columns: np.ndarray, loss: np.ndarray, peak: np.ndarray | float, record: dict) -> None:
        """Add ``loss`` (rows x len(columns)) at rows ``y0..``, labelled against ``peak``.

        ``peak`` is the local peak depth: a scalar, or one value per row.
        """
        rows = slice(y0, y0 + loss.shape[0])
        peak = np.broadcast_to(np.asarray(peak, dtype=np.float64).reshape(-1, 1), loss.shape)
        label = (loss >= LABEL_FRACTION * peak) & (loss >= self.min_labelled_loss)
        self.loss[rows, columns] += loss
        self.mask[rows, columns] |= label
        self.defects.append(record)


def _wrap_distance(x: np.ndarray, centre: np.ndarray, width: int) -> np.ndarray:
    return (x - centre + width / 2) % width - width / 2


def groove(
    defects: DefectMap,
    rng: np.random.Generator,
    column: float,
    start: int,
    stop: int,
    depth: float,
    width_px: float,
    slope: str = "vertical",
    interrupted: bool = False,
    slope_range: tuple[float, float] = (0.03, 0.4),
) -> None:
    """An axial groove from row ``start`` to ``stop``.

    Parameters
    ----------
    column : float
        Azimuth of its centre at ``start``.
    depth : float
        Typical metal loss at its centre (in); it varies smoothly along the groove.
    width_px : float
        Width in pixels (1-4).
    slope : {"vertical", "diagonal", "bending"}
        Vertical (tiny wander), slanted at a constant angle, or vertical stretches
        bending into slanted ones.
    interrupted : bool
        Gaps where the groove vanishes (a discontinuous groove).
    slope_range : (float, float)
        Drift of a slanted stretch (azimuth px per row; the bending kind starts at 0.05 or above).
    """
    length = stop - start
    if length <= 0:
        return
    if slope == "vertical":
        drift = gaussian_filter1d(rng.normal(0, 0.02, length), 50)
    elif slope == "diagonal":
        drift = np.full(length, rng.choice([-1, 1]) * rng.uniform(*slope_range))
    else:
        segment_rows = int(rng.integers(150, 900))
        steps = np.repeat(rng.choice([0.0, 0.0, 1.0], size=length // segment_rows + 1), segment_rows)[:length]
        drift = gaussian_filter1d(steps * rng.choice([-1, 1]) * rng.uniform(max(0.05, slope_range[0]), slope_range[1]), 25)
    centre = column + np.cumsum(drift)
    along = np.exp(gaussian_filter1d(rng.normal(0, 1, length), rng.uniform(20, 120)) * 4.0 * rng.uniform(0.05, 0.25))
    profile_depth = depth * along
    if interrupted:
        on = np.ones(length)
        y = 0
        while y < length:
            y += int(rng.integers(40, 400))
            gap = int(rng.integers(10, 120))
            on[y : y + gap] = 0.0
            y += gap
        profile_depth = profile_depth * gaussian_filter1d(on, 3)
    x = np.arange(defects.width)[None, :]
    dx = np.abs(_wrap_distance(x, centre[:, None], defects.width))
    # rounded cross-section, cos^2 bell at half depth width_px wide: the labelled
    # pixels hold between half and all of the local depth, the flanks less
    shape = np.where(dx < width_px, np.cos(np.pi * dx / (2 * width_px)) ** 2, 0.0)
    loss = profile_depth[:, None] * shape
    defects.add(start, np.arange(defects.width), loss, profile_depth,
                {"type": "groove", "start": start, "stop": stop, "column": float(column), "depth": float(depth),
                 "width_px": float(width_px), "slope": slope, "interrupted": interrupted})


def pit(defects: DefectMap, rng: np.random.Generator, row: int, column: float, depth: float, radius: float) -> None:
    """An elliptical pit; its loss falls from ``depth`` at the centre to 0 at the rim."""
    ry = radius * rng.uniform(0.8, 2.0)
    rx = radius * rng.uniform(0.7, 1.3)
    y0 = max(0, int(row - ry - 1))
    y1 = min(defects.rows, int(row + ry + 2))
    y = np.arange(y0, y1)[:, None]
    x = np.arange(defects.width)[None, :]
    r2 = ((y - row) / ry) ** 2 + (_wrap_distance(x, column, defects.width) / rx) ** 2
    loss = depth * np.clip(1 - r2, 0, None) ** 0.7
    defects.add(y0, np.arange(defects.width), loss, depth,
                {"type": "pit", "row": int(row), "column": float(column), "depth": float(depth), "radius": float(radius)})


def localized(defects: DefectMap, rng: np.random.Generator, row: int, column: float, depth: float, size: float) -> None:
    """An irregular patch of general metal loss about ``size`` px across."""
    h = int(size * rng.uniform(1.0, 2.5)) + 4
    y0 = max(0, row - h // 2)
    y1 = min(defects.rows, y0 + h)
    field = gaussian_filter(rng.standard_normal((y1 - y0, defects.width)), (size / 3, size / 4), mode=("nearest", "wrap"))
    y = np.arange(y0, y1)[:, None]
    x = np.arange(defects.width)[None, :]
    envelope = np.exp(-(((y - row) / (h / 2.5)) ** 2) - (_wrap_distance(x, column, defects.width) / (size / 2)) ** 2)
    blob = np.clip(field / (field.std() + 1e-12) + 1.0, 0, None) * envelope
    if blob.max() <= 0:
        return
    loss = depth * blob / blob.max()
    defects.add(y0, np.arange(defects.width), loss, depth,
                {"type": "localized", "row": int(row), "column": float(column), "depth": float(depth), "size": float(size)})


def groove_depth(rng: np.random.Generator, median: float = 0.034, lowest: float = 0.015) -> float:
    """Typical groove depth (in): log-normal around ``median``, at least ``lowest``."""
    return float(np.clip(rng.lognormal(np.log(median), 0.4), lowest, 0.3))


def plant_defects(rng: np.random.Generator, rows: int, width: int, kind: str,
                  style: DefectStyle = DefectStyle()) -> DefectMap:
    """Defects of a well of the given kind (one of ``WELL_KINDS``) in the given style."""
    if kind not in WELL_KINDS:
        raise ValueError(f"kind must be one of {WELL_KINDS}")
    defects = DefectMap(rows, width, style.min_labelled_loss)
    if kind in ("vertical", "vertical_discontinuous", "diagonal", "vertical_and_diagonal"):
        for half in range(max(1, width // 36)):
            for _ in range(int(rng.choice(list(style.grooves_per_half)))):
                slope = {
                    "vertical": "vertical",
                    "vertical_discontinuous": "vertical",
                    "diagonal": rng.choice(["diagonal", "bending"]),
                    "vertical_and_diagonal": rng.choice(["vertical", "bending"]),
                }[kind]
                start = int(rng.integers(0, max(1, rows // 10))) if rng.random() < 0.85 else int(rng.integers(0, rows // 2))
                stop = rows - int(rng.integers(0, max(1, rows // 10)))
                column = half * 36 + rng.uniform(2, 34)  # the draws keep their order: a seed gives the same wells
                faint = style.shallow_share > 0 and rng.random() < style.shallow_share
                depth = (groove_depth(rng, style.shallow_depth, lowest=style.min_labelled_loss) if faint
                         else groove_depth(rng, style.groove_depth))
                groove(defects, rng, column=column, start=start, stop=stop,
                       depth=depth, width_px=rng.uniform(*style.groove_width),
                       slope=slope, slope_range=style.diagonal_slope,
                       interrupted=kind == "vertical_discontinuous" or rng.random() < 0.15)
    if kind != "none":
        n_pits = rng.poisson(rows / 36 * (0.6 if kind == "pitting" else 0.05))
        for _ in range(n_pits):
            pit(defects, rng, int(rng.integers(0, rows)), rng.uniform(0, width), depth=groove_depth(rng, style.groove_depth),
                radius=rng.uniform(1.0, 3.0))
        n_local = rng.poisson(rows / 36 * (0.15 if kind == "pitting" else 0.01))
        for _ in range(n_local):
            localized(defects, rng, int(rng.integers(0, rows)), rng.uniform(0, width),
                      depth=groove_depth(rng, style.groove_depth) * 0.8, size=rng.uniform(4, 12))
    return defects

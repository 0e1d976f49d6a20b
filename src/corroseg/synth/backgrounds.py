"""Backgrounds of a casing: a manufacturing texture per pipe joint, collars between joints.

Coordinates: ``y`` is the row (depth), ``x`` the column (azimuth). The azimuth
wraps around, so every azimuthal wave has a whole number of cycles around the
circumference and every filter wraps along azimuth.

Textures are made over a 36 px circumference (see ``generator.generate_well``
for 72 px wells).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter, gaussian_filter1d

STYLES = ("helical", "lattice", "bands", "undulation", "speckled")


def _grid(rows: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(rows, dtype=np.float64)[:, None], np.arange(width, dtype=np.float64)[None, :]


def _cycles(rng: np.random.Generator, choices=(1, 1, 1, 1, 2, 2, 2, 3)) -> int:
    """Whole number of azimuthal cycles around a 36 px circumference; low ones are
    the most common (m = 1 carries 37% of the real 36 px wells' power)."""
    return int(rng.choice(choices))


def _unit(field: np.ndarray) -> np.ndarray:
    std = field.std()
    return field / std if std > 0 else field


def helical(rng, rows, width) -> np.ndarray:
    """Oblique stripes winding around the casing (one or two helices)."""
    y, x = _grid(rows, width)
    field = np.zeros((rows, width))
    for _ in range(rng.integers(1, 3)):
        m = _cycles(rng)
        pitch = rng.choice([-1, 1]) * rng.uniform(12, 300)
        field += rng.uniform(0.5, 1) * np.cos(2 * np.pi * (m * x / width + y / pitch) + rng.uniform(0, 2 * np.pi))
    return _unit(field)


def lattice(rng, rows, width) -> np.ndarray:
    """Checkerboards and dimples: the product of two crossing waves."""
    y, x = _grid(rows, width)
    m1, m2 = _cycles(rng, (1, 2, 2, 3)), _cycles(rng, (1, 2, 2, 3))
    p1 = rng.choice([-1, 1]) * rng.uniform(8, 80)
    p2 = rng.choice([-1, 1]) * rng.uniform(8, 80)
    a = np.cos(2 * np.pi * (m1 * x / width + y / p1) + rng.uniform(0, 2 * np.pi))
    b = np.cos(2 * np.pi * (m2 * x / width - y / p2) + rng.uniform(0, 2 * np.pi))
    return _unit(a * b + rng.uniform(0, 0.6) * a)


def bands(rng, rows, width) -> np.ndarray:
    """Vertical bands: an azimuthal profile that stays along depth, drifting slowly."""
    profile = gaussian_filter1d(rng.standard_normal(width), rng.uniform(2, 5), mode="wrap")
    drift = gaussian_filter1d(rng.standard_normal((rows, width)), rng.uniform(20, 80), axis=0, mode="nearest")
    drift = gaussian_filter1d(drift, 2.0, axis=1, mode="wrap")
    return _unit(_unit(profile)[None, :] + 0.6 * _unit(drift))


def undulation(rng, rows, width) -> np.ndarray:
    """Large smooth undulations: low-pass filtered noise."""
    noise = rng.standard_normal((rows, width))
    sigma = (rng.uniform(6, 40), rng.uniform(3, 9))
    return _unit(gaussian_filter(noise, sigma, mode=("nearest", "wrap")))


def speckled(rng, rows, width) -> np.ndarray:
    """Rough, streaky pipe: short horizontal streaks over a weak texture."""
    streaks = gaussian_filter(rng.standard_normal((rows, width)), (0.4, rng.uniform(1, 4)), mode=("nearest", "wrap"))
    return _unit(_unit(streaks) + 0.7 * undulation(rng, rows, width))


_MAKERS = {"helical": helical, "lattice": lattice, "bands": bands, "undulation": undulation, "speckled": speckled}


def joint_texture(rng: np.random.Generator, rows: int, width: int, style: str | None = None) -> np.ndarray:
    """Unit-variance texture of one pipe joint: a main style plus a weaker second one.

    Rows are modulated by a random gain, the row-to-row striping of the real logs.
    """
    style = style or rng.choice(STYLES, p=[0.3, 0.25, 0.2, 0.15, 0.1])
    second = rng.choice([s for s in STYLES if s != style])
    field = _MAKERS[style](rng, rows, width) + rng.uniform(0.0, 0.6) * _MAKERS[second](rng, rows, width)
    gain = 1 + rng.uniform(0.05, 0.35) * gaussian_filter1d(rng.standard_normal(rows), 0.7)
    return _unit(field * gain[:, None])


def collar(rng: np.random.Generator, width: int) -> np.ndarray:
    """A collar: a few rows of alternating +/- spikes (0.1-0.47 in) over a thicker band."""
    rows = int(rng.integers(4, 10))
    image = np.zeros((rows, width))
    image += rng.uniform(-0.03, 0.04)  # the collar band is thicker or thinner than the pipe
    spike_rows = rng.choice(rows, size=min(rows, int(rng.integers(2, 6))), replace=False)
    spacing = int(rng.integers(2, 5))
    strength = rng.uniform(0.1, 0.47)
    for r in spike_rows:
        start = int(rng.integers(0, spacing))
        columns = np.arange(start, width, spacing)
        signs = np.where(np.arange(len(columns)) % 2, 1.0, -1.0) * rng.choice([-1, 1])
        image[r, columns] = signs * strength * rng.uniform(0.6, 1.0, len(columns))
    return image


def streaks(rng: np.random.Generator, rows: int, width: int, level: float) -> np.ndarray:
    """Short streaks along azimuth, one row tall (part of what the tool sees)."""
    field = gaussian_filter1d(rng.standard_normal((rows, width)), rng.uniform(2, 6), axis=1, mode="wrap")
    return level * rng.uniform(0.3, 1.0) * _unit(field)


def sensor_noise(rng: np.random.Generator, rows: int, width: int, level: float) -> np.ndarray:
    """White noise of each reading."""
    return level * rng.standard_normal((rows, width))

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


def _warped_grid(rng, rows: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column coordinates displaced by a smooth random field (1-3 px).

    Real joint patterns are irregular versions of stripes and checkerboards; a
    warp turns clean sinusoids into them. The azimuthal displacement wraps, so
    patterns stay periodic around the casing.
    """
    y, x = _grid(rows, width)
    sigma = (rng.uniform(3, 12), rng.uniform(2, 5))
    shift = [gaussian_filter(rng.standard_normal((rows, width)), sigma, mode=("nearest", "wrap")) for _ in range(2)]
    amplitude = rng.uniform(0.5, 3.0)
    return y + amplitude * _unit(shift[0]), x + amplitude * _unit(shift[1])


def helical(rng, rows, width) -> np.ndarray:
    """Oblique stripes winding around the casing (one or two helices)."""
    y, x = _warped_grid(rng, rows, width)
    field = np.zeros((rows, width))
    for _ in range(rng.integers(1, 3)):
        m = _cycles(rng)
        pitch = rng.choice([-1, 1]) * rng.uniform(12, 300)
        field += rng.uniform(0.5, 1) * np.cos(2 * np.pi * (m * x / width + y / pitch) + rng.uniform(0, 2 * np.pi))
    return _unit(field)


def lattice(rng, rows, width) -> np.ndarray:
    """Checkerboards and dimples: the product of two crossing waves."""
    y, x = _warped_grid(rng, rows, width)
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
    """Smooth undulations and blobs: low-pass filtered noise, from large to small."""
    noise = rng.standard_normal((rows, width))
    sigma = (rng.uniform(6, 40), rng.uniform(3, 9)) if rng.random() < 0.5 else (rng.uniform(3, 10), rng.uniform(1.5, 4))
    return _unit(gaussian_filter(noise, sigma, mode=("nearest", "wrap")))


def speckled(rng, rows, width) -> np.ndarray:
    """Rough, streaky pipe: short horizontal streaks over a weak texture."""
    streaks = gaussian_filter(rng.standard_normal((rows, width)), (0.4, rng.uniform(1, 4)), mode=("nearest", "wrap"))
    return _unit(_unit(streaks) + 0.7 * undulation(rng, rows, width))


def striations(rng, rows, width) -> np.ndarray:
    """Fine vertical striations: azimuthal harmonics m = 4-8 (periods of 4.5-9 px over a
    36 px circumference) that persist along depth, drifting slowly. The real wells'
    fine-scale residual stays correlated over many rows (lag 3: 0.4-0.9) and
    oscillates along azimuth (lag 3: down to -0.5)."""
    theta = 2 * np.pi * np.arange(width)[None, :] / width
    field = np.zeros((rows, width))
    for m in range(4, 9):
        drift = gaussian_filter1d(rng.standard_normal((2, rows)), rng.uniform(30, 200), axis=1, mode="nearest")
        field += rng.uniform(0.2, 1.0) * (drift[0][:, None] * np.cos(m * theta) + drift[1][:, None] * np.sin(m * theta))
    return _unit(field)


_MAKERS = {"helical": helical, "lattice": lattice, "bands": bands, "undulation": undulation, "speckled": speckled}


def joint_texture(rng: np.random.Generator, rows: int, width: int, style: str | None = None) -> np.ndarray:
    """Unit-variance texture of one pipe joint: a main style plus a weaker second one.

    Rows are modulated by a random gain, the row-to-row striping of the real logs.
    """
    style = style or rng.choice(STYLES, p=[0.25, 0.2, 0.2, 0.25, 0.1])
    second = rng.choice([s for s in STYLES if s != style])
    field = _MAKERS[style](rng, rows, width) + rng.uniform(0.0, 0.6) * _MAKERS[second](rng, rows, width)
    field = _unit(field) + rng.uniform(0.1, 0.3) * striations(rng, rows, width)
    gain = 1 + rng.uniform(0.02, 0.15) * gaussian_filter1d(rng.standard_normal(rows), 0.7)
    return _unit(field * gain[:, None])


def collar(rng: np.random.Generator, width: int) -> np.ndarray:
    """A collar: a band of alternating +/- blocks (0.1-0.47 in), smeared over a few rows.

    Real collars are solid bands, two to four rows of strong values with blurred
    edges, over a band that is thicker or thinner than the pipe.
    """
    rows = int(rng.integers(5, 11))
    image = np.full((rows, width), rng.uniform(-0.03, 0.04))
    core = int(rng.integers(1, rows - 3))
    height = int(rng.integers(2, 5))
    block = int(rng.integers(1, 4))
    strength = rng.uniform(0.1, 0.47)
    columns = np.arange(width)
    signs = np.where((columns // block) % 2, 1.0, -1.0) * rng.choice([-1, 1])
    pattern = signs * strength * rng.uniform(0.5, 1.0, width)
    for r in range(core, min(rows, core + height)):
        image[r] += pattern * rng.uniform(0.5, 1.0)
    return gaussian_filter1d(image, rng.uniform(0.4, 1.0), axis=0, mode="nearest")


def streaks(rng: np.random.Generator, rows: int, width: int, level: float) -> np.ndarray:
    """Short streaks along azimuth, one row tall (part of what the tool sees)."""
    field = gaussian_filter1d(rng.standard_normal((rows, width)), rng.uniform(2, 6), axis=1, mode="wrap")
    return level * rng.uniform(0.1, 0.6) * _unit(field)


def sensor_noise(rng: np.random.Generator, rows: int, width: int, level: float) -> np.ndarray:
    """White noise of each reading plus sparse spikes.

    Real residuals are heavy-tailed (kurtosis 5-7; one rough well, 134): most
    wells have a spike in a few pixels per thousand, now and then a well is full
    of them.
    """
    noise = level * rng.standard_normal((rows, width))
    rate = 10 ** rng.uniform(-3.0, -1.8) if rng.random() > 0.1 else rng.uniform(0.03, 0.12)
    spikes = rng.random((rows, width)) < rate
    noise[spikes] += rng.laplace(0, level * rng.uniform(3, 8), spikes.sum())
    return noise

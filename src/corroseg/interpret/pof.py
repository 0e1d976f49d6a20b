"""Pipeline Operators Forum (POF) dimension class of a metal-loss feature.

The POF specification for in-line inspection ("Specifications and requirements for
in-line inspection of pipelines", POF 100) sorts a metal-loss anomaly by its axial
length L and circumferential width W, both measured against a geometric parameter
A = max(t, 10 mm), t the nominal wall thickness:

=========================  ===================================================
class                      rule (A = max(t, 10 mm))
=========================  ===================================================
general                    W >= 3A and L >= 3A
pitting                    1A <= W < 6A and 1A <= L < 6A and 0.5 < L/W < 2,
                           and not general
axial grooving             1A <= W < 3A and L/W >= 2
circumferential grooving   1A <= L < 3A and L/W <= 0.5
pinhole                    W < 1A and L < 1A
axial slotting             W < 1A <= L
circumferential slotting   L < 1A <= W
=========================  ===================================================

Which side of a boundary is inclusive, and why: every size bound is a half-open
interval, closed below and open above (``1A <= W < 3A``), and the two ratio bounds
are closed on the grooving side (``L/W >= 2`` axial grooving, ``L/W <= 0.5``
circumferential grooving; pitting is strictly between). That is how the POF table
writes them, and it is what makes the seven classes a partition: every positive
(L, W) falls in exactly one class, with no gap and no overlap on a boundary line.
A feature exactly 1A wide is therefore no longer a slot or a pinhole; one exactly
3A by 3A is general; one exactly twice as long as wide (and under 3A wide) is an
axial groove. The 6A limits of pitting are implied by the others (a feature that is
not general and has 0.5 < L/W < 2 is always under 6A both ways), so they never
decide a class on their own.

Ratios are compared by multiplication (``L >= 2 W`` rather than ``L / W >= 2``), so
a feature exactly on a ratio boundary is classified exactly, without rounding.
"""

from __future__ import annotations

import math

import numpy as np

CLASSES = (
    "general",
    "pitting",
    "axial grooving",
    "circumferential grooving",
    "pinhole",
    "axial slotting",
    "circumferential slotting",
)
"""The seven POF dimension classes, in the order of the POF table."""

MIN_A_MM = 10.0
"""The floor of the geometric parameter A: A = max(wall thickness, 10 mm)."""


def geometric_parameter_mm(wall_mm: float) -> float:
    """The POF geometric parameter A = max(t, 10 mm).

    Parameters
    ----------
    wall_mm : float
        Nominal wall thickness t, mm (positive, finite).

    Returns
    -------
    float
        A, mm. Casing walls are mostly under 10 mm, so A is mostly 10 mm.
    """
    _check_scalar("wall_mm", wall_mm)
    return max(float(wall_mm), MIN_A_MM)


def pof_class(length_mm: float, width_mm: float, wall_mm: float) -> str:
    """The POF dimension class of one metal-loss feature.

    Parameters
    ----------
    length_mm : float
        Axial length L of the feature, mm (positive, finite).
    width_mm : float
        Circumferential width W of the feature, mm (positive, finite).
    wall_mm : float
        Nominal wall thickness t, mm (positive, finite); A = max(t, 10 mm).

    Returns
    -------
    str
        One of :data:`CLASSES`. Boundaries follow the module docstring: size bounds
        closed below and open above, ratio bounds closed on the grooving side.

    Raises
    ------
    ValueError
        If a size is zero, negative, NaN or infinite (the message names it).

    Examples
    --------
    >>> pof_class(100, 100, 10)
    'general'
    >>> pof_class(50, 10, 7)   # A = 10 mm: 1A wide, 5 times as long
    'axial grooving'
    """
    for name, value in (("length_mm", length_mm), ("width_mm", width_mm), ("wall_mm", wall_mm)):
        _check_scalar(name, value)
    return str(_classify(np.float64(length_mm), np.float64(width_mm), np.float64(wall_mm))[()])


def pof_classes(length_mm, width_mm, wall_mm) -> np.ndarray:
    """The POF dimension classes of many features at once (numpy broadcasting).

    Parameters
    ----------
    length_mm, width_mm : array_like
        Axial lengths and circumferential widths, mm (positive, finite).
    wall_mm : array_like or float
        Nominal wall thickness(es), mm (positive, finite), broadcast against the sizes.

    Returns
    -------
    ndarray of str
        The broadcast shape of the inputs, each entry one of :data:`CLASSES`; the
        same answer :func:`pof_class` gives element by element.

    Raises
    ------
    ValueError
        If any entry is zero, negative, NaN or infinite (the message names the
        argument, how many entries are bad and the first of them).
    """
    arrays = {}
    for name, value in (("length_mm", length_mm), ("width_mm", width_mm), ("wall_mm", wall_mm)):
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be numbers of millimetres, got {value!r}") from None
        bad = ~(np.isfinite(array) & (array > 0))
        if bad.any():
            first = float(array[bad].flat[0])
            raise ValueError(f"{name} must be positive and finite (mm): {int(bad.sum())} of {array.size} "
                             f"value(s) are not, the first is {first!r}")
        arrays[name] = array
    length, width, wall = np.broadcast_arrays(arrays["length_mm"], arrays["width_mm"], arrays["wall_mm"])
    return _classify(length, width, wall)


def _classify(length: np.ndarray, width: np.ndarray, wall: np.ndarray) -> np.ndarray:
    """The class of each (L, W, t): the one rule of :func:`_rules` that holds."""
    return np.select(_rules(length, width, wall), CLASSES, default="").astype(f"<U{max(map(len, CLASSES))}")


def _rules(length: np.ndarray, width: np.ndarray, wall: np.ndarray) -> list[np.ndarray]:
    """The POF table's rules written out one per class, in the order of :data:`CLASSES`.

    The table is a partition (module docstring), so exactly one mask holds at each
    element; the tests check that on a grid through every boundary.
    """
    a = np.maximum(wall, MIN_A_MM)
    a3, a6 = 3 * a, 6 * a
    general = (width >= a3) & (length >= a3)
    return [
        general,
        (a <= width) & (width < a6) & (a <= length) & (length < a6)
        & (2 * length > width) & (length < 2 * width) & ~general,      # 0.5 < L/W < 2
        (a <= width) & (width < a3) & (length >= 2 * width),            # L/W >= 2
        (a <= length) & (length < a3) & (2 * length <= width),          # L/W <= 0.5
        (width < a) & (length < a),                                     # pinhole
        (width < a) & (length >= a),                                    # axial slotting
        (length < a) & (width >= a),                                    # circumferential slotting
    ]


def _check_scalar(name: str, value) -> None:
    """Raise ``ValueError`` unless ``value`` is one positive, finite number."""
    try:
        if isinstance(value, (bool, str, bytes)):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of millimetres, got {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be positive and finite (mm), got {value!r}")

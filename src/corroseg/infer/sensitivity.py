"""How faint a defect a model finds: detection against depth, in units of the casing's own texture.

A groove's depth alone does not say whether a model can see it: 0.012 in is plain on a
quiet casing and lost in a loud one. So each labelled defect is measured against its
well's texture: its **contrast** is its depth (the median of the pixels around it minus
the median of its own pixels, in inches) over the well's texture (the robust standard
deviation of its valid pixels, in inches). A model's sensitivity is the share of defects
found at each contrast, and the contrasts at which half and nine in ten are found
(``contrast_50``, ``contrast_90``; a logistic fit in log contrast).

Measured on held-out labelled wells (a run's validation wells when it is trained,
``RUN/sensitivity.json``; the test wells by ``corroseg evaluate``), it turns into a statement
about any well predicted later: on a casing whose texture is ``s`` in, the model finds
half of the grooves ``contrast_50 * s`` in deep (:func:`faintest_found`). Synthetic
defects are a model of real corrosion, so this is a figure of the model on synthetic
casing, scaled by the real casing's texture: a guide, not a guarantee.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from scipy import ndimage

from corroseg.atomic import write_json
from corroseg.data.corruption import corrupted_pixels
from corroseg.errors import CorrosegInputError
from corroseg.train.rundir import SENSITIVITY_FILE

COLLAR_IN = 0.08
"""Deviations beyond this (in) are collars or tool spikes, not texture: left out of every median."""

RING_PX = 3
"""Width (px) of the ring of pixels around a defect that gives its local casing level."""

GROOVE_ROWS = 36
"""A defect spanning at least this many rows (one patch) is a groove; shorter ones (pits, short
defects) are counted apart: the question here is how faint a groove the model follows."""

MIN_PIXELS = 24
"""Defects with fewer valid pixels than this (mostly on no-data) are left out."""

FOUND_SHARE = 0.5
"""A defect counts as found when at least this share of its pixels is flagged."""

CONTRAST_BINS = (-np.inf, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, np.inf)
"""Edges of the contrast bins of the table (depth over texture)."""

RECORD_KEYS = ("pixels", "rows", "depth_in", "contrast", "found_share")

MAD_TO_STD = 1.4826
"""Median absolute deviation to standard deviation for a normal distribution."""


def texture_std_in(image: np.ndarray, valid: np.ndarray | None = None) -> float:
    """The casing's texture: robust standard deviation (in) of a well's valid deviations.

    Collar and spike pixels (beyond ``COLLAR_IN``) are left out; the median absolute
    deviation keeps the rest of the corrosion from inflating it. NaN when nothing is valid.
    """
    image = np.asarray(image, dtype=np.float64)
    keep = np.isfinite(image) & (np.abs(image) < COLLAR_IN)
    if valid is not None:
        keep &= np.asarray(valid, dtype=bool)
    values = image[keep]
    if not values.size:
        return float("nan")
    return float(MAD_TO_STD * np.median(np.abs(values - np.median(values))))


def defect_records(image: np.ndarray, truth: np.ndarray, mask: np.ndarray,
                   valid: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every labelled defect of one well: its size, depth, contrast and the share of it flagged.

    Parameters
    ----------
    image : ndarray (rows, width)
        Thickness deviations, in.
    truth, mask : ndarray (rows, width)
        The labels and the model's mask (0/1).
    valid : ndarray (rows, width), optional
        Pixels to count; corrupted readings (NaN, placeholders) never count.

    Returns
    -------
    dict of ndarray, one entry per defect (8-connected labelled pixels; a defect cut by
    the azimuth seam counts as two): ``pixels``, ``depth_in``, ``contrast`` (depth over
    the well's :func:`texture_std_in`), ``rows`` (the depth rows it spans) and ``found_share``.
    Defects with fewer than ``MIN_PIXELS`` valid pixels or no ring of casing around them
    (valid, collars and spikes left out) are left out.
    """
    image = np.asarray(image, dtype=np.float64)
    valid = ~corrupted_pixels(image) & (True if valid is None else np.asarray(valid, dtype=bool))
    truth = np.asarray(truth, dtype=bool)
    casing = valid & (np.abs(np.where(valid, image, 0.0)) < COLLAR_IN)  # around a defect: no collar or spike
    texture = texture_std_in(image, valid & ~truth)
    labels, _ = ndimage.label(truth, structure=np.ones((3, 3), dtype=bool))
    records: dict[str, list] = {key: [] for key in RECORD_KEYS}
    pad = RING_PX + 1
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        rows = slice(max(box[0].start - pad, 0), box[0].stop + pad)
        cols = slice(max(box[1].start - pad, 0), box[1].stop + pad)
        defect = labels[rows, cols] == index
        inside = defect & valid[rows, cols]  # however deep: a deep groove is not a collar
        ring = ndimage.binary_dilation(defect, iterations=RING_PX) & ~truth[rows, cols] & casing[rows, cols]
        if inside.sum() < MIN_PIXELS or not ring.any():
            continue
        window = image[rows, cols]
        depth = float(np.median(window[ring]) - np.median(window[inside]))
        records["pixels"].append(int(inside.sum()))
        records["rows"].append(int(box[0].stop - box[0].start))
        records["depth_in"].append(depth)
        records["contrast"].append(depth / texture if texture > 0 else float("nan"))
        records["found_share"].append(float(np.asarray(mask[rows, cols], dtype=bool)[inside].mean()))
    return {key: np.asarray(values, dtype=np.int64 if key in ("pixels", "rows") else np.float64)
            for key, values in records.items()}


def merge_records(parts: Iterable[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The defect records of several wells as one set."""
    parts = list(parts)
    if not parts:
        return {key: np.zeros(0) for key in RECORD_KEYS}
    return {key: np.concatenate([p[key] for p in parts]) for key in RECORD_KEYS}


def summarise(records: dict[str, np.ndarray], source: str = "") -> dict:
    """A model's sensitivity from the defect records of held-out labelled wells.

    Returns ``grooves`` (how many defects span ``GROOVE_ROWS`` rows or more), ``table``
    (per contrast bin of the grooves: how many, share found, share of their pixels
    flagged, median depth in in), ``contrast_50`` and ``contrast_90`` (contrasts at which
    half / nine in ten grooves are found: a logistic fit of found or not against log
    contrast; None when the grooves cannot support one), ``short_defects`` (the shorter
    ones: how many, share found) and ``source``.
    """
    contrast = np.asarray(records["contrast"], dtype=np.float64)
    found = np.asarray(records["found_share"], dtype=np.float64) >= FOUND_SHARE
    usable = np.isfinite(contrast)
    groove = usable & (np.asarray(records["rows"]) >= GROOVE_ROWS)
    short = usable & ~groove
    table = []
    for low, high in zip(CONTRAST_BINS[:-1], CONTRAST_BINS[1:]):
        inside = groove & (contrast >= low) & (contrast < high)
        if inside.any():
            pixels = np.asarray(records["pixels"])[inside]
            flagged = np.asarray(records["found_share"])[inside] * pixels
            table.append({"contrast_from": None if np.isinf(low) else low,
                          "contrast_to": None if np.isinf(high) else high,
                          "grooves": int(inside.sum()), "found": float(found[inside].mean()),
                          "pixels_flagged": float(flagged.sum() / pixels.sum()),
                          "median_depth_in": float(np.median(np.asarray(records["depth_in"])[inside]))})
    observed = np.clip(contrast[groove], 0.05, None)
    fit = _logistic_fit(np.log(observed), found[groove])
    return {"grooves": int(groove.sum()), "groove_rows": GROOVE_ROWS, "found_share_rule": FOUND_SHARE,
            "faintest_contrast": float(observed.min()) if len(observed) else None,
            "table": table, "contrast_50": _contrast_at(fit, 0.5, observed),
            "contrast_90": _contrast_at(fit, 0.9, observed),
            "short_defects": {"defects": int(short.sum()),
                              "found": float(found[short].mean()) if short.any() else None},
            "source": source}


def _logistic_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float] | None:
    """Intercept and slope of P(found) = 1 / (1 + exp(-(a + b x))), or None without both outcomes."""
    if len(x) < 10 or y.all() or not y.any():
        return None
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1e4).fit(x.reshape(-1, 1), y.astype(int))
    return float(model.intercept_[0]), float(model.coef_[0, 0])


def _contrast_at(fit: tuple[float, float] | None, probability: float, observed: np.ndarray) -> float | None:
    """The contrast where the fit reaches ``probability``; None outside the ``observed`` contrasts.

    A fit that does not rise with depth, or that places the answer where no groove was seen
    (a flat, noisy curve extrapolated), gives no figure rather than a wild one.
    """
    if fit is None or fit[1] <= 0 or not len(observed):
        return None
    a, b = fit
    with np.errstate(over="ignore"):
        contrast = float(np.exp((np.log(probability / (1 - probability)) - a) / b))
    return contrast if np.isfinite(contrast) and observed.min() <= contrast <= observed.max() else None


def faintest_found(sensitivity: dict | None, texture_in: float) -> dict:
    """What a model's sensitivity says about a well whose texture is ``texture_in`` (in).

    Returns ``texture_std_in``, ``measured_on`` (what the sensitivity was measured on, or None
    when there is none for these runs and options) and, when the sensitivity holds them and
    the texture is a measurement (finite, above 0), ``depth_found_half_in`` and
    ``depth_found_most_in``: the median groove depths (in) found half of the time and nine
    times in ten on a casing of that texture.
    """
    figures = {"texture_std_in": texture_in, "measured_on": None}
    if sensitivity is None:
        return figures
    kind = "synthetic grooves" if sensitivity.get("synthetic", True) else "labelled grooves"
    figures["measured_on"] = (f"{sensitivity.get('grooves', 0)} {kind} of "
                              f"{sensitivity.get('groove_rows', GROOVE_ROWS)} rows or longer on "
                              f"{sensitivity.get('source', '?')}")
    if not (np.isfinite(texture_in) and texture_in > 0):
        return figures
    for key, name in (("contrast_50", "depth_found_half_in"), ("contrast_90", "depth_found_most_in")):
        if sensitivity.get(key) is not None:
            figures[name] = float(sensitivity[key] * texture_in)
    return figures


def write_sensitivity(run: str | Path, sensitivity: dict) -> Path:
    """Write ``RUN/sensitivity.json`` atomically."""
    return write_json(Path(run) / SENSITIVITY_FILE, sensitivity)


def read_sensitivity(run: str | Path) -> dict | None:
    """A run's measured sensitivity, or None when it has none (a run trained before it was measured)."""
    path = Path(run) / SENSITIVITY_FILE
    if not path.is_file():
        return None
    try:
        sensitivity = json.loads(path.read_text())
    except ValueError as exc:
        raise CorrosegInputError(path, f"unreadable sensitivity ({exc})") from None
    if not isinstance(sensitivity, dict):
        raise CorrosegInputError(path, "unreadable sensitivity (not a JSON object)")
    for key in ("contrast_50", "contrast_90"):
        value = sensitivity.get(key)
        if value is not None and not (isinstance(value, int | float) and np.isfinite(value) and value > 0):
            raise CorrosegInputError(path, f"unreadable sensitivity ({key} {value!r} is not a positive number)")
    options = sensitivity.get("mask_options")
    if not (isinstance(options, dict) and isinstance(options.get("threshold"), int | float)
            and isinstance(options.get("tta"), bool) and isinstance(options.get("random_walker"), bool)):
        raise CorrosegInputError(path, "unreadable sensitivity (mask_options needs a threshold, tta and random_walker)")
    return sensitivity


def describe(sensitivity: dict | None) -> str:
    """A model's sensitivity as one clause, after "faint grooves: " (``evaluate``, ``demo``, the report)."""
    if sensitivity is None:
        return "not measured for this run with these prediction options"
    grooves = (f"{sensitivity.get('grooves', 0)} grooves of {sensitivity.get('groove_rows', GROOVE_ROWS)} rows or "
               f"longer on {sensitivity.get('source')}")
    half, most = sensitivity.get("contrast_50"), sensitivity.get("contrast_90")
    if half is None and most is None:
        return f"{grooves}: no figure (too few, or all found, or none, or no rise with depth)"
    said = ([f"half of the grooves are found from a depth of {half:.2f} times the casing's texture"] if half is not None
            else [f"half or more are found at every depth seen, from {sensitivity.get('faintest_contrast', 0):.2f} "
                  "times the casing's texture"])
    if most is not None:
        said.append(f"nine in ten from {most:.2f} times")
    return ", ".join(said) + (f" ({grooves}; depth: median, against the casing around; texture: robust std "
                              "of the well's deviations)")


def describe_well(figures: dict) -> str:
    """What :func:`faintest_found` says about one well, in one sentence with units."""
    texture = figures.get("texture_std_in")
    if texture is None or not np.isfinite(texture) or texture <= 0:
        return "casing texture: not measurable (no valid reading, or no spread)"
    text = f"casing texture {texture:.3f} in"
    if figures.get("measured_on") is None:
        return text + "; how faint a groove is found: not measured for these runs and options"
    half, most = figures.get("depth_found_half_in"), figures.get("depth_found_most_in")
    if half is None and most is None:
        return text + f"; how faint a groove is found: no figure from {figures['measured_on']}"
    said = [f"grooves about {half:.3f} in deep (median) are found half of the time"] if half is not None else []
    if most is not None:
        said.append(f"{most:.3f} in nine times in ten" if said else f"grooves about {most:.3f} in deep (median) "
                    "are found nine times in ten")
    if half is not None:
        said[-1] += "; shallower ones are missed more often than not"
    return f"{text}: {', '.join(said)} (measured on {figures['measured_on']})"


def mask_options(threshold: float, tta: bool, random_walker: bool) -> dict:
    """The prediction options a sensitivity holds for (it is a property of the masks they make)."""
    return {"threshold": float(threshold), "tta": bool(tta), "random_walker": bool(random_walker)}


def applies(sensitivity: dict | None, options: dict) -> bool:
    """Whether a measured sensitivity holds for masks made with ``options`` (:func:`mask_options`)."""
    if sensitivity is None or not isinstance(sensitivity.get("mask_options"), dict):
        return False
    measured = sensitivity["mask_options"]
    return (abs(float(measured.get("threshold", -1)) - options["threshold"]) < 1e-9
            and measured.get("tta") == options["tta"] and measured.get("random_walker") == options["random_walker"])

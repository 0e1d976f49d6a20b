"""Whole-well strip plots: image, probability, predicted mask (and truth) along depth.

A well image has depth along rows (downwards) and azimuth along columns. A well is
drawn as one or more *groups* of side-by-side panels ``image | probability | mask``
(``| truth`` when a ground truth is given), each group one consecutive depth
segment. Wells of any length (144 to 500,000 rows) give a figure of bounded size:
long segments are reduced along depth by blocks of ``k`` rows so that thin features
survive on screen. The image keeps the block *minimum* (metal loss is negative, a
mean would wash a groove out), probability, mask and truth keep the block *maximum*,
and a block is no-data only when none of its pixels is a real reading.

Corrupted pixels (NaN, inf, placeholders such as -999.25) are drawn grey as
no-data in every panel, never as corrosion.

Figures are built on :class:`matplotlib.figure.Figure` directly; this module never
imports ``pyplot`` nor selects a backend, so importing it changes nothing for the
importer.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, ScalarFormatter

from corroseg.atomic import atomic_path
from corroseg.data.corruption import valid_pixels

__all__ = [
    "FALSE_NEGATIVE",
    "FALSE_POSITIVE",
    "NO_DATA",
    "OUTCOME_COLOURS",
    "OUTCOME_LABELS",
    "TRUE_NEGATIVE",
    "TRUE_POSITIVE",
    "outcome_categories",
    "save_figure",
    "well_strip_figure",
]

# Outcome categories of a predicted mask against the truth (see outcome_categories).
TRUE_NEGATIVE, TRUE_POSITIVE, FALSE_POSITIVE, FALSE_NEGATIVE, NO_DATA = range(5)

DPI = 100
NO_DATA_GREY = (0.62, 0.62, 0.62)
# Colours indexed by outcome category. Missed is amber, not blue: blue is metal loss in the image.
OUTCOME_COLOURS = np.array(
    [
        (1.0, 1.0, 1.0),  # true negative: white
        (0.10, 0.62, 0.20),  # true positive: green
        (0.88, 0.12, 0.10),  # false positive (false alarm): red
        (0.96, 0.62, 0.04),  # false negative (missed): amber
        NO_DATA_GREY,
    ],
    dtype=np.float32,
)
OUTCOME_LABELS = ("clean", "found", "false alarm", "missed", "no data")
"""Words for the outcome categories, the same in every legend of the report."""
# Colours of a plain 0/1 mask: 0 white, 1 near-black, 2 no data.
MASK_COLOURS = np.array([(1.0, 1.0, 1.0), (0.12, 0.12, 0.12), NO_DATA_GREY], dtype=np.float32)

# Layout, in inches.
MAX_WIDTH, MAX_HEIGHT, MIN_WIDTH = 20.0, 12.0, 6.5
GROUP_LEFT = 0.62  # depth tick labels and depth label of each group
PANEL_GAP = 0.05
GROUP_GAP = 0.12
RIGHT = 1.25  # colour bars and legend
EDGE = 0.1
TOP = 0.85  # three title lines and the panel titles
BOTTOM = 0.4


def outcome_categories(mask, truth, valid=None) -> np.ndarray:
    """Category of each pixel of a predicted mask compared with the truth.

    Parameters
    ----------
    mask, truth : array_like
        Predicted and true masks (nonzero = corrosion), same shape.
    valid : array_like of bool, optional
        Real readings; other pixels get ``NO_DATA``. Default: all valid.

    Returns
    -------
    numpy.ndarray of uint8
        ``TRUE_NEGATIVE`` (0), ``TRUE_POSITIVE`` (1), ``FALSE_POSITIVE`` (2),
        ``FALSE_NEGATIVE`` (3) or ``NO_DATA`` (4).
    """
    predicted = np.asarray(mask) != 0
    actual = np.asarray(truth) != 0
    if predicted.shape != actual.shape:
        raise ValueError(f"mask shape {predicted.shape} differs from truth shape {actual.shape}")
    out = np.full(predicted.shape, TRUE_NEGATIVE, dtype=np.uint8)
    out[predicted & actual] = TRUE_POSITIVE
    out[predicted & ~actual] = FALSE_POSITIVE
    out[~predicted & actual] = FALSE_NEGATIVE
    if valid is not None:
        out[~np.asarray(valid, dtype=bool)] = NO_DATA
    return out


def _reduce_rows(values, valid, k: int, how: str) -> np.ndarray:
    """Reduce ``values`` along axis 0 by blocks of ``k`` rows, over valid pixels only.

    ``how`` is ``"min"`` or ``"max"``. The last block may be shorter. A block with no
    valid pixel is NaN. Returns float32 of shape ``(ceil(rows / k), width)``.
    """
    if how not in ("min", "max"):
        raise ValueError(f"how must be 'min' or 'max', not {how!r}")
    values = np.asarray(values, dtype=np.float32)
    valid = np.asarray(valid, dtype=bool)
    if k <= 1:
        return np.where(valid, values, np.float32(np.nan)).astype(np.float32)
    rows, width = values.shape
    blocks = -(-rows // k)
    fill = np.float32(np.inf if how == "min" else -np.inf)
    work = np.full((blocks * k, width), fill, dtype=np.float32)
    np.copyto(work[:rows], values, where=valid)
    work = work.reshape(blocks, k, width)
    out = work.min(axis=1) if how == "min" else work.max(axis=1)
    out[np.isinf(out)] = np.nan  # no valid pixel in the block
    return out


def _reduce(values, valid, k_rows: int, k_cols: int, how: str) -> np.ndarray:
    """Block reduction along depth (``k_rows``) then azimuth (``k_cols``); NaN = no data."""
    out = _reduce_rows(values, valid, k_rows, how)
    if k_cols > 1:
        out = _reduce_rows(out.T, np.isfinite(out).T, k_cols, how).T
    return out


def _colour_limit(image: np.ndarray, valid: np.ndarray, max_samples: int = 2_000_000) -> float:
    """Symmetric colour limit: 3 robust standard deviations (MAD) of valid pixels."""
    rows = slice(None, None, max(1, image.size // max_samples))  # every n-th row
    sample = image[rows][valid[rows]].astype(np.float64)
    if sample.size == 0:
        return 0.05
    median = np.median(sample)
    limit = 3.0 * 1.4826 * float(np.median(np.abs(sample - median)))
    if not np.isfinite(limit) or limit <= 0:
        limit = 3.0 * float(np.std(sample))
    if not np.isfinite(limit) or limit <= 0:
        limit = 0.05
    return limit


def _fmt(value: float) -> str:
    """Short depth number: at most two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _as_2d(name: str, array, shape, dtype=None) -> np.ndarray:
    array = np.asarray(array) if dtype is None else np.asarray(array, dtype=dtype)
    if array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}, expected the image shape {shape}")
    return array


def well_strip_figure(
    image,
    probability,
    mask,
    *,
    truth=None,
    valid=None,
    depth_start: float = 0.0,
    depth_step: float = 1.0,
    depth_unit: str = "row",
    title: str = "",
    max_panel_rows: int = 1500,
    max_panels: int = 8,
) -> Figure:
    """Figure of a whole well: image, probability and predicted mask along depth.

    Parameters
    ----------
    image : array_like, shape (rows, width)
        Wall-thickness deviation in inches; negative is metal loss. NaN and
        placeholders (-999.25) are drawn grey as no-data.
    probability : array_like, shape (rows, width)
        Predicted corrosion probability in [0, 1]; NaN is no data.
    mask : array_like, shape (rows, width)
        Predicted mask, nonzero = corrosion.
    truth : array_like, optional
        True mask; adds a ``truth`` panel and colours the mask panel by outcome
        (green found, red false alarm, amber missed).
    valid : array_like of bool, optional
        Real readings; default (and always at most) the valid pixels of ``image``.
    depth_start, depth_step : float
        Depth of row 0 and depth increment per row.
    depth_unit : str
        Unit shown on the depth axis.
    title : str
        Name of the well, first in the figure title.
    max_panel_rows : int
        Wells up to this many rows are drawn as one group; longer wells are split
        into ``ceil(rows / max_panel_rows)`` segments, at most ``max_panels``.
    max_panels : int
        Most depth segments (groups of panels) side by side.

    Returns
    -------
    matplotlib.figure.Figure
        At most 20 x 12 inches. A segment with more rows than ``max_panel_rows`` or
        than the panel has pixels at 100 dpi is reduced by blocks of ``k`` rows (min
        image, max probability/mask/truth); the subtitle says so. The image colour
        scale is symmetric, +-3 robust standard deviations of the valid pixels, widened
        in a reduced figure to the spread of the block minima (which sit below zero
        even on sound wall), so that only real metal loss is dark blue.
    """
    image = np.asarray(image)
    if image.ndim != 2 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image must be a non-empty 2-D array (rows, width), got shape {image.shape}")
    if max_panel_rows < 1 or max_panels < 1:
        raise ValueError("max_panel_rows and max_panels must be at least 1")
    if not (np.isfinite(depth_start) and np.isfinite(depth_step) and depth_step != 0):
        raise ValueError("depth_start must be finite and depth_step finite and nonzero")
    shape = image.shape
    rows, width = shape
    probability = _as_2d("probability", probability, shape, np.float32)
    predicted = _as_2d("mask", mask, shape) != 0
    actual = None if truth is None else _as_2d("truth", truth, shape) != 0
    ok = valid_pixels(image)
    if valid is not None:
        ok &= _as_2d("valid", valid, shape, bool)
    image = image.astype(np.float32, copy=False)

    # Headline numbers, on valid pixels at full resolution.
    n_valid = int(np.count_nonzero(ok))
    predicted_valid = predicted & ok
    if n_valid:
        stats = f"predicted corroded {np.count_nonzero(predicted_valid) / n_valid:.2%} of valid pixels"
    else:
        stats = "no valid pixels"
    stats += f" (valid {n_valid / image.size:.1%})"
    if actual is not None and n_valid:
        actual_valid = actual & ok
        both = np.count_nonzero(predicted_valid & actual_valid)
        total = np.count_nonzero(predicted_valid) + np.count_nonzero(actual_valid)
        dice = f"{2 * both / total:.3f}" if total else "n/a (both empty)"
        stats += f"; truth {np.count_nonzero(actual_valid) / n_valid:.2%}, Dice {dice}"
    limit = _colour_limit(image, ok)

    # Segments along depth; every segment gets the same depth length on screen.
    n_segments = min(max_panels, math.ceil(rows / max_panel_rows))
    segment_rows = math.ceil(rows / n_segments)
    n_segments = math.ceil(rows / segment_rows)
    columns = ["image", "probability", "mask"] + (["truth"] if actual is not None else [])
    n_cols = len(columns)

    # Layout in inches: panel width shrinks to keep the figure within MAX_WIDTH.
    fixed = n_segments * (GROUP_LEFT + (n_cols - 1) * PANEL_GAP) + (n_segments - 1) * GROUP_GAP + RIGHT + EDGE
    panel_w = min(0.9 if width <= 36 else 1.4, (MAX_WIDTH - fixed) / (n_segments * n_cols))
    fig_w = fixed + n_segments * n_cols * panel_w
    if fig_w < MIN_WIDTH:
        panel_w = (MIN_WIDTH - fixed) / (n_segments * n_cols)
        fig_w = MIN_WIDTH
    fig_h = MAX_HEIGHT if n_segments > 1 else float(np.clip(3.0 + rows / 120.0, 6.0, MAX_HEIGHT))
    panel_h = fig_h - TOP - BOTTOM

    # Block sizes: never more data rows (columns) than the panel has screen pixels.
    screen_rows = max(1, int(panel_h * DPI))
    screen_cols = max(1, int(panel_w * DPI))
    k = math.ceil(segment_rows / min(max_panel_rows, screen_rows))
    k_cols = math.ceil(width / screen_cols)

    fig = Figure(figsize=(fig_w, fig_h), dpi=DPI)
    image_cmap = colormaps["seismic"].with_extremes(bad=NO_DATA_GREY)
    prob_cmap = colormaps["Purples"].with_extremes(bad=NO_DATA_GREY)
    short = panel_w < 0.6
    names = {"image": "img" if short else "image", "probability": "prob" if short else "probability",
             "mask": "mask", "truth": "truth"}

    def depth(row: float) -> float:
        return depth_start + row * depth_step

    # Reduce every segment first: the colour limit of a reduced image follows what is shown.
    segments = []
    for s in range(n_segments):
        start = s * segment_rows
        part = slice(start, min(rows, start + segment_rows))
        seg_ok = ok[part]
        reduced = {
            "image": _reduce(image[part], seg_ok, k, k_cols, "min"),
            "probability": _reduce(probability[part], seg_ok & np.isfinite(probability[part]), k, k_cols, "max"),
            "mask": _reduce(predicted[part], seg_ok, k, k_cols, "max"),
        }
        if actual is not None:
            reduced["truth"] = _reduce(actual[part], seg_ok, k, k_cols, "max")
        segments.append((start, reduced))
    if k > 1 or k_cols > 1:
        # Block minima sit below zero even where the wall is sound: widen the scale to
        # 3 robust spreads of the minima around zero so only real metal loss is dark.
        minima = np.concatenate([reduced["image"].ravel() for _, reduced in segments])
        minima = np.abs(minima[np.isfinite(minima)])
        if minima.size:
            limit = max(limit, 3.0 * 1.4826 * float(np.median(minima)))

    image_norm, prob_norm = Normalize(-limit, limit), Normalize(0.0, 1.0)
    image_artist = prob_artist = None
    for s, (start, reduced) in enumerate(segments):
        reduced_ok = np.isfinite(reduced["mask"])
        mask_on = np.nan_to_num(reduced["mask"]) > 0
        if actual is not None:
            truth_on = np.nan_to_num(reduced["truth"]) > 0
            mask_rgb = OUTCOME_COLOURS[outcome_categories(mask_on, truth_on, reduced_ok)]
            truth_rgb = MASK_COLOURS[np.where(reduced_ok, truth_on, 2)]
        else:
            mask_rgb = MASK_COLOURS[np.where(reduced_ok, mask_on, 2)]
        n_red, w_red = mask_on.shape
        extent = (0.0, float(w_red * k_cols), depth(start + n_red * k), depth(start))

        x0 = s * (GROUP_LEFT + n_cols * panel_w + (n_cols - 1) * PANEL_GAP + GROUP_GAP) + GROUP_LEFT
        for c, name in enumerate(columns):
            left = x0 + c * (panel_w + PANEL_GAP)
            ax = fig.add_axes((left / fig_w, BOTTOM / fig_h, panel_w / fig_w, panel_h / fig_h))
            common = dict(extent=extent, aspect="auto", interpolation="nearest", origin="upper")
            if name == "image":
                shown = np.ma.masked_invalid(reduced["image"])
                image_artist = ax.imshow(shown, cmap=image_cmap, norm=image_norm, **common)
            elif name == "probability":
                shown = np.ma.masked_invalid(reduced["probability"])
                prob_artist = ax.imshow(shown, cmap=prob_cmap, norm=prob_norm, **common)
            elif name == "mask":
                ax.imshow(mask_rgb, **common)
            else:
                ax.imshow(truth_rgb, **common)
            ax.set_xlim(0, width)
            ax.set_ylim(depth(start + segment_rows), depth(start))
            ax.set_title(names[name], fontsize=7, pad=3)
            ax.set_xticks([0, width], labels=["0", str(width)])
            tick_left, tick_right = ax.get_xticklabels()
            tick_left.set_horizontalalignment("left")
            tick_right.set_horizontalalignment("right")
            ax.tick_params(axis="x", labelsize=6, length=2, pad=1)
            if c == 0:
                ax.yaxis.set_major_locator(MaxNLocator(nbins=max(3, int(panel_h / 0.55))))
                formatter = ScalarFormatter(useOffset=False)
                formatter.set_scientific(False)
                ax.yaxis.set_major_formatter(formatter)
                ax.tick_params(axis="y", labelsize=6.5, length=2, pad=1)
                ax.set_ylabel(f"depth ({depth_unit})", fontsize=7, labelpad=2, parse_math=False)
            else:
                ax.tick_params(axis="y", left=False, labelleft=False)

    # Colour bars and legend in the right margin.
    bar_x = (fig_w - RIGHT - EDGE + 0.12) / fig_w
    bar_w = 0.13 / fig_w
    top = (BOTTOM + panel_h) / fig_h
    span = panel_h / fig_h
    cax = fig.add_axes((bar_x, top - 0.40 * span, bar_w, 0.40 * span))
    bar = fig.colorbar(image_artist, cax=cax, extend="both")
    bar.set_label("deviation (in)\n< 0 = metal loss", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    cax = fig.add_axes((bar_x, top - 0.72 * span, bar_w, 0.24 * span))
    bar = fig.colorbar(prob_artist, cax=cax)
    bar.set_label("probability", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    if actual is not None:
        legend = [(OUTCOME_COLOURS[c], OUTCOME_LABELS[c])
                  for c in (TRUE_POSITIVE, FALSE_POSITIVE, FALSE_NEGATIVE, TRUE_NEGATIVE)]
    else:
        legend = [(MASK_COLOURS[1], "corrosion"), (MASK_COLOURS[0], "none")]
    legend.append((NO_DATA_GREY, "no data"))
    fig.legend(
        [Patch(facecolor=tuple(colour), edgecolor="0.4", linewidth=0.5) for colour, _ in legend],
        [label for _, label in legend],
        loc="upper left",
        bbox_to_anchor=((fig_w - RIGHT - EDGE + 0.02) / fig_w, top - 0.78 * span),
        fontsize=6.5,
        title="mask",
        title_fontsize=7,
        frameon=False,
        handlelength=1.2,
        borderaxespad=0.0,
    )

    # Title: name and size, headline numbers, how depth is shown.
    head = f"{title} \u2014 " if title else ""
    detail = f"depth {_fmt(depth(0))} to {_fmt(depth(rows))} {depth_unit}"
    if n_segments > 1:
        detail += f" in {n_segments} segments of {segment_rows} rows (left to right)"
    if k > 1:
        detail += f"; every {k} rows reduced (min image / max probability)"
    if k_cols > 1:
        detail += f"; every {k_cols} azimuth columns reduced"
    # names and units come from the input file: never parsed as mathtext (a stray '$' would break the figure)
    fig.text(0.1 / fig_w, 1 - 0.08 / fig_h, f"{head}{rows} x {width}", fontsize=10, weight="bold", va="top",
             parse_math=False)
    fig.text(0.1 / fig_w, 1 - 0.30 / fig_h, stats, fontsize=8, va="top", parse_math=False)
    fig.text(0.1 / fig_w, 1 - 0.47 / fig_h, detail, fontsize=7.5, va="top", parse_math=False, color="0.25")
    return fig


def save_figure(figure: Figure, path) -> Path:
    """Write ``figure`` as a PNG at 100 dpi, atomically; parent folders are created.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=DPI, format="png")
    return path

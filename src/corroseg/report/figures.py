"""Figures of the HTML report: learning and threshold curves, calibration, precision-recall, patches, depth.

Each ``*_figure`` function returns a :class:`matplotlib.figure.Figure` built without
pyplot (no global state, no backend switch). The statistics behind the pixel-level
figures (:func:`reliability_bins`, :func:`precision_recall`) are separate functions so
that the report can print their numbers and tests can check them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from corroseg.data.corruption import corrupted_pixels
from corroseg.report.strips import (
    FALSE_NEGATIVE,
    FALSE_POSITIVE,
    MASK_COLOURS,
    NO_DATA_GREY,
    OUTCOME_COLOURS,
    OUTCOME_LABELS,
    TRUE_NEGATIVE,
    TRUE_POSITIVE,
    outcome_categories,
)

__all__ = [
    "PrecisionRecall",
    "Reliability",
    "depth_profile_figure",
    "learning_curves_figure",
    "patch_grid_figure",
    "precision_recall",
    "precision_recall_figure",
    "reliability_bins",
    "reliability_figure",
    "threshold_curve_figure",
]

# -------------------------------------------------------------- learning curves

LOSS_COLUMNS = (("train_loss_epoch", "train loss", "--"), ("val_loss", "validation loss", "-"))
SCORE_COLUMNS = (("val_iou", "validation challenge metric", "-"), ("val_iou_nonempty", "validation iou_nonempty", ":"))


def _series(curves, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs counted from 1, values) of one column of a learning-curve table, missing epochs dropped."""
    if column not in curves or "epoch" not in curves:
        return np.array([]), np.array([])
    part = curves[["epoch", column]].dropna()
    return part["epoch"].to_numpy(float) + 1, part[column].to_numpy(float)  # Lightning logs count from 0


def learning_curves_figure(curves: Mapping[str, object], best_epoch: int | None = None) -> Figure:
    """Losses (left) and validation scores (right) per epoch, one colour per run or fold.

    Parameters
    ----------
    curves : mapping of name -> DataFrame
        Tables of :func:`corroseg.train.fit.read_curves` (an ``epoch`` column and any of
        ``train_loss_epoch``, ``val_loss``, ``val_iou``, ``val_iou_nonempty``).
    best_epoch : int, optional
        Marked by a vertical line (the checkpoint that was kept), counted from 1 as in ``metrics.json``.
    """
    fig = Figure(figsize=(11, 3.6))
    loss_ax, score_ax = fig.subplots(1, 2)
    colours = colormaps["tab10"].colors
    for i, (name, table) in enumerate(curves.items()):
        colour = colours[i % len(colours)]
        prefix = f"{name}: " if len(curves) > 1 else ""
        for ax, columns in ((loss_ax, LOSS_COLUMNS), (score_ax, SCORE_COLUMNS)):
            for column, label, style in columns:
                x, y = _series(table, column)
                if len(x):
                    ax.plot(x, y, style, color=colour, marker="o" if len(x) < 3 else None, ms=3, lw=1.4,
                            label=prefix + label)
    for ax, title in ((loss_ax, "loss (lower is better)"), (score_ax, "validation scores (higher is better)")):
        if best_epoch is not None:
            ax.axvline(best_epoch, color="0.4", lw=0.8, ls="-.", label=f"kept epoch {best_epoch}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title, fontsize=10, parse_math=False)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
        if ax.lines:
            ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


# -------------------------------------------------------------- calibration


@dataclass
class Reliability:
    """Calibration of pixel probabilities: per equal-width bin of predicted probability.

    Attributes
    ----------
    edges : ndarray, shape (bins + 1,)
    predicted : ndarray
        Mean predicted probability of the pixels in each bin (NaN for an empty bin).
    observed : ndarray
        Share of those pixels that are corrosion (NaN for an empty bin).
    counts : ndarray of int
        Pixels per bin.
    ece : float
        Expected calibration error: count-weighted mean of ``|observed - predicted|``.
    """

    edges: np.ndarray
    predicted: np.ndarray
    observed: np.ndarray
    counts: np.ndarray
    ece: float


def reliability_bins(probability: np.ndarray, truth: np.ndarray, bins: int = 10) -> Reliability:
    """Bin pixels by predicted probability; NaN probabilities (no data) are left out."""
    p = np.asarray(probability, dtype=np.float64).ravel()
    y = np.asarray(truth).ravel() != 0
    keep = np.isfinite(p)
    p, y = np.clip(p[keep], 0.0, 1.0), y[keep]
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    sums = np.bincount(index, weights=p, minlength=bins)
    hits = np.bincount(index, weights=y, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        predicted = np.where(counts > 0, sums / counts, np.nan)
        observed = np.where(counts > 0, hits / counts, np.nan)
    filled = counts > 0
    ece = float(np.sum(counts[filled] * np.abs(observed[filled] - predicted[filled])) / counts.sum()) \
        if counts.sum() else float("nan")
    return Reliability(edges, predicted, observed, counts, ece)


def reliability_figure(stats: Reliability, threshold: float | None = None) -> Figure:
    """Reliability diagram (observed frequency against predicted probability) over a pixel histogram."""
    fig = Figure(figsize=(5.6, 5.4))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.2]})
    filled = stats.counts > 0
    top.plot([0, 1], [0, 1], color="0.55", lw=1, ls="--", label="perfectly calibrated")
    top.plot(stats.predicted[filled], stats.observed[filled], "o-", color="tab:purple", lw=1.6, ms=4,
             label="this model")
    if threshold is not None:
        for ax in (top, bottom):
            ax.axvline(threshold, color="tab:red", lw=0.8, ls=":")
        top.text(threshold, 0.02, f" threshold {threshold:g}", color="tab:red", fontsize=7, va="bottom")
    top.set_ylabel("observed share of corrosion pixels")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.grid(alpha=0.3)
    top.legend(fontsize=8, loc="upper left")
    top.set_title(f"reliability ({int(stats.counts.sum()):,} labelled pixels; ECE {stats.ece:.3f})", fontsize=10)
    centres = (stats.edges[:-1] + stats.edges[1:]) / 2
    bottom.bar(centres, np.maximum(stats.counts, 0), width=np.diff(stats.edges) * 0.9, color="tab:purple",
               alpha=0.6, log=bool(stats.counts.max(initial=0) > 0))
    bottom.set_xlabel("predicted probability")
    bottom.set_ylabel("pixels")
    bottom.grid(alpha=0.3)
    for ax in (top, bottom):
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig


# -------------------------------------------------------------- precision-recall


@dataclass
class PrecisionRecall:
    """Pixel-level precision and recall as the threshold sweeps ``[0, 1]``.

    Attributes
    ----------
    thresholds, precision, recall : ndarray
        Same length; a pixel is flagged when its probability is ``>= threshold``.
    average_precision : float
        Area under the curve as a step function (scikit-learn's definition, binned).
    positives : int
        Corrosion pixels counted.
    point : tuple of float
        (threshold, precision, recall) at the operating threshold, exact (not binned).
    """

    thresholds: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    average_precision: float
    positives: int
    point: tuple[float, float, float]


def precision_recall(probability: np.ndarray, truth: np.ndarray, threshold: float = 0.5,
                     bins: int = 1000) -> PrecisionRecall:
    """Precision-recall curve of pixels from a histogram of ``bins`` thresholds (fast on millions of pixels)."""
    p = np.asarray(probability, dtype=np.float64).ravel()
    y = np.asarray(truth).ravel() != 0
    keep = np.isfinite(p)
    p, y = np.clip(p[keep], 0.0, 1.0), y[keep]
    edges = np.linspace(0.0, 1.0, bins + 1)
    pos = np.histogram(p[y], bins=edges)[0]
    neg = np.histogram(p[~y], bins=edges)[0]
    tp = np.cumsum(pos[::-1])[::-1]  # flagged corrosion pixels at threshold edges[i]
    fp = np.cumsum(neg[::-1])[::-1]
    positives = int(y.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 1.0)
        recall = tp / positives if positives else np.zeros_like(tp, dtype=float)
    recall_next = np.append(recall[1:], 0.0)
    ap = float(np.sum((recall - recall_next) * precision)) if positives else float("nan")
    flagged = p >= threshold
    tp_at, fp_at = int((flagged & y).sum()), int((flagged & ~y).sum())
    point = (float(threshold), tp_at / (tp_at + fp_at) if tp_at + fp_at else 1.0,
             tp_at / positives if positives else float("nan"))
    return PrecisionRecall(edges[:-1], precision, recall, ap, positives, point)


def precision_recall_figure(curve: PrecisionRecall) -> Figure:
    """Precision against recall with the operating threshold marked."""
    fig = Figure(figsize=(5.6, 5.0))
    ax = fig.subplots()
    ax.plot(curve.recall, curve.precision, color="tab:blue", lw=1.6, label="pixel-level curve")
    for f1 in (0.2, 0.4, 0.6, 0.8):  # iso-F1 guides, labelled where they cross the diagonal (well inside)
        r = np.linspace(f1 / (2 - f1) + 1e-6, 1, 200)
        ax.plot(r, f1 * r / (2 * r - f1), color="0.8", lw=0.8, zorder=0)
        ax.annotate(f"F1 {f1:g}", (f1, f1), xytext=(-3, -3), textcoords="offset points", fontsize=8, color="0.45",
                    ha="right", va="top", zorder=1, annotation_clip=True)
    threshold, precision, recall = curve.point
    if np.isfinite(recall):
        ax.plot([recall], [precision], "o", color="tab:red", ms=8, zorder=5,
                label=f"threshold {threshold:g}: precision {precision:.3f}, recall {recall:.3f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall (share of corrosion pixels found)")
    ax.set_ylabel("precision (share of flagged pixels that are corrosion)")
    ax.set_title(f"precision-recall ({curve.positives:,} corrosion pixels; AP {curve.average_precision:.3f})",
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, loc="lower left")
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig


# -------------------------------------------------------------- threshold


def threshold_curve_figure(curve: Mapping[float, float], tuned: float | None = None,
                           used: float | None = None) -> Figure:
    """The challenge metric on held-out wells against the threshold, the tuned and the used threshold marked.

    Parameters
    ----------
    curve : mapping of threshold -> challenge metric
        ``threshold.json``'s curve (thresholds are probabilities in [0, 1]).
    tuned : float, optional
        The threshold tuned on that curve (a green dot).
    used : float, optional
        The threshold the masks use (a red line), with the curve's value there when it lies on the curve.
    """
    x = np.array(sorted(curve), dtype=np.float64)
    y = np.array([curve[t] for t in sorted(curve)], dtype=np.float64)
    fig = Figure(figsize=(6.4, 3.0))
    ax = fig.subplots()
    ax.plot(x, y, "-", color="tab:purple", lw=1.6, marker="o", ms=2.5, label="held-out wells")
    if used is not None:
        on_curve = len(x) and x[0] <= used <= x[-1]
        value = f": {np.interp(used, x, y):.3f}" if on_curve else ""
        ax.axvline(min(max(used, 0.0), 1.0), color="tab:red", lw=1.2, ls="--",
                   label=f"used by the masks {used:g}{value}")
    if tuned is not None and len(x):
        ax.plot([tuned], [np.interp(tuned, x, y)], "o", color="tab:green", ms=8, zorder=5,
                label=f"tuned {tuned:g}: {np.interp(tuned, x, y):.3f}")
    ax.set_xlim(-0.01, 1.01)  # a used threshold at 0 or 1 stays visible
    ax.set_xlabel("threshold (probability)", fontsize=9)
    ax.set_ylabel("challenge metric (mean IoU)", fontsize=9)
    ax.set_title("challenge metric on the held-out wells by threshold", fontsize=10)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8, loc="lower center")
    fig.tight_layout()
    return fig


# -------------------------------------------------------------- worst patches


PATCH_INCHES = 1.25
"""Side of one drawn 36 x 36 patch: three columns of triplets fill the report's ~1,260 px column at 100 dpi."""
PATCH_TITLE_PT = 10.0


def _patch_limit(images: np.ndarray, ok: np.ndarray) -> float:
    """Symmetric colour limit (inches): the 99th percentile of ``|deviation|`` over the valid pixels."""
    values = np.abs(images[ok])
    top = float(np.percentile(values, 99)) if values.size else 0.0
    return top if top > 0 else 0.05


def patch_grid_figure(images: np.ndarray, truths: np.ndarray, predictions: np.ndarray, titles: Sequence[str],
                      columns: int = 3) -> Figure:
    """Patches as ``image | truth | prediction`` triplets in a grid, prediction coloured by outcome.

    Every image shares one colour scale, shown by a colour bar (inches); a legend names
    the outcome colours. At 100 dpi the figure is at most ~12.6 inches wide, so that it
    is shown near its natural size and its 10 pt titles stay 10 pt.

    Parameters
    ----------
    images : ndarray, shape (N, 36, 36)
        Wall-thickness deviation (inches); corrupted pixels are drawn grey.
    truths, predictions : ndarray, shape (N, 36, 36)
        0/1 masks.
    titles : sequence of str
        One caption per patch (e.g. well, patch number, IoU).
    """
    n = len(images)
    columns = max(1, columns)  # a short list keeps the width: the colour bar and its label need it
    rows = max(1, -(-n // columns))
    side, gap, pair_gap, margin, head, title = PATCH_INCHES, 0.06, 0.35, 0.15, 0.8, 0.34
    triplet = 3 * side + 2 * gap
    width = 2 * margin + columns * triplet + (columns - 1) * pair_gap
    height = head + rows * (title + side) + 0.1
    fig = Figure(figsize=(width, height))
    ok = ~corrupted_pixels(images)
    limit = _patch_limit(np.asarray(images, dtype=np.float64), ok)
    cmap = colormaps["seismic"].with_extremes(bad=NO_DATA_GREY)
    norm = Normalize(-limit, limit)
    for i in range(n):
        left = margin + (i % columns) * (triplet + pair_gap)
        top = head + (i // columns) * (title + side) + title
        outcome = OUTCOME_COLOURS[outcome_categories(predictions[i], truths[i], ok[i])]
        truth_rgb = MASK_COLOURS[np.where(ok[i], truths[i] != 0, 2)]
        panels = ((np.ma.masked_array(images[i], ~ok[i]), dict(cmap=cmap, norm=norm)), (truth_rgb, {}), (outcome, {}))
        for j, (picture, style) in enumerate(panels):
            ax = fig.add_axes(((left + j * (side + gap)) / width, 1 - (top + side) / height, side / width,
                               side / height))
            ax.imshow(picture, interpolation="nearest", **style)
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 1:
                ax.set_title(titles[i], fontsize=PATCH_TITLE_PT, pad=3, parse_math=False)
    legend = [(OUTCOME_COLOURS[c], OUTCOME_LABELS[c])
              for c in (TRUE_POSITIVE, FALSE_POSITIVE, FALSE_NEGATIVE, TRUE_NEGATIVE)]
    legend += [(NO_DATA_GREY, "no data"), (MASK_COLOURS[1], "corrosion (truth)")]
    fig.legend([Patch(facecolor=tuple(c), edgecolor="0.4", lw=0.5) for c, _ in legend], [t for _, t in legend],
               loc="upper left", bbox_to_anchor=(margin / width, 1 - 0.05 / height), ncol=3, fontsize=9,
               frameon=False, title="each triplet: image | truth | prediction coloured by outcome", title_fontsize=9,
               alignment="left", handlelength=1.4, columnspacing=1.2)
    bar_width = min(3.6, 0.32 * width)
    cax = fig.add_axes(((width - margin - bar_width) / width, 1 - 0.42 / height, bar_width / width, 0.14 / height))
    bar = fig.colorbar(ScalarMappable(norm, cmap), cax=cax, orientation="horizontal", extend="both")
    bar.set_label("wall-thickness deviation (in); blue < 0 is metal loss", fontsize=9)
    bar.ax.tick_params(labelsize=8)
    return fig


# -------------------------------------------------------------- depth profile


def _block_share(values: np.ndarray, valid: np.ndarray, blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """(first row, share of valid pixels set) of ``blocks`` equal depth blocks."""
    rows = len(values)
    starts = np.unique(np.linspace(0, rows, min(blocks, rows) + 1).astype(int)[:-1])
    hits = np.add.reduceat((values != 0) & valid, starts, axis=0).sum(axis=1)
    total = np.add.reduceat(valid, starts, axis=0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return starts, np.where(total > 0, hits / np.maximum(total, 1), np.nan)


def depth_profile_figure(mask: np.ndarray, valid: np.ndarray, truth: np.ndarray | None = None,
                         section: tuple[int, int] | None = None, title: str = "", blocks: int = 400) -> Figure:
    """Share of each depth block flagged as corrosion along a whole well; the pictured section shaded.

    Parameters
    ----------
    mask, valid : ndarray, shape (rows, width)
        Predicted 0/1 mask and real readings.
    truth : ndarray, optional
        True mask, drawn as a second line.
    section : (start, stop), optional
        Rows pictured in detail elsewhere.
    """
    valid = np.asarray(valid, dtype=bool)
    rows = len(mask)
    fig = Figure(figsize=(8, 1.9))
    ax = fig.subplots()
    starts, flagged = _block_share(np.asarray(mask), valid, blocks)
    step = np.diff(np.append(starts, rows))
    centres = starts + step / 2
    if truth is not None:
        _, true_share = _block_share(np.asarray(truth), valid, blocks)
        ax.fill_between(centres, 100 * np.nan_to_num(true_share), color="0.75", step="mid", label="truth")
    ax.plot(centres, 100 * flagged, color="tab:red", lw=1, drawstyle="steps-mid", label="flagged by the model")
    if section is not None:
        ax.axvspan(*section, color="tab:blue", alpha=0.15, label=f"rows {section[0]:,}-{section[1]:,} shown")
    ax.set_xlim(0, rows)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("depth (row)", fontsize=8)
    ax.set_ylabel("% of pixels", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper right", ncol=3)
    if title:
        ax.set_title(title, fontsize=9, loc="left", parse_math=False)
    fig.tight_layout()
    return fig

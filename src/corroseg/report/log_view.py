"""One predicted casing well drawn as a well log, for well-integrity engineers.

Tracks share the depth axis (depth down): wall thickness, predicted corrosion over a
greyed image, minimum wall and corroded fraction; collars are thin lines with the joint
numbers between them, low-confidence zones are hatched. On the right, the joint tally
(worst joints first) and the deepest defects. Burst figures are a screening estimate.

Built on :class:`matplotlib.figure.Figure` directly (no ``pyplot``, no backend chosen),
like :mod:`corroseg.report.strips`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from matplotlib import colormaps
from matplotlib.collections import PolyCollection
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from corroseg.interpret.answers import depth_curves
from corroseg.interpret.joints import worst_first
from corroseg.report.strips import DPI, NO_DATA_GREY, _reduce_rows

__all__ = ["log_view_figure"]

CORROSION = (0.85, 0.10, 0.10)
COLLAR = (0.15, 0.15, 0.15)
ZONE_FACE, ZONE_EDGE = (0.55, 0.55, 0.55, 0.30), (0.35, 0.35, 0.35)
MAX_JOINT_LABELS = 60
FIG_W, FIG_H = 14.0, 10.0
TRACK_BOTTOM, TRACK_TOP = 0.13, 0.88
# Left edge and width of the tracks, in figure fractions: thickness, mask, min wall, corroded.
TRACKS = ((0.065, 0.085), (0.155, 0.085), (0.245, 0.075), (0.325, 0.065))
TABLES_LEFT, TABLES_WIDTH = 0.415, 0.575


def _block(values: np.ndarray, k: int, how: str) -> np.ndarray:
    """Reduce a curve ``(rows,)`` by blocks of ``k`` rows (NaN ignored; NaN when a block has none)."""
    values = np.asarray(values, np.float64)
    if k <= 1:
        return values
    blocks = -(-len(values) // k)
    work = np.full(blocks * k, np.nan)
    work[:len(values)] = values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks
        return (np.nanmin if how == "min" else np.nanmax)(work.reshape(blocks, k), axis=1)


def _limit(values: np.ndarray, centre: float, cap: float) -> float:
    """Half-width of the colour scale: 3 robust spreads of ``values`` around ``centre``, 10-100 % of ``cap``."""
    spread = np.abs(values[np.isfinite(values)] - centre)
    limit = 3.0 * 1.4826 * float(np.median(spread)) if spread.size else 0.0
    return float(np.clip(limit if np.isfinite(limit) else 0.0, 0.1 * cap, cap))


def _num(value, digits: int = 1) -> str:
    return "\u2013" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _table(ax, header: list[str], cells: list[list[str]], slots: int, widths: list[float]) -> float:
    """A table at the top of ``ax`` with room for ``slots`` rows; returns its bottom (axes fraction)."""
    share = (len(cells) + 1.6) / (slots + 1.6)
    table = ax.table(cellText=cells, colLabels=header, colWidths=widths, cellLoc="center",
                     bbox=(0.0, 1.0 - share, 1.0, share))
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    for (row, _), cell in table.get_celld().items():
        cell.set_linewidth(0.4)
        cell.get_text().set_parse_math(False)
        if row == 0:
            cell.set_height(cell.get_height() * 1.6)
            cell.set_facecolor((0.90, 0.90, 0.90))
            cell.get_text().set_fontweight("bold")
    return 1.0 - share


def log_view_figure(well, probability, mask, answer, max_rows: int = 2400, table_rows: int = 12) -> Figure:
    """A well-log figure of one predicted well: depth tracks on the left, joint and defect tables on the right.

    Parameters
    ----------
    well : corroseg.data.wells.Well
        The well (deviation image in in, depth axis, casing sizes, row means when known).
    probability : ndarray (rows, width)
        Predicted probability, NaN where no reading.
    mask : ndarray (rows, width)
        Predicted corrosion, 0/1.
    answer : corroseg.interpret.answers.WellAnswer
        Casing, defects, joint tally, low-confidence zones and collars of the well.
    max_rows : int
        Most rows drawn; a longer well is reduced by blocks of ``k = ceil(rows / max_rows)`` rows:
        the image keeps the block *minimum* of the thickness (or deviation), so metal loss stays
        visible; the mask the block maximum; the minimum-wall curve the block minimum; the
        corroded-fraction curve the block maximum. No-data blocks stay grey.
    table_rows : int
        Rows of each table (the worst joints, the deepest defects).

    Returns
    -------
    matplotlib.figure.Figure
        14 x 10 in at :data:`corroseg.report.strips.DPI`.
    """
    image = np.asarray(well.image, np.float32)
    rows, width = image.shape
    probability = np.asarray(probability, np.float32)
    mask = np.asarray(mask)
    if probability.shape != image.shape or mask.shape != image.shape or max_rows < 1 or table_rows < 1:
        raise ValueError(f"probability {probability.shape} and mask {mask.shape} need the image's shape "
                         f"{image.shape}; max_rows and table_rows at least 1")
    casing, unit = answer.casing, answer.depth_unit or "row"
    valid = well.valid
    thickness = well.thickness_in()
    k = math.ceil(rows / max_rows)

    def depth(row):
        return answer.depth_start + answer.depth_step * np.asarray(row, np.float64)

    # Display arrays, reduced by blocks of k rows.
    shown = _reduce_rows(image if thickness is None else thickness, valid, k, "min")
    corroded = _reduce_rows(mask != 0, valid, k, "max")
    curves = answer.curves or depth_curves(well, probability, mask, casing, answer.collars)  # a hand-made answer
    min_wall = _block(curves["min_wall_in"], k, "min")
    fraction = 100 * _block(curves["corroded_fraction"], k, "max")
    n = shown.shape[0]
    centres = depth((np.arange(n) + 0.5) * k).clip(*sorted(depth([0, rows])))
    extent = (0.0, 360.0, float(depth(n * k)), float(depth(0)))
    centre = 0.0 if thickness is None else casing.wall_in
    limit = _limit(shown, centre, casing.wall_in)

    fig = Figure(figsize=(FIG_W, FIG_H), dpi=DPI)
    axes = []
    for i, ((left, w), label) in enumerate(zip(TRACKS, ("thickness", "mask", "min wall", "corroded"))):
        axes.append(fig.add_axes((left, TRACK_BOTTOM, w, TRACK_TOP - TRACK_BOTTOM), label=label,
                                 sharey=axes[0] if axes else None))
        axes[-1].tick_params(labelsize=7, length=2, pad=1, labelleft=not i)
    thick_ax, mask_ax, wall_ax, frac_ax = axes

    common = dict(extent=extent, aspect="auto", interpolation="nearest", origin="upper")
    cmap = colormaps["RdBu"].with_extremes(bad=NO_DATA_GREY)
    artist = thick_ax.imshow(np.ma.masked_invalid(shown), cmap=cmap,
                             norm=Normalize(centre - limit, centre + limit), **common)
    greys = colormaps["Greys_r"].with_extremes(bad=NO_DATA_GREY)
    mask_ax.imshow(np.ma.masked_invalid(shown), cmap=greys, norm=Normalize(centre - 4 * limit, centre + 2 * limit),
                   alpha=0.45, **common)
    mask_ax.imshow(np.ma.masked_where(~(corroded > 0), corroded), cmap=ListedColormap([CORROSION]),
                   norm=Normalize(0, 1), **common)
    for ax, title in ((thick_ax, "wall thickness" if thickness is not None else "deviation"),
                      (mask_ax, "predicted corrosion")):
        ax.set_xlim(0, 360)
        ax.set_xticks([0, 180, 360])
        first, _, last = ax.get_xticklabels()
        first.set_horizontalalignment("left")
        last.set_horizontalalignment("right")
        ax.set_xlabel("azimuth (deg)", fontsize=7)
        ax.set_title(title, fontsize=8)
    bar_ax = fig.add_axes((TRACKS[0][0], 0.06, TRACKS[1][0] + TRACKS[1][1] - TRACKS[0][0], 0.012))
    bar = fig.colorbar(artist, cax=bar_ax, orientation="horizontal", extend="both")
    bar.set_label(("wall thickness (in), red = thin" if thickness is not None else "deviation (in), red = metal loss")
                  + (f"\nminimum of each block of {k} rows" if k > 1 else ""), fontsize=7)
    bar.ax.tick_params(labelsize=6)

    wall_ax.plot(min_wall, centres, color="0.1", linewidth=0.8)
    wall_ax.axvline(casing.wall_in, color="tab:blue", linestyle="--", linewidth=0.9)
    low = np.nanmin(min_wall) if np.isfinite(min_wall).any() else casing.wall_in
    wall_ax.set_xlim(max(0.0, min(low, casing.wall_in) - 0.05 * casing.wall_in), 1.25 * casing.wall_in)
    wall_ax.set_xlabel("min wall (in)", fontsize=7)
    wall_ax.set_title("min wall", fontsize=8)
    frac_ax.fill_betweenx(centres, 0, np.nan_to_num(fraction), color=CORROSION, linewidth=0, step="mid")
    high = np.nanmax(fraction) if np.isfinite(fraction).any() else 0.0
    frac_ax.set_xlim(0, min(100.0, max(5.0, 1.1 * high)))
    frac_ax.set_xlabel("corroded (%)", fontsize=7)
    frac_ax.set_title("corroded", fontsize=8)
    for ax in (wall_ax, frac_ax):
        ax.grid(axis="y", color="0.85", linewidth=0.5)
        lo, hi = ax.get_xlim()  # ticks clear of the edges: neighbouring tracks' labels must not touch
        ax.set_xticks([t for t in MaxNLocator(nbins=4).tick_values(lo, hi) if lo <= t <= hi - 0.15 * (hi - lo)])

    thick_ax.set_ylim(float(depth(rows)), extent[3])
    thick_ax.set_ylabel(f"depth ({unit})", fontsize=8, parse_math=False)
    thick_ax.ticklabel_format(axis="y", style="plain", useOffset=False)

    # Collars, joint numbers, low-confidence zones.
    collars = np.asarray(answer.collars if answer.collars is not None else [], np.float64)
    if collars.size:
        for ax in (thick_ax, mask_ax):
            ax.hlines(depth(collars), 0, 1, transform=ax.get_yaxis_transform(), color=COLLAR, linewidth=0.5)
    joints = sorted(answer.joints, key=lambda j: j.joint)
    every = max(1, math.ceil(len(joints) / MAX_JOINT_LABELS))
    size = 7 if len(joints) <= MAX_JOINT_LABELS // 2 else 6
    for joint in joints[::every]:
        mask_ax.text(354, (joint.top_depth + joint.bottom_depth) / 2, str(joint.joint), fontsize=size, ha="right",
                     va="center", color="0.1", bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.7))
    zones = [(float(depth(z.top_row)), float(depth(z.bottom_row + 1))) for z in answer.zones]
    if zones:
        for ax in axes:
            ax.add_collection(PolyCollection([[(0, a), (1, a), (1, b), (0, b)] for a, b in zones],
                                             transform=ax.get_yaxis_transform(), facecolor=ZONE_FACE,
                                             edgecolor=ZONE_EDGE, hatch="///", linewidth=0.0))
    handles = [Patch(facecolor=CORROSION, label="predicted corrosion"),
               Patch(facecolor=NO_DATA_GREY, label="no reading"),
               Line2D([], [], color=COLLAR, linewidth=0.8, label="collar (joint number between)"),
               Patch(facecolor=ZONE_FACE, edgecolor=ZONE_EDGE, hatch="///", label="low-confidence zone"),
               Line2D([], [], color="tab:blue", linestyle="--", label=f"nominal wall {casing.wall_in:g} in")]
    fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(TABLES_LEFT, 0.01), fontsize=7, ncol=3,
               frameon=False, handlelength=1.5)

    # Tables: worst joints, deepest defects.
    joint_ax = fig.add_axes((TABLES_LEFT, 0.50, TABLES_WIDTH, 0.36))
    defect_ax = fig.add_axes((TABLES_LEFT, 0.11, TABLES_WIDTH, 0.33))
    worst = worst_first(answer.joints)
    joint_cells = [[str(j.joint), _num(j.top_depth), _num(j.length_ft), _num(j.min_wall_in, 3),
                    _num(j.max_loss_pct), _num(j.corroded_area_pct), str(j.defects), j.worst_class,
                    _num(j.lowest_failure_psi, 0)] for j in worst[:table_rows]]
    deepest = sorted(answer.defects, key=lambda d: (-d.max_loss_pct, d.top_depth))
    defect_cells = [[f"{d.id}*" if d.low_confidence else str(d.id), "\u2013" if d.joint is None else str(d.joint),
                     _num(d.top_depth), _num(d.length_in), _num(d.width_deg, 0), d.clock, _num(d.max_loss_pct),
                     d.pof_class] for d in deepest[:table_rows]]
    for ax in (joint_ax, defect_ax):
        ax.axis("off")
    joint_ax.set_title(f"joint tally, worst first ({min(len(worst), table_rows)} of {len(worst)} joints, "
                       f"collars from {answer.collar_source})", fontsize=9, loc="left", parse_math=False)
    defect_ax.set_title(f"deepest defects ({min(len(deepest), table_rows)} of {len(deepest)})", fontsize=9,
                        loc="left")
    bottom = 0.9
    if joint_cells:
        bottom = _table(joint_ax, ["joint", f"top ({unit})", "length (ft)", "min wall (in)", "max loss (%)", "corroded (%)",
                          "defects", "worst class", "lowest failure (psi)"], joint_cells, table_rows,
               [0.07, 0.11, 0.10, 0.11, 0.11, 0.11, 0.08, 0.15, 0.16])
    else:
        joint_ax.text(0.0, 0.95, "no joints", fontsize=9, va="top")
    if defect_cells:
        below = _table(defect_ax, ["id", "joint", f"top ({unit})", "length (in)", "width (deg)", "clock", "max loss (%)",
                           "class"], defect_cells, table_rows, [0.08, 0.08, 0.14, 0.12, 0.12, 0.10, 0.13, 0.23])
        if any(d.low_confidence for d in deepest[:table_rows]):
            defect_ax.text(0.0, below - 0.02, "* touches a low-confidence zone", fontsize=7, va="top", color="0.3")
    else:
        defect_ax.text(0.0, 0.95, "no defects found", fontsize=11, va="top", weight="bold")
    if casing.grade is None:
        joint_ax.text(0.0, bottom - 0.02, "no grade: no burst figures", fontsize=7, va="top", color="0.3")

    # Title: well, casing, screening label; what the figure shows.
    grade = casing.grade or "no grade"
    fig.text(0.01, 0.985, f"{well.name or 'well'} \u2014 casing {casing.od_in:g} in OD x {casing.wall_in:g} in wall, "
             f"{grade} \u2014 burst figures: screening only", fontsize=12, weight="bold", va="top", parse_math=False)
    detail = (f"depth {_num(float(depth(0)))} to {_num(float(depth(rows)))} {unit}, {rows} x {width}: "
              f"{len(answer.defects)} defects, {len(answer.joints)} joints, {len(answer.zones)} low-confidence zones")
    if k > 1:
        detail += (f"; display: blocks of {k} rows (minimum thickness, maximum mask, minimum of min wall, "
                   "maximum corroded)")
    fig.text(0.01, 0.955, detail, fontsize=8, va="top", color="0.25", parse_math=False)
    fig.text(0.01, 0.935, "Burst figures (API 5C3 intact, ASME B31G, DNV-RP-F101) rank joints; they never certify "
             "a pressure.", fontsize=7.5, va="top", color="0.25")
    return fig

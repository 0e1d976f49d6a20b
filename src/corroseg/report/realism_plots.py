"""Pictures for the realism comparison: statistic histograms and wells side by side.

Figures are built as :class:`matplotlib.figure.Figure` objects, without pyplot: no
global figure state and no backend switch, so importing this module leaves the
importer's matplotlib backend alone. PNGs are written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from corroseg.atomic import atomic_path
from corroseg.data.corruption import corrupted_pixels
from corroseg.data.wells import assemble
from corroseg.synth.realism import Sample, patch_features


def plot_statistics(synthetic: Sample, real: Sample, path: str | Path, max_patches: int = 4000) -> Path:
    """Histogram of every per-patch statistic, synthetic over real."""
    rng = np.random.default_rng(0)

    def subsample(x):
        return x if len(x) <= max_patches else x[rng.choice(len(x), max_patches, replace=False)]

    fs, fr = patch_features(subsample(synthetic.clean)), patch_features(subsample(real.clean))
    names = list(fs)
    columns = 4
    rows = int(np.ceil(len(names) / columns))
    fig = Figure(figsize=(4 * columns, 2.6 * rows))
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        both = np.concatenate([fs[name], fr[name]])
        lo, hi = np.percentile(both, [1, 99])
        bins = np.linspace(lo, hi, 40)
        ax.hist(fr[name], bins=bins, alpha=0.55, density=True, label=real.label, color="tab:blue")
        ax.hist(fs[name], bins=bins, alpha=0.55, density=True, label=synthetic.label, color="tab:orange")
        ax.axvline(np.median(fr[name]), color="tab:blue", lw=1)
        ax.axvline(np.median(fs[name]), color="tab:orange", lw=1)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def _segments(sample: Sample, count: int, rows: int, seed: int):
    rng = np.random.default_rng(seed)
    out = []
    for well in sample.wells[:count]:
        image = assemble(sample.images.of_well(well), sample.widths[well])
        start = int(rng.integers(0, max(1, image.shape[0] - rows)))
        segment = np.where(corrupted_pixels(image), np.nan, image)[start : start + rows]
        out.append((well, start, segment))
    return out


def plot_wells(synthetic: Sample, real: Sample, path: str | Path, count: int = 6, rows: int = 600, seed: int = 0) -> Path:
    """Segments of real wells (top row) and synthetic wells (bottom row), same colour scale."""
    real_segments = _segments(real, count, rows, seed)
    synthetic_segments = _segments(synthetic, count, rows, seed)
    columns = max(len(real_segments), len(synthetic_segments))
    fig = Figure(figsize=(1.9 * columns, 9))
    axes = fig.subplots(2, columns, squeeze=False)
    for r, (label, segments) in enumerate((("real", real_segments), ("synthetic", synthetic_segments))):
        for c in range(columns):
            ax = axes[r, c]
            ax.set_xticks([])
            if c >= len(segments):
                ax.axis("off")
                continue
            well, start, segment = segments[c]
            ax.imshow(segment, cmap="seismic", vmin=-0.08, vmax=0.08, aspect="auto", interpolation="nearest")
            ax.set_title(f"{label} {well}\nrows {start}-{start + len(segment)}", fontsize=8)
            ax.tick_params(labelsize=6)
    fig.suptitle("wall-thickness deviation (in), seismic scale +/-0.08; white = corrupted", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` atomically (a pyplot-free figure needs no closing)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=70)
    return path

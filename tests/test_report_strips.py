"""Whole-well strip figures: rendering, no pyplot, bounded size, thin features, outcomes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from matplotlib.image import imread

from corroseg.report.strips import (
    FALSE_NEGATIVE,
    FALSE_POSITIVE,
    NO_DATA,
    OUTCOME_COLOURS,
    TRUE_NEGATIVE,
    TRUE_POSITIVE,
    _reduce_rows,
    outcome_categories,
    save_figure,
    well_strip_figure,
)


def _well(rows: int, width: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    image = (0.012 * rng.standard_normal((rows, width))).astype(np.float32)
    truth = np.zeros((rows, width), np.uint8)
    truth[rows // 4 : rows // 4 + 20, 5] = 1
    image[truth == 1] -= 0.1
    probability = np.clip(0.05 + 0.9 * truth, 0, 1).astype(np.float32)
    mask = (probability > 0.5).astype(np.uint8)
    return image, probability, mask, truth


def _image_axes(fig):
    return [ax for ax in fig.axes if ax.images]


def test_small_well_with_corrupted_pixels_renders_a_png(tmp_path):
    image, probability, mask, truth = _well(288, 36)
    image[10:14, 3:9] = np.nan
    image[200:210, :] = -999.25
    image[50, 7] = -999.0
    probability[10:14, 3:9] = np.nan
    fig = well_strip_figure(image, probability, mask, truth=truth, depth_start=2000.0, depth_step=0.1,
                            depth_unit="m", title="well 7")
    assert len(_image_axes(fig)) == 4  # image | probability | mask | truth
    # The placeholders are no-data: the image panel holds NaN there, and the colour limit ignores them.
    shown = fig.axes[0].images[0].get_array()
    assert np.ma.getmaskarray(shown)[200:210].all()
    vmin, vmax = fig.axes[0].images[0].get_clim()
    assert vmin == -vmax and 0.01 < vmax < 0.1
    path = save_figure(fig, tmp_path / "sub" / "well.png")
    assert path == tmp_path / "sub" / "well.png" and path.is_file()
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp file left
    pixels = imread(path)
    width_in, height_in = fig.get_size_inches()
    assert pixels.shape[:2] == (round(height_in * 100), round(width_in * 100))
    assert pixels.shape[2] in (3, 4)
    # Some no-data grey and some corrosion blue are actually drawn.
    rgb = pixels[..., :3]
    grey = np.all(np.abs(rgb - 0.62) < 0.02, axis=-1)
    assert grey.sum() > 100
    assert "well 7" in " ".join(t.get_text() for t in fig.texts)


def test_import_changes_no_backend_and_never_imports_pyplot():
    code = (
        "import sys, matplotlib\n"
        "before = matplotlib.get_backend(auto_select=False)\n"
        "import corroseg.report.strips\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
        "after = matplotlib.get_backend(auto_select=False)\n"
        "assert before == after, (before, after)\n"
        "print(after)\n"
    )
    for backend in (None, "svg"):
        env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
        if backend:
            env["MPLBACKEND"] = backend
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == (backend or "None")


def test_long_well_is_split_reduced_and_bounded(tmp_path):
    rows, width = 200_000, 72
    image, probability, mask, _ = _well(rows, width)
    start = time.perf_counter()
    fig = well_strip_figure(image, probability, mask, depth_step=0.1, depth_unit="m", title="long")
    save_figure(fig, tmp_path / "long.png")
    elapsed = time.perf_counter() - start
    assert elapsed < 10
    width_in, height_in = fig.get_size_inches()
    assert width_in <= 20.0 + 1e-9 and height_in <= 12.0 + 1e-9
    panels = _image_axes(fig)
    assert len(panels) == 8 * 3  # eight depth segments of image | probability | mask
    # No panel shows more rows than it has screen pixels, and the subtitle says so.
    for ax in panels:
        shown_rows = ax.images[0].get_array().shape[0]
        assert shown_rows <= min(1500, ax.get_position().height * height_in * 100)
    texts = " ".join(t.get_text() for t in fig.texts)
    assert "rows reduced (min image / max probability)" in texts
    # The predicted groove survives the reduction in the mask panel of its segment.
    assert any((ax.images[0].get_array()[..., :3] < 0.3).all(axis=-1).any() for ax in panels[2::3])


def test_block_minimum_keeps_a_thin_groove_a_mean_would_lose():
    rows, width, column = 100_000, 36, 17
    rng = np.random.default_rng(1)
    image = (0.012 * rng.standard_normal((rows, width))).astype(np.float32)
    image[1000:1011, column] = -0.2
    image[1000:1003, 3] = -999.25  # a placeholder in the same block is no-data, not the minimum
    image[2000:2100, 4] = np.nan  # a fully corrupted block
    valid = np.isfinite(image) & (np.abs(image) < 50)
    k = int(np.ceil(rows / 1000))  # 100 rows a block: longer than the groove
    reduced = _reduce_rows(image, valid, k, "min")
    assert reduced.shape == (1000, width)
    block = 1000 // k
    assert reduced[block, column] == pytest.approx(-0.2)
    assert reduced[:, column].min() == pytest.approx(-0.2)
    mean = image[block * k : (block + 1) * k, column].mean()
    assert mean > -0.05  # a block mean washes the groove into the background
    assert -0.1 < reduced[block, 3] < 0  # the placeholder did not become the minimum
    assert np.isnan(reduced[20, 4])  # no valid pixel in the block: no data
    assert np.isfinite(np.delete(reduced, 4, axis=1)).all()
    # Maximum for probabilities, and a short last block.
    probability = np.zeros((105, 2), np.float32)
    probability[103, 1] = 0.9
    top = _reduce_rows(probability, np.ones_like(probability, bool), 10, "max")
    assert top.shape == (11, 2) and top[10, 1] == pytest.approx(0.9) and top[:10].max() == 0


def test_outcome_categories_tell_false_alarm_from_true_positive():
    mask = np.array([[1, 1, 0, 0, 1]], np.uint8)
    truth = np.array([[1, 0, 1, 0, 1]], np.uint8)
    valid = np.array([[True, True, True, True, False]])
    out = outcome_categories(mask, truth, valid)
    assert out.tolist() == [[TRUE_POSITIVE, FALSE_POSITIVE, FALSE_NEGATIVE, TRUE_NEGATIVE, NO_DATA]]
    assert len({TRUE_POSITIVE, FALSE_POSITIVE, FALSE_NEGATIVE, TRUE_NEGATIVE, NO_DATA}) == 5
    # In the figure, a false alarm and a true positive get different colours in the mask panel.
    image, probability, mask, truth = _well(144, 36)
    mask[100:110, 30] = 1  # false alarm
    mask[144 // 4 + 15 :, 5] = 0  # the end of the groove is missed
    fig = well_strip_figure(image, probability, mask, truth=truth)
    rgb = fig.axes[2].images[0].get_array()
    hit, alarm, quiet, missed = rgb[144 // 4 + 1, 5], rgb[105, 30], rgb[5, 20], rgb[144 // 4 + 17, 5]
    colours = (hit, alarm, quiet, missed)
    assert all(not np.allclose(a, b) for i, a in enumerate(colours) for b in colours[i + 1 :])
    # Missed is not blue: blue is metal loss in the image panel beside it.
    assert np.allclose(missed, OUTCOME_COLOURS[FALSE_NEGATIVE]) and missed[2] < 0.5 * min(missed[0], missed[1])
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:3] == ["found", "false alarm", "missed"]  # the words of the patch grid and the page
    with pytest.raises(ValueError, match="truth"):
        outcome_categories(mask, truth[:10])


def test_mismatched_shapes_are_named():
    image, probability, mask, _ = _well(144, 36)
    with pytest.raises(ValueError, match="probability"):
        well_strip_figure(image, probability[:, :10], mask)

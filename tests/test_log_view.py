"""The well-log figure of one predicted well: tracks, collars, zones, joint and defect tables."""

from __future__ import annotations

import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.text import Text

from corroseg.data.wells import Well
from corroseg.interpret.answers import WellAnswer, answer_well, casing_of
from corroseg.report.log_view import log_view_figure
from corroseg.report.strips import save_figure

COLLARS = (400, 800)
GROOVE = (slice(600, 640), slice(10, 16))  # joint 2: 4 ft long, 60 degrees wide, 0.1 in deep


def casing_well(rows: int = 1200, width: int = 36, groove: bool = True, seed: int = 0):
    """A 7 in N80 well with two collar bands and one groove; its probability and mask."""
    rng = np.random.default_rng(seed)
    image = rng.normal(0, 0.004, (rows, width))
    signs = np.where(np.arange(width) % 2, 1.0, -1.0)
    for row in range(COLLARS[0], rows, COLLARS[0]):
        image[row:row + 4] = 0.3 * signs
    mask = np.zeros((rows, width), np.uint8)
    if groove:
        image[GROOVE] -= 0.1
        mask[GROOVE] = 1
    image[100, 3] = -999.25  # a placeholder: no reading
    probability = np.where(mask, 0.9, 0.05).astype(np.float32)
    probability[100, 3] = np.nan
    well = Well(image.astype(np.float32), depth_start=5000.0, depth_step=0.1, depth_unit="ft", name="W-1",
                od_in=7.0, nominal_wall_in=0.362, grade="N80", row_mean_in=np.full(rows, 0.362, np.float32))
    return well, probability, mask


def answered(well, probability, mask):
    casing, why = casing_of(well)
    assert why is None
    return answer_well(well, probability, mask, casing)


def texts(fig) -> list[str]:
    """Every text of the figure, table cells included."""
    found = [t.get_text() for t in fig.findobj(Text)]
    for ax in fig.axes:
        for table in ax.tables:
            found += [cell.get_text().get_text() for cell in table.get_celld().values()]
    return found


def table_column(ax, column: int) -> list[str]:
    """The texts of one column of the table of ``ax``, header first."""
    cells = ax.tables[0].get_celld()
    return [cells[row, column].get_text().get_text() for row in range(len({r for r, _ in cells}))]


def track(fig, label: str):
    return next(ax for ax in fig.axes if ax.get_label() == label)


def test_a_small_well_draws_four_depth_tracks_and_two_tables(tmp_path):
    well, probability, mask = casing_well()
    answer = answered(well, probability, mask)
    assert len(answer.defects) == 1 and [j.joint for j in answer.joints] == [1, 2, 3]
    fig = log_view_figure(well, probability, mask, answer)
    path = save_figure(fig, tmp_path / "log.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 30_000
    assert tuple(fig.get_size_inches()) == (14.0, 10.0)
    assert len(fig.axes) == 7  # 4 tracks, the colour bar, 2 tables
    thickness = track(fig, "thickness")
    bottom, top = thickness.get_ylim()
    assert bottom > top and top == 5000.0 and bottom == 5120.0  # depth down
    assert thickness.get_ylabel() == "depth (ft)"
    assert thickness.images[0].get_array().shape == (1200, 36)  # short enough: not reduced
    for label in ("thickness", "mask", "min wall", "corroded"):
        assert track(fig, label).get_shared_y_axes().joined(thickness, track(fig, label))
    words = " ".join(texts(fig))
    assert "burst figures: screening only" in words and "N80" in words and "W-1" in words
    assert "wall thickness (in)" in words and "min wall (in)" in words and "corroded (%)" in words
    joint_ax, defect_ax = [ax for ax in fig.axes if ax.tables]
    worst = table_column(joint_ax, 0)
    assert worst[0] == "joint" and sorted(worst[1:]) == ["1", "2", "3"]
    assert worst[1] == "2"  # the grooved joint, worst first
    classes = table_column(defect_ax, 7)
    assert classes == ["class", answer.defects[0].pof_class]
    assert "no defects found" not in words


def test_collars_joint_numbers_and_low_confidence_zones_are_drawn():
    well, probability, mask = casing_well()
    answer = answered(well, probability, mask)
    assert answer.zones  # the groove's spread flags a window
    fig = log_view_figure(well, probability, mask, answer)
    mask_ax = track(fig, "mask")
    collar_lines = [c for c in mask_ax.collections if not isinstance(c, PolyCollection)]
    assert len(collar_lines) == 1 and len(collar_lines[0].get_segments()) == len(answer.collars)
    assert sorted(t.get_text() for t in mask_ax.texts) == ["1", "2", "3"]
    for label in ("thickness", "mask", "min wall", "corroded"):
        zones = [c for c in track(fig, label).collections if isinstance(c, PolyCollection) and c.get_hatch()]
        assert len(zones) == 1 and len(zones[0].get_paths()) == len(answer.zones)
    assert "low-confidence zone" in [t.get_text() for t in fig.legends[0].get_texts()]


def test_a_long_well_is_reduced_to_max_rows_and_labels_every_kth_joint():
    well, probability, mask = casing_well(rows=70_000, width=72)
    answer = answered(well, probability, mask)
    assert len(answer.joints) > 100
    fig = log_view_figure(well, probability, mask, answer, max_rows=2400)
    fig.canvas.draw()
    for label in ("thickness", "mask"):
        for image in track(fig, label).images:
            assert image.get_array().shape[0] <= 2400 and image.get_array().shape[1] == 72
    assert len(track(fig, "min wall").lines[0].get_ydata()) <= 2400
    assert 0 < len(track(fig, "mask").texts) <= 60
    assert track(fig, "thickness").get_ylim() == (5000.0 + 7000.0, 5000.0)
    # the groove (rows 600-639) survives the block minimum: its blocks of 30 rows are far below the nominal wall
    shown = track(fig, "thickness").images[0].get_array()
    assert shown[20:22, 10:16].max() < 0.362 - 0.08 and shown[20:22, 20:30].min() > 0.362 - 0.03
    assert "blocks of 30 rows" in " ".join(texts(fig))


def test_a_well_without_defects_says_so(tmp_path):
    well, probability, mask = casing_well(groove=False)
    answer = answered(well, probability, mask)
    assert not answer.defects and answer.joints
    fig = log_view_figure(well, probability, mask, answer)
    save_figure(fig, tmp_path / "clean.png")
    words = texts(fig)
    assert "no defects found" in words
    assert len([ax for ax in fig.axes if ax.tables]) == 1  # the tally, no defect table


def test_an_empty_answer_draws_without_collars_joints_or_defects(tmp_path):
    well, probability, mask = casing_well(groove=False)
    well.row_mean_in = None  # a challenge well: deviation only
    casing, _ = casing_of(well)
    answer = WellAnswer(casing, [], [], [], np.zeros(0, np.int64), "image", 5000.0, 0.1, "ft")
    fig = log_view_figure(well, probability, np.zeros_like(mask), answer, table_rows=5)
    path = save_figure(fig, tmp_path / "empty.png")
    assert path.stat().st_size > 10_000
    words = texts(fig)
    assert "no defects found" in words and "no joints" in words
    assert "deviation (in), red = metal loss" in " ".join(words)
    assert not track(fig, "thickness").collections and not track(fig, "mask").texts

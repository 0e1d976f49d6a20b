"""The defect list of a predicted mask: grouping across the seam and small gaps, sizes, POF class, rating."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from corroseg.interpret.defects import Casing, clock_position, find_defects, label_defects, write_defects_csv

CASING = Casing(od_in=7.0, wall_in=0.317, grade="N80")  # 7 in 23 lb/ft N-80


def test_a_defect_across_the_azimuth_seam_is_one_defect():
    mask = np.zeros((20, 36), np.uint8)
    mask[5:10, :2] = 1
    mask[5:10, 34:] = 1  # the same pit, split by the seam
    labels, count = label_defects(mask)
    assert count == 1 and set(np.unique(labels[mask == 1])) == {1}


def test_small_gaps_join_and_far_defects_stay_apart():
    mask = np.zeros((100, 36), np.uint8)
    mask[10:30, 5] = 1
    mask[33:50, 5] = 1  # a groove broken by 3 missed rows
    mask[80:90, 20] = 1  # another defect far away
    assert label_defects(mask)[1] == 3
    labels, count = label_defects(mask, gap_rows=3)
    assert count == 2 and labels[10, 5] == labels[49, 5] != labels[85, 20]


def test_sizes_clock_loss_class_and_rating_of_an_axial_groove(tmp_path):
    rows, width = 200, 36
    image = np.zeros((rows, width), np.float32)
    mask = np.zeros((rows, width), np.uint8)
    mask[50:150, 10] = 1  # 100 rows x 1 column at half past 3
    image[50:150, 10] = -0.05
    image[100, 10] = -0.12  # the deepest point
    probability = np.where(mask, 0.9, 0.01).astype(np.float32)
    (groove,) = find_defects(mask, image, probability, CASING, depth_start=1000.0, depth_step=0.1,
                             depth_unit="ft", collars=np.array([20, 180]))
    assert groove.joint == 2  # between the collars at rows 20 and 180
    assert groove.top_depth == pytest.approx(1005.0) and groove.bottom_depth == pytest.approx(1015.0)
    assert groove.length_in == pytest.approx(100 * 1.2)  # 100 rows of 0.1 ft
    assert groove.width_deg == pytest.approx(10.0) and groove.width_in == pytest.approx(np.pi * 7.0 / 36)
    assert groove.clock == "3:30"  # column 10 of 36: 105 degrees clockwise from 12
    assert groove.max_loss_in == pytest.approx(0.12) and groove.max_loss_pct == pytest.approx(100 * 0.12 / 0.317)
    assert groove.min_remaining_wall_in == pytest.approx(0.317 - 0.12)
    assert groove.pof_class == "axial grooving"  # 1A <= W (15.5 mm) < 3A, L/W >= 2
    assert groove.mean_probability == pytest.approx(0.9)
    assert groove.intact_burst_psi == pytest.approx(0.875 * 2 * 80_000 * 0.317 / 7.0)
    assert groove.lowest_failure_psi < 2 * 90_000 * 0.317 / 7.0  # below the intact flow-stress pressure
    path = tmp_path / "defects.csv"
    write_defects_csv(path, [groove])
    row = next(csv.DictReader(path.open()))
    assert row["pof_class"] == "axial grooving" and float(row["max_loss_in"]) == pytest.approx(0.12)


def test_defects_come_deepest_first_with_numbers_from_one():
    image = np.zeros((60, 36), np.float32)
    mask = np.zeros((60, 36), np.uint8)
    mask[5:8, 3:5], image[5:8, 3:5] = 1, -0.03
    mask[40:43, 20:22], image[40:43, 20:22] = 1, -0.09
    defects = find_defects(mask, image, np.where(mask, 0.8, 0.0), Casing(7.0, 0.317), depth_step=1, depth_unit="in")
    assert [d.id for d in defects] == [1, 2] and defects[0].max_loss_in == pytest.approx(0.09)
    assert defects[0].intact_burst_psi is None  # no grade: no burst rating


def test_clock_positions_and_unknown_units():
    assert clock_position(0, 36) == "12:10" and clock_position(17, 36) == "5:50" and clock_position(35, 72) == "5:55"
    with pytest.raises(ValueError, match="depth unit 'row'"):
        find_defects(np.ones((3, 36)), np.zeros((3, 36)), np.ones((3, 36)), CASING, depth_unit="row")

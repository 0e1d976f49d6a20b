"""The real-well proxy figures: patches and pixels flagged per well, challenge convention, false alarms."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import write_dataset
from corroseg.data.challenge import format_name
from corroseg.data.corruption import CorruptionPolicy
from corroseg.infer.bundle import WellPredictor
from corroseg.infer.real_wells import flipped_casing_alarms, real_well_figures


class FlagsThinWall(WellPredictor):
    """Flags every pixel thinner than -0.05 in; nothing else (no network needed)."""

    threshold = 0.5
    policy = CorruptionPolicy()

    def predict_well(self, image):
        probability = (np.asarray(image) < -0.05).astype(np.float32)
        probability[~np.isfinite(image) | (np.abs(image) > 10)] = np.nan
        return probability


def test_shares_follow_the_challenge_convention_and_wells_9_and_10_give_the_false_alarms(tmp_path):
    write_dataset(tmp_path, {1: (4, 36), 9: (2, 36), 10: (2, 36)}, labels=False)
    folder = tmp_path / "x_train"
    rng = np.random.default_rng(0)
    for file in folder.glob("*.npy"):  # sound casing: no pixel near the flag level
        np.save(file, rng.normal(0, 0.005, (36, 36)).astype(np.float32))
    for p in range(4):  # a groove through well 1: 2 of 36 columns, every row
        patch = np.load(folder / f"{format_name(1, p)}.npy")
        patch[:, 10:12] = -0.2
        if p == 3:
            patch[0, 0] = -999.25  # a corrupted pixel: the challenge leaves this patch empty
        np.save(folder / f"{format_name(1, p)}.npy", patch)
    patch = np.load(folder / f"{format_name(9, 0)}.npy")
    patch[5, 5] = -0.3  # one false alarm in well 9
    np.save(folder / f"{format_name(9, 0)}.npy", patch)
    figures = real_well_figures(FlagsThinWall(), tmp_path)
    one = figures["per_well"]["1"]
    assert one["kind"] == "vertical groove" and one["patches"] == 4
    assert one["patch_share"] == pytest.approx(3 / 4)  # the corrupted patch counts as empty
    assert one["pixel_share"] == pytest.approx(3 * 36 * 2 / (4 * 1296))
    assert figures["corroded_wells"]["patch_share"] == pytest.approx(3 / 4)
    assert figures["all_wells"]["patch_share"] == pytest.approx(4 / 8)  # well 9's false alarm flags a patch
    assert figures["false_alarm"]["wells"] == [9, 10]
    assert figures["false_alarm"]["rate"] == pytest.approx(1 / (4 * 1296))
    assert figures["published"]["patch_share"] == pytest.approx(0.80078)
    # the ranking counts clean patches only: well 1's three clean patches all peak at 1
    assert one["peak_shares"] == {str(t): pytest.approx(1.0) for t in (0.1, 0.3, 0.5, 0.9)}
    assert figures["per_well"]["9"]["peak_shares"]["0.5"] == pytest.approx(1 / 2)
    assert figures["per_well"]["10"]["peak_shares"]["0.1"] == 0.0
    assert 0.004 < figures["per_well"]["10"]["deviation_std_in"] < 0.006  # sound casing drawn at 0.005 in
    assert figures["per_well"]["1"]["deviation_p1_in"] < -0.1  # the groove's pixels are 1/18 of well 1


def test_flipped_casing_turns_grooves_into_ridges_and_counts_the_flags_on_its_dips(tmp_path):
    """Upside down, a groove is a ridge (no flag) and a ridge a dip (every flag a false alarm);
    corrupted readings stay what they are, and wells 9 and 10 never enter the train split's figure."""
    write_dataset(tmp_path, {1: (2, 36), 2: (2, 36)}, labels=False, split="test")
    write_dataset(tmp_path, {1: (2, 36), 9: (2, 36)}, labels=False)
    rng = np.random.default_rng(1)
    for file in [*tmp_path.glob("x_test/*.npy"), *tmp_path.glob("x_train/*.npy")]:
        np.save(file, rng.normal(0, 0.005, (36, 36)).astype(np.float32))
    groove = np.load(tmp_path / "x_test" / f"{format_name(1, 0)}.npy")
    groove[:, 3:5] = -0.2  # real corrosion: a ridge once flipped
    groove[0, 0] = -999.25  # corrupted: stays corrupted
    np.save(tmp_path / "x_test" / f"{format_name(1, 0)}.npy", groove)
    ridge = np.load(tmp_path / "x_test" / f"{format_name(2, 1)}.npy")
    ridge[10, 10:13] = 0.2  # the casing's own ridge: a dip once flipped
    np.save(tmp_path / "x_test" / f"{format_name(2, 1)}.npy", ridge)
    figures = flipped_casing_alarms(FlagsThinWall(), tmp_path, "test")
    assert figures["split"] == "test" and set(figures["per_well"]) == {"1", "2"}
    assert figures["per_well"]["1"]["valid_pixels_flagged"] == 0
    assert figures["per_well"]["1"]["valid_pixels"] == 2 * 1296 - 1
    assert figures["per_well"]["2"]["valid_pixels_flagged"] == 3
    assert figures["per_well"]["2"]["patch_share"] == pytest.approx(1 / 2)
    assert figures["rate"] == pytest.approx(3 / (4 * 1296 - 1))
    assert set(flipped_casing_alarms(FlagsThinWall(), tmp_path, "train")["per_well"]) == {"1"}


def test_the_benchmark_tables_rank_the_wells_by_their_peaks(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from real_wells import markdown

    row = {"kind": "none", "patches": 2, "patch_share": 0.5, "pixel_share": 0.1,
           "peak_shares": {"0.1": 1.0, "0.3": 0.5, "0.5": 0.5, "0.9": 0.0}}
    pooled = {"patch_share": 0.5, "pixel_share": 0.1, "lowest_patch_share": 0.5}
    figures = {"run": {"per_well": {"9": row}, "corroded_wells": pooled, "all_wells": pooled,
                       "false_alarm": {"rate": 0.01}}}
    text = markdown(figures, "python benchmarks/real_wells.py")
    assert "| 9 | none | 100% | 50% | 50% | 0% |  |  |" in text
    row.update(deviation_std_in=0.0113, deviation_p1_in=-0.0246)
    assert "| 9 | none | 100% | 50% | 50% | 0% | 0.0113 | -0.0246 |" in markdown(figures, "command")
    del row["peak_shares"]
    assert "highest probability" not in markdown(figures, "python benchmarks/real_wells.py")

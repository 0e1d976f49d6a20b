import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import REAL_DATA, requires_real_data
from corroseg.cli import app
from corroseg.data.challenge import FALSE_ALARM_WELLS, PatchImages
from corroseg.synth.generator import write_dataset
from corroseg.synth.realism import (
    Sample,
    cnn_two_sample,
    collar_rows,
    compare_statistics,
    load_sample,
    logistic_two_sample,
    patch_features,
)


def _sample(patches, groups, label="s"):
    wells = sorted(set(groups.tolist()))
    images = PatchImages([f"p{i}" for i in range(len(patches))], groups, np.arange(len(patches)), patches, Path("."))
    return Sample(label, patches, groups, 0.03, 0.003, np.array([300.0, 340.0]), np.array([0.001]), wells,
                  images, {w: 36 for w in wells})


def _textured(rng, n):
    y = np.arange(36)[:, None]
    x = np.arange(36)[None, :]
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    return (0.015 * np.sin(2 * np.pi * (x / 36 + y / 60) + phase) + 0.002 * rng.standard_normal((n, 36, 36))).astype(np.float32)


def test_patch_features_on_known_patterns():
    vertical = np.tile(np.sin(2 * np.pi * np.arange(36) / 36), (36, 1))[None] * 0.01
    f = patch_features(vertical)
    assert f["autocorr_depth_1"][0] == pytest.approx(1.0)
    assert f["autocorr_azimuth_1"][0] == pytest.approx(np.cos(2 * np.pi / 36), abs=0.05)
    assert f["low_frequency_energy"][0] == pytest.approx(1.0)
    assert f["std"][0] == pytest.approx(0.01 / np.sqrt(2), rel=1e-3)
    noise = np.random.default_rng(0).standard_normal((1, 36, 36))
    g = patch_features(noise)
    assert abs(g["autocorr_depth_1"][0]) < 0.1 and g["high_frequency_energy"][0] > 0.5


def test_collar_rows_found():
    image = np.zeros((1000, 36))
    for start in (100, 420, 760):
        image[start : start + 2, ::3] = 0.3
        image[start : start + 2, 1::3] = -0.3
    image[500:900, 10:13] = -0.1  # a deep groove is not a collar
    np.testing.assert_array_equal(collar_rows(image), [100, 420, 760])


def test_identical_samples_compare_equal():
    rng = np.random.default_rng(0)
    sample = _sample(_textured(rng, 50), np.repeat([1, 2], 25))
    rows = compare_statistics(sample, sample)
    assert all(r["relative_difference"] == 0 and r["within_tolerance"] for r in rows)


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["patches", "wells"])
def test_two_sample_tests_separate_fakes_and_not_twins(protocol):
    rng = np.random.default_rng(1)
    real = _textured(rng, 400)
    twin = _textured(rng, 400)
    fake = rng.normal(0, 0.015, (400, 36, 36)).astype(np.float32)
    groups = np.r_[np.repeat(np.arange(4) + 10_000, 100), np.repeat(np.arange(4), 100)]
    y = np.r_[np.zeros(400), np.ones(400)]
    same = np.concatenate([twin, real])
    different = np.concatenate([fake, real])
    assert logistic_two_sample(same, y, groups, protocol=protocol) < 0.65
    assert logistic_two_sample(different, y, groups, protocol=protocol) > 0.95
    assert cnn_two_sample(different, y, groups, epochs=8, protocol=protocol) > 0.9
    assert cnn_two_sample(same, y, groups, epochs=8, protocol=protocol) < 0.7


@pytest.mark.slow
def test_deep_critic_separates_fakes_and_not_twins():
    rng = np.random.default_rng(2)
    real, twin = _textured(rng, 300), _textured(rng, 300)
    fake = rng.normal(0, 0.015, (300, 36, 36)).astype(np.float32)
    groups = np.r_[np.repeat(np.arange(3) + 10_000, 100), np.repeat(np.arange(3), 100)]
    y = np.r_[np.zeros(300), np.ones(300)]
    assert cnn_two_sample(np.concatenate([fake, real]), y, groups, epochs=4, critic="deep") > 0.9
    assert cnn_two_sample(np.concatenate([twin, real]), y, groups, epochs=4, critic="deep") < 0.7


def test_realism_cli_json(tmp_path):
    a = write_dataset(tmp_path / "a", seed=1, preset="tiny")
    b = write_dataset(tmp_path / "b", seed=2, preset="tiny")
    result = CliRunner().invoke(app, ["realism", str(a), str(b), "--json", "--max-patches", "150",
                                      "--exclude-real", "", "--plots", str(tmp_path / "plots"),
                                      "--deep-patches", "80"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["statistics_compared"] == len(report["statistics"]) >= 15
    for test in report["two_sample_tests"].values():
        assert 0.0 <= test["logistic_accuracy"] <= 1.0 and 0.0 <= test["cnn_accuracy"] <= 1.0
    assert 0.0 <= report["two_sample_tests"]["patches"]["deep_cnn_accuracy"] <= 1.0
    assert "deep_cnn_accuracy" not in report["two_sample_tests"]["wells"]
    assert (tmp_path / "plots" / "statistics.png").stat().st_size > 10_000
    assert (tmp_path / "plots" / "wells.png").stat().st_size > 10_000


@pytest.mark.slow
@requires_real_data
def test_default_preset_statistics_against_real_wells(tmp_path):
    """Regression guard for the figures in docs/realism.md (medians, no classifier)."""
    synthetic = load_sample(write_dataset(tmp_path / "d", seed=0, preset="default", real=REAL_DATA), "synthetic")
    real = load_sample(REAL_DATA, "real", exclude=FALSE_ALARM_WELLS)
    assert 9 not in real.wells and 10 not in real.wells
    rows = {r["statistic"]: r for r in compare_statistics(synthetic, real)}
    within = [name for name, r in rows.items() if r["within_tolerance"]]
    assert len(within) >= 14, rows
    for name in ("std", "p1", "p5", "p95", "p99", "min", "collar_spacing", "touched_patch_share"):
        assert rows[name]["within_tolerance"], rows[name]

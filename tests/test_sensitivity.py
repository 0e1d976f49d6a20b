"""How faint a groove a model finds: the measurement, and what predict says with it."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from corroseg.infer.ensemble import load_predictor
from corroseg.infer.sensitivity import (applies, defect_records, describe, describe_well, faintest_found,
                                        mask_options, merge_records, read_sensitivity, summarise, texture_std_in)
from corroseg.errors import CorrosegInputError
from typer.testing import CliRunner

from corroseg.cli import app


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _casing(rows=400, width=36, sigma=0.01, seed=0):
    return np.random.default_rng(seed).normal(0.0, sigma, (rows, width))


def _groove(image, column, depth_in, top=50, length=200, width=2):
    truth = np.zeros(image.shape, dtype=np.uint8)
    truth[top:top + length, column:column + width] = 1
    return image - depth_in * truth, truth


def test_texture_is_the_robust_std_without_collars_or_no_data():
    image = _casing(sigma=0.012)
    image[100:104] = 0.3  # a collar
    image[200:210, :5] = -999.25  # no data
    assert texture_std_in(image) == pytest.approx(0.012, rel=0.05)
    valid = np.ones(image.shape, dtype=bool)
    valid[:, :18] = False
    assert texture_std_in(image, valid) == pytest.approx(0.012, rel=0.08)
    assert np.isnan(texture_std_in(np.full((36, 36), np.nan)))


def test_a_groove_found_and_missed_with_its_depth_and_contrast():
    image, truth = _groove(_casing(sigma=0.01), column=10, depth_in=0.02)
    found = defect_records(image, truth, truth)
    assert len(found["pixels"]) == 1 and found["rows"][0] == 200
    assert found["depth_in"][0] == pytest.approx(0.02, abs=0.002)
    assert found["contrast"][0] == pytest.approx(2.0, rel=0.12)
    assert found["found_share"][0] == 1.0
    half = truth.copy()
    half[150:] = 0  # the mask follows the groove's top half only
    assert defect_records(image, truth, half)["found_share"][0] == pytest.approx(0.5)
    assert defect_records(image, truth, np.zeros_like(truth))["found_share"][0] == 0.0


def test_defects_mostly_without_readings_are_left_out():
    image, truth = _groove(_casing(), column=10, depth_in=0.02)
    image[:, 10:12] = -999.25
    assert len(defect_records(image, truth, truth)["pixels"]) == 0


def _records(contrasts, found, rows=100):
    n = len(contrasts)
    return {"pixels": np.full(n, 100), "rows": np.full(n, rows), "depth_in": np.asarray(contrasts) * 0.01,
            "contrast": np.asarray(contrasts, dtype=float), "found_share": np.asarray(found, dtype=float)}


def test_summary_finds_where_half_the_grooves_are_found():
    contrast = np.linspace(0.2, 3.0, 57)
    found = (contrast >= 1.0).astype(float)
    found[[18, 25]] = 1 - found[[18, 25]]  # not a perfect step: the fit must stay finite
    short = _records([2.0, 2.5], [0.0, 1.0], rows=10)
    summary = summarise(merge_records([_records(contrast, found), short]), "wells")
    assert summary["grooves"] == 57 and summary["short_defects"] == {"defects": 2, "found": 0.5}
    assert 0.85 < summary["contrast_50"] < 1.15 < summary["contrast_90"] < 2.0
    assert sum(row["grooves"] for row in summary["table"]) == 57
    first, last = summary["table"][0], summary["table"][-1]
    assert first["contrast_from"] is None and first["found"] == 0.0 and last["found"] == 1.0
    json.dumps(summary, allow_nan=False)  # written as JSON beside the run
    assert summary["faintest_contrast"] == pytest.approx(0.2)
    said = describe(summary)
    assert said.startswith(f"half of the grooves are found from a depth of {summary['contrast_50']:.2f} times")
    assert "57 grooves of 36 rows or longer on wells" in said


def test_no_figure_when_grooves_cannot_support_one():
    everything = summarise(_records(np.linspace(0.5, 3, 20), np.ones(20)))
    assert everything["contrast_50"] is None and "no figure" in describe(everything)
    assert summarise(_records([1.0, 2.0], [0.0, 1.0]))["contrast_50"] is None  # too few
    assert summarise(merge_records([]))["grooves"] == 0


def test_a_well_gets_the_depths_its_texture_allows():
    sensitivity = {"contrast_50": 0.8, "contrast_90": 1.2, "grooves": 40, "source": "the validation wells"}
    figures = faintest_found(sensitivity, 0.015)
    assert figures["depth_found_half_in"] == pytest.approx(0.012)
    assert figures["depth_found_most_in"] == pytest.approx(0.018)
    said = describe_well(figures)
    assert "0.012 in deep (median) are found half of the time, 0.018 in nine times in ten" in said
    assert "(measured on 40 synthetic grooves of 36 rows or longer on the validation wells)" in said
    assert "shallower ones are missed more often than not" in said
    real = faintest_found({**sensitivity, "synthetic": False}, 0.015)  # a run trained on labelled real wells
    assert "40 labelled grooves" in describe_well(real)
    only_most = faintest_found({**sensitivity, "contrast_50": None}, 0.015)  # even the faintest seen were found
    assert "grooves about 0.018 in deep (median) are found nine times in ten" in describe_well(only_most)
    assert faintest_found(None, 0.015) == {"texture_std_in": 0.015, "measured_on": None}
    assert describe_well(faintest_found(None, 0.015)) == ("casing texture 0.015 in; how faint a groove is found: "
                                                          "not measured for these runs and options")
    unfit = faintest_found({"grooves": 3, "contrast_50": None}, 0.015)
    assert "no figure from 3 synthetic grooves" in describe_well(unfit)
    for texture in (float("nan"), 0.0):  # no reading, or a flat (quantised) log: no depth in inches
        figures = faintest_found(sensitivity, texture)
        assert "depth_found_half_in" not in figures and "not measurable" in describe_well(figures)


def test_a_deep_groove_is_measured_whole_and_not_taken_for_a_collar():
    image, truth = _groove(_casing(sigma=0.01), column=10, depth_in=0.2)
    records = defect_records(image, truth, truth)
    assert len(records["pixels"]) == 1 and records["pixels"][0] == 400
    assert records["depth_in"][0] == pytest.approx(0.2, abs=0.003)


def test_a_flat_noisy_curve_gives_no_wild_figure():
    rng = np.random.default_rng(4)
    contrast = rng.uniform(0.5, 3.0, 40)
    for found in (rng.random(40) < 0.5, contrast < 1.0):  # found at random; found less as grooves deepen
        summary = summarise(_records(contrast, found.astype(float)))
        for key in ("contrast_50", "contrast_90"):
            assert summary[key] is None or 0.5 <= summary[key] <= 3.0


def test_a_hand_edited_sensitivity_is_refused_in_one_line(tmp_path):
    good = {"contrast_50": 0.9, "contrast_90": 1.3, "mask_options": mask_options(0.5, True, True)}
    (tmp_path / "sensitivity.json").write_text(json.dumps(good))
    assert read_sensitivity(tmp_path) == good
    for bad in ({**good, "contrast_50": "x"}, {**good, "contrast_90": -1}, {**good, "mask_options": {"tta": True}}):
        (tmp_path / "sensitivity.json").write_text(json.dumps(bad))
        with pytest.raises(CorrosegInputError, match="unreadable sensitivity"):
            read_sensitivity(tmp_path)


def test_a_sensitivity_holds_only_for_the_options_it_was_measured_with():
    measured = {"mask_options": mask_options(0.45, True, True)}
    assert applies(measured, mask_options(0.45, True, True))
    assert not applies(measured, mask_options(0.5, True, True))
    assert not applies(measured, mask_options(0.45, False, True))
    assert not applies(measured, mask_options(0.45, True, False))
    assert not applies({}, mask_options(0.45, True, True)) and not applies(None, mask_options(0.45, True, True))


def test_training_measures_it_and_predict_states_it(tiny_run, synth_data, tmp_path):
    measured = read_sensitivity(tiny_run)
    assert measured is not None and measured["source"] == "the validation wells" and measured["synthetic"] is True
    assert measured["mask_options"]["threshold"] == load_predictor([tiny_run]).threshold  # predict's default masks
    assert measured["wells"] == json.loads((tiny_run / "data.json").read_text())["val_wells"]
    assert load_predictor([tiny_run]).sensitivity == measured
    assert load_predictor([tiny_run], threshold=0.123).sensitivity is None  # other masks: not measured
    assert load_predictor([tiny_run, tiny_run]).sensitivity is None  # an ensemble of runs: not measured

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    sensitivity = {**measured, "contrast_50": 0.9, "contrast_90": 1.3}
    (run / "sensitivity.json").write_text(json.dumps(sensitivity))
    well = next((synth_data / "wells").glob("test_*.npz"))
    result = invoke("predict", run, well, "--out", tmp_path / "p.npz")
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "p.json").read_text())["sensitivity"]
    assert written["depth_found_half_in"] == pytest.approx(0.9 * written["texture_std_in"])
    assert "in deep (median) are found half of the time" in result.output

    (run / "sensitivity.json").write_text("{not json")
    with pytest.raises(CorrosegInputError, match="unreadable sensitivity"):
        read_sensitivity(run)


def test_on_a_scored_split_the_truth_finds_every_groove_and_nothing_finds_none(tiny_run, synth_data):
    from dataclasses import replace

    from corroseg.infer.evaluate import score_split, split_sensitivity

    scored = score_split(load_predictor([tiny_run]), synth_data, "test")
    truth = np.zeros_like(scored.masks)
    truth[scored.labelled_rows] = scored.truth  # challenge convention: empty on corrupted patches
    perfect = split_sensitivity(replace(scored, masks=truth))
    assert perfect["grooves"] > 0 and all(row["found"] == 1.0 for row in perfect["table"])
    assert all(row["pixels_flagged"] == 1.0 for row in perfect["table"])  # blanked patches count neither way
    blind = split_sensitivity(replace(scored, masks=np.zeros_like(truth)))
    assert blind["grooves"] == perfect["grooves"] and all(row["found"] == 0.0 for row in blind["table"])


def test_evaluate_reports_it(tiny_run, synth_data):
    result = invoke("evaluate", tiny_run, synth_data, "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)["sensitivity"]
    assert figures["source"] == "the test wells" and figures["grooves"] >= 0

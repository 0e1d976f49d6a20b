"""Cross-validation (well-grouped folds, out-of-fold predictions), threshold tuning and ensembles."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import TINY, one_line_error
from corroseg.cli import app
from corroseg.data.labelled import load_labelled_wells
from corroseg.errors import CorrosegUserError
from corroseg.infer.bundle import Predictor
from corroseg.infer.ensemble import load_predictor
from corroseg.train.rundir import RunDir
from corroseg.data.splits import well_folds as assign_folds
from corroseg.workflows.train import cross_validate, read_oof
from corroseg.infer.ensemble import Ensemble, load_predictor
from corroseg.infer.threshold import read_threshold, threshold_curve, tune_threshold
from corroseg.train.config import load_config

runner = CliRunner()


@pytest.fixture(scope="module")
def folds_run(synth_data, tmp_path_factory) -> Path:
    """A 2-fold cross-validation run of the tiny model on the tiny synthetic wells; do not modify."""
    out = tmp_path_factory.mktemp("cv") / "cv"
    return cross_validate(synth_data, out, load_config(None, list(TINY)), folds=2, progress=False)


# ----------------------------------------------------------------- folds

def test_assign_folds_partitions_wells_reproducibly():
    folds = assign_folds([3, 1, 2, 5, 4, 7, 6], 3, seed=0)
    flat = [w for group in folds for w in group]
    assert sorted(flat) == [1, 2, 3, 4, 5, 6, 7] and len(flat) == len(set(flat))
    assert sorted(len(g) for g in folds) == [2, 2, 3]
    assert folds == assign_folds([1, 2, 3, 4, 5, 6, 7], 3, seed=0)
    assert folds != assign_folds([1, 2, 3, 4, 5, 6, 7], 3, seed=1)


@pytest.mark.parametrize("folds", [1, 8])
def test_assign_folds_refuses_impossible_counts(folds):
    with pytest.raises(CorrosegUserError, match="needs 2 to 7 folds"):
        assign_folds(range(1, 8), folds, seed=0)


def test_folds_hold_out_each_well_once_and_keep_its_oof_prediction(folds_run, synth_data):
    summary = json.loads((folds_run / "folds.json").read_text())
    wells = [w.well for w in load_labelled_wells(synth_data, "train")]
    held = [w for group in summary["assignment"] for w in group]
    assert sorted(held) == sorted(wells)
    assert RunDir(folds_run).is_folds and len(RunDir(folds_run).fold_dirs()) == 2
    labelled = {w.well: w for w in load_labelled_wells(synth_data, "train")}
    for k, group in enumerate(summary["assignment"]):
        facts = json.loads((folds_run / f"fold_{k}" / "data.json").read_text())
        assert sorted(facts["val_wells"]) == sorted(group)  # validated on exactly its held-out wells
        assert not set(facts["train_wells"]) & set(group)
        fold = Predictor.from_run(folds_run / f"fold_{k}")
        for well in group:  # the OOF probability is that fold's prediction of the well
            expected = fold.predict_well(labelled[well].image)
            np.testing.assert_allclose(read_oof(folds_run, well), expected, atol=1e-3, equal_nan=True)
    assert [f["fold"] for f in summary["per_fold"]] == [0, 1]
    assert np.isclose(summary["oof_iou_mean"], np.mean([f["iou"] for f in summary["per_fold"]]))
    tuned = json.loads((folds_run / "threshold.json").read_text())
    assert tuned["source"] == "out-of-fold" and sorted(tuned["wells"]) == sorted(wells)
    assert tuned["iou"] >= tuned["iou_at_0.5"]
    measured = json.loads((folds_run / "sensitivity.json").read_text())  # on every well, out of fold
    assert measured["source"].startswith("the out-of-fold predictions") and sorted(measured["wells"]) == sorted(wells)
    assert load_predictor([folds_run]).sensitivity == measured


def test_resume_trains_only_the_missing_fold(folds_run, synth_data, tmp_path):
    run = tmp_path / "cv"
    shutil.copytree(folds_run, run)
    shutil.rmtree(run / "fold_1")
    kept = (run / "fold_0" / "model.safetensors").stat().st_mtime_ns
    cross_validate(synth_data, run, None, folds=2, resume=True, progress=False)
    assert (run / "fold_0" / "model.safetensors").stat().st_mtime_ns == kept
    assert (run / "fold_1" / "model.safetensors").is_file()
    # deterministic training: the retrained fold is the same model
    first, again = (json.loads((r / "folds.json").read_text())["per_fold"] for r in (folds_run, run))
    assert first == again
    with pytest.raises(CorrosegUserError, match="started with --folds 2"):
        cross_validate(synth_data, run, None, folds=3, resume=True, progress=False)


def test_folds_refuse_fixed_validation_wells(synth_data, tmp_path):
    with pytest.raises(CorrosegUserError, match="val_wells"):
        cross_validate(synth_data, tmp_path / "cv", load_config(None, [*TINY, "val_wells=[1]"]), folds=2)


# ----------------------------------------------------------------- threshold

def test_threshold_curve_is_the_challenge_metric():
    truth = np.zeros((3, 36, 36), bool)
    truth[0, :10, :10] = True
    probability = np.zeros((3, 36, 36), np.float32)
    probability[0, :10, :10] = 0.7
    probability[0, 10:20, :10] = 0.4   # false alarm below 0.5, above 0.3
    probability[1, :5, :5] = 0.2       # false alarm on an empty patch
    curve = threshold_curve(probability, truth, [0.1, 0.3, 0.5, 0.8])
    assert curve[0.1] == pytest.approx((0.5 + 0 + 1) / 3)
    assert curve[0.3] == pytest.approx((0.5 + 1 + 1) / 3)
    assert curve[0.5] == pytest.approx(1.0)
    assert curve[0.8] == pytest.approx(2 / 3)  # nothing predicted: the corroded patch scores 0
    tuned = tune_threshold(probability, truth, "validation", [1], grid=[0.1, 0.3, 0.45, 0.5, 0.6, 0.8])
    assert tuned["threshold"] == 0.5  # 0.45 .. 0.6 tie: the one nearest 0.5
    assert tuned["iou"] == pytest.approx(1.0)


def test_training_tunes_the_threshold_on_validation_wells(tiny_run):
    tuned = json.loads((tiny_run / "threshold.json").read_text())
    facts = json.loads((tiny_run / "data.json").read_text())
    assert tuned["source"] == "validation" and tuned["wells"] == sorted(facts["val_wells"])
    assert tuned["iou"] == max(tuned["curve"].values()) and tuned["iou"] >= tuned["iou_at_0.5"]
    assert Predictor.from_run(tiny_run).threshold == 0.5  # the config's: tuning is opt-in
    assert Predictor.from_run(tiny_run, threshold="tuned").threshold == tuned["threshold"]
    assert Predictor.from_run(tiny_run, threshold=0.3).threshold == 0.3
    assert read_threshold(tiny_run) == tuned["threshold"]


def test_a_run_without_tuned_threshold_uses_its_config(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "threshold.json").unlink()
    assert Predictor.from_run(run).threshold == 0.5
    result = runner.invoke(app, ["evaluate", str(run), str(run), "--threshold", "tuned"])
    one_line_error(result, "threshold.json", "missing")


# ----------------------------------------------------------------- ensembles

def test_folds_run_predicts_as_the_mean_of_its_folds(folds_run, synth_data):
    ensemble = load_predictor(folds_run)
    assert isinstance(ensemble, Ensemble) and len(ensemble.members) == 2
    assert ensemble.threshold == 0.5
    assert load_predictor(folds_run, threshold="tuned").threshold == read_threshold(folds_run)
    image = load_labelled_wells(synth_data, "test")[0].image
    members = [Predictor.from_run(d.path).predict_well(image) for d in RunDir(folds_run).fold_dirs()]
    np.testing.assert_allclose(ensemble.predict_well(image), np.mean(members, axis=0), atol=1e-6)


def test_several_runs_ensemble_and_threshold_choice(folds_run, tiny_run):
    runs = [tiny_run, folds_run / "fold_0"]
    assert load_predictor(runs, threshold=0.4).threshold == 0.4
    assert len(load_predictor(runs).members) == 2
    assert load_predictor(runs).threshold == 0.5  # fold_0 has no threshold of its own: the config's
    both = load_predictor([tiny_run, folds_run], threshold="tuned")
    assert len(both.members) == 3
    assert both.threshold == pytest.approx((read_threshold(tiny_run) + read_threshold(folds_run)) / 2)


def test_cli_evaluates_folds_with_spread_and_predicts_with_an_ensemble(folds_run, tiny_run, synth_data, tmp_path):
    result = runner.invoke(app, ["evaluate", str(folds_run), str(synth_data), "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    folds = scores["folds"]
    assert len(folds["per_fold"]) == 2
    values = [f["iou"] for f in folds["per_fold"]]
    assert folds["iou"]["mean"] == pytest.approx(np.mean(values)) and folds["iou"]["std"] == pytest.approx(np.std(values))
    out = tmp_path / "sub.csv"
    result = runner.invoke(app, ["predict", str(tiny_run), str(folds_run), str(synth_data), "--out", str(out),
                                 "--threshold", "0.3"])
    assert result.exit_code == 0, result.output
    assert out.is_file()
    result = runner.invoke(app, ["predict", str(tiny_run), str(synth_data), "--out", str(out), "--threshold", "often"])
    assert result.exit_code == 2 and "--threshold" in result.output and "Traceback" not in result.output

"""Prediction options from the command line and the config: random walker, ONNX engine, export, report."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from conftest import one_line_error
from corroseg.cli import app
from corroseg.infer.ensemble import load_predictor
from corroseg.infer.evaluate import evaluate
from corroseg.infer.onnx import OnnxModel
from corroseg.infer.postprocess import RandomWalker

runner = CliRunner()


def _evaluate(*args: str) -> dict:
    result = runner.invoke(app, ["evaluate", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def scores(tiny_run, synth_data) -> dict:
    """The default figures of the tiny run (threshold 0.5, random walker, torch)."""
    return _evaluate(str(tiny_run), str(synth_data))


def test_random_walker_is_the_default_and_the_flag_turns_it_off(tiny_run, synth_data, scores):
    predictor = load_predictor(tiny_run)
    assert predictor.postprocess == RandomWalker()  # the default config's
    direct = evaluate(predictor, synth_data, "test")
    assert scores["iou"] == pytest.approx(direct["iou"])
    plain = _evaluate(str(tiny_run), str(synth_data), "--no-random-walker")
    predictor.postprocess = None
    assert plain["iou"] == pytest.approx(evaluate(predictor, synth_data, "test")["iou"])
    assert load_predictor(tiny_run, random_walker=False).postprocess is None


def test_config_sets_the_walker(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config.update(walker_beta=30.0)
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    assert load_predictor(run).postprocess == RandomWalker(0.1, 0.9, 30.0)
    config.update(postprocess="threshold")
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    assert load_predictor(run).postprocess is None
    assert load_predictor(run, random_walker=True).postprocess == RandomWalker(0.1, 0.9, 30.0)


def test_onnx_engine_scores_as_torch(tiny_run, synth_data, scores):
    onnx = _evaluate(str(tiny_run), str(synth_data), "--engine", "onnx")
    assert onnx["iou"] == pytest.approx(scores["iou"], abs=1e-3)
    assert onnx["precision"] == pytest.approx(scores["precision"], abs=1e-3)
    one_line_error(runner.invoke(app, ["evaluate", str(tiny_run), str(synth_data), "--engine", "tensorrt"]),
                   "tensorrt", "torch, onnx")


def test_export_writes_a_model_the_engine_uses(tiny_run, synth_data, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    result = runner.invoke(app, ["export", str(run), "--format", "onnx"])
    assert result.exit_code == 0, result.output
    assert (run / "model.onnx").is_file()
    one_line_error(runner.invoke(app, ["export", str(run)]), "model.onnx", "--force")
    one_line_error(runner.invoke(app, ["export", str(run), "--format", "tflite"]), "tflite")
    image = np.load(next((synth_data / "wells").glob("test_well_*.npz")))["image"]
    torch_p = load_predictor(run, engine="torch").predict_well(image)
    auto = load_predictor(run)  # auto: the run's fresh model.onnx
    assert isinstance(auto.model, OnnxModel)
    np.testing.assert_allclose(auto.predict_well(image), torch_p, atol=1e-4, equal_nan=True)
    assert not isinstance(load_predictor(tiny_run).model, OnnxModel)  # no model.onnx: torch


def test_report_command_writes_one_html_file(tiny_run, synth_data, tmp_path):
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["report", str(tiny_run), "--data", str(synth_data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "predicting the test wells" in result.output and "drawing: worst patches" in result.output  # no terminal:
    text = out.read_text()  # each step is a line, not a silent spinner
    assert text.startswith("<!DOCTYPE html>") and "data:image/png;base64," in text
    one_line_error(runner.invoke(app, ["report", str(tiny_run), "--data", str(synth_data), "--out", str(out)]),
                   "report.html")


def test_device_option_runs_on_the_cpu_and_refuses_a_gpu_this_machine_lacks(tiny_run, synth_data, scores, tmp_path):
    import torch

    from corroseg.infer.options import PredictOptions

    assert _evaluate(str(tiny_run), str(synth_data), "--device", "cpu")["iou"] == scores["iou"]
    with pytest.raises(Exception, match="choose cpu, cuda"):
        PredictOptions(device="tpu")
    one_line_error(runner.invoke(app, ["predict", str(tiny_run), str(synth_data), "--out", str(tmp_path / "s.csv"),
                                       "--device", "cuda", "--engine", "onnx"]), "onnx engine runs on the CPU")
    if not torch.cuda.is_available():
        one_line_error(runner.invoke(app, ["predict", str(tiny_run), str(synth_data), "--out",
                                           str(tmp_path / "s.csv"), "--device", "cuda"]), "no CUDA device")
        assert not (tmp_path / "s.csv").exists()
    else:  # a GPU machine: the same masks as the CPU's, to float tolerance
        assert abs(_evaluate(str(tiny_run), str(synth_data), "--device", "cuda")["iou"] - scores["iou"]) < 1e-3

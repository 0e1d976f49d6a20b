"""The shape of the code: layers import downward only, prediction loads no training stack,
and one set of prediction options serves an ensemble and each of its folds."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corroseg.cli import app
from corroseg.infer.ensemble import load_predictor
from corroseg.infer.options import PredictOptions
from corroseg.infer.postprocess import RandomWalker

SOURCE = Path(__file__).resolve().parents[1] / "src" / "corroseg"

LAYERS = {"atomic": 0, "errors": 0, "guard": 0, "models": 1, "data": 2, "synth": 3, "train": 4, "infer": 5,
          "interpret": 6, "report": 7, "workflows": 8, "cli": 9, "__main__": 10}
"""From the bottom up (docs in ../shared/DESIGN.md): a module imports only from its own layer or below."""


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("corroseg."):
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(a.name for a in node.names if a.name.startswith("corroseg."))
    return names


def test_no_module_imports_upward():
    upward = []
    for path in sorted(SOURCE.rglob("*.py")):
        layer = path.relative_to(SOURCE).parts[0].removesuffix(".py")
        if layer == "__init__":
            continue
        assert layer in LAYERS, f"{path}: a module outside the known layers"
        for name in _imports(path):
            other = name.split(".")[1]
            if LAYERS[other] > LAYERS[layer]:
                upward.append(f"{path.relative_to(SOURCE)} imports {name}")
    assert not upward, upward


def test_predict_and_evaluate_load_neither_lightning_nor_pyplot():
    code = ("import sys\n"
            "import corroseg.cli, corroseg.workflows.predict, corroseg.workflows.evaluate, corroseg.infer.onnx\n"
            "print(sorted(m for m in ('lightning', 'pytorch_lightning', 'matplotlib.pyplot') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_run_loaded_alone_applies_its_random_walker(tiny_run):
    from corroseg.infer.bundle import Predictor

    # before, Predictor.from_run ignored the run's post-processing (only load_predictor attached it)
    assert Predictor.from_run(tiny_run).postprocess == RandomWalker()
    assert Predictor.from_run(tiny_run, random_walker=False).postprocess is None


@pytest.fixture(scope="module")
def folds_run(synth_data, tmp_path_factory) -> Path:
    from conftest import TINY
    from corroseg.train.config import load_config
    from corroseg.workflows.train import train

    out = tmp_path_factory.mktemp("structure") / "cv"
    return train(synth_data, out, load_config(None, list(TINY)), folds=2, progress=False)


@pytest.mark.parametrize("flags", [[], ["--threshold", "0.3", "--no-random-walker", "--tta"]],
                         ids=["run's config", "flags"])
def test_evaluate_of_a_folds_run_uses_the_same_options_for_the_ensemble_and_each_fold(folds_run, synth_data,
                                                                                      flags):
    result = CliRunner().invoke(app, ["evaluate", str(folds_run), str(synth_data), "--json", *flags])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["folds"]["options"] == figures["options"]
    expected = PredictOptions(*(0.3, True, "auto", False) if flags else ()).resolve([folds_run])
    assert figures["options"] == expected.record(load_predictor(folds_run, expected).members[0].config)
    fold = load_predictor([folds_run / "fold_0"], expected)
    assert (fold.postprocess is not None) == expected.random_walker and fold.threshold == expected.threshold


def test_prediction_options_are_validated_in_one_place():
    for bad in ({"threshold": "high"}, {"threshold": 1.5}, {"engine": "tpu"}, {"threads": 0},
                {"engine": "onnx", "bf16": True}):
        with pytest.raises(ValueError):
            PredictOptions(**bad)
    assert PredictOptions(threshold="0.25").threshold == 0.25


PREDICTING = {"predict_well", "predict_patches", "patch_masks", "segment_well", "score_split", "evaluate",
              "false_alarms", "load_predictor", "from_run"}
"""Calls that predict or score: the report draws what it is handed and makes none of them."""


def test_the_report_never_predicts_or_scores():
    calls = []
    for path in sorted((SOURCE / "report").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name in PREDICTING:
                    calls.append(f"{path.name}:{node.lineno} {name}()")
    assert not calls, calls

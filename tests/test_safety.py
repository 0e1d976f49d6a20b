"""Safety: no command overwrites without --force; run files name no path that is followed; nothing unpickles."""

import inspect
import json
import pickle
import shutil
import typing
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from conftest import TINY, one_line_error
from corroseg.cli import app
from corroseg.data.wells import Well, save_well
from corroseg.infer.bundle import Predictor
from corroseg.models import available
from corroseg.models.registry import _constructor
from corroseg.train.config import TrainConfig, load_config
from corroseg.train.fit import fit

runner = CliRunner()

# ------------------------------------------------------------------ --force

# command -> (arguments, the existing output they would overwrite); {data}, {run}, {synth}, {out} are filled in
REFUSALS = {
    "synth": (["synth", "{out}", "--preset", "tiny"], "{out}/notes.txt"),
    "wells": (["wells", "{data}", "--out", "{out}"], "{out}/well_2.npz"),
    "predict csv": (["predict", "{run}", "{data}/x_test", "--out", "{out}/sub.csv"], "{out}/sub.csv"),
    "predict npz": (["predict", "{run}", "{out}/in/well_a.npz", "--out", "{out}/pred.npz"], "{out}/pred.png"),
    "predict folder": (["predict", "{run}", "{out}/in", "--out", "{out}/preds"], "{out}/preds/well_b.png"),
    "export": (["export", "{run}", "--out", "{out}/model.onnx"], "{out}/model.onnx"),
    "report": (["report", "{run}", "--out", "{out}/report.html"], "{out}/report.html"),
    "train": (["train", "{synth}", "--out", "{out}/run", *TINY], "{out}/run/config.yaml"),
    "demo": (["demo", "--out", "{out}/demo", "--preset", "tiny"], "{out}/demo/summary.json"),
    "realism": (["realism", "{synth}", "{synth}", "--plots", "{out}/plots"], "{out}/plots/wells.png"),
}


@pytest.mark.parametrize("command", list(REFUSALS))
def test_no_command_overwrites_an_output_without_force(command, dataset, tiny_run, synth_data, tmp_path):
    arguments, existing = REFUSALS[command]
    places = {"data": dataset, "run": tiny_run, "synth": synth_data, "out": tmp_path / "out"}
    inputs = tmp_path / "out" / "in"
    inputs.mkdir(parents=True)
    for name in ("well_a", "well_b"):
        save_well(inputs / f"{name}.npz", Well(np.zeros((144, 36), np.float32), name=name))
    existing = Path(existing.format(**places))
    existing.parent.mkdir(parents=True, exist_ok=True)
    existing.write_text("precious")
    before = sorted(p for p in tmp_path.rglob("*"))
    result = runner.invoke(app, [a.format(**places) for a in arguments])
    one_line_error(result, "--force")
    assert existing.read_text() == "precious"
    assert sorted(p for p in tmp_path.rglob("*")) == before  # refused before anything was written


def test_predict_force_overwrites(tiny_run, tmp_path):
    save_well(tmp_path / "well.npz", Well(np.zeros((144, 36), np.float32), name="w"))
    (tmp_path / "pred.npz").write_text("old")
    result = runner.invoke(app, ["predict", str(tiny_run), str(tmp_path / "well.npz"), "--out",
                                 str(tmp_path / "pred.npz"), "--force"])
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "pred.npz")["mask"].shape == (144, 36)


def test_synth_force_replaces_only_a_synthetic_dataset(synth_data, tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["synth", str(precious), "--preset", "tiny", "--force"])
    one_line_error(result, "not a corroseg synthetic dataset")
    assert (precious / "notes.txt").read_text() == "mine"
    copy = shutil.copytree(synth_data, tmp_path / "copy")
    (copy / "notes.txt").write_text("the user's, not ours")
    result = runner.invoke(app, ["synth", str(copy), "--preset", "tiny", "--seed", "1", "--force"])
    one_line_error(result, "did not write", "notes.txt")  # a dataset holding a foreign file is not replaced
    assert (copy / "notes.txt").read_text() == "the user's, not ours"
    (copy / "notes.txt").unlink()
    for flag in ("--force", "--overwrite"):
        result = runner.invoke(app, ["synth", str(copy), "--preset", "tiny", "--seed", "1", flag])
        assert result.exit_code == 0, result.output
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder or lock left


# ------------------------------------------------------------------ paths in config files

def _path_options(constructor) -> list[str]:
    hints = typing.get_type_hints(constructor.__init__) if inspect.isclass(constructor) else {}
    return [name for name, hint in hints.items() if "Path" in str(hint)]


def test_only_model_options_pretrained_is_a_path():
    # no key names an output: a run's files all have fixed names inside RUN
    assert not [f.name for f in fields(TrainConfig) if "Path" in str(f.type) or f.name.endswith(("dir", "file", "path"))]
    path_options = {name: _path_options(_constructor(name)) for name in available()}
    assert {name: opts for name, opts in path_options.items() if opts} == {"corroseg": ["pretrained"]}


def _with_outside_path(run: Path, tmp_path: Path) -> Path:
    """A copy of ``run`` whose config.yaml points model_options.pretrained outside the run."""
    copy = shutil.copytree(run, tmp_path / "run")
    config = yaml.safe_load((copy / "config.yaml").read_text())
    config["model_options"]["pretrained"] = "../../../outside/resnet50.pth"
    (copy / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return copy


def test_loading_or_resuming_a_run_never_follows_a_path_in_its_config(tiny_run, synth_data, tmp_path, monkeypatch):
    run = _with_outside_path(tiny_run, tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("a path in the run's config.yaml was followed")

    monkeypatch.setattr("corroseg.models.resnet.load_pretrained", refuse)
    monkeypatch.setattr("corroseg.models.corroseg_unet.load_pretrained", refuse)
    predictor = Predictor.from_run(run)
    assert predictor.predict_well(np.zeros((144, 36), np.float32)).shape == (144, 36)
    fit(synth_data, run, resume=True, progress=False, overrides=["max_epochs=2"])
    assert yaml.safe_load((run / "config.yaml").read_text())["max_epochs"] == 2


# ------------------------------------------------------------------ no unpickling

@pytest.fixture
def no_pickle(monkeypatch):
    """pickle.load/loads/Unpickler fail; torch.load works only with weights_only=True."""

    def refuse(*args, **kwargs):
        raise AssertionError("something unpickled")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    real_load = torch.load

    def weights_only_load(*args, weights_only=None, **kwargs):
        assert weights_only is True, "torch.load without weights_only=True"
        return real_load(*args, weights_only=True, **kwargs)

    monkeypatch.setattr(torch, "load", weights_only_load)


def test_run_bundles_load_and_resume_without_unpickling(tiny_run, synth_data, tmp_path, no_pickle):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    predictor = Predictor.from_run(run)
    assert predictor.predict_well(np.zeros((144, 36), np.float32)).shape == (144, 36)
    result = runner.invoke(app, ["train", str(synth_data), "--out", str(run), "--resume", "max_epochs=2"])
    assert result.exit_code == 0, result.output
    assert "best val_iou" in " ".join(result.output.split())


def test_a_moved_run_resumes_from_its_own_checkpoints(synth_data, tmp_path, recwarn):
    # threshold 0.99: nothing is predicted, val_iou stays flat, so the first epoch stays the best one
    first = fit(synth_data, tmp_path / "a", load_config(None, [*TINY, "threshold=0.99", "scheduler=none"]),
                progress=False)
    best = (first / "model.safetensors").read_bytes()
    moved = shutil.move(first, tmp_path / "b")  # the old folder is gone
    fit(synth_data, moved, resume=True, progress=False, overrides=["max_epochs=2"])
    assert json.loads((moved / "metrics.json").read_text())["epochs"] == 2
    assert (moved / "model.safetensors").read_bytes() == best  # epoch 1 did not replace the best epoch
    assert not [w for w in recwarn if "dirpath has changed" in str(w.message)]

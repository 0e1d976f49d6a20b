"""fit and `corroseg train`: the run bundle, refusing to overwrite, and resuming."""

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from conftest import one_line_error, TINY
from corroseg.cli import app
from corroseg.data.scaling import PatchScaler
from corroseg.errors import CorrosegInputError, CorrosegUserError
from corroseg.train.config import load_config, read_config
from corroseg.guard import mark
from corroseg.train.fit import fit, read_curves
from corroseg.train.module import SegModule

runner = CliRunner()

BUNDLE = ("config.yaml", "scaler.json", "model.safetensors", "metrics.json", "data.json", "logs/metrics.csv",
          "checkpoints/best.ckpt", "checkpoints/last.ckpt")


def model_weights(state: dict) -> dict:
    return {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}


def assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} of {len(a)} tensors differ, e.g. {different[:3]}"


# ------------------------------------------------------------------ the bundle


def test_fit_writes_every_bundle_file(tiny_run, synth_data):
    for name in BUNDLE:
        assert (tiny_run / name).is_file(), name
    assert read_config(tiny_run / "config.yaml") == load_config(None, list(TINY))
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert 0.0 <= metrics["best"]["val_iou"] <= 1.0
    assert metrics["epochs"] == 1 and metrics["stopped_by"] == "max_epochs"
    data = json.loads((tiny_run / "data.json").read_text())
    assert data["train_wells"] and data["val_wells"]
    assert not set(data["train_wells"]) & set(data["val_wells"])
    assert set(data["train_wells"]) | set(data["val_wells"]) == {1, 2, 3, 4}
    assert data["labels"] == ["wells"] and data["excluded_wells"] == []
    scaler = PatchScaler.load(tiny_run / "scaler.json")
    assert scaler.mode == "global" and scaler.scaler_ is not None
    curves = pd.read_csv(tiny_run / "logs" / "metrics.csv")
    assert "val_iou" in curves and "train_loss_epoch" in curves


def test_weights_are_the_best_checkpoints(tiny_run):
    weights = load_file(str(tiny_run / "model.safetensors"))
    best = torch.load(tiny_run / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    assert_same_tensors(weights, model_weights(best["state_dict"]))
    model = SegModule(read_config(tiny_run / "config.yaml").to_dict()).model
    assert set(weights) == set(model.state_dict())


def test_checkpoints_load_with_weights_only_and_carry_the_scaler(tiny_run):
    scaler = json.loads((tiny_run / "scaler.json").read_text())
    for name in ("best.ckpt", "last.ckpt"):
        checkpoint = torch.load(tiny_run / "checkpoints" / name, map_location="cpu", weights_only=True)
        assert "state_dict" in checkpoint and "optimizer_states" in checkpoint
        state = next(v for k, v in checkpoint.items() if k.endswith("WellDataModule"))
        assert json.loads(state["scaler"]) == scaler


# ------------------------------------------------------------------ refusing to overwrite


def test_refuses_an_existing_run_without_force(tiny_run, synth_data):
    before = (tiny_run / "model.safetensors").read_bytes()
    with pytest.raises(CorrosegInputError, match="--force") as info:
        fit(synth_data, tiny_run, load_config(None, list(TINY)), progress=False)
    assert info.value.path == str(tiny_run)
    result = runner.invoke(app, ["train", str(synth_data), "--out", str(tiny_run), *TINY])
    one_line_error(result, "already exists", "--force")
    assert (tiny_run / "model.safetensors").read_bytes() == before


def test_force_never_deletes_a_folder_that_is_not_a_run(tmp_path, synth_data):
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("years of work")
    with pytest.raises(CorrosegInputError, match="not a corroseg run"):
        fit(synth_data, precious, load_config(None, list(TINY)), force=True, progress=False)
    result = runner.invoke(app, ["train", str(synth_data), "--out", str(precious), "--force", *TINY])
    one_line_error(result, "not a corroseg run")
    assert (precious / "chapter1.tex").read_text() == "years of work"
    assert sorted(p.name for p in precious.iterdir()) == ["chapter1.tex"]


def test_resume_needs_a_checkpoint(tmp_path, synth_data):
    with pytest.raises(CorrosegInputError, match="nothing to resume"):
        fit(synth_data, tmp_path / "absent", resume=True, progress=False)
    result = runner.invoke(app, ["train", str(synth_data), "--out", str(tmp_path / "absent"), "--resume"])
    one_line_error(result, "nothing to resume")


def test_unfreezing_needs_a_pretrained_encoder(tmp_path, synth_data):
    with pytest.raises(CorrosegUserError, match="unfreeze_every"):
        fit(synth_data, tmp_path / "run", load_config(None, [*TINY, "unfreeze_every=1"]), progress=False)


# ------------------------------------------------------------------ resume

RESUME = [o for o in TINY if not o.startswith("max_epochs")] + [
    "scheduler=none",  # the cosine schedule is tested on its own below
    "threshold=0.99",  # nothing predicted: val_iou is flat, so the best checkpoint stays at epoch 0
]


@pytest.fixture(scope="module")
def resumed(synth_data, tmp_path_factory):
    """Two epochs straight (with --force over an older run) vs. one epoch then `train --resume max_epochs=2`."""
    root = tmp_path_factory.mktemp("resume")
    finals = []

    def capture(self):  # the weights in memory when training ends, whatever the checkpoints hold
        finals.append(SimpleNamespace(state={k: v.detach().clone() for k, v in self.state_dict().items()},
                                      step=self.trainer.global_step, epoch=self.trainer.current_epoch))

    straight, parts = root / "straight", root / "parts"
    straight.mkdir()
    mark(straight, "run")  # an older run: corroseg's marker and only a run's files
    (straight / "config.yaml").write_text("preset: default\n")
    (straight / "report.html").write_text("from an older run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SegModule, "on_train_end", capture, raising=False)
        fit(synth_data, straight, load_config(None, [*RESUME, "max_epochs=2"]), force=True, progress=False)
        fit(synth_data, parts, load_config(None, [*RESUME, "max_epochs=1"]), progress=False)
        result = runner.invoke(app, ["train", str(synth_data), "--out", str(parts), "--resume", "max_epochs=2"])
    assert len(finals) == 3
    return SimpleNamespace(straight=straight, parts=parts, cli=result, final_straight=finals[0],
                           final_first=finals[1], final_resumed=finals[2])


def test_force_replaces_an_older_run(resumed):
    assert not (resumed.straight / "report.html").exists()
    assert read_config(resumed.straight / "config.yaml").max_epochs == 2


def test_resume_trains_on_to_the_new_max_epochs(resumed):
    assert resumed.cli.exit_code == 0, resumed.cli.output
    assert "best val_iou" in " ".join(resumed.cli.output.split())
    assert read_config(resumed.parts / "config.yaml") == load_config(None, [*RESUME, "max_epochs=2"])
    assert json.loads((resumed.parts / "metrics.json").read_text())["epochs"] == 2
    assert resumed.final_first.step == 2
    assert resumed.final_resumed.step == resumed.final_straight.step == 4


def test_resume_keeps_the_best_checkpoint_of_the_first_session(resumed):
    straight = load_file(str(resumed.straight / "model.safetensors"))
    parts = load_file(str(resumed.parts / "model.safetensors"))
    assert_same_tensors(parts, model_weights(resumed.final_first.state))
    assert_same_tensors(straight, parts)


def test_resume_reproduces_straight_training_exactly(resumed):
    assert_same_tensors(resumed.final_resumed.state, resumed.final_straight.state)


def test_last_checkpoint_holds_the_last_epoch(resumed):
    last = torch.load(resumed.straight / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == resumed.final_straight.step
    assert_same_tensors(last["state_dict"], resumed.final_straight.state)


def test_resume_keeps_the_learning_curve(resumed):
    # the first session's file is untouched; the resumed session logs beside it
    first = pd.read_csv(resumed.parts / "logs" / "metrics.csv")
    assert set(first["epoch"].dropna()) == {0}
    curves = read_curves(resumed.parts)
    assert set(curves["epoch"]) == {0, 1} and curves["val_iou"].notna().all()


def test_resume_with_more_epochs_stretches_the_cosine_schedule(tiny_run, synth_data, tmp_path, monkeypatch):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    seen = []
    monkeypatch.setattr(SegModule, "on_train_end",
                        lambda self: seen.append(self.trainer.lr_scheduler_configs[0].scheduler.get_last_lr()[0]),
                        raising=False)
    fit(synth_data, run, resume=True, progress=False, overrides=["max_epochs=2"])
    cfg = read_config(run / "config.yaml")
    assert cfg.max_epochs == 2
    assert seen == [pytest.approx(cfg.lr * 0.02)]  # the end of the new, longer schedule


# ------------------------------------------------------------------ the validation metric


def test_window_patch_iou_follows_the_challenge_convention():
    from corroseg.train.module import window_patch_iou

    probability = np.ones((1, 72, 72), np.float32)
    truth = np.zeros((1, 72, 72), np.uint8)
    corrupted = np.zeros((1, 72, 72), bool)
    truth[0, :36, :36] = 1  # patch 0: all corrosion, predicted all -> 1
    truth[0, 36:, :18] = 1  # patch 2: half -> 0.5; patch 1: empty truth, full prediction -> 0
    corrupted[0, 40, 40] = True  # patch 3: corrupted, so predicted empty like its (empty) label -> 1
    iou, nonempty = window_patch_iou(probability, truth, corrupted, threshold=0.5)
    np.testing.assert_allclose(iou, [1.0, 0.0, 0.5, 1.0])
    np.testing.assert_array_equal(nonempty, [True, False, True, False])
    below = window_patch_iou(probability * 0.4, truth, corrupted, threshold=0.5)[0]
    np.testing.assert_allclose(below, [0.0, 1.0, 0.0, 1.0])


def test_cli_train_summary_prints_a_zero_iou_nonempty_as_zero(resumed):
    best = json.loads((resumed.parts / "metrics.json").read_text())["best"]
    assert best["val_iou_nonempty"] == 0.0  # nothing is predicted at threshold 0.99
    assert "iou_nonempty 0.0000" in " ".join(resumed.cli.output.split())  # rich wraps long lines


# ------------------------------------------------------------------ user errors before anything is replaced


def test_force_keeps_the_old_run_when_the_new_one_cannot_start(tiny_run, synth_data, tmp_path):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    for args in (["train", str(tmp_path / "no_data"), "--out", str(run), "--force", *TINY],
                 ["train", str(synth_data), "--out", str(run), "--force", "val_wells=[99]", *TINY],
                 ["train", str(synth_data), "--out", str(run), "--force", "model_options.chanels=[4]", *TINY]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert (run / "model.safetensors").exists() and (run / "config.yaml").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_asking_for_a_gpu_without_one_is_a_user_error(synth_data, tmp_path):
    result = runner.invoke(app, ["train", str(synth_data), "--out", str(tmp_path / "run"), "--accelerator", "gpu",
                                 *TINY])
    one_line_error(result, "accelerator='gpu'")
    assert not (tmp_path / "run").exists()


def test_patch_only_models_need_patch_windows(synth_data, tmp_path):
    result = runner.invoke(app, ["train", str(synth_data), "--out", str(tmp_path / "run"), "--model", "baseline_cnn",
                                 *TINY])
    one_line_error(result, "reads 36x36 patches only")


def test_resume_refuses_to_change_what_the_checkpoint_means(tiny_run, synth_data, tmp_path):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    result = runner.invoke(app, ["train", str(synth_data), "--out", str(run), "--resume", "scaler=per_pixel"])
    one_line_error(result, "cannot change scaler when resuming")


def test_evaluate_rejects_an_unknown_split(tiny_run, synth_data):
    result = runner.invoke(app, ["evaluate", str(tiny_run), str(synth_data), "--split", "valid"])
    assert result.exit_code == 2 and "Traceback" not in result.output and "valid" in result.output


def test_cpu_time_budget_stops_mid_epoch_and_still_validates(synth_data, tmp_path):
    from corroseg.workflows.train import train

    # an epoch far longer than the budget: the stop comes after a few steps, a checkpoint anyway
    overrides = [o for o in TINY if not o.startswith(("max_epochs", "windows_per_epoch"))]
    cfg = load_config(None, [*overrides, "max_epochs=3", "windows_per_epoch=4000", "max_cpu_time=0.5"])
    out = train(synth_data, tmp_path / "run", cfg, progress=False)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stopped_by"] == "max_cpu_time"
    assert metrics["epochs"] == 1  # the first epoch, cut short
    assert metrics["best"]["val_iou"] is not None
    assert 0.5 <= metrics["cpu_seconds_this_session"]
    trained = metrics["train_patches_per_s"] * metrics["train_seconds"]
    assert 0 < trained < 4000 * 2 / 4  # 72x36 windows are 2 patches each: far from a whole epoch
    assert (out / "model.safetensors").is_file()


def test_the_training_bar_counts_epochs_from_one_on_stderr():
    from corroseg.train.callbacks import TrainingBar

    bar = TrainingBar()
    bar._trainer = type("Trainer", (), {"max_epochs": 5})()
    assert bar._get_train_description(0).strip() == "Epoch 1/5" and bar._get_train_description(4).strip() == "Epoch 5/5"
    assert bar._console_kwargs["stderr"] is True  # stdout keeps the results only


# ------------------------------------------------------------------ weight averaging


def test_ema_decay_saves_the_moving_average_of_the_step_weights(synth_data, tmp_path, monkeypatch):
    decay = 0.6
    steps = []

    def record(self, *args):  # the trained weights after every optimizer step
        steps.append({k: v.detach().clone() for k, v in self.model.named_parameters()})

    monkeypatch.setattr(SegModule, "on_train_batch_end", record, raising=False)
    out = tmp_path / "run"
    # threshold 0.99: nothing is predicted, val_iou stays flat, the best checkpoint is epoch 0's
    fit(synth_data, out, load_config(None, [*RESUME, "max_epochs=2", f"ema_decay={decay}"]), progress=False)
    per_epoch = len(steps) // 2
    average = dict(steps[0])
    for weights in steps[1:per_epoch]:
        average = {k: decay * average[k] + (1 - decay) * weights[k] for k in average}
    saved = load_file(str(out / "model.safetensors"))
    for name, value in average.items():
        torch.testing.assert_close(saved[name], value)
    assert not torch.equal(saved[name], steps[per_epoch - 1][name])  # not the raw weights of the last step


def test_ema_decay_must_be_below_one():
    with pytest.raises(CorrosegUserError, match="ema_decay"):
        load_config(None, ["ema_decay=1.0"])

"""Data safety: --force touches only what corroseg wrote, outputs are never inputs, one writer at a time,
hostile files stay small, a failed command changes nothing (docs/robustness.md, the F-cases)."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from conftest import TINY, one_line_error
from corroseg.cli import app
from corroseg.data.challenge import read_images
from corroseg.data.wells import Well, load_well, save_well
from corroseg.guard import MARKER, foreign_entries, marked_kind, output_lock
from corroseg.train.module import SegModule

runner = CliRunner()


def invoke(*args) -> object:
    return runner.invoke(app, [str(a) for a in args])


def copy_run(run: Path, where: Path) -> Path:
    return Path(shutil.copytree(run, where))


# ------------------------------------------------------------------ F1: --force replaces only our folders

def test_force_never_replaces_a_folder_with_an_empty_config_or_synth_json(synth_data, tmp_path):
    for name, args, needle in (("p", ["train", synth_data, "--out", tmp_path / "p", "--force", *TINY], "run"),
                               ("q", ["synth", tmp_path / "q", "--preset", "tiny", "--force"], "dataset")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / ("config.yaml" if name == "p" else "synth.json")).write_text("")
        (folder / "important.txt").write_text("x")
        one_line_error(invoke(*args), "not marked as written by corroseg", needle)
        assert (folder / "important.txt").read_text() == "x"


def test_force_never_deletes_a_file_it_does_not_know_in_a_run(tiny_run, synth_data, tmp_path):
    run = copy_run(tiny_run, tmp_path / "run")
    (run / "notes.txt").write_text("mine")
    (run / "checkpoints" / "thesis.tex").write_text("years of work")
    one_line_error(invoke("train", synth_data, "--out", run, "--force", *TINY), "did not write",
                   "checkpoints/thesis.tex", "notes.txt")
    assert (run / "notes.txt").read_text() == "mine"
    assert sorted(foreign_entries(run, "run")) == ["checkpoints/thesis.tex", "notes.txt"]


def test_force_replaces_a_run_holding_only_its_own_files(tiny_run, synth_data, tmp_path):
    run = copy_run(tiny_run, tmp_path / "run")
    (run / ".model.abcd1234.safetensors").write_text("left by a killed writer")
    result = invoke("train", synth_data, "--out", run, "--force", *TINY)
    assert result.exit_code == 0, result.output
    assert marked_kind(run) == "run"
    assert not (run / ".model.abcd1234.safetensors").exists()


def test_a_marker_of_another_kind_or_tool_is_refused(synth_data, tmp_path):
    one_line_error(invoke("train", synth_data, "--out", synth_data, "--force", *TINY), "dataset")
    assert marked_kind(synth_data) == "dataset"
    other = tmp_path / "other"
    other.mkdir()
    (other / MARKER).write_text('{"tool": "someone-else", "schema": 1, "kind": "run"}')
    (other / "config.yaml").write_text("")
    one_line_error(invoke("train", synth_data, "--out", other, "--force", *TINY), "not marked")
    assert (other / "config.yaml").exists()


def test_demo_force_refuses_a_folder_that_is_not_a_demo(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "summary.json").write_text("my own summary")
    one_line_error(invoke("demo", "--out", home, "--preset", "tiny", "--force"), "not a corroseg demo folder")
    assert (home / "summary.json").read_text() == "my own summary"


def test_known_file_sets_cover_what_commands_write(tiny_run):
    assert foreign_entries(tiny_run, "run") == []
    mark_file = tiny_run / MARKER
    assert marked_kind(tiny_run) == "run" and mark_file.is_file()


# ------------------------------------------------------------------ F2: an output is never an input

def test_export_never_overwrites_the_runs_weights(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path / "run")
    weights = (run / "model.safetensors").read_bytes()
    one_line_error(invoke("export", run, "--out", run / "model.safetensors", "--force"), "run this command reads")
    assert (run / "model.safetensors").read_bytes() == weights


def test_predict_never_overwrites_its_input_well_directly_or_through_a_link(tiny_run, tmp_path):
    well = tmp_path / "well.npz"
    save_well(well, Well(np.zeros((144, 36), np.float32), name="w"))
    before = well.read_bytes()
    one_line_error(invoke("predict", tiny_run, well, "--out", well, "--force"), "is an input of this command")
    (tmp_path / "link.npz").symlink_to(well)
    one_line_error(invoke("predict", tiny_run, tmp_path / "link.npz", "--out", well, "--force"), "is an input")
    one_line_error(invoke("predict", tiny_run, tmp_path, "--out", tmp_path, "--force"), "dataset this command reads")
    assert well.read_bytes() == before


def test_outputs_never_replace_a_datasets_labels_or_a_runs_files(tiny_run, synth_data, tmp_path):
    data = Path(shutil.copytree(synth_data, tmp_path / "data"))
    labels = (data / "y_test.csv").read_bytes()
    one_line_error(invoke("predict", tiny_run, data, "--out", data / "y_test.csv", "--force"), "dataset")
    one_line_error(invoke("wells", data, "--out", data / "x_train", "--force"), "dataset")
    run = copy_run(tiny_run, tmp_path / "run")
    one_line_error(invoke("report", run, "--out", run / "config.yaml", "--force"), "run this command reads")
    assert (data / "y_test.csv").read_bytes() == labels
    assert yaml.safe_load((run / "config.yaml").read_text())["model"]


# ------------------------------------------------------------------ F4, F13, F6: a failed --resume changes nothing

@pytest.fixture(scope="module")
def two_epoch_run(synth_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("resume") / "run"
    result = invoke("train", synth_data, "--out", out, *[o for o in TINY if "max_epochs" not in o], "max_epochs=2")
    assert result.exit_code == 0, result.output
    return out


def test_a_failed_resume_leaves_the_config_as_it_was(two_epoch_run, synth_data, tmp_path):
    run = copy_run(two_epoch_run, tmp_path / "run")
    config = (run / "config.yaml").read_bytes()
    one_line_error(invoke("train", synth_data, "--out", run, "--resume", "max_epochs=1"), "already trained 2 epochs")
    # (threads= would change this test process's torch threads, and with them later in-process runs' bytes)
    one_line_error(invoke("train", synth_data, "--out", run, "--resume", "max_epochs=3", "max_time=600",
                          "accelerator=gpu"), "accelerator")
    assert (run / "config.yaml").read_bytes() == config

    def broken(self):
        raise RuntimeError("fails inside Lightning, before the first step")

    with pytest.MonkeyPatch.context() as patch:  # a failure inside trainer.fit, before training starts
        patch.setattr(SegModule, "configure_optimizers", broken)
        result = invoke("train", synth_data, "--out", run, "--resume", "max_epochs=3", "max_time=600")
    assert result.exit_code != 0
    assert (run / "config.yaml").read_bytes() == config
    result = invoke("train", synth_data, "--out", run, "--resume", "max_epochs=3")  # still resumable
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((run / "config.yaml").read_text())["max_epochs"] == 3


def test_resume_refuses_model_and_config(two_epoch_run, synth_data):
    for flag, value in (("--model", "unet"), ("--config", "paper")):
        one_line_error(invoke("train", synth_data, "--out", two_epoch_run, "--resume", flag, value),
                       "--model and --config cannot change a run being resumed")


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04truncated", b"\x80\x04\x95pickled code", "no state"],
                         ids=["empty", "truncated", "pickle", "no-state"])
def test_resume_from_a_damaged_checkpoint_is_one_line(two_epoch_run, synth_data, tmp_path, content):
    run = copy_run(two_epoch_run, tmp_path / "run")
    if content == "no state":  # a readable torch file that is not a Lightning checkpoint
        torch.save({"epoch": 1}, run / "checkpoints" / "last.ckpt")
    else:
        (run / "checkpoints" / "last.ckpt").write_bytes(content)
    config = (run / "config.yaml").read_bytes()
    result = invoke("train", synth_data, "--out", run, "--resume", "max_epochs=3")
    one_line_error(result, "last.ckpt", "not a readable checkpoint")
    assert "Aborted" not in result.output
    assert (run / "config.yaml").read_bytes() == config


# ------------------------------------------------------------------ F10: one writer at a time

def test_a_second_writer_of_the_same_output_is_refused_naming_the_first(synth_data, tmp_path):
    out = tmp_path / "cf"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from corroseg.guard import output_lock
            with output_lock({str(out)!r}):
                print("held", flush=True)
                time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for args in (["train", synth_data, "--out", out, "--force", *TINY],
                     ["synth", out, "--preset", "tiny", "--force"]):
            one_line_error(invoke(*args), "is being written by", f"pid {holder.pid}")
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    result = invoke("train", synth_data, "--out", out, "--force", *TINY)  # the lock died with its process
    assert result.exit_code == 0, result.output
    assert not list(tmp_path.glob(".*corroseg-lock"))


def test_the_same_process_may_lock_an_output_again(tmp_path):
    with output_lock(tmp_path / "x"), output_lock(tmp_path / "x"):
        assert (tmp_path / ".x.corroseg-lock").is_file()
    assert not (tmp_path / ".x.corroseg-lock").exists()


# ------------------------------------------------------------------ F11: SIGTERM, stale temporaries

def test_sigterm_stops_predict_cleanly(tiny_run, tmp_path):
    wells = tmp_path / "wells"
    rng = np.random.default_rng(0)
    for k in range(30):
        save_well(wells / f"well_{k}.npz", Well(0.01 * rng.standard_normal((5_000, 36)).astype(np.float32)))
    out = tmp_path / "preds"
    process = subprocess.Popen([sys.executable, "-m", "corroseg", "predict", str(tiny_run), str(wells), "--out",
                                str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not [p for p in out.glob("*.npz") if not p.name.startswith(".")] and time.monotonic() < deadline \
            and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "terminated" in stderr and "Traceback" not in stderr
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_stale_temporaries_of_a_killed_predict_are_removed_on_the_next_write(tiny_run, tmp_path):
    save_well(tmp_path / "in" / "w0.npz", Well(np.zeros((144, 36), np.float32), name="w0"))
    out = tmp_path / "out"
    out.mkdir()
    stale = [out / ".w0.k3j4h5g6.npz", out / ".w0.zz99yy88.png"]
    for path in stale:
        path.write_bytes(b"half")
    result = invoke("predict", tiny_run, tmp_path / "in", "--out", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["w0.json", "w0.npz", "w0.png"]


# ------------------------------------------------------------------ F3, F5, F6, F14: hostile or odd inputs

def _patch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.zeros((36, 36), np.float32))


def test_a_huge_patch_number_costs_no_memory(tmp_path):
    for name in ("well_1_patch_0", "well_1_patch_99999999"):
        _patch(tmp_path / "x" / f"{name}.npy")
    tracemalloc.start()
    try:
        result = invoke("inspect", tmp_path / "x")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    one_line_error(result, "gaps", "missing 1, 2, 3, 4, 5", "99,999,998 in all")
    assert peak < 50e6


def test_a_patch_number_beyond_int64_is_one_line(tmp_path):
    _patch(tmp_path / "x" / "well_1_patch_0.npy")
    _patch(tmp_path / "x" / f"well_1_patch_{2**70}.npy")
    one_line_error(invoke("inspect", tmp_path / "x"), "more than 9 digits")


def test_a_zip_patch_with_a_huge_body_is_refused_before_it_is_read(tmp_path):
    header = io.BytesIO()
    np.save(header, np.zeros((36, 36), np.float32))
    archive = tmp_path / "x.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("well_1_patch_0.npy", "w", force_zip64=True) as entry:
            entry.write(header.getvalue())
            block = bytes(1 << 20)
            for _ in range(64):  # 64 MiB of zeros after a valid 36x36 header
                entry.write(block)
    tracemalloc.start()
    try:
        result = invoke("inspect", archive)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    one_line_error(result, "too large for a 36x36 patch")
    assert peak < 20e6
    _patch(tmp_path / "big" / "well_1_patch_0.npy")
    with open(tmp_path / "big" / "well_1_patch_0.npy", "ab") as handle:
        handle.write(bytes(1 << 20))
    one_line_error(invoke("inspect", tmp_path / "big"), "too large for a 36x36 patch")


def test_a_well_npz_reads_only_the_arrays_it_uses(tmp_path):
    path = tmp_path / "well.npz"
    np.savez(path, image=np.zeros((360, 36), np.float32), unused=np.zeros(64 << 20, np.uint8))
    tracemalloc.start()
    try:
        well = load_well(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert well.image.shape == (360, 36)
    assert peak < 10e6
    np.savez(path, image=np.zeros((360, 36), np.float32), depth_start=np.zeros(8 << 20))
    one_line_error(invoke("inspect", path), "depth_start must be one value")


@pytest.mark.parametrize("key", ["depth_start", "depth_step"])
def test_implausible_depths_are_one_line(tiny_run, tmp_path, key):
    path = tmp_path / "well.npz"
    np.savez(path, image=np.zeros((144, 36), np.float32), **{key: np.float64(1e308)})
    one_line_error(invoke("inspect", path), "not plausible")
    one_line_error(invoke("predict", tiny_run, path, "--out", tmp_path / "p.npz"), "not plausible")
    assert not (tmp_path / "p.npz").exists()


def test_a_well_name_with_mathtext_draws(tiny_run, tmp_path):
    save_well(tmp_path / "w.npz", Well(np.zeros((144, 36), np.float32), name="$\\undefinedcmd{$"))
    result = invoke("predict", tiny_run, tmp_path / "w.npz", "--out", tmp_path / "p.npz")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_a_full_disk_during_train_is_one_line(synth_data, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=150k", "tmpfs", str(disk)],
                                           capture_output=True).returncode:
        pytest.skip("needs root to mount a small tmpfs (a full disk)")
    try:
        result = invoke("train", synth_data, "--out", disk / "run", *TINY)
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert result.output.strip().splitlines()[-1].startswith("error:")  # after the progress bar
        assert "no space left" in result.output
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


@pytest.mark.parametrize("override,needle", [("model_options.channels=[100000,4,8,8]", "for its parameters"),
                                             ("batch_size=100000", "lower batch_size")])
def test_a_model_or_batch_too_large_for_memory_is_refused_before_allocating(synth_data, tmp_path, override, needle):
    started = time.perf_counter()
    one_line_error(invoke("train", synth_data, "--out", tmp_path / "run", *TINY, override), needle, "GiB")
    assert not (tmp_path / "run").exists()
    assert time.perf_counter() - started < 60


def test_a_zero_byte_or_wide_label_file_is_refused_by_train_as_by_inspect(synth_data, tmp_path):
    for content in ("", ",".join(["", *map(str, range(1297))]) + "\n"):
        data = Path(shutil.copytree(synth_data, tmp_path / "data", dirs_exist_ok=True))
        (data / "y_train.csv").write_text(content)
        one_line_error(invoke("inspect", data), "y_train.csv")
        one_line_error(invoke("train", data, "--out", tmp_path / "run", *TINY), "y_train.csv")
        assert not (tmp_path / "run").exists()


def test_a_fifo_named_like_a_patch_is_skipped_with_a_message(tmp_path):
    _patch(tmp_path / "x" / "well_1_patch_0.npy")
    os.mkfifo(tmp_path / "x" / "well_1_patch_1.npy")
    result = subprocess.run([sys.executable, "-m", "corroseg", "inspect", str(tmp_path / "x")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("not a regular file; skipped") == 1  # said once, on stderr
    as_json = subprocess.run([sys.executable, "-m", "corroseg", "inspect", str(tmp_path / "x"), "--json"],
                             capture_output=True, text=True, timeout=60)
    assert any("not a regular file" in w for w in json.loads(as_json.stdout)["warnings"])
    assert len(read_images(tmp_path / "x")) == 1


def test_a_width_override_for_a_well_that_is_not_there_is_refused(dataset, tiny_run, tmp_path):
    one_line_error(invoke("inspect", dataset, "--width", "0=36"), "--width names well 0")
    one_line_error(invoke("wells", dataset, "--out", tmp_path / "w", "--width", "0=36"), "--width names well 0")
    one_line_error(invoke("predict", tiny_run, dataset / "x_test", "--out", tmp_path / "s.csv", "--width", "9=36"),
                   "--width names well 9")
    assert not (tmp_path / "w").exists() and not (tmp_path / "s.csv").exists()


# ------------------------------------------------------------------ F7: damaged run files

@pytest.mark.parametrize("value,needle", [(float("nan"), "not a finite number"), (0.0, "zero or negative")])
def test_a_scaler_with_nan_or_zero_scale_is_refused(tiny_run, tmp_path, value, needle):
    import json

    run = copy_run(tiny_run, tmp_path / "run")
    state = json.loads((run / "scaler.json").read_text())
    key = "scale" if "scale" in state else None
    if key is None:
        pytest.skip("the default scaler learns nothing (per_patch)")
    state[key] = [value] * len(state[key])
    (run / "scaler.json").write_text(json.dumps(state))
    save_well(tmp_path / "w.npz", Well(np.zeros((144, 36), np.float32)))
    one_line_error(invoke("predict", run, tmp_path / "w.npz", "--out", tmp_path / "p.npz"), "scaler.json", needle)


def test_a_scaler_with_nan_is_refused_at_load(tmp_path):
    import json

    from corroseg.data.scaling import PatchScaler
    from corroseg.errors import CorrosegInputError

    scaler = PatchScaler("global").fit(np.random.default_rng(0).standard_normal((8, 36, 36)).astype(np.float32))
    for bad in (float("nan"), 0.0, float("inf")):
        state = scaler.to_dict()
        state["scale"] = [bad]
        (tmp_path / "s.json").write_text(json.dumps(state))
        with pytest.raises(CorrosegInputError, match="scale"):
            PatchScaler.load(tmp_path / "s.json")


def test_all_nan_weights_are_refused(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path / "run")
    weights = {k: v.fill_(float("nan")) if v.is_floating_point() else v
               for k, v in load_file(str(run / "model.safetensors")).items()}
    save_file(weights, str(run / "model.safetensors"))
    save_well(tmp_path / "w.npz", Well(np.zeros((144, 36), np.float32)))
    one_line_error(invoke("predict", run, tmp_path / "w.npz", "--out", tmp_path / "p.npz"), "NaN or inf")
    assert not (tmp_path / "p.npz").exists()


# ------------------------------------------------------------------ F8: markup in printed paths

def test_markup_in_an_output_path_prints_as_is(tiny_run, tmp_path):
    save_well(tmp_path / "w.npz", Well(np.zeros((144, 36), np.float32), name="w"))
    out = tmp_path / "[red]x[/red]"
    result = invoke("predict", tiny_run, tmp_path / "w.npz", "--out", out / "p.npz")
    assert result.exit_code == 0, result.output
    assert "[red]x[/red]" in " ".join(result.output.split())


# ------------------------------------------------------------------ F12: an interrupt before the first checkpoint

def test_an_interrupt_before_the_first_checkpoint_says_what_is_true(synth_data, tmp_path):
    out = tmp_path / "run"
    args = [o for o in TINY if not o.startswith(("max_epochs", "windows_per_epoch"))]
    process = subprocess.Popen([sys.executable, "-m", "corroseg", "train", str(synth_data), "--out", str(out),
                                *args, "max_epochs=1", "windows_per_epoch=200000"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (out / "config.yaml").is_file() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert not (out / "checkpoints" / "last.ckpt").exists()
    assert "no checkpoint yet" in stderr and "--resume" not in stderr
    one_line_error(invoke("train", synth_data, "--out", out, *TINY), "pass --force to overwrite it")
    assert "--resume" not in invoke("train", synth_data, "--out", out, *TINY).output
    one_line_error(invoke("train", synth_data, "--out", out, "--resume"), "nothing to resume", "--force")
    result = invoke("train", synth_data, "--out", out, "--force", *TINY)
    assert result.exit_code == 0, result.output


# ------------------------------------------------------------------ F9: the docs say what prediction does

def test_docs_say_the_tuned_threshold_is_kept_not_used_by_default(tiny_run):
    from corroseg.infer.ensemble import load_predictor
    from corroseg.infer.threshold import read_threshold
    from corroseg.train.config import read_config

    predictor = load_predictor(tiny_run)
    assert predictor.threshold == read_config(tiny_run / "config.yaml").threshold
    assert load_predictor(tiny_run, threshold="tuned").threshold == read_threshold(tiny_run)
    training = (Path(__file__).parents[1] / "docs" / "training.md").read_text()
    assert "on by default" not in training.split("**Threshold tuned on held-out wells")[1][:40]
    assert "Prediction uses the config's\n`threshold`" in training

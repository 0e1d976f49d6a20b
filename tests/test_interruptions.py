"""Interruptions: kill -9 then --resume, Ctrl-C, atomic writes; and determinism of synth, train, predict."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from conftest import TINY
from corroseg.atomic import atomic_dir, atomic_path, remove_temps, write_json
from corroseg.cli import app
from corroseg.data.wells import Well, save_well
from corroseg.guard import MARKER
from corroseg.synth.generator import write_dataset

runner = CliRunner()

EPOCHS = 8
TRAIN = [o for o in TINY if not o.startswith("max_epochs")]


def corroseg(*args: str, cwd: Path) -> subprocess.Popen:
    """``corroseg ARGS`` in a fresh process, Ctrl-C reaching it as from a terminal.

    A shell running this suite in the background ignores SIGINT, and Python keeps an
    ignored SIGINT ignored: the child restores the default first.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "corroseg", *map(str, args)], cwd=cwd, text=True,
        stdout=open(cwd / "stdout.txt", "w"), stderr=open(cwd / "stderr.txt", "w"),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for(predicate, process: subprocess.Popen, timeout: float = 60.0) -> None:
    """Poll until ``predicate()``; fail if the process ends first."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            raise AssertionError(f"corroseg ended (exit {process.returncode}) before the point to interrupt it")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("timed out waiting for the point to interrupt")
        time.sleep(0.02)


def temp_files(folder: Path) -> list[Path]:
    """Files or folders a writer left half-done (temporary names start with a dot)."""
    return [p for p in folder.rglob(".*") if p.name != MARKER]


# ------------------------------------------------------------------ atomic writes

def test_atomic_write_leaves_the_old_file_on_error(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"v": 1})
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text('{"v": 2, "half')
            raise KeyboardInterrupt
    assert json.loads(target.read_text()) == {"v": 1}
    assert temp_files(tmp_path) == []


def test_an_interrupted_folder_leaves_the_old_one_whole(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "old.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(tmp_path / "data", replace=True) as staging:
            (staging / "new.txt").write_text("half")
            raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["data"]
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["old.txt"]
    with atomic_dir(tmp_path / "data", replace=True) as staging:
        (staging / "new.txt").write_text("whole")
    assert [p.name for p in tmp_path.iterdir()] == ["data"]
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["new.txt"]


def test_atomic_write_keeps_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        path = write_json(tmp_path / "a.json", {})
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's private 0o600


def test_stale_temporary_files_of_a_killed_writer_are_removed(tmp_path):
    (tmp_path / ".last.abc123.ckpt").write_bytes(b"half")
    (tmp_path / "last.ckpt").write_bytes(b"whole")
    (tmp_path / ".keep.txt").write_text("not ours")
    assert remove_temps(tmp_path, ["last.ckpt"]) == [tmp_path / ".last.abc123.ckpt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".keep.txt", "last.ckpt"]


# ------------------------------------------------------------------ kill -9, then --resume

def checkpoint_writes(path: Path):
    """A predicate: True once ``path`` has been (re)written since the last time it was True."""
    seen = [None]

    def written() -> bool:
        try:
            stamp = path.stat().st_ino, path.stat().st_mtime_ns  # an atomic rewrite is a new file
        except FileNotFoundError:
            return False
        if stamp == seen[0]:
            return False
        seen[0] = stamp
        return True

    return written


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11])
def test_sigkill_then_resume_ends_as_an_uninterrupted_run(synth_data, tmp_path, seed):
    chance = random.Random(seed)
    killed = tmp_path / "killed"
    process = corroseg("train", synth_data, "--out", killed, *TRAIN, f"max_epochs={EPOCHS}", cwd=tmp_path)
    written = checkpoint_writes(killed / "checkpoints" / "last.ckpt")
    for _ in range(chance.randint(1, EPOCHS - 3)):  # the end of a random epoch ...
        wait_for(written, process)
    time.sleep(chance.uniform(0.0, 0.1))  # ... and a random moment of the next one
    assert process.poll() is None, "training ended before it was killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "metrics.json").exists()
    at_kill = torch.load(killed / "checkpoints" / "last.ckpt", weights_only=True)["epoch"]
    assert at_kill < EPOCHS - 1  # epochs were left to resume
    resumed = runner.invoke(app, ["train", str(synth_data), "--out", str(killed), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    straight = tmp_path / "straight"
    result = runner.invoke(app, ["train", str(synth_data), "--out", str(straight), *TRAIN, f"max_epochs={EPOCHS}"])
    assert result.exit_code == 0, result.output

    assert (killed / "model.safetensors").read_bytes() == (straight / "model.safetensors").read_bytes()
    figures = [json.loads((run / "metrics.json").read_text()) for run in (killed, straight)]
    for key in ("best", "epochs", "stopped_by"):
        assert figures[0][key] == figures[1][key], key
    assert figures[0]["epochs"] == EPOCHS
    assert json.loads((killed / "threshold.json").read_text()) == json.loads((straight / "threshold.json").read_text())
    lasts = [torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"] for run in (killed, straight)]
    assert all(torch.equal(lasts[0][k], lasts[1][k]) for k in lasts[1])
    assert temp_files(killed) == []


# ------------------------------------------------------------------ Ctrl-C

def _interrupted(process: subprocess.Popen, cwd: Path) -> str:
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    stderr = (cwd / "stderr.txt").read_text()
    assert "Traceback" not in stderr
    assert [line for line in stderr.splitlines() if line.startswith("interrupted")], stderr
    return stderr


def test_ctrl_c_stops_training_cleanly(synth_data, tmp_path):
    run = tmp_path / "run"
    process = corroseg("train", synth_data, "--out", run, *TRAIN, "max_epochs=100", cwd=tmp_path)
    wait_for(lambda: (run / "checkpoints" / "last.ckpt").is_file(), process)
    stderr = _interrupted(process, tmp_path)
    assert "--resume" in stderr
    assert temp_files(run) == []
    assert not (run / "model.safetensors").exists()  # an unfinished run never looks finished
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] >= 0


def finished(out: Path) -> list[Path]:
    """The well predictions written to ``out`` (not the temporary files being written)."""
    return sorted(p for p in out.glob("*.npz") if not p.name.startswith(".")) if out.is_dir() else []


def test_ctrl_c_stops_predict_cleanly(tiny_run, tmp_path):
    rows = 5_000
    wells = tmp_path / "wells"
    rng = np.random.default_rng(0)
    count = 30  # far more than a loaded machine can finish between our first look and the signal
    for k in range(count):
        save_well(wells / f"well_{k}.npz", Well(0.01 * rng.standard_normal((rows, 36)).astype(np.float32)))
    out = tmp_path / "preds"
    process = corroseg("predict", tiny_run, wells, "--out", out, cwd=tmp_path)
    wait_for(lambda: bool(finished(out)), process)
    _interrupted(process, tmp_path)
    assert temp_files(out) == []
    done = finished(out)
    assert 1 <= len(done) < count  # stopped part-way ...
    for npz in done:  # ... with every written well whole: its .npz readable and its .png beside it
        assert np.load(npz)["mask"].shape == (rows, 36)
        assert npz.with_suffix(".png").is_file()


# ------------------------------------------------------------------ determinism (CPU)

def test_synth_is_bit_identical_for_a_seed(tmp_path):
    first, second = (write_dataset(tmp_path / name, seed=3, preset="tiny") for name in ("a", "b"))
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    different = [f for f in files if (first / f).read_bytes() != (second / f).read_bytes()]
    assert not different, different[:3]


def test_predict_is_bit_identical(tiny_run, synth_data, tmp_path):
    wells = sorted((synth_data / "wells").glob("test_*.npz"))
    outputs = []
    for name in ("a", "b"):
        result = runner.invoke(app, ["predict", str(tiny_run), str(synth_data / "wells"), "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        result = runner.invoke(app, ["predict", str(tiny_run), str(synth_data / "x_test"), "--out",
                                     str(tmp_path / f"{name}.csv")])
        assert result.exit_code == 0, result.output
        outputs.append(tmp_path / name)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    for well in wells:
        a, b = (np.load(folder / well.name) for folder in outputs)
        for key in ("probability", "mask", "valid"):
            assert np.array_equal(a[key], b[key], equal_nan=key == "probability"), (well.name, key)


def test_train_is_bit_identical_in_deterministic_mode(synth_data, tiny_run, tmp_path):
    again = runner.invoke(app, ["train", str(synth_data), "--out", str(tmp_path / "again"), *TINY])
    assert again.exit_code == 0, again.output
    assert load_file(str(tmp_path / "again" / "model.safetensors")).keys() == load_file(str(tiny_run / "model.safetensors")).keys()
    assert (tmp_path / "again" / "model.safetensors").read_bytes() == (tiny_run / "model.safetensors").read_bytes()


def test_the_interruption_starts_a_line_of_its_own_after_an_unfinished_progress_line(capsys):
    from corroseg.cli import common

    print("Epoch 1/100 ━━━━ 2/2 train_loss_epoch: 1.565", end="", file=sys.stderr)  # a bar stopped mid-render
    common._say_interrupted(KeyboardInterrupt("the run keeps its last checkpoint; continue with --resume"))
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1] == "interrupted: the run keeps its last checkpoint; continue with --resume"

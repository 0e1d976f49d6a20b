"""`corroseg train` with two CPU processes (DDP over gloo), run as a user would: the console script."""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TINY

TIMEOUT_S = 180


def console_script() -> str:
    beside = Path(sys.executable).parent / "corroseg"
    if beside.is_file():
        return str(beside)
    found = shutil.which("corroseg")
    if found is None:
        pytest.skip("the corroseg console script is not installed")
    return found


@pytest.mark.slow
def test_train_ddp_two_cpu_processes(synth_data, tmp_path):
    run = tmp_path / "run"
    command = [
        console_script(), "train", str(synth_data), "--out", str(run),
        "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp",
        # batch_size=1: the tiny validation well (108 rows) gives two 72-row tiles, one batch per rank
        # (fewer validation batches than ranks is another bug, see test_datamodule)
        *[o for o in TINY if not o.startswith("batch_size")], "batch_size=1", "threads=1",
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "MASTER_ADDR": "127.0.0.1"}
    env.pop("MASTER_PORT", None)
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the group holds only the processes this test started
        output, _ = process.communicate()
        pytest.fail(f"DDP training did not finish in {TIMEOUT_S} s:\n{output[-3000:]}")
    assert process.returncode == 0, f"exit {process.returncode}:\n{output[-3000:]}"
    assert (run / "model.safetensors").is_file()
    assert (run / "metrics.json").is_file()
    assert "Traceback" not in output


def test_multi_machine_flags_reach_lightning(tmp_path):
    from lightning.pytorch.strategies import DDPStrategy

    from corroseg.train.config import load_config
    from corroseg.train.fit import _build_trainer

    cfg = load_config("default", accelerator="cpu", devices=2, num_nodes=3, strategy="ddp")
    trainer = _build_trainer(cfg, tmp_path, False, [], [], False)
    assert trainer.num_nodes == 3 and trainer.num_devices == 2 and isinstance(trainer.strategy, DDPStrategy)
    assert trainer.world_size == 6  # 3 machines x 2 processes, ranks set by the environment each machine gets

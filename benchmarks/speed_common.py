"""What every part of the speed benchmark shares: paths, the clock, progress lines, timing loops.

``benchmarks/speed.py`` is the script to run; this module and the other ``speed_*``
modules beside it are its parts (benchmarks/ is on ``sys.path`` when it runs).
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).resolve().with_name("speed.py")
"""The script that child processes run (``--child-model``): the driver, not this module."""
PATCH = 36
PATCH_PIXELS = PATCH * PATCH
STARTED = time.perf_counter()
"""When the benchmark started (this module is imported at the driver's start)."""


class UserMistake(Exception):
    """An argument the user can fix: printed as one line, exit code 2."""


def log(message: str) -> None:
    """Print one progress line with the seconds since start (the parent's start, in a child)."""
    t0 = os.environ.get("CORROSEG_SPEED_T0")
    elapsed = time.time() - float(t0) if t0 else time.perf_counter() - STARTED
    print(f"[speed {elapsed:7.1f}s] {message}", flush=True)


def one_line(exc: BaseException) -> str:
    """An exception as one short line: ``Type: first line``."""
    text = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {text}"[:200]


def median(values: list[float]) -> float | None:
    """The median, None for no values."""
    return statistics.median(values) if values else None


def synchronizer(device: torch.device):
    """A function that waits for the device's queued work (a no-op on CPU)."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def timed_rate(step, items: float, sync, min_seconds: float, warm: bool) -> float:
    """Items per second of ``step()``: called until ``min_seconds`` have passed (once at least).

    ``warm`` False runs one untimed call first (allocators, kernel choice, caches).
    """
    if not warm:
        step()
        sync()
    calls, start = 0, time.perf_counter()
    while True:
        step()
        calls += 1
        sync()
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return items * calls / elapsed


def free_memory(device: torch.device) -> None:
    """Drop what the last measurement left (and the CUDA cache), so the next one starts alike."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def child_env() -> dict:
    """The environment for child processes: PYTHONPATH made absolute, the imported corroseg first."""
    import corroseg

    package_root = str(Path(corroseg.__file__).resolve().parents[1])
    parts = [str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([package_root, *parts]))
    return env

"""Speed benchmark, part 3: one model measured in child processes, so a crash in native code loses one setting.

The parent (:func:`isolated_rates`) runs ``speed.py --child-model NAME`` (:func:`child_main`
on the child's side), which keeps a state file current; a child that dies is replaced by one
that skips what crashed and what is done. :func:`measure_model` is the entry point.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from docs_tables import write_json
from speed_common import PATCH, SCRIPT, STARTED, child_env, log, one_line
from speed_models import TRAIN_SETTINGS, Spec, measure_rates, model_result, model_specs, profile_forward


def isolated_rates(spec: Spec, args: argparse.Namespace, device: torch.device) -> dict:
    """:func:`measure_rates` in child processes, so that a crash of native code loses one setting only.

    A child that dies is replaced by another that skips what crashed and what is done;
    the setting running at the crash is reported as crashed, with the child's last words.
    """
    merged: dict = {"train": {"settings": {}, "skipped": {}}, "infer": {"settings": {}, "skipped": {}}}
    skip: set[str] = set()
    for _ in range(2 + len(TRAIN_SETTINGS) + 3):
        state, returncode, last_words = _run_child(spec, args, device, skip)
        _merge(merged, state)
        if returncode == 0:
            break
        crashed = (state or {}).get("current")
        reason = f"process crashed ({_signal_name(returncode)}: {last_words})"
        log(f"{spec.name}: {reason}" + (f" while measuring {crashed}" if crashed else ""))
        if not crashed:
            for part in merged.values():
                if not part.get("done"):
                    part.setdefault("error", reason)
            break
        kind, setting = crashed.split("/", 1)
        if setting == "*":
            merged[kind]["error"] = reason
        else:
            merged[kind]["settings"].setdefault(setting, {"rates": []})["error"] = reason
        skip |= _finished(merged, args.repeats) | {crashed}
    return merged


def _run_child(spec: Spec, args: argparse.Namespace, device: torch.device, skip: set[str]):
    """One child measuring ``spec``: (its last state or None, return code, last stderr line)."""
    with tempfile.TemporaryDirectory(prefix="corroseg_speed_child_") as tmp:
        out = Path(tmp) / "state.json"
        command = [sys.executable, str(SCRIPT), "--child-model", spec.name,
                   "--child-out", str(out), "--device", device.type, "--threads", str(torch.get_num_threads()),
                   "--repeats", str(args.repeats), "--min-seconds", str(args.min_seconds)]
        command += ["--quick"] if args.quick else []
        command += [a for s in sorted(skip) for a in ("--child-skip", s)]
        env = child_env()
        env["CORROSEG_SPEED_T0"] = str(time.time() - (time.perf_counter() - STARTED))
        done = subprocess.run(command, env=env, stdout=None, stderr=subprocess.PIPE, text=True, errors="replace")
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        state = json.loads(out.read_text()) if out.is_file() else None
        return state, done.returncode, (lines[-1][:160] if lines else "no output")


def _signal_name(returncode: int) -> str:
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit code {returncode}"


def _merge(merged: dict, state: dict | None) -> None:
    """Add a child's rates, skipped settings, errors and done flags to ``merged``."""
    for kind in ("train", "infer"):
        part = (state or {}).get(kind)
        if not part:
            continue
        target = merged[kind]
        target["skipped"].update(part.get("skipped", {}))
        for key in ("error", "done"):
            if key in part:
                target[key] = part[key]
        for setting, row in part["settings"].items():
            into = target["settings"].setdefault(setting, {"rates": []})
            into["rates"] += row["rates"]
            if "error" in row:
                into["error"] = row["error"]


def _finished(merged: dict, repeats: int) -> set[str]:
    """``kind/*`` of kinds done, ``kind/setting`` of settings with all their repeats."""
    out = set()
    for kind, part in merged.items():
        if part.get("done"):
            out.add(f"{kind}/*")
        out |= {f"{kind}/{s}" for s, row in part["settings"].items() if len(row["rates"]) >= repeats}
    return out


def child_main(args: argparse.Namespace) -> int:
    """The child's side of :func:`isolated_rates`: measure one model, keep the state file current."""
    device = torch.device(args.device if args.device != "auto" else "cpu")
    spec = next(s for s in model_specs(device, args.quick) if s.name == args.child_model)
    if args.threads:
        torch.set_num_threads(args.threads)

    def save(state: dict) -> None:
        write_json(args.child_out, state)

    measure_rates(spec, device, args.repeats, args.min_seconds, frozenset(args.child_skip), save)
    return 0


def measure_model(spec: Spec, args: argparse.Namespace, device: torch.device, ceilings: dict,
                  bandwidth: float | None) -> dict:
    """One model's figures, measured in child processes unless ``--in-process``."""
    try:
        profile = profile_forward(spec.name, spec.options, PATCH)
        log(f"{spec.name}: {profile['flops'] / 1e9:.4g} GFLOP/patch forward, {profile['parameters']:,} parameters")
    except Exception as exc:
        log(f"{spec.name}: FLOP count FAILED {one_line(exc)}")
    if args.in_process:
        rates = measure_rates(spec, device, args.repeats, args.min_seconds)
    else:
        rates = isolated_rates(spec, args, device)
    return model_result(spec, rates, device, ceilings, bandwidth)

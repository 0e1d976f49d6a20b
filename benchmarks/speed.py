"""Speed benchmark: matmul ceilings, per-model training/inference throughput, one real well end to end.

Usage
-----
    python benchmarks/speed.py --quick --docs /tmp/speed.md --json /tmp/speed.json
    python benchmarks/speed.py [--run RUN] [--data ../shared/data/challenge | --well-file WELL.npz]
    python benchmarks/speed.py --skip-models --skip-e2e --save-well .bench/well5.npz   # write the well only
    PYTHONPATH=src python benchmarks/speed.py --quick --device cuda --well-file .bench/well5.npz \\
        --section speed-cuda --docs /tmp/speed_cuda.md --json /tmp/speed_cuda.json

Everything is measured in one process on one machine, because shared machines drift:
read ratios measured in the same run rather than absolute figures. Every measurement is
repeated ``--repeats`` times, the settings of one model taking turns (interleaved), and
the median is reported. A progress line is printed per measurement.

What is measured
----------------
1. Matrix-multiply ceilings (GFLOP/s) with ``torch.matmul`` of square matrices: fp32 and
   bf16 on CPU; fp32 without TF32, TF32 and bf16 on CUDA; plus a memory-copy bandwidth
   (GB/s, bytes read + written) used for a roofline estimate.
2. Per model of the registry: forward FLOPs per 36x36 patch (``forward_flops``, a
   multiply-add = 2); training throughput (AdamW step, loss "bce + iou") in 36x36-patch
   equivalents per second for fp32/bf16-autocast x NCHW/channels_last; inference
   throughput (eval, inference mode) for eager fp32, eager bf16 autocast and ONNX Runtime;
   achieved GFLOP/s (training counts 3 x forward FLOPs) and its fraction of the matching
   precision's ceiling.
3. End to end: seconds and peak RSS of ``corroseg predict RUN WELL.npz --out OUT`` on real
   test well 5 (70,740 x 36) in a fresh child process, with the run's defaults (TTA and
   random walker on, engine auto), with ``--engine onnx`` and with ``--no-tta``. Without
   ``--run`` a throwaway run is trained first (tiny synthetic data, one short epoch; its
   time is reported apart and not counted).
4. Goals (met / missed): on CPU, wellnet inference >= 60 % and training >= 50 % of the
   precision's matmul ceiling; test well 5 end to end in < 60 s with peak RSS < 2 GB.

The markdown section goes between ``<!-- speed:begin -->`` and ``<!-- speed:end -->`` of
``--docs`` (``--section NAME`` changes ``speed``), replaced atomically or appended.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import gc
import json
import os
import platform
import resource
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/ helpers (cli_peak)

REPO = Path(__file__).resolve().parents[1]
PATCH = 36
PATCH_PIXELS = PATCH * PATCH
STARTED = time.perf_counter()
GOAL_INFER, GOAL_TRAIN = 0.60, 0.50
GOAL_SECONDS, GOAL_RSS_MB = 60.0, 2000.0
"""End-to-end goals: seconds, and peak RSS in MB (2 GB = 2,000 MB = 1,907 MiB)."""

TRAIN_SETTINGS = ("fp32 NCHW", "fp32 channels_last", "bf16 NCHW", "bf16 channels_last")


class UserMistake(Exception):
    """An argument the user can fix: printed as one line, exit code 2."""


# ----------------------------------------------------------------------------- helpers


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
    return statistics.median(values) if values else None


def fmt(value, digits: int = 3) -> str:
    """A number with about ``digits`` significant digits, thousands separated; '-' for None."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if value == 0:
        return "0"
    if abs(value) >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    decimals = digits - 1 - int(np.floor(np.log10(abs(value))))
    return f"{value:,.{max(decimals, 0)}f}"


def pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def md_table(headers: list[str], rows: list[list], right: set[int] | None = None) -> str:
    """A markdown table; columns in ``right`` are right-aligned."""
    right = right or set()
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


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
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


# ----------------------------------------------------------------------------- machine


def machine(device: torch.device) -> dict:
    """What the figures were measured on."""
    info = {
        "python": platform.python_version(), "platform": platform.platform(),
        "cpu_model": _cpu_model(), "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "device": str(device),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except Exception:  # older torch
        pass
    info["cpu_bf16_isa"] = _cpu_flags({"avx512_bf16", "amx_bf16", "amx_tile", "avx_vnni"})
    try:
        import onnxruntime as ort

        info["onnxruntime"] = ort.__version__
        info["onnxruntime_providers"] = ort.get_available_providers()
    except Exception as exc:
        info["onnxruntime"] = f"unavailable ({one_line(exc)})"
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        info["cudnn_allow_tf32"] = bool(torch.backends.cudnn.allow_tf32)
    return info


def _cpu_flags(wanted: set[str]) -> list[str]:
    """Which of ``wanted`` the CPU advertises (Linux ``/proc/cpuinfo``); bf16 matmul is slow without them."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return sorted(wanted & set(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return []


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# ----------------------------------------------------------------------------- ceilings


def matmul_step(n: int, dtype: torch.dtype, device: torch.device):
    """A function computing one ``n x n`` product in ``dtype`` on ``device`` (2 n^3 FLOPs)."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=generator).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=generator).to(device=device, dtype=dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    return lambda: torch.matmul(a, b, out=out)


def ceiling_kinds(device: torch.device) -> dict[str, tuple[torch.dtype, str]]:
    """Ceiling name -> (dtype, float32 matmul precision)."""
    if device.type == "cuda":
        return {"fp32": (torch.float32, "highest"), "tf32": (torch.float32, "high"),
                "bf16": (torch.bfloat16, "highest")}
    return {"fp32": (torch.float32, "highest"), "bf16": (torch.bfloat16, "highest")}


def measure_ceilings(device: torch.device, n: int, repeats: int, min_seconds: float) -> dict:
    """Median GFLOP/s of ``torch.matmul`` per precision, and copy bandwidth (GB/s), interleaved."""
    sync = synchronizer(device)
    previous = torch.get_float32_matmul_precision()
    rates: dict[str, list[float]] = {}
    errors: dict[str, str] = {}
    steps = {}
    for name, (dtype, precision) in ceiling_kinds(device).items():
        try:
            steps[name] = (matmul_step(n, dtype, device), precision)
        except Exception as exc:
            errors[name] = one_line(exc)
    copy_step, copy_bytes = _copy_step(device, 64 * 2**20 if device.type == "cpu" else 256 * 2**20)
    warm: set[str] = set()
    try:
        for r in range(repeats):
            for name, (step, precision) in steps.items():
                try:
                    torch.set_float32_matmul_precision(precision)
                    rate = timed_rate(step, 2 * n**3 / 1e9, sync, min_seconds, name in warm)
                    warm.add(name)
                    rates.setdefault(name, []).append(rate)
                    log(f"ceiling {name} matmul {n}x{n} repeat {r + 1}/{repeats}: {rate:,.0f} GFLOP/s")
                except Exception as exc:
                    errors[name] = one_line(exc)
                    log(f"ceiling {name}: FAILED {errors[name]}")
            try:
                rate = timed_rate(copy_step, 2 * copy_bytes / 1e9, sync, min_seconds, "copy" in warm)
                warm.add("copy")
                rates.setdefault("copy", []).append(rate)
                log(f"memory copy {copy_bytes / 2**20:.0f} MiB repeat {r + 1}/{repeats}: {rate:,.1f} GB/s")
            except Exception as exc:
                errors["copy"] = one_line(exc)
    finally:
        torch.set_float32_matmul_precision(previous)
    gflops = {k: median(v) for k, v in rates.items() if k != "copy"}
    return {"size": n, "threads": torch.get_num_threads(), "gflops": gflops,
            "copy_gbps": median(rates.get("copy", [])), "copy_mib": copy_bytes / 2**20, "errors": errors}


def _copy_step(device: torch.device, nbytes: int):
    src = torch.ones(nbytes // 4, device=device)
    dst = torch.empty_like(src)
    return (lambda: dst.copy_(src)), nbytes


# ----------------------------------------------------------------------------- models


@dataclass
class Spec:
    """How one registry model is measured."""

    name: str
    options: dict
    train_rows: int
    train_batch: int
    infer_rows: int
    infer_batch: int
    note: str = ""
    paper_options: dict = field(default_factory=dict)
    """Options whose FLOPs are also reported (when the measured model is scaled down)."""


MODEL_NAMES = ("wellnet", "xscat_unet", "baseline_cnn", "corroseg", "sadd_unet", "fcn_transpose", "fcn_bilinear")


def model_specs(device: torch.device, quick: bool) -> list[Spec]:
    """Window sizes and batches per model for this device and mode (the tables say which)."""
    gpu = device.type == "cuda"
    # 128 patches = the pixels of wellnet's 32 windows of 144 rows; --quick on CPU uses fewer
    small = 1024 if gpu else (32 if quick else 128)
    corroseg_train = 512 if gpu else (8 if quick else 128)
    corroseg_infer = 1024 if gpu else (16 if quick else 128)
    sadd_width = 64 if gpu or not quick else 8
    sadd_batch = (4 if quick else 8) if gpu else (2 if quick else 1)
    wellnet_note = "trains on 144x36 windows (batch 32 in the default config), infers 576x36 windows"
    if gpu:
        wellnet_note += "; GPU batches enlarged"
    sadd_note = ("full size (width=64, as in the paper)" if sadd_width == 64
                 else f"SCALED DOWN: width={sadd_width} (paper 64); FLOPs/patch below are for width={sadd_width}")
    return [
        Spec("wellnet", {}, 144, 256 if gpu else 32, 576, 256 if gpu else 16, wellnet_note),
        Spec("xscat_unet", {}, PATCH, small, PATCH, small, "36x36 patches"),
        Spec("baseline_cnn", {}, PATCH, small, PATCH, small, "36x36 patches only"),
        Spec("corroseg", {"skip": "cat", "decoder_bn": True}, PATCH, corroseg_train, PATCH, corroseg_infer,
             "ResNet-50 U-Net; 36x36 patches (paper batch 128)" + (
                 "; --quick: smaller batches, so work proportional to its 72M parameters (optimiser, "
                 "weight layout) weighs more per patch" if quick and not gpu else "")),
        Spec("sadd_unet", {"width": sadd_width}, PATCH, sadd_batch, PATCH, sadd_batch, sadd_note,
             paper_options={"width": 64}),
        Spec("fcn_transpose", {}, PATCH, small, PATCH, small, "36x36 patches"),
        Spec("fcn_bilinear", {}, PATCH, small, PATCH, small, "36x36 patches"),
    ]


def profile_forward(name: str, options: dict, rows: int, width: int = PATCH) -> dict:
    """Forward FLOPs and activation bytes of one ``rows x width`` window, counted on the meta device.

    Bytes: every leaf module's inputs and outputs (``activation_bytes``) and parameters
    (``parameter_bytes``, read once per batch) at 4 bytes each (fp32), a rough lower bound of
    memory traffic (functional ops such as cat, pad and interpolate are not counted), so the
    intensity FLOP/byte derived from them is an upper bound.
    """
    from corroseg.models import create
    from corroseg.models.registry import count_parameters, forward_flops

    with torch.device("meta"):
        model = create(name, **options)
    total = {"activation_bytes": 0}

    def hook(module, inputs, output):
        tensors = [t for t in (*inputs, *(output if isinstance(output, (tuple, list)) else [output]))
                   if isinstance(t, torch.Tensor)]
        total["activation_bytes"] += 4 * sum(t.numel() for t in tensors)

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        flops = forward_flops(model, rows, width)
    finally:
        for handle in handles:
            handle.remove()
    parameters = count_parameters(model)
    return {"flops": flops, "activation_bytes": total["activation_bytes"], "parameter_bytes": 4 * parameters,
            "parameters": parameters}


def build_model(spec: Spec, device: torch.device):
    from corroseg.models import create

    torch.manual_seed(0)
    return create(spec.name, **spec.options).to(device)


def ceiling_for(setting: str, device: torch.device) -> str:
    """Which matmul ceiling a setting is compared with.

    On CUDA, fp32 convolutions use TF32 when ``torch.backends.cudnn.allow_tf32`` (the
    default), so they are compared with the TF32 ceiling.
    """
    if "bf16" in setting:
        return "bf16"
    if device.type == "cuda" and torch.backends.cudnn.allow_tf32:
        return "tf32"
    return "fp32"


def train_steps(spec: Spec, device: torch.device) -> dict:
    """One training-step function per setting (each with its own model copy and optimiser)."""
    from corroseg.models.losses import create_loss

    loss = create_loss("bce + iou").to(device)
    shape = (spec.train_batch, 1, spec.train_rows, PATCH)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=generator).to(device)
    y = (torch.rand(shape, generator=generator) < 0.07).float().to(device)
    valid = torch.ones(shape, dtype=torch.bool, device=device)
    base = build_model(spec, device).train()
    steps = {}
    for setting in TRAIN_SETTINGS:
        channels_last, bf16 = "channels_last" in setting, "bf16" in setting
        model = copy.deepcopy(base)
        xs = x
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
            xs = x.contiguous(memory_format=torch.channels_last)
        steps[setting] = _train_step(model, loss, xs, y, valid, bf16, device.type)
    return steps


def _train_step(model, loss, x, y, valid, bf16: bool, device_type: str):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        value = loss(logits.float(), y, valid)
        value.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def infer_steps(spec: Spec, device: torch.device) -> tuple[dict, dict]:
    """One inference function per setting; and settings skipped, with the reason."""
    shape = (spec.infer_batch, 1, spec.infer_rows, PATCH)
    x_cpu = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    x = x_cpu.to(device)
    model = build_model(spec, device).eval()
    steps, skipped = {}, {}
    for setting, bf16 in (("eager fp32", False), ("eager bf16", True)):
        steps[setting] = _infer_step(model, x, bf16, device.type)
    try:
        steps.update(_onnx_step(spec, model, x_cpu, device))
    except Exception as exc:
        skipped["onnxruntime"] = one_line(exc)
    return steps, skipped


def _infer_step(model, x, bf16: bool, device_type: str):
    @torch.inference_mode()
    def step():
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
            return model(x)

    return step


def _onnx_step(spec: Spec, model, x_cpu: torch.Tensor, device: torch.device) -> dict:
    """ONNX Runtime fp32: the project's CPU predictor, or a CUDA session where the provider exists."""
    from corroseg.infer.onnx import OnnxModel, export_bytes

    cpu_model = copy.deepcopy(model).to("cpu").float().eval()
    batch = x_cpu.numpy()
    if device.type == "cpu":
        runner = OnnxModel(export_bytes(cpu_model), threads=torch.get_num_threads())
        return {"onnxruntime fp32": lambda: runner(batch)}
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise RuntimeError(f"onnxruntime {ort.__version__} has no CUDAExecutionProvider "
                           f"(providers: {', '.join(ort.get_available_providers())})")
    session = ort.InferenceSession(export_bytes(cpu_model), providers=["CUDAExecutionProvider"])
    if session.get_providers()[:1] != ["CUDAExecutionProvider"]:  # it falls back to CPU silently
        raise RuntimeError(f"onnxruntime could not start its CUDA provider (got {session.get_providers()})")
    name = session.get_inputs()[0].name
    return {"onnxruntime CUDA fp32 (host arrays)": lambda: session.run(None, {name: batch})}


def measure_rates(spec: Spec, device: torch.device, repeats: int, min_seconds: float,
                  skip: frozenset[str] = frozenset(), on_update=lambda state: None) -> dict:
    """Patches/s of every training and inference setting of one model (settings interleaved).

    ``skip`` holds ``"kind/setting"`` (or ``"kind/*"``) entries not to measure. ``on_update``
    is called with the state before and after every measurement; the state's ``current``
    names what is being measured, so that a crash of the process can be pinned on it.
    """
    state: dict = {"current": None}
    for kind in ("train", "infer"):
        part = state[kind] = {"settings": {}, "skipped": {}}
        if f"{kind}/*" in skip:
            continue
        steps = None
        try:
            state["current"] = f"{kind}/*"
            on_update(state)
            if kind == "train":
                steps = train_steps(spec, device)
            else:
                steps, part["skipped"] = infer_steps(spec, device)
            for setting, reason in part["skipped"].items():
                log(f"{spec.name} {kind} {setting}: skipped ({reason})")
            steps = {s: f for s, f in steps.items() if f"{kind}/{s}" not in skip}
            _interleave(spec, kind, steps, device, repeats, min_seconds, state, on_update)
        except Exception as exc:
            part["error"] = one_line(exc)
            log(f"{spec.name} {kind}: FAILED {part['error']}")
        finally:
            steps = None
            free_memory(device)
        part["done"] = True
        state["current"] = None
        on_update(state)
    return state


def _interleave(spec: Spec, kind: str, steps: dict, device: torch.device, repeats: int, min_seconds: float,
                state: dict, on_update) -> None:
    """Time every setting ``repeats`` times, the settings taking turns; rates go into ``state``."""
    sync = synchronizer(device)
    rows = spec.train_rows if kind == "train" else spec.infer_rows
    batch = spec.train_batch if kind == "train" else spec.infer_batch
    patches = batch * rows * PATCH / PATCH_PIXELS
    settings = state[kind]["settings"]
    for setting in steps:
        settings[setting] = {"rates": []}
    warm: set[str] = set()
    for r in range(repeats):
        for setting, step in steps.items():
            if "error" in settings[setting]:
                continue
            state["current"] = f"{kind}/{setting}"
            on_update(state)
            try:
                rate = timed_rate(step, patches, sync, min_seconds, setting in warm)
                warm.add(setting)
                settings[setting]["rates"].append(rate)
                log(f"{spec.name} {kind} {setting} repeat {r + 1}/{repeats}: {rate:,.1f} patches/s")
            except Exception as exc:
                settings[setting]["error"] = one_line(exc)
                log(f"{spec.name} {kind} {setting}: FAILED {settings[setting]['error']}")
                free_memory(device)
    on_update(state)


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
        command = [sys.executable, str(Path(__file__).resolve()), "--child-model", spec.name,
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
        _atomic_write(args.child_out, json.dumps(state))

    measure_rates(spec, device, args.repeats, args.min_seconds, frozenset(args.child_skip), save)
    return 0


def _profile(spec: Spec, ceilings: dict, bandwidth: float | None) -> dict:
    profile = profile_forward(spec.name, spec.options, PATCH)
    out = {"parameters": profile["parameters"], "gflop_per_patch": profile["flops"] / 1e9}
    window = profile if spec.infer_rows == PATCH else profile_forward(spec.name, spec.options, spec.infer_rows)
    batch = spec.infer_batch
    traffic = window["activation_bytes"] * batch + window["parameter_bytes"]
    out["intensity_flop_per_byte"] = window["flops"] * batch / traffic if traffic else None
    if spec.paper_options and spec.paper_options != spec.options:
        out["paper_gflop_per_patch"] = profile_forward(spec.name, spec.paper_options, PATCH)["flops"] / 1e9
    for kind, rows in (("train", spec.train_rows), ("infer", spec.infer_rows)):
        if rows != PATCH:
            flops = profile_forward(spec.name, spec.options, rows)["flops"]
            out[f"{kind}_gflop_per_patch"] = flops / 1e9 / (rows * PATCH / PATCH_PIXELS)
    fp32 = ceilings["gflops"].get("fp32")
    if bandwidth and out["intensity_flop_per_byte"] and fp32:
        roof = out["intensity_flop_per_byte"] * bandwidth
        out["roofline_gflops"] = min(fp32, roof)
        out["bound"] = "memory" if roof < fp32 else "compute"
    return out


def _add_efficiency(result: dict, kind: str, device: torch.device, ceilings: dict) -> None:
    """Achieved GFLOP/s and fraction of the matching ceiling (training = 3 x forward FLOPs)."""
    per_patch = result.get(f"{kind}_gflop_per_patch", result.get("gflop_per_patch"))
    settings = result[kind]["settings"]
    base = (settings.get("fp32 NCHW") or settings.get("eager fp32") or {}).get("patches_per_s")
    for setting, row in settings.items():
        rate = row.get("patches_per_s")
        if rate is None:
            continue
        row["speedup"] = rate / base if base else None
        if per_patch is None:
            continue
        row["gflops"] = rate * per_patch * (3 if kind == "train" else 1)
        name = ceiling_for(setting, device)
        ceiling = ceilings["gflops"].get(name)
        row["ceiling"] = name
        row["fraction_of_ceiling"] = row["gflops"] / ceiling if ceiling else None


def model_result(spec: Spec, rates: dict, device: torch.device, ceilings: dict, bandwidth: float | None) -> dict:
    """Profile, rates and efficiency of one model, as reported."""
    result: dict = {"model": spec.name, "options": spec.options, "note": spec.note,
                    "train": {"window": [spec.train_rows, PATCH], "batch": spec.train_batch},
                    "infer": {"window": [spec.infer_rows, PATCH], "batch": spec.infer_batch}}
    try:
        result.update(_profile(spec, ceilings, bandwidth))
    except Exception as exc:
        result["profile_error"] = one_line(exc)
        log(f"{spec.name}: FLOP count FAILED {result['profile_error']}")
    for kind in ("train", "infer"):
        part = rates[kind]
        result[kind]["skipped"] = part.get("skipped", {})
        if "error" in part:
            result[kind]["error"] = part["error"]
        result[kind]["settings"] = {
            setting: {"patches_per_s": median(row["rates"]), "repeats": row["rates"],
                      **({"error": row["error"]} if "error" in row else {})}
            for setting, row in part["settings"].items()}
        _add_efficiency(result, kind, device, ceilings)
    return result


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

# ----------------------------------------------------------------------------- end to end


def check_run(run: Path) -> Path:
    """``run`` if it is a finished run folder, else a :class:`UserMistake`."""
    from corroseg.train.config import CONFIG, SCALER, WEIGHTS

    if not run.is_dir():
        raise UserMistake(f"--run {run}: no such folder (give a run folder written by `corroseg train`)")
    missing = [n for n in (CONFIG, WEIGHTS, SCALER) if not (run / n).is_file()]
    if missing:
        raise UserMistake(f"--run {run}: not a finished run folder (missing {', '.join(missing)})")
    return run


def child_env() -> dict:
    """The environment for child processes: PYTHONPATH made absolute, the imported corroseg first."""
    import corroseg

    package_root = str(Path(corroseg.__file__).resolve().parents[1])
    parts = [str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([package_root, *parts]))
    return env


def corroseg_cli(args: list[str], env: dict) -> subprocess.CompletedProcess:
    """``python -m corroseg ARGS`` in a child, output captured; a failure raises with its last line."""
    done = subprocess.run([sys.executable, "-m", "corroseg", *args], env=env, capture_output=True, text=True)
    if done.returncode:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"corroseg {args[0]} exited {done.returncode}: {last[0][:200]}")
    return done


def throwaway_run(work: Path, env: dict) -> tuple[Path, float]:
    """Train a run quickly (tiny synthetic data, one short epoch on CPU); its path and seconds."""
    start = time.perf_counter()
    data, run = work / "synth", work / "run"
    corroseg_cli(["synth", str(data), "--preset", "tiny", "--force"], env)
    corroseg_cli(["train", str(data), "--out", str(run), "--force", "--accelerator", "cpu",
                  "max_epochs=1", "windows_per_epoch=64", "tta=true", "postprocess=random_walker"], env)
    return run, time.perf_counter() - start


def prepare_well(args, work: Path) -> tuple[Path | None, str]:
    """A well .npz to predict and its description; (None, reason) when there is none."""
    if args.well_file is not None:
        return args.well_file, getattr(args, "well_description", f"{args.well_file} (given)")
    data = args.data
    if not data.exists():
        return None, f"real data folder {data} not found (give --data or --well-file)"
    from corroseg.data.challenge import read_images
    from corroseg.data.wells import Well, assemble, resolve_width, save_well

    images = read_images(data, args.split)
    patches = images.images[images.wells == args.well]
    if not len(patches):
        return None, f"{data}: no {args.split} well {args.well}"
    width, _ = resolve_width(args.well, patches)
    image = assemble(patches, width)
    out = args.save_well or work / f"{args.split}_well_{args.well}.npz"
    out.parent.mkdir(parents=True, exist_ok=True)
    save_well(out, Well(image, name=f"{args.split} well {args.well}"))
    return out, f"{args.split} well {args.well} of {data} ({image.shape[0]:,} x {image.shape[1]})"


def e2e_variants() -> list[tuple[str, list[str]]]:
    return [("run defaults (TTA + random walker, engine auto)", []),
            ("--engine onnx", ["--engine", "onnx"]),
            ("--no-tta", ["--no-tta"])]


def measure_end_to_end(args, work: Path) -> dict:
    """``corroseg predict`` on one well in fresh child processes, variants interleaved."""
    from cli_peak import run_measured

    result: dict = {"rows": []}
    env = child_env()
    os.environ["PYTHONPATH"] = env["PYTHONPATH"]  # cli_peak's child inherits os.environ
    well, description = prepare_well(args, work)
    if well is None:
        result["skipped"] = description
        log(f"end to end: SKIPPED, {description}")
        return result
    result["well"] = description
    result["well_file"] = str(well)
    run = args.run
    if run is None:
        log("end to end: training a throwaway run (synth --preset tiny, 1 short epoch; not counted)")
        run, seconds = throwaway_run(work, env)
        result["setup_seconds"] = seconds
        result["run"] = "throwaway (tiny synthetic data, 1 epoch of 64 windows)"
        log(f"end to end: throwaway run ready in {seconds:.1f} s")
    else:
        result["run"] = str(run)
    result.update(_run_facts(run))
    times: dict[str, list[dict]] = {name: [] for name, _ in e2e_variants()}
    for r in range(args.e2e_repeats):
        for name, extra in e2e_variants():
            out = work / "prediction.npz"
            try:
                measured = run_measured(["predict", str(run), str(well), "--out", str(out), "--force", *extra])
            except Exception as exc:
                measured = {"exit": None, "error": one_line(exc)}
            times[name].append(measured)
            log(f"end to end {name} repeat {r + 1}/{args.e2e_repeats}: exit {measured.get('exit')}, "
                f"{fmt(measured.get('seconds'))} s, peak RSS {fmt(measured.get('peak_rss_mib'))} MiB")
    for name, extra in e2e_variants():
        ok = [m for m in times[name] if m.get("exit") in (0, None) and "seconds" in m]
        failed = [m for m in times[name] if m not in ok]
        row = {"variant": name, "args": extra, "repeats": times[name],
               "seconds": median([m["seconds"] for m in ok]),
               "peak_rss_mib": median([m["peak_rss_mib"] for m in ok])}
        if failed:
            row["error"] = failed[0].get("error") or f"exit {failed[0].get('exit')}"
        result["rows"].append(row)
    return result


def _run_facts(run: Path) -> dict:
    """The run's model, TTA, post-processing and what engine auto picks."""
    try:
        from corroseg.train.rundir import RunDir
        from corroseg.train.config import CONFIG, read_config

        cfg = read_config(Path(run) / CONFIG)
        return {"model": cfg.model, "tta": cfg.tta, "postprocess": cfg.postprocess,
                "auto_engine": "onnx" if RunDir(run).has_fresh_onnx else "torch"}
    except Exception as exc:
        return {"run_facts_error": one_line(exc)}


# ----------------------------------------------------------------------------- goals


def goals(results: dict) -> list[dict]:
    """The goals, each with its figure and met / missed (n/a where not measured here)."""
    device = results["machine"]["device"]
    on_cpu = device == "cpu"
    wellnet = next((m for m in results.get("models", []) if m["model"] == "wellnet"), None)
    out = []
    ceilings = results.get("ceilings", {}).get("gflops", {})
    for kind, goal in (("infer", GOAL_INFER), ("train", GOAL_TRAIN)):
        label = (f"wellnet {'inference' if kind == 'infer' else 'training'} >= {goal:.0%} of the matmul ceiling "
                 "of its precision (CPU; judged on the fastest setting)")
        fastest, best = _fastest_and_best(wellnet, kind)
        if fastest is None:
            why = (wellnet or {}).get(kind, {}).get("error", "not measured")
            out.append({"goal": label, "figure": why, "status": "n/a"})
            continue
        setting, row = fastest
        figure = (f"{row['fraction_of_ceiling']:.1%}: {setting}, {row['gflops']:.1f} of "
                  f"{fmt(ceilings.get(row['ceiling']))} GFLOP/s ({row['ceiling']})")
        if best[0] != setting:
            figure += f"; highest fraction {best[1]['fraction_of_ceiling']:.1%} ({best[0]})"
        value = row["fraction_of_ceiling"]
        status = ("met" if value >= goal else "missed") if on_cpu else f"n/a (measured on {device})"
        out.append({"goal": label, "figure": figure, "status": status, "value": value, "setting": setting})
    e2e = results.get("end_to_end", {})
    default = next((r for r in e2e.get("rows", []) if not r["args"]), None)
    for label, key, limit, unit in ((f"test well 5 end to end < {GOAL_SECONDS:.0f} s (run defaults)",
                                     "seconds", GOAL_SECONDS, "s"),
                                    (f"test well 5 peak RSS < 2 GB ({GOAL_RSS_MB:,.0f} MB)",
                                     "peak_rss_mib", GOAL_RSS_MB / 1.048576, "MiB")):
        value = default.get(key) if default else None
        if value is None:
            why = e2e.get("skipped") or (default or {}).get("error") or e2e.get("error") or "not measured"
            out.append({"goal": label, "figure": why, "status": "n/a"})
            continue
        shown = f"{value:.1f} s" if unit == "s" else f"{value:,.0f} MiB = {value * 1.048576:,.0f} MB"
        out.append({"goal": label, "figure": shown, "status": "met" if value < limit else "missed", "value": value})
    return out


def _fastest_and_best(model: dict | None, kind: str):
    """(setting, row) of the highest patches/s and of the highest fraction of its ceiling."""
    if not model:
        return None, None
    found = [(s, r) for s, r in model[kind]["settings"].items() if r.get("fraction_of_ceiling") is not None]
    if not found:
        return None, None
    return (max(found, key=lambda t: t[1]["patches_per_s"]),
            max(found, key=lambda t: t[1]["fraction_of_ceiling"]))


# ----------------------------------------------------------------------------- report


def markdown(results: dict) -> str:
    """The docs section (without markers)."""
    m = results["machine"]
    device = m["device"]
    where = m.get("gpu", m["cpu_model"]) if device != "cpu" else m["cpu_model"]
    parts = [f"## Speed ({'CUDA: ' + where if device != 'cpu' else 'CPU'}), measured by `benchmarks/speed.py`",
             "",
             f"Measured {results['date']} with `{results['command']}` "
             f"({results['mode']} mode; {results['repeats']} interleaved repeat(s), medians; "
             f"{results['seconds']:.0f} s in all). Machine: {_machine_line(m)}. "
             "Shared machines drift: compare figures within this section, not across runs.",
             ""]
    if "models" in results:
        parts += ["### Matrix-multiply ceilings", "", _ceiling_table(results), "",
                  "### Models", "", _model_table(results), "",
                  "Forward FLOPs counted by `forward_flops` (torch `FlopCounterMode`: convolutions and matrix "
                  "products; a multiply-add = 2); training counts 3 x forward FLOPs (forward + two backward "
                  "products). Intensity = forward FLOPs of one inference batch / bytes of every layer's inputs "
                  "and outputs and of the weights (once per batch), in fp32 (element-wise ops outside modules "
                  "not counted, so an upper bound); roofline = min(fp32 ceiling, intensity x copy bandwidth): "
                  "'memory' means DRAM traffic alone keeps the model below the matmul ceiling; 'compute' means "
                  "it does not, so a shortfall comes from elsewhere: few channels per convolution (short inner "
                  "loops, poor use of the vector units), per-operator overhead, and element-wise work (batch "
                  "norm, activations, padding, concatenation, optimiser) that the FLOP count leaves out. The "
                  "bf16 ceiling is only high on CPUs with avx512_bf16 or AMX (see the machine line).",
                  "", "### Training throughput (36x36-patch equivalents per second)", "",
                  _speed_table(results, "train"), "",
                  "### Inference throughput (model.eval(), torch.inference_mode)", "",
                  _speed_table(results, "infer"), ""]
    else:
        parts += ["Ceilings and model tables: not run (--skip-models).", ""]
    parts += ["### End to end: `corroseg predict RUN WELL.npz --out OUT` in a fresh process", "",
              _e2e_text(results), "", "### Goals", "",
              md_table(["goal", "figure", "status"],
                       [[g["goal"], g["figure"], f"**{g['status']}**"] for g in results["goals"]]), ""]
    return "\n".join(parts)


def _machine_line(m: dict) -> str:
    bits = [f"{m['cpu_model']}, {m['cpus_usable']} usable CPUs", f"torch {m['torch']} with "
            f"{m['torch_threads']} threads", f"Python {m['python']}", m["platform"]]
    if "cpu_capability" in m:
        bf16 = ", ".join(m.get("cpu_bf16_isa") or []) or "no avx512_bf16/AMX"
        bits.insert(1, f"ISA {m['cpu_capability']} ({bf16})")
    if "gpu" in m:
        bits.insert(0, f"{m['gpu']} (CUDA {m['cuda']}, cudnn TF32 {'on' if m['cudnn_allow_tf32'] else 'off'})")
    bits.append(f"onnxruntime {m.get('onnxruntime')}")
    bits.append(f"load average {m['load_average_start']} at start, {m.get('load_average_end')} at end")
    return "; ".join(bits)


def _ceiling_table(results: dict) -> str:
    c = results.get("ceilings")
    if not c or "error" in c:
        return f"Not measured: {(c or {}).get('error', 'skipped')}"
    labels = {"fp32": "fp32 (TF32 off)" if results["machine"]["device"] != "cpu" else "fp32",
              "tf32": "fp32 with TF32", "bf16": "bf16"}
    rows = [[labels.get(k, k), f"{c['size']} x {c['size']}", fmt(v)] for k, v in c["gflops"].items()]
    rows += [[k, "-", f"FAILED: {e}"] for k, e in c["errors"].items()]
    rows.append(["memory copy (GB/s, read + write)", f"{c['copy_mib']:.0f} MiB", fmt(c["copy_gbps"])])
    return (f"{c['threads']} torch threads.\n\n"
            + md_table(["precision", "matrices", "GFLOP/s"], rows, {2}))


def _model_table(results: dict) -> str:
    rows = []
    for r in results.get("models", []):
        opts = ", ".join(f"{k}={v}" for k, v in r["options"].items()) or "defaults"
        gflop = fmt(r.get("gflop_per_patch"))
        if "paper_gflop_per_patch" in r:
            gflop += f" (paper width: {fmt(r['paper_gflop_per_patch'])})"
        rows.append([r["model"], opts, fmt(r.get("parameters")), gflop, fmt(r.get("intensity_flop_per_byte")),
                     fmt(r.get("roofline_gflops")), r.get("bound", r.get("profile_error", "-")), r["note"]])
    return md_table(["model", "options", "parameters", "fwd GFLOP/patch", "intensity (FLOP/B)",
                     "fp32 roofline (GFLOP/s)", "roofline bound", "measured as"], rows, {2, 3, 4, 5})


def _speed_table(results: dict, kind: str) -> str:
    rows = []
    for r in results.get("models", []):
        part = r[kind]
        shape = f"{part['window'][0]}x{part['window'][1]} x {part['batch']}"
        if "error" in part:
            rows.append([r["model"], shape, "all", f"FAILED: {part['error']}", "-", "-", "-"])
        for setting, s in part["settings"].items():
            rate = f"FAILED: {s['error']}" if "error" in s else fmt(s.get("patches_per_s"))
            ceiling = f"{pct(s.get('fraction_of_ceiling'))} of {s['ceiling']}" if s.get("ceiling") else "-"
            speedup = f"{s['speedup']:.2f}x" if s.get("speedup") else "-"
            rows.append([r["model"], shape, setting, rate, speedup, fmt(s.get("gflops")), ceiling])
        for setting, reason in part.get("skipped", {}).items():
            rows.append([r["model"], shape, setting, f"skipped: {reason}", "-", "-", "-"])
    base = "fp32 NCHW" if kind == "train" else "eager fp32"
    return md_table(["model", "window x batch", "setting", "patches/s", f"vs {base}", "achieved GFLOP/s",
                     "of ceiling"], rows, {3, 4, 5})


def _e2e_text(results: dict) -> str:
    if "end_to_end" not in results:
        return "Not run (--skip-e2e)."
    e = results["end_to_end"]
    if "skipped" in e:
        return f"Skipped: {e['skipped']}."
    if "error" in e and not e.get("rows"):
        return f"FAILED: {e['error']}"
    intro = [f"Well: {e.get('well')}. Run: {e.get('run')} (model {e.get('model')}, TTA {e.get('tta')}, "
             f"post-processing {e.get('postprocess')}; engine auto = {e.get('auto_engine')})."]
    if "setup_seconds" in e:
        intro.append(f"Training the throwaway run took {e['setup_seconds']:.1f} s (not counted); its weights "
                     "are barely trained, so the random walker's share (it works on uncertain pixels) may "
                     "differ from a real run's: give `--run` for a trained one.")
    intro.append("The prediction runs on CPU (`corroseg predict` has no GPU option), with torch's default "
                 "thread count; time includes Python start-up, imports, reading the well and writing mask + PNG.")
    rows = []
    for r in e.get("rows", []):
        status = f"FAILED: {r['error']}" if "error" in r else "ok"
        rss = r.get("peak_rss_mib")
        rows.append([r["variant"], fmt(r.get("seconds")),
                     "-" if rss is None else f"{rss:,.0f} MiB ({rss * 1.048576:,.0f} MB)", status])
    return " ".join(intro) + "\n\n" + md_table(["variant", "seconds", "peak RSS", "status"], rows, {1, 2})


def write_section(path: Path, section: str, name: str) -> None:
    """Replace (or append) the block between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` atomically."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{begin}\n{section.rstrip()}\n{end}"
    i = text.find(begin)
    j = text.find(end, i + len(begin)) if i >= 0 else -1
    if i >= 0 and j >= 0:
        new = text[:i] + block + text[j + len(end):]
    else:
        new = text + ("\n" if text and not text.endswith("\n") else "") + ("\n" if text else "") + block + "\n"
    _atomic_write(path, new)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="few repeats, small matrices, smaller CPU batches, sadd_unet scaled down on CPU")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where the ceilings and model tables are measured (auto: cuda if available)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--repeats", type=int, help="interleaved repeats (default 1 quick, 3 full)")
    parser.add_argument("--min-seconds", type=float, help="least time per measurement (default 0.3 quick, 1.0 full)")
    parser.add_argument("--matrix", type=int, help="matmul size (default CPU 1024 quick / 2048 full; CUDA 8192)")
    parser.add_argument("--models", nargs="+", choices=MODEL_NAMES, default=list(MODEL_NAMES))
    parser.add_argument("--run", type=Path, help="trained run folder (default: a throwaway one)")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "challenge",
                        help="real challenge data (default ../shared/data/challenge from the repo root)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--well", type=int, default=5)
    parser.add_argument("--well-file", type=Path, help="a well .npz to predict instead of assembling --data")
    parser.add_argument("--save-well", type=Path, help="also keep the assembled well .npz here (to carry elsewhere)")
    parser.add_argument("--e2e-repeats", type=int, help="predictions per variant (default 1 quick, 2 full)")
    parser.add_argument("--work", type=Path, help="keep the throwaway run and outputs here (default: a temp dir)")
    parser.add_argument("--skip-models", action="store_true", help="no ceilings or model tables")
    parser.add_argument("--skip-e2e", action="store_true", help="no end-to-end prediction")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--docs", type=Path, help="markdown file whose speed section is written / replaced")
    parser.add_argument("--section", default="speed", help="marker name in --docs (default: speed)")
    parser.add_argument("--in-process", action="store_true",
                        help="measure models in this process (default: one child process per model, so that "
                             "a crash in native code loses one setting, not the run)")
    parser.add_argument("--child-model", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-skip", action="append", default=[], help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def check_args(args: argparse.Namespace) -> torch.device:
    """Settle defaults and refuse what cannot work, as a :class:`UserMistake`."""
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UserMistake("--device cuda: torch sees no CUDA device (torch "
                          f"{torch.__version__}, built with CUDA {torch.version.cuda})")
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    for flag, path in (("--json", args.json), ("--docs", args.docs)):
        if path is not None and not path.parent.is_dir():
            raise UserMistake(f"{flag} {path}: folder {path.parent} does not exist")
        if path is not None and path.is_dir():
            raise UserMistake(f"{flag} {path}: is a folder; give a file name")
    if args.well_file is not None and not args.well_file.is_file():
        raise UserMistake(f"--well-file {args.well_file}: no such file")
    if args.well_file is not None and args.well_file.suffix != ".npz":
        raise UserMistake(f"--well-file {args.well_file}: not a well .npz")
    if args.run is not None and not args.skip_e2e:
        check_run(args.run)
    if args.threads is not None:
        if args.threads < 1:
            raise UserMistake(f"--threads {args.threads}: must be at least 1")
        torch.set_num_threads(args.threads)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.min_seconds = args.min_seconds or (0.3 if args.quick else 1.0)
    args.e2e_repeats = args.e2e_repeats or (1 if args.quick else 2)
    args.matrix = args.matrix or (8192 if device.type == "cuda" else (1024 if args.quick else 2048))
    for flag in ("repeats", "e2e_repeats", "matrix"):
        if getattr(args, flag) < 1:
            raise UserMistake(f"--{flag.replace('_', '-')}: must be at least 1")
    return device


def run_all(args: argparse.Namespace, device: torch.device, command: str) -> dict:
    """Every section, each guarded: a failure is recorded and the rest still runs."""
    results = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "command": command,
               "mode": "quick" if args.quick else "full", "repeats": args.repeats,
               "min_seconds": args.min_seconds, "machine": machine(device)}
    log(f"device {device}, {torch.get_num_threads()} torch threads, {results['mode']} mode")
    if args.save_well is not None and args.well_file is None:
        try:
            saved, description = prepare_well(args, args.save_well.parent)
            log(f"well saved: {saved} ({description})" if saved else f"--save-well: nothing saved, {description}")
            args.well_file, args.well_description = saved, description
        except Exception as exc:
            log(f"--save-well FAILED: {one_line(exc)}")
    if not args.skip_models:
        try:
            results["ceilings"] = measure_ceilings(device, args.matrix, args.repeats, args.min_seconds)
            free_memory(device)
        except Exception as exc:
            results["ceilings"] = {"error": one_line(exc), "gflops": {}, "errors": {}}
            log(f"ceilings FAILED: {results['ceilings']['error']}")
        ceilings, bandwidth = results["ceilings"], results["ceilings"].get("copy_gbps")
        results["models"] = []
        for spec in model_specs(device, args.quick):
            if spec.name in args.models:
                results["models"].append(measure_model(spec, args, device, ceilings, bandwidth))
    if not args.skip_e2e:
        with tempfile.TemporaryDirectory(prefix="corroseg_speed_") as tmp:
            work = args.work or Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            try:
                results["end_to_end"] = measure_end_to_end(args, work)
            except Exception as exc:
                results["end_to_end"] = {"error": one_line(exc), "rows": []}
                log(f"end to end FAILED: {results['end_to_end']['error']}")
    results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    results["peak_rss_mib_benchmark"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["seconds"] = time.perf_counter() - STARTED
    results["goals"] = goals(results)
    return results


def command_line() -> str:
    """How this run was started, as one could type it again from the repository root."""
    pythonpath = os.environ.get("PYTHONPATH")
    executable = Path(sys.executable)
    python = os.path.relpath(executable, REPO) if REPO in executable.absolute().parents else "python"
    words = [python, os.path.relpath(Path(sys.argv[0]).resolve(), REPO), *sys.argv[1:]]
    return " ".join(([f"PYTHONPATH={shlex.quote(pythonpath)}"] if pythonpath else []) + [shlex.quote(w) for w in words])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_model:
        return child_main(args)
    command = command_line()
    try:
        device = check_args(args)
    except UserMistake as exc:
        print(f"speed.py: error: {exc}", file=sys.stderr)
        return 2
    results = run_all(args, device, command)
    section = markdown(results)
    print("\n" + section, flush=True)
    if args.json:
        _atomic_write(args.json, json.dumps(results, indent=2, default=str) + "\n")
        log(f"figures written to {args.json}")
    if args.docs:
        write_section(args.docs, section, args.section)
        log(f"section <!-- {args.section}:begin/end --> written to {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

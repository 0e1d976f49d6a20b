"""Speed benchmark, part 1: the machine's facts and ceilings (matmul GFLOP/s per precision, copy bandwidth).

The model tables are read against these: a model's achieved GFLOP/s as a fraction of the
ceiling of its precision (:func:`ceiling_for`), and a roofline from the copy bandwidth.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch
from speed_common import log, median, one_line, synchronizer, timed_rate


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

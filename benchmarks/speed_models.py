"""Speed benchmark, part 2: each registry model's FLOPs, training and inference throughput, and efficiency.

What one model is measured as (:class:`Spec`, :func:`model_specs`), its FLOPs and bytes
counted on the meta device (:func:`profile_forward`), one step function per setting
(fp32/bf16 x NCHW/channels_last training; eager fp32, eager bf16 and ONNX Runtime
inference), the settings timed in turns (:func:`measure_rates`), and the figures as
reported: medians, speed-ups, achieved GFLOP/s and fraction of the ceiling
(:func:`model_result`). Measuring in child processes is :mod:`speed_isolated`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from speed_ceilings import ceiling_for
from speed_common import PATCH, PATCH_PIXELS, free_memory, log, median, one_line, synchronizer, timed_rate

TRAIN_SETTINGS = ("fp32 NCHW", "fp32 channels_last", "bf16 NCHW", "bf16 channels_last")


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
    wellnet_note = ("trains on 144x36 windows (batch 32: the default config until 2026-12-07, which now trains "
                    "576x36 windows, batch 8, with a depth context), infers 576x36 windows")
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

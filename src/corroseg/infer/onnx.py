"""ONNX export of a trained model, and ONNX Runtime as a predictor callable.

>>> export_run("runs/demo")                          # runs/demo/model.onnx, checked against torch
>>> model = OnnxModel("runs/demo/model.onnx")        # (N, 1, H, W) float32 -> logits, like TorchModel
>>> model = onnx_model_for_run("runs/demo", torch_model)   # the file if fresh, else exported in memory

The export uses torch's TorchScript-based exporter (``dynamo=False``): it needs only the
``onnx`` package, takes about a second, and gives dynamic batch, height and width axes.
Tracing freezes Python ``if`` statements on shapes at the branch taken for the example
input, so every export is checked against torch at several window shapes (see
:func:`check_parity`).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state
from torch import nn

from corroseg.atomic import atomic_path
from corroseg.data.challenge import PATCH_SIZE
from corroseg.errors import CorrosegInputError
from corroseg.guard import output_lock, refuse_overwriting_inputs
from corroseg.infer.bundle import load_run_model
from corroseg.train.config import TrainConfig
from corroseg.train.rundir import ONNX_FILE, RunDir

OPSET = 17
TOLERANCE = 1e-4
"""Largest absolute logit difference from torch an export may show."""

INPUT, OUTPUT = "windows", "logits"
IN_MEMORY = "(in-memory ONNX model)"

_ORT_ERRORS = (ort_state.Fail, ort_state.InvalidArgument, ort_state.InvalidProtobuf, ort_state.NoSuchFile,
               ort_state.InvalidGraph, ort_state.NotImplemented, ort_state.RuntimeException)

# Models that pad their input rows to a multiple under a Python ``if`` say so by a
# ``row_multiple`` attribute: tracing would freeze the branch taken for the example
# height. Padding in front of them makes the frozen branch (no padding) right for every height.


class _PadRows(nn.Module):
    """Pad rows (replicating the last) to a multiple, run the model, crop: traceable for any height."""

    def __init__(self, model: nn.Module, multiple: int):
        super().__init__()
        self.model = model
        self.multiple = multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.shape[-2]
        x = F.pad(x, (0, 0, 0, (-rows) % self.multiple), mode="replicate")
        return self.model(x)[..., :rows, :]


def _takes_any_height(model: nn.Module) -> bool:
    return bool(getattr(model, "accepts_taller_inputs", True))


def _row_multiple(model: nn.Module) -> int:
    return int(getattr(model, "row_multiple", 1))


def example_shape(model: nn.Module, width: int = PATCH_SIZE) -> tuple[int, int, int, int]:
    """The window batch a model is traced with: 2 windows of 72 x ``width`` (36 x 36 for fixed-size models)."""
    if not _takes_any_height(model):
        side = getattr(model, "size", PATCH_SIZE)
        return (2, 1, side, side)
    return (2, 1, 2 * PATCH_SIZE, width)


def export_bytes(model: nn.Module, width: int = PATCH_SIZE, opset: int = OPSET) -> bytes:
    """Serialized ONNX model of a torch model (set to eval mode), with dynamic axes.

    Batch is always dynamic; height and width too unless the model takes fixed-size
    patches (``accepts_taller_inputs = False``). ``width`` only sets the example traced.
    """
    model.eval()
    multiple = _row_multiple(model)
    traced = _PadRows(model, multiple) if multiple > 1 else model
    axes = {0: "batch", 2: "rows", 3: "width"} if _takes_any_height(model) else {0: "batch"}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # Frozen branches are what check_parity is for; the exporter's deprecation
        # notice is about its default, not about a removal in the pinned torch.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        warnings.filterwarnings("ignore", message=r".*(legacy TorchScript-based ONNX|feature will be removed)")
        torch.onnx.export(
            traced, (torch.zeros(example_shape(model, width)),), buffer, dynamo=False, opset_version=opset,
            input_names=[INPUT], output_names=[OUTPUT], dynamic_axes={INPUT: axes, OUTPUT: axes},
        )
    return buffer.getvalue()


def export_model(model: nn.Module, path: str | Path, width: int = PATCH_SIZE, opset: int = OPSET) -> Path:
    """Write the ONNX export of a torch model to ``path`` atomically (see :func:`export_bytes`)."""
    path = Path(path)
    data = export_bytes(model, width, opset)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


class OnnxModel:
    """An ONNX model on ONNX Runtime (CPU) as a predictor callable: ``(N, 1, H, W) float32 -> logits``.

    Parameters
    ----------
    source : str, Path or bytes
        An ``.onnx`` file, or a serialized model (e.g. from :func:`export_bytes`).
    threads : int, optional
        Intra-op threads (default: ``torch.get_num_threads()``).
    """

    def __init__(self, source: str | Path | bytes, threads: int | None = None):
        self.source = IN_MEMORY if isinstance(source, bytes) else Path(source)
        if isinstance(self.source, Path) and not self.source.is_file():
            raise CorrosegInputError(self.source, "no such ONNX model file")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # failures reach the caller as exceptions; no log lines on stderr
        model = source if isinstance(source, bytes) else str(self.source)
        try:
            self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except _ORT_ERRORS as exc:
            problem = str(exc).splitlines()[0].rpartition(" : ")[2] if str(exc) else type(exc).__name__
            raise CorrosegInputError(self.source, f"not a readable ONNX model ({problem})") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1 or len(inputs[0].shape) != 4:
            raise CorrosegInputError(self.source, "not a corroseg model (needs one (N, 1, H, W) input and one output)")
        self.input = inputs[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        (logits,) = self.session.run(None, {self.input: x})
        if logits.shape != x.shape:
            raise ValueError(f"{self.source}: windows {x.shape} gave logits {logits.shape}; this export "
                             "does not support windows of that size")
        return logits


def check_shapes(model: nn.Module, widths: tuple[int, ...] = (PATCH_SIZE, 2 * PATCH_SIZE),
                 rows: tuple[int, ...] = ()) -> list[tuple[int, int, int, int]]:
    """Batches of 3 windows to compare on: 144, 180 (no multiple of 8), then ``rows`` high; ``widths`` in turn."""
    if not _takes_any_height(model):
        return [example_shape(model)]
    heights = [4 * PATCH_SIZE, 5 * PATCH_SIZE, *rows]
    return [(3, 1, h, widths[i % len(widths)]) for i, h in enumerate(heights)]


@torch.inference_mode()
def check_parity(model: nn.Module, onnx_model: OnnxModel, shapes: list[tuple[int, ...]], seed: int = 0) -> float:
    """Largest absolute logit difference between torch and ONNX Runtime on random batches of ``shapes``."""
    model.eval()
    rng = np.random.default_rng(seed)
    worst = 0.0
    for shape in shapes:
        batch = rng.standard_normal(shape).astype(np.float32)
        expected = model(torch.from_numpy(batch)).numpy()
        worst = max(worst, float(np.abs(onnx_model(batch) - expected).max()))
    return worst


def _verified(model: nn.Module, data: bytes, where: str | Path, shapes, threads: int | None = None) -> OnnxModel:
    onnx_model = OnnxModel(data, threads)
    difference = check_parity(model, onnx_model, shapes)
    if not difference <= TOLERANCE:
        name = getattr(model, "registry_name", type(model).__name__)
        raise CorrosegInputError(where, f"ONNX export of {name} differs from torch by {difference:.2g} "
                                        f"(> {TOLERANCE:g}); predict with the torch engine")
    onnx_model.source = where
    return onnx_model


def _run_widths(config: TrainConfig) -> tuple[int, ...]:
    return (PATCH_SIZE,) if config.window == "patch" else (PATCH_SIZE, 2 * PATCH_SIZE)


def export_run(run: str | Path, out: str | Path | None = None, force: bool = False) -> Path:
    """Export a run's model to ONNX (default ``RUN/model.onnx``), checked against torch first.

    The export is compared with the torch model on random windows of the run's
    prediction height and widths; nothing is written unless every logit is within
    :data:`TOLERANCE`. An existing ``out`` is replaced only with ``force``.
    """
    run = Path(run)
    if not run.is_dir():
        raise CorrosegInputError(run, "no such run folder")
    out = Path(out) if out is not None else run / ONNX_FILE
    if out.is_dir():
        raise CorrosegInputError(out, "is a folder; give a file name such as model.onnx")
    refuse_overwriting_inputs([out], runs=[run])
    if out.exists() and not force:
        raise CorrosegInputError(out, "already exists (use --force to replace it)")
    model, config = load_run_model(run)
    data = export_bytes(model)
    _verified(model, data, run, check_shapes(model, _run_widths(config), (config.predict_rows,)))
    with output_lock(out), atomic_path(out) as tmp:
        tmp.write_bytes(data)
    return out


def onnx_model_for_run(run: str | Path, model: nn.Module, threads: int | None = None) -> OnnxModel:
    """ONNX Runtime predictor of a run: ``RUN/model.onnx`` if it is newer than the weights.

    Otherwise ``model`` (the run's torch model, weights loaded) is exported in memory
    and checked against torch; nothing is written into the run folder.
    """
    run = Path(run)
    if RunDir(run).has_fresh_onnx:
        return OnnxModel(run / ONNX_FILE, threads)
    return _verified(model, export_bytes(model), IN_MEMORY, check_shapes(model), threads)

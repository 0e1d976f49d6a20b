"""ONNX export and the ONNX Runtime predictor: parity with torch, run export, user errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from corroseg.errors import CorrosegInputError
from corroseg.infer.bundle import TorchModel
from corroseg.infer.onnx import (
    IN_MEMORY,
    ONNX_FILE,
    TOLERANCE,
    OnnxModel,
    check_parity,
    export_bytes,
    export_model,
    export_run,
    load_run_model,
    onnx_model_for_run,
)
from corroseg.infer.tiles import predict_well
from corroseg.models import create
from corroseg.train.config import WEIGHTS

WELLNET_SHAPES = [(1, 1, 36, 36), (3, 1, 180, 72), (16, 1, 576, 36), (2, 1, 100, 72), (5, 1, 144, 36)]
MODELS = {
    # id: (architecture, options, window batches to compare on)
    "wellnet": ("wellnet", {}, WELLNET_SHAPES),
    "wellnet-small": ("wellnet", {"channels": [4, 4, 8, 8]}, WELLNET_SHAPES),
    "wellnet-context": ("wellnet", {"channels": [4, 4, 8, 8], "depth_context": [5, 145]}, WELLNET_SHAPES),
    "wellnet-slanted": ("wellnet", {"channels": [4, 4, 8, 8], "depth_context": [5, 145], "context_slopes": [-0.1, 0, 0.1],
                                    "context_beside": True}, WELLNET_SHAPES),
    "xscat_unet": ("xscat_unet", {}, [(1, 1, 36, 36), (4, 1, 144, 72), (2, 1, 576, 36)]),
    "fcn_bilinear": ("fcn_bilinear", {"channels": [8, 16, 32]}, [(1, 1, 36, 36), (3, 1, 180, 72)]),
    "baseline_cnn": ("baseline_cnn", {}, [(1, 1, 36, 36), (7, 1, 36, 36)]),
}


@pytest.fixture(scope="module", params=list(MODELS))
def exported(request) -> tuple[nn.Module, OnnxModel, list]:
    """A randomly initialised model, its in-memory ONNX export, and the shapes to test."""
    name, options, shapes = MODELS[request.param]
    torch.manual_seed(0)
    model = create(name, **options).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics, so folding them is tested too
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return model, OnnxModel(export_bytes(model), threads=1), shapes


def test_parity_with_torch(exported):
    model, onnx_model, shapes = exported
    assert check_parity(model, onnx_model, shapes) <= TOLERANCE


def test_output_has_window_shape(exported):
    _, onnx_model, shapes = exported
    for shape in shapes[:2]:
        assert onnx_model(np.zeros(shape, np.float32)).shape == shape


def test_wellnet_wraps_azimuth_in_the_graph():
    """Rolling a window along azimuth rolls the logits: circular padding survived export."""
    torch.manual_seed(1)
    onnx_model = OnnxModel(export_bytes(create("wellnet", channels=[4, 4, 8, 8])), threads=1)
    window = np.random.default_rng(0).standard_normal((1, 1, 72, 72)).astype(np.float32)
    rolled = onnx_model(np.roll(window, 20, axis=-1))
    np.testing.assert_allclose(rolled, np.roll(onnx_model(window), 20, axis=-1), atol=1e-5)


def test_export_model_writes_a_loadable_file(tmp_path):
    torch.manual_seed(0)
    model = create("wellnet", channels=[4, 4, 8, 8]).eval()
    path = export_model(model, tmp_path / "sub" / "m.onnx", width=72)
    assert path.is_file() and [p.name for p in path.parent.iterdir()] == ["m.onnx"]
    assert check_parity(model, OnnxModel(path, threads=1), [(2, 1, 108, 72)]) <= TOLERANCE


def test_unfaithful_export_is_refused():
    class BatchDependent(nn.Module):  # traced at batch 2, so the branch for batch 3 is lost
        def forward(self, x):
            return x * 2 if x.shape[0] > 2 else x

    with pytest.raises(CorrosegInputError, match="differs from torch"):
        onnx_model_for_run(Path("nowhere"), BatchDependent())


@pytest.fixture
def run(tiny_run, tmp_path) -> Path:
    """A private copy of the tiny trained run, to write into."""
    return Path(shutil.copytree(tiny_run, tmp_path / "run"))


def test_export_run_matches_torch_and_is_used_while_fresh(run):
    model, config = load_run_model(run)
    assert onnx_model_for_run(run, model).source == IN_MEMORY  # no file yet: exported in memory
    assert not (run / ONNX_FILE).exists()
    path = export_run(run)
    assert path == run / ONNX_FILE and path.is_file()
    onnx_model = onnx_model_for_run(run, model, threads=1)
    assert onnx_model.source == path
    image = np.random.default_rng(0).standard_normal((300, 72)).astype(np.float32)
    args = (image, config.predict_rows, config.predict_overlap, 4)
    expected = predict_well(TorchModel(model), *args)
    np.testing.assert_allclose(predict_well(onnx_model, *args), expected, atol=1e-5)
    stale = (run / WEIGHTS).stat().st_mtime - 60
    os.utime(path, (stale, stale))  # weights retrained after the export: the file is ignored
    assert onnx_model_for_run(run, model).source == IN_MEMORY


def test_export_run_refuses_to_overwrite(run, tmp_path):
    out = tmp_path / "elsewhere.onnx"
    out.write_bytes(b"keep me")
    with pytest.raises(CorrosegInputError, match="already exists") as error:
        export_run(run, out)
    assert error.value.path == str(out) and out.read_bytes() == b"keep me"
    export_run(run, out, force=True)
    assert OnnxModel(out)(np.zeros((1, 1, 144, 36), np.float32)).shape == (1, 1, 144, 36)


def test_export_run_errors_name_the_file(tmp_path):
    with pytest.raises(CorrosegInputError, match="no such run folder"):
        export_run(tmp_path / "missing")
    with pytest.raises(CorrosegInputError, match="config.yaml"):
        export_run(tmp_path)


def test_corrupt_and_missing_files_are_user_errors(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"\x08\x07 this is not a protobuf")
    with pytest.raises(CorrosegInputError, match="not a readable ONNX model") as error:
        OnnxModel(bad)
    assert error.value.path == str(bad)
    with pytest.raises(CorrosegInputError, match="no such ONNX model file"):
        OnnxModel(tmp_path / "absent.onnx")
    with pytest.raises(CorrosegInputError, match="not a readable ONNX model") as error:
        OnnxModel(b"garbage")
    assert error.value.path == IN_MEMORY

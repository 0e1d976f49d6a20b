"""Fixtures: small challenge-format datasets written to a temporary folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from corroseg.data.challenge import write_submission
from corroseg.data.names import format_name
from corroseg.data.wells import cut

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "challenge"
requires_real_data = pytest.mark.skipif(
    not (REAL_DATA / "x_train").is_dir(),
    reason=f"real challenge images not found at {REAL_DATA} (shared data is not in this checkout)",
)


def smooth_well(rows: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A continuous, azimuth-periodic well image with row-mean zero, and a groove mask."""
    rng = np.random.default_rng(seed)
    depth = np.arange(rows)[:, None]
    azimuth = np.arange(width)[None, :] * 2 * np.pi / width
    image = 0.01 * np.sin(azimuth * 2 + depth / 40.0) + 0.006 * np.cos(azimuth * 3 - depth / 25.0)
    image = image + 0.001 * rng.standard_normal((rows, width))
    mask = np.zeros((rows, width), np.uint8)
    column = int(rng.integers(0, width - 3))
    mask[rows // 4 : 3 * rows // 4, column : column + 2] = 1
    image = image - 0.05 * mask
    image = image - image.mean(axis=1, keepdims=True)
    return image.astype(np.float32), mask


def write_dataset(
    root: Path,
    wells: dict[int, tuple[int, int]],
    labels: bool = True,
    split: str = "train",
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Write ``x_{split}/`` (and ``y_{split}.csv``) for wells ``{id: (patches, width)}``.

    Returns the mask of every patch name.
    """
    folder = root / f"x_{split}"
    folder.mkdir(parents=True, exist_ok=True)
    masks = {}
    for well, (n_patches, width) in wells.items():
        rows = n_patches * 36 * 36 // width
        image, mask = smooth_well(rows, width, seed + well)
        for p, (patch, patch_mask) in enumerate(zip(cut(image), cut(mask))):
            name = format_name(well, p)
            np.save(folder / f"{name}.npy", patch)
            masks[name] = patch_mask
    if labels:
        write_submission(root / f"y_{split}.csv", list(masks), np.stack(list(masks.values())))
    return masks


def one_line_error(result, *needles: str) -> None:
    """A CLI result that is a user error: exit code 2, one line, no traceback, naming ``needles``."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1, result.output
    for needle in needles:
        assert needle in result.output


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """Four labelled wells (two 36 px, two 72 px wide) and an unlabelled test split."""
    write_dataset(tmp_path, {1: (8, 72), 2: (6, 36), 3: (6, 72), 4: (5, 36)})
    write_dataset(tmp_path, {1: (4, 36), 2: (3, 36)}, labels=False, split="test", seed=10)
    return tmp_path


# ------------------------------------------------------------- training fixtures

TINY = (
    "max_epochs=1",
    "batch_size=4",
    "windows_per_epoch=8",
    "model_options.channels=[4,4,8,8]",
    "window_rows=72",
    "predict_rows=144",
    "predict_overlap=36",
    "tta=false",
)
"""Overrides that keep a training run (and its predictions: no TTA) to a few seconds on two CPU cores."""


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory) -> Path:
    """A tiny synthetic dataset (4 train + 2 test wells, physical well masks); do not modify."""
    from corroseg.synth.generator import write_dataset as write_synthetic

    return write_synthetic(tmp_path_factory.mktemp("synth") / "tiny", seed=0, preset="tiny")


@pytest.fixture(scope="session")
def tiny_run(synth_data, tmp_path_factory) -> Path:
    """One tiny trained run on ``synth_data`` (default preset, ``TINY``, threshold tuned on its
    validation wells, as ``corroseg train`` does); copy it before changing it."""
    from corroseg.workflows.train import train
    from corroseg.train.config import load_config

    out = tmp_path_factory.mktemp("runs") / "tiny"
    return train(synth_data, out, load_config(None, list(TINY)), progress=False)

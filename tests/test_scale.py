"""Scale: long wells stream in bounded memory; folders of wells are predicted one at a time, with progress."""

import tracemalloc
import weakref

import numpy as np
import pytest
from typer.testing import CliRunner

from corroseg.cli import app
from corroseg.data.wells import Well, save_well
from corroseg.infer.bundle import Predictor
from corroseg.infer.tiles import predict_well, tile_starts

runner = CliRunner()


def zero_logits(batch: np.ndarray) -> np.ndarray:
    return np.zeros_like(batch)


def test_windows_reach_the_predictor_a_batch_at_a_time():
    seen = []

    def predictor(batch):
        seen.append(len(batch))
        return zero_logits(batch)

    image = np.zeros((10_000, 36), np.float32)
    probability = predict_well(predictor, image, tile=144, overlap=36, batch_size=8)
    assert probability.shape == image.shape and np.allclose(probability, 0.5)
    assert max(seen) == 8 and sum(seen) == len(tile_starts(10_000, 144, 36))


def _peak_bytes(function, *args) -> int:
    """Peak memory traced by tracemalloc (numpy and Python allocations) during ``function(*args)``."""
    tracemalloc.start()
    try:
        function(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_predict_well_memory_is_the_wells_own_arrays_whatever_its_length(tiny_run):
    # the network is replaced by zeros: this measures the streaming around it (scaling, windows, blending)
    predictor = Predictor.from_run(tiny_run, tta=False)
    predictor.model = zero_logits
    rng = np.random.default_rng(0)
    short, long = (0.01 * rng.standard_normal((rows, 36)).astype(np.float32) for rows in (36_000, 144_000))
    short[::97, 5] = -999.25  # placeholders take the corrupted-pixel path too
    long[::97, 5] = -999.25
    peaks = [_peak_bytes(predictor.predict_well, image) for image in (short, long)]
    per_added_pixel = (peaks[1] - peaks[0]) / (long.size - short.size)
    # scaled copy (4 bytes), validity (1), the blended sum that becomes the probability (4), a mask temporary (1)
    assert per_added_pixel <= 12, per_added_pixel
    assert peaks[1] < 3 * long.nbytes + 16 * 2**20  # no whole-well temporaries beyond those


@pytest.fixture
def wells_folder(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "wells"
    for name in ("well_a", "well_b", "well_c"):
        save_well(folder / f"{name}.npz", Well(0.01 * rng.standard_normal((720, 36)).astype(np.float32), name=name))
    return folder


def test_predict_folder_holds_one_well_at_a_time(tiny_run, wells_folder, tmp_path, monkeypatch):
    import corroseg.workflows.predict as predictions

    loaded, held = [], []  # weak references to the wells loaded; how many were alive at each prediction
    real_load, real_predict = predictions.load_well, Predictor.predict_well

    def load(path):
        well = real_load(path)
        loaded.append(weakref.ref(well))
        return well

    def predict(self, image):
        held.append(sum(ref() is not None for ref in loaded))
        return real_predict(self, image)

    monkeypatch.setattr(predictions, "load_well", load)
    monkeypatch.setattr(Predictor, "predict_well", predict)
    result = runner.invoke(app, ["predict", str(tiny_run), str(wells_folder), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert held == [1, 1, 1]  # each well predicted with no other well in memory
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        f"well_{x}.{ext}" for x in "abc" for ext in ("json", "npz", "png")]


def test_predict_folder_shows_a_progress_bar_over_wells(tiny_run, wells_folder, tmp_path):
    result = runner.invoke(app, ["predict", str(tiny_run), str(wells_folder), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "3/3" in result.output  # rich's bar: wells done / wells

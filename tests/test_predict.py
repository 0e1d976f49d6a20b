"""Prediction: sliding windows, no-data handling, the challenge rule, outputs, evaluation and CLI errors."""

import dataclasses
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import one_line_error, write_dataset
from corroseg.cli import app
from corroseg.data.challenge import load_split, read_images, read_labels
from corroseg.data.corruption import corrupted_pixels
from corroseg.data.wells import assemble, cut, load_well
from corroseg.errors import CorrosegInputError
from corroseg.infer.bundle import Predictor
from corroseg.infer.evaluate import evaluate, false_alarms
from corroseg.infer.tiles import blend_weights, predict_well, tile_starts
from corroseg.models.metrics import challenge_iou
from corroseg.workflows.predict import predict_path
from corroseg.train.config import read_config, save_config

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def always(logit: float):
    """A predictor callable answering ``logit`` everywhere."""
    return lambda batch: np.full(batch.shape, logit, np.float32)


def thin_wall(batch):
    """A predictor callable that calls every below-median (thinner) pixel corrosion: masks vary with the input."""
    return -8.0 * batch


@pytest.fixture(scope="module")
def predictor(tiny_run) -> Predictor:
    return Predictor.from_run(tiny_run)


@pytest.fixture()
def faked(predictor):
    """The run's scaler and configuration with a stand-in model."""
    return lambda model: dataclasses.replace(predictor, model=model)


def corrupt(data, name: str, pixels=((5, 7),), value=np.float32(-999.25)) -> None:
    path = data / "x_train" / f"{name}.npy"
    patch = np.load(path)
    for r, c in pixels:
        patch[r, c] = value
    np.save(path, patch)


# ------------------------------------------------------------------ sliding windows


@pytest.mark.parametrize("rows, window, overlap", [(600, 144, 36), (252, 144, 36), (144, 144, 36), (90, 144, 36),
                                                   (1000, 576, 72), (577, 576, 0)])
def test_tile_starts_cover_the_well_and_end_flush(rows, window, overlap):
    starts = tile_starts(rows, window, overlap)
    assert starts[0] == 0 and starts == sorted(set(starts))
    if rows <= window:
        assert starts == [0]
        return
    assert starts[-1] + window == rows
    for a, b in zip(starts, starts[1:]):
        assert b - a <= window - overlap  # neighbours share at least `overlap` rows


def test_blend_weights():
    weights = blend_weights(144, 36)
    assert weights.shape == (144,) and (weights > 0).all() and weights.max() == 1.0
    np.testing.assert_array_equal(weights, weights[::-1])
    assert (weights[36:108] == 1).all() and (np.diff(weights[:37]) > 0).all()
    np.testing.assert_array_equal(blend_weights(144, 0), np.ones(144))


def test_streaming_equals_one_pass(predictor):
    image = np.random.default_rng(0).normal(size=(600, 72)).astype(np.float32)
    calls = []

    def counting(batch):
        calls.append(len(batch))
        return predictor.model(batch)

    one = predict_well(counting, image, 144, 36, batch_size=64)
    assert calls == [6]  # tile_starts(600, 144, 36): 0, 108, 216, 324, 432, 456
    calls.clear()
    streamed = predict_well(counting, image, 144, 36, batch_size=1)
    assert calls == [1] * 6
    np.testing.assert_allclose(streamed, one, atol=1e-6)
    assert one.shape == image.shape and one.dtype == np.float32
    assert np.isfinite(one).all() and (one >= 0).all() and (one <= 1).all()
    calls.clear()
    columns = predict_well(counting, image, 144, 36, batch_size=5, patch_columns=True)
    assert calls == [5, 5, 2]  # 6 windows x 2 columns of 36 px
    np.testing.assert_allclose(predict_well(predictor.model, image, 144, 36, 64, patch_columns=True), columns,
                               atol=1e-6)


def test_two_overlapping_windows_blend_as_by_hand(predictor):
    image = np.random.default_rng(1).normal(size=(252, 72)).astype(np.float32)
    assert tile_starts(252, 144, 36) == [0, 108]
    first = sigmoid(predictor.model(image[None, None, :144]))[0, 0]
    second = sigmoid(predictor.model(image[None, None, 108:]))[0, 0]
    assert not np.allclose(first[108:], second[:36], atol=1e-4)  # the windows disagree where they overlap
    ramp = np.linspace(0.05, 1.0, 38)[1:-1]  # rising weight of the second window over the 36 shared rows
    expected = np.concatenate([
        first[:108],
        (ramp[::-1, None] * first[108:] + ramp[:, None] * second[:36]) / (ramp[::-1, None] + ramp[:, None]),
        second[36:],
    ])
    result = predict_well(predictor.model, image, 144, 36, batch_size=16)
    np.testing.assert_allclose(result, expected, atol=1e-6)
    # a shared row is a weighted mean of the two windows: between them, nearer the first at the top
    low, high = np.minimum(first[108:], second[:36]), np.maximum(first[108:], second[:36])
    assert ((result[108:144] >= low - 1e-6) & (result[108:144] <= high + 1e-6)).all()
    assert np.abs(result[108] - first[108]).mean() < np.abs(result[108] - second[0]).mean()


def test_short_well_is_padded_and_cropped(predictor):
    image = np.random.default_rng(2).normal(size=(50, 36)).astype(np.float32)
    result = predict_well(predictor.model, image, 144, 36)
    assert result.shape == (50, 36)
    padded = np.zeros((144, 36), np.float32)
    padded[:50] = image
    np.testing.assert_allclose(result, sigmoid(predictor.model(padded[None, None]))[0, 0, :50], atol=1e-6)


# ------------------------------------------------------------------ no data, corrupted patches


def test_no_data_pixels_get_nan_probability_and_no_mask(predictor, faked, synth_data):
    image = load_well(synth_data / "wells" / "test_well_2.npz").image.copy()
    image[3, 4] = -999.25
    image[50, 0:10] = np.nan
    image[100, 70] = np.inf
    image[120, 5] = 1e4  # an outlier is no reading either
    bad = corrupted_pixels(image)
    assert bad.sum() == 13
    probability = predictor.predict_well(image)
    assert np.array_equal(np.isnan(probability), bad)
    assert ((probability[~bad] >= 0) & (probability[~bad] <= 1)).all()
    certain = faked(always(10.0))
    probability = certain.predict_well(image)
    assert np.array_equal(np.isnan(probability), bad)
    mask = certain.well_mask(probability)
    assert mask.dtype == np.uint8
    assert np.array_equal(mask, (~bad).astype(np.uint8))
    # the filled placeholders do not change what the valid pixels see compared to nominal thickness
    clean = image.copy()
    clean[bad] = 0.0
    np.testing.assert_allclose(predictor.predict_well(image)[~bad], predictor.predict_well(clean)[~bad], atol=1e-6)


def test_patch_masks_empty_every_patch_holding_a_corrupted_pixel(dataset, faked):
    corrupt(dataset, "well_1_patch_3")  # a 72 px well
    corrupt(dataset, "well_2_patch_0", pixels=((0, 0), (35, 35)))  # a 36 px well
    corrupt(dataset, "well_4_patch_4", value=np.float32(np.nan))
    images = read_images(dataset, "train")
    bad_patch = corrupted_pixels(images.images).reshape(len(images), -1).any(axis=1)
    assert bad_patch.sum() == 3
    certain = faked(always(10.0))
    masks = certain.patch_masks(images)
    assert masks.shape == images.images.shape and masks.dtype == np.uint8
    assert not masks[bad_patch].any()
    assert masks[~bad_patch].all()
    kept = certain.patch_masks(images, blank_corrupted=False)
    assert kept[bad_patch].reshape(3, -1).any(axis=1).all()  # not blanked ...
    assert not kept[corrupted_pixels(images.images)].any()  # ... but never 1 on the no-data pixel itself
    np.testing.assert_array_equal(kept[~bad_patch], masks[~bad_patch])


def test_predict_patches_are_the_whole_well_prediction_cut_back(dataset, predictor):
    images = read_images(dataset, "train")
    probability = predictor.predict_patches(images)
    rows = images.wells == 2
    whole = predictor.predict_well(assemble(images.images[rows], 36))
    np.testing.assert_array_equal(probability[rows], cut(whole))


# ------------------------------------------------------------------ outputs


def test_submission_csv(synth_data, faked, tmp_path):
    model = faked(thin_wall)
    out = tmp_path / "submission.csv"
    summary = predict_path(model, synth_data, out)
    images = read_images(synth_data, "test")
    assert summary["kind"] == "submission" and summary["patches"] == len(images)
    frame = pd.read_csv(out, index_col=0)
    assert frame.shape == (len(images), 1296)
    assert list(frame.index) == images.names  # every test patch, in numeric (well, patch) order
    assert "well_1_patch_10" in frame.index
    labels = read_labels(out)
    expected = dict(zip(images.names, model.patch_masks(images)))
    assert labels.names == images.names
    for name, mask in zip(labels.names, labels.masks):
        np.testing.assert_array_equal(mask, expected[name], err_msg=name)
    assert 0 < labels.masks.sum() < labels.masks.size  # masks vary: the row-name check means something
    corrupted = corrupted_pixels(images.images).reshape(len(images), -1).any(axis=1)
    assert corrupted.any() and not labels.masks[corrupted].any()


def test_whole_well_npz_and_png(synth_data, predictor, tmp_path):
    source = synth_data / "wells" / "test_well_1.npz"
    well = load_well(source)
    out = tmp_path / "pred" / "well.npz"
    summary = predict_path(predictor, source, out)
    assert summary["kind"] == "well"
    with np.load(out) as saved:
        probability, mask, valid = saved["probability"], saved["mask"], saved["valid"]
    assert probability.dtype == np.float16 and mask.dtype == np.uint8 and valid.dtype == np.uint8
    assert probability.shape == mask.shape == valid.shape == well.image.shape
    assert np.array_equal(valid.astype(bool), well.valid) and not well.valid.all()
    assert np.array_equal(np.isnan(probability), ~well.valid)
    assert not mask[valid == 0].any() and set(np.unique(mask)) <= {0, 1}
    expected = predictor.predict_well(well.image)
    np.testing.assert_allclose(probability[well.valid].astype(np.float32), expected[well.valid], atol=1e-3)
    np.testing.assert_array_equal(mask, predictor.well_mask(expected))
    assert out.with_suffix(".png").read_bytes().startswith(PNG)


def test_folder_output_one_npz_and_png_per_well(synth_data, dataset, predictor, tmp_path):
    wells = tmp_path / "wells"
    wells.mkdir()
    for name in ("test_well_1.npz", "test_well_2.npz"):
        shutil.copy(synth_data / "wells" / name, wells / name)
    summary = predict_path(predictor, wells, tmp_path / "out")
    assert summary["kind"] == "wells" and len(summary["wells"]) == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "test_well_1.json", "test_well_1.npz", "test_well_1.png", "test_well_2.json", "test_well_2.npz",
        "test_well_2.png"]
    record = json.loads((tmp_path / "out" / "test_well_1.json").read_text())
    assert record["options"] == predictor.options.record(predictor.config)  # how it was predicted
    assert record["threshold"] == predictor.threshold and record["rows"] == summary["wells"][0]["rows"]
    # a folder of challenge patches: one .npz, .png and .json per well
    predict_path(predictor, dataset / "x_test", tmp_path / "patches")
    assert sorted(p.name for p in (tmp_path / "patches").iterdir()) == [
        "well_1.json", "well_1.npz", "well_1.png", "well_2.json", "well_2.npz", "well_2.png"]
    with np.load(tmp_path / "patches" / "well_2.npz") as saved:
        assert saved["probability"].shape == (108, 36)


def test_refuses_to_overwrite_without_force(synth_data, predictor, tmp_path):
    well = synth_data / "wells" / "test_well_2.npz"
    csv, npz, folder = tmp_path / "sub.csv", tmp_path / "w.npz", tmp_path / "wells"
    source_folder = tmp_path / "source"
    source_folder.mkdir()
    shutil.copy(well, source_folder / well.name)
    predict_path(predictor, synth_data, csv)
    predict_path(predictor, well, npz)
    predict_path(predictor, source_folder, folder)
    for source, out, existing in ((synth_data, csv, csv), (well, npz, npz), (source_folder, folder,
                                                                                 folder / "test_well_2.npz")):
        existing.write_bytes(b"mine")
        with pytest.raises(CorrosegInputError, match="--force") as info:
            predict_path(predictor, source, out)
        assert info.value.path == str(existing)
        assert existing.read_bytes() == b"mine"
        predict_path(predictor, source, out, force=True)
        assert existing.read_bytes() != b"mine"


def test_bad_output_names(synth_data, predictor, tmp_path):
    with pytest.raises(CorrosegInputError, match="not a well .npz"):
        predict_path(predictor, synth_data / "wells" / "test_well_1.npz", tmp_path / "x.csv")
    with pytest.raises(CorrosegInputError, match="OUT must end in"):
        predict_path(predictor, synth_data, tmp_path / "x.txt")
    with pytest.raises(CorrosegInputError, match="several wells"):
        predict_path(predictor, synth_data / "wells", tmp_path / "one.npz")
    with pytest.raises(CorrosegInputError, match="no such file"):
        predict_path(predictor, tmp_path / "absent", tmp_path / "x.csv")


# ------------------------------------------------------------------ evaluation


def test_evaluate_scores_the_masks_it_predicts(synth_data, faked):
    model = faked(thin_wall)
    result = evaluate(model, synth_data, "test")
    for key in ("iou", "iou_nonempty", "precision", "recall", "f1", "per_well", "patches"):
        assert key in result
    split = load_split(synth_data, "test")
    pred = model.patch_masks(split.images)
    assert 0 < pred.sum() < pred.size
    assert result["iou"] == pytest.approx(challenge_iou(pred, split.masks))
    nonempty = split.masks.reshape(len(pred), -1).any(axis=1)
    assert result["iou_nonempty"] == pytest.approx(challenge_iou(pred[nonempty], split.masks[nonempty]))
    assert result["patches"] == len(pred)
    assert set(result["per_well"]) == {"1", "2"}
    for well, row in result["per_well"].items():
        rows = split.images.wells == int(well)
        assert row["patches"] == rows.sum()
        assert row["iou"] == pytest.approx(challenge_iou(pred[rows], split.masks[rows]))
    for key in ("iou", "precision", "recall"):
        assert 0.0 <= result[key] <= 1.0
    # an empty prediction scores exactly the share of empty truths
    empty = evaluate(faked(always(-10.0)), synth_data, "test")
    assert empty["iou"] == pytest.approx(1 - nonempty.mean())
    assert empty["recall"] == 0.0


def test_evaluate_needs_labels(dataset, predictor):
    with pytest.raises(CorrosegInputError, match="no y_test"):
        evaluate(predictor, dataset, "test")


def test_false_alarms(dataset, faked):
    corrupt(dataset, "well_3_patch_2")
    model = faked(thin_wall)
    result = false_alarms(model, dataset / "x_train")
    assert result["wells"] == [1, 2, 3, 4] and set(result["per_well"]) == {"1", "2", "3", "4"}
    total = (8 + 6 + 6 + 5) * 36 * 36
    assert result["valid_pixels"] == total - 1
    assert sum(w["valid_pixels"] for w in result["per_well"].values()) == total - 1
    assert sum(w["flagged_pixels"] for w in result["per_well"].values()) == result["flagged_pixels"]
    assert 0.0 < result["rate"] < 1.0
    assert result["rate"] == pytest.approx(result["flagged_pixels"] / result["valid_pixels"])
    for row in result["per_well"].values():
        assert 0.0 <= row["rate"] <= 1.0
    assert false_alarms(faked(always(-10.0)), dataset / "x_train")["rate"] == 0.0
    assert false_alarms(model, dataset / "x_train", wells=[2])["wells"] == [2]
    with pytest.raises(CorrosegInputError, match=r"no patches of wells \[7\]"):
        false_alarms(model, dataset / "x_train", wells=[7])


def test_false_alarms_default_to_the_real_false_alarm_wells(tmp_path, predictor):
    write_dataset(tmp_path, {1: (4, 36), 9: (4, 36), 10: (2, 36)}, labels=False)
    result = false_alarms(predictor, tmp_path)
    assert result["wells"] == [9, 10] and set(result["per_well"]) == {"9", "10"}
    assert result["valid_pixels"] == 6 * 36 * 36


# ------------------------------------------------------------------ the command line


def test_cli_evaluate_json(tiny_run, synth_data, tmp_path):
    real_like = tmp_path / "real"
    write_dataset(real_like, {1: (4, 36), 9: (4, 36), 10: (2, 72)}, labels=False)
    result = runner.invoke(app, ["evaluate", str(tiny_run), str(synth_data), "--json",
                                 "--false-alarm", str(real_like)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert isinstance(summary, dict)
    for key in ("iou", "iou_nonempty", "precision", "recall", "per_well", "false_alarm"):
        assert key in summary
    assert summary["split"] == "test" and set(summary["per_well"]) == {"1", "2"}
    assert 0.0 <= summary["iou"] <= 1.0 and 0.0 <= summary["false_alarm"]["rate"] <= 1.0
    assert summary["false_alarm"]["wells"] == [9, 10]


def test_false_alarms_on_synthetic_data_use_its_defect_free_wells(predictor, synth_data, tmp_path):
    # the tiny dataset's test wells all carry corrosion: there is nothing to count false alarms on
    result = runner.invoke(app, ["evaluate", str(tmp_path / "no_run"), str(synth_data)])
    assert result.exit_code == 2
    with pytest.raises(CorrosegInputError, match="no corrosion-free well"):
        false_alarms(predictor, synth_data / "x_test")
    manifest = json.loads((synth_data / "synth.json").read_text())
    copy = shutil.copytree(synth_data, tmp_path / "synth")
    manifest["wells"]["train_2"]["kind"] = "none"
    (copy / "synth.json").write_text(json.dumps(manifest))
    assert false_alarms(predictor, copy)["wells"] == [2]


def test_cli_predict_and_refuse_overwrite(tiny_run, synth_data, tmp_path):
    out = tmp_path / "sub.csv"
    result = runner.invoke(app, ["predict", str(tiny_run), str(synth_data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(read_labels(out)) == len(read_images(synth_data, "test"))
    again = runner.invoke(app, ["predict", str(tiny_run), str(synth_data), "--out", str(out)])
    one_line_error(again, "already exists", "--force")
    forced = runner.invoke(app, ["predict", str(tiny_run), str(synth_data), "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output


def broken_run(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("checkpoints", "logs"))
    return run


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_cli_run_without_weights_exit_2(command, tiny_run, synth_data, tmp_path):
    run = broken_run(tiny_run, tmp_path)
    (run / "model.safetensors").unlink()
    args = [command, str(run), str(synth_data)] + (["--out", str(tmp_path / "x.csv")] if command == "predict" else [])
    one_line_error(runner.invoke(app, args), str(run / "model.safetensors"), "missing")
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("content", [b"", b"\x00garbage bytes, not a safetensors file" * 20,
                                     b"\xff\xff\xff\xff\xff\xff\xff\x7f{}"])
def test_cli_corrupted_weights_exit_2(content, tiny_run, synth_data, tmp_path):
    run = broken_run(tiny_run, tmp_path)
    (run / "model.safetensors").write_bytes(content)
    one_line_error(runner.invoke(app, ["evaluate", str(run), str(synth_data)]), "model.safetensors")


def test_cli_weights_of_another_model_exit_2(tiny_run, synth_data, tmp_path):
    run = broken_run(tiny_run, tmp_path)
    cfg = read_config(run / "config.yaml")
    save_config(cfg.replace(model_options={"channels": [8, 8, 8, 8]}), run / "config.yaml")
    one_line_error(runner.invoke(app, ["evaluate", str(run), str(synth_data)]), "do not fit")


def test_cli_missing_run_folder_exit_2(tmp_path, synth_data):
    one_line_error(runner.invoke(app, ["evaluate", str(tmp_path / "nope"), str(synth_data)]), "no such run folder")


def _strict_json(text: str):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_cli_evaluate_json_is_strict_json_without_corroded_patches(tiny_run, tmp_path):
    from corroseg.data.challenge import write_submission

    names = write_dataset(tmp_path, {1: (4, 36), 2: (4, 72)}, split="test", labels=False)
    write_submission(tmp_path / "y_test.csv", list(names), np.zeros((len(names), 36, 36), np.uint8))
    result = runner.invoke(app, ["evaluate", str(tiny_run), str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    summary = _strict_json(result.stdout)
    assert summary["patches_with_corrosion"] == 0


def test_a_single_well_shows_its_rows_predicted_across_every_ensemble_member(tiny_run, synth_data):
    from rich.progress import Progress

    from corroseg.infer.ensemble import load_predictor
    from corroseg.workflows.predict import rows_progress

    well = load_well(synth_data / "wells" / "test_well_1.npz")
    rows = well.image.shape[0]
    predictor = load_predictor([tiny_run, tiny_run])  # two members: the well is run through twice
    for member in predictor.members:
        member.batch_size = 1  # a report after every tile
    seen = []
    with Progress(disable=True) as bar:
        with rows_progress(bar, "predicting", rows, passes=2):
            update = bar.update

            def watch(task_id, **fields):
                seen.append(fields.get("completed"))
                update(task_id, **fields)

            bar.update = watch
            predictor.predict_well(well.image)
            bar.update = update
            assert bar.tasks[0].completed == 2 * rows and bar.tasks[0].total == 2 * rows
    counts = [c for c in seen if c is not None]
    assert counts == sorted(counts) and counts[-1] == 2 * rows and min(counts) < rows  # one rising count, not two

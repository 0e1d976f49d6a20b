"""WellDataModule: split by well, windows, deterministic batches, labels, and the fitted scaler."""

import numpy as np
import pytest
import torch

from conftest import write_dataset
from corroseg.data.corruption import corrupted_pixels
from corroseg.data.labelled import corrupted_patch_pixels, default_excluded_wells, load_labelled_wells
from corroseg.data.scaling import PatchScaler
from corroseg.data.wells import cut, load_well
from corroseg.errors import CorrosegInputError, CorrosegUserError
from corroseg.train import datamodule as dm_module
from corroseg.train.config import load_config
from corroseg.train.datamodule import WellDataModule, WindowBatchSampler, prepare

PLACEHOLDER = np.float32(-999.25)


def config(*overrides, base=None):
    return load_config(base, ["batch_size=4", "window_rows=72", "windows_per_epoch=12", *overrides])


def setup(data, *overrides, base=None) -> WellDataModule:
    dm = WellDataModule(data, config(*overrides, base=base))
    dm.setup("fit")
    return dm


def windows(loader) -> list:
    return [list(batch) for batch in loader.batch_sampler]


def corrupt(data, name: str, pixels=((5, 7),)) -> None:
    path = data / "x_train" / f"{name}.npy"
    patch = np.load(path)
    for r, c in pixels:
        patch[r, c] = PLACEHOLDER
    np.save(path, patch)


# ------------------------------------------------------------------ split by well


def test_split_by_well(dataset):
    dm = setup(dataset, "val_wells=[2]")
    train = [w.well for w in dm.train_wells]
    val = [w.well for w in dm.val_wells]
    assert sorted(train) == [1, 3, 4] and val == [2]
    assert dm.facts["train_wells"] == sorted(train) and dm.facts["val_wells"] == val
    random = setup(dataset, "val_fraction=0.3", "seed=3")
    train, val = {w.well for w in random.train_wells}, {w.well for w in random.val_wells}
    assert train and val and not train & val and train | val == {1, 2, 3, 4}


def test_excluded_wells_are_absent(dataset):
    dm = setup(dataset, "exclude_wells=[3]", "val_wells=[2]")
    wells = {w.well for w in dm.train_wells + dm.val_wells}
    assert wells == {1, 2, 4}
    assert dm.facts["excluded_wells"] == [3]


def test_real_false_alarm_wells_excluded_by_default(tmp_path):
    write_dataset(tmp_path, {1: (4, 36), 2: (4, 36), 9: (4, 36), 10: (4, 36)})
    assert default_excluded_wells(tmp_path) == (9, 10)
    dm = setup(tmp_path)
    assert {w.well for w in dm.train_wells + dm.val_wells} == {1, 2}
    assert dm.facts["excluded_wells"] == [9, 10]


def test_synthetic_dataset_excludes_nothing(synth_data):
    assert default_excluded_wells(synth_data) == ()
    dm = setup(synth_data)
    assert {w.well for w in dm.train_wells + dm.val_wells} == {1, 2, 3, 4}


def test_bad_split_is_a_user_error(dataset):
    with pytest.raises(CorrosegUserError, match="val_wells"):
        setup(dataset, "val_wells=[7]")
    with pytest.raises(CorrosegUserError, match="no training"):
        setup(dataset, "val_wells=[1,2,3,4]")
    with pytest.raises(CorrosegInputError, match="needs 2"):
        setup(dataset, "exclude_wells=[1,2,3]")


# ------------------------------------------------------------------ windows and batches


def test_windows_have_the_configured_shape_and_one_width_per_batch(dataset):
    dm = setup(dataset, "val_wells=[2]", "windows_per_epoch=24")
    loader = dm.train_dataloader()
    widths, count = set(), 0
    for batch in loader:
        image = batch["image"]
        assert image.dtype == torch.float32 and image.ndim == 4 and image.shape[1] == 1
        assert image.shape[2] == 72 and image.shape[0] <= 4
        assert torch.isfinite(image).all()
        for key in ("mask", "learn", "score_truth", "corrupted"):
            assert batch[key].shape == image.shape
        widths.add(image.shape[3])
        count += len(image)
    assert count == 24
    assert widths == {36, 72}  # both widths occur, never in one batch (a batch is one tensor)
    for batch in windows(loader):
        assert len({(rows, width) for _, _, rows, _, width, *_ in batch}) == 1


def test_validation_tiles_cover_each_well_once(dataset):
    dm = setup(dataset, "val_wells=[2]")
    rows_seen = np.zeros(dm.val_wells[0].rows, int)
    for batch in windows(dm.val_dataloader()):
        for _, row, rows, col, width, flip_d, flip_a, roll, weight in batch:
            assert (col, width, flip_d, flip_a, roll, weight) == (0, 36, False, False, 0, 1.0)
            rows_seen[row : row + rows] += 1
    assert (rows_seen == 1).all()  # every patch scored exactly once: the challenge metric


def test_patch_mode_with_the_papers_expansion(dataset):
    corrupt(dataset, "well_2_patch_1")
    dm = setup(dataset, "val_wells=[4]", "window_rows=36", base="paper")
    assert dm.cfg.window == "patch" and dm.cfg.max_corrupted_fraction == 0.0
    learnable = sum(w.rows * w.width for w in dm.train_wells) // 36**2 - 1  # the corrupted patch is dropped
    loader = dm.train_dataloader()
    all_windows = [w for batch in windows(loader) for w in batch]
    assert len(all_windows) == 4 * learnable
    # every patch once per expansion item: raw, hflip, vflip, hvflip
    flips = {}
    for i, r, rows, c, width, flip_d, flip_a, roll in all_windows:
        assert (rows, width, roll) == (36, 36, 0)
        flips.setdefault((i, r, c), set()).add((flip_d, flip_a))
    assert all(v == {(False, False), (False, True), (True, False), (True, True)} for v in flips.values())
    well2 = next(k for k, w in enumerate(dm.train_wells) if w.well == 2)
    assert (well2, 36, 0) not in flips  # well_2_patch_1: rows 36..72 of a 36 px well
    batch = next(iter(loader))
    assert batch["image"].shape[1:] == (1, 36, 36)


def test_same_seed_and_epoch_same_batches_other_epoch_other_batches(dataset):
    first = setup(dataset, "val_wells=[2]").train_dataloader()
    second = setup(dataset, "val_wells=[2]").train_dataloader()
    epoch0 = windows(first)
    assert windows(second) == epoch0
    assert windows(first) == epoch0  # iterating again draws the same epoch
    first.batch_sampler.sampler.set_epoch(1)
    epoch1 = windows(first)
    assert epoch1 != epoch0
    second.batch_sampler.sampler.set_epoch(1)
    assert windows(second) == epoch1
    other_seed = setup(dataset, "val_wells=[2]", "seed=1").train_dataloader()
    assert windows(other_seed) != epoch0
    # the tensors follow the windows
    a = next(iter(setup(dataset, "val_wells=[2]").train_dataloader()))
    b = next(iter(setup(dataset, "val_wells=[2]").train_dataloader()))
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])


def test_epoch_set_after_iter_but_before_first_batch_is_used(dataset):
    loader = setup(dataset, "val_wells=[2]").train_dataloader()
    loader.batch_sampler.sampler.set_epoch(1)
    epoch1 = windows(loader)
    loader.batch_sampler.sampler.set_epoch(0)
    iterator = iter(loader.batch_sampler)  # as DataLoader / Lightning's fetcher do before set_epoch
    loader.batch_sampler.sampler.set_epoch(1)
    assert list(next(iterator)) == epoch1[0]


def test_sharding_by_rank_gives_disjoint_equal_shares(dataset, monkeypatch):
    dm = setup(dataset, "val_wells=[2]", "windows_per_epoch=40")
    sampler = dm.train_dataloader().batch_sampler
    whole = windows(dm.train_dataloader())
    shares = []
    for rank in (0, 1):
        monkeypatch.setattr(dm_module, "_rank_and_world", lambda rank=rank: (rank, 2))
        shares.append(list(sampler))
    assert len(shares[0]) == len(shares[1]) >= 1
    assert sorted(map(str, shares[0] + shares[1])) == sorted(map(str, whole[: len(whole) - len(whole) % 2]))


def test_every_rank_gets_a_validation_batch(dataset, monkeypatch):
    dm = setup(dataset, "val_wells=[2]", "batch_size=8")  # well 2: 216 rows -> 3 tiles of 72 rows -> 1 batch
    sampler = dm.val_dataloader().batch_sampler
    weights = []
    for rank in (0, 1):
        monkeypatch.setattr(dm_module, "_rank_and_world", lambda rank=rank: (rank, 2))
        assert len(sampler) >= 1
        weights += [window[8] for batch in sampler for window in batch]
    assert sorted(weights) == [0.0, 1.0, 1.0, 1.0]  # 3 tiles, one padding window that is not scored


# ------------------------------------------------------------------ labels


def test_challenge_labels_corrupted_patch_is_not_learnt(dataset):
    corrupt(dataset, "well_1_patch_3", pixels=((0, 0), (20, 30)))  # 72 px well: rows 36..72, columns 36..72
    corrupt(dataset, "well_2_patch_2")  # 36 px well: rows 72..108
    wells = {w.well: w for w in load_labelled_wells(dataset, "train", "patches")}
    assert {w.source for w in wells.values()} == {"patches"}
    expected = np.ones((144, 72), bool)
    expected[36:72, 36:72] = False
    assert np.array_equal(wells[1].learn, expected)
    expected = np.ones((216, 36), bool)
    expected[72:108] = False
    assert np.array_equal(wells[2].learn, expected)
    assert wells[3].learn.all() and wells[4].learn.all()
    for well in wells.values():
        assert np.array_equal(well.score_truth, well.mask * well.learn)
    # the same holds after preparation, and in the windows cut from it
    dm = setup(dataset, "val_wells=[3]", "window_rows=144")
    prepared = next(w for w in dm.train_wells if w.well == 1)
    assert np.array_equal(prepared.learn, wells[1].learn)
    assert np.array_equal(prepared.corrupted_patch, ~wells[1].learn)
    assert np.isfinite(prepared.image).all()


def test_auto_labels_use_the_label_file_without_wells(dataset):
    assert {w.source for w in load_labelled_wells(dataset, "train")} == {"patches"}
    with pytest.raises(CorrosegInputError, match="no wells/"):
        load_labelled_wells(dataset, "train", "wells")


def test_physical_labels_learn_every_valid_pixel(synth_data):
    wells = load_labelled_wells(synth_data, "train")
    assert {w.source for w in wells} == {"wells"}
    some_corruption = False
    for well in wells:
        physical = load_well(synth_data / "wells" / f"train_well_{well.well}.npz")
        valid = ~corrupted_pixels(physical.image)
        assert np.array_equal(well.learn, valid)
        assert np.array_equal(well.mask, physical.mask)
        assert np.array_equal(well.score_truth, physical.mask * ~corrupted_patch_pixels(physical.image))
        if (~valid).any():
            some_corruption = True
            # unlike challenge labels, valid pixels of a corrupted patch are still learnt
            assert (well.learn & corrupted_patch_pixels(well.image)).any()
    assert some_corruption, "the tiny synthetic dataset should hold a corrupted pixel"
    # the label file of the same dataset follows the challenge rule instead
    widths = {w.well: w.width for w in wells}  # width inference is not what this test is about
    patches = {w.well: w for w in load_labelled_wells(synth_data, "train", "patches", widths=widths)}
    for well in wells:
        assert np.array_equal(patches[well.well].learn, ~corrupted_patch_pixels(well.image))


def test_short_well_is_padded_with_nothing_to_learn(dataset):
    dm = setup(dataset, "val_wells=[2]", "window_rows=144")
    well3 = next(w for w in dm.train_wells if w.well == 3)  # 6 patches, 72 px: 108 rows
    assert well3.rows == 144
    assert not well3.learn[108:].any() and well3.learn[:108].all()
    assert not well3.mask[108:].any()


# ------------------------------------------------------------------ the scaler


def test_scaler_is_fitted_on_training_wells_only(dataset):
    dm = setup(dataset, "val_wells=[2]", "scaler=per_pixel")
    wells = {w.well: w for w in load_labelled_wells(dataset, "train")}
    train = np.concatenate([cut(wells[w].image) for w in (1, 3, 4)])
    every = np.concatenate([cut(wells[w].image) for w in (1, 2, 3, 4)])
    expected = PatchScaler("per_pixel").fit(train).scaler_
    with_val = PatchScaler("per_pixel").fit(every).scaler_
    fitted = dm.scaler.scaler_
    np.testing.assert_allclose(fitted.center_, expected.center_)
    np.testing.assert_allclose(fitted.scale_, expected.scale_)
    assert not np.allclose(fitted.center_, with_val.center_)
    # the prepared images are scaled with it
    prepared = next(w for w in dm.train_wells if w.well == 1)
    np.testing.assert_allclose(prepared.image, dm.scaler.transform_well(wells[1].image), rtol=1e-6)


def test_state_dict_round_trips_the_scaler_and_setup_keeps_it(dataset):
    dm = setup(dataset, "val_wells=[2]", "scaler=per_pixel")
    state = dm.state_dict()
    other = WellDataModule(dataset, config("val_wells=[3]", "scaler=per_pixel"))
    other.load_state_dict(state)
    assert other.scaler.to_dict() == dm.scaler.to_dict()
    other.setup("fit")  # a resumed run keeps the checkpoint's scaler, whatever its split would fit
    assert other.scaler.to_dict() == dm.scaler.to_dict()
    image = load_labelled_wells(dataset, "train")[0].image
    np.testing.assert_array_equal(other.scaler.transform_well(image), dm.scaler.transform_well(image))
    prepared = prepare(load_labelled_wells(dataset, "train")[0], other.scaler)
    np.testing.assert_array_equal(prepared.image, dm.scaler.transform_well(image))


def test_window_batch_sampler_is_reproducible_alone(dataset):
    dm = setup(dataset, "val_wells=[2]")
    kwargs = dict(rows=72, batch_size=3, mode="well", seed=5, count=9, flips=True, roll=True)
    a, b = WindowBatchSampler(dm.train_wells, **kwargs), WindowBatchSampler(dm.train_wells, **kwargs)
    assert list(a) == list(b) and len(a) >= 3
    assert sum(len(batch) for batch in a) == 9
    rolls = {w[-1] for batch in a for w in batch}
    assert len(rolls) > 1  # azimuth rolls are drawn

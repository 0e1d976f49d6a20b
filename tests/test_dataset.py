import numpy as np
import torch

from corroseg.data.dataset import ChallengeDataModule


def test_datamodule_splits_by_well_and_carries_ids(dataset):
    dm = ChallengeDataModule(dataset, batch_size=4, val_wells=[2], exclude_wells=[4], n_transforms=2)
    dm.setup("fit")
    assert set(dm.train_set.wells.tolist()) == {1, 3}
    assert set(dm.val_set.wells.tolist()) == {2}
    assert len(dm.train_set) == 3 * 14  # wells 1 and 3: 14 patches, x3 by expansion
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (4, 1, 36, 36) and batch["image"].dtype == torch.float32
    assert batch["mask"].shape == (4, 1, 36, 36) and batch["valid"].dtype == torch.bool
    assert set(batch["well"].tolist()) <= {1, 3}
    val = next(iter(dm.val_dataloader()))
    assert val["patch"].tolist() == [0, 1, 2, 3]


def test_scaler_fitted_on_training_wells_only(dataset):
    dm = ChallengeDataModule(dataset, val_wells=[1], scaler_mode="global", augment=False)
    dm.setup("fit")
    everything = ChallengeDataModule(dataset, val_wells=[], scaler_mode="global")
    everything.setup("fit")
    assert dm.scaler.scaler_.center_[0] != everything.scaler.scaler_.center_[0]


def test_corrupted_patches_left_out_and_pixels_marked(dataset):
    patch = dataset / "x_train" / "well_2_patch_1.npy"
    data = np.load(patch)
    data[:3] = -999.25  # 8% corrupted: kept, pixels invalid
    np.save(patch, data)
    full = dataset / "x_train" / "well_2_patch_2.npy"
    np.save(full, np.full((36, 36), -999.0, np.float32))
    dm = ChallengeDataModule(dataset, val_wells=[2], augment=False)
    dm.setup("fit")
    patches = dm.val_set.patches.tolist()
    assert 2 not in patches and 1 in patches
    i = patches.index(1)
    assert not dm.val_set.valid[i, :3].any() and dm.val_set.valid[i, 3:].all()
    assert np.isfinite(dm.val_set.images).all()


def test_predict_loader_over_test_split(dataset):
    dm = ChallengeDataModule(dataset, batch_size=16, val_wells=[2])
    dm.setup("predict")
    assert len(dm.test_set) == 7 and dm.test_names[0] == "well_1_patch_0"
    batch = next(iter(dm.predict_dataloader()))
    assert "mask" not in batch and batch["image"].shape[0] == 7

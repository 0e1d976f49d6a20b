"""Torch Dataset and Lightning DataModule over challenge-format data.

Every sample carries its well id and patch number, and a validity mask so that
corrupted pixels can be left out of losses and metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from corroseg.data.augment import default_augmentation, expand
from corroseg.data.challenge import load_split
from corroseg.data.corruption import CorruptionPolicy
from corroseg.data.scaling import PatchScaler
from corroseg.data.splits import well_kfold, well_train_val_split
from corroseg.errors import CorrosegInputError


class PatchDataset(Dataset):
    """Normalised patches with masks, validity masks, well ids and patch numbers.

    Parameters
    ----------
    images : ndarray (N, H, W), float32
        Normalised, corrupted pixels already filled.
    valid : ndarray (N, H, W), bool
        True where the pixel is a real reading.
    wells, patches : ndarray (N,), int
    masks : ndarray (N, H, W) of 0/1, optional
    transform : callable, optional
        ``(image, mask, valid) -> (image, mask, valid)`` applied per sample.
    """

    def __init__(
        self,
        images: np.ndarray,
        valid: np.ndarray,
        wells: np.ndarray,
        patches: np.ndarray,
        masks: np.ndarray | None = None,
        transform: Callable | None = None,
    ):
        n = len(images)
        if not (len(valid) == len(wells) == len(patches) == n) or (masks is not None and len(masks) != n):
            raise ValueError("images, valid, wells, patches and masks must have the same length")
        self.images = np.asarray(images, dtype=np.float32)
        self.valid = np.asarray(valid, dtype=bool)
        self.wells = np.asarray(wells)
        self.patches = np.asarray(patches)
        self.masks = None if masks is None else np.asarray(masks, dtype=np.float32)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        image, valid = self.images[index], self.valid[index]
        mask = None if self.masks is None else self.masks[index]
        if self.transform is not None:
            image, mask, valid = self.transform(image, mask, valid)
        item = {
            "image": torch.from_numpy(np.ascontiguousarray(image))[None],
            "valid": torch.from_numpy(np.ascontiguousarray(valid))[None],
            "well": int(self.wells[index]),
            "patch": int(self.patches[index]),
        }
        if mask is not None:
            item["mask"] = torch.from_numpy(np.ascontiguousarray(mask))[None]
        return item


class ChallengeDataModule(L.LightningDataModule):
    """Train/validation by well from a dataset directory; test patches for prediction.

    Parameters
    ----------
    data_dir : path
        Dataset directory (``x_train/`` + ``y_train*.csv``, optional ``x_test/``).
    batch_size : int
    val_wells : sequence of int, optional
        Explicit validation wells; else ``val_fraction`` of the wells, or fold
        ``fold`` of ``n_folds`` when ``fold`` is given.
    scaler_mode : {"global", "per_pixel", "per_patch"}
        Fitted on the training wells only.
    policy : CorruptionPolicy
    augment : bool
        Random flips and rolls per training sample.
    n_transforms : int
        The paper's dataset expansion (0 = off).
    exclude_wells : sequence of int
        Never used for training or validation (e.g. a false-alarm test set).
    """

    def __init__(
        self,
        data_dir: str | Path,
        batch_size: int = 64,
        val_wells: Sequence[int] | None = None,
        val_fraction: float = 0.2,
        fold: int | None = None,
        n_folds: int = 5,
        scaler_mode: str = "per_pixel",
        policy: CorruptionPolicy | None = None,
        augment: bool = True,
        n_transforms: int = 0,
        exclude_wells: Sequence[int] = (),
        seed: int = 0,
        num_workers: int = 0,
    ):
        super().__init__()
        self.data_dir = Path(data_dir)
        self.batch_size = batch_size
        self.val_wells = val_wells
        self.val_fraction = val_fraction
        self.fold, self.n_folds = fold, n_folds
        self.scaler = PatchScaler(scaler_mode)
        self.policy = policy or CorruptionPolicy()
        self.augment = augment
        self.n_transforms = n_transforms
        self.exclude_wells = tuple(exclude_wells)
        self.seed = seed
        self.num_workers = num_workers
        self.train_set: PatchDataset | None = None
        self.val_set: PatchDataset | None = None
        self.test_set: PatchDataset | None = None
        self.test_names: list[str] = []

    def _split_indices(self, wells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.fold is not None:
            folds = list(well_kfold(wells, self.n_folds))
            if not 0 <= self.fold < len(folds):
                raise ValueError(f"fold must be in 0..{len(folds) - 1}")
            return folds[self.fold]
        return well_train_val_split(wells, self.val_wells, self.val_fraction, self.seed)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None and stage in (None, "fit", "validate"):
            self._setup_fit()
        if self.test_set is None and stage in (None, "test", "predict"):
            self._setup_predict()

    def _setup_fit(self) -> None:
        split = load_split(self.data_dir, "train")
        if split.masks is None:
            raise CorrosegInputError(self.data_dir, "no y_train*.csv label file to train on")
        images = split.images
        keep = ~np.isin(images.wells, self.exclude_wells) & self.policy.keep_for_training(images.images)
        masks = split.masks[keep]
        images = images.subset(keep)
        train, val = self._split_indices(images.wells)
        self.scaler.fit(images.images[train])
        filled, valid = self.policy.clean(images.images)
        scaled = self.scaler.transform(filled)
        self.train_set = self._dataset(scaled, valid, images.wells, images.patches, masks, train, expand_=True)
        self.val_set = self._dataset(scaled, valid, images.wells, images.patches, masks, val, expand_=False)

    def _dataset(self, scaled, valid, wells, patches, masks, index, expand_: bool) -> PatchDataset:
        x, v, m, w, p = scaled[index], valid[index], masks[index], wells[index], patches[index]
        if expand_ and self.n_transforms:
            x, m, v, source = expand(x, m, v, self.n_transforms)
            w, p = w[source], p[source]
        transform = default_augmentation(self.seed) if (expand_ and self.augment) else None
        return PatchDataset(x, v, w, p, m, transform)

    def _setup_predict(self) -> None:
        if self.scaler.mode != "per_patch" and self.scaler.scaler_ is None:
            self._setup_fit()
        test = load_split(self.data_dir, "test").images
        filled, valid = self.policy.clean(test.images)
        self.test_names = test.names
        self.test_set = PatchDataset(self.scaler.transform(filled), valid, test.wells, test.patches)

    def _loader(self, dataset: PatchDataset | None, shuffle: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError("call setup() first")
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            generator=generator if shuffle else None,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)

    test_dataloader = predict_dataloader

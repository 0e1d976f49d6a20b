"""The DataModule: labelled wells -> scaled windows, split by well, with a fitted scaler.

Windows, not patches, are the unit of training. In ``well`` mode a window is
``window_rows`` rows of the whole circumference, cut at any depth; in ``patch`` mode it
is one 36x36 challenge patch. Every random choice (which well, where, which flips) is
drawn in the batch sampler, in the main process, from ``(seed, epoch)``: DataLoader
workers only slice arrays, so they hold no random state to duplicate, and a resumed
run draws exactly the batches the interrupted one would have.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import CombinedLoader
from torch.utils.data import DataLoader, Dataset

from corroseg.data.challenge import FALSE_ALARM_WELLS, PATCH_SIZE, read_images
from corroseg.data.corruption import CorruptionPolicy
from corroseg.data.labelled import (LabelledWell, corrupted_patch_pixels, default_excluded_wells, load_labelled_wells,
                                    require_learnable)
from corroseg.data.scaling import PatchScaler
from corroseg.data.splits import well_train_val_split
from corroseg.data.wells import well_from_patches
from corroseg.errors import CorrosegInputError, CorrosegUserError
from corroseg.train.config import TrainConfig


@dataclass
class PreparedWell:
    """A well ready for windows: scaled image with corrupted pixels filled, and its masks."""

    well: int
    image: np.ndarray  # float32, scaled, finite
    mask: np.ndarray  # float32 0/1
    learn: np.ndarray  # bool
    score_truth: np.ndarray  # uint8, challenge convention
    corrupted_patch: np.ndarray  # bool per pixel: the pixel's patch holds a corrupted pixel

    @property
    def rows(self) -> int:
        return self.image.shape[0]

    @property
    def width(self) -> int:
        return self.image.shape[1]


def prepare(well: LabelledWell, scaler: PatchScaler, min_rows: int = 0,
            policy: CorruptionPolicy = CorruptionPolicy()) -> PreparedWell:
    """Fill corrupted pixels with nominal thickness, scale, keep the masks.

    A well shorter than ``min_rows`` is padded with nominal thickness that nothing
    learns from (``learn`` False), so a training window fits in it.
    """
    filled, _ = policy.clean(well.image)
    arrays = [np.nan_to_num(scaler.transform_well(filled), nan=0.0).astype(np.float32),
              well.mask.astype(np.float32), well.learn.copy(), well.score_truth, corrupted_patch_pixels(well.image)]
    pad = max(0, min_rows - well.rows)
    if pad:
        arrays = [np.pad(a, ((0, pad), (0, 0))) for a in arrays]
    return PreparedWell(well.well, *arrays)


Window = tuple
"""(well index, first row, rows, first column, width, flip along depth, flip along azimuth, azimuth roll
[, weight]): the weight (1 when absent) is 0 for windows that only pad a DDP rank's share."""


class WindowDataset(Dataset):
    """Slices windows out of prepared wells; an index is a :data:`Window` tuple."""

    def __init__(self, wells: Sequence[PreparedWell], rows: int):
        self.wells = list(wells)
        self.rows = rows

    def __len__(self) -> int:  # the sampler decides; this is only a nominal size
        return sum(w.rows // self.rows for w in self.wells)

    def __getitem__(self, window: Window) -> dict:
        index, row, rows, col, width, flip_depth, flip_azimuth, roll = window[:8]
        weight = window[8] if len(window) > 8 else 1.0
        well = self.wells[index]
        rs, cs = slice(row, row + rows), slice(col, col + width)
        arrays = [well.image[rs, cs], well.mask[rs, cs], well.learn[rs, cs], well.score_truth[rs, cs],
                  well.corrupted_patch[rs, cs]]
        if flip_depth:
            arrays = [a[::-1] for a in arrays]
        if flip_azimuth:
            arrays = [a[:, ::-1] for a in arrays]
        if roll:
            arrays = [np.roll(a, roll, axis=1) for a in arrays]
        image, mask, learn, truth, corrupted = (torch.from_numpy(np.ascontiguousarray(a))[None] for a in arrays)
        return {"image": image, "mask": mask, "learn": learn, "score_truth": truth, "corrupted": corrupted,
                "well": well.well, "weight": torch.tensor(weight, dtype=torch.float32)}


def _rank_and_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class _EpochClock:
    """Lightning calls ``set_epoch`` on ``batch_sampler.sampler``; this is that object."""

    def __init__(self):
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)


class WindowBatchSampler:
    """Batches of windows of one width each, drawn from ``(seed, epoch)``; sharded by rank.

    Parameters
    ----------
    wells : list of PreparedWell
    rows : int
        Window height.
    mode : {"well", "patch", "tiles"}
        ``well``: ``count`` random windows across the whole circumference, wells drawn
        in proportion to their pixels; ``patch``: every learnable 36x36 patch once per
        expansion item, shuffled; ``tiles``: every well tiled in order (validation),
        36 px wide tiles when ``patch_columns`` else the whole circumference.
    """

    def __init__(self, wells, rows: int, batch_size: int, mode: str, seed: int = 0, count: int | None = None,
                 flips: bool = False, roll: bool = False, expansion: Sequence[str] = ("none",),
                 max_corrupted_fraction: float = 1.0, shuffle: bool = True, patch_columns: bool = False):
        self.wells, self.rows, self.batch_size, self.mode = list(wells), rows, batch_size, mode
        self.seed, self.count, self.flips, self.roll = seed, count, flips, roll
        self.expansion, self.max_corrupted_fraction, self.shuffle = tuple(expansion), max_corrupted_fraction, shuffle
        self.patch_columns = patch_columns
        self.sampler = _EpochClock()
        self._drawn: tuple | None = None
        self._patches = self._learnable_patches() if mode == "patch" else None

    def _learnable_patches(self) -> list[tuple[int, int, int]]:
        out = []
        for i, w in enumerate(self.wells):
            for r in range(0, w.rows - PATCH_SIZE + 1, PATCH_SIZE):
                for c in range(0, w.width, PATCH_SIZE):
                    learn = w.learn[r : r + PATCH_SIZE, c : c + PATCH_SIZE]
                    if learn.any() and 1.0 - learn.mean() <= self.max_corrupted_fraction:
                        out.append((i, r, c))
        return out

    def _windows(self, rng: np.random.Generator) -> list[list[Window]]:
        if self.mode == "tiles":
            return self._tiles()
        if self.mode == "patch":
            windows = [(i, r, PATCH_SIZE, c, PATCH_SIZE, e in ("vflip", "hvflip"), e in ("hflip", "hvflip"), 0)
                       for e in self.expansion for i, r, c in self._patches]
            if self.flips or self.roll:
                windows = [self._augment(rng, w) for w in windows]
            order = rng.permutation(len(windows)) if self.shuffle else np.arange(len(windows))
            windows = [windows[k] for k in order]
            return [windows[k : k + self.batch_size] for k in range(0, len(windows), self.batch_size)]
        batches = []
        for width, (members, count) in self._width_groups().items():
            weights = np.array([self.wells[i].rows * width for i in members], dtype=float)
            picks = rng.choice(members, size=count, p=weights / weights.sum())
            windows = []
            for i in picks:
                row = int(rng.integers(0, self.wells[i].rows - self.rows + 1))
                windows.append(self._augment(rng, (int(i), row, self.rows, 0, width, False, False, 0)))
            batches += [windows[k : k + self.batch_size] for k in range(0, len(windows), self.batch_size)]
        return [batches[k] for k in rng.permutation(len(batches))]

    def _width_groups(self) -> dict[int, tuple[list[int], int]]:
        """Wells of each width and a fixed number of windows for each (shares of pixels).

        Fixed counts keep the number of batches the same every epoch (Lightning sizes
        its loops by ``len``).
        """
        groups: dict[int, list[int]] = {}
        for i, w in enumerate(self.wells):
            groups.setdefault(w.width, []).append(i)
        pixels = {width: sum(self.wells[i].rows * width for i in members) for width, members in groups.items()}
        total = sum(pixels.values())
        return {width: (members, max(1, round(self.count * pixels[width] / total)))
                for width, members in groups.items()}

    def _augment(self, rng: np.random.Generator, window: Window) -> Window:
        i, r, rows, c, width, flip_depth, flip_azimuth, _ = window
        if self.flips:
            flip_depth ^= bool(rng.random() < 0.5)
            flip_azimuth ^= bool(rng.random() < 0.5)
        roll = int(rng.integers(0, width)) if self.roll and self.mode == "well" else 0
        return (i, r, rows, c, width, flip_depth, flip_azimuth, roll)

    def _tiles(self) -> list[list[Window]]:
        windows = []
        for i, w in enumerate(self.wells):
            width = PATCH_SIZE if self.patch_columns else w.width
            windows += [(i, r, rows, c, width, False, False, 0, 1.0)
                        for r, rows in tiles(w.rows, self.rows) for c in range(0, w.width, width)]
        rank, world = _rank_and_world()
        while windows and len(windows) % world:  # every rank gets windows; the padding weighs 0
            windows.append((*windows[0][:8], 0.0))
        by_shape: dict[tuple[int, int], list[Window]] = {}
        for window in windows[rank::world]:
            by_shape.setdefault((window[2], window[4]), []).append(window)
        return [group[k : k + self.batch_size] for group in by_shape.values()
                for k in range(0, len(group), self.batch_size)]

    def _all(self) -> list[list[Window]]:
        """This epoch's batches for this rank, drawn once (Lightning asks ``len`` several times)."""
        rank, world = _rank_and_world()
        key = (self.sampler.epoch, rank, world)
        if self._drawn is None or self._drawn[0] != key:
            batches = self._windows(np.random.default_rng([self.seed, self.sampler.epoch]))
            if world > 1 and self.mode != "tiles":  # equal batch counts, or DDP waits forever
                batches = batches[: len(batches) - len(batches) % world][rank::world]
            self._drawn = (key, batches)
        return self._drawn[1]

    def __iter__(self) -> Iterator[list[Window]]:
        # a generator: the epoch is drawn at the first batch, after Lightning's set_epoch
        # (which comes after the iterator is made when a run resumes)
        yield from self._all()

    def __len__(self) -> int:
        return len(self._all())


def tiles(rows: int, window: int) -> list[tuple[int, int]]:
    """(first row, rows) of the validation tiles of a well: every whole 36-row patch once.

    Tiles are ``window`` rows, the last one shorter; rows past the last whole patch
    (only in wells whose height is not a multiple of 36) are not scored.
    """
    scored = rows - rows % PATCH_SIZE
    return [(start, min(window, scored - start)) for start in range(0, scored, window)]


class WellDataModule(L.LightningDataModule):
    """Training and validation windows from a dataset directory, split by well.

    The fitted scaler is part of the state (``state_dict``), so a checkpoint carries
    it, and :meth:`describe` records which wells were used for what.
    """

    def __init__(self, data: str | Path, cfg: TrainConfig):
        super().__init__()
        self.data = Path(data)
        self.cfg = cfg
        self.scaler = PatchScaler(cfg.scaler)
        self.train_wells: list[PreparedWell] = []
        self.val_wells: list[PreparedWell] = []
        self.unlabelled_wells: list[PreparedWell] = []
        self.facts: dict = {}

    def excluded(self) -> tuple[int, ...]:
        return default_excluded_wells(self.data) if self.cfg.exclude_wells == "auto" else tuple(self.cfg.exclude_wells)

    def setup(self, stage: str | None = None) -> None:
        if self.train_wells:
            return
        cfg = self.cfg
        wells = [w for w in load_labelled_wells(self.data, "train", cfg.labels) if w.well not in self.excluded()]
        if len(wells) < 2:
            raise CorrosegInputError(self.data, f"{len(wells)} labelled wells left to train on; a split by well needs 2")
        ids = np.array([w.well for w in wells])
        try:
            train, val = well_train_val_split(ids, cfg.val_wells, cfg.val_fraction, cfg.seed)
        except ValueError as exc:
            raise CorrosegUserError(f"config val_wells: {exc}") from None
        if not len(train) or not len(val):
            raise CorrosegUserError("config val_wells leaves no training or no validation well")
        train_set = [wells[i] for i in train]
        require_learnable(self.data, train_set)
        if self.scaler.scaler_ is None:
            self.scaler.fit(np.concatenate([_patches_of(w.image) for w in train_set]))
        self.train_wells = [prepare(w, self.scaler, min_rows=cfg.window_rows) for w in train_set]
        self.val_wells = [prepare(wells[i], self.scaler) for i in val]
        self.facts = {
            "data": str(self.data.resolve()),
            "labels": sorted({w.source for w in wells}),
            "train_wells": [int(ids[i]) for i in train],
            "val_wells": [int(ids[i]) for i in val],
            "excluded_wells": list(self.excluded()),
            "widths": {str(w.well): w.width for w in wells},
            "train_pixels": int(sum(w.rows * w.width for w in self.train_wells)),
            "train_patches": int(sum(w.rows * w.width for w in self.train_wells) // PATCH_SIZE**2),
            "learnable_fraction": float(np.mean(np.concatenate([w.learn.ravel() for w in self.train_wells]))),
        }
        if cfg.unlabelled:
            self.unlabelled_wells = [prepare(w, self.scaler, min_rows=cfg.window_rows)
                                     for w in unlabelled_wells(cfg.unlabelled)]
            self.facts["unlabelled"] = {"data": str(Path(cfg.unlabelled).resolve()),
                                        "wells": [w.well for w in self.unlabelled_wells],
                                        "pixels": int(sum(w.rows * w.width for w in self.unlabelled_wells))}

    def windows_per_epoch(self) -> int:
        if self.cfg.windows_per_epoch:
            return self.cfg.windows_per_epoch
        pixels = np.array([w.rows * w.width for w in self.train_wells], dtype=float)
        mean_width = float((pixels * [w.width for w in self.train_wells]).sum() / pixels.sum())
        return max(self.cfg.batch_size, int(np.ceil(pixels.sum() / (self.cfg.window_rows * mean_width))))

    def train_dataloader(self) -> DataLoader:
        cfg = self.cfg
        sampler = WindowBatchSampler(
            self.train_wells, cfg.window_rows, cfg.batch_size, cfg.window, cfg.seed,
            count=self.windows_per_epoch(), flips=cfg.flips, roll=cfg.roll, expansion=cfg.expansion,
            max_corrupted_fraction=cfg.max_corrupted_fraction,
        )
        labelled = self._loader(WindowDataset(self.train_wells, cfg.window_rows), sampler)
        if not self.unlabelled_wells:
            return labelled
        unlabelled = WindowBatchSampler(self.unlabelled_wells, cfg.window_rows, cfg.batch_size, "well", cfg.seed + 1,
                                        count=self.windows_per_epoch(), flips=cfg.flips, roll=cfg.roll)
        return CombinedLoader({"labelled": labelled,
                               "unlabelled": self._loader(WindowDataset(self.unlabelled_wells, cfg.window_rows),
                                                          unlabelled)}, mode="max_size_cycle")

    def val_dataloader(self) -> DataLoader:
        cfg = self.cfg
        sampler = WindowBatchSampler(self.val_wells, cfg.window_rows, cfg.batch_size, "tiles", cfg.seed,
                                     shuffle=False, patch_columns=cfg.window == "patch")
        return self._loader(WindowDataset(self.val_wells, cfg.window_rows), sampler)

    def _loader(self, dataset: WindowDataset, sampler: WindowBatchSampler) -> DataLoader:
        workers = self.cfg.num_workers
        return DataLoader(dataset, batch_sampler=sampler, num_workers=workers, persistent_workers=workers > 0)

    def state_dict(self) -> dict:
        return {"scaler": json.dumps(self.scaler.to_dict())}

    def load_state_dict(self, state: dict) -> None:
        self.scaler = PatchScaler.from_dict(json.loads(state["scaler"]))


UNLABELLED_TEST_WELL_OFFSET = 100
"""Unlabelled x_test well w is numbered 100 + w (the test split reuses the train split's numbers)."""


def unlabelled_wells(path: str | Path) -> list[LabelledWell]:
    """Real wells without labels: ``x_train`` wells but the false-alarm wells, and ``x_test`` wells.

    Nothing is learnt from their masks (empty, ``learn`` False): only a mean teacher's answers.
    """
    wells = []
    for split, offset in (("train", 0), ("test", UNLABELLED_TEST_WELL_OFFSET)):
        if not (Path(path) / f"x_{split}").is_dir():
            continue
        images = read_images(path, split)
        for well in images.well_ids():
            if split == "train" and well in FALSE_ALARM_WELLS:
                continue
            image = well_from_patches(images, well).image
            blank = np.zeros(image.shape, np.uint8)
            wells.append(LabelledWell(offset + int(well), image, blank, blank.astype(bool), blank, "unlabelled"))
    if not wells:
        raise CorrosegInputError(path, "config unlabelled: no x_train/ or x_test/ images there")
    return wells


def _patches_of(image: np.ndarray) -> np.ndarray:
    """The whole 36x36 patches of a well image (rows past the last whole patch dropped)."""
    rows = image.shape[0] - image.shape[0] % PATCH_SIZE
    width = image.shape[1] - image.shape[1] % PATCH_SIZE
    blocks = image[:rows, :width].reshape(rows // PATCH_SIZE, PATCH_SIZE, width // PATCH_SIZE, PATCH_SIZE)
    return blocks.transpose(0, 2, 1, 3).reshape(-1, PATCH_SIZE, PATCH_SIZE)


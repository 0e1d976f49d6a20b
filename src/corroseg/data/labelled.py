"""Labelled whole wells for training and evaluation, from either kind of label.

Two sources, one shape (:class:`LabelledWell`):

* challenge format (``x_train/`` + ``y_train*.csv``): patches are regrouped into
  wells (width inferred as ``inspect`` does) and assembled. The challenge's labels
  are empty on every patch holding a corrupted pixel, whatever is under it, so those
  patches say nothing about corrosion: they are left out of what may be learnt.
* whole wells with physical masks (``wells/{split}_well_{w}.npz``, as written by
  ``corroseg synth``): every valid pixel may be learnt from.

Either way ``score_truth`` is the truth in the challenge's convention (empty on
corrupted patches), the one the challenge metric compares with.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corroseg.data.challenge import FALSE_ALARM_WELLS, PATCH_SIZE, find_label_file, load_split, read_labels
from corroseg.data.corruption import corrupted_pixels
from corroseg.data.names import parse_name
from corroseg.data.wells import WidthOverride, assemble, load_well, resolve_width
from corroseg.errors import CorrosegInputError

_WELL_FILE = re.compile(r"^(?:(train|test)_)?well_(\d+)\.npz$")


@dataclass
class LabelledWell:
    """One whole well with what training and scoring need.

    Attributes
    ----------
    well : int
        Well id (as in the patch names).
    image : ndarray (rows, width), float32
        Raw values, corrupted pixels included.
    mask : ndarray (rows, width), uint8
        The truth used for learning.
    learn : ndarray (rows, width), bool
        Pixels whose label may be learnt from.
    score_truth : ndarray (rows, width), uint8
        Truth in the challenge convention: empty on every corrupted patch.
    source : str
        ``patches`` or ``wells``.
    """

    well: int
    image: np.ndarray
    mask: np.ndarray
    learn: np.ndarray
    score_truth: np.ndarray
    source: str

    @property
    def rows(self) -> int:
        return self.image.shape[0]

    @property
    def width(self) -> int:
        return self.image.shape[1]


def corrupted_patch_pixels(image: np.ndarray) -> np.ndarray:
    """Boolean ``(rows, width)``: True on every pixel of a 36x36 patch holding a corrupted pixel.

    Rows beyond the last whole patch count as their own (partial) patch.
    """
    bad = corrupted_pixels(image)
    rows, width = bad.shape
    out = np.zeros_like(bad)
    for r in range(0, rows, PATCH_SIZE):
        for c in range(0, width, PATCH_SIZE):
            block = bad[r : r + PATCH_SIZE, c : c + PATCH_SIZE]
            out[r : r + PATCH_SIZE, c : c + PATCH_SIZE] = block.any()
    return out


def well_files(folder: Path, split: str) -> dict[int, Path]:
    """``{well id: path}`` of the whole-well files of a split in ``folder``.

    Accepts ``{split}_well_{w}.npz`` (``corroseg synth``) and ``well_{w}.npz``
    (``corroseg wells``).
    """
    found: dict[int, Path] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.npz")):
        if not path.is_file():  # a FIFO or device would block
            continue
        match = _WELL_FILE.match(path.name)
        if match and match.group(1) in (None, split):
            found[int(match.group(2))] = path
    return found


def is_synthetic(data: str | Path) -> bool:
    """True for a dataset written by ``corroseg synth`` (it carries ``synth.json``)."""
    return (Path(data) / "synth.json").is_file()


def default_excluded_wells(data: str | Path) -> tuple[int, ...]:
    """The real false-alarm wells, unless ``data`` is a corroseg synthetic dataset."""
    return () if is_synthetic(data) else FALSE_ALARM_WELLS


def from_patches(well: int, patches: np.ndarray, masks: np.ndarray, width: int) -> LabelledWell:
    """A well from its challenge patches and challenge-format masks."""
    image = assemble(patches, width)
    mask = assemble(masks, width).astype(np.uint8)
    learn = ~corrupted_patch_pixels(image)
    return LabelledWell(well, image, mask, learn, mask * learn, "patches")


def from_physical(well: int, image: np.ndarray, mask: np.ndarray) -> LabelledWell:
    """A well with a physical mask (corrosion marked under dropouts too)."""
    image = np.asarray(image, dtype=np.float32)
    valid = ~corrupted_pixels(image)
    score_truth = (mask * ~corrupted_patch_pixels(image)).astype(np.uint8)
    return LabelledWell(well, image, mask.astype(np.uint8), valid, score_truth, "wells")


def require_learnable(data: str | Path, wells: list[LabelledWell]) -> None:
    """Refuse training wells in which no pixel may be learnt from (every one corrupted)."""
    if wells and not any(w.learn.any() for w in wells):
        numbers = ", ".join(str(w.well) for w in wells)
        raise CorrosegInputError(data, f"wells {numbers}: every pixel is corrupted (NaN, inf or placeholder); "
                                       "nothing to learn from")


def load_labelled_wells(
    data: str | Path,
    split: str = "train",
    labels: str = "auto",
    widths: WidthOverride | None = None,
) -> list[LabelledWell]:
    """Every labelled well of a split of a dataset directory.

    Parameters
    ----------
    data : path
        Dataset directory.
    labels : {"auto", "wells", "patches"}
        ``wells``: physical masks of ``wells/`` (every well of the split must have
        one); ``patches``: the label CSV; ``auto``: wells when they are all there.
    """
    data = Path(data)
    files = well_files(data / "wells", split)
    if files and labels == "auto" and (data / f"x_{split}").is_dir():
        names = (parse_name(p.stem) for p in (data / f"x_{split}").glob("well_*_patch_*.npy"))
        patch_wells = {n.well for n in names if n is not None}  # bad names are refused by read_images
        if not patch_wells <= set(files):  # auto uses whole wells only when every well has one
            files = {}
    if labels in ("auto", "wells") and files:
        label_file = find_label_file(data, split)
        if label_file is not None:  # the same rule as inspect: a broken label file is refused, even unused
            read_labels(label_file)
        wells = []
        for number, path in files.items():
            well = load_well(path)
            if well.mask is None:
                if labels == "wells":
                    raise CorrosegInputError(path, "no mask in this well file to learn from")
                break
            wells.append(from_physical(number, well.image, well.mask))
        else:
            return wells
    if labels == "wells":
        raise CorrosegInputError(data, f"no wells/{split}_well_*.npz files with masks")
    loaded = load_split(data, split)
    if loaded.masks is None:
        raise CorrosegInputError(data, f"no y_{split}*.csv label file")
    images = loaded.images
    unlabelled = {int(parse_name(n).well) for n in loaded.pairing.images_without_masks}
    if unlabelled:
        warnings.warn(f"{loaded.labels_source}: wells {sorted(unlabelled)} are not fully labelled; left out", stacklevel=2)
    wells = []
    for number in images.well_ids():
        if number in unlabelled:
            continue
        rows = images.wells == number
        patches = images.images[rows]
        width, _ = resolve_width(number, patches, widths)
        wells.append(from_patches(number, patches, loaded.masks[rows], width))
    return wells

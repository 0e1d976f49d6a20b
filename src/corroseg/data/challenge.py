"""Read and write the challenge format: folders of ``.npy`` patches and label CSVs.

A dataset directory holds ``x_train/`` (or ``x_train.zip``, or the official
download's nested ``x_train/images/``), a label CSV ``y_train*.csv``, and optionally
the same for ``test``. Every problem a user can cause raises
:class:`~corroseg.errors.CorrosegInputError` naming the file and the problem.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from corroseg.atomic import atomic_path
from corroseg.data.names import format_name, name_problem, parse_name, sort_key
from corroseg.data.patch_files import PATCH_SIZE, iter_patch_files, load_patch
from corroseg.errors import CorrosegInputError

PATCH_PIXELS = PATCH_SIZE * PATCH_SIZE
SPLITS = ("train", "test")

FALSE_ALARM_WELLS = (9, 10)
"""Real ``x_train`` wells 9 and 10 have no corrosion: they are the project's false-alarm
test, never trained on and never used to choose settings (models, thresholds, options)."""


class LegacyLabelsWarning(UserWarning):
    """The label file is the early 10290-row release; the organisers' fix was applied."""


@dataclass
class PatchImages:
    """Patches of one image folder, in numeric (well, patch) order.

    Attributes
    ----------
    names : list of str
        Patch names without extension.
    wells, patches : ndarray of int
        Well id and patch number of each patch.
    images : ndarray, shape (N, 36, 36), float32
        Raw values, corrupted pixels included.
    source : Path
        The folder or zip they were read from.
    """

    names: list[str]
    wells: np.ndarray
    patches: np.ndarray
    images: np.ndarray
    source: Path

    def __len__(self) -> int:
        return len(self.names)

    def well_ids(self) -> list[int]:
        """Distinct well ids, ascending."""
        return sorted(set(self.wells.tolist()))

    def of_well(self, well: int) -> np.ndarray:
        """The ``(n, 36, 36)`` patches of one well, in patch order."""
        return self.images[self.wells == well]

    def subset(self, keep: np.ndarray) -> PatchImages:
        """The patches where the boolean ``keep`` is True."""
        keep = np.asarray(keep, dtype=bool)
        return PatchImages(
            [n for n, k in zip(self.names, keep) if k],
            self.wells[keep],
            self.patches[keep],
            self.images[keep],
            self.source,
        )


@dataclass
class Labels:
    """Masks of a label CSV, in numeric (well, patch) order.

    Attributes
    ----------
    names : list of str
    masks : ndarray, shape (N, 36, 36), uint8 of 0/1
    source : Path
    legacy_fixed : bool
        True if the file was the 10290-row release and the organisers' fix was applied.
    """

    names: list[str]
    masks: np.ndarray
    source: Path
    legacy_fixed: bool = False

    def __len__(self) -> int:
        return len(self.names)

    def as_dict(self) -> dict[str, np.ndarray]:
        """Mask of each patch name."""
        return dict(zip(self.names, self.masks))


@dataclass
class Pairing:
    """Which images have masks and which masks have images."""

    images_without_masks: list[str] = field(default_factory=list)
    masks_without_images: list[str] = field(default_factory=list)


@dataclass
class Split:
    """One split (train or test) of a dataset: images, and masks aligned to them where present.

    ``masks`` is None without a label file. With one, images that have no mask
    are dropped (training uses pairs only) and both lists of orphans are kept in
    ``pairing``.
    """

    images: PatchImages
    masks: np.ndarray | None
    labels_source: Path | None
    pairing: Pairing
    legacy_fixed: bool = False


# ---------------------------------------------------------------- images


def find_image_source(path: str | Path, split: str = "train") -> Path:
    """Locate the image folder or zip of ``split`` in a dataset directory.

    ``path`` may also be the image folder or zip itself.
    """
    path = Path(path)
    if not path.exists():
        raise CorrosegInputError(path, "no such file or folder")
    if path.is_file():
        if path.suffix.lower() != ".zip":
            raise CorrosegInputError(path, "expected a dataset folder, an image folder or a .zip")
        return path
    for candidate in (path / f"x_{split}", path / f"x_{split}.zip"):
        if candidate.exists():
            return candidate
    if any(p.suffix == ".npy" and not p.name.startswith(".") for p in path.iterdir()) or (path / "images").is_dir():
        return path
    raise CorrosegInputError(path, f"no x_{split}/ folder, x_{split}.zip or .npy patches found")


def read_images(path: str | Path, split: str = "train") -> PatchImages:
    """Read every patch of a split, validating names, shapes, dtypes and numbering.

    Parameters
    ----------
    path : str or Path
        Dataset directory, image folder (flat or with ``images/`` inside) or zip.
    split : {"train", "test"}
        Which split to look for in a dataset directory.
    """
    source = find_image_source(path, split)
    found: dict[str, tuple[str, bytes | Path]] = {}
    for display, file_name, content in iter_patch_files(source):
        name = file_name[:-4]
        if parse_name(name) is None:
            raise CorrosegInputError(display, f"file name {name_problem(file_name)}")
        if name in found:
            raise CorrosegInputError(display, f"duplicate patch name {name}")
        found[name] = (display, content)
    if not found:
        raise CorrosegInputError(source, "no well_{w}_patch_{p}.npy files")
    names = sorted(found, key=sort_key)
    parsed = [parse_name(n) for n in names]
    wells = np.array([p.well for p in parsed], dtype=np.int64)
    patches = np.array([p.patch for p in parsed], dtype=np.int64)
    _check_contiguous(source, wells, patches)
    # loaded in order straight into one array: 100,000 patches are never held twice
    images = np.empty((len(names), PATCH_SIZE, PATCH_SIZE), np.float32)
    for i, name in enumerate(names):
        images[i] = load_patch(*found.pop(name))
    return PatchImages(names, wells, patches, images, source)


def _check_contiguous(source: Path, wells: np.ndarray, patches: np.ndarray) -> None:
    """Each well's patch numbers must be 0..N-1; gaps are named without listing the whole range."""
    for well in np.unique(wells):
        numbers = np.unique(patches[wells == well])
        if numbers[-1] + 1 == len(numbers):
            continue
        starts = np.concatenate([[0], numbers[:-1] + 1])  # each gap runs from starts[i] to numbers[i] - 1
        missing: list[int] = []
        for start, stop in zip(starts[numbers > starts], numbers[numbers > starts]):
            missing.extend(range(int(start), int(min(stop, start + 5))))
            if len(missing) >= 5:
                break
        count = int(numbers[-1]) + 1 - len(numbers)
        shown = ", ".join(map(str, missing[:5])) + (f" ... {count:,} in all" if count > 5 else "")
        raise CorrosegInputError(source, f"well {well}: patch numbers have gaps (missing {shown})")


# ---------------------------------------------------------------- labels


def find_label_file(path: str | Path, split: str = "train") -> Path | None:
    """The ``y_{split}*.csv`` of a dataset directory, or None if there is none."""
    path = Path(path)
    if path.is_file():
        return path if path.suffix.lower() == ".csv" else None
    if not path.is_dir():
        return None
    found = sorted(path.glob(f"y_{split}*.csv"))
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise CorrosegInputError(path, f"several label files for {split}: {names}")
    return found[0] if found else None


def read_labels(path: str | Path) -> Labels:
    """Read and validate a label (or submission) CSV.

    Rows are looked up by name, never by order; a row name ending in ``.npy`` is read
    as the patch name without it. Columns must be ``0..1295`` in order. The legacy
    10290-row release is detected and fixed with a :class:`LegacyLabelsWarning`.
    """
    path = Path(path)
    frame = _read_label_frame(path)
    _check_label_columns(path, frame)
    names = _label_names(path, frame)
    values = _label_values(path, frame, names)
    masks = values.astype(np.uint8).reshape(-1, PATCH_SIZE, PATCH_SIZE)
    by_name = dict(zip(names, masks))
    legacy = is_legacy_release(names)
    if legacy:
        by_name = fix_legacy_release(by_name)
        warnings.warn(
            f"{path}: early {len(names)}-row label release detected; applied the organisers' "
            "fix (dropped well_0 and well_1_patch_0..449, renumbered well_1_patch_450.. to 0..)",
            LegacyLabelsWarning,
            stacklevel=2,
        )
    ordered = sorted(by_name, key=sort_key)
    stacked = (
        np.stack([by_name[n] for n in ordered])
        if ordered
        else np.zeros((0, PATCH_SIZE, PATCH_SIZE), np.uint8)
    )
    return Labels(ordered, stacked, path, legacy_fixed=legacy)


def _read_label_frame(path: Path) -> pd.DataFrame:
    """The CSV as strings, index = first column; any parse failure names the file."""
    try:
        return pd.read_csv(path, index_col=0, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise CorrosegInputError(path, "no such file") from None
    except ValueError as exc:  # pandas' parser, empty-data and decoding errors all are ValueErrors
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CorrosegInputError(path, f"not a readable CSV ({reason})") from None


def _check_label_columns(path: Path, frame: pd.DataFrame) -> None:
    """The header must be the patch-name column then ``0..1295``, in order."""
    columns = [str(c).strip() for c in frame.columns]
    if len(columns) == PATCH_PIXELS + 1 and len(frame) and parse_name(str(frame.iat[0, 0])) is not None:
        raise CorrosegInputError(path, "the patch names are in the second column: drop the extra index column "
                                       "before them (pandas writes one unless index=False)")
    if len(columns) != PATCH_PIXELS:
        hint = " (not comma-separated?)" if len(columns) < 2 else ""
        raise CorrosegInputError(
            path, f"{len(columns)} mask columns, expected {PATCH_PIXELS} (36x36 row-major){hint}"
        )
    if parse_name(str(frame.index.name or "")) is not None:
        raise CorrosegInputError(path, "no header row: the first line must be ',0,1,...,1295'")
    expected = [str(k) for k in range(PATCH_PIXELS)]
    if columns != expected:
        k = next(k for k, (a, b) in enumerate(zip(columns, expected)) if a != b)
        raise CorrosegInputError(
            path, f"mask column {k} is named {columns[k]!r}: columns must be 0..1295 in order (row-major 36x36)"
        )


def _label_names(path: Path, frame: pd.DataFrame) -> list[str]:
    """Canonical patch names of the rows (a ``.npy`` suffix dropped); bad or duplicate names name the file."""
    raw = [str(n) for n in frame.index]
    bad = next((n for n in raw if parse_name(n) is None), None)
    if bad is not None:
        raise CorrosegInputError(path, f"row name {name_problem(bad)}")
    names = [str(parse_name(n)) for n in raw]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise CorrosegInputError(path, f"duplicate row name {name}")
        seen.add(name)
    return names


def _label_values(path: Path, frame: pd.DataFrame, names: list[str]) -> np.ndarray:
    """The cells as a float array ``(N, 1296)`` of 0/1; the first bad cell is named."""
    cells = frame.to_numpy().ravel()
    try:  # numpy parses every cell at once; with a bad cell, pandas marks it NaN to be named below
        values = cells.astype(np.float64)
    except (ValueError, TypeError):
        values = pd.to_numeric(pd.Series(cells), errors="coerce").to_numpy(dtype=np.float64)
    values = values.reshape(frame.shape)
    if np.isnan(values).any():
        row, col = np.argwhere(np.isnan(values))[0]
        cell = frame.iat[row, col]
        hint = " (an empty cell: a short row or a truncated file?)" if cell == "" else ""
        raise CorrosegInputError(path, f"non-numeric value {cell!r} in row {names[row]}, column {frame.columns[col]}{hint}")
    binary = (values == 0) | (values == 1)
    if not binary.all():
        row, col = np.argwhere(~binary)[0]
        raise CorrosegInputError(
            path,
            f"non-binary value {values[row, col]:g} in row {names[row]}, "
            f"column {frame.columns[col]} (masks are 0/1)",
        )
    return values


LEGACY_WELL1_OFFSET = 450


def is_legacy_release(names: Iterable[str]) -> bool:
    """True for the early release: masks for a ``well_0`` and 450 extra ``well_1`` patches."""
    parsed = [parse_name(n) for n in names]
    has_well0 = any(p.well == 0 for p in parsed)
    well1 = [p.patch for p in parsed if p.well == 1]
    return has_well0 and bool(well1) and max(well1) >= LEGACY_WELL1_OFFSET


def fix_legacy_release(masks: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The organisers' fix: drop ``well_0_*`` and ``well_1_patch_0..449``, renumber the rest."""
    fixed: dict[str, np.ndarray] = {}
    for name, mask in masks.items():
        well, patch = parse_name(name)
        if well == 0:
            continue
        if well == 1:
            if patch < LEGACY_WELL1_OFFSET:
                continue
            name = format_name(1, patch - LEGACY_WELL1_OFFSET)
        fixed[name] = mask
    return fixed


# ---------------------------------------------------------------- datasets


def pair(images: PatchImages, labels: Labels) -> tuple[PatchImages, np.ndarray, Pairing]:
    """Keep the images that have a mask; report orphans on both sides.

    A label file that names none of the images is refused: it belongs to other data.
    """
    by_name = labels.as_dict()
    image_names = set(images.names)
    has_mask = np.array([n in by_name for n in images.names], dtype=bool)
    if not has_mask.any():
        problem = (f"none of its {len(labels)} rows (e.g. {labels.names[0]}) is a patch of {images.source}"
                   if len(labels) else "no label rows, only a header")
        raise CorrosegInputError(labels.source, problem)
    pairing = Pairing(
        images_without_masks=[n for n, k in zip(images.names, has_mask) if not k],
        masks_without_images=[n for n in labels.names if n not in image_names],
    )
    paired = images.subset(has_mask)
    masks = (
        np.stack([by_name[n] for n in paired.names])
        if len(paired)
        else np.zeros((0, PATCH_SIZE, PATCH_SIZE), np.uint8)
    )
    return paired, masks, pairing


def load_split(path: str | Path, split: str = "train") -> Split:
    """Images of a split and, if a label CSV is there, the masks paired with them."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}")
    images = read_images(path, split)
    label_file = find_label_file(path, split) if Path(path).is_dir() else None
    if label_file is None:
        return Split(images, None, None, Pairing())
    labels = read_labels(label_file)
    paired, masks, pairing = pair(images, labels)
    return Split(paired, masks, label_file, pairing, labels.legacy_fixed)


# ---------------------------------------------------------------- submissions


def write_submission(path: str | Path, names: Iterable[str], masks: np.ndarray) -> Path:
    """Write masks in the challenge CSV layout (index = patch name, 1296 int columns).

    Rows are written in numeric (well, patch) order. The file appears only when
    complete.
    """
    names = list(names)
    masks = np.asarray(masks)
    if masks.shape != (len(names), PATCH_SIZE, PATCH_SIZE):
        raise ValueError(f"masks shape {masks.shape} does not match {len(names)} names")
    if not np.isin(masks, (0, 1)).all():
        raise ValueError("masks must be 0/1")
    order = sorted(range(len(names)), key=lambda i: sort_key(names[i]))
    frame = pd.DataFrame(
        masks[order].reshape(len(names), PATCH_PIXELS).astype(np.int64),
        index=[names[i] for i in order],
        columns=[str(k) for k in range(PATCH_PIXELS)],
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp)
    return path

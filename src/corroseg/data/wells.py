"""Whole wells: rebuild a well image from its patches, cut it back, save it as ``.npz``.

Layouts of the challenge (see ``../shared/data/challenge/README.md``):

* 36 px wide: patch ``p`` is rows ``36p .. 36p+35``.
* 72 px wide: patch ``2r`` is columns 0-35 and patch ``2r+1`` columns 36-71 of
  depth block ``r``.

The width is inferred from the data: under the right layout the seams between
patches (depth seam between consecutive blocks, azimuth seam between halves and
the wrap-around from the last column to the first) are as smooth as the inside of
a patch; under the wrong layout they join pixels that were never neighbours.

A well ``.npz`` holds ``image`` and, where known, the physical ``mask`` (corrosion
stays marked next to a dropout), plus ``valid`` (uint8, 1 = real reading) so a reader
sees the no-data pixels explicitly. ``valid`` is derived from ``image``
(:func:`corroseg.data.corruption.valid_pixels`): :func:`load_well` reads files with
or without it and never trusts it over the image.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corroseg.atomic import atomic_path
from corroseg.data.challenge import PATCH_SIZE
from corroseg.data.corruption import corrupted_pixels, valid_pixels
from corroseg.data.safe_npz import read_npz
from corroseg.errors import CorrosegInputError, CorrosegUserError

WIDTHS = (36, 72)


def _median_step(a: np.ndarray, b: np.ndarray) -> float:
    """Median absolute difference between two arrays of neighbour pixels, NaN ignored."""
    diff = a - b
    np.abs(diff, out=diff)  # in place, and the median may reorder its copy: a long well's arrays are large
    diff = diff[np.isfinite(diff)]
    return float(np.median(diff, overwrite_input=True)) if diff.size else float("nan")


def layout_scores(patches: np.ndarray) -> dict[int, float]:
    """Seam roughness of each candidate width, relative to the roughness inside patches.

    A score near 2 means both the depth seam and the azimuth seams look like the
    inside of a patch; the wrong layout scores clearly higher. A width whose
    layout is impossible (72 with an odd number of patches) is left out.

    Parameters
    ----------
    patches : ndarray, shape (N, 36, 36)
        The patches of one well in patch order, raw values.
    """
    p = np.where(corrupted_pixels(patches), np.nan, patches).astype(np.float64)
    inner_depth = _median_step(p[:, 1:, :], p[:, :-1, :])
    inner_azimuth = _median_step(p[:, :, 1:], p[:, :, :-1])

    def ratio(seam: float, inner: float) -> float:
        if inner > 0:
            return seam / inner
        return 1.0 if seam == 0 else float("inf")  # a constant image: a smooth seam looks like the inside

    def score(depth_seam: float, azimuth_seams: list[float]) -> float:
        terms = []
        if np.isfinite(depth_seam):
            terms.append(ratio(depth_seam, inner_depth))
        azimuth = [s for s in azimuth_seams if np.isfinite(s)]
        if azimuth:
            terms.append(ratio(float(np.mean(azimuth)), inner_azimuth))
        return float(np.sum(terms)) if terms else float("nan")

    scores = {}
    depth36 = _median_step(p[1:, 0, :], p[:-1, -1, :]) if len(p) > 1 else float("nan")
    scores[36] = score(depth36, [_median_step(p[:, :, 0], p[:, :, -1])])
    if len(p) % 2 == 0:
        left, right = p[0::2], p[1::2]
        depth72 = (
            _median_step(
                np.concatenate([left[1:, 0], right[1:, 0]]),
                np.concatenate([left[:-1, -1], right[:-1, -1]]),
            )
            if len(left) > 1
            else float("nan")
        )
        scores[72] = score(
            depth72,
            [_median_step(left[:, :, -1], right[:, :, 0]), _median_step(right[:, :, -1], left[:, :, 0])],
        )
        if len(left) == 1:  # one block: compare azimuth seams only, on equal terms
            scores[36] = score(float("nan"), [_median_step(p[:, :, 0], p[:, :, -1])])
    return scores


def infer_width(patches: np.ndarray, scores: dict[int, float] | None = None) -> int:
    """36 or 72: the layout under which the seams between patches are smoothest.

    ``scores`` may pass :func:`layout_scores` already computed for ``patches``.
    """
    scores = layout_scores(patches) if scores is None else scores
    finite = {w: s for w, s in scores.items() if np.isfinite(s)}
    if not finite:
        return 36
    return min(finite, key=finite.get)


WidthOverride = Mapping[int | None, int]
"""Well id -> width; the key None applies to every well."""


def resolve_width(
    well: int,
    patches: np.ndarray,
    widths: WidthOverride | None = None,
    scores: dict[int, float] | None = None,
) -> tuple[int, bool]:
    """Width of a well: the override if one applies, else the inferred one.

    Returns the width and whether it came from the override.
    """
    forced = (widths or {}).get(well, (widths or {}).get(None))
    if forced is None:
        return infer_width(patches, scores), False
    if forced not in WIDTHS:
        raise CorrosegUserError(f"well {well}: width must be one of {WIDTHS}, got {forced}")
    if forced == 72 and len(patches) % 2:
        raise CorrosegUserError(f"well {well} has {len(patches)} patches: it cannot be 72 px wide")
    return int(forced), True


class WellPatches(NamedTuple):
    """One well of a set of challenge patches, rebuilt: where its patches are, its width and image."""

    rows: np.ndarray
    """Indices of the well's patches in the set, in patch order."""
    width: int
    image: np.ndarray
    """``(rows, width)``: the patches assembled (see :func:`assemble`)."""

    def assemble(self, values: np.ndarray) -> np.ndarray:
        """Per-patch ``values`` of the whole set (probabilities, masks) as this well's image."""
        return assemble(values[self.rows], self.width)


def well_from_patches(images, well: int, widths: WidthOverride | None = None) -> WellPatches:
    """Well ``well`` of ``images`` (a :class:`corroseg.data.challenge.PatchImages`) rebuilt whole.

    The width is the override in ``widths`` if one applies, else inferred (:func:`resolve_width`).
    """
    rows = np.flatnonzero(images.wells == well)
    patches = images.images[rows]
    width, _ = resolve_width(well, patches, widths)
    return WellPatches(rows, width, assemble(patches, width))


def check_width_wells(widths: WidthOverride | None, wells, source: str | Path) -> None:
    """Refuse a per-well width override naming a well that ``source`` does not hold (a typo would be ignored)."""
    present = {int(w) for w in wells}
    unknown = sorted(k for k in (widths or {}) if k is not None and k not in present)
    if unknown:
        shown = ", ".join(map(str, sorted(present)[:20])) + (" ..." if len(present) > 20 else "")
        raise CorrosegInputError(source, f"--width names well {', '.join(map(str, unknown))}, which is not here "
                                         f"(wells: {shown or 'none'})")


def assemble(patches: np.ndarray, width: int) -> np.ndarray:
    """Rebuild a well image ``(rows, width)`` from its patches ``(N, 36, 36)``."""
    patches = np.asarray(patches)
    if width not in WIDTHS:
        raise ValueError(f"width must be one of {WIDTHS}, got {width}")
    per_block = width // PATCH_SIZE
    if len(patches) % per_block:
        raise ValueError(f"{len(patches)} patches cannot fill blocks {width} px wide")
    blocks = patches.reshape(-1, per_block, PATCH_SIZE, PATCH_SIZE)
    return blocks.transpose(0, 2, 1, 3).reshape(-1, width)


def cut(image: np.ndarray) -> np.ndarray:
    """Cut a well image ``(rows, 36 or 72)`` back into patches in challenge order."""
    image = np.asarray(image)
    rows, width = image.shape
    if width not in WIDTHS:
        raise ValueError(f"well width must be one of {WIDTHS}, got {width}")
    if rows % PATCH_SIZE:
        raise ValueError(f"well height {rows} is not a multiple of {PATCH_SIZE}")
    per_block = width // PATCH_SIZE
    blocks = image.reshape(rows // PATCH_SIZE, PATCH_SIZE, per_block, PATCH_SIZE)
    return blocks.transpose(0, 2, 1, 3).reshape(-1, PATCH_SIZE, PATCH_SIZE)


@dataclass
class Well:
    """A whole well image and, optionally, its corrosion mask and depth axis.

    Attributes
    ----------
    image : ndarray, shape (rows, width), float32
        Wall-thickness deviation, rows = depth, columns = azimuth (wrapping around).
    mask : ndarray of uint8 or None
        1 = corrosion, same shape as ``image``.
    depth_start, depth_step : float
        Depth of the first row and between rows; defaults count rows.
    depth_unit : str
    name : str
    od_in, nominal_wall_in : float or None
        Nominal outside diameter and wall thickness of the casing, in (known for a log).
    grade : str or None
        API 5CT grade (burst ratings need it).
    row_mean_in : ndarray (rows,) or None
        Mean absolute wall thickness of each full row, in: the image is the deviation
        from it, so ``image + row_mean_in[:, None]`` is the absolute thickness. A loss
        uniform around the circumference shows here and nowhere in the image.
    collars : ndarray of int or None
        Collar rows read from a collar-locator channel of a log.
    logged_azimuths : int or None
        Azimuths per row of the log the well came from, when it was resampled to ``width``.
    """

    image: np.ndarray
    mask: np.ndarray | None = None
    depth_start: float = 0.0
    depth_step: float = 1.0
    depth_unit: str = "row"
    name: str = ""
    od_in: float | None = None
    nominal_wall_in: float | None = None
    grade: str | None = None
    row_mean_in: np.ndarray | None = None
    collars: np.ndarray | None = None
    logged_azimuths: int | None = None

    def __post_init__(self):
        self.image = np.asarray(self.image, dtype=np.float32)
        if self.image.ndim != 2:
            raise ValueError(f"well image must be 2-D, got shape {self.image.shape}")
        if self.mask is not None:
            self.mask = np.asarray(self.mask).astype(np.uint8)
            if self.mask.shape != self.image.shape:
                raise ValueError(f"mask shape {self.mask.shape} != image shape {self.image.shape}")
        if self.row_mean_in is not None:
            self.row_mean_in = np.asarray(self.row_mean_in, dtype=np.float32)
            if self.row_mean_in.shape != self.image.shape[:1]:
                raise ValueError(f"row_mean_in has {self.row_mean_in.shape} values for {self.image.shape[0]} rows")
        if self.collars is not None:
            self.collars = np.asarray(self.collars, dtype=np.int64)

    def thickness_in(self) -> np.ndarray | None:
        """Absolute wall thickness ``(rows, width)``, in, where the row means are known."""
        if self.row_mean_in is None:
            return None
        return self.image + self.row_mean_in[:, None]

    @property
    def width(self) -> int:
        return self.image.shape[1]

    @property
    def valid(self) -> np.ndarray:
        """Boolean ``(rows, width)``: True where the image pixel is a real reading
        (not a placeholder, NaN, inf or outlier)."""
        return valid_pixels(self.image)

    def depths(self) -> np.ndarray:
        """Depth of every row."""
        return self.depth_start + self.depth_step * np.arange(self.image.shape[0])

    def patches(self) -> np.ndarray:
        """The image cut into challenge patches."""
        return cut(self.image)

    def mask_patches(self) -> np.ndarray | None:
        """The mask cut into challenge patches, if there is one."""
        return None if self.mask is None else cut(self.mask)


def save_well(path: str | Path, well: Well) -> Path:
    """Write a well to ``.npz`` (atomically), with its ``valid`` pixels spelled out."""
    path = Path(path)
    arrays = {
        "image": well.image,
        "valid": well.valid.astype(np.uint8),
        "depth_start": np.float64(well.depth_start),
        "depth_step": np.float64(well.depth_step),
        "depth_unit": np.str_(well.depth_unit),
        "name": np.str_(well.name),
    }
    if well.mask is not None:
        arrays["mask"] = well.mask
    for key in OPTIONAL_SCALARS + OPTIONAL_CURVES:
        value = getattr(well, key)
        if value is not None:
            arrays[key] = np.str_(value) if isinstance(value, str) else np.asarray(value)
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)
    return path


def load_well(path: str | Path) -> Well:
    """Read a well ``.npz``; a missing ``image``, a bad shape or bad metadata names the file.

    A float64 (or float16) image is converted to float32; values beyond float32's range
    become inf, a corrupted pixel, as they would be anyway (see ``corruption``). A
    ``valid`` array (written by :func:`save_well`, absent from older files) is not
    read: validity is always derived from the image (:attr:`Well.valid`).
    """
    path = Path(path)
    arrays = read_npz(path, WELL_ARRAYS, _check_headers)
    if "image" not in arrays:
        raise CorrosegInputError(path, "no 'image' array in the .npz")
    image = arrays["image"]
    if image.ndim != 2 or image.dtype.kind != "f":
        raise CorrosegInputError(path, f"image must be a 2-D float array, got {image.dtype} {image.shape}")
    if image.shape[1] not in WIDTHS or not image.shape[0]:
        raise CorrosegInputError(path, f"image is {image.shape[0]} rows x {image.shape[1]} px: "
                                       f"a well needs rows and a width of {' or '.join(map(str, WIDTHS))} px")
    mask = arrays.get("mask")
    if mask is not None and (mask.shape != image.shape or mask.dtype.kind not in "biuf"
                             or not ((mask == 0) | (mask == 1)).all()):
        raise CorrosegInputError(path, "mask must be 0/1 with the image's shape")
    with np.errstate(over="ignore"):
        image = image.astype(np.float32)
    _refuse_absolute(path, image)
    step = _scalar(path, arrays, "depth_step", 1.0)
    if step == 0:
        raise CorrosegInputError(path, "depth_step is 0: rows must have distinct depths")
    start = _scalar(path, arrays, "depth_start", 0.0)
    end = start + step * image.shape[0]
    if max(abs(start), abs(end)) > MAX_DEPTH:
        raise CorrosegInputError(path, f"depths {start:g} to {end:g} are not plausible (beyond +-{MAX_DEPTH:g}; "
                                       "depth_start and depth_step are in the file's depth unit)")
    return Well(
        image=image,
        mask=mask,
        depth_start=start,
        depth_step=step,
        depth_unit=_text(path, arrays, "depth_unit", "row"),
        name=_text(path, arrays, "name", path.stem),
        **_casing_fields(path, arrays, image.shape[0]),
    )


ABSOLUTE_HINT_IN = 0.05
"""A well image whose readings sit this far above zero (median, in) is absolute thickness, not deviation."""


def _refuse_absolute(path: Path, image: np.ndarray) -> None:
    """Refuse an image of absolute thickness: predicted as is, it would read as "no corrosion"."""
    sample = image[::4]
    readings = sample[valid_pixels(sample)]
    if readings.size and (median := float(np.median(readings))) > ABSOLUTE_HINT_IN:
        raise CorrosegInputError(path, f"readings sit around {median:.3f} in, not around zero: this looks like "
                                       "absolute wall thickness, where a well holds each row's deviation from "
                                       "its mean (import logs with `corroseg import`)")


def _casing_fields(path: Path, arrays: dict, rows: int) -> dict:
    """The optional log fields of a well file (nominal sizes, row means, collars), checked."""
    fields = {}
    for key in ("od_in", "nominal_wall_in"):
        if key in arrays:
            fields[key] = _scalar(path, arrays, key, 0.0)
            if fields[key] <= 0:
                raise CorrosegInputError(path, f"{key} must be positive, got {fields[key]:g}")
    if fields.get("nominal_wall_in", 0) >= fields.get("od_in", np.inf) / 2:
        raise CorrosegInputError(path, f"nominal_wall_in {fields['nominal_wall_in']:g} is not less than half "
                                       f"od_in {fields['od_in']:g}")
    if "grade" in arrays:
        fields["grade"] = _text(path, arrays, "grade", "")
    if "logged_azimuths" in arrays:
        fields["logged_azimuths"] = int(_scalar(path, arrays, "logged_azimuths", 0))
    if "row_mean_in" in arrays:
        if arrays["row_mean_in"].shape != (rows,) or arrays["row_mean_in"].dtype.kind != "f":
            raise CorrosegInputError(path, f"row_mean_in must be {rows} floats, one per row")
        fields["row_mean_in"] = arrays["row_mean_in"]
    if "collars" in arrays:
        collars = arrays["collars"]
        if collars.ndim != 1 or collars.dtype.kind not in "iu" or (collars.size and (
                collars.min() < 0 or collars.max() >= rows)):
            raise CorrosegInputError(path, "collars must be row numbers inside the image")
        fields["collars"] = collars
    return fields


MAX_DEPTH = 1e9
"""Depths (any unit, rows included) beyond this are refused: no well is that deep, and
arithmetic on them overflows (axes, plots)."""

SCALAR_ARRAYS = ("depth_start", "depth_step", "depth_unit", "name")
OPTIONAL_SCALARS = ("od_in", "nominal_wall_in", "grade", "logged_azimuths")
OPTIONAL_CURVES = ("row_mean_in", "collars")
WELL_ARRAYS = ("image", "mask") + SCALAR_ARRAYS + OPTIONAL_SCALARS + OPTIONAL_CURVES
"""The arrays of a well ``.npz`` that are read; any other array is never loaded."""

MAX_TEXT_CHARS = 1000
"""Names and units longer than this are refused before they are read."""


def _check_headers(path: Path, headers: dict) -> None:
    """Refuse wrong shapes before any array is read (a 2 GB 'depth_start' is never loaded)."""
    if "image" not in headers:
        raise CorrosegInputError(path, "no 'image' array in the .npz")
    shape, dtype, _ = headers["image"]
    if len(shape) != 2 or dtype.kind != "f":
        raise CorrosegInputError(path, f"image must be a 2-D float array, got {dtype} {shape}")
    if "mask" in headers and headers["mask"][0] != shape:
        raise CorrosegInputError(path, "mask must be 0/1 with the image's shape")
    for key in OPTIONAL_CURVES:
        if key in headers and (len(headers[key][0]) != 1 or headers[key][0][0] > shape[0]):
            raise CorrosegInputError(path, f"{key} must be one value per row at most, got shape {headers[key][0]}")
    for key in SCALAR_ARRAYS + OPTIONAL_SCALARS:
        if key in headers and headers[key][0] != ():
            raise CorrosegInputError(path, f"{key} must be one value, got shape {headers[key][0]}")
        if key in headers and headers[key][1].kind in "US" and headers[key][1].itemsize > 4 * MAX_TEXT_CHARS:
            raise CorrosegInputError(path, f"{key} is longer than {MAX_TEXT_CHARS} characters")


def _scalar(path: Path, arrays: dict, key: str, default: float) -> float:
    """A finite number stored as a 0-d array (depth metadata)."""
    if key not in arrays:
        return default
    value = arrays[key]
    if value.shape != () or value.dtype.kind not in "iuf" or not np.isfinite(value):
        raise CorrosegInputError(path, f"{key} must be one finite number, got {value.dtype} {value.shape}")
    return float(value)


def _text(path: Path, arrays: dict, key: str, default: str) -> str:
    """A string stored as a 0-d array (name, depth unit)."""
    if key not in arrays:
        return default
    value = arrays[key]
    if value.shape != () or value.dtype.kind not in "US":
        raise CorrosegInputError(path, f"{key} must be one string, got {value.dtype} {value.shape}")
    return str(value.item().decode(errors="replace") if value.dtype.kind == "S" else value.item())

"""Prediction outputs: a submission CSV for challenge patches, ``.npz`` + PNG strips for whole wells.

``predict_path`` decides by the output's name:

* ``OUT.csv``: INPUT is a challenge image folder, dataset directory or ``.zip``; every
  patch gets a row, in the challenge layout.
* ``OUT.npz``: INPUT is one well (a ``.npz``, or a folder of one well's patches);
  ``OUT.npz`` holds ``probability`` (float16, NaN = no data), ``mask`` (uint8 0/1,
  never 1 on no-data) and ``valid`` (uint8), and ``OUT.png`` shows it.
* anything else is a folder: one ``.npz`` + ``.png`` per well of INPUT (a folder of
  well ``.npz`` files or of challenge patches).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from rich.progress import Progress

from corroseg.atomic import atomic_path
from corroseg.data.challenge import read_images, write_submission
from corroseg.data.wells import Well, WidthOverride, assemble, load_well, resolve_width
from corroseg.errors import CorrosegInputError
from corroseg.infer.bundle import WellPredictor
from corroseg.report.strips import save_figure, well_strip_figure


def _refuse_overwrite(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise CorrosegInputError(path, "already exists; pass --force to overwrite it")


def write_prediction(path: str | Path, probability: np.ndarray, mask: np.ndarray, well: Well) -> Path:
    """Write a whole-well prediction ``.npz`` atomically."""
    path = Path(path)
    valid = np.isfinite(probability)
    with atomic_path(path) as tmp:
        np.savez_compressed(
            tmp, probability=probability.astype(np.float16), mask=(mask * valid).astype(np.uint8),
            valid=valid.astype(np.uint8), depth_start=np.float64(well.depth_start),
            depth_step=np.float64(well.depth_step), depth_unit=np.str_(well.depth_unit), name=np.str_(well.name),
        )
    return path


def predict_one_well(predictor: WellPredictor, well: Well, out: str | Path, force: bool = False) -> dict:
    """Predict a whole well; write ``out`` (.npz) and the PNG strip beside it. Returns a summary."""
    out = Path(out)
    png = out.with_suffix(".png")
    for path in (out, png):
        _refuse_overwrite(path, force)
    probability = predictor.predict_well(well.image)
    mask = predictor.segment_well(well.image, probability)
    write_prediction(out, probability, mask, well)
    valid = np.isfinite(probability)
    figure = well_strip_figure(well.image, probability, mask, truth=well.mask, valid=valid,
                               depth_start=well.depth_start, depth_step=well.depth_step,
                               depth_unit=well.depth_unit, title=well.name or out.stem)
    save_figure(figure, png)
    return {"well": well.name, "rows": int(well.image.shape[0]), "width": well.width, "npz": str(out),
            "png": str(png), "corroded_fraction": float(mask[valid].mean()) if valid.any() else 0.0}


def _wells_in(path: Path, widths: WidthOverride | None, split: str = "test") -> Iterator[tuple[str, Well]]:
    """(name, well) of every well in a ``.npz``, a folder of ``.npz`` or a folder of patches."""
    if path.suffix == ".npz":
        yield path.stem, load_well(path)
        return
    files = sorted(path.glob("*.npz")) if path.is_dir() else []
    if files:
        for file in files:
            yield file.stem, load_well(file)
        return
    images = read_images(path, split)
    for number in images.well_ids():
        patches = images.images[images.wells == number]
        width, _ = resolve_width(number, patches, widths)
        yield f"well_{number}", Well(assemble(patches, width), name=f"{path.name} well {number}")


def predict_path(
    predictor: WellPredictor,
    source: str | Path,
    out: str | Path,
    split: str = "test",
    blank_corrupted: bool = True,
    widths: WidthOverride | None = None,
    force: bool = False,
    progress: bool = False,
) -> dict:
    """Predict INPUT into OUT (see the module docstring for what each OUT means)."""
    source, out = Path(source), Path(out)
    if not source.exists():
        raise CorrosegInputError(source, "no such file or folder")
    if out.suffix == ".csv":
        if source.suffix == ".npz":
            raise CorrosegInputError(out, "a submission CSV needs challenge patches as input, not a well .npz")
        _refuse_overwrite(out, force)
        images = read_images(source, split)
        masks = predictor.patch_masks(images, blank_corrupted=blank_corrupted, widths=widths)
        write_submission(out, images.names, masks)
        blanked = int((masks.reshape(len(masks), -1).sum(1) == 0).sum())
        return {"kind": "submission", "csv": str(out), "patches": len(images), "empty_masks": blanked,
                "patches_with_corrosion": len(images) - blanked, "source": str(images.source)}
    wells = _wells_in(source, widths, split)
    if out.suffix == ".npz":
        first = next(wells)
        if next(wells, None) is not None:
            raise CorrosegInputError(source, "holds several wells; give a folder as OUT to predict them all")
        return {"kind": "well", **predict_one_well(predictor, first[1], out, force)}
    if out.suffix:
        raise CorrosegInputError(out, "OUT must end in .csv (submission), .npz (one well) or be a folder")
    results = []
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("predicting wells", total=None)
        for name, well in wells:
            results.append(predict_one_well(predictor, well, out / f"{name}.npz", force))
            bar.advance(task)
    return {"kind": "wells", "folder": str(out), "wells": results}

"""Turn challenge patches into whole-well ``.npz`` files."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from rich.progress import track

from corroseg.atomic import refuse_existing
from corroseg.guard import output_lock, refuse_overwriting_inputs
from corroseg.data.challenge import find_label_file, read_images, read_labels
from corroseg.data.wells import Well, WidthOverride, assemble, check_width_wells, save_well, well_from_patches


def export_wells(
    data: str | Path,
    out: str | Path,
    split: str = "train",
    widths: WidthOverride | None = None,
    progress: bool = False,
    force: bool = False,
) -> list[Path]:
    """Write ``well_{w}.npz`` for every well of a split, with its mask where labelled.

    Every image is kept; a well is written with a mask only if all of its patches
    have one (a warning names the wells that are not fully labelled). Existing
    files are replaced only with ``force`` (checked before anything is written).
    """
    images = read_images(data, split)
    check_width_wells(widths, images.well_ids(), data)
    out = Path(out)
    outputs = [out / f"well_{well}.npz" for well in images.well_ids()]
    refuse_overwriting_inputs(outputs, files=[data] if Path(data).is_file() else [],
                              datasets=[data] if Path(data).is_dir() else [])
    refuse_existing(outputs, force)
    label_file = find_label_file(data, split) if Path(data).is_dir() else None
    by_name = read_labels(label_file).as_dict() if label_file else {}
    with output_lock(out):
        return _write_wells(images, out, split, widths, by_name, label_file, progress)


def _write_wells(images, out: Path, split: str, widths, by_name: dict, label_file, progress: bool) -> list[Path]:
    written, partly_labelled = [], []
    for well in track(images.well_ids(), description="rebuilding wells", disable=not progress):
        rebuilt = well_from_patches(images, well, widths)
        rows, width = rebuilt.rows, rebuilt.width
        names = [images.names[i] for i in rows]
        mask = None
        if by_name and all(n in by_name for n in names):
            mask = assemble(np.stack([by_name[n] for n in names]), width)
        elif by_name:
            partly_labelled.append(well)
        path = out / f"well_{well}.npz"
        save_well(path, Well(rebuilt.image, mask, name=f"{split} well {well}"))
        written.append(path)
    if partly_labelled:
        warnings.warn(f"{label_file}: wells {partly_labelled} are not fully labelled; written without masks", stacklevel=2)
    return written

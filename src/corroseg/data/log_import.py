"""``corroseg import``: a DLIS or LAS casing log to a well ``.npz`` (see :mod:`corroseg.data.logs`)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from corroseg.data.log_readers import read_log
from corroseg.data.logs import ImportOptions, log_to_well
from corroseg.data.wells import Well, save_well
from corroseg.errors import CorrosegInputError
from corroseg.guard import output_lock, refuse_overwriting_inputs


def import_log(path: str | Path, options: ImportOptions = ImportOptions(), notes: list[str] | None = None) -> Well:
    """The well of a log; what was done to it is appended to ``notes``."""
    well, found = log_to_well(read_log(path, options.channel), options)
    if notes is not None:
        notes.extend(found)
    return well


def well_summary(well: Well) -> dict:
    """What an imported well holds, for the command's output (units in the keys)."""
    depths = well.depths()
    summary = {"well": well.name, "rows": int(well.image.shape[0]), "width": well.width,
               "logged_azimuths": well.logged_azimuths or well.width,
               "depth_top": float(depths[0]), "depth_bottom": float(depths[-1]), "depth_step": well.depth_step,
               "depth_unit": well.depth_unit, "od_in": well.od_in, "nominal_wall_in": well.nominal_wall_in,
               "grade": well.grade, "valid_share": float(well.valid.mean()),
               "collars_from_locator": None if well.collars is None else int(len(well.collars)),
               "mask": well.mask is not None}
    if well.row_mean_in is not None and well.nominal_wall_in is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            below = well.nominal_wall_in - well.row_mean_in
            summary["row_mean_loss_in"] = {"median": float(np.nanmedian(below)), "max": float(np.nanmax(below))}
    return summary


def import_to_file(source: str | Path, out: str | Path, options: ImportOptions = ImportOptions(),
                   force: bool = False) -> dict:
    """Import ``source`` and write the well to ``out`` (``.npz``); nothing is written on an error."""
    source, out = Path(source), Path(out)
    if out.suffix != ".npz":
        raise CorrosegInputError(out, "OUT must be a well .npz")
    refuse_overwriting_inputs([out], files=[source])
    if out.exists() and not force:
        raise CorrosegInputError(out, "already exists; pass --force to overwrite it")
    notes: list[str] = []
    well = import_log(source, options, notes)
    with output_lock(out):
        save_well(out, well)
    return {**well_summary(well), "out": str(out), "source": str(source), "notes": notes}

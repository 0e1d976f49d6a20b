"""Writing logs: LAS 2.0 with lasio, DLIS (RP66 v1) with dliswriter; each file appears only when complete.

Images go to LAS as one curve per azimuth, ``NAME[0]..NAME[N-1]`` (LAS 2.0 has no arrays),
and to DLIS as one array channel with ``dimension=[N]``. Values are written with nine
significant digits in LAS, so float32 data read back exactly.
"""

from __future__ import annotations

import contextlib
import io
import logging
from unittest import mock
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corroseg.atomic import atomic_path

ABSENT = -999.25
"""The absent value written for no reading (the imager's usual placeholder)."""


@dataclass
class Curve:
    """One channel: a curve (1-D) or an image (2-D, one column per azimuth)."""

    name: str
    values: np.ndarray
    unit: str = ""
    description: str = ""


@dataclass
class Parameter:
    name: str
    value: float | int | str
    unit: str = ""
    description: str = ""


def _absent(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind != "f":
        return values
    return np.where(np.isfinite(values), values, ABSENT).astype(values.dtype)


def write_las(path: str | Path, depth: np.ndarray, depth_unit: str, curves: list[Curve],
              parameters: list[Parameter] = (), well_name: str = "", index_name: str = "DEPT") -> Path:
    """A LAS 2.0 file: the depth index first, then every curve; images as ``NAME[i]`` curves.

    lasio writes the header; the ``~ASCII`` rows are written by numpy (lasio formats each
    value in Python: 13 s for a 70,000-row, 77-curve file, where ``np.savetxt`` takes 2 s).
    """
    import lasio
    depth = np.asarray(depth, np.float64)
    columns = [depth]
    las = lasio.LASFile()
    las.well["NULL"].value = ABSENT
    las.well["WELL"].value = well_name
    las.append_curve(index_name, depth[:1], unit=depth_unit, descr="depth")
    for curve in curves:
        values = _absent(curve.values)
        if values.ndim == 1:
            las.append_curve(curve.name, values[:1], unit=curve.unit, descr=curve.description)
            columns.append(values)
            continue
        for i in range(values.shape[1]):
            las.append_curve(f"{curve.name}[{i}]", values[:1, i], unit=curve.unit,
                             descr=f"{curve.description}, azimuth {i} of {values.shape[1]}")
            columns.append(values[:, i])
    for item in parameters:
        las.params.append(lasio.HeaderItem(item.name, unit=item.unit, value=item.value, descr=item.description))
    header = io.StringIO()
    step = float(depth[1] - depth[0]) if depth.size > 1 else 0.0
    las.write(header, version=2.0, fmt="%.9g", STRT=float(depth[0]), STOP=float(depth[-1]), STEP=step)
    text = header.getvalue()
    ascii_line = text.index("\n", text.index("\n~A") + 1) + 1  # the header and the ~ASCII line, not lasio's row
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w") as stream:
        stream.write(text[:ascii_line])
        np.savetxt(stream, np.column_stack([np.asarray(c, np.float64) for c in columns]), fmt="%.9g")
    return path


def write_dlis(path: str | Path, depth: np.ndarray, depth_unit: str, curves: list[Curve],
               parameters: list[Parameter] = (), well_name: str = "", index_name: str = "TDEP",
               frame_name: str = "60B") -> Path:
    """A DLIS file: one logical file, one frame indexed by ``index_name`` (its direction from the depths)."""
    with _quiet_dliswriter():
        from dliswriter import DLISFile
        depth = np.asarray(depth, np.float64)
        dlis = DLISFile()
        logical = dlis.add_logical_file()
        logical.add_origin("ORIGIN", well_name=well_name or "unnamed", producer_name="corroseg")
        channels = [logical.add_channel(index_name, data=depth, units=depth_unit)]
        for curve in curves:
            values = _absent(curve.values)
            extra = {"dimension": int(values.shape[1])} if values.ndim == 2 else {}
            channels.append(logical.add_channel(curve.name, data=values, units=curve.unit or None,
                                                long_name=curve.description or None, **extra))
        decreasing = depth.size > 1 and depth[1] < depth[0]
        logical.add_frame(frame_name, channels=tuple(channels), index_type="BOREHOLE-DEPTH",
                          direction="DECREASING" if decreasing else "INCREASING",
                          spacing=float(depth[1] - depth[0]) if depth.size > 1 else None)
        for item in parameters:
            value = {"value": [item.value], "units": item.unit} if item.unit else [item.value]
            logical.add_parameter(item.name, values=value, long_name=item.description or None)
        path = Path(path)
        with atomic_path(path) as tmp:
            dlis.write(tmp, output_chunk_size=OUTPUT_CHUNK_BYTES)
    return path


OUTPUT_CHUNK_BYTES = 1 << 24
"""dliswriter's output buffer (its default, 4 GiB, costs seconds to allocate for any file)."""


@contextlib.contextmanager
def _quiet_dliswriter():
    """dliswriter without its progress bar and its warning on units outside RP66's list ("0.1 in" is one)."""
    from dliswriter.file import writer

    logger = logging.getLogger("dliswriter")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with mock.patch.object(writer, "progressbar", lambda records, **_: records):
            yield
    finally:
        logger.setLevel(level)

"""Reading casing-inspection logs: DLIS (RP66 v1) with dlisio, LAS 2.0 with lasio.

:func:`read_log` returns the thickness image of a log as logged (:class:`LogImage`);
:func:`describe_log` lists what a log holds (for ``corroseg inspect``). The kind of
file is told by its first bytes, never by its name: a DLIS file opens with a storage
unit label (``V1.00RECORD``, looked for in the first 128 bytes), a LAS file with a ``~V`` section.

Channel choice: ``--channel NAME``, else the one array channel whose name or long name
says thickness (``T2BK`` thickness minus nominal, ``THK...``, ``...THICK...``,
``WALL``); when several fit or none does, one line lists the candidates. LAS has no
arrays: an image is one curve per azimuth (``THK[0]..``, ``THK_0..``, or ``THK:1..``
as lasio names repeated mnemonics), stacked in azimuth order.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from corroseg.data.corruption import PLACEHOLDERS
from corroseg.data.logs import DEPTH_UNITS_IN, LogImage, canonical_unit
from corroseg.errors import CorrosegInputError

THICKNESS_NAME = re.compile(r"T2BK|THBK|THK|THICK|WALL", re.IGNORECASE)
"""Channel names (or long names) that hold wall thickness."""

COLLAR_LOCATOR = re.compile(r"^CCL", re.IGNORECASE)
MASK_CHANNEL = "CMSK"
"""A corrosion-mask channel (synthetic logs record their truth in it)."""

PARAMETERS = {"THNO": "nominal_wall_in", "CSIZ": "od_in"}
"""Log parameters that state nominal sizes (USIT conventions), with the Well field they fill."""
GRADE_PARAMETERS = ("GRADE", "CGRD")

INDEXED_CURVE = re.compile(r"^(?P<base>.+?)(?:\[(?P<a>\d+)\]|_(?P<b>\d+)|:(?P<c>\d+))$")
MIN_AZIMUTHS = 8
"""Fewer curves than this sharing a name are not an image."""


def log_kind(path: Path) -> str | None:
    """``"dlis"``, ``"las"`` or None, from the file's first bytes."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return None
    if b"V1.00RECORD" in head[:128]:  # the storage unit label, at byte 4 (later in files with TIF markers)
        return "dlis"
    text = b"\n".join(line for line in head.lstrip().splitlines() if not line.lstrip().startswith(b"#"))
    return "las" if text.lstrip()[:2].upper() == b"~V" else None


def is_log(path: Path) -> bool:
    """Whether ``path`` is a DLIS or LAS file."""
    return Path(path).is_file() and log_kind(Path(path)) is not None


def read_log(path: str | Path, channel: str | None = None) -> LogImage:
    """The thickness image of a DLIS or LAS file (one line naming the file when it cannot be read)."""
    path = Path(path)
    if not path.is_file():
        raise CorrosegInputError(path, "no such file" if not path.exists() else "not a regular file")
    kind = log_kind(path)
    if kind == "dlis":
        return _read_dlis(path, channel)
    if kind == "las":
        return _read_las(path, channel)
    raise CorrosegInputError(path, "not a DLIS or LAS file (no storage unit label, no ~Version section)")


def _choose(path: Path, candidates: dict[str, str], channel: str | None) -> str:
    """The channel to read among ``{name: description}`` of the file's image channels."""
    listed = ", ".join(f"{name} ({text})" for name, text in candidates.items()) or "none"
    if not candidates:
        raise CorrosegInputError(path, "no image channel (one value per azimuth) in this log")
    if channel is not None:
        if channel not in candidates:
            raise CorrosegInputError(path, f"no image channel {channel!r}; the image channels: {listed}")
        return channel
    fitting = [name for name, text in candidates.items() if THICKNESS_NAME.search(name) or "thick" in text.lower()]
    if len(fitting) != 1:
        why = "several channels could be thickness" if fitting else "no channel is named as thickness"
        raise CorrosegInputError(path, f"{why}; choose one with corroseg import --channel: {listed}")
    return fitting[0]


def _read_dlis(path: Path, channel: str | None) -> LogImage:
    from dlisio import dlis
    logging.getLogger("dlisio").setLevel(logging.ERROR)
    try:
        files = dlis.load(str(path))
    except Exception as exc:  # dlisio raises RuntimeError, OSError, ValueError on broken files
        raise CorrosegInputError(path, f"unreadable DLIS file ({str(exc).splitlines()[0] if str(exc) else exc})") \
            from None
    with files:
        frames, repeated = {}, set()
        for logical in files:
            for frame in logical.frames:
                for ch in frame.channels:
                    if int(np.prod(ch.dimension or [1])) > 1 and ch.name != MASK_CHANNEL:
                        if ch.name in frames:
                            repeated.add(ch.name)
                        frames.setdefault(ch.name, (logical, frame, ch))
        candidates = {name: f"{ch.long_name or 'no long name'}, {ch.dimension[0]} values, frame {frame.name}"
                      for name, (_, frame, ch) in frames.items()}
        name = _choose(path, candidates, channel)
        logical, frame, ch = frames[name]
        try:
            curves = frame.curves()
        except Exception as exc:
            raise CorrosegInputError(path, f"frame {frame.name} cannot be read ({exc})") from None
        index = frame.index or curves.dtype.names[1]
        index_channel = next((c for c in frame.channels if c.name == index), None)
        if curves.size == 0:
            raise CorrosegInputError(path, f"frame {frame.name} is empty")
        if name in repeated:
            notes = [f"channel {name} appears in several frames or logical files (a repeat pass?): the first, "
                     f"frame {frame.name}, is read"]
        else:
            notes = []
        others = {c.name: c for c in frame.channels}
        ccl = next((c for c in others if COLLAR_LOCATOR.match(c) and c in curves.dtype.names
                    and curves[c].ndim == 1), None)
        parameters = {p.name: p for p in logical.parameters}
        log = LogImage(
            source=path, channel=name, depth=curves[index].astype(np.float64),
            depth_unit=(index_channel.units if index_channel is not None else "") or "",
            values=curves[name].reshape(len(curves), -1), value_unit=ch.units or "",
            absent=PLACEHOLDERS + _dlis_absent(parameters),
            well_name=next((o.well_name for o in logical.origins if o.well_name), "") or "",
            collar_locator=None if ccl is None else curves[ccl].astype(np.float64),
            mask=curves[MASK_CHANNEL].reshape(len(curves), -1) if MASK_CHANNEL in curves.dtype.names else None,
            notes=notes,
        )
        for key, field_name in PARAMETERS.items():
            if key in parameters and len(parameters[key].values):
                value = _number(log, key, parameters[key].values[0])
                if value is not None:
                    setattr(log, field_name, _inches(path, value, parameters[key].attic["VALUES"].units, key))
        grade = next((parameters[k].values[0] for k in GRADE_PARAMETERS if k in parameters), None)
        log.grade = None if grade is None else str(grade).strip().upper().replace("-", "")
        if "NWPD" in parameters and len(parameters["NWPD"].values):
            _check_azimuths(log, parameters["NWPD"].values[0])
        if not log.depth_unit:
            raise CorrosegInputError(path, f"the index channel {index} states no depth unit")
        return log


def _check_azimuths(log: LogImage, stated) -> None:
    """A note when the file's azimuth count (NWPD) disagrees with the channel's."""
    try:
        count = int(float(stated))
    except (TypeError, ValueError):
        return
    if count != log.values.shape[1]:
        log.notes.append(f"the file says {count} azimuths per depth (NWPD); channel {log.channel} holds "
                         f"{log.values.shape[1]}: the channel is read")


def _dlis_absent(parameters: dict) -> tuple[float, ...]:
    """The file's own absent value, where a parameter states one."""
    for key in ("ABSV", "NULL"):
        if key in parameters and len(parameters[key].values):
            return _absent_value(parameters[key].values[0])
    return ()


def _absent_value(value) -> tuple[float, ...]:
    """A stated absent value as a one-value tuple (none when it is not a number)."""
    try:
        return (float(value),)
    except (TypeError, ValueError):
        return ()


def _number(log: LogImage, name: str, value) -> float | None:
    """A size parameter, or None with a note when the file leaves it empty, writes words or a size <= 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not number > 0:
        log.notes.append(f"parameter {name} is {value!r}, not a size: ignored")
        return None
    return number


def _inches(path: Path, value: float, unit, name: str) -> float:
    """A parameter's length in inches (no unit: inches)."""
    if not unit or not str(unit).strip():
        return value
    return value * DEPTH_UNITS_IN[canonical_unit(str(unit), path, f"{name} parameter")]


def las_images(mnemonics: list[str]) -> dict[str, list[tuple[int, int]]]:
    """``{base: [(azimuth number, curve position), ...]}`` of the curves forming images, in azimuth order."""
    groups: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for position, mnemonic in enumerate(mnemonics):
        match = INDEXED_CURVE.match(mnemonic)
        if match:
            number = int(match["a"] or match["b"] or match["c"])
            groups[match["base"]].append((number, position))
    return {base: sorted(members) for base, members in groups.items() if len(members) >= MIN_AZIMUTHS}


def _read_las(path: Path, channel: str | None) -> LogImage:
    import lasio
    logging.getLogger("lasio").setLevel(logging.ERROR)
    try:
        las = lasio.read(str(path), ignore_header_errors=False)
    except Exception as exc:  # lasio raises its own errors, ValueError, UnicodeDecodeError
        raise CorrosegInputError(path, f"unreadable LAS file ({str(exc).splitlines()[0] if str(exc) else exc})") \
            from None
    mnemonics = [curve.mnemonic for curve in las.curves]
    if not mnemonics:
        raise CorrosegInputError(path, "no curves in this LAS file")
    images = las_images(mnemonics[1:])
    images = {base: [(n, p + 1) for n, p in members] for base, members in images.items()}
    candidates = {base: f"{len(members)} curves, {las.curves[members[0][1]].descr or 'no description'}"
                  for base, members in images.items() if base != MASK_CHANNEL}
    name = _choose(path, candidates, channel)
    members = images[name]
    numbers = [n for n, _ in members]
    if len(set(numbers)) != len(numbers):
        raise CorrosegInputError(path, f"curves of {name} repeat an azimuth number")
    missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))  # numbers are sorted
    if missing:
        raise CorrosegInputError(path, f"curves of {name} skip azimuth {', '.join(map(str, missing[:5]))}: "
                                       "mixed azimuth counts")
    units = {las.curves[p].unit for _, p in members}
    if len(units) > 1:
        raise CorrosegInputError(path, f"curves of {name} mix units: {', '.join(sorted(units))}")
    data = las.data
    if data.ndim != 2 or not data.shape[0]:
        raise CorrosegInputError(path, "the ~ASCII section is empty")
    depth_unit = las.curves[0].unit or (las.well["STRT"].unit if "STRT" in las.well else "")
    null = las.well["NULL"].value if "NULL" in las.well else None
    log = LogImage(
        source=path, channel=name, depth=data[:, 0].astype(np.float64), depth_unit=depth_unit or "",
        values=data[:, [p for _, p in members]], value_unit=units.pop() or "",
        absent=PLACEHOLDERS + _absent_value(null),
        well_name=str(las.well["WELL"].value).strip() if "WELL" in las.well else "",
    )
    ccl = next((p for p, m in enumerate(mnemonics) if COLLAR_LOCATOR.match(m)), None)
    log.collar_locator = None if ccl is None else data[:, ccl].astype(np.float64)
    if MASK_CHANNEL in images:
        log.mask = data[:, [p for _, p in images[MASK_CHANNEL]]]
    for key, field_name in PARAMETERS.items():
        if key in las.params:
            item = las.params[key]
            value = _number(log, key, item.value)
            if value is not None:
                setattr(log, field_name, _inches(path, value, item.unit, key))
    grade = next((las.params[k].value for k in GRADE_PARAMETERS if k in las.params), None)
    log.grade = None if grade in (None, "") else str(grade).strip().upper().replace("-", "")
    if "NWPD" in las.params:
        _check_azimuths(log, las.params["NWPD"].value)
    if not log.depth_unit:
        raise CorrosegInputError(path, f"the depth curve {mnemonics[0]} states no unit")
    return log


def describe_log(path: str | Path) -> dict:
    """What a log holds: kind, channels (name, unit, values per depth), depth range, nominal sizes."""
    path = Path(path)
    kind = log_kind(path)
    if kind is None:
        raise CorrosegInputError(path, "not a DLIS or LAS file")
    if kind == "dlis":
        from dlisio import dlis
        logging.getLogger("dlisio").setLevel(logging.ERROR)
        try:
            files = dlis.load(str(path))
        except Exception as exc:
            raise CorrosegInputError(path, f"unreadable DLIS file ({exc})") from None
        with files:
            frames = []
            for number, logical in enumerate(files, start=1):
                for frame in logical.frames:
                    try:
                        index = frame.curves()[frame.index] if frame.index else np.zeros(0)
                    except Exception as exc:  # dlisio's errors on a broken frame
                        raise CorrosegInputError(path, f"frame {frame.name} cannot be read ({exc})") from None
                    frames.append({
                        "logical_file": number, "frame": frame.name, "index": frame.index,
                        "direction": frame.direction,
                        "depth_range": [float(index.min()), float(index.max())] if index.size else None,
                        "rows": int(index.size),
                        "channels": [{"name": c.name, "unit": c.units or "", "values_per_depth":
                                      int(np.prod(c.dimension or [1])), "long_name": str(c.long_name or "")}
                                     for c in frame.channels]})
                parameters = {p.name: [str(v) for v in p.values] for p in logical.parameters}
        return {"kind": "DLIS", "file": str(path), "frames": frames, "parameters": parameters}
    log = _read_las_header(path)
    return log


def _read_las_header(path: Path) -> dict:
    import lasio
    try:
        las = lasio.read(str(path), ignore_data=False)
    except Exception as exc:
        raise CorrosegInputError(path, f"unreadable LAS file ({exc})") from None
    mnemonics = [c.mnemonic for c in las.curves]
    depth = las.index if len(las.curves) else np.zeros(0)
    images = las_images(mnemonics[1:])
    grouped = {mnemonics[p + 1] for members in images.values() for _, p in members}
    channels = [{"name": base, "unit": las.curves[members[0][1] + 1].unit, "values_per_depth": len(members),
                 "long_name": las.curves[members[0][1] + 1].descr} for base, members in images.items()]
    channels += [{"name": c.mnemonic, "unit": c.unit, "values_per_depth": 1, "long_name": c.descr}
                 for c in las.curves if c.mnemonic not in grouped]
    return {"kind": "LAS", "file": str(path), "frames": [{
        "frame": "~ASCII", "index": mnemonics[0] if mnemonics else None, "rows": int(len(depth)),
        "depth_range": [float(np.nanmin(depth)), float(np.nanmax(depth))] if len(depth) else None,
        "channels": channels}],
        "parameters": {p.mnemonic: [f"{p.value} {p.unit}".strip()] for p in las.params}}

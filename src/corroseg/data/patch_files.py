"""Patch files on disk or in a zip: found, bounded in size before they are read, and loaded.

A folder of patches may hold things that are not patches (a FIFO named like one, a
2 GB file behind a valid 36x36 header); each is refused or skipped before it is read.
"""

from __future__ import annotations

import io
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from corroseg.errors import CorrosegInputError

PATCH_SIZE = 36
"""Patches are 36 x 36 pixels (depth x azimuth)."""

MAX_PATCH_BYTES = PATCH_SIZE * PATCH_SIZE * 16 + 65_536 + 16
"""The largest .npy a 36x36 patch can be (complex128 values and numpy's longest header);
anything larger is refused before it is read."""


def patch_files(folder: Path) -> list[Path]:
    # sorted by name, not by Path: comparing 100,000 Paths takes seconds
    files = [p for p in folder.iterdir() if p.suffix == ".npy" and not p.name.startswith(".")]
    special = [p for p in files if not p.is_file()]  # a FIFO or device would block or never end
    for path in special:
        warnings.warn(f"{path}: not a regular file; skipped", stacklevel=3)
    return sorted((p for p in files if p.is_file()), key=lambda p: p.name)


def iter_patch_files(source: Path) -> Iterator[tuple[str, str, bytes | Path]]:
    """(display path, file name, bytes or path) of every .npy in a folder or zip."""
    if source.is_file():
        try:
            archive = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, OSError) as exc:
            raise CorrosegInputError(source, f"not a readable zip file ({exc})") from None
        with archive:
            for info in archive.infolist():
                name = info.filename.rsplit("/", 1)[-1]
                if info.is_dir() or not name.endswith(".npy") or "__MACOSX" in info.filename:
                    continue
                if name.startswith("."):
                    continue
                display = f"{source}:{info.filename}"
                with archive.open(info) as member:  # never more than a patch can be, whatever the zip claims
                    content = member.read(MAX_PATCH_BYTES + 1)
                if len(content) > MAX_PATCH_BYTES:
                    raise CorrosegInputError(display, f"more than {MAX_PATCH_BYTES:,} bytes: too large for a "
                                                      f"{PATCH_SIZE}x{PATCH_SIZE} patch")
                yield display, name, content
        return
    files = patch_files(source)
    if not files and (source / "images").is_dir():
        files = patch_files(source / "images")
    for file in files:
        yield str(file), file.name, file


def load_patch(display: str, content: bytes | Path) -> np.ndarray:
    if isinstance(content, Path) and content.stat().st_size > MAX_PATCH_BYTES:
        raise CorrosegInputError(display, f"{content.stat().st_size:,} bytes: too large for a "
                                          f"{PATCH_SIZE}x{PATCH_SIZE} patch")
    try:
        raw = io.BytesIO(content) if isinstance(content, bytes) else content
        array = np.load(raw, allow_pickle=False)
    except Exception as exc:  # numpy raises many kinds for truncated or foreign files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CorrosegInputError(display, f"unreadable .npy file ({reason})") from None
    if not isinstance(array, np.ndarray):
        raise CorrosegInputError(display, "not a single .npy array")
    if array.shape != (PATCH_SIZE, PATCH_SIZE):
        raise CorrosegInputError(
            display, f"shape {array.shape}, expected ({PATCH_SIZE}, {PATCH_SIZE})"
        )
    if array.dtype.kind != "f":
        raise CorrosegInputError(display, f"dtype {array.dtype}, expected float32")
    with np.errstate(over="ignore"):  # beyond float32's range is inf: a corrupted pixel either way
        return array.astype(np.float32, copy=False)

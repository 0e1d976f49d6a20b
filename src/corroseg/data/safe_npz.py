"""Reading named arrays from an ``.npz`` safely: headers first, no pickles, nothing unasked loaded."""

from __future__ import annotations

import math
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from corroseg.errors import CorrosegInputError


def _npz_headers(archive: zipfile.ZipFile, names: tuple[str, ...]) -> dict[str, tuple[tuple, np.dtype, zipfile.ZipInfo]]:
    """``{name: (shape, dtype, entry)}`` of the arrays named ``names``, from their headers only."""
    headers = {}
    for info in archive.infolist():
        key = info.filename.removesuffix(".npy")
        if key not in names:
            continue
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            reader = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(
                version)
            if reader is None:
                raise ValueError(f"array {key!r} has .npy format {version}, expected 1.0 or 2.0")
            shape, _, dtype = reader(member)
            header_bytes = member.tell()
        if dtype.hasobject:
            raise ValueError(f"array {key!r} holds Python objects")
        if info.file_size > header_bytes + math.prod(shape) * dtype.itemsize:
            raise ValueError(f"array {key!r} holds more bytes than its header declares")
        headers[key] = (shape, dtype, info)
    return headers


def read_npz(path: Path, names: tuple[str, ...], check_headers: Callable[[Path, dict], None]) -> dict[str, np.ndarray]:
    """The arrays ``names`` of an ``.npz``; ``check_headers(path, {name: (shape, dtype, entry)})`` runs
    before any array is read. An unreadable file names it (:class:`CorrosegInputError`)."""
    if not path.is_file():
        raise CorrosegInputError(path, "no such file" if not path.exists() else "not a regular file")
    try:
        if not zipfile.is_zipfile(path):
            with open(path, "rb") as handle:
                is_npy = handle.read(6) == b"\x93NUMPY"
            raise CorrosegInputError(path, "a single .npy array, not an .npz archive of named arrays" if is_npy
                                     else "unreadable .npz file (not a zip archive of .npy arrays)")
        with zipfile.ZipFile(path) as archive:
            headers = _npz_headers(archive, names)
            check_headers(path, headers)
            arrays = {}
            for key, (_, _, info) in headers.items():
                with archive.open(info) as member:
                    arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
            return arrays
    except CorrosegInputError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise CorrosegInputError(path, f"unreadable .npz file ({reason})") from None

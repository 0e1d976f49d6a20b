"""Write files so that a crash or an error never leaves a half-written result.

Every output goes to a temporary file beside its destination, is flushed to disk
(``fsync``) and renamed onto the destination, and the folder's entry is flushed too:
after a crash, a kill or Ctrl-C the destination holds either its old content or the
complete new one.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from corroseg.errors import CorrosegInputError

TEMP_PREFIX = "."
"""Temporary files and folders start with a dot and carry the destination's stem."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_file(path: str | Path) -> None:
    """Flush a file's content to disk."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | Path) -> None:
    """Flush a folder's entries (a rename into it) to disk; a no-op where the OS cannot."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on folders
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; fsync and rename it onto ``path`` only on success.

    The temporary name keeps the final suffix, so writers that append or check one
    (``np.savez``, ``savefig``) behave as they would with the real path. The file
    gets the usual permissions (``0o666`` less the umask), not ``mkstemp``'s ``0o600``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())
        fsync_file(tmp_path)
        os.replace(tmp_path, path)
        fsync_dir(path.parent)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | Path, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it becomes ``path`` only when complete.

    Parameters
    ----------
    path : path
        The folder to create.
    replace : bool
        Remove an existing ``path`` just before the complete one takes its place.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{path.name}.", dir=path.parent))
    try:
        yield staging
        os.chmod(staging, 0o777 & ~_umask())
        if hasattr(os, "sync"):  # one flush for the whole tree: an fsync per file would cost minutes
            os.sync()
        aside = None
        if replace and path.exists():  # moved aside, not deleted first: ``path`` is missing only between two renames
            aside = path.with_name(f"{TEMP_PREFIX}{path.name}.old-{os.getpid()}-{staging.name[-8:]}")
            os.replace(path, aside)
        os.replace(staging, path)
        fsync_dir(path.parent)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def refuse_existing(paths, force: bool) -> None:
    """Raise a one-line user error for the first of ``paths`` that exists, unless ``force``.

    Call it with every output of a command before any work, so a refusal costs nothing
    and leaves nothing half-done.
    """
    if force:
        return
    for path in map(Path, paths):
        if path.exists():
            raise CorrosegInputError(path, "already exists; pass --force to overwrite it")


def remove_temps(folder: str | Path, names) -> list[Path]:
    """Remove the temporary files a killed writer left beside ``names`` in ``folder``.

    A SIGKILL or power cut between creating a temporary file and renaming it leaves
    the file behind (never the destination half-written); call this before writing
    the same outputs again.
    """
    removed = []
    for name in names:
        name = Path(name)
        for stale in Path(folder).glob(f"{TEMP_PREFIX}{name.stem}.*{name.suffix}"):
            if stale.is_file():
                stale.unlink(missing_ok=True)
                removed.append(stale)
    return removed


def json_safe(data):
    """``data`` with every NaN (a figure that does not exist) replaced by None, for strict JSON."""
    if isinstance(data, float) and math.isnan(data):
        return None
    if isinstance(data, dict):
        return {k: json_safe(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [json_safe(v) for v in data]
    return data


def write_json(path: str | Path, data) -> Path:
    """Write strict JSON atomically (NaN becomes null)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(json_safe(data), indent=2, allow_nan=False))
    return path

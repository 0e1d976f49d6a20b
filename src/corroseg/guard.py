"""What a command may write: folders corroseg wrote, outputs that are not inputs, one writer at a time.

Three rules keep ``--force`` from destroying what a user trusted us with:

* **Marked folders.** A folder that a command writes whole (a run, a cross-validation
  run, a synthetic dataset, the demo's output) carries :data:`MARKER`, a JSON file
  naming the tool, a schema version and the folder's kind. ``--force`` replaces such a
  folder only if the marker says the same kind and every entry in it is one that kind
  holds (:data:`KNOWN`); anything else is refused, naming the foreign files.
* **Outputs are never inputs.** An output that is (or resolves to, through links) a
  file the same command reads, or a file of a run or dataset it reads, is refused,
  with or without ``--force``.
* **One writer at a time.** :func:`output_lock` takes an advisory lock beside each
  output (``.NAME.corroseg-lock``, released when the process ends, however it ends);
  a second command writing the same output is refused, naming the holder.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
import socket
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from corroseg.errors import CorrosegInputError

TOOL = "corroseg"
MARKER = ".corroseg.json"
MARKER_SCHEMA = 1

RUN_FILES = ("config.yaml", "scaler.json", "model.safetensors", "metrics.json", "data.json", "threshold.json",
             "sensitivity.json", "checkpoints", "checkpoints/*.ckpt", "logs", "logs/**")
"""Entries of a run that prediction, evaluation, export and report read (relative glob patterns)."""

RUN_INPUTS = RUN_FILES + ("folds.json", "oof", "oof/**", "fold_*", "fold_*/**")
"""Entries of a run or a cross-validation run that a command reading it reads."""

DERIVED_RUN_FILES = ("model.onnx", "report.html")
"""Entries written into a run by ``export`` and ``report``, after training."""

KNOWN = {
    "run": RUN_FILES + DERIVED_RUN_FILES,
    "folds": ("config.yaml", "folds.json", "threshold.json", "sensitivity.json", "oof", "oof/well_*.npz", "fold_*")
    + DERIVED_RUN_FILES,
    "dataset": ("synth.json", "x_train", "x_train/*.npy", "x_test", "x_test/*.npy", "y_train.csv", "y_test.csv",
                "wells", "wells/*.npz", "logs", "logs/*.dlis", "logs/*.las"),
    "demo": ("synthetic", "run", "predictions", "predictions/*.npz", "predictions/*.png", "predictions/*.json",
             "evaluation.json", "log", "log/*",
             "summary.json"),
}
"""Every entry each kind of folder may hold (glob patterns of relative paths, matched one level at a time;
``X/**`` is anything below ``X``)."""

NESTED = {"folds": {"fold_*": "run"}, "demo": {"synthetic": "dataset", "run": "run"}}
"""Folders inside a folder that are checked as folders of their own kind."""

DATASET_FILES = ("x_*", "x_*/*", "x_*/images/*", "y_*.csv", "wells", "wells/*", "synth.json", "*.npy", "*.npz",
                 "images/*")
"""Entries of a dataset a command reads: a challenge-format dataset (synthetic or real), an image
folder (patches, flat or in ``images/``) or a folder of wells."""

_TEMPORARY = re.compile(r"^\..+\.(?:[a-z0-9_]{8}(?:\.[A-Za-z0-9]+)?|old-\d+-[a-z0-9_]{8}|corroseg-lock)$")
"""Our own hidden names: atomic temporaries, folders moved aside, lock files."""


def _matches(relative: str, patterns: Iterable[str]) -> bool:
    """Whether ``relative`` (a POSIX relative path) matches one of ``patterns``, level by level."""
    parts = relative.split("/")
    for pattern in patterns:
        wanted = pattern.split("/")
        if wanted[-1] == "**":
            head = wanted[:-1]
            if len(parts) > len(head) and all(map(fnmatch.fnmatchcase, parts, head)):
                return True
        elif len(parts) == len(wanted) and all(map(fnmatch.fnmatchcase, parts, wanted)):
            return True
    return False


def mark(folder: str | Path, kind: str) -> Path:
    """Write the marker that says ``folder`` is a corroseg folder of ``kind``."""
    from corroseg import __version__
    from corroseg.atomic import write_json

    if kind not in KNOWN:
        raise ValueError(f"unknown folder kind {kind!r}")
    return write_json(Path(folder) / MARKER, {"tool": TOOL, "schema": MARKER_SCHEMA, "kind": kind,
                                              "version": __version__})


def marked_kind(folder: str | Path) -> str | None:
    """The kind a corroseg marker gives ``folder``, or None when it has no valid marker."""
    try:
        marker = json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("tool") != TOOL or marker.get("schema") != MARKER_SCHEMA:
        return None
    kind = marker.get("kind")
    return kind if kind in KNOWN else None


def foreign_entries(folder: str | Path, kind: str, prefix: str = "") -> list[str]:
    """Entries of ``folder`` (relative paths) that a folder of ``kind`` never holds."""
    folder = Path(folder)
    foreign: list[str] = []

    def walk(here: Path, relative: str) -> None:
        for entry in sorted(here.iterdir()):
            name = f"{relative}{entry.name}"
            if (name == MARKER and not relative) or _TEMPORARY.match(entry.name):
                continue
            nested = next((k for p, k in NESTED.get(kind, {}).items() if _matches(name, (p,))), None)
            if nested and entry.is_dir() and not entry.is_symlink():
                foreign.extend(foreign_entries(entry, nested, prefix=f"{prefix}{name}/"))
            elif not _matches(name, KNOWN[kind]):
                foreign.append(f"{prefix}{name}" + ("/" if entry.is_dir() else ""))
            elif entry.is_dir() and not entry.is_symlink():
                walk(entry, f"{name}/")

    walk(folder, "")
    return foreign


NAMES = {"run": "corroseg run", "folds": "corroseg cross-validation run", "dataset": "corroseg synthetic dataset",
         "demo": "corroseg demo folder"}


def check_replaceable(folder: str | Path, kinds: str | tuple[str, ...]) -> None:
    """Refuse (one line) to replace ``folder`` unless corroseg wrote it as one of ``kinds``.

    A missing or empty folder may always be written. Otherwise it needs a valid
    marker of one of ``kinds`` and no entry outside that kind's known set.
    """
    folder = Path(folder)
    kinds = (kinds,) if isinstance(kinds, str) else kinds
    if not folder.exists() and not folder.is_symlink():
        return
    if folder.is_symlink() or not folder.is_dir():
        raise CorrosegInputError(folder, "is not a folder a corroseg command wrote; refusing to replace it")
    if not any(folder.iterdir()):
        return
    kind = marked_kind(folder)
    wanted = " or ".join(NAMES[k] for k in kinds)
    if kind not in kinds:
        what = f"a {NAMES[kind]}" if kind else f"not marked as written by corroseg (no {MARKER})"
        raise CorrosegInputError(folder, f"is {what}, not a {wanted}; refusing to replace it (move it or "
                                         "choose another folder)")
    foreign = foreign_entries(folder, kind)
    if foreign:
        listed = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise CorrosegInputError(folder, f"holds files corroseg did not write ({listed}); refusing to replace it "
                                         "(move them out first)")


def _resolved(path: str | Path) -> Path:
    return Path(os.path.realpath(Path(path).expanduser()))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return _resolved(a) == _resolved(b)


def refuse_overwriting_inputs(outputs: Iterable[str | Path], files: Iterable[str | Path] = (),
                              runs: Iterable[str | Path] = (), datasets: Iterable[str | Path] = (),
                              run_reads: tuple[str, ...] = RUN_INPUTS) -> None:
    """Refuse (one line) any output that is an input of the same command.

    Parameters
    ----------
    outputs : paths
        Every file (or folder) the command is about to write.
    files : paths
        Files the command reads (a well, a log, a label file).
    runs : paths
        Run folders the command reads: their ``run_reads`` entries are inputs.
    datasets : paths
        Dataset or image folders the command reads: their :data:`DATASET_FILES` are inputs,
        and so is the folder itself.
    """
    files = [Path(f) for f in files]
    folders = [(Path(r), "run", run_reads) for r in runs] + [(Path(d), "dataset", DATASET_FILES) for d in datasets]
    for out in map(Path, outputs):
        target = _resolved(out)
        for source in files:
            if _same_file(out, source) or target == _resolved(source):
                raise CorrosegInputError(out, f"is an input of this command ({source}); choose another output")
        for folder, what, patterns in folders:
            root = _resolved(folder)
            if target == root or root.is_relative_to(target):
                raise CorrosegInputError(out, f"would replace the {what} this command reads ({folder}); "
                                              "choose another output")
            if target.is_relative_to(root):
                relative = target.relative_to(root).as_posix()
                if _matches(relative, patterns):
                    raise CorrosegInputError(out, f"is a file of the {what} this command reads ({folder}); "
                                                  "choose another output")


_HELD: dict[Path, int] = {}
"""Locks this process holds (lock file -> depth), so nested steps may lock the same output again."""


def _lock_file(path: Path) -> Path:
    target = _resolved(path)
    return target.parent / f".{target.name}.corroseg-lock"


def _holder(lock: Path) -> str:
    try:
        return lock.read_text().strip() or "another corroseg command"
    except OSError:
        return "another corroseg command"


@contextlib.contextmanager
def output_lock(*paths: str | Path) -> Iterator[None]:
    """Hold an advisory lock on each of ``paths`` (outputs) while the block runs.

    Another corroseg command holding one of them is refused in one line naming its
    process and command. The lock dies with its process, so a crash or ``kill -9``
    never leaves a stale lock behind; the lock file is removed on release.
    """
    with contextlib.ExitStack() as stack:
        for path in paths:
            stack.enter_context(_one_lock(Path(path)))
        yield


@contextlib.contextmanager
def _one_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks, the old behaviour
        yield
        return
    lock = _lock_file(path)
    if lock in _HELD:
        _HELD[lock] += 1
        try:
            yield
        finally:
            _HELD[lock] -= 1
        return
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise CorrosegInputError(path, f"is being written by {_holder(lock)}; wait for it to finish or stop "
                                           "it") from None
        try:  # the file may have been removed by the holder we waited for: lock the one on disk
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    command = " ".join(Path(sys.argv[0]).name if i == 0 else a for i, a in enumerate(sys.argv))
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')} "
                 f"({command[:200]})\n".encode())
    _HELD[lock] = 1
    try:
        yield
    finally:
        del _HELD[lock]
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)

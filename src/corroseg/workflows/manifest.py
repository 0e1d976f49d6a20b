"""The record of a fleet prediction: ``OUT/manifest.json``, one entry per well.

Each entry says what went in (the input and its checksum), what came out (each output
file and its checksum), how (the prediction options, shared by the whole run), and what
happened (status, attempts, worker, seconds, and the one-line reason of a failure).
``--resume`` trusts an entry only when its input, options and output files still match.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from corroseg import __version__
from corroseg.atomic import write_json

MANIFEST = "manifest.json"
SCHEMA = 1


def file_checksum(path: str | Path) -> str:
    """``sha256:HEX`` of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def image_checksum(image: np.ndarray, name: str) -> str:
    """``sha256:HEX`` of a well assembled in memory (its name, shape and float32 pixels)."""
    digest = hashlib.sha256(f"{name}|{image.shape}".encode())
    digest.update(np.ascontiguousarray(image, dtype=np.float32).tobytes())
    return f"sha256:{digest.hexdigest()}"


@dataclass
class WellEntry:
    """What the manifest says of one well."""

    input: str
    checksum: str
    status: str = "pending"  # pending, done or failed
    outputs: dict[str, str] = field(default_factory=dict)  # output path -> checksum
    attempts: int = 0
    worker: str | None = None
    seconds: float | None = None
    worker_peak_rss_mib: float | None = None  # the worker process's peak resident memory when this well was done
    error: str | None = None
    note: str | None = None


@dataclass
class Manifest:
    """The whole fleet run: its options and every well's entry."""

    options: dict
    runs: list[str]
    wells: dict[str, WellEntry] = field(default_factory=dict)

    @classmethod
    def read(cls, folder: Path) -> Manifest | None:
        """The manifest of ``folder``; None when there is none or it cannot be read (then nothing is trusted)."""
        path = folder / MANIFEST
        try:
            data = json.loads(path.read_text())
            wells = {name: WellEntry(**entry) for name, entry in data["wells"].items()}
            return cls(data["options"], list(data["runs"]), wells)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self, folder: Path) -> None:
        """Written atomically: an interrupted run leaves the last complete manifest."""
        counts = {status: sum(e.status == status for e in self.wells.values()) for status in ("done", "failed", "pending")}
        write_json(folder / MANIFEST, {"tool": "corroseg", "version": __version__, "schema": SCHEMA,
                                       "runs": self.runs, "options": self.options, "counts": counts,
                                       "wells": {name: asdict(entry) for name, entry in sorted(self.wells.items())}})

    def complete(self, name: str, checksum: str, options: dict) -> bool:
        """True when ``name`` was predicted from this very input with these options and its outputs are intact."""
        entry = self.wells.get(name)
        if entry is None or entry.status != "done" or entry.checksum != checksum or self.options != options:
            return False
        return bool(entry.outputs) and all(Path(path).is_file() and file_checksum(path) == digest
                                           for path, digest in entry.outputs.items())

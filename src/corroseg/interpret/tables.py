"""Rows of dataclasses (defects, joints) as tables: column names that carry units and say "screening"."""

from __future__ import annotations

import csv
from dataclasses import asdict, fields


def column(name: str) -> str:
    """A field's column name: burst figures (``*_psi``) are marked as screening estimates in every file."""
    return f"screening_{name}" if name.endswith("_psi") else name


def cell(value):
    """A value for a table: None empty, floats to 4 decimals."""
    return "" if value is None else round(value, 4) if isinstance(value, float) else value


def write_table_csv(path, kind: type, items: list) -> None:
    """One row per item of dataclass ``kind``, a header of :func:`column` names (the caller passes a temp path)."""
    names = [f.name for f in fields(kind)]
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow([column(n) for n in names])
        for item in items:
            row = asdict(item)
            writer.writerow([cell(row[n]) for n in names])

"""What the benchmark scripts share for their reports: figures, markdown tables, docs sections, result files.

Every file is written through :mod:`corroseg.atomic`: a temporary file beside the
destination, flushed to disk and renamed onto it, so an interrupted benchmark never
leaves a half-written docs page or JSON file behind.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path

from corroseg.atomic import atomic_path, json_safe

MISSING = "-"
"""What a figure that does not exist (None, NaN, infinity) prints as, unless a caller asks otherwise."""


def _missing(value) -> bool:
    if value is None:
        return True
    try:
        return not math.isfinite(value)
    except TypeError:  # not a number
        return False


def fmt(value, digits: int = 3, *, decimals: int | None = None, missing: str = MISSING) -> str:
    """A number for a table.

    Parameters
    ----------
    value : float, int, str or None
        The figure; a string is returned as it is, None, NaN and infinity as ``missing``.
    digits : int
        About this many significant digits, thousands separated (``1,234``, ``12.3``, ``0.0123``).
    decimals : int, optional
        Exactly this many decimals instead (``0.1234`` for 4), no thousands separator.
    missing : str
        The text of a figure that does not exist.
    """
    if isinstance(value, str):
        return value
    if _missing(value):
        return missing
    if decimals is not None:
        return f"{value:.{decimals}f}"
    if value == 0:
        return "0"
    if abs(value) >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    places = digits - 1 - math.floor(math.log10(abs(value)))
    return f"{value:,.{max(places, 0)}f}"


def pct(value, decimals: int = 1, *, unit: str = " %", missing: str = MISSING) -> str:
    """A fraction as a percentage: ``pct(0.4567)`` is ``"45.7 %"``, ``pct(0.001, 3, unit="%")`` ``"0.100%"``."""
    return missing if _missing(value) else f"{100 * value:.{decimals}f}{unit}"


def md_table(headers: list[str], rows: list[list], right: set[int] | None = None) -> str:
    """A markdown table (no trailing newline).

    Parameters
    ----------
    headers : list of str
        The column titles.
    rows : list of lists
        The cells, each shown with ``str``.
    right : set of int, optional
        The indices of the columns to right-align (figures); the others are left-aligned.
    """
    right = right or set()
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markers(name: str) -> tuple[str, str]:
    """The comments around the section ``name``: ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def replace_section(text: str, section: str, name: str) -> str:
    """``text`` with the block between ``name``'s markers replaced by ``section``, or appended when absent.

    Everything before the begin marker and after the end marker is kept. The block is
    appended after one blank line when ``text`` has no complete pair of markers.
    """
    begin, end = markers(name)
    block = f"{begin}\n{section.rstrip()}\n{end}"
    i = text.find(begin)
    j = text.find(end, i + len(begin)) if i >= 0 else -1
    if i >= 0 and j >= 0:
        return text[:i] + block + text[j + len(end):]
    return (text.rstrip() + "\n\n" if text.strip() else "") + block + "\n"


def write_section(path: str | Path, section: str, name: str, heading: str | None = None) -> Path:
    """Replace (or append) the section ``name`` of the markdown file ``path``, atomically.

    Parameters
    ----------
    path : path
        The markdown file; created when absent.
    section : str
        The markdown that goes between the markers (without them).
    name : str
        The marker name (``speed`` for ``<!-- speed:begin -->``).
    heading : str, optional
        What a new file starts with, before the section (``"# Benchmarks\\n"``).
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.is_file() else (heading or "")
    return write_text(path, replace_section(text, section, name))


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically: the old content or the new one, never a mix."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_json(path: str | Path, data, default=None) -> Path:
    """Write ``data`` as indented JSON atomically; NaN becomes null.

    Parameters
    ----------
    default : callable, optional
        For objects JSON cannot hold (``str`` writes paths and the like as text).
    """
    return write_text(path, json.dumps(json_safe(data), indent=2, default=default) + "\n")


def publish(section: str, name: str, data=None, json_path: str | Path | None = None,
            docs: str | Path | None = None) -> None:
    """What a benchmark ends with: print its markdown section, then write its JSON and docs section if asked."""
    print(section)
    if json_path is not None:
        write_json(json_path, data)
    if docs is not None:
        write_section(docs, section, name)


def script_parser(doc: str, section: str) -> argparse.ArgumentParser:
    """A benchmark's argument parser with the shared ``--docs FILE`` (its section replaced) and ``--json FILE``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--docs", type=Path, default=None, help=f"markdown file whose {section} section is replaced")
    parser.add_argument("--json", type=Path, default=None)
    return parser


def command_line(script: str, argv: list[str] | None) -> str:
    """How the benchmark was run, for its docs section (relative paths as given)."""
    return f"python benchmarks/{script} " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))

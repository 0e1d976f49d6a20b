"""Patch names of the challenge format: ``well_{w}_patch_{p}``."""

from __future__ import annotations

import re
from typing import NamedTuple

_NAME = re.compile(r"well_(0|[1-9][0-9]*)_patch_(0|[1-9][0-9]*)")  # ASCII digits only, used with fullmatch
_PADDED = re.compile(r"well_[0-9]+_patch_[0-9]+")


class PatchName(NamedTuple):
    """Well id and patch number of one patch."""

    well: int
    patch: int

    def __str__(self) -> str:
        return format_name(self.well, self.patch)


def parse_name(name: str) -> PatchName | None:
    """Parse ``well_3_patch_17`` (optionally ending in ``.npy``); None if it does not match.

    Numbers with leading zeros (``well_03``) do not match: two spellings of one patch
    would pair with nothing and could hide duplicates.
    """
    if name.endswith(".npy"):
        name = name[:-4]
    match = _NAME.fullmatch(name)
    if match is None or max(len(match.group(1)), len(match.group(2))) > MAX_DIGITS:
        return None
    return PatchName(int(match.group(1)), int(match.group(2)))


MAX_DIGITS = 9
"""Well and patch numbers have at most 9 digits (a well of a billion patches is 1.3 TB of images)."""


def name_problem(name: str) -> str:
    """Why ``name`` is not a patch name, in a few words (for error messages)."""
    if _NAME.fullmatch(name.removesuffix(".npy")):
        return f"{name!r} has a well or patch number of more than {MAX_DIGITS} digits"
    if _PADDED.fullmatch(name.removesuffix(".npy")):
        return f"{name!r} has leading zeros (challenge names have none: well_{{w}}_patch_{{p}})"
    return f"{name!r} is not well_{{w}}_patch_{{p}}"


def format_name(well: int, patch: int) -> str:
    """The challenge name of a patch, without extension."""
    return f"well_{well}_patch_{patch}"


def sort_key(name: str) -> tuple[int, int]:
    """Numeric (well, patch) order, so that ``patch_10`` follows ``patch_9``."""
    parsed = parse_name(name)
    if parsed is None:
        raise ValueError(f"not a patch name: {name!r}")
    return parsed.well, parsed.patch

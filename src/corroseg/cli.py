"""The ``corroseg`` command line: parse, call one function per command, print."""

from __future__ import annotations

import functools
import json
import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from corroseg.errors import CorrosegInputError

app = typer.Typer(
    help="Find corrosion in ultrasonic wall-thickness images of well casings.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


def user_errors(command):
    """Print user-caused errors as one line and exit with code 2, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = lambda message, *a, **k: err_console.print(
                f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True
            )
            try:
                return command(*args, **kwargs)
            except CorrosegInputError as exc:
                err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
                raise typer.Exit(2) from None
            except OSError as exc:  # permissions, full disk, a file where a folder should be
                where = exc.filename or "corroseg"
                err_console.print(f"[red]error:[/] {where}: {exc.strerror or exc}", highlight=False, soft_wrap=True)
                raise typer.Exit(2) from None

    return wrapper


def parse_widths(values: list[str] | None) -> dict[int | None, int] | None:
    """``["72"]`` -> all wells 72 px; ``["3=36", "5=72"]`` -> per well."""
    if not values:
        return None
    widths: dict[int | None, int] = {}
    for value in values:
        well, _, width = value.rpartition("=")
        try:
            key = int(well) if well else None
            widths[key] = int(width)
        except ValueError:
            raise typer.BadParameter(f"{value!r}: expected WIDTH or WELL=WIDTH") from None
        if widths[key] not in (36, 72):
            raise typer.BadParameter(f"{value!r}: width must be 36 or 72")
    return widths


WidthOption = Annotated[
    Optional[list[str]],
    typer.Option("--width", help="Override inferred well width: 72 (all wells) or WELL=WIDTH; repeatable."),
]


@app.command()
@user_errors
def inspect(
    path: Annotated[Path, typer.Argument(help="Dataset folder, image folder, .zip or well .npz.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    width: WidthOption = None,
):
    """Integrity and statistics of a dataset or a well."""
    from corroseg.data.inspection import inspect_path

    try:
        summary = inspect_path(path, parse_widths(width))
    except ValueError as exc:
        if isinstance(exc, CorrosegInputError):
            raise
        raise CorrosegInputError(path, str(exc)) from None
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    for message in summary.get("warnings", []):
        err_console.print(f"[yellow]warning:[/] {message}", highlight=False)
    if summary.get("kind") == "well":
        _print_well(summary)
        return
    for name, split in summary.get("splits", {"": summary}).items():
        _print_split(name or str(path), split)


def _print_split(title: str, split: dict) -> None:
    table = Table(title=f"{title}: {split['patches']} patches in {len(split['wells'])} wells")
    for column in ("well", "patches", "width", "rows", "corrupted", "fully corrupted"):
        table.add_column(column, justify="right")
    for well, info in split["wells"].items():
        width = f"{info['width']}" + (" (set)" if info["width_source"] == "override" else "")
        table.add_row(
            well, str(info["patches"]), width, str(info["rows"]),
            str(info["corrupted_patches"]), str(info["fully_corrupted_patches"]),
        )
    console.print(table)
    pixels = split["corrupted_pixels"]
    console.print(
        f"corrupted patches: {split['corrupted_patches']} "
        f"({split['fully_corrupted_patches']} fully); corrupted pixels: "
        + ", ".join(f"{k} {v}" for k, v in pixels.items() if v)
    )
    if split["values"]:
        v = split["values"]
        console.print(
            f"per-patch std (clean patches): p5 {v['patch_std_p5']:.4f}, median "
            f"{v['patch_std_median']:.4f}, p95 {v['patch_std_p95']:.4f}; "
            f"values {v['min']:.3f} .. {v['max']:.3f}"
        )
    labels = split.get("labels")
    if labels:
        console.print(
            f"labels {labels['file']}: {labels['paired']} paired, "
            f"{labels['images_without_masks']} images without masks, "
            f"{labels['masks_without_images']} masks without images; "
            f"{labels['patches_with_corrosion']:.1%} of patches corroded, "
            f"{labels['corroded_pixel_fraction']:.2%} of pixels"
        )
    elif labels is None:
        console.print("labels: none")
    console.print()


def _print_well(summary: dict) -> None:
    console.print(
        f"{summary['source']}: well {summary['name']!r}, {summary['rows']} rows x "
        f"{summary['width']} px; {summary['corrupted_pixels']['total']} corrupted pixels, "
        f"{summary['fully_corrupted_rows']} fully corrupted rows"
    )
    if summary["mask"]:
        console.print(f"mask: {summary['mask']['corroded_pixel_fraction']:.2%} of pixels corroded")


@app.command()
@user_errors
def wells(
    data: Annotated[Path, typer.Argument(help="Dataset folder, image folder or .zip.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the well .npz files.")],
    split: Annotated[str, typer.Option(help="train or test.")] = "train",
    width: WidthOption = None,
):
    """Rebuild whole wells (image and mask where labelled) from challenge patches."""
    from corroseg.data.export import export_wells

    written = export_wells(data, out, split=split, widths=parse_widths(width), progress=True)
    console.print(f"wrote {len(written)} wells to {out}")


@app.command()
@user_errors
def models(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list.")] = False):
    """Architectures: parameters and forward FLOPs per 36x36 patch."""
    from dataclasses import asdict

    from corroseg.models import available, describe

    cards = [describe(name) for name in available()]
    if as_json:
        print(json.dumps([asdict(card) for card in cards], indent=2))
        return
    table = Table(title="architectures (corroseg.models.create(name, **options))")
    for column, justify in (("name", "left"), ("parameters", "right"), ("GFLOPs/patch", "right"),
                            ("taller inputs", "center"), ("what it is", "left")):
        table.add_column(column, justify=justify)
    for card in cards:
        table.add_row(card.name, f"{card.parameters:,}", f"{card.flops_per_patch / 1e9:.3f}",
                      "yes" if card.taller_inputs else "no", card.summary)
    console.print(table)


@app.command()
@user_errors
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo's outputs.")] = Path("demo_out"),
    data: Annotated[Path, typer.Option(help="Dataset to run on.")] = Path("../shared/data/challenge"),
):
    """Inspect a dataset and rebuild its wells (training joins the demo in a later release)."""
    if not data.exists():
        raise CorrosegInputError(data, "no such dataset; pass --data DATASET_DIR")
    inspect(data, as_json=False, width=None)
    wells(data, out=out / "wells", split="train", width=None)


def main() -> None:  # pragma: no cover - console-script shim
    sys.exit(app())

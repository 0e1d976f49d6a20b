"""Commands on data: inspect, wells, models, synth, realism."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from corroseg.cli.common import WidthOption, app, console, err_console, parse_wells, parse_widths, status, user_errors
from corroseg.data.challenge import FALSE_ALARM_WELLS
from corroseg.errors import CorrosegInputError, CorrosegUserError


@app.command()
@user_errors
def inspect(
    path: Annotated[Path, typer.Argument(help="Dataset folder, image folder, .zip or well .npz.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    width: WidthOption = None,
):
    """Integrity and statistics of a dataset, a well or a casing log (DLIS / LAS)."""
    from corroseg.data.inspection import inspect_path
    from corroseg.data.log_readers import describe_log, is_log

    if is_log(path):
        _print_log(describe_log(path), as_json)
        return

    summary = inspect_path(path, parse_widths(width))
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    for message in summary.get("warnings", []):
        err_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)
    if summary.get("kind") == "well":
        _print_well(summary)
        return
    for name, split in summary.get("splits", {"": summary}).items():
        _print_split(name or str(path), split)


def _print_split(title: str, split: dict) -> None:
    table = Table(title=f"{escape(title)}: {split['patches']} patches in {len(split['wells'])} wells")
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
        f"{escape(str(summary['source']))}: well {escape(repr(summary['name']))}, {summary['rows']} rows x "
        f"{summary['width']} px; {summary['corrupted_pixels']['total']} corrupted pixels, "
        f"{summary['fully_corrupted_rows']} fully corrupted rows"
    )
    if summary["mask"]:
        console.print(f"mask: {summary['mask']['corroded_pixel_fraction']:.2%} of pixels corroded")


def _print_log(summary: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
        return
    console.print(f"{escape(summary['file'])}: {summary['kind']} log, {len(summary['frames'])} frame(s)")
    for frame in summary["frames"]:
        span = frame.get("depth_range")
        table = Table(title=f"frame {escape(str(frame['frame']))}: {frame['rows']} rows, index "
                            f"{escape(str(frame['index']))}"
                            + (f" {span[0]:g} .. {span[1]:g}" if span else "")
                            + (f", {escape(str(frame['direction']).lower())}" if frame.get("direction") else ""))
        for column in ("channel", "unit", "values per depth", "description"):
            table.add_column(column)
        for channel in frame["channels"]:
            table.add_row(escape(channel["name"]), escape(str(channel["unit"] or "")),
                          str(channel["values_per_depth"]), escape(str(channel["long_name"] or "")))
        console.print(table)
    if summary["parameters"]:
        console.print("parameters: " + ", ".join(f"{escape(k)} = {escape(' '.join(v))}"
                                                 for k, v in summary["parameters"].items()))


@app.command("import")
@user_errors
def import_log(
    log: Annotated[Path, typer.Argument(metavar="LOG", help="Casing-inspection log: DLIS (RP66 v1) or LAS 2.0.")],
    out: Annotated[Path, typer.Option("--out", help="Well .npz to write.")],
    channel: Annotated[Optional[str], typer.Option(
        help="Thickness image channel (default: the one named as thickness; the error lists the candidates).")
    ] = None,
    nominal_wall: Annotated[Optional[float], typer.Option(
        help="Nominal wall thickness, in (when the log states none; overrides the log's).")] = None,
    od: Annotated[Optional[float], typer.Option(help="Casing outside diameter, in.")] = None,
    grade: Annotated[Optional[str], typer.Option(help="API 5CT grade, e.g. N80, P110 (for burst ratings).")] = None,
    thickness: Annotated[str, typer.Option(
        help="auto, absolute or minus-nominal (thickness minus nominal, as USIT's T2BK).")] = "auto",
    depth_step: Annotated[Optional[float], typer.Option(
        help="Resample the rows to this depth step, in the log's depth unit (ft for an index in 0.1 in).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUT if it exists.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
):
    """Import a DLIS or LAS casing log as a whole well (image, depth, nominal sizes)."""
    from corroseg.data.log_import import import_to_file
    from corroseg.data.logs import ImportOptions
    from corroseg.interpret.strength import grade as api_grade

    if grade is not None:
        api_grade(grade)  # an unknown grade is refused before anything is read
    options = ImportOptions(channel=channel, nominal_wall_in=nominal_wall, od_in=od, grade=grade,
                            thickness=thickness, depth_step=depth_step)
    with status(f"importing {log.name}"):
        result = import_to_file(log, out, options, force=force)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    for note in result["notes"]:
        console.print(f"note: {escape(note)}", highlight=False)
    sizes = ", ".join(f"{label} {result[key]:g} in" for label, key in (("OD", "od_in"), ("wall", "nominal_wall_in"))
                      if result[key] is not None) or "no casing sizes (pass --od and --nominal-wall to predict)"
    console.print(
        f"wrote {escape(result['out'])}: {result['rows']} rows x {result['width']} px "
        f"({result['logged_azimuths']} azimuths logged), depth {result['depth_top']:g} to {result['depth_bottom']:g} "
        f"{escape(result['depth_unit'])} every {result['depth_step']:g}; {sizes}"
        + (f", grade {escape(result['grade'])}" if result["grade"] else "")
        + f"; {result['valid_share']:.1%} valid readings", highlight=False)
    if "row_mean_loss_in" in result:
        loss = result["row_mean_loss_in"]
        console.print(f"row-mean wall below nominal (a loss all around shows only here): median "
                      f"{loss['median']:.4f} in, most {loss['max']:.4f} in", highlight=False)


@app.command()
@user_errors
def wells(
    data: Annotated[Path, typer.Argument(help="Dataset folder, image folder or .zip.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the well .npz files.")],
    split: Annotated[str, typer.Option(help="Split of a dataset folder: test or train (as predict and evaluate).")
                     ] = "test",
    width: WidthOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing well files.")] = False,
):
    """Rebuild whole wells (image and mask where labelled) from challenge patches."""
    from corroseg.data.export import export_wells

    from corroseg.data.challenge import find_image_source

    written = export_wells(data, out, split=split, widths=parse_widths(width), progress=True, force=force)
    source = Path(find_image_source(data, split))
    other = "train" if split == "test" else "test"
    hint = (f" (--split {other} for the x_{other} wells)"
            if source != Path(data) and (Path(data) / f"x_{other}").exists() else "")
    console.print(f"wrote {len(written)} wells of {escape(str(source))} to {escape(str(out))}{hint}")


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
def synth(
    out: Annotated[Path, typer.Argument(help="Folder to create (x_train/, y_train.csv, x_test/, y_test.csv, wells/).")],
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same dataset.")] = 0,
    wells: Annotated[Optional[int], typer.Option(help="Train wells (default: the preset's).")] = None,
    test_wells: Annotated[Optional[int], typer.Option(help="Test wells (default: the preset's).")] = None,
    preset: Annotated[str, typer.Option(
        help="default (challenge-sized, real textures, 40% of grooves as faint as the texture), bold (the default until 2026-12-07: bold grooves only), parametric (synthetic joint textures, no real data needed), small, tiny, or faint (a rejected experiment: faint grooves on generously painted joints).")
    ] = "default",
    overwrite: Annotated[bool, typer.Option("--force", "--overwrite",
                                            help="Replace OUT if it exists (a corroseg synthetic dataset only).")] = False,
    texture: Annotated[Optional[str], typer.Option(
        help="Joint textures: real (from the real wells in --real, corrosion painted out) or parametric "
             "(default: the preset's).")] = None,
    real: Annotated[Path, typer.Option(help="Real challenge data, the source of real textures.")] = Path(
        "../shared/data/challenge"),
    fmt: Annotated[Optional[str], typer.Option(
        "--format", help="Also write every well as a casing log in OUT/logs/: dlis or las "
                         "(7 in N-80 casing, 0.1 ft a row; docs/interpret.md).")] = None,
):
    """Write a synthetic dataset in the challenge format, with exact masks and whole wells."""
    from corroseg.synth.generator import write_dataset
    from corroseg.synth.logs import LOG_FORMATS

    if fmt is not None and fmt not in LOG_FORMATS:
        raise CorrosegUserError(f"--format {fmt!r}: choose {' or '.join(LOG_FORMATS)}")
    write_dataset(out, seed=seed, preset=preset, train_wells=wells, test_wells=test_wells,
                  overwrite=overwrite, progress=True, real=real, texture=texture, log_format=fmt)
    inspect(out, as_json=False, width=None)


@app.command()
@user_errors
def realism(
    synthetic: Annotated[Path, typer.Argument(help="Synthetic dataset (or any dataset) to judge.")],
    real: Annotated[Path, typer.Argument(help="Real dataset, e.g. ../shared/data/challenge.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    max_patches: Annotated[int, typer.Option(help="Clean patches per side in the two-sample tests.")] = 4000,
    seed: Annotated[int, typer.Option(help="Sampling and training seed.")] = 0,
    plots: Annotated[Optional[Path], typer.Option(help="Folder for comparison plots.")] = None,
    exclude_real: Annotated[list[str], typer.Option(
        metavar="WELLS", help="Real wells left out (the false-alarm test), e.g. 9,10 (comma-separated or repeated).")] = [
        ",".join(map(str, FALSE_ALARM_WELLS))],
    real_wells: Annotated[Optional[list[str]], typer.Option(metavar="WELLS", help="Only these real wells, e.g. 1,2,3.")] = None,
    synthetic_wells: Annotated[Optional[list[str]], typer.Option(metavar="WELLS", help="Only these wells of SYNTHETIC, e.g. 1,2.")] = None,
    protocol: Annotated[str, typer.Option(help="patches, wells or both (see docs/realism.md).")] = "both",
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing plots.")] = False,
    deep_patches: Annotated[int, typer.Option(
        help="Also train the deep critic on up to this many clean patches a side (0: skip; minutes).")] = 0,
):
    """Compare a synthetic dataset with real images: statistics and two-sample tests."""
    from corroseg.synth.realism import PROTOCOLS, load_sample
    from corroseg.synth.realism import realism as judge

    protocols = PROTOCOLS if protocol == "both" else (protocol,)
    if any(p not in PROTOCOLS for p in protocols):
        raise typer.BadParameter(f"{protocol!r}: expected patches, wells or both")
    lock = contextlib.nullcontext()
    if plots is not None:
        from corroseg.atomic import refuse_existing
        from corroseg.guard import output_lock, refuse_overwriting_inputs

        refuse_overwriting_inputs([plots / "statistics.png", plots / "wells.png"], datasets=[synthetic, real])
        refuse_existing([plots / "statistics.png", plots / "wells.png"], force)
        lock = output_lock(plots)
    excluded = parse_wells(exclude_real, "--exclude-real") or []
    chosen_real = parse_wells(real_wells, "--real-wells")
    chosen_synthetic = parse_wells(synthetic_wells, "--synthetic-wells")
    with status("loading wells"):
        synthetic_sample = load_sample(synthetic, "synthetic", wells=chosen_synthetic)
        real_sample = load_sample(real, "real", wells=chosen_real, exclude=excluded)
    with status("training the two-sample classifiers"):
        try:
            result = judge(synthetic_sample, real_sample, max_patches=max_patches, seed=seed, protocols=protocols,
                           deep_patches=deep_patches)
        except ValueError as exc:
            raise CorrosegInputError(synthetic, str(exc)) from None
    if plots is not None:
        from corroseg.report.realism_plots import plot_statistics, plot_wells

        with lock:
            result["plots"] = [
                str(plot_statistics(synthetic_sample, real_sample, plots / "statistics.png")),
                str(plot_wells(synthetic_sample, real_sample, plots / "wells.png")),
            ]
    if as_json:
        print(json.dumps(result, indent=2))
        return
    table = Table(title=f"medians: {len(synthetic_sample.clean)} synthetic vs {len(real_sample.clean)} real clean patches")
    for column in ("statistic", "synthetic", "real", "difference", ""):
        table.add_column(column, justify="right")
    for row in result["statistics"]:
        table.add_row(row["statistic"], f"{row['synthetic']:.4g}", f"{row['real']:.4g}",
                      f"{row['relative_difference']:.0%}", "ok" if row["within_tolerance"] else "[red]off[/]")
    console.print(table)
    for name, test in result["two_sample_tests"].items():
        console.print(f"two-sample accuracy ({name} protocol, {result['patches_per_side']} patches a side): "
                      f"logistic {test['logistic_accuracy']:.3f}, CNN {test['cnn_accuracy']:.3f} "
                      f"(0.5 = indistinguishable, target <= {result['targets']['accuracy_at_most']})")
        if "deep_cnn_accuracy" in test:
            console.print(f"  deep critic ({test['deep_patches_per_side']} patches a side): "
                          f"{test['deep_cnn_accuracy']:.3f}")
    verdict = "[green]meets[/]" if result["meets_targets"] else "[red]does not meet[/]"
    console.print(f"{verdict} the realism targets "
                  f"({result['statistics_within_tolerance']}/{result['statistics_compared']} statistics within 25%)")
    for plot in result.get("plots", []):
        console.print(f"plot: {escape(plot)}")

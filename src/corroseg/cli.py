"""The ``corroseg`` command line: parse, call one function per command, print."""

from __future__ import annotations

import contextlib
import functools
import json
import signal
import sys
import threading
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.errors import MarkupError
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from corroseg.data.challenge import FALSE_ALARM_WELLS
from corroseg.errors import CorrosegInputError, CorrosegUserError

try:  # typer vendors click since 0.2x; older versions use click itself
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover
    from click.exceptions import UsageError

class SafeConsole(Console):
    """A console that prints text whose markup does not parse (a path holding '[/]') as plain text."""

    def render_str(self, text, **options):
        try:
            return super().render_str(text, **options)
        except MarkupError:
            return super().render_str(text, **{**options, "markup": False})


console = SafeConsole()
err_console = SafeConsole(stderr=True)


def print_error(text: str) -> None:
    """``error: TEXT`` on stderr as one line: no markup, no line breaks, never wrapped."""
    err_console.print(f"[red]error:[/] {escape(' '.join(str(text).splitlines()))}", highlight=False,
                      soft_wrap=True, emoji=False)


@contextlib.contextmanager
def _one_line_usage_errors():
    """A bad option value or a missing argument prints one line too (exit code 2), not a usage box."""
    try:
        yield
    except UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare command: its help is the answer
            raise
        hint = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
        print_error(exc.format_message() + hint)
        raise typer.Exit(exc.exit_code) from None


class OneLineErrors(TyperGroup):
    """The command group: usage errors as one line, like every other error a user can cause."""

    def make_context(self, info_name, args, parent=None, **extra):
        with _one_line_usage_errors():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx):
        with _one_line_usage_errors():
            return super().invoke(ctx)


app = typer.Typer(
    cls=OneLineErrors,
    help="Find corrosion in ultrasonic wall-thickness images of well casings.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _terminated(signum, frame):
    raise KeyboardInterrupt("terminated (SIGTERM)")


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (a scheduler or ``kill``) stops a command as Ctrl-C does: cleanly, with a message."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM that caused ``exc`` (a module import turns it into an ImportError), if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _say_interrupted(exc: KeyboardInterrupt) -> None:
    hint = f": {exc}" if str(exc) else ""
    err_console.print(f"[red]interrupted[/]{escape(hint)}", highlight=False, soft_wrap=True, emoji=False)


def user_errors(command):
    """Print user-caused errors as one line and exit with code 2, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings(), _sigterm_as_interrupt():
            warnings.simplefilter("always")
            warnings.showwarning = lambda message, *a, **k: err_console.print(
                f"[yellow]warning:[/] {escape(str(message))}", highlight=False, soft_wrap=True, emoji=False
            )
            try:
                return command(*args, **kwargs)
            except CorrosegUserError as exc:
                print_error(str(exc))
                raise typer.Exit(2) from None
            except OSError as exc:  # permissions, full disk, a file where a folder should be
                where = exc.filename or "corroseg"
                print_error(f"{where}: {exc.strerror or exc}")
                raise typer.Exit(2) from None
            except KeyboardInterrupt as exc:  # outputs are atomic: nothing half-written is left
                _say_interrupted(exc)
                raise typer.Exit(130) from None
            except Exception as exc:  # noqa: BLE001 - an interrupt inside an import surfaces as ImportError
                interrupt = _interrupt_behind(exc)
                if interrupt is None:
                    raise
                _say_interrupted(interrupt)
                raise typer.Exit(130) from None

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
            raise typer.BadParameter(f"{value!r}: expected WIDTH or WELL=WIDTH", param_hint="--width") from None
        if widths[key] not in (36, 72):
            raise typer.BadParameter(f"{value!r}: width must be 36 or 72", param_hint="--width")
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


@app.command()
@user_errors
def wells(
    data: Annotated[Path, typer.Argument(help="Dataset folder, image folder or .zip.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the well .npz files.")],
    split: Annotated[str, typer.Option(help="train or test.")] = "train",
    width: WidthOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing well files.")] = False,
):
    """Rebuild whole wells (image and mask where labelled) from challenge patches."""
    from corroseg.data.export import export_wells

    written = export_wells(data, out, split=split, widths=parse_widths(width), progress=True, force=force)
    console.print(f"wrote {len(written)} wells to {escape(str(out))}")


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
        help="default (challenge-sized, real textures), parametric (the default before issue 10), small or tiny.")
    ] = "default",
    overwrite: Annotated[bool, typer.Option("--force", "--overwrite",
                                            help="Replace OUT if it exists (a corroseg synthetic dataset only).")] = False,
    texture: Annotated[Optional[str], typer.Option(
        help="Joint textures: real (from the real wells in --real, corrosion painted out) or parametric "
             "(default: the preset's).")] = None,
    real: Annotated[Path, typer.Option(help="Real challenge data, the source of real textures.")] = Path(
        "../shared/data/challenge"),
):
    """Write a synthetic dataset in the challenge format, with exact masks and whole wells."""
    from corroseg.synth.generator import write_dataset

    write_dataset(out, seed=seed, preset=preset, train_wells=wells, test_wells=test_wells,
                  overwrite=overwrite, progress=True, real=real, texture=texture)
    inspect(out, as_json=False, width=None)


def _well_list(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(w) for w in text.split(",") if w.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r}: expected comma-separated well numbers") from None


@app.command()
@user_errors
def realism(
    synthetic: Annotated[Path, typer.Argument(help="Synthetic dataset (or any dataset) to judge.")],
    real: Annotated[Path, typer.Argument(help="Real dataset, e.g. ../shared/data/challenge.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    max_patches: Annotated[int, typer.Option(help="Clean patches per side in the two-sample tests.")] = 4000,
    seed: Annotated[int, typer.Option(help="Sampling and training seed.")] = 0,
    plots: Annotated[Optional[Path], typer.Option(help="Folder for comparison plots.")] = None,
    exclude_real: Annotated[str, typer.Option(help="Real wells left out (the false-alarm test).")] = ",".join(map(str, FALSE_ALARM_WELLS)),
    real_wells: Annotated[Optional[str], typer.Option(help="Only these real wells, e.g. 1,2,3.")] = None,
    synthetic_wells: Annotated[Optional[str], typer.Option(help="Only these wells of SYNTHETIC.")] = None,
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
    excluded = _well_list(exclude_real) or []
    chosen_real = _well_list(real_wells)
    chosen_synthetic = _well_list(synthetic_wells)
    with err_console.status("loading wells"):
        synthetic_sample = load_sample(synthetic, "synthetic", wells=chosen_synthetic)
        real_sample = load_sample(real, "real", wells=chosen_real, exclude=excluded)
    with err_console.status("training the two-sample classifiers"):
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


OverridesArgument = Annotated[
    Optional[list[str]],
    typer.Argument(help="Config overrides key=value, e.g. max_epochs=5 model_options.channels=[8,16,32,48].",
                   show_default=False),
]


@app.command()
@user_errors
def train(
    data: Annotated[Path, typer.Argument(help="Dataset folder (x_train/ + y_train*.csv, optionally wells/).")],
    out: Annotated[Path, typer.Option("--out", help="Run folder to create (the trained bundle).")],
    overrides: OverridesArgument = None,
    model: Annotated[Optional[str], typer.Option(help="Architecture (see `corroseg models`); default: the preset's.")] = None,
    config: Annotated[Optional[str], typer.Option(help="Preset name (default, paper) or a YAML file.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue RUN from its last checkpoint.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing run folder.")] = False,
    accelerator: Annotated[Optional[str], typer.Option(help="cpu, gpu or auto (config key accelerator).")] = None,
    devices: Annotated[Optional[int], typer.Option(help="Number of devices (processes for DDP).")] = None,
    strategy: Annotated[Optional[str], typer.Option(help="auto, ddp, ddp_spawn ... (config key strategy).")] = None,
    max_time: Annotated[Optional[float], typer.Option(help="Seconds of training at most (config key max_time).")] = None,
    folds: Annotated[Optional[int], typer.Option(
        help="Cross-validation: train K runs on well-grouped folds, keep out-of-fold predictions.")] = None,
):
    """Train a model on labelled wells; write a run folder that evaluate and predict read.

    The decision threshold is tuned on held-out training wells (the validation wells,
    or every well's out-of-fold prediction with --folds) and kept in RUN/threshold.json.
    """
    from corroseg.workflows.train import train as train_run
    from corroseg.train.config import load_config

    overrides = list(overrides or [])
    cfg = None
    if resume and (model is not None or config is not None):
        raise CorrosegUserError("--model and --config cannot change a run being resumed (it keeps its own); "
                                "start a new run instead")
    if not resume:
        cfg = load_config(config, overrides, model=model, accelerator=accelerator, devices=devices,
                          strategy=strategy, max_time=max_time)
    else:
        extra = [f"{k}={v}" for k, v in (("accelerator", accelerator), ("devices", devices),
                                          ("strategy", strategy), ("max_time", max_time)) if v is not None]
        overrides += extra
    run = train_run(data, out, cfg, folds=folds, resume=resume, force=force, progress=True, overrides=overrides,
                    status=lambda text: console.print(f"[yellow]{escape(text)}[/]"))
    if folds:
        _print_folds(run)
        return
    metrics_file = run / "metrics.json"
    if metrics_file.exists():
        metrics = json.loads(metrics_file.read_text())
        best = metrics.get("best", {})
        console.print(
            f"run {escape(str(run))}: best val_iou {_fmt(best.get('val_iou'))} "
            f"(iou_nonempty {_fmt(best.get('val_iou_nonempty'))}) at epoch {best.get('epoch')}; "
            f"{metrics['epochs']} epochs, stopped by {metrics['stopped_by']}, "
            f"{_fmt(metrics['train_patches_per_s'], '.0f')} patches/s"
        )


def _print_folds(run: Path) -> None:
    summary = json.loads((run / "folds.json").read_text())
    table = Table(title=f"{escape(str(run))}: out-of-fold figures (threshold 0.5)")
    for column in ("fold", "held-out wells", "patches", "iou", "iou_nonempty"):
        table.add_column(column, justify="right")
    for fold in summary["per_fold"]:
        table.add_row(str(fold["fold"]), ",".join(map(str, fold["wells"])), str(fold["patches"]),
                      _fmt(fold["iou"]), _fmt(fold["iou_nonempty"]))
    console.print(table)
    tuned = json.loads((run / "threshold.json").read_text())
    console.print(f"out-of-fold iou {summary['oof_iou_mean']:.4f} +- {summary['oof_iou_std']:.4f} over folds; "
                  f"threshold tuned on them: {tuned['threshold']:.3f} (iou {tuned['iou']:.4f} vs "
                  f"{tuned['iou_at_0.5']:.4f} at 0.5)")


RunsArgument = Annotated[
    list[Path],
    typer.Argument(metavar="RUN", help="Run folder(s) written by `corroseg train`; several runs (or a --folds run) "
                                       "predict as an ensemble (mean probability).", show_default=False),
]

ThresholdOption = Annotated[
    Optional[str],
    typer.Option("--threshold", help="Decision threshold: a number in (0, 1), or 'tuned' (tuned on held-out "
                                     "training wells at training time). Default: the run's config."),
]


EngineOption = Annotated[
    str, typer.Option("--engine", help="What runs the network: torch, onnx (ONNX Runtime: same masks, faster on "
                                       "CPU), or auto: onnx where the run has a model.onnx from `corroseg export`.")]


WalkerOption = Annotated[
    Optional[bool],
    typer.Option("--random-walker/--no-random-walker",
                 help="The paper's random-walker post-processing of uncertain pixels (default: the run's config)."),
]


def _load_predictor(runs: list[Path], threshold: str | None, tta: bool | None, engine: str = "auto",
                    walker: bool | None = None):
    from corroseg.infer.ensemble import load_predictor
    from corroseg.infer.options import PredictOptions

    return load_predictor(runs, PredictOptions(threshold=threshold, tta=tta, engine=engine, random_walker=walker))


TTAOption = Annotated[
    Optional[bool],
    typer.Option("--tta/--no-tta", help="Test-time augmentation: average over flips and a roll (default: the run's)."),
]


def _check_split(split: str) -> None:
    from corroseg.data.challenge import SPLITS

    if split not in SPLITS:
        raise typer.BadParameter(f"{split!r}: expected {' or '.join(SPLITS)}", param_hint="--split")


def _fmt(value, spec: str = ".4f") -> str:
    """A figure for people: ``n/a`` where there is none (None or NaN)."""
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    return format(value, spec)


def _print_json(data) -> None:
    """Strict JSON on stdout: NaN (a figure that does not exist) becomes null."""
    from corroseg.atomic import json_safe

    print(json.dumps(json_safe(data), indent=2, allow_nan=False))


def _print_scores(title: str, result: dict) -> None:
    console.print(
        f"{title}: challenge metric (iou) [bold]{_fmt(result['iou'])}[/], iou_nonempty {_fmt(result['iou_nonempty'])}, "
        f"global IoU {result['global_iou']:.4f}, precision {result['precision']:.3f}, recall {result['recall']:.3f}, "
        f"F1 {result['f1']:.3f}, false-alarm rate {result['false_alarm_rate']:.3%} ({result['patches']} patches)"
    )
    table = Table(title="per well")
    for column in ("well", "patches", "iou", "iou_nonempty", "precision", "recall", "false alarms"):
        table.add_column(column, justify="right")
    for well, row in result["per_well"].items():
        table.add_row(well, str(row["patches"]), _fmt(row["iou"]), _fmt(row["iou_nonempty"]),
                      f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['false_alarm_rate']:.3%}")
    console.print(table)
    if "clean_patches" in result:
        clean = result["clean_patches"]
        console.print(f"on the {clean['patches']} patches without corrupted pixels: iou {_fmt(clean['iou'])}, "
                      f"iou_nonempty {_fmt(clean['iou_nonempty'])}")


@app.command()
@user_errors
def evaluate(
    runs: RunsArgument,
    data: Annotated[Path, typer.Argument(help="Dataset folder with labels for SPLIT.")],
    split: Annotated[str, typer.Option(help="train or test.")] = "test",
    false_alarm: Annotated[Optional[Path], typer.Option(
        "--false-alarm", help="Folder of corrosion-free patches (default wells 9 and 10 of a real x_train).")] = None,
    keep_corrupted: Annotated[bool, typer.Option(
        "--keep-corrupted", help="Do not empty patches holding corrupted pixels (the challenge labels do).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    width: WidthOption = None,
    tta: TTAOption = None,
    threshold: ThresholdOption = None,
    engine: EngineOption = "auto",
    walker: WalkerOption = None,
):
    """Challenge metric, iou_nonempty, precision, recall, F1 and a per-well table.

    A cross-validation run is scored as the ensemble of its folds, and each fold alone
    (mean and spread over folds).
    """
    _check_split(split)
    from corroseg.infer.options import PredictOptions
    from corroseg.workflows.evaluate import evaluate_runs

    options = PredictOptions(threshold=threshold, tta=tta, engine=engine, random_walker=walker)
    result = evaluate_runs(runs, data, split, options, widths=parse_widths(width), blank_corrupted=not keep_corrupted,
                           false_alarm=false_alarm, status=err_console.status)
    if as_json:
        _print_json(result)
        return
    title = " + ".join(map(str, runs))
    _print_scores(f"{escape(title)} on {escape(str(data))} ({split}), threshold {result['threshold']:.3f}", result)
    if "folds" in result:
        folds = result["folds"]
        console.print("each fold alone: " + ", ".join(
            f"{key} {folds[key]['mean']:.4f} +- {folds[key]['std']:.4f} (min {folds[key]['min']:.4f}, "
            f"max {folds[key]['max']:.4f})" for key in ("iou", "iou_nonempty")))
    if "false_alarm" in result:
        fa = result["false_alarm"]
        console.print(f"false alarms on {escape(str(fa['source']))} wells {fa['wells']}: {fa['rate']:.3%} of "
                      f"{fa['valid_pixels']} valid pixels predicted as corrosion")


@app.command()
@user_errors
def predict(
    runs: RunsArgument,
    source: Annotated[Path, typer.Argument(metavar="INPUT", help="Challenge image folder, dataset folder, .zip, well .npz, or folder of wells.")],
    out: Annotated[Path, typer.Option("--out", help="OUT.csv (submission), OUT.npz (one well) or a folder (one .npz + .png per well).")],
    split: Annotated[str, typer.Option(help="Split of a dataset folder to predict: test or train.")] = "test",
    keep_corrupted: Annotated[bool, typer.Option(
        "--keep-corrupted", help="Do not empty patches holding corrupted pixels in a submission.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing outputs.")] = False,
    width: WidthOption = None,
    tta: TTAOption = None,
    threshold: ThresholdOption = None,
    engine: EngineOption = "auto",
    walker: WalkerOption = None,
):
    """Predict a submission CSV for challenge patches, or a mask + PNG strip for whole wells."""
    _check_split(split)
    from corroseg.workflows.predict import predict_path

    predictor = _load_predictor(runs, threshold, tta, engine, walker)
    folder = not out.suffix  # many wells: a progress bar over wells instead of a spinner
    with contextlib.nullcontext() if folder else err_console.status("predicting"):
        result = predict_path(predictor, source, out, split=split, blank_corrupted=not keep_corrupted,
                              widths=parse_widths(width), force=force, progress=folder, runs=runs)
    if result["kind"] == "submission":
        console.print(f"wrote {escape(result['csv'])}: {result['patches']} patches, "
                      f"{result['patches_with_corrosion']} with corrosion")
        return
    for well in [result] if result["kind"] == "well" else result["wells"]:
        console.print(f"{escape(str(well['well']))}: {well['rows']} x {well['width']}, {well['corroded_fraction']:.2%} "
                      f"of valid pixels corroded -> {escape(well['npz'])}, {escape(well['png'])}")


@app.command()
@user_errors
def export(
    run: Annotated[Path, typer.Argument(help="Run folder written by `corroseg train`.")],
    fmt: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
    out: Annotated[Optional[Path], typer.Option("--out", help="File to write (default: RUN/model.onnx).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists.")] = False,
):
    """Export a trained model for other runtimes, checked against torch before it is written."""
    from corroseg.infer.onnx import TOLERANCE, export_run

    if fmt != "onnx":
        raise CorrosegUserError(f"--format {fmt!r} is not supported; choose onnx")
    path = export_run(run, out, force=force)
    console.print(f"wrote {escape(str(path))} (logits within {TOLERANCE:g} of torch); predict with --engine onnx")


@app.command()
@user_errors
def report(
    run: Annotated[Path, typer.Argument(help="Run folder written by `corroseg train` (or a cross-validation run).")],
    data: Annotated[Optional[Path], typer.Option(
        help="Labelled dataset to score (default: the dataset the run was trained on).")] = None,
    real: Annotated[Optional[Path], typer.Option(
        help="Real challenge data: false alarms on wells 9 and 10, real wells pictured.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="HTML file to write (default RUN/report.html).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing report.")] = False,
):
    """One self-contained HTML report: config, learning curves, per-well scores, wells, calibration, real wells."""
    from corroseg.report.html import write_report

    with err_console.status("writing the report") as status:
        path = write_report(run, out=out, data=data, real=real, force=force,
                            progress=lambda message: status.update(message))
    console.print(f"report: {escape(str(path))}")


@app.command()
@user_errors
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo's outputs.")] = Path("demo_out"),
    real: Annotated[Path, typer.Option(help="Real challenge data (false alarms, a grooved real well) when present.")] = Path("../shared/data/challenge"),
    preset: Annotated[str, typer.Option(help="Synthetic preset: default (the real demo), small or tiny (a quick look).")] = "default",
    train_seconds: Annotated[float, typer.Option(help="Training budget in seconds.")] = 420.0,
    overrides: OverridesArgument = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the outputs of an earlier demo in OUT.")] = False,
):
    """Synthesise wells, train the default model, evaluate it, measure false alarms on real wells 9 and 10,
    predict a grooved real well and a synthetic one, and say where everything is."""
    from corroseg.workflows.demo import check_out, run_demo

    check_out(out, force)  # before the banner: a refusal is one line
    console.rule("corroseg demo: synthetic wells -> train -> evaluate -> predict")
    summary = run_demo(out, real, say=lambda text: console.print(f"[yellow]{escape(text)}[/]"), preset=preset,
                       train_seconds=train_seconds, overrides=tuple(overrides or ()), force=force)
    console.rule("summary")
    test = summary["synthetic_test"]
    training = summary["training"]
    console.print(f"trained {training['epochs']} epochs in {training['train_seconds']:.0f} s "
                  f"({_fmt(training['train_patches_per_s'], '.0f')} patches/s); run folder: {escape(summary['run'])}")
    console.print(f"masks: {escape(summary['prediction'])}")
    console.print(f"held-out synthetic test wells ({test['patches']} patches): challenge metric "
                  f"[bold]{_fmt(test['iou'])}[/], iou_nonempty [bold]{_fmt(test['iou_nonempty'])}[/], "
                  f"precision {test['precision']:.3f}, recall {test['recall']:.3f}")
    clean = test["clean_patches"]
    console.print(f"  on the {clean['patches']} test patches without corrupted pixels: challenge metric "
                  f"{_fmt(clean['iou'])}, iou_nonempty {_fmt(clean['iou_nonempty'])}")
    if "real_false_alarms" in summary:
        fa = summary["real_false_alarms"]
        console.print(f"real wells {fa['wells']} (no corrosion): [bold]{fa['rate']:.3%}[/] of valid pixels "
                      "flagged as corrosion (false alarms)")
    for picture in summary["pictures"]:
        console.print(f"picture: {escape(picture)}")
    console.print(f"report: [bold]{escape(summary['report'])}[/] (one HTML file; open it in a browser)")
    timings = ", ".join(f"{k} {v:.0f} s" for k, v in summary["timings_s"].items())
    console.print(f"time: {timings}; figures in {escape(str(Path(out) / 'summary.json'))}")


def main() -> None:  # pragma: no cover - console-script shim
    sys.exit(app())

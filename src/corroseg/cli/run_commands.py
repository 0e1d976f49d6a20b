"""Commands on runs: train, evaluate, predict, export, report, demo."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from corroseg.cli.common import (OverridesArgument, WidthOption, app, check_split, console, err_console, fmt,
                                 parse_widths, print_json, status, user_errors)
from corroseg.errors import CorrosegUserError


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
    num_nodes: Annotated[Optional[int], typer.Option(
        help="Machines of a multi-machine run, each started with the same command (config key num_nodes; "
             "docs/fleet.md).")] = None,
    strategy: Annotated[Optional[str], typer.Option(help="auto, ddp, ddp_spawn ... (config key strategy).")] = None,
    max_time: Annotated[Optional[float], typer.Option(help="Seconds of training at most (config key max_time).")] = None,
    max_epochs: Annotated[Optional[int], typer.Option(help="Epochs at most (config key max_epochs).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed of the run (config key seed).")] = None,
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
    flags = {k: v for k, v in (("accelerator", accelerator), ("devices", devices), ("num_nodes", num_nodes),
                               ("strategy", strategy),
                               ("max_time", max_time), ("max_epochs", max_epochs), ("seed", seed)) if v is not None}
    if not resume:
        cfg = load_config(config, overrides, model=model, **flags)
    else:  # the run's own config, changed only where a resume may change it (refused otherwise)
        overrides += [f"{k}={v}" for k, v in flags.items()]
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
            f"run {escape(str(run))}: best val_iou {fmt(best.get('val_iou'))} "
            f"(iou_nonempty {fmt(best.get('val_iou_nonempty'))}) at epoch {fmt(best.get('epoch'), '.0f')}; "
            f"{metrics['epochs']} epochs, stopped by {metrics['stopped_by']}, "
            f"{fmt(metrics['train_patches_per_s'], '.0f')} patches/s"
        )
        warn_if_cut_while_improving(metrics)


def warn_if_cut_while_improving(metrics: dict) -> None:
    """Say so when a time limit stopped training while the validation score was still improving."""
    if metrics.get("cut_while_improving"):
        err_console.print(f"[yellow]warning:[/] training was stopped by {metrics['stopped_by']} while the validation "
                          f"score was still improving (best at epoch {fmt(metrics['best'].get('epoch'), '.0f')} of "
                          f"{metrics['epochs']}): more time would likely give a better model", highlight=False,
                          soft_wrap=True)


def _print_folds(run: Path) -> None:
    summary = json.loads((run / "folds.json").read_text())
    table = Table(title=f"{escape(str(run))}: out-of-fold figures (threshold 0.5)")
    for column in ("fold", "held-out wells", "patches", "iou", "iou_nonempty"):
        table.add_column(column, justify="right")
    for fold in summary["per_fold"]:
        table.add_row(str(fold["fold"]), ",".join(map(str, fold["wells"])), str(fold["patches"]),
                      fmt(fold["iou"]), fmt(fold["iou_nonempty"]))
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


DeviceOption = Annotated[
    str, typer.Option("--device", help="Where the network runs (torch engine): cpu, cuda, cuda:N, or auto (a GPU "
                                       "when torch sees one).")]


def _options(threshold: str | None, tta: bool | None, engine: str, walker: bool | None, device: str,
             threads: int | None = None):
    """The command line's prediction options, validated once (:class:`corroseg.infer.options.PredictOptions`)."""
    from corroseg.infer.options import PredictOptions

    return PredictOptions(threshold=threshold, tta=tta, engine=engine, random_walker=walker, device=device,
                          threads=threads)


def _predict_fleet(runs, source, out, options, scheduler, threads_per_worker, split, width, resume, force) -> None:
    """``predict --scheduler``: the wells on a Dask cluster; exit code 1 when some wells failed."""
    from corroseg.workflows.fleet import predict_fleet

    result = predict_fleet(runs, source, out, options, scheduler, threads_per_worker, split=split,
                           widths=parse_widths(width), resume=resume, force=force,
                           say=lambda text: err_console.print(escape(text), highlight=False))
    console.print(f"{result['done']} wells predicted, {result['skipped']} already done, {len(result['failed'])} "
                  f"failed; outputs in {escape(result['folder'])}, the record in {escape(result['manifest'])}")
    for name, reason in result["failed"].items():
        err_console.print(f"[red]failed:[/] {escape(name)}: {escape(reason)}", highlight=False)
    if result["failed"]:
        raise typer.Exit(1)


TTAOption = Annotated[
    Optional[bool],
    typer.Option("--tta/--no-tta", help="Test-time augmentation: average over flips and a roll (default: the run's)."),
]


def _print_scores(title: str, result: dict) -> None:
    console.print(
        f"{title}: challenge metric (iou) [bold]{fmt(result['iou'])}[/], iou_nonempty {fmt(result['iou_nonempty'])}, "
        f"global IoU {result['global_iou']:.4f}, precision {fmt(result['precision'], '.3f')}, "
        f"recall {fmt(result['recall'], '.3f')}, "
        f"F1 {fmt(result['f1'], '.3f')}, false-alarm rate {result['false_alarm_rate']:.3%} ({result['patches']} patches)"
    )
    table = Table(title="per well")
    for column in ("well", "patches", "iou", "iou_nonempty", "precision", "recall", "false alarms"):
        table.add_column(column, justify="right")
    for well, row in result["per_well"].items():
        table.add_row(well, str(row["patches"]), fmt(row["iou"]), fmt(row["iou_nonempty"]),
                      fmt(row['precision'], '.3f'), fmt(row['recall'], '.3f'), f"{row['false_alarm_rate']:.3%}")
    console.print(table)
    if "clean_patches" in result:
        clean = result["clean_patches"]
        console.print(f"on the {clean['patches']} patches without corrupted pixels: iou {fmt(clean['iou'])}, "
                      f"iou_nonempty {fmt(clean['iou_nonempty'])}")
    if result["precision"] != result["precision"]:  # NaN: not one pixel was flagged
        err_console.print("[yellow]warning:[/] the model flagged no pixel of these wells: precision is n/a, and a 0% "
                          "false-alarm rate says nothing about it", highlight=False, soft_wrap=True)


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
    out: Annotated[Optional[Path], typer.Option("--out", help="Also write the figures as JSON to this file.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --out file.")] = False,
    width: WidthOption = None,
    tta: TTAOption = None,
    threshold: ThresholdOption = None,
    engine: EngineOption = "auto",
    walker: WalkerOption = None,
    device: DeviceOption = "cpu",
):
    """Challenge metric, iou_nonempty, precision, recall, F1 and a per-well table.

    A cross-validation run is scored as the ensemble of its folds, and each fold alone
    (mean and spread over folds).
    """
    check_split(split)
    from corroseg.workflows.evaluate import evaluate_runs

    options = _options(threshold, tta, engine, walker, device)
    result = evaluate_runs(runs, data, split, options, widths=parse_widths(width), blank_corrupted=not keep_corrupted,
                           false_alarm=false_alarm, status=status, out=out, force=force)
    if as_json:
        print_json(result)
        return
    title = " + ".join(map(str, runs))
    _print_scores(f"{escape(title)} on {escape(str(data))} ({split}), threshold {result['threshold']:.3f}", result)
    if "folds" in result:
        folds = result["folds"]
        console.print("each fold alone: " + ", ".join(
            f"{key} {folds[key]['mean']:.4f} +- {folds[key]['std']:.4f} (min {folds[key]['min']:.4f}, "
            f"max {folds[key]['max']:.4f})" for key in ("iou", "iou_nonempty")))
    if "sensitivity" in result:
        from corroseg.infer.sensitivity import describe

        console.print(f"faint grooves: {describe(result['sensitivity'])}", highlight=False)
    if "false_alarm" in result:
        fa = result["false_alarm"]
        console.print(f"false alarms on {escape(str(fa['source']))} wells {fa['wells']}: {fa['rate']:.3%} of "
                      f"{fa['valid_pixels']} valid pixels predicted as corrosion")


@app.command()
@user_errors
def predict(
    paths: Annotated[list[Path], typer.Argument(
        metavar="[RUN]... INPUT", show_default=False,
        help="Run folder(s) written by `corroseg train` (several, or a --folds run: an ensemble; none: the shipped "
             "model, docs/model_card.md), then INPUT: a challenge image folder, dataset folder, .zip, well .npz, "
             "folder of wells, or a DLIS / LAS casing log.")],
    out: Annotated[Path, typer.Option("--out", help="OUT.csv (submission), OUT.npz (one well) or a folder (one .npz + .png per well; with casing sizes also the defect list, joint tally, .xlsx and .curves.las).")],
    split: Annotated[str, typer.Option(help="Split of a dataset folder to predict: test or train.")] = "test",
    keep_corrupted: Annotated[bool, typer.Option(
        "--keep-corrupted", help="Do not empty patches holding corrupted pixels in a submission.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing outputs.")] = False,
    width: WidthOption = None,
    tta: TTAOption = None,
    threshold: ThresholdOption = None,
    engine: EngineOption = "auto",
    walker: WalkerOption = None,
    device: DeviceOption = "cpu",
    threads: Annotated[Optional[int], typer.Option(help="Torch / ONNX Runtime threads (default: theirs).")] = None,
    scheduler: Annotated[Optional[str], typer.Option(
        help="Predict the wells on a Dask cluster, one task per well: local:N (N worker processes here) or "
             "tcp://HOST:PORT. INPUT may then also be a glob or a .txt list of wells; OUT is a folder with "
             "manifest.json.")] = None,
    threads_per_worker: Annotated[int, typer.Option(help="With --scheduler: torch threads of each worker.")] = 1,
    resume: Annotated[bool, typer.Option(
        "--resume", help="With --scheduler: skip the wells whose outputs are complete and match manifest.json.")
                      ] = False,
    od: Annotated[Optional[float], typer.Option(help="Casing outside diameter, in, for wells that state none.")] = None,
    nominal_wall: Annotated[Optional[float], typer.Option(
        help="Nominal wall thickness, in, for wells that state none.")] = None,
    grade: Annotated[Optional[str], typer.Option(
        help="API 5CT grade (N80, P110, ...) for the screening burst ratings, for wells that state none.")] = None,
):
    """Predict a submission CSV for challenge patches, or a mask + PNG strip for whole wells and logs.

    A well or log with casing sizes also gets its defect list, joint tally and screening burst rating.
    """
    check_split(split)
    runs, source = _runs_and_input(paths)
    casing = _casing_options(od, nominal_wall, grade)
    options = _options(threshold, tta, engine, walker, device, threads)
    if scheduler is not None:
        if (od, nominal_wall, grade) != (None, None, None):
            raise CorrosegUserError("--od, --nominal-wall and --grade go with one prediction, not --scheduler: "
                                    "a fleet's wells state their sizes (corroseg import LOG --od ... --grade ...)")
        _predict_fleet(runs, source, out, options, scheduler, threads_per_worker, split, width, resume, force)
        return
    if resume:
        raise CorrosegUserError("--resume goes with --scheduler (a fleet prediction keeps a manifest to resume from)")
    from corroseg.infer.ensemble import load_predictor
    from corroseg.infer.sensitivity import describe_well
    from corroseg.workflows.predict import predict_path

    predictor = load_predictor(runs, options)
    wells = out.suffix != ".csv"  # whole wells: a bar of rows (and of wells for a folder) instead of a spinner
    with contextlib.nullcontext() if wells else status("predicting"):
        result = predict_path(predictor, source, out, split=split, blank_corrupted=not keep_corrupted,
                              widths=parse_widths(width), force=force, progress=wells, runs=runs, casing=casing)
    if result["kind"] == "submission":
        console.print(f"wrote {escape(result['csv'])}: {result['patches']} patches, "
                      f"{result['patches_with_corrosion']} with corrosion")
        return
    for well in [result] if result["kind"] == "well" else result["wells"]:
        console.print(f"{escape(str(well['well']))}: {well['rows']} x {well['width']}, {well['corroded_fraction']:.2%} "
                      f"of valid pixels corroded -> {escape(well['npz'])}, {escape(well['png'])}")
        console.print(f"  {describe_well(well['sensitivity'])}", highlight=False)
        _print_answer(well["answer"])


def _runs_and_input(paths: list[Path]) -> tuple[list[Path], Path]:
    """``[RUN]... INPUT``: the runs (the shipped model when none is given) and the input."""
    from corroseg.infer.shipped import shipped_run

    *runs, source = paths
    if not runs:
        run = shipped_run()
        err_console.print(f"no run given: predicting with the shipped model ({run.name}, docs/model_card.md)",
                          highlight=False)
        runs = [run]
    return runs, source


def _casing_options(od, nominal_wall, grade):
    """The casing options of predict, an unknown grade refused before any work."""
    from corroseg.interpret.strength import grade as api_grade
    from corroseg.workflows.predict import CasingOptions

    if grade is not None:
        api_grade(grade)
    for flag, value in (("--od", od), ("--nominal-wall", nominal_wall)):
        if value is not None and not value > 0:
            raise CorrosegUserError(f"{flag} {value:g}: a size in inches must be positive")
    if od is not None and nominal_wall is not None and nominal_wall >= od / 2:
        raise CorrosegUserError(f"--nominal-wall {nominal_wall:g} in is not less than half of --od {od:g} in")
    return CasingOptions(od_in=od, wall_in=nominal_wall, grade=grade)


def _print_answer(answer: dict) -> None:
    """One line of the engineer's answer of a well (or why there is none)."""
    if "skipped" in answer:
        console.print(f"  {escape(answer['skipped'])}", highlight=False)
        return
    lowest = answer["lowest_failure_psi"]
    zones = answer["low_confidence_zones"]
    console.print(
        f"  {answer['defects']} defects (deepest {answer['deepest_loss_pct']:.0f}% of wall), {answer['joints']} joints "
        f"(collars from the {answer['collars_from']})"
        + (f", lowest screening failure pressure {lowest:,.0f} psi" if lowest is not None else "")
        + (f", {len(zones)} low-confidence zones" if zones else "")
        + f" -> {escape(answer['defects_csv'])}, {escape(answer['joints_csv'])}, {escape(answer['xlsx'])}, "
        f"{escape(answer['las'])}, {escape(answer['log_png'])}", highlight=False)


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
    from corroseg.workflows.report import write_report

    with status("writing the report") as shown:
        path = write_report(run, out=out, data=data, real=real, force=force, progress=shown.update)
    console.print(f"report: {escape(str(path))}")


@app.command()
@user_errors
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo's outputs.")] = Path("demo_out"),
    real: Annotated[Path, typer.Option(help="Real challenge data (false alarms, a grooved real well) when present.")] = Path("../shared/data/challenge"),
    preset: Annotated[str, typer.Option(help="Synthetic preset: default (the real demo), small or tiny (a quick look).")] = "default",
    train_seconds: Annotated[float, typer.Option(
        help="A safety cap on training, in seconds; the budget is the default recipe's epochs, with early stopping.")] = 1200.0,
    overrides: OverridesArgument = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the outputs of an earlier demo in OUT.")] = False,
):
    """Synthesise wells, train the default model, evaluate it, measure false alarms on real wells 9 and 10,
    predict a grooved real well and a synthetic one, and say where everything is."""
    from corroseg.infer.sensitivity import describe, describe_well
    from corroseg.workflows.demo import check_out, run_demo

    check_out(out, force)  # before the banner: a refusal is one line
    console.rule("corroseg demo: synthetic wells -> train -> evaluate -> predict")
    summary = run_demo(out, real, say=lambda text: console.print(f"[yellow]{escape(text)}[/]"), preset=preset,
                       train_seconds=train_seconds, overrides=tuple(overrides or ()), force=force)
    console.rule("summary")
    test = summary["synthetic_test"]
    training = summary["training"]
    warn_if_cut_while_improving(training)
    console.print(f"trained {training['epochs']} epochs in {training['train_seconds']:.0f} s "
                  f"({fmt(training['train_patches_per_s'], '.0f')} patches/s); run folder: {escape(summary['run'])}")
    console.print(f"masks: {escape(summary['prediction'])}")
    console.print(f"held-out synthetic test wells ({test['patches']} patches): challenge metric "
                  f"[bold]{fmt(test['iou'])}[/], iou_nonempty [bold]{fmt(test['iou_nonempty'])}[/], "
                  f"precision {fmt(test['precision'], '.3f')}, recall {fmt(test['recall'], '.3f')}")
    clean = test["clean_patches"]
    console.print(f"  on the {clean['patches']} test patches without corrupted pixels: challenge metric "
                  f"{fmt(clean['iou'])}, iou_nonempty {fmt(clean['iou_nonempty'])}")
    if "real_false_alarms" in summary:
        fa = summary["real_false_alarms"]
        console.print(f"real wells {fa['wells']} (no corrosion): [bold]{fa['rate']:.3%}[/] of valid pixels "
                      "flagged as corrosion (false alarms)")
    console.print(f"faint grooves: {describe(summary['sensitivity']['test'])}", highlight=False)
    for picture, figures in zip(summary["pictures"], summary["picture_figures"]):
        console.print(f"picture: {escape(picture)} ({figures['corroded_fraction']:.1%} of valid pixels flagged; "
                      f"{describe_well(figures['sensitivity'])})", highlight=False)
    log = summary["log"]
    console.print(f"casing log: {escape(log['log'])} imported as {escape(log['well'])}, then predicted:")
    _print_answer(log)
    console.print("  the same with a real log: corroseg inspect LOG; corroseg import LOG --out WELL.npz [--grade N80]; "
                  f"corroseg predict {escape(summary['run'])} WELL.npz --out ANSWERS/", highlight=False)
    console.print(f"report: [bold]{escape(summary['report'])}[/] (one HTML file; open it in a browser)")
    timings = ", ".join(f"{k} {v:.0f} s" for k, v in summary["timings_s"].items())
    console.print(f"time: {timings}; figures in {escape(str(Path(out) / 'summary.json'))}")

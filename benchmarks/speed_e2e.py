"""Speed benchmark, part 4: end to end, ``corroseg predict RUN WELL.npz`` on one real well in fresh processes.

The well is assembled from ``--data`` (or given as ``--well-file``); without ``--run`` a
throwaway run is trained first (tiny synthetic data, one short epoch; not counted). Each
variant (run defaults, ``--engine onnx``, ``--no-tta``) is timed with its peak RSS by
``cli_peak.run_measured``, the variants taking turns.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from cli_peak import run_measured
from docs_tables import fmt
from speed_common import UserMistake, child_env, log, median, one_line


def check_run(run: Path) -> Path:
    """``run`` if it is a finished run folder, else a :class:`UserMistake`."""
    from corroseg.train.config import CONFIG, SCALER, WEIGHTS

    if not run.is_dir():
        raise UserMistake(f"--run {run}: no such folder (give a run folder written by `corroseg train`)")
    missing = [n for n in (CONFIG, WEIGHTS, SCALER) if not (run / n).is_file()]
    if missing:
        raise UserMistake(f"--run {run}: not a finished run folder (missing {', '.join(missing)})")
    return run


def corroseg_cli(args: list[str], env: dict) -> subprocess.CompletedProcess:
    """``python -m corroseg ARGS`` in a child, output captured; a failure raises with its last line."""
    done = subprocess.run([sys.executable, "-m", "corroseg", *args], env=env, capture_output=True, text=True)
    if done.returncode:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"corroseg {args[0]} exited {done.returncode}: {last[0][:200]}")
    return done


def throwaway_run(work: Path, env: dict) -> tuple[Path, float]:
    """Train a run quickly (tiny synthetic data, one short epoch on CPU); its path and seconds."""
    start = time.perf_counter()
    data, run = work / "synth", work / "run"
    corroseg_cli(["synth", str(data), "--preset", "tiny", "--force"], env)
    corroseg_cli(["train", str(data), "--out", str(run), "--force", "--accelerator", "cpu",
                  "max_epochs=1", "windows_per_epoch=64", "tta=true", "postprocess=random_walker"], env)
    return run, time.perf_counter() - start


def prepare_well(args, work: Path) -> tuple[Path | None, str]:
    """A well .npz to predict and its description; (None, reason) when there is none."""
    if args.well_file is not None:
        return args.well_file, getattr(args, "well_description", f"{args.well_file} (given)")
    data = args.data
    if not data.exists():
        return None, f"real data folder {data} not found (give --data or --well-file)"
    from corroseg.data.challenge import read_images
    from corroseg.data.wells import Well, assemble, resolve_width, save_well

    images = read_images(data, args.split)
    patches = images.images[images.wells == args.well]
    if not len(patches):
        return None, f"{data}: no {args.split} well {args.well}"
    width, _ = resolve_width(args.well, patches)
    image = assemble(patches, width)
    out = args.save_well or work / f"{args.split}_well_{args.well}.npz"
    out.parent.mkdir(parents=True, exist_ok=True)
    save_well(out, Well(image, name=f"{args.split} well {args.well}"))
    return out, f"{args.split} well {args.well} of {data} ({image.shape[0]:,} x {image.shape[1]})"


def e2e_variants() -> list[tuple[str, list[str]]]:
    return [("run defaults (TTA + random walker, engine auto)", []),
            ("--engine onnx", ["--engine", "onnx"]),
            ("--no-tta", ["--no-tta"])]


def measure_end_to_end(args, work: Path) -> dict:
    """``corroseg predict`` on one well in fresh child processes, variants interleaved."""
    result: dict = {"rows": []}
    env = child_env()
    os.environ["PYTHONPATH"] = env["PYTHONPATH"]  # cli_peak's child inherits os.environ
    well, description = prepare_well(args, work)
    if well is None:
        result["skipped"] = description
        log(f"end to end: SKIPPED, {description}")
        return result
    result["well"] = description
    result["well_file"] = str(well)
    run = args.run
    if run is None:
        log("end to end: training a throwaway run (synth --preset tiny, 1 short epoch; not counted)")
        run, seconds = throwaway_run(work, env)
        result["setup_seconds"] = seconds
        result["run"] = "throwaway (tiny synthetic data, 1 epoch of 64 windows)"
        log(f"end to end: throwaway run ready in {seconds:.1f} s")
    else:
        result["run"] = str(run)
    result.update(_run_facts(run))
    times: dict[str, list[dict]] = {name: [] for name, _ in e2e_variants()}
    for r in range(args.e2e_repeats):
        for name, extra in e2e_variants():
            out = work / "prediction.npz"
            try:
                measured = run_measured(["predict", str(run), str(well), "--out", str(out), "--force", *extra])
            except Exception as exc:
                measured = {"exit": None, "error": one_line(exc)}
            times[name].append(measured)
            log(f"end to end {name} repeat {r + 1}/{args.e2e_repeats}: exit {measured.get('exit')}, "
                f"{fmt(measured.get('seconds'))} s, peak RSS {fmt(measured.get('peak_rss_mib'))} MiB")
    for name, extra in e2e_variants():
        ok = [m for m in times[name] if m.get("exit") in (0, None) and "seconds" in m]
        failed = [m for m in times[name] if m not in ok]
        row = {"variant": name, "args": extra, "repeats": times[name],
               "seconds": median([m["seconds"] for m in ok]),
               "peak_rss_mib": median([m["peak_rss_mib"] for m in ok])}
        if failed:
            row["error"] = failed[0].get("error") or f"exit {failed[0].get('exit')}"
        result["rows"].append(row)
    return result


def _run_facts(run: Path) -> dict:
    """The run's model, TTA, post-processing and what engine auto picks."""
    try:
        from corroseg.train.rundir import RunDir
        from corroseg.train.config import CONFIG, read_config

        cfg = read_config(Path(run) / CONFIG)
        return {"model": cfg.model, "tta": cfg.tta, "postprocess": cfg.postprocess,
                "auto_engine": "onnx" if RunDir(run).has_fresh_onnx else "torch"}
    except Exception as exc:
        return {"run_facts_error": one_line(exc)}

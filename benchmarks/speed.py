"""Speed benchmark: matmul ceilings, per-model training/inference throughput, one real well end to end.

Usage
-----
    python benchmarks/speed.py --quick --docs /tmp/speed.md --json /tmp/speed.json
    python benchmarks/speed.py [--run RUN] [--data ../shared/data/challenge | --well-file WELL.npz]
    python benchmarks/speed.py --skip-models --skip-e2e --save-well .bench/well5.npz   # write the well only
    PYTHONPATH=src python benchmarks/speed.py --quick --device cuda --well-file .bench/well5.npz \\
        --section speed-cuda --docs /tmp/speed_cuda.md --json /tmp/speed_cuda.json

Everything is measured in one process on one machine, because shared machines drift:
read ratios measured in the same run rather than absolute figures. Every measurement is
repeated ``--repeats`` times, the settings of one model taking turns (interleaved), and
the median is reported. A progress line is printed per measurement.

What is measured
----------------
1. Matrix-multiply ceilings (GFLOP/s) with ``torch.matmul`` of square matrices: fp32 and
   bf16 on CPU; fp32 without TF32, TF32 and bf16 on CUDA; plus a memory-copy bandwidth
   (GB/s, bytes read + written) used for a roofline estimate.
2. Per model of the registry: forward FLOPs per 36x36 patch (``forward_flops``, a
   multiply-add = 2); training throughput (AdamW step, loss "bce + iou") in 36x36-patch
   equivalents per second for fp32/bf16-autocast x NCHW/channels_last; inference
   throughput (eval, inference mode) for eager fp32, eager bf16 autocast and ONNX Runtime;
   achieved GFLOP/s (training counts 3 x forward FLOPs) and its fraction of the matching
   precision's ceiling.
3. End to end: seconds and peak RSS of ``corroseg predict RUN WELL.npz --out OUT`` on real
   test well 5 (70,740 x 36) in a fresh child process, with the run's defaults (TTA and
   random walker on, engine auto), with ``--engine onnx`` and with ``--no-tta``. Without
   ``--run`` a throwaway run is trained first (tiny synthetic data, one short epoch; its
   time is reported apart and not counted).
4. Goals (met / missed): on CPU, wellnet inference >= 60 % and training >= 50 % of the
   precision's matmul ceiling; test well 5 end to end in < 60 s with peak RSS < 2 GB.

The markdown section goes between ``<!-- speed:begin -->`` and ``<!-- speed:end -->`` of
``--docs`` (``--section NAME`` changes ``speed``), replaced atomically or appended.

Parts
-----
This script parses the arguments and runs the sections; the work is in modules beside it
(benchmarks/ is on ``sys.path``): ``speed_common`` (clock, progress lines, timing loop),
``speed_ceilings`` (machine facts, matmul ceilings, copy bandwidth), ``speed_models`` (model
specs, step functions, rates, efficiency), ``speed_isolated`` (one model measured in child
processes of this script), ``speed_e2e`` (``corroseg predict`` end to end) and
``speed_report`` (goals, markdown); tables and files go through ``docs_tables``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/: the speed_* parts, docs_tables, cli_peak
from docs_tables import write_json, write_section  # noqa: E402
from speed_ceilings import machine, measure_ceilings  # noqa: E402
from speed_common import REPO, STARTED, UserMistake, free_memory, log, one_line  # noqa: E402
from speed_e2e import check_run, measure_end_to_end, prepare_well  # noqa: E402
from speed_isolated import child_main, measure_model  # noqa: E402
from speed_models import MODEL_NAMES, model_specs  # noqa: E402
from speed_report import goals, markdown  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="few repeats, small matrices, smaller CPU batches, sadd_unet scaled down on CPU")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where the ceilings and model tables are measured (auto: cuda if available)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--repeats", type=int, help="interleaved repeats (default 1 quick, 3 full)")
    parser.add_argument("--min-seconds", type=float, help="least time per measurement (default 0.3 quick, 1.0 full)")
    parser.add_argument("--matrix", type=int, help="matmul size (default CPU 1024 quick / 2048 full; CUDA 8192)")
    parser.add_argument("--models", nargs="+", choices=MODEL_NAMES, default=list(MODEL_NAMES))
    parser.add_argument("--run", type=Path, help="trained run folder (default: a throwaway one)")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "challenge",
                        help="real challenge data (default ../shared/data/challenge from the repo root)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--well", type=int, default=5)
    parser.add_argument("--well-file", type=Path, help="a well .npz to predict instead of assembling --data")
    parser.add_argument("--save-well", type=Path, help="also keep the assembled well .npz here (to carry elsewhere)")
    parser.add_argument("--e2e-repeats", type=int, help="predictions per variant (default 1 quick, 2 full)")
    parser.add_argument("--work", type=Path, help="keep the throwaway run and outputs here (default: a temp dir)")
    parser.add_argument("--skip-models", action="store_true", help="no ceilings or model tables")
    parser.add_argument("--skip-e2e", action="store_true", help="no end-to-end prediction")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--docs", type=Path, help="markdown file whose speed section is written / replaced")
    parser.add_argument("--section", default="speed", help="marker name in --docs (default: speed)")
    parser.add_argument("--in-process", action="store_true",
                        help="measure models in this process (default: one child process per model, so that "
                             "a crash in native code loses one setting, not the run)")
    parser.add_argument("--child-model", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-skip", action="append", default=[], help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def check_args(args: argparse.Namespace) -> torch.device:
    """Settle defaults and refuse what cannot work, as a :class:`UserMistake`."""
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UserMistake("--device cuda: torch sees no CUDA device (torch "
                          f"{torch.__version__}, built with CUDA {torch.version.cuda})")
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    for flag, path in (("--json", args.json), ("--docs", args.docs)):
        if path is not None and not path.parent.is_dir():
            raise UserMistake(f"{flag} {path}: folder {path.parent} does not exist")
        if path is not None and path.is_dir():
            raise UserMistake(f"{flag} {path}: is a folder; give a file name")
    if args.well_file is not None and not args.well_file.is_file():
        raise UserMistake(f"--well-file {args.well_file}: no such file")
    if args.well_file is not None and args.well_file.suffix != ".npz":
        raise UserMistake(f"--well-file {args.well_file}: not a well .npz")
    if args.run is not None and not args.skip_e2e:
        check_run(args.run)
    if args.threads is not None:
        if args.threads < 1:
            raise UserMistake(f"--threads {args.threads}: must be at least 1")
        torch.set_num_threads(args.threads)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.min_seconds = args.min_seconds or (0.3 if args.quick else 1.0)
    args.e2e_repeats = args.e2e_repeats or (1 if args.quick else 2)
    args.matrix = args.matrix or (8192 if device.type == "cuda" else (1024 if args.quick else 2048))
    for flag in ("repeats", "e2e_repeats", "matrix"):
        if getattr(args, flag) < 1:
            raise UserMistake(f"--{flag.replace('_', '-')}: must be at least 1")
    return device


def run_all(args: argparse.Namespace, device: torch.device, command: str) -> dict:
    """Every section, each guarded: a failure is recorded and the rest still runs."""
    results = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "command": command,
               "mode": "quick" if args.quick else "full", "repeats": args.repeats,
               "min_seconds": args.min_seconds, "machine": machine(device)}
    log(f"device {device}, {torch.get_num_threads()} torch threads, {results['mode']} mode")
    if args.save_well is not None and args.well_file is None:
        try:
            saved, description = prepare_well(args, args.save_well.parent)
            log(f"well saved: {saved} ({description})" if saved else f"--save-well: nothing saved, {description}")
            args.well_file, args.well_description = saved, description
        except Exception as exc:
            log(f"--save-well FAILED: {one_line(exc)}")
    if not args.skip_models:
        try:
            results["ceilings"] = measure_ceilings(device, args.matrix, args.repeats, args.min_seconds)
            free_memory(device)
        except Exception as exc:
            results["ceilings"] = {"error": one_line(exc), "gflops": {}, "errors": {}}
            log(f"ceilings FAILED: {results['ceilings']['error']}")
        ceilings, bandwidth = results["ceilings"], results["ceilings"].get("copy_gbps")
        results["models"] = []
        for spec in model_specs(device, args.quick):
            if spec.name in args.models:
                results["models"].append(measure_model(spec, args, device, ceilings, bandwidth))
    if not args.skip_e2e:
        with tempfile.TemporaryDirectory(prefix="corroseg_speed_") as tmp:
            work = args.work or Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            try:
                results["end_to_end"] = measure_end_to_end(args, work)
            except Exception as exc:
                results["end_to_end"] = {"error": one_line(exc), "rows": []}
                log(f"end to end FAILED: {results['end_to_end']['error']}")
    results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    results["peak_rss_mib_benchmark"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["seconds"] = time.perf_counter() - STARTED
    results["goals"] = goals(results)
    return results


def command_line() -> str:
    """How this run was started, as one could type it again from the repository root."""
    pythonpath = os.environ.get("PYTHONPATH")
    executable = Path(sys.executable)
    python = os.path.relpath(executable, REPO) if REPO in executable.absolute().parents else "python"
    words = [python, os.path.relpath(Path(sys.argv[0]).resolve(), REPO), *sys.argv[1:]]
    return " ".join(([f"PYTHONPATH={shlex.quote(pythonpath)}"] if pythonpath else []) + [shlex.quote(w) for w in words])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_model:
        return child_main(args)
    command = command_line()
    try:
        device = check_args(args)
    except UserMistake as exc:
        print(f"speed.py: error: {exc}", file=sys.stderr)
        return 2
    results = run_all(args, device, command)
    section = markdown(results)
    print("\n" + section, flush=True)
    if args.json:
        write_json(args.json, results, default=str)
        log(f"figures written to {args.json}")
    if args.docs:
        write_section(args.docs, section, args.section)
        log(f"section <!-- {args.section}:begin/end --> written to {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Casing logs: import speed, what the answer adds to ``predict``, and agreement with the synthetic truth.

Usage::

    python benchmarks/logs.py --run demo_out/run --data demo_out/synthetic [--rows 70000] \\
        [--docs docs/benchmarks.md] [--json OUT.json]

1. **Import speed.** The 72 px synthetic wells of ``--data`` are stacked into one
   ``--rows``-row, 72-azimuth well, written as DLIS (USIT layout: "0.1 in", bottom-up,
   thickness minus nominal) and as LAS 2.0 (``THK[i]`` curves). ``corroseg import`` is
   timed in a fresh process (start-up included) and in process (median of 3).
2. **Cost of the answer.** On that well: the run's prediction (probability and mask, as
   ``predict`` makes them) against ``answer_well`` (zones, collars, defect list, tally) and
   each file of the answer.
3. **Agreement with the truth**, on the test wells of ``--data`` (7 in N-80 casing, 0.1 ft a
   row, as synthetic logs state): the defect list of the predicted mask against the defect
   list of the true mask, both made by the same code. A predicted defect matches a true one
   when their depth intervals overlap and their deepest points are within half the wider
   defect's width (plus 10 degrees) around the casing; pairs are taken by depth overlap,
   largest first. Collars found in the image against the generator's (within 10 rows).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from corroseg.data.log_import import import_log
from corroseg.data.wells import Well, load_well
from corroseg.infer.ensemble import load_predictor
from corroseg.interpret.answers import answer_well, casing_of
from corroseg.interpret.joints import find_collars
from corroseg.synth.logs import as_logged, write_well_log
from corroseg.workflows.predict import answer_outputs, write_answer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_tables import fmt, md_table, pct, publish  # noqa: E402  (a sibling module)

CORROSEG = str(Path(sys.executable).parent / "corroseg")
COLLAR_TOLERANCE_ROWS = 10


def long_well(data: Path, rows: int) -> Well:
    """The 72 px wells of ``data`` stacked (train then test, repeated) to ``rows`` rows."""
    parts, total = [], 0
    wells = [load_well(p) for p in sorted((data / "wells").glob("*.npz"))]
    wide = [w for w in wells if w.width == 72]
    if not wide:
        raise SystemExit(f"{data}: no 72 px well to build a 72-azimuth log from")
    while total < rows:
        for well in wide:
            parts.append(well.image)
            total += well.image.shape[0]
            if total >= rows:
                break
    return Well(np.concatenate(parts)[:rows], name=f"{rows}-row log")


def timed(function, repeats: int = 3) -> tuple[float, object]:
    """Median seconds of ``repeats`` calls and the last result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return float(np.median(times)), result


def import_speed(well: Well, work: Path) -> dict:
    """Import times of the well as DLIS and as LAS."""
    figures = {"rows": int(well.image.shape[0]), "azimuths": well.width}
    for fmt_name in ("dlis", "las"):
        path = work / f"long.{fmt_name}"
        started = time.perf_counter()
        write_well_log(well, path)
        write_s = time.perf_counter() - started
        seconds, imported = timed(lambda: import_log(path))
        started = time.perf_counter()
        subprocess.run([CORROSEG, "import", str(path), "--out", str(work / f"{fmt_name}.npz"), "--force"],
                       check=True, capture_output=True)
        cli_s = time.perf_counter() - started
        assert np.array_equal(imported.valid, well.valid)
        figures[fmt_name] = {"mib": path.stat().st_size / 2**20, "write_s": write_s, "import_s": seconds,
                             "cli_s": cli_s}
        print(json.dumps({fmt_name: figures[fmt_name]}), flush=True)
    return figures


def answer_cost(predictor, well: Well, work: Path) -> dict:
    """Prediction against answer time on one imported well."""
    started = time.perf_counter()
    probability = predictor.predict_well(well.image)
    mask = predictor.segment_well(well.image, probability)
    predict_s = time.perf_counter() - started
    casing, why = casing_of(well)
    if casing is None:
        raise SystemExit(why)
    answer_s, answer = timed(lambda: answer_well(well, probability, mask, casing))
    files = {}
    for key, path in answer_outputs(work / "cost.npz").items():
        started = time.perf_counter()
        write_answer({key: path}, well, probability, mask, answer)
        files[key] = time.perf_counter() - started
    figures = {"predict_s": predict_s, "answer_s": answer_s, "files_s": files, "defects": len(answer.defects),
               "joints": len(answer.joints), "zones": len(answer.zones)}
    print(json.dumps(figures), flush=True)
    return figures


def match(predicted: list, truth: list, width: int) -> list[tuple]:
    """Pairs (predicted, true) of defects: depth overlap and deepest points close around the casing."""
    def degrees(clock: str) -> float:
        hours, minutes = map(int, clock.split(":"))
        return ((hours % 12) * 60 + minutes) / 2.0

    candidates = []
    for i, p in enumerate(predicted):
        for j, t in enumerate(truth):
            overlap = min(p.bottom_depth, t.bottom_depth) - max(p.top_depth, t.top_depth)
            turn = abs(degrees(p.clock) - degrees(t.clock)) % 360
            if overlap > 0 and min(turn, 360 - turn) <= max(p.width_deg, t.width_deg) / 2 + 10:
                candidates.append((overlap, i, j))
    pairs, used_p, used_t = [], set(), set()
    for _, i, j in sorted(candidates, reverse=True):
        if i not in used_p and j not in used_t:
            pairs.append((predicted[i], truth[j]))
            used_p.add(i)
            used_t.add(j)
    return pairs


def agreement(predictor, data: Path) -> dict:
    """Defect lists of predicted and true masks, and collars, over the test wells of ``data``."""
    manifest = json.loads((data / "synth.json").read_text())["wells"]
    pairs, n_pred, n_true, planted = [], 0, 0, 0
    collars = {"true": 0, "found": 0, "matched": 0, "offsets": []}
    for path in sorted((data / "wells").glob("test_well_*.npz")):
        number = path.stem.split("_")[-1]
        well = as_logged(load_well(path))
        probability = predictor.predict_well(well.image)
        mask = predictor.segment_well(well.image, probability)
        casing, _ = casing_of(well)
        predicted = answer_well(well, probability, mask, casing).defects
        truth = answer_well(well, well.mask.astype(np.float32), well.mask, casing).defects
        pairs += match(predicted, truth, well.width)
        n_pred, n_true = n_pred + len(predicted), n_true + len(truth)
        planted += manifest[f"test_{number}"]["defects"]
        true_collars = np.asarray(manifest[f"test_{number}"]["collars"])
        found = find_collars(well.image)
        collars["true"] += len(true_collars)
        collars["found"] += len(found)
        for row in true_collars:
            if len(found) and np.abs(found - row).min() <= COLLAR_TOLERANCE_ROWS:
                collars["matched"] += 1
                collars["offsets"].append(int(found[np.argmin(np.abs(found - row))] - row))
    top = [abs(p.top_depth - t.top_depth) for p, t in pairs]
    length = [abs(p.length_in - t.length_in) for p, t in pairs]
    relative = [abs(p.length_in - t.length_in) / t.length_in for p, t in pairs]
    loss = [abs(p.max_loss_pct - t.max_loss_pct) for p, t in pairs]
    figures = {
        "planted_defects": planted, "true_defects": n_true, "predicted_defects": n_pred, "matched": len(pairs),
        "recall": len(pairs) / max(n_true, 1), "precision": len(pairs) / max(n_pred, 1),
        "median_top_error_ft": float(np.median(top)) if top else None,
        "median_length_error_in": float(np.median(length)) if length else None,
        "median_length_error_rel": float(np.median(relative)) if relative else None,
        "median_max_loss_error_pct": float(np.median(loss)) if loss else None,
        "class_agreement": float(np.mean([p.pof_class == t.pof_class for p, t in pairs])) if pairs else None,
        "collars": {**collars, "mean_offset_rows": float(np.mean(collars.pop("offsets") or [np.nan]))},
    }
    print(json.dumps(figures), flush=True)
    return figures


def markdown(speed: dict, cost: dict, agree: dict, command: str) -> str:
    files = cost["files_s"]
    rows = [[name.upper(), fmt(speed[name]["mib"]), fmt(speed[name]["write_s"]), fmt(speed[name]["import_s"]),
             fmt(speed[name]["cli_s"])] for name in ("dlis", "las")]
    exports = ", ".join(f"{k} {v:.2f} s" for k, v in files.items())
    c = agree["collars"]
    return "\n".join([
        f"Measured {time.strftime('%Y-%m-%d')} on this 2-core machine with `{command}`.",
        "",
        f"**Import** of a {speed['rows']:,}-row, {speed['azimuths']}-azimuth log (synthetic wells stacked):",
        "",
        md_table(["format", "file (MiB)", "write (s)", "import in process (s)", "`corroseg import` (s)"], rows,
                 {1, 2, 3, 4}),
        "",
        f"**What the answer adds to `predict`** on that well: prediction {cost['predict_s']:.1f} s; zones, collars, "
        f"defect list and tally {cost['answer_s']:.2f} s (**{pct(cost['answer_s'] / cost['predict_s'])}** of the "
        f"prediction; {cost['defects']} defects, {cost['joints']} joints, {cost['zones']} low-confidence zones); "
        f"writing the files: {exports} "
        f"({pct(sum(files.values()) / cost['predict_s'])} of the prediction, all files together).",
        "",
        f"**Agreement with the synthetic truth** on the {agree['true_defects']} defects of the true masks of the "
        f"test wells (the generator planted {agree['planted_defects']}; planted defects closer than 3 walls are one):",
        "",
        md_table(["predicted defects", "matched", "recall", "precision", "median top error", "median length error",
                  "median max-loss error", "same POF class"],
                 [[agree["predicted_defects"], agree["matched"], pct(agree["recall"]), pct(agree["precision"]),
                   f"{fmt(agree['median_top_error_ft'])} ft", f"{fmt(agree['median_length_error_in'])} in "
                   f"({pct(agree['median_length_error_rel'])})", f"{fmt(agree['median_max_loss_error_pct'])} % of wall",
                   pct(agree["class_agreement"])]], set(range(8))),
        "",
        f"**Collars** found in the image: {c['matched']} of {c['true']} within {COLLAR_TOLERANCE_ROWS} rows "
        f"({pct(c['matched'] / max(c['true'], 1))}), {c['found'] - c['matched']} extra, mean offset "
        f"{fmt(c['mean_offset_rows'])} rows (the band's first strong row against the generator's first band row).",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a trained run (e.g. demo_out/run)")
    parser.add_argument("--data", type=Path, required=True, help="a synthetic dataset (e.g. demo_out/synthetic)")
    parser.add_argument("--rows", type=int, default=70_000)
    parser.add_argument("--docs", type=Path, default=None, help="markdown file whose logs section is replaced")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    command = "python benchmarks/logs.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    predictor = load_predictor([args.run])
    with tempfile.TemporaryDirectory(prefix="corroseg-logs-") as tmp:
        work = Path(tmp)
        well = long_well(args.data, args.rows)
        speed = import_speed(well, work)
        cost = answer_cost(predictor, import_log(work / "long.dlis"), work)
    agree = agreement(predictor, args.data)
    publish(markdown(speed, cost, agree, command), "logs", {"import": speed, "answer": cost, "agreement": agree},
            args.json, args.docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

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

import json
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
from docs_tables import command_line, fmt, md_table, pct, publish, script_parser  # noqa: E402  (a sibling module)

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


def _degrees(clock: str) -> float:
    hours, minutes = map(int, clock.split(":"))
    return ((hours % 12) * 60 + minutes) / 2.0


def overlaps(a, b) -> bool:
    """Two defects overlap along depth and their deepest points are close around the casing."""
    overlap = min(a.bottom_depth, b.bottom_depth) - max(a.top_depth, b.top_depth)
    turn = abs(_degrees(a.clock) - _degrees(b.clock)) % 360
    return overlap > 0 and min(turn, 360 - turn) <= max(a.width_deg, b.width_deg) / 2 + 10


def detection(predicted: list, truth: list) -> dict:
    """Found true defects, predicted defects that are real, and each found defect's sizes.

    Many-to-one, as in-line inspection is scored (POD and false calls): a true defect is
    found when a predicted one overlaps it; a groove the model breaks in pieces is found once,
    and sized over the extent of its pieces.
    """
    real = sum(any(overlaps(p, t) for t in truth) for p in predicted)
    sizes = []
    for t in truth:
        pieces = [p for p in predicted if overlaps(p, t)]
        if pieces:
            top, bottom = min(p.top_depth for p in pieces), max(p.bottom_depth for p in pieces)
            length_in = (bottom - top) / (t.bottom_depth - t.top_depth) * t.length_in
            deepest = max(pieces, key=lambda p: p.max_loss_pct)
            sizes.append({"top": abs(top - t.top_depth), "length": abs(length_in - t.length_in),
                          "relative": abs(length_in - t.length_in) / t.length_in,
                          "loss": abs(deepest.max_loss_pct - t.max_loss_pct),
                          "same_class": deepest.pof_class == t.pof_class, "pieces": len(pieces)})
    return {"real": real, "sizes": sizes}


def agreement(predictor, data: Path, min_loss_pct: tuple[float, ...] = (0.0, 10.0)) -> dict:
    """Defect lists of predicted and true masks, and collars, over the test wells of ``data``.

    Scored at every depth and again for defects of at least 10 % of the wall on both
    sides (a usual reporting threshold of in-line inspection).
    """
    manifest = json.loads((data / "synth.json").read_text())["wells"]
    lists, planted = [], 0
    collars = {"true": 0, "found": 0, "matched": 0}
    offsets = []
    for path in sorted((data / "wells").glob("test_well_*.npz")):
        number = path.stem.split("_")[-1]
        well = as_logged(load_well(path))
        probability = predictor.predict_well(well.image)
        mask = predictor.segment_well(well.image, probability)
        casing, _ = casing_of(well)
        lists.append((answer_well(well, probability, mask, casing).defects,
                      answer_well(well, well.mask.astype(np.float32), well.mask, casing).defects))
        planted += manifest[f"test_{number}"]["defects"]
        true_collars = np.asarray(manifest[f"test_{number}"]["collars"])
        found = find_collars(well.image)
        collars["true"] += len(true_collars)
        collars["found"] += len(found)
        for row in true_collars:
            if len(found) and np.abs(found - row).min() <= COLLAR_TOLERANCE_ROWS:
                collars["matched"] += 1
                offsets.append(int(found[np.argmin(np.abs(found - row))] - row))
    rows = []
    for least in min_loss_pct:
        n_pred = n_true = real = 0
        sizes = []
        for predicted, truth in lists:
            predicted = [d for d in predicted if d.max_loss_pct >= least]
            truth = [d for d in truth if d.max_loss_pct >= least]
            found = detection(predicted, truth)
            n_pred, n_true, real = n_pred + len(predicted), n_true + len(truth), real + found["real"]
            sizes += found["sizes"]

        def median(key):
            return float(np.median([s[key] for s in sizes])) if sizes else None

        rows.append({"min_loss_pct": least, "true_defects": n_true, "predicted_defects": n_pred,
                     "found": len(sizes), "recall": len(sizes) / max(n_true, 1), "precision": real / max(n_pred, 1),
                     "median_top_error_ft": median("top"), "median_length_error_in": median("length"),
                     "median_length_error_rel": median("relative"), "median_max_loss_error_pct": median("loss"),
                     "class_agreement": float(np.mean([s["same_class"] for s in sizes])) if sizes else None,
                     "pieces_per_found": median("pieces")})
    figures = {"planted_defects": planted, "rows": rows,
               "collars": {**collars, "mean_offset_rows": float(np.mean(offsets)) if offsets else None}}
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
        f"**Agreement with the synthetic truth** on the test wells: the defect list of the predicted masks "
        f"against the defect list of the true masks, made by the same code (the generator planted "
        f"{agree['planted_defects']} defects; planted defects closer than 3 walls are one). A true defect is found "
        "when a predicted one overlaps it; a predicted defect is real when it overlaps a true one; sizes of a "
        "found defect are read over the extent of the predicted pieces that overlap it:",
        "",
        md_table(["defects", "true", "predicted", "found (recall)", "real (precision)", "median top error",
                  "median length error", "median max-loss error", "same POF class", "pieces per found defect"],
                 [[("all" if r["min_loss_pct"] == 0 else f">= {r['min_loss_pct']:g} % of wall"), r["true_defects"],
                   r["predicted_defects"], f"{r['found']} ({pct(r['recall'])})", pct(r["precision"]),
                   f"{fmt(r['median_top_error_ft'])} ft",
                   f"{fmt(r['median_length_error_in'])} in ({pct(r['median_length_error_rel'])})",
                   f"{fmt(r['median_max_loss_error_pct'])} % of wall", pct(r["class_agreement"]),
                   fmt(r["pieces_per_found"])] for r in agree["rows"]], set(range(1, 10))),
        "",
        f"**Collars** found in the image: {c['matched']} of {c['true']} within {COLLAR_TOLERANCE_ROWS} rows "
        f"({pct(c['matched'] / max(c['true'], 1))}), {c['found'] - c['matched']} extra, mean offset "
        f"{fmt(c['mean_offset_rows'])} rows (the band's first strong row against the generator's first band row).",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = script_parser(__doc__, "logs")
    parser.add_argument("--run", type=Path, required=True, help="a trained run (e.g. demo_out/run)")
    parser.add_argument("--data", type=Path, required=True, help="a synthetic dataset (e.g. demo_out/synthetic)")
    parser.add_argument("--rows", type=int, default=70_000)
    args = parser.parse_args(argv)
    command = command_line("logs.py", argv)
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

"""Post-processing settings measured on the same probabilities: synthetic test wells and the real wells.

Usage::

    python benchmarks/postprocess_sweep.py --real ../shared/data/challenge --runs RUN [RUN ...] \\
        --data DATA [DATA ...] [--settings SETTING ...] [--ensemble] [--json OUT.json]

Each run predicts its synthetic test wells (``--data``, one dataset per run, in order;
``--ensemble``: the runs together, on one dataset) and the 15 real train wells once;
every setting below then turns the same probabilities into masks: the random walker with
other corrosion markers (``walker_high``), the walker with short components dropped, or
the plain threshold. Per run and setting: the challenge metric and ``iou_nonempty`` on the
synthetic test wells, the share of patches and pixels flagged on real wells 1-8 and
11-15, the lowest well, and the false alarms on wells 9 and 10 (measured, never used to
choose).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

from corroseg.infer.ensemble import load_predictor
from corroseg.infer.evaluate import evaluate
from corroseg.infer.postprocess import RandomWalker
from corroseg.infer.real_wells import real_well_figures

SETTINGS = {
    "walker 0.1/0.9": dict(walker=(0.1, 0.9)),
    "walker 0.1/0.8": dict(walker=(0.1, 0.8)),
    "walker 0.1/0.7": dict(walker=(0.1, 0.7)),
    "walker 0.1/0.5": dict(walker=(0.1, 0.5)),
    "threshold 0.5": dict(threshold=0.5),
    "threshold 0.3": dict(threshold=0.3),
    **{f"walker 0.1/0.9, under {rows} rows dropped": dict(walker=(0.1, 0.9), min_rows=rows) for rows in (12, 24, 36, 54, 72)},
}
"""Settings as (low, high) walker markers (threshold 0.5 as its fallback) or a plain threshold; ``min_rows``
also drops every flagged component (8-connected) spanning fewer rows of depth."""


def cache_probabilities(predictor) -> None:
    """Predict each distinct well image once, whatever setting asks for it again."""
    predict, seen = predictor.predict_well, {}

    def cached(image):
        array = np.ascontiguousarray(image)
        key = hashlib.sha1(array.tobytes()).hexdigest() + str(array.shape)
        if key not in seen:
            seen[key] = predict(image)
        return seen[key]

    predictor.predict_well = cached


def drop_short_components(mask: np.ndarray, min_rows: int) -> np.ndarray:
    """``mask`` without its 8-connected components that span fewer than ``min_rows`` rows."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    if count == 0 or min_rows <= 1:
        return mask
    spans = np.array([0] + [rows.stop - rows.start for rows, _ in ndimage.find_objects(labels)])
    return (mask.astype(bool) & (spans >= min_rows)[labels]).astype(mask.dtype)


def apply(predictor, setting: dict) -> None:
    """Make ``predictor``'s masks by ``setting``; the walker keeps the run's other settings (its beta)."""
    if "walker" in setting:
        low, high = setting["walker"]
        walker = dataclasses.replace(RandomWalker.from_config(predictor.config), low=low, high=high)
        if "min_rows" in setting:
            def walker_then_drop(image, probability, threshold, walker=walker, rows=setting["min_rows"]):
                return drop_short_components(walker(image, probability, threshold), rows)
            predictor.postprocess, predictor.threshold = walker_then_drop, 0.5
        else:
            predictor.postprocess, predictor.threshold = walker, 0.5
    else:
        predictor.postprocess, predictor.threshold = None, setting["threshold"]


def sweep(runs: list[Path], data: Path, real: Path, settings: tuple[str, ...] = tuple(SETTINGS)) -> dict:
    """Every setting on ``runs`` (one run, or a seed ensemble: logits averaged) and ``data``'s test wells."""
    predictor = load_predictor(runs)
    run = Path("+".join(r.name for r in runs))
    cache_probabilities(predictor)
    rows = {}
    for name in settings:
        apply(predictor, SETTINGS[name])
        test = evaluate(predictor, data)
        figures = real_well_figures(predictor, real)
        rows[name] = {"iou": test["iou"], "iou_nonempty": test["iou_nonempty"],
                      "patch_share": figures["corroded_wells"]["patch_share"],
                      "pixel_share": figures["corroded_wells"]["pixel_share"],
                      "lowest_patch_share": figures["corroded_wells"]["lowest_patch_share"],
                      "false_alarm": figures["false_alarm"]["rate"],
                      "per_well": {w: r["patch_share"] for w, r in figures["per_well"].items()}}
        print(f"{run.name} {name:>16}: test {test['iou']:.4f} / {test['iou_nonempty']:.4f}, real "
              f"{rows[name]['patch_share']:.1%} / {rows[name]['pixel_share']:.2%}, lowest "
              f"{rows[name]['lowest_patch_share']:.0%}, false alarms {rows[name]['false_alarm']:.3%}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=Path("../shared/data/challenge"))
    parser.add_argument("--runs", type=Path, nargs="+", required=True)
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="each run's synthetic dataset")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS),
                        metavar="SETTING", help="which settings (default: all)")
    parser.add_argument("--ensemble", action="store_true",
                        help="the runs together as one seed ensemble (logits averaged), on the one --data")
    args = parser.parse_args(argv)
    if len(args.data) != (1 if args.ensemble else len(args.runs)):
        parser.error("give one --data per run (one in all with --ensemble)")
    groups = [(args.runs, args.data[0])] if args.ensemble else [([run], data) for run, data in zip(args.runs, args.data)]
    results = {"+".join(map(str, runs)): sweep(runs, data, args.real, args.settings) for runs, data in groups}
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

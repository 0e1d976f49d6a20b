"""What each prediction option does to quality: threshold, TTA, random walker, ensembles, folds, ONNX.

Usage::

    python benchmarks/options.py --data SYNTH --real ../shared/data/challenge \\
        --run RUN [--seeds RUN RUN ...] [--folds CVRUN] [--json OUT.json]

For every *system* (one run; each seed alone; the seeds' ensemble; a cross-validation
run's folds as an ensemble) the held-out synthetic test wells and real false-alarm wells
9 and 10 are predicted once (with and without TTA where asked), and every *variant* of
mask making is scored on those cached probabilities: threshold 0.5, the threshold tuned on
held-out training wells, and the random walker (either threshold as its fallback).
Columns: the challenge metric and ``iou_nonempty`` on the test split, the same on its
patches without corrupted pixels, the false-alarm rate on real wells 9/10, and the
seconds spent predicting (probabilities) and making masks.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from corroseg.data.challenge import FALSE_ALARM_WELLS, find_label_file, pair, read_images, read_labels
from corroseg.data.corruption import corrupted_pixels
from corroseg.data.wells import assemble, resolve_width
from corroseg.infer.ensemble import ensemble_threshold, load_predictor
from corroseg.infer.evaluate import score
from corroseg.infer.postprocess import RandomWalker

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_tables import write_json  # noqa: E402  (a sibling module)


class Cases:
    """A labelled split (the test split by default, or some of its wells) and the false-alarm wells, read once."""

    def __init__(self, data: Path, real: Path | None, split: str = "test", wells=None):
        self.images = read_images(data, split)
        if wells is not None:
            self.images = self.images.subset(np.isin(self.images.wells, list(wells)))
        labelled, self.truth, _ = pair(self.images, read_labels(find_label_file(data, split)))
        row = {name: i for i, name in enumerate(self.images.names)}
        self.scored = np.array([row[name] for name in labelled.names])
        self.wells = labelled.wells
        self.clean = ~corrupted_pixels(labelled.images).reshape(len(labelled.images), -1).any(axis=1)
        self.fa_wells = {}
        if real is not None:
            fa = read_images(real, "train")
            for well in FALSE_ALARM_WELLS:
                patches = fa.images[fa.wells == well]
                self.fa_wells[well] = assemble(patches, resolve_width(well, patches)[0])


def predict_cases(predictor, cases: Cases) -> tuple[np.ndarray, dict, float]:
    """Probabilities of the test patches and of the false-alarm wells, and the seconds it took."""
    t0 = time.perf_counter()
    probability = predictor.predict_patches(cases.images)
    fa_probability = {w: predictor.predict_well(image) for w, image in cases.fa_wells.items()}
    return probability, fa_probability, time.perf_counter() - t0


def score_probabilities(predictor, cases: Cases, probability: np.ndarray, fa_probability: dict,
                        variants: dict[str, tuple[float, object]]) -> dict[str, dict]:
    """Score every (threshold, postprocess) variant of mask making on given probabilities."""
    rows = {}
    for name, (threshold, postprocess) in variants.items():
        predictor.threshold, predictor.postprocess = threshold, postprocess
        t0 = time.perf_counter()
        masks = predictor.patch_masks(cases.images, probability=probability)[cases.scored]
        flagged = valid = 0
        for well, image in cases.fa_wells.items():
            p = fa_probability[well]
            ok = np.isfinite(p)
            flagged += int(predictor.segment_well(image, p)[ok].sum())
            valid += int(ok.sum())
        result = score(masks, cases.truth, cases.wells, cases.clean)
        rows[name] = {"threshold": threshold, "iou": result["iou"], "iou_nonempty": result["iou_nonempty"],
                      "clean_iou": result["clean_patches"]["iou"],
                      "clean_iou_nonempty": result["clean_patches"]["iou_nonempty"],
                      "precision": result["precision"], "recall": result["recall"],
                      "false_alarm_rate": flagged / max(valid, 1) if cases.fa_wells else float("nan"),
                      "mask_s": round(time.perf_counter() - t0, 1)}
    return rows


def score_variants(predictor, cases: Cases, variants: dict[str, tuple[float, object]]) -> dict[str, dict]:
    """Predict once; score every (threshold, postprocess) variant on the cached probabilities."""
    probability, fa_probability, seconds = predict_cases(predictor, cases)
    rows = score_probabilities(predictor, cases, probability, fa_probability, variants)
    return {name: {**row, "predict_s": round(seconds, 1)} for name, row in rows.items()}


def variants_for(runs: list[Path]) -> dict[str, tuple[float, object]]:
    tuned = ensemble_threshold(runs, "tuned")
    return {"threshold 0.5": (0.5, None), "tuned threshold": (tuned, None),
            "random walker (0.5)": (0.5, RandomWalker()), "random walker (tuned)": (tuned, RandomWalker())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="synthetic dataset with test labels")
    parser.add_argument("--real", type=Path, default=None, help="real challenge data (false alarms, wells 9/10)")
    parser.add_argument("--run", type=Path, required=True, help="the single run every option is tried on")
    parser.add_argument("--seeds", type=Path, nargs="*", default=[], help="runs differing only by seed")
    parser.add_argument("--folds", type=Path, default=None, help="a cross-validation run (corroseg train --folds)")
    parser.add_argument("--no-tta", action="store_true", help="skip the TTA systems (4x the inference)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    cases = Cases(args.data, args.real)
    systems: list[tuple[str, list[Path], bool, str]] = [(f"{args.run.name}", [args.run], False, "torch"),
                                                        (f"{args.run.name} onnx", [args.run], False, "onnx")]
    if not args.no_tta:
        systems.append((f"{args.run.name} + TTA", [args.run], True, "torch"))
    systems += [(f"{seed.name}", [seed], False, "torch") for seed in args.seeds if seed != args.run]
    if len(args.seeds) > 1:
        systems.append((f"ensemble of {len(args.seeds)} seeds", list(args.seeds), False, "torch"))
    if args.folds is not None:
        systems.append((f"{args.folds.name} (folds ensemble)", [args.folds], False, "torch"))
    table = {}
    for name, runs, tta, engine in systems:
        predictor = load_predictor(runs, tta=tta, engine=engine, random_walker=False)
        for variant, row in score_variants(predictor, cases, variants_for(runs)).items():
            table[f"{name} | {variant}"] = row
            print(f"| {name} | {variant} | {row['threshold']:.3f} | {row['iou']:.4f} | {row['iou_nonempty']:.4f} | "
                  f"{row['clean_iou']:.4f} | {row['clean_iou_nonempty']:.4f} | {row['false_alarm_rate']:.3%} | "
                  f"{row['predict_s']} | {row['mask_s']} |", flush=True)
    if args.json:
        write_json(args.json, table)


if __name__ == "__main__":
    main()

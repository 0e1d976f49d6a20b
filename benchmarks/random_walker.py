"""Random-walker post-processing: cost on a whole real well, and its effect on quality.

Usage: python benchmarks/random_walker.py [--run /work/democlone/demo_out/run]
       [--synth /work/exp/synth0] [--real ../shared/data/challenge] [--betas 30 130 500]

1. Time and peak memory of :func:`random_walker_mask` on real test well 5 (70,740 x 36),
   seeded by the run's probabilities.
2. Quality with and without ``RandomWalker`` as the predictor's postprocess: the challenge
   metric on the run's validation wells (labelled train patches of the wells in the run's
   ``data.json``: the only figures a setting may be chosen by), on the synthetic test split,
   and the false-alarm rate on real wells 9/10. Each well's probability is predicted once
   and cached; ``seconds`` is the time spent making masks from probabilities (threshold
   or walker) over all those wells, ``total seconds`` adds reading and scoring.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import time
import tracemalloc
from pathlib import Path

import numpy as np
from docs_tables import fmt, md_table  # benchmarks/ is on sys.path when run as a script

from corroseg.data.challenge import find_label_file, pair, read_images, read_labels
from corroseg.data.corruption import CorruptionPolicy, corrupted_pixels
from corroseg.data.wells import assemble, resolve_width
from corroseg.infer.bundle import Predictor, WellPredictor
from corroseg.infer.evaluate import evaluate, false_alarms, score
from corroseg.infer.postprocess import RandomWalker


class CachedPredictor(WellPredictor):
    """A predictor that remembers each well's probability (keyed by the image's bytes)."""

    def __init__(self, predictor: Predictor):
        self.predictor = predictor
        self.threshold = predictor.threshold
        self.policy = predictor.policy
        self.postprocess = None
        self.cache: dict[str, np.ndarray] = {}

    def predict_well(self, image: np.ndarray) -> np.ndarray:
        image = np.ascontiguousarray(image, dtype=np.float32)
        key = f"{image.shape}:{hashlib.sha1(image.tobytes()).hexdigest()}"
        if key not in self.cache:
            self.cache[key] = self.predictor.predict_well(image)
        return self.cache[key]


class Timed:
    """A postprocess callable that adds up the seconds spent in it."""

    def __init__(self, postprocess=None):
        self.postprocess = postprocess
        self.seconds = 0.0

    def __call__(self, image: np.ndarray, probability: np.ndarray, threshold: float) -> np.ndarray:
        start = time.perf_counter()
        if self.postprocess is None:  # what WellPredictor.well_mask does
            mask = (np.nan_to_num(probability, nan=0.0) >= threshold).astype(np.uint8)
        else:
            mask = self.postprocess(image, probability, threshold)
        self.seconds += time.perf_counter() - start
        return mask


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def whole_well(predictor: Predictor, data: str, well: int, walker: RandomWalker) -> dict:
    """Time and memory of the walker on one real test well."""
    images = read_images(data, "test")
    patches = images.images[images.wells == well]
    width, _ = resolve_width(well, patches, None)
    image = assemble(patches, width)
    del images
    probability = predictor.predict_well(image)
    filled, _ = CorruptionPolicy().clean(image)
    before = peak_mib()
    tracemalloc.start()
    start = time.perf_counter()
    mask = walker(filled, probability, predictor.threshold)
    seconds = time.perf_counter() - start
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    valid = np.isfinite(probability)
    plain = predictor.well_mask(probability)
    unknown = valid & (probability > walker.low) & (probability < walker.high)
    return {
        "well": f"real test well {well}", "rows": image.shape[0], "width": image.shape[1],
        "walker": str(walker), "seconds": round(seconds, 2), "rows_per_s": round(image.shape[0] / seconds),
        "traced_peak_mib": round(traced / 2**20, 1), "peak_rss_mib_before": round(before),
        "peak_rss_mib_after": round(peak_mib()), "unknown_fraction": round(float(unknown.mean()), 5),
        "corroded_fraction_threshold": round(float(plain[valid].mean()), 5),
        "corroded_fraction_walker": round(float(mask[valid].mean()), 5),
    }


def validation_score(predictor: WellPredictor, data: str, wells: list[int]) -> dict:
    """The challenge metric on the labelled train patches of ``wells`` (each well predicted whole)."""
    images = read_images(data, "train")
    images = images.subset(np.isin(images.wells, wells))
    labelled, masks, _ = pair(images, read_labels(find_label_file(data, "train")))
    everything = predictor.patch_masks(images)
    row = {name: i for i, name in enumerate(images.names)}
    pred = everything[[row[name] for name in labelled.names]]
    clean = ~corrupted_pixels(labelled.images).reshape(len(pred), -1).any(axis=1)
    return score(pred, masks, labelled.wells, clean)


def quality(predictor: CachedPredictor, walker: RandomWalker | None, args, val_wells: list[int]) -> dict:
    predictor.postprocess = timed = Timed(walker)
    start = time.perf_counter()
    val = validation_score(predictor, args.synth, val_wells)
    test = evaluate(predictor, args.synth, "test")
    rate = false_alarms(predictor, args.real)["rate"]
    return {"setting": "threshold" if walker is None else f"walker low={walker.low} high={walker.high} "
            f"beta={walker.beta:g}", "val_iou": val["iou"], "val_iou_nonempty": val["iou_nonempty"],
            "test_iou": test["iou"], "test_iou_nonempty": test["iou_nonempty"], "fa_rate": rate,
            "seconds": timed.seconds, "total_seconds": time.perf_counter() - start}


def table(rows: list[dict]) -> str:
    scores = ("val_iou", "val_iou_nonempty", "test_iou", "test_iou_nonempty")
    return md_table(["setting", "val iou", "val iou_nonempty", "test iou", "test iou_nonempty", "FA rate real 9/10",
                     "seconds", "total seconds"],
                    [[r["setting"], *[fmt(r[key], decimals=4) for key in scores], f"{r['fa_rate']:.2e}",
                      fmt(r["seconds"], decimals=1), fmt(r["total_seconds"], decimals=1)] for r in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="/work/democlone/demo_out/run")
    parser.add_argument("--synth", default="/work/exp/synth0")
    parser.add_argument("--real", default=str(Path(__file__).resolve().parents[2] / "shared/data/challenge"))
    parser.add_argument("--well", type=int, default=5, help="real test well for the cost figures")
    parser.add_argument("--low", type=float, default=0.1)
    parser.add_argument("--high", type=float, default=0.9)
    parser.add_argument("--betas", type=float, nargs="+", default=[30.0, 130.0, 500.0])
    parser.add_argument("--skip-cost", action="store_true", help="only the quality table")
    args = parser.parse_args()
    predictor = Predictor.from_run(args.run)
    if not args.skip_cost:
        print(json.dumps(whole_well(predictor, args.real, args.well, RandomWalker(args.low, args.high)), indent=2))
    val_wells = json.loads((Path(args.run) / "data.json").read_text())["val_wells"]
    cached = CachedPredictor(predictor)
    quality(cached, None, args, val_wells)  # predicts and caches every well once
    rows = [quality(cached, None, args, val_wells)]
    rows += [quality(cached, RandomWalker(args.low, args.high, beta), args, val_wells) for beta in args.betas]
    print(f"validation wells {val_wells} of {args.run}; threshold {predictor.threshold}")
    print(table(rows))
    best = max(rows, key=lambda r: r["val_iou"])
    print(f"best on validation (challenge iou): {best['setting']}")


if __name__ == "__main__":
    main()

"""Time and peak memory to predict one whole well with a trained run.

Usage: python benchmarks/predict_well.py RUN [--data ../shared/data/challenge] [--split test] [--well 5]

Test well 5 of the real challenge data (70,740 x 36) is the longest real well. The peak
resident memory of the process (ru_maxrss) is reported before and after the
prediction, so the growth due to prediction is visible.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np

from corroseg.data.challenge import read_images
from corroseg.data.wells import assemble, resolve_width
from corroseg.infer.bundle import Predictor


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--data", default="../shared/data/challenge")
    parser.add_argument("--split", default="test")
    parser.add_argument("--well", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16, help="windows per forward pass")
    args = parser.parse_args()
    images = read_images(args.data, args.split)
    patches = images.images[images.wells == args.well]
    width, _ = resolve_width(args.well, patches)
    image = assemble(patches, width)
    del images
    predictor = Predictor.from_run(args.run)
    predictor.batch_size = args.batch
    predictor.predict_well(image[:576])  # warm-up
    before = peak_mib()
    start = time.perf_counter()
    probability = predictor.predict_well(image)
    seconds = time.perf_counter() - start
    mask = predictor.well_mask(probability)
    print(json.dumps({
        "well": f"{args.split} well {args.well}", "rows": image.shape[0], "width": image.shape[1],
        "seconds": round(seconds, 2), "rows_per_s": round(image.shape[0] / seconds),
        "patches_per_s": round(image.size / 36**2 / seconds, 1),
        "peak_rss_mib_before": round(before), "peak_rss_mib_after": round(peak_mib()),
        "input_mib": round(image.nbytes / 2**20, 1), "corroded_fraction": float(mask[np.isfinite(probability)].mean()),
        "predict_rows": predictor.config.predict_rows, "overlap": predictor.config.predict_overlap,
        "batch_windows": args.batch,
    }, indent=2))


if __name__ == "__main__":
    main()

"""Torch eager fp32 against ONNX Runtime: windows per second and one whole real well.

Usage: python benchmarks/onnx_speed.py RUN [--data ../shared/data/challenge] [--split test] [--well 5]

Both engines run with the same thread count (default 2), on the same inputs, with
their timings interleaved so that load from other processes hits both alike: read
the ratios, not the absolute figures. Test well 5 of the real challenge data
(70,740 x 36) is the longest real well. Nothing is written into RUN.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from docs_tables import md_table  # benchmarks/ is on sys.path when run as a script

from corroseg.data.challenge import read_images
from corroseg.data.corruption import CorruptionPolicy
from corroseg.data.scaling import PatchScaler
from corroseg.data.wells import assemble, resolve_width
from corroseg.infer.bundle import TorchModel
from corroseg.infer.onnx import load_run_model, onnx_model_for_run
from corroseg.infer.tiles import predict_well
from corroseg.train.config import SCALER


def seconds(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def interleaved(engines: dict, args: tuple, repeats: int) -> dict[str, float]:
    """Median seconds of each engine on ``args``, the engines taking turns."""
    times = {name: [] for name in engines}
    for _ in range(repeats):
        for name, function in engines.items():
            times[name].append(seconds(function, *args))
    return {name: statistics.median(values) for name, values in times.items()}


def scaled_well(run: str, data: str, split: str, well: int) -> np.ndarray:
    """A real well, cleaned and scaled as ``Predictor.scaled`` does."""
    images = read_images(data, split)
    patches = images.images[images.wells == well]
    width, _ = resolve_width(well, patches)
    filled, _ = CorruptionPolicy().clean(assemble(patches, width).astype(np.float32))
    return np.nan_to_num(PatchScaler.load(f"{run}/{SCALER}").transform_well(filled), nan=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--data", default="../shared/data/challenge")
    parser.add_argument("--split", default="test")
    parser.add_argument("--well", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16, help="windows per forward pass")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7, help="timed batches per engine")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, config = load_run_model(args.run)
    rows, overlap = config.predict_rows, config.predict_overlap
    engines = {"torch eager fp32": TorchModel(model), "ONNX Runtime": onnx_model_for_run(args.run, model, args.threads)}

    batch = np.random.default_rng(0).standard_normal((args.batch, 1, rows, 36)).astype(np.float32)
    for function in engines.values():  # warm-up: first calls allocate and pick kernels
        function(batch), function(batch)
    per_batch = interleaved(engines, (batch,), args.repeats)

    image = scaled_well(args.run, args.data, args.split, args.well)
    probabilities = {name: predict_well(f, image, rows, overlap, args.batch) for name, f in engines.items()}
    per_well = interleaved({name: lambda x, f=f: predict_well(f, x, rows, overlap, args.batch)
                            for name, f in engines.items()}, (image,), 2)
    difference = float(np.abs(probabilities["ONNX Runtime"] - probabilities["torch eager fp32"]).max())

    base = "torch eager fp32"
    print(f"{config.model} run {args.run}; {args.threads} threads each; batches of {args.batch} windows "
          f"{rows}x36; {args.split} well {args.well} ({image.shape[0]:,} x {image.shape[1]}), "
          f"windows {rows} rows, overlap {overlap}\n")
    rows = [[name, f"{args.batch / per_batch[name]:.1f}", f"{per_batch[base] / per_batch[name]:.2f}x",
             f"{per_well[name]:.2f}", f"{per_well[base] / per_well[name]:.2f}x"] for name in engines]
    print(md_table(["engine", "windows/s", "speed-up", "whole well (s)", "speed-up"], rows, {1, 2, 3, 4}))
    print(f"\nmax |p_onnx - p_torch| over the well: {difference:.2e}")


if __name__ == "__main__":
    main()

"""Training throughput of a model on whole-well windows: fp32/bf16 x NCHW/channels_last, in one run.

Usage: python benchmarks/train_speed.py [--model wellnet] [--rows 144] [--batch 32] [--steps 8] [--repeats 3]

Timings on a shared machine drift, so every setting is measured in the same process,
interleaved `--repeats` times, and the median is reported with its ratio to fp32 NCHW.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from corroseg.models import create
from corroseg.models.losses import create_loss


def steps_per_second(model, loss, x, y, valid, bf16: bool, steps: int) -> float:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for i in range(steps + 1):
        if i == 1:  # the first step warms caches and allocators up
            start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        value = loss(logits.float(), y, valid)
        value.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="wellnet")
    parser.add_argument("--rows", type=int, default=144)
    parser.add_argument("--width", type=int, default=36)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    loss = create_loss("bce + iou")
    shape = (args.batch, 1, args.rows, args.width)
    x, y = torch.randn(shape), (torch.rand(shape) < 0.07).float()
    valid = torch.ones(shape, dtype=torch.bool)
    patches_per_step = args.batch * args.rows * args.width / 36**2
    settings = [(False, False), (False, True), (True, False), (True, True)]
    results: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for channels_last, bf16 in settings:
            model = create(args.model).train()
            xs = x
            if channels_last:
                model = model.to(memory_format=torch.channels_last)
                xs = x.contiguous(memory_format=torch.channels_last)
            rate = steps_per_second(model, loss, xs, y, valid, bf16, args.steps) * patches_per_step
            key = f"{'channels_last' if channels_last else 'NCHW'} {'bf16' if bf16 else 'fp32'}"
            results.setdefault(key, []).append(rate)
    base = statistics.median(results["NCHW fp32"])
    table = {k: {"patches_per_s": round(statistics.median(v), 1), "ratio": round(statistics.median(v) / base, 2)}
             for k, v in results.items()}
    print(json.dumps({"model": args.model, "window": [args.rows, args.width], "batch": args.batch,
                      "threads": torch.get_num_threads(), "results": table}, indent=2))


if __name__ == "__main__":
    main()

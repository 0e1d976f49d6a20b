"""Peak memory of `corroseg predict` on very long synthetic wells: does it grow with length?

Usage: python benchmarks/long_well.py RUN [--rows 50000 200000 500000] [--width 36] [--work /tmp/corroseg_long_well]

Each length is predicted by `corroseg predict RUN well.npz --out pred.npz` in a fresh
process (so peaks are independent), beside a short well that gives the fixed cost
(Python, torch, the model, one batch of windows). The well is a synthetic well of 20,000 rows repeated
(alternate copies flipped along depth) to the length asked for. Reported per length:
the peak resident memory (ru_maxrss), its growth over the short well, that growth per
pixel of the well, and the marginal bytes per pixel from the previous length. Streaming
means a fixed number of bytes per pixel (the well's own arrays: image, scaled copy,
probability, masks; about 20), whatever the length, and no term that grows faster.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from cli_peak import run_measured  # benchmarks/ is on sys.path when run as a script
from docs_tables import md_table

BASE_ROWS = 10_080
"""The short well whose peak is the fixed cost: long enough for full batches of windows
(20 windows of 576 rows), so the network's activations are in the fixed cost too."""


def long_well(rows: int, width: int, seed: int = 0):
    """A synthetic well of ``rows`` rows: one 20,000-row well repeated, alternate copies flipped."""
    from corroseg.data.wells import Well
    from corroseg.synth.generator import generate_well

    base = generate_well(np.random.default_rng(seed), 20_000, width, fault_rate=0.035).well
    reps = -(-rows // len(base.image))
    image = np.concatenate([base.image if i % 2 == 0 else base.image[::-1] for i in range(reps)])[:rows]
    mask = np.concatenate([base.mask if i % 2 == 0 else base.mask[::-1] for i in range(reps)])[:rows]
    return Well(image, mask, name=f"synthetic {rows} rows")


def measure(run: Path, well_file: Path, work: Path) -> dict:
    """Peak RSS and time of one `corroseg predict` in a fresh process."""
    out = work / f"{well_file.stem}_pred.npz"
    result = run_measured(["predict", str(run), str(well_file), "--out", str(out), "--force"])
    if result["exit"] not in (0, None):
        raise SystemExit(f"corroseg predict failed on {well_file}: exit {result['exit']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--rows", type=int, nargs="+", default=[50_000, 200_000, 500_000])
    parser.add_argument("--width", type=int, default=36)
    parser.add_argument("--work", type=Path, default=Path("/tmp/corroseg_long_well"))
    args = parser.parse_args()
    from corroseg.data.wells import save_well

    args.work.mkdir(parents=True, exist_ok=True)
    table = []
    previous = None
    for rows in [BASE_ROWS, *args.rows]:
        well_file = args.work / f"well_{rows}.npz"
        if not well_file.exists():
            save_well(well_file, long_well(rows, args.width))
        result = measure(args.run, well_file, args.work)
        result["pixels"] = rows * args.width
        row = {"rows": rows, "image_mib": round(result["pixels"] * 4 / 2**20, 1),
               "peak_rss_mib": round(result["peak_rss_mib"]), "seconds": round(result["seconds"], 1)}
        if previous is not None:
            base = table[0]
            growth = result["peak_rss_mib"] - base["peak_rss_mib_exact"]
            row["growth_mib"] = round(growth)
            row["growth_bytes_per_pixel"] = round(growth * 2**20 / (result["pixels"] - base["pixels"]), 1)
            row["marginal_bytes_per_pixel"] = round((result["peak_rss_mib"] - previous["peak_rss_mib"]) * 2**20
                                                    / (result["pixels"] - previous["pixels"]), 1)
        row["peak_rss_mib_exact"], row["pixels"] = result["peak_rss_mib"], result["pixels"]
        table.append(row)
        previous = result
        print(json.dumps({k: v for k, v in row.items() if k != "peak_rss_mib_exact"}), flush=True)
    headers = ["rows", "float32 image (MiB)", "peak RSS (MiB)", f"growth over {BASE_ROWS:,} rows (MiB)",
               "growth per added pixel (bytes)", "marginal, from the previous length (bytes/pixel)", "time (s)"]
    rows = [[f"{row['rows']:,}", row["image_mib"], f"{row['peak_rss_mib']:,}", row.get("growth_mib", "-"),
             row.get("growth_bytes_per_pixel", "-"), row.get("marginal_bytes_per_pixel", "-"), row["seconds"]]
            for row in table]
    print("\n" + md_table(headers, rows, set(range(len(headers)))))


if __name__ == "__main__":
    main()

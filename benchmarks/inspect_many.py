"""Time and peak memory of `corroseg inspect` on a folder of many challenge patches.

Usage: python benchmarks/inspect_many.py [--patches 100000] [--wells 10] [--folder /tmp/corroseg_100k/x_train]

The folder is filled once with ``well_{w}_patch_{p}.npy`` patches cut from smooth
synthetic wells (half of them 72 px wide), then `corroseg inspect FOLDER --json` runs
in a fresh process; its wall time and peak resident memory (ru_maxrss) are printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from cli_peak import run_measured  # benchmarks/ is on sys.path when run as a script

def fill(folder: Path, patches: int, wells: int, seed: int = 0) -> None:
    """Write ``patches`` patches of ``wells`` wells (smooth, azimuth-periodic images) into ``folder``."""
    from corroseg.data.names import format_name
    from corroseg.data.wells import cut

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    per_well = patches // wells
    for well in range(1, wells + 1):
        width = 72 if well % 2 else 36
        rows = per_well * 36 * 36 // width
        depth = np.arange(rows)[:, None]
        azimuth = np.arange(width)[None, :] * 2 * np.pi / width
        image = 0.01 * np.sin(2 * azimuth + depth / 40.0) + 0.001 * rng.standard_normal((rows, width))
        for p, patch in enumerate(cut(image.astype(np.float32))):
            np.save(folder / f"{format_name(well, p)}.npy", patch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patches", type=int, default=100_000)
    parser.add_argument("--wells", type=int, default=10)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/corroseg_100k/x_train"))
    args = parser.parse_args()
    if not args.folder.is_dir() or sum(1 for _ in args.folder.glob("*.npy")) != args.patches:
        started = time.perf_counter()
        fill(args.folder, args.patches, args.wells)
        print(f"wrote {args.patches} patches in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    summary = args.folder.parent / "inspect_summary.json"
    with open(summary, "w") as out:
        result = run_measured(["inspect", str(args.folder), "--json"], stdout=out)
    facts = json.loads(summary.read_text())
    print(json.dumps({"patches": facts["patches"], "wells": len(facts["wells"]),
                      "widths": sorted({w["width"] for w in facts["wells"].values()}),
                      "exit": result["exit"], "seconds": round(result["seconds"], 1),
                      "peak_rss_mib": round(result["peak_rss_mib"])}, indent=2))


if __name__ == "__main__":
    main()

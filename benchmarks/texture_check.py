"""Do backgrounds built from real wells carry corrosion-like features? (issue 10)

Real textures (``corroseg synth --texture real``) are real joints with every
suspect pixel painted out. This script checks what is left with two detectors
that took no part in the painting:

- a trained model (default: ``.bench/run``, the demo recipe trained on parametric
  wells): share of valid pixels it flags, no TTA, no random walker;
- a matched groove filter: a 2 px cos^2 groove profile across azimuth, averaged over
  15 rows; share of valid pixels whose response says a groove of at least 0.01 in
  (the labelling rule's minimum depth), 0.02 in and 0.03 in (about a typical groove),
  outside collar bands.

on four sets: real wells 9 and 10 (known to be defect-free; measured here, never
used to choose anything), the other real train wells (real corrosion), defect-free
wells generated from real textures, and defect-free parametric wells. A background
without corrosion-like features scores like wells 9 and 10, far below the real
corroded wells.

    python benchmarks/texture_check.py --real ../shared/data/challenge --run .bench/run
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.ndimage import correlate1d, uniform_filter1d

from corroseg.data.challenge import FALSE_ALARM_WELLS, read_images
from corroseg.data.corruption import valid_pixels
from corroseg.data.wells import assemble, infer_width
from corroseg.infer.ensemble import load_predictor
from corroseg.synth.generator import PRESETS, assign_sources, generate_well
from corroseg.synth.textures import build_bank, joint_rows

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_tables import md_table, write_json  # noqa: E402  (a sibling module)

MAX_ROWS = 3600
GROOVE_DEPTHS = (0.01, 0.02, 0.03)
GROOVE_ROWS = 15


def groove_kernel() -> np.ndarray:
    """Azimuthal weights whose response to a 2 px cos^2 groove of depth d is d."""
    offsets = np.arange(-4, 5)
    profile = np.where(np.abs(offsets) < 2, np.cos(np.pi * offsets / 4) ** 2, 0.0)
    centred = profile - profile.mean()
    return -centred / (centred @ profile)


def outside_collars(image: np.ndarray) -> np.ndarray:
    """Rows outside collar bands (collars' alternating blocks would answer any edge filter)."""
    keep = np.zeros(len(image), dtype=bool)
    for rows in joint_rows(image):
        keep[rows] = True
    return keep


def groove_share(image: np.ndarray) -> dict[str, float]:
    """Share of valid joint pixels where the matched filter finds a groove of at least each depth."""
    valid = valid_pixels(image) & outside_collars(image)[:, None]
    x = np.where(valid, image, 0.0).astype(np.float64)
    response = correlate1d(x, groove_kernel(), axis=1, mode="wrap")
    response = uniform_filter1d(response, GROOVE_ROWS, axis=0, mode="nearest")
    return {f"groove_{depth}": float((response[valid] >= depth).mean()) for depth in GROOVE_DEPTHS}


def model_share(predictor, image: np.ndarray) -> float:
    probability = predictor.predict_well(image)
    valid = np.isfinite(probability)
    return float((probability[valid] >= predictor.threshold).mean())


def real_wells(path: str, wells) -> dict[str, np.ndarray]:
    images = read_images(path, "train")
    out = {}
    for well in wells:
        patches = images.of_well(well)
        out[f"real {well}"] = assemble(patches, infer_width(patches))[:MAX_ROWS]
    return out


def generated(path: str, texture: str, seed: int) -> dict[str, np.ndarray]:
    """One defect-free well per real source well (real textures), or as many parametric ones."""
    bank = build_bank(path, "train")
    preset = PRESETS["default"]
    out = {}
    for index, source in enumerate(assign_sources(np.random.default_rng(seed), bank, len(bank.wells))):
        rng = np.random.default_rng([seed, index])
        if texture == "real":
            rows, width = min(bank.rows(source), MAX_ROWS), bank.widths[source]
            well = generate_well(rng, rows, width, preset, kind="none", fault_rate=0.0, bank=bank, source=source)
        else:
            width = int(rng.choice([36, 72]))
            well = generate_well(rng, MAX_ROWS, width, PRESETS["parametric"], kind="none", fault_rate=0.0)
        out[f"{texture} {index + 1}" + (f" (from real {source})" if texture == "real" else "")] = well.well.image
    return out


def painting_picture(path: str, out: str, views=((13, 5000), (3, 20000), (7, 8000)), rows: int = 250) -> None:
    """Raw real joints, their suspect pixels and the filled texture, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from corroseg.synth.textures import fill_suspects, suspect_pixels

    images = read_images(path, "train")
    fig, axes = plt.subplots(1, 3 * len(views), figsize=(2 * 3 * len(views), 8))
    for i, (well, first) in enumerate(views):
        patches = images.of_well(well)
        joint = assemble(patches, infer_width(patches))[first : first + rows].astype(np.float64)
        suspect = suspect_pixels(joint)
        filled = fill_suspects(np.random.default_rng(0), joint, suspect)
        panels = [(joint, f"real well {well}, rows {first}-{first + rows}"), (suspect, "suspect (painted out)"),
                  (filled, "filled texture")]
        for j, (values, title) in enumerate(panels):
            ax = axes[3 * i + j]
            if j == 1:
                ax.imshow(values, cmap="gray", aspect="auto", interpolation="nearest")
            else:
                ax.imshow(values, cmap="seismic", vmin=-0.05, vmax=0.05, aspect="auto", interpolation="nearest")
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    fig.suptitle("texture bank: real joints with corrosion-like pixels painted out (colour: +/-0.05 in)")
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def measure(predictor, wells: dict[str, np.ndarray]) -> dict:
    rows = {name: {"model": model_share(predictor, image), **groove_share(image),
                   "pixels": int(valid_pixels(image).sum())} for name, image in wells.items()}
    total = sum(r["pixels"] for r in rows.values())
    keys = ["model"] + [f"groove_{depth}" for depth in GROOVE_DEPTHS]
    pooled = {key: sum(r[key] * r["pixels"] for r in rows.values()) / total for key in keys}
    return {"pooled": pooled, "wells": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", default="../shared/data/challenge")
    parser.add_argument("--run", default=".bench/run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="Write the figures here.")
    parser.add_argument("--picture", help="Also draw raw, suspect and filled real joints into this PNG.")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.picture:
        painting_picture(args.real, args.picture)
    predictor = load_predictor(args.run, tta=False, random_walker=False)
    present = read_images(args.real, "train").well_ids()
    sets = {
        "real wells 9 and 10 (defect-free)": real_wells(args.real, FALSE_ALARM_WELLS),
        "real wells 1-8, 11-15 (corroded)": real_wells(args.real, [w for w in present if w not in FALSE_ALARM_WELLS]),
        "generated, real textures, no defects": generated(args.real, "real", args.seed),
        "generated, parametric, no defects": generated(args.real, "parametric", args.seed),
    }
    results = {name: measure(predictor, wells) for name, wells in sets.items()}
    headers = ["set", "wells", "model flags", *[f"groove filter >= {d} in" for d in GROOVE_DEPTHS]]
    keys = ["model", *[f"groove_{d}" for d in GROOVE_DEPTHS]]
    rows = [[name, len(result["wells"]), *[f"{result['pooled'][key]:.3%}" for key in keys]]
            for name, result in results.items()]
    print(md_table(headers, rows, set(range(1, len(headers)))))
    print(f"(first {MAX_ROWS} rows of each well; {time.perf_counter() - started:.0f} s)")
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()

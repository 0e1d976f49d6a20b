"""Faint grooves: how faint a groove each run finds, and what that means on every real well.

Usage::

    python benchmarks/sensitivity.py --runs RUN [RUN ...] --data DATA [DATA ...] \\
        [--real ../shared/data/challenge] [--json OUT.json]

For each run (with the dataset it was trained on, in the same order): its sensitivity on
its validation wells (what ``corroseg train`` writes to ``RUN/sensitivity.json``) and on
the dataset's test wells (what ``corroseg evaluate`` reports): the contrasts (groove depth
over the casing's texture) at which half and nine in ten grooves are found
(:mod:`corroseg.infer.sensitivity`). With ``--real``, every real train well is predicted
whole by the first run: its texture (in), the groove depths that run finds half of the
time and nine times in ten there (from its validation figure, as ``corroseg predict``
says them), and what it flags: the share of valid pixels and the median contrast and
depth of the flagged stretches spanning a patch or more. Wells 9 and 10 are measured,
never used to choose.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from corroseg.atomic import write_json
from corroseg.data.challenge import read_images
from corroseg.data.corruption import corrupted_pixels
from corroseg.data.labelled import is_synthetic
from corroseg.data.wells import well_from_patches
from corroseg.infer.ensemble import load_predictor
from corroseg.infer.evaluate import score_split
from corroseg.infer.real_wells import DEFECT_KINDS
from corroseg.infer.sensitivity import GROOVE_ROWS, defect_records, faintest_found, texture_std_in
from corroseg.train.config import read_config
from corroseg.workflows.train import held_out_sensitivity, held_out_wells, predict_held_out

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_tables import md_table  # noqa: E402  (a sibling module)


def run_figures(run: Path, data: Path) -> dict:
    """A run's sensitivity on its validation wells and on its dataset's test wells."""
    facts = json.loads((run / "data.json").read_text())
    wells = held_out_wells(data, read_config(run / "config.yaml"), facts["val_wells"])
    predictor = load_predictor([run])
    validation = held_out_sensitivity(predictor, wells, predict_held_out(predictor, wells), "the validation wells",
                                      is_synthetic(data))
    test = score_split(predictor, data, "test").sensitivity
    return {"run": str(run), "data": str(data), "validation": validation, "test": test}


def real_figures(run: Path, real: Path, sensitivity: dict) -> dict[int, dict]:
    """Per real train well: texture, the depths the run's ``sensitivity`` implies there, and what it flags."""
    predictor = load_predictor([run])
    images = read_images(real, "train")
    out = {}
    for well in images.well_ids():
        image = well_from_patches(images, well).image
        probability = predictor.predict_well(image)
        mask = predictor.segment_well(image, probability)
        valid = np.isfinite(probability) & ~corrupted_pixels(image)
        flagged = defect_records(image, mask, mask, valid)
        long = flagged["rows"] >= GROOVE_ROWS
        out[int(well)] = {
            **faintest_found(sensitivity, texture_std_in(image, valid & (mask == 0))),
            "kind": DEFECT_KINDS.get(int(well), ""), "flagged_share": float(mask[valid].mean()),
            "flagged_stretches": int(long.sum()),
            "flagged_median_contrast": float(np.median(flagged["contrast"][long])) if long.any() else None,
            "flagged_median_depth_in": float(np.median(flagged["depth_in"][long])) if long.any() else None}
        print(f"real well {well}: {out[well]}", file=sys.stderr, flush=True)
    return out


def _f(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def markdown(runs: list[dict], real: dict[int, dict] | None) -> str:
    rows = []
    for figures in runs:
        row = [Path(figures["run"]).name]
        for key in ("validation", "test"):
            one = figures[key]
            row += [str(one["grooves"]), _f(one["contrast_50"], ".2f"), _f(one["contrast_90"], ".2f")]
        rows.append(row)
    text = md_table(["run", "validation grooves", "half found at", "9 in 10 at", "test grooves", "half found at",
                     "9 in 10 at"], rows, right=set(range(1, 7)))
    if real:
        rows = [[str(w), f["kind"], _f(f["texture_std_in"], ".4f"), _f(f.get("depth_found_half_in"), ".4f"),
                 _f(f.get("depth_found_most_in"), ".4f"), f"{100 * f['flagged_share']:.1f}%",
                 str(f["flagged_stretches"]),
                 _f(f["flagged_median_contrast"], ".2f"), _f(f["flagged_median_depth_in"], ".4f")]
                for w, f in sorted(real.items())]
        text += "\n\n" + md_table(["well", "kind", "texture (in)", "found half the time (in)", "nine in ten (in)",
                                   "pixels flagged", "flagged stretches", "their median contrast",
                                   "their median depth (in)"], rows, right=set(range(2, 9)))
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", type=Path, required=True)
    parser.add_argument("--data", nargs="+", type=Path, required=True, help="each run's dataset, in order")
    parser.add_argument("--real", type=Path, help="real challenge data: every train well predicted by the first run")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if len(args.runs) != len(args.data):
        parser.error(f"{len(args.runs)} runs but {len(args.data)} datasets: give one dataset per run")
    runs = []
    for run, data in zip(args.runs, args.data):
        runs.append(run_figures(run, data))
        print(f"{run}: validation {runs[-1]['validation']['contrast_50']}, test {runs[-1]['test']['contrast_50']}",
              file=sys.stderr, flush=True)
    real = real_figures(args.runs[0], args.real, runs[0]["validation"]) if args.real else None
    print(markdown(runs, real))
    print(f"\n`python benchmarks/sensitivity.py {shlex.join(map(str, argv if argv is not None else sys.argv[1:]))}`")
    if args.json:
        write_json(args.json, {"runs": runs, "real": real})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

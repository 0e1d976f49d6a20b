"""Real wells: how much each model flags on every real train well, against the published label statistics.

Usage::

    python benchmarks/real_wells.py --real ../shared/data/challenge --runs RUN [RUN ...] \\
        [--ensemble] [--strips DIR] [--docs docs/benchmarks.md] [--json OUT.json]

Each run (e.g. one recipe trained with several seeds) predicts the 15 real train wells
whole, with its own prediction options; per well: the share of patches and of pixels
flagged (challenge convention: patches holding a corrupted pixel are empty), against the
published shares (80.078% of patches, about 7% of pixels, over all 15 wells) and the
well's defect kind; the false-alarm rate on wells 9 and 10. It is a proxy, not a score:
the real labels are not available, and the right share can sit in the wrong places.
Wells 9 and 10 are measured, never used to choose. ``--ensemble`` measures the runs as one seed
ensemble (``corroseg predict RUN RUN ...``: logits averaged) instead of each alone.
``--strips DIR`` draws every real well for looking: the first run's prediction, or the
ensemble's with ``--ensemble``. ``--flipped`` also measures the false alarms on the five real
x_test wells turned upside down (``flipped_casing_alarms``: no corrosion left in them), a
false-alarm figure that needs neither labels nor wells 9 and 10 (in the JSON and printed).
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
from pathlib import Path

import numpy as np

from corroseg.data.challenge import read_images
from corroseg.data.wells import well_from_patches
from corroseg.infer.ensemble import load_predictor
from corroseg.infer.real_wells import (LABELLED_PATCH_SHARE, LABELLED_PIXEL_SHARE, flipped_casing_alarms,
                                       real_well_figures)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_tables import md_table, pct, publish  # noqa: E402  (a sibling module)


def _mean_std(values: list[float], decimals: int = 1) -> str:
    if len(values) == 1:
        return pct(values[0], decimals, unit="%")
    return f"{pct(float(np.mean(values)), decimals, unit='%')} ± {100 * float(np.std(values)):.{decimals}f}"


def markdown(figures: dict[str, dict], command: str) -> str:
    """Per well (mean ± std over the runs) and pooled, against the published shares."""
    first = next(iter(figures.values()))
    rows = []
    for well, row in sorted(first["per_well"].items(), key=lambda item: int(item[0])):
        patch = [f["per_well"][well]["patch_share"] for f in figures.values()]
        pixel = [f["per_well"][well]["pixel_share"] for f in figures.values()]
        rows.append([well, row["kind"], f"{row['patches']:,}", _mean_std(patch), _mean_std(pixel)])
    for label, key in (("1-8, 11-15", "corroded_wells"), ("all 15", "all_wells")):
        rows.append([f"**{label}**", "", "", _mean_std([f[key]["patch_share"] for f in figures.values()]),
                     _mean_std([f[key]["pixel_share"] for f in figures.values()])])
    rows.append(["**labels (published)**", "all 15 wells", "", pct(LABELLED_PATCH_SHARE, 1, unit="%"),
                 f"about {pct(LABELLED_PIXEL_SHARE, 0, unit='%')}"])
    fa = _mean_std([f["false_alarm"]["rate"] for f in figures.values()], decimals=3)
    low = _mean_std([f["corroded_wells"]["lowest_patch_share"] for f in figures.values()])
    return "\n".join([
        "### Real wells: what the model flags against the published label statistics",
        "",
        f"`{command}` ({datetime.date.today():%Y-%m-%d}); {len(figures)} run(s): "
        f"{', '.join(Path(r).name for r in figures)}; mean ± standard deviation over the runs. A proxy, not a "
        "score: the real labels are not available, and a model can flag the right share in the wrong places "
        "(look at the strips). Patches and pixels flagged are counted as the challenge counts labels "
        "(a patch with a corrupted pixel is empty).",
        "",
        md_table(["well", "defect kind", "patches", "patches flagged", "pixels flagged"], rows, {2, 3, 4}),
        "",
        f"False alarms on real wells 9 and 10 (share of valid pixels flagged): **{fa}**. Lowest share of "
        f"patches flagged on a corroded well: {low}.",
        *peak_table(figures),
    ])


def peak_table(figures: dict[str, dict]) -> list[str]:
    """Per well, the share of clean patches whose highest probability reaches each threshold (mean over runs)."""
    first = next(iter(figures.values()))
    if "peak_shares" not in next(iter(first["per_well"].values())):
        return []  # figures measured before the ranking was recorded
    thresholds = list(next(iter(first["per_well"].values()))["peak_shares"])
    rows = [[well, row["kind"], *(pct(float(np.mean([f["per_well"][well]["peak_shares"][t] for f in figures.values()])),
                                      0, unit="%") for t in thresholds),
             *(f"{row[key]:.4f}" if key in row else "" for key in ("deviation_std_in", "deviation_p1_in"))]
            for well, row in sorted(first["per_well"].items(), key=lambda item: int(item[0]))]
    return ["", "How the model ranks each well's patches, whatever threshold or walker makes the masks: the share "
            "of clean patches (no corrupted pixel) whose highest probability reaches each value (mean over the "
            "runs). A corroded well whose share lies below wells 9 and 10 at every value cannot be flagged more "
            "without flagging them more. The last two columns say how loud each casing is (its valid pixels' "
            "deviations, in).", "",
            md_table(["well", "defect kind", *(f"≥ {t}" for t in thresholds), "std (in)", "1st percentile (in)"],
                     rows, set(range(2, 4 + len(thresholds))))]


def draw_strips(runs: list[Path], real: Path, folder: Path) -> list[Path]:
    """A picture of every real train well predicted by ``runs`` (one run, or a seed ensemble)."""
    from corroseg.data.wells import Well
    from corroseg.workflows.predict import predict_one_well

    predictor = load_predictor(runs)
    images = read_images(real, "train")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for well in images.well_ids():
        image = well_from_patches(images, well).image
        summary = predict_one_well(predictor, Well(image, name=f"real train well {well}"),
                                   folder / f"real_train_well_{well}.npz", force=True)
        written.append(Path(summary["png"]))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=Path("../shared/data/challenge"))
    parser.add_argument("--runs", type=Path, nargs="+", required=True, help="runs to measure (e.g. seeds)")
    parser.add_argument("--strips", type=Path, default=None, help="folder for a picture of every real well")
    parser.add_argument("--docs", type=Path, default=None, help="markdown file whose real-wells section is replaced")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--flipped", action="store_true",
                        help="also the false alarms on the real x_test wells turned upside down")
    parser.add_argument("--ensemble", action="store_true",
                        help="measure the runs together, as one seed ensemble (logits averaged), not each alone")
    args = parser.parse_args(argv)
    command = "python benchmarks/real_wells.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    figures = {}
    for group in [args.runs] if args.ensemble else [[run] for run in args.runs]:
        name = "+".join(str(run) for run in group)
        predictor, say = load_predictor(group), lambda text, name=name: print(f"{name}: {text}", flush=True)
        figures[name] = real_well_figures(predictor, args.real, say=say)
        pooled = figures[name]["corroded_wells"]
        print(f"{name}: patches {pooled['patch_share']:.1%}, pixels {pooled['pixel_share']:.2%}, false alarms "
              f"{figures[name]['false_alarm']['rate']:.3%}", flush=True)
        if args.flipped:
            figures[name]["flipped_casing"] = flipped_casing_alarms(predictor, args.real, "test", say=say)
            print(f"{name}: false alarms on the real x_test wells upside down "
                  f"{figures[name]['flipped_casing']['rate']:.3%}", flush=True)
    publish(markdown(figures, command), "real-wells", figures, args.json, args.docs)
    if args.strips:
        print("\n".join(map(str, draw_strips(args.runs if args.ensemble else args.runs[:1], args.real, args.strips))))
    return 0


if __name__ == "__main__":
    sys.exit(main())

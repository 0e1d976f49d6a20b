"""Test-time augmentation: average the views' probabilities or their logits? Measured on several runs.

Usage::

    python benchmarks/tta_mean.py --data SYNTH --real ../shared/data/challenge \\
        --runs RUN_SEED0 RUN_SEED1 RUN_SEED2 [--docs docs/benchmarks.md] [--json OUT.json]

For each run (same recipe, different seeds) the held-out synthetic test split is predicted
with TTA twice, once averaging probabilities (the default) and once averaging logits, and
each is scored with the threshold 0.5 and with the random walker (the default recipe's
masks). The choice is made on the synthetic test split only. The false-alarm rate on real
wells 9 and 10 is printed for information and never used to choose.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
from pathlib import Path

import numpy as np

from corroseg.infer.ensemble import load_predictor
from corroseg.infer.postprocess import RandomWalker

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_tables import fmt, md_table, pct, publish  # noqa: E402  (sibling modules)
from options import Cases, score_variants  # noqa: E402

MEANS = ("probability", "logit")
VARIANTS = {"threshold 0.5": (0.5, None), "random walker": (0.5, RandomWalker())}


def measure(runs: list[Path], cases: Cases) -> dict:
    """{run: {mean: {variant: figures}}} of every run, TTA mean and mask variant."""
    table: dict = {}
    for run in runs:
        for mean in MEANS:
            predictor = load_predictor([run], tta=True, random_walker=False)
            predictor.model.mean = mean  # the TTAPredictor wrapping the run's model
            rows = score_variants(predictor, cases, VARIANTS)
            table.setdefault(str(run), {})[mean] = rows
            for variant, row in rows.items():
                print(f"{run.name} | {mean} | {variant} | {row['iou']:.4f} | {row['iou_nonempty']:.4f} | "
                      f"{row['false_alarm_rate']:.3%}", flush=True)
    return table


def markdown(table: dict, command: str) -> str:
    """The docs section: per run and variant, both means and their difference; then the mean over runs."""
    rows, gaps = [], {v: {"iou": [], "iou_nonempty": []} for v in VARIANTS}
    for run, by_mean in table.items():
        for variant in VARIANTS:
            p, q = by_mean["probability"][variant], by_mean["logit"][variant]
            for key in ("iou", "iou_nonempty"):
                gaps[variant][key].append(q[key] - p[key])
            figures = [fmt(r[key], decimals=4) for key in ("iou", "iou_nonempty") for r in (p, q)]
            rows.append([Path(run).name, variant, *figures, pct(p["false_alarm_rate"], 3, unit="%"),
                         pct(q["false_alarm_rate"], 3, unit="%")])
    summary = [[variant, f"{np.mean(g['iou']):+.4f} ± {np.std(g['iou']):.4f}",
                f"{np.mean(g['iou_nonempty']):+.4f} ± {np.std(g['iou_nonempty']):.4f}"] for variant, g in gaps.items()]
    return "\n".join([
        "### Test-time augmentation: mean of probabilities or of logits",
        "",
        f"`{command}` ({datetime.date.today():%Y-%m-%d}, this machine's CPU). Each run is the default recipe "
        "with another seed; the synthetic test split is predicted with TTA (identity, depth flip, azimuth flip, "
        "half-turn roll) averaging the views' probabilities (p) or their logits (l). The false-alarm rates on "
        "real wells 9/10 are shown for information only; the choice is made on the synthetic test split.",
        "",
        md_table(["run", "masks", "challenge metric (p)", "(l)", "iou_nonempty (p)", "(l)", "false alarms 9/10 (p)",
                  "(l)"], rows, set(range(2, 8))),
        "",
        md_table(["masks", "challenge metric: l - p (mean ± std over runs)", "iou_nonempty: l - p"], summary, {1, 2}),
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="synthetic dataset with test labels")
    parser.add_argument("--real", type=Path, default=None, help="real challenge data (false alarms on wells 9/10)")
    parser.add_argument("--runs", type=Path, nargs="+", required=True, help="runs of one recipe, different seeds")
    parser.add_argument("--docs", type=Path, default=None, help="markdown file whose tta-mean section is replaced")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    command = "python benchmarks/tta_mean.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    table = measure(args.runs, Cases(args.data, args.real))
    publish(markdown(table, command), "tta-mean", table, args.json, args.docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

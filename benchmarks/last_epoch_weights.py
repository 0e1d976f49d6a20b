"""A copy of a run whose weights are its last epoch's (``checkpoints/last.ckpt``), not its best validation epoch's.

Usage::

    python benchmarks/last_epoch_weights.py RUN OUT

``OUT`` is an ordinary run folder (config, scaler, data facts and the last epoch's weights; not the
best epoch's metrics or tuned threshold, which would describe other weights) that
``corroseg evaluate`` and ``benchmarks/real_wells.py`` take: it measures what keeping the best
validation epoch changes (docs/benchmarks.md, "Candidates for the real wells").
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import save_file

from corroseg.train.fit import checkpoint_weights
from corroseg.train.rundir import CHECKPOINTS, LOGS, METRICS, THRESHOLD_FILE, WEIGHTS

LEFT_OUT = (CHECKPOINTS, LOGS, METRICS, THRESHOLD_FILE, "candidate.json")
"""What describes the best epoch's weights, or measures them (``candidate.json``: real_candidates' measurement)."""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    run, out = Path(args[0]), Path(args[1])
    last = run / CHECKPOINTS / "last.ckpt"
    if not last.is_file():
        print(f"{last}: no last-epoch checkpoint (was the run trained with this version?)", file=sys.stderr)
        return 2
    if out.exists():
        print(f"{out}: already exists; choose a new folder (nothing is overwritten)", file=sys.stderr)
        return 2
    with safe_open(run / WEIGHTS, framework="pt") as best:
        metadata = best.metadata()
    shutil.copytree(run, out, ignore=shutil.ignore_patterns(*LEFT_OUT))
    save_file(checkpoint_weights(last), str(out / WEIGHTS), metadata=metadata)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

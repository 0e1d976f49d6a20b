"""The model shipped with the package: ``corroseg predict INPUT`` without a run folder uses it.

It is the demo's run (the ``default`` recipe, WellNet, seed 0, its 10 epochs with early
stopping, on the demo's synthetic wells), stored as a run folder of package data
(``corroseg/shipped_model/``: weights, config, scaler, tuned threshold; under 1 MB).
``docs/model_card.md`` says how it was trained, what it scores and where it fails, and
the one command that trains it again.
"""

from __future__ import annotations

from pathlib import Path

from corroseg.errors import CorrosegUserError

SHIPPED_RUN = Path(__file__).resolve().parents[1] / "shipped_model"
SHIPPED_FILES = ("config.yaml", "scaler.json", "model.safetensors", "threshold.json", "sensitivity.json", "metrics.json",
                 "data.json")


def shipped_run() -> Path:
    """The shipped model's run folder (one line when the installation lacks it)."""
    if not (SHIPPED_RUN / "model.safetensors").is_file():
        raise CorrosegUserError(f"no shipped model in this installation ({SHIPPED_RUN}): give a run folder "
                                "(corroseg train DATA --out RUN)")
    return SHIPPED_RUN

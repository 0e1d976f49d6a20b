"""Quality benchmark, part 1: what is measured, every entry (a model and recipe) and how entries are grouped.

``benchmarks/quality.py`` is the script to run; it trains and scores these entries, and
:mod:`quality_report` turns their results into the docs section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """One model and recipe to train under the budget."""

    name: str
    group: str
    base: str = "default"
    overrides: tuple = ()
    tta: bool = False
    quick: bool = False
    note: str = ""

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")


PAPER = "paper"
ENTRIES: list[Entry] = [
    Entry("baseline CNN", PAPER, "paper", ("model=baseline_cnn",), quick=True),
    Entry("SAdd-UNet (width 4, batch 32)", PAPER, "paper", ("model=sadd_unet", "model_options.width=4", "batch_size=32"),
          note="scaled down 16x in channels (width 4, not 64) and batch 32: at full size one "
                           "batch of 128 patches costs 52 TFLOP and 576x576 maps of 64+ channels"),
    Entry("XSCat-UNet", PAPER, "paper", ("model=xscat_unet",), quick=True),
    Entry("CorroSeg add", PAPER, "paper", ("model_options.skip=add",)),
    Entry("CorroSeg cat", PAPER, "paper", (), quick=True),
    Entry("default (WellNet)", PAPER, "default", (), tta=True, quick=True),
    Entry("seed 1", "seeds", "default", ("seed=1",), tta=True, quick=True),
    Entry("seed 2", "seeds", "default", ("seed=2",), tta=True),
    Entry("seed 3", "seeds", "default", ("seed=3",), tta=True),
    Entry("seed 4", "seeds", "default", ("seed=4",), tta=True),
    Entry("loss bce", "loss", "default", ("loss=bce",), quick=True),
    Entry("loss focal", "loss", "default", ("loss=focal",)),
    Entry("loss smooth IoU", "loss", "default", ("loss=iou",)),
    Entry("loss dice", "loss", "default", ("loss=dice",)),
    Entry("loss lovasz", "loss", "default", ("loss=lovasz",)),
    Entry("loss focal + iou", "loss", "default", ("loss=focal + iou",)),
    Entry("window 36 rows", "window", "default", ("window_rows=36",)),
    Entry("window 72 rows", "window", "default", ("window_rows=72",)),
    Entry("window 360 rows", "window", "default", ("window_rows=360",)),
    Entry("zero padding", "padding", "default", ("model_options.padding=zeros",)),
    Entry("no transforms", "transforms", "default", ("flips=false", "roll=false")),
    Entry("flips only", "transforms", "default", ("roll=false",)),
    Entry("flips, roll + 4 copies", "transforms", "default", ("expansion=[none,hflip,vflip,hvflip]",)),
    Entry("per-pixel scaler", "scaling", "default", ("scaler=per_pixel",)),
    Entry("per-patch scaler", "scaling", "default", ("scaler=per_patch",)),
    Entry("dropout 0.1", "regularisation", "default", ("model_options.dropout=0.1",)),
    Entry("weight decay 0", "regularisation", "default", ("weight_decay=0",)),
    Entry("weight decay 1e-2", "regularisation", "default", ("weight_decay=1e-2",)),
    Entry("attention gates", "first place", "default", ("model_options.attention=true",)),
    Entry("CutMix (half the batches)", "first place", "default", ("cutmix=0.5",)),
    Entry("attention gates + CutMix + 360 rows", "first place", "default",
          ("model_options.attention=true", "cutmix=0.5", "window_rows=360")),
]
DEFAULT = "default (WellNet)"
SEEDS = [DEFAULT, "seed 1", "seed 2", "seed 3", "seed 4"]
GROUP_TITLES = {
    "loss": "Loss", "window": "Training window height (rows)", "padding": "Azimuth padding",
    "transforms": "Transforms", "scaling": "Scaling", "regularisation": "Dropout and weight decay",
    "first place": "Ideas of the challenge's first place (tall sections are the window table above)",
}


UNCERTAIN_LIMIT = 0.10
"""The random walker is scored only when at most this share of valid pixels lies between its seeds (0.1 and 0.9):
on a barely trained model it would solve for nearly every pixel of every well (minutes per well)."""

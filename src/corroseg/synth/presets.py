"""Knobs of a synthetic dataset (:class:`Preset`) and the named presets ``corroseg synth --preset`` offers."""

from __future__ import annotations

from dataclasses import dataclass

from corroseg.synth.defects import DefectStyle
from corroseg.synth.textures import DEEP_SIGMAS, DIP_ROWS, DIP_SIGMAS, PaintRule


@dataclass(frozen=True)
class Preset:
    """Knobs of a synthetic dataset.

    Rows are drawn log-uniformly in ``rows``; ``kind_weights`` follow ``WELL_KINDS``; ``background_std``
    is the per-well texture level (in), ``noise_std`` the sensor noise level.
    """

    name: str
    train_wells: int
    test_wells: int
    rows: tuple[int, int]
    width_72_share: float = 0.5
    rows_72_factor: float = 0.4
    rows_defect_free_factor: float = 0.3
    kind_weights: tuple[float, ...] = (0.27, 0.15, 0.25, 0.15, 0.06, 0.12)
    joint_rows: tuple[int, int] = (250, 450)
    background_std: tuple[float, float] = (0.009, 0.016)
    noise_std: tuple[float, float] = (0.0007, 0.0025)
    held_rows_share: float = 0.2
    held_rows_rate: tuple[float, float] = (0.03, 0.2)
    train_fault_rate: float = 0.035
    test_fault_rate: float = 0.07
    minus_999_share: float = 0.3
    texture: str = "parametric"  # or "real": joints from a texture bank of real wells
    grooves_per_half: tuple[int, ...] = (1, 1, 2)
    groove_width: tuple[float, float] = (1.8, 4.2)
    groove_depth: float = 0.034
    shallow_share: float = 0.0
    shallow_depth: float = 0.014
    min_labelled_loss: float = 0.01
    paint_deep_sigmas: float = DEEP_SIGMAS
    paint_dip_sigmas: float = DIP_SIGMAS
    paint_dip_rows: int = DIP_ROWS
    paint_persist_rows: int = 0
    paint_persist_sigmas: float = 2.0
    source_draw: str = "patches"  # or "passes": repeated source wells keep the real shares (assign_sources)
    texture_gain: tuple[float, float] = (1.0, 1.0)  # train joints' texture scaled log-uniformly (draw_casing)
    diagonal_slope: tuple[float, float] = (0.03, 0.4)  # a slanted groove's drift, azimuth px per row
    flipped_share: float = 0.0  # train joints drawn unpainted and sign-flipped (textures.flipped_joint)

    def paint_rule(self) -> PaintRule:
        """What the texture bank paints out of the real joints (:class:`corroseg.synth.textures.PaintRule`)."""
        return PaintRule(self.paint_deep_sigmas, self.paint_dip_sigmas, self.paint_dip_rows, self.paint_persist_rows,
                         self.paint_persist_sigmas)

    def defect_style(self) -> DefectStyle:
        return DefectStyle(tuple(self.grooves_per_half), tuple(self.groove_width), self.groove_depth, self.shallow_share,
                           self.shallow_depth, self.min_labelled_loss, tuple(self.diagonal_slope))


PERSISTENT_PAINT = dict(paint_deep_sigmas=4.5, paint_dip_sigmas=3.0, paint_dip_rows=15, paint_persist_rows=577,
                        paint_persist_sigmas=2.5)
"""The texture bank's rule of the default preset: strict locally, and dips that keep their azimuth across
collars (:func:`corroseg.synth.textures.persistent_dips`); docs/realism.md."""

PRESETS = {
    # real joints painted by the persistence rule; 40% of grooves faint (about 0.014 in, the texture's depth), labelled
    # down to 0.006 in; 30 train wells (15 until the second measurement of 2026-12-07; docs/benchmarks.md)
    "default": Preset("default", train_wells=30, test_wells=5, rows=(1_500, 60_000), texture="real",
                      grooves_per_half=(1, 2, 3), groove_width=(1.8, 4.0), groove_depth=0.038,
                      shallow_share=0.4, shallow_depth=0.014, min_labelled_loss=0.006, **PERSISTENT_PAINT),
    # the default until 2026-12-07: bold grooves only, the generous painting rule (docs/realism.md)
    "bold": Preset("bold", train_wells=15, test_wells=5, rows=(1_500, 60_000), texture="real",
                   grooves_per_half=(1, 2, 3), groove_width=(1.8, 4.0), groove_depth=0.038),
    # an experiment for the real wells: faint grooves on joints painted by the generous rule;
    # rejected: 5% false alarms on real wells 9/10 (docs/benchmarks.md)
    "faint": Preset("faint", train_wells=15, test_wells=5, rows=(1_500, 60_000), texture="real",
                    grooves_per_half=(1, 2, 3), groove_width=(1.8, 4.0), groove_depth=0.038,
                    shallow_share=0.4, shallow_depth=0.014, min_labelled_loss=0.006),
    # the default until 2026-11-27, with which docs/benchmarks.md was measured
    "parametric": Preset("parametric", train_wells=15, test_wells=5, rows=(1_500, 60_000)),
    "small": Preset("small", train_wells=8, test_wells=3, rows=(720, 3_600)),
    "tiny": Preset("tiny", train_wells=4, test_wells=2, rows=(216, 432)),
}


TEXTURES = ("parametric", "real")

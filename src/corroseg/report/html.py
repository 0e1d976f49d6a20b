"""The run report: one self-contained HTML file (figures embedded as PNG data URIs, inline CSS, no script).

>>> write_report("runs/demo", data="data/synthetic", real="../shared/data/challenge")
PosixPath('runs/demo/report.html')

What goes in, section by section: the run's configuration and learning curves (from
the run folder), the scores and pictures of a labelled split of DATA (the test split,
or the run's validation wells when DATA has no test labels), and predictions on real
wells (the false-alarm wells 9 and 10, and wells with visible grooves). Every well is
predicted once; masks, scores and figures are derived from that one prediction. A
section whose inputs are absent says so in one line; nothing missing stops the report.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from corroseg import __version__
from corroseg.atomic import atomic_path
from corroseg.data.challenge import (
    FALSE_ALARM_WELLS,
    PatchImages,
    find_label_file,
    pair,
    read_images,
    read_labels,
)
from corroseg.data.corruption import corrupted_pixels
from corroseg.data.labelled import is_synthetic
from corroseg.data.wells import assemble, load_well, resolve_width, well_from_patches
from corroseg.errors import CorrosegInputError
from corroseg.guard import RUN_INPUTS, output_lock, refuse_overwriting_inputs
from corroseg.infer.bundle import WellPredictor
from corroseg.infer.ensemble import load_predictor
from corroseg.infer.evaluate import score
from corroseg.train.rundir import REPORT_FILE, THRESHOLD_FILE
from corroseg.models import metrics
from corroseg.report import figures
from corroseg.report.strips import well_strip_figure
from corroseg.train.config import CONFIG, DATA, METRICS

__all__ = ["REAL_WELLS", "REPORT_NAME", "SECTION_ROWS", "write_report"]

REPORT_NAME = REPORT_FILE
SECTION_ROWS = 1000
"""Rows of a well pictured at full resolution (a whole real well has up to 70,740)."""
WORST_PATCHES = 12
REAL_WELLS: tuple[tuple[str, int], ...] = (("train", 9), ("train", 10), ("train", 14), ("train", 15), ("test", 5))
"""Real wells pictured: x_train 9 and 10 (no corrosion: false alarms), then wells with visible grooves."""
MAX_IMAGE_PIXELS = 1_600_000
"""Largest embedded PNG (pixels); bigger figures are drawn at a lower resolution."""

Progress = Callable[[str], None]


class _Missing(Exception):
    """An input of a section is absent; the message is the section's one line."""


# ------------------------------------------------------------------ HTML helpers


def describe_predictor(predictor) -> str:
    """How masks are made, in words: ensemble size, test-time augmentation, post-processing."""
    members = getattr(predictor, "members", [predictor])
    parts = [f"mean of {len(members)} models" if len(members) > 1 else "one model"]
    options = getattr(predictor, "options", None)  # as loaded (None for a predictor built by hand)
    if options is not None and options.tta:
        parts.append("test-time augmentation")
    if getattr(predictor, "postprocess", None) is not None:
        parts.append("random-walker post-processing of uncertain pixels")
    return ", ".join(parts)


def _esc(text) -> str:
    return html.escape(str(text))


def _fmt(value, spec: str = ".3f") -> str:
    """A number for a table; ``n/a`` for a figure that does not exist (None or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return str(value)
    return format(value, spec)


def _pct(value, digits: int = 2) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{100 * value:.{digits}f}%"


def _table(header: Sequence[str], rows: Sequence[Sequence], css: str = "") -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _missing(text: str) -> str:
    return f'<p class="missing">{_esc(text)}</p>'


def png_data_uri(fig, max_pixels: int = MAX_IMAGE_PIXELS) -> str:
    """A figure as a ``data:image/png;base64,...`` URI of at most ``max_pixels`` pixels.

    A figure of at most 256 colours is stored as a palette PNG (lossless, smaller).
    """
    width, height = fig.get_size_inches()
    dpi = min(100.0, math.sqrt(max_pixels / (width * height)))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    raw = buffer.getvalue()
    image = Image.open(io.BytesIO(raw)).convert("RGB")
    if image.getcolors(256) is not None:
        indexed = image.quantize(256, method=Image.Quantize.FASTOCTREE)
        if np.array_equal(np.asarray(indexed.convert("RGB")), np.asarray(image)):  # lossless only
            palette = io.BytesIO()
            indexed.save(palette, format="PNG", optimize=True)
            raw = min(raw, palette.getvalue(), key=len)
    return "data:image/png;base64," + base64.b64encode(raw).decode("ascii")


def _img(fig, alt: str, caption: str = "") -> str:
    cap = f"<figcaption>{_esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{png_data_uri(fig)}" alt="{_esc(alt)}">{cap}</figure>'


@dataclass
class Section:
    """One ``<section>`` of the report: anchor id, heading and HTML body."""

    id: str
    title: str
    body: str

    def html(self) -> str:
        return f'<section id="{_esc(self.id)}"><h2>{_esc(self.title)}</h2>\n{self.body}\n</section>'


# ------------------------------------------------------------------ the run folder


def _read_json(path: Path) -> dict | None:
    """A JSON object from ``path``; None when absent or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_yaml(path: Path) -> dict | None:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def _fold_number(path: Path) -> int:
    tail = path.name.removeprefix("fold_")
    return int(tail) if tail.isdigit() else 10**6


@dataclass
class RunInfo:
    """What a run folder says about itself; a cross-validation run's folds in ``folds``."""

    path: Path
    config: dict | None = None
    config_source: Path | None = None
    metrics: dict | None = None
    data: dict | None = None
    folds: list[Path] = field(default_factory=list)
    folds_info: dict | None = None
    threshold: dict | None = None

    @classmethod
    def read(cls, run: Path) -> RunInfo:
        folds = sorted((p for p in run.glob("fold_*") if p.is_dir()), key=_fold_number)
        info = cls(run, folds=folds, folds_info=_read_json(run / "folds.json"))
        for source in [run, *folds[:1]]:  # the run's own files, else the first fold's
            if info.config is None and (config := _read_yaml(source / CONFIG)) is not None:
                info.config, info.config_source = config, source / CONFIG
            info.data = info.data or _read_json(source / DATA)
        info.metrics = _read_json(run / METRICS)
        info.threshold = _read_json(run / THRESHOLD_FILE)
        return info

    def curves(self) -> dict:
        """Learning curves: the run's own, else one per fold (empty tables left out)."""
        from corroseg.train.fit import read_curves  # here: fit imports Lightning, which imports pyplot

        own = read_curves(self.path)
        if len(own):
            return {"run": own}
        tables = {fold.name: read_curves(fold) for fold in self.folds}
        return {name: table for name, table in tables.items() if len(table)}


# ------------------------------------------------------------------ scoring a labelled split


@dataclass
class Scored:
    """One prediction of a labelled split and everything derived from it."""

    data: Path
    split: str
    description: str
    images: PatchImages  # every image of the scored wells
    probability: np.ndarray  # (N, 36, 36) of ``images``
    masks: np.ndarray  # challenge-convention masks of ``images``
    labelled_rows: np.ndarray  # index into ``images`` of the labelled patches
    truth: np.ndarray  # masks of the labelled patches
    result: dict  # corroseg.infer.evaluate.score
    kinds: dict[int, str]  # synthetic defect kind of each well

    @property
    def labelled_images(self) -> np.ndarray:
        return self.images.images[self.labelled_rows]

    @property
    def labelled_masks(self) -> np.ndarray:
        return self.masks[self.labelled_rows]

    def clean(self) -> np.ndarray:
        """Labelled patches without a corrupted pixel: their labels are physical, not blanked by convention."""
        return ~corrupted_pixels(self.labelled_images).reshape(len(self.truth), -1).any(axis=1)


def _has_split(data: Path, split: str) -> bool:
    return (data / f"x_{split}").exists() or (data / f"x_{split}.zip").exists()


def _choose_split(data: Path, val_wells: Sequence[int] | None) -> tuple[str, list[int] | None, str]:
    """(split, wells or None for all, description) of the labelled patches to score."""
    kind = "synthetic " if is_synthetic(data) else ""
    if _has_split(data, "test") and find_label_file(data, "test") is not None:
        return "test", None, f"the {kind}test split of {data}"
    if val_wells and _has_split(data, "train") and find_label_file(data, "train") is not None:
        wells = sorted(int(w) for w in val_wells)
        return "train", wells, f"the validation wells {', '.join(map(str, wells))} of the {kind}train split of {data}"
    raise _Missing(f"{data} has no labelled test split (x_test/ and y_test*.csv) and the run names no "
                   "validation wells: nothing to score")


def _kinds(data: Path, split: str) -> dict[int, str]:
    manifest = _read_json(data / "synth.json") or {}
    wells = manifest.get("wells", {})
    return {int(key.split("_")[1]): str(info.get("kind", "")) for key, info in wells.items()
            if key.startswith(f"{split}_") and isinstance(info, dict)}


def score_split(predictor: WellPredictor, data: Path, val_wells: Sequence[int] | None, say: Progress) -> Scored:
    """Predict a labelled split once and score it as ``corroseg evaluate`` does."""
    if not data.is_dir():
        raise _Missing(f"dataset {data} not found")
    split, wells, description = _choose_split(data, val_wells)
    images = read_images(data, split)
    if wells is not None:
        images = images.subset(np.isin(images.wells, wells))
        if not len(images):
            raise _Missing(f"{data} has none of the validation wells {wells}")
    labelled, truth, _ = pair(images, read_labels(find_label_file(data, split)))
    if not len(labelled):
        raise _Missing(f"no image of the {split} split of {data} has a label")
    say(f"predicting {len(images.well_ids())} {split} wells ({len(images)} patches) of {data}")
    probability = predictor.predict_patches(images)
    masks = predictor.patch_masks(images, probability=probability)
    row = {name: i for i, name in enumerate(images.names)}
    rows = np.array([row[name] for name in labelled.names], dtype=np.int64)
    clean = ~corrupted_pixels(labelled.images).reshape(len(rows), -1).any(axis=1)
    result = score(masks[rows], truth, labelled.wells, clean)
    return Scored(data, split, description, images, probability, masks, rows, truth, result, _kinds(data, split))


# ------------------------------------------------------------------ whole wells


@dataclass
class WellView:
    """A whole well, its prediction and (optionally) its truth, ready to picture."""

    title: str
    image: np.ndarray
    probability: np.ndarray
    mask: np.ndarray
    truth: np.ndarray | None = None
    well: int | None = None
    false_alarm_well: bool = False

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.probability)

    @property
    def flagged(self) -> float:
        """Share of valid pixels flagged (the false-alarm rate on a corrosion-free well)."""
        valid = self.valid
        return float(self.mask[valid].sum() / max(int(valid.sum()), 1))


def section_rows(weight: np.ndarray, rows: int = SECTION_ROWS) -> tuple[int, int]:
    """(start, stop) of the ``rows`` consecutive rows with the largest total ``weight`` (first of ties)."""
    n = len(weight)
    if n <= rows:
        return 0, n
    total = np.concatenate([[0.0], np.cumsum(weight, dtype=np.float64)])
    start = int(np.argmax(total[rows:] - total[:-rows]))
    return start, start + rows


def _well_html(view: WellView, weight: np.ndarray, why: str) -> str:
    """Heading, whole-well numbers, a depth profile and a full-resolution strip of the busiest section."""
    rows, width = view.image.shape
    start, stop = section_rows(weight)
    valid = view.valid
    facts = [f"{rows:,} rows x {width} px", f"valid readings {_pct(valid.mean(), 1)}",
             f"flagged as corrosion {_pct(view.flagged, 3)} of valid pixels"]
    if view.truth is not None:
        facts.append(f"truth {_pct(float(view.truth[valid].mean()) if valid.any() else float('nan'), 3)}")
    shown = "the whole well" if (start, stop) == (0, rows) else f"rows {start:,} to {stop:,} ({why})"
    facts.append(f"shown: {shown}")
    parts = [f"<h3>{_esc(view.title)}</h3>", f'<p class="facts">{_esc("; ".join(facts))}</p>']
    if rows > stop - start:
        profile = figures.depth_profile_figure(view.mask, valid, view.truth, (start, stop),
                                               title="whole well: share of each depth block flagged")
        parts.append(_img(profile, f"{view.title}: flagged share along depth"))
    part = slice(start, stop)
    strip = well_strip_figure(view.image[part], view.probability[part], view.mask[part],
                              truth=None if view.truth is None else view.truth[part], valid=valid[part],
                              depth_start=start, title=view.title)
    parts.append(_img(strip, f"{view.title}: image, probability and prediction, rows {start} to {stop}"))
    return '<div class="well">' + "".join(parts) + "</div>"


def _scored_well(predictor: WellPredictor, scored: Scored, well: int) -> WellView:
    """A scored well rebuilt from its patches and their one prediction; the exact mask when the dataset has it."""
    rebuilt = well_from_patches(scored.images, well)
    rows, image = rebuilt.rows, rebuilt.image
    probability = rebuilt.assemble(scored.probability)
    mask = predictor.segment_well(image, probability)
    truth = _well_truth(scored, well, rows, image)
    kind = scored.kinds.get(well)
    title = f"{scored.split} well {well}" + (f" ({kind.replace('_', ' ')})" if kind else "")
    return WellView(title, image, probability, mask, truth, well=well)


def _well_truth(scored: Scored, well: int, rows: np.ndarray, image: np.ndarray) -> np.ndarray | None:
    """The physical mask of a synthetic well (``wells/*.npz``), else the label masks put together."""
    path = scored.data / "wells" / f"{scored.split}_well_{well}.npz"
    if path.is_file():
        try:
            exact = load_well(path).mask
        except CorrosegInputError:
            exact = None
        if exact is not None and exact.shape == image.shape:
            return exact
    labels = np.zeros((len(scored.images),) + scored.truth.shape[1:], np.uint8)
    labels[scored.labelled_rows] = scored.truth
    return assemble(labels[rows], image.shape[1])


def _real_split(real: Path, split: str, notes: list[str]) -> PatchImages | None:
    """The images of ``real/x_{split}``, or None with a note saying why not."""
    if not _has_split(real, split):  # a bare image folder would pass its wells off as this split's
        notes.append(f"{real}: no x_{split}/ folder (its real wells are not shown)")
        return None
    try:
        return read_images(real, split)
    except CorrosegInputError as exc:
        notes.append(str(exc))
        return None


def predict_real(predictor: WellPredictor, real: Path, wells: Sequence[tuple[str, int]],
                 say: Progress) -> tuple[list[WellView], list[str]]:
    """Predict real wells whole; returns the views and a note for each well that is absent."""
    views: list[WellView] = []
    notes: list[str] = []
    splits: dict[str, PatchImages | None] = {}
    for split, number in wells:
        if split not in splits:
            splits[split] = _real_split(real, split, notes)
        if splits[split] is None:
            continue
        if number not in splits[split].well_ids():
            notes.append(f"{real}: x_{split} has no well {number}")
            continue
        image = well_from_patches(splits[split], number).image
        say(f"predicting real {split} well {number} ({image.shape[0]:,} rows)")
        probability = predictor.predict_well(image)
        mask = predictor.segment_well(image, probability)
        false_alarm = split == "train" and number in FALSE_ALARM_WELLS
        title = f"real x_{split} well {number}"
        if false_alarm:
            title += " (no corrosion: every flag is a false alarm)"
        views.append(WellView(title, image, probability, mask, well=number, false_alarm_well=false_alarm))
    return views, notes


def false_alarm_rate(views: Sequence[WellView]) -> tuple[float, list[int]]:
    """Pooled share of valid pixels flagged on the false-alarm wells (as ``false_alarms`` counts it)."""
    fa = [v for v in views if v.false_alarm_well]
    flagged = sum(int(v.mask[v.valid].sum()) for v in fa)
    valid = sum(int(v.valid.sum()) for v in fa)
    wells = [v.well for v in fa]
    return (flagged / valid if valid else float("nan")), wells


# ------------------------------------------------------------------ sections


def _cards(items: Sequence[tuple[str, str, str]]) -> str:
    cards = "".join(f'<div class="card"><div class="label">{_esc(label)}</div><div class="value">{_esc(value)}'
                    f'</div><div class="note">{_esc(note)}</div></div>' for label, value, note in items)
    return f'<div class="cards">{cards}</div>'


def summary_section(info: RunInfo, predictor: WellPredictor | None, scored: Scored | str,
                    real: tuple[list[WellView], list[str]] | str) -> Section:
    cards = []
    if isinstance(scored, Scored):
        r = scored.result
        clean = r.get("clean_patches", {})
        cards.append(("challenge metric", _fmt(r["iou"]), f"mean per-patch IoU over {r['patches']:,} labelled "
                      f"patches ({scored.split}); {_fmt(clean.get('iou'))} on the {clean.get('patches', 0):,} "
                      "without corrupted pixels"))
        cards.append(("iou_nonempty", _fmt(r["iou_nonempty"]), f"the same over the {r['patches_with_corrosion']:,} "
                      "patches that truly hold corrosion (no free points for empty ones)"))
        cards.append(("pixel precision / recall", f"{_fmt(r['precision'])} / {_fmt(r['recall'])}",
                      "share of flagged pixels that are corrosion / share of corrosion found"))
    else:
        cards.append(("challenge metric", "n/a", scored))
    if isinstance(real, tuple) and any(v.false_alarm_well for v in real[0]):
        rate, wells = false_alarm_rate(real[0])
        cards.append(("false alarms on real wells", _pct(rate, 3), f"share of valid pixels flagged on real x_train "
                      f"wells {', '.join(map(str, wells))}, which have no corrosion"))
    else:
        cards.append(("false alarms on real wells", "n/a", real if isinstance(real, str) else
                      "real wells 9 and 10 not found in the real data"))
    threshold = "n/a" if predictor is None else _fmt(predictor.threshold, "g")
    cards.append(("threshold", threshold, "a pixel is corrosion when its probability reaches this"
                  + ("" if predictor is None else f"; {describe_predictor(predictor)}")))
    config = info.config or {}
    best = (info.metrics or {}).get("best", {})
    model = f"{config.get('model', 'unknown model')}"
    if info.metrics:
        note = (f"{info.metrics.get('epochs', '?')} epochs, kept epoch {best.get('epoch', '?')} "
                f"(validation challenge metric {_fmt(best.get('val_iou'))})")
    elif info.folds:
        folds = info.folds_info or {}
        note = (f"ensemble of {len(info.folds)} cross-validation folds; out-of-fold challenge metric "
                f"{_fmt(folds.get('oof_iou_mean'))} +- {_fmt(folds.get('oof_iou_std'))}")
    else:
        note = f"no {METRICS}"
    cards.append(("model", model, note))
    scope = scored.description if isinstance(scored, Scored) else "no labelled split"
    body = _cards(cards) + f'<p class="facts">Scores are on {_esc(scope)}.</p>'
    return Section("summary", "Summary", body)


HOW_TO_READ = """
<ul>
<li><b>The pictures of wells</b> run downwards in depth. Each well is drawn as side-by-side strips:
<i>image</i> (wall-thickness deviation in inches: blue is thinner wall, i.e. metal loss; red thicker;
grey means no reading), <i>probability</i> (how sure the model is that a pixel is corrosion, white 0 to
dark purple 1), <i>mask</i> (what the model flags) and, where the truth is known, <i>truth</i>.
With a truth, the mask is coloured by outcome: <span class="tp">green</span> corrosion found,
<span class="fp">red</span> false alarm, <span class="fn">blue</span> corrosion missed.
Columns are the angle around the casing; the left and right edges touch.</li>
<li><b>Challenge metric</b>: the wells are cut into 36 x 36 patches; each patch scores the overlap
(intersection over union, IoU) of flagged and true corrosion, 1 when both are empty; the metric is
the mean over patches. Because empty patches score 1 when nothing is flagged, <b>iou_nonempty</b>
repeats it over the patches that truly hold corrosion: the harder figure.</li>
<li><b>False alarms</b>: real wells 9 and 10 have no corrosion, so every pixel flagged there is a false
alarm. An inspection engineer should expect roughly this share of a sound casing to be flagged.</li>
<li><b>Synthetic versus real</b>: the scores come from synthetic wells whose corrosion is known exactly.
The real wells have no labels here: judge them by eye. Grooves are the thin blue lines (vertical or
slanted) that continue over many rows; the model should flag them and not the joint patterns or the
horizontal collar lines.</li>
<li><b>Reliability</b>: when the model says 0.7, about 70% of such pixels should be corrosion. Points
below the diagonal mean over-confidence.</li>
</ul>
"""


def _kv(items) -> str:
    """Key-value pairs in a grid of columns (a long config stays one screen tall)."""
    cells = "".join(f'<div><span class="k">{_esc(k)}</span><span class="v">{_esc(_compact(v))}</span></div>'
                    for k, v in items)
    return f'<div class="kv">{cells}</div>'


def _flat(mapping: dict) -> list[tuple[str, object]]:
    """Items of a mapping, one level of nested mappings spelled ``outer.inner``."""
    items = []
    for key, value in mapping.items():
        if isinstance(value, dict):
            items.extend((f"{key}.{k}", v) for k, v in value.items())
        else:
            items.append((key, value))
    return items


def _compact(value) -> str:
    """A config value on one line: lists and mappings as JSON (lists of wells sorted)."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        value = sorted(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(", ", ": "))
    return _fmt(value, ".4g") if isinstance(value, float) else str(value)


def _folds_table(info: RunInfo) -> str:
    """One row per fold: its held-out wells, out-of-fold scores (folds.json) and training (metrics.json)."""
    per_fold = (info.folds_info or {}).get("per_fold") or []
    held_out = {f.get("fold"): f for f in per_fold if isinstance(f, dict)}
    rows = []
    for k, fold in enumerate(info.folds):
        m = _read_json(fold / METRICS) or {}
        best, oof = m.get("best", {}), held_out.get(_fold_number(fold), {})
        wells = oof.get("wells") or (_read_json(fold / DATA) or {}).get("val_wells") or []
        rows.append((fold.name, ", ".join(map(str, sorted(wells))) or "?", _fmt(oof.get("iou")),
                     _fmt(oof.get("iou_nonempty")), _fmt(best.get("val_iou")), _fmt(best.get("epoch")),
                     _fmt(m.get("epochs")), _fmt(m.get("stopped_by"))))
    return _table(["fold", "held-out wells", "out-of-fold challenge metric", "out-of-fold iou_nonempty",
                   "best validation metric", "kept epoch", "epochs", "stopped by"], rows, "num")


def config_section(info: RunInfo) -> Section:
    parts = []
    if info.config is not None:
        source = "" if info.config_source == info.path / CONFIG else f" (from {info.config_source})"
        parts.append(f"<h3>Configuration{_esc(source)}</h3>" + _kv(info.config.items()))
    else:
        parts.append(_missing(f"no readable {CONFIG} in {info.path}"))
    if info.metrics is not None:
        parts.append("<h3>Training</h3>" + _kv(_flat(info.metrics)))
    elif not info.folds:
        parts.append(_missing(f"no readable {METRICS} in {info.path}: training figures unknown"))
    if info.threshold is not None:
        parts.append(f"<h3>Tuned threshold ({THRESHOLD_FILE})</h3>" + _kv(_flat(info.threshold)))
    if info.folds:
        parts.append(f"<h3>Cross-validation: {len(info.folds)} folds</h3>" + _folds_table(info))
        if info.folds_info is not None:
            parts.append(_kv((k, v) for k, v in info.folds_info.items() if k != "per_fold"))
    if info.data is not None:
        parts.append("<h3>Training data</h3>" + _kv(info.data.items()))
    return Section("config", "Run configuration", "\n".join(parts))


def curves_section(info: RunInfo) -> Section:
    curves = info.curves()
    if not curves:
        where = "logs/metrics.csv" + (" in the run or its folds" if info.folds else "")
        return Section("learning-curves", "Learning curves", _missing(f"no learning curves: {where} not found"))
    best = (info.metrics or {}).get("best", {}).get("epoch") if "run" in curves else None
    fig = figures.learning_curves_figure(curves, best_epoch=best)
    caption = ("Loss and validation scores per epoch; the validation wells are never trained on. "
               "A validation loss that rises while the training loss falls is over-fitting.")
    return Section("learning-curves", "Learning curves", _img(fig, "learning curves", caption))


def per_well_section(scored: Scored) -> Section:
    result = scored.result
    truth_any = scored.truth.reshape(len(scored.truth), -1).any(axis=1)
    wells = scored.images.wells[scored.labelled_rows]
    header = ["well", "kind", "rows x width", "patches", "with corrosion", "challenge metric", "iou_nonempty",
              "precision", "recall", "false alarm rate"]
    rows = []
    for key, one in sorted(result["per_well"].items(), key=lambda item: int(item[0])):
        number = int(key)
        patches = scored.images.images[scored.images.wells == number]
        width, _ = resolve_width(number, patches)
        rows.append((number, scored.kinds.get(number, "").replace("_", " ") or "-",
                     f"{len(patches) * 36 * 36 // width:,} x {width}", one["patches"],
                     int(truth_any[wells == number].sum()), _fmt(one["iou"]), _fmt(one["iou_nonempty"]),
                     _fmt(one["precision"]), _fmt(one["recall"]), _pct(one["false_alarm_rate"], 3)))
    rows.append(("all", "", "", result["patches"], result["patches_with_corrosion"], _fmt(result["iou"]),
                 _fmt(result["iou_nonempty"]), _fmt(result["precision"]), _fmt(result["recall"]),
                 _pct(result["false_alarm_rate"], 3)))
    note = (f"<p>Scored on {_esc(scored.description)}, as <code>corroseg evaluate</code> scores it: each well "
            "predicted whole, patches with a corrupted pixel left empty (the challenge's labels are empty there). "
            "iou_nonempty is n/a for a well with no corrosion; the false alarm rate is the share of truly clean "
            "pixels flagged.</p>")
    return Section("per-well", "Per-well scores", note + _table(header, rows, "num total"))


def strips_section(predictor: WellPredictor, scored: Scored) -> Section:
    per_well = scored.result["per_well"]
    labelled_wells = scored.images.wells[scored.labelled_rows]
    truth_any = scored.truth.reshape(len(scored.truth), -1).any(axis=1)
    corroded = [int(w) for w in per_well if truth_any[labelled_wells == int(w)].any()] or [int(w) for w in per_well]
    best = max(corroded, key=lambda w: per_well[str(w)]["iou"])
    worst = min((int(w) for w in per_well), key=lambda w: per_well[str(w)]["iou"])
    parts = ['<div class="pair">']
    for label, well in (("best", best), ("worst", worst)):
        view = _scored_well(predictor, scored, well)
        view.title = f"{label}: {view.title}, challenge metric {_fmt(per_well[str(well)]['iou'])}"
        valid = view.valid
        if label == "best":
            weight, why = (view.truth * valid).sum(axis=1), "the most corrosion"
        else:
            weight, why = ((view.mask != view.truth) & valid).sum(axis=1), "the most errors"
        parts.append(_well_html(view, weight, why))
        if best == worst:
            break
    parts.append("</div>")
    intro = (f"<p>The best-scoring well with corrosion and the worst-scoring well of {_esc(scored.description)}. "
             f"Long wells are pictured by the {SECTION_ROWS:,} rows with the most corrosion (best) or the most "
             "errors (worst); the line plot above each shows the whole well.</p>")
    return Section("well-strips", "Best and worst wells", intro + "".join(parts))


def worst_patches_section(scored: Scored) -> Section:
    pred, truth = scored.labelled_masks, scored.truth
    iou = metrics.per_patch_iou(pred, truth)
    wrong = (pred.astype(bool) != truth.astype(bool)).reshape(len(pred), -1).sum(axis=1)
    order = [i for i in np.lexsort((-wrong, iou)) if iou[i] < 1][:WORST_PATCHES]
    if not order:
        return Section("worst-patches", "Worst patches", _missing("every labelled patch scores IoU 1: no worst patch"))
    rows = scored.labelled_rows[order]
    titles = [f"well {scored.images.wells[r]} patch {scored.images.patches[r]}: IoU {iou[i]:.2f}"
              for r, i in zip(rows, order)]
    fig = figures.patch_grid_figure(scored.images.images[rows], truth[order], pred[order], titles)
    share = float(np.mean(iou < 0.5))
    caption = (f"The {len(order)} labelled patches with the lowest IoU (ties: most wrong pixels first). "
               f"{_pct(share, 1)} of the {len(iou):,} labelled patches score below 0.5.")
    return Section("worst-patches", "Worst patches", _img(fig, "worst patches", caption))


def _clean_pixels(scored: Scored) -> tuple[np.ndarray, np.ndarray]:
    clean = scored.clean()
    return scored.probability[scored.labelled_rows][clean], scored.truth[clean]


def reliability_section(scored: Scored, threshold: float) -> Section:
    probability, truth = _clean_pixels(scored)
    if not probability.size:
        return Section("reliability", "Reliability of the probabilities",
                       _missing("no labelled patch without corrupted pixels"))
    stats = figures.reliability_bins(probability, truth)
    rows = [(f"{lo:.1f}-{hi:.1f}", f"{n:,}", _fmt(p), _fmt(o))
            for lo, hi, n, p, o in zip(stats.edges[:-1], stats.edges[1:], stats.counts, stats.predicted,
                                       stats.observed)]
    text = (f"<p>Pixels of the labelled patches without corrupted pixels ({int(stats.counts.sum()):,}), grouped "
            f"by predicted probability. Expected calibration error {_fmt(stats.ece)}.</p>")
    body = ('<div class="pair">' + _img(figures.reliability_figure(stats, threshold), "reliability diagram")
            + _table(["probability", "pixels", "mean predicted", "observed corrosion"], rows, "num") + "</div>")
    return Section("reliability", "Reliability of the probabilities", text + body)


def pr_section(scored: Scored, threshold: float) -> Section:
    probability, truth = _clean_pixels(scored)
    curve = figures.precision_recall(probability, truth, threshold)
    if not curve.positives:
        return Section("precision-recall", "Precision-recall",
                       _missing("no corrosion pixel among the labelled patches: no precision-recall curve"))
    caption = (f"Pixel level, on the same pixels as the reliability diagram. The red dot is the operating "
               f"threshold {threshold:g} applied to the probabilities; the per-well table's figures come from "
               "the final masks (post-processing and the corrupted-patch rule included).")
    return Section("precision-recall", "Precision-recall", _img(figures.precision_recall_figure(curve),
                                                                "precision-recall curve", caption))


def real_section(views: list[WellView], notes: list[str]) -> Section:
    parts = []
    fa = [v for v in views if v.false_alarm_well]
    if fa:
        rate, wells = false_alarm_rate(views)
        rows = [(f"x_train well {v.well}", f"{v.image.shape[0]:,} x {v.image.shape[1]}", f"{int(v.valid.sum()):,}",
                 f"{int(v.mask[v.valid].sum()):,}", _pct(v.flagged, 3)) for v in fa]
        rows.append(("together", "", f"{sum(int(v.valid.sum()) for v in fa):,}",
                     f"{sum(int(v.mask[v.valid].sum()) for v in fa):,}", _pct(rate, 3)))
        parts.append("<h3>False alarms: real wells without corrosion</h3>")
        parts.append(_table(["well", "rows x width", "valid pixels", "flagged pixels", "false-alarm rate"], rows,
                            "num total"))
    parts.extend(_missing(note) for note in notes)
    parts.append('<div class="pair">')
    for view in views:
        why = "where the model flags most" if view.mask.any() else "where the model is least sure"
        weight = view.mask.sum(axis=1) if view.mask.any() else np.nan_to_num(view.probability).sum(axis=1)
        parts.append(_well_html(view, weight, why))
    parts.append("</div>")
    intro = ("<p>Real wells of the challenge, predicted whole. They have no labels here: judge by eye whether the "
             "flags follow the thin blue grooves and stay off joint patterns and collars.</p>")
    return Section("real-wells", "Real wells", intro + "\n".join(parts))


# ------------------------------------------------------------------ the document

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9;line-height:1.45}
main{max-width:1360px;margin:0 auto;padding:18px 28px 40px}
header{background:#1f2d3d;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:24px}header p{margin:2px 0;color:#c9d3de;font-size:13px}
nav{font-size:13px;margin:10px 0 0}nav a{color:#9fd0ff;margin-right:14px;text-decoration:none}
section{background:#fff;border:1px solid #dde2e8;border-radius:6px;padding:14px 20px;margin:18px 0}
h2{margin:0 0 10px;font-size:20px;border-bottom:2px solid #e4e8ee;padding-bottom:4px}
h3{font-size:15px;margin:14px 0 4px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #dde2e8;padding:3px 9px}
th{background:#eef1f5;text-align:left}tbody tr:nth-child(even){background:#fafbfc}
table.num td{text-align:right}table.num td:first-child{text-align:left}
table.total tbody tr:last-child td{font-weight:600}
.kv{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:0 22px;font-size:12.5px;
font-family:ui-monospace,Menlo,Consolas,monospace}.kv div{display:flex;gap:10px;border-bottom:1px solid #eef1f5;
padding:2px 0}.kv .k{color:#5a6678;flex:0 0 170px;overflow-wrap:anywhere}.kv .v{overflow-wrap:anywhere}
figure{margin:8px 0}img{max-width:100%;height:auto;display:block}figcaption{font-size:12.5px;color:#4a5568}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{flex:1 1 200px;border:1px solid #dde2e8;border-radius:6px;
padding:10px 14px;background:#fbfcfd}.card .label{font-size:12px;text-transform:uppercase;color:#5a6678;
letter-spacing:.04em}.card .value{font-size:26px;font-weight:700;margin:2px 0}.card .note{font-size:12px;color:#4a5568}
.pair{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}.pair>*{flex:1 1 520px;min-width:0}
.well{border-top:1px solid #e4e8ee;padding-top:6px}.facts{font-size:13px;color:#3a4658}
.missing{color:#6b7280;font-style:italic}.tp{color:#1a9e33;font-weight:600}.fp{color:#e01f1a;font-weight:600}
.fn{color:#1f59f2;font-weight:600}footer{font-size:12px;color:#6b7280;text-align:center;margin:20px}
"""


def render(title: str, subtitle: Sequence[str], sections: Sequence[Section], footer: str) -> str:
    """The whole HTML document."""
    nav = "".join(f'<a href="#{_esc(s.id)}">{_esc(s.title)}</a>' for s in sections)
    lines = "".join(f"<p>{_esc(line)}</p>" for line in subtitle)
    body = "\n".join(s.html() for s in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_esc(title)}</title><style>{CSS}</style></head>\n<body><header><h1>{_esc(title)}</h1>{lines}"
            f"<nav>{nav}</nav></header><main>\n{body}\n</main><footer>{_esc(footer)}</footer></body></html>\n")


def _guarded(name: str, title: str, build: Callable[[], Section]) -> Section:
    """A section, or the one line that says which input it lacks."""
    try:
        return build()
    except (_Missing, CorrosegInputError) as exc:
        return Section(name, title, _missing(str(exc)))


def write_report(run: str | Path, out: str | Path | None = None, data: str | Path | None = None,
                 real: str | Path | None = None, predictor: WellPredictor | None = None,
                 progress: Progress | None = None, real_wells: Sequence[tuple[str, int]] = REAL_WELLS,
                 force: bool = True) -> Path:
    """Write the HTML report of a run; returns its path.

    Parameters
    ----------
    run : path
        A run folder (``corroseg train``), or a cross-validation run (``fold_*`` folders).
    out : path, optional
        Default ``RUN/report.html``. Written atomically.
    data : path, optional
        A labelled dataset to score; default the dataset named in the run's ``data.json``.
    real : path, optional
        Real challenge data (``x_train/``, ``x_test/``): false alarms and real wells.
    predictor : WellPredictor, optional
        Default ``load_predictor(run)``: the run's model, or the ensemble of its folds.
    progress : callable(str), optional
        Receives a message before each long step.
    real_wells : sequence of (split, well)
        Real wells pictured; x_train wells 9 and 10 count as false-alarm wells.
    force : bool
        Overwrite an existing ``out``; otherwise refuse.
    """
    started = time.perf_counter()
    say = progress or (lambda _message: None)
    run = Path(run)
    if not run.is_dir():
        raise CorrosegInputError(run, "no such run folder")
    out = Path(out) if out is not None else run / REPORT_NAME
    refuse_overwriting_inputs([out], runs=[run], datasets=[d for d in (data, real) if d is not None],
                              run_reads=RUN_INPUTS + ("model.onnx",))
    if out.exists() and not force:
        raise CorrosegInputError(out, "already exists; pass --force to overwrite it")
    with output_lock(out):
        return _write_report(run, out, data, real, predictor, say, real_wells, started)


def _write_report(run: Path, out: Path, data, real, predictor: WellPredictor | None, say: Progress,
                  real_wells: Sequence[tuple[str, int]], started: float) -> Path:
    say("reading the run")
    info = RunInfo.read(run)
    predictor, problem = _predictor(run, info, predictor)
    data_path = Path(data) if data is not None else _named_data(info)
    scored = problem or _score_or_why(predictor, info, data_path, data is None, say)
    real_result = problem or _real_or_why(predictor, real, real_wells, say)
    sections = build_sections(info, predictor, scored, real_result, say)
    subtitle = [f"run {run.resolve()}",
                f"data {data_path if data_path is not None else 'none'}; real data {real if real else 'none'}"]
    footer = (f"corroseg {__version__}; written {datetime.datetime.now():%Y-%m-%d %H:%M} in "
              f"{time.perf_counter() - started:.0f} s; self-contained: no external files or scripts")
    document = render(f"corroseg report: {run.name}", subtitle, sections, footer)
    with atomic_path(out) as tmp:
        tmp.write_text(document, encoding="utf-8")
    return out


def _predictor(run: Path, info: RunInfo, given: WellPredictor | None) -> tuple[WellPredictor | None, str | None]:
    """The predictor (given, else loaded) and, for a cross-validation run that cannot load, why not."""
    if given is not None:
        return given, None
    try:
        return load_predictor(run), None
    except CorrosegInputError as exc:
        if not info.folds:
            raise
        return None, f"no model to predict with: {exc}"


def _named_data(info: RunInfo) -> Path | None:
    named = (info.folds_info or {}).get("data") or (info.data or {}).get("data")
    return Path(named) if named else None


def _score_or_why(predictor: WellPredictor, info: RunInfo, data: Path | None, named: bool,
                  say: Progress) -> Scored | str:
    """The scored split, or the one line saying why there is none."""
    if data is None:
        return "no labelled data: pass --data DATA (the run names no dataset)"
    # an ensemble of folds has seen every training well: only a test split is held out
    val_wells = None if info.folds else (info.data or {}).get("val_wells")
    try:
        return score_split(predictor, data, val_wells, say)
    except (_Missing, CorrosegInputError) as exc:
        return f"{exc} (the dataset the run names; pass --data)" if named else str(exc)


def _real_or_why(predictor: WellPredictor, real, wells: Sequence[tuple[str, int]],
                 say: Progress) -> tuple[list[WellView], list[str]] | str:
    """The predicted real wells and notes, or the one line saying why there are none."""
    if real is None:
        return "no real data given (pass --real, e.g. ../shared/data/challenge)"
    if not Path(real).is_dir():
        return f"real data {real} not found"
    return predict_real(predictor, Path(real), wells, say)


def build_sections(info: RunInfo, predictor: WellPredictor | None, scored: Scored | str,
                   real: tuple[list[WellView], list[str]] | str, say: Progress) -> list[Section]:
    """Every section in order; one that lacks its input says so in one line."""
    sections = [summary_section(info, predictor, scored, real),
                Section("how-to-read", "How to read this report", HOW_TO_READ),
                _guarded("config", "Run configuration", lambda: config_section(info)),
                _guarded("learning-curves", "Learning curves", lambda: curves_section(info))]
    labelled = [("per-well", "Per-well scores", per_well_section),
                ("well-strips", "Best and worst wells", lambda s: strips_section(predictor, s)),
                ("worst-patches", "Worst patches", worst_patches_section),
                ("reliability", "Reliability of the probabilities",
                 lambda s: reliability_section(s, predictor.threshold)),
                ("precision-recall", "Precision-recall", lambda s: pr_section(s, predictor.threshold))]
    for name, title, build in labelled:
        say(f"drawing: {title.lower()}")
        sections.append(_guarded(name, title, lambda: build(scored)) if isinstance(scored, Scored)
                        else Section(name, title, _missing(scored)))
    say("drawing: real wells")
    sections.append(real_section(*real) if isinstance(real, tuple) else Section("real-wells", "Real wells",
                                                                                   _missing(real)))
    return sections

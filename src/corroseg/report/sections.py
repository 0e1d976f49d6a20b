"""The report's sections, one function each: summary, configuration, curves, scores, wells, patches,
reliability, precision-recall and real wells."""

from __future__ import annotations

import numpy as np

from corroseg.data.wells import resolve_width
from corroseg.infer.bundle import WellPredictor
from corroseg.infer.options import describe_threshold
from corroseg.train.rundir import THRESHOLD_FILE
from corroseg.models import metrics
from corroseg.report import figures
from corroseg.report.strips import well_strip_figure
from corroseg.train.config import CONFIG, DATA, METRICS
from corroseg.report.markup import _esc, _fmt, _pct, _table, _missing, _img, Section, _cards, _kv, _flat
from corroseg.report.run_info import _read_json, _fold_number, RunInfo
from corroseg.infer.evaluate import ScoredSplit
from corroseg.report.views import SECTION_ROWS, WellView, real_false_alarms


WORST_PATCHES = 12


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


def tuned_on(tuned: dict) -> str:
    """Where ``threshold.json``'s threshold was tuned, in words (e.g. "validation wells 2, 7, 9 (1,266 patches)")."""
    wells = ", ".join(map(str, sorted(tuned.get("wells") or []))) or "?"
    source = tuned.get("source") or "held-out"
    where = {"validation": f"validation wells {wells}",
             "out-of-fold": f"out-of-fold predictions of training wells {wells}"}.get(source, f"{source} wells {wells}")
    patches = tuned.get("patches")
    return where + (f" ({patches:,} patches)" if isinstance(patches, int) else "")


def threshold_line(tuned: dict, used: float | None = None) -> str:
    """``threshold.json`` in one sentence: the tuned threshold, its challenge metric, where it was tuned."""
    line = (f"Tuned threshold {_fmt(tuned.get('threshold'), 'g')}: challenge metric {_fmt(tuned.get('iou'))} there, "
            f"{_fmt(tuned.get('iou_at_0.5'))} at 0.5, on {tuned_on(tuned)}.")
    return line + ("" if used is None else f" The masks use {used:g}.")


def threshold_html(tuned: dict, used: float | None) -> str:
    """The tuned threshold's curve (challenge metric against threshold) with the tuned and the used one marked."""
    raw = tuned.get("curve")
    try:
        curve = {float(t): float(v) for t, v in raw.items()} if isinstance(raw, dict) else {}
    except (TypeError, ValueError):
        curve = {}
    value = tuned.get("threshold")
    if not curve:
        return f"<p>{_esc(threshold_line(tuned, used))}</p>"
    fig = figures.threshold_curve_figure(curve, value if isinstance(value, float) else None, used)
    return _img(fig, "threshold curve", threshold_line(tuned, used))


def _flags_nothing(scored: ScoredSplit | str) -> bool:
    return isinstance(scored, ScoredSplit) and not np.any(scored.labelled_masks)


def summary_section(info: RunInfo, predictor: WellPredictor | None, scored: ScoredSplit | str,
                    real: tuple[list[WellView], list[str]] | str) -> Section:
    cards, warning = [], ""
    if _flags_nothing(scored):
        warning = (f'<p class="warning">Warning: the model flags no pixel of the {len(scored.truth):,} labelled '
                   f"patches of {_esc(scored.description)}: precision is undefined and recall 0. Every false-alarm "
                   "figure of 0% in this report means nothing found, not a good model; check the threshold and "
                   "the model.</p>")
    if isinstance(scored, ScoredSplit):
        r = scored.figures
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
    together = real_false_alarms(real[0]) if isinstance(real, tuple) else None
    if together is not None:
        rate, wells = together["rate"], together["wells"]
        note = (f"share of valid pixels flagged on real x_train wells {', '.join(map(str, wells))}, which have no "
                "corrosion (not the per-well table's rate, which is on clean pixels of the synthetic test wells)")
        if _flags_nothing(scored):
            note = (f"warning: the model flags nothing on the {scored.split} split either: {_pct(rate, 3)} false "
                    "alarms here means nothing found, not a good model; " + note)
        elif rate == 0 and not isinstance(scored, ScoredSplit):
            note += "; with no labelled split scored, 0 may mean the model flags nothing at all"
        cards.append(("false alarms on real wells", _pct(rate, 3), note))
    else:
        cards.append(("false alarms on real wells", "n/a", real if isinstance(real, str) else
                      "real wells 9 and 10 not found in the real data"))
    threshold = "n/a" if predictor is None else _fmt(predictor.threshold, "g")
    tuned = (info.threshold or {}).get("threshold")
    source = "" if predictor is None else describe_threshold(getattr(predictor, "options", None),
                                                             tuned if isinstance(tuned, float) else None)
    cards.append(("threshold", threshold, "a pixel is corrosion when its probability reaches this"
                  + ("" if predictor is None else f"; {source}; {describe_predictor(predictor)}")))
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
    scope = scored.description if isinstance(scored, ScoredSplit) else "no labelled split"
    body = warning + _cards(cards) + f'<p class="facts">Scores are on {_esc(scope)}.</p>'
    if info.threshold is not None:
        used = None if predictor is None else predictor.threshold
        body += "<h3>Threshold</h3>" + threshold_html(info.threshold, used)
    return Section("summary", "Summary", body)


HOW_TO_READ = """
<ul>
<li><b>The pictures of wells</b> run downwards in depth. Each well is drawn as side-by-side strips:
<i>image</i> (wall-thickness deviation in inches: blue is thinner wall, i.e. metal loss; red thicker;
grey means no reading), <i>probability</i> (how sure the model is that a pixel is corrosion, white 0 to
dark purple 1), <i>mask</i> (what the model flags) and, where the truth is known, <i>truth</i>.
With a truth, the mask is coloured by outcome: <span class="tp">green</span> corrosion found,
<span class="fp">red</span> false alarm, <span class="fn">amber</span> corrosion missed.
Columns are the angle around the casing; the left and right edges touch.</li>
<li><b>Challenge metric</b>: the wells are cut into 36 x 36 patches; each patch scores the overlap
(intersection over union, IoU) of flagged and true corrosion, 1 when both are empty; the metric is
the mean over patches. Because empty patches score 1 when nothing is flagged, <b>iou_nonempty</b>
repeats it over the patches that truly hold corrosion: the harder figure.</li>
<li><b>False alarms</b>, two figures: the summary's <i>false alarms on real wells</i> is the share of valid
pixels flagged on real wells 9 and 10, which have no corrosion, so every flag there is a false alarm: an
inspection engineer should expect roughly this share of a sound casing to be flagged. The per-well table's
<i>false alarm rate (clean synthetic pixels)</i> is the share of truly clean pixels of each synthetic test
well that is flagged. A model that flags nothing scores 0 on both.</li>
<li><b>Synthetic versus real</b>: the scores come from synthetic wells whose corrosion is known exactly.
The real wells have no labels here: judge them by eye. Grooves are the thin blue lines (vertical or
slanted) that continue over many rows; the model should flag them and not the joint patterns or the
horizontal collar lines.</li>
<li><b>Reliability</b>: when the model says 0.7, about 70% of such pixels should be corrosion. Points
below the diagonal mean over-confidence.</li>
</ul>
"""


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
        parts.append(f"<h3>Tuned threshold ({THRESHOLD_FILE})</h3><p>{_esc(threshold_line(info.threshold))} "
                     'Its curve and the threshold in use are drawn in the <a href="#summary">summary</a>.</p>')
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


def per_well_section(scored: ScoredSplit) -> Section:
    result = scored.figures
    truth_any = scored.truth.reshape(len(scored.truth), -1).any(axis=1)
    wells = scored.images.wells[scored.labelled_rows]
    header = ["well", "kind", "rows x width", "patches", "with corrosion", "challenge metric", "iou_nonempty",
              "precision", "recall", "false alarm rate (clean synthetic pixels)"]
    rows = []
    for key, one in sorted(result["per_well"].items(), key=lambda item: int(item[0])):
        number = int(key)
        patches = scored.images.images[scored.images.wells == number]
        width, _ = resolve_width(number, patches)
        rows.append((number, (scored.kinds or {}).get(number, "").replace("_", " ") or "-",
                     f"{len(patches) * 36 * 36 // width:,} x {width}", one["patches"],
                     int(truth_any[wells == number].sum()), _fmt(one["iou"]), _fmt(one["iou_nonempty"]),
                     _fmt(one["precision"]), _fmt(one["recall"]), _pct(one["false_alarm_rate"], 3)))
    rows.append(("all", "", "", result["patches"], result["patches_with_corrosion"], _fmt(result["iou"]),
                 _fmt(result["iou_nonempty"]), _fmt(result["precision"]), _fmt(result["recall"]),
                 _pct(result["false_alarm_rate"], 3)))
    note = (f"<p>Scored on {_esc(scored.description)}, as <code>corroseg evaluate</code> scores it: each well "
            "predicted whole, patches with a corrupted pixel left empty (the challenge's labels are empty there). "
            "iou_nonempty is n/a for a well with no corrosion. The false alarm rate is the share of the truly clean "
            "pixels of these synthetic wells that is flagged; the summary's false alarms on real wells is another "
            "figure (real wells 9 and 10, no corrosion at all).</p>")
    return Section("per-well", "Per-well scores", note + _table(header, rows, "num total"))


def strips_section(scored: ScoredSplit, strips: list[tuple[str, WellView]] | str) -> Section:
    if isinstance(strips, str):
        return Section("well-strips", "Best and worst wells", _missing(strips))
    per_well = scored.figures["per_well"]
    parts = ['<div class="pair">']
    for label, view in strips:
        view.title = f"{label}: {view.title}, challenge metric {_fmt(per_well[str(view.well)]['iou'])}"
        valid = view.valid
        if label == "best":
            weight, why = (view.truth * valid).sum(axis=1), "the most corrosion"
        else:
            weight, why = ((view.mask != view.truth) & valid).sum(axis=1), "the most errors"
        parts.append(_well_html(view, weight, why))
    parts.append("</div>")
    intro = (f"<p>The best-scoring well with corrosion and the worst-scoring well of {_esc(scored.description)}. "
             f"Long wells are pictured by the {SECTION_ROWS:,} rows with the most corrosion (best) or the most "
             "errors (worst); the line plot above each shows the whole well.</p>")
    return Section("well-strips", "Best and worst wells", intro + "".join(parts))


def worst_patches_section(scored: ScoredSplit) -> Section:
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
               f"{_pct(share, 1)} of the {len(iou):,} labelled patches score below 0.5. Each triplet: the thickness "
               "image on one colour scale for all (the colour bar, inches: blue is metal loss), the truth (black: "
               "corrosion) and the prediction coloured by outcome: green found, red false alarm, amber missed, "
               "white clean, grey no data.")
    return Section("worst-patches", "Worst patches", _img(fig, "worst patches", caption))


def _clean_pixels(scored: ScoredSplit) -> tuple[np.ndarray, np.ndarray]:
    clean = scored.clean()
    return scored.probability[scored.labelled_rows][clean], scored.truth[clean]


def reliability_section(scored: ScoredSplit, threshold: float) -> Section:
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


def pr_section(scored: ScoredSplit, threshold: float) -> Section:
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
        together = real_false_alarms(views)
        rows = [(f"x_train well {v.well}", f"{v.image.shape[0]:,} x {v.image.shape[1]}", f"{int(v.valid.sum()):,}",
                 f"{int(v.mask[v.valid].sum()):,}", _pct(v.flagged, 3)) for v in fa]
        rows.append(("together", "", f"{together['valid_pixels']:,}", f"{together['flagged_pixels']:,}",
                     _pct(together["rate"], 3)))
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

"""The HTML report: its sections, embedded images, figures that match evaluate, missing inputs, rendering."""

from __future__ import annotations

import ast
import base64
import dataclasses
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REAL_DATA, requires_real_data

from corroseg.train.config import TrainConfig
from corroseg.errors import CorrosegInputError
from corroseg.infer.bundle import Predictor
from corroseg.infer.evaluate import evaluate, false_alarms, score_split
from corroseg.report import figures
from corroseg.report.markup import CSS, _readable
from corroseg.report.run_info import RunInfo
from corroseg.train.rundir import REPORT_FILE as REPORT_NAME
from corroseg.workflows.report import write_report
from corroseg.report.sections import HOW_TO_READ, section_rows, summary_section
from corroseg.report.strips import FALSE_NEGATIVE, OUTCOME_COLOURS
from corroseg.report.views import WellView

ROOT = Path(__file__).resolve().parents[1]
DATA_URI = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")
SECTIONS = {
    "summary": "Summary",
    "how-to-read": "How to read this report",
    "config": "Run configuration",
    "learning-curves": "Learning curves",
    "per-well": "Per-well scores",
    "well-strips": "Best and worst wells",
    "worst-patches": "Worst patches",
    "faint-grooves": "Faint grooves",
    "reliability": "Reliability of the probabilities",
    "precision-recall": "Precision-recall",
    "log-view": "As a casing log",
    "real-wells": "Real wells",
}
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def predictor(tiny_run):
    return Predictor.from_run(tiny_run)


@pytest.fixture(scope="module")
def report(tiny_run, synth_data, predictor, tmp_path_factory):
    """(path, text, progress messages) of the report of the tiny run on the tiny synthetic data."""
    out = tmp_path_factory.mktemp("report") / "tiny.html"
    messages: list[str] = []
    path = write_report(tiny_run, out=out, data=synth_data, predictor=predictor, progress=messages.append)
    return path, path.read_text(encoding="utf-8"), messages


def section(text: str, name: str) -> str:
    """The HTML of one ``<section>``."""
    start = text.index(f'<section id="{name}">')
    return text[start: text.index("</section>", start)]


def table_rows(html: str) -> list[list[str]]:
    rows = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", html)]
    return [row for row in rows if row]


def without_images(text: str) -> str:
    return DATA_URI.sub("data:image/png;base64,", text)


def copy_run(run: Path, to: Path) -> Path:
    return Path(shutil.copytree(run, to, ignore=shutil.ignore_patterns("checkpoints", "report*.html")))


def test_every_section_is_there_in_order(report):
    _, text, messages = report
    positions = [text.index(f'<section id="{name}"><h2>{title}</h2>') for name, title in SECTIONS.items()]
    assert positions == sorted(positions)
    for name in SECTIONS:
        assert f'href="#{name}"' in text  # the table of contents links every section
    assert any("predicting" in m for m in messages)
    for name in ("per-well", "well-strips", "worst-patches", "faint-grooves", "reliability", "precision-recall"):
        assert 'class="missing"' not in section(text, name), name


def test_faint_grooves_are_counted_by_contrast_beside_the_runs_own_figure(report, predictor, synth_data, tiny_run):
    from corroseg.infer.evaluate import score_split, split_sensitivity

    _, text, _ = report
    faint = section(text, "faint-grooves")
    expected = split_sensitivity(score_split(predictor, synth_data, "test"))
    rows = table_rows(faint)
    assert sum(int(row[1]) for row in rows) == expected["grooves"] > 0
    assert [row[0] for row in rows][0] in ("under 0.5", "0.5 to 1", "1 to 1.5", "1.5 to 2", "2 to 3")
    assert "data:image/png;base64," in faint
    from corroseg.infer.sensitivity import read_sensitivity
    from corroseg.report.sensitivity_section import sensitivity_section

    scored = score_split(predictor, synth_data, "test")
    assert "own figure (sensitivity.json)" in sensitivity_section(scored, read_sensitivity(tiny_run)).body
    assert "own figure (none for these options)" in sensitivity_section(scored, None).body


def test_the_best_well_is_shown_as_a_casing_log_with_its_tally(report):
    _, text, _ = report
    log = section(text, "log-view")
    assert "data:image/png;base64," in log and "SCREENING" in log and "Sizes assumed" in log
    tally = table_rows(log[log.index("Joint tally"):])
    assert tally and all(len(row) in (10, 11) for row in tally)
    assert "min wall (in)" in log and "lowest failure (psi)" in log


def test_self_contained_with_embedded_pngs(report):
    _, text, _ = report
    sources = re.findall(r'src="([^"]*)"', text)
    assert len(sources) >= 6  # curves, 2 wells (profile + strip), worst patches, reliability, PR
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    for encoded in DATA_URI.findall(text):
        assert base64.b64decode(encoded)[:8] == b"\x89PNG\r\n\x1a\n"
    lowered = without_images(text).lower()
    for external in ("http://", "https://", "<script", "<link", "@import", "url("):
        assert external not in lowered, external


def test_per_well_table_matches_evaluate(report, predictor, synth_data):
    _, text, _ = report
    result = evaluate(predictor, synth_data, "test")
    rows = {row[0]: row for row in table_rows(section(text, "per-well"))}
    assert set(rows) == set(result["per_well"]) | {"all"}
    for well, one in result["per_well"].items():
        row = rows[well]
        assert row[3] == str(one["patches"])
        assert row[5] == f"{one['iou']:.3f}"
        expected = "n/a" if np.isnan(one["iou_nonempty"]) else f"{one['iou_nonempty']:.3f}"
        assert row[6] == expected
    assert rows["all"][5] == f"{result['iou']:.3f}"
    summary = section(text, "summary")
    assert f"{result['iou']:.3f}" in summary and f"{result['iou_nonempty']:.3f}" in summary


def test_text_has_no_nan_or_python_reprs(report):
    _, text, _ = report
    visible = without_images(text)
    assert not re.search(r"\b(nan|inf)\b", visible, flags=re.IGNORECASE)
    assert "None" not in visible and "array(" not in visible


def test_threshold_curve_is_drawn_not_listed(report, tiny_run, predictor):
    _, text, _ = report
    tuned = json.loads((tiny_run / "threshold.json").read_text())
    summary, config = section(text, "summary"), section(text, "config")
    assert 'alt="threshold curve"' in summary  # drawn where the threshold in use is known
    assert f"The masks use {predictor.threshold:g}" in summary
    assert f"Tuned threshold {tuned['threshold']:g}" in config and "validation wells" in config
    # no longer 37 curve cells: one cell per config key and per data fact, a few more
    cells = len(TrainConfig.__dataclass_fields__) + len(json.loads((tiny_run / "data.json").read_text()))
    assert "curve." not in config and len(re.findall(r'class="k"', config)) < cells + 20
    used, best = 0.5, max(tuned["curve"], key=tuned["curve"].get)
    fig = figures.threshold_curve_figure({float(t): v for t, v in tuned["curve"].items()}, float(best), used)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(label.startswith(f"tuned {float(best):g}") for label in labels)
    assert any(label.startswith("used by the masks 0.5") for label in labels)
    assert [line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == "--"] == [used]


def test_config_values_read_as_words_not_json(report):
    _, text, _ = report
    config = without_images(section(text, "config"))
    assert not re.search(r"[\[\]{}]", config)  # no JSON list or mapping printed raw
    assert re.search(r"\d+ px: wells \d+", config)  # data.json's widths, grouped by width
    assert _readable("widths", {"1": 72, "10": 36, "2": 36}) == "36 px: wells 2, 10; 72 px: wells 1"
    assert _readable("assignment", [[3, 1], [2]]) == "fold 0: wells 1, 3; fold 1: wells 2"
    assert _readable("model_options", {}) == "none" and _readable("expansion", ["none"]) == "none"
    assert _readable("model_options", {"channels": [8, 4]}) == "channels: 8, 4"  # only wells are sorted
    assert _readable("train_seconds", 198.8) == "198.8 s" and _readable("train_pixels", 10428912) == "10,428,912 px"


def test_the_two_false_alarm_figures_have_distinct_names(report):
    _, text, _ = report
    header = re.findall(r"<th>(.*?)</th>", section(text, "per-well"))
    assert "false alarm rate (clean synthetic pixels)" in header and "false alarm rate" not in header
    assert "false alarms on real wells" in section(text, "summary")


def test_missed_has_one_colour_that_is_not_the_image_blue():
    missed = OUTCOME_COLOURS[FALSE_NEGATIVE]
    swatch = "#" + "".join(f"{round(255 * float(c)):02x}" for c in missed)
    assert re.search(r"\.fn::before\{[^}]*background:" + swatch, CSS)  # the legend swatch is the figures' colour
    assert 'class="fn">amber' in HOW_TO_READ and "blue</span>" not in HOW_TO_READ
    assert missed[2] < 0.3 < missed[0]  # amber: red and green high, blue low, unlike the metal-loss blues


def test_a_model_that_flags_nothing_is_called_out(tiny_run, predictor, synth_data):
    blind = dataclasses.replace(predictor, threshold=0.999999, postprocess=None)
    scored = score_split(blind, synth_data, "test")
    assert not scored.labelled_masks.any()
    image = np.zeros((72, 36), np.float32)
    quiet = WellView("real x_train well 9", image, np.full_like(image, 0.1), np.zeros((72, 36), np.uint8), well=9,
                     false_alarm_well=True)
    html = summary_section(RunInfo.read(tiny_run), blind, scored, ([quiet], [])).html()
    assert html.index('class="warning"') < html.index('class="cards"')  # the first thing the summary says
    assert "flags no pixel" in html
    card = html[html.index("false alarms on real wells"):]
    assert "0.000%" in card and "not a good model" in card[:card.index("</div></div>")]


def test_written_atomically_and_refuses_to_overwrite(report, tiny_run, predictor):
    path, _, _ = report
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary leftovers
    with pytest.raises(CorrosegInputError, match="already exists"):
        write_report(tiny_run, out=path, predictor=predictor, force=False)


def test_missing_inputs_each_say_so(tiny_run, predictor, tmp_path):
    run = copy_run(tiny_run, tmp_path / "run")
    facts = json.loads((run / "data.json").read_text())
    facts["data"] = str(tmp_path / "moved-away")
    (run / "data.json").write_text(json.dumps(facts))
    shutil.rmtree(run / "logs")
    (run / "metrics.json").unlink()
    path = write_report(run, predictor=predictor, real=tmp_path / "no-real-data")
    assert path == run / REPORT_NAME
    text = path.read_text()
    assert "not found" in section(text, "per-well") and "moved-away" in section(text, "per-well")
    for name in ("per-well", "well-strips", "worst-patches", "reliability", "precision-recall", "learning-curves",
                 "real-wells"):
        assert 'class="missing"' in section(text, name), name
    assert "metrics.json" in section(text, "config")
    assert "no-real-data" in section(text, "real-wells")
    # nothing to draw without curves, data or real wells: only threshold.json's curve is left
    assert re.findall(r'<img [^>]*alt="([^"]*)"', text) == ["threshold curve"]


def test_unlabelled_data_says_what_is_missing(tiny_run, predictor, synth_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(synth_data / "x_test", data / "x_test")  # images, no labels
    text = write_report(tiny_run, out=tmp_path / "r.html", data=data, predictor=predictor).read_text()
    assert "no labelled test split" in section(text, "per-well")


def folds_run(run: Path, to: Path, folds: int = 2) -> Path:
    """A cross-validation run's layout (``infer.crossval``) with copies of ``run`` as its folds."""
    for k in range(folds):
        copy_run(run, to / f"fold_{k}")
    shutil.copy(run / "config.yaml", to / "config.yaml")
    per_fold = [{"fold": k, "wells": [k + 1], "patches": 10, "iou": 0.5 + k / 10, "iou_nonempty": 0.4}
                for k in range(folds)]
    (to / "folds.json").write_text(json.dumps({"format": "corroseg-folds/1", "folds": folds, "data": "/nowhere",
                                               "assignment": [[k + 1] for k in range(folds)], "per_fold": per_fold,
                                               "oof_iou_mean": 0.55, "oof_iou_std": 0.05}))
    tuned = json.loads((run / "threshold.json").read_text())
    tuned.update(source="out-of-fold", wells=list(range(1, folds + 1)))
    (to / "threshold.json").write_text(json.dumps(tuned))
    return to


def test_cross_validation_run_plots_each_fold(tiny_run, tmp_path):
    cv = folds_run(tiny_run, tmp_path / "cv")
    text = write_report(cv, real=tmp_path / "no-real-data").read_text()  # the default predictor: its folds' ensemble
    assert "<img" in section(text, "learning-curves")
    config = section(text, "config")
    assert "2 folds" in config and "fold_1" in config and "0.600" in config
    assert "fold 0: wells 1; fold 1: wells 2" in config  # folds.json's assignment, in words
    assert "out-of-fold predictions of training wells 1, 2" in config
    assert 'alt="threshold curve"' in section(text, "summary")
    assert "0.550" in section(text, "summary")
    assert "/nowhere" in section(text, "per-well")  # the dataset folds.json names


def test_cross_validation_run_without_a_model_still_reports(tiny_run, tmp_path):
    cv = folds_run(tiny_run, tmp_path / "cv")
    (cv / "fold_1" / "model.safetensors").unlink()  # an unfinished fold
    text = write_report(cv).read_text()
    assert "<img" in section(text, "learning-curves")
    assert "no model to predict with" in section(text, "per-well")
    with pytest.raises(CorrosegInputError):
        write_report(tmp_path / "nothing-here")


@requires_real_data
def test_real_wells_false_alarm_rate_matches(tiny_run, predictor, synth_data, tmp_path):
    real = tmp_path / "real"
    (real / "x_train").mkdir(parents=True)
    for well in (10, 12):  # two small real wells keep the test quick
        for patch in (REAL_DATA / "x_train").glob(f"well_{well}_patch_*.npy"):
            shutil.copy(patch, real / "x_train" / patch.name)
    out = write_report(tiny_run, out=tmp_path / "r.html", data=tmp_path / "no-data", real=real,
                       predictor=predictor, real_wells=[("train", 10), ("train", 12), ("test", 5)])
    text = out.read_text()
    rate = false_alarms(predictor, real / "x_train", wells=[10])["rate"]
    wells = section(text, "real-wells")
    assert f"{100 * rate:.3f}%" in wells and f"{100 * rate:.3f}%" in section(text, "summary")
    assert "real x_train well 12" in wells and "real x_train well 10" in wells
    assert wells.count("<img") >= 2
    assert "x_test" in wells and 'class="missing"' in wells  # the absent split is named, not fatal


def test_section_rows_picks_the_busiest_window():
    weight = np.zeros(5000)
    weight[3100:3300] = 1
    start, stop = section_rows(weight, 1000)
    assert stop - start == 1000 and start <= 3100 and stop >= 3300
    assert section_rows(np.ones(300), 1000) == (0, 300)


def test_pixel_statistics():
    truth = np.array([0, 0, 1, 1, 0, 1])
    probability = np.array([0.05, 0.15, 0.95, 0.85, np.nan, 0.55])
    stats = figures.reliability_bins(probability, truth, bins=10)
    assert stats.counts.sum() == 5 and stats.counts[0] == 1 and stats.observed[9] == 1.0
    curve = figures.precision_recall(probability, truth, threshold=0.5)
    assert curve.positives == 3 and curve.average_precision == pytest.approx(1.0)
    assert curve.point == (0.5, 1.0, 1.0)


def test_precision_recall_labels_stay_inside_the_axes():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    rng = np.random.default_rng(0)
    truth = rng.random(20_000) < 0.3
    probability = np.clip(truth * 0.6 + rng.random(20_000) * 0.5, 0, 1)
    fig = figures.precision_recall_figure(figures.precision_recall(probability, truth))
    renderer = FigureCanvasAgg(fig).get_renderer()
    ax = fig.axes[0]
    box = ax.get_window_extent(renderer)
    labels = [t for t in ax.texts if t.get_text().startswith("F1")]
    assert len(labels) == 4
    for label in labels:
        extent = label.get_window_extent(renderer)
        assert box.x0 < extent.x0 and extent.x1 < box.x1 and box.y0 < extent.y0 and extent.y1 < box.y1, label


def test_worst_patches_have_readable_titles_a_colour_bar_and_a_legend():
    rng = np.random.default_rng(0)
    images = (0.02 * rng.standard_normal((12, 36, 36))).astype(np.float32)
    images[0, :4] = np.nan  # corrupted pixels are no data
    truths = np.zeros((12, 36, 36), np.uint8)
    truths[:, :, 10:14] = 1
    predictions = np.roll(truths, 3, axis=2)
    fig = figures.patch_grid_figure(images, truths, predictions, [f"well 1 patch {i}: IoU 0.00" for i in range(12)])
    width, _ = fig.get_size_inches()
    assert width <= 12.7  # at 100 dpi it fits the report's ~1,260 px column, so 10 pt stays 10 pt
    titles = [ax.title for ax in fig.axes if ax.get_title()]
    assert len(titles) == 12 and min(t.get_fontsize() for t in titles) >= 10
    bars = [ax for ax in fig.axes if "(in)" in ax.get_xlabel()]
    assert len(bars) == 1  # one colour bar, labelled in inches, for the one shared scale
    limits = {ax.images[0].get_clim() for ax in fig.axes if ax.images and ax.images[0].get_array().ndim == 2}
    assert len(limits) == 1 and next(iter(limits))[0] == -next(iter(limits))[1]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"found", "false alarm", "missed", "no data"} <= set(legend)


def test_report_modules_never_import_pyplot():
    for name in ("html.py", "figures.py"):
        tree = ast.parse((ROOT / "src" / "corroseg" / "report" / name).read_text())
        imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        imported += [f"{node.module}.{alias.name}" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                     for alias in node.names]
        assert not [m for m in imported if "pyplot" in m], name


def _render_module():
    spec = importlib.util.spec_from_file_location("render_report", ROOT / "scripts" / "render_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_render_script_without_chromium_exits_2(report, tmp_path, monkeypatch, capsys):
    module = _render_module()
    monkeypatch.setattr(module, "find_chromium", lambda: None)
    assert module.main([str(report[0]), "--out", str(tmp_path / "shot.png")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"headless Chromium not installed at {CHROMIUM}")
def test_report_renders_in_headless_chromium(report, tmp_path):
    from PIL import Image

    shot = tmp_path / "shot.png"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "render_report.py"), str(report[0]), "--out",
                           str(shot), "--width", "1200", "--height", "1600"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert pixels.shape == (1600, 1200)
    assert pixels.std() > 20  # not blank: the dark header, cards and figures
    assert (pixels < 80).mean() > 0.03  # the header band is drawn

"""The HTML report: its sections, embedded images, figures that match evaluate, missing inputs, rendering."""

from __future__ import annotations

import ast
import base64
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

from corroseg.errors import CorrosegInputError
from corroseg.infer.bundle import Predictor
from corroseg.infer.evaluate import evaluate, false_alarms
from corroseg.report import figures
from corroseg.train.rundir import REPORT_FILE as REPORT_NAME
from corroseg.workflows.report import write_report
from corroseg.report.sections import section_rows

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
    "reliability": "Reliability of the probabilities",
    "precision-recall": "Precision-recall",
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
    for name in ("per-well", "well-strips", "worst-patches", "reliability", "precision-recall"):
        assert 'class="missing"' not in section(text, name), name


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
    assert "<img" not in text  # nothing to draw without curves, data or real wells


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
    return to


def test_cross_validation_run_plots_each_fold(tiny_run, tmp_path):
    cv = folds_run(tiny_run, tmp_path / "cv")
    text = write_report(cv, real=tmp_path / "no-real-data").read_text()  # the default predictor: its folds' ensemble
    assert "<img" in section(text, "learning-curves")
    config = section(text, "config")
    assert "2 folds" in config and "fold_1" in config and "0.600" in config
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

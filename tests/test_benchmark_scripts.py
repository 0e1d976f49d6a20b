"""The pieces of benchmarks/quality.py that decide figures: the robust-threshold reference, the docs section."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_module(name: str):
    """A script or module of benchmarks/ as ``NAME_benchmark``, its siblings importable as when a script runs."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(f"{name}_benchmark", BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


def load_quality():
    return load_module("quality")


def test_robust_threshold_flags_a_groove_and_not_the_noise():
    quality = load_quality()
    rng = np.random.default_rng(0)
    image = rng.normal(0, 0.01, (144, 36)).astype(np.float32)
    image[:, 10:12] -= 0.08  # a 2 px groove, 8 robust standard deviations deep
    image[5, 20] = -999.25  # a placeholder: no data, never flagged
    flagged = quality.RobustThreshold(k=4.0).predict_well(image)
    assert np.isnan(flagged[5, 20])
    groove = flagged[:, 10:12]
    rest = np.delete(flagged, [10, 11], axis=1)
    assert np.nanmean(groove) == 1.0
    assert np.nanmean(rest) < 0.001  # 4 sigma: about 3 in 100,000 of Gaussian noise


def test_docs_section_is_replaced_between_its_markers(tmp_path):
    quality = load_quality()
    docs = tmp_path / "benchmarks.md"
    docs.write_text(f"# Benchmarks\n\nbefore\n\n{quality.BEGIN}\nold\n{quality.END}\n\nafter\n")
    quality.write_docs(docs, "## new section\nfigures")
    text = docs.read_text()
    assert "old" not in text and "## new section\nfigures" in text
    assert text.index("before") < text.index("new section") < text.index("after")
    quality.write_docs(docs, "## newer")
    assert docs.read_text().count(quality.BEGIN) == 1 and "## newer" in docs.read_text()
    fresh = tmp_path / "fresh.md"
    quality.write_docs(fresh, "## first")
    assert fresh.read_text().startswith("# Benchmarks") and "## first" in fresh.read_text()


def test_every_entry_has_a_unique_name_and_valid_overrides():
    from corroseg.train.config import load_config

    quality = load_quality()
    names = [e.name for e in quality.ENTRIES]
    assert len(set(names)) == len(names) and len({e.slug for e in quality.ENTRIES}) == len(names)
    for entry in quality.ENTRIES:
        load_config(entry.base, list(entry.overrides))  # a typo would only show after an hour of training
    assert {e.group for e in quality.ENTRIES} >= {"paper", "seeds", *quality.GROUP_TITLES}


def load_texture_check():
    return load_module("texture_check")


def test_groove_filter_reads_a_groove_depth_and_ignores_flat_casing():
    check = load_texture_check()
    offsets = np.arange(-4, 5)
    groove = 0.02 * np.where(np.abs(offsets) < 2, np.cos(np.pi * offsets / 4) ** 2, 0.0)
    assert np.isclose(check.groove_kernel() @ -groove, 0.02)  # a 0.02 in deep 2 px groove reads 0.02
    image = np.zeros((200, 36))
    assert check.groove_share(image) == {"groove_0.01": 0.0, "groove_0.02": 0.0, "groove_0.03": 0.0}
    image[:, 15:24] -= groove  # a 0.02 in groove the whole length of the well
    shares = check.groove_share(image)
    assert shares["groove_0.01"] > 0 and shares["groove_0.02"] > 0 and shares["groove_0.03"] == 0.0


def load_docs_tables():
    return load_module("docs_tables")


def test_a_section_is_replaced_between_its_markers_and_the_text_around_it_kept(tmp_path):
    tables = load_docs_tables()
    begin, end = tables.markers("speed")
    assert (begin, end) == ("<!-- speed:begin -->", "<!-- speed:end -->")
    docs = tmp_path / "benchmarks.md"
    other = "<!-- quality:begin -->\nkept\n<!-- quality:end -->"
    docs.write_text(f"# Title\n\nbefore\n\n{begin}\nold figures\n{end}\n\n{other}\nafter\n")
    tables.write_section(docs, "## Speed\nnew figures\n\n", "speed")
    assert docs.read_text() == f"# Title\n\nbefore\n\n{begin}\n## Speed\nnew figures\n{end}\n\n{other}\nafter\n"
    tables.write_section(docs, "newer", "speed", heading="# Ignored\n")  # a heading only starts a new file
    text = docs.read_text()
    assert text.count(begin) == 1 and "new figures" not in text and "newer" in text and text.startswith("# Title")


def test_a_section_is_appended_when_absent(tmp_path):
    tables = load_docs_tables()
    docs = tmp_path / "notes.md"
    docs.write_text("# Notes\n\ntext\n\n\n")
    tables.write_section(docs, "## Speed", "speed")
    assert docs.read_text() == "# Notes\n\ntext\n\n<!-- speed:begin -->\n## Speed\n<!-- speed:end -->\n"
    tables.write_section(docs, "## Quality", "quality")
    assert docs.read_text().index("speed:end") < docs.read_text().index("quality:begin")
    tables.write_section(tmp_path / "bare.md", "## Speed", "speed")
    assert (tmp_path / "bare.md").read_text() == "<!-- speed:begin -->\n## Speed\n<!-- speed:end -->\n"
    tables.write_section(tmp_path / "new.md", "## Speed", "speed", heading="# Benchmarks\n")
    assert (tmp_path / "new.md").read_text() == "# Benchmarks\n\n<!-- speed:begin -->\n## Speed\n<!-- speed:end -->\n"
    half = "<!-- speed:begin -->\nno end marker\n"  # an unfinished block is left alone, a whole one appended
    assert tables.replace_section(half, "x", "speed").startswith(half.rstrip() + "\n\n<!-- speed:begin -->\nx\n")


def test_writes_are_atomic(tmp_path, monkeypatch):
    import os

    tables = load_docs_tables()
    docs = tmp_path / "benchmarks.md"
    tables.write_section(docs, "first", "speed")
    tables.write_json(tmp_path / "figures.json", {"rate": float("nan"), "path": tmp_path}, default=str)
    assert (tmp_path / "figures.json").read_text().endswith("\n")
    assert '"rate": null' in (tmp_path / "figures.json").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["benchmarks.md", "figures.json"]  # no temporary file left

    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    before = docs.read_text()
    for write in (lambda: tables.write_section(docs, "second", "speed"), lambda: tables.write_text(docs, "second")):
        try:
            write()
        except OSError:
            pass
        else:
            raise AssertionError("the failed rename was not reported")
        assert docs.read_text() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["benchmarks.md", "figures.json"]


def test_md_table_aligns_the_columns_asked_to_the_right():
    tables = load_docs_tables()
    table = tables.md_table(["model", "patches/s", "note"], [["wellnet", 1234, "ok"], ["cnn", "-", ""]], right={1})
    assert table.splitlines() == ["| model | patches/s | note |", "|---|---:|---|",
                                  "| wellnet | 1234 | ok |", "| cnn | - |  |"]
    assert tables.md_table(["a"], []) == "| a |\n|---|"


def test_fmt_and_pct_show_missing_figures_alike():
    tables = load_docs_tables()
    for missing in (None, float("nan"), float("inf")):
        assert tables.fmt(missing) == "-" and tables.pct(missing) == "-"
        assert tables.fmt(missing, decimals=4, missing="n/a") == "n/a"
    assert [tables.fmt(v) for v in (0, 1234.4, 12.345, 0.012345, "FAILED")] == ["0", "1,234", "12.3", "0.0123", "FAILED"]
    assert tables.fmt(0.0123456, digits=2) == "0.012" and tables.fmt(0.25, decimals=4) == "0.2500"
    assert tables.pct(0.4567) == "45.7 %" and tables.pct(0.001, 3, unit="%") == "0.100%"


def test_speed_report_says_what_was_not_run():
    report = load_module("speed_report")
    machine = {"device": "cpu", "cpu_model": "a CPU", "cpus_usable": 2, "torch": "2.x", "torch_threads": 2,
               "python": "3.11", "platform": "Linux", "load_average_start": [0.5, 0.5, 0.5]}
    results = {"date": "2026-01-01T00:00:00+00:00", "command": "python benchmarks/speed.py --skip-models --skip-e2e",
               "mode": "quick", "repeats": 1, "seconds": 1.0, "machine": machine}
    results["goals"] = report.goals(results)
    assert [g["status"] for g in results["goals"]] == ["n/a"] * 4
    section = report.markdown(results)
    assert section.startswith("## Speed (CPU), measured by `benchmarks/speed.py`")
    assert "not run (--skip-models)" in section and "Not run (--skip-e2e)." in section
    assert "| goal | figure | status |\n|---|---|---|" in section


def test_a_groove_found_in_two_pieces_counts_once_and_is_sized_over_its_pieces():
    from corroseg.interpret.defects import Defect

    logs = load_module("logs")

    def defect(top, bottom, clock="3:00", width=10.0, loss=30.0, kind="axial grooving"):
        return Defect(0, 1, top, bottom, "ft", (bottom - top) * 12, width, 0.6, clock, loss / 100 * 0.362, loss,
                      0.01, 10.0, 0.3, 1.0, 4, 0.9, kind)

    truth = [defect(100, 110), defect(200, 201, clock="9:00")]
    predicted = [defect(100, 104), defect(105, 110), defect(300, 301)]  # two pieces, one false call
    found = logs.detection(predicted, truth)
    assert found["real"] == 2 and len(found["sizes"]) == 1
    size = found["sizes"][0]
    assert size["pieces"] == 2 and size["length"] == 0 and size["top"] == 0 and size["same_class"]


def test_every_real_well_candidate_has_a_valid_preset_and_overrides(tmp_path):
    """A typo in a candidate would only show after its dataset and an hour of training."""
    from dataclasses import asdict, fields

    from corroseg.synth.generator import PRESETS, Preset
    from corroseg.train.config import load_config

    candidates = load_module("real_candidates")
    preset_fields = {f.name for f in fields(Preset)}
    for name, candidate in candidates.CANDIDATES.items():
        assert candidate.preset in PRESETS and set(candidate.changes) <= preset_fields, name
        Preset(**{**asdict(PRESETS[candidate.preset]), **candidate.changes}).paint_rule()
        load_config("default", [o.format(real="data") for o in candidate.overrides])
    # one table row per candidate, mean and spread over seeds
    result = {"candidate": "context", "seed": 0, "own_test": {"iou_nonempty": 0.7}, "bold_test": {"iou_nonempty": 0.71},
              "real": {"patch_share": 0.7, "pixel_share": 0.04, "lowest_patch_share": 0.1, "false_alarm": 0.002},
              "flipped_casing": {"rate": 0.001}}
    text = candidates.markdown([result, {**result, "seed": 1, "real": {**result["real"], "patch_share": 0.8}}], "cmd")
    assert "| `context` |" in text and "75.0% ± 5.0" in text and "0, 1" in text
    assert text.splitlines()[-1].endswith("| 0.200% ± 0.000 | 0.100% ± 0.000 |")  # 9/10, then flipped x_test
    flipped = {**result, "candidate": "flipped-texture"}
    png = candidates.draw_false_alarms([result, flipped], tmp_path / "plots" / "fa.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_last_epoch_weights_copies_the_run_with_the_last_checkpoint_and_never_overwrites(tmp_path, capsys):
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    script = load_module("last_epoch_weights")
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    save_file({"w": torch.zeros(2)}, str(run / "model.safetensors"), metadata={"model": "wellnet"})
    (run / "config.yaml").write_text("model: wellnet\n")
    (run / "metrics.json").write_text("{}")
    (run / "threshold.json").write_text("{}")
    torch.save({"state_dict": {"model.w": torch.ones(2), "loss.pos_weight": torch.ones(1)}},
               run / "checkpoints" / "last.ckpt")
    out = tmp_path / "last"
    assert script.main([str(run), str(out)]) == 0
    assert load_file(str(out / "model.safetensors"))["w"].tolist() == [1.0, 1.0]
    with safe_open(out / "model.safetensors", framework="pt") as weights:
        assert weights.metadata() == {"model": "wellnet"} and list(weights.keys()) == ["w"]
    assert (out / "config.yaml").is_file() and not (out / "checkpoints").exists()
    assert not (out / "metrics.json").exists() and not (out / "threshold.json").exists()
    # a second call refuses: the folder holds what the first wrote
    assert script.main([str(run), str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert load_file(str(out / "model.safetensors"))["w"].tolist() == [1.0, 1.0]


def test_real_wells_measures_runs_alone_or_as_one_ensemble(tiny_run, tmp_path, capsys, monkeypatch):
    import json
    import shutil

    from conftest import write_dataset

    script = load_module("real_wells")
    real = tmp_path / "real"
    write_dataset(real, {1: (2, 36), 9: (1, 36), 10: (1, 36)}, labels=False)
    runs = [shutil.copytree(tiny_run, tmp_path / name) for name in ("a", "b")]
    args = ["--real", str(real), "--runs", *map(str, runs)]
    assert script.main([*args, "--json", str(tmp_path / "alone.json")]) == 0
    assert script.main([*args, "--ensemble", "--json", str(tmp_path / "together.json")]) == 0
    alone = json.loads((tmp_path / "alone.json").read_text())
    together = json.loads((tmp_path / "together.json").read_text())
    assert sorted(alone) == sorted(map(str, runs))
    assert list(together) == [f"{runs[0]}+{runs[1]}"]
    # two copies of one run: their ensemble flags what each flags alone
    assert together[f"{runs[0]}+{runs[1]}"]["per_well"] == alone[str(runs[0])]["per_well"]
    assert "flipped_casing" not in alone[str(runs[0])]
    write_dataset(real, {1: (2, 36)}, labels=False, split="test")
    assert script.main([*args[:4], "--flipped", "--json", str(tmp_path / "flipped.json")]) == 0
    flipped = json.loads((tmp_path / "flipped.json").read_text())[str(runs[0])]["flipped_casing"]
    assert flipped["split"] == "test" and list(flipped["per_well"]) == ["1"] and 0 <= flipped["rate"] <= 1
    assert "upside down" in capsys.readouterr().out
    # the strips of an ensemble are the ensemble's, not its first run's
    loaded = []
    original = script.load_predictor
    monkeypatch.setattr(script, "load_predictor", lambda runs, **kw: loaded.append(list(runs)) or original(runs, **kw))
    assert script.main([*args, "--ensemble", "--strips", str(tmp_path / "strips")]) == 0
    assert loaded[-1] == runs and sorted(p.name for p in (tmp_path / "strips").glob("*.png")) == [
        f"real_train_well_{w}.png" for w in (1, 10, 9)]


def test_postprocess_sweep_predicts_each_well_once_and_switches_the_masks():
    from types import SimpleNamespace

    sweep = load_module("postprocess_sweep")
    calls = []
    predictor = SimpleNamespace(predict_well=lambda image: calls.append(1) or np.full(image.shape, 0.6, np.float32),
                                config=SimpleNamespace(walker_low=0.1, walker_high=0.9, walker_beta=90.0))
    sweep.cache_probabilities(predictor)
    well, other = np.zeros((72, 36), np.float32), np.ones((72, 36), np.float32)
    for image in (well, well.copy(), other, well):
        predictor.predict_well(image)
    assert len(calls) == 2  # the same image again is not predicted again
    sweep.apply(predictor, sweep.SETTINGS["threshold 0.3"])
    assert predictor.postprocess is None and predictor.threshold == 0.3
    sweep.apply(predictor, sweep.SETTINGS["walker 0.1/0.7"])
    assert (predictor.postprocess.low, predictor.postprocess.high, predictor.threshold) == (0.1, 0.7, 0.5)
    assert predictor.postprocess.beta == 90.0  # the run's own edge penalty


def test_postprocess_sweep_drops_components_spanning_too_few_rows():
    sweep = load_module("postprocess_sweep")
    mask = np.zeros((100, 36), np.uint8)
    mask[10:50, 3] = 1  # 40 rows: kept at 36
    mask[60:80, 20:22] = 1  # 20 rows: dropped
    mask[90:99, 35] = mask[95:99, 0] = 1  # 9 rows
    kept = sweep.drop_short_components(mask, 36)
    assert kept[10:50, 3].all() and kept.sum() == 40 and kept.dtype == mask.dtype
    assert np.array_equal(sweep.drop_short_components(mask, 1), mask)
    setting = sweep.SETTINGS["walker 0.1/0.9, under 36 rows dropped"]
    assert setting["min_rows"] == 36 and setting["walker"] == (0.1, 0.9)


def test_groove_slopes_finds_the_drift_of_a_slanted_groove():
    script = load_module("groove_slopes")
    rng = np.random.default_rng(0)
    image = rng.normal(0, 0.01, (1200, 36)).astype(np.float32)
    for row in range(1200):  # a faint groove drifting 0.06 px a row, as well 8's
        image[row, (5 + round(0.06 * row)) % 36] -= 0.012
    scores = script.slope_scores(image)
    assert script.SLOPES[scores.argmax()] == pytest.approx(0.06, abs=0.011)
    assert scores.max() > 1.5 * scores[list(script.SLOPES).index(0.0)]


def test_sensitivity_measures_each_run_on_its_wells_and_the_real_wells_by_the_first(tiny_run, synth_data, tmp_path,
                                                                                   capsys):
    import json

    from conftest import write_dataset

    script = load_module("sensitivity")
    real = tmp_path / "real"
    write_dataset(real, {1: (2, 36), 9: (2, 72)}, labels=False)
    out = tmp_path / "s.json"
    assert script.main(["--runs", str(tiny_run), "--data", str(synth_data), "--real", str(real),
                        "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    run = figures["runs"][0]
    assert run["validation"]["source"] == "the validation wells" and run["test"]["source"] == "the test wells"
    assert run["validation"]["grooves"] == json.loads((tiny_run / "sensitivity.json").read_text())["grooves"]
    assert sorted(figures["real"]) == ["1", "9"] and figures["real"]["9"]["kind"] == "none"
    assert all(0 < well["texture_std_in"] < 0.1 for well in figures["real"].values())
    assert "| well | kind | texture (in)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        script.main(["--runs", str(tiny_run), str(tiny_run), "--data", str(synth_data)])

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from corroseg.cli import app
from corroseg.data.wells import load_well

runner = CliRunner()


def test_every_command_has_help():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("inspect", "wells", "demo"):
        sub = runner.invoke(app, [command, "--help"])
        assert sub.exit_code == 0 and "Usage" in sub.output


def test_inspect_json(dataset):
    np.save(dataset / "x_train" / "well_3_patch_0.npy", np.full((36, 36), -999.25, np.float32))
    result = runner.invoke(app, ["inspect", str(dataset), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["patches"] == 25
    assert summary["corrupted_patches"] == 1
    assert summary["wells"]["3"] == {
        **summary["wells"]["3"], "patches": 6, "width": 72, "corrupted_patches": 1, "fully_corrupted_patches": 1,
    }
    assert summary["labels"]["paired"] == 25
    assert 0 < summary["labels"]["corroded_pixel_fraction"] < 0.2
    assert summary["splits"]["x_test"]["patches"] == 7 and summary["splits"]["x_test"]["labels"] is None


def test_inspect_human_output_and_width_override(dataset):
    result = runner.invoke(app, ["inspect", str(dataset / "x_train"), "--width", "1=36"])
    assert result.exit_code == 0, result.output
    assert "25 patches in 4 wells" in result.output and "(set)" in result.output


def test_inspect_well_file(dataset, tmp_path):
    result = runner.invoke(app, ["wells", str(dataset), "--out", str(tmp_path / "t")])
    assert result.exit_code == 0 and "x_test" in result.output  # the default split, as predict and evaluate
    result = runner.invoke(app, ["wells", str(dataset), "--split", "train", "--out", str(tmp_path / "w")])
    assert result.exit_code == 0 and "x_train to" in result.output, result.output
    well = load_well(tmp_path / "w" / "well_1.npz")
    assert well.image.shape == (144, 72) and well.mask is not None
    summary = json.loads(runner.invoke(app, ["inspect", str(tmp_path / "w" / "well_1.npz"), "--json"]).stdout)
    assert summary["kind"] == "well" and summary["rows"] == 144 and summary["width"] == 72


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda d: (d / "x_train" / "well_2_patch_1.npy").write_bytes(b"\x93NUMPY"), "unreadable .npy"),
        (lambda d: (d / "x_train" / "well_2_patch_3.npy").unlink(), "gaps"),
        (lambda d: (d / "y_train.csv").write_text("a,b\nwell_1_patch_0,1\n"), "mask columns"),
    ],
)
def test_user_errors_are_one_line_exit_2(dataset, breakage, message):
    breakage(dataset)
    result = runner.invoke(app, ["inspect", str(dataset)])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1


def test_bad_width_option_exit_2(dataset):
    result = runner.invoke(app, ["inspect", str(dataset), "--width", "48"])
    assert result.exit_code == 2 and "36 or 72" in result.output
    odd = runner.invoke(app, ["inspect", str(dataset), "--width", "4=72"])
    assert odd.exit_code == 2 and "cannot be 72" in odd.output


def test_unwritable_output_is_one_line_exit_2(dataset, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = runner.invoke(app, ["wells", str(dataset), "--out", str(blocker / "sub")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert str(blocker) in result.output


def test_demo_runs_without_real_data_and_predicts_the_test_split_once(tmp_path, monkeypatch):
    from corroseg.infer.bundle import Predictor

    wells_predicted = []
    predict_well = Predictor.predict_well
    monkeypatch.setattr(Predictor, "predict_well",
                        lambda self, image: wells_predicted.append(image.shape) or predict_well(self, image))
    from corroseg.workflows import demo

    train = demo.train
    monkeypatch.setattr(demo, "train", lambda *a, **k: (train(*a, **k), wells_predicted.clear())[0])  # count after
    tiny = ["max_epochs=1", "windows_per_epoch=8", "batch_size=4", "model_options.channels=[4,4,8,8]"]
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "out"), "--real", str(tmp_path / "absent"),
                                 "--preset", "tiny", "--train-seconds", "60", *tiny])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    assert (out / "synthetic" / "y_train.csv").exists()
    assert (out / "run" / "model.safetensors").exists()
    assert len(list((out / "predictions").glob("synthetic_test_well_*.png"))) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert 0.0 <= summary["synthetic_test"]["iou"] <= 1.0 and "real_false_alarms" not in summary
    assert "skipping the real wells" in result.output and "challenge metric" in result.output
    test_wells = len(list((out / "synthetic" / "wells").glob("test_well_*.npz")))
    # the test split once (figures and report), a picture, and the same well again as an imported casing log
    assert test_wells and len(wells_predicted) == test_wells + 2
    assert len(list((out / "log").glob("*.dlis"))) == 1 and len(list((out / "log").glob("*.joints.csv"))) == 1
    assert summary["log"]["joints"] >= 1 and "casing log:" in result.output
    assert (out / "run" / "report.html").is_file()
    for command in ("synth", "realism", "models", "train", "evaluate", "predict"):
        assert runner.invoke(app, [command, "--help"]).exit_code == 0


def test_demo_falls_back_to_parametric_wells_without_real_images(tmp_path):
    from corroseg.workflows.demo import synthesis_preset

    said = []
    assert synthesis_preset("default", tmp_path / "absent", said.append) == ("parametric", None)
    assert "parametric" in said[0] and "absent" in said[0]
    (tmp_path / "real" / "x_train").mkdir(parents=True)
    assert synthesis_preset("default", tmp_path / "real", said.append)[0] == "parametric"  # no x_test/
    (tmp_path / "real" / "x_test").mkdir()
    assert synthesis_preset("default", tmp_path / "real", said.append) == ("default", tmp_path / "real")
    assert synthesis_preset("tiny", None, said.append) == ("tiny", None) and len(said) == 2


def test_version():
    from corroseg import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"corroseg {__version__}"


def test_train_takes_seed_and_max_epochs_as_flags(synth_data, tmp_path):
    import yaml

    from conftest import TINY, one_line_error

    args = [o for o in TINY if not o.startswith("max_epochs")]
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(synth_data), "--out", str(run), "--max-epochs", "2", "--seed", "3", *args])
    assert result.exit_code == 0, result.output
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert (config["max_epochs"], config["seed"]) == (2, 3)
    one_line_error(runner.invoke(app, ["train", str(synth_data), "--out", str(run), "--resume", "--seed", "4"]),
                   "cannot change seed when resuming")


def test_evaluate_writes_its_figures_to_a_file(tiny_run, synth_data, tmp_path):
    from conftest import one_line_error

    out = tmp_path / "figures.json"
    result = runner.invoke(app, ["evaluate", str(tiny_run), str(synth_data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    assert set(figures) >= {"iou", "iou_nonempty", "per_well", "options", "threshold"}
    one_line_error(runner.invoke(app, ["evaluate", str(tiny_run), str(synth_data), "--out", str(out)]), "--force")
    one_line_error(runner.invoke(app, ["evaluate", str(tiny_run), str(synth_data), "--out",
                                       str(synth_data / "y_test.csv"), "--force"]), "dataset this command reads")


def test_a_model_that_flags_nothing_has_no_precision_and_is_called_out(capsys):
    from corroseg.cli.run_commands import _print_scores
    from corroseg.infer.evaluate import score

    truth = np.zeros((4, 36, 36), np.uint8)
    truth[0, 3:9, 5:7] = 1
    result = score(np.zeros_like(truth), truth, np.array([1, 1, 2, 2]))
    assert result["precision"] != result["precision"] and result["recall"] == 0.0  # n/a, and 0 found of some
    assert result["per_well"]["2"]["recall"] != result["per_well"]["2"]["recall"]  # nothing to find there
    _print_scores("empty", result)
    printed = capsys.readouterr()
    assert "precision n/a" in " ".join(printed.out.split())
    assert "flagged no pixel" in printed.err


def test_training_cut_by_its_clock_while_improving_is_called_out(capsys):
    from corroseg.cli.run_commands import warn_if_cut_while_improving
    from corroseg.train.fit import cut_while_improving

    assert cut_while_improving("max_time", 19, 19) and cut_while_improving("max_cpu_time", 18, 19)  # from 1
    assert not cut_while_improving("max_time", 17, 19) and not cut_while_improving("max_time", 10, 19)
    assert not cut_while_improving("early_stopping", 18, 19) and not cut_while_improving("max_epochs", 18, 19)
    warn_if_cut_while_improving({"cut_while_improving": True, "stopped_by": "max_time", "best": {"epoch": 18},
                                 "epochs": 19})
    assert "still improving" in capsys.readouterr().err


def test_one_list_syntax_for_every_list_option():
    import typer

    from corroseg.cli.common import parse_wells, parse_widths
    from corroseg.train.config import load_config

    assert parse_widths(["3=36,5=72"]) == parse_widths(["3=36", "5=72"]) == {3: 36, 5: 72}
    assert parse_wells(["9,10"], "--x") == parse_wells(["9", "10"], "--x") == parse_wells(["9", "10,"], "--x") == [9, 10]
    assert parse_wells(None, "--x") is None
    with pytest.raises(typer.BadParameter, match="well numbers"):
        parse_wells(["9,ten"], "--x")
    assert load_config("default", ["val_wells=2,7"]).val_wells == load_config("default", ["val_wells=[2,7]"]).val_wells
    assert load_config("default", ["val_wells=7"]).val_wells == (7,)
    assert load_config("default", ["exclude_wells=9,10"]).exclude_wells == (9, 10)
    assert load_config("default", ["expansion=hflip"]).expansion == ("hflip",)

"""TrainConfig: presets, key=value overrides, YAML files, and the errors a user can cause."""

import dataclasses

import pytest
import yaml
from typer.testing import CliRunner

from corroseg.cli import app
from corroseg.errors import CorrosegInputError, CorrosegUserError
from corroseg.train.config import (
    EXPANSIONS,
    PRESETS,
    TrainConfig,
    load_config,
    parse_override,
    read_config,
    save_config,
)

runner = CliRunner()


def test_presets_resolve():
    default = load_config()
    assert default == load_config("default") == TrainConfig(**PRESETS["default"])
    assert default.preset == "default" and default.model == "wellnet"
    # our recipe: tall windows and evidence along depth (docs/training.md)
    assert default.window_rows == 576 and default.model_options == {"depth_context": [145, 575]}
    assert load_config("default", model="xscat_unet").model_options == {}  # another model drops WellNet's options
    assert TrainConfig() == default  # one place decides the recipe: the dataclass defaults
    # a model option on top of the default keeps the recipe's other options
    assert load_config(overrides=["model_options.channels=[8,16,32,64]"]).model_options == {
        "depth_context": [145, 575], "channels": [8, 16, 32, 64]}
    paper = load_config("paper")
    assert paper.preset == "paper"
    assert paper != default
    assert set(PRESETS) >= {"default", "paper"}


def test_paper_preset_is_the_papers_recipe():
    cfg = load_config("paper")
    assert cfg.model == "corroseg"
    assert cfg.model_options["skip"] == "cat"
    assert cfg.loss == "iou"
    assert cfg.optimizer == "adam"
    assert cfg.lr == pytest.approx(1e-4)
    assert cfg.weight_decay == pytest.approx(1e-3)
    assert cfg.batch_size == 128
    assert cfg.expansion == EXPANSIONS and len(cfg.expansion) == 4
    assert cfg.scaler == "per_pixel"
    assert cfg.window == "patch" and cfg.window_rows == 36
    assert cfg.labels == "patches"


def test_unknown_preset_is_a_user_error():
    with pytest.raises(CorrosegUserError, match="unknown preset 'papr'"):
        load_config("papr")


def test_overrides_plain_dotted_and_lists():
    cfg = load_config("paper", ["max_epochs=3", "model_options.skip=add", "val_wells=[1,2]", "lr=1e-3",
                                "flips=true", "exclude_wells=[9]"])
    assert cfg.max_epochs == 3
    # a dotted override changes one option and keeps the preset's others
    assert cfg.model_options == {**PRESETS["paper"]["model_options"], "skip": "add"}
    assert cfg.val_wells == (1, 2)
    # YAML reads 1e-3 as a string: it must still become a float
    assert isinstance(cfg.lr, float) and cfg.lr == pytest.approx(1e-3)
    assert cfg.flips is True
    assert cfg.exclude_wells == (9,)
    # the preset itself is untouched (frozen config, no shared mutable dict)
    assert load_config("paper").model_options["skip"] == "cat"
    assert PRESETS["paper"]["model_options"]["skip"] == "cat"


def test_list_valued_model_option():
    cfg = load_config(None, ["model_options.channels=[4,4,8,8]"])
    assert cfg.model_options == {"depth_context": [145, 575], "channels": [4, 4, 8, 8]}  # merged into the preset's


def test_parse_override():
    assert parse_override("max_epochs=5") == ("max_epochs", 5)
    assert parse_override("val_wells=[1, 2]") == ("val_wells", [1, 2])
    assert parse_override(" loss = bce + iou") == ("loss", "bce + iou")
    with pytest.raises(CorrosegUserError, match="key=value"):
        parse_override("max_epochs")
    with pytest.raises(CorrosegUserError, match="not valid YAML"):
        parse_override("val_wells=[1,")


@pytest.mark.parametrize(
    "override, bad, hint",
    [("lrr=1e-3", "lrr", "lr"), ("max_epoch=3", "max_epoch", "max_epochs"), ("batchsize=4", "batchsize", "batch_size")],
)
def test_unknown_key_is_named_with_a_suggestion(override, bad, hint):
    with pytest.raises(CorrosegUserError) as info:
        load_config(None, [override])
    message = str(info.value)
    assert f"unknown config key {bad!r}" in message
    assert f"did you mean {hint!r}" in message


def test_sub_keys_only_for_option_dicts():
    with pytest.raises(CorrosegUserError, match="no sub-keys"):
        load_config(None, ["lr.value=3"])


@pytest.mark.parametrize(
    "override, message",
    [
        ("batch_size=0", "batch_size=0"),
        ("optimizer=sgd", "choose from adam, adamw"),
        ("threshold=1.5", "threshold"),
        ("window_rows=100", "multiples of 36"),
        ("batch_size=abc", "batch_size"),
        ("predict_overlap=576", "predict_overlap"),
        ("expansion=[twirl]", "expansion"),
        ("val_fraction=0", "val_fraction"),
    ],
)
def test_bad_values_are_user_errors(override, message):
    with pytest.raises(CorrosegUserError, match=message):
        load_config(None, [override])


def test_config_is_frozen():
    cfg = load_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 1.0  # type: ignore[misc]


def test_model_other_than_the_presets_drops_its_options():
    assert load_config("paper", model="wellnet").model_options == {}
    assert load_config("paper", model="wellnet").model == "wellnet"
    # the same model keeps the preset's options
    assert load_config("paper", model="corroseg").model_options == PRESETS["paper"]["model_options"]
    # overrides come after --model, so they apply to the new model
    cfg = load_config("paper", ["model_options.channels=[4,4,8,8]"], model="wellnet")
    assert cfg.model_options == {"channels": [4, 4, 8, 8]}


def test_yaml_round_trip(tmp_path):
    cfg = load_config("paper", ["val_wells=[1,2]", "model_options.skip=add", "max_time=60", "exclude_wells=[9]",
                                "lr=2e-4", "precision=bf16-mixed"])
    path = save_config(cfg, tmp_path / "config.yaml")
    assert read_config(path) == cfg
    # the saved file is also a valid --config base
    assert load_config(path) == cfg
    assert yaml.safe_load(path.read_text())["format"].startswith("corroseg-train-config/")
    default = load_config(None, ["model_options.channels=[4,4,8,8]", "val_wells=[3]"])
    assert read_config(save_config(default, tmp_path / "default.yaml")) == default


def test_hand_written_yaml_with_preset_and_overrides(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("preset: paper\nlr: 1e-3\nmax_epochs: 7\n")
    cfg = load_config(path, ["batch_size=16", "model_options.skip=add"])
    assert cfg.preset == "paper" and cfg.model == "corroseg"
    assert cfg.lr == pytest.approx(1e-3) and cfg.max_epochs == 7 and cfg.batch_size == 16
    assert cfg.model_options == {**PRESETS["paper"]["model_options"], "skip": "add"}
    assert cfg.scaler == "per_pixel"  # from the preset the file names


def test_yaml_model_options_merge_with_the_preset(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("preset: paper\nmodel_options:\n  dropout: none\n  decoder_bn: false\n")
    cfg = load_config(path)
    assert cfg.model_options == {**PRESETS["paper"]["model_options"], "decoder_bn": False}


def test_yaml_with_unknown_key_names_the_file_and_suggests(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("lr: 1e-3\nbatchsize: 16\n")
    with pytest.raises(CorrosegUserError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "'batchsize'" in str(info.value) and "did you mean 'batch_size'" in str(info.value)


def test_yaml_with_unknown_key_is_an_input_error(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("lr: 1e-3\nbatchsize: 16\n")
    with pytest.raises(CorrosegInputError) as info:
        load_config(path)
    assert info.value.path == str(path)


def test_read_config_unknown_key_is_an_input_error(tmp_path):
    path = save_config(load_config(), tmp_path / "config.yaml")
    path.write_text(path.read_text() + "colour: blue\n")
    with pytest.raises(CorrosegInputError) as info:
        read_config(path)
    assert info.value.path == str(path) and "'colour'" in str(info.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("lr: [1, \n", "not a readable YAML file"),
        ("- just\n- a list\n", "mapping"),
        ("batch_size: 0\n", "batch_size"),
        ("model_options: 3\n", "model_options must be a mapping"),
    ],
)
def test_bad_yaml_file_is_an_input_error_naming_it(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CorrosegInputError, match=message) as info:
        load_config(path)
    assert info.value.path == str(path)


def test_missing_yaml_file(tmp_path):
    with pytest.raises(CorrosegInputError, match="no such file"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(CorrosegUserError, match="unknown preset"):
        load_config(tmp_path / "absent")


def test_bad_override_on_a_good_yaml_does_not_blame_the_file(tmp_path):
    path = save_config(load_config(), tmp_path / "good.yaml")
    with pytest.raises(CorrosegUserError) as info:
        load_config(path, ["batch_size=0"])
    assert str(path) not in str(info.value)


def test_cli_train_unknown_key_exit_2_one_line(dataset, tmp_path):
    result = runner.invoke(app, ["train", str(dataset), "--out", str(tmp_path / "run"), "max_epoch=1"])
    assert result.exit_code == 2
    assert "'max_epoch'" in result.output and "did you mean 'max_epochs'" in result.output
    assert "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1
    assert not (tmp_path / "run").exists()


def test_cli_train_bad_config_file_exit_2(dataset, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("lr: [1,\n")
    result = runner.invoke(app, ["train", str(dataset), "--out", str(tmp_path / "run"), "--config", str(path)])
    assert result.exit_code == 2 and str(path) in result.output and "Traceback" not in result.output


def test_a_saved_run_config_is_taken_as_written_not_merged_with_todays_preset(tmp_path):
    # a run saved before the default preset gained WellNet's depth context (2026-12-07): its model has none
    old = {**load_config("default").to_dict(), "model_options": {}, "window_rows": 144, "batch_size": 32}
    for key in ("unlabelled", "unlabelled_weight", "teacher_decay", "pseudo_confidence"):
        old.pop(key)  # keys that came later: their defaults apply
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"format": "corroseg-train-config/1", **old}, sort_keys=False))
    cfg = load_config(path, ["max_epochs=30"])  # what resuming or --config RUN/config.yaml does
    assert cfg.model_options == {} and cfg.window_rows == 144 and cfg.batch_size == 32 and cfg.max_epochs == 30
    assert cfg == dataclasses.replace(read_config(path), max_epochs=30)
    # a hand-written sketch still starts from its preset and merges into it
    sketch = tmp_path / "mine.yaml"
    sketch.write_text("preset: default\nmodel_options:\n  dropout: 0.1\n")
    assert load_config(sketch).model_options == {"depth_context": [145, 575], "dropout": 0.1}

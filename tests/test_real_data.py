"""The figures of ../shared/data/challenge/README.md, reproduced from the real images."""

import json

import pytest
from typer.testing import CliRunner

from conftest import REAL_DATA, requires_real_data
from corroseg.cli import app
from corroseg.data.inspection import inspect_path

pytestmark = requires_real_data

WIDTH_72 = {1, 2, 5, 6, 7, 8, 9, 10}


@pytest.fixture(scope="module")
def summary():
    return inspect_path(REAL_DATA)


def test_train_figures(summary):
    train = summary["splits"]["x_train"]
    assert train["patches"] == 9674 and len(train["wells"]) == 15
    assert train["corrupted_patches"] == 342 and train["fully_corrupted_patches"] == 34
    assert train["corrupted_pixels"]["-999.25"] == 42522 and train["corrupted_pixels"]["-999.0"] == 15837
    assert train["corrupted_pixels"]["nan"] > 0 and train["corrupted_pixels"]["other_outliers"] == 0


def test_test_figures(summary):
    test = summary["splits"]["x_test"]
    assert (test["patches"], test["corrupted_patches"], test["fully_corrupted_patches"]) == (2538, 175, 4)
    assert test["corrupted_pixels"]["-999.25"] == 30969 and test["corrupted_pixels"]["-999.0"] == 0


def test_inferred_widths_match_readme_layout(summary):
    train = summary["splits"]["x_train"]["wells"]
    assert {int(w) for w, info in train.items() if info["width"] == 72} == WIDTH_72
    assert all(info["width"] == 36 for info in summary["splits"]["x_test"]["wells"].values())


def test_cli_json_top_level_is_train(summary):
    result = CliRunner().invoke(app, ["inspect", str(REAL_DATA), "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert (data["patches"], len(data["wells"]), data["corrupted_patches"]) == (9674, 15, 342)
    assert data["wells"]["9"]["width"] == 72


def test_false_alarm_wells_are_real_72px_wells(summary):
    from corroseg.data.challenge import FALSE_ALARM_WELLS

    train = summary["splits"]["x_train"]["wells"]
    assert set(FALSE_ALARM_WELLS) <= WIDTH_72 and all(str(w) in train for w in FALSE_ALARM_WELLS)

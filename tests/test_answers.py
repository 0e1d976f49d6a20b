"""From a predicted well to the engineer's answer: collars, joint tally, low-confidence zones, exports."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from corroseg.cli import app
from corroseg.data.wells import Well
from corroseg.interpret.answers import answer_well, casing_of
from corroseg.interpret.joints import find_collars, worst_first
from corroseg.interpret.quality import low_confidence_zones
from corroseg.synth.logs import write_well_log
from tests.conftest import one_line_error

runner = CliRunner()
COLLARS = (150, 560, 720, 1130)  # 720 closes a 160-row pup joint; 1130 is faint


def casing_well(rows: int = 1500, width: int = 36, seed: int = 0) -> Well:
    """Texture, four collars (one faint, one after a pup joint), a deep groove in joint 2, a shallow pit in joint 4."""
    rng = np.random.default_rng(seed)
    image = rng.normal(0, 0.012, (rows, width))
    signs = np.where(np.arange(width) % 2, 1.0, -1.0)
    for row, amplitude in zip(COLLARS, (0.3, 0.25, 0.2, 0.06)):
        image[row + 2:row + 5] += amplitude * signs
    mask = np.zeros((rows, width), np.uint8)
    mask[250:400, 20] = 1  # joint 2: a long axial groove one azimuth (15.5 mm) wide, 40% of the wall
    image[250:400, 20] -= 0.145
    mask[800:806, 5:11] = 1  # joint 4: a shallow patch
    image[800:806, 5:11] -= 0.03
    image -= image.mean(axis=1, keepdims=True)
    return Well(image.astype(np.float32), mask, depth_start=5000.0, depth_step=0.1, depth_unit="ft", name="W",
                od_in=7.0, nominal_wall_in=0.362, grade="N80", row_mean_in=np.full(rows, 0.362, np.float32))


def test_collars_are_found_where_they_are_including_a_pup_joint_and_a_faint_one():
    found = find_collars(casing_well().image)
    assert len(found) == len(COLLARS)
    assert np.abs(found - np.asarray(COLLARS) - 2).max() <= 1  # the band's first strong row


def test_the_tally_puts_each_defect_in_its_joint_and_the_grooved_joint_first():
    well = casing_well()
    casing, why = casing_of(well)
    assert why is None
    answer = answer_well(well, well.mask.astype(np.float32), well.mask, casing)
    assert [j.joint for j in answer.joints] == [1, 2, 3, 4, 5]
    assert [j.defects for j in answer.joints] == [0, 1, 0, 1, 0]
    groove = next(d for d in answer.defects if d.joint == 2)
    assert groove.pof_class == "axial grooving" and groove.mean_loss_pct == pytest.approx(39, abs=3)
    assert 38 < groove.max_loss_pct < 50  # the deepest reading: the groove plus the texture under it
    assert groove.length_in == pytest.approx(150 * 1.2)
    worst = worst_first(answer.joints)
    assert worst[0].joint == 2 and worst[0].derated_burst_psi < worst[-1].derated_burst_psi
    assert answer.joints[1].length_ft == pytest.approx((560 + 2 - 152) * 0.1, abs=0.2)
    assert answer.joints[0].intact_burst_psi == pytest.approx(0.875 * 2 * 80_000 * 0.362 / 7.0)
    assert answer.joints[2].max_loss_pct == 0 and answer.joints[2].worst_class == "none"
    assert all(j.min_wall_in > 0.3 for j in answer.joints if j.joint != 2)  # collars are no thin wall
    assert answer.joints[1].min_wall_in < 0.362 - 0.13


def test_a_well_without_sizes_gets_no_tally_and_says_why():
    well = Well(np.zeros((72, 36), np.float32))
    casing, why = casing_of(well, od_in=7.0, wall_in=0.3)
    assert casing is None and "depth" in why
    casing, why = casing_of(Well(np.zeros((72, 36), np.float32), depth_unit="ft", depth_step=0.1))
    assert casing is None and "--od and --nominal-wall" in why


def test_low_coverage_and_saw_tooth_intervals_are_low_confidence():
    rng = np.random.default_rng(3)
    image = rng.normal(0, 0.01, (720, 36)).astype(np.float32)
    image[72:144, :20] = -999.25  # dropouts: 44% of the rows' readings left
    image[540:612:2] += 0.08  # alternate rows jump: a saw-tooth
    image[541:612:2] -= 0.08
    zones = low_confidence_zones(image)
    assert [(z.top_row, z.bottom_row) for z in zones] == [(72, 143), (540, 611)]
    assert "low coverage" in zones[0].reasons and "row-to-row artefact" in zones[1].reasons
    assert low_confidence_zones(rng.normal(0, 0.01, (720, 36))) == []


def test_a_log_predicted_from_the_command_line_gives_every_answer_file(tiny_run, tmp_path):
    import lasio
    from openpyxl import load_workbook

    well = casing_well()
    log = write_well_log(well, tmp_path / "w.dlis")
    out = tmp_path / "answers"
    result = runner.invoke(app, ["predict", str(tiny_run), str(log), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "joints" in result.output and "w.joints.csv" in result.output
    record = json.loads((out / "w.json").read_text())
    assert record["answer"]["casing"] == {"od_in": 7.0, "nominal_wall_in": 0.362, "grade": "N80"}
    assert "SCREENING" in record["answer"]["burst"]
    assert len(record["answer"]["defect_list"]) == record["answer"]["defects"]
    with open(out / "w.joints.csv") as stream:
        joints = list(csv.DictReader(stream))
    assert len(joints) == record["answer"]["joints"] and {"min_wall_in", "screening_derated_burst_psi"} <= set(joints[0])
    assert [j["joint"] for j in record["answer"]["joint_list"]] == [int(j["joint"]) for j in joints]  # worst first
    book = load_workbook(out / "w.xlsx", read_only=True)
    assert book.sheetnames == ["about", "joints", "defects", "zones"]
    header = next(book["joints"].iter_rows(max_row=1, values_only=True))
    assert "min wall (in)" in header and "max loss (%)" in header and "top depth (ft)" in header
    assert "screening derated burst (psi)" in header
    las = lasio.read(out / "w.curves.las")
    assert {"MINWALL", "MAXLOSS", "CORFRAC", "ROWMEAN", "PROB[0]", "PROB[35]"} <= set(las.keys())
    assert las.index[0] == pytest.approx(5000.0) and las.curves["MINWALL"].unit == "in"
    assert (out / "w.log.png").stat().st_size > 10_000
    again = runner.invoke(app, ["predict", str(tiny_run), str(log), "--out", str(out)])
    one_line_error(again, "already exists")


def test_sizes_on_the_command_line_fill_what_a_well_does_not_state(tiny_run, tmp_path):
    from corroseg.data.wells import save_well

    plain = casing_well()
    bare = Well(plain.image, depth_start=100.0, depth_step=0.5, depth_unit="ft", name="bare")
    source = save_well(tmp_path / "bare.npz", bare)
    skipped = runner.invoke(app, ["predict", str(tiny_run), str(source), "--out", str(tmp_path / "a.npz")])
    assert skipped.exit_code == 0 and "--od and --nominal-wall" in skipped.output
    assert not (tmp_path / "a.defects.csv").exists()
    sized = runner.invoke(app, ["predict", str(tiny_run), str(source), "--out", str(tmp_path / "b.npz"),
                                "--od", "9.625", "--nominal-wall", "0.545", "--grade", "P110"])
    assert sized.exit_code == 0, sized.output
    record = json.loads((tmp_path / "b.json").read_text())
    assert record["answer"]["casing"] == {"od_in": 9.625, "nominal_wall_in": 0.545, "grade": "P110"}
    bad = runner.invoke(app, ["predict", str(tiny_run), str(source), "--out", str(tmp_path / "c.npz"),
                              "--grade", "X999"])
    one_line_error(bad, "X999")


def test_predict_without_a_run_uses_the_shipped_model(tmp_path):
    from corroseg.infer.shipped import SHIPPED_FILES, SHIPPED_RUN

    assert sum((SHIPPED_RUN / name).stat().st_size for name in SHIPPED_FILES) < 1_000_000  # package data
    log = write_well_log(casing_well(rows=432), tmp_path / "w.las")
    result = runner.invoke(app, ["predict", str(log), "--out", str(tmp_path / "w.npz")])
    assert result.exit_code == 0, result.output
    assert "shipped model" in result.output and "joints" in result.output
    record = json.loads((tmp_path / "w.json").read_text())
    assert record["runs"] == [str(SHIPPED_RUN)] and record["options"]["tta"] is True
    sensitivity = record["sensitivity"]  # the shipped model's measured sensitivity, in inches for this well
    shipped = json.loads((SHIPPED_RUN / "sensitivity.json").read_text())
    assert sensitivity["depth_found_half_in"] == pytest.approx(shipped["contrast_50"] * sensitivity["texture_std_in"])
    assert "in deep (median) are found half of the time" in result.output
    assert any("in deep (median) are found half of the time" in note for note in record["answer"]["notes"])  # and the .xlsx


def test_a_wide_loss_is_sized_from_the_absolute_thickness():
    from corroseg.data.logs import LogImage, log_to_well
    from corroseg.interpret.strength import rate_defect

    thickness = np.full((400, 36), 0.362)
    thickness[180:220, :22] = 0.200  # 22 of 36 azimuths: it pulls its rows' mean down
    log = LogImage(source=Path("x.las"), channel="THK", depth=5000 + 0.1 * np.arange(400), depth_unit="ft",
                   values=thickness, value_unit="in", od_in=7.0, nominal_wall_in=0.362, grade="N80")
    well, _ = log_to_well(log)
    mask = (thickness < 0.3).astype(np.uint8)
    casing, _ = casing_of(well)
    defect = answer_well(well, mask.astype(np.float32), mask, casing).defects[0]
    assert defect.max_loss_pct == pytest.approx(100 * 0.162 / 0.362, abs=0.1)
    assert defect.min_remaining_wall_in == pytest.approx(0.200, abs=1e-4)
    expected = rate_defect(7.0, 0.362, 0.162, defect.length_in, "N80").lowest_failure_psi
    assert defect.lowest_failure_psi == pytest.approx(expected)


def test_a_collar_on_the_first_row_numbers_joints_alike_in_both_lists():
    well = casing_well()
    answer = answer_well(well, well.mask.astype(np.float32), well.mask, casing_of(well)[0])
    from corroseg.interpret.defects import find_defects
    from corroseg.interpret.joints import joint_tally

    collars = np.array([0, 560])
    defects = find_defects(well.mask, well.image, well.mask.astype(np.float32), answer.casing, collars=collars,
                           depth_start=5000.0, depth_step=0.1, depth_unit="ft")
    tally = joint_tally(well.mask, well.image, answer.casing, defects, collars, depth_start=5000.0,
                        depth_step=0.1, depth_unit="ft")
    assert [j.joint for j in tally] == [1, 2] and sum(j.defects for j in tally) == len(defects)
    assert {d.joint for d in defects} == {1, 2}


def test_an_unknown_grade_in_a_well_gives_a_note_and_grade_overrides_it():
    well = casing_well()
    well.grade = "L80-13CR"
    casing, note = casing_of(well)
    assert casing.grade is None and "not an API 5CT grade" in note
    casing, note = casing_of(well, grade="L80")
    assert casing.grade == "L80" and note is None


def test_force_replaces_a_prediction_whole_and_refuses_only_what_it_writes(tiny_run, tmp_path):
    from corroseg.data.wells import save_well

    sized = save_well(tmp_path / "w.npz", casing_well(rows=432))
    out = tmp_path / "p.npz"
    assert runner.invoke(app, ["predict", str(tiny_run), str(sized), "--out", str(out)]).exit_code == 0
    assert (tmp_path / "p.xlsx").is_file()
    bare = save_well(tmp_path / "bare.npz", Well(casing_well(rows=432).image, name="bare"))
    again = runner.invoke(app, ["predict", str(tiny_run), str(bare), "--out", str(out), "--force"])
    assert again.exit_code == 0, again.output
    assert not list(tmp_path.glob("p.*.csv")) and not (tmp_path / "p.xlsx").exists()  # no stale answer left
    (tmp_path / "q.xlsx").write_text("mine")
    other = runner.invoke(app, ["predict", str(tiny_run), str(bare), "--out", str(tmp_path / "q.npz")])
    assert other.exit_code == 0 and (tmp_path / "q.xlsx").read_text() == "mine"  # not written, not refused


@pytest.mark.parametrize("args, needle", [
    (["--nominal-wall", "0"], "must be positive"), (["--od", "7", "--nominal-wall", "4"], "half of --od"),
    (["--scheduler", "local:1", "--od", "7"], "not --scheduler"),
])
def test_bad_casing_options_are_refused_before_predicting(tiny_run, tmp_path, args, needle):
    from corroseg.data.wells import save_well

    source = save_well(tmp_path / "w.npz", casing_well(rows=72))
    result = runner.invoke(app, ["predict", str(tiny_run), str(source), "--out", str(tmp_path / "o"), *args])
    one_line_error(result, needle)
    assert not (tmp_path / "o").exists()


def test_a_groove_across_a_collar_is_one_defect_in_each_joint():
    well = casing_well()
    well.mask[:] = 0
    well.mask[500:620, 8] = 1  # crosses the collar at row 560 (band from 562)
    answer = answer_well(well, well.mask.astype(np.float32), well.mask, casing_of(well)[0])
    crossing = sorted((d.joint, d.top_depth, d.bottom_depth) for d in answer.defects)
    assert [j for j, _, _ in crossing] == [2, 3]
    assert crossing[0][2] <= crossing[1][1]  # the first ends where the second begins: no overlap
    assert [j.defects for j in answer.joints][1:3] == [1, 1]

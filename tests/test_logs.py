"""Casing logs in: DLIS and LAS files (made here with dliswriter and lasio) imported as wells."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from corroseg.cli import app
from corroseg.data.log_import import import_log
from corroseg.data.log_readers import las_images, read_log
from corroseg.data.log_writers import Curve, Parameter, write_dlis, write_las
from corroseg.data.logs import ImportOptions, arc_weights, collars_from_locator, log_to_well, resample_azimuths
from corroseg.data.wells import Well, load_well
from corroseg.errors import CorrosegInputError
from corroseg.synth.logs import SYNTH_CASING, write_well_log
from tests.conftest import one_line_error

runner = CliRunner()


def grooved_well(rows: int = 216, width: int = 72, seed: int = 0) -> Well:
    """A well with texture, a groove, dropouts and a mask; rows centred on their valid pixels."""
    rng = np.random.default_rng(seed)
    image = rng.normal(0, 0.012, (rows, width))
    mask = np.zeros((rows, width), np.uint8)
    mask[40:150, 10:12] = 1
    image[mask == 1] -= 0.05
    image -= image.mean(axis=1, keepdims=True)
    image[5, 3] = -999.25
    image[7, :] = np.nan
    image[9, 4:8] = -999.25
    valid = np.isfinite(image) & (image > -900)
    rows_mean = np.where(valid, image, 0).sum(1) / np.maximum(valid.sum(1), 1)
    image = np.where(valid, image - rows_mean[:, None], image)  # every row centred on its readings
    return Well(image.astype(np.float32), mask, name="W-1")


@pytest.mark.parametrize("fmt", ["dlis", "las"])
def test_a_synthetic_well_survives_the_log_round_trip(tmp_path, fmt):
    well = grooved_well()
    log = write_well_log(well, tmp_path / f"w.{fmt}")
    back = import_log(log)
    assert back.image.shape == well.image.shape
    assert np.array_equal(back.valid, well.valid)
    assert np.abs(back.image[well.valid] - well.image[well.valid]).max() < 1e-7
    assert np.array_equal(back.mask, well.mask)
    assert back.depth_unit == "ft"  # a DLIS index in 0.1 in is given in ft
    assert back.depths()[0] == 5000.0 and back.depth_step == pytest.approx(0.1, rel=1e-12)
    assert (back.od_in, back.nominal_wall_in, back.grade) == (7.0, 0.362, "N80")
    assert np.nanmax(np.abs(back.thickness_in() - (well.image + 0.362))[well.valid]) < 1e-6


def test_a_dlis_logged_bottom_up_in_tenths_of_an_inch_reads_top_down(tmp_path):
    well = grooved_well(rows=72)
    path = write_well_log(well, tmp_path / "w.dlis")
    log = read_log(path)
    assert log.depth[0] > log.depth[-1] and log.depth_unit == "0.1 in" and log.channel == "T2BK"
    back, notes = log_to_well(log)
    assert np.all(np.diff(back.depths()) > 0)
    assert any("bottom-up" in note for note in notes)
    assert any("minus nominal" in note for note in notes)
    assert back.depth_unit == "ft" and any("0.1 in" in note for note in notes)


def test_a_uniform_loss_shows_in_the_row_mean_not_in_the_image(tmp_path):
    rows = 100
    thickness = np.full((rows, 36), 0.362)
    thickness[50:60] -= 0.05  # all around the casing
    path = write_las(tmp_path / "u.las", 1000 + 0.5 * np.arange(rows), "ft",
                     [Curve("THK", thickness, "in", "thickness")], [Parameter("THNO", 0.362, "in")])
    well = import_log(path)
    assert np.abs(well.image).max() < 1e-6
    assert well.row_mean_in[55] == pytest.approx(0.312, abs=1e-6)
    assert well.row_mean_in[10] == pytest.approx(0.362, abs=1e-6)


def test_odd_azimuth_counts_are_resampled_by_arc_and_noted(tmp_path):
    rows, logged = 60, 24
    thickness = np.full((rows, logged), 0.4)
    thickness[:, 6] = 0.35  # a groove 15 degrees wide
    path = write_las(tmp_path / "a.las", np.arange(rows) * 0.1, "ft", [Curve("THK", thickness, "in")],
                     [Parameter("THNO", 0.4, "in"), Parameter("CSIZ", 7.0, "in")])
    notes = []
    well = import_log(path, notes=notes)
    assert well.width == 36 and well.logged_azimuths == 24
    assert any("24 azimuths resampled" in note for note in notes)
    loss = (well.row_mean_in[:, None] - well.thickness_in()) * 0 + (0.4 - well.thickness_in())
    assert loss[0].sum() * 10 == pytest.approx(0.05 * 15, rel=1e-6)  # metal loss kept: in x degrees
    assert np.allclose(arc_weights(24, 36).sum(axis=1), 1.0)
    assert np.allclose(resample_azimuths(resample_azimuths(thickness, 72), 24), thickness)


def test_collars_come_from_a_collar_locator_curve(tmp_path):
    rows = 1000
    ccl = np.random.default_rng(1).normal(0, 0.01, rows)
    ccl[[200, 540, 541, 880]] = [1.0, -0.9, 0.8, 1.1]
    assert list(collars_from_locator(ccl)) == [200, 540, 880]
    path = write_las(tmp_path / "c.las", np.arange(rows) * 0.1, "ft",
                     [Curve("THK", np.full((rows, 36), 0.3), "in"), Curve("CCL", ccl, "V")],
                     [Parameter("THNO", 0.3, "in")])
    assert list(import_log(path).collars) == [200, 540, 880]


def test_las_image_curves_are_found_under_every_naming():
    names = [f"THK[{i}]" for i in range(10)] + [f"AWBK_{i}" for i in range(12)] + [
        f"X:{i}" for i in (3, 1, 2, 4, 5, 6, 7, 8)] + ["GR", "CCL"]
    groups = las_images(names)
    assert set(groups) == {"THK", "AWBK", "X"}
    assert [n for n, _ in groups["X"]] == [1, 2, 3, 4, 5, 6, 7, 8]


def test_rows_resampled_to_a_depth_step_when_asked(tmp_path):
    depth = np.cumsum(np.r_[0, np.full(49, 0.1), np.full(50, 0.13)])
    path = write_las(tmp_path / "r.las", depth, "m", [Curve("THK", np.full((100, 36), 0.3), "in")],
                     [Parameter("THNO", 0.3, "in")])
    with pytest.raises(CorrosegInputError, match="depth-step"):
        import_log(path)
    well = import_log(path, ImportOptions(depth_step=0.1))
    assert well.depth_step == pytest.approx(0.1) and well.depth_unit == "m"
    assert well.image.shape[0] == int(round((depth[-1] - depth[0]) / 0.1)) + 1


def write_bad(tmp_path, kind):
    rows = 20
    thk = [Curve("THK", np.full((rows, 36), 0.3), "in")]
    if kind == "not a log":
        (tmp_path / "x.las").write_text("hello\n")
        return tmp_path / "x.las"
    if kind == "no image":
        return write_las(tmp_path / "x.las", np.arange(rows), "ft", [Curve("GR", np.ones(rows))])
    if kind == "repeated depth":
        return write_las(tmp_path / "x.las", np.r_[np.arange(10), np.arange(9, 19)], "ft", thk)
    if kind == "not monotonic":
        return write_las(tmp_path / "x.las", np.r_[np.arange(10), np.arange(8, -2, -1)], "ft", thk)
    if kind == "unknown unit":
        return write_las(tmp_path / "x.las", np.arange(rows), "furlong", thk)
    if kind == "two thickness channels":
        return write_dlis(tmp_path / "x.dlis", np.arange(rows) * 1.0, "ft",
                          [Curve("THK", np.full((rows, 36), 0.3), "in"), Curve("T2BK", np.zeros((rows, 36)), "in")])
    if kind == "mixed azimuths":
        curves = Curve("THK", np.full((rows, 36), 0.3), "in")
        path = write_las(tmp_path / "x.las", np.arange(rows), "ft", [curves])
        text = path.read_text().replace("THK[7]", "THK[40]")
        path.write_text(text)
        return path
    if kind == "empty frame":
        return write_las(tmp_path / "x.las", np.arange(rows), "ft", [Curve("THK", np.full((rows, 36), np.nan), "in")])
    raise AssertionError(kind)


@pytest.mark.parametrize("kind, needle", [
    ("not a log", "not a DLIS or LAS"), ("no image", "no image channel"), ("repeated depth", "repeated"),
    ("not monotonic", "not monotonic"), ("unknown unit", "unknown depth unit"),
    ("two thickness channels", "corroseg import --channel: THK"), ("empty frame", "only absent values"),
    ("mixed azimuths", "mixed azimuth counts"),
])
def test_bad_logs_are_refused_in_one_line_with_nothing_written(tmp_path, kind, needle):
    path = write_bad(tmp_path, kind)
    out = tmp_path / "out.npz"
    result = runner.invoke(app, ["import", str(path), "--out", str(out)])
    one_line_error(result, needle, path.name)
    assert not out.exists() and not list(tmp_path.glob(".*out*"))


def test_an_unknown_channel_lists_the_candidates(tmp_path):
    path = write_well_log(grooved_well(rows=36), tmp_path / "w.dlis")
    result = runner.invoke(app, ["import", str(path), "--out", str(tmp_path / "o.npz"), "--channel", "AIBK"])
    one_line_error(result, "no image channel 'AIBK'", "T2BK")


def test_import_and_inspect_from_the_command_line(tmp_path):
    path = write_well_log(grooved_well(rows=108, width=36), tmp_path / "w.las")
    out = tmp_path / "w.npz"
    result = runner.invoke(app, ["import", str(path), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["rows"] == 108 and summary["depth_unit"] == "ft" and summary["nominal_wall_in"] == 0.362
    well = load_well(out)
    assert (well.od_in, well.nominal_wall_in, well.grade) == (SYNTH_CASING["od_in"], 0.362, "N80")
    again = runner.invoke(app, ["import", str(path), "--out", str(out)])
    one_line_error(again, "already exists")
    shown = runner.invoke(app, ["inspect", str(path)])
    assert shown.exit_code == 0 and "THK" in shown.output and "LAS" in shown.output and "THNO" in shown.output
    dlis = write_well_log(load_well(out), tmp_path / "w.dlis")
    shown = runner.invoke(app, ["inspect", str(dlis), "--json"])
    frames = json.loads(shown.output)["frames"]
    assert frames[0]["index"] == "TDEP" and frames[0]["direction"] == "DECREASING"


def test_an_absolute_thickness_well_file_is_refused(tmp_path):
    from corroseg.data.wells import save_well

    path = save_well(tmp_path / "raw.npz", Well(np.full((36, 36), 0.36, np.float32)))
    with pytest.raises(CorrosegInputError, match="absolute wall thickness"):
        load_well(path)


def test_awkward_headers_give_notes_not_tracebacks(tmp_path):
    path = write_las(tmp_path / "h.las", np.arange(40) * 0.1, "ft", [Curve("THK", np.full((40, 36), -0.01), "in")],
                     [Parameter("THNO", 0.3, "in", "nominal wall"), Parameter("CSIZ", "seven", "in")])
    path.write_text(path.read_text().replace("THNO.in   0.3 :", "THNO.in       :"))  # an empty value
    notes = []
    well = import_log(path, notes=notes)
    assert any("THNO" in n and "not a size" in n for n in notes) and well.nominal_wall_in is None
    assert any("CSIZ" in n and "'seven'" in n for n in notes)
    assert any("minus nominal" in n for n in notes)  # a negative median cannot be absolute thickness
    one_row = write_las(tmp_path / "one.las", np.array([5.0]), "ft", [Curve("THK", np.full((1, 36), 0.3), "in")])
    with pytest.raises(CorrosegInputError, match="one row"):
        import_log(one_row)


def test_a_well_named_like_a_section_still_writes_a_readable_las(tmp_path):
    import lasio

    path = write_las(tmp_path / "n.las", np.arange(10) * 0.1, "ft", [Curve("MINWALL", np.full(10, 0.3), "in")],
                     well_name="PAD~A-7")
    assert lasio.read(path).well["WELL"].value == "PAD~A-7"


def test_a_fleet_refuses_a_log_in_one_line(tmp_path):
    from corroseg.workflows.fleet import well_jobs

    path = write_well_log(grooved_well(rows=36), tmp_path / "w.las")
    with pytest.raises(CorrosegInputError, match="import it first"):
        well_jobs([path])

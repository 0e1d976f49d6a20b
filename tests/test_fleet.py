"""Fleet prediction on a Dask cluster (loopback only): identical outputs, a lost worker, resume, bad input."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import cloudpickle
import pytest
import torch
from typer.testing import CliRunner

from conftest import one_line_error
from corroseg.cli import app
from corroseg.data.wells import Well, load_well, save_well
from corroseg.infer.ensemble import load_predictor
from corroseg.infer.options import PredictOptions
from corroseg.workflows import fleet
from corroseg.workflows.fleet import predict_fleet
from corroseg.workflows.predict import predict_path

distributed = pytest.importorskip("distributed")
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
runner = CliRunner()
ONE_THREAD = PredictOptions(threads=1)  # what the fleet's workers use (--threads-per-worker 1)


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes on loopback, shared by the tests of this module."""
    environment = dict(os.environ)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as local:
        yield local
    os.environ.clear()  # the nannies set OMP_NUM_THREADS=1 and more here: later tests keep their threads
    os.environ.update(environment)


@pytest.fixture(scope="module")
def wells(synth_data, tmp_path_factory) -> Path:
    """Six short wells of mixed lengths and widths, cut from the tiny synthetic test wells."""
    folder = tmp_path_factory.mktemp("fleet") / "wells"
    folder.mkdir()
    sources = [load_well(path) for path in sorted((synth_data / "wells").glob("test_well_*.npz"))]
    for i, letter in enumerate("abcdef"):
        source = sources[i % len(sources)]
        rows = min(len(source.image), 144 + 72 * i)
        save_well(folder / f"well_{letter}.npz", Well(source.image[:rows].copy(), name=f"well {letter}"))
    return folder


@pytest.fixture(scope="module")
def sequential(tiny_run, wells, tmp_path_factory) -> Path:
    """The same wells predicted by the ordinary ``predict``, one thread, as the workers predict."""
    out = tmp_path_factory.mktemp("sequential") / "out"
    threads = torch.get_num_threads()
    try:
        predict_path(load_predictor([tiny_run], ONE_THREAD), wells, out, runs=[tiny_run])
    finally:
        torch.set_num_threads(threads)  # a later in-process test keeps its threads
    return out


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in (".npz", ".png", ".json")
            and p.name != "manifest.json"}


def test_a_local_cluster_predicts_every_well_byte_for_byte_as_predict_does(tiny_run, wells, sequential, tmp_path):
    out = tmp_path / "fleet"
    environment = dict(os.environ)
    result = predict_fleet([tiny_run], wells, out, PredictOptions(), "local:2", progress=False)
    assert dict(os.environ) == environment  # Dask's OMP_NUM_THREADS=1 would slow and change later torch runs
    assert (result["done"], result["skipped"], result["failed"]) == (6, 0, {})
    assert outputs(out) == outputs(sequential) and len(outputs(out)) == 18
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"done": 6, "failed": 0, "pending": 0}
    entry = manifest["wells"]["well_c"]
    assert entry["status"] == "done" and entry["attempts"] == 1 and entry["checksum"].startswith("sha256:")
    assert set(entry["outputs"]) == {str(out / f"well_c{s}") for s in (".npz", ".png", ".json")}
    assert manifest["options"]["threads"] == 1 and manifest["runs"] == [str(tiny_run)]
    assert len({e["worker"] for e in manifest["wells"].values()}) == 2  # both workers took wells
    assert not (out / fleet.ATTEMPTS).exists()


def _die_once_on(marker: str, well: str):
    """Run on each worker: the first worker to load ``well`` dies (the process exits), once."""
    def install():
        original = fleet.load_well

        def load_or_die(path):
            if Path(path).name == well and not os.path.exists(marker):
                Path(marker).write_text("killed")
                os._exit(1)
            return original(path)

        fleet.load_well = load_or_die

    return install


def test_a_worker_lost_in_the_middle_of_the_run_changes_no_output(tiny_run, wells, sequential, cluster, tmp_path):
    client = distributed.Client(cluster)
    try:
        client.run(_die_once_on(str(tmp_path / "killed"), "well_d.npz"))
        out = tmp_path / "fleet"
        result = predict_fleet([tiny_run], wells, out, PredictOptions(), cluster.scheduler_address, progress=False)
    finally:
        client.close()
    assert (tmp_path / "killed").exists()  # a worker really died
    assert result["done"] == 6 and not result["failed"]
    assert outputs(out) == outputs(sequential)
    story = json.loads((out / "manifest.json").read_text())["wells"]["well_d"]
    assert story["status"] == "done" and story["attempts"] == 2 and "did not finish" in story["note"]


def test_resume_predicts_only_the_wells_not_done(tiny_run, wells, sequential, cluster, tmp_path):
    out = tmp_path / "fleet"
    predict_fleet([tiny_run], wells, out, PredictOptions(), cluster.scheduler_address, progress=False)
    (out / "well_a.npz").unlink()  # killed before its .npz was renamed into place
    (out / "well_e.png").write_bytes(b"torn")  # damaged since
    result = predict_fleet([tiny_run], wells, out, PredictOptions(), cluster.scheduler_address, resume=True,
                           progress=False)
    assert (result["done"], result["skipped"]) == (2, 4)
    assert outputs(out) == outputs(sequential)
    again = predict_fleet([tiny_run], wells, out, PredictOptions(), cluster.scheduler_address, resume=True,
                          progress=False)
    assert (again["done"], again["skipped"]) == (0, 6)
    other = predict_fleet([tiny_run], wells, out, PredictOptions(threshold=0.3), cluster.scheduler_address,
                          resume=True, progress=False)
    assert other["done"] == 6  # other options: nothing done before counts


def test_an_unreadable_well_is_recorded_as_failed_and_the_others_are_done(tiny_run, wells, cluster, tmp_path):
    folder = tmp_path / "wells"
    folder.mkdir()
    for name in ("well_a.npz", "well_b.npz"):
        (folder / name).write_bytes((wells / name).read_bytes())
    (folder / "well_x.npz").write_bytes(b"not a well")
    result = runner.invoke(app, ["predict", str(tiny_run), str(folder), "--out", str(tmp_path / "out"),
                                 "--scheduler", cluster.scheduler_address])
    assert result.exit_code == 1, result.output
    assert "2 wells predicted" in result.stdout and "well_x" in result.output
    entry = json.loads((tmp_path / "out" / "manifest.json").read_text())["wells"]["well_x"]
    assert entry["status"] == "failed" and entry["attempts"] == 2 and "well_x.npz" in entry["error"]
    assert not (tmp_path / "out" / "well_x.npz").exists() and (tmp_path / "out" / "well_b.npz").exists()


def test_a_glob_or_a_list_file_names_the_wells(wells, tmp_path):
    assert [j.name for j in fleet.well_jobs(str(wells / "well_[ab].npz"))] == ["well_a", "well_b"]
    listing = tmp_path / "wells.txt"
    listing.write_text(f"# two wells\n{wells / 'well_c.npz'}\n\n{wells / 'well_f.npz'}\n")
    jobs = fleet.well_jobs(listing)
    assert [j.name for j in jobs] == ["well_c", "well_f"] and all(j.checksum.startswith("sha256:") for j in jobs)


def test_bad_fleet_input_is_one_line_and_writes_nothing(tiny_run, wells, tmp_path, monkeypatch):
    monkeypatch.setattr(fleet, "CONNECT_TIMEOUT_S", 1)
    out = tmp_path / "out"
    base = ["predict", str(tiny_run), str(wells), "--out", str(out)]
    one_line_error(runner.invoke(app, [*base, "--scheduler", "tcp://127.0.0.1:9"]), "cannot reach the Dask scheduler")
    one_line_error(runner.invoke(app, [*base, "--scheduler", "local:0"]), "local:N")
    one_line_error(runner.invoke(app, [*base, "--scheduler", "yarn"]), "tcp://HOST")
    one_line_error(runner.invoke(app, [*base, "--resume"]), "--resume goes with --scheduler")
    one_line_error(runner.invoke(app, ["predict", str(tiny_run), str(wells / "none_*.npz"), "--out", str(out),
                                       "--scheduler", "local:1"]), "matches no file")
    assert not out.exists()

"""The fleet workflow: ``corroseg predict ... --scheduler local:N | tcp://HOST:PORT``.

One Dask task per well. Each worker process loads the predictor once and predicts one
well at a time with ``threads_per_worker`` torch threads; every well's outputs are
written atomically by the code ``predict`` uses, so they are byte for byte those of the
sequential ``predict`` with the same options. ``OUT/manifest.json``
(:mod:`corroseg.workflows.manifest`) records every well as it finishes; ``resume`` skips
the wells whose outputs are complete and match it. A well that fails is tried once more,
then recorded as failed with its reason while the others finish; a well whose worker
dies is given to another worker by Dask (up to its ``allowed-failures``).

Workers read the run folders and the ``.npz`` wells by path: a ``tcp://`` cluster needs
them on a filesystem its workers share. Wells assembled from challenge patches are sent
to the workers.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import importlib.util
import json
import os
import resource
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from corroseg.data.wells import Well, WidthOverride, load_well
from corroseg.errors import CorrosegInputError, CorrosegUserError
from corroseg.guard import RUN_INPUTS, output_lock, refuse_overwriting_inputs
from corroseg.infer.ensemble import load_predictor
from corroseg.infer.options import PredictOptions, first_config
from corroseg.workflows.manifest import Manifest, WellEntry, file_checksum, image_checksum
from corroseg.data.log_import import import_log
from corroseg.workflows.predict import answer_outputs, outputs_of, predict_one_well, prediction_record, well_sources

CONNECT_TIMEOUT_S = 10
"""How long to wait for a ``tcp://`` scheduler before saying it cannot be reached."""

ATTEMPTS = ".fleet-attempts"
"""Folder in OUT where each start of a well is counted (a start that never finished is a lost worker)."""


@dataclass
class WellJob:
    """One well to predict: its output name, what the manifest calls its input, and how a worker gets it."""

    name: str
    input: str
    checksum: str
    path: str | None = None  # a well .npz, read by the worker
    well: Well | None = None  # a well assembled here from challenge patches

    def load(self) -> Well:
        return self.well if self.well is not None else load_well(self.path)


def _inputs(source: str | Path) -> list[Path]:
    """The paths INPUT stands for: a glob's matches, a list file's lines (relative to it), or itself."""
    text = str(source)
    if any(char in text for char in "*?["):
        matches = sorted(Path(p) for p in glob.glob(text))
        if not matches:
            raise CorrosegInputError(text, "matches no file or folder")
        return matches
    path = Path(source)
    if path.suffix in (".txt", ".lst") and path.is_file():
        lines = [line.strip() for line in path.read_text().splitlines()]
        paths = [(path.parent / line) for line in lines if line and not line.startswith("#")]
        if not paths:
            raise CorrosegInputError(path, "lists no well")
        return paths
    if not path.exists():
        raise CorrosegInputError(path, "no such file or folder")
    return [path]


def well_jobs(source: str | Path | list[Path], split: str = "test",
              widths: WidthOverride | None = None) -> list[WellJob]:
    """Every well of INPUT (a folder, a glob or a list file of wells and challenge datasets, or the paths
    they stand for), in order."""
    jobs: dict[str, WellJob] = {}
    for path in source if isinstance(source, list) else _inputs(source):
        if not path.exists():
            raise CorrosegInputError(path, "no such file or folder (named by the input list)")
        for name, loader in well_sources(path, widths, split):
            if isinstance(loader, functools.partial) and loader.func is import_log:
                raise CorrosegInputError(path, "a casing log: import it first (corroseg import LOG --out WELL.npz); "
                                               "a fleet predicts well .npz files")
            if isinstance(loader, functools.partial):  # a .npz file: read by the worker
                file = Path(loader.args[0])
                job = WellJob(name, str(file), file_checksum(file), path=str(file))
            else:  # a well of challenge patches, assembled here once
                well = loader()
                job = WellJob(name, f"{path} ({name})", image_checksum(well.image, well.name or name), well=well)
            if name in jobs:
                raise CorrosegInputError(path, f"holds a well named {name} as {jobs[name].input} does: "
                                               "outputs would collide")
            jobs[name] = job
    if not jobs:
        raise CorrosegInputError(source, "holds no well")
    return list(jobs.values())


def parse_scheduler(text: str) -> tuple[str, int | str]:
    """``("local", N)`` for ``local:N``, ``("address", ADDRESS)`` for a scheduler address."""
    if text.startswith("local:"):
        try:
            workers = int(text.split(":", 1)[1])
        except ValueError:
            workers = 0
        if workers < 1:
            raise CorrosegUserError(f"--scheduler {text}: expected local:N with N at least 1")
        return "local", workers
    if text.startswith(("tcp://", "tls://", "inproc://")):
        return "address", text
    raise CorrosegUserError(f"--scheduler {text}: expected local:N or a scheduler address such as tcp://HOST:8786")


@contextlib.contextmanager
def connect(scheduler: str) -> Iterator:
    """A Dask client: a new local cluster of N worker processes (loopback only), or an existing scheduler."""
    from distributed import Client, LocalCluster

    kind, value = parse_scheduler(scheduler)
    cluster = None
    environment = dict(os.environ)  # Dask's nannies set OMP_NUM_THREADS=1 and more in this process too
    if kind == "local":
        dashboard = ":0" if importlib.util.find_spec("bokeh") else None  # a free port, only where it can be shown
        cluster = LocalCluster(n_workers=value, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=dashboard)
        client = Client(cluster)
    else:
        try:
            client = Client(value, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise CorrosegUserError(f"--scheduler {value}: cannot reach the Dask scheduler ({reason})") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
        if os.environ != environment:  # a later torch run or subprocess of the caller keeps its threads
            os.environ.clear()
            os.environ.update(environment)


_LOADED: dict[str, object] = {}
"""The predictors a worker process has loaded, by runs and options: loaded once, used for every well."""


def _worker_predictor(runs: list[str], options: PredictOptions):
    key = json.dumps([runs, options.record()], sort_keys=True, default=str)
    if key not in _LOADED:
        _LOADED[key] = load_predictor(runs, options)
    return _LOADED[key]


def _count_attempt(out: Path, name: str) -> int:
    """Note one more start of ``name``; returns how many starts there have been."""
    folder = out / ATTEMPTS
    folder.mkdir(exist_ok=True)
    with open(folder / name, "a") as stream:
        stream.write(f"{time.time():.0f}\n")
    return len((folder / name).read_text().splitlines())


def predict_job(job: WellJob, runs: list[str], options: PredictOptions, out: str) -> dict:
    """Run on a worker: predict one well into OUT exactly as ``predict`` does; returns what the manifest keeps."""
    from distributed import get_worker

    started = time.perf_counter()
    out = Path(out)
    attempts = _count_attempt(out, job.name)
    predictor = _worker_predictor(runs, options)
    target = out / f"{job.name}.npz"
    summary = predict_one_well(predictor, job.load(), target, force=True, record=prediction_record(predictor, runs))
    written = [*outputs_of(target), *(p for p in answer_outputs(target).values() if p.is_file())]
    outputs = {str(path): file_checksum(path) for path in written}
    return {"outputs": outputs, "attempts": attempts, "worker": get_worker().address,
            "seconds": round(time.perf_counter() - started, 2), "corroded_fraction": summary["corroded_fraction"],
            "worker_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def predict_fleet(runs: Sequence[str | Path], source: str | Path, out: str | Path, options: PredictOptions,
                  scheduler: str, threads_per_worker: int = 1, split: str = "test",
                  widths: WidthOverride | None = None, resume: bool = False, force: bool = False,
                  progress: bool = True, say: Callable[[str], None] = lambda _message: None) -> dict:
    """Predict every well of ``source`` into the folder ``out`` on a Dask cluster (see the module docstring).

    Returns counts (done, skipped, and the failed wells with their reasons), the dashboard address
    and the seconds it took to start or reach the cluster (``connect_s``).
    Everything a user can get wrong (inputs, outputs, the scheduler) is refused before a file is written.
    """
    runs = [str(r) for r in runs]
    out = Path(out)
    if out.suffix:
        raise CorrosegInputError(out, "a fleet prediction writes a folder: give OUT without a suffix")
    if threads_per_worker < 1:
        raise CorrosegUserError(f"--threads-per-worker {threads_per_worker}: must be at least 1")
    options = replace(options, threads=threads_per_worker).resolve(runs)
    recorded = options.record(first_config(runs))
    inputs = _inputs(source)
    jobs = well_jobs(inputs, split, widths)
    planned = [path for job in jobs for path in (*outputs_of(out / f"{job.name}.npz"),
                                                 *answer_outputs(out / f"{job.name}.npz").values())]
    refuse_overwriting_inputs(planned + [out / "manifest.json"], files=[Path(j.path) for j in jobs if j.path],
                              datasets=[p for p in inputs if p.is_dir()], runs=runs,
                              run_reads=RUN_INPUTS + ("model.onnx",))
    previous = Manifest.read(out) if resume else None
    skipped = {job.name for job in jobs if previous is not None and previous.complete(job.name, job.checksum, recorded)}
    if not resume and not force:
        existing = [path for path in planned if path.exists()]
        if existing:
            raise CorrosegInputError(existing[0], "already exists; pass --force to overwrite, or --resume to "
                                                  "predict only the wells not yet done")
    started = time.perf_counter()
    with connect(scheduler) as client:  # an unreachable scheduler is refused before anything is written
        connected_s = round(time.perf_counter() - started, 2)
        out.mkdir(parents=True, exist_ok=True)
        with output_lock(out):
            return {**_run(client, jobs, skipped, previous, runs, options, recorded, out, progress, say),
                    "connect_s": connected_s}


def _run(client, jobs: list[WellJob], skipped: set[str], previous: Manifest | None, runs: list[str],
         options: PredictOptions, recorded: dict, out: Path, progress: bool, say: Callable[[str], None]) -> dict:
    from distributed import as_completed
    from rich.console import Console
    from rich.progress import MofNCompleteColumn, Progress

    manifest = Manifest(recorded, runs)
    for job in jobs:
        manifest.wells[job.name] = (previous.wells[job.name] if job.name in skipped
                                    else WellEntry(job.input, job.checksum))
    manifest.write(out)
    dashboard = getattr(client, "dashboard_link", None) if _has_dashboard(client) else None
    if dashboard:
        say(f"Dask dashboard: {dashboard}")
    todo = [job for job in jobs if job.name not in skipped]
    if skipped:
        say(f"resuming: {len(skipped)} of {len(jobs)} wells are already done and match the manifest")
    futures = {}
    for job in todo:
        shipped = client.scatter(job, direct=False) if job.well is not None else job
        futures[client.submit(predict_job, shipped, runs, options, str(out), retries=1, pure=False,
                              key=f"corroseg-predict-{job.name}-{time.time_ns()}")] = job
    with Progress(*Progress.get_default_columns(), MofNCompleteColumn(), console=Console(stderr=True),
                  disable=not progress) as bar:
        task = bar.add_task("wells", total=len(todo))
        for future in as_completed(futures):
            job = futures[future]
            _settle(manifest.wells[job.name], future, out / ATTEMPTS / job.name)
            manifest.write(out)
            bar.advance(task)
    with contextlib.suppress(OSError):
        (out / ATTEMPTS).rmdir()  # empty once every well is settled
    failed = {name: entry.error for name, entry in manifest.wells.items() if entry.status == "failed"}
    return {"kind": "fleet", "folder": str(out), "manifest": str(out / "manifest.json"), "wells": len(jobs),
            "done": sum(e.status == "done" for e in manifest.wells.values()) - len(skipped),
            "skipped": len(skipped), "failed": failed, "dashboard": dashboard}


def _settle(entry: WellEntry, future, attempts_file: Path) -> None:
    """Record a finished task (done, or failed with its one-line reason) in its manifest entry."""
    starts = len(attempts_file.read_text().splitlines()) if attempts_file.is_file() else 0
    attempts_file.unlink(missing_ok=True)
    if future.status == "finished":
        result = future.result()
        entry.status, entry.error = "done", None
        entry.outputs, entry.worker, entry.seconds = result["outputs"], result["worker"], result["seconds"]
        entry.worker_peak_rss_mib = result["worker_peak_rss_mib"]
        entry.attempts = max(starts, result["attempts"])
        if entry.attempts > 1:
            entry.note = f"predicted again after {entry.attempts - 1} start(s) that did not finish (a lost worker or an error)"
        return
    exc = future.exception()
    entry.status, entry.outputs, entry.attempts = "failed", {}, starts
    if type(exc).__name__ == "KilledWorker":
        entry.error = "every worker that took this well died while predicting it"
    else:
        entry.error = " ".join(str(exc).splitlines()) or type(exc).__name__


def _has_dashboard(client) -> bool:
    try:
        return bool(client.scheduler_info().get("services", {}).get("dashboard"))
    except Exception:  # noqa: BLE001 (an old or remote scheduler that will not say: no address shown)
        return False

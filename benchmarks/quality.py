"""Quality benchmark: the paper's Table 1 and our ablations, every model under one training budget.

Usage::

    python benchmarks/quality.py [--quick] [--out bench_out/quality] [--budget CPU_SECONDS] [--jobs 2]
        [--data SYNTH] [--real ../shared/data/challenge] [--docs docs/benchmarks.md] [--only NAME ...]

Every *entry* (a model and recipe) is trained on the same synthetic wells (``corroseg synth
--seed 0 --preset parametric``, the default generator when it was measured; ``--quick``: the small preset) with the same budget of
``--budget`` seconds of CPU time on one thread (``max_cpu_time``, ``threads=1``): CPU time
is the work a run itself did, so two runs side by side (``--jobs 2``, one per core) or other
load on a shared machine do not change what each gets. Then each run predicts the held-out
test wells and the real false-alarm wells 9 and 10, and is scored with a plain threshold of
0.5, its tuned threshold, and the random walker (and TTA where it is part of the recipe).

Also: a robust-threshold reference that learns nothing but one ``k`` (pixels below the local
median by more than ``k`` robust standard deviations), ensembles of 1, 3 and 5 seeds from the
cached probabilities, and PNG strips of every Table-1 model on real wells with visible
grooves. Finished entries are kept under ``--out``: a second call only runs what is missing
(``--force`` reruns everything). Results go to ``OUT/quality.json`` and, with ``--docs``, to
the section between ``<!-- quality:begin -->`` and ``<!-- quality:end -->`` of that file.

The entries are listed in ``quality_entries.py`` and the section is written by
``quality_report.py``, beside this script; this script trains, predicts and scores.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_tables import write_json, write_text  # noqa: E402
from options import Cases, predict_cases, score_probabilities  # noqa: E402  (a sibling script)
# the parts of this benchmark; GROUP_TITLES, BEGIN and END are re-exported for readers and tests
from quality_entries import DEFAULT, ENTRIES, GROUP_TITLES, PAPER, SEEDS, UNCERTAIN_LIMIT, Entry  # noqa: E402, F401
from quality_report import BEGIN, END, markdown, write_docs  # noqa: E402, F401

from corroseg.atomic import atomic_path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GROOVE_WELLS = (("train", 14), ("test", 5))
"""Real wells with visible grooves, drawn for every Table-1 model (never trained on: no labels)."""


# ----------------------------------------------------------------------------- one entry (a child process)

def train_metric(predictor, data: Path, run: Path, max_wells: int) -> dict:
    """Challenge metric (threshold 0.5) on up to ``max_wells`` of the run's own training wells."""
    from corroseg.infer.evaluate import score

    wells = json.loads((run / "data.json").read_text())["train_wells"][:max_wells]
    cases = Cases(data, None, "train", wells)
    probability = predictor.predict_patches(cases.images)
    predictor.threshold, predictor.postprocess = 0.5, None
    masks = predictor.patch_masks(cases.images, probability=probability)[cases.scored]
    result = score(masks, cases.truth, cases.wells)
    return {"iou": result["iou"], "iou_nonempty": result["iou_nonempty"], "wells": wells}


def uncertain_share(probability: np.ndarray, fa_probability: dict) -> float:
    values = np.concatenate([probability.ravel(), *[p.ravel() for p in fa_probability.values()]])
    values = values[np.isfinite(values)]
    return float(((values > 0.1) & (values < 0.9)).mean()) if values.size else 0.0


def walker_affordable(probability: np.ndarray, fa_probability: dict) -> bool:
    return uncertain_share(probability, fa_probability) <= UNCERTAIN_LIMIT


def run_entry(entry: Entry, data: Path, real: Path | None, out: Path, budget: float, train_wells: int = 4) -> dict:
    """Train ``entry`` under the budget (unless already trained), predict and score it; write its result."""
    import torch

    from corroseg.workflows.train import train
    from corroseg.infer.ensemble import ensemble_threshold, load_predictor
    from corroseg.infer.postprocess import RandomWalker
    from corroseg.models import describe
    from corroseg.train.config import load_config

    torch.set_num_threads(1)
    run = out / "runs" / entry.slug
    cfg = load_config(entry.base, [*entry.overrides, f"max_cpu_time={budget}", "threads=1"])
    if not (run / "threshold.json").is_file():
        train(data, run, cfg, force=True, progress=False)
    metrics = json.loads((run / "metrics.json").read_text())
    facts = json.loads((run / "data.json").read_text())
    card = describe(cfg.model, **cfg.model_options)
    patches_trained = metrics["train_patches_per_s"] * metrics["train_seconds"]

    cases = Cases(data, real)
    tuned = ensemble_threshold([run], "tuned")
    predictor = load_predictor([run], tta=False, random_walker=False, threads=1, engine="torch")
    probability, fa_probability, predict_s = predict_cases(predictor, cases)
    walk = walker_affordable(probability, fa_probability)
    variants = {"threshold 0.5": (0.5, None), "tuned threshold": (tuned, None)}
    if walk:
        variants["random walker"] = (0.5, RandomWalker())
    scores = score_probabilities(predictor, cases, probability, fa_probability, variants)
    saved = {"test": probability, **{f"fa_{w}": p for w, p in fa_probability.items()}}
    if entry.tta:
        tta = load_predictor([run], tta=True, random_walker=False, threads=1, engine="torch")
        tta_probability, tta_fa, _ = predict_cases(tta, cases)
        tta_variants = {"threshold 0.5": (0.5, None)}
        if walker_affordable(tta_probability, tta_fa):
            tta_variants["random walker"] = (0.5, RandomWalker())
        scores.update({f"TTA + {k}" if k != "threshold 0.5" else "TTA": v for k, v in score_probabilities(
            tta, cases, tta_probability, tta_fa, tta_variants).items()})
        saved.update({"tta_test": tta_probability, **{f"tta_fa_{w}": p for w, p in tta_fa.items()}})
    with atomic_path(out / "probabilities" / f"{entry.slug}.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **{k: v.astype(np.float16) for k, v in saved.items()})
    result = {
        "entry": asdict(entry), "config": {"base": entry.base, "overrides": list(entry.overrides),
                                           "max_cpu_time": budget, "threads": 1},
        "model": cfg.model, "parameters": card.parameters, "gflops_per_patch": card.flops_per_patch / 1e9,
        "val_wells": facts["val_wells"],
        "epochs_started": metrics["epochs"], "epochs_done": patches_trained / max(facts["train_patches"], 1),
        "stopped_by": metrics["stopped_by"], "train_cpu_seconds": metrics.get("cpu_seconds_this_session"),
        "train_wall_seconds": metrics["wall_seconds_this_session"],
        "train_patches_per_s": metrics["train_patches_per_s"], "best_epoch": metrics["best"].get("epoch"),
        "val_iou": metrics["best"].get("val_iou"), "val_iou_nonempty": metrics["best"].get("val_iou_nonempty"),
        "tuned_threshold": tuned, "predict_seconds": round(predict_s, 1),
        "uncertain_share": uncertain_share(probability, fa_probability),
        "train_split": train_metric(predictor, data, run, max_wells=train_wells), "test": scores,
    }
    write_json(out / "results" / f"{entry.slug}.json", result)
    return result


# ----------------------------------------------------------------------------- the robust-threshold reference

class RobustThreshold:
    """Flags pixels below the median of their 36-row block by more than ``k`` robust standard deviations.

    The robust standard deviation is 1.4826 x the median absolute deviation over the block's
    valid pixels (the whole circumference). It learns one number, ``k``.
    """

    block = 36

    def __init__(self, k: float):
        from corroseg.data.corruption import CorruptionPolicy

        self.k, self.threshold, self.policy, self.postprocess = float(k), 0.5, CorruptionPolicy(), None

    def predict_well(self, image: np.ndarray) -> np.ndarray:
        filled, valid = self.policy.clean(np.asarray(image, np.float32))
        rows, width = filled.shape
        pad = (-rows) % self.block
        values = np.pad(np.where(valid, filled, np.nan), ((0, pad), (0, 0)), constant_values=np.nan)
        blocks = values.reshape(-1, self.block * width)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks: no reading at all
            median = np.nanmedian(blocks, axis=1, keepdims=True)
            spread = 1.4826 * np.nanmedian(np.abs(blocks - median), axis=1, keepdims=True) + 1e-6
            flagged = ((blocks - median) / spread < -self.k).astype(np.float32)
        flagged = flagged.reshape(-1, width)[:rows]
        return np.where(valid, flagged, np.nan).astype(np.float32)


def robust_predictor(k: float):
    """A :class:`RobustThreshold` that is also a corroseg ``WellPredictor`` (patches, masks, walker hooks)."""
    from corroseg.infer.bundle import WellPredictor

    class Reference(RobustThreshold, WellPredictor):
        pass

    return Reference(k)


def robust_threshold_reference(data: Path, real: Path | None, ks=(2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0)) -> dict:
    """Choose ``k`` on the training wells, then score it on the test wells and false-alarm wells."""
    train_cases = Cases(data, None, "train")
    choice = {}
    for k in ks:
        predictor = robust_predictor(k)
        probability, fa, _ = predict_cases(predictor, train_cases)
        choice[k] = score_probabilities(predictor, train_cases, probability, fa, {"k": (0.5, None)})["k"]["iou"]
    best = max(choice, key=choice.get)
    predictor = robust_predictor(best)
    cases = Cases(data, real)
    probability, fa, seconds = predict_cases(predictor, cases)
    scores = score_probabilities(predictor, cases, probability, fa, {"threshold 0.5": (0.5, None)})
    return {"k": best, "train_iou_by_k": choice, "test": scores, "predict_seconds": round(seconds, 1)}


# ----------------------------------------------------------------------------- ensembles from cached probabilities

def ensemble_scores(out: Path, data: Path, real: Path | None, names: list[str], results: dict) -> dict:
    """Ensembles of the first 1, 3, 5 seeds: probabilities averaged, then threshold or random walker."""
    from corroseg.infer.ensemble import load_predictor
    from corroseg.infer.postprocess import RandomWalker

    slugs = {e.name: e.slug for e in ENTRIES}
    ready = [n for n in names if n in results]
    if len(ready) < 2:
        return {}
    cases = Cases(data, real)
    predictor = load_predictor([out / "runs" / slugs[ready[0]]], tta=False, random_walker=False, threads=2)
    stored = {n: np.load(out / "probabilities" / f"{slugs[n]}.npz") for n in ready}
    rows = {}
    for size in sorted({1, 3, 5, len(ready)}):
        if size > len(ready):
            continue
        members = [stored[n] for n in ready[:size]]
        for prefix, label in (("", "no TTA"), ("tta_", "TTA")):
            if f"{prefix}test" not in members[0]:
                continue
            mean = np.mean([m[f"{prefix}test"].astype(np.float32) for m in members], axis=0)
            fa = {w: np.mean([m[f"{prefix}fa_{w}"].astype(np.float32) for m in members], axis=0) for w in cases.fa_wells}
            variants = {"threshold 0.5": (0.5, None)}
            if walker_affordable(mean, fa):
                variants["random walker"] = (0.5, RandomWalker())
            scored = score_probabilities(predictor, cases, mean, fa, variants)
            for variant, row in scored.items():
                rows[f"{size} | {label} | {variant}"] = {"members": ready[:size], **row}
    return rows


# ----------------------------------------------------------------------------- strips of real wells

def strips(out: Path, real: Path, results: dict, names: list[str], rows: int = 576) -> list[Path]:
    """One PNG per real groove well: the busiest section, the image and every model's mask (threshold 0.5)."""
    from matplotlib.figure import Figure

    from corroseg.data.challenge import read_images
    from corroseg.data.corruption import valid_pixels
    from corroseg.data.wells import assemble, resolve_width
    from corroseg.infer.ensemble import load_predictor

    slugs = {e.name: e.slug for e in ENTRIES}
    models = [n for n in names if n in results]
    if not models:
        return []
    predictors = {n: load_predictor([out / "runs" / slugs[n]], tta=False, random_walker=False, threads=2)
                  for n in models}
    k = results.get("_robust", {}).get("k")
    if k is not None:
        predictors[f"robust threshold (k={k:g})"] = robust_predictor(k)
    written = []
    for split, well in GROOVE_WELLS:
        images = read_images(real, split)
        patches = images.of_well(well)
        image = assemble(patches, resolve_width(well, patches)[0])
        busiest = predictors[models[-1] if DEFAULT not in predictors else DEFAULT].predict_well(image)
        flagged = np.nan_to_num(busiest) >= 0.5
        counts = np.convolve(flagged.sum(axis=1), np.ones(rows), mode="valid")
        start = int(np.argmax(counts)) if len(counts) else 0
        context = 72
        lo, hi = max(0, start - context), min(len(image), start + rows + context)
        section = image[lo:hi]
        masks = {}
        for name, predictor in predictors.items():
            p = predictor.predict_well(section)[start - lo:start - lo + rows]
            masks[name] = np.nan_to_num(p) >= 0.5
        shown = section[start - lo:start - lo + rows]
        valid = valid_pixels(shown)
        figure = Figure(figsize=(1.25 * (len(masks) + 1) + 0.6, 7.5), dpi=100)
        axes = figure.subplots(1, len(masks) + 1, sharey=True)
        limit = float(np.nanpercentile(np.abs(np.where(valid, shown, np.nan)), 99)) or 0.05
        axes[0].imshow(np.where(valid, shown, np.nan), cmap="seismic", vmin=-limit, vmax=limit, aspect="auto",
                       interpolation="nearest")
        axes[0].set_title("image", fontsize=8)
        axes[0].set_ylabel(f"row (from {start})")
        for ax, (name, mask) in zip(axes[1:], masks.items()):
            shade = np.where(valid, mask.astype(float), 0.5)
            ax.imshow(shade, cmap="Greys", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
            ax.set_title("\n".join(_wrap(name, 14)), fontsize=7)
            ax.set_xticks([])
        figure.suptitle(f"real {split} well {well}, rows {start}-{start + rows}: predicted corrosion (black)", fontsize=9)
        path = out / f"strip_{split}_well_{well}.png"
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format="png", bbox_inches="tight")
        written.append(path)
    return written


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + [line]


# ----------------------------------------------------------------------------- the driver

def ensure_data(out: Path, preset: str, seed: int) -> Path:
    data = out / f"synth-{preset}-{seed}"
    if not (data / "synth.json").is_file():
        from corroseg.synth.generator import write_dataset

        print(f"synthesising {data} ...", flush=True)
        write_dataset(data, seed=seed, preset=preset, overwrite=True)
    return data


def launch(entry: Entry, args, data: Path) -> tuple[Entry, int, float]:
    log = args.out / "logs" / f"{entry.slug}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(asdict(entry)),
               "--out", str(args.out), "--data", str(data), "--budget", str(args.budget)]
    command += ["--real", str(args.real)] if args.real else ["--no-real"]  # a worker must not fall back to the default
    if args.quick:
        command.append("--quick")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with open(log, "w") as f:
        code = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT, env=env).returncode
    return entry, code, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small preset, 15 CPU-s budgets, fewer entries")
    parser.add_argument("--out", type=Path, default=ROOT / "bench_out" / "quality")
    parser.add_argument("--data", type=Path, default=None, help="a synthetic dataset (default: made under --out)")
    parser.add_argument("--real", type=Path, default=ROOT.parent / "shared" / "data" / "challenge")
    parser.add_argument("--no-real", action="store_true", help="no real data: skip false alarms and strips")
    parser.add_argument("--budget", type=float, default=None, help="CPU seconds of training per model "
                                                                   "(default 300, --quick 15)")
    parser.add_argument("--jobs", type=int, default=2, help="models trained side by side (one core each)")
    parser.add_argument("--only", nargs="*", default=None, help="entry names or groups to run")
    parser.add_argument("--docs", type=Path, default=None, help="markdown file to write the section into")
    parser.add_argument("--force", action="store_true", help="retrain and rescore every entry")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.no_real:
        args.real = None
    if args.worker:
        entry = Entry(**{k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(args.worker).items()})
        run_entry(entry, args.data, args.real if args.real and args.real.is_dir() else None, args.out, args.budget,
                  train_wells=1 if args.quick else 4)
        return
    started = time.perf_counter()
    # the parametric wells (the default generator before real textures) are what docs/benchmarks.md measured
    preset = "small" if args.quick else "parametric"
    args.budget = args.budget or (15.0 if args.quick else 300.0)
    if args.quick and args.out == ROOT / "bench_out" / "quality":
        args.out = ROOT / "bench_out" / "quality-quick"
    if args.force and args.out.is_dir():
        for sub in ("results", "runs", "probabilities"):
            shutil.rmtree(args.out / sub, ignore_errors=True)
    if args.real is not None and not args.real.is_dir():
        print(f"no real data at {args.real}: false alarms and strips are skipped", flush=True)
        args.real = None
    data = args.data or ensure_data(args.out, preset, 0)
    chosen = [e for e in ENTRIES if (e.quick or not args.quick)
              and (args.only is None or e.name in args.only or e.group in args.only)]
    todo = [e for e in chosen if not (args.out / "results" / f"{e.slug}.json").is_file()]
    print(f"{len(chosen)} entries, {len(todo)} to run, budget {args.budget:g} CPU-s each, {args.jobs} at a time",
          flush=True)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(launch, e, args, data) for e in todo]
        for done, future in enumerate(as_completed(futures), 1):
            entry, code, seconds = future.result()
            status = "ok" if code == 0 else f"FAILED (exit {code}, see {args.out}/logs/{entry.slug}.log)"
            print(f"[{done}/{len(todo)}] {entry.name}: {status} in {seconds:.0f} s", flush=True)
    results = {}
    for e in chosen:
        path = args.out / "results" / f"{e.slug}.json"
        if path.is_file():
            results[e.name] = json.loads(path.read_text())
    print("robust threshold reference ...", flush=True)
    robust = robust_threshold_reference(data, args.real)
    results["_robust"] = robust
    print("ensembles ...", flush=True)
    ensembles = ensemble_scores(args.out, data, args.real, SEEDS, results)
    images = []
    if args.real:
        print("strips of real wells ...", flush=True)
        paper = [e.name for e in ENTRIES if e.group == PAPER]
        images = [str(p) for p in strips(args.out, args.real, results, paper)]
    synth = json.loads((data / "synth.json").read_text())
    preset_facts = synth.get("preset", {}) if isinstance(synth.get("preset"), dict) else {}
    val_wells = len(next(iter(r for k, r in results.items() if not k.startswith("_")), {}).get("val_wells", [])) or "some"
    meta = {
        "date": datetime.date.today().isoformat(), "command": "python " + " ".join(
            [str(Path(sys.argv[0]).resolve().relative_to(ROOT)) if Path(sys.argv[0]).resolve().is_relative_to(ROOT)
             else sys.argv[0], *sys.argv[1:]]),
        "seconds": time.perf_counter() - started, "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
        "budget": args.budget, "jobs": args.jobs, "seed": synth.get("seed", 0), "preset": preset_facts.get("name", preset),
        "train_wells": preset_facts.get("train_wells", "?"), "test_wells": preset_facts.get("test_wells", "?"),
        "val_wells": val_wells,
        "test_patches": len(Cases(data, None).scored), "entries": chosen,
    }
    docs_images = images
    if args.docs and images:
        target = args.docs.parent / "images"
        target.mkdir(parents=True, exist_ok=True)
        docs_images = []
        for p in images:
            name = ("quick_" if args.quick else "") + "quality_" + Path(p).name
            shutil.copyfile(p, target / name)
            docs_images.append(f"images/{name}")
    section = markdown(results, ensembles, robust, meta, docs_images)
    write_json(args.out / "quality.json", {"meta": {k: v for k, v in meta.items() if k != "entries"},
                                           "results": results, "ensembles": ensembles})
    write_text(args.out / "quality.md", section)
    print(section, flush=True)
    if args.docs:
        write_docs(args.docs, section)
        print(f"wrote {args.docs}", flush=True)


if __name__ == "__main__":
    main()

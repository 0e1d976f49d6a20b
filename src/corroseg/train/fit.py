"""``fit``: train a model from a dataset directory into a run directory (a bundle).

A run directory holds everything prediction needs and nothing that unpickles code::

    RUN/config.yaml          the resolved TrainConfig
    RUN/scaler.json          the RobustScaler fitted on the training wells
    RUN/model.safetensors    the best weights (by the validation challenge metric)
    RUN/metrics.json         best validation figures, epochs, time, throughput
    RUN/data.json            which wells trained, validated, were left out; widths
    RUN/logs/metrics.csv     learning curves (and TensorBoard events when installed)
    RUN/checkpoints/         best.ckpt and last.ckpt (Lightning, read with weights_only)
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import shutil
import signal
import threading
import time
import warnings
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.callbacks.weight_averaging import EMAWeightAveraging
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from safetensors import SafetensorError
from safetensors.torch import save_file

from corroseg.atomic import atomic_path, remove_temps, write_json
from corroseg.errors import CorrosegInputError, CorrosegUserError, interrupt_behind
from corroseg.guard import check_replaceable, mark
from corroseg.train.callbacks import CpuTimeBudget, GradualUnfreezing, SaveConfigOnStart, Throughput, TrainingBar
from corroseg.train.checkpointing import AtomicCheckpointIO, AtomicCSVLogger, RunCheckpoint, write_failure
from corroseg.data.scaling import PatchScaler
from corroseg.models.budget import check_memory
from corroseg.train.config import CONFIG, DATA, METRICS, SCALER, WEIGHTS, TrainConfig, load_config, parse_override, save_config
from corroseg.train.datamodule import WellDataModule
from corroseg.train.rundir import CHECKPOINTS, RunDir
from corroseg.train.module import SegModule



def prepare_run_dir(out: Path, resume: bool, force: bool, kind: str = "run") -> None:
    """Refuse to overwrite a run without ``force``; never delete a folder corroseg did not write.

    With ``force`` an existing folder is replaced only if its marker says it is a run
    of ``kind`` and it holds nothing but a run's files (:func:`corroseg.guard.check_replaceable`).
    """
    if resume:
        if not RunDir(out).last_checkpoint.is_file() or not (out / CONFIG).is_file():
            raise CorrosegInputError(out, "nothing to resume: no checkpoints/last.ckpt and config.yaml here "
                                          "(start it again with --force)")
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not force:
            how = " or --resume to continue it" if RunDir(out).last_checkpoint.is_file() else ""
            raise CorrosegInputError(out, f"already exists; pass --force to overwrite it{how}")
        check_replaceable(out, kind)
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    mark(out, kind)


CHECKPOINT_KEYS = ("epoch", "global_step", "state_dict", "optimizer_states", "loops")
"""What a Lightning checkpoint must hold to be resumed from."""


def launched_rank() -> int:
    """This process's rank when DDP relaunched the command for another device or node (0 for the first)."""
    return int(os.environ.get("LOCAL_RANK", 0)) + int(os.environ.get("NODE_RANK", 0))


def checkpoint_epoch(path: Path) -> int:
    """The number of finished epochs in a Lightning checkpoint; one line naming it when it is unreadable."""
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol of the file it then refuses
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
        missing = [key for key in CHECKPOINT_KEYS if key not in state]
        if missing:
            raise ValueError(f"no {', '.join(missing)}")
        return int(state["epoch"]) + 1
    except Exception as exc:  # noqa: BLE001 - truncated, empty, pickled code or not a checkpoint at all
        problem = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")[:100]
        raise CorrosegInputError(path, f"is not a readable checkpoint ({problem}); the run cannot be resumed, "
                                       "start it again with --force") from None


RESUMABLE_KEYS = ("max_epochs", "max_time", "max_cpu_time", "accelerator", "devices", "num_nodes", "strategy",
                  "num_workers", "threads")
"""Config keys a resumed run may change; the others would change what the checkpoint means."""


def _trainer(cfg: TrainConfig, out: Path, progress: bool, resume: bool,
             extra: tuple = ()) -> tuple[L.Trainer, ModelCheckpoint, Throughput]:
    checkpoint = RunCheckpoint(dirpath=out / CHECKPOINTS, filename="best", monitor="val_iou", mode="max",
                               save_top_k=1, enable_version_counter=False)
    # the latest epoch, every epoch (save_last=True only writes it when the best one changes)
    latest = RunCheckpoint(dirpath=out / CHECKPOINTS, filename="last", monitor=None, save_top_k=1,
                           every_n_epochs=1, enable_version_counter=False)
    throughput = Throughput()
    callbacks: list = [checkpoint, latest, throughput, *extra]
    if cfg.patience:
        callbacks.append(EarlyStopping(monitor="val_iou", mode="max", patience=cfg.patience))
    if cfg.ema_decay:
        callbacks.append(EMAWeightAveraging(decay=cfg.ema_decay))
    if cfg.unfreeze_every:
        callbacks.append(GradualUnfreezing(cfg.unfreeze_every))
    if cfg.max_cpu_time:
        callbacks.append(CpuTimeBudget(cfg.max_cpu_time))
    if progress:
        callbacks.append(TrainingBar())
    # a resumed session logs beside the first one (CSVLogger would rewrite its file)
    sessions = sorted((out / "logs").glob("**/metrics.csv")) if resume else []
    version = f"session-{len(sessions) + 1}" if sessions else ""
    loggers: list = [AtomicCSVLogger(out, name="logs", version=version)]
    if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
        loggers.append(TensorBoardLogger(out, name="logs", version="tensorboard"))
    deterministic = cfg.deterministic
    if deterministic and cfg.accelerator != "cpu" and torch.cuda.is_available():
        deterministic = "warn"  # CUDA has no deterministic backward for bilinear upsampling (corroseg)
    try:
        return _build_trainer(cfg, out, progress, callbacks, loggers, deterministic), checkpoint, throughput
    except (MisconfigurationException, ValueError, TypeError, RuntimeError) as exc:
        problem = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CorrosegUserError(f"config accelerator={cfg.accelerator!r} devices={cfg.devices!r} "
                                f"num_nodes={cfg.num_nodes} strategy={cfg.strategy!r} precision={cfg.precision!r}: "
                                f"{problem}") from None


def _build_trainer(cfg: TrainConfig, out: Path, progress: bool, callbacks: list, loggers: list,
                   deterministic) -> L.Trainer:
    return L.Trainer(
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        num_nodes=cfg.num_nodes,
        strategy=cfg.strategy,
        precision=cfg.precision,
        deterministic=deterministic,
        max_epochs=cfg.max_epochs,
        max_time={"seconds": cfg.max_time} if cfg.max_time else None,
        callbacks=callbacks,
        logger=loggers,
        use_distributed_sampler=False,  # our batch sampler shards by rank itself
        num_sanity_val_steps=0,
        log_every_n_steps=10,
        enable_progress_bar=progress,
        enable_model_summary=False,
        default_root_dir=out,
        plugins=[AtomicCheckpointIO()],
    )


def module_settings(cfg: TrainConfig, resume: bool) -> dict:
    """The module's settings: ``cfg``, on resume without ``model_options.pretrained``.

    The checkpoint holds the weights, and no path in a run's ``config.yaml`` is followed
    when the run is loaded again (it may be gone, or relative to another folder).
    """
    settings = cfg.to_dict()
    if resume:
        settings["model_options"] = {k: v for k, v in settings["model_options"].items() if k != "pretrained"}
    return settings


def _fit_or_interrupt(trainer: L.Trainer, module: SegModule, datamodule: WellDataModule, ckpt_path: Path | None,
                      out: Path) -> None:
    """``trainer.fit``; Ctrl-C raises KeyboardInterrupt (Lightning exits with status 1) and restores its handler."""
    main_thread = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if main_thread else None
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except BaseException as exc:  # noqa: BLE001 - only an interrupt is turned into another exception
        if not ((isinstance(exc, SystemExit) and trainer.interrupted) or interrupt_behind(exc) is not None):
            raise
        if RunDir(out).last_checkpoint.is_file():
            raise KeyboardInterrupt(f"{out} keeps its last checkpoint; continue with --resume") from None
        raise KeyboardInterrupt(f"{out} has no checkpoint yet (stopped in its first epoch); "
                                "start it again with --force") from None
    finally:
        if main_thread and handler is not None:
            signal.signal(signal.SIGINT, handler)  # Lightning ignores SIGINT while it shuts down


def quiet_lightning() -> None:
    """Keep Lightning's banners (GPU available, tips) and known deprecation chatter off the console."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
    warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")  # --resume


def fit(
    data: str | Path,
    out: str | Path,
    cfg: TrainConfig | None = None,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    overrides: list[str] | tuple = (),
) -> Path:
    """Train on the labelled wells of ``data`` and write the run directory ``out``.

    Parameters
    ----------
    data : path
        Dataset directory (challenge format, optionally with ``wells/``).
    cfg : TrainConfig, optional
        Defaults to the ``default`` preset. Ignored on ``resume``, where the run's own
        ``config.yaml`` (plus ``overrides``) is used.
    resume : bool
        Continue from ``out/checkpoints/last.ckpt``.
    force : bool
        Replace an existing run directory.
    """
    out = Path(out)
    rank = launched_rank()  # DDP relaunches this command for the other ranks: only the first one manages the folder
    if resume:  # everything is checked before the run is touched; its config is rewritten once training starts
        prepare_run_dir(out, resume=True, force=False)
        changed = [parse_override(o)[0] for o in overrides]
        frozen = [k for k in changed if k.partition(".")[0] not in RESUMABLE_KEYS]
        if frozen:
            raise CorrosegUserError(f"cannot change {', '.join(frozen)} when resuming (only "
                                    f"{', '.join(RESUMABLE_KEYS)}); start a new run instead")
        cfg = load_config(out / CONFIG, overrides)
        done = checkpoint_epoch(RunDir(out).last_checkpoint)
        if cfg.max_epochs is not None and cfg.max_epochs <= done:
            raise CorrosegUserError(f"max_epochs={cfg.max_epochs}: {out} has already trained {done} epochs; "
                                    f"resume with max_epochs above {done}")
    cfg = cfg or load_config("default")
    if cfg.unfreeze_every and cfg.model != "corroseg":
        raise CorrosegUserError(f"config unfreeze_every needs a model with a pretrained encoder (corroseg), not {cfg.model}")
    quiet_lightning()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    # everything a user can get wrong is checked before an existing run is replaced
    height, width = (36, 36) if cfg.window == "patch" else (cfg.window_rows, 72)
    check_memory(cfg.model, dict(cfg.model_options), cfg.batch_size, height, width, what="config")
    module = SegModule(module_settings(cfg, resume))
    if not getattr(module.model, "accepts_taller_inputs", False) and (cfg.window != "patch" or cfg.predict_rows != 36):
        raise CorrosegUserError(f"model {cfg.model} reads 36x36 patches only: use window=patch window_rows=36 "
                                "predict_rows=36 predict_overlap=0 (or --config paper)")
    datamodule = WellDataModule(data, cfg)
    if resume:
        datamodule.scaler = PatchScaler.load(out / SCALER)  # the run's own, never re-fitted
    datamodule.setup("fit")
    # on resume the config (with the new max_epochs etc.) is written once training really starts
    saver = (SaveConfigOnStart(cfg, out / CONFIG),) if resume and rank == 0 else ()
    trainer, checkpoint, throughput = _trainer(cfg, out, progress, resume, saver)
    if rank == 0:
        if resume:
            remove_temps(out / CHECKPOINTS, ("last.ckpt", "best.ckpt"))
            remove_temps(out, (WEIGHTS, METRICS, DATA, CONFIG, SCALER))
        else:
            prepare_run_dir(out, resume=False, force=force)
            datamodule.scaler.save(out / SCALER)
            save_config(cfg, out / CONFIG)
    started, cpu_started = time.perf_counter(), time.process_time()
    last = RunDir(out).last_checkpoint
    _fit_or_interrupt(trainer, module, datamodule, last if resume else None, out)
    if not trainer.is_global_zero:
        return out
    weights = checkpoint_weights(checkpoint.best_model_path or str(last))
    with atomic_path(out / WEIGHTS) as tmp:
        try:
            save_file(weights, str(tmp), metadata={"model": cfg.model})
        except SafetensorError as exc:  # a full disk, reported in safetensors' own error type
            raise write_failure(out / WEIGHTS, exc) from None
    write_json(out / DATA, datamodule.facts)
    metrics = summarize_training(out, trainer, throughput, time.perf_counter() - started)
    metrics["cpu_seconds_this_session"] = round(time.process_time() - cpu_started, 2)
    write_json(out / METRICS, metrics)
    return out


def checkpoint_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The network's weights in a Lightning checkpoint, named as ``model.safetensors`` names them."""
    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    return {k.removeprefix("model."): v.contiguous() for k, v in state.items() if k.startswith("model.")}


def read_curves(out: Path):
    """Per-epoch learning curves from ``logs/**/metrics.csv`` (a DataFrame, one row per epoch).

    The first session logs to ``logs/metrics.csv``, each resumed one to
    ``logs/session-N/metrics.csv``.
    """
    import pandas as pd

    def session(path: Path) -> int:
        name = path.parent.name
        return int(name.removeprefix("session-")) if name.startswith("session-") else 1

    paths = sorted((out / "logs").glob("**/metrics.csv"), key=session)
    if not paths:
        return pd.DataFrame()
    # sessions in order; an epoch logged again after a resume keeps its latest values
    frames = [frame for frame in map(_read_session, paths) if frame is not None]
    if not frames:
        return pd.DataFrame()
    merged = frames[0]
    for frame in frames[1:]:
        merged = frame.combine_first(merged)
    return merged.reset_index()


def _read_session(path: Path):
    """One session's curves by epoch; None for an empty or unreadable file.

    Logs are written atomically now; a run logged by an older corroseg and killed
    mid-write can end in a torn line, which is skipped (the resumed session logs that
    epoch again).
    """
    import pandas as pd

    try:
        frame = pd.read_csv(path, on_bad_lines="skip")
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError):
        return None
    if "epoch" not in frame:
        return None
    return frame.groupby("epoch").max(numeric_only=True)


def summarize_training(out: Path, trainer: L.Trainer, throughput: Throughput, wall: float) -> dict:
    """Best validation figures, epochs, stopping reason, timing."""
    curves = read_curves(out)
    best: dict = {}
    if "val_iou" in curves and curves["val_iou"].notna().any():
        row = curves.loc[curves["val_iou"].idxmax()]
        best = {k: _number(row[k]) for k in ("val_iou", "val_iou_nonempty", "val_loss") if k in row}
        best = {"epoch": int(row["epoch"]) + 1, **best}  # counted from 1, as the bar and people count them
    epochs = int(trainer.current_epoch)
    speed = throughput.patches_per_second
    if not throughput.seconds and "train_patches_per_s" in curves:  # ddp_spawn: figures live in the workers
        epochs = int(curves["epoch"].max()) + 1
        speed = float(curves["train_patches_per_s"].mean())
    stopped = "max_epochs"
    if any(isinstance(c, EarlyStopping) and c.stopped_epoch for c in trainer.callbacks):
        stopped = "early_stopping"
    elif any(isinstance(c, CpuTimeBudget) and c.spent for c in trainer.callbacks):
        stopped = "max_cpu_time"
    elif trainer.current_epoch < trainer.max_epochs and any(type(c).__name__ == "Timer" for c in trainer.callbacks):
        stopped = "max_time"
    return {
        "best": best,
        "epochs": epochs,
        "stopped_by": stopped,
        "cut_while_improving": cut_while_improving(stopped, best.get("epoch"), epochs),
        "train_seconds": round(throughput.seconds, 2),
        "train_patches_per_s": round(speed, 2),
        "wall_seconds_this_session": round(wall, 2),
    }


def cut_while_improving(stopped_by: str, best_epoch: int | None, epochs: int) -> bool:
    """True when a clock (not patience or max_epochs) ended training with its best epoch among the last two.

    ``best_epoch`` counts from 1 (the last of ``epochs`` is ``epochs``).
    """
    return stopped_by in ("max_time", "max_cpu_time") and best_epoch is not None and best_epoch >= epochs - 1


def _number(value) -> float | int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    value = float(value)
    return int(value) if value.is_integer() and abs(value) > 1 else value


__all__ = ["fit", "read_curves", "CONFIG", "SCALER", "WEIGHTS", "METRICS", "DATA"]

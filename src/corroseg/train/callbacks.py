"""Training callbacks: gradual unfreezing of a pretrained encoder, throughput, a CPU-time budget,
the resumed config saved when training starts, the training bar."""

from __future__ import annotations

import sys
import time

import lightning as L
from lightning.pytorch.callbacks import BaseFinetuning, RichProgressBar


class GradualUnfreezing(BaseFinetuning):
    """Freeze the encoder, then unfreeze one block every ``every`` epochs, deepest first.

    The paper fine-tunes a pretrained ResNet-50 this way. Lightning's ``BaseFinetuning``
    also puts the frozen blocks' batch-norm layers in eval mode, so their running
    statistics stay those of the pretrained encoder until the block is unfrozen
    (``requires_grad=False`` alone would keep updating them). Each unfrozen block joins
    the optimiser as a new parameter group at a tenth of the learning rate.

    The model must have ``encoder.blocks()`` (deepest first), as ``corroseg`` has.
    """

    def __init__(self, every: int):
        super().__init__()
        self.every = int(every)

    def freeze_before_training(self, pl_module: L.LightningModule) -> None:
        self.freeze(pl_module.model.encoder, train_bn=False)

    def finetune_function(self, pl_module: L.LightningModule, current_epoch: int, optimizer) -> None:
        if current_epoch == 0 or current_epoch % self.every:
            return
        blocks = pl_module.model.encoder.blocks()
        index = current_epoch // self.every - 1
        if index < len(blocks):
            self.unfreeze_and_add_param_group(blocks[index], optimizer, lr=pl_module.cfg.lr * 0.1, train_bn=True)


class Throughput(L.Callback):
    """Training speed in 36x36-patch equivalents per second of training steps.

    Only the steps are timed (data loading, forward, backward, optimiser), not
    validation, so the figure compares models and settings fairly.
    """

    def __init__(self):
        self.seconds = 0.0
        self.patches = 0.0
        self._start = 0.0
        self._epoch = [0.0, 0.0]

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._epoch = [0.0, 0.0]

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        image = batch["labelled"]["image"] if "labelled" in batch else batch["image"]  # labelled patches count
        self._epoch[0] += time.perf_counter() - self._start
        self._epoch[1] += image.shape[0] * image.shape[-2] * image.shape[-1] / 36**2

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        seconds, patches = self._epoch
        self.seconds += seconds
        self.patches += patches
        if seconds > 0:
            pl_module.log("train_patches_per_s", patches / seconds)

    @property
    def patches_per_second(self) -> float:
        return self.patches / self.seconds if self.seconds else float("nan")

    def state_dict(self) -> dict:
        return {"seconds": self.seconds, "patches": self.patches}

    def load_state_dict(self, state: dict) -> None:
        self.seconds, self.patches = state["seconds"], state["patches"]


class CpuTimeBudget(L.Callback):
    """Stop training once this process has used ``seconds`` of CPU time (all its threads).

    Lightning's ``max_time`` counts wall-clock time, which other load on a shared
    machine steals; CPU time counts the work this run itself did, so runs side by side
    or beside other jobs get equal budgets. The stop is asked for after a training
    step; Lightning then validates once more, so a run always ends with a checkpoint.
    A resumed run gets a fresh budget.
    """

    def __init__(self, seconds: float):
        self.seconds = float(seconds)
        self.spent = False
        self._start = 0.0

    def on_train_start(self, trainer, pl_module) -> None:
        self._start = time.process_time()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if time.process_time() - self._start >= self.seconds:
            self.spent = True
            trainer.should_stop = True


class SaveConfigOnStart(L.Callback):
    """Write a resumed run's config (its new ``max_epochs`` and the like) once training has started.

    A resume that fails before its first step (a checkpoint Lightning cannot restore,
    a device that is not there) leaves the run's ``config.yaml`` as it was.
    """

    def __init__(self, cfg, path):
        self.cfg, self.path = cfg, path

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from corroseg.train.config import save_config

        if trainer.is_global_zero:
            save_config(self.cfg, self.path)


class TrainingBar(RichProgressBar):
    """Lightning's rich bar on stderr (stdout stays for results), counting epochs from 1 as people do."""

    def __init__(self):
        console = {"stderr": True}
        if not sys.stderr.isatty():  # a log file: one wide line per bar, not metrics wrapped at 80 columns
            console["width"] = 240
        super().__init__(leave=True, console_kwargs=console)

    def _get_train_description(self, current_epoch: int) -> str:
        description = f"Epoch {current_epoch + 1}"
        if self.trainer.max_epochs is not None and self.trainer.max_epochs > 0:
            description += f"/{self.trainer.max_epochs}"
        return f"{description:{len(self.validation_description)}}"

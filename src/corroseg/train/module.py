"""The LightningModule: model, loss and optimiser; validation reports the challenge metric."""

from __future__ import annotations

import copy
import math

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics import SumMetric

from corroseg.data.wells import cut
from corroseg.models import create
from corroseg.models.losses import create_loss
from corroseg.models.metrics import per_patch_iou
from corroseg.train.config import TrainConfig


def window_patch_iou(probability: np.ndarray, truth: np.ndarray, corrupted: np.ndarray, threshold: float):
    """Per-patch IoU of windows ``(N, H, W)`` in the challenge convention, and which truths are non-empty.

    A patch holding a corrupted pixel is predicted empty (the challenge's labels are
    empty there); ``truth`` is already in that convention.
    """
    pred, true, bad = [], [], []
    for p, t, c in zip(probability, truth, corrupted):
        pred.append(cut(p >= threshold))
        true.append(cut(t))
        bad.append(cut(c))
    pred, true, bad = np.concatenate(pred), np.concatenate(true), np.concatenate(bad)
    pred[bad.reshape(len(bad), -1).any(axis=1)] = False
    return per_patch_iou(pred, true), true.reshape(len(true), -1).any(axis=1)


def cutmix(batch: dict, low: float = 0.25, high: float = 0.75) -> dict:
    """CutMix for segmentation: each window gets a random box of another window of the batch.

    The box spans a fraction in ``[low, high]`` of the rows and of the columns; image,
    mask and learnable pixels move together, so labels stay exact. Draws from torch's
    global generator (seeded by the run's seed).
    """
    n, _, rows, cols = batch["image"].shape
    other = torch.randperm(n)
    height = int(rows * (low + (high - low) * torch.rand(()).item()))
    width = int(cols * (low + (high - low) * torch.rand(()).item()))
    top = int(torch.randint(0, rows - height + 1, ()).item())
    left = int(torch.randint(0, cols - width + 1, ()).item())
    mixed = dict(batch)
    for key in ("image", "mask", "learn"):
        value = batch[key].clone()
        value[..., top:top + height, left:left + width] = batch[key][other][..., top:top + height, left:left + width]
        mixed[key] = value
    return mixed


RAMP_EPOCHS = 3
"""The unlabelled loss's weight grows from 0 (first epoch: the teacher knows nothing yet) to full over these."""
STRONG_GAIN = (0.8, 1.25)
STRONG_NOISE = 0.2
"""The model's view of an unlabelled window: a random gain, then Gaussian noise (scaled units, about 0.004 in)."""


def pseudo_label_loss(student: torch.nn.Module, teacher: torch.nn.Module, image: torch.Tensor,
                      confidence: float) -> torch.Tensor:
    """BCE of the student, shown a noisier window, against the teacher's sure answers on the clean one.

    Pixels where the teacher's probability lies between ``1 - confidence`` and
    ``confidence`` teach nothing.
    """
    with torch.no_grad():
        probability = torch.sigmoid(teacher(image).float())
        sure = (probability >= confidence) | (probability <= 1 - confidence)
        gain = torch.empty(len(image), 1, 1, 1, device=image.device).uniform_(*STRONG_GAIN)
        strong = image * gain + STRONG_NOISE * torch.randn_like(image)
    if not sure.any():
        return image.new_zeros(())
    logits = student(strong).float()
    return F.binary_cross_entropy_with_logits(logits[sure], (probability[sure] >= 0.5).float())


class SegModule(L.LightningModule):
    """Holds the model (built from the registry), the loss and the optimiser.

    Logged: ``train_loss``; ``val_loss``, ``val_iou`` (the challenge metric over the
    validation wells' patches) and ``val_iou_nonempty`` (over patches whose truth is
    not empty).
    """

    def __init__(self, cfg: dict):
        super().__init__()
        self.save_hyperparameters({"cfg": cfg})
        self.cfg = TrainConfig(**cfg)
        self.model = create(self.cfg.model, **self.cfg.model_options)
        self.loss = create_loss(self.cfg.loss, **self.cfg.loss_options)
        # sums and counts, always updated and always computed on every rank: a metric
        # computed on some ranks only would leave the others waiting in DDP
        self.val_totals = torch.nn.ModuleList(SumMetric() for _ in range(4))  # see validation_step
        if self.cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        # a mean teacher for unlabelled windows: the model's exponential moving average, never trained itself
        self.teacher = copy.deepcopy(self.model).requires_grad_(False) if self.cfg.unlabelled else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x)

    def training_step(self, batch: dict, batch_index: int) -> torch.Tensor:
        unlabelled = None
        if "labelled" in batch:  # with unlabelled wells: one batch of each
            batch, unlabelled = batch["labelled"], batch["unlabelled"]
        if self.cfg.cutmix and len(batch["image"]) > 1 and torch.rand(()) < self.cfg.cutmix:
            batch = cutmix(batch)
        logits = self(batch["image"])
        loss = self.loss(logits.float(), batch["mask"], batch["learn"])
        if unlabelled is not None and self.teacher is not None:
            self.teacher.train()  # batch statistics, as the model sees them
            extra = pseudo_label_loss(self.model, self.teacher, unlabelled["image"], self.cfg.pseudo_confidence)
            ramp = min(1.0, self.current_epoch / RAMP_EPOCHS)
            self.log("unlabelled_loss", extra, on_step=False, on_epoch=True, batch_size=len(unlabelled["image"]))
            loss = loss + self.cfg.unlabelled_weight * ramp * extra
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(logits))
        return loss

    def on_train_batch_end(self, outputs, batch, batch_index: int) -> None:
        if self.teacher is None:
            return
        decay = self.cfg.teacher_decay
        with torch.no_grad():
            for teacher, student in zip(self.teacher.parameters(), self.model.parameters()):
                teacher.mul_(decay).add_(student.detach(), alpha=1 - decay)

    def validation_step(self, batch: dict, batch_index: int) -> None:
        logits = self(batch["image"]).float()
        loss = self.loss(logits, batch["mask"], batch["learn"])
        self.log("val_loss", loss, on_epoch=True, sync_dist=True, batch_size=len(logits))
        probability = torch.sigmoid(logits)[:, 0].cpu().numpy()
        iou, nonempty = window_patch_iou(
            probability, batch["score_truth"][:, 0].cpu().numpy(), batch["corrupted"][:, 0].cpu().numpy(),
            self.cfg.threshold,
        )
        # padding windows (DDP: every rank gets one) weigh 0
        per_window = len(iou) // len(logits)
        weight = np.repeat(batch["weight"].cpu().numpy(), per_window)
        # sum of IoU and count, over all patches and over patches whose truth is not empty
        totals = [(iou * weight).sum(), weight.sum(), (iou * weight * nonempty).sum(), (weight * nonempty).sum()]
        for metric, total in zip(self.val_totals, totals):
            metric.update(torch.tensor(float(total), dtype=torch.float64))

    def on_validation_epoch_end(self) -> None:
        iou_sum, count, nonempty_sum, nonempty_count = (float(m.compute()) for m in self.val_totals)
        for metric in self.val_totals:
            metric.reset()
        if count > 0:
            self.log("val_iou", iou_sum / count, prog_bar=True)
        if nonempty_count > 0:
            self.log("val_iou_nonempty", nonempty_sum / nonempty_count, prog_bar=True)

    def configure_optimizers(self):
        cfg = self.cfg
        params = [p for p in self.parameters() if p.requires_grad] or list(self.parameters())
        kind = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        optimizer = kind(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        if cfg.scheduler == "none":
            return optimizer
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self.cosine_factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

    def cosine_factor(self, epoch: int) -> float:
        """Cosine decay from 1 to 0.02 over ``max_epochs``, in closed form of the epoch.

        A closed form (not torch's recursive CosineAnnealingLR) follows ``max_epochs``
        of the current config, so resuming with more epochs stretches the schedule.
        """
        progress = min(epoch / max(self.cfg.max_epochs, 1), 1.0)
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress))

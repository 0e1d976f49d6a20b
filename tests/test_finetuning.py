"""The paper preset runs end to end, and gradual unfreezing keeps frozen batch-norm statistics fixed."""

import pytest

import lightning as L
import torch

from corroseg.train.callbacks import GradualUnfreezing
from corroseg.train.config import load_config
from corroseg.train.fit import fit


class Snapshots(L.Callback):
    """Copies of the encoder's stem BN running mean and layer4's first conv at each epoch end."""

    def __init__(self):
        self.stem_bn, self.layer4, self.trainable = [], [], []

    def on_train_epoch_end(self, trainer, pl_module):
        encoder = pl_module.model.encoder
        self.stem_bn.append(encoder.bn1.running_mean.clone())
        self.layer4.append(encoder.layer4[0].conv1.weight.detach().clone())
        self.trainable.append(pl_module.model.encoder_blocks_trainable())


@pytest.mark.slow
def test_gradual_unfreezing_freezes_bn_statistics_and_unfreezes_deepest_first(tmp_path, dataset, monkeypatch):
    snapshots = Snapshots()
    original = GradualUnfreezing.freeze_before_training

    def freeze_and_watch(self, pl_module):
        original(self, pl_module)
        pl_module.initial_stem_bn = pl_module.model.encoder.bn1.running_mean.clone()
        pl_module.initial_layer4 = pl_module.model.encoder.layer4[0].conv1.weight.detach().clone()
        pl_module.trainer.callbacks.append(snapshots)

    monkeypatch.setattr(GradualUnfreezing, "freeze_before_training", freeze_and_watch)
    cfg = load_config("paper", ["max_epochs=2", "batch_size=16", "unfreeze_every=1", "val_wells=[2]",
                                "expansion=[none]", "exclude_wells=[]", "patience=0"])
    run = fit(dataset, tmp_path / "run", cfg, progress=False)
    assert (run / "model.safetensors").exists()
    # epoch 0: the whole encoder frozen, its BN statistics untouched, its weights untouched
    assert snapshots.trainable[0] == [False] * 5
    assert torch.equal(snapshots.stem_bn[0], torch.zeros_like(snapshots.stem_bn[0]))
    # epoch 1: layer4 (the deepest block) unfrozen and trained; the stem still frozen
    assert snapshots.trainable[1] == [True, False, False, False, False]
    assert not torch.equal(snapshots.layer4[1], snapshots.layer4[0])
    assert torch.equal(snapshots.stem_bn[1], snapshots.stem_bn[0])

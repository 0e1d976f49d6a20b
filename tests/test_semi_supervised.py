"""Learning from unlabelled real wells: a mean teacher's sure answers, never wells 9 and 10."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import TINY, write_dataset

from corroseg.errors import CorrosegInputError, CorrosegUserError
from corroseg.train.config import load_config
from corroseg.train.datamodule import UNLABELLED_TEST_WELL_OFFSET, unlabelled_wells
from corroseg.train.module import pseudo_label_loss


@pytest.fixture
def real_like(tmp_path):
    """A challenge-format folder without labels: train wells 1, 9, 10 and test well 2."""
    write_dataset(tmp_path, {1: (6, 36), 9: (4, 72), 10: (4, 36)}, labels=False)
    write_dataset(tmp_path, {2: (3, 36)}, labels=False, split="test", seed=10)
    return tmp_path


def test_unlabelled_wells_leave_out_the_false_alarm_wells_and_carry_no_label(real_like):
    wells = unlabelled_wells(real_like)
    assert [w.well for w in wells] == [1, UNLABELLED_TEST_WELL_OFFSET + 2]
    assert all(not w.learn.any() and not w.mask.any() for w in wells)
    with pytest.raises(CorrosegInputError, match="unlabelled"):
        unlabelled_wells(real_like / "nowhere")


def test_pseudo_labels_come_only_from_the_teachers_sure_pixels():
    class Fixed(torch.nn.Module):
        def __init__(self, logits):
            super().__init__()
            self.logits = logits

        def forward(self, x):
            return self.logits.expand(len(x), -1, -1, -1)

    image = torch.zeros(2, 1, 4, 4)
    unsure = Fixed(torch.zeros(1, 1, 4, 4))  # p = 0.5 everywhere: nothing to learn
    assert pseudo_label_loss(unsure, unsure, image, 0.9).item() == 0.0
    teacher = Fixed(torch.full((1, 1, 4, 4), 5.0))  # sure: corrosion
    agreeing, disagreeing = Fixed(torch.full((1, 1, 4, 4), 5.0)), Fixed(torch.full((1, 1, 4, 4), -5.0))
    assert pseudo_label_loss(agreeing, teacher, image, 0.9) < 0.01 < pseudo_label_loss(disagreeing, teacher, image, 0.9)


def test_training_with_unlabelled_wells_moves_the_teacher_and_records_them(synth_data, real_like, tmp_path):
    from corroseg.workflows.train import train

    overrides = [o for o in TINY if not o.startswith("max_epochs")]
    cfg = load_config(None, [*overrides, "max_epochs=2", f"unlabelled={real_like}", "teacher_decay=0.5"])
    run = train(synth_data, tmp_path / "run", cfg, progress=False)
    facts = json.loads((run / "data.json").read_text())
    assert facts["unlabelled"]["wells"] == [1, UNLABELLED_TEST_WELL_OFFSET + 2]
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    teacher = {k.removeprefix("teacher."): v for k, v in state.items() if k.startswith("teacher.")}
    student = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    assert teacher.keys() == student.keys()
    weights = [k for k in student if k.endswith("weight") and student[k].dtype.is_floating_point]
    assert not all(torch.equal(teacher[k], student[k]) for k in weights)  # an average, not a copy
    from safetensors.torch import load_file
    assert set(load_file(run / "model.safetensors")) == set(student)  # the teacher is not shipped


def test_bad_semi_supervised_settings_are_refused():
    for bad in ("teacher_decay=1.0", "pseudo_confidence=0.4", "unlabelled_weight=-1"):
        with pytest.raises(CorrosegUserError):
            load_config(None, [bad])

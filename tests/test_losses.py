import math

import pytest
import torch
import torch.nn.functional as F

from corroseg.models.losses import (
    LOSSES,
    BCELoss,
    DiceLoss,
    FocalLoss,
    LovaszHingeLoss,
    SoftIoULoss,
    WeightedSum,
    create_loss,
)

ALL = [BCELoss(), FocalLoss(), FocalLoss(alpha=None, gamma=0.5), SoftIoULoss(), SoftIoULoss(per_image=True),
       DiceLoss(), LovaszHingeLoss(), LovaszHingeLoss(per_image=False), create_loss("bce + 0.5*iou")]


@pytest.mark.parametrize("loss", ALL, ids=lambda l: repr(l).split("(")[0] + str(getattr(l, "per_image", "")))
@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_gradients_finite_on_all_empty_and_all_full(loss, fill):
    for scale in (1.0, 50.0):  # also saturated logits
        logits = (scale * torch.randn(3, 1, 36, 36)).requires_grad_()
        target = torch.full((3, 1, 36, 36), fill)
        value = loss(logits, target)
        value.backward()
        assert torch.isfinite(value) and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("loss", ALL, ids=lambda l: repr(l).split("(")[0])
def test_invalid_pixels_are_ignored(loss):
    torch.manual_seed(0)
    logits = torch.randn(2, 1, 8, 8, requires_grad=True)
    target = (torch.rand(2, 1, 8, 8) > 0.7).float()
    valid = torch.ones(2, 1, 8, 8, dtype=torch.bool)
    valid[:, :, :2] = False
    changed_logits = logits.detach().clone()
    changed_logits[:, :, :2] = 30.0
    changed_target = target.clone()
    changed_target[:, :, :2] = 1 - changed_target[:, :, :2]
    a = loss(logits, target, valid)
    b = loss(changed_logits, changed_target, valid)
    torch.testing.assert_close(a, b)
    a.backward()
    assert (logits.grad[:, :, :2] == 0).all()


def test_bce_matches_torch_and_hand_value():
    logits = torch.tensor([[0.0, 2.0], [-1.0, 3.0]])
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    expected = F.binary_cross_entropy_with_logits(logits, target)
    torch.testing.assert_close(BCELoss()(logits, target), expected)
    assert BCELoss()(torch.zeros(1, 4), torch.ones(1, 4)).item() == pytest.approx(math.log(2))


def test_focal_hand_computed():
    # one positive pixel with p = 0.8: -alpha (1 - 0.8)^2 log 0.8
    logit = torch.tensor([[math.log(0.8 / 0.2)]])
    value = FocalLoss(alpha=0.25, gamma=2.0)(logit, torch.ones(1, 1))
    assert value.item() == pytest.approx(-0.25 * 0.2**2 * math.log(0.8), rel=1e-5)
    # one negative pixel with p = 0.8: -(1 - alpha) 0.8^2 log 0.2
    value = FocalLoss(alpha=0.25, gamma=2.0)(logit, torch.zeros(1, 1))
    assert value.item() == pytest.approx(-0.75 * 0.8**2 * math.log(0.2), rel=1e-5)
    # gamma 0 and no alpha is BCE
    x, y = torch.randn(4, 9), (torch.rand(4, 9) > 0.5).float()
    torch.testing.assert_close(FocalLoss(alpha=None, gamma=0.0)(x, y), BCELoss()(x, y))
    # stable on extreme logits
    assert torch.isfinite(FocalLoss()(torch.tensor([[1e4, -1e4]]), torch.tensor([[0.0, 1.0]])))


def test_focal_rejects_bad_parameters():
    with pytest.raises(ValueError):
        FocalLoss(alpha=1.5)
    with pytest.raises(ValueError):
        FocalLoss(gamma=-1)


def test_soft_iou_hand_computed_batch_and_per_image():
    big = 40.0  # sigmoid(+-40) is 0/1 to float precision
    logits = torch.tensor([[[big, big, -big, -big]], [[big, -big, -big, -big]]])
    target = torch.tensor([[[1.0, 0.0, 0.0, 0.0]], [[1.0, 1.0, 0.0, 0.0]]])
    # image 1: I=1, U=2; image 2: I=1, U=2; pooled: I=2, U=4
    assert SoftIoULoss(smooth=0.0)(logits, target).item() == pytest.approx(0.5, abs=1e-6)
    assert SoftIoULoss(smooth=1.0)(logits, target).item() == pytest.approx(1 - 3 / 5, abs=1e-6)
    assert SoftIoULoss(smooth=1.0, per_image=True)(logits, target).item() == pytest.approx(1 - 2 / 3, abs=1e-6)
    # both empty: smoothing makes it 0, the challenge's IoU = 1
    assert SoftIoULoss()(torch.full((1, 4), -big), torch.zeros(1, 4)).item() == pytest.approx(0.0, abs=1e-6)


def test_dice_hand_computed():
    big = 40.0
    logits = torch.tensor([[big, big, -big, -big]])
    target = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    assert DiceLoss(smooth=0.0)(logits, target).item() == pytest.approx(1 - 2 / 3, abs=1e-6)


def test_lovasz_hand_computed():
    # perfect, margin >= 1 everywhere: zero loss
    logits = torch.tensor([[2.0, -3.0, 1.5, -1.0]])
    target = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    assert LovaszHingeLoss()(logits, target).item() == pytest.approx(0.0)
    # all logits 0: every error is 1; the Lovasz extension of the Jaccard loss at
    # a constant error vector e equals e * (Jaccard loss when all are wrong) = 1
    assert LovaszHingeLoss()(torch.zeros(1, 4), target).item() == pytest.approx(1.0)
    # one positive pixel missed by margin 2 (error 3), others right: loss = 3 * (1 - 0/1)
    logits = torch.tensor([[-2.0, -3.0, -3.0, -3.0]])
    target = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    assert LovaszHingeLoss()(logits, target).item() == pytest.approx(3.0)


def test_create_loss_specs():
    assert isinstance(create_loss("bce"), BCELoss)
    combo = create_loss("bce + 0.5*iou", smooth=2.0)
    assert isinstance(combo, WeightedSum) and combo.weights == [1.0, 0.5]
    assert combo.losses[1].smooth == 2.0
    x, y = torch.randn(2, 1, 6, 6), (torch.rand(2, 1, 6, 6) > 0.5).float()
    expected = BCELoss()(x, y) + 0.5 * SoftIoULoss(smooth=2.0)(x, y)
    torch.testing.assert_close(combo(x, y), expected)
    assert set(LOSSES) == {"bce", "focal", "iou", "dice", "lovasz"}
    with pytest.raises(ValueError, match="bad loss term"):
        create_loss("bce + mse")


def test_create_loss_is_strict_about_options_and_values():
    from corroseg.errors import CorrosegUserError

    # an option goes to every term that accepts it
    combo = create_loss("iou + dice", smooth=0.5, per_image=True)
    assert [loss.smooth for loss in combo.losses] == [0.5, 0.5]
    assert all(loss.per_image for loss in combo.losses)
    # and is an error when no term accepts it
    with pytest.raises(CorrosegUserError) as info:
        create_loss("bce + 0.5*iou", gama=2.0)
    message = str(info.value)
    assert "'gama'" in message and "bce: pos_weight" in message and "iou: smooth, per_image" in message
    with pytest.raises(CorrosegUserError, match="'alpha'"):
        create_loss("dice", alpha=0.5)
    with pytest.raises(CorrosegUserError, match="did you mean 'focal'"):
        create_loss("bce + focl")
    for spec, options, words in [
        ("focal", {"alpha": 1.5}, "alpha must be a number in"),
        ("focal", {"gamma": -1}, "gamma must be a number in"),
        ("focal", {"gamma": "2"}, "gamma must be a number in"),
        ("iou", {"smooth": -1.0}, "smooth must be a number in"),
        ("lovasz", {"per_image": "yes"}, "per_image must be true or false"),
        ("bce", {"pos_weight": 0}, "pos_weight must be a number in"),
    ]:
        with pytest.raises(CorrosegUserError, match=words):
            create_loss(spec, **options)

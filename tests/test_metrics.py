import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, jaccard_score, precision_score, recall_score
from torchmetrics.classification import BinaryF1Score, BinaryJaccardIndex

from corroseg.models import metrics


def _random(seed, n=20):
    rng = np.random.default_rng(seed)
    truth = rng.random((n, 36, 36)) < rng.random((n, 1, 1)) * 0.2
    pred = rng.random((n, 36, 36)) < 0.1
    truth[:3] = False  # empty truths, some with empty predictions
    pred[:2] = False
    return pred, truth


@pytest.mark.parametrize("seed", range(5))
def test_challenge_iou_matches_sklearn_per_sample(seed):
    pred, truth = _random(seed)
    expected = np.mean([jaccard_score(t.ravel(), p.ravel(), zero_division=1.0) for p, t in zip(pred, truth)])
    assert metrics.challenge_iou(pred, truth) == pytest.approx(expected)


@pytest.mark.parametrize("seed", range(5))
def test_pixel_metrics_match_torchmetrics_and_sklearn(seed):
    pred, truth = _random(seed)
    p, t = torch.from_numpy(pred.astype(np.int64)), torch.from_numpy(truth.astype(np.int64))
    assert metrics.global_iou(pred, truth) == pytest.approx(BinaryJaccardIndex()(p, t).item(), rel=1e-6)
    assert metrics.f1(pred, truth) == pytest.approx(BinaryF1Score()(p, t).item(), rel=1e-6)
    assert metrics.precision(pred, truth) == pytest.approx(precision_score(truth.ravel(), pred.ravel()))
    assert metrics.recall(pred, truth) == pytest.approx(recall_score(truth.ravel(), pred.ravel()))
    assert metrics.f1(pred, truth) == pytest.approx(f1_score(truth.ravel(), pred.ravel()))


def test_hand_computed_edge_cases():
    empty = np.zeros((1, 36, 36), bool)
    full = np.ones((1, 36, 36), bool)
    assert metrics.challenge_iou(empty, empty) == 1.0
    assert metrics.challenge_iou(full, empty) == 0.0
    assert metrics.challenge_iou(empty, full) == 0.0
    assert metrics.challenge_iou(full, full) == 1.0
    half = empty.copy()
    half[0, :18] = True
    assert metrics.challenge_iou(half, full) == 0.5
    # two patches: one perfect empty, one with IoU 1/3
    pred = np.zeros((2, 36, 36), bool)
    truth = np.zeros((2, 36, 36), bool)
    pred[1, 0, :2] = True
    truth[1, 0, 1:3] = True
    assert metrics.challenge_iou(pred, truth) == pytest.approx((1 + 1 / 3) / 2)
    assert metrics.global_iou(pred, truth) == pytest.approx(1 / 3)
    assert metrics.confusion(pred, truth) == {"tp": 1, "fp": 1, "fn": 1, "tn": 2 * 1296 - 3}
    assert metrics.global_iou(empty, empty) == 1.0
    assert metrics.precision(empty, full) == 0.0


def test_validity_mask_excludes_pixels():
    pred = np.zeros((1, 36, 36), bool)
    truth = np.zeros((1, 36, 36), bool)
    pred[0, 0] = True  # a false alarm on a corrupted row
    valid = np.ones((1, 36, 36), bool)
    valid[0, 0] = False
    assert metrics.challenge_iou(pred, truth) == 0.0
    assert metrics.challenge_iou(pred, truth, valid) == 1.0
    assert metrics.false_alarm_rate(pred, truth, valid) == 0.0


def test_false_alarm_rate():
    pred = np.zeros((2, 36, 36), bool)
    pred[0, :9] = True  # a quarter of one patch
    assert metrics.false_alarm_rate(pred) == pytest.approx(0.125)
    truth = np.zeros_like(pred)
    truth[0, :9] = True
    assert metrics.false_alarm_rate(pred, truth) == 0.0


def test_per_well_breakdown():
    pred, truth = _random(0, n=12)
    wells = np.repeat([3, 9, 10], 4)
    table = metrics.per_well(pred, truth, wells)
    assert set(table) == {3, 9, 10}
    assert table[9]["patches"] == 4
    assert table[3]["challenge_iou"] == pytest.approx(metrics.challenge_iou(pred[:4], truth[:4]))
    overall = metrics.summary(pred, truth)
    assert overall["challenge_iou"] == pytest.approx(np.mean([table[w]["challenge_iou"] for w in (3, 9, 10)]))

"""Random-walker post-processing on a tiny synthetic well."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import ndimage as ndi

from corroseg.errors import CorrosegUserError
from corroseg.infer.postprocess import RandomWalker, markers, random_walker_mask

ROWS, WIDTH = 240, 36


def tiny_well(column: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smooth background with a 2-px groove of lower values; a blurry probability of it; the truth.

    The probability is confident (>= 0.9) only on the groove's core and uncertain
    (0.2-0.8) on the columns beside it, so thresholding it at 0.5 makes the groove 4 px wide.
    """
    rng = np.random.default_rng(seed)
    depth = np.arange(ROWS)[:, None]
    azimuth = np.arange(WIDTH)[None, :] * 2 * np.pi / WIDTH
    image = 0.01 * np.sin(2 * azimuth + depth / 40) + 0.001 * rng.standard_normal((ROWS, WIDTH))
    truth = np.zeros((ROWS, WIDTH), np.uint8)
    truth[40:200, [column % WIDTH, (column + 1) % WIDTH]] = 1
    image = image - 0.05 * truth
    probability = np.clip(2.6 * ndi.gaussian_filter(truth.astype(float), (1, 2), mode="wrap"), 0, 1)
    return image.astype(np.float32), probability.astype(np.float32), truth


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_walker_recovers_the_groove_better_than_the_threshold():
    image, probability, truth = tiny_well()
    assert (probability[100, 9:13] > 0.2).all() and (probability[100, 9:13] < 0.9).sum() == 2
    mask = random_walker_mask(image, probability)
    assert mask.dtype == np.uint8 and mask.shape == image.shape and set(np.unique(mask)) <= {0, 1}
    thresholded = (probability >= 0.5).astype(np.uint8)
    assert iou(mask, truth) >= 0.95 > iou(thresholded, truth) + 0.3


def test_no_data_pixels_are_zero():
    image, probability, truth = tiny_well()
    probability[100:110] = np.nan  # a band across the whole circumference
    probability[150:160, 9:13] = np.nan  # and a hole in the groove
    mask = random_walker_mask(image, probability)
    assert mask[~np.isfinite(probability)].sum() == 0
    valid = np.isfinite(probability)
    assert iou(mask & valid, truth & valid) >= 0.95


def test_regions_walled_in_by_no_data_are_decided_alone():
    image, probability, truth = tiny_well()
    probability[100:110] = np.nan
    probability[:100] = 0.6  # no marker above the band: no corrosion grows there
    mask = random_walker_mask(image, probability)
    assert not mask[:100].any() and mask[110:].sum() == truth[110:].sum()
    probability[60:70] = np.nan
    probability[:60] = np.where(truth[:60] == 1, 0.95, 0.6)  # corrosion but no background marker
    mask = random_walker_mask(image, probability, threshold=0.5)
    assert mask[:60].all()
    assert (random_walker_mask(image, probability, threshold=0.7)[:60] == truth[:60]).all()


def test_scattered_no_data_pixels():
    image, probability, truth = tiny_well()
    holes = np.random.default_rng(1).random(image.shape) < 0.45  # many tiny regions, some single pixels
    probability[holes] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # skimage stumbles on isolated unknown pixels; none reach it
        mask = random_walker_mask(image, probability)
    assert not mask[holes].any()
    thresholded = (np.nan_to_num(probability) >= 0.5).astype(np.uint8)
    assert iou(mask, truth & ~holes) >= iou(thresholded, truth & ~holes) + 0.1


def test_windows_agree_with_one_window_when_the_margin_is_large():
    image, probability, _ = tiny_well()
    whole = random_walker_mask(image, probability, block_rows=10**6)
    windowed = random_walker_mask(image, probability, block_rows=50, margin=60)
    assert (whole != windowed).mean() <= 0.002
    short_last = random_walker_mask(image, probability, block_rows=70, margin=60)  # 240 = 3 * 70 + 30
    assert (whole != short_last).mean() <= 0.002


def test_no_corrosion_marker_gives_an_empty_mask():
    image, probability, _ = tiny_well()
    assert not random_walker_mask(image, np.minimum(probability, 0.85)).any()


def test_no_background_marker_falls_back_to_the_threshold():
    image, probability, _ = tiny_well()
    probability = np.maximum(probability, 0.3)
    mask = random_walker_mask(image, probability, threshold=0.5)
    np.testing.assert_array_equal(mask, probability >= 0.5)


def test_all_pixels_confident_gives_the_markers():
    image, probability, truth = tiny_well()
    confident = np.where(truth == 1, 0.95, 0.05).astype(np.float32)
    confident[0, 0] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # skimage warns when nothing is left to walk; we skip that
        mask = random_walker_mask(image, confident)
    np.testing.assert_array_equal(mask, np.where(np.isfinite(confident), truth, 0))


def test_groove_across_the_azimuth_seam():
    image, _, truth = tiny_well(column=WIDTH - 1)  # columns 35 and 0
    probability = np.full((ROWS, WIDTH), 0.05, np.float32)
    probability[truth == 1] = 0.6
    probability[40:200, 0] = 0.95  # only column 0 is confident
    probability[40:200, WIDTH - 1] = 0.6  # column 35 reaches column 0 only across the seam
    probability[40:200, WIDTH - 2] = 0.6  # ... its other side is uncertain too, not groove
    probability[:, 1] = 0.05
    mask = random_walker_mask(image, probability)
    assert mask[40:200, WIDTH - 1].mean() >= 0.95 and mask[40:200, 0].all()
    assert mask[40:200, WIDTH - 2].mean() <= 0.05
    unwrapped = random_walker_mask(image, probability, wrap=0)
    assert unwrapped[40:200, WIDTH - 1].mean() <= 0.05  # no corrosion marker on its side


def test_markers():
    labels = markers(np.array([[0.05, 0.1, 0.5, 0.9, 0.95, np.nan]], np.float32), 0.1, 0.9)
    np.testing.assert_array_equal(labels, [[1, 1, 0, 2, 2, -1]])


def test_random_walker_is_a_postprocess():
    image, probability, truth = tiny_well()
    walker = RandomWalker(block_rows=100, margin=40)
    mask = walker(image, probability, 0.5)
    assert iou(mask, truth) >= 0.95
    with pytest.raises(AttributeError):
        walker.beta = 1.0  # frozen


@pytest.mark.parametrize("options", [
    {"low": 0.0}, {"high": 1.0}, {"low": 0.6, "high": 0.4}, {"low": 0.5, "high": 0.5}, {"beta": 0},
    {"block_rows": 0}, {"block_rows": 2.5}, {"margin": -1}, {"mode": "cg_mg"}, {"wrap": -1},
])
def test_argument_errors(options):
    image, probability, _ = tiny_well()
    with pytest.raises(CorrosegUserError, match="random walker"):
        random_walker_mask(image, probability, **options)


def test_input_errors():
    image, probability, _ = tiny_well()
    with pytest.raises(CorrosegUserError, match="same"):
        random_walker_mask(image[:10], probability)
    image[3, 3] = np.nan
    with pytest.raises(CorrosegUserError, match="finite"):
        random_walker_mask(image, probability)
    with pytest.raises(CorrosegUserError, match="low < high"):
        RandomWalker(low=0.9, high=0.1)


def test_segment_well_uses_the_walker_on_the_filled_image():
    from corroseg.data.corruption import CorruptionPolicy
    from corroseg.infer.bundle import WellPredictor

    image, probability, truth = tiny_well()
    image[5, 5] = -999.25  # a placeholder: filled before walking, no data in the probability
    probability[5, 5] = np.nan

    class Fixed(WellPredictor):
        threshold, policy = 0.5, CorruptionPolicy()

        def predict_well(self, image: np.ndarray) -> np.ndarray:
            return probability

    predictor = Fixed()
    assert iou(predictor.segment_well(image), truth) == iou((probability >= 0.5).astype(np.uint8), truth)
    predictor.postprocess = RandomWalker()
    assert iou(predictor.segment_well(image), truth) >= 0.95

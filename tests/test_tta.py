"""Test-time augmentation: exact inverses, invariance for equivariant predictors, averaging."""

import numpy as np
import pytest

from corroseg.infer.bundle import Predictor
from corroseg.infer.tta import TRANSFORMS, TTAPredictor


@pytest.mark.parametrize("name", list(TRANSFORMS))
@pytest.mark.parametrize("width", [36, 72])
def test_every_transform_is_inverted_exactly(name, width):
    batch = np.random.default_rng(0).standard_normal((3, 1, 144, width)).astype(np.float32)
    forward, inverse = TRANSFORMS[name]
    assert np.array_equal(inverse(forward(batch)), batch)
    if name != "identity":
        assert not np.array_equal(forward(batch), batch)


def test_a_pixelwise_predictor_is_unchanged_by_tta():
    batch = np.random.default_rng(1).standard_normal((2, 1, 72, 36)).astype(np.float32)
    pixelwise = lambda x: 3.0 * x - 0.5  # noqa: E731  (equivariant to every transform)
    np.testing.assert_allclose(TTAPredictor(pixelwise)(batch), pixelwise(batch), atol=1e-4)


def test_tta_averages_probabilities_of_the_transformed_views():
    batch = np.zeros((1, 1, 4, 4), np.float32)
    # a predictor that sees only its top-left corner as corrosion: logit 10 there, -10 elsewhere
    def corner(x):
        out = np.full(x.shape, -10.0, np.float32)
        out[..., 0, 0] = 10.0
        return out

    probability = 1 / (1 + np.exp(-TTAPredictor(corner, ["identity", "flip_depth"], mean="probability")(batch)))
    # identity marks (0, 0); the depth flip's view, flipped back, marks (3, 0): each half the votes
    assert probability[0, 0, 0, 0] == pytest.approx(0.5, abs=1e-3)
    assert probability[0, 0, 3, 0] == pytest.approx(0.5, abs=1e-3)
    assert probability[0, 0, 1, 1] < 1e-3


def test_tta_averages_logits_by_default_or_probabilities():
    batch = np.zeros((1, 1, 4, 4), np.float32)

    def corner(x):  # logit 6 at the top-left corner, -2 elsewhere
        out = np.full(x.shape, -2.0, np.float32)
        out[..., 0, 0] = 6.0
        return out

    logits = TTAPredictor(corner, ["identity", "flip_depth"])(batch)  # the default: the mean of the logits
    assert logits[0, 0, 0, 0] == pytest.approx(2.0) and logits[0, 0, 1, 1] == pytest.approx(-2.0)
    by_probability = TTAPredictor(corner, ["identity", "flip_depth"], mean="probability")(batch)
    assert by_probability[0, 0, 0, 0] == pytest.approx(np.log(0.5 * (1 / (1 + np.exp(-6)) + 1 / (1 + np.exp(2))) /
                                                             (1 - 0.5 * (1 / (1 + np.exp(-6)) + 1 / (1 + np.exp(2))))),
                                                      abs=1e-4)
    with pytest.raises(ValueError, match="TTA mean"):
        TTAPredictor(corner, mean="median")


def test_unknown_transform_is_rejected():
    with pytest.raises(ValueError, match="unknown transforms"):
        TTAPredictor(lambda x: x, ["mirror"])


def test_tta_is_on_by_default():
    from corroseg.train.config import TrainConfig, load_config

    assert TrainConfig().tta and load_config("default").tta and load_config("paper").tta


def test_from_run_wraps_the_model_and_predicts_the_same_shape(tiny_run):
    plain = Predictor.from_run(tiny_run)  # TINY turns it off
    tta = Predictor.from_run(tiny_run, tta=True)
    assert isinstance(tta.model, TTAPredictor) and not isinstance(plain.model, TTAPredictor)
    assert "roll" in tta.model.transforms  # whole-circumference windows: the roll is exact
    image = np.random.default_rng(2).normal(0, 0.01, (288, 72)).astype(np.float32)
    a, b = plain.predict_well(image), tta.predict_well(image)
    assert a.shape == b.shape == image.shape and np.isfinite(b).all()
    assert not np.allclose(a, b)  # an untrained model is not equivariant: TTA changes its answer

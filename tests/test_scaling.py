import numpy as np
import pytest
from sklearn.preprocessing import RobustScaler

from corroseg.data.scaling import PatchScaler
from corroseg.errors import CorrosegInputError


def _patches(n=40, seed=0):
    rng = np.random.default_rng(seed)
    patches = (0.02 * rng.standard_normal((n, 36, 36)) + 0.01 * rng.random((1, 36, 36))).astype(np.float32)
    patches[0, 0, :] = -999.25
    return patches


@pytest.mark.parametrize("mode", ["global", "per_pixel", "per_patch"])
def test_json_round_trip_transforms_identically(mode, tmp_path):
    train, test = _patches(), _patches(seed=1)
    scaler = PatchScaler(mode).fit(train)
    reloaded = PatchScaler.load(scaler.save(tmp_path / "scaler.json"))
    np.testing.assert_array_equal(reloaded.transform(test), scaler.transform(test))
    assert (tmp_path / "scaler.json").read_text().startswith("{")


def test_per_pixel_matches_sklearn_on_flattened_matrix():
    train = _patches()[1:]  # no placeholders: plain sklearn applies
    ours = PatchScaler("per_pixel").fit(train)
    ref = RobustScaler().fit(train.reshape(len(train), -1))
    np.testing.assert_allclose(ours.scaler_.center_, ref.center_)
    np.testing.assert_allclose(ours.scaler_.scale_, ref.scale_)
    assert ours.scaler_.center_.shape == (1296,)


def test_placeholders_do_not_move_statistics_and_stay_marked():
    train = _patches()
    clean = train.copy()
    clean[0, 0, :] = np.nan
    a = PatchScaler("global").fit(train)
    ref = RobustScaler().fit(clean.reshape(-1, 1))  # sklearn ignores NaN
    np.testing.assert_allclose(a.scaler_.center_, ref.center_)
    out = a.transform(train)
    assert np.isnan(out[0, 0]).all() and np.isfinite(out[1:]).all()


def test_global_is_one_median_and_iqr():
    train = _patches()[1:]
    out = PatchScaler("global").fit_transform(train)
    assert abs(np.median(out)) < 1e-6
    q1, q3 = np.percentile(out, [25, 75])
    assert q3 - q1 == pytest.approx(1.0, abs=1e-5)


def test_per_patch_uses_each_patch_only():
    patches = _patches()[1:]
    out = PatchScaler("per_patch").fit(patches[:2]).transform(patches)
    for scaled in out:
        assert abs(np.median(scaled)) < 1e-6
    alone = PatchScaler("per_patch").transform(patches[5:6])
    np.testing.assert_allclose(alone[0], out[5], atol=1e-6)


def test_fitted_on_train_only_transform_does_not_refit():
    scaler = PatchScaler("per_pixel").fit(_patches())
    center = scaler.scaler_.center_.copy()
    scaler.transform(_patches(seed=5) + 10)
    np.testing.assert_array_equal(scaler.scaler_.center_, center)


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        PatchScaler("minmax")
    with pytest.raises(RuntimeError, match="before fit"):
        PatchScaler("global").transform(_patches())
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(CorrosegInputError, match="not a corroseg scaler"):
        PatchScaler.load(tmp_path / "bad.json")
    (tmp_path / "bad2.json").write_text("{")
    with pytest.raises(CorrosegInputError, match="not a JSON"):
        PatchScaler.load(tmp_path / "bad2.json")

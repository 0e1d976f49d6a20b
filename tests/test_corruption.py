import numpy as np
import pytest

from corroseg.data.corruption import CorruptionPolicy, corrupted_fraction, corrupted_pixels


def _patches():
    patches = np.zeros((3, 36, 36), np.float32)
    patches[0, 0, :] = -999.25  # one placeholder row
    patches[0, 5, 5] = np.nan
    patches[1] = -999.0  # fully corrupted
    patches[2, 3, 3] = np.inf
    patches[2, 4, 4] = -0.3  # deep but real metal loss: not corrupted
    return patches


def test_detects_placeholders_nan_inf_only():
    bad = corrupted_pixels(_patches())
    assert bad[0].sum() == 37 and bad[1].all() and bad[2].sum() == 1
    assert not bad[2, 4, 4]
    np.testing.assert_allclose(corrupted_fraction(_patches()), [37 / 1296, 1.0, 1 / 1296])


def test_policy_leaves_out_mostly_corrupted_patches():
    keep = CorruptionPolicy(max_corrupted_fraction=0.02).keep_for_training(_patches())
    assert keep.tolist() == [False, False, True]
    assert CorruptionPolicy(max_corrupted_fraction=0.5).keep_for_training(_patches()).tolist() == [True, False, True]


def test_clean_fills_with_nominal_thickness_and_marks_invalid():
    filled, valid = CorruptionPolicy().clean(_patches())
    assert np.isfinite(filled).all() and filled.dtype == np.float32
    assert (filled[~valid] == 0.0).all()
    assert filled[2, 4, 4] == pytest.approx(-0.3)
    assert valid.sum() == 3 * 1296 - 37 - 1296 - 1


def test_fully_corrupted_patches_get_empty_masks():
    masks = np.ones((3, 36, 36), np.uint8)
    out = CorruptionPolicy.blank_fully_corrupted(masks, _patches())
    assert out[0].all() and not out[1].any() and out[2].all()
    assert masks[1].all()  # input untouched


def test_policy_rejects_nonsense():
    with pytest.raises(ValueError):
        CorruptionPolicy(max_corrupted_fraction=1.5)
    with pytest.raises(ValueError):
        CorruptionPolicy(fill_value=-999.25)

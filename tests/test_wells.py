import numpy as np
import pytest

from conftest import smooth_well
from corroseg.data.challenge import read_images
from corroseg.data.wells import (
    Well,
    assemble,
    cut,
    infer_width,
    load_well,
    resolve_width,
    save_well,
)
from corroseg.errors import CorrosegInputError


@pytest.mark.parametrize("width", [36, 72])
def test_cut_and_assemble_round_trip_exactly(width):
    image = np.random.default_rng(0).standard_normal((36 * 5, width)).astype(np.float32)
    image[3, 4] = np.nan
    patches = cut(image)
    assert patches.shape == (5 * width // 36, 36, 36)
    np.testing.assert_array_equal(assemble(patches, width), image)


def test_72_layout_puts_even_patches_left():
    image = np.arange(72 * 72, dtype=np.float32).reshape(72, 72)
    patches = cut(image)
    np.testing.assert_array_equal(patches[0], image[:36, :36])
    np.testing.assert_array_equal(patches[1], image[:36, 36:])
    np.testing.assert_array_equal(patches[2], image[36:, :36])


def test_cut_rejects_bad_shapes():
    with pytest.raises(ValueError, match="multiple of 36"):
        cut(np.zeros((40, 36)))
    with pytest.raises(ValueError, match="width"):
        cut(np.zeros((36, 48)))
    with pytest.raises(ValueError, match="cannot fill"):
        assemble(np.zeros((3, 36, 36)), 72)


@pytest.mark.parametrize("width", [36, 72])
@pytest.mark.parametrize("seed", range(4))
def test_width_inferred_from_continuity(width, seed):
    image, _ = smooth_well(36 * 12, width, seed)
    assert infer_width(cut(image)) == width


def test_width_inference_ignores_placeholders():
    image, _ = smooth_well(36 * 12, 72, 0)
    image[100:110] = -999.25
    image[:, 70] = np.nan
    assert infer_width(cut(image)) == 72


def test_width_override():
    patches = cut(smooth_well(36 * 4, 36, 0)[0])
    assert resolve_width(1, patches, {None: 72}) == (72, True)
    assert resolve_width(1, patches, {2: 72}) == (36, False)
    with pytest.raises(ValueError, match="cannot be 72"):
        resolve_width(1, patches[:3], {1: 72})


def test_well_npz_round_trip(tmp_path):
    image, mask = smooth_well(36 * 3, 72, 1)
    well = Well(image, mask, depth_start=1500.0, depth_step=0.1, depth_unit="ft", name="w7")
    back = load_well(save_well(tmp_path / "w.npz", well))
    np.testing.assert_array_equal(back.image, image)
    np.testing.assert_array_equal(back.mask, mask)
    assert (back.depth_start, back.depth_step, back.depth_unit, back.name) == (1500.0, 0.1, "ft", "w7")
    assert back.depths()[10] == pytest.approx(1501.0)
    np.testing.assert_array_equal(back.patches(), cut(image))
    assert load_well(save_well(tmp_path / "nomask.npz", Well(image))).mask is None


def test_well_npz_spells_out_valid_pixels_and_older_files_still_load(tmp_path):
    from corroseg.data.corruption import valid_pixels

    image, mask = smooth_well(36 * 2, 36, 2)
    image[3, 4], image[40:44, :] = np.nan, -999.25
    well = Well(image, mask)
    assert well.valid.dtype == bool and not well.valid[3, 4] and not well.valid[41].any()
    np.testing.assert_array_equal(well.valid, valid_pixels(image))
    path = save_well(tmp_path / "w.npz", well)
    with np.load(path) as arrays:
        assert arrays["valid"].dtype == np.uint8
        np.testing.assert_array_equal(arrays["valid"], valid_pixels(image).astype(np.uint8))
    np.testing.assert_array_equal(load_well(path).mask, mask)  # the physical mask is kept
    # a file written before `valid` existed
    np.savez(tmp_path / "old.npz", image=image, mask=mask)
    old = load_well(tmp_path / "old.npz")
    np.testing.assert_array_equal(old.valid, valid_pixels(image))


def test_well_npz_errors(tmp_path):
    with pytest.raises(CorrosegInputError, match="no such file"):
        load_well(tmp_path / "missing.npz")
    np.savez(tmp_path / "noimage.npz", mask=np.zeros((36, 36)))
    with pytest.raises(CorrosegInputError, match="no 'image'"):
        load_well(tmp_path / "noimage.npz")
    np.savez(tmp_path / "badmask.npz", image=np.zeros((36, 36), np.float32), mask=np.full((36, 36), 3))
    with pytest.raises(CorrosegInputError, match="mask must be 0/1"):
        load_well(tmp_path / "badmask.npz")
    (tmp_path / "junk.npz").write_text("junk")
    with pytest.raises(CorrosegInputError, match="unreadable"):
        load_well(tmp_path / "junk.npz")


def test_dataset_wells_rebuild_and_widths(dataset):
    images = read_images(dataset)
    assert {w: infer_width(images.of_well(w)) for w in images.well_ids()} == {1: 72, 2: 36, 3: 72, 4: 36}

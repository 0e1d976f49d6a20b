import numpy as np
import pytest

from corroseg.data.augment import (
    ComposedFlips,
    HorizontalFlip,
    RandomHorizontalFlip,
    RandomRoll,
    RandomVerticalFlip,
    RollTransform,
    VerticalFlip,
    default_augmentation,
    expand,
)


def _sample(seed=0):
    rng = np.random.default_rng(seed)
    image = rng.standard_normal((36, 36)).astype(np.float32)
    mask = (rng.random((36, 36)) < 0.2).astype(np.float32)
    valid = rng.random((36, 36)) > 0.05
    # make the image a function of the mask so alignment can be checked after any transform
    image[mask == 1] = -5.0
    image[~valid] = 99.0
    return image, mask, valid


def _aligned(image, mask, valid):
    return np.array_equal(image == -5.0, (mask == 1) & valid) and np.array_equal(image == 99.0, ~valid)


TRANSFORMS = [HorizontalFlip(), VerticalFlip(), RollTransform(7), ComposedFlips(),
              RandomHorizontalFlip(p=1.0), RandomVerticalFlip(p=1.0), RandomRoll(p=1.0, seed=3),
              default_augmentation(seed=1)]


@pytest.mark.parametrize("transform", TRANSFORMS, ids=lambda t: type(t).__name__)
def test_masks_move_with_images(transform):
    for seed in range(5):
        out = transform(*_sample(seed))
        assert _aligned(*out)
        assert out[0].shape == (36, 36)


def test_exact_geometry():
    image, mask, valid = _sample()
    np.testing.assert_array_equal(HorizontalFlip()(image)[0], image[:, ::-1])
    np.testing.assert_array_equal(VerticalFlip()(image)[0], image[::-1])
    np.testing.assert_array_equal(RollTransform(5)(image)[0][:, 5], image[:, 0])
    np.testing.assert_array_equal(ComposedFlips()(image)[0], image[::-1, ::-1])
    assert HorizontalFlip()(image)[1] is None


def test_random_transforms_are_seeded_and_sometimes_identity():
    image, mask, valid = _sample()
    never = RandomHorizontalFlip(p=0.0)
    assert never(image, mask, valid)[0] is image
    a = [default_augmentation(seed=4)(image)[0] for _ in range(3)]
    b = [default_augmentation(seed=4)(image)[0] for _ in range(3)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    flips = RandomVerticalFlip(p=0.5, seed=0)
    changed = sum(not np.array_equal(flips(image)[0], image) for _ in range(200))
    assert 60 < changed < 140


def test_expand_is_the_papers_n_transforms():
    images = np.stack([_sample(s)[0] for s in range(3)])
    masks = np.stack([_sample(s)[1] for s in range(3)])
    valid = np.stack([_sample(s)[2] for s in range(3)])
    x, m, v, source = expand(images, masks, valid, n_transforms=4)
    assert x.shape == (15, 36, 36) and m.shape == (15, 36, 36) and v.shape == (15, 36, 36)
    np.testing.assert_array_equal(x[:3], images)
    np.testing.assert_array_equal(x[3:6], images[:, :, ::-1])
    assert source.tolist() == [0, 1, 2] * 5
    for i in range(15):
        assert _aligned(x[i], m[i], v[i])
    x2, m2, _, _ = expand(images, masks, n_transforms=2)
    assert len(x2) == 9
    with pytest.raises(ValueError):
        expand(images, n_transforms=9)


def test_cutmix_moves_image_mask_and_learnable_pixels_together():
    import torch

    from corroseg.train.module import cutmix

    torch.manual_seed(3)
    n = 6
    # every pixel of window i holds i in image, mask parity and learn parity: the source is readable
    image = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 144, 36).clone()
    batch = {"image": image, "mask": (image % 2 == 1).float(), "learn": image < 3, "other": "kept"}
    mixed = cutmix(batch)
    source = mixed["image"]
    assert (source != image).any()  # some box came from another window
    assert torch.equal(mixed["mask"], (source % 2 == 1).float())
    assert torch.equal(mixed["learn"], source < 3)
    assert mixed["other"] == "kept" and torch.equal(batch["image"], image)  # the input batch is unchanged
    changed = (source != image)[:, 0]
    rows, cols = changed.any(dim=2), changed.any(dim=1)
    for i in range(n):  # one box, the same for every window
        if changed[i].any():
            assert changed[i].sum() == rows[i].sum() * cols[i].sum()

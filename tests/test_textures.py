"""Real-texture backgrounds: suspect pixels are painted out, banks never use wells 9 and 10,
and real-texture datasets are deterministic with exact masks."""

import json

import numpy as np
import pytest
from conftest import REAL_DATA, requires_real_data
from scipy.ndimage import gaussian_filter
from typer.testing import CliRunner

from corroseg.cli import app
from corroseg.data.wells import load_well
from corroseg.synth.defects import MIN_LABELLED_LOSS
from corroseg.synth.generator import PRESETS, generate_well, write_dataset
from corroseg.synth.textures import (PaintRule, TextureBank, build_bank, draw_casing, fill_suspects, flipped_joint,
                                     persistent_dips, suspect_pixels)

runner = CliRunner()


def _texture(rows=400, width=36, seed=0):
    rng = np.random.default_rng(seed)
    field = gaussian_filter(rng.standard_normal((rows, width)), (6, 3), mode=("nearest", "wrap"))
    return 0.012 * field / field.std() + 0.001 * rng.standard_normal((rows, width))


def test_a_groove_is_suspect_and_painted_out():
    texture = _texture()
    grooved = texture.copy()
    grooved[100:300, 17:19] -= 0.035
    suspect = suspect_pixels(grooved)
    assert suspect[100:300, 17:19].mean() > 0.95
    filled = fill_suspects(np.random.default_rng(0), grooved, suspect)
    assert np.array_equal(filled[~suspect], grooved[~suspect])  # kept pixels are untouched
    # the groove is gone: the painted columns sit at the texture's level, not 0.035 below it
    assert abs((filled - texture)[110:290, 17:19].mean()) < 0.006
    # a texture alone is mostly kept
    assert suspect_pixels(texture).mean() < 0.35


def test_a_faint_groove_across_joints_is_found_by_persistence_and_not_by_the_local_rule():
    """A groove 2/3 of the texture's spread deep escapes a strict local rule; kept at its azimuth across
    six joints it stands out, and the joints' own dips (at no fixed azimuth) mostly do not."""
    def joint(seed):
        field = gaussian_filter(np.random.default_rng(seed).standard_normal((300, 36)), (6, 1), mode=("nearest", "wrap"))
        return 0.012 * field / field.std()

    texture = np.concatenate([joint(s) for s in range(6)])
    grooved = texture.copy()
    grooved[:, 20:22] -= 0.008
    assert suspect_pixels(grooved, PaintRule(deep_sigmas=4.5, dip_sigmas=3.0, dip_rows=15))[:, 20:22].mean() < 0.5
    rule = PaintRule(persist_rows=577, persist_sigmas=2.5)
    persistent = persistent_dips(grooved, rule)
    assert persistent[:, 20:22].mean() > 0.9
    assert persistent[:, np.r_[0:17, 25:36]].mean() < 0.1
    assert persistent_dips(texture, rule)[:, 20:22].mean() < 0.3


def test_corrupted_pixels_are_suspect():
    texture = _texture()
    texture[50, 3:9] = -999.25
    texture[60, 0] = np.nan
    suspect = suspect_pixels(texture)
    assert suspect[50, 3:9].all() and suspect[60, 0]
    assert np.isfinite(fill_suspects(np.random.default_rng(0), texture, suspect)).all()


def test_72px_casings_keep_both_samplings_of_the_circumference():
    """A 72 px log holds one circumference twice: turning and mirroring act on each copy."""
    half = _texture(300, 36, seed=4)
    bank = TextureBank("test", joints={1: [np.concatenate([half, half], axis=1), np.concatenate([half, half], axis=1)[:100]]},
                       widths={1: 72})
    casing, starts = draw_casing(np.random.default_rng(3), bank, 1, 1000)
    assert casing.shape == (1000, 72) and len(starts) > 3
    assert np.allclose(casing[:, :36], casing[:, 36:])


@pytest.fixture(scope="module")
def fake_real(tmp_path_factory):
    """A challenge-format stand-in for the real data: 10 parametric train wells (so wells 9
    and 10 exist) and 2 test wells."""
    return write_dataset(tmp_path_factory.mktemp("fake_real") / "real", seed=3, preset="tiny", train_wells=10)


def test_bank_never_takes_wells_9_and_10(fake_real):
    bank = build_bank(fake_real, "train")
    assert bank.wells and not {9, 10} & set(bank.wells)
    assert set(build_bank(fake_real, "test").wells) <= {1, 2}
    assert np.isclose(bank.well_weights().sum(), 1.0)
    casing, starts = draw_casing(np.random.default_rng(0), bank, bank.wells[0], 500)
    assert casing.shape == (500, bank.widths[bank.wells[0]]) and starts[0] == 0


def test_real_texture_dataset_is_deterministic_with_exact_masks(fake_real, tmp_path):
    a = write_dataset(tmp_path / "a", seed=4, preset="tiny", texture="real", real=fake_real)
    b = write_dataset(tmp_path / "b", seed=4, preset="tiny", texture="real", real=fake_real)
    for name in ("y_train.csv", "y_test.csv", "synth.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    for path in sorted((a / "x_train").glob("*.npy"))[:50]:
        assert path.read_bytes() == (b / "x_train" / path.name).read_bytes()
    manifest = json.loads((a / "synth.json").read_text())
    sources = [w["texture_source_well"] for k, w in manifest["wells"].items() if k.startswith("train")]
    assert sources and not {9, 10} & set(sources)
    assert manifest["preset"]["texture"] == "real" and "textures" in manifest
    well = load_well(a / "wells" / "train_well_1.npz")
    assert well.image.shape == well.mask.shape


@pytest.mark.parametrize("width_source", [0, -1])
def test_every_masked_pixel_is_metal_loss_on_real_textures(fake_real, width_source):
    bank = build_bank(fake_real, "train")
    source = bank.wells[width_source]
    synth = generate_well(np.random.default_rng(2), 36 * 20, 36, PRESETS["tiny"], kind="vertical",
                          fault_rate=0.0, bank=bank, source=source)
    mask = synth.well.mask.astype(bool)
    assert synth.well.image.shape[1] == bank.widths[source] and mask.any()
    assert (synth.loss[mask] >= MIN_LABELLED_LOSS).all()


def test_synth_cli_needs_real_data_for_real_textures(tmp_path):
    result = runner.invoke(app, ["synth", str(tmp_path / "out"), "--preset", "tiny", "--texture", "real",
                                 "--real", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "missing" in result.output
    result = runner.invoke(app, ["synth", str(tmp_path / "out"), "--preset", "tiny", "--texture", "woven"])
    assert result.exit_code == 2 and "unknown texture" in result.output
    assert not (tmp_path / "out").exists()


@requires_real_data
def test_real_bank_excludes_the_false_alarm_wells():
    bank = build_bank(REAL_DATA, "train")
    assert set(bank.wells) == {1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14, 15}
    # the painting is generous but leaves most of each joint as it was
    assert all(0.1 < share < 0.4 for share in bank.suspect_share.values())


def test_sources_drawn_in_passes_repeat_every_real_well_alike():
    from collections import Counter
    from types import SimpleNamespace

    from corroseg.synth.generator import assign_sources

    weights = np.array([0.9, 0.025, 0.025, 0.025, 0.025])  # well 1 is long
    bank = SimpleNamespace(wells=np.array([1, 2, 3, 4, 5]), well_weights=lambda: weights)
    counts = Counter(assign_sources(np.random.default_rng(0), bank, 12, draw="passes"))
    assert set(counts) == {1, 2, 3, 4, 5} and sorted(counts.values()) == [2, 2, 2, 3, 3]
    few = [assign_sources(np.random.default_rng(1), bank, 3, draw=draw) for draw in ("passes", "patches")]
    assert few[0] == few[1]  # fewer wells than sources: the same draw either way
    by_patches = Counter(assign_sources(np.random.default_rng(0), bank, 12))
    assert by_patches[1] > 3  # the long well repeats: the former rule
    with pytest.raises(ValueError, match="source draw"):
        assign_sources(np.random.default_rng(0), bank, 12, draw="uniform")


def test_texture_gain_scales_each_train_joint_and_leaves_test_wells_as_logged(fake_real, tmp_path):
    half = _texture(300, 36, seed=5)
    bank = TextureBank("test", joints={1: [half, half[:120]]}, widths={1: 36})
    plain, starts = draw_casing(np.random.default_rng(7), bank, 1, 900)
    again, _ = draw_casing(np.random.default_rng(7), bank, 1, 900, gain=(1.0, 1.0))
    assert np.array_equal(plain, again)  # the default draws nothing more: a seed keeps its wells
    as_listed, _ = draw_casing(np.random.default_rng(7), bank, 1, 900, gain=[1.0, 1.0])  # as a manifest holds it
    assert np.array_equal(plain, as_listed)
    scaled, scaled_starts = draw_casing(np.random.default_rng(7), bank, 1, 900, gain=(0.5, 2.0))
    bounds = [*scaled_starts, 900]
    ratios = [np.std(scaled[a:b]) / np.std(half) for a, b in zip(bounds, bounds[1:]) if b - a > 100]
    assert all(0.45 < r < 2.2 for r in ratios) and np.ptp(ratios) > 0.05  # each joint its own factor
    preset = {**vars(PRESETS["tiny"]), "texture": "real"}
    from corroseg.synth.generator import Preset

    a = write_dataset(tmp_path / "a", seed=2, preset=Preset(**preset), real=fake_real)
    b = write_dataset(tmp_path / "b", seed=2, preset=Preset(**{**preset, "texture_gain": (0.5, 2.0)}), real=fake_real)
    assert (a / "y_test.csv").read_bytes() == (b / "y_test.csv").read_bytes()
    assert all(p.read_bytes() == (b / "x_test" / p.name).read_bytes() for p in (a / "x_test").glob("*.npy"))
    assert not all(p.read_bytes() == (b / "x_train" / p.name).read_bytes() for p in (a / "x_train").glob("*.npy"))


def test_a_flipped_joint_turns_ridges_into_kept_dips_and_corrosion_into_ridges():
    """The flip keeps the texture's faint relief, upside down: a real groove becomes a ridge (no
    corrosion left to teach as casing) and a faint ridge a faint dip known to be sound; the joint's
    spikes, which would read as pits once flipped, are filled."""
    joint = _texture(300, 36, seed=3)
    joint[50:250, 10:12] -= 0.03  # real corrosion: a groove
    joint[50:250, 25:27] += 0.01  # a faint ridge of the texture
    joint[150, 5] += 0.2  # a spike
    flipped = flipped_joint(np.random.default_rng(0), joint, PaintRule(deep_sigmas=4.5))
    centred = -(joint - joint.mean(axis=1, keepdims=True))
    assert flipped.shape == joint.shape
    assert flipped[60:240, 10:12].mean() > 0.02  # the groove is a ridge
    rows = np.r_[60:145, 155:240]  # away from the spike's row, whose fill moves the row mean
    assert np.allclose(flipped[rows, 25:27], centred[rows, 25:27], atol=1e-5)  # the faint dip kept as it is
    assert flipped[150, 5] > -0.05  # the spike is not a pit
    assert flipped_joint(np.random.default_rng(0), np.full((300, 36), -999.25, np.float32), PaintRule()) is None


def test_flipped_share_draws_flipped_train_joints_only_and_the_default_draws_nothing(fake_real, tmp_path):
    half = _texture(300, 36, seed=5)
    half[half > 0] *= 4  # skewed: turns, mirrors and depth flips keep the skew's sign, a sign flip does not
    bank = TextureBank("test", joints={1: [half]}, widths={1: 36}, flipped={1: [-half]})

    def skews(share):
        casing, starts = draw_casing(np.random.default_rng(7), bank, 1, 6000, flipped_share=share)
        return [np.mean((casing[a:b] - casing[a:b].mean()) ** 3) for a, b in zip(starts, [*starts[1:], 6000])
                if b - a > 100]

    plain, _ = draw_casing(np.random.default_rng(7), bank, 1, 900)
    assert np.array_equal(plain, draw_casing(np.random.default_rng(7), bank, 1, 900, flipped_share=0.0)[0])
    assert all(s > 0 for s in skews(0.0))
    mixed = skews(0.5)
    assert 0.2 < np.mean(np.array(mixed) < 0) < 0.8
    assert all(s < 0 for s in skews(1.0))
    with pytest.raises(ValueError, match="between 0 and 1"):
        draw_casing(np.random.default_rng(7), bank, 1, 900, flipped_share=1.5)
    with pytest.raises(ValueError, match="no flipped joints"):
        draw_casing(np.random.default_rng(7), TextureBank("t", joints={1: [half]}, widths={1: 36}), 1, 900, flipped_share=0.3)
    preset = {**vars(PRESETS["tiny"]), "texture": "real"}
    from corroseg.synth.presets import Preset

    a = write_dataset(tmp_path / "a", seed=2, preset=Preset(**preset), real=fake_real)
    b = write_dataset(tmp_path / "b", seed=2, preset=Preset(**{**preset, "flipped_share": 0.5}), real=fake_real)
    assert (a / "y_test.csv").read_bytes() == (b / "y_test.csv").read_bytes()
    assert all(p.read_bytes() == (b / "x_test" / p.name).read_bytes() for p in (a / "x_test").glob("*.npy"))
    assert not all(p.read_bytes() == (b / "x_train" / p.name).read_bytes() for p in (a / "x_train").glob("*.npy"))

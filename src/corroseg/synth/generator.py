"""Synthetic wells and datasets in the challenge format, deterministic for a seed.

Labels of corrupted patches follow the challenge. Its label files hold an empty mask on every
patch with a corrupted pixel (a placeholder, NaN, inf or outlier; see :mod:`corroseg.data.corruption`):
the seed paper reports black masks on the corrupted images, 3.5% of train and 6.8% of test patches,
exactly the shares holding a placeholder (342/9674 and 175/2538). So in ``y_train.csv`` and
``y_test.csv`` every patch with any corrupted pixel gets an empty mask, whatever lies under it. The
whole wells (``wells/*.npz``) keep the physical mask (corrosion next to a dropout is still corrosion)
and mark the no-data pixels in their ``valid`` array. ``synth.json`` counts, per well, the label
patches blanked and how many of them hold physical corrosion.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from rich.progress import Progress

from corroseg.atomic import atomic_dir
from corroseg.guard import check_replaceable, mark, output_lock, refuse_overwriting_inputs
from corroseg.data.challenge import PATCH_SIZE, write_submission
from corroseg.data.corruption import corrupted_pixels
from corroseg.data.names import format_name
from corroseg.data.wells import Well, cut, save_well
from corroseg.synth.logs import write_well_log
from corroseg.errors import CorrosegInputError
from corroseg.synth.backgrounds import collar, joint_texture, sensor_noise, streaks
from corroseg.synth.defects import WELL_KINDS, plant_defects
from corroseg.synth.faults import add_faults
from corroseg.synth.presets import PRESETS, TEXTURES, Preset
from corroseg.synth.textures import TextureBank, build_bank, draw_casing


LABEL_RULE = "label files: empty mask on every patch with a corrupted pixel; wells: physical mask and valid pixels"
"""How labels of corrupted patches are written (recorded in ``synth.json``)."""


@dataclass
class SynthWell:
    """A generated well and how it was made."""

    well: Well
    kind: str
    touched_patches: np.ndarray
    loss: np.ndarray | None = None  # metal loss (in) of every pixel, before re-centring
    collars: list[int] = field(default_factory=list)
    defects: list[dict] = field(default_factory=list)
    source: int | None = None  # real well whose joints it took (texture bank), if any


def joint_length(rng: np.random.Generator, typical: float) -> int:
    """Rows of the next joint: near the well's typical length, now and then a short
    pup joint or a long one (real collar spacing: 160-670 rows, median about 340)."""
    draw = rng.random()
    if draw < 0.1:
        return int(rng.integers(160, 250))
    if draw < 0.2:
        return int(rng.integers(450, 670))
    return int(typical * rng.uniform(0.93, 1.07))


def held_rows(rng: np.random.Generator, rows: int, rate: float) -> np.ndarray:
    """Source row of every row when the recorder holds the last reading now and then.

    Some real logs repeat rows exactly (11-15% of adjacent rows in wells 6 and 8,
    1.5% in well 4): depth resampling by sample-and-hold when the logging speed
    varies. Image and mask are resampled alike, so masks stay exact.
    """
    hold = rng.random(rows) < rate
    hold[0] = False
    return np.maximum.accumulate(np.where(hold, 0, np.arange(rows)))


def recentre_rows(image: np.ndarray) -> np.ndarray:
    """Every row minus its mean: values become deviations from the row mean."""
    return image - image.mean(axis=1, keepdims=True)


def generate_well(
    rng: np.random.Generator,
    rows: int,
    width: int,
    preset: Preset = PRESETS["default"],
    kind: str | None = None,
    fault_rate: float | None = None,
    placeholder: float = -999.25,
    bank: TextureBank | None = None,
    source: int | None = None,
) -> SynthWell:
    """One well: joints and collars, defects, sensor noise, row re-centring, faults.

    The casing is made over a 36 px circumference. A 72 px well samples that
    circumference twice, as the real 72 px logs do (their azimuthal power sits in
    even harmonics, and their grooves repeat 36 px apart): the 36 px casing is
    tiled (streaks included), the second copy offset by 0-1 px, with independent
    white noise and a weak independent texture. ``rows`` is rounded down to a multiple of 36.

    With a texture ``bank``, the joints come from real well ``source`` of the bank
    (its width wins), collars are drawn at the joints' seams, and the defects are
    made over 36 px and tiled on 72 px wells as above.
    """
    rows = max(PATCH_SIZE, rows - rows % PATCH_SIZE)
    if width not in (36, 72):
        raise ValueError("width must be 36 or 72")
    kind = kind or str(rng.choice(WELL_KINDS, p=np.asarray(preset.kind_weights) / sum(preset.kind_weights)))
    if bank is not None:
        return _real_texture_well(rng, rows, bank, source, kind, preset, fault_rate, placeholder)
    level = rng.uniform(*preset.background_std)
    casing, collars = _casing(rng, rows, level, preset)
    noise_level = rng.uniform(*preset.noise_std)
    casing += streaks(rng, rows, PATCH_SIZE, noise_level)
    defects = plant_defects(rng, rows, PATCH_SIZE, kind, preset.defect_style())
    casing = casing - defects.loss
    loss, mask = defects.loss, defects.mask
    if width == 72:
        offset = int(rng.integers(0, 2))

        def twice(a):
            return np.concatenate([a, np.roll(a, offset, axis=1)], axis=1)

        casing, loss, mask = twice(casing), twice(loss), twice(mask)
        casing += level * rng.uniform(0.03, 0.12) * joint_texture(rng, rows, width, style="undulation")
    image = recentre_rows(casing + sensor_noise(rng, rows, width, noise_level)).astype(np.float32)
    return _recorded(rng, image, mask, loss, kind, collars, defects, preset, fault_rate, placeholder)


def _recorded(rng, image, mask, loss, kind, collars, defects, preset, fault_rate, placeholder) -> SynthWell:
    """What the logging adds to a re-centred well: held rows now and then, then telemetry faults."""
    if rng.random() < preset.held_rows_share:
        source = held_rows(rng, len(image), rng.uniform(*preset.held_rows_rate))
        image, mask, loss = image[source], mask[source], loss[source]
    rate = preset.train_fault_rate if fault_rate is None else fault_rate
    touched = add_faults(rng, image, rate, placeholder=placeholder)
    well = Well(image, mask.astype(np.uint8), depth_step=1.0, depth_unit="row")
    return SynthWell(well, kind, touched, loss.astype(np.float32), collars, defects.defects)


def _tile(a: np.ndarray, width: int) -> np.ndarray:
    return np.concatenate([a] * (width // a.shape[1]), axis=1)


def _real_texture_well(rng, rows, bank, source, kind, preset, fault_rate, placeholder) -> SynthWell:
    width = bank.widths[source]
    casing, starts = draw_casing(rng, bank, source, rows, preset.texture_gain, preset.flipped_share)
    collars = []
    for y in starts[1:]:
        band = _tile(collar(rng, PATCH_SIZE), width)
        casing[y : y + len(band)] += band[: rows - y]
        collars.append(y)
    defects = plant_defects(rng, rows, PATCH_SIZE, kind, preset.defect_style())
    loss, mask = _tile(defects.loss, width), _tile(defects.mask, width)
    image = recentre_rows(casing - loss).astype(np.float32)
    return _recorded(rng, image, mask, loss, kind, collars, defects, preset, fault_rate, placeholder)


def _casing(rng: np.random.Generator, rows: int, level: float, preset: Preset) -> tuple[np.ndarray, list[int]]:
    """Joint textures and collars over a 36 px circumference; the first rows of each collar."""
    image = np.zeros((rows, PATCH_SIZE))
    typical_joint = rng.uniform(*preset.joint_rows)
    collars, y = [], int(rng.integers(0, typical_joint))
    joint_start = 0
    while joint_start < rows:
        stop = min(rows, y)
        if stop > joint_start:
            image[joint_start:stop] = level * rng.uniform(0.7, 1.3) * joint_texture(rng, stop - joint_start, PATCH_SIZE)
        if y >= rows:
            break
        band = collar(rng, PATCH_SIZE)
        image[y : y + len(band)] += band[: rows - y]
        collars.append(y)
        joint_start = y + len(band)
        y = joint_start + joint_length(rng, typical_joint)
    return image, collars


def _well_rng(seed: int, split: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, split, index])


def well_kinds(rng: np.random.Generator, count: int, weights: tuple[float, ...]) -> list[str]:
    """Kinds of a split's wells in the preset's proportions (largest remainders), shuffled.

    Drawing kinds independently would leave a 15-well dataset with anywhere from
    0 to 5 defect-free wells, and its corrosion statistics all over the place.
    """
    share = np.asarray(weights) / sum(weights) * count
    counts = np.floor(share).astype(int)
    for i in np.argsort(-(share - counts))[: count - counts.sum()]:
        counts[i] += 1
    kinds = [kind for kind, n in zip(WELL_KINDS, counts) for _ in range(n)]
    return [str(k) for k in rng.permutation(kinds)]


def assign_sources(rng: np.random.Generator, bank: TextureBank, count: int, draw: str = "patches") -> list[int]:
    """Source well of each of ``count`` synthetic wells, shuffled.

    Every source well once while there are enough wells (a real well left out would be a texture the
    synthetic pool lacks); the rest drawn in proportion to the sources' patches (``draw="patches"``), or
    in further passes over all sources (``draw="passes"``: as each copy takes about its source's length,
    the pool keeps the real wells' shares of patches).
    """
    if draw not in ("patches", "passes"):
        raise ValueError(f"source draw {draw!r}: patches or passes")
    if draw == "passes" and count > len(bank.wells):  # fewer wells: drawn alike (a test split stays the same)
        passes = -(-count // len(bank.wells))
        chosen = np.concatenate([rng.permutation(bank.wells) for _ in range(passes)])[:count]
        return [int(w) for w in rng.permutation(chosen)]
    weights = bank.well_weights()
    if count < len(bank.wells):
        chosen = rng.choice(bank.wells, count, replace=False, p=weights)
    else:
        chosen = np.r_[bank.wells, rng.choice(bank.wells, count - len(bank.wells), p=weights)]
    return [int(w) for w in rng.permutation(chosen)]


def generate_split(
    seed: int, preset: Preset, split: str, progress: Progress | None = None, bank: TextureBank | None = None
) -> list[SynthWell]:
    """All wells of a split; each well's stream depends only on (seed, split, well).

    With a texture ``bank`` every well takes the joints of one source well (see
    :func:`assign_sources`) and that well's width; train wells also about its length.
    """
    if preset.texture == "real" and bank is None:
        raise ValueError(f"preset {preset.name!r} takes real textures: pass a texture bank")
    count, split_index = (preset.train_wells, 0) if split == "train" else (preset.test_wells, 1)
    if split == "test":  # gain and flips randomise training; test wells stay as logged
        preset = replace(preset, texture_gain=(1.0, 1.0), flipped_share=0.0)
    kinds = well_kinds(np.random.default_rng([seed, split_index]), count, preset.kind_weights)
    task = progress.add_task(f"synthesising {split} wells", total=count) if progress else None
    sources = (assign_sources(np.random.default_rng([seed, split_index, 1]), bank, count, preset.source_draw)
               if bank else None)
    wells = []
    for index in range(count):
        rng = _well_rng(seed, split_index, index)
        rows = int(np.exp(rng.uniform(*np.log(preset.rows))))
        width = 72 if rng.random() < preset.width_72_share else 36
        source = None if bank is None else sources[index]
        if source is not None:
            width = bank.widths[source]
            if split == "train":  # about the source's length: the pool of wells looks like the real one
                rows = int(np.clip(bank.rows(source) * rng.uniform(0.6, 1.0), *preset.rows))
            # test wells keep the drawn length: the real test split is one long well and four short
            # ones, too few corroded patches for a ruler
        elif width == 72:  # wide logs are the shorter ones in the real data
            rows = int(rows * preset.rows_72_factor)
        if kinds[index] == "none":  # as real wells 9 and 10: short, defect-free logs
            rows = int(rows * preset.rows_defect_free_factor)
        placeholder = -999.0 if split == "train" and rng.random() < preset.minus_999_share else -999.25
        rate = preset.train_fault_rate if split == "train" else preset.test_fault_rate
        synth = generate_well(rng, rows, width, preset, kind=kinds[index], fault_rate=rate, placeholder=placeholder,
                              bank=bank, source=source)
        synth.well.name = f"synthetic {split} well {index + 1}"
        synth.source = source
        wells.append(synth)
        if progress:
            progress.advance(task)
    return wells


def write_dataset(
    out: str | Path,
    seed: int = 0,
    preset: str | Preset = "default",
    train_wells: int | None = None,
    test_wells: int | None = None,
    overwrite: bool = False,
    progress: bool = False,
    real: str | Path | None = None,
    texture: str | None = None,
    log_format: str | None = None,
) -> Path:
    """Write a complete challenge-format dataset plus whole wells and a manifest.

    Layout: ``x_train/``, ``y_train.csv``, ``x_test/``, ``y_test.csv``,
    ``wells/{split}_well_{w}.npz`` and ``synth.json``. The folder appears only
    when complete. The label files empty every patch with a corrupted pixel, as the
    challenge's do; the wells keep the physical mask (see the module docstring).

    ``texture`` overrides the preset's (``parametric`` or ``real``). Real textures
    need ``real``, a real challenge dataset: train wells take the joints of its
    x_train wells (never wells 9 and 10), test wells those of its x_test wells, so
    the synthetic test split also meets casings the training never saw.

    ``log_format`` (``dlis`` or ``las``) also writes every well as a casing log in
    ``logs/{split}_well_{w}.{format}`` (:func:`corroseg.synth.logs.write_well_log`).
    """
    out = Path(out)
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise CorrosegInputError(preset, f"unknown preset; choose from {', '.join(PRESETS)}")
        preset = PRESETS[preset]
    if train_wells is not None or test_wells is not None:
        preset = Preset(**{**asdict(preset),
                           "train_wells": preset.train_wells if train_wells is None else train_wells,
                           "test_wells": preset.test_wells if test_wells is None else test_wells})
    if texture is not None:
        if texture not in TEXTURES:
            raise CorrosegInputError(texture, f"unknown texture; choose from {', '.join(TEXTURES)}")
        preset = Preset(**{**asdict(preset), "texture": texture})
    if preset.texture == "real" and (real is None or not (Path(real) / "x_train").is_dir()
                                     or not (Path(real) / "x_test").is_dir()):
        raise CorrosegInputError(real if real is not None else preset.name,
                                 "no real x_train/ and x_test/ there; real textures are built from the real wells "
                                 "(pass --real DIR, e.g. ../shared/data/challenge, or --preset parametric)")
    if preset.texture == "real":
        refuse_overwriting_inputs([out], datasets=[real])
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not overwrite:
            raise CorrosegInputError(out, "already exists and is not empty; choose another folder or pass --force")
        check_replaceable(out, "dataset")
    manifest = {"seed": seed, "preset": asdict(preset), "label_rule": LABEL_RULE, "wells": {}}
    banks = {}
    if preset.texture == "real":
        real = Path(real)
        banks = {split: build_bank(real, split, rule=preset.paint_rule(), flipped=split == "train" and
                                   preset.flipped_share > 0) for split in ("train", "test")}
        manifest["textures"] = {split: {"source": bank.source, "painted_out_share": bank.suspect_share}
                                for split, bank in banks.items()}
    with output_lock(out), atomic_dir(out, replace=True) as staging:
        check_replaceable(out, "dataset")  # again under the lock: another command may have written it meanwhile
        with Progress(disable=not progress, transient=False) as bar:
            for split in ("train", "test"):
                wells = generate_split(seed, preset, split, bar, bank=banks.get(split))
                _write_split(staging, split, wells, manifest)
                for number, synth in enumerate(wells, start=1) if log_format else ():
                    write_well_log(synth.well, staging / "logs" / f"{split}_well_{number}.{log_format}")
        (staging / "synth.json").write_text(json.dumps(manifest, indent=1))
        mark(staging, "dataset")
    return out


def challenge_labels(patches: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Challenge-format label masks of ``(N, 36, 36)`` patches and which were blanked.

    Every patch with any corrupted pixel gets an empty mask, as in the challenge's
    label files; the other masks are returned as they are.
    """
    blank = corrupted_pixels(patches).reshape(len(patches), -1).any(axis=1)
    labels = masks.copy()
    labels[blank] = 0
    return labels, blank


def _write_split(root: Path, split: str, wells: list[SynthWell], manifest: dict) -> None:
    folder = root / f"x_{split}"
    folder.mkdir()
    names, masks = [], []
    for number, synth in enumerate(wells, start=1):
        patches, physical = cut(synth.well.image), cut(synth.well.mask)
        for p, patch in enumerate(patches):
            name = format_name(number, p)
            np.save(folder / f"{name}.npy", patch)
            names.append(name)
        labels, blanked = challenge_labels(patches, physical)
        masks.append(labels)
        save_well(root / "wells" / f"{split}_well_{number}.npz", synth.well)
        manifest["wells"][f"{split}_{number}"] = {
            "rows": int(synth.well.image.shape[0]),
            "width": synth.well.width,
            "kind": synth.kind,
            "texture_source_well": synth.source,
            "patches": len(patches),
            "touched_patches": synth.touched_patches.tolist(),
            "collars": synth.collars,
            "defects": len(synth.defects),
            "blanked_label_patches": int(blanked.sum()),
            "blanked_corroded_patches": int(physical[blanked].any(axis=(1, 2)).sum()),
        }
    write_submission(root / f"y_{split}.csv", names, np.concatenate(masks))

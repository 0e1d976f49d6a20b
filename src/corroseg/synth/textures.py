"""Joint textures taken from real wells, with everything corrosion-like painted out.

The real logs are the best model of what a casing looks like between defects, but
they carry real, unlabelled corrosion (about 80% of the real train patches hold
some). A texture bank keeps the real joints and removes from them every pixel a
simple, generous detector calls *suspect*:

- negative outliers: more than ``DEEP_SIGMAS`` robust standard deviations below
  the joint's median (metal loss is negative);
- narrow dips: pixels below their azimuthal neighbourhood by more than
  ``DIP_SIGMAS`` robust deviations of that contrast, averaged over ``DIP_ROWS``
  rows (grooves run along depth, so averaging along depth keeps them and drops
  noise);
- corrupted readings.

Suspect pixels, grown by one pixel, are filled with the local level of the kept
pixels plus real fine detail borrowed from a kept pixel of the same column a few
joints' worth of rows away (else a few pixels around the casing); rows that are
mostly suspect are dropped. Collar bands are cut out (the
generator draws its own collars). What a filled joint still carries is measured,
not assumed: ``docs/realism.md`` runs a trained model and a groove filter on
generated defect-free wells and on real wells.

With ``flipped=True`` a bank also keeps each joint *unpainted and sign-flipped*
(:func:`flipped_joint`): metal loss is negative, so the flip turns the real corrosion into
ridges and the texture's own ridges into faint dips that are known to be sound. The
generator can draw some train joints from those (preset field ``flipped_share``).

Real wells 9 and 10 (the false-alarm test) are never a texture source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.ndimage import binary_dilation, gaussian_filter, median_filter, uniform_filter1d

from corroseg.data.challenge import FALSE_ALARM_WELLS, read_images
from corroseg.data.corruption import corrupted_pixels
from corroseg.data.wells import assemble, infer_width
from corroseg.errors import CorrosegInputError

DEEP_SIGMAS = 3.5
DIP_SIGMAS = 2.0
DIP_ROWS = 5
DIP_WINDOW = 7
COLLAR_LEVEL = 0.08  # in: rows with a sixth of their pixels beyond it are collars
COLLAR_MARGIN = (4, 14)  # rows cut before and after a collar's first row
MIN_JOINT_ROWS = 36
MAX_SUSPECT_ROW_SHARE = 0.5
FILL_SIGMA = 2.5
DONOR_SHIFTS = np.array([-13, -9, 9, 13, -17, 17])
DEPTH_SHIFTS = np.array([-211, -151, -97, -47, 47, 97, 151, 211])


@dataclass(frozen=True)
class PaintRule:
    """What the bank paints out of a real joint.

    Local suspects: ``deep_sigmas`` robust deviations below the joint's median, or a
    narrow dip of ``dip_sigmas`` deviations averaged over ``dip_rows`` rows. With
    ``persist_rows`` (0: off), also dips that keep their azimuth across the whole well
    (:func:`persistent_dips`): ``persist_sigmas`` deviations of the contrast averaged
    over that many rows.
    """

    deep_sigmas: float = DEEP_SIGMAS
    dip_sigmas: float = DIP_SIGMAS
    dip_rows: int = DIP_ROWS
    persist_rows: int = 0
    persist_sigmas: float = 2.0


@dataclass
class TextureBank:
    """Filled real joints, grouped by source well."""

    source: str
    joints: dict[int, list[np.ndarray]] = field(default_factory=dict)  # well -> joints (rows, width), float32
    widths: dict[int, int] = field(default_factory=dict)
    suspect_share: dict[int, float] = field(default_factory=dict)  # share of pixels painted out, per well
    flipped: dict[int, list[np.ndarray]] = field(default_factory=dict)  # well -> unpainted joints, sign flipped

    @property
    def wells(self) -> list[int]:
        return sorted(self.joints)

    def rows(self, well: int) -> int:
        return sum(len(j) for j in self.joints[well])

    def well_weights(self) -> np.ndarray:
        """Chance of each source well: its share of the bank's rows times its width,
        so synthetic wells come from the real wells in the proportions of their patches."""
        sizes = np.array([self.rows(w) * self.widths[w] for w in self.wells], dtype=np.float64)
        return sizes / sizes.sum()


def _robust_std(values: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(values - np.median(values)))) + 1e-9


def _dip_contrast(x: np.ndarray, rows: int) -> np.ndarray:
    """Each pixel minus its azimuthal neighbourhood (a narrow dip is negative), averaged over ``rows`` rows."""
    neighbourhood = median_filter(x, size=(1, DIP_WINDOW), mode="wrap")
    return uniform_filter1d(x - neighbourhood, rows, axis=0, mode="nearest")


def deep_pixels(x: np.ndarray, bad: np.ndarray, sigmas: float) -> np.ndarray:
    """Pixels more than ``sigmas`` robust standard deviations below the median of the valid (``~bad``) ones."""
    good = x[~bad]
    return x < np.median(good) - sigmas * _robust_std(good)


def suspect_pixels(image: np.ndarray, rule: PaintRule | None = None) -> np.ndarray:
    """Pixels of a joint that could be corrosion (or are not readings at all)."""
    rule = rule or PaintRule()
    bad = corrupted_pixels(image)
    if bad.all():
        return bad
    x = np.where(bad, 0.0, image).astype(np.float64)
    deep = deep_pixels(x, bad, rule.deep_sigmas)
    contrast = _dip_contrast(x, rule.dip_rows)
    dip = contrast < -rule.dip_sigmas * _robust_std(contrast[~bad])
    return binary_dilation(deep | dip, structure=np.ones((3, 3), bool)) | bad


def persistent_dips(image: np.ndarray, rule: PaintRule) -> np.ndarray:
    """Pixels of a whole well under a narrow dip that keeps its azimuth over ``rule.persist_rows`` rows.

    A groove worn along the casing crosses collars at the same azimuth; a joint's own
    pattern changes at every collar. Averaged over several joints' worth of rows, the
    texture's narrow dips cancel and a faint groove stays.
    """
    bad = corrupted_pixels(image)
    x = np.where(bad, 0.0, image).astype(np.float64)
    contrast = _dip_contrast(x, min(rule.persist_rows, len(x)))
    return binary_dilation(contrast < -rule.persist_sigmas * _robust_std(contrast[~bad]),
                           structure=np.ones((3, 3), bool))


def fill_suspects(rng: np.random.Generator, image: np.ndarray, suspect: np.ndarray) -> np.ndarray:
    """Suspect pixels replaced by the local level of the kept pixels plus real detail borrowed nearby.

    The level is a normalised convolution of the kept pixels (a Gaussian of
    ``FILL_SIGMA`` px that ignores suspect ones), so a groove does not leak into it.
    The detail (image minus level) comes from the first kept donor pixel: the same
    column ``DEPTH_SHIFTS`` rows away (the joint's pattern lines up there), else the
    same row ``DONOR_SHIFTS`` pixels around the casing; where none was kept, white
    noise at the joint's fine-scale level.
    """
    kept = ~suspect
    x = np.where(kept, image, 0.0).astype(np.float64)
    weight = gaussian_filter(kept.astype(np.float64), FILL_SIGMA, mode=("nearest", "wrap"))
    level = gaussian_filter(x, FILL_SIGMA, mode=("nearest", "wrap")) / np.maximum(weight, 1e-3)
    detail = x - level
    out = np.where(kept, x, level)
    todo = suspect.copy()
    # donors along depth first (same azimuth: the joint's pattern lines up), then around the casing
    shifts = [(int(d), 0) for d in rng.permutation(DEPTH_SHIFTS)] + [(0, int(d)) for d in rng.permutation(DONOR_SHIFTS)]
    for dy, dx in shifts:
        donor_kept = np.roll(kept, (-dy, -dx), axis=(0, 1))
        # no wrapping along depth: rows whose donor lies past the joint's ends have none
        if dy > 0:
            donor_kept[len(kept) - dy :] = False
        elif dy < 0:
            donor_kept[:-dy] = False
        take = donor_kept & todo
        out[take] += np.roll(detail, (-dy, -dx), axis=(0, 1))[take]
        todo &= ~take
    if todo.any():
        noise_level = _robust_std(detail[kept]) if kept.any() else 0.0
        out[todo] += noise_level * rng.standard_normal(int(todo.sum()))
    return out


def flipped_joint(rng: np.random.Generator, joint: np.ndarray, rule: PaintRule) -> np.ndarray | None:
    """A real joint, unpainted, with its deviations' sign flipped (in); None where too little of it was logged.

    Only corrupted readings and the flipped joint's deep outliers (the real joint's
    spikes, ``rule.deep_sigmas`` robust deviations out, which would read as pits) are
    filled; its faint dips, the texture's own ridges turned over, are kept.
    """
    kept = _usable_rows(joint, corrupted_pixels(joint))
    if kept is None:
        return None
    joint, bad = kept
    x = -np.where(bad, 0.0, joint).astype(np.float64)
    suspect = binary_dilation(deep_pixels(x, bad, rule.deep_sigmas), structure=np.ones((3, 3), bool)) | bad
    return _centred(fill_suspects(rng, x, suspect))


def _usable_rows(joint: np.ndarray, suspect: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The joint and its suspect mask without rows mostly suspect; None if too few rows are left."""
    keep_rows = suspect.mean(axis=1) <= MAX_SUSPECT_ROW_SHARE
    return None if keep_rows.sum() < MIN_JOINT_ROWS else (joint[keep_rows], suspect[keep_rows])


def _centred(filled: np.ndarray) -> np.ndarray:
    """A filled joint with every row at zero mean, as the bank keeps it (in, float32)."""
    return (filled - filled.mean(axis=1, keepdims=True)).astype(np.float32)


def joint_rows(image: np.ndarray) -> list[slice]:
    """Row ranges between collar bands."""
    values = np.where(corrupted_pixels(image), 0.0, image)
    strong = (np.abs(values) > COLLAR_LEVEL).sum(axis=1) >= image.shape[1] // 6
    cut = np.zeros(len(image), dtype=bool)
    for row in np.flatnonzero(strong):
        cut[max(0, row - COLLAR_MARGIN[0]) : row + COLLAR_MARGIN[1]] = True
    edges = np.flatnonzero(np.diff(np.r_[True, cut, True].astype(np.int8)))
    return [slice(a, b) for a, b in zip(edges[::2], edges[1::2]) if b - a >= MIN_JOINT_ROWS]


def build_bank(path: str | Path, split: str = "train", exclude=FALSE_ALARM_WELLS,
               rule: PaintRule | None = None, flipped: bool = False) -> TextureBank:
    """Texture bank of a real dataset's split; ``exclude`` wells never enter it; ``rule``: what is painted out.

    With ``flipped`` the bank also keeps every joint unpainted and sign-flipped (:func:`flipped_joint`).
    Deterministic: the fill noise of each well is seeded by the well's number.
    """
    images = read_images(path, split)
    bank = TextureBank(source=f"{path} ({split})")
    rule = rule or PaintRule()
    for well in images.well_ids():
        if split == "train" and well in exclude:
            continue
        patches = images.of_well(well)
        width = infer_width(patches)
        image = assemble(patches, width)
        split_key = 1 if split == "test" else 0
        rng = np.random.default_rng([well, split_key])
        flip_rng = np.random.default_rng([well, split_key, 2])  # apart: the painted joints keep theirs
        joints, painted, total, flips = [], 0, 0, []
        persistent = persistent_dips(image, rule) if rule.persist_rows else np.zeros(image.shape, bool)
        for rows in joint_rows(image):
            joint = image[rows]
            if flipped and (flip := flipped_joint(flip_rng, joint, rule)) is not None:
                flips.append(flip)
            suspect = suspect_pixels(joint, rule) | persistent[rows]
            if width == 72:  # both halves sample one circumference: paint the same azimuths in both
                suspect = np.tile(suspect[:, :36] | suspect[:, 36:], 2)
            kept = _usable_rows(joint, suspect)
            if kept is None:
                continue
            joint, suspect = kept
            joints.append(_centred(fill_suspects(rng, joint, suspect)))
            painted += int(suspect.sum())
            total += suspect.size
        if joints:
            bank.joints[well], bank.widths[well] = joints, width
            bank.suspect_share[well] = painted / total
        if flips:
            bank.flipped[well] = flips
    if not bank.joints:
        raise CorrosegInputError(path, f"no usable real joints in its {split} images for a texture bank")
    return bank


def draw_casing(rng: np.random.Generator, bank: TextureBank, well: int, rows: int,
                gain: tuple[float, float] = (1.0, 1.0), flipped_share: float = 0.0) -> tuple[np.ndarray, list[int]]:
    """A casing of ``rows`` rows from one source well's joints; where each joint starts.

    Joints are drawn with replacement, each turned by a random azimuthal roll and
    random flips along depth and azimuth (per 36 px circumference); a long joint contributes a random stretch
    of at most the rows still needed. With ``gain`` other than (1, 1) each joint's deviations (in) are
    scaled by a factor drawn log-uniformly in that range (drawn after the joint's other draws, so the
    default keeps a seed's wells). With ``flipped_share`` above 0 each joint is drawn with that chance
    from the bank's unpainted, sign-flipped joints (a random number drawn first; none at 0).
    """
    if not 0.0 <= flipped_share <= 1.0:
        raise ValueError(f"flipped_share={flipped_share}: a share, between 0 and 1")
    if flipped_share > 0 and not bank.flipped.get(well):
        raise ValueError(f"flipped_share={flipped_share}: the bank holds no flipped joints of well {well}")
    pieces, starts, filled = [], [], 0
    while filled < rows:
        joints = bank.flipped[well] if flipped_share > 0 and rng.random() < flipped_share else bank.joints[well]
        joint = joints[int(rng.integers(len(joints)))]
        take = min(len(joint), rows - filled)
        first = int(rng.integers(0, len(joint) - take + 1))
        piece = joint[first : first + take]
        if rng.random() < 0.5:
            piece = piece[::-1]
        # turn and mirror each 36 px circumference on its own: a 72 px log holds two
        # samplings of one circumference, and a window across them would not be one
        halves = np.split(piece, piece.shape[1] // 36, axis=1)
        mirror, turn = rng.random() < 0.5, int(rng.integers(36))
        piece = np.concatenate([np.roll(h[:, ::-1] if mirror else h, turn, axis=1) for h in halves], axis=1)
        if tuple(gain) != (1.0, 1.0):  # a list from a manifest counts as the same default
            piece = piece * float(np.exp(rng.uniform(np.log(gain[0]), np.log(gain[1]))))
        pieces.append(piece)
        starts.append(filled)
        filled += take
    return np.concatenate(pieces).astype(np.float64), starts

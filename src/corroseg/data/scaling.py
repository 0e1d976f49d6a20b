"""Robust normalisation of patches with scikit-learn's RobustScaler, saved as JSON.

Modes
-----
``global``
    One median and IQR over every valid pixel of the training set.
``per_pixel``
    The paper's: RobustScaler fitted on the ``(N, 1296)`` matrix of flattened
    training patches, one median/IQR per pixel position.
``per_patch``
    The challenge benchmark's: every patch scaled by its own median/IQR; nothing
    is learnt from the training set.

Corrupted pixels are NaN during fitting (RobustScaler ignores NaN), so placeholders
never shift the statistics; they stay NaN after ``transform``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.preprocessing import RobustScaler, robust_scale

from corroseg.atomic import atomic_path
from corroseg.data.corruption import corrupted_pixels
from corroseg.errors import CorrosegInputError

MODES = ("global", "per_pixel", "per_patch")
PATCH_SIZE = 36
_FORMAT = "corroseg-robust-scaler/1"


def _with_nan(patches: np.ndarray) -> np.ndarray:
    patches = np.asarray(patches, dtype=np.float64)
    return np.where(corrupted_pixels(patches), np.nan, patches)


class PatchScaler:
    """Fit on training patches, transform any patches, save and reload as JSON.

    Parameters
    ----------
    mode : {"global", "per_pixel", "per_patch"}
    quantile_range : tuple of float
        Percentiles whose distance is the scale (IQR by default).
    """

    def __init__(self, mode: str = "per_pixel", quantile_range: tuple[float, float] = (25.0, 75.0)):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.quantile_range = tuple(float(q) for q in quantile_range)
        self.scaler_: RobustScaler | None = None

    def _matrix(self, patches: np.ndarray) -> np.ndarray:
        flat = _with_nan(patches).reshape(len(patches), -1)
        return flat.reshape(-1, 1) if self.mode == "global" else flat

    def fit(self, patches: np.ndarray) -> PatchScaler:
        """Learn the statistics from training patches ``(N, H, W)``."""
        if self.mode != "per_patch":
            self.scaler_ = RobustScaler(quantile_range=self.quantile_range).fit(self._matrix(patches))
        return self

    def transform(self, patches: np.ndarray) -> np.ndarray:
        """Scaled float32 copy of ``patches``; corrupted pixels become NaN."""
        patches = np.asarray(patches)
        if self.mode == "per_patch":
            flat = _with_nan(patches).reshape(len(patches), -1)
            scaled = robust_scale(flat, axis=1, quantile_range=self.quantile_range)
        else:
            if self.scaler_ is None:
                raise RuntimeError("PatchScaler.transform called before fit")
            scaled = self.scaler_.transform(self._matrix(patches))
        return scaled.reshape(patches.shape).astype(np.float32)

    def transform_well(self, image: np.ndarray) -> np.ndarray:
        """Scale a whole well ``(rows, 36 or 72)`` exactly as its challenge patches would be.

        ``global`` scales pixel by pixel; ``per_pixel`` and ``per_patch`` work on the
        well's 36x36 patches (rows past the last whole patch are scaled with the last
        patch's rows repeated, then dropped).
        """
        image = np.asarray(image, dtype=np.float32)
        if image.ndim != 2 or image.shape[1] % PATCH_SIZE:
            raise ValueError(f"well image must be (rows, 36 or 72), got {image.shape}")
        if self.mode == "global":
            return self.transform(image[None])[0]
        rows = image.shape[0]
        pad = (-rows) % PATCH_SIZE
        padded = np.pad(image, ((0, pad), (0, 0)), mode="edge") if pad else image
        width = padded.shape[1]
        blocks = padded.reshape(-1, PATCH_SIZE, width // PATCH_SIZE, PATCH_SIZE).transpose(0, 2, 1, 3)
        scaled = self.transform(blocks.reshape(-1, PATCH_SIZE, PATCH_SIZE))
        back = scaled.reshape(-1, width // PATCH_SIZE, PATCH_SIZE, PATCH_SIZE).transpose(0, 2, 1, 3)
        return back.reshape(-1, width)[:rows]

    def fit_transform(self, patches: np.ndarray) -> np.ndarray:
        return self.fit(patches).transform(patches)

    def to_dict(self) -> dict:
        state = {"format": _FORMAT, "mode": self.mode, "quantile_range": list(self.quantile_range)}
        if self.scaler_ is not None:
            state["center"] = self.scaler_.center_.tolist()
            state["scale"] = self.scaler_.scale_.tolist()
        return state

    @classmethod
    def from_dict(cls, state: dict) -> PatchScaler:
        scaler = cls(state["mode"], tuple(state["quantile_range"]))
        if "center" in state:
            fitted = RobustScaler(quantile_range=scaler.quantile_range)
            fitted.center_ = np.asarray(state["center"], dtype=np.float64)
            fitted.scale_ = np.asarray(state["scale"], dtype=np.float64)
            fitted.n_features_in_ = len(fitted.center_)
            scaler.scaler_ = fitted
        return scaler

    def save(self, path: str | Path) -> Path:
        """Write the scaler as JSON (no pickle: safe to load from anywhere)."""
        path = Path(path)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict()))
        return path

    @classmethod
    def load(cls, path: str | Path) -> PatchScaler:
        path = Path(path)
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            raise CorrosegInputError(path, "no such file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CorrosegInputError(path, f"not a JSON file ({exc})") from None
        if not isinstance(state, dict) or state.get("format") != _FORMAT or state.get("mode") not in MODES:
            raise CorrosegInputError(path, "not a corroseg scaler file")
        try:
            scaler = cls.from_dict(state)
        except (KeyError, TypeError, ValueError) as exc:
            raise CorrosegInputError(path, f"damaged scaler file ({type(exc).__name__}: {exc})") from None
        problem = scaler._state_problem()
        if problem:
            raise CorrosegInputError(path, f"damaged scaler file ({problem})")
        return scaler

    def _state_problem(self) -> str | None:
        """What is wrong with loaded statistics (their count for the mode), if anything."""
        expected = {"global": 1, "per_pixel": PATCH_SIZE * PATCH_SIZE}.get(self.mode)
        if expected is None:  # per_patch learns nothing
            return None
        if self.scaler_ is None:
            return f"mode {self.mode} needs its fitted centre and scale"
        sizes = self.scaler_.center_.shape, self.scaler_.scale_.shape
        if sizes != ((expected,), (expected,)):
            return f"mode {self.mode} needs {expected} centre and scale values, got shapes {sizes[0]} and {sizes[1]}"
        if not (np.isfinite(self.scaler_.center_).all() and np.isfinite(self.scaler_.scale_).all()):
            return "a centre or scale is not a finite number"
        if not (self.scaler_.scale_ > 0).all():  # a fitted RobustScaler never has one (it uses 1 for a zero spread)
            return "a scale is zero or negative"
        return None

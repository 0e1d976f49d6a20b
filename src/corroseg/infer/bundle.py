"""A trained run as a predictor: config, scaler and weights from the run folder; no Lightning.

>>> predictor = Predictor.from_run("runs/demo")          # or load_predictor(RUNS, PredictOptions(...))
>>> probability = predictor.predict_well(image)          # (rows, width), NaN where no data
>>> masks = predictor.patch_masks(patch_images)           # challenge patches -> 0/1 masks
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from corroseg.data.challenge import PATCH_SIZE, PatchImages
from corroseg.data.corruption import CorruptionPolicy, corrupted_pixels
from corroseg.data.scaling import PatchScaler
from corroseg.data.wells import WidthOverride, cut, well_from_patches
from corroseg.errors import CorrosegInputError, CorrosegUserError
from corroseg.infer.options import PredictOptions
from corroseg.infer.postprocess import RandomWalker
from corroseg.infer.tta import TTAPredictor
from corroseg.infer.tiles import predict_well
from corroseg.models import create
from corroseg.models.budget import check_memory
from corroseg.train.config import CONFIG, SCALER, WEIGHTS, TrainConfig, read_config
from corroseg.train.rundir import RunDir


SCALE_ROWS = 512 * PATCH_SIZE
"""Rows of a well scaled at a time (:meth:`Predictor.scaled`)."""



def load_run_model(run: str | Path) -> tuple[torch.nn.Module, TrainConfig]:
    """The torch model (eval mode, weights loaded) and configuration of a run folder."""
    run = Path(run)
    if not run.is_dir():
        raise CorrosegInputError(run, "no such run folder")
    for name in (CONFIG, WEIGHTS):
        if not (run / name).is_file():
            raise CorrosegInputError(run / name, "missing: not a finished corroseg run (train it, or --resume it)")
    config = read_config(run / CONFIG)
    try:
        weights = load_file(str(run / WEIGHTS))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CorrosegInputError(run / WEIGHTS, f"unreadable weights file ({exc})") from None
    options = {k: v for k, v in config.model_options.items() if k != "pretrained"}
    try:
        check_memory(config.model, options, 1, config.predict_rows, 72, training=False, what="model_options")
        model = create(config.model, **options)
    except CorrosegUserError as exc:  # a model or option this version does not know, or one too large
        raise CorrosegInputError(run / CONFIG, str(exc)) from None
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        problem = str(exc).splitlines()[0]
        raise CorrosegInputError(run / WEIGHTS, f"weights do not fit model {config.model} ({problem})") from None
    damaged = [name for name, tensor in weights.items() if tensor.is_floating_point() and not tensor.isfinite().all()]
    if damaged:
        raise CorrosegInputError(run / WEIGHTS, f"{len(damaged)} weight tensors hold NaN or inf (first: {damaged[0]}); "
                                                "the training diverged or the file is damaged")
    return model.eval(), config


class TorchModel:
    """A torch module as a predictor callable: ``(N, 1, H, W) float32 -> logits`` (numpy), on ``device``."""

    def __init__(self, model: torch.nn.Module, channels_last: bool = False, bf16: bool = False,
                 device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self.channels_last = channels_last
        self.bf16 = bf16
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = self.model(x)
        return logits.float().cpu().numpy()


def torch_device(name: str) -> torch.device:
    """The torch device of a ``--device`` value; one line when this machine has no such device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise CorrosegUserError(f"--device {name}: torch sees no CUDA device on this machine (use --device cpu)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise CorrosegUserError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


class WellPredictor(ABC):
    """What every predictor of wells offers: probabilities, masks, and challenge patches.

    Subclasses define :meth:`predict_well` and set ``threshold`` and ``policy``;
    ``postprocess`` (optional) turns a well's image and probability into its mask
    instead of the plain threshold (e.g. :class:`corroseg.infer.postprocess.RandomWalker`).
    """

    threshold: float
    policy: CorruptionPolicy
    postprocess: Callable[[np.ndarray, np.ndarray, float], np.ndarray] | None = None
    sensitivity: dict | None = None
    """How faint a groove its masks find (:mod:`corroseg.infer.sensitivity`), when measured for these options."""

    @abstractmethod
    def predict_well(self, image: np.ndarray) -> np.ndarray:
        """Probability of corrosion ``(rows, width)`` float32; NaN where there is no reading."""

    def well_mask(self, probability: np.ndarray) -> np.ndarray:
        """0/1 mask of a well's probability by the threshold; no-data pixels are never corrosion."""
        return (np.nan_to_num(probability, nan=0.0) >= self.threshold).astype(np.uint8)

    def segment_well(self, image: np.ndarray, probability: np.ndarray | None = None) -> np.ndarray:
        """0/1 corrosion mask ``(rows, width)`` of a raw well image (post-processed if set).

        ``probability`` (from :meth:`predict_well`) saves predicting the well again.
        """
        if probability is None:
            probability = self.predict_well(image)
        if self.postprocess is None:
            return self.well_mask(probability)
        filled, _ = self.policy.clean(np.asarray(image, dtype=np.float32))
        return self.postprocess(filled, probability, self.threshold)

    def predict_patches(self, images: PatchImages, widths: WidthOverride | None = None) -> np.ndarray:
        """Probabilities ``(N, 36, 36)`` of challenge patches, each predicted inside its whole well.

        Patches are regrouped into wells (width inferred as ``inspect`` does, or
        from ``widths``), each well is predicted whole and cut back, so a patch sees
        its neighbours above, below and around.
        """
        out = np.zeros(images.images.shape, np.float32)
        for well in images.well_ids():
            rebuilt = well_from_patches(images, well, widths)
            out[rebuilt.rows] = cut(self.predict_well(rebuilt.image))
        return out

    def patch_masks(self, images: PatchImages, probability: np.ndarray | None = None,
                    blank_corrupted: bool = True, widths: WidthOverride | None = None) -> np.ndarray:
        """0/1 masks of challenge patches, in the challenge's convention.

        Each well is segmented whole (:meth:`segment_well`). ``probability`` (from
        :meth:`predict_patches`) saves predicting again. ``blank_corrupted`` (default)
        empties every patch holding a corrupted pixel: the challenge's labels are empty
        on exactly those patches (see docs/training.md).
        """
        masks = np.zeros(images.images.shape, np.uint8)
        for well in images.well_ids():
            rebuilt = well_from_patches(images, well, widths)
            known = None if probability is None else rebuilt.assemble(probability)
            masks[rebuilt.rows] = cut(self.segment_well(rebuilt.image, known))
        if blank_corrupted:
            masks[corrupted_pixels(images.images).reshape(len(masks), -1).any(axis=1)] = 0
        return masks


@dataclass
class Predictor(WellPredictor):
    """Predicts corrosion probabilities for whole wells and challenge patches.

    Attributes
    ----------
    model : callable
        The predictor callable ``(N, 1, H, W) -> logits``.
    scaler : PatchScaler
        Fitted on the training wells; never re-fitted here.
    config : TrainConfig
        The run's configuration (window sizes, threshold).
    """

    model: object
    scaler: PatchScaler
    config: TrainConfig
    policy: CorruptionPolicy = CorruptionPolicy()
    batch_size: int = 16
    threshold: float = 0.5
    postprocess: Callable[[np.ndarray, np.ndarray, float], np.ndarray] | None = None

    options: PredictOptions | None = None
    """The resolved options it was loaded with (None when built by hand)."""

    @classmethod
    def from_run(cls, run: str | Path, options: PredictOptions | None = None, **fields) -> Predictor:
        """Load one run folder written by ``corroseg train`` (use :func:`corroseg.infer.ensemble.load_predictor`
        for folds and ensembles).

        ``options`` (or its fields as keywords: ``threshold``, ``tta``, ``engine``,
        ``random_walker``, ``threads``, ``bf16``) are resolved against the run's config
        (:class:`corroseg.infer.options.PredictOptions`). Engine ``onnx`` runs
        ``RUN/model.onnx`` from ``corroseg export`` (or an in-memory export checked
        against torch); ``auto`` takes it where the run has an up-to-date one.
        """
        options = replace(options or PredictOptions(), **fields).resolve([run])
        run = Path(run)
        if not (run / SCALER).is_file() and run.is_dir():
            raise CorrosegInputError(run / SCALER, "missing: not a finished corroseg run (train it, or --resume it)")
        model, config = load_run_model(run)
        scaler = PatchScaler.load(run / SCALER)
        if options.threads:
            torch.set_num_threads(options.threads)
        device = torch_device(options.device)
        engine = options.engine
        if engine == "auto":
            engine = "onnx" if RunDir(run).has_fresh_onnx and not options.bf16 and device.type == "cpu" else "torch"
        if engine == "onnx":
            from corroseg.infer.onnx import onnx_model_for_run  # ONNX Runtime loads only when asked for

            predictor = onnx_model_for_run(run, model, options.threads)
        else:
            predictor = TorchModel(model, bf16=options.bf16, device=device)
        if options.tta:
            transforms = ["identity", "flip_depth", "flip_azimuth"]
            if config.window != "patch":  # a half-turn roll is exact on the whole circumference only
                transforms.append("roll")
            predictor = TTAPredictor(predictor, transforms)
        walker = RandomWalker.from_config(config) if options.random_walker else None
        return cls(predictor, scaler, config, threshold=options.threshold, postprocess=walker, options=options)

    def scaled(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scaled, filled image and validity of a raw well image.

        Done :data:`SCALE_ROWS` rows at a time (whole 36-row patches, so per-patch
        scalers see the same blocks), so the scaler's temporaries stay the size of one
        block however long the well is.
        """
        scaled = np.empty(image.shape, np.float32)
        valid = np.empty(image.shape, bool)
        for start in range(0, image.shape[0], SCALE_ROWS):
            part = slice(start, start + SCALE_ROWS)
            filled, valid[part] = self.policy.clean(np.asarray(image[part], dtype=np.float32))
            scaled[part] = np.nan_to_num(self.scaler.transform_well(filled), nan=0.0)
        return scaled, valid

    def predict_well(self, image: np.ndarray) -> np.ndarray:
        """Probability of corrosion ``(rows, width)`` float32; NaN where there is no reading.

        The well is processed in overlapping windows along depth (the run's
        ``predict_rows`` / ``predict_overlap``), ``batch_size`` windows at a time.
        """
        image = np.asarray(image, dtype=np.float32)
        if image.ndim != 2 or image.shape[1] % PATCH_SIZE:
            raise ValueError(f"a well image is (rows, 36 or 72), got {image.shape}")
        scaled, valid = self.scaled(image)
        cfg = self.config
        probability = predict_well(self.model, scaled, cfg.predict_rows, cfg.predict_overlap, self.batch_size,
                                   patch_columns=cfg.window == "patch")
        probability[~valid] = np.nan
        return probability

"""Training configuration: one frozen dataclass, named presets, YAML files and ``key=value`` overrides.

>>> cfg = load_config("paper", ["max_epochs=3", "model_options.skip=add"])

Unknown keys are rejected by name (with the closest known key as a hint), values are
checked for type and range, and the resolved configuration is saved in every run
directory as YAML, so a run can be reproduced and predicted from its folder alone.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from corroseg.atomic import atomic_path
from corroseg.errors import CorrosegInputError, CorrosegUserError
from corroseg.train.rundir import CONFIG, DATA, METRICS, SCALER, WEIGHTS  # noqa: F401 - the run's file names

EXPANSIONS = ("none", "hflip", "vflip", "hvflip")
"""Deterministic copies of the paper's dataset expansion: raw, flips, composed flips."""

FORMAT = "corroseg-train-config/1"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides how a model is trained and how its run predicts; the defaults are our recipe.

    Model and loss
        ``model`` (registry name) and ``model_options``; ``loss`` (a spec such as
        ``"bce + iou"``) and ``loss_options``.
    Optimisation
        ``optimizer`` (adam, adamw), ``lr``, ``weight_decay``, ``scheduler`` (none or
        cosine over ``max_epochs``), ``batch_size`` (windows per step), ``max_epochs``,
        ``max_time`` (seconds of training, None = no limit), ``max_cpu_time`` (seconds of
        this process's CPU time, all threads: a budget that other load on a shared machine
        does not shrink; None = no limit), ``patience`` (epochs
        without a better validation metric before stopping, 0 = never), ``ema_decay``
        (in [0, 1): validate, select and save an exponential moving average of the weights,
        updated every step with this decay, Lightning's ``EMAWeightAveraging``; 0 = off).
    Data
        ``window`` = ``well`` (windows of ``window_rows`` rows across the whole
        circumference, cut anywhere in a whole well) or ``patch`` (the challenge's 36x36
        patches); ``windows_per_epoch`` (None: enough to cover the training pixels
        once); random ``flips`` and azimuth ``roll``; ``cutmix``, the probability that a
        training batch gets CutMix (a random box of each window, image, mask and
        learnable pixels alike, taken from another window of the batch); ``expansion``, the paper's
        deterministic copies of every patch; ``scaler`` (global, per_pixel, per_patch);
        ``labels`` (auto, wells, patches: learn from physical whole-well masks or from
        challenge-format labels, whose corrupted patches stay out of the loss);
        ``max_corrupted_fraction`` (patch mode: patches with more corrupted pixels are
        dropped); ``val_wells`` or ``val_fraction`` (a split by well); ``exclude_wells``
        (``auto``: the real false-alarm wells 9 and 10 unless the data is a corroseg
        synthetic dataset).
    Learning from unlabelled real wells (semi-supervised, off by default)
        ``unlabelled``: a challenge-format folder of real images (its ``x_train`` wells but
        the false-alarm wells 9 and 10, and its ``x_test`` wells); each step also draws a
        batch of their windows. A mean teacher (the model's exponential moving average,
        ``teacher_decay``) labels them; the model, shown the same windows with noise and a
        random gain, learns the teacher's answer where it is at least ``pseudo_confidence``
        sure, with weight ``unlabelled_weight`` (ramped up over the first epochs).
    Engineering
        ``seed``, ``deterministic``, ``precision`` (32 or bf16-mixed),
        ``channels_last``, ``threads``, ``num_workers``, ``accelerator``, ``devices``,
        ``num_nodes`` (machines of a multi-machine run, docs/fleet.md), ``strategy``.
    Fine-tuning (the paper's ResNet-50 encoder)
        ``unfreeze_every``: with a pretrained encoder (``model_options.pretrained``),
        start frozen and unfreeze one more encoder block every N epochs (0 = train
        everything from the start).
    Prediction
        ``threshold`` on the probability, ``predict_rows`` and ``predict_overlap``:
        the sliding windows along depth; ``tta`` (on by default): average the probabilities
        over flips along depth and azimuth and a half-turn azimuth roll (4x the inference cost);
        ``postprocess``: ``random_walker`` (the paper's, our default: pixels with
        probability >= ``walker_high`` seed corrosion, <= ``walker_low`` background, the
        rest labelled by a random walk on the image with edge penalty ``walker_beta``), or
        ``threshold`` alone.
    """

    preset: str = "default"
    model: str = "wellnet"
    # evidence along depth tells a faint groove (it keeps its azimuth across collars) from texture: docs/training.md
    model_options: dict = field(default_factory=lambda: {"depth_context": [145, 575]})
    loss: str = "bce + iou"
    loss_options: dict = field(default_factory=dict)
    optimizer: str = "adamw"
    lr: float = 3e-3
    weight_decay: float = 1e-4
    scheduler: str = "cosine"
    batch_size: int = 8
    # 10 epochs over the default synthetic preset's 30 train wells (about 1.4x the steps of 20 over 15 wells)
    max_epochs: int = 10
    max_time: float | None = None
    max_cpu_time: float | None = None
    patience: int = 6
    ema_decay: float = 0.0
    window: str = "well"
    window_rows: int = 576  # one or two collars at the real wells' collar spacing
    windows_per_epoch: int | None = None
    flips: bool = True
    roll: bool = True
    cutmix: float = 0.0
    expansion: tuple = ("none",)
    scaler: str = "global"
    labels: str = "auto"
    max_corrupted_fraction: float = 1.0
    val_wells: tuple | None = None
    val_fraction: float = 0.2
    exclude_wells: Any = "auto"
    seed: int = 0
    deterministic: bool = True
    precision: str = "32"
    channels_last: bool = False
    threads: int | None = None
    num_workers: int = 0
    accelerator: str = "auto"
    devices: Any = 1
    num_nodes: int = 1
    strategy: str = "auto"
    unfreeze_every: int = 0
    unlabelled: str | None = None
    unlabelled_weight: float = 1.0
    teacher_decay: float = 0.99
    pseudo_confidence: float = 0.9
    threshold: float = 0.5
    predict_rows: int = 576
    predict_overlap: int = 72
    tta: bool = True
    postprocess: str = "random_walker"
    walker_low: float = 0.1
    walker_high: float = 0.9
    walker_beta: float = 130.0

    def __post_init__(self):
        _check_types(self)
        for name in ("expansion", "val_wells"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        if isinstance(self.exclude_wells, list):
            object.__setattr__(self, "exclude_wells", tuple(self.exclude_wells))
        choices = {
            "optimizer": ("adam", "adamw"),
            "scheduler": ("none", "cosine"),
            "window": ("well", "patch"),
            "scaler": ("global", "per_pixel", "per_patch"),
            "labels": ("auto", "wells", "patches"),
            "precision": ("32", "bf16-mixed", "16-mixed"),
            "postprocess": ("threshold", "random_walker"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise CorrosegUserError(f"config {name}={getattr(self, name)!r}: choose from {', '.join(allowed)}")
        bad = [e for e in self.expansion if e not in EXPANSIONS]
        if bad or not self.expansion:
            raise CorrosegUserError(f"config expansion={list(self.expansion)}: items from {', '.join(EXPANSIONS)}")
        positive = ("lr", "batch_size", "max_epochs", "window_rows", "predict_rows", "num_nodes")
        for name in positive:
            if getattr(self, name) <= 0:
                raise CorrosegUserError(f"config {name}={getattr(self, name)}: must be > 0")
        if self.window_rows % 36 or self.predict_rows % 36:
            raise CorrosegUserError("config window_rows and predict_rows must be multiples of 36 (whole patches)")
        if self.window == "patch" and self.window_rows != 36:
            raise CorrosegUserError("config window=patch needs window_rows=36")
        if not 0 <= self.predict_overlap < self.predict_rows:
            raise CorrosegUserError("config predict_overlap must be in [0, predict_rows)")
        if not 0.0 < self.threshold < 1.0:
            raise CorrosegUserError(f"config threshold={self.threshold}: must be in (0, 1)")
        if not 0.0 < self.walker_low < self.walker_high < 1.0 or self.walker_beta <= 0:
            raise CorrosegUserError(f"config walker_low={self.walker_low}, walker_high={self.walker_high}, "
                                    f"walker_beta={self.walker_beta}: need 0 < low < high < 1 and beta > 0")
        if not 0.0 < self.val_fraction < 1.0:
            raise CorrosegUserError(f"config val_fraction={self.val_fraction}: must be in (0, 1)")
        if not 0.0 <= self.max_corrupted_fraction <= 1.0:
            raise CorrosegUserError("config max_corrupted_fraction must be in [0, 1]")
        if not 0.0 <= self.ema_decay < 1.0:
            raise CorrosegUserError(f"config ema_decay={self.ema_decay}: in [0, 1) (0 = no weight averaging)")
        if not 0.0 <= self.cutmix <= 1.0:
            raise CorrosegUserError(f"config cutmix={self.cutmix}: a probability, in [0, 1]")
        if self.exclude_wells != "auto" and not isinstance(self.exclude_wells, tuple):
            raise CorrosegUserError("config exclude_wells: 'auto' or a list of well numbers")
        if self.unlabelled_weight < 0 or not 0.0 < self.teacher_decay < 1.0 or not 0.5 < self.pseudo_confidence < 1.0:
            raise CorrosegUserError(f"config unlabelled_weight={self.unlabelled_weight}, teacher_decay="
                                    f"{self.teacher_decay}, pseudo_confidence={self.pseudo_confidence}: need a weight "
                                    ">= 0, a decay in (0, 1) and a confidence in (0.5, 1)")
        for name in ("patience", "unfreeze_every", "num_workers"):
            if getattr(self, name) < 0:
                raise CorrosegUserError(f"config {name} must be >= 0")
        _check_numbers(self)

    def to_dict(self) -> dict:
        """Plain YAML-friendly dict (tuples as lists)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def _allowed_types(annotation: str) -> tuple[type, ...] | None:
    """Python types accepted for a field annotation (a string here: postponed annotations); None: anything."""
    table = {
        "str": (str,), "int": (int,), "float": (float, int), "bool": (bool,), "dict": (dict,),
        "tuple": (tuple, list), "float | None": (float, int, type(None)), "int | None": (int, type(None)),
        "tuple | None": (tuple, list, type(None)), "str | None": (str, type(None)),
    }
    return table.get(annotation)


def _check_types(cfg: TrainConfig) -> None:
    for f in fields(cfg):
        allowed = _allowed_types(f.type)
        value = getattr(cfg, f.name)
        if allowed is None:
            continue
        if isinstance(value, bool) and bool not in allowed:
            raise CorrosegUserError(f"config {f.name}={value!r}: expected {f.type}")
        if not isinstance(value, allowed):
            raise CorrosegUserError(f"config {f.name}={value!r}: expected {f.type}, got {type(value).__name__}")


SEED_RANGE = (0, 2**32 - 1)
"""Seeds numpy (and so Lightning's ``seed_everything``) accepts."""


def _check_numbers(cfg: TrainConfig) -> None:
    """Numbers the checks of ``__post_init__`` let through but training would choke on."""
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise CorrosegUserError(f"config {f.name}={value}: must be a finite number")
    if not SEED_RANGE[0] <= cfg.seed <= SEED_RANGE[1]:
        raise CorrosegUserError(f"config seed={cfg.seed}: must be in [0, 2**32 - 1]")
    for name in ("threads", "windows_per_epoch", "max_time", "max_cpu_time"):
        value = getattr(cfg, name)
        if value is not None and value <= 0:
            raise CorrosegUserError(f"config {name}={value}: must be > 0 (or null: not set)")


PRESETS: dict[str, dict] = {
    "default": {},  # the dataclass's own defaults
    "paper": {
        "preset": "paper",
        "model": "corroseg",
        "model_options": {"skip": "cat", "decoder_bn": True, "dropout": "none"},
        "loss": "iou",
        "optimizer": "adam",
        "lr": 1e-4,
        "weight_decay": 1e-3,
        "scheduler": "none",
        "batch_size": 128,
        "max_epochs": 100,
        "patience": 10,
        "window": "patch",
        "window_rows": 36,
        "flips": False,
        "roll": False,
        "expansion": ["none", "hflip", "vflip", "hvflip"],
        "scaler": "per_pixel",
        "labels": "patches",
        "max_corrupted_fraction": 0.0,
        "unfreeze_every": 0,
        "predict_rows": 36,
        "predict_overlap": 0,
    },
}
"""Named presets, as changes to the dataclass defaults: ``default`` is our recipe (WellNet on
whole-well windows: the defaults themselves); ``paper`` is the seed paper's final CorroSeg recipe
(cat skips, decoder BN, smooth IoU, Adam 1e-4, weight decay 1e-3, batch 128, 4-transform
expansion, per-pixel RobustScaler, corrupted patches dropped, 100 epochs with early stopping)."""


def known_keys() -> list[str]:
    return [f.name for f in fields(TrainConfig)]


def _suggest(key: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(key, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_override(text: str) -> tuple[str, Any]:
    """``"lr=1e-3"`` -> ``("lr", 0.001)``; values are parsed as YAML scalars or lists."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise CorrosegUserError(f"override {text!r}: expected key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        raise CorrosegUserError(f"override {text!r}: value is not valid YAML") from None
    return key, value


def _field_default(name: str) -> Any:
    return getattr(TrainConfig(), name)  # the ``default`` preset's value


def _apply(values: dict, key: str, value: Any, origin: str) -> None:
    top, _, sub = key.partition(".")
    keys = known_keys()
    if top not in keys:
        raise CorrosegUserError(f"{origin}: unknown config key {top!r}{_suggest(top, keys)}")
    if sub:
        if top not in ("model_options", "loss_options"):
            raise CorrosegUserError(f"{origin}: {top} has no sub-keys (only model_options.* and loss_options.*)")
        values[top] = {**(values[top] if top in values else _field_default(top)), sub: value}
    else:
        if top == "model" and value != values.get("model", TrainConfig.model):
            values["model_options"] = {}  # the previous model's options mean nothing to this one
        values[top] = value


def _coerce(values: dict) -> dict:
    """YAML reads ``1e-3`` as a string and ``32`` as an int; fix what is unambiguous."""
    types = {f.name: f.type for f in fields(TrainConfig)}
    out = dict(values)
    for key, value in values.items():
        kind = str(types.get(key))
        if "float" in kind and isinstance(value, str):
            try:
                out[key] = float(value)
            except ValueError:
                pass
        if key == "precision" and isinstance(value, int):
            out[key] = str(value)
        if key in LIST_KEYS:  # one list syntax on the command line: 2,7 as well as [2,7]
            if isinstance(value, str) and "," in value:
                out[key] = [yaml.safe_load(item) for item in value.split(",") if item.strip()]
            elif isinstance(value, int) and not isinstance(value, bool) or key == "expansion" and isinstance(value, str):
                out[key] = [value]
    return out


LIST_KEYS = ("val_wells", "exclude_wells", "expansion")
"""Config keys holding lists: ``val_wells=2,7``, ``val_wells=[2,7]`` and ``val_wells=7`` all work."""


def read_yaml(path: str | Path) -> dict:
    """A config YAML file as a dict (a mapping of known keys)."""
    return _read_config_file(path)[0]


def _read_config_file(path: str | Path) -> tuple[dict, bool]:
    """The file's keys, and whether :func:`save_config` wrote it (it carries ``format``): a run's
    complete config then, not a sketch on top of a preset."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise CorrosegInputError(path, "no such file") from None
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:  # bad tags raise ValueError, too
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise CorrosegInputError(path, f"not a readable YAML file ({reason})") from None
    if data is None:
        return {}, False
    if not isinstance(data, dict):
        raise CorrosegInputError(path, "a config file must be a mapping of key: value")
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise CorrosegInputError(path, f"config key {bad[0]!r} is not a name")
    saved = "format" in data
    written = data.pop("format", FORMAT)
    if written != FORMAT:
        raise CorrosegInputError(path, f"format {written!r}: written by another version of corroseg "
                                       f"(this one reads {FORMAT})")
    return data, saved


def load_config(base: str | Path | None = None, overrides: list[str] | tuple = (), **changes) -> TrainConfig:
    """Resolve a configuration: a preset name or YAML file, then ``key=value`` overrides.

    Parameters
    ----------
    base : str or Path, optional
        A preset name (``default``, ``paper``) or a YAML file; None = ``default``.
        A YAML file may name a ``preset`` to start from.
    overrides : list of str
        ``key=value`` strings, e.g. ``lr=1e-3`` or ``model_options.skip=add``.
    changes : keyword arguments
        Applied before the overrides (the CLI's ``--model``); choosing another model
        than the base's drops the base's ``model_options``.
    """
    values: dict = {}
    if base is None or str(base) in PRESETS:
        name = "default" if base is None else str(base)
        values.update(PRESETS[name])
        values["preset"] = name
    else:
        path = Path(base)
        if path.suffix.lower() not in (".yaml", ".yml") and not path.exists():
            raise CorrosegUserError(f"unknown preset {str(base)!r}; choose from {', '.join(PRESETS)} or give a .yaml file")
        data, saved = _read_config_file(path)
        start = data.get("preset", "default")
        # a run's saved config is complete as written: a preset changed since (the default's model_options
        # did on 2026-12-07) must not slip into an older run's model; a hand-written file starts from its preset
        values.update(PRESETS.get(start, {}) if isinstance(start, str) and not saved else {})
        try:
            for key, value in sorted(data.items(), key=lambda kv: kv[0] != "model"):
                if key in ("model_options", "loss_options"):
                    if not isinstance(value, dict):
                        raise CorrosegUserError(f"{key} must be a mapping")
                    values.setdefault(key, {} if saved else _field_default(key))
                    for sub, item in value.items():  # merged into the preset's, as model_options.x=... is
                        _apply(values, f"{key}.{sub}", item, "config")
                else:
                    _apply(values, key, value, "config")
            TrainConfig(**_coerce(values))  # the file alone must be a valid config
        except CorrosegUserError as exc:
            raise CorrosegInputError(path, str(exc).removeprefix("config: ")) from None
    for key, value in changes.items():
        if value is not None:
            _apply(values, key, value, f"--{key.replace('_', '-')}")
    for text in overrides:
        key, value = parse_override(text)
        _apply(values, key, value, f"override {text!r}")
    return TrainConfig(**_coerce(values))


def save_config(cfg: TrainConfig, path: str | Path) -> Path:
    """Write the resolved configuration as YAML (atomically)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump({"format": FORMAT, **cfg.to_dict()}, sort_keys=False))
    return path


def read_config(path: str | Path) -> TrainConfig:
    """Read a configuration saved by :func:`save_config` (e.g. ``RUN/config.yaml``)."""
    data = read_yaml(path)
    if not data:
        raise CorrosegInputError(path, "empty: not a corroseg run config")
    unknown = [k for k in data if k not in known_keys()]
    if unknown:
        raise CorrosegInputError(path, f"unknown config key {unknown[0]!r} (written by another version?)")
    try:
        return TrainConfig(**_coerce(data))
    except CorrosegUserError as exc:
        raise CorrosegInputError(path, str(exc)) from None
    except TypeError as exc:
        raise CorrosegInputError(path, f"not a corroseg config ({exc})") from None

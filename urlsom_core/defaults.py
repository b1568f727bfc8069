"""The measured defaults: what a run is when nobody says, picked from the images and the machine.

:mod:`urlsom_core.config` is the schema (what a run may be); this module is the policy. The paper's own
settings are the dataclass defaults (CIFAR-10 and SVHN on a GPU, Sec. V.B); the settings here depart from
them for small data or a CPU: the per-data sections of :data:`DATA_DEFAULTS` (``urlsom train --dataset
KIND``, ``defaults_for``) and the rows of :data:`AUTO_RULES` that :func:`auto_defaults` picks for
``urlsom train`` without ``--config``. Flags, config files and profiles always win.

Each choice carries one line saying why and where it was measured. The measurements behind them, with
their commands, machines and seeds, are in the book: book/results-log.md, section "Why the defaults are
what they are" (MyST label ``defaults-reasons``).

Example:
    >>> auto_defaults(1437, 8, 1, "cpu", 1).rule
    'small-gray'
    >>> defaults_for("cifar10:data")
    {}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import ConfigError, RunConfig, _check, load_config_file

# ------------------------------------------------------------------------------ pieces of the settings
# The warm-up kick of the author's later code (GNWM): loss_collapse x2 for 15 epochs, noise 0.1 on the map for 10.
# Off in the paper profile, on for small data (book, Measurements, "Kernel amplitude").
WARMUP_KICK: dict[str, Any] = {"warmup_collapse_weight": 2.0, "warmup_collapse_epochs": 15,
                               "warmup_noise_std": 0.1, "warmup_noise_epochs": 10}
NO_WARMUP_KICK: dict[str, Any] = {"warmup_collapse_weight": 1.0, "warmup_collapse_epochs": 0,
                                  "warmup_noise_std": 0.0, "warmup_noise_epochs": 0}

# A torus: with zero padding a 30x30 digits map's 4 corners won 13x their share; a neighbour-normalised kernel
# keeps one gain right for sigma 3 to 10 (study_boundary page; book, Measurements, defaults-reasons).
SMALL_MAP: dict[str, Any] = {"boundary": "circular", "kernel_norm": "neighbour", "kernel_gain": 0.008}

# Small data: a network sized for a CPU; batches of 64, 28 steps an epoch on 1,797 digits instead of 7 (held-out
# NS 0.78 against 0.64-0.70 after 60 epochs; book, Measurements, "Kernel amplitude").
_SMALL: dict[str, dict[str, Any]] = {"model": {"widths": (16, 32, 64), "blocks": 1, **SMALL_MAP},
                                     "train": {"epochs": 100, "batch_size": 64, **WARMUP_KICK}}

# Gray images of 17-28 px: fed at 16 px (MNIST test set, 20 min: held-out NS 0.877 against 0.721 at 32 px) with the
# Gaussian shrinking from sigma 5 to 2 (0.904 -> 0.930, 3 seeds; not the paper's fixed filter; lost on digits).
_SMALL_GRAY: dict[str, dict[str, Any]] = {"data": {"input_size": 16}, "model": {**_SMALL["model"], "sigma_end": 2.0},
                                          "train": dict(_SMALL["train"])}

# Gray images of at most 16 px: the digits settings with the usage-balancing bias (digits held-out NS 0.856 -> 0.927,
# 569 -> 892 live) and the prototype readout (0.927 -> 0.970); neither is the paper's method (defaults-reasons).
_SMALL_RULE: dict[str, dict[str, Any]] = {"model": {**_SMALL["model"], "usage_balance": True, "prototype_readout": True},
                                          "train": dict(_SMALL["train"])}

# Settings per kind of data (the part of a dataset spec before ':'). ``digits`` keeps the network's own winners
# (the paper's map): the boundary study and the book's digits runs read it; the quick profile adds the bias itself.
DATA_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "digits": _SMALL,
    "mnist": _SMALL_GRAY,
    "cifar10": {},
    "svhn": {},
    "imagefolder": {},
    "npz": {},
}


def defaults_for(dataset: str) -> dict[str, dict[str, Any]]:
    """The default config sections for a dataset spec, by its kind (the part before ':').

    Parameters
    ----------
    dataset : str
        A dataset spec (``digits``, ``mnist:PATH``, ``cifar10[:ROOT]``, ...).

    Returns
    -------
    dict
        A copy of :data:`DATA_DEFAULTS` for the kind, ``{}`` for a kind without defaults (the paper's settings).
    """
    kind = dataset.partition(":")[0]
    return {s: dict(v) for s, v in DATA_DEFAULTS.get(kind, {}).items()}


def with_defaults(dataset: str, raw: dict[str, Any], where: str = "config") -> dict[str, dict[str, Any]]:
    """The data/model/train sections of ``defaults_for(dataset)`` updated by those of ``raw`` (a config
    file's mapping); ``where`` names ``raw`` in the error for a section that is not one of the three."""
    merged: dict[str, dict[str, Any]] = {"data": {}, "model": {}, "train": {}}
    for src in (defaults_for(dataset), raw):
        for section, values in src.items():
            if section not in merged:
                raise ConfigError(f"{where} section {section!r}: allowed are data, model, train")
            merged[section].update(values or {})
    return merged


def config_from_file(path: str, where: str | None = None) -> RunConfig:
    """The RunConfig of a config file: its dataset's defaults (``defaults_for``) updated by the file's
    sections, as ``urlsom train --config FILE`` without flags; ``where`` names the file in errors."""
    raw = load_config_file(path)
    dataset = (raw.get("data") or {}).get("dataset", "digits")
    return RunConfig.from_dict(with_defaults(dataset, raw, where=where or path))


# ------------------------------------------------------------------------------- defaults from the data
# The CPU row: bench/configs/cifar10_cpu.yaml. 10,000 CIFAR-10 images, 20 min on 2 cores: held-out NS 0.3645
# (3 seeds) where the paper's settings trained 6 epochs to 0.275 (book, Measurements, defaults-reasons).
CPU_SETTING: dict[str, dict[str, Any]] = {
    "model": {"widths": (16, 32, 64), "blocks": 1, "sigma": 2.0, "kernel_gain": 32.0},
    "train": {"batch_size": 128, "lr_schedule": ((0, 1e-4), (1, 5e-4), (2, 1e-3)), "gamma": 1.0},
}
SMALL_GRAY_SIDE = 28  # the largest side measured with the small-data setting (MNIST's 28x28)
TINY_SIDE = 16  # images up to this side go to the network at 16 px anyway (data.resolve)
DEVICE_KINDS = ("cpu", "cuda")
# With a time budget the small-data rows train up to 300 epochs with patience 30, so the budget ends them: held-out
# NS 0.833 -> 0.856 on digits, 0.894 -> 0.904 on MNIST (3 seeds, 20 min; defaults-reasons). Without: 100 and 10.
BUDGET_RULES = ("small-gray", "gray-28")
BUDGET_TRAIN: dict[str, Any] = {"epochs": 300, "patience": 30}
# Precision and layout are no row's business: ``train.amp_cpu`` and ``train.channels_last`` default to ``auto``, so
# every run on a CPU with native bf16 trains under bf16 autocast in the channels-last layout
# (urlsom_core.train.training_mode; bench/speed_modes.py measured that the maps stay the same).
# With a time budget the budget ends training, and early stopping watches the map as well as the loss
# (``train.patience_on: map``): on 32x32 textures the ``cpu`` row's loss stalled for 10 epochs at epoch 71 of
# the ~127 its 20 minutes allowed while the map was still ordering itself. Every row, since the reason (a loss
# that flattens before the map does) is not a property of one data set.
BUDGET_PATIENCE: dict[str, Any] = {"patience_on": "map"}


@dataclass(frozen=True)
class AutoRule:
    """One row of the defaults table: its name, when it applies, its settings and where they were measured."""

    name: str
    when: str
    sections: dict[str, dict[str, Any]]
    source: str


AUTO_RULES: tuple[AutoRule, ...] = (
    AutoRule("small-gray", f"1 channel, side <= {TINY_SIDE} px, any device", _SMALL_RULE,
             "the digits defaults with the usage-balancing bias and the prototype readout, measured on scikit-learn's "
             "digits (README, Results)"),
    AutoRule("gray-28", f"1 channel, side {TINY_SIDE + 1} to {SMALL_GRAY_SIDE} px, any device", _SMALL_GRAY,
             "the digits defaults fed at 16 px with a shrinking filter, measured on the MNIST test set "
             "(book, Measurements)"),
    AutoRule("cpu", "otherwise, on a CPU", CPU_SETTING,
             "bench/configs/cifar10_cpu.yaml, tuned on 10,000 CIFAR-10 images on a 2-core CPU"),
    AutoRule("paper", "otherwise, on a GPU", {},
             "Sec. V.B, as in the `paper` profile"),
)


@dataclass(frozen=True)
class AutoDefaults:
    """What :func:`auto_defaults` picked: the row, its config sections and the one-line reason."""

    rule: str
    sections: dict[str, dict[str, Any]]
    reason: str


def auto_defaults(n_images: int, size: int, channels: int, device_kind: str, threads: int,
                  max_minutes: float | None = None, cpu_bf16: bool = False) -> AutoDefaults:
    """The config sections ``urlsom train`` uses when no config file is given: a row of :data:`AUTO_RULES`.

    Parameters
    ----------
    n_images : int
        Training images (after ``subset`` and ``holdout``).
    size : int
        The images' native side in pixels (the longer one).
    channels : int
        1 (gray) or 3 (colour).
    device_kind : str
        ``cpu`` or ``cuda``.
    threads : int
        CPU threads torch uses.
    max_minutes : float, optional
        The time budget, when given.
    cpu_bf16 : bool
        Whether the CPU computes bf16 natively (:func:`urlsom_core.predict.cpu_bf16_native`), for the reason
        line: every row then trains under bf16 autocast (``train.amp_cpu`` ``auto``).

    Returns
    -------
    AutoDefaults
        The row's name, a copy of its sections and a one-line reason naming the inputs.

    Notes
    -----
    The paper trains on a GPU and is silent on smaller machines. The rows come from measurements on one
    2-core CPU: none of them shows that the number of images or the thread count should pick another
    setting, so these only appear in the reason line. The time budget picks no row, but in the small-data
    rows (:data:`BUDGET_RULES`) it sets how training ends (:data:`BUDGET_TRAIN`, so that the budget rather
    than the epoch count stops it), and in every row early stopping then watches the map as well as the loss
    (:data:`BUDGET_PATIENCE`); the budget stops training when it is spent
    (``train.max_minutes``) and the measured epoch time is printed after the first steps.

    Example
    -------
    >>> auto_defaults(10000, 32, 3, "cpu", 2).rule
    'cpu'
    """
    _check(isinstance(n_images, int) and n_images >= 1, f"n_images {n_images!r}: allowed is an integer >= 1")
    _check(isinstance(size, int) and size >= 1, f"image side {size!r}: allowed is an integer >= 1")
    _check(channels in (1, 3), f"channels {channels!r}: allowed are 1 (gray) or 3 (colour)")
    _check(device_kind in DEVICE_KINDS, f"device kind {device_kind!r}: allowed are {', '.join(DEVICE_KINDS)}")
    _check(isinstance(threads, int) and threads >= 1, f"threads {threads!r}: allowed is an integer >= 1")
    _check(max_minutes is None or max_minutes > 0, f"max_minutes {max_minutes}: allowed is > 0 or none")
    rules = {r.name: r for r in AUTO_RULES}
    if channels == 1 and size <= TINY_SIDE:
        row = rules["small-gray"]
    elif channels == 1 and size <= SMALL_GRAY_SIDE:
        row = rules["gray-28"]
    else:
        row = rules["cpu"] if device_kind == "cpu" else rules["paper"]
    sections = {s: dict(v) for s, v in row.sections.items()}
    if max_minutes and row.name in BUDGET_RULES:
        sections.setdefault("train", {}).update(BUDGET_TRAIN)
    if max_minutes:
        sections.setdefault("train", {}).update(BUDGET_PATIENCE)
    machine = f"{threads} CPU thread{'s' if threads > 1 else ''}" if device_kind == "cpu" else "a GPU"
    machine += " with native bf16" if cpu_bf16 and device_kind == "cpu" else ""
    budget = f", --max-minutes {max_minutes:g}" if max_minutes else ""
    reason = (f"defaults: rule {row.name!r} for {n_images:,} images of {size} px, {channels} channel"
              f"{'s' if channels > 1 else ''}, on {machine}{budget}: {describe_sections(sections)} ({row.source})")
    return AutoDefaults(row.name, sections, reason)


def describe_sections(sections: dict[str, dict[str, Any]]) -> str:
    """``{'model': {'blocks': 1}}`` -> ``'model.blocks 1'``; empty sections -> ``"the paper's settings"``."""
    items = [f"{s}.{k} {_short(v)}" for s, vals in sections.items() for k, v in vals.items()]
    return ", ".join(items) if items else "the paper's settings"


def _short(v: Any) -> str:
    if isinstance(v, tuple):
        return "/".join(_short(x) for x in v) if all(not isinstance(x, tuple) for x in v) else \
            " ".join(f"{e}:{_short(x)}" for e, x in v)
    return f"{v:g}" if isinstance(v, float) else str(v)

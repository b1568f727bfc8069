"""The measured defaults: what a run is when nobody says, picked from the images and the machine.

:mod:`urlsom_core.config` is the schema (what a run may be); this module is the policy. The paper's own
settings are the dataclass defaults (CIFAR-10 and SVHN on a GPU, Sec. V.B); the settings here depart from
them for small data or a CPU: the per-data sections of :data:`DATA_DEFAULTS` (``urlsom train --dataset
KIND``, ``defaults_for``) and the choices of :data:`RULE` that :func:`auto_defaults` applies for
``urlsom train`` without ``--config``. Flags, config files and profiles always win.

Each choice carries one line saying why and where it was measured. The measurements behind them, with
their commands, machines and seeds, are in the book: book/results-log.md, section "Why the defaults are
what they are" (MyST label ``defaults-reasons``).

Example:
    >>> auto_defaults(1437, 8, 1, "cpu", 1).rule
    'few'
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
# The CPU setting: bench/configs/cifar10_cpu.yaml. 10,000 CIFAR-10 images, 20 min on 2 cores: held-out NS 0.3645
# (3 seeds) where the paper's settings trained 6 epochs to 0.275 (book, Measurements, defaults-reasons). The rule's
# map on a CPU, and with few images per neuron on any device (RULE, "map"); also the speed benchmark's ``cpu``
# network and the boundary study's. On 32x32 textures (2.7 a neuron, 20 min) it once ended with TE 0.52 when early
# stopping watched the loss alone and stopped it at epoch 71; the rule now watches the map too ("watch the map").
CPU_SETTING: dict[str, dict[str, Any]] = {
    "model": {"widths": (16, 32, 64), "blocks": 1, "sigma": 2.0, "kernel_gain": 32.0},
    "train": {"batch_size": 128, "lr_schedule": ((0, 1e-4), (1, 5e-4), (2, 1e-3)), "gamma": 1.0},
}
# The CPU setting's map and training, without its network (the rule's "map" choice; RULE, "network", sets that).
CPU_MAP: dict[str, dict[str, Any]] = {
    "model": {k: v for k, v in CPU_SETTING["model"].items() if k not in ("widths", "blocks")},
    "train": dict(CPU_SETTING["train"]),
}
SMALL_GRAY_SIDE = 28  # the largest side fed at 16 px on a CPU (MNIST's 28x28)
TINY_SIDE = 16  # images up to this side go to the network at 16 px anyway (data.resolve)
DEVICE_KINDS = ("cpu", "cuda")
DEFAULT_NEURONS = 30 * 30  # the paper's map (Sec. V.B), for a grid not given
# Below this many training images per neuron a map has "few", from it "many" (see RULE): with few, on a GPU the CPU's
# map and the readouts replace the paper's settings (on a CPU the rule takes them at every size). Digits have 1.6
# (1,437 on 900), MNIST's and the CIFAR-10 subset's training parts 8.9; bench/threshold_study.py trained MNIST
# subsets of 2, 3, 4.5 and 6 a neuron (book, Measurements, "Few or many images per neuron").
FEW_PER_NEURON = 4.0
# Wherever the rule uses the CPU map (a CPU, or few images per neuron) its Gaussian shrinks from sigma 5 to the CPU
# map's sigma 2 (RULE, "order"; ``model.sigma_end`` over ``train.anneal_share`` 0.7 of the training): the CPU map's
# fixed sigma 2 folded the continuous latents of the ellipses, the chose set made for it, at 2.7 images a neuron (TE
# 0.34, Spearman 0.35; the textures, a report set, had shown the fold first) and at 8.9 (Spearman 0.34), and a wide
# start orders them first (book, Measurements, "A chose set without classes: the ellipses").
ORDER_ANNEAL: dict[str, dict[str, Any]] = {"model": {"sigma": 5.0, "sigma_end": 2.0}}
# With a time budget the budget ends training: up to 300 epochs with patience 30 (held-out NS 0.833 -> 0.856 on
# digits, 0.894 -> 0.904 on MNIST, 3 seeds, 20 min; defaults-reasons). Without: 100 epochs and patience 10.
BUDGET_TRAIN: dict[str, Any] = {"epochs": 300, "patience": 30}
# Precision and layout are not the rule's business: ``train.amp_cpu`` and ``train.channels_last`` default to
# ``auto``, so every run on a CPU with native bf16 trains under bf16 autocast in the channels-last layout
# (urlsom_core.train.training_mode; bench/speed_modes.py measured that the maps stay the same).
# With a time budget early stopping watches the map as well as the loss (``train.patience_on: map``): on 32x32
# textures a loss that stalled for 10 epochs at epoch 71 of the ~127 a 20-minute budget allowed ended a map that
# was still ordering itself. The reason (a loss that flattens before the map does) is no property of one data set.
BUDGET_PATIENCE: dict[str, Any] = {"patience_on": "map"}


@dataclass(frozen=True)
class Choice:
    """One choice of the defaults rule: its name, when it applies, what it sets and why (where it was measured)."""

    name: str
    when: str
    sections: dict[str, dict[str, Any]]
    reason: str


# The defaults rule: each choice follows from a quantity that transfers (the device, images per neuron,
# the input's side and channels, the budget), never from the data set's name. Chosen on scikit-learn's digits,
# the MNIST test set and 10,000 CIFAR-10 images; reported on sets none of these choices saw
# (bench/transfer_suite.py; book, Measurements, "Defaults that transfer"; the README's table).
RULE: tuple[Choice, ...] = (
    Choice("network", "on a CPU, or with few images per neuron", {"model": {"widths": (16, 32, 64), "blocks": 1}},
           "the paper's ResNet-20 costs 1,442 MFLOP a view against 77.7: ~18x the epochs in the same minutes "
           "(bench/results/speed), which the CPU maps of digits, MNIST and CIFAR-10 needed more than width"),
    Choice("input", f"on a CPU, 1 channel, side {TINY_SIDE + 1} to {SMALL_GRAY_SIDE} px",
           {"data": {"input_size": TINY_SIDE}},
           "fed at 16 px, as the 8x8 digits already are: a third of the pixels, so ~3x the epochs (MNIST, 20 min: "
           "held-out NS 0.877 against 0.721 at 32 px)"),
    Choice("map", "on a CPU, or with few images per neuron", CPU_MAP,
           "the CPU setting: sigma 2, a sharper kernel (sum-normalised x 32), batches of 128, learning-rate steps "
           "after epochs 1 and 2, gamma 1. Many images a neuron (MNIST, CIFAR-10, 8.9; 5 min, seed 0): of four "
           "maps the only one best on both, held-out NS 0.944 (TE 0.035) and 0.325 (TE 0.074). Few (digits 1.6, "
           "MNIST 2 and 3, CIFAR-10 2.7): better than the torus with sigma 5 and a flat kernel each time, e.g. "
           "digits 0.844 with 577 live against 0.808 with 541, CIFAR-10 0.275 (TE 0.050) against 0.243 (TE 0.291); "
           "all on a CPU"),
    Choice("order", "on a CPU, or with few images per neuron", dict(ORDER_ANNEAL),
           "the Gaussian shrinks from sigma 5 to the CPU map's 2 over the first 70% of the training (the classical "
           "SOM's ordering phase; not the paper's fixed filter). On the ellipses, the chose set whose classes are "
           "bins of two continuous latents (5 min, seeds 0-2), the network's map ordered the latents at Spearman "
           "0.55 against 0.35 with the fixed sigma 2 at 2.7 a neuron (TE 0.24 against 0.34, held-out NS 0.82 "
           "against 0.86) and 0.59 against 0.34 at 8.9 (held-out NS 0.88 both); held-out NS on digits, MNIST at 2 "
           "and CIFAR-10 at 2.7 a neuron 0.842, 0.784, 0.297 against 0.844, 0.800, 0.272, at 8.9 MNIST 0.931 "
           "against 0.934 (seed 0) and CIFAR-10 0.324 against 0.326 (3 seeds), TE lower on each "
           "(bench/threshold_study.py, bench/transfer_suite.py)"),
    Choice("readout", "on a CPU, or with few images per neuron",
           {"model": {"usage_balance": True, "prototype_readout": True}},
           "the usage-balancing bias and the prototype readout without a refit, fitted after training and shown "
           "beside the network's own map, not the paper's method: held-out NS digits 0.836 -> 0.950 (TE 0.025 -> "
           "0.005, the suite, seed 0); at 8.9 a neuron (seed 0) MNIST 0.935 -> 0.949, CIFAR-10 0.300 -> 0.322, "
           "ellipses 0.893 -> 0.897 with TE 0.280 -> 0.079 and 592 -> 895 live; a refit of the prototypes raised TE "
           "on all 21 maps tried, to 0.136 on CIFAR-10 at 8.9 (bench/readout_settings.py)"),
    Choice("length", "on a CPU or with few images per neuron, without --max-minutes", {"train": {"epochs": 100}},
           "100 epochs with the paper's patience of 10 instead of its 500 (digits, defaults-reasons)"),
    Choice("budget", "on a CPU or with few images per neuron, with --max-minutes", {"train": dict(BUDGET_TRAIN)},
           "the budget ends training, not an epoch count: up to 300 epochs (digits +0.023 held-out NS, MNIST "
           "+0.010)"),
    Choice("watch the map", "with --max-minutes, any device", {"train": {"patience": 30, **BUDGET_PATIENCE}},
           "early stopping waits 30 epochs and watches the map as well as the loss: a flat loss ended a textures "
           "map at epoch 71 of ~127 while it was still ordering itself"),
)
# On a GPU with many images per neuron the paper's settings (Sec. V.B, the `paper` profile): its own regime (50,000
# images on 900 neurons, 55 a neuron), and the suite ran on a CPU only.
GPU_REASON = "on a GPU with many images per neuron the paper's settings, Sec. V.B, as in the `paper` profile"


@dataclass(frozen=True)
class AutoDefaults:
    """What :func:`auto_defaults` picked: the regime's name, its config sections and the one-line reason."""

    rule: str
    sections: dict[str, dict[str, Any]]
    reason: str


def few_per_neuron(n_images: int, n_neurons: int = DEFAULT_NEURONS) -> bool:
    """Whether a map of ``n_neurons`` has few training images a neuron (below :data:`FEW_PER_NEURON`)."""
    return n_images / n_neurons < FEW_PER_NEURON


def rule_choices(n_images: int, size: int, channels: int, device_kind: str, n_neurons: int = DEFAULT_NEURONS,
                 max_minutes: float | None = None) -> tuple[Choice, ...]:
    """The choices of :data:`RULE` that apply to these images on this device (on a GPU with many images per
    neuron only the budget's: the paper's settings)."""
    few = few_per_neuron(n_images, n_neurons)
    cpu = device_kind == "cpu"
    applies = {"network": cpu or few, "input": cpu and channels == 1 and TINY_SIDE < size <= SMALL_GRAY_SIDE,
               "map": cpu or few, "order": cpu or few, "readout": cpu or few,
               "length": (cpu or few) and not max_minutes, "budget": (cpu or few) and bool(max_minutes),
               "watch the map": bool(max_minutes)}
    return tuple(c for c in RULE if applies[c.name])


def auto_defaults(n_images: int, size: int, channels: int, device_kind: str, threads: int,
                  max_minutes: float | None = None, cpu_bf16: bool = False,
                  n_neurons: int = DEFAULT_NEURONS) -> AutoDefaults:
    """The config sections ``urlsom train`` uses when no config file is given: the choices of :data:`RULE`.

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
        line: every run then trains under bf16 autocast (``train.amp_cpu`` ``auto``).
    n_neurons : int
        Neurons of the map (the grid's H x W; default the paper's 30x30).

    Returns
    -------
    AutoDefaults
        The regime (``few`` images per neuron on any device, ``cpu-many``, or ``paper``: many on a GPU), the
        merged sections of the choices that apply, and a one-line reason naming the inputs and every choice.

    Notes
    -----
    The paper trains 50,000 images on 900 neurons on a GPU and is silent on smaller data and machines. On a
    CPU the network is small, its map the CPU setting (its Gaussian shrinking from sigma 5 to 2,
    :data:`ORDER_ANNEAL`), the readouts are fitted after training, and gray images of 17-28 px are fed at 16 px.
    On a GPU the images per neuron (``n_images / n_neurons`` against :data:`FEW_PER_NEURON`) decide whether the
    paper's settings apply (many) or the CPU's map and readouts (few); the budget sets how training ends. The
    thread count appears in the reason line only: no measurement showed that it should pick another setting.

    Example
    -------
    >>> auto_defaults(8000, 32, 3, "cpu", 2).rule
    'cpu-many'
    """
    _check(isinstance(n_images, int) and n_images >= 1, f"n_images {n_images!r}: allowed is an integer >= 1")
    _check(isinstance(size, int) and size >= 1, f"image side {size!r}: allowed is an integer >= 1")
    _check(channels in (1, 3), f"channels {channels!r}: allowed are 1 (gray) or 3 (colour)")
    _check(device_kind in DEVICE_KINDS, f"device kind {device_kind!r}: allowed are {', '.join(DEVICE_KINDS)}")
    _check(isinstance(threads, int) and threads >= 1, f"threads {threads!r}: allowed is an integer >= 1")
    _check(max_minutes is None or max_minutes > 0, f"max_minutes {max_minutes}: allowed is > 0 or none")
    _check(isinstance(n_neurons, int) and n_neurons >= 1, f"n_neurons {n_neurons!r}: allowed is an integer >= 1")
    chosen = rule_choices(n_images, size, channels, device_kind, n_neurons, max_minutes)
    sections: dict[str, dict[str, Any]] = {}
    for c in chosen:
        for s, v in c.sections.items():
            sections.setdefault(s, {}).update(v)
    names = {c.name for c in chosen}
    name = "few" if few_per_neuron(n_images, n_neurons) else "cpu-many" if "map" in names else "paper"
    per = n_images / n_neurons
    machine = f"{threads} CPU thread{'s' if threads > 1 else ''}" if device_kind == "cpu" else "a GPU"
    machine += " with native bf16" if cpu_bf16 and device_kind == "cpu" else ""
    budget = f", --max-minutes {max_minutes:g}" if max_minutes else ""
    why = "; ".join([GPU_REASON] * (name == "paper") + [f"{c.name}: {c.reason}" for c in chosen])
    reason = (f"defaults: rule {name!r} for {n_images:,} images of {size} px, {channels} channel"
              f"{'s' if channels > 1 else ''}, {per:.1f} per neuron of {n_neurons:,}, on {machine}{budget}: "
              f"{describe_sections(sections)} ({why})")
    return AutoDefaults(name, sections, reason)


def describe_sections(sections: dict[str, dict[str, Any]]) -> str:
    """``{'model': {'blocks': 1}}`` -> ``'model.blocks 1'``; empty sections -> ``"the paper's settings"``."""
    items = [f"{s}.{k} {_short(v)}" for s, vals in sections.items() for k, v in vals.items()]
    return ", ".join(items) if items else "the paper's settings"


def _short(v: Any) -> str:
    if isinstance(v, tuple):
        return "/".join(_short(x) for x in v) if all(not isinstance(x, tuple) for x in v) else \
            " ".join(f"{e}:{_short(x)}" for e, x in v)
    return f"{v:g}" if isinstance(v, float) else str(v)

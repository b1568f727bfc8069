"""The schema of a URL-SOM run: frozen dataclasses with validation, the content key, config files.

A run is fully described by a :class:`RunConfig` (data, model, training). Its canonical JSON form is
what the run store hashes, so two runs with equal configs are the same run. The dataclass defaults are the
paper's settings (Sec. V.B); this module holds what a run may be and nothing measured. The settings picked
for other data and machines, each with its reason, are :mod:`urlsom_core.defaults`.

Example:
    >>> cfg = RunConfig.from_dict({"data": {"dataset": "digits"}, "model": {"grid": [10, 10]}})
    >>> cfg.model.grid
    (10, 10)
    >>> cfg.replace(**{"model.sigma": 3.0}).model.sigma
    3.0
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import pathlib
from dataclasses import dataclass, field
from typing import Any


class ConfigError(ValueError):
    """A bad parameter. Its message is one line naming the value and what is allowed."""


FILTERS = ("gaussian", "student")
KERNEL_NORMS = ("sum", "peak", "neighbour")
BOUNDARIES = ("zeros", "circular", "reflect", "mass")
# The map's lattice (urlsom_core.lattice): square cells, or hexagonal cells in offset rows ("odd-r": odd rows
# shifted right by half a cell, rows sqrt(3)/2 apart, every neuron 1 from its 6 neighbours).
LATTICES = ("square", "hex")
HEX_BOUNDARIES = ("zeros", "circular", "mass")  # reflect: the offset rows leave no straight edge to mirror about
# The hexagonal kernel exists only as the dense (n, n) operator of the head (model.DENSE_MAX_NEURONS, the same number).
HEX_MAX_NEURONS = 4096
JITTERS = ("torchvision", "simsiam")  # readings of the paper's colour jitter (augment.Augment.jitter_reading)
# The readings of the paper's "6-sigma" Gaussian kernel (Sec. III.B) -> its half-width in sigmas
# (filters.gaussian_support): a side of 6 sigma (+-3 sigma) or +-6 sigma.
GAUSSIAN_EXTENTS: dict[str, float] = {"side": 3.0, "radius": 6.0}
DEVICES = ("auto", "cpu", "cuda")


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


def is_circular(boundary: str) -> bool:
    """Whether a map with this ``boundary`` is a torus: the fixed convolution wraps (``circular``), so grid
    distances wrap too and no neuron is at an edge. :attr:`ModelConfig.circular` for a config."""
    return boundary == "circular"


def max_kernel_size(grid: tuple[int, int]) -> int:
    """Largest useful odd kernel side for a 'same' convolution on ``grid``.

    Entries further than ``max(H, W) - 1`` from the centre only ever multiply the zero padding, so a
    larger kernel gives exactly the same output; we refuse it rather than waste memory.
    """
    return 2 * max(grid) - 1


@dataclass(frozen=True)
class DataConfig:
    """Which images a run trains on, and how they reach the network.

    ``dataset`` is a spec: ``digits``, ``mnist:PATH``, ``cifar10[:ROOT]``, ``svhn[:ROOT]``,
    ``imagefolder:PATH`` (a folder or a .zip of one) or ``npz:PATH``; several joined by ``+`` are one
    dataset (e.g. ``imagefolder:train.zip+imagefolder:test.zip``: CIFAR-10's 60,000 from two zips), their
    classes matched by name. ``cifar10:ROOT`` and ``svhn:ROOT`` read torchvision's own files in ROOT when
    present and download only when absent (see ``data``).
    ``holdout`` keeps a stratified fraction of ``dataset`` out of training to score a held-out NS;
    ``eval_dataset`` names a separate set for the same purpose. ``subset`` / ``eval_subset`` take a
    class-balanced subset. ``skip_bad_images``: image files that cannot be decoded (truncated, not an
    image) are left out and listed in the run's manifest, instead of stopping the load. ``input_size`` (square side fed to the network) and ``flip`` (horizontal
    flips in augmentation) are chosen from the data when left at ``None`` (see ``data.resolve``).
    ``crop_min`` is the smallest side of the augmentation's random crop as a fraction of the image side
    (default the paper's 22 of 32 pixels for every dataset; harder crops on digits: book/results-log.md,
    "Batch size and crop strength").
    ``rotate`` rotates each augmented view by an angle drawn uniformly in +-``rotate`` degrees, in the same
    resampling as the crop (0, the default: no rotation, the paper's pipeline, which has none).
    ``jitter`` is the reading of the paper's colour jitter "[brightness, contrast, saturation, hue] = [0.4,
    0.4, 0.4, 0.4]" (Sec. V.A), which names no library: ``torchvision`` (``ColorJitter(0.4, 0.4, 0.4, 0.4)``:
    factors in [0.6, 1.4], hue shift up to 0.4 of the colour circle) or ``simsiam`` (``color_jitter`` of
    the Keras SimSiam example: additive brightness up to 0.32, contrast and saturation factors in [0.68,
    1.32], hue shift up to 0.08). See ``augment.torchvision_jitter`` and ``augment.simsiam_jitter``.
    ``invert_fraction`` contrast-inverts (255 - x) a random fraction of images, SVHN-like digits; with
    ``invert_copy`` that fraction gets an inverted copy instead and keeps its original (``invert_fraction
    1``: every image in both contrasts, twice the images). Copies are made after the holdout split, so an
    image and its copy are never on both sides of it.
    """

    dataset: str = "digits"
    eval_dataset: str | None = None
    holdout: float = 0.0
    subset: int | None = None
    eval_subset: int | None = None
    split_seed: int = 0
    input_size: int | None = None
    flip: bool | None = None
    crop_min: float = 22 / 32
    rotate: float = 0.0
    invert_fraction: float = 0.0
    invert_copy: bool = False
    data_root: str = "data"
    jitter: str = "torchvision"
    skip_bad_images: bool = False

    def validate(self) -> None:
        _check(isinstance(self.dataset, str) and self.dataset != "", f"dataset {self.dataset!r}: a spec is required")
        _check(0.0 <= self.holdout < 1.0, f"holdout {self.holdout}: allowed is 0 <= holdout < 1")
        _check(not (self.holdout > 0 and self.eval_dataset), "holdout and eval_dataset: give one or the other")
        for name in ("subset", "eval_subset"):
            v = getattr(self, name)
            _check(v is None or (isinstance(v, int) and v >= 2), f"{name} {v}: allowed is an integer >= 2 or none")
        _check(self.input_size is None or (isinstance(self.input_size, int) and 8 <= self.input_size <= 256),
               f"input_size {self.input_size}: allowed is 8..256 or none (auto)")
        _check(isinstance(self.crop_min, (int, float)) and 0.0 < self.crop_min <= 1.0,
               f"crop_min {self.crop_min}: allowed is 0 < crop_min <= 1 (fraction of the image side)")
        _check(isinstance(self.rotate, (int, float)) and 0.0 <= self.rotate <= 180.0,
               f"rotate {self.rotate}: allowed is 0 <= rotate <= 180 (degrees)")
        _check(0.0 <= self.invert_fraction <= 1.0, f"invert_fraction {self.invert_fraction}: allowed is 0..1")
        _check(isinstance(self.invert_copy, bool), f"invert_copy {self.invert_copy!r}: allowed is true or false")
        _check(not self.invert_copy or self.invert_fraction > 0,
               "invert_copy true with invert_fraction 0: allowed is invert_fraction > 0 (the share of images "
               "that get a contrast-inverted copy)")
        _check(self.jitter in JITTERS, f"jitter {self.jitter!r}: allowed is one of {', '.join(JITTERS)}")
        _check(isinstance(self.skip_bad_images, bool),
               f"skip_bad_images {self.skip_bad_images!r}: allowed is true or false")


@dataclass(frozen=True)
class ModelConfig:
    """Backbone and SOM head (paper Sec. III and V.B, Fig. 1).

    ``widths``/``blocks``: ResNet stage widths and basic blocks per stage (paper: 16/48/256, 3 blocks =
    ResNet-20). ``filter``: fixed radial kernel, ``gaussian`` (``sigma``, support 6 sigma) or
    ``student`` (``1/(1 + r^2/student_scale)``). ``kernel_norm``/``kernel_gain`` set the kernel's
    amplitude, which the paper leaves open: it acts as the Softmax temperature (see book/results-log.md,
    "Kernel amplitude").
    ``boundary`` says what the fixed convolution sees beyond the map's edge, which the paper does not
    state: ``zeros`` ('same' with zero padding, as TensorFlow's ``padding='same'``), ``circular`` (the
    map is a torus), ``reflect`` (the map mirrored about its edge neurons) or ``mass`` (zero padding, each
    neuron's kernel renormalised to its part inside the map). See ``model.fixed_convolution``.
    ``gaussian_extent`` reads the paper's "6-sigma" kernel size (Sec. III.B): ``side`` (a side of 6 sigma,
    +-3 sigma) or ``radius`` (+-6 sigma); the kernel is normalised over that support, then cropped to
    ``kernel_size`` or ``2*max(H, W)-1`` (see ``filters.gaussian_support``).
    ``sigma_end`` (Gaussian only; none: the paper's fixed filter) shrinks the Gaussian's sigma during
    training, geometrically from ``sigma`` to ``sigma_end`` over the first ``train.anneal_share`` of the
    training (``TrainConfig.progress``), as a classical SOM shrinks its neighbourhood: the wide filter
    orders the map, the narrow one sharpens it. The kernel keeps the support of ``sigma``. The paper's
    filter is fixed (Sec. III.B); this is not the paper's method.
    ``usage_balance`` (not the paper's method; off in the paper): after training, fit a per-neuron bias,
    added to the convolved map before the Softmax, on the un-augmented training images so that every neuron
    wins about as many of them as any other (``readouts.usage_bias``, a classical SOM's "conscience"). For
    few images per neuron, where a trained map leaves many neurons without a training image.
    ``prototype_readout`` (not the paper's method; off in the paper): after training (and the bias), give each
    neuron the mean normalised embedding of the training images it wins, and take as an image's winner the
    neuron with the nearest such prototype among the network's winner and its 8 neighbours (6 on a hexagonal
    lattice; ``readouts.local_top2``): the map's placement, refined by at most a step.
    ``readout_refits`` (with ``prototype_readout`` only): how many times the prototypes are fitted again from
    the readout's own winners (``readouts.fit_readout_prototypes``, a Lloyd step of k-means within the windows).
    Default 0: on 21 maps of the defaults' chose sets a refit raised TE (to 0.136 on 8,000 CIFAR-10 images) for
    at most 0.03 held-out NS (``readouts`` module docstring). Runs stored before the field existed refitted once.
    ``lattice`` (the paper's map is square): ``square`` or ``hex``, hexagonal cells in offset rows (odd rows
    shifted right by half a cell, rows sqrt(3)/2 apart; :mod:`urlsom_core.lattice`), the layout classical SOM
    software offers beside the square one. On ``hex`` the fixed kernel is the same radial function of the
    Euclidean distance between cell centres (``model.hex_convolution_matrix``), the map's neighbours are the 6
    cells around a cell, and ``circular`` is a hexagonal torus, which needs an even number of rows; ``reflect``
    has no meaning there (the offset rows leave no straight edge) and the map has at most 4,096 neurons.
    """

    widths: tuple[int, ...] = (16, 48, 256)
    blocks: int = 3
    grid: tuple[int, int] = (30, 30)
    filter: str = "gaussian"
    sigma: float = 5.0
    student_scale: float = 1.0
    kernel_size: int | None = None
    kernel_norm: str = "sum"
    kernel_gain: float = 8.0
    boundary: str = "zeros"
    dropout: float = 0.0
    gaussian_extent: str = "side"
    sigma_end: float | None = None
    usage_balance: bool = False
    prototype_readout: bool = False
    readout_refits: int = 0
    lattice: str = "square"

    def validate(self) -> None:
        g = self.grid
        _check(isinstance(g, tuple) and len(g) == 2 and all(isinstance(v, int) for v in g),
               f"grid {g}: allowed is two integers H W")
        _check(g[0] >= 2 and g[1] >= 2, f"grid {g[0]}x{g[1]}: allowed is at least 2x2")
        _check(g[0] * g[1] <= 256 * 256, f"grid {g[0]}x{g[1]}: allowed is at most 65536 neurons")
        _check(self.filter in FILTERS, f"filter {self.filter!r}: allowed is one of {', '.join(FILTERS)}")
        _check(math.isfinite(self.sigma) and self.sigma > 0, f"sigma {self.sigma}: allowed is sigma > 0")
        _check(math.isfinite(self.student_scale) and self.student_scale > 0,
               f"student_scale {self.student_scale}: allowed is > 0")
        _check(self.kernel_norm in KERNEL_NORMS,
               f"kernel_norm {self.kernel_norm!r}: allowed is one of {', '.join(KERNEL_NORMS)}")
        _check(math.isfinite(self.kernel_gain) and self.kernel_gain > 0,
               f"kernel_gain {self.kernel_gain}: allowed is > 0")
        _check(self.boundary in BOUNDARIES,
               f"boundary {self.boundary!r}: allowed is one of {', '.join(BOUNDARIES)}")
        _check(self.gaussian_extent in GAUSSIAN_EXTENTS,
               f"gaussian_extent {self.gaussian_extent!r}: allowed is one of {', '.join(GAUSSIAN_EXTENTS)}")
        kmax = max_kernel_size(g)
        if self.sigma_end is not None:
            _check(self.filter == "gaussian", f"sigma_end {self.sigma_end} with filter {self.filter!r}: allowed only "
                   "with the gaussian filter (or sigma_end none)")
            _check(isinstance(self.sigma_end, (int, float)) and not isinstance(self.sigma_end, bool)
                   and math.isfinite(self.sigma_end) and 0 < self.sigma_end <= self.sigma,
                   f"sigma_end {self.sigma_end}: allowed is 0 < sigma_end <= sigma ({self.sigma:g}) or none")
        if self.kernel_size is not None:
            k = self.kernel_size
            _check(isinstance(k, int) and k >= 1 and k % 2 == 1, f"kernel_size {k}: allowed is an odd integer >= 1")
            _check(k <= kmax, f"kernel_size {k}: allowed is at most {kmax} (2*max(H,W)-1) for grid {g[0]}x{g[1]}")
        _check(len(self.widths) >= 1 and all(isinstance(w, int) and w >= 1 for w in self.widths),
               f"widths {self.widths}: allowed is positive integers")
        _check(isinstance(self.blocks, int) and self.blocks >= 1, f"blocks {self.blocks}: allowed is >= 1")
        _check(0.0 <= self.dropout < 1.0, f"dropout {self.dropout}: allowed is 0 <= dropout < 1")
        _check(isinstance(self.usage_balance, bool),
               f"usage_balance {self.usage_balance!r}: allowed is true or false")
        _check(isinstance(self.prototype_readout, bool),
               f"prototype_readout {self.prototype_readout!r}: allowed is true or false")
        _check(isinstance(self.readout_refits, int) and not isinstance(self.readout_refits, bool)
               and 0 <= self.readout_refits <= MAX_READOUT_REFITS,
               f"readout_refits {self.readout_refits!r}: allowed is an integer 0 to {MAX_READOUT_REFITS}")
        _check(self.lattice in LATTICES, f"lattice {self.lattice!r}: allowed is one of {', '.join(LATTICES)}")
        if self.lattice == "hex":
            _check(self.boundary in HEX_BOUNDARIES,
                   f"boundary {self.boundary!r} with lattice hex: allowed are {', '.join(HEX_BOUNDARIES)} (offset "
                   "rows leave the left and right edges jagged, with no line of edge neurons to mirror about)")
            _check(not self.circular or g[0] % 2 == 0,
                   f"lattice hex with boundary circular on grid {g[0]}x{g[1]}: allowed is an even number of rows (odd "
                   "rows are shifted by half a cell, so a hexagonal torus closes only after an even number of rows)")
            _check(g[0] * g[1] <= HEX_MAX_NEURONS,
                   f"lattice hex on grid {g[0]}x{g[1]}: allowed is at most {HEX_MAX_NEURONS} neurons (the hexagonal "
                   "kernel runs as one (n, n) matrix)")

    @property
    def n_neurons(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def circular(self) -> bool:
        """Whether the map is a torus (``boundary`` ``circular``): its edges wrap, as its grid distances do."""
        return is_circular(self.boundary)


# ``train.amp_cpu`` / ``channels_last`` / ``compile``: decided on the machine that trains (urlsom_core.train.training_mode).
AUTO = "auto"
# ``train.compile: auto`` compiles on a CPU only for a budget of at least this many minutes: compiling the CPU
# setting's network took 9-17 s on 2 cores and its step then ran 1.37x faster (urlsom bench), so the warm-up is
# repaid within the first minutes; 5 keeps it under 6% of the shortest budget it applies to.
COMPILE_MIN_MINUTES = 5.0
# torch.compile's modes (``train.compile_mode``, used when ``train.compile`` is true).
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
# Fields added after runs were stored, with the default that leaves a run's key as it was.
KEY_NEUTRAL_DEFAULTS: dict[tuple[str, str], Any] = {("train", "compile_mode"): "default",
                                                    ("data", "invert_copy"): False,
                                                    ("model", "sigma_end"): None,
                                                    ("train", "anneal_share"): 0.7,
                                                    ("train", "amp_cpu"): False,
                                                    ("data", "rotate"): 0.0,
                                                    ("model", "usage_balance"): False,
                                                    ("model", "prototype_readout"): False,
                                                    ("model", "lattice"): "square",
                                                    ("model", "readout_refits"): 1,
                                                    ("train", "patience_on"): "loss",
                                                    ("train", "channels_last"): False}
# The most refits of the prototype readout (``model.readout_refits``); refitting stops anyway once no winner moves.
MAX_READOUT_REFITS = 100
# What early stopping watches (``train.patience_on``).
PATIENCE_ON = ("loss", "map")
# The least change of the monitor's NS or TE that counts as the map improving (``patience_on: map``). Not in the
# paper. The monitor scores 2,048 images, so its NS moves by about 0.01 from sampling alone: a new best by more
# than 0.002 is either real or a record of noise, and records of noise grow rare as training goes on, so a
# map that has stopped improving still stops, only later.
MAP_DELTA = 0.002


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation (paper Sec. V.B): Adam with learning-rate steps, early stopping, two views.

    ``lr_schedule`` is ``((epoch, lr), ...)``: the paper's 1e-4, then 5e-4 from epoch 5, 1e-3 from
    epoch 10. Training stops after ``epochs``, when the epoch loss has not improved for ``patience``
    epochs, or after ``max_minutes``. ``patience_on`` says what counts as improving: ``loss`` (the paper, Sec.
    V.B: the epoch loss by more than ``min_delta``) or ``map``: the loss, or the monitor's map (its NS, held-out
    NS where there is a held-out split, up by more than ``MAP_DELTA``, or its TE down by more than that), so
    that a run whose loss has flattened while its map still orders itself is not stopped. The warm-up kick (off when the weights are 1 / std 0) weights
    loss_collapse by ``warmup_collapse_weight`` for the first ``warmup_collapse_epochs`` epochs and
    adds Gaussian noise of ``warmup_noise_std`` to the pre-convolution map for ``warmup_noise_epochs``.
    ``compile`` wraps the network in ``torch.compile`` with mode ``compile_mode`` (one of ``COMPILE_MODES``;
    "reduce-overhead" uses CUDA graphs). ``auto`` (the default): on a CPU, one process, where a C++ compiler is
    on the PATH and the run has a time budget (``max_minutes``) of at least ``COMPILE_MIN_MINUTES``, so that the
    compilation's warm-up is a small part of it; eager otherwise, and on CUDA.

    ``amp``: bf16 autocast of the backbone on CUDA (the SOM head always computes in float32). ``amp_cpu``: the
    same on a CPU (with ``amp``), for the training steps and their monitor; evaluation stays float32. ``auto``
    (the default): where the CPU computes bf16 natively (AVX512-BF16 or AMX, :func:`urlsom_core.predict.cpu_bf16_native`), not
    where it would be emulated and slower than float32. ``channels_last``: on a CPU, keep the network's weights
    and the training step's views in the channels-last memory layout (NHWC); ``auto`` (the default): where the
    network's widest stage has at most 128 channels (``urlsom_core.train.CHANNELS_LAST_MAX_WIDTH``). On CUDA
    the training step always runs channels-last. What ``auto`` became on the machine that trained is in the
    run's config.json (``resolved.training_mode``), and the run's log says it in one line
    (:func:`urlsom_core.train.training_mode`). Both modes keep the map: NS and TE within seed noise of float32
    in the default layout (``bench/speed_modes.py``; book, Measurements, Speed).

    ``anneal_share``: the share of the training over which the Gaussian's sigma shrinks to
    ``model.sigma_end`` when that is set (:meth:`progress`); early stopping waits until it has shrunk.

    ``collapse_weight`` weights loss_collapse after the warm-up (the paper: 1). Below 1 the batch is pushed
    less hard to spread over the map, so fewer neurons win and each wins more samples: useful when there
    are few samples per neuron (1,437 digits on 900 neurons), at the risk of collapse. The weight moves
    linearly from the warm-up weight to ``collapse_weight`` over ``collapse_ramp_epochs`` (an abrupt switch
    from 2 to 0.5 collapsed a digits map to one neuron). Example:

        >>> TrainConfig(warmup_collapse_weight=2.0, warmup_collapse_epochs=2, collapse_weight=0.5,
        ...             collapse_ramp_epochs=2).collapse_weight_at(3)
        1.0
    """

    epochs: int = 500
    batch_size: int = 256
    lr_schedule: tuple[tuple[int, float], ...] = ((0, 1e-4), (5, 5e-4), (10, 1e-3))
    patience: int = 10
    patience_on: str = "loss"
    min_delta: float = 1e-4
    gamma: float = 2.0
    weight_decay: float = 0.0
    warmup_collapse_weight: float = 1.0
    warmup_collapse_epochs: int = 0
    warmup_noise_std: float = 0.0
    warmup_noise_epochs: int = 0
    collapse_weight: float = 1.0
    collapse_ramp_epochs: int = 0
    seed: int = 0
    max_minutes: float | None = None
    compile: bool | str = AUTO
    compile_mode: str = "default"
    amp: bool = True
    amp_cpu: bool | str = AUTO
    monitor_samples: int = 2048
    anneal_share: float = 0.7
    channels_last: bool | str = AUTO

    def validate(self) -> None:
        _check(isinstance(self.epochs, int) and self.epochs >= 1, f"epochs {self.epochs}: allowed is an integer >= 1")
        _check(isinstance(self.batch_size, int) and self.batch_size >= 2,
               f"batch_size {self.batch_size}: allowed is an integer >= 2")
        _check(len(self.lr_schedule) >= 1 and self.lr_schedule[0][0] == 0,
               f"lr_schedule {self.lr_schedule}: allowed is ((0, lr), (epoch, lr), ...) starting at epoch 0")
        for _e, lr in self.lr_schedule:
            _check(math.isfinite(lr) and lr > 0, f"learning rate {lr}: allowed is > 0")
        _check(isinstance(self.patience, int) and self.patience >= 1, f"patience {self.patience}: allowed is >= 1")
        _check(self.patience_on in PATIENCE_ON,
               f"patience_on {self.patience_on!r}: allowed are {', '.join(PATIENCE_ON)}")
        _check(math.isfinite(self.gamma) and self.gamma >= 0, f"gamma {self.gamma}: allowed is gamma >= 0")
        _check(self.weight_decay >= 0, f"weight_decay {self.weight_decay}: allowed is >= 0")
        _check(self.warmup_collapse_weight > 0, f"warmup_collapse_weight {self.warmup_collapse_weight}: allowed is > 0")
        _check(self.warmup_noise_std >= 0, f"warmup_noise_std {self.warmup_noise_std}: allowed is >= 0")
        _check(isinstance(self.collapse_weight, (int, float)) and math.isfinite(self.collapse_weight)
               and self.collapse_weight > 0, f"collapse_weight {self.collapse_weight}: allowed is > 0 (the paper: 1)")
        _check(isinstance(self.collapse_ramp_epochs, int) and self.collapse_ramp_epochs >= 0,
               f"collapse_ramp_epochs {self.collapse_ramp_epochs}: allowed is an integer >= 0")
        _check(self.max_minutes is None or self.max_minutes > 0,
               f"max_minutes {self.max_minutes}: allowed is > 0 or none")
        _check(isinstance(self.seed, int) and self.seed >= 0, f"seed {self.seed}: allowed is an integer >= 0")
        _check(isinstance(self.amp_cpu, bool) or self.amp_cpu == AUTO,
               f"amp_cpu {self.amp_cpu!r}: allowed are true, false or auto")
        _check(isinstance(self.channels_last, bool) or self.channels_last == AUTO,
               f"channels_last {self.channels_last!r}: allowed are true, false or auto")
        _check(isinstance(self.anneal_share, (int, float)) and 0 < self.anneal_share <= 1,
               f"anneal_share {self.anneal_share}: allowed is 0 < anneal_share <= 1 (a share of the training)")
        _check(isinstance(self.compile, bool) or self.compile == AUTO,
               f"compile {self.compile!r}: allowed are true, false or auto")
        _check(self.compile_mode in COMPILE_MODES,
               f"compile_mode {self.compile_mode!r}: allowed are {', '.join(COMPILE_MODES)}")

    def collapse_weight_at(self, epoch: int) -> float:
        """The weight of loss_collapse in ``epoch`` (0-based): the warm-up weight for the first
        ``warmup_collapse_epochs``, then a linear ramp over ``collapse_ramp_epochs`` to ``collapse_weight``
        (from 1, the paper's weight, when there is no warm-up)."""
        warm, end = self.warmup_collapse_epochs, self.warmup_collapse_epochs + self.collapse_ramp_epochs
        if epoch < warm:
            return self.warmup_collapse_weight
        if epoch < end:
            start = self.warmup_collapse_weight if warm > 0 else 1.0
            f = (epoch - warm + 1) / (self.collapse_ramp_epochs + 1)
            return start + f * (self.collapse_weight - start)
        return self.collapse_weight

    def progress(self, epoch: int, elapsed: float) -> float:
        """How far training is, in [0, 1]: ``epoch / epochs`` or, with a time budget, the share of the budget
        spent (``elapsed`` seconds), whichever is further along. A budget ends training at a different epoch
        on every machine; a schedule on this scale ends where the training ends on any of them.

            >>> TrainConfig(epochs=300, max_minutes=20).progress(30, 600.0)
            0.5
        """
        p = epoch / self.epochs
        if self.max_minutes:
            p = max(p, elapsed / (60.0 * self.max_minutes))
        return min(1.0, p)

    def lr_at(self, epoch: int) -> float:
        lr = self.lr_schedule[0][1]
        for start, value in self.lr_schedule:
            if epoch >= start:
                lr = value
        return lr


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run. ``key()`` is its content address in the run store."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        self.data.validate()
        self.model.validate()
        self.train.validate()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def sigma_at(self, progress: float) -> float:
        """The Gaussian's sigma at ``progress`` (``TrainConfig.progress``): ``model.sigma`` throughout without
        ``model.sigma_end`` (the paper); with it ``sigma * (sigma_end / sigma) ** min(1, progress / share)``,
        a geometric shrink over the first ``train.anneal_share`` of the training, then ``sigma_end``.

            >>> cfg = RunConfig.from_dict({"model": {"sigma": 5, "sigma_end": 2}, "train": {"anneal_share": 0.5}})
            >>> [round(cfg.sigma_at(p), 3) for p in (0.0, 0.25, 0.5, 1.0)]
            [5.0, 3.162, 2.0, 2.0]
        """
        m = self.model
        if m.sigma_end is None:
            return m.sigma
        f = max(0.0, progress) / self.train.anneal_share
        return m.sigma_end if f >= 1.0 else m.sigma * (m.sigma_end / m.sigma) ** f  # exactly sigma_end at the end

    def key(self) -> str:
        """Stable 16-hex content hash of the config (same config, same run).

        Fields added after runs were stored (``KEY_NEUTRAL_DEFAULTS``) are left out while they hold their
        default, so those runs keep their key; ``model.readout_refits`` is left out without the prototype readout
        (it changes nothing there)."""
        d = self.to_dict()
        if not d["model"]["prototype_readout"]:
            d["model"].pop("readout_refits")  # nothing to refit: the run is the same whatever it says
        for (section, name), default in KEY_NEUTRAL_DEFAULTS.items():
            if d[section].get(name) == default:
                del d[section][name]
        text = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        unknown = set(d) - {"data", "model", "train"}
        _check(not unknown, f"config sections {sorted(unknown)}: allowed are data, model, train")
        return cls(
            data=_build(DataConfig, d.get("data", {})),
            model=_build(ModelConfig, d.get("model", {})),
            train=_build(TrainConfig, d.get("train", {})),
        )

    @classmethod
    def from_stored(cls, d: dict[str, Any]) -> RunConfig:
        """The config a stored run (config.json, a checkpoint) trained with: a field added after it was written
        (``KEY_NEUTRAL_DEFAULTS``) is what the run had, the field's neutral value, not today's default.

            >>> RunConfig.from_stored({"train": {"epochs": 3}}).train.channels_last
            False
        """
        d = {s: dict(d.get(s) or {}) for s in ("data", "model", "train")} | {k: v for k, v in d.items()
                                                                           if k not in ("data", "model", "train")}
        for (section, name), neutral in KEY_NEUTRAL_DEFAULTS.items():
            d[section].setdefault(name, neutral)
        return cls.from_dict(d)

    def replace(self, **dotted: Any) -> RunConfig:
        """Copy with ``section.field=value`` updates, e.g. ``replace(**{"model.sigma": 3.0})``."""
        d = self.to_dict()
        for k, v in dotted.items():
            section, _, name = k.partition(".")
            _check(section in d and name in d[section],
                   f"config field {k!r}: allowed are data.*, model.*, train.* fields")
            d[section][name] = v
        return RunConfig.from_dict(d)

    def diff(self, other: RunConfig) -> list[str]:
        """Human-readable list of fields that differ, ``'model.sigma: 5.0 != 3.0'``."""
        a, b = self.to_dict(), other.to_dict()
        out = []
        for s in a:
            for k in a[s]:
                if a[s][k] != b[s].get(k):
                    out.append(f"{s}.{k}: {a[s][k]!r} != {b[s].get(k)!r}")
        return out


def _coerce(value: Any, default: Any, name: str) -> Any:
    """Turn JSON/YAML values (lists) back into the dataclass field types (tuples)."""
    if isinstance(value, list):
        return tuple(_coerce(v, None, name) for v in value)
    if (isinstance(default, float) or name == "sigma_end") and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # sigma_end: a float or none, so that 2 and 2.0 are one run
    return value


def _build(cls: type, d: dict[str, Any]) -> Any:
    _check(isinstance(d, dict), f"{cls.__name__} {d!r}: allowed is a mapping of fields")
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(d) - set(names)
    _check(not unknown, f"{cls.__name__} fields {sorted(unknown)}: allowed are {', '.join(names)}")
    defaults = cls()  # type: ignore[call-arg]
    kwargs = {k: _coerce(v, getattr(defaults, k), k) for k, v in d.items()}
    if "lr_schedule" in kwargs:
        kwargs["lr_schedule"] = tuple((int(e), float(lr)) for e, lr in kwargs["lr_schedule"])
    return cls(**kwargs)


def read_yaml_mapping(path: str | pathlib.Path, what: str, allowed: str, syntax: str = "YAML") -> dict[str, Any]:
    """The top-level mapping of a YAML file, or a one-line ConfigError that starts with ``what`` and names
    the ``syntax`` (invalid file) or ``allowed`` (not a mapping). An empty file is an empty mapping."""
    import yaml

    try:
        d = yaml.safe_load(pathlib.Path(path).read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{what}: not valid {syntax} ({str(e).splitlines()[0]})") from None
    if not isinstance(d, dict):
        raise ConfigError(f"{what}: allowed is {allowed}")
    return d


def load_config_file(path: str) -> dict[str, Any]:
    """The mapping of a YAML/JSON config file (data/model/train sections), or a one-line ConfigError."""
    if not pathlib.Path(path).is_file():
        raise ConfigError(f"config file {path}: does not exist")
    return read_yaml_mapping(path, f"config file {path}", "a mapping with data/model/train sections", "YAML/JSON")


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``['model.sigma=1', 'model.grid=[4, 4]']`` -> ``{'model.sigma': 1, 'model.grid': [4, 4]}`` (YAML values),
    for ``RunConfig.replace``; the ``--set`` option of the bench scripts."""
    import yaml

    dotted: dict[str, Any] = {}
    for o in items:
        key, eq, value = o.partition("=")
        if not eq:
            raise ConfigError(f"--set {o!r}: allowed is section.field=VALUE")
        dotted[key] = yaml.safe_load(value)
    return dotted

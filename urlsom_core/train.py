"""One training loop (paper Sec. V.B): two augmented views per image, Adam with learning-rate steps,
early stopping, a time budget, checkpoints with every RNG state, and resume.

The whole training set lives on the device as uint8; a batch is gathered by index and augmented there
(``augment.Augment``); both views go through the network in one forward pass of 2B images. The epoch's
permutation goes to the device once, and the step keeps its loss terms on the device: their sums and a
finiteness check are read back every ``sync_every`` steps and at the end of the epoch, so a step does not
wait for the device. On CUDA the forward runs under bf16 autocast (``train.amp``) with channels_last and
cuDNN autotuning; on a CPU the training steps run under bf16 autocast with ``train.amp_cpu`` (``auto``, the
default: where the CPU has native bf16) and channels_last with ``train.channels_last`` (``auto``: for networks of
at most :data:`CHANNELS_LAST_MAX_WIDTH` channels); what they became is :func:`training_mode`, logged at the start
and stored in config.json.
``train.compile`` wraps the network (head included) in ``torch.compile`` with mode ``train.compile_mode`` on
any device.

Jobs kept elsewhere: checkpoint files (``checkpoint``), stop signals (``signals``), devices and DDP
(``distributed``: under ``torchrun`` each rank takes its B/K rows of every global batch, batch norm and the
loss's batch mean use the global batch, and only rank 0 writes files).

Example:
    >>> from urlsom_core.config import RunConfig
    >>> from urlsom_core.data import resolve
    >>> cfg = RunConfig.from_dict({"model": {"grid": [5, 5], "widths": [8], "blocks": 1}, "train": {"epochs": 1}})
    >>> result = Trainer(cfg, resolve(cfg.data), device="cpu", progress=False, log=lambda s: None).fit()
    >>> result.stop_reason
    'max epochs'
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import checkpoint as ckpt
from .augment import Augment
from .checkpoint import CHECKPOINT
from .config import AUTO, COMPILE_MIN_MINUTES, MAP_DELTA, ConfigError, RunConfig
from .data import Splits
from .distributed import distributed, max_over_ranks, pick_device, sync_batchnorm
from .loss import urlsom_loss
from .metrics import neural_selectivity, topographic_error
from .model import URLSOM
from .predict import _autocast, cpu_bf16_native, predict
from .signals import StopSignals, TrainingInterrupted, signal_name

TERMS = ("loss", "wta", "collapse", "similarity")  # the loss terms a step returns, in this order


class TrainingDiverged(RuntimeError):
    """The loss became NaN or Inf; the message names the epoch, the step and the loss term."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_augment(cfg: RunConfig, input_size: int, flip: bool,
                 stats: tuple[Sequence[float], Sequence[float]]) -> Augment:
    """The run's augmentation (paper Sec. V.B): views of side ``input_size`` (``flip``: with horizontal flips),
    normalised by the training set's channel statistics ``stats`` = (mean, std) per channel
    (``ImageData.channel_stats``, computed once per run and stored with it), as ``cfg.data`` says."""
    mean, std = stats
    return Augment(out_size=int(input_size), flip=bool(flip), crop_min=cfg.data.crop_min, mean=tuple(mean),
                   std=tuple(std), jitter_reading=cfg.data.jitter, rotate=cfg.data.rotate)


# ``train.channels_last: auto`` on a CPU: the channels-last layout for networks whose widest stage has at most this
# many channels. Steps timed in alternation on 2 idle cores (book, Measurements, "The CPU training mode"): NHWC was
# 1.05-1.25x faster for the 16/32/64 networks (16 and 32 px, float32 and bf16) and 1.19x for 32/64/128 in bf16, but
# 0.83x for the paper's 16/48/256 ResNet-20 in bf16.
CHANNELS_LAST_MAX_WIDTH = 128


@dataclass(frozen=True)
class TrainingMode:
    """How the training steps run on this machine (:func:`training_mode`): bf16 autocast of the backbone or
    float32, the channels-last layout or not, ``torch.compile`` or eager, and the line that says so."""

    bf16: bool
    channels_last: bool
    compiled: bool
    line: str

    def to_dict(self) -> dict[str, Any]:
        return {"bf16": self.bf16, "channels_last": self.channels_last, "compiled": self.compiled}


def cxx_compiler() -> str | None:
    """The C++ compiler ``torch.compile`` would build its CPU kernels with (``$CXX``, else ``g++``, ``c++`` or
    ``clang++`` on the PATH), or None."""
    import shutil

    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return name
    return None


def training_mode(cfg: RunConfig, device: torch.device, world: int = 1) -> TrainingMode:
    """What ``train.amp`` / ``amp_cpu``, ``channels_last`` and ``compile`` mean on ``device`` (``world``: the
    number of processes).

    On CUDA: bf16 with ``train.amp``, always channels-last, compiled with ``compile`` true. On a CPU: bf16 with
    ``train.amp`` and ``amp_cpu`` true, or ``auto`` where the CPU computes bf16 natively
    (:func:`~urlsom_core.predict.cpu_bf16_native`); channels-last with ``channels_last`` true, or ``auto`` where
    the network's widest stage has at most :data:`CHANNELS_LAST_MAX_WIDTH` channels;
    compiled with ``compile`` true, or ``auto`` in one process with a C++ compiler (:func:`cxx_compiler`) and a
    time budget of at least :data:`~urlsom_core.config.COMPILE_MIN_MINUTES`. The SOM head computes in float32
    either way.

    Example:
        >>> m = training_mode(RunConfig.from_dict({"train": {"amp_cpu": False}}), torch.device("cpu"))
        >>> m.bf16, m.channels_last, m.line.split(":")[0]
        (False, True, 'training mode')
    """
    t = cfg.train
    cuda = device.type == "cuda"
    native = not cuda and t.amp_cpu is not False and cpu_bf16_native()  # asked only where it matters
    bf16 = bool(t.amp) and (cuda or t.amp_cpu is True or (t.amp_cpu == AUTO and native))
    widest = max(cfg.model.widths)
    cl = cuda or t.channels_last is True or (t.channels_last == AUTO and widest <= CHANNELS_LAST_MAX_WIDTH)
    if cuda:
        why_bf16 = "train.amp" if bf16 else "train.amp false"
    elif not t.amp:
        why_bf16 = "train.amp false"
    elif t.amp_cpu == AUTO:
        why_bf16 = "train.amp_cpu auto: " + ("this CPU computes bf16 natively" if native else
                                             "this CPU has no native bf16")
    else:
        why_bf16 = f"train.amp_cpu {str(t.amp_cpu).lower()}" + ("" if native or not bf16 else
                                                                 ", emulated: this CPU has no native bf16")
    why_cl = "always on CUDA" if cuda else f"train.channels_last {str(t.channels_last).lower()}"
    if not cuda and t.channels_last == AUTO:
        why_cl += f": widest stage {widest} {'<=' if cl else '>'} {CHANNELS_LAST_MAX_WIDTH} channels"
    compiled, why_c = t.compile is True, f"train.compile {str(t.compile).lower()}"
    if t.compile == AUTO:
        budget = t.max_minutes or 0.0
        cxx = None if cuda or world > 1 or budget < COMPILE_MIN_MINUTES else cxx_compiler()
        compiled = cxx is not None
        why_c += (": on CUDA only when asked" if cuda else f": {world} processes" if world > 1 else
                  f": no time budget of at least {COMPILE_MIN_MINUTES:g} min" if budget < COMPILE_MIN_MINUTES else
                  f": a budget of {budget:g} min and the C++ compiler {cxx}" if cxx else
                  ": no C++ compiler on the PATH")
    line = (f"training mode: {'bf16 autocast' if bf16 else 'float32'} ({why_bf16}), "
            f"{'channels-last' if cl else 'default layout'} ({why_cl}), "
            f"{'torch.compile ' + t.compile_mode if compiled else 'eager'} ({why_c})")
    return TrainingMode(bf16, cl, compiled, line)


def uses_channels_last(cfg: RunConfig, device: torch.device) -> bool:
    """Whether training keeps the network and its input in the channels-last layout (:func:`training_mode`)."""
    return training_mode(cfg, device).channels_last


def build_model(cfg: RunConfig, in_channels: int, device: torch.device, channels_last: bool | None = None) -> URLSOM:
    """The run's network on ``device``, channels-last where ``channels_last`` (default: :func:`uses_channels_last`)
    says so."""
    model = URLSOM(cfg.model, in_channels=in_channels).to(device)
    if uses_channels_last(cfg, device) if channels_last is None else channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


@dataclass
class TrainResult:
    model: URLSOM
    history: list[dict[str, Any]]
    stop_reason: str
    epochs: int
    train_seconds: float
    resumed_from: int | None = None


@dataclass
class _State:
    epoch: int = 0
    step: int = 0  # batches done within ``epoch``
    perm: torch.Tensor | None = None
    sums: torch.Tensor | None = None  # (4,) float64 on the device: the epoch's sums of TERMS
    history: list[dict[str, Any]] = field(default_factory=list)
    best: float = math.inf
    best_map: tuple[float, float] = (-math.inf, math.inf)  # the monitor's best NS and TE (patience_on: map)
    bad_epochs: int = 0
    elapsed: float = 0.0
    stop_reason: str | None = None


class Trainer:
    """Trains one URL-SOM (paper Sec. V.B) and checkpoints it; :meth:`fit` resumes from ``out_dir``.

    Parameters
    ----------
    cfg : RunConfig
        The run's data, model and training settings.
    splits : Splits
        The training images (uint8 (N, C, S, S), moved to ``device`` whole) and their labels (used only
        by the monitor's NS).
    device : str or torch.device
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (:func:`~urlsom_core.distributed.pick_device`).
    out_dir : path, optional
        Receives ``checkpoint.pt`` (and ``checkpoint.prev.pt``); without it nothing is written.
    progress : bool
        A tqdm bar of epochs (rank 0 only).
    on_epoch : callable, optional
        Called after every epoch with its history row (the run store appends it to history.jsonl).
    checkpoint_seconds : float
        Also checkpoint mid-epoch when this long has passed since the last one (0: every step).
    log : callable
        Where warnings, the resume line and the epoch-time line (:func:`epoch_time_line`, after a warm-up
        step and ``TIMING_STEPS`` timed steps of a session) go.
    sync_every : int
        Read the loss terms back from the device (finiteness check, progress) every this many steps and
        at the end of every epoch.
    stats : tuple, optional
        The training images' channel statistics (mean, std) (``ImageData.channel_stats``); computed from
        ``splits`` when not given (the run store passes the ones it stores with the run).

    Attributes
    ----------
    model : URLSOM
        The network being trained (in eval mode after :meth:`fit`).
    views : callable, optional
        ``views(x, generator, offset, total) -> (2B, C, S, S)``: both views of the uint8 batch ``x``;
        None (default) is the batched :class:`~urlsom_core.augment.Augment` twice.
        ``URLSOM_AUGMENT=per-sample`` sets the torchvision per-sample baseline (``per_sample``).
    """

    def __init__(
        self,
        cfg: RunConfig,
        splits: Splits,
        device: str | torch.device = "cpu",
        out_dir: str | Path | None = None,
        progress: bool = True,
        on_epoch: Callable[[dict[str, Any]], None] | None = None,
        checkpoint_seconds: float = 120.0,
        log: Callable[[str], None] = print,
        sync_every: int = 25,
        stats: tuple[Sequence[float], Sequence[float]] | None = None,
    ) -> None:
        if not (isinstance(sync_every, int) and sync_every >= 1):
            raise ConfigError(f"sync_every {sync_every!r}: allowed is an integer >= 1")
        self.cfg, self.splits, self.out_dir = cfg, splits, Path(out_dir) if out_dir else None
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.progress, self.on_epoch, self.checkpoint_seconds, self.log = progress, on_epoch, checkpoint_seconds, log
        self.sync_every = sync_every
        self.rank, self.world = distributed()
        seed_everything(cfg.train.seed)
        self.stats = stats if stats is not None else splits.train.channel_stats()
        self.aug = make_augment(cfg, splits.input_size, splits.flip, self.stats)
        self.mode = training_mode(cfg, self.device, self.world)
        self.model = build_model(cfg, splits.train.channels, self.device, self.mode.channels_last)
        self.amp = cfg.train.amp and self.device.type == "cuda"  # also the monitor's predictions
        self.amp_cpu = self.mode.bf16 and self.device.type == "cpu"  # the training steps and the monitor
        self.channels_last = self.mode.channels_last  # the views' layout in :meth:`step`
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest convolution once
        self.ddp_model: torch.nn.Module = self.model
        if self.world > 1:
            if cfg.train.batch_size % self.world:
                raise ConfigError(f"batch_size {cfg.train.batch_size}: allowed is a multiple of the "
                                  f"{self.world} processes (each takes batch_size / {self.world} pairs)")
            self.model = sync_batchnorm(self.model, self.device)  # type: ignore[assignment]
            self.ddp_model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.forward = self.ddp_model
        if self.mode.compiled:
            self.forward = torch.compile(self.ddp_model, mode=cfg.train.compile_mode)  # type: ignore[assignment]
        self._compile_unproven = self.mode.compiled and cfg.train.compile == AUTO  # falls back to eager if it fails
        self.views: Callable[..., torch.Tensor] | None = None
        if os.environ.get("URLSOM_AUGMENT", "batched") == "per-sample":  # benchmark baseline, see bench.py
            from .per_sample import PerSampleViews

            self.views = PerSampleViews(self.aug)
            log("warning: URLSOM_AUGMENT=per-sample: torchvision per-sample augmentation (the slow baseline of "
                "`urlsom bench`); its random draws differ from the default, keep its runs in a separate store")
        proj = [p for n, p in self.model.named_parameters() if n.startswith("head.proj.weight")]
        rest = [p for n, p in self.model.named_parameters() if not n.startswith("head.proj.weight")]
        self.opt = torch.optim.Adam(
            [{"params": rest}, {"params": proj, "weight_decay": cfg.train.weight_decay}], lr=cfg.train.lr_at(0)
        )
        self.images = splits.train.images.to(self.device)  # resident, uint8
        self.gen_perm = torch.Generator().manual_seed(cfg.train.seed)
        self.gen_aug = torch.Generator(device=self.device).manual_seed(cfg.train.seed + 1)
        n_mon = min(cfg.train.monitor_samples, len(splits.train))
        self.monitor_idx = torch.randperm(len(splits.train), generator=torch.Generator().manual_seed(cfg.train.seed + 2))[:n_mon]
        self.monitor_heldout_idx = _heldout_sample(splits, cfg.train.monitor_samples, cfg.train.seed + 3)
        self.state = _State()
        self.resumed_path: Path | None = None
        self._signals = StopSignals()
        self._bad_step = torch.full((), -1, dtype=torch.int64, device=self.device)  # first non-finite step
        self._bad_vals = torch.zeros(len(TERMS), device=self.device)
        self.sigma = cfg.model.sigma  # the Gaussian's sigma in use (``model.sigma_end``: it shrinks)

    # ------------------------------------------------------------------------------------------ step
    def step(self, idx: torch.Tensor, epoch: int, offset: int = 0, total: int | None = None,
             lap: Callable[[str], None] | None = None) -> torch.Tensor:
        """One optimisation step on the resident images ``idx`` (B,): both views, forward, loss, backward, Adam.

        ``offset``/``total``: this rank's rows of the global batch (the augmentation's random draws are the
        global ones). ``lap``, when given, is called with each phase's name as it ends (``augment``,
        ``forward``, ``loss``, ``backward``, ``optimizer``): ``urlsom bench`` times the phases with it. Returns
        the (4,) float32 loss terms (:data:`TERMS`) detached, on the device: nothing here waits for the device."""
        t = self.cfg.train
        mark = lap or (lambda name: None)
        x = self.images[idx.to(self.device, non_blocking=True)]
        if self.views is not None:
            v = self.views(x, self.gen_aug, offset, total)
        else:
            v = torch.cat((self.aug(x, self.gen_aug, offset, total), self.aug(x, self.gen_aug, offset, total)))
        if self.channels_last:
            v = v.contiguous(memory_format=torch.channels_last)
        mark("augment")
        noise = t.warmup_noise_std if epoch < t.warmup_noise_epochs else 0.0
        with _autocast(self.device, self.amp or self.amp_cpu, cpu=self.amp_cpu):
            out = self._forward(v, noise)  # (2B, n) Softmax, float32
        mark("forward")
        p, z = out.chunk(2)
        loss = urlsom_loss(p, z, gamma=t.gamma, collapse_weight=t.collapse_weight_at(epoch))
        mark("loss")
        self.opt.zero_grad(set_to_none=True)
        loss.total.backward()
        mark("backward")
        self.opt.step()
        mark("optimizer")
        return torch.stack([term.detach().float() for term in loss])

    def _forward(self, v: torch.Tensor, noise: float) -> torch.Tensor:
        """The training forward; a ``torch.compile`` that ``train.compile: auto`` chose and that fails on its
        first call (no working compiler toolchain, an unsupported platform) is dropped for eager, with a warning."""
        if not self._compile_unproven:
            return self.forward(v, noise)
        try:
            out = self.forward(v, noise)
        except Exception as e:  # noqa: BLE001 - whatever the compiler raised, eager still trains
            msg = " ".join(f"{type(e).__name__}: {e}".split())[:160]
            self.log(f"warning: torch.compile failed on the first step ({msg}); training eager (train.compile auto)")
            self.forward = self.ddp_model
            self.mode = TrainingMode(self.mode.bf16, self.mode.channels_last, False,
                                     self.mode.line.replace("torch.compile", "eager after a failed torch.compile"))
            out = self.forward(v, noise)
        self._compile_unproven = False
        return out

    # ------------------------------------------------------------------------------------------- fit
    def fit(self) -> TrainResult:
        """Train to the end, resuming from out_dir's checkpoint; returns the model, history and stop reason.

        Stops after ``train.epochs``, on early stopping, or at the time budget. SIGTERM/SIGINT during
        training save a checkpoint and raise :class:`TrainingInterrupted` (handlers installed only for this
        call); a non-finite loss raises :class:`TrainingDiverged` and keeps the last good checkpoint."""
        with StopSignals() as self._signals:
            return self._fit()

    def _fit(self) -> TrainResult:
        t, s = self.cfg.train, self.state
        resumed = self.try_resume()
        N = len(self.splits.train)
        B = min(t.batch_size, N)
        local_b, steps = B // self.world, N // B  # full batches only: a partial one changes the loss statistics
        if steps == 0 or local_b < 2:
            raise ConfigError(f"batch_size {t.batch_size}: needs at least 2 samples per process and N >= batch ({N})")
        if resumed is not None and self.rank == 0:
            self.log(f"resuming from epoch {s.epoch} step {s.step} ({s.elapsed:.0f} s already trained)")
        self.model.train()
        start, last_ck = time.monotonic() - s.elapsed, time.monotonic()
        bar = _bar(self.progress and self.rank == 0, t.epochs, s.epoch)
        clock = _StepClock(s.step, steps, self._sync) if s.step < steps and self.rank == 0 else None
        while s.stop_reason is None and s.epoch < t.epochs:
            perm, ep_start = self._begin_epoch(N), time.monotonic()
            while s.step < steps:
                idx = perm[s.step * B : (s.step + 1) * B][self.rank * local_b : (self.rank + 1) * local_b]
                self._record(self.step(idx, s.epoch, self.rank * local_b, local_b * self.world))
                s.step += 1
                s.elapsed = time.monotonic() - start
                if clock is not None and clock.done(s.step):  # the first steps of this session: say when it ends
                    self._log_epoch_time(clock, steps)
                    clock = None
                synced = s.step % self.sync_every == 0
                if synced:
                    self._check_finite()
                    _show(bar, f"step {s.step}/{steps} loss {float(s.sums[0]) / s.step:.4f}")
                if (synced or self.world == 1) and t.max_minutes and self._any_rank(s.elapsed >= 60.0 * t.max_minutes):
                    s.stop_reason = "time budget"
                    break
                if (synced or self.world == 1) and self._stop_requested():
                    self._interrupt(save=True)
                if time.monotonic() - last_ck > self.checkpoint_seconds and s.step < steps:
                    self.save_checkpoint()
                    last_ck = time.monotonic()
            row = self._end_epoch(steps, time.monotonic() - ep_start)
            _show(bar, f"loss {row['loss']:.4f} NS {row['monitor_ns']:.3f} live {row['monitor_live']}", advance=True)
            self.save_checkpoint()
            last_ck = time.monotonic()
            if self.on_epoch is not None and self.rank == 0:
                self.on_epoch(row)
            if s.stop_reason is None and self._stop_requested():
                self._interrupt(save=False)
        if bar is not None:
            bar.close()
        self.model.eval()
        return TrainResult(self.model, s.history, s.stop_reason or "max epochs", s.epoch, s.elapsed, resumed)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _log_epoch_time(self, clock: _StepClock, steps: int) -> None:
        """Log :func:`epoch_time_line` for the steps ``clock`` timed."""
        t, s = self.cfg.train, self.state
        budget = 60.0 * t.max_minutes - s.elapsed if t.max_minutes else None
        self.log(epoch_time_line(clock.seconds / clock.measured, clock.measured, steps, t.epochs - s.epoch, s.step,
                                 budget, t.max_minutes))

    # ------------------------------------------------------------------------------- epoch bookkeeping
    def _begin_epoch(self, N: int) -> torch.Tensor:
        """Set the epoch's learning rate; draw its permutation unless resuming mid-epoch; return it on the device."""
        s = self.state
        for g in self.opt.param_groups:
            g["lr"] = self.cfg.train.lr_at(s.epoch)
        if s.perm is None or s.step == 0:
            s.perm = torch.randperm(N, generator=self.gen_perm)
            s.sums = None
            self._anneal()
        if s.sums is None:
            s.sums = torch.zeros(len(TERMS), dtype=torch.float64, device=self.device)
        return s.perm.to(self.device)  # once per epoch: no host traffic per step

    def _progress(self) -> float:
        """``TrainConfig.progress`` now; under DDP the furthest of the ranks' (their clocks differ a little), so
        that every rank takes the same decisions from it."""
        s = self.state
        p = self.cfg.train.progress(s.epoch, s.elapsed)
        return max_over_ranks(round(p * 1e6), self.device) / 1e6 if self.world > 1 else p

    def _anneal(self) -> None:
        """Set this epoch's sigma (``RunConfig.sigma_at``), the same on every rank."""
        if self.cfg.model.sigma_end is None:
            return
        sigma = self.cfg.sigma_at(self._progress())
        if sigma != self.sigma:
            self.model.head.set_sigma(sigma)
            self.sigma = sigma

    def _record(self, vals: torch.Tensor) -> None:
        """Add a step's loss terms to the epoch sums and remember the first non-finite step, on the device."""
        s = self.state
        assert s.sums is not None
        s.sums.add_(vals.double())
        first = ~torch.isfinite(vals).all() & (self._bad_step < 0)
        self._bad_step.masked_fill_(first, s.step)
        self._bad_vals = torch.where(first, vals, self._bad_vals)

    def _check_finite(self) -> None:
        """Raise :class:`TrainingDiverged` when a step since the last check had a non-finite loss (one sync)."""
        bad = int(self._bad_step)
        if bad < 0:
            return
        vals = dict(zip(TERMS, self._bad_vals.tolist(), strict=True))
        terms = [k for k, v in vals.items() if k != "loss" and not math.isfinite(v)] or ["total"]
        raise TrainingDiverged(f"loss is {vals['loss']} at epoch {self.state.epoch} step {bad} (0-based) in loss "
                               f"term {', '.join(terms)}; training stopped, {self._kept()}")

    def _end_epoch(self, steps: int, seconds: float) -> dict[str, Any]:
        """The epoch's history row (mean loss terms, monitor NS), early stopping, and the step to the next epoch."""
        t, s = self.cfg.train, self.state
        self._check_finite()
        done = s.step
        assert s.sums is not None
        if self.world > 1:  # the epoch's loss terms over the global batch (the same on every rank)
            torch.distributed.all_reduce(s.sums)
            s.sums /= self.world
        row: dict[str, Any] = {k: v / max(done, 1) for k, v in zip(TERMS, s.sums.tolist(), strict=True)}
        row.update(epoch=s.epoch, lr=t.lr_at(s.epoch), steps=done, partial=done < steps,
                   seconds=round(seconds, 3), elapsed=round(s.elapsed, 3))
        row.update(self.monitor())
        annealing = self.cfg.model.sigma_end is not None and self.sigma > self.cfg.model.sigma_end
        if self.cfg.model.sigma_end is not None:
            row["sigma"] = round(self.sigma, 5)
        s.history.append(row)
        s.epoch, s.step = s.epoch + 1, 0
        if annealing and not row["partial"]:  # the loss moves with sigma: patience counts from the anneal's end
            s.best, s.bad_epochs = row["loss"], 0
        elif not row["partial"]:
            better = row["loss"] < s.best - t.min_delta
            if better:  # a best moves only by more than its delta, so slow steady gains add up
                s.best = row["loss"]
            if t.patience_on == "map":
                ns, te = row.get("monitor_heldout_ns", row["monitor_ns"]), row["monitor_te"]
                ns_up, te_down = ns > s.best_map[0] + MAP_DELTA, te < s.best_map[1] - MAP_DELTA
                s.best_map = (ns if ns_up else s.best_map[0], te if te_down else s.best_map[1])
                better = better or ns_up or te_down
            s.bad_epochs = 0 if better else s.bad_epochs + 1
            if s.bad_epochs >= t.patience:
                s.stop_reason = "early stop"
        if s.stop_reason is None and s.epoch >= t.epochs:
            s.stop_reason = "max epochs"
        return row

    def monitor(self) -> dict[str, float | int]:
        """NS, live neurons (and their share of the map) and the topographic error (``metrics.topographic_error``:
        the share of images whose two largest outputs are not grid neighbours) on a fixed sample of the
        training set, un-augmented (cheap, for progress and history), and with a held-out split the held-out
        figures of :meth:`monitor_heldout`. The backbone computes in the training's precision (bf16 where the
        steps do, as on CUDA), so the monitor costs what a forward pass of the training costs; the run's final
        figures (``evaluation``) are computed in float32 on a CPU."""
        sub = self.splits.train.subset(self.monitor_idx)
        out = predict(self.model, sub, self.aug, self.device, amp=self.amp or self.amp_cpu, cpu_amp=self.amp_cpu)
        m = self.cfg.model
        r = neural_selectivity(out["winner"], sub.labels.numpy(), m.n_neurons)
        te = topographic_error(out["top2"], m.grid, torus=m.circular, lattice=m.lattice)
        row: dict[str, float | int] = {
            "monitor_ns": round(float(r["neural_selectivity"]), 5), "monitor_live": int(r["active_neurons"]),
            "monitor_live_share": round(r["active_neurons"] / m.n_neurons, 5), "monitor_te": round(te, 5)}
        if self.monitor_heldout_idx is not None:
            row.update(self.monitor_heldout(out["winner"], sub.labels.numpy()))
        return row

    def monitor_heldout(self, train_winners: np.ndarray, train_labels: np.ndarray) -> dict[str, float]:
        """Held-out NS (paper Sec. V.C, scored on images not trained on) of a fixed sample of at most
        ``train.monitor_samples`` held-out images, with the neurons labelled by the monitor's training sample
        ``train_winners`` / ``train_labels`` (N,): ``monitor_heldout_ns``, and ``monitor_heldout_on_dead``, the
        share of that sample whose winner won no image of the training sample (counted wrong). A neuron
        labelled by a sample of the training images is labelled less often and less surely than by all of
        them, so this runs below the run's final held-out NS (metrics.json), by about that share and more."""
        from .metrics import heldout_neural_selectivity, heldout_on_dead

        assert self.splits.heldout is not None and self.monitor_heldout_idx is not None
        sub = self.splits.heldout.subset(self.monitor_heldout_idx)
        w = predict(self.model, sub, self.aug, self.device, amp=self.amp or self.amp_cpu,
                    cpu_amp=self.amp_cpu)["winner"]  # (M,)
        n = self.cfg.model.n_neurons
        return {"monitor_heldout_ns": round(heldout_neural_selectivity(train_winners, train_labels, w,
                                                                        sub.labels.numpy(), n), 5),
                "monitor_heldout_on_dead": round(heldout_on_dead(train_winners, w, n), 5)}

    # ----------------------------------------------------------------------------- stops across ranks
    def _any_rank(self, flag: bool) -> bool:
        """``flag`` on any rank (under DDP every rank must take the same decision, or the others hang)."""
        return bool(max_over_ranks(int(flag), self.device))

    def _stop_requested(self) -> bool:
        """Whether a stop signal arrived (on any rank: under DDP all ranks stop at the same step)."""
        sig = self._signals
        if self.world > 1 and sig.signum is None:
            sig.signum = max_over_ranks(0, self.device) or None
        elif self.world > 1:
            max_over_ranks(sig.signum, self.device)  # every rank joins the same collective
        return sig.signum is not None

    def _interrupt(self, save: bool) -> None:
        if save:
            self._check_finite()
            self.save_checkpoint()
        s, signum = self.state, self._signals.signum
        where = f"saved to {self.out_dir / CHECKPOINT}" if self.out_dir else "not saved (no run directory)"
        raise TrainingInterrupted(f"stopped by {signal_name(signum)} at epoch {s.epoch} step {s.step}; checkpoint "
                                  f"{where}; rerun the same command to resume", signum or 0)

    # ------------------------------------------------------------------------------------ checkpoints
    def _generators(self) -> dict[str, torch.Generator]:
        return {"perm": self.gen_perm, "aug": self.gen_aug}

    def save_checkpoint(self) -> None:
        """Atomically write checkpoint.pt (rank 0), keeping the previous one as checkpoint.prev.pt.

        Parameters that are no longer finite are never saved (:class:`TrainingDiverged`): the last good
        checkpoint stays."""
        if self.out_dir is None or self.rank != 0:
            return
        s = self.state
        bad = [n for n, p in self.model.state_dict().items() if p.is_floating_point() and not torch.isfinite(p).all()]
        if bad:
            raise TrainingDiverged(f"parameter {bad[0]} is no longer finite at epoch {s.epoch} step {s.step}; "
                                   f"training stopped, {self._kept()}")
        sums = {} if s.sums is None else dict(zip(TERMS, s.sums.tolist(), strict=True))
        ckpt.save(self.out_dir, {
            "config": self.cfg.to_dict(), "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
            "epoch": s.epoch, "step": s.step, "perm": s.perm, "sums": sums, "history": s.history, "best": s.best,
            "best_map": list(s.best_map), "bad_epochs": s.bad_epochs, "elapsed": s.elapsed, "stop_reason": s.stop_reason, "sigma": self.sigma,
            "rng": ckpt.rng_state(self.device, self._generators()),
        })

    def _kept(self) -> str:
        path = self.out_dir / CHECKPOINT if self.out_dir else None
        return f"the last good checkpoint {path} is kept" if path and path.exists() else "no checkpoint was saved yet"

    def load_checkpoint(self, path: Path) -> None:
        """Restore model, optimizer, loop state and every RNG from ``path`` (:func:`checkpoint.load` checks it).

        An unreadable or altered file, or one of another config, is a :class:`CheckpointError` naming it."""
        ck = ckpt.load(path, self.cfg)
        self.model.load_state_dict(ckpt.model_state(ck))
        self.opt.load_state_dict(ck["optimizer"])
        s = self.state
        s.epoch, s.step, s.perm = ck["epoch"], ck["step"], ck["perm"]
        sums = ck["sums"]
        s.sums = torch.tensor([sums[k] for k in TERMS], dtype=torch.float64, device=self.device) if sums else None
        s.history, s.best, s.bad_epochs, s.elapsed = ck["history"], ck["best"], ck["bad_epochs"], ck["elapsed"]
        s.stop_reason = ck["stop_reason"]
        s.best_map = tuple(ck.get("best_map", (-math.inf, math.inf)))  # type: ignore[assignment]
        self.sigma = ck.get("sigma", self.cfg.model.sigma)  # the loaded kernel is of this sigma
        ckpt.restore_rng(ck["rng"], self.device, self._generators())
        self.resumed_path = path

    def try_resume(self) -> int | None:
        """Load the newest readable checkpoint in out_dir (checkpoint.pt, else checkpoint.prev.pt, saying so).
        Returns the epoch resumed from, or None."""
        if self.out_dir is None or not ckpt.load_newest(self.out_dir, self.load_checkpoint, self.log):
            return None
        return self.state.epoch


def _heldout_sample(splits: Splits, cap: int, seed: int) -> torch.Tensor | None:
    """A fixed random sample of at most ``cap`` held-out images (indices), or None without a held-out split."""
    if splits.heldout is None or len(splits.heldout) == 0:
        return None
    return torch.randperm(len(splits.heldout), generator=torch.Generator().manual_seed(seed))[:min(cap, len(splits.heldout))]


TIMING_STEPS = 5  # training steps timed at the start of a session (after a warm-up step) for the expected end


class _StepClock:
    """Times up to ``TIMING_STEPS`` steps from ``step`` on, after a first warm-up step (the first forward
    pass may compile or autotune) unless only one step is left in the epoch. ``sync`` waits for the device."""

    def __init__(self, step: int, steps: int, sync: Callable[[], None]) -> None:
        self.first = step + 1 if steps - step > 1 else step
        self.last, self.sync, self.since, self.seconds = min(self.first + TIMING_STEPS, steps), sync, time.monotonic(), 0.0

    @property
    def measured(self) -> int:
        return self.last - self.first

    def done(self, step: int) -> bool:
        """Called after each step with the steps done; True once the timed steps are over."""
        if step == self.first:
            self.sync()
            self.since = time.monotonic()
        if step < self.last:
            return False
        self.sync()
        self.seconds = time.monotonic() - self.since
        return True


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 90 * 60 else f"{seconds / 3600:.1f} h"


def epoch_time_line(step_seconds: float, measured: int, steps: int, epochs_left: int, done: int,
                    budget_seconds: float | None = None, max_minutes: float | None = None,
                    now: float | None = None) -> str:
    """One line: the epoch time from ``measured`` timed steps of ``step_seconds`` each, and when training
    ends after ``epochs_left`` epochs (the current one included, ``done`` of its ``steps`` steps done), or
    when ``budget_seconds`` of the time budget (``max_minutes``) run out first. Steps only: the
    end-of-epoch monitor and checkpoint add a little; early stopping can end it sooner.

    Example
    -------
    >>> epoch_time_line(0.5, 5, 20, 3, 5, now=0.0)[:60]
    'epoch time ~10.0 s (measured over 5 steps of 20); 3 epochs -'
    """
    epoch = step_seconds * steps
    left = epoch * epochs_left - step_seconds * done
    clock = time.strftime("%H:%M", time.localtime((time.time() if now is None else now) + min(left, budget_seconds or left)))
    shown = f"{epoch:.1f}" if epoch >= 0.1 else f"{epoch:.3f}"  # a tiny run's epoch is not "~0.0 s"
    head = f"epoch time ~{shown} s (measured over {measured} step{'s' if measured > 1 else ''} of {steps}); "
    if budget_seconds is not None and budget_seconds < left:
        fit = (budget_seconds + step_seconds * done) / epoch  # epochs of this session within the budget
        n = round(fit)
        when = "before the first epoch ends" if fit < 1 else f"after about {n} epoch{'s' if n != 1 else ''}"
        return (head + f"{epochs_left} epochs would take about {_duration(left)}: the {max_minutes:g}-minute budget "
                f"ends training at {clock} (in about {_duration(budget_seconds)}), {when}")
    return (head + f"{epochs_left} epoch{'s' if epochs_left > 1 else ''} -> expected end {clock} "
            f"(in about {_duration(left)}; sooner if early stopping ends it)")


def _bar(enabled: bool, total: int, initial: int) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="epoch", dynamic_ncols=True, leave=True)


def _show(bar: Any, text: str, advance: bool = False) -> None:
    if bar is not None:
        if advance:
            bar.update(1)
        bar.set_postfix_str(text)


__all__ = ["Trainer", "TrainResult", "TrainingDiverged", "epoch_time_line", "make_augment", "build_model",
           "uses_channels_last", "training_mode", "TrainingMode", "CHANNELS_LAST_MAX_WIDTH", "TERMS"]

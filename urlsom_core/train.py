"""One training loop (paper Sec. V.B): two augmented views per image, Adam with learning-rate steps,
early stopping, a time budget, checkpoints with every RNG state, and resume.

The whole training set lives on the device as uint8; a batch is gathered by index and augmented there
(``augment.Augment``); both views go through the network in one forward pass of 2B images. The epoch's
permutation goes to the device once, so a step moves nothing between host and device but its four loss values
(one synchronisation). On CUDA the forward runs under bf16 autocast (``train.amp``) with channels_last and
cuDNN autotuning; ``train.compile`` wraps the network (head included) in ``torch.compile`` on any device.

Several processes (``torchrun --nproc-per-node K urlsom train ...``: :func:`init_distributed`) train one model
with DDP. Each rank takes its B/K rows of every global batch of B pairs; the augmentation draws its random
numbers for the whole global batch and keeps its rows; batch norm uses the statistics of the global batch
(torch's SyncBatchNorm on CUDA, :class:`GlobalBatchNorm2d` on the CPU); and the batch mean ``a`` of
loss_WTA and loss_collapse (Eqs. 3-5) is all-reduced over ranks (:func:`global_mean_direction`). The
paper's ``a`` is a mean over its batch of 256: with ``a`` per rank, K GPUs would optimise a different loss
(K small batches) and results would change with K; gathered, a run on K processes is the run on one with
the same global batch, step for step (``tests/test_ddp.py``; dropout and the warm-up noise draw per rank,
so with those the runs agree in distribution only). Only rank 0 writes files.

Example:
    >>> from urlsom_core.config import RunConfig
    >>> from urlsom_core.data import resolve
    >>> cfg = RunConfig.from_dict({"model": {"grid": [5, 5], "widths": [8], "blocks": 1}, "train": {"epochs": 1}})
    >>> result = Trainer(cfg, resolve(cfg.data), device="cpu", progress=False).fit()
    >>> result.stop_reason
    'max epochs'
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .augment import Augment
from .config import ConfigError, RunConfig
from .data import ImageData, Splits
from .files import RunFileError, atomic_write
from .loss import mean_direction, urlsom_loss
from .metrics import neural_selectivity
from .model import URLSOM

CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"
CHECKPOINT_FORMAT = 2  # 2: with a content digest


class TrainingDiverged(RuntimeError):
    """The loss became NaN or Inf; the message names the epoch, the step and the loss term."""


class CheckpointError(RuntimeError):
    """A checkpoint could not be read; the message names the file."""


class TrainingInterrupted(RuntimeError):
    """SIGTERM or SIGINT arrived during training; a checkpoint was saved first. ``signum`` names the signal."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum


def pick_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu. A device that is not there is a ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r}: no CUDA device here; allowed are auto, cpu")
        idx = torch.device(name).index
        if idx is not None and idx >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) here")
        return torch.device(name)
    raise ConfigError(f"device {name!r}: allowed are auto, cpu, cuda, cuda:N")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_augment(cfg: RunConfig, splits: Splits) -> Augment:
    mean, std = splits.train.channel_stats()
    return Augment(out_size=splits.input_size, flip=splits.flip, crop_min=cfg.data.crop_min, mean=mean, std=std,
                   jitter_reading=cfg.data.jitter)


def build_model(cfg: RunConfig, in_channels: int, device: torch.device) -> URLSOM:
    model = URLSOM(cfg.model, in_channels=in_channels).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model


@torch.no_grad()
def predict(
    model: URLSOM, data: ImageData, aug: Augment, device: torch.device, batch: int = 1024, embed: bool = False,
    amp: bool = True,
) -> dict[str, np.ndarray]:
    """Un-augmented outputs: ``winner`` (N,), ``top2`` (N, 2) neurons, and ``embedding`` (N, d) if asked.

    On CUDA the images go up from pinned memory asynchronously and the results come back once, at the end."""
    was = model.training
    model.eval()
    src = data.images
    if device.type == "cuda" and not src.is_cuda:
        src = src.pin_memory()
    top2, embs = [], []
    for i in range(0, len(data), batch):
        x = aug.plain(src[i : i + batch].to(device, non_blocking=True))
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with _autocast(device, amp):
            h = model.backbone(x)
            p = model.head(h)
        top2.append(torch.sort(p, dim=1, descending=True, stable=True).indices[:, :2])  # ties -> lower index
        if embed:
            embs.append(h.float())
    model.train(was)
    t2 = torch.cat(top2).cpu()
    out = {"winner": t2[:, 0].numpy(), "top2": t2.numpy()}
    if embed:
        out["embedding"] = torch.cat(embs).cpu().numpy()
    return out


def _autocast(device: torch.device, enabled: bool = True) -> Any:
    """bf16 autocast on CUDA (``train.amp``); plain float32 elsewhere."""
    if device.type == "cuda" and enabled:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def distributed() -> tuple[int, int]:
    """(rank, world size) when started by torchrun with an initialised process group, else (0, 1)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def global_mean_direction(p_hat: torch.Tensor, z_hat: torch.Tensor) -> torch.Tensor:
    """Eq. 3 over the GLOBAL batch: under DDP the per-rank sums are all-reduced, so every rank uses the
    ``a`` of the whole batch and a run on k processes with global batch B gives the loss of one process
    with batch B. Every rank holds the same number of rows (``Trainer`` makes it so).

    Gradient: the all-reduce's backward sums the gradients of all ranks' losses with respect to ``a``, so
    each rank back-propagates its share of d(sum of the k rank losses); DDP then averages over ranks,
    which gives exactly the one-process gradient (tests/test_ddp.py checks it)."""
    _, world = distributed()
    s = p_hat.sum(0) + z_hat.sum(0)  # (n,)
    if world > 1:
        import torch.distributed._functional_collectives as fc

        s = fc.all_reduce(s, "sum", torch.distributed.group.WORLD)  # differentiable, traceable by compile
    return s / (2.0 * p_hat.shape[0] * world)


class GlobalBatchNorm2d(torch.nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the global batch of all DDP ranks, for devices
    where torch's SyncBatchNorm does not run (it is CUDA-only; this one serves CPU/gloo). Per channel, the
    sums of x - c and (x - c)^2 (c: the running mean, the same on every rank, against cancellation) are
    all-reduced with gradient; running statistics are updated as BatchNorm2d does. Outside training, or in
    one process, it is plain BatchNorm2d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, world = distributed()
        if not self.training or world == 1:
            return super().forward(x)
        import torch.distributed._functional_collectives as fc

        C = x.shape[1]
        xf = x.float()
        c = self.running_mean.detach().float().view(1, C, 1, 1) if self.running_mean is not None else 0.0
        d = xf - c
        sums = torch.cat((d.sum(dim=(0, 2, 3)), (d * d).sum(dim=(0, 2, 3))))
        sums = fc.all_reduce(sums, "sum", torch.distributed.group.WORLD)
        n = (x.numel() // C) * world
        mean_d = sums[:C] / n
        var = (sums[C:] / n - mean_d * mean_d).clamp_min(0.0)  # biased, used to normalise
        mean = mean_d + (c.view(C) if isinstance(c, torch.Tensor) else c)
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)  # type: ignore[union-attr]
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * (n / max(n - 1, 1)), alpha=m)
        y = (xf - mean.view(1, C, 1, 1)) * torch.rsqrt(var + self.eps).view(1, C, 1, 1)
        if self.affine:
            y = y * self.weight.view(1, C, 1, 1) + self.bias.view(1, C, 1, 1)
        return y.to(x.dtype)


def convert_global_batchnorm(module: torch.nn.Module) -> torch.nn.Module:
    """Every BatchNorm2d of ``module`` replaced by a :class:`GlobalBatchNorm2d` with the same state."""
    out = module
    if isinstance(module, torch.nn.BatchNorm2d) and not isinstance(module, GlobalBatchNorm2d):
        out = GlobalBatchNorm2d(module.num_features, module.eps, module.momentum, module.affine,
                                module.track_running_stats)
        out.load_state_dict(module.state_dict())
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, convert_global_batchnorm(child))
    return out


def sync_batchnorm(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Batch statistics over the global batch under DDP: torch's SyncBatchNorm on CUDA, ours elsewhere."""
    if device.type == "cuda":
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return convert_global_batchnorm(model)


def init_distributed(device: str = "auto") -> tuple[int, int, str]:
    """Join the process group when started by ``torchrun`` (WORLD_SIZE > 1 in the environment).

    Returns (rank, world size, device for this rank): NCCL and ``cuda:LOCAL_RANK`` when CUDA is used, gloo
    and the CPU otherwise. Without torchrun: (0, 1, device) and nothing is initialised."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, device
    if not torch.distributed.is_available():
        raise ConfigError("WORLD_SIZE > 1 (torchrun) but this torch build has no torch.distributed")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r}: no CUDA device here; allowed are auto, cpu")
    if use_cuda:
        if local >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK {local}: only {torch.cuda.device_count()} CUDA device(s) here; "
                              "start at most that many processes per node")
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    else:
        device = "cpu"
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if use_cuda else "gloo")
    return torch.distributed.get_rank(), torch.distributed.get_world_size(), device


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
    sums: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    best: float = math.inf
    bad_epochs: int = 0
    elapsed: float = 0.0
    stop_reason: str | None = None


class Trainer:
    """Trains one URL-SOM. ``out_dir`` (optional) receives checkpoints; ``fit`` resumes from them.

    ``on_epoch(row)`` is called after every epoch with its history row (the run store appends it to
    history.jsonl). ``checkpoint_seconds`` also saves mid-epoch, so a long epoch is never lost whole.
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
    ) -> None:
        self.cfg = cfg
        self.splits = splits
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.out_dir = Path(out_dir) if out_dir else None
        self.progress = progress
        self.on_epoch = on_epoch
        self.checkpoint_seconds = checkpoint_seconds
        self.log = log
        self.rank, self.world = distributed()
        seed_everything(cfg.train.seed)
        self.aug = make_augment(cfg, splits)
        self.model = build_model(cfg, splits.train.channels, self.device)
        self.amp = cfg.train.amp and self.device.type == "cuda"
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
        if cfg.train.compile:
            self.forward = torch.compile(self.ddp_model)  # type: ignore[assignment]
        self.per_sample_views = None
        if os.environ.get("URLSOM_AUGMENT", "batched") == "per-sample":  # benchmark baseline, see bench.py
            from .bench import PerSampleViews

            self.per_sample_views = PerSampleViews(self.aug)
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
        self.state = _State()
        self.resumed_path: Path | None = None
        self._stop_signal: int | None = None

    # ------------------------------------------------------------------------------------ checkpoints
    def _rng_state(self) -> dict[str, Any]:
        st = {
            "torch": torch.get_rng_state(),
            "numpy": np.random.get_state(),
            "python": random.getstate(),
            "perm": self.gen_perm.get_state(),
            "aug": self.gen_aug.get_state(),
        }
        if self.device.type == "cuda":
            st["cuda"] = torch.cuda.get_rng_state(self.device)
        return st

    def save_checkpoint(self) -> None:
        """Atomically write checkpoint.pt, keeping the previous one as checkpoint.prev.pt.

        The old checkpoint is renamed to checkpoint.prev.pt only once the new one is complete on disk, so
        a kill or a full disk at any moment leaves at least one readable checkpoint. Parameters that are
        no longer finite are never saved (:class:`TrainingDiverged`): the last good checkpoint stays.
        """
        if self.out_dir is None or self.rank != 0:
            return
        s = self.state
        bad = [n for n, p in self.model.state_dict().items() if p.is_floating_point() and not torch.isfinite(p).all()]
        if bad:
            raise TrainingDiverged(f"parameter {bad[0]} is no longer finite at epoch {s.epoch} step {s.step}; "
                                   f"training stopped, {self._kept()}")
        payload = {
            "format": CHECKPOINT_FORMAT,
            "config": self.cfg.to_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "epoch": s.epoch,
            "step": s.step,
            "perm": s.perm,
            "sums": s.sums,
            "history": s.history,
            "best": s.best,
            "bad_epochs": s.bad_epochs,
            "elapsed": s.elapsed,
            "stop_reason": s.stop_reason,
            "rng": _rng_to_tensors(self._rng_state()),
        }
        payload["digest"] = _digest(payload)
        atomic_write(self.out_dir / CHECKPOINT, lambda fh: torch.save(payload, fh), keep_previous=self.out_dir / PREVIOUS)

    def _kept(self) -> str:
        path = self.out_dir / CHECKPOINT if self.out_dir else None
        return f"the last good checkpoint {path} is kept" if path and path.exists() else "no checkpoint was saved yet"

    def load_checkpoint(self, path: Path) -> None:
        """Restore everything from ``path`` (``torch.load(weights_only=True)``), after checking its digest.

        Any unreadable, truncated or altered file, or one of another config, is a :class:`CheckpointError`
        naming the file; nothing is restored from it."""
        try:
            ck = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
                raise ValueError(f"not a urlsom checkpoint of format {CHECKPOINT_FORMAT}")
            if ck.get("digest") != _digest({k: v for k, v in ck.items() if k != "digest"}):
                raise ValueError("its contents do not match the digest stored in it")
            old = RunConfig.from_dict(ck["config"])
        except Exception as e:  # noqa: BLE001 - any unreadable checkpoint gets one clear message
            msg = " ".join(f"{type(e).__name__}: {e}".split())[:200]
            raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({msg})") from None
        if old != self.cfg:
            raise CheckpointError(f"checkpoint {path} belongs to another config ({'; '.join(self.cfg.diff(old))})")
        self.model.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["optimizer"])
        s = self.state
        s.epoch, s.step, s.perm, s.sums = ck["epoch"], ck["step"], ck["perm"], ck["sums"]
        s.history, s.best, s.bad_epochs, s.elapsed = ck["history"], ck["best"], ck["bad_epochs"], ck["elapsed"]
        s.stop_reason = ck["stop_reason"]
        rng = _rng_from_tensors(ck["rng"])
        torch.set_rng_state(rng["torch"])
        np.random.set_state(rng["numpy"])
        random.setstate(rng["python"])
        self.gen_perm.set_state(rng["perm"])
        self.gen_aug.set_state(rng["aug"].cpu())
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"].cpu(), self.device)
        self.resumed_path = path

    def try_resume(self) -> int | None:
        """Load the newest readable checkpoint in out_dir. Returns the epoch resumed from, or None.

        checkpoint.pt first; when it is corrupt, truncated or missing (a kill between two renames) and
        checkpoint.prev.pt is readable, training restarts from that one and says so. A corrupt checkpoint
        with no good predecessor raises :class:`CheckpointError` naming the file."""
        if self.out_dir is None:
            return None
        path, prev = self.out_dir / CHECKPOINT, self.out_dir / PREVIOUS
        if not path.exists():
            if not prev.exists():
                return None
            self.log(f"warning: {path} is missing; restarting from the previous checkpoint {prev}")
            self.load_checkpoint(prev)
            return self.state.epoch
        try:
            self.load_checkpoint(path)
        except CheckpointError as e:
            if not prev.exists():
                raise CheckpointError(f"{e}; there is no previous checkpoint: delete the run directory "
                                      "to train from scratch") from None
            self.log(f"warning: {e}; restarting from the previous checkpoint {prev}")
            try:
                self.load_checkpoint(prev)
            except CheckpointError as e2:
                raise CheckpointError(f"{e}; and {e2}; delete the run directory to train from scratch") from None
        return self.state.epoch

    # ------------------------------------------------------------------------------------------ loop
    def _views(self, idx: torch.Tensor, offset: int = 0, total: int | None = None) -> torch.Tensor:
        """Both augmented views of the resident images ``idx`` (on the device), as one (2B, C, S, S) batch.
        ``offset``/``total``: this rank's rows of the global batch (the random draws are the global ones)."""
        x = self.images[idx]
        if self.per_sample_views is not None:
            v = self.per_sample_views(x, self.gen_aug)
        else:
            v = torch.cat((self.aug(x, self.gen_aug, offset, total), self.aug(x, self.gen_aug, offset, total)))
        if self.device.type == "cuda":
            v = v.contiguous(memory_format=torch.channels_last)
        return v

    def _step(self, idx: torch.Tensor, epoch: int, offset: int = 0, total: int | None = None) -> dict[str, float]:
        t = self.cfg.train
        v = self._views(idx.to(self.device, non_blocking=True), offset, total)
        noise = t.warmup_noise_std if epoch < t.warmup_noise_epochs else 0.0
        cw = t.collapse_weight_at(epoch)
        with _autocast(self.device, self.amp):
            out = self.forward(v, noise)  # (2B, n) Softmax, float32
        p, z = out.chunk(2)
        p_hat = torch.nn.functional.normalize(p, dim=1)
        z_hat = torch.nn.functional.normalize(z, dim=1)
        a = global_mean_direction(p_hat, z_hat) if self.world > 1 else mean_direction(p_hat, z_hat)
        loss = urlsom_loss(p, z, gamma=t.gamma, collapse_weight=cw, a=a)
        vals = {"loss": loss.total, "wta": loss.wta, "collapse": loss.collapse, "similarity": loss.similarity}
        host = dict(zip(vals, torch.stack([v_.detach().float() for v_ in vals.values()]).tolist(), strict=True))  # one sync
        if not math.isfinite(host["loss"]):
            bad = [k for k, v_ in vals.items() if k != "loss" and not torch.isfinite(v_)] or ["total"]
            raise TrainingDiverged(
                f"loss is {float(loss.total.detach())} at epoch {epoch} step {self.state.step} (0-based) "
                f"in loss term {', '.join(bad)}; training stopped, {self._kept()}"
            )
        self.opt.zero_grad(set_to_none=True)
        loss.total.backward()
        self.opt.step()
        return host

    def monitor(self) -> dict[str, float | int]:
        """NS and live neurons on a fixed sample of the training set (cheap, for progress and history)."""
        sub = self.splits.train.subset(self.monitor_idx)
        w = predict(self.model, sub, self.aug, self.device, amp=self.amp)["winner"]
        r = neural_selectivity(w, sub.labels.numpy(), self.cfg.model.n_neurons)
        return {"monitor_ns": round(float(r["neural_selectivity"]), 5), "monitor_live": int(r["active_neurons"])}

    def fit(self) -> TrainResult:
        """Train to the end (resuming from out_dir's checkpoint). SIGTERM/SIGINT during training save a
        checkpoint and raise :class:`TrainingInterrupted`; the handlers are installed only for this call."""
        self._stop_signal = None
        with self._stop_on_signals():
            return self._fit()

    @contextlib.contextmanager
    def _stop_on_signals(self) -> Iterator[None]:
        """SIGTERM and SIGINT ask for a clean stop at the next step; a second one acts at once, as the
        previous handler would. Signals that were ignored, or handled outside Python, are left alone."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous: dict[int, Any] = {}

        def handler(signum: int, frame: Any) -> None:
            if self._stop_signal is None:
                self._stop_signal = signum
                return
            old = previous[signum]
            signal.signal(signum, old)
            if callable(old):
                old(signum, frame)
            else:
                os.kill(os.getpid(), signum)

        for sig in (signal.SIGTERM, signal.SIGINT):
            old = signal.getsignal(sig)
            if old is None or old == signal.SIG_IGN:
                continue
            previous[sig] = old
            signal.signal(sig, handler)
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    def _any_rank(self, flag: bool) -> bool:
        """``flag`` on any rank (under DDP every rank must take the same decision, or the others hang)."""
        if self.world == 1:
            return flag
        t = torch.tensor([int(flag)], device=self.device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return bool(t.item())

    def _stop_requested(self) -> bool:
        """Whether a stop signal arrived (on any rank: under DDP all ranks stop at the same step)."""
        if self.world > 1:
            flag = torch.tensor([self._stop_signal or 0], device=self.device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            if int(flag.item()) and self._stop_signal is None:
                self._stop_signal = int(flag.item())
        return self._stop_signal is not None

    def _interrupt(self, save: bool) -> None:
        if save:
            self.save_checkpoint()
        s = self.state
        name = signal.Signals(self._stop_signal).name if self._stop_signal else "a signal"
        where = f"saved to {self.out_dir / CHECKPOINT}" if self.out_dir else "not saved (no run directory)"
        raise TrainingInterrupted(f"stopped by {name} at epoch {s.epoch} step {s.step}; checkpoint {where}; "
                                  "rerun the same command to resume", self._stop_signal or 0)

    def _fit(self) -> TrainResult:
        t = self.cfg.train
        resumed = self.try_resume()
        s = self.state
        N = len(self.splits.train)
        B = min(t.batch_size, N)
        local_b = B // self.world
        steps = N // B  # full batches only (a partial last batch would change the loss statistics)
        if steps == 0 or local_b < 2:
            raise ConfigError(f"batch_size {t.batch_size}: needs at least 2 samples per process and N >= batch ({N})")
        budget = t.max_minutes * 60.0 if t.max_minutes else math.inf
        self.model.train()
        if resumed is not None and self.rank == 0:
            self.log(f"resuming from epoch {s.epoch} step {s.step} ({s.elapsed:.0f} s already trained)")
        start = time.monotonic() - s.elapsed
        last_ck = time.monotonic()
        bar = _bar(self.progress and self.rank == 0, t.epochs, s.epoch)
        while s.stop_reason is None and s.epoch < t.epochs:
            for g in self.opt.param_groups:
                g["lr"] = t.lr_at(s.epoch)
            if s.perm is None or s.step == 0:
                s.perm = torch.randperm(N, generator=self.gen_perm)
                s.sums = {}
            perm = s.perm.to(self.device)  # once per epoch: no host traffic per step
            ep_start = time.monotonic()
            while s.step < steps:
                idx = perm[s.step * B : (s.step + 1) * B]
                idx = idx[self.rank * local_b : (self.rank + 1) * local_b]
                vals = self._step(idx, s.epoch, self.rank * local_b, local_b * self.world)
                for k, v in vals.items():
                    s.sums[k] = s.sums.get(k, 0.0) + v
                s.step += 1
                s.elapsed = time.monotonic() - start
                if bar is not None:
                    bar.set_postfix_str(f"step {s.step}/{steps} loss {vals['loss']:.4f}", refresh=False)
                    bar.refresh()
                if budget < math.inf and self._any_rank(s.elapsed >= budget):
                    s.stop_reason = "time budget"
                    break
                if self._stop_requested():
                    self._interrupt(save=True)
                if time.monotonic() - last_ck > self.checkpoint_seconds and s.step < steps:
                    self.save_checkpoint()
                    last_ck = time.monotonic()
            done = s.step
            if self.world > 1:  # the epoch's loss terms over the global batch (the same on every rank)
                keys = sorted(s.sums)
                tot = torch.tensor([s.sums[k] for k in keys], dtype=torch.float64, device=self.device)
                torch.distributed.all_reduce(tot)
                s.sums = dict(zip(keys, (tot / self.world).tolist(), strict=True))
            row: dict[str, Any] = {k: v / max(done, 1) for k, v in s.sums.items()}
            row.update(epoch=s.epoch, lr=t.lr_at(s.epoch), steps=done, partial=done < steps,
                       seconds=round(time.monotonic() - ep_start, 3), elapsed=round(s.elapsed, 3))
            row.update(self.monitor())
            s.history.append(row)
            s.epoch += 1
            s.step = 0
            if not row["partial"]:
                if row["loss"] < s.best - t.min_delta:
                    s.best, s.bad_epochs = row["loss"], 0
                else:
                    s.bad_epochs += 1
                if s.bad_epochs >= t.patience:
                    s.stop_reason = "early stop"
            if s.stop_reason is None and s.epoch >= t.epochs:
                s.stop_reason = "max epochs"
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(f"loss {row['loss']:.4f} NS {row['monitor_ns']:.3f} live {row['monitor_live']}")
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


def _bar(enabled: bool, total: int, initial: int) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="epoch", dynamic_ncols=True, leave=True)


def _digest(obj: Any) -> str:
    """SHA-256 of a checkpoint payload (tensors by dtype, shape and bytes). torch.load does not check tensor
    bytes, so a flipped bit would otherwise load silently."""
    h = hashlib.sha256()

    def visit(o: Any) -> None:
        if isinstance(o, torch.Tensor):
            t = o.detach().cpu().contiguous().reshape(-1)
            h.update(f"T{t.dtype}{tuple(o.shape)}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(o, dict):
            h.update(f"D{len(o)}".encode())
            for k in sorted(o, key=repr):
                h.update(repr(k).encode())
                visit(o[k])
        elif isinstance(o, (list, tuple)):
            h.update(f"L{len(o)}".encode())
            for v in o:
                visit(v)
        else:
            h.update(f"S{o!r}".encode())

    visit(obj)
    return h.hexdigest()


def _rng_to_tensors(st: dict[str, Any]) -> dict[str, Any]:
    """RNG states as tensors and plain lists, so the checkpoint loads with ``weights_only=True``."""
    kind, keys, pos, has_gauss, cached = st["numpy"]
    out = dict(st)
    out["numpy"] = {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                    "cached": float(cached)}
    version, internal, gauss = st["python"]
    out["python"] = {"version": int(version), "state": torch.tensor(internal, dtype=torch.int64),
                     "gauss": gauss if gauss is None else float(gauss)}
    return out


def _rng_from_tensors(st: dict[str, Any]) -> dict[str, Any]:
    out = dict(st)
    n = st["numpy"]
    out["numpy"] = ("MT19937", n["keys"].cpu().numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    p = st["python"]
    out["python"] = (p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss"])
    out["torch"] = st["torch"].cpu()
    out["perm"] = st["perm"].cpu()
    return out


__all__ = ["Trainer", "TrainResult", "TrainingDiverged", "TrainingInterrupted", "CheckpointError", "RunFileError", "predict", "pick_device"]

"""``urlsom bench``: how fast URL-SOM trains on this machine, measured side by side in one run.

Sections (``--sections``, default all), each a function returning a plain dict:

``augment``    our batched augmentation (:class:`~urlsom_core.augment.Augment` on resident uint8 batches) against
               a per-sample ``torchvision.transforms.v2`` pipeline in a DataLoader doing the same augmentations
               (RandomResizedCrop of side 22..32 of 32 then resize, flip, ColorJitter(0.4, 0.4, 0.4, 0.4) with
               p = 0.8, RandomGrayscale p = 0.5, standardise), same images, same process. Each side runs at each
               core budget (ours: 1 and all intra-op threads; theirs: 0 and as many workers as threads);
               ``augment_speedup`` is best against best, and ``speedup_same_cores`` the ratio per budget.
``peak``       the line to read the training rows against: the GFLOP/s of one 2048 x 2048 matrix product
               (``torch.mm``, best of repetitions) with torch's current intra-op threads, in float32 and, on CUDA
               or a CPU with native bf16 (:func:`~urlsom_core.predict.cpu_bf16_native`), in bf16. Without this
               section the training rows have no fraction of peak. On CUDA cuDNN may run float32 convolutions
               in TF32 while torch's float32 products do not (by default), so a float32 row's fraction there
               reads high.
``train``      training throughput (images per second, both views counted) of the real training step
               (:meth:`Trainer.step`: gather, augment, forward, loss, backward, Adam) for each net the rules and
               profiles train (``--nets``, default those three): ``paper`` (ResNet-20, 16/48/256, 32x32 RGB, the
               paper profile's batch of 256 pairs), ``quick`` (16/32/64, one block per stage, 16x16 gray, the
               few-images batch of 64) and ``cpu`` (``defaults.CPU_SETTING``: 16/32/64, one block, 32x32 RGB,
               batch 128), all on a 30x30 map; on request (``--nets cpu-wide``) the ``cpu`` net twice as wide
               (32/64/128). Each net runs in every combination of eager and ``torch.compile``d (with compile
               on), float32 and bf16 autocast (on CUDA and on a CPU with native bf16), and the channels-last
               layout or not (``train.channels_last``; CUDA always trains channels-last), at the net's batch
               (``--batch`` overrides). Each row has its FLOPs per image
               (forward + loss + backward of one view, from :class:`torch.utils.flop_counter.FlopCounterMode`:
               matrix products and convolutions), the achieved GFLOP/s (img/s x FLOPs per image) and its
               fraction of the ``peak`` of the same dtype.
``breakdown``  where a training step's time goes, for one net (``cpu``, or the first of ``--nets`` without it),
               eager, in the default mode (bf16 where the CPU has it natively, the layout of
               ``train.channels_last: auto``): augmentation (gather and both views), forward, loss, backward,
               optimizer (Adam), each timed apart (the device waited for after each) and given as a share of
               the whole step timed as :meth:`Trainer.step` runs it; the rest of the step is ``overhead``
               (Python and launches between the phases; small negative values are timing noise). Beside it the
               per-epoch monitor (:meth:`Trainer.monitor`, on ``train.monitor_samples`` images) as a share of an
               epoch of 10,000 images.
``loss``       URL-SOM loss against NT-Xent (InfoNCE, as SimCLR), forward + backward on the same (N, n)
               inputs for N in {256, 1024, 4096} and n in {100, 900, 3600}: time and peak memory, and the
               growth exponent of time in N (URL-SOM is linear in N, NT-Xent quadratic).
``epoch``      one epoch of the quick profile's CIFAR-10 stand-in run (digits) with our augmentation and with
               the per-sample torchvision pipeline (``URLSOM_AUGMENT=per-sample``): the before/after of the
               batched augmentation on a whole training epoch.

Peak memory is what torch allocated during the measurement beyond what was allocated when it began: on
CUDA from ``torch.cuda.max_memory_allocated``, on the CPU from the allocation events of torch's profiler.

Absolute numbers depend on whatever else the machine runs at the same time; ratios measured side by side in
one run are robust to that. Every result file carries provenance (versions, device, threads, git commit, the
load average).

Example (the whole bench takes many minutes on 2 CPU cores, most of them training and compiling the paper
net at its batch of 256; ``--quick`` times one step of each eager row and compiles nothing on a CPU):
    urlsom bench --out bench.json
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from urlsom_core.augment import Augment
from urlsom_core.config import COMPILE_MODES, ConfigError, RunConfig, TrainConfig
from urlsom_core.data import ImageData, Splits
from urlsom_core.defaults import CPU_SETTING, defaults_for
from urlsom_core.loss import urlsom_loss
from urlsom_core.per_sample import PerSampleDataset, PerSampleViews, torchvision_pipeline
from urlsom_core.predict import cpu_bf16_native

from .measure import PeakMemory, measure, sync, threads

SECTIONS = ("augment", "peak", "train", "breakdown", "loss", "epoch")
LOSS_N = (256, 1024, 4096)
LOSS_n = (100, 900, 3600)
PEAK_N = 2048  # side of the matrix product that measures the peak
FLOP_PAIRS = 16  # pairs of the batch whose FLOPs are counted (per image they do not depend on the batch)
EPOCH_IMAGES = 10_000  # the epoch over which the breakdown spreads the monitor (the CPU setting's 10,000 images)
# name -> model fields, image channels and side, and the batch (pairs) its rule or profile trains with. The quick
# net's map comes from the quick profile when it is there.
NETS: dict[str, dict[str, Any]] = {
    "paper": {"model": {"widths": (16, 48, 256), "blocks": 3, "grid": (30, 30)}, "channels": 3, "size": 32,
              "batch": TrainConfig().batch_size},  # the paper's settings (the paper profile)
    "quick": {"model": {**defaults_for("digits")["model"], "grid": (30, 30)}, "channels": 1, "size": 16,
              "batch": defaults_for("digits")["train"]["batch_size"]},  # the digits defaults
    "cpu": {"model": {**CPU_SETTING["model"], "grid": (30, 30)}, "channels": 3, "size": 32,
            "batch": CPU_SETTING["train"]["batch_size"]},  # defaults.CPU_SETTING: the defaults rule's CPU network
    # not trained by any rule: the cpu net twice as wide (32/64/128), to see whether wider convolutions
    # use the cores better (``--nets cpu-wide``)
    "cpu-wide": {"model": {**CPU_SETTING["model"], "widths": (32, 64, 128), "grid": (30, 30)}, "channels": 3,
                 "size": 32, "batch": CPU_SETTING["train"]["batch_size"]},
}
DEFAULT_NETS = ("paper", "quick", "cpu")  # the nets the rules and profiles train
DTYPES = {False: "float32", True: "bfloat16"}  # train.amp (bf16 autocast) -> the dtype of the peak to read it against


# ------------------------------------------------------------------------------------------- sections
def bench_augment(device: torch.device, n_images: int = 4096, batch: int = 256, n_baseline: int = 2048,
                  seed: int = 0) -> dict[str, Any]:
    """Images per second of our batched augmentation and of the per-sample torchvision DataLoader."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n_images, 3, 32, 32), dtype=torch.uint8, generator=g)
    aug = Augment(out_size=32, flip=True, mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26))
    cores = torch.get_num_threads()
    budgets = sorted({1, cores}) if device.type == "cpu" else [cores]
    dev_images = images.to(device)
    gen = torch.Generator(device=device).manual_seed(seed)

    def ours_pass() -> None:
        for i in range(0, n_images, batch):
            aug(dev_images[i : i + batch], gen)

    ours: dict[str, float] = {}
    for t in budgets:
        with threads(t):
            aug(dev_images[:batch], gen)  # warm-up
            r = measure(ours_pass, device, budget_s=1.0, max_reps=5, memory=False)
        ours[str(t)] = n_images / r["seconds"]

    pipe = torchvision_pipeline(aug, 3)
    ds = PerSampleDataset(images[:n_baseline], pipe)
    theirs: dict[str, float] = {}
    for workers in sorted({0, cores}):
        with threads(1 if workers == 0 else None):
            theirs[str(workers)] = n_baseline / _loader_pass_seconds(ds, batch, workers, seed)
    best_ours, best_theirs = max(ours.values()), max(theirs.values())
    same = {}
    for t in budgets:
        w = "0" if t == 1 else str(t)
        if w in theirs:
            same[str(t)] = ours[str(t)] / theirs[w]
    return {
        "images": n_images, "baseline_images": n_baseline, "batch": batch, "image_shape": [3, 32, 32],
        "ours_img_s_by_threads": ours, "ours_img_s": best_ours, "ours_device": str(device),
        "torchvision_img_s_by_workers": theirs, "torchvision_img_s": best_theirs,
        "augment_speedup": best_ours / best_theirs, "speedup_same_cores": same,
    }


def _loader_pass_seconds(ds: PerSampleDataset, batch: int, workers: int, seed: int) -> float:
    """Seconds for one full pass of a DataLoader over ``ds``, after a warm-up pass that starts the workers."""
    kw: dict[str, Any] = {}
    if workers > 0:
        kw = {"persistent_workers": True, "multiprocessing_context": "fork", "prefetch_factor": 2}
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers, drop_last=False,
                                         generator=torch.Generator().manual_seed(seed), **kw)
    n_warm = 0
    for b in loader:  # warm-up: workers started, first pass done
        n_warm += b.shape[0]
    t0 = time.perf_counter()
    n = 0
    for b in loader:
        n += b.shape[0]
    dt = time.perf_counter() - t0
    del loader
    assert n == len(ds) == n_warm
    return dt


def _quick_grid() -> tuple[int, int] | None:
    try:
        from .profiles import load_profile

        return tuple(load_profile("quick").runs["cifar10"].config().model.grid)  # type: ignore[return-value]
    except Exception:  # noqa: BLE001 - no profile: keep the default map
        return None


def _synthetic(n: int, channels: int, size: int, seed: int = 0) -> Splits:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (n,), generator=g)
    return Splits(ImageData(images, labels, [str(i) for i in range(10)], "synthetic"), None, size, channels == 3)


def bench_peak(device: torch.device, n: int = PEAK_N, budget_s: float = 1.0, seed: int = 0) -> dict[str, Any]:
    """GFLOP/s of an ``n`` x ``n`` matrix product (2 n^3 FLOPs, best of repetitions filling about ``budget_s``)
    with torch's current intra-op threads: float32 always, bf16 on CUDA or a CPU with native bf16.

    Parameters
    ----------
    device : torch.device
        Where the product runs.
    n : int
        Side of the square matrices.
    budget_s : float
        Seconds of repetitions per dtype (at least one).
    seed : int
        Seed of the random matrices.

    Returns
    -------
    dict
        ``gflop_s`` (dtype name -> GFLOP/s), ``seconds`` (dtype name -> best seconds), ``n``, ``threads``,
        ``device`` and, on CUDA, ``float32_matmul_precision`` (torch's setting; ``highest``: no TF32).
    """
    dtypes = [torch.float32]
    if device.type == "cuda" or cpu_bf16_native():
        dtypes.append(torch.bfloat16)
    g = torch.Generator().manual_seed(seed)
    gflop_s, seconds = {}, {}
    for dt in dtypes:
        x = torch.randn(n, n, generator=g).to(device=device, dtype=dt)
        y = torch.randn(n, n, generator=g).to(device=device, dtype=dt)
        torch.mm(x, y)  # warm-up: the library picks its kernel
        r = measure(lambda x=x, y=y: torch.mm(x, y), device, budget_s=budget_s, memory=False)
        name = DTYPES[dt == torch.bfloat16]
        seconds[name] = r["seconds"]
        gflop_s[name] = 2 * n**3 / r["seconds"] / 1e9
    out: dict[str, Any] = {"n": n, "threads": torch.get_num_threads(), "device": str(device), "gflop_s": gflop_s,
                           "seconds": seconds}
    if device.type == "cuda":
        out["float32_matmul_precision"] = torch.get_float32_matmul_precision()  # "highest": no TF32
    return out


def flops_per_image(model: torch.nn.Module, x: torch.Tensor,
                    loss: Callable[[torch.Tensor], torch.Tensor] | None = None) -> float:
    """FLOPs of forward, loss and backward of ``model`` on the batch ``x``, per image of ``x``.

    Counted by :class:`torch.utils.flop_counter.FlopCounterMode`: matrix products and convolutions (forward and
    the gradients backward computes), not element-wise work (batch norm, activations, the loss's reductions).
    The gradients are cleared afterwards.

    Parameters
    ----------
    model : torch.nn.Module
        The network, in the mode (train or eval) to count.
    x : torch.Tensor
        (B, ...) input batch; for a URL-SOM both views, (2N, C, S, S).
    loss : callable, optional
        Output -> scalar to differentiate; default the URL-SOM loss of the output's two halves (the two views).

    Returns
    -------
    float
        FLOPs per image of ``x`` (per view for a URL-SOM batch).
    """
    from torch.utils.flop_counter import FlopCounterMode

    def url_som(out: torch.Tensor) -> torch.Tensor:
        p, z = out.chunk(2)
        return urlsom_loss(p, z).total

    with FlopCounterMode(display=False) as counter:
        (loss or url_som)(model(x)).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / x.shape[0]


def _net(net: str, nets: dict[str, dict[str, Any]] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The spec of ``net`` (from ``nets``, default :data:`NETS`) and its model fields (the quick profile's map for
    the quick net of :data:`NETS`)."""
    spec = (nets or NETS)[net]
    model = dict(spec["model"])
    if net == "quick" and nets is None:
        model["grid"] = _quick_grid() or model["grid"]
    return spec, model


def net_flops(net: str, device: torch.device, pairs: int = FLOP_PAIRS,
              nets: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """FLOPs per image (one view: forward, URL-SOM loss, backward; :func:`flops_per_image`) of the training
    network of ``net`` in float32, counted on ``pairs`` pairs of random views."""
    from urlsom_core.train import build_model

    spec, model = _net(net, nets)
    cfg = RunConfig.from_dict({"model": model})
    m = build_model(cfg, spec["channels"], device).train()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2 * pairs, spec["channels"], spec["size"], spec["size"], generator=g).to(device)
    return {"net": net, "flops_per_image": flops_per_image(m, x), "pairs": pairs}


def _trainer(net: str, device: torch.device, batch: int, n_images: int, nets: dict[str, dict[str, Any]] | None,
             **train: Any) -> Any:
    """A :class:`Trainer` of ``net`` at ``batch`` pairs on ``n_images`` synthetic images, in train mode."""
    from urlsom_core.train import Trainer

    spec, model = _net(net, nets)
    cfg = RunConfig.from_dict({"model": model, "train": {"batch_size": batch, **train}})
    trainer = Trainer(cfg, _synthetic(n_images, spec["channels"], spec["size"]), device, progress=False,
                      log=lambda s: None)
    trainer.model.train()
    return trainer


def bench_train(net: str, device: torch.device, compile: bool = False, amp: bool = False, batch: int = 32,
                steps: int = 2, warmup: int = 1, compile_mode: str | None = None, memory: bool = True,
                nets: dict[str, dict[str, Any]] | None = None, channels_last: bool = False) -> dict[str, Any]:
    """Images per second (both views) of the real training step of ``net`` on synthetic data.

    ``amp``: bf16 autocast (``train.amp``, with ``train.amp_cpu`` on a CPU); ``channels_last``:
    ``train.channels_last`` (CUDA trains channels-last either way; the row says what ran)."""
    from urlsom_core.model import count_parameters

    spec = (nets or NETS)[net]
    if compile:  # a fresh compiler state: past its cache limit (8 graphs of one frame) dynamo silently runs eager
        torch._dynamo.reset()
    trainer = _trainer(net, device, batch, batch * 4, nets, compile=compile, amp=amp,
                       amp_cpu=amp and device.type == "cpu", compile_mode=compile_mode or "default",
                       monitor_samples=16, channels_last=channels_last)
    cfg = trainer.cfg
    batches = [torch.arange(i * batch, (i + 1) * batch, device=device) for i in range(4)]
    sync(device)
    t0 = time.perf_counter()
    for i in range(warmup):
        trainer.step(batches[i % 4], epoch=20)
    sync(device)
    warm = time.perf_counter() - t0
    peak = None
    if memory:
        trainer.opt.zero_grad(set_to_none=True)  # nothing allocated before the block is freed inside it
        with PeakMemory(device) as m:
            trainer.step(batches[0], epoch=20)
        peak = m.peak
    t0 = time.perf_counter()
    for i in range(steps):
        trainer.step(batches[i % 4], epoch=20)
    sync(device)
    dt = time.perf_counter() - t0
    return {
        "net": net, "mode": "compiled" if compile else "eager", "compile_mode": compile_mode if compile else None,
        "amp": bool(amp), "dtype": DTYPES[bool(amp)], "channels_last": trainer.channels_last, "device": str(device),
        "batch_pairs": batch, "steps": steps,
        "images_per_step": 2 * batch, "img_s": 2 * batch * steps / dt, "seconds_per_step": dt / steps,
        "warmup_seconds": warm, "peak_bytes": peak, "input": [spec["channels"], spec["size"], spec["size"]],
        "widths": list(cfg.model.widths), "blocks": cfg.model.blocks, "grid": list(cfg.model.grid),
        "parameters": count_parameters(trainer.model)["total"],
    }


def with_flops(row: dict[str, Any], flops: float | None, peak: dict[str, Any] | None) -> dict[str, Any]:
    """``row`` (a :func:`bench_train` row) with ``flops_per_image``, the achieved ``gflop_s`` (img/s x FLOPs per
    image) and ``peak_fraction``, its share of the ``peak`` (:func:`bench_peak`) of the row's dtype (None where
    that was not measured)."""
    gflop_s = row["img_s"] * flops / 1e9 if flops else None
    ref = (peak or {}).get("gflop_s", {}).get(row["dtype"])
    return {**row, "flops_per_image": flops, "gflop_s": gflop_s,
            "peak_gflop_s": ref, "peak_fraction": gflop_s / ref if gflop_s and ref else None}


PHASES = ("augment", "forward", "loss", "backward", "optimizer")


def _phased_step(trainer: Any, idx: torch.Tensor, epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
    """:meth:`Trainer.step` on one process with the device waited for after each of its phases (its ``lap``
    hook): the step's loss terms and each phase's seconds."""
    dev = trainer.device
    laps: dict[str, float] = {}
    sync(dev)
    t0 = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t0
        sync(dev)
        now = time.perf_counter()
        laps[name] = now - t0
        t0 = now

    return trainer.step(idx, epoch, lap=lap), laps


def bench_breakdown(net: str, device: torch.device, batch: int | None = None, steps: int = 3, amp: bool = False,
                    epoch_images: int = EPOCH_IMAGES, monitor_samples: int | None = None,
                    nets: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Where the time of a training step and of an epoch goes, for ``net`` (eager).

    Over ``steps`` steps (after a warm-up step), alternately, the whole step (:meth:`Trainer.step`, the device
    waited for at its end) and the step cut into :data:`PHASES` (:func:`_phased_step`); each phase's mean is
    given as a share of the whole step's mean, and the rest of it as ``overhead``. The per-epoch monitor
    (:meth:`Trainer.monitor`, after a warm-up call) is spread over an epoch of ``epoch_images`` images.

    Parameters
    ----------
    net : str
        A key of ``nets`` (default :data:`NETS`).
    device : torch.device
        Where it trains.
    batch : int, optional
        Pairs per step; default the net's rule batch.
    steps : int
        Timed steps of each kind.
    amp : bool
        bf16 autocast (``train.amp`` and, on a CPU, ``train.amp_cpu``).
    epoch_images : int
        Images of the epoch over which the monitor is spread.
    monitor_samples : int, optional
        ``train.monitor_samples`` (default the config's); the synthetic set holds at least that many images.
    nets : dict, optional
        The table of nets (default :data:`NETS`).

    Returns
    -------
    dict
        ``seconds`` (phase -> mean seconds per step, with ``overhead`` and ``step``), ``share`` (phase -> share
        of the step, ``overhead`` included: they sum to 1), ``monitor_seconds``, ``epoch`` (images, steps,
        seconds, the monitor's share of it and its seconds per step) and the settings.
    """
    spec = (nets or NETS)[net]
    B = batch or spec["batch"]
    train: dict[str, Any] = {"amp": amp, "amp_cpu": amp and device.type == "cpu"}
    if monitor_samples is not None:
        train["monitor_samples"] = monitor_samples
    n_mon = monitor_samples if monitor_samples is not None else TrainConfig().monitor_samples
    trainer = _trainer(net, device, B, max(4 * B, n_mon), nets, **train)
    n = len(trainer.splits.train)
    batches = [torch.arange(i * B, (i + 1) * B, device=device) % n for i in range(4)]
    trainer.step(batches[0], epoch=20)  # warm-up
    whole: list[float] = []
    parts: dict[str, list[float]] = {k: [] for k in PHASES}
    for i in range(steps):
        idx = batches[(i + 1) % 4]
        sync(device)
        t0 = time.perf_counter()
        trainer.step(idx, epoch=20)
        sync(device)
        whole.append(time.perf_counter() - t0)
        _, laps = _phased_step(trainer, idx, epoch=20)
        for k in PHASES:
            parts[k].append(laps[k])
    trainer.monitor()  # warm-up
    sync(device)
    t0 = time.perf_counter()
    trainer.monitor()
    sync(device)
    monitor = time.perf_counter() - t0
    trainer.model.train()
    step = sum(whole) / steps
    seconds = {k: sum(v) / steps for k, v in parts.items()}
    seconds["overhead"] = step - sum(seconds.values())
    share = {k: v / step for k, v in seconds.items()}
    seconds["step"] = step
    epoch_steps = max(1, epoch_images // B)
    epoch_seconds = epoch_steps * step + monitor
    return {
        "net": net, "device": str(device), "mode": "eager", "amp": bool(amp), "dtype": DTYPES[bool(amp)],
        "channels_last": trainer.channels_last, "batch_pairs": B, "steps": steps, "seconds": seconds,
        "share": share, "monitor_seconds": monitor, "monitor_samples": trainer.cfg.train.monitor_samples,
        "epoch": {"images": epoch_images, "steps": epoch_steps, "seconds": epoch_seconds,
                  "monitor_share": monitor / epoch_seconds, "monitor_seconds_per_step": monitor / epoch_steps},
        "note": "phases timed apart with the device waited for after each; overhead: the whole step's mean less "
                "the phases' (Python and launches between them; small negative values are timing noise). The "
                "epoch is its steps and one monitor call; checkpoints and the loss read-backs are not in it",
    }


def nt_xent(x1: torch.Tensor, x2: torch.Tensor, tau: float = 0.5) -> torch.Tensor:
    """NT-Xent (SimCLR's InfoNCE) of two views (N, d): cross-entropy over the 2N x 2N cosine similarities."""
    N = x1.shape[0]
    z = F.normalize(torch.cat((x1, x2)), dim=1)
    sim = (z @ z.T) / tau
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat((torch.arange(N, 2 * N), torch.arange(0, N))).to(z.device)
    return F.cross_entropy(sim, target)


def _loss_case(N: int, n: int, device: torch.device, seed: int, budget_s: float) -> dict[str, Any]:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(N, n, generator=g).to(device)
    b = torch.randn(N, n, generator=g).to(device)
    p, z = torch.softmax(a, 1).requires_grad_(), torch.softmax(b, 1).requires_grad_()  # URL-SOM: Softmax outputs
    x1, x2 = a.requires_grad_(), b.requires_grad_()  # NT-Xent: the same (N, n) as embeddings

    def ours() -> None:
        urlsom_loss(p, z).total.backward()
        p.grad = z.grad = None

    def theirs() -> None:
        nt_xent(x1, x2).backward()
        x1.grad = x2.grad = None

    r_o, r_t = measure(ours, device, budget_s), measure(theirs, device, budget_s)
    return {"N": N, "n": n, "urlsom_ms": 1e3 * r_o["seconds"], "ntxent_ms": 1e3 * r_t["seconds"],
            "urlsom_ns_per_Nn": 1e9 * r_o["seconds"] / (N * n), "ntxent_ns_per_NNn": 1e9 * r_t["seconds"] / (N * N * n),
            "urlsom_peak_bytes": r_o["peak_bytes"], "ntxent_peak_bytes": r_t["peak_bytes"],
            "ratio": r_t["seconds"] / r_o["seconds"], "reps": [r_o["reps"], r_t["reps"]]}


def bench_loss(device: torch.device, Ns: tuple[int, ...] = LOSS_N, ns: tuple[int, ...] = LOSS_n,
               seed: int = 0, budget_s: float = 0.6) -> dict[str, Any]:
    """Forward + backward time and peak memory of both losses over N x n, and the growth exponent in N."""
    rows = [_loss_case(N, n, device, seed, budget_s) for n in ns for N in Ns]
    growth = {}
    if len(Ns) >= 2:
        for n in ns:
            sel = [r for r in rows if r["n"] == n]
            lx = np.log([r["N"] for r in sel])
            growth[str(n)] = {
                "urlsom_exponent": float(np.polyfit(lx, np.log([r["urlsom_ms"] for r in sel]), 1)[0]),
                "ntxent_exponent": float(np.polyfit(lx, np.log([r["ntxent_ms"] for r in sel]), 1)[0]),
                "urlsom_time_ratio_Nmax_vs_Nmin": sel[-1]["urlsom_ms"] / sel[0]["urlsom_ms"],
                "ntxent_time_ratio_Nmax_vs_Nmin": sel[-1]["ntxent_ms"] / sel[0]["ntxent_ms"],
            }
    return {"rows": rows, "growth_in_N": growth, "N": list(Ns), "n": list(ns), "tau": 0.5,
            "note": "forward + backward, best of the repetitions; growth exponent: slope of log time in log N. "
                    "URL-SOM does O(N n) work, NT-Xent O(N^2 n); per element, small inputs run from the CPU "
                    "caches and large ones from memory, so measured exponents exceed the work's by that much"}


def bench_epoch(device: torch.device, epochs: int = 1, cfg: RunConfig | None = None) -> dict[str, Any]:
    """Seconds per training epoch of the quick profile's CIFAR-10 stand-in run, batched vs per-sample views."""
    from urlsom_core.data import resolve
    from urlsom_core.train import Trainer

    if cfg is None:
        try:
            from .profiles import load_profile

            cfg = load_profile("quick").runs["cifar10"].config()
        except Exception:  # noqa: BLE001 - no profile: the digits defaults
            cfg = RunConfig.from_dict({"data": {"dataset": "digits"}, **defaults_for("digits")})
    cfg = cfg.replace(**{"train.epochs": epochs, "train.max_minutes": None})
    splits = resolve(cfg.data)
    out: dict[str, Any] = {"config_key": cfg.key(), "dataset": cfg.data.dataset, "grid": list(cfg.model.grid),
                           "widths": list(cfg.model.widths), "n_train": len(splits.train), "epochs": epochs}
    for name in ("batched", "per_sample"):
        trainer = Trainer(cfg, splits, device, progress=False, log=lambda s: None)
        if name == "per_sample":
            trainer.views = PerSampleViews(trainer.aug)
        res = trainer.fit()
        out[f"{name}_epoch_seconds"] = sum(r["seconds"] for r in res.history) / len(res.history)
    out["per_sample_over_batched"] = out["per_sample_epoch_seconds"] / out["batched_epoch_seconds"]
    return out


# ------------------------------------------------------------------------------------------------ driver
def run_bench(sections: tuple[str, ...] = SECTIONS, device: str = "auto", quick: bool = False, tiny: bool = False,
              compile: bool = True, compile_mode: str | None = None, batch: int | None = None,
              steps: int | None = None, nets: tuple[str, ...] = DEFAULT_NETS,
              log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the chosen sections and return the result dict (without writing it)."""
    from urlsom_core.distributed import pick_device
    from urlsom_core.files import provenance

    dev = pick_device(device)
    cuda = dev.type == "cuda"
    t_start = time.time()
    res: dict[str, Any] = {"sections": list(sections), "quick": quick, "tiny": tiny}
    if "augment" in sections:
        log("augment: ours vs per-sample torchvision ...")
        n_img, n_base = (128, 64) if tiny else (2048, 1024) if quick else (4096, 2048)
        res["augment"] = a = bench_augment(dev, n_images=n_img, batch=64 if tiny else 256, n_baseline=n_base)
        res["augment_speedup"] = a["augment_speedup"]
        log(f"  ours {a['ours_img_s']:,.0f} img/s, torchvision {a['torchvision_img_s']:,.0f} img/s: "
            f"x{a['augment_speedup']:.1f}")
    if "peak" in sections:
        n = 256 if tiny else PEAK_N
        log(f"peak: {n}x{n} matrix product, {torch.get_num_threads()} thread(s) ...")
        res["peak"] = pk = bench_peak(dev, n=n, budget_s=0.05 if tiny else 1.0)
        log("  " + ", ".join(f"{k} {v:,.0f} GFLOP/s" for k, v in pk["gflop_s"].items()))
    table = _tiny_nets() if tiny else None
    if "train" in sections:
        k = steps or (30 if cuda else 1 if tiny or quick else 2)
        # bf16: on CUDA always, on a CPU where it is native (train.amp_cpu auto trains so there)
        amps = [False, True] if cuda or cpu_bf16_native() else [False]
        comps = [False, True] if compile and not (quick and not cuda) else [False]
        layouts = [True] if cuda else [False, True]  # CUDA trains channels-last whatever train.channels_last says
        flops: dict[str, float] = {}
        rows = []
        for net in nets:
            B = batch or (table or NETS)[net]["batch"]
            log(f"train: {net} net, FLOPs per image ...")
            flops[net] = net_flops(net, dev, pairs=min(B, FLOP_PAIRS), nets=table)["flops_per_image"]
            log(f"  {flops[net] / 1e6:,.1f} MFLOP per image (forward, loss, backward)")
            for comp in comps:
                for amp in amps:
                    for cl in layouts:
                        log(f"train: {net} net, batch {B}, {'compiled' if comp else 'eager'}, {DTYPES[amp]}"
                            f"{', channels-last' if cl else ''} ...")
                        row = bench_train(net, dev, compile=comp, amp=amp, batch=B, steps=k,
                                          warmup=3 if cuda else 1, compile_mode=compile_mode, nets=table,
                                          memory=not quick and not (comp and not cuda), channels_last=cl)
                        rows.append(with_flops(row, flops[net], res.get("peak")))
                        r = rows[-1]
                        log(f"  {r['img_s']:,.0f} img/s, {r['gflop_s']:,.1f} GFLOP/s"
                            + (f" ({r['peak_fraction']:.0%} of peak)" if r["peak_fraction"] else "")
                            + f" (warm-up {r['warmup_seconds']:.1f} s)")
        res["train"] = rows
        res["flops_per_image"] = flops
        res["default_mode"] = {net: default_modes(dev, _net(net, table)[1]) for net in nets}
    if "breakdown" in sections:
        net = "cpu" if "cpu" in nets else nets[0]
        amp = cuda or cpu_bf16_native()  # the default mode (train.amp_cpu auto): bf16 where native
        log(f"breakdown: {net} net, eager, {DTYPES[amp]} ...")
        k = steps or (2 if tiny else 20 if cuda else 5)
        res["breakdown"] = bd = bench_breakdown(net, dev, batch=batch, steps=k, amp=amp, nets=table,
                                                monitor_samples=16 if tiny else None)
        log("  " + ", ".join(f"{name} {v:.0%}" for name, v in bd["share"].items())
            + f"; monitor {bd['epoch']['monitor_share']:.1%} of an epoch")
    if "loss" in sections:
        log("loss: URL-SOM vs NT-Xent over N and n ...")
        Ns, ns = ((16, 32), (10, 20)) if tiny else (LOSS_N[:2], LOSS_n[:2]) if quick else (LOSS_N, LOSS_n)
        res["loss"] = bench_loss(dev, Ns, ns, budget_s=0.05 if tiny else 1.0)
    if "epoch" in sections:
        log("epoch: quick profile, batched vs per-sample augmentation ...")
        cfg = None
        if tiny:
            cfg = RunConfig.from_dict({"data": {"dataset": "digits", "subset": 130},
                                       "model": {"grid": [5, 5], "widths": [8], "blocks": 1},
                                       "train": {"batch_size": 64, "monitor_samples": 32}})
        res["epoch"] = bench_epoch(dev, cfg=cfg)
    res["wall_seconds"] = time.time() - t_start
    res["provenance"] = provenance(str(dev), 0)
    res["provenance"]["cpu_count"] = os.cpu_count()
    res["provenance"]["load_average"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return res


def default_modes(device: torch.device, model: dict[str, Any], budget_minutes: float = 20.0) -> dict[str, Any]:
    """The training mode (:func:`urlsom_core.train.training_mode`) a run of the network ``model`` (model fields)
    gets on ``device`` with the ``auto`` defaults, without a time budget and with one of ``budget_minutes``: which
    rows of the train section it is."""
    from urlsom_core.train import training_mode

    plain = RunConfig.from_dict({"model": model})
    budget = RunConfig.from_dict({"model": model, "train": {"max_minutes": budget_minutes}})
    return {"no_budget": training_mode(plain, device).to_dict(), "budget_minutes": budget_minutes,
            "budget": training_mode(budget, device).to_dict()}


def _mode(m: dict[str, Any]) -> str:
    return (f"{'compiled' if m['compiled'] else 'eager'} {'bfloat16' if m['bf16'] else 'float32'} "
            f"{'NHWC' if m['channels_last'] else 'NCHW'}")


def _tiny_nets() -> dict[str, dict[str, Any]]:
    tiny = {"model": {"widths": (8,), "blocks": 1, "grid": (5, 5)}, "batch": 4}
    return {"paper": {**tiny, "channels": 3, "size": 32}, "quick": {**tiny, "channels": 1, "size": 16},
            "cpu": {**tiny, "channels": 3, "size": 16}, "cpu-wide": {**tiny, "channels": 3, "size": 16}}


def _fmt(v: float | None, unit: str = "") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if unit == "MB":
        return f"{v / 2**20:,.1f}"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}" if abs(v) >= 1 else f"{v:.3g}"


def format_table(res: dict[str, Any]) -> str:
    """The bench result as a plain-text table."""
    pv = res.get("provenance", {})
    lines = [f"urlsom bench: device {pv.get('device')}, torch {pv.get('versions', {}).get('torch')}, "
             f"{pv.get('torch_threads')} threads, {pv.get('cpu_count')} CPUs, load {pv.get('load_average')}, "
             f"commit {str(pv.get('git_commit'))[:12]}"]
    if "augment" in res:
        a = res["augment"]
        lines += ["", f"augmentation, {a['images']} images 3x32x32 (img/s)"]
        lines.append("  ours, batched on " + a["ours_device"] + ":    " +
                     "   ".join(f"{k} thread(s) {_fmt(v)}" for k, v in a["ours_img_s_by_threads"].items()))
        lines.append("  torchvision v2, per sample, DataLoader:  " +
                     "   ".join(f"{k} workers {_fmt(v)}" for k, v in a["torchvision_img_s_by_workers"].items()))
        same = ", ".join(f"{k} core(s) {v:.1f}x" for k, v in a["speedup_same_cores"].items())
        lines.append(f"  augment_speedup (best vs best): {a['augment_speedup']:.1f}x   same cores: {same or '-'}")
    if "peak" in res:
        pk = res["peak"]
        lines += ["", f"matrix-product peak, {pk['n']}x{pk['n']}, {pk['threads']} thread(s) on {pk['device']} "
                      "(the line to read the training rows against): "
                      + ", ".join(f"{k} {_fmt(v)} GFLOP/s" for k, v in pk["gflop_s"].items())]
    if "train" in res:
        lines += ["", "training throughput (img/s, both views; real step: augment, forward, loss, backward, Adam; "
                      "MFLOP/img: forward + loss + backward of one view)",
                  f"  {'net':6s} {'mode':9s} {'dtype':8s} {'layout':6s} {'batch':>5s} {'img/s':>9s} {'s/step':>8s} "
                  f"{'MFLOP/img':>9s} {'GFLOP/s':>8s} {'of peak':>7s} {'warm-up s':>9s} {'peak MB':>8s}  "
                  f"{'params':>9s}"]
        for r in res["train"]:
            flops = r.get("flops_per_image")
            frac = r.get("peak_fraction")
            lines.append(f"  {r['net']:6s} {r['mode']:9s} {r.get('dtype', DTYPES[r['amp']]):8s} "
                         f"{'NHWC' if r.get('channels_last') else 'NCHW':6s} {r['batch_pairs']:5d} "
                         f"{_fmt(r['img_s']):>9s} {r['seconds_per_step']:8.3f} "
                         f"{_fmt(flops / 1e6 if flops else None):>9s} {_fmt(r.get('gflop_s')):>8s} "
                         f"{f'{frac:.1%}' if frac else '-':>7s} {r['warmup_seconds']:9.1f} "
                         f"{_fmt(r['peak_bytes'], 'MB'):>8s}  {r['parameters']:9,d}")
    if "default_mode" in res:
        lines.append("  `urlsom train` here (train.amp_cpu, channels_last, compile: auto):")
        for net, dm in res["default_mode"].items():
            lines.append(f"    {net}: {_mode(dm['no_budget'])}; with --max-minutes {dm['budget_minutes']:g}: "
                         f"{_mode(dm['budget'])}")
    if "breakdown" in res:
        bd = res["breakdown"]
        sec, share, ep = bd["seconds"], bd["share"], bd["epoch"]
        lines += ["", f"where a training step's time goes: {bd['net']} net, batch {bd['batch_pairs']}, {bd['mode']}, "
                      f"{bd['dtype']}, {'NHWC' if bd['channels_last'] else 'NCHW'}, mean of {bd['steps']} steps",
                  f"  {'phase':34s} {'ms/step':>9s} {'share':>7s}"]
        names = {"augment": "augmentation (gather, both views)", "forward": "forward", "loss": "loss",
                 "backward": "backward", "optimizer": "optimizer (Adam)",
                 "overhead": "overhead (Python, launches)"}
        for key, name in names.items():
            lines.append(f"  {name:34s} {1e3 * sec[key]:9.2f} {share[key]:7.1%}")
        lines.append(f"  {'whole step':34s} {1e3 * sec['step']:9.2f} {1:7.1%}")
        lines.append(f"  monitor: {bd['monitor_seconds']:.3f} s per epoch ({bd['monitor_samples']} images); over an epoch "
                     f"of {ep['images']:,} images ({ep['steps']} steps, {ep['seconds']:.1f} s) {ep['monitor_share']:.1%}"
                     f", {1e3 * ep['monitor_seconds_per_step']:.2f} ms per step")
    if "loss" in res:
        lo = res["loss"]
        lines += ["", "loss, forward + backward: URL-SOM vs NT-Xent",
                  f"  {'n':>5s} {'N':>5s} {'URL-SOM ms':>11s} {'NT-Xent ms':>11s} {'ratio':>7s} "
                  f"{'URL-SOM MB':>11s} {'NT-Xent MB':>11s}"]
        for r in lo["rows"]:
            lines.append(f"  {r['n']:5d} {r['N']:5d} {_fmt(r['urlsom_ms']):>11s} {_fmt(r['ntxent_ms']):>11s} "
                         f"{r['ratio']:6.1f}x {_fmt(r['urlsom_peak_bytes'], 'MB'):>11s} "
                         f"{_fmt(r['ntxent_peak_bytes'], 'MB'):>11s}")
        for n, gr in lo["growth_in_N"].items():
            lines.append(f"  n={n}: time grows as N^{gr['urlsom_exponent']:.2f} (URL-SOM) vs "
                         f"N^{gr['ntxent_exponent']:.2f} (NT-Xent); N {lo['N'][0]} -> {lo['N'][-1]}: "
                         f"x{gr['urlsom_time_ratio_Nmax_vs_Nmin']:.1f} vs x{gr['ntxent_time_ratio_Nmax_vs_Nmin']:.1f}")
    if "epoch" in res:
        e = res["epoch"]
        lines += ["", f"one epoch of the quick profile's run ({e['dataset']}, {e['n_train']} images, "
                      f"map {e['grid'][0]}x{e['grid'][1]})",
                  f"  batched augmentation {e['batched_epoch_seconds']:.2f} s, per-sample torchvision "
                  f"{e['per_sample_epoch_seconds']:.2f} s: x{e['per_sample_over_batched']:.2f}"]
    lines.append(f"\nwall time {res.get('wall_seconds', 0):.0f} s")
    return "\n".join(lines)


def cmd_bench(args: argparse.Namespace) -> int:
    from urlsom_core.files import write_json

    sections = tuple(s.strip() for s in args.sections.split(",") if s.strip())
    bad = [s for s in sections if s not in SECTIONS]
    if bad or not sections:
        raise ConfigError(f"--sections {args.sections!r}: allowed are comma-separated {', '.join(SECTIONS)}")
    nets = tuple(s.strip() for s in args.nets.split(",") if s.strip())
    if not nets or any(n not in NETS for n in nets):
        raise ConfigError(f"--nets {args.nets!r}: allowed are comma-separated {', '.join(NETS)}")
    for name in ("batch", "steps"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise ConfigError(f"--{name} {v}: allowed is an integer >= 1")
    if args.compile_mode not in (None, *COMPILE_MODES):
        raise ConfigError(f"--compile-mode {args.compile_mode!r}: allowed are {', '.join(COMPILE_MODES)}")
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        raise ConfigError(f"--out {args.out}: folder {out_dir} does not exist")
    res = run_bench(sections, args.device, quick=args.quick, tiny=args.tiny, compile=not args.no_compile,
                    compile_mode=args.compile_mode, batch=args.batch, steps=args.steps, nets=nets,
                    log=(lambda s: None) if args.quiet else (lambda s: print(s, flush=True)))
    print(format_table(res))
    write_json(args.out, res)
    print(f"wrote {args.out}")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("bench", help="measure augmentation, training and loss speed here against the "
                              "matrix-product peak; write JSON")
    p.add_argument("--out", default="bench.json", help="result file (default bench.json)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}")
    p.add_argument("--quick", action="store_true", help="smaller sizes, one timed step per training row, no memory "
                   "figures and no compiled CPU runs")
    p.add_argument("--tiny", action="store_true", help="smallest sizes, for the test suite: the numbers mean nothing")
    p.add_argument("--nets", default=",".join(DEFAULT_NETS), help="networks of the train section, any of "
                   f"{', '.join(NETS)} (default {','.join(DEFAULT_NETS)}; cpu: the defaults rule's CPU network (CPU_SETTING), "
                   "cpu-wide: the same twice as wide, trained by no rule); the breakdown "
                   "section takes cpu, or the first of them without it")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile runs")
    p.add_argument("--compile-mode", help="torch.compile mode of the compiled runs, e.g. reduce-overhead (CUDA graphs)")
    p.add_argument("--batch", type=int, help="pairs per training step (default: each net's rule batch, "
                   + ", ".join(f"{k} {v['batch']}" for k, v in NETS.items()) + ")")
    p.add_argument("--steps", type=int, help="timed training steps (default: 30 on CUDA, 2 on CPU, 1 with --quick; "
                   "breakdown: 20 on CUDA, 5 on CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_bench)

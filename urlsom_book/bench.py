"""``urlsom bench``: how fast URL-SOM trains on this machine, measured side by side in one run.

Sections (``--sections``, default all), each a function returning a plain dict:

``augment``  our batched augmentation (:class:`~urlsom_core.augment.Augment` on resident uint8 batches) against
             a per-sample ``torchvision.transforms.v2`` pipeline in a DataLoader doing the same augmentations
             (RandomResizedCrop of side 22..32 of 32 then resize, flip, ColorJitter(0.4, 0.4, 0.4, 0.4) with
             p = 0.8, RandomGrayscale p = 0.5, standardise), same images, same process. Each side runs at each
             core budget (ours: 1 and all intra-op threads; theirs: 0 and as many workers as threads);
             ``augment_speedup`` is best against best, and ``speedup_same_cores`` the ratio per budget.
``train``    training throughput (images per second, both views counted) of the real training step
             (:meth:`Trainer.step`: gather, augment, forward, loss, backward, Adam) for the paper net
             (ResNet-20, 16/48/256, 32x32 RGB, 30x30 map) and the quick profile's net (16/32/64, one block
             per stage, 16x16 gray), eager and ``torch.compile``d, and bf16 autocast on and off on CUDA and on a
             CPU with native bf16 (:func:`~urlsom_core.predict.cpu_bf16_native`). ``--nets cpu`` adds the
             network of the defaults rule ``cpu`` (16/32/64, one block, 32x32 RGB, 30x30 map).
``loss``     URL-SOM loss against NT-Xent (InfoNCE, as SimCLR), forward + backward on the same (N, n)
             inputs for N in {256, 1024, 4096} and n in {100, 900, 3600}: time and peak memory, and the
             growth exponent of time in N (URL-SOM is linear in N, NT-Xent quadratic).
``epoch``    one epoch of the quick profile's CIFAR-10 stand-in run (digits) with our augmentation and with
             the per-sample torchvision pipeline (``URLSOM_AUGMENT=per-sample``): the before/after of the
             batched augmentation on a whole training epoch.

Peak memory is what torch allocated during the measurement beyond what was allocated when it began: on
CUDA from ``torch.cuda.max_memory_allocated``, on the CPU from the allocation events of torch's profiler.

Absolute numbers depend on whatever else the machine runs at the same time; ratios measured side by side in
one run are robust to that. Every result file carries provenance (versions, device, threads, git commit).

Example (the whole bench takes a few minutes on 2 CPU cores; ``--quick`` less than one):
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
from urlsom_core.config import COMPILE_MODES, ConfigError, RunConfig
from urlsom_core.data import ImageData, Splits
from urlsom_core.defaults import CPU_SETTING, defaults_for
from urlsom_core.loss import urlsom_loss
from urlsom_core.per_sample import PerSampleDataset, PerSampleViews, torchvision_pipeline
from urlsom_core.predict import cpu_bf16_native

from .measure import PeakMemory, measure, sync, threads

SECTIONS = ("augment", "train", "loss", "epoch")
LOSS_N = (256, 1024, 4096)
LOSS_n = (100, 900, 3600)
# name -> model fields, image channels and side. The quick net's map comes from the quick profile when it is there.
NETS: dict[str, dict[str, Any]] = {
    "paper": {"model": {"widths": (16, 48, 256), "blocks": 3, "grid": (30, 30)}, "channels": 3, "size": 32},
    "quick": {"model": {**defaults_for("digits")["model"], "grid": (30, 30)}, "channels": 1, "size": 16},
    "cpu": {"model": {**CPU_SETTING["model"], "grid": (30, 30)}, "channels": 3, "size": 32},  # the defaults rule 'cpu'
}


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


def bench_train(net: str, device: torch.device, compile: bool = False, amp: bool = False, batch: int = 32,
                steps: int = 2, warmup: int = 1, compile_mode: str | None = None, memory: bool = True,
                nets: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Images per second (both views) of the real training step of ``net`` on synthetic data."""
    from urlsom_core.model import count_parameters
    from urlsom_core.train import Trainer

    table = nets or NETS
    spec = table[net]
    model = dict(spec["model"])
    if net == "quick" and nets is None:
        model["grid"] = _quick_grid() or model["grid"]
    cfg = RunConfig.from_dict({"model": model, "train": {"batch_size": batch, "compile": compile, "amp": amp,
                                                         "amp_cpu": amp and device.type == "cpu",
                                                         "compile_mode": compile_mode or "default",
                                                         "monitor_samples": 16}})
    splits = _synthetic(batch * 4, spec["channels"], spec["size"])
    trainer = Trainer(cfg, splits, device, progress=False, log=lambda s: None)
    trainer.model.train()
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
        "amp": bool(amp), "device": str(device), "batch_pairs": batch, "steps": steps,
        "images_per_step": 2 * batch, "img_s": 2 * batch * steps / dt, "seconds_per_step": dt / steps,
        "warmup_seconds": warm, "peak_bytes": peak, "input": [spec["channels"], spec["size"], spec["size"]],
        "widths": list(cfg.model.widths), "blocks": cfg.model.blocks, "grid": list(cfg.model.grid),
        "parameters": count_parameters(trainer.model)["total"],
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
              steps: int | None = None, nets: tuple[str, ...] = ("paper", "quick"),
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
    if "train" in sections:
        B = batch or (256 if cuda else 4 if tiny else 32)
        k = steps or (30 if cuda else 1 if tiny else 2)
        table = _tiny_nets() if tiny else None
        # bf16: on CUDA always, on a CPU where it is native (the defaults rule 'cpu' trains so there)
        modes: list[tuple[bool, bool]] = [(False, False)]
        if cuda or cpu_bf16_native():
            modes.append((False, True))
        if compile and not (quick and not cuda):
            modes.append((True, cuda))
        rows = []
        for net in nets:
            for comp, amp in modes:
                log(f"train: {net} net, {'compiled' if comp else 'eager'}{', bf16' if amp else ''} ...")
                rows.append(bench_train(net, dev, compile=comp, amp=amp, batch=B, steps=k,
                                        warmup=3 if cuda else 1, compile_mode=compile_mode, nets=table,
                                        memory=not (comp and not cuda)))
                log(f"  {rows[-1]['img_s']:,.0f} img/s (warm-up {rows[-1]['warmup_seconds']:.1f} s)")
        res["train"] = rows
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


def _tiny_nets() -> dict[str, dict[str, Any]]:
    return {"paper": {"model": {"widths": (8,), "blocks": 1, "grid": (5, 5)}, "channels": 3, "size": 32},
            "quick": {"model": {"widths": (8,), "blocks": 1, "grid": (5, 5)}, "channels": 1, "size": 16}}


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
    if "train" in res:
        lines += ["", "training throughput (img/s, both views; real step: augment, forward, loss, backward, Adam)",
                  f"  {'net':6s} {'mode':9s} {'bf16':5s} {'batch':>5s} {'img/s':>9s} {'s/step':>8s} "
                  f"{'warm-up s':>9s} {'peak MB':>8s}  {'params':>9s}"]
        for r in res["train"]:
            lines.append(f"  {r['net']:6s} {r['mode']:9s} {'yes' if r['amp'] else 'no':5s} {r['batch_pairs']:5d} "
                         f"{_fmt(r['img_s']):>9s} {r['seconds_per_step']:8.3f} {r['warmup_seconds']:9.1f} "
                         f"{_fmt(r['peak_bytes'], 'MB'):>8s}  {r['parameters']:9,d}")
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
    p = subparsers.add_parser("bench", help="measure augmentation, training and loss speed here; write JSON")
    p.add_argument("--out", default="bench.json", help="result file (default bench.json)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}")
    p.add_argument("--quick", action="store_true", help="smaller sizes, no compiled CPU runs (under a minute on 2 cores)")
    p.add_argument("--tiny", action="store_true", help="smallest sizes, for the test suite: the numbers mean nothing")
    p.add_argument("--nets", default="paper,quick", help="networks of the train section, any of "
                   f"{', '.join(NETS)} (default paper,quick; cpu: the network of the defaults rule 'cpu')")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile runs")
    p.add_argument("--compile-mode", help="torch.compile mode of the compiled runs, e.g. reduce-overhead (CUDA graphs)")
    p.add_argument("--batch", type=int, help="pairs per training step (default: 256 on CUDA, 32 on CPU)")
    p.add_argument("--steps", type=int, help="timed training steps (default: 30 on CUDA, 2 on CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_bench)

"""A self-supervised peer of URL-SOM at the same budget: SimSiam (Chen and He, "Exploring Simple Siamese
Representation Learning", CVPR 2021) from the ``lightly`` package, on the same backbone, augmentations, data
and wall-clock budget as a URL-SOM run, scored by a kNN classifier on its backbone embedding beside the same
kNN on URL-SOM's own backbone embedding.

What is the same as the URL-SOM run (its config, ``--run`` or the ``urlsom train`` flags):

- the backbone: ``urlsom_core.model.ResNet`` with the run's ``model.widths`` and ``model.blocks`` (ELU, global
  average pooling: the paper's Sec. V.B network without the SOM head);
- the augmentations: ``urlsom_core.augment.Augment`` built as the run's training builds it
  (``urlsom_core.train.make_augment``: the paper's Sec. V.A crop, flip, colour jitter and grayscale, with the
  run's crop, jitter reading and standardisation), two views per image;
- the data: the run's training images (``urlsom_core.data.resolve``), and its held-out split for scoring;
- the batch (``train.batch_size`` pairs), the seed, bf16 autocast where the run trains under it
  (``train.amp`` on CUDA, ``train.amp_cpu`` on a CPU), and the wall-clock budget (``--minutes``; with ``--run``
  and no ``--minutes``, the run's own training seconds).

What is SimSiam's, as lightly's CIFAR-10 benchmark sets it: ``SimSiamProjectionHead(d, 512, 128)``,
``SimSiamPredictionHead(128, 64, 128)``, ``NegativeCosineSimilarity`` with the stop-gradient, symmetrised; SGD
with momentum 0.9, weight decay 5e-4 and learning rate 0.06 x batch / 128, annealed by a cosine over the budget
(the benchmark anneals over its epochs; here the budget is time). Each view goes through the network on its own
(batch-norm statistics per view, as SimSiam does; URL-SOM puts both views in one batch).

The score (``knn_accuracy``): a weighted kNN classifier on the L2-normalised backbone features of the
un-augmented images (``augment.Augment.plain``), k = 200 nearest by cosine similarity, votes weighted by
``exp(similarity / 0.1)``: ``lightly.utils.benchmarking.knn_predict``, the monitor of lightly's benchmarks (from
Wu et al. 2018). The protocol: the classifier's bank is the training images with their labels, its queries the
held-out images (``data.holdout`` or ``data.eval_dataset``: never trained on by either network). A run without
a held-out split (the paper's protocol trains on all 60,000) is scored on a stratified ``--knn-fraction`` of its
training images against the rest: both parts were trained on, without labels, as the paper's NS counts every
image. The same kNN is run on URL-SOM's backbone (``URLSOM.embed``) and on the backbone at its random
initialisation (how much of the score the architecture gives before any training), and chance is the share of
the largest class among the queries.

Command (the result JSON holds the config, seed, versions, device, wall time and git commit)::

    python -m urlsom_book.ssl_baseline --run runs/<key> --out simsiam.json
    python -m urlsom_book.ssl_baseline --dataset imagefolder:train.zip --subset 10000 \\
        --eval-dataset imagefolder:test.zip --eval-subset 2000 --minutes 5 --out simsiam.json

Bad input ends in one line ``urlsom: error: ...`` and exit 2, before anything is trained or written.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from urlsom_core.config import ConfigError, RunConfig
from urlsom_core.data import ImageData, Splits, stratified_split

EXIT_BAD_INPUT, EXIT_FAILED = 2, 1
LIGHTLY_MISSING = ("the SimSiam baseline needs the lightly package (a maintained self-supervised learning library): "
                   "pip install -e '.[baselines]' (lightly==1.6.0)")


@dataclass(frozen=True)
class SimSiamSettings:
    """SimSiam's own settings (lightly's CIFAR-10 benchmark) and the kNN's; the rest comes from the run.

    ``minutes``: the wall-clock training budget; ``proj_hidden``, ``out_dim``, ``pred_hidden``: the heads'
    sizes; ``lr``: SGD's learning rate per 128 images of a batch (scaled by batch / 128), cosine-annealed over
    the budget; ``knn_k``, ``knn_t``: neighbours and temperature of the kNN; ``knn_fraction``: the share of the
    training images the kNN is scored on when the run has no held-out split."""

    minutes: float
    proj_hidden: int = 512
    out_dim: int = 128
    pred_hidden: int = 64
    lr: float = 0.06
    momentum: float = 0.9
    weight_decay: float = 5e-4
    knn_k: int = 200
    knn_t: float = 0.1
    knn_fraction: float = 0.2

    def __post_init__(self) -> None:
        if not (isinstance(self.minutes, (int, float)) and math.isfinite(self.minutes) and self.minutes > 0):
            raise ConfigError(f"minutes {self.minutes!r}: allowed is a number > 0")
        for name in ("proj_hidden", "out_dim", "pred_hidden", "knn_k"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= 1):
                raise ConfigError(f"{name} {v!r}: allowed is an integer >= 1")
        if not self.knn_t > 0:
            raise ConfigError(f"knn_t {self.knn_t!r}: allowed is a number > 0")
        if not 0 < self.knn_fraction < 1:
            raise ConfigError(f"knn_fraction {self.knn_fraction!r}: allowed is 0 < fraction < 1")
        if not (self.lr > 0 and 0 <= self.momentum < 1 and self.weight_decay >= 0):
            raise ConfigError(f"lr {self.lr}, momentum {self.momentum}, weight_decay {self.weight_decay}: allowed are "
                              "lr > 0, 0 <= momentum < 1, weight_decay >= 0")


def require_lightly() -> str:
    """lightly's version; a ConfigError with how to install it when it is missing."""
    try:
        import lightly
    except ImportError:
        raise ConfigError(LIGHTLY_MISSING) from None
    return str(lightly.__version__)


class SimSiam(nn.Module):
    """Backbone, lightly's projection and prediction heads; ``forward(x)`` -> (z detached, p), both (B, out_dim)."""

    def __init__(self, backbone: nn.Module, features: int, s: SimSiamSettings) -> None:
        super().__init__()
        from lightly.models.modules import SimSiamPredictionHead, SimSiamProjectionHead

        self.backbone = backbone
        self.projection_head = SimSiamProjectionHead(features, s.proj_hidden, s.out_dim)
        self.prediction_head = SimSiamPredictionHead(s.out_dim, s.pred_hidden, s.out_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.projection_head(self.backbone(x))  # (B, out_dim)
        p = self.prediction_head(z)
        return z.detach(), p


def backbone_for(cfg: RunConfig, in_channels: int) -> nn.Module:
    """The run's backbone, freshly initialised: ``urlsom_core.model.ResNet(C, model.widths, model.blocks)``."""
    from urlsom_core.model import ResNet

    return ResNet(in_channels, cfg.model.widths, cfg.model.blocks)


def _autocast(cfg: RunConfig, device: torch.device) -> Any:
    """bf16 autocast where the run trains under it (``train.amp`` on CUDA, ``train.amp_cpu`` on a CPU)."""
    if cfg.train.amp and (device.type == "cuda" or (device.type == "cpu" and cfg.train.amp_cpu)):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cosine_lr(base: float, progress: float) -> float:
    """``base * (1 + cos(pi * progress)) / 2`` for progress in [0, 1] (clipped): the cosine anneal over the budget.

    Example:
        >>> cosine_lr(0.1, 0.0), cosine_lr(0.1, 0.5), cosine_lr(0.1, 2.0)
        (0.1, 0.05, 0.0)
    """
    p = min(max(progress, 0.0), 1.0)
    return round(base * 0.5 * (1.0 + math.cos(math.pi * p)), 12)


def train_simsiam(cfg: RunConfig, splits: Splits, s: SimSiamSettings, device: torch.device,
                  log: Callable[[str], None] = print) -> tuple[SimSiam, dict[str, Any]]:
    """Train SimSiam on ``splits.train`` for ``s.minutes`` of wall clock (at least one step) and return the model
    (in eval mode) and a report: steps, epochs, images seen, seconds, the per-epoch history (mean loss, the
    learning rate, and ``output_std``, the per-dimension std of the L2-normalised projections times
    sqrt(out_dim): about 1 for spread outputs, 0 for SimSiam's collapse, its paper's Fig. 2)."""
    from lightly.loss import NegativeCosineSimilarity

    from urlsom_core.train import TrainingDiverged, make_augment, seed_everything

    seed = cfg.train.seed
    seed_everything(seed)
    aug = make_augment(cfg, splits.input_size, splits.flip, splits.train.channel_stats())
    bb = backbone_for(cfg, splits.train.channels)
    model = SimSiam(bb, bb.out_features, s).to(device)
    crit = NegativeCosineSimilarity()
    N = len(splits.train)
    B = min(cfg.train.batch_size, N)
    steps = N // B
    if B < 2:
        raise ConfigError(f"batch_size {cfg.train.batch_size}: SimSiam's batch norm needs at least 2 images a batch")
    base_lr = s.lr * B / 128
    opt = torch.optim.SGD(model.parameters(), lr=base_lr, momentum=s.momentum, weight_decay=s.weight_decay)
    images = splits.train.images.to(device)  # (N, C, S, S) uint8, resident as in URL-SOM's training
    g_perm = torch.Generator().manual_seed(seed)
    g_aug = torch.Generator(device=device).manual_seed(seed + 1)
    budget = 60.0 * s.minutes
    history: list[dict[str, Any]] = []
    total, epoch, lr = 0, 0, base_lr
    t0 = time.monotonic()
    out_std = float("nan")
    model.train()
    while True:
        perm, ep0, sums, done = torch.randperm(N, generator=g_perm), time.monotonic(), 0.0, 0
        over = False
        for k in range(steps):
            lr = cosine_lr(base_lr, (time.monotonic() - t0) / budget)
            for grp in opt.param_groups:
                grp["lr"] = lr
            x = images[perm[k * B:(k + 1) * B].to(device)]
            v0, v1 = aug(x, g_aug), aug(x, g_aug)  # (B, C, S, S) each: the run's two views
            with _autocast(cfg, device):
                z0, p0 = model(v0)
                z1, p1 = model(v1)
            loss = 0.5 * (crit(z0.float(), p1.float()) + crit(z1.float(), p0.float()))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise TrainingDiverged(f"SimSiam loss is {value} at epoch {epoch} step {k}; training stopped")
            sums, done, total = sums + value, done + 1, total + 1
            if time.monotonic() - t0 >= budget:
                over = True
                break
        with torch.no_grad():
            zn = F.normalize(z0.float(), dim=1)  # (B, out_dim), the epoch's last batch
            out_std = float(zn.std(0).mean() * math.sqrt(zn.shape[1]))
        history.append({"epoch": epoch, "loss": round(sums / max(done, 1), 6), "steps": done, "partial": done < steps,
                        "lr": lr, "output_std": round(out_std, 4), "seconds": round(time.monotonic() - ep0, 3),
                        "elapsed": round(time.monotonic() - t0, 3)})
        log(f"simsiam epoch {epoch}: loss {history[-1]['loss']:.4f}, output std {out_std:.2f} "
            f"({history[-1]['elapsed']:.0f} of {budget:.0f} s)")
        epoch += 1
        if over:
            break
    model.eval()
    return model, {"steps": total, "epochs": round(sum(h["steps"] for h in history) / steps, 3),
                   "images_seen": total * B, "train_seconds": round(time.monotonic() - t0, 3), "batch": B,
                   "base_lr": base_lr, "final_loss": history[-1]["loss"], "output_std": round(out_std, 4),
                   "history": history}


@torch.no_grad()
def embed(backbone: nn.Module, data: ImageData, aug: Any, device: torch.device, batch: int = 1024) -> np.ndarray:
    """Backbone features (N, d) float32 of the un-augmented images (``aug.plain``: resized, standardised), in
    eval mode."""
    was = backbone.training
    backbone.eval()
    out = []
    for i in range(0, len(data), batch):
        x = aug.plain(data.images[i:i + batch].to(device))
        with torch.autocast(device.type, dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext():
            out.append(backbone(x).float().cpu())
    backbone.train(was)
    return torch.cat(out).numpy() if out else np.zeros((0, 0), dtype=np.float32)


def knn_accuracy(bank: np.ndarray, bank_labels: np.ndarray, query: np.ndarray, query_labels: np.ndarray,
                 n_classes: int, k: int = 200, t: float = 0.1, chunk: int = 1024) -> float:
    """Top-1 accuracy of lightly's weighted kNN (``lightly.utils.benchmarking.knn_predict``): each query's
    ``k`` most cosine-similar bank features (at most the bank's size) vote for their labels with weight
    ``exp(similarity / t)``. ``bank`` (M, d), ``query`` (Q, d); labels are class indices < ``n_classes``."""
    from lightly.utils.benchmarking import knn_predict

    if len(bank) == 0 or len(query) == 0:
        raise ConfigError(f"kNN with {len(bank)} bank and {len(query)} query images: allowed are at least one of each")
    fb = F.normalize(torch.as_tensor(np.asarray(bank, dtype=np.float32)), dim=1).T.contiguous()  # (d, M)
    yb = torch.as_tensor(np.asarray(bank_labels, dtype=np.int64))
    yq = torch.as_tensor(np.asarray(query_labels, dtype=np.int64))
    k = min(int(k), fb.shape[1])
    right = 0
    for i in range(0, len(query), chunk):
        fq = F.normalize(torch.as_tensor(np.asarray(query[i:i + chunk], dtype=np.float32)), dim=1)  # (c, d)
        pred = knn_predict(fq, fb, yb, n_classes, knn_k=k, knn_t=t)[:, 0]
        right += int((pred == yq[i:i + chunk]).sum())
    return right / len(query)


def knn_split(splits: Splits, fraction: float, seed: int) -> tuple[ImageData, ImageData, str]:
    """The kNN's bank and queries, and the protocol in words: the training images against the held-out split,
    or without one a stratified ``fraction`` of the training images against the rest."""
    tr = splits.train
    if splits.heldout is not None:
        return tr, splits.heldout, (f"kNN bank: the {len(tr):,} training images with their labels; scored on the "
                                    f"{len(splits.heldout):,} held-out images, which neither network trained on")
    bank_idx, query_idx = stratified_split(tr.labels.numpy(), fraction, seed)
    return tr.subset(bank_idx), tr.subset(query_idx), (
        f"no held-out split: kNN bank {len(bank_idx):,} of the training images, scored on the other {len(query_idx):,} "
        f"(stratified, seed {seed}); both parts were trained on without labels, as the paper's NS counts every image")


def chance(labels: np.ndarray) -> float:
    """The share of the largest class: the accuracy of always answering it."""
    labels = np.asarray(labels)
    return float(np.bincount(labels).max() / labels.size) if labels.size else float("nan")


def compare(cfg: RunConfig, s: SimSiamSettings, run: Any = None, device: str = "auto",
            log: Callable[[str], None] = print, splits: Splits | None = None) -> dict[str, Any]:
    """Train SimSiam on ``cfg``'s data at the budget ``s.minutes`` and score it, the backbone at its random
    initialisation and, with ``run`` (a ``urlsom_core.runs.Run``), URL-SOM's backbone by the same kNN.
    Returns the result (see the module's docstring), provenance included."""
    from urlsom_core.data import resolve
    from urlsom_core.distributed import pick_device
    from urlsom_core.files import provenance
    from urlsom_core.predict import predict
    from urlsom_core.train import make_augment

    version = require_lightly()
    t_start = time.monotonic()
    dev = pick_device(device)
    splits = splits if splits is not None else resolve(cfg.data)
    bank, query, protocol = knn_split(splits, s.knn_fraction, cfg.data.split_seed)
    n_classes = int(max(len(splits.train.classes), int(bank.labels.max()) + 1, int(query.labels.max()) + 1))
    yb, yq = bank.labels.numpy(), query.labels.numpy()

    def score(feats: Callable[[ImageData], np.ndarray]) -> float:
        return knn_accuracy(feats(bank), yb, feats(query), yq, n_classes, s.knn_k, s.knn_t)

    aug = make_augment(cfg, splits.input_size, splits.flip, splits.train.channel_stats())
    torch.manual_seed(cfg.train.seed)
    rand_bb = backbone_for(cfg, splits.train.channels).to(dev)
    random_acc = score(lambda d: embed(rand_bb, d, aug, dev))
    log(f"kNN accuracy of the backbone at its random initialisation: {random_acc:.4f}")
    model, report = train_simsiam(cfg, splits, s, dev, log)
    ssl_acc = score(lambda d: embed(model.backbone, d, aug, dev))
    log(f"kNN accuracy of SimSiam after {report['train_seconds']:.0f} s ({report['epochs']:.2f} epochs): {ssl_acc:.4f}")
    result: dict[str, Any] = {
        "what": "SimSiam (lightly) beside URL-SOM: the same backbone, augmentations, data and wall-clock budget, "
                "scored by lightly's weighted kNN on the backbone features",
        "protocol": protocol,
        "data": {"dataset": cfg.data.dataset, "train_images": len(splits.train), "classes": list(splits.train.classes),
                 "knn_bank": len(bank), "knn_queries": len(query), "chance": chance(yq)},
        "knn": {"k": min(s.knn_k, len(bank)), "t": s.knn_t, "features": "L2-normalised backbone output of the "
                "un-augmented images", "function": "lightly.utils.benchmarking.knn_predict"},
        "budget_minutes": s.minutes,
        "simsiam": {"knn_accuracy": ssl_acc, **report,
                    "settings": asdict(s), "optimizer": f"SGD lr {report['base_lr']:g} (0.06 x batch / 128), momentum "
                    f"{s.momentum:g}, weight decay {s.weight_decay:g}, cosine over the budget",
                    "heads": f"SimSiamProjectionHead({model.backbone.out_features}, {s.proj_hidden}, {s.out_dim}), "
                             f"SimSiamPredictionHead({s.out_dim}, {s.pred_hidden}, {s.out_dim})"},
        "random_init": {"knn_accuracy": random_acc},
        "urlsom": None,
        "config": cfg.to_dict(), "config_key": cfg.key(),
    }
    if run is not None:
        same = run.config.data == cfg.data
        run_aug = run.augment()  # the run's own view, its stored channel statistics
        net = run.load_model(str(dev))

        def urlsom_feats(d: ImageData) -> np.ndarray:
            return predict(net, d, run_aug, dev, embed=True)["embedding"]

        urlsom_acc = score(urlsom_feats)
        own = run.metrics  # the network's own figures (the paper's map) lead metrics.json
        result["urlsom"] = {
            "run": str(run.path), "config_key": run.config.key(), "knn_accuracy": urlsom_acc,
            "neural_selectivity": own.get("neural_selectivity"),
            "heldout_neural_selectivity": own.get("heldout_neural_selectivity"),
            "train_seconds": run.metrics.get("train_seconds"), "epochs": run.metrics.get("epochs_trained"),
            "stop_reason": run.metrics.get("stop_reason"), "same_data": same,
            "note": "NS and held-out NS are the run's own (metrics.json, the network's own winners); the kNN is "
                    "scored here on the same bank and queries as SimSiam's",
        }
        log(f"kNN accuracy of URL-SOM's backbone ({run.path}): {urlsom_acc:.4f}")
    prov = provenance(str(dev), cfg.train.seed)
    prov["versions"]["lightly"] = version
    prov["wall_time_s"] = round(time.monotonic() - t_start, 3)
    result["provenance"] = prov
    return result


def result_markdown(result: dict[str, Any]) -> str:
    """The result as a Markdown table: each network's kNN accuracy, URL-SOM's NS, chance; the budget and protocol."""
    rows = [("SimSiam (lightly), trained for the budget", result["simsiam"]["knn_accuracy"]),
            ("the same backbone at its random initialisation", result["random_init"]["knn_accuracy"])]
    u = result.get("urlsom")
    if u:
        rows.insert(1, ("URL-SOM's backbone (the stored run)", u["knn_accuracy"]))
    lines = ["| embedding | kNN accuracy |", "|---|---|"] + [f"| {w} | {v:.3f} |" for w, v in rows]
    lines.append(f"| chance (the largest class) | {result['data']['chance']:.3f} |")
    s = result["simsiam"]
    text = (f"\nSimSiam: {s['train_seconds']:.0f} s ({s['epochs']:.2f} epochs, {s['images_seen']:,} images), budget "
            f"{result['budget_minutes']:g} min. {result['protocol']}.")
    if u:
        ns = u.get("neural_selectivity")
        held = u.get("heldout_neural_selectivity")
        text += (f" URL-SOM: NS {ns:.3f}" if ns is not None else " URL-SOM:") + \
            (f", held-out NS {held:.3f}" if held is not None else "") + \
            f" after {u['train_seconds']:.0f} s of training ({u['epochs']} epochs, {u['stop_reason']})."
    return "\n".join(lines) + "\n" + text + "\n"


# --------------------------------------------------------------------------------------------- command
DATA_FLAGS = ("dataset", "eval_dataset", "holdout", "subset", "eval_subset", "split_seed", "data_root",
              "skip_bad_images")  # what --run lets a command change: the data both networks are scored on


def build_parser() -> argparse.ArgumentParser:
    from .cli import _add_run_options, _Parser

    p = _Parser(prog="python -m urlsom_book.ssl_baseline", description=__doc__.split("\n\n")[0])
    p.add_argument("--run", help="a complete URL-SOM run directory: its config gives the backbone, augmentations, data, "
                   "seed and (without --minutes) the budget, and its backbone is scored by the same kNN")
    p.add_argument("--minutes", type=float, help="SimSiam's wall-clock budget (default with --run: the run's own "
                   "training seconds; required without it)")
    p.add_argument("--out", required=True, help="the result JSON file")
    p.add_argument("--knn-k", type=int, default=200, help="kNN neighbours (default 200, as lightly's benchmarks)")
    p.add_argument("--knn-t", type=float, default=0.1, help="kNN temperature (default 0.1)")
    p.add_argument("--knn-fraction", type=float, default=0.2,
                   help="without a held-out split: the share of the training images the kNN is scored on (default 0.2)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    _add_run_options(p)  # the data, model and training flags of `urlsom train`, resolved as it resolves them
    return p


def resolve_command(args: argparse.Namespace) -> tuple[RunConfig, Any, SimSiamSettings]:
    """The config (the run's, with the data flags given; or the flags' as ``urlsom train`` resolves them with
    ``--max-minutes`` the budget), the run (or None) and the settings. Raises ConfigError."""
    from .cli import _FLAGS, resolve_args

    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads {args.threads}: allowed is an integer >= 1")
    if args.minutes is not None and not (math.isfinite(args.minutes) and args.minutes > 0):
        raise ConfigError(f"--minutes {args.minutes:g}: allowed is a number > 0")
    run = None
    if args.run:
        from urlsom_core.runs import Run

        run = Run.load(args.run)
        others = sorted(f"--{f.replace('_', '-')}" for f in _FLAGS if f not in DATA_FLAGS and f != "seed"
                        and getattr(args, f, None) is not None)
        if args.config or others:
            raise ConfigError(f"{', '.join(others) or '--config'} with --run: the backbone and training settings are "
                              "the run's; allowed with --run are --seed and the data flags "
                              + ", ".join(f"--{f.replace('_', '-')}" for f in DATA_FLAGS))
        dotted = {f"data.{f}": getattr(args, f) for f in DATA_FLAGS if getattr(args, f, None) is not None}
        if args.seed is not None:
            dotted["train.seed"] = args.seed
        cfg = run.config.replace(**dotted) if dotted else run.config
        minutes = args.minutes if args.minutes is not None else float(run.metrics.get("train_seconds") or 0) / 60.0
    else:
        if args.minutes is None:
            raise ConfigError("--minutes: required without --run (the wall-clock budget of SimSiam's training)")
        if args.max_minutes is None:
            args.max_minutes = args.minutes  # the defaults rule sizes the network for this budget, as for urlsom train
        cfg, _ = resolve_args(args)
        minutes = args.minutes
    s = SimSiamSettings(minutes=minutes, knn_k=args.knn_k, knn_t=args.knn_t, knn_fraction=args.knn_fraction)
    return cfg, run, s


def check_out(path: str) -> Path:
    """The result file's path, refused in one line when its folder is missing or not writable (before training)."""
    import os

    out = Path(path)
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(f"--out {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"--out {path}: folder {folder} is not writable")
    if out.is_dir():
        raise ConfigError(f"--out {path}: is a folder; allowed is a file path")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from urlsom_core.data import check_spec
    from urlsom_core.files import RunFileError, write_json
    from urlsom_core.train import TrainingDiverged

    from .notebook import stderr_log

    args = build_parser().parse_args(argv)
    try:
        require_lightly()
        out = check_out(args.out)
        cfg, run, s = resolve_command(args)
        check_spec(cfg.data.dataset, cfg.data.data_root)
        if cfg.data.eval_dataset:
            check_spec(cfg.data.eval_dataset, cfg.data.data_root)
        if args.threads:
            torch.set_num_threads(args.threads)
        result = compare(cfg, s, run, device=args.device, log=stderr_log)
    except ConfigError as e:
        print(f"urlsom: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except TrainingDiverged as e:
        print(f"urlsom: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    result["command"] = "python -m urlsom_book.ssl_baseline " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        write_json(out, result)
    except RunFileError as e:
        print(f"urlsom: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    print(result_markdown(result))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

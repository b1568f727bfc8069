"""``urlsom``: train, evaluate, map, reproduce, bench.

Every bad parameter ends in one line on stderr, ``urlsom: error: ...``, exit code 2, and nothing written.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from typing import Any

from urlsom_core.config import ConfigError, RunConfig

# OpenMP threads that wait by spinning (libgomp's default) collapse when other processes share the cores: on a
# busy 2-core machine every tensor operation then waits a scheduler slice for the other thread (measured: a
# training step 2-5x slower than with one thread). Passive waiting costs microseconds per operation on an idle
# machine and avoids the collapse. Set before torch is imported (here, by the ``urlsom`` command, so child
# processes such as the notebook kernels of ``urlsom reproduce`` inherit it); an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage too)
        self.exit(EXIT_BAD_INPUT, f"urlsom: error: {message}\n")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    d = p.add_argument_group("data")
    d.add_argument("--dataset", help="digits | mnist:PATH | cifar10[:ROOT] | svhn[:ROOT] | imagefolder:PATH | npz:PATH; "
                   "join several with '+' (imagefolder:train.zip+imagefolder:test.zip)")
    d.add_argument("--eval-dataset", help="a separate dataset for the held-out NS")
    d.add_argument("--holdout", type=float, help="stratified fraction of --dataset held out for the held-out NS")
    d.add_argument("--subset", type=int, help="class-balanced subset size of --dataset")
    d.add_argument("--eval-subset", type=int, help="class-balanced subset size of --eval-dataset")
    d.add_argument("--split-seed", type=int, help="seed of subsets and the holdout split (default 0)")
    d.add_argument("--input-size", type=int, help="square side fed to the network (default: 16 for inputs <= 16 px and, without --config, 1-channel inputs <= 28 px; else 32)")
    d.add_argument("--flip", dest="flip", action="store_true", default=None, help="horizontal flips (default: off for digit data)")
    d.add_argument("--no-flip", dest="flip", action="store_false")
    d.add_argument("--crop-min", type=float, help="smallest random-crop side, fraction of the image side "
                   "(default the paper's 22/32 = 0.6875)")
    d.add_argument("--rotate", type=float, metavar="DEGREES",
                   help="turn each augmented view by a random angle in +-DEGREES (default 0: the paper has no rotation)")
    d.add_argument("--invert-fraction", type=float, help="contrast-invert this fraction of images (SVHN-like digits)")
    d.add_argument("--invert-copy", action="store_true", default=None,
                   help="with --invert-fraction: add inverted copies of that fraction, keeping the originals")
    d.add_argument("--data-root", help="where torchvision datasets are downloaded/cached (default data/)")
    d.add_argument("--jitter", help="reading of the paper's colour jitter [0.4, 0.4, 0.4, 0.4]: torchvision "
                   "(ColorJitter ranges, default) or simsiam (the Keras SimSiam example's color_jitter)")
    d.add_argument("--skip-bad-images", action="store_true", default=None,
                   help="leave out image files that cannot be decoded (listed in manifest.json) instead of stopping")
    m = p.add_argument_group("model")
    m.add_argument("--grid", type=int, nargs=2, metavar=("H", "W"), help="map size (paper 30 30)")
    m.add_argument("--filter", help="gaussian | student")
    m.add_argument("--sigma", type=float, help="Gaussian filter sigma in neurons (paper 5)")
    m.add_argument("--sigma-end", type=_float_or_none, metavar="SIGMA|none",
                   help="shrink the Gaussian's sigma to this during training (not the paper's: its filter is fixed); "
                   "none: a fixed filter")
    m.add_argument("--student-scale", type=float, help="t-student filter 1/(1+r^2/s) scale s (paper 1 and 18)")
    m.add_argument("--kernel-size", type=int, help="odd kernel side (default: 6 sigma, capped at 2*max(H,W)-1)")
    m.add_argument("--kernel-norm", help="sum | peak | neighbour: kernel amplitude normalisation (neighbour: the "
                   "centre minus its nearest neighbour is the gain; for Gaussian kernels)")
    m.add_argument("--kernel-gain", type=float, help="kernel amplitude multiplier (inverse Softmax temperature)")
    m.add_argument("--boundary", help="what the fixed convolution sees beyond the map's edge: zeros (the paper's "
                   "'same' reading), circular (a torus), reflect or mass (kernel renormalised inside the map)")
    m.add_argument("--lattice", help="square (the paper's map) | hex: hexagonal cells in offset rows, 6 neighbours "
                   "each (with --boundary circular a hexagonal torus: an even number of rows)")
    m.add_argument("--gaussian-extent", help="reading of the paper's 6-sigma Gaussian kernel: side (6 sigma "
                   "wide, +-3 sigma; default) or radius (+-6 sigma)")
    m.add_argument("--widths", type=int, nargs="+", help="ResNet stage widths (paper 16 48 256)")
    m.add_argument("--blocks", type=int, help="basic blocks per stage (paper 3 = ResNet-20)")
    m.add_argument("--dropout", type=float, help="dropout before the projection (paper option 0.5)")
    m.add_argument("--usage-balance", action="store_true", default=None,
                   help="after training, fit a per-neuron bias so that every neuron wins some training images "
                   "(not the paper's; the digits defaults have it on)")
    m.add_argument("--no-usage-balance", dest="usage_balance", action="store_false",
                   help="the paper's map: no usage-balancing bias")
    m.add_argument("--prototype-readout", action="store_true", default=None,
                   help="after training, let each image's winner be the neuron with the nearest prototype among the "
                   "network's winner and its 8 neighbours, 6 on hex (not the paper's; the digits defaults have it on)")
    m.add_argument("--no-prototype-readout", dest="prototype_readout", action="store_false",
                   help="the paper's winners: the argmax of the map's output")
    m.add_argument("--readout-refits", type=int,
                   help="with --prototype-readout: refit the prototypes from the readout's own winners this many "
                   "times (default 0)")
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, help="maximum epochs (paper 500, with early stopping)")
    t.add_argument("--batch-size", type=int, help="pairs per batch (paper 256)")
    t.add_argument("--patience", type=int, help="early stopping patience in epochs (paper 10)")
    t.add_argument("--patience-on", choices=("loss", "map"),
                   help="what early stopping watches: loss (the paper) or map (the loss, or the monitor's NS or TE; "
                        "the default with --max-minutes)")
    t.add_argument("--gamma", type=float, help="weight of loss_similarity (paper 2)")
    t.add_argument("--weight-decay", type=float, help="L2 on the projection (paper option 5e-4)")
    t.add_argument("--warmup-kick", action="store_true", default=None,
                   help="loss_collapse x2 for 15 epochs and noise 0.1 on the map for 10 (GNWM's warm-up)")
    t.add_argument("--no-warmup-kick", dest="warmup_kick", action="store_false",
                   help="no warm-up kick (the paper; the digits/MNIST defaults have it on)")
    t.add_argument("--collapse-weight", type=float, help="weight of loss_collapse after the warm-up (paper 1; "
                   "below 1: fewer, fuller neurons, risk of collapse)")
    t.add_argument("--collapse-ramp-epochs", type=int, help="epochs over which the weight moves linearly from the "
                   "warm-up weight to --collapse-weight (default 0)")
    t.add_argument("--anneal-share", type=float, help="with --sigma-end: the share of the training (of --epochs or of "
                   "--max-minutes, whichever is further along) over which sigma shrinks (default 0.7)")
    t.add_argument("--seed", type=int, help="seed of initialisation, batches and augmentation")
    t.add_argument("--max-minutes", type=float, help="time budget; training stops cleanly when it is spent")
    t.add_argument("--compile", action="store_true", default=None,
                   help="torch.compile the network (default auto: on a CPU with a C++ compiler and --max-minutes >= 5)")
    t.add_argument("--no-compile", dest="compile", action="store_false", help="train eager")
    t.add_argument("--amp-cpu", action="store_true", default=None,
                   help="train under bf16 autocast on a CPU, also one without native bf16 (default auto: where the "
                   "CPU has native bf16)")
    t.add_argument("--no-amp-cpu", dest="amp_cpu", action="store_false", help="train in float32 on a CPU")
    t.add_argument("--channels-last", action="store_true", default=None,
                   help="on a CPU, train in the channels-last memory layout (default auto: on; always so on CUDA)")
    t.add_argument("--no-channels-last", dest="channels_last", action="store_false",
                   help="on a CPU, train in the default (NCHW) memory layout")
    p.add_argument("--config", help="a YAML/JSON file with data/model/train sections; flags override it. Without "
                   "it the defaults follow the images and the device (defaults.auto_defaults, printed in one line)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--quiet", action="store_true", help="no progress bar (the defaults line, the epoch-time line and warnings still go to stderr)")


_FLAGS = {
    "dataset": "data.dataset", "eval_dataset": "data.eval_dataset", "holdout": "data.holdout", "subset": "data.subset",
    "eval_subset": "data.eval_subset", "split_seed": "data.split_seed", "input_size": "data.input_size",
    "flip": "data.flip", "crop_min": "data.crop_min", "rotate": "data.rotate", "invert_fraction": "data.invert_fraction",
    "invert_copy": "data.invert_copy", "data_root": "data.data_root",
    "skip_bad_images": "data.skip_bad_images",
    "grid": "model.grid", "filter": "model.filter", "sigma": "model.sigma", "sigma_end": "model.sigma_end",
    "anneal_share": "train.anneal_share", "student_scale": "model.student_scale",
    "kernel_size": "model.kernel_size", "kernel_norm": "model.kernel_norm", "kernel_gain": "model.kernel_gain",
    "boundary": "model.boundary", "lattice": "model.lattice", "jitter": "data.jitter", "gaussian_extent": "model.gaussian_extent",
    "widths": "model.widths", "blocks": "model.blocks", "dropout": "model.dropout",
    "usage_balance": "model.usage_balance", "prototype_readout": "model.prototype_readout",
    "readout_refits": "model.readout_refits", "epochs": "train.epochs",
    "batch_size": "train.batch_size", "patience": "train.patience",
    "patience_on": "train.patience_on", "gamma": "train.gamma",
    "weight_decay": "train.weight_decay", "collapse_weight": "train.collapse_weight",
    "collapse_ramp_epochs": "train.collapse_ramp_epochs", "seed": "train.seed", "max_minutes": "train.max_minutes",
    "compile": "train.compile", "amp_cpu": "train.amp_cpu", "channels_last": "train.channels_last",
}


NONE = "none"  # --sigma-end none: a fixed filter, also where the defaults rule would shrink it


def _float_or_none(text: str) -> float | str:
    """argparse type of --sigma-end: a number, or ``none``."""
    if text.strip().lower() == NONE:
        return NONE
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: allowed is a number or none") from None


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The run's config from the command line (see :func:`resolve_args`)."""
    return resolve_args(args)[0]


def resolve_args(args: argparse.Namespace) -> tuple[RunConfig, str | None]:
    """Dataclass defaults < the dataset's defaults (``defaults.defaults_for``) < the defaults rule
    (``defaults.auto_defaults``, only without --config) < --config file < flags
    (:func:`urlsom_core.configure.resolve_config`, which ``urlsom_core.SOM`` uses too). Returns the config and
    the rule's one-line reason (None with --config: a config file keeps the meaning and key it had)."""
    from urlsom_core.configure import resolve_config

    flags = {dotted: getattr(args, flag) for flag, dotted in _FLAGS.items() if getattr(args, flag, None) is not None}
    if flags.get("model.sigma_end") == NONE:
        flags["model.sigma_end"] = None
    return resolve_config(flags, config_file=args.config, device=getattr(args, "device", "auto"),
                          warmup_kick=getattr(args, "warmup_kick", None))


def _print_metrics(m: dict[str, Any]) -> None:
    keys = ["neural_selectivity", "heldout_neural_selectivity", "heldout_on_dead", "neural_selectivity_per_neuron",
            "active_neurons",
            "n_neurons", "topographic_error", "contiguity", "contiguity_shuffled", "trustworthiness", "nmi", "ari",
            "epochs_trained", "stop_reason", "train_seconds"]
    for k in keys:
        if k in m:
            v = m[k]
            print(f"  {k:32s} {v:.4f}" if isinstance(v, float) else f"  {k:32s} {v}")
    read = m.get("readout")
    if read:  # the same network read out by what was fitted after training (not the paper's method)
        what = " and ".join(w for k, w in (("usage_balance", "the usage-balancing bias"),
                                           ("prototype_readout", "the prototype readout")) if read.get(k))
        print(f"  read out with {what}: " + _figures_line(read))
        if read.get("bias_only"):
            print("  with the usage-balancing bias alone (no prototype readout): " + _figures_line(read["bias_only"]))


def _figures_line(f: dict[str, Any]) -> str:
    keys = ("neural_selectivity", "heldout_neural_selectivity", "heldout_on_dead", "active_neurons",
            "topographic_error", "contiguity")
    return ", ".join(f"{k} {f[k]:.4f}" if isinstance(f[k], float) else f"{k} {f[k]}" for k in keys if k in f)


def cmd_train(args: argparse.Namespace) -> int:
    """Train one run. Under ``torchrun --nproc-per-node K urlsom train ...`` every process joins one DDP group
    (NCCL on CUDA, one GPU per process; gloo on the CPU), each takes batch_size / K pairs of every batch, the
    loss uses the batch mean ``a`` of the whole batch, and only rank 0 writes files and prints."""
    from urlsom_core.distributed import init_distributed
    from urlsom_core.runs import train_run

    from .notebook import stderr_log

    cfg, rule = resolve_args(args)
    every = checkpoint_seconds(args.checkpoint_every)
    rank, world, device = init_distributed(args.device)
    log = stderr_log if rank == 0 else (lambda s: None)  # --quiet drops only the progress bar
    try:
        run = train_run(cfg, args.out, device=device, progress=not args.quiet and rank == 0, log=log,
                        checkpoint_seconds=every, defaults_rule=rule)
    finally:
        if world > 1:
            import torch

            torch.distributed.destroy_process_group()
    if rank != 0:
        return 0
    print(f"run {run.path} ({'reused, already complete' if run.cache_hit else 'trained'}), config key {cfg.key()}"
          + (f", {world} processes" if world > 1 else ""))
    _print_metrics(run.metrics)
    return 0


def checkpoint_seconds(flag: float | None) -> float | None:
    """Mid-epoch checkpoint interval of ``urlsom train``: ``--checkpoint-every``, else
    ``$URLSOM_CHECKPOINT_SECONDS``, else None (the run store's default, 120 s)."""
    if flag is not None:
        return flag
    env = os.environ.get("URLSOM_CHECKPOINT_SECONDS")
    if env is None:
        return None
    try:
        seconds = float(env)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(f"URLSOM_CHECKPOINT_SECONDS {env!r}: allowed is a number of seconds >= 0")
    return seconds


def cmd_evaluate(args: argparse.Namespace) -> int:
    """The map of a stored run scored on ``--dataset``: the network's own figures, and a readout's beside them,
    with held-out NS from the neuron labels of the run's training images (read from its assignments: the
    training images themselves are not loaded)."""
    from urlsom_core.data import check_spec
    from urlsom_core.distributed import pick_device
    from urlsom_core.evaluation import evaluate
    from urlsom_core.files import provenance, write_json
    from urlsom_core.runs import Run, load_for_eval

    run = Run.load(args.run)
    check_spec(args.dataset, run.config.data.data_root)
    data = load_for_eval(run, args.dataset, args.subset)
    m, _ = evaluate(run.config, run.load_model(args.device), run.augment(), pick_device(args.device), data,
                    readout=run.readout(), labelled_by=run.assignments())
    m.update(dataset=data.name, n_samples=len(data), run=str(run.path))
    m["provenance"] = provenance(args.device, run.config.train.seed)
    _print_metrics(m)
    if args.out:
        write_json(args.out, m)
        print(f"wrote {args.out}")
    return 0


MAP_COLUMNS = ("row", "column", "neuron", "softmax")
READOUT_COLUMNS = ("readout_row", "readout_column", "readout_neuron")  # with a readout fitted after training


def cmd_map(args: argparse.Namespace) -> int:
    """The winner of every image of a folder (any image files, in sub-folders too), a .zip of them or an .npz,
    as CSV: the file's path inside the folder or zip (the image's index for an npz), the network's own winner
    (the paper's map): its row and column, its row-major index and its Softmax value; where the run has a
    readout fitted after training (not the paper's method), the readout's winner in three more columns. The images reach the network as the run's own
    evaluation brings them (``urlsom_core.api``); everything is read and checked before the CSV is written,
    atomically."""
    import csv
    from pathlib import Path

    import numpy as np

    from urlsom_core.api import images_for_run, map_images, read_image_files
    from urlsom_core.files import atomic_write
    from urlsom_core.runs import Run

    out = Path(args.out)
    if out.is_dir():
        raise ConfigError(f"--out {out}: is a folder; allowed is the path of a CSV file")
    if not out.parent.is_dir():
        raise ConfigError(f"--out {out}: folder {out.parent} does not exist")
    if not Path(args.run).is_dir():
        raise ConfigError(f"--run {args.run}: does not exist; allowed is a run directory (urlsom train --out, SOM.save)")
    run = Run.load(args.run)
    names, images = read_image_files(args.images, run.config.data.input_size or 32)
    res = map_images(run, images_for_run(run, images, name=args.images), args.device)
    first = "index" if Path(args.images).suffix.lower() == ".npz" and Path(args.images).is_file() else "file"

    def write(fh: Any) -> None:
        w = csv.writer(fh, lineterminator="\n")
        readout = "readout_winner" in res
        w.writerow((first, *MAP_COLUMNS, *(READOUT_COLUMNS if readout else ())))
        for i, name in enumerate(names):
            row = [name, int(res["row"][i]), int(res["column"][i]), int(res["winner"][i]), f"{float(res['p_winner'][i]):.6f}"]
            if readout:
                row += [int(res["readout_row"][i]), int(res["readout_column"][i]), int(res["readout_winner"][i])]
            w.writerow(row)

    atomic_write(out, write, mode="w")
    H, W = run.config.model.grid
    print(f"mapped {len(names):,} images onto the {H}x{W} map of run {run.path}: {np.unique(res['winner']).size} "
          f"neurons won one; wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="urlsom", description="URL-SOM: self-organizing representation learning (train, evaluate, map, reproduce, bench)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    t = sub.add_parser("train", help="train a map and write metrics, assignments, checkpoint, provenance")
    t.add_argument("--out", required=True, help="run directory (same command again resumes or reuses)")
    t.add_argument("--checkpoint-every", type=float, metavar="SECONDS",
                   help="also checkpoint mid-epoch every SECONDS (0: every step; default "
                        "$URLSOM_CHECKPOINT_SECONDS or 120); not part of the config")
    _add_run_options(t)
    t.set_defaults(func=cmd_train)
    e = sub.add_parser("evaluate", help="metrics of a trained map on any dataset")
    e.add_argument("--run", required=True, help="a complete run directory")
    e.add_argument("--dataset", required=True, help="dataset spec to score")
    e.add_argument("--subset", type=int, help="class-balanced subset size")
    e.add_argument("--device", default="cpu")
    e.add_argument("--out", help="write the metrics JSON here")
    e.set_defaults(func=cmd_evaluate)
    m = sub.add_parser("map", help="the winner (row, column) and its Softmax value of every image of a folder, "
                       "zip or npz, no labels needed, as CSV")
    m.add_argument("--run", required=True, help="a complete run directory (urlsom train --out, SOM.save)")
    m.add_argument("--images", required=True, help="a folder of images (any image files, in sub-folders too), a "
                   ".zip of them, or an .npz with an array 'images' (N x H x W [x C])")
    m.add_argument("--out", required=True, help="the CSV to write: file (index for an npz), "
                   + ", ".join(MAP_COLUMNS))
    m.add_argument("--device", default="cpu")
    m.set_defaults(func=cmd_map)
    for register in _extensions():
        register(sub)
    return p


def _extensions() -> list[Callable[[Any], None]]:
    """Subcommands living in their own modules (reproduce, bench), each exposing ``register(subparsers)``."""
    from . import bench, reproduce

    return [reproduce.register, bench.register]


def main(argv: list[str] | None = None) -> int:
    from urlsom_core.checkpoint import CheckpointError
    from urlsom_core.files import RunFileError
    from urlsom_core.signals import TrainingInterrupted
    from urlsom_core.train import TrainingDiverged

    args = build_parser().parse_args(argv)
    if getattr(args, "device", None) and "URLSOM_THREADS" in os.environ:
        import torch

        torch.set_num_threads(int(os.environ["URLSOM_THREADS"]))
    try:
        return int(args.func(args) or 0)
    except ConfigError as e:
        print(f"urlsom: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (TrainingDiverged, CheckpointError, RunFileError) as e:
        print(f"urlsom: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except TrainingInterrupted as e:
        print(f"urlsom: {e}", file=sys.stderr)
        return 128 + e.signum  # the shell's code for "ended by this signal" (143 for SIGTERM)
    except KeyboardInterrupt:
        print("urlsom: interrupted; rerun the same command to resume from the last checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


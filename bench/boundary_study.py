"""The boundary study: boundary mode x sigma on digits (30x30 map) and, with ``--cifar DIR``, on CIFAR-10 at CPU
scale; NS, held-out NS, live neurons, TE, corner and border over-representation and usage evenness, mean and
spread over seeds, side by side in one table.

    .venv/bin/python bench/boundary_study.py                                   # digits: 4 modes x 3 sigmas x 3 seeds
    .venv/bin/python bench/boundary_study.py --cifar ../shared/data/cifar10-jpg  # and CIFAR-10 (2 seeds)

The paper does not say what its 'same' convolution sees beyond the map's edge (TensorFlow's 'same' pads with
zeros: ``model.boundary zeros``, the paper profile's reading); see ``urlsom_book.boundary_study``.

Digits: ``boundary_study.digits_config`` (the digits defaults of ``urlsom train``, a 30x30 map, stratified
20% held-out split). CIFAR-10: ``bench/configs/cifar10_cpu.yaml`` (a 20-minute CPU run each) with its data
read from ``DIR/train.zip`` and ``DIR/test.zip``. Every run goes through the run store
(``urlsom_core.runs.get_or_train``, ``--runs-root``): trained once, resumed when interrupted, reused when
complete, so rerunning the command after a stop continues where it stopped. ``--set section.field=VALUE``
changes every run's config (after the study's own settings, before mode, sigma and seed). ``results.json``
(every run's config, seed, metrics and provenance, and the script's) and ``results.md`` go to ``--out``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXIT_BAD_INPUT = 2
CIFAR_CONFIG = "bench/configs/cifar10_cpu.yaml"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from urlsom_book.boundary_study import MODES, SIGMAS

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--modes", nargs="+", default=list(MODES), help=f"boundary modes (default {' '.join(MODES)})")
    p.add_argument("--sigmas", type=float, nargs="+", default=list(SIGMAS),
                   help=f"filter widths in neurons (default {' '.join(f'{s:g}' for s in SIGMAS)})")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="training seeds (default 0 1 2 on digits, 0 1 on CIFAR-10)")
    p.add_argument("--epochs", type=int, help="epochs of every run (default: each config's own)")
    p.add_argument("--cifar", metavar="DIR", help="also CIFAR-10 from DIR/train.zip and DIR/test.zip")
    p.add_argument("--no-digits", action="store_true", help="only CIFAR-10 (with --cifar)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="section.field=VALUE",
                   help="change every run's config (YAML value), e.g. model.grid=[6,6]")
    p.add_argument("--runs-root", default="runs", help="the run store (default runs/)")
    p.add_argument("--out", default="bench/results/boundary_study", help="folder for results.json and results.md")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: a shared machine)")
    return p.parse_args(argv)


def plan(args: argparse.Namespace) -> list[tuple[str, str, float, int, Any]]:
    """Every (dataset, mode, sigma, seed, config) to train, checked: a ConfigError before anything is written."""
    from urlsom_book import boundary_study as B
    from urlsom_core.config import ConfigError, parse_overrides
    from urlsom_core.data import check_spec
    from urlsom_core.defaults import config_from_file

    modes = B.check_modes(args.modes)
    sigmas = B.check_sigmas(args.sigmas)
    if args.epochs is not None and args.epochs < 1:
        raise ConfigError(f"--epochs {args.epochs}: allowed is an integer >= 1")
    if args.seeds is not None and (not args.seeds or any(s < 0 for s in args.seeds)):
        raise ConfigError(f"--seeds {' '.join(map(str, args.seeds))}: allowed are integers >= 0")
    if args.threads < 1:
        raise ConfigError(f"--threads {args.threads}: allowed is an integer >= 1")
    if args.no_digits and not args.cifar:
        raise ConfigError("--no-digits without --cifar: allowed is --cifar DIR with it, or neither")
    dotted = parse_overrides(args.overrides)
    bases: list[tuple[str, Any, list[int]]] = []
    if not args.no_digits:
        bases.append(("digits", B.digits_config(), args.seeds if args.seeds is not None else [0, 1, 2]))
    if args.cifar:
        d = Path(args.cifar)
        for f in ("train.zip", "test.zip"):
            if not (d / f).is_file():
                raise ConfigError(f"--cifar {args.cifar}: no {f} there; allowed is a folder with train.zip and test.zip")
        cfg = config_from_file(str(ROOT / CIFAR_CONFIG), where=CIFAR_CONFIG)
        cfg = cfg.replace(**{"data.dataset": f"imagefolder:{d / 'train.zip'}",
                             "data.eval_dataset": f"imagefolder:{d / 'test.zip'}"})
        bases.append(("cifar10", cfg, args.seeds if args.seeds is not None else [0, 1]))
    out = []
    for name, base, seeds in bases:
        if dotted:
            base = base.replace(**dotted)
        if args.epochs is not None:
            base = base.replace(**{"train.epochs": args.epochs})
        check_spec(base.data.dataset, base.data.data_root)
        if base.data.eval_dataset:
            check_spec(base.data.eval_dataset, base.data.data_root)
        out += [(name, m, s, seed, cfg) for m, s, seed, cfg in B.study_configs(base, modes, sigmas, seeds)]
    from urlsom_core.distributed import pick_device

    args.resolved_device = str(pick_device(args.device))
    return out


def markdown(res: dict[str, Any]) -> str:
    from urlsom_book.boundary_study import markdown_table

    n_runs = len(res["runs"])
    trained = sum(1 for r in res["runs"] if not r["cache_hit"])
    lines = [
        "Boundary mode x sigma: each line the mean ± spread (sample standard deviation) over its seeds. "
        "corners x, border x: the share of training samples won by the 4 corner neurons / the outer ring over "
        "their share of the neurons (1 for an evenly used map; on a circular map, where no neuron is at an "
        "edge, their expectation is 1 by symmetry); evenness: entropy of the winner counts over log n. "
        "Held-out NS: digits a stratified 20% split, CIFAR-10 2,000 test images.",
        "",
        markdown_table(res["groups"]),
        "",
        "Configs: " + "; ".join(f"{k}: {v}" for k, v in res["config_sources"].items()) + ".",
        "",
        f"Made by `{res['command']}` in {res['wall_seconds']:.0f} s: {n_runs} runs, {trained} trained now, "
        f"{n_runs - trained} from the store (git {res['provenance']['git_commit']}, "
        f"{res['provenance']['torch_threads']} torch thread(s), device {res['provenance']['device']}).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from urlsom_core.config import ConfigError

    def log(s: str) -> None:
        print(s, file=sys.stderr, flush=True)

    try:
        todo = plan(args)
    except ConfigError as e:
        print(f"boundary_study: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    import torch

    from urlsom_book import boundary_study as B
    from urlsom_core.files import provenance, write_json
    from urlsom_core.runs import get_or_train

    torch.set_num_threads(args.threads)
    t0 = time.time()
    rows = []
    for i, (name, mode, sigma, seed, cfg) in enumerate(todo, 1):
        log(f"[{i}/{len(todo)}] {name} boundary {mode} sigma {sigma:g} seed {seed}: run {cfg.key()}")
        run = get_or_train(cfg, root=args.runs_root, device=args.device, progress=False, log=log)
        rows.append(B.run_row(run, name, mode, sigma, seed))
    sources = {"digits": "urlsom_book.boundary_study.digits_config() (digits defaults, 30x30, holdout 0.2)",
               "cifar10": f"{CIFAR_CONFIG} with data from --cifar {args.cifar}"}
    extra = (" + --set " + " ".join(args.overrides) if args.overrides else "") + (
        f" + epochs {args.epochs}" if args.epochs is not None else "")
    used = list(dict.fromkeys(r["dataset"] for r in rows))
    res = {
        "modes": B.check_modes(args.modes), "sigmas": B.check_sigmas(args.sigmas), "overrides": args.overrides,
        "epochs": args.epochs, "runs_root": str(Path(args.runs_root).resolve()),
        "config_sources": {d: sources[d] + extra for d in used},
        "columns": [{"key": k, "title": t} for k, t in B.COLUMNS],
        "groups": B.aggregate(rows), "runs": rows,
        "command": "python bench/boundary_study.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "wall_seconds": round(time.time() - t0, 1), "provenance": provenance(args.resolved_device),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", res)
    md = markdown(res)
    (out / "results.md").write_text(md)
    print(md, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""URL-SOM with the defaults of `urlsom train` alone, against MiniSom and k-means, several seeds, side by side.

A person who points `urlsom train` at their images gives no config file: the defaults rule
(``defaults.auto_defaults``) picks the settings from the images and the machine. This script builds each
URL-SOM run exactly as the command line does (``cli.resolve_args`` on ``--dataset``, ``--holdout`` or
``--eval-dataset``, ``--grid 30 30``, ``--max-minutes 20``, ``--seed S``: nothing else), trains it through the
run store (a run already there is reused; an interrupted one resumes), and scores on the same split and the
same 30x30 grid MiniSom on raw pixels (sigma 1, and sigma 3 -> 1) and k-means (K = MiniSom sigma 1's live
neurons), with the same seeds. Per method: the mean and the range over seeds of NS, held-out NS, live
neurons, topographic error and the edge figures (corners x, border x), then each dataset's target line::

    .venv/bin/python bench/defaults_bench.py                                   # digits, mnist, cifar10; seeds 0 1 2
    .venv/bin/python bench/defaults_bench.py --datasets digits --seeds 0 1 2   # the digits rows alone (minutes)

Writes ``defaults_<dataset>.json`` (every seed's rows, the configs and the defaults line, provenance) and
``defaults_<dataset>.md`` under ``--out`` (default bench/results/defaults). URL-SOM trains with ``--threads``
torch threads (default 2: the whole 2-core machine, as a user's run would); the 20-minute budget is the
run's own ``train.max_minutes``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXIT_BAD_INPUT = 2
SHARED = "../shared/data"

# Each dataset: the command-line flags that name its data and split, the side MiniSom and k-means see (the
# images' own), MiniSom's single-sample updates (as bench/baselines.py: set by CPU time), and the target:
# held-out NS of URL-SOM (mean of the seeds, no seed more than ``slack`` below), its largest TE and its
# smallest live share.
DATASETS: dict[str, dict[str, Any]] = {
    "digits": {
        "about": "scikit-learn digits (1,797 8x8 images), stratified 80/20 split (seed 0)",
        "flags": ["--dataset", "digits", "--holdout", "0.2"],
        "raw_size": 8, "som_iterations": 50_000,
        "target": {"heldout_ns": 0.942, "te": 0.27, "live_share": 0.5, "why": "MiniSom sigma 1's held-out NS"},
    },
    "mnist": {
        "about": "MNIST test set (10,000 28x28 images), stratified 80/20 split (seed 0)",
        "flags": ["--dataset", f"mnist:{SHARED}/mnist", "--holdout", "0.2"],
        "raw_size": 28, "som_iterations": 20_000,
        "target": {"heldout_ns": 0.920, "te": 0.10, "live_share": None, "why": "MiniSom sigma 1's held-out NS"},
    },
    "cifar10": {
        "about": "CIFAR-10 JPEG subset: 10,000 class-balanced training images, held-out NS on 2,000 test images",
        "flags": ["--dataset", f"imagefolder:{SHARED}/cifar10-jpg/train.zip", "--subset", "10000",
                  "--eval-dataset", f"imagefolder:{SHARED}/cifar10-jpg/test.zip", "--eval-subset", "2000"],
        "raw_size": 32, "som_iterations": 10_000,
        "target": {"heldout_ns": 0.40, "te": 0.10, "live_share": None, "why": "above MiniSom's 0.293"},
    },
}
SLACK = 0.02  # no seed more than this below its target
NO_READOUT = "URL-SOM, network's winners"  # the rows of the figures metrics.json keeps beside the readout's
NO_BIAS = "URL-SOM, no bias"
METRICS = (("neural_selectivity", "NS", ".3f"), ("heldout_neural_selectivity", "held-out NS", ".3f"),
           ("heldout_on_dead", "held-out on dead", ".3f"),
           ("active_neurons", "live", ".0f"), ("topographic_error", "TE", ".3f"),
           ("corner_over_representation", "corners x", ".2f"), ("border_over_representation", "border x", ".2f"),
           ("wall_seconds", "train / fit (s)", ".0f"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), help=f"any of {', '.join(DATASETS)} (default all)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default 0 1 2)")
    p.add_argument("--max-minutes", type=float, default=20.0, help="URL-SOM's --max-minutes (default 20)")
    p.add_argument("--grid", type=int, nargs=2, default=[30, 30], metavar=("H", "W"), help="map size (default 30 30)")
    p.add_argument("--threads", type=int, default=2, help="torch threads for URL-SOM (default 2)")
    p.add_argument("--device", default="cpu", help="URL-SOM's --device (default cpu)")
    p.add_argument("--runs", default="runs", help="the run store (default runs/)")
    p.add_argument("--out", default="bench/results/defaults", help="folder for defaults_<dataset>.json / .md")
    p.add_argument("--som-iterations", type=int, help="MiniSom iterations for every dataset (default: per dataset)")
    return p.parse_args(argv)


def urlsom_config(name: str, seed: int, args: argparse.Namespace) -> tuple[Any, str | None, list[str]]:
    """The config ``urlsom train`` builds from the flags alone, its defaults line and the flags."""
    from urlsom_book.cli import build_parser, resolve_args

    flags = [*DATASETS[name]["flags"], "--grid", str(args.grid[0]), str(args.grid[1]),
             "--max-minutes", f"{args.max_minutes:g}", "--seed", str(seed), "--device", args.device]
    cfg, reason = resolve_args(build_parser().parse_args(["train", "--out", "unused", *flags]))
    return cfg, reason, flags


def usage(winners: Any, grid: tuple[int, int], torus: bool) -> dict[str, float]:
    from urlsom_core.metrics import usage_metrics

    m = usage_metrics(winners, grid, torus)
    return {k: m[k] for k in ("corner_over_representation", "border_over_representation", "live_share")}


def seed_rows(name: str, seed: int, cfg: Any, raw: tuple[Any, ...], args: argparse.Namespace,
              log: Any) -> list[dict[str, Any]]:
    """URL-SOM, MiniSom sigma 1 and 3 -> 1 on raw pixels, and k-means, for one seed."""
    import numpy as np

    from urlsom_book import baselines as B
    from urlsom_core.evaluation import RUN_KEYS, readout_assignments
    from urlsom_core.runs import get_or_train

    grid = (args.grid[0], args.grid[1])
    run = B.find_run(cfg, args.runs)
    if run is None:
        log(f"[{name} seed {seed}] training {cfg.key()} (budget {args.max_minutes:g} min)")
        run = get_or_train(cfg, root=args.runs, device=args.device, progress=False, log=log)
    a = readout_assignments(run.assignments())  # the map as `urlsom train` reads it out
    u = B.urlsom_row(run)
    u.update(usage(a["winner"], grid, cfg.model.circular), seed=seed)
    rows = [u]
    X, y, Xe, ye, inputs = raw
    if not np.array_equal(a["label"], y):
        raise RuntimeError(f"run {cfg.key()}: its training labels differ from the raw-pixel split")
    its = args.som_iterations or DATASETS[name]["som_iterations"]
    for s in B.SOM_SETTINGS:
        s = s.replace(iterations=its, seed=seed)
        log(f"[{name} seed {seed}] {s.name} on {inputs}")
        t0 = time.time()
        W = B.fit_minisom(X, grid, s)
        t2 = B.som_top2(W, X)
        we = B.som_top2(W, Xe)[:, 0] if Xe is not None else None
        r = B.score(s.name, inputs, grid[0] * grid[1], t2[:, 0], y, we, ye, time.time() - t0, grid=grid, train_top2=t2)
        r.update(usage(t2[:, 0], grid, False), seed=seed)
        rows.append(r)
    k = max(2, int(rows[1]["active_neurons"]))
    km = B.kmeans_row(X, y, Xe, ye, k, inputs, f"live neurons of {rows[1]['method']}", seed, log)
    km.update(method="k-means", seed=seed)
    rows.append(km)
    read = run.metrics.get("readout") or {}
    # the paper's map, no bias, no readout: metrics.json's top level
    network = {k: v for k, v in run.metrics.items() if k not in RUN_KEYS and k != "readout"}
    if read.get("usage_balance"):  # the same map without its usage-balancing bias
        rows.insert(1, {"method": NO_BIAS, "inputs": u["inputs"], **network, "seed": seed})
    if read.get("prototype_readout"):  # the same map with the network's own winners, bias included (no prototypes)
        rows.insert(1, {"method": NO_READOUT, "inputs": u["inputs"], **read.get("bias_only", network), "seed": seed})
    return rows


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per method, in first-seen order: the mean, min and max over seeds of each metric."""
    import numpy as np

    out: list[dict[str, Any]] = []
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        s: dict[str, Any] = {"method": method, "inputs": mine[0]["inputs"], "seeds": [r["seed"] for r in mine]}
        for key, _, _ in METRICS:
            vals = [r[key] for r in mine if isinstance(r.get(key), (int, float))]
            s[key] = {"mean": float(np.mean(vals)), "min": float(min(vals)), "max": float(max(vals))} if vals else None
        out.append(s)
    return out


def verdict(name: str, summary: list[dict[str, Any]], n_neurons: int) -> str:
    """The target line of a dataset: URL-SOM's figures against its target, MET or NOT MET."""
    t = DATASETS[name]["target"]
    u = next(s for s in summary if s["method"] == "URL-SOM")
    h, te, live = u["heldout_neural_selectivity"], u["topographic_error"], u["active_neurons"]
    checks = [(h["mean"] >= t["heldout_ns"], f"held-out NS mean {h['mean']:.3f} >= {t['heldout_ns']:.3f} ({t['why']})"),
              (h["min"] >= t["heldout_ns"] - SLACK, f"worst seed {h['min']:.3f} >= {t['heldout_ns'] - SLACK:.3f}"),
              (te["max"] <= t["te"], f"TE at most {te['max']:.3f} <= {t['te']:.2f}")]
    if t["live_share"] is not None:
        checks.append((live["min"] >= t["live_share"] * n_neurons,
                       f"live at least {live['min']:.0f} >= {t['live_share'] * n_neurons:.0f} of {n_neurons}"))
    met = all(ok for ok, _ in checks)
    parts = [f"{text} {'yes' if ok else 'NO'}" for ok, text in checks]
    return f"{name}: {'MET' if met else 'NOT MET'}: " + "; ".join(parts)


def markdown(res: dict[str, Any]) -> str:
    def cell(v: dict[str, float] | None, fmt: str) -> str:
        if v is None:
            return "n/a"
        if v["min"] == v["max"]:
            return format(v["mean"], fmt)
        return f"{v['mean']:{fmt}} ({v['min']:{fmt}}-{v['max']:{fmt}})"

    g = res["grid"]
    methods = {s["method"] for s in res["summary"]}
    head = "| method | inputs | seeds | " + " | ".join(label for _, label, _ in METRICS) + " |"
    lines = [f"**{res['about']}**, {g[0]}x{g[1]} grid; each cell the mean over seeds (range in brackets).", "",
             head, "| " + " | ".join(["---"] * (3 + len(METRICS))) + " |"]
    for s in res["summary"]:
        lines.append(f"| {s['method']} | {s['inputs']} | {' '.join(map(str, s['seeds']))} | "
                     + " | ".join(cell(s[k], fmt) for k, _, fmt in METRICS) + " |")
    lines += ["", res["verdict"], "",
              f"URL-SOM: `urlsom train {' '.join(res['flags_seed0'])}` (seed varied), no config file; "
              f"{res['defaults_line']}. MiniSom: sigma 1 (asymptotic decay) and sigma 3 -> 1 (linear), "
              f"{res['som_iterations']:,} updates, the same seeds; k-means with K = MiniSom sigma 1's live neurons. "
              "URL-SOM's TE and edge figures use toroidal distance where its map is a torus; MiniSom's map is flat."
              + (f" '{NO_READOUT}': the same maps with the network's own winners, the argmax of the Softmax "
                 "(`model.prototype_readout` off; metrics.json's `readout.bias_only` where there is a bias)."
                 if NO_READOUT in methods
                 else "")
              + (f" '{NO_BIAS}': the same maps without their usage-balancing bias (`model.usage_balance`, "
                 "fitted after training; metrics.json's top level)"
                 + (", and with the network's own winners." if NO_READOUT in methods else ".") if NO_BIAS in methods
                 else ""),
              "", f"Made by `{res['command']}` in {res['wall_seconds']:.0f} s (git {res['provenance']['git_commit']}, "
              f"URL-SOM on {res['threads']} torch thread(s), {res['provenance']['host']})."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from urlsom_core.config import ConfigError
    from urlsom_core.data import check_spec

    def log(s: str) -> None:
        print(s, file=sys.stderr, flush=True)

    import torch

    try:  # every input checked before anything is trained or written
        bad = [d for d in args.datasets if d not in DATASETS]
        if bad:
            raise ConfigError(f"--datasets {' '.join(bad)}: allowed are {', '.join(DATASETS)}")
        if any(s < 0 for s in args.seeds):
            raise ConfigError(f"--seeds {' '.join(map(str, args.seeds))}: allowed are integers >= 0")
        if args.threads < 1:
            raise ConfigError(f"--threads {args.threads}: allowed is an integer >= 1")
        if not args.max_minutes > 0:
            raise ConfigError(f"--max-minutes {args.max_minutes:g}: allowed is > 0")
        if args.som_iterations is not None and args.som_iterations < 1:
            raise ConfigError(f"--som-iterations {args.som_iterations}: allowed is an integer >= 1")
        torch.set_num_threads(args.threads)  # before the defaults rule reads the thread count
        names = [d for d in DATASETS if d in args.datasets]
        configs = {}
        for name in names:
            flags = DATASETS[name]["flags"]
            for i, flag in enumerate(flags):  # the data exist before the defaults rule reads them
                if flag in ("--dataset", "--eval-dataset"):
                    check_spec(flags[i + 1])
            configs[name] = [urlsom_config(name, s, args) for s in args.seeds]
    except ConfigError as e:
        print(f"defaults_bench: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT

    from threadpoolctl import threadpool_limits

    from urlsom_book import baselines as B
    from urlsom_core.files import provenance, write_json

    out = Path(args.out)
    for name in names:
        t0 = time.time()
        cfg0, reason, flags = configs[name][0]
        grid = (args.grid[0], args.grid[1])
        tr, te = B.raw_splits(cfg0.data, DATASETS[name]["raw_size"])
        side = int(tr.images.shape[-1])
        raw = (B.raw_pixels(tr), tr.labels.numpy(), B.raw_pixels(te) if te is not None else None,
               te.labels.numpy() if te is not None else None, f"raw pixels ({tr.channels}x{side}x{side})")
        rows: list[dict[str, Any]] = []
        for (cfg, _, _), seed in zip(configs[name], args.seeds, strict=True):
            with threadpool_limits(args.threads):
                rows += seed_rows(name, seed, cfg, raw, args, log)
        summary = summarise(rows)
        res = {"dataset": name, "about": DATASETS[name]["about"], "grid": list(grid), "seeds": args.seeds,
               "flags_seed0": flags, "defaults_line": reason or "(no defaults rule)",
               "configs": [c.to_dict() for c, _, _ in configs[name]], "config_keys": [c.key() for c, _, _ in configs[name]],
               "som_iterations": args.som_iterations or DATASETS[name]["som_iterations"], "threads": args.threads,
               "rows": rows, "summary": summary, "verdict": verdict(name, summary, grid[0] * grid[1]),
               "command": "python bench/defaults_bench.py " + " ".join(sys.argv[1:] if argv is None else argv),
               "wall_seconds": round(time.time() - t0, 1), "provenance": provenance(args.device)}
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / f"defaults_{name}.json", res)
        md = markdown(res)
        (out / f"defaults_{name}.md").write_text(md)
        print(f"\n## {name}\n\n{md}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

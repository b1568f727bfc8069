"""Baselines on the same data and the same grid: URL-SOM, MiniSom (raw pixels, frozen URL-SOM embedding),
k-means with K = live neurons, and a random map. One table per dataset, printed and written as JSON (with
provenance) and Markdown (for the book) under ``--out``.

Its first job: URL-SOM's 30x30 held-out NS on digits beside MiniSom's, from one run
of this script. Then the MNIST test set (80/20 split) and a CIFAR-10 subset (10,000 train / 2,000 test).

    .venv/bin/python bench/baselines.py                          # digits, mnist, cifar10 -> bench/results/
    .venv/bin/python bench/baselines.py --datasets digits        # the digits comparison alone (minutes)
    .venv/bin/python bench/baselines.py --datasets digits --ns-vs-k   # instead: NS against K, 10x10 .. 40x40

The URL-SOM rows come from the run store (``urlsom_core.runs.get_or_train``): digits with
``bench/configs/digits_heldout.yaml`` (the digits defaults, changed for held-out NS on 1,437 training images:
the file says how and why), MNIST with the project's per-data defaults (``defaults.defaults_for``) plus
``data.holdout 0.2`` and the grid (MNIST also
with a 20-minute CPU budget, ``train.max_minutes``, unless its defaults set one: the defaults' 100 epochs of
8,000 32x32 images take hours on 2 cores); CIFAR-10 with ``bench/configs/cifar10_cpu.yaml`` (a 20-minute CPU
run). A run missing from the store is trained, unless
``--no-train``: then its rows are marked pending. ``--set section.field=VALUE`` changes the URL-SOM config
(smoke tests); the written files say so.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXIT_BAD_INPUT = 2

# The data of each table. raw_size: the pixels MiniSom and k-means see (the images' own resolution; URL-SOM's
# network input is 16 px for digits, 32 for MNIST and CIFAR-10). som_iterations: MiniSom's single-sample
# updates, set by CPU time (one update costs ~H*W*D: 64-d digits 35 passes, 784-d MNIST 2.5, 3072-d CIFAR 1).
DATASETS: dict[str, dict[str, Any]] = {
    "digits": {
        "about": "scikit-learn digits (1,797 8x8 images), stratified 80/20 split (seed 0)",
        "config_file": "bench/configs/digits_heldout.yaml",
        "data": {"dataset": "digits", "holdout": 0.2},
        "raw_size": 8, "som_iterations": 50_000,
    },
    "mnist": {
        "about": "MNIST test set (10,000 28x28 images, ../shared/data/mnist), stratified 80/20 split (seed 0)",
        "data": {"dataset": "mnist:../shared/data/mnist", "holdout": 0.2},
        "raw_size": 28, "som_iterations": 20_000, "cpu_minutes": 20.0,
    },
    "cifar10": {
        "about": "CIFAR-10 JPEG subset: 10,000 class-balanced training images, held-out NS on 2,000 test images",
        "config_file": "bench/configs/cifar10_cpu.yaml",
        # used only while the config file does not exist yet (baseline rows on the same data, URL-SOM pending)
        "data": {"dataset": "imagefolder:../shared/data/cifar10-jpg/train.zip", "subset": 10000,
                 "eval_dataset": "imagefolder:../shared/data/cifar10-jpg/test.zip", "eval_subset": 2000},
        "raw_size": 32, "som_iterations": 10_000,
    },
}


class BadInput(ValueError):
    pass


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), help=f"any of {', '.join(DATASETS)} (default all)")
    p.add_argument("--grid", type=int, nargs=2, default=[30, 30], metavar=("H", "W"), help="map size (default 30 30)")
    p.add_argument("--out", default="bench/results", help="folder for baselines_<dataset>.json / .md")
    p.add_argument("--runs", default="runs", help="the run store (default runs/)")
    p.add_argument("--device", default="auto", help="device of URL-SOM training / embedding (auto | cpu | cuda)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch and BLAS (default 1: shared machines)")
    p.add_argument("--no-train", action="store_true", help="do not train URL-SOM runs missing from the store")
    p.add_argument("--som-iterations", type=int, help="MiniSom iterations for every dataset (default: per dataset)")
    p.add_argument("--ns-vs-k", action="store_true", help="instead of the tables, NS against K: URL-SOM, MiniSom, "
                   "k-means, random map on the grids of --k-grids (writes ns_vs_k_<dataset>.json / .md / .png)")
    p.add_argument("--k-grids", type=int, nargs="+", default=[10, 20, 30, 40], metavar="S",
                   help="square grid sides for --ns-vs-k (default 10 20 30 40)")
    p.add_argument("--render-only", action="store_true", help="only rewrite baselines_<dataset>.md (and "
                   "ns_vs_k_<dataset>.md) from the JSON files already in --out (no computing)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="section.field=VALUE",
                   help="change the URL-SOM config (YAML value), e.g. train.epochs=2; for smoke tests")
    return p.parse_args(argv)


def base_config(name: str, grid: tuple[int, int], overrides: list[str]) -> tuple[Any, str]:
    """The URL-SOM config of a table and where it came from."""
    from urlsom_core.config import RunConfig, parse_overrides
    from urlsom_core.defaults import config_from_file, with_defaults

    spec = DATASETS[name]
    if "config_file" in spec and (ROOT / spec["config_file"]).is_file():
        cfg = config_from_file(str(ROOT / spec["config_file"]), where=spec["config_file"])
        source = spec["config_file"]
    else:
        dataset = spec["data"]["dataset"]
        merged = with_defaults(dataset, {"data": spec["data"]})
        source = f"defaults.defaults_for({dataset!r}) + {spec['data']}"
        if spec.get("cpu_minutes") and merged["train"].get("max_minutes") is None:
            merged["train"]["max_minutes"] = spec["cpu_minutes"]
            source += f" + train.max_minutes {spec['cpu_minutes']:g} (CPU scale)"
        if "config_file" in spec:
            source = f"PENDING: {spec['config_file']} does not exist; data from the script"
        cfg = RunConfig.from_dict(merged)
    dotted: dict[str, Any] = {}
    if tuple(cfg.model.grid) != tuple(grid):
        dotted["model.grid"] = tuple(grid)
        source += f" + grid {grid[0]}x{grid[1]}"
    dotted.update(parse_overrides(overrides))
    if overrides:
        source += " + --set " + " ".join(overrides)
    return cfg.replace(**dotted) if dotted else cfg, source


def one_table(name: str, cfg: Any, source: str, args: argparse.Namespace, log: Any) -> dict[str, Any]:
    from urlsom_book import baselines as B
    from urlsom_core.runs import get_or_train

    spec = DATASETS[name]
    t0 = time.time()
    grid = tuple(cfg.model.grid)
    pending = source.startswith("PENDING")
    run, status = None, ""
    if pending:
        status = source
    else:
        run = B.find_run(cfg, args.runs)
        if run is None and args.no_train:
            status = f"PENDING: no complete run of config {cfg.key()} in {args.runs}/ and --no-train was given"
        else:
            if run is None:
                run = get_or_train(cfg, root=args.runs, device=args.device, progress=False, log=log)
            status = f"run {cfg.key()} at {run.path} ({'cache hit' if run.cache_hit else 'trained now'})"
    log(f"[{name}] URL-SOM: {status}")
    its = args.som_iterations or spec["som_iterations"]
    settings = [s.replace(iterations=its) for s in B.SOM_SETTINGS]
    rows = B.baseline_table(run, cfg.data, grid, raw_size=spec["raw_size"], settings=settings,
                            device="cpu" if args.device == "auto" else args.device, log=log)
    return {
        "dataset": name, "about": spec["about"], "grid": list(grid), "urlsom_config": cfg.to_dict(),
        "urlsom_config_key": cfg.key(), "urlsom_config_source": source, "urlsom_status": status,
        "raw_size": spec["raw_size"], "som_settings": [s.describe() for s in settings], "rows": rows,
        "command": "python bench/baselines.py " + " ".join(sys.argv[1:]), "wall_seconds": round(time.time() - t0, 1),
        "run_metrics": {k: v for k, v in (run.metrics.items() if run else []) if k != "provenance"},
        "run_provenance": run.manifest.get("provenance") if run else None,
    }


def markdown(t: dict[str, Any]) -> str:
    from urlsom_book.baselines import markdown_table, reading

    g = t["grid"]
    lines = [
        f"**{t['about']}**, {g[0]}x{g[1]} grid. URL-SOM: {t['urlsom_status']}; config: {t['urlsom_config_source']}.",
        "",
        markdown_table(t["rows"]),
        "",
        reading(t["rows"]),
        "",
        f"MiniSom: {'; '.join(t['som_settings'])}. Raw pixels scaled to [0, 1] at {t['raw_size']}x{t['raw_size']}; "
        "the embedding is z-scored per feature. TE and contiguity (its shuffled value in brackets) need a grid: "
        "n/a for k-means and the random map. Wall time: fitting + assignment here; URL-SOM's is its training "
        "time from the run store; the embedding rows exclude the URL-SOM training that made the embedding.",
        "",
        f"Made by `{t['command']}` in {t['wall_seconds']:.0f} s (git {t['provenance']['git_commit']}, "
        f"{t['provenance']['torch_threads']} torch thread(s), {t['provenance']['host']}).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from urlsom_core.config import ConfigError
    from urlsom_core.data import check_spec
    from urlsom_core.files import provenance, write_json

    def log(s: str) -> None:
        print(s, file=sys.stderr, flush=True)

    try:  # every input checked before anything is computed or written
        bad = [d for d in args.datasets if d not in DATASETS]
        if bad:
            raise ConfigError(f"--datasets {' '.join(bad)}: allowed are {', '.join(DATASETS)}")
        if args.threads < 1:
            raise ConfigError(f"--threads {args.threads}: allowed is an integer >= 1")
        if any(k < 2 for k in args.k_grids):
            raise ConfigError(f"--k-grids {' '.join(map(str, args.k_grids))}: allowed are sides >= 2")
        if args.som_iterations is not None and args.som_iterations < 1:
            raise ConfigError(f"--som-iterations {args.som_iterations}: allowed is an integer >= 1")
        names = [d for d in DATASETS if d in args.datasets]  # digits first: the MiniSom comparison is the first job
        configs = {}
        for name in names:
            cfg, source = base_config(name, (args.grid[0], args.grid[1]), args.overrides)
            check_spec(cfg.data.dataset, cfg.data.data_root)
            if cfg.data.eval_dataset:
                check_spec(cfg.data.eval_dataset, cfg.data.data_root)
            configs[name] = (cfg, source)
        from urlsom_core.distributed import pick_device

        pick_device(args.device)
    except ConfigError as e:
        print(f"baselines: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT

    if args.render_only:
        return render_only(names, Path(args.out))
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    with threadpool_limits(args.threads):
        for name in names:
            cfg, source = configs[name]
            if args.ns_vs_k:
                out.mkdir(parents=True, exist_ok=True)
                ns_vs_k(name, cfg, args, out, log)
                continue
            t = one_table(name, cfg, source, args, log)
            t["provenance"] = provenance(args.device, cfg.train.seed)
            out.mkdir(parents=True, exist_ok=True)
            write_json(out / f"baselines_{name}.json", t)
            md = markdown(t)
            if name == "digits":
                md += "\n" + minisom_line(t) + "\n"
            (out / f"baselines_{name}.md").write_text(md)
            print(f"\n## {name}\n\n{md}", flush=True)
    return 0


def ns_vs_k(name: str, cfg: Any, args: argparse.Namespace, out: Path, log: Any) -> None:
    """NS against the number of neurons K for one dataset: a table, a JSON file and a figure."""
    from urlsom_book import baselines as B
    from urlsom_core.files import provenance, write_json

    spec = DATASETS[name]
    t0 = time.time()
    som = B.SOM_SETTINGS[0].replace(iterations=args.som_iterations or spec["som_iterations"])
    rows = B.ns_versus_k(cfg, grids=[(k, k) for k in args.k_grids], root=args.runs, raw_size=spec["raw_size"], som=som,
                         urlsom="stored" if args.no_train else "train", device=args.device, log=log)
    res = {"dataset": name, "about": spec["about"], "urlsom_config": cfg.to_dict(), "som_settings": som.describe(),
           "rows": rows, "command": "python bench/baselines.py " + " ".join(sys.argv[1:]),
           "wall_seconds": round(time.time() - t0, 1), "provenance": provenance(args.device, cfg.train.seed)}
    res["k_grids"] = list(args.k_grids)
    write_json(out / f"ns_vs_k_{name}.json", res)
    md = ns_vs_k_markdown(res)
    (out / f"ns_vs_k_{name}.md").write_text(md)
    fig = B.plot_ns_versus_k(rows)
    fig.savefig(out / f"ns_vs_k_{name}.png", dpi=120)
    print(f"\n## NS against K, {name}\n\n{md}", flush=True)


def ns_vs_k_markdown(res: dict[str, Any]) -> str:
    from urlsom_book.baselines import ns_k_reading
    from urlsom_book.studies import table

    rows = res["rows"]
    md = table(rows, [("K", "K"), ("method", "method"), ("neural_selectivity", "NS"),
                      ("heldout_neural_selectivity", "held-out NS"), ("active_neurons", "live neurons")])
    have = {r["K"] for r in rows if r["method"] == "URL-SOM"}
    missing = [f"{k}x{k}" for k in res.get("k_grids", []) if k * k not in have]
    note = f" (not in the store, left out: {', '.join(missing)})" if missing else ""
    return (f"**NS against the number of neurons K**, {res['about']}. URL-SOM: the table's config with each grid, "
            f"from the run store{note}; MiniSom: {res['som_settings']}; k-means and the random map with K = the "
            "grid's n (k-means at most one cluster per training sample).\n\n"
            f"{md}\n\n{ns_k_reading(rows)}\n\nMade by `{res['command']}` in {res['wall_seconds']:.0f} s.\n")


def render_only(names: list[str], out: Path) -> int:
    """Rewrite each table's Markdown from its JSON (the numbers of the run that wrote it)."""
    import json

    for name in names:
        f = out / f"baselines_{name}.json"
        if not f.is_file():
            print(f"baselines: error: {f} does not exist; allowed is a folder written by this script", file=sys.stderr)
            return EXIT_BAD_INPUT
        t = json.loads(f.read_text())
        md = markdown(t) + (("\n" + minisom_line(t) + "\n") if name == "digits" else "")
        (out / f"baselines_{name}.md").write_text(md)
        print(f"wrote {out / f'baselines_{name}.md'}")
        k = out / f"ns_vs_k_{name}.json"
        if k.is_file():
            res = json.loads(k.read_text())
            res.setdefault("k_grids", sorted({int(round(r["K"] ** 0.5)) for r in res["rows"]}))
            (out / f"ns_vs_k_{name}.md").write_text(ns_vs_k_markdown(res))
            print(f"wrote {out / f'ns_vs_k_{name}.md'}")
    return 0


def minisom_line(t: dict[str, Any]) -> str:
    """The headline line: URL-SOM's held-out NS beside MiniSom's (raw pixels), same split and grid."""
    rows = {(r["method"], r["inputs"].split(" (")[0]): r for r in t["rows"]}
    u = rows.get(("URL-SOM", "images"))
    m = rows.get(("MiniSom σ=1", "raw pixels"))
    g = "x".join(map(str, t["grid"]))
    if u is None or m is None:
        return f"URL-SOM vs MiniSom ({g} digits): URL-SOM row pending ({t['urlsom_status']})"
    a, b = u["heldout_neural_selectivity"], m["heldout_neural_selectivity"]
    verdict = "beats it" if a >= b else ("within 0.02" if b - a <= 0.02 else "MORE than 0.02 below")
    return (f"URL-SOM vs MiniSom ({g} digits, held-out NS, same stratified 80/20 split): URL-SOM {a:.3f} "
            f"({u['active_neurons']} live) | MiniSom σ=1 raw pixels {b:.3f} ({m['active_neurons']} live) | "
            f"difference {a - b:+.3f}: URL-SOM {verdict}")


if __name__ == "__main__":
    sys.exit(main())

"""Hexagonal against square lattice (``model.lattice``), the same trainings otherwise: NS, held-out NS, TE, live neurons.

Two measurements, every training through ``urlsom train``, one after another (run it with OMP_NUM_THREADS=1 on a
shared machine):

- ``digits``: the quick profile's Fig. 4 run (``urlsom_book/profiles/quick.yaml``, run ``cifar10``: scikit-learn's
  digits, a 30x30 torus, sigma 5, neighbour-normalised kernel x 0.008, 30 epochs, batch 256) with 20% of the
  digits held out (``data.holdout 0.2``, split seed 0) for the held-out NS, seeds ``--seeds`` (default 0 1 2),
  without the profile's usage bias: it is fitted after training and leaves the network as it is, and the figures
  here are the network's own. Each config is written as YAML beside the results and trained with
  ``urlsom train --config``.
- ``cifar10``: 10,000 CIFAR-10 training images, held-out NS on 2,000 test images, with the defaults rule of
  ``urlsom train`` (no ``--config``; its one-line reason is kept), one seed (``--cifar-seed``), the same
  ``--epochs`` for both lattices and ``--max-minutes`` as a cap (so a loaded machine cannot give one lattice
  fewer epochs unnoticed: the table shows each run's epochs and stop reason).

The figures are the network's own winners (the paper's map), NS, TE and live neurons on the training images.
TE counts an image whose two largest outputs are not neighbours; a square map's neighbours are the 8 cells around
a cell (``metrics.topographic_error``), a hexagonal map's the 6, so ``TE (d = 1)`` also counts, on both
lattices, the images whose two largest outputs are not adjacent cells at distance 1 (4 on the square lattice, 6
on the hexagonal one). Writes
``hex_vs_square.md`` and ``hex_vs_square.json`` (rows, commands, config keys, provenance) into ``--out``; the
runs go to ``--runs`` (a complete run is reused, so a second call only rebuilds the table)::

    OMP_NUM_THREADS=1 .venv/bin/python bench/lattice_study.py --out bench/results/lattice
    OMP_NUM_THREADS=1 .venv/bin/python bench/lattice_study.py --study digits --seeds 0 --out /tmp/l   # 2 runs

Bad input: one line ``lattice_study: error: ...``, exit 2, nothing written.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from urlsom_book.measure import mean_sd

ROOT = Path(__file__).resolve().parent.parent
LATTICES = ("square", "hex")
STUDIES = ("digits", "cifar10", "all")
CIFAR = "/work/shared/data/cifar10-jpg"
EXIT_BAD_INPUT = 2
COLUMNS = (("neural_selectivity", "NS", ".3f"), ("heldout_neural_selectivity", "held-out NS", ".3f"),
           ("topographic_error", "TE", ".3f"), ("te_distance_1", "TE (d = 1)", ".3f"), ("active_neurons", "live", "d"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder for hex_vs_square.md / .json and the digits configs")
    p.add_argument("--runs", default=str(ROOT / "runs" / "lattice_study"), help="folder of the runs (default runs/lattice_study)")
    p.add_argument("--study", default="all", help="digits | cifar10 | all (default all)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="digits seeds (default 0 1 2)")
    p.add_argument("--cifar-seed", type=int, default=0, help="the CIFAR-10 runs' seed (default 0)")
    p.add_argument("--epochs", type=int, default=10, help="CIFAR-10 epochs, the same for both lattices (default 10)")
    p.add_argument("--max-minutes", type=float, default=8.0, help="CIFAR-10 time cap per run (default 8)")
    p.add_argument("--cifar-train", default=f"imagefolder:{CIFAR}/train.zip", help="CIFAR-10 training spec")
    p.add_argument("--cifar-test", default=f"imagefolder:{CIFAR}/test.zip", help="CIFAR-10 held-out spec")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="section.field=VALUE",
                   help="change every digits config (YAML value), e.g. train.epochs=1 for a smoke test")
    p.add_argument("--device", default="cpu", help="device of every run (default cpu)")
    return p.parse_args(argv)


def check(args: argparse.Namespace) -> None:
    """A one-line ConfigError for a bad argument, before anything is written."""
    from urlsom_core.config import ConfigError
    from urlsom_core.runs import check_spec

    if args.study not in STUDIES:
        raise ConfigError(f"--study {args.study!r}: allowed is one of {', '.join(STUDIES)}")
    for s in [*args.seeds, args.cifar_seed]:
        if s < 0:
            raise ConfigError(f"seed {s}: allowed is an integer >= 0")
    if args.epochs < 1:
        raise ConfigError(f"--epochs {args.epochs}: allowed is an integer >= 1")
    if not (math.isfinite(args.max_minutes) and args.max_minutes > 0):
        raise ConfigError(f"--max-minutes {args.max_minutes}: allowed is > 0")
    if args.study in ("cifar10", "all"):
        check_spec(args.cifar_train, "data")
        check_spec(args.cifar_test, "data")


def digits_configs(args: argparse.Namespace) -> list[tuple[str, int, Any]]:
    """(lattice, seed, RunConfig) of the digits runs: the quick profile's Fig. 4 run, 20% held out."""
    from urlsom_book.profiles import load_profile
    from urlsom_core.config import parse_overrides

    extra = parse_overrides(args.overrides)
    spec = load_profile("quick").runs["cifar10"]
    given = {"data.holdout": 0.2, "model.usage_balance": False}
    return [(lat, s, spec.config(**{**given, "train.seed": s, **extra, "model.lattice": lat}))
            for s in args.seeds for lat in LATTICES]


def cifar_flags(args: argparse.Namespace, lattice: str) -> list[str]:
    """The ``urlsom train`` flags of a CIFAR-10 run (the defaults rule picks the rest)."""
    return ["--dataset", args.cifar_train, "--subset", "10000", "--eval-dataset", args.cifar_test,
            "--eval-subset", "2000", "--seed", str(args.cifar_seed), "--epochs", str(args.epochs),
            "--max-minutes", f"{args.max_minutes:g}", "--lattice", lattice]


def train(flags: list[str], out: Path, device: str) -> tuple[dict[str, Any] | None, float, int, str, str | None]:
    """``urlsom train FLAGS --out OUT``: (metrics, seconds, exit code, the defaults rule's line or '', the run's
    config key or None)."""
    from urlsom_core.config import RunConfig
    from urlsom_core.files import read_json

    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "urlsom_book.cli", "train", *flags, "--out", str(out), "--device", device, "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.time()
    log = out.with_suffix(".log")
    with open(log, "w") as fh:
        rc = subprocess.call(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    rule = next((line.strip() for line in log.read_text().splitlines() if line.startswith("defaults: rule")), "")
    metrics, conf = out / "metrics.json", out / "config.json"
    key = RunConfig.from_stored(read_json(conf)["config"]).key() if conf.is_file() else None
    return (read_json(metrics) if rc == 0 and metrics.is_file() else None), time.time() - t0, rc, rule, key


def te_distance_1(run_dir: Path) -> float | None:
    """Share of a stored run's training images whose two largest outputs are not adjacent cells (the 4 sides of
    a square cell, the 6 of a hexagonal one; wrapping on a torus). None for a run stored without the
    network's own ``top2`` (an older layout, where it was the readout's)."""
    from urlsom_core.lattice import are_neighbours
    from urlsom_core.runs import Run

    run = Run.load(run_dir)
    a, m = run.assignments(), run.config.model
    if "top2" not in a:  # a run stored before the network's own top two were kept
        return None
    t = a["top2"]
    return float((~are_neighbours(t[:, 0], t[:, 1], m.grid, m.lattice, m.circular)).mean())


def figures(metrics: dict[str, Any] | None, run_dir: Path | None = None) -> dict[str, Any]:
    """The network's own figures of a run (metrics.json's top level, converted from an older layout by
    ``evaluation.unnest_metrics``) with its epochs and stop reason, and the TE at distance 1
    (:func:`te_distance_1`) when ``run_dir`` is given."""
    from urlsom_core.evaluation import unnest_metrics

    if not metrics:
        return {}
    net = unnest_metrics(metrics)
    out = {k: net.get(k, metrics.get(k)) for k, _, _ in COLUMNS}
    out["te_distance_1"] = te_distance_1(run_dir) if run_dir is not None else None
    out.update(epochs=metrics.get("epochs_trained"), stop=metrics.get("stop_reason"),
               minutes=round(metrics.get("train_seconds", 0.0) / 60, 2), n_neurons=metrics.get("n_neurons"))
    for k in ("contiguity", "trustworthiness"):  # of the winners read out (with the usage bias on digits)
        out[k] = metrics.get(k)
    return out


def _show(path: Path) -> str:
    """``path`` relative to the repository when inside it (as the commands are run from there)."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def table(rows: list[dict[str, Any]]) -> list[str]:
    """One Markdown table of one study: a row per run, the mean (sd over seeds) per lattice, and the paired
    difference hex - square over the seeds both lattices finished."""
    def f(v: Any, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    head = "| lattice | seed | epochs (stop) | " + " | ".join(name for _, name, _ in COLUMNS) + " | minutes |"
    lines = [head, "|" + " --- |" * (len(COLUMNS) + 4)]
    for r in rows:
        g = r["figures"]
        lines.append(f"| {r['lattice']} | {r['seed']} | {g.get('epochs', '-')} ({g.get('stop', '-')}) | "
                     + " | ".join(f(g.get(k), fmt) for k, _, fmt in COLUMNS) + f" | {f(g.get('minutes'), '.1f')} |"
                     + ("" if r["rc"] == 0 else f" exit {r['rc']}"))
    done = {lat: {r["seed"]: r["figures"] for r in rows if r["lattice"] == lat and r["figures"]} for lat in LATTICES}
    for lat in LATTICES:
        cells = []
        for k, _, fmt in COLUMNS:
            v = [g[k] for g in done[lat].values() if g.get(k) is not None]
            m, sd = mean_sd(v) if v else (None, float("nan"))
            f1 = ".1f" if fmt == "d" else fmt
            cells.append("-" if m is None else format(m, f1) + ("" if math.isnan(sd) else f" ({sd:{f1}})"))
        lines.append(f"| **{lat}, mean (sd)** | {len(done[lat])} run(s) | | " + " | ".join(cells) + " | |")
    both = sorted(set(done["square"]) & set(done["hex"]))
    if both:
        cells = []
        for k, _, fmt in COLUMNS:
            d = [done["hex"][s][k] - done["square"][s][k] for s in both
                 if done["hex"][s].get(k) is not None and done["square"][s].get(k) is not None]
            fd = "+.1f" if fmt == "d" else "+.3f"
            cells.append(f"{sum(d) / len(d):{fd}} [{min(d):{fd}}, {max(d):{fd}}]" if d else "-")
        lines.append(f"| **hex - square, mean [min, max]** | {len(both)} seed(s) | | " + " | ".join(cells) + " | |")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import yaml

    from urlsom_core.config import ConfigError
    from urlsom_core.files import provenance, write_json

    try:
        check(args)
        digits = digits_configs(args) if args.study in ("digits", "all") else []
    except ConfigError as e:
        print(f"lattice_study: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    out, runs = Path(args.out).resolve(), Path(args.runs).resolve()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    studies: dict[str, list[dict[str, Any]]] = {}
    jobs: list[tuple[str, str, int, list[str], Any]] = []
    for lat, seed, cfg in digits:
        cfg_file = out / f"digits_{lat}_seed{seed}.yaml"
        cfg_file.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=True))
        jobs.append(("digits", lat, seed, ["--config", _show(cfg_file)], cfg.key()))
    if args.study in ("cifar10", "all"):
        jobs += [("cifar10", lat, args.cifar_seed, cifar_flags(args, lat), None) for lat in LATTICES]
    for study, lat, seed, flags, key in jobs:
        run_dir = runs / f"{study}_{lat}_seed{seed}"
        print(f"[{time.strftime('%H:%M:%S')}] {study} {lat} seed {seed}: training", flush=True)
        m, secs, rc, rule, run_key = train(flags, run_dir, args.device)
        g = figures(m, run_dir if m else None)
        command = "urlsom train " + " ".join(flags) + f" --out {_show(run_dir)} --device {args.device} --quiet"
        studies.setdefault(study, []).append({
            "lattice": lat, "seed": seed, "rc": rc, "seconds": round(secs, 1), "figures": g, "command": command,
            "config_key": run_key or key, "defaults_rule": rule, "run": _show(run_dir)})
        print(f"  exit {rc}, {secs / 60:.1f} min: " + ", ".join(f"{k} {g.get(k)}" for k, _, _ in COLUMNS), flush=True)
    text = ["# Hexagonal against square lattice", "",
            "The network's own winners (the paper's map), on the training images (NS, TE, live neurons) and the "
            "held-out images (held-out NS); everything else the same per pair. TE: the two largest outputs are not "
            "neighbours (8 around a square cell, 6 around a hexagonal one); TE (d = 1): not adjacent cells at "
            "distance 1 (4 on the square lattice, 6 on the hexagonal one). Minutes: training time on a shared "
            "machine, one thread each, one run after another; not a speed comparison (both lattices run the fixed "
            "convolution as the same (n, n) matrix product). `bench/lattice_study.py`."]
    what = {"digits": "scikit-learn digits: the quick profile's Fig. 4 run (30x30 torus, sigma 5, 30 epochs, batch 256; "
                      "no usage bias), 1,437 training and 360 held-out digits (holdout 0.2), one config file per run "
                      "beside this one",
            "cifar10": f"CIFAR-10: 10,000 training images, 2,000 held-out test images, the defaults rule of `urlsom train`, "
                       f"{args.epochs} epochs for both lattices (cap {args.max_minutes:g} min)"}
    if args.overrides:
        what["digits"] += f"; changed: {', '.join(args.overrides)}"
    for study, rows in studies.items():
        text += ["", f"## {what[study]}", "", *table(rows), "", "Commands (from the repository's root):", ""]
        text += [f"    {r['command']}" for r in rows]
        rules = sorted({r["defaults_rule"] for r in rows if r["defaults_rule"]})
        text += ["", *[f"What the defaults rule picked: `{r}`" for r in rules]] if rules else []
    text += ["", f"Made by `python bench/lattice_study.py {' '.join(sys.argv[1:] if argv is None else argv)}` in "
             f"{(time.time() - t0) / 60:.0f} min, one run after another."]
    (out / "hex_vs_square.md").write_text("\n".join(text) + "\n")
    write_json(out / "hex_vs_square.json", {"studies": studies, "overrides": args.overrides,
                                            "provenance": provenance(args.device, None)})
    print("\n".join(text))
    return 0 if all(r["rc"] == 0 for rows in studies.values() for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Colour-jitter readings (and the Gaussian's extent) side by side, on the CIFAR-10 subset at CPU scale.

The paper's "[brightness, contrast, saturation, hue] = [0.4, 0.4, 0.4, 0.4]" (Sec. V.A) has two readings,
``data.jitter``: ``torchvision`` (ColorJitter's ranges) and ``simsiam`` (the Keras SimSiam example's
``color_jitter``); its "6-sigma" kernel (Sec. III.B) two more, ``model.gaussian_extent``: ``side`` and
``radius``. This script trains every reading x seed from one config (default ``bench/configs/cifar10_cpu.yaml``:
10,000 training images, held-out NS on 2,000 test images, 20 minutes per run) through ``urlsom train``, one
run after another, and prints the side-by-side table (also ``--out``/study.md and study.json, with provenance)::

    OMP_NUM_THREADS=2 .venv/bin/python bench/jitter_study.py --out bench/results/jitter_study        # 4 runs, 80 min
    .venv/bin/python bench/jitter_study.py --study extent --seeds 0 --out bench/results/extent_study  # 2 runs, 40 min

``--set section.field=VALUE`` changes the config of every run (e.g. ``train.max_minutes=0.2`` for a smoke
test). A run whose folder already holds its metrics is reused (``urlsom train`` on the same folder).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STUDIES = {"jitter": ("data.jitter", ["torchvision", "simsiam"]),
           "extent": ("model.gaussian_extent", ["side", "radius"])}
EXIT_BAD_INPUT = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(ROOT / "bench/configs/cifar10_cpu.yaml"),
                   help="YAML file with data/model/train sections (default bench/configs/cifar10_cpu.yaml)")
    p.add_argument("--study", choices=sorted(STUDIES), default="jitter", help="what to vary (default jitter)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="training seeds (default 0 1)")
    p.add_argument("--readings", nargs="+", default=None, metavar="READING",
                   help="train only these readings of the study (default all); e.g. to share the runs out over "
                        "processes, then rerun without it to print the whole table from the finished runs")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="section.field=VALUE",
                   help="change every run's config (YAML value), e.g. train.max_minutes=0.2")
    p.add_argument("--device", default="cpu", help="device of every run (default cpu)")
    p.add_argument("--out", required=True, help="folder for the runs, study.md and study.json")
    return p.parse_args(argv)


def configs(args: argparse.Namespace) -> list[tuple[str, int, Any]]:
    """(reading, seed, RunConfig) of every run; a bad config or override is a ConfigError."""
    from urlsom_core.config import ConfigError, parse_overrides
    from urlsom_core.defaults import config_from_file

    base = config_from_file(args.config)
    field, readings = STUDIES[args.study]
    bad = [r for r in (args.readings or []) if r not in readings]
    if bad:
        raise ConfigError(f"--readings {bad[0]!r}: allowed for --study {args.study} are {', '.join(readings)}")
    readings = [r for r in readings if args.readings is None or r in args.readings]
    extra = parse_overrides(args.overrides)
    return [(r, s, base.replace(**{**extra, field: r, "train.seed": s})) for r in readings for s in args.seeds]


def train(cfg: Any, out: Path, device: str) -> tuple[dict[str, Any] | None, float, int]:
    """Train one run through ``urlsom train --config`` (a file of the full config); metrics, seconds, exit code."""
    import yaml

    from urlsom_core.files import read_json

    out.mkdir(parents=True, exist_ok=True)
    cfg_file = out.with_suffix(".yaml")
    cfg_file.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=True))
    cmd = [sys.executable, "-m", "urlsom_book.cli", "train", "--config", str(cfg_file), "--out", str(out),
           "--device", device, "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.time()
    with open(out.with_suffix(".log"), "w") as log:
        rc = subprocess.call(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    metrics = out / "metrics.json"
    return (read_json(metrics) if rc == 0 and metrics.is_file() else None), time.time() - t0, rc


def table(rows: list[dict[str, Any]], field: str) -> str:
    """The side-by-side Markdown table: one row per run, then the mean of each reading."""
    def f(v: Any, fmt: str = ".3f") -> str:
        return "-" if v is None else format(v, fmt)

    lines = [f"| {field} | seed | epochs | NS (train) | held-out NS | live | TE | training minutes |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        m = r["metrics"] or {}
        lines.append(f"| {r['reading']} | {r['seed']} | {m.get('epochs_trained', '-')} | {f(m.get('neural_selectivity'))} "
                     f"| {f(m.get('heldout_neural_selectivity'))} | {m.get('active_neurons', '-')} "
                     f"| {f(m.get('topographic_error'))} | {f(m.get('train_seconds', r['seconds']) / 60, '.1f')} |"
                     + ("" if r["rc"] == 0 else f" exit {r['rc']}"))
    for reading in dict.fromkeys(r["reading"] for r in rows):
        held = [r["metrics"].get("heldout_neural_selectivity") for r in rows if r["reading"] == reading and r["metrics"]]
        held = [h for h in held if h is not None]
        ns = [r["metrics"]["neural_selectivity"] for r in rows if r["reading"] == reading and r["metrics"]]
        lines.append(f"| **{reading}, mean** | {len(ns)} run(s) | | {f(sum(ns) / len(ns) if ns else None)} "
                     f"| {f(sum(held) / len(held) if held else None)} | | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from urlsom_core.config import ConfigError
    from urlsom_core.files import provenance, write_json

    try:
        jobs = configs(args)
    except ConfigError as e:
        print(f"jitter_study: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    field = STUDIES[args.study][0]
    out = Path(args.out)
    rows = []
    for reading, seed, cfg in jobs:
        print(f"[{time.strftime('%H:%M:%S')}] {field}={reading} seed {seed}: training", flush=True)
        m, secs, rc = train(cfg, out / f"{reading}_seed{seed}", args.device)
        rows.append({"reading": reading, "seed": seed, "config_key": cfg.key(), "metrics": m, "seconds": secs, "rc": rc})
        print(f"  exit {rc}, {secs / 60:.1f} min, held-out NS "
              f"{(m or {}).get('heldout_neural_selectivity', '-')}", flush=True)
    md = table(rows, field)
    print(md)
    (out / "study.md").write_text(f"{field} on {args.config} ({', '.join(args.overrides) or 'as is'})\n\n{md}\n")
    write_json(out / "study.json", {"study": args.study, "field": field, "config": args.config,
                                    "overrides": args.overrides, "runs": rows,
                                    "provenance": provenance(args.device, None)})
    return 0 if all(r["rc"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

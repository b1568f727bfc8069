"""Do the fast training modes keep the map? The same trainings in float32 eager and in faster modes, side by side.

Each run is ``urlsom train`` with the defaults rule of its data (no ``--config``), the same ``--epochs`` for every
mode (so the comparison is of the numbers, not of how many epochs a budget allows) and ``--max-minutes`` only as
a cap; the mode is a set of flags (:data:`MODES`):

- ``float32``: ``--no-amp-cpu --no-channels-last``, the default (NCHW) layout, eager: the reference;
- ``bf16``: ``--amp-cpu --no-channels-last`` (bf16 autocast of the backbone in the training steps; the SOM head
  stays float32);
- ``bf16-nhwc``: ``--amp-cpu --channels-last``;
- ``float32-nhwc``: ``--no-amp-cpu --channels-last``;
- ``bf16-nhwc-compiled``: ``--amp-cpu --channels-last --compile`` (``torch.compile``; its warm-up is in the
  first epoch's time, which the median leaves out);
- ``defaults``: no flag, what ``urlsom train`` picks on this machine (``train.amp_cpu`` and
  ``train.channels_last`` ``auto``: on a CPU with native bf16 the same as ``bf16-nhwc``).

Two data sets (``--study``): ``digits`` (scikit-learn's 1,797, 20% held out, the defaults rule's CPU network)
and ``cifar10`` (10,000 CIFAR-10 training images, held-out NS on 2,000 test images, ``defaults.CPU_SETTING``'s network).
Per run: epochs, median seconds per epoch, NS, held-out NS, TE, live neurons (the network's own winners); per
mode the mean (sd) over seeds and the mean paired difference to ``float32``. Writes ``speed_modes_STUDY.md`` and
``speed_modes_STUDY.json`` into ``--out``; runs go to ``--runs`` (a finished run is reused)::

    .venv/bin/python bench/speed_modes.py --out bench/results/speed --study digits --epochs 30
    .venv/bin/python bench/speed_modes.py --out bench/results/speed --study cifar10 --epochs 8

The epoch times are only comparable between runs made one after another on the same otherwise idle machine:
say so when quoting them. Bad input: one line ``speed_modes: error: ...``, exit 2, nothing written.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from urlsom_book.measure import mean_sd

ROOT = Path(__file__).resolve().parent.parent
CIFAR = "/work/shared/data/cifar10-jpg"
EXIT_BAD_INPUT = 2
MODES: dict[str, list[str]] = {
    "float32": ["--no-amp-cpu", "--no-channels-last"],
    "bf16": ["--amp-cpu", "--no-channels-last"],
    "bf16-nhwc": ["--amp-cpu", "--channels-last"],
    "float32-nhwc": ["--no-amp-cpu", "--channels-last"],
    "bf16-nhwc-compiled": ["--amp-cpu", "--channels-last", "--compile"],
    "defaults": [],
}
STUDIES = ("digits", "cifar10")
COLUMNS = (("neural_selectivity", "NS", ".3f"), ("heldout_neural_selectivity", "held-out NS", ".3f"),
           ("topographic_error", "TE", ".3f"), ("active_neurons", "live", "d"), ("epoch_seconds", "s / epoch", ".2f"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="speed_modes", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="folder for speed_modes_STUDY.md / .json")
    p.add_argument("--runs", default=str(ROOT / "runs" / "speed_modes"), help="folder of the runs")
    p.add_argument("--study", default="digits", choices=STUDIES, help="digits | cifar10 (default digits)")
    p.add_argument("--modes", nargs="+", default=["float32", "defaults"], help=f"any of {', '.join(MODES)}")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (default 0 1 2)")
    p.add_argument("--epochs", type=int, default=30, help="epochs of every run (default 30)")
    p.add_argument("--max-minutes", type=float, default=30.0, help="a cap per run (default 30)")
    p.add_argument("--cifar", default=CIFAR, help="folder of CIFAR-10's train.zip and test.zip")
    p.add_argument("--device", default="cpu", help="the device of every run (default cpu)")
    return p.parse_args(argv)


def check(args: argparse.Namespace) -> None:
    bad = [m for m in args.modes if m not in MODES]
    if bad:
        raise ValueError(f"--modes {bad[0]!r}: allowed are {', '.join(MODES)}")
    if args.epochs < 1 or args.max_minutes <= 0 or any(s < 0 for s in args.seeds):
        raise ValueError(f"--epochs {args.epochs} / --max-minutes {args.max_minutes} / --seeds {args.seeds}: "
                         "allowed are epochs >= 1, minutes > 0, seeds >= 0")
    if args.study == "cifar10" and not all((Path(args.cifar) / f).is_file() for f in ("train.zip", "test.zip")):
        raise ValueError(f"--cifar {args.cifar}: needs train.zip and test.zip (CIFAR-10 as JPEG in class folders)")
    if not Path(args.out).parent.is_dir():
        raise ValueError(f"--out {args.out}: folder {Path(args.out).parent} does not exist")


def data_flags(args: argparse.Namespace) -> list[str]:
    if args.study == "digits":
        return ["--dataset", "digits", "--holdout", "0.2"]
    return ["--dataset", f"imagefolder:{args.cifar}/train.zip", "--subset", "10000",
            "--eval-dataset", f"imagefolder:{args.cifar}/test.zip", "--eval-subset", "2000"]


def train(flags: list[str], out: Path, device: str) -> dict[str, Any]:
    """``urlsom train FLAGS --out OUT`` (reused when OUT holds a finished run): the network's own figures, the
    median epoch seconds, the rule's line and the resolved training mode."""
    from urlsom_core.evaluation import unnest_metrics
    from urlsom_core.files import read_json, read_jsonl

    if not (out / "metrics.json").is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "urlsom_book.cli", "train", *flags, "--out", str(out), "--device", device,
               "--quiet"]
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        with open(out.with_suffix(".log"), "w") as fh:
            rc = subprocess.call(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
        if rc != 0:
            return {"rc": rc}
    net = unnest_metrics(read_json(out / "metrics.json"))
    hist = read_jsonl(out / "history.jsonl")
    conf = read_json(out / "config.json")
    t, ran = conf["config"]["train"], conf.get("resolved", {}).get("training_mode")
    log = out.with_suffix(".log")
    rule = next((ln.strip() for ln in log.read_text().splitlines() if ln.startswith("defaults: rule")), "") \
        if log.is_file() else ""
    full = [r["seconds"] for r in hist if not r.get("partial")]
    return {"rc": 0, **{k: net.get(k) for k, _, _ in COLUMNS if k != "epoch_seconds"},
            "epoch_seconds": statistics.median(full) if full else None, "epochs": len(hist),
            "stop": net.get("stop_reason"), "rule": rule,
            **({"amp_cpu": ran["bf16"], "channels_last": ran["channels_last"], "compile": ran["compiled"]} if ran else
               {"amp_cpu": t.get("amp_cpu"), "channels_last": t.get("channels_last", False), "compile": t.get("compile")})}


def table(rows: list[dict[str, Any]], modes: list[str]) -> list[str]:
    def f(v: Any, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    lines = ["| mode | seed | epochs (stop) | bf16 | NHWC | " + " | ".join(n for _, n, _ in COLUMNS) + " |",
             "|" + " --- |" * (len(COLUMNS) + 5)]
    for r in rows:
        g = r["figures"]
        lines.append(f"| {r['mode']} | {r['seed']} | {g.get('epochs', '-')} ({g.get('stop', '-')}) | "
                     f"{'yes' if g.get('amp_cpu') else 'no'} | {'yes' if g.get('channels_last') else 'no'} | "
                     + " | ".join(f(g.get(k), fmt) for k, _, fmt in COLUMNS) + " |"
                     + ("" if g.get("rc") == 0 else f" exit {g.get('rc')}"))
    done = {m: {r["seed"]: r["figures"] for r in rows if r["mode"] == m and r["figures"].get("rc") == 0} for m in modes}
    for m in modes:
        cells = []
        for k, _, fmt in COLUMNS:
            v = [g[k] for g in done[m].values() if g.get(k) is not None]
            mean, sd = mean_sd(v) if v else (None, float("nan"))
            f1 = ".1f" if fmt == "d" else fmt
            cells.append("-" if mean is None else format(mean, f1) + ("" if math.isnan(sd) else f" ({sd:{f1}})"))
        lines.append(f"| **{m}, mean (sd)** | {len(done[m])} run(s) | | | | " + " | ".join(cells) + " |")
    ref = done.get("float32", {})
    for m in modes:
        if m == "float32" or not ref:
            continue
        both = sorted(set(ref) & set(done[m]))
        cells = []
        for k, _, fmt in COLUMNS:
            d = [done[m][s][k] - ref[s][k] for s in both if done[m][s].get(k) is not None and ref[s].get(k) is not None]
            if k == "epoch_seconds":
                r_ = [ref[s][k] / done[m][s][k] for s in both if done[m][s].get(k) and ref[s].get(k)]
                cells.append(f"x{sum(r_) / len(r_):.2f} faster" if r_ else "-")
                continue
            fd = "+.1f" if fmt == "d" else "+.3f"
            cells.append(f"{sum(d) / len(d):{fd}} [{min(d):{fd}}, {max(d):{fd}}]" if d else "-")
        lines.append(f"| **{m} - float32, mean [min, max]** | {len(both)} seed(s) | | | | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    from urlsom_core.files import provenance, write_json

    args = parse_args(argv)
    try:
        check(args)
    except ValueError as e:
        print(f"speed_modes: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    t0, rows = time.time(), []
    for seed in args.seeds:
        for mode in args.modes:
            flags = [*data_flags(args), "--seed", str(seed), "--epochs", str(args.epochs), "--patience", "1000",
                     "--max-minutes", f"{args.max_minutes:g}", *MODES[mode]]
            out = Path(args.runs) / args.study / f"{mode}_s{seed}_e{args.epochs}"
            print(f"{args.study} {mode} seed {seed}: urlsom train {' '.join(flags)}", flush=True)
            g = train(flags, out, args.device)
            print(f"  -> {g}", flush=True)
            rows.append({"mode": mode, "seed": seed, "flags": flags, "run": str(out), "figures": g})
    lines = table(rows, args.modes)
    out_dir = Path(args.out)
    out_dir.mkdir(exist_ok=True)
    head = [f"# Training modes on {args.study}: float32 eager against the faster modes", "",
            f"Command: `python bench/speed_modes.py {' '.join(argv if argv is not None else sys.argv[1:])}`; "
            f"every run `urlsom train` with its data's defaults rule, {args.epochs} epochs, seeds "
            f"{', '.join(map(str, args.seeds))}, one after another on {os.cpu_count()} CPUs (load at the end "
            f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}). Figures: the network's own winners.", ""]
    (out_dir / f"speed_modes_{args.study}.md").write_text("\n".join(head + lines) + "\n")
    write_json(out_dir / f"speed_modes_{args.study}.json", {"args": vars(args), "rows": rows, "wall_seconds": time.time() - t0,
                                              "provenance": provenance(args.device, args.seeds[0])})
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The usage-balancing bias on stored maps: per run, the figures of the network's own winners (the paper's map)
and of the same map read out with the bias, side by side (NS, live neurons, corners x, border x, TE, evenness).

    .venv/bin/python bench/quick_bias.py RUN [RUN ...] [--out FILE]
    OMP_NUM_THREADS=1 .venv/bin/python bench/quick_bias.py runs/* --out bench/results/quick_bias/quick_book.md

Each RUN is a complete run directory (``urlsom train --out RUN`` or the store of ``make book``). The bias is
fitted as a run's own fit does (``readouts.balance_usage``: ``readouts.usage_bias`` on the un-augmented training
images, defaults 100:0.3) whatever the run's own ``model.usage_balance``: a run trained without it gets it here,
a run trained with it is fitted again from a zero bias (a prototype readout the run has is left aside). Nothing is trained; a 30x30 digits run takes a few
seconds. The fit follows every winner through its iterations, so another torch thread count than the run's
own fit can move a map's figures by a few images (``bench/balance_settings.py --jitter`` measures how far).
The last lines give the range over the runs of the figures the edge-bias targets name: live share, corners x
and border x. The table goes to stdout and, with ``--out FILE``, to a Markdown file with the command and
provenance.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXIT_BAD_INPUT = 2
FIGURES = (("neural_selectivity", "NS", ".3f"), ("active_neurons", "live", "d"),
           ("corner_over_representation", "corners x", ".2f"), ("border_over_representation", "border x", ".2f"),
           ("topographic_error", "TE", ".3f"), ("usage_evenness", "evenness", ".3f"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="complete run directories")
    p.add_argument("--out", help="also write the table to this Markdown file")
    return p.parse_args(argv)


def run_figures(path: str) -> tuple[dict[str, object], dict[str, object]]:
    """(the network's own figures, the figures with the bias) of the stored run at ``path``."""
    import torch

    from urlsom_core.evaluation import evaluate, readout_figures
    from urlsom_core.readouts import Readout, balance_usage
    from urlsom_core.runs import Run

    run = Run.load(path)
    cfg, model, aug = run.config, run.load_model(), run.augment()
    sp, dev = run.splits(), torch.device("cpu")
    bias = balance_usage(cfg, model, sp.train, aug, dev, log=lambda _: None)
    readout = Readout(tuple(cfg.model.grid), cfg.model.circular, bias=bias, lattice=cfg.model.lattice)
    metrics, _ = evaluate(cfg, model, aug, dev, sp.train, sp.heldout, readout)
    return metrics, readout_figures(metrics)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from urlsom_core.files import require_complete_run, write_table

    try:
        for r in args.runs:
            require_complete_run(r)
    except ValueError as e:
        print(f"quick_bias: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    t0 = time.time()
    lines = ["| run | " + " | ".join(f"{label}: network -> bias" for _, label, _ in FIGURES) + " |",
             "| --- |" + " --- |" * len(FIGURES)]
    seen: list[tuple[dict[str, object], dict[str, object], int]] = []
    for r in args.runs:
        try:
            before, after = run_figures(r)
        except ValueError as e:
            print(f"quick_bias: error: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
        seen.append((before, after, int(after["n_neurons"])))
        cells = [f"{format(before[k], fmt)} -> {format(after[k], fmt)}" for k, _, fmt in FIGURES]
        lines.append(f"| {Path(r).name} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    for i, what in ((0, "network's own winners"), (1, "with the bias")):
        live = [s[i]["active_neurons"] / s[2] for s in seen]
        lines.append("")
        lines.append(f"{what}: live share {min(live):.2f}-{max(live):.2f}; corners x at most "
                     f"{max(s[i]['corner_over_representation'] for s in seen):.2f}; border x at most "
                     f"{max(s[i]['border_over_representation'] for s in seen):.2f} ({len(seen)} runs)")
        print(lines[-1])
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        write_table(args.out, lines, "bench/quick_bias.py", sys.argv[1:] if argv is None else argv, time.time() - t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

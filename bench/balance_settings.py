"""The usage-balancing bias on trained maps: held-out NS, held-out share on dead neurons, live neurons, TE and
NS of each stored run without the bias and with it at several settings, side by side.

    .venv/bin/python bench/balance_settings.py RUN [RUN ...]
    .venv/bin/python bench/balance_settings.py RUN --settings 100:0.3 400:1.0

Each RUN is a complete run directory (``urlsom train --out RUN``) with a held-out split. The bias is fitted on
the run's un-augmented training images (``readouts.usage_bias``, ITERS:STEP, the defaults first), whatever the
run's own ``model.usage_balance`` (the network's logits, without the bias a run fitted); the winners are the
network's own, without a run's prototype readout (``bench/readout_settings.py`` scores that). Nothing is
trained; a 30x30 digits run takes about 10 s. The fit follows every winner through its iterations, so the last
bits of the logits matter: with another torch thread count than the run's own fit (``OMP_NUM_THREADS``) or
another CPU a map's figures can move by a few held-out images. ``--jitter K`` measures how far: each setting is
also fitted K more times on the logits times ``1 + 2**-22 * noise`` (standard normal noise, a seeded
generator; about two float32 units in the last place, what another CPU's summation order changes), and the
held-out NS of those K fits is printed as mean, standard deviation and range. The table goes to stdout and,
with ``--out FILE``, to a Markdown file with the command and provenance.

    .venv/bin/python bench/balance_settings.py RUN --settings 100:0.3 --jitter 20
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXIT_BAD_INPUT = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="complete run directories with a held-out split")
    p.add_argument("--settings", nargs="+", default=None, metavar="ITERS:STEP",
                   help="balancing settings (default: the defaults, 50:0.3, 200:0.3, 100:1.0, 400:1.0)")
    p.add_argument("--jitter", type=int, default=0, metavar="K",
                   help="also refit each setting K times on logits perturbed in their last bits (default 0)")
    p.add_argument("--out", help="also write the table to this Markdown file")
    return p.parse_args(argv)


LAST_BITS = 2.0**-22  # relative size of the --jitter perturbation: about two float32 units in the last place


def jittered(logits, k: int, seed: int):
    """``logits`` times ``1 + LAST_BITS * noise``, standard normal noise from generator ``seed`` + ``k``."""
    import torch

    g = torch.Generator().manual_seed(seed + k)
    return logits * (1 + LAST_BITS * torch.randn(logits.shape, generator=g, dtype=logits.dtype))


def settings_of(items: list[str] | None) -> list[tuple[int, float]]:
    from urlsom_core.readouts import BALANCE_ITERS, BALANCE_STEP

    if items is None:
        return [(BALANCE_ITERS, BALANCE_STEP), (50, 0.3), (200, 0.3), (100, 1.0), (400, 1.0)]
    out = []
    for s in items:
        it, _, st = s.partition(":")
        try:
            pair = (int(it), float(st))
        except ValueError:
            pair = None
        if pair is None or pair[0] < 0 or not pair[1] > 0:
            raise ValueError(f"--settings {s}: allowed is ITERS:STEP with ITERS >= 0 and STEP > 0")
        out.append(pair)
    return out


def run_rows(path: str, settings: list[tuple[int, float]], jitter: int = 0) -> list[dict[str, object]]:
    import numpy as np
    import torch

    from urlsom_core import metrics as M
    from urlsom_core.readouts import map_logits, usage_bias
    from urlsom_core.runs import Run

    run = Run.load(path)
    sp = run.heldout_splits()  # a ConfigError (a ValueError) without one
    model = run.load_model()  # the network alone: a bias the run fitted is not part of it
    aug = run.augment()
    grid = tuple(run.config.model.grid)
    torus = run.config.model.circular
    dev = torch.device("cpu")
    Lt = map_logits(model, sp.train.images, aug.plain, dev)  # (N, n), as the run's own fit saw them
    Lh = map_logits(model, sp.heldout.images, aug.plain, dev)  # (M, n)
    yt, yh, n = sp.train.labels.numpy(), sp.heldout.labels.numpy(), Lt.shape[1]
    rows = []
    for setting in [None, *settings]:
        b = torch.zeros(n) if setting is None else usage_bias(Lt, *setting)
        wt, wh = (Lt + b).argmax(1).numpy(), (Lh + b).argmax(1).numpy()
        rows.append({"run": Path(path).name, "bias": "no bias" if setting is None else f"{setting[0]} x {setting[1]:g}",
                     "heldout_ns": M.heldout_neural_selectivity(wt, yt, wh, yh, n),
                     "on_dead": M.heldout_on_dead(wt, wh, n), "live": int(np.unique(wt).size),
                     "te": M.topographic_error(M.top2((Lt + b).numpy()), grid, torus=torus),
                     "ns": M.neural_selectivity(wt, yt, n)["neural_selectivity"], "jitter": None})
        if jitter and setting is not None:
            h = []
            for k in range(jitter):  # the training and held-out logits perturbed independently
                At, Ah = jittered(Lt, k, 0), jittered(Lh, k, 1_000_000)
                bj = usage_bias(At, *setting)
                h.append(M.heldout_neural_selectivity((At + bj).argmax(1).numpy(), yt, (Ah + bj).argmax(1).numpy(), yh, n))
            rows[-1]["jitter"] = (float(np.mean(h)), float(np.std(h)), min(h), max(h))
    return rows


def jitter_cell(j: tuple[float, float, float, float] | None) -> str:
    """``mean +- std (min-max)`` of the perturbed fits' held-out NS, or a dash."""
    return "-" if j is None else f"{j[0]:.3f} +- {j[1]:.3f} ({j[2]:.3f}-{j[3]:.3f})"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from urlsom_core.files import require_complete_run, write_table

    try:
        settings = settings_of(args.settings)
        if args.jitter < 0:
            raise ValueError(f"--jitter {args.jitter}: allowed is K >= 0")
        for r in args.runs:
            require_complete_run(r)
    except ValueError as e:
        print(f"balance_settings: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    t0 = time.time()
    jit = f" | held-out NS, {args.jitter} fits on perturbed logits" if args.jitter else ""
    lines = ["| run | bias (iterations x first step) | held-out NS | held-out on dead | live | TE | NS" + jit + " |",
             "| --- | --- | --- | --- | --- | --- | --- |" + (" --- |" if args.jitter else "")]
    for r in args.runs:
        try:
            rows = run_rows(r, settings, args.jitter)
        except ValueError as e:
            print(f"balance_settings: error: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
        for x in rows:
            lines.append(f"| {x['run']} | {x['bias']} | {x['heldout_ns']:.3f} | {x['on_dead']:.3f} | {x['live']} | "
                         f"{x['te']:.3f} | {x['ns']:.3f} |" + (f" {jitter_cell(x['jitter'])} |" if args.jitter else ""))
        print("\n".join(lines[-len(rows):]), flush=True)
    if args.out:
        write_table(args.out, lines, "bench/balance_settings.py", sys.argv[1:] if argv is None else argv, time.time() - t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

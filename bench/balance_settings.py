"""The usage-balancing bias on trained maps: held-out NS, held-out share on dead neurons, live neurons, TE and
NS of each stored run without the bias and with it at several settings, side by side.

    .venv/bin/python bench/balance_settings.py RUN [RUN ...]
    .venv/bin/python bench/balance_settings.py RUN --settings 100:0.3 400:1.0

Each RUN is a complete run directory (``urlsom train --out RUN``) with a held-out split. The bias is fitted on
the run's un-augmented training images (``balance.usage_bias``, ITERS:STEP, the defaults first), whatever the
run's own ``model.usage_balance`` (a run that has one is scored from its logits without it). Nothing is
trained; a 30x30 digits run takes about 10 s. The fit follows every winner through its iterations, so the last
bits of the logits matter: with another torch thread count than the run's own fit (``OMP_NUM_THREADS``) a
map's figures can move by a held-out image or two. The table goes to stdout and, with ``--out FILE``, to a
Markdown file with the command and provenance.
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
    p.add_argument("--out", help="also write the table to this Markdown file")
    return p.parse_args(argv)


def settings_of(items: list[str] | None) -> list[tuple[int, float]]:
    from urlsom_core.balance import BALANCE_ITERS, BALANCE_STEP

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


def run_rows(path: str, settings: list[tuple[int, float]]) -> list[dict[str, object]]:
    import numpy as np
    import torch

    from urlsom_core import metrics as M
    from urlsom_core.balance import map_logits, usage_bias
    from urlsom_core.runs import Run
    from urlsom_core.train import make_augment

    run = Run.load(path)
    sp = run.splits()
    if sp.heldout is None:
        raise ValueError(f"run {path}: has no held-out split (allowed: runs trained with --holdout or --eval-dataset)")
    model = run.load_model()
    if hasattr(model.head, "usage_bias"):
        model.head.usage_bias.zero_()
    aug = make_augment(run.config, sp)
    grid = tuple(run.config.model.grid)
    torus = run.config.model.boundary == "circular"
    dev = torch.device("cpu")
    Lt = map_logits(model, sp.train.images, aug.plain, dev)  # (N, n), as the run's own fit saw them
    Lh = map_logits(model, sp.heldout.images, aug.plain, dev)  # (M, n)
    yt, yh, n = sp.train.labels.numpy(), sp.heldout.labels.numpy(), Lt.shape[1]
    rows = []
    for label, b in [("no bias", torch.zeros(n))] + [(f"{i} x {s:g}", usage_bias(Lt, i, s)) for i, s in settings]:
        wt, wh = (Lt + b).argmax(1).numpy(), (Lh + b).argmax(1).numpy()
        rows.append({"run": Path(path).name, "bias": label,
                     "heldout_ns": M.heldout_neural_selectivity(wt, yt, wh, yh, n),
                     "on_dead": M.heldout_on_dead(wt, wh, n), "live": int(np.unique(wt).size),
                     "te": M.topographic_error(M.top2((Lt + b).numpy()), grid, torus=torus),
                     "ns": M.neural_selectivity(wt, yt, n)["neural_selectivity"]})
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    try:
        settings = settings_of(args.settings)
        for r in args.runs:
            if not (Path(r) / "metrics.json").is_file():
                raise ValueError(f"run {r}: not a complete run directory (no metrics.json)")
    except ValueError as e:
        print(f"balance_settings: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    t0 = time.time()
    lines = ["| run | bias (iterations x first step) | held-out NS | held-out on dead | live | TE | NS |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in args.runs:
        try:
            rows = run_rows(r, settings)
        except ValueError as e:
            print(f"balance_settings: error: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
        for x in rows:
            lines.append(f"| {x['run']} | {x['bias']} | {x['heldout_ns']:.3f} | {x['on_dead']:.3f} | {x['live']} | "
                         f"{x['te']:.3f} | {x['ns']:.3f} |")
        print("\n".join(lines[-len(rows):]), flush=True)
    if args.out:
        from urlsom_core.files import provenance

        prov = provenance("cpu", None)
        text = "\n".join(lines) + (f"\n\nMade by `python bench/balance_settings.py {' '.join(sys.argv[1:] if argv is None else argv)}` "
                                   f"in {time.time() - t0:.0f} s (git {prov['git_commit']}, {prov['host']}).\n")
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Where a trained map gets its held-out samples wrong: on dead neurons, at a class boundary of the map, or
elsewhere; and how far the network's own embedding would take them (its nearest training sample).

    .venv/bin/python bench/heldout_errors.py RUN [RUN ...] [--out FILE]

Each RUN is a complete run directory (``urlsom train --out RUN``) with a held-out split. The map is scored as
the run reads it out (its readout's winners where it fitted one after training, metrics.json's ``readout``
section; else the network's own), nothing is trained. Columns, as shares of the held-out samples: ``held-out NS``; ``on dead`` (winner won no training
sample); ``at a boundary`` (a live neuron of another label with a neuron of the sample's label one step away,
``metrics.heldout_errors``); ``far`` (the other errors); then ``1-NN`` (the label of the nearest training
sample in the backbone's embedding, cosine, is right: what a labelling of the embedding itself would reach)
and where the map puts a held-out sample against that nearest training sample: on its neuron, one step away,
farther. A 30x30 digits run takes a few seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXIT_BAD_INPUT = 2
HEADER = ["run", "held-out NS", "on dead", "at a boundary", "far", "1-NN (embedding)",
          "on the 1-NN's neuron", "one step away", "farther"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="complete run directories with a held-out split")
    p.add_argument("--out", help="also write the table to this Markdown file")
    return p.parse_args(argv)


def run_row(path: str) -> dict[str, object]:
    """The figures of one run (:data:`HEADER`'s columns after ``run``)."""
    import numpy as np

    from urlsom_core import metrics as M
    from urlsom_core.evaluation import readout_assignments
    from urlsom_core.runs import Run

    run = Run.load(path)
    sp = run.heldout_splits()  # a ConfigError (a ValueError) without one
    grid, torus = tuple(run.config.model.grid), run.config.model.circular
    pt = readout_assignments(run.predict(sp.train, embed=True))  # the map as the run reads it out
    ph = readout_assignments(run.predict(sp.heldout, embed=True))
    yt, yh = sp.train.labels.numpy(), sp.heldout.labels.numpy()
    err = M.heldout_errors(pt["winner"], yt, ph["winner"], yh, grid, torus)
    et = pt["embedding"] / np.linalg.norm(pt["embedding"], axis=1, keepdims=True)  # (N, d)
    eh = ph["embedding"] / np.linalg.norm(ph["embedding"], axis=1, keepdims=True)  # (M, d)
    nn = (eh @ et.T).argmax(1)  # (M,) nearest training sample, cosine
    step = M.grid_offsets(ph["winner"], pt["winner"][nn], grid, torus).max(1)  # (M,) Chebyshev
    return {"run": Path(path).name, "held-out NS": err["right"], "on dead": err["on_dead"],
            "at a boundary": err["next_to_class"], "far": err["far"], "1-NN (embedding)": float((yt[nn] == yh).mean()),
            "on the 1-NN's neuron": float((step == 0).mean()), "one step away": float((step == 1).mean()),
            "farther": float((step > 1).mean())}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from urlsom_core.files import require_complete_run, write_table

    try:
        for r in args.runs:
            require_complete_run(r)
    except ValueError as e:
        print(f"heldout_errors: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    t0 = time.time()
    lines = ["| " + " | ".join(HEADER) + " |", "|" + " --- |" * len(HEADER)]
    for r in args.runs:
        try:
            row = run_row(r)
        except ValueError as e:
            print(f"heldout_errors: error: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
        lines.append("| " + " | ".join(str(row[h]) if h == "run" else f"{row[h]:.3f}" for h in HEADER) + " |")
        print(lines[-1], flush=True)
    if args.out:
        write_table(args.out, lines, "bench/heldout_errors.py", sys.argv[1:] if argv is None else argv, time.time() - t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

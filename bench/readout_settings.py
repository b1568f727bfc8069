"""The prototype readout on trained maps: held-out NS, held-out share on dead neurons, live neurons, TE and NS of
each stored run with the network's own winners and with the readout at several settings, side by side.

    .venv/bin/python bench/readout_settings.py RUN [RUN ...]
    .venv/bin/python bench/readout_settings.py RUN --settings 1:0 1:1 1:5 2:0 3:0

Each RUN is a complete run directory (``urlsom train --out RUN``) with a held-out split. A setting RADIUS:REFITS
reads the map out among the neurons within Chebyshev distance RADIUS of the network's winner (1: the winner and
its 8 neighbours, the default of ``model.prototype_readout``) with prototypes fitted from the network's winners
and refitted from the readout's own at most REFITS times (``readouts.fit_readout_prototypes``; 0: never; a run's
readout refits ``model.readout_refits`` times, by default 0: 1:0). The network's winners are those of the run's
model, with the usage bias the run fitted, whatever its own ``model.prototype_readout`` (a run that has one is
read with its prototypes set aside). Nothing is trained; a 30x30 digits run takes a few seconds. The table goes to
stdout and, with ``--out FILE``, to a Markdown file with the command and provenance.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXIT_BAD_INPUT = 2
DEFAULT_SETTINGS = ["1:0", "1:1", "1:5", "2:0", "3:0"]  # the default first


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="complete run directories with a held-out split")
    p.add_argument("--settings", nargs="+", default=None, metavar="RADIUS:REFITS",
                   help=f"readout settings (default: {' '.join(DEFAULT_SETTINGS)})")
    p.add_argument("--out", help="also write the table to this Markdown file")
    return p.parse_args(argv)


def settings_of(items: list[str] | None) -> list[tuple[int, int]]:
    out = []
    for s in items or DEFAULT_SETTINGS:
        r, _, k = s.partition(":")
        try:
            pair = (int(r), int(k))
        except ValueError:
            pair = None
        if pair is None or pair[0] < 1 or pair[1] < 0:
            raise ValueError(f"--settings {s}: allowed is RADIUS:REFITS with RADIUS >= 1 and REFITS >= 0")
        out.append(pair)
    return out


def run_rows(path: str, settings: list[tuple[int, int]]) -> list[dict[str, object]]:
    import numpy as np
    import torch

    from urlsom_core import metrics as M
    from urlsom_core.predict import predict
    from urlsom_core.readouts import Readout, fit_readout_prototypes, local_top2, window_index
    from urlsom_core.runs import Run

    run = Run.load(path)
    sp = run.heldout_splits()  # a ConfigError (a ValueError) without one
    model, aug = run.load_model(), run.augment()
    grid = tuple(run.config.model.grid)
    torus = run.config.model.circular
    fitted = run.readout()
    bias = Readout(grid, torus, bias=fitted.bias) if fitted is not None and fitted.bias is not None else None
    dev = torch.device("cpu")
    tr, te = (predict(model, d, aug, dev, embed=True, readout=bias) for d in (sp.train, sp.heldout))
    Et, Eh = torch.from_numpy(tr["embedding"]), torch.from_numpy(te["embedding"])
    key = "readout_top2" if bias is not None else "top2"  # the network's winners, with the run's bias
    Tt, Th = torch.from_numpy(tr[key]), torch.from_numpy(te[key])
    yt, yh, n = sp.train.labels.numpy(), sp.heldout.labels.numpy(), grid[0] * grid[1]
    rows = []
    for setting in [None, *settings]:
        if setting is None:
            t2t, t2h, label, rounds = Tt, Th, "network's winners", None
        else:
            win = window_index(grid, torus, setting[0])
            P, c, rounds = fit_readout_prototypes(Et, Tt, n, win, max_rounds=setting[1])
            t2t, t2h, label = local_top2(Et, Tt, P, c, win), local_top2(Eh, Th, P, c, win), f"{setting[0]}:{setting[1]}"
        wt, wh = t2t[:, 0].numpy(), t2h[:, 0].numpy()
        rows.append({"run": Path(path).name, "readout": label, "rounds": rounds,
                     "heldout_ns": M.heldout_neural_selectivity(wt, yt, wh, yh, n),
                     "on_dead": M.heldout_on_dead(wt, wh, n), "live": int(np.unique(wt).size),
                     "te": M.topographic_error(t2t.numpy(), grid, torus=torus),
                     "ns": M.neural_selectivity(wt, yt, n)["neural_selectivity"]})
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from urlsom_core.files import require_complete_run, write_table

    try:
        settings = settings_of(args.settings)
        for r in args.runs:
            require_complete_run(r)
    except ValueError as e:
        print(f"readout_settings: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    t0 = time.time()
    lines = ["| run | readout (radius:refits) | refits made | held-out NS | held-out on dead | live | TE | NS |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in args.runs:
        try:
            rows = run_rows(r, settings)
        except ValueError as e:
            print(f"readout_settings: error: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
        for x in rows:
            lines.append(f"| {x['run']} | {x['readout']} | {'-' if x['rounds'] is None else x['rounds']} | "
                         f"{x['heldout_ns']:.3f} | {x['on_dead']:.3f} | {x['live']} | {x['te']:.3f} | {x['ns']:.3f} |")
        print("\n".join(lines[-len(rows):]), flush=True)
    if args.out:
        write_table(args.out, lines, "bench/readout_settings.py", sys.argv[1:] if argv is None else argv, time.time() - t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Look at the order: maps of generated images coloured by their known latents, one row per run.

For each run (a folder of ``urlsom train``) on a generated ``npz:`` set with latents (``urlsom_book.synthetic``),
each panel colours every neuron by the mean of one latent over the training images it wins, as the network's own
map places them (``--readout``: as read out, where the run has a readout): a map that keeps a latent in order shows
a smooth gradient, a folded one patches (``urlsom_book.viz.latent_map``). Beside the PNG, a JSON with the runs,
each row's latent Spearman (held-out part, ``metrics.latent_order``) and provenance.

    .venv/bin/python bench/latent_maps.py --runs RUN_A RUN_B --names "sigma 2 fixed" "sigma 5 -> 2" \\
        --out bench/results/threshold/ellipses/latent_maps.png

Bad input: one line ``latent_maps: error: ...``, exit 2, nothing written.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import transfer_suite as T  # noqa: E402  (the suite's split of a file's images)

EXIT_BAD_INPUT = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", nargs="+", required=True, help="run folders, one row each")
    p.add_argument("--names", nargs="+", help="a row title per run (default: the folder's name)")
    p.add_argument("--readout", action="store_true", help="the readout's winners instead of the network's own")
    p.add_argument("--out", required=True, help="the PNG to write (a .json beside it)")
    return p.parse_args(argv)


def load(path: str, readout: bool) -> dict[str, Any]:
    """One run's training winners, latents and names, held-out Spearman per latent; ConfigError when unusable."""
    import numpy as np

    from urlsom_core.config import ConfigError
    from urlsom_core.metrics import latent_order
    from urlsom_core.runs import Run

    run = Run.load(path)
    lat = T.split_latents(run.config.data.dataset, run.config.data)
    if lat is None:
        raise ConfigError(f"--runs {path}: its data ({run.config.data.dataset}) is no npz file with latents; allowed "
                          "are runs on a generated set (urlsom_book.synthetic)")
    a = run.assignments()
    key = "readout_winner" if readout else "winner"
    if key not in a:
        raise ConfigError(f"--runs {path}: has no readout (--readout needs a run with one)")
    if not (np.array_equal(lat.train_labels, a["label"]) and np.array_equal(lat.heldout_labels, a["heldout_label"])):
        raise ConfigError(f"--runs {path}: its split differs from the file's (another subset or holdout)")
    m = run.config.model
    held = a["readout_heldout_winner" if readout else "heldout_winner"]
    rho = {n: float(latent_order(held, lat.heldout_latents[:, j], tuple(m.grid), m.circular, m.lattice, T.PAIRS))
           for j, n in enumerate(lat.names)}
    rho["all"] = float(latent_order(held, lat.heldout_latents, tuple(m.grid), m.circular, m.lattice, T.PAIRS))
    return {"path": str(Path(path).resolve()), "winners": a[key], "latents": lat.train_latents, "names": lat.names,
            "grid": tuple(m.grid), "torus": m.circular, "spearman": rho, "config_key": run.config.key()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from urlsom_core.config import ConfigError
    from urlsom_core.files import atomic_write, provenance, write_json

    t0 = time.time()
    try:
        if args.names and len(args.names) != len(args.runs):
            raise ConfigError(f"--names: {len(args.names)} names for {len(args.runs)} runs; allowed is one per run")
        if not args.out.endswith(".png"):
            raise ConfigError(f"--out {args.out}: allowed is a .png path")
        rows = [load(p, args.readout) for p in args.runs]
        if len({tuple(r["names"]) for r in rows}) > 1:
            raise ConfigError("--runs: their sets have other latents; allowed are runs on one generated set")
    except ConfigError as e:
        print(f"latent_maps: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from matplotlib.figure import Figure

    from urlsom_book.viz import latent_map

    names = args.names or [Path(p).name for p in args.runs]
    k = len(rows[0]["names"])
    fig = Figure(figsize=(4.7 * k, 3.6 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), k, squeeze=False)
    for i, (r, name) in enumerate(zip(rows, names, strict=True)):
        for j, latent in enumerate(r["names"]):
            z = r["latents"][:, j]
            latent_map(r["winners"], z, r["grid"], ax=axes[i, j], torus=r["torus"], label=latent,
                       title=f"{name}\n{latent}, Spearman {r['spearman'][latent]:.2f}",
                       vmin=float(min(x["latents"][:, j].min() for x in rows)),
                       vmax=float(max(x["latents"][:, j].max() for x in rows)))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda fh: fig.savefig(fh, format="png", dpi=90))
    write_json(out.with_suffix(".json"), {
        "command": "python bench/latent_maps.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "winners": "readout" if args.readout else "network",
        "rows": [{"name": n, "run": r["path"], "config_key": r["config_key"], "spearman": r["spearman"]}
                 for n, r in zip(names, rows, strict=True)],
        "provenance": {**provenance("cpu", None), "wall_seconds": round(time.time() - t0, 1)}})
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

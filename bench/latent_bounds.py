"""What the suite's latent Spearman can reach: maps built from the latents themselves, no training.

The suite's order line (``transfer_suite.MIN_SPEARMAN``) asks a map of the pixels to rank pairs of held-out images
by their distance in all of a set's scored latents. How high can any 30x30 map go, and what does a map that also
separates the classes (the held-out NS line) give up? Two kinds of map, placed by the training part's quantiles:

- ``a x b``: the rows follow latent ``a``, the columns latent ``b`` (30 quantile bins each), every class mixed;
- ``classes in blocks, a x b within``: the grid cut into one block per class (2x2 for 4 classes, 3x3 for 9), each
  block ordered by ``a`` and ``b`` over that class's images: a map that separates the classes perfectly and
  orders two latents perfectly inside each;
- ``a x b, classes within cells``: the other way round, the grid cut into cells of one neuron per class (2x2 for
  4 classes, 3x3 for 9) ordered by ``a`` and ``b`` over all images (15x15 or 10x10 bins), each class on its own
  neuron of a cell: the latents at the coarse scale, the classes at the finest.

Each is scored as the suite scores a row (``transfer_suite.figures`` less TE, which a built map does not have):
held-out NS, live neurons of the training part, the latent Spearman over held-out pairs. Same files, split and
pairs as the suite's seed-0 cells. The numbers are properties of the sets, not of any method.

    .venv/bin/python bench/latent_bounds.py --out bench/results/transfer/latent_bounds

Bad input: one line ``latent_bounds: error: ...``, exit 2, nothing written.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import transfer_suite as T  # noqa: E402  (the suite's sets, files, split and scoring)

EXIT_BAD_INPUT = 2
LATENT_SETS = tuple(s.name for s in T.SETS if s.has_latents)
KINDS = ("latents only", "classes in blocks", "classes within cells")  # the three built maps, in bounds()' order


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sets", nargs="+", default=list(LATENT_SETS), help=f"any of {', '.join(LATENT_SETS)} (default all)")
    p.add_argument("--out", required=True, help="folder for results.json and results.md")
    p.add_argument("--data", default=str(T.ROOT / "bench" / "results" / "transfer"),
                   help="folder whose data/ holds the generated files (default the suite's, ignored by git)")
    p.add_argument("--tiny", action="store_true", help="the suite's tiny files and 5x5 grid: a smoke test")
    return p.parse_args(argv)


def quantile_bins(x: Any, ref: Any, k: int) -> Any:
    """The bin (0..k-1) of each value of ``x`` among ``k`` equal-count bins of ``ref``."""
    import numpy as np

    edges = np.quantile(ref, np.linspace(0, 1, k + 1)[1:-1])
    return np.searchsorted(edges, x, side="right")


def pair_map(train_z: Any, held_z: Any, a: int, b: int, grid: tuple[int, int]) -> tuple[Any, Any]:
    """Winners (training, held-out) of the ``a x b`` map: row = quantile bin of latent ``a``, column of ``b``."""
    rows, cols = grid

    def place(z: Any) -> Any:
        return quantile_bins(z[:, a], train_z[:, a], rows) * cols + quantile_bins(z[:, b], train_z[:, b], cols)

    return place(train_z), place(held_z)


def class_layout(train_y: Any, grid: tuple[int, int], what: str) -> tuple[Any, int, int, int, int]:
    """The classes and a near-square layout of one tile per class: (classes, tile rows, tile columns, rows and
    columns of the grid left to each tile's other side); ValueError when the grid has no room."""
    import numpy as np

    classes = np.unique(train_y)
    tr = math.ceil(math.sqrt(len(classes)))
    tc = math.ceil(len(classes) / tr)
    h, w = grid[0] // tr, grid[1] // tc
    if h < 1 or w < 1:
        raise ValueError(f"a {grid[0]}x{grid[1]} grid has no room for {what} of {len(classes)} classes")
    return classes, tr, tc, h, w


def block_map(train_z: Any, train_y: Any, held_z: Any, held_y: Any, a: int, b: int,
              grid: tuple[int, int]) -> tuple[Any, Any]:
    """Winners of the map with one block per class (a near-square layout of blocks), ``a x b`` inside each."""
    import numpy as np

    classes, _, bc, h, w = class_layout(train_y, grid, "blocks")

    def place(z: Any, y: Any) -> Any:
        out = np.zeros(len(z), dtype=np.int64)
        for i, c in enumerate(classes):
            m, ref = y == c, train_z[train_y == c]
            r = (i // bc) * h + quantile_bins(z[m, a], ref[:, a], h)
            q = (i % bc) * w + quantile_bins(z[m, b], ref[:, b], w)
            out[m] = r * grid[1] + q
        return out

    return place(train_z, train_y), place(held_z, held_y)


def cell_map(train_z: Any, train_y: Any, held_z: Any, held_y: Any, a: int, b: int,
             grid: tuple[int, int]) -> tuple[Any, Any]:
    """Winners of the map with the latents ``a x b`` on a grid of cells and one neuron per class in each cell."""
    import numpy as np

    classes, cr, cc, h, w = class_layout(train_y, grid, "cells")

    def place(z: Any, y: Any) -> Any:
        i = np.searchsorted(classes, y)
        r = quantile_bins(z[:, a], train_z[:, a], h) * cr + i // cc
        q = quantile_bins(z[:, b], train_z[:, b], w) * cc + i % cc
        return r * grid[1] + q

    return place(train_z, train_y), place(held_z, held_y)


def bounds(s: T.SuiteSet, data: Path, tiny: bool, log: Any) -> dict[str, Any]:
    """Every ``a x b`` map, block map and cell map of one set, on the suite's seed-0 split of its file."""
    from urlsom_core.config import DataConfig

    spec = T.dataset_spec(s, data, tiny, log)
    lat = T.split_latents(spec, DataConfig(dataset=spec, holdout=T.HOLDOUT))
    grid = T.TINY_GRID if tiny else T.GRID
    tz, ty, hz, hy = lat.train_latents, lat.train_labels, lat.heldout_latents, lat.heldout_labels
    maps = (("{pair}", lambda a, b: pair_map(tz, hz, a, b, grid)),
            ("classes in blocks, {pair} within", lambda a, b: block_map(tz, ty, hz, hy, a, b, grid)),
            ("{pair}, classes within cells", lambda a, b: cell_map(tz, ty, hz, hy, a, b, grid)))
    rows = []
    for a, b in itertools.combinations(range(len(lat.names)), 2):
        for kind, (title, build) in zip(KINDS, maps, strict=True):
            tw, hw = build(a, b)  # scored as the suite scores a row; no second-best neuron, so no TE
            rows.append(T.figures(title.format(pair=f"{lat.names[a]} x {lat.names[b]}"), grid, tw, ty, None, hw, hy,
                                  hz, kind=kind))
    return {"set": s.name, "about": s.about, "latents": lat.names, "classes": int(len(set(lat.train_labels))),
            "train": int(len(lat.train_labels)), "heldout": int(len(lat.heldout_labels)), "rows": rows}


def markdown(res: dict[str, Any]) -> str:
    lines = ["# What the suite's latent Spearman can reach", "",
             "Maps built from the latents, no training (`bench/latent_bounds.py`): held-out NS, live neurons of the "
             "training part and the latent Spearman over held-out pairs, scored as the suite scores its rows "
             f"(line: Spearman >= {T.MIN_SPEARMAN}).", "",
             "| set | map | held-out NS | live | Spearman |", "| --- | --- | --- | --- | --- |"]
    for r in res["sets"]:
        for row in r["rows"]:
            sp = "-" if row["spearman"] is None else f"{row['spearman']:.3f}"
            lines.append(f"| {r['set']} | {row['method']} | {row['heldout_ns']:.3f} | {row['live']} / {row['n_neurons']} "
                         f"| {sp} |")
    lines += ["", "Best of each kind:", ""]
    for r in res["sets"]:
        for kind in KINDS:
            best = max((x for x in r["rows"] if x["kind"] == kind and x["spearman"] is not None),
                       key=lambda x: x["spearman"], default=None)
            if best:
                lines.append(f"- {r['set']} ({r['classes']} classes), {kind}: Spearman {best['spearman']:.3f} "
                             f"({best['method']}), held-out NS {best['heldout_ns']:.3f}")
    lines += ["", f"Command: `{res['command']}`; git {res['provenance']['git_commit']}, "
              f"{res['provenance']['wall_seconds']} s.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bad = [x for x in args.sets if x not in LATENT_SETS]
    if bad:
        print(f"latent_bounds: error: --sets {' '.join(bad)}: allowed are {', '.join(LATENT_SETS)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from urlsom_core.files import atomic_write, provenance, write_json

    t0 = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sets = [bounds(T.BY_NAME[x], Path(args.data), args.tiny, print) for x in args.sets]
    res = {"command": "python bench/latent_bounds.py " + " ".join(sys.argv[1:] if argv is None else argv),
           "sets": sets, "provenance": {**provenance("cpu", 0), "wall_seconds": round(time.time() - t0, 1)}}
    write_json(out / "results.json", res)
    text = markdown(res)
    atomic_write(out / "results.md", lambda fh: fh.write(text), mode="w")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

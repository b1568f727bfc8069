"""How a toroidal map's corners compare with every other 2x2 block of it, per run of a `urlsom reproduce` build.

On a torus the four corner neurons are a 2x2 block like any other (neighbours across the wrap), so their
over-representation ("corners x") is one draw among the 900 blocks of a 30x30 map. For each run this prints
the corner and border figures, their chance (``metrics.translate_chance``: the share of translates that win
at least as many samples; uniform on (0, 1] without a bias), the share of all 2x2 blocks that hold more than
twice their share of samples, and a Kolmogorov-Smirnov test of the chances against the uniform::

    .venv/bin/python bench/torus_blocks.py                      # the runs of executed/summary.json (after make book)
    .venv/bin/python bench/torus_blocks.py --summary DIR/summary.json --out bench/results/torus_blocks

With ``--out`` it also writes ``torus_blocks.md`` and ``torus_blocks.json`` (with provenance) there.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXIT_BAD_INPUT = 2


def run_row(key: str, info: dict[str, Any]) -> dict[str, Any] | None:
    """The figures of one stored run, or None when it is gone or not a torus."""
    import numpy as np

    from urlsom_core.config import is_circular
    from urlsom_core.files import read_json
    from urlsom_core.metrics import border_neurons, corner_neurons, translate_chance, translate_counts

    path = Path(info.get("path") or "")
    try:
        conf = read_json(path / "config.json")["config"]["model"]
        with np.load(path / "assignments.npz") as z:
            winners = z["winner"]
    except (OSError, KeyError, ValueError):
        return None
    if not is_circular(conf.get("boundary", "zeros")):
        return None
    grid = (int(conf["grid"][0]), int(conf["grid"][1]))
    n = grid[0] * grid[1]
    corners, ring = corner_neurons(grid), border_neurons(grid)
    blocks = translate_counts(winners, corners, grid) / (winners.size * 4 / n)  # every 2x2 block, x its share
    return {"run": key, "figures": info.get("figures", []), "grid": list(grid),
            "corners_x": float(blocks[0, 0]), "corner_chance": translate_chance(winners, corners, grid),
            "blocks_over_2x": float((blocks > 2).mean()),
            "border_x": float(np.isin(winners, ring).mean() / (len(ring) / n)),
            "border_chance": translate_chance(winners, ring, grid)}


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one row per run, then the KS line."""
    from scipy.stats import kstest

    lines = ["| run | figures | corners x | corner chance | 2x2 blocks over 2x | border x | border chance |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['run']} | {', '.join(r['figures'])} | {r['corners_x']:.2f} | {r['corner_chance']:.2f} | "
                     f"{100 * r['blocks_over_2x']:.1f}% | {r['border_x']:.2f} | {r['border_chance']:.2f} |")
    c = [r["corner_chance"] for r in rows]
    b = [r["border_chance"] for r in rows]
    lines.append("")
    lines.append(f"{len(rows)} toroidal runs. Corner chance: mean {sum(c) / len(c):.2f}, Kolmogorov-Smirnov against "
                 f"the uniform p = {kstest(c, 'uniform').pvalue:.2f}; border chance: mean {sum(b) / len(b):.2f}, "
                 f"p = {kstest(b, 'uniform').pvalue:.2f} (0.5 and a large p without a bias).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--summary", default=str(ROOT / "executed" / "summary.json"),
                    help="a summary.json of `urlsom reproduce` (default executed/summary.json)")
    ap.add_argument("--out", help="also write torus_blocks.md and torus_blocks.json here")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from urlsom_core.files import provenance, read_json, write_json

    t0 = time.time()
    try:
        runs = read_json(args.summary)["runs"]
    except (OSError, ValueError, KeyError):
        print(f"--summary {args.summary}: not a summary.json of `urlsom reproduce` (run `make book` first)",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    rows = [r for k, info in runs.items() if (r := run_row(k, info)) is not None]
    if not rows:
        print(f"--summary {args.summary}: names no stored run on a toroidal map", file=sys.stderr)
        return EXIT_BAD_INPUT
    text = table(rows)
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "torus_blocks.md").write_text(text + f"\n\nMade by `python bench/torus_blocks.py` from {args.summary}.\n")
        write_json(out / "torus_blocks.json", {"rows": rows, "summary": args.summary,
                                                "wall_seconds": time.time() - t0,
                                                "provenance": provenance("cpu")})
    return 0


if __name__ == "__main__":
    sys.exit(main())

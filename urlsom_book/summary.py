"""The summary tables of ``urlsom reproduce``: one row per notebook (status, NS, live neurons, runs trained
or reused, wall time) and one row per run it used (map size and boundary, NS, live share, corner and border
over-representation with, on a toroidal map, the chance of as high a figure, usage evenness), read from the
notebooks' records and the runs' files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .notebook import records


def table(outcomes: list[Any]) -> str:
    """The summary as a Markdown table (also printed); ``outcomes`` are ``reproduce.Outcome`` records."""
    rows = ["| figure | status | NS | live | runs | wall |", "| --- | --- | --- | --- | --- | --- |"]
    for o in outcomes:
        ns = f"{o.ns:.3f}" if isinstance(o.ns, (int, float)) else "-"
        live = str(o.live) if o.live is not None else "-"
        rows.append(f"| {o.name} | {o.status} | {ns} | {live} | {o.runs_text()} | {o.seconds:.1f} s |")
    return "\n".join(rows)


def run_map_figures(path: Path) -> dict[str, Any] | None:
    """NS and how a stored run uses its map (``metrics.usage_metrics``), the network's own winners (the paper's
    map), from its metrics.json, or computed from its assignments.npz and config.json when metrics.json predates
    them; with the NS and live neurons of a readout fitted after training beside (``readout_ns``,
    ``readout_live``; None without one). None when the run is gone."""
    from urlsom_core.config import is_circular
    from urlsom_core.evaluation import unnest_assignments, unnest_metrics
    from urlsom_core.files import read_json
    from urlsom_core.metrics import usage_metrics

    try:
        net = unnest_metrics(read_json(path / "metrics.json"))  # the network's own figures at the top level
        conf = read_json(path / "config.json")
    except (OSError, ValueError):
        return None
    model = conf.get("config", {}).get("model", {})
    read = net.get("readout") or {}
    out = {"ns": net.get("neural_selectivity"), "live": net.get("active_neurons"), "n": net.get("n_neurons"),
           "grid": model.get("grid"), "boundary": model.get("boundary", "zeros"),
           "readout_ns": read.get("neural_selectivity"), "readout_live": read.get("active_neurons")}
    torus = is_circular(out["boundary"])
    keys = ("corner_over_representation", "border_over_representation", "live_share", "usage_evenness")
    keys += ("corner_chance", "border_chance") if torus else ()
    out.update({k: net[k] for k in keys if k in net})
    if not all(k in net for k in keys) and (path / "assignments.npz").is_file() and out["grid"]:
        import numpy as np

        with np.load(path / "assignments.npz") as z:
            a = unnest_assignments({k: z[k] for k in z.files})
        out.update(usage_metrics(a["winner"], tuple(out["grid"]), torus))
    return out


def run_table(runs_used: dict[str, dict[str, Any]]) -> str:
    """Per run: the figures using it, its map, then the network's own winners' figures (the paper's map): NS,
    live neurons and share, corners x, border x, evenness; last, the NS and live neurons of a readout fitted
    after training (a usage bias, a prototype readout), ``-`` where none was.

    On a toroidal map each of corners x and border x carries its chance in brackets
    (``metrics.translate_chance``: the share of its translates on the torus that win as many samples)."""
    def f(v: Any, fmt: str) -> str:
        return format(v, fmt) if isinstance(v, (int, float)) else "-"

    def x(v: Any, chance: Any) -> str:
        return f(v, ".2f") + (f" ({chance:.2f})" if isinstance(chance, (int, float)) else "")

    rows = ["| run | figures | map | NS | live | live share | corners x (chance) | border x (chance) | evenness "
            "| read out after training: NS, live |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for key, info in runs_used.items():
        m = info.get("map") or {}
        g = m.get("grid")
        where = f"{g[0]}x{g[1]} {m.get('boundary')}" if g else "-"
        read = "-" if m.get("readout_ns") is None else f"{f(m.get('readout_ns'), '.3f')}, {f(m.get('readout_live'), 'd')}"
        rows.append(f"| {key} | {', '.join(info.get('figures', []))} | {where} | {f(m.get('ns'), '.3f')} | "
                    f"{f(m.get('live'), 'd')} | {f(m.get('live_share'), '.2f')} | "
                    f"{x(m.get('corner_over_representation'), m.get('corner_chance'))} | "
                    f"{x(m.get('border_over_representation'), m.get('border_chance'))} | "
                    f"{f(m.get('usage_evenness'), '.3f')} | {read} |")
    return "\n".join(rows)


def runs_used(out: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    """Every run the notebooks' records name, with its training time and device (from its manifest)."""
    from urlsom_core.files import read_json

    used: dict[str, dict[str, Any]] = {}
    for name, rec in records(out).items():
        if name not in names:
            continue
        for r in rec.get("runs", []):
            info = used.setdefault(r["key"], {"train_seconds": r.get("train_seconds"), "epochs": r.get("epochs"),
                                              "figures": [], "device": None, "path": r.get("path")})
            info["figures"].append(name)
            man = Path(r["path"]) / "manifest.json"
            if info["device"] is None and man.is_file():
                info["device"] = read_json(man).get("provenance", {}).get("device")
    return used

"""Studies the paper left open: sweeps of runs from the run store, scored with the same metrics,
each with a figure and a one-paragraph reading written from its own numbers.

==========================  ===========================================================================
kernel amplitude            the fixed kernel sum-normalised, peak-normalised, or sum-normalised times a gain:
                            NS, live neurons and topographic error per setting (``amplitude_*``)
gamma x sigma               the similarity weight gamma against the filter width sigma, small multiples of
                            the maps with NS and TE (``gamma_sigma_*``)
batch size vs map size      batch size N against a fixed map of n neurons: NS, live neurons, TE (``batch_*``)
==========================  ===========================================================================

The notebooks ``notebooks/study_*.py`` only pick the base config from a profile and call these. A sweep
is a list of ``{dotted field: value}`` changes to the base config; each point is a run of the store
(``runs.get_or_train``), so a point equal to another notebook's run (the default kernel, gamma 2 and
sigma 5 ...) is trained once and shared.

Example:
    >>> amplitude_variants([["sum", 1.0], ["peak", 1.0]])
    [{'model.kernel_norm': 'sum', 'model.kernel_gain': 1.0}, {'model.kernel_norm': 'peak', 'model.kernel_gain': 1.0}]
    >>> collapsed({"active_neurons": 1, "n_neurons": 400})
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from urlsom_core.config import ConfigError, RunConfig

COLLAPSE_LIVE = 2  # a map with at most this many live neurons is called collapsed


def sweep(base: RunConfig, variants: Sequence[dict[str, Any]], root: Any = "runs", device: str = "auto",
          log: Callable[[str], None] = print) -> list[Any]:
    """The run of ``base`` changed by each variant (from the store, trained when missing), in order.

    ``log`` gets one line per run (trained now or reused); the training's own messages go to
    :func:`urlsom_book.notebook.stderr_log`, which the book leaves out of its pages.
    """
    from urlsom_core.runs import get_or_train

    from .notebook import stderr_log

    configs = [base.replace(**v) for v in variants]  # every config validated before any training
    runs = []
    for cfg in configs:
        run = get_or_train(cfg, root=root, device=device, progress=False, log=stderr_log)
        log(f"run {cfg.key()}: {'reused from the store' if run.cache_hit else 'trained now'}")
        runs.append(run)
    return runs


def summarize(run: Any, variant: dict[str, Any] | None = None) -> dict[str, Any]:
    """One row of a study table: the variant's values and the run's metrics.

    A study asks what a training setting does to the network, so its figures are those of the network's own
    winners, the paper's map (metrics.json's top level), also where the run reads its map out with a bias
    fitted after training (``model.usage_balance``, the quick profile; metrics.json's ``readout`` section):
    that bias lets nearly every neuron win and would hide the live neurons a setting leaves.
    ``live_read_out`` is the live count of the map as read out; trustworthiness and NMI stay those of the
    map as read out, and so does ``heldout_neural_selectivity``."""
    from urlsom_core.evaluation import readout_figures
    from urlsom_core.metrics import contiguity

    net = run.metrics
    m = readout_figures(net)
    cfg: RunConfig = run.config
    n_train = int(run.resolved.get("n_train", m.get("n_samples", 0)))
    row = {k.split(".")[-1]: (list(v) if isinstance(v, tuple) else v) for k, v in (variant or {}).items()}
    contig = (net.get("contiguity"), net.get("contiguity_shuffled"))
    if "contiguity" not in net:  # a run whose files kept no contiguity of the network's own winners
        a = run.assignments()
        contig = contiguity(a["winner"], a["label"], cfg.model.grid, torus=cfg.model.circular,
                            lattice=cfg.model.lattice)
    row.update({
        "neural_selectivity": net.get("neural_selectivity"),
        "heldout_neural_selectivity": m.get("heldout_neural_selectivity"),
        "active_neurons": net.get("active_neurons"), "n_neurons": m.get("n_neurons", cfg.model.n_neurons),
        "live_read_out": m.get("active_neurons"),
        "topographic_error": net.get("topographic_error"), "contiguity": contig[0],
        "contiguity_shuffled": contig[1], "trustworthiness": m.get("trustworthiness"),
        "nmi": m.get("nmi"), "epochs": m.get("epochs_trained"), "stop_reason": m.get("stop_reason"),
        "steps_per_epoch": n_train // cfg.train.batch_size, "train_seconds": m.get("train_seconds"),
        "run_key": cfg.key(),
    })
    return row


def collapsed(row: dict[str, Any]) -> bool:
    return row.get("active_neurons") is not None and row["active_neurons"] <= COLLAPSE_LIVE


def _f(v: Any, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """Markdown table of ``rows`` with (key, header) ``columns``."""
    out = ["| " + " | ".join(h for _, h in columns) + " |", "|" + "|".join(" --- " for _ in columns) + "|"]
    for r in rows:
        cells = []
        for k, _ in columns:
            v = r.get(k)
            cells.append(_f(v) if isinstance(v, float) else ("n/a" if v is None else str(v)))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def markdown(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> Any:
    """``table`` as an IPython Markdown object (for a notebook's last line)."""
    from IPython.display import Markdown

    return Markdown(table(rows, columns))


def _figure(figsize: tuple[float, float]) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


# --------------------------------------------------------------------------------------- kernel amplitude
def amplitude_variants(amplitudes: Sequence[Any], base: RunConfig | None = None) -> list[dict[str, Any]]:
    """``[[norm, gain], ...]`` -> config changes. ``norm`` is ``sum`` or ``peak``; the entry ``"default"``
    stands for ``base``'s own kernel (the project's default amplitude, read, not copied). Duplicates are
    dropped, keeping the first."""
    out: list[dict[str, Any]] = []
    for a in amplitudes:
        if a == "default":
            if base is None:
                raise ConfigError("amplitude 'default': needs the base config to read its kernel_norm and kernel_gain")
            a = [base.model.kernel_norm, base.model.kernel_gain]
        if not isinstance(a, (list, tuple)) or len(a) != 2:
            raise ConfigError(f"amplitude {a!r}: allowed is [norm, gain], e.g. ['sum', 8.0], or 'default'")
        v = {"model.kernel_norm": str(a[0]), "model.kernel_gain": float(a[1])}
        if v not in out:
            out.append(v)
    return out


def kernel_amplitude(cfg: RunConfig) -> dict[str, float]:
    """The centre value and the sum of the fixed kernel a config builds (its inverse Softmax temperature)."""
    from urlsom_core.model import build_kernel

    k = build_kernel(cfg.model)
    return {"kernel_peak": float(k.max()), "kernel_sum": float(k.sum())}


def amplitude_label(row: dict[str, Any]) -> str:
    return f"{row['kernel_norm']}-normalised" + (f" x {row['kernel_gain']:g}" if row["kernel_gain"] != 1.0 else "")


def amplitude_rows(runs: Sequence[Any], variants: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for run, v in zip(runs, variants, strict=True):
        r = summarize(run, v)
        r.update(kernel_amplitude(run.config))
        r["setting"] = amplitude_label(r)
        rows.append(r)
    return rows


def _bars(ax: Any, labels: Sequence[str], values: Sequence[float | None], title: str, ylim: tuple[float, float] | None,
          fmt: str = "{:.3f}") -> None:
    x = np.arange(len(labels))
    vals = [np.nan if v is None else float(v) for v in values]
    ax.bar(x, vals, color=[f"C{i}" for i in range(len(labels))])
    for xi, v in zip(x, vals, strict=True):
        ax.annotate("n/a" if np.isnan(v) else fmt.format(v), (xi, 0 if np.isnan(v) else v), ha="center",
                    va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=20, ha="right", fontsize=8)
    ax.set_title(title, fontsize=10)
    if ylim:
        ax.set_ylim(*ylim)


def plot_amplitude(rows: Sequence[dict[str, Any]], axes: Sequence[Any] | None = None) -> Any:
    """Three panels: NS, live neurons (of n), topographic error, one bar per amplitude setting."""
    if axes is None:
        fig = _figure((10, 3.4))
        axes = fig.subplots(1, 3)
    labels = [r["setting"] for r in rows]
    _bars(axes[0], labels, [r["neural_selectivity"] for r in rows], "neural selectivity", (0, 1.1))
    _bars(axes[1], labels, [r["active_neurons"] for r in rows], f"live neurons (of {rows[0]['n_neurons']})",
          (0, rows[0]["n_neurons"] * 1.1), fmt="{:.0f}")
    _bars(axes[2], labels, [r["topographic_error"] for r in rows], "topographic error", (0, 1.1))
    return axes[0].figure


# What a study page says when its profile lists one setting only: its numbers, and no comparison.
ONE_SETTING = ("This build trained one setting only, so the page compares nothing; a profile that lists several "
               "(the quick profile does) makes the comparison.")


def read_amplitude(rows: Sequence[dict[str, Any]]) -> str:
    """One paragraph from the numbers: each setting's NS, live neurons and TE, the best and any collapse."""
    parts = []
    for r in rows:
        parts.append(f"the {r['setting']} kernel (centre value {r['kernel_peak']:.3g}) reaches NS "
                     f"{_f(r['neural_selectivity'])} with {r['active_neurons']} of {r['n_neurons']} neurons live "
                     f"and a topographic error of {_f(r['topographic_error'])}")
    best = max(rows, key=lambda r: r["neural_selectivity"] or 0.0)
    most = max(rows, key=lambda r: r["active_neurons"] or 0)
    if len(rows) == 1:
        return parts[0][0].upper() + parts[0][1:] + ". " + ONE_SETTING
    text = "With everything else fixed, " + "; ".join(parts) + ". "
    text += f"The highest NS comes from the {best['setting']} kernel"
    text += (", which also keeps the most neurons live. " if best["active_neurons"] == most["active_neurons"] else
             f", the most live neurons from the {most['setting']} kernel. ")
    down = [r["setting"] for r in rows if collapsed(r)]
    if down:
        text += (f"The {' and the '.join(down)} kernel{'s' if len(down) > 1 else ''} collapsed to at most "
                 f"{COLLAPSE_LIVE} live neurons: there NS is only the majority-class rate and TE says nothing. ")
    peaks = sorted(rows, key=lambda r: r["kernel_peak"])
    lo, hi = peaks[0], peaks[-1]
    if lo is not hi:
        a, b = lo["active_neurons"] or 0, hi["active_neurons"] or 0
        trend = f"rises from {a} to {b}" if b > a else (f"falls from {a} to {b}" if b < a else f"stays at {a}")
        text += (f"The kernel's amplitude is the Softmax's inverse temperature: from the smallest centre value "
                 f"({lo['kernel_peak']:.3g}) to the largest ({hi['kernel_peak']:.3g}) the number of live neurons "
                 f"{trend}.")
    return text


# ------------------------------------------------------------------------------------------ gamma x sigma
def gamma_sigma_variants(gammas: Sequence[float], sigmas: Sequence[float]) -> list[dict[str, Any]]:
    """Row-major over gamma (rows) and sigma (columns)."""
    if not gammas or not sigmas:
        raise ConfigError(f"gammas {list(gammas)}, sigmas {list(sigmas)}: allowed are non-empty lists")
    return [{"train.gamma": float(g), "model.sigma": float(s)} for g in gammas for s in sigmas]


def plot_gamma_sigma(runs: Sequence[Any], rows: Sequence[dict[str, Any]], gammas: Sequence[float],
                     sigmas: Sequence[float], fig: Any = None) -> Any:
    """Small multiples: one map per (gamma, sigma), samples at their winners coloured by label, NS and TE
    in each title; rows are gamma, columns sigma."""
    from . import viz

    nr, nc = len(gammas), len(sigmas)
    if fig is None:
        fig = _figure((3.0 * nc + 1.2, 3.0 * nr))
    axes = np.asarray(fig.subplots(nr, nc, squeeze=False))
    for i, (run, r) in enumerate(zip(runs, rows, strict=True)):
        ax = axes[i // nc, i % nc]
        a = run.assignments()  # the network's own winners, as the study's figures (:func:`summarize`)
        viz.wta_map(a["winner"], a["label"], run.config.model.grid, ax=ax, legend=(i == nc - 1),
                    classes=run.resolved.get("classes"), torus=viz.is_torus(run.config.model),
                    lattice=viz.lattice_of(run.config.model),
                    title=f"γ={r['gamma']:g} σ={r['sigma']:g}\nNS {_f(r['neural_selectivity'])}  "
                          f"TE {_f(r['topographic_error'])}  live {r['active_neurons']}")
        if i % nc:
            ax.set_ylabel("")
        if i // nc < nr - 1:
            ax.set_xlabel("")
    return fig


def plot_gamma_sigma_grid(rows: Sequence[dict[str, Any]], gammas: Sequence[float], sigmas: Sequence[float],
                          axes: Sequence[Any] | None = None) -> Any:
    """Two heat maps over (gamma, sigma) drawn by ``seaborn.heatmap``: NS and topographic error, values in the cells."""
    if axes is None:
        fig = _figure((8, 3.2))
        axes = fig.subplots(1, 2)
    for ax, key, title in ((axes[0], "neural_selectivity", "neural selectivity"),
                           (axes[1], "topographic_error", "topographic error")):
        M = np.array([[np.nan if r[key] is None else r[key] for r in rows[i * len(sigmas):(i + 1) * len(sigmas)]]
                      for i in range(len(gammas))], dtype=float)
        import seaborn as sns  # draws on ``ax`` only; no global style is set

        sns.heatmap(M, ax=ax, vmin=0, vmax=1, cmap="viridis", annot=True, fmt=".2f", annot_kws={"fontsize": 9},
                    mask=np.isnan(M), xticklabels=[f"{s:g}" for s in sigmas], yticklabels=[f"{g:g}" for g in gammas],
                    cbar_kws={"shrink": 0.8}, square=True)
        for (i, j), v in np.ndenumerate(M):
            if np.isnan(v):
                ax.text(j + 0.5, i + 0.5, "n/a", ha="center", va="center", fontsize=9)
        ax.set_xlabel("sigma")
        ax.set_ylabel("gamma")
        ax.set_title(title, fontsize=10)
    return axes[0].figure


def _mean(rows: Sequence[dict[str, Any]], key: str) -> float:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(vals)) if vals else float("nan")


def read_gamma_sigma(rows: Sequence[dict[str, Any]], gammas: Sequence[float], sigmas: Sequence[float]) -> str:
    """One paragraph: the best and worst cells, and what sigma and gamma each do on average."""
    best = max(rows, key=lambda r: r["neural_selectivity"] or 0.0)
    worst = min(rows, key=lambda r: r["neural_selectivity"] or 0.0)
    by_s = {s: [r for r in rows if r["sigma"] == s] for s in sigmas}
    by_g = {g: [r for r in rows if r["gamma"] == g] for g in gammas}
    s0, s1 = sigmas[0], sigmas[-1]
    g0, g1 = gammas[0], gammas[-1]
    if len(rows) == 1:
        r = rows[0]
        return (f"One training, gamma {r['gamma']:g} and sigma {r['sigma']:g}: NS {_f(r['neural_selectivity'])} with "
                f"{r['active_neurons']} of {r['n_neurons']} neurons live, TE {_f(r['topographic_error'])}. " + ONE_SETTING)
    text = (f"Over the {len(rows)} trainings NS ranges from {_f(worst['neural_selectivity'])} (gamma {worst['gamma']:g}, "
            f"sigma {worst['sigma']:g}) to {_f(best['neural_selectivity'])} (gamma {best['gamma']:g}, sigma "
            f"{best['sigma']:g}). ")
    if s0 != s1:
        text += (f"Averaged over gamma, going from sigma {s0:g} to {s1:g} moves the live neurons from "
                 f"{_mean(by_s[s0], 'active_neurons'):.0f} to {_mean(by_s[s1], 'active_neurons'):.0f}, NS from "
                 f"{_mean(by_s[s0], 'neural_selectivity'):.3f} to {_mean(by_s[s1], 'neural_selectivity'):.3f} and the "
                 f"topographic error from {_mean(by_s[s0], 'topographic_error'):.3f} to "
                 f"{_mean(by_s[s1], 'topographic_error'):.3f}. ")
    if g0 != g1:
        text += (f"Averaged over sigma, gamma {g0:g} against {g1:g} gives NS {_mean(by_g[g0], 'neural_selectivity'):.3f} "
                 f"against {_mean(by_g[g1], 'neural_selectivity'):.3f} and TE {_mean(by_g[g0], 'topographic_error'):.3f} "
                 f"against {_mean(by_g[g1], 'topographic_error'):.3f}. ")
    if s0 != s1 and g0 != g1:  # which moves NS more: only where both were varied
        ns_spread_s = abs(_mean(by_s[s1], "neural_selectivity") - _mean(by_s[s0], "neural_selectivity"))
        ns_spread_g = abs(_mean(by_g[g1], "neural_selectivity") - _mean(by_g[g0], "neural_selectivity"))
        text += ("On this data sigma moves NS more than gamma does." if ns_spread_s > ns_spread_g else
                 "On this data gamma moves NS more than sigma does.")
    down = [f"gamma {r['gamma']:g} / sigma {r['sigma']:g}" for r in rows if collapsed(r)]
    if down:
        text += f" Collapsed (at most {COLLAPSE_LIVE} live neurons): {', '.join(down)}."
    te_rows = [r for r in rows if r.get("topographic_error") is not None]
    if te_rows:
        low = min(te_rows, key=lambda r: (r["topographic_error"], -(r["neural_selectivity"] or 0.0)))
        n = low["n_neurons"]
        if low["active_neurons"] is not None and low["active_neurons"] < 0.1 * n:
            text += (f" The lowest topographic error ({low['topographic_error']:.3f}, gamma {low['gamma']:g}, sigma "
                     f"{low['sigma']:g}) comes with only {low['active_neurons']} of {n} neurons live and NS "
                     f"{_f(low['neural_selectivity'])}: on a map squeezed onto a few neurons the two best outputs are "
                     "neighbours almost by construction, so TE is read together with NS and the live neurons.")
    return text


# --------------------------------------------------------------------------------------------- batch size
def batch_variants(batch_sizes: Sequence[int], grid: Sequence[int]) -> list[dict[str, Any]]:
    """One run per batch size N on the fixed ``grid`` (the map size n = H*W)."""
    if not batch_sizes:
        raise ConfigError("batch_sizes []: allowed is a non-empty list")
    return [{"train.batch_size": int(b), "model.grid": tuple(int(v) for v in grid)} for b in batch_sizes]


def plot_batch(rows: Sequence[dict[str, Any]], axes: Sequence[Any] | None = None) -> Any:
    """Two panels against N (log2): NS and TE; live neurons as a fraction of n."""
    if axes is None:
        fig = _figure((9, 3.4))
        axes = fig.subplots(1, 2)
    N = [r["batch_size"] for r in rows]
    n = rows[0]["n_neurons"]
    ax = axes[0]
    ax.plot(N, [r["neural_selectivity"] for r in rows], "o-", color="C0", label="NS")
    ax.plot(N, [r["active_neurons"] / n for r in rows], "s--", color="C1", label=f"live neurons / n (n = {n})")
    ax.axvline(n, color="#999999", linewidth=0.8, linestyle=":", label="N = n")
    ax.set_ylim(0, 1.05)
    ax.set_title("NS and live neurons", fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(N, [np.nan if r["topographic_error"] is None else r["topographic_error"] for r in rows], "o-", color="C2")
    ax.set_ylim(0, 1.05)
    ax.set_title("topographic error", fontsize=10)
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xticks(N)
        ax.set_xticklabels([str(v) for v in N])
        ax.set_xlabel("batch size N (pairs)")
    return axes[0].figure


def read_batch(rows: Sequence[dict[str, Any]]) -> str:
    """One paragraph: NS and live neurons against N at the fixed n, with the steps each N got."""
    n = rows[0]["n_neurons"]
    parts = [f"N = {r['batch_size']}: NS {_f(r['neural_selectivity'])}, {r['active_neurons']} live, TE "
             f"{_f(r['topographic_error'])} ({r['steps_per_epoch']} steps an epoch, {r['epochs']} epochs)" for r in rows]
    best = max(rows, key=lambda r: r["neural_selectivity"] or 0.0)
    if len(rows) == 1:
        return f"At n = {n} neurons: " + parts[0] + ". " + ONE_SETTING
    text = f"At n = {n} neurons: " + "; ".join(parts) + f". The best NS is at N = {best['batch_size']}. "
    small = [r for r in rows if r["batch_size"] < n]
    big = [r for r in rows if r["batch_size"] >= n]
    ns = [r["neural_selectivity"] or 0.0 for r in rows]
    if small and big:
        s_ns = max(r["neural_selectivity"] or 0.0 for r in small)
        b_ns = max(r["neural_selectivity"] or 0.0 for r in big)
        text += (f"The best batch smaller than the map (N < n) reaches NS {s_ns:.3f} with up to "
                 f"{max(r['active_neurons'] for r in small)} live neurons; the best batch at least as large as the map "
                 f"{b_ns:.3f}. ")
        text += ("On this data a batch smaller than the map does not cost NS (within 0.02). " if s_ns >= b_ns - 0.02 else
                 "On this data the batches at least as large as the map do better. ")
    text += (f"NS spans {max(ns) - min(ns):.3f} over a {rows[-1]['batch_size'] // rows[0]['batch_size']}-fold range "
             "of N. Larger batches also mean fewer optimizer steps for the same epochs; this comparison does not "
             "separate the two.")
    return text


# ------------------------------------------------------------------------------------------ lattice
LATTICE_RESULTS = "bench/results/lattice/hex_vs_square.json"  # bench/lattice_study.py's committed measurement


def lattice_variants() -> list[dict[str, Any]]:
    """The two runs of the lattice study: the profile's run on its square lattice, then the same on the
    hexagonal one (``model.lattice``; each neuron 6 neighbours instead of 8, urlsom_core.lattice)."""
    return [{"model.lattice": "square"}, {"model.lattice": "hex"}]


def te_adjacent(run: Any) -> float | None:
    """Topographic error at distance 1: the share of the training images whose two largest outputs (the
    network's own ``top2``) are not adjacent cells, 4 around a square cell and 6 around a hexagonal one
    (:func:`urlsom_core.lattice.are_neighbours`, wrapping on a torus). The paper's TE (Sec. V.C) counts the 8
    cells around a square cell as neighbours, so only this one compares the lattices at the same distance.
    None for a run stored without ``top2``."""
    from urlsom_core.lattice import are_neighbours

    a, m = run.assignments(), run.config.model
    if "top2" not in a:
        return None
    t = np.asarray(a["top2"])  # (N, 2) each image's two largest outputs
    return float((~are_neighbours(t[:, 0], t[:, 1], tuple(m.grid), m.lattice, m.circular)).mean())


def lattice_rows(runs: Sequence[Any]) -> list[dict[str, Any]]:
    """One row per run (:func:`summarize`), with its ``lattice`` and :func:`te_adjacent` as ``te_adjacent``."""
    rows = []
    for run in runs:
        row = summarize(run)
        row["lattice"] = run.config.model.lattice
        row["te_adjacent"] = te_adjacent(run)
        rows.append(row)
    return rows


LATTICE_FIGURES = ("neural_selectivity", "heldout_neural_selectivity", "topographic_error", "te_distance_1",
                   "active_neurons")


def read_lattice_results(path: Any) -> dict[str, dict[str, Any]]:
    """The committed hex-vs-square measurement (``bench/lattice_study.py``'s JSON) summarised per study
    (``digits``, ``cifar10``): ``runs`` per lattice, the ``mean`` per lattice and figure
    (:data:`LATTICE_FIGURES`), and ``diff``, hex - square per seed run on both, as (mean, min, max); the
    numbers of the Markdown table beside the file."""
    import json
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"lattice results {str(p)!r}: no such file; allowed is bench/lattice_study.py's JSON")
    out: dict[str, dict[str, Any]] = {}
    for study, entries in json.loads(p.read_text())["studies"].items():
        done = [e for e in entries if e.get("rc") == 0 and e.get("figures")]
        by = {lat: {e["seed"]: e["figures"] for e in done if e["lattice"] == lat} for lat in ("square", "hex")}
        mean = {lat: {k: float(np.mean([f[k] for f in by[lat].values() if f.get(k) is not None]))
                      for k in LATTICE_FIGURES if any(f.get(k) is not None for f in by[lat].values())}
                for lat in by if by[lat]}
        seeds = sorted(set(by["square"]) & set(by["hex"]))
        diff = {}
        for k in LATTICE_FIGURES:
            d = [by["hex"][s][k] - by["square"][s][k] for s in seeds
                 if by["hex"][s].get(k) is not None and by["square"][s].get(k) is not None]
            if d:
                diff[k] = (float(np.mean(d)), float(min(d)), float(max(d)))
        out[study] = {"runs": {lat: len(by[lat]) for lat in by}, "seeds": len(seeds), "mean": mean, "diff": diff}
    return out


def _by_lattice(rows: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    lat = {r["lattice"]: r for r in rows}
    if set(lat) != {"square", "hex"}:
        raise ConfigError(f"lattices {sorted(lat)}: allowed is one square and one hex run")
    return lat["square"], lat["hex"]


def read_lattice(rows: Sequence[dict[str, Any]]) -> str:
    """One paragraph on this page's two runs: NS, TE, TE at distance 1 and live neurons, hex against square."""
    sq, hx = _by_lattice(rows)

    def d(k: str) -> str:
        return "n/a" if sq.get(k) is None or hx.get(k) is None else f"{hx[k] - sq[k]:+.3f}"

    text = (f"On this profile's run, the hexagonal map reaches NS {_f(hx['neural_selectivity'])} against "
            f"{_f(sq['neural_selectivity'])} on the square one ({d('neural_selectivity')}), with "
            f"{hx['active_neurons']} and {sq['active_neurons']} of {sq['n_neurons']} neurons live. TE "
            f"{_f(hx['topographic_error'])} against {_f(sq['topographic_error'])}: the square lattice's TE counts "
            "the 8 cells around a neuron as neighbours, the hexagonal one's the 6 around it, so the square map "
            "is forgiven its diagonals. At distance 1 on both (4 sides of a square cell, 6 of a hexagon) TE is "
            f"{_f(hx['te_adjacent'])} against {_f(sq['te_adjacent'])} ({d('te_adjacent')}).")
    return text + " One seed: a difference below the spread between seeds (the measurement below) says nothing."


def _diff(df: dict[str, tuple[float, float, float]], k: str, seeds: int, digits: int = 3) -> str:
    """A difference (mean, min, max) as the committed table writes it: the mean, with [min, max] over seeds."""
    if k not in df:
        return "n/a"
    m, lo, hi = df[k]
    return f"{m:+.{digits}f}" if seeds == 1 else f"{m:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def read_lattice_committed(res: dict[str, dict[str, Any]], path: str = LATTICE_RESULTS) -> str:
    """The committed measurement's readings (:func:`read_lattice_results`), one sentence per study, as the
    file states them: hex - square per seed, mean [min, max]."""
    names = {"digits": "scikit-learn digits (the quick profile's Fig. 4 run)", "cifar10": "10,000 CIFAR-10 images"}
    parts = []
    for study, r in sorted(res.items(), key=lambda kv: list(names).index(kv[0]) if kv[0] in names else len(names)):
        df = r["diff"]

        parts.append(f"on {names.get(study, study)}, {r['seeds']} seed(s), hex - square: NS "
                     f"{_diff(df, 'neural_selectivity', r['seeds'])}, held-out NS "
                     f"{_diff(df, 'heldout_neural_selectivity', r['seeds'])}, TE {_diff(df, 'topographic_error', r['seeds'])}, "
                     f"TE at distance 1 {_diff(df, 'te_distance_1', r['seeds'])}, live neurons "
                     f"{_diff(df, 'active_neurons', r['seeds'], 1)}")
    return (f"The committed measurement (`{path.rsplit('.', 1)[0]}.md`, shown below; `bench/lattice_study.py`; "
            "mean [min, max] over seeds): " + "; ".join(parts) + ".")


def committed_markdown(path: Any) -> str:
    """The Markdown file beside a committed measurement, for a page of its own: its title line dropped (the
    page has one) and its sections one level lower."""
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"results table {str(p)!r}: no such file; allowed is a committed Markdown table")
    lines = p.read_text().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join("#" + ln if ln.startswith("## ") else ln for ln in lines).strip() + "\n"

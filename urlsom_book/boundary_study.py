"""The boundary study: what the fixed convolution sees beyond the map's edge, against the filter's width.

The paper is silent on the boundary: Sec. III.B says only that t-student filters "require filter size that
is bigger than SOM size to avoid edge artifacts", and its 'same' convolution (TensorFlow's
``padding='same'``) pads with zeros, the reading of ``ModelConfig.boundary = "zeros"`` and of the paper
profile. A neuron at an edge or corner then has a truncated neighbourhood; this study measures what each
boundary mode (``config.BOUNDARIES``) does to the map, for several sigmas, over seeds.

``bench/boundary_study.py`` trains the runs (through the run store) and writes ``results.json``; the helpers
here build its configs, turn each run into a row, aggregate rows over seeds, and draw the book page's
heatmap. Example:

    >>> from urlsom_core.config import RunConfig
    >>> base = RunConfig.from_dict({"model": {"grid": [4, 4]}})
    >>> [(m, s, seed) for m, s, seed, _ in study_configs(base, ["zeros", "circular"], [1.0], [0])]
    [('zeros', 1.0, 0), ('circular', 1.0, 0)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from urlsom_core.config import BOUNDARIES, ConfigError, ModelConfig, RunConfig
from urlsom_core.defaults import CPU_SETTING, with_defaults

MODES = BOUNDARIES  # zeros, circular, reflect, mass
SIGMAS = (3.0, 5.0, 10.0)

# (key in a row, column title): the table's quantities, in order
COLUMNS: tuple[tuple[str, str], ...] = (
    ("neural_selectivity", "NS"),
    ("heldout_neural_selectivity", "held-out NS"),
    ("active_neurons", "live neurons"),
    ("topographic_error", "TE"),
    ("corner_over_representation", "corners x"),
    ("border_over_representation", "border x"),
    ("usage_evenness", "evenness"),
)


def check_modes(modes: Sequence[str]) -> list[str]:
    """The modes, or a one-line ConfigError naming the first unknown one and what is allowed."""
    for m in modes:
        if m not in MODES:
            raise ConfigError(f"--modes {m!r}: allowed are {', '.join(MODES)}")
    if not modes:
        raise ConfigError(f"--modes: none given; allowed are {', '.join(MODES)}")
    return list(dict.fromkeys(modes))


def check_sigmas(sigmas: Sequence[float]) -> list[float]:
    """The sigmas as floats, or a one-line ConfigError for one that is not a finite number > 0."""
    for s in sigmas:
        if not (isinstance(s, (int, float)) and math.isfinite(s) and s > 0):
            raise ConfigError(f"--sigmas {s}: allowed are numbers > 0")
    if not sigmas:
        raise ConfigError("--sigmas: none given; allowed are numbers > 0")
    return list(dict.fromkeys(float(s) for s in sigmas))


def digits_config(epochs: int | None = None) -> RunConfig:
    """The study's digits run: the digits defaults (``defaults.defaults_for``), a 30x30 map and a stratified
    20% held-out split (seed 0) for held-out NS; ``epochs`` replaces the defaults' 100."""
    raw: dict[str, Any] = {"data": {"dataset": "digits", "holdout": 0.2}, "model": {"grid": [30, 30]}}
    if epochs is not None:
        raw["train"] = {"epochs": epochs}
    return RunConfig.from_dict(with_defaults("digits", raw))


def study_configs(base: RunConfig, modes: Sequence[str], sigmas: Sequence[float],
                  seeds: Sequence[int]) -> list[tuple[str, float, int, RunConfig]]:
    """(mode, sigma, seed, config) for every combination, ``base`` changed only in model.boundary,
    model.sigma and train.seed. Raises ConfigError for a combination the config refuses."""
    out = []
    for mode in modes:
        for sigma in sigmas:
            for seed in seeds:
                cfg = base.replace(**{"model.boundary": mode, "model.sigma": float(sigma), "train.seed": int(seed)})
                out.append((mode, float(sigma), int(seed), cfg))
    return out


def cpu_model(sigma: float | None = None) -> ModelConfig:
    """The model of the study's CIFAR-10 runs: ``defaults.CPU_SETTING`` (the
    settings of bench/configs/cifar10_cpu.yaml: sum-normalised kernel x 32 at sigma 2) on a 30x30 map, at
    ``sigma`` when given."""
    model = {**CPU_SETTING["model"], "grid": (30, 30)}
    if sigma is not None:
        model["sigma"] = float(sigma)
    return RunConfig.from_dict({"model": model}).model


def logit_gap(model: ModelConfig) -> float:
    """The logit gap a unit of the projection opens between a neuron and its nearest neighbour: the fixed
    kernel's centre minus the cell next to it (the convolution of Eq. 1, Sec. III.B), after its norm and gain.

    Parameters
    ----------
    model : ModelConfig
        Its filter, sigma or scale, ``kernel_norm`` and ``kernel_gain`` set the kernel (``model.build_kernel``).

    Returns
    -------
    float
        ``K[c, c] - K[c, c + 1]`` for the kernel K (k, k) with centre c; ``kernel_gain`` exactly for
        ``kernel_norm: neighbour``. A sum-normalised Gaussian's gap falls as sigma^-4 (peak
        1 / (2 pi sigma^2), curvature 1 / sigma^2).

    Example
    -------
    >>> round(logit_gap(cpu_model()), 3)     # the CIFAR-10 config: sum x 32 at sigma 2
    0.15
    """
    from urlsom_core.model import build_kernel

    k = build_kernel(model)  # (k, k), float32
    c = k.shape[-1] // 2
    return float(k[c, c] - k[c, c + 1]) if k.shape[-1] > 1 else float(k[c, c])


def run_row(run: Any, dataset: str, mode: str, sigma: float, seed: int) -> dict[str, Any]:
    """One run's line of results.json: its numbers, config, key, training and wall time, provenance.

    The usage figures come from metrics.json, or from the run's assignments when it predates them."""
    from urlsom_core.evaluation import readout_assignments, readout_figures
    from urlsom_core.metrics import usage_metrics

    m = readout_figures(run.metrics)  # the map as its run reads it out (the network's own without a readout)
    torus = run.config.model.circular
    if "corner_over_representation" not in m or (torus and "corner_chance" not in m):
        m.update(usage_metrics(readout_assignments(run.assignments())["winner"], tuple(run.config.model.grid), torus))
    row: dict[str, Any] = {"dataset": dataset, "boundary": mode, "sigma": sigma, "seed": seed,
                           "key": run.config.key(), "path": str(run.path), "cache_hit": bool(run.cache_hit)}
    for k, _ in COLUMNS:
        row[k] = m.get(k)
    row.update(live_share=m.get("live_share"), n_neurons=m.get("n_neurons"), epochs=m.get("epochs_trained"),
               stop_reason=m.get("stop_reason"), train_seconds=m.get("train_seconds"),
               wall_time_s=run.manifest.get("wall_time_s"), config=run.config.to_dict(),
               provenance=run.manifest.get("provenance"))
    return row


def aggregate(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows grouped by (dataset, boundary, sigma), in first-seen order: for each quantity of ``COLUMNS`` its
    mean and spread (sample standard deviation, 0 for one seed) over the seeds that have it (None: none)."""
    groups: dict[tuple[str, str, float], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["boundary"], float(r["sigma"])), []).append(r)
    out = []
    for (dataset, mode, sigma), rs in groups.items():
        g: dict[str, Any] = {"dataset": dataset, "boundary": mode, "sigma": sigma, "seeds": [r["seed"] for r in rs]}
        for k, _ in COLUMNS:
            v = np.array([r[k] for r in rs if isinstance(r.get(k), (int, float))], dtype=np.float64)
            g[k] = {"mean": float(v.mean()) if v.size else None,
                    "sd": float(v.std(ddof=1)) if v.size > 1 else (0.0 if v.size else None), "n": int(v.size)}
        out.append(g)
    return out


def _cell(stat: dict[str, Any], key: str) -> str:
    if stat["mean"] is None:
        return "-"
    fmt = ".0f" if key == "active_neurons" else ".3f" if key in ("neural_selectivity", "heldout_neural_selectivity",
                                                                   "usage_evenness", "topographic_error") else ".2f"
    return f"{stat['mean']:{fmt}} ± {stat['sd']:{fmt}}" if stat["n"] > 1 else f"{stat['mean']:{fmt}}"


def markdown_table(groups: Sequence[dict[str, Any]]) -> str:
    """One side-by-side Markdown table: a line per (dataset, boundary, sigma), each quantity as
    mean ± spread over its seeds (the spread is left out for one seed)."""
    head = ["dataset", "boundary", "sigma", "seeds"] + [t for _, t in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for g in groups:
        cells = [g["dataset"], g["boundary"], f"{g['sigma']:g}", str(len(g["seeds"]))]
        cells += [_cell(g[k], k) for k, _ in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def heatmap(groups: Sequence[dict[str, Any]], key: str = "corner_over_representation", dataset: str | None = None,
            ax: Any = None, cmap: str = "viridis") -> Any:
    """A mode x sigma heatmap of one quantity's mean over seeds (``key`` one of ``COLUMNS``' keys), each cell
    written in; ``dataset`` picks one dataset's groups (default the first). Corner and border
    over-representation are coloured blue-white-red with white at 1 (an even share). Returns the figure."""
    from .viz import _axes

    titles = dict(COLUMNS)
    if key not in titles:
        raise ValueError(f"key {key!r}: allowed are {', '.join(titles)}")
    if not groups:
        raise ValueError("heatmap: no results given")
    dataset = dataset or groups[0]["dataset"]
    gs = [g for g in groups if g["dataset"] == dataset]
    if not gs:
        raise ValueError(f"dataset {dataset!r}: allowed are {', '.join(sorted({g['dataset'] for g in groups}))}")
    modes = list(dict.fromkeys(g["boundary"] for g in gs))
    sigmas = sorted({g["sigma"] for g in gs})
    z = np.full((len(modes), len(sigmas)), np.nan)
    for g in gs:
        if g[key]["mean"] is not None:
            z[modes.index(g["boundary"]), sigmas.index(g["sigma"])] = g[key]["mean"]
    fig, ax = _axes(ax, (4.5, 3.2))
    norm = None
    if key.endswith("_over_representation") and np.isfinite(z).any():  # 1 is an even share: white, centred
        from matplotlib.colors import TwoSlopeNorm

        lo, hi = float(np.nanmin(z)), float(np.nanmax(z))
        norm = TwoSlopeNorm(vcenter=1.0, vmin=min(lo, 1.0 - 1e-6), vmax=max(hi, 1.0 + 1e-6))
        cmap = "coolwarm"
    im = ax.imshow(z, cmap=cmap, aspect="auto", norm=norm)
    for i in range(len(modes)):
        for j in range(len(sigmas)):
            if np.isfinite(z[i, j]):
                ax.text(j, i, f"{z[i, j]:.2f}", ha="center", va="center", fontsize=8, color="white",
                        path_effects=_outline())
    ax.set_xticks(range(len(sigmas)), [f"{s:g}" for s in sigmas])
    ax.set_yticks(range(len(modes)), modes)
    ax.set_xlabel("sigma (neurons)")
    ax.set_ylabel("boundary")
    ax.set_title(f"{titles[key]}, {dataset} (mean over seeds)", fontsize=9)
    fig.colorbar(im, ax=ax)
    return fig


def _outline() -> list[Any]:
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=1.5, foreground="black")]


def read_results(path: str) -> tuple[dict[str, Any] | None, str | None]:
    """(results, None) from a results.json written by ``bench/boundary_study.py``, or (None, one line
    saying why not: the file is missing or is not such a file)."""
    import json
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        return None, (f"No boundary study results at {path}: run `python bench/boundary_study.py` "
                      "(see its --help) to make them.")
    try:
        res = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        return None, f"{path} is not readable as JSON ({str(e).splitlines()[0]})."
    if not isinstance(res, dict) or not isinstance(res.get("groups"), list) or not res["groups"]:
        return None, f"{path} holds no boundary study groups; allowed is a results.json of bench/boundary_study.py."
    return res, None


def reading(groups: Sequence[dict[str, Any]]) -> str:
    """A sentence per (dataset, sigma), from the numbers: the mode with the highest NS (and held-out NS when
    there is one) and the mode whose corners and border are nearest to an even share (1)."""
    out = []
    keyed: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for g in groups:
        keyed.setdefault((g["dataset"], g["sigma"]), []).append(g)

    def mean(g: dict[str, Any], k: str) -> float | None:
        return g[k]["mean"]

    for (dataset, sigma), gs in keyed.items():
        parts = []
        for k, what in (("neural_selectivity", "NS"), ("heldout_neural_selectivity", "held-out NS")):
            have = [g for g in gs if mean(g, k) is not None]
            if have:
                best = max(have, key=lambda g: mean(g, k))
                parts.append(f"highest {what} {mean(best, k):.3f} with {best['boundary']}")
        have = [g for g in gs if mean(g, "corner_over_representation") is not None
                and mean(g, "border_over_representation") is not None]
        if have:
            def off(g: dict[str, Any]) -> float:
                return max(abs(math.log(max(mean(g, k), 1e-3))) for k in ("corner_over_representation",
                                                                           "border_over_representation"))
            even = min(have, key=off)
            parts.append(f"corners and border nearest an even share with {even['boundary']} "
                         f"(corners {mean(even, 'corner_over_representation'):.2f}x, "
                         f"border {mean(even, 'border_over_representation'):.2f}x)")
        if parts:
            out.append(f"{dataset}, sigma {sigma:g}: " + "; ".join(parts) + ".")
    return " ".join(out)


def heatmaps(groups: Sequence[dict[str, Any]], keys: Sequence[str] = ("corner_over_representation",
                                                                     "neural_selectivity")) -> Any:
    """A figure of ``heatmap`` panels: a row per dataset, a column per quantity of ``keys``."""
    from matplotlib.figure import Figure

    datasets = list(dict.fromkeys(g["dataset"] for g in groups))
    fig = Figure(figsize=(4.6 * len(keys), 3.2 * len(datasets)), layout="constrained")
    axes = fig.subplots(len(datasets), len(keys), squeeze=False)
    for i, d in enumerate(datasets):
        for j, k in enumerate(keys):
            heatmap(groups, k, dataset=d, ax=axes[i][j])
    return fig

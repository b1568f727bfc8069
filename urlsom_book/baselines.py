"""Baselines on the same data and the same grid as a URL-SOM run, and NS as a function of the map size.

One table per dataset (``baseline_table``), one row per method, each scored by the same functions
(``urlsom_core.metrics``) on the same train / held-out split:

=========================  ====================================================================================
URL-SOM                    the run itself (winners, top-2 and training time from the run store)
MiniSom, raw pixels        a classical SOM (MiniSom, Euclidean, Gaussian neighbourhood) on the grid of the
                           run, on the images' pixels scaled to [0, 1] (at ``raw_size``, e.g. digits' own 8x8)
MiniSom, embedding         the same SOM on the frozen URL-SOM backbone's embedding (global-pooled features)
k-means                    scikit-learn KMeans with K = the live neurons of the map on the same input
random map                 every sample sent to one of K neurons at random (``metrics.chance_neural_selectivity``)
=========================  ====================================================================================

A classical SOM's "two largest outputs" are its two nearest units (smallest Euclidean distance; ties to
the lower index, as for URL-SOM), so its topographic error and contiguity are measured like URL-SOM's;
k-means and the random map have no grid, their TE and contiguity are ``None``. The SOM settings
(``SomSettings``) are stated in every result file. Wall time is the fitting plus assignment time of the
method on this machine; URL-SOM's is its recorded training time (``train_seconds``), the MiniSom and
k-means rows on the embedding do not include the URL-SOM training that made the embedding.

Example:
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((60, 4))
    >>> w = fit_minisom(X, (3, 3), SomSettings("tiny", sigma=1.0, learning_rate=0.5, iterations=200))
    >>> som_top2(w, X).shape
    (60, 2)
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from urlsom_core.config import ConfigError, DataConfig, RunConfig
from urlsom_core.data import ImageData, resolve
from urlsom_core.metrics import (
    chance_neural_selectivity,
    cluster_scores,
    contiguity,
    heldout_neural_selectivity,
    heldout_on_dead,
    neural_selectivity,
    top2,
    topographic_error,
)

DECAYS = {  # MiniSom's decay functions: (learning rate, sigma)
    "asymptotic": ("asymptotic_decay", "asymptotic_decay"),  # MiniSom's default: x / (1 + t / (T/2))
    "linear": ("linear_decay_to_zero", "linear_decay_to_one"),  # lr -> 0, sigma -> 1 at the last iteration
}


@dataclass(frozen=True)
class SomSettings:
    """One MiniSom configuration: initial ``sigma`` and ``learning_rate``, their ``decay``, the number of
    single-sample ``iterations`` (samples drawn in random order), weights initialised from random training
    samples, all seeded by ``seed``."""

    name: str
    sigma: float = 1.0
    learning_rate: float = 0.5
    iterations: int = 50_000
    decay: str = "asymptotic"
    seed: int = 0

    def __post_init__(self) -> None:
        if not (self.sigma > 0 and self.learning_rate > 0):
            raise ConfigError(f"SOM {self.name!r}: sigma {self.sigma}, learning_rate {self.learning_rate}: allowed is > 0")
        if not (isinstance(self.iterations, int) and self.iterations >= 1):
            raise ConfigError(f"SOM {self.name!r}: iterations {self.iterations}: allowed is an integer >= 1")
        if self.decay not in DECAYS:
            raise ConfigError(f"SOM {self.name!r}: decay {self.decay!r}: allowed is one of {', '.join(DECAYS)}")

    def describe(self) -> str:
        end = "sigma/3, lr/3 at the end (MiniSom's asymptotic decay)" if self.decay == "asymptotic" else \
            "sigma -> 1 and lr -> 0 linearly"
        return (f"sigma {self.sigma:g}, learning rate {self.learning_rate:g}, {end}, {self.iterations:,} "
                f"iterations, seed {self.seed}")

    def replace(self, **kw: Any) -> SomSettings:
        return dataclasses.replace(self, **kw)


# Two classical settings. sigma 1 (MiniSom's own default neighbourhood shrinking to 1/3) gives the higher
# held-out NS on digits (raw pixels: 0.942 against 0.828; bench/results/baselines_digits.md) but barely orders
# the map (TE 0.273 against 0.006). sigma 3 -> 1 (linear) is the textbook ordering phase then fine tuning: a
# low topographic error at a lower NS. Both are shown.
SOM_SETTINGS = (
    SomSettings("MiniSom σ=1", sigma=1.0, learning_rate=0.5, decay="asymptotic"),
    SomSettings("MiniSom σ=3→1", sigma=3.0, learning_rate=0.5, decay="linear"),
)


# ----------------------------------------------------------------------------------------------- inputs
def raw_pixels(data: ImageData) -> np.ndarray:
    """(N, C*S*S) float32 pixels in [0, 1]."""
    return data.images.reshape(len(data), -1).numpy().astype(np.float32) / 255.0


def raw_splits(data_cfg: DataConfig, raw_size: int | None) -> tuple[ImageData, ImageData | None]:
    """The train / held-out images of ``data_cfg`` at ``raw_size`` pixels (None: the network's input size).
    The split does not depend on the size (same seed, same labels), so the rows are on the same samples."""
    cfg = data_cfg if raw_size is None else dataclasses.replace(data_cfg, input_size=raw_size)
    s = resolve(cfg)
    return s.train, s.heldout


# --------------------------------------------------------------------------------------------- methods
def fit_minisom(X: np.ndarray, grid: tuple[int, int], s: SomSettings) -> np.ndarray:
    """Train MiniSom on ``X`` (N, D); returns the codebook (H*W, D), row-major like URL-SOM's map."""
    from minisom import MiniSom

    lr_decay, sigma_decay = DECAYS[s.decay]
    X = np.asarray(X, dtype=np.float64)
    som = MiniSom(grid[0], grid[1], X.shape[1], sigma=s.sigma, learning_rate=s.learning_rate,
                  neighborhood_function="gaussian", topology="rectangular", activation_distance="euclidean",
                  random_seed=s.seed, decay_function=lr_decay, sigma_decay_function=sigma_decay)
    som.random_weights_init(X)
    som.train(X, s.iterations, random_order=True)
    return som.get_weights().reshape(grid[0] * grid[1], X.shape[1]).copy()


def som_top2(weights: np.ndarray, X: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Each sample's two nearest units (Euclidean; ties to the lower index), (N, 2)."""
    W = np.asarray(weights, dtype=np.float64)
    w2 = (W**2).sum(1)
    out = []
    for i in range(0, len(X), chunk):
        x = np.asarray(X[i : i + chunk], dtype=np.float64)
        d = (x**2).sum(1)[:, None] - 2.0 * x @ W.T + w2[None]
        out.append(top2(d, largest=False))
    return np.concatenate(out) if out else np.zeros((0, 2), dtype=np.int64)


def fit_kmeans(X: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """scikit-learn KMeans (k-means++, one initialisation, Lloyd) with ``k`` clusters; the centres (k, D)."""
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(np.asarray(X, dtype=np.float32))
    return km.cluster_centers_


def nearest(centres: np.ndarray, X: np.ndarray) -> np.ndarray:
    return som_top2(centres, X)[:, 0] if len(centres) > 1 else np.zeros(len(X), dtype=np.int64)


# ---------------------------------------------------------------------------------------------- scoring
def score(method: str, inputs: str, n_neurons: int, train_w: np.ndarray, train_y: np.ndarray,
          test_w: np.ndarray | None, test_y: np.ndarray | None, seconds: float,
          grid: tuple[int, int] | None = None, train_top2: np.ndarray | None = None, torus: bool = False,
          **extra: Any) -> dict[str, Any]:
    """One table row. TE and contiguity need a grid (``grid`` and ``train_top2``); else they are None.
    ``torus``: the grid wraps (a URL-SOM map with ``boundary: circular``), so they use toroidal distance."""
    ns = neural_selectivity(train_w, train_y, n_neurons)
    nmi, ari = cluster_scores(train_w, train_y)
    row: dict[str, Any] = {
        "method": method, "inputs": inputs, "n_neurons": int(n_neurons),
        "neural_selectivity": ns["neural_selectivity"],
        "heldout_neural_selectivity": (heldout_neural_selectivity(train_w, train_y, test_w, test_y, n_neurons)
                                       if test_w is not None else None),
        "heldout_on_dead": _num(heldout_on_dead(train_w, test_w, n_neurons)) if test_w is not None else None,
        "active_neurons": ns["active_neurons"],
        "topographic_error": None, "contiguity": None, "contiguity_shuffled": None,
        "nmi": nmi, "ari": ari, "wall_seconds": round(float(seconds), 2),
    }
    if grid is not None:
        c, cs = contiguity(train_w, train_y, grid, torus)
        row["contiguity"], row["contiguity_shuffled"] = _num(c), _num(cs)
        if train_top2 is not None:
            row["topographic_error"] = _num(topographic_error(train_top2, grid, torus))
    row.update(extra)
    return row


def _num(v: float) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def urlsom_row(run: Any) -> dict[str, Any]:
    """The URL-SOM row, from a run of the store (``runs.Run``): its winners on train and held-out data, as the
    run reads its map out (a readout's winners where one was fitted after training, else the network's own)."""
    from urlsom_core.evaluation import readout_assignments

    a = readout_assignments(run.assignments())
    cfg: RunConfig = run.config
    grid = tuple(cfg.model.grid)
    return score("URL-SOM", "images (the run's own network)", cfg.model.n_neurons, a["winner"], a["label"],
                 a.get("heldout_winner"), a.get("heldout_label"), float(run.metrics.get("train_seconds", 0.0)),
                 grid=grid, train_top2=a["top2"], torus=cfg.model.circular, run_key=cfg.key(),
                 epochs=run.metrics.get("epochs_trained"),
                 stop_reason=run.metrics.get("stop_reason"))


def som_rows(X: np.ndarray, y: np.ndarray, Xe: np.ndarray | None, ye: np.ndarray | None, grid: tuple[int, int],
             inputs: str, settings: Sequence[SomSettings], log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """One row per MiniSom setting on ``X`` (held-out ``Xe``)."""
    rows = []
    n = grid[0] * grid[1]
    for s in settings:
        log(f"  {s.name} on {inputs}: {s.describe()}")
        t0 = time.time()
        W = fit_minisom(X, grid, s)
        t2 = som_top2(W, X)
        te = som_top2(W, Xe)[:, 0] if Xe is not None else None
        rows.append(score(s.name, inputs, n, t2[:, 0], y, te, ye, time.time() - t0, grid=grid, train_top2=t2,
                          settings=dataclasses.asdict(s), settings_text=s.describe()))
    return rows


def kmeans_row(X: np.ndarray, y: np.ndarray, Xe: np.ndarray | None, ye: np.ndarray | None, k: int, inputs: str,
               k_from: str, seed: int = 0, log: Callable[[str], None] = print) -> dict[str, Any]:
    log(f"  k-means K={k} on {inputs}")
    t0 = time.time()
    C = fit_kmeans(X, k, seed)
    w = nearest(C, X)
    we = nearest(C, Xe) if Xe is not None else None
    return score(f"k-means K={k}", inputs, k, w, y, we, ye, time.time() - t0, k_from=k_from, seed=seed)


def random_row(y: np.ndarray, ye: np.ndarray | None, k: int, k_from: str, seed: int = 0) -> dict[str, Any]:
    t0 = time.time()
    r = chance_neural_selectivity(y, k, ye, repeats=10, seed=seed)
    return {"method": f"random map K={k}", "inputs": "none", "n_neurons": k, "neural_selectivity": r["neural_selectivity"],
            "heldout_neural_selectivity": r.get("heldout_neural_selectivity"), "active_neurons": None,
            "topographic_error": None, "contiguity": None, "contiguity_shuffled": None, "nmi": None, "ari": None,
            "wall_seconds": round(time.time() - t0, 2), "k_from": k_from}


def standardize(X: np.ndarray, Xe: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Z-score every feature with the training split's mean and std (constant features left at 0)."""
    m, s = X.mean(0), X.std(0)
    s[s < 1e-8] = 1.0
    return (X - m) / s, (None if Xe is None else (Xe - m) / s)


def baseline_table(run: Any | None, data_cfg: DataConfig, grid: tuple[int, int], raw_size: int | None = None,
                   settings: Sequence[SomSettings] = SOM_SETTINGS, kmeans: bool = True, seed: int = 0,
                   device: str = "cpu", log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Every row for one dataset. ``run`` is the URL-SOM run (``runs.Run``) on ``data_cfg`` and ``grid``;
    without it (not trained yet) the URL-SOM and embedding rows are left out."""
    rows: list[dict[str, Any]] = []
    if run is not None:
        if tuple(run.config.model.grid) != tuple(grid) or run.config.data != data_cfg:
            raise ConfigError(f"run {run.config.key()}: its grid/data differ from the table's; allowed is the same "
                              "data and grid for every row")
        rows.append(urlsom_row(run))
    log(f"raw pixels ({raw_size or 'input'} px) of {data_cfg.dataset}")
    tr, te = raw_splits(data_cfg, raw_size)
    y, ye = tr.labels.numpy(), (te.labels.numpy() if te is not None else None)
    X, Xe = raw_pixels(tr), (raw_pixels(te) if te is not None else None)
    side = int(tr.images.shape[-1])
    inputs = f"raw pixels ({tr.channels}x{side}x{side})"
    raw = som_rows(X, y, Xe, ye, grid, inputs, settings, log)
    rows += raw
    if kmeans and raw:
        k = max(2, int(raw[0]["active_neurons"]))
        rows.append(kmeans_row(X, y, Xe, ye, k, inputs, f"live neurons of {raw[0]['method']} on raw pixels", seed, log))
    if run is not None:
        a = run.assignments()
        if not np.array_equal(a["label"], y):
            raise ConfigError(f"run {run.config.key()}: its training labels differ from the raw-pixel split")
        log("embedding of the frozen URL-SOM backbone")
        t0 = time.time()
        sp = run.splits()
        E = run.predict(sp.train, device, embed=True)["embedding"]
        Ee = run.predict(sp.heldout, device, embed=True)["embedding"] if sp.heldout is not None else None
        emb_seconds = time.time() - t0
        E, Ee = standardize(E, Ee)
        inputs = f"URL-SOM embedding ({E.shape[1]}-d, standardised)"
        emb = som_rows(E, y, Ee, ye, grid, inputs, settings, log)
        for r in emb:
            r["embedding_seconds"] = round(emb_seconds, 2)
        rows += emb
        live = int(rows[0]["active_neurons"])
        if kmeans:
            rows.append(kmeans_row(E, y, Ee, ye, max(2, live), inputs, "live neurons of URL-SOM", seed, log))
        rows.append(random_row(y, ye, live, "live neurons of URL-SOM", seed))
    elif raw:
        rows.append(random_row(y, ye, int(raw[0]["active_neurons"]), f"live neurons of {raw[0]['method']}", seed))
    for r in rows:
        r.setdefault("grid", list(grid))
    return rows


# ---------------------------------------------------------------------------------------------- output
COLUMNS = (("method", "method"), ("inputs", "inputs"), ("neural_selectivity", "NS"),
           ("heldout_neural_selectivity", "held-out NS"), ("active_neurons", "live neurons"),
           ("topographic_error", "TE"), ("contiguity", "contiguity (shuffled)"), ("nmi", "NMI"),
           ("wall_seconds", "wall time (s)"))


def _cell(row: dict[str, Any], key: str) -> str:
    v = row.get(key)
    if key == "contiguity":
        return "n/a" if v is None else f"{v:.3f} ({row['contiguity_shuffled']:.3f})"
    if key == "active_neurons":
        return "n/a" if v is None else f"{v} / {row['n_neurons']}"
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.1f}" if key == "wall_seconds" else f"{v:.3f}"
    return str(v)


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a Markdown table (n/a: the measure needs a grid, or the method has no neurons)."""
    head = "| " + " | ".join(label for _, label in COLUMNS) + " |"
    sep = "|" + "|".join(" --- " for _ in COLUMNS) + "|"
    body = ["| " + " | ".join(_cell(r, k) for k, _ in COLUMNS) + " |" for r in rows]
    return "\n".join([head, sep, *body])


def reading(rows: Sequence[dict[str, Any]]) -> str:
    """A few sentences computed from a table: the held-out NS ranking, and URL-SOM's topology beside the
    classical SOM's on raw pixels."""
    ranked = [r for r in rows if r.get("heldout_neural_selectivity") is not None]
    if not ranked:
        return ""
    ranked.sort(key=lambda r: -r["heldout_neural_selectivity"])
    short = {"raw pixels": "raw pixels", "URL-SOM embedding": "embedding", "images": "", "none": ""}
    names = []
    for r in ranked:
        where = short.get(r["inputs"].split(" (")[0], r["inputs"])
        names.append(f"{r['method']}{' on ' + where if where else ''} {r['heldout_neural_selectivity']:.3f}")
    text = "Held-out NS, highest first: " + ", ".join(names) + "."
    u = next((r for r in rows if r["method"] == "URL-SOM"), None)
    soms = [r for r in rows if r["method"].startswith("MiniSom") and r["inputs"].startswith("raw pixels")]
    if u is not None and soms and u.get("topographic_error") is not None:
        def f(v: float | None) -> str:
            return "undefined" if v is None else f"{v:.3f}"

        te = " and ".join(f"{f(r['topographic_error'])} for {r['method']}" for r in soms)
        ct = " and ".join(f(r["contiguity"]) for r in soms)
        text += (f" URL-SOM's topographic error is {f(u['topographic_error'])}, against {te} on raw pixels; its "
                 f"contiguity {f(u['contiguity'])} against {ct}")
        text += (f" (a map without topology: about {u['contiguity_shuffled']:.2f})." if u["contiguity_shuffled"] is not None
                 else " (undefined: no two live URL-SOM neurons are adjacent).")
    return text


# --------------------------------------------------------------------------------------- NS versus K
GRIDS = ((10, 10), (20, 20), (30, 30), (40, 40))


def find_run(cfg: RunConfig, root: Any) -> Any:
    """A complete run of exactly ``cfg`` in the store: ``root/<key>`` or any other folder of ``root`` (a run
    trained with ``urlsom train --out runs/NAME``), else None."""
    from pathlib import Path

    from urlsom_core.runs import Run, incomplete_reason, run_dir

    candidates = [run_dir(cfg, root)] + sorted(p.parent for p in Path(root).glob("*/config.json"))
    for path in candidates:
        if path.is_dir() and incomplete_reason(path, cfg) is None:
            return Run.load(path, cache_hit=True)
    return None


def ns_versus_k(base: RunConfig, grids: Sequence[tuple[int, int]] = GRIDS, root: str = "runs",
                raw_size: int | None = None, som: SomSettings | None = SOM_SETTINGS[0], kmeans: bool = True,
                urlsom: str = "train", device: str = "auto", seed: int = 0,
                log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """NS and held-out NS against the number of neurons K, so that no NS is read without its K.

    For each grid: URL-SOM (``base`` with that grid from the run store; ``urlsom="train"`` trains a missing
    run, ``"stored"`` uses only runs already there, ``"off"`` none), MiniSom on raw pixels (``som``), k-means
    on raw pixels with K = the grid's n (at most the number of samples), and the random map with K = n."""
    from urlsom_core.runs import get_or_train

    if urlsom not in ("train", "stored", "off"):
        raise ConfigError(f"urlsom {urlsom!r}: allowed are train, stored, off")

    tr, te = raw_splits(base.data, raw_size)
    y, ye = tr.labels.numpy(), (te.labels.numpy() if te is not None else None)
    X, Xe = raw_pixels(tr), (raw_pixels(te) if te is not None else None)
    rows = []
    for g in grids:
        g = (int(g[0]), int(g[1]))
        n = g[0] * g[1]
        extra = {"grid": list(g), "K": n}
        if urlsom != "off":
            cfg = base.replace(**{"model.grid": g})
            run = find_run(cfg, root)
            if run is None and urlsom == "train":
                run = get_or_train(cfg, root=root, device=device, progress=False, log=log)
            if run is not None:
                rows.append({**urlsom_row(run), **extra})
            else:
                log(f"URL-SOM {g[0]}x{g[1]}: run {cfg.key()} not in {root}/, left out")
        if som is not None:
            rows += [{**r, **extra} for r in som_rows(X, y, Xe, ye, g, "raw pixels", [som], log)]
        if kmeans:
            rows.append({**kmeans_row(X, y, Xe, ye, min(n, len(X)), "raw pixels", "the grid's n", seed, log), **extra})
        rows.append({**random_row(y, ye, n, "the grid's n", seed), **extra})
    return rows


def ns_k_reading(rows: Sequence[dict[str, Any]]) -> str:
    """How NS and held-out NS move with K, per method, from the smallest to the largest grid."""
    fam: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        fam.setdefault(r["method"].split(" K=")[0], []).append(r)
    ks = sorted({r["K"] for r in rows})
    if len(ks) < 2:
        return ""
    parts = []
    for name, rs in fam.items():
        rs = sorted(rs, key=lambda r: r["K"])
        a, b = rs[0], rs[-1]
        ho = ""
        if a.get("heldout_neural_selectivity") is not None and b.get("heldout_neural_selectivity") is not None:
            ho = f", held-out NS {a['heldout_neural_selectivity']:.3f} to {b['heldout_neural_selectivity']:.3f}"
        parts.append(f"{name}: NS {a['neural_selectivity']:.3f} to {b['neural_selectivity']:.3f}{ho}")
    return (f"From K = {ks[0]} to K = {ks[-1]}: " + "; ".join(parts) + ". The random map's training NS shows how much "
            "NS the number of neurons buys by itself; held-out NS does not get that gift.")


def plot_ns_versus_k(rows: Sequence[dict[str, Any]], ax: Any = None) -> Any:
    """NS (solid) and held-out NS (dashed) against K, one colour per method. Returns the figure."""
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(6, 4), layout="constrained").add_subplot()
    families: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        families.setdefault(r["method"].split(" K=")[0], []).append(r)
    for i, (name, rs) in enumerate(families.items()):
        rs = sorted(rs, key=lambda r: r["K"])
        k = [r["K"] for r in rs]
        color = f"C{i}"
        ax.plot(k, [r["neural_selectivity"] for r in rs], "o-", color=color, label=f"{name}: NS")
        ho = [r["heldout_neural_selectivity"] for r in rs]
        if all(v is not None for v in ho):
            ax.plot(k, ho, "s--", color=color, label=f"{name}: held-out NS")
    ax.set_xscale("log")
    ax.set_xticks(sorted({r["K"] for r in rows}))
    ax.set_xticklabels([str(v) for v in sorted({r["K"] for r in rows})])
    ax.set_xlabel("neurons K (grid H x W)")
    ax.set_ylabel("neural selectivity")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, ncol=2, loc="lower right", bbox_to_anchor=(1.0, 0.1))
    return ax.figure

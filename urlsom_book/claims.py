"""The paper's captions as measurements: each claim of Fig. 4, 5, 7 and 11 turned into a number, a threshold
and a verdict, on the maps a build trained.

A claim is a :class:`Claim` row: the paper's words, the measurable form (a sentence), what was measured, the
threshold that decides, where the paper's words leave the measure open, and a verdict, one of
:data:`HOLDS`, :data:`FAILS` or :data:`CANNOT_TELL`. :func:`claims_table` turns rows into a table for a page.

Every function takes a map as its winners, not a run: a :class:`SomMap` holds the winners (N,) as flat
row-major neuron indices, the labels (N,), the class names, the grid (h, w) and whether the map is a torus (a
circular boundary: column 0 and column w-1 are neighbours, and row 0 and row h-1). A neuron's class is the
majority label of the images it won (``urlsom_core.metrics.neuron_labels``); a dead neuron won none.

The measures (the paper's captions name relations, not measures; each row repeats its own):

- a class's *region* is the set of neurons of that majority class; its *clusters* are the 4-connected
  components of that set (wrapping round a torus), counted from ``min_size`` neurons on;
- *surrounds* (Fig. 4): the share of the inner region's boundary edges (4-neighbour edges from an inner
  neuron to a live neuron of another class) whose other end is of the outer class;
- *close* (Fig. 4): the grid distance between two regions, the mean over one region's neurons of the
  (torus-wrapped, Euclidean) distance to the nearest neuron of the other region, averaged both ways;
- *chance* for both: the same measure for every other pairing of the map's own classes (every ordered pair
  for "surrounds", every pair for "close", every group of four for the vehicles), i.e. the map with its class
  names permuted and its regions kept. A relation holds when few of those pairings reach the map's value
  (a share of them, the observed one included, at most ``ALPHA``; ``CLOSE_QUANTILE`` for "relatively close").
  Shuffling the labels of single neurons instead would be the wrong chance for regions: it scatters every
  class, so on a map of compact regions every region pair is farther apart than under it and every
  neighbouring class "surrounds" above it;
- *dead-neuron lines* (Fig. 7, 9): the share of the dead neurons that lie on a straight run (row, column or
  diagonal) of at least ``LINE_RUN`` dead neurons, against the same share with the dead neurons placed at
  random.

Claims about named classes (cat, dog, ...) need CIFAR-10's classes; on another dataset (the digits stand-in)
they return :data:`CANNOT_TELL` with the reason, so the same code runs on every profile. The paper's numbers
(NS, the stopping epoch, the learning-rate switches) are read from the ``paper`` profile, where they are
written once with their sections (:func:`paper_numbers`).

Example:
    >>> import numpy as np
    >>> m = SomMap(np.array([0, 1, 2, 3]), np.array([0, 0, 1, 1]), ["a", "b"], (2, 2))
    >>> class_clusters(m)["a"]["neurons"], dead_neurons(m)
    (2, 0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from urlsom_core.metrics import neuron_labels

HOLDS, FAILS, CANNOT_TELL = "holds", "does not hold", "cannot tell at this scale"
VERDICTS = (HOLDS, FAILS, CANNOT_TELL)

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
VEHICLES = ("airplane", "automobile", "ship", "truck")  # Fig. 4: "all non-animal objects"
ANIMALS = ("bird", "cat", "deer", "dog", "frog", "horse")

ALPHA = 0.05  # one-sided level of the permutation tests: at most 5% of the map's own pairings as extreme
CLOSE_QUANTILE = 0.25  # "relatively close": among the closest quarter of the map's class pairs
N_SHUFFLES = 200  # random placements of the dead neurons (Fig. 7's lines)
MIN_CLUSTER = 3  # a cluster is a 4-connected region of at least this many neurons of one class
OWN_CLUSTER_SHARE = 0.5  # a class "has its own cluster" when this share of its neurons is one region
LINE_RUN = 3  # dead neurons in a straight run of at least this many draw a "line"
NS_TOLERANCE = 0.01  # Fig. 4's NS holds when the measured NS is at most 1 point below the paper's
STOP_TOLERANCE = 0.10  # Fig. 5's stopping epoch holds within 10% of the paper's 322
GLITCH_Z = 3.0  # a loss change at a learning-rate switch is a glitch beyond 3 robust SDs of its neighbours'
GLITCH_WINDOW = 5  # the neighbours: epochs within 5 of the switch (not switches themselves)


@dataclass(frozen=True, eq=False)
class SomMap:
    """One trained map, as the claims read it.

    Attributes
    ----------
    winners : ndarray (N,)
        Each image's winning neuron, a flat row-major index in ``0 .. h*w-1`` (the network's own winners for
        the paper's map: ``assignments.npz``'s ``winner``).
    labels : ndarray (N,)
        Each image's class index into ``classes``.
    classes : sequence of str
        The class names, from the data (CIFAR-10: airplane, automobile, ...).
    grid : (int, int)
        The map's rows and columns.
    torus : bool
        Whether the map wraps (``ModelConfig.boundary == "circular"``).
    name : str
        How a table names the map (e.g. "seed 0").
    """

    winners: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    grid: tuple[int, int]
    torus: bool = False
    name: str = ""
    neuron_class: np.ndarray = field(init=False, repr=False)  # (n,) majority class, -1 dead

    def __post_init__(self) -> None:
        grid = tuple(int(g) for g in self.grid)
        if len(grid) != 2 or min(grid) < 2:
            raise ValueError(f"grid {self.grid!r}: allowed is (h, w) with h, w >= 2")
        w = np.asarray(self.winners, dtype=np.int64).reshape(-1)
        y = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        n = grid[0] * grid[1]
        if w.shape != y.shape:
            raise ValueError(f"winners {w.shape} and labels {y.shape}: allowed is one label per winner")
        if w.size and (w.min() < 0 or w.max() >= n):
            raise ValueError(f"winner {int(w.max() if w.max() >= n else w.min())}: allowed are neurons 0..{n - 1}")
        classes = tuple(str(c) for c in self.classes)
        if y.size and (y.min() < 0 or y.max() >= len(classes)):
            raise ValueError(f"label {int(y.max() if y.max() >= len(classes) else y.min())}: allowed are "
                             f"0..{len(classes) - 1} (one per class name)")
        object.__setattr__(self, "grid", grid)
        object.__setattr__(self, "winners", w)
        object.__setattr__(self, "labels", y)
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "torus", bool(self.torus))
        nl = neuron_labels(w, y, n) if w.size else np.full(n, -1, dtype=np.int64)
        object.__setattr__(self, "neuron_class", nl)

    @property
    def n_neurons(self) -> int:
        return self.grid[0] * self.grid[1]

    def index(self, name: str) -> int | None:
        """The class index of ``name``, None when the data has no such class."""
        return self.classes.index(name) if name in self.classes else None


@dataclass(frozen=True)
class Claim:
    """One row of the claims table.

    ``paper``: the caption's words; ``measure``: the measurable form; ``measured``: what this map gave, in
    words; ``values``: the same as numbers; ``threshold``: what decides the verdict; ``open``: where the
    paper's words leave the measure open (empty when they do not); ``verdict``: one of :data:`VERDICTS`."""

    figure: str
    paper: str
    measure: str
    measured: str
    verdict: str
    threshold: str
    maps: str = ""
    open: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r}: allowed are {', '.join(VERDICTS)}")


# ------------------------------------------------------------------------------------------ the grid
def four_neighbours(grid: Sequence[int], torus: bool = False) -> np.ndarray:
    """Each neuron's up, down, left and right neighbours, (n, 4) row-major indices; -1 off the grid (never on
    a torus, where the edges wrap)."""
    H, W = int(grid[0]), int(grid[1])
    r, c = np.divmod(np.arange(H * W), W)
    out = np.empty((H * W, 4), dtype=np.int64)
    for k, (dr, dc) in enumerate(((-1, 0), (1, 0), (0, -1), (0, 1))):
        rr, cc = r + dr, c + dc
        if torus:
            out[:, k] = (rr % H) * W + cc % W
        else:
            inside = (rr >= 0) & (rr < H) & (cc >= 0) & (cc < W)
            out[:, k] = np.where(inside, rr * W + cc, -1)
    return out


def grid_distances(grid: Sequence[int], torus: bool = False) -> np.ndarray:
    """Euclidean distance between every two neurons in grid steps, (n, n); on a torus each axis' offset is
    the shorter way round, ``min(d, side - d)``."""
    H, W = int(grid[0]), int(grid[1])
    r, c = np.divmod(np.arange(H * W), W)
    dr = np.abs(r[:, None] - r[None, :]).astype(np.float64)  # (n, n)
    dc = np.abs(c[:, None] - c[None, :]).astype(np.float64)
    if torus:
        dr, dc = np.minimum(dr, H - dr), np.minimum(dc, W - dc)
    return np.hypot(dr, dc)


def components(mask: np.ndarray, grid: Sequence[int], torus: bool = False) -> list[int]:
    """Sizes of the 4-connected components of the neurons where ``mask`` (n,) is True, largest first
    (wrapping round a torus)."""
    mask = np.asarray(mask, dtype=bool).reshape(-1)
    nb = four_neighbours(grid, torus)
    seen = np.zeros(mask.size, dtype=bool)
    sizes = []
    for start in np.flatnonzero(mask):
        if seen[start]:
            continue
        seen[start] = True
        stack, size = [int(start)], 0
        while stack:
            i = stack.pop()
            size += 1
            for j in nb[i]:
                if j >= 0 and mask[j] and not seen[j]:
                    seen[j] = True
                    stack.append(int(j))
        sizes.append(size)
    return sorted(sizes, reverse=True)


def class_clusters(m: SomMap, min_size: int = MIN_CLUSTER) -> dict[str, dict[str, Any]]:
    """Per class: its ``neurons`` (majority class), its ``clusters`` (4-connected regions of at least
    ``min_size`` neurons), its ``largest`` region and ``largest_share``, the share of its neurons in that region
    (NaN for a class that holds no neuron)."""
    out = {}
    for k, name in enumerate(m.classes):
        mask = m.neuron_class == k
        sizes = components(mask, m.grid, m.torus)
        n = int(mask.sum())
        out[name] = {"neurons": n, "clusters": sum(s >= min_size for s in sizes), "largest": sizes[0] if sizes else 0,
                     "largest_share": sizes[0] / n if n else float("nan")}
    return out


def cluster_count(m: SomMap, min_size: int = MIN_CLUSTER) -> int:
    """Clusters of the whole map: 4-connected one-class regions of at least ``min_size`` neurons, all classes."""
    return sum(c["clusters"] for c in class_clusters(m, min_size).values())


def dead_neurons(m: SomMap) -> int:
    """Neurons that won no image."""
    return int((m.neuron_class < 0).sum())


# ------------------------------------------------------------------------------------- the measures
def boundary_share(neuron_class: np.ndarray, grid: Sequence[int], inner: int, outer: int, torus: bool = False,
                   neighbours: np.ndarray | None = None) -> tuple[float, int]:
    """(share, edges): of the 4-neighbour edges from a neuron of class ``inner`` to a live neuron of another
    class (the inner region's boundary), the share whose other end is of class ``outer``; NaN when the
    region has no such edge. ``neuron_class`` (n,) holds -1 for dead neurons."""
    nl = np.asarray(neuron_class)
    nb = four_neighbours(grid, torus) if neighbours is None else neighbours  # (n, 4)
    other = np.where(nb >= 0, nl[np.maximum(nb, 0)], -1)  # (n, 4) class across each edge, -1 off-grid or dead
    edge = (nl[:, None] == inner) & (other >= 0) & (other != inner)
    n_edges = int(edge.sum())
    if n_edges == 0:
        return float("nan"), 0
    return float((edge & (other == outer)).sum() / n_edges), n_edges


def region_distances(neuron_class: np.ndarray, n_classes: int, distances: np.ndarray) -> np.ndarray:
    """(K, K) symmetric distances between class regions: entry (a, b) averages the mean over a's neurons of
    the distance to b's nearest neuron and the same from b to a; NaN where a class holds no neuron. The
    diagonal is 0. ``distances``: :func:`grid_distances` (n, n)."""
    nl = np.asarray(neuron_class)
    near = np.full((nl.size, n_classes), np.nan)  # (n, K): distance to the nearest neuron of each class
    for b in range(n_classes):
        cols = nl == b
        if cols.any():
            near[:, b] = distances[:, cols].min(1)
    M = np.full((n_classes, n_classes), np.nan)  # (K, K): mean over a's neurons of the distance to b
    for a in range(n_classes):
        rows = nl == a
        if rows.any():
            M[a] = near[rows].mean(0)
    return (M + M.T) / 2


def one_sided_p(observed: float, null: np.ndarray, greater: bool = True) -> float:
    """Permutation p-value of ``observed`` against ``null`` (S,): the share of the shuffles at least as
    extreme, the observed map counted among them, ``(1 + #{null >= observed}) / (1 + S)`` (``<=`` when not
    ``greater``). NaN when ``observed`` is NaN."""
    if not np.isfinite(observed):
        return float("nan")
    null = np.asarray(null, dtype=np.float64)
    null = null[np.isfinite(null)]
    hits = (null >= observed) if greater else (null <= observed)
    return float((1 + hits.sum()) / (1 + null.size))


def dead_line_share(dead: np.ndarray, grid: Sequence[int], torus: bool = False, run: int = LINE_RUN) -> float:
    """Share of the dead neurons (``dead`` (n,) bool) that lie on a straight run of at least ``run`` dead
    neurons along a row, a column or a diagonal (wrapping round a torus); NaN without dead neurons."""
    H, W = int(grid[0]), int(grid[1])
    d = np.asarray(dead, dtype=bool).reshape(H, W)
    if not d.any():
        return float("nan")

    def at(a: np.ndarray, dr: int, dc: int) -> np.ndarray:  # a[r + dr, c + dc] at (r, c); False off the grid
        if torus:
            return np.roll(a, (-dr, -dc), axis=(0, 1))
        out = np.zeros_like(a)
        rs, rd = slice(max(dr, 0), H + min(dr, 0)), slice(max(-dr, 0), H - max(dr, 0))
        cs, cd = slice(max(dc, 0), W + min(dc, 0)), slice(max(-dc, 0), W - max(dc, 0))
        out[rd, cd] = a[rs, cs]
        return out

    on_line = np.zeros_like(d)
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        start = d.copy()  # a run of `run` dead neurons starts here
        for k in range(1, run):
            start &= at(d, k * dr, k * dc)
        for k in range(run):  # every neuron of such a run
            on_line |= at(start, -k * dr, -k * dc)
    return float(on_line[d].mean())


# ------------------------------------------------------------------------------- the paper's numbers
def paper_numbers() -> dict[str, Any]:
    """The numbers the captions state, read from the ``paper`` profile where each is written once with its
    section: Fig. 4's two NS, Fig. 5's stopping epoch and learning-rate switches, Fig. 7's NS at sigma 3 and
    10, Fig. 11's NS at t-student scales 1 and 18."""
    from .profiles import paper_profile

    p = paper_profile()

    def value(nb: str, key: str) -> Any:
        s = p.paper_value(nb, key)
        if s is None:  # pragma: no cover - the paper profile holds them all (tests/test_paper_numbers.py)
            raise KeyError(f"the paper profile reports no {nb} {key}")
        return s.value

    schedule = p.runs["cifar10"].config().train.lr_schedule
    return {"ns_fig4": (value("fig04_cifar10_map", "ns"), value("fig04_cifar10_map", "ns_seed2")),
            "stop_epoch": int(value("fig05_cifar10_loss", "epochs")),
            "lr_switches": tuple(int(e) for e, _ in schedule[1:]),
            "ns_sigma": (value("fig07_cifar10_sigma", "ns_sigma3"), value("fig07_cifar10_sigma", "ns_sigma10")),
            "ns_student": (value("fig11_student_t", "ns_scale1"), value("fig11_student_t", "ns_scale18"))}


# ----------------------------------------------------------------------------------------- helpers
def _pct(v: float) -> str:
    return f"{100 * v:.1f}%" if np.isfinite(v) else "n/a"


def _missing(m: SomMap, names: Sequence[str]) -> list[str]:
    return [c for c in names if m.index(c) is None]


def _not_cifar(m: SomMap, names: Sequence[str]) -> str:
    gone = _missing(m, names)
    return (f"the map's classes ({', '.join(m.classes[:4])}{', ...' if len(m.classes) > 4 else ''}) lack "
            f"{', '.join(gone)}: the claim is about CIFAR-10's classes")


def is_cifar10(classes: Sequence[str]) -> bool:
    """Whether ``classes`` are CIFAR-10's ten (in any order)."""
    return sorted(classes) == sorted(CIFAR10_CLASSES)


def pair_shares(m: SomMap) -> np.ndarray:
    """(K, K) boundary shares of every ordered pair of classes: entry (i, o) is :func:`boundary_share` of the
    inner class i and the outer class o; NaN on the diagonal and where class i has no boundary."""
    K = len(m.classes)
    nb = four_neighbours(m.grid, m.torus)
    out = np.full((K, K), np.nan)
    for i in range(K):
        for o in range(K):
            if i != o:
                out[i, o] = boundary_share(m.neuron_class, m.grid, i, o, m.torus, nb)[0]
    return out


def share_of_pool(observed: float, pool: np.ndarray, greater: bool = True) -> float:
    """The share of ``pool`` (the map's own pairings, the observed one among them) at least as extreme as
    ``observed`` (``>=`` when ``greater``, else ``<=``): the exact p-value of the class-name permutation."""
    pool = np.asarray(pool, dtype=np.float64)
    pool = pool[np.isfinite(pool)]
    if not np.isfinite(observed) or pool.size == 0:
        return float("nan")
    return float(((pool >= observed) if greater else (pool <= observed)).mean())


# ------------------------------------------------------------------------------------------ Fig. 4
PERMUTED = ("every other pairing of the map's own class regions (the class names permuted, the regions kept where "
            "they are: chance on this map)")


def claim_ns(ns: Sequence[float], classes: Sequence[str], paper: Sequence[float] | None = None,
             tolerance: float = NS_TOLERANCE, maps: str = "") -> Claim:
    """Fig. 4: "Neural selectivity is 70.3% and 70.58%": each measured NS (the network's own winners, all
    images the map was trained on) against the paper's, and how far."""
    paper = tuple(paper if paper is not None else paper_numbers()["ns_fig4"])
    ns = [float(v) for v in ns]
    gaps = [v - p for v, p in zip(ns, paper, strict=False)]
    measured = "; ".join(f"{_pct(v)} against {_pct(p)} ({100 * g:+.1f} points)" for v, p, g in zip(ns, paper, gaps, strict=False))
    threshold = f"holds when every map's NS is at most {100 * tolerance:g} point below the paper's"
    values = {"ns": ns, "paper": list(paper), "gap": gaps}
    words = "Neural selectivity is 70.3% and 70.58%."
    measure = "NS (Sec. V.C): the share of images whose winner's majority class is their own, one map per seed"
    if not is_cifar10(classes):
        return Claim("Fig. 4", words, measure, measured, CANNOT_TELL, threshold, maps,
                     "the paper's NS is CIFAR-10's; this map is of other data", values)
    ok = all(g >= -tolerance for g in gaps)
    return Claim("Fig. 4", words, measure, measured, HOLDS if ok else FAILS, threshold, maps, values=values)


def claim_separate_clusters(m: SomMap, fragmented: Sequence[str] = ("cat", "deer"), min_size: int = MIN_CLUSTER,
                            share: float = OWN_CLUSTER_SHARE) -> Claim:
    """Fig. 4: "All items have separate clusters except for the cat and the deer": per class, the share of its
    neurons in its largest 4-connected region, and its clusters of at least ``min_size`` neurons."""
    words = "All items have separate clusters except for the cat and the deer."
    measure = (f"per class, the share of its neurons in its largest 4-connected region{' (wrapping round the torus)' if m.torus else ''}: "
               f"a class has its own cluster when that share is at least {share:.0%}")
    threshold = (f"holds when every class but {' and '.join(fragmented)} has its own cluster and "
                 f"{' and '.join(fragmented)} do not")
    open_ = ("'separate cluster' is not defined: read as one region holding most of a class's neurons; a class "
             f"can also be split into several regions of at least {min_size} neurons (counted in the values)")
    if not is_cifar10(m.classes):
        return Claim("Fig. 4", words, measure, "not measured: " + _not_cifar(m, CIFAR10_CLASSES), CANNOT_TELL,
                     threshold, m.name, open_)
    cc = class_clusters(m, min_size)
    own = {c: v["largest_share"] >= share for c, v in cc.items() if v["neurons"]}
    order = sorted((v["largest_share"], c) for c, v in cc.items() if v["neurons"])
    frag = [c for s, c in order if s < share]
    ok = all(not own.get(c, False) for c in fragmented) and all(own[c] for c in own if c not in fragmented)
    measured = (f"without their own cluster: {', '.join(frag) or 'none'}; largest-region share "
                + ", ".join(f"{c} {s:.0%}" for s, c in order[:4]) + (" ..." if len(order) > 4 else "")
                + f"; clusters of >= {min_size} neurons: " + ", ".join(f"{c} {cc[c]['clusters']}" for c in cc))
    values = {c: {"largest_share": round(v["largest_share"], 4) if v["neurons"] else None,
                  "clusters": v["clusters"], "neurons": v["neurons"]} for c, v in cc.items()}
    return Claim("Fig. 4", words, measure, measured, HOLDS if ok else FAILS, threshold, m.name, open_, values)


def claim_surrounds(m: SomMap, inner: str, outer: str, alpha: float = ALPHA) -> Claim:
    """Fig. 4: "Cat data surrounds the dog data" (``outer`` cat, ``inner`` dog), and deer around horse: the share
    of the inner region's boundary that touches the outer class, against every other ordered pair of the map's
    classes (:func:`pair_shares`)."""
    words = f"{outer.capitalize()} data surrounds the {inner} data."
    measure = (f"the share of the {inner} region's boundary (4-neighbour edges from a {inner} neuron to a live "
               f"neuron of another class) that touches {outer} neurons, against " + PERMUTED)
    threshold = (f"holds when at most {alpha:.0%} of the map's ordered class pairs reach that share (the pair "
                 f"included; p <= {alpha:g}) and {outer} touches more of the {inner} boundary than any other class")
    open_ = "'surrounds' gives no share: read as among the map's strongest adjacencies and the largest neighbour"
    if _missing(m, (inner, outer)):
        return Claim("Fig. 4", words, measure, "not measured: " + _not_cifar(m, (inner, outer)), CANNOT_TELL, threshold,
                     m.name, open_)
    i, o = m.index(inner), m.index(outer)
    assert i is not None and o is not None
    shares = pair_shares(m)  # (K, K)
    obs = float(shares[i, o])
    edges = boundary_share(m.neuron_class, m.grid, i, o, m.torus)[1]
    pool = shares[np.isfinite(shares)]
    p = share_of_pool(obs, pool, greater=True)
    row = np.where(np.isfinite(shares[i]), shares[i], -1.0)
    top = m.classes[int(row.argmax())]
    values = {"share": obs, "edges": edges, "pairs": int(pool.size),
              "pairs_mean": float(pool.mean()) if pool.size else None,
              "pairs_p95": float(np.percentile(pool, 95)) if pool.size else None, "p": p, "largest_neighbour": top}
    if edges == 0:
        return Claim("Fig. 4", words, measure, f"the {inner} region has no boundary with another live class", FAILS,
                     threshold, m.name, open_, values)
    measured = (f"{_pct(obs)} of {edges} boundary edges (all {pool.size} class pairs: mean {_pct(values['pairs_mean'])}, "
                f"95th percentile {_pct(values['pairs_p95'])}; p = {p:.3f}); the class touching most of it: {top}")
    ok = p <= alpha and top == outer
    return Claim("Fig. 4", words, measure, measured, HOLDS if ok else FAILS, threshold, m.name, open_, values)


def claim_close(m: SomMap, a: str = "bird", b: str = "airplane", quantile: float = CLOSE_QUANTILE) -> Claim:
    """Fig. 4: "the bird and airplane data are relatively close": the grid distance between the two regions
    against the distances of every other pair of the map's classes."""
    words = f"It is interesting that the {a} and {b} data are relatively close."
    measure = (f"the grid distance between the {a} and {b} regions (mean over one region's neurons of the "
               f"{'torus-wrapped ' if m.torus else ''}distance to the other's nearest neuron, both ways averaged), "
               "against " + PERMUTED)
    threshold = (f"holds when the pair is among the closest {quantile:.0%} of the map's class pairs (at most that "
                 f"share of the pairs as close or closer, the pair included)")
    open_ = ("'relatively close' names no reference: read as closer than most pairs of classes on the same map "
             f"(the closest {quantile:.0%}), not as the closest pair")
    if _missing(m, (a, b)):
        return Claim("Fig. 4", words, measure, "not measured: " + _not_cifar(m, (a, b)), CANNOT_TELL, threshold, m.name,
                     open_)
    i, j = m.index(a), m.index(b)
    assert i is not None and j is not None
    S = region_distances(m.neuron_class, len(m.classes), grid_distances(m.grid, m.torus))  # (K, K)
    obs = float(S[i, j])
    pool = S[np.triu_indices(len(m.classes), 1)]
    pool = pool[np.isfinite(pool)]
    p = share_of_pool(obs, pool, greater=False)
    others = [S[i, k] for k in range(len(m.classes)) if k != i and np.isfinite(S[i, k])]
    rank = 1 + sum(v < obs for v in others)
    values = {"distance": obs, "pairs": int(pool.size), "pairs_mean": float(pool.mean()) if pool.size else None,
              "pairs_p25": float(np.percentile(pool, 25)) if pool.size else None, "p": p, "rank_for_first": rank}
    if not np.isfinite(obs):
        return Claim("Fig. 4", words, measure, f"{a} or {b} holds no neuron", FAILS, threshold, m.name, open_, values)
    measured = (f"{obs:.2f} neurons (all {pool.size} class pairs: mean {values['pairs_mean']:.2f}, 25th percentile "
                f"{values['pairs_p25']:.2f}; share as close {p:.2f}); {b} is {a}'s no. {rank} nearest of {len(others)} classes")
    return Claim("Fig. 4", words, measure, measured, HOLDS if p <= quantile else FAILS, threshold, m.name, open_, values)


def vehicle_gap(S: np.ndarray, group: Sequence[int], rest: Sequence[int]) -> float:
    """Mean region distance from ``group`` to ``rest`` minus that within ``group`` (positive: the group's
    classes lie closer to each other than to the rest), from a (K, K) :func:`region_distances` matrix."""
    within = [S[a, b] for x, a in enumerate(group) for b in group[x + 1:]]
    across = [S[a, b] for a in group for b in rest]
    with np.errstate(all="ignore"):
        return float(np.nanmean(across) - np.nanmean(within)) if np.isfinite(within).any() and np.isfinite(across).any() else float("nan")


def claim_vehicles_close(m: SomMap, alpha: float = ALPHA) -> Claim:
    """Fig. 4: "All non-animal objects tend to be close to each other": the region distances among airplane,
    automobile, ship and truck against those from them to the six animals, against every other group of four
    of the map's classes."""
    words = "All non-animal objects tend to be close to each other."
    measure = ("the mean region distance from the vehicles (airplane, automobile, ship, truck) to the animals minus "
               "the mean among the vehicles (positive: vehicles closer to each other), against every other group "
               "of four classes of the same map (the class names permuted, the regions kept: chance on this map)")
    threshold = (f"holds when the gap is positive and at most {alpha:.0%} of the groups of four reach it (the "
                 f"vehicles included; p <= {alpha:g})")
    open_ = "'close to each other' names no reference: read as closer to each other than to the animals"
    if not is_cifar10(m.classes):
        return Claim("Fig. 4", words, measure, "not measured: " + _not_cifar(m, VEHICLES), CANNOT_TELL, threshold,
                     m.name, open_)
    K = len(m.classes)
    v = [m.index(c) for c in VEHICLES]
    an = [m.index(c) for c in ANIMALS]
    S = region_distances(m.neuron_class, K, grid_distances(m.grid, m.torus))
    obs = vehicle_gap(S, v, an)  # type: ignore[arg-type]
    pool = np.array([vehicle_gap(S, g, [k for k in range(K) if k not in g]) for g in combinations(range(K), len(v))])
    p = share_of_pool(obs, pool, greater=True)
    with np.errstate(all="ignore"):
        within = float(np.nanmean([S[a, b] for x, a in enumerate(v) for b in v[x + 1:]]))
    fin = pool[np.isfinite(pool)]
    values = {"gap": obs, "within": within, "across": within + obs, "groups": int(fin.size),
              "groups_mean": float(fin.mean()) if fin.size else None,
              "groups_p95": float(np.percentile(fin, 95)) if fin.size else None, "p": p}
    if not np.isfinite(obs):
        return Claim("Fig. 4", words, measure, "vehicles or animals hold no neuron", FAILS, threshold, m.name, open_, values)
    measured = (f"among vehicles {within:.2f}, vehicles to animals {within + obs:.2f} neurons: gap {obs:+.2f} "
                f"(all {fin.size} groups of four: mean {values['groups_mean']:+.2f}, 95th percentile "
                f"{values['groups_p95']:+.2f}; p = {p:.3f})")
    ok = p <= alpha and obs > 0
    return Claim("Fig. 4", words, measure, measured, HOLDS if ok else FAILS, threshold, m.name, open_, values)


RELATION_NAMES = ("separate clusters", "cat around dog", "deer around horse", "bird near airplane",
                  "vehicles together")  # the rows of map_relation_claims, in order


def map_relation_claims(m: SomMap, min_size: int = MIN_CLUSTER) -> list[Claim]:
    """Fig. 4's relations on one map (:data:`RELATION_NAMES`): separate clusters, cat around dog, deer around
    horse, bird near airplane, vehicles together."""
    return [claim_separate_clusters(m, min_size=min_size), claim_surrounds(m, "dog", "cat"),
            claim_surrounds(m, "horse", "deer"), claim_close(m, "bird", "airplane"), claim_vehicles_close(m)]


def claim_persist(maps: Sequence[SomMap], relations: Sequence[Sequence[Claim]], alpha: float = ALPHA) -> Claim:
    """Fig. 4: "the highlighted semantic relations do persist over multiple runs": each relation's verdict on
    every map (``relations[i]``: :func:`map_relation_claims` of ``maps[i]``), and the Spearman rank correlation
    between the maps' class-to-class region distances (the 45 pairs of 10 classes)."""
    from scipy.stats import spearmanr

    words = ("The two plots highlight that ... subsequent runs may not repeat the same exact visual distribution, "
             "but the highlighted semantic relations do persist over multiple runs.")
    measure = ("each relation above on every seed's map, and the rank correlation (Spearman) between the two maps' "
               "class-to-class region distances")
    threshold = (f"holds when every relation holds on every map and the correlation is positive with p <= {alpha:g}")
    open_ = "'persist' names no measure: read as the same verdicts on both maps and correlated region distances"
    names = " and ".join(m.name for m in maps)
    if len(maps) < 2:
        return Claim("Fig. 4", words, measure, "one map only", CANNOT_TELL, threshold, names, open_)
    if not all(is_cifar10(m.classes) for m in maps):
        return Claim("Fig. 4", words, measure, "not measured: " + _not_cifar(maps[0], ANIMALS), CANNOT_TELL, threshold,
                     names, open_)
    K = len(maps[0].classes)
    iu = np.triu_indices(K, 1)
    mats = []
    for m in maps:
        order = [m.index(c) for c in maps[0].classes]  # the same class order on every map
        S = region_distances(m.neuron_class, K, grid_distances(m.grid, m.torus))
        mats.append(S[np.ix_(order, order)][iu])
    ok_pairs = np.isfinite(mats[0]) & np.isfinite(mats[1])
    rho, p = spearmanr(mats[0][ok_pairs], mats[1][ok_pairs]) if ok_pairs.sum() > 2 else (float("nan"), float("nan"))
    rho, p = float(rho), float(p)
    table = [[c.verdict for c in rel] for rel in relations]  # (maps, relations)
    short = list(RELATION_NAMES[:len(table[0])])
    same = [all(row[k] == HOLDS for row in table) for k in range(len(short))]
    measured = ("; ".join(f"{s}: " + "/".join(row[k] for row in table) for k, s in enumerate(short))
                + f"; region distances, Spearman rho {rho:.2f} (p = {p:.3g}, {int(ok_pairs.sum())} class pairs)")
    values = {"verdicts": {s: [row[k] for row in table] for k, s in enumerate(short)}, "spearman_rho": rho,
              "spearman_p": p}
    ok = all(same) and np.isfinite(rho) and rho > 0 and p <= alpha
    return Claim("Fig. 4", words, measure, measured, HOLDS if ok else FAILS, threshold, names, open_, values)


# ------------------------------------------------------------------------------------------ Fig. 5
def claim_stop(history: Sequence[Mapping[str, Any]], stop_reason: str | None, paper_epoch: int | None = None,
               tolerance: float = STOP_TOLERANCE, maps: str = "") -> Claim:
    """Fig. 5: "early stopping occurred at epoch 322": where and why this run stopped (history.jsonl and
    metrics.json's ``stop_reason``) against the paper's epoch."""
    paper_epoch = int(paper_epoch if paper_epoch is not None else paper_numbers()["stop_epoch"])
    words = f"Learning was performed with early stopping if the loss does not improve for 10 epochs. In this case, early stopping occurred at epoch {paper_epoch}."
    measure = "the epochs this run trained and what stopped it (early stopping, the epoch cap or the time budget)"
    lo, hi = round(paper_epoch * (1 - tolerance)), round(paper_epoch * (1 + tolerance))
    threshold = (f"holds when early stopping ended training within {tolerance:.0%} of epoch {paper_epoch} ({lo}..{hi}); "
                 "a run ended by its epoch cap or time budget cannot tell")
    epochs = len(history)
    values = {"epochs": epochs, "stop_reason": stop_reason, "paper_epoch": paper_epoch}
    measured = f"{epochs} epochs, stopped by {stop_reason or 'unknown'} ({epochs - paper_epoch:+d} epochs from the paper's)"
    if stop_reason != "early stop":
        return Claim("Fig. 5", words, measure, measured, CANNOT_TELL, threshold, maps,
                     "early stopping had not ended training: the epoch cap or the time budget came first", values)
    return Claim("Fig. 5", words, measure, measured, HOLDS if lo <= epochs <= hi else FAILS, threshold, maps, values=values)


def lr_switches(history: Sequence[Mapping[str, Any]]) -> list[int]:
    """The epochs (0-based, as in history.jsonl) whose learning rate differs from the epoch before."""
    lrs = [h.get("lr") for h in history]
    return [int(history[e]["epoch"]) for e in range(1, len(history)) if lrs[e] != lrs[e - 1]]


def glitch_scores(history: Sequence[Mapping[str, Any]], window: int = GLITCH_WINDOW) -> dict[int, dict[str, float]]:
    """For each learning-rate switch epoch e: the loss change into it, ``jump = loss[e] - loss[e-1]``; the
    change the neighbours predict, ``expected`` (a straight line fitted to the changes of the non-switch epochs
    within ``window`` of e, read at e: the loss falls ever slower, so its changes drift); the neighbours'
    robust spread about that line (1.4826 x the median absolute residual); and ``z``, the jump's distance from
    ``expected`` in spreads (NaN with fewer than 3 neighbours). Partial epochs (a run stopped mid-epoch) are
    left out."""
    rows = [h for h in history if not h.get("partial")]
    loss = {int(h["epoch"]): float(h["loss"]) for h in rows}
    diff = {e: loss[e] - loss[e - 1] for e in loss if e - 1 in loss}  # epoch -> change into it
    switches = set(lr_switches(rows))
    out = {}
    for e in sorted(switches):
        if e not in diff:
            continue
        ks = np.array([k for k in diff if k not in switches and 0 < abs(k - e) <= window], dtype=np.float64)
        if ks.size < 3:
            out[e] = {"jump": diff[e], "expected": float("nan"), "spread": float("nan"), "z": float("nan")}
            continue
        ds = np.array([diff[int(k)] for k in ks])
        slope, icpt = np.polyfit(ks - e, ds, 1)  # the neighbours' changes as a line in the epoch
        resid = ds - (icpt + slope * (ks - e))
        spread = max(1.4826 * float(np.median(np.abs(resid))), 1e-12)  # a perfect line: any other change stands out
        out[e] = {"jump": diff[e], "expected": float(icpt), "spread": spread, "z": (diff[e] - float(icpt)) / spread}
    return out


def claim_glitches(history: Sequence[Mapping[str, Any]], paper_switches: Sequence[int] | None = None,
                   z: float = GLITCH_Z, window: int = GLITCH_WINDOW, maps: str = "") -> Claim:
    """Fig. 5: "Learning rate switches from 0.0001 to 0.0005 at epoch 5 and switches to 0.001 at epoch 10. This
    explains the two glitches seen": the loss change at each switch against the changes of nearby epochs."""
    paper_switches = tuple(paper_switches if paper_switches is not None else paper_numbers()["lr_switches"])
    words = ("Learning rate switches from 0.0001 to 0.0005 at epoch 5 and switches to 0.001 at epoch 10. This "
             "explains the two glitches seen.")
    measure = (f"at each learning-rate switch, the loss change from the epoch before against the change that the "
               f"epochs within {window} of it predict (a line through their changes, and their robust spread about it, "
               "1.4826 x the median absolute residual)")
    threshold = (f"holds when the change at every switch is more than {z:g} robust spreads from the predicted one "
                 f"(either way); cannot tell with fewer than {len(paper_switches)} switches or 3 neighbours")
    open_ = "'glitch' gives no size or sign: read as a change unlike its neighbours', a rise or a sharper fall"
    scores = glitch_scores(history, window)
    values = {"switches": sorted(scores), "paper_switches": list(paper_switches),
              "scores": {str(e): {k: round(v, 6) for k, v in s.items()} for e, s in scores.items()}}
    if len(scores) < len(paper_switches) or any(not np.isfinite(s["z"]) for s in scores.values()):
        got = ", ".join(str(e) for e in sorted(scores)) or "none"
        return Claim("Fig. 5", words, measure, f"switches in the history at epochs {got} (0-based), too few or too "
                     "close to its ends to compare", CANNOT_TELL, threshold, maps, open_, values)
    parts = [f"epoch {e}: {s['jump']:+.4f} against {s['expected']:+.4f} predicted ({s['z']:+.1f} spreads)"
             for e, s in sorted(scores.items())]
    ok = all(abs(s["z"]) > z for s in scores.values())
    return Claim("Fig. 5", words, measure, "; ".join(parts), HOLDS if ok else FAILS, threshold, maps, open_, values)


# ---------------------------------------------------------------------------------- Fig. 7, Fig. 11
def claim_ns_order(ns_high: float, ns_low: float, what: tuple[str, str], words: str, figure: str,
                   paper: Sequence[float] | None = None, noise: float = 0.0, maps: str = "") -> Claim:
    """"NS with ``what[0]`` above ``what[1]``": holds when ``ns_high - ns_low`` exceeds ``noise`` (the NS two
    seeds of one setting differ by, e.g. Fig. 4's pair), fails below ``-noise``, cannot tell in between."""
    gap = float(ns_high) - float(ns_low)
    measure = f"NS with {what[0]} minus NS with {what[1]}"
    threshold = (f"holds when the difference is above {100 * noise:.1f} points (the NS difference of two seeds of one "
                 f"setting), fails below -{100 * noise:.1f}; cannot tell in between")
    pp = f" (paper: {_pct(paper[0])} and {_pct(paper[1])}, {100 * (paper[0] - paper[1]):+.2f} points)" if paper else ""
    measured = f"{_pct(ns_high)} and {_pct(ns_low)}: {100 * gap:+.1f} points{pp}"
    values = {"ns": [float(ns_high), float(ns_low)], "difference": gap, "noise": noise,
              "paper": list(paper) if paper else None}
    eps = 1e-9  # a difference equal to the spread, up to rounding, cannot tell
    verdict = HOLDS if gap > noise + eps else FAILS if gap < -noise - eps else CANNOT_TELL
    open_ = "" if noise > 0 else "no seed-to-seed spread given: any difference decides"
    return Claim(figure, words, measure, measured, verdict, threshold, maps, open_, values)


def claim_more_clusters(m_more: SomMap, m_fewer: SomMap, words: str, figure: str,
                        min_size: int = MIN_CLUSTER) -> Claim:
    """"More clusters" on ``m_more`` than on ``m_fewer``: one-class 4-connected regions of at least
    ``min_size`` neurons, all classes together."""
    a, b = cluster_count(m_more, min_size), cluster_count(m_fewer, min_size)
    measure = (f"clusters: 4-connected regions of one majority class with at least {min_size} neurons, counted over "
               f"all classes, {m_more.name} against {m_fewer.name}")
    threshold = f"holds when {m_more.name} has more clusters than {m_fewer.name}"
    open_ = f"'clusters' has no size: regions of at least {min_size} neurons; one map each, so no seed spread"
    return Claim(figure, words, measure, f"{a} against {b}", HOLDS if a > b else FAILS, threshold,
                 f"{m_more.name} vs {m_fewer.name}", open_, {"clusters": [a, b]})


def claim_more_dead(m_more: SomMap, m_fewer: SomMap, words: str, figure: str) -> Claim:
    """"More dead neurons" on ``m_more`` than on ``m_fewer``: neurons that won no image."""
    a, b = dead_neurons(m_more), dead_neurons(m_fewer)
    measure = f"dead neurons (won no image), {m_more.name} against {m_fewer.name}"
    threshold = f"holds when {m_more.name} has more dead neurons than {m_fewer.name}"
    return Claim(figure, words, measure, f"{a} against {b} of {m_more.n_neurons}", HOLDS if a > b else FAILS,
                 threshold, f"{m_more.name} vs {m_fewer.name}", "one map each, so no seed spread",
                 {"dead": [a, b]})


def claim_dead_lines(m_lines: SomMap, m_other: SomMap, words: str, figure: str, n_shuffles: int = N_SHUFFLES,
                     seed: int = 0, alpha: float = ALPHA, run: int = LINE_RUN) -> Claim:
    """Dead-neuron lines on ``m_lines`` (Fig. 7 at sigma 10; Fig. 9 says "the lines formed by dead neurons"):
    the share of its dead neurons on a straight run of at least ``run`` dead neurons, against the same number
    of dead neurons placed at random and against ``m_other``."""
    measure = (f"the share of dead neurons on a straight run (row, column or diagonal) of at least {run} dead neurons, "
               f"against the same number of dead neurons placed at random ({n_shuffles} placements, seed {seed}) "
               f"and against {m_other.name}")
    threshold = (f"holds when {m_lines.name}'s share is above all but {alpha:.0%} of the random placements' "
                 f"(one-sided p <= {alpha:g}) and above {m_other.name}'s")
    open_ = (f"'lines' gives no length or width: runs of at least {run}, so a block of dead neurons counts too; the "
             "caption shows them at sigma 10 (Fig. 9 names the lines)")
    dead = m_lines.neuron_class < 0
    obs = dead_line_share(dead, m_lines.grid, m_lines.torus, run)
    other = dead_line_share(m_other.neuron_class < 0, m_other.grid, m_other.torus, run)
    rng = np.random.default_rng(seed)
    null = np.array([dead_line_share(rng.permutation(dead), m_lines.grid, m_lines.torus, run) for _ in range(n_shuffles)])
    p = one_sided_p(obs, null, greater=True)
    nd = int(dead.sum())
    values = {"share": obs, "dead": nd, "other_share": other, "other_dead": int((m_other.neuron_class < 0).sum()),
              "null_mean": float(np.nanmean(null)) if nd else None, "null_p95": float(np.nanpercentile(null, 95)) if nd else None,
              "p": p}
    maps = f"{m_lines.name} vs {m_other.name}"
    if nd < run:
        return Claim(figure, words, measure, f"{nd} dead neurons on {m_lines.name}: too few for a line", FAILS,
                     threshold, maps, open_, values)
    measured = (f"{_pct(obs)} of {nd} dead neurons (random placement: mean {_pct(values['null_mean'])}, 95th "
                f"percentile {_pct(values['null_p95'])}; p = {p:.3f}); {m_other.name}: {_pct(other)} of "
                f"{values['other_dead']}")
    ok = p <= alpha and (not np.isfinite(other) or obs > other)
    return Claim(figure, words, measure, measured, HOLDS if ok else FAILS, threshold, maps, open_, values)


def fig7_claims(m3: SomMap, m10: SomMap, ns3: float, ns10: float, noise: float = 0.0,
                paper: Sequence[float] | None = None, n_shuffles: int = N_SHUFFLES, seed: int = 0,
                min_size: int = MIN_CLUSTER) -> list[Claim]:
    """Fig. 7's claims on the sigma-3 and sigma-10 maps: NS at sigma 3 above sigma 10, more clusters at sigma 3,
    dead-neuron lines at sigma 10."""
    paper = tuple(paper if paper is not None else paper_numbers()["ns_sigma"])
    maps = f"{m3.name} vs {m10.name}"
    return [
        claim_ns_order(ns3, ns10, ("sigma 3", "sigma 10"), "Neural selectivity decreased from 71.19% to 70.19% "
                       "[sigma 3 to sigma 10]; neural selectivity improves with smaller filter support", "Fig. 7",
                       paper, noise, maps),
        claim_more_clusters(m3, m10, "... at the expense of more clusters and noisier maps", "Fig. 7", min_size),
        claim_dead_lines(m10, m3, "Notice the presence of non-responding neurons ... separating incompatible "
                         "clusters (Fig. 9, sigma 10: 'the lines formed by dead neurons between some clusters')",
                         "Fig. 7", n_shuffles, seed),
    ]


def fig11_claims(m1: SomMap, m18: SomMap, ns1: float, ns18: float, noise: float = 0.0,
                 paper: Sequence[float] | None = None, min_size: int = MIN_CLUSTER) -> list[Claim]:
    """Fig. 11's claims on the t-student maps of scale 1 and 18: NS at s = 1 above s = 18, with more clusters
    and more dead neurons."""
    paper = tuple(paper if paper is not None else paper_numbers()["ns_student"])
    maps = f"{m1.name} vs {m18.name}"
    words = ("neural selectivity using the t-student convolution filter 1/(1+(x^2+y^2)) improved slightly to 73.33% "
             "from 72.12% with filter 1/(1+(x^2+y^2)/18) at the expense of more clusters, more dead neurons")
    return [claim_ns_order(ns1, ns18, ("s = 1", "s = 18"), words, "Fig. 11", paper, noise, maps),
            claim_more_clusters(m1, m18, "... at the expense of more clusters", "Fig. 11", min_size),
            claim_more_dead(m1, m18, "... more dead neurons", "Fig. 11")]


def fig4_claims(maps: Sequence[SomMap], ns: Sequence[float], paper: Sequence[float] | None = None,
                min_size: int = MIN_CLUSTER) -> list[Claim]:
    """Fig. 4's claims on the maps of its seeds: the NS, then every relation on each map, then whether the
    relations persist across the maps."""
    rows = [claim_ns(ns, maps[0].classes, paper, maps=" and ".join(m.name for m in maps))]
    relations = [map_relation_claims(m, min_size) for m in maps]
    for rel in relations:
        rows += rel
    rows.append(claim_persist(maps, relations))
    return rows


# --------------------------------------------------------------------------------------- from runs
def run_map(run: Any, name: str) -> SomMap:
    """The paper's map of a stored run (``urlsom_core.runs.Run``): the network's own winners of its training
    images (no usage bias, no readout), their labels and classes, the grid and whether it wraps."""
    a = run.assignments()  # its winner is the network's own
    return SomMap(a["winner"], a["label"], list(run.resolved["classes"]), tuple(run.config.model.grid),
                  run.config.model.circular, name)


def run_ns(run: Any) -> float:
    """The NS of a stored run's own map (metrics.json's top level: without a usage bias or readout)."""
    return float(run.metrics["neural_selectivity"])


def seed_spread(runs: Sequence[Any]) -> float:
    """The NS difference of the first two runs (Fig. 4's two seeds: one setting, two trainings), 0 with fewer."""
    ns = [run_ns(r) for r in runs]
    return abs(ns[0] - ns[1]) if len(ns) > 1 else 0.0


def claims_from_runs(fig4: Sequence[Any] = (), fig5: Any = None, fig7: Sequence[Any] = (), fig11: Sequence[Any] = (),
                     seeds: Sequence[int] | None = None, n_shuffles: int = N_SHUFFLES, seed: int = 0,
                     noise: float | None = None) -> list[Claim]:
    """Every caption claim of the runs given: ``fig4`` the runs of Fig. 4's seeds, ``fig5`` the run whose loss
    Fig. 5 draws, ``fig7`` the sigma-3 and sigma-10 runs, ``fig11`` the t-student s = 1 and s = 18 runs. The NS
    difference of the first two Fig. 4 runs (:func:`seed_spread`) is the seed-to-seed spread that Fig. 7's and
    Fig. 11's NS orders must exceed; ``noise`` gives it where ``fig4`` is not given (a page of Fig. 7 alone),
    else 0 (any difference decides, and the rows say so)."""
    rows: list[Claim] = []
    if fig4:
        names = [f"seed {s}" for s in (seeds if seeds is not None else [r.config.train.seed for r in fig4])]
        maps = [run_map(r, n) for r, n in zip(fig4, names, strict=True)]
        ns = [run_ns(r) for r in fig4]
        noise = seed_spread(fig4) if noise is None else noise
        rows += fig4_claims(maps, ns)
    noise = 0.0 if noise is None else float(noise)
    if fig5 is not None:
        rows += [claim_stop(fig5.history, fig5.metrics.get("stop_reason"), maps="Fig. 5 run"),
                 claim_glitches(fig5.history, maps="Fig. 5 run")]
    if fig7:
        m3, m10 = run_map(fig7[0], "sigma 3"), run_map(fig7[1], "sigma 10")
        rows += fig7_claims(m3, m10, run_ns(fig7[0]), run_ns(fig7[1]), noise, n_shuffles=n_shuffles, seed=seed)
    if fig11:
        m1, m18 = run_map(fig11[0], "s = 1"), run_map(fig11[1], "s = 18")
        rows += fig11_claims(m1, m18, run_ns(fig11[0]), run_ns(fig11[1]), noise)
    return rows


# ------------------------------------------------------------------------------------------- tables
COLUMNS = ("figure", "paper", "measure", "map", "measured", "threshold", "verdict", "open")
HEADERS = {"figure": "figure", "paper": "the paper says", "measure": "measurable form", "map": "map",
           "measured": "this build measured", "threshold": "decided by", "verdict": "verdict",
           "open": "what the paper's words leave open"}  # a page's column names
PAGE_COLUMNS = ("paper", "measure", "map", "measured", "threshold", "verdict")  # a figure page's table


def claims_table(rows: Sequence[Claim], markdown: bool = False, columns: Sequence[str] = COLUMNS) -> Any:
    """The claims as a table: a pandas DataFrame with :data:`COLUMNS` (the paper's words, the measurable
    form, the map, what was measured, the threshold, the verdict, where the paper leaves the measure open),
    or with ``markdown`` the same as a Markdown table (``|`` in a cell escaped)."""
    import pandas as pd

    records = [{"figure": r.figure, "paper": r.paper, "measure": r.measure, "map": r.maps, "measured": r.measured,
                "threshold": r.threshold, "verdict": r.verdict, "open": r.open} for r in rows]
    df = pd.DataFrame.from_records(records, columns=list(COLUMNS))[list(columns)]
    if not markdown:
        return df

    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "".join("| " + " | ".join(cell(r[c]) for c in columns) + " |\n" for _, r in df.iterrows())


def claims_markdown(rows: Sequence[Claim], columns: Sequence[str] = PAGE_COLUMNS) -> str:
    """The rows as a page shows them: a Markdown table, rows numbered, of ``columns`` under their readable names
    (:data:`HEADERS`) with the verdict in bold; then, unless ``columns`` holds ``open``, what the paper's words
    leave open (too long for a table cell), one bullet per distinct note naming its rows. '' without rows."""
    if not rows:
        return ""

    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| # | " + " | ".join(HEADERS[c] for c in columns) + " |", "|---|" + "---|" * len(columns)]
    notes: dict[str, list[int]] = {}
    for k, r in enumerate(rows, 1):
        rec = {"figure": r.figure, "paper": r.paper, "measure": r.measure, "map": r.maps, "measured": r.measured,
               "threshold": r.threshold, "verdict": f"**{r.verdict}**", "open": r.open}
        lines.append(f"| {k} | " + " | ".join(cell(rec[c]) for c in columns) + " |")
        if r.open:
            notes.setdefault(r.open, []).append(k)
    if notes and "open" not in columns:
        lines += ["", f"{HEADERS['open'].capitalize()}:", ""]
        lines += [f"- row{'s' if len(ks) > 1 else ''} {', '.join(map(str, ks))}: {cell(n)}" for n, ks in notes.items()]
    return "\n".join(lines)


def verdict_counts(rows: Sequence[Claim]) -> dict[str, int]:
    """How many rows hold, do not hold and cannot tell, in the order of :data:`VERDICTS`."""
    return {v: sum(r.verdict == v for r in rows) for v in VERDICTS}


def claims_from_json(rows: Sequence[Mapping[str, Any]]) -> list[Claim]:
    """The rows of :func:`claims_json` (a result file's) as :class:`Claim` again."""
    return [Claim(r["figure"], r["paper"], r["measure"], r["measured"], r["verdict"], r["threshold"], r.get("map", ""),
                  r.get("open", ""), r.get("values") or {}) for r in rows]


def claims_json(rows: Sequence[Claim]) -> list[dict[str, Any]]:
    """The rows as JSON-ready dicts (NaN as None), for a result file."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, (np.floating, np.integer)):
            return clean(v.item())
        if isinstance(v, Mapping):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return [clean({"figure": r.figure, "paper": r.paper, "measure": r.measure, "map": r.maps, "measured": r.measured,
                   "threshold": r.threshold, "verdict": r.verdict, "open": r.open, "values": dict(r.values)})
            for r in rows]

"""Map quality. Neural Selectivity (paper Sec. V.C) and what goes with it.

Every sample's winner is the argmax of its un-augmented Softmax output (a readout fitted after training,
``urlsom_core.readouts``, gives winners of its own, scored by the same functions). A neuron's label is the mode of
its samples' labels (ties go to the smallest label). NS is the fraction of samples whose label equals
their winner's label; the per-neuron NS averages each live neuron's purity; a live neuron won at least
one sample. The held-out NS takes neuron labels from one split and scores another; a held-out sample
whose winner won nothing in the labelling split counts as wrong (``heldout_on_dead`` is their share).

NS grows with the number of neurons K (with one sample per neuron it is 1 on the training split), so it is
never read without K: ``chance_neural_selectivity`` gives the NS of a map that assigns samples to K
neurons at random, and ``baselines.ns_versus_k`` measures NS on 10x10 .. 40x40 grids.

The map metrics the paper lacks (``map_metrics``, written into metrics.json): ``topographic_error``,
``contiguity`` and ``contiguity_shuffled``, ``trustworthiness``, ``nmi`` and ``ari``. A metric that is
undefined for a map (contiguity with no two adjacent live neurons, trustworthiness on too few samples) is
NaN from the functions here and ``None`` (JSON null) in ``map_metrics``. On a toroidal map
(``ModelConfig.circular``: the fixed convolution wraps) every grid distance wraps too
(``torus=True``): column 0 and column W-1 are neighbours. On a hexagonal map (``lattice="hex"``,
``ModelConfig.lattice``; :mod:`urlsom_core.lattice`) a neuron's neighbours are the 6 cells around it where a
square map has 8 (sides and corners), and grid distances are between the hexagons' centres.

How the map is used (``usage_metrics``, also in metrics.json): the corner and border over-representation
(share of samples won by the 4 corner neurons / the outer ring, over their share of the neurons), the live
share and the evenness of the winner counts (their entropy over log n). On a toroidal map, where the
corners are a 2x2 block like any other, ``corner_chance`` and ``border_chance`` say how often a translate of
those neurons on the torus wins as many samples (``translate_chance``).

Example:
    >>> import numpy as np
    >>> r = neural_selectivity(np.array([0, 0, 1, 1]), np.array([3, 3, 4, 5]), n_neurons=4)
    >>> r["neural_selectivity"], r["active_neurons"]
    (0.75, 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .lattice import are_neighbours, cell_centres, neighbour_pairs, neighbour_table, offsets, periods


def neuron_labels(winners: np.ndarray, labels: np.ndarray, n_neurons: int) -> np.ndarray:
    """Mode label of each neuron's samples, -1 for a neuron that won nothing. (n_neurons,) int64."""
    winners, labels = _check_assignment(winners, labels, n_neurons)
    n_classes = int(labels.max()) + 1 if labels.size else 1
    counts = np.zeros((n_neurons, n_classes), dtype=np.int64)
    np.add.at(counts, (winners, labels), 1)
    out = counts.argmax(1)  # first maximum: ties go to the smallest label
    out[counts.sum(1) == 0] = -1
    return out


def label_counts(winners: np.ndarray, labels: np.ndarray, n_neurons: int, n_classes: int) -> np.ndarray:
    """(n_neurons, n_classes) table of how many samples of each label each neuron won."""
    counts = np.zeros((n_neurons, n_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(winners, dtype=np.int64), np.asarray(labels, dtype=np.int64)), 1)
    return counts


def neural_selectivity(winners: np.ndarray, labels: np.ndarray, n_neurons: int) -> dict[str, float | int]:
    """NS, per-neuron NS, live (winning) neurons and the map size, for one split."""
    winners, labels = _check_assignment(winners, labels, n_neurons)
    n_classes = int(labels.max()) + 1 if labels.size else 1
    counts = label_counts(winners, labels, n_neurons, n_classes)
    total = counts.sum(1)
    live = total > 0
    purity = counts.max(1)[live] / total[live]  # a neuron's hits are the samples of its mode label
    return {
        "neural_selectivity": float(counts.max(1).sum() / len(labels)) if labels.size else 0.0,
        "neural_selectivity_per_neuron": float(purity.mean()) if purity.size else 0.0,
        "active_neurons": int(live.sum()),
        "n_neurons": int(n_neurons),
    }


def _check_assignment(winners: np.ndarray, labels: np.ndarray, n_neurons: int) -> tuple[np.ndarray, np.ndarray]:
    winners = np.asarray(winners, dtype=np.int64).reshape(-1)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if winners.shape != labels.shape:
        raise ValueError(f"winners ({winners.size}) and labels ({labels.size}): allowed is one label per winner")
    if winners.size and (winners.min() < 0 or winners.max() >= n_neurons):
        raise ValueError(f"winner {int(winners.max() if winners.max() >= n_neurons else winners.min())}: "
                         f"allowed are neuron indices 0..{n_neurons - 1}")
    if labels.size and labels.min() < 0:
        raise ValueError(f"label {int(labels.min())}: allowed are labels >= 0")
    return winners, labels


def heldout_neural_selectivity(
    train_winners: np.ndarray, train_labels: np.ndarray, test_winners: np.ndarray, test_labels: np.ndarray, n_neurons: int
) -> float:
    """NS of ``test`` samples scored with neuron labels learnt on ``train``; dead-in-train neurons count wrong."""
    train_winners, train_labels = _check_assignment(train_winners, train_labels, n_neurons)
    test_winners, test_labels = _check_assignment(test_winners, test_labels, n_neurons)
    nl = neuron_labels(train_winners, train_labels, n_neurons)  # -1 (never a label) for dead neurons
    return float((nl[test_winners] == test_labels).mean()) if len(test_labels) else 0.0


def heldout_on_dead(train_winners: np.ndarray, test_winners: np.ndarray, n_neurons: int) -> float:
    """Share of the ``test`` samples whose winner won no ``train`` sample: the part of 1 - held-out NS that no
    neuron label can fix (:func:`heldout_neural_selectivity` counts them wrong). NaN for no test samples.

    Example:
        >>> heldout_on_dead(np.array([0, 0, 1]), np.array([0, 2, 3, 1]), n_neurons=4)  # 2 and 3 never won
        0.5
    """
    train_winners = np.asarray(train_winners, dtype=np.int64).reshape(-1)
    test_winners = np.asarray(test_winners, dtype=np.int64).reshape(-1)
    if test_winners.size == 0:
        return float("nan")
    live = np.bincount(train_winners, minlength=n_neurons) > 0
    return float((~live[test_winners]).mean())


def heldout_errors(train_winners: np.ndarray, train_labels: np.ndarray, test_winners: np.ndarray,
                   test_labels: np.ndarray, grid: tuple[int, int], torus: bool = False,
                   lattice: str = "square") -> dict[str, float]:
    """Where the held-out samples that :func:`heldout_neural_selectivity` counts wrong landed, as shares of
    all held-out samples: ``on_dead`` (their winner won no ``train`` sample), ``next_to_class`` (a live neuron
    of another label, with a neuron of their own label within one step, 8-neighbourhood or the 6 hexagonal
    neighbours on ``lattice`` hex, wrapping when ``torus``: a class boundary of the map) and ``far`` (the rest).
    ``right`` is the held-out NS; the four add up to 1. NaN for no held-out samples.

    Example:
        >>> w, y = np.array([0, 1, 3]), np.array([5, 6, 6])  # 2x2 map: neuron 2 dead, neurons 0, 1, 3 labelled
        >>> r = heldout_errors(w, y, np.array([0, 1, 2, 0]), np.array([5, 5, 5, 6]), grid=(2, 2))
        >>> r["right"], r["next_to_class"], r["on_dead"]  # 1 is next to 0 (label 5), 0 to 1 and 3 (label 6)
        (0.25, 0.5, 0.25)
    """
    n = grid[0] * grid[1]
    train_winners, train_labels = _check_assignment(train_winners, train_labels, n)
    test_winners, test_labels = _check_assignment(test_winners, test_labels, n)
    if test_winners.size == 0:
        return dict.fromkeys(("right", "on_dead", "next_to_class", "far"), float("nan"))
    nl = neuron_labels(train_winners, train_labels, n)  # (n,), -1 for dead
    right = nl[test_winners] == test_labels
    dead = nl[test_winners] < 0
    wrong = ~right & ~dead
    beside = np.zeros((n, int(max(nl.max(), test_labels.max())) + 1), dtype=bool)  # (n, classes): a label one step away
    pairs = adjacent_pairs(grid, torus, lattice)  # (P, 2), each adjacent pair once
    for a, b in (pairs.T, pairs.T[::-1]):  # both ways round
        live = nl[b] >= 0
        beside[a[live], nl[b[live]]] = True
    near = wrong & beside[test_winners, test_labels]
    m = len(test_winners)
    return {"right": float(right.sum() / m), "on_dead": float(dead.sum() / m),
            "next_to_class": float(near.sum() / m), "far": float((wrong & ~near).sum() / m)}


def participation_ratio(p: Any) -> Any:
    """How many neurons each output spreads over: ``1 / sum_j p_ij^2`` for rows ``p`` (N, n) that sum to 1.

    1 for a one-hot output, n for the uniform one; for a square blob of k equal neurons, k. Not a figure of
    the paper: it shows how peaked the Softmax of Eq. 1 is at the end of training (the loss's balance of
    loss_WTA against loss_collapse sets it). ``p`` is a numpy array, or a torch tensor (then computed in
    float64 on its device and returned as a tensor there: ``predict`` calls it on each batch). Returns (N,).

    >>> participation_ratio(np.array([[1.0, 0, 0, 0], [0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0, 0]]))
    array([1., 4., 2.])
    """
    if hasattr(p, "double") and not isinstance(p, np.ndarray):  # a torch tensor, left where it is
        return 1.0 / p.double().square().sum(1)
    p = np.asarray(p, dtype=np.float64)
    return 1.0 / np.square(p).sum(axis=1)


def chance_neural_selectivity(train_labels: np.ndarray, n_neurons: int, heldout_labels: np.ndarray | None = None,
                              repeats: int = 10, seed: int = 0) -> dict[str, float]:
    """NS (and held-out NS) of a map with no knowledge of the images: every sample goes to one of
    ``n_neurons`` neurons uniformly at random. Mean over ``repeats`` seeded draws. It rises with K on the
    training split (small neurons are pure by luck) while its held-out NS stays near the majority-class
    rate: the yardstick for reading any NS at a given K."""
    train_labels = np.asarray(train_labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    ns, ho = [], []
    for _ in range(repeats):
        w = rng.integers(0, n_neurons, len(train_labels))
        ns.append(neural_selectivity(w, train_labels, n_neurons)["neural_selectivity"])
        if heldout_labels is not None:
            we = rng.integers(0, n_neurons, len(heldout_labels))
            ho.append(heldout_neural_selectivity(w, train_labels, we, heldout_labels, n_neurons))
    out = {"neural_selectivity": float(np.mean(ns))}
    if heldout_labels is not None:
        out["heldout_neural_selectivity"] = float(np.mean(ho))
    return out


# --------------------------------------------------------------------------------- map topology metrics
def grid_coords(neurons: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Row-major neuron index -> (row, col) float coordinates, (N, 2)."""
    neurons = np.asarray(neurons, dtype=np.int64)
    return np.stack((neurons // grid[1], neurons % grid[1]), 1).astype(np.float64)


def top2(scores: np.ndarray, largest: bool = True) -> np.ndarray:
    """Each row's best and second-best column, (N, 2): largest outputs (a Softmax map) or, with
    ``largest=False``, smallest distances (a classical SOM). Ties go to the lower neuron index (stable
    sort), the rule ``predict.predict`` follows too."""
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError(f"scores of shape {scores.shape}: allowed is (N, n) with n >= 2 neurons")
    key = -scores if largest else scores
    return np.argsort(key, axis=1, kind="stable")[:, :2]


def grid_offsets(a: np.ndarray, b: np.ndarray, grid: tuple[int, int], torus: bool = False) -> np.ndarray:
    """|row| and |column| offsets between neurons ``a`` and ``b`` (row-major indices), (N, 2) float.

    On a torus each offset is the shorter way round: ``min(d, side - d)``."""
    d = np.abs(grid_coords(a, grid) - grid_coords(b, grid))
    if torus:
        side = np.array(grid, dtype=np.float64)
        d = np.minimum(d, side - d)
    return d


def topographic_error(top2: np.ndarray, grid: tuple[int, int], torus: bool = False, lattice: str = "square") -> float:
    """Fraction of samples whose two largest outputs are not grid neighbours (8-neighbourhood; on ``lattice``
    hex the 6 cells around a cell, ``lattice.neighbour_table``).

    ``torus``: the map wraps (a circular boundary), so neurons in the first and last column (or row) are
    neighbours.

    ``top2`` (N, 2) holds each sample's best and second-best neuron, a Softmax map's two largest outputs
    (a classical SOM's two nearest units). Ties between equal outputs are broken towards the lower neuron
    index (``predict`` and ``top2`` use a stable descending sort), so the result is deterministic; a fully
    uniform output therefore pairs neurons 0 and 1, which are neighbours. NaN for no samples.
    """
    t = np.asarray(top2)
    n = grid[0] * grid[1]
    if t.ndim != 2 or t.shape[1] != 2:
        raise ValueError(f"top2 of shape {t.shape}: allowed is (N, 2), each sample's best and second-best neuron")
    if len(t) == 0:
        return float("nan")
    if t.min() < 0 or t.max() >= n:
        raise ValueError(f"top2 holds neuron {int(t.max() if t.max() >= n else t.min())}: allowed are 0..{n - 1}")
    if (t[:, 0] == t[:, 1]).any():
        raise ValueError("top2: a sample's best and second-best neuron are the same; allowed are two distinct neurons")
    if lattice != "square":
        return float((~are_neighbours(t[:, 0], t[:, 1], grid, lattice, torus)).mean())
    cheb = grid_offsets(t[:, 0], t[:, 1], grid, torus).max(1)
    return float((cheb > 1).mean())


def latent_order(winners: np.ndarray, latents: np.ndarray, grid: tuple[int, int], torus: bool = False,
                 lattice: str = "square", pairs: int = 20000, seed: int = 0) -> float:
    r"""How well the map orders images by known latent factors: a rank correlation over pairs of images.

    For a pair of images :math:`(i, j)` with winners :math:`w_i, w_j` and latent vectors :math:`z_i, z_j`,

    .. math::

        \rho = \operatorname{Spearman}\bigl(\, d_{grid}(w_i, w_j),\;
                \lVert \tilde z_i - \tilde z_j \rVert_2 \,\bigr)_{(i, j) \in P},

    where :math:`d_{grid}` is the Euclidean distance between the two neurons' centres on the lattice (cell
    widths; on a torus to the nearest periodic image, :func:`urlsom_core.lattice.offsets`), :math:`\tilde z` is
    each latent standardised to mean 0 and standard deviation 1 over the images (a constant latent is left
    out), and :math:`P` is ``pairs`` random pairs of distinct images (every pair when there are fewer). Ties (two
    images on one neuron: distance 0) get average ranks. 1: images far apart in the latents are far apart on
    the map, in the same order; 0: no relation (a map that scatters images at random).

    Parameters
    ----------
    winners : ndarray
        (N,) each image's winning neuron, row-major.
    latents : ndarray
        (N,) or (N, k) the images' known latent factors (a circular one unrolled as the caller sees fit:
        only Euclidean distance is taken).
    grid : (int, int)
        The map's rows and columns.
    torus, lattice
        The map wraps (``ModelConfig.circular``); ``square`` or ``hex`` (``ModelConfig.lattice``).
    pairs : int
        Most pairs drawn (seeded by ``seed``).

    Returns
    -------
    float
        Spearman's rho; NaN for fewer than 2 images or when either distance is constant over the pairs.

    Example:
        >>> z = np.arange(10.0)  # a 1x10 strip with image i on neuron i: a perfect order
        >>> latent_order(np.arange(10), z, (1, 10))
        1.0
    """
    from scipy.stats import spearmanr

    w = np.asarray(winners, dtype=np.int64).reshape(-1)
    z = np.asarray(latents, dtype=np.float64)
    z = z.reshape(len(z), -1) if z.ndim != 2 else z
    n_neurons = int(grid[0]) * int(grid[1])
    if len(z) != len(w):
        raise ValueError(f"latents for {len(z)} images and winners for {len(w)}: allowed is one latent row per winner")
    if not np.isfinite(z).all():
        raise ValueError("latents: not all finite (NaN or Inf)")
    if len(w) and (w.min() < 0 or w.max() >= n_neurons):
        raise ValueError(f"winners hold neuron {int(w.max() if w.max() >= n_neurons else w.min())}: allowed are "
                         f"0..{n_neurons - 1}")
    if pairs < 1:
        raise ValueError(f"pairs {pairs}: allowed is an integer >= 1")
    n = len(w)
    if n < 2:
        return float("nan")
    sd = z.std(0)
    z = (z[:, sd > 0] - z[:, sd > 0].mean(0)) / sd[sd > 0]
    if n * (n - 1) // 2 <= pairs:
        a, b = np.triu_indices(n, 1)
    else:
        rng = np.random.default_rng(seed)
        a = rng.integers(0, n, pairs)
        b = (a + rng.integers(1, n, pairs)) % n  # a distinct second image, uniform over the others
    # rounded, so that distances equal but for the last bits of a float (|3 - 1| and |5 - 3| over an sd) tie
    d_grid = np.round(np.sqrt((offsets(w[a], w[b], grid, lattice, torus) ** 2).sum(-1)), 9)
    d_lat = np.round(np.sqrt(((z[a] - z[b]) ** 2).sum(-1)), 9)
    if np.ptp(d_grid) == 0 or np.ptp(d_lat) == 0:
        return float("nan")
    return float(spearmanr(d_grid, d_lat).statistic)


def adjacent_pairs(grid: tuple[int, int], torus: bool = False, lattice: str = "square") -> np.ndarray:
    """Every unordered pair of 8-adjacent neurons once, (P, 2) row-major indices. On a torus the first and
    last rows and columns are adjacent too (a pair is listed once even on a side of 2, where both ways
    round meet). On ``lattice`` hex the pairs of the 6 hexagonal neighbours (``lattice.neighbour_pairs``)."""
    if lattice != "square":
        return neighbour_pairs(grid, lattice, torus)
    H, W = grid
    if not torus:
        idx = np.arange(H * W).reshape(H, W)
        pairs = []
        for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):  # each 8-neighbour pair once
            r0, r1 = max(0, -dr), H - max(0, dr)
            c0, c1 = max(0, -dc), W - max(0, dc)
            a = idx[r0:r1, c0:c1]
            b = idx[r0 + dr : r1 + dr, c0 + dc : c1 + dc]
            pairs.append(np.stack((a.ravel(), b.ravel()), 1))
        return np.concatenate(pairs)
    r, c = np.divmod(np.arange(H * W), W)
    pairs = []
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr or dc:
                pairs.append(np.stack((r * W + c, ((r + dr) % H) * W + (c + dc) % W), 1))
    p = np.concatenate(pairs)
    p = p[p[:, 0] != p[:, 1]]  # a side of 1 would wrap onto itself (grids are at least 2x2)
    return np.unique(np.sort(p, 1), axis=0)


def contiguity(winners: np.ndarray, labels: np.ndarray, grid: tuple[int, int], torus: bool = False,
               lattice: str = "square") -> tuple[float, float]:
    """(contiguity, shuffled contiguity).

    Contiguity: among pairs of 8-adjacent live neurons (the 6 hexagonal neighbours on ``lattice`` hex; wrapping
    round a torus with ``torus``), the fraction whose mode labels agree.
    Shuffled: its exact expectation when the live neurons' positions are shuffled (a uniformly random
    permutation of the mode labels over the live positions). Any two distinct positions then hold an
    ordered pair drawn without replacement from the L live labels, so the expectation is
    ``sum_c m_c (m_c - 1) / (L (L - 1))`` with ``m_c`` the live neurons of mode label c, whatever the
    adjacency: a map with no topology scores that value on average. Both are NaN when no two live neurons
    are adjacent (a collapsed map: one live neuron).
    """
    n = grid[0] * grid[1]
    nl = neuron_labels(winners, labels, n)
    pairs = adjacent_pairs(grid, torus, lattice)
    live = nl >= 0
    p = pairs[live[pairs[:, 0]] & live[pairs[:, 1]]]
    if len(p) == 0:
        return float("nan"), float("nan")
    real = float((nl[p[:, 0]] == nl[p[:, 1]]).mean())
    m = np.bincount(nl[live]).astype(np.float64)
    L = m.sum()
    return real, float((m * (m - 1)).sum() / (L * (L - 1)))


def map_trustworthiness(embedding: np.ndarray, winners: np.ndarray, grid: tuple[int, int], n_neighbors: int = 5,
                        max_samples: int = 2000, seed: int = 0, torus: bool = False, lattice: str = "square") -> float:
    """scikit-learn's trustworthiness of each sample's winner grid position w.r.t. its backbone embedding,
    on a seeded subsample of at most ``max_samples`` (the measure is O(N^2) in memory).

    Many samples share a winner, so grid distances tie, and scikit-learn's neighbour search breaks ties
    by its own internal order (a collapsed map scores anywhere from 0.2 to 0.6 depending on the sample
    order). We break them at random instead: a seeded jitter smaller than any gap between two distinct
    grid distances is added to the coordinates, so every strict order of the grid is kept and a map that
    carries no information (collapsed, or random) scores the chance value, about 0.5. NaN when there are
    too few samples (scikit-learn needs ``n_neighbors < N / 2``). With ``torus`` the grid distance wraps
    (the shorter way round each axis), computed as a precomputed distance matrix with the same jitter. On
    ``lattice`` hex the positions are the hexagons' centres (``lattice.cell_centres``), whose squared distances
    are multiples of 1/4 rather than integers; the jitter shrinks to match.
    """
    from sklearn.manifold import trustworthiness

    winners = np.asarray(winners)
    N = len(winners)
    if N <= n_neighbors * 2 + 1:
        return float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.permutation(N)[:max_samples]
    hexagonal = lattice != "square"
    coords = cell_centres(grid, lattice)[np.asarray(winners[idx], dtype=np.int64)] if hexagonal else grid_coords(winners[idx], grid)
    # squared grid distances are integers <= D (square) or multiples q = 1/4 of a unit up to D (hex), so distinct
    # distances differ by >= q / (2 sqrt(D)); a jitter of eps per coordinate moves a distance by <= 2 sqrt(2) eps,
    # far below half that gap.
    q = 0.25 if hexagonal else 1.0
    D = (grid[0] - 1) ** 2 + (grid[1] - 1) ** 2 if not hexagonal else float(np.square(periods(grid, lattice)).sum())
    eps = 0.05 * q / np.sqrt(D + 1)
    coords = coords + rng.uniform(-eps, eps, coords.shape)
    if not torus:
        return float(trustworthiness(np.asarray(embedding)[idx], coords, n_neighbors=n_neighbors))
    # wrapped offsets of the jittered coordinates: the jitter still only breaks ties (each offset moves by <= 2 eps)
    d = np.abs(coords[:, None, :] - coords[None, :, :])
    side = periods(grid, lattice) if hexagonal else np.array(grid, dtype=np.float64)
    d = np.minimum(d, side - d)
    dist = np.sqrt((d**2).sum(-1))
    return _trustworthiness_precomputed(np.asarray(embedding)[idx], dist, n_neighbors)


def _trustworthiness_precomputed(X: np.ndarray, dist_embedded: np.ndarray, n_neighbors: int) -> float:
    """scikit-learn's trustworthiness formula with the embedded space given as a distance matrix
    (scikit-learn's own function takes the embedded space as coordinates only)."""
    from sklearn.metrics import pairwise_distances

    n = X.shape[0]
    dist_X = pairwise_distances(X, metric="euclidean")
    np.fill_diagonal(dist_X, np.inf)
    ind_X = np.argsort(dist_X, axis=1)
    d = dist_embedded.copy()
    np.fill_diagonal(d, np.inf)
    ind_embedded = np.argsort(d, axis=1, kind="stable")[:, :n_neighbors]
    inverted = np.zeros((n, n), dtype=int)
    ordered = np.arange(n + 1)
    inverted[ordered[:, None][:-1], ind_X] = ordered[1:]
    ranks = inverted[ordered[:-1, None], ind_embedded] - n_neighbors
    t = np.sum(ranks[ranks > 0])
    return float(1.0 - t * (2.0 / (n * n_neighbors * (2.0 * n - 3.0 * n_neighbors - 1.0))))


def map_metrics(winners: np.ndarray, top2: np.ndarray, labels: np.ndarray, grid: tuple[int, int],
                embedding: np.ndarray | None = None, torus: bool = False,
                lattice: str = "square") -> dict[str, float | None]:
    """Topographic error, contiguity (and its shuffled baseline), trustworthiness, NMI and ARI, and how the
    map is used (``usage_metrics``: corner and border over-representation, live share, evenness).

    NMI and ARI compare the partition of the samples by winner with the labels (scikit-learn's scores;
    NMI with arithmetic normalisation). ``torus``: the map wraps (``ModelConfig.circular``),
    so topographic error, contiguity and trustworthiness use toroidal grid distance; ``lattice``
    (``ModelConfig.lattice``): on ``hex`` they use the 6 hexagonal neighbours and the distances between the
    hexagons' centres. An undefined value is ``None``.
    """
    c, cs = contiguity(winners, labels, grid, torus, lattice)
    nmi, ari = cluster_scores(winners, labels)
    out: dict[str, float | None] = {
        "topographic_error": topographic_error(top2, grid, torus, lattice),
        "contiguity": c,
        "contiguity_shuffled": cs,
        "nmi": nmi,
        "ari": ari,
    }
    if embedding is not None:
        out["trustworthiness"] = map_trustworthiness(embedding, winners, grid, torus=torus, lattice=lattice)
    out.update(usage_metrics(winners, grid, torus))
    return {k: (None if v is None or not np.isfinite(v) else float(v)) for k, v in out.items()}


def cluster_scores(winners: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(NMI, ARI) of the winners as a clustering, against the labels."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return float(normalized_mutual_info_score(labels, winners)), float(adjusted_rand_score(labels, winners))


# ------------------------------------------------------------------------------------ how the map is used
def corner_neurons(grid: tuple[int, int]) -> np.ndarray:
    """The 4 corner neurons of ``grid`` (row-major indices)."""
    H, W = grid
    return np.array([0, W - 1, (H - 1) * W, H * W - 1], dtype=np.int64)


def border_neurons(grid: tuple[int, int]) -> np.ndarray:
    """The outer ring of ``grid``, corners included (row-major indices, sorted): 2H + 2W - 4 neurons."""
    H, W = grid
    r, c = np.divmod(np.arange(H * W), W)
    return np.flatnonzero((r == 0) | (r == H - 1) | (c == 0) | (c == W - 1))


def over_representation(winners: np.ndarray, neurons: np.ndarray, n_neurons: int) -> float:
    """Share of the samples won by ``neurons`` over their share of the map: 1 for a map used evenly,
    ``n_neurons / len(neurons)`` when they win every sample, 0 when they win none. NaN for no samples."""
    winners = np.asarray(winners, dtype=np.int64).reshape(-1)
    if winners.size == 0:
        return float("nan")
    share = np.isin(winners, neurons).mean()
    return float(share / (len(neurons) / n_neurons))


def translate_counts(winners: np.ndarray, neurons: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """On a toroidal ``grid``: the samples won by every translate of the neuron set ``neurons``, as an (H, W)
    array whose entry (dr, dc) is the count of the set shifted by dr rows and dc columns (entry (0, 0) is the
    set's own count).

    Example:
        >>> translate_counts(np.array([0, 0, 5]), np.array([0]), (3, 3)).tolist()  # one neuron: the counts
        [[2.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    """
    H, W = int(grid[0]), int(grid[1])
    winners = np.asarray(winners, dtype=np.int64).reshape(-1)
    counts = np.bincount(winners, minlength=H * W).reshape(H, W).astype(np.float64)
    mask = np.zeros(H * W)
    mask[np.asarray(neurons, dtype=np.int64)] = 1.0
    mask = mask.reshape(H, W)
    # circular cross-correlation: won[d] = sum_x counts[x + d] * mask[x], for every shift d, in one FFT
    return np.rint(np.fft.ifft2(np.fft.fft2(counts) * np.conj(np.fft.fft2(mask))).real) + 0.0  # (H, W)


def translate_chance(winners: np.ndarray, neurons: np.ndarray, grid: tuple[int, int]) -> float:
    """On a toroidal ``grid``: the share of the H*W translates of the neuron set ``neurons`` (the set itself
    included) whose neurons won at least as many of the samples ``winners`` as ``neurons`` did.

    A torus has no edge: every translate is the same shape in the same surroundings, so when the map does
    not favour ``neurons`` their count is one draw among the translates' (:func:`translate_counts`) and this
    share is about uniform on (0, 1]; near 1/(H*W) means they win more than almost any translate (a bias),
    near 1 fewer. It turns an over-representation into a chance: on a map whose samples cluster, many 2x2
    blocks hold twice the mean, and the corners of a torus are such a block. NaN for no samples.

    Example:
        >>> translate_chance(np.array([0, 0, 5]), np.array([0]), (3, 3))  # neuron 0 wins most: 1 of 9
        0.1111111111111111
    """
    if np.asarray(winners).size == 0:
        return float("nan")
    won = translate_counts(winners, neurons, grid)
    return float((won >= won[0, 0]).mean())


def usage_metrics(winners: np.ndarray, grid: tuple[int, int], torus: bool = False) -> dict[str, float]:
    """How evenly the map is used, from the winners alone.

    ``corner_over_representation``: share of the samples won by the 4 corner neurons over their share of
    the neurons (4 / n); ``border_over_representation``: the same for the outer ring, corners included;
    ``live_share``: neurons that won a sample over n; ``usage_evenness``: the entropy of the winner counts
    over log n (1 when every neuron wins equally often, 0 when one neuron wins all).

    The corner and border figures are always taken on the displayed grid, also for a toroidal map
    (``torus=True``: ``ModelConfig.circular``), where no neuron is at an edge: there, by symmetry, their
    expectation is 1 and a value far from 1 is chance or a map that is not shift-invariant. So a torus also
    gets ``corner_chance`` and ``border_chance`` (:func:`translate_chance` of the corners and of the outer
    ring: the share of their translates on the torus that win at least as many samples). On a zero-padded
    map a value above 1 is the edge bias of the fixed convolution (a truncated neighbourhood sharpens the
    Softmax), and there is no chance figure: its translates are not alike.

    Example:
        >>> m = usage_metrics(np.array([0, 3, 12, 15]), (4, 4))  # every sample on a corner of a 4x4 map
        >>> m["corner_over_representation"], m["live_share"]
        (4.0, 0.25)
    """
    H, W = int(grid[0]), int(grid[1])
    n = H * W
    winners = np.asarray(winners, dtype=np.int64).reshape(-1)
    if winners.size and (winners.min() < 0 or winners.max() >= n):
        raise ValueError(f"winner {int(winners.max() if winners.max() >= n else winners.min())}: "
                         f"allowed are neuron indices 0..{n - 1}")
    counts = np.bincount(winners, minlength=n).astype(np.float64)
    if winners.size:
        p = counts[counts > 0] / counts.sum()
        evenness = float(-(p * np.log(p)).sum() / np.log(n))
    else:
        evenness = float("nan")
    out = {
        "corner_over_representation": over_representation(winners, corner_neurons((H, W)), n),
        "border_over_representation": over_representation(winners, border_neurons((H, W)), n),
        "live_share": float((counts > 0).mean()),
        "usage_evenness": evenness,
    }
    if torus:
        out["corner_chance"] = translate_chance(winners, corner_neurons((H, W)), (H, W))
        out["border_chance"] = translate_chance(winners, border_neurons((H, W)), (H, W))
    return out


# -------------------------------------------------------------------------------------------- U-matrix
# Not a figure of the paper: the classical SOM's picture of where the map's features change (Ultsch and Siemon,
# 1990), on prototypes taken from the network's embedding. The functions take a neighbour table (n, k), so a
# lattice other than the square one only needs its own table.
def square_neighbours(grid: tuple[int, int], torus: bool = False) -> np.ndarray:
    """Each neuron's 4 lattice neighbours (up, down, left, right), (n, 4) row-major indices, -1 off the map.

    ``torus``: the map wraps (``ModelConfig.boundary == "circular"``). On a torus of side 2 the neighbour up
    and the neighbour down are one neuron: it is listed once (the other entry is -1).

    Example:
        >>> square_neighbours((2, 3))[0].tolist(), square_neighbours((2, 3), torus=True)[0].tolist()
        ([-1, 3, -1, 1], [3, -1, 2, 1])
    """
    H, W = int(grid[0]), int(grid[1])
    r, c = np.divmod(np.arange(H * W), W)
    out = np.full((H * W, 4), -1, dtype=np.int64)
    for k, (dr, dc) in enumerate(((-1, 0), (1, 0), (0, -1), (0, 1))):
        rr, cc = r + dr, c + dc
        if torus:
            rr, cc = rr % H, cc % W
            ok = np.ones(H * W, dtype=bool)
        else:
            ok = (rr >= 0) & (rr < H) & (cc >= 0) & (cc < W)
        out[ok, k] = rr[ok] * W + cc[ok]
    for k in range(1, 4):  # a neighbour met twice (a side of 2 on a torus) counts once
        dup = (out[:, [k]] == out[:, :k]).any(1) & (out[:, k] >= 0)
        out[dup, k] = -1
    return out


def neuron_prototypes(embedding: np.ndarray, winners: np.ndarray, n_neurons: int) -> np.ndarray:
    """Each neuron's prototype: the mean embedding of the images it wins, (n, d) float64; NaN rows for neurons
    that won nothing (dead).

    ``embedding`` (N, d): the backbone features of un-augmented images (``predict(..., embed=True)``);
    ``winners`` (N,) their winners.

    Example:
        >>> neuron_prototypes(np.array([[0.0, 2.0], [2.0, 0.0], [5.0, 5.0]]), np.array([1, 1, 2]), 3).tolist()
        [[nan, nan], [1.0, 1.0], [5.0, 5.0]]
    """
    e = np.asarray(embedding, dtype=np.float64)
    w = np.asarray(winners, dtype=np.int64).reshape(-1)
    if e.ndim != 2 or len(e) != len(w):
        raise ValueError(f"embedding {e.shape} and winners ({len(w)}): allowed is (N, d) and N winners")
    if w.size and (w.min() < 0 or w.max() >= n_neurons):
        raise ValueError(f"winner {int(w.max() if w.max() >= n_neurons else w.min())}: allowed are 0..{n_neurons - 1}")
    sums = np.zeros((n_neurons, e.shape[1]))
    np.add.at(sums, w, e)
    counts = np.bincount(w, minlength=n_neurons).astype(np.float64)[:, None]  # (n, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def neighbour_distances(prototypes: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Euclidean distance from each neuron's prototype to each of its neighbours', (n, k); NaN where the
    table has no neighbour (-1) or either prototype is NaN (a dead neuron)."""
    P = np.asarray(prototypes, dtype=np.float64)
    nb = np.asarray(neighbours, dtype=np.int64)
    if P.ndim != 2 or nb.ndim != 2 or len(nb) != len(P):
        raise ValueError(f"prototypes {P.shape} and neighbours {nb.shape}: allowed are (n, d) and (n, k)")
    d = np.linalg.norm(P[:, None, :] - P[np.maximum(nb, 0)], axis=-1)  # (n, k)
    return np.where(nb >= 0, d, np.nan)


def u_matrix(prototypes: np.ndarray, grid: tuple[int, int], torus: bool = False,
             neighbours: np.ndarray | None = None, lattice: str = "square") -> np.ndarray:
    """The U-matrix: each neuron's mean distance from its prototype to its live neighbours' prototypes, (H, W).

    .. math:: U_j = \\frac{1}{|N(j)|} \\sum_{i \\in N(j)} \\lVert P_j - P_i \\rVert

    with ``N(j)`` the neighbours of neuron j (``neighbours``, default ``lattice.neighbour_table`` of ``grid``
    and ``lattice``: :func:`square_neighbours` on the square lattice, the 6 hexagonal neighbours on ``hex``;
    wrapping when ``torus``) that have a prototype. High values are ridges: where neighbouring neurons stand
    for different images (cluster borders); low ones are basins. NaN for a dead neuron (its prototype is NaN,
    :func:`neuron_prototypes`) and for a live one without a live neighbour.

    Parameters
    ----------
    prototypes : ndarray
        (n, d), n = H * W, row-major; NaN rows for dead neurons.
    grid : (int, int)
        H, W.
    torus : bool
        The map wraps (``ModelConfig.boundary == "circular"``); ignored when ``neighbours`` is given.
    neighbours : ndarray, optional
        (n, k) neighbour indices, -1 for none: the lattice (another lattice, another table).
    lattice : {"square", "hex"}
        The map's lattice (``ModelConfig.lattice``) when ``neighbours`` is not given.

    Example:
        >>> P = np.array([[0.0], [0.0], [3.0], [3.0]])  # a 1-d feature on a 2x2 map: left column 0, right 3
        >>> u_matrix(P, (2, 2)).tolist()
        [[1.5, 1.5], [1.5, 1.5]]
    """
    H, W = int(grid[0]), int(grid[1])
    P = np.asarray(prototypes, dtype=np.float64)
    if P.ndim != 2 or len(P) != H * W:
        raise ValueError(f"prototypes {P.shape}: allowed is ({H * W}, d) for grid {H}x{W}")
    nb = neighbour_table((H, W), lattice, torus) if neighbours is None else np.asarray(neighbours, dtype=np.int64)
    d = neighbour_distances(P, nb)  # (n, k)
    seen = np.isfinite(d)
    with np.errstate(invalid="ignore"):
        u = np.where(seen, d, 0.0).sum(1) / seen.sum(1)  # (n,): NaN where no live neighbour
    u[~np.isfinite(P).all(1)] = np.nan
    return u.reshape(H, W)


def ridge_contrast(umatrix: np.ndarray, majority_class: np.ndarray, torus: bool = False,
                   neighbours: np.ndarray | None = None, shuffles: int = 1000, seed: int = 0,
                   lattice: str = "square") -> dict[str, float]:
    """Do the U-matrix's ridges follow the class borders? Its mean height on edges between neurons of different
    majority class against its mean height on edges within a class.

    An edge is a pair of neighbouring live neurons (both with a class and a finite U-matrix value); its height
    is the mean of their two U-matrix values. ``ratio`` = ``between`` / ``within``: above 1 when the map's
    features change more across class borders than inside a class (unlabelled, the U-matrix would show the
    borders). The null keeps the map and the class counts and shuffles the classes over the live neurons
    ``shuffles`` times (seeded): ``null_ratio`` is its mean ratio, ``null_ratio_95`` its 95th percentile and
    ``p_value`` the share of shuffles (counting the map itself) with a ratio at least the map's. A shuffle
    scatters the classes, so the null asks only whether border edges are higher than edges picked at random.

    Parameters
    ----------
    umatrix : ndarray
        (H, W) from :func:`u_matrix`; NaN for dead neurons.
    majority_class : ndarray
        (H, W) or (H*W,) each neuron's class (:func:`neuron_labels`), -1 for a dead neuron.
    torus, neighbours, lattice
        The lattice, as in :func:`u_matrix`.

    Returns
    -------
    dict
        ``between``, ``within``, ``ratio``, ``null_ratio``, ``null_ratio_95``, ``p_value``, ``between_edges``,
        ``within_edges``; the figures are NaN when either kind of edge is missing.

    Example:
        >>> u = np.array([[0.0, 2.0, 2.0, 0.0]])  # a 1x4 strip, ridge in the middle
        >>> r = ridge_contrast(u, np.array([0, 0, 1, 1]), shuffles=10)
        >>> r["between"], r["within"], r["ratio"]
        (2.0, 1.0, 2.0)
    """
    U = np.asarray(umatrix, dtype=np.float64)
    H, W = U.shape
    u = U.reshape(-1)
    cls = np.asarray(majority_class, dtype=np.int64).reshape(-1)
    if cls.size != u.size:
        raise ValueError(f"majority_class of {cls.size} neurons: allowed is one per neuron of the {H}x{W} U-matrix")
    nb = neighbour_table((H, W), lattice, torus) if neighbours is None else np.asarray(neighbours, dtype=np.int64)
    a = np.repeat(np.arange(u.size), nb.shape[1])
    b = nb.reshape(-1)
    keep = b > a  # each undirected edge once
    a, b = a[keep], b[keep]
    ok = (cls[a] >= 0) & (cls[b] >= 0) & np.isfinite(u[a]) & np.isfinite(u[b])
    a, b = a[ok], b[ok]
    height = (u[a] + u[b]) / 2.0  # (E,)

    def ratio(c: np.ndarray) -> tuple[float, float, float, int, int]:
        diff = c[a] != c[b]
        nb_, nw = int(diff.sum()), int((~diff).sum())
        if nb_ == 0 or nw == 0:
            return float("nan"), float("nan"), float("nan"), nb_, nw
        hb, hw = float(height[diff].mean()), float(height[~diff].mean())
        return hb, hw, (hb / hw if hw > 0 else float("inf")), nb_, nw

    between, within, r, n_between, n_within = ratio(cls)
    live = np.flatnonzero((cls >= 0) & np.isfinite(u))
    rng = np.random.default_rng(seed)
    nulls = []
    for _ in range(shuffles):
        c = cls.copy()
        c[live] = rng.permutation(cls[live])
        nulls.append(ratio(c)[2])
    null = np.array([v for v in nulls if np.isfinite(v)])
    nan = float("nan")
    return {"between": between, "within": within, "ratio": r,
            "null_ratio": float(null.mean()) if null.size else nan,
            "null_ratio_95": float(np.percentile(null, 95)) if null.size else nan,
            "p_value": float((1 + (null >= r).sum()) / (1 + null.size)) if null.size and np.isfinite(r) else nan,
            "between_edges": n_between, "within_edges": n_within}

"""Map quality. Neural Selectivity (paper Sec. V.C) and what goes with it.

Every sample's winner is the argmax of its un-augmented Softmax output. A neuron's label is the mode of
its samples' labels (ties go to the smallest label). NS is the fraction of samples whose label equals
their winner's label; the per-neuron NS averages each live neuron's purity; a live neuron won at least
one sample. The held-out NS takes neuron labels from one split and scores another; a held-out sample
whose winner won nothing in the labelling split counts as wrong.

Example:
    >>> import numpy as np
    >>> r = neural_selectivity(np.array([0, 0, 1, 1]), np.array([3, 3, 4, 5]), n_neurons=4)
    >>> r["neural_selectivity"], r["active_neurons"]
    (0.75, 2)
"""

from __future__ import annotations

import numpy as np


def neuron_labels(winners: np.ndarray, labels: np.ndarray, n_neurons: int) -> np.ndarray:
    """Mode label of each neuron's samples, -1 for a neuron that won nothing. (n_neurons,) int64."""
    winners = np.asarray(winners, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
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
    winners = np.asarray(winners, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    nl = neuron_labels(winners, labels, n_neurons)
    hit = labels == nl[winners]
    live = np.unique(winners)
    per_neuron = np.array([hit[winners == j].mean() for j in live]) if live.size else np.zeros(0)
    return {
        "neural_selectivity": float(hit.mean()) if hit.size else 0.0,
        "neural_selectivity_per_neuron": float(per_neuron.mean()) if per_neuron.size else 0.0,
        "active_neurons": int(live.size),
        "n_neurons": int(n_neurons),
    }


def heldout_neural_selectivity(
    train_winners: np.ndarray, train_labels: np.ndarray, test_winners: np.ndarray, test_labels: np.ndarray, n_neurons: int
) -> float:
    """NS of ``test`` samples scored with neuron labels learnt on ``train``; dead-in-train neurons count wrong."""
    nl = neuron_labels(train_winners, train_labels, n_neurons)
    pred = nl[np.asarray(test_winners, dtype=np.int64)]
    return float((pred == np.asarray(test_labels)).mean()) if len(test_labels) else 0.0


# --------------------------------------------------------------------------------- map topology metrics
def grid_coords(neurons: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Row-major neuron index -> (row, col) float coordinates, (N, 2)."""
    neurons = np.asarray(neurons, dtype=np.int64)
    return np.stack((neurons // grid[1], neurons % grid[1]), 1).astype(np.float64)


def topographic_error(top2: np.ndarray, grid: tuple[int, int]) -> float:
    """Fraction of samples whose two largest outputs are not grid neighbours (8-neighbourhood).

    ``top2`` (N, 2) holds each sample's best and second-best neuron. Ties between equal outputs are
    broken towards the lower neuron index (``predict`` uses a stable descending sort), so the result is
    deterministic; a fully uniform output therefore pairs neurons 0 and 1, which are neighbours.
    """
    top2 = np.asarray(top2)
    if top2.ndim != 2 or top2.shape[1] < 2 or len(top2) == 0:
        return 0.0
    a, b = grid_coords(top2[:, 0], grid), grid_coords(top2[:, 1], grid)
    cheb = np.abs(a - b).max(1)
    return float((cheb > 1).mean())


def _adjacent_pairs(grid: tuple[int, int]) -> np.ndarray:
    H, W = grid
    idx = np.arange(H * W).reshape(H, W)
    pairs = []
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):  # each 8-neighbour pair once
        r0, r1 = max(0, -dr), H - max(0, dr)
        c0, c1 = max(0, -dc), W - max(0, dc)
        a = idx[r0:r1, c0:c1]
        b = idx[r0 + dr : r1 + dr, c0 + dc : c1 + dc]
        pairs.append(np.stack((a.ravel(), b.ravel()), 1))
    return np.concatenate(pairs)


def contiguity(winners: np.ndarray, labels: np.ndarray, grid: tuple[int, int], shuffles: int = 20, seed: int = 0) -> tuple[float, float]:
    """(contiguity, shuffled contiguity). Contiguity: among pairs of 8-adjacent live neurons, the
    fraction whose mode labels agree. Shuffled: the same after permuting the mode labels over the live
    positions (mean of ``shuffles`` seeded permutations); a map with no topology scores about that."""
    n = grid[0] * grid[1]
    nl = neuron_labels(winners, labels, n)
    pairs = _adjacent_pairs(grid)
    live = nl >= 0
    both = live[pairs[:, 0]] & live[pairs[:, 1]]
    p = pairs[both]
    if len(p) == 0:
        return 0.0, 0.0
    real = float((nl[p[:, 0]] == nl[p[:, 1]]).mean())
    rng = np.random.default_rng(seed)
    pos = np.flatnonzero(live)
    vals = []
    for _ in range(shuffles):
        perm = nl.copy()
        perm[pos] = rng.permutation(nl[pos])
        vals.append((perm[p[:, 0]] == perm[p[:, 1]]).mean())
    return real, float(np.mean(vals))


def map_trustworthiness(embedding: np.ndarray, winners: np.ndarray, grid: tuple[int, int], n_neighbors: int = 5,
                        max_samples: int = 2000, seed: int = 0) -> float:
    """scikit-learn's trustworthiness of each sample's winner grid position w.r.t. its backbone embedding,
    on a seeded subsample of at most ``max_samples`` (the measure is O(N^2) in memory)."""
    from sklearn.manifold import trustworthiness

    N = len(winners)
    if N <= n_neighbors * 2 + 1:
        return 0.0
    idx = np.random.default_rng(seed).permutation(N)[:max_samples]
    return float(trustworthiness(np.asarray(embedding)[idx], grid_coords(np.asarray(winners)[idx], grid), n_neighbors=n_neighbors))


def map_metrics(winners: np.ndarray, top2: np.ndarray, labels: np.ndarray, grid: tuple[int, int],
                embedding: np.ndarray | None = None) -> dict[str, float]:
    """Topographic error, contiguity (and its shuffled baseline), trustworthiness, NMI and ARI."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    c, cs = contiguity(winners, labels, grid)
    out = {
        "topographic_error": topographic_error(top2, grid),
        "contiguity": c,
        "contiguity_shuffled": cs,
        "nmi": float(normalized_mutual_info_score(labels, winners)),
        "ari": float(adjusted_rand_score(labels, winners)),
    }
    if embedding is not None:
        out["trustworthiness"] = map_trustworthiness(embedding, winners, grid)
    return out

"""Map metrics on constructed maps whose answers are known by hand: a perfectly topographic map, the same
map with its neurons shuffled, a collapsed map, and ties."""

import numpy as np
import pytest

from urlsom_core.metrics import (
    chance_neural_selectivity,
    cluster_scores,
    contiguity,
    grid_coords,
    heldout_neural_selectivity,
    map_metrics,
    map_trustworthiness,
    neural_selectivity,
    neuron_labels,
    top2,
    topographic_error,
)

GRID = (10, 10)
N_NEURONS = 100
# 8-adjacent pairs on a 10x10 grid: 90 horizontal + 90 vertical + 2 * 81 diagonal
PAIRS_10x10 = 342


def half_map(per_neuron: int = 3):
    """A perfectly topographic map: every neuron wins ``per_neuron`` samples; columns 0-4 hold class 0,
    columns 5-9 class 1; each sample's second-best neuron is a grid neighbour of its winner; the
    'embedding' is the winner's grid position (plus a little noise)."""
    rng = np.random.default_rng(0)
    winners = np.repeat(np.arange(N_NEURONS), per_neuron)
    labels = (grid_coords(winners, GRID)[:, 1] >= 5).astype(np.int64)
    r, c = winners // 10, winners % 10
    second = np.where(c < 9, winners + 1, winners - 1)  # right neighbour, or left on the last column
    embedding = grid_coords(winners, GRID) + rng.normal(0, 0.05, (len(winners), 2))
    return winners, np.stack([winners, second], 1), labels, embedding, r


def test_top2_ties_go_to_the_lower_index():
    scores = np.array([[0.2, 0.5, 0.5, 0.1], [0.25, 0.25, 0.25, 0.25], [0.1, 0.0, 0.3, 0.3]])
    assert top2(scores).tolist() == [[1, 2], [0, 1], [2, 3]]
    dist = np.array([[3.0, 1.0, 1.0, 0.5]])
    assert top2(dist, largest=False).tolist() == [[3, 1]]
    with pytest.raises(ValueError, match="allowed is"):
        top2(np.zeros((3, 1)))


def test_topographic_error_known_pairs():
    g = (3, 3)  # 0 1 2 / 3 4 5 / 6 7 8
    t = np.array([[4, 0], [4, 8], [0, 1], [0, 2], [0, 8], [2, 6], [3, 4], [5, 1]])
    # neighbours (8-neighbourhood): (4,0) (4,8) (0,1) (3,4) (5,1) ; not: (0,2) (0,8) (2,6)
    assert topographic_error(t, g) == pytest.approx(3 / 8)


def test_topographic_error_uniform_output_ties_are_deterministic():
    # a uniform Softmax output: ties go to neurons 0 and 1, which are neighbours, so TE = 0, every time
    p = np.full((5, 9), 1 / 9)
    assert topographic_error(top2(p), (3, 3)) == 0.0
    # neurons 2 and 6 tie for second place: the lower index (2) is chosen, and (0, 2) is not adjacent
    p = np.array([[0.5, 0.0, 0.25, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0]])
    assert top2(p).tolist() == [[0, 2]]
    assert topographic_error(top2(p), (3, 3)) == 1.0


def test_topographic_error_rejects_bad_input():
    with pytest.raises(ValueError, match="allowed is \\(N, 2\\)"):
        topographic_error(np.zeros((4, 3), dtype=int), (3, 3))
    with pytest.raises(ValueError, match="allowed are 0..8"):
        topographic_error(np.array([[0, 9]]), (3, 3))
    with pytest.raises(ValueError, match="distinct"):
        topographic_error(np.array([[4, 4]]), (3, 3))
    assert np.isnan(topographic_error(np.zeros((0, 2), dtype=int), (3, 3)))


def test_perfectly_topographic_map():
    winners, t2, labels, emb, _ = half_map()
    assert topographic_error(t2, GRID) == 0.0
    c, cs = contiguity(winners, labels, GRID)
    # pairs across the column 4 | column 5 boundary: 10 horizontal + 2 * 9 diagonal
    assert c == pytest.approx(1 - 28 / PAIRS_10x10)
    # 50 neurons of each label: P(same) = 2 * 50 * 49 / (100 * 99)
    assert cs == pytest.approx(2 * 50 * 49 / (100 * 99))
    assert map_trustworthiness(emb, winners, GRID) > 0.95
    ns = neural_selectivity(winners, labels, N_NEURONS)
    assert ns["neural_selectivity"] == 1.0 and ns["active_neurons"] == 100
    m = map_metrics(winners, t2, labels, GRID, emb)
    assert set(m) == {"topographic_error", "contiguity", "contiguity_shuffled", "trustworthiness", "nmi", "ari",
                      "corner_over_representation", "border_over_representation", "live_share", "usage_evenness"}
    assert m["contiguity"] == pytest.approx(c)


def test_shuffled_map_scores_the_shuffled_baseline():
    """The same map with its neurons' positions permuted: no topology left. Averaged over permutations,
    contiguity equals the (exact) shuffled value, TE equals the chance that two random distinct neurons
    are adjacent, and trustworthiness drops to about chance."""
    winners, t2, labels, emb, _ = half_map()
    _, cs = contiguity(winners, labels, GRID)
    rng = np.random.default_rng(1)
    cont, te, tw = [], [], []
    for _ in range(200):
        perm = rng.permutation(N_NEURONS)
        cont.append(contiguity(perm[winners], labels, GRID)[0])
        te.append(topographic_error(perm[t2], GRID))
    # one sample per neuron, so that no two samples share a winner: the shuffled map's grid neighbours are
    # random, and trustworthiness has the chance value of the collapsed-map test below
    w1, _, _, emb1, _ = half_map(per_neuron=1)
    for _ in range(20):
        perm = rng.permutation(N_NEURONS)
        tw.append(map_trustworthiness(emb1, perm[w1], GRID))
    assert np.mean(cont) == pytest.approx(cs, abs=0.01)
    assert np.mean(te) == pytest.approx(1 - 2 * PAIRS_10x10 / (100 * 99), abs=0.01)
    n, k = 100, 5
    assert np.mean(tw) == pytest.approx(1 - (n - 1 - k) * (n - k) / ((n - 1) * (2 * n - 3 * k - 1)), abs=0.04)
    assert map_trustworthiness(emb1, w1, GRID) > 0.95


def test_shuffled_contiguity_is_the_exact_mean_over_permutations():
    rng = np.random.default_rng(2)
    winners = rng.integers(0, 25, 300)
    labels = rng.integers(0, 4, 300)
    nl = neuron_labels(winners, labels, 25)
    live = np.flatnonzero(nl >= 0)
    _, cs = contiguity(winners, labels, (5, 5))
    sims = []
    for _ in range(2000):
        # the map whose live neuron j wins one sample, of a label drawn by permuting the mode labels
        sims.append(contiguity(live, rng.permutation(nl[live]), (5, 5))[0])
    assert np.mean(sims) == pytest.approx(cs, abs=0.005)


def test_collapsed_map():
    """One neuron wins everything: NS is the majority-class rate, contiguity is undefined (no two live
    neurons), NMI and ARI are 0, trustworthiness is at chance, held-out samples all get the same label."""
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(4), [40, 30, 20, 10])
    winners = np.full(100, 55)
    t2 = np.stack([winners, np.full(100, 56)], 1)
    emb = rng.normal(size=(100, 8))
    ns = neural_selectivity(winners, labels, N_NEURONS)
    assert ns == {"neural_selectivity": 0.4, "neural_selectivity_per_neuron": 0.4, "active_neurons": 1, "n_neurons": 100}
    c, cs = contiguity(winners, labels, GRID)
    assert np.isnan(c) and np.isnan(cs)
    nmi, ari = cluster_scores(winners, labels)
    assert nmi == pytest.approx(0.0, abs=1e-12) and ari == pytest.approx(0.0, abs=1e-12)
    m = map_metrics(winners, t2, labels, GRID, emb)
    assert m["contiguity"] is None and m["contiguity_shuffled"] is None and m["topographic_error"] == 0.0
    # random neighbours: E[T] = 1 - (n-1-k)(n-k) / ((n-1)(2n-3k-1)) with n = 100, k = 5
    n, k = 100, 5
    chance = 1 - (n - 1 - k) * (n - k) / ((n - 1) * (2 * n - 3 * k - 1))
    tws = [map_trustworthiness(emb, winners, GRID, seed=s) for s in range(20)]
    assert np.mean(tws) == pytest.approx(chance, abs=0.04)
    # samples sorted by their embedding must not change that (ties broken at random, not in sample order)
    order = np.argsort(emb[:, 0])
    assert np.mean([map_trustworthiness(emb[order], winners, GRID, seed=s) for s in range(20)]) == pytest.approx(
        chance, abs=0.04)
    assert heldout_neural_selectivity(winners, labels, np.full(10, 55), np.array([0] * 4 + [1] * 6), 100) == 0.4


def test_trustworthiness_undefined_on_too_few_samples():
    assert np.isnan(map_trustworthiness(np.zeros((11, 3)), np.arange(11), GRID, n_neighbors=5))
    assert map_metrics(np.arange(11), np.stack([np.arange(11), np.arange(11) + 1], 1), np.zeros(11, int), GRID,
                       np.zeros((11, 3)))["trustworthiness"] is None


# ------------------------------------------------------------------------------------ neural selectivity
def test_mode_labels_and_ties():
    winners = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    labels = np.array([3, 3, 1, 2, 5, 4, 1, 4, 1])
    # neuron 0: {3, 3, 1} -> 3; neuron 1: {2, 5} tie -> 2 (smallest); neuron 2: {4, 1, 4, 1} tie -> 1; 3: dead
    assert neuron_labels(winners, labels, 4).tolist() == [3, 2, 1, -1]
    r = neural_selectivity(winners, labels, 4)
    assert r["neural_selectivity"] == pytest.approx((2 + 1 + 2) / 9)
    assert r["neural_selectivity_per_neuron"] == pytest.approx((2 / 3 + 1 / 2 + 2 / 4) / 3)
    assert r["active_neurons"] == 3 and r["n_neurons"] == 4


def test_heldout_counts_dead_neurons_wrong():
    train_w, train_y = np.array([0, 0, 1, 1]), np.array([1, 1, 2, 2])
    # held-out: neuron 0 (label 1) right, neuron 1 (label 2) wrong, neurons 2 and 3 dead in train: wrong
    test_w, test_y = np.array([0, 1, 2, 3, 3]), np.array([1, 0, 0, 0, 0])
    assert heldout_neural_selectivity(train_w, train_y, test_w, test_y, 4) == pytest.approx(1 / 5)
    # a label 0 sample on a dead neuron is wrong even though dead neurons carry no label (-1 != 0)
    assert heldout_neural_selectivity(train_w, train_y, np.array([2]), np.array([0]), 4) == 0.0


def test_ns_rejects_bad_assignments():
    with pytest.raises(ValueError, match="allowed are neuron indices 0..3"):
        neural_selectivity(np.array([0, 4]), np.array([0, 1]), 4)
    with pytest.raises(ValueError, match="one label per winner"):
        neural_selectivity(np.array([0, 1]), np.array([0]), 4)
    with pytest.raises(ValueError, match="labels >= 0"):
        heldout_neural_selectivity(np.array([0]), np.array([-1]), np.array([0]), np.array([0]), 4)


def test_chance_ns_grows_with_k_on_train_only():
    rng = np.random.default_rng(4)
    y, ye = rng.integers(0, 10, 1000), rng.integers(0, 10, 300)
    small = chance_neural_selectivity(y, 4, ye, repeats=5)
    big = chance_neural_selectivity(y, 900, ye, repeats=5)
    assert big["neural_selectivity"] > small["neural_selectivity"] + 0.3  # one or two samples a neuron: pure
    for r in (small, big):
        assert r["heldout_neural_selectivity"] < 0.2  # about 1/10 (plus the dead-neuron losses)


def test_heldout_on_dead_is_the_part_of_heldout_ns_no_label_can_fix():
    from urlsom_core.metrics import heldout_neural_selectivity, heldout_on_dead

    rng = np.random.default_rng(0)
    w, y = rng.integers(0, 30, 100), rng.integers(0, 3, 100)   # neurons 30..39 never win in training
    we, ye = rng.integers(0, 40, 50), rng.integers(0, 3, 50)
    dead = heldout_on_dead(w, we, 40)
    assert dead == pytest.approx(np.mean(~np.isin(we, w)))
    assert 1 - heldout_neural_selectivity(w, y, we, ye, 40) >= dead > 0
    assert heldout_on_dead(w, w, 40) == 0.0 and np.isnan(heldout_on_dead(w, np.array([], int), 40))


def test_heldout_errors_split_the_wrong_samples_by_where_they_landed():
    from urlsom_core.metrics import heldout_errors, heldout_neural_selectivity, heldout_on_dead

    # 1x5 map: neurons 0, 1 labelled 0; 3 labelled 1; 4 labelled 2; 2 dead
    w, y = np.array([0, 1, 3, 4, 4]), np.array([0, 0, 1, 2, 2])
    we = np.array([0, 1, 2, 3, 4, 0, 4, 3])
    ye = np.array([0, 0, 0, 2, 1, 2, 0, 1])
    flat = heldout_errors(w, y, we, ye, (1, 5))
    assert flat["right"] == pytest.approx(heldout_neural_selectivity(w, y, we, ye, 5))  # 0, 1, 3 -> 3/8
    assert flat["on_dead"] == pytest.approx(heldout_on_dead(w, we, 5))  # neuron 2: 1/8
    # 3 (label 2) next to 4; 4 (label 1) next to 3; 0 (label 2) and 4 (label 0) far from their classes
    assert flat["next_to_class"] == pytest.approx(2 / 8) and flat["far"] == pytest.approx(2 / 8)
    wrapped = heldout_errors(w, y, we, ye, (1, 5), torus=True)  # 0 and 4 are neighbours on the torus
    assert wrapped["next_to_class"] == pytest.approx(4 / 8) and wrapped["far"] == 0.0
    assert sum(wrapped.values()) == pytest.approx(1.0)
    assert all(np.isnan(v) for v in heldout_errors(w, y, np.array([], int), np.array([], int), (1, 5)).values())


def test_participation_ratio_counts_the_neurons_an_output_spreads_over():
    from urlsom_core.metrics import participation_ratio

    p = np.zeros((4, 9))
    p[0, 3] = 1.0  # one-hot
    p[1] = 1 / 9  # uniform
    p[2, [0, 1, 2]] = 1 / 3  # three equal neurons
    p[3, [0, 1]] = [0.75, 0.25]  # 1 / (0.5625 + 0.0625)
    np.testing.assert_allclose(participation_ratio(p), [1.0, 9.0, 3.0, 1.6])

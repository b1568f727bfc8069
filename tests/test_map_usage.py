"""Corner / border over-representation, live share, evenness, and toroidal grid distances, on constructed
assignments whose answers are known by hand."""

import numpy as np
import pytest

from urlsom_core.metrics import (
    adjacent_pairs,
    border_neurons,
    contiguity,
    corner_neurons,
    grid_coords,
    map_metrics,
    map_trustworthiness,
    topographic_error,
    translate_chance,
    translate_counts,
    usage_metrics,
)


def test_corners_and_border_of_a_grid():
    assert corner_neurons((3, 4)).tolist() == [0, 3, 8, 11]
    assert border_neurons((3, 4)).tolist() == [0, 1, 2, 3, 4, 7, 8, 9, 10, 11]  # only 5 and 6 are inside
    assert len(border_neurons((30, 30))) == 2 * 30 + 2 * 30 - 4


def test_all_samples_on_the_corners():
    g = (6, 5)
    n = 30
    w = np.tile(corner_neurons(g), 10)
    m = usage_metrics(w, g)
    assert m["corner_over_representation"] == pytest.approx(n / 4)
    assert m["border_over_representation"] == pytest.approx(n / len(border_neurons(g)))
    assert m["live_share"] == pytest.approx(4 / n)
    assert m["usage_evenness"] == pytest.approx(np.log(4) / np.log(n))  # 4 neurons used equally


def test_uniform_usage_is_one_everywhere():
    g = (7, 9)
    m = usage_metrics(np.repeat(np.arange(63), 5), g)
    assert m == pytest.approx({"corner_over_representation": 1.0, "border_over_representation": 1.0,
                               "live_share": 1.0, "usage_evenness": 1.0})


def test_no_sample_on_the_border_and_one_neuron_winning_all():
    g = (5, 5)
    m = usage_metrics(np.full(40, 12), g)  # the centre neuron wins every sample
    assert m["corner_over_representation"] == 0.0 and m["border_over_representation"] == 0.0
    assert m["live_share"] == pytest.approx(1 / 25)
    assert m["usage_evenness"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="allowed are neuron indices 0..24"):
        usage_metrics(np.array([25]), g)


def test_map_metrics_carries_the_usage_metrics():
    g = (4, 4)
    w = np.array([0, 0, 5, 6])
    m = map_metrics(w, np.stack([w, w + 1], 1), np.array([0, 0, 1, 1]), g)
    assert m["corner_over_representation"] == pytest.approx(0.5 / (4 / 16))
    assert m["live_share"] == pytest.approx(3 / 16)


def _translate_chance_slow(winners, neurons, grid):
    """The definition, shift by shift: how many translates of ``neurons`` on the torus win >= its samples."""
    H, W = grid
    counts = np.bincount(winners, minlength=H * W).reshape(H, W)
    mask = np.zeros(H * W, bool)
    mask[neurons] = True
    mask = mask.reshape(H, W)
    own = counts[mask].sum()
    won = [counts[np.roll(mask, (dr, dc), (0, 1))].sum() for dr in range(H) for dc in range(W)]
    return np.mean([w >= own for w in won])


def test_translate_chance_matches_its_definition():
    rng = np.random.default_rng(0)
    for grid in ((5, 7), (30, 30)):
        n = grid[0] * grid[1]
        for _ in range(5):
            w = rng.choice(n, 300, p=rng.dirichlet(np.full(n, 0.3)))  # clumpy, as a trained map's winners
            for neurons in (corner_neurons(grid), border_neurons(grid), rng.choice(n, 6, replace=False)):
                assert translate_chance(w, neurons, grid) == pytest.approx(_translate_chance_slow(w, neurons, grid))
    assert np.isnan(translate_chance(np.array([], int), np.array([0]), (3, 3)))
    w = rng.integers(0, 35, 100)
    won = translate_counts(w, corner_neurons((5, 7)), (5, 7))
    assert won[0, 0] == np.isin(w, corner_neurons((5, 7))).sum() and won.sum() == 4 * 100  # each sample in 4


def test_corner_chance_tells_a_corner_bias_from_a_block_like_any_other():
    g = (10, 10)
    rng = np.random.default_rng(1)
    even = rng.integers(0, 100, 2000)
    biased = np.concatenate([even, np.tile(corner_neurons(g), 50)])  # the corners win 200 samples more
    assert usage_metrics(biased, g, torus=True)["corner_chance"] == pytest.approx(1 / 100)
    # the same extra samples on the 2x2 block at rows 4-5, columns 4-5: the corners are ordinary again
    block = np.array([44, 45, 54, 55])
    elsewhere = usage_metrics(np.concatenate([even, np.tile(block, 50)]), g, torus=True)
    assert 0.1 < elsewhere["corner_chance"] <= 1.0 and elsewhere["corner_over_representation"] < 1.3
    # shifting the whole biased map by (5, 5) on the torus takes its corners to that block: same chance
    shifted = (biased // 10 + 5) % 10 * 10 + (biased % 10 + 5) % 10
    assert translate_chance(shifted, block, g) == pytest.approx(1 / 100)
    assert usage_metrics(shifted, g, torus=True)["corner_over_representation"] < 1.3


def test_only_a_torus_has_chance_figures():
    w = np.arange(16)
    assert "corner_chance" not in usage_metrics(w, (4, 4))
    m = usage_metrics(w, (4, 4), torus=True)
    assert m["corner_chance"] == 1.0 and m["border_chance"] == 1.0  # every translate ties on an even map


# ------------------------------------------------------------------------------------ toroidal distances
def test_topographic_error_wraps_on_a_torus():
    g = (5, 6)  # columns 0..5
    t = np.array([[0, 5],            # row 0, columns 0 and W-1: neighbours only on the torus
                  [0, 24],           # rows 0 and H-1, same column
                  [0, 29],           # corner to opposite corner: diagonal neighbours on the torus
                  [0, 2]])           # two columns apart: an error on both
    assert topographic_error(t, g) == pytest.approx(1.0)
    assert topographic_error(t, g, torus=True) == pytest.approx(0.25)


def test_adjacent_pairs_on_a_torus():
    assert len(adjacent_pairs((10, 10))) == 342  # the plane: 90 + 90 + 2 * 81
    assert len(adjacent_pairs((10, 10), torus=True)) == 100 * 8 // 2  # every neuron has 8 neighbours
    pairs = {tuple(p) for p in adjacent_pairs((4, 5), torus=True).tolist()}
    assert (0, 4) in pairs and (0, 15) in pairs and (0, 19) in pairs
    assert (0, 4) not in {tuple(p) for p in adjacent_pairs((4, 5)).tolist()}


def test_contiguity_wraps_on_a_torus():
    # a 4x4 map, live neurons only in columns 0 and 3; column 0 holds class 0 and column 3 class 1 on the
    # top half, class 0 on the bottom half. On the plane no live pair crosses columns 0-3 ...
    g = (4, 4)
    w = np.array([0, 4, 8, 12, 3, 7, 11, 15])
    y = np.array([0, 0, 0, 0, 1, 1, 0, 0])
    c_plane, _ = contiguity(w, y, g)
    c_torus, _ = contiguity(w, y, g, torus=True)
    # plane: vertical pairs in column 0 (3, all agree) and column 3 (3: 1-1 agree, 1-0 no, 0-0 agree) -> 5/6
    assert c_plane == pytest.approx(5 / 6)
    # torus adds row wrap in both columns (0-12 agree, 3-15: 1 vs 0 no) and across columns 0|3: each
    # neuron of column 0 meets the 3 of column 3 in rows r-1, r, r+1 (mod 4): 12 pairs, agree where class 0
    pairs = [tuple(p) for p in adjacent_pairs(g, torus=True).tolist()]
    lab = dict(zip(w.tolist(), y.tolist(), strict=True))
    live = [(a, b) for a, b in pairs if a in lab and b in lab]
    expect = np.mean([lab[a] == lab[b] for a, b in live])
    assert c_torus == pytest.approx(expect) and c_torus != pytest.approx(c_plane)
    assert len(live) == 4 + 4 + 12


def test_trustworthiness_sees_the_wrap():
    # samples whose embedding is a line, mapped in order along a row: trustworthy on the plane, but on a
    # torus the row's two ends are map neighbours while their embeddings are far apart (intruders)
    rng = np.random.default_rng(0)
    g = (2, 20)
    cols = np.repeat(np.arange(20), 6)
    emb = np.stack([cols, np.zeros_like(cols)], 1) + rng.normal(0, 0.01, (len(cols), 2))
    t_plane = map_trustworthiness(emb, cols, g, n_neighbors=10)
    t_torus = map_trustworthiness(emb, cols, g, n_neighbors=10, torus=True)
    assert t_plane > 0.98
    assert t_torus < t_plane - 0.01


def test_torus_trustworthiness_matches_scikit_learn_where_the_wrap_never_matters():
    # a map using only a 3x3 block in the middle of a 20x20 grid: no wrapped distance is shorter
    from sklearn.manifold import trustworthiness

    rng = np.random.default_rng(1)
    w = rng.choice([k * 20 + c for k in (8, 9, 10) for c in (8, 9, 10)], 200)
    emb = grid_coords(w, (20, 20)) + rng.normal(0, 0.3, (200, 2))
    a = map_trustworthiness(emb, w, (20, 20), torus=True, seed=3)
    b = map_trustworthiness(emb, w, (20, 20), torus=False, seed=3)
    assert a == pytest.approx(b, abs=1e-9)
    # and the formula itself is scikit-learn's, on an untied embedding
    from urlsom_core.metrics import _trustworthiness_precomputed

    X, Y = rng.normal(size=(60, 5)), rng.normal(size=(60, 2))
    d = np.sqrt(((Y[:, None] - Y[None]) ** 2).sum(-1))
    assert _trustworthiness_precomputed(X, d, 5) == pytest.approx(trustworthiness(X, Y, n_neighbors=5))


def test_map_metrics_passes_the_torus_through():
    g = (3, 6)
    w = np.array([0, 6, 12, 5, 11, 17] * 3)
    t2 = np.stack([w, np.where(w % 6 == 0, w + 5, w - 5)], 1)  # second best across the wrap
    y = np.zeros(len(w), int)
    assert map_metrics(w, t2, y, g)["topographic_error"] == 1.0
    assert map_metrics(w, t2, y, g, torus=True)["topographic_error"] == 0.0

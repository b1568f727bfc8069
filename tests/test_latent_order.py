"""metrics.latent_order: the rank correlation of grid distance and latent distance over pairs of images."""

import numpy as np
import pytest

from urlsom_core.metrics import latent_order


def _ordered(grid=(20, 20), per=3, seed=0):
    """Images placed on the neuron their 2-D latent points to: a perfectly ordered map."""
    rng = np.random.default_rng(seed)
    H, W = grid
    w = np.repeat(np.arange(H * W), per)
    r, c = np.divmod(w, W)
    z = np.stack((r + rng.uniform(-0.2, 0.2, len(w)), c + rng.uniform(-0.2, 0.2, len(w))), 1)
    return w, z


def test_a_perfectly_ordered_map_gives_about_one_and_shuffled_winners_about_zero():
    w, z = _ordered()
    assert latent_order(w, z, (20, 20)) > 0.98
    shuffled = np.random.default_rng(1).permutation(w)
    assert abs(latent_order(shuffled, z, (20, 20))) < 0.03


def test_latent_units_do_not_matter_and_an_order_reversed_is_still_ordered():
    w, z = _ordered()
    a = latent_order(w, z, (20, 20))
    assert latent_order(w, z * [1000.0, 0.001], (20, 20)) == pytest.approx(a)  # each latent standardised
    flipped = (19 - w // 20) * 20 + w % 20  # the map upside down: the same distances
    assert latent_order(flipped, z, (20, 20)) == pytest.approx(a)


def test_a_one_dimensional_latent_on_a_strip_and_a_constant_latent_left_out():
    z = np.arange(12.0)
    assert latent_order(np.arange(12), z, (1, 12)) == pytest.approx(1.0)
    both = np.stack((z, np.full(12, 7.0)), 1)  # a constant latent carries no distance
    assert latent_order(np.arange(12), both, (1, 12)) == pytest.approx(1.0)


def test_the_torus_and_the_hex_lattice_change_the_grid_distance():
    z = np.arange(10.0)
    w = np.arange(10)  # a 1x10 strip: on a torus 0 and 9 are neighbours, so the order is broken
    assert latent_order(w, z, (1, 10)) == pytest.approx(1.0)
    assert latent_order(w, z, (1, 10), torus=True) < 0.8
    w2, z2 = _ordered((10, 10), per=2)
    assert 0.9 < latent_order(w2, z2, (10, 10), lattice="hex") < latent_order(w2, z2, (10, 10)) + 1e-9


def test_pairs_are_sampled_seeded_and_all_pairs_when_few():
    w, z = _ordered((10, 10), per=4)
    a, b = latent_order(w, z, (10, 10), pairs=500, seed=0), latent_order(w, z, (10, 10), pairs=500, seed=0)
    assert a == b and a != latent_order(w, z, (10, 10), pairs=500, seed=1)
    few = latent_order(w[:20], z[:20], (10, 10), pairs=10**6)  # 190 pairs: all of them, no randomness
    assert few == latent_order(w[:20], z[:20], (10, 10), pairs=10**6, seed=5)


def test_degenerate_and_bad_input():
    assert np.isnan(latent_order(np.array([3]), np.array([1.0]), (2, 2)))
    assert np.isnan(latent_order(np.zeros(5, dtype=int), np.arange(5.0), (2, 2)))  # one neuron: no grid distance
    with pytest.raises(ValueError, match="one latent row per winner"):
        latent_order(np.arange(4), np.arange(3.0), (2, 2))
    with pytest.raises(ValueError, match="allowed are 0..3"):
        latent_order(np.array([0, 4]), np.arange(2.0), (2, 2))
    with pytest.raises(ValueError, match="not all finite"):
        latent_order(np.arange(2), np.array([0.0, np.nan]), (2, 2))

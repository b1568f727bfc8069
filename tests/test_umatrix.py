"""The U-matrix (urlsom_core.metrics: prototypes, neighbour tables, u_matrix, ridge_contrast) on hand-made maps
with known answers, its drawing and the run helper (urlsom_book.umatrix), and the per-epoch TE and live share of
the training monitor with their curves."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from urlsom_book import umatrix as um  # noqa: E402
from urlsom_core.metrics import (  # noqa: E402
    neighbour_distances,
    neuron_prototypes,
    ridge_contrast,
    square_neighbours,
    topographic_error,
    u_matrix,
)

# the digits defaults (a torus) on a 5x5 map for 2 epochs, with the usage bias so that many neurons are live
# the digits defaults' network: a one-stage width-8 net stays on one neuron after 2 epochs (its own winners)
TINY = {"model": {"grid": [5, 5], "usage_balance": True}, "train": {"epochs": 2}}


def two_regions(grid=(4, 6), a=(0.0, 0.0), b=(3.0, 4.0)):
    """Prototypes of a map whose left half is ``a`` and right half ``b`` (|a - b| = 5), and the halves' classes."""
    H, W = grid
    P = np.zeros((H, W, 2))
    P[:, : W // 2] = a
    P[:, W // 2 :] = b
    cls = np.zeros((H, W), dtype=np.int64)
    cls[:, W // 2 :] = 1
    return P.reshape(H * W, 2), cls


# ------------------------------------------------------------------------------------------ neighbours
def test_square_neighbours_flat_and_torus():
    nb = square_neighbours((3, 4))
    assert nb.shape == (12, 4)
    assert nb[5].tolist() == [1, 9, 4, 6]  # (1, 1): up, down, left, right
    assert nb[0].tolist() == [-1, 4, -1, 1]
    t = square_neighbours((3, 4), torus=True)
    assert t[0].tolist() == [8, 4, 3, 1]  # wraps to the last row and column
    assert (t >= 0).all()
    # symmetric: j is i's neighbour exactly when i is j's
    for table in (nb, t):
        pairs = {(i, int(j)) for i in range(12) for j in table[i] if j >= 0}
        assert pairs == {(j, i) for i, j in pairs}


def test_square_neighbours_side_two_torus_lists_a_neighbour_once():
    t = square_neighbours((2, 2), torus=True)
    for row in t:
        live = row[row >= 0]
        assert len(live) == len(set(live.tolist())) == 2


# ------------------------------------------------------------------------------------------ prototypes
def test_neuron_prototypes_are_means_and_dead_neurons_nan():
    emb = np.array([[1.0, 0.0], [3.0, 2.0], [0.0, 5.0]])
    P = neuron_prototypes(emb, np.array([2, 2, 0]), 4)
    assert P[2].tolist() == [2.0, 1.0] and P[0].tolist() == [0.0, 5.0]
    assert np.isnan(P[1]).all() and np.isnan(P[3]).all()
    with pytest.raises(ValueError, match="winner 4"):
        neuron_prototypes(emb, np.array([0, 1, 4]), 4)


# ---------------------------------------------------------------------------------------------- U-matrix
def test_two_flat_regions_give_a_ridge_exactly_on_the_border():
    P, _ = two_regions()
    U = u_matrix(P, (4, 6))
    expected = np.zeros((4, 6))
    expected[:, [2, 3]] = 5.0 / 4  # one of 4 neighbours across the border, at distance 5; 3 in the edge rows
    expected[0, 2] = expected[0, 3] = expected[3, 2] = expected[3, 3] = 5.0 / 3
    assert np.allclose(U, expected)


def test_torus_wraps_the_border_round_the_edge():
    P, _ = two_regions()
    U = u_matrix(P, (4, 6), torus=True)
    expected = np.zeros((4, 6))
    expected[:, [0, 2, 3, 5]] = 5.0 / 4  # columns 0 and 5 meet across the wrap
    assert np.allclose(U, expected)
    assert np.allclose(u_matrix(P, (4, 6))[:, [0, 5]], 0.0)  # a flat map has no border there


def test_dead_neurons_are_nan_and_left_out_of_their_neighbours_means():
    P = np.array([[0.0], [2.0], [np.nan], [4.0]])  # 2x2, neuron 2 (row 1, col 0) dead
    U = u_matrix(P, (2, 2))
    assert np.isnan(U[1, 0])
    assert U[0, 0] == pytest.approx(2.0)  # neighbours 1 (d 2) and 2 (dead, left out)
    assert U[1, 1] == pytest.approx(2.0)  # neighbour 1 only (d 2); neighbour 2 dead
    lone = np.array([[1.0], [np.nan], [np.nan], [np.nan]])
    assert np.isnan(u_matrix(lone, (2, 2))).all()  # a live neuron with no live neighbour has no height


def test_a_neighbour_table_can_be_passed_for_another_lattice():
    """A hand-made table (a 1x3 ring given explicitly) is used instead of the square lattice."""
    P = np.array([[0.0], [1.0], [3.0]])
    ring = np.array([[1, 2], [0, 2], [0, 1]])
    U = u_matrix(P, (1, 3), neighbours=ring)
    assert U.tolist() == [[(1 + 3) / 2, (1 + 2) / 2, (3 + 2) / 2]]
    d = neighbour_distances(P, np.array([[1, -1], [0, 2], [1, -1]]))
    assert d[0, 0] == 1.0 and np.isnan(d[0, 1])


def test_ridge_contrast_known_answer_and_its_null():
    P, cls = two_regions()
    U = u_matrix(P, (4, 6), torus=True)
    r = ridge_contrast(U, cls, torus=True, shuffles=200, seed=1)
    # between-class edges: columns 2-3 and 5-0, both ends at 5/4; within: 16 horizontal edges at 5/8,
    # 16 vertical edges in the ridge columns at 5/4 and 8 in columns 1 and 4 at 0 -> mean 30/40
    assert r["between_edges"] == 8 and r["within_edges"] == 40
    assert r["between"] == pytest.approx(1.25) and r["within"] == pytest.approx(0.75)
    assert r["ratio"] == pytest.approx(5 / 3)
    assert r["null_ratio"] < 1.2 < r["ratio"]
    assert r["p_value"] < 0.05
    flat = ridge_contrast(np.ones((4, 6)), cls, torus=True, shuffles=50)
    assert flat["ratio"] == pytest.approx(1.0)  # a flat U-matrix: no ridge anywhere
    dead = cls.copy()
    dead[0, 0] = -1
    r = ridge_contrast(U, dead, torus=True, shuffles=10)  # neuron 0 leaves with its 3 edges in class 0, 1 across
    assert (r["within_edges"], r["between_edges"]) == (37, 7)


def test_ridge_contrast_needs_both_kinds_of_edge():
    r = ridge_contrast(np.ones((2, 2)), np.zeros((2, 2), dtype=int), shuffles=5)
    assert np.isnan(r["ratio"]) and r["between_edges"] == 0
    with pytest.raises(ValueError, match="one per neuron"):
        ridge_contrast(np.ones((2, 2)), np.zeros(3, dtype=int))


# ---------------------------------------------------------------------------------------------- drawing
def test_u_matrix_drawing_shows_the_values_dead_neurons_and_class_borders():
    P, cls = two_regions()
    U = u_matrix(P, (4, 6))
    U[1, 1] = np.nan
    fig = Figure()
    ax = fig.add_subplot()
    assert um.u_matrix(U, ax, majority_class=cls, torus=False) is fig
    img = ax.images[0].get_array()
    assert img.shape == (4, 6) and img.mask[1, 1] and not img.mask[0, 0]
    assert np.allclose(img.filled(0)[:, [2, 3]], U[:, [2, 3]])
    borders = ax.collections[0].get_segments()
    assert len(borders) == 4  # the vertical border between columns 2 and 3, one segment per row
    assert all(np.allclose(s[:, 0], 2.5) for s in borders)
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # row 0 at the top
    assert len(fig.axes) == 2  # the colour bar


def test_history_curves_draws_loss_te_and_live_share():
    history = [{"epoch": 0, "loss": 2.0, "monitor_te": 0.5, "monitor_live_share": 0.2},
               {"epoch": 1, "loss": 1.5},  # a row without the monitor's TE: no point on those curves
               {"epoch": 2, "loss": 1.0, "monitor_te": 0.1, "monitor_live_share": 0.8}]
    fig = Figure()
    ax = fig.add_subplot()
    assert um.history_curves(history, ax) is fig
    assert ax.lines[0].get_ydata().tolist() == [2.0, 1.5, 1.0]
    right = fig.axes[1]
    te, live = right.lines
    assert te.get_xdata().tolist() == [1, 3] and te.get_ydata().tolist() == [0.5, 0.1]
    assert live.get_ydata().tolist() == [0.2, 0.8]
    assert right.get_ylim() == (0.0, 1.0)


# ------------------------------------------------------------------------------ a run: history and U-matrix
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from urlsom_core.config import RunConfig
    from urlsom_core.defaults import with_defaults
    from urlsom_core.runs import get_or_train

    cfg = RunConfig.from_dict(with_defaults("digits", TINY))
    return get_or_train(cfg, root=tmp_path_factory.mktemp("runs"), device="cpu", progress=False, log=lambda s: None)


def test_history_has_te_and_live_share_per_epoch_from_the_monitor(tiny_run):
    rows = [json.loads(line) for line in (tiny_run.path / "history.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    for row in rows:
        assert 0.0 <= row["monitor_te"] <= 1.0
        assert row["monitor_live_share"] == pytest.approx(row["monitor_live"] / 25, abs=1e-5)


def test_the_last_epochs_te_is_the_monitor_images_te_of_the_trained_map(tiny_run):
    """Recomputed from the stored model, without the usage bias fitted after training, on the monitor's images
    (the same seeded draw as Trainer's)."""
    import torch

    from urlsom_core.predict import predict
    from urlsom_core.train import training_mode

    cfg, sp = tiny_run.config, tiny_run.splits()
    n_mon = min(cfg.train.monitor_samples, len(sp.train))
    idx = torch.randperm(len(sp.train), generator=torch.Generator().manual_seed(cfg.train.seed + 2))[:n_mon]
    mode = training_mode(cfg, torch.device("cpu"))  # the monitor predicts in the training's precision and layout
    model = tiny_run.load_model("cpu")
    if mode.channels_last:
        model = model.to(memory_format=torch.channels_last)
    out = predict(model, sp.train.subset(idx), tiny_run.augment(), torch.device("cpu"), cpu_amp=mode.bf16)
    te = topographic_error(out["top2"], cfg.model.grid, torus=cfg.model.boundary == "circular")
    assert tiny_run.history[-1]["monitor_te"] == pytest.approx(te, abs=1e-5)


def test_run_u_matrix_from_a_stored_run(tiny_run):
    r = um.run_u_matrix(tiny_run, shuffles=20)
    assert r["umatrix"].shape == (5, 5) and r["majority_class"].shape == (5, 5)
    dead = r["majority_class"] < 0
    assert np.isnan(r["umatrix"][dead]).all()
    live_u = r["umatrix"][~dead]
    assert np.isfinite(live_u).any() and (live_u[np.isfinite(live_u)] >= 0).all()
    assert set(r["ridge"]) >= {"ratio", "null_ratio", "p_value", "between_edges", "within_edges"}
    p = um.run_prototypes(tiny_run)
    a = tiny_run.assignments()
    assert len(p["winner"]) == len(a["label"]) and (p["label"] == a["label"]).all()

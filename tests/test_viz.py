"""urlsom_book.viz: every figure function draws what it claims, on the ax it is given, changing no global style."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from urlsom_book import viz  # noqa: E402


def closed_form(x: float, q: float) -> float:
    """loss_WTA + loss_collapse for n = 2 written out by hand (Eqs. 2-5), independent of urlsom_core.loss."""
    s = 1.0 / (1.0 + math.exp(-x))  # Softmax of (x, 0)
    u1 = np.array([s, 1 - s]) / math.hypot(s, 1 - s)
    u2 = u1[::-1]
    a = q * u1 + (1 - q) * u2
    wta = a.sum() / math.sqrt(2)
    collapse = 1 - a.sum() / (np.linalg.norm(a) * math.sqrt(2))
    return wta + collapse


def test_loss_landscape_matches_the_closed_form_and_has_its_minimum_at_saturation_and_half():
    d = viz.loss_landscape(x_max=6.0, n_neurons=2, nx=13, nq=11, batch=100)
    assert d["loss"].shape == (11, 13)
    for i in (0, 3, 5, 10):
        for j in (0, 4, 12):
            assert d["loss"][i, j] == pytest.approx(closed_form(d["x"][j], d["q"][i]), abs=1e-9)
    assert d["min_x"] == 6.0 and d["min_q"] == 0.5
    assert np.allclose(d["loss"][:, 0], 1.0)  # x = 0: uniform outputs, loss_WTA 1, loss_collapse 0


def test_loss_landscape_rejects_one_neuron():
    with pytest.raises(ValueError, match="n_neurons 1"):
        viz.loss_landscape(n_neurons=1)


def test_wta_map_puts_each_sample_within_jitter_of_its_winner_and_marks_dead_neurons():
    grid = (4, 5)
    winners = np.array([0, 0, 7, 19, 19, 19])
    labels = np.array([1, 1, 2, 3, 3, 0])
    fig = Figure()
    ax = fig.add_subplot()
    out = viz.wta_map(winners, labels, grid, ax=ax, jitter=0.4, show_dead=True, seed=3)
    assert out is fig
    pts = ax.collections[0].get_offsets()
    assert len(pts) == len(winners)
    # each drawn point lies within 0.4 of some sample's winner position (col, row)
    targets = np.stack([winners % 5, winners // 5], 1)
    for p in pts:
        assert np.min(np.abs(targets - p).max(1)) <= 0.4 + 1e-9
    dead = ax.collections[1].get_offsets()
    assert len(dead) == 20 - 3
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # row 0 at the top


def test_wta_map_says_when_the_map_is_a_torus():
    from types import SimpleNamespace

    w, y = np.array([0, 4, 20, 24]), np.array([0, 1, 2, 3])
    flat = viz.wta_map(w, y, (5, 5)).axes[0]
    torus = viz.wta_map(w, y, (5, 5), torus=True).axes[0]
    assert flat.get_xlabel() == "map column" and viz.TORUS_NOTE not in flat.get_xlabel()
    assert viz.TORUS_NOTE in torus.get_xlabel() and torus.get_xlabel() == "map column (toroidal map: edges wrap)"
    assert flat.spines["top"].get_linestyle() == "solid" and torus.spines["top"].get_linestyle() != "solid"
    assert viz.is_torus(SimpleNamespace(boundary="circular")) and not viz.is_torus(SimpleNamespace(boundary="mass"))


def test_wta_map_window_zooms_and_keeps_only_its_samples():
    winners = np.array([0, 6, 12, 24])
    labels = np.array([0, 1, 2, 3])
    fig = viz.wta_map(winners, labels, (5, 5), window=(1, 3, 1, 3), jitter=0.0)
    ax = fig.axes[0]
    assert len(ax.collections[0].get_offsets()) == 2  # neurons 6 and 12 are inside rows/cols 1..2
    assert ax.get_xlim() == (0.5, 2.5)


def test_busiest_window_finds_where_most_labels_meet():
    grid = (6, 6)
    winners = np.array([0, 1, 2, 3, 28, 29, 34, 35])
    labels = np.array([0, 0, 0, 0, 1, 2, 3, 4])
    assert viz.busiest_window(winners, labels, grid, size=2) == (4, 6, 4, 6)


def test_loss_curve_marks_learning_rate_steps_and_the_stop():
    hist = [{"epoch": e, "loss": 2 - 0.1 * e, "wta": 1.0, "collapse": 0.1, "similarity": 0.2} for e in range(12)]
    fig = viz.loss_curve(hist, [(0, 1e-4), (5, 5e-4), (10, 1e-3)], stop_reason="early stop")
    ax = fig.axes[0]
    vlines = [ln for ln in ax.lines if len(set(ln.get_xdata())) == 1 and len(ln.get_xdata()) == 2]
    assert sorted(float(ln.get_xdata()[0]) for ln in vlines) == [5.5, 10.5]
    labels = [ln.get_label() for ln in ax.lines]
    assert "stop: early stop (epoch 12)" in labels


def test_kernel_profiles_draws_the_t_student_shapes():
    fig = viz.kernel_profiles([1.0, 18.0], radius=4)
    a, b = fig.axes[0].lines[:2]
    r = a.get_xdata()
    assert np.allclose(a.get_ydata(), 1 / (1 + r**2 / 1.0), atol=1e-6)
    assert np.allclose(b.get_ydata(), 1 / (1 + r**2 / 18.0), atol=1e-6)


def test_light_background_tells_inverted_digits():
    img = np.zeros((2, 1, 16, 16), dtype=np.uint8)
    img[0, :, 5:11, 5:11] = 255  # light digit on a dark ground
    img[1] = 255 - img[0]
    assert viz.light_background(img).tolist() == [False, True]


def test_viz_changes_no_global_style():
    before = dict(matplotlib.rcParams)
    viz.wta_map(np.array([0, 1]), np.array([0, 1]), (2, 2))
    viz.plot_loss_landscape(viz.loss_landscape(nx=5, nq=5, batch=4))
    assert dict(matplotlib.rcParams) == before

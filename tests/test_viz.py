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


# ------------------------------------------------------------------------------ class map and mosaic
# A hand-made 3x3 map: neuron 0 wins three images of class 1 (pure), neuron 4 two of class 2 and one of class 0
# (purity 2/3), neuron 8 one of class 0 and one of class 2 (a tie: the smaller label), the other six none.
W33 = np.array([0, 0, 0, 4, 4, 4, 8, 8])
Y33 = np.array([1, 1, 1, 2, 0, 2, 2, 0])


def _rgb(hex_colour):
    return np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255.0


def hatched(ax):
    """(row, column) of each cell hatched as dead on ``ax`` (the centres of its hatched squares)."""
    cells = []
    for coll in ax.collections:
        if coll.get_hatch():
            for path in coll.get_paths():
                lo, hi = path.vertices.min(0), path.vertices.max(0)
                cells.append((round(float(lo[1] + hi[1]) / 2), round(float(lo[0] + hi[0]) / 2)))
    return sorted(cells)


def test_class_purity_on_a_hand_made_map():
    majority, purity, count = viz.class_purity(W33, Y33, 9)
    assert majority.tolist() == [1, -1, -1, -1, 2, -1, -1, -1, 0]
    assert purity[[0, 4, 8]] == pytest.approx([1.0, 2 / 3, 0.5]) and purity[[1, 2, 3, 5, 6, 7]].tolist() == [0.0] * 6
    assert count.tolist() == [3, 0, 0, 0, 3, 0, 0, 0, 2]


def test_class_map_fills_each_neuron_with_its_class_colour_shaded_by_purity_and_marks_the_dead():
    fig = Figure()
    ax = fig.add_subplot()
    names = ["airplane", "automobile", "bird"]
    assert viz.class_map(W33, Y33, (3, 3), ax=ax, classes=names) is fig
    img = np.asarray(ax.images[0].get_array())  # (3, 3, 3) RGB
    assert img.shape == (3, 3, 3)
    assert np.allclose(img[0, 0], _rgb(viz.label_color(1)))  # pure: the class's full colour
    assert np.allclose(img[1, 1], 2 / 3 * _rgb(viz.label_color(2)) + 1 / 3)  # 2/3 pure: a third white
    assert np.allclose(img[2, 2], 0.5 * _rgb(viz.label_color(0)) + 0.5)
    for r, c in [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]:
        assert np.allclose(img[r, c], _rgb(viz.DEAD))
    assert hatched(ax) == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]  # every dead neuron, no other
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["airplane", "automobile", "bird", "dead neuron (won no image)"]  # names, not label numbers
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # row 0 at the top, as in wta_map


def test_class_map_window_shows_only_its_neurons():
    fig = viz.class_map(W33, Y33, (3, 3), window=(1, 3, 1, 3), legend=False)
    ax = fig.axes[0]
    img = np.asarray(ax.images[0].get_array())
    assert img.shape == (2, 2, 3) and np.allclose(img[0, 0], 2 / 3 * _rgb(viz.label_color(2)) + 1 / 3)
    assert ax.get_xlim() == (0.5, 2.5)


def test_typical_image_is_the_one_nearest_the_neurons_mean_embedding():
    # neuron 0 wins images 0, 1, 2: their unit embeddings point at 0, 60 and 90 degrees, the mean at about 52,
    # so image 1 (60) is nearest; image 3, the only image of neuron 1, is its own; neuron 2 wins none. Image
    # 0 has by far the largest embedding, which must not matter (cosine, not a dot product).
    deg = np.deg2rad([0.0, 60.0, 90.0, 10.0])
    emb = np.stack([np.cos(deg), np.sin(deg)], 1) * np.array([[50.0], [1.0], [1.0], [1.0]])
    assert viz.typical_images(np.array([0, 0, 0, 1]), emb, 3).tolist() == [1, 3, -1]
    # ties go to the lower index, whatever the order of the images
    assert viz.typical_images(np.array([2, 2]), np.ones((2, 4)), 3).tolist() == [-1, -1, 0]
    with pytest.raises(ValueError, match="one row per winner"):
        viz.typical_images(np.array([0, 1]), np.ones((3, 4)), 2)


def test_mosaic_tiles_each_neurons_image_where_the_neuron_is():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(4, 3, 5, 5), dtype=np.uint8)
    picks = np.array([2, -1, 0, 3])  # a 2x2 map; neuron 1 is dead
    arr = viz.mosaic_array(images, picks, (2, 2), gap=1)
    assert arr.shape == (11, 11, 3) and arr.dtype == np.uint8
    assert np.array_equal(arr[0:5, 0:5], np.moveaxis(images[2], 0, -1))  # neuron (0, 0)
    assert np.array_equal(arr[6:11, 0:5], np.moveaxis(images[0], 0, -1))  # neuron (1, 0)
    assert np.array_equal(arr[6:11, 6:11], np.moveaxis(images[3], 0, -1))  # neuron (1, 1)
    assert np.all(arr[0:5, 6:11] == np.round(_rgb(viz.DEAD) * 255))  # the dead neuron
    assert np.all(arr[5] == 255) and np.all(arr[:, 5] == 255)  # the white gap
    gray = viz.mosaic_array(images[:, :1], picks, (2, 2), window=(1, 2, 0, 2))  # one row; gray -> RGB
    assert gray.shape == (5, 11, 3) and np.array_equal(gray[:, :5, 1], images[0, 0])
    fig = viz.mosaic(images, picks, (2, 2))
    assert hatched(fig.axes[0]) == [(0, 1)]  # the dead neuron, hatched


def test_map_row_draws_the_class_map_with_the_papers_scatter_beside_it():
    fig = Figure()
    axes = fig.subplots(1, 2)
    viz.map_row(axes, W33, Y33, (3, 3), classes=["a", "b", "c"], name="seed 0")
    assert [ax.get_title().splitlines()[0] for ax in axes] == ["seed 0"] * 2  # the row's name above both
    assert "class map" in axes[0].get_title() and "paper" in axes[1].get_title()
    assert np.asarray(axes[0].images[0].get_array()).shape == (3, 3, 3)
    assert len(axes[1].collections[0].get_offsets()) == len(W33)  # every image at its winner
    assert axes[0].get_legend() is not None and axes[1].get_legend() is None  # one legend: the class map's


def test_class_map_and_mosaic_change_no_global_style():
    before = dict(matplotlib.rcParams)
    viz.class_map(W33, Y33, (3, 3))
    viz.mosaic(np.zeros((8, 3, 4, 4), dtype=np.uint8), viz.typical_images(W33, np.eye(8), 9), (3, 3))
    assert dict(matplotlib.rcParams) == before


def test_hex_class_map_draws_one_hexagon_per_neuron_in_its_class_colour():
    fig = Figure()
    ax = fig.add_subplot()
    viz.class_map(W33, Y33, (4, 3), ax=ax, lattice="hex", legend=False)  # 12 neurons, 3 of them won images
    assert not ax.images  # no square raster
    fill = ax.collections[0]
    paths = fill.get_paths()
    assert len(paths) == 12 and all(len(p.vertices) >= 6 for p in paths)  # one polygon per neuron
    cx = np.array([p.vertices[:6].mean(0) for p in paths])  # (12, 2) each hexagon's centre
    x, y = viz.neuron_xy(np.arange(12), (4, 3), "hex")
    assert np.allclose(cx, np.stack([x, y], 1))  # at the hexagonal lattice's centres: odd rows shifted
    colours = fill.get_facecolors()[:, :3]
    assert np.allclose(colours[0], _rgb(viz.label_color(1)))  # pure neuron 0: its class's full colour
    assert np.allclose(colours[4], 2 / 3 * _rgb(viz.label_color(2)) + 1 / 3)
    assert np.allclose(colours[1], _rgb(viz.DEAD))
    hatch = ax.collections[1]
    assert hatch.get_hatch() == "xx" and len(hatch.get_paths()) == 12 - 3  # every dead neuron, hatched
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # row 0 at the top
    square = viz.class_map(W33, Y33, (3, 3), legend=False).axes[0]  # the default: squares, as before
    assert np.asarray(square.images[0].get_array()).shape == (3, 3, 3)


def test_hex_mosaic_cuts_each_thumbnail_to_its_hexagon():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(4, 3, 8, 8), dtype=np.uint8)
    picks = np.array([2, -1, 0, 3])  # a 2x2 hexagonal map; neuron 1 is dead
    arr = viz.hex_mosaic_array(images, picks, (2, 2))
    S, h, w = 8, arr.shape[0], arr.shape[1]
    y_top = -viz.HEX_RADIUS

    def pixel(x, y):  # the pixel at map coordinates (x, y)
        return arr[int((y - y_top) * S), int((x + 0.5) * S)]

    for n, pick in enumerate(picks):
        x, y = viz.neuron_xy(np.array([n]), (2, 2), "hex")
        got = pixel(x[0] + 0.01, y[0] + 0.01)  # a pixel at the hexagon's centre: its image's middle pixels
        if pick < 0:
            assert np.array_equal(got, np.round(_rgb(viz.DEAD) * 255))
        else:
            middle = images[pick, :, S // 2 - 1 : S // 2 + 1, S // 2 - 1 : S // 2 + 1].reshape(3, -1).T  # (4, 3)
            assert any(np.array_equal(got, m) for m in middle)
    assert np.all(pixel(1.9, 0.0) == 255)  # right of row 0's last hexagon: nothing
    assert h == int(np.ceil((viz.HEX_ROW + 2 * viz.HEX_RADIUS) * S)) and w == int(np.ceil(2.5 * S))
    fig = viz.mosaic(images, picks, (2, 2), lattice="hex")
    assert len(fig.axes[0].collections[0].get_paths()) == 1  # the dead neuron, hatched

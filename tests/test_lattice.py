"""The hexagonal lattice (``model.lattice: hex``): its geometry against hand-computed small cases, the config's
checks and unchanged keys, the fixed kernel over hexagonal distances, the map metrics with six neighbours, the
readout window, the drawings and the command-line flag."""

from __future__ import annotations

import doctest
import json
import math

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import urlsom_core.lattice as lattice_module  # noqa: E402
from urlsom_core.config import ConfigError, ModelConfig, RunConfig  # noqa: E402
from urlsom_core.filters import gaussian_kernel, lattice_kernel, radial, student_t_kernel  # noqa: E402
from urlsom_core.lattice import (  # noqa: E402
    HEX_ROW,
    cell_centres,
    check_lattice,
    kernel_offsets,
    lattice_distances,
    neighbour_pairs,
    neighbour_table,
)
from urlsom_core.metrics import (  # noqa: E402
    adjacent_pairs,
    contiguity,
    map_trustworthiness,
    ridge_contrast,
    square_neighbours,
    topographic_error,
    u_matrix,
)
from urlsom_core.model import DENSE_MAX_NEURONS, URLSOM, hex_convolution_matrix  # noqa: E402

R3 = math.sqrt(3.0)


def test_the_modules_examples():
    assert doctest.testmod(lattice_module).failed == 0


# ------------------------------------------------------------------------------------------- geometry
def test_cell_centres_offset_odd_rows_by_half_a_cell_and_rows_by_sqrt3_over_2():
    c = cell_centres((3, 4), "hex")  # (y, x)
    assert c[0].tolist() == [0.0, 0.0]
    assert c[3].tolist() == [0.0, 3.0]
    np.testing.assert_allclose(c[4], [R3 / 2, 0.5])  # (1, 0): the odd row, half a cell right
    np.testing.assert_allclose(c[7], [R3 / 2, 3.5])
    np.testing.assert_allclose(c[8], [R3, 0.0])  # (2, 0): even again
    assert cell_centres((3, 4)).tolist()[6] == [1.0, 2.0]  # square: (row, column)


def test_a_4x4_hex_torus_gives_every_cell_exactly_6_distinct_neighbours_at_distance_1():
    nb = neighbour_table((4, 4), "hex", torus=True)
    d = lattice_distances((4, 4), "hex", torus=True)
    for i in range(16):
        assert len(set(nb[i].tolist())) == 6 and (nb[i] >= 0).all() and i not in nb[i]
        np.testing.assert_allclose(d[i, nb[i]], 1.0)
        at_one = set(np.flatnonzero(np.isclose(d[i], 1.0)).tolist())
        assert at_one == set(nb[i].tolist())  # and no other cell at distance 1
        others = np.setdiff1d(np.arange(16), np.append(nb[i], i))
        assert (d[i, others] > 1.5).all()  # the next ring is sqrt(3) away
    assert len(neighbour_pairs((4, 4), "hex", torus=True)) == 3 * 16  # 6 per cell, each pair once


def test_hand_computed_neighbours_on_a_flat_hex_map():
    nb = neighbour_table((3, 3), "hex")
    # left, right, up-left, up-right, down-left, down-right
    assert nb[4].tolist() == [3, 5, 1, 2, 7, 8]  # (1, 1), odd row: the row above is (0, 1), (0, 2)
    assert nb[0].tolist() == [-1, 1, -1, -1, -1, 3]  # (0, 0): only (0, 1) and (1, 0) on the map
    assert nb[6].tolist() == [-1, 7, -1, 3, -1, -1]  # (2, 0), even row: up-left is off the map, up-right (1, 0)
    assert nb[5].tolist() == [4, -1, 2, -1, 8, -1]  # (1, 2), odd row: nothing to its right
    # a flat H x W hex map: H (W - 1) pairs in the rows, 2W - 1 between two rows
    for H, W in ((3, 3), (4, 6), (5, 2)):
        assert len(neighbour_pairs((H, W), "hex")) == H * (W - 1) + (H - 1) * (2 * W - 1)


def test_tables_are_symmetric_and_square_matches_the_u_matrix_table():
    for grid, lat, torus in (((4, 6), "hex", False), ((4, 6), "hex", True), ((2, 5), "hex", True),
                             ((3, 4), "square", False), ((3, 4), "square", True), ((2, 2), "square", True)):
        nb = neighbour_table(grid, lat, torus)
        pairs = {(i, int(j)) for i in range(len(nb)) for j in nb[i] if j >= 0}
        assert pairs == {(j, i) for i, j in pairs}
        if lat == "square":
            assert (nb == square_neighbours(grid, torus)).all()
    # with corners the square table is the 8-neighbourhood of the topographic error and the contiguity
    for torus in (False, True):
        want = {tuple(p) for p in np.sort(adjacent_pairs((4, 5), torus), 1).tolist()}
        assert {tuple(p) for p in neighbour_pairs((4, 5), "square", torus, corners=True).tolist()} == want
        assert {tuple(p) for p in adjacent_pairs((4, 6), torus, "hex").tolist()} == \
            {tuple(p) for p in neighbour_pairs((4, 6), "hex", torus).tolist()}


def test_torus_distances_are_to_the_nearest_periodic_image():
    H, W = 4, 6
    d = lattice_distances((H, W), "hex", torus=True)
    c = cell_centres((H, W), "hex")
    images = [np.array([a * H * HEX_ROW, b * W]) for a in (-1, 0, 1) for b in (-1, 0, 1)]
    for i in range(H * W):
        for j in range(H * W):
            brute = min(np.linalg.norm(c[j] + s - c[i]) for s in images)
            assert d[i, j] == pytest.approx(brute)
    # a side of 2 rows: up and down reach the same row; each neighbour is listed once
    nb = neighbour_table((2, 4), "hex", torus=True)
    for row in nb:
        live = row[row >= 0]
        assert len(live) == len(set(live.tolist()))


def test_a_hexagonal_torus_needs_an_even_number_of_rows():
    with pytest.raises(ConfigError, match="allowed is an even number of rows"):
        check_lattice((5, 4), "hex", torus=True)
    check_lattice((5, 4), "hex", torus=False)  # a flat map may have any
    with pytest.raises(ConfigError, match="lattice 'tri': allowed is one of square, hex"):
        cell_centres((3, 3), "tri")


def test_kernel_offsets_hand_counts():
    assert len(kernel_offsets(1, "square")) == 9 and len(kernel_offsets(2, "square")) == 25
    assert len(kernel_offsets(1, "hex")) == 7  # the cell, 2 beside it, 2 above and 2 below (|x| = 1/2)
    # half width 2: rows 0 (x -2..2: 5) and +-1 (x +-1/2, +-3/2: 4 each) and +-2 (y = sqrt(3) <= 2: 5 each)
    assert len(kernel_offsets(2, "hex")) == 5 + 2 * 4 + 2 * 5


# --------------------------------------------------------------------------------------------- config
@pytest.mark.parametrize("model,needle", [
    ({"lattice": "triangle"}, "lattice 'triangle': allowed is one of square, hex"),
    ({"lattice": "hex", "boundary": "reflect"}, "boundary 'reflect' with lattice hex: allowed are zeros, circular, mass"),
    ({"lattice": "hex", "boundary": "circular", "grid": [5, 6]},
     "lattice hex with boundary circular on grid 5x6: allowed is an even number of rows"),
    ({"lattice": "hex", "grid": [65, 64]}, "lattice hex on grid 65x64: allowed is at most 4096 neurons"),
])
def test_bad_lattice_settings_are_one_line(model, needle):
    with pytest.raises(ConfigError) as e:
        RunConfig.from_dict({"model": model})
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_hex_fits_the_dense_operator():
    from urlsom_core.config import HEX_MAX_NEURONS

    assert HEX_MAX_NEURONS == DENSE_MAX_NEURONS


# The keys of the stored runs before the lattice existed (computed on the code without it): a square map keeps them.
# Those runs trained in float32, NCHW and eager, before train.amp_cpu, channels_last and compile defaulted to auto.
STORED_MODE = {"train.amp_cpu": False, "train.channels_last": False, "train.compile": False}
STORED_KEYS = {
    "quick/cifar10": "09d92fc8a1ae5c91", "quick/cifar10/seed1": "119d9a282ae353a1",
    "quick/cifar10_t": "e2893e57a46d2cf0", "quick/cifar10_t/seed1": "9d94746cb459e73d",
    "quick/svhn": "6856eda934153837", "quick/svhn/seed1": "f95ced65ca0f9e1a",
    "tiny/cifar10": "9f6d6c133acde9be", "tiny/cifar10/seed1": "afc379215446522b",
    "tiny/cifar10_t": "4b7c21f93c5f63ab", "tiny/cifar10_t/seed1": "457ccc43cdfa3409",
    "tiny/svhn": "a01d28ce72581662", "tiny/svhn/seed1": "3d5cb08bfd2d551d",
    "paper/cifar10": "98514af394ddd256", "paper/cifar10/seed1": "83514efb0dfc7776",
    "paper/svhn": "534f0a033c9e7f6d", "paper/svhn/seed1": "c99d80083ed7122c",
}


def test_the_lattice_field_keeps_every_stored_key():
    from urlsom_book.profiles import load_profile
    from urlsom_core.defaults import defaults_for

    for name, key in STORED_KEYS.items():
        profile, run, *seed = name.split("/")
        spec = load_profile(profile).runs[run]
        cfg = spec.config(**({"train.seed": 1} if seed else {})).replace(**STORED_MODE)
        assert cfg.model.lattice == "square"
        assert cfg.key() == key, name
        assert cfg.replace(**{"model.lattice": "square"}).key() == key
        assert cfg.replace(**{"model.lattice": "hex"}).key() != key
    digits = RunConfig.from_dict(defaults_for("digits")).replace(**STORED_MODE)
    assert digits.key() == "d79e5b2d2bcc289a"
    assert RunConfig().replace(**STORED_MODE).key() == "6e3df5251a4017b6"


# ----------------------------------------------------------------------------------------------- kernel
@pytest.mark.parametrize("norm", ["sum", "peak", "neighbour"])
def test_lattice_kernel_on_the_square_lattice_is_the_square_kernel(norm):
    h = 6
    off = torch.from_numpy(kernel_offsets(h, "square"))
    d2 = off.square().sum(-1)
    k = lattice_kernel(d2, d2, sigma=2.0, norm=norm, gain=3.0).reshape(2 * h + 1, 2 * h + 1)
    torch.testing.assert_close(k.float(), gaussian_kernel(2.0, 2 * h + 1, norm=norm, gain=3.0))
    k = lattice_kernel(d2, d2, "student", scale=18.0, norm=norm, gain=2.0).reshape(2 * h + 1, 2 * h + 1)
    torch.testing.assert_close(k.float(), student_t_kernel(18.0, 2 * h + 1, norm=norm, gain=2.0))


def _hex(**kw):
    base = {"grid": (6, 8), "lattice": "hex", "sigma": 1.5, "kernel_gain": 1.0}
    return ModelConfig(**{**base, **kw})


def test_hex_operator_entries_are_the_kernel_at_hexagonal_distances():
    cfg = _hex(boundary="zeros", kernel_norm="peak")
    m = hex_convolution_matrix(cfg).double()
    d = torch.from_numpy(lattice_distances(cfg.grid, "hex"))
    h = 5.0  # 2 * ceil(3 * 1.5) + 1 = 11: half side 5
    c = torch.from_numpy(cell_centres(cfg.grid, "hex"))
    box = ((c[:, None] - c[None]).abs() <= h + 1e-9).all(-1)
    want = torch.where(box, torch.exp(-d.square() / (2 * 1.5**2)), torch.zeros(()))
    torch.testing.assert_close(m, want, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(m, m.T)
    # neuron (1, 1) = 9 on an odd row: its 6 neighbours (0, 1), (0, 2), (1, 0), (1, 2), (2, 1), (2, 2) get exp(-1/4.5)
    for j in (1, 2, 8, 10, 17, 18):
        assert float(m[9, j]) == pytest.approx(math.exp(-1 / 4.5), rel=1e-6)
    assert float(m[9, 0]) == pytest.approx(math.exp(-3 / 4.5), rel=1e-6)  # (0, 0) is sqrt(3) away


def test_hex_kernel_normalisations():
    sq = kernel_offsets(5.0, "hex")
    s = float(radial(torch.from_numpy(sq).square().sum(-1), sigma=1.5).sum())
    m = hex_convolution_matrix(_hex(boundary="circular", kernel_norm="sum"))
    i = 3 * 8 + 4
    assert float(m[i, i]) == pytest.approx(1.0 / s, rel=1e-6)
    m = hex_convolution_matrix(_hex(boundary="circular", kernel_norm="neighbour", kernel_gain=0.5))
    assert float(m[i, i] - m[i, i + 1]) == pytest.approx(0.5, rel=1e-5)  # the centre 1 (x gain) above its 6 neighbours
    nb = neighbour_table((6, 8), "hex", torus=True)[i]
    torch.testing.assert_close(m[i, torch.from_numpy(nb)], m[i, i + 1].expand(6))


def test_hex_torus_is_shift_invariant_and_zero_padding_loses_mass_at_the_edge():
    t = hex_convolution_matrix(_hex(boundary="circular"))
    sums = t.sum(0)
    torch.testing.assert_close(sums, sums[0].expand_as(sums))
    # shifting by 2 rows and 3 columns moves the response with it (a torus of even rows)
    H, W = 6, 8
    r, c = np.divmod(np.arange(H * W), W)
    shift = torch.from_numpy(((r + 2) % H) * W + (c + 3) % W)
    torch.testing.assert_close(t[shift][:, shift], t)
    z = hex_convolution_matrix(_hex(boundary="zeros"))
    assert float(z.sum(0)[0]) < float(z.sum(0)[3 * 8 + 4]) < float(sums[0]) + 1e-6
    m = hex_convolution_matrix(_hex(boundary="mass"))
    torch.testing.assert_close(m.sum(0), m.sum(0)[27].expand(48))  # every output keeps the whole kernel's mass


def test_hex_student_kernel_reaches_the_whole_map():
    cfg = _hex(filter="student", student_scale=1.0, boundary="zeros", kernel_norm="peak")
    m = hex_convolution_matrix(cfg)
    assert (m > 0).all()  # no pair of cells is outside the support
    assert float(m[0, 47]) == pytest.approx(1 / (1 + float(lattice_distances((6, 8), "hex")[0, 47]) ** 2), rel=1e-5)


def test_the_head_runs_the_hex_operator_and_the_anneal_rebuilds_it():
    cfg = ModelConfig(grid=(6, 6), widths=(8,), blocks=1, lattice="hex", boundary="circular", sigma=2.0, sigma_end=1.0)
    net = URLSOM(cfg, in_channels=1)
    torch.testing.assert_close(net.head.operator, hex_convolution_matrix(cfg))
    assert net(torch.zeros(2, 1, 16, 16)).shape == (2, 36)
    net.head.set_sigma(1.0)
    torch.testing.assert_close(net.head.operator, hex_convolution_matrix(cfg, sigma=1.0))
    fresh = URLSOM(cfg, in_channels=1)
    assert not torch.equal(fresh.head.operator, net.head.operator)
    fresh.load_state_dict(net.state_dict())  # the sigma in use is saved; the operator follows it on load
    torch.testing.assert_close(fresh.head.operator, net.head.operator)
    # a square map's head is as it was: no extra buffer
    assert "head.hex_sigma" not in URLSOM(ModelConfig(grid=(6, 6), widths=(8,), blocks=1), 1).state_dict()


def test_the_prototype_readout_window_on_hex_is_a_neuron_and_its_6_neighbours():
    from urlsom_core.readouts import Readout, window_index

    win = window_index((4, 4), torus=True, lattice="hex")
    assert win.shape == (16, 7) and (win[:, 0] == torch.arange(16)).all()
    assert (win[:, 1:].numpy() == neighbour_table((4, 4), "hex", torus=True)).all()
    read = Readout((4, 4), False, prototypes=torch.zeros(16, 3), counts=torch.ones(16), lattice="hex")
    assert (read.window == window_index((4, 4), torus=False, lattice="hex")).all()
    assert read.window.shape == (16, 7)
    with pytest.raises(ConfigError, match="window radius 2 on lattice hex"):
        window_index((4, 4), False, radius=2, lattice="hex")


# ---------------------------------------------------------------------------------------------- metrics
def test_topographic_error_uses_the_six_hexagonal_neighbours():
    g = (4, 4)
    # (0, 0)-(1, 1): diagonal neighbours on the square grid, sqrt(3) apart on hex (row 0 is even)
    # (1, 1)-(0, 2): the odd row's up-right, a neighbour on both; (0, 0)-(0, 2): on neither
    t = np.array([[0, 5], [5, 2], [0, 2]])
    assert topographic_error(t[:1], g) == 0.0 and topographic_error(t[:1], g, lattice="hex") == 1.0
    assert topographic_error(t[1:2], g, lattice="hex") == 0.0
    assert topographic_error(t, g, lattice="hex") == pytest.approx(2 / 3)
    # on a hex torus (0, 0) and (3, 3) are neighbours (up-left across the corner); on a flat map they are not
    assert topographic_error(np.array([[0, 15]]), g, torus=True, lattice="hex") == 0.0
    assert topographic_error(np.array([[0, 15]]), g, lattice="hex") == 1.0


def test_contiguity_counts_hexagonal_pairs():
    # a 2x2 map, one sample per neuron, labels 0 0 / 1 1: square pairs 0-1, 2-3 agree, 0-2, 1-3 and the
    # diagonals 0-3, 1-2 do not (2 of 6); hex pairs 0-1, 0-2, 1-2, 1-3, 2-3: 0-1 and 2-3 agree (2 of 5)
    w, y = np.arange(4), np.array([0, 0, 1, 1])
    assert contiguity(w, y, (2, 2))[0] == pytest.approx(2 / 6)
    assert contiguity(w, y, (2, 2), lattice="hex")[0] == pytest.approx(2 / 5)


def test_u_matrix_on_hex_hand_computed():
    # 2x2 hex: 0-1, 0-2, 1-2, 1-3, 2-3 are neighbours (0 and 3 are not); prototypes 0, 0, 0, 3 on a line
    P = np.array([[0.0], [0.0], [0.0], [3.0]])
    assert u_matrix(P, (2, 2), lattice="hex").tolist() == [[0.0, 1.0], [1.0, 3.0]]
    assert u_matrix(P, (2, 2)).tolist() == [[0.0, 1.5], [1.5, 3.0]]  # square: 0-1, 0-2, 1-3, 2-3
    r = ridge_contrast(u_matrix(P, (2, 2), lattice="hex"), np.array([0, 0, 0, 1]), shuffles=5, lattice="hex")
    assert r["between_edges"] == 2 and r["within_edges"] == 3  # 1-3, 2-3 across; 0-1, 0-2, 1-2 within


def test_trustworthiness_reads_hexagonal_and_toroidal_positions():
    g = (10, 10)
    w = np.arange(100)  # one sample per neuron
    rng = np.random.default_rng(1)
    yx = cell_centres(g, "hex")
    flat = yx + rng.normal(0, 0.01, yx.shape)  # an embedding laid out as the hexagonal map
    assert map_trustworthiness(flat, w, g, lattice="hex") > map_trustworthiness(flat, w, g) > 0.99
    P = np.array([10 * HEX_ROW, 10.0])
    a = 2 * np.pi * yx / P  # an embedding laid out as the hexagonal torus (a flat torus in 4-d)
    ring = np.concatenate([np.cos(a) * P / (2 * np.pi), np.sin(a) * P / (2 * np.pi)], 1) + rng.normal(0, 0.01, (100, 4))
    assert (map_trustworthiness(ring, w, g, lattice="hex", torus=True)
            > map_trustworthiness(ring, w, g, lattice="hex") > 0.99)


# --------------------------------------------------------------------------------------------- drawing
def test_neuron_xy_of_a_few_cells():
    from urlsom_book.viz import neuron_xy

    x, y = neuron_xy(np.array([0, 4, 5, 8]), (3, 4), "hex")  # (0, 0), (1, 0), (1, 1), (2, 0)
    np.testing.assert_allclose(x, [0.0, 0.5, 1.5, 0.0])
    np.testing.assert_allclose(y, [0.0, R3 / 2, R3 / 2, R3])
    x, y = neuron_xy(np.array([5]), (3, 4))
    assert (x.tolist(), y.tolist()) == ([1.0], [1.0])


def test_neighbouring_hexagons_share_a_side_so_the_map_has_no_gaps():
    from urlsom_book.viz import hexagon_vertices, neuron_xy

    g = (4, 4)
    x, y = neuron_xy(np.arange(16), g, "hex")
    v = np.round(hexagon_vertices(x, y), 9)  # (16, 6, 2)
    for a, b in neighbour_pairs(g, "hex"):
        shared = {tuple(p) for p in v[a]} & {tuple(p) for p in v[b]}
        assert len(shared) == 2  # a whole side
    area = 6 * (R3 / 4) * (1 / R3) ** 2  # a regular hexagon of side 1/sqrt(3): sqrt(3)/2, one cell of the lattice
    assert area == pytest.approx(R3 / 2)


def test_hex_class_map_and_u_matrix_render_hexagons():
    import io

    from urlsom_book import umatrix as um
    from urlsom_book import viz

    rng = np.random.default_rng(0)
    w, y = rng.integers(0, 30, 200), rng.integers(0, 3, 200)
    fig = Figure()
    ax = fig.add_subplot()
    viz.wta_map(w, y, (5, 6), ax=ax, lattice="hex", torus=True, show_dead=True, seed=4)
    polys = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(polys) == 1 and len(polys[0].get_paths()) == 30  # every cell a hexagon
    r = np.random.default_rng(4)  # the figure's own draws: row jitter, column jitter, the drawing order
    dy, dx, order = r.uniform(-0.4, 0.4, 200) * R3 / 2, r.uniform(-0.4, 0.4, 200), r.permutation(200)
    x0, y0 = viz.neuron_xy(w, (5, 6), "hex")
    np.testing.assert_allclose(ax.collections[1].get_offsets(), np.stack((x0 + dx, y0 + dy), 1)[order])
    # |dx| <= 0.4 and |dy| <= 0.4 sqrt(3)/2 keep a sample inside its hexagon (|y| <= (1 - |x|) / sqrt(3))
    assert (np.abs(dy) <= (1 - np.abs(dx)) / R3 + 1e-12).all()
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # row 0 at the top
    assert ax.get_xlim() == (-0.5, 6.0)
    fig.savefig(io.BytesIO(), format="png")
    u = rng.random((5, 6))
    u[0, 0] = np.nan
    fig2 = um.u_matrix(u, lattice="hex", majority_class=rng.integers(0, 2, (5, 6)))
    ax2 = fig2.axes[0]
    assert any(isinstance(c, PolyCollection) and len(c.get_paths()) == 30 for c in ax2.collections)
    buf = io.BytesIO()
    fig2.savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"


def test_the_square_class_map_is_drawn_as_before():
    from urlsom_book import viz

    rng = np.random.default_rng(0)
    w, y = rng.integers(0, 30, 50), rng.integers(0, 3, 50)
    ax = Figure().add_subplot()
    viz.wta_map(w, y, (5, 6), ax=ax, seed=3)
    assert not any(isinstance(c, PolyCollection) for c in ax.collections)
    r = np.random.default_rng(3)
    rows = w // 6 + r.uniform(-0.4, 0.4, 50)
    cols = w % 6 + r.uniform(-0.4, 0.4, 50)
    order = r.permutation(50)
    np.testing.assert_allclose(ax.collections[0].get_offsets(), np.stack((cols[order], rows[order]), 1))
    assert ax.get_xlim() == (-0.5, 5.5) and ax.get_ylim() == (4.5, -0.5)


def test_the_inspectors_locator_follows_the_offset_rows():
    from urlsom_book.widgets import inspector_panels, where_rule, where_svg

    rule, cw, ch = where_rule("x", (4, 4), width=90, lattice="hex")
    assert cw == pytest.approx(90 / 4.5) and ch == pytest.approx(cw * R3 / 2)
    assert where_rule("x", (4, 4))[1:] == (22.5, 22.5)
    assert 'x="10" y="17"' in where_svg((4, 4), (1, 0), lattice="hex")  # (1, 0): half a cell right, a row down
    assert 'x="0" y="22"' in where_svg((4, 4), (1, 0))
    images = np.zeros((3, 1, 4, 4), np.uint8)
    panels, _, _ = inspector_panels(np.array([4, 4, 5]), np.array([0, 1, 1]), images, (4, 4), ["a", "b"], "u",
                                    n_images=0, lattice="hex")
    assert "background-position:10px 17px" in panels[4] and "background-position:30px 17px" in panels[5]


# ----------------------------------------------------------------------------------------- command line
def test_the_lattice_flag_reaches_the_config_and_bad_values_are_one_line(tmp_path, capsys):
    from urlsom_book.cli import build_parser, config_from_args, main

    args = build_parser().parse_args(["train", "--out", "x", "--lattice", "hex", "--grid", "6", "6"])
    assert config_from_args(args).model.lattice == "hex"
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--lattice", "hexagonal"]) == 2
    assert capsys.readouterr().err == "urlsom: error: lattice 'hexagonal': allowed is one of square, hex\n"
    assert main(["train", "--out", str(out), "--lattice", "hex", "--grid", "5", "6", "--boundary", "circular"]) == 2
    assert "allowed is an even number of rows" in capsys.readouterr().err
    assert not out.exists()


# ------------------------------------------------------------------------------------- a trained hex map
@pytest.fixture(scope="module")
def hex_run(tmp_path_factory):
    from urlsom_core.defaults import with_defaults
    from urlsom_core.runs import get_or_train

    tiny = {"data": {"subset": 200}, "model": {"grid": [6, 6], "widths": [8], "blocks": 1, "lattice": "hex"},
            "train": {"epochs": 2, "batch_size": 64}}
    cfg = RunConfig.from_dict(with_defaults("digits", tiny))  # the digits defaults: a torus, now hexagonal
    assert cfg.model.circular and not cfg.model.usage_balance and not cfg.model.prototype_readout
    return get_or_train(cfg, root=tmp_path_factory.mktemp("runs"), device="cpu", progress=False, log=lambda s: None)


def test_a_hex_runs_metrics_and_monitor_use_the_hexagonal_neighbours(hex_run):
    from urlsom_book import umatrix as um

    a, m, grid = hex_run.assignments(), hex_run.metrics, (6, 6)
    te = topographic_error(a["top2"], grid, torus=True, lattice="hex")
    assert m["topographic_error"] == pytest.approx(te)
    assert m["contiguity"] == pytest.approx(contiguity(a["winner"], a["label"], grid, torus=True, lattice="hex")[0])
    # the monitor sees all 200 training images here, so its last TE is the trained map's
    assert hex_run.history[-1]["monitor_te"] == pytest.approx(te, abs=1e-5)
    r = um.run_u_matrix(hex_run, shuffles=5)
    p = um.run_prototypes(hex_run)
    assert r["lattice"] == "hex"
    np.testing.assert_array_equal(r["umatrix"], u_matrix(p["prototypes"], grid, torus=True, lattice="hex"))


def test_the_inspector_of_a_hex_run_draws_its_map_and_locators_in_hexagons(hex_run, monkeypatch):
    from urlsom_book import widgets

    seen = []
    draw = widgets._map_image
    monkeypatch.setattr(widgets, "_map_image", lambda *a, **k: seen.append(a[6] if len(a) > 6 else k) or draw(*a, **k))
    box = widgets.inspector({"hex": hex_run}, n_images=1)
    assert seen == ["hex"]
    html = json.dumps([c.value for c in box.children if hasattr(c, "value")])
    cw = 90 / 6.5  # where_rule: 6 columns and the half cell of the odd rows
    assert f"height:{round(cw * (5 * HEX_ROW + 1))}px" in html

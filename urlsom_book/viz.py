"""One function per kind of paper figure. Each draws on an ``ax`` it is given (or makes one) and returns
the figure; none changes matplotlib's global style.

=======================  =========================================================================
``loss_landscape``       Fig. 3: loss_WTA + loss_collapse for n = 2 over Softmax input and selection
``plot_loss_landscape``  its picture, the minimum marked
``wta_map``              Fig. 4, 6, 7, 8, 9, 11: each sample at its winner, jittered, coloured by label
``class_map``            the same maps as a class map: each neuron its majority class, shaded by purity
``typical_images``       each neuron's most typical image: nearest the mean embedding of its images
``mosaic``               the same maps as an image mosaic: each neuron its most typical image
``map_row``              a run's class map with the paper's scatter beside it
``neuron_xy``            where a neuron is drawn, on a square or a hexagonal lattice
``hexagons``             one hexagon per neuron of a hexagonal map, filled by a value or a colour
``busiest_window``       Fig. 6: the zoom window with the most labels meeting
``loss_curve``           Fig. 5, 10: loss per epoch, learning-rate steps, the stop
``ns_per_epoch``         NS and held-out NS per epoch (the run's monitor), the paper's 70.3% as a line
``kernel_profiles``      Fig. 11: radial profiles of the fixed filters
=======================  =========================================================================

Example:
    >>> import numpy as np
    >>> d = loss_landscape(x_max=6.0, nx=13, nq=11)
    >>> float(d["min_q"]), float(d["min_x"])
    (0.5, 6.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from urlsom_core.config import is_circular

# Ten well-separated colours (matplotlib's tab10), fixed here so no global style is read or changed.
TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
DEAD = "#d9d9d9"  # a dead neuron (it won no image)
DEAD_MARK = "#8c8c8c"  # the hatch drawn over it


TORUS_NOTE = "toroidal map: edges wrap"


def is_torus(model_config: Any) -> bool:
    """Whether a run's map is a torus (:func:`urlsom_core.config.is_circular` of its ``boundary``; a config
    without one has the default zero padding)."""
    return is_circular(getattr(model_config, "boundary", "zeros"))


def lattice_of(model_config: Any) -> str:
    """A run's lattice (``ModelConfig.lattice``; a config without one is square)."""
    return str(getattr(model_config, "lattice", "square"))


HEX_ROW = 3**0.5 / 2  # the hexagonal lattice's row step (urlsom_core.lattice.HEX_ROW)
HEX_RADIUS = 1 / 3**0.5  # a hexagon's centre-to-corner distance when neighbouring centres are 1 apart


def neuron_xy(neurons: np.ndarray, grid: Sequence[int], lattice: str = "square") -> tuple[np.ndarray, np.ndarray]:
    """Where the map figures draw neurons (row-major indices): x to the right, y down the rows, in cell widths.

    Square: (column, row). Hex (``lattice="hex"``, offset rows): x is the column plus half a cell on odd rows,
    y the row times sqrt(3)/2, the centres of :func:`urlsom_core.lattice.cell_centres`.

    Example:
        >>> x, y = neuron_xy(np.array([0, 3, 4]), (2, 3), "hex")  # (0, 0), (1, 0), (1, 1)
        >>> x.tolist(), np.round(y, 3).tolist()
        ([0.0, 0.5, 1.5], [0.0, 0.866, 0.866])
    """
    from urlsom_core.lattice import cell_centres

    yx = cell_centres((int(grid[0]), int(grid[1])), lattice)[np.asarray(neurons, dtype=np.int64)]  # (N, 2)
    return yx[..., 1], yx[..., 0]


def hexagon_vertices(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The 6 corners of the hexagon around each centre (x, y), (N, 6, 2): pointed at the top and bottom, sides
    vertical, so that the cells of :func:`neuron_xy` on the hexagonal lattice tile the plane without gaps."""
    a = np.deg2rad(np.arange(30, 360, 60))  # (6,) the corners' directions
    return np.stack((np.asarray(x, dtype=np.float64)[:, None] + HEX_RADIUS * np.cos(a)[None],
                     np.asarray(y, dtype=np.float64)[:, None] + HEX_RADIUS * np.sin(a)[None]), -1)


def hexagons(ax: Any, grid: Sequence[int], values: np.ndarray | None = None, colors: Any = None,
             neurons: np.ndarray | None = None, cmap: Any = None, norm: Any = None, **kw: Any) -> Any:
    """Draw one hexagon per neuron of a hexagonal map on ``ax`` and return the ``PolyCollection``.

    ``values`` (n,) or (H, W) fills them through ``cmap``/``norm`` (NaN: the colour map's "bad" colour; the
    collection then serves a colour bar); else ``colors`` (one or one per neuron; default white). ``neurons``
    picks which to draw (row-major indices; default all). Other keywords go to the collection (``edgecolor``,
    ``linewidth``, ``zorder``...). The axes' limits are left to the caller."""
    from matplotlib.collections import PolyCollection

    H, W = int(grid[0]), int(grid[1])
    idx = np.arange(H * W) if neurons is None else np.asarray(neurons, dtype=np.int64)
    x, y = neuron_xy(idx, (H, W), "hex")
    kw.setdefault("edgecolor", "face")
    if values is not None:
        v = np.asarray(values, dtype=np.float64).reshape(-1)[idx]
        coll = PolyCollection(hexagon_vertices(x, y), array=np.ma.masked_invalid(v), cmap=cmap, norm=norm, **kw)
    else:
        coll = PolyCollection(hexagon_vertices(x, y), facecolors="white" if colors is None else colors, **kw)
    ax.add_collection(coll)
    return coll


def _hex_frame(ax: Any, r0: int, r1: int, c0: int, c1: int) -> None:
    """Limits and row ticks of a hexagonal map's cells r0..r1-1, c0..c1-1 (end exclusive), row 0 at the top."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlim(c0 - 0.5, c1)
    ax.set_ylim((r1 - 1) * HEX_ROW + HEX_RADIUS, r0 * HEX_ROW - HEX_RADIUS)
    ax.set_aspect("equal")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    rows = [int(t) for t in MaxNLocator(integer=True).tick_values(r0, r1 - 1) if r0 <= t <= r1 - 1]
    ax.set_yticks([t * HEX_ROW for t in rows], [str(t) for t in rows])


def label_color(i: int) -> str:
    return TAB10[int(i) % len(TAB10)]


def _axes(ax: Any, figsize: tuple[float, float] = (6, 5)) -> tuple[Any, Any]:
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


# ------------------------------------------------------------------------------------------- Fig. 3
def loss_landscape(x_max: float = 6.0, n_neurons: int = 2, nx: int = 61, nq: int = 51, batch: int = 100) -> dict[str, Any]:
    """loss_WTA + loss_collapse (Eqs. 4, 5) of a batch whose Softmax inputs are ``x`` on one neuron and 0
    elsewhere, a fraction ``q`` of the samples selecting neuron 1 (the rest the other neurons in turn).

    Computed with :mod:`urlsom_core.loss` itself on an explicit batch of ``batch`` samples (both views
    equal, so loss_similarity is 0). Returns ``x`` (nx,), ``q`` (nq,), ``loss`` (nq, nx), ``wta``,
    ``collapse`` and the minimum's ``min_x``, ``min_q``, ``min_loss``.
    """
    import torch
    import torch.nn.functional as F

    from urlsom_core.loss import collapse_loss, mean_direction, wta_loss

    if n_neurons < 2:
        raise ValueError(f"n_neurons {n_neurons}: allowed is >= 2")
    xs = np.linspace(0.0, x_max, nx)
    qs = np.linspace(0.0, 1.0, nq)
    wta = np.zeros((nq, nx))
    col = np.zeros((nq, nx))
    for j, x in enumerate(xs):
        logits = torch.zeros(n_neurons, n_neurons, dtype=torch.float64)
        logits.fill_diagonal_(float(x))  # row k: x on neuron k, 0 elsewhere
        rows = F.normalize(torch.softmax(logits, dim=1), dim=1)  # (n, n) P-hat of a sample choosing neuron k
        for i, q in enumerate(qs):
            k1 = int(round(q * batch))
            others = np.arange(batch - k1) % (n_neurons - 1) + 1
            choice = torch.from_numpy(np.concatenate([np.zeros(k1, dtype=np.int64), others]))
            p_hat = rows[choice]  # (batch, n)
            a = mean_direction(p_hat, p_hat)
            wta[i, j] = float(wta_loss(a))
            col[i, j] = float(collapse_loss(a))
    loss = wta + col
    i, j = np.unravel_index(np.argmin(loss), loss.shape)
    return {"x": xs, "q": qs, "loss": loss, "wta": wta, "collapse": col,
            "min_x": float(xs[j]), "min_q": float(qs[i]), "min_loss": float(loss[i, j])}


def plot_loss_landscape(d: dict[str, Any], ax: Any = None) -> Any:
    """Filled contours of ``loss_landscape``'s loss over (x, q) with the minimum marked."""
    fig, ax = _axes(ax)
    cs = ax.contourf(d["x"], d["q"], d["loss"], levels=30, cmap="viridis")
    ax.contour(d["x"], d["q"], d["loss"], levels=10, colors="white", linewidths=0.4, alpha=0.6)
    fig.colorbar(cs, ax=ax, label="loss_WTA + loss_collapse")
    ax.plot([d["min_x"]], [d["min_q"]], marker="*", markersize=16, color="#d62728", markeredgecolor="white",
            linestyle="none", label=f"minimum {d['min_loss']:.3f} at x = {d['min_x']:g}, p = {d['min_q']:.2f}")
    ax.set_xlabel("Softmax input x (one neuron at x, the other at 0)")
    ax.set_ylabel("probability of selecting neuron 1")
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
    return fig


# -------------------------------------------------------------------------------------- map figures
def wta_map(
    winners: np.ndarray,
    labels: np.ndarray,
    grid: Sequence[int],
    ax: Any = None,
    classes: Sequence[str] | None = None,
    jitter: float = 0.4,
    seed: int = 0,
    title: str | None = None,
    window: tuple[int, int, int, int] | None = None,
    show_dead: bool = False,
    size: float | None = None,
    legend: bool = True,
    torus: bool = False,
    lattice: str = "square",
) -> Any:
    """Each sample drawn at its winner's grid position (column right, row down), moved uniformly within
    +-``jitter``, coloured by its label. ``window`` = (row0, row1, col0, col1) zooms (end exclusive);
    ``show_dead`` marks neurons that won no sample with a grey cross. ``torus``: the map is toroidal (a
    circular boundary, ``ModelConfig.circular``), so its left and right edges and its top and
    bottom edges are neighbours; the axis labels say so (:data:`TORUS_NOTE`) and the map's frame is drawn
    dashed. Pass ``torus=is_torus(config.model)``. ``lattice``: ``hex`` draws a hexagonal map (pass
    ``lattice=lattice_of(config.model)``): every cell a hexagon (:func:`hexagons`, thin grey outlines), the
    samples at :func:`neuron_xy`, their vertical jitter scaled by sqrt(3)/2 so that they stay in their
    hexagon (for ``jitter`` <= 0.4)."""
    fig, ax = _axes(ax)
    H, W = int(grid[0]), int(grid[1])
    hexagonal = lattice == "hex"
    winners = np.asarray(winners, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    if hexagonal:
        jr = rng.uniform(-jitter, jitter, len(winners)) * HEX_ROW
        x, y = neuron_xy(winners, (H, W), "hex")
        r, c = y + jr, x + rng.uniform(-jitter, jitter, len(winners))
    else:
        r = winners // W + rng.uniform(-jitter, jitter, len(winners))
        c = winners % W + rng.uniform(-jitter, jitter, len(winners))
    r0, r1, c0, c1 = window if window is not None else (0, H, 0, W)
    if hexagonal:
        rr, cc = np.divmod(np.arange(H * W), W)
        cells = np.flatnonzero((rr >= r0) & (rr < r1) & (cc >= c0) & (cc < c1))
        hexagons(ax, (H, W), neurons=cells, colors="white", edgecolor="#dddddd", linewidth=0.4, zorder=0)
    keep = (winners // W >= r0) & (winners // W < r1) & (winners % W >= c0) & (winners % W < c1)
    n_cells = (r1 - r0) * (c1 - c0)
    if size is None:
        size = float(np.clip(12000.0 / max(keep.sum(), 1) * (400.0 / max(n_cells, 1)) ** 0.5, 1.0, 40.0))
    colors = np.array([label_color(v) for v in range(max(int(labels.max(initial=0)) + 1, 1))])
    order = rng.permutation(np.flatnonzero(keep))  # no label painted last everywhere
    ax.scatter(c[order], r[order], s=size, c=colors[labels[order]], linewidths=0, alpha=0.85, rasterized=True)
    if show_dead:
        live = np.zeros(H * W, dtype=bool)
        live[np.unique(winners)] = True
        dead = np.flatnonzero(~live)
        rr, cc = np.divmod(dead, W)
        inside = (rr >= r0) & (rr < r1) & (cc >= c0) & (cc < c1)
        if hexagonal:
            cc, rr = neuron_xy(dead, (H, W), "hex")
        ax.scatter(cc[inside], rr[inside], marker="x", s=30, c=DEAD, linewidths=1.2, label="dead neuron")
    if window is not None and not hexagonal:
        for k in range(r0, r1 + 1):
            ax.axhline(k - 0.5, color="#eeeeee", linewidth=0.6, zorder=0)
        for k in range(c0, c1 + 1):
            ax.axvline(k - 0.5, color="#eeeeee", linewidth=0.6, zorder=0)
    _grid_axes(ax, grid, window, torus, title, lattice)
    if legend:
        from matplotlib.lines import Line2D

        present = sorted(set(labels[keep].tolist()))
        names = list(classes) if classes is not None else [str(v) for v in range(len(colors))]
        handles = [Line2D([], [], marker="o", linestyle="none", color=label_color(v), label=names[v] if v < len(names) else str(v))
                   for v in present]
        if show_dead:
            handles.append(Line2D([], [], marker="x", linestyle="none", color=DEAD, label="dead neuron"))
        ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, frameon=False,
                  handletextpad=0.2, borderaxespad=0.0)
    return fig


def busiest_window(winners: np.ndarray, labels: np.ndarray, grid: Sequence[int], size: int = 8) -> tuple[int, int, int, int]:
    """The ``size`` x ``size`` window (row0, row1, col0, col1) where the most labels meet (ties: most live neurons)."""
    H, W = int(grid[0]), int(grid[1])
    sh, sw = min(size, H), min(size, W)
    from urlsom_core.metrics import neuron_labels

    nl = neuron_labels(winners, labels, H * W).reshape(H, W)
    best, best_score = (0, sh, 0, sw), (-1, -1)
    for r0 in range(H - sh + 1):
        for c0 in range(W - sw + 1):
            sub = nl[r0 : r0 + sh, c0 : c0 + sw]
            live = sub[sub >= 0]
            score = (len(np.unique(live)), live.size)
            if score > best_score:
                best, best_score = (r0, r0 + sh, c0, c0 + sw), score
    return best


# ------------------------------------------------------------------ class map and image mosaic
def class_purity(winners: np.ndarray, labels: np.ndarray, n_neurons: int,
                 n_classes: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each neuron's majority class, its purity and the number of images it won.

    The purity of a neuron is the share of its images that belong to its majority class: the neuron's own
    neural selectivity (Sec. V.C, where NS averages it over images). Ties go to the smallest label, as in
    :func:`urlsom_core.metrics.neuron_labels`.

    Parameters
    ----------
    winners, labels : array (N,)
        Each image's winning neuron (row-major) and its label.
    n_neurons : int
        H * W.
    n_classes : int, optional
        Number of labels (default: the largest label + 1).

    Returns
    -------
    majority : (n_neurons,) int64, -1 for a dead neuron (it won no image)
    purity : (n_neurons,) float64 in (0, 1], 0 for a dead neuron
    count : (n_neurons,) int64

    Example
    -------
    >>> m, p, c = class_purity(np.array([0, 0, 0, 2]), np.array([1, 1, 0, 2]), 3)
    >>> m.tolist(), p.round(3).tolist(), c.tolist()
    ([1, -1, 2], [0.667, 0.0, 1.0], [3, 0, 1])
    """
    winners = np.asarray(winners, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    k = int(n_classes) if n_classes is not None else int(labels.max(initial=0)) + 1
    table = np.zeros((int(n_neurons), k), dtype=np.int64)  # (n, K) images of each label per neuron
    np.add.at(table, (winners, labels), 1)
    count = table.sum(1)
    majority = table.argmax(1)  # first maximum: ties go to the smallest label
    purity = np.where(count > 0, table.max(1) / np.maximum(count, 1), 0.0)
    majority[count == 0] = -1
    return majority, purity, count


def _rgb(color: str) -> np.ndarray:
    h = color.lstrip("#")
    return np.array([int(h[i : i + 2], 16) for i in (0, 2, 4)], dtype=np.float64) / 255.0


def class_colors(majority: np.ndarray, purity: np.ndarray) -> np.ndarray:
    """The class map's colour of each neuron, (n,) -> (n, 3) RGB in [0, 1]: its majority class's colour
    (:func:`label_color`) mixed with white in proportion to its impurity, ``purity * colour + (1 - purity) *
    white``, so a pure neuron shows its class's full colour and a mixed one a pale tint; a dead neuron
    (majority -1) is :data:`DEAD` grey.

    >>> class_colors(np.array([0, -1]), np.array([0.5, 0.0])).round(3).tolist()
    [[0.561, 0.733, 0.853], [0.851, 0.851, 0.851]]
    """
    majority = np.asarray(majority, dtype=np.int64)
    p = np.clip(np.asarray(purity, dtype=np.float64), 0.0, 1.0)[:, None]  # (n, 1)
    base = np.array([_rgb(label_color(m)) if m >= 0 else _rgb(DEAD) for m in majority]).reshape(-1, 3)  # (n, 3)
    out = p * base + (1.0 - p) * 1.0
    out[majority < 0] = _rgb(DEAD)
    return out


def _grid_axes(ax: Any, grid: Sequence[int], window: tuple[int, int, int, int] | None, torus: bool,
               title: str | None, lattice: str = "square") -> None:
    """Limits, integer ticks, axis labels and the torus's dashed frame, as :func:`wta_map` draws them (a
    hexagonal map's frame: :func:`_hex_frame`)."""
    from matplotlib.ticker import MaxNLocator

    H, W = int(grid[0]), int(grid[1])
    r0, r1, c0, c1 = window if window is not None else (0, H, 0, W)
    if lattice == "hex":
        _hex_frame(ax, r0, r1, c0, c1)
    else:
        ax.set_xlim(c0 - 0.5, c1 - 0.5)
        ax.set_ylim(r1 - 0.5, r0 - 0.5)
        ax.set_aspect("equal")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("map column" + (f" ({TORUS_NOTE})" if torus else ""))
    ax.set_ylabel("map row" + (" (wraps)" if torus else ""))
    if torus and window is None:
        for side in ax.spines.values():
            side.set_linestyle((0, (4, 3)))
    if title:
        ax.set_title(title, fontsize=10)


def _window_cells(grid: Sequence[int], window: tuple[int, int, int, int] | None) -> np.ndarray:
    """The row-major indices of the neurons inside ``window`` = (row0, row1, col0, col1) (end exclusive)."""
    H, W = int(grid[0]), int(grid[1])
    r0, r1, c0, c1 = window if window is not None else (0, H, 0, W)
    rr, cc = np.divmod(np.arange(H * W), W)
    return np.flatnonzero((rr >= r0) & (rr < r1) & (cc >= c0) & (cc < c1))


def _mark_dead(ax: Any, alive: np.ndarray, grid: Sequence[int], window: tuple[int, int, int, int] | None,
               lattice: str = "square") -> Any:
    """Cross-hatch every dead neuron's cell (``alive`` False) inside ``window``: one collection of unit
    squares centred on the neurons (column, row), or of their hexagons on a hexagonal map (:func:`hexagons`),
    returned (None when there is none). A hatch, not a colour, so that no class colour, however pale, reads as
    a dead neuron."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    H, W = int(grid[0]), int(grid[1])
    dead = np.intersect1d(np.flatnonzero(~np.asarray(alive, dtype=bool)), _window_cells(grid, window))
    if not dead.size:
        return None
    if lattice == "hex":
        return hexagons(ax, (H, W), neurons=dead, colors="none", edgecolor=DEAD_MARK, linewidth=0.0, hatch="xx")
    rr, cc = np.divmod(dead, W)
    boxes = [Rectangle((c - 0.5, r - 0.5), 1.0, 1.0) for r, c in zip(rr, cc, strict=True)]
    hatch = PatchCollection(boxes, facecolor="none", edgecolor=DEAD_MARK, linewidth=0.0, hatch="xx")
    ax.add_collection(hatch)
    return hatch


def class_map(
    winners: np.ndarray,
    labels: np.ndarray,
    grid: Sequence[int],
    ax: Any = None,
    classes: Sequence[str] | None = None,
    title: str | None = None,
    window: tuple[int, int, int, int] | None = None,
    torus: bool = False,
    legend: bool = True,
    lattice: str = "square",
) -> Any:
    """The map as a reader of SOMs draws it: each neuron a square in its majority class's colour, paler the
    lower its purity (:func:`class_purity`, :func:`class_colors`), dead neurons grey and cross-hatched. The legend
    names the classes (``classes``: the data's class names, e.g. airplane, automobile, ...). ``window`` =
    (row0, row1, col0, col1) zooms (end exclusive); ``torus`` as in :func:`wta_map`. ``lattice``: ``hex``
    draws each neuron as a hexagon at :func:`neuron_xy` (:func:`hexagons`, one polygon per neuron in the
    window), as the hexagonal map's neighbours are (pass ``lattice=lattice_of(config.model)``)."""
    fig, ax = _axes(ax)
    H, W = int(grid[0]), int(grid[1])
    labels = np.asarray(labels, dtype=np.int64)
    n_classes = max(int(labels.max(initial=0)) + 1, len(classes) if classes is not None else 0)
    majority, purity, _ = class_purity(winners, labels, H * W, n_classes)
    rgb = class_colors(majority, purity)  # (n, 3)
    r0, r1, c0, c1 = window if window is not None else (0, H, 0, W)
    if lattice == "hex":
        cells = _window_cells(grid, window)
        hexagons(ax, (H, W), neurons=cells, colors=rgb[cells], edgecolor="face", linewidth=0.3)
    else:
        img = rgb.reshape(H, W, 3)  # (H, W, 3)
        ax.imshow(img[r0:r1, c0:c1], extent=(c0 - 0.5, c1 - 0.5, r1 - 0.5, r0 - 0.5), interpolation="nearest")
    _mark_dead(ax, majority >= 0, grid, window, lattice)
    _grid_axes(ax, grid, window, torus, title, lattice)
    if legend:
        from matplotlib.patches import Patch

        names = list(classes) if classes is not None else [str(v) for v in range(n_classes)]
        present = sorted(set(majority[majority >= 0].tolist()))
        handles: list[Any] = [Patch(facecolor=label_color(v), label=names[v] if v < len(names) else str(v))
                              for v in present]
        handles.append(Patch(facecolor=DEAD, edgecolor=DEAD_MARK, hatch="xx", linewidth=0.0,
                             label="dead neuron (won no image)"))
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.09), fontsize=8, frameon=False,
                  ncol=min(4, len(handles)), handletextpad=0.4, columnspacing=1.2, borderaxespad=0.0,
                  title="majority class (paler: less pure)", title_fontsize=8)
    return fig


def latent_map(
    winners: np.ndarray,
    latent: np.ndarray,
    grid: Sequence[int],
    ax: Any = None,
    title: str | None = None,
    label: str = "mean latent of the neuron's images",
    torus: bool = False,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
) -> Any:
    """Each neuron coloured by the mean of one known latent factor over the images it wins (dead neurons grey and
    cross-hatched): a map that orders the latent shows smooth colour, a folded one patches of it. Square lattice.

    Parameters
    ----------
    winners : ndarray
        (N,) each image's winning neuron, row-major.
    latent : ndarray
        (N,) the images' latent values.
    grid : (int, int)
        The map's rows and columns.
    ax : matplotlib Axes, optional
        Where to draw (a new figure when None).
    title, label : str
        The panel's title; the colour bar's label.
    torus : bool
        The map wraps (a dashed frame, as :func:`wta_map`).
    cmap, vmin, vmax
        The colour map and its range (default: the latent's range).

    Returns
    -------
    matplotlib Figure

    Example:
        >>> fig = latent_map(np.array([0, 0, 3]), np.array([1.0, 3.0, 5.0]), (2, 2))
        >>> len(fig.axes)  # the panel and its colour bar
        2
    """
    fig, ax = _axes(ax)
    H, W = int(grid[0]), int(grid[1])
    w = np.asarray(winners, dtype=np.int64).reshape(-1)
    z = np.asarray(latent, dtype=np.float64).reshape(-1)
    if len(w) != len(z):
        raise ValueError(f"latent for {len(z)} images and winners for {len(w)}: allowed is one value per winner")
    count = np.bincount(w, minlength=H * W)[: H * W]
    total = np.bincount(w, weights=z, minlength=H * W)[: H * W]
    mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    import matplotlib

    cm = matplotlib.colormaps[cmap].with_extremes(bad=DEAD)
    im = ax.imshow(mean.reshape(H, W), cmap=cm, vmin=z.min() if vmin is None else vmin,
                   vmax=z.max() if vmax is None else vmax, interpolation="nearest")
    _mark_dead(ax, count > 0, grid, None)
    _grid_axes(ax, grid, None, torus, title)
    fig.colorbar(im, ax=ax, shrink=0.8, label=label)
    return fig


def typical_images(winners: np.ndarray, embeddings: np.ndarray, n_neurons: int) -> np.ndarray:
    """Each neuron's most typical image: among the images it wins, the one whose embedding is nearest (largest
    cosine) the neuron's prototype, the mean of their L2-normalised embeddings; -1 for a dead neuron.

    The prototype is the centre of what the network put on that neuron, so its nearest image is the most
    representative one, where the image with the neuron's largest Softmax output would be the one it placed
    most confidently, often an extreme. Ties go to the lower image index.

    Parameters
    ----------
    winners : (N,) int
        Each image's neuron.
    embeddings : (N, d) float
        Each image's backbone features (``Run.predict(data, embed=True)["embedding"]``).
    n_neurons : int

    Returns
    -------
    (n_neurons,) int64: an index into the N images, or -1.

    Example
    -------
    >>> e = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.0, 1.0]])
    >>> typical_images(np.array([0, 0, 0, 2]), e, 3).tolist()
    [1, -1, 3]
    """
    w = np.asarray(winners, dtype=np.int64)
    e = np.asarray(embeddings, dtype=np.float64)
    if e.ndim != 2 or len(e) != len(w):
        raise ValueError(f"embeddings of shape {e.shape}: allowed is ({len(w)}, d), one row per winner")
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)  # (N, d)
    proto = np.zeros((int(n_neurons), e.shape[1]))  # (n, d)
    np.add.at(proto, w, e)
    proto /= np.maximum(np.linalg.norm(proto, axis=1, keepdims=True), 1e-12)
    score = np.einsum("nd,nd->n", e, proto[w])  # (N,) cosine to its neuron's prototype
    order = np.lexsort((-score, w))  # by neuron, best first; lexsort is stable, so ties keep the lower index
    first = np.ones(len(order), dtype=bool)
    first[1:] = w[order][1:] != w[order][:-1]
    out = np.full(int(n_neurons), -1, dtype=np.int64)
    out[w[order][first]] = order[first]
    return out


def mosaic_array(images: np.ndarray, picks: np.ndarray, grid: Sequence[int],
                 window: tuple[int, int, int, int] | None = None, gap: int = 1) -> np.ndarray:
    """The thumbnails of ``picks`` (one image index per neuron, row-major, -1 for none) tiled as the map:
    (N, C, S, S) uint8 images -> (h*(S+gap)-gap, w*(S+gap)-gap, 3) uint8, ``gap`` white pixels between
    cells, a neuron without an image filled with :data:`DEAD` grey; gray images (C = 1) become gray RGB.
    ``window`` = (row0, row1, col0, col1) keeps that part of the map."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images of shape {images.shape}: allowed is (N, C, S, S) with C 1 or 3")
    H, W = int(grid[0]), int(grid[1])
    picks = np.asarray(picks, dtype=np.int64).reshape(H, W)
    r0, r1, c0, c1 = window if window is not None else (0, H, 0, W)
    S, step = images.shape[-1], images.shape[-1] + gap
    dead = np.round(_rgb(DEAD) * 255).astype(np.uint8)
    out = np.full(((r1 - r0) * step - gap, (c1 - c0) * step - gap, 3), 255, dtype=np.uint8)
    for r in range(r0, r1):
        for c in range(c0, c1):
            top, left = (r - r0) * step, (c - c0) * step
            i = picks[r, c]
            if i < 0:
                out[top : top + S, left : left + S] = dead
            else:
                out[top : top + S, left : left + S] = np.moveaxis(images[i], 0, -1)  # (S, S, C) -> broadcast
    return out


def hex_mosaic_array(images: np.ndarray, picks: np.ndarray, grid: Sequence[int],
                     window: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """:func:`mosaic_array` for a hexagonal map: every pixel shows the thumbnail of the neuron whose centre
    (:func:`neuron_xy`) is nearest, i.e. the thumbnails cut to the hexagons of :func:`hexagons`, S pixels per
    cell width. (N, C, S, S) uint8 -> (h, w, 3) uint8 covering x in [col0 - 1/2, col1] and y in
    [row0 * sqrt(3)/2 - 1/sqrt(3), (row1 - 1) * sqrt(3)/2 + 1/sqrt(3)] (the frame of the hexagonal map
    figures); each thumbnail is centred on its hexagon at one pixel per image pixel across, its edge rows
    repeated into the hexagon's top and bottom tips; white outside the window's hexagons, :data:`DEAD` grey for
    a neuron without an image."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images of shape {images.shape}: allowed is (N, C, S, S) with C 1 or 3")
    H, W = int(grid[0]), int(grid[1])
    picks = np.asarray(picks, dtype=np.int64).reshape(-1)  # (n,)
    r0, r1, c0, c1 = window if window is not None else (0, H, 0, W)
    S = images.shape[-1]
    x = c0 - 0.5 + (np.arange(int(np.ceil((c1 - c0 + 0.5) * S))) + 0.5) / S  # (w,) pixel centres
    y_top, y_bot = r0 * HEX_ROW - HEX_RADIUS, (r1 - 1) * HEX_ROW + HEX_RADIUS
    y = y_top + (np.arange(int(np.ceil((y_bot - y_top) * S))) + 0.5) / S  # (h,)
    Y, X = np.meshgrid(y, x, indexing="ij")  # (h, w)
    best = np.full(X.shape, np.inf)
    row = np.zeros(X.shape, dtype=np.int64)
    col = np.zeros(X.shape, dtype=np.int64)
    base = np.floor(Y / HEX_ROW).astype(np.int64)
    for dr in (0, 1):  # the nearest centre lies in the row above or below the pixel
        r = base + dr
        c = np.round(X - 0.5 * (r % 2)).astype(np.int64)
        d = (X - c - 0.5 * (r % 2)) ** 2 + (Y - r * HEX_ROW) ** 2
        closer = d < best
        best, row, col = np.where(closer, d, best), np.where(closer, r, row), np.where(closer, c, col)
    inside = (row >= r0) & (row < r1) & (col >= c0) & (col < c1)
    dx = X - col - 0.5 * (row % 2)  # (h, w) offset from the centre, in cell widths
    dy = Y - row * HEX_ROW
    u = np.clip(np.floor((dx + 0.5) * S), 0, S - 1).astype(np.int64)
    v = np.clip(np.floor((dy + 0.5) * S), 0, S - 1).astype(np.int64)
    pick = np.where(inside, picks[np.clip(row, 0, H - 1) * W + np.clip(col, 0, W - 1)], -1)  # (h, w)
    rgb = images if images.shape[1] == 3 else np.repeat(images, 3, axis=1)  # (N, 3, S, S)
    out = np.full(X.shape + (3,), 255, dtype=np.uint8)
    some = pick >= 0
    out[some] = rgb[pick[some], :, v[some], u[some]]  # (K, 3): the advanced indices' axis first
    out[inside & ~some] = np.round(_rgb(DEAD) * 255).astype(np.uint8)
    return out


def mosaic(
    images: np.ndarray,
    picks: np.ndarray,
    grid: Sequence[int],
    ax: Any = None,
    title: str | None = None,
    window: tuple[int, int, int, int] | None = None,
    torus: bool = False,
    lattice: str = "square",
) -> Any:
    """The map as an image mosaic: at each neuron the thumbnail of its most typical image (``picks``, from
    :func:`typical_images`), dead neurons grey and cross-hatched (:func:`mosaic_array`). Same axes as
    :func:`class_map`, so the two can be read side by side. ``lattice``: ``hex`` cuts each thumbnail to its
    neuron's hexagon (:func:`hex_mosaic_array`)."""
    fig, ax = _axes(ax, (6, 6))
    H, W = int(grid[0]), int(grid[1])
    r0, r1, c0, c1 = window if window is not None else (0, H, 0, W)
    if lattice == "hex":
        arr = hex_mosaic_array(images, picks, grid, window)
        ax.imshow(arr, extent=(c0 - 0.5, c1, (r1 - 1) * HEX_ROW + HEX_RADIUS, r0 * HEX_ROW - HEX_RADIUS),
                  interpolation="antialiased")
    else:
        arr = mosaic_array(images, picks, grid, window)
        ax.imshow(arr, extent=(c0 - 0.5, c1 - 0.5, r1 - 0.5, r0 - 0.5), interpolation="antialiased")
    _mark_dead(ax, np.asarray(picks).reshape(-1) >= 0, grid, window, lattice)
    _grid_axes(ax, grid, window, torus, title, lattice)
    return fig


def map_row(
    axes: Sequence[Any],
    winners: np.ndarray,
    labels: np.ndarray,
    grid: Sequence[int],
    classes: Sequence[str] | None = None,
    name: str = "",
    window: tuple[int, int, int, int] | None = None,
    torus: bool = False,
    jitter: float = 0.4,
    legend: bool = True,
    lattice: str = "square",
) -> None:
    """One run's map on two ``axes``: the class map (:func:`class_map`, with the legend of class names) and,
    beside it, the paper's scatter of every image at its winner (:func:`wta_map`, in the same colours).
    ``name`` (e.g. "seed 0: NS 0.45") heads the row, above the class map. The image mosaic
    (:func:`mosaic`) needs the room of a figure of its own to show its thumbnails. ``lattice``: ``hex`` draws
    both as hexagonal maps."""
    class_map(winners, labels, grid, ax=axes[0], classes=classes, window=window, torus=torus, legend=legend,
              lattice=lattice,
              title=(f"{name}\n" if name else "") + "class map: majority class, paler where less pure")
    wta_map(winners, labels, grid, ax=axes[1], classes=classes, window=window, torus=torus, jitter=jitter,
            legend=False, show_dead=window is not None, lattice=lattice,
            title=(f"{name}\n" if name else "") + "the paper's drawing: each image at its winner")


def loss_curve(history: Sequence[dict[str, Any]], lr_schedule: Sequence[Sequence[float]], ax: Any = None,
               stop_reason: str | None = None, terms: bool = True, gamma: float = 2.0, title: str | None = None) -> Any:
    """Loss per epoch (total and, with ``terms``, loss_WTA, loss_collapse, gamma * loss_similarity), a dashed
    line at each learning-rate step, and the last epoch marked with why training stopped."""
    from matplotlib.ticker import MaxNLocator

    fig, ax = _axes(ax, (7, 4))
    ep = np.array([h["epoch"] for h in history]) + 1  # 1-based, as in the paper's plots
    ax.plot(ep, [h["loss"] for h in history], color="#1f77b4", linewidth=2.0, label="loss (Eq. 8)")
    if terms:
        ax.plot(ep, [h["wta"] for h in history], color="#ff7f0e", linewidth=1.0, label="loss_WTA (Eq. 4)")
        ax.plot(ep, [h["collapse"] for h in history], color="#2ca02c", linewidth=1.0, label="loss_collapse (Eq. 5)")
        ax.plot(ep, [gamma * h["similarity"] for h in history], color="#9467bd", linewidth=1.0,
                label=f"{gamma:g} x loss_similarity (Eq. 6)")
    for start, lr in lr_schedule:
        if start > 0 and start < len(history):
            ax.axvline(start + 0.5, color="#7f7f7f", linestyle="--", linewidth=0.9)
            ax.text(start + 0.7, 0.98, f"lr {lr:g}", rotation=90, va="top", ha="left", fontsize=7,
                    color="#555555", transform=ax.get_xaxis_transform())
    if len(ep):
        ax.plot([ep[-1]], [history[-1]["loss"]], marker="o", color="#d62728", linestyle="none",
                label=f"stop: {stop_reason or 'end'} (epoch {ep[-1]})")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs
    ax.set_ylabel("loss")
    ax.legend(fontsize=7, loc="upper right", framealpha=0.9)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def ns_per_epoch(history: Sequence[dict[str, Any]], ax: Any = None, paper_ns: float | None = 0.703,
                 metrics: dict[str, Any] | None = None, title: str | None = None) -> Any:
    """NS per epoch from a run's history.jsonl rows: the monitor's NS on its fixed sample of training images
    (``monitor_ns``) and, where the run has a held-out split, its held-out NS (``monitor_heldout_ns``, neurons
    labelled by that training sample), with the paper's NS (Fig. 4: 70.3%) as a horizontal line.

    ``metrics``: the run's metrics.json (the network's own figures at its top level); its final NS and
    held-out NS over all images are marked at the last epoch, so the distance between the monitor's sample
    and the whole split shows. Rows without a figure (a run trained before the held-out monitor existed)
    leave a gap. Epochs are drawn 1-based, as in the paper's Fig. 5."""
    from matplotlib.ticker import MaxNLocator

    fig, ax = _axes(ax, (7, 4))
    ep = np.array([h["epoch"] for h in history], dtype=np.float64) + 1  # (E,)

    def column(key: str) -> np.ndarray:
        return np.array([h.get(key, np.nan) if h.get(key) is not None else np.nan for h in history], dtype=np.float64)

    ns, held = column("monitor_ns"), column("monitor_heldout_ns")
    ax.plot(ep, ns, color=TAB10[0], linewidth=1.8, marker="o", markersize=3,
            label="NS, monitor sample of the training images")
    if np.isfinite(held).any():
        ax.plot(ep, held, color=TAB10[1], linewidth=1.8, marker="o", markersize=3,
                label="held-out NS, monitor sample of the held-out images")
    if paper_ns is not None:
        ax.axhline(paper_ns, color="#555555", linestyle="--", linewidth=1.0, label=f"paper, Fig. 4: {paper_ns:.1%}")
    shown = [ns, held, np.array([paper_ns if paper_ns is not None else np.nan])]
    if metrics and len(ep):
        for key, colour, what in (("neural_selectivity", TAB10[0], "NS"),
                                  ("heldout_neural_selectivity", TAB10[1], "held-out NS")):
            v = metrics.get(key)
            if v is not None:
                shown.append(np.array([v], dtype=np.float64))
                ax.plot([ep[-1]], [v], marker="*", markersize=12, color=colour, markeredgecolor="black",
                        markeredgewidth=0.6, linestyle="none", label=f"final {what}, all images: {v:.3f}")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs
    ax.set_ylabel("neural selectivity")
    values = np.concatenate(shown)
    top = float(np.nanmax(values)) if np.isfinite(values).any() else 1.0
    ax.set_ylim(0.0, min(1.02, top + 0.08))
    ax.legend(fontsize=7, loc="best", framealpha=0.9)  # where it hides the fewest points
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def monitor_note(samples: int | None) -> str:
    """Why the monitor's NS per epoch (:func:`ns_per_epoch`, ``train.monitor_samples`` images) reads higher
    than the NS over all images, and its held-out NS lower: a sentence for the text beside the curve."""
    n = f"{samples:,} images" if samples else "a sample of the images"
    return (f"The monitor scores {n} after each epoch. With few of them per neuron a neuron's majority class fits "
            "its handful of images, so the monitor's NS tends to read higher than the NS over all images (the star "
            "at the last epoch), and its held-out NS, with neurons labelled by that small sample, lower than the "
            "held-out NS over all of them: the curves show the trend, the stars the figures.")


def kernel_profiles(scales: Sequence[float], radius: int, ax: Any = None, sigma: float | None = None) -> Any:
    """Radial profiles of the t-student filters ``1/(1+r^2/s)`` for ``scales`` (peak 1) over ``radius``
    neurons, from :func:`urlsom_core.filters.student_t_kernel`; a Gaussian of ``sigma`` for reference."""
    from urlsom_core.filters import gaussian_kernel, student_t_kernel

    fig, ax = _axes(ax, (5, 3.5))
    size = 2 * radius + 1
    r = np.arange(-radius, radius + 1)
    for i, s in enumerate(scales):
        k = student_t_kernel(float(s), size, norm="peak").numpy()
        ax.plot(r, k[radius], color=TAB10[i], linewidth=2, label=f"t-student 1/(1+r²/{s:g})")
    if sigma is not None:
        k = gaussian_kernel(float(sigma), size, norm="peak").numpy()
        ax.plot(r, k[radius], color="#7f7f7f", linestyle="--", linewidth=1, label=f"Gaussian sigma {sigma:g}")
    ax.set_xlabel("distance r (neurons)")
    ax.set_ylabel("filter weight (peak 1)")
    ax.legend(fontsize=8)
    return fig


def light_background(images: np.ndarray) -> np.ndarray:
    """True for images whose border is brighter than their centre: a dark figure on a light ground.

    (N, C, S, S) uint8 -> (N,) bool. For digits this tells contrast-inverted ones (SVHN has both kinds; the
    paper's explanation of its two clusters per digit, Fig. 8)."""
    x = np.asarray(images, dtype=np.float32).mean(1)  # (N, S, S) luminance-like
    S = x.shape[-1]
    b = max(1, S // 8)
    border = np.concatenate([x[:, :b].reshape(len(x), -1), x[:, -b:].reshape(len(x), -1),
                             x[:, :, :b].reshape(len(x), -1), x[:, :, -b:].reshape(len(x), -1)], 1).mean(1)
    c0, c1 = S // 4, S - S // 4
    centre = x[:, c0:c1, c0:c1].reshape(len(x), -1).mean(1)
    return border > centre

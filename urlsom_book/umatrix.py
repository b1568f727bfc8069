"""The U-matrix of a stored map, and its training curves with the map's order beside the loss.

Not figures of the paper. The U-matrix (Ultsch and Siemon, 1990) is how users of classical SOMs find cluster
borders without labels: each neuron's prototype is the mean backbone embedding of the un-augmented training
images it wins, and a neuron's height is its mean distance to its neighbours' prototypes
(:func:`urlsom_core.metrics.u_matrix`); ridges are where the map's features change. :func:`run_u_matrix`
computes it from a stored run with the ridge measure (:func:`urlsom_core.metrics.ridge_contrast`: is the
U-matrix higher on edges between neurons of different majority class than inside a class?), and
:func:`u_matrix` draws it. :func:`history_curves` draws a run's history.jsonl: the loss per epoch and, on a
second axis, the monitor's topographic error and share of live neurons per epoch.

Each drawing function draws on an ``ax`` it is given (or makes a figure) and returns the figure; none changes
matplotlib's global style.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from urlsom_core.metrics import neuron_labels, neuron_prototypes, ridge_contrast
from urlsom_core.metrics import u_matrix as u_matrix_values

DEAD_COLOUR = "#f2e6d0"  # neurons without a prototype (they won no training image)


def _axes(ax: Any, figsize: tuple[float, float]) -> tuple[Any, Any]:
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def run_prototypes(run: Any, device: str = "cpu") -> dict[str, np.ndarray]:
    """The prototypes of a stored run's neurons from its un-augmented training images.

    Returns ``prototypes`` (n, d) (:func:`urlsom_core.metrics.neuron_prototypes`, NaN rows for neurons that won
    no training image), and the images' ``winner`` (N,) and ``label`` (N,): ``Run.predict(..., embed=True)`` on
    the run's training split, so the winners are those the run reports."""
    train = run.splits().train
    out = run.predict(train, device, embed=True)
    n = run.config.model.n_neurons
    return {"prototypes": neuron_prototypes(out["embedding"], out["winner"], n),
            "winner": out["winner"].astype(np.int64), "label": train.labels.numpy().astype(np.int64)}


def run_u_matrix(run: Any, device: str = "cpu", shuffles: int = 1000, seed: int = 0) -> dict[str, Any]:
    """A stored run's U-matrix and how its ridges follow the class borders.

    Returns ``umatrix`` (H, W) (NaN for dead neurons), ``majority_class`` (H, W) (each neuron's most frequent
    training label, -1 for dead), ``torus`` (the map wraps: ``boundary == "circular"``), ``lattice``
    (``square`` or ``hex``: the neighbours are the 4 cells sharing a side, or the 6 hexagonal ones) and
    ``ridge`` (:func:`urlsom_core.metrics.ridge_contrast` with ``shuffles`` label shuffles)."""
    grid = tuple(run.config.model.grid)
    torus = run.config.model.circular
    lattice = run.config.model.lattice
    p = run_prototypes(run, device)
    umat = u_matrix_values(p["prototypes"], grid, torus=torus, lattice=lattice)
    major = neuron_labels(p["winner"], p["label"], grid[0] * grid[1]).reshape(grid)
    return {"umatrix": umat, "majority_class": major, "torus": torus, "lattice": lattice,
            "ridge": ridge_contrast(umat, major, torus=torus, shuffles=shuffles, seed=seed, lattice=lattice)}


def class_border_segments(majority_class: np.ndarray,
                          lattice: str = "square") -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """Line segments ((x0, y0), (x1, y1)) between horizontally or vertically neighbouring live neurons of
    different majority class, in the map's (column, row) coordinates; wrapping edges of a torus are not
    drawn. On ``lattice`` hex: the side that two neighbouring hexagons of different class share, in the
    coordinates of :func:`urlsom_book.viz.neuron_xy`.

    Example:
        >>> class_border_segments(np.array([[0, 1], [0, 0]]))
        [((0.5, -0.5), (0.5, 0.5)), ((0.5, 0.5), (1.5, 0.5))]
        >>> np.round(class_border_segments(np.array([[0, 1]]), "hex"), 3).tolist()  # the side between two hexagons
        [[[0.5, -0.289], [0.5, 0.289]]]
    """
    m = np.asarray(majority_class)
    H, W = m.shape
    if lattice == "hex":
        from urlsom_core.lattice import neighbour_pairs

        from .viz import HEX_RADIUS, neuron_xy

        cls = m.reshape(-1)
        p = neighbour_pairs((H, W), "hex")  # (P, 2), flat: no wrapping edge
        p = p[(cls[p[:, 0]] >= 0) & (cls[p[:, 1]] >= 0) & (cls[p[:, 0]] != cls[p[:, 1]])]
        x, y = neuron_xy(p, (H, W), "hex")  # (P, 2) each
        mid = np.stack(((x[:, 0] + x[:, 1]) / 2, (y[:, 0] + y[:, 1]) / 2), 1)
        side = np.stack((-(y[:, 1] - y[:, 0]), x[:, 1] - x[:, 0]), 1) * (HEX_RADIUS / 2)  # half the shared side
        return [(tuple(float(v) for v in a), tuple(float(v) for v in b)) for a, b in zip(mid - side, mid + side, strict=True)]
    segs = []
    for r in range(H):
        for c in range(W):
            if m[r, c] < 0:
                continue
            if c + 1 < W and m[r, c + 1] >= 0 and m[r, c + 1] != m[r, c]:
                segs.append(((c + 0.5, r - 0.5), (c + 0.5, r + 0.5)))
            if r + 1 < H and m[r + 1, c] >= 0 and m[r + 1, c] != m[r, c]:
                segs.append(((c - 0.5, r + 0.5), (c + 0.5, r + 0.5)))
    return segs


def u_matrix(umat: np.ndarray, ax: Any = None, torus: bool = False, majority_class: np.ndarray | None = None,
             title: str | None = None, cmap: str = "Greys", colorbar: bool = True, lattice: str = "square") -> Any:
    """Draw a U-matrix (H, W): each neuron a square at (column, row), row 0 at the top as on the map figures,
    dark where its prototype is far from its neighbours' (a ridge), light where close; dead neurons (NaN) in a
    pale sand colour. With ``majority_class`` (H, W) the class borders (:func:`class_border_segments`) are drawn
    as thin red lines, to see whether the ridges follow them. ``torus``: the map wraps; the frame is drawn
    dashed and the axis labels say so. ``lattice`` hex: each neuron a hexagon (:func:`urlsom_book.viz.hexagons`)."""
    import matplotlib

    fig, ax = _axes(ax, (6, 5))
    u = np.asarray(umat, dtype=np.float64)
    H, W = u.shape
    colours = matplotlib.colormaps[cmap].with_extremes(bad=DEAD_COLOUR)  # a copy: the registered map is unchanged
    if lattice == "hex":
        from matplotlib.colors import Normalize

        from .viz import _hex_frame, hexagons

        finite = u[np.isfinite(u)]
        norm = Normalize(float(finite.min()), float(finite.max())) if finite.size else None
        im = hexagons(ax, (H, W), values=u, cmap=colours, norm=norm)
    else:
        im = ax.imshow(np.ma.masked_invalid(u), cmap=colours, interpolation="nearest",
                       extent=(-0.5, W - 0.5, H - 0.5, -0.5))
    if majority_class is not None:
        from matplotlib.collections import LineCollection

        segs = class_border_segments(np.asarray(majority_class).reshape(H, W), lattice)
        ax.add_collection(LineCollection(segs, colors="#d62728", linewidths=0.9, label="class border"))
    if lattice == "hex":
        _hex_frame(ax, 0, H, 0, W)
    else:
        ax.set_xlim(-0.5, W - 0.5)
        ax.set_ylim(H - 0.5, -0.5)
        ax.set_aspect("equal")
    ax.set_xlabel("map column" + (" (toroidal map: edges wrap)" if torus else ""))
    ax.set_ylabel("map row" + (" (wraps)" if torus else ""))
    if torus:
        for side in ax.spines.values():
            side.set_linestyle((0, (4, 3)))
    if colorbar:
        fig.colorbar(im, ax=ax, shrink=0.8, label="mean distance to the neighbours' prototypes")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def history_curves(history: Sequence[dict[str, Any]], ax: Any = None, title: str | None = None) -> Any:
    """A run's history.jsonl drawn: the loss per epoch (Eq. 8) on ``ax``, and on a second y axis (0 to 1) the
    monitor's topographic error (``monitor_te``: share of images whose two largest outputs are not grid
    neighbours) and share of live neurons (``monitor_live_share``) per epoch. Rows without them (a history
    written before they were recorded) give no point on those curves. Returns the figure; the second axis is
    ``fig.axes`` after ``ax``."""
    fig, ax = _axes(ax, (7, 4))
    ep = np.array([h["epoch"] for h in history], dtype=np.int64) + 1  # 1-based, as in the paper's plots
    ax.plot(ep, [h["loss"] for h in history], color="#1f77b4", linewidth=2.0, label="loss (Eq. 8)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    right = ax.twinx()
    for key, colour, label in (("monitor_te", "#d62728", "topographic error"),
                               ("monitor_live_share", "#2ca02c", "live neurons (share)")):
        pts = [(e, h[key]) for e, h in zip(ep, history, strict=True) if h.get(key) is not None]
        if pts:
            x, y = zip(*pts, strict=True)
            right.plot(x, y, color=colour, linewidth=1.2, linestyle="--", marker=".", label=label)
    right.set_ylim(0.0, 1.0)
    right.set_ylabel("share (monitor images)")
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize=7, loc="center right", framealpha=0.9)
    if title:
        ax.set_title(title, fontsize=10)
    return fig

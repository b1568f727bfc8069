"""Map inspector (ipywidgets): pick a run and a neuron, see the neuron's images, its label histogram and NS.

The inspector works the same live in JupyterLab and in the static book, because no control needs Python:
every neuron's panel (a gallery of its images, a label histogram, its purity, where it sits on the map) is
computed once, when the inspector is built, and the controls choose among them through ``jslink`` (which runs
in the browser): a row slider and a column slider pick the neuron, toggle buttons pick the run. Embedded
in the static HTML with the vendored ``@jupyter-widgets/html-manager``, nothing is fetched from the internet.

Example:
    >>> import numpy as np
    >>> html = neuron_panel(np.zeros((3, 1, 8, 8), np.uint8), np.array([1, 1, 2]), ["0", "1", "2"], (0, 0), 5)
    >>> "2 of 3" in html and "<img" in html
    True
"""

from __future__ import annotations

import base64
import html as _html
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .viz import DEAD, TAB10, TORUS_NOTE, is_torus, label_color

PIXELATED = "image-rendering: pixelated; image-rendering: crisp-edges;"


def _png(arr: np.ndarray) -> bytes:
    """uint8 (H, W) or (H, W, 3) -> PNG bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def tile(images: np.ndarray, cols: int = 3, pad: int = 1) -> np.ndarray:
    """(n, C, S, S) uint8 -> one (rows*(S+pad)-pad, cols*(S+pad)-pad[, 3]) mosaic, white between tiles."""
    n, C, S, _ = images.shape
    rows = max(1, int(np.ceil(n / cols)))
    out = np.full((rows * (S + pad) - pad, cols * (S + pad) - pad, C), 255, dtype=np.uint8)
    for k in range(n):
        r, c = divmod(k, cols)
        out[r * (S + pad) : r * (S + pad) + S, c * (S + pad) : c * (S + pad) + S] = images[k].transpose(1, 2, 0)
    return out[..., 0] if C == 1 else out


def label_bars(counts: np.ndarray, classes: Sequence[str], width: int = 220, nonzero_only: bool = False) -> str:
    """An inline SVG bar chart of ``counts`` per class (the mode in its label colour, the rest grey);
    ``nonzero_only`` draws only the classes the neuron won (a smaller panel)."""
    shown = [i for i, v in enumerate(counts) if v > 0 or not nonzero_only]
    n = len(shown)
    bar_h, gap, label_w = 12, 2, 48
    top = int(counts.max()) if counts.size and counts.max() > 0 else 1
    mode = int(np.argmax(counts)) if counts.size else -1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{n * (bar_h + gap)}" '
             'style="font: 10px sans-serif">']
    for row, i in enumerate(shown):
        v = counts[i]
        y = row * (bar_h + gap)
        w = (width - label_w - 30) * float(v) / top
        color = label_color(i) if i == mode and v > 0 else "#bbbbbb"
        name = _html.escape(str(classes[i]) if i < len(classes) else str(i))[:8]
        parts.append(f'<text x="{label_w - 4}" y="{y + bar_h - 2}" text-anchor="end">{name}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{color}"/>'
                     f'<text x="{label_w + w + 3:.1f}" y="{y + bar_h - 2}">{int(v)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def where_map(neuron_label: np.ndarray, grid: Sequence[int], pos: tuple[int, int]) -> bytes:
    """A tiny PNG of the map (one pixel per neuron, coloured by its label, dead grey), the chosen neuron black."""
    H, W = int(grid[0]), int(grid[1])
    rgb = np.empty((H * W, 3), dtype=np.uint8)
    palette = np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in TAB10], dtype=np.uint8)
    dead = np.array([int(DEAD[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.uint8)
    live = neuron_label >= 0
    rgb[live] = palette[neuron_label[live] % len(TAB10)]
    rgb[~live] = dead
    rgb = rgb.reshape(H, W, 3)
    rgb[pos[0], pos[1]] = 0
    return _png(rgb)


def where_svg(grid: Sequence[int], pos: tuple[int, int], width: int = 90) -> str:
    """A small inline SVG locating neuron ``pos`` on the map: the map's outline, the neuron a black square
    (a few hundred bytes, where a PNG of the whole map per neuron costs several times more)."""
    H, W = int(grid[0]), int(grid[1])
    h = width * H / W
    cw, ch = width / W, h / H
    return (f'<svg width="{width}" height="{h:.0f}"><rect width="{width}" height="{h:.0f}" fill="#eee"/>'
            f'<rect x="{pos[1] * cw:.0f}" y="{pos[0] * ch:.0f}" width="{max(cw, 3):.0f}" height="{max(ch, 3):.0f}"/>'
            '</svg>')


def neuron_panel(images: np.ndarray, labels: np.ndarray, classes: Sequence[str], pos: tuple[int, int],
                 n_samples_total: int, where_png: bytes | None = None, scale: int = 3, where: str = "",
                 compact: bool = False, torus: bool = False) -> str:
    """HTML for one neuron: its images (a 3x3 gallery of ``images``, the samples it won), the label
    histogram of all of them, the neuron's label and purity (its own NS), and a small map locating it.
    ``torus``: the map wraps; the panel says so (an edge neuron's neighbours are across the map)."""
    r, c = pos
    head = f"<b>neuron (row {r}, column {c})</b>"
    if torus:
        head += f" <small>({TORUS_NOTE})</small>"
    if where_png is not None:
        where = (f'<img src="{_data_uri(where_png)}" style="width:90px; {PIXELATED} border:1px solid #ccc" '
                 'title="where: the map coloured by neuron label, this neuron black" alt="where on the map">')
    if len(labels) == 0:
        return (f'<div style="display:flex; gap:12px; align-items:flex-start">{where}<div>{head}<br>'
                f"dead neuron: it won none of the {n_samples_total:,} samples</div></div>")
    counts = np.bincount(labels, minlength=len(classes))
    mode = int(np.argmax(counts))
    purity = counts[mode] / counts.sum()
    gallery = tile(images[:9]) if len(images) else np.zeros((0, 0), np.uint8)
    gw = gallery.shape[1] * scale
    name = _html.escape(str(classes[mode]) if mode < len(classes) else str(mode))
    info = (f"{head}<br>won {len(labels):,} of {n_samples_total:,} samples; label <b>{name}</b>, "
            f"{counts[mode]} of {len(labels)} agree (purity {purity:.2f})")
    pictures = (f'<img src="{_data_uri(_png(gallery))}" style="width:{gw}px; {PIXELATED}" '
                f'alt="{min(9, len(images))} images this neuron won">') if len(images) else ""
    return (f'<div style="display:flex; gap:12px; align-items:flex-start; flex-wrap:wrap">{where}{pictures}'
            f"<div>{info}<br>{label_bars(counts, classes, nonzero_only=compact)}</div></div>")


def panels_for(winners: np.ndarray, labels: np.ndarray, images: np.ndarray, grid: Sequence[int],
               classes: Sequence[str], seed: int = 0, n_images: int = 9, torus: bool = False) -> list[str]:
    """The HTML panel of every neuron, row-major, with up to ``n_images`` seeded random images each
    (``torus``: the map wraps, and each panel says so)."""
    H, W = int(grid[0]), int(grid[1])
    winners = np.asarray(winners, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    order = np.argsort(winners, kind="stable")
    bounds = np.searchsorted(winners[order], np.arange(H * W + 1))
    out = []
    for j in range(H * W):
        idx = order[bounds[j] : bounds[j + 1]]
        pick = rng.permutation(idx)[:n_images] if len(idx) else idx
        out.append(neuron_panel(images[pick], labels[idx], classes, divmod(j, W), len(winners),
                                where=where_svg(grid, divmod(j, W)), compact=True, torus=torus))
    return out


def _map_png(winners: np.ndarray, labels: np.ndarray, grid: Sequence[int], classes: Sequence[str], title: str,
             torus: bool = False) -> bytes:
    from matplotlib.figure import Figure

    from .viz import wta_map

    fig = Figure(figsize=(5.2, 4.2), layout="constrained")
    wta_map(winners, labels, grid, ax=fig.add_subplot(), classes=classes, title=title, show_dead=False, torus=torus)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


# The most bytes of neuron panels one inspector embeds in a page (all its runs together), by default. A book
# page carries its widgets' state inline; 1.5 MB of panels keeps a page with its map images, figure and
# text under about 2 MB, which loads and renders in about a second from disk (the 400-neuron quick maps fit
# with 9 images per neuron; paper-size 900-neuron RGB maps get fewer images per neuron).
PANEL_BUDGET = 1_500_000
MODEL_BYTES = 300  # what one panel's widget model adds to the page's state around its HTML (measured: ~250)


def fit_panels(make: Any, n_images: int, budget: int | None) -> tuple[list[list[str]], int]:
    """``make(k)`` -> the panels (one list per run) with ``k`` images per neuron; the largest ``k`` <= ``n_images``
    whose panels (each with its widget model, ``MODEL_BYTES``) total at most ``budget`` bytes (``k`` = 0: histograms only). Returns (panels, k)."""
    k = n_images
    while True:
        panels = make(k)
        if budget is None or k == 0 or sum(len(p) + MODEL_BYTES for ps in panels for p in ps) <= budget:
            return panels, k
        k = k - 1 if k <= 4 else max(4, k // 2)


def inspector(runs: Mapping[str, Any], n_images: int = 9, seed: int = 0, budget: int | None = PANEL_BUDGET) -> Any:
    """An ipywidgets inspector of one or more runs (``{"sigma 3": run, ...}``; ``urlsom_core.runs.Run``s).

    Toggle buttons pick the run; a row and a column slider pick the neuron; the panel shows its images,
    label histogram and purity. All panels are precomputed and switched by ``jslink``, so the inspector
    works in the static book as well as in JupyterLab. ``budget`` caps the bytes of all panels together
    (:data:`PANEL_BUDGET`; None: no cap) by showing fewer than ``n_images`` images per neuron when needed;
    the help line under the inspector says how many it shows.
    """
    import ipywidgets as w

    names = list(runs)
    if not names:
        raise ValueError("inspector: no runs given")
    maps, stacks, grids = [], [], []
    from ipywidgets.widgets.widget_string import HTMLStyle

    shared = {"layout": w.Layout(), "style": HTMLStyle()}  # one layout and style model for every panel

    def classes_of(run: Any, a: Mapping[str, np.ndarray]) -> list[str]:
        return list(run.resolved.get("classes") or [str(i) for i in range(int(a["label"].max()) + 1)])

    def make(k: int) -> list[list[str]]:
        out = []
        for name in names:
            run = runs[name]
            a = run.assignments()
            out.append(panels_for(a["winner"], a["label"], run.splits().train.images.numpy(),
                                  tuple(run.config.model.grid), classes_of(run, a), seed=seed, n_images=k,
                                  torus=is_torus(run.config.model)))
        return out

    all_panels, shown = fit_panels(make, n_images, budget)
    for name, panels in zip(names, all_panels, strict=True):
        run = runs[name]
        a = run.assignments()
        grid = tuple(run.config.model.grid)
        classes = classes_of(run, a)
        m = run.metrics
        torus = is_torus(run.config.model)
        title = (f"{name}: NS {m['neural_selectivity']:.3f}, {m['active_neurons']} of {m['n_neurons']} "
                 "neurons live" + (f"\n{TORUS_NOTE}" if torus else ""))
        maps.append(w.VBox([w.Image(value=_map_png(a["winner"], a["label"], grid, classes, title, torus), format="png",
                                    layout=w.Layout(width="470px"))]))
        rows = [w.Stack([w.HTML(panels[r * grid[1] + c], **shared) for c in range(grid[1])], selected_index=0)
                for r in range(grid[0])]
        stacks.append((w.Stack(rows, selected_index=0), rows))
        grids.append(grid)
    H = max(g[0] for g in grids)
    W = max(g[1] for g in grids)
    first = runs[names[0]].assignments()["winner"]
    r0, c0 = divmod(int(np.bincount(first, minlength=grids[0][0] * grids[0][1]).argmax()), grids[0][1])
    for row_stack, cols in stacks:  # open on the first run's busiest neuron, not on a corner that may be dead
        row_stack.selected_index = min(r0, len(cols) - 1)
        for cs in cols:
            cs.selected_index = min(c0, len(cs.children) - 1)
    row = w.IntSlider(value=r0, min=0, max=H - 1, description="row", continuous_update=True)
    col = w.IntSlider(value=c0, min=0, max=W - 1, description="column", continuous_update=True)
    pick = w.ToggleButtons(options=names, index=0, description="run")
    map_stack = w.Stack(maps, selected_index=0)
    panel_stack = w.Stack([s for s, _ in stacks], selected_index=0)
    links = [w.jslink((pick, "index"), (map_stack, "selected_index")),
             w.jslink((pick, "index"), (panel_stack, "selected_index"))]
    for row_stack, cols in stacks:
        links.append(w.jslink((row, "value"), (row_stack, "selected_index")))
        links += [w.jslink((col, "value"), (cs, "selected_index")) for cs in cols]
    help_ = w.HTML("<small>Pick a run, then a neuron with the row and column sliders (row 0 is the top of the "
                   "map). Every panel was computed when this inspector was built, so it also works in the "
                   f"static book; each neuron shows up to {shown} of its images"
                   + (f" (of {n_images}: fewer, to keep the page small)" if shown < n_images else "") + ".</small>")
    box = w.VBox([pick, w.HBox([map_stack, w.VBox([row, col, panel_stack], layout=w.Layout(min_width="380px"))]),
                  help_])
    box._links = links  # keep the links alive as long as the inspector
    return box

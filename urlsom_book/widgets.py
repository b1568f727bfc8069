"""Map inspector (ipywidgets): pick a run and a neuron, see the neuron's images, its label histogram and NS.

The inspector works the same live in JupyterLab and in the static book, because no control needs Python:
every neuron's panel (a gallery of its images, a label histogram, its purity, where it sits on the map) is
computed once, when the inspector is built, and the controls choose among them through ``jslink`` (which runs
in the browser): a row slider and a column slider pick the neuron, toggle buttons pick the run. Embedded
in the static HTML with the vendored ``@jupyter-widgets/html-manager``, nothing is fetched from the internet.

A book page carries every panel inline, so the inspector is built small: each run's galleries are one
lossless image (a :class:`Sprite`, laid out like the map) that the panels cut out with CSS background
positions, the CSS (sprites included) is written once, in the help line, every dead neuron of a run shares
one panel, and ``urlsom reproduce`` drops the widget state's default-valued keys
(:mod:`urlsom_book.widget_state`). A budget (:data:`PANEL_BUDGET`) shows fewer images per neuron when a page
would still pass :data:`PAGE_BUDGET`, and the help line says so. :func:`neuron_panel` and :func:`panels_for`
draw the same numbers as self-contained HTML (an inline PNG per panel), for use outside the inspector.

Example:
    >>> import numpy as np
    >>> html = neuron_panel(np.zeros((3, 1, 8, 8), np.uint8), np.array([1, 1, 2]), ["0", "1", "2"], (0, 0), 5)
    >>> "2 of 3" in html and "<img" in html
    True
"""

from __future__ import annotations

import base64
import hashlib
import html as _html
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .viz import HEX_ROW, TORUS_NOTE, is_torus, label_color, lattice_of, neuron_xy

PIXELATED = "image-rendering: pixelated; image-rendering: crisp-edges;"


def _png(arr: np.ndarray) -> bytes:
    """uint8 (H, W) or (H, W, 3) -> PNG bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _data_uri(png: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(png).decode("ascii")


def _lossless(arr: np.ndarray) -> tuple[bytes, str]:
    """uint8 (H, W) or (H, W, 3|4) -> (bytes, MIME type): lossless WebP where Pillow can write it (about 15% smaller
    than PNG on the digits sprites, and half the map images' PNG), else PNG."""
    from PIL import Image, features

    if not features.check("webp"):
        return _png(arr), "image/png"
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="WEBP", lossless=True, quality=100, method=1)  # as small as 4, twice as fast
    return buf.getvalue(), "image/webp"


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


def where_svg(grid: Sequence[int], pos: tuple[int, int], width: int = 90, lattice: str = "square") -> str:
    """A small inline SVG locating neuron ``pos`` on the map: the map's outline, the neuron a black square
    (a few hundred bytes, where a PNG of the whole map per neuron costs several times more). ``lattice`` hex:
    the outline holds the offset rows (W + 1/2 cells wide, rows sqrt(3)/2 apart) and the square sits where the
    neuron's hexagon is (:func:`urlsom_book.viz.neuron_xy`)."""
    H, W = int(grid[0]), int(grid[1])
    if lattice == "hex":
        cw = width / (W + 0.5)
        h = cw * ((H - 1) * HEX_ROW + 1)
        x, y = neuron_xy(np.array(pos[0] * W + pos[1]), (H, W), "hex")
        return (f'<svg width="{width}" height="{h:.0f}"><rect width="{width}" height="{h:.0f}" fill="#eee"/>'
                f'<rect x="{float(x) * cw:.0f}" y="{float(y) * cw:.0f}" width="{max(cw, 3):.0f}" '
                f'height="{max(cw, 3):.0f}"/></svg>')
    h = width * H / W
    cw, ch = width / W, h / H
    return (f'<svg width="{width}" height="{h:.0f}"><rect width="{width}" height="{h:.0f}" fill="#eee"/>'
            f'<rect x="{pos[1] * cw:.0f}" y="{pos[0] * ch:.0f}" width="{max(cw, 3):.0f}" height="{max(ch, 3):.0f}"/>'
            '</svg>')


def neuron_panel(images: np.ndarray, labels: np.ndarray, classes: Sequence[str], pos: tuple[int, int],
                 n_samples_total: int, scale: int = 3, where: str = "",
                 compact: bool = False, torus: bool = False) -> str:
    """HTML for one neuron: its images (a 3x3 gallery of ``images``, the samples it won), the label
    histogram of all of them, the neuron's label and purity (its own NS), and a small map locating it.
    ``torus``: the map wraps; the panel says so (an edge neuron's neighbours are across the map)."""
    r, c = pos
    head = f"<b>neuron (row {r}, column {c})</b>"
    if torus:
        head += f" <small>({TORUS_NOTE})</small>"
    if len(labels) == 0:
        return (f'<div style="display:flex; gap:12px; align-items:flex-start">{where}<div>{head}<br>'
                f"dead neuron: it won none of the {n_samples_total:,} samples</div></div>")
    counts, numbers = summary(labels, classes, n_samples_total)
    gallery = tile(images[:9]) if len(images) else np.zeros((0, 0), np.uint8)
    gw = gallery.shape[1] * scale
    info = f"{head}<br>{numbers}"
    pictures = (f'<img src="{_data_uri(_png(gallery))}" style="width:{gw}px; {PIXELATED}" '
                f'alt="{min(9, len(images))} images this neuron won">') if len(images) else ""
    return (f'<div style="display:flex; gap:12px; align-items:flex-start; flex-wrap:wrap">{where}{pictures}'
            f"<div>{info}<br>{label_bars(counts, classes, nonzero_only=compact)}</div></div>")


def picks(winners: np.ndarray, n_neurons: int, seed: int = 0, n_images: int = 9) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per neuron, row-major: (the indices of every sample it won, up to ``n_images`` of them in a seeded random
    order). The order of a neuron's picks does not depend on ``n_images``: fewer images are a prefix."""
    winners = np.asarray(winners, dtype=np.int64)
    rng = np.random.default_rng(seed)
    order = np.argsort(winners, kind="stable")
    bounds = np.searchsorted(winners[order], np.arange(n_neurons + 1))
    out = []
    for j in range(n_neurons):
        idx = order[bounds[j] : bounds[j + 1]]
        out.append((idx, rng.permutation(idx)[:n_images] if len(idx) else idx))
    return out


def panels_for(winners: np.ndarray, labels: np.ndarray, images: np.ndarray, grid: Sequence[int],
               classes: Sequence[str], seed: int = 0, n_images: int = 9, torus: bool = False,
               lattice: str = "square") -> list[str]:
    """The self-contained HTML panel of every neuron, row-major, with up to ``n_images`` seeded random images
    each (:func:`picks`) as an inline PNG (``torus``: the map wraps, and each panel says so; ``lattice``: where
    the panel's small map places the neuron, :func:`where_svg`). The inspector draws the same numbers more
    compactly (:func:`inspector_panels`)."""
    H, W = int(grid[0]), int(grid[1])
    labels = np.asarray(labels, dtype=np.int64)
    return [neuron_panel(images[pick], labels[idx], classes, divmod(j, W), len(winners),
                         where=where_svg(grid, divmod(j, W), lattice=lattice), compact=True, torus=torus)
            for j, (idx, pick) in enumerate(picks(winners, H * W, seed, n_images))]


def _map_image(winners: np.ndarray, labels: np.ndarray, grid: Sequence[int], classes: Sequence[str], title: str,
               torus: bool = False, lattice: str = "square") -> tuple[bytes, str]:
    """The run's WTA map (:func:`urlsom_book.viz.wta_map`, hexagons on ``lattice`` hex) as a lossless image:
    (bytes, MIME type)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .viz import wta_map

    fig = Figure(figsize=(5.2, 4.2), dpi=90, layout="constrained")
    wta_map(winners, labels, grid, ax=fig.add_subplot(), classes=classes, title=title, show_dead=False, torus=torus,
            lattice=lattice)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return _lossless(np.asarray(canvas.buffer_rgba())[..., :3].copy())


SCALE = 3  # screen pixels per image pixel in the inspector's galleries (16 px digits show at 48 px)
GAP = 1  # white pixels between the images of a gallery, and between the galleries of a sprite


@dataclass(frozen=True)
class Sprite:
    """One lossless image (``data``, of MIME type ``mime``: :func:`_lossless`) holding the galleries of every
    neuron of one run: neuron (r, c)'s images, tiled 3 per row (:func:`tile`), sit at the top left of cell
    (r, c) of a ``grid`` of cells of ``cell`` = (height, width) pixels, ``GAP`` white pixels apart; images are
    ``image_size`` pixels square. ``counts``: the images of each neuron, row-major. A panel shows its neuron's
    gallery as a CSS background cut from the sprite (:meth:`div`)."""

    data: bytes
    mime: str
    grid: tuple[int, int]
    cell: tuple[int, int]
    image_size: int
    counts: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.counts) != self.grid[0] * self.grid[1]:
            raise ValueError(f"Sprite: {len(self.counts)} counts for a {self.grid[0]}x{self.grid[1]} map; one per neuron")

    def box(self, j: int) -> tuple[int, int, int, int]:
        """(top, left, height, width) in sprite pixels of neuron ``j``'s gallery (0 x 0 when it has no image)."""
        n, step = self.counts[j], self.image_size + GAP
        r, c = divmod(j, self.grid[1])
        rows, cols = -(-n // 3), min(n, 3)
        return r * (self.cell[0] + GAP), c * (self.cell[1] + GAP), max(0, rows * step - GAP), max(0, cols * step - GAP)

    def rule(self, name: str) -> str:
        """The CSS rule of class ``name``: this sprite, scaled ``SCALE`` times, pixels kept square."""
        H, W = self.grid
        return (f".{name}{{flex:none;background:url({_data_uri(self.data, self.mime)}) no-repeat;background-size:"
                f"{W * (self.cell[1] + GAP) * SCALE}px {H * (self.cell[0] + GAP) * SCALE}px;{PIXELATED}}}")

    def div(self, j: int, name: str) -> str:
        """Neuron ``j``'s gallery: an empty element of class ``name`` (:meth:`rule`)."""
        top, left, h, w = self.box(j)
        return (f"<div class={name} style='width:{w * SCALE}px;height:{h * SCALE}px;"
                f"background-position:-{left * SCALE}px -{top * SCALE}px'></div>")


def make_sprite(images: np.ndarray, chosen: Sequence[np.ndarray], grid: Sequence[int], per_neuron: int) -> Sprite:
    """The :class:`Sprite` of ``images[chosen[j]][:per_neuron]`` for every neuron ``j`` (row-major) of ``grid``."""
    H, W = int(grid[0]), int(grid[1])
    _, C, S, _ = images.shape
    rows = max(1, -(-per_neuron // 3))
    cell = (rows * (S + GAP) - GAP, min(3, max(1, per_neuron)) * (S + GAP) - GAP)
    out = np.full((H * (cell[0] + GAP), W * (cell[1] + GAP), C), 255, dtype=np.uint8)
    counts = []
    for j, pick in enumerate(chosen):
        pick = pick[:per_neuron]
        counts.append(len(pick))
        if len(pick):
            g = tile(images[pick])
            g = g[..., None] if g.ndim == 2 else g
            r, c = divmod(j, W)
            top, left = r * (cell[0] + GAP), c * (cell[1] + GAP)
            g = g[:, : min(3, len(pick)) * (S + GAP) - GAP]
            out[top : top + g.shape[0], left : left + g.shape[1]] = g
    return Sprite(*_lossless(out[..., 0] if C == 1 else out), (H, W), cell, S, tuple(counts))


def summary(labels: np.ndarray, classes: Sequence[str], n_samples_total: int) -> tuple[np.ndarray, str]:
    """A live neuron's label counts and its one line of numbers: samples won, label (the mode), how many
    agree and the purity (the neuron's own NS)."""
    counts = np.bincount(labels, minlength=len(classes))
    mode = int(np.argmax(counts))
    name = _html.escape(str(classes[mode]) if mode < len(classes) else str(mode))
    return counts, (f"won {len(labels):,} of {n_samples_total:,} samples; label <b>{name}</b>, "
                    f"{counts[mode]} of {len(labels)} agree (purity {counts[mode] / counts.sum():.2f})")


def bars(counts: np.ndarray, classes: Sequence[str], width: int = 142) -> str:
    """The label histogram of one neuron as compact HTML (its won classes only, the mode in its label colour,
    the rest grey), styled by the inspector's ``urlsom-b`` rules (:data:`CSS`)."""
    top, mode = max(1, int(counts.max())), int(np.argmax(counts))
    rows = []
    for i in np.flatnonzero(counts):
        name = _html.escape((str(classes[i]) if i < len(classes) else str(i))[:8])
        colour = f";background:{label_color(i)}" if i == mode else ""
        rows.append(f"<p><span>{name}</span><i style='width:{round(width * counts[i] / top)}px{colour}'></i>"
                    f"{int(counts[i])}</p>")
    return "<div class=urlsom-b>" + "".join(rows) + "</div>"


# The rules every inspector panel's markup relies on (one copy per inspector, in its help line).
CSS = (".urlsom-p{display:flex;gap:12px;align-items:flex-start;flex-wrap:wrap}"
       ".urlsom-b{font:10px sans-serif;margin-top:3px}.urlsom-b p{margin:0 0 2px;display:flex;align-items:center;"
       "height:12px}.urlsom-b span{width:44px;margin-right:4px;text-align:right}.urlsom-b i{height:12px;"
       "background:#bbb;margin-right:3px}")


def where_rule(name: str, grid: Sequence[int], width: int = 90, lattice: str = "square") -> tuple[str, float, float]:
    """The CSS rule of class ``name``: a grey ``width`` px box shaped like the map with a black square (one
    neuron, at least 3 px) that each panel places with its background position. Returns (rule, px per
    column, px per row). ``lattice`` hex: the box holds the offset rows (W + 1/2 cells wide, rows sqrt(3)/2
    apart); a panel places the square at :func:`urlsom_book.viz.neuron_xy` times the px per column."""
    H, W = int(grid[0]), int(grid[1])
    cw = ch = width / W
    height = ch * H
    if lattice == "hex":
        cw = width / (W + 0.5)
        ch, height = cw * HEX_ROW, cw * ((H - 1) * HEX_ROW + 1)
    return (f".{name}{{flex:none;width:{width}px;height:{round(height)}px;background:linear-gradient(#000,#000) "
            f"no-repeat #eee;background-size:{max(3, round(cw))}px {max(3, round(cw))}px}}", cw, ch)


def inspector_panels(winners: np.ndarray, labels: np.ndarray, images: np.ndarray, grid: Sequence[int],
                     classes: Sequence[str], name: str, seed: int = 0, n_images: int = 9, lattice: str = "square"
                     ) -> tuple[list[str], str, str]:
    """The inspector's panels of one run, row-major, in compact markup: (panels, dead, css). A live neuron's
    panel holds a marker locating it, its gallery (up to ``n_images`` seeded random images, :func:`picks`, cut
    from the run's sprite) and its numbers and histogram (:func:`summary`, :func:`bars`); a dead neuron's
    panel is the string ``dead`` (the same for every dead neuron, so the inspector stores it once).
    ``css``: the rules of the run's sprite (class ``name`` + "s") and marker (``name`` + "w"); ``lattice`` hex
    places the marker on the offset rows (:func:`where_rule`)."""
    H, W = int(grid[0]), int(grid[1])
    labels = np.asarray(labels, dtype=np.int64)
    chosen = picks(winners, H * W, seed, n_images)
    sprite = make_sprite(images, [p for _, p in chosen], grid, n_images) if n_images > 0 else None
    where, cw, ch = where_rule(f"{name}w", grid, lattice=lattice)
    dead = f"<div class=urlsom-p><div><b>dead neuron</b>: it won none of the {len(winners):,} samples</div></div>"
    out = []
    for j, (idx, _) in enumerate(chosen):
        if not len(idx):
            out.append(dead)
            continue
        r, c = divmod(j, W)
        counts, info = summary(labels[idx], classes, len(winners))
        x = c + 0.5 * (r % 2) if lattice == "hex" else c  # the odd rows of a hexagonal map: half a cell right
        marker = f"<i class={name}w style='background-position:{round(x * cw)}px {round(r * ch)}px'></i>"
        gallery = sprite.div(j, name + "s") if sprite is not None else ""
        out.append(f"<div class=urlsom-p>{marker}{gallery}<div><b>neuron (row {r}, column {c})"
                   f"</b><br>{info}{bars(counts, classes)}</div></div>")
    return out, dead, (sprite.rule(name + "s") if sprite is not None else "") + where


# A book page embeds its widgets' state inline, so the inspector is most of a map page's bytes. PAGE_BUDGET: a
# page stays at most 2 MB. Measured in headless Chromium (1280x900) opening the built quick book from disk,
# median of 5, on a shared 2-core machine (load average 4-6): the first inspector panel shows after 1.3-1.7 s
# for pages of 0.8 to 2.6 MB alike (the widget manager's start dominates at these sizes; under heavier load,
# 1.9 s for 0.8 MB and 2.6 s for 1.6 MB). From disk the budget costs little time; it is for a book served
# over a network, where 2 MB is 1.6 s more at 10 Mbit/s, and each inspector page is the bulk of it.
# PANEL_BUDGET: the inspector's share (panels, sprites, map images, every widget model), leaving 150 kB for
# the page's own text and markup (40 kB on Fig. 4's page).
PAGE_BUDGET = 2_000_000
PANEL_BUDGET = 1_850_000
# What the widget models add to the page around the panels' values once their default keys are dropped
# (urlsom_book.widget_state), measured on the Fig. 4 inspector: an HTML model's id, model names, layout and
# style references (296 bytes); a Stack's reference to one more child and its empty title (49 bytes); any
# other model (a Stack, its layout, a link; 250 bytes on average).
MODEL_BYTES = 296
CHILD_BYTES = 50
OTHER_BYTES = 250


def _size(values: Sequence[str], children: int, models: int, maps: Sequence[bytes]) -> int:
    """The inspector's bytes in the page: its HTML models (``values``), ``children`` Stack entries, ``models``
    other widget models and its map images (base64)."""
    return (sum(len(json.dumps(v)) + MODEL_BYTES for v in values) + CHILD_BYTES * children + OTHER_BYTES * models
            + sum(4 * -(-len(m) // 3) for m in maps))


def _fewer(k: int, size: int, image_bytes: int, budget: int, winners: Sequence[np.ndarray],
           grids: Sequence[Sequence[int]]) -> int:
    """The next number of images per neuron to try after ``k`` made ``size`` bytes, ``image_bytes`` of them the
    sprites: the largest smaller one whose sprites, scaled by the images they would hold, fit what the rest
    leaves of ``budget`` (0 if none). The caller builds it and checks again, so a guess too high costs a try."""
    won = np.concatenate([np.bincount(w_, minlength=int(g[0]) * int(g[1])) for w_, g in zip(winners, grids, strict=True)])
    images = [int(np.minimum(won, j).sum()) for j in range(k + 1)]
    room = budget - (size - image_bytes)
    return max([j for j in range(k) if image_bytes * images[j] <= room * images[k]], default=0)


def inspector(runs: Mapping[str, Any], n_images: int = 9, seed: int = 0, budget: int | None = PANEL_BUDGET) -> Any:
    """An ipywidgets inspector of one or more runs (``{"sigma 3": run, ...}``; ``urlsom_core.runs.Run``s).

    Toggle buttons pick the run; a row and a column slider pick the neuron; the panel shows its images,
    label histogram and purity. The map is the network's own winners (``assignments()["winner"]``, the paper's
    map, as the pages draw it), also for a run that fitted a readout after training. All panels are precomputed and switched by ``jslink``, so the inspector
    works in the static book as well as in JupyterLab. Each run's galleries are one image (a
    :class:`Sprite`) that the panels cut with CSS, defined once in the help line; every dead neuron of a run
    shares one panel. ``budget`` caps the inspector's bytes in the page (:data:`PANEL_BUDGET`; None: no cap)
    by showing fewer than ``n_images`` images per neuron when needed; the help line says how many it shows.
    """
    import ipywidgets as w
    from ipywidgets.widgets.widget_string import HTMLStyle

    names = list(runs)
    if not names:
        raise ValueError("inspector: no runs given")
    data = []
    for name in names:
        run = runs[name]
        a = run.assignments()  # the network's own winners: the paper's map
        classes = list(run.resolved.get("classes") or [str(i) for i in range(int(a["label"].max()) + 1)])
        data.append((run, a, tuple(int(g) for g in run.config.model.grid), classes, is_torus(run.config.model),
                     lattice_of(run.config.model)))
    maps = []
    for name, (run, a, grid, classes, torus, lattice) in zip(names, data, strict=True):
        m = run.metrics
        title = (f"{name}: NS {m['neural_selectivity']:.3f}, {m['active_neurons']} of {m['n_neurons']} "
                 "neurons live" + (f"\n{TORUS_NOTE}" if torus else ""))
        maps.append(_map_image(a["winner"], a["label"], grid, classes, title, torus, lattice))
    uid = hashlib.sha1(b"".join(m for m, _ in maps)).hexdigest()[:8]  # class names unique to this inspector's runs

    def make(k: int) -> tuple[list[list[str]], str]:
        out, css = [], CSS
        for i, (run, a, grid, classes, _, lattice) in enumerate(data):
            panels, _, rules = inspector_panels(a["winner"], a["label"], run.splits().train.images.numpy(), grid,
                                                classes, f"u{uid}{i}", seed=seed, n_images=k, lattice=lattice)
            out.append(panels)
            css += rules
        return out, css

    wraps = [n for n, d in zip(names, data, strict=True) if d[4]]
    note = "" if not wraps else f"; {TORUS_NOTE}" if len(wraps) == len(names) else f"; {', '.join(wraps)}: {TORUS_NOTE}"
    def attempt(k: int) -> tuple[int, list[list[str]], str, int]:
        built, css = make(k)
        shown = (f"each live neuron shows up to {k} of its images, picked at random (seed {seed})" if k else
                 "the panels show no images")
        help_text = (f"<style>{css}</style><small>Pick a run, then a neuron with the row and column sliders (row 0 "
                     f"is the top of the map{note}). Every panel was computed when this inspector was built, so it "
                     f"also works in the static book; {shown}" + (f" (of {n_images}: fewer, to keep the page small)"
                                                                  if k < n_images else "") + ".</small>")
        values = [p for panels in built for p in dict.fromkeys(panels)] + [help_text]
        rows = sum(d[2][0] for d in data)
        # per run: its row Stacks and run Stack, their layouts and links, its map's box and layouts; the controls
        others = 3 * (rows + len(names)) + 3 * len(names) + 20
        return k, built, help_text, _size(values, sum(map(len, built)) + rows, others, [m for m, _ in maps])

    # The most images per neuron that fit: n_images if it does; else guess from the sprites' share (_fewer) and
    # step up while the next number still fits (a guess is never taken for a fit without building it).
    best, too_many = None, None
    k = n_images
    while True:
        tried = attempt(k)
        if budget is None or tried[3] <= budget or k == 0:
            best = tried
            if budget is None or too_many is None or k + 1 >= too_many:
                break
            k += 1
        else:
            too_many = k
            if best is not None:
                break
            k = _fewer(k, tried[3], len(tried[2]), budget, [d[1]["winner"] for d in data], [d[2] for d in data])
    k, built, help_text, size = best

    shared = {"layout": w.Layout(), "style": HTMLStyle()}  # one layout and style model for every panel
    stacks, map_boxes = [], []
    for (image, mime), panels, (_, _, grid, _, _, _) in zip(maps, built, data, strict=True):
        map_boxes.append(w.VBox([w.Image(value=image, format=mime.split("/")[1], layout=w.Layout(width="470px"))]))
        html = {p: w.HTML(p, **shared) for p in dict.fromkeys(panels)}  # one model per distinct panel
        rows = [w.Stack([html[panels[r * grid[1] + c]] for c in range(grid[1])], selected_index=0)
                for r in range(grid[0])]
        stacks.append((w.Stack(rows, selected_index=0), rows))
    H = max(d[2][0] for d in data)
    W = max(d[2][1] for d in data)
    first = data[0][1]["winner"]
    r0, c0 = divmod(int(np.bincount(first, minlength=data[0][2][0] * data[0][2][1]).argmax()), data[0][2][1])
    for row_stack, cols in stacks:  # open on the first run's busiest neuron, not on a corner that may be dead
        row_stack.selected_index = min(r0, len(cols) - 1)
        for cs in cols:
            cs.selected_index = min(c0, len(cs.children) - 1)
    row = w.IntSlider(value=r0, min=0, max=H - 1, description="row", continuous_update=True)
    col = w.IntSlider(value=c0, min=0, max=W - 1, description="column", continuous_update=True)
    pick = w.ToggleButtons(options=names, index=0, description="run")
    map_stack = w.Stack(map_boxes, selected_index=0)
    panel_stack = w.Stack([s for s, _ in stacks], selected_index=0)
    links = [w.jslink((pick, "index"), (map_stack, "selected_index")),
             w.jslink((pick, "index"), (panel_stack, "selected_index"))]
    for row_stack, cols in stacks:
        links.append(w.jslink((row, "value"), (row_stack, "selected_index")))
        links += [w.jslink((col, "value"), (cs, "selected_index")) for cs in cols]
    help_ = w.HTML(help_text)  # holds the panels' CSS and the runs' sprites, defined once
    box = w.VBox([pick, w.HBox([map_stack, w.VBox([row, col, panel_stack], layout=w.Layout(min_width="380px"))]),
                  help_])
    box._links = links  # keep the links alive as long as the inspector
    box._shown, box._size = k, size  # images per neuron shown (at most n_images); the estimated page bytes
    return box

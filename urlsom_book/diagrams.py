"""The paper's two drawings, computed: Fig. 1 (the network) from a built model, Fig. 2 (the n = 2 geometry).

=========================  ======================================================================
``layer_table``            Fig. 1: each stage of a built URLSOM, its output shape and parameter count
``plot_network``           Fig. 1: those stages as boxes, the fixed filter drawn from the model's buffer
``softmax_geometry``       Fig. 2: p on the Softmax line, P = p/||p|| on the unit circle, u and U
``plot_softmax_geometry``  Fig. 2: its picture
=========================  ======================================================================

Example:
    >>> g = softmax_geometry(x=1.0)
    >>> round(g["U"][0], 4), round(float(g["P_norm"]), 6)
    (0.7071, 1.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np


# ------------------------------------------------------------------------------------------- Fig. 1
def layer_table(model: Any, input_shape: tuple[int, int, int]) -> list[dict[str, Any]]:
    """Run one zero image of ``input_shape`` (C, S, S) through ``model`` (a :class:`urlsom_core.model.URLSOM`)
    and list its stages in order: ``name``, ``what``, output ``shape`` (without the batch), trainable ``params``
    (the residual blocks grouped into stages of one width, as the paper's "3 stages").

    The shapes are measured with forward hooks, the counts with ``numel`` of each stage's parameters; the
    fixed kernel is a buffer, so its stage counts 0 trainable parameters (``kernel`` gives its size)."""
    import torch

    from urlsom_core.model import fixed_convolution

    bb, head = model.backbone, model.head
    stages: list[tuple[str, str, Any]] = [("input", "image", None), ("stem", "3x3 convolution, BN, ELU", bb.stem)]
    for i, block in enumerate(bb.layers):
        stages.append((f"block {i + 1}", f"residual block, {block.conv1.out_channels} filters 3x3, ELU", block))
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [mod.register_forward_hook(lambda m, a, out, n=name: shapes.__setitem__(n, tuple(out.shape[1:])))
             for name, _, mod in stages if mod is not None]
    model.eval()
    with torch.no_grad():
        x = torch.zeros((1, *input_shape))
        feats = bb(x)
        y = head.proj(feats)
        H, W = head.grid
        conv = fixed_convolution(y.view(-1, 1, H, W), head.kernel, head.boundary)
        p = torch.softmax(conv.flatten(1), dim=1)
    for h in hooks:
        h.remove()
    count = (lambda m: sum(q.numel() for q in m.parameters() if q.requires_grad))  # noqa: E731
    rows = [{"name": "input", "what": "image", "shape": tuple(input_shape), "params": 0}]
    rows.append({"name": "stem", "what": stages[1][1], "shape": shapes["stem"], "params": count(bb.stem)})
    for name, _, block in stages[2:]:  # consecutive blocks of one width form a stage
        width = block.conv1.out_channels
        if rows[-1]["name"].startswith("stage") and rows[-1]["width"] == width:
            rows[-1]["blocks"] += 1
            rows[-1]["params"] += count(block)
            rows[-1]["shape"] = shapes[name]
        else:
            k = sum(r["name"].startswith("stage") for r in rows) + 1
            rows.append({"name": f"stage {k}", "width": width, "blocks": 1, "shape": shapes[name],
                         "params": count(block)})
    for r in rows:
        if r["name"].startswith("stage"):
            r["what"] = f"{r['blocks']} residual block{'s' if r['blocks'] > 1 else ''}, {r['width']} filters 3x3, ELU"
    rows += [
        {"name": "pool", "what": "global average pooling", "shape": tuple(feats.shape[1:]), "params": 0},
        {"name": "projection", "what": f"linear, reshaped to a {H}x{W} map (1 channel)", "shape": (1, H, W),
         "params": count(head.proj)},
        {"name": "fixed filter", "what": f"{model.cfg.filter} {tuple(head.kernel.shape[-2:])} convolution, not trained",
         "shape": tuple(conv.shape[1:]), "params": 0, "kernel": tuple(head.kernel.shape[-2:])},
        {"name": "softmax", "what": f"Softmax over the {H * W} neurons", "shape": (1, H, W), "params": 0,
         "sum": float(p.sum())},
    ]
    return rows


def plot_network(rows: list[dict[str, Any]], kernel: np.ndarray, ax: Any = None, title: str | None = None) -> Any:
    """Fig. 1 as boxes left to right, one per row of :func:`layer_table` (shape and parameters written in
    it), the fixed filter's box showing ``kernel`` (the model's own buffer, (k, k)) as an image."""
    from .viz import _axes

    fig, ax = _axes(ax, (12, 3.6))
    n = len(rows)
    w, gap = 1.0, 0.35
    colours = {"input": "#eeeeee", "projection": "#c6dbef", "fixed filter": "#fdd0a2", "softmax": "#c7e9c0"}
    for i, r in enumerate(rows):
        x0 = i * (w + gap)
        ax.add_patch(_box(x0, 0.0, w, 1.0, colours.get(r["name"], "#f2f0f7")))
        shape = " x ".join(str(s) for s in r["shape"])
        ax.text(x0 + w / 2, 0.92, r["name"], ha="center", va="top", fontsize=8, weight="bold")
        ax.text(x0 + w / 2, 0.12, shape, ha="center", va="bottom", fontsize=7)
        ax.text(x0 + w / 2, 0.02, f"{r['params']:,} params" if r["params"] else "", ha="center", va="bottom",
                fontsize=6.5, color="#444444")
        if r["name"] == "fixed filter":
            ax.imshow(kernel, extent=(x0 + 0.15, x0 + w - 0.15, 0.25, 0.75), cmap="magma", origin="upper",
                      interpolation="nearest")
        else:
            ax.text(x0 + w / 2, 0.5, _wrap(r["what"], 16), ha="center", va="center", fontsize=6.5)
        if i < n - 1:
            ax.annotate("", xy=(x0 + w + gap, 0.5), xytext=(x0 + w, 0.5),
                        arrowprops={"arrowstyle": "->", "color": "#555555"})
    ax.set_xlim(-0.1, n * (w + gap) - gap + 0.1)
    ax.set_ylim(-0.05, 1.05)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def _box(x: float, y: float, w: float, h: float, colour: str) -> Any:
    from matplotlib.patches import FancyBboxPatch

    return FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02", facecolor=colour, edgecolor="#666666",
                          linewidth=0.8)


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


# ------------------------------------------------------------------------------------------- Fig. 2
def softmax_geometry(x: float = 1.0, n_line: int = 101) -> dict[str, Any]:
    """The n = 2 geometry of paper Sec. III.B: Softmax outputs ``p`` = softmax([x, 0]) lie on the line from
    p1 = (1, 0) to p2 = (0, 1); L2 normalisation takes them to ``P`` on the unit circle; the equal-probability
    point u = (1/2, 1/2) goes to U = u/||u||.

    Computed with torch's softmax and ``F.normalize`` (as the loss does). Returns ``p``, ``P``, ``u``, ``U``
    (2-vectors), ``P_norm``, ``cos_PU`` (P . U, the cosine the loss uses), ``line`` (n_line, 2) Softmax
    outputs over inputs -8..8 and ``arc`` (n_line, 2) their normalised images, ``cos_min`` (the smallest
    P . U on the line: at the WTA corners)."""
    import torch
    import torch.nn.functional as F

    xs = torch.linspace(-8.0, 8.0, n_line, dtype=torch.float64)
    line = torch.softmax(torch.stack([xs, torch.zeros_like(xs)], 1), dim=1)
    arc = F.normalize(line, dim=1)
    p = torch.softmax(torch.tensor([x, 0.0], dtype=torch.float64), dim=0)
    P = F.normalize(p, dim=0)
    u = torch.full((2,), 0.5, dtype=torch.float64)
    U = F.normalize(u, dim=0)
    corners = F.normalize(torch.eye(2, dtype=torch.float64), dim=1)
    return {"x": float(x), "p": p.numpy(), "P": P.numpy(), "u": u.numpy(), "U": U.numpy(),
            "P_norm": float(P.norm()), "p_norm": float(p.norm()), "cos_PU": float(P @ U),
            "line": line.numpy(), "arc": arc.numpy(), "cos_min": float((corners @ U).min()),
            "line_sum_max_error": float((line.sum(1) - 1).abs().max())}


def plot_softmax_geometry(g: dict[str, Any], ax: Any = None) -> Any:
    """Fig. 2: the Softmax line between p1 and p2, the unit circle, p and P, u and U, drawn from ``g``."""
    from .viz import _axes

    fig, ax = _axes(ax, (5.5, 5.5))
    t = np.linspace(0, np.pi / 2, 200)
    ax.plot(np.cos(t), np.sin(t), color="#7f7f7f", linewidth=1, label="unit circle")
    ax.plot(g["line"][:, 0], g["line"][:, 1], color="#1f77b4", linewidth=2, label="Softmax line (p1 to p2)")
    ax.plot(g["arc"][:, 0], g["arc"][:, 1], color="#1f77b4", linewidth=4, alpha=0.25,
            label="its L2 projection")
    for name, v, colour, off in (("p", g["p"], "#d62728", (0.03, -0.06)), ("P", g["P"], "#d62728", (0.03, 0.02)),
                                 ("u", g["u"], "#2ca02c", (-0.09, -0.05)), ("U", g["U"], "#2ca02c", (0.02, 0.03))):
        ax.annotate("", xy=tuple(v), xytext=(0, 0), arrowprops={"arrowstyle": "->", "color": colour, "lw": 1.4})
        ax.text(v[0] + off[0], v[1] + off[1], name, color=colour, fontsize=12, weight="bold")
    ax.plot([g["p"][0], g["P"][0]], [g["p"][1], g["P"][1]], linestyle=":", color="#d62728")
    ax.plot([1, 0], [0, 1], "ko", markersize=4)
    ax.text(1.02, -0.06, "p1 = (1, 0)", fontsize=9)
    ax.text(0.03, 1.02, "p2 = (0, 1)", fontsize=9)
    ax.text(-0.06, -0.06, "O", fontsize=10)
    ax.set_xlim(-0.1, 1.25)
    ax.set_ylim(-0.1, 1.12)
    ax.set_aspect("equal")
    ax.set_xlabel("probability of neuron 1")
    ax.set_ylabel("probability of neuron 2")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    return fig

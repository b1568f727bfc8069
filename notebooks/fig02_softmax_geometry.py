# ---
# jupyter:
#   jupytext:
#     notebook_metadata_filter: kernelspec,jupytext,-jupytext.text_representation.jupytext_version,-jupytext.text_representation.format_version
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Fig. 2: the Softmax line and the unit circle, n = 2
#
# {glue:md}`page_note`
#
# With two neurons every Softmax output $p$ lies on the line from $p_1 = (1, 0)$ to $p_2 = (0, 1)$; L2
# normalisation takes it to $P = p / \lVert p \rVert$ on the unit circle, and the equal-probability point $u$ to
# $U$ (paper Sec. III.B). Everything drawn is computed with torch's softmax and normalisation, as the loss does.

# %% tags=["parameters", "hide-input"]
profile: str = None  # profile that fills every parameter left at None: quick, paper, tiny or a YAML file; None: $URLSOM_PROFILE, else quick
x: float = 1.0  # the Softmax input of the sample p drawn, softmax([x, 0]) (the paper draws one p, at no stated x)
device: str = None  # unused here (no training); kept so every figure takes the same options
runs_root: str = None  # unused here (no training); kept so every figure takes the same options
out_dir: str = None  # where figure files and the numbers record go; None: executed/ at the repository top

# %% tags=["hide-cell"]
from urlsom_book.notebook import start

nb = start("fig02_softmax_geometry", globals())  # the parameters resolved against the profile; nothing trains

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

from urlsom_book import diagrams

g = diagrams.softmax_geometry(x=float(nb.params["x"]))
f, ax = plt.subplots(figsize=(6, 6), layout="constrained")
diagrams.plot_softmax_geometry(g, ax=ax)
ax.set_title(f"Fig. 2: n = 2, p = softmax([{g['x']:g}, 0])", fontsize=10)
nb.save(f)
plt.show()

# %% [markdown]
# For $x$ = {glue:text}`x:.1f`, $p$ = ({glue:text}`p1:.3f`, {glue:text}`p2:.3f`) has length
# {glue:text}`p_norm:.3f`; normalised, $P$ has length {glue:text}`P_norm:.3f` and its cosine with $U$ =
# ({glue:text}`U1:.4f`, {glue:text}`U2:.4f`) is {glue:text}`cos_PU:.3f`. Along the line that cosine is 1 at
# $u$ and falls to {glue:text}`cos_min:.4f` ($1/\sqrt{2}$) at the winner-take-all corners $p_1$ and $p_2$: the
# geometry that the loss's cosine terms (Eq. 4, 5) build on.

# %% tags=["hide-input"]
nb.report({"x": g["x"], "p1": float(g["p"][0]), "p2": float(g["p"][1]), "p_norm": g["p_norm"],
           "P_norm": g["P_norm"], "U1": float(g["U"][0]), "U2": float(g["U"][1]), "cos_PU": g["cos_PU"],
           "cos_min": g["cos_min"], "line_sum_max_error": g["line_sum_max_error"]})

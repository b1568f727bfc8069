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
# # Fig. 3: the loss landscape of a two-neuron map
#
# {glue:md}`page_note`
#
# Why does the URL-SOM loss make each sample pick one neuron, and the samples spread evenly over the neurons?
# Take a map of two neurons. Each sample's Softmax input is $x$ on one neuron and $0$ on the other, and a
# fraction $p$ of the samples pick neuron 1. The figure shows
# $\mathrm{loss}_{WTA} + \mathrm{loss}_{collapse}$ ([Eq. 4](eq-wta) and [Eq. 5](eq-collapse)) over $x$ and
# $p$, computed with `urlsom_core.loss` on an explicit batch (no training; loss_similarity is 0 here because
# both views agree).

# %% tags=["parameters", "hide-input"]
profile: str = None  # profile that fills every parameter left at None: quick, paper, tiny or a YAML file; None: $URLSOM_PROFILE, else quick
n_neurons: int = None  # neurons on the map; None: the profile's (paper: 2)
x_max: float = None  # largest Softmax input shown; None: the profile's (paper: 6)
device: str = None  # unused here (no training); kept so every figure takes the same options
runs_root: str = None  # unused here (no training); kept so every figure takes the same options
out_dir: str = None  # where figure files and the numbers record go; None: executed/ at the repository top

# %% tags=["hide-cell"]
from urlsom_book.notebook import start

nb = start("fig03_loss_landscape", globals())  # the parameters resolved against the profile

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

from urlsom_book import viz

land = viz.loss_landscape(x_max=float(nb.params["x_max"]), n_neurons=int(nb.params["n_neurons"]))
f, ax = plt.subplots(figsize=(7, 5), layout="constrained")
viz.plot_loss_landscape(land, ax=ax)
ax.set_title(f"Fig. 3: loss_WTA + loss_collapse, n = {nb.params['n_neurons']}")
nb.save(f)
plt.show()

# %% [markdown]
# The minimum, {glue:text}`min_loss:.3f`, lies at $x$ = {glue:text}`min_x:.1f` (the largest input shown: the
# Softmax saturated, one winner per sample) and $p$ = {glue:text}`min_p:.2f` (the samples split evenly between
# the two neurons). The paper puts it at saturation and 50% ({glue:text}`paper_min_p`). At $x = 0$ every output
# is uniform and loss_WTA is 1 whatever $p$; at saturation with $p$ = 0 or 1 all samples share one neuron and
# loss_collapse is largest.

# %% tags=["hide-input"]
nb.report({"min_x": land["min_x"], "min_p": land["min_q"], "min_loss": land["min_loss"],
           "x_max": float(nb.params["x_max"])},
          compare={"min_x": "x at the minimum", "min_p": "selection probability at the minimum"})

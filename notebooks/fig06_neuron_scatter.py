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
# # Fig. 6: a zoom into the map, samples scattered around their winner
#
# {glue:md}`page_note`
#
# A window of the Fig. 4 map (first seed; the same run, reused from the store), chosen where the most labels
# meet: its class map, image mosaic and the paper's drawing, where each sample is scattered uniformly within
# $\pm$ jitter of its winning neuron (how to read them: on Fig. 4's page). Dead neurons, which won no
# sample, are cross-hatched (grey crosses in the paper's drawing). Data: {glue:text}`data_note`.

# %% tags=["parameters", "hide-input"]
profile: str = None  # profile that fills every parameter left at None: quick, paper, tiny or a YAML file; None: $URLSOM_PROFILE, else quick
dataset: str = None  # dataset spec (digits, cifar10[:ROOT], svhn[:ROOT], imagefolder:PATH...); None: the profile's
grid: list = None  # map size [H, W]; None: the profile's (paper: [30, 30])
sigma: float = None  # Gaussian filter sigma in neurons; None: the profile's (paper: 5)
filter: str = None  # fixed filter, gaussian or student; None: the profile's (paper: gaussian)
gamma: float = None  # weight of loss_similarity in the loss (Eq. 8); None: the profile's (paper: 2)
epochs: int = None  # most epochs, early stopping may end sooner; None: the profile's (paper: 500)
seed: int = None  # training seed; None: the profile's (0, the first seed of Fig. 4)
jitter: float = None  # samples scattered uniformly within this distance of their winner; None: the profile's (paper: 0.4)
zoom: int = 8  # side of the zoomed window, in neurons
device: str = None  # auto, cpu, cuda or cuda:N; None: the profile's
runs_root: str = None  # run store shared by all figures; None: $URLSOM_RUNS or runs/ at the repository top
out_dir: str = None  # where figure files and the numbers record go; None: executed/ at the repository top

# %% tags=["hide-cell"]
from urlsom_book.notebook import start

nb = start("fig06_neuron_scatter", globals())  # the parameters resolved against the profile; the run trained or reused
run = nb.runs[0]

# %% tags=["hide-input"]
import numpy as np

from urlsom_book import viz

a, m = run.assignments(), run.metrics  # the network's own winners: the paper's map
grid_hw = run.config.model.grid
window = viz.busiest_window(a["winner"], a["label"], grid_hw, size=int(nb.params["zoom"]))
f = nb.map_figure([run], [f"rows {window[0]}-{window[1] - 1}, columns {window[2]}-{window[3] - 1} of the "
                          f"{grid_hw[0]}x{grid_hw[1]} map"], window=window, jitter=float(nb.params["jitter"]))
f.suptitle(nb.title("Fig. 6: samples sharing a winner, scattered around it"), fontsize=13)
nb.show(f)

# %% tags=["hide-input"]
nb.show(nb.mosaic_figure(run, "the same window", window=window), suffix="_mosaic0")

# %% [markdown]
# In this window {glue:text}`window_live` of {glue:text}`window_cells` neurons are live. Over the whole map
# {glue:text}`dead` of {glue:text}`n_neurons` neurons are dead; NS is {glue:text}`ns:.3f` over samples and
# {glue:text}`ns_per_neuron:.3f` averaged over live neurons. {glue:md}`readout_note`

# %% tags=["hide-input"]
r0, r1, c0, c1 = window
cells = np.arange(grid_hw[0] * grid_hw[1]).reshape(grid_hw)[r0:r1, c0:c1].ravel()
live_in = int(np.isin(cells, np.unique(a["winner"])).sum())
nb.report({"ns": m["neural_selectivity"], "ns_per_neuron": m["neural_selectivity_per_neuron"],
           "live": m["active_neurons"], "dead": m["n_neurons"] - m["active_neurons"], "n_neurons": m["n_neurons"],
           "window_live": live_in, "window_cells": len(cells), "epochs": m["epochs_trained"],
           "train_s": m["train_seconds"], "readout_note": nb.readout_note(["the whole map:"])},
          runs=[run], compare={"ns": "NS"})

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
# # Fig. 9: the SVHN map with sigma 10
#
# {glue:md}`page_note`
#
# The SVHN training of Fig. 8 with a wider filter, sigma 10: its class map, image mosaic and the paper's
# drawing (how to read them: on Fig. 4's page). Data: {glue:text}`data_note`.

# %% tags=["parameters", "hide-input"]
profile: str = None  # profile that fills every parameter left at None: quick, paper, tiny or a YAML file; None: $URLSOM_PROFILE, else quick
dataset: str = None  # dataset spec (svhn[:ROOT], digits, imagefolder:PATH...); None: the profile's
grid: list = None  # map size [H, W]; None: the profile's (paper: [30, 30])
sigma: float = None  # Gaussian filter sigma in neurons; None: the profile's (paper: 10)
filter: str = None  # fixed filter, gaussian or student; None: the profile's (paper: gaussian)
gamma: float = None  # weight of loss_similarity in the loss (Eq. 8); None: the profile's (paper: 2)
epochs: int = None  # most epochs, early stopping may end sooner; None: the profile's (paper: 500)
seed: int = None  # training seed; None: the profile's (0)
device: str = None  # auto, cpu, cuda or cuda:N; None: the profile's
runs_root: str = None  # run store shared by all figures; None: $URLSOM_RUNS or runs/ at the repository top
out_dir: str = None  # where figure files and the numbers record go; None: executed/ at the repository top

# %% tags=["hide-cell"]
from urlsom_book.notebook import start

nb = start("fig09_svhn_sigma10", globals())  # the parameters resolved against the profile; the run trained or reused
run = nb.runs[0]

# %% tags=["hide-input", "full-width"]
import matplotlib.pyplot as plt
from IPython.display import display

from urlsom_book import viz
from urlsom_core.evaluation import readout_assignments, readout_figures

a, m = run.assignments(), run.metrics  # the network's own winners and figures: the paper's map
f = nb.map_figure([run], [f"sigma {run.config.model.sigma:g}"])
f.suptitle(nb.title("Fig. 9: SVHN map, sigma 10"), fontsize=13)
display(nb.show(f))
display(nb.show(nb.mosaic_figure(run, f"sigma {run.config.model.sigma:g}"), suffix="_mosaic0"))
if "readout" in m:  # a bias was fitted after training (not the paper's method): the map as read out, beside
    read, rm = readout_assignments(a)["winner"], readout_figures(m)
    f, axes = plt.subplots(1, 2, figsize=(13.2, 5.8), layout="constrained")
    viz.class_map(read, a["label"], run.config.model.grid, torus=viz.is_torus(run.config.model), ax=axes[0],
                  classes=run.resolved["classes"], title=f"read out with the usage bias, class map: NS "
                                                         f"{rm['neural_selectivity']:.3f}, {rm['active_neurons']} live")
    viz.wta_map(read, a["label"], run.config.model.grid, torus=viz.is_torus(run.config.model), ax=axes[1],
                classes=run.resolved["classes"], legend=False, title="read out with the usage bias, the paper's drawing")
    f.suptitle(nb.title("Fig. 9: the map read out with a usage bias (not the paper's method)"))
    nb.save(f, "_readout")
    plt.show()

# %% [markdown]
# With sigma {glue:text}`sigma:.0f` the map reaches NS {glue:text}`ns:.3f` with {glue:text}`live` of
# {glue:text}`n_neurons` neurons live after {glue:text}`epochs` epochs. {glue:md}`readout_note` The paper
# notices "the lines formed by dead neurons between some clusters" (Fig. 9 caption): look for them in the
# network's own winners, where the map leaves neurons unused.

# %% tags=["hide-input"]
nb.report({"ns": m["neural_selectivity"], "live": m["active_neurons"], "n_neurons": m["n_neurons"],
           "n_images": m["n_samples"], "epochs": m["epochs_trained"], "train_s": m["train_seconds"], "sigma": float(run.config.model.sigma),
           "contiguity": m.get("contiguity"), "readout_note": nb.readout_note([f"sigma {run.config.model.sigma:g}"])},
          runs=[run], compare={"n_images": "images", "ns": "NS"})

# %% [markdown]
# ## Map inspector
#
# Toggle the run, then move the row and column sliders to choose a neuron: its images, its label histogram
# and its purity appear on the right, and a small square locates it on the map. Every panel was computed
# when the notebook ran, so the inspector also works in this static page.

# %% tags=["hide-input"]
from IPython.display import display

from urlsom_book.widgets import inspector

display(inspector({"sigma " + format(run.config.model.sigma, "g"): run}))

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
# # Fig. 8: the SVHN map
#
# {glue:md}`page_note`
#
# The map of the SVHN run (sigma 5, no horizontal flips) by digit: its class map, image mosaic and the
# paper's drawing (how to read them: on Fig. 4's page). The paper explains its two clusters per digit by
# SVHN's two kinds of numbers, light on dark and dark on light; below, the same map coloured by that contrast
# (measured on each image: is its border brighter than its centre?). Data: {glue:text}`data_note`.

# %% tags=["parameters", "hide-input"]
profile: str = None  # profile that fills every parameter left at None: quick, paper, tiny or a YAML file; None: $URLSOM_PROFILE, else quick
dataset: str = None  # dataset spec (svhn[:ROOT], digits, imagefolder:PATH...); None: the profile's
grid: list = None  # map size [H, W]; None: the profile's (paper: [30, 30])
sigma: float = None  # Gaussian filter sigma in neurons; None: the profile's (paper: 5)
filter: str = None  # fixed filter, gaussian or student; None: the profile's (paper: gaussian)
gamma: float = None  # weight of loss_similarity in the loss (Eq. 8); None: the profile's (paper: 2)
epochs: int = None  # most epochs, early stopping may end sooner; None: the profile's (paper: 500)
seed: int = None  # training seed; None: the profile's (0)
device: str = None  # auto, cpu, cuda or cuda:N; None: the profile's
runs_root: str = None  # run store shared by all figures; None: $URLSOM_RUNS or runs/ at the repository top
out_dir: str = None  # where figure files and the numbers record go; None: executed/ at the repository top

# %% tags=["hide-cell"]
from urlsom_book.notebook import start

nb = start("fig08_svhn_map", globals())  # the parameters resolved against the profile; the run trained or reused
run = nb.runs[0]

# %% tags=["hide-input", "full-width"]
import matplotlib.pyplot as plt
from IPython.display import display

from urlsom_book import viz
from urlsom_core.metrics import neural_selectivity

a, m = run.assignments(), run.metrics  # the network's own winners: the paper's map
grid_hw = run.config.model.grid
light = viz.light_background(run.splits().train.images.numpy()).astype(int)
contrast = neural_selectivity(a["winner"], light, m["n_neurons"])["neural_selectivity"]
f = nb.map_figure([run], ["by digit"])
f.suptitle(nb.title("Fig. 8: SVHN map, sigma 5"), fontsize=13)
display(nb.show(f))
display(nb.show(nb.mosaic_figure(run, "sigma 5"), suffix="_mosaic0"))
f, axes = plt.subplots(1, 2, figsize=(12.4, 5.4), layout="constrained")
viz.class_map(a["winner"], light, grid_hw, torus=viz.is_torus(run.config.model), ax=axes[0],
              classes=["light digit, dark ground", "dark digit, light ground"],
              title=f"by contrast, class map: contrast NS {contrast:.3f}")
viz.wta_map(a["winner"], light, grid_hw, torus=viz.is_torus(run.config.model), ax=axes[1],
            classes=["light digit, dark ground", "dark digit, light ground"], legend=False,
            title="by contrast, the paper's drawing")
f.suptitle(nb.title("Fig. 8: the same map coloured by contrast"))
nb.save(f, "_contrast")
plt.show()

# %% [markdown]
# NS is {glue:text}`ns:.3f` with {glue:text}`live` of {glue:text}`n_neurons` neurons live. {glue:md}`readout_note`
# Of the images,
# {glue:text}`light_share:.2f` are dark figures on a light ground. Labelled by contrast instead of by digit,
# the same map scores {glue:text}`contrast_ns:.3f`, against {glue:text}`contrast_chance:.3f` for a map that
# ignored contrast: the closer to 1, the more the map keeps the two kinds of image apart, the paper's
# explanation for finding each digit in two places.

# %% tags=["hide-input"]
share = float(light.mean())
nb.report({"ns": m["neural_selectivity"], "live": m["active_neurons"], "n_neurons": m["n_neurons"],
           "n_images": m["n_samples"], "epochs": m["epochs_trained"], "train_s": m["train_seconds"],
           "contrast_ns": contrast, "contrast_chance": max(share, 1 - share), "light_share": share,
           "readout_note": nb.readout_note(["digit"])},
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

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
# # Fig. 7: sigma 3 against sigma 10, and the map inspector
#
# {glue:md}`page_note`
#
# The width of the fixed Gaussian filter sets how far a winner pulls its neighbours along. Two trainings
# that differ only in sigma, one row each: the class map, the image mosaic and the paper's drawing (how to
# read them: on Fig. 4's page). Data: {glue:text}`data_note`. Below the figure, an inspector of both maps:
# pick a run and a neuron and see the images it won.

# %% tags=["parameters", "hide-input"]
profile: str = None  # profile that fills every parameter left at None: quick, paper, tiny or a YAML file; None: $URLSOM_PROFILE, else quick
dataset: str = None  # dataset spec (digits, cifar10[:ROOT], svhn[:ROOT], imagefolder:PATH...); None: the profile's
grid: list = None  # map size [H, W]; None: the profile's (paper: [30, 30])
sigmas: list = None  # the two Gaussian filter widths compared, in neurons; None: the profile's (paper: [3, 10])
gamma: float = None  # weight of loss_similarity in the loss (Eq. 8); None: the profile's (paper: 2)
epochs: int = None  # most epochs, early stopping may end sooner; None: the profile's (paper: 500)
seed: int = None  # training seed; None: the profile's (0)
device: str = None  # auto, cpu, cuda or cuda:N; None: the profile's
runs_root: str = None  # run store shared by all figures; None: $URLSOM_RUNS or runs/ at the repository top
out_dir: str = None  # where figure files and the numbers record go; None: executed/ at the repository top

# %% tags=["hide-cell"]
from urlsom_book.notebook import start

nb = start("fig07_cifar10_sigma", globals())  # the parameters resolved against the profile; the runs trained or reused
runs = nb.runs  # one per sigma

# %% tags=["hide-input", "full-width"]
f = nb.map_figure(runs, [f"sigma {r.config.model.sigma:g}" for r in runs])
f.suptitle(nb.title("Fig. 7: the filter width sigma"), fontsize=13)
nb.show(f)

# %% tags=["hide-input", "full-width"]
from IPython.display import display

for i, run in enumerate(runs):
    display(nb.show(nb.mosaic_figure(run, f"sigma {run.config.model.sigma:g}"), suffix=f"_mosaic{i}"))

# %% [markdown]
# With sigma {glue:text}`sigma_lo:.0f` the map reaches NS {glue:text}`ns_sigma3:.3f` with
# {glue:text}`live_sigma3` live neurons; with sigma {glue:text}`sigma_hi:.0f`, NS {glue:text}`ns_sigma10:.3f`
# with {glue:text}`live_sigma10`. {glue:md}`readout_note`
# The wider filter left {glue:text}`live_reading` neurons live. A wider
# filter couples more neurons, so neighbours of a winner are pulled along over a longer range; whether that
# leaves fewer neurons live, or spreads the winners further, depends on the map and the training (the
# book's measurements: live neurons). The map's size matters here: sigma is measured in neurons, so on a
# map smaller than the paper's 30x30 the same sigma reaches across a larger part of the map (see the profile
# named in the data note).

# %% tags=["hide-input"]
lo, hi = runs[0].metrics, runs[-1].metrics  # the network's own figures: the paper's map
net_lo, net_hi = lo["active_neurons"], hi["active_neurons"]
spread, spread_note = nb.seed_spread()  # Fig. 4's two seeds from the store (never trained here), or None
nb.report({"ns_sigma3": lo["neural_selectivity"], "ns_sigma10": hi["neural_selectivity"],
           "ns": lo["neural_selectivity"], "live_sigma3": lo["active_neurons"], "live_sigma10": hi["active_neurons"],
           "live": lo["active_neurons"], "n_neurons": lo["n_neurons"], "epochs": lo["epochs_trained"],
           "epochs_sigma10": hi["epochs_trained"], "train_s": lo["train_seconds"] + hi["train_seconds"],
           "contiguity_sigma3": lo.get("contiguity"), "contiguity_sigma10": hi.get("contiguity"),
           "sigma_lo": float(runs[0].config.model.sigma), "sigma_hi": float(runs[-1].config.model.sigma),
           "n_images": lo["n_samples"], "live_reading": ("more" if net_hi > net_lo else "fewer" if net_hi < net_lo else "as many"),
           "readout_note": nb.readout_note([f"sigma {r.config.model.sigma:g}" for r in runs]), "spread_note": spread_note},
          runs=runs, compare={"n_images": "images", "ns_sigma3": "NS, first sigma", "ns_sigma10": "NS, second sigma"})

# %% [markdown]
# ## The caption's claims, measured
#
# The caption's three findings as measurements on these two maps: NS with sigma 3 above sigma 10, by more than
# two seeds of one setting differ; more clusters at sigma 3 (one-class regions of at least 3 neighbouring
# neurons); lines of dead neurons at sigma 10 (dead neurons in straight runs, against the same number placed at
# random). {glue:md}`spread_note` Below the table, what the paper's words leave open.

# %% tags=["hide-input", "full-width"]
from IPython.display import Markdown

from urlsom_book import claims

Markdown(claims.claims_markdown(claims.claims_from_runs(fig7=runs, noise=spread)))

# %% [markdown]
# ## Map inspector
#
# Toggle the run, then move the row and column sliders to choose a neuron: its images, its label histogram
# and its purity appear on the right, and a small square locates it on the map. Every panel was computed
# when the notebook ran, so the inspector also works in this static page.

# %% tags=["hide-input"]
from IPython.display import display

from urlsom_book.widgets import inspector

display(inspector({f"sigma {r.config.model.sigma:g}": r for r in runs}))

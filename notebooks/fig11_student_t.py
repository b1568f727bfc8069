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
# # Fig. 11: t-student filters
#
# {glue:md}`page_note`
#
# The Gaussian filter replaced by a heavy-tailed t-student filter $1/(1 + r^2/s)$ spanning the whole map,
# with $s = 1$ and $s = 18$: first the two filters' radial profiles (and the Gaussian of Fig. 4 for
# reference), then the two maps, one row each, as class map, image mosaic and the paper's drawing (how to
# read them: on Fig. 4's page). Data: {glue:text}`data_note`.

# %% tags=["parameters", "hide-input"]
profile: str = None  # profile that fills every parameter left at None: quick, paper, tiny or a YAML file; None: $URLSOM_PROFILE, else quick
dataset: str = None  # dataset spec (digits, cifar10[:ROOT], svhn[:ROOT], imagefolder:PATH...); None: the profile's
grid: list = None  # map size [H, W]; None: the profile's (paper: [30, 30])
filter: str = None  # fixed filter; None: the profile's (paper: student)
student_scales: list = None  # the two t-student scales s of 1/(1+r^2/s) compared; None: the profile's (paper: [1, 18])
gamma: float = None  # weight of loss_similarity in the loss (Eq. 8); None: the profile's (paper: 2)
epochs: int = None  # most epochs, early stopping may end sooner; None: the profile's (paper: 500)
seed: int = None  # training seed; None: the profile's (0)
device: str = None  # auto, cpu, cuda or cuda:N; None: the profile's
runs_root: str = None  # run store shared by all figures; None: $URLSOM_RUNS or runs/ at the repository top
out_dir: str = None  # where figure files and the numbers record go; None: executed/ at the repository top

# %% tags=["hide-cell"]
from urlsom_book.notebook import start

nb = start("fig11_student_t", globals())  # the parameters resolved against the profile; the runs trained or reused
runs = nb.runs  # one per scale

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

from urlsom_book import viz

grid_hw = runs[0].config.model.grid
f, ax = plt.subplots(figsize=(6.0, 4.0), layout="constrained")
viz.kernel_profiles(nb.params["student_scales"], radius=max(grid_hw) - 1, ax=ax, sigma=nb.config().model.sigma)
ax.set_title("Fig. 11: the filters (radial profile)", fontsize=10)
nb.save(f, "_filters")
plt.show()

# %% tags=["hide-input", "full-width"]
f = nb.map_figure(runs, [f"1/(1+r²/{r.config.model.student_scale:g})" for r in runs])
f.suptitle(nb.title("Fig. 11: t-student filters"), fontsize=13)
nb.show(f)

# %% tags=["hide-input", "full-width"]
from IPython.display import display

for i, run in enumerate(runs):
    display(nb.show(nb.mosaic_figure(run, f"1/(1+r²/{run.config.model.student_scale:g})"), suffix=f"_mosaic{i}"))

# %% [markdown]
# With $s$ = {glue:text}`scale_lo:.0f` the map reaches NS {glue:text}`ns_scale1:.3f` with
# {glue:text}`live_scale1` live neurons; with $s$ = {glue:text}`scale_hi:.0f`, NS
# {glue:text}`ns_scale18:.3f` with {glue:text}`live_scale18`, of {glue:text}`n_neurons` neurons each.
# {glue:md}`readout_note` The
# paper finds the $s = 1$ map better "at the expense of more clusters, more dead neurons, and noisier SOM"
# (Fig. 11 caption): with Fig. 9's lines of dead neurons, the one figure whose map the paper expects to leave
# neurons unused.

# %% tags=["hide-input"]
s1, s18 = runs[0].metrics, runs[-1].metrics  # the network's own figures: the paper's map
spread, spread_note = nb.seed_spread()  # Fig. 4's two seeds from the store (never trained here), or None
nb.report({"ns_scale1": s1["neural_selectivity"], "ns_scale18": s18["neural_selectivity"],
           "ns": s1["neural_selectivity"], "live_scale1": s1["active_neurons"], "live_scale18": s18["active_neurons"],
           "live": s1["active_neurons"], "n_neurons": s1["n_neurons"], "epochs": s1["epochs_trained"],
           "train_s": s1["train_seconds"] + s18["train_seconds"],
           "scale_lo": float(runs[0].config.model.student_scale), "scale_hi": float(runs[-1].config.model.student_scale),
           "ns_best": max(s1["neural_selectivity"], s18["neural_selectivity"]),
           "readout_note": nb.readout_note([f"s = {r.config.model.student_scale:g}" for r in runs]),
           "spread_note": spread_note},
          runs=runs, compare={"ns_scale1": "NS, first scale", "ns_scale18": "NS, second scale",
                              "ns_best": "NS, t-student (the better scale)"})

# %% [markdown]
# ## The caption's claims, measured
#
# The caption's finding as measurements on these two maps: NS with $s = 1$ above $s = 18$, by more than two
# seeds of one setting differ, with more clusters (one-class regions of at least 3 neighbouring neurons) and
# more dead neurons (neurons that won no image). {glue:md}`spread_note` Below the table, what the paper's words
# leave open.

# %% tags=["hide-input", "full-width"]
from IPython.display import Markdown

from urlsom_book import claims

Markdown(claims.claims_markdown(claims.claims_from_runs(fig11=runs, noise=spread)))

# %% [markdown]
# ## Map inspector
#
# Toggle the run, then move the row and column sliders to choose a neuron: its images, its label histogram
# and its purity appear on the right, and a small square locates it on the map. Every panel was computed
# when the notebook ran, so the inspector also works in this static page.

# %% tags=["hide-input"]
from IPython.display import display

from urlsom_book.widgets import inspector

display(inspector({f"s = {r.config.model.student_scale:g}": r for r in runs}))

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
# # Fig. 4: the CIFAR-10 map, two seeds
#
# Every training sample drawn at its winning neuron (the argmax of its un-augmented Softmax output), moved
# at random within $\pm 0.4$ of it so that samples sharing a neuron stay visible, and coloured by its label.
# Two trainings that differ only in their seed, side by side. Data: {glue:text}`data_note`.

# %% tags=["parameters", "hide-input"]
profile: str = None  # profile that fills every parameter left at None: quick, paper, tiny or a YAML file; None: $URLSOM_PROFILE, else quick
dataset: str = None  # dataset spec (digits, cifar10[:ROOT], svhn[:ROOT], imagefolder:PATH...); None: the profile's
grid: list = None  # map size [H, W]; None: the profile's (paper: [30, 30])
sigma: float = None  # Gaussian filter sigma in neurons; None: the profile's (paper: 5)
filter: str = None  # fixed filter, gaussian or student; None: the profile's (paper: gaussian)
gamma: float = None  # weight of loss_similarity in the loss (Eq. 8); None: the profile's (paper: 2)
epochs: int = None  # most epochs, early stopping may end sooner; None: the profile's (paper: 500)
seeds: list = None  # the two training seeds shown side by side; None: the profile's ([0, 1])
device: str = None  # auto, cpu, cuda or cuda:N; None: the profile's
runs_root: str = None  # run store shared by all figures; None: $URLSOM_RUNS or runs/ at the repository top
out_dir: str = None  # where figure files and the numbers record go; None: executed/ at the repository top

# %% tags=["hide-cell"]
from urlsom_book.notebook import start

nb = start("fig04_cifar10_map", globals())  # the parameters resolved against the profile; the runs trained or reused
runs = nb.runs  # one per seed

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

from urlsom_book import viz
from urlsom_core.evaluation import readout_assignments, readout_figures

f, axes = plt.subplots(1, len(runs), figsize=(6.2 * len(runs), 5.4), layout="constrained", squeeze=False)
for ax, seed, run in zip(axes[0], nb.params["seeds"], runs, strict=True):
    a, m = readout_assignments(run.assignments()), readout_figures(run.metrics)  # as the profile reads it out
    viz.wta_map(a["winner"], a["label"], run.config.model.grid, torus=viz.is_torus(run.config.model), ax=ax, classes=run.resolved["classes"],
                legend=ax is axes[0][-1],
                title=f"seed {seed}: NS {m['neural_selectivity']:.3f}, {m['active_neurons']} live neurons")
f.suptitle(nb.title("Fig. 4: WTA response of all samples, coloured by label"))
nb.save(f)
plt.show()

# %% [markdown]
# With the first seed the map reaches NS {glue:text}`ns:.3f` with {glue:text}`live` of
# {glue:text}`n_neurons` neurons live; the second seed {glue:text}`ns_seed2:.3f` with
# {glue:text}`live_seed2`. Training ran {glue:text}`epochs` epochs ({glue:text}`stop`,
# {glue:text}`train_s:.0f` s). The two maps place the classes differently, since nothing fixes where a class
# goes, but both group each class into a few contiguous regions. {glue:md}`network_note`

# %% tags=["hide-input"]
m0, m1 = readout_figures(runs[0].metrics), readout_figures(runs[-1].metrics)
nb.report({"ns": m0["neural_selectivity"], "ns_seed2": m1["neural_selectivity"], "live": m0["active_neurons"],
           "live_seed2": m1["active_neurons"], "n_neurons": m0["n_neurons"], "n_images": m0["n_samples"],
           "epochs": m0["epochs_trained"], "train_s": m0["train_seconds"], "stop": m0["stop_reason"],
           "network_note": nb.network_note([f"seed {s}" for s in nb.params["seeds"]])},
          runs=runs, compare={"n_images": "images", "n_neurons": "neurons", "ns": "NS (first seed)"})

# %% [markdown]
# ## Map inspector
#
# Toggle the run, then move the row and column sliders to choose a neuron: its images, its label histogram
# and its purity appear on the right, and a small square locates it on the map. Every panel was computed
# when the notebook ran, so the inspector also works in this static page.

# %% tags=["hide-input"]
from IPython.display import display

from urlsom_book.widgets import inspector

display(inspector({f"seed {s}": r for s, r in zip(nb.params["seeds"], runs, strict=True)}))

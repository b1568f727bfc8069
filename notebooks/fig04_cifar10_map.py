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
# {glue:md}`page_note`
#
# Two trainings that differ only in their seed, one row each: the class map, the image mosaic and the paper's
# own drawing of the same map (how to read them: below the figure). Data: {glue:text}`data_note`.

# %% tags=["parameters", "hide-input"]
profile: str = None  # profile that fills every parameter left at None: quick, paper, tiny or a YAML file; None: $URLSOM_PROFILE, else quick
dataset: str = None  # dataset spec (digits, cifar10[:ROOT], svhn[:ROOT], imagefolder:PATH...); None: the profile's
grid: list = None  # map size [H, W]; None: the profile's (paper: [30, 30])
sigma: float = None  # Gaussian filter sigma in neurons; None: the profile's (paper: 5)
filter: str = None  # fixed filter, gaussian or student; None: the profile's (paper: gaussian)
gamma: float = None  # weight of loss_similarity in the loss (Eq. 8); None: the profile's (paper: 2)
epochs: int = None  # most epochs, early stopping may end sooner; None: the profile's (paper: 500)
seeds: list = None  # the two training seeds shown side by side; None: the profile's ([0, 1])
heldout_run: str = None  # a run of the profile trained without the images it scores, for a held-out NS; None: the profile's (cifar10-cpu: cifar10_heldout; quick and paper: none)
device: str = None  # auto, cpu, cuda or cuda:N; None: the profile's
runs_root: str = None  # run store shared by all figures; None: $URLSOM_RUNS or runs/ at the repository top
out_dir: str = None  # where figure files and the numbers record go; None: executed/ at the repository top

# %% tags=["hide-cell"]
from urlsom_book.notebook import start

nb = start("fig04_cifar10_map", globals())  # the parameters resolved against the profile; the runs trained or reused
runs = nb.runs  # one per seed

# %% tags=["hide-input", "full-width"]
f = nb.map_figure(runs, [f"seed {s}" for s in nb.params["seeds"]])
f.suptitle(nb.title("Fig. 4: the map of all images, two seeds"), fontsize=13)
nb.show(f)

# %% [markdown]
# Every image's neuron is its winner, the argmax of its un-augmented Softmax output. Left, the class map: each
# neuron filled with the colour of its majority class, paler the less pure it is (purity: the share of its
# images in that class), grey and cross-hatched where a neuron won no image; the legend names the classes.
# Right, the paper's own drawing: every image at its winning neuron, moved at random within $\pm 0.4$ of it so
# that images sharing a neuron stay visible, coloured by its label in the class map's colours. Below, the image
# mosaic of each map: each neuron shows its most typical image, the one whose backbone embedding is nearest the
# mean embedding of the images it won (cross-hatched where a neuron won none).

# %% tags=["hide-input", "full-width"]
from IPython.display import display

for i, (seed, run) in enumerate(zip(nb.params["seeds"], runs, strict=True)):
    display(nb.show(nb.mosaic_figure(run, f"seed {seed}"), suffix=f"_mosaic{i}"))

# %% [markdown]
# With the first seed the map reaches NS {glue:text}`ns:.3f` with {glue:text}`live` of
# {glue:text}`n_neurons` neurons live; the second seed {glue:text}`ns_seed2:.3f` with
# {glue:text}`live_seed2`. Training ran {glue:text}`epochs` epochs ({glue:text}`stop`,
# {glue:text}`train_s:,.0f` s). The two maps place the classes differently, since nothing fixes where a class
# goes. {glue:md}`readout_note` {glue:md}`heldout_note`
#
# ## The U-matrix: the map's borders without its labels
#
# Left, the first seed's class map again; right, its U-matrix (Ultsch and Siemon, 1990; not a figure of the
# paper): each neuron's prototype is the mean backbone embedding of the images it won, and its shade is its
# mean distance to its neighbours' prototypes, dark where the map's features change; the red lines are the
# borders between neurons of different majority class. {glue:md}`ridge_note`

# %% tags=["hide-input", "full-width"]
import numpy as np
from matplotlib.figure import Figure

from urlsom_book import claims, umatrix, viz

first = runs[0]
um = umatrix.run_u_matrix(first, device=nb.device)  # (H, W) heights, each neuron's majority class, the ridge measure
a0, torus = first.assignments(), viz.is_torus(first.config.model)
f = Figure(figsize=(12.6, 5.6), layout="constrained")
ax = f.subplots(1, 2)
viz.class_map(a0["winner"], a0["label"], first.config.model.grid, classes=first.resolved["classes"], torus=torus,
              ax=ax[0], title=f"seed {nb.params['seeds'][0]}: class map")
umatrix.u_matrix(um["umatrix"], ax=ax[1], torus=um["torus"], majority_class=um["majority_class"],
                 title=f"seed {nb.params['seeds'][0]}: U-matrix, class borders in red")
nb.show(f, suffix="_umatrix")

# %% [markdown]
# ## NS as training went on
#
# NS per epoch of the first seed's run, on the monitor's fixed sample of its training images, with its final
# NS over all its images as a star. {glue:md}`curve_note`

# %% tags=["hide-input", "full-width"]
held = nb.heldout  # trained without the images it scores (the profile's heldout_run), or None
paper = claims.paper_numbers()  # the paper profile's numbers: Fig. 4's NS, Fig. 5's stopping epoch
paper_ns = paper["ns_fig4"][0]
f = Figure(figsize=(12.6 if held is not None else 7.4, 4.4), layout="constrained")
ax = f.subplots(1, 2 if held is not None else 1, squeeze=False)[0]
viz.ns_per_epoch(first.history, ax=ax[0], paper_ns=paper_ns, metrics=first.metrics,
                 title=f"seed {nb.params['seeds'][0]}: trained on all {first.metrics['n_samples']:,} images")
if held is not None:
    viz.ns_per_epoch(held.history, ax=ax[1], paper_ns=paper_ns, metrics=held.metrics,
                     title=f"the held-out run: trained on {held.resolved['n_train']:,}, scored on "
                           f"{held.resolved['n_heldout']:,} it never saw")
nb.show(f, suffix="_ns_per_epoch")

# %% tags=["hide-input"]
m0, m1 = runs[0].metrics, runs[-1].metrics
heldout_note = "" if held is None else (
    f"NS over the images a map was trained on says how well it sorts them; a held-out NS says how well its "
    f"neurons' labels carry over to images it never saw. The paper trains on the test images too, so its maps "
    f"have none. A held-out run does: the first seed's training on the {held.resolved['n_train']:,} training "
    f"images only ({held.metrics['epochs_trained']} epochs, NS {held.metrics['neural_selectivity']:.3f} over "
    f"them) scores {held.metrics['heldout_neural_selectivity']:.3f} on the {held.resolved['n_heldout']:,} test "
    "images, each labelled by its neuron's majority class among the training images.")
r = um["ridge"]  # the U-matrix on edges between classes over within, against the classes shuffled (p: one-sided)
follows = np.isfinite(r["ratio"]) and r["ratio"] > r["null_ratio"] and r["p_value"] <= claims.ALPHA
ridge_note = ((f"Its ridges {'follow' if follows else 'do not follow'} the class borders more than chance: the "
               f"U-matrix is {r['ratio']:.2f} times as high on edges between neurons of different class as within a "
               f"class, against {r['null_ratio']:.2f} with the classes shuffled over the live neurons "
               f"(p = {r['p_value']:.3f}).") if np.isfinite(r["ratio"]) else
              "The ridge measure needs edges both between and within classes; this map has not both.")
curve_note = (f"The dashed line is the paper's NS, {paper['ns_fig4'][0]:.1%}, reached after {paper['stop_epoch']} epochs. "
              + ("Right, the held-out run: its NS on a sample of its training images and its held-out NS on a sample "
                 "of the test images, per epoch, and its final figures over all of them. " if held is not None else
                 "This profile has no held-out run, so no held-out NS per epoch (the `cifar10-cpu` profile has one). ")
              + viz.monitor_note(first.config.train.monitor_samples))
numbers = {"ns": m0["neural_selectivity"], "ns_seed2": m1["neural_selectivity"], "live": m0["active_neurons"],
           "live_seed2": m1["active_neurons"], "n_neurons": m0["n_neurons"], "n_images": m0["n_samples"],
           "epochs": m0["epochs_trained"], "train_s": m0["train_seconds"], "stop": m0["stop_reason"],
           "ridge_ratio": r["ratio"], "ridge_null": r["null_ratio"], "ridge_p": r["p_value"],
           "readout_note": nb.readout_note([f"seed {s}" for s in nb.params["seeds"]]), "heldout_note": heldout_note,
           "ridge_note": ridge_note, "curve_note": curve_note}
if held is not None:
    numbers["heldout_ns"] = held.metrics["heldout_neural_selectivity"]
nb.report(numbers, runs=runs + ([held] if held is not None else []),
          compare={"n_images": "images", "n_neurons": "neurons", "ns": "NS (first seed)"})

# %% [markdown]
# ## The caption's claims, measured
#
# Each row turns a sentence of the paper's caption into a number on these maps (the network's own winners):
# the measurable form says what is counted, the next columns what this build measured and what decides the
# verdict, *holds*, *does not hold* or *cannot tell at this scale*. A class's region is the set of neurons
# whose majority class it is. "Surrounds" and "close" are compared with chance on the same map: every other
# pairing of its own class regions (the class names permuted, the regions kept), so a relation holds only
# where few pairings reach it. Where the caption names classes these maps do not have (a stand-in's digits),
# the row cannot tell and says why. Below the table, what the paper's words leave open and how each row
# reads it.

# %% tags=["hide-input", "full-width"]
from IPython.display import Markdown

Markdown(claims.claims_markdown(claims.claims_from_runs(fig4=runs, seeds=nb.params["seeds"])))

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

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
# # Study: batch size against map size
#
# {glue:md}`page_note`
#
# The paper leaves open why a batch of N = 256 pairs trains a map of n = 900 neurons, and more: the
# collapse term (Eq. 5) pulls the batch's mean output towards the uniform direction, yet with near one-hot
# outputs a batch of N pairs touches at most 2N neurons, fewer than n when 2N < n. This page trains the same n-neuron map over a range of N (the profile lists them), everything else
# being the profile's run, and measures NS, live neurons and the topographic error (TE). The number of epochs
# is the same for every N, so a larger batch also takes fewer optimizer steps; the table lists them.
# Data: {glue:md}`data_note`.
#
# The figures are those of the network's own winners, the paper's map, also where a profile reads its maps
# out with a bias fitted after training (the quick profile): that bias lets nearly every neuron win, which
# would hide what the setting does; "live, read out" counts the neurons that win with it.

# %% tags=["parameters", "hide-input"]
profile: str = None  # profile that fills every parameter left at None: quick, paper, tiny or a YAML file; None: $URLSOM_PROFILE, else quick
dataset: str = None  # dataset spec (digits, cifar10[:ROOT], svhn[:ROOT], imagefolder:PATH...); None: the profile's
grid: list = None  # map size [H, W], its H*W neurons fixed for every N; None: the profile's ([30, 30], 900 neurons)
epochs: int = None  # most epochs, early stopping may end sooner; None: the profile's (paper: 500)
seed: int = None  # training seed; None: the profile's (0)
batch_sizes: list = None  # batch sizes N (pairs) compared; None: the profile's ([64, 128, 256, 512, 1024])
device: str = None  # auto, cpu, cuda or cuda:N; None: the profile's
runs_root: str = None  # run store shared by all figures; None: $URLSOM_RUNS or runs/ at the repository top
out_dir: str = None  # where figure files and the numbers record go; None: executed/ at the repository top

# %% tags=["hide-cell"]
from urlsom_book import studies
from urlsom_book.notebook import start

nb = start("study_batch_size", globals(), train=False)  # the parameters resolved against the profile; the study trains below
base = nb.config()
variants = studies.batch_variants(nb.params["batch_sizes"], base.model.grid)

# %% tags=["hide-input"]
runs = studies.sweep(base, variants, root=nb.runs_root, device=nb.device)
rows = [studies.summarize(r, v) for r, v in zip(runs, variants, strict=True)]

# %% tags=["hide-input"]
fig = studies.plot_batch(rows)
fig.suptitle(nb.title(f"Batch size N against a map of n = {rows[0]['n_neurons']} neurons"))
nb.show(fig)

# %% tags=["hide-input"]
best = max(rows, key=lambda r: r["neural_selectivity"])
nb.report({"reading": studies.read_batch(rows), "best_ns": best["neural_selectivity"],
           "best_batch": best["batch_size"], "n_neurons": rows[0]["n_neurons"]}, runs=runs)
studies.markdown(rows, [("batch_size", "N"), ("steps_per_epoch", "steps / epoch"), ("neural_selectivity", "NS"),
                        ("active_neurons", "live neurons"), ("topographic_error", "TE"),
                        ("live_read_out", "live, read out"), ("epochs", "epochs"),
                        ("stop_reason", "stop"), ("train_seconds", "seconds")])

# %% [markdown]
# ## Reading
#
# {glue:md}`reading`

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
# # Study: the amplitude of the fixed kernel
#
# {glue:md}`page_note`
#
# The paper fixes the shape of the radial filter but not its amplitude. The filtered map goes straight into
# the Softmax, so the amplitude is an inverse temperature: too small and every neuron answers almost the
# same, too large and one neuron takes everything. This page trains the same map with the kernel
# sum-normalised (its weights sum to 1), peak-normalised (its centre is 1) and at the project's default
# amplitude, everything else being the profile's run, and measures NS, live neurons and the topographic
# error (TE: the fraction of samples whose two largest outputs are not grid neighbours).
# Data: {glue:md}`data_note`.
#
# The figures are those of the network's own winners, the paper's map, also where a profile reads its maps
# out with a bias fitted after training (the quick profile): that bias lets nearly every neuron win, which
# would hide what the setting does; "live, read out" counts the neurons that win with it.

# %% tags=["parameters", "hide-input"]
profile: str = None  # profile that fills every parameter left at None: quick, paper, tiny or a YAML file; None: $URLSOM_PROFILE, else quick
dataset: str = None  # dataset spec (digits, cifar10[:ROOT], svhn[:ROOT], imagefolder:PATH...); None: the profile's
grid: list = None  # map size [H, W]; None: the profile's (paper: [30, 30])
sigma: float = None  # Gaussian filter sigma in neurons; None: the profile's (paper: 5)
gamma: float = None  # weight of loss_similarity in the loss (Eq. 8); None: the profile's (paper: 2)
epochs: int = None  # most epochs, early stopping may end sooner; None: the profile's (paper: 500)
seed: int = None  # training seed; None: the profile's (0)
amplitudes: list = None  # kernel settings compared, [norm, gain] or "default" (the config's own); None: the profile's
device: str = None  # auto, cpu, cuda or cuda:N; None: the profile's
runs_root: str = None  # run store shared by all figures; None: $URLSOM_RUNS or runs/ at the repository top
out_dir: str = None  # where figure files and the numbers record go; None: executed/ at the repository top

# %% tags=["hide-cell"]
from urlsom_book import studies
from urlsom_book.notebook import start

nb = start("study_kernel_amplitude", globals(), train=False)  # the parameters resolved against the profile; the study trains below
base = nb.config()
variants = studies.amplitude_variants(nb.params["amplitudes"], base)

# %% tags=["hide-input"]
runs = studies.sweep(base, variants, root=nb.runs_root, device=nb.device)
rows = studies.amplitude_rows(runs, variants)

# %% tags=["hide-input"]
fig = studies.plot_amplitude(rows)
fig.suptitle(nb.title("Kernel amplitude: sum- vs peak-normalised vs a gain"))
nb.show(fig)

# %% tags=["hide-input"]
best = max(rows, key=lambda r: r["neural_selectivity"])
numbers = {"reading": studies.read_amplitude(rows), "best_setting": best["setting"],
           "best_ns": best["neural_selectivity"], "n_neurons": rows[0]["n_neurons"]}
for i, r in enumerate(rows):
    numbers.update({f"ns_{i}": r["neural_selectivity"], f"live_{i}": r["active_neurons"],
                    f"te_{i}": r["topographic_error"], f"setting_{i}": r["setting"]})
nb.report(numbers, runs=runs)
studies.markdown(rows, [("setting", "kernel"), ("kernel_peak", "centre value"), ("kernel_sum", "sum"),
                        ("neural_selectivity", "NS"), ("active_neurons", "live neurons"),
                        ("topographic_error", "TE"), ("contiguity", "contiguity"),
                        ("contiguity_shuffled", "shuffled"), ("live_read_out", "live, read out"), ("epochs", "epochs"),
                        ("stop_reason", "stop")])

# %% [markdown]
# ## Reading
#
# {glue:md}`reading`

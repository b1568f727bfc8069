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
# # Study: gamma against sigma
#
# {glue:md}`page_note`
#
# Two knobs shape a URL-SOM map: gamma, the weight of the similarity term that makes the two views of an
# image answer alike (Eq. 8, the paper uses 2), and sigma, the width of the fixed Gaussian filter that makes
# neighbouring neurons answer alike (the paper uses 5 and shows 3 and 10 in Fig. 7). The paper does not vary
# gamma. Here every pair of the two lists is trained, everything else being the profile's run; each small
# map shows the training samples at their winners coloured by label, with its NS, topographic error (TE)
# and live neurons. Data: {glue:md}`data_note`.
#
# The figures are those of the network's own winners, the paper's map, also where a profile reads its maps
# out with a bias fitted after training (the quick profile): that bias lets nearly every neuron win, which
# would hide what the setting does; "live, read out" counts the neurons that win with it.

# %% tags=["parameters", "hide-input"]
profile: str = None  # profile that fills every parameter left at None: quick, paper, tiny or a YAML file; None: $URLSOM_PROFILE, else quick
dataset: str = None  # dataset spec (digits, cifar10[:ROOT], svhn[:ROOT], imagefolder:PATH...); None: the profile's
grid: list = None  # map size [H, W]; None: the profile's (paper: [30, 30])
epochs: int = None  # most epochs, early stopping may end sooner; None: the profile's (paper: 500)
seed: int = None  # training seed; None: the profile's (0)
gammas: list = None  # weights of loss_similarity, one row of maps each; None: the profile's ([1, 1.5, 2])
sigmas: list = None  # Gaussian filter widths in neurons, one column each; None: the profile's ([3, 5, 10])
device: str = None  # auto, cpu, cuda or cuda:N; None: the profile's
runs_root: str = None  # run store shared by all figures; None: $URLSOM_RUNS or runs/ at the repository top
out_dir: str = None  # where figure files and the numbers record go; None: executed/ at the repository top

# %% tags=["hide-cell"]
from urlsom_book import studies
from urlsom_book.notebook import start

nb = start("study_gamma_sigma", globals(), train=False)  # the parameters resolved against the profile; the study trains below
gammas, sigmas = nb.params["gammas"], nb.params["sigmas"]
variants = studies.gamma_sigma_variants(gammas, sigmas)

# %% tags=["hide-input"]
runs = studies.sweep(nb.config(), variants, root=nb.runs_root, device=nb.device)
rows = [studies.summarize(r, v) for r, v in zip(runs, variants, strict=True)]

# %% tags=["hide-input"]
fig = studies.plot_gamma_sigma(runs, rows, gammas, sigmas)
fig.suptitle(nb.title("gamma (rows) against sigma (columns)"))
nb.show(fig)

# %% tags=["hide-input"]
fig2 = studies.plot_gamma_sigma_grid(rows, gammas, sigmas)
nb.show(fig2, "_grid")

# %% tags=["hide-input"]
best = max(rows, key=lambda r: r["neural_selectivity"])
nb.report({"reading": studies.read_gamma_sigma(rows, gammas, sigmas), "best_ns": best["neural_selectivity"],
           "best_gamma": best["gamma"], "best_sigma": best["sigma"], "n_runs": len(rows)}, runs=runs)
studies.markdown(rows, [("gamma", "gamma"), ("sigma", "sigma"), ("neural_selectivity", "NS"),
                        ("active_neurons", "live neurons"), ("topographic_error", "TE"), ("contiguity", "contiguity"),
                        ("contiguity_shuffled", "shuffled"), ("live_read_out", "live, read out"), ("epochs", "epochs"),
                        ("stop_reason", "stop")])

# %% [markdown]
# ## Reading
#
# {glue:md}`reading`

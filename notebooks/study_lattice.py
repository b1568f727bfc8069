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
# # Study: hexagonal against square lattice
#
# {glue:md}`page_note`
#
# The paper's map is a square grid (Sec. V.B, a 30 by 30 neuron grid), where a neuron's 8 surrounding cells
# lie at two distances, 4 sides and 4 corners. Classical SOMs are often drawn on a hexagonal lattice, where all 6
# neighbours are at the same distance. This page trains the profile's Fig. 4 run (its first seed) once more with
# `model.lattice: hex`, everything else the same: the fixed convolution (Sec. III.B) then spreads each neuron's
# output over the hexagonal distances (`urlsom_core.lattice`). Both maps are drawn as the network's own
# winners, the paper's map, the hexagonal one with a hexagon per neuron. Data: {glue:md}`data_note`.

# %% tags=["parameters", "hide-input"]
profile: str = None  # profile that fills every parameter left at None: quick, paper, tiny or a YAML file; None: $URLSOM_PROFILE, else quick
dataset: str = None  # dataset spec (digits, cifar10[:ROOT], svhn[:ROOT], imagefolder:PATH...); None: the profile's
grid: list = None  # map size [H, W] (a hexagonal torus needs an even H); None: the profile's
epochs: int = None  # most epochs, early stopping may end sooner; None: the profile's (paper: 500)
seed: int = None  # training seed; None: the profile's first (0)
device: str = None  # auto, cpu, cuda or cuda:N; None: the profile's
runs_root: str = None  # run store shared by all figures; None: $URLSOM_RUNS or runs/ at the repository top
out_dir: str = None  # where figure files and the numbers record go; None: executed/ at the repository top
results: str = "bench/results/lattice/hex_vs_square.json"  # the committed measurement of bench/lattice_study.py

# %% tags=["hide-cell"]
from IPython.display import Markdown

from urlsom_book import studies
from urlsom_book.notebook import repo_root, start

nb = start("study_lattice", globals(), train=False)  # the parameters resolved against the profile; the study trains below
runs = studies.sweep(nb.config(), studies.lattice_variants(), root=nb.runs_root, device=nb.device)
rows = studies.lattice_rows(runs)
results_path = (nb.root or repo_root()) / results
committed = studies.read_lattice_results(results_path)

# %% tags=["hide-input"]
fig = nb.map_figure(runs, names=[f"{r['lattice']} lattice" for r in rows])
fig.suptitle(nb.title("The same run on a square and on a hexagonal lattice"))
nb.show(fig)

# %% tags=["hide-input"]
nb.report({"reading": studies.read_lattice(rows), "committed_reading": studies.read_lattice_committed(committed, results),
           **{f"{r['lattice']}_ns": r["neural_selectivity"] for r in rows}}, runs=runs)
studies.markdown(rows, [("lattice", "lattice"), ("neural_selectivity", "NS"),
                        ("heldout_neural_selectivity", "held-out NS"), ("topographic_error", "TE"),
                        ("te_adjacent", "TE (d = 1)"), ("active_neurons", "live neurons"),
                        ("live_read_out", "live, read out"), ("epochs", "epochs"), ("stop_reason", "stop")])

# %% [markdown]
# TE: the two largest outputs are not neighbours (the 8 cells around a square cell, the 6 around a hexagonal
# one). TE (d = 1): not adjacent cells at distance 1 (4 around a square cell, 6 around a hexagonal one), the
# same distance on both lattices.
#
# ## Reading
#
# {glue:md}`reading`
#
# ## The committed measurement
#
# {glue:md}`committed_reading`

# %% tags=["hide-input"]
Markdown(studies.committed_markdown(results_path.with_suffix(".md")))

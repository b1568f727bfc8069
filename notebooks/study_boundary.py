# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study: the map's edge (boundary mode against sigma)
#
# The fixed convolution of the SOM head (Eq. 2) is a 'same' convolution of the H x W map, and the paper is
# silent on what it sees beyond the map's edge: Sec. III.B says only that t-student filters "require filter
# size that is bigger than SOM size to avoid edge artifacts". TensorFlow's `padding='same'` pads with zeros;
# that is `model.boundary: zeros`, this project's reading of the paper and the paper profile's. A neuron at
# an edge or a corner then sums a truncated neighbourhood, and its Softmax output differs from that of a
# neuron inside the map. The alternatives (`urlsom_core.model.fixed_convolution`): `circular` (the map is a
# torus, the usual cure for border effects in classical SOM software), `reflect` (the map mirrored about its
# edge neurons) and `mass` (zero padding, each neuron's kernel renormalised to its part inside the map).
#
# This page shows the table of `bench/boundary_study.py`: every mode for sigma 3, 5 and 10 on digits with a
# 30x30 map (3 seeds) and, where it was run with `--cifar`, on the CIFAR-10 subset at CPU scale (2 seeds).
# "corners x" and "border x" are the share of training samples won by the 4 corner neurons and by the outer
# ring (corners included), over their share of the neurons: 1 for a map used evenly. On a circular map no
# neuron is at an edge, so they are measured on the grid as drawn and expected to be 1 by symmetry; there
# topographic error uses toroidal grid distance. Evenness is the entropy of the winner counts over log n.
# The page reads the results file; it trains nothing (the study takes hours on a CPU).

# %% tags=["parameters"]
results: str = "bench/results/boundary_study/results.json"  # results.json written by bench/boundary_study.py
profile: str = "quick"  # profile (only for the page's record); quick, paper, tiny or a YAML file
out_dir: str = None  # where figure files and the numbers record go; None: executed/ at the repository top

# %%
from IPython.display import Image, Markdown

from urlsom_core import boundary_study
from urlsom_core.profiles import setup

nb = setup("study_boundary", profile, out_dir=out_dir)
res, note = boundary_study.read_results(results)
if note:
    print(note)

# %%
if res is not None:
    fig = boundary_study.heatmaps(res["groups"])
    display(Image(filename=str(nb.save(fig))))  # noqa: F821 - IPython's display

# %%
if res is not None:
    display(Markdown(boundary_study.markdown_table(res["groups"])))  # noqa: F821
    display(Markdown(f"{boundary_study.reading(res['groups'])}\n\nMade by `{res['command']}` "  # noqa: F821
                     f"(git {res['provenance']['git_commit']}, {len(res['runs'])} runs)."))

# %%
nb.report({"reading": boundary_study.reading(res["groups"]) if res is not None else note,
           "results_found": res is not None})

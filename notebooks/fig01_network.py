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
# # Fig. 1: the URL-SOM network
#
# {glue:md}`page_note`
#
# The network drawn from a model built by `urlsom_core.model.URLSOM`: each stage with the shape of its
# output (measured by passing an image through it) and its trainable parameters (counted from the model), and
# the fixed filter shown from the model's own buffer. Above: the paper's network (Sec. V.B); the table also
# counts the network of this build's profile. Data: {glue:text}`data_note`.

# %% tags=["parameters", "hide-input"]
profile: str = None  # profile that fills every parameter left at None: quick, paper, tiny or a YAML file; None: $URLSOM_PROFILE, else quick
device: str = None  # unused here (no training); kept so every figure takes the same options
runs_root: str = None  # unused here (no training); kept so every figure takes the same options
out_dir: str = None  # where figure files and the numbers record go; None: executed/ at the repository top

# %% tags=["hide-cell"]
from urlsom_book.notebook import start

nb = start("fig01_network", globals(), train=False)  # the parameters resolved against the profile; nothing trains

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

from urlsom_book import diagrams
from urlsom_book.profiles import paper_profile
from urlsom_core.data import resolve
from urlsom_core.model import URLSOM, count_parameters

paper_cfg = paper_profile().runs["cifar10"].config()
paper_net = URLSOM(paper_cfg.model, in_channels=3)  # the paper's CIFAR-10 images: 3 x 32 x 32 (Sec. V.A)
paper_rows = diagrams.layer_table(paper_net, (3, 32, 32))
f, ax = plt.subplots(figsize=(13, 3.4), layout="constrained")
diagrams.plot_network(paper_rows, paper_net.head.kernel[0, 0].numpy(), ax=ax,
                      title=f"Fig. 1: the paper's network, {count_parameters(paper_net)['total']:,} trainable parameters")
nb.save(f)
plt.show()

# %% tags=["hide-input"]
cfg = nb.config()
images = resolve(cfg.data).train.images
net = URLSOM(cfg.model, in_channels=images.shape[1])
rows = diagrams.layer_table(net, tuple(images.shape[1:]))
f, ax = plt.subplots(figsize=(13, 3.4), layout="constrained")
diagrams.plot_network(rows, net.head.kernel[0, 0].numpy(), ax=ax,
                      title=nb.title(f"this build's network, {count_parameters(net)['total']:,} trainable parameters"))
nb.save(f, "_build")
plt.show()

# %% [markdown]
# Built as the paper describes it, the network has {glue:text}`total_params:,d` trainable parameters, of which
# {glue:text}`projection_params:,d` are the linear projection to the {glue:text}`paper_grid` map; the paper
# gives 3.4 million and 0.23 million. The fixed filter has no trainable parameter: it is a buffer of
# {glue:text}`kernel_side` x {glue:text}`kernel_side` weights. This build's network has
# {glue:text}`build_total_params:,d` ({glue:text}`build_projection_params:,d` in the projection).

# %% tags=["hide-input"]
paper_count, build_count = count_parameters(paper_net), count_parameters(net)
nb.report({"total_params": paper_count["total"], "projection_params": paper_count["projection"],
           "paper_grid": f"{paper_cfg.model.grid[0]}x{paper_cfg.model.grid[1]}",
           "kernel_side": int(paper_net.head.kernel.shape[-1]),
           "build_total_params": build_count["total"], "build_projection_params": build_count["projection"]},
          compare={"total_params": "trainable parameters (the paper's network)",
                   "projection_params": "of which the projection"})

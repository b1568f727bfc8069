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
# # Fig. 10: the SVHN loss per epoch
#
# {glue:md}`page_note`
#
# The loss of the Fig. 8 run (the same run, reused from the store) per epoch, with its three terms, the
# learning-rate steps and the epoch where training stopped. Data: {glue:text}`data_note`.

# %% tags=["parameters", "hide-input"]
profile: str = None  # profile that fills every parameter left at None: quick, paper, tiny or a YAML file; None: $URLSOM_PROFILE, else quick
dataset: str = None  # dataset spec (svhn[:ROOT], digits, imagefolder:PATH...); None: the profile's
grid: list = None  # map size [H, W]; None: the profile's (paper: [30, 30])
sigma: float = None  # Gaussian filter sigma in neurons; None: the profile's (paper: 5)
filter: str = None  # fixed filter, gaussian or student; None: the profile's (paper: gaussian)
gamma: float = None  # weight of loss_similarity in the loss (Eq. 8); None: the profile's (paper: 2)
epochs: int = None  # most epochs, early stopping may end sooner; None: the profile's (paper: 500)
seed: int = None  # training seed; None: the profile's (0)
device: str = None  # auto, cpu, cuda or cuda:N; None: the profile's
runs_root: str = None  # run store shared by all figures; None: $URLSOM_RUNS or runs/ at the repository top
out_dir: str = None  # where figure files and the numbers record go; None: executed/ at the repository top

# %% tags=["hide-cell"]
from urlsom_book.notebook import start

nb = start("fig10_svhn_loss", globals())  # the parameters resolved against the profile; the run trained or reused
run = nb.runs[0]

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

from urlsom_book import viz

f, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
viz.loss_curve(run.history, run.config.train.lr_schedule, ax=ax, stop_reason=run.metrics["stop_reason"],
               gamma=run.config.train.gamma)
ax.set_title(nb.title("Fig. 10: SVHN loss per epoch"), fontsize=10)
nb.save(f)
plt.show()

# %% [markdown]
# The loss falls from {glue:text}`first_loss:.3f` to {glue:text}`final_loss:.3f` in {glue:text}`epochs`
# epochs (stopped by: {glue:text}`stop`; {glue:text}`train_s:,.0f` s of training).

# %% tags=["hide-input"]

m, h = run.metrics, run.history  # the network's own map: the paper's
nb.report({"epochs": m["epochs_trained"], "stop": m["stop_reason"], "first_loss": h[0]["loss"],
           "final_loss": h[-1]["loss"], "ns": m["neural_selectivity"], "live": m["active_neurons"],
           "n_neurons": m["n_neurons"], "train_s": m["train_seconds"]},
          runs=[run], compare={"epochs": "epochs trained"})

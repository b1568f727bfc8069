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
# # Fig. 5: the CIFAR-10 loss per epoch
#
# {glue:md}`page_note`
#
# The loss of the Fig. 4 run (first seed; the same run, reused from the store) per epoch, with its three
# terms, the learning-rate steps (dashed; the paper's at epochs 5 and 10) and the epoch where training stopped.
# Data: {glue:text}`data_note`.

# %% tags=["parameters", "hide-input"]
profile: str = None  # profile that fills every parameter left at None: quick, paper, tiny or a YAML file; None: $URLSOM_PROFILE, else quick
dataset: str = None  # dataset spec (digits, cifar10[:ROOT], svhn[:ROOT], imagefolder:PATH...); None: the profile's
grid: list = None  # map size [H, W]; None: the profile's (paper: [30, 30])
sigma: float = None  # Gaussian filter sigma in neurons; None: the profile's (paper: 5)
filter: str = None  # fixed filter, gaussian or student; None: the profile's (paper: gaussian)
gamma: float = None  # weight of loss_similarity in the loss (Eq. 8); None: the profile's (paper: 2)
epochs: int = None  # most epochs, early stopping may end sooner; None: the profile's (paper: 500)
seed: int = None  # training seed; None: the profile's (0, the first seed of Fig. 4)
device: str = None  # auto, cpu, cuda or cuda:N; None: the profile's
runs_root: str = None  # run store shared by all figures; None: $URLSOM_RUNS or runs/ at the repository top
out_dir: str = None  # where figure files and the numbers record go; None: executed/ at the repository top

# %% tags=["hide-cell"]
from urlsom_book.notebook import start

nb = start("fig05_cifar10_loss", globals())  # the parameters resolved against the profile; the run trained or reused
run = nb.runs[0]

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

from urlsom_book import viz

f, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
viz.loss_curve(run.history, run.config.train.lr_schedule, ax=ax, stop_reason=run.metrics["stop_reason"],
               gamma=run.config.train.gamma)
ax.set_title(nb.title("Fig. 5: loss per epoch"), fontsize=10)
nb.save(f)
plt.show()

# %% [markdown]
# The loss falls from {glue:text}`first_loss:.3f` in the first epoch to {glue:text}`final_loss:.3f` after
# {glue:text}`epochs` epochs (stopped by: {glue:text}`stop`; {glue:text}`train_s:,.0f` s of training); the
# paper trained {glue:text}`paper_epochs`. The learning rate steps up after epochs {glue:text}`lr_steps` (the dashed lines).

# %% tags=["hide-input"]

m, h = run.metrics, run.history  # the network's own map: the paper's
nb.report({"epochs": m["epochs_trained"], "stop": m["stop_reason"], "first_loss": h[0]["loss"],
           "final_loss": h[-1]["loss"], "ns": m["neural_selectivity"], "live": m["active_neurons"],
           "n_neurons": m["n_neurons"], "train_s": m["train_seconds"],
           "lr_steps": " and ".join(str(e) for e, _ in run.config.train.lr_schedule if e > 0)},
          runs=[run], compare={"epochs": "epochs trained"})

# %% [markdown]
# ## The caption's claims, measured
#
# Two sentences of the caption as measurements on this run: where training stopped, against the paper's
# early stop, and whether the loss jumps where the learning rate switches (the caption's "glitches"), each
# jump judged against the loss changes of the epochs around it. A run that its epoch cap or time budget ended
# cannot tell where early stopping would have; below the table, what the paper's words leave open.

# %% tags=["hide-input", "full-width"]
from IPython.display import Markdown

from urlsom_book import claims

Markdown(claims.claims_markdown(claims.claims_from_runs(fig5=run)))

"""The package's two floors, and the rule between them (``tests/test_layers.py`` enforces it).

METHOD is the paper's method and what a run needs: configs, data, the network, the loss, the augmentation,
training, metrics, the run store and its files. BOOK is the machinery of the book and the bench built on
top: profiles, reproduction, studies, baselines, figures, widgets, benchmarks, JupyterLab's contents
manager (``make lab``). ENTRY (the command line) stands above both.

The rule: a METHOD module never imports a BOOK module (nor the ENTRY point), at module level or inside a
function; every module of the package is in exactly one of the three lists (a new module must choose its
floor); and the modules import one another without a cycle.
"""

from __future__ import annotations

METHOD = (
    "config", "files", "filters", "model", "loss", "augment", "per_sample", "sources", "data", "distributed", "checkpoint",
    "signals", "train", "predict", "metrics", "balance", "readout", "runs", "layers",
)
BOOK = ("profiles", "notebook", "captions", "diagrams", "reproduce", "summary", "studies", "boundary_study", "baselines", "bench", "measure", "viz", "widgets", "lab", "widget_state")
ENTRY = ("cli",)

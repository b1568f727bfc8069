"""The training monitor's held-out NS per epoch: recorded only with a held-out split, on a fixed sample, and
equal to the held-out NS computed from scratch with the same samples and the trained model."""

from __future__ import annotations

import numpy as np
import torch

from urlsom_core.config import RunConfig
from urlsom_core.data import resolve
from urlsom_core.metrics import heldout_neural_selectivity, heldout_on_dead
from urlsom_core.predict import predict
from urlsom_core.train import Trainer


def tiny(**data) -> RunConfig:
    return RunConfig.from_dict({"data": {"dataset": "digits", "subset": 400, **data},
                                "model": {"grid": [5, 5], "widths": [8], "blocks": 1},
                                "train": {"epochs": 2, "batch_size": 64, "monitor_samples": 50, "seed": 3}})


def fit(cfg: RunConfig) -> Trainer:
    torch.set_num_threads(1)
    tr = Trainer(cfg, resolve(cfg.data), device="cpu", progress=False, log=lambda s: None)
    tr.result = tr.fit()
    return tr


def test_heldout_ns_per_epoch_is_recorded_on_a_fixed_capped_sample_and_matches_a_recomputation():
    tr = fit(tiny(holdout=0.25))
    rows = tr.result.history
    assert len(rows) == 2 and all(0.0 <= r["monitor_heldout_ns"] <= 1.0 for r in rows)
    assert all(0.0 <= r["monitor_heldout_on_dead"] <= 1.0 for r in rows)
    held = tr.splits.heldout
    assert len(tr.monitor_heldout_idx) == 50 < len(held)  # capped like the training monitor
    again = Trainer(tr.cfg, tr.splits, device="cpu", progress=False, log=lambda s: None)
    assert torch.equal(again.monitor_heldout_idx, tr.monitor_heldout_idx)  # the same sample every epoch and run
    # from scratch: label the neurons with the monitor's training sample, score the held-out sample
    n = tr.cfg.model.n_neurons
    sub_tr, sub_he = tr.splits.train.subset(tr.monitor_idx), held.subset(tr.monitor_heldout_idx)
    w_tr = predict(tr.model, sub_tr, tr.aug, tr.device)["winner"]
    w_he = predict(tr.model, sub_he, tr.aug, tr.device)["winner"]
    y_tr, y_he = sub_tr.labels.numpy(), sub_he.labels.numpy()
    assert rows[-1]["monitor_heldout_ns"] == round(heldout_neural_selectivity(w_tr, y_tr, w_he, y_he, n), 5)
    assert rows[-1]["monitor_heldout_on_dead"] == round(heldout_on_dead(w_tr, w_he, n), 5)
    labels = np.unique(y_he)
    assert labels.size > 5  # a sample of many classes, not one class's images


def test_no_heldout_figures_without_a_heldout_split():
    tr = fit(tiny())
    assert tr.monitor_heldout_idx is None
    assert all("monitor_heldout_ns" not in r for r in tr.result.history)
    assert all("monitor_ns" in r for r in tr.result.history)

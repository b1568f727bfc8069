"""Early stopping: the paper's (the loss) and, with ``train.patience_on: map``, the monitor's map as well."""

from __future__ import annotations

import pytest

from urlsom_core.config import MAP_DELTA, ConfigError, RunConfig, TrainConfig
from urlsom_core.data import resolve
from urlsom_core.train import Trainer

# min_delta 10: no epoch's loss counts as better, so only the map can keep a run going
TINY = {"data": {"dataset": "digits", "subset": 64}, "model": {"grid": [4, 4], "widths": [8], "blocks": 1},
        "train": {"epochs": 12, "batch_size": 16, "patience": 2, "min_delta": 10.0, "monitor_samples": 32}}


def _fit(monkeypatch, ns: list[float], te: list[float], **dotted):
    cfg = RunConfig.from_dict(TINY).replace(**dotted)
    trainer = Trainer(cfg, resolve(cfg.data), device="cpu", progress=False, log=lambda s: None)
    seq = iter(zip(ns, te, strict=True))

    def fake_monitor():
        n, t = next(seq)
        return {"monitor_ns": n, "monitor_live": 16, "monitor_live_share": 1.0, "monitor_te": t}

    monkeypatch.setattr(trainer, "monitor", fake_monitor)
    return trainer.fit()


def test_the_paper_stops_on_the_loss_alone(monkeypatch):
    up = [0.1 * i for i in range(12)]
    res = _fit(monkeypatch, up, [0.5] * 12)
    # epoch 0 sets the loss's best, epochs 1 and 2 are no better: patience 2 stops after 3 epochs
    assert res.stop_reason == "early stop" and res.epochs == 3


def test_a_map_that_still_improves_keeps_the_run_going(monkeypatch):
    ns = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    res = _fit(monkeypatch, ns, [0.5] * 12, **{"train.patience_on": "map"})
    # NS rises until epoch 5, then is flat: epochs 6 and 7 are no better, so it stops after epoch 7
    assert res.stop_reason == "early stop" and res.epochs == 8


def test_te_going_down_counts_and_noise_below_the_delta_does_not(monkeypatch):
    te = [0.5, 0.4, 0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]
    res = _fit(monkeypatch, [0.5] * 12, te, **{"train.patience_on": "map"})
    assert res.epochs == 7  # TE falls until epoch 4, then epochs 5 and 6 are flat
    small = [0.5 + k * MAP_DELTA / 3 for k in range(12)]  # steps below the delta
    res = _fit(monkeypatch, small, [0.5] * 12, **{"train.patience_on": "map"})
    assert res.epochs == 3  # epochs 1 and 2 are within the delta of epoch 0's best: patience 2 stops the run
    steady = [0.5 + k * MAP_DELTA * 0.6 for k in range(12)]  # each step below the delta, two of them above it
    res = _fit(monkeypatch, steady, [0.5] * 12, **{"train.patience_on": "map"})
    assert res.epochs == 12  # the best moves only by more than the delta, so slow steady gains still count


def test_patience_on_is_validated_and_key_neutral():
    with pytest.raises(ConfigError, match="patience_on 'ns': allowed are loss, map"):
        TrainConfig(patience_on="ns").validate()
    base = RunConfig.from_dict(TINY)
    assert base.key() == RunConfig.from_dict(TINY).replace(**{"train.patience_on": "loss"}).key()
    assert base.key() != base.replace(**{"train.patience_on": "map"}).key()

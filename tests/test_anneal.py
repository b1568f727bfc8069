"""The shrinking Gaussian (``model.sigma_end``): its schedule, its kernel, early stopping, resume and the CLI."""

from __future__ import annotations

import math
import signal

import numpy as np
import pytest
import torch
from test_reliability import _finish, _load, _start, _start_stoppable, _stop_at_step, assert_same_run

from urlsom_book import cli
from urlsom_core.config import ConfigError, ModelConfig, RunConfig, TrainConfig
from urlsom_core.data import resolve
from urlsom_core.files import read_jsonl
from urlsom_core.filters import gaussian_kernel
from urlsom_core.model import URLSOM, convolution_matrix
from urlsom_core.runs import Run, train_run
from urlsom_core.train import Trainer

TINY = {"data": {"dataset": "digits", "subset": 80}, "model": {"grid": [6, 6], "widths": [8], "blocks": 1,
        "sigma": 2.0, "sigma_end": 0.5, "kernel_norm": "neighbour", "kernel_gain": 0.5},
        "train": {"epochs": 5, "batch_size": 8, "anneal_share": 0.6, "patience": 1, "min_delta": 10.0}}


def _cfg(**dotted) -> RunConfig:
    return RunConfig.from_dict(TINY).replace(**dotted)


# ------------------------------------------------------------------------------------------------ schedule
def test_progress_is_the_epoch_share_or_the_budget_share_whichever_is_further():
    assert TrainConfig(epochs=100).progress(25, 1e9) == 0.25  # no budget: the clock does not count
    t = TrainConfig(epochs=300, max_minutes=10)
    assert t.progress(30, 60.0) == 0.1  # 30 of 300 epochs, 1 of 10 minutes
    assert t.progress(30, 300.0) == 0.5  # the budget is further along
    assert t.progress(30, 1200.0) == 1.0  # capped


def test_sigma_shrinks_geometrically_then_holds():
    cfg = RunConfig.from_dict({"model": {"sigma": 5, "sigma_end": 2}, "train": {"anneal_share": 0.7}})
    assert cfg.sigma_at(0.0) == 5.0
    assert cfg.sigma_at(0.35) == pytest.approx(math.sqrt(5 * 2))  # halfway: the geometric mean
    assert cfg.sigma_at(0.7) == pytest.approx(2.0) and cfg.sigma_at(1.0) == pytest.approx(2.0)
    s = [cfg.sigma_at(p / 20) for p in range(21)]
    assert all(a >= b for a, b in zip(s, s[1:], strict=False))
    odd = RunConfig.from_dict({"model": {"sigma": 6.7, "sigma_end": 1.7}})  # 6.7 * (1.7 / 6.7) is 1.7000000000000002
    assert odd.sigma_at(0.7) == 1.7 and odd.sigma_at(0.9) == 1.7  # so the anneal ends and early stopping counts
    fixed = RunConfig.from_dict({"model": {"sigma": 5}})
    assert {fixed.sigma_at(p) for p in (0.0, 0.5, 1.0)} == {5.0}  # the paper's fixed filter


@pytest.mark.parametrize(("model", "train", "message"), [
    ({"sigma": 3, "sigma_end": 4}, {}, "sigma_end 4.0: allowed is 0 < sigma_end <= sigma (3) or none"),
    ({"sigma_end": 0}, {}, "sigma_end 0.0: allowed is 0 < sigma_end <= sigma (5) or none"),
    ({"filter": "student", "sigma_end": 1}, {},
     "sigma_end 1.0 with filter 'student': allowed only with the gaussian filter (or sigma_end none)"),
    ({"sigma_end": 2}, {"anneal_share": 0}, "anneal_share 0.0: allowed is 0 < anneal_share <= 1 (a share of the training)"),
    ({"sigma_end": 2}, {"anneal_share": 1.5},
     "anneal_share 1.5: allowed is 0 < anneal_share <= 1 (a share of the training)"),
])
def test_bad_anneal_settings_are_one_line(model, train, message):
    with pytest.raises(ConfigError) as e:
        RunConfig.from_dict({"model": model, "train": train})
    assert str(e.value) == message


def test_the_new_fields_at_their_defaults_keep_every_stored_key():
    cfg = RunConfig.from_dict({"model": {"sigma": 5}})
    d = cfg.to_dict()
    assert d["model"]["sigma_end"] is None and d["train"]["anneal_share"] == 0.7
    del d["model"]["sigma_end"], d["train"]["anneal_share"]  # a config written before the fields existed
    assert RunConfig.from_dict(d).key() == cfg.key()
    assert cfg.replace(**{"model.sigma_end": 2}).key() != cfg.key()
    assert cfg.replace(**{"model.sigma_end": 2}).key() == cfg.replace(**{"model.sigma_end": 2.0}).key()


# ------------------------------------------------------------------------------------------------ the head
def test_set_sigma_swaps_the_kernel_on_the_same_support_and_rebuilds_the_operator():
    m = ModelConfig(grid=(9, 9), widths=(8,), blocks=1, sigma=3.0, sigma_end=1.0, boundary="circular")
    head = URLSOM(m, in_channels=1).head
    side = head.kernel.shape[-1]
    head.set_sigma(1.0)
    assert head.kernel.shape[-1] == side
    torch.testing.assert_close(head.kernel[0, 0], gaussian_kernel(1.0, size=side, norm=m.kernel_norm, gain=m.kernel_gain))
    torch.testing.assert_close(head.operator, convolution_matrix(head.kernel, m.grid, m.boundary))
    fresh = URLSOM(m, in_channels=1).head
    assert not torch.equal(fresh.operator, head.operator)
    fresh.load_state_dict(head.state_dict())  # the kernel is saved; the operator follows it on load
    torch.testing.assert_close(fresh.operator, head.operator)


# ------------------------------------------------------------------------------------------------ training
def test_training_shrinks_sigma_waits_for_it_and_the_stored_run_uses_the_last_kernel(tmp_path):
    cfg = _cfg()
    run = train_run(cfg, tmp_path / "run", device="cpu", progress=False, log=lambda s: None)
    rows = read_jsonl(run.path / "history.jsonl")
    sig = [r["sigma"] for r in rows]
    # epochs 0..4 at progress e/5: 2 * (0.5/2) ** min(1, (e/5)/0.6)
    assert sig == [round(cfg.sigma_at(e / 5), 5) for e in range(4)] and sig[0] == 2.0 and sig[-1] == 0.5
    # min_delta 10 makes every epoch "no better", so without the anneal patience 1 would stop after epoch 1:
    # it waits for sigma_end (epoch 3, at 60% of the 5 epochs) and stops after that epoch, the first one counted
    assert len(rows) == 4 and run.metrics["stop_reason"] == "early stop"
    model = Run.load(run.path).load_model()
    side = model.head.kernel.shape[-1]
    torch.testing.assert_close(model.head.kernel[0, 0], gaussian_kernel(0.5, size=side, norm="neighbour", gain=0.5))
    again = Run.load(run.path).predict(resolve(cfg.data).train)["winner"]
    np.testing.assert_array_equal(again, run.assignments()["winner"])


def test_a_budget_drives_the_anneal(monkeypatch):
    cfg = _cfg(**{"train.epochs": 100, "train.max_minutes": 5.0, "train.min_delta": 1e-4, "train.patience": 50,
                  "train.compile": False})  # a budget of 5 min would compile (train.compile auto)
    clock = iter(range(10**7))  # a clock that moves 1 s at every reading: the budget ends after a few epochs
    monkeypatch.setattr("urlsom_core.train.time.monotonic", lambda: float(next(clock)))
    res = Trainer(cfg, resolve(cfg.data), device="cpu", progress=False, log=lambda s: None).fit()
    rows = res.history
    assert res.stop_reason == "time budget" and len(rows) < 30  # by epochs alone it would shrink until epoch 60
    sig = [r["sigma"] for r in rows]
    assert sig[0] == 2.0 and sig[-1] == 0.5 and sig == sorted(sig, reverse=True)
    starts = [0.0] + [r["elapsed"] for r in rows[:-1]]  # each epoch's sigma is set from the clock at its start
    assert sig == [round(cfg.sigma_at(cfg.train.progress(r["epoch"], t0)), 5) for r, t0 in zip(rows, starts, strict=True)]


@pytest.mark.slow  # trains in child processes
def test_a_run_killed_mid_anneal_resumes_bitwise(tmp_path):
    extra = ("--sigma", "2", "--sigma-end", "0.5", "--anneal-share", "0.6", "--checkpoint-every", "0")
    ref, kill = tmp_path / "ref", tmp_path / "kill"
    p_ref, p_kill = _start(ref, *extra), _start_stoppable(kill, *extra)
    _stop_at_step(p_kill, signal.SIGKILL)
    assert _finish(p_kill)[0] == -signal.SIGKILL
    assert _load(kill / "checkpoint.pt")["sigma"] < 2.0  # killed in epoch 1, after the first shrink
    rc, _, err = _finish(_start(kill, *extra))
    assert rc == 0, err
    assert _finish(p_ref)[0] == 0
    assert_same_run(ref, kill)
    cfg = RunConfig.from_dict({"model": {"sigma": 2, "sigma_end": 0.5}, "train": {"epochs": 3, "anneal_share": 0.6}})
    assert [r["sigma"] for r in read_jsonl(ref / "history.jsonl")] == [round(cfg.sigma_at(e / 3), 5) for e in range(3)]


# ------------------------------------------------------------------------------------------------ CLI
def _resolve(*flags: str):
    return cli.resolve_args(cli.build_parser().parse_args(["train", "--out", "x", "--dataset", "digits", *flags]))


def test_cli_sigma_end_flags():
    cfg, _ = _resolve("--sigma-end", "2", "--anneal-share", "0.5")
    assert (cfg.model.sigma_end, cfg.train.anneal_share) == (2.0, 0.5)
    assert _resolve("--sigma-end", "none")[0].model.sigma_end is None


def test_cli_bad_sigma_end_is_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        cli.build_parser().parse_args(["train", "--out", "x", "--sigma-end", "wide"])
    assert e.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(
        "argument --sigma-end: 'wide': allowed is a number or none")

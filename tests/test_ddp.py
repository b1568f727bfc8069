"""DDP on the CPU (gloo, 2 processes): one training step on two ranks equals the same step in one process.

The two ranks are forked children that each take half of every batch; the batch mean ``a`` of Eqs. 4, 5 and 7
is all-reduced over ranks by the loss itself and batch norm uses the statistics of the global batch, so the loss terms, the
gradients, the parameters after the Adam step and the running statistics must all match a one-process run
with the same global batch. A control run with a per-rank ``a`` must NOT match (the check can fail).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
import torch

from urlsom_core.config import RunConfig
from urlsom_core.data import ImageData, Splits

CFG = {"model": {"grid": [5, 5], "widths": [8, 16], "blocks": 1},
       "train": {"epochs": 1, "batch_size": 16, "monitor_samples": 16, "lr_schedule": [[0, 1e-3]],
                 "amp_cpu": False}}  # float32: bf16 rounds a split batch differently from a whole one


def _splits() -> Splits:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (16, 3, 16, 16), dtype=torch.uint8, generator=g)  # one batch of 16 = one step
    labels = torch.arange(16) % 4
    return Splits(ImageData(images, labels, ["a", "b", "c", "d"], "synthetic"), None, 16, True)


def _one_step() -> dict:
    from urlsom_core.train import Trainer

    trainer = Trainer(RunConfig.from_dict(CFG), _splits(), "cpu", progress=False, log=lambda s: None)
    result = trainer.fit()
    assert result.history[0]["steps"] == 1
    m = trainer.model
    return {
        "params": {n: p.detach().clone() for n, p in m.named_parameters()},
        "grads": {n: p.grad.detach().clone() for n, p in m.named_parameters()},
        "buffers": {n: b.detach().clone() for n, b in m.named_buffers() if b.is_floating_point()},
        "row": {k: result.history[0][k] for k in ("loss", "wta", "collapse", "similarity")},
    }


def _rank(rank: int, world: int, store: str, out: str, local_a: bool) -> None:
    try:
        torch.set_num_threads(1)
        # a file store: no TCP port to choose (and lose to another process) on a busy machine
        torch.distributed.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
        if local_a:  # the control: the loss sees one process, so each rank uses the mean of its own half batch
            import urlsom_core.loss as loss

            loss.distributed = lambda: (0, 1)
        res = _one_step()
        if rank == 0:
            torch.save(res, out)
        torch.distributed.destroy_process_group()
    except BaseException:  # noqa: BLE001 - report in the parent
        traceback.print_exc()
        os._exit(1)
    os._exit(0)


def _fork_ranks(target, store: Path, *args) -> None:
    """``target(rank, 2, store, *args)`` in two forked ranks; fails the test if one hangs or fails."""
    ctx = mp.get_context("fork")  # the children share the parent's imports: no 10 s torch import per rank
    procs = [ctx.Process(target=target, args=(r, 2, str(store), *args)) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
    for p in procs:
        if p.is_alive():
            p.kill()
            pytest.fail("a DDP rank hung")
    assert [p.exitcode for p in procs] == [0, 0], "a DDP rank failed (its traceback is in the captured stderr)"


def _two_ranks(tmp_path: Path, local_a: bool = False) -> dict:
    out = tmp_path / f"rank0-{int(local_a)}.pt"
    _fork_ranks(_rank, tmp_path / f"store-{int(local_a)}", str(out), local_a)
    return torch.load(out, weights_only=True)


def _max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def test_two_processes_equal_one_process_with_the_same_global_batch(tmp_path):
    one = _one_step()
    two = _two_ranks(tmp_path)
    for k in one["row"]:
        assert two["row"][k] == pytest.approx(one["row"][k], abs=1e-5), k
    scale = max(float(g.abs().max()) for g in one["grads"].values())
    for k, g in one["grads"].items():  # every gradient tensor, to 0.1% of its own scale (or 1e-4 of the largest)
        assert float((two["grads"][k] - g).abs().max()) <= 1e-3 * float(g.abs().max()) + 1e-4 * scale, k
    # Adam's first step is lr * g / (|g| + eps): the projection bias's gradients are ~1e-11 (the Softmax barely
    # depends on it), float noise there moves the parameter by a fraction of lr; everything else agrees to 1e-6
    lr = CFG["train"]["lr_schedule"][0][1]
    assert _max_diff(one["params"], two["params"]) < 0.05 * lr
    assert max(float((one["params"][k] - two["params"][k]).abs().max()) for k in one["params"]
               if k != "head.proj.bias") < 2e-6
    assert _max_diff(one["buffers"], two["buffers"]) < 1e-5
    # the control: a per-rank batch mean gives another gradient, so the comparison above can fail
    control = _two_ranks(tmp_path, local_a=True)
    worst = max(float((control["grads"][k] - g).abs().max() / g.abs().max()) for k, g in one["grads"].items()
                if g.abs().max() > 1e-3 * scale)
    assert worst > 0.05


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None, reason="no torchrun")
def test_urlsom_train_under_torchrun_writes_once(tmp_path):
    """``torchrun --standalone --nproc-per-node 2 urlsom train`` (torchrun picks its own free port): the CLI joins
    the group, trains, and only rank 0 writes."""
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [torchrun, "--standalone", "--nproc-per-node", "2", "-m", "urlsom_book.cli", "train",
           "--out", str(out), "--dataset", "digits", "--subset", "200", "--grid", "5", "5", "--widths", "8",
           "--blocks", "1", "--epochs", "1", "--batch-size", "64", "--device", "cpu", "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("config key") == 1 and "2 processes" in r.stdout  # rank 0 alone reports
    assert (out / "metrics.json").exists() and (out / "checkpoint.pt").exists()
    assert not list(out.glob(".*.tmp"))


def _anneal_rank(rank: int, world: int, store: str, out: str, agree: bool) -> None:
    """A budgeted, shrinking-sigma training on one rank whose clock runs (1 + rank) s per reading: the ranks
    disagree on how much of the budget is spent unless they agree on it (``agree``)."""
    try:
        torch.set_num_threads(1)
        torch.distributed.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
        import itertools

        import urlsom_core.train as T

        ticks = itertools.count()
        T.time.monotonic = lambda: float(next(ticks) * (1 + rank))
        if not agree:  # the control: each rank reads its own progress
            T.Trainer._progress = lambda self: self.cfg.train.progress(self.state.epoch, self.state.elapsed)
        cfg = RunConfig.from_dict({**CFG, "model": {**CFG["model"], "sigma": 2.0, "sigma_end": 0.5},
                                   "train": {**CFG["train"], "epochs": 100, "max_minutes": 1.0, "anneal_share": 0.5,
                                             "patience": 1000}})
        trainer = T.Trainer(cfg, _splits(), "cpu", progress=False, log=lambda s: None)
        res = trainer.fit()
        torch.save({"sigma": [r["sigma"] for r in res.history], "kernel": trainer.model.head.kernel.clone()},
                   f"{out}.{rank}")
        torch.distributed.destroy_process_group()
    except BaseException:  # noqa: BLE001 - report in the parent
        traceback.print_exc()
        os._exit(1)
    os._exit(0)


@pytest.mark.parametrize("agree", [True, False])
def test_every_rank_shrinks_sigma_alike(tmp_path, agree):
    out = tmp_path / "anneal"
    _fork_ranks(_anneal_rank, tmp_path / "store", str(out), agree)
    r0, r1 = (torch.load(f"{out}.{r}", weights_only=True) for r in range(2))
    assert len(set(r0["sigma"])) > 2  # it shrank over several epochs
    if agree:  # the same sigma on both ranks, epoch by epoch, and the same kernel at the end
        assert r0["sigma"] == r1["sigma"] and torch.equal(r0["kernel"], r1["kernel"])
    else:  # the control: with their own clocks the ranks disagree on sigma, and so on when early stopping may
        assert r0["sigma"] != r1["sigma"]  # count (patience is out of reach here, or one rank would stop alone)

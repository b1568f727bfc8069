"""The bench machinery at tiny sizes: every figure is computed and positive, the JSON carries provenance.
(Whether the numbers are fast is what ``urlsom bench`` itself reports, not a test.)"""

from __future__ import annotations

import json
import math

import pytest
import torch

from urlsom_book import bench, measure
from urlsom_book.cli import main
from urlsom_core.augment import Augment
from urlsom_core.per_sample import PerSampleViews


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_tiny_bench_computes_every_figure():
    with measure.threads(1):  # one intra-op thread: quick on a busy machine (the DataLoader still gets 1 worker)
        res = bench.run_bench(device="cpu", tiny=True, compile=False, log=lambda s: None)
    a = res["augment"]
    assert _positive(res["augment_speedup"]) and res["augment_speedup"] == a["augment_speedup"]
    assert a["augment_speedup"] == pytest.approx(a["ours_img_s"] / a["torchvision_img_s"])
    assert all(_positive(v) for v in [*a["ours_img_s_by_threads"].values(), *a["torchvision_img_s_by_workers"].values()])
    assert {r["net"] for r in res["train"]} == {"paper", "quick"}
    from urlsom_core.predict import cpu_bf16_native

    assert [r["amp"] for r in res["train"]] == ([False, True] * 2 if cpu_bf16_native() else [False] * 2)
    for r in res["train"]:
        assert _positive(r["img_s"]) and r["images_per_step"] == 2 * r["batch_pairs"]
        assert r["peak_bytes"] > 0  # eager rows measure memory (the profiler works on this torch)
    rows = res["loss"]["rows"]
    assert len(rows) == 4 and all(_positive(r["urlsom_ms"]) and _positive(r["ntxent_ms"]) for r in rows)
    assert all(r["ntxent_peak_bytes"] > 0 and r["urlsom_peak_bytes"] > 0 for r in rows)
    assert set(res["loss"]["growth_in_N"]) == {"10", "20"}
    e = res["epoch"]
    assert _positive(e["batched_epoch_seconds"]) and _positive(e["per_sample_epoch_seconds"])
    assert e["per_sample_over_batched"] == pytest.approx(e["per_sample_epoch_seconds"] / e["batched_epoch_seconds"])
    prov = res["provenance"]
    assert prov["device"] == "cpu" and prov["git_commit"] and prov["versions"]["torch"]
    assert "augment" in bench.format_table(res) and "NT-Xent" in bench.format_table(res)


def test_bf16_rows_only_where_the_cpu_has_it(monkeypatch):
    monkeypatch.setattr(bench, "cpu_bf16_native", lambda: False)
    with measure.threads(1):
        res = bench.run_bench(sections=("train",), device="cpu", tiny=True, compile=False, log=lambda s: None)
    assert [(r["net"], r["amp"]) for r in res["train"]] == [("paper", False), ("quick", False)]
    row = bench.bench_train("paper", torch.device("cpu"), amp=True, batch=4, steps=1, memory=False,
                            nets=bench._tiny_nets())  # asked for, it runs in bf16 on any CPU
    table = bench.format_table({"train": [row]}).splitlines()
    assert row["amp"] and _positive(row["img_s"]) and any(t.split()[:3] == ["paper", "eager", "yes"] for t in table)


def test_peak_memory_counts_what_a_block_allocates():
    with measure.PeakMemory(torch.device("cpu")) as m:
        a = torch.ones(1 << 20)  # 4 MiB, freed at once
        del a
        b = torch.ones(1 << 18)  # 1 MiB, alive at the end
    # None would mean the profiler's internals moved: the bench would report no memory, so this must fail
    assert m.peak is not None and (1 << 22) <= m.peak < (1 << 22) + (1 << 20) + 4096
    del b


def test_nt_xent_matches_a_plain_implementation():
    g = torch.Generator().manual_seed(0)
    x1, x2 = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    z = torch.nn.functional.normalize(torch.cat((x1, x2)), dim=1)
    sim = (z @ z.T / 0.5).tolist()
    total = 0.0
    for i in range(10):
        j = (i + 5) % 10
        den = sum(math.exp(sim[i][k]) for k in range(10) if k != i)
        total += -(sim[i][j] - math.log(den))
    assert float(bench.nt_xent(x1, x2)) == pytest.approx(total / 10, rel=1e-5)


def test_per_sample_baseline_gives_the_same_kind_of_views():
    aug = Augment(out_size=16, flip=True, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    x = torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8)
    v = PerSampleViews(aug)(x)
    ours = torch.cat((aug(x, torch.Generator().manual_seed(0)), aug(x, torch.Generator().manual_seed(1))))
    assert v.shape == ours.shape == (12, 3, 16, 16) and v.dtype == ours.dtype
    # both standardise [0, 1] images the same way: the same value range
    lo, hi = (0 - 0.5) / 0.25, (1 - 0.5) / 0.25
    assert v.min() >= lo - 1e-5 and v.max() <= hi + 1e-5 and ours.min() >= lo - 1e-5 and ours.max() <= hi + 1e-5


def test_cli_writes_json_with_provenance(tmp_path, capsys):
    out = tmp_path / "b.json"
    assert main(["bench", "--tiny", "--sections", "loss", "--device", "cpu", "--quiet", "--out", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["sections"] == ["loss"] and d["provenance"]["device"] == "cpu" and d["wall_seconds"] > 0
    assert "URL-SOM" in capsys.readouterr().out


@pytest.mark.parametrize("argv, word", [
    (["--sections", "augment,nope"], "--sections"),
    (["--batch", "0"], "--batch"),
    (["--compile-mode", "fast"], "--compile-mode"),
])
def test_cli_bad_input_is_one_line_exit_2_nothing_written(tmp_path, capsys, argv, word):
    out = tmp_path / "b.json"
    assert main(["bench", "--tiny", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("urlsom: error:") and word in err[0]
    assert not out.exists()


@pytest.mark.slow
def test_compiled_training_step_matches_eager_on_cpu():
    """torch.compile of the network (head included) on the two-view batch gives the eager step's loss."""
    from urlsom_core.config import RunConfig
    from urlsom_core.train import Trainer

    losses = []
    for compile in (False, True):
        cfg = RunConfig.from_dict({"model": {"grid": [5, 5], "widths": [8], "blocks": 1},
                                   "train": {"batch_size": 8, "compile": compile, "monitor_samples": 8}})
        trainer = Trainer(cfg, bench._synthetic(8, 3, 16), "cpu", progress=False, log=lambda s: None)
        assert (trainer.forward is not trainer.ddp_model) == compile
        trainer.model.train()
        losses.append([float(trainer.step(torch.arange(8), epoch=0)[0]) for _ in range(2)])
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)

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
    from urlsom_core.predict import cpu_bf16_native

    native = cpu_bf16_native()
    pk = res["peak"]
    assert set(pk["gflop_s"]) == ({"float32", "bfloat16"} if native else {"float32"}) and pk["threads"] == 1
    assert all(_positive(v) for v in pk["gflop_s"].values())
    assert [r["net"] for r in res["train"]] == [n for n in ("paper", "quick", "cpu") for _ in range(4 if native else 2)]
    combos = [(False, False), (False, True), (True, False), (True, True)] if native else [(False, False), (False, True)]
    assert [(r["amp"], r["channels_last"]) for r in res["train"]] == combos * 3
    assert set(res["flops_per_image"]) == {"paper", "quick", "cpu"}
    for r in res["train"]:
        assert _positive(r["img_s"]) and r["images_per_step"] == 2 * r["batch_pairs"] and r["batch_pairs"] == 4
        assert r["peak_bytes"] > 0  # eager rows measure memory (the profiler works on this torch)
        assert r["flops_per_image"] == res["flops_per_image"][r["net"]] and _positive(r["flops_per_image"])
        assert r["gflop_s"] == pytest.approx(r["img_s"] * r["flops_per_image"] / 1e9)
        assert r["peak_gflop_s"] == pk["gflop_s"][r["dtype"]] and _positive(r["peak_fraction"])
        assert r["peak_fraction"] == pytest.approx(r["gflop_s"] / r["peak_gflop_s"])
    bd = res["breakdown"]
    assert bd["net"] == "cpu" and bd["amp"] == native and bd["batch_pairs"] == 4
    assert set(bd["share"]) == {*bench.PHASES, "overhead"} and sum(bd["share"].values()) == pytest.approx(1.0)
    assert all(_positive(bd["seconds"][k]) for k in (*bench.PHASES, "step")) and _positive(bd["monitor_seconds"])
    ep = bd["epoch"]
    assert ep["images"] == bench.EPOCH_IMAGES and ep["steps"] == bench.EPOCH_IMAGES // 4
    assert 0 < ep["monitor_share"] < 1 and ep["seconds"] == pytest.approx(ep["steps"] * bd["seconds"]["step"]
                                                                          + bd["monitor_seconds"])
    rows = res["loss"]["rows"]
    assert len(rows) == 4 and all(_positive(r["urlsom_ms"]) and _positive(r["ntxent_ms"]) for r in rows)
    assert all(r["ntxent_peak_bytes"] > 0 and r["urlsom_peak_bytes"] > 0 for r in rows)
    assert set(res["loss"]["growth_in_N"]) == {"10", "20"}
    e = res["epoch"]
    assert _positive(e["batched_epoch_seconds"]) and _positive(e["per_sample_epoch_seconds"])
    assert e["per_sample_over_batched"] == pytest.approx(e["per_sample_epoch_seconds"] / e["batched_epoch_seconds"])
    prov = res["provenance"]
    assert prov["device"] == "cpu" and prov["git_commit"] and prov["versions"]["torch"]
    assert len(prov["load_average"]) == 3
    table = bench.format_table(res)
    for word in ("augment", "NT-Xent", "matrix-product peak", "of peak", "MFLOP/img", "NHWC", "optimizer (Adam)",
                 "overhead", "monitor", "10,000 images"):
        assert word in table, word
    json.dumps(res)  # the result file keeps it all


def test_bf16_rows_only_where_the_cpu_has_it(monkeypatch):
    monkeypatch.setattr(bench, "cpu_bf16_native", lambda: False)
    with measure.threads(1):
        res = bench.run_bench(sections=("peak", "train"), device="cpu", tiny=True, compile=False, log=lambda s: None)
    assert list(res["peak"]["gflop_s"]) == ["float32"]
    assert [(r["net"], r["amp"], r["channels_last"]) for r in res["train"]] == [
        (n, False, cl) for n in ("paper", "quick", "cpu") for cl in (False, True)]
    row = bench.bench_train("paper", torch.device("cpu"), amp=True, batch=4, steps=1, memory=False,
                            nets=bench._tiny_nets())  # asked for, it runs in bf16 on any CPU
    row = bench.with_flops(row, 1e6, res["peak"])  # no bf16 peak to read it against
    assert row["gflop_s"] == pytest.approx(row["img_s"] / 1e3) and row["peak_fraction"] is None
    table = bench.format_table({"train": [row]}).splitlines()
    assert row["amp"] and _positive(row["img_s"])
    assert any(t.split()[:4] == ["paper", "eager", "bfloat16", "NCHW"] and t.split()[9] == "-" for t in table)


def test_flops_per_image_is_the_hand_count_of_a_linear_layer():
    """y = x W^T + b on (B, 5) -> (B, 3): forward 2*5*3 FLOPs per row, backward the weight's gradient (the input
    needs none) another 2*5*3; the bias's gradient and the loss are sums, not counted."""
    lin = torch.nn.Linear(5, 3)
    for B in (4, 8):
        assert bench.flops_per_image(lin, torch.randn(B, 5), loss=lambda y: y.sum()) == 4 * 5 * 3
    assert lin.weight.grad is None  # gradients cleared
    conv = torch.nn.Conv2d(2, 4, 3, padding=1, bias=False)  # 2*C_in*k*k MACs->FLOPs per output, 4x6x6 outputs
    assert bench.flops_per_image(conv, torch.randn(2, 2, 6, 6), loss=lambda y: y.sum()) == 2 * (2 * 2 * 9 * 4 * 36)


def test_flops_per_image_of_a_net_does_not_depend_on_the_batch():
    nets = bench._tiny_nets()
    one, two = (bench.net_flops("cpu", torch.device("cpu"), pairs=p, nets=nets)["flops_per_image"] for p in (2, 4))
    assert _positive(one) and two == pytest.approx(one, rel=1e-9)  # twice the batch, twice the FLOPs


def test_the_phased_step_is_the_training_step():
    """The breakdown times :meth:`Trainer.step` itself through its ``lap`` hook, phase by phase in order, and the
    hook changes nothing it computes (same loss terms and weights as a twin stepped without it)."""
    idx = torch.arange(4)
    a, b = (bench._trainer("cpu", torch.device("cpu"), 4, 8, bench._tiny_nets(), monitor_samples=8) for _ in range(2))
    terms, laps = bench._phased_step(a, idx, epoch=0)
    assert torch.equal(terms, b.step(idx, epoch=0)) and tuple(laps) == tuple(bench.PHASES)
    assert all(v >= 0 for v in laps.values())
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True))


def test_channels_last_is_validated_and_keeps_every_stored_key():
    import hashlib

    from urlsom_core.config import KEY_NEUTRAL_DEFAULTS, ConfigError, RunConfig

    stored = {"channels_last": False, "compile": False}  # a config of a run trained before the auto defaults
    for cfg in (RunConfig().replace(**{"train.amp_cpu": False, **{f"train.{k}": v for k, v in stored.items()}}),
                RunConfig.from_dict({"model": {"widths": [8], "blocks": 1}, "train": {"amp_cpu": True, **stored}})):
        d = cfg.to_dict()
        assert d["train"]["channels_last"] is False
        del d["train"]["channels_last"]  # the config as written before the field existed
        del d["model"]["readout_refits"]  # nor this one (no prototype readout here: not in the key either)
        for (section, name), default in KEY_NEUTRAL_DEFAULTS.items():
            if name in d[section] and d[section][name] == default:
                del d[section][name]
        before = hashlib.sha256(json.dumps(d, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
        assert cfg.key() == before
        assert cfg.replace(**{"train.channels_last": True}).key() != before
        assert cfg.replace(**{"train.channels_last": "auto"}).key() != before
    with pytest.raises(ConfigError) as e:
        RunConfig.from_dict({"train": {"channels_last": "yes"}})
    assert str(e.value) == "channels_last 'yes': allowed are true, false or auto"
    with pytest.raises(ConfigError) as e:
        RunConfig.from_dict({"train": {"compile": "sometimes"}})
    assert str(e.value) == "compile 'sometimes': allowed are true, false or auto"


def test_channels_last_trains_in_that_layout_on_a_cpu():
    from urlsom_core.config import RunConfig
    from urlsom_core.train import uses_channels_last

    on, off = (RunConfig.from_dict({"train": {"channels_last": v}}) for v in (True, False))
    assert uses_channels_last(on, torch.device("cpu")) and not uses_channels_last(off, torch.device("cpu"))
    thin = RunConfig.from_dict({"model": {"widths": [16, 32, 64]}})
    assert uses_channels_last(thin, torch.device("cpu"))  # auto, the default: on for a network this thin
    assert uses_channels_last(off, torch.device("cuda"))  # CUDA trains channels-last as before
    idx, losses = torch.arange(4), []
    for cl in (False, True):
        t = bench._trainer("cpu", torch.device("cpu"), 4, 8, bench._tiny_nets(), monitor_samples=8, channels_last=cl)
        conv = next(m for m in t.model.modules() if isinstance(m, torch.nn.Conv2d))
        assert t.channels_last is cl
        assert conv.weight.is_contiguous(memory_format=torch.channels_last) is cl
        losses.append(t.step(idx, epoch=0))
    assert torch.allclose(losses[0], losses[1], rtol=1e-4, atol=1e-5)  # the same numbers up to rounding


def test_train_flag_channels_last():
    from urlsom_book import cli

    args = cli.build_parser().parse_args(["train", "--out", "x", "--dataset", "digits", "--device", "cpu",
                                          "--channels-last"])
    assert cli.resolve_args(args)[0].train.channels_last is True
    args = cli.build_parser().parse_args(["train", "--out", "x", "--dataset", "digits", "--device", "cpu"])
    assert cli.resolve_args(args)[0].train.channels_last == "auto"
    args = cli.build_parser().parse_args(["train", "--out", "x", "--dataset", "digits", "--device", "cpu",
                                          "--no-channels-last"])
    assert cli.resolve_args(args)[0].train.channels_last is False


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


def test_the_bench_says_which_rows_urlsom_train_uses_here(monkeypatch):
    from urlsom_core import train

    monkeypatch.setattr(train, "cpu_bf16_native", lambda: True)
    monkeypatch.setattr(train, "cxx_compiler", lambda: "g++")
    cpu = torch.device("cpu")
    got = {n: bench.default_modes(cpu, bench._net(n, None)[1]) for n in ("paper", "cpu")}
    assert bench._mode(got["cpu"]["no_budget"]) == "eager bfloat16 NHWC"
    assert bench._mode(got["cpu"]["budget"]) == "compiled bfloat16 NHWC"
    assert bench._mode(got["paper"]["no_budget"]) == "eager bfloat16 NCHW"  # 256 channels: the default layout
    text = bench.format_table({"default_mode": got, "train": []})
    assert "    cpu: eager bfloat16 NHWC; with --max-minutes 20: compiled bfloat16 NHWC" in text

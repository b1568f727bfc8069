"""The defaults rule of `urlsom train` (defaults.auto_defaults), how the CLI applies it, and the epoch-time line."""

import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import yaml

from urlsom_book import cli, profiles
from urlsom_core.config import ConfigError, RunConfig
from urlsom_core.data import DataConfig, DataShape, describe
from urlsom_core.defaults import (
    BUDGET_PATIENCE,
    BUDGET_TRAIN,
    CPU_SETTING,
    DATA_DEFAULTS,
    FEW_PER_NEURON,
    RULE,
    SMALL_MAP,
    WARMUP_KICK,
    auto_defaults,
    defaults_for,
    rule_choices,
    with_defaults,
)
from urlsom_core.train import TIMING_STEPS, Trainer, epoch_time_line

ROOT = Path(__file__).resolve().parents[1]


def _args(*argv):
    return cli.build_parser().parse_args(["train", "--out", "x", *argv])


def _rgb_npz(path, n=200, side=32):
    rng = np.random.default_rng(0)
    np.savez(path, images=rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8), labels=rng.integers(0, 3, n))
    return f"npz:{path}"


# ------------------------------------------------------------------------------------------- the rule
CHOICES = {c.name: c for c in RULE}


def _merged(*names):
    out: dict = {}
    for n in names:
        for sec, vals in CHOICES[n].sections.items():
            out.setdefault(sec, {}).update(vals)
    return out


@pytest.mark.parametrize("n, size, channels, device, rule, names", [
    (1437, 8, 1, "cpu", "few", ("network", "map", "order", "readout", "length")),  # scikit-learn digits: 1.6 a neuron
    (8000, 28, 1, "cpu", "cpu-many", ("network", "input", "map", "order", "readout", "length")),  # MNIST: 8.9
    (8000, 28, 1, "cuda", "paper", ()),                                         # the same on a GPU: the paper
    (8000, 32, 3, "cpu", "cpu-many", ("network", "map", "order", "readout", "length")),  # the CIFAR-10 subset
    (8000, 32, 1, "cpu", "cpu-many", ("network", "map", "order", "readout", "length")),  # gray, larger than 28 px
    (3600, 64, 3, "cpu", "cpu-many", ("network", "map", "order", "readout", "length")),  # 4.0 a neuron: many
    (3599, 64, 3, "cpu", "few", ("network", "map", "order", "readout", "length")),       # just below: few
    (3600, 64, 3, "cuda", "paper", ()),                                                 # many on a GPU: the paper's
    (300, 64, 1, "cuda", "few", ("network", "map", "order", "readout", "length")),     # few, on any device: the CPU's map
    (50000, 32, 3, "cuda", "paper", ()),                                              # the paper's own regime
])
def test_the_images_per_neuron_and_the_device_pick_the_choices(n, size, channels, device, rule, names):
    got = auto_defaults(n, size, channels, device, 2)
    assert got.rule == rule and tuple(c.name for c in rule_choices(n, size, channels, device)) == names
    assert got.sections == _merged(*names)
    assert f"rule {rule!r} for {n:,} images of {size} px, {channels} channel" in got.reason
    assert f"{n / 900:.1f} per neuron of 900" in got.reason and "\n" not in got.reason
    for c in rule_choices(n, size, channels, device):
        assert f"{c.name}: {c.reason}" in got.reason  # every choice with its reason


def test_the_grid_sets_the_images_per_neuron():
    assert auto_defaults(1437, 8, 1, "cpu", 1).rule == "few"
    got = auto_defaults(1437, 8, 1, "cpu", 1, n_neurons=100)  # a 10x10 map: 14.4 images a neuron
    assert got.rule == "cpu-many" and "14.4 per neuron of 100" in got.reason
    cfg, reason = cli.resolve_args(_args("--dataset", "digits", "--grid", "10", "10", "--device", "cpu"))
    assert "rule 'cpu-many'" in reason and cfg.model.kernel_gain == 32.0 and cfg.model.prototype_readout  # CPU
    assert FEW_PER_NEURON == 4.0


def test_the_choices_are_the_measured_settings():
    # the map: the CPU setting, at any number of images per neuron on a CPU and with few on a GPU; so are the
    # two readouts fitted after training
    assert CHOICES["readout"].sections == {"model": {"usage_balance": True, "prototype_readout": True}}
    assert CHOICES["order"].sections == {"model": {"sigma": 5.0, "sigma_end": 2.0}}  # the CPU map's sigma shrinks
    assert CHOICES["map"].sections == {"model": {"sigma": 2.0, "kernel_gain": 32.0}, "train": CPU_SETTING["train"]}
    assert _merged("network", "map") == CPU_SETTING  # the CPU setting, the book's CIFAR-10 CPU profile's
    assert CHOICES["network"].sections == {"model": {"widths": (16, 32, 64), "blocks": 1}}
    assert CHOICES["input"].sections == {"data": {"input_size": 16}}
    # the book's digits runs (DATA_DEFAULTS, with a config file) keep the torus the rule had for few images
    assert DATA_DEFAULTS["digits"]["model"] == {"widths": (16, 32, 64), "blocks": 1, **SMALL_MAP}
    assert DATA_DEFAULTS["digits"]["train"] == {"epochs": 100, "batch_size": 64, **WARMUP_KICK}
    # CPU_SETTING is still the book's CIFAR-10 CPU profile's
    tuned = yaml.safe_load((ROOT / "bench/configs/cifar10_cpu.yaml").read_text())
    for section in ("model", "train"):
        want = {k: v for k, v in tuned[section].items() if k not in ("grid", "epochs", "max_minutes")}
        got = RunConfig.from_dict({section: CPU_SETTING[section]}).to_dict()[section]
        exp = RunConfig.from_dict({section: want}).to_dict()[section]
        assert {k: got[k] for k in want} == {k: exp[k] for k in want}
        assert set(CPU_SETTING[section]) == set(want)


def test_budget_and_threads_are_named_the_threads_not_used():
    a = auto_defaults(10000, 32, 3, "cpu", 2, 20.0)
    b = auto_defaults(10000, 32, 3, "cpu", 16, 20.0)
    assert a.sections == b.sections
    assert "10,000 images" in a.reason and "2 CPU threads" in a.reason and "--max-minutes 20" in a.reason
    assert "1 CPU thread," not in b.reason and "16 CPU threads" in b.reason
    assert "a GPU" in auto_defaults(10, 32, 3, "cuda", 1).reason


@pytest.mark.parametrize("n, size, channels, device", [(1437, 8, 1, "cpu"), (8000, 28, 1, "cpu"), (300, 32, 3, "cuda")])
def test_a_budget_ends_training_where_the_rule_sets_the_length(n, size, channels, device):
    # with --max-minutes the rule's runs train until the budget (or 30 epochs without progress) ends them
    got = auto_defaults(n, size, channels, device, 1, 20.0)
    free = auto_defaults(n, size, channels, device, 1)
    assert got.sections["train"] == {**free.sections["train"], **BUDGET_TRAIN, "patience": 30, **BUDGET_PATIENCE}
    assert {s: v for s, v in got.sections.items() if s != "train"} == {s: v for s, v in free.sections.items() if s != "train"}
    assert "train.epochs 300" in got.reason and "train.patience 30" in got.reason
    assert free.sections["train"]["epochs"] == 100 and "patience" not in free.sections["train"]
    paper = auto_defaults(50000, 32, 3, "cuda", 1, 20.0)  # the paper's length, waiting longer and watching the map
    assert paper.sections == {"train": {"patience": 30, **BUDGET_PATIENCE}}


def test_a_budget_flag_reaches_the_rule_and_flags_still_win():
    cfg, reason = cli.resolve_args(_args("--dataset", "digits", "--holdout", "0.2", "--max-minutes", "20", "--device", "cpu"))
    assert (cfg.train.epochs, cfg.train.patience, cfg.train.max_minutes) == (300, 30, 20.0)
    assert "--max-minutes 20" in reason
    cfg, _ = cli.resolve_args(_args("--dataset", "digits", "--max-minutes", "20", "--epochs", "50", "--device", "cpu"))
    assert (cfg.train.epochs, cfg.train.patience) == (50, 30)
    assert cfg.train.patience_on == "map"  # a budget: early stopping watches the map too
    cfg, _ = cli.resolve_args(_args("--dataset", "digits", "--max-minutes", "20", "--patience-on", "loss",
                                    "--device", "cpu"))
    assert cfg.train.patience_on == "loss"  # the flag wins
    cfg, _ = cli.resolve_args(_args("--dataset", "digits", "--device", "cpu"))
    assert (cfg.train.epochs, cfg.train.patience, cfg.train.max_minutes) == (100, 10, None)
    assert cfg.train.patience_on == "loss"  # no budget: the paper's early stopping


def test_no_row_sets_precision_or_layout_the_machine_does():
    for n, size, channels, kind in [(10000, 32, 3, "cpu"), (1437, 8, 1, "cpu"), (8000, 28, 1, "cpu"),
                                    (10000, 32, 3, "cuda")]:
        got = auto_defaults(n, size, channels, kind, 2, 20.0, cpu_bf16=True)
        assert not {"amp_cpu", "channels_last", "compile"} & set(got.sections.get("train", {}))
        assert ("2 CPU threads with native bf16" in got.reason) is (kind == "cpu")
    assert auto_defaults(10000, 32, 3, "cpu", 2, 20.0, cpu_bf16=True).sections["train"] == {
        **CPU_SETTING["train"], **BUDGET_TRAIN, "patience": 30, **BUDGET_PATIENCE}


def test_the_cli_leaves_the_mode_to_the_machine_and_a_flag_wins(tmp_path, monkeypatch):
    import torch

    from urlsom_core import train

    spec = _rgb_npz(tmp_path / "rgb.npz")
    cpu = torch.device("cpu")
    for native in (True, False):
        monkeypatch.setattr(train, "cpu_bf16_native", lambda native=native: native)
        cfg, reason = cli.resolve_args(_args("--dataset", spec, "--device", "cpu"))
        assert (cfg.train.amp_cpu, cfg.train.channels_last) == ("auto", "auto")
        mode = train.training_mode(cfg, cpu)
        assert (mode.bf16, mode.channels_last, mode.compiled) == (native, True, False)
        assert ("this CPU computes bf16 natively" in mode.line) is native
    monkeypatch.setattr(train, "cpu_bf16_native", lambda: True)
    cfg, _ = cli.resolve_args(_args("--dataset", spec, "--device", "cpu", "--no-amp-cpu", "--no-channels-last"))
    assert (cfg.train.amp_cpu, cfg.train.channels_last) == (False, False)
    mode = train.training_mode(cfg, cpu)
    assert (mode.bf16, mode.channels_last) == (False, False)
    assert mode.line == ("training mode: float32 (train.amp_cpu false), default layout (train.channels_last false), "
                         "eager (train.compile auto: no time budget of at least 5 min)")
    monkeypatch.setattr(train, "cpu_bf16_native", lambda: False)
    cfg, _ = cli.resolve_args(_args("--dataset", "digits", "--device", "cpu", "--amp-cpu"))
    assert cfg.train.amp_cpu is True and train.training_mode(cfg, cpu).bf16  # asked for: emulated, and said so
    assert "emulated" in train.training_mode(cfg, cpu).line
    assert train.training_mode(cfg, torch.device("cuda")).line.startswith("training mode: bf16 autocast (train.amp)")


def test_sections_are_copies():
    auto_defaults(10, 8, 1, "cpu", 1).sections["model"]["blocks"] = 7
    assert DATA_DEFAULTS["digits"]["model"]["blocks"] == 1 and CHOICES["network"].sections["model"]["blocks"] == 1


@pytest.mark.parametrize("kwargs, msg", [
    ({"n_images": 0}, "n_images 0: allowed is an integer >= 1"),
    ({"channels": 4}, "channels 4: allowed are 1 (gray) or 3 (colour)"),
    ({"device_kind": "tpu"}, "device kind 'tpu': allowed are cpu, cuda"),
    ({"threads": 0}, "threads 0: allowed is an integer >= 1"),
    ({"max_minutes": -1.0}, "max_minutes -1.0: allowed is > 0 or none"),
    ({"n_neurons": 0}, "n_neurons 0: allowed is an integer >= 1"),
])
def test_bad_inputs(kwargs, msg):
    args = {"n_images": 10, "size": 8, "channels": 1, "device_kind": "cpu", "threads": 1, **kwargs}
    with pytest.raises(ConfigError, match=re.escape(msg)):
        auto_defaults(**args)


# ------------------------------------------------------------------------------------ describe the data
def test_describe(tmp_path):
    assert describe(DataConfig("digits", holdout=0.2)) == DataShape(1437, 8, 1)  # 360 of 1,797 held out (stratified)
    assert describe(DataConfig(_rgb_npz(tmp_path / "a.npz"), subset=50)) == DataShape(50, 32, 3)
    assert describe(DataConfig("cifar10:" + str(tmp_path / "none"))) == DataShape(60000, 32, 3)  # nothing downloaded
    assert not (tmp_path / "none").exists()


# ------------------------------------------------------------------------------------ the CLI applies it
def test_digits_get_the_cpu_map_the_usage_balance_and_the_readout_on_any_device(monkeypatch):
    today = RunConfig.from_dict({"data": {"dataset": "digits"},
                                 "model": {**CPU_SETTING["model"], "usage_balance": True, "prototype_readout": True,
                                           "sigma": 5.0, "sigma_end": 2.0},  # few a neuron: the shrinking sigma
                                 "train": {**CPU_SETTING["train"], "epochs": 100}})
    assert cli.config_from_args(_args("--dataset", "digits", "--device", "cpu")) == today
    assert cli.config_from_args(_args("--dataset", "digits", "--device", "cuda")) == today  # 1.6 a neuron: few
    assert today.model.readout_refits == 0  # the readout without a refit (readouts module docstring)
    again = cli.config_from_args(_args("--dataset", "digits", "--device", "cpu", "--readout-refits", "1"))
    assert again == today.replace(**{"model.readout_refits": 1})
    # a config file keeps the dataset kind's defaults (the torus the book's digits runs read), without the rule
    assert with_defaults("digits", {})["model"]["boundary"] == "circular"


def _mnist_like(root, n=40):
    root.mkdir()
    rng = np.random.default_rng(0)
    for name, arr in (("t10k-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28))),
                      ("t10k-labels-idx1-ubyte", rng.integers(0, 10, n))):
        a = np.asarray(arr, dtype=np.uint8)
        (root / name).write_bytes(struct.pack(">HBB", 0, 8, a.ndim) + struct.pack(">" + "I" * a.ndim, *a.shape) + a.tobytes())
    return f"mnist:{root}"


def test_mnist_sized_gray_images_go_in_at_16_px_on_a_cpu(tmp_path):
    spec = _mnist_like(tmp_path / "mnist")
    cfg, reason = cli.resolve_args(_args("--dataset", spec, "--device", "cpu"))
    assert reason.startswith("defaults: rule 'few' for 40 images of 28 px, 1 channel")
    assert cfg.data.input_size == 16 and cfg.model.prototype_readout  # 40 images on 900 neurons: few
    cfg, _ = cli.resolve_args(_args("--dataset", spec, "--device", "cpu", "--grid", "3", "3"))
    assert cfg.data.input_size == 16 and cfg.model.prototype_readout  # 4.4 a neuron: many, on a CPU still read out
    cfg, _ = cli.resolve_args(_args("--dataset", spec, "--device", "cuda", "--grid", "3", "3"))
    assert cfg == RunConfig.from_dict({"data": {"dataset": spec}, "model": {"grid": [3, 3]}})  # the paper's


def test_the_profiles_do_not_use_the_rule():
    paper = profiles.load_profile("paper").runs["cifar10"].config()  # CIFAR-10, built here on a CPU
    assert (paper.model.widths, paper.model.blocks, paper.train.batch_size, paper.model.kernel_gain) == ((16, 48, 256), 3, 256, 8.0)
    for section, values in CPU_SETTING.items():
        for k, v in values.items():
            assert getattr(getattr(paper, section), k) != v, f"{section}.{k}"


def test_cpu_many_and_flags_win(tmp_path):
    spec = _rgb_npz(tmp_path / "rgb.npz")
    cfg, reason = cli.resolve_args(_args("--dataset", spec, "--device", "cpu", "--grid", "4", "4", "--batch-size", "32",
                                         "--sigma", "3"))
    assert (cfg.model.widths, cfg.model.blocks, cfg.model.kernel_gain, cfg.train.gamma) == ((16, 32, 64), 1, 32.0, 1.0)
    assert (cfg.model.boundary, cfg.model.kernel_norm, cfg.train.warmup_collapse_epochs) == ("zeros", "sum", 0)
    assert cfg.train.lr_schedule == ((0, 1e-4), (1, 5e-4), (2, 1e-3))
    assert (cfg.train.batch_size, cfg.model.sigma, cfg.model.sigma_end) == (32, 3.0, None)
    assert reason.startswith("defaults: rule 'cpu-many' for 200 images of 32 px, 3 channels, 12.5 per neuron of 16")
    assert reason.endswith("given on the command line: model.sigma, train.batch_size; with model.sigma given, the "
                           "filter stays fixed (--sigma-end to shrink it)")


def test_gpu_gets_the_paper(tmp_path):
    spec = _rgb_npz(tmp_path / "rgb.npz")
    cfg, reason = cli.resolve_args(_args("--dataset", spec, "--device", "cuda", "--grid", "4", "4"))
    assert cfg == RunConfig.from_dict({"data": {"dataset": spec}, "model": {"grid": [4, 4]}})
    assert "rule 'paper'" in reason


def test_config_file_keeps_its_meaning(tmp_path):
    spec = _rgb_npz(tmp_path / "rgb.npz")
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump({"data": {"dataset": spec}, "model": {"sigma": 4.0}}))
    cfg, reason = cli.resolve_args(_args("--config", str(f), "--device", "cpu"))
    assert reason is None
    assert cfg == RunConfig.from_dict(with_defaults(spec, {"data": {"dataset": spec}, "model": {"sigma": 4.0}}))
    assert defaults_for(spec) == {}


def test_bad_dataset_is_one_line(tmp_path, capsys):
    assert cli.main(["train", "--out", str(tmp_path / "r"), "--dataset", f"npz:{tmp_path}/missing.npz"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err
    assert not (tmp_path / "r").exists()


def test_train_prints_the_rule_once_and_records_it(tmp_path, capsys):
    spec = _rgb_npz(tmp_path / "rgb.npz")
    out = tmp_path / "run"
    assert cli.main(["train", "--out", str(out), "--dataset", spec, "--device", "cpu", "--grid", "4", "4",
                     "--epochs", "1", "--quiet"]) == 0
    err = capsys.readouterr().err.splitlines()
    rule = [s for s in err if s.startswith("defaults: ")]
    assert len(rule) == 1 and "rule 'cpu-many'" in rule[0]
    assert sum(s.startswith("epoch time ~") for s in err) == 1  # --quiet drops the bar, not these lines
    saved = json.loads((out / "config.json").read_text())
    assert saved["defaults_rule"] == rule[0] and saved["config"]["model"]["kernel_gain"] == 32.0
    assert json.loads((out / "manifest.json").read_text())["defaults_rule"] == rule[0]


# ---------------------------------------------------------------------------------------- epoch time
def test_epoch_time_line_without_budget():
    line = epoch_time_line(0.5, 5, 20, 3, 5, now=0.0)
    # 10 s an epoch; 3 epochs less the 5 steps done: 27.5 s
    assert line.startswith("epoch time ~10.0 s (measured over 5 steps of 20); 3 epochs -> expected end ")
    assert "(in about 28 s; sooner if early stopping ends it)" in line


def test_epoch_time_line_of_a_tiny_epoch_is_not_zero():
    # 12 steps of 4 ms: an idle machine trains the tests' tiny maps this fast
    assert epoch_time_line(0.004, 5, 12, 1, 5, now=0.0).startswith("epoch time ~0.048 s (measured over 5 steps of 12)")
    assert epoch_time_line(0.01, 5, 12, 1, 5, now=0.0).startswith("epoch time ~0.1 s")  # 0.12 s


def test_epoch_time_line_budget_ends_it():
    line = epoch_time_line(7.0, 5, 5, 500, 5, budget_seconds=1165.0, max_minutes=20.0, now=0.0)
    assert "500 epochs would take about 4.9 h: the 20-minute budget ends training at" in line
    assert line.endswith("(in about 19 min), after about 34 epochs")
    short = epoch_time_line(3.6, 5, 15, 500, 5, budget_seconds=27.0, max_minutes=0.75, now=0.0)
    assert re.search(r"the 0.75-minute budget ends training at \d\d:\d\d \(in about 27 s\), before the first epoch ends$", short)


@pytest.mark.parametrize("step, steps, first, measured", [(0, 12, 1, TIMING_STEPS), (0, 3, 1, 2), (11, 12, 11, 1)])
def test_step_clock_skips_one_warm_up_step(step, steps, first, measured):
    from urlsom_core.train import _StepClock

    syncs: list[int] = []
    clock = _StepClock(step, steps, lambda: syncs.append(1))
    assert (clock.first, clock.measured) == (first, measured)
    done = [clock.done(k) for k in range(step + 1, steps + 1)]
    assert done.index(True) == first + measured - step - 1 and clock.seconds >= 0
    assert len(syncs) == (2 if first > step else 1) + done.count(True) - 1


def test_trainer_logs_the_epoch_time_once():
    cfg = RunConfig.from_dict({"model": {"grid": [4, 4], "widths": [8], "blocks": 1},
                               "data": {"dataset": "digits", "subset": 200}, "train": {"epochs": 1, "batch_size": 16}})
    from urlsom_core.data import resolve

    logs: list[str] = []
    Trainer(cfg, resolve(cfg.data), device="cpu", progress=False, log=logs.append).fit()
    lines = [s for s in logs if s.startswith("epoch time")]
    assert len(lines) == 1
    m = re.match(r"epoch time ~([\d.]+) s \(measured over (\d+) steps of 12\); 1 epoch -> expected end \d\d:\d\d", lines[0])
    assert m and int(m.group(2)) == TIMING_STEPS and float(m.group(1)) > 0


# ------------------------------------------------------------------- the same images, npz and folder
def _same_images(tmp_path):
    """200 digits as an ImageFolder of PNGs and as an npz holding the folder's images in its sorted order."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    x, y = (d.images[:200] * 16).clip(0, 255).astype(np.uint8), d.target[:200]
    for i in range(len(y)):
        (tmp_path / "folder" / str(y[i])).mkdir(parents=True, exist_ok=True)
        Image.fromarray(x[i], mode="L").save(tmp_path / "folder" / str(y[i]) / f"{i:04d}.png")
    order = sorted(range(len(y)), key=lambda i: (str(y[i]), f"{i:04d}"))  # ImageFolder's sorted members
    np.savez(tmp_path / "same.npz", images=x[order], labels=y[order])
    return f"imagefolder:{tmp_path / 'folder'}", f"npz:{tmp_path / 'same.npz'}"


def test_npz_and_folder_give_the_same_defaults_and_result(tmp_path):
    from urlsom_core.runs import train_run

    folder, npz = _same_images(tmp_path)
    flags = ["--device", "cpu", "--grid", "5", "5", "--epochs", "2", "--holdout", "0.2"]
    (cf, rf), (cn, rn) = (cli.resolve_args(_args("--dataset", s, *flags)) for s in (folder, npz))
    assert rf == rn and "rule 'cpu-many' for 160 images of 8 px, 1 channel, 6.4 per neuron of 25" in rf
    assert cf.replace(**{"data.dataset": npz}) == cn
    a = train_run(cf, tmp_path / "a", device="cpu", progress=False, log=lambda s: None)
    b = train_run(cn, tmp_path / "b", device="cpu", progress=False, log=lambda s: None)
    skip = {"train_seconds", "provenance", "config_key"}
    assert {k: v for k, v in a.metrics.items() if k not in skip} == {k: v for k, v in b.metrics.items() if k not in skip}
    assert a.metrics["epochs_trained"] == 2 and "heldout_neural_selectivity" in a.metrics
    for name, arr in a.assignments().items():
        np.testing.assert_array_equal(arr, b.assignments()[name])


def test_readme_and_book_list_every_choice():
    for doc in ("README.md", "book/reproduce.md"):
        text = (ROOT / doc).read_text()
        for c in RULE:
            assert f"| {c.name} | {c.when} |" in text, (doc, c.name)


def test_the_rule_shrinks_the_filter_on_a_cpu_and_flags_override_it(tmp_path):
    spec = _mnist_like(tmp_path / "mnist")
    for grid in (["3", "3"], ["30", "30"]):  # many and few images per neuron
        def _a(*argv, grid=grid):
            return cli.build_parser().parse_args(["train", "--out", "x", "--grid", *grid, "--dataset", spec,
                                                  "--device", "cpu", *argv])

        cfg, reason = cli.resolve_args(_a())
        assert (cfg.model.sigma, cfg.model.sigma_end) == (5.0, 2.0)  # the rule's "order": sigma 5 shrinking to 2
        assert "readout:" in reason and "order:" in reason  # on a CPU at any images per neuron
        cfg, reason = cli.resolve_args(_a("--sigma", "1"))  # a sigma given alone: a fixed filter, on any grid
        assert (cfg.model.sigma, cfg.model.sigma_end) == (1.0, None)
        assert "the filter stays fixed" in reason
        cfg, _ = cli.resolve_args(_a("--filter", "student"))
        assert cfg.model.sigma_end is None
        assert cli.resolve_args(_a("--sigma-end", "none"))[0].model.sigma_end is None
        cfg, _ = cli.resolve_args(_a("--sigma", "3", "--sigma-end", "1"))
        assert (cfg.model.sigma, cfg.model.sigma_end) == (3.0, 1.0)
        cfg, _ = cli.resolve_args(_a("--sigma-end", "2"))
        assert cfg.model.sigma_end == 2.0 and cfg.model.sigma >= 2.0


def test_a_budget_makes_every_row_watch_the_map():
    for n, size, channels, device in [(1437, 8, 1, "cpu"), (8000, 28, 1, "cpu"), (10000, 32, 3, "cpu"),
                                      (10000, 32, 3, "cuda")]:
        got = auto_defaults(n, size, channels, device, 2, 15.0)
        assert got.sections["train"]["patience_on"] == "map" and "train.patience_on map" in got.reason
        assert "patience_on" not in auto_defaults(n, size, channels, device, 2).sections.get("train", {})


def test_compile_auto_needs_a_cpu_one_process_a_compiler_and_a_budget(monkeypatch):
    import torch

    from urlsom_core import train
    from urlsom_core.config import COMPILE_MIN_MINUTES, RunConfig

    cpu = torch.device("cpu")
    monkeypatch.setattr(train, "cxx_compiler", lambda: "g++")
    budget = RunConfig.from_dict({"train": {"max_minutes": COMPILE_MIN_MINUTES}})
    m = train.training_mode(budget, cpu)
    assert m.compiled and "torch.compile default (train.compile auto: a budget of 5 min and the C++ compiler g++)" in m.line
    assert not train.training_mode(budget.replace(**{"train.max_minutes": 4.9}), cpu).compiled
    assert not train.training_mode(RunConfig(), cpu).compiled  # no budget
    assert not train.training_mode(budget, cpu, world=2).compiled
    assert not train.training_mode(budget, torch.device("cuda")).compiled
    assert not train.training_mode(budget.replace(**{"train.compile": False}), cpu).compiled
    assert train.training_mode(RunConfig.from_dict({"train": {"compile": True}}), cpu).compiled  # asked for
    monkeypatch.setattr(train, "cxx_compiler", lambda: None)
    m = train.training_mode(budget, cpu)
    assert not m.compiled and m.line.endswith("eager (train.compile auto: no C++ compiler on the PATH)")
    cfg, _ = cli.resolve_args(_args("--dataset", "digits", "--device", "cpu", "--no-compile"))
    assert cfg.train.compile is False


def test_a_failing_automatic_compile_trains_eager(monkeypatch):
    import torch

    from urlsom_core import train
    from urlsom_core.config import RunConfig
    from urlsom_core.data import resolve

    monkeypatch.setattr(train, "cxx_compiler", lambda: "g++")

    def broken(module, mode=None):
        def call(*a, **k):
            raise RuntimeError("no compiler after all")
        return call

    monkeypatch.setattr(torch, "compile", broken)
    cfg = RunConfig.from_dict({"model": {"grid": [4, 4], "widths": [8], "blocks": 1},
                               "data": {"dataset": "digits", "subset": 64},
                               "train": {"epochs": 1, "batch_size": 16, "max_minutes": 10}})
    logs: list[str] = []
    tr = train.Trainer(cfg, resolve(cfg.data), device="cpu", progress=False, log=logs.append)
    assert tr.mode.compiled
    assert torch.isfinite(tr.step(torch.arange(16), epoch=0)).all()
    assert not tr.mode.compiled and "eager after a failed torch.compile" in tr.mode.line
    assert len(logs) == 1 and logs[0].startswith("warning: torch.compile failed on the first step (RuntimeError: no "
                                                 "compiler after all); training eager")
    asked = cfg.replace(**{"train.compile": True})  # asked for: the error is the user's to see
    tr = train.Trainer(asked, resolve(cfg.data), device="cpu", progress=False, log=logs.append)
    with pytest.raises(RuntimeError):
        tr.step(torch.arange(16), epoch=0)


def test_channels_last_auto_follows_the_networks_width():
    import torch

    from urlsom_core import train
    from urlsom_core.config import RunConfig

    cpu = torch.device("cpu")
    thin = RunConfig.from_dict({"model": {"widths": [16, 32, 64]}})
    wide = RunConfig()  # the paper's ResNet-20, 16/48/256
    assert train.training_mode(thin, cpu).channels_last
    assert "train.channels_last auto: widest stage 64 <= 128 channels" in train.training_mode(thin, cpu).line
    assert not train.training_mode(wide, cpu).channels_last
    assert "widest stage 256 > 128 channels" in train.training_mode(wide, cpu).line
    assert train.training_mode(wide.replace(**{"train.channels_last": True}), cpu).channels_last  # asked for
    assert train.training_mode(wide, torch.device("cuda")).channels_last  # CUDA: always

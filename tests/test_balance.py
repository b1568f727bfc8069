"""The usage-balancing bias: a pure function on constructed logit fields, the readout that applies it beside the
head (which carries none of it), and a run that fits it, keeps the network's own figures first and the map as
read out beside them, and reloads to the same winners."""

import json
import re

import numpy as np
import pytest
import torch

from urlsom_core.config import ConfigError, ModelConfig, RunConfig
from urlsom_core.model import SOMHead
from urlsom_core.readouts import Readout, usage_bias


def _ramp(N=300, n=30, seed=0):
    """Rows are bumps on a line of n neurons whose centres crowd at the low end (a map that uses few neurons)."""
    g = torch.Generator().manual_seed(seed)
    centres = (torch.rand(N, generator=g) ** 3) * (n - 1)  # (N,) most near 0
    j = torch.arange(n, dtype=torch.float32)
    return -((j[None, :] - centres[:, None]) ** 2) / 8.0  # (N, n) peak at each row's centre


def test_balancing_spreads_winners_over_the_neurons():
    z = _ramp()
    before = torch.bincount(z.argmax(1), minlength=30)
    b = usage_bias(z)
    after = torch.bincount((z + b).argmax(1), minlength=30)
    assert before.min() == 0 and before.max() > 2 * 300 / 30 * 4  # crowded: the test's premise
    assert (after > 0).sum() == 30  # every neuron wins
    assert after.max() <= before.max() / 2  # the crowded neuron gives away more than half


def test_balancing_keeps_the_order_of_the_line():
    """The bias moves winners by a neuron or so: a row's winner stays near its own peak, in the same order."""
    z = _ramp()
    w0, w1 = z.argmax(1).numpy(), (z + usage_bias(z)).argmax(1).numpy()
    order = np.argsort(w0, kind="stable")
    assert np.all(np.diff(w1[order]) >= -3)  # monotone up to small local swaps


def test_zero_iterations_is_the_zero_bias_and_a_balanced_field_stays_put():
    z = _ramp()
    assert torch.equal(usage_bias(z, iters=0), torch.zeros(30))
    eye = torch.eye(6).repeat(3, 1)  # 18 rows, each neuron already wins 3
    assert torch.equal((eye + usage_bias(eye)).argmax(1), eye.argmax(1))


def test_bias_scales_with_the_logits_and_ignores_a_per_row_offset():
    z = _ramp()
    b = usage_bias(z)
    torch.testing.assert_close(usage_bias(4.0 * z), 4.0 * b, rtol=1e-5, atol=1e-5)
    shifted = z + torch.linspace(-5, 5, len(z))[:, None]  # a constant per row changes no row's argmax
    torch.testing.assert_close(usage_bias(shifted), b, rtol=0, atol=1e-3)  # float32 rows, float64 updates


@pytest.mark.parametrize("shape", [(5,), (1, 4), (4, 1)])
def test_bad_shapes_are_named(shape):
    with pytest.raises(ValueError, match=r"allowed is \(N, n\) with N >= 2 and n >= 2"):
        usage_bias(torch.zeros(shape))


def test_the_head_carries_no_bias_and_the_readout_adds_it_before_the_softmax():
    plain = SOMHead(8, ModelConfig(grid=(4, 4), sigma=1.0))
    torch.manual_seed(0)
    balanced = SOMHead(8, ModelConfig(grid=(4, 4), sigma=1.0, usage_balance=True, prototype_readout=True))
    assert set(balanced.state_dict()) == set(plain.state_dict()) == {"proj.weight", "proj.bias", "kernel"}
    balanced.load_state_dict(plain.state_dict())
    h = torch.randn(5, 8)
    torch.testing.assert_close(balanced(h), plain(h))  # the readout options change nothing in the head
    bias = torch.linspace(0, 1, 16)
    torch.testing.assert_close(Readout((4, 4), False, bias=bias).softmax(plain.logits(h)),
                               torch.softmax(plain.logits(h) + bias, dim=1))
    torch.testing.assert_close(Readout((4, 4), False, bias=torch.zeros(16)).softmax(plain.logits(h)), plain(h),
                               rtol=0, atol=0)


@pytest.mark.parametrize("kw, message", [
    ({}, "neither a bias nor prototypes; allowed is at least one"),
    ({"bias": torch.zeros(15)}, r"bias of shape \(15,\): allowed is \(16,\) for grid \(4, 4\)"),
    ({"prototypes": torch.zeros(16, 3)}, "prototypes and counts go together"),
    ({"prototypes": torch.zeros(9, 3), "counts": torch.zeros(9)}, r"allowed is \(n, d\) and \(n,\) with n = 16"),
])
def test_a_bad_readout_state_is_named(kw, message):
    with pytest.raises(ValueError, match=message):
        Readout((4, 4), False, **kw)


def test_option_is_key_neutral_off_and_checked():
    plain = RunConfig.from_dict({})
    assert RunConfig.from_dict({"model": {"usage_balance": False}}).key() == plain.key()
    assert RunConfig.from_dict({"model": {"usage_balance": True}}).key() != plain.key()
    with pytest.raises(ConfigError, match="usage_balance 'yes': allowed is true or false"):
        RunConfig.from_dict({"model": {"usage_balance": "yes"}})


@pytest.fixture(scope="module")
def balanced_run(tmp_path_factory):
    from urlsom_core.runs import train_run

    cfg = RunConfig.from_dict({
        "data": {"dataset": "digits", "holdout": 0.2, "subset": 300},
        "model": {"grid": [6, 6], "widths": [8], "blocks": 1, "usage_balance": True},
        "train": {"epochs": 2, "batch_size": 32},
    })
    lines = []
    out = tmp_path_factory.mktemp("balanced") / "run"
    return train_run(cfg, out, device="cpu", progress=False, log=lines.append), out, lines


FIGURES = {"neural_selectivity", "neural_selectivity_per_neuron", "active_neurons", "n_neurons",
           "heldout_neural_selectivity", "heldout_active_neurons", "heldout_on_dead", "topographic_error", "contiguity",
           "contiguity_shuffled", "trustworthiness", "nmi", "ari", "corner_over_representation",
           "border_over_representation", "live_share", "usage_evenness", "output_spread"}


def test_a_balanced_run_leads_with_the_network_and_reloads_to_its_winners(balanced_run):
    from urlsom_core.metrics import heldout_neural_selectivity, neural_selectivity, usage_metrics
    from urlsom_core.readouts import READOUT_FILE
    from urlsom_core.runs import Run

    run, out, lines = balanced_run
    m = json.loads((out / "metrics.json").read_text())
    read = m["readout"]
    # the network's own figures (the paper's map) at the top level, the map as read out beside them, both whole
    assert FIGURES <= set(m) and FIGURES <= set(read) and "usage_balance" not in m
    assert read["usage_balance"] is True and read["prototype_readout"] is False and "bias_only" not in read
    assert read["active_neurons"] >= m["active_neurons"]
    a = run.assignments()
    net, ro = a["winner"], a["readout_winner"]
    assert net.shape == ro.shape and np.unique(net).size == m["active_neurons"] and np.unique(ro).size == read["active_neurons"]
    assert neural_selectivity(net, a["label"], 36)["neural_selectivity"] == pytest.approx(m["neural_selectivity"])
    assert neural_selectivity(ro, a["label"], 36)["neural_selectivity"] == pytest.approx(read["neural_selectivity"])
    assert heldout_neural_selectivity(ro, a["label"], a["readout_heldout_winner"], a["heldout_label"], 36) == \
        pytest.approx(read["heldout_neural_selectivity"])
    assert usage_metrics(net, (6, 6))["live_share"] == pytest.approx(m["live_share"])
    assert any(line.startswith("usage balance: a bias fitted on 240 training images") for line in lines)
    # the fitted bias lives in its own file, hashed with the run; the model carries none of it
    manifest = json.loads((out / "manifest.json").read_text())
    assert READOUT_FILE in manifest["files"] and run.readout().bias.abs().sum() > 0
    model = Run.load(out).load_model()
    assert not any("usage_bias" in k for k in model.state_dict())
    again = run.predict(run.splits().train)
    for key in ("winner", "top2", "readout_winner", "readout_top2"):
        np.testing.assert_array_equal(again[key], a[key])


def _bench(name):
    """The module of ``bench/<name>.py`` (bench/ is not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _script():
    return _bench("balance_settings")


def test_settings_script_scores_the_run_without_and_with_the_bias(balanced_run, tmp_path, capsys):
    run, out, _ = balanced_run
    table = tmp_path / "t.md"
    assert _script().main([str(out), "--settings", "100:0.3", "0:1", "--out", str(table)]) == 0
    rows = [line.split(" | ") for line in capsys.readouterr().out.strip().splitlines()]
    assert [r[1] for r in rows] == ["no bias", "100 x 0.3", "0 x 1"]
    network, read = run.metrics, run.metrics["readout"]
    assert float(rows[0][2]) == pytest.approx(network["heldout_neural_selectivity"], abs=5e-4)  # same map, same split
    assert rows[2][2:] == rows[0][2:]  # no iterations: the zero bias
    assert float(rows[1][2]) == pytest.approx(read["heldout_neural_selectivity"], abs=5e-4)  # the run's own bias
    assert "Made by `python bench/balance_settings.py" in table.read_text()


def test_settings_script_refits_on_perturbed_logits(balanced_run, capsys):
    _, out, _ = balanced_run
    assert _script().main([str(out), "--settings", "100:0.3", "--jitter", "3"]) == 0
    rows = [line.strip("| ").split(" | ") for line in capsys.readouterr().out.strip().splitlines()]
    assert rows[0][-1] == "-"  # no bias, nothing to refit
    mean, std, span = re.fullmatch(r"([\d.]+) \+- ([\d.]+) \(([\d.]+-[\d.]+)\)", rows[1][-1]).groups()
    lo, hi = map(float, span.split("-"))
    assert lo <= float(mean) <= hi and float(std) <= hi - lo
    z = torch.randn(240, 25)
    moved = _script().jittered(z, 0, 0)
    assert 0 < (moved - z).abs().max() <= 8 * 2.0**-22 * z.abs().max()  # last bits only
    torch.testing.assert_close(_script().jittered(z, 0, 0), moved, rtol=0, atol=0)  # seeded


@pytest.mark.parametrize("argv, message", [
    (["/no/such/run"], "run /no/such/run: not a complete run directory (no metrics.json)"),
    (["RUN", "--settings", "3:x"], "--settings 3:x: allowed is ITERS:STEP with ITERS >= 0 and STEP > 0"),
    (["RUN", "--jitter", "-1"], "--jitter -1: allowed is K >= 0"),
])
def test_settings_script_bad_input_is_one_line(balanced_run, tmp_path, capsys, argv, message):
    _, out, _ = balanced_run
    argv = [str(out) if a == "RUN" else a for a in argv]
    assert _script().main([*argv, "--out", str(tmp_path / "t.md")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"balance_settings: error: {message}"]
    assert not (tmp_path / "t.md").exists()


def test_cli_flags_set_the_option_and_print_the_figures_with_the_bias(tmp_path, capsys):
    from urlsom_book.cli import build_parser, main, resolve_args

    def cfg(*flags):
        return resolve_args(build_parser().parse_args(["train", "--out", "x", "--dataset", "digits", *flags]))[0]

    assert cfg().model.usage_balance is True  # the defaults rule: few images per neuron
    assert cfg("--no-usage-balance").model.usage_balance is False
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert cfg("--config", str(empty)).model.usage_balance is False  # a config file is used as written
    out = tmp_path / "run"
    argv = ["train", "--out", str(out), "--dataset", "digits", "--holdout", "0.2", "--subset", "200", "--grid", "5", "5",
            "--widths", "8", "--blocks", "1", "--epochs", "1", "--batch-size", "32", "--quiet", "--device", "cpu",
            "--usage-balance", "--prototype-readout"]  # 6.4 images per neuron: on a CPU the rule fits both anyway
    assert main(argv) == 0
    printed = capsys.readouterr()
    # with the prototype readout too: the bias alone gets a line of its own
    assert "read out with the usage-balancing bias and the prototype readout: neural_selectivity " in printed.out
    assert "with the usage-balancing bias alone (no prototype readout): neural_selectivity " in printed.out
    assert "usage balance: a bias fitted on 160 training images" in printed.err


def _errors_script():
    return _bench("heldout_errors")


def test_errors_script_scores_the_map_as_its_metrics(balanced_run, tmp_path, capsys):
    run, out, _ = balanced_run
    table = tmp_path / "e.md"
    assert _errors_script().main([str(out), "--out", str(table)]) == 0
    cells = capsys.readouterr().out.strip().split(" | ")
    figures = [float(c.strip(" |")) for c in cells[1:]]
    assert figures[0] == pytest.approx(run.metrics["readout"]["heldout_neural_selectivity"], abs=5e-4)  # bias in
    assert sum(figures[:4]) == pytest.approx(1.0, abs=2e-3)  # right, on dead, at a boundary, far
    assert sum(figures[5:]) == pytest.approx(1.0, abs=2e-3)  # on the 1-NN's neuron, one step, farther
    assert "Made by `python bench/heldout_errors.py" in table.read_text()


def test_errors_script_bad_input_is_one_line(tmp_path, capsys):
    assert _errors_script().main(["/no/such/run", "--out", str(tmp_path / "e.md")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "heldout_errors: error: run /no/such/run: not a complete run directory (no metrics.json)"]
    assert not (tmp_path / "e.md").exists()


def test_both_scripts_refuse_a_run_without_a_held_out_split(tmp_path, capsys):
    from urlsom_core.runs import Run, train_run

    cfg = RunConfig.from_dict({"data": {"dataset": "digits", "subset": 100},
                               "model": {"grid": [4, 4], "widths": [8], "blocks": 1}, "train": {"epochs": 1}})
    out = tmp_path / "run"
    train_run(cfg, out, device="cpu", progress=False, log=lambda s: None)
    message = f"run {out}: has no held-out split (allowed: runs trained with --holdout or --eval-dataset)"
    with pytest.raises(ConfigError) as e:
        Run.load(out).heldout_splits()
    assert str(e.value) == message
    for name, script in (("balance_settings", _script()), ("heldout_errors", _errors_script())):
        assert script.main([str(out), "--out", str(tmp_path / "t.md")]) == 2
        assert capsys.readouterr().err.strip().splitlines() == [f"{name}: error: {message}"]
        assert not (tmp_path / "t.md").exists()


def test_quick_bias_script_puts_the_network_beside_the_map_with_the_bias(balanced_run, tmp_path, capsys):
    run, out, _ = balanced_run
    table = tmp_path / "sub" / "t.md"
    assert _bench("quick_bias").main([str(out), "--out", str(table)]) == 0
    printed = capsys.readouterr().out.splitlines()
    cells = [c.strip() for c in printed[0].strip("| ").split(" | ")]
    network, m = run.metrics, run.metrics["readout"]
    ns, live, corners = (c.split(" -> ") for c in cells[1:4])
    assert float(ns[0]) == pytest.approx(network["neural_selectivity"], abs=5e-4)  # the network's own winners
    assert int(live[0]) == network["active_neurons"] and int(live[1]) == m["active_neurons"]  # the run's own fit
    assert float(corners[1]) == pytest.approx(m["corner_over_representation"], abs=5e-3)
    assert printed[1].startswith("network's own winners: live share") and printed[2].startswith("with the bias:")
    assert "Made by `python bench/quick_bias.py" in table.read_text()


def test_quick_bias_script_bad_run_is_one_line_and_no_file(tmp_path, capsys):
    table = tmp_path / "t.md"
    assert _bench("quick_bias").main([str(tmp_path / "nosuch"), "--out", str(table)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"quick_bias: error: run {tmp_path / 'nosuch'}: not a complete run directory (no metrics.json)"]
    assert not table.exists()

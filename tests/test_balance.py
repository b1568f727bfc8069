"""The usage-balancing bias: a pure function on constructed logit fields, the head that carries it, and a run
that fits it, records what it changed and reloads to the same winners."""

import json
import re

import numpy as np
import pytest
import torch

from urlsom_core.balance import fit_usage_bias, usage_bias
from urlsom_core.config import ConfigError, ModelConfig, RunConfig
from urlsom_core.model import SOMHead


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


def test_head_without_the_option_has_no_bias_and_with_it_adds_the_bias():
    cfg = ModelConfig(grid=(4, 4), sigma=1.0)
    plain = SOMHead(8, cfg)
    assert "usage_bias" not in plain.state_dict()  # older checkpoints load as before
    torch.manual_seed(0)
    balanced = SOMHead(8, ModelConfig(grid=(4, 4), sigma=1.0, usage_balance=True))
    balanced.load_state_dict({**plain.state_dict(), "usage_bias": torch.zeros(16)})
    h = torch.randn(5, 8)
    torch.testing.assert_close(balanced.logits(h), plain.logits(h))
    bias = torch.linspace(0, 1, 16)
    balanced.usage_bias.copy_(bias)
    torch.testing.assert_close(balanced.logits(h), plain.logits(h) + bias)


def test_fit_usage_bias_refuses_a_model_without_the_option():
    from urlsom_core.model import URLSOM

    model = URLSOM(ModelConfig(grid=(4, 4), sigma=1.0, widths=(4,), blocks=1), in_channels=1)
    with pytest.raises(ValueError, match="built with model.usage_balance false"):
        fit_usage_bias(model, torch.zeros(4, 1, 8, 8), lambda x: x, torch.device("cpu"))


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


def test_a_balanced_run_records_before_and_reloads_to_its_winners(balanced_run):
    from urlsom_core.metrics import neural_selectivity, usage_metrics
    from urlsom_core.runs import Run, network_figures, network_winners

    run, out, lines = balanced_run
    m = json.loads((out / "metrics.json").read_text())
    before = m["usage_balance"]["before"]
    assert set(before) == {"neural_selectivity", "active_neurons", "heldout_neural_selectivity", "heldout_on_dead",
                           "topographic_error", "corner_over_representation", "border_over_representation",
                           "live_share", "usage_evenness"}
    assert m["active_neurons"] >= before["active_neurons"]
    # the network's own winners (the paper's map) are kept beside the winners read out, and give "before"
    a = run.assignments()
    net = a["network_winner"]
    assert net.shape == a["winner"].shape and np.unique(net).size == before["active_neurons"]
    assert neural_selectivity(net, a["label"], 36)["neural_selectivity"] == pytest.approx(before["neural_selectivity"])
    assert usage_metrics(net, (6, 6))["live_share"] == pytest.approx(before["live_share"])
    assert network_figures(m) is before and network_winners(run.assignments()) is not None
    np.testing.assert_array_equal(network_winners(run.assignments()), net)
    assert any(line.startswith("usage balance: a bias fitted on 240 training images") for line in lines)
    model = Run.load(out).load_model()
    assert model.head.usage_bias.abs().sum() > 0  # the checkpoint holds the fitted bias
    again = run.predict(run.splits().train)["winner"]
    np.testing.assert_array_equal(again, run.assignments()["winner"])


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
    before = run.metrics["usage_balance"]["before"]
    assert float(rows[0][2]) == pytest.approx(before["heldout_neural_selectivity"], abs=5e-4)  # same map, same split
    assert rows[2][2:] == rows[0][2:]  # no iterations: the zero bias
    assert float(rows[1][2]) == pytest.approx(run.metrics["heldout_neural_selectivity"], abs=5e-4)  # the run's own bias
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


def test_cli_flags_set_the_option_and_print_the_figures_without_the_bias(tmp_path, capsys):
    from urlsom_book.cli import build_parser, main, resolve_args

    def cfg(*flags):
        return resolve_args(build_parser().parse_args(["train", "--out", "x", "--dataset", "digits", *flags]))[0]

    assert cfg().model.usage_balance is True  # the small-gray defaults rule
    assert cfg("--no-usage-balance").model.usage_balance is False
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert cfg("--config", str(empty)).model.usage_balance is False  # a config file is used as written
    out = tmp_path / "run"
    argv = ["train", "--out", str(out), "--dataset", "digits", "--holdout", "0.2", "--subset", "200", "--grid", "5", "5",
            "--widths", "8", "--blocks", "1", "--epochs", "1", "--batch-size", "32", "--quiet", "--device", "cpu"]
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert "without the usage-balancing bias: active_neurons " in printed.out
    assert "usage balance: a bias fitted on 160 training images" in printed.err


def _errors_script():
    return _bench("heldout_errors")


def test_errors_script_scores_the_map_as_its_metrics(balanced_run, tmp_path, capsys):
    run, out, _ = balanced_run
    table = tmp_path / "e.md"
    assert _errors_script().main([str(out), "--out", str(table)]) == 0
    cells = capsys.readouterr().out.strip().split(" | ")
    figures = [float(c.strip(" |")) for c in cells[1:]]
    assert figures[0] == pytest.approx(run.metrics["heldout_neural_selectivity"], abs=5e-4)  # the run's own map, bias in
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
    before, m = run.metrics["usage_balance"]["before"], run.metrics
    ns, live, corners = (c.split(" -> ") for c in cells[1:4])
    assert float(ns[0]) == pytest.approx(before["neural_selectivity"], abs=5e-4)  # the network's own winners
    assert int(live[0]) == before["active_neurons"] and int(live[1]) == m["active_neurons"]  # the run's own fit
    assert float(corners[1]) == pytest.approx(m["corner_over_representation"], abs=5e-3)
    assert printed[1].startswith("network's own winners: live share") and printed[2].startswith("with the bias:")
    assert "Made by `python bench/quick_bias.py" in table.read_text()


def test_quick_bias_script_bad_run_is_one_line_and_no_file(tmp_path, capsys):
    table = tmp_path / "t.md"
    assert _bench("quick_bias").main([str(tmp_path / "nosuch"), "--out", str(table)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"quick_bias: error: run {tmp_path / 'nosuch'}: not a complete run directory (no metrics.json)"]
    assert not table.exists()

"""Studies: sweeps share runs through the store; the readings follow the numbers they are given."""

from types import SimpleNamespace

import numpy as np
import pytest

from urlsom_book import studies as S
from urlsom_core.config import ConfigError, RunConfig

TINY = {"data": {"dataset": "digits", "subset": 200}, "model": {"grid": [4, 4], "widths": [8], "blocks": 1},
        "train": {"epochs": 1, "batch_size": 50, "monitor_samples": 100}}


def fake_run(cfg: RunConfig, ns: float, live: int, te: float | None, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = cfg.model.n_neurons
    winners = rng.integers(0, max(live, 1), 100)
    return SimpleNamespace(
        config=cfg, resolved={"n_train": 1000, "classes": [str(i) for i in range(10)]},
        metrics={"neural_selectivity": ns, "active_neurons": live, "n_neurons": n, "topographic_error": te,
                 "epochs_trained": 3, "train_seconds": 1.0},
        assignments=lambda: {"winner": winners, "label": rng.integers(0, 10, 100)})


def test_sweep_trains_each_point_once(tmp_path):
    base = RunConfig.from_dict(TINY)
    variants = S.amplitude_variants([["sum", 1.0], ["peak", 1.0]])
    logs = []
    runs = S.sweep(base, variants, root=tmp_path, device="cpu", log=logs.append)
    assert [r.config.model.kernel_norm for r in runs] == ["sum", "peak"]
    again = S.sweep(base, variants[1:], root=tmp_path, device="cpu", log=logs.append)
    assert again[0].cache_hit and again[0].path == runs[1].path
    rows = S.amplitude_rows(runs, variants)
    # peak-normalised: centre 1; sum-normalised over its 6-sigma support, then cropped to the 4x4 map's 7x7
    assert rows[1]["kernel_peak"] == pytest.approx(1.0) and 0 < rows[0]["kernel_sum"] < 1
    assert rows[0]["kernel_peak"] == pytest.approx(1 / (2 * np.pi * 25), rel=0.01)  # sigma 5
    assert rows[0]["steps_per_epoch"] == 200 // 50 and rows[0]["setting"] == "sum-normalised"


def test_bad_sweeps_fail_before_training(tmp_path):
    base = RunConfig.from_dict(TINY)
    with pytest.raises(ConfigError, match="allowed is \\[norm, gain\\]"):
        S.amplitude_variants([["sum"]])
    with pytest.raises(ConfigError, match="kernel_norm 'max'"):
        S.sweep(base, S.amplitude_variants([["sum", 1.0], ["max", 1.0]]), root=tmp_path, log=lambda s: None)
    assert not any(tmp_path.iterdir())  # nothing trained: every config is checked first


def test_amplitude_reading_follows_the_numbers():
    base = RunConfig.from_dict(TINY)
    variants = S.amplitude_variants([["sum", 1.0], ["peak", 1.0], ["sum", 8.0]])
    runs = [fake_run(base.replace(**v), ns, live, te) for v, (ns, live, te) in
            zip(variants, [(0.4, 1, 0.0), (0.9, 14, 0.1), (0.8, 12, 0.2)], strict=True)]
    rows = S.amplitude_rows(runs, variants)
    text = S.read_amplitude(rows)
    assert "highest NS comes from the peak-normalised kernel, which also keeps the most neurons live" in text
    assert "The sum-normalised kernel collapsed" in text and "reaches NS 0.400 with 1 of 16 neurons live" in text
    assert "the number of live neurons rises from 1 to 14" in text
    fig = S.plot_amplitude(rows)
    assert len(fig.axes) == 3


def test_gamma_sigma_reading_and_figures():
    base = RunConfig.from_dict(TINY)
    gammas, sigmas = [1.0, 2.0], [1.0, 3.0]
    variants = S.gamma_sigma_variants(gammas, sigmas)
    vals = [(0.5, 10, 0.3), (0.7, 6, 0.1), (0.6, 11, 0.3), (0.8, 5, 0.1)]
    runs = [fake_run(base.replace(**v), *x) for v, x in zip(variants, vals, strict=True)]
    rows = [S.summarize(r, v) for r, v in zip(runs, variants, strict=True)]
    text = S.read_gamma_sigma(rows, gammas, sigmas)
    assert "NS ranges from 0.500 (gamma 1, sigma 1) to 0.800 (gamma 2, sigma 3)" in text
    assert "moves the live neurons from 10 to 6" in text and "sigma moves NS more than gamma" in text
    assert "lowest topographic error" not in text  # its map keeps 5 of 16 neurons live: no warning
    squeezed = [dict(r) for r in rows]
    squeezed[3].update(topographic_error=0.0, active_neurons=1)
    assert "lowest topographic error (0.000, gamma 2, sigma 3) comes with only 1 of 16" in S.read_gamma_sigma(
        squeezed, gammas, sigmas)
    assert len(S.plot_gamma_sigma(runs, rows, gammas, sigmas).axes) >= 4
    assert len(S.plot_gamma_sigma_grid(rows, gammas, sigmas).axes) == 4  # two maps + two colour bars


def test_batch_reading():
    base = RunConfig.from_dict(TINY)
    variants = S.batch_variants([4, 8, 32], (4, 4))
    runs = [fake_run(base.replace(**v), *x) for v, x in zip(variants, [(0.6, 9, 0.2), (0.7, 12, 0.1), (0.5, 8, None)],
                                                            strict=True)]
    rows = [S.summarize(r, v) for r, v in zip(runs, variants, strict=True)]
    text = S.read_batch(rows)
    assert "At n = 16 neurons" in text and "The best NS is at N = 8" in text
    assert "a batch smaller than the map does not cost NS" in text and "250 steps an epoch" in text
    assert "TE n/a" in text and len(S.plot_batch(rows).axes) == 2


def test_gamma_sigma_heatmaps_write_every_cell_and_change_no_global_style():
    import matplotlib as mpl

    before = dict(mpl.rcParams)
    rows = [{"neural_selectivity": 0.9, "topographic_error": 0.1}, {"neural_selectivity": None, "topographic_error": 0.2}]
    fig = S.plot_gamma_sigma_grid(rows, [2.0], [3.0, 5.0])
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["0.90", "n/a"] and dict(mpl.rcParams) == before


def test_a_study_scores_the_network_own_winners_where_a_bias_was_fitted():
    """A run read out with a usage bias: the row's NS, live neurons, TE and contiguity are the network's own
    (metrics.json's top level and the assignments' ``winner``), ``live_read_out`` the map's as read out
    (the ``readout`` section)."""
    from urlsom_core.metrics import contiguity

    cfg = RunConfig.from_dict(TINY)
    winner = np.arange(16).repeat(2)  # read out: every neuron wins two
    network = np.array([0, 1, 2, 3] * 8)  # the network alone: four neurons, one row of the 4x4 map
    label = np.arange(32) % 4
    c_net = contiguity(network, label, (4, 4))
    metrics = {"neural_selectivity": 1.0, "active_neurons": 4, "n_neurons": 16, "topographic_error": 0.05,
               "contiguity": c_net[0], "contiguity_shuffled": c_net[1], "epochs_trained": 3,
               "readout": {"usage_balance": True, "prototype_readout": False, "neural_selectivity": 0.9,
                           "active_neurons": 16, "n_neurons": 16, "topographic_error": 0.3, "contiguity": 0.1,
                           "contiguity_shuffled": 0.2, "trustworthiness": 0.7, "nmi": 0.6,
                           "heldout_neural_selectivity": 0.8}}
    run = SimpleNamespace(config=cfg, resolved={"n_train": 32}, metrics=metrics,
                          assignments=lambda: {"winner": network, "readout_winner": winner, "label": label})
    row = S.summarize(run)
    assert (row["neural_selectivity"], row["active_neurons"], row["topographic_error"]) == (1.0, 4, 0.05)
    assert row["live_read_out"] == 16 and row["epochs"] == 3
    assert (row["trustworthiness"], row["nmi"], row["heldout_neural_selectivity"]) == (0.7, 0.6, 0.8)  # as read out
    assert (row["contiguity"], row["contiguity_shuffled"]) == c_net
    # a run whose metrics.json kept no contiguity of the network's own winners: computed from them
    del metrics["contiguity"], metrics["contiguity_shuffled"]
    row = S.summarize(run)
    assert (row["contiguity"], row["contiguity_shuffled"]) == c_net
    plain = S.summarize(fake_run(cfg, 0.5, 10, 0.2))  # nothing fitted: the run's own figures
    assert (plain["neural_selectivity"], plain["active_neurons"], plain["live_read_out"]) == (0.5, 10, 10)


def test_a_study_of_one_setting_gives_its_numbers_and_compares_nothing():
    base = RunConfig.from_dict(TINY)
    v = S.gamma_sigma_variants([2.0], [5.0])
    row = [S.summarize(fake_run(base.replace(**v[0]), 0.5, 9, 0.1), v[0])]
    text = S.read_gamma_sigma(row, [2.0], [5.0])
    assert text == ("One training, gamma 2 and sigma 5: NS 0.500 with 9 of 16 neurons live, TE 0.100. " + S.ONE_SETTING)
    v = S.batch_variants([8], (4, 4))
    text = S.read_batch([S.summarize(fake_run(base.replace(**v[0]), 0.5, 9, 0.1), v[0])])
    assert text.endswith(S.ONE_SETTING) and "best" not in text and "fold" not in text
    v = S.amplitude_variants(["default"], base)
    text = S.read_amplitude(S.amplitude_rows([fake_run(base.replace(**v[0]), 0.5, 9, 0.1)], v))
    assert text.startswith("The ") and "reaches NS 0.500" in text and "highest" not in text and S.ONE_SETTING in text
    # two gammas at one sigma: no claim that one of them moves NS more than the other
    v = S.gamma_sigma_variants([1.0, 2.0], [5.0])
    rows = [S.summarize(fake_run(base.replace(**x), ns, 9, 0.1), x) for x, ns in zip(v, (0.4, 0.6), strict=True)]
    assert "moves NS more" not in S.read_gamma_sigma(rows, [1.0, 2.0], [5.0])


def test_the_lattice_page_reads_the_committed_measurement_as_its_table_gives_it():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    res = S.read_lattice_results(root / S.LATTICE_RESULTS)
    md = (root / S.LATTICE_RESULTS).with_suffix(".md").read_text()
    rows = [ln for ln in md.splitlines() if ln.startswith("| **hex - square")]
    assert len(rows) == 2 and res["digits"]["seeds"] == 3 and res["cifar10"]["seeds"] == 1
    for study, row in zip(("digits", "cifar10"), rows, strict=True):  # the file's sections: digits, then CIFAR-10
        text = S.read_lattice_committed({study: res[study]})
        cells = [c.strip() for c in row.strip("|").split("|")][3:8]  # NS, held-out NS, TE, TE (d = 1), live
        for cell in cells:
            assert cell.split(" [")[0] in text  # each mean difference, as the table prints it
    assert "# Hexagonal" not in S.committed_markdown(root / "bench/results/lattice/hex_vs_square.md")
    with pytest.raises(ConfigError, match="no such file"):
        S.read_lattice_results(root / "nowhere.json")

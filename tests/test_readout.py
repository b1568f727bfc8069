"""The prototype readout (urlsom_core.readouts) against a slow reference written from its definition, and in a run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from urlsom_core.readouts import fit_prototypes, fit_readout_prototypes, local_top2, window_index


def _ref_window(j: int, grid: tuple[int, int], torus: bool) -> list[int]:
    """Neuron j and its 8 neighbours (Chebyshev distance <= 1), each once, on the torus or the flat map."""
    H, W = grid
    r, c = divmod(j, W)
    out = []
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            y, x = r + dy, c + dx
            if torus:
                y, x = y % H, x % W
            elif not (0 <= y < H and 0 <= x < W):
                continue
            if y * W + x not in out:
                out.append(y * W + x)
    return out


def _ref_top2(e: np.ndarray, net: np.ndarray, P: np.ndarray, counts: np.ndarray, grid, torus) -> list[tuple[int, int]]:
    """winner = argmin over the window of the network's winner, among neurons with a prototype, of |e/|e| - P_j|^2."""
    res = []
    for x, (w, w2) in zip(e, net, strict=True):
        x = x / np.linalg.norm(x)
        cand = sorted((float(((x - P[j]) ** 2).sum()), j) for j in _ref_window(int(w), grid, torus) if counts[j] > 0)
        first = cand[0][1] if cand else int(w)
        other = int(w) if int(w) != first else int(w2)
        res.append((first, cand[1][1] if len(cand) > 1 else other))
    return res


def test_window_is_the_8_neighbourhood():
    for grid in ((4, 5), (3, 3), (2, 6)):
        for torus in (False, True):
            win = window_index(grid, torus)
            for j in range(grid[0] * grid[1]):
                got = [int(v) for v in win[j] if v >= 0]
                assert got[0] == j and sorted(got) == sorted(_ref_window(j, grid, torus)), (grid, torus, j)


def test_prototypes_are_the_mean_normalised_embeddings():
    g = torch.Generator().manual_seed(0)
    emb, w = torch.randn(50, 6, generator=g), torch.randint(0, 12, (50,), generator=g)
    P, c = fit_prototypes(emb, w, 12)
    e = (emb / emb.norm(dim=1, keepdim=True)).numpy()
    for j in range(12):
        mine = w.numpy() == j
        assert c[j] == mine.sum()
        np.testing.assert_allclose(P[j].numpy(), e[mine].mean(0) if mine.any() else 0.0, atol=1e-6)


@pytest.mark.parametrize("torus", [False, True])
def test_local_top2_matches_the_reference(torus):
    grid, n = (5, 6), 30
    g = torch.Generator().manual_seed(1)
    emb = torch.randn(200, 8, generator=g)
    P, c = fit_prototypes(torch.randn(90, 8, generator=g), torch.randint(0, n, (90,), generator=g), n)
    assert (c == 0).any()  # some neurons have no prototype and must be passed over
    net = torch.stack([torch.randint(0, n, (200,), generator=g), torch.randint(0, n, (200,), generator=g)], 1)
    got = local_top2(emb, net, P, c, window_index(grid, torus))
    want = _ref_top2(emb.numpy(), net.numpy(), P.numpy(), c.numpy(), grid, torus)
    assert [tuple(r) for r in got.tolist()] == want


def test_without_prototypes_the_readout_is_the_networks():
    net = torch.tensor([[3, 4], [0, 1]])
    P, c = torch.zeros(9, 4), torch.zeros(9)
    assert local_top2(torch.randn(2, 4), net, P, c, window_index((3, 3), False)).tolist() == net.tolist()


def test_refits_settle_on_prototypes_that_are_their_own_winners_means():
    grid, n = (6, 6), 36
    g = torch.Generator().manual_seed(2)
    emb = torch.randn(300, 5, generator=g)
    net = torch.stack([torch.randint(0, n, (300,), generator=g), torch.randint(0, n, (300,), generator=g)], 1)
    win = window_index(grid, True)
    P, c, rounds = fit_readout_prototypes(emb, net, n, win, max_rounds=50)
    assert 1 <= rounds < 50  # random winners: the readout moves images, then settles
    w = local_top2(emb, net, P, c, win)[:, 0]
    P2, c2 = fit_prototypes(emb, w, n)
    assert torch.equal(c, c2) and torch.allclose(P, P2)  # each prototype is the mean of what its neuron wins
    assert (torch.bincount(w, minlength=n) > 0).tolist() == (c > 0).tolist()  # a prototype's neuron has images


@pytest.fixture(scope="module")
def readout_run(tmp_path_factory):
    """A tiny run of the CLI with the bias and the readout (as the defaults rule fits them for few images per neuron, on 240 training digits)."""
    from urlsom_book import cli

    out = tmp_path_factory.mktemp("readout") / "r"
    assert cli.main(["train", "--dataset", "digits", "--holdout", "0.2", "--subset", "300", "--grid", "6", "6",
                     "--epochs", "2", "--batch-size", "64", "--usage-balance", "--prototype-readout", "--quiet",
                     "--boundary", "circular",
                     "--device", "cpu", "--out", str(out)]) == 0
    return out


def test_a_run_with_the_readout(readout_run):
    """metrics.json leads with the network's own figures and gives the map as read out beside them (and with the
    bias alone), readout.pt keeps the prototypes (the model none), and Run.predict gives the run's assignments."""
    from urlsom_core.metrics import topographic_error
    from urlsom_core.predict import predict
    from urlsom_core.readouts import Readout
    from urlsom_core.runs import Run

    out = readout_run
    m = json.loads((out / "metrics.json").read_text())
    read = m["readout"]
    assert read["usage_balance"] is True and read["prototype_readout"] is True
    bias_only = read["bias_only"]
    assert set(bias_only) == {"neural_selectivity", "active_neurons", "topographic_error", "heldout_neural_selectivity",
                              "heldout_on_dead"}
    assert read["rounds"] == 0  # no refit: model.readout_refits defaults to 0
    run = Run.load(out)
    readout = run.readout()
    c = readout.counts
    assert int(c.sum()) == 240 and int((c > 0).sum()) >= 1  # every training image is behind one prototype
    model = run.load_model()
    assert not any("prototype" in k or "usage_bias" in k for k in model.state_dict())  # the paper's head alone
    sp = run.splits()
    a = run.assignments()
    got = run.predict(sp.train)
    for key in ("winner", "top2", "readout_winner", "readout_top2"):
        assert np.array_equal(got[key], a[key]), key
    assert topographic_error(a["top2"], (6, 6), torus=True) == pytest.approx(m["topographic_error"])
    assert topographic_error(a["readout_top2"], (6, 6), torus=True) == pytest.approx(read["topographic_error"])
    # the same model with the bias alone: the figures of metrics.json's "bias_only"
    aug, cpu = run.augment(), torch.device("cpu")
    raw = predict(model, sp.train, aug, cpu, readout=Readout((6, 6), True, bias=readout.bias))
    assert topographic_error(raw["readout_top2"], (6, 6), torus=True) == pytest.approx(bias_only["topographic_error"])
    np.testing.assert_array_equal(raw["readout_top2"], got["bias_top2"])
    # and with no readout, the network's own winners: the assignments' winner
    np.testing.assert_array_equal(predict(model, sp.train, aug, cpu)["top2"], a["top2"])


def _script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "readout_settings.py"
    spec = importlib.util.spec_from_file_location("bench_readout_settings", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_settings_script_scores_the_network_and_the_readout(readout_run, tmp_path, capsys):
    table = tmp_path / "t.md"
    assert _script().main([str(readout_run), "--settings", "1:0", "1:1", "--out", str(table)]) == 0
    rows = [line.strip("| ").split(" | ") for line in capsys.readouterr().out.strip().splitlines()]
    assert [r[1] for r in rows] == ["network's winners", "1:0", "1:1"]
    read = json.loads((readout_run / "metrics.json").read_text())["readout"]
    bias_only = read["bias_only"]  # the network's winners with the run's bias, no prototypes
    assert float(rows[0][3]) == pytest.approx(bias_only["heldout_neural_selectivity"], abs=5e-4)
    assert float(rows[0][6]) == pytest.approx(bias_only["topographic_error"], abs=5e-4)
    assert float(rows[1][3]) == pytest.approx(read["heldout_neural_selectivity"], abs=5e-4)  # the run's own readout
    assert int(rows[1][2]) == read["rounds"] == 0  # no refit: model.readout_refits' default
    assert "Made by `python bench/readout_settings.py" in table.read_text()


@pytest.mark.parametrize("argv, message", [
    (["/no/such/run"], "run /no/such/run: not a complete run directory (no metrics.json)"),
    (["RUN", "--settings", "0:5"], "--settings 0:5: allowed is RADIUS:REFITS with RADIUS >= 1 and REFITS >= 0"),
    (["RUN", "--settings", "1"], "--settings 1: allowed is RADIUS:REFITS with RADIUS >= 1 and REFITS >= 0"),
])
def test_settings_script_bad_input_is_one_line(readout_run, tmp_path, capsys, argv, message):
    argv = [str(readout_run) if a == "RUN" else a for a in argv]
    assert _script().main([*argv, "--out", str(tmp_path / "t.md")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"readout_settings: error: {message}"]
    assert not (tmp_path / "t.md").exists()


def test_cli_flags_set_the_readout(tmp_path):
    from urlsom_book.cli import build_parser, resolve_args

    def cfg(*flags):
        return resolve_args(build_parser().parse_args(["train", "--out", "x", "--dataset", "digits", *flags]))[0]

    assert cfg().model.prototype_readout is True  # the defaults rule: 1.6 images per neuron
    assert cfg("--no-prototype-readout").model.prototype_readout is False
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert cfg("--config", str(empty)).model.prototype_readout is False  # a config file is used as written
    assert cfg("--config", str(empty), "--prototype-readout").model.prototype_readout is True


def test_a_bad_value_is_one_line():
    from urlsom_core.config import ConfigError, RunConfig

    with pytest.raises(ConfigError, match=r"^prototype_readout 'yes': allowed is true or false$"):
        RunConfig.from_dict({"model": {"prototype_readout": "yes"}})

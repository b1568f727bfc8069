"""Baselines: MiniSom and k-means scored like URL-SOM, on the same split and grid; the bench script's table,
its bad input, and NS versus K. Tiny sizes (seconds)."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from urlsom_book import baselines as B
from urlsom_core.config import ConfigError, RunConfig
from urlsom_core.runs import get_or_train

ROOT = Path(__file__).resolve().parents[1]
TINY_SOM = B.SomSettings("tiny SOM", sigma=1.0, learning_rate=0.5, iterations=400)
TINY_RUN = {"data": {"dataset": "digits", "holdout": 0.2, "subset": 300},
            "model": {"grid": [5, 5], "widths": [8], "blocks": 1}, "train": {"epochs": 1, "batch_size": 64}}


def blobs(n_per: int = 40, seed: int = 0):
    """Three well separated clusters in 2-D, labelled by cluster."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    X = np.concatenate([c + rng.normal(0, 0.3, (n_per, 2)) for c in centres])
    return X, np.repeat(np.arange(3), n_per)


def test_som_assignment_matches_minisom_and_brute_force():
    from minisom import MiniSom

    X, _ = blobs()
    W = B.fit_minisom(X, (4, 3), TINY_SOM)
    assert W.shape == (12, 2)
    som = MiniSom(4, 3, 2)
    som._weights = W.reshape(4, 3, 2)
    t2 = B.som_top2(W, X, chunk=7)
    assert [i * 3 + j for i, j in (som.winner(x) for x in X)] == t2[:, 0].tolist()
    d = ((X[:, None] - W[None]) ** 2).sum(-1)
    assert (np.sort(d, 1)[:, 1] == d[np.arange(len(X)), t2[:, 1]]).all()


def test_som_ties_go_to_the_lower_unit():
    W = np.array([[1.0, 1.0], [0.0, 0.0], [0.0, 0.0], [5.0, 5.0]])  # units 1 and 2 are the same point
    assert B.som_top2(W, np.array([[0.1, 0.0]])).tolist() == [[1, 2]]


def test_minisom_and_kmeans_on_separable_data():
    X, y = blobs()
    Xe, ye = blobs(seed=1)
    rows = B.som_rows(X, y, Xe, ye, (3, 3), "points", [TINY_SOM], log=lambda s: None)
    r = rows[0]
    assert r["neural_selectivity"] == 1.0 and r["heldout_neural_selectivity"] == 1.0
    assert 3 <= r["active_neurons"] <= 9 and r["topographic_error"] is not None and r["contiguity"] is not None
    k = B.kmeans_row(X, y, Xe, ye, 3, "points", "test", log=lambda s: None)
    assert k["neural_selectivity"] == 1.0 and k["heldout_neural_selectivity"] == 1.0 and k["nmi"] == pytest.approx(1.0)
    assert k["topographic_error"] is None and k["contiguity"] is None and k["active_neurons"] == 3


def test_score_and_markdown():
    w, y = np.array([0, 0, 1, 3]), np.array([1, 1, 2, 2])
    t2 = np.array([[0, 1], [0, 3], [1, 0], [3, 0]])  # on 2x2 every pair is adjacent
    r = B.score("m", "x", 4, w, y, np.array([2, 0]), np.array([1, 1]), 1.234, grid=(2, 2), train_top2=t2)
    assert r["topographic_error"] == 0.0 and r["heldout_neural_selectivity"] == 0.5 and r["active_neurons"] == 3
    assert r["contiguity"] == pytest.approx(1 / 3)  # live 0, 1, 3: pairs (0,1) no, (1,3) yes, (0,3) no
    wrap = np.array([[0, 2], [3, 5]])  # column 0 and column 2 of a 3x3 map: neighbours only on a torus
    assert B.score("m", "x", 9, wrap[:, 0], y[:2], None, None, 0.0, grid=(3, 3), train_top2=wrap)["topographic_error"] == 1.0
    assert B.score("m", "x", 9, wrap[:, 0], y[:2], None, None, 0.0, grid=(3, 3), train_top2=wrap,
                   torus=True)["topographic_error"] == 0.0
    nogrid = B.score("k", "x", 4, w, y, None, None, 0.0)
    assert nogrid["topographic_error"] is None and nogrid["heldout_neural_selectivity"] is None
    md = B.markdown_table([r, nogrid]).splitlines()
    assert md[0].startswith("| method | inputs | NS | held-out NS | live neurons | TE |")
    assert "| 3 / 4 |" in md[2] and "0.333 (" in md[2] and md[3].count("n/a") == 3


def test_reading_ranks_held_out_ns_and_compares_topology():
    y = np.array([0, 0, 1, 1])
    t2 = np.array([[0, 1], [1, 0], [2, 3], [3, 2]])
    u = B.score("URL-SOM", "images (net)", 4, np.array([0, 0, 3, 3]), y, np.array([0, 3]), np.array([0, 0]), 1.0,
                grid=(2, 2), train_top2=t2)
    m = B.score("MiniSom σ=1", "raw pixels (1x2x2)", 4, np.array([0, 1, 2, 3]), y, np.array([0, 2]), np.array([0, 1]),
                1.0, grid=(2, 2), train_top2=np.array([[0, 3], [1, 2], [2, 1], [3, 0]]))
    k = B.score("k-means K=2", "raw pixels (1x2x2)", 2, np.array([0, 0, 1, 1]), y, None, None, 1.0)
    text = B.reading([u, m, k])
    assert text.startswith("Held-out NS, highest first: MiniSom σ=1 on raw pixels 1.000, URL-SOM 0.500.")
    assert "URL-SOM's topographic error is 0.000, against 0.000 for MiniSom σ=1 on raw pixels" in text


def test_settings_reject_bad_values():
    with pytest.raises(ConfigError, match="decay 'cubic'"):
        B.SomSettings("x", decay="cubic")
    with pytest.raises(ConfigError, match="iterations 0"):
        B.SomSettings("x", iterations=0)


@pytest.mark.slow  # trains a map and sweeps baselines (15-20 s)
def test_table_on_a_tiny_run(tmp_path):
    cfg = RunConfig.from_dict(TINY_RUN)
    run = get_or_train(cfg, root=tmp_path, device="cpu", progress=False, log=lambda s: None)
    rows = B.baseline_table(run, cfg.data, (5, 5), raw_size=8, settings=[TINY_SOM], log=lambda s: None)
    methods = [r["method"] for r in rows]
    assert methods == ["URL-SOM", "tiny SOM", "k-means K=" + str(rows[1]["active_neurons"]), "tiny SOM",
                       "k-means K=" + str(max(2, rows[0]["active_neurons"])), f"random map K={rows[0]['active_neurons']}"]
    u = rows[0]
    # the URL-SOM row is the run's own metrics, recomputed from its assignments by the same functions
    assert u["neural_selectivity"] == pytest.approx(run.metrics["neural_selectivity"])
    assert u["heldout_neural_selectivity"] == pytest.approx(run.metrics["heldout_neural_selectivity"])
    assert u["topographic_error"] == pytest.approx(run.metrics["topographic_error"])
    assert rows[1]["inputs"] == "raw pixels (1x8x8)" and rows[3]["inputs"].startswith("URL-SOM embedding (8-d")
    with pytest.raises(ConfigError, match="same data and grid"):
        B.baseline_table(run, cfg.data, (6, 6), settings=[TINY_SOM], log=lambda s: None)


@pytest.mark.slow  # trains a map and sweeps baselines (15-20 s)
def test_ns_versus_k(tmp_path):
    cfg = RunConfig.from_dict(TINY_RUN)
    rows = B.ns_versus_k(cfg, grids=[(2, 2), (4, 4)], root=str(tmp_path), raw_size=8, som=TINY_SOM, device="cpu",
                         log=lambda s: None)
    assert sorted({r["K"] for r in rows}) == [4, 16]
    assert {r["method"].split(" K=")[0] for r in rows} == {"URL-SOM", "tiny SOM", "k-means", "random map"}
    rnd = {r["K"]: r for r in rows if r["method"].startswith("random")}
    assert rnd[16]["neural_selectivity"] > rnd[4]["neural_selectivity"]  # NS rises with K even by chance
    fig = B.plot_ns_versus_k(rows)
    assert len(fig.axes[0].lines) == 8  # 4 methods x (NS, held-out NS)


# ------------------------------------------------------------------------------------------ the script
def _script():
    spec = importlib.util.spec_from_file_location("bench_baselines", ROOT / "bench" / "baselines.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("argv, message", [
    (["--datasets", "svhn"], "--datasets svhn: allowed are digits, mnist, cifar10"),
    (["--set", "model.sigma=-1"], "sigma -1.0: allowed is sigma > 0"),
    (["--grid", "1", "5"], "grid 1x5: allowed is at least 2x2"),
    (["--set", "model.nope=1"], "config field 'model.nope'"),
    (["--set", "train.epochs"], "allowed is section.field=VALUE"),
    (["--threads", "0"], "--threads 0: allowed is an integer >= 1"),
    (["--k-grids", "1", "10"], "--k-grids 1 10: allowed are sides >= 2"),
])
def test_script_bad_input(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert _script().main(["--datasets", "digits", *argv, "--out", str(out), "--runs", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("baselines: error: ") and message in err[0]
    assert not out.exists() and not (tmp_path / "r").exists()


def test_script_end_to_end(tmp_path, capsys):
    main = _script().main
    args = ["--datasets", "digits", "--grid", "5", "5", "--set", "train.epochs=1", "--set", "model.widths=[8]",
            "--set", "model.blocks=1", "--set", "data.subset=300", "--set", "train.batch_size=64",
            "--som-iterations", "200", "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs"), "--device", "cpu"]
    assert main(args + ["--no-train"]) == 0
    t = json.loads((tmp_path / "out" / "baselines_digits.json").read_text())
    assert t["urlsom_status"].startswith("PENDING") and t["rows"][0]["method"] == "MiniSom σ=1"
    assert "URL-SOM row pending" in capsys.readouterr().out
    assert main(args) == 0
    t = json.loads((tmp_path / "out" / "baselines_digits.json").read_text())
    assert t["rows"][0]["method"] == "URL-SOM" and "trained now" in t["urlsom_status"]
    assert t["provenance"]["git_commit"] and t["urlsom_config"]["train"]["epochs"] == 1
    out = capsys.readouterr().out
    assert "URL-SOM vs MiniSom (5x5 digits, held-out NS" in out and "| URL-SOM |" in out
    md = (tmp_path / "out" / "baselines_digits.md").read_text()
    assert "python bench/baselines.py" in md and "| MiniSom σ=3→1 | raw pixels (1x8x8) |" in md
    (tmp_path / "out" / "baselines_digits.md").unlink()
    assert main(["--datasets", "digits", "--render-only", "--out", str(tmp_path / "out")]) == 0
    assert "Held-out NS, highest first: " in (tmp_path / "out" / "baselines_digits.md").read_text()
    assert main(["--datasets", "mnist", "--render-only", "--out", str(tmp_path / "out")]) == 2
    # a run trained under another folder name of the store (urlsom train --out runs/NAME) is found too
    (tmp_path / "runs" / t["urlsom_config_key"]).rename(tmp_path / "runs" / "named")
    assert main(args + ["--no-train"]) == 0
    status = json.loads((tmp_path / "out" / "baselines_digits.json").read_text())["urlsom_status"]
    assert "cache hit" in status and "named" in status
    capsys.readouterr()
    assert main(args + ["--no-train", "--ns-vs-k", "--k-grids", "2", "5"]) == 0
    r = json.loads((tmp_path / "out" / "ns_vs_k_digits.json").read_text())
    assert sorted({row["K"] for row in r["rows"]}) == [4, 25] and (tmp_path / "out" / "ns_vs_k_digits.png").exists()
    assert [row["K"] for row in r["rows"] if row["method"] == "URL-SOM"] == [25]  # only the stored 5x5 run
    out = capsys.readouterr().out
    assert "NS against the number of neurons K" in out and "left out: 2x2" in out

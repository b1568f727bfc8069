"""bench/boundary_study.py and urlsom_book.boundary_study: a tiny study end to end (table columns, provenance,
the run store reused on a rerun), bad input one line and exit 2 with nothing written, and the aggregation and
heatmap on constructed rows."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from urlsom_book import boundary_study as B

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--modes", "zeros", "circular", "--sigmas", "1", "--seeds", "0", "--epochs", "1",
        "--set", "model.grid=[5, 5]", "--set", "model.widths=[4]", "--set", "data.subset=300",
        "--set", "data.input_size=8"]


def _main():
    spec = importlib.util.spec_from_file_location("bench_boundary_study", ROOT / "bench" / "boundary_study.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


@pytest.mark.parametrize("argv, message", [
    (["--modes", "zeros", "torus"], "--modes 'torus': allowed are zeros, circular, reflect, mass"),
    (["--sigmas", "3", "0"], "--sigmas 0.0: allowed are numbers > 0"),
    (["--sigmas", "-2"], "--sigmas -2.0: allowed are numbers > 0"),
    (["--sigmas", "nan"], "--sigmas nan: allowed are numbers > 0"),
    (["--seeds", "-1"], "--seeds -1: allowed are integers >= 0"),
    (["--epochs", "0"], "--epochs 0: allowed is an integer >= 1"),
    (["--cifar", "/no/such/dir"], "--cifar /no/such/dir: no train.zip there"),
    (["--no-digits"], "--no-digits without --cifar"),
    (["--set", "model.kernel_gain=-1"], "kernel_gain -1.0: allowed is > 0"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, argv, message):
    out, runs = tmp_path / "out", tmp_path / "runs"
    assert _main()([*argv, "--out", str(out), "--runs-root", str(runs)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("boundary_study: error: ") and message in err[0], err
    assert not out.exists() and not runs.exists()


def test_tiny_study_end_to_end(tmp_path, capsys):
    out, runs = tmp_path / "out", tmp_path / "runs"
    argv = [*TINY, "--out", str(out), "--runs-root", str(runs)]
    assert _main()(argv) == 0
    res = json.loads((out / "results.json").read_text())
    md = (out / "results.md").read_text()
    head = next(ln for ln in md.splitlines() if ln.startswith("| dataset"))
    assert head == ("| dataset | boundary | sigma | seeds | NS | held-out NS | live neurons | TE | corners x | "
                    "border x | evenness |")
    lines = [ln for ln in md.splitlines() if ln.startswith("| digits |")]
    assert [ln.split(" | ")[1] for ln in lines] == ["zeros", "circular"]
    # every run: its config (with the study's mode, sigma and seed), metrics, and provenance
    assert [(r["boundary"], r["sigma"], r["seed"]) for r in res["runs"]] == [("zeros", 1.0, 0), ("circular", 1.0, 0)]
    for r in res["runs"]:
        assert r["config"]["model"]["boundary"] == r["boundary"] and r["config"]["model"]["sigma"] == 1.0
        assert r["config"]["model"]["grid"] == [5, 5] and r["config"]["data"]["holdout"] == 0.2
        assert r["config"]["train"]["seed"] == 0 and r["config"]["train"]["epochs"] == 1
        assert r["provenance"]["git_commit"] and r["provenance"]["versions"]["torch"] and r["provenance"]["device"]
        assert r["wall_time_s"] > 0 and not r["cache_hit"]
        for k, _ in B.COLUMNS:
            assert isinstance(r[k], (int, float)), k
        assert 0 < r["live_share"] <= 1 and r["active_neurons"] == round(r["live_share"] * 25)
        assert (runs / r["key"] / "metrics.json").is_file()
    prov = res["provenance"]
    assert prov["device"] == "cpu" and prov["git_commit"] and "torch" in prov["versions"] and res["wall_seconds"] > 0
    assert res["command"].startswith("python bench/boundary_study.py --modes zeros circular")
    assert [(g["boundary"], g["sigma"], g["seeds"]) for g in res["groups"]] == [("zeros", 1.0, [0]), ("circular", 1.0, [0])]
    # a rerun trains nothing: both runs come from the store
    capsys.readouterr()
    assert _main()(argv) == 0
    res2 = json.loads((out / "results.json").read_text())
    assert all(r["cache_hit"] for r in res2["runs"]) and "2 runs, 0 trained now, 2 from the store" in capsys.readouterr().out
    assert [r["neural_selectivity"] for r in res2["runs"]] == [r["neural_selectivity"] for r in res["runs"]]


def _row(mode, sigma, seed, ns, corner):
    return {"dataset": "digits", "boundary": mode, "sigma": sigma, "seed": seed, "neural_selectivity": ns,
            "heldout_neural_selectivity": None, "active_neurons": 10, "topographic_error": 0.1,
            "corner_over_representation": corner, "border_over_representation": 1.0, "usage_evenness": 0.5}


def test_aggregate_means_and_spreads_over_seeds():
    rows = [_row("zeros", 5.0, 0, 0.7, 6.0), _row("zeros", 5.0, 1, 0.9, 2.0), _row("circular", 5.0, 0, 0.8, 1.0)]
    g = B.aggregate(rows)
    assert [(x["boundary"], x["seeds"]) for x in g] == [("zeros", [0, 1]), ("circular", [0])]
    assert g[0]["neural_selectivity"]["mean"] == pytest.approx(0.8)
    assert g[0]["neural_selectivity"]["sd"] == pytest.approx(np.std([0.7, 0.9], ddof=1))
    assert g[1]["corner_over_representation"] == {"mean": 1.0, "sd": 0.0, "n": 1}
    assert g[0]["heldout_neural_selectivity"] == {"mean": None, "sd": None, "n": 0}
    t = B.markdown_table(g).splitlines()
    assert t[2].startswith("| digits | zeros | 5 | 2 | 0.800 ± 0.141 | - | 10 ± 0 |")
    assert t[3].startswith("| digits | circular | 5 | 1 | 0.800 | - | 10 |")


def test_heatmap_draws_mode_by_sigma_on_the_given_ax():
    rows = [_row(m, s, 0, 0.5, c) for m, c0 in (("zeros", 4.0), ("mass", 2.0)) for s, c in ((3.0, c0), (10.0, c0 * 2))]
    fig = Figure()
    ax = fig.add_subplot()
    assert B.heatmap(B.aggregate(rows), ax=ax) is fig
    z = ax.images[0].get_array()
    assert z.tolist() == [[4.0, 8.0], [2.0, 4.0]]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["zeros", "mass"]
    assert sorted(t.get_text() for t in ax.texts) == sorted(["4.00", "8.00", "2.00", "4.00"])
    with pytest.raises(ValueError, match="key 'nope': allowed are"):
        B.heatmap(B.aggregate(rows), key="nope")


def test_study_configs_change_only_mode_sigma_and_seed():
    base = B.digits_config(epochs=3)
    cfgs = B.study_configs(base, ["zeros", "mass"], [3.0, 10.0], [0, 1])
    assert len(cfgs) == 8 and len({c.key() for *_, c in cfgs}) == 8
    for mode, sigma, seed, c in cfgs:
        diff = set(d.split(":")[0] for d in c.diff(base))
        assert diff <= {"model.boundary", "model.sigma", "train.seed"}
        assert (c.model.boundary, c.model.sigma, c.train.seed) == (mode, sigma, seed)
    assert base.model.grid == (30, 30) and base.data.holdout == 0.2 and base.train.epochs == 3


def test_read_results_says_in_one_line_what_is_missing(tmp_path):
    res, note = B.read_results(str(tmp_path / "none.json"))
    assert res is None and note.startswith(f"No boundary study results at {tmp_path / 'none.json'}")
    assert "\n" not in note
    (tmp_path / "bad.json").write_text("{")
    assert B.read_results(str(tmp_path / "bad.json"))[0] is None
    (tmp_path / "empty.json").write_text("{}")
    assert "holds no boundary study groups" in B.read_results(str(tmp_path / "empty.json"))[1]


def test_reading_follows_the_numbers():
    rows = [_row("zeros", 5.0, 0, 0.9, 6.0), _row("circular", 5.0, 0, 0.8, 1.1), _row("mass", 5.0, 0, 0.7, 0.2)]
    text = B.reading(B.aggregate(rows))
    assert text == ("digits, sigma 5: highest NS 0.900 with zeros; corners and border nearest an even share with "
                    "circular (corners 1.10x, border 1.00x).")
    rows[0]["neural_selectivity"] = 0.5
    assert "highest NS 0.800 with circular" in B.reading(B.aggregate(rows))


def test_heatmaps_a_panel_per_dataset_and_quantity():
    rows = [_row(m, 5.0, 0, 0.5, 1.0) for m in ("zeros", "circular")]
    rows += [dict(r, dataset="cifar10") for r in rows]
    fig = B.heatmaps(B.aggregate(rows))
    assert len([a for a in fig.axes if a.images]) == 4
    assert [a.get_title() for a in fig.axes if a.images][::2] == ["corners x, digits (mean over seeds)",
                                                                    "corners x, cifar10 (mean over seeds)"]


def test_logit_gap_is_the_kernel_centre_over_its_neighbour():
    """A neighbour-normalised kernel's gap is its gain at any sigma; a sum-normalised Gaussian's falls as sigma^-4."""
    from urlsom_core.config import ModelConfig

    for sigma in (2.0, 5.0, 10.0):
        assert B.logit_gap(ModelConfig(sigma=sigma, kernel_norm="neighbour", kernel_gain=0.008)) == pytest.approx(0.008, rel=1e-5)
    gaps = [B.logit_gap(ModelConfig(sigma=s, kernel_norm="sum", kernel_gain=1.0)) for s in (5.0, 10.0)]
    assert gaps[0] / gaps[1] == pytest.approx(16.0, rel=0.1)
    peak = B.logit_gap(ModelConfig(sigma=2.0, kernel_norm="peak", kernel_gain=1.0))
    assert peak == pytest.approx(1 - np.exp(-1 / 8), rel=1e-5)  # exp(-r^2 / (2 sigma^2)) at r = 1


def test_the_cifar_kernel_the_page_quotes_is_the_study_config():
    """cpu_model() is bench/configs/cifar10_cpu.yaml's model (the study's CIFAR-10 runs), its gap the 0.15 that the
    neighbour-normalised CIFAR-10 runs use, and 37 times the gap at sigma 5."""
    from urlsom_core.defaults import config_from_file

    cfg = config_from_file(str(ROOT / "bench" / "configs" / "cifar10_cpu.yaml"))
    assert B.cpu_model() == cfg.model and B.cpu_model(5.0) == cfg.replace(**{"model.sigma": 5.0}).model
    res = json.loads((ROOT / "bench/results/boundary_study_cifar_sigma/results.json").read_text())
    assert "model.kernel_gain=0.15" in res["overrides"]
    assert round(B.logit_gap(B.cpu_model()), 2) == 0.15
    assert round(B.logit_gap(B.cpu_model()) / B.logit_gap(B.cpu_model(5.0))) == 37

"""bench/defaults_bench.py: each URL-SOM run is the config `urlsom train` builds from the flags alone, bad input
is one line and exit 2 with nothing written, and a tiny two-seed run prints the side-by-side table."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _mod():
    spec = importlib.util.spec_from_file_location("bench_defaults_bench", ROOT / "bench" / "defaults_bench.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("argv, message", [
    (["--datasets", "svhn"], "--datasets svhn: allowed are digits, mnist, cifar10"),
    (["--datasets", "digits", "--seeds", "0", "-1"], "--seeds 0 -1: allowed are integers >= 0"),
    (["--datasets", "digits", "--threads", "0"], "--threads 0: allowed is an integer >= 1"),
    (["--datasets", "digits", "--max-minutes", "0"], "--max-minutes 0: allowed is > 0"),
])
def test_bad_input(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert _mod().main([*argv, "--out", str(out), "--runs", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"defaults_bench: error: {message}"]
    assert not out.exists() and not (tmp_path / "runs").exists()


def test_the_config_is_the_command_lines(monkeypatch):
    """The same flags through `urlsom train`'s parser give the same config key, and no config file is read."""
    from urlsom_book.cli import build_parser, resolve_args

    monkeypatch.chdir(ROOT)
    mod = _mod()
    args = mod.parse_args(["--datasets", "digits", "--seeds", "3"])
    cfg, reason, flags = mod.urlsom_config("digits", 3, args)
    assert flags == ["--dataset", "digits", "--holdout", "0.2", "--grid", "30", "30", "--max-minutes", "20",
                     "--seed", "3", "--device", "cpu"]
    same, _ = resolve_args(build_parser().parse_args(["train", "--out", "x", *flags]))
    assert cfg.key() == same.key() and cfg.train.seed == 3 and cfg.train.max_minutes == 20
    assert reason.startswith("defaults: rule 'few' for 1,437 images of 8 px")


@pytest.mark.slow  # trains two tiny maps and fits MiniSom and k-means (about 20 s)
def test_a_tiny_two_seed_table(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--datasets", "digits", "--seeds", "0", "1", "--grid", "20", "20", "--max-minutes", "0.05",
            "--som-iterations", "200", "--threads", "1", "--runs", str(tmp_path / "runs"), "--out", str(out)]
    assert _mod().main(argv) == 0
    printed = capsys.readouterr().out
    res = json.loads((out / "defaults_digits.json").read_text())
    # 1,437 digits on 400 neurons are few a neuron: the rule balances usage and reads out through prototypes; the
    # same maps with the network's own winners, and without the bias, get rows of their own
    assert [r["method"] for r in res["summary"]] == ["URL-SOM", "URL-SOM, network's winners", "URL-SOM, no bias",
                                                     "MiniSom σ=1", "MiniSom σ=3→1", "k-means"]
    assert [r["seed"] for r in res["rows"]] == [0] * 6 + [1] * 6
    net = [r for r in res["rows"] if r["method"] == "URL-SOM, network's winners"]
    runs = [json.loads(p.read_text()) for p in sorted((tmp_path / "runs").glob("*/metrics.json"))]
    readouts = [m["readout"]["bias_only"] for m in runs]  # the bias alone, no prototypes
    assert sorted(r["topographic_error"] for r in net) == sorted(b["topographic_error"] for b in readouts)
    nobias = [r for r in res["rows"] if r["method"] == "URL-SOM, no bias"]
    # metrics.json's top level: the network's own figures (no bias, no readout), TE and usage figures included
    assert sorted(r["heldout_neural_selectivity"] for r in nobias) == sorted(m["heldout_neural_selectivity"] for m in runs)
    assert sorted(r["topographic_error"] for r in nobias) == sorted(m["topographic_error"] for m in runs)
    assert sorted(r["corner_over_representation"] for r in nobias) == sorted(m["corner_over_representation"] for m in runs)
    assert res["summary"][2]["topographic_error"]["max"] == max(m["topographic_error"] for m in runs)
    assert all("provenance" not in r for r in nobias)  # the figures only, not the run's own keys
    u = [r for r in res["rows"] if r["method"] == "URL-SOM"]  # the map as `urlsom train` reads it out
    assert sorted(r["neural_selectivity"] for r in u) == sorted(m["readout"]["neural_selectivity"] for m in runs)
    assert "no bias" in (out / "defaults_digits.md").read_text()
    assert "`readout.bias_only`" in (out / "defaults_digits.md").read_text()
    assert len(set(res["config_keys"])) == 2 and res["configs"][1]["train"]["seed"] == 1
    u = [r for r in res["rows"] if r["method"] == "URL-SOM"]
    hs = [r["heldout_neural_selectivity"] for r in u]
    s = res["summary"][0]["heldout_neural_selectivity"]
    assert s == pytest.approx({"mean": sum(hs) / 2, "min": min(hs), "max": max(hs)})
    assert res["verdict"].startswith("digits: NOT MET: held-out NS mean")  # 3 seconds of training
    assert "corners x" in printed and "| k-means | raw pixels (1x8x8) | 0 1 |" in printed
    assert (out / "defaults_digits.md").read_text().splitlines()[2].startswith("| method | inputs | seeds | NS |")
    assert "git_commit" in res["provenance"] and res["defaults_line"].startswith("defaults: rule 'few'")

"""bench/threshold_study.py: the candidate maps of the defaults rule forced at each size, scored as the transfer suite
scores a cell; resumed and merged without training again; bad input is one line."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
spec = importlib.util.spec_from_file_location("threshold_study", ROOT / "bench" / "threshold_study.py")
th = importlib.util.module_from_spec(spec)
spec.loader.exec_module(th)


def test_subset_size_gives_the_training_images_per_neuron():
    assert th.subset_size(2.0, (30, 30)) == 2250  # 1,800 training images after the 20% held out
    assert th.subset_size(4.5, (30, 30)) == 5063


def test_a_candidate_is_the_rule_with_its_map_and_readouts_then_the_rule_is_restored():
    from urlsom_core import defaults

    before = defaults.FEW_PER_NEURON, defaults.RULE
    with th.candidate("cpu"):
        got = defaults.auto_defaults(100, 8, 1, "cpu", 1)  # 0.1 a neuron, yet no readouts
        assert got.rule == "cpu-many" and got.sections["model"]["sigma"] == 2.0
    with th.candidate("torus+readout"):  # the former few-images map
        got = defaults.auto_defaults(10**6, 32, 3, "cpu", 1)
        assert got.rule == "few" and got.sections["model"]["boundary"] == "circular"
        assert got.sections["model"]["kernel_gain"] == 0.008 and got.sections["train"]["batch_size"] == 64
    with th.candidate("cpu+readout"):  # the CPU map alone: the rule's shrinking sigma is left out
        got = defaults.auto_defaults(10**6, 32, 3, "cpu", 1)
        assert got.sections["model"]["prototype_readout"] and got.sections["model"]["kernel_gain"] == 32.0
        assert got.sections["model"]["sigma"] == 2.0 and "sigma_end" not in got.sections["model"]
    for name, change in [("cpu-sigma3+readout", {"sigma": 3.0}), ("cpu-anneal+readout", {"sigma": 5.0, "sigma_end": 2.0}),
                         ("cpu-torus+readout", {"sigma": 2.0, "boundary": "circular"})]:
        with th.candidate(name):  # the CPU map with one change
            m = defaults.auto_defaults(10**6, 32, 3, "cpu", 1).sections["model"]
            assert {k: m[k] for k in change} == change and m["kernel_gain"] == 32.0 and m["usage_balance"]
            assert ("sigma_end" in m) == ("sigma_end" in change)
    for name, section, change in [("cpu-anneal-crop75+readout", "data", {"crop_min": 0.75}),
                                  ("cpu-anneal-crop85+readout", "data", {"crop_min": 0.85}),
                                  ("cpu-anneal-batch256+readout", "train", {"batch_size": 256}),
                                  ("cpu-anneal-batch512+readout", "train", {"batch_size": 512}),
                                  ("cpu-anneal-collapse2+readout", "train", {"collapse_weight": 2.0}),
                                  ("cpu-anneal-kick+readout", "train", {"warmup_collapse_weight": 2.0,
                                                                        "warmup_collapse_epochs": 15})]:
        with th.candidate(name):  # the shrinking sigma with one more change; the rule's "input" choice kept
            s = defaults.auto_defaults(10**6, 28, 1, "cpu", 1).sections
            assert {k: s[section][k] for k in change} == change and s["data"]["input_size"] == 16
            assert (s["model"]["sigma"], s["model"]["sigma_end"]) == (5.0, 2.0) and s["model"]["prototype_readout"]
            assert s["train"]["gamma"] == 1.0 and ("crop_min" in s["data"]) == (section == "data")
            assert s["train"]["batch_size"] == change.get("batch_size", 128)
    with th.candidate("cpu-anneal"):  # the shrinking sigma without readouts, at any size
        m = defaults.auto_defaults(100, 8, 1, "cpu", 1).sections["model"]
        assert (m["sigma"], m["sigma_end"]) == (5.0, 2.0) and "usage_balance" not in m
    assert (defaults.FEW_PER_NEURON, defaults.RULE) == before
    # the rule's own config on a CPU is the candidate RULE_CPU at every size
    assert defaults.auto_defaults(100, 8, 1, "cpu", 1).sections == _rule_sections(th.RULE_CPU, 100)
    assert defaults.auto_defaults(10**6, 32, 3, "cpu", 1).sections == _rule_sections(th.RULE_CPU, 10**6)


def _rule_sections(name, n):
    from urlsom_core import defaults

    with th.candidate(name):
        return defaults.auto_defaults(n, 32 if n > 1000 else 8, 3 if n > 1000 else 1, "cpu", 1).sections


def test_tiny_study_end_to_end_resumes_and_merges(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    common = ["--set", "textures", "--per-neuron", "4", "8", "--tiny", "--runs", str(tmp_path / "runs")]
    assert th.main([*common, "--maps", "torus+readout", "--out", str(a)]) == 0
    assert th.main([*common, "--maps", "cpu", "--out", str(b)]) == 0
    res = json.loads((a / "results.json").read_text())
    assert sorted(c["id"] for c in res["cells"]) == ["4/torus+readout/0", "8/torus+readout/0"]
    for c in res["cells"]:
        assert "rule 'few'" in c["rule"] and [r["method"] for r in c["rows"]] == ["URL-SOM (network)", "URL-SOM (readout)"]
        assert c["n_train"] == 4 * 25 * (1 if c["per_neuron"] == 4 else 2)  # 5x5 map
        assert c["rows"][0]["spearman"] is not None  # textures have latents
        cfg = json.loads((Path(c["run"]) / "config.json").read_text())["config"]
        assert cfg["model"]["boundary"] == "circular" and cfg["model"]["kernel_gain"] == 0.008
    cpu = json.loads((b / "results.json").read_text())["cells"][0]
    cfg = json.loads((Path(cpu["run"]) / "config.json").read_text())["config"]
    assert cfg["model"]["sigma"] == 2.0 and cfg["train"]["batch_size"] == 128  # the CPU setting
    assert [r["method"] for r in cpu["rows"]] == ["URL-SOM (network)"]
    capsys.readouterr()
    both = tmp_path / "both"
    assert th.main([*common, "--maps", "torus+readout", "cpu", "--out", str(both), "--merge", str(a), str(b)]) == 0
    err = capsys.readouterr().err
    assert err.count("done, skipped") == 4 and "images a neuron, map" not in err  # nothing trained again
    md = (both / "results.md").read_text()
    assert "| 4 | 100 | torus+readout | URL-SOM (readout) |" in md and "| 8 | 200 | cpu | URL-SOM (network) |" in md
    assert "cpu*" not in md  # the rule's own map on a CPU is cpu-anneal+readout (RULE_CPU), not the fixed sigma
    assert th.main([*common, "--maps", "cpu", "--out", str(tmp_path / "c"), "--merge", str(tmp_path / "none")]) == 2
    # a cell stored before model.readout_refits existed (one refit): kept under its own id and named so; a resume
    # trains today's readout beside it, and the network-only cell is today's still
    res = json.loads((both / "results.json").read_text())
    for c in res["cells"]:
        del c["readout_refits"]
    (both / "results.json").write_text(json.dumps(res))
    capsys.readouterr()
    assert th.main([*common, "--maps", "torus+readout", "cpu", "--out", str(both)]) == 0
    err = capsys.readouterr().err
    assert err.count("done, skipped") == 2 and err.count("images a neuron, map torus+readout") == 2
    res = json.loads((both / "results.json").read_text())
    assert sorted(c["id"] for c in res["cells"]) == ["4/cpu/0", "4/torus+readout/0", "4/torus+readout/0/refits1",
                                                     "8/cpu/0", "8/torus+readout/0", "8/torus+readout/0/refits1"]
    md = (both / "results.md").read_text()
    assert "| 4 | 100 | torus+readout (1 refit) | URL-SOM (readout) |" in md
    assert "| 4 | 100 | torus+readout | URL-SOM (readout) |" in md


@pytest.mark.parametrize("args, needle", [
    (["--set", "nosuch", "--per-neuron", "2"], "--set nosuch: allowed is one of"),
    (["--set", "digits", "--per-neuron", "0"], "--per-neuron 0.0: allowed are numbers > 0"),
    (["--set", "digits", "--per-neuron", "2", "--maps", "some"], "--maps some: allowed are torus+readout, cpu, cpu+readout, cpu-sigma3"),
    (["--set", "digits", "--per-neuron", "3"], "--per-neuron: 3,375 images needed, digits has 1,797"),
    # 50 noisy digits, the first of the 1,797: a class with one image cannot be split (no traceback, no file)
    (["--set", "digits-noisy", "--per-neuron", "1.6", "--tiny"], "--per-neuron 1.6: holdout 0.2 of 50 images"),
])
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, args, needle):
    out = tmp_path / "out"
    assert th.main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and err.startswith("threshold_study: error:")
    assert not out.exists()

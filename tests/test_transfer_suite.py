"""bench/transfer_suite.py: the sets and roles, the `urlsom train` config of a cell, the pass lines, bad input,
and the tiny suite end to end on two generated sets (seconds), resumed without training again."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("transfer_suite", ROOT / "bench" / "transfer_suite.py")
ts = importlib.util.module_from_spec(spec)
sys.modules["transfer_suite"] = ts  # its dataclasses look their module up
spec.loader.exec_module(ts)

TINY = ["--tiny", "--sets", "shapes", "textures", "--seeds", "0"]


def test_nine_sets_with_roles_and_latents():
    assert len(ts.SETS) >= 6
    assert [s.name for s in ts.SETS if s.default_role == "chose"] == ["digits", "mnist", "cifar10", "ellipses"]
    assert {s.name for s in ts.SETS if s.has_latents} == {"shapes", "shapes-many", "textures", "ellipses"}
    a = ts.parse_args(["--out", "x", "--sets", "digits", "shapes", "--chose", "shapes", "--seeds", "0"])
    assert ts.check(a) == {"digits": "report", "shapes": "chose"}  # leave-one-dataset-out: roles can move


def test_a_cell_is_configured_as_urlsom_train_resolves_its_flags(tmp_path):
    from urlsom_book.cli import build_parser, resolve_args
    from urlsom_core.configure import resolve_config

    a = ts.parse_args(["--out", str(tmp_path), "--minutes", "7", "--sets", "digits"])
    flags = ts.train_flags(ts.BY_NAME["digits"], "digits", 2, a)
    assert flags == ["--dataset", "digits", "--holdout", "0.2", "--max-minutes", "7", "--seed", "2", "--device", "cpu"]
    cfg, rule = resolve_args(build_parser().parse_args(["train", *flags, "--out", "-"]))
    same, _ = resolve_config({"data.dataset": "digits", "data.holdout": 0.2, "train.max_minutes": 7.0,
                              "train.seed": 2}, device="cpu")
    assert cfg == same and "rule 'few'" in rule and cfg.model.grid == (30, 30)
    cif = ts.train_flags(ts.BY_NAME["cifar10"], "imagefolder:x.zip", 0, a)
    assert cif[cif.index("--subset") + 1] == "10000"


def test_flags_ride_on_top_of_the_rule_and_are_part_of_the_settings(tmp_path):
    a = ts.parse_args(["--out", str(tmp_path), "--sets", "digits", "--flags", "--sigma-end 2 --kernel-gain 0.15",
                       "--no-minisom"])
    flags = ts.train_flags(ts.BY_NAME["digits"], "digits", 0, a)
    assert flags[-4:] == ["--sigma-end", "2", "--kernel-gain", "0.15"]
    assert ts.settings(a)["flags"] == "--sigma-end 2 --kernel-gain 0.15" and ts.settings(a)["minisom"] is False
    assert ts.check(a) == {"digits": "chose"}


def _cell(name, seed, rows):
    return {"set": name, "seed": seed, "rule": "defaults: rule 'cpu' for ...", "command": "urlsom train ...",
            "n_train": 8, "n_heldout": 2, "rows": rows}


def _row(method, ns, te, live, rho):
    return {"method": method, "n_neurons": 100, "heldout_ns": ns, "te": te, "live": live, "spearman": rho}


def test_table_means_and_pass_lines_for_report_sets_only():
    cells = [_cell("shapes", s, [_row("URL-SOM (network)", 0.6 + 0.1 * s, 0.05, 70, 0.6),
                                 _row("MiniSom σ=3→1", 0.55, 0.0, 100, 0.3)]) for s in (0, 1)]
    cells += [_cell("digits", 0, [_row("URL-SOM (network)", 0.1, 0.5, 10, None), _row("MiniSom σ=3→1", 0.9, 0.0, 99, None)])]
    roles = {"shapes": "report", "digits": "chose"}
    lines = ts.table(cells, roles)
    row = next(line for line in lines if line.startswith("| shapes | report | cpu | URL-SOM (network) | 0 1 |"))
    assert "0.650 (0.071)" in row and "70 (0) / 100" in row and "0.600 (0.000)" in row
    assert any(line.startswith("| digits | chose |") and line.endswith("| - |") for line in lines)
    p = ts.pass_lines(cells, roles)
    assert len(p) == 1 and p[0].startswith("- shapes, URL-SOM (network), 2 seed(s): **pass**")
    cells[0]["rows"][0]["te"] = 0.3  # mean TE 0.175 > 0.10
    assert "**FAIL**" in ts.pass_lines(cells, roles)[0] and "TE 0.175 <= 0.10 FAIL" in ts.pass_lines(cells, roles)[0]
    assert "reference map" not in ts.pass_lines(cells, roles)[0]
    for c in cells[:2]:  # the reference (MiniSom on the latents) is named beside the Spearman line, gets none itself
        c["rows"].append(_row(ts.REFERENCE, 0.5, 0.0, 100, 0.42))
    p = ts.pass_lines(cells, roles)
    assert len(p) == 1 and "latent Spearman 0.600 >= 0.5 (the reference map of the latents themselves: 0.420) pass" in p[0]


@pytest.mark.parametrize("argv, message", [
    (["--sets", "svhn"], "--sets svhn: allowed are digits"),
    (["--seeds", "-1"], "--seeds -1: allowed are integers >= 0"),
    (["--chose-seeds", "0", "0"], "--chose-seeds 0 0: a seed named twice"),
    (["--minutes", "0"], "--minutes 0.0: allowed is a number > 0"),
    (["--chose", "nope"], "--chose nope: allowed are"),
    (["--threads", "0"], "--threads 0: allowed is an integer >= 1"),
    (["--sets", "shapes", "shapes"], "a set named twice"),
    (["--flags", "--nope 3"], "--flags '--nope 3': --nope 3 not flags of `urlsom train`"),
    (["--flags", "--sigma x"], "--flags '--sigma x': urlsom: error: argument --sigma: invalid float value: 'x'"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert ts.main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("transfer_suite: error: ") and message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_tiny_suite_end_to_end_and_resumed(tmp_path, capsys):
    out = tmp_path / "out"
    assert ts.main([*TINY, "--out", str(out)]) == 0
    printed = capsys.readouterr()
    res = json.loads((out / "results.json").read_text())
    assert [(c["set"], c["seed"]) for c in res["cells"]] == [("shapes", 0), ("textures", 0)]
    assert res["settings"]["grid"] == [5, 5] and res["provenance"]["git_commit"]
    for c in res["cells"]:
        assert c["command"].startswith(f"urlsom train --dataset npz:{out.resolve()}/data/{c['set']}_tiny.npz "
                                       "--holdout 0.2 --max-minutes 20 --seed 0 --grid 5 5 --epochs 1")
        assert "rule 'cpu-many'" in c["rule"] and c["n_heldout"] == 40  # 160 images on 25 neurons
        methods = [r["method"] for r in c["rows"]]
        assert methods == ["URL-SOM (network)", "URL-SOM (readout)", "MiniSom σ=1", "MiniSom σ=3→1", ts.REFERENCE]
        ref = c["rows"][-1]  # MiniSom handed the latents: it orders them (textures: 2 latents on a 2D map)
        assert ref["inputs"].startswith("the standardised latents") and ref["spearman"] > 0.2
        for r in c["rows"]:
            assert 0 <= r["heldout_ns"] <= 1 and 0 <= r["te"] <= 1 and 1 <= r["live"] <= 25
            assert r["spearman"] is None or -1 <= r["spearman"] <= 1
        assert any(r["spearman"] is not None for r in c["rows"])
        parts = c["rows"][0]["spearman_parts"]  # the Spearman taken apart: per latent, all pairs and within a class
        assert set(parts) == set(c["latent_names"]) and all(set(v) == {"all", "within_class"} for v in parts.values())
    md = (out / "results.md").read_text()
    assert "| set | role | rule | method |" in md and "| shapes | report | cpu-many | URL-SOM (network) | 0 |" in md
    assert "- textures, URL-SOM (network), 1 seed(s): **" in md and "latent Spearman" in md
    assert "## The latent Spearman taken apart" in md and "- shapes, URL-SOM (network): x_from_midline_px " in md
    assert "| textures | report | cpu-many | URL-SOM (network) | 0 |" in printed.out  # the table, printed
    # again: every cell is in results.json, nothing is trained
    assert ts.main([*TINY, "--out", str(out)]) == 0
    assert printed.err.count("training and scoring") == 2
    assert capsys.readouterr().err.count("skipped") == 2
    # a stored cell without the reference row (scored before the suite had it) gets it, without training
    trimmed = {**res, "cells": [{**c, "rows": [r for r in c["rows"] if r["method"] != ts.REFERENCE]} for c in res["cells"]]}
    (out / "results.json").write_text(json.dumps(trimmed))
    assert ts.main([*TINY, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.count("adding the reference row") == 2 and "training and scoring" not in err
    assert all(c["rows"][-1] == r["rows"][-1] for c, r in
               zip(json.loads((out / "results.json").read_text())["cells"], res["cells"], strict=True))
    # other settings in the same --out: refused in one line
    assert ts.main([*TINY, "--minutes", "5", "--out", str(out)]) == 2
    assert "has other settings" in capsys.readouterr().err
    # a cell trained under another rule (its stored key differs from today's) is trained again
    res["cells"][0]["config_key"] = "0" * 16
    (out / "results.json").write_text(json.dumps(res))
    assert ts.main([*TINY, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "shapes/0: done under another config" in err and err.count("training and scoring") == 1
    assert err.count("skipped") == 1
    # its MiniSom rows (raw pixels, the same split and seed) are taken from the stored cell, not fitted again
    assert err.count("the stored row of this set, seed and split") == 2
    again = json.loads((out / "results.json").read_text())["cells"]
    assert [r for r in again[0]["rows"] if r["method"].startswith("MiniSom")] == \
        [r for r in res["cells"][0]["rows"] if r["method"].startswith("MiniSom")]
    # the cells of suites run side by side on parts of the sets, merged: nothing is trained
    merged = tmp_path / "merged"
    assert ts.main([*TINY, "--out", str(merged), "--merge", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.count("skipped") == 2 and "training and scoring" not in err
    assert len(json.loads((merged / "results.json").read_text())["cells"]) == 2
    # a stale copy of a cell merged first does not hide the fresh one merged after it
    stale = tmp_path / "stale"
    stale.mkdir()
    old = json.loads((out / "results.json").read_text())
    old["cells"] = [{**c, "config_key": "0" * 16} for c in old["cells"]]
    (stale / "results.json").write_text(json.dumps(old))
    assert ts.main([*TINY, "--out", str(tmp_path / "m3"), "--merge", str(stale), str(out)]) == 0
    err = capsys.readouterr().err
    assert err.count("skipped") == 2 and "training and scoring" not in err
    assert ts.main([*TINY, "--out", str(tmp_path / "m2"), "--merge", str(tmp_path / "none")]) == 2
    assert "--merge" in capsys.readouterr().err and not (tmp_path / "m2").exists()

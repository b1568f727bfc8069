"""bench/profile_results.py (urlsom_book.profile_results): a profile's numbers from its stored runs, never
training one, into the result file the book's results page reads; and the page's side of that file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from urlsom_book import claims as C
from urlsom_book import profile_results as PR
from urlsom_book.profiles import load_profile

ROOT = Path(__file__).resolve().parent.parent
SSL = ROOT / "bench" / "results" / "ssl_baseline" / "cifar10_10k_5min.json"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A run store holding every run the tiny profile's figure pages use (seconds each)."""
    from urlsom_core.runs import get_or_train

    root = tmp_path_factory.mktemp("runs")
    prof = load_profile("tiny")
    for name in PR.FIGURE_TITLES:
        for _, cfg in PR.figure_runs(prof, name, root)["maps"]:
            get_or_train(cfg, root=root, device="cpu", progress=False, log=lambda s: None)
    return root


def _snapshot(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow  # a store of the tiny profile's 8 runs: seconds each, a minute on a busy machine
def test_the_script_reads_every_figure_from_the_store_and_trains_nothing(store, tmp_path, capsys):
    from urlsom_core.runs import Run

    before = _snapshot(store)
    out = tmp_path / "out"
    assert PR.main(["--runs", str(store), "--profile", "tiny", "--out", str(out), "--ssl", str(SSL)]) == 0
    assert _snapshot(store) == before  # nothing trained, nothing rewritten
    assert sorted(p.name for p in out.iterdir()) == ["ns_per_epoch.png", "results.json", "results.md"]
    res = json.loads((out / "results.json").read_text())
    assert list(res["figures"]) == list(PR.FIGURE_TITLES)
    f4 = res["figures"]["fig04_cifar10_map"]
    assert [r["map"] for r in f4["runs"]] == ["seed 0", "seed 1"] and f4["heldout"] is None  # tiny: no held-out run
    for fig in res["figures"].values():  # every figure, numbers as its run's metrics.json has them
        for r in fig["runs"]:
            run = Run.load(store / r["key"])
            m = run.metrics
            assert (r["ns"], r["live"], r["te"], r["epochs"], r["stop_reason"], r["train_seconds"]) == (
                m["neural_selectivity"], m["active_neurons"], m["topographic_error"], m["epochs_trained"],
                m["stop_reason"], m["train_seconds"])
            assert r["readout"]["ns"] == m["readout"]["neural_selectivity"] != r["ns"]  # tiny fits a bias beside
            assert r["trained"]["git_commit"] == run.manifest["provenance"]["git_commit"]
    nums = f4["numbers"]
    assert (nums["ns"], nums["ns_seed2"]) == (f4["runs"][0]["ns"], f4["runs"][1]["ns"])
    f7, f11 = res["figures"]["fig07_cifar10_sigma"], res["figures"]["fig11_student_t"]
    assert [r["map"] for r in f7["runs"]] == ["sigma 3", "sigma 10"] and f7["numbers"]["ns_sigma10"] == f7["runs"][1]["ns"]
    assert f11["numbers"]["ns_best"] == max(r["ns"] for r in f11["runs"])
    assert res["figures"]["fig05_cifar10_loss"]["runs"][0]["key"] == f4["runs"][0]["key"]  # one run, shared
    # the claims of Fig. 4, 5, 7 and 11, the seed spread of Fig. 4 for Fig. 7's and 11's NS orders
    assert len(res["claims"]) == 12 + 2 + 3 + 3 and sum(res["verdicts"].values()) == 20
    assert res["claims"][14]["values"]["noise"] == pytest.approx(abs(nums["ns"] - nums["ns_seed2"]))
    curve = res["ns_per_epoch"]
    hist = Run.load(store / f4["runs"][0]["key"]).history
    assert [r["epoch"] for r in curve["epochs"]] == [h["epoch"] + 1 for h in hist]
    assert [r["ns"] for r in curve["epochs"]] == [h["monitor_ns"] for h in hist] and curve["paper_ns"] == 0.703
    assert res["ssl"]["knn_accuracy"] == 0.3385 and res["ssl"]["k"] == 200
    assert res["command"].startswith("python -m urlsom_book.profile_results --runs ") and res["git_commit"]
    assert res["date"].endswith("UTC") and "cores" in res["machine"] and res["provenance"]["git_commit"]
    md = (out / "results.md").read_text()
    assert md.startswith("# Profile `tiny`: the numbers of its stored runs\n\n")
    assert f"| Fig. 4 | seed 0 | `{f4['runs'][0]['key']}` |" in md and "| Fig. 5 | - |" in md
    assert "![NS per epoch of Fig. 4's run](ns_per_epoch.png)" in md and "| SimSiam (lightly), 7.1 epochs in 5 min on 10,000 images | 0.339 |" in md
    assert "wrote" in capsys.readouterr().out


@pytest.mark.slow  # a store of the tiny profile's 8 runs: seconds each, a minute on a busy machine
def test_the_book_reads_one_number_or_says_not_yet_measured(store, tmp_path):
    res = PR.collect("tiny", store)
    ns = res["figures"]["fig04_cifar10_map"]["numbers"]["ns"]
    assert PR.role_text("fig04_cifar10_map.ns:.3f", res) == f"{ns:.3f}"
    assert PR.role_text("fig04_cifar10_map.n_images:,d", res) == "200"
    assert PR.role_text("fig04_cifar10_map.heldout_ns:.3f", res) == "-"  # tiny has no held-out run
    assert PR.role_text("fig04_cifar10_map.ns:.3f", None) == "not yet measured"
    assert PR.load(tmp_path / "nothing.json") is None
    absent = PR.page_markdown(None, None, "python bench/profile_results.py ...")
    assert absent.startswith("**Not yet measured**") and "python bench/profile_results.py ..." in absent
    page = PR.page_markdown(res, "../x.png", "unused")
    assert not any(line.startswith("#") for line in page.splitlines())  # inside the page's own section
    assert "**Every figure's runs.**" in page and "![NS per epoch of Fig. 4's run](../x.png)" in page
    rows = C.claims_from_json(res["claims"])
    assert [r.verdict for r in rows if r.figure == "Fig. 4"] == [C.CANNOT_TELL] * 12  # digits: no CIFAR-10 classes


@pytest.mark.slow  # a store of the tiny profile's 8 runs: seconds each, a minute on a busy machine
def test_a_page_finds_another_figures_runs_only_when_stored(store, tmp_path):
    from urlsom_book import notebook

    fig7 = notebook.setup("fig07_cifar10_sigma", "tiny", runs_root=str(store), out_dir=str(tmp_path))
    runs = fig7.stored_runs("fig04_cifar10_map")
    assert [r.config.train.seed for r in runs] == [0, 1] and all(r.cache_hit for r in runs)
    spread, note = fig7.seed_spread()
    assert spread == pytest.approx(C.seed_spread(runs)) and f"{spread:.3f}" in note
    empty = notebook.setup("fig07_cifar10_sigma", "tiny", runs_root=str(tmp_path / "none"), out_dir=str(tmp_path))
    assert empty.stored_runs("fig04_cifar10_map") is None and empty.seed_spread()[0] is None
    assert not (tmp_path / "none").exists()  # nothing trained
    other = notebook.setup("fig07_cifar10_sigma", "tiny", runs_root=str(store), out_dir=str(tmp_path), grid=[4, 4])
    assert other.stored_runs("fig04_cifar10_map") is None  # Fig. 4's maps are of another size than this page's


def _run_script(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, str(ROOT / "bench" / "profile_results.py"), *args], capture_output=True,
                          text=True, cwd=cwd, env=env)


@pytest.mark.slow  # the tiny store
def test_only_reads_the_figures_named_and_a_note_is_kept(store, tmp_path):
    out = tmp_path / "out"
    assert PR.main(["--runs", str(store), "--profile", "tiny", "--out", str(out), "--note", "a shared 'busy' machine"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["note"] == "a shared 'busy' machine" and res["command"].endswith("--note 'a shared '\"'\"'busy'\"'\"' machine'")
    md = (out / "results.md").read_text()
    assert "--note NOTE`" in md and "How the runs were made (NOTE): a shared 'busy' machine" in md
    res = PR.collect("tiny", store, only="fig04,fig07")
    assert list(res["figures"]) == ["fig04_cifar10_map", "fig07_cifar10_sigma"] and res["only"] == "fig04,fig07"
    assert [r["figure"] for r in res["claims"]].count("Fig. 7") == 3 and len(res["claims"]) == 12 + 3
    assert "(`--only fig04,fig07`)" in PR.results_markdown(res)
    with pytest.raises(PR.ConfigError, match="--only 'fig99': no such notebook"):
        PR.collect("tiny", store, only="fig99")


@pytest.mark.parametrize("case, message", [
    ("no store", "urlsom: error: --runs {tmp}/nowhere: no such folder"),
    ("empty store", "urlsom: error: --runs {tmp}/empty: 11 run(s) of profile 'tiny' are not complete there: "
                    "fig04_cifar10_map seed 0 ("),
    ("profile", "urlsom: error: profile 'nosuch': allowed are"),
    ("ssl", "urlsom: error: --ssl {tmp}/bad.json: not a SimSiam result file"),
    ("out", "urlsom: error: --out {tmp}/file: is a file; allowed is a folder"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, message, tmp_path):
    (tmp_path / "empty").mkdir()  # a store without the runs: each other check comes before the runs are read
    (tmp_path / "bad.json").write_text('{"what": "not a SimSiam result"}')
    (tmp_path / "file").write_text("")
    runs, profile, extra, out = str(tmp_path / "empty"), "tiny", [], str(tmp_path / "out")
    if case == "no store":
        runs = str(tmp_path / "nowhere")
    elif case == "profile":
        profile = "nosuch"
    elif case == "ssl":
        extra = ["--ssl", str(tmp_path / "bad.json")]
    elif case == "out":
        out = str(tmp_path / "file")
    proc = _run_script("--runs", runs, "--profile", profile, "--out", out, *extra, cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(message.format(tmp=tmp_path)), lines[0]
    assert not (tmp_path / "out").exists() and (tmp_path / "file").read_text() == ""


def test_a_missing_flag_is_one_line_exit_2(tmp_path):
    proc = _run_script("--runs", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "urlsom: error: the following arguments are required: --profile, --out"]


def test_the_committed_result_file_if_any_is_the_scripts_own():
    """bench/results/cifar10_cpu/results.json, when committed, is what the script writes: every figure of the
    profile, its provenance and rows the book can read."""
    path = ROOT / "bench" / "results" / "cifar10_cpu" / "results.json"
    if not path.is_file():
        pytest.skip("no cifar10-cpu result file committed yet (the results page says: not yet measured)")
    res = json.loads(path.read_text())
    assert res["profile"]["name"] == "cifar10-cpu" and res["command"].startswith("python bench/profile_results.py")
    figures = set(PR.FIGURE_TITLES) if not res["only"] else {n for n in PR.FIGURE_TITLES
                                                             if any(n.startswith(k) for k in res["only"].split(","))}
    assert set(res["figures"]) == figures and res["date"] and res["git_commit"]
    f4 = res["figures"]["fig04_cifar10_map"]
    assert f4["numbers"]["n_images"] == 60000 and f4["heldout"]["heldout_ns"] is not None
    assert np.isfinite(f4["numbers"]["ns"]) and len(C.claims_from_json(res["claims"])) == 20

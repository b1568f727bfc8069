"""Profiles, the notebook registry and `urlsom reproduce`: shared runs, cache hits, failures named by cell."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import jupytext
import nbformat
import pytest

from urlsom_book import cli, notebook, profiles, reproduce, summary
from urlsom_core.config import ConfigError
from urlsom_core.defaults import defaults_for

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("fig*.py"))


# ------------------------------------------------------------------------------------------- profiles
def test_builtin_profiles_load_and_quick_builds_on_the_digits_defaults():
    quick = profiles.load_profile("quick")
    assert quick.chain == ["quick", "paper"]
    cfg = quick.runs["cifar10"].config()
    for section, values in defaults_for("digits").items():
        for k, v in values.items():
            if f"{section}.{k}" not in quick.runs["cifar10"].settings:
                got = getattr(getattr(cfg, section), k)
                assert got == (tuple(v) if isinstance(v, list) else v), f"{section}.{k}"
    svhn = quick.runs["svhn"].config()
    assert svhn.data.dataset == "digits" and svhn.data.invert_fraction == 1.0 and svhn.data.invert_copy and svhn.data.flip is False
    assert quick.runs["cifar10"].stands_in_for == "CIFAR-10" and quick.runs["svhn"].stands_in_for == "SVHN"
    paper = profiles.load_profile("paper").runs["cifar10"].config()
    assert (paper.data.dataset, paper.model.grid, paper.model.sigma, paper.train.epochs, paper.train.batch_size) == (
        "cifar10", (30, 30), 5.0, 500, 256)


def test_the_paper_profile_names_a_source_for_every_number_and_quick_a_reason_for_every_change():
    paper = profiles.load_profile("paper")
    for run in paper.runs.values():
        for k, s in run.settings.items():
            assert s.paper or s.note, f"paper run {run.name} {k} has no paper section"
    for fig, entry in paper.figures.items():
        for k, s in entry.items():
            assert k == "run" or s.paper or s.note, f"paper figure {fig} {k} has no paper section"
    for fig, numbers in paper.reported.items():
        for k, s in numbers.items():
            assert s.paper, f"reported {fig} {k} has no paper section"
    quick = profiles.load_profile("quick")
    for rname, own in quick.changes.items():
        for k, s in own.items():
            assert s.why or s.paper, f"quick run {rname} {k} changes the paper without a why"


def test_figures_that_share_a_training_get_the_same_run():
    p = profiles.load_profile("quick")
    keys = {}
    for name in NOTEBOOKS:
        params = p.parameters(name)
        keys[name] = reproduce.plan_keys(p, name, params)
    assert keys["fig03_loss_landscape"] == []
    assert len(keys["fig04_cifar10_map"]) == 2  # two seeds
    assert keys["fig05_cifar10_loss"] == keys["fig06_neuron_scatter"] == keys["fig04_cifar10_map"][:1]
    assert keys["fig08_svhn_map"] == keys["fig10_svhn_loss"] != keys["fig09_svhn_sigma10"]
    assert len({k for ks in keys.values() for k in ks}) == 8  # the eight trainings of the book


def test_the_scheduler_never_trains_one_run_twice_at_once():
    keys = {"a": ["k1", "k2"], "b": ["k1"], "c": ["k3"], "d": []}
    pending = ["a", "b", "c", "d"]
    assert reproduce.pick_next(pending, keys, set(), set()) == "a"  # most runs to train first
    # while a trains k1 and k2, b (needs k1) waits; c and d may start
    assert reproduce.pick_next(["b", "c", "d"], keys, {"k1", "k2"}, set()) == "c"
    assert reproduce.pick_next(["b", "d"], keys, {"k1", "k2", "k3"}, set()) == "d"
    assert reproduce.pick_next(["b"], keys, {"k1", "k2", "k3"}, set()) is None
    assert reproduce.pick_next(["b"], keys, {"k3"}, {"k1", "k2"}) == "b"  # k1 done: b reads it


def test_a_failed_notebooks_unfinished_run_is_trained_by_one_notebook_at_a_time(tmp_path, monkeypatch):
    """Fig. 4 fails before it trains its run; Fig. 5 and 6 share that run: one trains it, the other then reads
    it, never both at once (the two used to start together and the second found the run locked)."""
    store: set[str] = set()  # the runs complete in the store
    busy: list[set[str]] = []  # the runs of the notebooks executing now
    clashes: list[str] = []
    lock = threading.Lock()

    def fake_run(name, root, out, work, params, env, log=print):
        mine = set(planned[name])
        with lock:
            clashes.extend(sorted(k for ks in busy for k in ks & mine))
            busy.append(mine)
        time.sleep(0.3)
        failed = name == "fig04_cifar10_map"
        with lock:
            busy.remove(mine)
            if not failed:
                store.update(mine)
        return reproduce.Outcome(name, status="FAILED" if failed else "ok", error=f"{name}: kernel died" if failed else None)

    prof = profiles.load_profile("tiny")
    planned = {n: reproduce.plan_keys(prof, n, prof.parameters(n))
               for n in ("fig04_cifar10_map", "fig05_cifar10_loss", "fig06_neuron_scatter")}
    assert planned["fig05_cifar10_loss"] == planned["fig06_neuron_scatter"] == planned["fig04_cifar10_map"][:1]
    monkeypatch.setattr(reproduce, "run_notebook", fake_run)
    monkeypatch.setattr(reproduce, "stored", lambda runs, keys: set(keys) & store)
    code, outcomes = reproduce.reproduce("tiny", only="fig04,fig05,fig06", jobs=2, runs_root=str(tmp_path / "runs"),
                                         out_dir=str(tmp_path / "executed"), root=str(ROOT), log=lambda *a: None)
    assert code == 1 and [o.status for o in outcomes] == ["FAILED", "ok", "ok"]
    assert clashes == []
    assert set(planned["fig05_cifar10_loss"]) <= store


def test_stored_counts_only_complete_runs(tmp_path):
    from urlsom_core.config import RunConfig
    from urlsom_core.runs import get_or_train

    cfg = RunConfig.from_dict({"model": {"grid": [3, 3], "widths": [4], "blocks": 1},
                               "train": {"epochs": 1, "batch_size": 64}, "data": {"subset": 64}})
    get_or_train(cfg, root=tmp_path, progress=False, log=lambda *a: None)
    (tmp_path / "half").mkdir()
    assert reproduce.stored(tmp_path, {cfg.key(), "half", "absent"}) == {cfg.key()}


def test_kernel_never_started_reads_papermills_last_line():
    assert reproduce.kernel_never_started("Input Notebook: a\nRuntimeError: Kernel died before replying to kernel_info\n")
    assert reproduce.kernel_never_started("x\nRuntimeError: Kernel didn't respond in 60 seconds")
    assert not reproduce.kernel_never_started("nbclient.exceptions.DeadKernelError: Kernel died\n")  # a cell may have run
    assert not reproduce.kernel_never_started("Kernel died before replying to kernel_info\nValueError: later\n")
    assert not reproduce.kernel_never_started("")


def _papermill_kernel_dies(monkeypatch, starts: int) -> list[int]:
    """Make the first ``starts`` papermill starts lose the kernel's port race; later ones (and any other
    command) run for real. Returns the list that counts the papermill starts."""
    real, calls = subprocess.run, []

    def fake(cmd, *a, **k):
        if "papermill" not in cmd:
            return real(cmd, *a, **k)
        calls.append(1)
        if len(calls) <= starts:
            return subprocess.CompletedProcess(cmd, 1, "", "RuntimeError: Kernel died before replying to kernel_info\n")
        return real(cmd, *a, **k)

    monkeypatch.setattr(subprocess, "run", fake)
    return calls


@pytest.mark.slow
def test_a_notebook_whose_kernel_died_at_start_is_started_again(tmp_path, monkeypatch):
    calls = _papermill_kernel_dies(monkeypatch, starts=1)
    lines: list[str] = []
    code, (o,) = reproduce.reproduce("tiny", only="fig03", runs_root=str(tmp_path / "runs"),
                                     out_dir=str(tmp_path / "executed"), root=str(ROOT), log=lines.append)
    assert code == 0 and o.status == "ok" and len(calls) == 2
    assert "fig03_loss_landscape: its kernel died before it ran a cell (start 1 of 3); starting it again" in lines


def test_a_kernel_that_never_starts_fails_the_notebook_after_three_starts(tmp_path, monkeypatch):
    calls = _papermill_kernel_dies(monkeypatch, starts=99)
    monkeypatch.setattr(reproduce.time, "sleep", lambda s: None)
    code, (o,) = reproduce.reproduce("tiny", only="fig03", runs_root=str(tmp_path / "runs"),
                                     out_dir=str(tmp_path / "executed"), root=str(ROOT), log=lambda *a: None)
    assert code == 1 and o.status == "FAILED" and len(calls) == reproduce.START_TRIES == 3
    assert o.error.startswith("fig03_loss_landscape: papermill exited 1: RuntimeError: Kernel died before replying")


def test_bad_profiles_say_what_is_wrong(tmp_path):
    with pytest.raises(ConfigError, match="profile 'nosuch': allowed are .*paper.*quick"):
        profiles.load_profile("nosuch")
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: quick\nrunz: {}\n")
    with pytest.raises(ConfigError, match=r"unknown keys \['runz'\]"):
        profiles.load_profile(str(bad))
    bad.write_text("extends: quick\nruns: {cifar10: {settings: {model.sigma: -1}}}\n")
    with pytest.raises(ConfigError, match="sigma -1.0: allowed is sigma > 0"):
        profiles.load_profile(str(bad))
    bad.write_text("extends: quick\nfigures: {fig04_cifar10_map: {run: nope}}\n")
    with pytest.raises(ConfigError, match="run 'nope': allowed are cifar10, cifar10_t, svhn"):
        profiles.load_profile(str(bad))
    bad.write_text("extends: quick\nfigures: {fig04_cifar10_map: {sigmaa: 3}}\n")
    prof = profiles.load_profile(str(bad))
    with pytest.raises(ConfigError, match="parameter 'sigmaa': the notebook has no such parameter"):
        prof.parameters("fig04_cifar10_map", ["profile", "sigma", "seeds"])


def test_the_example_user_profile_loads():
    p = profiles.load_profile(str(ROOT / "book" / "example-profile.yaml"))
    assert p.runs["cifar10"].config().data.dataset.startswith("imagefolder:../shared/")
    assert p.runs["svhn"].config().data.invert_copy  # inherited from quick, through cifar10-cpu
    parent = profiles.load_profile("cifar10-cpu")
    for name in ("cifar10", "cifar10_t", "cifar10_heldout"):  # only the data and the epochs change
        diff = {d.split(":")[0] for d in p.runs[name].config().diff(parent.runs[name].config())}
        assert diff <= {"data.dataset", "data.eval_dataset", "train.epochs"} and "train.epochs" in diff, (name, diff)


def test_setup_fails_fast_with_the_cli_message(tmp_path, capsys):
    code = cli.main(["train", "--sigma", "-1", "--out", str(tmp_path / "x"), "--quiet"])
    cli_line = capsys.readouterr().err.strip()
    assert code == 2 and cli_line.startswith("urlsom: error: ")
    with pytest.raises(ConfigError) as e:
        notebook.setup("fig07_cifar10_sigma", "tiny", sigmas=[-1.0, 10.0], runs_root=str(tmp_path / "runs"))
    assert f"urlsom: error: {e.value}" == cli_line
    with pytest.raises(ConfigError, match="dataset 'nosuch': unknown kind"):
        notebook.setup("fig04_cifar10_map", "tiny", dataset="nosuch")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "x").exists()


# ------------------------------------------------------------------------------------------- registry
def test_the_toc_is_the_registry_of_notebooks():
    names = reproduce.registry(ROOT)
    assert [n for n in names if n.startswith("fig")] == NOTEBOOKS  # every figure notebook, in figure order
    assert all((ROOT / "notebooks" / f"{n}.py").is_file() for n in names)
    assert reproduce.select(names, "fig04,fig07") == ["fig04_cifar10_map", "fig07_cifar10_sigma"]
    with pytest.raises(ConfigError, match="--only 'fig99': no such notebook"):
        reproduce.select(names, "fig99")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_are_thin_and_fail_fast(name):
    nb = jupytext.read(ROOT / "notebooks" / f"{name}.py")
    code = [c for c in nb.cells if c.cell_type == "code"]
    params = [i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    first = code[params[0] + 1].source
    assert f'nb = start("{name}", globals()' in first  # the one call after the parameters: validate, get runs
    src = "\n".join(c.source for c in code)
    assert "nb.report(" in src
    for loop in ("backward(", "optim", "zero_grad", "Trainer("):
        assert loop not in src, f"{name} trains by hand ({loop})"
    assert "get_or_train(" not in src  # runs come through start() (or studies.sweep), never by hand
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# Fig. ")


def test_papermill_help_notebook_lists_every_parameter_with_help(tmp_path):
    from click.testing import CliRunner
    from papermill.cli import papermill as papermill_cli

    for name in NOTEBOOKS:
        path = tmp_path / f"{name}.ipynb"
        reproduce.convert(ROOT / "notebooks" / f"{name}.py", path)
        declared = reproduce.declared(path)
        assert {"profile", "device", "runs_root", "out_dir"} <= set(declared)
        res = CliRunner().invoke(papermill_cli, ["--help-notebook", str(path)])
        assert res.exit_code == 0, res.output
        entries: dict[str, str] = {}  # papermill prints "  name: type (default x)  help", long help wrapped
        current = None
        for ln in res.output.splitlines():
            head = ln[2:].split(":")[0] if ln.startswith("  ") and not ln.startswith("   ") else None
            if head and head.isidentifier():
                current = head
                entries[current] = ln.split(")", 1)[-1].strip()
            elif current and ln.strip():
                entries[current] += " " + ln.strip()
        for p in declared:
            assert p in entries, f"{name}: {p} missing from --help-notebook"
            assert len(entries[p]) > 10 and "\n" not in entries[p], f"{name}: {p} has no help: {entries[p]!r}"


def test_first_error_names_the_source_cell(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# t"),
        nbformat.v4.new_code_cell("sigma = None", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("sigma = -1", metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell("\nnb = setup('x', sigma=sigma)\nmore()"),
    ]
    nb.cells[3].outputs = [nbformat.v4.new_output("error", ename="ConfigError", evalue="sigma -1.0: allowed is sigma > 0",
                                                  traceback=[])]
    p = tmp_path / "x.ipynb"
    nbformat.write(nb, p)
    assert reproduce.first_error(p) == (3, "nb = setup('x', sigma=sigma)", "ConfigError: sigma -1.0: allowed is sigma > 0")


def test_reproduce_rejects_bad_input_with_one_line(capsys, tmp_path):
    assert cli.main(["reproduce", "--profile", "nosuch", "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert cli.main(["reproduce", "--profile", "tiny", "--only", "fig99", "--out", str(tmp_path / "o")]) == 2
    assert "fig99" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------------- end to end (tiny)
@pytest.mark.slow
def test_reproduce_shares_runs_reports_cache_hits_and_names_a_failing_notebook(tmp_path, capsys):
    """One bad notebook (sigma -1 through a user profile) fails by name and cell while the others finish;
    a second reproduce trains nothing and says so."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: tiny-bad\nextends: tiny\nfigures:\n  fig07_cifar10_sigma: {sigmas: [-1.0, 10.0]}\n")
    runs, out = tmp_path / "runs", tmp_path / "executed"
    args = ["reproduce", "--profile", str(bad), "--runs", str(runs), "--out", str(out), "--root", str(ROOT)]

    code = cli.main(args + ["--only", "fig05,fig06,fig07", "--jobs", "2"])
    printed = capsys.readouterr().out
    assert code == 1
    summary = json.loads((out / "summary.json").read_text())
    by = {n["name"]: n for n in summary["notebooks"]}
    assert by["fig05_cifar10_loss"]["status"] == "ok" and by["fig05_cifar10_loss"]["trained"] == 1
    assert by["fig06_neuron_scatter"]["status"] == "ok" and by["fig06_neuron_scatter"]["cached"] == 1
    assert by["fig06_neuron_scatter"]["trained"] == 0  # the run of Fig. 5, shared
    err = by["fig07_cifar10_sigma"]["error"]
    assert by["fig07_cifar10_sigma"]["status"] == "FAILED"
    assert err.startswith("fig07_cifar10_sigma: cell 3 (`nb = start(\"fig07_cifar10_sigma\"")
    assert "ConfigError: sigma -1.0: allowed is sigma > 0" in err
    assert f"FAILED {err}" in printed
    assert (out / "fig05_cifar10_loss.ipynb").is_file() and (out / "figures" / "fig06_neuron_scatter.png").is_file()
    assert "| fig06_neuron_scatter | ok |" in (out / "summary.md").read_text()
    assert ("| live share | corners x (chance) | border x (chance) | evenness | read out after training: NS, live |"
            in (out / "summary.md").read_text())
    assert all(isinstance(r["map"]["corner_over_representation"], float) for r in summary["runs"].values())
    assert len(list(runs.iterdir())) == 1  # fig07 trained nothing: it failed in its first cell

    code = cli.main(args + ["--only", "fig05,fig06"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "| fig05_cifar10_loss | ok |" in printed and "| 1 cached |" in printed
    assert "runs trained 0, reused from the store 2" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert all(n["trained"] == 0 and n["cached"] == 1 for n in summary["notebooks"])


def test_the_per_run_table_shows_how_each_run_uses_its_map(tmp_path):
    """From metrics.json when it has the usage figures; from assignments.npz when an older run lacks them; a run
    read out after training shows the network's own map, with the readout's NS and live neurons in the last
    column."""
    import numpy as np

    from urlsom_core.files import write_json

    new, old, read = tmp_path / "new", tmp_path / "old", tmp_path / "read"
    for d in (new, old, read):
        d.mkdir()
        write_json(d / "config.json", {"config": {"model": {"grid": [4, 4], "boundary": "circular"}}})
    write_json(new / "metrics.json", {"neural_selectivity": 0.5, "active_neurons": 16, "n_neurons": 16,
                                      "corner_over_representation": 1.0, "border_over_representation": 1.0,
                                      "live_share": 1.0, "usage_evenness": 1.0})
    write_json(old / "metrics.json", {"neural_selectivity": 0.25, "active_neurons": 4, "n_neurons": 16,
                                      "usage_balance": {"before": {"neural_selectivity": 0.2, "active_neurons": 3}}})
    np.savez(old / "assignments.npz", winner=np.array([0, 3, 12, 15] * 5))  # all on the corners
    usage = {"corner_over_representation": 1.0, "border_over_representation": 1.0, "live_share": 1.0,
             "usage_evenness": 1.0, "corner_chance": 0.5, "border_chance": 0.5}
    write_json(read / "metrics.json", {"neural_selectivity": 0.2, "active_neurons": 3, "n_neurons": 16, **usage,
                                       "live_share": 0.19, "readout": {"usage_balance": True, "neural_selectivity": 0.5,
                                                                       "active_neurons": 16, "n_neurons": 16, **usage}})
    used = {"k-new": {"figures": ["fig04"], "path": str(new)}, "k-old": {"figures": ["fig07", "fig08"], "path": str(old)},
            "k-gone": {"figures": ["fig09"], "path": str(tmp_path / "gone")},
            "k-read": {"figures": ["fig11"], "path": str(read)}}
    for info in used.values():
        info["map"] = summary.run_map_figures(Path(info["path"]))
    assert used["k-old"]["map"]["corner_over_representation"] == 4.0 and used["k-gone"]["map"] is None
    text = summary.run_table(used).splitlines()
    assert text[0] == ("| run | figures | map | NS | live | live share | corners x (chance) | border x (chance) | "
                       "evenness | read out after training: NS, live |")
    assert text[2] == "| k-new | fig04 | 4x4 circular | 0.500 | 16 | 1.00 | 1.00 | 1.00 | 1.000 | - |"
    # the old run's corners are a 2x2 block of the torus that wins every sample: 1 of its 16 translates
    # wins as many (chance 1/16); a translate of the outer ring is the map less one 2x2 block, and holds
    # every sample when that block misses rows {3, 0} or columns {3, 0}: 4 + 4 - 1 of 16 (0.44)
    # (its metrics.json has a usage bias's "before": the network's own winners, shown first; the bias's
    # figures, the old top level, in the last column)
    assert text[3] == ("| k-old | fig07, fig08 | 4x4 circular | 0.200 | 3 | 0.25 | 4.00 (0.06) | 1.33 (0.44) | 0.500 | "
                       "0.250, 4 |")
    assert text[4] == "| k-gone | fig09 | - | - | - | - | - | - | - | - |"
    assert text[5] == ("| k-read | fig11 | 4x4 circular | 0.200 | 3 | 0.19 | 1.00 (0.50) | 1.00 (0.50) | 1.000 | "
                       "0.500, 16 |")


def test_start_reads_the_notebooks_own_parameters_and_the_profile_fills_the_rest(tmp_path, monkeypatch):
    assert notebook.declared_parameters("fig06_neuron_scatter")[:2] == ["profile", "dataset"]
    assert "zoom" in notebook.declared_parameters("fig06_neuron_scatter")
    monkeypatch.setenv("URLSOM_PROFILE", "tiny")
    ns = {"profile": None, "sigma": 2.0, "zoom": 3, "runs_root": str(tmp_path / "runs"), "unrelated": 1}
    fs = notebook.start("fig06_neuron_scatter", ns, train=False)
    assert fs.profile.name == "tiny" and fs.params["sigma"] == 2.0 and fs.params["zoom"] == 3
    assert fs.params["grid"] == [6, 6] and "unrelated" not in fs.params and fs.runs == []
    with pytest.raises(ConfigError, match="no source"):
        notebook.declared_parameters("nosuch")


def test_a_notebooks_training_messages_go_to_stderr_and_its_run_line_to_stdout(tmp_path, monkeypatch, capsys):
    """The book drops stderr from its pages (_config.yml): the epoch-time line, with its clock time, is not content."""
    monkeypatch.setenv("URLSOM_PROFILE", "tiny")
    fs = notebook.start("fig05_cifar10_loss", {"profile": None, "runs_root": str(tmp_path / "runs")}, train=False)
    (run,) = fs.get_runs()
    out, err = capsys.readouterr()
    assert out == f"run {run.path.name}: trained now\n"
    assert "epoch time ~" in err and "expected end" in err
    fs.get_runs()
    out, err = capsys.readouterr()
    assert out == f"run {run.path.name}: reused from the store\n" and err == ""


def test_report_shows_every_number_and_the_papers_caption(tmp_path):
    fs = notebook.setup("fig04_cifar10_map", "tiny", out_dir=str(tmp_path))
    md = fs.report({"ns": 0.5, "live": 12, "reading": "x" * 100, "odd_key": 3, "readout_note": ""},
                   compare={"ns": "NS"}).data
    assert "| NS | 0.703 (Fig. 4: NS 70.3% (first run); Sec. V.C: 70%) | 0.500 |" in md
    assert "| live neurons (won an image) |  | 12 |" in md and "xxxx" not in md  # a readable name, no long text
    assert "| `odd_key` |  | 3 |" in md and "readout_note" not in md  # an unnamed key as written; no prose text
    assert "The paper's caption of Fig. 4" in md and "60000 samples" in md

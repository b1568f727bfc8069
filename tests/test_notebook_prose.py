"""A figure notebook run by hand shows its text with the run's numbers (urlsom_book.notebook.prose_markdown):
JupyterLab shows the markdown cells' glue roles as written; the book (``urlsom reproduce``) renders them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from urlsom_book import notebook, reproduce
from urlsom_book.notebook import GluedText, fill_glue, markdown_cells, prose_markdown

NB = '''# ---
# jupyter:
#   kernelspec:
#     name: python3
# ---

# %% [markdown]
# # A title
#
# Data: {glue:text}`data_note`.
# No number here.

# %% tags=["parameters"]
profile: str = None

# %% [markdown]
# NS {glue:text}`ns:.3f` with {glue:text}`live` live neurons, {glue:md}`reading`;
# elsewhere {glue:text}`other.ipynb::ns:.2f` and {glue:text}`missing`.
'''


def _root(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "demo.py").write_text(NB)
    return tmp_path


def test_markdown_cells_are_read_from_the_percent_source(tmp_path):
    cells = markdown_cells("demo", _root(tmp_path))
    assert cells[0] == "# A title\n\nData: {glue:text}`data_note`.\nNo number here."
    assert cells[1].startswith("NS {glue:text}`ns:.3f`") and len(cells) == 2


def test_fill_glue_formats_like_the_book_and_keeps_unknown_roles():
    vals = {"ns": 0.70123, "live": 1234, "reading": GluedText("**bold**"), "data_note": "digits"}
    text = fill_glue("NS {glue:text}`ns:.3f`, {glue:text}`live`, {glue:md}`reading`, {glue:text}`data_note:s`, "
                     "{glue:text}`live:,d`, {glue}`ns`, {glue:text}`x`, {glue:text}`p.ipynb::ns:.1f`", vals,
                     {"p": {"ns": 0.25}})
    assert text == "NS 0.701, 1,234, **bold**, digits, 1,234, 0.701, {glue:text}`x`, 0.2"
    assert fill_glue("{glue:text}`ns:.3f`", {"ns": None}) == "-"  # no value: the book's dash, not an error


def test_prose_quotes_only_the_paragraphs_that_cite_numbers(tmp_path):
    root = _root(tmp_path)
    out = tmp_path / "executed"
    (out / "records").mkdir(parents=True)
    (out / "records" / "other.json").write_text(json.dumps({"numbers": {"ns": 0.5}}))
    md = prose_markdown("demo", {"ns": 0.7, "live": 12, "reading": "a reading", "data_note": "digits"}, out, root)
    assert md.splitlines()[0].startswith("**This notebook's text with this run's numbers**")
    assert "> Data: digits.\n> No number here." in md
    assert "> NS 0.700 with 12 live neurons, a reading;\n> elsewhere 0.50 and {glue:text}`missing`." in md
    assert "A title" not in md  # a paragraph without a number stays out
    assert prose_markdown("demo", {}, None, root).count("{glue") == 6  # nothing known: the roles as written


def test_report_adds_the_prose_by_hand_and_not_for_the_book(tmp_path, monkeypatch):
    monkeypatch.delenv(notebook.BOOK_ENV, raising=False)
    fs = notebook.setup("fig07_cifar10_sigma", "tiny", out_dir=str(tmp_path))
    nums = {"ns_sigma3": 0.5, "ns_sigma10": 0.4, "live_sigma3": 20, "live_sigma10": 18, "sigma_lo": 3.0,
            "sigma_hi": 10.0, "live_reading": "fewer", "readout_note": "", "spread_note": ""}
    md = fs.report(nums).data
    assert "With sigma 3 the map reaches NS 0.500 with\n> 20 live neurons; with sigma 10, NS 0.400" in md
    assert "The wider filter left fewer neurons live" in md
    assert "Data: scikit-learn digits" in md and "{glue" not in md
    assert md.index("| quantity |") < md.index("this run's numbers") < md.index("The paper's caption")
    monkeypatch.setenv(notebook.BOOK_ENV, "1")
    md = fs.report(nums).data
    assert "this run's numbers" not in md and "| quantity |" in md and "The paper's caption" in md


def test_reproduce_runs_the_notebooks_for_the_book(tmp_path, monkeypatch):
    seen = []

    def fake(name, root, out, work, params, env, log=print):
        seen.append(env.get(notebook.BOOK_ENV))
        return reproduce.Outcome(name, status="FAILED", error=f"{name}: not run")

    monkeypatch.setattr(reproduce, "run_notebook", fake)
    code, _ = reproduce.reproduce("tiny", only="fig03", runs_root=str(tmp_path / "r"), out_dir=str(tmp_path / "o"),
                                  log=lambda s: None)
    assert code == 1 and seen == ["1"]


def test_readout_note_gives_the_read_out_figures_only_where_something_was_fitted():
    from types import SimpleNamespace

    from urlsom_book.notebook import readout_note

    biased = SimpleNamespace(metrics={"neural_selectivity": 0.9331, "active_neurons": 584, "readout": {
        "usage_balance": True, "prototype_readout": False, "neural_selectivity": 0.9, "active_neurons": 880}})
    read = SimpleNamespace(metrics={"neural_selectivity": 0.92, "active_neurons": 860, "readout": {
        "usage_balance": False, "prototype_readout": True, "neural_selectivity": 0.97, "active_neurons": 870}})
    plain = SimpleNamespace(metrics={"neural_selectivity": 0.5, "active_neurons": 12})
    assert readout_note([plain, plain], ["a", "b"]) == ""
    assert readout_note([biased, read], ["seed 0", "seed 1"]) == (
        "Read out with a usage-balancing bias and a prototype readout fitted after training (not the paper's "
        "method), the same maps give: seed 0 NS 0.900 with 880 live neurons; seed 1 NS 0.970 with 870 live neurons.")
    assert readout_note([biased, plain], ["seed 0", "seed 1"]) == (
        "Read out with a usage-balancing bias fitted after training (not the paper's method), the same maps give: "
        "seed 0 NS 0.900 with 880 live neurons.")
    with pytest.raises(ValueError):
        readout_note([biased], ["one", "two"])  # a label per run


def test_no_notebook_types_a_table_in_its_prose():
    """The book says every number on its pages is computed by the build: a table belongs in a code cell that reads
    the runs or a results file, not in a markdown cell (measurement records live in book/results-log.md)."""
    root = Path(__file__).resolve().parents[1]
    names = sorted(p.stem for p in (root / "notebooks").glob("*.py"))
    assert "study_boundary" in names and len(names) >= 15
    typed = [(name, line) for name in names for cell in markdown_cells(name, root) for line in cell.splitlines()
             if line.lstrip().startswith("|") and any(ch.isdigit() for ch in line)]
    assert typed == []

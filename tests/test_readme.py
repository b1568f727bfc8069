"""The README's commands exist and agree with CI; the book pages it links to exist and are in the book."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _make_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w-]*):", (ROOT / "Makefile").read_text(), flags=re.M))


def test_every_make_command_of_the_readme_is_a_target():
    named = set(re.findall(r"`?make ([a-z][\w-]*)", README))
    assert {"book", "test-all", "test", "lab"} <= named, named
    assert named <= _make_targets(), named - _make_targets()


def test_ci_runs_the_command_the_readme_calls_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line.strip() for line in ci.splitlines() if line.strip().startswith("make ")]
    assert commands == ["make test-all"], commands
    assert "`make test-all` is what CI runs (`.ci/run`" in README


def test_the_book_pages_the_readme_links_are_in_the_book():
    links = re.findall(r"\]\((book/[\w-]+)\.md\)", README)
    assert len(links) >= 4, links  # results, the measurements log, baselines, reproduce, training
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = {toc["root"]} | {c["file"] for part in toc["parts"] for c in part["chapters"]}
    for page in links:
        assert (ROOT / f"{page}.md").is_file(), page
        assert page in files, f"{page} is linked from the README but not in _toc.yml"


def test_the_layout_lists_every_module_of_both_packages():
    """README's Layout has one table row per module of urlsom_core and urlsom_book, and no row for a module that
    is gone."""
    layout = README[README.index("## Layout"):]
    for package in ("urlsom_core", "urlsom_book"):
        section = layout[layout.index(f"`{package}/`, "):]
        rows = section[:section.index("\n\n", section.index("| module |"))]
        listed = set(re.findall(r"^\| `(\w+)` \|", rows, flags=re.M))
        modules = {p.stem for p in (ROOT / package).glob("*.py") if p.stem != "__init__"}
        assert listed == modules, (package, sorted(modules - listed), sorted(listed - modules))

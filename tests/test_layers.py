"""The two floors of ``urlsom_core`` (see ``urlsom_core/layers.py``): the method never imports the book layer,
every module has chosen a floor, and there is no import cycle. Imports are read with ``ast``, function-local
ones included, so a lazy ``from .bench import ...`` inside a function counts."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from urlsom_core.layers import BOOK, ENTRY, METHOD

PKG = Path(__file__).resolve().parents[1] / "urlsom_core"


def _modules() -> list[str]:
    return sorted(p.stem for p in PKG.glob("*.py") if p.stem != "__init__")


def package_imports(source: str, name: str = "") -> set[str]:
    """The urlsom_core modules that ``source`` imports, anywhere in the file (``from . import x``,
    ``from .x import y``, ``import urlsom_core.x``, ``from urlsom_core.x import y``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level == 1 or mod == "urlsom_core" or mod.startswith("urlsom_core."):
                base = mod.removeprefix("urlsom_core").lstrip(".") if node.level == 0 else mod
                if base:
                    found.add(base.split(".")[0])
                else:  # from . import a, b
                    found.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("urlsom_core."):
                    found.add(a.name.split(".")[1])
    return found


def _graph() -> dict[str, set[str]]:
    mods = set(_modules())
    return {m: package_imports((PKG / f"{m}.py").read_text(), m) & mods - {m} for m in mods}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return path[path.index(n):] + [n]
            if n not in state and (c := visit(n)):
                return c
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (c := visit(m)):
            return c
    return None


def test_every_module_has_chosen_exactly_one_floor():
    listed = [*METHOD, *BOOK, *ENTRY]
    assert len(listed) == len(set(listed)), "a module is listed twice"
    unlisted = sorted(set(_modules()) - set(listed))
    assert not unlisted, f"modules in no floor (add them to METHOD or BOOK in urlsom_core/layers.py): {unlisted}"
    gone = sorted(set(listed) - set(_modules()))
    assert not gone, f"layers.py lists modules that do not exist: {gone}"


def _upward(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    """Method modules and the book / entry modules each imports."""
    return {m: sorted(graph[m] & {*BOOK, *ENTRY}) for m in METHOD if graph.get(m, set()) & {*BOOK, *ENTRY}}


def test_the_method_never_imports_the_book_layer_or_the_cli():
    graph = _graph()
    assert sum(len(v) for v in graph.values()) > 30  # the reader does see the package's imports
    bad = _upward(graph)
    assert not bad, f"method modules importing the book layer: {bad}"


def test_no_import_cycle_among_the_modules():
    cycle = _cycle(_graph())
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


@pytest.mark.parametrize("source, expected", [
    ("from .bench import x", {"bench"}),
    ("def f():\n    from .profiles import load_profile\n", {"profiles"}),
    ("from . import checkpoint as ckpt, loss", {"checkpoint", "loss"}),
    ("import urlsom_core.viz\nfrom urlsom_core.runs import get_or_train", {"viz", "runs"}),
    ("import os\nfrom torch import nn\nfrom .. import other", set()),
])
def test_the_import_reader_sees_every_form(source, expected):
    assert package_imports(source) == expected


def test_the_checks_can_fail():
    """A method module importing a book module, and a two-module cycle, are caught."""
    assert _upward({**_graph(), "loss": {"bench", "filters"}}) == {"loss": ["bench"]}
    assert _cycle({"a": {"b"}, "b": {"a"}, "c": set()}) == ["a", "b", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None

"""The two packages: ``urlsom_core`` (the method) never imports ``urlsom_book`` (the book's machinery and the
command line), and no module of either imports itself back through a cycle. Imports are read with ``ast``,
function-local ones included, so a lazy ``from urlsom_book.bench import ...`` inside a function counts."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("urlsom_core", "urlsom_book")


def _modules() -> list[str]:
    """Every module of both packages as ``package.module``."""
    return sorted(f"{pkg}.{p.stem}" for pkg in PACKAGES for p in (ROOT / pkg).glob("*.py") if p.stem != "__init__")


def package_imports(source: str, package: str, name: str = "") -> set[str]:
    """The modules of either package (``package.module``) that ``source``, a module of ``package``, imports,
    anywhere in the file: ``from . import x``, ``from .x import y``, ``import pkg.x``, ``from pkg.x import y``,
    ``from pkg import x``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                pkg, rest = package, node.module or ""
            elif node.level == 0 and (node.module or "").split(".")[0] in PACKAGES:
                pkg, _, rest = (node.module or "").partition(".")
            else:
                continue
            if rest:
                found.add(f"{pkg}.{rest.split('.')[0]}")
            else:  # from . import a, b / from pkg import a, b
                found.update(f"{pkg}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] in PACKAGES and len(parts) > 1:
                    found.add(f"{parts[0]}.{parts[1]}")
    return found


def _graph() -> dict[str, set[str]]:
    mods = set(_modules())
    graph = {}
    for m in mods:
        pkg, stem = m.split(".")
        graph[m] = package_imports((ROOT / pkg / f"{stem}.py").read_text(), pkg, m) & mods - {m}
    return graph


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


def _upward(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    """Method modules and the book modules each imports."""
    up = {m: sorted(n for n in deps if n.startswith("urlsom_book.")) for m, deps in graph.items()
          if m.startswith("urlsom_core.")}
    return {m: v for m, v in up.items() if v}


def test_the_method_package_never_imports_the_book_package():
    graph = _graph()
    assert sum(len(v) for m, v in graph.items() if m.startswith("urlsom_core.")) > 20  # the reader sees imports
    assert any(n.startswith("urlsom_core.") for v in graph.values() for n in v)
    bad = _upward(graph)
    assert not bad, f"method modules importing the book package: {bad}"
    for p in (ROOT / "urlsom_core").glob("*.py"):  # nor by name in a string (importlib, entry points)
        strings = [n.value for n in ast.walk(ast.parse(p.read_text())) if isinstance(n, ast.Constant)
                   and isinstance(n.value, str) and "urlsom_book." in n.value]
        assert not strings, f"{p.name} names the book package in a string: {strings}"


def test_no_import_cycle_among_the_modules():
    cycle = _cycle(_graph())
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


@pytest.mark.parametrize("source, package, expected", [
    ("from .bench import x", "urlsom_book", {"urlsom_book.bench"}),
    ("def f():\n    from urlsom_book.profiles import load_profile\n", "urlsom_core", {"urlsom_book.profiles"}),
    ("from . import checkpoint as ckpt, loss", "urlsom_core", {"urlsom_core.checkpoint", "urlsom_core.loss"}),
    ("import urlsom_book.viz\nfrom urlsom_core.runs import get_or_train", "urlsom_book",
     {"urlsom_book.viz", "urlsom_core.runs"}),
    ("from urlsom_core import metrics", "urlsom_book", {"urlsom_core.metrics"}),
    ("import os\nfrom torch import nn\nfrom .. import other", "urlsom_core", set()),
])
def test_the_import_reader_sees_every_form(source, package, expected):
    assert package_imports(source, package) == expected


def test_the_checks_can_fail():
    """A method module importing a book module, and a two-module cycle, are caught."""
    graph = _graph()
    graph["urlsom_core.loss"] = {"urlsom_book.bench", "urlsom_core.filters"}
    assert _upward(graph) == {"urlsom_core.loss": ["urlsom_book.bench"]}
    assert _cycle({"a": {"b"}, "b": {"a"}, "c": set()}) == ["a", "b", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None

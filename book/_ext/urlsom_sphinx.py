"""Sphinx extension of this book: drop sphinx-thebe's page scripts; give MathJax 3 the Hub the widgets call;
give a page without headings the sidebar the theme's script looks for; read a profile's committed result file
into a page.

The book has no live kernels (thebe is never configured), yet sphinx-thebe adds its configuration script
(``const THEBE_JS_URL = ...``) to every page twice, so every page throws "Identifier 'THEBE_JS_URL' has
already been declared", and its loader points at unpkg.com. This removes both scripts from each page.

A profile's numbers, made from its stored runs by ``bench/profile_results.py`` and committed under
``bench/results/NAME/results.json``, reach a page through a role and a directive (the work is
``urlsom_book.profile_results``); where the file is absent they say "not yet measured":

- ``{urlsom-result}`NAME:NOTEBOOK.KEY:SPEC``` one number, e.g. ``{urlsom-result}`cifar10_cpu:fig04_cifar10_map.ns:.3f```;
- a ``urlsom-results`` directive with the argument ``NAME``: the whole file (provenance, runs, NS per epoch,
  claims, SimSiam); its ``:make:`` option is the command that makes the file, quoted where it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

RESULTS = Path("bench") / "results"  # relative to the book's top (jupyter-book build .)


def _results_file(env: Any, name: str) -> Path:
    path = Path(env.srcdir) / RESULTS / name / "results.json"
    env.note_dependency(str(path))  # a new result file rebuilds the page
    return path


def _result_role(name: str, rawtext: str, text: str, lineno: int, inliner: Any, options: dict | None = None,
                 content: list | None = None) -> tuple[list, list]:
    from urlsom_book.profile_results import load, role_text

    env = inliner.document.settings.env
    folder, _, ref = text.partition(":")
    if not ref:
        msg = inliner.reporter.error(f"urlsom-result {text!r}: allowed is NAME:NOTEBOOK.KEY[:SPEC]", line=lineno)
        return [inliner.problematic(rawtext, rawtext, msg)], [msg]
    return [nodes.Text(role_text(ref, load(_results_file(env, folder))))], []


class ProfileResults(SphinxDirective):
    """The committed result file ``bench/results/NAME/results.json`` as Markdown, or "not yet measured"."""

    required_arguments = 1
    option_spec = {"make": lambda s: s}

    def run(self) -> list:
        from urlsom_book.profile_results import CURVE_FILE, load, page_markdown

        name = self.arguments[0]
        path = _results_file(self.env, name)
        page_dir = Path(self.env.srcdir) / Path(self.env.docname).parent
        image = path.parent / CURVE_FILE
        rel = os.path.relpath(image, page_dir) if image.is_file() else None
        make = self.options.get("make", f"python bench/profile_results.py --out bench/results/{name}/ ...")
        return self.parse_text_to_nodes(page_markdown(load(path), rel, make))


def _drop_thebe(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    context["script_files"] = [s for s in scripts
                               if "THEBE_JS_URL" not in str(getattr(s, "attributes", {}).get("body", ""))
                               and "sphinx-thebe" not in str(s)]


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", _drop_thebe, priority=900)
    app.add_role("urlsom-result", _result_role)
    app.add_directive("urlsom-results", ProfileResults)
    # before MathJax (priority 500): MathJax 2's Hub for the widgets' typesetting (see the file)
    app.add_js_file("mathjax-hub-shim.js", priority=100)
    # before the theme's script: a hidden right-hand sidebar on pages without one (see the file)
    app.add_js_file("secondary-sidebar-shim.js", priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

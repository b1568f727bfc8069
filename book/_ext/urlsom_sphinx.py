"""Sphinx extension of this book: drop sphinx-thebe's page scripts; give MathJax 3 the Hub the widgets call.

The book has no live kernels (thebe is never configured), yet sphinx-thebe adds its configuration script
(``const THEBE_JS_URL = ...``) to every page twice, so every page throws "Identifier 'THEBE_JS_URL' has
already been declared", and its loader points at unpkg.com. This removes both scripts from each page.
"""

from __future__ import annotations

from typing import Any


def _drop_thebe(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    context["script_files"] = [s for s in scripts
                               if "THEBE_JS_URL" not in str(getattr(s, "attributes", {}).get("body", ""))
                               and "sphinx-thebe" not in str(s)]


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", _drop_thebe, priority=900)
    # before MathJax (priority 500): MathJax 2's Hub for the widgets' typesetting (see the file)
    app.add_js_file("mathjax-hub-shim.js", priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

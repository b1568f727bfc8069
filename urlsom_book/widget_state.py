"""Smaller widget state in executed notebooks: drop every key a widget model holds at its default value.

When a notebook runs, nbclient records each widget model's full state into the notebook's metadata
(``metadata.widgets["application/vnd.jupyter.widget-state+json"]``), every key of it, defaults included:
about 600 bytes per HTML widget of ``"_dom_classes": []``, ``"description": ""``, ``"tooltip": null``, module
names and the like. The book page embeds that state inline, so a map inspector of 1,800 panels carried a
megabyte of defaults. The widget front end (``@jupyter-widgets/html-manager`` in the static book, the
JupyterLab manager when the notebook is opened) fills in every key a model's state leaves out with that
model's default, the same default as ipywidgets' Python class, which is what ``ipywidgets.embed``'s
``drop_defaults=True`` relies on. :func:`drop_defaults` does the same to a recorded state.

Example:
    >>> s = {"m": {"model_name": "LayoutModel", "model_module": "@jupyter-widgets/base",
    ...            "model_module_version": "2.0.0", "state": {"width": "470px", "height": None}}}
    >>> drop_defaults(s)["m"]["state"]
    {'width': '470px'}
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

MIME = "application/vnd.jupyter.widget-state+json"
KEEP = frozenset({"value", "children", "selected_index"})  # never dropped, whatever their value
REF = "IPY_MODEL_"


@cache
def model_defaults() -> dict[tuple[str, str], dict[str, str]]:
    """(model_module, model_name) -> {key: the JSON text of its default} for every widget class ipywidgets
    registers, read from the classes' synced traits (no widget is created). A key whose default is a child
    model (a layout or style made anew per widget) or cannot be written as JSON is left out: never dropped."""
    from ipywidgets import Widget
    from ipywidgets.widgets.widget import _registry  # every @register-ed class (Widget.widget_types is deprecated)

    out: dict[tuple[str, str], dict[str, str]] = {}
    for _, cls in _registry.items():
        traits = cls.class_traits(sync=True)
        module = traits["_model_module"].default_value
        name = traits["_model_name"].default_value
        defaults = {}
        for key, trait in traits.items():
            klass = getattr(trait, "klass", None)
            if isinstance(klass, type) and issubclass(klass, Widget):  # a child model (layout, style)
                continue
            try:
                value = trait.default()
                to_json = trait.metadata.get("to_json")
                if to_json is not None:
                    value = to_json(value, None)
                if isinstance(value, tuple):
                    value = list(value)
                defaults[key] = json.dumps(value, sort_keys=True)
            except Exception:  # noqa: BLE001 - no instance-free JSON default: keep the key
                continue
        out[(module, name)] = defaults
    return out


def _is_ref(value: Any) -> bool:
    if isinstance(value, str):
        return value.startswith(REF)
    if isinstance(value, list | tuple):
        return any(_is_ref(v) for v in value)
    if isinstance(value, dict):
        return any(_is_ref(v) for v in value.values())
    return False


def drop_defaults(state: dict[str, Any]) -> dict[str, Any]:
    """A copy of a recorded widget state (model id -> {model_name, model_module, ..., state}) without the keys
    whose value equals that model class's default. Kept always: ``value``, ``children``, ``selected_index``,
    every key holding a model reference (``IPY_MODEL_...``), every key of a model class ipywidgets does not
    know (a third-party widget), and the buffers."""
    table = model_defaults()
    out = {}
    for model_id, model in state.items():
        model = dict(model)
        defaults = table.get((model.get("model_module"), model.get("model_name")))
        if defaults is not None and isinstance(model.get("state"), dict):
            model["state"] = {k: v for k, v in model["state"].items()
                              if k in KEEP or _is_ref(v) or defaults.get(k) != json.dumps(v, sort_keys=True)}
        out[model_id] = model
    return out


def shrink_notebook(path: str | Path) -> tuple[int, int]:
    """Rewrite the executed notebook at ``path`` with its widget state's defaults dropped (:func:`drop_defaults`);
    a notebook without widgets is left as it is. Returns the widget state's bytes (as compact JSON) before
    and after."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    holder = nb.metadata.get("widgets", {}).get(MIME)
    if not holder or not holder.get("state"):
        return 0, 0
    before = len(json.dumps(holder["state"]))
    holder["state"] = drop_defaults(holder["state"])
    after = len(json.dumps(holder["state"]))
    nbformat.write(nb, str(path))
    return before, after

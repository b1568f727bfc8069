"""urlsom_book.widget_state: the recorded widget state loses exactly its default-valued keys."""

from __future__ import annotations

import json

import nbformat
import pytest

from urlsom_book import widget_state


def _recorded(widgets_) -> dict:
    """The state as nbclient records it: every model's full state, its names repeated outside."""
    out = {}
    for wid in widgets_:
        st = json.loads(json.dumps(wid.get_state()))  # through JSON, as the notebook holds it (tuples -> lists)
        out[wid.model_id] = {"model_name": st["_model_name"], "model_module": st["_model_module"],
                             "model_module_version": st["_model_module_version"], "state": st}
    return out


def _widgets():
    import ipywidgets as w

    html = w.HTML("<b>x</b>", layout=w.Layout(width="470px"))
    empty = w.HTML("")  # value at its default: kept all the same
    stack = w.Stack([html, empty], selected_index=0)
    slider = w.IntSlider(value=3, max=9, description="row")
    link = w.jslink((slider, "value"), (stack, "selected_index"))
    return [html, empty, html.layout, html.style, stack, slider, slider.style, link]


def test_drop_defaults_drops_what_ipywidgets_own_drop_defaults_drops_and_keeps_the_rest():
    ws = _widgets()
    dropped = widget_state.drop_defaults(_recorded(ws))
    for wid in ws:
        got = dropped[wid.model_id]["state"]
        own = json.loads(json.dumps(wid.get_state(drop_defaults=True)))
        keep = {k: v for k, v in json.loads(json.dumps(wid.get_state())).items() if k in widget_state.KEEP}
        # ipywidgets compares a tuple trait's value to its default before JSON: () == () drops it, but a
        # recorded [] never equals the default (), so its own drop keeps "_dom_classes": [] (the front end's
        # default is [] too). Ours compares JSON to JSON and drops it.
        own = {k: v for k, v in own.items() if not (k == "_dom_classes" and v == [])}
        assert got == {**own, **keep}, type(wid).__name__
        assert dropped[wid.model_id]["model_name"] == wid.get_state()["_model_name"]  # the names outside stay
    html, empty, layout, _, stack, slider, _, link = ws
    assert dropped[html.model_id]["state"] == {"layout": f"IPY_MODEL_{layout.model_id}", "value": "<b>x</b>",
                                               "style": f"IPY_MODEL_{html.style.model_id}"}
    assert dropped[empty.model_id]["state"]["value"] == ""
    assert dropped[layout.model_id]["state"] == {"width": "470px"}
    assert dropped[stack.model_id]["state"]["selected_index"] == 0
    assert dropped[slider.model_id]["state"]["value"] == 3 and "min" not in dropped[slider.model_id]["state"]
    assert dropped[link.model_id]["state"]["source"] == [f"IPY_MODEL_{slider.model_id}", "value"]
    assert len(json.dumps(dropped)) < len(json.dumps(_recorded(ws))) / 2


def test_drop_defaults_leaves_an_unknown_model_and_the_buffers_alone():
    state = {"a": {"model_name": "ThingModel", "model_module": "some-extension", "model_module_version": "1.0.0",
                   "state": {"description": "", "tooltip": None}},
             "b": {"model_name": "ImageModel", "model_module": "@jupyter-widgets/controls",
                   "model_module_version": "2.0.0", "state": {"format": "png", "width": "", "_dom_classes": []},
                   "buffers": [{"data": "iVBO", "encoding": "base64", "path": ["value"]}]}}
    out = widget_state.drop_defaults(state)
    assert out["a"] == state["a"]
    assert out["b"]["state"] == {} and out["b"]["buffers"] == state["b"]["buffers"]
    assert state["b"]["state"]["format"] == "png"  # the input is not changed


def test_shrink_notebook_rewrites_the_executed_notebooks_widget_state(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("1"))
    nb.metadata["widgets"] = {widget_state.MIME: {"state": _recorded(_widgets()), "version_major": 2,
                                                  "version_minor": 0}}
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    before, after = widget_state.shrink_notebook(path)
    assert 0 < after < before / 2
    back = nbformat.read(path, as_version=4)
    nbformat.validate(back)
    state = back.metadata["widgets"][widget_state.MIME]["state"]
    assert len(json.dumps(state)) == after and back.cells[0].source == "1"
    plain = tmp_path / "plain.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), plain)
    text = plain.read_text()
    assert widget_state.shrink_notebook(plain) == (0, 0) and plain.read_text() == text


@pytest.mark.parametrize("name", ["HTMLModel", "LayoutModel", "StackModel", "IntSliderModel", "LinkModel"])
def test_every_inspector_model_has_its_defaults(name):
    modules = {m for (m, n) in widget_state.model_defaults() if n == name}
    assert modules, name

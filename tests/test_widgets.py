"""urlsom_book.widgets: the map inspector's panels, and that its controls need no Python (jslink only)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from urlsom_book import widgets


def fake_run(grid=(3, 4), n=40, seed=0, sigma=3.0, boundary="zeros"):
    """A duck-typed Run: what the inspector reads from a urlsom_core.runs.Run."""
    import torch

    rng = np.random.default_rng(seed)
    winners = rng.choice([0, 1, 5, 6, 11], size=n)  # neurons 2, 3, 4, 7, 8, 9, 10 stay dead
    labels = (winners % 3).astype(np.int64)
    images = torch.from_numpy(rng.integers(0, 255, size=(n, 1, 8, 8), dtype=np.uint8))
    return SimpleNamespace(
        assignments=lambda: {"winner": winners, "label": labels},
        config=SimpleNamespace(model=SimpleNamespace(grid=grid, sigma=sigma, boundary=boundary)),
        resolved={"classes": ["a", "b", "c"]},
        splits=lambda: SimpleNamespace(train=SimpleNamespace(images=images)),
        metrics={"neural_selectivity": 1.0, "active_neurons": 5, "n_neurons": grid[0] * grid[1]},
    )


def test_tile_builds_a_mosaic():
    imgs = np.full((5, 3, 4, 4), 7, dtype=np.uint8)
    m = widgets.tile(imgs, cols=3, pad=1)
    assert m.shape == (2 * 5 - 1, 3 * 5 - 1, 3)
    assert m[0, 0, 0] == 7 and m[4, 0, 0] == 255  # padding between tiles is white


def test_label_bars_draws_one_bar_per_class_and_colours_the_mode():
    svg = widgets.label_bars(np.array([1, 5, 0]), ["x", "y", "z"])
    assert svg.count("<rect") == 3
    assert widgets.label_color(1) in svg


def test_neuron_panel_for_live_and_dead_neurons():
    imgs = np.zeros((4, 1, 8, 8), dtype=np.uint8)
    live = widgets.neuron_panel(imgs, np.array([2, 2, 2, 0]), ["0", "1", "2"], (1, 2), 100)
    assert "neuron (row 1, column 2)" in live and "3 of 4 agree" in live and "purity 0.75" in live
    assert "data:image/png;base64," in live
    dead = widgets.neuron_panel(imgs[:0], np.array([], dtype=np.int64), ["0"], (0, 0), 100)
    assert "dead neuron" in dead and "<img" not in dead


def test_panels_cover_every_neuron_and_dead_ones_say_so():
    r = fake_run()
    a = r.assignments()
    panels = widgets.panels_for(a["winner"], a["label"], r.splits().train.images.numpy(), (3, 4), ["a", "b", "c"])
    assert len(panels) == 12
    dead = {j for j, p in enumerate(panels) if "dead neuron" in p}
    assert dead == {2, 3, 4, 7, 8, 9, 10}
    won = int((a["winner"] == 5).sum())
    assert f"won {won} of 40 samples" in panels[5]


def test_inspector_is_all_jslinked_and_embeds_its_state():
    """Every control reaches the panels through jslink (browser side), so the static page works."""
    import ipywidgets as w
    from ipywidgets.embed import dependency_state

    runs = {"sigma 3": fake_run(sigma=3.0), "sigma 10": fake_run(seed=1, sigma=10.0)}
    box = widgets.inspector(runs)
    assert isinstance(box, w.VBox)
    pick = box.children[0]
    assert isinstance(pick, w.ToggleButtons) and list(pick.options) == ["sigma 3", "sigma 10"]
    map_stack, right = box.children[1].children
    row, col, panel_stack = right.children
    assert (row.max, col.max) == (2, 3)
    assert len(map_stack.children) == 2 and isinstance(map_stack.children[0].children[0], w.Image)
    image = map_stack.children[0].children[0]
    assert image.value[:8] == b"\x89PNG\r\n\x1a\n" if image.format == "png" else image.value[8:12] == b"WEBP"
    row_stack = panel_stack.children[1]
    assert len(row_stack.children) == 3 and all(len(c.children) == 4 for c in row_stack.children)
    # 2 run links + per run: 1 row link + 3 column links
    assert len(box._links) == 2 + 2 * (1 + 3)
    from ipywidgets.widgets.widget_link import Link

    assert all(isinstance(link, Link) for link in box._links)
    # linked in the browser: moving the sliders in Python changes the stacks only through the front end
    state = dependency_state([box, *box._links])  # what the page embeds: the inspector and its links
    kinds = [m["model_name"] for m in state.values()]
    assert kinds.count("LinkModel") == len(box._links)
    # one model per live neuron (5 per run), one for all the dead ones of a run, and the help line
    assert kinds.count("HTMLModel") == 2 * (5 + 1) + 1
    cells = [h for r in row_stack.children for h in r.children]
    assert len({id(h) for h in cells if "dead neuron" in h.value}) == 1
    assert len({id(h) for h in cells if "dead neuron" not in h.value}) == 5
    json.dumps(state)  # serialisable as the static page needs


def test_vendored_widget_javascript_is_there_and_local():
    """The book points nb_ipywidgets_js at files committed in book/vendor, not at a CDN."""
    import yaml

    root = Path(__file__).resolve().parent.parent
    cfg = yaml.safe_load((root / "_config.yml").read_text())["sphinx"]["config"]
    static = [root / p for p in cfg["html_static_path"]]
    for path, attrs in cfg["nb_ipywidgets_js"].items():
        assert not path.startswith(("http:", "https:", "//")), path
        assert any((s / path).is_file() for s in static), path
        assert not any(str(v).startswith(("http:", "https:")) for v in attrs.values())
    assert not cfg["mathjax_path"].startswith(("http:", "https:", "//"))
    assert any((s / cfg["mathjax_path"]).is_file() for s in static)
    assert "_static" not in cfg["html_static_path"][0]


def _inspector_panels(box) -> list[list]:
    """Per run, the inspector's panel widgets, row-major."""
    return [[h for r in s.children for h in r.children] for s in box.children[1].children[1].children[2].children]


def test_inspector_says_a_circular_map_wraps_once_in_its_help_line():
    torus = widgets.inspector({"circular": fake_run(boundary="circular")})
    flat = widgets.inspector({"zeros": fake_run()})
    mixed = widgets.inspector({"circular": fake_run(boundary="circular"), "zeros": fake_run()})
    assert widgets.TORUS_NOTE in torus.children[-1].value and widgets.TORUS_NOTE not in flat.children[-1].value
    assert f"circular: {widgets.TORUS_NOTE}" in mixed.children[-1].value  # names the run that wraps
    assert not any(widgets.TORUS_NOTE in h.value for ps in _inspector_panels(torus) for h in ps)


def test_the_inspector_panels_carry_the_same_numbers_as_the_self_contained_ones():
    """Compact markup, same honest numbers: each live neuron's count, label, agreement and purity."""
    import re

    r = fake_run()
    a = r.assignments()
    box = widgets.inspector({"r": r})
    compact = [h.value for h in _inspector_panels(box)[0]]
    full = widgets.panels_for(a["winner"], a["label"], r.splits().train.images.numpy(), (3, 4), ["a", "b", "c"])
    numbers = re.compile(r"won [\d,]+ of [\d,]+ samples; label <b>\w+</b>, \d+ of \d+ agree \(purity [\d.]+\)")
    for j, (c, f) in enumerate(zip(compact, full, strict=True)):
        if "dead neuron" in f:
            assert "dead neuron" in c and "won none of the 40 samples" in c
        else:
            assert numbers.search(c).group() == numbers.search(f).group()
            assert f"neuron (row {j // 4}, column {j % 4})" in c


def test_sprite_positions_map_back_to_each_neurons_images():
    """Cut every live neuron's gallery out of the decoded sprite where its panel's CSS says it is: it is the
    tile of the images :func:`picks` chose for that neuron."""
    import base64
    import io
    import re

    from PIL import Image

    r = _digit_run((6, 5), n=300)
    a = r.assignments()
    images = r.splits().train.images.numpy()
    panels, dead, css = widgets.inspector_panels(a["winner"], a["label"], images, (6, 5), [str(i) for i in range(10)],
                                                 "t", seed=3)
    uri = re.search(r"\.ts\{[^}]*url\(data:image/(png|webp);base64,([^)]+)\)", css)
    sheet = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.group(2)))).convert("L"))
    chosen = widgets.picks(a["winner"], 30, seed=3)
    S, step = 16, 16 + widgets.GAP
    checked = 0
    for j, panel in enumerate(panels):
        idx, pick = chosen[j]
        if not len(idx):
            assert panel == dead
            continue
        w_, h_, x, y = (int(v) for v in re.search(r"class=ts style='width:(\d+)px;height:(\d+)px;"
                                                   r"background-position:-(\d+)px -(\d+)px'", panel).groups())
        k = widgets.SCALE
        got = sheet[y // k : (y + h_) // k, x // k : (x + w_) // k]
        want = widgets.tile(images[pick[:9]])[: -(-len(pick) // 3) * step - 1, : min(3, len(pick)) * step - 1]
        assert got.shape == want.shape and (got == want).all(), j
        assert len(pick) == min(9, len(idx))
        checked += 1
    assert checked >= 25 and S == images.shape[-1]


def _digit_run(grid, seed=0, rgb=False, n=1797):
    """A quick-profile-sized run (1,797 16x16 digits) or a paper-sized RGB one, winners spread by label."""
    import torch

    rng = np.random.default_rng(seed)
    if rgb:  # noise: the worst case for PNG, as a stand-in for CIFAR-10's 32x32 RGB images
        labels = rng.integers(0, 10, n)
        images = torch.from_numpy(rng.integers(0, 255, size=(n, 3, 32, 32), dtype=np.uint8))
    else:  # scikit-learn's digits upsampled to 16x16, as the quick profile sees them
        from sklearn.datasets import load_digits

        d = load_digits()
        labels = d.target
        px = (d.images * 16).clip(0, 255).astype(np.uint8)
        images = torch.from_numpy(np.kron(px, np.ones((2, 2), np.uint8))[:, None].copy())
        n = len(labels)
    H, W = grid
    winners = (labels * (H * W // 10) + rng.integers(0, H * W // 10, n)) % (H * W)
    return SimpleNamespace(
        assignments=lambda: {"winner": winners, "label": labels},
        config=SimpleNamespace(model=SimpleNamespace(grid=grid, sigma=3.0)),
        resolved={"classes": [str(i) for i in range(10)]},
        splits=lambda: SimpleNamespace(train=SimpleNamespace(images=images)),
        metrics={"neural_selectivity": 0.9, "active_neurons": len(np.unique(winners)), "n_neurons": H * W},
    )


def _state_bytes(box) -> int:
    from ipywidgets.embed import dependency_state

    return len(json.dumps(dependency_state([box, *box._links], drop_defaults=True)))


PAGE_BUDGET = widgets.PAGE_BUDGET


def test_a_two_run_quick_size_inspector_shows_9_images_per_neuron_within_the_budget():
    """The quick book's map pages: two 30x30 runs of the 1,797 digits."""
    box = widgets.inspector({"a": _digit_run((30, 30)), "b": _digit_run((30, 30), 1)})
    size = _state_bytes(box)
    assert size <= widgets.PANEL_BUDGET, size  # room left for the page's text and figure
    assert box._shown == 9 and "up to 9 of its images" in box.children[-1].value
    assert abs(box._size - size) < 0.03 * size, (box._size, size)  # the budget's estimate is the real size
    for panels in _inspector_panels(box):  # every live neuron of both runs shows min(9, its samples) images
        live = [h.value for h in panels if "dead neuron" not in h.value]
        assert len(live) > 300 and all("background-position:-" in v for v in live)


def test_a_paper_size_rgb_inspector_shows_fewer_images_to_fit_and_says_so():
    runs = {"a": _digit_run((30, 30), rgb=True, n=3000), "b": _digit_run((30, 30), 1, rgb=True, n=3000)}
    unbounded = _state_bytes(widgets.inspector(runs, budget=None))
    box = widgets.inspector(runs)
    size = _state_bytes(box)
    assert unbounded > PAGE_BUDGET  # without the budget this page would be too large
    assert size <= widgets.PANEL_BUDGET, size
    # 1,800 live neurons of incompressible 32x32 RGB noise: not even one image each fits in 2 MB
    assert box._shown < 9 and "fewer, to keep the page small" in box.children[-1].value


def test_a_tighter_budget_gets_the_most_images_per_neuron_that_fit():
    """Between 9 and none: the inspector shows the largest number of images per neuron whose page fits."""
    runs = {"a": _digit_run((30, 30)), "b": _digit_run((30, 30), 1)}
    one, nine = (_state_bytes(widgets.inspector(runs, n_images=k, budget=None)) for k in (1, 9))
    budget = (one + nine) // 2  # (most of these neurons won 1 to 3 samples: the sizes rise steeply from 0 to 3)
    box = widgets.inspector(runs, budget=budget)
    k = box._shown
    assert 0 < k < 9 and f"up to {k} of its images" in box.children[-1].value
    assert _state_bytes(box) <= budget
    assert _state_bytes(widgets.inspector(runs, n_images=k + 1, budget=None)) > budget  # one more would not fit

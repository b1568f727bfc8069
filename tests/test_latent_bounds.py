"""bench/latent_bounds.py: maps built from a set's latents, scored as the suite scores its rows, show what its
latent Spearman line can reach with and without the classes apart; bad input is one line, nothing written."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
spec = importlib.util.spec_from_file_location("latent_bounds", ROOT / "bench" / "latent_bounds.py")
lb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lb)


@pytest.fixture(scope="module")
def toy():
    """2,000 training and 600 held-out images: two uniform latents and 4 classes drawn apart from them."""
    rng = np.random.default_rng(0)
    z, y = rng.uniform(size=(2600, 2)), rng.integers(0, 4, 2600)
    return z[:2000], y[:2000], z[2000:], y[2000:]


def test_the_three_maps_on_classes_apart_from_the_latents(toy):
    tz, ty, hz, hy = toy
    grid = (30, 30)
    rows = {}
    for name, build in (("pair", lambda: lb.pair_map(tz, hz, 0, 1, grid)),
                        ("blocks", lambda: lb.block_map(tz, ty, hz, hy, 0, 1, grid)),
                        ("cells", lambda: lb.cell_map(tz, ty, hz, hy, 0, 1, grid))):
        tw, hw = build()
        assert tw.min() >= 0 and tw.max() < 900 and len(hw) == len(hz)
        rows[name] = lb.T.figures(name, grid, tw, ty, None, hw, hy, hz)  # the suite's scoring, no TE
    # the latents alone in order: near-perfect rank order, the classes mixed (NS near chance, 1/4)
    assert rows["pair"]["spearman"] > 0.95 and rows["pair"]["heldout_ns"] < 0.4
    # the classes apart in blocks: a held-out image is wrong only on a neuron no training image won (~2 a neuron),
    # the order across blocks is lost
    assert rows["blocks"]["heldout_ns"] > 0.85 and rows["blocks"]["spearman"] < 0.5
    # the latents coarse, the classes on neighbouring neurons: both
    assert rows["cells"]["heldout_ns"] > 0.85 and rows["cells"]["spearman"] > 0.9


def test_a_block_holds_one_class_and_a_cell_one_neuron_per_class(toy):
    tz, ty, hz, hy = toy
    tw, _ = lb.block_map(tz, ty, hz, hy, 0, 1, (30, 30))
    r, c = tw // 30, tw % 30
    block = (r // 15) * 2 + c // 15
    assert (block == ty).all()  # class i in block i of a 2x2 layout
    tw, _ = lb.cell_map(tz, ty, hz, hy, 0, 1, (30, 30))
    r, c = tw // 30, tw % 30
    assert ((r % 2) * 2 + c % 2 == ty).all()  # class i on neuron i of each 2x2 cell
    assert np.corrcoef(r // 2, tz[:, 0])[0, 1] > 0.95  # the cells follow latent 0 down the rows


def test_tiny_run_writes_a_table_with_provenance(tmp_path):
    out = tmp_path / "b"
    assert lb.main(["--sets", "shapes", "--tiny", "--out", str(out), "--data", str(tmp_path / "d")]) == 0
    res = json.loads((out / "results.json").read_text())
    kinds = {r["kind"] for r in res["sets"][0]["rows"]}
    assert kinds == {"latents only", "classes in blocks", "classes within cells"}
    assert len(res["sets"][0]["rows"]) == 3 * 6  # 4 latents: 6 pairs, 3 maps each
    assert res["provenance"]["git_commit"] and "Best of each kind" in (out / "results.md").read_text()


def test_bad_set_is_one_line_and_nothing_written(tmp_path, capsys):
    assert lb.main(["--sets", "digits", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--sets digits" in err[0] and "allowed are ellipses" in err[0]
    assert not (tmp_path / "b").exists()

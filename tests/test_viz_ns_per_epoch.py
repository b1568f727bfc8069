"""urlsom_book.viz.ns_per_epoch: the monitor's NS and held-out NS per epoch, the paper's line, the final figures."""

from __future__ import annotations

import matplotlib
import numpy as np

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from urlsom_book import viz  # noqa: E402


def rows(n: int, held: bool = True) -> list[dict]:
    out = []
    for e in range(n):
        r = {"epoch": e, "loss": 1.0 - 0.01 * e, "lr": 1e-3, "monitor_ns": 0.3 + 0.02 * e, "monitor_live": 100}
        if held:
            r["monitor_heldout_ns"] = 0.25 + 0.02 * e
        out.append(r)
    return out


def test_draws_both_curves_1_based_with_the_paper_line_and_the_final_figures():
    fig = Figure()
    ax = fig.add_subplot()
    out = viz.ns_per_epoch(rows(5), ax, paper_ns=0.703,
                           metrics={"neural_selectivity": 0.41, "heldout_neural_selectivity": 0.36})
    assert out is fig
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    ns = lines["NS, monitor sample of the training images"]
    assert list(ns.get_xdata()) == [1, 2, 3, 4, 5] and np.allclose(ns.get_ydata(), [0.30, 0.32, 0.34, 0.36, 0.38])
    held = lines["held-out NS, monitor sample of the held-out images"]
    assert np.allclose(held.get_ydata(), [0.25, 0.27, 0.29, 0.31, 0.33])
    paper = lines["paper, Fig. 4: 70.3%"]
    assert list(paper.get_ydata()) == [0.703, 0.703]
    final = lines["final held-out NS, all images: 0.360"]
    assert list(final.get_xdata()) == [5] and list(final.get_ydata()) == [0.36]
    assert ax.get_ylim()[1] >= 0.703  # the paper's line is in view


def test_a_run_without_a_heldout_split_or_with_older_rows_draws_what_it_has():
    fig = Figure()
    ax = fig.add_subplot()
    viz.ns_per_epoch(rows(3, held=False), ax, paper_ns=None)
    labels = [ln.get_label() for ln in ax.get_lines()]
    assert labels == ["NS, monitor sample of the training images"]
    mixed = rows(4)
    del mixed[0]["monitor_heldout_ns"]  # a row written before the held-out monitor: a gap, not a zero
    ax2 = Figure().add_subplot()
    viz.ns_per_epoch(mixed, ax2)
    held = [ln for ln in ax2.get_lines() if ln.get_label().startswith("held-out")][0]
    y = np.asarray(held.get_ydata(), dtype=float)
    assert np.isnan(y[0]) and np.allclose(y[1:], [0.27, 0.29, 0.31])


def test_makes_its_own_axes_when_none_is_given():
    fig = viz.ns_per_epoch(rows(2))
    assert len(fig.axes) == 1 and fig.axes[0].get_xlabel() == "epoch"

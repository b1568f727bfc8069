"""urlsom_book.claims: every caption claim on hand-made maps whose answer is known, the torus wrap included."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from urlsom_book import claims as C

K = {name: i for i, name in enumerate(C.CIFAR10_CLASSES)}


def som(grid_classes: np.ndarray, torus: bool = False, name: str = "map", classes=C.CIFAR10_CLASSES,
        per_neuron: int = 2) -> C.SomMap:
    """A map whose neuron classes are ``grid_classes`` (h, w) (-1: dead): ``per_neuron`` images of that class
    won by each live neuron."""
    g = np.asarray(grid_classes)
    flat = g.reshape(-1)
    live = np.flatnonzero(flat >= 0)
    winners = np.repeat(live, per_neuron)
    labels = np.repeat(flat[live], per_neuron)
    return C.SomMap(winners, labels, classes, g.shape, torus, name)


def background(shape: tuple[int, int], avoid: tuple[str, ...], seed: int = 0) -> np.ndarray:
    """Neurons of the classes not in ``avoid``, scattered at random (seeded)."""
    pool = [K[c] for c in C.CIFAR10_CLASSES if c not in avoid]
    return np.random.default_rng(seed).choice(pool, size=shape)


def ringed(shape=(14, 14), inner="dog", outer="cat", top=5, left=5, side=3, torus=False) -> np.ndarray:
    """A ``side`` x ``side`` block of ``inner`` ringed by ``outer``, on a random background of the other classes;
    rows and columns wrap (so a block can straddle the map's edge)."""
    g = background(shape, (inner, outer))
    H, W = shape
    for r in range(top - 1, top + side + 1):
        for c in range(left - 1, left + side + 1):
            g[r % H, c % W] = K[outer]
    for r in range(top, top + side):
        for c in range(left, left + side):
            g[r % H, c % W] = K[inner]
    return g


def checkerboard(shape=(10, 10), inner="dog") -> np.ndarray:
    """``inner`` on every even cell; the odd cells cycle through the other nine classes in turn."""
    H, W = shape
    others = [K[c] for c in C.CIFAR10_CLASSES if c != inner]
    g = np.empty(shape, dtype=np.int64)
    k = 0
    for r in range(H):
        for c in range(W):
            if (r + c) % 2 == 0:
                g[r, c] = K[inner]
            else:
                g[r, c] = others[k % len(others)]
                k += 1
    return g


# ------------------------------------------------------------------------------------------ the grid
def test_four_neighbours_wrap_only_on_a_torus():
    flat = C.four_neighbours((3, 4))
    assert list(flat[0]) == [-1, 4, -1, 1]  # up, down, left, right of the corner neuron
    wrap = C.four_neighbours((3, 4), torus=True)
    assert list(wrap[0]) == [8, 4, 3, 1]


def test_grid_distances_take_the_short_way_round_a_torus():
    D = C.grid_distances((10, 10), torus=True)
    assert D[0, 9] == 1.0 and D[0, 99] == pytest.approx(2 ** 0.5)
    assert C.grid_distances((10, 10))[0, 9] == 9.0


def test_components_join_across_the_wrap_only_on_a_torus():
    m = som(ringed(left=12, torus=True), torus=True)  # dog columns 12, 13, 0: straddles the edge
    dog = m.neuron_class == K["dog"]
    assert C.components(dog, m.grid, torus=True) == [9]
    assert C.components(dog, m.grid, torus=False) == [6, 3]


# ------------------------------------------------------------------------------------------ Fig. 4
def test_a_dog_block_ringed_by_cat_gives_share_one_and_beats_every_other_pairing():
    m = som(ringed())
    share, edges = C.boundary_share(m.neuron_class, m.grid, K["dog"], K["cat"])
    assert share == 1.0 and edges == 12  # the 3x3 block's 12 outer edges, all to cat
    row = C.claim_surrounds(m, "dog", "cat")
    assert row.verdict == C.HOLDS and row.values["largest_neighbour"] == "cat"
    assert row.values["share"] > row.values["pairs_p95"] and row.values["p"] == pytest.approx(1 / 90)
    assert row.values["pairs_mean"] < 0.3  # the scattered background classes touch each other at about 1/8


def test_the_dog_block_across_the_torus_wrap_is_ringed_too():
    m = som(ringed(left=12, top=12), torus=True)
    assert C.boundary_share(m.neuron_class, m.grid, K["dog"], K["cat"], torus=True) == (1.0, 12)
    assert C.claim_surrounds(m, "dog", "cat").verdict == C.HOLDS
    flat = som(ringed(left=12, top=12), torus=False)  # read as a flat map the block is cut in four
    assert C.components(flat.neuron_class == K["dog"], flat.grid) == [4, 2, 2, 1]


def test_a_checkerboard_is_at_chance():
    g = checkerboard()
    m = som(g, torus=True)
    row = C.claim_surrounds(m, "dog", "cat")
    odd = g[(np.add.outer(np.arange(10), np.arange(10)) % 2) == 1]
    # every odd cell touches four dog cells, so cat's share of the dog boundary is its share of the odd cells
    assert row.values["share"] == pytest.approx((odd == K["cat"]).mean())
    assert row.values["share"] < row.values["pairs_p95"]  # every odd class is all-dog around: share 1
    assert row.verdict == C.FAILS


def test_surrounds_fails_when_another_class_touches_more_of_the_boundary():
    g = ringed()
    g[4, 4:9] = K["frog"]  # the ring's top row and left column become frog
    g[5:8, 4] = K["frog"]
    m = som(g)
    row = C.claim_surrounds(m, "dog", "cat")
    assert row.values["share"] == 0.5
    g[8, 4:9] = K["frog"]  # and the bottom: frog 9 of 12
    row = C.claim_surrounds(som(g), "dog", "cat")
    assert row.values["largest_neighbour"] == "frog" and row.verdict == C.FAILS


STRIPES = ("automobile", "automobile", "truck", "ship", "airplane", "bird", "cat", "dog", "deer", "horse", "frog", "frog")


def stripes(order=STRIPES, width: int = 12) -> np.ndarray:
    """One class per row, top to bottom: by default the vehicles together at the top, bird right under airplane."""
    return np.repeat(np.array([K[c] for c in order])[:, None], width, 1)


def test_vehicles_together_and_bird_near_airplane_hold_on_a_map_built_so():
    m = som(stripes())
    row = C.claim_vehicles_close(m)
    assert row.verdict == C.HOLDS and row.values["gap"] > 0 and row.values["groups"] == 210
    row = C.claim_close(m, "bird", "airplane")
    assert row.values["distance"] == 1.0 and row.values["rank_for_first"] == 1  # adjacent one-row stripes
    assert row.verdict == C.HOLDS


def test_closeness_fails_where_the_classes_lie_apart():
    apart = ("airplane", "automobile", "truck", "ship", "cat", "dog", "deer", "horse", "frog", "frog", "bird", "bird")
    m = som(stripes(apart))  # bird at the far end from airplane; vehicles still together
    assert C.claim_close(m, "bird", "airplane").verdict == C.FAILS
    assert C.claim_vehicles_close(m).verdict == C.HOLDS
    mixed = ("airplane", "cat", "automobile", "dog", "ship", "deer", "truck", "horse", "frog", "bird", "bird", "frog")
    m = som(stripes(mixed))  # vehicles interleaved with animals
    assert C.claim_vehicles_close(m).verdict == C.FAILS


def test_separate_clusters_hold_when_only_cat_and_deer_are_split():
    g = np.empty((10, 10), dtype=np.int64)
    for k in range(10):
        g[k, :] = k  # one row per class: every class one region
    g[K["cat"], :] = K["frog"]  # cat and deer scattered in pieces of one neuron over other rows
    g[K["deer"], :] = K["horse"]
    for c in range(0, 10, 2):
        g[K["cat"], c], g[K["deer"], c] = K["cat"], K["deer"]
    m = som(g)
    clusters = C.class_clusters(m)
    assert clusters["cat"]["largest_share"] == 0.2 and clusters["dog"]["largest_share"] == 1.0
    assert C.claim_separate_clusters(m).verdict == C.HOLDS
    g2 = g.copy()
    g2[K["dog"], ::2] = K["ship"]  # dog split too
    assert C.claim_separate_clusters(som(g2)).verdict == C.FAILS
    g3 = np.repeat(np.arange(10)[:, None], 10, 1)  # cat and deer whole: the exception is missing
    assert C.claim_separate_clusters(som(g3)).verdict == C.FAILS


def test_persistence_needs_both_maps_to_hold_every_relation():
    a = som(stripes(), name="seed 0")
    b = som(np.flip(stripes(), 1), name="seed 1")  # the same map mirrored: same distances
    ra, rb = C.map_relation_claims(a), C.map_relation_claims(b)
    row = C.claim_persist([a, b], [ra, rb])
    assert row.values["spearman_rho"] == pytest.approx(1.0)
    expected = C.HOLDS if all(c.verdict == C.HOLDS for c in ra + rb) else C.FAILS
    assert row.verdict == expected
    assert row.values["verdicts"]["vehicles together"] == [C.HOLDS, C.HOLDS]


def test_named_claims_cannot_tell_on_the_digits_stand_in():
    digits = tuple(str(d) for d in range(10))
    m = som(np.arange(100).reshape(10, 10) % 10, classes=digits)
    rows = C.fig4_claims([m, m], [0.95, 0.96])
    assert [r.verdict for r in rows] == [C.CANNOT_TELL] * len(rows)
    assert "lack" in rows[2].measured and "cat" in rows[2].measured  # the reason where the number would be
    assert rows[2].measured.startswith("not measured: ") and "lack" not in rows[2].open


def test_ns_claim_says_how_far_from_the_paper():
    row = C.claim_ns([0.500, 0.712], C.CIFAR10_CLASSES, paper=(0.703, 0.7058))
    assert row.verdict == C.FAILS and "-20.3 points" in row.measured and "+0.6 points" in row.measured
    assert C.claim_ns([0.70, 0.70], C.CIFAR10_CLASSES, paper=(0.703, 0.7058)).verdict == C.HOLDS


def test_paper_numbers_come_from_the_paper_profile():
    p = C.paper_numbers()
    assert p["ns_fig4"] == (0.703, 0.7058) and p["stop_epoch"] == 322 and p["lr_switches"] == (5, 10)
    assert p["ns_sigma"] == (0.7119, 0.7019) and p["ns_student"] == (0.7333, 0.7212)


# ------------------------------------------------------------------------------------------ Fig. 5
def history(n: int, bumps: dict[int, float] | None = None, switches=(5, 10), partial_last: bool = False):
    lrs = [1e-4 if e < switches[0] else 5e-4 if e < switches[1] else 1e-3 for e in range(n)]
    loss = 1.0 + np.exp(-np.arange(n) / 8.0)  # a smooth fall
    for e, b in (bumps or {}).items():
        loss[e:] += b  # the loss jumps at e and stays shifted
    return [{"epoch": e, "loss": float(loss[e]), "lr": lrs[e], "partial": partial_last and e == n - 1} for e in range(n)]


def test_glitches_hold_with_bumps_at_both_switches_and_fail_on_a_smooth_fall():
    row = C.claim_glitches(history(30, {5: 0.05, 10: 0.05}), paper_switches=(5, 10))
    assert row.verdict == C.HOLDS and row.values["switches"] == [5, 10]
    smooth = C.claim_glitches(history(30), paper_switches=(5, 10))
    assert smooth.verdict == C.FAILS
    one = C.claim_glitches(history(30, {5: 0.05}), paper_switches=(5, 10))
    assert one.verdict == C.FAILS
    short = C.claim_glitches(history(8), paper_switches=(5, 10))
    assert short.verdict == C.CANNOT_TELL


def test_stop_claim_reads_where_and_why_training_stopped():
    assert C.claim_stop(history(322), "early stop", paper_epoch=322).verdict == C.HOLDS
    assert C.claim_stop(history(100), "early stop", paper_epoch=322).verdict == C.FAILS
    row = C.claim_stop(history(20), "time budget", paper_epoch=322)
    assert row.verdict == C.CANNOT_TELL and "time budget" in row.measured


# ---------------------------------------------------------------------------------- Fig. 7, Fig. 11
def test_dead_line_share_sees_lines_and_not_scattered_dead_neurons():
    g = background((12, 12), ())
    lined = g.copy()
    lined[6, 2:9] = -1  # a line of 7 dead neurons
    scattered = g.copy()
    scattered[::4, ::4] = -1  # 9 isolated dead neurons
    assert C.dead_line_share((lined < 0).reshape(-1), (12, 12)) == 1.0
    assert C.dead_line_share((scattered < 0).reshape(-1), (12, 12)) == 0.0
    diag = g.copy()
    for k in range(4):
        diag[(10 + k) % 12, (10 + k) % 12] = -1  # a diagonal through the torus corner
    assert C.dead_line_share((diag < 0).reshape(-1), (12, 12), torus=True) == 1.0
    assert C.dead_line_share((diag < 0).reshape(-1), (12, 12), torus=False) == 0.0  # cut 2 + 2 on a flat map
    rows = C.fig7_claims(som(scattered, name="sigma 3"), som(lined, name="sigma 10"), 0.72, 0.70, noise=0.005,
                         paper=(0.7119, 0.7019))
    assert [r.verdict for r in rows] == [C.HOLDS, rows[1].verdict, C.HOLDS]
    swapped = C.claim_dead_lines(som(scattered, name="a"), som(lined, name="b"), "w", "Fig. 7")
    assert swapped.verdict == C.FAILS


def test_ns_order_respects_the_seed_spread():
    assert C.claim_ns_order(0.72, 0.70, ("a", "b"), "w", "Fig. 7", noise=0.01).verdict == C.HOLDS
    assert C.claim_ns_order(0.705, 0.70, ("a", "b"), "w", "Fig. 7", noise=0.01).verdict == C.CANNOT_TELL
    assert C.claim_ns_order(0.68, 0.70, ("a", "b"), "w", "Fig. 7", noise=0.01).verdict == C.FAILS


def test_fig11_counts_clusters_and_dead_neurons():
    whole = np.repeat(np.arange(10)[:, None], 10, 1)  # 10 clusters, no dead neuron
    split = whole.copy()
    split[:, 5] = -1  # every row cut in two by a dead column: 20 clusters of 4-5, 10 dead
    rows = C.fig11_claims(som(split, name="s = 1"), som(whole, name="s = 18"), 0.74, 0.72, noise=0.0, paper=(0.7333, 0.7212))
    assert [r.verdict for r in rows] == [C.HOLDS, C.HOLDS, C.HOLDS]
    assert rows[1].values["clusters"] == [20, 10] and rows[2].values["dead"] == [10, 0]
    back = C.fig11_claims(som(whole, name="s = 1"), som(split, name="s = 18"), 0.70, 0.72, paper=(0.7333, 0.7212))
    assert [r.verdict for r in back] == [C.FAILS, C.FAILS, C.FAILS]


# ------------------------------------------------------------------------------------ runs and tables
def fake_run(grid_classes: np.ndarray, seed: int, ns: float):
    from urlsom_core.config import RunConfig

    m = som(grid_classes)
    cfg = RunConfig.from_dict({"model": {"grid": list(grid_classes.shape)}, "train": {"seed": seed}})
    return SimpleNamespace(config=cfg, resolved={"classes": list(C.CIFAR10_CLASSES)},
                           assignments=lambda: {"winner": m.winners, "label": m.labels},
                           metrics={"neural_selectivity": ns, "stop_reason": "time budget"}, history=history(12))


def test_claims_from_runs_and_the_table_hold_every_row():
    r0, r1 = fake_run(stripes(), 0, 0.50), fake_run(np.flip(stripes(), 0), 1, 0.52)
    rows = C.claims_from_runs(fig4=[r0, r1], fig5=r0, fig7=[r0, r1], fig11=[r1, r0], n_shuffles=50)
    assert len(rows) == 1 + 5 * 2 + 1 + 2 + 3 + 3
    assert all(r.verdict in C.VERDICTS for r in rows)
    assert rows[0].values["ns"] == [0.50, 0.52] and rows[-3].values["noise"] == pytest.approx(0.02)
    df = C.claims_table(rows)
    assert list(df.columns) == list(C.COLUMNS) and len(df) == len(rows)
    md = C.claims_table(rows, markdown=True)
    assert md.startswith("| figure | paper |") and md.count("\n") == len(rows) + 2
    js = C.claims_json(rows)
    import json

    json.dumps(js, allow_nan=False)  # NaN written as null


def test_bad_maps_are_refused_in_one_line():
    with pytest.raises(ValueError, match="winner 9: allowed are neurons 0..3"):
        C.SomMap(np.array([0, 9]), np.array([0, 1]), ["a", "b"], (2, 2))
    with pytest.raises(ValueError, match="label 2: allowed are 0..1"):
        C.SomMap(np.array([0, 1]), np.array([0, 2]), ["a", "b"], (2, 2))
    with pytest.raises(ValueError, match="verdict"):
        C.Claim("Fig. 4", "w", "m", "x", "maybe", "t")


def test_claims_from_stored_runs_read_the_networks_own_map(tmp_path):
    from urlsom_book.profiles import load_profile
    from urlsom_core.runs import get_or_train

    cfg = load_profile("tiny").runs["cifar10"].config()  # digits, a usage bias fitted after training
    run = get_or_train(cfg, root=tmp_path, device="cpu", progress=False, log=lambda s: None)
    a = run.assignments()
    m = C.run_map(run, "seed 0")
    assert np.array_equal(m.winners, a["winner"]) and m.torus == cfg.model.circular
    assert "readout_winner" in a and not np.array_equal(a["winner"], a["readout_winner"])  # the bias moved some
    assert C.run_ns(run) == run.metrics["neural_selectivity"] != run.metrics["readout"]["neural_selectivity"]
    rows = C.claims_from_runs(fig4=[run, run], fig5=run, fig7=[run, run], fig11=[run, run], n_shuffles=20)
    assert all(r.verdict == C.CANNOT_TELL for r in rows if r.figure == "Fig. 4")  # digits, not CIFAR-10
    assert rows[12].verdict == C.CANNOT_TELL and "max epochs" in rows[12].measured  # 2 epochs: no early stop
    assert rows[14].verdict == C.CANNOT_TELL  # the same run twice: no NS difference either way
    assert [r.figure for r in rows].count("Fig. 11") == 3


def test_a_page_table_numbers_its_rows_and_lists_what_the_words_leave_open_once():
    digits = tuple(str(d) for d in range(10))
    m = som(np.arange(100).reshape(10, 10) % 10, classes=digits, name="seed 0")
    rows = C.fig4_claims([m, m], [0.95, 0.96])
    md = C.claims_markdown(rows)
    lines = md.splitlines()
    assert lines[0] == "| # | the paper says | measurable form | map | this build measured | decided by | verdict |"
    assert lines[2].startswith("| 1 | Neural selectivity is 70.3% and 70.58%.") and lines[2].endswith(
        "| **cannot tell at this scale** |")
    assert sum(line.startswith("| ") for line in lines) == len(rows) + 1
    assert "| not measured: the map's classes (0, 1, 2, 3, ...) lack dog, cat" in md  # the reason in its row
    surround = [line for line in lines if line.startswith("- rows ") and "'surrounds'" in line]
    assert surround == ["- rows 3, 4, 8, 9: 'surrounds' gives no share: read as among the map's strongest "
                        "adjacencies and the largest neighbour"]
    assert C.claims_markdown([]) == ""
    assert "What the paper's words leave open" not in C.claims_markdown(rows, columns=C.COLUMNS)  # a column then


def test_claims_survive_a_result_file_and_count_their_verdicts():
    r0, r1 = fake_run(stripes(), 0, 0.50), fake_run(np.flip(stripes(), 0), 1, 0.52)
    rows = C.claims_from_runs(fig4=[r0, r1], fig5=r0, n_shuffles=20)
    import json

    back = C.claims_from_json(json.loads(json.dumps(C.claims_json(rows))))
    assert [(r.figure, r.verdict, r.measured, r.maps) for r in back] == [(r.figure, r.verdict, r.measured, r.maps)
                                                                          for r in rows]
    counts = C.verdict_counts(rows)
    assert list(counts) == list(C.VERDICTS) and sum(counts.values()) == len(rows)


def test_a_page_of_fig7_alone_takes_the_seed_spread_it_is_given():
    r3, r10 = fake_run(stripes(), 0, 0.52), fake_run(np.flip(stripes(), 0), 0, 0.50)
    alone = C.claims_from_runs(fig7=[r3, r10], n_shuffles=10)
    assert alone[0].verdict == C.HOLDS and alone[0].open.startswith("no seed-to-seed spread")
    wide = C.claims_from_runs(fig7=[r3, r10], n_shuffles=10, noise=0.03)  # two seeds differ by more than 0.02
    assert wide[0].verdict == C.CANNOT_TELL and wide[0].values["noise"] == 0.03
    assert C.seed_spread([r3, r10]) == pytest.approx(0.02) and C.seed_spread([r3]) == 0.0

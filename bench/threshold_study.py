"""Few or many images per neuron: the defaults rule's candidate maps at several training sizes of one set.

The defaults rule (``urlsom_core.defaults.RULE``) once decided by the training images per neuron whether the
readouts (usage bias, prototype readout) are fitted after training (below ``FEW_PER_NEURON``; on a CPU it now fits
them at every size, on a GPU still below it only), and it once also picked the whole map by it: a torus with the
paper's fixed sigma 5, a flat kernel and batches of 64 below the threshold, the CPU setting (sigma 2, a sharper
kernel, batches of 128, gamma 1) from it. That threshold was placed between the sets
the rule was chosen on (digits 1.6 a neuron, MNIST and the CIFAR-10 subset 8.9), where no set had been measured.
This study trains the set's class-balanced subset of each size under each candidate, everything else as
``urlsom train`` resolves it under the rule (the suite's 20% held-out split, ``--max-minutes``, the seed, the small
network, the budget), and scores each map as ``bench/transfer_suite.py`` does (held-out NS, TE and live neurons on
the training part, latent Spearman where the set has latents). The candidates (``--maps``):

- ``torus+readout``: the torus with sigma 5 and a flat kernel (``defaults.SMALL_MAP``, batch 64, the warm-up kick,
  the paper's gamma and learning-rate steps), read out by both readouts: the rule's few-images regime until this
  study;
- ``cpu``: the CPU setting's map (``defaults.CPU_SETTING``), the network's own winners only;
- ``cpu+readout``: the same map with both readouts fitted after training;
- ``cpu-sigma3+readout``, ``cpu-anneal+readout``, ``cpu-torus+readout``: the CPU setting's map with one change
  (sigma 3; sigma shrinking from 5 to 2 over the first 70% of the budget, the classical SOM's ordering phase;
  a torus), read out: the candidates for a few-images map that keeps continuous latents in order, measured on
  the ellipses (the chose set whose classes are bins of continuous latents) and the class chose sets;
- ``cpu-anneal``: the shrinking sigma without readouts (the rule's own from the threshold on a CPU until the
  readouts were taken at every size);
- ``cpu-anneal-crop75+readout``, ``cpu-anneal-crop85+readout``: the shrinking sigma with a milder random crop
  (``data.crop_min`` 0.75 or 0.85 of the side instead of the paper's 22/32), read out: the candidates for a
  network map that leaves fewer neurons dead with few images a neuron (what the crop erases, the map cannot tell
  apart);
- ``cpu-anneal-batch256+readout``, ``cpu-anneal-batch512+readout``: the shrinking sigma with batches of 256 or 512
  pairs instead of 128: loss_collapse (Eq. 5) sees the winners of one batch only, so a larger batch asks more
  neurons to win (the candidates for a network map with more live neurons);
- ``cpu-anneal-collapse2+readout``, ``cpu-anneal-kick+readout``: the shrinking sigma with loss_collapse weighted 2
  for the whole training (``train.collapse_weight``; Eq. 8 weights it 1), or with the warm-up kick of the author's
  later code (``defaults.WARMUP_KICK``: loss_collapse x 2 for 15 epochs, noise on the map for 10): probes of whether
  the loss's own balance is what leaves neurons dead.

Each is forced by putting its map in the rule's "map" choice, emptying its "order" choice (the shrinking sigma the
rule adds to the CPU map, which is the ``cpu-anneal`` candidates' own change) and moving the rule's threshold
(infinite: readouts on; 0: off) for the run's resolution only, so each run's config is the one that rule would give;
``cpu-anneal+readout`` is the rule's own config on a CPU at every size (``RULE_CPU``). "+readout" is the readout
``urlsom train`` fits today (no refit of the prototypes); a stored cell made when it refitted once says so
(``STORED_REFITS``).

    OMP_NUM_THREADS=1 .venv/bin/python bench/threshold_study.py --set mnist --per-neuron 2 3 4.5 6 \\
        --maps torus+readout cpu cpu+readout --minutes 5 --out bench/results/threshold/mnist

Writes ``results.json`` (every cell, rows, rule lines, commands, provenance) and ``results.md`` into ``--out``
after every cell, and resumes: a cell already there with the same settings is not trained again. Bad input: one
line ``threshold_study: error: ...``, exit 2, nothing written. ``--tiny``: a 5x5 map and 1 epoch (a smoke test).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import transfer_suite as T  # noqa: E402  (the suite's sets, one-cell scoring and table format)

EXIT_BAD_INPUT = 2
# The candidates (``--maps``): a map (sections of the rule's "map" choice, ``map_sections``), with "+readout" the
# readouts fitted after training; each name gives its (map, readouts on).
MAP_NAMES = ("torus+readout", "cpu", "cpu+readout", "cpu-sigma3+readout", "cpu-anneal", "cpu-anneal+readout",
             "cpu-torus+readout", "cpu-anneal-crop75+readout", "cpu-anneal-crop85+readout",
             "cpu-anneal-batch256+readout", "cpu-anneal-batch512+readout", "cpu-anneal-collapse2+readout",
             "cpu-anneal-kick+readout")
MAPS: dict[str, tuple[str, bool]] = {n: (n.removesuffix("+readout"), n.endswith("+readout")) for n in MAP_NAMES}

# The candidate that is the rule itself on a CPU at every size (defaults.RULE: "map", "order" and "readout"); a
# candidate's network row does not depend on its readouts (fitted after training).
RULE_CPU = "cpu-anneal+readout"
# Cells stored before ``model.readout_refits`` existed read their maps out with one refit of the prototypes; today's
# readout makes none. Such a cell keeps its figures under its own id (``stored_cell``) and its rows say so.
STORED_REFITS = 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--set", required=True, help=f"one of the suite's sets: {', '.join(T.BY_NAME)}")
    p.add_argument("--per-neuron", type=float, nargs="+", required=True,
                   help="training images per neuron of the 30x30 map, one size each (e.g. 2 3 4.5 6)")
    p.add_argument("--maps", nargs="+", default=list(MAPS), help=f"any of {', '.join(MAPS)} (default all)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (default 0)")
    p.add_argument("--minutes", type=float, default=5.0, help="--max-minutes of every run (default 5)")
    p.add_argument("--out", required=True, help="folder for results.json and results.md")
    p.add_argument("--runs", help="folder of the runs (default OUT/runs)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    p.add_argument("--tiny", action="store_true", help="a 5x5 map, 1 epoch: a smoke test, figures mean nothing")
    p.add_argument("--merge", nargs="+", default=[], metavar="DIR", help="also take the cells of these --out folders "
                   "(same settings), e.g. of maps run side by side")
    return p.parse_args(argv)


def settings(args: argparse.Namespace) -> dict[str, Any]:
    from urlsom_core.defaults import FEW_PER_NEURON

    return {"set": args.set, "minutes": args.minutes, "tiny": args.tiny, "device": "cpu", "holdout": T.HOLDOUT,
            "grid": list(T.TINY_GRID if args.tiny else T.GRID), "pairs": T.PAIRS, "threshold": FEW_PER_NEURON}


def subset_size(per_neuron: float, grid: tuple[int, int]) -> int:
    """Images to take so that the training part (1 - holdout) holds ``per_neuron`` images per neuron."""
    return math.ceil(per_neuron * grid[0] * grid[1] / (1.0 - T.HOLDOUT))


def check(args: argparse.Namespace) -> None:
    from urlsom_core.config import ConfigError

    if args.set not in T.BY_NAME:
        raise ConfigError(f"--set {args.set}: allowed is one of {', '.join(T.BY_NAME)}")
    bad = [r for r in args.maps if r not in MAPS]
    if bad or len(set(args.maps)) != len(args.maps):
        raise ConfigError(f"--maps {' '.join(args.maps)}: allowed are {', '.join(MAPS)}, each once")
    for p in args.per_neuron:
        if not (math.isfinite(p) and p > 0):
            raise ConfigError(f"--per-neuron {p}: allowed are numbers > 0")
    T.check_run_args(args, ("--seeds", args.seeds))


def map_sections(kind: str) -> dict[str, dict[str, Any]]:
    """The config sections of a candidate map: ``torus`` (the former few-images map), ``cpu`` (the CPU setting) or
    the CPU setting with one change: ``cpu-sigma3`` (sigma 3), ``cpu-anneal`` (sigma shrinking from 5 to the CPU
    setting's 2 over the first 70% of the budget: the rule's "order", ``defaults.ORDER_ANNEAL``) or ``cpu-torus``
    (a torus); the shrinking sigma with one more change: ``cpu-anneal-crop75`` and ``cpu-anneal-crop85``
    (``data.crop_min`` 0.75 or 0.85), ``cpu-anneal-batch256`` and ``cpu-anneal-batch512`` (``train.batch_size`` 256
    or 512), ``cpu-anneal-collapse2`` (``train.collapse_weight`` 2), ``cpu-anneal-kick`` (the warm-up kick)."""
    from urlsom_core.defaults import CPU_MAP, ORDER_ANNEAL, SMALL_MAP, WARMUP_KICK

    if kind == "torus":
        return {"model": dict(SMALL_MAP), "train": {"batch_size": 64, **WARMUP_KICK}}

    def anneal(**sections: dict[str, Any]) -> dict[str, dict[str, Any]]:  # the rule's "order" and one more change
        return {**ORDER_ANNEAL, **sections}

    changes = {"cpu": {}, "cpu-sigma3": {"model": {"sigma": 3.0}}, "cpu-anneal": anneal(),
               "cpu-torus": {"model": {"boundary": "circular"}},
               "cpu-anneal-crop75": anneal(data={"crop_min": 0.75}), "cpu-anneal-crop85": anneal(data={"crop_min": 0.85}),
               "cpu-anneal-batch256": anneal(train={"batch_size": 256}),
               "cpu-anneal-batch512": anneal(train={"batch_size": 512}),
               "cpu-anneal-collapse2": anneal(train={"collapse_weight": 2.0}),
               "cpu-anneal-kick": anneal(train=dict(WARMUP_KICK))}[kind]
    return {sec: {**CPU_MAP.get(sec, {}), **changes.get(sec, {})} for sec in ("model", "train", "data")
            if sec in CPU_MAP or sec in changes}


@contextlib.contextmanager
def candidate(name: str) -> Iterator[None]:
    """The defaults rule with the candidate's map in its "map" choice and the readouts on or off at every size."""
    from dataclasses import replace

    from urlsom_core import defaults

    kind, readout = MAPS[name]
    saved = defaults.FEW_PER_NEURON, defaults.RULE
    defaults.FEW_PER_NEURON = math.inf if readout else 0.0
    # the candidate's map in "map"; "order" (the rule's shrinking sigma) is the cpu-anneal candidates'
    # own change, so it is left out here and every candidate is its map alone; "readout" only with "+readout"
    defaults.RULE = tuple(replace(c, sections=map_sections(kind)) if c.name == "map" else
                          replace(c, sections={}) if c.name == "order" or (c.name == "readout" and not readout)
                          else c for c in defaults.RULE)
    try:
        yield
    finally:
        defaults.FEW_PER_NEURON, defaults.RULE = saved


def sized_set(s: Any, n: int, available: int | None) -> Any:
    """The suite set ``s`` cut to ``n`` images: a class-balanced ``subset`` of its file, or ``n`` generated."""
    from dataclasses import replace

    from urlsom_core.config import ConfigError

    if available is not None and n > available:
        raise ConfigError(f"--per-neuron: {n:,} images needed, {s.name} has {available:,}")
    return replace(s, subset=n) if s.spec else replace(s, n=n, subset=None)


def materialise(sizes: dict[float, Any], out: Path, log: Any) -> dict[float, Any]:
    """Each sized set with a dataset spec: a generated set is written to ``out``/data once, at its own size
    (``--tiny`` included: the suite's tiny sizes would not give the images per neuron asked for). A generated set
    too small for the suite's stratified hold-out is a ConfigError before any file is written."""
    from dataclasses import replace

    from urlsom_book.synthetic import generate, write_npz
    from urlsom_core.config import ConfigError
    from urlsom_core.data import stratified_split

    done: dict[float, Any] = {}
    todo = []
    for p, s in sizes.items():
        path = out / "data" / f"{s.generator}_{s.n}.npz"
        if s.spec or path.is_file():
            done[p] = s if s.spec else replace(s, spec=f"npz:{path.resolve()}")
            continue
        made = generate(s.generator, n=s.n, seed=0)
        try:
            stratified_split(made.labels, T.HOLDOUT, 0)
        except ConfigError as e:
            raise ConfigError(f"--per-neuron {p:g}: {e}") from None
        todo.append((p, s, path, made))
    for p, s, path, made in todo:
        log(f"  generating {s.n:,} {s.generator} into {path}")
        write_npz(made, path)
        done[p] = replace(s, spec=f"npz:{path.resolve()}")
    return done


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from urlsom_core.config import ConfigError
    from urlsom_core.files import provenance, write_json

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    out = Path(args.out)
    grid = T.TINY_GRID if args.tiny else T.GRID
    try:
        check(args)
        base = T.BY_NAME[args.set]
        from urlsom_core.config import DataConfig
        from urlsom_core.data import check_spec, describe

        available = None  # shapes and textures are generated at any size; the digit variants from the 1,797 digits
        if base.spec or (base.generator or "").startswith("digits"):
            check_spec(base.spec or "digits")
            available = describe(DataConfig(dataset=base.spec or "digits")).n_images
        sizes = {p: sized_set(base, subset_size(p, grid), available) for p in args.per_neuron}
        stored = T.stored_cells(args.out, args.merge, settings(args), "the same --set, --minutes and --tiny")
        sizes = materialise(sizes, out, log)
    except ConfigError as e:
        print(f"threshold_study: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from threadpoolctl import threadpool_limits

    runs = T.prepare(args)
    cells: dict[str, dict[str, Any]] = {}
    for c in stored:  # --out's own first, then --merge's
        c = stored_cell(c)
        cells.setdefault(c["id"], c)
    todo = [(p, r, seed) for p in args.per_neuron for r in args.maps for seed in args.seeds]

    def write(cells: dict[str, dict[str, Any]]) -> str:
        """results.json and results.md as the cells stand; the Markdown."""
        res = {"settings": settings(args), "cells": list(cells.values()), "provenance": provenance("cpu", None),
               "command": "python bench/threshold_study.py " + " ".join(sys.argv[1:] if argv is None else argv)}
        write_json(out / "results.json", res)
        md = markdown(res)
        (out / "results.md").write_text(md)
        return md

    with threadpool_limits(args.threads):
        for i, (p, r, seed) in enumerate(todo, 1):
            cid = f"{p:g}/{r}/{seed}"
            if cid in cells:
                log(f"{i}/{len(todo)} {cid}: done, skipped")
                continue
            log(f"[{time.strftime('%H:%M:%S')}] {i}/{len(todo)} {args.set}, {p:g} images a neuron, map {r}, "
                f"seed {seed}")
            suite_args = argparse.Namespace(tiny=args.tiny, minutes=args.minutes, device="cpu", flags="",
                                            no_minisom=True)
            try:
                with candidate(r):
                    cell = T.run_cell(sizes[p], seed, suite_args, out, runs, log)
            except ConfigError as e:  # e.g. a class-balanced subset too small for the hold-out: no traceback
                print(f"threshold_study: error: {e}", file=sys.stderr)
                return EXIT_BAD_INPUT
            cells[cid] = {"id": cid, "per_neuron": p, "map": r, **cell,
                          "readout_refits": readout_refits() if MAPS[r][1] else None}
            log("  " + "; ".join(f"{row['method']}: held-out NS {row['heldout_ns']:.3f}, TE {row['te']:.3f}, live "
                                 f"{row['live']}" for row in cell["rows"]))
            write(cells)
    print(write(cells))
    return 0


def readout_refits() -> int:
    """The refits of the prototype readout that ``urlsom train`` makes today (``model.readout_refits``)."""
    from urlsom_core.config import ModelConfig

    return ModelConfig().readout_refits


def stored_cell(c: dict[str, Any]) -> dict[str, Any]:
    """A stored cell as this script reads it: one of a "+readout" map made before ``model.readout_refits`` existed
    had :data:`STORED_REFITS` refits, and gets an id of its own, so a resume trains today's readout beside it."""
    if "readout_refits" in c:
        return c
    refits = STORED_REFITS if MAPS[c["map"]][1] else None
    return {**c, "readout_refits": refits, "id": c["id"] + (f"/refits{refits}" if refits is not None else "")}


def map_label(c: dict[str, Any]) -> str:
    """The cell's map as the table names it: with its readout's refits where they are not today's."""
    refits = stored_cell(c)["readout_refits"]
    if refits is None or refits == readout_refits():
        return c["map"]
    return f"{c['map']} ({refits} refit{'s' if refits != 1 else ''})"


def markdown(res: dict[str, Any]) -> str:
    st = res["settings"]
    has_sp = any(r.get("spearman") is not None for c in res["cells"] for r in c["rows"])
    lines = [f"# Few or many images per neuron: {st['set']}", "",
             f"The defaults rule's candidate maps on class-balanced subsets of {st['set']} (`--holdout "
             f"{st['holdout']:g} --max-minutes {st['minutes']:g}`, {'x'.join(map(str, st['grid']))} grid"
             f"{', TINY smoke-test settings: figures mean nothing' if st['tiny'] else ''}); mean (sd) over seeds. "
             "Held-out NS: neuron labels from the training part; TE and live: training part. "
             "`bench/threshold_study.py`.", "",
             "Map: the candidate forced at every size (the script's docstring); `*` marks what the rule itself "
             f"gives there today on a CPU (`{RULE_CPU}`, its readout without a refit of the prototypes); a map "
             "marked \"(1 refit)\" was read out with one, as the readout was until 7 December 2026.", "",
             "| images per neuron | training images | map | method | seeds | epochs | held-out NS | TE | live |"
             + (" latent Spearman |" if has_sp else ""),
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |" + (" --- |" if has_sp else "")]
    groups: dict[tuple[float, str, str], list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for c in sorted(res["cells"], key=lambda c: (c["per_neuron"], list(MAPS).index(c["map"]), map_label(c),
                                                  c["seed"])):
        for r in c["rows"]:
            groups.setdefault((c["per_neuron"], map_label(c), r["method"]), []).append((c, r))
    for (p, reg, method), rows in groups.items():
        def fmt(key: str, f: str, rows: list[tuple[dict[str, Any], dict[str, Any]]] = rows) -> str:
            vals = [float(r[key]) for _, r in rows if r.get(key) is not None]
            if not vals:
                return "-"
            m, sd = T.mean_sd(vals)
            return format(m, f) + ("" if math.isnan(sd) else f" ({sd:{f}})")
        c0 = rows[0][0]
        mark = "*" if reg == RULE_CPU else ""
        lines.append(f"| {p:g} | {c0['n_train']:,} | {reg}{mark} | {method} | {' '.join(str(c['seed']) for c, _ in rows)} | "
                     f"{fmt('epochs', '.0f')} | {fmt('heldout_ns', '.3f')} | {fmt('te', '.3f')} | {fmt('live', '.0f')} |"
                     + (f" {fmt('spearman', '.3f')} |" if has_sp else ""))
    lines += ["", "Commands (per cell; `urlsom train` gives the same config, the key shown, only for the map the "
              "rule itself gives at that size; the script forces the others):", "",
              *[f"    {c['command']}  # map {map_label(c)}, config key {c['config_key']}" for c in res["cells"]], ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())

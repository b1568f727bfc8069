"""Do the defaults transfer? URL-SOM's defaults and two MiniSom settings on nine image sets, leave-one-dataset-out.

``urlsom train`` picks its settings from the images and the machine (the choices of ``defaults.RULE``: the
device, the training images per neuron, the input's side and channels, the budget). Those choices were made on
some sets; this suite scores them on sets they were not made on. Every set has a role: ``chose`` (the rule's
choices were measured on it: scikit-learn's digits, the MNIST test set, a CIFAR-10 subset, the ellipses; ``--chose`` changes the
list, so a setting chosen on other sets is reported on the rest) or ``report`` (the rest), and the table says
which. ``--flags`` puts a candidate setting on top of the rule (a pilot), ``--no-minisom`` leaves MiniSom out.

========================  ====================================================================================
``digits``                scikit-learn's digits, 8x8 gray, 1.6 training images per neuron (chose)
``mnist``                 the MNIST test set, 28x28 gray, 8.9 per neuron (chose)
``cifar10``               10,000 images of CIFAR-10's JPEG training zip, 32x32 RGB, 8.9 per neuron (chose)
``shapes``                generated 32x32 RGB shapes with known position, size, rotation (``urlsom_book.synthetic``)
``shapes-many``           the same shapes, 10,000 of them (8.9 training images per neuron, where ``shapes`` has 2.7)
``textures``              generated 32x32 gray band-pass textures with known orientation and frequency
``ellipses``              generated 32x32 gray ellipses with known orientation and elongation (chose: the one chose
                          set whose classes are bins of continuous latents, so that a choice sees order too)
``digits-noisy``          the digits with Gaussian pixel noise (sd 0.25 of the range)
``digits-inverted``       the digits with inverted contrast
========================  ====================================================================================

Per set and seed (a *cell*), with a 20% stratified held-out split (``--holdout 0.2``; split seed 0, so every seed
and every method sees the same split):

- URL-SOM: the config ``urlsom train --dataset SPEC --holdout 0.2 --max-minutes M --seed S --device D`` resolves
  (``urlsom_book.cli.resolve_args``: the dataset's defaults, then the defaults rule), trained by the command's
  own ``runs.train_run`` into ``--runs``; the network's own winners (the paper's map) and, where the rule fits a
  readout after training, the readout's winners, each a row;
- MiniSom σ=1 and σ=3→1 (``urlsom_book.baselines.SOM_SETTINGS``, seeded by S) on the same split and grid, on raw
  pixels in [0, 1] at the images' native side, as ``bench/baselines.py``;
- for a set with latents, a reference: MiniSom σ=3→1 on the training part's standardised latents themselves (a map
  handed the answer). Its latent Spearman is what a classical 2D map of those latents reaches: a reference for the
  others, not a ceiling, with no pass line (the shapes' four latents: about 0.4, folded; maps built from the
  latents by ``bench/latent_bounds.py`` reach 0.68).

Figures: held-out NS (neuron labels from the training part), TE and live neurons on the training part, and,
for a set with latents, the latent Spearman on the held-out part (``metrics.latent_order``: grid distance of two
images' winners against the distance of their standardised latents, 20,000 pairs). The pass lines, per
``report`` set and URL-SOM row, on the means over seeds: TE <= 0.10, live >= 60% of the neurons, held-out NS >=
MiniSom σ=3→1's, latent Spearman >= 0.5 where latents exist. For a set with latents each row also takes the
Spearman apart (``spearman_parts``: each latent alone, over all pairs and over the pairs of one class), a diagnosis
printed under the pass lines.

Writes ``results.json`` (every cell, the commands, the rule lines, provenance) and ``results.md`` into
``--out`` after every cell; a cell already in ``results.json`` (same settings) whose config the defaults rule
still gives (same config key on the cell's data) is not run again, so an interrupted suite resumes, and a cell
trained under an earlier rule is trained again (its MiniSom rows, which depend on the pixels, the split and the seed
only, are taken over). ``--merge DIR ...`` takes the cells of other ``--out`` folders of
the same settings (suites run side by side on parts of the sets) under the same check, the first that passes it.
Generated sets are written to ``--out``/data once (data seed 0, whatever the seed).
Run it with one thread per process on a shared machine::

    OMP_NUM_THREADS=1 .venv/bin/python bench/transfer_suite.py --out bench/results/transfer --minutes 20
    OMP_NUM_THREADS=1 .venv/bin/python bench/transfer_suite.py --tiny --sets shapes textures --seeds 0 --out /tmp/t

``--tiny``: a 5x5 map, 1 epoch, 200-300 generated images, 200 MiniSom iterations (a smoke test in seconds;
its figures mean nothing). Bad input: one line ``transfer_suite: error: ...``, exit 2, nothing written.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from urlsom_book.measure import mean_sd

ROOT = Path(__file__).resolve().parents[1]
EXIT_BAD_INPUT = 2
ROLES = ("chose", "report")
HOLDOUT = 0.2
GRID = (30, 30)
TINY_GRID = (5, 5)
PAIRS = 20_000
# The pass lines of a ``report`` set (means over seeds).
MAX_TE = 0.10
MIN_LIVE_SHARE = 0.60
MIN_SPEARMAN = 0.5


def _shared(*parts: str) -> str:
    """The first of the shared data folders (beside the checkout, or /work/shared) that exists, else the first."""
    for base in (ROOT.parent / "shared" / "data", Path("/work/shared/data")):
        if (base / parts[0]).exists():
            return str(base.joinpath(*parts))
    return str(ROOT.parent.joinpath("shared", "data", *parts))


@dataclass(frozen=True)
class SuiteSet:
    """One data set of the suite: a dataset ``spec`` (or ``generator``, a name of ``urlsom_book.synthetic``),
    the ``subset`` taken from it, the role it has by default, MiniSom's iterations on its raw pixels (set by CPU
    time: one update costs ~H*W*D, as in ``bench/baselines.py``), and what it is."""

    name: str
    about: str
    default_role: str
    spec: str | None = None
    generator: str | None = None
    subset: int | None = None
    som_iterations: int = 20_000
    n: int | None = None  # images a generator makes (None: its default)

    @property
    def has_latents(self) -> bool:
        return self.generator in ("shapes", "textures", "ellipses")


SETS: tuple[SuiteSet, ...] = (
    SuiteSet("digits", "scikit-learn digits, 1,797 8x8 gray", "chose", spec="digits", som_iterations=50_000),
    SuiteSet("mnist", "MNIST test set, 10,000 28x28 gray", "chose", spec="mnist:" + _shared("mnist")),
    SuiteSet("cifar10", "CIFAR-10 JPEG training zip, 10,000 class-balanced 32x32 RGB", "chose",
             spec="imagefolder:" + _shared("cifar10-jpg", "train.zip"), subset=10_000, som_iterations=10_000),
    SuiteSet("ellipses", "generated: 3,000 32x32 gray ellipses, latents orientation and elongation (9 bins)",
             "chose", generator="ellipses"),
    SuiteSet("shapes", "generated: 3,000 32x32 RGB shapes (4 classes), latents position, size, rotation",
             "report", generator="shapes", som_iterations=10_000),
    SuiteSet("shapes-many", "generated: 10,000 32x32 RGB shapes, as shapes: 8.9 training images per neuron, as "
             "MNIST and CIFAR-10 here, where shapes has 2.7", "report", generator="shapes", n=10_000,
             som_iterations=10_000),
    SuiteSet("textures", "generated: 3,000 32x32 gray textures, latents orientation and frequency (9 bins)",
             "report", generator="textures"),
    SuiteSet("digits-noisy", "generated: the 1,797 digits with Gaussian noise, sd 0.25 of the range", "report",
             generator="digits-noisy", som_iterations=50_000),
    SuiteSet("digits-inverted", "generated: the 1,797 digits, contrast inverted", "report",
             generator="digits-inverted", som_iterations=50_000),
)
BY_NAME = {s.name: s for s in SETS}
TINY_N = {"shapes": 200, "ellipses": 200, "textures": 200, "digits-noisy": 300, "digits-inverted": 300}
TINY_SOM_ITERATIONS = 200


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", nargs="+", default=[s.name for s in SETS], help=f"any of {', '.join(BY_NAME)} (default all)")
    p.add_argument("--chose", nargs="*", help="the sets a setting was chosen on (role chose; default "
                   f"{' '.join(s.name for s in SETS if s.default_role == 'chose')}); the others are reported")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default 0 1 2)")
    p.add_argument("--chose-seeds", type=int, nargs="+", help="training seeds of the chose sets (default --seeds): "
                   "the pass lines are for the report sets")
    p.add_argument("--minutes", type=float, default=20.0, help="URL-SOM's time budget per run, --max-minutes (default 20)")
    p.add_argument("--out", required=True, help="folder for results.json, results.md and the generated data")
    p.add_argument("--runs", help="folder of the URL-SOM runs (default OUT/runs)")
    p.add_argument("--device", default="cpu", help="device of URL-SOM (default cpu); the defaults rule depends on it")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch and BLAS (default 1)")
    p.add_argument("--tiny", action="store_true", help="a 5x5 map, 1 epoch, a few hundred images: a smoke test")
    p.add_argument("--flags", default="", help="extra `urlsom train` flags on top of the defaults rule, one string "
                   "(a candidate setting: --flags '--sigma-end 2'); part of the settings")
    p.add_argument("--no-minisom", action="store_true", help="URL-SOM rows only (a quick look at a candidate setting)")
    p.add_argument("--merge", nargs="+", default=[], metavar="DIR", help="also take the cells of these --out folders "
                   "(same settings), e.g. of suites run side by side on parts of the sets")
    return p.parse_args(argv)


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """What makes a cell's figures comparable: a results file of other settings is not resumed."""
    return {"minutes": args.minutes, "tiny": args.tiny, "device": args.device, "holdout": HOLDOUT,
            "grid": list(TINY_GRID if args.tiny else GRID), "pairs": PAIRS, "flags": args.flags,
            "minisom": not args.no_minisom}


def check(args: argparse.Namespace) -> dict[str, str]:
    """A one-line ConfigError for a bad argument, before anything is written; returns each chosen set's role."""
    from urlsom_core.config import ConfigError
    from urlsom_core.data import check_spec
    from urlsom_core.distributed import pick_device

    bad = [s for s in args.sets if s not in BY_NAME]
    if bad:
        raise ConfigError(f"--sets {' '.join(bad)}: allowed are {', '.join(BY_NAME)}")
    if len(set(args.sets)) != len(args.sets):
        raise ConfigError(f"--sets {' '.join(args.sets)}: a set named twice")
    chose = [s.name for s in SETS if s.default_role == "chose"] if args.chose is None else args.chose
    bad = [s for s in chose if s not in BY_NAME]
    if bad:
        raise ConfigError(f"--chose {' '.join(bad)}: allowed are {', '.join(BY_NAME)}")
    check_run_args(args, ("--seeds", args.seeds), ("--chose-seeds", args.chose_seeds or []))
    for name in args.sets:
        if BY_NAME[name].spec:
            check_spec(BY_NAME[name].spec)
    pick_device(args.device)
    if args.flags:
        check_flags(args.flags)
    return {name: ("chose" if name in chose else "report") for name in args.sets}


def check_run_args(args: argparse.Namespace, *seed_flags: tuple[str, list[int]]) -> None:
    """The ConfigErrors of the arguments every suite-like script has: its seed lists (flag, seeds), ``--minutes``,
    ``--threads``, ``--out`` (also ``bench/threshold_study.py``'s)."""
    from urlsom_core.config import ConfigError

    for flag, seeds in seed_flags:
        for s in seeds:
            if s < 0:
                raise ConfigError(f"{flag} {s}: allowed are integers >= 0")
        if len(set(seeds)) != len(seeds):
            raise ConfigError(f"{flag} {' '.join(map(str, seeds))}: a seed named twice")
    if not (math.isfinite(args.minutes) and args.minutes > 0):
        raise ConfigError(f"--minutes {args.minutes}: allowed is a number > 0")
    if args.threads < 1:
        raise ConfigError(f"--threads {args.threads}: allowed is an integer >= 1")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {args.out}: exists and is not a folder")


def check_flags(flags: str) -> None:
    """A ConfigError naming ``--flags`` when its words are not `urlsom train` flags (or a value is bad)."""
    import contextlib
    import io

    from urlsom_book.cli import build_parser
    from urlsom_core.config import ConfigError

    err = io.StringIO()
    try:
        words = shlex.split(flags)
        with contextlib.redirect_stderr(err):
            _, unknown = build_parser().parse_known_args(["train", "--out", "-", *words])
    except (ValueError, SystemExit):
        lines = err.getvalue().strip().splitlines()
        raise ConfigError(f"--flags {flags!r}: {lines[-1] if lines else 'not a flag string'}") from None
    if unknown:
        raise ConfigError(f"--flags {flags!r}: {' '.join(unknown)} not flags of `urlsom train` (allowed: its flags)")


# ------------------------------------------------------------------------------------------------ one cell
def dataset_spec(s: SuiteSet, out: Path, tiny: bool, log: Any) -> str:
    """The dataset spec of ``s``: its own, or ``npz:PATH`` of its generated file (made once)."""
    if s.spec:
        return s.spec
    from urlsom_book.synthetic import generate, write_npz

    n = TINY_N[s.generator] if tiny else s.n
    path = out / "data" / f"{s.generator}{'_tiny' if tiny else ''}{f'_{n}' if n and not tiny else ''}.npz"
    if not path.is_file():
        log(f"  generating {s.generator} into {path}")
        write_npz(generate(s.generator, n=n, seed=0), path)
    return f"npz:{path.resolve()}"


def train_flags(s: SuiteSet, spec: str, seed: int, args: argparse.Namespace) -> list[str]:
    """The ``urlsom train`` flags of a cell (the defaults rule picks the rest)."""
    flags = ["--dataset", spec, "--holdout", f"{HOLDOUT:g}", "--max-minutes", f"{args.minutes:g}", "--seed", str(seed)]
    if s.subset:
        flags += ["--subset", str(s.subset)]
    if args.tiny:
        flags += ["--grid", *map(str, TINY_GRID), "--epochs", "1"]
    return flags + ["--device", args.device, *shlex.split(args.flags)]


def split_index(data_cfg: Any, labels: Any) -> tuple[Any, Any]:
    """Indices (into the file's images) of the training and the held-out part, as ``data.resolve`` splits them."""
    import numpy as np

    from urlsom_core.data import balanced_subset, stratified_split

    keep = balanced_subset(labels, data_cfg.subset, data_cfg.split_seed) if data_cfg.subset else np.arange(len(labels))
    tr, te = stratified_split(labels[keep], data_cfg.holdout, data_cfg.split_seed)
    return keep[tr], keep[te]


@dataclass(frozen=True)
class SplitLatents:
    """A generated file's latents split as a run's data is: ``labels``, ``latents`` (N, k) and their ``names`` of
    the training (``train_*``) and the held-out part (``heldout_*``), in the run's order."""

    train_labels: Any
    heldout_labels: Any
    train_latents: Any
    heldout_latents: Any
    names: list[str]


def split_latents(spec: str, data_cfg: Any) -> SplitLatents | None:
    """The latents of the ``npz:`` file of ``spec`` split by ``data_cfg`` (:func:`split_index`); None for a spec
    that is no file with latents (``urlsom_book.synthetic.read_latents``)."""
    from urlsom_book.synthetic import read_latents
    from urlsom_core.sources import read_npz

    kind, _, path = spec.partition(":")
    lat = read_latents(path) if kind == "npz" and Path(path).is_file() else None
    if lat is None:
        return None
    _, labels, _ = read_npz(path)
    tr, te = split_index(data_cfg, labels)
    return SplitLatents(labels[tr], labels[te], lat[0][tr], lat[0][te], list(lat[1]))


# The reference map of a set with latents: MiniSom sigma 3 -> 1 trained on the training part's standardised latents
# themselves (the answer handed over), scored like every row. Its latent Spearman is what a classical 2D map of these
# latents reaches: a reference for a map of the pixels (not a proven ceiling), not a method (no pass line).
REFERENCE = "MiniSom σ=3→1 on the latents (reference)"


def reference_row(s: SuiteSet, lat: SplitLatents, seed: int, grid: tuple[int, int], tiny: bool) -> dict[str, Any]:
    """The :data:`REFERENCE` row of one cell, from its split latents (:func:`split_latents`)."""
    from urlsom_book import baselines as B

    mu, sd = lat.train_latents.mean(0), lat.train_latents.std(0)
    sd[sd == 0] = 1.0
    z, ze = (lat.train_latents - mu) / sd, (lat.heldout_latents - mu) / sd
    st = B.SOM_SETTINGS[1].replace(iterations=TINY_SOM_ITERATIONS if tiny else s.som_iterations, seed=seed)
    t1 = time.time()
    W = B.fit_minisom(z, grid, st)
    t2 = B.som_top2(W, z)
    return figures(REFERENCE, grid, t2[:, 0], lat.train_labels, t2, B.som_top2(W, ze)[:, 0], lat.heldout_labels,
                   lat.heldout_latents, seed=seed, latent_names=lat.names, minutes=round((time.time() - t1) / 60, 2),
                   settings=st.describe(), inputs=f"the standardised latents ({z.shape[1]}-d)")


def figures(method: str, grid: tuple[int, int], train_w: Any, train_y: Any, top2: Any, test_w: Any, test_y: Any,
            latents: Any, torus: bool = False, lattice: str = "square", seed: int = 0,
            latent_names: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """One row: held-out NS, TE and live neurons on the training part, latent Spearman on the held-out part (and,
    given the latents' names, taken apart per latent: :func:`latent_parts`). ``top2`` None (a map without a
    second-best neuron, e.g. one built from the latents by ``bench/latent_bounds.py``): TE None."""
    from urlsom_core.metrics import heldout_neural_selectivity, latent_order, neural_selectivity, topographic_error

    n = grid[0] * grid[1]
    live = int(neural_selectivity(train_w, train_y, n)["active_neurons"])
    rho = latent_order(test_w, latents, grid, torus, lattice, PAIRS, seed) if latents is not None else None
    row = {"method": method, "n_neurons": n, "live": live,
           "heldout_ns": float(heldout_neural_selectivity(train_w, train_y, test_w, test_y, n)),
           "te": None if top2 is None else float(topographic_error(top2, grid, torus, lattice)),
           "spearman": None if rho is None or not math.isfinite(rho) else float(rho), **extra}
    if latents is not None and latent_names:
        row["spearman_parts"] = latent_parts(test_w, test_y, latents, latent_names, grid, torus, lattice, seed)
    return row


def latent_parts(test_w: Any, test_y: Any, latents: Any, names: list[str], grid: tuple[int, int], torus: bool,
                 lattice: str, seed: int) -> dict[str, dict[str, float | None]]:
    """The latent Spearman taken apart (a diagnosis, not a pass line): per latent, over all pairs and over pairs
    of one class (mean over the classes), so that a map that orders each class by one latent, or none, shows it."""
    import numpy as np

    from urlsom_core.metrics import latent_order

    def rho(w: Any, z: Any) -> float | None:
        r = latent_order(w, z, grid, torus, lattice, PAIRS, seed)
        return float(r) if math.isfinite(r) else None

    out: dict[str, dict[str, float | None]] = {}
    masks = [m for m in (test_y == k for k in np.unique(test_y)) if m.sum() > 2]  # the classes with 3+ images
    for j, name in enumerate(names):
        within = [r for r in (rho(test_w[m], latents[m, j]) for m in masks) if r is not None]
        out[name] = {"all": rho(test_w, latents[:, j]), "within_class": float(np.mean(within)) if within else None}
    return out


def run_cell(s: SuiteSet, seed: int, args: argparse.Namespace, out: Path, runs: Path, log: Any,
             stored: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Train and score one (set, seed) cell; its rows, command and rule line. A MiniSom row of a ``stored`` cell
    of the same set and seed, with the same settings (iterations, seed) and split sizes, is taken as it is: it
    depends on the raw pixels, the split and the grid only, not on URL-SOM's config."""
    import numpy as np

    from urlsom_book import baselines as B
    from urlsom_book.cli import build_parser, resolve_args
    from urlsom_core.data import describe
    from urlsom_core.runs import train_run

    t0 = time.time()
    spec = dataset_spec(s, out, args.tiny, log)
    flags = train_flags(s, spec, seed, args)
    cfg, rule = resolve_args(build_parser().parse_args(["train", *flags, "--out", "-"]))  # as `urlsom train` does
    run_path = runs / f"{s.name}_seed{seed}_{cfg.key()}"  # another --minutes or --tiny: another run
    log(f"  {rule or 'no defaults rule'}")
    run = train_run(cfg, run_path, device=args.device, progress=False, log=lambda line: None, defaults_rule=rule)
    a = run.assignments()
    m = cfg.model
    grid, torus, lattice = tuple(m.grid), m.circular, m.lattice
    lat = split_latents(spec, cfg.data) if s.has_latents else None
    latents, names = (lat.heldout_latents, lat.names) if lat else (None, None)
    if lat and not np.array_equal(lat.heldout_labels, a["heldout_label"]):
        raise RuntimeError(f"{s.name}: the held-out labels of run {run_path} differ from the file's split")
    y, ye = a["label"], a["heldout_label"]
    common = {"epochs": run.metrics.get("epochs_trained"), "stop": run.metrics.get("stop_reason"),
              "minutes": round(float(run.metrics.get("train_seconds", 0.0)) / 60, 2)}
    rows = [figures("URL-SOM (network)", grid, a["winner"], y, a["top2"], a["heldout_winner"], ye, latents, torus,
                    lattice, seed, names, **common)]
    if "readout_winner" in a:
        rows.append(figures("URL-SOM (readout)", grid, a["readout_winner"], y, a["readout_top2"],
                            a["readout_heldout_winner"], ye, latents, torus, lattice, seed, names, **common))
    raw_size = describe(cfg.data).size
    tr, te = B.raw_splits(cfg.data, raw_size)
    if not (np.array_equal(tr.labels.numpy(), y) and np.array_equal(te.labels.numpy(), ye)):
        raise RuntimeError(f"{s.name}: the raw-pixel split differs from run {run_path}'s")
    X, Xe = B.raw_pixels(tr), B.raw_pixels(te)
    its = TINY_SOM_ITERATIONS if args.tiny else s.som_iterations
    for st in () if args.no_minisom else B.SOM_SETTINGS:
        st = st.replace(iterations=its, seed=seed)
        same = [r for c in stored or [] if (c["n_train"], c["n_heldout"]) == (len(y), len(ye))
                for r in c["rows"] if r["method"] == st.name and r.get("settings") == st.describe()]
        if same:
            log(f"  {st.name}: the stored row of this set, seed and split")
            rows.append(same[0])
            continue
        t1 = time.time()
        W = B.fit_minisom(X, grid, st)
        t2 = B.som_top2(W, X)
        rows.append(figures(st.name, grid, t2[:, 0], y, t2, B.som_top2(W, Xe)[:, 0], ye, latents, seed=seed,
                            latent_names=names, minutes=round((time.time() - t1) / 60, 2), settings=st.describe(),
                            inputs=f"raw pixels ({X.shape[1]}-d)"))
    if not args.no_minisom and lat:
        rows.append(reference_row(s, lat, seed, grid, args.tiny))
    return {"set": s.name, "seed": seed, "rows": rows, "rule": rule, "config_key": cfg.key(),
            "command": "urlsom train " + " ".join(flags) + f" --out {run_path}", "run": str(run_path),
            "n_train": int(len(y)), "n_heldout": int(len(ye)), "torus": torus, "lattice": lattice,
            "latent_names": names,
            "wall_seconds": round(time.time() - t0, 1)}


def fresh_cell(s: SuiteSet, stored: list[dict[str, Any]], args: argparse.Namespace, out: Path,
               log: Any) -> dict[str, Any] | None:
    """The first of the ``stored`` cells of one set and seed whose config key is the one the defaults rule gives
    today on the cell's own data file, with today's rule line (the same settings, today's wording); None when
    each was trained under another rule (or other flags), or none is stored: the cell is trained again."""
    from urlsom_book.cli import build_parser, resolve_args

    if not stored:
        return None
    cfg, rule = resolve_args(build_parser().parse_args(["train", *train_flags(s, dataset_spec(s, out, args.tiny, log),
                                                                              stored[0]["seed"], args), "--out", "-"]))
    for c in stored:
        words = c["command"].split()
        spec = words[words.index("--dataset") + 1]
        if c.get("config_key") == cfg.replace(**{"data.dataset": spec}).key():
            rows = c["rows"]
            missing = s.has_latents and not args.no_minisom and not any(r["method"] == REFERENCE for r in rows)
            lat = split_latents(spec, cfg.data) if missing else None
            if lat:
                log(f"  {s.name}/{c['seed']}: adding the reference row ({REFERENCE})")
                rows = [*rows, reference_row(s, lat, c["seed"], tuple(cfg.model.grid), args.tiny)]
            return {**c, "rows": rows, "rule": rule}
    return None


# ------------------------------------------------------------------------------------------------- table
COLUMNS = (("heldout_ns", "held-out NS", ".3f"), ("te", "TE", ".3f"), ("live", "live", ".0f"),
           ("spearman", "latent Spearman", ".3f"))


def summary(cells: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (set, method): the seeds and each figure's mean and sd over them."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for c in cells:
        for r in c["rows"]:
            e = out.setdefault((c["set"], r["method"]), {"seeds": [], "n_neurons": r["n_neurons"], "values": {}})
            e["seeds"].append(c["seed"])
            for k, _, _ in COLUMNS:
                if r.get(k) is not None:
                    e["values"].setdefault(k, []).append(float(r[k]))
    for e in out.values():
        e["mean"] = {k: mean_sd(v) for k, v in e["values"].items()}
    return out


def table(cells: list[dict[str, Any]], roles: dict[str, str]) -> list[str]:
    """One Markdown table: a row per set and method, mean (sd) over seeds."""
    summ = summary(cells)
    rules = {c["set"]: (c["rule"] or "").split("'")[1] if c["rule"] and "'" in c["rule"] else "-" for c in cells}
    head = "| set | role | rule | method | seeds | " + " | ".join(h for _, h, _ in COLUMNS) + " |"
    lines = [head, "|" + " --- |" * (5 + len(COLUMNS))]
    for name in roles:
        for (sname, method), e in summ.items():
            if sname != name:
                continue
            cells_txt = []
            for k, _, fmt in COLUMNS:
                if k not in e["mean"]:
                    cells_txt.append("-")
                    continue
                m, sd = e["mean"][k]
                txt = format(m, fmt) + ("" if math.isnan(sd) else f" ({sd:{fmt}})")
                if k == "live":
                    txt += f" / {e['n_neurons']}"
                cells_txt.append(txt)
            lines.append(f"| {name} | {roles[name]} | {rules.get(name, '-')} | {method} | "
                         f"{' '.join(map(str, sorted(e['seeds'])))} | " + " | ".join(cells_txt) + " |")
    return lines


def pass_lines(cells: list[dict[str, Any]], roles: dict[str, str]) -> list[str]:
    """Per ``report`` set and URL-SOM row: each pass line, marked pass or FAIL (means over seeds)."""
    summ = summary(cells)
    lines = []
    for name, role in roles.items():
        if role != "report":
            continue
        ref = summ.get((name, "MiniSom σ=3→1"))
        for (sname, method), e in summ.items():
            if sname != name or not method.startswith("URL-SOM"):
                continue
            mean = {k: v[0] for k, v in e["mean"].items()}
            checks = []
            if "te" in mean:
                checks.append((f"TE {mean['te']:.3f} <= {MAX_TE:.2f}", mean["te"] <= MAX_TE))
            if "live" in mean:
                share = mean["live"] / e["n_neurons"]
                checks.append((f"live {share:.0%} >= {MIN_LIVE_SHARE:.0%}", share >= MIN_LIVE_SHARE))
            if "heldout_ns" in mean and ref and "heldout_ns" in ref["mean"]:
                r = ref["mean"]["heldout_ns"][0]
                checks.append((f"held-out NS {mean['heldout_ns']:.3f} >= MiniSom σ=3→1's {r:.3f}",
                               mean["heldout_ns"] >= r))
            if "spearman" in mean:
                top = summ.get((name, REFERENCE), {}).get("mean", {}).get("spearman")
                note = f" (the reference map of the latents themselves: {top[0]:.3f})" if top else ""
                checks.append((f"latent Spearman {mean['spearman']:.3f} >= {MIN_SPEARMAN}{note}",
                               mean["spearman"] >= MIN_SPEARMAN))
            verdict = "pass" if checks and all(ok for _, ok in checks) else "FAIL"
            lines.append(f"- {name}, {method}, {len(e['seeds'])} seed(s): **{verdict}**: "
                         + "; ".join(f"{t} {'pass' if ok else 'FAIL'}" for t, ok in checks))
    return lines


def parts_lines(cells: list[dict[str, Any]], roles: dict[str, str]) -> list[str]:
    """Per set with latents and method: each latent's Spearman over all pairs / within a class, means over seeds."""
    acc: dict[tuple[str, str], dict[str, dict[str, list[float]]]] = {}
    for c in cells:
        for r in c["rows"]:
            got = r.get("spearman_parts") or {}
            for latent in [n for n in c.get("latent_names") or [] if n in got] or sorted(got):  # the file's order
                v = got[latent]
                d = acc.setdefault((c["set"], r["method"]), {}).setdefault(latent, {"all": [], "within_class": []})
                for k in ("all", "within_class"):
                    if v.get(k) is not None:
                        d[k].append(float(v[k]))
    lines = []
    for name in roles:
        for (sname, method), parts in acc.items():
            if sname == name:
                lines.append(f"- {name}, {method}: " + "; ".join(
                    f"{latent} {mean_sd(v['all'])[0]:.2f} / {mean_sd(v['within_class'])[0]:.2f}"
                    for latent, v in parts.items() if v["all"] and v["within_class"]))
    return lines


def markdown(res: dict[str, Any], roles: dict[str, str]) -> str:
    cells = res["cells"]
    st = res["settings"]
    parts = parts_lines(cells, roles)
    first: dict[str, dict[str, Any]] = {}
    for c in sorted(cells, key=lambda c: c["seed"]):
        first.setdefault(c["set"], c)
    g = "x".join(map(str, st["grid"]))
    text = ["# Do the defaults transfer?", "",
            f"URL-SOM with the defaults of `urlsom train` (`--holdout {st['holdout']:g} --max-minutes "
            f"{st['minutes']:g}`, device {st['device']}{', TINY smoke-test settings: figures mean nothing' if st['tiny'] else ''}) "
            f"beside MiniSom σ=1 and σ=3→1 on raw pixels, the same {g} grid and the same 80/20 split; mean (sd) "
            "over seeds. Role: `chose`, a defaults rule was tuned on the set; `report`, it was not (the pass lines "
            "are for these). Held-out NS: neuron labels from the training part; TE and live neurons: training part; "
            "latent Spearman: held-out part, grid distance of two winners against latent distance "
            "(`metrics.latent_order`). For a set with latents, the row \"MiniSom σ=3→1 on the latents (reference)\" "
            "is a map handed the answer: MiniSom trained on the standardised latents themselves; its Spearman is "
            "what a classical 2D map of those latents reaches, a reference for a map of the pixels (not a proven "
            "ceiling; no pass line). "
            "`bench/transfer_suite.py`.", "", *table(cells, roles), "",
            "## Pass lines (report sets, means over seeds)", "",
            *(pass_lines(cells, roles) or ["- no report set in this run"]), "",
            *(["## The latent Spearman taken apart (a diagnosis, not a pass line)", "",
               "Each latent alone, over all held-out pairs / over the pairs of one class (mean over the classes), "
               "means over seeds; rows scored since the suite records it:", "", *parts, ""] if parts else []),
            "Sets: " + "; ".join(f"{n}: {BY_NAME[n].about}" + (f" ({first[n]['n_train']:,} training, "
                                 f"{first[n]['n_heldout']:,} held-out images here)" if n in first else "")
                                 for n in roles) + ".", "",
            "What the defaults rule picked, per set (its first seed):", "",
            *[f"- {n}: `{first[n]['rule']}`" for n in roles if n in first], "",
            "Commands (per cell, from the repository's root):", "",
            *[f"    {c['command']}" for c in cells], ""]
    return "\n".join(text) + "\n"


# -------------------------------------------------------------------------------------------------- main
def prepare(args: argparse.Namespace) -> Path:
    """After the checks: torch's threads set to ``--threads``, ``--out`` made; the runs' folder (``--runs`` or
    OUT/runs). Also ``bench/threshold_study.py``'s start."""
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return Path(args.runs) if args.runs else out / "runs"


def stored_cells(out: str, merge: list[str], want: dict[str, Any], same: str) -> list[dict[str, Any]]:
    """The cells of ``out``/results.json (if any), then of each ``merge`` folder's, in that order. A ConfigError
    for a ``merge`` folder without one, or a results file of other settings than ``want`` (``same`` says which)."""
    from urlsom_core.config import ConfigError
    from urlsom_core.files import read_json

    cells: list[dict[str, Any]] = []
    for flag, folder in [("--out", out)] + [("--merge", m) for m in merge]:
        path = Path(folder) / "results.json"
        if not path.is_file():
            if flag == "--merge":
                raise ConfigError(f"--merge {folder}: has no results.json")
            continue
        res = read_json(path)
        if res.get("settings") != want:
            raise ConfigError(f"{flag} {folder}: its results.json has other settings ({res.get('settings')}); "
                              f"allowed is {same}, or another folder")
        cells += res.get("cells", [])
    return cells


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from urlsom_core.config import ConfigError
    from urlsom_core.files import provenance, write_json

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    out = Path(args.out)
    try:
        roles = check(args)
        done: dict[str, list[dict[str, Any]]] = {}  # per set/seed the stored cells: --out's own, then --merge's
        for c in stored_cells(args.out, args.merge, settings(args), "the same --minutes, --tiny and --device"):
            done.setdefault(f"{c['set']}/{c['seed']}", []).append(c)
    except ConfigError as e:
        print(f"transfer_suite: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from threadpoolctl import threadpool_limits

    runs = prepare(args)
    t0 = time.time()
    def seeds(name: str) -> list[int]:
        return args.chose_seeds if roles[name] == "chose" and args.chose_seeds else args.seeds

    todo = [(name, seed) for name in roles for seed in seeds(name)]
    cells = {key: found[0] for key, found in done.items()}  # one per set/seed; kept for those this call skips
    res: dict[str, Any] = {"settings": settings(args), "roles": roles, "cells": list(cells.values())}
    with threadpool_limits(args.threads):
        for i, (name, seed) in enumerate(todo, 1):
            key = f"{name}/{seed}"
            fresh = fresh_cell(BY_NAME[name], done.get(key, []), args, out, log)
            if fresh:
                cells[key] = fresh
                res["cells"] = list(cells.values())
                log(f"[{time.strftime('%H:%M:%S')}] {i}/{len(todo)} {key}: done, with today's config, skipped")
                continue
            if key in done:
                log(f"[{time.strftime('%H:%M:%S')}] {i}/{len(todo)} {key}: done under another config (rule or "
                    "flags changed since), trained again")
            log(f"[{time.strftime('%H:%M:%S')}] {i}/{len(todo)} {key} ({roles[name]}): training and scoring")
            cell = cells[key] = run_cell(BY_NAME[name], seed, args, out, runs, log, done.get(key))
            res["cells"] = list(cells.values())
            log("  " + "; ".join(f"{r['method']}: held-out NS {r['heldout_ns']:.3f}, TE {r['te']:.3f}, live "
                                 f"{r['live']}" + (f", Spearman {r['spearman']:.3f}" if r['spearman'] is not None else "")
                                 for r in cell["rows"]) + f" ({cell['wall_seconds']:.0f} s)")
            res["provenance"] = provenance(args.device, None)
            write_json(out / "results.json", res)
            (out / "results.md").write_text(markdown({**res, "cells": [
                c for c in res["cells"] if c["set"] in roles and c["seed"] in seeds(c["set"])]}, roles))
    res["provenance"] = provenance(args.device, None)
    res["command"] = "python bench/transfer_suite.py " + " ".join(sys.argv[1:] if argv is None else argv)
    write_json(out / "results.json", res)  # every cell, also those of earlier calls with other --sets / --seeds
    shown = {**res, "cells": [c for c in res["cells"] if c["set"] in roles and c["seed"] in seeds(c["set"])]}
    md = markdown(shown, roles) + f"\nMade by `{res['command']}` ({(time.time() - t0) / 60:.1f} min this call).\n"
    (out / "results.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``urlsom reproduce``: execute every figure notebook with a profile, then print what each produced.

    urlsom reproduce --profile quick|paper|tiny|FILE.yaml [--only fig04,fig07] [--device cuda] [--jobs N]

The registry of notebooks is the book's table of contents: every ``_toc.yml`` entry ``file: executed/NAME``
is the notebook ``notebooks/NAME.py`` (jupytext percent format), run in TOC order. For each one this command
converts it to ``.ipynb``, asks the profile for its parameters (``Profile.parameters``; only the parameters
the notebook declares), and executes it with papermill into ``executed/NAME.ipynb``. Each notebook writes
its figure files to ``executed/figures/`` and its numbers to ``executed/records/NAME.json``; this command
reads those records for the summary table (figure, status, NS, live neurons, runs trained or reused, wall
time) and writes it to ``executed/summary.md`` and ``summary.json``.

With ``--jobs N`` up to N notebooks run at once, each kernel with ``cores / N`` torch threads. A run is
trained by one notebook at a time: a notebook that needs a run another one is training waits for it and then
reuses it from the store (``urlsom_core.runs.get_or_train``), so figures that share a run (Fig. 4, 5, 6)
train it once; see :func:`pick_next`. A notebook that fails does not stop the
others: the command goes on, then exits 1 and names each failed notebook, its cell and the error; the runs
it left unfinished are trained by the next notebook that needs them, again one notebook at a time. A notebook
whose kernel died before it ran a cell (two kernels started at once can draw the same free port) is started
again, up to :data:`START_TRIES` times in all (:func:`kernel_never_started`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from urlsom_core.config import ConfigError

from . import summary as tables
from .notebook import BOOK_ENV, FigureSetup
from .profiles import (
    COMMON,
    Profile,
    RunSpec,
    default_out_dir,
    default_runs_root,
    describe,
    load_profile,
    repo_root,
)
from .widget_state import shrink_notebook

# papermill's last line when the kernel died or hung before it answered its first message: no cell ran.
# jupyter_client picks free ports, releases them and hands them to the kernel it starts, so two kernels started
# at once (--jobs N) can both draw one port and one of them dies (jupyter_client issue 154, papermill issue 511).
KERNEL_START_FAILURES = ("Kernel died before replying to kernel_info", "Kernel didn't respond in")
START_TRIES = 3  # starts of one notebook whose kernel never came up, before it counts as failed
EXECUTED = "executed"  # the TOC names executed notebooks as executed/NAME; their sources are notebooks/NAME.py
SOURCES = "notebooks"


@dataclass
class Outcome:
    """What happened to one notebook."""

    name: str
    status: str = "pending"  # ok | FAILED | skipped
    seconds: float = 0.0
    ns: float | None = None
    live: int | None = None
    trained: int = 0
    cached: int = 0
    error: str | None = None
    output: str = ""
    keys: list[str] = field(default_factory=list)

    def runs_text(self) -> str:
        if self.status != "ok":
            return "-"
        if not (self.trained or self.cached):
            return "none"
        parts = [f"{self.trained} trained"] if self.trained else []
        if self.cached:
            parts.append(f"{self.cached} cached")
        return ", ".join(parts)


# ------------------------------------------------------------------------------------------- registry
def find_root(root: str | None) -> Path:
    """The repository top: ``--root``, else the current directory or this package's checkout with a ``_toc.yml``."""
    candidates = [Path(root)] if root else [Path.cwd(), repo_root()]
    for c in candidates:
        if (c / "_toc.yml").is_file() and (c / SOURCES).is_dir():
            return c.resolve()
    where = root or f"{Path.cwd()} or {repo_root()}"
    raise ConfigError(f"root {where}: no _toc.yml with a notebooks/ folder; allowed is the repository top (--root)")


def registry(root: Path) -> list[str]:
    """Notebook names in TOC order: every ``_toc.yml`` entry ``file: executed/NAME``."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text()) or {}
    names: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            f = node.get("file")
            if isinstance(f, str) and f.startswith(EXECUTED + "/"):
                names.append(Path(f).stem)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(toc)
    missing = [n for n in names if not (root / SOURCES / f"{n}.py").is_file()]
    if missing:
        raise ConfigError(f"_toc.yml names {', '.join(missing)}: no notebooks/NAME.py for them")
    return names


def select(names: list[str], only: str | None) -> list[str]:
    """``--only fig04,fig07``: each item a notebook name or the start of one (fig04 = fig04_cifar10_map)."""
    if not only:
        return names
    picked: list[str] = []
    for item in (s.strip() for s in only.split(",")):
        if not item:
            continue
        hits = [n for n in names if n == item or n.startswith(item + "_") or n.startswith(item)]
        if not hits:
            raise ConfigError(f"--only {item!r}: no such notebook; allowed are {', '.join(names)}")
        picked += [h for h in hits if h not in picked]
    return [n for n in names if n in picked]


def convert(src: Path, dst: Path) -> None:
    """jupytext percent ``.py`` -> ``.ipynb`` (no outputs)."""
    import jupytext

    nb = jupytext.read(src)
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"})
    jupytext.write(nb, dst, fmt="ipynb")


def declared(ipynb: Path) -> dict[str, Any]:
    """The notebook's parameters as papermill sees them (name -> papermill's Parameter)."""
    import papermill

    return dict(papermill.inspect_notebook(str(ipynb)))


def data_runs(profile: Profile, names: list[str]) -> list[RunSpec]:
    """The runs of ``profile`` that the notebooks ``names`` use: each one's ``run`` and ``heldout_run``."""
    out: list[RunSpec] = []
    for n in names:
        run = profile.run_for(n)
        held = profile.figure(n).get("heldout_run")
        for r in [run] + ([profile.runs[held.value]] if held is not None and held.value else []):
            if r is not None and r not in out:
                out.append(r)
    return out


def check_data(profile: Profile, names: list[str], top: Path) -> None:
    """Raise one ConfigError line when a file or folder the notebooks ``names`` read is missing: which one, and
    what to put where (the run's ``data_files``, else the path itself). Paths are relative to the repository
    top ``top``, where the notebooks run. Torchvision's datasets (``cifar10``, ``svhn``) are downloaded on first
    use when online, so only a bad root is reported for them (their own one line on a failed download)."""
    from urlsom_core.data import parse_spec, split_spec

    for run in data_runs(profile, names):
        cfg = run.config()
        for spec in (cfg.data.dataset, cfg.data.eval_dataset):
            for part in split_spec(spec) if spec else []:
                kind, arg = parse_spec(part)
                if kind not in ("imagefolder", "npz", "mnist") or not arg:
                    continue
                path = Path(arg) if Path(arg).is_absolute() else top / arg
                if not path.exists():
                    where = run.data_files or f"the {kind} data {arg} (relative to {top})"
                    raise ConfigError(f"profile {profile.name!r} reads {arg}, which is missing (run {run.name!r}): "
                                      f"put {where}")


def plan_keys(profile: Profile, name: str, params: dict[str, Any]) -> list[str]:
    """Config keys of the runs ``name`` will use with ``params`` (empty when it trains none or they are bad)."""

    run = profile.run_for(name)
    if run is None:
        return []
    resolved = {k: v for k, v in profile.parameters(name).items() if k not in COMMON}
    resolved.update({k: v for k, v in params.items() if k not in COMMON and v is not None})
    fs = FigureSetup(name, profile, run, resolved, "cpu", default_runs_root(), default_out_dir())
    try:
        return [c.key() for c in fs.configs()]
    except ConfigError:
        return []  # the notebook itself will fail, with the message, in its first cell


def pick_next(pending: list[str], keys: dict[str, list[str]], training: set[str], done: set[str]) -> str | None:
    """The next notebook to start, or None when every pending one needs a run that is being trained now.

    A run is trained by one notebook at a time: a notebook waits while another is training one of its runs
    (then finds it in the store), and may read runs that are done alongside others. Among those free to
    start, the one with the most runs still to train goes first (long work first), then TOC order.
    """
    free = [n for n in pending if not ((set(keys.get(n, [])) - done) & training)]
    if not free:
        return None
    return max(free, key=lambda n: (len(set(keys.get(n, [])) - done), -pending.index(n)))


def stored(runs: Path, keys: set[str]) -> set[str]:
    """Those of ``keys`` whose run is complete in the store ``runs``."""
    from urlsom_core.runs import incomplete_reason

    return {k for k in keys if (runs / k).is_dir() and incomplete_reason(runs / k) is None}


# ------------------------------------------------------------------------------------------ execution
def first_error(executed: Path) -> tuple[int, str, str] | None:
    """(cell number in the source notebook, its first line, 'Name: message') of the first error output."""
    import nbformat

    try:
        nb = nbformat.read(executed, as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable output notebook: the caller reports the process error
        return None
    n = 0
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags or any(t.startswith("papermill-error-cell") for t in tags):
            continue
        n += 1
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                line = _failing_line(out.get("traceback", [])) or next(
                    (ln for ln in cell.source.splitlines() if ln.strip()), "")
                return n, line.strip()[:90], f"{out.get('ename')}: {out.get('evalue')}"
    return None


def _failing_line(traceback: list[str]) -> str | None:
    """The cell's line marked ``---->`` in IPython's traceback (its first frame), without colours."""
    import re

    for frame in traceback:
        plain = re.sub(r"\x1b\[[0-9;]*m", "", frame)
        if plain.startswith("Cell "):
            m = re.search(r"^-+> *\d+ (.*)$", plain, flags=re.M)
            return m.group(1) if m else None
    return None


def run_notebook(name: str, root: Path, out: Path, work: Path, params: dict[str, Any], env: dict[str, str],
                 log: Any = print) -> Outcome:
    """Execute one notebook with papermill in a subprocess; read its record afterwards."""
    import yaml

    o = Outcome(name)
    src = work / f"{name}.ipynb"
    dst = out / f"{name}.ipynb"
    record = out / "records" / f"{name}.json"
    record.unlink(missing_ok=True)  # a record left by an earlier reproduce is never read as this one's
    pfile = work / f"{name}.params.yaml"
    pfile.write_text(yaml.safe_dump(params, sort_keys=True))
    cmd = [sys.executable, "-m", "papermill", str(src), str(dst), "-f", str(pfile), "--cwd", str(root),
           "--no-progress-bar", "--log-level", "WARNING"]
    t0 = time.time()
    for start in range(1, START_TRIES + 1):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode == 0 or start == START_TRIES or not kernel_never_started(proc.stderr):
            break
        log(f"{name}: its kernel died before it ran a cell (start {start} of {START_TRIES}); starting it again")
        time.sleep(random.uniform(0.5, 2.0))  # apart from the kernel it raced with
    o.seconds = time.time() - t0
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    (logs / f"{name}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode == 0 and record.is_file():
        _hide_injected(dst)
        shrink_notebook(dst)  # the widget state without its default-valued keys: the book page embeds it
        rec = json.loads(record.read_text())
        nums = rec.get("numbers", {})
        o.status = "ok"
        o.ns = nums.get("ns")
        o.live = nums.get("live")
        o.trained = sum(1 for r in rec.get("runs", []) if not r.get("cache_hit"))
        o.cached = sum(1 for r in rec.get("runs", []) if r.get("cache_hit"))
        o.keys = [r["key"] for r in rec.get("runs", [])]
    else:
        o.status = "FAILED"
        err = first_error(dst) if dst.exists() else None
        rel = str(dst.relative_to(Path.cwd())) if dst.is_relative_to(Path.cwd()) else str(dst)
        if err is not None:
            cell, line, msg = err
            o.error = f"{name}: cell {cell} (`{line}`) raised {msg}; see {rel}"
        elif proc.returncode == 0:
            o.error = f"{name}: finished but wrote no record ({record}); does it call nb.report()?"
        else:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            o.error = f"{name}: papermill exited {proc.returncode}: {tail}; see {logs / (name + '.log')}"
    return o


def kernel_never_started(stderr: str) -> bool:
    """Whether papermill failed because the kernel died or hung before it answered (no cell of the notebook ran).

    Judged from papermill's last line, so a kernel that died later, while running a cell, is not counted.
    """
    lines = stderr.strip().splitlines()
    return bool(lines) and any(m in lines[-1] for m in KERNEL_START_FAILURES)


def _hide_injected(executed: Path) -> None:
    """Tag papermill's injected-parameters cell ``hide-input``, as the parameters cell is: one click away."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if "injected-parameters" in tags and "hide-input" not in tags:
            tags.append("hide-input")
    nbformat.write(nb, executed)


def reproduce(profile: str, only: str | None = None, device: str | None = None, jobs: int = 1,
              runs_root: str | None = None, out_dir: str | None = None, root: str | None = None,
              log: Any = print) -> tuple[int, list[Outcome]]:
    """Execute the selected notebooks; returns (exit code, outcomes). Bad input raises ConfigError first."""
    from urlsom_core.files import provenance, write_json

    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: allowed is an integer >= 1")
    prof = load_profile(profile)
    top = find_root(root)
    names = select(registry(top), only)
    check_data(prof, names, top)  # before any notebook runs or trains
    out = Path(out_dir).resolve() if out_dir else top / EXECUTED
    runs = Path(runs_root).resolve() if runs_root else default_runs_root().resolve()
    dev = device or prof.device
    if device:
        from urlsom_core.distributed import pick_device

        pick_device(device)
    t_start = time.time()
    env = dict(os.environ)
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    for var in ("URLSOM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, threads)
    env["PYTHONUNBUFFERED"] = "1"
    env[BOOK_ENV] = "1"  # the pages render the glue roles in their text; report() need not repeat it
    outcomes = {n: Outcome(n) for n in names}
    with tempfile.TemporaryDirectory(prefix="urlsom-reproduce-") as tmp:
        work = Path(tmp)
        params: dict[str, dict[str, Any]] = {}
        keys: dict[str, list[str]] = {}
        for n in names:
            convert(top / SOURCES / f"{n}.py", work / f"{n}.ipynb")
            decl = declared(work / f"{n}.ipynb")
            p = prof.parameters(n, list(decl))
            common = {"profile": prof.spec, "device": dev, "runs_root": _rel(runs, top), "out_dir": _rel(out, top)}
            p.update({k: v for k, v in common.items() if k in decl})
            params[n] = p
            keys[n] = plan_keys(prof, n, p)
        out.mkdir(parents=True, exist_ok=True)
        (out / "records").mkdir(exist_ok=True)
        log(f"reproduce: profile {prof.name} ({prof.path}), {len(names)} notebooks, {jobs} job(s) x "
            f"{env['URLSOM_THREADS']} thread(s); runs in {runs}; output in {out}")
        pending, training, done_keys = list(names), set(), set()
        cond = threading.Condition()
        finished: list[Outcome] = []

        def worker() -> None:
            while True:
                with cond:
                    while True:
                        if not pending:
                            return
                        n = pick_next(pending, keys, training, done_keys)
                        if n is not None:
                            break
                        cond.wait()
                    pending.remove(n)
                    mine = set(keys[n]) - done_keys
                    training.update(mine)
                o = run_notebook(n, top, out, work, params[n], env, log)
                with cond:
                    training.difference_update(mine)
                    done_keys.update(stored(runs, mine))  # a failed notebook's unfinished runs are still to train
                    finished.append(o)
                    extra = f" ({o.runs_text()})" if o.status == "ok" else f": {o.error}"
                    log(f"[{len(finished)}/{len(names)}] {o.name} {o.status} in {o.seconds:.1f} s{extra}")
                    outcomes[o.name] = o
                    cond.notify_all()

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(jobs, len(names)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    ordered = [outcomes[n] for n in names]
    text = tables.table(ordered)
    failed = [o for o in ordered if o.status != "ok"]
    wall = time.time() - t_start
    log("")
    log(text)
    log(f"\n{len(ordered) - len(failed)} of {len(ordered)} notebooks ok in {wall:.0f} s; "
        f"runs trained {sum(o.trained for o in ordered)}, reused from the store {sum(o.cached for o in ordered)}")
    for o in failed:
        log(f"FAILED {o.error}")
    summary = {"profile": prof.spec, "profile_name": prof.name, "only": only, "jobs": jobs, "device": dev,
               "runs_root": str(runs), "wall_seconds": round(wall, 1), "notebooks": [asdict(o) for o in ordered],
               "provenance": provenance(dev)}
    runs_used = tables.runs_used(out, names)
    for info in runs_used.values():
        info["map"] = tables.run_map_figures(Path(info["path"])) if info.get("path") else None
    summary["runs"] = runs_used
    write_json(out / "summary.json", summary)
    per_run = tables.run_table(runs_used) if runs_used else "(the notebooks used no runs)"
    log("\n" + per_run)
    train_total = sum(r["train_seconds"] or 0 for r in runs_used.values())
    devices = sorted({r["device"] for r in runs_used.values() if r.get("device")})
    (out / "summary.md").write_text(
        f"Profile `{prof.name}`, {len(ordered)} notebooks, {wall:.0f} s in all with {jobs} job(s) of "
        f"{env['URLSOM_THREADS']} thread(s) on {os.cpu_count()} cores. The {len(runs_used)} runs they use took "
        f"{train_total:.0f} s of training when they were trained ({', '.join(devices) or 'no device'}); "
        "`cached` means a notebook found its run complete in the store.\n\n" + text + "\n\n"
        "How each run uses its map (corners x, border x: the share of samples won by the 4 corner neurons / the "
        "outer ring over their share of the neurons, 1 for an even map; in brackets on a toroidal map, where "
        "the corners are a 2x2 block like any other, the share of their translates on the torus that win as "
        "many samples, about uniform on (0, 1] without a bias; live share: neurons that won a sample over n; "
        "evenness: entropy of the winner counts over log n):\n\n" + per_run + "\n")

    (out / "profile.md").write_text(describe(prof) + "\n")
    return (1 if failed else 0), ordered


def _rel(path: Path, top: Path) -> str:
    """``path`` relative to the repository top when inside it (notebooks run there), else absolute."""
    try:
        return str(path.relative_to(top))
    except ValueError:
        return str(path)


def cmd_reproduce(args: argparse.Namespace) -> int:
    code, _ = reproduce(args.profile, only=args.only, device=args.device, jobs=args.jobs, runs_root=args.runs,
                        out_dir=args.out, root=args.root)
    return code


def cmd_plan(args: argparse.Namespace) -> int:
    """``--plan``: what would run, with which parameters and run keys, and which runs the store already has."""
    prof = load_profile(args.profile)
    top = find_root(args.root)
    names = select(registry(top), args.only)
    runs = Path(args.runs) if args.runs else default_runs_root()
    with tempfile.TemporaryDirectory() as tmp:
        for n in names:
            convert(top / SOURCES / f"{n}.py", Path(tmp) / f"{n}.ipynb")
            p = prof.parameters(n, list(declared(Path(tmp) / f"{n}.ipynb")))
            ks = plan_keys(prof, n, p)
            have = stored(runs, set(ks))
            print(f"{n}: {json.dumps(p, sort_keys=True)}")
            for k in ks:
                print(f"    run {k}: {'in store' if k in have else 'to train'}")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "reproduce", help="execute every figure notebook with a profile (papermill) and summarise",
        description="Execute the figure notebooks listed in _toc.yml with a profile's parameters; executed "
                    "notebooks, figure files and a summary go to executed/. Exit 1 if any notebook failed.")
    p.add_argument("--profile", default="quick", help="quick | paper | tiny | a YAML profile file (default quick)")
    p.add_argument("--only", help="comma-separated notebooks or their prefixes, e.g. fig04,fig07")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N for every notebook (default: the profile's)")
    p.add_argument("--jobs", type=int, default=1, help="notebooks executed at once (default 1)")
    p.add_argument("--runs", help="run store (default $URLSOM_RUNS or runs/ at the repository top)")
    p.add_argument("--out", help="executed notebooks, figures, summary (default executed/ at the repository top)")
    p.add_argument("--root", help="repository top holding _toc.yml and notebooks/ (default: found)")
    p.add_argument("--plan", action="store_true", help="print what would run and which runs are stored; run nothing")
    p.set_defaults(func=lambda a: cmd_plan(a) if a.plan else cmd_reproduce(a))

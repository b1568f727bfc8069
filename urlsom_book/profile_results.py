"""A profile's numbers from its stored runs, as a result file the book can read without the runs.

``python bench/profile_results.py --runs RUNS_ROOT --profile cifar10-cpu --out bench/results/cifar10_cpu/``
(or ``python -m urlsom_book.profile_results``) reads the runs that ``urlsom reproduce --profile PROFILE`` trained
into ``RUNS_ROOT``, never training one: each figure notebook's runs are the configs the notebook would ask the
store for (the profile's parameters, :class:`~urlsom_book.notebook.FigureSetup`), and each must be complete
in the store (``urlsom_core.runs.incomplete_reason``), else the script stops with one line naming them. It
writes

- ``results.json``: per figure its runs (config key, NS, held-out NS, live neurons, TE, epochs, stop reason,
  training seconds, the machine that trained it) and the numbers its page quotes under the page's own keys
  (``ns``, ``ns_seed2``, ``ns_sigma3``, ...); the captions' claims of Fig. 4, 5, 7 and 11
  (:func:`urlsom_book.claims.claims_from_runs`, the network's own winners); the NS per epoch of Fig. 4's
  first run and of its held-out run; with ``--ssl FILE`` a SimSiam result of
  ``python -m urlsom_book.ssl_baseline``; and the provenance: date, git commit, machine, command
  (``urlsom_core.files.provenance``);
- ``results.md``: the same as Markdown (:func:`results_markdown`), and ``ns_per_epoch.png`` beside it.

The book's results page reads the committed ``results.json`` through the book's Sphinx extension
(``book/_ext/urlsom_sphinx.py``: the role ``{urlsom-result}`` for one number, :func:`role_text`; the directive
``urlsom-results`` for the whole file, :func:`page_markdown`), and says "not yet measured" where the file is
absent, so a reader of any build sees the committed numbers.

Bad input ends in one line ``urlsom: error: ...`` and exit 2, before anything is written.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from urlsom_core.config import ConfigError

from . import claims as C

EXIT_BAD_INPUT = 2
NOT_MEASURED = "not yet measured"
RESULT_FILE = "results.json"
CURVE_FILE = "ns_per_epoch.png"
# the page's key suffixes of each map of a figure with a list parameter (the notebooks' own keys: Fig. 4's
# ``ns`` and ``ns_seed2``, Fig. 7's ``ns_sigma3`` and ``ns_sigma10``, Fig. 11's ``ns_scale1`` and ``ns_scale18``)
SUFFIXES = {"seeds": ("", "_seed2"), "sigmas": ("_sigma3", "_sigma10"), "student_scales": ("_scale1", "_scale18")}
MAP_NAMES = {"seeds": "seed {:g}", "sigmas": "sigma {:g}", "student_scales": "s = {:g}"}
# the figure notebooks whose pages show trained maps (Fig. 1 to 3 train nothing), and how a table names them
FIGURE_TITLES = {"fig04_cifar10_map": "Fig. 4", "fig05_cifar10_loss": "Fig. 5", "fig06_neuron_scatter": "Fig. 6",
                 "fig07_cifar10_sigma": "Fig. 7", "fig08_svhn_map": "Fig. 8", "fig09_svhn_sigma10": "Fig. 9",
                 "fig10_svhn_loss": "Fig. 10", "fig11_student_t": "Fig. 11"}


# ------------------------------------------------------------------------------------------ reading
def figure_runs(profile: Any, notebook: str, runs_root: Path) -> dict[str, Any]:
    """The runs of figure ``notebook`` under ``profile``, from the store ``runs_root`` only.

    Returns ``{"maps": [(name, config), ...], "heldout": config or None, "list": the list parameter or None,
    "run": the RunSpec, "heldout_run": the held-out run's RunSpec or None}``; ``maps`` empty when the figure
    trains nothing. No data is read."""
    from .notebook import FigureSetup
    from .profiles import COMMON, LIST_KNOBS

    run = profile.run_for(notebook)
    if run is None:
        return {"maps": [], "heldout": None, "list": None, "run": None, "heldout_run": None}
    params = {k: v for k, v in profile.parameters(notebook).items() if k not in COMMON}
    fs = FigureSetup(notebook, profile, run, params, "cpu", runs_root, runs_root)
    cfgs = fs.figure_configs()
    plist = next((p for p in LIST_KNOBS if isinstance(params.get(p), (list, tuple)) and params.get(p)), None)
    names = [MAP_NAMES[plist].format(float(v)) for v in params[plist]] if plist in MAP_NAMES else [""] * len(cfgs)
    held = fs.heldout_config()
    return {"maps": list(zip(names, cfgs, strict=True)), "heldout": held, "list": plist, "run": run,
            "heldout_run": profile.runs[params["heldout_run"]] if held is not None else None}


def load_stored(cfg: Any, runs_root: Path) -> tuple[Any, str | None]:
    """(run, None) when ``cfg``'s run is complete in the store, else (None, why); never trains."""
    from urlsom_core.runs import Run, incomplete_reason, run_dir

    path = run_dir(cfg, runs_root)
    why = incomplete_reason(path, cfg)
    if why is not None:
        return None, why
    return Run.load(path, cache_hit=True), None


def _finite(v: Any) -> Any:
    """NaN and infinities as None (JSON), numpy scalars as Python numbers."""
    if hasattr(v, "item"):
        v = v.item()
    return None if isinstance(v, float) and not math.isfinite(v) else v


def run_record(run: Any, name: str, spec: Any) -> dict[str, Any]:
    """One stored run's figures (metrics.json's top level: the network's own winners) and where it was trained."""
    m, man = run.metrics, run.manifest
    prov = man.get("provenance", {})
    rec = {"map": name, "key": run.config.key(), "dataset": run.config.data.dataset,
           "data_label": getattr(spec, "data_label", None), "stands_in_for": getattr(spec, "stands_in_for", None),
           "n_images": m.get("n_samples"), "n_heldout": run.resolved.get("n_heldout"),
           "ns": m.get("neural_selectivity"), "heldout_ns": m.get("heldout_neural_selectivity"),
           "live": m.get("active_neurons"), "n_neurons": m.get("n_neurons"), "te": m.get("topographic_error"),
           "epochs": m.get("epochs_trained"), "stop_reason": m.get("stop_reason"),
           "train_seconds": m.get("train_seconds"), "ns_per_neuron": m.get("neural_selectivity_per_neuron"),
           "first_loss": run.history[0]["loss"] if run.history else None,
           "final_loss": run.history[-1]["loss"] if run.history else None,
           "trained": {"host": prov.get("host"), "platform": prov.get("platform"), "device": prov.get("device"),
                       "torch_threads": prov.get("torch_threads"), "git_commit": prov.get("git_commit"),
                       "finished": man.get("finished")}}
    read = m.get("readout")
    if read:
        rec["readout"] = {"usage_balance": bool(read.get("usage_balance")),
                          "prototype_readout": bool(read.get("prototype_readout")),
                          "ns": read.get("neural_selectivity"), "live": read.get("active_neurons")}
    return {k: _finite(v) if not isinstance(v, dict) else v for k, v in rec.items()}


def page_numbers(records: Sequence[Mapping[str, Any]], plist: str | None, held: Mapping[str, Any] | None) -> dict[str, Any]:
    """The numbers a figure page quotes, under its keys: the first map's ``ns``, ``live``, ``n_neurons``,
    ``n_images``, ``epochs``, ``stop``, ``train_s``, ``first_loss``, ``final_loss``, ``ns_per_neuron``,
    ``dead``; per map of a list parameter ``ns<suffix>`` and ``live<suffix>`` (:data:`SUFFIXES`); Fig. 11's
    ``ns_best``; the held-out run's ``heldout_ns``."""
    first = records[0]
    out = {"ns": first["ns"], "live": first["live"], "n_neurons": first["n_neurons"], "n_images": first["n_images"],
           "epochs": first["epochs"], "stop": first["stop_reason"], "train_s": first["train_seconds"],
           "first_loss": first["first_loss"], "final_loss": first["final_loss"], "ns_per_neuron": first["ns_per_neuron"],
           "dead": (first["n_neurons"] - first["live"]) if first["live"] is not None else None}
    if plist in SUFFIXES:
        for suffix, rec in zip(SUFFIXES[plist], records, strict=False):
            out[f"ns{suffix}"], out[f"live{suffix}"] = rec["ns"], rec["live"]
    if plist == "student_scales":
        out["ns_best"] = max(r["ns"] for r in records)
    if held is not None:
        out["heldout_ns"] = held["heldout_ns"]
    return out


def curve_rows(history: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A run's NS per epoch from history.jsonl: epoch (1-based, as the paper's plots), the monitor's NS on its
    sample of the training images, with a held-out split its held-out NS, and whether the epoch was cut short
    (``partial``: the time budget ended it; its monitor figures are still measured, as the page draws them)."""
    return [{"epoch": int(h["epoch"]) + 1, "ns": _finite(h.get("monitor_ns")),
             "heldout_ns": _finite(h.get("monitor_heldout_ns")), "partial": bool(h.get("partial"))} for h in history]


def read_ssl(path: str | Path) -> dict[str, Any]:
    """The numbers of a SimSiam result file (``python -m urlsom_book.ssl_baseline --out FILE``). Raises
    ConfigError when the file is missing or not such a result."""
    p = Path(path)
    try:
        r = json.loads(p.read_text())
        s = r["simsiam"]
        out = {"file": str(path), "knn_accuracy": s["knn_accuracy"], "epochs": s.get("epochs"),
               "train_seconds": s.get("train_seconds"), "budget_minutes": r.get("budget_minutes"),
               "random_init_knn": r["random_init"]["knn_accuracy"], "k": r["knn"]["k"],
               "train_images": r["data"]["train_images"], "knn_queries": r["data"]["knn_queries"],
               "chance": r["data"].get("chance"), "protocol": r.get("protocol"), "command": r.get("command"),
               "git_commit": r.get("provenance", {}).get("git_commit"), "urlsom": None}
    except FileNotFoundError:
        raise ConfigError(f"--ssl {path}: no such file; allowed is a result file of python -m "
                          "urlsom_book.ssl_baseline") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"--ssl {path}: not a SimSiam result file ({type(e).__name__}: {e}); allowed is a result "
                          "file of python -m urlsom_book.ssl_baseline") from None
    u = r.get("urlsom")
    if u:
        out["urlsom"] = {"knn_accuracy": u.get("knn_accuracy"), "config_key": u.get("config_key"),
                         "ns": u.get("neural_selectivity"), "heldout_ns": u.get("heldout_neural_selectivity"),
                         "train_seconds": u.get("train_seconds"), "epochs": u.get("epochs")}
    return out


def _machine() -> str:
    """This machine in words: host, CPU model (Linux), cores, platform."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}: {model + ', ' if model else ''}{os.cpu_count()} cores, {platform.platform()}"


def collect(profile: str, runs_root: str | Path, ssl: str | Path | None = None, root: Path | None = None,
            command: str = "", only: str | None = None, note: str | None = None) -> dict[str, Any]:
    """Everything ``results.json`` holds (see the module), from the profile's stored runs.

    ``only``: the figures to read, as ``urlsom reproduce --only`` names them (``fig04,fig07``; default every
    figure that trains maps, :data:`FIGURE_TITLES`). ``note``: how the runs were made, in words (the machine's
    load, a build stopped early), kept in the file as written. Raises ConfigError (one line) for an unknown profile or
    figure, a missing run store, or runs that are not complete in it (all of them named), before anything is
    written."""
    from urlsom_core.files import provenance

    from .profiles import load_profile, repo_root
    from .reproduce import registry, select

    prof = load_profile(profile)
    runs_root = Path(runs_root)
    if not runs_root.is_dir():
        raise ConfigError(f"--runs {runs_root}: no such folder; allowed is the run store that `urlsom reproduce "
                          f"--profile {prof.spec}` trained into (runs/ at the repository top by default)")
    ssl_result = read_ssl(ssl) if ssl else None
    names = select([n for n in registry(root or repo_root()) if n in FIGURE_TITLES], only)  # figures with maps
    plans = {n: figure_runs(prof, n, runs_root) for n in names}
    missing, loaded = [], {}
    for n, plan in plans.items():
        for name, cfg in plan["maps"] + ([("held out", plan["heldout"])] if plan["heldout"] is not None else []):
            run, why = load_stored(cfg, runs_root)
            if run is None:
                missing.append(f"{n} {name or 'run'} ({cfg.key()}: {why})")
            loaded[(n, name)] = run
    if missing:
        raise ConfigError(f"--runs {runs_root}: {len(missing)} run(s) of profile {prof.name!r} are not complete there: "
                          + "; ".join(missing) + f"; allowed is a run store where `urlsom reproduce --profile "
                          f"{prof.spec} --runs {runs_root}` trained them (this script never trains)")
    figures: dict[str, Any] = {}
    for n, plan in plans.items():
        if not plan["maps"]:
            continue
        recs = [run_record(loaded[(n, name)], name, plan["run"]) for name, _ in plan["maps"]]
        held = None
        if plan["heldout"] is not None:
            held = run_record(loaded[(n, "held out")], "held out", plan["heldout_run"])
        figures[n] = {"data": plan["run"].data_label, "stands_in_for": plan["run"].stands_in_for, "runs": recs,
                      "heldout": held, "numbers": page_numbers(recs, plan["list"], held)}

    def runs_of(n: str) -> list[Any]:
        return [loaded[(n, name)] for name, _ in plans[n]["maps"]] if n in figures else []

    fig4, fig5, fig7, fig11 = (runs_of(n) for n in ("fig04_cifar10_map", "fig05_cifar10_loss",
                                                     "fig07_cifar10_sigma", "fig11_student_t"))
    seeds = prof.parameters("fig04_cifar10_map").get("seeds") if fig4 else None
    rows = C.claims_from_runs(fig4=fig4, fig5=fig5[0] if fig5 else None, fig7=fig7, fig11=fig11, seeds=seeds)
    curve = None
    if fig4:
        held_run = loaded.get(("fig04_cifar10_map", "held out"))
        curve = {"figure": "fig04_cifar10_map", "map": plans["fig04_cifar10_map"]["maps"][0][0],
                 "key": fig4[0].config.key(), "paper_ns": C.paper_numbers()["ns_fig4"][0],
                 "monitor_samples": fig4[0].config.train.monitor_samples,
                 "final_ns": fig4[0].metrics.get("neural_selectivity"), "epochs": curve_rows(fig4[0].history),
                 "heldout": None if held_run is None else {
                     "key": held_run.config.key(), "epochs": curve_rows(held_run.history),
                     "final_ns": held_run.metrics.get("neural_selectivity"),
                     "final_heldout_ns": held_run.metrics.get("heldout_neural_selectivity")}}
    prov = provenance("cpu")
    trained = sorted({json.dumps({k: r["trained"][k] for k in ("host", "platform", "device", "torch_threads")},
                                 sort_keys=True) for f in figures.values() for r in f["runs"] + ([f["heldout"]] if f["heldout"] else [])})
    return {"what": f"the numbers of profile {prof.name!r}'s stored runs (nothing trained here)",
            "profile": {"name": prof.name, "spec": prof.spec, "rung": prof.rung, "about": prof.about},
            "only": only, "note": note,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "command": command, "git_commit": prov["git_commit"], "machine": _machine(),
            "trained_on": [json.loads(t) for t in trained],
            "figures": figures, "claims": C.claims_json(rows), "verdicts": C.verdict_counts(rows),
            "ns_per_epoch": curve, "ssl": ssl_result, "provenance": prov}


# ------------------------------------------------------------------------------------------ writing
def draw_curve(results: Mapping[str, Any]) -> Any:
    """Fig. 4's NS per epoch from ``results["ns_per_epoch"]`` (:func:`urlsom_book.viz.ns_per_epoch`: the
    first seed's run, and its held-out run beside it where there is one); None without a Fig. 4 curve."""
    from matplotlib.figure import Figure

    from . import viz

    c = results.get("ns_per_epoch")
    if not c:
        return None

    def history(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:  # the history.jsonl columns it reads
        return [{"epoch": r["epoch"] - 1, "monitor_ns": r["ns"], "monitor_heldout_ns": r["heldout_ns"]} for r in rows]

    held = c.get("heldout")
    fig = Figure(figsize=(12.6 if held else 7.4, 4.4), layout="constrained")
    ax = fig.subplots(1, 2 if held else 1, squeeze=False)[0]
    name = results["profile"]["name"]
    viz.ns_per_epoch(history(c["epochs"]), ax=ax[0], paper_ns=c["paper_ns"],
                     metrics={"neural_selectivity": c["final_ns"]}, title=f"{name}, Fig. 4 ({c['map']}): all images")
    if held:
        viz.ns_per_epoch(history(held["epochs"]), ax=ax[1], paper_ns=c["paper_ns"],
                         metrics={"neural_selectivity": held["final_ns"],
                                  "heldout_neural_selectivity": held["final_heldout_ns"]},
                         title=f"{name}, the held-out run: test images never trained on")
    return fig


def _f(v: Any, spec: str = ".3f") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return format(v, spec)
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def _title(notebook: str) -> str:
    return FIGURE_TITLES.get(notebook, notebook)


def results_markdown(results: Mapping[str, Any], curve_image: str | None = CURVE_FILE, headings: bool = True) -> str:
    """The result file as Markdown: where it comes from; a table of every figure's runs; the NS per epoch of
    Fig. 4's run (``curve_image``, a path from the Markdown's folder, drawn above its table; None: the table
    only); the claims (:func:`urlsom_book.claims.claims_markdown`); the SimSiam peer where given.
    ``headings``: section headings (a file of its own), else bold lead-ins (inside a page's section)."""
    prof = results["profile"]

    def head(text: str) -> str:
        return f"## {text}" if headings else f"**{text}.**"

    out = []
    if headings:
        out += [f"# Profile `{prof['name']}`: the numbers of its stored runs", ""]
    trained = "; ".join(f"{t.get('host')} ({t.get('device')}, {t.get('torch_threads')} torch "
                        f"thread{'' if t.get('torch_threads') == 1 else 's'})" for t in results.get("trained_on", [])) or "-"
    command = str(results["command"])
    if results.get("note"):  # the note follows in full below
        command = command.replace(shlex.quote(results["note"]), "NOTE")
    out.append(f"Profile `{prof['name']}`: {prof['rung']}. Read from its run store on {results['date']} by "
               f"`{command}` (git {str(results['git_commit'])[:12]}, {results['machine']}); nothing was "
               f"trained to make this file. The runs were trained on {trained}. The maps are the network's own "
               "winners (the paper's map); NS is over the images a map was trained on, held-out NS over images "
               "it never saw." + (f" Figures read: {', '.join(_title(n) for n in results['figures'])} (`--only "
                                  f"{results['only']}`)." if results.get("only") else ""))
    if results.get("note"):
        out += ["", f"How the runs were made (NOTE): {results['note']}"]
    out += ["", head("Every figure's runs"), "",
            "| figure | map | run key | data | images | NS | held-out NS | live neurons | TE | epochs | stopped by | training (s) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    seen: dict[str, str] = {}  # run key -> the figure and map that listed it first
    for n, f in results["figures"].items():
        for k, r in enumerate(f["runs"] + ([f["heldout"]] if f.get("heldout") else [])):
            data = (r.get("data_label") or r["dataset"]) if k == 0 or r is f.get("heldout") else "the same"
            if r["key"] in seen:
                data = f"the run of {seen[r['key']]}"
            seen.setdefault(r["key"], f"{_title(n)}" + (f", {r['map']}" if r["map"] else ""))
            out.append(f"| {_title(n)} | {r['map'] or '-'} | `{r['key']}` | {data} | {_f(r['n_images'])} | {_f(r['ns'])} | "
                       f"{_f(r['heldout_ns'])} | {_f(r['live'])} of {_f(r['n_neurons'])} | {_f(r['te'])} | {_f(r['epochs'])} | "
                       f"{r['stop_reason'] or '-'} | {_f(r['train_seconds'], ',.0f')} |")
    c = results.get("ns_per_epoch")
    if c:
        out += ["", head("NS per epoch, Fig. 4's run"), "",
                f"The monitor's NS on its fixed sample of the training images after each epoch, for Fig. 4's "
                f"{c['map']} (run `{c['key']}`; final NS over all its images {_f(c['final_ns'])}), against the "
                f"paper's {c['paper_ns']:.1%}" + (f"; and the held-out run's (run `{c['heldout']['key']}`), with its "
                                                  "held-out NS on a sample of the images it never saw" if c.get("heldout") else "")
                + "."]
        from .viz import monitor_note

        out += ["", monitor_note(c.get("monitor_samples"))]
        if curve_image:
            out += ["", f"![NS per epoch of Fig. 4's run]({curve_image})"]
        own = {r["epoch"]: r for r in c["epochs"]}
        held = {r["epoch"]: r for r in (c["heldout"]["epochs"] if c.get("heldout") else [])}
        cols = "| epoch | NS (monitor) |" + (" held-out run: NS | held-out run: held-out NS |" if held else "")
        out += ["", cols, "|---|---|" + ("---|---|" if held else "")]

        def cut(r: Mapping[str, Any], v: Any) -> str:  # a figure of an epoch the time budget cut short
            return _f(v) + (" (cut short)" if r.get("partial") and v is not None else "")

        for e in sorted(set(own) | set(held)):
            r, h = own.get(e, {}), held.get(e, {})
            out.append(f"| {e} | {cut(r, r.get('ns'))} |" + (f" {cut(h, h.get('ns'))} | {cut(h, h.get('heldout_ns'))} |"
                                                          if held else ""))
    rows = C.claims_from_json(results.get("claims", []))
    if rows:
        v = results.get("verdicts") or C.verdict_counts(rows)
        out += ["", head("The captions' claims, measured"), "",
                f"{len(rows)} rows: {v[C.HOLDS]} hold, {v[C.FAILS]} do not hold, {v[C.CANNOT_TELL]} cannot tell "
                "(each figure page explains its rows).", "",
                C.claims_markdown(rows, columns=("figure", "paper", "measure", "map", "measured", "verdict"))]
    s = results.get("ssl")
    if s:
        out += ["", head("A self-supervised peer: SimSiam on the same backbone"), "",
                "| embedding | kNN accuracy (k = " + str(s["k"]) + ") |", "|---|---|",
                f"| SimSiam (lightly), {_f(s['epochs'], '.1f')} epochs in {_f(s['budget_minutes'], 'g')} min on "
                f"{_f(s['train_images'])} images | {_f(s['knn_accuracy'])} |"]
        if s.get("urlsom"):
            out.append(f"| URL-SOM's backbone (run `{s['urlsom']['config_key']}`) | {_f(s['urlsom']['knn_accuracy'])} |")
        out += [f"| the same backbone at its random initialisation | {_f(s['random_init_knn'])} |",
                f"| chance (the largest class) | {_f(s['chance'])} |", "",
                f"{(s.get('protocol') or '').rstrip('.')}. "
                f"Made by `{s.get('command')}` (git {str(s.get('git_commit'))[:12]})."]
    return "\n".join(out) + "\n"


def write(results: Mapping[str, Any], out: str | Path) -> list[Path]:
    """``results.json``, ``results.md`` and (with a Fig. 4 curve) ``ns_per_epoch.png`` into the folder ``out``."""
    from urlsom_core.files import write_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / RESULT_FILE, out / "results.md"]
    write_json(out / RESULT_FILE, dict(results))
    fig = draw_curve(results)
    if fig is not None:
        fig.savefig(out / CURVE_FILE, dpi=110, bbox_inches="tight")
        written.append(out / CURVE_FILE)
    (out / "results.md").write_text(results_markdown(results, CURVE_FILE if fig is not None else None))
    return written


# ---------------------------------------------------------------------------------- the book's side
def load(path: str | Path) -> dict[str, Any] | None:
    """A committed ``results.json``, or None when it is absent (the book then says :data:`NOT_MEASURED`)."""
    p = Path(path)
    if not p.is_file():
        return None
    return json.loads(p.read_text())


def role_text(ref: str, results: Mapping[str, Any] | None) -> str:
    """One number of a result file for the book's ``{urlsom-result}`` role: ``ref`` is ``NOTEBOOK.KEY[:SPEC]``
    (``fig04_cifar10_map.ns:.3f``), a key of that figure's page numbers; :data:`NOT_MEASURED` without a file,
    '-' where the file has no such number.

    Example:
        >>> role_text("fig04_cifar10_map.ns:.3f", {"figures": {"fig04_cifar10_map": {"numbers": {"ns": 0.5012}}}})
        '0.501'
    """
    if results is None:
        return NOT_MEASURED
    what, _, spec = ref.partition(":")
    notebook, _, key = what.partition(".")
    v = results.get("figures", {}).get(notebook, {}).get("numbers", {}).get(key)
    if v is None:
        return "-"
    try:
        return format(v, spec) if spec else _f(v)
    except (TypeError, ValueError):
        return _f(v)


def page_markdown(results: Mapping[str, Any] | None, curve_image: str | None, make: str) -> str:
    """The results page's section for a committed result file (:func:`results_markdown` without headings),
    or one paragraph saying it is not yet measured and ``make``, the command that would measure it."""
    if results is None:
        return (f"**{NOT_MEASURED.capitalize()}**: no result file is committed for this profile yet. It is made from "
                f"the profile's stored runs by `{make}`.")
    return results_markdown(results, curve_image, headings=False)


# --------------------------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # one line, exit 2
            self.exit(EXIT_BAD_INPUT, f"urlsom: error: {message}\n")

    p = Parser(prog="profile_results", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", required=True, help="the run store the profile's runs were trained into")
    p.add_argument("--profile", required=True, help="the profile: a name (cifar10-cpu, quick, tiny, paper) or a YAML file")
    p.add_argument("--out", required=True, help="folder for results.json, results.md and ns_per_epoch.png")
    p.add_argument("--ssl", help="a SimSiam result file of python -m urlsom_book.ssl_baseline, shown beside the runs")
    p.add_argument("--only", help="the figures to read, as urlsom reproduce --only names them (fig04,fig07); "
                                  "default every figure that trains maps")
    p.add_argument("--note", help="how the runs were made, in words (the machine's load, a build stopped early), "
                                  "kept in the file")
    return p


def main(argv: Sequence[str] | None = None, script: str = "python -m urlsom_book.profile_results") -> int:
    args = build_parser().parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    out = Path(args.out)
    try:
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out}: is a file; allowed is a folder (made when missing)")
        results = collect(args.profile, args.runs, args.ssl, command=f"{script} {shlex.join(argv)}", only=args.only,
                          note=args.note)
    except ConfigError as e:
        print(f"urlsom: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for p in write(results, out):
        print(f"wrote {p}")
    v = results["verdicts"]
    print(f"{len(results['figures'])} figures, {sum(v.values())} claims: {v[C.HOLDS]} hold, {v[C.FAILS]} do not, "
          f"{v[C.CANNOT_TELL]} cannot tell")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

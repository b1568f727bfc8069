"""Profiles: one file of parameters for every figure notebook (``quick``, ``paper``, ``tiny`` or your YAML file).

A profile names the runs the figures need and the parameters of each figure notebook. The ``paper``
profile holds the paper's settings and reported numbers, each written once with the section of the paper
it comes from; the other profiles ``extends`` it and write down only what they change, each change with a
``why``. File format (YAML)::

    name: quick
    extends: paper                    # figures and reported numbers come from the parent unless given here
    rung: digits standing in for the paper's data, offline, minutes on a CPU   # one line: what builds a page
    about: one paragraph for the book
    device: auto                      # default device of every notebook
    runs:                             # the trainings the figures share, by role
      cifar10:
        inherit: false                # false: start from urlsom_core.defaults.defaults_for(dataset), not the parent
        stands_in_for: CIFAR-10       # the paper's data this run replaces (null: it is the paper's data)
        data_label: scikit-learn digits (1,797 8x8 images) standing in for CIFAR-10
        data_files: null              # what to put where when the data is missing (one line; urlsom reproduce)
        settings:                     # dotted RunConfig fields: a plain value or {value, paper | why}
          data.dataset: {value: digits, why: CIFAR-10 cannot be downloaded offline}
          model.grid: {value: [20, 20], why: a 30x30 map needs 2.2x the CPU time}
      digits:
        from: cifar10                 # start from the parent's run of that name (not this file's), renamed
    figures:                          # per notebook: which run it uses and its own parameters
      fig04_cifar10_map: {run: cifar10, seeds: {value: [0, 1], paper: "Fig. 4"},
                          heldout_run: {value: cifar10_heldout, why: "a run without the test images"}}
      study_gamma_sigma: {run: digits}
    reported:                         # only in `paper`: numbers the paper reports, per notebook
      fig04_cifar10_map:
        n_images: {value: 60000, paper: "Fig. 4"}

A run's config is: dataclass defaults < ``defaults_for(dataset)`` < the profile's settings (the parent's
first when ``inherit`` is true) < the notebook's parameters (``KNOBS``). Every figure that names the same run
with the same parameters gets the same config, hence the same run in the store (Fig. 4, 5 and 6 share one).

A figure notebook reads its profile through :mod:`urlsom_book.notebook` (``start``), which fills every
parameter left at ``None`` from it, builds and validates the configs and raises the same one-line
:class:`~urlsom_core.config.ConfigError` as the CLI for a bad value (``sigma -1.0: allowed is sigma > 0``).

Example:
    >>> p = load_profile("quick")
    >>> p.runs["cifar10"].config().data.dataset
    'digits'
    >>> load_profile("paper").runs["cifar10"].config().model.grid
    (30, 30)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from urlsom_core.config import ConfigError, RunConfig, read_yaml_mapping
from urlsom_core.defaults import defaults_for

PROFILE_DIR = Path(__file__).with_name("profiles")
TOP_KEYS = ("name", "extends", "rung", "about", "device", "runs", "figures", "reported")
RUN_KEYS = ("inherit", "from", "stands_in_for", "data_label", "data_files", "settings")
SETTING_KEYS = ("value", "paper", "why", "note")

# Notebook parameter -> the RunConfig field it sets. A notebook declares the knobs it exposes; a knob left
# at None takes the profile's value for the notebook's run.
KNOBS = {
    "dataset": "data.dataset",
    "grid": "model.grid",
    "sigma": "model.sigma",
    "filter": "model.filter",
    "student_scale": "model.student_scale",
    "gamma": "train.gamma",
    "epochs": "train.epochs",
    "seed": "train.seed",
}
# List parameters that make a notebook train one run per value (Fig. 4's two seeds, Fig. 7's two sigmas...).
LIST_KNOBS = {"seeds": "seed", "sigmas": "sigma", "student_scales": "student_scale"}
# Parameters every notebook may declare, filled by setup() / reproduce rather than by a profile's figure entry.
COMMON = ("profile", "device", "runs_root", "out_dir")


def repo_root() -> Path:
    """The checkout this package runs from (an editable install), else the current directory."""
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").exists() and (here / "notebooks").is_dir():
        return here
    return Path.cwd()


def default_runs_root() -> Path:
    """``$URLSOM_RUNS`` when set, else ``runs/`` at the repository top."""
    env = os.environ.get("URLSOM_RUNS")
    return Path(env) if env else repo_root() / "runs"


def default_out_dir() -> Path:
    """``$URLSOM_EXECUTED`` when set, else ``executed/`` at the repository top (figure files, records)."""
    env = os.environ.get("URLSOM_EXECUTED")
    return Path(env) if env else repo_root() / "executed"


@dataclass(frozen=True)
class Setting:
    """One value of a profile with where it comes from: ``paper`` (a section) or ``why`` (a change)."""

    value: Any
    paper: str | None = None
    why: str | None = None
    note: str | None = None

    @classmethod
    def parse(cls, raw: Any, where: str) -> Setting:
        if isinstance(raw, dict) and "value" in raw:
            unknown = set(raw) - set(SETTING_KEYS)
            if unknown:
                raise ConfigError(f"{where} keys {sorted(unknown)}: allowed are {', '.join(SETTING_KEYS)}")
            return cls(raw["value"], raw.get("paper"), raw.get("why"), raw.get("note"))
        if isinstance(raw, dict):
            raise ConfigError(f"{where} {raw!r}: allowed is a plain value or a mapping with 'value'")
        return cls(raw)

    @property
    def source(self) -> str:
        return self.why or self.paper or self.note or ""


@dataclass
class RunSpec:
    """A training the figures share, e.g. the CIFAR-10 run of Fig. 4, 5, 6 (by role, in one profile)."""

    name: str
    settings: dict[str, Setting]
    stands_in_for: str | None = None
    data_label: str = ""
    profile: str = ""
    data_files: str | None = None  # what to put where when the run's data is missing (the one-line error)

    def config(self, **dotted: Any) -> RunConfig:
        """The run's RunConfig, with ``section.field`` overrides (e.g. ``**{"model.sigma": 3.0}``)."""
        values = {k: s.value for k, s in self.settings.items()}
        values.update({k: v for k, v in dotted.items() if v is not None})
        merged: dict[str, dict[str, Any]] = {"data": {}, "model": {}, "train": {}}
        for section, vals in defaults_for(str(values.get("data.dataset", "digits"))).items():
            merged[section].update(vals)
        for k, v in values.items():
            section, _, name = k.partition(".")
            if section not in merged or not name:
                raise ConfigError(f"profile {self.profile!r} run {self.name!r} setting {k!r}: "
                                  "allowed are data.*, model.*, train.* fields")
            merged[section][name] = v
        return RunConfig.from_dict(merged)

    def knob(self, name: str) -> Any:
        """The value of a notebook knob (``sigma``, ``grid``...) for this run, as a plain literal."""
        section, _, fld = KNOBS[name].partition(".")
        v = getattr(getattr(self.config(), section), fld)
        return list(v) if isinstance(v, tuple) else v


@dataclass
class Profile:
    """A loaded profile (after ``extends``): runs, figure entries, the paper's reported numbers."""

    name: str
    path: Path
    about: str
    device: str
    rung: str
    runs: dict[str, RunSpec]
    figures: dict[str, dict[str, Setting]]
    reported: dict[str, dict[str, Setting]]
    chain: list[str] = field(default_factory=list)  # this profile, then its parents
    changes: dict[str, dict[str, Setting]] = field(default_factory=dict)  # run -> settings this file changes

    @property
    def spec(self) -> str:
        """How to name this profile again (its name when built in, else its file)."""
        return self.name if self.path.parent == PROFILE_DIR else str(self.path)

    def figure(self, notebook: str) -> dict[str, Setting]:
        return self.figures.get(notebook, {})

    def run_for(self, notebook: str) -> RunSpec | None:
        entry = self.figure(notebook)
        if "run" not in entry:
            return None
        name = entry["run"].value
        if name not in self.runs:
            raise ConfigError(f"profile {self.name!r} figure {notebook!r} run {name!r}: "
                              f"allowed are {', '.join(sorted(self.runs))}")
        return self.runs[name]

    def parameters(self, notebook: str, declared: list[str] | None = None) -> dict[str, Any]:
        """The values ``reproduce`` injects into ``notebook``: the figure entry plus the run's knobs.

        ``declared`` (the notebook's parameter names) limits the knobs to those the notebook has, and
        makes a figure entry naming a parameter the notebook lacks a ConfigError.
        """
        entry = self.figure(notebook)
        out: dict[str, Any] = {"profile": self.spec, "device": self.device}
        run = self.run_for(notebook)
        if run is not None:
            for knob in KNOBS:
                if declared is None or knob in declared:
                    out[knob] = run.knob(knob)
        for k, s in entry.items():
            if k == "run":
                continue
            if declared is not None and k not in declared:
                raise ConfigError(f"profile {self.name!r} figure {notebook!r} parameter {k!r}: the notebook has "
                                  f"no such parameter; allowed are {', '.join(d for d in declared if d not in COMMON)}")
            out[k] = s.value
        if declared is not None:
            out = {k: v for k, v in out.items() if k in declared}
        return out

    def paper_value(self, notebook: str, key: str) -> Setting | None:
        return self.reported.get(notebook, {}).get(key)


def builtin_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def _read_yaml(path: Path) -> dict[str, Any]:
    d = read_yaml_mapping(path, f"profile file {path}", f"a mapping with {', '.join(TOP_KEYS)}")
    unknown = set(d) - set(TOP_KEYS)
    if unknown:
        raise ConfigError(f"profile file {path}: unknown keys {sorted(unknown)}; allowed are {', '.join(TOP_KEYS)}")
    return d


def _find(spec: str, base: Path | None = None) -> Path:
    p = Path(spec)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_absolute() and base is not None and not p.exists():
            p = base / p
        if not p.is_file():
            raise ConfigError(f"profile {spec!r}: file does not exist")
        return p
    builtin = PROFILE_DIR / f"{spec}.yaml"
    if builtin.is_file():
        return builtin
    raise ConfigError(f"profile {spec!r}: allowed are {', '.join(builtin_profiles())} or a YAML file")


def load_profile(spec: str | Profile, _seen: tuple[str, ...] = ()) -> Profile:
    """Load a profile by name (``quick``, ``paper``, ``tiny``) or path, following ``extends``."""
    if isinstance(spec, Profile):
        return spec
    path = _find(str(spec)).resolve()
    if str(path) in _seen:
        raise ConfigError(f"profile {spec!r}: 'extends' loops back to {path.name}")
    d = _read_yaml(path)
    name = str(d.get("name") or path.stem)
    parent = load_profile(str(_find(str(d["extends"]), path.parent)), _seen + (str(path),)) if d.get("extends") else None

    runs: dict[str, RunSpec] = dict(parent.runs) if parent else {}
    changes: dict[str, dict[str, Setting]] = {}
    raw_runs = d.get("runs") or {}
    if not isinstance(raw_runs, dict):
        raise ConfigError(f"profile {name!r} runs: allowed is a mapping of run name -> run")
    for rname, raw in raw_runs.items():
        if not isinstance(raw, dict):
            raise ConfigError(f"profile {name!r} run {rname!r}: allowed is a mapping with {', '.join(RUN_KEYS)}")
        unknown = set(raw) - set(RUN_KEYS)
        if unknown:
            raise ConfigError(f"profile {name!r} run {rname!r} keys {sorted(unknown)}: allowed are {', '.join(RUN_KEYS)}")
        if "from" in raw:  # another run of the parent, under this name
            src = raw["from"]
            if parent is None or src not in parent.runs:
                raise ConfigError(f"profile {name!r} run {rname!r} from {src!r}: allowed are the parent's runs "
                                  f"({', '.join(sorted(parent.runs)) if parent else 'none: no extends'})")
            base: RunSpec | None = parent.runs[src]
        else:
            inherit = bool(raw.get("inherit", True)) and rname in runs
            base = runs[rname] if inherit else None
        own = {k: Setting.parse(v, f"profile {name!r} run {rname!r} setting {k!r}")
               for k, v in (raw.get("settings") or {}).items()}
        settings = {**(base.settings if base else {}), **own}
        runs[rname] = RunSpec(
            rname, settings,
            stands_in_for=raw.get("stands_in_for", base.stands_in_for if base else None),
            data_label=str(raw.get("data_label", base.data_label if base else "")),
            profile=name,
            data_files=raw.get("data_files", base.data_files if base else None),
        )
        changes[rname] = own

    figures: dict[str, dict[str, Setting]] = {k: dict(v) for k, v in (parent.figures if parent else {}).items()}
    for fname, raw in (d.get("figures") or {}).items():
        if not isinstance(raw, dict):
            raise ConfigError(f"profile {name!r} figure {fname!r}: allowed is a mapping of parameters")
        figures.setdefault(fname, {}).update(
            {k: Setting.parse(v, f"profile {name!r} figure {fname!r} parameter {k!r}") for k, v in raw.items()})
    reported = {k: dict(v) for k, v in (parent.reported if parent else {}).items()}
    for fname, raw in (d.get("reported") or {}).items():
        reported.setdefault(fname, {}).update(
            {k: Setting.parse(v, f"profile {name!r} reported {fname!r} {k!r}") for k, v in (raw or {}).items()})

    prof = Profile(
        name=name, path=path, about=str(d.get("about", parent.about if parent else "")).strip(),
        device=str(d.get("device", parent.device if parent else "auto")),
        rung=str(d.get("rung") or (f"a profile of its own, extending {parent.name}" if parent else "a profile of its own")
                 ).strip(),
        runs=runs, figures=figures,
        reported=reported, chain=[name] + (parent.chain if parent else []), changes=changes,
    )
    for r in prof.runs.values():  # every run must build: fail on load, not in the middle of a book
        r.profile = name
        r.config()
    for fname, entry in prof.figures.items():
        prof.run_for(fname)
        held = entry.get("heldout_run")
        if held is not None and held.value is not None and held.value not in prof.runs:
            raise ConfigError(f"profile {name!r} figure {fname!r} heldout_run {held.value!r}: allowed are "
                              f"{', '.join(sorted(prof.runs))}")
    return prof


def paper_profile() -> Profile:
    return load_profile("paper")


def describe(profile: str | Profile) -> str:
    """A Markdown account of a profile: its runs, each setting with its source, and what differs from paper."""
    prof = load_profile(profile)
    paper = paper_profile()
    lines = [f"**{prof.name}**: {prof.about}", ""]
    for rname, run in prof.runs.items():
        cfg = run.config()
        lines.append(f"- run `{rname}` ({run.data_label or cfg.data.dataset}), config key `{cfg.key()}`")
        if prof.name != paper.name and rname in paper.runs:
            diffs = cfg.diff(paper.runs[rname].config())
            for d in diffs:
                s = run.settings.get(d.split(":")[0])
                reason = s.source if s is not None and s.source else "this data's default (urlsom_core.defaults.defaults_for)"
                lines.append(f"  - `{d}`: {reason}")
    return "\n".join(lines)

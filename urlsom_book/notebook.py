"""The figure notebooks' side of a profile: resolve a notebook's parameters, get its runs, report its numbers.

A figure notebook (``notebooks/NAME.py``) has one parameters cell of plain literals and then one call::

    nb = start("fig04_cifar10_map", globals())   # parameters resolved, validated, runs trained or reused
    nb.runs                                       # the runs from the store, one per seed / sigma / scale

:func:`start` reads which names the notebook's parameters cell declares (from its source), takes their values
from the notebook's namespace, fills every ``None`` from the profile (:mod:`urlsom_book.profiles`) and fails
fast with the CLI's one-line :class:`~urlsom_core.config.ConfigError`. ``profile`` left at ``None`` is
``$URLSOM_PROFILE``, else ``quick`` (``URLSOM_PROFILE=tiny make lab`` explores in seconds).
:meth:`FigureSetup.report` glues the numbers for the book's text, writes the record ``urlsom reproduce``
summarises, and returns a table of every number beside the paper's, followed by the paper's own caption.
Run by hand (JupyterLab shows a markdown cell's ``{glue:text}`` roles as they are written), it also
returns the notebook's text with this run's numbers in place of the roles (:func:`prose_markdown`);
``urlsom reproduce`` sets ``$URLSOM_BOOK``, and there the book's pages put the numbers in the text itself.

Example:
    >>> fs = setup("fig03_loss_landscape", "tiny", n_neurons=None, x_max=None)
    >>> fs.params["n_neurons"], fs.runs
    (2, [])
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from urlsom_core.config import ConfigError, RunConfig

from .captions import paper_caption
from .profiles import (
    COMMON,
    KNOBS,
    LIST_KNOBS,
    Profile,
    RunSpec,
    Setting,
    default_out_dir,
    default_runs_root,
    load_profile,
    paper_profile,
    repo_root,
)

DEFAULT_PROFILE = "quick"
# Readable names of the numbers a figure page reports (``FigureSetup.report`` rows that ``compare`` does not
# name); a key missing here is shown as written, in code type.
LABELS = {
    "ns": "NS", "ns_seed2": "NS, second seed", "heldout_ns": "held-out NS (a run without the test images)",
    "live": "live neurons (won an image)", "live_seed2": "live neurons, second seed", "dead": "dead neurons",
    "n_neurons": "neurons", "n_images": "images", "epochs": "epochs trained",
    "epochs_sigma10": "epochs trained, second sigma", "train_s": "training time (s)", "stop": "why training stopped",
    "first_loss": "loss, first epoch", "final_loss": "loss, last epoch", "ns_per_neuron": "NS averaged over live neurons",
    "window_live": "live neurons in the zoomed window", "window_cells": "neurons in the zoomed window",
    "ns_sigma3": "NS, first sigma", "ns_sigma10": "NS, second sigma", "live_sigma3": "live neurons, first sigma",
    "live_sigma10": "live neurons, second sigma", "contiguity": "contiguity (same-label grid neighbours)",
    "contiguity_sigma3": "contiguity, first sigma", "contiguity_sigma10": "contiguity, second sigma",
    "sigma": "sigma", "sigma_lo": "first sigma", "sigma_hi": "second sigma", "live_reading": "the wider filter left",
    "contrast_ns": "NS by contrast (light or dark ground)", "contrast_chance": "contrast NS of a map blind to contrast",
    "light_share": "share of dark figures on a light ground", "ns_scale1": "NS, first scale",
    "ns_scale18": "NS, second scale", "live_scale1": "live neurons, first scale", "live_scale18": "live neurons, second scale",
    "scale_lo": "first t-student scale s", "scale_hi": "second t-student scale s", "ns_best": "NS, the better scale",
    "total_params": "trainable parameters (the paper's network)", "projection_params": "of which the projection",
    "paper_grid": "the paper's map", "kernel_side": "side of the fixed filter (neurons)",
    "build_total_params": "trainable parameters (this build's network)",
    "build_projection_params": "of which the projection (this build)", "min_x": "Softmax input at the minimum",
    "min_p": "selection probability at the minimum", "min_loss": "loss at the minimum", "x_max": "largest Softmax input",
    "x": "Softmax input x", "p1": "p, first coordinate", "p2": "p, second coordinate", "p_norm": "length of p",
    "P_norm": "length of P (normalised p)", "U1": "U, first coordinate", "U2": "U, second coordinate",
    "cos_PU": "cosine of P with U", "cos_min": "cosine with U at a winner-take-all corner",
    "line_sum_max_error": "largest error of p1 + p2 = 1 along the line",
    "best_ns": "best NS", "best_batch": "batch size of the best NS", "best_gamma": "gamma of the best NS",
    "best_sigma": "sigma of the best NS", "n_runs": "maps trained", "results_found": "results files found",
    "lr_steps": "learning-rate steps (epochs)",
    "ridge_ratio": "U-matrix ridge ratio (between classes / within)", "ridge_null": "ridge ratio, classes shuffled",
    "ridge_p": "ridge ratio, p (shuffles at least as high)", "best_setting": "setting of the best NS",
    "cpu_gap": "logit gap of the CIFAR-10 config's kernel (sigma 2)",
    "cpu_gap_ratio_sigma5": "the same gap, times smaller at sigma 5", "reading": "reading",
}
BOOK_ENV = "URLSOM_BOOK"  # set by ``urlsom reproduce``: the book renders the glue roles, report() need not
GLUE_ROLE = re.compile(r"\{glue(?::(?P<kind>[a-z]*))?\}`(?P<ref>[^`]+)`")


@dataclass
class FigureSetup:
    """What a figure notebook works with once its parameters are resolved (see :func:`start`)."""

    notebook: str
    profile: Profile
    run: RunSpec | None
    params: dict[str, Any]
    device: str
    runs_root: Path
    out_dir: Path
    started: float = field(default_factory=time.time)
    runs: list[Any] = field(default_factory=list)  # filled by :meth:`get_runs` (start(..., train=True))
    root: Path | None = None  # the repository top holding notebooks/ (None: the checkout this package runs from)
    heldout: Any = None  # the held-out run (``heldout_run``), filled by :meth:`get_runs` where the profile names one

    def config(self, **knobs: Any) -> RunConfig:
        """The run's config with this notebook's knobs, and ``knobs`` (e.g. ``sigma=3.0``) on top."""
        if self.run is None:
            raise ConfigError(f"figure {self.notebook!r}: the profile names no run for it")
        vals = {KNOBS[k]: v for k, v in self.params.items() if k in KNOBS}
        for k, v in knobs.items():
            if k not in KNOBS:
                raise ConfigError(f"knob {k!r}: allowed are {', '.join(KNOBS)}")
            vals[KNOBS[k]] = v
        return self.run.config(**vals)

    def figure_configs(self) -> list[RunConfig]:
        """The configs of the figure's maps: one per value of its list parameter (``seeds``, ``sigmas``,
        ``student_scales``), else its one config; none when it trains nothing."""
        if self.run is None:
            return []
        for plist, knob in LIST_KNOBS.items():
            values = self.params.get(plist)
            if values is not None:
                if not isinstance(values, (list, tuple)) or not values:
                    raise ConfigError(f"{plist} {values!r}: allowed is a non-empty list")
                return [self.config(**{knob: v}) for v in values]
        return [self.config()]

    def heldout_config(self) -> RunConfig | None:
        """The config of the profile's held-out run for this figure (the figure entry ``heldout_run``: a run of
        the profile trained without the images it is scored on), with this notebook's knobs but its data, and
        the first value of its list parameter (Fig. 4: the first seed). None when the profile names none, or
        when the notebook's data is not the profile's (the held-out run would be of other data)."""
        name = self.params.get("heldout_run")
        if not name or self.run is None:
            return None
        if name not in self.profile.runs:
            raise ConfigError(f"heldout_run {name!r}: allowed are the runs of profile {self.profile.name!r} "
                              f"({', '.join(sorted(self.profile.runs))})")
        if self.params.get("dataset") not in (None, self.run.knob("dataset")):
            return None
        vals = {KNOBS[k]: v for k, v in self.params.items() if k in KNOBS and k != "dataset"}
        for plist, knob in LIST_KNOBS.items():
            values = self.params.get(plist)
            if isinstance(values, (list, tuple)) and values:
                vals[KNOBS[knob]] = values[0]
        return self.profile.runs[name].config(**vals)

    def configs(self) -> list[RunConfig]:
        """Every config this notebook trains or reuses: :meth:`figure_configs`, then :meth:`heldout_config`
        where there is one."""
        held = self.heldout_config()
        return self.figure_configs() + ([held] if held is not None else [])

    def get_runs(self, quiet: bool = False) -> list[Any]:
        """Train or reuse (``urlsom_core.runs.get_or_train``) every config of :meth:`configs`; one line each.

        The training's own messages (why a run trains or resumes, the measured epoch time and expected end,
        warnings) go to stderr, as the ``urlsom`` command's do: JupyterLab shows them while the cell runs, and
        the book leaves them out of its pages (``nb_output_stderr`` in ``_config.yml``), where a build's
        clock times would mean nothing to a reader. The line printed per run says whether it was trained.
        """
        from urlsom_core.runs import get_or_train

        n = len(self.figure_configs())
        got = [get_or_train(cfg, root=self.runs_root, device=self.device, progress=False, log=stderr_log)
               for cfg in self.configs()]
        self.runs, self.heldout = got[:n], (got[n] if len(got) > n else None)
        for r in got if not quiet else []:
            what = " (held out)" if r is self.heldout else ""
            print(f"run {r.path.name}{what}: {'reused from the store' if r.cache_hit else 'trained now'}")
        return self.runs

    @property
    def stand_in(self) -> bool:
        return bool(self.run and self.run.stands_in_for)

    @property
    def data_note(self) -> str:
        """One plain line saying which data this figure shows (and what it stands in for)."""
        if self.run is None:
            return "no data: computed from the loss functions alone"
        label = self.run.data_label or self.config().data.dataset
        return f"{label} (profile '{self.profile.name}')"

    @property
    def method_note(self) -> str:
        """One sentence when this figure's runs fit a readout after training (a usage-balancing bias or a
        prototype readout, not the paper's method): the maps drawn and the numbers quoted are still the
        network's own winners, the paper's map, and the read-out figures stand in one sentence beside them
        (:func:`readout_note`); '' when no run fits one."""
        cfgs = self.figure_configs()
        kinds = [name for flag, name in (("usage_balance", "a usage-balancing bias"),
                                         ("prototype_readout", "a prototype readout"))
                 if any(getattr(c.model, flag) for c in cfgs)]
        if not kinds:
            return ""
        return (f"**The paper's map, with a readout beside it**: the maps drawn and the numbers quoted are the "
                f"network's own winners (the paper's method); this profile also fits {' and '.join(kinds)} after "
                "training (not the paper's method), whose figures are given in one sentence beside them.")

    @property
    def page_note(self) -> str:
        """The first lines of a page: which profile (rung of the ladder) built it, and :attr:`method_note`."""
        note = f"Built by the profile `{self.profile.name}`: {self.profile.rung}."
        return f"{note} {self.method_note}" if self.method_note else note

    def map_inputs(self, run: Any) -> tuple[Any, Any]:
        """(images (N, C, S, S) uint8, picks (n,)) of ``run``'s training images for its mosaic: each neuron's
        most typical image (:func:`urlsom_book.viz.typical_images`, the image nearest the mean embedding of
        the images it wins under the run's winners, ``assignments()["winner"]``), from the backbone embedding
        of every training image (``Run.predict(..., embed=True)``)."""
        from . import viz

        data = run.splits().train
        a = run.assignments()
        if len(data) != len(a["winner"]):
            raise ConfigError(f"run {run.path}: its data has {len(data):,} images, its assignments "
                              f"{len(a['winner']):,}; allowed is the data the run was trained on")
        emb = run.predict(data, device=self.device, embed=True)["embedding"]  # (N, d)
        return data.images.numpy(), viz.typical_images(a["winner"], emb, run.config.model.n_neurons)

    def map_figure(self, runs: Sequence[Any] | None = None, names: Sequence[str] | None = None,
                   window: tuple[int, int, int, int] | None = None, jitter: float = 0.4) -> Any:
        """One row per run (default: this figure's runs): its class map and, beside it, the paper's scatter
        (:func:`urlsom_book.viz.map_row`), each row headed by ``names`` and the run's NS and live neurons; a
        bare matplotlib Figure (show it with :meth:`show`). The mosaics: :meth:`mosaic_figure`."""
        from matplotlib.figure import Figure

        from . import viz

        runs = list(self.runs if runs is None else runs)
        names = list(names) if names is not None else [""] * len(runs)
        fig = Figure(figsize=(12.6, 7.0 * len(runs)), layout="constrained")
        axes = fig.subplots(len(runs), 2, squeeze=False)
        for row, run, name in zip(axes, runs, names, strict=True):
            a, m = run.assignments(), run.metrics
            head = f"{name}: " if name else ""
            viz.map_row(row, a["winner"], a["label"], run.config.model.grid, classes=run.resolved["classes"],
                        window=window, torus=viz.is_torus(run.config.model), jitter=jitter,
                        lattice=viz.lattice_of(run.config.model), name=f"{head}NS {m['neural_selectivity']:.3f}, {m['active_neurons']} of {m['n_neurons']} "
                             "neurons live")
        return fig

    def mosaic_figure(self, run: Any, name: str = "", window: tuple[int, int, int, int] | None = None) -> Any:
        """``run``'s image mosaic (:func:`urlsom_book.viz.mosaic` of :meth:`map_inputs`), a figure of its own
        sized so that a 30x30 map's 32-pixel thumbnails keep about their own size; ``name`` heads it."""
        from matplotlib.figure import Figure

        from . import viz

        images, picks = self.map_inputs(run)
        fig = Figure(figsize=(7.8, 8.2), layout="constrained")
        viz.mosaic(images, picks, run.config.model.grid, ax=fig.add_subplot(), window=window,
                   torus=viz.is_torus(run.config.model), lattice=viz.lattice_of(run.config.model),
                   title=(f"{name}: " if name else "") + "each neuron's most typical image (nearest the mean "
                                                          "embedding of the images it won)")
        return fig

    def stored_runs(self, notebook: str) -> list[Any] | None:
        """The runs of another figure of this profile (``notebook`` with the profile's parameters), read from
        the store only when every one is complete there, and only when they are of this figure's data and map
        size; else None. Nothing is trained: the other figure's page trains its runs, and with ``urlsom
        reproduce --jobs 2`` it may still be training them when this page runs."""
        from urlsom_core.runs import Run, incomplete_reason, run_dir

        params = {k: v for k, v in self.profile.parameters(notebook).items() if k not in COMMON}
        other = FigureSetup(notebook, self.profile, self.profile.run_for(notebook), params, self.device,
                            self.runs_root, self.out_dir)
        cfgs, mine = other.figure_configs(), self.figure_configs()
        if not cfgs or not mine or any(c.data != mine[0].data or c.model.grid != mine[0].model.grid for c in cfgs):
            return None
        paths = [run_dir(c, self.runs_root) for c in cfgs]
        if any(incomplete_reason(p, c) is not None for p, c in zip(paths, cfgs, strict=True)):
            return None
        return [Run.load(p, cache_hit=True) for p in paths]

    def seed_spread(self) -> tuple[float | None, str]:
        """(spread, sentence): the NS difference of Fig. 4's two seeds (:func:`urlsom_book.claims.seed_spread` of
        :meth:`stored_runs`), the spread an NS difference between two settings must exceed; None when Fig. 4's
        runs are not in the store, and the sentence says which."""
        from .claims import seed_spread

        runs = self.stored_runs("fig04_cifar10_map")
        if runs is None or len(runs) < 2:
            return None, ("Fig. 4's two seeds were not in the run store when this page ran, so no seed-to-seed "
                          "spread is known here: any NS difference decides.")
        spread = seed_spread(runs)
        return spread, (f"The seed-to-seed spread is Fig. 4's: its two seeds, one setting trained twice, differ "
                        f"by {spread:.3f} in NS; an NS difference within it cannot tell.")

    def readout_note(self, labels: Sequence[str], runs: Sequence[Any] | None = None) -> str:
        """:func:`readout_note` of ``runs`` (default: this figure's runs), one label each."""
        return readout_note(self.runs if runs is None else runs, labels)

    def title(self, text: str) -> str:
        """A figure title that says which data stood in for the paper's."""
        if self.stand_in:
            return f"{text}\n[{self.run.data_label}]"  # type: ignore[union-attr]
        return text

    def save(self, fig: Any, suffix: str = "") -> Path:
        """Write ``fig`` as PNG under ``out_dir/figures`` (the figure files of ``reproduce``)."""
        d = self.out_dir / "figures"
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"{self.notebook}{suffix}.png"
        fig.savefig(path, dpi=130, bbox_inches="tight")
        return path

    def show(self, fig: Any, suffix: str = "") -> Any:
        """:meth:`save` ``fig`` and return its PNG as an IPython image, the cell's output: the studies draw
        on a bare ``matplotlib.figure.Figure`` (no pyplot), which a notebook would otherwise print as text."""
        from IPython.display import Image

        return Image(data=self.save(fig, suffix).read_bytes(), format="png")

    def paper(self, key: str) -> Setting | None:
        return paper_profile().paper_value(self.notebook, key)

    def report(self, numbers: dict[str, Any], runs: list[Any] = (), compare: dict[str, str] | None = None) -> Any:
        """Glue ``numbers`` (and the paper's, as ``paper_<key>``) for the book, write the record that
        ``reproduce`` summarises, and return Markdown: a table of quantity, the paper, this run (the
        ``compare`` keys first, under their labels, then every other number under its key, so that a notebook
        run by hand shows the numbers its text cites), then the paper's own caption of the figure. Unless
        ``$URLSOM_BOOK`` is set (``urlsom reproduce``), the notebook's markdown that cites glued numbers
        follows the table with the numbers in place (:func:`prose_markdown`): run by hand, the markdown cells
        themselves show only the roles.

        Numbers without a paper value show 'not reported' (or 'not transcribed' where the paper has one that
        has not been copied into the ``paper`` profile)."""
        rows = []
        glued: dict[str, Any] = dict(numbers)
        # every number the paper reports for this notebook gets a row (the book's results page cites them),
        # labelled by ``compare`` where the notebook names it, else by its key
        labels = dict(compare or {})
        labels.update({k: LABELS.get(k, k) for k in paper_profile().reported.get(self.notebook, {}) if k not in labels})
        for key, label in labels.items():
            ref = self.paper(key)
            paper_txt = fmt_paper(ref.value) if ref is not None and ref.value is not None else (
                "not transcribed" if ref is not None else "not reported")
            if ref is not None and ref.paper:
                paper_txt += f" ({ref.paper})"
            glued[f"paper_{key}"] = paper_txt
            rows.append((label, paper_txt, fmt(numbers.get(key))))
        rows += [(LABELS.get(k, f"`{k}`"), "", fmt(v)) for k, v in numbers.items()  # texts for the prose stay out
                 if k not in labels and not k.endswith("_note") and not (isinstance(v, str) and len(v) > 60)]
        run_info = [{"key": r.config.key(), "path": str(Path(r.path).resolve()), "cache_hit": bool(r.cache_hit),
                     "train_seconds": r.metrics.get("train_seconds"), "epochs": r.metrics.get("epochs_trained"),
                     "stop_reason": r.metrics.get("stop_reason")} for r in (runs or self.runs)]
        glued["data_note"] = self.data_note
        glued["page_note"] = self.page_note
        glued["profile_name"] = self.profile.name
        glued["wall"] = round(time.time() - self.started, 1)
        _glue_all(glued)
        from urlsom_core.files import provenance, write_json

        rec_dir = self.out_dir / "records"
        rec_dir.mkdir(parents=True, exist_ok=True)
        write_json(rec_dir / f"{self.notebook}.json", {
            "notebook": self.notebook, "profile": self.profile.spec, "params": self.params,
            "numbers": dict(glued), "runs": run_info,
            "provenance": provenance(self.device, self.params.get("seed")),
        })
        prose = "" if os.environ.get(BOOK_ENV) else prose_markdown(self.notebook, glued, self.out_dir, self.root)
        parts = [table_markdown(rows), prose, caption_markdown(self.notebook)]
        return _markdown("\n\n".join(p for p in parts if p))


def stderr_log(line: str) -> None:
    """A training's messages (why a run trains or resumes, the epoch-time line, warnings) to stderr: the
    ``urlsom`` command's log, and the notebooks', whose stderr the book leaves out of its pages."""
    print(line, file=sys.stderr, flush=True)


def readout_note(runs: Sequence[Any], labels: Sequence[str]) -> str:
    """One sentence with each run's NS and live neurons as its readout fitted after training gives them (the
    ``readout`` section of metrics.json: a usage-balancing bias and/or a prototype readout, not the paper's
    method), or ``""`` when no run fitted one. The page's figures and numbers are the network's own winners,
    the paper's map; this sentence puts the read-out map's beside them.

    Example:
        >>> class R:
        ...     metrics = {"neural_selectivity": 0.9331, "active_neurons": 584,
        ...                "readout": {"usage_balance": True, "neural_selectivity": 0.957, "active_neurons": 898}}
        >>> readout_note([R()], ["seed 0"])
        "Read out with a usage-balancing bias fitted after training (not the paper's method), the same maps give: seed 0 NS 0.957 with 898 live neurons."
    """
    if len(runs) != len(labels):
        raise ValueError(f"{len(labels)} labels for {len(runs)} runs: allowed is one label per run")
    reads = [r.metrics.get("readout") for r in runs]
    if not any(reads):
        return ""
    kinds = {k for r in reads if r for k, name in (("usage_balance", "a usage-balancing bias"),
                                                   ("prototype_readout", "a prototype readout")) if r.get(k)}
    what = " and ".join(name for k, name in (("usage_balance", "a usage-balancing bias"),
                                             ("prototype_readout", "a prototype readout")) if k in kinds)
    parts = []
    for read, label in zip(reads, labels, strict=True):
        if not read:
            continue
        live = read["active_neurons"]
        parts.append(f"{label} NS {read['neural_selectivity']:.3f} with {live} live neuron{'' if live == 1 else 's'}")
    return (f"Read out with {what} fitted after training (not the paper's method), the same maps give: "
            + "; ".join(parts) + ".")


def fmt_paper(v: Any) -> str:
    """A number of the paper as printed there (0.7058, not rounded to 0.706)."""
    return f"{v:g}" if isinstance(v, float) else fmt(v)


def fmt(v: Any) -> str:
    """A number as the book prints it: 3 decimals below 100, thousands separators for integers; '-' for none
    (None, NaN)."""
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    if isinstance(v, (list, tuple)):
        return " x ".join(str(x) for x in v) if all(isinstance(x, int) for x in v) else ", ".join(map(str, v))
    return str(v)


def table_markdown(rows: list[tuple[str, str, str]]) -> str:
    """A GitHub/MyST pipe table "quantity | the paper | this run" ('' when there are no rows)."""
    if not rows:
        return ""
    cell = (lambda s: str(s).replace("|", "\\|").replace("\n", " "))  # noqa: E731
    lines = ["| quantity | the paper | this run |", "| --- | --- | --- |"]
    lines += [f"| {cell(a)} | {cell(b)} | {cell(c)} |" for a, b, c in rows]
    return "\n".join(lines)


def markdown_cells(notebook: str, root: Path | None = None) -> list[str]:
    """The markdown cells of ``notebooks/NOTEBOOK.py`` (jupytext percent format), their ``# `` taken off."""
    src = (root or repo_root()) / "notebooks" / f"{notebook}.py"
    cells: list[list[str]] = []
    current: list[str] | None = None
    for line in src.read_text().splitlines():
        if line.startswith("# %%"):
            current = [] if "[markdown]" in line else None
            if current is not None:
                cells.append(current)
        elif current is not None:
            current.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
    return ["\n".join(c).strip() for c in cells if "".join(c).strip()]


def fill_glue(text: str, values: Mapping[str, Any], others: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """``text`` with each ``{glue:text}`key:spec``` role replaced by ``format(values[key], spec)`` (no spec:
    :func:`fmt`), ``{glue:md}`key``` by the text itself; ``path/NAME.ipynb::key`` takes ``key`` from
    ``others[NAME]``. A role whose key has no value stays as written.

    Examples
    --------
    >>> fill_glue("NS {glue:text}`ns:.2f` of {glue:text}`n`, {glue:text}`x`", {"ns": 0.7012, "n": 1600})
    'NS 0.70 of 1,600, {glue:text}`x`'
    """
    def one(m: re.Match[str]) -> str:
        ref = m.group("ref")
        table: Mapping[str, Any] = values
        if "::" in ref:
            page, ref = ref.split("::", 1)
            table = (others or {}).get(Path(page).stem, {})
        key, _, spec = ref.partition(":")
        if key not in table:
            return m.group(0)
        v = table[key]
        if isinstance(v, GluedText):
            v = v.text
        if not spec or isinstance(v, str):
            return fmt(v)
        try:
            return format(v, spec)
        except (TypeError, ValueError):
            return fmt(v)

    return GLUE_ROLE.sub(one, text)


def prose_markdown(notebook: str, values: Mapping[str, Any], out_dir: str | Path | None = None,
                   root: Path | None = None) -> str:
    """The paragraphs of ``notebook``'s markdown cells that cite glued numbers, each quoted with the numbers
    in place (:func:`fill_glue`; another page's numbers from the records under ``out_dir``), under one line
    saying what they are; '' when none cites one."""
    cells = [para for c in markdown_cells(notebook, root) for para in re.split(r"\n\s*\n", c)
             if GLUE_ROLE.search(para)]
    if not cells:
        return ""
    others = {k: r.get("numbers", {}) for k, r in records(out_dir).items()} if out_dir is not None else {}
    quoted = ["\n".join("> " + line if line else ">" for line in fill_glue(c, values, others).splitlines())
              for c in cells]
    return ("**This notebook's text with this run's numbers** (its markdown cells show only the placeholders "
            "outside the book):\n\n" + "\n\n".join(quoted))


def caption_markdown(notebook: str) -> str:
    """The paper's own caption of the figure ``notebook`` redraws, as a quoted, labelled paragraph."""
    cap = paper_caption(notebook)
    if cap is None:
        return ""
    number, text = cap
    return f"> **The paper's caption of Fig. {number}** (quoted from the paper): {text}"


def _markdown(text: str) -> Any:
    from IPython.display import Markdown

    return Markdown(text)


def _glue_all(values: dict[str, Any]) -> None:
    try:
        from myst_nb import glue
    except ImportError:  # pragma: no cover - the book extra is not installed: the record still has them
        return
    for k, v in values.items():
        glue(k, GluedText(v) if isinstance(v, str) else v, display=False)


class GluedText:
    """A string glued for the book: ``{glue:md}`key``` renders it as Markdown, ``{glue:text}`key``` as text
    (``{glue:text}`path.ipynb::key:s``` from another page; myst-nb unquotes the repr)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return repr(self.text)

    def _repr_markdown_(self) -> str:
        return self.text


def declared_parameters(notebook: str, root: Path | None = None) -> list[str]:
    """The names the ``parameters`` cell of ``notebooks/NOTEBOOK.py`` assigns, in order.

    Raises ConfigError when the source or its parameters cell is missing."""
    src = (root or repo_root()) / "notebooks" / f"{notebook}.py"
    if not src.is_file():
        raise ConfigError(f"notebook {notebook!r}: no source {src}; allowed are the notebooks in notebooks/")
    cells = src.read_text().split("\n# %%")
    for cell in cells:
        head, _, body = cell.partition("\n")
        if "parameters" in head and "tags=" in head:
            names = []
            for node in ast.parse(body).body:
                if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                    names.append(node.target.id)
                elif isinstance(node, ast.Assign):
                    names += [t.id for t in node.targets if isinstance(t, ast.Name)]
            return names
    raise ConfigError(f"notebook {notebook!r}: {src} has no cell tagged parameters")


def start(notebook: str, namespace: Mapping[str, Any], train: bool = True, root: Path | None = None) -> FigureSetup:
    """The one call after a figure notebook's parameters: resolve them, validate, get the runs.

    Parameters
    ----------
    notebook : str
        The notebook's name (``fig04_cifar10_map``), as in ``_toc.yml`` and the profiles.
    namespace : mapping
        Where the parameters cell's values live: the notebook's ``globals()`` (after papermill's injected
        cell, when there is one). Only the names the parameters cell declares are read.
    train : bool
        Train or reuse the runs now (:meth:`FigureSetup.get_runs`, one printed line each).
    root : Path, optional
        Repository top holding ``notebooks/``; default the checkout this package runs from.

    Returns
    -------
    FigureSetup
        With ``params`` resolved and, when ``train``, ``runs`` filled.
    """
    names = declared_parameters(notebook, root)
    values = {k: namespace.get(k) for k in names}
    common = {k: values.pop(k, None) for k in COMMON}
    fs = setup(notebook, common["profile"], common["device"], common["runs_root"], common["out_dir"], **values)
    fs.root = root
    if train and fs.run is not None:
        fs.get_runs()
    return fs


def setup(notebook: str, profile: str | None = None, device: str | None = None, runs_root: str | None = None,
          out_dir: str | None = None, **params: Any) -> FigureSetup:
    """Resolve a figure notebook's parameters against its profile, validate, and fail fast (trains nothing).

    Every parameter left at ``None`` takes the profile's value (the figure entry, else the run's knob);
    ``profile`` None is ``$URLSOM_PROFILE``, else ``quick``. Raises :class:`ConfigError` with the CLI's
    one-line message for a bad value.
    """
    prof = load_profile(profile or os.environ.get("URLSOM_PROFILE") or DEFAULT_PROFILE)
    run = prof.run_for(notebook)
    defaults = prof.parameters(notebook, declared=None)
    resolved = {k: (defaults.get(k) if v is None else v) for k, v in params.items()}
    fs = FigureSetup(
        notebook=notebook, profile=prof, run=run, params=resolved,
        device=device or prof.device,
        runs_root=Path(runs_root) if runs_root else default_runs_root(),
        out_dir=Path(out_dir) if out_dir else default_out_dir(),
    )
    from urlsom_core.distributed import pick_device

    pick_device(fs.device)  # a device that is not there: the CLI's message
    from urlsom_core.data import check_spec

    for cfg in fs.configs():  # validates every knob (sigma -1, an unknown dataset...) before any work
        check_spec(cfg.data.dataset, cfg.data.data_root)
    threads = os.environ.get("URLSOM_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    return fs


def records(out_dir: str | Path) -> dict[str, dict[str, Any]]:
    """The numbers records written by each notebook's ``report`` under ``out_dir/records``."""
    d = Path(out_dir) / "records"
    out = {}
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        try:
            out[p.stem] = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
    return out

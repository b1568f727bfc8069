"""The run store: a run is keyed by its full config, trained once, resumed when interrupted, and reused.

A run directory holds::

    config.json      the config, its key and what was resolved from the data (input size, flips, sizes)
    manifest.json    status ("running" until the very end, then "complete"; "interrupted" or "failed" with a
                     ``reason`` when a signal or an error stopped it), provenance, file hashes, and with
                     ``data.skip_bad_images`` the image files left out (``skipped_bad_images``)
    history.jsonl    one row per epoch (loss terms, learning rate, monitor NS, seconds)
    checkpoint.pt    resumable state (model, optimizer, RNG states); checkpoint.prev.pt the one before
    metrics.json     neural selectivity and the map metrics, with provenance
    assignments.npz  ``winner`` and ``label`` per training sample (and ``heldout_*`` when scored)

Every file is written atomically. A directory whose manifest is not "complete", whose config differs, or
whose files do not match their recorded hashes is never a cache hit; ``get_or_train`` says why it trains.
One process writes a run at a time (``.lock``); a killed one leaves at most temporary files, removed by the
next writer, and rerunning the same command resumes from the last checkpoint.

Example:
    >>> from urlsom_core.config import RunConfig
    >>> cfg = RunConfig.from_dict({"model": {"grid": [5, 5], "widths": [8], "blocks": 1}, "train": {"epochs": 1}})
    >>> run = get_or_train(cfg, root="/tmp/urlsom-doctest-runs", progress=False, log=lambda s: None)
    >>> sorted(run.metrics)[:2]
    ['active_neurons', 'ari']
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .augment import Augment
from .balance import fit_usage_bias
from .config import ConfigError, RunConfig
from .data import ImageData, Splits, check_spec, load_dataset, resolve
from .files import (
    DirLock,
    RunFileError,
    atomic_write,
    provenance,
    read_json,
    read_jsonl,
    remove_stale_temporaries,
    write_json,
    write_jsonl,
)
from .metrics import (
    heldout_neural_selectivity,
    heldout_on_dead,
    map_metrics,
    neural_selectivity,
    topographic_error,
    usage_metrics,
)
from .model import URLSOM
from .readout import fit_readout_prototypes
from .train import CheckpointError, Trainer, TrainingDiverged, TrainingInterrupted, make_augment, pick_device, predict

RESULT_FILES = ("config.json", "history.jsonl", "checkpoint.pt", "metrics.json", "assignments.npz")


class RunMismatch(ConfigError):
    """The directory holds a run of another config."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Run:
    """A finished run, loaded from its directory."""

    path: Path
    config: RunConfig
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    manifest: dict[str, Any]
    resolved: dict[str, Any]
    cache_hit: bool = False
    _splits: Splits | None = field(default=None, repr=False)

    @classmethod
    def load(cls, path: str | Path, cache_hit: bool = False) -> Run:
        path = Path(path)
        why = incomplete_reason(path)
        if why:
            raise ConfigError(f"run {path}: not a complete run ({why})")
        c = read_json(path / "config.json")
        return cls(path, RunConfig.from_dict(c["config"]), read_json(path / "metrics.json"),
                   read_jsonl(path / "history.jsonl"), read_json(path / "manifest.json"), c["resolved"], cache_hit)

    def assignments(self) -> dict[str, np.ndarray]:
        with np.load(self.path / "assignments.npz") as z:
            return {k: z[k] for k in z.files}

    def splits(self) -> Splits:
        """The run's data, loaded again (same config, same images)."""
        if self._splits is None:
            self._splits = resolve(self.config.data)
        return self._splits

    def heldout_splits(self) -> Splits:
        """:meth:`splits`, or a one-line ConfigError when the run has no held-out split to score."""
        sp = self.splits()
        if sp.heldout is None:
            raise ConfigError(f"run {self.path}: has no held-out split (allowed: runs trained with --holdout or "
                              "--eval-dataset)")
        return sp

    def load_model(self, device: str = "cpu") -> URLSOM:
        dev = pick_device(device)
        ck = torch.load(self.path / "checkpoint.pt", map_location=dev, weights_only=True)
        model = URLSOM(self.config.model, in_channels=int(self.resolved["channels"])).to(dev)
        model.load_state_dict(ck["model"])
        return model.eval()

    def predict(self, data: ImageData, device: str = "cpu", embed: bool = False) -> dict[str, np.ndarray]:
        """Winners (and optionally embeddings) of this run's map on ``data``."""
        dev = pick_device(device)
        aug = make_augment(self.config, self.splits())
        return predict(self.load_model(device), data, aug, dev, embed=embed)


def network_figures(metrics: dict[str, Any]) -> dict[str, Any]:
    """A run's figures with the network's own winners, the paper's map (the argmax of Eq. 3's Softmax): the
    ``before`` of ``usage_balance`` when a bias was fitted after training (``model.usage_balance``), else that
    of ``prototype_readout``, else ``metrics`` itself. Keys as in metrics.json (NS, live neurons, TE ...).

    Example:
        >>> network_figures({"active_neurons": 880, "usage_balance": {"before": {"active_neurons": 580}}})
        {'active_neurons': 580}
        >>> network_figures({"active_neurons": 580})
        {'active_neurons': 580}
    """
    for key in ("usage_balance", "prototype_readout"):
        before = (metrics.get(key) or {}).get("before")
        if before:
            return before
    return metrics


def network_winners(assignments: Mapping[str, np.ndarray]) -> np.ndarray:
    """The network's own winners of the training images in a run's assignments (the paper's map, the winners
    :func:`network_figures` scores): ``network_winner`` when a bias or a readout was fitted after training,
    else ``winner``."""
    return assignments["network_winner"] if "network_winner" in assignments else assignments["winner"]


def incomplete_reason(path: Path, cfg: RunConfig | None = None) -> str | None:
    """Why ``path`` is not a usable complete run of ``cfg`` (None when it is): no manifest, another
    config, a status other than "complete" (with the recorded reason), or a file missing or not matching
    the hash recorded when the run completed."""
    path = Path(path)
    m = path / "manifest.json"
    if not m.exists():
        return "no manifest.json (the run never started)"
    try:
        man = read_json(m)
        conf = read_json(path / "config.json")
    except (OSError, ValueError) as e:
        return f"unreadable run files ({e})"
    if cfg is not None:
        try:
            old = RunConfig.from_dict(conf["config"])
        except (KeyError, TypeError, ValueError) as e:
            return f"config.json does not hold a valid config ({e})"
        if old != cfg:
            return "config differs: " + "; ".join(cfg.diff(old))
        if man.get("key") != cfg.key():
            return f"manifest.json is of config key {man.get('key')!r}, not {cfg.key()!r}"
    status = man.get("status")
    if status != "complete":
        reason = man.get("reason") or ("the process was killed, or is still running" if status == "running" else "")
        return f"status is {status!r}, not 'complete'" + (f" ({reason})" if reason else "")
    files = man.get("files", {})
    unlisted = [name for name in RESULT_FILES if name not in files]
    if unlisted:
        return f"manifest.json records no hash for {', '.join(unlisted)}"
    for name, digest in files.items():
        f = path / name
        if not f.exists():
            return f"{name} is missing"
        if _sha256(f) != digest:
            return f"{name} does not match its recorded hash"
    return None


def check_inputs(cfg: RunConfig, device: str) -> torch.device:
    """Everything that can be checked before a file is written: data specs, paths, device."""
    check_spec(cfg.data.dataset, cfg.data.data_root)
    if cfg.data.eval_dataset:
        check_spec(cfg.data.eval_dataset, cfg.data.data_root)
    return pick_device(device)


def evaluate(run_cfg: RunConfig, model: URLSOM, splits: Splits, device: torch.device) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Metrics and assignments of a trained model on its training data (and held-out data)."""
    aug = make_augment(run_cfg, splits)
    n = run_cfg.model.n_neurons
    tr = predict(model, splits.train, aug, device, embed=True)
    y = splits.train.labels.numpy()
    metrics: dict[str, Any] = dict(neural_selectivity(tr["winner"], y, n))
    metrics.update(map_metrics(tr["winner"], tr["top2"], y, run_cfg.model.grid, tr["embedding"],
                               torus=run_cfg.model.circular, lattice=run_cfg.model.lattice))  # usage metrics included
    metrics["output_spread"] = float(np.median(tr["spread"]))  # neurons an un-augmented output spreads over
    assign = {"winner": tr["winner"].astype(np.int32), "label": y.astype(np.int16), "top2": tr["top2"].astype(np.int32)}
    if splits.heldout is not None:
        te = predict(model, splits.heldout, aug, device)
        ye = splits.heldout.labels.numpy()
        metrics["heldout_neural_selectivity"] = heldout_neural_selectivity(tr["winner"], y, te["winner"], ye, n)
        metrics["heldout_active_neurons"] = int(np.unique(te["winner"]).size)
        metrics["heldout_on_dead"] = heldout_on_dead(tr["winner"], te["winner"], n)
        assign.update(heldout_winner=te["winner"].astype(np.int32), heldout_label=ye.astype(np.int16))
    return metrics, assign


def current_figures(model: URLSOM, splits: Splits, aug: Augment, cfg: RunConfig, device: torch.device,
                    embed: bool = False) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The map's figures as ``model`` reads out now (NS, live neurons, TE and, with a held-out split, held-out
    NS and the held-out share on neurons that won no training image), and ``predict``'s output on the training
    images: the ``before`` of what is fitted after training (:func:`balance_usage`, :func:`fit_readout`)."""
    n = cfg.model.n_neurons
    tr = predict(model, splits.train, aug, device, embed=embed)
    w, y = tr["winner"], splits.train.labels.numpy()
    figures: dict[str, Any] = {"neural_selectivity": neural_selectivity(w, y, n)["neural_selectivity"],
                               "active_neurons": int(np.unique(w).size),
                               "topographic_error": topographic_error(tr["top2"], cfg.model.grid,
                                                                      torus=cfg.model.circular, lattice=cfg.model.lattice)}
    if splits.heldout is not None:
        we, ye = predict(model, splits.heldout, aug, device)["winner"], splits.heldout.labels.numpy()
        figures.update(heldout_neural_selectivity=heldout_neural_selectivity(w, y, we, ye, n),
                       heldout_on_dead=heldout_on_dead(w, we, n))
    return figures, tr


def balance_usage(cfg: RunConfig, model: URLSOM, splits: Splits, device: torch.device,
                  log: Callable[[str], None] = print) -> dict[str, Any]:
    """Fit the model's usage-balancing bias on the training images (``balance.fit_usage_bias``) and return
    the map's figures without it (``before``: NS, live neurons, held-out NS, the held-out share on neurons
    that won no training image, TE and ``metrics.usage_metrics``), so that metrics.json shows what the bias
    changed, and the network's own winners of the training images (``network_winner``, for assignments.npz)."""
    aug = make_augment(cfg, splits)
    n = cfg.model.n_neurons
    model.head.usage_bias.zero_()
    before, tr = current_figures(model, splits, aug, cfg, device)
    before.update(usage_metrics(tr["winner"], cfg.model.grid, torus=cfg.model.circular))
    fit_usage_bias(model, splits.train.images, aug.plain, device)
    log(f"usage balance: a bias fitted on {len(splits.train):,} training images; without it "
        f"{before['active_neurons']} of {n} neurons won a training image")
    return {"before": before, "network_winner": tr["winner"].astype(np.int32)}


def fit_readout(cfg: RunConfig, model: URLSOM, splits: Splits, device: torch.device,
                log: Callable[[str], None] = print) -> dict[str, Any]:
    """Fit the model's prototype readout on the un-augmented training images (``readout.fit_prototypes``,
    from the network's winners, its usage bias included) and return the map's figures with the network's own
    winners (``before``: NS, live neurons, held-out NS, the held-out share on neurons that won no training
    image, and TE), so that metrics.json shows what the readout changed, and those winners of the training
    images (``network_winner``)."""
    aug = make_augment(cfg, splits)
    n = cfg.model.n_neurons
    head = model.head
    head.prototype_count.zero_()  # no prototypes: predict reports the network's own winners
    before, tr = current_figures(model, splits, aug, cfg, device, embed=True)
    emb, net_top2 = torch.from_numpy(tr["embedding"]), torch.from_numpy(tr["top2"])
    P, counts, rounds = fit_readout_prototypes(emb, net_top2, n, head.window.cpu())
    head.prototypes.copy_(P)
    head.prototype_count.copy_(counts)
    log(f"prototype readout: {int((counts > 0).sum())} of {n} neurons got a prototype from {len(splits.train):,} "
        f"training images ({rounds} rounds)")
    return {"before": before, "rounds": rounds, "network_winner": tr["winner"].astype(np.int32)}


def train_run(
    cfg: RunConfig,
    out: str | Path,
    device: str = "auto",
    progress: bool = True,
    log: Callable[[str], None] = print,
    checkpoint_seconds: float | None = None,
    defaults_rule: str | None = None,
) -> Run:
    """Train ``cfg`` into ``out``: reuse a complete run, resume a partial one, refuse another config.

    Only one process writes a run at a time (a lock on ``out/.lock``). A failure or a stop signal records
    status "failed" / "interrupted" and its reason in manifest.json before the error propagates.
    ``checkpoint_seconds``: mid-epoch checkpoint interval (default: $URLSOM_CHECKPOINT_SECONDS, else 120).
    ``defaults_rule``: the line saying which defaults the config got from the data and the machine
    (``defaults.auto_defaults``); logged once the data is loaded, written beside the config in config.json and
    into manifest.json.
    """
    out = Path(out)
    dev = check_inputs(cfg, device)
    every = checkpoint_interval(checkpoint_seconds)
    if (out / "config.json").exists():
        try:
            old: RunConfig | None = RunConfig.from_dict(read_json(out / "config.json")["config"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            old = None
            log(f"run {out}: config.json is unreadable ({e}); its checkpoint is used only if it holds this config")
        if old is not None and old != cfg:
            raise RunMismatch(f"--out {out} holds a run of another config ({'; '.join(cfg.diff(old))}); "
                              "allowed: the same config, or a new directory")
        why = incomplete_reason(out, cfg)
        if why is None:
            return Run.load(out, cache_hit=True)
        log(f"run {out}: {why}; training (resuming from its checkpoint if there is one)")
    splits = resolve(cfg.data)  # fails before anything is written when the data is bad
    if splits.skipped:
        shown = ", ".join(f"{b['file']} ({b['reason']})" for b in splits.skipped[:5])
        log(f"skipping {len(splits.skipped)} bad image file(s) (skip_bad_images): {shown}"
            + (", ..." if len(splits.skipped) > 5 else "") + "; all are listed in manifest.json")
    if defaults_rule:
        log(defaults_rule)
    out.mkdir(parents=True, exist_ok=True)
    writer = int(os.environ.get("RANK", "0") or 0) == 0  # under torchrun, rank 0 holds the lock
    with DirLock(out) if writer else contextlib.nullcontext():
        if writer:
            remove_stale_temporaries(out)  # left by a process killed mid-write; the lock says it is dead
            if incomplete_reason(out, cfg) is None:  # another process completed it while we waited
                return Run.load(out, cache_hit=True)
        return _train_locked(cfg, out, dev, splits, progress, log, every, defaults_rule)


def checkpoint_interval(seconds: float | None = None) -> float:
    """Seconds between mid-epoch checkpoints: ``seconds``, else $URLSOM_CHECKPOINT_SECONDS, else 120 (0: every step)."""
    if seconds is None:
        env = os.environ.get("URLSOM_CHECKPOINT_SECONDS")
        if env is None:
            return 120.0
        try:
            seconds = float(env)
        except ValueError:
            raise ConfigError(f"URLSOM_CHECKPOINT_SECONDS {env!r}: allowed is a number of seconds >= 0") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(f"checkpoint interval {seconds}: allowed is a number of seconds >= 0")
    return float(seconds)


def _train_locked(
    cfg: RunConfig, out: Path, dev: torch.device, splits: Splits, progress: bool, log: Callable[[str], None],
    checkpoint_seconds: float, defaults_rule: str | None = None,
) -> Run:
    t0 = time.time()
    resolved = {
        "input_size": splits.input_size, "flip": splits.flip, "channels": splits.train.channels,
        "n_train": len(splits.train), "n_heldout": len(splits.heldout) if splits.heldout else 0,
        "classes": splits.train.classes, "n_neurons": cfg.model.n_neurons,
    }
    writer = int(os.environ.get("RANK", "0") or 0) == 0  # under torchrun only rank 0 writes files
    rule = {"defaults_rule": defaults_rule} if defaults_rule else {}
    if writer:
        write_json(out / "config.json", {"key": cfg.key(), "config": cfg.to_dict(), "resolved": resolved, **rule})
    prov = provenance(str(dev), cfg.train.seed)
    try:
        old_manifest = read_json(out / "manifest.json") if (out / "manifest.json").exists() else {}
    except (OSError, ValueError):
        old_manifest = {}
    manifest = {"status": "running", "key": cfg.key(), "provenance": prov,
                "started": old_manifest.get("started", time.strftime("%Y-%m-%dT%H:%M:%S%z")),
                "sessions": old_manifest.get("sessions", 0) + 1,
                "wall_time_s": float(old_manifest.get("wall_time_s", 0.0)), **rule}
    if cfg.data.skip_bad_images:  # which image files this run's data leaves out, and why
        manifest["skipped_bad_images"] = {"count": len(splits.skipped), "files": splits.skipped}
    if writer:
        write_json(out / "manifest.json", manifest)

    trainer = Trainer(cfg, splits, dev, out_dir=out, progress=progress, checkpoint_seconds=checkpoint_seconds, log=log)
    history_path = out / "history.jsonl"

    def on_epoch(row: dict[str, Any]) -> None:
        write_jsonl(history_path, trainer.state.history)

    trainer.on_epoch = on_epoch
    try:
        result = trainer.fit()
    except (TrainingDiverged, TrainingInterrupted, CheckpointError, RunFileError) as e:
        if trainer.rank == 0:
            _record_stop(out, manifest, "interrupted" if isinstance(e, TrainingInterrupted) else "failed", str(e),
                         time.time() - t0, trainer.state.history)
        raise
    if trainer.rank != 0:
        return None  # type: ignore[return-value]
    write_jsonl(history_path, result.history)
    balanced = balance_usage(cfg, result.model, splits, dev, log) if cfg.model.usage_balance else None
    readout = fit_readout(cfg, result.model, splits, dev, log) if cfg.model.prototype_readout else None
    if balanced is not None or readout is not None:
        trainer.save_checkpoint()  # the model with its fitted bias and prototypes
    metrics, assign = evaluate(cfg, result.model, splits, dev)
    # the network's own winners (the paper's map: no bias, no readout), beside the winners read out
    fitted = [f for f in (balanced, readout) if f is not None]
    if fitted:
        assign["network_winner"] = fitted[0]["network_winner"]
    for f in fitted:
        f.pop("network_winner")
    if balanced is not None:
        metrics["usage_balance"] = balanced
    if readout is not None:
        metrics["prototype_readout"] = readout
    metrics.update(
        epochs_trained=result.epochs, stop_reason=result.stop_reason, train_seconds=round(result.train_seconds, 3),
        final_loss=result.history[-1]["loss"] if result.history else None, config_key=cfg.key(), provenance=prov,
        n_samples=len(splits.train),
    )
    write_json(out / "metrics.json", metrics)
    atomic_write(out / "assignments.npz", lambda fh: np.savez_compressed(fh, **assign))
    manifest.update(
        status="complete", finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"), stop_reason=result.stop_reason,
        epochs=result.epochs, train_seconds=round(result.train_seconds, 3),
        wall_time_s=round(time.time() - t0 + manifest["wall_time_s"], 3),
        files={name: _sha256(out / name) for name in RESULT_FILES},
    )
    write_json(out / "manifest.json", manifest)
    return Run.load(out)


def _record_stop(out: Path, manifest: dict[str, Any], status: str, reason: str, wall: float,
                 history: list[dict[str, Any]]) -> None:
    """Best effort (the disk may be full): say in manifest.json why the run stopped, keep its history."""
    manifest = dict(manifest, status=status, reason=reason, stopped=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    wall_time_s=round(manifest["wall_time_s"] + wall, 3))
    try:
        write_jsonl(out / "history.jsonl", history)
        write_json(out / "manifest.json", manifest)
    except RunFileError:
        pass


def stderr_log(line: str) -> None:
    """A training's messages (why a run trains or resumes, the epoch-time line, warnings) to stderr: the
    ``urlsom`` command's log, and the notebooks', whose stderr the book leaves out of its pages."""
    print(line, file=sys.stderr, flush=True)


def run_dir(cfg: RunConfig, root: str | Path = "runs") -> Path:
    return Path(root) / cfg.key()


def get_or_train(
    cfg: RunConfig, root: str | Path = "runs", device: str = "auto", progress: bool = True, log: Callable[[str], None] = print,
    checkpoint_seconds: float | None = None,
) -> Run:
    """The run of ``cfg`` from the store under ``root``: a cache hit when complete, else trained (or resumed).

    Parameters
    ----------
    cfg : RunConfig
        The run; its content key (``cfg.key()``) names the directory ``root/<key>``.
    root : path
        The run store.
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` for a training (a stored run is not retrained elsewhere).
    progress : bool
        Show the epoch bar while training.
    log : callable
        Receives why a run trains, resumes or is reused.
    checkpoint_seconds : float, optional
        Mid-epoch checkpoint interval; default ``$URLSOM_CHECKPOINT_SECONDS`` or 120.

    Returns
    -------
    Run
        The complete run: ``metrics``, ``assignments()`` (winner (N,), label (N,), top2 (N, 2)),
        ``predict(data)`` and its provenance.
    """
    path = run_dir(cfg, root)
    if (path / "config.json").exists():
        why = incomplete_reason(path, cfg)
        if why is None:
            return Run.load(path, cache_hit=True)
    else:
        log(f"run {path.name}: not in the store; training")
    return train_run(cfg, path, device=device, progress=progress, log=log, checkpoint_seconds=checkpoint_seconds)


def evaluate_on(run: Run, data: ImageData, device: str = "cpu") -> dict[str, Any]:
    """Metrics of ``run``'s map on another dataset; held-out NS uses the run's own neuron labels."""
    out = run.predict(data, device, embed=True)
    a = run.assignments()
    n = run.config.model.n_neurons
    y = data.labels.numpy()
    m: dict[str, Any] = dict(neural_selectivity(out["winner"], y, n))
    m.update(map_metrics(out["winner"], out["top2"], y, run.config.model.grid, out["embedding"],
                         torus=run.config.model.circular, lattice=run.config.model.lattice))
    m["heldout_neural_selectivity"] = heldout_neural_selectivity(a["winner"], a["label"], out["winner"], y, n)
    m["heldout_on_dead"] = heldout_on_dead(a["winner"], out["winner"], n)
    m["dataset"] = data.name
    m["n_samples"] = len(data)
    return m


def load_for_eval(run: Run, spec: str, subset: int | None = None) -> ImageData:
    from .data import align_classes, inverted_copies, match_channels

    d = load_dataset(spec, run.config.data, subset, input_size=int(run.resolved["input_size"]))
    d = inverted_copies(d, run.config.data, held_out=True)  # as resolve does for the run's own held-out part
    return align_classes(match_channels(d, int(run.resolved["channels"])), list(run.resolved["classes"]))


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=str)

"""The run store: a run is keyed by its full config, trained once, resumed when interrupted, and reused.

A run directory holds::

    config.json      the config, its key and what was resolved from the data (input size, flips, sizes, and the
                     training images' channel statistics ``channel_stats``, computed once per run) and
                     ``training_mode``: what bf16, channels-last and compile were on the machine that trained
    manifest.json    status ("running" until the very end, then "complete"; "interrupted" or "failed" with a
                     ``reason`` when a signal or an error stopped it), provenance, file hashes, and with
                     ``data.skip_bad_images`` the image files left out (``skipped_bad_images``)
    history.jsonl    one row per epoch (loss terms, learning rate, monitor NS, seconds)
    checkpoint.pt    resumable state (model, optimizer, RNG states); checkpoint.prev.pt the one before
    metrics.json     the network's own figures (neural selectivity, the map metrics) with provenance, and with
                     a readout its own section ``readout`` (``evaluation.evaluate``)
    assignments.npz  ``winner``, ``top2`` and ``label`` per training sample (``heldout_*`` when scored;
                     ``readout_*`` with a readout)
    readout.pt       with ``model.usage_balance`` or ``model.prototype_readout``: the readout fitted after
                     training (``readouts.Readout``)

Every file is written atomically. A directory whose manifest is not "complete", whose config differs, or
whose files do not match their recorded hashes is never a cache hit; ``get_or_train`` says why it trains.
Each result file is hashed once on a cache hit (the check) and once on a training (the manifest). One
process writes a run at a time (``.lock``); a killed one leaves at most temporary files, removed by the
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
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import checkpoint as ckpt
from . import readouts
from .augment import Augment
from .checkpoint import CheckpointError
from .config import ConfigError, RunConfig
from .data import ImageData, Splits, align_classes, check_spec, inverted_copies, load_dataset, match_channels, resolve
from .distributed import pick_device
from .evaluation import evaluate, unnest_assignments, unnest_metrics
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
from .model import URLSOM
from .predict import predict
from .readouts import READOUT_FILE, Readout
from .signals import TrainingInterrupted
from .train import Trainer, TrainingDiverged, make_augment

RESULT_FILES = ("config.json", "history.jsonl", "checkpoint.pt", "metrics.json", "assignments.npz")
DEFAULT_CHECKPOINT_SECONDS = 120.0


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
    """A finished run, loaded from its directory.

    ``metrics`` and :meth:`assignments` are in the layout of :func:`~urlsom_core.evaluation.evaluate` (the
    network's own figures and winners first, a readout's beside them), also for a run whose files nest the
    network's figures under ``usage_balance.before`` (read through ``evaluation.unnest_metrics``)."""

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
        """The complete run at ``path``, after checking it (:func:`incomplete_reason`: its files' hashes)."""
        path = Path(path)
        why = incomplete_reason(path)
        if why:
            raise ConfigError(f"run {path}: not a complete run ({why})")
        return cls._read(path, cache_hit)

    @classmethod
    def _read(cls, path: Path, cache_hit: bool) -> Run:
        """The run at ``path``, already checked by the caller."""
        c = read_json(path / "config.json")
        return cls(path, RunConfig.from_stored(c["config"]), unnest_metrics(read_json(path / "metrics.json")),
                   read_jsonl(path / "history.jsonl"), read_json(path / "manifest.json"), c["resolved"], cache_hit)

    def assignments(self) -> dict[str, np.ndarray]:
        with np.load(self.path / "assignments.npz") as z:
            return unnest_assignments({k: z[k] for k in z.files})

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

    def channel_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The training images' channel statistics (mean, std), as stored with the run; a run stored without
        them has them computed from its training images (:meth:`splits`)."""
        st = self.resolved.get("channel_stats")
        if st is not None:
            return tuple(float(v) for v in st["mean"]), tuple(float(v) for v in st["std"])
        return self.splits().train.channel_stats()

    def augment(self) -> Augment:
        """The run's augmentation (its un-augmented path, ``plain``, is what prediction uses)."""
        r = self.resolved
        return make_augment(self.config, int(r["input_size"]), bool(r["flip"]), self.channel_stats())

    def load_model(self, device: str = "cpu") -> URLSOM:
        """The trained network (the paper's map), in eval mode."""
        dev = pick_device(device)
        ck = torch.load(self.path / "checkpoint.pt", map_location=dev, weights_only=True)
        model = URLSOM(self.config.model, in_channels=int(self.resolved["channels"])).to(dev)
        model.load_state_dict(ckpt.model_state(ck))
        return model.eval()

    def readout(self) -> Readout | None:
        """The run's fitted readout (``readout.pt``; or, for a run whose checkpoint carried it, from there), or
        None when its config asks for none."""
        m = self.config.model
        if not (m.usage_balance or m.prototype_readout):
            return None
        if (self.path / READOUT_FILE).exists():
            return Readout.load(self.path / READOUT_FILE)
        state = torch.load(self.path / "checkpoint.pt", map_location="cpu", weights_only=True)["model"]
        found = readouts.from_model_state(self.config, state, (self.metrics.get("readout") or {}).get("rounds"))
        if found is None:
            raise ConfigError(f"run {self.path}: its config has a readout but the run holds no fitted readout "
                              f"({READOUT_FILE} is missing); allowed: a complete run, or delete it to train again")
        return found

    def predict(self, data: ImageData, device: str = "cpu", embed: bool = False) -> dict[str, np.ndarray]:
        """:func:`~urlsom_core.predict.predict` of this run's map on ``data``: the network's own winners and,
        with a readout, the readout's beside them (``readout_winner``, ...)."""
        return predict(self.load_model(device), data, self.augment(), pick_device(device), embed=embed,
                       readout=self.readout())


def incomplete_reason(path: Path, cfg: RunConfig | None = None) -> str | None:
    """Why ``path`` is not a usable complete run of ``cfg`` (None when it is): no manifest, another
    config, a status other than "complete" (with the recorded reason), or a file missing or not matching
    the hash recorded when the run completed (each file hashed once)."""
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
            old = RunConfig.from_stored(conf["config"])
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


def checkpoint_interval(seconds: float | None = None) -> float:
    """Seconds between mid-epoch checkpoints: ``seconds`` (0: every step), or 120 when None."""
    if seconds is None:
        return DEFAULT_CHECKPOINT_SECONDS
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(f"checkpoint interval {seconds}: allowed is a number of seconds >= 0")
    return float(seconds)


def _stored(cfg: RunConfig, out: Path, log: Callable[[str], None]) -> tuple[Run | None, bytes | None]:
    """The complete run of ``cfg`` at ``out`` (a cache hit), else None after logging why it trains; and the
    manifest's bytes as checked (None without one), so that the writer re-checks only a manifest that changed.
    Another config at ``out`` is a :class:`RunMismatch`."""
    if not (out / "config.json").exists():
        return None, None
    try:
        old: RunConfig | None = RunConfig.from_stored(read_json(out / "config.json")["config"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        old = None
        log(f"run {out}: config.json is unreadable ({e}); its checkpoint is used only if it holds this config")
    if old is not None and old != cfg:
        raise RunMismatch(f"--out {out} holds a run of another config ({'; '.join(cfg.diff(old))}); "
                          "allowed: the same config, or a new directory")
    seen = _manifest_bytes(out)
    why = incomplete_reason(out, cfg)
    if why is None:
        return Run._read(out, cache_hit=True), seen
    log(f"run {out}: {why}; training (resuming from its checkpoint if there is one)")
    return None, seen


def _manifest_bytes(out: Path) -> bytes | None:
    try:
        return (out / "manifest.json").read_bytes()
    except OSError:
        return None


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
    ``checkpoint_seconds``: mid-epoch checkpoint interval (default 120).
    ``defaults_rule``: the line saying which defaults the config got from the data and the machine
    (``defaults.auto_defaults``); logged once the data is loaded, written beside the config in config.json and
    into manifest.json.
    """
    out = Path(out)
    dev = check_inputs(cfg, device)
    every = checkpoint_interval(checkpoint_seconds)
    run, seen = _stored(cfg, out, log)
    if run is not None:
        return run
    return _train(cfg, out, dev, progress, log, every, defaults_rule, seen)


def _train(cfg: RunConfig, out: Path, dev: torch.device, progress: bool, log: Callable[[str], None],
           checkpoint_seconds: float, defaults_rule: str | None, seen: bytes | None) -> Run:
    """Load the data, take the lock and train; ``seen``: the manifest's bytes when :func:`_stored` checked it."""
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
            # another process may have completed it before we took the lock: then its manifest changed
            if _manifest_bytes(out) != seen and incomplete_reason(out, cfg) is None:
                return Run._read(out, cache_hit=True)
        return _train_locked(cfg, out, dev, splits, progress, log, checkpoint_seconds, defaults_rule)


def _train_locked(
    cfg: RunConfig, out: Path, dev: torch.device, splits: Splits, progress: bool, log: Callable[[str], None],
    checkpoint_seconds: float, defaults_rule: str | None = None,
) -> Run:
    t0 = time.time()
    mean, std = splits.train.channel_stats()  # once per run; stored with it, read back by evaluation and predict
    resolved = {
        "input_size": splits.input_size, "flip": splits.flip, "channels": splits.train.channels,
        "n_train": len(splits.train), "n_heldout": len(splits.heldout) if splits.heldout else 0,
        "classes": splits.train.classes, "n_neurons": cfg.model.n_neurons,
        "channel_stats": {"mean": list(mean), "std": list(std)},
    }
    trainer = Trainer(cfg, splits, dev, out_dir=out, progress=progress, checkpoint_seconds=checkpoint_seconds, log=log,
                      stats=(mean, std))
    mode = trainer.mode  # what train.amp_cpu / channels_last / compile became on this machine
    resolved["training_mode"] = mode.to_dict()
    writer = int(os.environ.get("RANK", "0") or 0) == 0  # under torchrun only rank 0 writes files
    if writer:
        log(mode.line)
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
    if trainer.mode != mode:  # an automatic torch.compile failed and the run trained eager: say so
        resolved["training_mode"] = trainer.mode.to_dict()
        write_json(out / "config.json", {"key": cfg.key(), "config": cfg.to_dict(), "resolved": resolved, **rule})
    # the run's figures from the network as Run.load_model rebuilds it (the default layout), whatever layout it trained in
    result.model.to(memory_format=torch.contiguous_format)
    readout = readouts.fit(cfg, result.model, splits.train, trainer.aug, dev, log)  # not the paper's: optional
    files = list(RESULT_FILES)
    if readout is not None:
        readout.save(out / READOUT_FILE)
        files.append(READOUT_FILE)
    metrics, assign = evaluate(cfg, result.model, trainer.aug, dev, splits.train, splits.heldout, readout)
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
        files={name: _sha256(out / name) for name in files},
    )
    write_json(out / "manifest.json", manifest)
    return Run._read(out, cache_hit=False)


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
        Mid-epoch checkpoint interval; default 120.

    Returns
    -------
    Run
        The complete run: ``metrics``, ``assignments()`` (winner (N,), label (N,), top2 (N, 2)),
        ``predict(data)`` and its provenance.
    """
    path = run_dir(cfg, root)
    every = checkpoint_interval(checkpoint_seconds)
    if not (path / "config.json").exists():
        log(f"run {path.name}: not in the store; training")
    run, seen = _stored(cfg, path, log)
    if run is not None:
        return run
    return _train(cfg, path, check_inputs(cfg, device), progress, log, every, None, seen)


def load_for_eval(run: Run, spec: str, subset: int | None = None) -> ImageData:
    """The dataset ``spec`` as ``run``'s network sees its images: its input size, channels, class order and,
    with ``data.invert_fraction``, inverted copies as its held-out part gets them. The run's training images
    are not read."""
    d = load_dataset(spec, run.config.data, subset, input_size=int(run.resolved["input_size"]))
    d = inverted_copies(d, run.config.data, held_out=True)  # as resolve does for the run's own held-out part
    return align_classes(match_channels(d, int(run.resolved["channels"])), list(run.resolved["classes"]))

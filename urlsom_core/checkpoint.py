"""Checkpoint files of a training run: atomic writes with a content digest, every RNG state, and the choice
of the newest readable one on resume.

A checkpoint is a dict of tensors and plain values (``torch.load(weights_only=True)`` reads it) with a
SHA-256 ``digest`` of its contents: torch does not check tensor bytes, so a flipped bit would otherwise load
silently. ``checkpoint.pt`` is replaced atomically and the previous one kept as ``checkpoint.prev.pt``, so a
kill or a full disk at any moment leaves at least one readable checkpoint (``files.atomic_write``).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import RunConfig
from .files import atomic_write

CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"
CHECKPOINT_FORMAT = 2  # 2: with a content digest


# State of a readout fitted after training that a model's state dict could carry (``urlsom_core.readouts``
# keeps it in its own file, readout.pt): left out when a checkpoint's model is loaded.
READOUT_STATE = ("head.usage_bias", "head.prototypes", "head.prototype_count")


class CheckpointError(RuntimeError):
    """A checkpoint could not be read; the message names the file."""


def digest(obj: Any) -> str:
    """SHA-256 of a checkpoint payload (tensors by dtype, shape and bytes; dicts by sorted key)."""
    h = hashlib.sha256()

    def visit(o: Any) -> None:
        if isinstance(o, torch.Tensor):
            t = o.detach().cpu().contiguous().reshape(-1)
            h.update(f"T{t.dtype}{tuple(o.shape)}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(o, dict):
            h.update(f"D{len(o)}".encode())
            for k in sorted(o, key=repr):
                h.update(repr(k).encode())
                visit(o[k])
        elif isinstance(o, (list, tuple)):
            h.update(f"L{len(o)}".encode())
            for v in o:
                visit(v)
        else:
            h.update(f"S{o!r}".encode())

    visit(obj)
    return h.hexdigest()


def rng_state(device: torch.device, generators: dict[str, torch.Generator]) -> dict[str, Any]:
    """torch, numpy, Python (and CUDA) RNG states and those of ``generators``, as tensors and plain values
    (so the checkpoint loads with ``weights_only=True``)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    st: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                  "cached": float(cached)},
        "python": {"version": int(version), "state": torch.tensor(internal, dtype=torch.int64),
                   "gauss": gauss if gauss is None else float(gauss)},
        **{name: g.get_state() for name, g in generators.items()},
    }
    if device.type == "cuda":
        st["cuda"] = torch.cuda.get_rng_state(device)
    return st


def restore_rng(st: dict[str, Any], device: torch.device, generators: dict[str, torch.Generator]) -> None:
    """Set every RNG state saved by :func:`rng_state`."""
    torch.set_rng_state(st["torch"].cpu())
    n = st["numpy"]
    np.random.set_state(("MT19937", n["keys"].cpu().numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = st["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss"]))
    for name, g in generators.items():
        g.set_state(st[name].cpu())
    if "cuda" in st and device.type == "cuda":
        torch.cuda.set_rng_state(st["cuda"].cpu(), device)


def save(out_dir: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` with its digest to ``out_dir/checkpoint.pt`` atomically, keeping the previous one."""
    payload = {**payload, "format": CHECKPOINT_FORMAT}
    payload["digest"] = digest(payload)
    atomic_write(out_dir / CHECKPOINT, lambda fh: torch.save(payload, fh), keep_previous=out_dir / PREVIOUS)


def load(path: Path, cfg: RunConfig) -> dict[str, Any]:
    """The checkpoint at ``path``, after checking its format, digest and config.

    Any unreadable, truncated or altered file, or one of another config than ``cfg``, is a
    :class:`CheckpointError` naming the file."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"not a urlsom checkpoint of format {CHECKPOINT_FORMAT}")
        if ck.get("digest") != digest({k: v for k, v in ck.items() if k != "digest"}):
            raise ValueError("its contents do not match the digest stored in it")
        old = RunConfig.from_stored(ck["config"])
    except Exception as e:  # noqa: BLE001 - any unreadable checkpoint gets one clear message
        msg = " ".join(f"{type(e).__name__}: {e}".split())[:200]
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({msg})") from None
    if old != cfg:
        raise CheckpointError(f"checkpoint {path} belongs to another config ({'; '.join(cfg.diff(old))})")
    return ck


def model_state(ck: dict[str, Any]) -> dict[str, Any]:
    """The network's state dict of checkpoint ``ck``, without any readout state it carries (``READOUT_STATE``)."""
    return {k: v for k, v in ck["model"].items() if k not in READOUT_STATE}


def load_newest(out_dir: Path, load_one: Callable[[Path], None], log: Callable[[str], None]) -> bool:
    """Call ``load_one`` on the newest readable checkpoint of ``out_dir``; False when there is none.

    checkpoint.pt first; when it is corrupt, truncated or missing (a kill between two renames) and
    checkpoint.prev.pt is readable, that one is loaded and ``log`` says so. A corrupt checkpoint with no good
    predecessor raises :class:`CheckpointError` naming the file."""
    path, prev = out_dir / CHECKPOINT, out_dir / PREVIOUS
    if not path.exists():
        if not prev.exists():
            return False
        log(f"warning: {path} is missing; restarting from the previous checkpoint {prev}")
        load_one(prev)
        return True
    try:
        load_one(path)
    except CheckpointError as e:
        if not prev.exists():
            raise CheckpointError(f"{e}; there is no previous checkpoint: delete the run directory "
                                  "to train from scratch") from None
        log(f"warning: {e}; restarting from the previous checkpoint {prev}")
        try:
            load_one(prev)
        except CheckpointError as e2:
            raise CheckpointError(f"{e}; and {e2}; delete the run directory to train from scratch") from None
    return True

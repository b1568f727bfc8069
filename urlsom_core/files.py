"""Safe files: every write goes to a temporary file in the same folder, is flushed to disk, then renamed
over the target (atomic on POSIX), so a crash or a full disk never leaves a half-written file behind."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


class RunFileError(OSError):
    """A run file could not be written or read; the message names the file and the cause."""


def atomic_write(path: str | Path, write: Callable[[Any], None], mode: str = "wb") -> None:
    """Call ``write(fh)`` on a temporary file next to ``path``, fsync, then rename it onto ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, mode) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise RunFileError(e.errno, f"cannot write {path}: {e.strerror or e}") from None
        raise


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write(path, lambda fh: fh.write(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"), mode="w")


def write_jsonl(path: str | Path, rows: list[dict[str, Any]]) -> None:
    atomic_write(path, lambda fh: fh.write("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)), mode="w")


def read_json(path: str | Path) -> Any:
    with open(path) as fh:
        return json.load(fh)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def git_commit() -> str:
    """Commit of the checkout the package runs from ('+dirty' when it has changes), or 'unknown'."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict[str, str]:
    import numpy
    import torch

    out = {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__}
    try:
        import torchvision

        out["torchvision"] = torchvision.__version__
    except ImportError:  # pragma: no cover
        pass
    from . import __version__

    out["urlsom_core"] = __version__
    return out


def provenance(device: str, seed: int | None = None) -> dict[str, Any]:
    """Who made a result file: versions, device, seed, git commit, host, command line."""
    import torch

    dev = device
    if device.startswith("cuda") and torch.cuda.is_available():
        dev = f"{device} ({torch.cuda.get_device_name(0)})"
    return {
        "versions": versions(),
        "device": dev,
        "seed": seed,
        "git_commit": git_commit(),
        "host": platform.node(),
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "argv": sys.argv,
    }

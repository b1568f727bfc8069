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
    """The process umask, read once on first use (reading it means setting it, so not at import)."""
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return _UMASK


_UMASK: int | None = None


class RunFileError(OSError):
    """A run file could not be written or read; the message names the file and the cause."""

    def __str__(self) -> str:  # the message alone, without OSError's "[Errno N]" prefix
        return self.strerror if isinstance(self.strerror, str) else super().__str__()


def atomic_write(path: str | Path, write: Callable[[Any], None], mode: str = "wb", keep_previous: str | Path | None = None) -> None:
    """Call ``write(fh)`` on a temporary file next to ``path``, fsync, then rename it onto ``path``.

    With ``keep_previous``, the old ``path`` (if any) moves there, but only once the new file is complete on
    disk: a failed write (full disk, kill) leaves both the old file and its predecessor as they were. The old
    file is hard-linked to ``keep_previous`` before the new one is renamed over ``path``, so ``path`` exists
    at every instant (filesystems without hard links fall back to a rename). Any OSError becomes a one-line
    :class:`RunFileError` naming the file.
    """
    path = Path(path)
    tmp = link = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if keep_previous is not None and path.exists():
            link = f"{tmp[:-4]}.prev.tmp"
            try:
                os.link(path, link)
                os.replace(link, keep_previous)
            except OSError:
                os.replace(path, keep_previous)
            link = None
        os.replace(tmp, path)
        tmp = None
        _fsync_dir(path.parent)
    except BaseException as e:
        for leftover in (tmp, link):
            if leftover is not None:
                try:
                    os.unlink(leftover)
                except OSError:
                    pass
        if isinstance(e, OSError) and not isinstance(e, RunFileError):
            why = e.strerror or str(e)
            raise RunFileError(e.errno, f"cannot write {path}: {why}; the previous version of the file is kept") from None
        raise


def _fsync_dir(folder: Path) -> None:
    """Make the renames durable (best effort: not every filesystem lets a directory be fsynced)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the ``.NAME.*.tmp`` files a killed writer left in ``folder`` (call only while holding its lock)."""
    out = []
    for f in Path(folder).glob(".*.tmp"):
        try:
            f.unlink()
            out.append(f)
        except OSError:
            pass
    return out


class DirLock:
    """An exclusive ``flock`` on ``folder/.lock`` while a run is written, so two processes never write one run.

    The kernel drops the lock when the process dies, even by SIGKILL, so a killed run never stays locked.
    """

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / ".lock"
        self.fh: Any = None

    def __enter__(self) -> DirLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock, as before
            return self
        try:
            self.fh = open(self.path, "a+")
        except OSError as e:
            raise RunFileError(e.errno, f"cannot write {self.path}: {e.strerror or e}") from None
        try:
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.seek(0)
            holder = self.fh.read().strip() or "unknown"
            self.fh.close()
            raise RunFileError(f"run {self.path.parent} is being written by another process ({holder}); "
                               "wait for it to finish or use another run directory") from None
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(f"pid {os.getpid()} on {platform.node()}\n")
        self.fh.flush()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.fh is not None:
            import fcntl

            fcntl.flock(self.fh.fileno(), fcntl.LOCK_UN)
            self.fh.close()
            self.fh = None


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


def require_complete_run(path: str | Path) -> None:
    """A one-line ValueError unless ``path`` is a run directory with its ``metrics.json`` (a finished run): the
    check of the bench scripts that score stored runs."""
    if not (Path(path) / "metrics.json").is_file():
        raise ValueError(f"run {path}: not a complete run directory (no metrics.json)")


def write_table(path: str | Path, lines: list[str], script: str, argv: list[str], seconds: float) -> None:
    """A bench script's Markdown table ``lines`` to ``path``, closed by the line that says how it was made: the
    command (``python SCRIPT ARGV``), its wall time, the git commit and the host (:func:`provenance`)."""
    prov = provenance("cpu", None)
    Path(path).write_text("\n".join(lines) + f"\n\nMade by `python {script} {' '.join(argv)}` in {seconds:.0f} s "
                          f"(git {prov['git_commit']}, {prov['host']}).\n")

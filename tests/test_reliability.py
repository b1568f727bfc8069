"""Reliable runs: kill and resume, safe files, clear failures.

The kill-and-resume checks run the real ``urlsom train`` in subprocesses: an uninterrupted reference run,
one killed by SIGKILL and one stopped by SIGTERM in the middle of epoch 1, then the same command again.
On CPU the resumed runs must equal the reference bit for bit: model and optimizer tensors, every history
loss, metrics and assignments (only wall-clock fields differ).
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from urlsom_book import cli
from urlsom_core import train as train_mod
from urlsom_core.checkpoint import CHECKPOINT_FORMAT, CheckpointError
from urlsom_core.config import ConfigError, RunConfig
from urlsom_core.data import resolve
from urlsom_core.files import DirLock, RunFileError, atomic_write, read_json, read_jsonl, write_json
from urlsom_core.runs import RESULT_FILES, RunMismatch, get_or_train, incomplete_reason, run_dir, train_run
from urlsom_core.signals import TrainingInterrupted
from urlsom_core.train import Trainer, TrainingDiverged

# 240 digits in batches of 8: 30 steps an epoch, long enough to be stopped in the middle of one.
ARGS = ["--dataset", "digits", "--subset", "240", "--grid", "5", "5", "--sigma", "1", "--widths", "8", "--blocks", "1",
        "--epochs", "3", "--batch-size", "8", "--device", "cpu", "--quiet"]
STEPS = 240 // 8
# in-process runs: 80 digits (8 a class), 10 steps an epoch
SMALL = ["--dataset", "digits", "--subset", "80", "--grid", "5", "5", "--sigma", "1", "--widths", "8", "--blocks", "1",
         "--batch-size", "8", "--device", "cpu", "--quiet"]
VOLATILE_METRICS = {"train_seconds", "provenance"}
VOLATILE_HISTORY = {"seconds", "elapsed"}


def _cmd() -> list[str]:
    script = Path(sys.executable).with_name("urlsom")
    return [str(script)] if script.exists() else [sys.executable, "-m", "urlsom_book.cli"]


def _env() -> dict[str, str]:
    env = dict(os.environ, URLSOM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("URLSOM_CHECKPOINT_SECONDS", None)
    return env


def _start(out: Path, *extra: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([*_cmd(), "train", "--out", str(out), *ARGS, *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(), cwd=out.parent, **kw)


def _finish(p: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err


def _rows(out: Path) -> int:
    try:
        return len(read_jsonl(out / "history.jsonl"))
    except (OSError, ValueError):
        return 0


def _ident(out: Path) -> tuple[int, int] | None:
    try:
        st = (out / "checkpoint.pt").stat()  # exists at every instant once written (see files.atomic_write)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


# The child of a stopped run: the real CLI, with Trainer.step wrapped so that in epoch 1 it reports the step it is
# in (a line on stdout) and waits for the parent's go-ahead on stdin. The parent sends its signal while the child
# waits there, so the signal lands at a known step however busy the machine is: no polling, no timing.
AT_STEP = (1, 2)  # (epoch, steps done): inside the third step of epoch 1
MARKER = "urlsom-test: at epoch 1 step 2"
_CHILD = f"""
import sys
import urlsom_core.train as T
from urlsom_book import cli

real = T.Trainer.step

def step(self, *a, **k):
    out = real(self, *a, **k)
    if (self.state.epoch, self.state.step) == {AT_STEP!r}:
        print({MARKER!r}, flush=True)
        sys.stdin.readline()
    return out

T.Trainer.step = step
sys.exit(cli.main(sys.argv[1:]))
"""


def _start_stoppable(out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _CHILD, "train", "--out", str(out), *ARGS, *extra],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(), cwd=out.parent)


def _stop_at_step(p: subprocess.Popen, sig: int) -> None:
    """Wait for the child's marker line (a blocking read), send ``sig``, then let the child go on."""
    assert p.stdout is not None and p.stdin is not None
    for line in p.stdout:
        if line.strip() == MARKER:
            break
    else:
        raise AssertionError(f"urlsom train ended (rc {p.wait()}) before it reached epoch 1 step 2: "
                             f"{p.stderr.read() if p.stderr else ''}")
    p.send_signal(sig)
    if sig != signal.SIGKILL:
        p.stdin.write("go\n")
        p.stdin.flush()


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def _tensors(obj, prefix=""):
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _tensors(v, f"{prefix}/{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _tensors(v, f"{prefix}/{i}")


def assert_same_run(a: Path, b: Path) -> None:
    """Bitwise: model and optimizer tensors, history losses, metrics, assignments (wall-clock fields aside)."""
    ma, mb = read_json(a / "metrics.json"), read_json(b / "metrics.json")
    assert {k: v for k, v in ma.items() if k not in VOLATILE_METRICS} == \
           {k: v for k, v in mb.items() if k not in VOLATILE_METRICS}
    ha = [{k: v for k, v in r.items() if k not in VOLATILE_HISTORY} for r in read_jsonl(a / "history.jsonl")]
    hb = [{k: v for k, v in r.items() if k not in VOLATILE_HISTORY} for r in read_jsonl(b / "history.jsonl")]
    assert ha == hb
    ca, cb = _load(a / "checkpoint.pt"), _load(b / "checkpoint.pt")
    ta, tb = dict(_tensors({"model": ca["model"], "optimizer": ca["optimizer"]})), \
        dict(_tensors({"model": cb["model"], "optimizer": cb["optimizer"]}))
    assert ta.keys() == tb.keys() and len(ta) > 10
    unequal = [k for k in ta if not torch.equal(ta[k], tb[k])]
    assert not unequal, f"tensors differ: {unequal[:5]}"
    with np.load(a / "assignments.npz") as za, np.load(b / "assignments.npz") as zb:
        assert sorted(za.files) == sorted(zb.files)
        for k in za.files:
            np.testing.assert_array_equal(za[k], zb[k])


def _flip_tensor_byte(path: Path) -> None:
    """Flip one byte in the middle of the largest tensor's data inside the zip (torch.load does not notice)."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    h = info.header_offset
    start = h + 30 + int.from_bytes(raw[h + 26:h + 28], "little") + int.from_bytes(raw[h + 28:h + 30], "little")
    raw[start + info.file_size // 2] ^= 0x40
    path.write_bytes(bytes(raw))


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """Reference, SIGKILL and SIGTERM runs side by side; snapshots of the stopped runs; then the same
    command again on each stopped run and on a copy whose checkpoint.pt had one byte flipped."""
    root = tmp_path_factory.mktemp("killed")
    ref, kill, term = root / "ref", root / "kill", root / "term"
    p_ref = _start(ref)
    p_kill = _start_stoppable(kill, "--checkpoint-every", "0")
    p_term = _start_stoppable(term, "--checkpoint-every", "0")
    _stop_at_step(p_kill, signal.SIGKILL)
    _stop_at_step(p_term, signal.SIGTERM)
    res = {"kill_first": _finish(p_kill), "term_first": _finish(p_term)}
    snaps = {}
    for name, d in (("kill", kill), ("term", term)):
        snaps[name] = root / f"{name}_snapshot"
        shutil.copytree(d, snaps[name])
    corrupt = root / "corrupt"
    shutil.copytree(kill, corrupt)
    _flip_tensor_byte(corrupt / "checkpoint.pt")
    res["corrupt_loads_in_torch"] = _load(corrupt / "checkpoint.pt")["format"]  # torch alone does not see it
    procs = {"kill": _start(kill, "--checkpoint-every", "0"), "term": _start(term, "--checkpoint-every", "0"),
             "corrupt": _start(corrupt, "--checkpoint-every", "0")}
    res["ref"] = _finish(p_ref)
    for name, p in procs.items():
        res[name] = _finish(p)
    return {"root": root, "ref": ref, "kill": kill, "term": term, "corrupt": corrupt, "snap": snaps, "res": res}


@pytest.mark.slow  # trains a reference run in a child process (minutes on 2 cores)
def test_reference_run_completes(killed):
    rc, out, err = killed["res"]["ref"]
    assert rc == 0, err
    assert read_json(killed["ref"] / "manifest.json")["status"] == "complete"


@pytest.mark.slow  # trains a reference run in a child process (minutes on 2 cores)
def test_sigkill_mid_epoch_then_same_command_resumes_bitwise(killed):
    rc, _, _ = killed["res"]["kill_first"]
    assert rc == -signal.SIGKILL
    ck = _load(killed["snap"]["kill"] / "checkpoint.pt")  # what the killed run left: a mid-epoch checkpoint
    assert (ck["epoch"], ck["step"]) == AT_STEP  # killed inside the next step: the last one saved is this
    assert read_json(killed["snap"]["kill"] / "manifest.json")["status"] == "running"
    rc, out, err = killed["res"]["kill"]
    assert rc == 0, err
    assert "status is 'running', not 'complete' (the process was killed, or is still running)" in err
    assert f"resuming from epoch {ck['epoch']} step {ck['step']}" in err
    assert "(trained)" in out
    man = read_json(killed["kill"] / "manifest.json")
    assert man["status"] == "complete" and man["sessions"] == 2
    assert not list(killed["kill"].glob(".*.tmp")), "a temporary file of the killed writer was left behind"
    assert_same_run(killed["ref"], killed["kill"])


@pytest.mark.slow  # trains a reference run in a child process (minutes on 2 cores)
def test_sigterm_saves_a_checkpoint_exits_with_a_message_and_resumes_bitwise(killed):
    rc, _, err = killed["res"]["term_first"]
    assert rc == 128 + signal.SIGTERM, err
    last = err.strip().splitlines()[-1]
    ck = _load(killed["snap"]["term"] / "checkpoint.pt")
    assert (ck["epoch"], ck["step"]) == (AT_STEP[0], AT_STEP[1] + 1)  # stopped after the step it was in
    assert last == (f"urlsom: stopped by SIGTERM at epoch {ck['epoch']} step {ck['step']}; checkpoint saved to "
                    f"{killed['term'] / 'checkpoint.pt'}; rerun the same command to resume")
    man = read_json(killed["snap"]["term"] / "manifest.json")
    assert man["status"] == "interrupted" and "SIGTERM" in man["reason"]
    assert len(read_jsonl(killed["snap"]["term"] / "history.jsonl")) == ck["epoch"] == len(ck["history"])
    rc, out, err = killed["res"]["term"]
    assert rc == 0, err
    assert "status is 'interrupted', not 'complete' (stopped by SIGTERM" in err
    assert f"resuming from epoch {ck['epoch']} step {ck['step']}" in err
    assert_same_run(killed["ref"], killed["term"])


@pytest.mark.slow  # trains a reference run in a child process (minutes on 2 cores)
def test_corrupt_checkpoint_is_named_and_training_restarts_from_the_previous_one(killed):
    assert killed["res"]["corrupt_loads_in_torch"] == CHECKPOINT_FORMAT  # silently, without our digest
    rc, out, err = killed["res"]["corrupt"]
    assert rc == 0, err
    path = killed["corrupt"] / "checkpoint.pt"
    assert (f"warning: checkpoint {path} is corrupt or truncated (ValueError: its contents do not match the digest "
            f"stored in it); restarting from the previous checkpoint {killed['corrupt'] / 'checkpoint.prev.pt'}") in err
    assert_same_run(killed["ref"], killed["corrupt"])


def _trainer_for(out: Path, args: list[str]) -> Trainer:
    cfg = cli.config_from_args(cli.build_parser().parse_args(["train", "--out", str(out), *args]))
    return Trainer(cfg, resolve(cfg.data), "cpu", out_dir=out, progress=False, log=lambda s: None)


@pytest.mark.slow  # trains a reference run in a child process (minutes on 2 cores)
def test_checkpoints_load_weights_only_and_a_damaged_one_is_named(killed, tmp_path):
    snap = killed["snap"]["kill"]
    ck = torch.load(snap / "checkpoint.pt", weights_only=True)
    assert {"model", "optimizer", "rng", "epoch", "step", "perm", "digest"} <= set(ck)
    assert {"torch", "numpy", "python", "perm", "aug"} <= set(ck["rng"])
    d = tmp_path / "run"
    shutil.copytree(snap, d)
    tr = _trainer_for(d, ARGS)
    raw = (d / "checkpoint.pt").read_bytes()
    (d / "checkpoint.pt").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match=f"^checkpoint {d / 'checkpoint.pt'} is corrupt or truncated"):
        tr.load_checkpoint(d / "checkpoint.pt")
    logs: list[str] = []
    tr.log = logs.append
    prev = _load(d / "checkpoint.prev.pt")
    assert tr.try_resume() == prev["epoch"] and tr.state.step == prev["step"]
    assert "restarting from the previous checkpoint" in logs[0]
    # killed between the two renames of a save: checkpoint.pt missing, checkpoint.prev.pt there
    (d / "checkpoint.pt").unlink()
    tr2 = _trainer_for(d, ARGS)
    tr2.log = logs.append
    assert tr2.try_resume() == prev["epoch"] and tr2.state.step == prev["step"]
    assert f"{d / 'checkpoint.pt'} is missing; restarting from the previous checkpoint" in logs[-1]
    # no good checkpoint at all: the error names the file and says what to do
    (d / "checkpoint.pt").write_bytes(raw[:100])
    (d / "checkpoint.prev.pt").unlink()
    rc = cli.main(["train", "--out", str(d), *ARGS])
    assert rc == 1
    # a checkpoint of another config is refused by name
    other = _trainer_for(d, [*ARGS, "--seed", "1"])
    with pytest.raises(CheckpointError, match=r"belongs to another config \(train.seed: 1 != 0\)"):
        other.load_checkpoint(snap / "checkpoint.pt")


def test_no_good_checkpoint_is_one_clear_line(tmp_path, capsys):
    d = tmp_path / "run"
    # the paper's map: a run with a usage bias or a prototype readout saves again after fitting them, so it keeps a
    # previous checkpoint
    assert cli.main(["train", "--out", str(d), *SMALL, "--epochs", "1", "--no-usage-balance", "--no-prototype-readout"]) == 0
    raw = (d / "checkpoint.pt").read_bytes()
    write_json(d / "manifest.json", dict(read_json(d / "manifest.json"), status="running"))
    (d / "checkpoint.pt").write_bytes(raw[: len(raw) // 3])
    capsys.readouterr()
    assert cli.main(["train", "--out", str(d), *SMALL, "--epochs", "1", "--no-usage-balance", "--no-prototype-readout"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"urlsom: error: checkpoint {d / 'checkpoint.pt'} is corrupt or truncated (")
    assert err[-1].endswith("there is no previous checkpoint: delete the run directory to train from scratch")


def test_nan_loss_stops_naming_epoch_step_and_term_and_keeps_the_last_good_checkpoint(tmp_path, capsys, monkeypatch):
    real = train_mod.urlsom_loss
    calls = {"n": 0}

    def poisoned(*a, **k):
        out = real(*a, **k)
        calls["n"] += 1
        if calls["n"] == 10 + 3 + 1:  # epoch 1, step 3 (0-based): 10 steps an epoch
            nan = out.collapse * float("nan")
            return out._replace(collapse=nan, total=out.total + nan)
        return out

    monkeypatch.setattr(train_mod, "urlsom_loss", poisoned)
    d = tmp_path / "run"
    rc = cli.main(["train", "--out", str(d), *SMALL, "--epochs", "3"])
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (f"urlsom: error: loss is nan at epoch 1 step 3 (0-based) in loss term collapse; training stopped, "
                   f"the last good checkpoint {d / 'checkpoint.pt'} is kept")
    ck = _load(d / "checkpoint.pt")
    assert (ck["epoch"], ck["step"]) == (1, 0)
    assert all(torch.isfinite(t).all() for _, t in _tensors(ck["model"]) if t.is_floating_point())
    man = read_json(d / "manifest.json")
    assert man["status"] == "failed" and "epoch 1 step 3" in man["reason"]
    assert "status is 'failed'" in incomplete_reason(d)


def test_nonfinite_parameters_are_never_saved(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    tr = _trainer_for(d, [*SMALL, "--epochs", "1"])
    tr.save_checkpoint()
    before = (d / "checkpoint.pt").read_bytes()
    with torch.no_grad():
        next(tr.model.parameters())[0].fill_(float("inf"))
    with pytest.raises(TrainingDiverged, match=f"is no longer finite at epoch 0 step 0; .* {d / 'checkpoint.pt'} is kept"):
        tr.save_checkpoint()
    assert (d / "checkpoint.pt").read_bytes() == before and not (d / "checkpoint.prev.pt").exists()


def _limit_file_size(limit: int):
    def pre() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return pre


@pytest.fixture(scope="module")
def disk_full(killed, tmp_path_factory):
    """The SIGTERM-stopped run resumed by the same command where the disk refuses its next checkpoint, two
    ways at once: RLIMIT_FSIZE (files above 24 KiB cannot be written: the JSON files pass, the ~65 KiB
    checkpoint does not; works anywhere), and a genuinely full 1 MiB tmpfs in a private mount namespace
    (where one can be made)."""
    root = tmp_path_factory.mktemp("disk_full")
    snap = killed["snap"]["term"]
    rl = root / "rlimit"
    shutil.copytree(snap, rl)
    p_rl = _start(rl, "--checkpoint-every", "0", preexec_fn=_limit_file_size(24 * 1024))
    unshare = shutil.which("unshare")
    mnt, res = root / "mnt", root / "res"
    mnt.mkdir()
    res.mkdir()
    p_fs = None
    if unshare is not None and subprocess.run([unshare, "-rm", "true"], capture_output=True).returncode == 0:
        cmd = " ".join(f"'{c}'" for c in [*_cmd(), "train", "--out", str(mnt / "run"), *ARGS, "--checkpoint-every", "0"])
        script = f"""
set -u
mount -t tmpfs -o size=1m tmpfs '{mnt}' || exit 77
cp -a '{snap}' '{mnt}/run'
avail=$(df --output=avail -B1 '{mnt}' | tail -1)
head -c $((avail - 24576)) /dev/zero > '{mnt}/filler'
{cmd} > '{res}/stdout' 2> '{res}/stderr'
echo $? > '{res}/rc'
cp '{mnt}/run/checkpoint.pt' '{mnt}/run/checkpoint.prev.pt' '{mnt}/run/manifest.json' '{res}/'
ls -a '{mnt}/run' > '{res}/ls'
"""
        p_fs = subprocess.Popen([unshare, "-rm", "bash", "-c", script], env=_env(), cwd=root)
    out = {"snap": snap, "rlimit": rl, "rlimit_res": _finish(p_rl), "mnt": mnt, "res": res, "tmpfs_rc": None}
    if p_fs is not None:
        out["tmpfs_rc"] = p_fs.wait(timeout=240)
    return out


@pytest.mark.slow  # trains a reference run in a child process (minutes on 2 cores)
def test_full_disk_is_one_clear_line_and_keeps_the_previous_checkpoints(disk_full):
    """RLIMIT_FSIZE: the kernel refuses the write (EFBIG). Exit 1, one line naming the file, both earlier
    checkpoints byte for byte as they were, no temporary file left, the reason in manifest.json."""
    d, snap = disk_full["rlimit"], disk_full["snap"]
    assert (snap / "checkpoint.pt").stat().st_size > 24 * 1024
    rc, _, err = disk_full["rlimit_res"]
    assert rc == 1, err
    assert err.strip().splitlines()[-1] == (f"urlsom: error: cannot write {d / 'checkpoint.pt'}: File too large; "
                                            "the previous version of the file is kept")
    for n in ("checkpoint.pt", "checkpoint.prev.pt"):
        assert (d / n).read_bytes() == (snap / n).read_bytes()
    assert not list(d.glob(".*.tmp"))
    man = read_json(d / "manifest.json")
    assert man["status"] == "failed" and "cannot write" in man["reason"]


@pytest.mark.slow  # trains a reference run in a child process (minutes on 2 cores)
def test_full_tmpfs_gives_no_space_error_and_keeps_the_checkpoint(disk_full):
    """The same on a genuinely full filesystem (ENOSPC)."""
    if disk_full["tmpfs_rc"] in (None, 77):
        pytest.skip("no private mount namespace or tmpfs here (the RLIMIT_FSIZE test covers a refused write)")
    res, mnt, snap = disk_full["res"], disk_full["mnt"], disk_full["snap"]
    assert (res / "rc").read_text().strip() == "1", (res / "stderr").read_text()
    assert (res / "stderr").read_text().strip().splitlines()[-1] == (
        f"urlsom: error: cannot write {mnt / 'run' / 'checkpoint.pt'}: No space left on device; "
        "the previous version of the file is kept")
    assert (res / "checkpoint.pt").read_bytes() == (snap / "checkpoint.pt").read_bytes()
    assert (res / "checkpoint.prev.pt").read_bytes() == (snap / "checkpoint.prev.pt").read_bytes()
    assert not [n for n in (res / "ls").read_text().split() if n.endswith(".tmp")]


def test_atomic_write_failure_leaves_the_old_file_and_no_temporary(tmp_path):
    f = tmp_path / "checkpoint.pt"
    f.write_bytes(b"old")

    def fails(fh):
        fh.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(RunFileError) as e:
        atomic_write(f, fails, keep_previous=tmp_path / "checkpoint.prev.pt")
    assert str(e.value) == f"cannot write {f}: No space left on device; the previous version of the file is kept"
    assert f.read_bytes() == b"old" and not (tmp_path / "checkpoint.prev.pt").exists()

    def interrupted(fh):
        fh.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(f, interrupted)
    assert f.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]
    atomic_write(f, lambda fh: fh.write(b"new"), keep_previous=tmp_path / "checkpoint.prev.pt")
    assert f.read_bytes() == b"new" and (tmp_path / "checkpoint.prev.pt").read_bytes() == b"old"


def test_run_store_never_takes_a_partial_or_mismatched_run_and_says_why(tmp_path):
    cfg = cli.config_from_args(cli.build_parser().parse_args(["train", "--out", "x", *SMALL, "--epochs", "1"]))
    logs: list[str] = []
    first = get_or_train(cfg, root=tmp_path, device="cpu", progress=False, log=logs.append)
    assert not first.cache_hit and logs[0] == f"run {cfg.key()}: not in the store; training"
    # the trainer's timing line and, as the defaults rule (few images per neuron) balances usage and reads out
    # through prototypes, the lines
    # of the fitted bias and prototypes only
    assert all(line.startswith(("training mode: ", "epoch time ~", "usage balance: a bias fitted on 80",
                                "prototype readout: ")) for line in logs[1:]), logs
    assert sum(line.startswith("training mode: ") for line in logs) == 1
    logs.clear()
    assert get_or_train(cfg, root=tmp_path, device="cpu", progress=False, log=logs.append).cache_hit and not logs
    path = run_dir(cfg, tmp_path)
    good = read_json(path / "metrics.json")
    damage = {
        "metrics.json does not match its recorded hash": lambda: write_json(path / "metrics.json", dict(good, neural_selectivity=1.0)),
        "assignments.npz is missing": lambda: (path / "assignments.npz").unlink(),
        "status is 'running', not 'complete' (the process was killed, or is still running)":
            lambda: write_json(path / "manifest.json", dict(read_json(path / "manifest.json"), status="running")),
        "manifest.json records no hash for " + ", ".join(RESULT_FILES): lambda: write_json(
            path / "manifest.json", dict(read_json(path / "manifest.json"), files={})),
    }
    for why, act in damage.items():
        act()
        logs.clear()
        with pytest.raises(ConfigError, match="not a complete run"):
            type(first).load(path)
        run = get_or_train(cfg, root=tmp_path, device="cpu", progress=False, log=logs.append)
        assert not run.cache_hit
        assert logs[0] == f"run {path}: {why}; training (resuming from its checkpoint if there is one)", logs
        assert run.metrics["neural_selectivity"] == good["neural_selectivity"]
        assert get_or_train(cfg, root=tmp_path, device="cpu", progress=False, log=logs.append).cache_hit
    other = cfg.replace(**{"model.sigma": 2.0})
    assert incomplete_reason(path, other) == "config differs: model.sigma: 2.0 != 1.0"
    listing = sorted(p.name for p in path.iterdir())
    with pytest.raises(RunMismatch, match=r"holds a run of another config \(model.sigma: 2.0 != 1.0\)"):
        train_run(other, path, device="cpu", progress=False, log=logs.append)
    assert sorted(p.name for p in path.iterdir()) == listing


def test_a_run_being_written_by_another_process_is_refused(tmp_path):
    cfg = cli.config_from_args(cli.build_parser().parse_args(["train", "--out", "x", *SMALL, "--epochs", "1"]))
    d = tmp_path / "run"
    d.mkdir()
    with DirLock(d), pytest.raises(RunFileError, match=f"run {d} is being written by another process \\(pid {os.getpid()}"):
        train_run(cfg, d, device="cpu", progress=False, log=lambda s: None)


def test_time_budget_stops_cleanly_and_records_the_reason(tmp_path, capsys):
    d = tmp_path / "run"
    args = ["train", "--out", str(d), *SMALL, "--epochs", "200", "--max-minutes", "0.003"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    m, man = read_json(d / "metrics.json"), read_json(d / "manifest.json")
    assert m["stop_reason"] == "time budget" and man["stop_reason"] == "time budget" and man["status"] == "complete"
    assert 1 <= m["epochs_trained"] < 200 and "time budget" in out
    assert cli.main(args) == 0
    assert "reused, already complete" in capsys.readouterr().out


@pytest.fixture
def live_signals():
    """A background job (``make test &``, nohup) starts with SIGINT ignored, and training rightly leaves an
    ignored signal alone; these tests need Python's usual handlers, so they set them for their duration."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    if saved[signal.SIGINT] == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if saved[signal.SIGTERM] == signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    for s, h in saved.items():
        signal.signal(s, h)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_saves_a_checkpoint_and_the_handlers_are_restored(tmp_path, sig, live_signals):
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    d = tmp_path / "run"
    d.mkdir()
    tr = _trainer_for(d, [*SMALL, "--epochs", "3"])

    def on_epoch(row):
        assert signal.getsignal(sig) not in (before[sig], signal.SIG_DFL)  # ours, or we would end the test process
        os.kill(os.getpid(), sig)

    tr.on_epoch = on_epoch
    with pytest.raises(TrainingInterrupted, match=f"stopped by {sig.name} at epoch 1 step 0") as e:
        tr.fit()
    assert e.value.signum == sig
    assert {s: signal.getsignal(s) for s in before} == before
    assert (_load(d / "checkpoint.pt")["epoch"], _load(d / "checkpoint.pt")["step"]) == (1, 0)


def test_a_second_sigint_interrupts_at_once(tmp_path, live_signals):
    before = signal.getsignal(signal.SIGINT)
    d = tmp_path / "run"
    d.mkdir()
    tr = _trainer_for(d, [*SMALL, "--epochs", "3"])

    def on_epoch(row):
        assert signal.getsignal(signal.SIGINT) is not before
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)

    tr.on_epoch = on_epoch
    with pytest.raises(KeyboardInterrupt):
        tr.fit()
    assert signal.getsignal(signal.SIGINT) is before


def test_importing_the_package_changes_no_signal_handler():
    code = ("import signal\n"
            "b = [signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)]\n"
            "import urlsom_book.cli, urlsom_core.runs, urlsom_core.train, urlsom_core.files\n"
            "assert [signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)] == b\n")
    subprocess.run([sys.executable, "-c", code], check=True, env=_env(), timeout=120)


def test_checkpoint_interval_is_checked(monkeypatch, tmp_path, capsys):
    cfg = RunConfig.from_dict({"model": {"grid": [5, 5], "widths": [8], "blocks": 1}})
    with pytest.raises(ConfigError, match=r"^checkpoint interval -1: allowed is a number of seconds >= 0$"):
        train_run(cfg, tmp_path / "run", device="cpu", checkpoint_seconds=-1)
    assert not (tmp_path / "run").exists()
    assert cli.main(["train", "--out", str(tmp_path / "run"), *SMALL, "--checkpoint-every", "-1"]) == 2
    assert not (tmp_path / "run").exists()
    capsys.readouterr()
    # the command's environment variable: read by the command, checked before anything is written
    monkeypatch.setenv("URLSOM_CHECKPOINT_SECONDS", "soon")
    assert cli.main(["train", "--out", str(tmp_path / "run"), *SMALL]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "urlsom: error: URLSOM_CHECKPOINT_SECONDS 'soon': allowed is a number of seconds >= 0"]
    assert not (tmp_path / "run").exists()
    monkeypatch.setenv("URLSOM_CHECKPOINT_SECONDS", "7.5")
    assert cli.checkpoint_seconds(None) == 7.5 and cli.checkpoint_seconds(0.0) == 0.0  # the flag wins

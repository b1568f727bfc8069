"""The experiment files checked in under bench/ stay valid: every config file and every sweep job line parses
into a RunConfig through the command line's own parser (no data is read, nothing is trained)."""

from pathlib import Path

import pytest

from urlsom_book.cli import build_parser, config_from_args
from urlsom_core.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ROOT / "bench" / "gpu_sweep"
# what bench/gpu_sweep.sh puts for $C, $L and $D (paths relative to the repository root)
EXPAND = {
    "$C": "--config bench/gpu_sweep/c10.yaml --device cuda --quiet --max-minutes 7",
    "$L": "--config bench/gpu_sweep/c10_lr2.yaml --device cuda --quiet --max-minutes 7",
    "$D": "--dataset digits --holdout 0.2 --device cuda --quiet --max-minutes 7",
}


def _config(argv: list[str]) -> RunConfig:
    args = build_parser().parse_args(["train", "--out", "unused", *argv])
    return config_from_args(args)


@pytest.mark.parametrize("path", sorted((ROOT / "bench" / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_bench_config_files_parse(path, monkeypatch):
    monkeypatch.chdir(ROOT)
    cfg = _config(["--config", str(path)])
    assert cfg.model.grid == (30, 30)


def _jobs():
    for f in sorted(SWEEP.glob("round*.txt")):
        for line in f.read_text().splitlines():
            if line.strip():
                name, _, rest = line.partition(" ")
                yield pytest.param(rest, id=f"{f.stem}-{name}")


@pytest.mark.parametrize("line", list(_jobs()))
def test_sweep_job_lines_parse(line, monkeypatch):
    monkeypatch.chdir(ROOT)
    argv = []
    for word in line.split():
        argv += EXPAND[word].split() if word in EXPAND else [word]
    cfg = _config(argv)
    assert cfg.model.grid == (30, 30)
    assert cfg.train.max_minutes == 7


def test_cifar_cpu_config_is_the_swept_setting(monkeypatch):
    """bench/configs/cifar10_cpu.yaml is the sweep's best CIFAR-10 line (cB32s3g1) with sigma 2 (the CPU runs'
    choice, book/results-log.md), on the real data."""
    monkeypatch.chdir(ROOT)
    cpu = _config(["--config", "bench/configs/cifar10_cpu.yaml"])
    swept = _config(["--config", "bench/gpu_sweep/c10.yaml", "--input-size", "32", "--gamma", "1", "--sigma", "2"])
    assert (cpu.model, cpu.train.gamma, cpu.train.batch_size, cpu.train.lr_schedule, cpu.data.input_size) == (
        swept.model, swept.train.gamma, swept.train.batch_size, swept.train.lr_schedule, swept.data.input_size)

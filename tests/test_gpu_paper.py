"""bench/gpu_paper.sh --smoke: every step of the GPU script on the CPU, in under 3 minutes."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_paper_smoke(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable, "TMPDIR": str(tmp_path)}
    t0 = time.time()
    p = subprocess.run(["bash", str(ROOT / "bench" / "gpu_paper.sh"), "--smoke"], env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert time.time() - t0 < 180
    files = sorted(f.name for f in tmp_path.iterdir() if f.is_file())
    assert files == ["bench.json", "gpu_paper.log", "run_assignments.npz", "run_config.yaml", "run_history.jsonl",
                     "run_metrics.json", "summary.md"]
    assert len(files) <= 8  # what the device tool brings back
    summary = (tmp_path / "summary.md").read_text()
    assert "SKIPPED" in (tmp_path / "gpu_paper.log").read_text() and "need CUDA" in summary
    bench = json.loads((tmp_path / "bench.json").read_text())
    from urlsom_core.predict import cpu_bf16_native

    # eager float32, then bf16 where this CPU has it natively (urlsom bench adds that row), each in both layouts
    amps = (False, True) if cpu_bf16_native() else (False,)
    want = [("paper", amp, layout) for amp in amps for layout in (False, True)]
    got = [(r["net"], r["amp"], r["channels_last"]) for r in bench["train"]]
    assert got == want and all(r["img_s"] > 0 for r in bench["train"])
    metrics = json.loads((tmp_path / "run_metrics.json").read_text())
    assert metrics["epochs_trained"] == 2 and f"NS {metrics['neural_selectivity']:.4f}" in summary
    assert "| paper | eager | no |" in summary
    cfg = (tmp_path / "run_config.yaml").read_text()
    assert "jitter: simsiam" in cfg and "gaussian_extent: radius" in cfg  # the paper profile's settings
    assert not any(p.name.startswith("urlsom_gpu_paper") for p in tmp_path.iterdir())  # work folder removed

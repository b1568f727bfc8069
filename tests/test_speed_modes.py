"""bench/speed_modes.py: its bad input and its table (the trainings themselves are the CLI's, tested elsewhere)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("speed_modes", ROOT / "bench" / "speed_modes.py")
SM = importlib.util.module_from_spec(spec)
spec.loader.exec_module(SM)


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert SM.main(["--out", str(tmp_path / "o"), "--modes", "fp8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["speed_modes: error: --modes 'fp8': allowed are float32, bf16, bf16-nhwc, float32-nhwc, bf16-nhwc-compiled, defaults"]
    assert SM.main(["--out", str(tmp_path / "o"), "--study", "cifar10", "--cifar", str(tmp_path)]) == 2
    assert "needs train.zip and test.zip" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_the_table_pairs_each_mode_with_float32_by_seed():
    def g(ns, te, s):
        return {"rc": 0, "neural_selectivity": ns, "heldout_neural_selectivity": ns - 0.1, "topographic_error": te,
                "active_neurons": 800, "epoch_seconds": s, "epochs": 8, "stop": "max epochs", "amp_cpu": s < 10}
    rows = [{"mode": "float32", "seed": 0, "figures": g(0.50, 0.10, 30.0)},
            {"mode": "bf16", "seed": 0, "figures": g(0.52, 0.08, 10.0)},
            {"mode": "float32", "seed": 1, "figures": g(0.40, 0.10, 30.0)},
            {"mode": "bf16", "seed": 1, "figures": g(0.40, 0.12, 15.0)}]
    lines = SM.table(rows, ["float32", "bf16"])
    assert lines[2] == "| float32 | 0 | 8 (max epochs) | no | no | 0.500 | 0.400 | 0.100 | 800 | 30.00 |"
    assert lines[6].startswith("| **float32, mean (sd)** | 2 run(s) |")
    diff = lines[-1]
    assert diff.startswith("| **bf16 - float32, mean [min, max]** | 2 seed(s) |")
    assert "+0.010 [+0.000, +0.020]" in diff and "x2.50 faster" in diff  # (3 + 2) / 2

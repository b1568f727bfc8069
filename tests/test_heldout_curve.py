"""bench/heldout_curve.py: bad input is one line and exit 2 with nothing written; a tiny run writes its curve."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _main():
    spec = importlib.util.spec_from_file_location("bench_heldout_curve", ROOT / "bench" / "heldout_curve.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


CFG = str(ROOT / "bench" / "configs" / "digits_heldout.yaml")


@pytest.mark.parametrize("argv, message", [
    (["--config", "/no/such.yaml"], "config file /no/such.yaml: does not exist"),
    (["--config", CFG, "--every", "0"], "--every 0: allowed is an integer >= 1"),
    (["--config", CFG, "--seeds", "-1"], "--seeds -1: allowed are integers >= 0"),
    (["--config", CFG, "--set", "train.collapse_weight=0"], "collapse_weight 0.0: allowed is > 0"),
    (["--config", CFG, "--set", "data.holdout=0"], "gives no held-out split"),
])
def test_bad_input(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert _main()([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("heldout_curve: error: ") and message in err[0]
    assert not out.exists()


def test_tiny_curve(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--config", CFG, "--set", "model.grid=[4, 4]", "--set", "model.widths=[4, 4, 4]", "--set", "data.subset=200",
            "--set", "train.epochs=4", "--set", "train.collapse_ramp_epochs=1", "--set", "train.warmup_collapse_epochs=1",
            "--seeds", "0", "1", "--every", "2", "--out", str(out)]
    assert _main()(argv) == 0
    res = json.loads((out / "curves.json").read_text())
    assert [c["seed"] for c in res["curves"]] == [0, 1]
    for c in res["curves"]:
        assert [p["epoch"] for p in c["points"]] == [2, 4] and c["final"]["epoch"] == 4
        assert c["final"] == {k: v for k, v in c["points"][-1].items() if k != "loss"}  # no early stop: same model
        assert 0.0 <= c["final"]["heldout_ns"] <= 1.0 and 1 <= c["final"]["live"] <= 16
    assert res["config"]["train"]["collapse_weight"] == 0.5 and res["provenance"]["git_commit"]
    md = (out / "curves.md").read_text()
    assert "| 0 | 4 | max epochs |" in md and "python bench/heldout_curve.py" in md and md in capsys.readouterr().out

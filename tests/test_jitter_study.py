"""bench/jitter_study.py: the side-by-side table, bad input, and (slow) a tiny end-to-end study."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("jitter_study", ROOT / "bench" / "jitter_study.py")
js = importlib.util.module_from_spec(spec)
spec.loader.exec_module(js)

TINY = ["--set", "data.dataset=digits", "--set", "data.eval_dataset=null", "--set", "data.eval_subset=null",
        "--set", "data.subset=null", "--set", "data.holdout=0.2", "--set", "train.epochs=1",
        "--set", "model.widths=[8]", "--set", "model.blocks=1", "--set", "model.grid=[5,5]", "--set", "data.input_size=16"]


def test_table_has_a_row_per_run_and_a_mean_per_reading():
    rows = [{"reading": "torchvision", "seed": s, "rc": 0, "seconds": 60.0,
             "metrics": {"epochs_trained": 3, "neural_selectivity": 0.5 + s / 10, "heldout_neural_selectivity": 0.3 + s / 10,
                         "active_neurons": 9, "topographic_error": 0.1}} for s in (0, 1)]
    rows.append({"reading": "simsiam", "seed": 0, "rc": 1, "seconds": 6.0, "metrics": None})
    md = js.table(rows, "data.jitter").splitlines()
    assert md[2] == "| torchvision | 0 | 3 | 0.500 | 0.300 | 9 | 0.100 | 1.0 |"
    assert md[4].endswith("exit 1")
    assert md[5] == "| **torchvision, mean** | 2 run(s) | | 0.550 | 0.350 | | | |"
    assert md[6] == "| **simsiam, mean** | 0 run(s) | | - | - | | | |"


def test_bad_override_is_one_line_and_exit_2(tmp_path, capsys):
    assert js.main(["--out", str(tmp_path / "o"), "--set", "data.jitter_x=1"]) == 2
    assert "jitter_study: error:" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_each_reading_gets_its_config():
    a = js.parse_args(["--out", "x", "--study", "extent", "--seeds", "3"] + TINY)
    jobs = js.configs(a)
    assert [(r, s, c.model.gaussian_extent, c.train.seed) for r, s, c in jobs] == [
        ("side", 3, "side", 3), ("radius", 3, "radius", 3)]


@pytest.mark.slow
def test_tiny_study_end_to_end(tmp_path):
    assert js.main(["--out", str(tmp_path), "--seeds", "0"] + TINY) == 0
    study = json.loads((tmp_path / "study.json").read_text())
    assert [r["reading"] for r in study["runs"]] == ["torchvision", "simsiam"]
    assert all(r["metrics"]["epochs_trained"] == 1 for r in study["runs"])
    assert "| **simsiam, mean** | 1 run(s) |" in (tmp_path / "study.md").read_text()


def test_readings_picks_a_part_of_the_study_and_names_a_bad_one(tmp_path, capsys):
    a = js.parse_args(["--out", "x", "--readings", "simsiam", "--seeds", "0", "1"] + TINY)
    assert [(r, s) for r, s, _ in js.configs(a)] == [("simsiam", 0), ("simsiam", 1)]
    assert js.main(["--out", str(tmp_path / "o"), "--readings", "sideways"] + TINY) == 2
    err = capsys.readouterr().err.strip()
    assert err == "jitter_study: error: --readings 'sideways': allowed for --study jitter are torchvision, simsiam"
    assert not (tmp_path / "o").exists()
